/**
 * Addresses a ZeroTier node derives from (address, network id): its virtual Ethernet MAC
 * (`MAC::fromAddress` / `MAC::toAddress`, `node/MAC.hpp`) and its managed IPv6 addresses
 * (`InetAddress::makeIpv66plane` / `makeIpv6rfc4193`, `node/InetAddress.cpp`). Layouts are those described
 * in shared/vectors/README.md (macs-and-ips.json) and checked against every entry there.
 *
 * MACs are 48-bit bigints (like network ids), most significant octet first.
 */
import { ZtError, ZtErrorCode } from './errors.js';
import { formatIpv6 } from './inet-address.js';

/** Prefix lengths the two schemes use (6PLANE /40, RFC 4193 /88). */
export const IPV6_6PLANE_PREFIX_BITS = 40;
export const IPV6_RFC4193_PREFIX_BITS = 88;

const MAC_MASK = 0xffffffffffffn;

function checkAddress(address: number): void {
  if (!Number.isInteger(address) || address < 0 || address > 0xffffffffff) {
    throw new ZtError(ZtErrorCode.BAD_VALUE, `address ${address} is not a 40-bit integer`);
  }
}

function checkNwid(nwid: bigint): void {
  if (typeof nwid !== 'bigint' || nwid < 0n || nwid > 0xffffffffffffffffn) {
    throw new ZtError(ZtErrorCode.BAD_VALUE, `network id ${String(nwid)} is not a 64-bit unsigned integer`);
  }
}

/** The first MAC octet for a network: low byte of nwid, multicast bit cleared, locally-administered bit set. */
function firstOctet(nwid: bigint): number {
  const b = (Number(nwid & 0xfen) | 0x02) & 0xff;
  // 0x52 is avoided because it is the prefix KVM/QEMU use for their NICs (`MAC::fromAddress`).
  return b === 0x52 ? 0x32 : b;
}

/** The XOR mask over octets 1..5: nwid bytes 1..5 counted from the least significant (nwid>>8 .. nwid>>40). */
function xorMask(nwid: bigint): number {
  // octet 1 ^= nwid>>8, octet 2 ^= nwid>>16, ..., octet 5 ^= nwid>>40 — so octet k (1..5) gets byte k.
  let m = 0;
  for (let k = 1; k <= 5; k++) m = m * 256 + Number((nwid >> BigInt(8 * k)) & 0xffn);
  return m;
}

/**
 * A member's MAC on a network (`MAC::fromAddress`).
 * @throws {ZtError} BAD_VALUE for an out-of-range address or network id.
 */
export function macFromAddress(address: number, nwid: bigint): bigint {
  checkAddress(address);
  checkNwid(nwid);
  // XOR of two 40-bit values: split to stay inside 32-bit bitwise ops.
  const m = xorMask(nwid);
  const hi = (Math.floor(address / 2 ** 32) ^ Math.floor(m / 2 ** 32)) & 0xff;
  const lo = ((address >>> 0) ^ (m >>> 0)) >>> 0;
  return (BigInt(firstOctet(nwid)) << 40n) | (BigInt(hi) << 32n) | BigInt(lo);
}

/**
 * The ZeroTier address behind a MAC on a network (`MAC::toAddress`).
 * @throws {ZtError} BAD_VALUE for an out-of-range MAC or network id.
 */
export function macToAddress(mac: bigint, nwid: bigint): number {
  if (typeof mac !== 'bigint' || mac < 0n || mac > MAC_MASK) {
    throw new ZtError(ZtErrorCode.BAD_VALUE, `MAC ${String(mac)} is not a 48-bit unsigned integer`);
  }
  checkNwid(nwid);
  const low40 = Number(mac & 0xffffffffffn);
  const m = xorMask(nwid);
  const hi = (Math.floor(low40 / 2 ** 32) ^ Math.floor(m / 2 ** 32)) & 0xff;
  const lo = ((low40 >>> 0) ^ (m >>> 0)) >>> 0;
  return hi * 2 ** 32 + lo;
}

