import { test } from 'node:test';
import assert from 'node:assert/strict';
import { inspect } from 'node:util';
import fc from 'fast-check';
import { Identity, addressFromDigest, digestMatchesAddress } from './identity.js';
import { formatAddress, isReservedAddress } from './address.js';
import { ByteReader, concatBytes, fromHex, toHex } from './bytes.js';
import { c25519PublicFromPrivate, x25519Raw } from './c25519.js';
import { isZtError, ZtErrorCode } from './errors.js';
import { allocMemoryHardScratch } from './identity-hash.js';
import { readVectorJson, readVectorText } from '../test/vectors.js';

interface IdVector {
  name: string;
  secret_string: string;
  public_string: string;
  address: string;
  public_x25519: string;
  public_ed25519: string;
  secret_x25519: string;
  secret_ed25519_seed: string;
  memory_hard_digest: string;
  binary_public: string;
  binary_with_secret: string;
  valid: boolean;
}
interface InvalidVector { name: string; string: string; parses: boolean; valid: boolean; memory_hard_digest: string | null }
const idv = readVectorJson<{
  identities: IdVector[];
  invalid: InvalidVector[];
  not_detected_by_validation: Array<{ name: string; string: string; valid: boolean }>;
}>('identities.json');
const byName = new Map(idv.identities.map((v) => [v.name, v]));
const scratch = allocMemoryHardScratch();

/** A ZtError, or success: anything else fails the property. */
function onlyZtError(f: () => unknown): void {
  try {
    f();
  } catch (e) {
    if (!isZtError(e)) assert.fail(`expected ZtError, got ${String(e)}`);
  }
}

test('every vector identity parses from its secret and public strings, byte-exact both ways, and validates', () => {
  assert.equal(idv.identities.length, 16);
  for (const v of idv.identities) {
    const sec = Identity.fromString(v.secret_string);
    const pub = Identity.fromString(v.public_string);
    assert.equal(formatAddress(sec.address), v.address);
    assert.equal(toHex(sec.publicKey), v.public_x25519 + v.public_ed25519);
    assert.equal(toHex(sec.privateKey!), v.secret_x25519 + v.secret_ed25519_seed);
    assert.equal(sec.hasPrivate(), true);
    assert.equal(pub.hasPrivate(), false);
    assert.equal(pub.privateKey, null);
    assert.ok(sec.equals(pub) && pub.equals(sec));
    assert.ok(sec.publicOnly().equals(sec) && !sec.publicOnly().hasPrivate());
    // the private key really produces the public key (checked with node:crypto)
    assert.equal(toHex(c25519PublicFromPrivate(sec.privateKey!)), toHex(sec.publicKey));

    assert.equal(sec.toString(), v.public_string);
    assert.equal(sec.toString(true), v.secret_string);
    assert.equal(pub.toString(true), v.public_string); // nothing to include
    assert.equal(toHex(sec.toBinary()), v.binary_public);
    assert.equal(toHex(sec.toBinary(true)), v.binary_with_secret);
    assert.equal(sec.toBinary().length, 71);
    assert.equal(Identity.fromBinary(fromHex(v.binary_with_secret)).toString(true), v.secret_string);
    assert.equal(Identity.fromBinary(fromHex(v.binary_public)).toString(true), v.public_string);

    const digest = fromHex(v.memory_hard_digest);
    assert.equal(formatAddress(addressFromDigest(digest)), v.address);
    assert.equal(digestMatchesAddress(digest, sec.address), v.valid);
    assert.equal(pub.locallyValidate(scratch), v.valid, v.name);
  }
});

// The ZtError code each non-parsing invalid[] entry must produce.
const EXPECTED_CODE: Record<string, string> = {
  reserved_address_ff_prefix: ZtErrorCode.RESERVED_ADDRESS,
  zero_address: ZtErrorCode.RESERVED_ADDRESS,
  unknown_type_1: ZtErrorCode.UNKNOWN_IDENTITY_TYPE,
  short_public_key: ZtErrorCode.BAD_FORMAT,
};

test('every invalid[] entry parses and validates exactly as ZeroTier 1.14.1 recorded', () => {
  assert.equal(idv.invalid.length, 9);
  for (const v of idv.invalid) {
    let id: Identity | null = null;
    let err: unknown = null;
    try {
      id = Identity.fromString(v.string);
    } catch (e) {
      err = e;
    }
    assert.equal(id !== null, v.parses, `${v.name}: parses`);
    if (id === null) {
      const want = EXPECTED_CODE[v.name];
      assert.ok(want, `no expected code recorded for ${v.name}`);
      assert.ok(isZtError(err, want as ZtErrorCode), `${v.name}: got ${String(err)}`);
      assert.equal(v.valid, false);
    } else {
      assert.equal(id.locallyValidate(scratch), v.valid, `${v.name}: valid`);
    }
  }
});

