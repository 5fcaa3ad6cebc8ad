/**
 * The root's TCP fallback relay (vl1.md §9), integrated: a tunnel client is a path of its peer. Raw
 * clients on both sides (test/raw-tunnel-client.ts over TCP, test/raw-vl1-client.ts over UDP) so each rule
 * is checked on the bytes: what is framed with which source, which hops, which RENDEZVOUS, what the
 * destination policy lets out of the root's UDP socket.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { once } from 'node:events';
import fc from 'fast-check';
import { Identity } from '../vl1/identity.js';
import { PeerKey } from '../vl1/peer-key.js';
import { Verb } from '../vl1/constants.js';
import { openPacket, sealPacket } from '../vl1/packet.js';
import { decodeOk } from '../vl1/verbs/ok.js';
import { decodeRendezvous } from '../vl1/verbs/rendezvous.js';
import { toHex, writeU40 } from '../vl1/bytes.js';
import { c25519Generate } from '../vl1/c25519.js';
import { signWorld, serializeWorld } from '../planet/world.js';
import { RootServer } from './root-server.js';
import { createHttpApiHandler, listenHttpApi } from './http-api.js';
import { createRootMetrics } from './metrics.js';
import { IdentityValidator } from './identity-validator.js';
import { readVectorJson } from '../test/vectors.js';
import { RawClient } from '../test/raw-vl1-client.js';
import { RawTunnelClient } from '../test/raw-tunnel-client.js';
import { answerRootEcho } from '../test/probe-answer.js';
import type { InetAddress } from '../vl1/inet-address.js';

const ids: Identity[] = readVectorJson<{ identities: { secret_string: string }[] }>('identities.json').identities.map((i) => Identity.fromString(i.secret_string));
const [rootId, aId, bId, cId] = ids as [Identity, Identity, Identity, Identity];
const planetKey = c25519Generate();
const planet = signWorld(
  { type: 'planet', id: 0x5eed0043n, timestamp: 1_700_000_000_000, updatesMustBeSignedBy: planetKey.publicKey, roots: [{ identity: rootId.publicOnly(), stableEndpoints: [{ family: 4, ip: '192.0.0.1', port: 9993 }] }] },
  planetKey,
);

let validator: IdentityValidator;
let server: RootServer;
const target = { root: rootId, port: () => server.port, planetId: planet.id, planetTimestamp: planet.timestamp };
const rootEp = (): InetAddress => ({ family: 4, ip: '127.0.0.1', port: server.port });

before(async () => {
  validator = new IdentityValidator({ workers: 1 });
  server = new RootServer({ port: 0, bind4: '127.0.0.1', bind6: null }, { identity: rootId, planet: serializeWorld(planet), validator });
  await server.start();
  await server.startTunnel('127.0.0.1', 0, { greetingTimeoutMs: 2000 });
});
after(async () => {
  await server.stop();
  await validator.close();
});

function counter(name: string): number {
  return server.counters.get(name) ?? 0;
}

/** A HELLO from `id` as 1.14.1 builds it (the UDP raw client's builder; its socket is never bound). */
function helloFrom(id: Identity): Uint8Array {
  const c = new RawClient(id, target);
  const h = c.hello();
  c.close();
  return h;
}

function verbOf(pkt: Uint8Array, me: Identity, from: Identity): { verb: number; payload: Uint8Array } | null {
  try {
    return openPacket(pkt.slice(), new PeerKey(me.agree(from)));
  } catch {
    return null;
  }
}

/** Polls until `done` holds (the root adopts a path once the client answered its probe: root/path-probes.ts). */
async function until(what: string, done: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !done(); i++) await new Promise((r) => setTimeout(r, 10));
  assert.ok(done(), what);
}

async function tunnelOnline(id: Identity): Promise<RawTunnelClient> {
  const t = (await new RawTunnelClient('127.0.0.1', server.tunnel!.port).open()).answerProbes(id, rootId);
  t.send(helloFrom(id), rootEp());
  const m = await t.next(5000);
  assert.ok(m, 'OK(HELLO) over the tunnel');
  await until('the tunnel is adopted as the peer\'s path', () => server.peers.get(id.address)?.hasTunnel === true);
  return t;
}

