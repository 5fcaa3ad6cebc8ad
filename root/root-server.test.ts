/**
 * The root server on real UDP sockets (127.0.0.1: our own test clients may use loopback; real
 * zerotier-one clients are tested in namespaces). The clients here are raw: they build each packet with
 * the vl1 codecs, so every behaviour can be poked precisely (forged MACs, hop counts, collisions).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { once } from 'node:events';
import { Identity } from '../vl1/identity.js';
import { PeerKey } from '../vl1/peer-key.js';
import { c25519Generate } from '../vl1/c25519.js';
import { Verb, ErrorCode } from '../vl1/constants.js';
import { buildPacket, openPacket, sealPacket, setHops, packetId } from '../vl1/packet.js';
import { decodeOk } from '../vl1/verbs/ok.js';
import { decodeError } from '../vl1/verbs/error.js';
import { encodeWhois } from '../vl1/verbs/whois.js';
import { encodeMulticastGather, encodeMulticastLike } from '../vl1/verbs/multicast.js';
import { decodeRendezvous } from '../vl1/verbs/rendezvous.js';
import { toHex } from '../vl1/bytes.js';
import { signWorld, serializeWorld, parseWorlds, type World } from '../planet/world.js';
import { RootServer } from './root-server.js';
import { IdentityValidator } from './identity-validator.js';
import { readVectorJson } from '../test/vectors.js';
import { RawClient as RawVl1Client } from '../test/raw-vl1-client.js';

const ids: Identity[] = readVectorJson<{ identities: { secret_string: string }[] }>('identities.json').identities.map((i) =>
  Identity.fromString(i.secret_string),
);
const [rootId, aId, bId, cId] = ids as [Identity, Identity, Identity, Identity];

const planetKey = c25519Generate();
function makePlanet(timestamp: number): { world: World; bytes: Uint8Array } {
  const world = signWorld(
    { type: 'planet', id: 0x5eed0042n, timestamp, updatesMustBeSignedBy: planetKey.publicKey, roots: [{ identity: rootId.publicOnly(), stableEndpoints: [{ family: 4, ip: '192.0.0.1', port: 9993 }] }] },
    planetKey,
  );
  return { world, bytes: serializeWorld(world) };
}
const planetV1 = makePlanet(1_700_000_000_000);
const planetV2 = makePlanet(1_700_000_001_000);

const moonKey = c25519Generate();
const moon = signWorld(
  { type: 'moon', id: 0xfeedbeef00n, timestamp: 1_700_000_005_000, updatesMustBeSignedBy: moonKey.publicKey, roots: [{ identity: rootId.publicOnly(), stableEndpoints: [{ family: 4, ip: '192.0.0.1', port: 9993 }] }] },
  moonKey,
);

let validator: IdentityValidator;
let server: RootServer;
let clock = Date.now();

before(async () => {
  validator = new IdentityValidator({ workers: 1 });
  server = new RootServer({ port: 0, bind4: '127.0.0.1', bind6: null }, { identity: rootId, planet: planetV2.bytes, moons: [serializeWorld(moon)], validator, now: () => clock });
  await server.start();
});
after(async () => {
  await server.stop();
  await validator.close();
});

const target = { root: rootId, port: () => server.port, planetId: planetV1.world.id, planetTimestamp: planetV2.world.timestamp };
/** A raw client aimed at the shared root of this file. */
class RawClient extends RawVl1Client {
  constructor(id: Identity) {
    super(id, target);
  }
}

async function online(c: RawClient): Promise<void> {
  c.send(c.hello());
  const m = await c.next(5000);
  assert.ok(m, `${c.id.address.toString(16)} got no OK(HELLO)`);
  await adopted(server, c);
}

/** Waits until `root` has adopted `c`'s path: the client answered the root's probe (root/path-probes.ts). */
async function adopted(root: RootServer, c: RawClient): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (root.peers.get(c.id.address)?.port4 === c.port) return;
    await new Promise((r) => setTimeout(r, 5));
  }
  assert.fail(`${c.id.address.toString(16)}: the root never adopted its path 127.0.0.1/${c.port}`);
}

