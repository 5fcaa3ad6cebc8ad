import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Worker } from 'node:worker_threads';
import { randomBytes } from 'node:crypto';
import { IdentityValidator, IdentityValidatorErrorCode } from './identity-validator.js';
import { ZtError } from '../vl1/errors.js';
import { Identity } from '../vl1/identity.js';
import { formatAddress } from '../vl1/address.js';
import { toHex } from '../vl1/bytes.js';
import { isZtError, ZtErrorCode } from '../vl1/errors.js';
import { readVectorJson } from '../test/vectors.js';
import { readdirSync, readFileSync } from 'node:fs';
import { WORKER_NICE } from './identity-validator-worker.js';

interface IdVector { name: string; public_string: string; secret_string: string; address: string; valid: boolean }
interface InvalidVector { name: string; string: string; parses: boolean; valid: boolean }
const idv = readVectorJson<{
  identities: IdVector[];
  invalid: InvalidVector[];
  not_detected_by_validation: Array<{ name: string; string: string; valid: boolean }>;
}>('identities.json');
const valid = idv.identities.map((v) => Identity.fromString(v.public_string));
const invalidParsed = idv.invalid.filter((v) => v.parses).map((v) => ({ v, id: Identity.fromString(v.string) }));

/** A syntactically fine identity with a random key: costs a full hash and is (almost surely) invalid. */
function randomIdentity(): Identity {
  const addr = (randomBytes(1)[0]! % 0xfe) + 1; // first byte 01..fe: not reserved
  return Identity.fromString(`${addr.toString(16).padStart(2, '0')}${toHex(randomBytes(4))}:0:${toHex(randomBytes(64))}`);
}

function isValidatorError(code: string): (e: unknown) => boolean {
  return (e) => e instanceof ZtError && e.code === code;
}

/** The real worker script, with every message posted to a worker counted and every worker recorded. */
function spyingFactory(): { createWorker: () => Worker; workers: Worker[]; posts: () => number } {
  const workers: Worker[] = [];
  let posts = 0;
  return {
    workers,
    posts: () => posts,
    createWorker: () => {
      const w = new Worker(new URL('./identity-validator-worker.js', import.meta.url));
      const post = w.postMessage.bind(w);
      w.postMessage = (m: unknown) => {
        posts++;
        post(m);
      };
      workers.push(w);
      return w;
    },
  };
}

test('vector identities: every valid one validates, every tampered one does not (identities.json)', async () => {
  const v = new IdentityValidator({ workers: 2 });
  try {
    assert.equal(valid.length, 16);
    assert.deepEqual(await Promise.all(valid.map((id) => v.validate(id))), idv.identities.map((x) => x.valid));
    assert.ok(idv.identities.every((x) => x.valid));
    assert.equal(invalidParsed.length, 5);
    for (const { v: vec, id } of invalidParsed) assert.equal(await v.validate(id), vec.valid, vec.name);
    assert.ok(invalidParsed.every(({ v: vec }) => vec.valid === false));
    // Only the public half is checked (a secret that belongs to another identity goes unnoticed, as in 1.14).
    for (const nd of idv.not_detected_by_validation) assert.equal(await v.validate(Identity.fromString(nd.string)), nd.valid);
    // Afterwards the packet path sees the same answers synchronously.
    for (const id of valid) assert.equal(v.cached(id), true);
    for (const { id } of invalidParsed) assert.equal(v.cached(id), false);
    assert.equal(v.cached(randomIdentity()), undefined);
    const s = v.stats;
    assert.ok(s.invalid >= 5 && s.failed === 0 && s.inFlight === 0 && s.queueLength === 0);
  } finally {
    await v.close();
  }
});

