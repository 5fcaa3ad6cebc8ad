/**
 * A fleet as operators deploy it, one network namespace per host (test/netns.ts): every root on a host of its
 * own (own addresses, the same hostname — namespaces share the UTS namespace, as cloned VMs and containers
 * often do), Redis on another host, and leaves that each reach only one root (iptables in the leaf's
 * namespace drops everything to and from the other roots), and cannot reach each other until the test lifts
 * that block.
 *
 *   public segment 192.0.0.0/25, 2001:db8:1::/64 (a bridge in its own namespace)
 *     roots   192.0.0.1 (the topology's root host), 192.0.0.2, 192.0.0.3 …
 *     redis   the next address
 *     leaves  the next ones
 *
 * Roots are started exactly as the operator did: `ztroot start --fleet-redis redis://…` from a home
 * directory holding `.state/identity.secret` and `.state/planet`, nothing else set.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { Identity } from '../vl1/identity.js';
import { toHex } from '../vl1/bytes.js';
import { c25519Generate } from '../vl1/c25519.js';
import { serializeWorld, signWorld, type World } from '../planet/world.js';
import { createTopology, type Host, type Topology } from './netns.js';
import { RedisServer } from './redis.js';
import { watchJsonLines, type JsonLineWatch } from './json-lines.js';
import { REPO_ROOT } from './vectors.js';

export const CLI = join(REPO_ROOT, 'dist', 'tools', 'cli.js');
const PING_LEAF = join(REPO_ROOT, 'dist', 'test', 'ping-leaf.js');

export interface FleetHosts {
  topo: Topology;
  /** One host per root process. */
  roots: Host[];
  redisHost: Host;
  leaves: Host[];
}

/** Creates the namespaces: `roots` root hosts, one Redis host, `leaves` leaf hosts, all on one public segment. */
export async function createFleetHosts(roots: number, leaves: number): Promise<FleetHosts> {
  const topo = await createTopology({ publicHosts: roots - 1 + 1 + leaves });
  const hosts = topo.publicHosts;
  return { topo, roots: [topo.root, ...hosts.slice(0, roots - 1)], redisHost: hosts[roots - 1]!, leaves: hosts.slice(roots) };
}

/** A host's addresses, both families. */
export function ipsOf(h: Host): string[] {
  return [h.ip4, ...(h.ip6 !== null ? [h.ip6] : [])];
}

/**
 * Drops everything between `host` and `ips` in `host`'s namespace (both directions, both families).
 * @returns a function that lifts exactly these rules again.
 */
export async function block(topo: Topology, host: Host, ips: string[]): Promise<() => Promise<void>> {
  const rules: Array<[string, string[]]> = [];
  for (const ip of ips) {
    const tool = ip.includes(':') ? 'ip6tables' : 'iptables';
    rules.push([tool, ['INPUT', '-s', ip, '-j', 'DROP']], [tool, ['OUTPUT', '-d', ip, '-j', 'DROP']]);
  }
  for (const [tool, r] of rules) await topo.exec(host.ns, tool, ['-I', ...r]);
  return async () => {
    for (const [tool, r] of rules) await topo.exec(host.ns, tool, ['-D', ...r]);
  };
}

/** Redis on its own host, listening on its public IPv4 address. */
export function startRedisHost(f: FleetHosts): Promise<RedisServer> {
  return RedisServer.start({ netns: { ns: f.redisHost.ns, bind: f.redisHost.ip4 } });
}

/** A planet whose roots are `roots[i]` at `endpoints[i]` (each `host` contributes its IPv4 and IPv6 /9993). */
export function makePlanet(roots: Array<{ identity: Identity; hosts: Host[] }>): { world: World; bytes: Uint8Array } {
  const key = c25519Generate();
  const world = signWorld(
    {
      type: 'planet',
      id: 0x5eedf1ee7n,
      timestamp: Date.now(),
      updatesMustBeSignedBy: key.publicKey,
      roots: roots.map((r) => ({
        identity: r.identity.publicOnly(),
        stableEndpoints: r.hosts.flatMap((h) => [
          { family: 4 as const, ip: h.ip4, port: 9993 },
          ...(h.ip6 !== null ? [{ family: 6 as const, ip: h.ip6, port: 9993 }] : []),
        ]),
      })),
    },
    key,
  );
  return { world, bytes: serializeWorld(world) };
}

