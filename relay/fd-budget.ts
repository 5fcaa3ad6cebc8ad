/**
 * How many TCP connections a process can hold without running out of file descriptors.
 *
 * Every connection is a descriptor, and so is everything else the process needs to stay useful: the HTTP
 * API (health checks, /metrics), Redis, the UDP sockets, worker threads' event loops, files it reads. When a
 * flood of idle connections takes the last one, accept() fails everywhere at once — new tunnels, /healthz —
 * and an orchestrator restarts a root that was working. So the relay's connection limit is derived from the
 * soft RLIMIT_NOFILE: what is open when the listener starts, plus a reserve for what opens later, is kept
 * back, and the rest is for connections.
 *
 * The limit is read from /proc/self/limits on Linux, and elsewhere from `ulimit -n` of a shell (which
 * inherits this process's limits: macOS, the BSDs). Where neither works (Windows, which has no per-process
 * descriptor limit of this kind) the configured limit is used as it is, and the caller says so.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { execFileSync } from 'node:child_process';

/** Descriptors kept for the HTTP API: its connection limit (root/http-api.ts HTTP_MAX_CONNECTIONS) and listener. */
export const FD_RESERVE_HTTP = 64 + 1;
/** Descriptors kept for Redis: ioredis opens one per node it talks to (Sentinel, Cluster) plus a subscriber. */
export const FD_RESERVE_FLEET = 32;
/** Descriptors kept for files (planet reloads, the allow-list, state), DNS look-ups, TLS, worker restarts, logs. */
export const FD_RESERVE_MISC = 64;
/** The whole reserve, beyond what is already open when the listener starts. */
export const FD_RESERVE = FD_RESERVE_HTTP + FD_RESERVE_FLEET + FD_RESERVE_MISC;

/** Connections when the descriptor limit is unknown or unlimited and none was configured. */
export const FALLBACK_MAX_CONNECTIONS = 200_000;

/** The soft descriptor limit and where it was read; soft is Infinity for "unlimited". */
export interface DescriptorLimit {
  soft: number;
  source: '/proc/self/limits' | 'ulimit -n';
}

/** Parses the "Max open files" line of /proc/<pid>/limits. */
export function parseProcLimits(text: string): number | null {
  const m = /^Max open files\s+(\d+|unlimited)\s+(\d+|unlimited)\s+files\s*$/m.exec(text);
  if (m === null) return null;
  return m[1] === 'unlimited' ? Infinity : Number(m[1]);
}

/** This process's soft RLIMIT_NOFILE, or null where it cannot be read. */
export function readDescriptorLimit(): DescriptorLimit | null {
  if (process.platform === 'linux') {
    try {
      const soft = parseProcLimits(readFileSync('/proc/self/limits', 'utf8'));
      if (soft !== null) return { soft, source: '/proc/self/limits' };
    } catch {
      // no /proc (a chroot, a hardened container): try the shell
    }
  }
  if (process.platform === 'win32') return null;
  try {
    const out = execFileSync('/bin/sh', ['-c', 'ulimit -n'], { encoding: 'utf8', timeout: 2000, stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    if (out === 'unlimited') return { soft: Infinity, source: 'ulimit -n' };
    if (/^\d+$/.test(out)) return { soft: Number(out), source: 'ulimit -n' };
  } catch {
    // no shell
  }
  return null;
}

/** Descriptors open in this process now (/proc/self/fd on Linux, /dev/fd elsewhere), or null if unknown. */
export function countOpenDescriptors(): number | null {
  for (const dir of ['/proc/self/fd', '/dev/fd']) {
    try {
      // The listing itself holds one descriptor while it runs.
      return readdirSync(dir).length - 1;
    } catch {
      // try the next
    }
  }
  return null;
}

/** The connection limit in force and how it was reached (for the start-up log line). */
export interface ConnectionBudget {
  maxConnections: number;
  /** The soft descriptor limit (Infinity: unlimited), or null when unknown. */
  descriptorLimit: number | null;
  /** Descriptors open when the limit was worked out, and the reserve kept beyond them. */
  open: number | null;
  reserve: number;
  /** The configured limit (0: none, derive it) and whether it was lowered to fit the descriptors. */
  requested: number;
  lowered: boolean;
}

/**
 * The connection limit: `requested` (0 = as many as fit), never more than the soft descriptor limit minus
 * what is open and `reserve`. A limit too small to leave any connection gives 1 (the listener still refuses
 * cleanly; the start-up log says why).
 */
export function connectionBudget(requested: number, reserve = FD_RESERVE, limit = readDescriptorLimit(), open = countOpenDescriptors()): ConnectionBudget {
  const base = { descriptorLimit: limit?.soft ?? null, open, reserve, requested };
  if (limit === null || limit.soft === Infinity) {
    return { ...base, maxConnections: requested > 0 ? requested : FALLBACK_MAX_CONNECTIONS, lowered: false };
  }
  // Unknown count of open descriptors (no /proc, no /dev/fd): assume a busy process's worth.
  const fit = Math.max(1, limit.soft - (open ?? 256) - reserve);
  if (requested > 0 && requested <= fit) return { ...base, maxConnections: requested, lowered: false };
  return { ...base, maxConnections: fit, lowered: requested > 0 };
}
