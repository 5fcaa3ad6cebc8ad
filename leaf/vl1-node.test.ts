/**
 * The leaf's VL1 node on real UDP sockets (127.0.0.1). Where a root is needed it is the real one
 * (`root/root-server.ts` with its worker-pool identity validator), so these tests also check that the
 * leaf and the root agree on the wire. The first test uses a raw socket as the root instead, to look at
 * the leaf's bytes exactly as 1.14 would send them.
 */
import { leafUdp } from '../tools/leaf-udp.js';
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket, type Socket } from 'node:dgram';
import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { Vl1Node, Vl1NodeError, type ReceivedPacket } from './vl1-node.js';
import { Identity } from '../vl1/identity.js';
import { PeerKey } from '../vl1/peer-key.js';
import { Verb } from '../vl1/constants.js';
import { armor, buildPacket, cipherSuite, cryptField, dearmor, openPacket, packetDest, packetId, packetSource, sealPacket } from '../vl1/packet.js';
import { decodeHello, decodeHelloMoons, encodeHello, encodeHelloMoons } from '../vl1/verbs/hello.js';
import { decodeWhois, encodeWhois } from '../vl1/verbs/whois.js';
import { decodeOk, encodeOk } from '../vl1/verbs/ok.js';
import { encodeRendezvous } from '../vl1/verbs/rendezvous.js';
import { toHex, writeU40 } from '../vl1/bytes.js';
import { c25519Generate } from '../vl1/c25519.js';
import { serializeWorld, signWorld, type SigningKeyPair, type World } from '../planet/world.js';
import { RootServer } from '../root/root-server.js';
import { IdentityValidator } from '../root/identity-validator.js';
import { readVectorJson } from '../test/vectors.js';

// Identities made by zerotier-idtool 1.14.1 (valid, so roots accept their HELLOs after locallyValidate).
const ids = readVectorJson<{ identities: Array<{ secret_string: string }> }>('identities.json').identities.map((x) =>
  Identity.fromString(x.secret_string),
);
const [R, A, B, C, D] = ids as [Identity, Identity, Identity, Identity, Identity];
const LO = '127.0.0.1';
// The process's UDP sockets, as `ztroot leaf` picks them: batched when native/udp is built, unless ZTROOT_UDP=dgram
// (test/run-tests.mjs runs this file a second time so). Their datagrams are borrowed: what the node keeps, it copies.
const FAST = { helloRetryMs: 200, helloIntervalMs: 60000, udpOpener: leafUdp().opener };

// One worker pool for every root in this file (starting a worker costs more than a test's HELLOs).
let validator: IdentityValidator;
before(() => {
  validator = new IdentityValidator({ workers: 1 });
});
after(async () => {
  await validator.close();
});

/**
 * Starts the real root on an ephemeral port, then gives it the planet made for that port (it must list
 * the root before start, so it starts with a placeholder). `planetFor` builds what the root serves.
 */
async function startRoot(planetFor: (port: number) => World): Promise<RootServer> {
  const placeholder = planetFor(9993);
  const root = new RootServer({ port: 0, bind4: LO, bind6: null }, { identity: R, planet: serializeWorld(placeholder), validator });
  await root.start();
  root.setPlanet(serializeWorld(planetFor(root.port)));
  return root;
}

async function withRootAndNodes(root: RootServer, nodes: Vl1Node[], fn: () => Promise<void>): Promise<void> {
  try {
    await withNodes(nodes, fn);
  } finally {
    await root.stop();
  }
}

function relayedBy(root: RootServer): number {
  return root.counters.get('relayed') ?? 0;
}

function makePlanet(root: Identity, port: number, signer: SigningKeyPair, opts: { timestamp?: number; updateKey?: Uint8Array } = {}): World {
  return signWorld(
    {
      type: 'planet',
      id: 0x5eed0001n,
      timestamp: opts.timestamp ?? 1700000000000,
      updatesMustBeSignedBy: opts.updateKey ?? signer.publicKey,
      roots: [{ identity: root.publicOnly(), stableEndpoints: [{ family: 4, ip: LO, port }] }],
    },
    signer,
  );
}