function counter(name: string): number {
  return server.counters.get(name) ?? 0;
}

test('HELLO gets OK(HELLO): echoed id and timestamp, protocol 12, the reflected address, no planet when current', async () => {
  const a = await new RawClient(aId).open();
  try {
    const hello = a.hello();
    a.send(hello);
    const reply = await a.next(5000);
    assert.ok(reply, 'no reply');
    const opened = openPacket(reply, a.keyWith(rootId));
    assert.equal(opened.verb, Verb.OK);
    const ok = decodeOk(opened.payload);
    assert.equal(ok.kind, 'HELLO');
    if (ok.kind !== 'HELLO') return;
    assert.equal(ok.inRePacketId, packetId(hello));
    assert.equal(ok.timestampEcho, 1_795_330_104_559);
    assert.equal(ok.protocolVersion, 12);
    assert.deepEqual(ok.physicalAddress, { family: 4, ip: '127.0.0.1', port: a.port });
    assert.equal(ok.worldUpdates?.length ?? 0, 0, 'a client holding the current planet gets none');
    assert.equal(server.peers.get(aId.address)?.identity.equals(aId), true);
  } finally {
    a.close();
  }
});

test('a client with an older planet gets the newer one in OK(HELLO), and it is a valid update', async () => {
  const a = await new RawClient(aId).open();
  try {
    a.send(a.hello({ planetTimestamp: planetV1.world.timestamp }));
    const reply = await a.next(5000);
    assert.ok(reply);
    const ok = decodeOk(openPacket(reply, a.keyWith(rootId)).payload);
    assert.ok(ok.kind === 'HELLO' && ok.worldUpdates);
    const worlds = parseWorlds(ok.worldUpdates);
    assert.equal(worlds.length, 1);
    assert.equal(toHex(serializeWorld(worlds[0]!)), toHex(planetV2.bytes));
  } finally {
    a.close();
  }
});

test('WHOIS answers for known peers and the root itself; unknown addresses get no reply', async () => {
  const a = await new RawClient(aId).open();
  const b = await new RawClient(bId).open();
  try {
    await online(a);
    await online(b);
    const key = a.keyWith(rootId);
    a.send(sealPacket({ dest: rootId.address, source: aId.address, verb: Verb.WHOIS, payload: encodeWhois({ addresses: [bId.address, rootId.address] }) }, key, 3));
    const reply = await a.next();
    assert.ok(reply);
    const ok = decodeOk(openPacket(reply, key).payload);
    assert.ok(ok.kind === 'WHOIS');
    assert.deepEqual(
      ok.identities.map((i) => i.toString()),
      [bId.toString(), rootId.toString()],
    );
    const misses = counter('whois_miss');
    a.send(sealPacket({ dest: rootId.address, source: aId.address, verb: Verb.WHOIS, payload: encodeWhois({ addresses: [cId.address] }) }, key, 3));
    assert.equal(await a.next(400), null);
    assert.equal(counter('whois_miss'), misses + 1);
  } finally {
    a.close();
    b.close();
  }
});

