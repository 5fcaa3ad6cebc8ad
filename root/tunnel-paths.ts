/**
 * TCP fallback tunnels as paths of the root's peers (vl1.md §9; the listener is relay/tcp-tunnel-server.ts).
 *
 * A tunnel has a path index of its own, −1 − its connection id (UDP sockets are 0, 1, ...), so the root's
 * handlers treat a datagram from a tunnel like one from a socket and answer on the same path.
 *
 *   tunnel ─► for this root (its address, or one of its endpoints) ─► the root's handlers, on the tunnel's path
 *          └► anywhere else ─► (authenticated tunnel, destination policy) ─► out of the root's UDP socket
 *   UDP datagram for a tunnel client ─► handed over untouched, framed with its real source (as tcp-proxy's own
 *                                       socket per client would), so both ends see an ordinary direct path
 *   what the root sends or relays itself ─► framed as coming from the root endpoint the client addressed
 */
import type { InetAddress } from '../vl1/inet-address.js';
import { readU40 } from '../vl1/bytes.js';
import { FRAGMENT_IDX_HOPS, IDX_FLAGS } from '../vl1/constants.js';
import { isFragment } from '../vl1/packet.js';
import type { TunnelConnection } from '../relay/tcp-tunnel-server.js';
import type { PeerTable, RootPeer } from './peer-table.js';
import { endpointKey, RecentSet, RootEndpoints } from './tunnel-endpoints.js';

/** Addresses remembered per tunnel as having sent to it (they may be answered under the 'peers' policy). */
const RECENT_SENDERS = 64;

export interface TunnelPolicy {
  /** 'peers': a current path of the addressed peer (ours or the fleet's), a root, or a recent sender; 'any': anywhere. */
  destinations: 'peers' | 'any';
  /** Lowest destination port. */
  minPort: number;
}

/** What the tunnels need of the root (RootServer provides it). */
export interface TunnelHost {
  readonly peers: PeerTable;
  /** Whether the datagram's destination is this root. */
  isForMe(buf: Uint8Array): boolean;
  /** Handles a datagram as if it had arrived on path `sock` from ip:port. */
  receive(buf: Uint8Array, sock: number, ip: string, port: number): void;
  /** The fleet's view of where `address` is, if this root is part of a fleet. */
  locations(address: number): ReadonlyArray<{ endpoints: readonly InetAddress[] }> | undefined;
  /** The family of UDP socket `sock`, and the first socket of a family (−1: none). */
  socketFamily(sock: number): 4 | 6 | undefined;
  firstSocket(family: 4 | 6): number;
  sendUdp(sock: number, buf: Uint8Array, ip: string, port: number): void;
  count(name: string): void;
}

/**
 * One tunnel as the root sees it: the connection, the root endpoint the client last addressed (what we send
 * it is framed as coming from there), the peer it carries once authenticated, and who sent to it over UDP.
 */
interface TunnelPath {
  conn: TunnelConnection;
  local: InetAddress;
  peer: RootPeer | undefined;
  recentSenders: RecentSet;
}

export class TunnelPaths {
  /** This root's own endpoints and every root's (learn them whenever the worlds or sockets change). */
  readonly endpoints = new RootEndpoints();
  private readonly paths = new Map<number, TunnelPath>();

  constructor(
    private readonly policy: TunnelPolicy,
    private readonly host: TunnelHost,
  ) {}

  /** The path index of a connection. */
  static sockOf(conn: TunnelConnection): number {
    return -1 - conn.id;
  }

  /** The family of tunnel `sock`'s TCP peer, or undefined when it is gone. */
  family(sock: number): 4 | 6 | undefined {
    return this.paths.get(sock)?.conn.remote.family;
  }

  /** `peer` was authenticated on tunnel `sock`; false if the tunnel closed meanwhile (a HELLO answered after validation). */
  heard(peer: RootPeer, sock: number, ip: string, port: number): boolean {
    const t = this.paths.get(sock);
    if (t === undefined) return false;
    t.peer = peer;
    if (peer.tunnelSock !== sock) peer.tunnelFrom = endpointKey(ip, port);
    return true;
  }

  /** A datagram a tunnel client sent towards `dest`. */
  onDatagram(conn: TunnelConnection, datagram: Uint8Array, dest: InetAddress | null): void {
    if (dest === null) return this.host.count('drop_tunnel_no_destination');
    const sock = TunnelPaths.sockOf(conn);
    let t = this.paths.get(sock);
    if (t === undefined) {
      t = { conn, local: dest, peer: undefined, recentSenders: new RecentSet(RECENT_SENDERS) };
      this.paths.set(sock, t);
    }
    const key = endpointKey(dest.ip, dest.port);
    const own = this.endpoints.isOwn(key);
    if (own || (datagram.length > 16 && this.host.isForMe(datagram))) {
      if (own) t.local = dest;
      return this.host.receive(datagram, sock, conn.remote.ip, conn.remote.port);
    }
    this.sendOut(t, datagram, dest, key);
  }

