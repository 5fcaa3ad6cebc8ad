/**
 * What probes put on the probe network, and which network that is. Pure: bytes in, bytes or objects out.
 *
 * The probe network is an ad-hoc network (vl2.md §1.2 form A: `ff SSSS EEEE 000000`), so no controller is
 * needed: every node synthesizes its config from the id alone. The id is derived from the planet id and
 * nothing else, so every root of one planet picks the same network without any coordination and a planet
 * update (a new timestamp, new roots) keeps it:
 *
 *   h    = SHA-256("ztroot-probe-network" ‖ planet id as u64 big-endian)
 *   port = h[0..2] as u16 big-endian
 *   nwid = 0xff ‖ port ‖ port ‖ 000000            (start = end = port: the range is never empty)
 *
 * The ad-hoc rules accept UDP to any port, so probes are IPv6/UDP datagrams between the nodes' 6PLANE
 * addresses (the one static IP of an ad-hoc network), from and to `port`:
 *
 *   Ethernet  dst MAC (target's on the network) | src MAC (ours) | 0x86dd
 *   IPv6      40 bytes: version 6, payload length, next header 17 (UDP), hop limit 64, src/dst 6PLANE
 *   UDP       8 bytes: src port, dst port, length, checksum (computed: a TAP would check it)
 *   probe     "ZTPB" | kind u8 (1 request, 2 reply) | seq u32 | sent-at f64 (ms, the requester's clock)
 */
import { createHash } from 'node:crypto';
import { buildEthernetFrame, parseEthernetFrame } from '../../vl1/netconf/ethernet.js';
import { ipv6SixPlaneBytes, macFromAddress, macToAddress } from '../../vl1/mac-ip.js';

const MAGIC = [0x5a, 0x54, 0x50, 0x42]; // "ZTPB"
const ETHERTYPE_IPV6 = 0x86dd;
const IPV6_HEADER = 40;
const UDP_HEADER = 8;
const PROBE_BODY = 4 + 1 + 4 + 8;
const IP_PROTO_UDP = 17;

export const PROBE_REQUEST = 1;
export const PROBE_REPLY = 2;

export interface ProbeMessage {
  kind: typeof PROBE_REQUEST | typeof PROBE_REPLY;
  /** The ZeroTier address of the node that sent this frame. */
  from: number;
  seq: number;
  /** The requester's clock when it sent the request (echoed in the reply). */
  sentAt: number;
}

/** The probe network of the planet `planetId` (see the module comment). */
export function probeNetworkId(planetId: bigint): bigint {
  const id = new Uint8Array(8);
  new DataView(id.buffer).setBigUint64(0, BigInt.asUintN(64, planetId));
  const h = createHash('sha256').update('ztroot-probe-network').update(id).digest();
  const port = BigInt(h.readUInt16BE(0));
  return (0xffn << 56n) | (port << 40n) | (port << 24n);
}

/** The UDP port probes use on network `nwid` (its ad-hoc port). */
export function probePort(nwid: bigint): number {
  return Number((nwid >> 40n) & 0xffffn);
}

/** One probe frame from `from` to `to` on `nwid`. */
export function encodeProbeFrame(nwid: bigint, from: number, to: number, kind: ProbeMessage['kind'], seq: number, sentAt: number): Uint8Array {
  const port = probePort(nwid);
  const ip = new Uint8Array(IPV6_HEADER + UDP_HEADER + PROBE_BODY);
  const dv = new DataView(ip.buffer);
  dv.setUint32(0, 0x6000_0000);
  dv.setUint16(4, UDP_HEADER + PROBE_BODY);
  ip[6] = IP_PROTO_UDP;
  ip[7] = 64;
  ip.set(ipv6SixPlaneBytes(nwid, from), 8);
  ip.set(ipv6SixPlaneBytes(nwid, to), 24);
  dv.setUint16(40, port);
  dv.setUint16(42, port);
  dv.setUint16(44, UDP_HEADER + PROBE_BODY);
  ip.set(MAGIC, 48);
  ip[52] = kind;
  dv.setUint32(53, seq >>> 0);
  dv.setFloat64(57, sentAt);
  dv.setUint16(46, udpChecksum(ip));
  return buildEthernetFrame({ dest: macFromAddress(to, nwid), source: macFromAddress(from, nwid), etherType: ETHERTYPE_IPV6, payload: ip });
}

/** The probe in `frame`, or null for any frame that is not one (not IPv6/UDP to the probe port, bad magic, short). */
export function decodeProbeFrame(nwid: bigint, frame: Uint8Array): ProbeMessage | null {
  if (frame.length < 14 + IPV6_HEADER + UDP_HEADER + PROBE_BODY) return null;
  const { source, etherType, payload: ip } = parseEthernetFrame(frame);
  if (etherType !== ETHERTYPE_IPV6 || ip[6] !== IP_PROTO_UDP) return null;
  const dv = new DataView(ip.buffer, ip.byteOffset, ip.byteLength);
  if (dv.getUint16(42) !== probePort(nwid)) return null;
  for (let i = 0; i < 4; i++) if (ip[48 + i] !== MAGIC[i]) return null;
  const kind = ip[52];
  if (kind !== PROBE_REQUEST && kind !== PROBE_REPLY) return null;
  const sentAt = dv.getFloat64(57);
  if (!Number.isFinite(sentAt)) return null;
  return { kind, from: macToAddress(source, nwid), seq: dv.getUint32(53), sentAt };
}

/** RFC 8200 §8.1: the UDP checksum over the IPv6 pseudo-header and the datagram (checksum field zero). */
function udpChecksum(ip: Uint8Array): number {
  let sum = 0;
  const add16 = (hi: number, lo: number): void => {
    sum += (hi << 8) | lo;
  };
  for (let i = 8; i < 40; i += 2) add16(ip[i]!, ip[i + 1]!);
  const len = ip.length - IPV6_HEADER;
  sum += len + IP_PROTO_UDP;
  for (let i = IPV6_HEADER; i < ip.length; i += 2) add16(ip[i]!, i + 1 < ip.length ? ip[i + 1]! : 0);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  const c = ~sum & 0xffff;
  return c === 0 ? 0xffff : c;
}
