import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ByteWriter, fromHex, toHex } from '../bytes.js';
import { isZtError } from '../errors.js';
import { inlineAfter, hexBytes } from '../../test/vl2-sheet.js';
import { adhocRules } from './adhoc.js';
import { decodeRules, encodeRules, rule, RuleType, type Rule, type RuleKind } from './rules.js';

test('vl2.md §1.2: the ad-hoc table for ports 0x16..0x16 is the 61-byte wire form 1.14 writes, and decodes back', () => {
  const wire = hexBytes(inlineAfter('Wire form of this rule table (dictionary key `R`), 61 bytes [run]:'));
  assert.equal(wire.length, 61);
  assert.equal(toHex(encodeRules(adhocRules(0x16, 0x16))), toHex(wire));
  assert.deepEqual(decodeRules(wire, 1024), adhocRules(0x16, 0x16));
});

test('unknown types are skipped by their length and kept; known ones with extra bytes are read from the start', () => {
  // type 52 (unknown match, NOT|OR) with 3 bytes, type 9 (reserved action) with 1 byte, then ACCEPT
  const b = fromHex('f403aabbcc' + '0901ee' + '0100');
  const rules = decodeRules(b, 1024);
  assert.deepEqual(rules, [
    { not: true, or: true, kind: 'UNKNOWN', type: 52, value: fromHex('aabbcc') },
    { not: false, or: false, kind: 'UNKNOWN', type: 9, value: fromHex('ee') },
    rule('ACTION_ACCEPT'),
  ]);
  assert.equal(toHex(encodeRules(rules)), toHex(b));
  // ETHERTYPE with a 4-byte value: the first 2 bytes are the ethertype, the rest skipped; ACCEPT with a value too
  assert.deepEqual(decodeRules(fromHex('2504080000ff' + '0102abcd'), 1024), [rule('MATCH_ETHERTYPE', { etherType: 0x0800 }), rule('ACTION_ACCEPT')]);
  // a value shorter than the layout is refused (1.14 would read into the next rule)
  assert.throws(() => decodeRules(fromHex('250108'), 1024), (e: unknown) => isZtError(e, 'ZT_ERR_BAD_VALUE') && /MATCH_ETHERTYPE/.test(e.message));
  // a value running past the blob
  assert.throws(() => decodeRules(fromHex('2502'), 1024), { code: 'ZT_ERR_TRUNCATED' });
  assert.throws(() => decodeRules(fromHex('01'), 1024), { code: 'ZT_ERR_TRUNCATED' });
  // at most maxRules are read (MAX_NETWORK_RULES in a config): the rest is left unread, as 1.14 does
  assert.equal(decodeRules(fromHex('0100'.repeat(5)), 3).length, 3);
  // UNKNOWN must not claim a known type
  assert.throws(() => encodeRules([{ not: false, or: false, kind: 'UNKNOWN', type: 1, value: new Uint8Array(0) }]), { code: 'ZT_ERR_BAD_VALUE' });
});