test('a secret string with a foreign private half still validates (not_detected_by_validation), but cannot sign for it', () => {
  for (const v of idv.not_detected_by_validation) {
    const id = Identity.fromString(v.string);
    assert.equal(id.locallyValidate(scratch), v.valid);
    const sig = id.sign(new TextEncoder().encode('x'));
    assert.equal(id.verify(new TextEncoder().encode('x'), sig), false);
  }
});

test('the capture nodes\u2019 identity.secret files validate and match nodes.txt (session/)', () => {
  const nodes = readVectorText('session', 'nodes.txt');
  for (const name of ['root', 'c1']) {
    const id = Identity.fromString(readVectorText('session', `${name}.identity.secret`).trim());
    assert.ok(id.hasPrivate());
    assert.match(nodes, new RegExp(`^${name} address=${formatAddress(id.address)} `, 'm'));
    assert.equal(id.locallyValidate(scratch), true);
  }
});

interface SigVector { signer: string; signer_public: string; message: string; signature: string; verify: boolean }
const sigv = readVectorJson<{
  signatures: SigVector[];
  negative: Array<{ name: string; public: string; message: string; signature: string; verify: boolean }>;
  idtool_cross_check: { signer: string; message: string; zerotier_idtool_sign_output: string };
}>('signatures.json');

test('every signature from signatures.json is reproduced byte-exact and verifies', () => {
  assert.ok(sigv.signatures.length >= 20);
  for (const s of sigv.signatures) {
    const signer = Identity.fromString(byName.get(s.signer)!.secret_string);
    const msg = fromHex(s.message);
    assert.equal(toHex(signer.sign(msg)), s.signature, `${s.signer} / ${s.message.slice(0, 16)}`);
    assert.equal(Identity.fromString(s.signer_public).verify(msg, fromHex(s.signature)), s.verify);
  }
  const x = sigv.idtool_cross_check;
  assert.equal(toHex(Identity.fromString(byName.get(x.signer)!.secret_string).sign(fromHex(x.message))), x.zerotier_idtool_sign_output);
});

test('every negative signature case fails to verify', () => {
  assert.equal(sigv.negative.length, 6);
  for (const n of sigv.negative) {
    assert.equal(n.verify, false);
    assert.equal(Identity.fromString(n.public).verify(fromHex(n.message), fromHex(n.signature)), false, n.name);
  }
});

test('sign and agree need the private key; verify takes garbage without throwing', () => {
  const pub = Identity.fromString(idv.identities[0]!.public_string);
  const other = Identity.fromString(idv.identities[1]!.public_string);
  assert.throws(() => pub.sign(new Uint8Array(1)), { code: ZtErrorCode.NO_PRIVATE_KEY });
  assert.throws(() => pub.agree(other), { code: ZtErrorCode.NO_PRIVATE_KEY });
  for (const len of [0, 64, 95, 97]) assert.equal(pub.verify(new Uint8Array(1), new Uint8Array(len)), false);
});

interface Pair { a: string; b: string; identity_agree_48: string; salsa_poly_key_32: string; x25519_raw_shared_32: string }

test('key agreement matches agreement.json in both directions', () => {
  const pairs = readVectorJson<{ pairs: Pair[] }>('agreement.json').pairs;
  assert.equal(pairs.length, 5);
  for (const p of pairs) {
    const a = Identity.fromString(byName.get(p.a)!.secret_string);
    const b = Identity.fromString(byName.get(p.b)!.secret_string);
    const ab = a.agree(b.publicOnly());
    assert.equal(toHex(ab), p.identity_agree_48);
    assert.equal(toHex(b.agree(a.publicOnly())), p.identity_agree_48);
    assert.equal(toHex(ab.subarray(0, 32)), p.salsa_poly_key_32);
    assert.equal(toHex(x25519Raw(a.privateKey!.subarray(0, 32), b.publicKey.subarray(0, 32))), p.x25519_raw_shared_32);
  }
});

