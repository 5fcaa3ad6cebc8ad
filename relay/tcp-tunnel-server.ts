/**
 * The TCP fallback relay's listener: ZeroTier's tunnel framing (vl1/tcp-framing.ts, vl1.md §9) and HTTPS on
 * one port, with the limits a public service needs.
 *
 *   accept ─► limits (per IP, per prefix, total) ─► first byte ─┬─ 0x16 TLS ClientHello ─► the HTTPS server (unshift + 'connection')
 *                                                               ├─ 0x17 ZeroTier ─► hello ─► records ─► handler.onDatagram
 *                                                               └─ anything else ─► close
 *
 * ZeroTier's tcp-proxy has none of the limits: here a connection must say what it is within the greeting
 * deadline (slowloris), is closed after the idle timeout, can have at most `maxQueueBytes` queued towards it
 * (beyond that datagrams are dropped and counted, and a client that keeps not reading is closed), and cannot
 * announce a record larger than `maxRecordBytes`. Deadlines are checked by one sweep over all connections,
 * not a timer each: the target is 100 k connections held.
 *
 * Descriptors: the total limit is derived from the process's descriptor limit when the listener starts
 * (relay/fd-budget.ts), so a flood of idle connections cannot take the descriptors health checks, /metrics,
 * Redis and new tunnels need. Sources are counted per host (IPv4 address, IPv6 /64) and per prefix (IPv4
 * /24, IPv6 /48; relay/source-keys.ts says why). When the relay is full, a connection from a prefix holding
 * fewer connections than the busiest one takes the place of the busiest prefix's least useful connection
 * (still sniffing, else silent longest): a flood from a few prefixes cannot lock out everyone else.
 */
import net from 'node:net';
import { Duplex } from 'node:stream';
import type tls from 'node:tls';
import type { InetAddress } from '../vl1/inet-address.js';
import { isZtError, ZtErrorCode } from '../vl1/errors.js';
import { FRAGMENT_IDX_INDICATOR, FRAGMENT_INDICATOR, IDX_SOURCE, MIN_PACKET_LENGTH } from '../vl1/constants.js';
import {
  decodeTunnelRecord,
  MAX_TUNNEL_BODY,
  TUNNEL_HEADER_LENGTH,
  TUNNEL_HELLO_LENGTH,
  TUNNEL_RECORD_TYPE,
  TunnelRecordReader,
  tunnelAddressLength,
  writeTunnelAddress,
  type TunnelVersion,
} from '../vl1/tcp-framing.js';
import { AllowList } from './allow-list.js';
import { connectionBudget, FD_RESERVE, type ConnectionBudget } from './fd-budget.js';
import { sourceKeys } from './source-keys.js';

export interface TunnelServerOptions {
  /**
   * Open TCP connections in total (tunnels, TLS handed off, not yet sniffed). 0: as many as the descriptor
   * limit allows after `fdReserve`; a larger number is lowered to that, with a warning (relay/fd-budget.ts).
   */
  maxConnections: number;
  /** Open TCP connections per source host: an IPv4 address or an IPv6 /64 (one NAT may hide many clients). */
  maxConnectionsPerIp: number;
  /** Open TCP connections per source prefix: an IPv4 /24 or an IPv6 /48. */
  maxConnectionsPerPrefix: number;
  /** Descriptors kept free beyond those open when the listener starts (HTTP API, Redis, files; fd-budget.ts). */
  fdReserve: number;
  /** The first bytes must tell TLS from ZeroTier, and a ZeroTier client's whole hello arrive, within this (ms). */
  greetingTimeoutMs: number;
  /** A tunnel with no record received for this long is closed (ms; tcp-proxy: 300 s). */
  idleTimeoutMs: number;
  /** Bytes queued towards one connection before datagrams to it are dropped (tcp-proxy: 128 KiB). */
  maxQueueBytes: number;
  /** A connection that keeps dropping for want of a drain this long is closed (ms). */
  slowReaderMs: number;
  /** Largest record body accepted; a header announcing more closes the connection. */
  maxRecordBytes: number;
  /** Only these ZeroTier addresses may use the relay; null: everyone. */
  allowList: { file: string; failOpen: boolean } | null;
  /** How often deadlines are checked (ms). */
  sweepMs: number;
}

