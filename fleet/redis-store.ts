/**
 * Redis peer store (ioredis): standalone, Sentinel or Cluster, chosen by URL (fleet/redis-url.ts).
 *
 * Keys. Every key carries a hash tag so that a Cluster can serve it, and the tag is *per peer*:
 *   ztroot:{<fleet>:<addr>}:id    string, the 71-byte binary public identity (vl1.md §2.2), PX = its TTL
 *   ztroot:{<fleet>:<addr>}:loc   hash, rootId → "<expiresAtMs>|<endpoints as 1.2.3.4/9993,…>"
 *   ztroot:{<fleet>}:roots        hash, rootId → "<expiresAtMs>|<RootInfo JSON>"
 *   ztroot:{<fleet>:v<tag hex>}:ok string "1", PX = its TTL: a root validated that identity (one slot per tag)
 * Why per peer rather than one `{<fleet>}` tag for everything: a single tag puts the whole fleet in one slot,
 * hence on one shard, so a Cluster would add failover but no capacity. Every operation here touches one key,
 * so nothing needs a shared slot; the price is no multi-key command across peers (no MGET of many identities,
 * no MULTI spanning peers) — ioredis' auto-pipelining still batches them per node. A peer's two keys share a
 * slot, should a later change want them in one transaction.
 *
 * Per-field TTLs (one entry per root in a hash) do not exist before Redis 7.4's HPEXPIRE, so each field
 * carries its expiry, set and compared by Lua scripts on *Redis's* clock (`TIME`), never the roots' (their
 * clocks may disagree); the key's own PEXPIRE is raised to the longest field so an abandoned key disappears.
 * Writes prune expired and unparsable fields, and replace a key of the wrong type: garbage heals itself.
 *
 * Outage. Reads fail fast with ZtError UNAVAILABLE (no offline queue in ioredis, no per-request retries, a
 * time limit on each command). Writes never fail for an outage: they wait in a bounded queue keyed by what
 * they write (the newest value per key wins; when full the oldest is dropped, counted), and are flushed when
 * the connection is back — then the caller's `resync` re-puts everything the root holds, because a restarted
 * Redis (no persistence) or a failed-over one has lost what was written before.
 */
import { EventEmitter } from 'node:events';
import { Cluster, Redis } from 'ioredis';
import type { ClusterOptions, RedisOptions } from 'ioredis';
import { formatAddress } from '../vl1/address.js';
import { ZtError, ZtErrorCode } from '../vl1/errors.js';
import { Identity } from '../vl1/identity.js';
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
import type {
  PeerLocation,
  PeerStore,
  PeerStoreStats,
  ResyncCallback,
  RootHeartbeat,
  RootInfo,
  StoredPeerLocation,
} from './peer-store.js';
import { parseRedisUrl, redactRedisUrl } from './redis-url.js';

export interface RedisPeerStoreOptions {
  /** Where Redis is (see fleet/redis-url.ts for the forms). */
  url: string;
  /** Names this fleet inside Redis — use the planet id in hex; 1..64 of `[A-Za-z0-9._-]`. */
  fleet: string;
  /** Runs after every (re)connect, once queued writes are flushed: re-put what this root holds. */
  resync?: ResyncCallback;
  /** Longest wait for one command before it counts as failed (default 1000 ms). */
  commandTimeoutMs?: number;
  /** Longest wait for a TCP/TLS connect (default 2000 ms). */
  connectTimeoutMs?: number;
  /** Longest pause between two reconnect attempts (default 1000 ms; backoff from 50 ms). */
  reconnectMaxDelayMs?: number;
  /** Most writes kept while Redis is unreachable (default 100 000; one per key). */
  maxQueued?: number;
  /** Pause before flushing again when queued writes remain although connected (default 1000 ms). */
  retryIntervalMs?: number;
  /** Milliseconds clock for queued writes' remaining TTL (default `Date.now`). */
  now?: () => number;
}

/** The Lua scripts, registered with ioredis' defineCommand (EVALSHA, falling back to EVAL after a restart). */
interface FleetScripts {
  /** Resolves with the field's previous payload if it was still live, else null. */
  ztPut(key: string, field: string, payload: string, ttlMs: number): Promise<string | null>;
  ztGet(key: string): Promise<unknown>;
  ztDel(key: string, field: string): Promise<unknown>;
}