/** "02:f3:8b:75:4a:76" — lowercase, colon-separated. */
export function formatMac(mac: bigint): string {
  const h = (mac & MAC_MASK).toString(16).padStart(12, '0');
  return h.match(/../g)!.join(':');
}

/**
 * Parses "02:f3:8b:75:4a:76" (also with '-' separators, or 12 bare hex digits; one separator style), any case.
 * @throws {ZtError} BAD_FORMAT naming the input.
 */
export function parseMac(s: string): bigint {
  if (typeof s !== 'string' || s.length > 17 || !/^[0-9a-fA-F]{2}([:-]?)[0-9a-fA-F]{2}(?:\1[0-9a-fA-F]{2}){4}$/.test(s)) {
    const shown = typeof s === 'string' ? s.slice(0, 24) : typeof s;
    throw new ZtError(ZtErrorCode.BAD_FORMAT, `MAC "${shown}": expected six hex octets like 02:f3:8b:75:4a:76`);
  }
  return BigInt(`0x${s.replace(/[:-]/g, '')}`);
}

/** MAC as 6 bytes (wire order). */
export function macToBytes(mac: bigint): Uint8Array {
  const b = new Uint8Array(6);
  for (let i = 5; i >= 0; i--) {
    b[i] = Number(mac & 0xffn);
    mac >>= 8n;
  }
  return b;
}

function writeAddress(b: Uint8Array, o: number, address: number): void {
  b[o] = Math.floor(address / 2 ** 32) & 0xff;
  b[o + 1] = (address >>> 24) & 0xff;
  b[o + 2] = (address >>> 16) & 0xff;
  b[o + 3] = (address >>> 8) & 0xff;
  b[o + 4] = address & 0xff;
}

/**
 * 6PLANE address (`InetAddress::makeIpv66plane`, prefix /40):
 * `fc | (nwid ^ nwid>>32) low 32 bits | address[5] | 00 00 00 00 00 01`.
 * @throws {ZtError} BAD_VALUE for an out-of-range address or network id.
 */
export function ipv6SixPlaneBytes(nwid: bigint, address: number): Uint8Array {
  checkAddress(address);
  checkNwid(nwid);
  const b = new Uint8Array(16);
  const n = Number((nwid ^ (nwid >> 32n)) & 0xffffffffn);
  b[0] = 0xfc;
  b[1] = n >>> 24;
  b[2] = (n >>> 16) & 0xff;
  b[3] = (n >>> 8) & 0xff;
  b[4] = n & 0xff;
  writeAddress(b, 5, address);
  b[15] = 0x01;
  return b;
}

/** 6PLANE address as RFC 5952 text. @throws {ZtError} BAD_VALUE */
export function ipv6SixPlane(nwid: bigint, address: number): string {
  return formatIpv6(ipv6SixPlaneBytes(nwid, address));
}

/**
 * RFC 4193 address (`InetAddress::makeIpv6rfc4193`, prefix /88): `fd | nwid[8] | 99 93 | address[5]`.
 * @throws {ZtError} BAD_VALUE for an out-of-range address or network id.
 */
export function ipv6Rfc4193Bytes(nwid: bigint, address: number): Uint8Array {
  checkAddress(address);
  checkNwid(nwid);
  const b = new Uint8Array(16);
  b[0] = 0xfd;
  for (let i = 0; i < 8; i++) b[1 + i] = Number((nwid >> BigInt(56 - 8 * i)) & 0xffn);
  b[9] = 0x99;
  b[10] = 0x93;
  writeAddress(b, 11, address);
  return b;
}

/** RFC 4193 address as RFC 5952 text. @throws {ZtError} BAD_VALUE */
export function ipv6Rfc4193(nwid: bigint, address: number): string {
  return formatIpv6(ipv6Rfc4193Bytes(nwid, address));
}
