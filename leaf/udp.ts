/**
 * The leaf's UDP sockets: per address family one for the primary port and one for each extra port (1.14's
 * secondary and tertiary, vl1.md §10), IPv6 sockets IPv6-only (so the node never sees IPv4-mapped addresses,
 * which 1.14 would not treat as the same IPv4 surface, vl1.md §5.1). A remote is answered from the socket it
 * last spoke to.
 */
import { createSocket, type Socket, type SocketOptions } from 'node:dgram';
import { inetAddressFromBytes, parseIp, type InetAddress } from '../vl1/inet-address.js';
import { ZtError, ZtErrorCode } from '../vl1/errors.js';
import type { Vl1Logger } from './types.js';

export interface UdpDeps {
  /** Every datagram received, with its source. */
  onDatagram(data: Uint8Array, from: InetAddress): void;
  /** A send failed at the socket (counted by the node). */
  onSendError(to: InetAddress, err: Error): void;
  log: Vl1Logger | undefined;
}

/**
 * Bytes asked for each socket's receive and send buffers (SO_RCVBUF / SO_SNDBUF; Linux doubles the figure for its
 * bookkeeping and caps it at net.core.rmem_max / wmem_max). A TCP stream over the TAP arrives as bursts of
 * full-size datagrams faster than one event-loop turn drains them: Linux's default 212992 bytes holds ~90 of them,
 * and every datagram beyond is dropped (UdpRcvbufErrors), which TCP reads as congestion (`ztroot bench leaf`:
 * 54 Mbit/s with thousands of drops per second, see the commit). 1.14 asks for large buffers too (`osdep/Phy.hpp`).
 */
export const UDP_SOCKET_BUFFER_BYTES = 4 << 20;

/** Remotes remembered as last heard on a socket other than their family's first (bounded, least recently heard first out). */
const MAX_REMEMBERED_REMOTES = 4096;

