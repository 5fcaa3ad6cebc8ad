/**
 * A raw TCP fallback client for root tests: what a 1.14 client does once it has given up on UDP
 * (vl1.md §9.2) — connect, send the 9-byte hello, then frame each datagram with its destination — with
 * packets built by hand by the caller, so every behaviour can be checked precisely.
 */
import net from 'node:net';
import { once } from 'node:events';
import type { InetAddress } from '../vl1/inet-address.js';
import { Inbox } from './inbox.js';
import { answerRootEcho } from './probe-answer.js';
import type { Identity } from '../vl1/identity.js';
import { PeerKey } from '../vl1/peer-key.js';
import { decodeTunnelRecord, encodeTunnelHello, encodeTunnelRecord, TunnelRecordReader } from '../vl1/tcp-framing.js';

export interface TunnelDelivery {
  datagram: Uint8Array;
  from: InetAddress | null;
}

export class RawTunnelClient {
  readonly inbox = new Inbox<TunnelDelivery>();
  private sock: net.Socket | null = null;
  private readonly reader = new TunnelRecordReader();
  closed = false;

  private prober: { me: Identity; root: Identity; key: PeerKey } | null = null;

  constructor(private readonly host: string, private readonly port: number) {}

  /**
   * Answer the root's path probes (an ECHO from `root` to `me`) through the tunnel, as a 1.14 client does, instead
   * of delivering them: the root binds a tunnel to its peer only once a probe through it is answered.
   */
  answerProbes(me: Identity, root: Identity): this {
    this.prober = { me, root, key: new PeerKey(me.agree(root)) };
    return this;
  }

  /** Connects and sends the hello of `version` (1.14.1 by default). */
  async open(version = { major: 1, minor: 14, revision: 1 }, localAddress?: string): Promise<this> {
    const s = net.connect({ host: this.host, port: this.port, ...(localAddress !== undefined ? { localAddress } : {}) });
    this.sock = s;
    s.on('data', (chunk: Buffer) => {
      this.reader.push(new Uint8Array(chunk));
      for (let b = this.reader.next(); b !== null; b = this.reader.next()) {
        const r = decodeTunnelRecord(b);
        if (r.kind !== 'datagram') continue;
        const p = this.prober;
        const ok = p !== null && r.address !== null ? answerRootEcho(r.datagram, p.me, p.root, p.key) : null;
        if (ok !== null) this.send(ok, r.address!);
        else this.inbox.push({ datagram: r.datagram.slice(), from: r.address });
      }
    });
    s.on('close', () => {
      this.closed = true;
      this.inbox.end();
    });
    s.on('error', () => undefined);
    await once(s, 'connect');
    s.write(encodeTunnelHello(version));
    return this;
  }

  /** The client side of the TCP connection (what the relay sees as the remote). */
  get local(): { ip: string; port: number } {
    return { ip: this.sock!.localAddress!, port: this.sock!.localPort! };
  }

  send(datagram: Uint8Array, to: InetAddress): void {
    this.sock!.write(encodeTunnelRecord(datagram, to));
  }

  /** Writes raw bytes (for malformed-input tests). */
  write(bytes: Uint8Array): void {
    this.sock!.write(bytes);
  }

  /** Next delivery, or null after `ms` (or when the connection closed and nothing is left). */
  next(ms = 1500): Promise<TunnelDelivery | null> {
    return this.inbox.next(ms);
  }

  /** Everything that arrives until `ms` pass without a delivery. */
  drain(ms = 300): Promise<TunnelDelivery[]> {
    return this.inbox.drain(ms);
  }

  /** Resolves once the connection is closed (by either side). */
  async whenClosed(ms = 3000): Promise<boolean> {
    const deadline = Date.now() + ms;
    while (!this.closed && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    return this.closed;
  }

  close(): void {
    this.sock?.destroy();
  }
}