test('a tampered address is refused from the cache entry of its key; the cache is keyed by the public key', async () => {
  const spy = spyingFactory();
  const v = new IdentityValidator({ workers: 1 }, { createWorker: spy.createWorker });
  try {
    const tampered = invalidParsed.find(({ v: x }) => x.name === 'tampered_address_last_nibble')!.id;
    const original = valid.find((id) => toHex(id.publicKey) === toHex(tampered.publicKey));
    assert.ok(original, 'vector: tampered address uses a valid identity key');
    assert.notEqual(original.address, tampered.address);
    // Both in flight at once: one hash answers both, each with its own address.
    assert.deepEqual(await Promise.all([v.validate(original), v.validate(tampered)]), [true, false]);
    assert.equal(spy.posts(), 1);
    assert.equal(v.stats.coalesced, 1);
  } finally {
    await v.close();
  }
});

test('the event loop keeps ticking while 20 validations run; all answers are right', async () => {
  const v = new IdentityValidator(); // default worker count, as the root runs it
  try {
    const randoms = Array.from({ length: 4 }, randomIdentity);
    const ids = [...valid, ...randoms];
    assert.equal(ids.length, 20);
    let last = performance.now();
    let worstGap = 0;
    let ticks = 0;
    const t = setInterval(() => {
      const now = performance.now();
      worstGap = Math.max(worstGap, now - last);
      last = now;
      ticks++;
    }, 5);
    const started = performance.now();
    const results = await Promise.all(ids.map((id) => v.validate(id)));
    const elapsed = performance.now() - started;
    clearInterval(t);
    assert.deepEqual(results, [...valid.map(() => true), ...randoms.map((id) => id.locallyValidate())]);
    assert.equal(v.stats.validated, 20);
    // Behaviour check, not a benchmark: a 20 × ~25 ms burst of hashing must not stall the loop.
    assert.ok(worstGap < 100, `worst timer gap ${worstGap.toFixed(1)} ms over ${elapsed.toFixed(0)} ms`);
    assert.ok(ticks >= 3, `only ${ticks} ticks in ${elapsed.toFixed(0)} ms`);
  } finally {
    await v.close();
  }
});

test('identical requests in flight are coalesced into one job', async () => {
  const spy = spyingFactory();
  const v = new IdentityValidator({ workers: 1, maxQueue: 0 }, { createWorker: spy.createWorker });
  try {
    const id = valid[3]!;
    // Fresh Identity objects with the same content (as from ten HELLOs) share the job too, even with maxQueue 0.
    const again = Array.from({ length: 9 }, () => Identity.fromString(idv.identities[3]!.public_string));
    const all = await Promise.all([id, ...again].map((x) => v.validate(x)));
    assert.deepEqual(all, new Array(10).fill(true));
    assert.equal(spy.posts(), 1);
    const s = v.stats;
    assert.equal(s.validated, 1);
    assert.equal(s.coalesced, 9);
  } finally {
    await v.close();
  }
});

test('cache hits answer at once and never reach a worker; LRU bound holds', async () => {
  const spy = spyingFactory();
  const v = new IdentityValidator({ workers: 1, cacheSize: 2 }, { createWorker: spy.createWorker });
  try {
    const [a, b, c] = [valid[0]!, valid[1]!, valid[2]!];
    assert.equal(await v.validate(a), true);
    assert.equal(await v.validate(b), true);
    assert.equal(spy.posts(), 2);
    // Hits: settled before any I/O turn (a resolved promise), no message to a worker.
    let settled = false;
    void v.validate(a).then((r) => {
      assert.equal(r, true);
      settled = true;
    });
    await Promise.resolve();
    assert.equal(settled, true);
    assert.equal(v.cached(b), true);
    assert.equal(spy.posts(), 2);
    assert.equal(v.stats.cacheHits, 2);
    // cacheSize 2: order is now a, b (b refreshed by cached()), so adding c evicts a.
    assert.equal(await v.validate(c), true);
    assert.equal(v.stats.cacheEntries, 2);
    assert.equal(v.cached(a), undefined);
    assert.equal(v.cached(b), true);
    assert.equal(v.cached(c), true);
    assert.equal(spy.posts(), 3);
  } finally {
    await v.close();
  }
});

