/**
 * Keyed rate limits for the root's control plane: "at most `burst` events per key, refilled one per
 * `intervalMs`", with a hard cap on the number of keys so a flood of distinct sources cannot grow memory.
 *
 * Uses the generic cell rate algorithm (GCRA): each key stores one number, its theoretical arrival time
 * (TAT); an event at `now` is allowed when `TAT − now ≤ (burst − 1) · interval`, and then moves the TAT
 * one interval on. A key whose TAT is ≤ now is in the same state as an absent key, so evicting it loses
 * nothing; the map keeps keys in order of their last allowed event, so the first key is the one most
 * likely to have expired and is the one evicted when the map is full.
 *
 * 1.14 gates new-identity validation at 1 per 2 s (x86-64) per source /24 (IPv4) or /48 (IPv6)
 * (`ZT_IDENTITY_VALIDATION_SOURCE_RATE_LIMIT`, `Node::rateGateIdentityVerification` in `node/Node.hpp`;
 * shared/protocol/vl1.md §6.4). 1.14 keys a fixed table by a 14-bit hash of the prefix, so unrelated
 * prefixes can share a slot; here the key is the exact prefix ({@link sourcePrefixKey}) and the bound is
 * `maxKeys`.
 *
 * No timers: the caller passes `now` (milliseconds, any monotonic origin).
 */
import { ZtError, ZtErrorCode } from '../vl1/errors.js';
import { sourceKeys } from '../relay/source-keys.js';

/** `ZT_IDENTITY_VALIDATION_SOURCE_RATE_LIMIT` on x86-64 (§6.4): one new-identity validation per 2 s per prefix. */
export const IDENTITY_VALIDATION_SOURCE_INTERVAL_MS = 2000;

export interface RateGateOptions {
  /** Minimum spacing of events per key once the burst is spent, in ms. Required, > 0. */
  intervalMs: number;
  /** Events a fresh (or long idle) key may have back to back. Default 1: a pure minimum interval. */
  burst?: number;
  /**
   * Most keys remembered; when full, the key with the oldest last-allowed event is dropped (it then
   * starts fresh if seen again). Default 65,536 (≈ 6.5 MB with IPv4 /24 keys, ≈ 10 MB with IPv6 /48
   * keys: measured ≈ 100 and ≈ 157 bytes an entry with Node 20).
   */
  maxKeys?: number;
}

/** Default {@link RateGateOptions.maxKeys}. */
export const RATE_GATE_DEFAULT_MAX_KEYS = 65536;

/** Keyed token bucket / minimum interval with bounded memory; see the module comment. */
export class RateGate {
  readonly intervalMs: number;
  readonly burst: number;
  readonly maxKeys: number;
  /** Keys dropped because the map was full. */
  evictions = 0;
  /** Events refused. */
  denied = 0;
  private readonly tat = new Map<string | number, number>();
  /** How far ahead of `now` a TAT may be and still allow an event: (burst − 1) · interval. */
  private readonly tolerance: number;

  /** @throws {ZtError} BAD_CONFIG when an option is not a positive finite number (integer for counts). */
  constructor(options: RateGateOptions) {
    const { intervalMs, burst = 1, maxKeys = RATE_GATE_DEFAULT_MAX_KEYS } = options;
    if (typeof intervalMs !== 'number' || !Number.isFinite(intervalMs) || intervalMs <= 0) {
      throw new ZtError(ZtErrorCode.BAD_CONFIG, `rate gate: intervalMs must be a positive number, got ${String(intervalMs)}`);
    }
    if (!Number.isSafeInteger(burst) || burst < 1) {
      throw new ZtError(ZtErrorCode.BAD_CONFIG, `rate gate: burst must be an integer ≥ 1, got ${String(burst)}`);
    }
    if (!Number.isSafeInteger(maxKeys) || maxKeys < 1) {
      throw new ZtError(ZtErrorCode.BAD_CONFIG, `rate gate: maxKeys must be an integer ≥ 1, got ${String(maxKeys)}`);
    }
    this.intervalMs = intervalMs;
    this.burst = burst;
    this.maxKeys = maxKeys;
    this.tolerance = (burst - 1) * intervalMs;
  }

  /** Keys currently remembered (≤ maxKeys). */
  get size(): number {
    return this.tat.size;
  }

  /**
   * True (and the event is counted) when `key` may act at time `now`; false when it is over its rate.
   * A clock that steps backwards never grants extra events: the stored TAT still has to be reached.
   */
  allow(key: string | number, now: number): boolean {
    const stored = this.tat.get(key);
    if (stored === undefined) {
      if (this.tat.size >= this.maxKeys) this.evictOldest(now);
      this.tat.set(key, now + this.intervalMs);
      return true;
    }
    const base = stored > now ? stored : now;
    if (base - now > this.tolerance) {
      this.denied++;
      return false;
    }
    // Re-insert so the map stays ordered by last allowed event (oldest first, evicted first).
    this.tat.delete(key);
    this.tat.set(key, base + this.intervalMs);
    return true;
  }

  /** Drops keys whose allowance is fully restored (they are equivalent to absent keys). Returns how many. */
  sweep(now: number): number {
    let n = 0;
    for (const [key, t] of this.tat) {
      // Keys are ordered by last allowed event, which nearly orders their TATs; stop at the first live
      // one rather than scanning everything (a later expired key is dropped by a later sweep or eviction).
      if (t > now) break;
      this.tat.delete(key);
      n++;
    }
    return n;
  }

  /** Forgets every key. */
  clear(): void {
    this.tat.clear();
  }

  private evictOldest(now: number): void {
    const first = this.tat.keys().next();
    if (first.done) return;
    // Only a key still inside its interval counts as a real eviction (an expired one loses nothing).
    if ((this.tat.get(first.value) ?? 0) > now) this.evictions++;
    this.tat.delete(first.value);
  }
}

/**
 * The rate-limit key of a source address: its IPv4 /24 or IPv6 /48 (relay/source-keys.ts, which says why), e.g.
 * `"192.0.2.0/24"`, `"2001:db8:1::/48"`.
 * @throws {ZtError} BAD_FORMAT when `ip` is not an IPv4 or IPv6 address.
 */
export function sourcePrefixKey(ip: string): string {
  const keys = sourceKeys(ip);
  if (keys === null) throw new ZtError(ZtErrorCode.BAD_FORMAT, `source prefix: not an IP address: ${shown(ip)}`);
  return keys.prefix;
}

function shown(v: unknown): string {
  const s = typeof v === 'string' ? v : typeof v;
  return JSON.stringify(s.length > 60 ? `${s.slice(0, 60)}…` : s);
}
