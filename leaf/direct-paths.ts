/**
 * PUSH_DIRECT_PATHS between leaves (vl2.md §6.4, vl1.md §5.9): how a leaf tells the peers it trusts where else it
 * can be reached — its own interface addresses, the addresses the roots see it at, and a port its NAT gateway
 * mapped for it (leaf/port-mapping.ts) — and how it tries the addresses a peer tells it.
 *
 * Sending, as 1.14: only to a peer whose network traffic our gate admits, when its traffic arrives, and at most
 * every 15 s while that traffic comes relayed (we want a direct path), every 2 min once it comes direct.
 * Receiving: at most 8 pushes per peer per 30 s are looked at, at most 8 addresses per IP scope and family of
 * each; every address left is contacted (an ECHO), and becomes a path only when the peer answers there
 * (leaf/vl1-node.ts `attemptContact`). So a forged or replayed push costs a few ECHOs and moves no traffic.
 */
import type { InetAddress } from '../vl1/inet-address.js';
import { inetAddressToBytes, formatInetAddress } from '../vl1/inet-address.js';
import { ipScope } from '../vl1/ip-scope.js';
import { decodePushDirectPaths, encodePushDirectPaths, isInetPath, PUSH_PATH_FLAG_FORGET } from '../vl1/verbs/push-direct-paths.js';

export const PUSH_INTERVAL_RELAYED_MS = 15_000;
export const PUSH_INTERVAL_DIRECT_MS = 120_000;
/** A peer's state is kept this long after our last push to it (1.14's trust window). */
export const TRUST_WINDOW_MS = 600_000;
/** `ZT_PUSH_DIRECT_PATHS_CUTOFF_TIME` / `_CUTOFF_LIMIT` / `_MAX_PER_SCOPE_AND_FAMILY`. */
export const RECEIVE_WINDOW_MS = 30_000;
export const RECEIVE_LIMIT = 8;
export const MAX_PER_SCOPE_AND_FAMILY = 8;
/** Addresses per push: 1.14 keeps a push under ~1200 bytes (24 bytes a record for IPv6). */
export const MAX_PUSHED = 48;

export interface DirectPathsHost {
  now(): number;
  /** Sends a PUSH_DIRECT_PATHS payload to `dest`. */
  send(dest: number, payload: Uint8Array): void;
  /** Where we can be reached: interface addresses with our ports, surface addresses, port mappings. */
  ourAddresses(): InetAddress[];
  /** Contacts `endpoint` as a possible path to `peer`; false when it may not be one. */
  attemptContact(peer: number, endpoint: InetAddress): boolean;
}

export interface DirectPathsCounters {
  pushesSent: number;
  pushesReceived: number;
  /** Pushes beyond the per-peer limit, or malformed. */
  pushesDropped: number;
  contactsAttempted: number;
}

interface PeerState {
  pushedAt: number;
  received: number[];
}

export class DirectPaths {
  readonly counters: DirectPathsCounters = { pushesSent: 0, pushesReceived: 0, pushesDropped: 0, contactsAttempted: 0 };
  private readonly peers = new Map<number, PeerState>();

  constructor(private readonly host: DirectPathsHost) {}

  private state(peer: number): PeerState {
    let s = this.peers.get(peer);
    if (s === undefined) {
      s = { pushedAt: -Infinity, received: [] };
      this.peers.set(peer, s);
    }
    return s;
  }

  /**
   * Network traffic from `peer` arrived, relayed or direct: push our addresses if it is time and `admitted()`
   * (the network's gate; asked only when a push is due, so the frame path stays cheap).
   */
  networkTraffic(peer: number, via: 'direct' | 'relayed', admitted: () => boolean): void {
    const now = this.host.now();
    const s = this.peers.get(peer);
    if (s !== undefined && now - s.pushedAt < (via === 'relayed' ? PUSH_INTERVAL_RELAYED_MS : PUSH_INTERVAL_DIRECT_MS)) return;
    if (!admitted()) return;
    this.push(peer, now);
  }

  private push(peer: number, now: number): void {
    const s = this.state(peer);
    const addresses = dedupe(this.host.ourAddresses()).slice(0, MAX_PUSHED);
    if (addresses.length === 0) return;
    s.pushedAt = now;
    this.host.send(peer, encodePushDirectPaths({ paths: addresses.map((address) => ({ flags: 0, ext: new Uint8Array(0), address })) }));
    this.counters.pushesSent++;
  }

  /** A PUSH_DIRECT_PATHS from `peer`. Never throws: a malformed or excess push is a counted drop. */
  received(peer: number, payload: Uint8Array): void {
    const now = this.host.now();
    const s = this.state(peer);
    s.received = s.received.filter((t) => now - t < RECEIVE_WINDOW_MS);
    if (s.received.length >= RECEIVE_LIMIT) {
      this.counters.pushesDropped++;
      return;
    }
    s.received.push(now);
    let paths;
    try {
      paths = decodePushDirectPaths(payload).paths;
    } catch {
      this.counters.pushesDropped++;
      return;
    }
    this.counters.pushesReceived++;
    const perScope = new Map<string, number>();
    for (const p of paths) {
      if ((p.flags & PUSH_PATH_FLAG_FORGET) !== 0 || !isInetPath(p.address)) continue;
      const key = `${p.address.family}/${ipScope(inetAddressToBytes(p.address))}`;
      const n = perScope.get(key) ?? 0;
      if (n >= MAX_PER_SCOPE_AND_FAMILY) continue;
      perScope.set(key, n + 1);
      if (this.host.attemptContact(peer, p.address)) this.counters.contactsAttempted++;
    }
  }

  /** Forgets peers with nothing recent (call from the housekeeping tick). */
  expire(): void {
    const now = this.host.now();
    for (const [peer, s] of this.peers) {
      if (now - s.pushedAt > TRUST_WINDOW_MS && s.received.every((t) => now - t > RECEIVE_WINDOW_MS)) this.peers.delete(peer);
    }
  }
}

function dedupe(addresses: InetAddress[]): InetAddress[] {
  const seen = new Set<string>();
  return addresses.filter((a) => {
    const k = formatInetAddress(a);
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}
