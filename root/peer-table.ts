/**
 * The root's table of peers: address → identity, agreed key, last physical address per family, versions.
 *
 * One record per peer, created once (after its HELLO authenticated and its identity validated) and then
 * mutated in place, so receiving and relaying never allocate per packet. Like root.cpp, a peer keeps one
 * path per address family — the last one it was heard from — because a client behind NAT is reachable
 * only at the address its latest packet came from (shared/protocol/vl1.md §6.1 step 4).
 */
import type { Identity } from '../vl1/identity.js';
import type { PeerKey } from '../vl1/peer-key.js';
import { PEER_PATH_EXPIRATION } from '../vl1/constants.js';

export class RootPeer {
  readonly address: number;
  readonly identity: Identity;
  readonly key: PeerKey;

  /** Last IPv4 source (empty string: none), when it was last heard from (ms), and the local socket it came in on. */
  ip4 = '';
  port4 = 0;
  rx4 = 0;
  sock4 = 0;
  /** Last IPv6 source, when it was last heard from (ms), and its local socket. */
  ip6 = '';
  port6 = 0;
  rx6 = 0;
  sock6 = 0;
  /** Last authenticated packet from this peer, any family (ms). */
  lastReceive = 0;

  protocolVersion = 0;
  versionMajor = 0;
  versionMinor = 0;
  versionRevision = 0;

  /** Reply budget for HELLO/ECHO/WHOIS (a fixed window, see RootServer.replyAllowed). */
  replyWindowStart = 0;
  repliesInWindow = 0;

  constructor(identity: Identity, key: PeerKey) {
    this.address = identity.address;
    this.identity = identity;
    this.key = key;
  }

  /**
   * Records that an authenticated packet arrived from `ip:port` on local socket `sock`. Replies and
   * relayed packets leave from that same socket, so they come from the address:port the peer's NAT
   * expects.
   */
  heardFrom(family: 4 | 6, ip: string, port: number, sock: number, now: number): void {
    if (family === 4) {
      this.ip4 = ip;
      this.port4 = port;
      this.rx4 = now;
      this.sock4 = sock;
    } else {
      this.ip6 = ip;
      this.port6 = port;
      this.rx6 = now;
      this.sock6 = sock;
    }
    this.lastReceive = now;
  }

  /** True when the IPv4 / IPv6 path was heard from within ZeroTier's path expiration (243 s). */
  hasLive4(now: number): boolean {
    return this.ip4 !== '' && now - this.rx4 < PEER_PATH_EXPIRATION;
  }
  hasLive6(now: number): boolean {
    return this.ip6 !== '' && now - this.rx6 < PEER_PATH_EXPIRATION;
  }

  /**
   * The family to send to: the live path heard from most recently (so a peer that moved from IPv6 to
   * IPv4 is reached where it is now); 0 when it has no live path.
   */
  bestFamily(now: number): 0 | 4 | 6 {
    const l4 = this.hasLive4(now);
    const l6 = this.hasLive6(now);
    if (l4 && l6) return this.rx6 >= this.rx4 ? 6 : 4;
    return l6 ? 6 : l4 ? 4 : 0;
  }

  /** The protocol version decides the cipher suite for what we send (vl1.md §4.4). */
  get suite(): 1 | 3 {
    return this.protocolVersion >= 12 ? 3 : 1;
  }
}

export class PeerTable {
  private readonly peers = new Map<number, RootPeer>();

  get size(): number {
    return this.peers.size;
  }
  get(address: number): RootPeer | undefined {
    return this.peers.get(address);
  }
  set(peer: RootPeer): void {
    this.peers.set(peer.address, peer);
  }
  delete(address: number): boolean {
    return this.peers.delete(address);
  }
  values(): IterableIterator<RootPeer> {
    return this.peers.values();
  }

  /** Removes peers silent for `timeoutMs` (ZeroTier: 500 s); returns how many went. */
  expire(now: number, timeoutMs: number): number {
    let n = 0;
    for (const [a, p] of this.peers) {
      if (now - p.lastReceive >= timeoutMs) {
        this.peers.delete(a);
        n++;
      }
    }
    return n;
  }
}
