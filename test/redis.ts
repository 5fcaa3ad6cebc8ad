/**
 * Real redis-server processes for tests (never a mock): a standalone server, or a 3-master Cluster, on free
 * loopback ports, without persistence, in a temp dir that is removed afterwards. `kill()` and `restart()` (same
 * port) make outages. Every server this module starts is killed on `stop()`, and on process exit as a fallback —
 * also when a test fails. redis-server comes from Debian's package (test/system-deps.sh installs it).
 */
import { execFile, spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const live = new Set<ChildProcess>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const p of live) p.kill('SIGKILL');
  });
}

/** Why Redis tests cannot run here, or null when redis-server and redis-cli are installed. */
export function redisUnavailableReason(): string | null {
  for (const cmd of ['redis-server', 'redis-cli']) {
    const r = spawnSync(cmd, ['--version'], { stdio: 'ignore' });
    if (r.error !== undefined || r.status !== 0) return `${cmd} not found (run: bash test/system-deps.sh, Debian package redis-server)`;
  }
  return null;
}

/** A free TCP port on 127.0.0.1 (and, for Cluster nodes, with port+10000 free too for the cluster bus). */
export async function freePort(withBus = false): Promise<number> {
  for (let i = 0; i < 50; i++) {
    const p = await bindAny();
    if (!withBus) return p;
    if (p + 10000 <= 65535 && (await canBind(p + 10000))) return p;
  }
  throw new Error('no free port pair found');
}

function bindAny(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => (typeof a === 'object' && a !== null ? resolve(a.port) : reject(new Error('no port'))));
    });
  });
}

