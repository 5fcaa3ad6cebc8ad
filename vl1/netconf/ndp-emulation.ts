/**
 * IPv6 NDP emulation (node/Switch.cpp `onLocalEthernet`; shared/protocol/vl2.md §5.8), done by the SENDER when the
 * config has flag ENABLE_IPV6_NDP_EMULATION (0x04): an outgoing neighbour solicitation for an address inside one of
 * our ZeroTier-derived prefixes names its owner's ZeroTier address, so 1.14 answers it locally with a forged
 * neighbour advertisement (written to our own TAP) instead of multicasting it.
 *
 *   NS recognised: multicast (not broadcast) destination, ethertype 0x86dd, payload ≥ 64, next header 58 at [6],
 *                  ICMPv6 type 135 at [40]; target = payload[48..64]
 *   prefixes:      our static IPv6 with /88, fd…, bytes 9..10 = 99 93 (RFC 4193): target bytes 0..10 equal
 *                      → address = target bytes 11..15
 *                  our static IPv6 with /40, fc + nwid32 (6PLANE): target bytes 0..4 equal → address = bytes 5..9
 *   NA (72 bytes): 60000000 0020 3a ff | src = target | dst = OUR matching address (not the NS source)
 *                  | 88 00 checksum | 60000000 (solicited + override) | target | 02 01 MAC(address)
 *   written as Ethernet src = MAC(address, nwid), dst = the NS's source MAC.
 */
import { parseIp } from '../inet-address.js';
import { macFromAddress } from '../mac-ip.js';
import type { IpPrefix } from './config-blobs.js';
import { BROADCAST_MAC, ETHERTYPE_IPV6 } from './constants.js';
import { buildEthernetFrame, isMulticastMac } from './ethernet.js';

export const NEIGHBOR_ADVERTISEMENT_LENGTH = 72;

export interface NdpEmulationInput {
  networkId: bigint;
  /** Our ZeroTier address. */
  self: number;
  /** The config's static IPs (in config order, as 1.14 scans them). */
  staticIps: readonly IpPrefix[];
  /** The outgoing frame as read from the TAP. */
  dest: bigint;
  source: bigint;
  etherType: number;
  payload: Uint8Array;
}

export interface NdpEmulationReply {
  /** The ZeroTier address the solicited IPv6 belongs to. */
  target: number;
  /** The advertisement alone (72 bytes). */
  advertisement: Uint8Array;
  /** The Ethernet frame to write to our TAP (14 + 72 bytes). */
  frame: Uint8Array;
}

/**
 * The forged advertisement 1.14 would answer this outgoing frame with, or null when the frame is not a neighbour
 * solicitation for another member's ZeroTier-derived address (then it goes out as ordinary multicast).
 * The caller checks the config's NDP-emulation flag.
 */
export function ndpEmulationReply(x: NdpEmulationInput): NdpEmulationReply | null {
  const p = x.payload;
  if (!isMulticastMac(x.dest) || x.dest === BROADCAST_MAC || x.etherType !== ETHERTYPE_IPV6) return null;
  if (p.length < 64 || p[6] !== 0x3a || p[40] !== 0x87) return null;
  const target = p.subarray(48, 64);
  const nwid32 = Number((x.networkId ^ (x.networkId >> 32n)) & 0xffffffffn);
  for (const sip of x.staticIps) {
    if (sip.family !== 6) continue;
    const my6 = parseIp(sip.ip);
    if (my6 === null || my6.length !== 16) continue;
    let at = -1;
    if (sip.bits === 88 && my6[0] === 0xfd && my6[9] === 0x99 && my6[10] === 0x93) {
      if (prefixEqual(target, my6, 11)) at = 11;
    } else if (sip.bits === 40 && my6[0] === 0xfc && my6[1] === nwid32 >>> 24 && my6[2] === ((nwid32 >>> 16) & 0xff) && my6[3] === ((nwid32 >>> 8) & 0xff) && my6[4] === (nwid32 & 0xff)) {
      if (prefixEqual(target, my6, 5)) at = 5;
    } else continue;
    if (at < 0) continue;
    const address = target[at]! * 2 ** 32 + ((target[at + 1]! << 24) >>> 0) + (target[at + 2]! << 16) + (target[at + 3]! << 8) + target[at + 4]!;
    if (address === 0 || address === x.self) return null;
    const advertisement = neighborAdvertisement(target, my6, macFromAddress(address, x.networkId));
    const frame = buildEthernetFrame({ dest: x.source, source: macFromAddress(address, x.networkId), etherType: ETHERTYPE_IPV6, payload: advertisement });
    return { target: address, advertisement, frame };
  }
  return null;
}

function prefixEqual(a: Uint8Array, b: Uint8Array, n: number): boolean {
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** The 72-byte IPv6 + ICMPv6 neighbour advertisement (solicited, override) for `target` owned by `mac`, sent to `dst`. */
export function neighborAdvertisement(target: Uint8Array, dst: Uint8Array, mac: bigint): Uint8Array {
  const a = new Uint8Array(NEIGHBOR_ADVERTISEMENT_LENGTH);
  a.set([0x60, 0, 0, 0, 0x00, 0x20, 0x3a, 0xff]);
  a.set(target, 8);
  a.set(dst, 24);
  a[40] = 0x88; // ICMPv6 neighbour advertisement, code 0, checksum at 42..43
  a.set([0x60, 0, 0, 0], 44);
  a.set(target, 48);
  a[64] = 0x02; // option: target link-layer address, length 1 (8 bytes)
  a[65] = 0x01;
  for (let i = 0; i < 6; i++) a[66 + i] = Number((mac >> BigInt(40 - 8 * i)) & 0xffn);
  const sum = icmpv6Checksum(a.subarray(8, 24), a.subarray(24, 40), a.subarray(40));
  a[42] = sum >> 8;
  a[43] = sum & 0xff;
  return a;
}

/** RFC 4443 §2.3: ones' complement sum over the IPv6 pseudo-header (src, dst, length, next header 58) and the message. */
export function icmpv6Checksum(src: Uint8Array, dst: Uint8Array, msg: Uint8Array): number {
  let s = 0;
  const add = (b: Uint8Array): void => {
    for (let i = 0; i < b.length; i += 2) s += (b[i]! << 8) | (b[i + 1] ?? 0);
  };
  add(src);
  add(dst);
  s += (msg.length >>> 16) + (msg.length & 0xffff) + 58;
  add(msg);
  while (s > 0xffff) s = (s & 0xffff) + Math.floor(s / 0x10000);
  return ~s & 0xffff;
}
