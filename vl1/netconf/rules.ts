/**
 * Rule tables: the `R` blob of a network config and the rules inside a Capability
 * (`Capability::serializeRules` / `deserializeRules` in node/Capability.hpp; shared/protocol/vl2.md §3.5).
 *
 *   each rule:  t[1] (t & 0x3f = type, 0x80 = NOT, 0x40 = OR) | length[1] | value[length]
 *
 *   type  name                               len  value
 *   0     ACTION_DROP                        0
 *   1     ACTION_ACCEPT                      0
 *   2/3/4 ACTION_TEE / WATCH / REDIRECT      14   address u64 (low 40 bits used) | flags u32 | length u16
 *   5     ACTION_BREAK                       0
 *   6     ACTION_PRIORITY                    0    (1.14 does not serialize the QoS bucket: receivers see 0)
 *   24/25 MATCH_SOURCE/DEST_ZEROTIER_ADDRESS 5    address[5]
 *   26    MATCH_VLAN_ID                      2    u16
 *   27/28 MATCH_VLAN_PCP / VLAN_DEI          1    u8
 *   29/30 MATCH_MAC_SOURCE / MAC_DEST        6    mac[6]
 *   31/32 MATCH_IPV4_SOURCE / DEST           5    ip[4] | prefix bits[1]
 *   33/34 MATCH_IPV6_SOURCE / DEST           17   ip[16] | prefix bits[1]
 *   35    MATCH_IP_TOS                       3    mask | start | end
 *   36    MATCH_IP_PROTOCOL                  1    u8
 *   37    MATCH_ETHERTYPE                    2    u16
 *   38    MATCH_ICMP                         3    type | code | flags (0x01: also match the code)
 *   39/40 MATCH_IP_SOURCE/DEST_PORT_RANGE    4    start u16 | end u16
 *   41    MATCH_CHARACTERISTICS              8    u64 mask
 *   42    MATCH_FRAME_SIZE_RANGE             4    start u16 | end u16
 *   43    MATCH_RANDOM                       4    probability u32
 *   44–50 MATCH_TAGS_* / TAG_SENDER/RECEIVER 8    tag id u32 | value u32
 *   51    MATCH_INTEGER_RANGE                19   start u64 | end u64 (absolute) | offset u16 | format u8
 *   other types: skipped by their length (kept here as UNKNOWN so a table re-encodes and evaluates as 1.14's)
 *
 * A known type is read from the start of its value; extra value bytes are skipped as 1.14 skips them. A value
 * shorter than its layout is refused (1.14 would read the next rule's bytes as its value).
 */
import { ByteReader, ByteWriter } from '../bytes.js';
import { ZtError, ZtErrorCode } from '../errors.js';
import { checkInt, checkUint, readMac, writeMac } from '../verbs/common.js';

/** Rule type numbers (`ZT_VirtualNetworkRuleType`). Types 0..15 are actions, 24..63 matches. */
export const RuleType = {
  ACTION_DROP: 0,
  ACTION_ACCEPT: 1,
  ACTION_TEE: 2,
  ACTION_WATCH: 3,
  ACTION_REDIRECT: 4,
  ACTION_BREAK: 5,
  ACTION_PRIORITY: 6,
  MATCH_SOURCE_ZEROTIER_ADDRESS: 24,
  MATCH_DEST_ZEROTIER_ADDRESS: 25,
  MATCH_VLAN_ID: 26,
  MATCH_VLAN_PCP: 27,
  MATCH_VLAN_DEI: 28,
  MATCH_MAC_SOURCE: 29,
  MATCH_MAC_DEST: 30,
  MATCH_IPV4_SOURCE: 31,
  MATCH_IPV4_DEST: 32,
  MATCH_IPV6_SOURCE: 33,
  MATCH_IPV6_DEST: 34,
  MATCH_IP_TOS: 35,
  MATCH_IP_PROTOCOL: 36,
  MATCH_ETHERTYPE: 37,
  MATCH_ICMP: 38,
  MATCH_IP_SOURCE_PORT_RANGE: 39,
  MATCH_IP_DEST_PORT_RANGE: 40,
  MATCH_CHARACTERISTICS: 41,
  MATCH_FRAME_SIZE_RANGE: 42,
  MATCH_RANDOM: 43,
  MATCH_TAGS_DIFFERENCE: 44,
  MATCH_TAGS_BITWISE_AND: 45,
  MATCH_TAGS_BITWISE_OR: 46,
  MATCH_TAGS_BITWISE_XOR: 47,
  MATCH_TAGS_EQUAL: 48,
  MATCH_TAG_SENDER: 49,
  MATCH_TAG_RECEIVER: 50,
  MATCH_INTEGER_RANGE: 51,
} as const;
export type RuleKind = keyof typeof RuleType;