export const DEFAULT_TUNNEL_SERVER_OPTIONS: Readonly<TunnelServerOptions> = Object.freeze({
  maxConnections: 0,
  maxConnectionsPerIp: 256,
  maxConnectionsPerPrefix: 1024,
  fdReserve: FD_RESERVE,
  greetingTimeoutMs: 10_000,
  idleTimeoutMs: 300_000,
  maxQueueBytes: 131_072,
  slowReaderMs: 30_000,
  maxRecordBytes: MAX_TUNNEL_BODY,
  allowList: null,
  sweepMs: 1000,
});

/** One client's TCP tunnel. */
export interface TunnelConnection {
  /** Unique per server, a small integer. */
  readonly id: number;
  /** The TCP peer (an IPv4-mapped IPv6 address is given as IPv4). */
  readonly remote: InetAddress;
  /** From the client's hello. */
  readonly version: TunnelVersion | null;
  /** The ZeroTier address the connection speaks for (source of its first whole packet), −1 until then. */
  readonly address: number;
  readonly open: boolean;
  /** Frames `datagram` as coming from `source` and queues it; false (and counted) when closed or the queue is full. */
  send(datagram: Uint8Array, source: InetAddress | null): boolean;
  close(reason: string): void;
}

export interface TunnelHandler {
  /** A datagram the client sent towards `destination` (null: address type 00). Synchronous; copy what you keep. */
  onDatagram(conn: TunnelConnection, datagram: Uint8Array, destination: InetAddress | null): void;
  /** The tunnel is gone (any reason); once per connection that completed the hello. */
  onClose(conn: TunnelConnection): void;
}

export interface TunnelServerDeps {
  /** An https.Server (not listening) for TLS connections; without it they are closed and counted. */
  https?: tls.Server;
  logger?: { debug(o: object, m?: string): void; info(o: object, m?: string): void; warn(o: object, m?: string): void; error(o: object, m?: string): void };
  now?: () => number;
}

/** Counter names, in a fixed order (metric labels; see root/metrics.ts). */
const COUNTER_NAMES = [
  'tcp_accepted',
  'tcp_closed',
  'tcp_tls_handoffs',
  'tcp_tls_unconfigured',
  'tcp_tunnels_opened',
  'tcp_refused_total_limit',
  'tcp_refused_ip_limit',
  'tcp_refused_prefix_limit',
  'tcp_accept_errors',
  'tcp_evicted',
  'tcp_greeting_timeouts',
  'tcp_idle_timeouts',
  'tcp_bad_protocol',
  'tcp_bad_records',
  'tcp_records_too_large',
  'tcp_rx_datagrams',
  'tcp_rx_bytes',
  'tcp_tx_datagrams',
  'tcp_tx_bytes',
  'tcp_queue_full_drops',
  'tcp_slow_reader_closes',
  'tcp_allowlist_denied',
  'tcp_source_mismatch',
  'tcp_runt_datagrams',
] as const;
type CounterName = (typeof COUNTER_NAMES)[number];
const C = Object.fromEntries(COUNTER_NAMES.map((n, i) => [n, i])) as Record<CounterName, number>;

/** Connection states. */
const SNIFFING = 0;
const TUNNEL = 1;
const TLS = 2;
const CLOSED = 3;

/** One accepted TCP connection; a tunnel once its hello arrived. Small on purpose (100 k of them). */
class Connection implements TunnelConnection {
  state = SNIFFING;
  version: TunnelVersion | null = null;
  address = -1;
  /** When it was accepted, when a record last arrived, and since when sends have been dropped (0: not dropping); ms. */
  readonly acceptedAt: number;
  lastRx: number;
  droppingSince = 0;
  reader: TunnelRecordReader | null = null;

  constructor(
    readonly id: number,
    readonly socket: net.Socket,
    readonly remote: InetAddress,
    /** The source's keys for the per-IP and per-prefix limits (relay/source-keys.ts). */
    readonly hostKey: string,
    readonly prefixKey: string,
    private readonly server: TcpTunnelServer,
    now: number,
  ) {
    this.acceptedAt = now;
    this.lastRx = now;
  }

