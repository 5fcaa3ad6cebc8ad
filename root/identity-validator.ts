/**
 * Identity validation off the event loop: a `worker_threads` pool that runs the memory-hard hash of
 * `Identity::locallyValidate` (`node/Identity.cpp`, shared/protocol/vl1.md §2.4), with a result cache,
 * coalescing of identical requests and a bounded queue.
 *
 * Why: a root validates every identity it has not seen (§6.2: unknown address → check the MAC, then
 * `locallyValidate`, then add). The hash costs ~25 ms of CPU and 2 MiB of memory; run inline it would
 * stall relaying for every HELLO from a new node. 1.14 runs it inline and rate-limits it per source
 * prefix (§6.4); here the caller still applies that rate gate (`root/rate-gate.ts`), and this pool keeps
 * the work off the packet path.
 *
 * Cache: keyed by the 64-byte public key alone, holding the address that key implies (or "none"). The
 * hash depends only on the key, so one entry answers for any claimed address: a HELLO replaying a
 * known key under a forged address is refused without hashing again. Entries are evicted LRU.
 *
 * Fair across sources: each request names the source prefix it came from (the caller's rate-gate key: an
 * IPv4 /24 or an IPv6 /48), and a free worker takes the oldest job of the prefix served least recently —
 * a prefix never served comes first, and among those the one that asked least. Plain FIFO let a flood from 200 prefixes keep the queue full, so a
 * newcomer from a quiet prefix was refused (issue 11: 13,007 rejections, no newcomer admitted); round
 * robin over the prefixes with jobs would still make it wait behind one job of every flooding prefix.
 * Service times and demand are remembered per prefix (bounded LRU) so a prefix whose queue drains does not
 * come back as "never served". The queue is bounded per prefix and in total; when it is full, a job from a prefix
 * with fewer jobs queued takes the place of the newest job of the prefix with the most (ties: the one
 * served most recently), which is then refused with QUEUE_FULL — so a flood can only crowd itself out.
 *
 * Failures are explicit: a full queue, a closed pool, a job over its time limit and a crashed worker
 * reject the promise with an {@link ZtError} carrying a stable code; a crashed or
 * timed-out worker is replaced.
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { formatAddress, isReservedAddress } from '../vl1/address.js';
import type { Identity } from '../vl1/identity.js';
import { ZtError, ZtErrorCode } from '../vl1/errors.js';
import type { ValidateJobReply, ValidateJobRequest } from './identity-validator-worker.js';
import { memoryHardHasher } from './identity-validator-hash.js';

/** Why a validation gave no answer (each a {@link ZtErrorCode}); says nothing about the identity itself. */
export const IdentityValidatorErrorCode = {
  /** More than `maxQueue` validations were waiting for a worker; nothing was queued. */
  QUEUE_FULL: ZtErrorCode.OVERLOADED,
  /** The validator was closed before (or while) the validation ran. */
  CLOSED: ZtErrorCode.CLOSED,
  /** The worker did not answer within `timeoutMs`; it was terminated and replaced. */
  TIMEOUT: ZtErrorCode.TIMEOUT,
  /** The worker running the job crashed or exited (it is replaced), or the pool could not keep workers alive. */
  WORKER_FAILED: ZtErrorCode.UNAVAILABLE,
} as const;

export interface IdentityValidatorOptions {
  /** Worker threads. Default `max(1, availableParallelism() − 1)`: leave a core for the event loop. */
  workers?: number;
  /**
   * Validations waiting for a free worker (not counting those running or coalesced onto them); one more
   * is rejected at once with QUEUE_FULL. Default 256 (≈ 7 s of work for one worker at ~28 ms a hash).
   */
  maxQueue?: number;
  /**
   * Validations one source prefix may have waiting; one more from it is rejected with QUEUE_FULL. Default 16
   * (a NAT full of clients coming up together, as the rate gate's burst allows). Requests that name no
   * source (tools, tests: not from the network) are bounded by `maxQueue` alone.
   */
  maxQueuePerSource?: number;
  /** Source prefixes whose last service and demand are remembered for fair scheduling (LRU). Default 16,384 (≈ 2 MB). */
  sourceMemory?: number;
  /**
   * Public keys whose result is remembered (LRU). Default 100,000 ≈ 13 MB of heap (measured ≈ 126 bytes
   * an entry with Node 20: a 64-character one-byte string key, a heap number, the Map's slot). 0 disables it.
   */
  cacheSize?: number;
  /** Limit on one job once a worker has it, in ms. Default 5,000 (a hash takes ~25–50 ms). */
  timeoutMs?: number;
}

