/**
 * Runs a flood scenario (test/flood/scenario.ts) in a network namespace of its own, made by the test harness
 * (test/netns.ts: created by this process, removed when done or when this process dies), where
 *
 *   ip route add local 198.18.0.0/15 dev lo           every IPv4 address there is local
 *   ip -6 route add local 2001:db8:f000::/36 dev lo   every IPv6 address there is routed locally, and
 *   net.ipv6.ip_nonlocal_bind=1                       may be bound (IPv6 binds only assigned addresses otherwise)
 *
 * so the flood generators can send from 200 /24s or from every /64 of a /48 without touching the host.
 */
import { createTopology, netnsUnavailableReason } from '../netns.js';
import { REPO_ROOT } from '../vectors.js';
import { join } from 'node:path';
import type { ScenarioReport, ScenarioSpec } from './scenario.js';

const SCENARIO = join(REPO_ROOT, 'dist', 'test', 'flood', 'scenario.js');

/** Why flood scenarios cannot run here, or null. */
export function floodUnavailableReason(): string | null {
  return netnsUnavailableReason();
}

/** Runs `spec` in a fresh namespace and returns its report. @throws Error with the scenario's stderr when it fails. */
export async function runFloodScenario(spec: ScenarioSpec, timeoutMs = spec.durationMs + 180_000): Promise<ScenarioReport> {
  const topo = await createTopology({ ipv6: false });
  try {
    const ns = topo.root.ns;
    await topo.exec(ns, 'ip', ['route', 'add', 'local', '198.18.0.0/15', 'dev', 'lo']);
    await topo.exec(ns, 'ip', ['-6', 'route', 'add', 'local', '2001:db8:f000::/36', 'dev', 'lo']);
    await topo.exec(ns, 'sysctl', ['-q', '-w', 'net.ipv6.ip_nonlocal_bind=1']);
    const child = topo.spawn(ns, process.execPath, [SCENARIO, JSON.stringify(spec)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    const code = await new Promise<number | null>((resolve) => {
      const t = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      child.once('exit', (c) => {
        clearTimeout(t);
        resolve(c);
      });
    });
    const last = out.trim().split('\n').pop() ?? '';
    if (code !== 0 || !last.startsWith('{')) throw new Error(`flood scenario exited with ${code}: ${err.slice(-4000)}`);
    return JSON.parse(last) as ScenarioReport;
  } finally {
    await topo.destroy();
  }
}

/** One line per figure, for test diagnostics and the soak command. */
export function describeReport(r: ScenarioReport): string[] {
  const p = (f: ScenarioReport['pairFlood']) => `loss ${f.lossPct} % (${f.sent - f.received}/${f.sent}), p50 ${f.p50Ms} ms, p99 ${f.p99Ms} ms, max ${f.maxMs} ms`;
  const m = r.metrics;
  const pick = (prefix: string) =>
    Object.entries(m)
      .filter(([k]) => k.startsWith(prefix))
      .map(([k, v]) => `${k.slice(prefix.length)}=${v}`)
      .join(' ');
  return [
    `flood: ${r.flood.sent} datagrams in ${r.flood.elapsedMs} ms (${r.flood.ratePerSec}/s; ${r.flood.skipped} not sent: flooder's socket full)`,
    `root socket: ${r.rootSocket.drops} of ${r.rootSocket.sentToRoot} dropped (${r.rootSocket.lossPct} %); root CPU ${r.rootCpuPct} % of a core (event loop ${r.rootMainThreadCpuPct} %)`,
    `known pair, reference (no flood): ${p(r.pairBaseline)}`,
    `known pair, during the flood:      ${p(r.pairFlood)}`,
    r.newcomer === null ? 'newcomer: not run' : `newcomer: ${r.newcomer.admittedAfterMs === null ? 'NOT admitted' : `admitted after ${r.newcomer.admittedAfterMs} ms`} (${r.newcomer.hellos} HELLOs)`,
    `root log: ${r.log.lines} lines, ${r.log.warn} warn or worse; most frequent: ${Object.entries(r.log.byMsg).sort((a, b) => b[1] - a[1]).slice(0, 3).map(([k, v]) => `"${k}" ×${v}`).join(', ')}`,
    `drops: ${pick('ztroot_packets_dropped_total')}`,
    `validations: ${pick('ztroot_identity_validations_total')} peers_added=${m['ztroot_peers_added_total'] ?? 0}`,
  ];
}
