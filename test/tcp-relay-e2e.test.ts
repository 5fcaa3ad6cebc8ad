/**
 * The acceptance scenario of the TCP fallback relay, end to end on real sockets: a leaf with no UDP (1.14's
 * `forceTcpRelay`, leaf/tcp-relay-client.ts) and a UDP leaf, with the real root —
 *   1. through the relay the root serves itself: ONLINE, packets and pings both ways, and after the root's
 *      RENDEZVOUS "direct" traffic that the tunnel carries to the root's UDP socket, which sends it on untouched;
 *   2. without `force`, as 1.14: the leaf falls back to the tunnel when it hears no UDP, and leaves it again;
 *   3. through `ztroot relay` on its own (one shared UDP socket, replies routed back by ZeroTier destination);
 * and the `ztroot relay` CLI as an operator meets it (--help, a bad flag).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import net from 'node:net';
import dgram from 'node:dgram';
import { once } from 'node:events';
import { join } from 'node:path';
import { Vl1Node, type ReceivedPacket } from '../leaf/vl1-node.js';
import { Identity } from '../vl1/identity.js';
import { Verb } from '../vl1/constants.js';
import { c25519Generate } from '../vl1/c25519.js';
import { serializeWorld, signWorld, type World } from '../planet/world.js';
import { RootServer } from '../root/root-server.js';
import { IdentityValidator } from '../root/identity-validator.js';
import { StandaloneRelay } from '../relay/standalone-relay.js';
import { readVectorJson, REPO_ROOT } from './vectors.js';
import { watchJsonLines } from './json-lines.js';
import { encodeTunnelHello } from '../vl1/tcp-framing.js';

const ids = readVectorJson<{ identities: Array<{ secret_string: string }> }>('identities.json').identities.map((x) => Identity.fromString(x.secret_string));
const [R, A, B] = ids as [Identity, Identity, Identity];
const LO = '127.0.0.1';
const FAST = { helloRetryMs: 200, helloIntervalMs: 60000 };
const signer = c25519Generate();
const CLI = join(REPO_ROOT, 'dist', 'tools', 'cli.js');

function planetAt(port: number): World {
  return signWorld(
    { type: 'planet', id: 0x5eed0002n, timestamp: 1700000000000, updatesMustBeSignedBy: signer.publicKey, roots: [{ identity: R.publicOnly(), stableEndpoints: [{ family: 4, ip: LO, port }] }] },
    signer,
  );
}

let validator: IdentityValidator;
let root: RootServer;
let relay: StandaloneRelay;
before(async () => {
  validator = new IdentityValidator({ workers: 1 });
  root = new RootServer({ port: 0, bind4: LO, bind6: null }, { identity: R, planet: serializeWorld(planetAt(9993)), validator });
  await root.start();
  root.setPlanet(serializeWorld(planetAt(root.port)));
  await root.startTunnel(LO, 0);
  relay = new StandaloneRelay({ listen: { host: LO, port: 0 }, bind4: LO, bind6: null, destinations: 'any' });
  await relay.start();
});
after(async () => {
  await relay.stop();
  await root.stop();
  await validator.close();
});

/** The root adopts a leaf's path once the leaf answered its probe (root/path-probes.ts): ONLINE comes a round trip earlier. */
async function adoptedByRoot(address: number): Promise<void> {
  await until(`the root adopts a path of ${address.toString(16)}`, () => {
    const p = root.peers.get(address);
    return p !== undefined && (p.hasTunnel || p.ip4 !== '' || p.ip6 !== '');
  });
}

