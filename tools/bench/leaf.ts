/**
 * `ztroot bench leaf`: TCP throughput and latency between two of our leaves over their TAP devices, beside two real
 * ZeroTier One leaves measured in the same run (when ZT_ONE_BIN names a zerotier-one binary). Needs root, iproute2
 * and iperf3: everything runs in network namespaces created and deleted here (test/netns.ts).
 *
 *   public segment: our root 192.0.0.1, our leaves 192.0.0.2 / .3, the real leaves 192.0.0.4 / .5
 *   network:        ff0a000000000001 (vl2.md §1.2 form B: IPv4 10.x.y.z/8 + 6plane, ACCEPT-all), through our root
 *
 * Per pair: iperf3 TCP for ZTROOT_BENCH_LEAF_SECONDS (default 10) each way, then 100 pings at 10 ms intervals; during
 * each transfer the CPU of every process involved (main thread and whole process, from /proc/<pid>/stat) and the
 * namespaces' UDP socket-buffer drops and TAP drops, so the figure comes with what limits it. Then the TAP layer
 * alone (`ztroot bench tap`) in frames/s. Our leaves run at the default log level (info); ZTROOT_BENCH_LEAF_LOG sets
 * another. ZTROOT_BENCH_LEAF_RUNS repeats the measurement (default 1: the spread on a shared machine needs several).
 * ZTROOT_BENCH_LEAF_PROF=<dir> runs our leaves with `--cpu-prof --cpu-prof-dir=<dir>` (profiles written at stop);
 * ZTROOT_BENCH_LEAF_NODE_ARGS passes other node options (e.g. `--perf-basic-prof` for `perf record -p <leaf pid>`);
 * ZTROOT_BENCH_LEAF_KEEP=1 keeps the work directory (homes, logs) and prints where.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTopology, netnsUnavailableReason, type Host, type Topology } from '../../test/netns.js';
import { cli, cliJson, startClient, startOurRoot, waitFor, ZT_ONE_BIN, type Client, type OurRoot } from '../../test/interop-harness.js';
import { joinAndWait, leafApi, leafLog, startOurLeaf } from '../../test/leaf-harness.js';
import { tapUnavailableReason } from '../../leaf/tap-access.js';
import { parseAddress } from '../../vl1/address.js';
import { ipv6SixPlane } from '../../vl1/mac-ip.js';

const NWID = 'ff0a000000000001';
const IPERF_PORT = 5201;
/** Linux's USER_HZ: /proc/<pid>/stat counts CPU time in these. */
const CLK_TCK = 100;

function seconds(): number {
  return Number(process.env.ZTROOT_BENCH_LEAF_SECONDS ?? 10);
}

/** Why the suite cannot run here, or null. */
function unavailableReason(): string | null {
  const why = netnsUnavailableReason() ?? tapUnavailableReason();
  if (why !== null) return why;
  if (spawnSync('iperf3', ['--version'], { stdio: 'ignore' }).error) return "'iperf3' not found: install the Debian package iperf3 (bash test/system-deps.sh does)";
  return null;
}

/** The IPv4 address form B gives `address` on a network whose first octet is 10 (vl2.md §1.2). */
function formBIpv4(address: string): string {
  const a = parseAddress(address);
  return `10.${(a >> 16) & 0xff}.${(a >> 8) & 0xff}.${a & 0xff}`;
}

// ---------------------------------------------------------------------------------------------------------------
// What is measured

/** A process whose CPU is watched: its name in the report and its pid. */
interface Watched {
  name: string;
  pid: number;
}

interface CpuSample {
  /** Ticks of the main thread (the JS thread for Node) and of the whole process, and the process's in the kernel. */
  main: number;
  all: number;
  sys: number;
}

interface CpuUse {
  name: string;
  /** Percent of one core over the interval. */
  mainPct: number;
  allPct: number;
  /** CPU seconds of the whole process. */
  seconds: number;
  /** Of which in the kernel (system calls, and the network stack work they run). */
  sysSeconds: number;
}

