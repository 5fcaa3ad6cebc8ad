/**
 * `ztroot bench relay`, part 1: CPU time per relayed packet at a fixed rate, and the maximum rate, for every
 * forwarder we can run side by side in one session (issue 15's acceptance line):
 *
 *   ours, batched   — the RootServer on native/udp (recvmmsg/sendmmsg), a child process
 *   ours, dgram     — the RootServer on node:dgram (ZTROOT_UDP=dgram), a child process
 *   plain dgram     — a Map lookup and a dgram send per datagram (lives in the dgram child; its root is idle)
 *   C recvmmsg      — tools/bench/relay-forwarder.c, compiled here into a temp dir when `cc` exists
 *   root.cpp        — ZeroTier's dedicated root when ZT_ROOT_BIN points at one (not run by this version: see below)
 *
 * The load: 100-byte relayed datagrams between 1,000 peer pairs, from a generator and to a sink in this process,
 * both on native/udp when it loads (so that the generator can offer far more than any forwarder relays) and on
 * node:dgram otherwise. First with the forwarder pinned to core 0 and this process to core 1 (taskset), then both
 * allowed on both cores. CPU per packet = the forwarder's process CPU time (all threads, /proc/<pid>/stat) over
 * the relayed datagrams counted at the sink. The maximum rate is what reaches the sink while the generator
 * offers as much as it can: when the generator is the limit, the figure says so ("≥").
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import dgram from 'node:dgram';
import net from 'node:net';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { BatchedUdpSocket, loadUdpAddon } from '../../relay/udp-socket.js';

const C_SOURCE = fileURLToPath(new URL('../../../tools/bench/relay-forwarder.c', import.meta.url));
const LOCALHOST = '127.0.0.1';
const FIXED_PPS = 50_000;
const FRAME = 100;
/** /proc/<pid>/stat counts in clock ticks; Linux's USER_HZ is 100 on every common build. */
const TICK_US = 10_000;

export interface Forwarder {
  name: string;
  pid: number;
  port: number;
}

export interface CpuRow {
  name: string;
  cores: string;
  /** CPU µs per relayed packet at FIXED_PPS offered. */
  usPerPacket: number;
  /** Relayed at FIXED_PPS offered (pps), to show losses. */
  fixedRate: number;
  /** Relayed per second with the generator flat out. */
  maxRate: number;
  /** The generator's own rate in that run: when maxRate is close to it, the generator was the limit. */
  offered: number;
  /** CPU of the forwarder at the maximum (share of one core). */
  maxCpu: number;
  /** At the maximum: datagrams the kernel dropped at the forwarder's socket, and at the sink's. */
  maxDropsIn: number;
  maxDropsSink: number;
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Process CPU time in µs, all threads (utime + stime of /proc/<pid>/stat). */
export function processCpuUs(pid: number): number {
  const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) * TICK_US; // fields 14 and 15, counted from after "pid (comm) "
}

/** Pins every thread of `pid` to `cpus` ("0", "1", "0,1"); false when taskset is missing or refuses. */
export function pin(pid: number, cpus: string): boolean {
  const r = spawnSync('taskset', ['-a', '-pc', cpus, String(pid)], { stdio: 'ignore' });
  return r.status === 0;
}

/** Compiles the C forwarder into `dir`; the binary's path, or why not. */
export function compileForwarder(dir: string): { bin: string } | { why: string } {
  if (!existsSync(C_SOURCE)) return { why: `its source ${C_SOURCE} is missing` };
  const bin = join(dir, 'relay-forwarder');
  const r = spawnSync('cc', ['-O2', '-o', bin, C_SOURCE], { encoding: 'utf8' });
  if (r.error !== undefined) return { why: 'no C compiler (cc) on this host' };
  if (r.status !== 0) return { why: `cc failed: ${r.stderr.split('\n')[0]}` };
  return { bin };
}

/** Starts the C forwarder relaying the given addresses to the sink. */
export async function startCForwarder(bin: string, dir: string, sinkPort: number, addrs: number[], children: Set<ChildProcess>): Promise<Forwarder> {
  const file = join(dir, 'addresses.txt');
  writeFileSync(file, addrs.map((a) => a.toString(16)).join('\n') + '\n');
  const c = spawn(bin, [String(sinkPort), file], { stdio: ['ignore', 'pipe', 'inherit'] });
  children.add(c);
  c.on('exit', () => children.delete(c));
  const port = await new Promise<number>((resolve, reject) => {
    let out = '';
    c.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /port (\d+)/.exec(out);
      if (m) resolve(Number(m[1]));
    });
    c.once('exit', (code) => reject(new Error(`the C forwarder exited (${code}) before binding`)));
  });
  return { name: 'C recvmmsg/sendmmsg forwarder', pid: c.pid!, port };
}

