/**
 * The data plane: forward a datagram that is not for us to the peer it is addressed to.
 *
 * Only the hop count changes (packet byte 18 bits 0..2, or fragment byte 15); nothing is decrypted or
 * re-armored (shared/protocol/vl1.md §4.7, §6.3). One synchronous step per datagram: look up the
 * destination, bump hops in place, send — no await, no allocation. On the first hop between two peers
 * (hops was 0: the packet came straight from its source) the pair is "united" — told each other's
 * address with RENDEZVOUS — at most once per `uniteIntervalMs` per unordered pair (`ZT_MIN_UNITE_INTERVAL`).
 */
import { FRAGMENT_IDX_HOPS, FRAGMENT_INDICATOR, FRAGMENT_IDX_INDICATOR, FLAGS_HOPS_MASK, IDX_FLAGS, MIN_FRAGMENT_LENGTH, MIN_PACKET_LENGTH, MIN_UNITE_INTERVAL, RELAY_MAX_HOPS } from '../vl1/constants.js';

/** `bestFamily`'s answer for a peer reached over its TCP fallback tunnel rather than UDP. */
export const VIA_TUNNEL = 1;

/** Where a datagram for a peer goes: 0 nowhere, VIA_TUNNEL, or UDP of family 4 / 6. */
export type RelayVia = 0 | typeof VIA_TUNNEL | 4 | 6;

/** What the relay needs to know of a peer (the root's peer record satisfies it). */
export interface RelayPeer {
  readonly address: number;
  /** The address's low 30 and high 10 bits: small integers, so comparing and hashing them allocates nothing. */
  readonly lo30: number;
  readonly hi10: number;
  ip4: string;
  port4: number;
  ip6: string;
  port6: number;
  /** `nowS`: coarse seconds (root/peer-table.ts `coarseSeconds`). */
  bestFamily(nowS: number): RelayVia;
}

export interface RelayOptions {
  /** Relay only datagrams that made fewer hops than this (1.14: `ZT_RELAY_MAX_HOPS` = 3). */
  maxHops: number;
  /** Minimum time between RENDEZVOUS for the same pair (ms; 1.14: 30 s). */
  uniteIntervalMs: number;
  /**
   * Pairs whose last introduction is remembered (a power of two; 16 B each). The table is fixed and lossy: a pair
   * pushed out early by others is only introduced again sooner, never relayed differently.
   */
  uniteTableSize: number;
}

export const DEFAULT_RELAY_OPTIONS: Readonly<RelayOptions> = Object.freeze({
  maxHops: RELAY_MAX_HOPS,
  uniteIntervalMs: MIN_UNITE_INTERVAL,
  uniteTableSize: 1 << 16,
});

/** Marks an empty entry of the unite table (packed high bits are ≥ 0). */
const EMPTY = -1;

/** Drop reasons the relay reports (metric label values: lower case with underscores, like every drop reason). */
export type RelayDropReason = 'runt' | 'hop_limit' | 'unknown_destination' | 'no_path' | 'bad_fragment';

export interface RelayDeps<P extends RelayPeer> {
  /** The peer whose 5-byte address is at `buf[offset..]`; must not allocate (it runs per packet). */
  lookupAt(buf: Uint8Array, offset: number): P | undefined;
  /** Sends `buf` on `peer`'s path `via` (UDP of that family, or its tunnel); synchronously hands it to the socket. */
  send(buf: Uint8Array, peer: P, via: Exclude<RelayVia, 0>): void;
  /** Asks the control plane to send RENDEZVOUS to both; called at most once per pair per interval. */
  unite(a: P, b: P): void;
  drop(reason: RelayDropReason): void;
  /**
   * A datagram for an address no local peer has, with its hop count already raised: return true if it was
   * handled elsewhere (another root of the fleet holds the peer), false to count it as unknown.
   */
  elsewhere?(buf: Uint8Array): boolean;
  /**
   * A whole datagram straight from its sender (hops 0) whose source address no local peer has: the control plane
   * may start adopting the sender (root/peer-adoption.ts). Must not block; may read only the source address (the hop bits may be raised).
   */
  unknownSource?(buf: Uint8Array): void;
  /** A datagram for an address no local peer has and nothing else handled (before it is counted as dropped). */
  unknownDestination?(buf: Uint8Array): void;
}

export class Relay<P extends RelayPeer> {
  private readonly opts: RelayOptions;
  private readonly deps: RelayDeps<P>;
  /**
   * When each pair was last united, in a fixed two-way set-associative table: lower address's low 30 bits, the
   * other's, both high 10-bit parts packed, and the time (coarse seconds). Fixed memory whatever the number of pairs,
   * and nothing allocated on the relay path (a Map per pair allocated on every new pair and grew without bound).
   */
  private readonly uLoA: Int32Array;
  private readonly uLoB: Int32Array;
  private readonly uHi: Int32Array;
  private readonly uAt: Int32Array;
  private readonly uMask: number;