/** Collaborators, apart from options so tests can substitute them. */
export interface IdentityValidatorDeps {
  /** Makes one worker speaking the protocol of `identity-validator-worker.ts`. Default: that script. */
  createWorker?: () => Worker;
}

/** Counters and gauges; see {@link IdentityValidator.stats}. */
export interface IdentityValidatorStats {
  /** Hashes completed by workers (each may have answered several coalesced requests). */
  validated: number;
  /** Requests answered from the cache (validate() and cached()). */
  cacheHits: number;
  /** Requests attached to an identical validation already queued or running. */
  coalesced: number;
  /** Requests refused because the queue (or their prefix's share of it) was full, evictions included. */
  rejectedQueueFull: number;
  /** Queued jobs refused to make room for a job from a prefix with fewer queued (counted in rejectedQueueFull too). */
  evicted: number;
  /** Requests answered "not valid" (reserved address, key implies another address, or no address). */
  invalid: number;
  /** Jobs failed by a timeout or a worker crash. */
  failed: number;
  /** Workers started to replace a crashed or timed-out one. */
  workerRestarts: number;
  /** Jobs running on a worker now. */
  inFlight: number;
  /** Jobs waiting for a worker now. */
  queueLength: number;
  /** Source prefixes with jobs waiting now. */
  queuedSources: number;
  /** Entries in the result cache. */
  cacheEntries: number;
  /** Live workers. */
  workers: number;
}

interface Waiter {
  address: number;
  resolve: (valid: boolean) => void;
  reject: (e: Error) => void;
}
interface Job {
  id: number;
  key: string;
  pub: Uint8Array;
  waiters: Waiter[];
  /** The prefix whose lane holds the job (its first requester's). */
  source: string;
}
/** What the scheduler remembers of a source prefix. */
interface SourceHistory {
  served: number;
  requests: number;
}
/** The jobs of one source prefix waiting for a worker, oldest first. Only non-empty lanes exist. */
interface Lane {
  source: string;
  jobs: Job[];
}
interface Slot {
  worker: Worker;
  job: Job | null;
  timer: NodeJS.Timeout | null;
  dead: boolean;
}

/** `implied` value meaning "no address is valid for this key" (digest fails the hashcash byte). */
const NO_ADDRESS = -1;

/** Default worker: the compiled sibling script (works from `dist/root/`). */
function defaultCreateWorker(): Worker {
  return new Worker(new URL('./identity-validator-worker.js', import.meta.url));
}

/** Pool of identity-validation workers with a cache; see the module comment. */
export class IdentityValidator {
  /**
   * The memory-hard hash the workers run: `native-<variant>` (native/hash) or `js` — what they load by the
   * same rule (root/identity-validator-hash.ts), decided here first so a bad ZTROOT_IDENTITY_HASH fails the start.
   */
  readonly hashImplementation: string;
  /** Why the workers hash in JS (null when native). */
  readonly hashFallbackReason: string | null;
  readonly workerCount: number;
  readonly maxQueue: number;
  readonly maxQueuePerSource: number;
  readonly sourceMemory: number;
  readonly cacheSize: number;
  readonly timeoutMs: number;

