/**
 * Ethernet frames as a TAP device reads and writes them (IFF_TAP | IFF_NO_PI: no packet-info header, no FCS;
 * shared/protocol/vl2.md §7.4) and the multicast groups 1.14 maps them to (node/MulticastGroup.hpp,
 * node/Switch.cpp `onLocalEthernet`; vl2.md §5.5–5.6).
 *
 *   dest MAC[6] | source MAC[6] | etherType u16 | payload
 *
 * A multicast group is (MAC, ADI u32). ARP requests travel to (ff:ff:ff:ff:ff:ff, ADI = the target IPv4); IPv6
 * neighbour discovery to the solicited-node group (33:33:ff + last 3 bytes, ADI 0).
 */
import { ByteReader, packetBytes, readU32 } from '../bytes.js';
import { ZtError, ZtErrorCode } from '../errors.js';
import { parseIp } from '../inet-address.js';
import { macToBytes } from '../mac-ip.js';
import { BROADCAST_MAC, ETHERTYPE_ARP } from './constants.js';
import { readMac } from '../verbs/common.js';

export const ETHERNET_HEADER_LENGTH = 14;

export interface EthernetFrame {
  dest: bigint;
  source: bigint;
  etherType: number;
  /** View into the frame. */
  payload: Uint8Array;
}

export interface MulticastGroup {
  mac: bigint;
  adi: number;
}

/** (ff:ff:ff:ff:ff:ff, 0): plain broadcast, subscribed when the network enables broadcast. */
export const BROADCAST_GROUP: Readonly<MulticastGroup> = { mac: BROADCAST_MAC, adi: 0 };

/** Splits a frame read from the TAP. @throws {ZtError} TRUNCATED below 14 bytes. */
export function parseEthernetFrame(frame: Uint8Array): EthernetFrame {
  const r = new ByteReader(frame);
  return { dest: readMac(r, 'Ethernet destination'), source: readMac(r, 'Ethernet source'), etherType: r.u16('Ethernet type'), payload: r.rest() };
}

/** A frame to write to the TAP. */
export function buildEthernetFrame(f: EthernetFrame): Uint8Array {
  const out = packetBytes(ETHERNET_HEADER_LENGTH + f.payload.length);
  writeEthernetFrame(out, f.dest, f.source, f.etherType, f.payload);
  return out;
}

/**
 * {@link buildEthernetFrame} into `out` (a scratch buffer reused per frame); returns the frame's length.
 * @throws {ZtError} TOO_LONG when `out` cannot hold it
 */
export function writeEthernetFrame(out: Uint8Array, dest: bigint, source: bigint, etherType: number, payload: Uint8Array): number {
  const n = ETHERNET_HEADER_LENGTH + payload.length;
  if (n > out.length) throw new ZtError(ZtErrorCode.TOO_LONG, `Ethernet frame of ${n} bytes exceeds the ${out.length}-byte buffer`);
  writeMac48(out, 0, dest);
  writeMac48(out, 6, source);
  out[12] = (etherType >> 8) & 0xff;
  out[13] = etherType & 0xff;
  out.set(payload, ETHERNET_HEADER_LENGTH);
  return n;
}

/** A 48-bit MAC, big-endian, at `out[o..o+6)`, without the intermediate array of `macToBytes`. */
function writeMac48(out: Uint8Array, o: number, mac: bigint): void {
  const hi = Number(mac >> 24n) & 0xffffff;
  const lo = Number(mac & 0xffffffn);
  out[o] = hi >>> 16;
  out[o + 1] = (hi >>> 8) & 0xff;
  out[o + 2] = hi & 0xff;
  out[o + 3] = lo >>> 16;
  out[o + 4] = (lo >>> 8) & 0xff;
  out[o + 5] = lo & 0xff;
}

/** Group bit (first octet & 1). */
export function isMulticastMac(mac: bigint): boolean {
  return ((mac >> 40n) & 1n) === 1n;
}

/**
 * `MulticastGroup::deriveMulticastGroupForAddressResolution`: for an IPv4 address (ff:ff:ff:ff:ff:ff, ADI = the
 * address); for an IPv6 address its solicited-node group (33:33:ff:xx:xx:xx, ADI 0). Accepts 4/16 bytes or text.
 * @throws {ZtError} BAD_VALUE for anything else.
 */
export function addressResolutionGroup(ip: Uint8Array | string): MulticastGroup {
  const b = typeof ip === 'string' ? (ip.length <= 64 ? parseIp(ip) : null) : ip;
  if (b !== null && b.length === 4) return { mac: BROADCAST_MAC, adi: readU32(b, 0) };
  if (b !== null && b.length === 16) return { mac: (0x3333ffn << 24n) | (BigInt(b[13]!) << 16n) | (BigInt(b[14]!) << 8n) | BigInt(b[15]!), adi: 0 };
  throw new ZtError(ZtErrorCode.BAD_VALUE, `address resolution group: "${typeof ip === 'string' ? ip.slice(0, 64) : `${ip.length} bytes`}" is not an IPv4 or IPv6 address`);
}

/**
 * The target IPv4 (as u32) of an IPv4 ARP request, as `Switch::onLocalEthernet` recognises one (payload ≥ 28,
 * protocol type 0x0800, hardware length 6, protocol length 4, low byte of the opcode 1); null for anything else.
 */
export function arpRequestTarget(etherType: number, payload: Uint8Array): number | null {
  if (etherType !== ETHERTYPE_ARP || payload.length < 28) return null;
  if (payload[2] !== 0x08 || payload[3] !== 0x00 || payload[4] !== 6 || payload[5] !== 4 || payload[7] !== 0x01) return null;
  return readU32(payload, 24);
}

/**
 * The group an outgoing multicast/broadcast frame goes to (vl2.md §5.5 step 2.1): an ARP request's group; other
 * broadcasts to (ff:ff:ff:ff:ff:ff, 0) only if the network enables broadcast (else null: drop); other multicast to
 * (dest, 0). Call only for a multicast destination (and after NDP emulation, see ndp-emulation.ts).
 */
export function outgoingMulticastGroup(dest: bigint, etherType: number, payload: Uint8Array, broadcastEnabled: boolean): MulticastGroup | null {
  if (dest !== BROADCAST_MAC) return { mac: dest, adi: 0 };
  const target = arpRequestTarget(etherType, payload);
  if (target !== null) return { mac: BROADCAST_MAC, adi: target };
  return broadcastEnabled ? { mac: BROADCAST_MAC, adi: 0 } : null;
}
