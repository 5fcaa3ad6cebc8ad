/**
 * The leaf's UDP sockets: per address family one for the primary port and one for each extra port (1.14's
 * secondary and tertiary, vl1.md §10), IPv6 sockets IPv6-only (so the node never sees IPv4-mapped addresses,
 * which 1.14 would not treat as the same IPv4 surface, vl1.md §5.1). A remote is answered from the socket it
 * last spoke to.
 *
 * Two socket implementations, one shape ({@link LeafUdpSocket}):
 * - node:dgram, here: one `recvmsg`, one Buffer and one rinfo per datagram, one `sendmsg` and send request per
 *   datagram; works everywhere.
 * - an injected {@link UdpOpener}: the process that runs the leaf (tools/leaf.ts) gives the batched sockets of
 *   native/udp (`recvmmsg`/`sendmmsg`, relay/udp-socket.ts) when that addon loads — leaf/ does not load addons.
 *   Their datagrams are views into a buffer the next batch overwrites: {@link UdpDeps.onDatagram} is told so.
 */
import { createSocket, type Socket, type SocketOptions } from 'node:dgram';
import { inetAddressFromBytes, parseIp, type InetAddress } from '../vl1/inet-address.js';
import { ZtError, ZtErrorCode } from '../vl1/errors.js';
import type { Vl1Logger } from './types.js';

/** One bound UDP socket. */
export interface LeafUdpSocket {
  /**
   * Sends (or queues, to leave with others in one system call) one datagram. `data` must not change until it is
   * sent: node:dgram sends from it later; the batched sockets copy it at once.
   */
  send(data: Uint8Array, port: number, ip: string): void;
  address(): { port: number };
  /** Closes the socket; resolves when it is closed. */
  close(): Promise<void>;
  /** Datagrams this socket failed to send so far (a full send buffer, an unreachable network…). */
  sendFailures(): number;
}

/** What a socket is opened for. */
export interface UdpOpenRequest {
  family: 4 | 6;
  address: string;
  port: number;
  /** Socket errors after bind: logged, never thrown. */
  onError: (e: Error) => void;
}

/**
 * Opens and binds a socket whose received datagrams go to `onMessage` as views into a buffer that is reused once
 * `onMessage` returns. Rejects with the bind error (EADDRINUSE, EADDRNOTAVAIL…) as node:dgram does.
 */
export type UdpOpener = (req: UdpOpenRequest, onMessage: (data: Uint8Array, ip: string, port: number) => void) => Promise<LeafUdpSocket>;

export interface UdpDeps {
  /**
   * Every datagram received, with its source. `borrowed`: the bytes are overwritten after this call returns (the
   * batched sockets), so whatever outlives the call must be copied; false on node:dgram (each datagram its own Buffer).
   */
  onDatagram(data: Uint8Array, from: InetAddress, borrowed: boolean): void;
  log: Vl1Logger | undefined;
  /** The batched (or other) sockets, when the process has them; node:dgram otherwise. */
  opener?: UdpOpener;
}

/**
 * Bytes asked for each socket's receive and send buffers (SO_RCVBUF / SO_SNDBUF; Linux doubles the figure for its
 * bookkeeping and caps it at net.core.rmem_max / wmem_max). A TCP stream over the TAP arrives as bursts of
 * full-size datagrams faster than one event-loop turn drains them: Linux's default 212992 bytes holds ~90 of them,
 * and every datagram beyond is dropped (UdpRcvbufErrors), which TCP reads as congestion (`ztroot bench leaf`:
 * 54 Mbit/s with thousands of drops per second, see the commit). 1.14 asks for large buffers too (`osdep/Phy.hpp`).
 * The batched sockets ask for the same (relay/udp-socket.ts SOCKET_BUFFER_BYTES).
 */
export const UDP_SOCKET_BUFFER_BYTES = 4 << 20;

/** Remotes remembered as last heard on a socket other than their family's first (bounded, least recently heard first out). */
const MAX_REMEMBERED_REMOTES = 4096;

/** A bound socket with what the leaf keeps of it. */
interface Bound {
  sock: LeafUdpSocket;
  family: 4 | 6;
  /** The address it was bound to, as given ('0.0.0.0', '::' or an IP). */
  address: string;
}

