/**
 * One flood scenario against a real root process, measured from the outside. Runs inside a network
 * namespace prepared by test/flood/netns-flood.ts (local routes for 198.18.0.0/15 and 2001:db8:f000::/36,
 * so any address there can be bound), as `node dist/test/flood/scenario.js '<ScenarioSpec JSON>'`, and
 * prints one JSON line, the {@link ScenarioReport}.
 *
 *   the root        `ztroot start` (dist/tools/cli.js), its own process; its log lines are counted
 *   the flood       `flooders` processes of test/flood/flooder.ts, sharing `rate`
 *   the known pair  two peers of the root (this process) sending probes to each other through it, before
 *                   (the reference) and during the flood: loss and latency of what the root relays
 *   the newcomer    a valid identity from a quiet prefix, HELLO every second from 1 s into the flood
 *                   until the root answers (a 1.14 client retries too)
 *   the socket      drops of the root's UDP sockets from /proc/net/udp{,6} ("drops": datagrams the
 *                   kernel discarded because the root did not read them fast enough)
 *
 * This process only sends probes and reads replies: the root and the flood have their own processes.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import dgram from 'node:dgram';
import { once } from 'node:events';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Identity } from '../../vl1/identity.js';
import { PeerKey } from '../../vl1/peer-key.js';
import { openPacket } from '../../vl1/packet.js';
import { decodeOk } from '../../vl1/verbs/ok.js';
import { c25519Generate } from '../../vl1/c25519.js';
import { serializeWorld, signWorld } from '../../planet/world.js';
import { REPO_ROOT, readVectorJson } from '../vectors.js';
import { helloPacket, probePacket, readProbe, type FloodTarget } from './packets.js';
import { answerRootEcho } from '../probe-answer.js';
import type { FlooderSpec } from './flooder.js';
import { FLOOD_ADDRESSES, floodSources } from './addresses.js';

export interface ScenarioSpec {
  kind: 'hello' | 'whois';
  family: 4 | 6;
  /** Flood datagrams per second, all flooders together. */
  rate: number;
  /** Flood generator processes (a Node process sends ~20–40 k datagrams/s on one core). */
  flooders: number;
  durationMs: number;
  /** hello: prefixes (/24 or /48) the flood comes from, addresses per prefix (IPv6: one per /64). */
  prefixes?: number;
  perPrefix?: number;
  /** hello: valid identities in the flood (from the vectors, then from `identitiesFile`), and invalid ones. */
  validIdentities?: number;
  invalidIdentities?: number;
  /** A JSON array of extra valid identity secret strings (the soak's 290 take minutes to generate). */
  identitiesFile?: string;
  /** Probes per second each way between the known pair. */
  pairRate: number;
  /** Probes before the flood starts: the reference loss and latency. */
  baselineMs: number;
  /** Time after the flood for late probes to arrive. */
  cooldownMs?: number;
  /** Run a newcomer (hello floods). */
  newcomer?: boolean;
  /** `--validation-workers` of the root (0 = auto). */
  validationWorkers?: number;
  /** Node options for the root process (e.g. `--cpu-prof`, `--cpu-prof-dir=…` to profile it). */
  rootNodeArgs?: string[];
}

export interface ProbeFigures {
  sent: number;
  received: number;
  lossPct: number;
  p50Ms: number | null;
  p99Ms: number | null;
  maxMs: number | null;
}

export interface ScenarioReport {
  spec: ScenarioSpec;
  flood: { sent: number; skipped: number; elapsedMs: number; ratePerSec: number };
  /** Datagrams to the root's port during the run (flood + pair + newcomer) and those its sockets dropped. */
  rootSocket: { sentToRoot: number; drops: number; lossPct: number };
  pairBaseline: ProbeFigures;
  pairFlood: ProbeFigures;
  newcomer: { admittedAfterMs: number | null; hellos: number } | null;
  log: { lines: number; warn: number; byMsg: Record<string, number> };
  /** Root CPU during the flood, in % of one core: all threads, and its main thread (the event loop) alone. */
  rootCpuPct: number;
  rootMainThreadCpuPct: number;
  /** The root's counters at the end, from /metrics (name{labels} → value, ztroot_* families only). */
  metrics: Record<string, number>;
}

const CLI = join(REPO_ROOT, 'dist', 'tools', 'cli.js');
const FLOODER = join(REPO_ROOT, 'dist', 'test', 'flood', 'flooder.js');
const ROOT_PORT = 9993;
const HTTP = '127.0.0.1:9980';

