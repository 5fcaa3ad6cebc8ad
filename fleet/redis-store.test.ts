/**
 * RedisPeerStore against real redis-server processes (test/redis.ts): the compliance suite on a standalone
 * server and on a 3-master Cluster, then the outage behaviour (kill, queue, fail-fast reads, restart, flush,
 * resync) and the bounded write queue.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { Cluster, Redis } from 'ioredis';
import { formatAddress } from '../vl1/address.js';
import { isZtError, ZtErrorCode } from '../vl1/errors.js';
import { freePort, RedisCluster, RedisServer, redisUnavailableReason } from '../test/redis.js';
import { fakeIdentity, peerStoreCompliance } from './peer-store.compliance.js';
import type { GarbageKind } from './peer-store.compliance.js';
import type { PeerStore } from './peer-store.js';
import { RedisPeerStore } from './redis-store.js';
import type { RedisPeerStoreOptions } from './redis-store.js';

const skip = redisUnavailableReason() ?? false;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Plants garbage the way a broken or hostile writer would, through a plain client of its own. */
async function plantGarbage(raw: Redis | Cluster, fleet: string, kind: GarbageKind, address: number): Promise<void> {
  const cli = (...args: (string | Buffer)[]): Promise<unknown> => raw.call(args[0] as string, ...args.slice(1));
  const tag = `ztroot:{${fleet}:${formatAddress(address)}}`;
  const future = String(Date.now() + 3_600_000);
  switch (kind) {
    case 'identity-bytes':
      await cli('SET', `${tag}:id`, 'garbage');
      return;
    case 'identity-other-address':
      await cli('SET', `${tag}:id`, Buffer.from(fakeIdentity(address + 1).toBinary()));
      return;
    case 'identity-type':
      await cli('HSET', `${tag}:id`, 'a', 'b');
      return;
    case 'location-field':
      await cli('HSET', `${tag}:loc`, 'nodash', 'no expiry here', 'bad-endpoints', `${future}|300.1.1.1/x`);
      return;
    case 'location-type':
      await cli('SET', `${tag}:loc`, 'a string, not a hash');
      return;
    case 'roots-field':
      await cli('HSET', `ztroot:{${fleet}}:roots`, 'junk', 'junk', 'bad-json', `${future}|{not json`);
      return;
  }
}

function newFleet(): string {
  return `t${randomBytes(6).toString('hex')}`;
}

async function open(opts: RedisPeerStoreOptions): Promise<RedisPeerStore> {
  const s = new RedisPeerStore({ commandTimeoutMs: 500, reconnectMaxDelayMs: 200, ...opts });
  await s.whenHealthy(10_000);
  return s;
}

describe('RedisPeerStore: compliance on a standalone redis-server', { skip }, () => {
  let server: RedisServer;
  let raw: Redis;
  before(async () => {
    server = await RedisServer.start();
    raw = new Redis(server.port, '127.0.0.1');
  });
  after(async () => {
    raw?.disconnect();
    await server?.stop();
  });
  peerStoreCompliance({
    make: async () => {
      const fleet = newFleet();
      const store = await open({ url: server.url, fleet });
      return { store, plant: (kind, a) => plantGarbage(raw, fleet, kind, a) };
    },
    advance: sleep,
    shortTtlMs: 150,
  });
});

describe('RedisPeerStore: compliance on a 3-master Redis Cluster', { skip }, () => {
  let cluster: RedisCluster;
  let raw: Cluster;
  before(async () => {
    cluster = await RedisCluster.start(3);
    raw = new Cluster(cluster.nodes.map((n) => ({ host: '127.0.0.1', port: n.port })));
  });
  after(async () => {
    raw?.disconnect();
    await cluster?.stop();
  });
  peerStoreCompliance({
    make: async () => {
      const fleet = newFleet();
      const store = await open({ url: cluster.url, fleet });
      return { store, plant: (kind, a) => plantGarbage(raw, fleet, kind, a) };
    },
    advance: sleep,
    shortTtlMs: 150,
  });

  it('spreads peers over the shards (per-peer hash tags), so the Cluster adds capacity', async () => {
    const fleet = newFleet();
    const store = await open({ url: cluster.url, fleet });
    try {
      await Promise.all(Array.from({ length: 60 }, (_, i) => store.putIdentity(fakeIdentity(0x2000000000 + i))));
      const counts = await Promise.all(cluster.nodes.map(async (n) => Number((await n.cli('DBSIZE')).trim())));
      assert.ok(counts.every((c) => c > 0), `every master holds keys: ${counts.join(',')}`);
    } finally {
      await store.close();
    }
  });
});

