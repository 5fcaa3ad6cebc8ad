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
}

export const DEFAULT_RELAY_OPTIONS: Readonly<RelayOptions> = Object.freeze({
  maxHops: RELAY_MAX_HOPS,
  uniteIntervalMs: MIN_UNITE_INTERVAL,
});

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
}

export class Relay<P extends RelayPeer> {
  private readonly opts: RelayOptions;
  private readonly deps: RelayDeps<P>;
  /**
   * Peer with the lower address → the other peer → last unite time. Keyed by the peer objects, not
   * their 40-bit addresses, which V8 would box into heap numbers on every lookup.
   */
  private readonly lastUnite = new Map<P, Map<P, number>>();

  constructor(opts: Partial<RelayOptions>, deps: RelayDeps<P>) {
    this.opts = { ...DEFAULT_RELAY_OPTIONS, ...opts };
    this.deps = deps;
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
      if (this.deps.elsewhere !== undefined) {
        buf[hopIdx] = (hopByte & ~FLAGS_HOPS_MASK) | (hops + 1);
        if (this.deps.elsewhere(buf)) return true;
        buf[hopIdx] = hopByte;
      }
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
      if (srcPeer !== undefined && srcPeer !== destPeer && this.shouldUnite(srcPeer, destPeer, nowS)) {
        this.deps.unite(srcPeer, destPeer);
      }
    }
    return true;
  }

  private shouldUnite(a: P, b: P, nowS: number): boolean {
    const lo = a.address < b.address ? a : b;
    const hi = lo === a ? b : a;
    let inner = this.lastUnite.get(lo);
    if (inner === undefined) {
      inner = new Map();
      this.lastUnite.set(lo, inner);
    }
    const last = inner.get(hi);
    if (last !== undefined && (nowS - last) * 1000 < this.opts.uniteIntervalMs) return false;
    inner.set(hi, nowS);
    return true;
  }

  /** Forgets unite records older than `maxAgeMs` (housekeeping; keeps memory bounded by active pairs). */
  expire(nowS: number, maxAgeMs: number): void {
    for (const [lo, inner] of this.lastUnite) {
      for (const [hi, t] of inner) if ((nowS - t) * 1000 >= maxAgeMs) inner.delete(hi);
      if (inner.size === 0) this.lastUnite.delete(lo);
    }
  }
}