test('HELLO through the tunnel: OK(HELLO) comes back framed as from the root endpoint the client addressed, reflecting its TCP address', async () => {
  const t = (await new RawTunnelClient('127.0.0.1', server.tunnel!.port).open()).answerProbes(aId, rootId);
  try {
    t.send(helloFrom(aId), rootEp());
    const m = await t.next(5000);
    assert.ok(m, 'an answer over the tunnel');
    assert.deepEqual(m.from, rootEp(), 'framed with the root endpoint the client sent to');
    const opened = verbOf(m.datagram, aId, rootId);
    assert.equal(opened?.verb, Verb.OK);
    const ok = decodeOk(opened!.payload);
    assert.equal(ok.kind, 'HELLO');
    if (ok.kind === 'HELLO') assert.deepEqual(ok.physicalAddress, { family: 4, ip: '127.0.0.1', port: t.local.port }, 'the reflected address is the TCP peer');
    await until('the tunnel is adopted once the probe through it is answered', () => server.peers.get(aId.address)?.hasTunnel === true);
    const peer = server.peers.get(aId.address)!;
    assert.ok(peer.hasTunnel, 'the tunnel is a path of the peer');
    assert.equal(peer.ip4, '', 'and no UDP path was made of the TCP address');
    assert.equal(server.tunnel!.tunnels, 1);
    // The API shows the path for what it is.
    const api = await listenHttpApi(createHttpApiHandler(server, createRootMetrics(server, undefined, { processMetrics: false }), { token: '', version: 'test' }, () => []), '127.0.0.1', 0);
    try {
      const base = `http://127.0.0.1:${(api.address() as { port: number }).port}`;
      const { peers } = (await (await fetch(`${base}/api/peers`)).json()) as { peers: Array<{ address: string; paths: Array<{ kind: string; address: string }> }> };
      assert.deepEqual(peers.find((p) => p.address === aId.address.toString(16).padStart(10, '0'))?.paths.map((x) => [x.kind, x.address]), [['tcp', `127.0.0.1/${t.local.port}`]]);
      const status = (await (await fetch(`${base}/api/status`)).json()) as { tcpRelay: { port: number; tunnels: number } };
      assert.deepEqual([status.tcpRelay.port, status.tcpRelay.tunnels], [server.tunnel!.port, 1]);
    } finally {
      await new Promise((r) => api.close(r));
    }
  } finally {
    t.close();
  }
  // Closing drops the path: the peer is left with none.
  for (let i = 0; i < 50 && server.peers.get(aId.address)!.hasTunnel; i++) await new Promise((r) => setTimeout(r, 20));
  assert.equal(server.peers.get(aId.address)!.hasTunnel, false);
});

