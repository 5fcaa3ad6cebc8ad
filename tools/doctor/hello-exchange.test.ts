/**
 * The doctor takes an OK(HELLO) only from the root it asked, naming a HELLO it sent, with a MAC made by the key
 * they agree; and reads the planet out of its world updates (compressed, as a root sends a large OK).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Identity } from '../../vl1/identity.js';
import { PeerKey } from '../../vl1/peer-key.js';
import { sealPacket } from '../../vl1/packet.js';
import { Verb } from '../../vl1/constants.js';
import { encodeOk } from '../../vl1/verbs/ok.js';
import { encodeHello } from '../../vl1/verbs/hello.js';
import { parseWorld } from '../../planet/world.js';
import { readVectorBytes, readVectorJson } from '../../test/vectors.js';
import { planetIn, RootPeer } from './hello-exchange.js';

const [me, root, other] = readVectorJson<{ identities: { secret_string: string }[] }>('identities.json').identities.slice(0, 3).map((i) => Identity.fromString(i.secret_string)) as [Identity, Identity, Identity];
const planetBytes = readVectorBytes('planets', 'planet-b-three-roots.bin');
const planet = parseWorld(planetBytes);

function okFrom(sender: Identity, inRe: bigint, worlds: Uint8Array = new Uint8Array(0)): Uint8Array {
  const payload = encodeOk({
    kind: 'HELLO',
    inReVerb: Verb.HELLO,
    inRePacketId: inRe,
    timestampEcho: 1234,
    protocolVersion: 12,
    versionMajor: 1,
    versionMinor: 14,
    versionRevision: 1,
    physicalAddress: { family: 4, ip: '192.0.0.65', port: 31000 },
    worldUpdates: worlds,
  });
  return sealPacket({ dest: me.address, source: sender.address, verb: Verb.OK, payload }, new PeerKey(sender.agree(me)), 1);
}

test('an OK naming our HELLO, from the root, is read: echo, reflected address, the planet it serves', () => {
  const peer = new RootPeer(me, root);
  const { id } = peer.hello({ family: 4, ip: '192.0.0.1', port: 9993 }, planet.id, 1234);
  const ok = peer.readOk(okFrom(root, id, planetBytes), new Map([[id, 1234]]));
  assert.ok(ok !== null);
  assert.equal(ok.timestampEcho, 1234);
  assert.deepEqual(ok.physicalAddress, { family: 4, ip: '192.0.0.65', port: 31000 });
  const served = planetIn(ok, planet.id);
  assert.ok(served !== null);
  assert.deepEqual(served.bytes, planetBytes);
  assert.equal(planetIn(ok, planet.id + 1n), null, 'a planet of another id is not ours to compare');
});

test('anything else is ignored: another packet id, another sender, a broken MAC, a runt', () => {
  const peer = new RootPeer(me, root);
  const { id } = peer.hello({ family: 4, ip: '192.0.0.1', port: 9993 }, planet.id);
  const sent = new Map([[id, 0]]);
  assert.equal(peer.readOk(okFrom(root, id + 1n), sent), null, 'an OK to a HELLO we did not send');
  assert.equal(peer.readOk(okFrom(other, id), sent), null, 'an OK from another node');
  const bad = okFrom(root, id);
  bad[bad.length - 1]! ^= 1;
  assert.equal(peer.readOk(bad, sent), null, 'a broken MAC');
  assert.equal(peer.readOk(new Uint8Array(20), sent), null, 'a runt');
  assert.ok(peer.readOk(okFrom(root, id), sent) !== null, 'and the genuine one still is read');
});

test("the root's clock: read from a HELLO the root sent us; not from anyone else's, nor from a broken one", () => {
  const peer = new RootPeer(me, root);
  const helloFrom = (sender: Identity) => {
    const payload = encodeHello({ protocolVersion: 12, versionMajor: 1, versionMinor: 14, versionRevision: 1, timestamp: 1_796_000_000_123, identity: sender.publicOnly(), physicalDestination: { family: 4, ip: '192.0.0.5', port: 4000 } });
    return sealPacket({ dest: me.address, source: sender.address, verb: Verb.HELLO, payload }, new PeerKey(sender.agree(me)), 0);
  };
  assert.equal(peer.readRootClock(helloFrom(root)), 1_796_000_000_123);
  assert.equal(peer.readRootClock(helloFrom(other)), null);
  const bad = helloFrom(root);
  bad[bad.length - 1]! ^= 1;
  assert.equal(peer.readRootClock(bad), null);
  const { id } = peer.hello({ family: 4, ip: '192.0.0.1', port: 9993 }, planet.id);
  assert.equal(peer.readRootClock(okFrom(root, id)), null, 'an OK is no clock');
});

test('the clock HELLO claims protocol 4 (so the root contacts the path with a HELLO); the others 1.14.1 speaking 12', () => {
  const peer = new RootPeer(me, root);
  const to = { family: 4 as const, ip: '192.0.0.1', port: 9993 };
  assert.equal(peer.hello(to, planet.id).packet[28], 12, 'the protocol version is the first payload byte (suite 0: not encrypted)');
  assert.equal(peer.hello(to, planet.id, Date.now(), { askClock: true }).packet[28], 4);
});

