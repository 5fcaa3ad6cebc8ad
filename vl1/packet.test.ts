import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { poly1305 } from '@noble/ciphers/_poly1305.js';
import {
  armor,
  buildPacket,
  cipherSuite,
  cryptField,
  dearmor,
  extendedArmor,
  getHops,
  hasExtendedArmor,
  incrementHops,
  isFragment,
  isFragmented,
  mangledSalsaKey,
  openPacket,
  packetDest,
  packetId,
  packetSource,
  poly1305KeyOf,
  removeExtendedArmor,
  sealPacket,
  setHops,
  type ArmorSuite,
} from './packet.js';
import { PeerKey } from './peer-key.js';
import { fromHex, toHex } from './bytes.js';
import { c25519Agree } from './c25519.js';
import { isZtError, ZtError } from './errors.js';
import { lz4Compress } from './lz4.js';
import { readVectorJson, REPO_ROOT } from '../test/vectors.js';

interface SuiteVec { armored: string; mangled_salsa_key?: string; poly1305_key?: string; armored_with_hops_5: string; armored_with_hops_5_dearmor_ok: boolean; tampered_dearmor_ok: boolean }
interface ArmorVec { description: string; key_48: string; source: string; dest: string; plaintext_packet: string; suites: Record<string, SuiteVec> }
interface HelloVec { key_48: string; plaintext_packet: string; crypt_field_offset_in_packet: number; crypt_field_length: number; after_cryptfield: string; armored_suite0: string; mangled_salsa_key: string; poly1305_key: string }
interface Ciphers { poly1305: Array<{ key: string; message: string; tag: string }>; packet_armor: ArmorVec[]; hello_cryptfield_example: HelloVec }
const ciphers = readVectorJson<Ciphers>('ciphers.json');

const MD = readFileSync(join(REPO_ROOT, '..', 'shared', 'protocol', 'vl1.md'), 'utf8');
function appendix(label: string, next: string): string {
  const m = new RegExp(`\\*\\*${label.replace('.', '\\.')}[\\s\\S]*?(?=\\*\\*${next.replace('.', '\\.')}|## Appendix B)`).exec(MD);
  assert.ok(m, `Appendix ${label} not found in vl1.md`);
  return m[0];
}
function appendixIdentity(name: 'A' | 'B'): { address: string; pub: Uint8Array; priv: Uint8Array } {
  const m = new RegExp('^\\* ' + name + ' = `([0-9a-f]{10}):0:([0-9a-f]{128}):([0-9a-f]{128})`', 'm').exec(MD);
  assert.ok(m, `identity ${name} not found in vl1.md Appendix A`);
  return { address: m[1]!, pub: fromHex(m[2]!), priv: fromHex(m[3]!) };
}

function flip(b: Uint8Array, i: number, mask: number): void {
  b[i] = b[i]! ^ mask;
}
function code(fn: () => unknown): string | null {
  try {
    fn();
    return null;
  } catch (e) {
    if (!isZtError(e)) throw e; // anything but ZtError fails the test
    return e.code;
  }
}

// ---- known answers -------------------------------------------------------------------------------

test('every ciphers.json poly1305 entry (via noble poly1305, the MAC armor uses)', () => {
  assert.equal(ciphers.poly1305.length, 7);
  for (const v of ciphers.poly1305) assert.equal(toHex(poly1305(fromHex(v.message), fromHex(v.key))), v.tag);
});

