/**
 * Credentials: the certificate of membership against vl2.md A.1/A.2 and the session capture (real 1.14.1 controller
 * and members), and Tag / Capability / CertificateOfOwnership / Revocation codecs with their 7f…7f signing — the COOs
 * a real controller issued verify here, which pins the framing. Then properties and fuzzing.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import fc from 'fast-check';
import { ByteReader, fromHex, toHex } from '../bytes.js';
import { isZtError } from '../errors.js';
import { Identity } from '../identity.js';
import { formatAddress } from '../address.js';
import { readVectorJson, readVectorText, vectorPath } from '../../test/vectors.js';
import { appendixA } from '../../test/vl2-sheet.js';
import {
  comAgreesWith,
  comIssuedTo,
  comNetworkId,
  comTimestamp,
  createCom,
  decodeCom,
  encodeCom,
  identityHashWords,
  readCom,
  signCom,
  verifyCom,
  type CertificateOfMembership,
} from './com.js';
import { decodeTag, encodeTag, readTag, signTag, verifyTag } from './tag.js';
import { cooOwns, cooThing, decodeCoo, encodeCoo, readCoo, signCoo, verifyCoo, CooThing } from './certificate-of-ownership.js';
import { decodeRevocation, encodeRevocation, readRevocation, REVOCATION_FLAG_FAST_PROPAGATE, signRevocation, verifyRevocation } from './revocation.js';
import { decodeCapability, encodeCapability, readCapability, signCapability, verifyCapability } from './capability.js';
import { CredentialType } from './credential.js';
import { rule } from './rules.js';
import { decodeNetworkCredentials, encodeNetworkCredentials, credentialsPush } from '../verbs/network-credentials.js';

const controller = Identity.fromString(appendixA.controllerSecret());
const member = Identity.fromString(appendixA.memberPublic());
const nwid = appendixA.networkId();

// session capture identities (the root is the controller of c734a53e812d3883)
const ids = new Map<string, Identity>();
for (const f of readdirSync(vectorPath('session')).filter((n) => n.endsWith('.identity.secret'))) {
  const id = Identity.fromString(readVectorText('session', f).trim());
  ids.set(formatAddress(id.address), id);
}
const root = ids.get('c734a53e81')!;
// eslint-disable-next-line @typescript-eslint/no-explicit-any
const session: any = readVectorJson('session', 'decoded.json');
// eslint-disable-next-line @typescript-eslint/no-explicit-any
const credentialPackets: any[] = session.packets.filter((p: any) => p.kind === 'packet' && p.verb === 0x0a);

test('A.2: COM_HEX parses to the listed qualifiers, is signed by the controller, verifies and re-encodes', () => {
  const bytes = appendixA.comHex();
  assert.equal(bytes.length, 272);
  const com = decodeCom(bytes);
  const listed = appendixA.comQualifiers();
  assert.equal(listed.length, 7, 'vl2.md A.2 lists 7 qualifiers');
  assert.deepEqual(com.qualifiers.map((q) => [q.id, q.value, q.maxDelta]), listed);
  assert.equal(com.signedBy, controller.address);
  assert.ok(verifyCom(com, controller));
  assert.equal(toHex(encodeCom(com)), toHex(bytes));
  assert.equal(comTimestamp(com), 1700000000000n);
  assert.equal(comNetworkId(com), nwid);
  assert.equal(comIssuedTo(com), member.address);
  // qualifiers 3..6 are SHA-384(address ‖ public key) words
  assert.deepEqual(com.qualifiers.slice(3).map((q) => q.value), identityHashWords(member));
  // built and signed here: the same bytes (Ed25519 is deterministic)
  const mine = signCom(createCom({ timestamp: 1700000000000, maxDelta: 1800000, networkId: nwid, issuedTo: member }), controller);
  assert.equal(toHex(encodeCom(mine)), toHex(bytes));
});

test('COM verification refuses tampering, another signer and a signer that is not the controller of the network', () => {
  const com = decodeCom(appendixA.comHex());
  const bad = { ...com, signature: com.signature!.slice() };
  bad.signature[5]! ^= 1;
  assert.equal(verifyCom(bad, controller), false);
  const q = { ...com, qualifiers: com.qualifiers.map((x, i) => (i === 0 ? { ...x, value: x.value + 1n } : x)) };
  assert.equal(verifyCom(q, controller), false);
  assert.equal(verifyCom(com, root), false, 'a different identity');
  // signed by someone who is not nwid >> 24
  const other = signCom(createCom({ timestamp: 1, maxDelta: 1, networkId: nwid, issuedTo: member }), root);
  assert.equal(verifyCom(other, root), false);
  assert.equal(verifyCom({ qualifiers: com.qualifiers, signedBy: 0 }, controller), false, 'unsigned');
});

test('COM agreement: same network, timestamps within my max delta, and their identity behind words 3..6', () => {
  const ts = 1700000000000;
  const a = signCom(createCom({ timestamp: ts, maxDelta: 1800000, networkId: nwid, issuedTo: controller }), controller);
  const b = signCom(createCom({ timestamp: ts + 1800000, maxDelta: 1800000, networkId: nwid, issuedTo: member }), controller);
  assert.ok(comAgreesWith(a, b, member));
  assert.ok(comAgreesWith(b, a, controller));
  assert.equal(comAgreesWith(a, b, root), false, 'their COM with someone else\'s key');
  const late = createCom({ timestamp: ts + 1800001, maxDelta: 1800000, networkId: nwid, issuedTo: member });
  assert.equal(comAgreesWith(a, late, member), false, 'one ms past the delta');
  const otherNet = createCom({ timestamp: ts, maxDelta: 1800000, networkId: nwid + 1n, issuedTo: member });
  assert.equal(comAgreesWith(a, otherNet, member), false, 'network id max delta is 0');
  const noWords: CertificateOfMembership = { qualifiers: b.qualifiers.slice(0, 3), signedBy: 0 };
  assert.equal(comAgreesWith(a, noWords, member), false, 'mine has 3..6, theirs must too');
  assert.ok(comAgreesWith({ qualifiers: a.qualifiers.slice(0, 3), signedBy: 0 }, noWords, root), 'without 3..6 in mine, no identity check');
  assert.equal(comAgreesWith({ qualifiers: [], signedBy: 0 }, b, member), false);
  assert.equal(comAgreesWith(a, { qualifiers: [], signedBy: 0 }, member), false);
});

test('session: every COM a member pushed verifies with the controller and agrees with the others (their identities)', () => {
  assert.ok(credentialPackets.length >= 6);
  const coms = new Map<number, CertificateOfMembership>();
  for (const p of credentialPackets) {
    const x = decodeNetworkCredentials(fromHex(p.payload_hex));
    assert.equal(x.coms.length, p.fields.coms.length);
    x.coms.forEach((c, i) => {
      assert.equal(toHex(encodeCom(c)), p.fields.coms[i].raw);
      assert.ok(verifyCom(c, root), `frame ${p.frame}: COM verifies`);
      assert.equal(formatAddress(comIssuedTo(c)), p.source);
      coms.set(comIssuedTo(c), c);
    });
  }
  assert.equal(coms.size, 3);
  for (const [a, ca] of coms) for (const [b, cb] of coms) assert.ok(comAgreesWith(ca, cb, ids.get(formatAddress(b))!), `${formatAddress(a)} vs ${formatAddress(b)}`);
});

test('session: the COOs a real 1.14.1 controller issued verify (7f…7f framing) and list the member\'s static IPs', () => {
  let n = 0;
  for (const p of credentialPackets) {
    const x = decodeNetworkCredentials(fromHex(p.payload_hex));
    assert.equal(x.coos!.length, p.fields.coo_count);
    for (const coo of x.coos!) {
      n++;
      assert.ok(verifyCoo(coo, root), `frame ${p.frame}: COO verifies`);
      assert.equal(formatAddress(coo.issuedTo), p.source);
      assert.deepEqual(coo.things.map((t) => t.type), [CooThing.IPV6, CooThing.IPV4]);
      assert.ok(cooOwns(coo, coo.things[1]!.value.subarray(0, 4)));
      assert.equal(cooOwns(coo, new Uint8Array([1, 2, 3, 4])), false);
      const bad = { ...coo, timestamp: coo.timestamp + 1 };
      assert.equal(verifyCoo(bad, root), false);
      assert.equal(toHex(encodeCoo(coo)), toHex(encodeCoo(decodeCoo(encodeCoo(coo)))));
    }
  }
  assert.ok(n >= 6);
});

test('Tag, Capability, Revocation: sign, verify, refuse tampering, re-encode; the verifier needs the network\'s controller', () => {
  const tag = signTag({ networkId: nwid, timestamp: 1700000000000, id: 7, value: 42, issuedTo: member.address }, controller);
  assert.equal(encodeTag(tag).length, 8 + 8 + 4 + 4 + 5 + 5 + 1 + 2 + 96 + 2);
  assert.deepEqual(decodeTag(encodeTag(tag)), tag);
  assert.ok(verifyTag(tag, controller));
  assert.equal(verifyTag({ ...tag, value: 43 }, controller), false);
  assert.equal(verifyTag(signTag({ ...tag }, root), root), false, 'root is not this network\'s controller');

  const cap = signCapability({ networkId: nwid, timestamp: 1700000000000, id: 1, rules: [rule('MATCH_ETHERTYPE', { etherType: 0x0800 }), rule('ACTION_ACCEPT')] }, controller, member.address);
  assert.deepEqual(decodeCapability(encodeCapability(cap)), cap);
  const lookup = (a: number): Identity | undefined => (a === controller.address ? controller : a === member.address ? member : undefined);
  assert.equal(verifyCapability(cap, lookup), 'valid');
  assert.equal(verifyCapability(cap, () => undefined), 'unknown-signer');
  assert.equal(verifyCapability({ ...cap, id: 2 }, lookup), 'invalid');
  assert.equal(verifyCapability({ ...cap, custody: [] }, lookup), 'invalid');
  assert.equal(verifyCapability({ ...cap, custody: [{ ...cap.custody[0]!, from: member.address }] }, lookup), 'invalid');

  const rev = signRevocation({ id: 9, networkId: nwid, credentialId: 0, threshold: 1700000000000, flags: REVOCATION_FLAG_FAST_PROPAGATE, target: member.address, credentialType: CredentialType.COM }, controller);
  assert.deepEqual(decodeRevocation(encodeRevocation(rev)), rev);
  assert.ok(verifyRevocation(rev, controller));
  assert.equal(verifyRevocation({ ...rev, threshold: rev.threshold + 1 }, controller), false);
  // an extension is carried but not signed (1.14 signs a zero extension length)
  const ext = { ...rev, ext: fromHex('abcd') };
  assert.ok(verifyRevocation(ext, controller));
  assert.deepEqual(decodeRevocation(encodeRevocation(ext)), ext);

  const coo = signCoo({ networkId: nwid, timestamp: 5, flags: 0n, id: 1, things: [cooThing(fromHex('0a931105')), cooThing(0x02aabbccddeen)], issuedTo: member.address }, controller);
  assert.ok(verifyCoo(coo, controller));
  assert.ok(cooOwns(coo, 0x02aabbccddeen));
  assert.equal(encodeCoo(coo).length, 8 + 8 + 8 + 4 + 2 + 2 * 17 + 5 + 5 + 1 + 2 + 96 + 2);

  // a push with all of them, in 1.14's section order
  const push = credentialsPush({ com: decodeCom(appendixA.comHex()), capabilities: [cap], tags: [tag], coos: [coo] });
  push.revocations = [rev];
  assert.deepEqual(decodeNetworkCredentials(encodeNetworkCredentials(push)), push);
});

test('limits and malformed credentials are named errors', () => {
  const com = encodeCom(decodeCom(appendixA.comHex()));
  const nine = com.slice();
  nine[2] = 9;
  assert.throws(() => decodeCom(nine), (e: unknown) => isZtError(e, 'ZT_ERR_BAD_VALUE') && /COM_MAX_QUALIFIERS/.test(e.message));
  const dec = com.slice();
  dec[3 + 24 + 7] = 9; // qualifier 1's id becomes 9, qualifier 2's is 2: decreasing
  assert.throws(() => decodeCom(dec), { code: 'ZT_ERR_BAD_VALUE' });
  assert.throws(() => decodeCom(com.subarray(0, 271)), { code: 'ZT_ERR_TRUNCATED' });
  assert.deepEqual(decodeCom(fromHex('010000' + '0000000000')).signature, undefined, 'unsigned COM: no signature bytes');
  // COO with 17 things
  const coo = signCoo({ networkId: nwid, timestamp: 5, flags: 0n, id: 1, things: [], issuedTo: member.address }, controller);
  const b = encodeCoo(coo);
  b[29] = 17;
  assert.throws(() => decodeCoo(b), (e: unknown) => isZtError(e, 'ZT_ERR_TOO_LONG') && /COO_MAX_THINGS/.test(e.message));
  // Capability: rules over MAX_CAPABILITY_RULES, chain max outside 1..7, chain longer than its max
  const cap = encodeCapability(signCapability({ networkId: nwid, timestamp: 1, id: 1, rules: [rule('ACTION_ACCEPT')] }, controller, member.address));
  const many = cap.slice();
  many[21] = 65;
  assert.throws(() => decodeCapability(many), (e: unknown) => isZtError(e, 'ZT_ERR_TOO_LONG') && /MAX_CAPABILITY_RULES/.test(e.message));
  const chain0 = cap.slice();
  chain0[24] = 0;
  assert.throws(() => decodeCapability(chain0), { code: 'ZT_ERR_BAD_VALUE' });
  // a type-1 signature must be 96 bytes
  const tag = encodeTag(signTag({ networkId: nwid, timestamp: 1, id: 1, value: 1, issuedTo: 1 }, controller));
  tag[36] = 95;
  assert.throws(() => decodeTag(tag), { code: 'ZT_ERR_BAD_VALUE' });
});

// ------------------------------------------------------------------------------------------------------------
// fuzz: every reader fails only with ZtError, and what it accepts re-encodes stably

const seeds: Array<[string, (r: ByteReader) => unknown, (x: never) => Uint8Array, Uint8Array]> = [
  ['COM', readCom, encodeCom as (x: never) => Uint8Array, appendixA.comHex()],
  ['Tag', readTag, encodeTag as (x: never) => Uint8Array, encodeTag(signTag({ networkId: nwid, timestamp: 1, id: 1, value: 1, issuedTo: 1 }, controller))],
  ['Capability', readCapability, encodeCapability as (x: never) => Uint8Array, encodeCapability(signCapability({ networkId: nwid, timestamp: 1, id: 1, rules: [rule('MATCH_IP_PROTOCOL', { protocol: 6 }), rule('ACTION_ACCEPT')] }, controller, 1))],
  ['COO', readCoo, encodeCoo as (x: never) => Uint8Array, fromHex(credentialPackets[0].fields.rest)],
  ['Revocation', readRevocation, encodeRevocation as (x: never) => Uint8Array, encodeRevocation(signRevocation({ id: 1, networkId: nwid, credentialId: 0, threshold: 1, flags: 1n, target: 1, credentialType: 1 }, controller))],
];

for (const [name, read, encode, seed] of seeds) {
  test(`fuzz ${name}: random and mutated bytes give a value or a ZtError; accepted values re-encode stably`, () => {
    const one = (b: Uint8Array): void => {
      let x: unknown;
      try {
        x = read(new ByteReader(b));
      } catch (e) {
        assert.ok(isZtError(e), `${name}: ${String(e)}`);
        return;
      }
      const again = encode(x as never);
      assert.equal(toHex(encode(read(new ByteReader(again)) as never)), toHex(again));
    };
    fc.assert(fc.property(fc.uint8Array({ maxLength: 400 }), one), { numRuns: 400, seed: 61 });
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 4 }), fc.nat(), fc.boolean(), (edits, cut, truncate) => {
        const b = truncate ? seed.slice(0, cut % (seed.length + 1)) : seed.slice();
        for (const [at, v] of edits) if (b.length > 0) b[at % b.length] = v;
        one(b);
      }),
      { numRuns: 1500, seed: 62 },
    );
  });
}

test('fuzz NETWORK_CREDENTIALS: mutated captured payloads give a value or a ZtError', () => {
  const payloads = credentialPackets.map((p) => fromHex(p.payload_hex));
  fc.assert(
    fc.property(fc.nat({ max: payloads.length - 1 }), fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 4 }), fc.nat(), fc.boolean(), (which, edits, cut, truncate) => {
      const s = payloads[which]!;
      const b = truncate ? s.slice(0, cut % (s.length + 1)) : s.slice();
      for (const [at, v] of edits) if (b.length > 0) b[at % b.length] = v;
      try {
        const x = decodeNetworkCredentials(b);
        const again = encodeNetworkCredentials(x);
        assert.equal(toHex(encodeNetworkCredentials(decodeNetworkCredentials(again))), toHex(again));
      } catch (e) {
        assert.ok(isZtError(e), String(e));
      }
    }),
    { numRuns: 1500, seed: 63 },
  );
});