export class UdpSockets {
  /** Per family, the bound sockets: the first is the primary port's, then the extra ports' (1.14's secondary, tertiary). */
  private readonly sockets = new Map<4 | 6, Socket[]>();
  /**
   * "ip/port" → the socket it was last heard on, when that is not its family's first. A peer behind NAT expects
   * answers from the address:port it sent to (1.14 keeps a path per local socket for the same reason).
   */
  private readonly lastSocket = new Map<string, Socket>();
  /**
   * The last datagram's socket and source with its parsed address: a stream comes from one source, and parsing its
   * address text (and remembering its socket) per datagram was ~2 % of a leaf's CPU at speed. The address object is
   * shared by the datagrams of that source; nothing downstream modifies one.
   */
  private lastRx: { s: Socket; ip: string; port: number; from: InetAddress } | null = null;
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
          for (const s of this.sockets.get(4) ?? []) await this.bind(6, '::', s.address().port);
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
    for (const [family, list] of this.sockets) {
      for (const s of list) {
        const a = s.address();
        out.push({ family, ip: a.address, port: a.port });
      }
    }
    return out;
  }

  /** Hands `data` to the socket `to` was last heard on, else its family's first; false when there is none. */
  send(to: InetAddress, data: Uint8Array): boolean {
    const s = this.lastSocket.get(`${to.ip}/${to.port}`) ?? this.sockets.get(to.family)?.[0];
    if (s === undefined) return false;
    s.send(data, to.port, to.ip, (err) => {
      if (err) this.deps.onSendError(to, err);
    });
    return true;
  }

  async close(): Promise<void> {
    const socks = [...this.sockets.values()].flat();
    this.sockets.clear();
    this.lastSocket.clear();
    this.lastRx = null;
    await Promise.all(socks.map((s) => new Promise<void>((r) => s.close(() => r()))));
  }

  /** Remembers which socket `remote` spoke to (only when it is not its family's first: the default needs no entry). */
  private heardOn(family: 4 | 6, s: Socket, remote: string): void {
    if (s === this.sockets.get(family)?.[0]) {
      if (this.lastSocket.size > 0) this.lastSocket.delete(remote);
      return;
    }
    this.lastSocket.delete(remote);
    this.lastSocket.set(remote, s);
    if (this.lastSocket.size > MAX_REMEMBERED_REMOTES) this.lastSocket.delete(this.lastSocket.keys().next().value as string);
  }

  /**
   * Moves the extra port `oldPort` to `newPort` (1.14's secondary-port re-pick): new sockets are bound for every family
   * that had `oldPort` before any old one closes, so a failure leaves everything as it was. The primary port never moves.
   * @throws the bind error of `newPort` (nothing changed then)
   */
  async replacePort(oldPort: number, newPort: number): Promise<void> {
    const moves: Array<{ family: 4 | 6; index: number; old: Socket; fresh?: Socket }> = [];
    for (const [family, list] of this.sockets) {
      const index = list.findIndex((s, i) => i > 0 && s.address().port === oldPort);
      if (index > 0) moves.push({ family, index, old: list[index]! });
    }
    try {
      for (const m of moves) m.fresh = await this.openSocket(m.family, m.old.address().address, newPort);
    } catch (e) {
      await Promise.all(moves.map((m) => (m.fresh === undefined ? undefined : new Promise<void>((r) => m.fresh!.close(() => r())))));
      throw e;
    }
    // close() may have run while the new sockets were binding: then they go too, and nothing is swapped.
    if (moves.some((m) => this.sockets.get(m.family)?.[m.index] !== m.old)) {
      await Promise.all(moves.map((m) => new Promise<void>((r) => m.fresh!.close(() => r()))));
      return;
    }
    for (const m of moves) {
      this.sockets.get(m.family)![m.index] = m.fresh!;
      for (const [remote, s] of this.lastSocket) if (s === m.old) this.lastSocket.delete(remote);
      if (this.lastRx?.s === m.old) this.lastRx = null;
    }
    await Promise.all(moves.map((m) => new Promise<void>((r) => m.old.close(() => r()))));
  }

  private async bind(family: 4 | 6, address: string, port: number): Promise<void> {
    const s = await this.openSocket(family, address, port);
    const list = this.sockets.get(family) ?? [];
    list.push(s);
    this.sockets.set(family, list);
  }

  /** A socket of `family` bound to `address`:`port`, its datagrams handed to {@link UdpDeps.onDatagram}. */
  private openSocket(family: 4 | 6, address: string, port: number): Promise<Socket> {
    // Every address this socket sends to or binds is an IP literal already: answering the lookup at once spares each
    // send dns.lookup's deferral to the next tick (a closure and a tick per datagram).
    const lookup = (addr: string, _o: unknown, cb: (err: Error | null, address: string, family: number) => void): void => cb(null, addr, family);
    const opts = { recvBufferSize: UDP_SOCKET_BUFFER_BYTES, sendBufferSize: UDP_SOCKET_BUFFER_BYTES, lookup: lookup as unknown as SocketOptions['lookup'] };
    const s = createSocket(family === 4 ? { type: 'udp4', ...opts } : { type: 'udp6', ipv6Only: true, ...opts });
    return new Promise<Socket>((resolve, reject) => {
      const onError = (e: Error): void => {
        s.close();
        reject(e);
      };
      s.once('error', onError);
      s.bind({ address, port, exclusive: true }, () => {
        s.off('error', onError);
        s.on('error', (e) => this.deps.log?.warn({ err: String(e), family }, 'UDP socket error'));
        // Linux reports twice what it granted; less than asked means net.core.rmem_max (or wmem_max) capped it.
        const granted = Math.min(s.getRecvBufferSize(), s.getSendBufferSize()) / 2;
        if (granted < UDP_SOCKET_BUFFER_BYTES) {
          this.deps.log?.info({ family, port, asked: UDP_SOCKET_BUFFER_BYTES, granted }, 'UDP socket buffers capped by the host: raise net.core.rmem_max and wmem_max for bursts at speed');
        }
        s.on('message', (msg: Buffer, rinfo) => {
          let from: InetAddress;
          const last = this.lastRx;
          if (last !== null && last.s === s && last.port === rinfo.port && last.ip === rinfo.address) from = last.from; // heardOn done for it
          else {
            const ip = parseIp(rinfo.address);
            if (ip === null) return; // cannot happen for a UDP source; nothing to attribute a drop to
            if (this.sockets.get(family)!.length > 1) this.heardOn(family, s, `${rinfo.address}/${rinfo.port}`);
            from = inetAddressFromBytes(ip, rinfo.port);
            this.lastRx = { s, ip: rinfo.address, port: rinfo.port, from };
          }
          this.deps.onDatagram(new Uint8Array(msg.buffer, msg.byteOffset, msg.length), from);
        });
        resolve(s);
      });
    });
  }
}