test('cacheSize 0 disables the cache', async () => {
  const v = new IdentityValidator({ workers: 1, cacheSize: 0 });
  try {
    assert.equal(await v.validate(valid[0]!), true);
    assert.equal(v.cached(valid[0]!), undefined);
    assert.equal(await v.validate(valid[0]!), true);
    assert.equal(v.stats.validated, 2);
  } finally {
    await v.close();
  }
});

test('a full queue rejects at once with QUEUE_FULL; what was accepted still completes', async () => {
  const v = new IdentityValidator({ workers: 1, maxQueue: 2 });
  try {
    const ids = valid.slice(0, 4);
    const accepted = ids.slice(0, 3).map((id) => v.validate(id)); // 1 running + 2 queued
    assert.equal(v.stats.inFlight, 1);
    assert.equal(v.stats.queueLength, 2);
    await assert.rejects(v.validate(ids[3]!), (e) => {
      assert.ok(e instanceof ZtError);
      assert.equal(e.code, IdentityValidatorErrorCode.QUEUE_FULL);
      assert.match(e.message, new RegExp(formatAddress(ids[3]!.address)));
      return true;
    });
    // Joining a job already queued is not new work: accepted while full.
    const joined = v.validate(Identity.fromString(idv.identities[2]!.public_string));
    assert.equal(v.stats.rejectedQueueFull, 1);
    assert.deepEqual(await Promise.all([...accepted, joined]), [true, true, true, true]);
    assert.equal(v.stats.queueLength, 0);
    assert.equal(await v.validate(ids[3]!), true); // room again
  } finally {
    await v.close();
  }
});

test('close() while busy rejects everything pending with CLOSED, is idempotent, and later calls reject', async () => {
  const v = new IdentityValidator({ workers: 1 });
  const done = await v.validate(valid[0]!);
  assert.equal(done, true);
  const pending = valid.slice(1, 6).map((id) => v.validate(id));
  assert.equal(v.stats.inFlight, 1);
  const c1 = v.close();
  const c2 = v.close();
  assert.equal(c1, c2);
  const settled = await Promise.allSettled(pending);
  for (const r of settled) {
    assert.equal(r.status, 'rejected');
    assert.ok(isValidatorError(IdentityValidatorErrorCode.CLOSED)((r as PromiseRejectedResult).reason));
  }
  await c1;
  await v.close();
  await assert.rejects(v.validate(valid[7]!), isValidatorError(IdentityValidatorErrorCode.CLOSED));
  await assert.rejects(v.validate(valid[0]!), isValidatorError(IdentityValidatorErrorCode.CLOSED));
  assert.equal(v.cached(valid[0]!), true); // the cache outlives the workers
  assert.equal(v.stats.workers, 0);
});

test('a killed worker fails its job with WORKER_FAILED and is replaced', async () => {
  const spy = spyingFactory();
  const v = new IdentityValidator({ workers: 1 }, { createWorker: spy.createWorker });
  try {
    const p = v.validate(valid[0]!);
    assert.equal(v.stats.inFlight, 1);
    assert.equal(spy.workers.length, 1);
    await spy.workers[0]!.terminate(); // as if the thread died (OOM, native crash)
    await assert.rejects(p, isValidatorError(IdentityValidatorErrorCode.WORKER_FAILED));
    assert.equal(spy.workers.length, 2);
    const s = v.stats;
    assert.equal(s.workerRestarts, 1);
    assert.equal(s.failed, 1);
    assert.equal(s.workers, 1);
    // The replacement does the work, and the failed job was not cached or left pending.
    assert.equal(v.cached(valid[0]!), undefined);
    assert.equal(await v.validate(valid[0]!), true);
    assert.equal(await v.validate(invalidParsed[0]!.id), false);
  } finally {
    await v.close();
  }
});