const LUA_NOW = `local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
`;
// KEYS[1] hash; ARGV field, payload, ttlMs. Prunes dead/garbage fields, stores "<expiresAt>|payload", and returns
// the field's previous payload if it was live (false → nil otherwise): one round trip tells a heartbeat's writer
// whether someone else wrote the same rootId since its last beat.
const LUA_PUT = `${LUA_NOW}local k = KEYS[1]
local ttl = tonumber(ARGV[3])
if redis.call('TYPE', k).ok ~= 'hash' then redis.call('DEL', k) end
local all = redis.call('HGETALL', k)
local prev = false
for i = 1, #all, 2 do
  local v = all[i + 1]
  local e = tonumber(string.match(v, '^(%d+)|'))
  if e == nil or e <= now then redis.call('HDEL', k, all[i])
  elseif all[i] == ARGV[1] then prev = string.sub(v, string.find(v, '|', 1, true) + 1) end
end
redis.call('HSET', k, ARGV[1], string.format('%.0f', now + ttl) .. '|' .. ARGV[2])
if redis.call('PTTL', k) < ttl then redis.call('PEXPIRE', k, ttl) end
return prev`;
// KEYS[1] hash. Returns {badCount, field1, ttl1, payload1, ...} for live fields only.
const LUA_GET = `${LUA_NOW}local k = KEYS[1]
local ty = redis.call('TYPE', k).ok
if ty == 'none' then return {0} end
if ty ~= 'hash' then return {1} end
local all = redis.call('HGETALL', k)
local out = {0}
for i = 1, #all, 2 do
  local v = all[i + 1]
  local p = string.find(v, '|', 1, true)
  local e = nil
  if p then e = tonumber(string.sub(v, 1, p - 1)) end
  if e == nil then out[1] = out[1] + 1
  elseif e > now then
    out[#out + 1] = all[i]
    out[#out + 1] = e - now
    out[#out + 1] = string.sub(v, p + 1)
  end
end
return out`;
const LUA_DEL = `if redis.call('TYPE', KEYS[1]).ok == 'hash' then return redis.call('HDEL', KEYS[1], ARGV[1]) end
return 0`;

/** Server replies that mean "try again later", not "this write is wrong". */
const RETRYABLE_REPLY = /^(CLUSTERDOWN|LOADING|TRYAGAIN|MASTERDOWN|READONLY|NOREPLICAS|BUSY|MOVED|ASK)\b/;
const FLUSH_BATCH = 512;
const FLEET_RE = /^[A-Za-z0-9._-]{1,64}$/;

interface Pending {
  /** Local-clock deadline after which the write is pointless (its TTL ran out while queued). */
  deadline: number;
  run: (ttlLeftMs: number) => Promise<unknown>;
}

export class RedisPeerStore extends EventEmitter implements PeerStore {
  private _healthy = false;
  private readonly client: Redis | Cluster;
  private readonly scripts: FleetScripts;
  private readonly shownUrl: string;
  private readonly fleet: string;
  private readonly resyncCb: ResyncCallback | undefined;
  private readonly commandTimeoutMs: number;
  private readonly maxQueued: number;
  private readonly retryIntervalMs: number;
  private readonly now: () => number;
  private readonly queue = new Map<string, Pending>();
  private readonly counters: PeerStoreStats = { queued: 0, dropped: 0, flushed: 0, badValues: 0, resyncs: 0 };
  private syncing: Promise<void> = Promise.resolve();
  private retryTimer: NodeJS.Timeout | null = null;
  private closed = false;
  private lastError: Error | null = null;