/** Messages between the benchmark and its sink child (relay-load.js sink). */
export type SinkMessage =
  | { type: 'sink'; port: number; kind: string }
  | { type: 'count'; relayed: number; other: number }
  | { type: 'sent'; n: number };
/** Requests to the sink: its counts, or datagrams to send from its socket (HELLOs that make it every peer's path). */
export type SinkRequest = { type: 'count' } | { type: 'send'; port: number; packets: Uint8Array[] };

/**
 * The sink, a child process of its own (relay-load.js sink): counts the relayed datagrams (FRAME bytes) and the
 * rest (RENDEZVOUS). Apart from the generator so that a generator running flat out cannot starve it.
 */
export async function sinkRole(): Promise<void> {
  let relayed = 0;
  let other = 0;
  const count = (len: number): void => {
    if (len === FRAME) relayed++;
    else other++;
  };
  const l = loadUdpAddon();
  let port: number;
  let kind: string;
  let send: (b: Uint8Array, port: number) => void;
  if ('addon' in l) {
    const rx = new BatchedUdpSocket(l.addon, { family: 4, address: LOCALHOST, port: 0 }, (buf) => count(buf.length));
    port = rx.address().port;
    kind = 'native/udp';
    send = (b, p) => rx.send(b, p, LOCALHOST);
  } else {
    const rx = dgram.createSocket({ type: 'udp4', recvBufferSize: 4 << 20 });
    await new Promise<void>((r) => rx.bind(0, LOCALHOST, r));
    rx.on('message', (m) => count(m.length));
    port = rx.address().port;
    kind = 'node:dgram';
    send = (b, p) => rx.send(b, p, LOCALHOST);
  }
  process.on('disconnect', () => process.exit(0));
  process.on('message', (m: SinkRequest) => {
    if (m.type === 'count') return process.send!({ type: 'count', relayed, other } satisfies SinkMessage);
    void (async () => {
      // In slices: a thousand HELLOs at once would overflow a receive queue.
      for (let i = 0; i < m.packets.length; i += 50) {
        for (const p of m.packets.slice(i, i + 50)) send(p, m.port);
        await sleep(5);
      }
      process.send!({ type: 'sent', n: m.packets.length } satisfies SinkMessage);
    })();
  });
  process.send!({ type: 'sink', port, kind } satisfies SinkMessage);
}

/** The generator (this process) and the sink (a child): on native/udp when it loads, else node:dgram. */
export class Load {
  private sentTotal = 0;
  private readonly tx: { send(b: Uint8Array, port: number, ip: string): void; flush(): void; close(): void };
  readonly kind: string;

  private constructor(
    tx: Load['tx'],
    private readonly sink: ChildProcess,
    readonly sinkPort: number,
    readonly sinkPid: number,
    kind: string,
  ) {
    this.tx = tx;
    this.kind = kind;
  }

  static async open(spawnSink: () => ChildProcess): Promise<Load> {
    const sink = spawnSink();
    const hello = await new Promise<Extract<SinkMessage, { type: 'sink' }>>((resolve, reject) => {
      sink.once('message', (m: SinkMessage) => (m.type === 'sink' ? resolve(m) : reject(new Error('sink: unexpected message'))));
      sink.once('exit', (code) => reject(new Error(`the sink exited (${code})`)));
    });
    const l = loadUdpAddon();
    if ('addon' in l) {
      const tx = new BatchedUdpSocket(l.addon, { family: 4, address: LOCALHOST, port: 0 }, () => undefined);
      return new Load({ send: (b, p, ip) => tx.send(b, p, ip), flush: () => tx.flush(), close: () => void tx.close() }, sink, hello.port, sink.pid!, `generator native/udp, sink ${hello.kind} (own process)`);
    }
    const tx = dgram.createSocket({ type: 'udp4', sendBufferSize: 4 << 20 });
    await new Promise<void>((r) => tx.bind(0, LOCALHOST, r));
    return new Load({ send: (b, p, ip) => tx.send(b, p, ip), flush: () => undefined, close: () => tx.close() }, sink, hello.port, sink.pid!, `generator node:dgram, sink ${hello.kind} (own process)`);
  }

  /** Relayed datagrams the sink has counted so far. */
  relayed(): Promise<number> {
    return new Promise((resolve) => {
      const on = (m: SinkMessage): void => {
        if (m.type !== 'count') return;
        this.sink.off('message', on);
        resolve(m.relayed);
      };
      this.sink.on('message', on);
      this.sink.send({ type: 'count' } satisfies SinkRequest);
    });
  }