/** User and system ticks from a /proc stat file. */
function ticksOf(statFile: string): { user: number; sys: number } {
  // Fields after the ")" that ends the command name: state is field 3, utime 14, stime 15.
  const s = readFileSync(statFile, 'utf8');
  const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
  return { user: Number(f[11]), sys: Number(f[12]) };
}

function sampleCpu(w: Watched): CpuSample | null {
  try {
    const main = ticksOf(`/proc/${w.pid}/task/${w.pid}/stat`);
    const all = ticksOf(`/proc/${w.pid}/stat`);
    return { main: main.user + main.sys, all: all.user + all.sys, sys: all.sys };
  } catch {
    return null; // gone
  }
}

/** Kernel counters of one namespace that tell drops: UDP socket buffers (v4 + v6) and the TAP device. */
interface Drops {
  udpRcvbuf: number;
  udpSndbuf: number;
  tapTxDropped: number;
  tapRxDropped: number;
}

async function drops(t: Topology, ns: string, dev: string): Promise<Drops> {
  const snmp = (await t.exec(ns, 'cat', ['/proc/net/snmp'])).stdout.split('\n').filter((l) => l.startsWith('Udp:'));
  const names = snmp[0]?.split(/\s+/) ?? [];
  const values = snmp[1]?.split(/\s+/).map(Number) ?? [];
  const v4 = (k: string) => values[names.indexOf(k)] ?? 0;
  const snmp6 = (await t.exec(ns, 'cat', ['/proc/net/snmp6'])).stdout;
  const v6 = (k: string) => Number(new RegExp(`^Udp6${k}\\s+(\\d+)`, 'm').exec(snmp6)?.[1] ?? 0);
  const stat = async (k: string) => Number((await t.exec(ns, 'cat', [`/sys/class/net/${dev}/statistics/${k}`]).catch(() => ({ stdout: '0' }))).stdout.trim());
  return {
    udpRcvbuf: v4('RcvbufErrors') + v6('RcvbufErrors'),
    udpSndbuf: v4('SndbufErrors') + v6('SndbufErrors'),
    tapTxDropped: await stat('tx_dropped'),
    tapRxDropped: await stat('rx_dropped'),
  };
}

function dropsDelta(a: Drops, b: Drops): Drops {
  return { udpRcvbuf: b.udpRcvbuf - a.udpRcvbuf, udpSndbuf: b.udpSndbuf - a.udpSndbuf, tapTxDropped: b.tapTxDropped - a.tapTxDropped, tapRxDropped: b.tapRxDropped - a.tapRxDropped };
}

/** One end of a pair: its namespace, its TAP device, its address on the network, its process. */
interface End {
  label: string;
  host: Host;
  dev: string;
  ip: string;
  pid: number;
}

interface Transfer {
  mbps: number;
  retransmits: number;
  cpu: CpuUse[];
  /** The whole machine during the transfer: busy share of all its cores (/proc/stat), and how many cores. */
  machine: { busyPct: number; cores: number };
  drops: Array<{ label: string; d: Drops }>;
}

/** Busy and total jiffies of all cores together (/proc/stat's `cpu` line; idle and iowait count as not busy). */
function machineJiffies(): { busy: number; total: number } {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1, 9).map(Number);
  const total = f.reduce((x, y) => x + y, 0);
  return { busy: total - f[3]! - f[4]!, total };
}

interface Ping {
  loss: number;
  min: number;
  avg: number;
  max: number;
  mdev: number;
}

interface PairResult {
  forward: Transfer[];
  reverse: Transfer[];
  ping: Ping[];
}