describe('RedisPeerStore: Redis outage', { skip }, () => {
  // Outage length: 5 s (the 60 s is scaled down to keep this file well under 40 s; nothing in the
  // store depends on the length — reads fail fast from the first moment and the queue is bounded by size).
  const OUTAGE_MS = 5000;
  let server: RedisServer;
  before(async () => {
    server = await RedisServer.start();
  });
  after(async () => {
    await server?.stop();
  });

  it('kill: degraded, reads fail fast, writes queue; restart: queued writes land and resync restores the rest within 10 s', async () => {
    // What "this root" holds in its own table — the resync callback re-puts it all.
    const held = Array.from({ length: 50 }, (_, i) => fakeIdentity(0x3000000000 + i));
    let resyncRuns = 0;
    const fleet = newFleet();
    const store = await open({
      url: server.url,
      fleet,
      resync: async (s: PeerStore) => {
        resyncRuns++;
        await Promise.all(held.flatMap((id) => [s.putIdentity(id), s.putLocation(id.address, { rootId: 'root-a', endpoints: [{ family: 4, ip: '192.0.2.1', port: 9993 }] }, 120_000)]));
        await s.heartbeat('root-a', { endpoints: [{ family: 4, ip: '192.0.2.100', port: 9993 }] }, 30_000);
      },
    });
    try {
      assert.equal(resyncRuns, 1, 'resync runs on the first connect too');
      assert.equal((await store.roots()).length, 1);
      const events: string[] = [];
      store.on('degraded', (e: unknown) => events.push(`degraded:${isZtError(e, ZtErrorCode.UNAVAILABLE)}`));
      store.on('recovered', () => events.push('recovered'));

      await server.kill();
      const t0 = Date.now();
      while (store.healthy && Date.now() - t0 < 2000) await sleep(10);
      assert.equal(store.healthy, false, 'unhealthy within 2 s of the kill');
      assert.deepEqual(events, ['degraded:true']);

      // Reads fail fast with UNAVAILABLE, never hang.
      for (const read of [() => store.getIdentity(held[0]!.address), () => store.getLocations(held[0]!.address), () => store.roots()]) {
        const t = Date.now();
        await assert.rejects(read(), (e: unknown) => isZtError(e, ZtErrorCode.UNAVAILABLE));
        assert.ok(Date.now() - t < 100, `read failed in ${Date.now() - t} ms`);
      }
      // Writes resolve at once and queue, the newest value per key winning.
      const newcomer = fakeIdentity(0x3100000000);
      const t = Date.now();
      await store.putIdentity(newcomer);
      await store.putLocation(newcomer.address, { rootId: 'root-a', endpoints: [{ family: 4, ip: '192.0.2.2', port: 1 }] }, 120_000);
      await store.putLocation(newcomer.address, { rootId: 'root-a', endpoints: [{ family: 4, ip: '192.0.2.2', port: 2 }] }, 120_000);
      assert.ok(Date.now() - t < 100, 'writes do not wait for Redis');
      assert.equal(store.stats().queued, 2, 'one queued write per key');

      await sleep(OUTAGE_MS);
      assert.equal(store.healthy, false);
      const restartedAt = Date.now();
      await server.restart(); // empty: no persistence, so only flush + resync can bring the state back
      await store.whenHealthy(10_000);
      const back = Date.now() - restartedAt;
      assert.ok(back < 10_000, `healthy ${back} ms after the restart`);
      assert.deepEqual(events, ['degraded:true', 'recovered']);
      assert.equal(resyncRuns, 2);
      const st = store.stats();
      assert.equal(st.queued, 0);
      assert.equal(st.flushed, 2);

      // Everything readable again: the queued writes and what resync re-put.
      assert.ok((await store.getIdentity(newcomer.address))?.equals(newcomer));
      assert.deepEqual((await store.getLocations(newcomer.address)).map((l) => l.endpoints[0]?.port), [2]);
      for (const id of held) {
        assert.ok((await store.getIdentity(id.address))?.equals(id));
        assert.equal((await store.getLocations(id.address))[0]?.rootId, 'root-a');
      }
      assert.deepEqual((await store.roots()).map((r) => r.rootId), ['root-a']);
      assert.ok(Date.now() - restartedAt < 10_000, 'state back within 10 s of the restart');
    } finally {
      await store.close();
    }
  });

  it('the write queue is bounded: the oldest writes are dropped and counted, the rest land once Redis appears', async () => {
    const port = await freePort();
    const fleet = newFleet();
    const store = new RedisPeerStore({ url: `redis://127.0.0.1:${port}`, fleet, maxQueued: 3, reconnectMaxDelayMs: 100, commandTimeoutMs: 500 });
    let late: RedisServer | undefined;
    try {
      const ids = Array.from({ length: 5 }, (_, i) => fakeIdentity(0x3200000000 + i));
      for (const id of ids) await store.putIdentity(id);
      assert.deepEqual({ queued: store.stats().queued, dropped: store.stats().dropped }, { queued: 3, dropped: 2 });
      await assert.rejects(store.getIdentity(ids[0]!.address), (e: unknown) => isZtError(e, ZtErrorCode.UNAVAILABLE));
      late = await RedisServer.start({ port });
      await store.whenHealthy(10_000);
      assert.equal(store.stats().flushed, 3);
      assert.equal(await store.getIdentity(ids[0]!.address), undefined);
      assert.equal(await store.getIdentity(ids[1]!.address), undefined);
      for (const id of ids.slice(2)) assert.ok((await store.getIdentity(id.address))?.equals(id));
    } finally {
      await store.close();
      await late?.stop();
    }
  });

  it('a command that gets no answer fails within the command timeout (server frozen with SIGSTOP)', async () => {
    const fleet = newFleet();
    const store = await open({ url: server.url, fleet, commandTimeoutMs: 300 });
    server.pause();
    try {
      const t = Date.now();
      await assert.rejects(store.getIdentity(0x3300000000), (e: unknown) => isZtError(e, ZtErrorCode.TIMEOUT) || isZtError(e, ZtErrorCode.UNAVAILABLE));
      const took = Date.now() - t;
      assert.ok(took >= 250 && took < 1000, `failed after ${took} ms`);
      // A write in the same state resolves (queued for retry) rather than rejecting.
      await store.putIdentity(fakeIdentity(0x3300000001));
    } finally {
      server.resume();
      await store.close();
    }
  });
});
