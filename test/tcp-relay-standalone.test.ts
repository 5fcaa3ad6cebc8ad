/**
 * `ztroot relay` on a host of its own: a TCP-only leaf reaches the real root through the standalone relay
 * (one shared UDP socket, replies routed back by ZeroTier destination) and exchanges packets with a UDP leaf
 * both ways; and the CLI as an operator meets it (--help, a bad flag).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
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

const ids = readVectorJson<{ identities: Array<{ secret_string: string }> }>('identities.json').identities.map((x) => Identity.fromString(x.secret_string));
const [R, A, B] = ids as [Identity, Identity, Identity];
const LO = '127.0.0.1';
const FAST = { helloRetryMs: 200, helloIntervalMs: 60000 };
const signer = c25519Generate();
const CLI = join(REPO_ROOT, 'dist', 'tools', 'cli.js');

function planetAt(port: number): World {
  return signWorld(
    { type: 'planet', id: 0x5eed0003n, timestamp: 1700000000000, updatesMustBeSignedBy: signer.publicKey, roots: [{ identity: R.publicOnly(), stableEndpoints: [{ family: 4, ip: LO, port }] }] },
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
  relay = new StandaloneRelay({ listen: { host: LO, port: 0 }, bind4: LO, bind6: null });
  await relay.start();
});
after(async () => {
  await relay.stop();
  await root.stop();
  await validator.close();
});

async function until(what: string, cond: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

test('through the standalone relay: a TCP-only leaf goes ONLINE and exchanges packets and pings with a UDP leaf both ways', async () => {
  const planet = planetAt(root.port);
  const a = new Vl1Node({ identity: A, planet, bind: { address: LO }, tcpRelay: { address: { family: 4, ip: LO, port: relay.port }, force: true }, ...FAST });
  const b = new Vl1Node({ identity: B, planet, bind: { address: LO }, ...FAST });
  await a.start();
  await b.start();
  try {
    await a.whenOnline(5000);
    await b.whenOnline(5000);
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
  assert.notEqual(bad.status, 0);
  assert.match(bad.stderr, /--idle-timeout "soon": expected a whole number/);
});