  private readonly createWorker: () => Worker;
  private readonly slots: Slot[] = [];
  /** Waiting jobs by source prefix (non-empty lanes only), and how many in all. */
  private readonly lanes = new Map<string, Lane>();
  private queued = 0;
  /**
   * Per source prefix: the service number of its last job handed to a worker (−1: never) and the jobs it has
   * asked for, in LRU order (oldest first), at most `sourceMemory` prefixes.
   */
  private readonly history = new Map<string, SourceHistory>();
  private serviceSeq = 0;
  /** Jobs queued or running, by key, for coalescing. */
  private readonly pending = new Map<string, Job>();
  /** key → implied address (or NO_ADDRESS), in LRU order (oldest first). */
  private readonly cache = new Map<string, number>();
  private nextId = 1;
  private closed = false;
  private closing: Promise<void> | null = null;
  /** Failures since the last successful job; past a bound the pool stops respawning (see respawn()). */
  private consecutiveFailures = 0;
  private broken: string | null = null;
  private readonly counters = {
    validated: 0,
    cacheHits: 0,
    coalesced: 0,
    rejectedQueueFull: 0,
    evicted: 0,
    invalid: 0,
    failed: 0,
    workerRestarts: 0,
  };

  /** @throws {ZtError} BAD_CONFIG when an option is out of range. */
  constructor(options: IdentityValidatorOptions = {}, deps: IdentityValidatorDeps = {}) {
    const {
      workers = Math.max(1, availableParallelism() - 1),
      maxQueue = 256,
      maxQueuePerSource = 16,
      sourceMemory = 16_384,
      cacheSize = 100_000,
      timeoutMs = 5000,
    } = options;
    checkInt('workers', workers, 1);
    checkInt('maxQueue', maxQueue, 0);
    const hasher = memoryHardHasher();
    this.hashImplementation = hasher.name;
    this.hashFallbackReason = hasher.fallbackReason;
    checkInt('maxQueuePerSource', maxQueuePerSource, 1);
    checkInt('sourceMemory', sourceMemory, 1);
    checkInt('cacheSize', cacheSize, 0);
    if (typeof timeoutMs !== 'number' || !(timeoutMs > 0) || !Number.isFinite(timeoutMs)) {
      throw new ZtError(ZtErrorCode.BAD_CONFIG, `identity validator: timeoutMs must be a positive number, got ${String(timeoutMs)}`);
    }
    this.workerCount = workers;
    this.maxQueue = maxQueue;
    this.maxQueuePerSource = maxQueuePerSource;
    this.sourceMemory = sourceMemory;
    this.cacheSize = cacheSize;
    this.timeoutMs = timeoutMs;
    this.createWorker = deps.createWorker ?? defaultCreateWorker;
    for (let i = 0; i < workers; i++) this.slots.push(this.spawn());
  }

  /**
   * Whether `identity`'s address derives from its public key (§2.4; same answer as
   * `Identity.locallyValidate`). A cached answer comes back as an already-resolved promise; a request
   * identical to one already pending shares its job. `source` is the prefix the request came from (the
   * rate gate's key, e.g. `sourcePrefixKey(ip)`): workers serve prefixes fairly (see the module comment).
   * @throws never synchronously; the promise rejects with {@link ZtError} (QUEUE_FULL,
   *   CLOSED, TIMEOUT, WORKER_FAILED) when no answer could be had — callers must handle the rejection.
   */
  validate(identity: Identity, source = ''): Promise<boolean> {
    if (this.closed) return Promise.reject(new ZtError(IdentityValidatorErrorCode.CLOSED, 'identity validator is closed'));
    const address = identity.address;
    // Reserved addresses fail before any hashing, as in `Identity::locallyValidate`.
    if (isReservedAddress(address)) {
      this.counters.invalid++;
      return Promise.resolve(false);
    }
    const key = keyOf(identity.publicKey);
    const hit = this.lookup(key, address);
    if (hit !== undefined) return Promise.resolve(hit);
    if (this.broken !== null) {
      return Promise.reject(new ZtError(IdentityValidatorErrorCode.WORKER_FAILED, this.broken));
    }

    let job = this.pending.get(key);
    if (job !== undefined) {
      this.counters.coalesced++;
    } else {
      this.noteRequest(source);
      const refused = this.makeRoom(source, address);
      if (refused !== null) {
        this.counters.rejectedQueueFull++;
        return Promise.reject(refused);
      }
      // Copy: the key may be a view into a datagram buffer that is about to be reused.
      job = { id: this.nextId++, key, pub: identity.publicKey.slice(), waiters: [], source };
      this.pending.set(key, job);
      let lane = this.lanes.get(source);
      if (lane === undefined) {
        lane = { source, jobs: [] };
        this.lanes.set(source, lane);
      }
      lane.jobs.push(job);
      this.queued++;
    }
    const j = job;
    const p = new Promise<boolean>((resolve, reject) => j.waiters.push({ address, resolve, reject }));
    this.pump();
    return p;
  }

