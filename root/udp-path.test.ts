/**
 * The root on the batched UDP path (relay/udp-socket.ts): datagrams are views into a receive buffer that the next
 * batch overwrites, so nothing the root keeps past onDatagram may point into it. (Every other root test runs on
 * whichever path is active: test/run-tests.mjs runs the UDP-facing files on both.)
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { randomBytes } from 'node:crypto';
import { Identity } from '../vl1/identity.js';
import { c25519Generate } from '../vl1/c25519.js';
import { openPacket } from '../vl1/packet.js';
import { decodeOk } from '../vl1/verbs/ok.js';
import { signWorld, serializeWorld, parseWorlds } from '../planet/world.js';
import { RootServer } from './root-server.js';
import { readVectorJson } from '../test/vectors.js';
import { RawClient } from '../test/raw-vl1-client.js';

const ids: Identity[] = readVectorJson<{ identities: { secret_string: string }[] }>('identities.json').identities.map((i) => Identity.fromString(i.secret_string));
const [rootId, aId] = ids as [Identity, Identity];
const key = c25519Generate();
const endpoints = [{ family: 4 as const, ip: '192.0.0.1', port: 9993 }];
const planet = signWorld({ type: 'planet', id: 0x5eed0099n, timestamp: 1_700_000_000_000, updatesMustBeSignedBy: key.publicKey, roots: [{ identity: rootId.publicOnly(), stableEndpoints: endpoints }] }, key);
const moon = signWorld({ type: 'moon', id: 0xfeedbeef01n, timestamp: 1_700_000_005_000, updatesMustBeSignedBy: key.publicKey, roots: [{ identity: rootId.publicOnly(), stableEndpoints: endpoints }] }, key);

test('a new identity HELLO waiting for validation keeps its moon list while later datagrams reuse the receive buffer', async () => {
  let release!: () => void;
  const validated = new Promise<void>((r) => (release = r));
  const root = new RootServer(
    { port: 0, bind4: '127.0.0.1', bind6: null },
    { identity: rootId, planet: serializeWorld(planet), moons: [serializeWorld(moon)], validator: { validate: async () => (await validated, true) } },
  );
  await root.start();
  const a = await new RawClient(aId, { root: rootId, port: () => root.port, planetId: planet.id, planetTimestamp: planet.timestamp }).open();
  const junk = dgram.createSocket('udp4');
  try {
    a.send(a.hello({ moons: [{ id: moon.id, timestamp: 0 }] }));
    for (let i = 0; i < 200 && (root.counters.get('hello_queued_for_validation') ?? 0) === 0 && !validatingStarted(root); i++) await sleep(5);
    // Large datagrams for nobody: they land in the receive slots the HELLO was read into.
    const drops = (): number => [...root.counters].filter(([k]) => k.startsWith('drop_')).reduce((s, [, v]) => s + v, 0);
    const before = drops();
    for (let i = 0; i < 300; i++) junk.send(randomBytes(1400), root.port, '127.0.0.1');
    for (let i = 0; i < 400 && drops() < before + 300; i++) await sleep(5);
    release();
    const reply = await a.next(5000);
    assert.ok(reply, 'no OK(HELLO)');
    const ok = decodeOk(openPacket(reply, a.keyWith(rootId)).payload);
    assert.ok(ok.kind === 'HELLO');
    assert.deepEqual(parseWorlds(ok.worldUpdates ?? new Uint8Array(0)).map((w) => w.id), [moon.id], 'the moon the client asked about');
    assert.equal(root.counters.get('drop_hello_bad_moon_list') ?? 0, 0);
  } finally {
    junk.close();
    a.close();
    await root.stop();
  }
});

function validatingStarted(root: RootServer): boolean {
  return (root as unknown as { validating: Map<number, unknown> }).validating.size > 0;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