interface VectorIdentity {
  secret_string: string;
}

/** Valid identities for a scenario: the vectors' (root, pair, newcomer, WHOIS flooder first), then `file`'s. */
function identities(file?: string): Identity[] {
  const v = readVectorJson<{ identities: VectorIdentity[] }>('identities.json').identities.map((i) => i.secret_string);
  const extra = file !== undefined ? (JSON.parse(readFileSync(file, 'utf8')) as string[]) : [];
  return [...v, ...extra].map((s) => Identity.fromString(s));
}

export async function runScenario(spec: ScenarioSpec): Promise<ScenarioReport> {
  const ids = identities(spec.identitiesFile);
  const [rootId, aId, bId, newcomerId, whoisId] = ids as [Identity, Identity, Identity, Identity, Identity];
  const floodValid = ids.slice(5, 5 + (spec.validIdentities ?? 0));
  if (floodValid.length < (spec.validIdentities ?? 0)) {
    throw new Error(`scenario: ${spec.validIdentities} valid flood identities asked, ${floodValid.length} available (identitiesFile?)`);
  }
  const fam = spec.family;
  const A = FLOOD_ADDRESSES[fam];
  const dir = mkdtempSync(join(tmpdir(), 'ztroot-flood-'));
  const children: ChildProcess[] = [];
  try {
    // The root's state: its identity and a planet listing it at the addresses of this namespace.
    const state = join(dir, 'state');
    const planetFile = join(dir, 'planet');
    mkdirSync(state, { mode: 0o700 });
    writeFileSync(join(state, 'identity.secret'), rootId.toString(true), { mode: 0o600 });
    writeFileSync(join(state, 'identity.public'), rootId.toString(false));
    const planetKey = c25519Generate();
    const world = signWorld(
      {
        type: 'planet',
        id: 0xf100dn,
        timestamp: 1_700_000_000_000,
        updatesMustBeSignedBy: planetKey.publicKey,
        roots: [{ identity: rootId.publicOnly(), stableEndpoints: [{ family: 4, ip: FLOOD_ADDRESSES[4].root, port: ROOT_PORT }, { family: 6, ip: FLOOD_ADDRESSES[6].root, port: ROOT_PORT }] }],
      },
      planetKey,
    );
    writeFileSync(planetFile, serializeWorld(world));
    const target: FloodTarget = { identity: rootId.toString(false), ip: A.root, port: ROOT_PORT, planetId: world.id.toString(), planetTimestamp: world.timestamp };

    const root = spawn(
      process.execPath,
      [...(spec.rootNodeArgs ?? []), CLI, 'start', '--state-dir', state, '--planet', planetFile, '--port', String(ROOT_PORT), '--bind4', FLOOD_ADDRESSES[4].root, '--bind6', FLOOD_ADDRESSES[6].root, '--http', HTTP, '--validation-workers', String(spec.validationWorkers ?? 0)],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    children.push(root);
    const log = countLines(root);
    await log.waitFor('root started', 15_000);

    // The flood generators, built and bound before anything is measured.
    const flooders: Array<{ child: ChildProcess; out: string[] }> = [];
    const perFlooder = Math.ceil(spec.rate / spec.flooders);
    const sources = spec.kind === 'hello' ? floodSources(fam, spec.prefixes ?? 1, spec.perPrefix ?? 1) : [A.whoisFlooder];
    for (let i = 0; i < spec.flooders; i++) {
      const fspec: FlooderSpec =
        spec.kind === 'hello'
          ? {
              kind: 'hello',
              target,
              sources: sources.filter((_, j) => j % spec.flooders === i),
              rate: perFlooder,
              durationMs: spec.durationMs,
              valid: floodValid.filter((_, j) => j % spec.flooders === i).map((id) => id.toString(true)),
              invalid: Math.ceil((spec.invalidIdentities ?? 0) / spec.flooders),
            }
          : { kind: 'whois', target, sources, rate: perFlooder, durationMs: spec.durationMs, peer: whoisId.toString(true), whoisTargets: [aId.address] };
      const child = spawn(process.execPath, [FLOODER, JSON.stringify(fspec)], { stdio: ['pipe', 'pipe', 'inherit'] });
      children.push(child);
      flooders.push({ child, out: jsonLinesOf(child) });
    }

    // The known pair, online before the flood.
    const a = await Peer.open(aId, A.pairA, target, rootId);
    const b = await Peer.open(bId, A.pairB, target, rootId);
    await Promise.all([a.online(10_000), b.online(10_000)]);
    for (const f of flooders) await waitLine(f.child, f.out, (l) => l.ready === true, 120_000);

    const stream = new ProbeStream(a, b, spec.pairRate);
    stream.start();
    await sleep(spec.baselineMs);
    const baselineEnd = stream.seq;

    const cpu0 = rootCpuTicks(root.pid!);
    const main0 = rootCpuTicks(root.pid!, root.pid!);
    const t0 = performance.now();
    for (const f of flooders) f.child.stdin!.write('go\n');
    let newcomer: Promise<{ admittedAfterMs: number | null; hellos: number }> | null = null;
    if (spec.newcomer === true) {
      newcomer = (async () => {
        await sleep(1000);
        const n = await Peer.open(newcomerId, A.newcomer, target, rootId);
        try {
          return await n.admit(spec.durationMs - 1000 + 2000);
        } finally {
          n.close();
        }
      })();
    }
    const floodResults = await Promise.all(flooders.map((f) => waitLine(f.child, f.out, (l) => typeof l.sent === 'number', spec.durationMs + 60_000)));
    const floodEnd = stream.seq;
    const cpuMs = (rootCpuTicks(root.pid!) - cpu0) * (1000 / clockTicks());
    const mainMs = (rootCpuTicks(root.pid!, root.pid!) - main0) * (1000 / clockTicks());
    const floodMs = performance.now() - t0;
    stream.stop();
    const nc = newcomer === null ? null : await newcomer;
    await sleep(spec.cooldownMs ?? 3000);

    const drops = rootSocketDrops(ROOT_PORT);
    const metrics = await scrape();
    root.kill('SIGTERM');
    await Promise.race([once(root, 'exit'), sleep(5000)]);
    a.close();
    b.close();

    const sent = floodResults.reduce((s, r) => s + (r.sent as number), 0);
    const skipped = floodResults.reduce((s, r) => s + (r.skipped as number), 0);
    const elapsedMs = Math.max(...floodResults.map((r) => r.elapsedMs as number));
    const sentToRoot = sent + stream.sentTotal + a.hellos + b.hellos + (nc?.hellos ?? 0);
    return {
      spec,
      flood: { sent, skipped, elapsedMs, ratePerSec: Math.round((sent * 1000) / elapsedMs) },
      rootSocket: { sentToRoot, drops, lossPct: round((100 * drops) / sentToRoot) },
      pairBaseline: stream.figures(0, baselineEnd),
      pairFlood: stream.figures(baselineEnd, floodEnd),
      newcomer: nc,
      log: log.summary(),
      rootCpuPct: round((100 * cpuMs) / floodMs),
      rootMainThreadCpuPct: round((100 * mainMs) / floodMs),
      metrics,
    };
  } finally {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
}

// ---- the pair and the newcomer ----------------------------------------------------------------------

/** A peer of the root on its own socket: HELLO until answered, then probes. */
class Peer {
  hellos = 0;
  readonly key: PeerKey;
  private onProbe: ((buf: Uint8Array) => void) | null = null;
  private onReply: ((buf: Uint8Array) => void) | null = null;
  private helloTimer: NodeJS.Timeout | null = null;

  private constructor(readonly id: Identity, readonly sock: dgram.Socket, readonly target: FloodTarget, readonly root: Identity) {
    this.key = new PeerKey(id.agree(root));
    sock.on('message', (m, rinfo) => {
      const buf = new Uint8Array(m);
      // From the root (source = the root's address): replies, or the root probing our path (answered, as a 1.14
      // client does: root/path-probes.ts); anything else is a relayed probe.
      const fromRoot = buf.length >= 28 && readU40(buf, 13) === root.address;
      if (!fromRoot) return this.onProbe?.(buf);
      const ok = answerRootEcho(buf, id, root, this.key);
      if (ok !== null) sock.send(ok, rinfo.port, rinfo.address);
      else this.onReply?.(buf);
    });
  }

  static async open(id: Identity, ip: string, target: FloodTarget, root: Identity): Promise<Peer> {
    const sock = dgram.createSocket({ type: ip.includes(':') ? 'udp6' : 'udp4', recvBufferSize: 4 << 20 });
    sock.bind(0, ip);
    await once(sock, 'listening');
    return new Peer(id, sock, target, root);
  }

  hello(): void {
    this.hellos++;
    this.sock.send(helloPacket(this.id, this.target, this.root, this.key), this.target.port, this.target.ip);
  }

  /** HELLO every `retryMs` until an OK(HELLO) comes back; ms from the first HELLO, or null after `limitMs`. */
  admit(limitMs: number, retryMs = 1000): Promise<{ admittedAfterMs: number | null; hellos: number }> {
    const t0 = performance.now();
    return new Promise((resolve) => {
      const done = (ms: number | null) => {
        clearInterval(timer);
        clearTimeout(limit);
        this.onReply = null;
        resolve({ admittedAfterMs: ms === null ? null : Math.round(ms), hellos: this.hellos });
      };
      this.onReply = (buf) => {
        try {
          const ok = decodeOk(openPacket(buf, this.key).payload);
          if (ok.kind === 'HELLO') done(performance.now() - t0);
        } catch {
          /* not for us */
        }
      };
      const timer = setInterval(() => this.hello(), retryMs);
      const limit = setTimeout(() => done(null), limitMs);
      this.hello();
    });
  }

  /** Online within `ms`, then a HELLO every 10 s to keep the root's path fresh. */
  async online(ms: number): Promise<void> {
    const r = await this.admit(ms, 500);
    if (r.admittedAfterMs === null) throw new Error(`scenario: ${this.id.address.toString(16)} got no OK(HELLO) within ${ms} ms`);
    this.helloTimer = setInterval(() => this.hello(), 10_000);
  }

  send(buf: Uint8Array): void {
    this.sock.send(buf, this.target.port, this.target.ip);
  }

  probes(fn: (buf: Uint8Array) => void): void {
    this.onProbe = fn;
  }

  close(): void {
    if (this.helloTimer !== null) clearInterval(this.helloTimer);
    this.sock.close();
  }
}

/** Probes both ways between a and b through the root, `rate` per second each way; records what arrives. */
class ProbeStream {
  seq = 0;
  sentTotal = 0;
  private readonly sentAt: number[] = [];
  /** seq → latency (ms), for each direction: index seq*2 + dir. */
  private readonly latency = new Map<number, number>();
  private timer: NodeJS.Timeout | null = null;

  constructor(readonly a: Peer, readonly b: Peer, readonly rate: number) {
    const on = (dir: 0 | 1, from: number) => (buf: Uint8Array) => {
      const p = readProbe(buf, from);
      if (p !== null) this.latency.set(p.seq * 2 + dir, performance.now() - p.sentMs);
    };
    b.probes(on(0, a.id.address));
    a.probes(on(1, b.id.address));
  }

  start(): void {
    const t0 = performance.now();
    this.timer = setInterval(() => {
      const due = Math.floor(((performance.now() - t0) * this.rate) / 1000);
      while (this.seq < due) {
        const now = performance.now();
        this.a.send(probePacket(this.b.id.address, this.a.id.address, this.seq, now));
        this.b.send(probePacket(this.a.id.address, this.b.id.address, this.seq, now));
        this.sentAt.push(now);
        this.sentTotal += 2;
        this.seq++;
      }
    }, 5);
  }

  stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
  }

  /** Loss and latency of probes with seq in [from, to), both directions. */
  figures(from: number, to: number): ProbeFigures {
    const lat: number[] = [];
    for (let s = from; s < to; s++) {
      for (const dir of [0, 1]) {
        const l = this.latency.get(s * 2 + dir);
        if (l !== undefined) lat.push(l);
      }
    }
    lat.sort((x, y) => x - y);
    const sent = (to - from) * 2;
    const q = (f: number) => (lat.length === 0 ? null : round(lat[Math.min(lat.length - 1, Math.floor(f * lat.length))]!));
    return { sent, received: lat.length, lossPct: sent === 0 ? 0 : round((100 * (sent - lat.length)) / sent), p50Ms: q(0.5), p99Ms: q(0.99), maxMs: q(1) };
  }
}

// ---- the root from the outside --------------------------------------------------------------------------

/** Counts the root's JSON log lines, by level and message. */
function countLines(child: ChildProcess) {
  let lines = 0;
  let warn = 0;
  const byMsg: Record<string, number> = {};
  let buf = '';
  let err = '';
  const waiters: Array<{ msg: string; resolve: () => void }> = [];
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  child.stdout!.on('data', (d: Buffer) => {
    buf += d.toString();
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const text = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      lines++;
      let l: { level?: number; msg?: string } = {};
      try {
        l = JSON.parse(text) as typeof l;
      } catch {
        /* not JSON */
      }
      if ((l.level ?? 0) >= 40) warn++;
      const m = l.msg ?? text.slice(0, 60);
      byMsg[m] = (byMsg[m] ?? 0) + 1;
      for (const w of waiters.splice(0)) if (w.msg === m) w.resolve();
      else waiters.push(w);
    }
  });
  return {
    summary: () => ({ lines, warn, byMsg }),
    waitFor(msg: string, ms: number): Promise<void> {
      if (byMsg[msg] !== undefined) return Promise.resolve();
      return new Promise((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`scenario: the root did not log "${msg}" within ${ms} ms; stderr: ${err.slice(-2000)}`)), ms);
        waiters.push({ msg, resolve: () => (clearTimeout(t), resolve()) });
        child.once('exit', (code) => reject(new Error(`scenario: the root exited (${code}) before "${msg}"; stderr: ${err.slice(-2000)}`)));
      });
    },
  };
}

