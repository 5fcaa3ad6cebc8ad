/**
 * The root's UDP sockets, on one of two paths with the same shape ({@link UdpSocket}):
 *
 * - **batched** — native/udp (a Node-API addon): `recvmmsg` into a preallocated buffer, one JS call per batch of
 *   up to {@link BATCH} datagrams, and sends copied into a native batch that leaves with one `sendmmsg` after the
 *   batch's handler returns (or, for sends from anywhere else, before the event loop next waits). Linux only.
 * - **dgram** — node:dgram: one `recvmsg`, one callback, one Buffer, one rinfo object and one IP string per
 *   datagram, one `sendmsg` per send. Works everywhere; the fallback when the addon is not built or not wanted.
 *
 * Which one: {@link resolveUdpPath} — `ZTROOT_UDP` / the `udp` config key: `auto` (batched when the addon loads),
 * `batched` (an error if it does not), `dgram`.
 *
 * The datagram handed to `onMessage` is a view into a buffer reused for the next batch: handlers must copy what
 * they keep (the root already does: "the datagram buffer is not ours after this call returns").
 */
import dgram from 'node:dgram';
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { constants as osConstants } from 'node:os';
import { fileURLToPath } from 'node:url';
import { formatIpv6 } from '../vl1/inet-address.js';
import { ZtError, ZtErrorCode } from '../vl1/errors.js';

/** A bound UDP socket, as the root uses it: the subset of dgram.Socket both paths provide. */
export interface UdpSocket {
  /** Queues (batched) or sends (dgram) one datagram; the bytes are copied or owned until sent, the caller may reuse them. */
  send(buf: Uint8Array, port: number, ip: string): void;
  address(): { port: number };
  /** Closes the socket; resolves when it is closed. Idempotent. */
  close(): Promise<void>;
}

export type UdpHandler = (buf: Uint8Array, ip: string, port: number) => void;

export interface UdpSocketOptions {
  family: 4 | 6;
  address: string;
  port: number;
  /** SO_REUSEPORT (several processes or workers on one port); dgram: `reusePort` needs Node ≥ 22.12, so off there. */
  reusePort?: boolean;
  /** Socket errors after bind (ICMP-reported, etc.): counted or logged by the owner; never thrown. */
  onError?: (e: Error) => void;
}

export type UdpPathMode = 'auto' | 'batched' | 'dgram';

export interface UdpPath {
  /** The path the sockets use. */
  path: 'batched' | 'dgram';
  /** For dgram: why (forced by config, or the addon missing with how to build it); null on the batched path. */
  why: string | null;
}

/** Datagrams per recvmmsg / sendmmsg. */
export const BATCH = 64;
/** Largest datagram received whole (ZeroTier's physical packets are ≤ 10 KB; longer ones are counted and dropped). */
export const SLOT_BYTES = 16384;
/** SO_RCVBUF / SO_SNDBUF, as the dgram path asks (the kernel caps it at net.core.rmem_max / wmem_max). */
export const SOCKET_BUFFER_BYTES = 4 << 20;

/** Indices into {@link BatchedUdpSocket.stats} (native/udp/udp.cc enum Stat). */
export const UdpStat = {
  RX_DATAGRAMS: 0,
  RX_BATCHES: 1,
  RX_TRUNCATED: 2,
  RX_ERRORS: 3,
  TX_DATAGRAMS: 4,
  TX_BATCHES: 5,
  TX_DROPPED_AGAIN: 6,
  TX_ERRORS: 7,
  TX_REJECTED: 8,
} as const;

interface NativeSocket {
  send(data: Uint8Array, ip: string, port: number): boolean;
  flush(): void;
  port(): number;
  ref(): void;
  unref(): void;
  close(): void;
}

export interface UdpAddon {
  Socket: new (
    family: number,
    address: string,
    port: number,
    reusePort: boolean,
    bufBytes: number,
    rxData: Uint8Array,
    rxMeta: Uint32Array,
    slotBytes: number,
    batch: number,
    stats: Float64Array,
    onBatch: (count: number) => void,
  ) => NativeSocket;
  STATS: number;
  META_WORDS: number;
}

/** Where `npm install` (or `npm run build:native`) leaves the addon. */
export const UDP_ADDON_PATH = fileURLToPath(new URL('../../native/udp/build/Release/udp.node', import.meta.url));
const REPO_DIR = fileURLToPath(new URL('../../', import.meta.url));

let loaded: { addon: UdpAddon } | { why: string } | undefined;

