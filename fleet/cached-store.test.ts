import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ZtError, ZtErrorCode } from '../vl1/errors.js';
import { Identity } from '../vl1/identity.js';
import { PeerStoreCache } from './cached-store.js';
import { MemoryPeerStore } from './memory-store.js';
import { fakeIdentity } from './peer-store.compliance.js';

/** A real MemoryPeerStore whose reads are counted and can be made to fail like an unreachable Redis. */
function countingStore(now: () => number): { store: MemoryPeerStore; reads: () => number; down: (v: boolean) => void } {
  const store = new MemoryPeerStore({ now });
  let reads = 0;
  let isDown = false;
  const getIdentity = store.getIdentity.bind(store);
  const getLocations = store.getLocations.bind(store);
  const fail = (): never => {
    throw new ZtError(ZtErrorCode.UNAVAILABLE, 'test: store down');
  };
  store.getIdentity = async (a) => (reads++, isDown ? fail() : getIdentity(a));
  store.getLocations = async (a) => (reads++, isDown ? fail() : getLocations(a));
  return { store, reads: () => reads, down: (v) => (isDown = v) };
}

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

describe('PeerStoreCache', () => {
  it('a miss answers undefined at once and starts exactly one look-up however many packets ask; then it hits', async () => {
    let now = 0;
    const { store, reads } = countingStore(() => now);
    const id = fakeIdentity(0x0a00000001);
    await store.putIdentity(id);
    const c = new PeerStoreCache(store, { now: () => now });
    for (let i = 0; i < 100; i++) assert.equal(c.identity(id.address), undefined);
    await tick();
    assert.equal(reads(), 1);
    for (let i = 0; i < 100; i++) assert.ok(c.identity(id.address)?.equals(id));
    assert.equal(reads(), 1);
    assert.equal(c.stats().hits, 100);
  });

  it('remembers "not found" for negativeTtlMs, then asks again', async () => {
    let now = 0;
    const { store, reads } = countingStore(() => now);
    const c = new PeerStoreCache(store, { now: () => now, negativeTtlMs: 2000 });
    assert.equal(await c.lookupIdentity(0x0a00000002), undefined);
    for (let i = 0; i < 10; i++) c.identity(0x0a00000002);
    assert.deepEqual(await c.lookupLocations(0x0a00000002), []);
    assert.equal(reads(), 2, 'one identity and one location look-up');
    now += 2001;
    const id = fakeIdentity(0x0a00000002);
    await store.putIdentity(id);
    assert.ok((await c.lookupIdentity(id.address))?.equals(id));
    assert.equal(reads(), 3);
  });

  it('during an outage it keeps serving what it knew and retries at most once per errorTtlMs; never rejects', async () => {
    let now = 0;
    const { store, reads, down } = countingStore(() => now);
    const a = 0x0a00000003;
    await store.putLocation(a, { rootId: 'r1', endpoints: [{ family: 4, ip: '192.0.2.1', port: 9993 }] }, 60_000);
    const c = new PeerStoreCache(store, { now: () => now, locationTtlMs: 1000, errorTtlMs: 500 });
    assert.equal((await c.lookupLocations(a))[0]?.rootId, 'r1');
    down(true);
    now += 1001; // stale
    assert.equal(c.locations(a)?.[0]?.rootId, 'r1', 'stale value served');
    await tick();
    assert.equal(reads(), 2);
    for (let i = 0; i < 50; i++) assert.equal(c.locations(a)?.[0]?.rootId, 'r1');
    assert.equal((await c.lookupLocations(a))[0]?.rootId, 'r1');
    assert.equal(reads(), 2, 'no retry before errorTtlMs');
    assert.equal(await c.lookupIdentity(0x0a00000004), undefined, 'unknown during an outage: undefined, not a rejection');
    now += 501;
    c.locations(a);
    await tick();
    assert.equal(reads(), 4);
    assert.equal(c.stats().errors, 3);
    down(false);
    await store.putLocation(a, { rootId: 'r2', endpoints: [] }, 60_000);
    now += 501;
    assert.deepEqual((await c.lookupLocations(a)).map((l) => l.rootId).sort(), ['r1', 'r2']);
  });

  it('is bounded: least recently used addresses are evicted; look-ups beyond maxInflight are shed', async () => {
    let now = 0;
    const { store } = countingStore(() => now);
    const c = new PeerStoreCache(store, { now: () => now, maxEntries: 10 });
    const ids = Array.from({ length: 20 }, (_, i) => fakeIdentity(0x0b00000000 + i));
    for (const id of ids.slice(0, 10)) c.rememberIdentity(id);
    c.identity(ids[0]!.address); // most recently used now
    for (const id of ids.slice(10, 19)) c.rememberIdentity(id);
    const st = c.stats();
    assert.equal(st.identities, 10);
    assert.equal(st.evictions, 9);
    assert.ok(c.identity(ids[0]!.address)?.equals(ids[0]!), 'recently used survives');
    assert.equal(c.identity(ids[1]!.address), undefined, 'least recently used went');

    const small = new PeerStoreCache(store, { now: () => now, maxInflight: 3 });
    for (let i = 0; i < 10; i++) small.identity(0x0c00000000 + i);
    assert.equal(small.stats().lookups, 3);
    assert.equal(small.stats().shed, 7);
    await tick();
    small.identity(0x0c00000009);
    assert.equal(small.stats().lookups, 4, 'capacity is back once look-ups finish');
  });

  it('rememberIdentity keeps only the public half', () => {
    const c = new PeerStoreCache(new MemoryPeerStore());
    const real = Identity.generate();
    assert.notEqual(real.privateKey, null);
    c.rememberIdentity(real);
    assert.equal(c.identity(real.address)?.privateKey, null);
  });
});