  get sent(): number {
    return this.sentTotal;
  }

  /** Sends `packets` to `port` from the sink's socket (so that the sink is where their senders are). */
  sendFromSink(port: number, packets: Uint8Array[]): Promise<void> {
    return new Promise((resolve) => {
      const on = (m: SinkMessage): void => {
        if (m.type !== 'sent') return;
        this.sink.off('message', on);
        resolve();
      };
      this.sink.on('message', on);
      this.sink.send({ type: 'send', port, packets } satisfies SinkRequest);
    });
  }

  /** Offers `pps` (Infinity: as fast as this process can) to `port` for `ms`, cycling through `pkts`. */
  async offer(port: number, pkts: Uint8Array[], pps: number, ms: number): Promise<void> {
    let i = 0;
    const t0 = performance.now();
    const start = this.sentTotal;
    await new Promise<void>((resolve) => {
      const tick = (): void => {
        const t = performance.now() - t0;
        const due = pps === Infinity ? this.sentTotal - start + 256 : Math.floor((t * pps) / 1000);
        let n = Math.min(due - (this.sentTotal - start), 4096);
        while (n-- > 0) {
          this.tx.send(pkts[i]!, port, LOCALHOST);
          i = i + 1 === pkts.length ? 0 : i + 1;
          this.sentTotal++;
        }
        this.tx.flush();
        if (t >= ms) resolve();
        else if (pps === Infinity) setImmediate(tick);
        else setTimeout(tick, 1);
      };
      tick();
    });
  }

  close(): void {
    this.tx.close();
    this.sink.kill('SIGKILL');
  }
}

/** Datagrams the kernel dropped on the IPv4 UDP sockets bound to `port` (127.0.0.1 or any) so far (/proc/net/udp "drops"). */
export function socketDrops(port: number): number {
  const p = `:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  let n = 0;
  for (const line of readFileSync('/proc/net/udp', 'utf8').split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f[1] === `0100007F${p}` || f[1] === `00000000${p}`) n += Number(f[12] ?? 0);
  }
  return n;
}

/** One forwarder at the fixed rate and flat out. */
export async function measureForwarder(load: Load, f: Forwarder, pkts: Uint8Array[], cores: string, ms: number): Promise<CpuRow> {
  // Warm-up: JIT, peer-table caches, the first-hop introductions of every pair.
  await load.offer(f.port, pkts, FIXED_PPS, 300);
  await sleep(50);
  const fixed = await window(load, f, () => load.offer(f.port, pkts, FIXED_PPS, ms));
  await sleep(50);
  const max = await window(load, f, () => load.offer(f.port, pkts, Infinity, ms));
  await sleep(100); // let the forwarder drain before the next one
  return {
    name: f.name,
    cores,
    usPerPacket: fixed.relayed > 0 ? fixed.cpuUs / fixed.relayed : NaN,
    fixedRate: (fixed.relayed * 1000) / fixed.wallMs,
    maxRate: (max.relayed * 1000) / max.wallMs,
    offered: (max.sent * 1000) / max.wallMs,
    maxCpu: max.cpuUs / (max.wallMs * 1000),
    maxDropsIn: max.dropsIn,
    maxDropsSink: max.dropsSink,
  };
}

interface Window {
  cpuUs: number;
  relayed: number;
  sent: number;
  wallMs: number;
  /** Kernel drops on the forwarder's socket (its receive queue overflowed) and on the sink's. */
  dropsIn: number;
  dropsSink: number;
}

async function window(load: Load, f: Forwarder, run: () => Promise<void>): Promise<Window> {
  const d0 = socketDrops(f.port);
  const k0 = socketDrops(load.sinkPort);
  const c0 = processCpuUs(f.pid);
  const r0 = await load.relayed();
  const s0 = load.sent;
  const t0 = performance.now();
  await run();
  await sleep(20); // the datagrams still in flight arrive; their CPU is in the forwarder's figure too
  const cpuUs = processCpuUs(f.pid) - c0;
  const wallMs = performance.now() - t0;
  const relayed = (await load.relayed()) - r0;
  return { cpuUs, relayed, sent: load.sent - s0, wallMs, dropsIn: socketDrops(f.port) - d0, dropsSink: socketDrops(load.sinkPort) - k0 };
}

export function printCpuRows(rows: CpuRow[], skipped: string[], loadKind: string): void {
  console.log(`\n## relay: CPU per relayed packet at ${FIXED_PPS / 1000} k pps offered, and the maximum rate (${FRAME} B datagrams, 1,000 peer pairs, loopback; generator + sink: ${loadKind})`);
  console.log(`  ${'forwarder'.padEnd(34)} ${'cores'.padEnd(32)} ${'CPU/packet'.padStart(10)} ${'relayed @50k'.padStart(12)} ${'max relayed/s'.padStart(14)} ${'(offered)'.padStart(10)} ${'CPU at max'.padStart(10)} ${'max per core'.padStart(12)} ${'drops in/sink at max'.padStart(21)}`);
  for (const r of rows) {
    const limited = r.maxRate > 0.9 * r.offered ? '≥' : ' ';
    console.log(
      `  ${r.name.padEnd(34)} ${r.cores.padEnd(32)} ${`${r.usPerPacket.toFixed(2)} µs`.padStart(10)} ${`${(r.fixedRate / 1000).toFixed(1)} k`.padStart(12)} ${`${limited}${(r.maxRate / 1000).toFixed(0)} k`.padStart(14)} ${`${(r.offered / 1000).toFixed(0)} k`.padStart(10)} ${`${(100 * r.maxCpu).toFixed(0)} %`.padStart(10)} ${`${(r.maxRate / Math.max(r.maxCpu, 1e-9) / 1000).toFixed(0)} k`.padStart(12)} ${`${r.maxDropsIn}/${r.maxDropsSink}`.padStart(21)}`,
    );
  }
  for (const s of skipped) console.log(`  ${s}`);
  console.log("  CPU/packet: the forwarder process's CPU time (all threads, /proc/<pid>/stat, 10 ms ticks) over the datagrams relayed; '≥': the generator, not the forwarder, was the limit");
  console.log('  max per core: the maximum rate over the share of a core the forwarder got meanwhile (on a shared machine a pinned forwarder does not get its whole core)');
}

