/**
 * `ztroot bench tap`: frames through the TAP layer alone (leaf/tap.ts), beside a reference measured in the same
 * run. Needs root: the device lives in a network namespace of its own (test/netns.ts), so nothing touches the
 * host's network.
 *
 * The loop: a frame written to the TAP (UDP in IPv4, 10.200.0.3 → 10.200.0.2, to the device's own MAC) is
 * forwarded by the kernel straight back out of the same device (10.200.0.2 is a permanent neighbour on it), and
 * arrives as a 'frame' event: one write(), the kernel's receive + forward + transmit path, one epoll wake-up and
 * one read() per frame.
 *
 *   latency     one frame in flight, written from its own turn of the event loop: write → its 'frame' event,
 *               median and 99th percentile
 *   wake-up     a frame from another process (UDP to 10.200.0.2, its send time from the shared monotonic clock in
 *               the payload) while the loop is idle → its 'frame' event, median and 99th percentile
 *   throughput  64 frames in flight, each arrival writes the next: frames/s through both directions
 *   write       write() alone (frames to another MAC, which the kernel drops on receipt)
 *
 * References: the same two loops over a UDP socket pair on loopback (Node's own datagram I/O through the kernel),
 * and `fs.writeSync` on the TAP fd for the write path. Figures move with the machine's load: quote them so.
 */
import { spawn } from 'node:child_process';
import { writeSync } from 'node:fs';
import { createSocket } from 'node:dgram';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { openTap, tapUnavailableReason, type TapDevice } from '../../leaf/tap.js';
import type { TapSys } from '../../leaf/tap-sys.js';
import { nativeTapSys } from '../../leaf/tap-native.js';
import { netnsUnavailableReason, withTopology } from '../../test/netns.js';
import { report, type Measurement } from './harness.js';

const SCRIPT = fileURLToPath(import.meta.url);
/** Frames in flight in the throughput loop. */
const WINDOW = 64;
/** UDP payload sizes: a small packet and a full-size one (frame = payload + 42). */
const SIZES = [100, 1400];
const TAP_MAC = 0x02aabbccdd01n;
const PEER_MAC = [0x02, 0, 0, 0, 0, 0x02];
const UDP_PORT = 9999;

function benchMs(): number {
  return Number(process.env.ZTROOT_BENCH_MS ?? 1000);
}

// ---------------------------------------------------------------------------------------------------------------
// Parent: sets up the namespace and prints the figures

interface Latency {
  medianUs: number;
  p99Us: number;
  n: number;
}

interface WorkerResult {
  backend: string;
  size: number;
  latency: Latency;
  udpLatency: Latency;
  wake: Latency;
  udpWake: Latency;
  loop: Rate;
  udpLoop: Rate;
  write: Rate;
  fsWrite: Rate;
}

