/**
 * A tiny benchmark harness: run a function for a while, report operations per second, and print
 * each figure beside its reference measured in the same run (same process, same machine state).
 * Figures are printed, never asserted.
 */
import { performance } from 'node:perf_hooks';

export interface Measurement {
  name: string;
  opsPerSec: number;
  /** Bytes per op, when throughput in MB/s is meaningful. */
  bytesPerOp?: number;
}

/** Runs `fn` (which performs `batch` operations per call) for about `ms` milliseconds after a warm-up. */
export function measure(name: string, fn: () => void, opts: { ms?: number; batch?: number; bytesPerOp?: number } = {}): Measurement {
  const ms = opts.ms ?? Number(process.env.ZTROOT_BENCH_MS ?? 1000);
  const batch = opts.batch ?? 1;
  const warmUntil = performance.now() + Math.min(200, ms / 5);
  while (performance.now() < warmUntil) fn();
  let calls = 0;
  const start = performance.now();
  let now = start;
  while (now - start < ms) {
    fn();
    calls++;
    now = performance.now();
  }
  const m: Measurement = { name, opsPerSec: (calls * batch * 1000) / (now - start) };
  if (opts.bytesPerOp !== undefined) m.bytesPerOp = opts.bytesPerOp;
  return m;
}

function fmtOps(n: number): string {
  if (n >= 1e6) return `${(n / 1e6).toFixed(2)} M/s`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)} k/s`;
  return `${n.toFixed(1)} /s`;
}

function fmtMB(m: Measurement): string {
  return m.bytesPerOp === undefined ? '' : `${((m.opsPerSec * m.bytesPerOp) / 1e6).toFixed(0)} MB/s`;
}

/** Prints `ours` beside `reference` with the ratio. */
export function report(title: string, rows: Array<{ ours: Measurement; reference: Measurement }>): void {
  console.log(`\n## ${title}`);
  const w = Math.max(...rows.map((r) => Math.max(r.ours.name.length, r.reference.name.length)), 10);
  console.log(`${'ours'.padEnd(w)}  ${'ops'.padStart(11)} ${'tput'.padStart(9)} | ${'reference'.padEnd(w)}  ${'ops'.padStart(11)} ${'tput'.padStart(9)} | ours/ref`);
  for (const { ours, reference } of rows) {
    console.log(
      `${ours.name.padEnd(w)}  ${fmtOps(ours.opsPerSec).padStart(11)} ${fmtMB(ours).padStart(9)} | ` +
        `${reference.name.padEnd(w)}  ${fmtOps(reference.opsPerSec).padStart(11)} ${fmtMB(reference).padStart(9)} | ` +
        `${(ours.opsPerSec / reference.opsPerSec).toFixed(2)}×`,
    );
  }
}
