/**
 * The fleet's peer store: what the roots of one planet share so that two peers that HELLOed different
 * machines can still meet (DESIGN.md "State"; ZeroTier's own roots share nothing since root.cpp's sibling
 * forwarding was removed in 2019).
 *
 * Three kinds of record, each with a TTL so that roots and peers that vanish expire by themselves:
 * - identities (address → public identity), so any root answers WHOIS for any peer of the fleet;
 * - locations (address → one entry per root that currently holds the peer, with the peer's physical
 *   endpoints as that root sees them) — a client HELLOs a random endpoint of *each* planet root, so one peer
 *   is normally held by several roots at once, hence a list rather than a single location;
 * - root heartbeats (rootId → how other roots reach it);
 * - validated identities (a 16-byte tag binding address and key, root/validated-identities.ts → "passed"), so a
 *   root that restarts or joins the fleet trusts what any root of the fleet already validated instead of paying
 *   the memory-hard hash again. Only passes are recorded (a failure is free for an attacker to make).
 *
 * Nothing on the relay path awaits a store: callers look up on a miss, off the packet path, through
 * {@link PeerStoreCache} (fleet/cached-store.ts). Implementations: {@link MemoryPeerStore} (default, one root)
 * and {@link RedisPeerStore} (standalone, Sentinel or Cluster). Both pass fleet/peer-store.compliance.ts.
 */
import type { EventEmitter } from 'node:events';
import { ZtError, ZtErrorCode } from '../vl1/errors.js';
import { formatAddress, parseAddress } from '../vl1/address.js';
import type { Identity } from '../vl1/identity.js';
import { formatInetAddress, parseInetAddress } from '../vl1/inet-address.js';
import type { InetAddress } from '../vl1/inet-address.js';

/** Default lifetime of a stored identity: refreshed whenever a root sees the peer again. */
export const DEFAULT_IDENTITY_TTL_MS = 30 * 24 * 3600_000;
/** Default lifetime of a "validated" record: a client away longer is hashed once more when it returns. */
export const DEFAULT_VALIDATED_TTL_MS = 90 * 24 * 3600_000;
/** Bytes of a validated-identity tag (root/validated-identities.ts: SHA-512 of the public identity, truncated). */
export const VALIDATED_TAG_LENGTH = 16;
/** Longest TTL any record may have (a typo guard: a year). */
export const MAX_TTL_MS = 365 * 24 * 3600_000;
/** Most endpoints one location or heartbeat may carry (a peer has a handful of physical paths). */
export const MAX_ENDPOINTS = 16;
/** Longest root id (a name like `root-a.fra1`); letters, digits and `._:-` only. */
export const MAX_ROOT_ID_LENGTH = 64;

/** Where one root holds a peer. */
export interface PeerLocation {
  /** Which root process/machine holds the peer (several machines may share one root identity). */
  rootId: string;
  /** The peer's physical endpoints as that root sees them (reflected addresses). */
  endpoints: InetAddress[];
}

/** A location as read back, with its remaining lifetime. */
export interface StoredPeerLocation extends PeerLocation {
  /** Milliseconds until this entry expires (by the store's clock). */
  ttlMs: number;
}

/** What a root announces about itself. */
export interface RootInfo {
  /** Where other roots of the fleet reach this one (for root-to-root forwarding). */
  endpoints: InetAddress[];
  /** Peers it currently holds (informational). */
  peers?: number;
  /** Software version (informational). */
  version?: string;
  /** The root's ZeroTier address, which names the key forwarded packets are armored with (planet roots agree keys). */
  address?: number;
  /**
   * A random token the process picks at start (hex, ≤ 32 digits): two live processes writing one rootId show as
   * heartbeats that alternate between two tokens (see `heartbeat`'s result), a misconfiguration the roots report.
   */
  boot?: string;
  /** The ZeroTier address of this root's embedded probe leaf (tools/probe/): how the other roots' probes find it. */
  probe?: number;
  /**
   * This root's probe results, target rootId → 'direct' | 'relayed' | 'tunneled' | 'down' | 'pending' (at most
   * MAX_PROBE_ROW entries): every root's row makes the probe matrix of the live dashboard.
   */
  probeRow?: Record<string, string>;
}