/** `ZT_NETWORK_RULE_ACTION__MAX_ID`: types up to this are actions. */
export const RULE_ACTION_MAX_ID = 15;
export const RULE_FLAG_NOT = 0x80;
export const RULE_FLAG_OR = 0x40;

/** Bits of MATCH_CHARACTERISTICS (`ZT_RULE_PACKET_CHARACTERISTICS_*`). */
export const Characteristic = {
  INBOUND: 0x8000000000000000n,
  MULTICAST: 0x4000000000000000n,
  BROADCAST: 0x2000000000000000n,
  SENDER_IP_AUTHENTICATED: 0x1000000000000000n,
  SENDER_MAC_AUTHENTICATED: 0x0800000000000000n,
  TCP_RESERVED_0: 0x800n,
  TCP_RESERVED_1: 0x400n,
  TCP_RESERVED_2: 0x200n,
  TCP_NS: 0x100n,
  TCP_CWR: 0x80n,
  TCP_ECE: 0x40n,
  TCP_URG: 0x20n,
  TCP_ACK: 0x10n,
  TCP_PSH: 0x08n,
  TCP_RST: 0x04n,
  TCP_SYN: 0x02n,
  TCP_FIN: 0x01n,
} as const;

interface RuleFlags {
  /** 0x80: the match result is inverted. */
  not: boolean;
  /** 0x40: OR this match into the set instead of AND. */
  or: boolean;
}

type Forward = 'ACTION_TEE' | 'ACTION_WATCH' | 'ACTION_REDIRECT';
type PortRange = 'MATCH_IP_SOURCE_PORT_RANGE' | 'MATCH_IP_DEST_PORT_RANGE';
type TagMatch =
  | 'MATCH_TAGS_DIFFERENCE'
  | 'MATCH_TAGS_BITWISE_AND'
  | 'MATCH_TAGS_BITWISE_OR'
  | 'MATCH_TAGS_BITWISE_XOR'
  | 'MATCH_TAGS_EQUAL'
  | 'MATCH_TAG_SENDER'
  | 'MATCH_TAG_RECEIVER';

