/**
 * Rate-limited logging: at most `perInterval` lines per message per `intervalMs`, then one summary line
 * with the number left out. Wraps a pino logger (or anything with pino's level methods) and passes
 * everything else through, so it drops in where the logger was.
 *
 * Why: a flood turns each counted drop that also logs into a log flood — 13,852 warning lines in one 60 s
 * HELLO flood (issue 11), written synchronously on the event loop that should be relaying. The counters
 * (metrics) keep the exact figures; the log keeps the first lines of each kind, for their details, and
 * says how many more there were.
 *
 * A message's key is its level and its message text (the fields are not part of it: they differ per
 * line). Windows are fixed per key: the first `perInterval` lines of a window pass, the rest are counted,
 * and when the window ends — at the key's next line or at the latest one interval later, from a timer
 * that runs only while something is held back — a summary line is written at the same level:
 *   { suppressed: 4211, windowMs: 10000, …the last suppressed line's fields } "<message> (4211 more suppressed)"
 */
import { ZtError, ZtErrorCode } from '../vl1/errors.js';

/** The level methods of pino's logger (each also takes a string alone, or an object alone). */
export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

type LogFn = (objOrMsg: unknown, ...rest: unknown[]) => void;
/** What the limiter needs of a logger: some of pino's level methods, and `child` if it has one. */
export type LoggerShape = { [K in LogLevel]?: LogFn } & { child?: (...args: never[]) => unknown };

export interface LogLimiterOptions {
  /** Lines per message per interval before lines are held back. Default 10. */
  perInterval?: number;
  /** The window, in ms. Default 10,000. */
  intervalMs?: number;
  /** Distinct messages tracked; past it the oldest idle ones are forgotten. Default 1,000. */
  maxKeys?: number;
}

export interface LogLimiterDeps {
  now?: () => number;
}

/** The wrapped logger's extra controls. */
export interface LogLimiterControl {
  /** Writes the summaries of every window with lines held back, now (e.g. before exit). */
  flushSuppressed(): void;
  /** Lines held back so far, all messages together. */
  readonly suppressedTotal: number;
}

interface Window {
  level: LogLevel;
  msg: string;
  start: number;
  passed: number;
  suppressed: number;
  /** Fields of the last line held back, repeated in the summary. */
  lastFields: object | undefined;
}

const DEFAULTS = { perInterval: 10, intervalMs: 10_000, maxKeys: 1000 };

/** The limiter's state, shared by a logger and its children. */
class LimiterState {
  readonly perInterval: number;
  readonly intervalMs: number;
  readonly maxKeys: number;
  readonly now: () => number;
  suppressedTotal = 0;
  private readonly windows = new Map<string, Window>();
  private timer: NodeJS.Timeout | null = null;

  constructor(opts: LogLimiterOptions, deps: LogLimiterDeps) {
    this.perInterval = positiveInt('perInterval', opts.perInterval ?? DEFAULTS.perInterval);
    this.intervalMs = positiveInt('intervalMs', opts.intervalMs ?? DEFAULTS.intervalMs);
    this.maxKeys = positiveInt('maxKeys', opts.maxKeys ?? DEFAULTS.maxKeys);
    this.now = deps.now ?? Date.now;
  }

  /** True when the line may be written; otherwise it is counted. `emit` writes a summary. */
  admit(level: LogLevel, msg: string, fields: object | undefined, emit: (w: Window) => void): boolean {
    const key = `${level}\u0000${msg}`;
    const now = this.now();
    let w = this.windows.get(key);
    if (w !== undefined && now - w.start >= this.intervalMs) {
      if (w.suppressed > 0) emit(w);
      this.windows.delete(key);
      w = undefined;
    }
    if (w === undefined) {
      if (this.windows.size >= this.maxKeys) this.forgetIdle(emit);
      w = { level, msg, start: now, passed: 0, suppressed: 0, lastFields: undefined };
      this.windows.set(key, w);
    }
    if (w.passed < this.perInterval) {
      w.passed++;
      return true;
    }
    w.suppressed++;
    w.lastFields = fields;
    this.suppressedTotal++;
    this.armTimer(emit);
    return false;
  }

  /** Summaries of every window that has ended (all of them when `all`). */
  flush(emit: (w: Window) => void, all: boolean): void {
    const now = this.now();
    for (const [key, w] of this.windows) {
      if (!all && now - w.start < this.intervalMs) continue;
      if (w.suppressed > 0) emit(w);
      this.windows.delete(key);
    }
    if (![...this.windows.values()].some((w) => w.suppressed > 0) && this.timer !== null) {
      clearInterval(this.timer);
      this.timer = null;
    }
  }

  private armTimer(emit: (w: Window) => void): void {
    if (this.timer !== null) return;
    // Runs only while lines are held back; never keeps the process alive.
    this.timer = setInterval(() => this.flush(emit, false), Math.max(100, Math.floor(this.intervalMs / 4)));
    this.timer.unref();
  }

  private forgetIdle(emit: (w: Window) => void): void {
    for (const [key, w] of this.windows) {
      if (w.suppressed > 0) emit(w);
      this.windows.delete(key);
      if (this.windows.size < this.maxKeys) return;
    }
  }
}

/**
 * `logger` with at most `perInterval` lines per message per `intervalMs` (see the module comment). Every
 * other property — `level`, `flush`, `bindings`… — is the logger's own; `child()` loggers are limited too,
 * sharing the windows.
 * @throws {ZtError} BAD_CONFIG when an option is not a positive integer.
 */
export function limitLogs<L extends LoggerShape>(logger: L, opts: LogLimiterOptions = {}, deps: LogLimiterDeps = {}): L & LogLimiterControl {
  return wrap(logger, new LimiterState(opts, deps));
}

function wrap<L extends LoggerShape>(logger: L, state: LimiterState): L & LogLimiterControl {
  const target = logger as L & Record<string | symbol, unknown>;
  const emit = (w: Window): void => {
    const fn = target[w.level] as LogFn | undefined;
    fn?.call(logger, { ...(w.lastFields ?? {}), suppressed: w.suppressed, windowMs: state.intervalMs }, `${w.msg} (${w.suppressed} more suppressed)`);
  };
  const methods = new Map<string | symbol, unknown>();
  for (const level of LOG_LEVELS) {
    if (typeof target[level] !== 'function') continue;
    methods.set(level, (first: unknown, ...rest: unknown[]) => {
      // pino: (msg), (obj), (obj, msg, ...format args), (err, msg)
      const msg = typeof first === 'string' ? first : typeof rest[0] === 'string' ? rest[0] : '';
      const fields = typeof first === 'object' && first !== null ? first : undefined;
      if (state.admit(level, msg, fields, emit)) (target[level] as LogFn).call(logger, first, ...rest);
    });
  }
  methods.set('flushSuppressed', () => state.flush(emit, true));
  if (typeof target.child === 'function') {
    methods.set('child', (...args: unknown[]) => wrap((target.child as (...a: unknown[]) => LoggerShape).apply(logger, args), state));
  }
  return new Proxy(target, {
    get(t, prop, receiver) {
      if (prop === 'suppressedTotal') return state.suppressedTotal;
      const m = methods.get(prop);
      if (m !== undefined) return m;
      const v = Reflect.get(t, prop, receiver) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(t) : v;
    },
  }) as unknown as L & LogLimiterControl;
}

function positiveInt(name: string, v: number): number {
  if (!Number.isSafeInteger(v) || v < 1) throw new ZtError(ZtErrorCode.BAD_CONFIG, `log limiter: ${name} must be an integer ≥ 1, got ${String(v)}`);
  return v;
}