function canBind(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

/** Sends one inline command and returns the first reply line, or null on any failure within `timeoutMs`. */
export function rawCommand(port: number, cmd: string, timeoutMs = 500): Promise<string | null> {
  return new Promise((resolve) => {
    const sock = connect(port, '127.0.0.1');
    let buf = '';
    const done = (v: string | null): void => {
      clearTimeout(t);
      sock.destroy();
      resolve(v);
    };
    const t = setTimeout(() => done(null), timeoutMs);
    sock.on('error', () => done(null));
    sock.on('connect', () => sock.write(`${cmd}\r\n`));
    sock.on('data', (d) => {
      buf += d.toString('latin1');
      const nl = buf.indexOf('\r\n');
      if (nl < 0) return;
      // A bulk reply ("$n") is followed by its body: return the body.
      if (buf.startsWith('$')) {
        const n = Number(buf.slice(1, nl));
        if (n < 0) return done('');
        if (buf.length >= nl + 2 + n) return done(buf.slice(nl + 2, nl + 2 + n));
        return;
      }
      done(buf.slice(0, nl));
    });
  });
}

async function waitFor(what: string, timeoutMs: number, ok: () => Promise<boolean>): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await ok()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${what}: not ready within ${timeoutMs} ms`);
}

export interface RedisServerOptions {
  /** Port to use (default: a free one). */
  port?: number;
  /** Start as a Cluster node (`--cluster-enabled yes`). */
  cluster?: boolean;
  /**
   * Run it inside this network namespace (`ip netns exec`), bound to `bind`: Redis on a host of its own, as
   * a fleet has it. Readiness is then checked with redis-cli inside the namespace.
   */
  netns?: { ns: string; bind: string };
}

/** One redis-server process on 127.0.0.1. */
export class RedisServer {
  readonly port: number;
  readonly dir: string;
  private readonly cluster: boolean;
  private readonly netns: { ns: string; bind: string } | undefined;
  private proc: ChildProcess | null = null;
  private output = '';

  private constructor(port: number, dir: string, cluster: boolean, netns?: { ns: string; bind: string }) {
    this.port = port;
    this.dir = dir;
    this.cluster = cluster;
    this.netns = netns;
  }

  /** Starts a server and waits until it answers PING. */
  static async start(opts: RedisServerOptions = {}): Promise<RedisServer> {
    installExitHook();
    const cluster = opts.cluster ?? false;
    // In a namespace of its own every port is free: use Redis's usual one.
    const port = opts.port ?? (opts.netns !== undefined ? 6379 : await freePort(cluster));
    const s = new RedisServer(port, mkdtempSync(join(tmpdir(), 'ztroot-redis-')), cluster, opts.netns);
    await s.spawn();
    return s;
  }

  /** `redis://<host>:<port>` (127.0.0.1, or the namespace's bind address). */
  get url(): string {
    const host = this.netns?.bind ?? '127.0.0.1';
    return `redis://${host.includes(':') ? `[${host}]` : host}:${this.port}`;
  }

  get running(): boolean {
    return this.proc !== null;
  }

  private async spawn(): Promise<void> {
    const bind = this.netns?.bind ?? '127.0.0.1';
    // Not protected mode: clients on other hosts (namespaces) connect without a password, as on a private network.
    const args = ['--port', String(this.port), '--bind', bind, '--protected-mode', 'no', '--save', '', '--appendonly', 'no', '--dir', this.dir, '--daemonize', 'no', '--loglevel', 'warning'];
    if (this.cluster) args.push('--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf', '--cluster-node-timeout', '2000');
    const p = this.netns !== undefined
      ? spawn('ip', ['netns', 'exec', this.netns.ns, 'redis-server', ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
      : spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.proc = p;
    live.add(p);
    this.output = '';
    const keep = (d: Buffer): void => {
      this.output = (this.output + d.toString()).slice(-4000);
    };
    p.stdout?.on('data', keep);
    p.stderr?.on('data', keep);
    p.once('exit', () => {
      live.delete(p);
      if (this.proc === p) this.proc = null;
    });
    try {
      await waitFor(`redis-server on port ${this.port}`, 5000, async () => {
        if (this.proc !== p) throw new Error(`redis-server on port ${this.port} exited: ${this.output}`);
        if (this.netns !== undefined) return (await this.cli('PING').catch(() => '')).trim() === 'PONG';
        return (await rawCommand(this.port, 'PING')) === '+PONG';
      });
    } catch (e) {
      p.kill('SIGKILL');
      throw e;
    }
  }

  /** SIGKILLs the server (an outage) and waits until it is gone. */
  async kill(): Promise<void> {
    const p = this.proc;
    if (p === null) return;
    const gone = new Promise<void>((r) => p.once('exit', () => r()));
    p.kill('SIGKILL');
    await gone;
  }

  /** Freezes the server (SIGSTOP): connections stay open but nothing answers — a hung Redis. */
  pause(): void {
    this.proc?.kill('SIGSTOP');
  }

  /** Undoes {@link pause}. */
  resume(): void {
    this.proc?.kill('SIGCONT');
  }

  /** Starts it again on the same port (empty: there is no persistence). */
  async restart(): Promise<void> {
    await this.kill();
    await this.spawn();
  }

  /** Sends a command through redis-cli (for tests that plant data); returns stdout. */
  cli(...args: string[]): Promise<string> {
    return new Promise((resolve, reject) => {
      const base = ['-h', this.netns?.bind ?? '127.0.0.1', '-p', String(this.port), ...args];
      const [cmd, argv] = this.netns !== undefined ? ['ip', ['netns', 'exec', this.netns.ns, 'redis-cli', ...base]] : ['redis-cli', base];
      execFile(cmd, argv, { timeout: 5000 }, (err, out) => (err ? reject(err) : resolve(out)));
    });
  }

  /** Kills the server and removes its directory. */
  async stop(): Promise<void> {
    await this.kill();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** A Cluster of `masters` redis-server nodes without replicas, slots spread by `redis-cli --cluster create`. */
export class RedisCluster {
  readonly nodes: RedisServer[];

  private constructor(nodes: RedisServer[]) {
    this.nodes = nodes;
  }

  static async start(masters = 3): Promise<RedisCluster> {
    const nodes: RedisServer[] = [];
    try {
      for (let i = 0; i < masters; i++) nodes.push(await RedisServer.start({ cluster: true }));
      const c = new RedisCluster(nodes);
      await new Promise<void>((resolve, reject) => {
        execFile(
          'redis-cli',
          ['--cluster', 'create', ...nodes.map((n) => `127.0.0.1:${n.port}`), '--cluster-replicas', '0', '--cluster-yes'],
          { timeout: 20_000 },
          (err, out, errOut) => (err ? reject(new Error(`redis-cli --cluster create failed: ${err.message}\n${out}\n${errOut}`)) : resolve()),
        );
      });
      // Every node must see the whole cluster as ok before clients can rely on its slot map.
      await waitFor('cluster state ok on every node', 15_000, async () => {
        for (const n of nodes) {
          const info = await rawCommand(n.port, 'CLUSTER INFO');
          if (info === null || !info.includes('cluster_state:ok')) return false;
        }
        return true;
      });
      return c;
    } catch (e) {
      for (const n of nodes) await n.stop();
      throw e;
    }
  }

  /** `redis-cluster://127.0.0.1:p1,127.0.0.1:p2,…` */
  get url(): string {
    return `redis-cluster://${this.nodes.map((n) => `127.0.0.1:${n.port}`).join(',')}`;
  }

  async stop(): Promise<void> {
    for (const n of this.nodes) await n.stop();
  }
}
