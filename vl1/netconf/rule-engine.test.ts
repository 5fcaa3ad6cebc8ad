/**
 * The rules engine against crafted frames, one group per match type, plus the ad-hoc table's semantics and every
 * FRAME of the session capture (which real 1.14.1 nodes accepted) going through its network's rules.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { fromHex } from '../bytes.js';
import { macFromAddress } from '../mac-ip.js';
import { readVectorJson } from '../../test/vectors.js';
import { adhocRules, synthesizeAdhocConfig } from './adhoc.js';
import { ETHERTYPE_ARP, ETHERTYPE_IPV4, ETHERTYPE_IPV6, NetworkConfigFlag } from './constants.js';
import { evaluateRules, filterIncoming, filterOutgoing, ipv6Payload, type FilterFrame, type RuleContext, type TableResult } from './rule-engine.js';
import { Characteristic, decodeRules, encodeRules, rule, type Rule } from './rules.js';
import { cooThing, type CertificateOfOwnership } from './certificate-of-ownership.js';
import { ownsByCoos } from './rule-engine.js';

// ---- frame builders ------------------------------------------------------------------------------------------
const ME = 0x0c4d01372d;
const PEER = 0x89e92ceee5;
const OTHER = 0x1122334455;
const NWID = 0x8056c2e21c000001n;
const ip4 = (s: string): number[] => s.split('.').map(Number);
const V6A = [...fromHex('fd8056c2e21c00000199930c4d01372d')];
const V6B = [...fromHex('fd8056c2e21c000001999389e92ceee5')];

function tcp(sport: number, dport: number, flags: number): number[] {
  return [sport >> 8, sport & 255, dport >> 8, dport & 255, 0, 0, 0, 1, 0, 0, 0, 0, 0x50 | ((flags >> 8) & 0x0f), flags & 0xff, 0xff, 0xff, 0, 0, 0, 0];
}
const udp = (sport: number, dport: number): number[] => [sport >> 8, sport & 255, dport >> 8, dport & 255, 0, 8, 0, 0];
const icmp = (type: number, code: number): number[] => [type, code, 0, 0, 0, 0, 0, 0];

function ipv4(proto: number, l4: number[], o: { src?: string; dst?: string; tos?: number; options?: number } = {}): Uint8Array {
  const ihl = 5 + (o.options ?? 0);
  const h = [0x40 | ihl, o.tos ?? 0, 0, 0, 0, 0, 0, 0, 64, proto, 0, 0, ...ip4(o.src ?? '10.147.17.5'), ...ip4(o.dst ?? '10.147.17.6'), ...new Array<number>((ihl - 5) * 4).fill(1)];
  return new Uint8Array([...h, ...l4]);
}

function ipv6(next: number, l4: number[], o: { src?: number[]; dst?: number[]; tc?: number; ext?: Array<[number, number]> } = {}): Uint8Array {
  // ext: [header type, length in 8-byte units beyond the first 8]
  const exts = o.ext ?? [];
  const chain = [...exts.map((e) => e[0]), next];
  const tc = o.tc ?? 0;
  const h = [0x60 | (tc >> 4), (tc & 0x0f) << 4, 0, 0, 0, 0, chain[0]!, 64, ...(o.src ?? V6A), ...(o.dst ?? V6B)];
  const extBytes: number[] = [];
  exts.forEach((e, i) => extBytes.push(chain[i + 1]!, e[1], ...new Array<number>(6 + 8 * e[1]).fill(0)));
  return new Uint8Array([...h, ...extBytes, ...l4]);
}

function arp(op: number, sender: string, target: string): Uint8Array {
  return new Uint8Array([0, 1, 8, 0, 6, 4, 0, op, 2, 0, 0, 0, 0, 1, ...ip4(sender), 0, 0, 0, 0, 0, 0, ...ip4(target)]);
}

function frame(etherType: number, payload: Uint8Array, o: Partial<FilterFrame> = {}): FilterFrame {
  return { inbound: false, ztSource: ME, ztDest: PEER, macSource: macFromAddress(ME, NWID), macDest: macFromAddress(PEER, NWID), etherType, payload, ...o };
}

const ctx: RuleContext = { self: ME, networkFlags: 0 };
const table = (m: Rule): Rule[] => [m, rule('ACTION_ACCEPT'), rule('ACTION_DROP')];
/** ACCEPT or DROP for a [match, ACCEPT, DROP] table, and the same with the match's NOT bit set. */
function both(m: Rule, f: FilterFrame, c: RuleContext = ctx): [TableResult, TableResult] {
  return [evaluateRules(table(m), f, c).result, evaluateRules(table({ ...m, not: !m.not }), f, c).result];
}
const YES: [TableResult, TableResult] = ['ACCEPT', 'DROP'];
const NO: [TableResult, TableResult] = ['DROP', 'ACCEPT'];
/** Does not apply to the frame: false whatever the NOT bit. */
const NEVER: [TableResult, TableResult] = ['DROP', 'DROP'];

