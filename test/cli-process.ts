/**
 * Runs the compiled CLI as an operator does — a real process — and reports how it ended: exit code,
 * how long it took, what it printed; or that it was still running when the test gave up (then it is
 * killed, so a hang is a failing assertion, not a hanging test).
 */
import { spawn, type SpawnOptions } from 'node:child_process';
import { join } from 'node:path';
import { REPO_ROOT } from './vectors.js';

export const CLI = join(REPO_ROOT, 'dist', 'tools', 'cli.js');

export interface CliRun {
  /** Exit code; null if killed (by a signal, or by us after `giveUpMs`). */
  code: number | null;
  signal: NodeJS.Signals | null;
  /** From spawn to exit (or to giving up). */
  ms: number;
  /** Still running after `giveUpMs` (it was then killed with SIGKILL). */
  hung: boolean;
  stdout: string;
  stderr: string;
  /** stderr's non-empty lines. */
  errLines: string[];
}

export interface CliRunOptions extends Pick<SpawnOptions, 'cwd' | 'env' | 'uid' | 'gid'> {
  /** Give up (and kill it) after this long; default 10 s. */
  giveUpMs?: number;
  /** Run this instead of `node dist/tools/cli.js` (e.g. mkplanet-bin.js). */
  script?: string;
}

/** `node dist/tools/cli.js ...args` until it exits or `giveUpMs` passes. */
export function runCli(args: string[], opts: CliRunOptions = {}): Promise<CliRun> {
  const giveUpMs = opts.giveUpMs ?? 10_000;
  const t0 = performance.now();
  const child = spawn(process.execPath, [opts.script ?? CLI, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    ...(opts.cwd !== undefined ? { cwd: opts.cwd } : {}),
    ...(opts.env !== undefined ? { env: opts.env } : {}),
    ...(opts.uid !== undefined ? { uid: opts.uid } : {}),
    ...(opts.gid !== undefined ? { gid: opts.gid } : {}),
  });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve) => {
    let hung = false;
    let ms = 0;
    const timer = setTimeout(() => {
      hung = true;
      ms = performance.now() - t0;
      child.kill('SIGKILL');
    }, giveUpMs);
    child.once('exit', () => {
      if (!hung) ms = performance.now() - t0;
    });
    // 'close' (after 'exit') has every byte of stdout and stderr.
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, ms, hung, stdout, stderr, errLines: stderr.split('\n').filter((l) => l.trim() !== '') });
    });
  });
}

/** A short account of a run, for assertion messages. */
export function describeRun(r: CliRun): string {
  const how = r.hung ? `still running after ${Math.round(r.ms)} ms (killed)` : `exit ${r.code ?? r.signal} after ${Math.round(r.ms)} ms`;
  return `${how}\n--- stderr (${r.errLines.length} lines):\n${r.stderr}\n--- stdout:\n${r.stdout.slice(0, 3000)}`;
}
