import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MemoryPeerStore } from './memory-store.js';
import { fakeIdentity, peerStoreCompliance } from './peer-store.compliance.js';

describe('MemoryPeerStore: compliance', () => {
  let now = 1_700_000_000_000;
  peerStoreCompliance({
    make: async () => ({ store: new MemoryPeerStore({ now: () => now }) }),
    advance: async (ms) => {
      now += ms;
    },
    shortTtlMs: 1000,
  });
});

describe('MemoryPeerStore', () => {
  it('sweeps expired records from a write once per sweep interval, so unread records do not pile up', async () => {
    let now = 0;
    const s = new MemoryPeerStore({ now: () => now, sweepIntervalMs: 10_000 });
    for (let i = 1; i <= 100; i++) {
      await s.putIdentity(fakeIdentity(i), 1000);
      await s.putLocation(i, { rootId: 'r', endpoints: [] }, 1000);
    }
    await s.heartbeat('r', { endpoints: [] }, 1000);
    now = 5_000; // expired, but no sweep due yet
    await s.putIdentity(fakeIdentity(1000), 60_000);
    assert.deepEqual(s.size(), { identities: 101, locations: 100, heartbeats: 1 });
    now = 10_000; // sweep due: only the live identity is left
    await s.putIdentity(fakeIdentity(1001), 60_000);
    assert.deepEqual(s.size(), { identities: 2, locations: 0, heartbeats: 0 });
    await s.close();
  });

  it('is always healthy and never queues', () => {
    const s = new MemoryPeerStore();
    assert.equal(s.healthy, true);
    assert.deepEqual(s.stats(), { queued: 0, dropped: 0, flushed: 0, badValues: 0, resyncs: 0 });
  });
});
