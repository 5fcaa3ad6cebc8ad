/**
 * Which physical addresses a leaf may use as paths to its peers (vl1.md §7.3, 1.14's
 * `Node::shouldUsePathForZeroTierTraffic`): never loopback, link-local or multicast, and never an address inside
 * one of our own ZeroTier networks — ZeroTier tunnelled through itself would keep working only until the
 * tunnel it rides on goes, and then take both down.
 */
import { inetAddressToBytes, parseIp, type InetAddress } from '../vl1/inet-address.js';
import { ipScope, scopeCarriesTraffic } from '../vl1/ip-scope.js';

/** An IP prefix as bytes. */
export interface BytePrefix {
  bytes: Uint8Array;
  bits: number;
}

/** "ip/bits" → a prefix, or null when it is not one. */
export function parsePrefix(text: string): BytePrefix | null {
  const slash = text.lastIndexOf('/');
  const ip = parseIp(slash < 0 ? text : text.slice(0, slash));
  if (ip === null) return null;
  const bits = slash < 0 ? ip.length * 8 : Number(text.slice(slash + 1));
  if (!Number.isInteger(bits) || bits < 0 || bits > ip.length * 8) return null;
  return { bytes: ip, bits };
}

/** True when `ip` (4 or 16 bytes) lies in `p`. A /0 contains nothing here: a default route is not "our network". */
export function prefixContains(p: BytePrefix, ip: Uint8Array): boolean {
  if (p.bytes.length !== ip.length || p.bits === 0) return false;
  const whole = p.bits >> 3;
  for (let i = 0; i < whole; i++) if (p.bytes[i] !== ip[i]) return false;
  const rest = p.bits & 7;
  if (rest === 0) return true;
  const mask = (0xff << (8 - rest)) & 0xff;
  return (p.bytes[whole]! & mask) === (ip[whole]! & mask);
}

/** True when `a` may carry ZeroTier traffic, given the prefixes (addresses and routes) of our networks. */
export function pathAllowed(a: InetAddress, ownNetworks: readonly BytePrefix[]): boolean {
  const ip = inetAddressToBytes(a);
  if (!scopeCarriesTraffic(ipScope(ip))) return false;
  for (const p of ownNetworks) if (prefixContains(p, ip)) return false;
  return true;
}