export type Rule = RuleFlags &
  (
    | { kind: 'ACTION_DROP' | 'ACTION_ACCEPT' | 'ACTION_BREAK' | 'ACTION_PRIORITY' }
    /** `length`: bytes of the frame to copy (0 = all; unused by REDIRECT). */
    | { kind: Forward; address: number; flags: number; length: number }
    | { kind: 'MATCH_SOURCE_ZEROTIER_ADDRESS' | 'MATCH_DEST_ZEROTIER_ADDRESS'; address: number }
    | { kind: 'MATCH_VLAN_ID'; vlanId: number }
    | { kind: 'MATCH_VLAN_PCP' | 'MATCH_VLAN_DEI'; value: number }
    | { kind: 'MATCH_MAC_SOURCE' | 'MATCH_MAC_DEST'; mac: bigint }
    /** `ip`: 4 bytes (IPv4 kinds) or 16 (IPv6 kinds); `bits`: prefix length as carried (0..255). */
    | { kind: 'MATCH_IPV4_SOURCE' | 'MATCH_IPV4_DEST' | 'MATCH_IPV6_SOURCE' | 'MATCH_IPV6_DEST'; ip: Uint8Array; bits: number }
    | { kind: 'MATCH_IP_TOS'; mask: number; start: number; end: number }
    | { kind: 'MATCH_IP_PROTOCOL'; protocol: number }
    | { kind: 'MATCH_ETHERTYPE'; etherType: number }
    /** flags 0x01: the ICMP code must also match. */
    | { kind: 'MATCH_ICMP'; icmpType: number; icmpCode: number; flags: number }
    | { kind: PortRange | 'MATCH_FRAME_SIZE_RANGE'; start: number; end: number }
    | { kind: 'MATCH_CHARACTERISTICS'; mask: bigint }
    /** Matches when a random u32 ≤ probability. */
    | { kind: 'MATCH_RANDOM'; probability: number }
    | { kind: TagMatch; tagId: number; tagValue: number }
    /** `end` is absolute as on the wire; 1.14 keeps only (end − start) mod 2^32 of it. format: (f & 63) + 1 bits, 0x80 little-endian. */
    | { kind: 'MATCH_INTEGER_RANGE'; start: bigint; end: bigint; offset: number; format: number }
    /** A type this code (like 1.14) does not know: `type` = t & 0x3f, the value kept raw. */
    | { kind: 'UNKNOWN'; type: number; value: Uint8Array }
  );

const KIND_BY_TYPE = new Map<number, RuleKind>(Object.entries(RuleType).map(([k, v]) => [v, k as RuleKind]));

/** Value bytes each known type needs. */
const VALUE_LENGTH: Record<RuleKind, number> = {
  ACTION_DROP: 0,
  ACTION_ACCEPT: 0,
  ACTION_TEE: 14,
  ACTION_WATCH: 14,
  ACTION_REDIRECT: 14,
  ACTION_BREAK: 0,
  ACTION_PRIORITY: 0,
  MATCH_SOURCE_ZEROTIER_ADDRESS: 5,
  MATCH_DEST_ZEROTIER_ADDRESS: 5,
  MATCH_VLAN_ID: 2,
  MATCH_VLAN_PCP: 1,
  MATCH_VLAN_DEI: 1,
  MATCH_MAC_SOURCE: 6,
  MATCH_MAC_DEST: 6,
  MATCH_IPV4_SOURCE: 5,
  MATCH_IPV4_DEST: 5,
  MATCH_IPV6_SOURCE: 17,
  MATCH_IPV6_DEST: 17,
  MATCH_IP_TOS: 3,
  MATCH_IP_PROTOCOL: 1,
  MATCH_ETHERTYPE: 2,
  MATCH_ICMP: 3,
  MATCH_IP_SOURCE_PORT_RANGE: 4,
  MATCH_IP_DEST_PORT_RANGE: 4,
  MATCH_CHARACTERISTICS: 8,
  MATCH_FRAME_SIZE_RANGE: 4,
  MATCH_RANDOM: 4,
  MATCH_TAGS_DIFFERENCE: 8,
  MATCH_TAGS_BITWISE_AND: 8,
  MATCH_TAGS_BITWISE_OR: 8,
  MATCH_TAGS_BITWISE_XOR: 8,
  MATCH_TAGS_EQUAL: 8,
  MATCH_TAG_SENDER: 8,
  MATCH_TAG_RECEIVER: 8,
  MATCH_INTEGER_RANGE: 19,
};

/** The wire type number of a rule (t & 0x3f). */
export function ruleType(rule: Rule): number {
  return rule.kind === 'UNKNOWN' ? rule.type : RuleType[rule.kind];
}

/** True for action rules (types 0..15, known or not). */
export function isAction(rule: Rule): boolean {
  return ruleType(rule) <= RULE_ACTION_MAX_ID;
}

/**
 * Reads up to `maxRules` rules, stopping at the end of the reader (`deserializeRules`: further rules are left
 * unread, as 1.14 leaves them).
 * @throws {ZtError} TRUNCATED when a rule's bytes run past the end; BAD_VALUE when a known type's value is shorter
 *   than its layout.
 */
