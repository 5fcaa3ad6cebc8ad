/**
 * IP scopes, as ZeroTier 1.x decides which addresses may carry its traffic (vl1.md §7.3,
 * `Node::shouldUsePathForZeroTierTraffic`): private, shared and global scopes may; loopback and link-local
 * never do, nor multicast, nor IPv6 2001:470::/32 (which 1.14 refuses as a path). Pure: bytes in, a word out.
 *
 * Ranges (IANA special-purpose registries, RFC 6890):
 *   IPv4  0/8 none · 127/8 loopback · 169.254/16 link-local · 10/8, 172.16/12, 192.168/16 private ·
 *         100.64/10 shared (carrier-grade NAT) · 224/4 multicast · 240/4 reserved (255.255.255.255 too) ·
 *         everything else global — documentation and protocol ranges such as 192.0.0.0/24 and
 *         192.0.2.0/24 included, as ZeroTier counts them (the namespace tests rely on it)
 *   IPv6  :: none · ::1 loopback · fe80::/10 link-local · fc00::/7 (ULA) and fec0::/10 (old site-local)
 *         private · ff00::/8 multicast · ::ffff:a.b.c.d as its IPv4 · everything else global,
 *         2001:db8::/32 included
 *
 * ZeroTier also has a "pseudo-private" scope for a few IPv4 blocks that are public on paper but used
 * privately; it may carry traffic just like global, so this module does not tell them apart.
 */
import type { InetAddress } from './inet-address.js';
import { inetAddressToBytes } from './inet-address.js';

export type IpScope = 'none' | 'loopback' | 'link-local' | 'multicast' | 'reserved' | 'private' | 'shared' | 'global';

/** The scope of a 4- or 16-byte IP. */
export function ipScope(b: Uint8Array): IpScope {
  if (b.length === 16) {
    if (b.subarray(0, 10).every((x) => x === 0) && b[10] === 0xff && b[11] === 0xff) return ipScope(b.subarray(12));
    if (b.subarray(0, 15).every((x) => x === 0)) return b[15] === 0 ? 'none' : b[15] === 1 ? 'loopback' : 'reserved';
    if (b[0] === 0xff) return 'multicast';
    if (b[0] === 0xfe && (b[1]! & 0xc0) === 0x80) return 'link-local';
    if (b[0] === 0xfe && (b[1]! & 0xc0) === 0xc0) return 'private';
    if ((b[0]! & 0xfe) === 0xfc) return 'private';
    return 'global';
  }
  const [a, c] = [b[0]!, b[1]!];
  if (a === 0) return 'none';
  if (a === 127) return 'loopback';
  if (a === 169 && c === 254) return 'link-local';
  if (a === 10 || (a === 172 && (c & 0xf0) === 16) || (a === 192 && c === 168)) return 'private';
  if (a === 100 && (c & 0xc0) === 64) return 'shared';
  if (a >= 224 && a < 240) return 'multicast';
  if (a >= 240) return 'reserved';
  return 'global';
}

/** Whether ZeroTier 1.x would use a path at this scope at all. */
export function scopeCarriesTraffic(s: IpScope): boolean {
  return s === 'global' || s === 'private' || s === 'shared';
}

/**
 * Why `a` can never be a root's endpoint (clients ignore such paths), or null if it can. The one check every
 * planet maker uses: `mkplanet`'s spec, `ztroot start --endpoint`, and the addresses a first start detects.
 */
export function endpointProblem(a: InetAddress): string | null {
  const b = inetAddressToBytes(a);
  if (a.port === 0) return 'port 0 (give the port clients send to)';
  const scope = ipScope(b);
  switch (scope) {
    case 'none':
      return 'the unspecified address';
    case 'loopback':
      return 'a loopback address (clients never use loopback paths)';
    case 'link-local':
      return 'a link-local address (clients never use link-local paths)';
    case 'multicast':
      return 'a multicast address';
    case 'reserved':
      return 'a reserved address';
  }
  if (b.length === 16 && b[0] === 0x20 && b[1] === 0x01 && b[2] === 0x04 && b[3] === 0x70) return 'in 2001:470::/32, which 1.14 clients refuse as a path';
  return null;
}