/** The addon, or why it cannot be used (with how to build it). Loaded once. */
export function loadUdpAddon(): { addon: UdpAddon } | { why: string } {
  if (loaded) return loaded;
  const build = `install g++, make and python3, then run \`npm run build:native\` in ${REPO_DIR}`;
  if (process.platform !== 'linux') loaded = { why: `the batched UDP addon is Linux-only (this is ${process.platform})` };
  else if (!existsSync(UDP_ADDON_PATH)) loaded = { why: `the batched UDP addon is not built (${UDP_ADDON_PATH} is missing): ${build}` };
  else {
    try {
      loaded = { addon: createRequire(import.meta.url)(UDP_ADDON_PATH) as UdpAddon };
    } catch (e) {
      loaded = { why: `the batched UDP addon ${UDP_ADDON_PATH} does not load (${(e as Error).message.split('\n')[0]}): ${build}` };
    }
  }
  return loaded;
}

/**
 * Which path sockets opened with `mode` take. `auto` defers to `ZTROOT_UDP` when it is set (so a whole test run
 * can be put on the fallback), then takes the addon when it loads.
 * @throws ZtError BAD_CONFIG for an unknown mode, or `batched` without the addon
 */
export function resolveUdpPath(mode: UdpPathMode = 'auto', env: NodeJS.ProcessEnv = process.env): UdpPath {
  let m: string = mode;
  if (m === 'auto' && env.ZTROOT_UDP !== undefined && env.ZTROOT_UDP !== '') m = env.ZTROOT_UDP;
  if (m === 'dgram') return { path: 'dgram', why: mode === 'dgram' ? 'udp: dgram in the configuration' : 'ZTROOT_UDP=dgram' };
  if (m !== 'auto' && m !== 'batched') {
    throw new ZtError(ZtErrorCode.BAD_CONFIG, `udp: '${m}' is not a UDP path; use auto, batched or dgram`);
  }
  const l = loadUdpAddon();
  if ('addon' in l) return { path: 'batched', why: null };
  if (m === 'batched') throw new ZtError(ZtErrorCode.BAD_CONFIG, `udp: batched was asked for, but ${l.why}`);
  return { path: 'dgram', why: l.why };
}

/**
 * Opens and binds a socket on `path`.
 * @throws the bind error (port in use, address not available), as dgram's
 */
export function openUdpSocket(path: UdpPath, opts: UdpSocketOptions, onMessage: UdpHandler): Promise<UdpSocket> {
  if (path.path === 'batched') {
    const l = loadUdpAddon();
    if ('why' in l) return Promise.reject(new ZtError(ZtErrorCode.UNAVAILABLE, l.why));
    try {
      return Promise.resolve(new BatchedUdpSocket(l.addon, opts, onMessage));
    } catch (e) {
      return Promise.reject(asNodeSystemError(e, opts));
    }
  }
  return openDgramSocket(opts, onMessage);
}

function openDgramSocket(opts: UdpSocketOptions, onMessage: UdpHandler): Promise<UdpSocket> {
  return new Promise((resolve, reject) => {
    const type = opts.family === 4 ? 'udp4' : 'udp6';
    const s = dgram.createSocket({ type, ipv6Only: type === 'udp6', recvBufferSize: SOCKET_BUFFER_BYTES, sendBufferSize: SOCKET_BUFFER_BYTES });
    s.once('error', reject);
    s.on('message', (msg, rinfo) => onMessage(msg, rinfo.address, rinfo.port));
    s.bind({ address: opts.address, port: opts.port, exclusive: true }, () => {
      s.off('error', reject);
      s.on('error', (e) => opts.onError?.(e));
      let closed: Promise<void> | null = null;
      resolve({
        send: (buf, port, ip) => s.send(buf, port, ip),
        address: () => s.address(),
        close: () => (closed ??= new Promise<void>((r) => s.close(() => r())).catch(() => undefined)),
      });
    });
  });
}

/**
 * A failed system call of the addon (it sets `errno` as a positive number and `syscall`) as Node's own socket errors
 * look — `code` ('EADDRINUSE'…), negative `errno`, `address`, `port` — so that callers that explain bind failures
 * (tools/listen-errors.ts) read both paths alike.
 */
function asNodeSystemError(e: unknown, opts: UdpSocketOptions): unknown {
  const err = e as (Error & { errno?: number; syscall?: string; code?: string; address?: string; port?: number }) | null;
  if (err === null || typeof err !== 'object' || typeof err.errno !== 'number' || err.errno <= 0) return e;
  const code = Object.entries(osConstants.errno).find(([, n]) => n === err.errno)?.[0];
  if (code !== undefined) err.code = code;
  err.errno = -err.errno;
  err.address = opts.address;
  err.port = opts.port;
  return err;
}

/** The size of the direct-mapped cache of source IP strings (per socket). */
const IP_CACHE = 256;

/**
 * A socket of the batched path. Receive allocates a view for a datagram whose length differs from the last one in
 * its slot, and an IP string for a source not in a small cache; send allocates nothing (the native side copies).
 */