test('relay A→B: forwarded with only the hop count changed, RENDEZVOUS to both once per interval', async () => {
  const a = await new RawClient(aId).open();
  const b = await new RawClient(bId).open();
  try {
    await online(a);
    await online(b);
    const ab = a.keyWith(bId);
    const pkt = sealPacket({ dest: bId.address, source: aId.address, verb: Verb.USER_MESSAGE, payload: new TextEncoder().encode('hi B') }, ab, 3);
    const rv0 = counter('rendezvous_sent');
    a.send(pkt);
    const atB = await b.drain(500);
    const relayed = atB.find((m) => toHex(m.subarray(8, 13)) === toHex(pkt.subarray(8, 13)) && toHex(m.subarray(13, 18)) === toHex(pkt.subarray(13, 18)));
    assert.ok(relayed, 'B received the relayed packet');
    const expected = pkt.slice();
    setHops(expected, 1);
    assert.equal(toHex(relayed), toHex(expected), 'only the hop count changed');
    assert.equal(new TextDecoder().decode(openPacket(relayed.slice(), b.keyWith(aId)).payload), 'hi B');

    // B also got a RENDEZVOUS naming A at A's address, and A one naming B.
    const rvAt = (msgs: Uint8Array[], me: RawClient) =>
      msgs
        .map((m) => {
          try {
            const o = openPacket(m.slice(), me.keyWith(rootId));
            return o.verb === Verb.RENDEZVOUS ? decodeRendezvous(o.payload) : null;
          } catch {
            return null;
          }
        })
        .filter((x) => x !== null);
    assert.deepEqual(rvAt(atB, b), [{ flags: 0, address: aId.address, endpoint: { family: 4, ip: '127.0.0.1', port: a.port } }]);
    assert.deepEqual(rvAt(await a.drain(300), a), [{ flags: 0, address: bId.address, endpoint: { family: 4, ip: '127.0.0.1', port: b.port } }]);
    assert.equal(counter('rendezvous_sent'), rv0 + 2);

    // A second packet within the unite interval is relayed without another introduction.
    a.send(sealPacket({ dest: bId.address, source: aId.address, verb: Verb.USER_MESSAGE, payload: new Uint8Array(3) }, ab, 3));
    assert.equal((await b.drain(300)).length, 1);
    assert.equal(counter('rendezvous_sent'), rv0 + 2);
  } finally {
    a.close();
    b.close();
  }
});

test('hop limit: a datagram that already made 3 hops is dropped and counted', async () => {
  const a = await new RawClient(aId).open();
  const b = await new RawClient(bId).open();
  try {
    await online(a);
    await online(b);
    const pkt = sealPacket({ dest: bId.address, source: aId.address, verb: Verb.USER_MESSAGE, payload: new Uint8Array(8) }, a.keyWith(bId), 3);
    setHops(pkt, 3);
    const before = counter('drop_hop_limit');
    a.send(pkt);
    assert.deepEqual(await b.drain(300), []);
    assert.equal(counter('drop_hop_limit'), before + 1);
  } finally {
    a.close();
    b.close();
  }
});

test('forged HELLO MAC: no reply, no peer, counted as bad MAC', async () => {
  const c = await new RawClient(cId).open();
  try {
    const hello = c.hello();
    hello[hello.length - 1]! ^= 1; // inside the MAC-covered tail
    const before = counter('drop_bad_mac');
    c.send(hello);
    assert.equal(await c.next(500), null);
    assert.equal(counter('drop_bad_mac'), before + 1);
    assert.equal(server.peers.get(cId.address), undefined);
  } finally {
    c.close();
  }
});

test('identity collision: an authentic HELLO claiming a known address with another key gets ERROR(IDENTITY_COLLISION)', async () => {
  const a = await new RawClient(aId).open();
  try {
    await online(a);
    // Same address as A, C's key pair: its MAC is valid under its own key, so the root answers it.
    const impostor = Identity.fromString(`${aId.toString().slice(0, 10)}:0:${toHex(cId.publicKey)}:${toHex(cId.privateKey!)}`);
    const hello = a.hello({ identity: impostor });
    a.send(hello);
    const reply = await a.next();
    assert.ok(reply, 'no ERROR');
    const opened = openPacket(reply, new PeerKey(impostor.agree(rootId)));
    assert.equal(opened.verb, Verb.ERROR);
    const err = decodeError(opened.payload);
    assert.equal(err.code, ErrorCode.IDENTITY_COLLISION);
    assert.equal(err.inRePacketId, packetId(hello));
    assert.ok(server.peers.get(aId.address)!.identity.equals(aId), 'the original keeps its address');
  } finally {
    a.close();
  }
});

test('an identity whose address does not derive from its key is refused after validation', async () => {
  // D: C's key pair under an address nobody holds — MAC valid, identity invalid.
  const fake = Identity.fromString(`0123456789:0:${toHex(cId.publicKey)}:${toHex(cId.privateKey!)}`);
  const d = await new RawClient(fake).open();
  try {
    const before = counter('drop_identity_invalid');
    d.send(d.hello());
    assert.equal(await d.next(1500), null);
    assert.equal(counter('drop_identity_invalid'), before + 1);
    assert.equal(server.peers.get(fake.address), undefined);
  } finally {
    d.close();
  }
});

