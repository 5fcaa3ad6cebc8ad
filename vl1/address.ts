/**
 * ZeroTier addresses (40 bits) and network IDs (64 bits): text forms and the few facts derived from
 * them (shared/protocol/vl1.md §1; `node/Address.hpp`, `node/Network.hpp`, `node/Network.cpp`).
 *
 * An address is a plain JS number (exact: 40 bits < 2^53) so that peer tables can key on it without
 * allocating; a network ID needs all 64 bits and is a `bigint`.
 */
import { ADDRESS_RESERVED_PREFIX } from './constants.js';
import { ZtError, ZtErrorCode } from './errors.js';

/** Largest 40-bit value. */
export const MAX_ADDRESS = 0xffffffffff;

const ADDRESS_RE = /^[0-9a-fA-F]{10}$/;
const NETWORK_ID_RE = /^[0-9a-fA-F]{16}$/;

/** Text shown in an error message: bounded, so a megabyte of garbage does not become a megabyte of log. */
function shown(s: string): string {
  return s.length > 40 ? `${s.slice(0, 40)}…` : s;
}

/** True when `a` is an integer in 0 … 2^40−1. */
export function isAddressValue(a: number): boolean {
  return Number.isInteger(a) && a >= 0 && a <= MAX_ADDRESS;
}

/**
 * 10 lowercase hex digits, as `Address::toString` prints them.
 * @throws {ZtError} BAD_VALUE when `a` is not a 40-bit unsigned integer.
 */
export function formatAddress(a: number): string {
  if (!isAddressValue(a)) throw new ZtError(ZtErrorCode.BAD_VALUE, `address: ${String(a)} is not a 40-bit unsigned integer`);
  return a.toString(16).padStart(10, '0');
}

/**
 * Parses exactly 10 hex digits (either case). Reserved addresses parse: WHOIS for an ad-hoc
 * network's pseudo-controller (`ff0000ffff`) is real traffic; callers that need a usable address
 * check {@link isReservedAddress}.
 * @throws {ZtError} BAD_FORMAT naming the offending text.
 */
export function parseAddress(s: string): number {
  if (typeof s !== 'string' || !ADDRESS_RE.test(s)) {
    throw new ZtError(ZtErrorCode.BAD_FORMAT, `address: expected 10 hex digits, got "${shown(String(s))}"`);
  }
  return parseInt(s, 16);
}

/**
 * `Address::isReserved`: 0, or first byte 0xff — byte 13 = 0xff marks a fragment (`node/Packet.hpp`
 * `ZT_PACKET_FRAGMENT_INDICATOR`), so no real node may have a source address starting with it.
 */
export function isReservedAddress(a: number): boolean {
  return a === 0 || Math.floor(a / 0x100000000) === ADDRESS_RESERVED_PREFIX;
}

/**
 * 16 lowercase hex digits.
 * @throws {ZtError} BAD_VALUE when `n` is not a 64-bit unsigned integer.
 */
export function formatNetworkId(n: bigint): string {
  if (typeof n !== 'bigint' || n < 0n || n > 0xffffffffffffffffn) {
    throw new ZtError(ZtErrorCode.BAD_VALUE, `network id: ${String(n)} is not a 64-bit unsigned integer`);
  }
  return n.toString(16).padStart(16, '0');
}

/**
 * Parses exactly 16 hex digits (either case).
 * @throws {ZtError} BAD_FORMAT naming the offending text.
 */
export function parseNetworkId(s: string): bigint {
  if (typeof s !== 'string' || !NETWORK_ID_RE.test(s)) {
    throw new ZtError(ZtErrorCode.BAD_FORMAT, `network id: expected 16 hex digits, got "${shown(String(s))}"`);
  }
  return BigInt(`0x${s}`);
}

/** The controller's address: the top 40 bits of the network ID (`Network::controller()`). */
export function networkController(n: bigint): number {
  return Number((n >> 24n) & 0xffffffffffn);
}

/**
 * Ad-hoc network ID `ff | startPort[2] | endPort[2] | 000000` (`Network::requestConfiguration()` in
 * `node/Network.cpp` recognises this shape and builds the config locally, no controller).
 * @throws {ZtError} BAD_VALUE when a port is not in 0 … 65535.
 */
export function adhocNetworkId(startPort: number, endPort: number): bigint {
  for (const [what, p] of [['start port', startPort], ['end port', endPort]] as const) {
    if (!Number.isInteger(p) || p < 0 || p > 0xffff) {
      throw new ZtError(ZtErrorCode.BAD_VALUE, `ad-hoc network id: ${what} ${String(p)} is not in 0..65535`);
    }
  }
  return (0xffn << 56n) | (BigInt(startPort) << 40n) | (BigInt(endPort) << 24n);
}