  get open(): boolean {
    return this.state === TUNNEL;
  }

  send(datagram: Uint8Array, source: InetAddress | null): boolean {
    return this.server.sendOn(this, datagram, source);
  }

  close(reason: string): void {
    this.server.closeConnection(this, reason);
  }
}

export class TcpTunnelServer {
  private readonly opts: TunnelServerOptions;
  private readonly handler: TunnelHandler;
  private readonly deps: TunnelServerDeps;
  private readonly now: () => number;
  private readonly server: net.Server;
  private readonly conns = new Map<number, Connection>();
  private readonly perHost = new Map<string, number>();
  private readonly perPrefix = new PrefixCounts();
  /** The total limit in force (worked out at listen from maxConnections and the descriptor limit). */
  private maxConns: number;
  private budget: ConnectionBudget | null = null;
  private lastAcceptErrorLog = -Infinity;
  private readonly counts = new Float64Array(COUNTER_NAMES.length);
  private readonly allow: AllowList | null;
  private nextId = 1;
  private tunnelCount = 0;
  private sweepTimer: NodeJS.Timeout | null = null;
  private lastAllowRefresh = 0;
  /** Sockets written to in this turn of the event loop: corked, and uncorked together once the turn's I/O is done. */
  private readonly corked: net.Socket[] = [];
  private readonly uncorkAll = (): void => {
    for (const s of this.corked) s.uncork();
    this.corked.length = 0;
  };

  constructor(opts: Partial<TunnelServerOptions>, handler: TunnelHandler, deps: TunnelServerDeps = {}) {
    this.opts = { ...DEFAULT_TUNNEL_SERVER_OPTIONS, ...opts };
    this.maxConns = this.opts.maxConnections > 0 ? this.opts.maxConnections : Number.MAX_SAFE_INTEGER;
    this.handler = handler;
    this.deps = deps;
    this.now = deps.now ?? Date.now;
    this.allow = this.opts.allowList === null ? null : new AllowList(this.opts.allowList.file, this.opts.allowList.failOpen, deps.logger);
    // pauseOnConnect: nothing is read before the limits are checked.
    this.server = net.createServer({ pauseOnConnect: true, noDelay: true }, (s) => this.onConnection(s));
    this.server.on('error', (e) => this.onListenerError(e));
  }

  /**
   * accept() failed (EMFILE/ENFILE when descriptors ran out anyway, e.g. taken by something else): counted,
   * logged at most every 10 s. libuv drops the pending connection and the listener keeps going.
   */
  private onListenerError(e: Error): void {
    if (!this.server.listening) return; // a listen error: listen() rejects with it
    this.counts[C.tcp_accept_errors]!++;
    const now = this.now();
    if (now - this.lastAcceptErrorLog < 10_000) return;
    this.lastAcceptErrorLog = now;
    this.deps.logger?.error({ err: e.message, acceptErrors: this.counts[C.tcp_accept_errors], connections: this.conns.size, maxConnections: this.maxConns }, 'TCP relay cannot accept connections');
  }

  /**
   * Binds; port 0 picks a free one. Works out the connection limit from the descriptors left (see
   * `connectionLimit`) just before, when everything the process opens at start-up is open.
   * @throws the listen error (EADDRINUSE, EACCES for 443 without privileges, ...).
   */
  listen(host: string, port: number): Promise<void> {
    const budget = connectionBudget(this.opts.maxConnections, this.opts.fdReserve);
    this.budget = budget;
    this.maxConns = budget.maxConnections;
    const fields = { maxConnections: budget.maxConnections, descriptorLimit: budget.descriptorLimit, descriptorsOpen: budget.open, descriptorReserve: budget.reserve };
    if (budget.lowered) {
      this.deps.logger?.warn(
        { ...fields, requested: budget.requested },
        `TCP relay: ${budget.requested} connections do not fit in the descriptor limit; holding at most ${budget.maxConnections}. Raise the limit (LimitNOFILE= in systemd, --ulimit nofile= in Docker) for more`,
      );
    } else if (budget.descriptorLimit === null) {
      this.deps.logger?.warn(fields, 'TCP relay: the descriptor limit cannot be read on this system; the connection limit is not checked against it');
    }
    return new Promise((resolve, reject) => {
      const onError = (e: Error): void => reject(e);
      this.server.once('error', onError);
      // A big backlog: a fleet-wide UDP outage sends every client here at once.
      this.server.listen({ host, port, backlog: 4096, exclusive: true }, () => {
        this.server.off('error', onError);
        this.deps.logger?.info(fields, 'TCP relay connection limit');
        this.sweepTimer = setInterval(() => this.sweep(), this.opts.sweepMs);
        this.sweepTimer.unref();
        resolve();
      });
    });
  }