  constructor(opts: Partial<RelayOptions>, deps: RelayDeps<P>) {
    this.opts = { ...DEFAULT_RELAY_OPTIONS, ...opts };
    this.deps = deps;
    let n = 2;
    while (n < this.opts.uniteTableSize) n *= 2;
    this.uLoA = new Int32Array(n);
    this.uLoB = new Int32Array(n);
    this.uHi = new Int32Array(n).fill(EMPTY);
    this.uAt = new Int32Array(n);
    this.uMask = n - 1;
  }

  /**
   * Forwards one datagram whose destination is not this root. Mutates only its hop bits. `nowS` is the
   * time in whole seconds (a small integer, so nothing is boxed per packet; see `coarseSeconds`).
   * @returns true when it was sent.
   */
  forward(buf: Uint8Array, nowS: number): boolean {
    const fragment = buf.length >= MIN_FRAGMENT_LENGTH && buf[FRAGMENT_IDX_INDICATOR] === FRAGMENT_INDICATOR;
    if (!fragment && buf.length < MIN_PACKET_LENGTH) {
      this.deps.drop('runt');
      return false;
    }
    const hopIdx = fragment ? FRAGMENT_IDX_HOPS : IDX_FLAGS;
    const hopByte = buf[hopIdx]!;
    // Fragment byte 15's upper 5 bits must be zero (Packet::Fragment); treat anything else as garbage.
    if (fragment && (hopByte & ~FLAGS_HOPS_MASK) !== 0) {
      this.deps.drop('bad_fragment');
      return false;
    }
    const hops = hopByte & FLAGS_HOPS_MASK;
    if (hops >= this.opts.maxHops) {
      this.deps.drop('hop_limit');
      return false;
    }
    const destPeer = this.deps.lookupAt(buf, 8);
    if (destPeer === undefined) {
      // A miss, not the hot path: its sender may be unknown too (a restarted root knows neither end).
      if (!fragment && hops === 0 && this.deps.unknownSource !== undefined && this.deps.lookupAt(buf, 13) === undefined) this.deps.unknownSource(buf);
      if (this.deps.elsewhere !== undefined) {
        buf[hopIdx] = (hopByte & ~FLAGS_HOPS_MASK) | (hops + 1);
        if (this.deps.elsewhere(buf)) return true;
        buf[hopIdx] = hopByte;
      }
      this.deps.unknownDestination?.(buf);
      this.deps.drop('unknown_destination');
      return false;
    }
    const family = destPeer.bestFamily(nowS);
    if (family === 0) {
      this.deps.drop('no_path');
      return false;
    }
    buf[hopIdx] = (hopByte & ~FLAGS_HOPS_MASK) | (hops + 1);
    this.deps.send(buf, destPeer, family);

    // Whole packets straight from their source introduce the pair (fragments never do, as in 1.14).
    if (!fragment && hops === 0) {
      const srcPeer = this.deps.lookupAt(buf, 13);
      if (srcPeer === undefined) this.deps.unknownSource?.(buf);
      else if (srcPeer !== destPeer && this.shouldUnite(srcPeer, destPeer, nowS)) this.deps.unite(srcPeer, destPeer);
    }
    return true;
  }

  private shouldUnite(a: P, b: P, nowS: number): boolean {
    let loA = a.lo30;
    let hiA = a.hi10;
    let loB = b.lo30;
    let hiB = b.hi10;
    if (hiA > hiB || (hiA === hiB && loA > loB)) {
      loA = b.lo30;
      hiA = b.hi10;
      loB = a.lo30;
      hiB = a.hi10;
    }
    const hi = (hiA << 10) | hiB;
    let h = Math.imul(loA ^ Math.imul(loB, 0x85ebca6b) ^ hi, 0x9e3779b1);
    h ^= h >>> 16;
    const e0 = h & this.uMask & ~1;
    const e1 = e0 + 1;
    for (let e = e0; e <= e1; e++) {
      if (this.uHi[e] === hi && this.uLoA[e] === loA && this.uLoB[e] === loB) {
        if ((nowS - this.uAt[e]!) * 1000 < this.opts.uniteIntervalMs) return false;
        this.uAt[e] = nowS;
        return true;
      }
    }
    // Not remembered: take the empty or the older of the two entries.
    const e = this.uHi[e0] === EMPTY ? e0 : this.uHi[e1] === EMPTY ? e1 : this.uAt[e0]! <= this.uAt[e1]! ? e0 : e1;
    this.uHi[e] = hi;
    this.uLoA[e] = loA;
    this.uLoB[e] = loB;
    this.uAt[e] = nowS;
    return true;
  }

  /** Forgets unite records older than `maxAgeMs` (housekeeping; the table's memory is fixed either way). */
  expire(nowS: number, maxAgeMs: number): void {
    for (let e = 0; e <= this.uMask; e++) if (this.uHi[e] !== EMPTY && (nowS - this.uAt[e]!) * 1000 >= maxAgeMs) this.uHi[e] = EMPTY;
  }
}