/** Most targets one heartbeat's probe row carries (the probe's own bound on targets). */
export const MAX_PROBE_ROW = 64;
const PROBE_CELL_RE = /^(direct|relayed|tunneled|down|pending)$/;

/** A heartbeat as read back. */
export interface RootHeartbeat {
  rootId: string;
  info: RootInfo;
  /** Milliseconds until this heartbeat expires. */
  ttlMs: number;
}

/** Counters every store keeps (monotonic unless noted). */
export interface PeerStoreStats {
  /** Writes waiting for the backend to come back (gauge). */
  queued: number;
  /** Queued writes dropped because the queue was full (oldest first) or had expired before it could be flushed. */
  dropped: number;
  /** Queued writes that reached the backend after an outage. */
  flushed: number;
  /** Stored values that did not parse and were ignored or reported (garbage in the backend). */
  badValues: number;
  /** Completed resynchronisations (the caller's resync callback ran after a (re)connect). */
  resyncs: number;
}

/**
 * The peer store. Events: `'degraded'` (err: ZtError) when the backend becomes unreachable, `'recovered'` when
 * it is back and resynchronised. Writes never fail because of an outage: they are queued and retried.
 */
export interface PeerStore extends EventEmitter {
  /** False while the backend is unreachable (reads then fail fast with UNAVAILABLE). */
  readonly healthy: boolean;
  /** Stores a peer's public identity (the private half is never stored). @throws {ZtError} BAD_VALUE (ttl), CLOSED */
  putIdentity(identity: Identity, ttlMs?: number): Promise<void>;
  /** The identity stored for `address`, or undefined. @throws {ZtError} UNAVAILABLE/TIMEOUT (backend), BAD_VALUE (garbage stored) */
  getIdentity(address: number): Promise<Identity | undefined>;
  /** Records that `location.rootId` holds peer `address`, for `ttlMs`. @throws {ZtError} BAD_VALUE (argument), CLOSED */
  putLocation(address: number, location: PeerLocation, ttlMs: number): Promise<void>;
  /** Removes `rootId`'s entry for `address` (a clean goodbye; TTL covers the rest). @throws {ZtError} CLOSED */
  removeLocation(address: number, rootId: string): Promise<void>;
  /** Every live location of `address` (empty when none). @throws {ZtError} UNAVAILABLE/TIMEOUT */
  getLocations(address: number): Promise<StoredPeerLocation[]>;
  /**
   * Announces root `rootId` for `ttlMs`. Resolves with the heartbeat it replaced if that was still live (undefined
   * when there was none, or when the write was queued during an outage): a `boot` other than the writer's own in
   * a replaced heartbeat the writer itself wrote last time means another process holds the same rootId.
   * @throws {ZtError} BAD_VALUE (argument), CLOSED
   */
  heartbeat(rootId: string, info: RootInfo, ttlMs: number): Promise<RootInfo | undefined>;
  /** Every root whose heartbeat is live. @throws {ZtError} UNAVAILABLE/TIMEOUT */
  roots(): Promise<RootHeartbeat[]>;
  /**
   * Records that the identity with this tag passed validation (a root hashed it), for `ttlMs`.
   * @throws {ZtError} BAD_VALUE (tag not 16 bytes, ttl), CLOSED
   */
  putValidated(tag: Uint8Array, ttlMs?: number): Promise<void>;
  /** Whether a root of the fleet recorded `tag` as validated and it has not expired. @throws {ZtError} BAD_VALUE (tag), UNAVAILABLE/TIMEOUT, CLOSED */
  isValidated(tag: Uint8Array): Promise<boolean>;
  /** Counters. */
  stats(): PeerStoreStats;
  /** Releases the backend; later calls throw CLOSED. */
  close(): Promise<void>;
}

