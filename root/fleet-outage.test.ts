/**
 * Redis killed for 60 s while traffic flows between peers held by two different roots: no peer already
 * known loses reachability (the roots serve and forward from what they know), and after Redis comes back
 * empty, the fleet's state is back within 10 s (each root resynchronises what it holds).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Identity } from '../vl1/identity.js';
import { c25519Generate } from '../vl1/c25519.js';
import { Verb } from '../vl1/constants.js';
import { openPacket, sealPacket } from '../vl1/packet.js';
import { encodeWhois } from '../vl1/verbs/whois.js';
import { decodeOk } from '../vl1/verbs/ok.js';
import type { InetAddress } from '../vl1/inet-address.js';
import { signWorld, serializeWorld } from '../planet/world.js';
import { RootServer } from './root-server.js';
import { IdentityValidator } from './identity-validator.js';
import { RedisPeerStore } from '../fleet/redis-store.js';
import { PeerStoreCache } from '../fleet/cached-store.js';
import { readVectorJson } from '../test/vectors.js';
import { RawClient } from '../test/raw-vl1-client.js';
import { RedisServer, redisUnavailableReason } from '../test/redis.js';

const skip = redisUnavailableReason() ?? false;
const OUTAGE_MS = 60_000;

test('Redis down for 60 s during traffic: known peers stay reachable across roots; state is back within 10 s', { skip, timeout: 120_000 }, async (t) => {
  const ids = readVectorJson<{ identities: { secret_string: string }[] }>('identities.json').identities.map((i) => Identity.fromString(i.secret_string));
  const [rootAId, rootBId, xId, yId] = [ids[7]!, ids[8]!, ids[9]!, ids[10]!];
  const key = c25519Generate();
  const world = signWorld(
    {
      type: 'planet',
      id: 0x5eed0a7a6en,
      timestamp: 1,
      updatesMustBeSignedBy: key.publicKey,
      roots: [
        { identity: rootAId.publicOnly(), stableEndpoints: [{ family: 4, ip: '192.0.0.1', port: 9993 }] },
        { identity: rootBId.publicOnly(), stableEndpoints: [{ family: 4, ip: '192.0.0.2', port: 9993 }] },
      ],
    },
    key,
  );
  const redis = await RedisServer.start();
  const parts: Array<{ root: RootServer; store: RedisPeerStore; validator: IdentityValidator }> = [];
  t.after(async () => {
    for (const p of parts) {
      await p.root.stop();
      await p.store.close();
      await p.validator.close();
    }
    await redis.stop();
  });
  for (const [identity, rootId] of [[rootAId, 'root-a'], [rootBId, 'root-b']] as const) {
    const validator = new IdentityValidator({ workers: 1 });
    let root: RootServer | undefined;
    const store = new RedisPeerStore({ url: redis.url, fleet: world.id.toString(16), resync: () => root?.resyncFleet() });
    const endpoints: InetAddress[] = [];
    root = new RootServer(
      { port: 0, bind4: '127.0.0.1', bind6: null, housekeepingMs: 1000 },
      { identity, planet: serializeWorld(world), validator, fleet: { store, cache: new PeerStoreCache(store, { locationTtlMs: 1000 }), rootId, endpoints } },
    );
    await root.start();
    endpoints.push({ family: 4, ip: '127.0.0.1', port: root.port });
    await store.whenHealthy(5000);
    parts.push({ root, store, validator });
  }
  const [a, b] = [parts[0]!.root, parts[1]!.root];
  const x = await new RawClient(xId, { root: rootAId, port: () => a.port, planetId: world.id, planetTimestamp: world.timestamp }).open();
  const y = await new RawClient(yId, { root: rootBId, port: () => b.port, planetId: world.id, planetTimestamp: world.timestamp }).open();
  t.after(() => {
    x.close();
    y.close();
  });
  x.send(x.hello());
  y.send(y.hello());
  assert.ok(await x.next(5000));
  assert.ok(await y.next(5000));
  await new Promise((r) => setTimeout(r, 1500)); // heartbeats and locations are in Redis

  const xy = x.keyWith(yId);
  /** X → Y across the roots; true when Y got it. */
  const reach = async (n: number): Promise<boolean> => {
    x.send(sealPacket({ dest: yId.address, source: xId.address, verb: Verb.USER_MESSAGE, payload: new TextEncoder().encode(`m${n}`) }, xy, 3));
    for (const m of await y.drain(400)) {
      try {
        if (new TextDecoder().decode(openPacket(m.slice(), y.keyWith(xId)).payload) === `m${n}`) return true;
      } catch {
        // a RENDEZVOUS or an OK from the root: not ours
      }
    }
    return false;
  };
  let warm = false;
  for (let i = 0; i < 10 && !warm; i++) warm = await reach(1000 + i);
  assert.ok(warm, 'X reaches Y across the roots before the outage');
  // Y asks its root who X is, as a client does before talking to a peer: root B learns X from the fleet.
  const k = y.keyWith(rootBId);
  const whoisX = async (): Promise<boolean> => {
    y.send(sealPacket({ dest: rootBId.address, source: yId.address, verb: Verb.WHOIS, payload: encodeWhois({ addresses: [xId.address] }) }, k, 3));
    return (await y.drain(500)).some((m) => {
      try {
        const o = decodeOk(openPacket(m.slice(), k).payload);
        return o.kind === 'WHOIS' && o.identities[0]?.equals(xId) === true;
      } catch {
        return false;
      }
    });
  };
  assert.ok(await whoisX(), 'WHOIS across roots answered before the outage');

  await redis.kill();
  const started = Date.now();
  let sent = 0;
  let delivered = 0;
  while (Date.now() - started < OUTAGE_MS) {
    sent++;
    if (await reach(sent)) delivered++;
    await new Promise((r) => setTimeout(r, 1600));
  }
  assert.ok(!parts[0]!.store.healthy, 'the store noticed the outage');
  assert.equal(delivered, sent, `every datagram during the outage got through (${delivered}/${sent})`);
  assert.ok(await whoisX(), 'WHOIS across roots answered during the outage, from what root B already knew');

  await redis.restart(); // same port, empty
  const back = Date.now();
  for (;;) {
    const ok = await Promise.all([
      parts[1]!.store.getIdentity(xId.address).catch(() => undefined),
      parts[0]!.store.getLocations(yId.address).catch(() => []),
      parts[0]!.store.roots().catch(() => []),
    ]);
    if (ok[0]?.equals(xId) && ok[1].some((l) => l.rootId === 'root-b') && ok[2].length === 2) break;
    assert.ok(Date.now() - back < 10_000, 'the fleet state is back within 10 s of Redis returning');
    await new Promise((r) => setTimeout(r, 200));
  }
  t.diagnostic(`state back ${Date.now() - back} ms after the restart; ${delivered}/${sent} datagrams delivered during the outage`);
});
