/**
 * The probe matrix (roots × roots): this root's row from its own probe, the other roots' rows from the probe
 * results their heartbeats carry (RootInfo.probeRow, fleet/peer-store.ts) — so every root's dashboard shows the
 * whole fabric, the other rows as fresh as the heartbeats (one per housekeeping period, 10 s).
 */
import type { RootHeartbeat } from '../../fleet/peer-store.js';
import { PROBE_CELLS, type ProbeCell, type ProbeMatrix } from '../../root/probe-api.js';
import type { TargetReport } from './probe-engine.js';

/** A target's cell: the path of its last answered probe when up. */
export function cellOf(t: TargetReport): ProbeCell {
  if (t.status === 'pending') return 'pending';
  if (t.status === 'down') return 'down';
  return t.path ?? 'relayed';
}

/** This root's row, as its heartbeat carries it. */
export function probeRow(targets: TargetReport[]): Record<string, ProbeCell> {
  return Object.fromEntries(targets.map((t) => [t.rootId, cellOf(t)]));
}

/** The matrix over this root and every root whose heartbeat announces a probe leaf. */
export function probeMatrix(self: string, own: TargetReport[], heartbeats: RootHeartbeat[]): ProbeMatrix {
  const roots = new Set<string>([self]);
  for (const h of heartbeats) if (h.info.probe !== undefined) roots.add(h.rootId);
  const rows: ProbeMatrix['rows'] = { [self]: probeRow(own.filter((t) => roots.has(t.rootId))) };
  for (const h of heartbeats) {
    if (h.rootId === self || !roots.has(h.rootId)) continue;
    const row: Record<string, ProbeCell> = {};
    for (const [to, cell] of Object.entries(h.info.probeRow ?? {})) if (roots.has(to) && (PROBE_CELLS as readonly string[]).includes(cell)) row[to] = cell as ProbeCell;
    rows[h.rootId] = row;
  }
  return { roots: [...roots].sort(), rows };
}
