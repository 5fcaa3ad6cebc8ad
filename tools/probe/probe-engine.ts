/**
 * The probe engine: every half interval, one probe request to every other root's probe leaf; answers their
 * requests; keeps per-target figures (RTT, loss, path kind, last reached, time to go direct).
 *
 * The interval is the detection bound an operator sets: a target that stops answering is counted down within
 * one interval. That needs requests every half interval, each lost after a little less than half an interval
 * (a request sent every interval and lost after half of one would show a cut up to 1.5 intervals late).
 *
 * It sees only Ethernet frames (tools/probe/probe-wire.ts) and a clock: the probe leaf (tools/probe/
 * probe-leaf.ts) carries the frames over the fabric and says which path a peer is on. Limits, so a probe can
 * never crowd out what clients see: at most MAX_TARGETS targets, two requests per target per interval, at most
 * MAX_OUTSTANDING unanswered per target, and replies through a token bucket (REPLIES_PER_SEC, burst
 * REPLY_BURST) whoever asks.
 */
import { decodeProbeFrame, encodeProbeFrame, PROBE_REPLY, PROBE_REQUEST } from './probe-wire.js';

export type PathKind = 'direct' | 'relayed' | 'tunneled';
export const PATH_KINDS: readonly PathKind[] = ['direct', 'relayed', 'tunneled'];

/** Most targets probed (a planet lists a handful of roots; a fleet a few dozen processes). */
export const MAX_TARGETS = 64;
/** Requests awaiting their reply, per target; beyond, the oldest counts as lost at once. */
const MAX_OUTSTANDING = 8;
/** Replies sent per second at most, and the burst: requests beyond are dropped and counted. */
const REPLIES_PER_SEC = 100;
const REPLY_BURST = 200;
/** Outcomes the loss ratio is computed over. */
export const LOSS_WINDOW = 20;

export interface ProbeTarget {
  /** The target root process's fleet name. */
  rootId: string;
  /** Its probe leaf's ZeroTier address. */
  probe: number;
}

export interface TargetReport {
  rootId: string;
  probe: string;
  /** up: the last probe resolved was answered; down: it was lost; pending: none resolved yet. */
  status: 'up' | 'down' | 'pending';
  /** The path of the last answered probe. */
  path: PathKind | null;
  rttMs: number | null;
  /** Lost / resolved over the last LOSS_WINDOW probes. */
  lossRatio: number;
  sent: number;
  received: number;
  lost: number;
  /** ISO time of the last reply, or null. */
  lastReachedAt: string | null;
  /** From the first request to the first reply over a direct path, or null (not direct yet). */
  timeToDirectMs: number | null;
  /** ISO time the loss that made it down was counted (its request's timeout), or null while up/pending. */
  downSince: string | null;
}

interface Outstanding {
  seq: number;
  sentAt: number;
  path: PathKind;
}

/** Per target and path kind. */
export type PathCounts = Record<PathKind, number>;

interface TargetState {
  target: ProbeTarget;
  seq: number;
  outstanding: Outstanding[];
  sent: PathCounts;
  received: PathCounts;
  lost: PathCounts;
  /** true = answered, false = lost; newest last, at most LOSS_WINDOW. */
  window: boolean[];
  firstSentAt: number | null;
  lastReachedAt: number | null;
  lastRttMs: number | null;
  lastPath: PathKind | null;
  timeToDirectMs: number | null;
  downSince: number | null;
}

export interface ProbeEngineOptions {
  /** A target that stops answering is counted down within this long: requests go every half of it (cadenceMs). */
  intervalMs: number;
  /**
   * A request unanswered this long is lost. Default: 45 % of the interval, so that a loss is counted before the
   * next request goes (timers fire late, never early) and a cut shows within one interval: at most half an
   * interval to the next request, then its timeout.
   */
  timeoutMs?: number;
  now?: () => number;
}

export interface ProbeEngineDeps {
  /** Our probe leaf's address and the probe network. */
  self: number;
  nwid: bigint;
  /** Hands a frame to the network; false when it could not go. */
  send(frame: Uint8Array): boolean;
  /** The path a packet to `address` takes now. */
  pathTo(address: number): PathKind;
  /** Each answered probe's round trip (the RTT histogram). */
  observe?(rootId: string, path: PathKind, rttMs: number): void;
}

const zero = (): PathCounts => ({ direct: 0, relayed: 0, tunneled: 0 });
const total = (c: PathCounts): number => c.direct + c.relayed + c.tunneled;

export class ProbeEngine {
  /** Frames and drops of the probe itself, apart from anything clients send. */
  readonly counters = { requestsSent: 0, repliesSent: 0, repliesReceived: 0, requestsReceived: 0, dropped: { 'rate-limited': 0, 'not-probe': 0, 'unknown-target': 0, 'stale-reply': 0, 'send-failed': 0, 'too-many-targets': 0 } };
  private readonly targets = new Map<number, TargetState>();
  private readonly now: () => number;
  readonly intervalMs: number;
  /** Rounds (one request to every target) go this often: half the interval. */
  readonly cadenceMs: number;
  readonly timeoutMs: number;
  private tokens = REPLY_BURST;
  private tokensAt: number;

  constructor(
    opts: ProbeEngineOptions,
    private readonly deps: ProbeEngineDeps,
  ) {
    this.now = opts.now ?? Date.now;
    this.intervalMs = opts.intervalMs;
    this.cadenceMs = Math.max(1, Math.floor(opts.intervalMs / 2));
    this.timeoutMs = opts.timeoutMs ?? Math.max(1, Math.floor((opts.intervalMs * 9) / 20));
    this.tokensAt = this.now();
  }

