/**
 * The root's side of its embedded probe (tools/probe/): what the HTTP API shows of it. The probe leaf itself
 * lives in tools/ (root/ may not import leaf/, DESIGN.md); the root sees only this shape.
 *
 *   GET /api/probe   the probe's report as JSON (see README "Probes"); {"enabled":false,"reason":…} without one
 *   GET /readyz      a probe that is not running adds details.probe (why), never a problem: the root stays ready
 */

/** off: not configured; starting: the leaf has not reached a root; waiting: no other probe yet; failed: cannot start. */
export type ProbeState = 'off' | 'starting' | 'waiting' | 'running' | 'failed';

export interface ProbeApi {
  readonly state: ProbeState;
  /** The report /api/probe serves. */
  report(): object;
  /** Why the probe is not running (for /readyz's details), or null when it is. */
  notRunningReason(): string | null;
}

/** A probe that is off, and says why (no fleet, or turned off). */
export function probeOff(reason: string): ProbeApi {
  return { state: 'off', report: () => ({ enabled: false, state: 'off', reason, targets: [] }), notRunningReason: () => reason };
}