export interface RootProcess {
  host: Host;
  home: string;
  proc: ChildProcess;
  log: JsonLineWatch;
}

/**
 * `ztroot start --fleet-redis <url>` in `host`'s namespace, run from `home` (default state dir `./.state`
 * holding the identity and the planet), nothing else set (no fleet when `redisUrl` is empty). Resolves once it
 * logs "root started".
 */
export async function startRootProcess(f: { topo: Topology }, host: Host, home: string, identity: Identity, planet: Uint8Array, redisUrl: string, extra: string[] = []): Promise<RootProcess> {
  const state = join(home, '.state');
  mkdirSync(state, { recursive: true, mode: 0o700 });
  writeFileSync(join(state, 'identity.secret'), identity.toString(true), { mode: 0o600 });
  writeFileSync(join(state, 'identity.public'), identity.toString(false));
  writeFileSync(join(state, 'planet'), planet);
  const fleet = redisUrl === '' ? [] : ['--fleet-redis', redisUrl];
  const proc = f.topo.spawn(host.ns, process.execPath, [CLI, 'start', ...fleet, ...extra], { cwd: home, stdio: ['ignore', 'pipe', 'pipe'] });
  const log = watchJsonLines(proc, `root@${host.ip4}`);
  await log.waitFor((l) => l.msg === 'root started', 20_000, `root on ${host.ip4} started`);
  return { host, home, proc, log };
}

/** The root's /metrics, fetched inside its namespace from its default listener 127.0.0.1:9980. */
export async function scrapeMetrics(f: { topo: Topology }, host: Host): Promise<string> {
  const js = "fetch('http://127.0.0.1:9980/metrics').then((r) => r.text()).then((t) => process.stdout.write(t), (e) => { console.error(String(e)); process.exit(1); })";
  return (await f.topo.exec(host.ns, process.execPath, ['-e', js], { timeoutMs: 10_000 })).stdout;
}

/** Sum of every sample of `family` whose labels include all of `labels` in a Prometheus text exposition. */
export function metricValue(text: string, family: string, labels: Record<string, string> = {}): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(family)) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)/.exec(line);
    if (m === null || m[1] !== family) continue;
    const have = m[2] ?? '';
    if (Object.entries(labels).every(([k, v]) => have.includes(`${k}="${v}"`))) sum += Number(m[3]);
  }
  return sum;
}

export interface LeafProcess {
  host: Host;
  identity: Identity;
  proc: ChildProcess;
  events: JsonLineWatch;
  send(cmd: object): void;
}

/**
 * Our own leaf (test/ping-leaf.ts) on `host`'s IPv4 address, port 9994. Resolves once it is ONLINE.
 * `helloIntervalMs`: its HELLO interval to roots that have a path (default 1.14's 224 s).
 */
export async function startLeaf(f: { topo: Topology }, host: Host, identity: Identity, planet: Uint8Array, extra: { helloIntervalMs?: number } = {}): Promise<LeafProcess> {
  const opts = { identity: identity.toString(true), planetHex: toHex(planet), bind4: host.ip4, port: 9994, ...extra };
  const proc = f.topo.spawn(host.ns, process.execPath, [PING_LEAF, JSON.stringify(opts)], { stdio: ['pipe', 'pipe', 'pipe'] });
  const events = watchJsonLines(proc, `leaf@${host.ip4}`);
  await events.waitFor((l) => l.event === 'online', 30_000, `leaf ${host.ip4} online`);
  return { host, identity, proc, events, send: (cmd) => proc.stdin!.write(`${JSON.stringify(cmd)}\n`) };
}