test('every known type has its 1.14 length and round-trips', () => {
  const all: Rule[] = [
    rule('ACTION_DROP'),
    rule('ACTION_ACCEPT'),
    rule('ACTION_TEE', { address: 0x89e92ceee5, flags: 7, length: 64 }),
    rule('ACTION_WATCH', { address: 1, flags: 0, length: 0 }),
    rule('ACTION_REDIRECT', { address: 2, flags: 0, length: 0 }),
    rule('ACTION_BREAK'),
    rule('ACTION_PRIORITY'),
    rule('MATCH_SOURCE_ZEROTIER_ADDRESS', { address: 0xffffffffff }),
    rule('MATCH_DEST_ZEROTIER_ADDRESS', { address: 3 }),
    rule('MATCH_VLAN_ID', { vlanId: 4095 }),
    rule('MATCH_VLAN_PCP', { value: 3 }),
    rule('MATCH_VLAN_DEI', { value: 1 }),
    rule('MATCH_MAC_SOURCE', { mac: 0x02aabbccddeen }),
    rule('MATCH_MAC_DEST', { mac: 0xffffffffffffn }),
    rule('MATCH_IPV4_SOURCE', { ip: fromHex('0a931100'), bits: 24 }),
    rule('MATCH_IPV4_DEST', { ip: fromHex('0a931105'), bits: 32 }),
    rule('MATCH_IPV6_SOURCE', { ip: fromHex('fd00'.padEnd(32, '0')), bits: 8 }),
    rule('MATCH_IPV6_DEST', { ip: fromHex('fc'.padEnd(32, '0')), bits: 7 }),
    rule('MATCH_IP_TOS', { mask: 0xfc, start: 0x10, end: 0x20 }),
    rule('MATCH_IP_PROTOCOL', { protocol: 17 }),
    rule('MATCH_ETHERTYPE', { etherType: 0x0806, not: true }),
    rule('MATCH_ICMP', { icmpType: 8, icmpCode: 0, flags: 1 }),
    rule('MATCH_IP_SOURCE_PORT_RANGE', { start: 1, end: 1023 }),
    rule('MATCH_IP_DEST_PORT_RANGE', { start: 80, end: 80, or: true }),
    rule('MATCH_CHARACTERISTICS', { mask: 0x8000000000000002n }),
    rule('MATCH_FRAME_SIZE_RANGE', { start: 0, end: 1500 }),
    rule('MATCH_RANDOM', { probability: 0x7fffffff }),
    rule('MATCH_TAGS_DIFFERENCE', { tagId: 1, tagValue: 2 }),
    rule('MATCH_TAGS_BITWISE_AND', { tagId: 1, tagValue: 2 }),
    rule('MATCH_TAGS_BITWISE_OR', { tagId: 1, tagValue: 2 }),
    rule('MATCH_TAGS_BITWISE_XOR', { tagId: 1, tagValue: 2 }),
    rule('MATCH_TAGS_EQUAL', { tagId: 1, tagValue: 2 }),
    rule('MATCH_TAG_SENDER', { tagId: 0xffffffff, tagValue: 0 }),
    rule('MATCH_TAG_RECEIVER', { tagId: 1, tagValue: 2 }),
    rule('MATCH_INTEGER_RANGE', { start: 5n, end: 0xffffffffffffffffn, offset: 14, format: 0x8f }),
  ];
  assert.deepEqual(new Set(all.map((r) => r.kind)), new Set(Object.keys(RuleType) as RuleKind[]), 'every type covered');
  const lengths: Record<string, number> = { ACTION_TEE: 14, ACTION_WATCH: 14, ACTION_REDIRECT: 14, MATCH_IPV6_SOURCE: 17, MATCH_IPV6_DEST: 17, MATCH_INTEGER_RANGE: 19, MATCH_CHARACTERISTICS: 8 };
  for (const r of all) {
    const b = encodeRules([r]);
    assert.equal(b[0]! & 0x3f, RuleType[r.kind as RuleKind]);
    if (lengths[r.kind] !== undefined) assert.equal(b[1], lengths[r.kind], r.kind);
    assert.equal(b.length, 2 + b[1]!, r.kind);
    assert.deepEqual(decodeRules(b, 1), [r], r.kind);
  }
  assert.equal(toHex(encodeRules(all.slice(2, 3))), '020e00000089e92ceee5000000070040');
  assert.throws(() => encodeRules([rule('MATCH_IPV4_SOURCE', { ip: new Uint8Array(16), bits: 8 })]), { code: 'ZT_ERR_BAD_VALUE' });
  assert.throws(() => encodeRules([rule('MATCH_ETHERTYPE', { etherType: 0x10000 })]), { code: 'ZT_ERR_BAD_VALUE' });
});

test('fuzz: random rule blobs decode or fail with ZtError, and what decodes re-encodes stably', () => {
  const seed = encodeRules(adhocRules(1, 65535));
  const one = (b: Uint8Array): void => {
    let rules: Rule[];
    try {
      rules = decodeRules(b, 1024);
    } catch (e) {
      assert.ok(isZtError(e), String(e));
      return;
    }
    const again = encodeRules(rules);
    assert.equal(toHex(encodeRules(decodeRules(again, 1024))), toHex(again));
  };
  fc.assert(fc.property(fc.uint8Array({ maxLength: 200 }), one), { numRuns: 1000, seed: 71 });
  fc.assert(
    fc.property(fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 4 }), (edits) => {
      const b = seed.slice();
      for (const [at, v] of edits) b[at % b.length] = v;
      one(b);
    }),
    { numRuns: 1000, seed: 72 },
  );
  // a ByteWriter round trip of many random known rules
  fc.assert(
    fc.property(fc.array(fc.uint8Array({ minLength: 21, maxLength: 21 }), { maxLength: 10 }), (raws) => {
      const w = new ByteWriter();
      for (const r of raws) w.u8(r[0]!).u8(19).bytes(r.subarray(2));
      one(w.finish());
    }),
    { numRuns: 300, seed: 73 },
  );
});
