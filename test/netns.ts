/**
 * Network-namespace test harness: a "public" segment, NAT routers with clients behind them, and plain hosts, all
 * in namespaces this process creates and removes — so root-server tests can run real ZeroTier clients behind real
 * Linux NATs (iptables MASQUERADE, optionally `--random-fully`) without touching the host's network.
 *
 * Layout (per topology, `T` = random 5-character tag):
 *
 *   ztt-T-root (eth0 192.0.0.1/25, 2001:db8:1::1/64)        ztt-T-hJ (eth0 192.0.0.(2+J)/25, 2001:db8:1::(2+J))
 *          \                                                   /
 *           +------ ztt-T-br: bridge br0 (the "internet") ----+
 *          /
 *   ztt-T-nI  NAT router: wan0 192.0.0.(64+I)/25, 2001:db8:1::(64+I) — MASQUERADE out of wan0
 *             lan0 192.0.0.(128+16I+1)/28, 2001:db8:2:I::1/64
 *          \
 *   ztt-T-nIcK  client: eth0 192.0.0.(128+16I+2+K)/28, 2001:db8:2:I::(2+K)/64, default route via the router
 *
 * (IPv6 host parts are the same numbers written in hex.) Each NAT router also drops unsolicited inbound packets on
 * wan0 like a home router (`firewall`, default on) — see NatSpec.firewall for why hole punching needs that on Linux.
 *
 * Why these addresses: ZeroTier One ignores loopback and link-local paths (`Node::shouldUsePathForZeroTierTraffic`,
 * vl1.md §7.3) and treats 192.0.0.0/24 and 2001:db8::/32 as usable scope, while nothing on any real network routes
 * them — and no namespace here has a route anywhere else, so a mistake cannot send a packet off the machine.
 * Public is 192.0.0.0/25 (not /24) so that no public host believes a NATed client's 192.0.0.128/25 address is on-link.
 * Interface names avoid the prefixes ZeroTier's `osdep/Binder.hpp` skips (lo*, zt*, tun*, tap*).
 *
 * Why the bridge lives in its own namespace rather than the host's: every interface, address, route and iptables
 * rule then belongs to one of our namespaces, so deleting the namespaces removes all of it; nothing is ever added to
 * the host (no host firewall or br_netfilter rules see the traffic, no host interface can leak after a crash).
 *
 * Cleanup: `destroy()` is idempotent; live topologies are also destroyed on process exit, SIGINT and SIGTERM; and
 * `cleanupStale()` removes topologies whose owning process is gone (owner pids are recorded in OWNER_DIR).
 */
import { execFile, spawn as spawnChild, spawnSync } from 'node:child_process';
import type { ChildProcess, SpawnOptions } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** Every namespace this harness creates starts with this; `cleanupStale` only ever touches these. */
export const NS_PREFIX = 'ztt-';
/** Where each topology records its owner's pid, so `cleanupStale` can tell crashed runs from live parallel ones. */
export const OWNER_DIR = '/run/ztt-netns';
/** Default time limit of `exec`, in ms. */
export const DEFAULT_EXEC_TIMEOUT_MS = 10_000;

// Limits that keep every name ≤ 15 characters (`ztt-T-n7c12`) and every address inside its subnet.
const MAX_NATS = 8; // private /28s at 192.0.0.128 + 16*i, i < 8
const MAX_CLIENTS_PER_NAT = 13; // .2 … .14 of a /28
const MAX_PUBLIC_HOSTS = 60; // 192.0.0.2 … .61 (NAT routers start at .64)

/** Thrown when the harness cannot be set up or a command inside a namespace fails. */
export class NetnsError extends Error {
  override name = 'NetnsError';
}

export interface NatSpec {
  /** `--random-fully` on the MASQUERADE rule: a fresh random port per connection (symmetric-like NAT). */
  randomFully?: boolean;
  /** Clients behind this NAT (default 1, at most 13). */
  clients?: number;
  /**
   * Drop unsolicited inbound packets on the WAN leg, like a home router (default true). Without it, a hole-punch
   * packet that reaches this router before its client has sent creates a conntrack entry for the router itself,
   * which then forces MASQUERADE to pick a different port for the client and the punch fails.
   */
  firewall?: boolean;
}