  /**
   * The cached answer for `identity`, or undefined when it would need hashing. For the packet path:
   * synchronous, no allocation beyond the key string. Counted in `cacheHits`, not in `invalid` (the
   * caller counts what it drops).
   */
  cached(identity: Identity): boolean | undefined {
    if (isReservedAddress(identity.address)) return false;
    return this.lookup(keyOf(identity.publicKey), identity.address, false);
  }

  /** A snapshot of the counters and gauges. */
  get stats(): IdentityValidatorStats {
    let inFlight = 0;
    let workers = 0;
    for (const s of this.slots) {
      if (s.job !== null) inFlight++;
      if (!s.dead) workers++;
    }
    return { ...this.counters, inFlight, queueLength: this.queued, queuedSources: this.lanes.size, cacheEntries: this.cache.size, workers };
  }

  /**
   * Terminates the workers and rejects every pending validation with CLOSED. Idempotent: later calls
   * return the same promise. The cache stays readable through {@link cached}.
   */
  close(): Promise<void> {
    if (this.closing !== null) return this.closing;
    this.closed = true;
    const err = (): ZtError =>
      new ZtError(IdentityValidatorErrorCode.CLOSED, 'identity validator closed before the validation finished');
    const terminations: Promise<unknown>[] = [];
    for (const s of this.slots) {
      if (s.timer !== null) clearTimeout(s.timer);
      s.timer = null;
      s.job = null;
      s.dead = true;
      terminations.push(s.worker.terminate().catch(() => undefined));
    }
    for (const job of this.pending.values()) for (const w of job.waiters) w.reject(err());
    this.pending.clear();
    this.lanes.clear();
    this.queued = 0;
    this.closing = Promise.all(terminations).then(() => undefined);
    return this.closing;
  }

  // ---------------------------------------------------------------------------------------------

  /** The cached verdict; `countInvalid` false for {@link cached}, a peek by the packet path rather than a request. */
  private lookup(key: string, address: number, countInvalid = true): boolean | undefined {
    const implied = this.cache.get(key);
    if (implied === undefined) return undefined;
    // Refresh the LRU position.
    this.cache.delete(key);
    this.cache.set(key, implied);
    this.counters.cacheHits++;
    const valid = implied === address;
    if (!valid && countInvalid) this.counters.invalid++;
    return valid;
  }

  private remember(key: string, implied: number): void {
    if (this.cacheSize === 0) return;
    this.cache.delete(key);
    if (this.cache.size >= this.cacheSize) {
      const oldest = this.cache.keys().next();
      if (!oldest.done) this.cache.delete(oldest.value);
    }
    this.cache.set(key, implied);
  }

  private idleSlot(): Slot | undefined {
    for (const s of this.slots) if (!s.dead && s.job === null) return s;
    return undefined;
  }

  /**
   * Null when a new job from `source` may be queued — after refusing the newest job of the longest lane
   * if the queue is full and that lane is longer than `source`'s — or the error to refuse it with.
   */
  private makeRoom(source: string, address: number): ZtError | null {
    const mine = this.lanes.get(source)?.jobs.length ?? 0;
    const full = (why: string) =>
      new ZtError(IdentityValidatorErrorCode.QUEUE_FULL, `identity validator: ${why}; identity ${formatAddress(address)} not validated`);
    if (source !== '' && mine >= this.maxQueuePerSource) return full(`${mine} validations from ${source} waiting (maxQueuePerSource ${this.maxQueuePerSource})`);
    if (this.queued < this.maxQueue || this.idleSlot() !== undefined) return null;
    let victim: Lane | undefined;
    for (const lane of this.lanes.values()) {
      if (
        victim === undefined ||
        lane.jobs.length > victim.jobs.length ||
        (lane.jobs.length === victim.jobs.length && this.outranks(victim.source, lane.source))
      ) {
        victim = lane;
      }
    }
    if (victim === undefined || victim.jobs.length <= mine) return full(`queue full (${this.queued} waiting, maxQueue ${this.maxQueue})`);
    const evicted = this.takeFrom(victim, victim.jobs.length - 1);
    this.counters.evicted++;
    this.counters.rejectedQueueFull++;
    this.failJob(
      evicted,
      new ZtError(IdentityValidatorErrorCode.QUEUE_FULL, `identity validator: queue full; a validation from ${victim.source || 'a busier source'} gave way to one from a source with fewer waiting`),
    );
    return null;
  }