test('every ciphers.json packet_armor example, suites 0/1/3, byte for byte', () => {
  assert.equal(ciphers.packet_armor.length, 4);
  for (const v of ciphers.packet_armor) {
    const key = new PeerKey(fromHex(v.key_48));
    for (const s of ['0', '1', '3'] as const) {
      const sv = v.suites[s]!;
      const what = `${v.description} suite ${s}`;
      const pkt = fromHex(v.plaintext_packet);
      armor(pkt, key, Number(s) as ArmorSuite);
      assert.equal(toHex(pkt), sv.armored, what);
      if (sv.mangled_salsa_key !== undefined) assert.equal(toHex(mangledSalsaKey(pkt, key)), sv.mangled_salsa_key, what);
      if (sv.poly1305_key !== undefined) assert.equal(toHex(poly1305KeyOf(pkt, key)), sv.poly1305_key, what);
      assert.equal(cipherSuite(pkt), Number(s));
      assert.equal(packetDest(pkt), parseInt(v.dest, 16));
      assert.equal(packetSource(pkt), parseInt(v.source, 16));

      // the receiver side: dearmor the vector's bytes
      const rx = fromHex(sv.armored);
      const iv = dearmor(rx, key);
      assert.equal(toHex(rx.subarray(27)), v.plaintext_packet.slice(54), what);
      assert.equal(toHex(rx.subarray(8, 18)), v.plaintext_packet.slice(16, 36), what);
      // bytes 0..7 stay the wire id (replies refer to it); the return value is the pre-armor id
      assert.equal(toHex(rx.subarray(0, 8)), sv.armored.slice(0, 16), what);
      assert.equal(toHex(iv), v.plaintext_packet.slice(0, 16), what);
      const again = rx.slice();
      again.set(iv, 0);
      armor(again, key, Number(s) as ArmorSuite);
      assert.equal(toHex(again), sv.armored, `${what}: re-armor with the returned id`);

      // a relay bumped the hops to 5: still dearmors, and our setHops produces exactly the vector
      assert.equal(sv.armored_with_hops_5_dearmor_ok, true);
      const hopped = fromHex(sv.armored);
      setHops(hopped, 5);
      assert.equal(toHex(hopped), sv.armored_with_hops_5, what);
      const rx5 = fromHex(sv.armored_with_hops_5);
      assert.equal(getHops(rx5), 5);
      dearmor(rx5, key);
      assert.equal(toHex(rx5.subarray(27)), v.plaintext_packet.slice(54), what);

      // tampering fails (last byte of the payload, and a header byte)
      assert.equal(sv.tampered_dearmor_ok, false);
      const t1 = fromHex(sv.armored);
      flip(t1, t1.length - 1, 0x01);
      assert.throws(() => dearmor(t1, key), { code: 'ZT_ERR_BAD_MAC' }, what);
      assert.deepEqual(t1, (() => { const x = fromHex(sv.armored); flip(x, x.length - 1, 1); return x; })(), 'unchanged after failure');
      const t2 = fromHex(sv.armored);
      flip(t2, 9, 0x20);
      assert.throws(() => dearmor(t2, key), { code: 'ZT_ERR_BAD_MAC' }, what);
    }
  }
});

test('hello_cryptfield_example: cryptField then suite-0 armor, byte for byte, and back', () => {
  const v = ciphers.hello_cryptfield_example;
  const key = new PeerKey(fromHex(v.key_48));
  const pkt = fromHex(v.plaintext_packet);
  cryptField(pkt, key, v.crypt_field_offset_in_packet, v.crypt_field_length);
  assert.equal(toHex(pkt), v.after_cryptfield);
  armor(pkt, key, 0);
  assert.equal(toHex(pkt), v.armored_suite0);
  assert.equal(toHex(mangledSalsaKey(pkt, key)), v.mangled_salsa_key);
  assert.equal(toHex(poly1305KeyOf(pkt, key)), v.poly1305_key);
  // a raw 48-byte key works the same as a PeerKey
  const pkt2 = fromHex(v.plaintext_packet);
  cryptField(pkt2, fromHex(v.key_48), v.crypt_field_offset_in_packet, v.crypt_field_length);
  assert.equal(toHex(pkt2), v.after_cryptfield);
  // receiver: MAC first, then the same XOR restores the moon list
  const rx = fromHex(v.armored_suite0);
  dearmor(rx, key);
  cryptField(rx, key, v.crypt_field_offset_in_packet, v.crypt_field_length);
  assert.equal(toHex(rx.subarray(27)), v.plaintext_packet.slice(54));
  assert.equal(code(() => cryptField(rx, key, rx.length - 3, 4)), 'ZT_ERR_TRUNCATED');
  assert.equal(code(() => cryptField(rx, key, -1, 4)), 'ZT_ERR_TRUNCATED');
});