export function readRules(r: ByteReader, maxRules: number): Rule[] {
  const rules: Rule[] = [];
  while (rules.length < maxRules && r.remaining > 0) rules.push(readRule(r));
  return rules;
}

/** Reads exactly `count` rules (a Capability's table). @throws {ZtError} as {@link readRules}. */
export function readRuleCount(r: ByteReader, count: number): Rule[] {
  const rules: Rule[] = [];
  for (let i = 0; i < count; i++) rules.push(readRule(r));
  return rules;
}

/** Decodes a whole rules blob (`R`), at most `maxRules` rules. @throws {ZtError} as {@link readRules}. */
export function decodeRules(blob: Uint8Array, maxRules: number): Rule[] {
  return readRules(new ByteReader(blob), maxRules);
}

function readRule(r: ByteReader): Rule {
  const t = r.u8('rule type');
  const len = r.u8('rule length');
  const v = new ByteReader(r.bytes(len, 'rule value'));
  const type = t & 0x3f;
  const f: RuleFlags = { not: (t & RULE_FLAG_NOT) !== 0, or: (t & RULE_FLAG_OR) !== 0 };
  const kind = KIND_BY_TYPE.get(type);
  if (kind === undefined) return { ...f, kind: 'UNKNOWN', type, value: v.rest().slice() };
  if (len < VALUE_LENGTH[kind]) {
    throw new ZtError(ZtErrorCode.BAD_VALUE, `rule ${kind}: value of ${len} byte(s), its layout needs ${VALUE_LENGTH[kind]}`);
  }
  switch (kind) {
    case 'ACTION_DROP':
    case 'ACTION_ACCEPT':
    case 'ACTION_BREAK':
    case 'ACTION_PRIORITY':
      return { ...f, kind };
    case 'ACTION_TEE':
    case 'ACTION_WATCH':
    case 'ACTION_REDIRECT': {
      // A u64 on the wire; 1.14 turns it into an Address, which keeps the low 40 bits.
      const address = Number(v.u64('rule forward address') & 0xffffffffffn);
      return { ...f, kind, address, flags: v.u32('rule forward flags'), length: v.u16('rule forward length') };
    }
    case 'MATCH_SOURCE_ZEROTIER_ADDRESS':
    case 'MATCH_DEST_ZEROTIER_ADDRESS':
      return { ...f, kind, address: v.u40('rule address') };
    case 'MATCH_VLAN_ID':
      return { ...f, kind, vlanId: v.u16('rule VLAN id') };
    case 'MATCH_VLAN_PCP':
    case 'MATCH_VLAN_DEI':
      return { ...f, kind, value: v.u8('rule VLAN value') };
    case 'MATCH_MAC_SOURCE':
    case 'MATCH_MAC_DEST':
      return { ...f, kind, mac: readMac(v, 'rule MAC') };
    case 'MATCH_IPV4_SOURCE':
    case 'MATCH_IPV4_DEST':
      return { ...f, kind, ip: v.bytes(4, 'rule IPv4').slice(), bits: v.u8('rule IPv4 bits') };
    case 'MATCH_IPV6_SOURCE':
    case 'MATCH_IPV6_DEST':
      return { ...f, kind, ip: v.bytes(16, 'rule IPv6').slice(), bits: v.u8('rule IPv6 bits') };
    case 'MATCH_IP_TOS':
      return { ...f, kind, mask: v.u8('rule TOS mask'), start: v.u8('rule TOS start'), end: v.u8('rule TOS end') };
    case 'MATCH_IP_PROTOCOL':
      return { ...f, kind, protocol: v.u8('rule IP protocol') };
    case 'MATCH_ETHERTYPE':
      return { ...f, kind, etherType: v.u16('rule ethertype') };
    case 'MATCH_ICMP':
      return { ...f, kind, icmpType: v.u8('rule ICMP type'), icmpCode: v.u8('rule ICMP code'), flags: v.u8('rule ICMP flags') };
    case 'MATCH_IP_SOURCE_PORT_RANGE':
    case 'MATCH_IP_DEST_PORT_RANGE':
    case 'MATCH_FRAME_SIZE_RANGE':
      return { ...f, kind, start: v.u16('rule range start'), end: v.u16('rule range end') };
    case 'MATCH_CHARACTERISTICS':
      return { ...f, kind, mask: v.u64('rule characteristics') };
    case 'MATCH_RANDOM':
      return { ...f, kind, probability: v.u32('rule probability') };
    case 'MATCH_TAGS_DIFFERENCE':
    case 'MATCH_TAGS_BITWISE_AND':
    case 'MATCH_TAGS_BITWISE_OR':
    case 'MATCH_TAGS_BITWISE_XOR':
    case 'MATCH_TAGS_EQUAL':
    case 'MATCH_TAG_SENDER':
    case 'MATCH_TAG_RECEIVER':
      return { ...f, kind, tagId: v.u32('rule tag id'), tagValue: v.u32('rule tag value') };
    case 'MATCH_INTEGER_RANGE':
      return { ...f, kind, start: v.u64('rule integer start'), end: v.u64('rule integer end'), offset: v.u16('rule integer offset'), format: v.u8('rule integer format') };
  }
}

