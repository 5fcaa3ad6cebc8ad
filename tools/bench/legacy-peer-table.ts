/**
 * The peer table as it was before issue 15 (one object per peer holding its Identity, PeerKey and path strings),
 * kept only so that `ztroot bench memory` can print the before figure beside the current table in the same run.
 * Not used by the root.
 */
import type { Identity } from '../../vl1/identity.js';
import type { PeerKey } from '../../vl1/peer-key.js';
import { PEER_PATH_EXPIRATION } from '../../vl1/constants.js';
import { VIA_TUNNEL, type RelayVia } from '../../relay/relay.js';
import type { PendingProbe } from '../../root/path-probes.js';

/** 2024-01-01T00:00:00Z: the origin of coarse time. */
const COARSE_EPOCH_MS = 1_704_067_200_000;

/**
 * Coarse time for the relay path: whole seconds since 2024-01-01, which V8 keeps as a small integer
 * until 2058. A millisecond timestamp is a boxed double, and each one passed along the per-packet path
 * is a fresh 16-byte heap object (measured by `ztroot bench relay`); the relay needs only seconds
 * (path liveness 243 s, introductions every 30 s).
 */
export function coarseSeconds(ms: number): number {
  return Math.floor((ms - COARSE_EPOCH_MS) / 1000);
}

/** ZeroTier's path expiration (243 s) in coarse seconds. */
const PATH_EXPIRATION_S = PEER_PATH_EXPIRATION / 1000;

export class RootPeer {
  readonly address: number;
  /** The address split for the table's Smi-keyed map (see PeerTable). */
  readonly lo30: number;
  readonly hi10: number;
  /** Next peer whose address has the same low 30 bits (a collision chain; almost always undefined). */
  nextSameLow: RootPeer | undefined = undefined;
  readonly identity: Identity;
  readonly key: PeerKey;

  /** Last IPv4 source (empty string: none), when it was last heard from (coarse seconds), and the local socket it came in on. */
  ip4 = '';
  port4 = 0;
  rx4 = 0;
  sock4 = 0;
  /** Last IPv6 source, when it was last heard from (coarse seconds), and its local socket. */
  ip6 = '';
  port6 = 0;
  rx6 = 0;
  sock6 = 0;
  /**
   * The peer's TCP fallback tunnel, as the root's path index for it (negative; 0: none), and when it was
   * last heard on it (coarse seconds). The root clears it when the connection closes.
   */
  tunnelSock = 0;
  rxT = 0;
  /** The tunnel's TCP peer, "ip/port" (for the API; nothing is sent to it but through the tunnel). */
  tunnelFrom = '';
  /** Last authenticated packet from this peer, any family (ms). */
  lastReceive = 0;

  protocolVersion = 0;
  versionMajor = 0;
  versionMinor = 0;
  versionRevision = 0;

  /** When this root last published the peer's location to the fleet (ms), and the paths it published. */
  publishedAt = 0;
  publishedWhere = '';

  /** Reply budget for HELLO/ECHO/WHOIS (a fixed window, see RootServer.replyAllowed). */
  replyWindowStart = 0;
  repliesInWindow = 0;

  /** Probes of addresses this peer spoke from that are not its current path (root/path-probes.ts), and their budget. */
  probes: PendingProbe[] | null = null;
  probeWindowStart = 0;
  probesInWindow = 0;

  constructor(identity: Identity, key: PeerKey) {
    this.address = identity.address;
    this.lo30 = identity.address % LOW_SPAN;
    this.hi10 = Math.floor(identity.address / LOW_SPAN);
    this.identity = identity;
    this.key = key;
  }

  /**
   * Records that an authenticated packet arrived from `ip:port` on local socket `sock` — a path the peer proved
   * it holds (root/path-probes.ts), never merely the source of a packet, which may be a replay. Replies and
   * relayed packets leave from that same socket, so they come from the address:port the peer's NAT expects.
   */
  heardFrom(family: 4 | 6, ip: string, port: number, sock: number, nowMs: number): void {
    const s = coarseSeconds(nowMs);
    this.lastReceive = nowMs;
    // A tunnel (negative index) is a path of its own: its TCP peer address is no UDP path to send to.
    if (sock < 0) {
      this.tunnelSock = sock;
      this.rxT = s;
      return;
    }
    if (family === 4) {
      this.ip4 = ip;
      this.port4 = port;
      this.rx4 = s;
      this.sock4 = sock;
    } else {
      this.ip6 = ip;
      this.port6 = port;
      this.rx6 = s;
      this.sock6 = sock;
    }
  }