  get port(): number {
    const a = this.server.address();
    return a !== null && typeof a === 'object' ? a.port : 0;
  }

  /** Open TCP connections of every kind. */
  get connections(): number {
    return this.conns.size;
  }

  /** Connections that completed the ZeroTier hello. */
  get tunnels(): number {
    return this.tunnelCount;
  }

  /** The total connection limit in force (after listen: derived from the descriptor limit). */
  get connectionLimit(): number {
    return this.maxConns;
  }

  /** How the limit was worked out at listen (null before). */
  get connectionBudget(): ConnectionBudget | null {
    return this.budget;
  }

  get counters(): ReadonlyMap<string, number> {
    return new Map(COUNTER_NAMES.map((n, i) => [n, this.counts[i]!]));
  }

  /** Whether the allow-list (if any) is in force: 'ok', 'failed-open' or 'failed-closed'; null without one. */
  get allowListState(): AllowList['state'] | null {
    return this.allow?.state ?? null;
  }

  /** Stops listening and closes every connection (onClose for each tunnel). */
  async close(): Promise<void> {
    if (this.sweepTimer !== null) clearInterval(this.sweepTimer);
    this.sweepTimer = null;
    const closed = new Promise<void>((r) => this.server.close(() => r()));
    for (const c of [...this.conns.values()]) this.closeConnection(c, 'server closing');
    await closed;
  }

  // ---- accept and sniff --------------------------------------------------------------------------

  private onConnection(socket: net.Socket): void {
    const ip = normaliseIp(socket.remoteAddress ?? '');
    const port = socket.remotePort ?? 0;
    const keys = sourceKeys(ip);
    if (keys === null) {
      socket.destroy(); // already gone
      return;
    }
    const n = this.perHost.get(keys.host) ?? 0;
    if (n >= this.opts.maxConnectionsPerIp) {
      this.counts[C.tcp_refused_ip_limit]!++;
      socket.destroy();
      return;
    }
    if (this.perPrefix.get(keys.prefix) >= this.opts.maxConnectionsPerPrefix) {
      this.counts[C.tcp_refused_prefix_limit]!++;
      socket.destroy();
      return;
    }
    if (this.conns.size >= this.maxConns && !this.evictFor(keys.prefix)) {
      this.counts[C.tcp_refused_total_limit]!++;
      socket.destroy();
      return;
    }
    this.perHost.set(keys.host, n + 1);
    this.counts[C.tcp_accepted]!++;
    const conn = new Connection(this.nextId++, socket, { family: ip.includes(':') ? 6 : 4, ip, port }, keys.host, keys.prefix, this, this.now());
    this.conns.set(conn.id, conn);
    this.perPrefix.add(conn);
    socket.on('error', () => undefined); // resets are normal; 'close' follows
    socket.on('close', () => this.onSocketClose(conn));
    socket.on('data', (chunk: Buffer) => this.onData(conn, chunk));
    socket.on('drain', () => (conn.droppingSince = 0));
    socket.resume();
  }