/** Called after every (re)connect: re-put everything this root holds (its peers, their locations, its heartbeat). */
export type ResyncCallback = (store: PeerStore) => void | Promise<void>;

// ---- argument checks and value codecs shared by the implementations ----

const ROOT_ID_RE = /^[A-Za-z0-9._:-]+$/;
const BOOT_RE = /^[0-9a-f]{1,32}$/;

/** @throws {ZtError} BAD_VALUE unless `rootId` is 1..64 characters of `[A-Za-z0-9._:-]`. */
export function checkRootId(rootId: string): void {
  if (typeof rootId !== 'string' || rootId.length === 0 || rootId.length > MAX_ROOT_ID_LENGTH || !ROOT_ID_RE.test(rootId)) {
    const shown = typeof rootId === 'string' ? JSON.stringify(rootId.slice(0, MAX_ROOT_ID_LENGTH + 1)) : typeof rootId;
    throw new ZtError(ZtErrorCode.BAD_VALUE, `root id ${shown}: must be 1..${MAX_ROOT_ID_LENGTH} characters of A-Z a-z 0-9 . _ : -`);
  }
}

/** @throws {ZtError} BAD_VALUE unless `ttlMs` is an integer in 1..MAX_TTL_MS. */
export function checkTtl(ttlMs: number, what: string): void {
  if (!Number.isInteger(ttlMs) || ttlMs < 1 || ttlMs > MAX_TTL_MS) {
    throw new ZtError(ZtErrorCode.BAD_VALUE, `${what} TTL ${String(ttlMs)} ms: must be an integer in 1..${MAX_TTL_MS}`);
  }
}

/** @throws {ZtError} BAD_VALUE unless `tag` is a Uint8Array of {@link VALIDATED_TAG_LENGTH} bytes. Returns it in hex. */
export function checkValidatedTag(tag: Uint8Array): string {
  if (!(tag instanceof Uint8Array) || tag.length !== VALIDATED_TAG_LENGTH) {
    throw new ZtError(ZtErrorCode.BAD_VALUE, `validated-identity tag: must be ${VALIDATED_TAG_LENGTH} bytes, got ${tag instanceof Uint8Array ? tag.length : typeof tag}`);
  }
  return Buffer.from(tag.buffer, tag.byteOffset, tag.length).toString('hex');
}

/** @throws {ZtError} BAD_VALUE unless `address` is a 40-bit integer. */
export function checkAddress(address: number): void {
  if (!Number.isInteger(address) || address < 0 || address > 0xffffffffff) {
    throw new ZtError(ZtErrorCode.BAD_VALUE, `peer address ${String(address)}: must be a 40-bit integer`);
  }
}

/** `"1.2.3.4/9993,2001:db8::1/9993"` — ZeroTier's text form, compact and readable in `redis-cli`. */
export function encodeEndpoints(endpoints: readonly InetAddress[], what: string): string {
  if (!Array.isArray(endpoints) || endpoints.length > MAX_ENDPOINTS) {
    throw new ZtError(ZtErrorCode.BAD_VALUE, `${what}: endpoints must be an array of at most ${MAX_ENDPOINTS}`);
  }
  // Round-trip through the parser so that whatever we write we can read back.
  return endpoints.map((e) => formatInetAddress(parseInetAddress(formatInetAddress(e)))).join(',');
}

/** Inverse of {@link encodeEndpoints}. @throws {ZtError} BAD_FORMAT / BAD_VALUE on garbage. */
export function decodeEndpoints(s: string, what: string): InetAddress[] {
  if (s === '') return [];
  const parts = s.split(',');
  if (parts.length > MAX_ENDPOINTS) throw new ZtError(ZtErrorCode.BAD_VALUE, `${what}: ${parts.length} endpoints, at most ${MAX_ENDPOINTS}`);
  return parts.map((p) => parseInetAddress(p));
}