// ---- the ad-hoc table ----------------------------------------------------------------------------------------

test('ad-hoc table semantics (ports 8000..8010): SYN outside the range dropped, UDP anywhere and replies accepted, non-IPv6 dropped', () => {
  const rules = adhocRules(8000, 8010);
  const out = (p: Uint8Array, et = ETHERTYPE_IPV6): string => filterOutgoing(rules, [], frame(et, p), ctx).accept.toString();
  const inn = (p: Uint8Array, et = ETHERTYPE_IPV6): string => filterIncoming(rules, [], frame(et, p, { ztSource: PEER, ztDest: ME }), ctx).accept.toString();
  for (const dir of [out, inn]) {
    assert.equal(dir(ipv6(6, tcp(40000, 8005, 0x002))), '1', 'SYN into the range');
    assert.equal(dir(ipv6(6, tcp(40000, 22, 0x002))), '0', 'SYN to port 22');
    assert.equal(dir(ipv6(6, tcp(22, 40000, 0x012))), '1', 'SYN+ACK from anywhere');
    assert.equal(dir(ipv6(6, tcp(40000, 22, 0x010))), '1', 'ACK (not a connection opener)');
    assert.equal(dir(ipv6(6, tcp(40000, 22, 0x004))), '1', 'RST');
    assert.equal(dir(ipv6(17, udp(5353, 53))), '1', 'UDP to any port');
    assert.equal(dir(ipv6(58, icmp(128, 0))), '1', 'ICMPv6');
    assert.equal(dir(ipv6(6, tcp(40000, 22, 0x002), { ext: [[0, 0], [60, 1]] })), '0', 'SYN behind hop-by-hop + destination options');
    assert.equal(dir(ipv6(6, tcp(40000, 8010, 0x002), { ext: [[0, 0]] })), '1', 'SYN into the range behind an extension header');
    assert.equal(dir(ipv4(6, tcp(1, 8005, 0x002)), ETHERTYPE_IPV4), '0', 'IPv4');
    assert.equal(dir(arp(1, '10.0.0.1', '10.0.0.2'), ETHERTYPE_ARP), '0', 'ARP');
  }
  // Form A for ff00160016000000 gives this table for 0x16..0x16
  const o = synthesizeAdhocConfig(0xff00160016000000n, ME, 1);
  assert.ok(o.kind === 'config');
  assert.deepEqual(o.config.rules, adhocRules(0x16, 0x16));
});

test('session capture: every FRAME real 1.14.1 nodes exchanged passes its network\'s rules both ways', () => {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const j: any = readVectorJson('session', 'decoded.json');
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const frames = j.packets.filter((p: any) => p.kind === 'packet' && p.verb === 6);
  assert.ok(frames.length > 100);
  const accept = [rule('ACTION_ACCEPT')];
  for (const p of frames) {
    const nwid = BigInt(`0x${p.fields.network_id}`);
    const src = parseInt(p.source, 16);
    const dst = parseInt(p.dest, 16);
    const rules = nwid >> 56n === 0xffn ? (synthesizeAdhocConfig(nwid, dst, 0) as { config: { rules: Rule[] } }).config.rules : accept;
    const f = frame(parseInt(p.fields.ethertype, 16), fromHex(p.fields.frame_hex), { ztSource: src, ztDest: dst, macSource: macFromAddress(src, nwid), macDest: macFromAddress(dst, nwid) });
    assert.equal(filterOutgoing(rules, [], f, { self: src, networkFlags: 0 }).accept, 1, `frame ${p.frame} out`);
    assert.equal(filterIncoming(rules, [], f, { self: dst, networkFlags: 0 }).accept, 1, `frame ${p.frame} in`);
  }
});

// ---- one match type at a time ----------------------------------------------------------------------------------

test('ZeroTier addresses, MACs, ethertype, VLAN', () => {
  const f = frame(ETHERTYPE_IPV4, ipv4(17, udp(1, 2)));
  assert.deepEqual(both(rule('MATCH_SOURCE_ZEROTIER_ADDRESS', { address: ME }), f), YES);
  assert.deepEqual(both(rule('MATCH_SOURCE_ZEROTIER_ADDRESS', { address: PEER }), f), NO);
  assert.deepEqual(both(rule('MATCH_DEST_ZEROTIER_ADDRESS', { address: PEER }), f), YES);
  assert.deepEqual(both(rule('MATCH_DEST_ZEROTIER_ADDRESS', { address: PEER }), { ...f, ztDest: 0 }), NO, 'multicast: no destination');
  assert.deepEqual(both(rule('MATCH_MAC_SOURCE', { mac: macFromAddress(ME, NWID) }), f), YES);
  assert.deepEqual(both(rule('MATCH_MAC_DEST', { mac: macFromAddress(ME, NWID) }), f), NO);
  assert.deepEqual(both(rule('MATCH_ETHERTYPE', { etherType: 0x0800 }), f), YES);
  assert.deepEqual(both(rule('MATCH_ETHERTYPE', { etherType: 0x86dd }), f), NO);
  assert.deepEqual(both(rule('MATCH_VLAN_ID', { vlanId: 0 }), f), YES);
  assert.deepEqual(both(rule('MATCH_VLAN_ID', { vlanId: 5 }), f), NO);
  assert.deepEqual(both(rule('MATCH_VLAN_PCP', { value: 0 }), f), YES, 'unsupported: matches iff 0');
  assert.deepEqual(both(rule('MATCH_VLAN_DEI', { value: 1 }), f), NO);
});

