/**
 * Two roots of one planet sharing a real redis-server (started by the test, no persistence): a peer that
 * only ever spoke to root A is known to root B (WHOIS on B answers for it), both roots announce
 * themselves with heartbeats, and a root resynchronises what it holds after Redis comes back.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Identity } from '../vl1/identity.js';
import { c25519Generate } from '../vl1/c25519.js';
import { Verb } from '../vl1/constants.js';
import { openPacket, sealPacket } from '../vl1/packet.js';
import { encodeWhois } from '../vl1/verbs/whois.js';
import { decodeOk } from '../vl1/verbs/ok.js';
import { signWorld, serializeWorld } from '../planet/world.js';
import { RootServer } from './root-server.js';
import { IdentityValidator } from './identity-validator.js';
import { RedisPeerStore } from '../fleet/redis-store.js';
import { PeerStoreCache } from '../fleet/cached-store.js';
import { readVectorJson } from '../test/vectors.js';
import type { InetAddress } from '../vl1/inet-address.js';
import { decodeRendezvous } from '../vl1/verbs/rendezvous.js';
import { buildPacket, armor } from '../vl1/packet.js';
import { PeerKey } from '../vl1/peer-key.js';
import { RawClient } from '../test/raw-vl1-client.js';
import { RedisServer, redisUnavailableReason } from '../test/redis.js';

const skip = redisUnavailableReason() ?? false;
if (skip) console.log(`# fleet root tests skipped: ${skip}`);

const ids = readVectorJson<{ identities: { secret_string: string }[] }>('identities.json').identities.map((i) => Identity.fromString(i.secret_string));
const [rootAId, rootBId, xId, yId] = ids as [Identity, Identity, Identity, Identity];
const key = c25519Generate();
const world = signWorld(
  {
    type: 'planet',
    id: 0x5eedf1ee7n,
    timestamp: 1,
    updatesMustBeSignedBy: key.publicKey,
    roots: [
      { identity: rootAId.publicOnly(), stableEndpoints: [{ family: 4, ip: '192.0.0.1', port: 9993 }] },
      { identity: rootBId.publicOnly(), stableEndpoints: [{ family: 4, ip: '192.0.0.2', port: 9993 }] },
    ],
  },
  key,
);
const planet = serializeWorld(world);

let redis: RedisServer;
const started: Array<{ root: RootServer; store: RedisPeerStore; validator: IdentityValidator }> = [];

async function startRoot(identity: Identity, rootId: string) {
  const validator = new IdentityValidator({ workers: 1 });
  let root: RootServer | undefined;
  const store = new RedisPeerStore({ url: redis.url, fleet: world.id.toString(16), resync: () => root?.resyncFleet() });
  const cache = new PeerStoreCache(store, { negativeTtlMs: 100 });
  const endpoints: InetAddress[] = [];
  root = new RootServer({ port: 0, bind4: '127.0.0.1', bind6: null, housekeepingMs: 200 }, { identity, planet, validator, fleet: { store, cache, rootId, endpoints } });
  await root.start();
  endpoints.push({ family: 4, ip: '127.0.0.1', port: root.port }); // where the other roots forward to
  await store.whenHealthy(5000);
  started.push({ root, store, validator });
  return root;
}

before(async () => {
  if (skip) return;
  redis = await RedisServer.start();
});
after(async () => {
  for (const s of started) {
    await s.root.stop();
    await s.store.close();
    await s.validator.close();
  }
  await redis?.stop();
});

test('WHOIS on root B answers for a peer that only ever spoke to root A; both roots heartbeat', { skip, timeout: 30_000 }, async () => {
  const a = await startRoot(rootAId, 'root-a');
  const b = await startRoot(rootBId, 'root-b');
  const x = await new RawClient(xId, { root: rootAId, port: () => a.port, planetId: world.id, planetTimestamp: world.timestamp }).open();
  const y = await new RawClient(yId, { root: rootBId, port: () => b.port, planetId: world.id, planetTimestamp: world.timestamp }).open();
  try {
    x.send(x.hello());
    assert.ok(await x.next(5000), 'X is online at root A');
    y.send(y.hello());
    assert.ok(await y.next(5000), 'Y is online at root B');
    assert.equal(b.peers.get(xId.address), undefined, 'root B never heard from X');

    // Y asks B who X is; B has to ask the fleet (the write from A may still be in flight: retry briefly).
    const k = y.keyWith(rootBId);
    let reply: Uint8Array | null = null;
    for (let i = 0; i < 20 && reply === null; i++) {
      y.send(sealPacket({ dest: rootBId.address, source: yId.address, verb: Verb.WHOIS, payload: encodeWhois({ addresses: [xId.address] }) }, k, 3));
      reply = await y.next(300);
    }
    assert.ok(reply, 'B answered WHOIS for X');
    const ok = decodeOk(openPacket(reply, k).payload);
    assert.ok(ok.kind === 'WHOIS');
    assert.deepEqual(ok.identities.map((i) => i.toString()), [xId.toString()]);
    assert.ok((b.counters.get('fleet_whois_lookups') ?? 0) >= 1);

    // X's location is recorded as held by root A.
    const locs = await started[0]!.store.getLocations(xId.address);
    assert.deepEqual(locs.map((l) => l.rootId), ['root-a']);
    assert.deepEqual(locs[0]!.endpoints, [{ family: 4, ip: '127.0.0.1', port: x.port }]);

    // Housekeeping (every 200 ms here) announces both roots.
    let roots: string[] = [];
    for (let i = 0; i < 20 && roots.length < 2; i++) {
      await new Promise((r) => setTimeout(r, 100));
      roots = (await started[0]!.store.roots()).map((r) => r.rootId).sort();
    }
    assert.deepEqual(roots, ['root-a', 'root-b']);
  } finally {
    x.close();
    y.close();
  }
});

test('after Redis restarts empty, each root puts back what it holds (resync)', { skip, timeout: 30_000 }, async () => {
  const a = started[0]!.root;
  assert.ok(a.peers.get(xId.address), 'root A holds X from the previous test');
  await redis.kill();
  await redis.restart(); // same port, no data
  const store = started[0]!.store;
  await store.whenHealthy(10_000);
  let id: Identity | undefined;
  for (let i = 0; i < 50 && id === undefined; i++) {
    id = await store.getIdentity(xId.address).catch(() => undefined);
    if (id === undefined) await new Promise((r) => setTimeout(r, 100));
  }
  assert.equal(id?.toString(), xId.toString(), 'X is back in Redis');
  assert.ok((a.counters.get('fleet_resyncs') ?? 0) >= 1);
});

test('`ztroot fleet status` lists the roots with their heartbeats and peer counts', { skip, timeout: 30_000 }, async () => {
  const { execFile, spawnSync } = await import('node:child_process');
  const { join } = await import('node:path');
  const { REPO_ROOT } = await import('../test/vectors.js');
  // The previous test restarted Redis empty: wait for the heartbeats to come back.
  for (let i = 0; i < 30 && (await started[0]!.store.roots()).length < 2; i++) await new Promise((r) => setTimeout(r, 100));
  const cli = join(REPO_ROOT, 'dist', 'tools', 'cli.js');
  // Not spawnSync: the roots live in this process, and their heartbeats (600 ms here) must go on while the CLI runs.
  const r = await new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) => {
    const c = execFile(process.execPath, [cli, 'fleet', 'status', '--redis', redis.url, '--fleet', world.id.toString(16)], { encoding: 'utf8', timeout: 15_000 }, (_e, stdout, stderr) =>
      resolve({ status: c.exitCode, stdout, stderr }),
    );
  });
  assert.equal(r.status, 0, `stderr: ${r.stderr} stdout: ${r.stdout}`);
  assert.match(r.stdout, /2 root\(s\)/);
  assert.match(r.stdout, /^root-a\s+1\s/m);
  assert.match(r.stdout, /^root-b\s+1\s/m);
  const bad = spawnSync(process.execPath, [cli, 'fleet', 'status', '--fleet', 'x'], { encoding: 'utf8', env: { ...process.env, ZTROOT_FLEET_REDIS: '' } });
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /--redis is required/);
});

test('a client attached only to root A reaches a client attached only to root B; both are introduced; forgeries are dropped', { skip, timeout: 30_000 }, async () => {
  const [a, b] = [started[0]!.root, started[1]!.root];
  const x = await new RawClient(xId, { root: rootAId, port: () => a.port, planetId: world.id, planetTimestamp: world.timestamp }).open();
  const y = await new RawClient(yId, { root: rootBId, port: () => b.port, planetId: world.id, planetTimestamp: world.timestamp }).open();
  try {
    x.send(x.hello());
    y.send(y.hello());
    assert.ok(await x.next(5000));
    assert.ok(await y.next(5000));
    assert.equal(a.peers.get(yId.address), undefined, 'root A does not hold Y');
    assert.equal(b.peers.get(xId.address), undefined, 'root B does not hold X');
    // Y was held by root B in the first test too, at another port: wait until B has published where it is now, so
    // that root A's first look-up (and the RENDEZVOUS it sends with the first datagram) finds the new address.
    const store = started[0]!.store;
    for (let i = 0; i < 50; i++) {
      const at = (await store.getLocations(yId.address)).find((l) => l.rootId === 'root-b');
      if (at?.endpoints.some((e) => e.port === y.port)) break;
      await new Promise((r) => setTimeout(r, 50));
    }

    // X → Y through root A; A finds Y's root in the fleet (the first datagrams may go while that look-up runs).
    const xy = x.keyWith(yId);
    let got: Uint8Array | undefined;
    const fromX = (m: Uint8Array) => m.length > 18 && m[13] === ((xId.address / 2 ** 32) & 0xff) && m[8] === ((yId.address / 2 ** 32) & 0xff);
    // Everything Y receives meanwhile is kept: root B's RENDEZVOUS may come with the first datagrams.
    const seenByY: Uint8Array[] = [];
    for (let i = 0; i < 30 && got === undefined; i++) {
      x.send(sealPacket({ dest: yId.address, source: xId.address, verb: Verb.USER_MESSAGE, payload: new TextEncoder().encode(`hello Y ${i}`) }, xy, 3));
      const batch = await y.drain(150);
      seenByY.push(...batch);
      got = batch.find(fromX);
    }
    assert.ok(got, 'Y received X\'s datagram via root A → root B');
    assert.match(new TextDecoder().decode(openPacket(got.slice(), y.keyWith(xId)).payload), /^hello Y \d+$/);
    assert.equal(got[18]! & 7, 2, 'two relay hops: root A, then root B');
    assert.ok((a.counters.get('fleet_forwarded') ?? 0) >= 1);
    assert.ok((b.counters.get('fleet_delivered') ?? 0) >= 1);

    // Each root told its own client where the other one is (each peer's location as its own root sees it).
    const rendezvous = async (c: RawClient, root: Identity, seen: Uint8Array[] = []) => {
      for (let i = 0; i < 10; i++) {
        const r = [...seen.splice(0), ...(await c.drain(150))]
          .map((m) => {
            try {
              const o = openPacket(m.slice(), c.keyWith(root));
              return o.verb === Verb.RENDEZVOUS ? decodeRendezvous(o.payload) : null;
            } catch {
              return null;
            }
          })
          .find((v) => v !== null);
        if (r) return r;
        x.send(sealPacket({ dest: yId.address, source: xId.address, verb: Verb.USER_MESSAGE, payload: new Uint8Array(4) }, xy, 3));
      }
      return undefined;
    };
    const atX = await rendezvous(x, rootAId);
    assert.deepEqual(atX, { flags: 0, address: yId.address, endpoint: { family: 4, ip: '127.0.0.1', port: y.port } });
    const atY = await rendezvous(y, rootBId, seenByY);
    assert.deepEqual(atY, { flags: 0, address: xId.address, endpoint: { family: 4, ip: '127.0.0.1', port: x.port } });

    // A forward in the first format ("ZTFW" ‖ datagram, no sender endpoints), as roots of the previous release send
    // it: still delivered.
    const legacyInner = sealPacket({ dest: yId.address, source: xId.address, verb: Verb.USER_MESSAGE, payload: new TextEncoder().encode('legacy forward') }, xy, 3);
    legacyInner[18] = (legacyInner[18]! & ~7) | 1;
    const legacy = sealPacket({ dest: rootBId.address, source: rootAId.address, verb: Verb.USER_MESSAGE, payload: new Uint8Array([0x5a, 0x54, 0x46, 0x57, ...legacyInner]) }, new PeerKey(rootAId.agree(rootBId)), 3, { compress: false });
    y.send(legacy);
    const legacyGot = (await y.drain(300)).find(fromX);
    assert.ok(legacyGot, 'a ZTFW forward is delivered');
    assert.equal(new TextDecoder().decode(openPacket(legacyGot.slice(), y.keyWith(xId)).payload), 'legacy forward');

    // A "forwarded" datagram from someone who is not a root of the planet: its MAC cannot verify.
    const before = b.counters.get('drop_fleet_unauthenticated') ?? 0;
    const fake = buildPacket({ dest: rootBId.address, source: rootAId.address, verb: Verb.USER_MESSAGE, payload: new Uint8Array(60) });
    armor(fake, new PeerKey(yId.agree(rootBId)), 3); // Y's key, not root A's
    y.send(fake);
    await y.drain(200);
    assert.equal(b.counters.get('drop_fleet_unauthenticated'), before + 1);
  } finally {
    x.close();
    y.close();
  }
});