export interface TopologySpec {
  /** NAT routers, each with its own private segment and clients (at most 8). */
  nats?: NatSpec[];
  /** Hosts directly on the public segment, besides the root (at most 60). */
  publicHosts?: number;
  /** Also configure IPv6 addresses (and IPv6 MASQUERADE on the routers); default true. */
  ipv6?: boolean;
}

export interface Host {
  /** Namespace name, for `exec`/`spawn` or `ip netns exec`. */
  ns: string;
  /** The host's only non-loopback interface. */
  iface: string;
  ip4: string;
  /** null when the topology was created with `ipv6: false`. */
  ip6: string | null;
}

export interface NatRouter {
  ns: string;
  /** Address on the public segment: what the world sees as the source of this NAT's clients. */
  publicIp4: string;
  publicIp6: string | null;
  /** The router's address on its private segment (the clients' default gateway). */
  privateIp4: string;
  privateIp6: string | null;
  randomFully: boolean;
  clients: Host[];
}

export interface ExecOptions {
  /** Kill the command after this many ms (default DEFAULT_EXEC_TIMEOUT_MS). */
  timeoutMs?: number;
  /** Written to the command's stdin. */
  input?: string;
}

export interface Topology {
  /** The random part of every name in this topology. */
  readonly tag: string;
  /** Namespace holding the public bridge. */
  readonly bridgeNs: string;
  /** The root server's namespace, 192.0.0.1 / 2001:db8:1::1 on the public segment. */
  readonly root: Host;
  readonly publicHosts: Host[];
  readonly nats: NatRouter[];
  /** Every namespace of this topology. */
  readonly namespaces: string[];
  /**
   * Runs `cmd args` inside namespace `ns`; resolves with its output when it exits 0.
   * @throws NetnsError (rejection) on non-zero exit or timeout, with the command and its stderr
   */
  exec(ns: string, cmd: string, args: string[], opts?: ExecOptions): Promise<{ stdout: string; stderr: string }>;
  /** Starts `cmd args` inside namespace `ns` (via `ip netns exec`); the process is killed by `destroy()`. */
  spawn(ns: string, cmd: string, args: string[], opts?: SpawnOptions): ChildProcess;
  /** Kills every process in the topology's namespaces and deletes them. Idempotent; never throws. */
  destroy(): Promise<void>;
}

// ---------------------------------------------------------------------------------------------------------------
// Preconditions

let probed: string | null | undefined;

/**
 * Why this harness cannot run here (not root, `ip`/`iptables` missing, namespaces not permitted), or null if it can.
 * Tests pass the result as their `skip` reason. The result is cached.
 */
export function netnsUnavailableReason(): string | null {
  if (probed !== undefined) return probed;
  probed = probe();
  return probed;
}

function probe(): string | null {
  if (process.platform !== 'linux') return `network namespaces need Linux (this is ${process.platform})`;
  if (process.getuid?.() !== 0) return 'network-namespace tests need root (run the tests as root)';
  for (const [cmd, pkg] of [
    ['ip', 'iproute2'],
    ['iptables', 'iptables'],
  ] as const) {
    const r = spawnSync(cmd, ['-V'], { stdio: 'ignore' });
    if (r.error) return `'${cmd}' not found: install the Debian package ${pkg} (bash test/system-deps.sh does)`;
  }
  // Root in a container may still lack CAP_SYS_ADMIN / CAP_NET_ADMIN: try the real thing once.
  const ns = `${NS_PREFIX}p${process.pid}`; // cleanupStale removes it if we die right here
  const add = spawnSync('ip', ['netns', 'add', ns], { encoding: 'utf8' });
  if (add.status !== 0) return `cannot create a network namespace: ${(add.stderr || String(add.error)).trim()}`;
  const nat = spawnSync('ip', ['netns', 'exec', ns, 'iptables', '-t', 'nat', '-S'], { encoding: 'utf8' });
  spawnSync('ip', ['netns', 'del', ns], { stdio: 'ignore' });
  if (nat.status !== 0) return `iptables nat table unusable in a namespace: ${(nat.stderr || '').trim()}`;
  return null;
}