test('IPv4/IPv6 source and destination prefixes (1.14\'s IPv6 quirk: host bits in the rule never match)', () => {
  const f4 = frame(ETHERTYPE_IPV4, ipv4(17, udp(1, 2), { src: '10.147.17.5', dst: '192.168.1.9' }));
  assert.deepEqual(both(rule('MATCH_IPV4_SOURCE', { ip: new Uint8Array(ip4('10.147.17.0')), bits: 24 }), f4), YES);
  assert.deepEqual(both(rule('MATCH_IPV4_SOURCE', { ip: new Uint8Array(ip4('10.147.18.0')), bits: 24 }), f4), NO);
  assert.deepEqual(both(rule('MATCH_IPV4_SOURCE', { ip: new Uint8Array(ip4('10.147.17.99')), bits: 24 }), f4), YES, 'IPv4 shifts both sides');
  assert.deepEqual(both(rule('MATCH_IPV4_DEST', { ip: new Uint8Array(ip4('192.168.1.9')), bits: 32 }), f4), YES);
  assert.deepEqual(both(rule('MATCH_IPV4_DEST', { ip: new Uint8Array(ip4('1.2.3.4')), bits: 0 }), f4), YES, '/0 matches all');
  assert.deepEqual(both(rule('MATCH_IPV4_DEST', { ip: new Uint8Array(4), bits: 8 }), frame(ETHERTYPE_IPV6, ipv6(17, udp(1, 2)))), NEVER, 'IPv4 rule on IPv6');
  assert.deepEqual(both(rule('MATCH_IPV4_DEST', { ip: new Uint8Array(4), bits: 8 }), frame(ETHERTYPE_IPV4, new Uint8Array(19))), NEVER, 'short IPv4');
  const f6 = frame(ETHERTYPE_IPV6, ipv6(17, udp(1, 2)));
  const pre = (b: number[], n: number): Uint8Array => new Uint8Array(b.map((x, i) => (i * 8 + 8 <= n ? x : i * 8 >= n ? 0 : x & ((0xff << (8 - (n - i * 8))) & 0xff))));
  assert.deepEqual(both(rule('MATCH_IPV6_SOURCE', { ip: pre(V6A, 88), bits: 88 }), f6), YES);
  assert.deepEqual(both(rule('MATCH_IPV6_SOURCE', { ip: pre(V6A, 85), bits: 85 }), f6), YES);
  assert.deepEqual(both(rule('MATCH_IPV6_SOURCE', { ip: new Uint8Array(V6A), bits: 88 }), f6), NO, 'host bits set in the rule');
  assert.deepEqual(both(rule('MATCH_IPV6_DEST', { ip: new Uint8Array(V6B), bits: 128 }), f6), YES);
  assert.deepEqual(both(rule('MATCH_IPV6_DEST', { ip: new Uint8Array(V6A), bits: 128 }), f6), NO);
  assert.deepEqual(both(rule('MATCH_IPV6_DEST', { ip: new Uint8Array(16), bits: 0 }), f6), YES);
  assert.deepEqual(both(rule('MATCH_IPV6_DEST', { ip: new Uint8Array(16), bits: 0 }), f4), NEVER);
});

