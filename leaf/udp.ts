/**
 * The leaf's UDP sockets: at most one per address family, IPv6 sockets IPv6-only (so the node never sees
 * IPv4-mapped addresses, which 1.14 would not treat as the same IPv4 surface, vl1.md §5.1).
 */
import { createSocket, type Socket } from 'node:dgram';
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

export class UdpSockets {
  private readonly sockets = new Map<4 | 6, Socket>();
  constructor(private readonly deps: UdpDeps) {}

  /**
   * Binds `address` (one socket of its family) or, without it, '0.0.0.0' and '::' (the latter skipped if
   * the host has no IPv6).
   * @throws {ZtError} BAD_CONFIG if `address` is not an IP; the bind error otherwise (nothing stays open).
   */
  async open(address: string | undefined, port: number): Promise<void> {
    try {
      if (address !== undefined) {
        const ip = parseIp(address);
        if (ip === null) throw new ZtError(ZtErrorCode.BAD_CONFIG, `Vl1Node bind.address: "${address}" is not an IP address`);
        await this.bind(ip.length === 4 ? 4 : 6, address, port);
      } else {
        await this.bind(4, '0.0.0.0', port);
        try {
          await this.bind(6, '::', port);
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
    return this.sockets.has(family);
  }

  /** Local addresses, one per socket. */
  bound(): InetAddress[] {
    const out: InetAddress[] = [];
    for (const [family, s] of this.sockets) {
      const a = s.address();
      out.push({ family, ip: a.address, port: a.port });
    }
    return out;
  }

  /** Hands `data` to the socket of `to`'s family; false when there is none. */
  send(to: InetAddress, data: Uint8Array): boolean {
    const s = this.sockets.get(to.family);
    if (s === undefined) return false;
    s.send(data, to.port, to.ip, (err) => {
      if (err) this.deps.onSendError(to, err);
    });
    return true;
  }

  async close(): Promise<void> {
    const socks = [...this.sockets.values()];
    this.sockets.clear();
    await Promise.all(socks.map((s) => new Promise<void>((r) => s.close(() => r()))));
  }

  private bind(family: 4 | 6, address: string, port: number): Promise<void> {
    const s = createSocket(family === 4 ? { type: 'udp4' } : { type: 'udp6', ipv6Only: true });
    return new Promise<void>((resolve, reject) => {
      const onError = (e: Error): void => {
        s.close();
        reject(e);
      };
      s.once('error', onError);
      s.bind({ address, port, exclusive: true }, () => {
        s.off('error', onError);
        s.on('error', (e) => this.deps.log?.warn({ err: String(e), family }, 'UDP socket error'));
        s.on('message', (msg: Buffer, rinfo) => {
          const ip = parseIp(rinfo.address);
          if (ip === null) return; // cannot happen for a UDP source; nothing to attribute a drop to
          this.deps.onDatagram(new Uint8Array(msg.buffer, msg.byteOffset, msg.length), inetAddressFromBytes(ip, rinfo.port));
        });
        this.sockets.set(family, s);
        resolve();
      });
    });
  }
}