export class UdpSockets {
  /** Per family, the bound sockets: the first is the primary port's, then the extra ports' (1.14's secondary, tertiary). */
  private readonly sockets = new Map<4 | 6, Bound[]>();
  /**
   * "ip/port" → the socket it was last heard on, when that is not its family's first. A peer behind NAT expects
   * answers from the address:port it sent to (1.14 keeps a path per local socket for the same reason).
   */
  private readonly lastSocket = new Map<string, Bound>();
  /**
   * The last datagram's socket and source with its parsed address: a stream comes from one source, and parsing its
   * address text (and remembering its socket) per datagram was ~2 % of a leaf's CPU at speed. The address object is
   * shared by the datagrams of that source; nothing downstream modifies one.
   */
  private lastRx: { b: Bound; ip: string; port: number; from: InetAddress } | null = null;
  /** Send failures of sockets already closed (moved ports), so the total never goes back. */
  private closedFailures = 0;
  constructor(private readonly deps: UdpDeps) {}

  /**
   * Binds `address` (sockets of its family only) or, without it, '0.0.0.0' and '::' (the latter skipped if
   * the host has no IPv6), on `port` and each of `extraPorts`.
   * @throws {ZtError} BAD_CONFIG if `address` is not an IP; the bind error otherwise (nothing stays open).
   */
  async open(address: string | undefined, port: number, extraPorts: readonly number[] = []): Promise<void> {
    try {
      if (address !== undefined) {
        const ip = parseIp(address);
        if (ip === null) throw new ZtError(ZtErrorCode.BAD_CONFIG, `Vl1Node bind.address: "${address}" is not an IP address`);
        for (const p of [port, ...extraPorts]) await this.bind(ip.length === 4 ? 4 : 6, address, p);
      } else {
        for (const p of [port, ...extraPorts]) await this.bind(4, '0.0.0.0', p);
        try {
          // The IPv6 sockets take the IPv4 ones' ports (an ephemeral primary port included).
          for (const b of this.sockets.get(4) ?? []) await this.bind(6, '::', b.sock.address().port);
        } catch (e) {
          this.deps.log?.info({ err: String(e) }, 'no IPv6 socket');
        }
      }
    } catch (e) {
      await this.close();
      throw e;
    }
  }

  has(family: 4 | 6): boolean {
    return (this.sockets.get(family)?.length ?? 0) > 0;
  }

  /** Local addresses, one per socket. */
  bound(): InetAddress[] {
    const out: InetAddress[] = [];
    for (const [family, list] of this.sockets) for (const b of list) out.push({ family, ip: b.address, port: b.sock.address().port });
    return out;
  }

  /** Hands `data` to the socket `to` was last heard on, else its family's first; false when there is none. */
  send(to: InetAddress, data: Uint8Array): boolean {
    const b = (this.lastSocket.size > 0 ? this.lastSocket.get(`${to.ip}/${to.port}`) : undefined) ?? this.sockets.get(to.family)?.[0];
    if (b === undefined) return false;
    b.sock.send(data, to.port, to.ip);
    return true;
  }

  /** Datagrams the sockets failed to send, since open. */
  sendFailures(): number {
    let n = this.closedFailures;
    for (const list of this.sockets.values()) for (const b of list) n += b.sock.sendFailures();
    return n;
  }

  async close(): Promise<void> {
    const socks = [...this.sockets.values()].flat();
    this.sockets.clear();
    this.lastSocket.clear();
    this.lastRx = null;
    for (const b of socks) this.closedFailures += b.sock.sendFailures();
    await Promise.all(socks.map((b) => b.sock.close()));
  }

  /** Remembers which socket `remote` spoke to (only when it is not its family's first: the default needs no entry). */
  private heardOn(b: Bound, remote: string): void {
    if (b === this.sockets.get(b.family)?.[0]) {
      if (this.lastSocket.size > 0) this.lastSocket.delete(remote);
      return;
    }
    this.lastSocket.delete(remote);
    this.lastSocket.set(remote, b);
    if (this.lastSocket.size > MAX_REMEMBERED_REMOTES) this.lastSocket.delete(this.lastSocket.keys().next().value as string);
  }

  /**
   * Moves the extra port `oldPort` to `newPort` (1.14's secondary-port re-pick): new sockets are bound for every family
   * that had `oldPort` before any old one closes, so a failure leaves everything as it was. The primary port never moves.
   * @throws the bind error of `newPort` (nothing changed then)
   */
  async replacePort(oldPort: number, newPort: number): Promise<void> {
    const moves: Array<{ family: 4 | 6; index: number; old: Bound; fresh?: Bound }> = [];
    for (const [family, list] of this.sockets) {
      const index = list.findIndex((b, i) => i > 0 && b.sock.address().port === oldPort);
      if (index > 0) moves.push({ family, index, old: list[index]! });
    }
    try {
      for (const m of moves) m.fresh = await this.openSocket(m.family, m.old.address, newPort);
    } catch (e) {
      await Promise.all(moves.map((m) => m.fresh?.sock.close()));
      throw e;
    }
    // close() may have run while the new sockets were binding: then they go too, and nothing is swapped.
    if (moves.some((m) => this.sockets.get(m.family)?.[m.index] !== m.old)) {
      await Promise.all(moves.map((m) => m.fresh!.sock.close()));
      return;
    }
    for (const m of moves) {
      this.sockets.get(m.family)![m.index] = m.fresh!;
      for (const [remote, b] of this.lastSocket) if (b === m.old) this.lastSocket.delete(remote);
      if (this.lastRx?.b === m.old) this.lastRx = null;
      this.closedFailures += m.old.sock.sendFailures();
    }
    await Promise.all(moves.map((m) => m.old.sock.close()));
  }