test('IP TOS, protocol (through IPv6 extension headers), ICMP type and code', () => {
  const f4 = frame(ETHERTYPE_IPV4, ipv4(1, icmp(8, 0), { tos: 0xb8 }));
  assert.deepEqual(both(rule('MATCH_IP_TOS', { mask: 0xfc, start: 0xb8, end: 0xb8 }), f4), YES);
  assert.deepEqual(both(rule('MATCH_IP_TOS', { mask: 0xfc, start: 0, end: 0xb7 }), f4), NO);
  const f6 = frame(ETHERTYPE_IPV6, ipv6(58, icmp(128, 0), { tc: 0xb8, ext: [[43, 0]] }));
  assert.deepEqual(both(rule('MATCH_IP_TOS', { mask: 0xff, start: 0xb8, end: 0xb8 }), f6), YES);
  assert.deepEqual(both(rule('MATCH_IP_TOS', { mask: 0xff, start: 0, end: 0xff }), frame(ETHERTYPE_ARP, arp(1, '1.1.1.1', '2.2.2.2'))), NEVER);
  assert.deepEqual(both(rule('MATCH_IP_PROTOCOL', { protocol: 1 }), f4), YES);
  assert.deepEqual(both(rule('MATCH_IP_PROTOCOL', { protocol: 58 }), f6), YES, 'after a routing header');
  assert.deepEqual(both(rule('MATCH_IP_PROTOCOL', { protocol: 43 }), f6), NO);
  assert.deepEqual(both(rule('MATCH_IP_PROTOCOL', { protocol: 58 }), frame(ETHERTYPE_IPV6, ipv6(58, [], { ext: [[0, 4]] }).subarray(0, 60))), NEVER, 'extension header past the end');
  // a type-only match is a "hard yes" in 1.14: true whatever the NOT bit
  assert.deepEqual(both(rule('MATCH_ICMP', { icmpType: 8, icmpCode: 9, flags: 0 }), f4), ['ACCEPT', 'ACCEPT'], 'type only');
  assert.deepEqual(both(rule('MATCH_ICMP', { icmpType: 8, icmpCode: 0, flags: 1 }), f4), YES);
  assert.deepEqual(both(rule('MATCH_ICMP', { icmpType: 8, icmpCode: 1, flags: 1 }), f4), NO, 'code checked');
  assert.deepEqual(both(rule('MATCH_ICMP', { icmpType: 0, icmpCode: 0, flags: 0 }), f4), NEVER, 'another type');
  assert.deepEqual(both(rule('MATCH_ICMP', { icmpType: 128, icmpCode: 0, flags: 1 }), f6), YES, 'ICMPv6 after an extension header');
  assert.deepEqual(both(rule('MATCH_ICMP', { icmpType: 8, icmpCode: 0, flags: 0 }), frame(ETHERTYPE_IPV4, ipv4(17, udp(1, 2)))), NEVER, 'not ICMP');
});

test('port ranges: TCP/UDP/SCTP/UDPLite on IPv4 (IHL honoured) and IPv6; non-port protocols are a plain no-match', () => {
  const t4 = frame(ETHERTYPE_IPV4, ipv4(6, tcp(1234, 80, 0x002), { options: 2 }));
  assert.deepEqual(both(rule('MATCH_IP_DEST_PORT_RANGE', { start: 80, end: 80 }), t4), YES);
  assert.deepEqual(both(rule('MATCH_IP_SOURCE_PORT_RANGE', { start: 1, end: 1023 }), t4), NO);
  assert.deepEqual(both(rule('MATCH_IP_SOURCE_PORT_RANGE', { start: 1234, end: 1234 }), frame(ETHERTYPE_IPV4, ipv4(132, udp(1234, 9)))), YES, 'SCTP');
  assert.deepEqual(both(rule('MATCH_IP_DEST_PORT_RANGE', { start: 0, end: 10 }), frame(ETHERTYPE_IPV4, ipv4(17, udp(5, 0)))), YES, 'IPv4 port 0');
  assert.deepEqual(both(rule('MATCH_IP_DEST_PORT_RANGE', { start: 0, end: 10 }), frame(ETHERTYPE_IPV6, ipv6(17, udp(5, 0)))), NO, 'IPv6 port 0 never matches (sic)');
  assert.deepEqual(both(rule('MATCH_IP_DEST_PORT_RANGE', { start: 53, end: 53 }), frame(ETHERTYPE_IPV6, ipv6(136, udp(5, 53), { ext: [[60, 0]] }))), YES, 'UDPLite');
  assert.deepEqual(both(rule('MATCH_IP_DEST_PORT_RANGE', { start: 0, end: 65535 }), frame(ETHERTYPE_IPV4, ipv4(1, icmp(8, 0)))), NO, 'ICMP: plain no-match, NOT makes it true');
  assert.deepEqual(both(rule('MATCH_IP_DEST_PORT_RANGE', { start: 0, end: 65535 }), frame(ETHERTYPE_ARP, arp(1, '1.1.1.1', '2.2.2.2'))), NEVER);
  assert.deepEqual(both(rule('MATCH_IP_DEST_PORT_RANGE', { start: 0, end: 65535 }), frame(ETHERTYPE_IPV4, ipv4(6, [0, 1, 0, 2]))), NO, 'too short for ports');
});