export class BatchedUdpSocket implements UdpSocket {
  /** Counters kept by the native side, indexed by {@link UdpStat}. */
  readonly stats: Float64Array;
  private readonly native: NativeSocket;
  private readonly data: Uint8Array;
  private readonly meta: Uint32Array;
  private readonly metaBytes: Uint8Array;
  /** Source IP strings by a hash of the source address: most datagrams come from an address seen just before. */
  private readonly cacheKey = new Uint32Array(IP_CACHE * 5);
  private readonly cacheIp: string[] = new Array<string>(IP_CACHE).fill('');
  private readonly v6 = new Uint8Array(16);
  /**
   * The last view handed out per slot: reused when the next datagram in that slot has the same length (a steady
   * stream of one size — relayed frames, keepalives — then allocates no view at all). Handlers keep neither the
   * bytes nor the view past their call.
   */
  private readonly views: Uint8Array[] = [];
  private boundPort: number;
  private closed = false;

  constructor(addon: UdpAddon, opts: UdpSocketOptions, private readonly onMessage: UdpHandler) {
    this.data = new Uint8Array(BATCH * SLOT_BYTES);
    this.meta = new Uint32Array(BATCH * addon.META_WORDS);
    this.metaBytes = new Uint8Array(this.meta.buffer);
    this.stats = new Float64Array(addon.STATS);
    this.native = new addon.Socket(opts.family, opts.address, opts.port, opts.reusePort === true, SOCKET_BUFFER_BYTES, this.data, this.meta, SLOT_BYTES, BATCH, this.stats, (n) =>
      this.onBatch(n),
    );
    this.boundPort = this.native.port();
    for (let i = 0; i < BATCH; i++) this.views.push(new Uint8Array(this.data.buffer, i * SLOT_BYTES, 0));
  }

  send(buf: Uint8Array, port: number, ip: string): void {
    this.native.send(buf, ip, port);
  }

  /** Sends what is queued now (it otherwise leaves after the current batch, or before the loop next waits). */
  flush(): void {
    this.native.flush();
  }

  address(): { port: number } {
    return { port: this.boundPort };
  }

  ref(): void {
    this.native.ref();
  }

  unref(): void {
    this.native.unref();
  }

  close(): Promise<void> {
    if (!this.closed) {
      this.closed = true;
      this.native.close();
    }
    return Promise.resolve();
  }

  private onBatch(n: number): void {
    const meta = this.meta;
    for (let i = 0; i < n && !this.closed; i++) {
      const m = i * 8;
      const len = meta[m]!;
      if (len > SLOT_BYTES) continue; // longer than any ZeroTier datagram: cut by the kernel, counted natively
      let view = this.views[i]!;
      if (view.length !== len) this.views[i] = view = new Uint8Array(this.data.buffer, i * SLOT_BYTES, len);
      this.onMessage(view, this.sourceIp(m), meta[m + 2]!);
    }
  }

  /** The source IP of datagram `m` (its meta word index) as dgram would give it, from the cache when it was seen. */
  private sourceIp(m: number): string {
    const meta = this.meta;
    const family = meta[m + 1]!;
    const a = meta[m + 4]!;
    const b = family === 4 ? 0 : meta[m + 5]!;
    const c = family === 4 ? 0 : meta[m + 6]!;
    const d = family === 4 ? 0 : meta[m + 7]!;
    const h = (Math.imul(a ^ b ^ c ^ d, 0x9e3779b1) >>> 24) & (IP_CACHE - 1);
    const k = h * 5;
    const key = this.cacheKey;
    if (key[k] === family && key[k + 1] === a && key[k + 2] === b && key[k + 3] === c && key[k + 4] === d) return this.cacheIp[h]!;
    const bytes = this.metaBytes;
    const o = (m + 4) * 4;
    let ip: string;
    if (family === 4) ip = `${bytes[o]}.${bytes[o + 1]}.${bytes[o + 2]}.${bytes[o + 3]}`;
    else {
      this.v6.set(bytes.subarray(o, o + 16));
      ip = formatIpv6Like(this.v6);
    }
    key[k] = family;
    key[k + 1] = a;
    key[k + 2] = b;
    key[k + 3] = c;
    key[k + 4] = d;
    this.cacheIp[h] = ip;
    return ip;
  }
}

/**
 * IPv6 text exactly as node:dgram reports a source (libuv's inet_ntop): RFC 5952, and the deprecated
 * IPv4-compatible form ::a.b.c.d written with the dotted quad, as inet_ntop does.
 */
export function formatIpv6Like(b: Uint8Array): string {
  let zero12 = true;
  for (let i = 0; i < 12; i++) if (b[i] !== 0) zero12 = false;
  if (zero12 && (b[12] !== 0 || b[13] !== 0)) return `::${b[12]}.${b[13]}.${b[14]}.${b[15]}`;
  return formatIpv6(b);
}