  private async bind(family: 4 | 6, address: string, port: number): Promise<void> {
    const b = await this.openSocket(family, address, port);
    const list = this.sockets.get(family) ?? [];
    list.push(b);
    this.sockets.set(family, list);
  }

  /** A socket of `family` bound to `address`:`port`, its datagrams handed to {@link UdpDeps.onDatagram}. */
  private async openSocket(family: 4 | 6, address: string, port: number): Promise<Bound> {
    const b: Bound = { sock: undefined as unknown as LeafUdpSocket, family, address };
    const borrowed = this.deps.opener !== undefined;
    const onMessage = (data: Uint8Array, ip: string, rport: number): void => {
      let from: InetAddress;
      const last = this.lastRx;
      if (last !== null && last.b === b && last.port === rport && last.ip === ip) from = last.from; // heardOn done for it
      else {
        const bytes = parseIp(ip);
        if (bytes === null) return; // cannot happen for a UDP source; nothing to attribute a drop to
        if (this.sockets.get(family)!.length > 1) this.heardOn(b, `${ip}/${rport}`);
        from = inetAddressFromBytes(bytes, rport);
        this.lastRx = { b, ip, port: rport, from };
      }
      this.deps.onDatagram(data, from, borrowed);
    };
    const onError = (e: Error): void => this.deps.log?.warn({ err: String(e), family }, 'UDP socket error');
    b.sock = this.deps.opener !== undefined ? await this.deps.opener({ family, address, port, onError }, onMessage) : await openDgram(family, address, port, onMessage, onError, this.deps.log);
    return b;
  }
}

/** A node:dgram socket as a {@link LeafUdpSocket}. */
function openDgram(
  family: 4 | 6,
  address: string,
  port: number,
  onMessage: (data: Uint8Array, ip: string, port: number) => void,
  onError: (e: Error) => void,
  log: Vl1Logger | undefined,
): Promise<LeafUdpSocket> {
  // Every address this socket sends to or binds is an IP literal already: answering the lookup at once spares each
  // send dns.lookup's deferral to the next tick (a closure and a tick per datagram).
  const lookup = (addr: string, _o: unknown, cb: (err: Error | null, address: string, family: number) => void): void => cb(null, addr, family);
  const opts = { recvBufferSize: UDP_SOCKET_BUFFER_BYTES, sendBufferSize: UDP_SOCKET_BUFFER_BYTES, lookup: lookup as unknown as SocketOptions['lookup'] };
  const s: Socket = createSocket(family === 4 ? { type: 'udp4', ...opts } : { type: 'udp6', ipv6Only: true, ...opts });
  let failures = 0;
  const onSent = (err: Error | null): void => {
    if (err) {
      failures++;
      log?.debug({ err: String(err) }, 'send failed');
    }
  };
  return new Promise<LeafUdpSocket>((resolve, reject) => {
    const onBindError = (e: Error): void => {
      s.close();
      reject(e);
    };
    s.once('error', onBindError);
    s.bind({ address, port, exclusive: true }, () => {
      s.off('error', onBindError);
      s.on('error', onError);
      // Linux reports twice what it granted; less than asked means net.core.rmem_max (or wmem_max) capped it.
      const granted = Math.min(s.getRecvBufferSize(), s.getSendBufferSize()) / 2;
      if (granted < UDP_SOCKET_BUFFER_BYTES) {
        log?.info({ family, port, asked: UDP_SOCKET_BUFFER_BYTES, granted }, 'UDP socket buffers capped by the host: raise net.core.rmem_max and wmem_max for bursts at speed');
      }
      s.on('message', (msg: Buffer, rinfo) => onMessage(new Uint8Array(msg.buffer, msg.byteOffset, msg.length), rinfo.address, rinfo.port));
      let closed: Promise<void> | null = null;
      resolve({
        send: (data, toPort, ip) => s.send(data, toPort, ip, onSent),
        address: () => s.address(),
        close: () => (closed ??= new Promise<void>((r) => s.close(() => r()))),
        sendFailures: () => failures,
      });
    });
  });
}