// ---------------------------------------------------------------------------------------------------------------
// Running commands

function run(cmd: string, args: string[], timeoutMs = DEFAULT_EXEC_TIMEOUT_MS, input?: string) {
  return new Promise<{ stdout: string; stderr: string }>((resolve, reject) => {
    const opts = { timeout: timeoutMs, encoding: 'utf8', maxBuffer: 16 << 20 } as const;
    const child = execFile(cmd, args, opts, (err, stdout, stderr) => {
      if (!err) return resolve({ stdout, stderr });
      const how = err.killed ? `timed out after ${timeoutMs} ms` : `failed (exit ${String(err.code)})`;
      reject(new NetnsError(`${cmd} ${args.join(' ')} ${how}: ${stderr.trim() || err.message}`));
    });
    if (input !== undefined) child.stdin?.end(input);
  });
}

/** Namespace names that currently exist (`ip netns list`, whose lines look like "name (id: 3)"). */
export function listNamespaces(): string[] {
  const r = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' });
  if (r.status !== 0) return [];
  return r.stdout
    .split('\n')
    .map((l) => l.split(' ')[0] ?? '')
    .filter((n) => n !== '');
}

/**
 * Synchronously kills every process inside `ns` and deletes it. Used on exit, where nothing async runs.
 * A namespace with a live process outlives `ip netns del` (invisibly, with its interfaces), hence the kill first;
 * these are processes our tests started inside our own namespace.
 */
function removeNamespaceSync(ns: string): void {
  const pids = spawnSync('ip', ['netns', 'pids', ns], { encoding: 'utf8' });
  for (const p of (pids.stdout ?? '').split('\n')) {
    const pid = Number(p);
    if (Number.isInteger(pid) && pid > 0 && pid !== process.pid) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        /* already gone */
      }
    }
  }
  spawnSync('ip', ['netns', 'del', ns], { stdio: 'ignore' });
}

// ---------------------------------------------------------------------------------------------------------------
// Owner records and stale cleanup

function ownerFile(tag: string): string {
  return join(OWNER_DIR, tag);
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Removes namespaces named `ztt-<tag>-…` whose owning process no longer runs (crashed or SIGKILLed earlier runs).
 * Topologies of live processes — parallel test files — are left alone. Returns the namespaces removed.
 */
export function cleanupStale(): string[] {
  const removed: string[] = [];
  const ownerAlive = new Map<string, boolean>();
  const tagAlive = (tag: string): boolean => {
    let alive = ownerAlive.get(tag);
    if (alive === undefined) {
      let pid = NaN;
      try {
        pid = Number(readFileSync(ownerFile(tag), 'utf8').trim());
      } catch {
        /* no owner record: a run that died before writing one, or one from before a reboot of OWNER_DIR */
      }
      alive = Number.isInteger(pid) && pid > 0 && isAlive(pid);
      ownerAlive.set(tag, alive);
    }
    return alive;
  };
  for (const ns of listNamespaces()) {
    const topo = /^ztt-([a-z0-9]{5})-/.exec(ns);
    const probeNs = /^ztt-p(\d+)$/.exec(ns); // netnsUnavailableReason()'s probe, named after its pid
    const stale = topo ? !tagAlive(topo[1]!) : probeNs ? !isAlive(Number(probeNs[1])) : false;
    if (stale) {
      removeNamespaceSync(ns);
      removed.push(ns);
    }
  }
  let records: string[] = [];
  try {
    records = readdirSync(OWNER_DIR);
  } catch {
    /* no records yet */
  }
  for (const tag of records) if (!tagAlive(tag)) rmSync(ownerFile(tag), { force: true });
  return removed;
}

// ---------------------------------------------------------------------------------------------------------------
// Exit hooks: one set of process listeners for all live topologies of this process.

const liveTopologies = new Set<TopologyImpl>();
let hooksInstalled = false;

function installExitHooks(): void {
  if (hooksInstalled) return;
  hooksInstalled = true;
  // 'exit' also fires after an uncaught exception; only synchronous work can run there.
  process.on('exit', destroyAllSync);
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    const onSignal = () => {
      destroyAllSync();
      // Listening to a signal suppresses Node's default (exit); restore it and re-deliver so the process still dies.
      process.removeListener(sig, onSignal);
      process.kill(process.pid, sig);
    };
    process.on(sig, onSignal);
  }
}

