/**
 * A TAP device's managed IP addresses and routes (vl2.md §7.3), applied with iproute2's `ip`.
 *
 * Why `ip` rather than rtnetlink from Node: Node has no netlink sockets, so rtnetlink would mean a netlink client
 * in the native addon (message building, attribute parsing, error acks) for something that runs only when a
 * network's config changes; `ip` does exactly what 1.14's netlink calls do (`ip addr add <ip>/<bits> brd + dev`,
 * routes with a source address), is on every Linux host, and its error text says what the kernel refused.
 *
 * The planning (what to add, remove and replace; default routes as two halves; which source address) is pure
 * and tested apart from the commands.
 */
import { execFile } from 'node:child_process';
import { formatIpv4, formatIpv6, parseIp } from '../vl1/inet-address.js';
import { ZtError, ZtErrorCode } from '../vl1/errors.js';

/** Time limit of one `ip` command. */
export const IP_COMMAND_TIMEOUT_MS = 10_000;

/** An address with its prefix length, as a network config assigns it. */
export interface TapAddress {
  ip: string;
  bits: number;
}

/** A route as a network config pushes it: `via` null for an on-link route. */
export interface TapRoute {
  target: string;
  bits: number;
  via: string | null;
}

/** A checked address: canonical text and bytes. */
interface Addr {
  ip: string;
  bytes: Uint8Array;
  bits: number;
}

/** A route as installed on the device (after splitting default routes and choosing the source). */
export interface InstalledRoute {
  target: string;
  bits: number;
  via: string | null;
  src: string | null;
}

function canonical(bytes: Uint8Array): string {
  return bytes.length === 4 ? formatIpv4(bytes) : formatIpv6(bytes);
}

/**
 * Parses and checks `ip`/`bits` (what names the field in errors).
 * @throws {ZtError} BAD_CONFIG naming the value
 */
function checkAddr(what: string, ip: unknown, bits: unknown): Addr {
  const bytes = typeof ip === 'string' && ip.length <= 64 ? parseIp(ip) : null;
  if (bytes === null) throw new ZtError(ZtErrorCode.BAD_CONFIG, `${what}: ${JSON.stringify(ip)} is not an IPv4 or IPv6 address`);
  const max = bytes.length * 8;
  if (typeof bits !== 'number' || !Number.isInteger(bits) || bits < 0 || bits > max) {
    throw new ZtError(ZtErrorCode.BAD_CONFIG, `${what}: prefix length ${String(bits)} of ${ip} is not an integer in 0..${max}`);
  }
  return { ip: canonical(bytes), bytes, bits };
}