test('ECHO is answered, within a per-peer reply budget', async () => {
  const a = await new RawClient(aId).open();
  try {
    await online(a);
    clock += 2000; // a fresh one-second window
    const key = a.keyWith(rootId);
    const limited = counter('drop_rate_limited');
    for (let i = 0; i < 40; i++) a.send(sealPacket({ dest: rootId.address, source: aId.address, verb: Verb.ECHO, payload: new Uint8Array([i]) }, key, 3));
    const replies = await a.drain(400);
    assert.equal(replies.length, server.opts.repliesPerPeerPerSecond);
    const first = decodeOk(openPacket(replies[0]!, key).payload);
    assert.ok(first.kind === 'ECHO' && first.payload.length === 1);
    assert.equal(counter('drop_rate_limited'), limited + 40 - server.opts.repliesPerPeerPerSecond);
  } finally {
    a.close();
  }
});

test('peers expire after the activity timeout, and are then unknown to the relay', async () => {
  const a = await new RawClient(aId).open();
  const b = await new RawClient(bId).open();
  try {
    clock += 2000; // the previous test spent A's reply budget for this second
    await online(a);
    await online(b);
    server.housekeep(clock + server.opts.peerTimeoutMs + 1);
    assert.equal(server.peers.get(bId.address), undefined);
    const before = counter('drop_unknown_destination');
    // A is gone too: it has to say HELLO again before anything else is accepted from it.
    a.send(sealPacket({ dest: bId.address, source: aId.address, verb: Verb.USER_MESSAGE, payload: new Uint8Array(4) }, a.keyWith(bId), 3));
    assert.deepEqual(await b.drain(300), []);
    assert.equal(counter('drop_unknown_destination'), before + 1);
  } finally {
    a.close();
    b.close();
  }
});

test('garbage datagrams are counted drops, never crashes', async () => {
  const a = await new RawClient(aId).open();
  try {
    const before = [...server.counters.entries()].filter(([k]) => k.startsWith('drop_')).reduce((s, [, v]) => s + v, 0);
    const junk = [new Uint8Array(4), new Uint8Array(20).fill(0xff), new Uint8Array(27), new Uint8Array(600).map((_, i) => i * 7)];
    const toRoot = new Uint8Array(64);
    toRoot.set(buildPacket({ dest: rootId.address, source: aId.address, verb: Verb.ECHO }).subarray(0, 28));
    toRoot[18] = 0x10; // suite 2 (trusted path): refused
    for (const j of [...junk, toRoot]) a.send(j);
    await a.drain(300);
    const after = [...server.counters.entries()].filter(([k]) => k.startsWith('drop_')).reduce((s, [, v]) => s + v, 0);
    assert.equal(after - before, junk.length + 1);
    assert.equal(counter('drop_internal_error'), 0);
  } finally {
    a.close();
  }
});

test('moons: a client that orbits (or wants) a moon this root serves gets it in OK(HELLO); a current one does not', async () => {
  const a = await new RawClient(aId).open();
  try {
    clock += 2000;
    for (const [held, expectMoon] of [[0, true], [moon.timestamp - 1, true], [moon.timestamp, false]] as const) {
      a.send(a.hello({ moons: [{ id: moon.id, timestamp: held }] }));
      const reply = await a.next(5000);
      assert.ok(reply);
      const ok = decodeOk(openPacket(reply, a.keyWith(rootId)).payload);
      assert.ok(ok.kind === 'HELLO');
      const worlds = parseWorlds(ok.worldUpdates ?? new Uint8Array(0));
      assert.deepEqual(worlds.map((w) => w.id), expectMoon ? [moon.id] : [], `moon held at ${held}`);
    }
  } finally {
    a.close();
  }
});

