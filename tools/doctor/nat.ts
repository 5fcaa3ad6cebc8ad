/**
 * NAT behaviour from reflected addresses (pure). Every probe of one family goes out of ONE local socket, so
 * what the roots reflect is the mapping the NAT gave that socket towards each of them (RFC 4787 terms):
 * our own address everywhere is no NAT, one mapped address:port for every root is endpoint-independent
 * mapping, a different port per root is endpoint-dependent ("symmetric"), which defeats hole punching.
 */
import type { NatKind, NatReport } from './report.js';

export interface Reflection {
  /** The root that reflected it (its ZeroTier address): two endpoints of one root are one destination host. */
  root: string;
  ip: string;
  port: number;
}

/**
 * @param localPort the port the probing socket is bound to
 * @param localIps this host's own addresses (a reflection of one of them with `localPort` means no NAT)
 */
export function classifyNat(reflections: readonly Reflection[], localPort: number, localIps: ReadonlySet<string>): NatReport {
  const mapped = [...new Set(reflections.map((r) => `${r.ip}/${r.port}`))];
  const roots = new Set(reflections.map((r) => r.root)).size;
  let kind: NatKind;
  if (reflections.length === 0) kind = 'unknown';
  else if (reflections.every((r) => r.port === localPort && localIps.has(r.ip))) kind = 'none';
  else if (mapped.length > 1) kind = 'symmetric';
  else if (roots >= 2) kind = 'endpoint-independent';
  else kind = 'unknown'; // one destination cannot tell cone from symmetric
  return { kind, localPort, mapped, roots };
}