/** iperf3 from `from` to `to` (or `to` → `from` with reverse) for `seconds()`, watching `watched`. */
async function iperf(t: Topology, from: End, to: End, reverse: boolean, watched: Watched[]): Promise<Transfer> {
  const server = t.spawn(to.host.ns, 'iperf3', ['-s', '-1', '--forceflush', '-B', to.ip, '-p', String(IPERF_PORT)], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  server.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  server.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  try {
    await waitFor('iperf3 -s to listen', 10_000, async () => (out.includes('listening') ? true : undefined), 50);
    const dropsBefore = await Promise.all([from, to].map((e) => drops(t, e.host.ns, e.dev)));
    const cpuBefore = watched.map(sampleCpu);
    const machineBefore = machineJiffies();
    const t0 = process.hrtime.bigint();
    const args = ['-c', to.ip, '-p', String(IPERF_PORT), '-t', String(seconds()), '-J', ...(reverse ? ['-R'] : [])];
    const r = await t.exec(from.host.ns, 'iperf3', args, { timeoutMs: (seconds() + 30) * 1000 });
    const wall = Number(process.hrtime.bigint() - t0) / 1e9;
    const cpuAfter = watched.map(sampleCpu);
    const machineAfter = machineJiffies();
    const dropsAfter = await Promise.all([from, to].map((e) => drops(t, e.host.ns, e.dev)));
    const j = JSON.parse(r.stdout) as { end: { sum_received: { bits_per_second: number }; sum_sent: { retransmits?: number } } };
    const cpu: CpuUse[] = [];
    watched.forEach((w, i) => {
      const a = cpuBefore[i], b = cpuAfter[i];
      if (a && b) cpu.push({ name: w.name, mainPct: ((b.main - a.main) / CLK_TCK / wall) * 100, allPct: ((b.all - a.all) / CLK_TCK / wall) * 100, seconds: (b.all - a.all) / CLK_TCK, sysSeconds: (b.sys - a.sys) / CLK_TCK });
    });
    return {
      mbps: j.end.sum_received.bits_per_second / 1e6,
      retransmits: j.end.sum_sent.retransmits ?? 0,
      cpu,
      machine: { busyPct: ((machineAfter.busy - machineBefore.busy) / Math.max(1, machineAfter.total - machineBefore.total)) * 100, cores: availableParallelism() },
      drops: [from, to].map((e, i) => ({ label: e.label, d: dropsDelta(dropsBefore[i]!, dropsAfter[i]!) })),
    };
  } finally {
    server.kill();
  }
}

async function ping(t: Topology, from: End, to: End): Promise<Ping> {
  const r = await t.exec(from.host.ns, 'ping', ['-q', '-c', '100', '-i', '0.01', '-W', '2', to.ip], { timeoutMs: 30_000 }).catch((e: Error) => ({ stdout: e.message }));
  const loss = Number(/([\d.]+)% packet loss/.exec(r.stdout)?.[1] ?? 100);
  const m = /= ([\d.]+)\/([\d.]+)\/([\d.]+)\/([\d.]+) ms/.exec(r.stdout);
  return m ? { loss, min: Number(m[1]), avg: Number(m[2]), max: Number(m[3]), mdev: Number(m[4]) } : { loss, min: NaN, avg: NaN, max: NaN, mdev: NaN };
}

/** Waits until `a` reaches `b` over the network (ARP, WHOIS and the direct path settled), then measures. */
async function measurePair(t: Topology, a: End, b: End, watched: Watched[], runs: number): Promise<PairResult> {
  await waitFor(`a first IPv4 echo ${a.label} → ${b.label}`, 60_000, async () => {
    const out = await t.exec(a.host.ns, 'ping', ['-c', '1', '-W', '1', b.ip], { timeoutMs: 5000 }).catch((e: Error) => ({ stdout: e.message }));
    return /1 received/.test(out.stdout) ? true : undefined;
  }, 200);
  // A few seconds of traffic so the leaves meet directly (RENDEZVOUS) before anything is timed.
  await t.exec(a.host.ns, 'ping', ['-q', '-c', '30', '-i', '0.1', b.ip], { timeoutMs: 20_000 }).catch(() => undefined);
  const res: PairResult = { forward: [], reverse: [], ping: [] };
  for (let i = 0; i < runs; i++) {
    res.forward.push(await iperf(t, a, b, false, watched));
    res.reverse.push(await iperf(t, a, b, true, watched));
    res.ping.push(await ping(t, a, b));
  }
  return res;
}

// ---------------------------------------------------------------------------------------------------------------
// The two pairs

async function ourPair(t: Topology, work: string, root: OurRoot, runs: number): Promise<PairResult> {
  const planet = join(root.stateDir, 'planet');
  const extra = ['--log-level', process.env.ZTROOT_BENCH_LEAF_LOG ?? 'info'];
  const prof = process.env.ZTROOT_BENCH_LEAF_PROF;
  const nodeArgs = [...(prof === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${prof}`]), ...(process.env.ZTROOT_BENCH_LEAF_NODE_ARGS ?? '').split(' ').filter((x) => x !== '')];
  const [a, b] = await Promise.all([
    startOurLeaf(t, work, 'a', t.publicHosts[0]!, planet, extra, undefined, nodeArgs),
    startOurLeaf(t, work, 'b', t.publicHosts[1]!, planet, extra, undefined, nodeArgs),
  ]);
  try {
    const nw = BigInt(`0x${NWID}`);
    const [na, nb] = await Promise.all([a, b].map((l) => joinAndWait(t, l, NWID, ipv6SixPlane(nw, parseAddress(l.address)))));
    const ea: End = { label: 'leaf A', host: a.host, dev: na!.portDeviceName, ip: formBIpv4(a.address), pid: a.proc.pid! };
    const eb: End = { label: 'leaf B', host: b.host, dev: nb!.portDeviceName, ip: formBIpv4(b.address), pid: b.proc.pid! };
    const watched = [
      { name: 'leaf A', pid: ea.pid },
      { name: 'leaf B', pid: eb.pid },
      { name: 'root', pid: root.proc.pid! },
    ];
    const r = await measurePair(t, ea, eb, watched, runs);
    const peers = (await leafApi<Array<{ address: string; paths: Array<{ address: string }> }>>(t, a, 'GET', '/peer')).body;
    const direct = peers.find((p) => p.address === b.address)?.paths.some((p) => p.address.startsWith(`${b.host.ip4}/`) || p.address.startsWith(`${b.host.ip6}/`)) ?? false;
    if (!direct) console.log('  note: our leaves had no direct path (traffic went through the root)');
    return r;
  } catch (e) {
    for (const l of [a, b]) console.log(`  ${l.host.ip4} log tail:\n${leafLog(l).trimEnd().split('\n').slice(-20).join('\n')}`);
    throw e;
  } finally {
    for (const l of [a, b]) {
      const exit = new Promise<void>((r) => (l.proc.exitCode !== null ? r() : l.proc.once('exit', () => r())));
      l.proc.kill('SIGTERM');
      await exit;
    }
  }
}

async function realPair(t: Topology, work: string, root: OurRoot, runs: number): Promise<PairResult> {
  const clients: Client[] = [startClient(t, work, 'zt-a', t.publicHosts[2]!, root), startClient(t, work, 'zt-b', t.publicHosts[3]!, root)];
  const ends: End[] = [];
  for (const [i, c] of clients.entries()) {
    c.address = await waitFor(`zerotier-one ${c.host.ip4} to answer info`, 20_000, async () => /200 info ([0-9a-f]{10})/.exec(await cli(t, c, 'info'))?.[1]);
    const joined = await cli(t, c, 'join', NWID);
    if (!/200 join OK/.test(joined)) throw new Error(`${c.host.ip4}: join ${NWID} answered ${joined}`);
    const ip = formBIpv4(c.address);
    const net = await waitFor(`${c.host.ip4} on ${NWID} with ${ip}`, 30_000, async () => {
      const n = (await cliJson<Array<{ nwid?: string; id?: string; status: string; portDeviceName?: string; assignedAddresses: string[] }>>(t, c, 'listnetworks')).find((x) => (x.nwid ?? x.id) === NWID);
      return n !== undefined && n.status === 'OK' && n.assignedAddresses.includes(`${ip}/8`) && n.portDeviceName ? n : undefined;
    }, 250);
    const pid = Number(readFileSync(join(c.home, 'zerotier-one.pid'), 'utf8').trim());
    ends.push({ label: `zerotier-one ${i === 0 ? 'A' : 'B'}`, host: c.host, dev: net.portDeviceName!, ip, pid });
  }
  const watched = [
    { name: 'zerotier-one A', pid: ends[0]!.pid },
    { name: 'zerotier-one B', pid: ends[1]!.pid },
    { name: 'root', pid: root.proc.pid! },
  ];
  try {
    return await measurePair(t, ends[0]!, ends[1]!, watched, runs);
  } finally {
    for (const e of ends) {
      try {
        process.kill(e.pid, 'SIGTERM');
      } catch {
        /* gone */
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Printing

function spread(xs: number[], digits = 0): string {
  if (xs.length === 0) return 'n/a';
  const med = [...xs].sort((p, q) => p - q)[Math.floor(xs.length / 2)]!;
  return xs.length === 1 ? med.toFixed(digits) : `${med.toFixed(digits)} (${Math.min(...xs).toFixed(digits)}–${Math.max(...xs).toFixed(digits)})`;
}

function median(xs: number[]): number {
  return xs.length === 0 ? NaN : [...xs].sort((p, q) => p - q)[Math.floor(xs.length / 2)]!;
}

function describeTransfer(label: string, tr: Transfer[]): string[] {
  const lines: string[] = [];
  for (const [i, x] of tr.entries()) {
    const cpu = x.cpu.map((c) => `${c.name} ${c.mainPct.toFixed(0)}% main thread / ${c.allPct.toFixed(0)}% process`).join(', ');
    const d = x.drops.map((e) => `${e.label} UDP rcvbuf ${e.d.udpRcvbuf} sndbuf ${e.d.udpSndbuf}, TAP tx_dropped ${e.d.tapTxDropped} rx_dropped ${e.d.tapRxDropped}`).join('; ');
    lines.push(`  ${label}${tr.length > 1 ? ` run ${i + 1}` : ''}: ${x.mbps.toFixed(0)} Mbit/s, ${x.retransmits} TCP retransmits`);
    lines.push(`      CPU (% of one core): ${cpu}; the machine ${x.machine.busyPct.toFixed(0)}% busy (all ${x.machine.cores} cores)`);
    // Less sensitive to the machine's other load than Mbit/s: what each process spends per megabyte carried.
    const mb = (x.mbps * seconds()) / 8;
    lines.push(`      CPU per MB carried: ${x.cpu.filter((c) => c.name !== 'root').map((c) => `${c.name} ${((c.seconds * 1000) / mb).toFixed(1)} ms (${((c.sysSeconds * 1000) / mb).toFixed(1)} in the kernel)`).join(', ')}`);
    lines.push(`      drops: ${d}`);
  }
  return lines;
}

/**
 * What a figure is waiting for: the whole machine when its cores are nearly all busy (the leaves, iperf3 and the
 * kernel's network stack share them: then CPU per MB is the figure to lower), else the most loaded thread.
 */
function limit(tr: Transfer[]): string {
  const all = tr.flatMap((x) => x.cpu.filter((c) => c.name !== 'root'));
  if (all.length === 0) return 'n/a';
  const top = all.reduce((p, q) => (q.mainPct > p.mainPct ? q : p));
  const dropsN = tr.reduce((n, x) => n + x.drops.reduce((m, e) => m + e.d.udpRcvbuf + e.d.tapTxDropped, 0), 0);
  const busy = median(tr.map((x) => x.machine.busyPct));
  const cores = tr[0]?.machine.cores ?? 1;
  const cpuBound =
    busy >= 85
      ? `the machine is CPU-bound (${busy.toFixed(0)}% of its ${cores} cores busy during the transfers): every process shares them, so the CPU each leaf spends per MB sets the figure`
      : top.mainPct >= 85
        ? `${top.name}'s main thread is CPU-bound (${top.mainPct.toFixed(0)}% of a core)`
        : `no thread is saturated (busiest: ${top.name}'s main thread at ${top.mainPct.toFixed(0)}%; the machine ${busy.toFixed(0)}% busy)`;
  return `${cpuBound}${dropsN > 0 ? `; ${dropsN} datagrams/frames dropped at socket or TAP buffers` : ''}`;
}

function printComparison(ours: PairResult, ref: PairResult | null): void {
  const row = (name: string, o: number[], r: number[] | null, unit: string, digits = 0, higherBetter = true) => {
    const ratio = r === null ? '' : ` | ${(higherBetter ? median(o) / median(r) : median(r) / median(o)).toFixed(2)}×`;
    console.log(`${name.padEnd(34)} ${`${spread(o, digits)} ${unit}`.padStart(26)}${r === null ? '' : ` | ${`${spread(r, digits)} ${unit}`.padStart(26)}`}${ratio}`);
  };
  console.log(`${''.padEnd(34)} ${'ours'.padStart(26)}${ref === null ? '' : ` | ${'zerotier-one 1.14.1'.padStart(26)} | ours/ref`}`);
  row('TCP A → B (iperf3)', ours.forward.map((x) => x.mbps), ref?.forward.map((x) => x.mbps) ?? null, 'Mbit/s');
  row('TCP B → A (iperf3 -R)', ours.reverse.map((x) => x.mbps), ref?.reverse.map((x) => x.mbps) ?? null, 'Mbit/s');
  // The figure a CPU-bound machine turns into Mbit/s: both leaves' CPU (all threads, user and kernel) per MB carried.
  const perMb = (tr: Transfer[]) => tr.map((x) => (x.cpu.filter((c) => c.name !== 'root').reduce((n, c) => n + c.seconds, 0) * 1000) / ((x.mbps * seconds()) / 8));
  row('CPU of both leaves per MB carried', perMb([...ours.forward, ...ours.reverse]), ref === null ? null : perMb([...ref.forward, ...ref.reverse]), 'ms', 1, false);
  row('ping avg (100 × 10 ms)', ours.ping.map((p) => p.avg), ref?.ping.map((p) => p.avg) ?? null, 'ms', 3, false);
  const pingLine = (p: Ping) => `${p.min}/${p.avg}/${p.max}/${p.mdev} ms, ${p.loss}% loss`;
  for (const p of ours.ping) console.log(`  ours ping min/avg/max/mdev: ${pingLine(p)}`);
  for (const p of ref?.ping ?? []) console.log(`  zerotier-one ping min/avg/max/mdev: ${pingLine(p)}`);
}

export async function run(): Promise<void> {
  console.log(`\n## leaf: TCP over TAP between two leaves on ${NWID} through our root, in network namespaces`);
  const why = unavailableReason();
  if (why !== null) {
    console.log(`  skipped: ${why}`);
    return;
  }
  const runs = Number(process.env.ZTROOT_BENCH_LEAF_RUNS ?? 1);
  const withRef = ZT_ONE_BIN !== undefined && ZT_ONE_BIN !== '';
  if (!withRef) console.log('  (set ZT_ONE_BIN=/path/to/zerotier-one for the reference: two real 1.14 leaves, same run)');
  const work = mkdtempSync(join(tmpdir(), 'ztroot-bench-leaf-'));
  const t = await createTopology({ publicHosts: withRef ? 4 : 2 });
  try {
    const root = await startOurRoot(t, work, ['--log-level', 'info']);
    const ours = await ourPair(t, work, root, runs);
    const ref = withRef ? await realPair(t, work, root, runs) : null;
    console.log(`  ${seconds()} s per direction, ${runs} run(s); the machine's other load moves these figures`);
    printComparison(ours, ref);
    console.log('\n  ours:');
    for (const l of [...describeTransfer('A → B', ours.forward), ...describeTransfer('B → A', ours.reverse)]) console.log(l);
    console.log(`  limit (ours): ${limit([...ours.forward, ...ours.reverse])}`);
    if (ref !== null) {
      console.log('\n  zerotier-one 1.14.1:');
      for (const l of [...describeTransfer('A → B', ref.forward), ...describeTransfer('B → A', ref.reverse)]) console.log(l);
      console.log(`  limit (zerotier-one): ${limit([...ref.forward, ...ref.reverse])}`);
    }
  } finally {
    await t.destroy();
    if (process.env.ZTROOT_BENCH_LEAF_KEEP === '1') console.log(`  kept the leaves' homes and logs in ${work}`);
    else rmSync(work, { recursive: true, force: true });
  }
  if (process.env.ZTROOT_BENCH_LEAF_TAP !== '0') await (await import('./tap.js')).run();
}
