/**
 * 1.14's secondary-port re-pick (leaf/secondary-port.ts): the policy on its own, the sockets moving
 * (leaf/udp.ts replacePort), and a leaf whose roots never answer moving its random secondary port — but not a
 * port fixed in local.conf.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { c25519Generate } from '../vl1/c25519.js';
import { Identity } from '../vl1/identity.js';
import { serializeWorld, signWorld } from '../planet/world.js';
import { SecondaryPortRepick } from './secondary-port.js';
import { UdpSockets } from './udp.js';
import { UDP_PATHS as PATHS } from '../test/leaf-udp-paths.js';
import { Leaf } from './leaf.js';
import { portIsFree } from './leaf-ports.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('policy: due after the threshold offline, never while online, and the clock restarts after each re-pick', () => {
  const r = new SecondaryPortRepick(120_000, 0);
  assert.equal(r.due(false, 119_999), false);
  assert.equal(r.due(false, 120_000), true);
  assert.equal(r.due(false, 200_000), false, 'the next one waits a full period again');
  assert.equal(r.due(false, 240_000), true);
  assert.equal(r.due(true, 500_000), false);
  assert.equal(r.due(false, 600_000), false, 'online until 500 s: 100 s offline is not enough');
  assert.equal(r.due(false, 620_000), true);
});

async function send(port: number, text: string): Promise<void> {
  const s = createSocket('udp4');
  await new Promise<void>((r) => s.send(text, port, '127.0.0.1', () => r()));
  s.close();
}


for (const { name, opener, skip } of PATHS) {
  test(`${name}: replacePort: the extra port moves (the new one receives, the old one is free), the primary stays; a busy new port changes nothing`, { skip }, async () => {
    const got: string[] = [];
    const udp = new UdpSockets({ onDatagram: (d) => void got.push(Buffer.from(d).toString()), log: undefined, opener });
    const blocker = createSocket('udp4');
    try {
      await udp.open('127.0.0.1', 0, [0]);
      const [primary, extra] = udp.bound().map((a) => a.port) as [number, number];
      await new Promise<void>((r) => blocker.bind(0, '127.0.0.1', () => r()));
      const busy = blocker.address().port;
      await assert.rejects(udp.replacePort(extra, busy), { code: 'EADDRINUSE' });
      assert.deepEqual(udp.bound().map((a) => a.port), [primary, extra], 'a failed move leaves the ports as they were');

      let next = 0;
      for (let p = 40000; p < 40100 && next === 0; p++) if (p !== extra && (await portIsFree(p, '127.0.0.1'))) next = p;
      await udp.replacePort(extra, next);
      assert.deepEqual(udp.bound().map((a) => a.port), [primary, next]);
      assert.equal(await portIsFree(extra, '127.0.0.1'), true, 'the old port is closed');
      await send(next, 'to-new');
      await send(primary, 'to-primary');
      const deadline = Date.now() + 2000;
      while (got.length < 2 && Date.now() < deadline) await sleep(10);
      assert.deepEqual(got.sort(), ['to-new', 'to-primary']);
    } finally {
      blocker.close();
      await udp.close();
    }
  });
}

/** A home whose one root (192.0.2.1, TEST-NET-1) never answers: the leaf stays offline. */
function offlineHome(settings: object): string {
  const home = mkdtempSync(join(tmpdir(), 'ztroot-secondary-'));
  const key = c25519Generate();
  const world = signWorld(
    { type: 'planet', id: 0x5eedf1ee7n, timestamp: Date.now(), updatesMustBeSignedBy: key.publicKey, roots: [{ identity: Identity.generate().publicOnly(), stableEndpoints: [{ family: 4, ip: '192.0.2.1', port: 9993 }] }] },
    key,
  );
  writeFileSync(join(home, 'planet'), serializeWorld(world));
  writeFileSync(join(home, 'local.conf'), JSON.stringify({ settings: { primaryPort: 0, portMappingEnabled: false, bind: ['127.0.0.1'], ...settings } }));
  return home;
}

test('a leaf offline past the threshold moves its random secondary port; a secondary port fixed in local.conf stays', async () => {
  const random = offlineHome({});
  let fixedPort = 0;
  for (let p = 41000; p < 41100 && fixedPort === 0; p++) if (await portIsFree(p, '127.0.0.1')) fixedPort = p;
  const fixed = offlineHome({ secondaryPort: fixedPort });
  const opts = { apiHostPolicy: null, openTap: () => Promise.reject(new Error('no TAP in this test')), portMapping: false as const, secondaryRepickAfterMs: 600, tickMs: 100 };
  const a = await Leaf.start({ home: random, ...opts });
  const b = await Leaf.start({ home: fixed, ...opts });
  try {
    assert.equal(a.node.online, false);
    const first = a.ports.secondary;
    assert.notEqual(first, 0);
    assert.equal(b.ports.secondary, fixedPort);
    const deadline = Date.now() + 5000;
    while (a.ports.secondary === first && Date.now() < deadline) await sleep(50);
    const moved = a.ports.secondary;
    assert.notEqual(moved, first, 'the random secondary port moved');
    assert.ok(a.node.boundAddresses.some((x) => x.port === moved), 'the new port is bound');
    assert.ok(!a.node.boundAddresses.some((x) => x.port === first), 'the old port is not');
    const before = a.node.stats.datagramsIn;
    await send(moved, 'hello?');
    const until = Date.now() + 2000;
    while (a.node.stats.datagramsIn === before && Date.now() < until) await sleep(10);
    assert.equal(a.node.stats.datagramsIn, before + 1, 'a datagram to the new port reaches the node');
    assert.equal(b.ports.secondary, fixedPort, 'a fixed secondary port stays');
    assert.ok(b.node.boundAddresses.some((x) => x.port === fixedPort));
  } finally {
    await a.stop();
    await b.stop();
    rmSync(random, { recursive: true, force: true });
    rmSync(fixed, { recursive: true, force: true });
  }
});
