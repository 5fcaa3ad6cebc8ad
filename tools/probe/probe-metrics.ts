/**
 * The probe's metrics, on the root's registry but in their own `ztroot_probe_*` families: probe traffic is
 * never folded into the counters of client traffic. `target` is the target root process's fleet name
 * (rootId), `path` how the probe went (direct / relayed / tunneled).
 */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { PATH_KINDS, type PathKind, type ProbeEngine } from './probe-engine.js';
import type { ProbeState } from '../../root/probe-api.js';

/** What the metrics read of the probe (tools/probe/probe-service.ts's ProbeService). */
export interface ProbeSource {
  readonly state: ProbeState;
  readonly engine: ProbeEngine | null;
}

/** RTT buckets (seconds): LAN to intercontinental relayed. */
const RTT_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];

export const PROBE_STATES = ['off', 'starting', 'waiting', 'running', 'failed'] as const;

/** Registers the probe families; returns the hook that feeds the RTT histogram. */
export function addProbeMetrics(registry: Registry, probe: () => ProbeSource | null): (rootId: string, path: PathKind, rttMs: number) => void {
  const rtt = new Histogram({ name: 'ztroot_probe_rtt_seconds', help: 'Round trip of answered probes to each other root\'s probe leaf, by target root and path kind.', labelNames: ['target', 'path'], buckets: RTT_BUCKETS, registers: [registry] });
  new Gauge({
    name: 'ztroot_probe_state',
    help: 'The probe: 1 for its current state (off, starting, waiting for peers, running, failed); /api/probe and /readyz say why.',
    labelNames: ['state'],
    registers: [registry],
    collect() {
      const st = probe()?.state ?? 'off';
      for (const s of PROBE_STATES) this.set({ state: s }, s === st ? 1 : 0);
    },
  });
  const perTarget = (name: string, help: string, field: 'sent' | 'received' | 'lost'): void => {
    new Counter({
      name,
      help,
      labelNames: ['target', 'path'],
      registers: [registry],
      collect() {
        this.reset();
        for (const t of probe()?.engine?.countsByPath() ?? []) for (const p of PATH_KINDS) if (t[field][p] > 0) this.inc({ target: t.rootId, path: p }, t[field][p]);
      },
    });
  };
  perTarget('ztroot_probe_sent_total', 'Probe requests sent, by target root and the path they took.', 'sent');
  perTarget('ztroot_probe_received_total', 'Probe replies received in time, by target root and path.', 'received');
  perTarget('ztroot_probe_lost_total', 'Probe requests unanswered within the timeout, by target root and path.', 'lost');
  const gauge = (name: string, help: string, labelNames: string[], fill: (g: Gauge, svc: ProbeSource) => void): void => {
    new Gauge({
      name,
      help,
      labelNames,
      registers: [registry],
      collect() {
        this.reset();
        const svc = probe();
        if (svc !== null) fill(this, svc);
      },
    });
  };
  gauge('ztroot_probe_target_up', 'Whether the last resolved probe to the target root was answered (1) or lost (0); absent until one resolved.', ['target'], (g, svc) => {
    for (const t of svc.engine?.report() ?? []) if (t.status !== 'pending') g.set({ target: t.rootId }, t.status === 'up' ? 1 : 0);
  });
  gauge('ztroot_probe_loss_ratio', 'Lost / resolved over the last 20 probes to the target root.', ['target'], (g, svc) => {
    for (const t of svc.engine?.report() ?? []) if (t.status !== 'pending') g.set({ target: t.rootId }, t.lossRatio);
  });
  gauge('ztroot_probe_path', 'The path of the last answered probe to the target root: 1 for its kind, 0 for the others.', ['target', 'path'], (g, svc) => {
    for (const t of svc.engine?.report() ?? []) if (t.path !== null) for (const p of PATH_KINDS) g.set({ target: t.rootId, path: p }, t.path === p ? 1 : 0);
  });
  gauge('ztroot_probe_last_reached_timestamp_seconds', 'When the target root\'s probe leaf last answered (Unix seconds).', ['target'], (g, svc) => {
    for (const t of svc.engine?.countsByPath() ?? []) if (t.lastReachedAt !== null) g.set({ target: t.rootId }, t.lastReachedAt / 1000);
  });
  gauge('ztroot_probe_time_to_direct_seconds', 'From the first probe to the target root to the first answered over a direct path.', ['target'], (g, svc) => {
    for (const t of svc.engine?.report() ?? []) if (t.timeToDirectMs !== null) g.set({ target: t.rootId }, t.timeToDirectMs / 1000);
  });
  new Counter({
    name: 'ztroot_probe_frames_total',
    help: "The probe's own frames (requests/replies sent and received) and drops by reason: apart from client traffic.",
    labelNames: ['kind'],
    registers: [registry],
    collect() {
      this.reset();
      const c = probe()?.engine?.counters;
      if (c === undefined) return;
      this.inc({ kind: 'requests_sent' }, c.requestsSent);
      this.inc({ kind: 'replies_sent' }, c.repliesSent);
      this.inc({ kind: 'requests_received' }, c.requestsReceived);
      this.inc({ kind: 'replies_received' }, c.repliesReceived);
      for (const [k, v] of Object.entries(c.dropped)) this.inc({ kind: `dropped_${k.replace(/-/g, '_')}` }, v);
    },
  });
  return (rootId, path, ms) => rtt.observe({ target: rootId, path }, ms / 1000);
}