export async function run(): Promise<void> {
  console.log('\n## tap: frames through the TAP layer alone (kernel forwards each frame back out of the device)');
  const why = netnsUnavailableReason() ?? tapUnavailableReason();
  if (why !== null) {
    console.log(`  skipped: ${why}`);
    return;
  }
  const results = await withTopology({ ipv6: false }, async (t) => {
    const child = spawn('ip', ['netns', 'exec', t.root.ns, process.execPath, SCRIPT, 'worker'], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const code = await new Promise<number | null>((r) => child.on('exit', r));
    if (code !== 0) throw new Error(`tap bench worker exited with ${code}`);
    return out
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as WorkerResult);
  });
  for (const size of SIZES) {
    const rs = results.filter((r) => r.size === size);
    const frame = size + 42;
    report(
      `tap ${frame}-byte frames (${size} B UDP payload), ${WINDOW} in flight`,
      rs.flatMap((r) => [
        { ours: r.loop, reference: r.udpLoop },
        { ours: r.write, reference: r.fsWrite },
      ]),
    );
    const lat = (l: Latency): string => `median ${l.medianUs.toFixed(1)} µs, p99 ${l.p99Us.toFixed(1)} µs`;
    const cpu = (m: Rate): string => `${m.cpuUsPerOp.toFixed(2)} µs`;
    for (const r of rs) {
      console.log(
        `  ${r.backend}: CPU time per frame (all threads): loop ${cpu(r.loop)} (UDP pair ${cpu(r.udpLoop)}), write() ${cpu(r.write)} (fs.writeSync ${cpu(r.fsWrite)})`,
      );
      console.log(`  ${r.backend}: one frame in flight, write → 'frame' event: ${lat(r.latency)} (UDP loopback send → 'message': ${lat(r.udpLatency)})`);
      console.log(`  ${r.backend}: from another process to an idle loop, send → 'frame' event: ${lat(r.wake)} (UDP loopback: ${lat(r.udpWake)})`);
    }
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Worker: runs inside the namespace

function ipv4Checksum(b: Uint8Array, off: number): number {
  let sum = 0;
  for (let i = 0; i < 20; i += 2) sum += (b[off + i]! << 8) | b[off + i + 1]!;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

/** Ethernet + IPv4 + UDP (checksum 0), `payload` bytes, to `dstMac`. */
function udpFrame(dstMac: Uint8Array, payload: number): Buffer {
  const f = Buffer.alloc(14 + 20 + 8 + payload);
  f.set(dstMac, 0);
  f.set(PEER_MAC, 6);
  f.writeUInt16BE(0x0800, 12);
  const ip = 14;
  f[ip] = 0x45;
  f.writeUInt16BE(20 + 8 + payload, ip + 2);
  f[ip + 8] = 64; // TTL
  f[ip + 9] = 17; // UDP
  f.set([10, 200, 0, 3], ip + 12);
  f.set([10, 200, 0, 2], ip + 16);
  f.writeUInt16BE(ipv4Checksum(f, ip), ip + 10);
  f.writeUInt16BE(UDP_PORT, ip + 20);
  f.writeUInt16BE(UDP_PORT, ip + 22);
  f.writeUInt16BE(8 + payload, ip + 24);
  return f;
}

/** Our frame coming back: IPv4 UDP to UDP_PORT (the kernel also sends IPv6 and ARP noise). */
function isLoopFrame(f: Uint8Array): boolean {
  return f.length >= 42 && f[12] === 0x08 && f[13] === 0x00 && f[23] === 17 && ((f[36]! << 8) | f[37]!) === UDP_PORT;
}

/** A throughput figure with the process's CPU time (user + system, all threads) per operation. */
type Rate = Measurement & { cpuUsPerOp: number };

function cpuPer(since: NodeJS.CpuUsage, ops: number): number {
  const d = process.cpuUsage(since);
  return (d.user + d.system) / ops;
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? NaN;
}

function summarize(samples: number[]): Latency {
  samples.sort((a, b) => a - b);
  return { medianUs: percentile(samples, 0.5), p99Us: percentile(samples, 0.99), n: samples.length };
}

async function tapLatency(tap: TapDevice, frame: Buffer, ms: number): Promise<Latency> {
  const samples: number[] = [];
  const end = performance.now() + ms;
  await new Promise<void>((resolve, reject) => {
    let sent = 0;
    const timer = setTimeout(() => reject(new Error('tap latency: a frame did not come back within 5 s')), ms + 5000);
    const onFrame = (f: Uint8Array): void => {
      if (!isLoopFrame(f)) return;
      const now = performance.now();
      samples.push((now - sent) * 1000);
      if (now >= end) {
        clearTimeout(timer);
        tap.off('frame', onFrame);
        return resolve();
      }
      // The next write comes from another turn of the loop, as a frame from the network would: a write from inside
      // the 'frame' handler could be read back in the same callback and never wait for a wake-up.
      setImmediate(() => {
        sent = performance.now();
        tap.write(frame);
      });
    };
    tap.on('frame', onFrame);
    sent = performance.now();
    tap.write(frame);
  });
  return summarize(samples);
}

async function tapLoop(name: string, tap: TapDevice, frame: Buffer, ms: number): Promise<Rate> {
  let cpu0 = process.cpuUsage();
  let got = 0;
  let start = 0;
  let warm = true;
  const warmMs = Math.min(200, ms / 5);
  const t0 = performance.now();
  return new Promise<Rate>((resolve, reject) => {
    let outstanding = 0;
    const timer = setTimeout(() => reject(new Error(`tap loop: frames stopped coming back (${got} so far)`)), ms + warmMs + 5000);
    const onFrame = (f: Uint8Array): void => {
      if (!isLoopFrame(f)) return;
      outstanding--;
      const now = performance.now();
      if (warm && now - t0 >= warmMs) {
        warm = false;
        start = now;
        cpu0 = process.cpuUsage();
        got = 0;
      }
      got++;
      if (!warm && now - start >= ms) {
        if (outstanding === 0) {
          clearTimeout(timer);
          tap.off('frame', onFrame);
          resolve({ name, opsPerSec: (got * 1000) / (now - start), bytesPerOp: frame.length, cpuUsPerOp: cpuPer(cpu0, got) });
        }
        return;
      }
      if (tap.write(frame)) outstanding++;
    };
    tap.on('frame', onFrame);
    for (let i = 0; i < WINDOW; i++) if (tap.write(frame)) outstanding++;
  });
}

async function udpPair(): Promise<{ a: ReturnType<typeof createSocket>; b: ReturnType<typeof createSocket>; port: number; close(): void }> {
  const a = createSocket('udp4');
  const b = createSocket('udp4');
  await new Promise<void>((r) => a.bind(0, '127.0.0.1', r));
  await new Promise<void>((r) => b.bind(0, '127.0.0.1', r));
  return { a, b, port: b.address().port, close: () => (a.close(), b.close()) };
}

async function udpLatency(payload: Buffer, ms: number): Promise<Latency> {
  const p = await udpPair();
  const samples: number[] = [];
  const end = performance.now() + ms;
  await new Promise<void>((resolve) => {
    let sent = 0;
    p.b.on('message', () => {
      const now = performance.now();
      samples.push((now - sent) * 1000);
      if (now >= end) return resolve();
      setImmediate(() => {
        sent = performance.now();
        p.a.send(payload, p.port, '127.0.0.1');
      });
    });
    sent = performance.now();
    p.a.send(payload, p.port, '127.0.0.1');
  });
  p.close();
  return summarize(samples);
}

/** Interval between the sender's datagrams: long enough for the loop to go idle between them. */
const WAKE_INTERVAL_MS = 1;

/**
 * Wake-up latency from another process: a sender child alternates datagrams to 10.200.0.2 (out of the TAP) and to
 * our UDP socket, each carrying process.hrtime.bigint() (CLOCK_MONOTONIC, the same clock in every process).
 */
async function wakeLatency(tap: TapDevice, size: number, ms: number): Promise<{ wake: Latency; udpWake: Latency }> {
  const sock = createSocket('udp4');
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', r));
  const tapSamples: number[] = [];
  const udpSamples: number[] = [];
  const since = (b: Uint8Array, off: number): number => Number(process.hrtime.bigint() - Buffer.from(b.buffer, b.byteOffset, b.byteLength).readBigUInt64BE(off)) / 1000;
  const onFrame = (f: Uint8Array): void => {
    if (isLoopFrame(f) && f.length >= 50) tapSamples.push(since(f, 42));
  };
  tap.on('frame', onFrame);
  sock.on('message', (m) => udpSamples.push(since(m, 0)));
  const count = Math.max(50, Math.round(ms / WAKE_INTERVAL_MS));
  const child = spawn(process.execPath, [SCRIPT, 'sender', String(count), String(size), String(sock.address().port)], { stdio: ['ignore', 'ignore', 'inherit'] });
  await new Promise((r) => child.on('exit', r));
  await new Promise((r) => setTimeout(r, 50));
  tap.off('frame', onFrame);
  sock.close();
  return { wake: summarize(tapSamples), udpWake: summarize(udpSamples) };
}

/** The sender child of {@link wakeLatency}. */
async function sender(count: number, size: number, port: number): Promise<void> {
  const s = createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, r));
  const payload = Buffer.alloc(Math.max(8, size));
  for (let i = 0; i < 2 * count; i++) {
    await new Promise((r) => setTimeout(r, WAKE_INTERVAL_MS / 2));
    payload.writeBigUInt64BE(process.hrtime.bigint(), 0);
    s.send(payload, i % 2 === 0 ? UDP_PORT : port, i % 2 === 0 ? '10.200.0.2' : '127.0.0.1');
  }
  await new Promise((r) => setTimeout(r, 20));
  s.close();
}

async function udpLoop(payload: Buffer, frameLen: number, ms: number): Promise<Rate> {
  const p = await udpPair();
  let cpu0 = process.cpuUsage();
  const warmMs = Math.min(200, ms / 5);
  const t0 = performance.now();
  let got = 0;
  let start = 0;
  let warm = true;
  const m = await new Promise<Rate>((resolve) => {
    let outstanding = WINDOW;
    p.b.on('message', () => {
      outstanding--;
      const now = performance.now();
      if (warm && now - t0 >= warmMs) {
        warm = false;
        start = now;
        cpu0 = process.cpuUsage();
        got = 0;
      }
      got++;
      if (!warm && now - start >= ms) {
        if (outstanding === 0) resolve({ name: 'UDP loopback pair', opsPerSec: (got * 1000) / (now - start), bytesPerOp: frameLen, cpuUsPerOp: cpuPer(cpu0, got) });
        return;
      }
      outstanding++;
      p.a.send(payload, p.port, '127.0.0.1');
    });
    for (let i = 0; i < WINDOW; i++) p.a.send(payload, p.port, '127.0.0.1');
  });
  p.close();
  return m;
}

function writeRate(name: string, write: (f: Buffer) => unknown, frame: Buffer, ms: number): Rate {
  const batch = 256;
  const warmUntil = performance.now() + Math.min(200, ms / 5);
  while (performance.now() < warmUntil) for (let i = 0; i < batch; i++) write(frame);
  let calls = 0;
  const cpu0 = process.cpuUsage();
  const start = performance.now();
  let now = start;
  while (now - start < ms) {
    for (let i = 0; i < batch; i++) write(frame);
    calls++;
    now = performance.now();
  }
  return { name, opsPerSec: (calls * batch * 1000) / (now - start), bytesPerOp: frame.length, cpuUsPerOp: cpuPer(cpu0, calls * batch) };
}

async function ip(...args: string[]): Promise<void> {
  const r = spawn('ip', args, { stdio: ['ignore', 'ignore', 'inherit'] });
  const code = await new Promise<number | null>((res) => r.on('exit', res));
  if (code !== 0) throw new Error(`ip ${args.join(' ')} exited with ${code}`);
}

async function sysctl(...settings: string[]): Promise<void> {
  const r = spawn('sysctl', ['-q', '-w', ...settings], { stdio: ['ignore', 'ignore', 'inherit'] });
  await new Promise((res) => r.on('exit', res));
}

/** The backends measured: the product's addon, and any other given by ZTROOT_BENCH_TAP_SYS=<module path>. */
async function backends(): Promise<Array<[string, TapSys]>> {
  const out: Array<[string, TapSys]> = [['native addon', nativeTapSys()]];
  const extra = process.env.ZTROOT_BENCH_TAP_SYS;
  if (extra) {
    const mod = (await import(extra)) as { benchTapSys(): [string, TapSys] };
    out.push(mod.benchTapSys());
  }
  return out;
}

async function worker(): Promise<void> {
  const ms = benchMs();
  // Forwarding back out of the same device without ICMP redirects (which would add ARP traffic to the loop).
  await sysctl('net.ipv4.ip_forward=1', 'net.ipv4.conf.all.send_redirects=0', 'net.ipv4.conf.default.send_redirects=0');
  for (const [backend, sys] of await backends()) {
    const tap = await openTap({ nwid: 0xfeedfacecafe0001n, mac: TAP_MAC, mtu: 2800 }, sys);
    await sysctl(`net.ipv4.conf.${tap.name}.send_redirects=0`);
    await tap.setAddresses([{ ip: '10.200.0.1', bits: 24 }]);
    for (const [ipAddr, mac] of [
      ['10.200.0.2', '02:00:00:00:00:02'],
      ['10.200.0.3', '02:00:00:00:00:02'],
    ] as const) {
      await ip('neigh', 'replace', ipAddr, 'lladdr', mac, 'dev', tap.name, 'nud', 'permanent');
    }
    const tapMac = Buffer.from(TAP_MAC.toString(16).padStart(12, '0'), 'hex');
    const otherMac = Buffer.from([0x02, 0, 0, 0, 0, 0x99]);
    for (const size of SIZES) {
      const frame = udpFrame(tapMac, size);
      const dropFrame = udpFrame(otherMac, size);
      const payload = Buffer.alloc(size);
      const result: WorkerResult = {
        backend,
        size,
        latency: await tapLatency(tap, frame, ms),
        udpLatency: await udpLatency(payload, ms),
        ...(await wakeLatency(tap, size, ms)),
        loop: await tapLoop(`${backend}: write + forward + read`, tap, frame, ms),
        udpLoop: await udpLoop(payload, frame.length, ms),
        write: writeRate(`${backend}: write() only`, (f) => tap.write(f), dropFrame, ms),
        fsWrite: writeRate('fs.writeSync on the TAP fd', (f) => writeSync((tap as unknown as { fd: number }).fd, f), dropFrame, ms),
      };
      console.log(JSON.stringify(result));
    }
    await tap.close();
  }
}

const [role, ...args] = process.argv.slice(2);
if (process.argv[1] === SCRIPT && (role === 'worker' || role === 'sender')) {
  (role === 'worker' ? worker() : sender(Number(args[0]), Number(args[1]), Number(args[2]))).then(
    () => process.exit(0),
    (e: unknown) => {
      console.error(e);
      process.exit(1);
    },
  );
}