async function freePort(): Promise<number> {
  const s = createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, LO, () => r()));
  const p = s.address().port;
  await new Promise<void>((r) => s.close(() => r()));
  return p;
}

async function rawSocket(): Promise<{ s: Socket; port: number; inbox: Array<{ data: Uint8Array; port: number }> }> {
  const s = createSocket('udp4');
  const inbox: Array<{ data: Uint8Array; port: number }> = [];
  s.on('message', (m, r) => inbox.push({ data: new Uint8Array(m), port: r.port }));
  await new Promise<void>((r) => s.bind(0, LO, () => r()));
  return { s, port: s.address().port, inbox };
}

async function until(what: string, cond: () => boolean, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

function portOf(n: Vl1Node): number {
  return n.boundAddresses[0]!.port;
}

function equalArrays(x: Uint8Array, y: Uint8Array): boolean {
  return x.length === y.length && x.every((v, i) => v === y[i]);
}

function sumDrops(n: Vl1Node): number {
  return Object.values(n.stats.drops).reduce((a, b) => a + (b ?? 0), 0);
}

async function withNodes(nodes: Vl1Node[], fn: () => Promise<void>): Promise<void> {
  try {
    for (const n of nodes) await n.start();
    await fn();
  } finally {
    for (const n of nodes) await n.stop();
  }
}

test('HELLO on the wire: 1.14.1 layout, suite 0, encrypted empty moon list; suite 1 before OK(HELLO), suite 3 after', async () => {
  const signer = c25519Generate();
  const x = await rawSocket();
  const planet = makePlanet(R, x.port, signer);
  const a = new Vl1Node({ identity: A, planet, bind: { address: LO }, ...FAST });
  const keyRA = new PeerKey(R.agree(A.publicOnly()));
  try {
    await a.start();
    await until('a HELLO at the fake root', () => x.inbox.length > 0);
    const hello = x.inbox[0]!.data;
    assert.equal(hello.length, 137, 'IPv4 destination, no moons: 137 bytes as 1.14 sends');
    assert.equal(packetDest(hello), R.address);
    assert.equal(packetSource(hello), A.address);
    assert.equal(cipherSuite(hello), 0);
    assert.equal(hello[18], 0x00, 'flags: suite 0, no hops, no 0x80');
    assert.equal(hello[27], Verb.HELLO);
    dearmor(hello.slice(), keyRA); // throws unless the Poly1305 MAC verifies under key(R, A)
    const h = decodeHello(hello.subarray(28));
    assert.deepEqual([h.protocolVersion, h.versionMajor, h.versionMinor, h.versionRevision], [12, 1, 14, 1]);
    assert.ok(h.identity.equals(A) && !h.identity.hasPrivate());
    assert.deepEqual(h.physicalDestination, { family: 4, ip: LO, port: x.port });
    assert.equal(h.planetWorldId, planet.id);
    assert.equal(h.planetWorldTimestamp, planet.timestamp);
    const tail = hello.slice();
    cryptField(tail, keyRA, 135, 2);
    assert.deepEqual(decodeHelloMoons(tail.subarray(135)), []);
    assert.notDeepEqual([...hello.subarray(135)], [0, 0], 'the moon count is encrypted on the wire');

    // Before the root's version is known, other packets are suite 1 (§4.4).
    const unknown = 0x1234567890;
    const w1 = a.whois(unknown, 700).catch((e: unknown) => e);
    await until('a WHOIS', () => x.inbox.some((m) => m.data[27] !== Verb.HELLO || cipherSuite(m.data) !== 0));
    const first = x.inbox.find((m) => cipherSuite(m.data) !== 0)!.data;
    assert.equal(cipherSuite(first), 1);
    const o1 = openPacket(first.slice(), keyRA);
    assert.equal(o1.verb, Verb.WHOIS);
    assert.deepEqual(decodeWhois(o1.payload).addresses, [unknown]);

    // Answer the HELLO as a 1.14 root would; the node comes online and learns protocol 12.
    const ok = sealPacket(
      {
        dest: A.address,
        source: R.address,
        verb: Verb.OK,
        payload: encodeOk({
          kind: 'HELLO', inReVerb: Verb.HELLO, inRePacketId: packetId(hello), timestampEcho: h.timestamp,
          protocolVersion: 12, versionMajor: 1, versionMinor: 14, versionRevision: 1,
          physicalAddress: { family: 4, ip: LO, port: portOf(a) },
        }),
      },
      keyRA,
      1,
    );
    x.s.send(ok, portOf(a), LO);
    await a.whenOnline(2000);
    assert.equal(a.peerInfo(R.address)!.version, '1.14.1');
    assert.deepEqual(a.peerInfo(R.address)!.paths.map((p) => p.address), [`${LO}/${x.port}`]);
    assert.deepEqual(a.externalAddresses.get(R.address), { family: 4, ip: LO, port: portOf(a) });

    const before = x.inbox.length;
    const w2 = a.whois(B.address, 2000);
    await until('a suite-3 WHOIS', () => x.inbox.slice(before).some((m) => cipherSuite(m.data) === 3));
    const q = x.inbox.slice(before).find((m) => cipherSuite(m.data) === 3)!.data;
    const o2 = openPacket(q.slice(), keyRA);
    assert.equal(o2.verb, Verb.WHOIS);
    const reply = sealPacket(
      { dest: A.address, source: R.address, verb: Verb.OK, payload: encodeOk({ kind: 'WHOIS', inReVerb: Verb.WHOIS, inRePacketId: packetId(q), identities: [B.publicOnly()] }) },
      keyRA,
      3,
    );
    x.s.send(reply, portOf(a), LO);
    const got = await w2;
    assert.ok(got.equals(B));
    const e1 = await w1;
    assert.ok(e1 instanceof Vl1NodeError && e1.code === 'ZT_ERR_TIMEOUT', 'an unanswered WHOIS times out');
  } finally {
    await a.stop();
    await new Promise<void>((r) => x.s.close(() => r()));
  }
});

test('unicast FRAME and EXT_FRAME go out uncompressed, as 1.14 sends them; other verbs are LZ4-compressed when that shrinks them', async () => {
  // 1.14 never compresses unicast frames (node/Switch.cpp, vl2.md §0): they are mostly incompressible (TCP, TLS), and
  // trying LZ4 on each cost the leaf ~10 % of its CPU per frame (`ztroot bench leaf` profile).
  const signer = c25519Generate();
  const x = await rawSocket();
  const a = new Vl1Node({ identity: A, planet: makePlanet(R, x.port, signer), bind: { address: LO }, ...FAST });
  const keyRA = new PeerKey(R.agree(A.publicOnly()));
  try {
    await a.start();
    const compressible = new Uint8Array(1000); // zeros: LZ4 shrinks them to a few bytes
    for (const verb of [Verb.FRAME, Verb.EXT_FRAME, Verb.MULTICAST_LIKE]) assert.notEqual(a.sendNow(R.address, verb, compressible), null);
    const opened = (verb: number) => {
      for (const m of x.inbox) {
        if (cipherSuite(m.data) === 0) continue; // HELLO
        const o = openPacket(m.data.slice(), keyRA);
        if (o.verb === verb) return o;
      }
      return undefined;
    };
    await until('the three packets at the fake root', () => [Verb.FRAME, Verb.EXT_FRAME, Verb.MULTICAST_LIKE].every((v) => opened(v) !== undefined));
    for (const verb of [Verb.FRAME, Verb.EXT_FRAME]) {
      const o = opened(verb)!;
      assert.equal(o.compressed, false, `verb ${verb} compressed`);
      assert.ok(equalArrays(o.payload, compressible));
    }
    const like = opened(Verb.MULTICAST_LIKE)!;
    assert.equal(like.compressed, true);
    assert.ok(equalArrays(like.payload, compressible));
  } finally {
    await a.stop();
    x.s.close();
  }
});

test('real root + two leaves: ONLINE, WHOIS, A→B relayed, RENDEZVOUS from the root, then direct pings the root never sees', async () => {
  const signer = c25519Generate();
  const root = await startRoot((port) => makePlanet(R, port, signer));
  const planet = makePlanet(R, root.port, signer);
  const a = new Vl1Node({ identity: A, planet, bind: { address: LO }, ...FAST });
  const b = new Vl1Node({ identity: B, planet, bind: { address: LO }, ...FAST });
  await withRootAndNodes(root, [a, b], async () => {
    await a.whenOnline(5000);
    await b.whenOnline(5000);
    const ri = a.peerInfo(R.address)!;
    assert.ok(ri.isRoot);
    assert.equal(ri.protocolVersion, 12, 'the root advertises protocol 12, so the leaf switches to suite 3');
    assert.deepEqual(ri.paths.map((p) => p.address), [`${LO}/${root.port}`]);
    assert.ok(ri.latencyMs !== null && ri.latencyMs >= 0);
    assert.deepEqual(a.externalAddresses.get(R.address), { family: 4, ip: LO, port: portOf(a) }, 'the root reflected our address');
    const atRoot = root.peers.get(A.address)!;
    assert.ok(atRoot.identity.equals(A));
    // The root takes a new peer's path only once it answers a probe (root/path-probes.ts), which may land just
    // after the leaf is ONLINE: the batched UDP path sends the OK(HELLO) and the probe in one sendmmsg.
    await until("the root holds A's path (proven by its probe)", () => atRoot.ip4 !== '');
    assert.deepEqual([atRoot.ip4, atRoot.port4, atRoot.protocolVersion], [LO, portOf(a), 12]);

    assert.ok((await a.whois(B.address, 2000)).equals(B));
    assert.equal((await a.ping(R.address, 2000)).via, 'direct');

    const got: ReceivedPacket[] = [];
    b.on('packet', (p) => got.push(p));
    const rendezvous: number[] = [];
    a.on('rendezvous', (e) => rendezvous.push(e.peer));
    const relayed0 = relayedBy(root);
    assert.equal(await a.send(B.address, Verb.USER_MESSAGE, new TextEncoder().encode('hi B')), 'relayed');
    await until('B receives the relayed message', () => got.length > 0);
    assert.equal(got[0]!.source, A.address);
    assert.equal(got[0]!.verb, Verb.USER_MESSAGE);
    assert.equal(new TextDecoder().decode(got[0]!.payload), 'hi B');
    assert.equal(got[0]!.via, 'relayed');
    assert.equal(got[0]!.hops, 1);
    assert.deepEqual(got[0]!.from, { family: 4, ip: LO, port: root.port });
    assert.ok(relayedBy(root) > relayed0, 'the root relayed it');
    assert.ok((root.counters.get('rendezvous_sent') ?? 0) >= 2, 'and introduced A and B to each other');

    // The root's RENDEZVOUS makes A contact B at B's address; both end up with direct paths.
    await until('A accepts the root RENDEZVOUS for B', () => rendezvous.includes(B.address));
    await until('A learns a direct path to B', () => (a.peerInfo(B.address)?.paths.length ?? 0) > 0);
    await until('B learns a direct path to A', () => (b.peerInfo(A.address)?.paths.length ?? 0) > 0);
    assert.equal(a.peerInfo(B.address)!.paths[0]!.address, `${LO}/${portOf(b)}`);
    assert.equal(b.peerInfo(A.address)!.paths[0]!.address, `${LO}/${portOf(a)}`);
    const relayedBefore = relayedBy(root);
    assert.equal((await a.ping(B.address, 2000)).via, 'direct');
    assert.equal((await b.ping(A.address, 2000)).via, 'direct');
    assert.equal(await a.send(B.address, Verb.USER_MESSAGE, new Uint8Array([1])), 'direct');
    await until('B receives the direct message', () => got.length > 1);
    assert.equal(got[1]!.via, 'direct');
    assert.equal(got[1]!.hops, 0);
    // A payload handed out is the listener's to keep: on the batched path the datagram's bytes are the next batch's
    // buffer, and two packets of one length land in the same slot (the second would overwrite a view of the first).
    for (const text of ['AAAA', 'BBBB']) {
      assert.equal(await a.send(B.address, Verb.USER_MESSAGE, new TextEncoder().encode(text)), 'direct');
      await until(`B receives ${text}`, () => got.some((g) => g !== got[0] && g !== got[1] && new TextDecoder().decode(g.payload) === text));
    }
    assert.deepEqual(got.slice(2).map((g) => new TextDecoder().decode(g.payload)), ['AAAA', 'BBBB'], 'the first payload kept is still the first');
    assert.equal(relayedBy(root), relayedBefore, 'direct traffic does not touch the root');
    assert.equal(a.stats.drops.internal ?? 0, 0);
    assert.equal(b.stats.drops.internal ?? 0, 0);
  });
});

test('a newer planet in the real root OK(HELLO) is adopted when signed by the held update key, refused otherwise', async () => {
  const k1 = c25519Generate();
  const k2 = c25519Generate();
  // The root serves p2: newer than p1 and signed by k1, the key p1 names for its next update.
  const root = await startRoot((port) => makePlanet(R, port, k1, { timestamp: 2000, updateKey: k2.publicKey }));
  const p1 = makePlanet(R, root.port, k1, { timestamp: 1000, updateKey: k1.publicKey });
  const p1other = makePlanet(R, root.port, k2, { timestamp: 1000, updateKey: k2.publicKey }); // expects k2: p2 fails
  const a = new Vl1Node({ identity: A, planet: p1, bind: { address: LO }, ...FAST });
  const b = new Vl1Node({ identity: B, planet: p1other, bind: { address: LO }, ...FAST });
  const adopted: World[] = [];
  a.on('planet', (w) => adopted.push(w));
  await withRootAndNodes(root, [a, b], async () => {
    await until('A adopts the planet update', () => adopted.length === 1, 5000);
    assert.equal(a.planet.timestamp, 2000);
    assert.equal(toHex(serializeWorld(a.planet)), toHex(serializeWorld(root.planet)), 'exactly the root planet');
    assert.deepEqual(a.receivedPlanetUpdates.map((w) => w.timestamp), [2000]);
    assert.deepEqual(a.planet.updatesMustBeSignedBy, k2.publicKey);
    assert.ok(a.peerInfo(R.address)!.isRoot, 'the root of the new planet is still a root');
    await b.whenOnline(5000);
    assert.ok((root.counters.get('planet_updates_sent') ?? 0) >= 2, 'B was offered the update too');
    await b.ping(R.address, 2000); // at least one more round trip after the OK(HELLO) with the update
    assert.equal(b.planet.timestamp, 1000, 'an update not signed by the held key is refused');
    assert.equal(b.receivedPlanetUpdates.length, 0);
  });
});

test('ERROR(IDENTITY_COLLISION) from the real root is surfaced as the identity-collision event', async () => {
  const signer = c25519Generate();
  const root = await startRoot((port) => makePlanet(R, port, signer));
  const planet = makePlanet(R, root.port, signer);
  const a = new Vl1Node({ identity: A, planet, bind: { address: LO }, ...FAST });
  // A's address with C's key pair: its HELLO is authentic under its own key, so the root answers it.
  const impostor = Identity.fromString(`${A.toString().slice(0, 10)}:0:${toHex(C.publicKey)}:${toHex(C.privateKey!)}`);
  const x = new Vl1Node({ identity: impostor, planet, bind: { address: LO }, ...FAST });
  const collisions: number[] = [];
  const errors: Array<{ source: number; inReVerb: number; inRePacketId: bigint; errorCode: number }> = [];
  x.on('identity-collision', (e) => collisions.push(e.root));
  x.on('peer-error', (e) => errors.push(e));
  await withRootAndNodes(root, [a], async () => {
    await a.whenOnline(5000);
    await withNodes([x], async () => {
      await until('the impostor hears of the collision', () => collisions.length > 0, 5000);
      assert.equal(collisions[0], R.address);
      assert.deepEqual(errors[0], { source: R.address, inReVerb: Verb.HELLO, inRePacketId: errors[0]!.inRePacketId, errorCode: 4 });
      assert.ok((root.counters.get('hello_identity_collision') ?? 0) >= 1);
      assert.ok(root.peers.get(A.address)!.identity.equals(A), 'the root keeps the original');
      assert.equal(a.listenerCount('identity-collision'), 0);
    });
    assert.equal((await a.ping(R.address, 2000)).via, 'direct', 'the original is unaffected');
  });
});

test('forged MACs, unexpected OKs and random datagrams are dropped and counted, never thrown', async () => {
  const signer = c25519Generate();
  const root = await startRoot((port) => makePlanet(R, port, signer));
  const planet = makePlanet(R, root.port, signer);
  const a = new Vl1Node({ identity: A, planet, bind: { address: LO }, ...FAST });
  const x = await rawSocket();
  const keyRA = new PeerKey(R.agree(A.publicOnly()));
  try {
    await withRootAndNodes(root, [a], async () => {
      await a.whenOnline(5000);
      const send = (d: Uint8Array): void => void x.s.send(d, portOf(a), LO);

      const forged = sealPacket({ dest: A.address, source: R.address, verb: Verb.ECHO }, new PeerKey(new Uint8Array(randomBytes(48))), 1);
      send(forged);
      await until('bad-mac counted', () => a.stats.drops['bad-mac'] === 1);

      const okBefore = a.stats.received.OK ?? 0;
      const unexpected = sealPacket(
        { dest: A.address, source: R.address, verb: Verb.OK, payload: encodeOk({ kind: 'ECHO', inReVerb: Verb.ECHO, inRePacketId: 0x1122334455667788n, payload: new Uint8Array(0) }) },
        keyRA,
        3,
      );
      send(unexpected);
      await until('unexpected-ok counted', () => a.stats.drops['unexpected-ok'] === 1);
      assert.equal(a.stats.received.OK ?? 0, okBefore, 'an unsolicited OK is not counted as received');

      // A datagram for someone else: a leaf does not relay.
      send(sealPacket({ dest: B.address, source: R.address, verb: Verb.ECHO }, keyRA, 1));
      await until('not-for-me counted', () => a.stats.drops['not-for-me'] === 1);

      // Random datagrams: anything at all, plus packet-shaped ones addressed to A from its root.
      const datagrams = fc.sample(
        fc.oneof(
          fc.uint8Array({ minLength: 0, maxLength: 200 }),
          fc.uint8Array({ minLength: 28, maxLength: 300 }).map((d) => {
            writeU40(d, 8, A.address);
            writeU40(d, 13, R.address);
            d[18] = d[18]! & ~0x40; // not a fragment head: each datagram ends in exactly one drop
            return d;
          }),
        ),
        { numRuns: 300, seed: 7 },
      );
      const inBefore = a.stats.datagramsIn;
      const dropsBefore = sumDrops(a);
      // In chunks: one process sends and receives, so a burst would overflow the socket's receive buffer.
      for (let i = 0; i < datagrams.length; i += 50) {
        for (const d of datagrams.slice(i, i + 50)) send(d);
        const want = inBefore + Math.min(i + 50, datagrams.length);
        await until(`datagrams up to ${want} received`, () => a.stats.datagramsIn >= want);
      }
      const arrived = a.stats.datagramsIn - inBefore;
      assert.equal(arrived, datagrams.length);
      assert.equal(sumDrops(a) - dropsBefore, arrived, JSON.stringify(a.stats.drops));
      assert.equal(a.stats.drops.internal ?? 0, 0, 'no non-ZtError exception on the receive path');
      assert.equal((await a.ping(R.address, 2000)).via, 'direct', 'the node still works');
    });
  } finally {
    await new Promise<void>((res) => x.s.close(() => res()));
  }
});

test('a HELLO from an unknown peer: validated off the datagram handler, then answered; an invalid identity is refused', async () => {
  const signer = c25519Generate();
  const planet = makePlanet(R, await freePort(), signer); // nobody answers there
  const a = new Vl1Node({ identity: A, planet, bind: { address: LO }, ...FAST });
  const x = await rawSocket();
  const helloFrom = (id: Identity): Uint8Array => {
    const tail = encodeHelloMoons([]);
    const payload = encodeHello({
      protocolVersion: 12, versionMajor: 1, versionMinor: 14, versionRevision: 1, timestamp: 1_700_000_000_123,
      identity: id.publicOnly(), physicalDestination: { family: 4, ip: LO, port: portOf(a) },
      planetWorldId: planet.id, planetWorldTimestamp: planet.timestamp, encryptedTail: tail,
    });
    const pkt = buildPacket({ dest: A.address, source: id.address, verb: Verb.HELLO, payload });
    const key = new PeerKey(id.agree(A.publicOnly()));
    cryptField(pkt, key, pkt.length - tail.length, tail.length);
    armor(pkt, key, 0);
    return pkt;
  };
  try {
    await withNodes([a], async () => {
      // D's key pair under an address that does not derive from it: MAC valid, identity invalid.
      const fake = Identity.fromString(`0123456789:0:${toHex(D.publicKey)}:${toHex(D.privateKey!)}`);
      x.s.send(helloFrom(fake), portOf(a), LO);
      await until('invalid identity counted', () => a.stats.drops['invalid-identity'] === 1);
      assert.equal(a.peerInfo(fake.address), null);

      const hello = helloFrom(D);
      x.s.send(hello, portOf(a), LO);
      const keyDA = new PeerKey(D.agree(A.publicOnly()));
      const opened = (): Array<{ verb: number; payload: Uint8Array }> => x.inbox.map((m) => openPacket(m.data.slice(), keyDA));
      await until('OK(HELLO) from A', () => opened().some((o) => o.verb === Verb.OK));
      const ok = decodeOk(opened().find((o) => o.verb === Verb.OK)!.payload);
      assert.ok(ok.kind === 'HELLO');
      assert.equal(ok.inRePacketId, packetId(hello));
      assert.equal(ok.timestampEcho, 1_700_000_000_123);
      assert.deepEqual([ok.protocolVersion, ok.versionMajor, ok.versionMinor, ok.versionRevision], [12, 1, 14, 1]);
      assert.deepEqual(ok.physicalAddress, { family: 4, ip: LO, port: x.port });
      assert.equal(ok.worldUpdates?.length ?? 0, 0, 'a leaf serves no planets');
      assert.equal(a.peerInfo(D.address)!.version, '1.14.1');
      // A new address that spoke first earns a contact attempt, an ECHO since D said it speaks protocol 12.
      await until('contact ECHO from A', () => opened().some((o) => o.verb === Verb.ECHO));
      assert.deepEqual(a.peerInfo(D.address)!.paths, [], 'no path until D answers an ECHO we sent');
      assert.equal(a.stats.drops.internal ?? 0, 0);
    });
  } finally {
    await new Promise<void>((res) => x.s.close(() => res()));
  }
});

test('two leaves ping each other directly via addPath, with no root reachable; fragments; RENDEZVOUS and WHOIS from a leaf are not acted on', async () => {
  const signer = c25519Generate();
  const planet = makePlanet(R, await freePort(), signer); // nobody answers there
  const c = new Vl1Node({ identity: C, planet, bind: { address: LO }, ...FAST });
  const d = new Vl1Node({ identity: D, planet, bind: { address: LO }, ...FAST });
  await withNodes([c, d], async () => {
    c.addPath(D.publicOnly(), LO, portOf(d));
    d.addPath(C.publicOnly(), LO, portOf(c));
    assert.equal((await c.ping(D.address, 2000)).via, 'direct');
    assert.equal((await d.ping(C.address, 2000)).via, 'direct');
    const got: ReceivedPacket[] = [];
    d.on('packet', (p) => got.push(p));
    const payload = new Uint8Array(3000).map((_, i) => i & 0xff);
    assert.equal(await c.send(D.address, Verb.USER_MESSAGE, payload), 'direct'); // fragmented at 1432
    await until('D gets the fragmented message', () => got.length === 1);
    assert.equal(got[0]!.payload.length, 3000);
    assert.ok(equalArrays(got[0]!.payload, payload));
    assert.equal(got[0]!.via, 'direct');
    await c.send(D.address, Verb.RENDEZVOUS, encodeRendezvous({ flags: 0, address: C.address, endpoint: { family: 4, ip: LO, port: 9 } }));
    await until('RENDEZVOUS from a non-root dropped', () => d.stats.drops['rendezvous-not-from-root'] === 1);
    const okBefore = d.stats.sent.OK ?? 0;
    await c.send(D.address, Verb.WHOIS, encodeWhois({ addresses: [D.address] }));
    await until('WHOIS to a leaf ignored', () => d.stats.drops['whois-ignored'] === 1);
    assert.equal(d.stats.sent.OK ?? 0, okBefore, 'no OK(WHOIS) from a leaf');
    assert.equal(c.online, false);
    assert.equal(d.peerInfo(C.address)!.paths[0]!.configured, true);
  });
});

test('extra ports (1.14 secondary/tertiary): a peer that reaches the secondary port is answered from it; sendNow reaches known peers at once', async () => {
  const signer = c25519Generate();
  const planet = makePlanet(R, await freePort(), signer);
  const secondary = await freePort();
  const c = new Vl1Node({ identity: C, planet, bind: { address: LO, extraPorts: [secondary] }, ...FAST });
  const d = new Vl1Node({ identity: D, planet, bind: { address: LO }, ...FAST });
  await withNodes([c, d], async () => {
    assert.deepEqual(c.boundAddresses.map((a) => a.port), [portOf(c), secondary]);
    // D knows C only at its secondary port: C's answers must come from there, or D's NAT (here: D) would not take them.
    d.addPath(C.publicOnly(), LO, secondary);
    c.addPath(D.publicOnly(), LO, portOf(d));
    const sources: number[] = [];
    d.on('drop', () => undefined);
    const seen = (m: { from: { port: number } }) => sources.push(m.from.port);
    d.on('packet', seen);
    const pong = await d.ping(C.address, 2000);
    assert.equal(pong.via, 'direct', 'the OK(ECHO) came from the port the ECHO went to (a path D knows)');
    assert.equal(c.knows(D.address), true);
    assert.equal(c.knows(0x0102030405), false);
    assert.equal(c.sendNow(0x0102030405, Verb.USER_MESSAGE, new Uint8Array(4)), null, 'unknown peer: null, no WHOIS');
    const r = c.sendNow(D.address, Verb.USER_MESSAGE, new TextEncoder().encode('now'));
    assert.ok(r !== null && r.via === 'direct');
    await until('D got it', () => sources.length === 1);
    assert.equal(sources[0], secondary, 'sent from the socket D last spoke to');
  });
});

test('stop() closes sockets and timers, rejects pending calls, and is idempotent', async () => {
  const types = (): string[] => process.getActiveResourcesInfo().filter((t) => t === 'UDPWrap' || t === 'Timeout');
  await new Promise((r) => setTimeout(r, 50)); // let earlier tests' closed sockets leave the list
  const baseline = types().length;
  const signer = c25519Generate();
  const planet = makePlanet(R, await freePort(), signer);
  const c = new Vl1Node({ identity: C, planet, bind: { address: LO }, ...FAST });
  await c.start();
  await c.start();
  c.addPath(D.publicOnly(), LO, await freePort());
  const pending = c.ping(D.address, 60000).catch((e: unknown) => e);
  const online = c.whenOnline(60000).catch((e: unknown) => e);
  assert.ok(types().length > baseline);
  await c.stop();
  await c.stop();
  const e1 = await pending;
  const e2 = await online;
  assert.ok(e1 instanceof Vl1NodeError && e1.code === 'ZT_ERR_STOPPED');
  assert.ok(e2 instanceof Vl1NodeError && e2.code === 'ZT_ERR_STOPPED');
  await assert.rejects(c.ping(D.address, 100), (e: unknown) => e instanceof Vl1NodeError && e.code === 'ZT_ERR_STOPPED');
  // Closed handles leave the active list a tick or two after their close callbacks.
  await until(`handles back to baseline (left: ${types().join(', ')})`, () => types().length <= baseline, 2000);
});