test('tunnel ↔ UDP through the root: relayed both ways, RENDEZVOUS only to the tunnel client, direct sends through the root socket', async () => {
  const a = await tunnelOnline(aId);
  const b = await new RawClient(bId, target).open();
  try {
    b.send(b.hello());
    assert.ok(await b.next(5000), 'B online over UDP');
    await until('B\'s UDP path is adopted', () => server.peers.get(bId.address)?.port4 === b.port);
    const ab = b.keyWith(aId); // same key both ways

    // A → root endpoint → B: relayed with hops 1, and A (only A) is told where B is.
    const rv0 = counter('rendezvous_sent');
    const toB = sealPacket({ dest: bId.address, source: aId.address, verb: Verb.USER_MESSAGE, payload: new TextEncoder().encode('A to B') }, ab, 3);
    a.send(toB, rootEp());
    const atB = await b.drain(400);
    const relayed = atB.find((m) => verbOf(m, bId, aId)?.verb === Verb.USER_MESSAGE);
    assert.ok(relayed, 'B got A’s packet');
    assert.equal(relayed[18]! & 7, 1, 'one hop through the root');
    assert.equal(atB.filter((m) => verbOf(m, bId, rootId)?.verb === Verb.RENDEZVOUS).length, 0, 'B is never told a tunnel client’s address');
    const rvA = (await a.drain(400)).map((d) => verbOf(d.datagram, aId, rootId)).filter((o) => o?.verb === Verb.RENDEZVOUS);
    assert.deepEqual(
      rvA.map((o) => decodeRendezvous(o!.payload)),
      [{ flags: 0, address: bId.address, endpoint: { family: 4, ip: '127.0.0.1', port: b.port } }],
      'A is told B’s UDP address',
    );
    assert.equal(counter('rendezvous_sent'), rv0 + 1);

    // B → root → A: handed over untouched, framed with B's real address (as tcp-proxy's own socket would).
    const toA = sealPacket({ dest: aId.address, source: bId.address, verb: Verb.USER_MESSAGE, payload: new TextEncoder().encode('B to A') }, ab, 3);
    b.send(toA);
    const atA = await a.next(2000);
    assert.ok(atA, 'A got B’s packet through its tunnel');
    assert.deepEqual(atA.from, { family: 4, ip: '127.0.0.1', port: b.port });
    assert.equal(toHex(atA.datagram), toHex(toA), 'byte for byte, hops untouched');

    // A → B's address directly (after the RENDEZVOUS): out of the root's UDP socket, untouched.
    const direct = sealPacket({ dest: bId.address, source: aId.address, verb: Verb.USER_MESSAGE, payload: new TextEncoder().encode('direct') }, ab, 3);
    const sent0 = counter('tunnel_sent_udp');
    a.send(direct, { family: 4, ip: '127.0.0.1', port: b.port });
    const got = await b.next(2000);
    assert.ok(got);
    assert.equal(toHex(got), toHex(direct), 'untouched');
    assert.equal(counter('tunnel_sent_udp'), sent0 + 1);
  } finally {
    a.close();
    b.close();
  }
});

test('destination policy: only authenticated tunnels, no ports ≤ 1024, no addresses that are neither a peer’s path nor a root nor a recent sender', async () => {
  const a = await tunnelOnline(cId);
  const stranger = dgram.createSocket('udp4');
  stranger.bind(0, '127.0.0.1');
  await once(stranger, 'listening');
  let strangerGot = 0;
  stranger.on('message', () => strangerGot++);
  try {
    const pkt = sealPacket({ dest: bId.address, source: cId.address, verb: Verb.USER_MESSAGE, payload: new Uint8Array(20) }, new PeerKey(cId.agree(bId)), 3);
    // A tunnel that never said HELLO cannot send anywhere through the root, not even to a known peer's path.
    const anon = await new RawTunnelClient('127.0.0.1', server.tunnel!.port).open();
    const b = server.peers.get(bId.address);
    assert.ok(b !== undefined && b.ip4 !== '', 'B (from the previous test) has a UDP path');
    const un0 = counter('drop_tunnel_unauthenticated');
    anon.send(pkt, { family: 4, ip: b.ip4, port: b.port4 });
    await anon.drain(200);
    assert.equal(counter('drop_tunnel_unauthenticated'), un0 + 1);
    anon.close();

    const low0 = counter('drop_tunnel_low_port');
    a.send(pkt, { family: 4, ip: '127.0.0.1', port: 1024 });
    const pol0 = counter('drop_tunnel_destination');
    a.send(pkt, { family: 4, ip: '127.0.0.1', port: stranger.address().port });
    await a.drain(300);
    assert.equal(counter('drop_tunnel_low_port'), low0 + 1);
    assert.equal(counter('drop_tunnel_destination'), pol0 + 1);
    assert.equal(strangerGot, 0, 'nothing reached an address nobody vouched for');
  } finally {
    a.close();
    stranger.close();
  }
});

