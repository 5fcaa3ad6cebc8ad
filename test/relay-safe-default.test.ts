/**
 * `ztroot relay` is not an open relay by default. Before, it relayed any tunnel's datagrams to any address and
 * port ≥ 1025 with no allow-list and no warning; now it refuses to start without a destination policy, `--planet`
 * restricts it to the planet's roots (and takes UDP only from them), and `--open` — tcp-proxy's behaviour —
 * must be asked for and is logged as a warning. ZeroTier still works through the restricted relay: a TCP-only
 * leaf goes ONLINE and talks and pings with a UDP leaf on another address (through the root).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import dgram from 'node:dgram';
import { once } from 'node:events';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Vl1Node, type ReceivedPacket } from '../leaf/vl1-node.js';
import { Identity } from '../vl1/identity.js';
import { Verb } from '../vl1/constants.js';
import { c25519Generate } from '../vl1/c25519.js';
import { serializeWorld, signWorld, type World } from '../planet/world.js';
import { RootServer } from '../root/root-server.js';
import { IdentityValidator } from '../root/identity-validator.js';
import { readVectorJson } from './vectors.js';
import { watchJsonLines } from './json-lines.js';
import { CLI, describeRun, runCli } from './cli-process.js';
import { RawTunnelClient } from './raw-tunnel-client.js';

const ids = readVectorJson<{ identities: Array<{ secret_string: string }> }>('identities.json').identities.map((x) => Identity.fromString(x.secret_string));
const [R, A, B] = ids as [Identity, Identity, Identity];
const FAST = { helloRetryMs: 200, helloIntervalMs: 60000 };
const dir = mkdtempSync(join(tmpdir(), 'ztroot-relay-safe-'));

function planetAt(port: number): World {
  const signer = c25519Generate();
  return signWorld(
    { type: 'planet', id: 0x5eed0077n, timestamp: 1700000000000, updatesMustBeSignedBy: signer.publicKey, roots: [{ identity: R.publicOnly(), stableEndpoints: [{ family: 4, ip: '127.0.0.1', port }] }] },
    signer,
  );
}

async function until(what: string, cond: () => boolean, ms = 8000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

function relayProcess(args: string[]) {
  const child = spawn(process.execPath, [CLI, 'relay', '--listen', '127.0.0.1:0', '--bind4', '127.0.0.1', '--bind6', 'none', '--http', '127.0.0.1:0', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  return { child, ...watchJsonLines(child, 'ztroot relay') };
}

async function metric(httpAt: string, result: string): Promise<number> {
  const text = await (await fetch(`http://${httpAt}/metrics`)).text();
  return Number(new RegExp(`^ztroot_relay_datagrams_total\\{result="${result}"\\} (\\d+)$`, 'm').exec(text)?.[1] ?? 0);
}

test('without --planet, --destination or --open the relay does not start: one line saying how to choose, exit 2', async () => {
  const r = await runCli(['relay', '--listen', '127.0.0.1:0', '--http', 'none']);
  assert.equal(r.code, 2, describeRun(r));
  assert.equal(r.errLines.length, 1, describeRun(r));
  assert.match(r.errLines[0]!, /no destinations: pass --planet .* --destination .* or --open/);
  assert.ok(r.ms < 2000, describeRun(r));
});

test('--open is tcp-proxy\'s relay-anywhere, and says so in a warning at start', async (t) => {
  const p = relayProcess(['--open']);
  t.after(() => p.child.kill('SIGKILL'));
  const warn = await p.waitFor((l) => l.level === 40 && /open relay/.test(String(l.msg)), 10_000, 'the open-relay warning');
  assert.match(String(warn.msg), /any address and port/);
  const listening = await p.waitFor((l) => l.msg === 'relay listening', 10_000, 'relay listening');
  assert.equal(listening.destinations, 'any');
  p.child.kill('SIGTERM');
  assert.equal(((await once(p.child, 'exit')) as [number])[0], 0);
});

test('--planet: a TCP-only leaf reaches its root and, through it, a UDP leaf; other destinations and other senders are refused', async (t) => {
  const validator = new IdentityValidator({ workers: 1 });
  const root = new RootServer({ port: 0, bind4: '127.0.0.1', bind6: null }, { identity: R, planet: serializeWorld(planetAt(9993)), validator });
  await root.start();
  const planet = planetAt(root.port);
  root.setPlanet(serializeWorld(planet));
  t.after(async () => {
    await root.stop();
    await validator.close();
  });
  const planetFile = join(dir, 'planet');
  writeFileSync(planetFile, serializeWorld(planet));
  const p = relayProcess(['--planet', planetFile]);
  t.after(() => p.child.kill('SIGKILL'));
  const listening = await p.waitFor((l) => l.msg === 'relay listening', 10_000, 'relay listening');
  assert.deepEqual(listening.destinations, [`127.0.0.1/${root.port}`]);
  assert.ok(!p.lines.some((l) => /open relay/.test(String(l.msg))), 'no open-relay warning');
  const tcpPort = Number(String(listening.listen).split(':').pop());
  const httpAt = String((await p.waitFor((l) => l.msg === 'relay metrics listening', 10_000, 'metrics')).http);

  // A speaks only TCP, through the relay; B is a UDP leaf on another address (127.0.0.2).
  const a = new Vl1Node({ identity: A, planet, bind: { address: '127.0.0.1' }, tcpRelay: { address: { family: 4, ip: '127.0.0.1', port: tcpPort }, force: true }, ...FAST });
  const b = new Vl1Node({ identity: B, planet, bind: { address: '127.0.0.2' }, ...FAST });
  await a.start();
  await b.start();
  t.after(async () => {
    await a.stop();
    await b.stop();
  });
  await a.whenOnline(8000);
  await b.whenOnline(8000);
  const atA: ReceivedPacket[] = [];
  const atB: ReceivedPacket[] = [];
  a.on('packet', (x) => atA.push(x));
  b.on('packet', (x) => atB.push(x));
  await a.send(B.address, Verb.USER_MESSAGE, new TextEncoder().encode('A via the relay'));
  await b.send(A.address, Verb.USER_MESSAGE, new TextEncoder().encode('B to A'));
  await until('both messages', () => atA.length > 0 && atB.length > 0);
  assert.equal(new TextDecoder().decode(atB[0]!.payload), 'A via the relay');
  assert.equal(new TextDecoder().decode(atA[0]!.payload), 'B to A');
  assert.ok((await a.ping(B.address, 5000)).rttMs >= 0);
  assert.ok((await b.ping(A.address, 5000)).rttMs >= 0);

  // A tunnel client sending anywhere but a root: refused and counted.
  const victim = dgram.createSocket('udp4');
  const gotAtVictim: Buffer[] = [];
  victim.on('message', (m) => gotAtVictim.push(m));
  victim.bind(0, '127.0.0.3');
  await once(victim, 'listening');
  t.after(() => victim.close());
  const rogue = await new RawTunnelClient('127.0.0.1', tcpPort).open();
  t.after(() => rogue.close());
  // (A's own attempts to reach B directly after the root's RENDEZVOUS were refused the same way: count from here.)
  const refusedBefore = await metric(httpAt, 'drop_destination');
  const datagram = new Uint8Array(64).fill(0x42);
  rogue.send(datagram, { family: 4, ip: '127.0.0.3', port: victim.address().port });
  let refused = 0;
  for (let i = 0; i < 100 && refused === 0; i++) {
    refused = (await metric(httpAt, 'drop_destination')) - refusedBefore;
    if (refused === 0) await new Promise((r) => setTimeout(r, 30));
  }
  assert.equal(refused, 1, 'the datagram to a non-root destination was refused');
  assert.equal(gotAtVictim.length, 0);

  // A sender that is not a root cannot push datagrams into A's tunnel.
  const udp4 = Number(listening.udp4);
  const forged = new Uint8Array(64).fill(0x43);
  for (let i = 0; i < 5; i++) forged[8 + i] = Math.floor(A.address / 2 ** (8 * (4 - i))) & 0xff; // ZeroTier destination: A
  const droppedBefore = await metric(httpAt, 'drop_source'); // B's direct attempts at A's relayed address count too
  victim.send(forged, udp4, '127.0.0.1');
  let dropped = 0;
  for (let i = 0; i < 100 && dropped === 0; i++) {
    dropped = (await metric(httpAt, 'drop_source')) - droppedBefore;
    if (dropped === 0) await new Promise((r) => setTimeout(r, 30));
  }
  assert.equal(dropped, 1, 'the datagram from a non-root sender was dropped');
  p.child.kill('SIGTERM');
  assert.equal(((await once(p.child, 'exit')) as [number])[0], 0);
});