function destroyAllSync(): void {
  for (const t of liveTopologies) t.destroySync();
}

// ---------------------------------------------------------------------------------------------------------------
// Topology

class TopologyImpl implements Topology {
  readonly namespaces: string[] = [];
  readonly publicHosts: Host[] = [];
  readonly nats: NatRouter[] = [];
  readonly root: Host;
  readonly bridgeNs: string;
  private readonly children = new Set<ChildProcess>();
  private destroyed = false;

  constructor(readonly tag: string) {
    this.bridgeNs = this.name('br');
    this.root = { ns: this.name('root'), iface: 'eth0', ip4: '192.0.0.1', ip6: null };
  }

  name(role: string): string {
    return `${NS_PREFIX}${this.tag}-${role}`;
  }

  exec(ns: string, cmd: string, args: string[], opts: ExecOptions = {}) {
    return run('ip', ['netns', 'exec', ns, cmd, ...args], opts.timeoutMs, opts.input);
  }

  spawn(ns: string, cmd: string, args: string[], opts: SpawnOptions = {}): ChildProcess {
    if (this.destroyed) throw new NetnsError(`topology ${this.tag} is destroyed; cannot spawn ${cmd} in ${ns}`);
    // `ip netns exec` execs the command in place, so the ChildProcess pid is the command itself.
    const child = spawnChild('ip', ['netns', 'exec', ns, cmd, ...args], opts);
    this.children.add(child);
    child.once('exit', () => this.children.delete(child));
    return child;
  }

  async destroy(): Promise<void> {
    if (this.destroyed) return;
    const running = [...this.children].filter((c) => c.exitCode === null && c.signalCode === null);
    const exits = running.map((c) => new Promise<void>((resolve) => c.once('exit', () => resolve())));
    for (const c of this.children) c.kill('SIGKILL');
    await Promise.race([Promise.all(exits), new Promise((r) => setTimeout(r, 2000).unref())]);
    this.destroySync();
  }

  destroySync(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    liveTopologies.delete(this);
    for (const c of this.children) c.kill('SIGKILL');
    for (const ns of this.namespaces) removeNamespaceSync(ns);
    rmSync(ownerFile(this.tag), { force: true });
  }

  // --- construction helpers -----------------------------------------------------------------------------------

  async ip(ns: string, ...args: string[]): Promise<void> {
    await run('ip', ['-n', ns, ...args]);
  }

  async addNamespace(ns: string): Promise<void> {
    await run('ip', ['netns', 'add', ns]);
    this.namespaces.push(ns);
    await this.ip(ns, 'link', 'set', 'lo', 'up'); // ZeroTier's local control port is 127.0.0.1:9993
  }

  async sysctl(ns: string, ...settings: string[]): Promise<void> {
    await this.exec(ns, 'sysctl', ['-q', '-w', ...settings]);
  }

  /** A veth pair: `a` end in namespace `nsA`, `b` end in `nsB`, both up. */
  async veth(nsA: string, a: string, nsB: string, b: string): Promise<void> {
    await this.ip(nsA, 'link', 'add', a, 'type', 'veth', 'peer', 'name', b, 'netns', nsB);
    await this.ip(nsA, 'link', 'set', a, 'up');
    await this.ip(nsB, 'link', 'set', b, 'up');
  }