  /** The tunnel closed: its peer falls back to its UDP paths, if it has live ones. */
  onClose(conn: TunnelConnection): void {
    const sock = TunnelPaths.sockOf(conn);
    const t = this.paths.get(sock);
    this.paths.delete(sock);
    if (t?.peer !== undefined && t.peer.tunnelSock === sock) t.peer.tunnelSock = 0;
  }

  /** Sends what the root itself says on tunnel `sock`, framed as from the endpoint the client addressed; false if it is gone. */
  send(sock: number, buf: Uint8Array): boolean {
    const t = this.paths.get(sock);
    if (t === undefined) return false;
    t.conn.send(buf, t.local);
    return true;
  }

  /**
   * The relay's send to a tunnel client. `rxSock` ≥ 0: the datagram came in over UDP socket rxSock from
   * rxIp:rxPort and is handed over as tcp-proxy's per-client socket would — hops as they were, framed with its
   * real source — so the client answers that source straight through its tunnel. Otherwise (from another
   * tunnel, from the fleet) it is framed as coming from this root and keeps its raised hops.
   * @returns false when the peer's tunnel is gone (its path is then cleared).
   */
  sendRelayed(buf: Uint8Array, peer: RootPeer, rxSock: number, rxIp: string, rxPort: number): boolean {
    const t = this.paths.get(peer.tunnelSock);
    if (t === undefined) {
      peer.tunnelSock = 0;
      return false;
    }
    const family = rxSock >= 0 ? this.host.socketFamily(rxSock) : undefined;
    if (family === undefined) {
      t.conn.send(buf, t.local);
      return true;
    }
    // The relay raised the hop count by exactly one just before this call.
    const hopIdx = isFragment(buf) ? FRAGMENT_IDX_HOPS : IDX_FLAGS;
    buf[hopIdx] = buf[hopIdx]! - 1;
    t.recentSenders.add(endpointKey(rxIp, rxPort));
    t.conn.send(buf, { family, ip: rxIp, port: rxPort });
    return true;
  }

  /** Out of the root's UDP socket on behalf of a tunnel client, if it authenticated and the policy allows it. */
  private sendOut(t: TunnelPath, datagram: Uint8Array, dest: InetAddress, key: string): void {
    const h = this.host;
    // Only a tunnel whose peer authenticated (its HELLO, through this tunnel) may use our socket: an
    // anonymous TCP client cannot make the root send anything anywhere.
    if (t.peer === undefined) return h.count('drop_tunnel_unauthenticated');
    if (dest.port < this.policy.minPort) return h.count('drop_tunnel_low_port');
    const to = datagram.length >= 13 ? h.peers.getAt(datagram, 8) : undefined;
    if (this.policy.destinations === 'peers' && !this.mayReach(t, datagram, dest, key, to)) return h.count('drop_tunnel_destination');
    // From the socket the destination last reached us on: its NAT expects answers from there.
    let sock: number;
    if (to !== undefined && dest.family === 4 && to.ip4 === dest.ip && to.port4 === dest.port) sock = to.sock4;
    else if (to !== undefined && dest.family === 6 && to.ip6 === dest.ip && to.port6 === dest.port) sock = to.sock6;
    else sock = h.firstSocket(dest.family);
    if (sock < 0) return h.count('drop_tunnel_no_socket');
    h.count('tunnel_sent_udp');
    // A copy: the socket sends later, and the datagram is a view into the tunnel's receive buffer.
    h.sendUdp(sock, datagram.slice(), dest.ip, dest.port);
  }

  /** The 'peers' policy: a path of the addressed peer (ours or the fleet's), a root's endpoint, or someone who sent to this client. */
  private mayReach(t: TunnelPath, datagram: Uint8Array, dest: InetAddress, key: string, to: RootPeer | undefined): boolean {
    if (this.endpoints.isRoot(key) || t.recentSenders.has(key)) return true;
    if (to !== undefined && (dest.family === 4 ? to.ip4 === dest.ip && to.port4 === dest.port : to.ip6 === dest.ip && to.port6 === dest.port)) return true;
    if (datagram.length < 13) return false;
    const locs = this.host.locations(readU40(datagram, 8));
    return locs !== undefined && locs.some((l) => l.endpoints.some((e) => e.family === dest.family && e.ip === dest.ip && e.port === dest.port));
  }
}
