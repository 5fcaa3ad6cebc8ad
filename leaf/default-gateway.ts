/**
 * The host's IPv4 default gateway, which is where NAT-PMP requests go (RFC 6886 §3: the client sends to its
 * default gateway; there is no discovery). Read from Linux's `/proc/net/route`, as miniupnpc's `getgateway.c`
 * does; other systems report none, and the port mapper then uses UPnP alone.
 */
import { readFile } from 'node:fs/promises';
import { endianness } from 'node:os';

/** Where Linux lists the IPv4 routing table. */
export const PROC_NET_ROUTE = '/proc/net/route';

const RTF_UP = 0x1;
const RTF_GATEWAY = 0x2;

/**
 * The gateway of the lowest-metric IPv4 default route in the text of `/proc/net/route`, or null when there is
 * none. Addresses there are the kernel's u32 printed in hex in host byte order, hence `littleEndian`.
 * Lines that do not parse are skipped (the file is the kernel's, but a parser never throws on its input).
 */
export function parseDefaultGateway(procNetRoute: string, littleEndian = endianness() === 'LE'): { ip: string; iface: string } | null {
  let best: { ip: string; iface: string; metric: number } | null = null;
  for (const line of procNetRoute.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 8) continue;
    const [iface, dest, gw, flagsHex, , , metricText, mask] = f as [string, string, string, string, string, string, string, string];
    if (dest !== '00000000' || mask !== '00000000' || !/^[0-9A-Fa-f]{8}$/.test(gw)) continue;
    const flags = Number.parseInt(flagsHex, 16);
    if (!(flags & RTF_UP) || !(flags & RTF_GATEWAY)) continue;
    const metric = Number(metricText);
    const n = Number.parseInt(gw, 16);
    const bytes = [n >>> 24, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff];
    if (littleEndian) bytes.reverse();
    if (n === 0 || !Number.isFinite(metric)) continue;
    if (best === null || metric < best.metric) best = { ip: bytes.join('.'), iface, metric };
  }
  return best && { ip: best.ip, iface: best.iface };
}

/** The default IPv4 gateway of this host (network namespace), or null if it has none or this is not Linux. */
export async function defaultGateway4(path = PROC_NET_ROUTE): Promise<string | null> {
  try {
    return parseDefaultGateway(await readFile(path, 'utf8'))?.ip ?? null;
  } catch {
    return null; // not Linux, or no procfs: no NAT-PMP here
  }
}