  private onData(conn: Connection, chunk: Buffer): void {
    if (conn.state === SNIFFING && conn.reader === null) {
      const first = chunk[0]!;
      if (first === 0x16) return this.handToTls(conn, chunk);
      if (first !== TUNNEL_RECORD_TYPE) {
        this.counts[C.tcp_bad_protocol]!++;
        return this.closeConnection(conn, 'neither TLS nor ZeroTier');
      }
      conn.reader = new TunnelRecordReader(this.opts.maxRecordBytes);
    }
    if (conn.state === CLOSED || conn.reader === null) return;
    const reader = conn.reader;
    reader.push(chunk);
    try {
      for (let body = reader.next(); body !== null; body = conn.state === CLOSED ? null : reader.next()) this.onRecord(conn, body);
    } catch (e) {
      if (isZtError(e, ZtErrorCode.TOO_LONG)) this.counts[C.tcp_records_too_large]!++;
      else this.counts[C.tcp_bad_records]!++;
      this.deps.logger?.debug({ remote: conn.remote.ip, err: (e as Error).message }, 'TCP relay: bad stream');
      this.closeConnection(conn, (e as Error).message);
    }
  }

  /** TLS: give the socket, first bytes put back, to the HTTPS server; it stays counted until it closes. */
  private handToTls(conn: Connection, chunk: Buffer): void {
    const https = this.deps.https;
    if (https === undefined) {
      this.counts[C.tcp_tls_unconfigured]!++;
      return this.closeConnection(conn, 'TLS without a certificate');
    }
    conn.state = TLS;
    this.counts[C.tcp_tls_handoffs]!++;
    const s = conn.socket;
    s.removeAllListeners('data');
    s.removeAllListeners('drain');
    https.emit('connection', prefixed(s, chunk));
  }

  private onRecord(conn: Connection, body: Uint8Array): void {
    const now = this.now();
    conn.lastRx = now;
    if (conn.state === SNIFFING) {
      if (body.length !== TUNNEL_HELLO_LENGTH) {
        this.counts[C.tcp_bad_protocol]!++;
        return this.closeConnection(conn, 'first record is not the hello');
      }
      conn.version = { major: body[0]!, minor: body[1]!, revision: (body[2]! << 8) | body[3]! };
      conn.state = TUNNEL;
      this.tunnelCount++;
      this.counts[C.tcp_tunnels_opened]!++;
      return;
    }
    if (body.length === TUNNEL_HELLO_LENGTH) return; // a repeated hello: harmless
    let rec;
    try {
      rec = decodeTunnelRecord(body);
    } catch (e) {
      // Too short to be ZeroTier (tcp-proxy forwards nothing under 16 bytes): dropped, the stream is fine.
      // Anything else (an unknown address type) closes the connection, as 1.14 does.
      if (!isZtError(e, ZtErrorCode.TRUNCATED)) throw e;
      this.counts[C.tcp_runt_datagrams]!++;
      return;
    }
    if (rec.kind !== 'datagram') return;
    const d = rec.datagram;
    if (!this.admit(conn, d)) return;
    this.counts[C.tcp_rx_datagrams]!++;
    this.counts[C.tcp_rx_bytes]! += d.length;
    try {
      this.handler.onDatagram(conn, d, rec.address);
    } catch (e) {
      this.deps.logger?.error({ err: e instanceof Error ? e.stack : String(e) }, 'TCP relay handler failed');
    }
  }

  /**
   * A tunnel speaks for one ZeroTier address: the source of its first whole packet (a node tunnels only
   * its own packets). With an allow-list that address must be on it; fragments (no source) pass only once
   * an allowed address is known.
   */
  private admit(conn: Connection, d: Uint8Array): boolean {
    const fragment = d.length > FRAGMENT_IDX_INDICATOR && d[FRAGMENT_IDX_INDICATOR] === FRAGMENT_INDICATOR;
    if (fragment || d.length < MIN_PACKET_LENGTH) return this.allow === null || conn.address >= 0;
    const src = d[IDX_SOURCE]! * 2 ** 32 + (((d[IDX_SOURCE + 1]! << 24) | (d[IDX_SOURCE + 2]! << 16) | (d[IDX_SOURCE + 3]! << 8) | d[IDX_SOURCE + 4]!) >>> 0);
    if (conn.address < 0) {
      if (this.allow !== null && !this.allow.allowed(src)) {
        this.counts[C.tcp_allowlist_denied]!++;
        this.closeConnection(conn, 'address not on the allow-list');
        return false;
      }
      conn.address = src;
      return true;
    }
    if (src !== conn.address) {
      this.counts[C.tcp_source_mismatch]!++;
      return false;
    }
    return true;
  }