async function until(what: string, cond: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

test('a TCP-only leaf goes ONLINE through the root’s relay and exchanges packets with a UDP leaf both ways', async () => {
  const planet = planetAt(root.port);
  const a = new Vl1Node({ identity: A, planet, bind: { address: LO }, tcpRelay: { address: { family: 4, ip: LO, port: root.tunnel!.port }, force: true }, ...FAST });
  const b = new Vl1Node({ identity: B, planet, bind: { address: LO }, ...FAST });
  await a.start();
  await b.start();
  try {
    await a.whenOnline(5000);
    await b.whenOnline(5000);
    await adoptedByRoot(A.address);
    await adoptedByRoot(B.address);
    // A learned an ordinary path to the root's UDP address (the tunnel framed answers with it)...
    assert.deepEqual(a.peerInfo(R.address)!.paths.map((p) => p.address), [`${LO}/${root.port}`]);
    // ...while the root knows A only through its tunnel: no UDP ever left A.
    const atRoot = root.peers.get(A.address)!;
    assert.ok(atRoot.hasTunnel);
    assert.equal(atRoot.ip4, '');
    assert.ok(a.tcpRelayStats!.sent > 0 && a.tcpRelayStats!.received > 0);
    assert.equal(root.tunnel!.tunnels, 1);
    assert.equal((await a.ping(R.address, 2000)).via, 'direct');

    const atA: ReceivedPacket[] = [];
    const atB: ReceivedPacket[] = [];
    a.on('packet', (p) => atA.push(p));
    b.on('packet', (p) => atB.push(p));
    await a.send(B.address, Verb.USER_MESSAGE, new TextEncoder().encode('from the tunnel'));
    await until('B receives A’s message', () => atB.length > 0);
    assert.equal(new TextDecoder().decode(atB[0]!.payload), 'from the tunnel');
    await b.send(A.address, Verb.USER_MESSAGE, new TextEncoder().encode('to the tunnel'));
    try {
      await until('A receives B’s message', () => atA.length > 0);
    } catch (e) {
      console.log('A drops', a.stats, 'B', b.stats, 'root', Object.fromEntries(root.counters), a.tcpRelayStats, a.peerInfo(B.address), b.peerInfo(A.address));
      throw e;
    }
    assert.equal(new TextDecoder().decode(atA[0]!.payload), 'to the tunnel');
    assert.ok((await a.ping(B.address, 3000)).rttMs >= 0);
    assert.ok((await b.ping(A.address, 3000)).rttMs >= 0);

    // The root told A (only A) where B is; A's contact goes through the tunnel and out of the root's UDP
    // socket, B answers there, and both end up with a path that looks direct — the root relays none of it.
    await until('A has a direct path to B', () => (a.peerInfo(B.address)?.paths.length ?? 0) > 0);
    assert.equal(a.peerInfo(B.address)!.paths[0]!.address, `${LO}/${b.boundAddresses[0]!.port}`);
    const relayed0 = root.counters.get('relayed') ?? 0;
    const muxed0 = root.counters.get('tunnel_sent_udp') ?? 0;
    assert.equal((await a.ping(B.address, 3000)).via, 'direct');
    assert.equal((await b.ping(A.address, 3000)).via, 'direct');
    assert.ok((root.counters.get('tunnel_sent_udp') ?? 0) > muxed0, 'A’s side left through the root’s UDP socket');
    assert.ok((root.counters.get('relayed') ?? 0) - relayed0 <= 2, 'B’s answers are handed to the tunnel, not relayed hop by hop');
    assert.equal(a.stats.drops.internal ?? 0, 0);
    assert.equal(b.stats.drops.internal ?? 0, 0);
    assert.equal(root.counters.get('tcp_closed'), 0, 'one connection carried it all');
  } finally {
    await a.stop();
    await b.stop();
  }
  await until('the root sees the tunnel close', () => root.tunnel!.tunnels === 0);
  assert.equal(root.peers.get(A.address)!.hasTunnel, false);
});

test('without force, as 1.14: a leaf deaf to UDP falls back to the tunnel after fallbackAfterMs, and leaves it once UDP is heard again', async () => {
  // The planet sends the leaf's UDP to a port where nothing listens: only the tunnel gets through.
  const deadSock = dgram.createSocket('udp4');
  await new Promise<void>((r) => deadSock.bind(0, LO, r));
  const dead = deadSock.address().port;
  await new Promise<void>((r) => deadSock.close(() => r()));
  const a = new Vl1Node({ identity: A, planet: planetAt(dead), bind: { address: LO }, tcpRelay: { address: { family: 4, ip: LO, port: root.tunnel!.port }, fallbackAfterMs: 300 }, ...FAST });
  const poke = dgram.createSocket('udp4');
  await a.start();
  try {
    assert.equal(a.tcpFallbackActive, false, 'not before fallbackAfterMs');
    await a.whenOnline(5000);
    assert.equal(a.tcpFallbackActive, true);
    assert.deepEqual(a.peerInfo(R.address)!.paths.map((p) => p.address), [`${LO}/${dead}`], 'the root answered as from the endpoint the leaf addressed');
    assert.ok((a.stats.sent['HELLO'] ?? 0) >= 2, 'UDP HELLOs went out first, in vain');
    // Any UDP datagram of 16 bytes or more counts as UDP working again: the tunnel closes at the next check.
    poke.send(new Uint8Array(32), a.boundAddresses[0]!.port, LO);
    await until('the tunnel to close', () => !a.tcpFallbackActive && root.tunnel!.tunnels === 0);
  } finally {
    poke.close();
    await a.stop();
  }
});

test('a leaf that heard UDP, then none for a fallbackAfterMs under 30 s, keeps its tunnel (it flapped: closed at every check until 30 s)', async () => {
  const deadSock = dgram.createSocket('udp4');
  await new Promise<void>((r) => deadSock.bind(0, LO, r));
  const dead = deadSock.address().port;
  await new Promise<void>((r) => deadSock.close(() => r()));
  const a = new Vl1Node({ identity: A, planet: planetAt(dead), bind: { address: LO }, tcpRelay: { address: { family: 4, ip: LO, port: root.tunnel!.port }, fallbackAfterMs: 300 }, ...FAST });
  const poke = dgram.createSocket('udp4');
  await a.start();
  try {
    // UDP worked a moment ago (a datagram of 16 bytes or more), then nothing: deaf for fallbackAfterMs.
    poke.send(new Uint8Array(32), a.boundAddresses[0]!.port, LO);
    await a.whenOnline(5000);
    const connects = a.tcpRelayStats!.connects;
    let flaps = 0;
    for (let i = 0; i < 20; i++) {
      await new Promise((r) => setTimeout(r, 100));
      if (!a.tcpFallbackActive) flaps++;
    }
    assert.equal(flaps, 0, 'the tunnel stayed up through 2 s of checks');
    assert.equal(a.tcpRelayStats!.connects, connects, 'one connection, not one per check');
  } finally {
    poke.close();
    await a.stop();
  }
});

test('through the standalone relay: a TCP-only leaf goes ONLINE and exchanges packets and pings with a UDP leaf both ways', async () => {
  const planet = planetAt(root.port);
  const a = new Vl1Node({ identity: A, planet, bind: { address: LO }, tcpRelay: { address: { family: 4, ip: LO, port: relay.port }, force: true }, ...FAST });
  const b = new Vl1Node({ identity: B, planet, bind: { address: LO }, ...FAST });
  await a.start();
  await b.start();
  try {
    await a.whenOnline(5000);
    await b.whenOnline(5000);
    await adoptedByRoot(A.address);
    await adoptedByRoot(B.address);
    // To the root, A is an ordinary UDP peer at the relay's shared socket.
    const atRoot = root.peers.get(A.address)!;
    assert.deepEqual([atRoot.ip4, atRoot.port4], [LO, relay.udpPort(4)]);
    assert.equal(atRoot.hasTunnel, false);

    const atA: ReceivedPacket[] = [];
    const atB: ReceivedPacket[] = [];
    a.on('packet', (p) => atA.push(p));
    b.on('packet', (p) => atB.push(p));
    await a.send(B.address, Verb.USER_MESSAGE, new TextEncoder().encode('A via relay'));
    await b.send(A.address, Verb.USER_MESSAGE, new TextEncoder().encode('B to A'));
    await until('both messages', () => atA.length > 0 && atB.length > 0);
    assert.equal(new TextDecoder().decode(atB[0]!.payload), 'A via relay');
    assert.equal(new TextDecoder().decode(atA[0]!.payload), 'B to A');
    assert.ok((await a.ping(B.address, 3000)).rttMs >= 0);
    assert.ok((await b.ping(A.address, 3000)).rttMs >= 0);
    const c = relay.counters;
    assert.ok((c.get('relay_sent_udp') ?? 0) > 0 && (c.get('relay_to_tunnel') ?? 0) > 0);
    assert.equal(c.get('relay_drop_no_tunnel') ?? 0, 0, 'every reply found its tunnel');
  } finally {
    await a.stop();
    await b.stop();
  }
});

test('ztroot relay: --help explains it with the local.conf line; a bad flag names itself and fails', () => {
  const help = spawnSync(process.execPath, [CLI, 'relay', '--help'], { encoding: 'utf8' });
  assert.equal(help.status, 0);
  assert.match(help.stdout, /tcpFallbackRelay/);
  assert.match(help.stdout, /--max-per-ip/);
  const bad = spawnSync(process.execPath, [CLI, 'relay', '--idle-timeout', 'soon'], { encoding: 'utf8' });
  assert.equal(bad.status, 2, 'a usage error');
  assert.match(bad.stderr, /--idle-timeout "soon": expected a whole number/);
});

test('ztroot relay as a process: logs where it listens, serves /metrics with the tunnels it holds, stops on SIGTERM', async (t) => {
  const child = spawn(process.execPath, [CLI, 'relay', '--open', '--listen', `${LO}:0`, '--bind4', LO, '--bind6', 'none', '--http', `${LO}:0`, '--log-level', 'info'], { stdio: ['ignore', 'pipe', 'pipe'] });
  t.after(() => child.kill('SIGKILL'));
  const w = watchJsonLines(child, 'ztroot relay');
  const listening = await w.waitFor((l) => l.msg === 'relay listening', 10_000, 'relay listening');
  const tcpPort = Number(String(listening.listen).split(':').pop());
  const httpAt = String((await w.waitFor((l) => l.msg === 'relay metrics listening', 10_000, 'metrics listening')).http);
  const tunnel = net.connect({ host: LO, port: tcpPort });
  t.after(() => tunnel.destroy());
  await once(tunnel, 'connect');
  tunnel.write(encodeTunnelHello({ major: 1, minor: 14, revision: 1 }));
  let text = '';
  for (let i = 0; i < 50 && !/^ztroot_tcp_connections\{kind="tunnel"\} 1$/m.test(text); i++) {
    text = await (await fetch(`http://${httpAt}/metrics`)).text();
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.match(text, /^ztroot_tcp_connections\{kind="tunnel"\} 1$/m);
  assert.match(text, /^ztroot_relay_up 1$/m);
  assert.match(text, /^ztroot_tcp_connections_total\{result="accepted"\} 1$/m);
  assert.equal((await fetch(`http://${httpAt}/healthz`)).status, 200);
  child.kill('SIGTERM');
  assert.equal(((await once(child, 'exit')) as [number])[0], 0);
  assert.ok(w.lines.some((l) => l.msg === 'relay stopped'));
});