  /** Connects in the background; writes queue until it is up. @throws {ZtError} BAD_CONFIG (URL, fleet, option) */
  constructor(opts: RedisPeerStoreOptions) {
    super();
    const target = parseRedisUrl(opts.url);
    if (typeof opts.fleet !== 'string' || !FLEET_RE.test(opts.fleet)) {
      throw new ZtError(ZtErrorCode.BAD_CONFIG, `fleet name ${JSON.stringify(String(opts.fleet).slice(0, 70))}: must be 1..64 of A-Z a-z 0-9 . _ -`);
    }
    this.fleet = opts.fleet;
    this.shownUrl = redactRedisUrl(opts.url);
    this.resyncCb = opts.resync;
    this.commandTimeoutMs = positive(opts.commandTimeoutMs, 1000, 'commandTimeoutMs');
    const connectTimeout = positive(opts.connectTimeoutMs, 2000, 'connectTimeoutMs');
    const maxDelay = positive(opts.reconnectMaxDelayMs, 1000, 'reconnectMaxDelayMs');
    this.maxQueued = positive(opts.maxQueued, 100_000, 'maxQueued');
    this.retryIntervalMs = positive(opts.retryIntervalMs, 1000, 'retryIntervalMs');
    this.now = opts.now ?? Date.now;
    const backoff = (times: number): number => Math.min(50 * 2 ** Math.min(times, 10), maxDelay);

    const conn: RedisOptions = {
      connectTimeout,
      commandTimeout: this.commandTimeoutMs,
      // Fail fast: nothing waits inside ioredis for a connection; our own queue holds writes instead.
      maxRetriesPerRequest: 0,
      enableOfflineQueue: false,
      lazyConnect: true,
      enableAutoPipelining: true,
    };
    if (target.username !== undefined) conn.username = target.username;
    if (target.password !== undefined) conn.password = target.password;
    if (target.tls) conn.tls = {};
    if (target.kind === 'cluster') {
      const copts: ClusterOptions = {
        lazyConnect: true,
        enableOfflineQueue: false,
        enableAutoPipelining: true,
        clusterRetryStrategy: backoff,
        retryDelayOnClusterDown: 100,
        retryDelayOnFailover: 100,
        retryDelayOnTryAgain: 100,
        maxRedirections: 4,
        slotsRefreshTimeout: connectTimeout,
        redisOptions: conn,
      };
      this.client = new Cluster(target.nodes, copts);
    } else if (target.kind === 'sentinel') {
      const sopts: RedisOptions = { ...conn, retryStrategy: backoff, sentinels: target.sentinels, name: target.masterName, db: target.db };
      if (target.sentinelPassword !== undefined) sopts.sentinelPassword = target.sentinelPassword;
      if (target.tls) sopts.enableTLSForSentinelMode = true;
      this.client = new Redis(sopts);
    } else {
      this.client = new Redis({ ...conn, retryStrategy: backoff, host: target.node.host, port: target.node.port, db: target.db });
    }
    for (const [name, lua, keys] of [['ztPut', LUA_PUT, 1], ['ztGet', LUA_GET, 1], ['ztDel', LUA_DEL, 1]] as const) {
      this.client.defineCommand(name, { numberOfKeys: keys, lua });
    }
    this.scripts = this.client as unknown as FleetScripts;

    // ioredis reports failures as 'error' events too; without a listener it prints them. We keep the last one.
    this.client.on('error', (e: Error) => {
      this.lastError = e;
    });
    this.client.on('ready', () => this.onReady());
    this.client.on('close', () => this.onDown());
    this.client.on('end', () => this.onDown());
    this.client.connect().catch((e: unknown) => {
      this.lastError = e instanceof Error ? e : new Error(String(e));
    });
  }

  /** True once connected and resynchronised; false while Redis is unreachable. */
  get healthy(): boolean {
    return this._healthy;
  }