  /** Removes the job at `index` of `lane` (dropping the lane once empty). */
  private takeFrom(lane: Lane, index: number): Job {
    const [job] = lane.jobs.splice(index, 1);
    if (lane.jobs.length === 0) this.lanes.delete(lane.source);
    this.queued--;
    return job!;
  }

  /**
   * The oldest job of the lane whose prefix comes first by {@link outranks}: served least recently, and
   * among prefixes never served, the one that asked least (a newcomer asks once, a prefix flooding since
   * before it has asked again and again) — not the one that asked first, which in a flood from 200 prefixes
   * would put a newcomer behind every one of them.
   */
  private nextJob(): Job | undefined {
    let best: Lane | undefined;
    for (const lane of this.lanes.values()) if (best === undefined || this.outranks(lane.source, best.source)) best = lane;
    if (best === undefined) return undefined;
    const job = this.takeFrom(best, 0);
    const h = this.historyOf(best.source);
    h.served = ++this.serviceSeq;
    return job;
  }

  /** Whether prefix `a` is to be served before `b` (and given way by `b` when the queue is full). */
  private outranks(a: string, b: string): boolean {
    const ha = this.history.get(a);
    const hb = this.history.get(b);
    const sa = ha?.served ?? -1;
    const sb = hb?.served ?? -1;
    if (sa !== sb) return sa < sb;
    const ra = ha?.requests ?? 0;
    const rb = hb?.requests ?? 0;
    if (ra !== rb) return ra < rb;
    // Then the lane waiting longest (job ids grow).
    return (this.lanes.get(a)?.jobs[0]?.id ?? Infinity) < (this.lanes.get(b)?.jobs[0]?.id ?? Infinity);
  }

  private noteRequest(source: string): void {
    this.historyOf(source).requests++;
  }

  /** The history of `source`, made most recently used; the least recently used one goes past `sourceMemory`. */
  private historyOf(source: string): SourceHistory {
    let h = this.history.get(source);
    if (h !== undefined) this.history.delete(source);
    else h = { served: -1, requests: 0 };
    this.history.set(source, h);
    if (this.history.size > this.sourceMemory) this.history.delete(this.history.keys().next().value!);
    return h;
  }

  /** Hands queued jobs to idle workers. */
  private pump(): void {
    while (this.queued > 0) {
      const slot = this.idleSlot();
      if (slot === undefined) return;
      const job = this.nextJob()!;
      slot.job = job;
      slot.worker.ref(); // a busy worker keeps the process alive until it answers
      slot.timer = setTimeout(() => this.onTimeout(slot, job), this.timeoutMs);
      const req: ValidateJobRequest = { id: job.id, pub: job.pub };
      slot.worker.postMessage(req);
    }
  }

  private spawn(): Slot {
    const worker = this.createWorker();
    const slot: Slot = { worker, job: null, timer: null, dead: false };
    worker.on('message', (m: ValidateJobReply) => this.onReply(slot, m));
    // 'error' (uncaught exception in the worker) is followed by 'exit'; either one retires the slot.
    worker.on('error', (e: Error) => this.onWorkerDeath(slot, `worker error: ${e.message}`, e));
    worker.on('exit', (code: number) => this.onWorkerDeath(slot, `worker exited with code ${code}`));
    // An idle pool does not keep the process alive. After the listeners: adding a 'message' listener refs
    // the worker's port again, which kept a failed `ztroot start` running for minutes.
    worker.unref();
    return slot;
  }

