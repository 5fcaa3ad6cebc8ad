/** `ztroot doctor`'s human output: one block per root, NAT, the verdict, and the advice lines. */
import type { DoctorReport, RootReport } from './report.js';

const ms = (v: number | null) => (v === null ? '-' : `${v} ms`);

function rootBlock(r: RootReport): string[] {
  const state = r.usable ? 'usable' : r.tcpOnly ? 'TCP relay only' : 'UNREACHABLE';
  const lines = [`root ${r.address}: ${state}`];
  for (const e of r.udp) {
    lines.push(
      e.ok
        ? `  udp ${e.endpoint.padEnd(28)} ok    rtt ${ms(e.rttMs)}, sees us as ${e.reflected ?? '?'}${e.repliedFrom !== null ? `, answered from ${e.repliedFrom}` : ''}`
        : `  udp ${e.endpoint.padEnd(28)} FAIL  ${e.error ?? ''}`,
    );
  }
  for (const t of r.tcp) {
    lines.push(t.ok ? `  tcp ${t.address.padEnd(28)} ok    greeting and HELLO, rtt ${ms(t.rttMs)}` : `  tcp ${t.address.padEnd(28)} ${t.greeting ? 'FAIL  greeting ok; ' : 'FAIL  '}${t.error ?? ''}`);
  }
  const p = r.planet;
  lines.push(`  planet ${p === null ? 'none sent' : `${p.id} timestamp ${p.timestamp} sha256 ${p.sha256.slice(0, 16)}…`} (${r.planetRelation})`);
  if (r.clockSkewMs !== null) lines.push(`  clock ${r.clockSkewMs >= 0 ? '+' : ''}${r.clockSkewMs} ms against this host (${r.clockSource === 'http' ? "its HTTP Date header, ±1 s" : 'its HELLO'})`);
  return lines;
}

export function renderText(rep: DoctorReport): string {
  const out = [`planet ${rep.planet.id} timestamp ${rep.planet.timestamp} sha256 ${rep.planet.sha256.slice(0, 16)}… from ${rep.source}`, ''];
  for (const r of rep.roots) out.push(...rootBlock(r), '');
  for (const [fam, n] of [['IPv4', rep.nat.v4], ['IPv6', rep.nat.v6]] as const) {
    if (n.localPort === 0 && n.mapped.length === 0) continue;
    out.push(`NAT ${fam}: ${n.kind}${n.mapped.length > 0 ? ` (local port ${n.localPort} → ${n.mapped.join(', ')})` : ''}`);
  }
  out.push(`UDP: ${rep.udpBlocked ? 'BLOCKED' : 'ok'}`, '');
  out.push(rep.verdict === 'ok' ? 'verdict: OK — every root is usable and serves this planet' : 'verdict: PROBLEMS');
  for (const a of rep.advice) out.push(`${a.level === 'error' ? 'error  ' : a.level === 'warning' ? 'warning' : 'info   '} ${a.message}`);
  return out.join('\n');
}