/** Sum of the "drops" column of every UDP socket bound to `port` in this namespace (/proc/net/udp, udp6). */
function rootSocketDrops(port: number): number {
  let drops = 0;
  const hexPort = `:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  for (const f of ['/proc/net/udp', '/proc/net/udp6']) {
    for (const line of readFileSync(f, 'utf8').split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/);
      if (cols.length < 13 || !cols[1]!.endsWith(hexPort)) continue;
      drops += Number(cols[cols.length - 1]);
    }
  }
  return drops;
}

/** utime + stime of a process and all its threads, or of one thread, in clock ticks (stat fields 14, 15). */
function rootCpuTicks(pid: number, tid?: number): number {
  const stat = readFileSync(tid === undefined ? `/proc/${pid}/stat` : `/proc/${pid}/task/${tid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(f[11]) + Number(f[12]);
}

function clockTicks(): number {
  return 100; // USER_HZ on every Linux the tests run on
}

async function scrape(): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  try {
    const text = await (await fetch(`http://${HTTP}/metrics`)).text();
    for (const line of text.split('\n')) {
      if (!line.startsWith('ztroot_') || line.startsWith('ztroot_process') || line.startsWith('ztroot_nodejs')) continue;
      const sp = line.lastIndexOf(' ');
      const v = Number(line.slice(sp + 1));
      if (v !== 0) out[line.slice(0, sp)] = v;
    }
  } catch (e) {
    out.scrape_failed = 1;
    process.stderr.write(`scenario: /metrics: ${(e as Error).message}\n`);
  }
  return out;
}