  /** The targets now (from the fleet's heartbeats): new ones start fresh, gone ones are forgotten. */
  setTargets(list: ProbeTarget[]): void {
    const wanted = new Map<number, ProbeTarget>();
    for (const t of list) {
      if (t.probe === this.deps.self) continue;
      if (wanted.size >= MAX_TARGETS && !wanted.has(t.probe)) {
        this.counters.dropped['too-many-targets']++;
        continue;
      }
      wanted.set(t.probe, t);
    }
    for (const a of this.targets.keys()) if (!wanted.has(a)) this.targets.delete(a);
    for (const [a, t] of wanted) {
      const s = this.targets.get(a);
      if (s !== undefined) s.target = t;
      else this.targets.set(a, { target: t, seq: 0, outstanding: [], sent: zero(), received: zero(), lost: zero(), window: [], firstSentAt: null, lastReachedAt: null, lastRttMs: null, lastPath: null, timeToDirectMs: null, downSince: null });
    }
  }

  get targetCount(): number {
    return this.targets.size;
  }

  /** One round (every cadenceMs): expire what timed out, then one request to every target. */
  round(): void {
    const now = this.now();
    this.expire(now);
    for (const [address, s] of this.targets) {
      const path = this.deps.pathTo(address);
      const seq = (s.seq = (s.seq + 1) >>> 0);
      if (s.outstanding.length >= MAX_OUTSTANDING) this.resolveLost(s, s.outstanding.shift()!, now);
      s.firstSentAt ??= now;
      s.sent[path]++;
      s.outstanding.push({ seq, sentAt: now, path });
      this.counters.requestsSent++;
      if (!this.deps.send(encodeProbeFrame(this.deps.nwid, this.deps.self, address, PROBE_REQUEST, seq, now))) this.counters.dropped['send-failed']++;
    }
  }

  /** Counts requests unanswered for timeoutMs as lost. */
  expire(now = this.now()): void {
    for (const s of this.targets.values()) {
      while (s.outstanding.length > 0 && now - s.outstanding[0]!.sentAt >= this.timeoutMs) this.resolveLost(s, s.outstanding.shift()!, now);
    }
  }

  /** A frame from the probe network. */
  receive(frame: Uint8Array): void {
    const m = decodeProbeFrame(this.deps.nwid, frame);
    if (m === null) return void this.counters.dropped['not-probe']++;
    const now = this.now();
    if (m.kind === PROBE_REQUEST) {
      this.counters.requestsReceived++;
      if (!this.takeToken(now)) return void this.counters.dropped['rate-limited']++;
      this.counters.repliesSent++;
      if (!this.deps.send(encodeProbeFrame(this.deps.nwid, this.deps.self, m.from, PROBE_REPLY, m.seq, m.sentAt))) this.counters.dropped['send-failed']++;
      return;
    }
    const s = this.targets.get(m.from);
    if (s === undefined) return void this.counters.dropped['unknown-target']++;
    const i = s.outstanding.findIndex((o) => o.seq === m.seq && o.sentAt === m.sentAt);
    if (i < 0) return void this.counters.dropped['stale-reply']++; // already counted lost, or never ours
    const o = s.outstanding.splice(i, 1)[0]!;
    this.counters.repliesReceived++;
    const rtt = Math.max(0, now - o.sentAt);
    s.received[o.path]++;
    s.lastReachedAt = now;
    s.lastRttMs = rtt;
    s.lastPath = o.path;
    s.downSince = null;
    if (o.path === 'direct' && s.timeToDirectMs === null && s.firstSentAt !== null) s.timeToDirectMs = now - s.firstSentAt;
    this.record(s, true);
    this.deps.observe?.(s.target.rootId, o.path, rtt);
  }

  /** Per target: figures for /api/probe and the gauges. */
  report(): TargetReport[] {
    return [...this.targets.values()]
      .map((s) => ({
        rootId: s.target.rootId,
        probe: s.target.probe.toString(16).padStart(10, '0'),
        status: s.window.length === 0 ? ('pending' as const) : s.window[s.window.length - 1] ? ('up' as const) : ('down' as const),
        path: s.lastPath,
        rttMs: s.lastRttMs,
        lossRatio: s.window.length === 0 ? 0 : s.window.filter((ok) => !ok).length / s.window.length,
        sent: total(s.sent),
        received: total(s.received),
        lost: total(s.lost),
        lastReachedAt: s.lastReachedAt === null ? null : new Date(s.lastReachedAt).toISOString(),
        timeToDirectMs: s.timeToDirectMs,
        downSince: s.downSince === null ? null : new Date(s.downSince).toISOString(),
      }))
      .sort((a, b) => a.rootId.localeCompare(b.rootId));
  }

  /** Per target rootId: the counters by path kind (for the *_total metrics). */
  countsByPath(): Array<{ rootId: string; sent: PathCounts; received: PathCounts; lost: PathCounts; lastReachedAt: number | null }> {
    return [...this.targets.values()].map((s) => ({ rootId: s.target.rootId, sent: s.sent, received: s.received, lost: s.lost, lastReachedAt: s.lastReachedAt }));
  }

  private resolveLost(s: TargetState, o: Outstanding, now: number): void {
    s.lost[o.path]++;
    s.downSince ??= now;
    this.record(s, false);
  }

  private record(s: TargetState, ok: boolean): void {
    s.window.push(ok);
    if (s.window.length > LOSS_WINDOW) s.window.shift();
  }

  private takeToken(now: number): boolean {
    this.tokens = Math.min(REPLY_BURST, this.tokens + ((now - this.tokensAt) * REPLIES_PER_SEC) / 1000);
    this.tokensAt = now;
    if (this.tokens < 1) return false;
    this.tokens--;
    return true;
  }
}