/** Heartbeat info as stored: JSON with endpoints in text form. */
export function encodeRootInfo(info: RootInfo, rootId: string): string {
  if (typeof info !== 'object' || info === null) throw new ZtError(ZtErrorCode.BAD_VALUE, `root ${rootId}: info must be an object`);
  const o: { e: string; p?: number; v?: string; a?: string; b?: string; q?: string; r?: Record<string, string> } = { e: encodeEndpoints(info.endpoints, `root ${rootId}`) };
  if (info.address !== undefined) o.a = formatAddress(info.address);
  if (info.probe !== undefined) o.q = formatAddress(info.probe);
  if (info.probeRow !== undefined) {
    const entries = Object.entries(info.probeRow);
    if (entries.length > MAX_PROBE_ROW || entries.some(([k, v]) => typeof k !== 'string' || k.length > 128 || typeof v !== 'string' || !PROBE_CELL_RE.test(v))) {
      throw new ZtError(ZtErrorCode.BAD_VALUE, `root ${rootId}: probeRow must map at most ${MAX_PROBE_ROW} rootIds (≤ 128 characters) to direct|relayed|tunneled|down|pending`);
    }
    o.r = info.probeRow;
  }
  if (info.boot !== undefined) {
    if (typeof info.boot !== 'string' || !BOOT_RE.test(info.boot)) throw new ZtError(ZtErrorCode.BAD_VALUE, `root ${rootId}: boot ${JSON.stringify(String(info.boot).slice(0, 40))} is not 1..32 hex digits`);
    o.b = info.boot;
  }
  if (info.peers !== undefined) {
    if (!Number.isSafeInteger(info.peers) || info.peers < 0) throw new ZtError(ZtErrorCode.BAD_VALUE, `root ${rootId}: peers ${String(info.peers)} is not a count`);
    o.p = info.peers;
  }
  if (info.version !== undefined) {
    if (typeof info.version !== 'string' || info.version.length > 64) throw new ZtError(ZtErrorCode.BAD_VALUE, `root ${rootId}: version must be a string of at most 64 characters`);
    o.v = info.version;
  }
  return JSON.stringify(o);
}

/** Inverse of {@link encodeRootInfo}. @throws {ZtError} BAD_FORMAT / BAD_VALUE on garbage. */
export function decodeRootInfo(s: string, rootId: string): RootInfo {
  let o: unknown;
  try {
    o = JSON.parse(s);
  } catch {
    throw new ZtError(ZtErrorCode.BAD_FORMAT, `root ${rootId}: heartbeat is not JSON (${s.length} bytes)`);
  }
  if (typeof o !== 'object' || o === null || typeof (o as { e?: unknown }).e !== 'string') {
    throw new ZtError(ZtErrorCode.BAD_FORMAT, `root ${rootId}: heartbeat lacks its endpoints`);
  }
  const { e, p, v, a, b, q, r } = o as { e: string; p?: unknown; v?: unknown; a?: unknown; b?: unknown; q?: unknown; r?: unknown };
  const info: RootInfo = { endpoints: decodeEndpoints(e, `root ${rootId}`) };
  if (typeof p === 'number' && Number.isSafeInteger(p) && p >= 0) info.peers = p;
  if (typeof v === 'string') info.version = v;
  if (typeof a === 'string' && /^[0-9a-f]{10}$/.test(a)) info.address = parseAddress(a);
  if (typeof b === 'string' && BOOT_RE.test(b)) info.boot = b;
  if (typeof q === 'string' && /^[0-9a-f]{10}$/.test(q)) info.probe = parseAddress(q);
  // A garbled row is left out (the matrix shows that root's row empty), never the whole heartbeat.
  if (typeof r === 'object' && r !== null && !Array.isArray(r)) {
    const entries = Object.entries(r as Record<string, unknown>);
    if (entries.length <= MAX_PROBE_ROW && entries.every(([k, c]) => k.length <= 128 && typeof c === 'string' && PROBE_CELL_RE.test(c))) info.probeRow = Object.fromEntries(entries) as Record<string, string>;
  }
  return info;
}