test('characteristics: direction, multicast/broadcast, TCP flags, sender ownership (COO) and NS leniency — any bit matches', () => {
  const syn = frame(ETHERTYPE_IPV4, ipv4(6, tcp(1, 2, 0x002)));
  const c = (mask: bigint): Rule => rule('MATCH_CHARACTERISTICS', { mask });
  assert.deepEqual(both(c(Characteristic.TCP_SYN), syn), YES);
  assert.deepEqual(both(c(Characteristic.TCP_ACK), syn), NO);
  assert.deepEqual(both(c(Characteristic.TCP_ACK | Characteristic.TCP_SYN), syn), YES, 'any bit');
  assert.deepEqual(both(c(Characteristic.TCP_NS), frame(ETHERTYPE_IPV6, ipv6(6, tcp(1, 2, 0x110)))), YES, 'NS flag from the data-offset byte');
  assert.deepEqual(both(c(Characteristic.INBOUND), syn), NO);
  assert.deepEqual(both(c(Characteristic.INBOUND), { ...syn, inbound: true }), YES);
  assert.deepEqual(both(c(Characteristic.MULTICAST), { ...syn, macDest: 0x333300000001n }), YES);
  assert.deepEqual(both(c(Characteristic.BROADCAST), { ...syn, macDest: 0xffffffffffffn }), YES);
  assert.deepEqual(both(c(Characteristic.BROADCAST), { ...syn, macDest: 0x333300000001n }), NO);
  const coo = { things: [cooThing(new Uint8Array(ip4('10.147.17.5'))), cooThing(macFromAddress(ME, NWID))] } as CertificateOfOwnership;
  const owned: RuleContext = { ...ctx, senderOwns: ownsByCoos([coo]) };
  assert.deepEqual(both(c(Characteristic.SENDER_IP_AUTHENTICATED), syn, owned), YES);
  assert.deepEqual(both(c(Characteristic.SENDER_IP_AUTHENTICATED), frame(ETHERTYPE_IPV4, ipv4(6, tcp(1, 2, 0), { src: '10.0.0.1' })), owned), NO);
  assert.deepEqual(both(c(Characteristic.SENDER_IP_AUTHENTICATED), frame(ETHERTYPE_ARP, arp(2, '10.147.17.5', '10.147.17.6')), owned), YES, 'ARP sender IP');
  assert.deepEqual(both(c(Characteristic.SENDER_MAC_AUTHENTICATED), syn, owned), YES);
  assert.deepEqual(both(c(Characteristic.SENDER_MAC_AUTHENTICATED), syn), NO, 'no COO callback');
  const ns = ipv6(58, [0x87, 0, 0, 0, 0, 0, 0, 0, ...V6B]);
  assert.deepEqual(both(c(Characteristic.SENDER_IP_AUTHENTICATED), frame(ETHERTYPE_IPV6, ns)), YES, 'a neighbour solicitation counts as authenticated');
});

test('frame size, random (injected), integer range (big- and little-endian, with 1.14\'s offset quirk)', () => {
  const f = frame(ETHERTYPE_IPV4, ipv4(17, udp(1, 2)));
  assert.deepEqual(both(rule('MATCH_FRAME_SIZE_RANGE', { start: 28, end: 28 }), f), YES);
  assert.deepEqual(both(rule('MATCH_FRAME_SIZE_RANGE', { start: 29, end: 1500 }), f), NO);
  assert.deepEqual(both(rule('MATCH_RANDOM', { probability: 100 }), f, { ...ctx, random: () => 100 }), YES);
  assert.deepEqual(both(rule('MATCH_RANDOM', { probability: 100 }), f, { ...ctx, random: () => 101 }), NO);
  const bytes = frame(ETHERTYPE_IPV4, new Uint8Array([0, 1, 2, 3, 4, 5, 6, 7, 0xab, 0xcd, 0, 0, 0, 0, 0, 0]));
  // 16 bits big-endian at "offset 2" are read at 2 + (8 − 2) = 8: 0xabcd
  assert.deepEqual(both(rule('MATCH_INTEGER_RANGE', { start: 0xabcdn, end: 0xabcdn, offset: 2, format: 15 }), bytes), YES);
  assert.deepEqual(both(rule('MATCH_INTEGER_RANGE', { start: 0x0203n, end: 0x0203n, offset: 2, format: 15 }), bytes), NO);
  // 16 bits little-endian at offset 8: 0xcdab
  assert.deepEqual(both(rule('MATCH_INTEGER_RANGE', { start: 0xcd00n, end: 0xcdffn, offset: 8, format: 0x80 | 15 }), bytes), YES);
  // 12 bits big-endian: masked to 0xbcd
  assert.deepEqual(both(rule('MATCH_INTEGER_RANGE', { start: 0xbcdn, end: 0xbcdn, offset: 2, format: 11 }), bytes), YES);
  // past the end: the integer is 0
  assert.deepEqual(both(rule('MATCH_INTEGER_RANGE', { start: 0n, end: 0n, offset: 100, format: 63 }), bytes), YES);
  // only (end − start) mod 2^32 counts; 8 bits big-endian at offset 0 are read at 7: the value 7
  assert.deepEqual(both(rule('MATCH_INTEGER_RANGE', { start: 7n, end: 0x1_0000_0007n, offset: 0, format: 7 }), bytes), YES, 'span 0: only start');
  assert.deepEqual(both(rule('MATCH_INTEGER_RANGE', { start: 0n, end: 0x1_0000_0000n, offset: 0, format: 7 }), bytes), NO, 'not 0..2^32');
});