  /**
   * Resolves when the store is healthy (connected, queue flushed, resynced).
   * @throws {ZtError} TIMEOUT after `timeoutMs`, CLOSED.
   */
  whenHealthy(timeoutMs = 10_000): Promise<void> {
    this.checkOpen();
    if (this._healthy) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => {
        this.off('recovered', ok);
        reject(new ZtError(ZtErrorCode.TIMEOUT, `fleet redis ${this.shownUrl}: not healthy after ${timeoutMs} ms${this.lastError ? ` (${this.lastError.message})` : ''}`));
      }, timeoutMs);
      const ok = (): void => {
        clearTimeout(t);
        resolve();
      };
      this.once('recovered', ok);
    });
  }

  async putIdentity(identity: Identity, ttlMs = DEFAULT_IDENTITY_TTL_MS): Promise<void> {
    this.checkOpen();
    checkTtl(ttlMs, 'identity');
    const bin = Buffer.from(identity.toBinary(false));
    const key = this.key(identity.address, 'id');
    await this.write(key, this.now() + ttlMs, (ttl) => this.client.set(key, bin, 'PX', ttl));
  }

  async getIdentity(address: number): Promise<Identity | undefined> {
    this.checkOpen();
    checkAddress(address);
    const key = this.key(address, 'id');
    const buf = await this.read(`identity of ${formatAddress(address)}`, () => this.client.getBuffer(key));
    if (buf === null) return undefined;
    let id: Identity;
    try {
      id = Identity.fromBinary(new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength));
    } catch (e) {
      this.counters.badValues++;
      throw new ZtError(ZtErrorCode.BAD_VALUE, `fleet redis: key ${key} holds ${buf.length} byte(s) that are not an identity (${(e as Error).message})`, { cause: e });
    }
    if (id.address !== address) {
      this.counters.badValues++;
      throw new ZtError(ZtErrorCode.BAD_VALUE, `fleet redis: key ${key} holds the identity of ${formatAddress(id.address)}`);
    }
    return id;
  }

  async putLocation(address: number, location: PeerLocation, ttlMs: number): Promise<void> {
    this.checkOpen();
    checkAddress(address);
    checkRootId(location.rootId);
    checkTtl(ttlMs, 'location');
    const payload = encodeEndpoints(location.endpoints, `location of ${formatAddress(address)}`);
    const key = this.key(address, 'loc');
    await this.write(`${key}|${location.rootId}`, this.now() + ttlMs, (ttl) => this.scripts.ztPut(key, location.rootId, payload, ttl));
  }

  async removeLocation(address: number, rootId: string): Promise<void> {
    this.checkOpen();
    checkAddress(address);
    checkRootId(rootId);
    const key = this.key(address, 'loc');
    await this.write(`${key}|${rootId}`, Number.POSITIVE_INFINITY, () => this.scripts.ztDel(key, rootId));
  }

  async getLocations(address: number): Promise<StoredPeerLocation[]> {
    this.checkOpen();
    checkAddress(address);
    const key = this.key(address, 'loc');
    const rows = await this.read(`locations of ${formatAddress(address)}`, () => this.scripts.ztGet(key));
    return this.decodeRows(rows, key, (rootId, ttlMs, payload) => ({ rootId, endpoints: decodeEndpoints(payload, `location ${rootId}`), ttlMs }));
  }

  async heartbeat(rootId: string, info: RootInfo, ttlMs: number): Promise<RootInfo | undefined> {
    this.checkOpen();
    checkRootId(rootId);
    checkTtl(ttlMs, 'heartbeat');
    const payload = encodeRootInfo(info, rootId);
    const key = this.rootsKey();
    const prev = await this.write(`${key}|${rootId}`, this.now() + ttlMs, (ttl) => this.scripts.ztPut(key, rootId, payload, ttl));
    if (typeof prev !== 'string') return undefined;
    try {
      return decodeRootInfo(prev, rootId);
    } catch {
      this.counters.badValues++;
      return undefined;
    }
  }

  async roots(): Promise<RootHeartbeat[]> {
    this.checkOpen();
    const key = this.rootsKey();
    const rows = await this.read('root heartbeats', () => this.scripts.ztGet(key));
    return this.decodeRows(rows, key, (rootId, ttlMs, payload) => ({ rootId, info: decodeRootInfo(payload, rootId), ttlMs }));
  }

  stats(): PeerStoreStats {
    return { ...this.counters, queued: this.queue.size };
  }

  async putValidated(tag: Uint8Array, ttlMs = DEFAULT_VALIDATED_TTL_MS): Promise<void> {
    this.checkOpen();
    const key = this.validatedKey(checkValidatedTag(tag));
    checkTtl(ttlMs, 'validated identity');
    await this.write(key, this.now() + ttlMs, (ttl) => this.client.set(key, '1', 'PX', ttl));
  }

  async isValidated(tag: Uint8Array): Promise<boolean> {
    this.checkOpen();
    const key = this.validatedKey(checkValidatedTag(tag));
    const v = await this.read('a validated identity', () => this.client.get(key));
    if (v === null) return false;
    if (v === '1') return true;
    this.counters.badValues++;
    throw new ZtError(ZtErrorCode.BAD_VALUE, `fleet redis: key ${key} holds ${JSON.stringify(v.slice(0, 40))}, not "1"`);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this._healthy = false;
    if (this.retryTimer !== null) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    this.queue.clear();
    this.client.disconnect();
  }

  // ---- internals ----

  private key(address: number, kind: 'id' | 'loc'): string {
    return `ztroot:{${this.fleet}:${formatAddress(address)}}:${kind}`;
  }

  private validatedKey(hex: string): string {
    return `ztroot:{${this.fleet}:v${hex}}:ok`;
  }

  private rootsKey(): string {
    return `ztroot:{${this.fleet}}:roots`;
  }

  private checkOpen(): void {
    if (this.closed) throw new ZtError(ZtErrorCode.CLOSED, `fleet redis ${this.shownUrl}: store closed`);
  }

  private connected(): boolean {
    return this.client.status === 'ready';
  }

  /** Runs one command with a hard time limit (ioredis' commandTimeout does not cover every path, e.g. Cluster redirections). */
  private timed<T>(p: Promise<T>, what: string): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const t = setTimeout(
        () => reject(new ZtError(ZtErrorCode.TIMEOUT, `fleet redis ${this.shownUrl}: ${what}: no answer within ${this.commandTimeoutMs} ms`)),
        this.commandTimeoutMs + 50,
      );
      p.then(
        (v) => {
          clearTimeout(t);
          resolve(v);
        },
        (e: unknown) => {
          clearTimeout(t);
          reject(e);
        },
      );
    });
  }

  private async read<T>(what: string, f: () => Promise<T>): Promise<T> {
    if (!this.connected()) {
      throw new ZtError(ZtErrorCode.UNAVAILABLE, `fleet redis ${this.shownUrl}: not connected (${this.client.status}); ${what} not looked up`);
    }
    try {
      return await this.timed(f(), what);
    } catch (e) {
      throw this.mapError(e, what);
    }
  }

  private mapError(e: unknown, what: string): ZtError {
    if (e instanceof ZtError) return e;
    const msg = e instanceof Error ? e.message : String(e);
    if (e instanceof Error && e.name === 'ReplyError' && /^WRONGTYPE\b/.test(msg)) {
      this.counters.badValues++;
      return new ZtError(ZtErrorCode.BAD_VALUE, `fleet redis ${this.shownUrl}: ${what}: key of the wrong type (${msg})`, { cause: e });
    }
    if (/timed? ?out/i.test(msg)) return new ZtError(ZtErrorCode.TIMEOUT, `fleet redis ${this.shownUrl}: ${what}: ${msg}`, { cause: e });
    return new ZtError(ZtErrorCode.UNAVAILABLE, `fleet redis ${this.shownUrl}: ${what}: ${msg}`, { cause: e });
  }

  private isRetryable(e: unknown): boolean {
    if (e instanceof ZtError) return e.code === ZtErrorCode.TIMEOUT || e.code === ZtErrorCode.UNAVAILABLE;
    if (e instanceof Error && e.name === 'ReplyError') return RETRYABLE_REPLY.test(e.message);
    return true; // connection closed, stream not writeable, command timeout, ClusterAllFailedError, ...
  }

  /** Runs a write now if connected (resolving with its reply), else queues it (resolving with undefined). */
  private async write<T>(qkey: string, deadline: number, run: (ttlLeftMs: number) => Promise<T>): Promise<T | undefined> {
    const op: Pending = { deadline, run };
    // A newer value supersedes a queued one; if a flush already sent the older one, this one follows it on the
    // same connection (per-key ordering holds in a Cluster too), so the newer value still ends up stored.
    this.queue.delete(qkey);
    if (!this.connected()) {
      this.enqueue(qkey, op);
      return undefined;
    }
    try {
      return await this.timed(run(Math.max(1, Math.ceil(deadline - this.now()))), qkey);
    } catch (e) {
      if (!this.isRetryable(e)) throw this.mapError(e, `write ${qkey}`);
      this.lastError = e instanceof Error ? e : new Error(String(e));
      if (!this.queue.has(qkey)) this.enqueue(qkey, op);
      return undefined;
    }
  }

  private enqueue(qkey: string, op: Pending): void {
    this.queue.set(qkey, op);
    while (this.queue.size > this.maxQueued) {
      // Map iteration order is insertion order: the first key is the oldest write.
      const oldest = this.queue.keys().next().value as string;
      this.queue.delete(oldest);
      this.counters.dropped++;
    }
    if (this.connected()) this.scheduleRetry();
  }

  private scheduleRetry(): void {
    if (this.retryTimer !== null || this.closed) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      this.syncing = this.syncing.then(() => this.flush());
    }, this.retryIntervalMs);
    this.retryTimer.unref();
  }

  /** Sends queued writes in batches; stops at the first sign of another outage (the rest stay queued). */
  private async flush(): Promise<void> {
    while (this.queue.size > 0 && this.connected() && !this.closed) {
      const batch: [string, Pending][] = [];
      for (const entry of this.queue) {
        batch.push(entry);
        if (batch.length === FLUSH_BATCH) break;
      }
      const now = this.now();
      for (const [k] of batch) this.queue.delete(k);
      const results = await Promise.allSettled(
        batch.map(([k, op]) => {
          const left = op.deadline - now;
          if (left <= 0) {
            this.counters.dropped++;
            return Promise.resolve(false);
          }
          return this.timed(op.run(Math.max(1, Math.ceil(left))), k).then(() => true);
        }),
      );
      let failed = false;
      results.forEach((r, i) => {
        const [k, op] = batch[i]!;
        if (r.status === 'fulfilled') {
          if (r.value) this.counters.flushed++;
        } else if (this.isRetryable(r.reason)) {
          failed = true;
          if (!this.queue.has(k)) this.queue.set(k, op); // unless a newer write arrived meanwhile
        } else {
          this.counters.dropped++;
          this.lastError = r.reason instanceof Error ? r.reason : new Error(String(r.reason));
        }
      });
      if (failed) break;
    }
    if (this.queue.size > 0 && this.connected()) this.scheduleRetry();
  }

  private onReady(): void {
    this.syncing = this.syncing.then(async () => {
      if (this.closed || !this.connected()) return;
      await this.flush();
      if (this.resyncCb !== undefined) {
        try {
          await this.resyncCb(this);
        } catch (e) {
          this.lastError = e instanceof Error ? e : new Error(String(e));
        }
      }
      this.counters.resyncs++;
      if (this.closed || !this.connected()) return;
      this._healthy = true;
      this.emit('recovered');
    });
  }

  private onDown(): void {
    if (!this._healthy || this.closed) return;
    this._healthy = false;
    this.emit('degraded', new ZtError(ZtErrorCode.UNAVAILABLE, `fleet redis ${this.shownUrl}: connection lost${this.lastError ? ` (${this.lastError.message})` : ''}`));
  }

  private decodeRows<T>(rows: unknown, key: string, make: (rootId: string, ttlMs: number, payload: string) => T): T[] {
    if (!Array.isArray(rows) || typeof rows[0] !== 'number') {
      this.counters.badValues++;
      throw new ZtError(ZtErrorCode.BAD_VALUE, `fleet redis: unexpected script reply for ${key}`);
    }
    this.counters.badValues += rows[0] as number;
    const out: T[] = [];
    for (let i = 1; i + 2 < rows.length; i += 3) {
      const [rootId, ttlMs, payload] = [rows[i], rows[i + 1], rows[i + 2]];
      try {
        if (typeof rootId !== 'string' || typeof ttlMs !== 'number' || typeof payload !== 'string') throw new Error('bad row');
        checkRootId(rootId);
        out.push(make(rootId, ttlMs, payload));
      } catch {
        // One root's garbage must not hide the others' entries: skip it and count it. Its "<expiry>|" prefix
        // parsed, so it lives until that expiry (or the root's next write) and no longer.
        this.counters.badValues++;
      }
    }
    return out;
  }
}

function positive(v: number | undefined, dflt: number, name: string): number {
  if (v === undefined) return dflt;
  if (!Number.isInteger(v) || v < 1) throw new ZtError(ZtErrorCode.BAD_CONFIG, `fleet redis option ${name}: ${String(v)} is not a positive integer`);
  return v;
}
