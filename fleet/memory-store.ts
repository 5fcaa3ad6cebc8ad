/**
 * In-memory peer store: the default for a single root (nothing to share), and the reference the Redis store
 * is held to by fleet/peer-store.compliance.ts. TTLs run on an injected clock, so tests move time by hand.
 *
 * Expired records are dropped lazily when read, and by a full sweep at most once per `sweepIntervalMs` of clock
 * time (run from a write, so no timer): O(n) once a minute instead of per write keeps 1M peers cheap.
 */
import { EventEmitter } from 'node:events';
import { ZtError, ZtErrorCode } from '../vl1/errors.js';
import type { Identity } from '../vl1/identity.js';
import {
  checkAddress,
  checkRootId,
  checkTtl,
  checkValidatedTag,
  DEFAULT_IDENTITY_TTL_MS,
  DEFAULT_VALIDATED_TTL_MS,
  decodeEndpoints,
  decodeRootInfo,
  encodeEndpoints,
  encodeRootInfo,
} from './peer-store.js';
import type { PeerLocation, PeerStore, PeerStoreStats, RootHeartbeat, RootInfo, StoredPeerLocation } from './peer-store.js';

export interface MemoryPeerStoreOptions {
  /** Milliseconds clock (default `Date.now`). */
  now?: () => number;
  /** Least clock time between two full sweeps of expired records (default 60 000 ms). */
  sweepIntervalMs?: number;
}

interface Timed<T> {
  value: T;
  expiresAt: number;
}

export class MemoryPeerStore extends EventEmitter implements PeerStore {
  readonly healthy = true;
  private readonly now: () => number;
  private readonly sweepIntervalMs: number;
  private lastSweep: number;
  private closed = false;
  private readonly identities = new Map<number, Timed<Identity>>();
  // Values kept in their stored (encoded) form, exactly like the Redis store, so both share one codec and a
  // caller that mutates what it passed in or got back cannot change the store.
  private readonly locations = new Map<number, Map<string, Timed<string>>>();
  private readonly heartbeats = new Map<string, Timed<string>>();
  /** Validated-identity tags in hex → expiry. */
  private readonly validated = new Map<string, number>();

  constructor(opts: MemoryPeerStoreOptions = {}) {
    super();
    this.now = opts.now ?? Date.now;
    this.sweepIntervalMs = opts.sweepIntervalMs ?? 60_000;
    this.lastSweep = this.now();
  }

  async putIdentity(identity: Identity, ttlMs = DEFAULT_IDENTITY_TTL_MS): Promise<void> {
    this.checkOpen();
    checkTtl(ttlMs, 'identity');
    this.identities.set(identity.address, { value: identity.publicOnly(), expiresAt: this.now() + ttlMs });
    this.maybeSweep();
  }

  async getIdentity(address: number): Promise<Identity | undefined> {
    this.checkOpen();
    checkAddress(address);
    const e = this.identities.get(address);
    if (e === undefined) return undefined;
    if (e.expiresAt <= this.now()) {
      this.identities.delete(address);
      return undefined;
    }
    return e.value;
  }

  async putLocation(address: number, location: PeerLocation, ttlMs: number): Promise<void> {
    this.checkOpen();
    checkAddress(address);
    checkRootId(location.rootId);
    checkTtl(ttlMs, 'location');
    const enc = encodeEndpoints(location.endpoints, `location of ${address.toString(16)}`);
    let m = this.locations.get(address);
    if (m === undefined) this.locations.set(address, (m = new Map()));
    m.set(location.rootId, { value: enc, expiresAt: this.now() + ttlMs });
    this.maybeSweep();
  }

  async removeLocation(address: number, rootId: string): Promise<void> {
    this.checkOpen();
    checkAddress(address);
    checkRootId(rootId);
    const m = this.locations.get(address);
    if (m === undefined) return;
    m.delete(rootId);
    if (m.size === 0) this.locations.delete(address);
  }

  async getLocations(address: number): Promise<StoredPeerLocation[]> {
    this.checkOpen();
    checkAddress(address);
    const m = this.locations.get(address);
    if (m === undefined) return [];
    const now = this.now();
    const out: StoredPeerLocation[] = [];
    for (const [rootId, e] of m) {
      if (e.expiresAt <= now) m.delete(rootId);
      else out.push({ rootId, endpoints: decodeEndpoints(e.value, rootId), ttlMs: e.expiresAt - now });
    }
    if (m.size === 0) this.locations.delete(address);
    return out;
  }

  async heartbeat(rootId: string, info: RootInfo, ttlMs: number): Promise<RootInfo | undefined> {
    this.checkOpen();
    checkRootId(rootId);
    checkTtl(ttlMs, 'heartbeat');
    const now = this.now();
    const prev = this.heartbeats.get(rootId);
    this.heartbeats.set(rootId, { value: encodeRootInfo(info, rootId), expiresAt: now + ttlMs });
    return prev !== undefined && prev.expiresAt > now ? decodeRootInfo(prev.value, rootId) : undefined;
  }

  async roots(): Promise<RootHeartbeat[]> {
    this.checkOpen();
    const now = this.now();
    const out: RootHeartbeat[] = [];
    for (const [rootId, e] of this.heartbeats) {
      if (e.expiresAt <= now) this.heartbeats.delete(rootId);
      else out.push({ rootId, info: decodeRootInfo(e.value, rootId), ttlMs: e.expiresAt - now });
    }
    return out;
  }

  async putValidated(tag: Uint8Array, ttlMs = DEFAULT_VALIDATED_TTL_MS): Promise<void> {
    this.checkOpen();
    const hex = checkValidatedTag(tag);
    checkTtl(ttlMs, 'validated identity');
    this.validated.set(hex, this.now() + ttlMs);
    this.maybeSweep();
  }

  async isValidated(tag: Uint8Array): Promise<boolean> {
    this.checkOpen();
    const hex = checkValidatedTag(tag);
    const expiresAt = this.validated.get(hex);
    if (expiresAt === undefined) return false;
    if (expiresAt > this.now()) return true;
    this.validated.delete(hex);
    return false;
  }

  stats(): PeerStoreStats {
    return { queued: 0, dropped: 0, flushed: 0, badValues: 0, resyncs: 0 };
  }

  /** Records held, expired or not (for tests and memory figures). */
  size(): { identities: number; locations: number; heartbeats: number } {
    return { identities: this.identities.size, locations: this.locations.size, heartbeats: this.heartbeats.size };
  }

  async close(): Promise<void> {
    this.closed = true;
    this.identities.clear();
    this.locations.clear();
    this.heartbeats.clear();
    this.validated.clear();
  }

  private checkOpen(): void {
    if (this.closed) throw new ZtError(ZtErrorCode.CLOSED, 'memory peer store: closed');
  }

  private maybeSweep(): void {
    const now = this.now();
    if (now - this.lastSweep < this.sweepIntervalMs) return;
    this.lastSweep = now;
    for (const [a, e] of this.identities) if (e.expiresAt <= now) this.identities.delete(a);
    for (const [a, m] of this.locations) {
      for (const [r, e] of m) if (e.expiresAt <= now) m.delete(r);
      if (m.size === 0) this.locations.delete(a);
    }
    for (const [r, e] of this.heartbeats) if (e.expiresAt <= now) this.heartbeats.delete(r);
    for (const [t, e] of this.validated) if (e <= now) this.validated.delete(t);
  }
}