  // ---- send ---------------------------------------------------------------------------------------

  /** @see TunnelConnection.send */
  sendOn(conn: Connection, datagram: Uint8Array, source: InetAddress | null): boolean {
    if (conn.state !== TUNNEL) return false;
    const prefix = tunnelAddressLength(source);
    const body = prefix + datagram.length;
    if (body > 0xffff) return false;
    const s = conn.socket;
    if (s.writableLength + TUNNEL_HEADER_LENGTH + body > this.opts.maxQueueBytes) {
      this.counts[C.tcp_queue_full_drops]!++;
      if (conn.droppingSince === 0) conn.droppingSince = this.now();
      return false;
    }
    const frame = Buffer.allocUnsafe(TUNNEL_HEADER_LENGTH + body);
    frame[0] = TUNNEL_RECORD_TYPE;
    frame[1] = 3;
    frame[2] = 3;
    frame[3] = body >> 8;
    frame[4] = body & 0xff;
    try {
      writeTunnelAddress(frame, TUNNEL_HEADER_LENGTH, source);
    } catch {
      return false; // not an IP of its family: the caller's bug, nothing to send
    }
    frame.set(datagram, TUNNEL_HEADER_LENGTH + prefix);
    // Datagrams for one client that arrive in the same poll phase leave in one writev, not a syscall each.
    if (s.writableCorked === 0) {
      s.cork();
      if (this.corked.push(s) === 1) setImmediate(this.uncorkAll);
    }
    s.write(frame);
    this.counts[C.tcp_tx_datagrams]!++;
    this.counts[C.tcp_tx_bytes]! += datagram.length;
    return true;
  }

  // ---- deadlines and closing ----------------------------------------------------------------------

  /** One pass over every connection: greeting, idle and slow-reader deadlines; the allow-list's file. */
  private sweep(): void {
    const now = this.now();
    const o = this.opts;
    for (const c of this.conns.values()) {
      if (c.state === SNIFFING) {
        if (now - c.acceptedAt >= o.greetingTimeoutMs) {
          this.counts[C.tcp_greeting_timeouts]!++;
          this.closeConnection(c, 'greeting timeout');
        }
      } else if (c.state === TUNNEL) {
        if (now - c.lastRx >= o.idleTimeoutMs) {
          this.counts[C.tcp_idle_timeouts]!++;
          this.closeConnection(c, 'idle');
        } else if (c.droppingSince !== 0 && now - c.droppingSince >= o.slowReaderMs) {
          this.counts[C.tcp_slow_reader_closes]!++;
          this.closeConnection(c, 'slow reader');
        }
      }
    }
    if (this.allow !== null && now - this.lastAllowRefresh >= 5000) {
      this.lastAllowRefresh = now;
      this.allow.refresh();
    }
  }

  /**
   * The relay is full and a connection from `prefix` arrived: if that prefix holds at least two fewer
   * connections than the busiest one, close the busiest prefix's least useful connection to make room.
   * Max-min fairness: whoever floods only ever competes with themselves; steady state changes nothing.
   */
  private evictFor(prefix: string): boolean {
    const busiest = this.perPrefix.busiest();
    if (busiest === undefined || this.perPrefix.get(prefix) + 2 > busiest.size) return false;
    let victim: Connection | undefined;
    for (const c of busiest) if (victim === undefined || lessUseful(c, victim)) victim = c;
    if (victim === undefined) return false;
    this.counts[C.tcp_evicted]!++;
    this.closeConnection(victim, 'evicted: the relay is full and another prefix needs room');
    return true;
  }

  /** @see TunnelConnection.close */
  closeConnection(conn: Connection, reason: string): void {
    if (conn.state === CLOSED) return;
    this.deps.logger?.debug({ remote: `${conn.remote.ip}:${conn.remote.port}`, id: conn.id, reason }, 'TCP relay connection closed');
    conn.socket.destroy();
    this.onSocketClose(conn);
  }