  /** Whether the peer has a TCP fallback tunnel open to this root. */
  get hasTunnel(): boolean {
    return this.tunnelSock < 0;
  }

  /** True when the IPv4 / IPv6 path was heard from within ZeroTier's path expiration (243 s); `nowS` in coarse seconds. */
  hasLive4(nowS: number): boolean {
    return this.ip4 !== '' && nowS - this.rx4 < PATH_EXPIRATION_S;
  }
  hasLive6(nowS: number): boolean {
    return this.ip6 !== '' && nowS - this.rx6 < PATH_EXPIRATION_S;
  }

  /**
   * Where to send: the tunnel while the peer keeps one open (a 1.14 client keeps it only while it hears no
   * UDP, vl1.md §9.2, so UDP we receive from it may well be one-way), else the live UDP path heard from
   * most recently (so a peer that moved from IPv6 to IPv4 is reached where it is now); 0 when it has no
   * live path. `nowS` in coarse seconds.
   */
  bestFamily(nowS: number): RelayVia {
    if (this.tunnelSock < 0) return VIA_TUNNEL;
    const l4 = this.hasLive4(nowS);
    const l6 = this.hasLive6(nowS);
    if (l4 && l6) return this.rx6 >= this.rx4 ? 6 : 4;
    return l6 ? 6 : l4 ? 4 : 0;
  }

  /** The protocol version decides the cipher suite for what we send (vl1.md §4.4). */
  get suite(): 1 | 3 {
    return this.protocolVersion >= 12 ? 3 : 1;
  }
}

/** 2^30: addresses are split into 10 high and 30 low bits. */
const LOW_SPAN = 0x40000000;

/**
 * Peers by address. Keys are the low 30 bits of the address, which V8 keeps as small integers: a
 * 40-bit number key would be boxed into a heap number on every lookup (16 bytes per packet, measured
 * by `ztroot bench relay`). Peers sharing the low 30 bits are chained; on the packet path `getAt` reads
 * both halves straight from the datagram's bytes, so a relay lookup allocates nothing.
 */
export class PeerTable {
  private readonly byLow = new Map<number, RootPeer>();
  private count = 0;

  get size(): number {
    return this.count;
  }

  get(address: number): RootPeer | undefined {
    return this.find(address % LOW_SPAN, Math.floor(address / LOW_SPAN));
  }

  /** The peer whose address is the 5 bytes at `buf[o..o+5)`, without allocating. */
  getAt(buf: Uint8Array, o: number): RootPeer | undefined {
    const hi = (buf[o]! << 2) | (buf[o + 1]! >> 6);
    const lo = ((buf[o + 1]! & 0x3f) << 24) | (buf[o + 2]! << 16) | (buf[o + 3]! << 8) | buf[o + 4]!;
    return this.find(lo, hi);
  }

  private find(lo: number, hi: number): RootPeer | undefined {
    let p = this.byLow.get(lo);
    while (p !== undefined && p.hi10 !== hi) p = p.nextSameLow;
    return p;
  }

  /** Adds or replaces the peer with this address. */
  set(peer: RootPeer): void {
    this.delete(peer.address);
    peer.nextSameLow = this.byLow.get(peer.lo30);
    this.byLow.set(peer.lo30, peer);
    this.count++;
  }

  delete(address: number): boolean {
    const lo = address % LOW_SPAN;
    const hi = Math.floor(address / LOW_SPAN);
    let prev: RootPeer | undefined;
    let p = this.byLow.get(lo);
    while (p !== undefined && p.hi10 !== hi) {
      prev = p;
      p = p.nextSameLow;
    }
    if (p === undefined) return false;
    if (prev !== undefined) prev.nextSameLow = p.nextSameLow;
    else if (p.nextSameLow !== undefined) this.byLow.set(lo, p.nextSameLow);
    else this.byLow.delete(lo);
    p.nextSameLow = undefined;
    this.count--;
    return true;
  }

  *values(): IterableIterator<RootPeer> {
    for (const first of this.byLow.values()) {
      for (let p: RootPeer | undefined = first; p !== undefined; p = p.nextSameLow) yield p;
    }
  }

  /** Removes peers silent for `timeoutMs` (ZeroTier: 500 s); returns how many went. */
  expire(now: number, timeoutMs: number): number {
    const stale: number[] = [];
    for (const p of this.values()) if (now - p.lastReceive >= timeoutMs) stale.push(p.address);
    for (const a of stale) this.delete(a);
    return stale.length;
  }
}