test('MULTICAST_LIKE is remembered and MULTICAST_GATHER is answered with the other members', async () => {
  const a = await new RawClient(aId).open();
  const b = await new RawClient(bId).open();
  try {
    clock += 2000;
    await online(a);
    await online(b);
    const group = { networkId: 0xff0000ffff000000n, mac: 0xffffffffffffn, adi: 0xc0000002 };
    a.send(sealPacket({ dest: rootId.address, source: aId.address, verb: Verb.MULTICAST_LIKE, payload: encodeMulticastLike({ groups: [group] }) }, a.keyWith(rootId), 3));
    await new Promise((r) => setTimeout(r, 100));
    const gather = (c: RawClient, id: Identity) =>
      c.send(sealPacket({ dest: rootId.address, source: id.address, verb: Verb.MULTICAST_GATHER, payload: encodeMulticastGather({ ...group, flags: 0, gatherLimit: 32 }) }, c.keyWith(rootId), 3));
    gather(b, bId);
    const reply = await b.next();
    assert.ok(reply, 'B got OK(MULTICAST_GATHER)');
    const ok = decodeOk(openPacket(reply, b.keyWith(rootId)).payload);
    assert.ok(ok.kind === 'MULTICAST_GATHER');
    assert.deepEqual([ok.networkId, ok.mac, ok.adi, ok.totalKnown, ok.members], [group.networkId, group.mac, group.adi, 1, [aId.address]]);
    // A is the only member: gathering for itself names nobody, so there is no reply (as root.cpp).
    gather(a, aId);
    assert.equal(await a.next(400), null);
  } finally {
    a.close();
    b.close();
  }
});

test('the root serves every extra port too, and answers from the port it was reached on', async () => {
  const v = new IdentityValidator({ workers: 1 });
  const extra = new RootServer({ port: 0, extraPorts: [0], bind4: '127.0.0.1', bind6: null }, { identity: rootId, planet: planetV2.bytes, validator: v });
  await extra.start();
  const c = dgram.createSocket('udp4');
  try {
    assert.equal(extra.ports.length, 2);
    c.bind(0, '127.0.0.1');
    await once(c, 'listening');
    const helper = new RawClient(aId);
    const got: Array<{ m: Uint8Array; port: number }> = [];
    c.on('message', (m, rinfo) => got.push({ m: new Uint8Array(m), port: rinfo.port }));
    for (const port of extra.ports) {
      got.length = 0;
      c.send(helper.hello(), port, '127.0.0.1');
      // The first HELLO waits for a fresh validator worker (start-up + hash): seconds on a loaded machine, not 300 ms.
      for (let i = 0; i < 100 && got.length === 0; i++) await new Promise((r) => setTimeout(r, 50));
      await new Promise((r) => setTimeout(r, 300));
      // The OK(HELLO), and the probe of this new path (an ECHO), both from the port the HELLO went to.
      const verbs = got.map((g) => openPacket(g.m.slice(), helper.keyWith(rootId)).verb);
      assert.ok(verbs.includes(Verb.OK), `an OK(HELLO) came back (${verbs.join(', ')})`);
      assert.deepEqual([...new Set(got.map((g) => g.port))], [port], 'the replies come from the port the HELLO went to');
    }
    helper.close();
  } finally {
    c.close();
    await extra.stop();
    await v.close();
  }
});

test('a new client HELLOing from several sockets at once gets an OK(HELLO) on each (one validation)', async () => {
  const fresh = ids[4]!;
  const s1 = await new RawClient(fresh).open();
  const s2 = await new RawClient(fresh).open();
  try {
    clock += 2000;
    const hello = s1.hello(); // 1.14 sends the same HELLO from every bound socket
    s1.send(hello);
    s2.send(hello);
    const [r1, r2] = await Promise.all([s1.next(5000), s2.next(5000)]);
    assert.ok(r1 && r2, 'both sockets answered');
    for (const [r, c] of [[r1, s1], [r2, s2]] as const) {
      const ok = decodeOk(openPacket(r, c.keyWith(rootId)).payload);
      assert.ok(ok.kind === 'HELLO');
      assert.deepEqual(ok.physicalAddress, { family: 4, ip: '127.0.0.1', port: c.port });
    }
    assert.equal(counter('drop_hello_validation_pending'), 0);
  } finally {
    s1.close();
    s2.close();
  }
});