  async addr(ns: string, iface: string, ip4: string, len4: number, ip6: string | null, len6: number): Promise<void> {
    await this.ip(ns, 'addr', 'add', `${ip4}/${len4}`, 'dev', iface);
    // nodad: the address is usable at once instead of after ~1 s of duplicate detection.
    if (ip6 !== null) await this.ip(ns, 'addr', 'add', `${ip6}/${len6}`, 'dev', iface, 'nodad');
  }

  /** A new namespace whose eth0 is a port of the public bridge. */
  async publicHost(role: string, ip4: string, ip6: string | null): Promise<string> {
    const ns = this.name(role);
    await this.addNamespace(ns);
    await this.veth(this.bridgeNs, `p-${role}`, ns, 'eth0');
    await this.ip(this.bridgeNs, 'link', 'set', `p-${role}`, 'master', 'br0');
    await this.addr(ns, 'eth0', ip4, 25, ip6, 64);
    return ns;
  }
}

function validate(spec: TopologySpec): void {
  const nats = spec.nats ?? [];
  if (nats.length > MAX_NATS) throw new NetnsError(`nats: ${nats.length} NAT routers requested, at most ${MAX_NATS}`);
  nats.forEach((n, i) => {
    const c = n.clients ?? 1;
    if (!Number.isInteger(c) || c < 0 || c > MAX_CLIENTS_PER_NAT)
      throw new NetnsError(`nats[${i}].clients: ${c} is not an integer in 0..${MAX_CLIENTS_PER_NAT}`);
  });
  const h = spec.publicHosts ?? 0;
  if (!Number.isInteger(h) || h < 0 || h > MAX_PUBLIC_HOSTS)
    throw new NetnsError(`publicHosts: ${h} is not an integer in 0..${MAX_PUBLIC_HOSTS}`);
}

/**
 * Creates the namespaces, links, addresses and NAT rules of `spec` (see the module comment for the layout).
 * On failure everything created so far is removed again.
 * @throws NetnsError (rejection) if the spec is out of range, the harness cannot run here, or a command fails
 */
export async function createTopology(spec: TopologySpec = {}): Promise<Topology> {
  validate(spec);
  const why = netnsUnavailableReason();
  if (why !== null) throw new NetnsError(why);
  const v6 = spec.ipv6 ?? true;

  // 5 random base-36 characters per topology: unique across parallel processes and topologies of one process.
  let tag = '';
  while (tag.length < 5) tag += (randomBytes(1)[0]! % 36).toString(36);
  const t = new TopologyImpl(tag);
  // The owner record is written before the first namespace exists, so a concurrent cleanupStale never mistakes
  // a topology under construction for a crashed one.
  mkdirSync(OWNER_DIR, { recursive: true });
  writeFileSync(ownerFile(tag), `${process.pid}\n`);
  installExitHooks();
  liveTopologies.add(t);

  try {
    await t.addNamespace(t.bridgeNs);
    await t.ip(t.bridgeNs, 'link', 'add', 'br0', 'type', 'bridge');
    await t.ip(t.bridgeNs, 'link', 'set', 'br0', 'up');

    t.root.ip6 = v6 ? '2001:db8:1::1' : null;
    await t.publicHost('root', t.root.ip4, t.root.ip6);

    for (let j = 0; j < (spec.publicHosts ?? 0); j++) {
      const last = 2 + j;
      const ip6 = v6 ? `2001:db8:1::${last.toString(16)}` : null;
      const host: Host = { ns: '', iface: 'eth0', ip4: `192.0.0.${last}`, ip6 };
      host.ns = await t.publicHost(`h${j}`, host.ip4, host.ip6);
      t.publicHosts.push(host);
    }

    for (const [i, n] of (spec.nats ?? []).entries()) t.nats.push(await addNat(t, i, n, v6));
  } catch (e) {
    await t.destroy();
    throw e;
  }
  return t;
}

