/**
 * This host's addresses a peer could reach the leaf at (the local half of PUSH_DIRECT_PATHS, leaf/direct-paths.ts):
 * every interface address whose scope may carry ZeroTier traffic, except on interfaces 1.14 never uses — loopback,
 * and its own and other tunnels' devices (`lo*`, `zt*`, `tun*`, `tap*`, vl1.md §7.3) — and those local.conf's
 * `interfacePrefixBlacklist` names. With local.conf `bind`, only those addresses.
 */
import { networkInterfaces } from 'node:os';
import { parseIp, type InetAddress } from '../vl1/inet-address.js';
import { ipScope, scopeCarriesTraffic } from '../vl1/ip-scope.js';

const NEVER = ['lo', 'zt', 'tun', 'tap'];

/** The addresses, with port 0 (the caller adds its ports). */
export function localInterfaceAddresses(blacklist: readonly string[] = [], bind: readonly string[] = []): Array<Omit<InetAddress, 'port'>> {
  const out: Array<Omit<InetAddress, 'port'>> = [];
  const skip = [...NEVER, ...blacklist];
  for (const [name, addrs] of Object.entries(networkInterfaces())) {
    if (skip.some((p) => name.startsWith(p))) continue;
    for (const a of addrs ?? []) {
      if (a.internal) continue;
      const bytes = parseIp(a.address);
      if (bytes === null || !scopeCarriesTraffic(ipScope(bytes))) continue;
      if (bind.length > 0 && !bind.includes(a.address)) continue;
      out.push({ family: a.family === 'IPv6' ? 6 : 4, ip: a.address });
    }
  }
  return out;
}