test('vl1.md Appendix A.4: packets A → B in suites 0, 1, 3 (extracted from the markdown)', () => {
  const a4 = appendix('A.4', 'A.5');
  const A = appendixIdentity('A'), B = appendixIdentity('B');
  const keyAB = c25519Agree(A.priv, B.pub);
  assert.deepEqual(c25519Agree(B.priv, A.pub), keyAB);
  const a2key = /key\(A,B\) = key\(B,A\) = `([0-9a-f]{96})`/.exec(MD)?.[1];
  assert.equal(toHex(keyAB), a2key);
  const key = new PeerKey(keyAB);

  const plain = /Plaintext before armor[^`]*`([0-9a-f ]+)`/.exec(a4)?.[1]?.replace(/ /g, '');
  assert.ok(plain && plain.length === 71 * 2, 'A.4 plaintext not found');
  const rows = [...a4.matchAll(/^\| ([013]) \| `([0-9a-f]{16})` \| `([0-9a-f]{2})` \| `([0-9a-f]{16})` \| ([^|]+) \|$/gm)];
  assert.equal(rows.length, 3, 'A.4 table rows');
  const payloadHex = plain.slice(56);
  for (const r of rows) {
    const suite = Number(r[1]) as ArmorSuite;
    const pkt = fromHex(plain);
    armor(pkt, key, suite);
    assert.equal(toHex(pkt.subarray(0, 8)), r[2], `suite ${suite} id`);
    assert.equal(toHex(pkt.subarray(18, 19)), r[3], `suite ${suite} flags`);
    assert.equal(toHex(pkt.subarray(19, 27)), r[4], `suite ${suite} MAC`);
    const tail = r[5]!.trim() === '`08` + plaintext payload' ? '08' + payloadHex : /`([0-9a-f]+)`/.exec(r[5]!)![1];
    assert.equal(toHex(pkt.subarray(27)), tail, `suite ${suite} body`);
    // "All three still verify at B after incrementing the hop count."
    assert.equal(incrementHops(pkt), 1);
    const opened = openPacket(pkt, key);
    assert.equal(opened.verb, 0x08);
    assert.equal(Buffer.from(opened.payload).toString('ascii'), 'The quick brown fox jumps over the lazy dog');
    assert.equal(opened.compressed, false);
  }
});

test('vl1.md Appendix A.5: HELLO field encryption', () => {
  const a5 = appendix('A.5', 'A.6');
  const m = /field\s+bytes `000102…0f` → `([0-9a-f]{32})`/.exec(a5);
  assert.ok(m, 'A.5 vector not found');
  const A = appendixIdentity('A'), B = appendixIdentity('B');
  const pkt = new Uint8Array(8 + 16);
  pkt.set(fromHex('0123456789abcdef'), 0);
  for (let i = 0; i < 16; i++) pkt[8 + i] = i;
  cryptField(pkt, c25519Agree(A.priv, B.pub), 8, 16);
  assert.equal(toHex(pkt.subarray(8)), m[1]);
});

test('vl1.md Appendix A.6: extended armor decrypts at B, then the suite-0 MAC verifies', () => {
  const a6 = appendix('A.6', 'Appendix B');
  const wire = /\n`([0-9a-f]{100,})`/.exec(a6)?.[1];
  assert.ok(wire, 'A.6 packet not found');
  const after = /flags `([0-9a-f]{2})`, MAC `([0-9a-f]{16})`, verb `([0-9a-f]{2})`/.exec(a6);
  assert.ok(after, 'A.6 expected fields not found');
  const A = appendixIdentity('A'), B = appendixIdentity('B');
  const pkt = fromHex(wire);
  assert.ok(hasExtendedArmor(pkt));
  const inner = removeExtendedArmor(pkt, B.priv);
  assert.equal(inner.length, pkt.length - 32);
  assert.equal(toHex(inner.subarray(0, 8)), '0123456789abcdef');
  assert.equal(toHex(inner.subarray(18, 19)), after[1]);
  assert.equal(toHex(inner.subarray(19, 27)), after[2]);
  assert.equal(toHex(inner.subarray(27, 28)), after[3]);
  assert.equal(Buffer.from(inner.subarray(28)).toString('ascii'), 'The quick brown fox jumps over the lazy dog');
  dearmor(inner, new PeerKey(c25519Agree(B.priv, A.pub)));
  // the wrong private key gives junk that fails the MAC
  const junk = removeExtendedArmor(fromHex(wire), A.priv);
  assert.throws(() => dearmor(junk, new PeerKey(c25519Agree(B.priv, A.pub))), { code: 'ZT_ERR_BAD_MAC' });
});

test('extended armor round trip with our own extendedArmor', () => {
  const A = appendixIdentity('A'), B = appendixIdentity('B');
  const key = new PeerKey(c25519Agree(A.priv, B.pub));
  const payload = new TextEncoder().encode('hello with extended armor');
  const pkt = buildPacket({ dest: parseInt(B.address, 16), source: parseInt(A.address, 16), verb: 0x01, payload });
  armor(pkt, key, 0, { extendedArmor: true });
  assert.equal(pkt[18], 0x80);
  const ext = extendedArmor(pkt, B.pub);
  assert.equal(ext.length, pkt.length + 32);
  assert.notDeepEqual(ext.subarray(19, pkt.length), pkt.subarray(19)); // MAC, verb, payload are hidden
  assert.deepEqual(ext.subarray(0, 19), pkt.subarray(0, 19));
  const inner = removeExtendedArmor(ext, B.priv);
  assert.deepEqual(inner, pkt);
  const opened = openPacket(inner, key);
  assert.equal(opened.verb, 0x01);
  assert.deepEqual(opened.payload, payload);
  // deterministic with a given ephemeral key
  const eph = new Uint8Array(32).fill(7);
  assert.deepEqual(extendedArmor(pkt, B.pub, eph), extendedArmor(pkt, B.pub, eph));
  // misuse
  const plain = buildPacket({ dest: 1, source: 2, verb: 1 });
  armor(plain, key, 0);
  assert.equal(code(() => extendedArmor(plain, B.pub)), 'ZT_ERR_BAD_VALUE');
  assert.equal(code(() => removeExtendedArmor(new Uint8Array(59), B.priv)), 'ZT_ERR_TRUNCATED');
  assert.equal(code(() => armor(buildPacket({ dest: 1, source: 2, verb: 1 }), key, 1, { extendedArmor: true })), 'ZT_ERR_BAD_VALUE');
});

// ---- behaviour ----------------------------------------------------------------------------------

const KEY = new PeerKey(fromHex(ciphers.packet_armor[0]!.key_48));

test('flags: 0x80 set for suite 1 only (or extended armor), fragmented flag and hops preserved', () => {
  for (const [suite, expect] of [[0, 0x40], [1, 0xc8], [3, 0x58]] as const) {
    const pkt = buildPacket({ dest: 0x0102030405, source: 0x0a0b0c0d0e, verb: 8, flags: 0x80 | 0x40 });
    armor(pkt, KEY, suite);
    assert.equal(pkt[18], expect, `suite ${suite}`);
    assert.ok(isFragmented(pkt));
    dearmor(pkt, KEY);
  }
});

test('packet ids without a given one are distinct across many packets (ids drawn from a pooled CSPRNG)', () => {
  // 3000 ids span several refills of the 512-id pool; a repeated id would reuse a Salsa20 nonce under one key.
  const ids = new Set<bigint>();
  for (let i = 0; i < 3000; i++) ids.add(packetId(buildPacket({ dest: 1, source: 2, verb: 1 })));
  assert.equal(ids.size, 3000);
  // Not zero-filled or a counter: every byte position takes many values.
  const firstBytes = new Set([...ids].map((x) => Number(x >> 56n)));
  assert.ok(firstBytes.size > 200, `only ${firstBytes.size} distinct first bytes in 3000 ids`);
});

test('header accessors and hops on packets and fragments', () => {
  const id = fromHex('fedcba9876543210');
  const pkt = buildPacket({ packetId: id, dest: 0xaabbccddee, source: 0x1122334455, verb: 0x04, payload: new Uint8Array([1, 2]) });
  assert.equal(pkt.length, 30);
  assert.equal(packetId(pkt), 0xfedcba9876543210n);
  assert.equal(packetDest(pkt), 0xaabbccddee);
  assert.equal(packetSource(pkt), 0x1122334455);
  assert.equal(isFragment(pkt), false);
  assert.equal(getHops(pkt), 0);
  setHops(pkt, 7);
  assert.equal(getHops(pkt), 7);
  assert.equal(incrementHops(pkt), 0, 'wraps 7 → 0');
  assert.equal(pkt[18], 0);
  const frag = new Uint8Array(20);
  frag[13] = 0xff;
  frag[14] = 0x21;
  assert.equal(isFragment(frag), true);
  setHops(frag, 3);
  assert.equal(frag[15], 3);
  assert.equal(getHops(frag), 3);
  assert.equal(frag[14], 0x21);
  assert.equal(code(() => setHops(pkt, 8)), 'ZT_ERR_BAD_VALUE');
  assert.equal(code(() => packetSource(new Uint8Array(17))), 'ZT_ERR_TRUNCATED');
  assert.equal(code(() => getHops(new Uint8Array(18))), 'ZT_ERR_TRUNCATED');
  assert.equal(code(() => buildPacket({ dest: 2 ** 40, source: 1, verb: 1 })), 'ZT_ERR_BAD_VALUE');
  assert.equal(code(() => buildPacket({ dest: 1, source: 1, verb: 1, payload: new Uint8Array(10024 - 27) })), 'ZT_ERR_TOO_LONG');
  assert.equal(code(() => buildPacket({ dest: 1, source: 1, verb: 1, packetId: new Uint8Array(7) })), 'ZT_ERR_BAD_VALUE');
  assert.notDeepEqual(buildPacket({ dest: 1, source: 1, verb: 1 }).subarray(0, 8), buildPacket({ dest: 1, source: 1, verb: 1 }).subarray(0, 8));
});

test('suite 2 and 4..7 are UNSUPPORTED_CIPHER, short packets TRUNCATED', () => {
  for (const s of [2, 4, 5, 6, 7]) {
    const pkt = buildPacket({ dest: 1, source: 2, verb: 8 });
    pkt[18] = s << 3;
    assert.equal(code(() => dearmor(pkt, KEY)), 'ZT_ERR_UNSUPPORTED_CIPHER', `suite ${s}`);
    assert.equal(code(() => armor(pkt, KEY, s as ArmorSuite)), 'ZT_ERR_UNSUPPORTED_CIPHER', `suite ${s}`);
  }
  assert.equal(code(() => dearmor(new Uint8Array(27), KEY)), 'ZT_ERR_TRUNCATED');
  assert.equal(code(() => armor(new Uint8Array(27), KEY, 1)), 'ZT_ERR_TRUNCATED');
});

test('sealPacket compresses only when > 64 bytes and smaller; openPacket decompresses', () => {
  const big = new TextEncoder().encode('multicast like '.repeat(40));
  for (const suite of [0, 1, 3] as const) {
    const sealed = sealPacket({ dest: 5, source: 6, verb: 0x09, payload: big }, KEY, suite);
    assert.ok(sealed.length < 28 + big.length, 'compressed on the wire');
    const opened = openPacket(sealed.slice(), KEY);
    assert.deepEqual(opened, { verb: 0x09, payload: big, compressed: true });
    // without compression
    const plain = sealPacket({ dest: 5, source: 6, verb: 0x09, payload: big }, KEY, suite, { compress: false });
    assert.equal(plain.length, 28 + big.length);
    assert.equal(openPacket(plain, KEY).compressed, false);
  }
  const small = new Uint8Array(64); // compressible but not > 64
  assert.equal(sealPacket({ dest: 5, source: 6, verb: 9, payload: small }, KEY, 1).length, 28 + 64);
  const random = new Uint8Array(200).map((_, i) => (i * 7919) % 251 ^ (i >> 3));
  const r = sealPacket({ dest: 5, source: 6, verb: 9, payload: random }, KEY, 1);
  assert.equal(openPacket(r, KEY).payload.length, 200);
  // fragmented flag set before armoring when an MTU is given and exceeded
  const frag = sealPacket({ dest: 5, source: 6, verb: 6, payload: random }, KEY, 3, { compress: false, mtu: 100 });
  assert.ok(isFragmented(frag));
  dearmor(frag, KEY);
  assert.ok(!isFragmented(sealPacket({ dest: 5, source: 6, verb: 6, payload: random }, KEY, 3, { compress: false, mtu: 1432 })));
});

test('openPacket: a corrupt or oversized compressed payload is BAD_COMPRESSION', () => {
  const bomb = lz4Compress(new Uint8Array(5000));
  const pkt = buildPacket({ dest: 5, source: 6, verb: 0x09 | 0x80, payload: bomb });
  armor(pkt, KEY, 1);
  assert.equal(code(() => openPacket(pkt.slice(), KEY, 1000)), 'ZT_ERR_BAD_COMPRESSION');
  assert.equal(openPacket(pkt.slice(), KEY).payload.length, 5000);
  const bad = buildPacket({ dest: 5, source: 6, verb: 0x09 | 0x80, payload: new Uint8Array([0xf0]) });
  armor(bad, KEY, 3);
  assert.equal(code(() => openPacket(bad, KEY)), 'ZT_ERR_BAD_COMPRESSION');
});

// ---- properties -----------------------------------------------------------------------------------

const arbSuite = fc.constantFrom<ArmorSuite>(0, 1, 3);
const arbKey = fc.uint8Array({ minLength: 48, maxLength: 48 }).map((k) => new PeerKey(k));
const arbPacket = fc.record({
  packetId: fc.uint8Array({ minLength: 8, maxLength: 8 }),
  dest: fc.integer({ min: 0, max: 2 ** 40 - 1 }),
  // a source starting with 0xff is reserved exactly because byte 13 = 0xff marks a fragment
  source: fc.integer({ min: 0, max: 0xfeffffffff }),
  verb: fc.integer({ min: 0, max: 0x1f }),
  payload: fc.uint8Array({ maxLength: 1500 }),
  flags: fc.constantFrom(0, 0x40),
});

test('property: dearmor ∘ armor is the identity on dest, source, verb and payload', () => {
  fc.assert(
    fc.property(arbPacket, arbKey, arbSuite, fc.integer({ min: 0, max: 7 }), (f, key, suite, hops) => {
      const pkt = buildPacket(f);
      const orig = pkt.slice();
      armor(pkt, key, suite);
      setHops(pkt, hops); // relays may change hops
      dearmor(pkt, key);
      assert.deepEqual(pkt.subarray(8, 18), orig.subarray(8, 18));
      assert.deepEqual(pkt.subarray(27), orig.subarray(27));
      assert.equal(cipherSuite(pkt), suite);
      assert.equal(isFragmented(pkt), f.flags === 0x40);
    }),
    { numRuns: 200, seed: 11 },
  );
});

test('property: any single-bit flip outside the hop bits is rejected (BAD_MAC, or UNSUPPORTED_CIPHER if it changed the suite to one we refuse)', () => {
  fc.assert(
    fc.property(arbPacket, arbKey, arbSuite, fc.nat(), (f, key, suite, bitSeed) => {
      const pkt = buildPacket(f);
      armor(pkt, key, suite);
      const bits = pkt.length * 8 - 3; // every bit except the 3 hop bits of byte 18
      let bit = bitSeed % bits;
      if (bit >= 18 * 8) bit += 3; // skip byte 18 bits 0..2 (we count bits LSB-first within a byte)
      const byte = bit >> 3, mask = 1 << (bit & 7);
      flip(pkt, byte, mask);
      const before = pkt.slice();
      const c = code(() => dearmor(pkt, key));
      const newSuite = cipherSuite(pkt);
      const expected = newSuite === 0 || newSuite === 1 || newSuite === 3 ? 'ZT_ERR_BAD_MAC' : 'ZT_ERR_UNSUPPORTED_CIPHER';
      assert.equal(c, expected, `flip byte ${byte} mask ${mask} suite ${suite}`);
      assert.deepEqual(pkt, before, 'a rejected packet is left as received');
    }),
    { numRuns: 400, seed: 12 },
  );
});

test('property: flipping only hop bits never breaks the MAC', () => {
  fc.assert(
    fc.property(arbPacket, arbKey, arbSuite, fc.integer({ min: 1, max: 7 }), (f, key, suite, m) => {
      const pkt = buildPacket(f);
      armor(pkt, key, suite);
      flip(pkt, 18, m);
      dearmor(pkt, key);
    }),
    { numRuns: 100, seed: 13 },
  );
});

test('property: random bytes only ever produce ZtError (dearmor, openPacket, accessors, extended armor)', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 400 }), arbKey, fc.uint8Array({ minLength: 64, maxLength: 64 }), (bytes, key, priv) => {
      const tryAll: Array<() => unknown> = [
        () => dearmor(bytes.slice(), key),
        () => openPacket(bytes.slice(), key),
        () => packetId(bytes), () => packetDest(bytes), () => packetSource(bytes),
        () => cipherSuite(bytes), () => isFragmented(bytes), () => getHops(bytes), () => isFragment(bytes),
        () => incrementHops(bytes.slice()), () => hasExtendedArmor(bytes),
        () => removeExtendedArmor(bytes.slice(), priv),
        () => cryptField(bytes.slice(), key, 10, 20),
      ];
      for (const t of tryAll) {
        try {
          t();
        } catch (e) {
          assert.ok(e instanceof ZtError, `not a ZtError: ${String(e)}`);
        }
      }
      // random bytes with a plausible header: must be rejected (a 2^-64 chance aside)
      if (bytes.length >= 28) {
        const p = bytes.slice();
        p[18] = p[18]! & 0x0f; // suite 0 or 1
        assert.ok(code(() => dearmor(p, key)) !== null);
      }
    }),
    { numRuns: 300, seed: 14 },
  );
});
