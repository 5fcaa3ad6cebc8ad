/**
 * The top level of every command (`ztroot …`, `mkplanet`): runs a command's `main`, and turns whatever goes
 * wrong into ONE line on stderr and an exit code — never a stack trace, never a process left running with a
 * half-started service (systemd would show it "active" forever).
 *
 *   exit 0   done
 *   exit 1   the command failed (a port in use, a file unreadable, a rejected planet: the line says which)
 *   exit 2   usage: the command line or configuration is wrong (the line says which option or key)
 *   exit 70  a bug: an error nobody anticipated (ZTROOT_DEBUG=1 prints its stack too)
 *
 * A failure exits at once (after the command released what it held); a success lets the process end by
 * itself, and a watchdog reports — and ends — one that does not within 2 s, naming what keeps it alive.
 */
import { isZtError } from '../vl1/errors.js';
import { asUsageError, UsageError } from './args.js';

/** A failure the command has already described in one line (and cleaned up after). */
export class CommandFailure extends Error {
  override name = 'CommandFailure';
  constructor(
    message: string,
    readonly exitCode: number = 1,
  ) {
    super(message);
  }
}

export const EXIT_USAGE = 2;
export const EXIT_BUG = 70;
/** How long a command that returned may take to let its process end before the watchdog ends it. */
export const LINGER_MS = 2000;

/** One line, whatever the message holds. */
function oneLine(s: string): string {
  return s.replace(/\s*\n\s*/g, ' ').trim();
}

/** The line to print and the exit code for an error that reached the top level. */
export function describeFailure(command: string, e: unknown): { line: string; code: number } {
  const usage = e instanceof UsageError ? e : asUsageError(e);
  if (usage !== null) {
    const cmd = usage.command ?? command;
    return { line: `${cmd}: ${oneLine(usage.message)} (see '${cmd} --help')`, code: EXIT_USAGE };
  }
  if (e instanceof CommandFailure) return { line: `${command}: ${oneLine(e.message)}`, code: e.exitCode };
  if (isZtError(e)) return { line: `${command}: ${oneLine(e.message)} (${e.code})`, code: 1 };
  const err = e as NodeJS.ErrnoException | null;
  if (err && typeof err.code === 'string' && typeof err.syscall === 'string') {
    // A system call that failed where nobody wrapped it: still name what and where.
    return { line: `${command}: ${oneLine(err.message)}`, code: 1 };
  }
  const name = e instanceof Error ? e.name : typeof e;
  const msg = e instanceof Error ? e.message : String(e);
  const at = e instanceof Error ? /\n\s+at (?:.*\()?(\S+?:\d+):\d+\)?/.exec(e.stack ?? '')?.[1] : undefined;
  return {
    line: `${command}: unexpected error: ${name}: ${oneLine(msg)}${at ? ` (at ${at})` : ''}; please report it (ZTROOT_DEBUG=1 prints the stack)`,
    code: EXIT_BUG,
  };
}

/** Prints the failure and ends the process now (stderr is synchronous for files, pipes and terminals on Linux). */
function fail(command: string, e: unknown): never {
  const { line, code } = describeFailure(command, e);
  process.stderr.write(`${line}\n`);
  if (process.env.ZTROOT_DEBUG && e instanceof Error && e.stack) process.stderr.write(`${e.stack}\n`);
  process.exit(code);
}

/** What keeps the event loop alive (ref'd resources: timers, sockets, workers…), for the watchdog's line. */
function openHandles(): string {
  const counts = new Map<string, number>();
  for (const n of process.getActiveResourcesInfo()) counts.set(n, (counts.get(n) ?? 0) + 1);
  return [...counts].map(([n, c]) => (c > 1 ? `${c}× ${n}` : n)).join(', ') || 'nothing visible';
}

/**
 * Runs `main(argv)` as the process's command: see the module comment for what happens on each outcome.
 * Installs handlers for uncaught exceptions and unhandled rejections (one line, exit 70).
 */
export async function runMain(command: string, main: (argv: string[]) => Promise<number>, argv: string[]): Promise<void> {
  process.on('uncaughtException', (e) => fail(command, e));
  process.on('unhandledRejection', (e) => fail(command, e));
  let code: number;
  try {
    code = await main(argv);
  } catch (e) {
    fail(command, e);
  }
  if (code !== 0) process.exit(code); // a failure the command printed itself
  process.exitCode = 0;
  setTimeout(() => {
    process.stderr.write(`${command}: finished, but the process was still running ${LINGER_MS} ms later (open: ${openHandles()}); exiting\n`);
    process.exit(0);
  }, LINGER_MS).unref();
}