test('IPv6: a tunnel client reaches a peer at its IPv6 address through the root’s IPv6 socket, and gets its answers', async (t) => {
  const v = new IdentityValidator({ workers: 1 });
  const r6 = new RootServer({ port: 0, bind4: '127.0.0.1', bind6: '::1' }, { identity: rootId, planet: serializeWorld(planet), validator: v });
  try {
    await r6.start();
  } catch (e) {
    await v.close();
    return t.skip(`skipped: cannot bind ::1 (${(e as Error).message})`);
  }
  await r6.startTunnel('127.0.0.1', 0);
  const b6 = dgram.createSocket({ type: 'udp6', ipv6Only: true });
  b6.bind(0, '::1');
  await once(b6, 'listening');
  const atB: Uint8Array[] = [];
  const bRootKey = new PeerKey(bId.agree(rootId));
  b6.on('message', (m, rinfo) => {
    const ok = answerRootEcho(new Uint8Array(m), bId, rootId, bRootKey);
    if (ok !== null) b6.send(ok, rinfo.port, rinfo.address);
    else atB.push(new Uint8Array(m));
  });
  const a = (await new RawTunnelClient('127.0.0.1', r6.tunnel!.port).open()).answerProbes(aId, rootId);
  try {
    // B says HELLO over IPv6; A over its tunnel.
    b6.send(helloFrom(bId), r6.port, '::1');
    a.send(helloFrom(aId), { family: 4, ip: '127.0.0.1', port: r6.port });
    assert.ok(await a.next(5000), 'A is answered over its tunnel');
    for (let i = 0; i < 100 && r6.peers.get(bId.address)?.ip6 !== '::1'; i++) await new Promise((r) => setTimeout(r, 20));
    assert.equal(r6.peers.get(bId.address)?.ip6, '::1');
    for (let i = 0; i < 100 && r6.peers.get(aId.address)?.hasTunnel !== true; i++) await new Promise((r) => setTimeout(r, 20));
    atB.length = 0;

    const key = new PeerKey(aId.agree(bId));
    const toB = sealPacket({ dest: bId.address, source: aId.address, verb: Verb.USER_MESSAGE, payload: new TextEncoder().encode('over v6') }, key, 3);
    a.send(toB, { family: 6, ip: '::1', port: b6.address().port });
    for (let i = 0; i < 100 && atB.length === 0; i++) await new Promise((r) => setTimeout(r, 20));
    assert.equal(toHex(atB[0] ?? new Uint8Array(0)), toHex(toB), 'B got it untouched, from the root’s IPv6 socket');

    const toA = sealPacket({ dest: aId.address, source: bId.address, verb: Verb.USER_MESSAGE, payload: new Uint8Array(30) }, key, 3);
    b6.send(toA, r6.port, '::1');
    const back = await a.next(2000);
    assert.ok(back);
    assert.deepEqual(back.from, { family: 6, ip: '::1', port: b6.address().port }, 'framed with B’s IPv6 address');
    assert.equal(toHex(back.datagram), toHex(toA));
  } finally {
    a.close();
    b6.close();
    await r6.stop();
    await v.close();
  }
});

test('random datagrams through an authenticated tunnel are counted drops, never errors, and the tunnel keeps working', async () => {
  const a = await tunnelOnline(aId);
  try {
    const errors0 = counter('drop_internal_error');
    const drops = (): number => [...server.counters].filter(([k]) => k.startsWith('drop_')).reduce((n, [, v]) => n + v, 0);
    const drops0 = drops();
    const targets: InetAddress[] = [rootEp(), { family: 4, ip: '127.0.0.1', port: 40000 }, { family: 6, ip: '::1', port: 9993 }, { family: 4, ip: '127.0.0.1', port: 53 }];
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 28, maxLength: 400 }), fc.integer({ min: 0, max: targets.length - 1 }), fc.boolean(), (d, ti, toRoot) => {
        writeU40(d, 13, aId.address); // the tunnel carries only its client's own packets
        if (toRoot) writeU40(d, 8, rootId.address); // half of them reach the root's own handlers
        a.send(d, targets[ti]!);
      }),
      { seed: 21, numRuns: 300 },
    );
    await a.drain(300);
    assert.equal(counter('drop_internal_error'), errors0, 'no unexpected error');
    assert.ok(drops() - drops0 >= 250, `the junk was counted as drops (${drops() - drops0})`);
    assert.equal(a.closed, false, 'the tunnel is still open');
    // ...and still answers: an ECHO to the root comes back.
    const echo = sealPacket({ dest: rootId.address, source: aId.address, verb: Verb.ECHO, payload: new Uint8Array([1, 2, 3]) }, new PeerKey(aId.agree(rootId)), 3);
    a.send(echo, rootEp());
    const back = await a.next(2000);
    assert.equal(back && verbOf(back.datagram, aId, rootId)?.verb, Verb.OK);
  } finally {
    a.close();
  }
});
