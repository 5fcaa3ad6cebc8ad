/**
 * The root's side of its embedded probe (tools/probe/): what the HTTP API shows of it. The probe leaf itself
 * lives in tools/ (root/ may not import leaf/, DESIGN.md); the root sees only this shape.
 *
 *   GET /api/probe   the probe's report as JSON (see README "Probes"); {"enabled":false,"reason":…} without one
 *   GET /readyz      a probe that is not running adds details.probe (why), never a problem: the root stays ready
 */

/** off: not configured; starting: the leaf has not reached a root; waiting: no other probe yet; failed: cannot start. */
export type ProbeState = 'off' | 'starting' | 'waiting' | 'running' | 'failed';

/**
 * One cell of the probe matrix: how the probe of root `from` reaches root `to`'s — answered and over which
 * path, lost, or not resolved yet.
 */
export type ProbeCell = 'direct' | 'relayed' | 'tunneled' | 'down' | 'pending';
export const PROBE_CELLS: readonly ProbeCell[] = ['direct', 'relayed', 'tunneled', 'down', 'pending'];

/** Roots × roots (rootIds): this root's row is live, the others' as their last heartbeats carried them. */
export interface ProbeMatrix {
  roots: string[];
  /** from rootId → to rootId → cell; a missing cell: that root has not reported this target. */
  rows: Record<string, Record<string, ProbeCell>>;
}

export interface ProbeApi {
  readonly state: ProbeState;
  /** The report /api/probe serves. */
  report(): object;
  /** The probe matrix for the live dashboard, or null without a running probe. */
  matrix?(): ProbeMatrix | null;
  /** Why the probe is not running (for /readyz's details), or null when it is. */
  notRunningReason(): string | null;
}

/** A probe that is off, and says why (no fleet, or turned off). */
export function probeOff(reason: string): ProbeApi {
  return { state: 'off', report: () => ({ enabled: false, state: 'off', reason, targets: [] }), notRunningReason: () => reason };
}
