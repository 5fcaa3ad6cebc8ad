/**
 * Ethernet helpers, multicast groups (vl2.md A.4) and NDP emulation against the neighbour advertisement a real
 * 1.14.1 node wrote to its TAP (vl2.md §5.8).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { fromHex, toHex } from '../bytes.js';
import { isZtError } from '../errors.js';
import { ipv6Rfc4193, ipv6SixPlane, macFromAddress, parseMac } from '../mac-ip.js';
import { hexBytes, inlineAfter, smallVectors } from '../../test/vl2-sheet.js';
import { ETHERTYPE_ARP, ETHERTYPE_IPV6 } from './constants.js';
import { addressResolutionGroup, arpRequestTarget, buildEthernetFrame, outgoingMulticastGroup, parseEthernetFrame } from './ethernet.js';
import { icmpv6Checksum, ndpEmulationReply } from './ndp-emulation.js';
import { parseIp } from '../inet-address.js';

const cell = (s: string): string[] => [...s.matchAll(/`([^`]*)`/g)].map((m) => m[1]!);

test('A.4: ARP group for 10.147.17.5 and the solicited-node group of the RFC 4193 address', () => {
  const v = smallVectors();
  const arp = cell(v.get('ARP group for 10.147.17.5')!);
  assert.deepEqual(addressResolutionGroup('10.147.17.5'), { mac: parseMac(arp[0]!), adi: Number(arp[1]) });
  const ndp = v.get('NDP group for the rfc4193 address above')!;
  const rfc = cell(v.get('rfc4193(same)')!)[0]!.split('/')[0]!;
  const [mac] = cell(ndp);
  assert.deepEqual(addressResolutionGroup(rfc), { mac: parseMac(mac!), adi: 0 });
  assert.match(ndp, /ADI 0$/);
  assert.equal(rfc, ipv6Rfc4193(0x8056c2e21c000001n, 0x89e92ceee5));
  assert.deepEqual(addressResolutionGroup(new Uint8Array([10, 147, 17, 22])), { mac: 0xffffffffffffn, adi: 0x0a931116 });
  assert.throws(() => addressResolutionGroup('nope'), { code: 'ZT_ERR_BAD_VALUE' });
});

test('ARP requests become multicasts to (broadcast, ADI = target IP); other broadcasts need the broadcast flag', () => {
  const req = new Uint8Array([0, 1, 8, 0, 6, 4, 0, 1, 2, 0, 0, 0, 0, 1, 10, 147, 17, 5, 0, 0, 0, 0, 0, 0, 10, 147, 17, 6]);
  assert.equal(arpRequestTarget(ETHERTYPE_ARP, req), 0x0a931106);
  const reply = req.slice();
  reply[7] = 2;
  assert.equal(arpRequestTarget(ETHERTYPE_ARP, reply), null);
  assert.equal(arpRequestTarget(ETHERTYPE_ARP, req.subarray(0, 27)), null);
  assert.equal(arpRequestTarget(0x0800, req), null);
  const b = 0xffffffffffffn;
  assert.deepEqual(outgoingMulticastGroup(b, ETHERTYPE_ARP, req, false), { mac: b, adi: 0x0a931106 });
  assert.equal(outgoingMulticastGroup(b, ETHERTYPE_ARP, reply, false), null);
  assert.deepEqual(outgoingMulticastGroup(b, ETHERTYPE_ARP, reply, true), { mac: b, adi: 0 });
  assert.deepEqual(outgoingMulticastGroup(0x333300000001n, ETHERTYPE_IPV6, new Uint8Array(0), false), { mac: 0x333300000001n, adi: 0 });
  // the captured ARP request (session MULTICAST_FRAME) is one
  const captured = fromHex('000108000604000182f76f21cf18c61307e7000000000000c6130798');
  assert.equal(arpRequestTarget(ETHERTYPE_ARP, captured), 0xc6130798);
});

test('Ethernet frames split and rebuild; short ones are TRUNCATED', () => {
  const f = { dest: 0x02aabbccddeen, source: 0x020c4d17373bn, etherType: 0x86dd, payload: fromHex('6000') };
  const b = buildEthernetFrame(f);
  assert.equal(toHex(b), '02aabbccddee020c4d17373b86dd6000');
  assert.deepEqual(parseEthernetFrame(b), f);
  assert.throws(() => parseEthernetFrame(b.subarray(0, 13)), { code: 'ZT_ERR_TRUNCATED' });
});

// vl2.md §5.8: node 0c4d01372d on ff00160016000000 solicited fce9:16:aa:bbcc:ddee::2 and its TAP got this NA
const NWID = 0xff00160016000000n;
const SELF = 0x0c4d01372d;
const TARGET = 0xaabbccddee;

function solicitation(target: Uint8Array, src: Uint8Array): Uint8Array {
  const p = new Uint8Array(72);
  p.set([0x60, 0, 0, 0, 0, 32, 0x3a, 0xff]);
  p.set(src, 8);
  p.set([0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xff, target[13]!, target[14]!, target[15]!], 24);
  p[40] = 0x87;
  p.set(target, 48);
  p.set([1, 1, 2, 0x0c, 0x4d, 0x17, 0x37, 0x3b], 64);
  return p;
}

test('NDP emulation: a solicitation for another member\'s 6PLANE address yields the 72-byte advertisement 1.14.1 wrote', () => {
  const captured = hexBytes(inlineAfter('Captured on the wire of a real 1.14.1 TAP [run]:'));
  assert.equal(captured.length, 72);
  const mine = parseIp(ipv6SixPlane(NWID, SELF))!;
  const target = parseIp('fce9:16:aa:bbcc:ddee::2')!;
  const nsSourceMac = macFromAddress(SELF, NWID);
  const r = ndpEmulationReply({
    networkId: NWID,
    self: SELF,
    staticIps: [{ family: 6, ip: ipv6SixPlane(NWID, SELF), bits: 40 }],
    dest: 0x3333ffddee02n,
    source: nsSourceMac,
    etherType: ETHERTYPE_IPV6,
    payload: solicitation(target, mine),
  });
  assert.ok(r);
  assert.equal(r.target, TARGET);
  assert.equal(toHex(r.advertisement), toHex(captured));
  assert.equal(icmpv6Checksum(captured.subarray(8, 24), captured.subarray(24, 40), captured.subarray(40)), 0, 'the checksum checks');
  const eth = parseEthernetFrame(r.frame);
  assert.deepEqual({ ...eth, payload: toHex(eth.payload) }, { dest: nsSourceMac, source: macFromAddress(TARGET, NWID), etherType: ETHERTYPE_IPV6, payload: toHex(captured) });
});

test('NDP emulation: RFC 4193 /88 too; not for our own address, other prefixes, broadcast, or non-solicitations', () => {
  const nwid = 0x8056c2e21c000001n;
  const self = 0x89e92ceee5;
  const rfc = { family: 6 as const, ip: ipv6Rfc4193(nwid, self), bits: 88 };
  const base = { networkId: nwid, self, staticIps: [{ family: 4 as const, ip: '10.0.0.1', bits: 8 }, rfc], dest: 0x3333ff000000n, source: macFromAddress(self, nwid), etherType: ETHERTYPE_IPV6 };
  const tgt = (addr: number): Uint8Array => parseIp(ipv6Rfc4193(nwid, addr))!;
  const me = parseIp(rfc.ip)!;
  const r = ndpEmulationReply({ ...base, payload: solicitation(tgt(0x1122334455), me) });
  assert.ok(r);
  assert.equal(r.target, 0x1122334455);
  assert.equal(toHex(r.advertisement.subarray(24, 40)), toHex(me), 'to our matching address');
  assert.equal(icmpv6Checksum(r.advertisement.subarray(8, 24), r.advertisement.subarray(24, 40), r.advertisement.subarray(40)), 0);
  assert.equal(ndpEmulationReply({ ...base, payload: solicitation(tgt(self), me) }), null, 'our own address');
  assert.equal(ndpEmulationReply({ ...base, payload: solicitation(parseIp('fd00::1')!, me) }), null, 'another prefix');
  assert.equal(ndpEmulationReply({ ...base, dest: 0xffffffffffffn, payload: solicitation(tgt(1), me) }), null, 'broadcast');
  assert.equal(ndpEmulationReply({ ...base, dest: 0x02aabbccddeen, payload: solicitation(tgt(1), me) }), null, 'unicast');
  const na = solicitation(tgt(1), me);
  na[40] = 0x88;
  assert.equal(ndpEmulationReply({ ...base, payload: na }), null, 'an advertisement');
  assert.equal(ndpEmulationReply({ ...base, payload: solicitation(tgt(1), me).subarray(0, 63) }), null, 'short');
  assert.equal(ndpEmulationReply({ ...base, staticIps: [{ ...rfc, bits: 64 }], payload: solicitation(tgt(1), me) }), null, 'prefix length must be 88');
});

test('fuzz: NDP emulation and ARP detection never throw on random frames', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 100 }), fc.bigInt({ min: 0n, max: (1n << 48n) - 1n }), (payload, dest) => {
      try {
        ndpEmulationReply({ networkId: NWID, self: SELF, staticIps: [{ family: 6, ip: ipv6SixPlane(NWID, SELF), bits: 40 }], dest, source: 1n, etherType: ETHERTYPE_IPV6, payload });
        arpRequestTarget(ETHERTYPE_ARP, payload);
      } catch (e) {
        assert.ok(isZtError(e), String(e));
      }
    }),
    { numRuns: 500, seed: 101 },
  );
});