test('generated identities validate, round-trip, sign and agree', () => {
  const a = Identity.generate();
  const b = Identity.generate();
  for (const id of [a, b]) {
    assert.ok(id.hasPrivate());
    assert.equal(isReservedAddress(id.address), false);
    assert.equal(id.locallyValidate(scratch), true);
    assert.equal(toHex(c25519PublicFromPrivate(id.privateKey!)), toHex(id.publicKey));
    assert.equal(Identity.fromString(id.toString(true)).toString(true), id.toString(true));
    assert.equal(toHex(Identity.fromBinary(id.toBinary(true)).toBinary(true)), toHex(id.toBinary(true)));
    const m = new TextEncoder().encode('generated');
    assert.ok(Identity.fromString(id.toString()).verify(m, id.sign(m)));
  }
  assert.ok(!a.equals(b));
  assert.equal(toHex(a.agree(b)), toHex(b.agree(a)));
});

test('binary form: bad type, bad private length, truncation and trailing bytes are typed errors', () => {
  const v = idv.identities[0]!;
  const pub = fromHex(v.binary_public);
  const sec = fromHex(v.binary_with_secret);
  for (const t of [1, 2, 0xff]) {
    const b = pub.slice();
    b[5] = t;
    assert.throws(() => Identity.fromBinary(b), { code: ZtErrorCode.UNKNOWN_IDENTITY_TYPE });
  }
  for (const len of [1, 32, 63, 65, 0xff]) {
    const b = concatBytes(pub.subarray(0, 70), Uint8Array.of(len), new Uint8Array(300));
    assert.throws(() => Identity.fromBinary(b), { code: ZtErrorCode.BAD_VALUE });
  }
  for (let n = 0; n < sec.length; n++) {
    assert.throws(() => Identity.fromBinary(sec.subarray(0, n)), { code: ZtErrorCode.TRUNCATED }, `length ${n}`);
  }
  assert.throws(() => Identity.fromBinary(concatBytes(pub, Uint8Array.of(0))), { code: ZtErrorCode.TRAILING_BYTES });
  // read() consumes exactly one identity and leaves the reader after it
  const r = new ByteReader(concatBytes(sec, pub, Uint8Array.of(0xee)));
  assert.equal(Identity.read(r).toString(true), v.secret_string);
  assert.equal(Identity.read(r).toString(true), v.public_string);
  assert.equal(r.remaining, 1);
  // the parsed identity owns its bytes: reusing the datagram buffer does not change it
  const buf = pub.slice();
  const id = Identity.fromBinary(buf);
  buf.fill(0);
  assert.equal(id.toString(), v.public_string);
});

test('string form: exact field rules', () => {
  const v = idv.identities[0]!;
  const [addr, , pubHex, privHex] = v.secret_string.split(':') as [string, string, string, string];
  const bad: Array<[string, string]> = [
    ['', ZtErrorCode.BAD_FORMAT],
    [`${addr}:0`, ZtErrorCode.BAD_FORMAT],
    [`${addr}:0:${pubHex}:${privHex}:`, ZtErrorCode.BAD_FORMAT],
    [`${addr}:0:${pubHex}:`, ZtErrorCode.BAD_FORMAT],
    [`${addr}:00:${pubHex}`, ZtErrorCode.BAD_FORMAT],
    [`${addr}::${pubHex}`, ZtErrorCode.BAD_FORMAT],
    [`${addr}:x:${pubHex}`, ZtErrorCode.BAD_FORMAT],
    [`${addr}:2:${pubHex}`, ZtErrorCode.UNKNOWN_IDENTITY_TYPE],
    [`${addr.slice(1)}:0:${pubHex}`, ZtErrorCode.BAD_FORMAT],
    [`0${addr}:0:${pubHex}`, ZtErrorCode.BAD_FORMAT],
    [`${addr}:0:${pubHex}00`, ZtErrorCode.BAD_FORMAT],
    [`${addr}:0:${pubHex.slice(0, -1)}g`, ZtErrorCode.BAD_FORMAT],
    [`${addr}:0:${pubHex}:${privHex.slice(2)}`, ZtErrorCode.BAD_FORMAT],
    [`${addr}:0:${pubHex} `, ZtErrorCode.BAD_FORMAT],
    [`ffffffffff:0:${pubHex}`, ZtErrorCode.RESERVED_ADDRESS],
    [`${v.secret_string}${'0'.repeat(1000)}`, ZtErrorCode.BAD_FORMAT],
  ];
  for (const [s, code] of bad) assert.throws(() => Identity.fromString(s), { code }, s.slice(0, 30));
  // upper-case hex parses and prints lower-case
  assert.equal(Identity.fromString(v.secret_string.toUpperCase()).toString(true), v.secret_string);
});

