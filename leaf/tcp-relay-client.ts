/**
 * The leaf's TCP fallback transport: what a 1.14 client does when UDP does not get through (vl1.md §9.2).
 * One TCP connection to a relay; the 4-byte version hello first, then each datagram framed with its
 * destination; what comes back is framed with its source and delivered exactly as if it had arrived over
 * UDP from there, so the node learns ordinary paths.
 *
 * Like 1.14 it connects on the first send and again on the next send after the connection dropped (at
 * most once per `reconnectMs`), and bounds what it queues (64 KiB: beyond that datagrams are dropped and
 * counted — ZeroTier retransmits what matters).
 */
import net from 'node:net';
import type { InetAddress } from '../vl1/inet-address.js';
import { isZtError } from '../vl1/errors.js';
import { decodeTunnelRecord, encodeTunnelHello, encodeTunnelRecord, TunnelRecordReader, type TunnelVersion } from '../vl1/tcp-framing.js';
import type { Vl1Logger } from './types.js';

export interface TcpRelayClientDeps {
  relay: InetAddress;
  version: TunnelVersion;
  /** Every datagram from the relay, with the source it was framed with. */
  onDatagram(data: Uint8Array, from: InetAddress): void;
  log: Vl1Logger | undefined;
  /** Bytes queued before datagrams are dropped (1.14: 64 KiB). */
  maxQueueBytes?: number;
  /** Least time between connection attempts (ms). */
  reconnectMs?: number;
}

export interface TcpRelayStats {
  connects: number;
  sent: number;
  received: number;
  /** Dropped for a full queue or while waiting to reconnect. */
  dropped: number;
  /** Records from the relay that were not datagrams we could use (no address, bad framing). */
  badRecords: number;
}

/** One TCP fallback tunnel to a relay, connected on demand (see the module comment). */
export class TcpRelayClient {
  readonly stats: TcpRelayStats = { connects: 0, sent: 0, received: 0, dropped: 0, badRecords: 0 };
  private sock: net.Socket | null = null;
  private connected = false;
  private lastAttempt = -Infinity;
  private closed = false;
  private readonly maxQueue: number;
  private readonly reconnectMs: number;

  constructor(private readonly deps: TcpRelayClientDeps) {
    this.maxQueue = deps.maxQueueBytes ?? 65_536;
    this.reconnectMs = deps.reconnectMs ?? 1000;
  }

  /** Whether the tunnel is connected now. */
  get isConnected(): boolean {
    return this.connected;
  }

  /** Frames `data` for `to` and queues it, connecting first if needed; false when dropped. */
  send(to: InetAddress, data: Uint8Array): boolean {
    // 1.14 tunnels nothing shorter than 16 bytes (the NAT-opening junk before a hole punch means nothing here).
    if (this.closed || data.length < 16) return false;
    if (this.sock === null && !this.connect()) {
      this.stats.dropped++;
      return false;
    }
    const s = this.sock!;
    const frame = encodeTunnelRecord(data, to);
    if (s.writableLength + frame.length > this.maxQueue) {
      this.stats.dropped++;
      return false;
    }
    s.write(frame);
    this.stats.sent++;
    return true;
  }

  /** Drops the connection (UDP works again); the next send reconnects. */
  disconnect(): void {
    const s = this.sock;
    this.sock = null;
    this.connected = false;
    s?.destroy();
  }

  /** Closes the connection for good (the node stops); resolves once the socket is gone. */
  close(): Promise<void> {
    this.closed = true;
    const s = this.sock;
    this.sock = null;
    if (s === null) return Promise.resolve();
    return new Promise((resolve) => {
      s.once('close', () => resolve());
      s.destroy();
    });
  }

  /** Opens the connection (writes queue until it is up); false while the reconnect pause runs. */
  private connect(): boolean {
    const now = Date.now();
    if (now - this.lastAttempt < this.reconnectMs) return false;
    this.lastAttempt = now;
    const r = this.deps.relay;
    const s = net.connect({ host: r.ip, port: r.port, noDelay: true });
    this.sock = s;
    this.stats.connects++;
    const reader = new TunnelRecordReader();
    s.write(encodeTunnelHello(this.deps.version));
    s.on('connect', () => {
      this.connected = true;
      this.deps.log?.info({ relay: `${r.ip}/${r.port}` }, 'TCP relay connected');
    });
    s.on('data', (chunk: Buffer) => {
      reader.push(chunk);
      let body: Uint8Array | null;
      for (;;) {
        try {
          body = reader.next();
        } catch (e) {
          // Framing we cannot follow (not 0x17, oversized): the stream is lost; the next send reconnects.
          this.stats.badRecords++;
          this.deps.log?.warn({ err: isZtError(e) ? e.message : String(e) }, 'TCP relay sent bad framing; reconnecting');
          s.destroy();
          return;
        }
        if (body === null) return;
        this.onRecord(body);
      }
    });
    s.on('error', (e) => this.deps.log?.debug({ err: e.message }, 'TCP relay connection error'));
    s.on('close', () => {
      if (this.sock === s) this.sock = null;
      this.connected = false;
    });
    return true;
  }

  /** One whole record from the relay. A record we cannot use is counted and skipped: the stream stays in step. */
  private onRecord(body: Uint8Array): void {
    let rec: ReturnType<typeof decodeTunnelRecord>;
    try {
      rec = decodeTunnelRecord(body);
    } catch {
      this.stats.badRecords++; // unknown address type, runt datagram
      return;
    }
    // Address type 00 carries no source, and a hello is not the relay's to send: 1.14 drops both, and so do we.
    if (rec.kind !== 'datagram' || rec.address === null) {
      this.stats.badRecords++;
      return;
    }
    this.stats.received++;
    this.deps.onDatagram(rec.datagram, rec.address);
  }
}