/** A temp dir for the compiled forwarder, removed by the returned function. */
export function tempDir(): { dir: string; remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'ztroot-bench-relay-'));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** A free port on 127.0.0.1 for `kind` (probed by binding port 0 and closing). */
async function freePort(kind: 'udp' | 'tcp'): Promise<number> {
  if (kind === 'udp') {
    const s = dgram.createSocket('udp4');
    await new Promise<void>((r) => s.bind(0, LOCALHOST, r));
    const p = s.address().port;
    await new Promise<void>((r) => s.close(() => r()));
    return p;
  }
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, LOCALHOST, r));
  const p = (srv.address() as net.AddressInfo).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return p;
}

/**
 * Starts ZeroTier's root.cpp (`zerotier-root <identity.secret> <config.json>`, its config as documented at the top of
 * root/root.cpp: port, httpPort, relayMaxHops) in `dir`, and makes every peer known to it with a HELLO from the
 * sink's socket, as a client would (root.cpp validates each identity in a background thread and forgets the ones
 * that do not validate: the peers must be real identities).
 */
export async function startRootCpp(bin: string, dir: string, rootSecret: string, hellos: (port: number) => Uint8Array[], load: Load, children: Set<ChildProcess>): Promise<Forwarder> {
  const port = await freePort('udp');
  const httpPort = await freePort('tcp');
  writeFileSync(join(dir, 'identity.secret'), rootSecret + '\n', { mode: 0o600 });
  writeFileSync(join(dir, 'config.json'), JSON.stringify({ name: 'bench', port, httpPort, relayMaxHops: 3 }));
  const c = spawn(bin, [join(dir, 'identity.secret'), join(dir, 'config.json')], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(c);
  let log = '';
  c.stdout!.on('data', (d: Buffer) => (log = (log + d.toString()).slice(-2000)));
  c.stderr!.on('data', (d: Buffer) => (log = (log + d.toString()).slice(-2000)));
  let exited: string | null = null;
  c.on('exit', (code, sig) => {
    children.delete(c);
    exited = `exited (${code ?? sig})`;
  });
  await sleep(500);
  if (exited !== null) throw new Error(`root.cpp ${exited}: ${log.trim().split('\n').slice(-3).join(' | ')}`);
  const before = await load.relayed();
  await load.sendFromSink(port, hellos(port));
  await sleep(1500); // OK(HELLO)s, and the validation thread (an invalid identity would be forgotten)
  if (exited !== null) throw new Error(`root.cpp ${exited}: ${log.trim().split('\n').slice(-3).join(' | ')}`);
  void before;
  return { name: "ZeroTier's root.cpp", pid: c.pid!, port };
}
