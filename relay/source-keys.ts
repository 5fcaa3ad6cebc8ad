/**
 * What the TCP relay counts a connection's source as: a "host" for the per-IP limit and a "prefix" for the
 * per-prefix limit and for fairness when the relay is full.
 *
 *            host   prefix
 *   IPv4     /32    /24
 *   IPv6     /64    /48
 *
 * Why these: an IPv4 address is one host (or one NAT, hence the per-IP limit's headroom), and a /24 is the
 * smallest block routed on the Internet, so an attacker holding many addresses usually holds them as /24s.
 * An IPv6 /64 is one subnet — one host or one home — that hands its owner 2^64 source addresses: counting
 * it per address would let one machine count as 65 k hosts (or billions), so the per-IP limit counts the
 * /64. A /48 is what an ISP delegates to one site (RFC 6177) and the smallest block routed, the IPv6 peer of
 * an IPv4 /24; counting per /48 bounds a site, while an attacker with a whole /32 still meets the total
 * limit and the fairness rule (a quiet prefix gets in by evicting from the busiest one).
 * The root's gates count the same: the identity gates and the per-site budget the prefix, the per-host budget
 * before decryption the host (root/rate-gate.ts, root/source-budget.ts).
 */
import { formatIpv4, formatIpv6, parseIp } from '../vl1/inet-address.js';

/** Longest address text looked at (a full IPv6 address with embedded IPv4 and a zone id fits). */
const MAX_IP_TEXT = 100;

/**
 * The two keys of a source address: `host` ("a.b.c.d", or "x:x:x:x::/64"), `prefix` ("a.b.c.0/24", or
 * "x:x:x::/48"). IPv4-mapped IPv6 (`::ffff:a.b.c.d`, as dual-stack sockets report it) counts as IPv4; a zone id
 * is ignored. Null when `ip` is not an IP address.
 */
export function sourceKeys(ip: string): { host: string; prefix: string } | null {
  if (typeof ip !== 'string' || ip.length > MAX_IP_TEXT) return null;
  const pct = ip.indexOf('%');
  const b = parseIp(pct >= 0 ? ip.slice(0, pct) : ip);
  if (b === null) return null;
  const v4 = b.length === 4 ? b : isMappedV4(b) ? b.subarray(12) : null;
  if (v4 !== null) return { host: formatIpv4(v4), prefix: `${v4[0]}.${v4[1]}.${v4[2]}.0/24` };
  const p = new Uint8Array(16);
  p.set(b.subarray(0, 8));
  const host = `${formatIpv6(p)}/64`;
  p.fill(0, 6);
  return { host, prefix: `${formatIpv6(p)}/48` };
}

function isMappedV4(b: Uint8Array): boolean {
  for (let i = 0; i < 10; i++) if (b[i] !== 0) return false;
  return b[10] === 0xff && b[11] === 0xff;
}