test('tags: difference/and/or/xor/equal and sender/receiver, lenient outbound when the receiver\'s tag is unknown', () => {
  const f = frame(ETHERTYPE_IPV4, ipv4(17, udp(1, 2)));
  const inbound = { ...f, inbound: true, ztSource: PEER, ztDest: ME };
  const tags = (local: number | undefined, remote: number | undefined): RuleContext => ({ ...ctx, localTag: (id) => (id === 7 ? local : undefined), remoteTag: (id) => (id === 7 ? remote : undefined) });
  const t = (kind: 'MATCH_TAGS_DIFFERENCE' | 'MATCH_TAGS_BITWISE_AND' | 'MATCH_TAGS_BITWISE_OR' | 'MATCH_TAGS_BITWISE_XOR' | 'MATCH_TAGS_EQUAL' | 'MATCH_TAG_SENDER' | 'MATCH_TAG_RECEIVER', v: number): Rule => rule(kind, { tagId: 7, tagValue: v });
  assert.deepEqual(both(t('MATCH_TAGS_DIFFERENCE', 3), f, tags(10, 13)), YES);
  assert.deepEqual(both(t('MATCH_TAGS_DIFFERENCE', 2), f, tags(10, 13)), NO);
  assert.deepEqual(both(t('MATCH_TAGS_BITWISE_AND', 0x2), f, tags(0x6, 0x3)), YES);
  assert.deepEqual(both(t('MATCH_TAGS_BITWISE_OR', 0x7), f, tags(0x6, 0x3)), YES);
  assert.deepEqual(both(t('MATCH_TAGS_BITWISE_XOR', 0x5), f, tags(0x6, 0x3)), YES);
  assert.deepEqual(both(t('MATCH_TAGS_BITWISE_XOR', 0x6), f, tags(0x6, 0x3)), NO);
  assert.deepEqual(both(t('MATCH_TAGS_EQUAL', 5), f, tags(5, 5)), YES);
  assert.deepEqual(both(t('MATCH_TAGS_EQUAL', 5), f, tags(5, 6)), NO);
  assert.deepEqual(both(t('MATCH_TAGS_EQUAL', 5), f, tags(undefined, 5)), NEVER, 'we hold no such tag');
  assert.deepEqual(both(t('MATCH_TAGS_EQUAL', 5), inbound, tags(5, undefined)), NEVER, 'inbound, sender has no tag');
  // outbound with an unknown receiver tag: counts as a match and the next DROP is skipped
  const lenient = [t('MATCH_TAGS_EQUAL', 5), rule('ACTION_DROP'), rule('ACTION_ACCEPT')];
  assert.equal(evaluateRules(lenient, f, tags(5, undefined)).result, 'ACCEPT');
  assert.equal(evaluateRules(lenient, f, tags(5, 6)).result, 'ACCEPT', 'known and different: no match, DROP not reached, ACCEPT');
  assert.equal(evaluateRules([t('MATCH_TAGS_EQUAL', 5), rule('ACTION_DROP')], f, tags(5, 5)).result, 'DROP');
  // sender / receiver
  assert.deepEqual(both(t('MATCH_TAG_SENDER', 4), f, tags(4, 9)), YES, 'outbound: the sender is us');
  assert.deepEqual(both(t('MATCH_TAG_SENDER', 4), inbound, tags(9, 4)), YES, 'inbound: the sender is the peer');
  assert.deepEqual(both(t('MATCH_TAG_SENDER', 4), inbound, tags(4, undefined)), NEVER);
  assert.deepEqual(both(t('MATCH_TAG_RECEIVER', 4), f, tags(9, 4)), YES, 'outbound: the receiver is the peer');
  assert.deepEqual(both(t('MATCH_TAG_RECEIVER', 4), f, tags(9, undefined)), ['ACCEPT', 'ACCEPT'], 'outbound, receiver unknown: lenient (and skips the DROP)');
  assert.deepEqual(both(t('MATCH_TAG_RECEIVER', 4), inbound, tags(4, 9)), YES, 'inbound: the receiver is us');
});

