/**
 * Read-through cache in front of a {@link PeerStore}, for the root's packet path (DESIGN.md: the data plane
 * never awaits). `identity(a)` / `locations(a)` answer synchronously from memory and never throw; on a miss or a
 * stale entry they start one background look-up (single flight per address, bounded in number) whose result
 * the next packet finds. Callers that may wait (a WHOIS handler) use `lookupIdentity` / `lookupLocations`.
 *
 * What the cache keeps serving:
 * - a found value until it is refreshed (identities: `identityTtlMs`, locations: `locationTtlMs`);
 * - "not found" for `negativeTtlMs`, so a stream of packets to an unknown address costs one look-up, not one each;
 * - during an outage, the last value it had (stale-if-error), retrying at most once per `errorTtlMs` — a Redis
 *   outage then never makes a peer this root already knew about unreachable.
 * Bounded: at most `maxEntries` addresses per kind (least recently used evicted) and `maxInflight` look-ups at
 * once (more are shed and counted), so a flood of random destinations cannot grow memory or hammer Redis.
 */
import type { Identity } from '../vl1/identity.js';
import type { PeerStore, StoredPeerLocation } from './peer-store.js';

export interface PeerStoreCacheOptions {
  /** Addresses kept per kind (default 100 000). */
  maxEntries?: number;
  /** Look-ups running at once, both kinds together (default 256). */
  maxInflight?: number;
  /** How long a found identity is served before it is looked up again (default 600 000 ms). */
  identityTtlMs?: number;
  /** How long found locations are served before they are looked up again (default 2000 ms). */
  locationTtlMs?: number;
  /** How long "not found" is remembered (default 2000 ms). */
  negativeTtlMs?: number;
  /** After a failed look-up, how long before the next try (default 1000 ms). */
  errorTtlMs?: number;
  /** Milliseconds clock (default `Date.now`). */
  now?: () => number;
}

export interface PeerStoreCacheStats {
  hits: number;
  misses: number;
  lookups: number;
  errors: number;
  shed: number;
  evictions: number;
  identities: number;
  locations: number;
}

interface Entry<T> {
  value: T | undefined;
  freshUntil: number;
  inflight: Promise<T | undefined> | null;
}

class LookupCache<T> {
  private readonly m = new Map<number, Entry<T>>();

  constructor(
    private readonly fetch: (a: number) => Promise<T | undefined>,
    private readonly freshMs: number,
    private readonly shared: { inflight: number; maxInflight: number; negMs: number; errMs: number; maxEntries: number; now: () => number; stats: PeerStoreCacheStats },
  ) {}

  get size(): number {
    return this.m.size;
  }

  peek(a: number): T | undefined {
    const e = this.touch(a);
    if (e === undefined) {
      this.shared.stats.misses++;
      void this.start(a, undefined);
      return undefined;
    }
    if (e.value !== undefined) this.shared.stats.hits++;
    else this.shared.stats.misses++;
    if (e.freshUntil <= this.shared.now() && e.inflight === null) void this.start(a, e);
    return e.value;
  }

  /** True when a value for `a` is cached, fresh or stale. */
  known(a: number): boolean {
    return this.m.get(a)?.value !== undefined;
  }

  /** True while a look-up of `a` found nothing and that answer is still fresh (nothing to wait for). */
  freshMiss(a: number): boolean {
    const e = this.m.get(a);
    return e !== undefined && e.value === undefined && e.inflight === null && e.freshUntil > this.shared.now();
  }

  get(a: number): Promise<T | undefined> {
    const e = this.touch(a);
    if (e !== undefined && e.freshUntil > this.shared.now()) return Promise.resolve(e.value);
    return this.start(a, e);
  }

  set(a: number, v: T): void {
    const e = this.touch(a) ?? this.insert(a);
    e.value = v;
    e.freshUntil = this.shared.now() + this.freshMs;
  }

  private touch(a: number): Entry<T> | undefined {
    const e = this.m.get(a);
    if (e !== undefined) {
      // Re-insert: Map order is then least-recently-used first.
      this.m.delete(a);
      this.m.set(a, e);
    }
    return e;
  }