  private onReply(slot: Slot, m: ValidateJobReply): void {
    const job = slot.job;
    if (slot.dead || job === null || m === null || typeof m !== 'object' || m.id !== job.id) return; // stale
    this.release(slot);
    if ('error' in m) {
      // Only a malformed request gets here (the key is always 64 bytes from an Identity): fail the job.
      this.counters.failed++;
      this.failJob(job, new ZtError(IdentityValidatorErrorCode.WORKER_FAILED, `identity validator: worker refused the job: ${m.error}`));
    } else {
      this.consecutiveFailures = 0;
      this.counters.validated++;
      this.pending.delete(job.key);
      this.remember(job.key, m.implied);
      for (const w of job.waiters) {
        const valid = m.implied !== NO_ADDRESS && m.implied === w.address;
        if (!valid) this.counters.invalid++;
        w.resolve(valid);
      }
    }
    this.pump();
  }

  private onTimeout(slot: Slot, job: Job): void {
    slot.timer = null;
    if (slot.dead || slot.job !== job) return;
    this.counters.failed++;
    this.failJob(
      job,
      new ZtError(IdentityValidatorErrorCode.TIMEOUT, `identity validator: no answer within ${this.timeoutMs} ms; worker replaced`),
    );
    slot.job = null;
    // A hash cannot be interrupted: the only way to get the core back is to terminate the worker.
    this.retire(slot);
    void slot.worker.terminate().catch(() => undefined);
    this.respawn(slot, 'timeout');
  }

  private onWorkerDeath(slot: Slot, why: string, cause?: Error): void {
    if (this.closed || slot.dead) return;
    this.retire(slot);
    const job = slot.job;
    slot.job = null;
    if (job !== null) {
      this.counters.failed++;
      this.failJob(job, new ZtError(IdentityValidatorErrorCode.WORKER_FAILED, `identity validator: ${why}`, { cause }));
    }
    this.respawn(slot, why);
  }

  private release(slot: Slot): void {
    if (slot.timer !== null) clearTimeout(slot.timer);
    slot.timer = null;
    slot.job = null;
    slot.worker.unref();
  }

  private retire(slot: Slot): void {
    slot.dead = true;
    if (slot.timer !== null) clearTimeout(slot.timer);
    slot.timer = null;
    slot.worker.removeAllListeners('message');
  }

  /**
   * Replaces a dead worker. A worker script that cannot start (missing file, syntax error) would
   * otherwise respawn forever: after more consecutive failures than 3 per worker + 3 without one
   * success in between, the pool declares itself broken and fails everything waiting.
   */
  private respawn(dead: Slot, why: string): void {
    this.consecutiveFailures++;
    const i = this.slots.indexOf(dead);
    if (this.consecutiveFailures > 3 * this.workerCount + 3) {
      if (this.broken === null) this.broken = `identity validator: workers keep failing (${this.consecutiveFailures} in a row, last: ${why})`;
      if (this.slots.every((s) => s.dead)) {
        const err = new ZtError(IdentityValidatorErrorCode.WORKER_FAILED, this.broken);
        for (const lane of this.lanes.values()) for (const job of lane.jobs) this.failJob(job, err);
        this.lanes.clear();
        this.queued = 0;
      }
      return;
    }
    this.counters.workerRestarts++;
    const fresh = this.spawn();
    if (i >= 0) this.slots[i] = fresh;
    else this.slots.push(fresh);
    this.pump();
  }

  private failJob(job: Job, err: ZtError): void {
    if (this.pending.get(job.key) === job) this.pending.delete(job.key);
    for (const w of job.waiters) w.reject(err);
  }
}

/** Cache / coalescing key: the public key as a 64-character one-byte string (compact in V8's heap). */
function keyOf(pub: Uint8Array): string {
  return Buffer.from(pub.buffer, pub.byteOffset, pub.length).toString('latin1');
}

function checkInt(name: string, v: number, min: number): void {
  if (!Number.isSafeInteger(v) || v < min) {
    throw new ZtError(ZtErrorCode.BAD_CONFIG, `identity validator: ${name} must be an integer ≥ ${min}, got ${String(v)}`);
  }
}