test('actions: OR sets, BREAK, PRIORITY, unknown actions and matches (flag 0x08), TEE/WATCH/REDIRECT outcomes', () => {
  const f = frame(ETHERTYPE_IPV4, ipv4(17, udp(1, 2)));
  const e = (rules: Rule[], c = ctx, fr = f): string => evaluateRules(rules, fr, c).result;
  // (ethertype 0x86dd OR ip protocol 17) AND port 2
  const orSet = [rule('MATCH_ETHERTYPE', { etherType: 0x86dd }), rule('MATCH_IP_PROTOCOL', { protocol: 17, or: true }), rule('MATCH_IP_DEST_PORT_RANGE', { start: 2, end: 2 }), rule('ACTION_ACCEPT'), rule('ACTION_DROP')];
  assert.equal(e(orSet), 'ACCEPT');
  assert.equal(e(orSet.map((r, i) => (i === 2 ? rule('MATCH_IP_DEST_PORT_RANGE', { start: 3, end: 3 }) : r))), 'DROP');
  assert.equal(e([rule('ACTION_BREAK'), rule('ACTION_ACCEPT')]), 'NO_MATCH');
  assert.equal(e([rule('ACTION_PRIORITY'), rule('ACTION_DROP')]), 'ACCEPT');
  assert.equal(e([]), 'NO_MATCH');
  const unknownAction: Rule = { not: false, or: false, kind: 'UNKNOWN', type: 12, value: new Uint8Array(0) };
  assert.equal(e([unknownAction, rule('ACTION_DROP')]), 'DROP', 'unknown action: no-op');
  const unknownMatch: Rule = { not: false, or: false, kind: 'UNKNOWN', type: 60, value: new Uint8Array(2) };
  assert.equal(e([unknownMatch, rule('ACTION_ACCEPT'), rule('ACTION_DROP')]), 'DROP');
  assert.equal(e([unknownMatch, rule('ACTION_ACCEPT'), rule('ACTION_DROP')], { ...ctx, networkFlags: NetworkConfigFlag.RULES_RESULT_OF_UNSUPPORTED_MATCH }), 'ACCEPT');

  // TEE / WATCH: a copy (truncated to its length) with the accept; REDIRECT: sent elsewhere instead
  const tee = [rule('ACTION_TEE', { address: OTHER, flags: 0, length: 10 }), rule('ACTION_ACCEPT')];
  assert.deepEqual(filterOutgoing(tee, [], f, ctx), { accept: 1, copies: [{ to: OTHER, length: 10, flags: 0x02 }] });
  assert.deepEqual(filterOutgoing(tee, [], f, ctx, true), { accept: 1, copies: [] }, 'noTee');
  const watchIn = [rule('ACTION_WATCH', { address: OTHER, flags: 0, length: 0 }), rule('ACTION_ACCEPT')];
  assert.deepEqual(filterIncoming(watchIn, [], { ...f, ztSource: PEER, ztDest: ME }, ctx), { accept: 1, copies: [{ to: OTHER, length: 28, flags: 0x1c }] });
  assert.deepEqual(filterOutgoing([rule('ACTION_TEE', { address: OTHER, flags: 0, length: 0 }), rule('ACTION_DROP')], [], f, ctx), { accept: 0, copies: [] }, 'no copy when dropped');
  const redirect = [rule('ACTION_REDIRECT', { address: OTHER, flags: 0, length: 0 }), rule('ACTION_ACCEPT')];
  assert.deepEqual(filterOutgoing(redirect, [], f, ctx), { accept: 0, copies: [], redirect: { to: OTHER, flags: 0x04 } });
  assert.deepEqual(filterIncoming(redirect, [], { ...f, ztSource: PEER, ztDest: ME }, ctx), { accept: 0, copies: [], redirect: { to: OTHER, flags: 0x0a } });
  // targets that are the source or destination are no-ops
  assert.deepEqual(filterOutgoing([rule('ACTION_REDIRECT', { address: PEER, flags: 0, length: 0 }), rule('ACTION_ACCEPT')], [], f, ctx), { accept: 1, copies: [] });
  // we are the target: inbound super-accept (also for a TEE in a set that did not match, once an ACCEPT follows)
  const inbound = { ...f, inbound: true, ztSource: PEER, ztDest: ME };
  assert.deepEqual(filterIncoming([rule('ACTION_TEE', { address: ME, flags: 0, length: 0 }), rule('ACTION_DROP')], [], inbound, ctx), { accept: 2, copies: [] });
  const armed = [rule('MATCH_ETHERTYPE', { etherType: 0x86dd }), rule('ACTION_REDIRECT', { address: ME, flags: 0, length: 0 }), rule('ACTION_ACCEPT')];
  assert.equal(filterIncoming(armed, [], inbound, ctx).accept, 2);
  assert.equal(filterOutgoing(armed, [], f, ctx).accept, 1, 'outbound: plain accept');
});