test('the private key never appears in toString(), JSON, inspect, or error messages', () => {
  const v = idv.identities[3]!;
  const id = Identity.fromString(v.secret_string);
  const secret = v.secret_x25519 + v.secret_ed25519_seed;
  for (const text of [id.toString(), String(id), JSON.stringify({ id }), inspect(id), inspect({ nested: id })]) {
    assert.ok(!text.includes(v.secret_x25519.slice(0, 16)) && !text.includes(v.secret_ed25519_seed.slice(0, 16)), text);
  }
  assert.ok(id.toString(true).endsWith(secret));
  const [addr, , pubHex, privHex] = v.secret_string.split(':') as [string, string, string, string];
  const attempts = [
    `${addr}:0:${pubHex}:${privHex}z`, // bad private hex
    `${addr}:0:${pubHex}:${privHex.slice(0, 100)}`, // short private
    `${privHex}:0:${pubHex}`, // key material misplaced into the address field
    `${addr}:${privHex}:${pubHex}`, // ... into the type field
    `${addr}:0:${privHex}${privHex}`, // ... into the public key field
  ];
  for (const s of attempts) {
    assert.throws(
      () => Identity.fromString(s),
      (e: unknown) => isZtError(e) && !e.message.includes(privHex.slice(0, 12)) && !e.message.includes(privHex.slice(64, 76)),
      s.slice(0, 20),
    );
  }
});

// ---- property tests ------------------------------------------------------------------------------

const nonReservedAddress = fc
  .integer({ min: 1, max: 0xffffffffff })
  .filter((a) => !isReservedAddress(a));
const key64 = fc.uint8Array({ minLength: 64, maxLength: 64 });
const arbitraryIdentity = fc.tuple(nonReservedAddress, key64, fc.option(key64, { nil: null })).map(([a, pub, priv]) => {
  const b = new Uint8Array(71 + (priv ? 64 : 0));
  b[0] = Math.floor(a / 0x100000000);
  b.set([(a >>> 24) & 0xff, (a >>> 16) & 0xff, (a >>> 8) & 0xff, a & 0xff], 1);
  b.set(pub, 6);
  b[70] = priv ? 64 : 0;
  if (priv) b.set(priv, 71);
  return { bytes: b, address: a };
});

test('toString∘fromString and toBinary∘fromBinary are the identity (property)', () => {
  fc.assert(
    fc.property(arbitraryIdentity, ({ bytes, address }) => {
      const id = Identity.fromBinary(bytes);
      assert.equal(id.address, address);
      assert.deepEqual(id.toBinary(true), bytes);
      const s = id.toString(true);
      assert.equal(Identity.fromString(s).toString(true), s);
      assert.deepEqual(Identity.fromString(s).toBinary(true), bytes);
      assert.ok(Identity.fromString(id.toString()).equals(id));
    }),
    { numRuns: 300, seed: 42 },
  );
});

test('random and mutated strings give only ZtError (property)', () => {
  const base = idv.identities[5]!.secret_string;
  fc.assert(
    fc.property(fc.string({ maxLength: 300 }), (s) => onlyZtError(() => Identity.fromString(s))),
    { numRuns: 1000, seed: 5 },
  );
  fc.assert(
    fc.property(fc.nat(base.length), fc.nat(base.length), fc.string({ maxLength: 3 }), (i, j, ins) => {
      const [lo, hi] = i < j ? [i, j] : [j, i];
      onlyZtError(() => Identity.fromString(base.slice(0, lo) + ins + base.slice(Math.min(hi, lo + 2))));
    }),
    { numRuns: 1000, seed: 6 },
  );
});

test('random and mutated binary forms give only ZtError (property)', () => {
  const base = fromHex(idv.identities[6]!.binary_with_secret);
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 200 }), (b) => onlyZtError(() => Identity.fromBinary(b))),
    { numRuns: 1000, seed: 8 },
  );
  fc.assert(
    fc.property(fc.nat(base.length + 2), fc.integer({ min: 0, max: 255 }), fc.nat(base.length + 2), (i, byte, cut) => {
      const b = base.slice();
      if (i < b.length) b[i] = byte;
      onlyZtError(() => Identity.fromBinary(b.subarray(0, Math.min(cut, b.length))));
      onlyZtError(() => Identity.fromBinary(concatBytes(b, new Uint8Array(i % 3))));
    }),
    { numRuns: 1000, seed: 9 },
  );
});