/** `bytes` with every bit past `bits` cleared. */
function networkOf(bytes: Uint8Array, bits: number): Uint8Array {
  const out = new Uint8Array(bytes);
  for (let i = 0; i < out.length; i++) {
    const keep = Math.max(0, Math.min(8, bits - 8 * i));
    out[i]! &= (0xff << (8 - keep)) & 0xff;
  }
  return out;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/** Whether `ip` lies in `net`/`bits` (same family). */
function contains(net: Uint8Array, bits: number, ip: Uint8Array): boolean {
  return net.length === ip.length && sameBytes(networkOf(net, bits), networkOf(ip, bits));
}

/** Key of an address: the IP alone (an IP with another prefix is the same address, to be replaced). */
const addrKey = (a: { ip: string }): string => a.ip;

/**
 * Checks and canonicalises a wanted address list.
 * @throws {ZtError} BAD_CONFIG naming the first bad entry, or an IP listed twice
 */
export function checkAddresses(addrs: readonly TapAddress[]): TapAddress[] {
  const seen = new Set<string>();
  return addrs.map((a, i) => {
    const c = checkAddr(`address ${i}`, a?.ip, a?.bits);
    if (seen.has(c.ip)) throw new ZtError(ZtErrorCode.BAD_CONFIG, `address ${i}: ${c.ip} is listed twice`);
    seen.add(c.ip);
    return { ip: c.ip, bits: c.bits };
  });
}

/**
 * What to remove and add to go from the managed addresses `current` to `wanted` (both canonical): an IP whose
 * prefix changed is removed and added again (1.14 replaces it), unchanged ones are left alone.
 */
export function planAddresses(current: readonly TapAddress[], wanted: readonly TapAddress[]): { remove: TapAddress[]; add: TapAddress[] } {
  const want = new Map(wanted.map((a) => [addrKey(a), a]));
  const have = new Map(current.map((a) => [addrKey(a), a]));
  const remove = current.filter((a) => want.get(addrKey(a))?.bits !== a.bits);
  const add = wanted.filter((a) => have.get(addrKey(a))?.bits !== a.bits);
  return { remove, add };
}

/**
 * The routes to install for `routes` on a device holding `addrs` (vl2.md §7.3): a default route becomes two
 * halves (0.0.0.0/1 + 128.0.0.0/1, ::/1 + 8000::/1) so it overrides the host's default without replacing it;
 * routes implied by an address's own prefix and routes via one of our own addresses are skipped; the source is
 * our address whose prefix holds the gateway (or, for an on-link route, the target), the longest such prefix
 * winning; with none, the kernel picks.
 * @throws {ZtError} BAD_CONFIG naming the first bad route
 */
export function planRoutes(routes: readonly TapRoute[], addrs: readonly TapAddress[]): InstalledRoute[] {
  const own = addrs.map((a, i) => checkAddr(`address ${i}`, a.ip, a.bits));
  const out = new Map<string, InstalledRoute>();
  routes.forEach((r, i) => {
    const t = checkAddr(`route ${i} target`, r?.target, r?.bits);
    const via = r.via === null || r.via === undefined ? null : checkAddr(`route ${i} via`, r.via, t.bytes.length * 8);
    if (via !== null && via.bytes.length !== t.bytes.length) {
      throw new ZtError(ZtErrorCode.BAD_CONFIG, `route ${i}: gateway ${via.ip} is not of the same family as ${t.ip}/${t.bits}`);
    }
    if (via !== null && own.some((a) => sameBytes(a.bytes, via.bytes))) return; // we are the gateway
    const net = networkOf(t.bytes, t.bits);
    if (via === null && own.some((a) => a.bits === t.bits && contains(a.bytes, a.bits, net))) return; // the address's own prefix route
    let src: Addr | null = null;
    const probe = via?.bytes ?? net;
    for (const a of own) if (contains(a.bytes, a.bits, probe) && (src === null || a.bits > src.bits)) src = a;
    const halves: Array<[Uint8Array, number]> =
      t.bits === 0
        ? [
            [net, 1],
            [(() => { const h = new Uint8Array(net.length); h[0] = 0x80; return h; })(), 1],
          ]
        : [[net, t.bits]];
    for (const [n, bits] of halves) {
      const route: InstalledRoute = { target: canonical(n), bits, via: via?.ip ?? null, src: src?.ip ?? null };
      out.set(routeKey(route), route);
    }
  });
  return [...out.values()];
}

/** Routes are identified by destination (what `ip route replace` keys on for a device's main-table route). */
export const routeKey = (r: { target: string; bits: number }): string => `${r.target}/${r.bits}`;

/** What to remove (installed, no longer wanted) and (re)apply: every wanted route, since `replace` is idempotent. */
export function planRouteChanges(current: readonly InstalledRoute[], wanted: readonly InstalledRoute[]): { remove: InstalledRoute[]; apply: InstalledRoute[] } {
  const want = new Set(wanted.map(routeKey));
  return { remove: current.filter((r) => !want.has(routeKey(r))), apply: [...wanted] };
}

// ---------------------------------------------------------------------------------------------------------------
// Commands

/** The `ip` arguments that install or remove these; exported for the tests. */
export const ipArgs = {
  addAddress: (dev: string, a: TapAddress): string[] => ['addr', 'replace', `${a.ip}/${a.bits}`, ...(a.ip.includes(':') ? [] : ['broadcast', '+']), 'dev', dev],
  removeAddress: (dev: string, a: TapAddress): string[] => ['addr', 'del', `${a.ip}/${a.bits}`, 'dev', dev],
  applyRoute: (dev: string, r: InstalledRoute): string[] => [
    ...(r.target.includes(':') ? ['-6'] : ['-4']),
    'route',
    'replace',
    `${r.target}/${r.bits}`,
    ...(r.via !== null ? ['via', r.via] : []),
    'dev',
    dev,
    ...(r.src !== null ? ['src', r.src] : []),
  ],
  removeRoute: (dev: string, r: InstalledRoute): string[] => [...(r.target.includes(':') ? ['-6'] : ['-4']), 'route', 'del', `${r.target}/${r.bits}`, 'dev', dev],
};

/** One failed `ip` command: its arguments and what it said. */
export interface IpFailure {
  args: string[];
  message: string;
}

/**
 * Runs `ip args`; resolves null on success, or what failed.
 * `ip` missing is reported as such (the message says which package provides it).
 */
export function runIp(args: string[]): Promise<IpFailure | null> {
  return new Promise((resolve) => {
    execFile('ip', args, { timeout: IP_COMMAND_TIMEOUT_MS, encoding: 'utf8' }, (err, _stdout, stderr) => {
      if (!err) return resolve(null);
      const e = err as NodeJS.ErrnoException & { killed?: boolean };
      const message =
        e.code === 'ENOENT'
          ? "the 'ip' command is not installed (Debian package iproute2)"
          : e.killed
            ? `timed out after ${IP_COMMAND_TIMEOUT_MS} ms`
            : stderr.trim() || e.message;
      resolve({ args, message });
    });
  });
}

/** The error for failed commands on `dev`: every failure, each with its command. */
export function ipFailureError(dev: string, what: string, failures: IpFailure[]): ZtError {
  const lines = failures.map((f) => `ip ${f.args.join(' ')}: ${f.message}`);
  return new ZtError(ZtErrorCode.UNAVAILABLE, `TAP device ${dev}: ${what} failed: ${lines.join('; ')}`);
}