// ---- small helpers -----------------------------------------------------------------------------------------

function readU40(b: Uint8Array, o: number): number {
  return b[o]! * 2 ** 32 + ((b[o + 1]! << 24) >>> 0) + ((b[o + 2]! << 16) | (b[o + 3]! << 8) | b[o + 4]!);
}

/** The lines a child prints, as they come (a live array). */
function jsonLinesOf(child: ChildProcess): string[] {
  const lines: string[] = [];
  let buf = '';
  child.stdout!.on('data', (d: Buffer) => {
    buf += d.toString();
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      lines.push(buf.slice(0, nl));
      buf = buf.slice(nl + 1);
    }
  });
  return lines;
}

async function waitLine(child: ChildProcess, lines: string[], pred: (l: Record<string, unknown>) => boolean, ms: number): Promise<Record<string, unknown>> {
  const deadline = performance.now() + ms;
  while (performance.now() < deadline) {
    for (const l of lines) {
      try {
        const o = JSON.parse(l) as Record<string, unknown>;
        if (pred(o)) return o;
      } catch {
        /* ignore */
      }
    }
    if (child.exitCode !== null) throw new Error(`scenario: a flooder exited with ${child.exitCode}: ${lines.join(' | ')}`);
    await sleep(50);
  }
  throw new Error(`scenario: a flooder said nothing expected within ${ms} ms: ${lines.join(' | ')}`);
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

function round(x: number): number {
  return Math.round(x * 100) / 100;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  runScenario(JSON.parse(process.argv[2] ?? '{}') as ScenarioSpec).then(
    (r) => {
      process.stdout.write(`${JSON.stringify(r)}\n`);
      process.exit(0);
    },
    (e: unknown) => {
      process.stderr.write(`scenario failed: ${e instanceof Error ? e.stack : String(e)}\n`);
      process.exit(1);
    },
  );
}