test('a worker that does not answer in timeoutMs fails its job with TIMEOUT and is replaced', async () => {
  let made = 0;
  const silent = (): Worker => {
    made++;
    return new Worker(`require('node:worker_threads').parentPort.on('message', () => {});`, { eval: true });
  };
  const v = new IdentityValidator({ workers: 1, timeoutMs: 150 }, { createWorker: silent });
  try {
    const t0 = performance.now();
    await assert.rejects(v.validate(valid[0]!), isValidatorError(IdentityValidatorErrorCode.TIMEOUT));
    assert.ok(performance.now() - t0 >= 140);
    assert.equal(made, 2);
    assert.equal(v.stats.workerRestarts, 1);
    assert.equal(v.stats.workers, 1);
    // A second request is served by the replacement (which also stays silent).
    await assert.rejects(v.validate(valid[0]!), isValidatorError(IdentityValidatorErrorCode.TIMEOUT));
  } finally {
    await v.close();
  }
});

test('a worker script that always dies does not respawn forever; requests then fail with WORKER_FAILED', async () => {
  let made = 0;
  const dying = (): Worker => {
    made++;
    return new Worker(`throw new Error('boom')`, { eval: true });
  };
  const v = new IdentityValidator({ workers: 1 }, { createWorker: dying });
  try {
    await assert.rejects(v.validate(valid[0]!), isValidatorError(IdentityValidatorErrorCode.WORKER_FAILED));
    // Let the remaining respawns play out.
    for (let i = 0; i < 100 && v.stats.workers > 0; i++) await new Promise((r) => setTimeout(r, 20));
    assert.equal(v.stats.workers, 0);
    assert.ok(made <= 8, `${made} workers started`);
    await assert.rejects(v.validate(valid[1]!), isValidatorError(IdentityValidatorErrorCode.WORKER_FAILED));
  } finally {
    await v.close();
  }
});

test('bad options are BAD_CONFIG ZtErrors naming the option', () => {
  const bad: Array<[object, string]> = [
    [{ workers: 0 }, 'workers'],
    [{ workers: 1.5 }, 'workers'],
    [{ maxQueue: -1 }, 'maxQueue'],
    [{ cacheSize: Number.NaN }, 'cacheSize'],
    [{ timeoutMs: 0 }, 'timeoutMs'],
    [{ timeoutMs: Infinity }, 'timeoutMs'],
  ];
  for (const [o, name] of bad) {
    assert.throws(() => new IdentityValidator(o), (e) => isZtError(e, ZtErrorCode.BAD_CONFIG) && e.message.includes(name), JSON.stringify(o));
  }
});

/** Settles `p` into what happened, with the order it happened in. */
function track(p: Promise<boolean>, name: string, order: string[]): Promise<void> {
  return p.then(
    () => void order.push(name),
    (e: unknown) => void order.push(`${name}:${isZtError(e) ? e.code : String(e)}`),
  );
}

test('fair across prefixes: with the queue full of a flood from many prefixes, a newcomer from a quiet one is served next', async () => {
  // Issue 11: FIFO let 200 flooding /24s keep the queue full, and newcomers were refused.
  const v = new IdentityValidator({ workers: 1, maxQueue: 12, maxQueuePerSource: 4 });
  try {
    const order: string[] = [];
    // The flood has been going on for a while: each of its prefixes has been served before.
    for (let i = 0; i < 4; i++) await v.validate(randomIdentity(), `198.18.${i}.0/24`);
    const flood: Promise<void>[] = [];
    for (let i = 0; i < 13; i++) flood.push(track(v.validate(randomIdentity(), `198.18.${i % 4}.0/24`), `flood${i}`, order)); // 1 running + 12 queued
    assert.equal(v.stats.queueLength, 12);
    assert.equal(v.stats.queuedSources, 4);
    const newcomer = track(v.validate(valid[5]!, '203.0.113.0/24'), 'newcomer', order);
    // The queue was full: the newest job of the longest (most recently served) lane gave way.
    assert.equal(v.stats.evicted, 1);
    assert.equal(v.stats.queueLength, 12);
    await Promise.all([...flood, newcomer]);
    const served = order.filter((o) => !o.includes(':'));
    assert.ok(served.indexOf('newcomer') <= 1, `the newcomer was served right after the job in flight: ${served.join(' ')}`);
    assert.deepEqual(order.filter((o) => o.includes(':')), ['flood12:' + IdentityValidatorErrorCode.QUEUE_FULL], 'exactly the newest flood job was refused');
  } finally {
    await v.close();
  }
});