  private onSocketClose(conn: Connection): void {
    if (!this.conns.delete(conn.id)) return;
    const wasTunnel = conn.state === TUNNEL;
    conn.state = CLOSED;
    conn.reader = null;
    this.counts[C.tcp_closed]!++;
    const n = (this.perHost.get(conn.hostKey) ?? 1) - 1;
    if (n <= 0) this.perHost.delete(conn.hostKey);
    else this.perHost.set(conn.hostKey, n);
    this.perPrefix.remove(conn);
    if (!wasTunnel) return;
    this.tunnelCount--;
    try {
      this.handler.onClose(conn);
    } catch (e) {
      this.deps.logger?.error({ err: e instanceof Error ? e.stack : String(e) }, 'TCP relay close handler failed');
    }
  }
}

/** Which of two connections of one prefix to give up first: one still sniffing, then one that never sent a datagram, then the longest silent. */
function lessUseful(a: Connection, b: Connection): boolean {
  const rank = (c: Connection) => (c.state === SNIFFING ? 0 : c.state === TUNNEL && c.address < 0 ? 1 : 2);
  const ra = rank(a);
  const rb = rank(b);
  return ra !== rb ? ra < rb : a.lastRx < b.lastRx;
}

/**
 * Connections per source prefix, with the busiest prefix at hand in O(1): prefixes are kept in buckets by
 * their count, so finding whom to evict does not scan every prefix during a flood.
 */
class PrefixCounts {
  private readonly byPrefix = new Map<string, Set<Connection>>();
  /** byCount[n]: the prefixes holding n connections. */
  private readonly byCount: Array<Set<string>> = [];
  private max = 0;

  get(prefix: string): number {
    return this.byPrefix.get(prefix)?.size ?? 0;
  }

  add(c: Connection): void {
    let set = this.byPrefix.get(c.prefixKey);
    if (set === undefined) this.byPrefix.set(c.prefixKey, (set = new Set()));
    const n = set.size;
    set.add(c);
    if (n > 0) this.byCount[n]!.delete(c.prefixKey);
    (this.byCount[n + 1] ??= new Set()).add(c.prefixKey);
    if (n + 1 > this.max) this.max = n + 1;
  }

  remove(c: Connection): void {
    const set = this.byPrefix.get(c.prefixKey);
    if (set === undefined || !set.delete(c)) return;
    const n = set.size + 1;
    this.byCount[n]!.delete(c.prefixKey);
    if (n > 1) this.byCount[n - 1]!.add(c.prefixKey);
    else this.byPrefix.delete(c.prefixKey);
    while (this.max > 0 && this.byCount[this.max]!.size === 0) this.max--;
  }

  /** The connections of a prefix holding the most (any of them when several tie). */
  busiest(): ReadonlySet<Connection> | undefined {
    if (this.max === 0) return undefined;
    for (const p of this.byCount[this.max]!) return this.byPrefix.get(p);
    return undefined;
  }
}

/**
 * The socket as a stream that first yields the bytes already read. `socket.unshift` is not enough for
 * TLS: a TLSSocket over a net.Socket reads its C++ handle directly and would never see them; over a plain
 * Duplex it reads the stream. (HTTPS here is the dashboard and a disguise, not a data path: the extra
 * copy does not matter.)
 */
function prefixed(socket: net.Socket, first: Buffer): Duplex {
  const d = new Duplex({
    read() {
      socket.resume();
    },
    write(chunk: Buffer, _enc, cb) {
      socket.write(chunk, cb);
    },
    final(cb) {
      socket.end(cb);
    },
    destroy(err, cb) {
      socket.destroy();
      cb(err);
    },
  });
  d.push(first);
  socket.on('data', (c: Buffer) => {
    if (!d.push(c)) socket.pause();
  });
  socket.on('end', () => d.push(null));
  socket.on('close', () => d.destroy());
  return d;
}

/** `::ffff:192.0.2.1` → `192.0.2.1`: a dual-stack listener sees IPv4 clients that way. */
function normaliseIp(ip: string): string {
  return ip.startsWith('::ffff:') && ip.includes('.') ? ip.slice(7) : ip;
}