/**
 * Writes rules in 1.14's serialization (known types with their standard length, unknown ones with their value).
 * @throws {ZtError} BAD_VALUE for out-of-range fields; TOO_LONG for an UNKNOWN value over 255 bytes.
 */
export function writeRules(w: ByteWriter, rules: readonly Rule[]): void {
  for (const rule of rules) writeRule(w, rule);
}

export function encodeRules(rules: readonly Rule[]): Uint8Array {
  const w = new ByteWriter(rules.length * 8 + 8);
  writeRules(w, rules);
  return w.finish();
}

function writeRule(w: ByteWriter, rule: Rule): void {
  const type = ruleType(rule);
  checkInt(type, 0x3f, 'rule type');
  w.u8(type | (rule.not ? RULE_FLAG_NOT : 0) | (rule.or ? RULE_FLAG_OR : 0));
  if (rule.kind === 'UNKNOWN') {
    if (KIND_BY_TYPE.has(type)) throw new ZtError(ZtErrorCode.BAD_VALUE, `rule UNKNOWN: type ${type} is ${KIND_BY_TYPE.get(type)}, not unknown`);
    if (rule.value.length > 0xff) throw new ZtError(ZtErrorCode.TOO_LONG, `rule type ${type}: value of ${rule.value.length} bytes, at most 255`);
    w.u8(rule.value.length).bytes(rule.value);
    return;
  }
  w.u8(VALUE_LENGTH[rule.kind]);
  const what = `rule ${rule.kind}`;
  switch (rule.kind) {
    case 'ACTION_DROP':
    case 'ACTION_ACCEPT':
    case 'ACTION_BREAK':
    case 'ACTION_PRIORITY':
      return;
    case 'ACTION_TEE':
    case 'ACTION_WATCH':
    case 'ACTION_REDIRECT':
      checkInt(rule.address, 0xffffffffff, `${what} address`);
      checkInt(rule.flags, 0xffffffff, `${what} flags`);
      checkInt(rule.length, 0xffff, `${what} length`);
      w.u64(BigInt(rule.address)).u32(rule.flags).u16(rule.length);
      return;
    case 'MATCH_SOURCE_ZEROTIER_ADDRESS':
    case 'MATCH_DEST_ZEROTIER_ADDRESS':
      checkInt(rule.address, 0xffffffffff, what);
      w.u40(rule.address);
      return;
    case 'MATCH_VLAN_ID':
      checkInt(rule.vlanId, 0xffff, what);
      w.u16(rule.vlanId);
      return;
    case 'MATCH_VLAN_PCP':
    case 'MATCH_VLAN_DEI':
      checkInt(rule.value, 0xff, what);
      w.u8(rule.value);
      return;
    case 'MATCH_MAC_SOURCE':
    case 'MATCH_MAC_DEST':
      writeMac(w, rule.mac, what);
      return;
    case 'MATCH_IPV4_SOURCE':
    case 'MATCH_IPV4_DEST':
    case 'MATCH_IPV6_SOURCE':
    case 'MATCH_IPV6_DEST': {
      const n = rule.kind.startsWith('MATCH_IPV4') ? 4 : 16;
      if (!(rule.ip instanceof Uint8Array) || rule.ip.length !== n) throw new ZtError(ZtErrorCode.BAD_VALUE, `${what}: ip must be ${n} bytes`);
      checkInt(rule.bits, 0xff, `${what} bits`);
      w.bytes(rule.ip).u8(rule.bits);
      return;
    }
    case 'MATCH_IP_TOS':
      for (const x of [rule.mask, rule.start, rule.end]) checkInt(x, 0xff, what);
      w.u8(rule.mask).u8(rule.start).u8(rule.end);
      return;
    case 'MATCH_IP_PROTOCOL':
      checkInt(rule.protocol, 0xff, what);
      w.u8(rule.protocol);
      return;
    case 'MATCH_ETHERTYPE':
      checkInt(rule.etherType, 0xffff, what);
      w.u16(rule.etherType);
      return;
    case 'MATCH_ICMP':
      for (const x of [rule.icmpType, rule.icmpCode, rule.flags]) checkInt(x, 0xff, what);
      w.u8(rule.icmpType).u8(rule.icmpCode).u8(rule.flags);
      return;
    case 'MATCH_IP_SOURCE_PORT_RANGE':
    case 'MATCH_IP_DEST_PORT_RANGE':
    case 'MATCH_FRAME_SIZE_RANGE':
      checkInt(rule.start, 0xffff, what);
      checkInt(rule.end, 0xffff, what);
      w.u16(rule.start).u16(rule.end);
      return;
    case 'MATCH_CHARACTERISTICS':
      checkUint(rule.mask, 64, what);
      w.u64(rule.mask);
      return;
    case 'MATCH_RANDOM':
      checkInt(rule.probability, 0xffffffff, what);
      w.u32(rule.probability);
      return;
    case 'MATCH_TAGS_DIFFERENCE':
    case 'MATCH_TAGS_BITWISE_AND':
    case 'MATCH_TAGS_BITWISE_OR':
    case 'MATCH_TAGS_BITWISE_XOR':
    case 'MATCH_TAGS_EQUAL':
    case 'MATCH_TAG_SENDER':
    case 'MATCH_TAG_RECEIVER':
      checkInt(rule.tagId, 0xffffffff, what);
      checkInt(rule.tagValue, 0xffffffff, what);
      w.u32(rule.tagId).u32(rule.tagValue);
      return;
    case 'MATCH_INTEGER_RANGE':
      checkUint(rule.start, 64, what);
      checkUint(rule.end, 64, what);
      checkInt(rule.offset, 0xffff, what);
      checkInt(rule.format, 0xff, what);
      w.u64(rule.start).u64(rule.end).u16(rule.offset).u8(rule.format);
      return;
  }
}

type RuleOf<K> = Rule extends infer R ? (R extends { kind: infer RK } ? (K extends RK ? R : never) : never) : never;
type DistributiveOmit<T, Keys extends PropertyKey> = T extends unknown ? Omit<T, Keys> : never;

/**
 * Builds a rule (NOT/OR off unless given): `rule('ACTION_ACCEPT')`, `rule('MATCH_ETHERTYPE', { etherType: 0x0800 })`,
 * `rule('MATCH_ETHERTYPE', { etherType: 0x86dd, not: true })`.
 */
export function rule<K extends RuleKind>(kind: K, fields?: DistributiveOmit<RuleOf<K>, 'kind' | 'not' | 'or'> & Partial<RuleFlags>): Rule {
  return { not: false, or: false, ...(fields ?? {}), kind } as Rule;
}