test('least recent service per prefix: prefixes take turns, and a prefix whose lane drained does not jump the line', async () => {
  const v = new IdentityValidator({ workers: 1, maxQueue: 64 });
  try {
    const order: string[] = [];
    const jobs: Promise<void>[] = [];
    // Prefix A is served once (alone), then A, B and C queue three each while the worker is busy.
    await v.validate(valid[1]!, 'A');
    jobs.push(track(v.validate(randomIdentity(), 'busy'), 'busy', order)); // occupies the worker
    for (let i = 0; i < 3; i++) for (const p of ['A', 'B', 'C']) jobs.push(track(v.validate(randomIdentity(), p), `${p}${i}`, order));
    await Promise.all(jobs);
    // A was served before (remembered although its lane had drained), so B and C, never served, go first.
    assert.deepEqual(order, ['busy', 'B0', 'C0', 'A0', 'B1', 'C1', 'A1', 'B2', 'C2', 'A2']);
  } finally {
    await v.close();
  }
});

test('bounded per prefix: past maxQueuePerSource a prefix is refused with QUEUE_FULL while others still get in', async () => {
  const v = new IdentityValidator({ workers: 1, maxQueue: 64, maxQueuePerSource: 2 });
  try {
    const order: string[] = [];
    const jobs = [track(v.validate(randomIdentity(), 'busy'), 'busy', order)];
    for (let i = 0; i < 4; i++) jobs.push(track(v.validate(randomIdentity(), 'loud'), `loud${i}`, order));
    jobs.push(track(v.validate(randomIdentity(), 'quiet'), 'quiet', order));
    await Promise.all(jobs);
    assert.deepEqual(order.filter((o) => o.includes(':')).sort(), [`loud2:${IdentityValidatorErrorCode.QUEUE_FULL}`, `loud3:${IdentityValidatorErrorCode.QUEUE_FULL}`]);
    assert.ok(order.includes('quiet'));
    assert.equal(v.stats.rejectedQueueFull, 2);
    assert.equal(v.stats.evicted, 0);
  } finally {
    await v.close();
  }
});

test('validation threads run below the event loop (nice 10) on Linux; the process itself keeps its priority', { skip: process.platform !== 'linux' && 'thread priorities are set on Linux only' }, async () => {
  const niceOf = (stat: string): number => Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16]);
  const before = niceOf(readFileSync('/proc/self/stat', 'utf8'));
  const v = new IdentityValidator({ workers: 2 });
  try {
    await Promise.all([v.validate(valid[3]!), v.validate(valid[4]!)]);
    const nices = readdirSync('/proc/self/task').map((tid) => niceOf(readFileSync(`/proc/self/task/${tid}/stat`, 'utf8')));
    assert.equal(nices.filter((n) => n === Math.max(before, WORKER_NICE)).length >= 2, true, `thread nice values: ${nices.join(' ')}`);
    assert.equal(niceOf(readFileSync('/proc/self/stat', 'utf8')), before, 'the main thread is untouched');
  } finally {
    await v.close();
  }
});

test('among prefixes never served, the one that asked least goes first: a newcomer does not wait for every flooding prefix to have a turn', async () => {
  const v = new IdentityValidator({ workers: 1, maxQueue: 64 });
  try {
    const order: string[] = [];
    const jobs = [track(v.validate(randomIdentity(), 'busy'), 'busy', order)];
    // Six prefixes flooding since before the newcomer, none served yet (the worker is busy).
    for (let i = 0; i < 3; i++) for (let p = 0; p < 6; p++) jobs.push(track(v.validate(randomIdentity(), `flood${p}`), `f${p}.${i}`, order));
    jobs.push(track(v.validate(valid[6]!, 'quiet'), 'newcomer', order));
    await Promise.all(jobs);
    assert.equal(order[1], 'newcomer', order.join(' '));
  } finally {
    await v.close();
  }
});