  private insert(a: number): Entry<T> {
    const e: Entry<T> = { value: undefined, freshUntil: 0, inflight: null };
    this.m.set(a, e);
    while (this.m.size > this.shared.maxEntries) {
      this.m.delete(this.m.keys().next().value as number);
      this.shared.stats.evictions++;
    }
    return e;
  }

  private start(a: number, existing: Entry<T> | undefined): Promise<T | undefined> {
    if (existing?.inflight) return existing.inflight;
    const s = this.shared;
    if (s.inflight >= s.maxInflight) {
      s.stats.shed++;
      return Promise.resolve(existing?.value);
    }
    const e = existing ?? this.insert(a);
    s.inflight++;
    s.stats.lookups++;
    const p = this.fetch(a).then(
      (v) => {
        e.value = v;
        e.freshUntil = s.now() + (v === undefined ? s.negMs : this.freshMs);
        return v;
      },
      () => {
        // Keep what we had (stale-if-error); try again after errMs.
        s.stats.errors++;
        e.freshUntil = s.now() + s.errMs;
        return e.value;
      },
    );
    e.inflight = p.finally(() => {
      s.inflight--;
      e.inflight = null;
    });
    return e.inflight;
  }
}

/** The read-through cache; see the module comment. */
export class PeerStoreCache {
  readonly store: PeerStore;
  private readonly ids: LookupCache<Identity>;
  private readonly locs: LookupCache<StoredPeerLocation[]>;
  private readonly counters: PeerStoreCacheStats = { hits: 0, misses: 0, lookups: 0, errors: 0, shed: 0, evictions: 0, identities: 0, locations: 0 };

  constructor(store: PeerStore, opts: PeerStoreCacheOptions = {}) {
    this.store = store;
    const shared = {
      inflight: 0,
      maxInflight: opts.maxInflight ?? 256,
      negMs: opts.negativeTtlMs ?? 2000,
      errMs: opts.errorTtlMs ?? 1000,
      maxEntries: opts.maxEntries ?? 100_000,
      now: opts.now ?? Date.now,
      stats: this.counters,
    };
    this.ids = new LookupCache((a) => store.getIdentity(a), opts.identityTtlMs ?? 600_000, shared);
    this.locs = new LookupCache(
      async (a) => {
        const l = await store.getLocations(a);
        return l.length === 0 ? undefined : l;
      },
      opts.locationTtlMs ?? 2000,
      shared,
    );
  }

  /** Cached identity of `address`, or undefined (a look-up is then started). Synchronous; never throws. */
  identity(address: number): Identity | undefined {
    return this.ids.peek(address);
  }

  /** Cached locations of `address`, or undefined when none are known (a look-up is then started). Never throws. */
  locations(address: number): readonly StoredPeerLocation[] | undefined {
    return this.locs.peek(address);
  }

  /** True when locations of `address` are cached (fresh or not): reading them starts no wait. */
  locationsKnown(address: number): boolean {
    return this.locs.known(address);
  }

  /**
   * True while the latest look-up of `address`'s locations found none and that answer is fresh (`negativeTtlMs`):
   * a datagram for it need not wait for a look-up, there is nothing to find yet.
   */
  locationsKnownAbsent(address: number): boolean {
    return this.locs.freshMiss(address);
  }

  /** The identity, looked up if not fresh in the cache; an outage yields the stale value or undefined, never a rejection. */
  lookupIdentity(address: number): Promise<Identity | undefined> {
    return this.ids.get(address);
  }

  /** The locations (empty when none), looked up if not fresh; never rejects. */
  async lookupLocations(address: number): Promise<readonly StoredPeerLocation[]> {
    return (await this.locs.get(address)) ?? [];
  }

  /** Puts an identity this root learned (from a HELLO) into the cache; the caller writes it to the store too. */
  rememberIdentity(identity: Identity): void {
    this.ids.set(identity.address, identity.publicOnly());
  }

  stats(): PeerStoreCacheStats {
    return { ...this.counters, identities: this.ids.size, locations: this.locs.size };
  }
}