test('capabilities are tried in order only when the table does not match; a DROP in one ends only that one', () => {
  const f = frame(ETHERTYPE_IPV4, ipv4(6, tcp(1, 22, 0x002)));
  const table = [rule('MATCH_IP_PROTOCOL', { protocol: 17 }), rule('ACTION_ACCEPT')]; // no match for TCP
  const dropper = [rule('MATCH_IP_PROTOCOL', { protocol: 6 }), rule('ACTION_DROP')];
  const ssh = [rule('MATCH_IP_DEST_PORT_RANGE', { start: 22, end: 22 }), rule('ACTION_TEE', { address: OTHER, flags: 0, length: 0 }), rule('ACTION_ACCEPT')];
  assert.deepEqual(filterOutgoing(table, [dropper, ssh], f, ctx), { accept: 1, copies: [{ to: OTHER, length: 40, flags: 0x02 }], capability: 1 });
  assert.deepEqual(filterIncoming(table, [ssh], { ...f, ztSource: PEER, ztDest: ME }, ctx), { accept: 1, copies: [{ to: OTHER, length: 40, flags: 0x08 }], capability: 0 });
  assert.deepEqual(filterOutgoing(table, [dropper], f, ctx), { accept: 0, copies: [] });
  assert.deepEqual(filterOutgoing([rule('ACTION_DROP')], [ssh], f, ctx), { accept: 0, copies: [] }, 'a table DROP is final');
  assert.deepEqual(filterOutgoing(table, [], f, ctx), { accept: 0, copies: [] }, 'no match and no capability: drop');
});

test('IPv6 payload walker: extension headers 0/43/60/135, stops on anything else, refuses overruns', () => {
  assert.deepEqual(ipv6Payload(ipv6(6, tcp(1, 2, 0), { ext: [[0, 0], [43, 1], [135, 0]] })), { pos: 40 + 8 + 16 + 8, proto: 6 });
  assert.deepEqual(ipv6Payload(ipv6(44, [])), { pos: 40, proto: 44 }, 'fragment header: not walked');
  assert.equal(ipv6Payload(new Uint8Array(39)), null);
  assert.equal(ipv6Payload(ipv6(6, [], { ext: [[0, 0]] }).subarray(0, 47)), null);
});

test('fuzz: random rule tables over random frames never throw and always give one of the five results', () => {
  const results = new Set(['NO_MATCH', 'DROP', 'REDIRECT', 'ACCEPT', 'SUPER_ACCEPT']);
  fc.assert(
    fc.property(
      fc.uint8Array({ maxLength: 120 }),
      fc.uint8Array({ maxLength: 120 }),
      fc.constantFrom(ETHERTYPE_IPV4, ETHERTYPE_IPV6, ETHERTYPE_ARP, 0x8100),
      fc.boolean(),
      fc.bigInt({ min: 0n, max: (1n << 48n) - 1n }),
      (blob, payload, etherType, inbound, macDest) => {
        let rules: Rule[];
        try {
          rules = decodeRules(blob, 1024);
        } catch {
          return;
        }
        const f = frame(etherType, payload, { inbound, macDest });
        const c: RuleContext = { ...ctx, localTag: (id) => (id % 2 ? id : undefined), remoteTag: (id) => (id % 3 ? id : undefined), senderOwns: () => true, random: () => 7 };
        assert.ok(results.has(evaluateRules(rules, f, c).result));
        const v = inbound ? filterIncoming(rules, [rules], f, c) : filterOutgoing(rules, [rules], f, c);
        assert.ok(v.accept === 0 || v.accept === 1 || v.accept === 2);
      },
    ),
    { numRuns: 1500, seed: 111 },
  );
  // the same with well-formed IPv4/IPv6 frames, so the L3/L4 matches are reached
  const ruleSeed = encodeRules([...adhocRules(10, 20), rule('MATCH_ICMP', { icmpType: 8, icmpCode: 0, flags: 1 }), rule('MATCH_INTEGER_RANGE', { start: 0n, end: 9n, offset: 3, format: 0x87 }), rule('ACTION_ACCEPT')]);
  fc.assert(
    fc.property(fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 6 }), fc.boolean(), fc.nat({ max: 60 }), (edits, v6, cut) => {
      const b = ruleSeed.slice();
      for (const [at, v] of edits.slice(0, 3)) b[at % b.length] = v;
      let rules: Rule[];
      try {
        rules = decodeRules(b, 1024);
      } catch {
        return;
      }
      const p = (v6 ? ipv6(6, tcp(1, 15, 0x002), { ext: [[0, 0]] }) : ipv4(6, tcp(1, 15, 0x002), { options: 1 })).slice();
      for (const [at, v] of edits.slice(3)) p[at % p.length] = v;
      const f = frame(v6 ? ETHERTYPE_IPV6 : ETHERTYPE_IPV4, p.subarray(0, Math.max(0, p.length - cut)));
      assert.ok(results.has(evaluateRules(rules, f, ctx).result));
    }),
    { numRuns: 1500, seed: 112 },
  );
});
