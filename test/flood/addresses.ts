/**
 * Addresses of the flood scenarios, inside a namespace where `ip route add local 198.18.0.0/15 dev lo` and
 * `ip -6 route add local 2001:db8:f000::/36 dev lo` make every address of those ranges local (so one process
 * can send from 200 /24s, or from every /64 of a /48). 198.18.0.0/15 is the benchmarking range (RFC 2544),
 * 2001:db8::/32 documentation space: neither leaves the namespace.
 *
 * The flood takes 198.18.0.0/16 (IPv4 /24s 198.18.1–254.0) and 2001:db8:f001::–f0ff:: (IPv6 /48s); the root,
 * the known pair and the newcomer sit in prefixes the flood never uses (198.19.x, 2001:db8:fffX::).
 */
export interface FamilyAddresses {
  root: string;
  pairA: string;
  pairB: string;
  newcomer: string;
  whoisFlooder: string;
}

export const FLOOD_ADDRESSES: Record<4 | 6, FamilyAddresses> = {
  4: { root: '198.19.0.1', pairA: '198.19.250.1', pairB: '198.19.251.1', newcomer: '198.19.252.1', whoisFlooder: '198.19.100.1' },
  6: { root: '2001:db8:f000::1', pairA: '2001:db8:fff1::1', pairB: '2001:db8:fff2::1', newcomer: '2001:db8:fff3::1', whoisFlooder: '2001:db8:fff4::1' },
};

/**
 * Flood source addresses: `prefixes` IPv4 /24s with `perPrefix` hosts each, or `prefixes` IPv6 /48s with one
 * address in each of `perPrefix` /64s (what one /48 gives an attacker: 65,536 /64s).
 */
export function floodSources(family: 4 | 6, prefixes: number, perPrefix: number): string[] {
  if (prefixes < 1 || prefixes > 254 || perPrefix < 1 || perPrefix > 254) throw new Error(`floodSources: 1..254 prefixes and per prefix, got ${prefixes}, ${perPrefix}`);
  const out: string[] = [];
  for (let p = 0; p < prefixes; p++) {
    for (let h = 0; h < perPrefix; h++) {
      out.push(family === 4 ? `198.18.${p + 1}.${h + 1}` : `2001:db8:f${(p + 1).toString(16).padStart(3, '0')}:${(h + 1).toString(16)}::1`);
    }
  }
  return out;
}