async function addNat(t: TopologyImpl, i: number, n: NatSpec, v6: boolean): Promise<NatRouter> {
  const pubLast = 64 + i;
  const base = 128 + 16 * i; // this NAT's private 192.0.0.base/28
  const router: NatRouter = {
    ns: '',
    publicIp4: `192.0.0.${pubLast}`,
    publicIp6: v6 ? `2001:db8:1::${pubLast.toString(16)}` : null,
    privateIp4: `192.0.0.${base + 1}`,
    privateIp6: v6 ? `2001:db8:2:${i}::1` : null,
    randomFully: n.randomFully ?? false,
    clients: [],
  };
  // The router's WAN leg is a bridge port like any public host, named wan0 instead of eth0.
  const ns = t.name(`n${i}`);
  router.ns = ns;
  await t.addNamespace(ns);
  await t.veth(t.bridgeNs, `p-n${i}`, ns, 'wan0');
  await t.ip(t.bridgeNs, 'link', 'set', `p-n${i}`, 'master', 'br0');
  await t.addr(ns, 'wan0', router.publicIp4, 25, router.publicIp6, 64);

  await t.sysctl(ns, 'net.ipv4.ip_forward=1', ...(v6 ? ['net.ipv6.conf.all.forwarding=1'] : []));
  const masq = ['-t', 'nat', '-A', 'POSTROUTING', '-o', 'wan0', '-j', 'MASQUERADE'];
  if (router.randomFully) masq.push('--random-fully');
  // Home-router firewall: nothing unsolicited from the WAN reaches the router or the LAN. Dropping in the filter
  // table happens before conntrack confirms the entry, so a stray early hole-punch packet leaves no state behind.
  const fw = [
    ['-A', 'INPUT', '-i', 'wan0', '-m', 'conntrack', '--ctstate', 'NEW,INVALID', '-j', 'DROP'],
    ['-A', 'FORWARD', '-i', 'wan0', '-m', 'conntrack', '--ctstate', 'NEW,INVALID', '-j', 'DROP'],
  ];
  for (const tool of v6 ? ['iptables', 'ip6tables'] : ['iptables']) {
    await t.exec(ns, tool, masq);
    if (n.firewall ?? true) for (const rule of fw) await t.exec(ns, tool, rule);
  }

  const clients = n.clients ?? 1;
  if (clients > 0) {
    // The private segment: a bridge (lan0) in the router's namespace, one veth port per client.
    await t.ip(ns, 'link', 'add', 'lan0', 'type', 'bridge');
    await t.ip(ns, 'link', 'set', 'lan0', 'up');
    await t.addr(ns, 'lan0', router.privateIp4, 28, router.privateIp6, 64);
  }
  for (let k = 0; k < clients; k++) {
    const c: Host = {
      ns: t.name(`n${i}c${k}`),
      iface: 'eth0',
      ip4: `192.0.0.${base + 2 + k}`,
      ip6: v6 ? `2001:db8:2:${i}::${(2 + k).toString(16)}` : null,
    };
    await t.addNamespace(c.ns);
    await t.veth(ns, `l${k}`, c.ns, 'eth0');
    await t.ip(ns, 'link', 'set', `l${k}`, 'master', 'lan0');
    await t.addr(c.ns, 'eth0', c.ip4, 28, c.ip6, 64);
    await t.ip(c.ns, 'route', 'add', 'default', 'via', router.privateIp4);
    if (v6) await t.ip(c.ns, '-6', 'route', 'add', 'default', 'via', router.privateIp6!);
    router.clients.push(c);
  }
  return router;
}

/**
 * Creates a topology, runs `fn` with it, and destroys it whether `fn` resolves or throws.
 * @throws whatever `createTopology` or `fn` throws
 */
export async function withTopology<T>(spec: TopologySpec, fn: (t: Topology) => Promise<T>): Promise<T> {
  const t = await createTopology(spec);
  try {
    return await fn(t);
  } finally {
    await t.destroy();
  }
}
