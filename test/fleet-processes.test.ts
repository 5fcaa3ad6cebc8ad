/**
 * A fleet as operators run it: three `ztroot start` processes (one per root of a three-root planet) sharing
 * a real redis-server, and leaves that each know only one root. A leaf attached only to root A reaches a
 * leaf attached only to root B — relayed across the two roots first, then directly after the cross-root
 * RENDEZVOUS — and WHOIS on one root answers for a peer that only ever spoke to another.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import dgram from 'node:dgram';
import { once } from 'node:events';
import { Identity } from '../vl1/identity.js';
import { Verb } from '../vl1/constants.js';
import { c25519Generate } from '../vl1/c25519.js';
import { signWorld, serializeWorld, type World } from '../planet/world.js';
import { Vl1Node } from '../leaf/vl1-node.js';
import { readVectorJson, REPO_ROOT } from './vectors.js';
import { watchJsonLines } from './json-lines.js';
import { RedisServer, redisUnavailableReason } from './redis.js';

const skip = redisUnavailableReason() ?? false;
if (skip) console.log(`# fleet process tests skipped: ${skip}`);
const CLI = join(REPO_ROOT, 'dist', 'tools', 'cli.js');

async function freeUdpPort(): Promise<number> {
  const s = dgram.createSocket('udp4');
  s.bind(0, '127.0.0.1');
  await once(s, 'listening');
  const p = s.address().port;
  s.close();
  return p;
}

test('three root processes on one Redis: leaves on different roots meet, relayed across roots, then direct', { skip, timeout: 90_000 }, async (t) => {
  const ids = readVectorJson<{ identities: { secret_string: string }[] }>('identities.json').identities.map((i) => Identity.fromString(i.secret_string));
  const roots = ids.slice(0, 3);
  const [xId, yId] = [ids[5]!, ids[6]!];
  const ports = [await freeUdpPort(), await freeUdpPort(), await freeUdpPort()];
  const key = c25519Generate();
  const world = signWorld(
    {
      type: 'planet',
      id: 0x5eedf1ee70n,
      timestamp: Date.now(),
      updatesMustBeSignedBy: key.publicKey,
      roots: roots.map((r, i) => ({ identity: r.publicOnly(), stableEndpoints: [{ family: 4 as const, ip: '127.0.0.1', port: ports[i]! }] })),
    },
    key,
  );
  const planet = serializeWorld(world);
  const redis = await RedisServer.start();
  const procs: ChildProcess[] = [];
  let logs: Array<ReturnType<typeof watchJsonLines>> = [];
  const nodes: Vl1Node[] = [];
  t.after(async () => {
    for (const n of nodes) await n.stop();
    for (const p of procs) p.kill('SIGTERM');
    await Promise.all(procs.map((p) => (p.exitCode === null ? once(p, 'exit') : Promise.resolve())));
    // The roots' counters at shutdown, for the record (and for diagnosing a failure).
    for (const l of logs) t.diagnostic(JSON.stringify(l.lines.find((x) => x.msg === 'stopped')?.counters ?? {}));
    await redis.stop();
  });

  // The three roots, each its own process, as an operator starts them.
  logs = roots.map((r, i) => {
    const dir = mkdtempSync(join(tmpdir(), `ztroot-fleet-${i}-`));
    writeFileSync(join(dir, 'identity.secret'), r.toString(true), { mode: 0o600 });
    writeFileSync(join(dir, 'planet'), planet);
    const p = spawn(
      process.execPath,
      [CLI, 'start', '--state-dir', dir, '--bind4', '127.0.0.1', '--bind6', 'none', '--port', String(ports[i]), '--http', 'none', '--fleet-redis', redis.url, '--root-id', `root-${'abc'[i]}`],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    procs.push(p);
    return watchJsonLines(p, `root-${'abc'[i]}`);
  });
  for (const l of logs) await l.waitFor((x) => x.msg === 'root started', 15_000, 'root started');

  // Each leaf knows only one root: X only A, Y only B (a planet trimmed to that root).
  const only = (i: number): World => ({ ...world, roots: [world.roots[i]!] });
  const x = new Vl1Node({ identity: xId, planet: only(0), bind: { address: '127.0.0.1', port: 0 }, helloRetryMs: 500 });
  const y = new Vl1Node({ identity: yId, planet: only(1), bind: { address: '127.0.0.1', port: 0 }, helloRetryMs: 500 });
  nodes.push(x, y);
  await x.start();
  await y.start();
  await Promise.all([x.whenOnline(15_000), y.whenOnline(15_000)]);

  // X learns Y's identity from root A, which never saw Y: the fleet answers.
  const yIdentity = await x.whois(yId.address, 10_000);
  assert.equal(yIdentity.toString(), yId.toString());

  // X's first datagram to Y crosses the roots: root A (which holds X) forwards it to root B (which holds Y).
  const got = new Promise<{ via: string; hops: number; text: string }>((resolve) =>
    y.on('packet', (p) => {
      if (p.source === xId.address && p.verb === Verb.USER_MESSAGE) resolve({ via: p.via, hops: p.hops, text: new TextDecoder().decode(p.payload) });
    }),
  );
  await x.send(yId.address, Verb.USER_MESSAGE, new TextEncoder().encode('hello across roots'));
  const first = await Promise.race([got, new Promise<never>((_, rej) => setTimeout(() => rej(new Error('Y never received X\'s datagram')), 5000))]);
  assert.deepEqual(first, { via: 'relayed', hops: 2, text: 'hello across roots' }, 'relayed by root A, then root B');

  // Both roots introduced their own leaf to the other (RENDEZVOUS): the pair goes direct.
  const vias: string[] = [];
  for (let i = 0; i < 20 && vias.at(-1) !== 'direct'; i++) {
    try {
      vias.push((await y.ping(xId.address, 1500)).via);
    } catch {
      vias.push('lost');
    }
  }
  assert.equal(vias.at(-1), 'direct', `the pair went direct after RENDEZVOUS: ${vias.join(' ')}`);
  assert.equal(x.peerInfo(yId.address)?.paths.some((p) => p.alive), true);
});

test('two processes holding one root identity behave as one root: a leaf on each meets the other', { skip, timeout: 60_000 }, async (t) => {
  const ids = readVectorJson<{ identities: { secret_string: string }[] }>('identities.json').identities.map((i) => Identity.fromString(i.secret_string));
  const rootId = ids[11]!;
  const [xId, yId] = [ids[12]!, ids[13]!];
  const ports = [await freeUdpPort(), await freeUdpPort()];
  const key = c25519Generate();
  // One root, two endpoints: two machines (here processes) share its identity.
  const world = signWorld(
    { type: 'planet', id: 0x5eed0e11n, timestamp: Date.now(), updatesMustBeSignedBy: key.publicKey, roots: [{ identity: rootId.publicOnly(), stableEndpoints: ports.map((port) => ({ family: 4 as const, ip: '127.0.0.1', port })) }] },
    key,
  );
  const planet = serializeWorld(world);
  const redis = await RedisServer.start();
  const procs: ChildProcess[] = [];
  const nodes: Vl1Node[] = [];
  t.after(async () => {
    for (const n of nodes) await n.stop();
    for (const p of procs) p.kill('SIGTERM');
    await Promise.all(procs.map((p) => (p.exitCode === null ? once(p, 'exit') : Promise.resolve())));
    await redis.stop();
  });
  for (const [i, port] of ports.entries()) {
    const dir = mkdtempSync(join(tmpdir(), `ztroot-same-${i}-`));
    writeFileSync(join(dir, 'identity.secret'), rootId.toString(true), { mode: 0o600 });
    writeFileSync(join(dir, 'planet'), planet);
    // Both machines of the root on one host: each serves only its own port.
    const p = spawn(process.execPath, [CLI, 'start', '--state-dir', dir, '--bind4', '127.0.0.1', '--bind6', 'none', '--port', String(port), '--http', 'none', '--fleet-redis', redis.url, '--root-id', `machine-${i}`, '--serve-planet-ports', 'false'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    procs.push(p);
    await watchJsonLines(p, `machine-${i}`).waitFor((x) => x.msg === 'root started' || x.msg === 'root listening', 15_000, 'root started');
  }
  // Each leaf reaches the root at one endpoint only (a planet trimmed to it).
  const at = (i: number): World => ({ ...world, roots: [{ ...world.roots[0]!, stableEndpoints: [world.roots[0]!.stableEndpoints[i]!] }] });
  const x = new Vl1Node({ identity: xId, planet: at(0), bind: { address: '127.0.0.1', port: 0 }, helloRetryMs: 500 });
  const y = new Vl1Node({ identity: yId, planet: at(1), bind: { address: '127.0.0.1', port: 0 }, helloRetryMs: 500 });
  nodes.push(x, y);
  await x.start();
  await y.start();
  await Promise.all([x.whenOnline(15_000), y.whenOnline(15_000)]);
  assert.equal((await x.whois(yId.address, 10_000)).toString(), yId.toString(), 'machine 0 answers WHOIS for a peer of machine 1');
  const got = new Promise<{ via: string; hops: number }>((resolve) =>
    y.on('packet', (p) => {
      if (p.source === xId.address && p.verb === Verb.USER_MESSAGE) resolve({ via: p.via, hops: p.hops });
    }),
  );
  await x.send(yId.address, Verb.USER_MESSAGE, new TextEncoder().encode('same root, other machine'));
  const first = await Promise.race([got, new Promise<never>((_, rej) => setTimeout(() => rej(new Error('Y never received X\'s datagram')), 5000))]);
  assert.deepEqual(first, { via: 'relayed', hops: 2 }, 'forwarded from one machine of the root to the other');
});