test('an extended-armor (encrypted) HELLO, as the hello-encryption branch sends it, is answered', async () => {
  const a = await new RawClient(aId).open();
  try {
    clock += 2000;
    const before = counter('rx_extended_armor');
    const hello = a.hello({ extended: true });
    assert.equal(hello[18]! & 0x80, 0x80);
    a.send(hello);
    const reply = await a.next(5000);
    assert.ok(reply, 'no OK(HELLO)');
    const ok = decodeOk(openPacket(reply, a.keyWith(rootId)).payload);
    assert.ok(ok.kind === 'HELLO');
    assert.equal(ok.inRePacketId, packetId(hello));
    assert.equal(counter('rx_extended_armor'), before + 1);
  } finally {
    a.close();
  }
});

/** A second root on its own clock and budgets, for the rate-gate tests. */
async function gatedRoot(opts: Partial<ConstructorParameters<typeof RootServer>[0]>) {
  let t = 1_800_000_000_000;
  const v = new IdentityValidator({ workers: 1 });
  const r = new RootServer({ port: 0, bind4: '127.0.0.1', bind6: null, ...opts }, { identity: rootId, planet: planetV2.bytes, validator: v, now: () => t });
  await r.start();
  const send = (c: RawClient, pkt: Uint8Array) => c.send(pkt, r.port);
  return { r, send, advance: (ms: number) => (t += ms), close: async () => (await r.stop(), await v.close()) };
}

test('new identities are validated at a bounded rate per source prefix (/24)', async () => {
  const g = await gatedRoot({ newIdentityIntervalMs: 60_000, newIdentityBurst: 1 });
  const a = await new RawClient(aId).open();
  const b = await new RawClient(bId).open();
  try {
    g.send(a, a.hello({ port: g.r.port }));
    assert.ok(await a.next(5000), 'the first new identity from 127.0.0.0/24 is answered');
    g.send(b, b.hello({ port: g.r.port }));
    assert.equal(await b.next(600), null, 'a second one from the same /24 within the interval is not');
    assert.equal(g.r.counters.get('drop_new_identity_rate_limited'), 1);
    assert.equal(g.r.peers.get(bId.address), undefined);
    g.send(a, a.hello({ port: g.r.port }));
    assert.ok(await a.next(2000), 'a known identity is not held back by the new-identity gate');
    g.advance(60_000);
    g.send(b, b.hello({ port: g.r.port }));
    assert.ok(await b.next(5000), 'after the interval the next new identity is validated');
  } finally {
    a.close();
    b.close();
    await g.close();
  }
});

test('replies to one source IP are budgeted across all the peers it claims to be', async () => {
  const g = await gatedRoot({ repliesPerIpPerSecond: 5, repliesPerPeerPerSecond: 100 });
  const a = await new RawClient(aId).open();
  const b = await new RawClient(bId).open();
  try {
    g.send(a, a.hello({ port: g.r.port }));
    await a.next(5000);
    await adopted(g.r, a);
    g.advance(1000);
    g.send(b, b.hello({ port: g.r.port }));
    await b.next(5000);
    await adopted(g.r, b);
    g.advance(5000); // the bucket refills completely
    for (let i = 0; i < 6; i++) {
      for (const [c, id] of [[a, aId], [b, bId]] as const) {
        g.send(c, sealPacket({ dest: rootId.address, source: id.address, verb: Verb.ECHO, payload: new Uint8Array([i]) }, c.keyWith(rootId), 3));
      }
    }
    const replies = (await a.drain(400)).length + (await b.drain(100)).length;
    assert.equal(replies, 5, 'the burst for 127.0.0.1, whichever peer asked');
    assert.equal(g.r.counters.get('drop_ip_rate_limited'), 12 - 5);
  } finally {
    a.close();
    b.close();
    await g.close();
  }
});
