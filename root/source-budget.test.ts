/**
 * Per-source budgets before decryption (root/source-budget.ts), alone and in a RootServer on real UDP sockets
 * (loopback: 127.0.0.0/8 gives each client its own source address without a namespace).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { once } from 'node:events';
import { randomBytes } from 'node:crypto';
import { hostPrefixKey, SourceBudget } from './source-budget.js';
import { RootServer } from './root-server.js';
import { IdentityValidator } from './identity-validator.js';
import { Identity } from '../vl1/identity.js';
import { PeerKey } from '../vl1/peer-key.js';
import { Verb } from '../vl1/constants.js';
import { openPacket, sealPacket } from '../vl1/packet.js';
import { encodeWhois } from '../vl1/verbs/whois.js';
import { decodeOk } from '../vl1/verbs/ok.js';
import { c25519Generate } from '../vl1/c25519.js';
import { ZtErrorCode } from '../vl1/errors.js';
import { serializeWorld, signWorld } from '../planet/world.js';
import { readVectorJson } from '../test/vectors.js';
import { helloPacket, invalidIdentity, type FloodTarget } from '../test/flood/packets.js';
import { extendedArmor, armor, buildPacket, cryptField } from '../vl1/packet.js';
import { encodeHello, encodeHelloMoons } from '../vl1/verbs/hello.js';

test('host keys: an IPv4 address as it is (mapped too), an IPv6 /64; sites are /24 and /48', () => {
  assert.equal(hostPrefixKey('192.0.2.7'), '192.0.2.7');
  assert.equal(hostPrefixKey('::ffff:192.0.2.7'), '192.0.2.7');
  assert.equal(hostPrefixKey('2001:db8:1:2:aaaa:bbbb:cccc:dddd'), '2001:db8:1:2::/64');
  assert.equal(hostPrefixKey('2001:db8:1:2::1%eth0'), '2001:db8:1:2::/64');
  for (const bad of ['', 'example.com', '1.2.3', '2001:db8::1::2', 'x'.repeat(200)]) assert.equal(hostPrefixKey(bad), null, bad);
});

test('a host gets its burst then its rate; other hosts are not affected', () => {
  const b = new SourceBudget({ hostBurst: 5, hostPerSecond: 10 });
  let t = 0;
  const allowed = (ip: string, n: number) => Array.from({ length: n }, () => b.allowDatagram(ip, t)).filter(Boolean).length;
  assert.equal(allowed('192.0.2.1', 20), 5);
  assert.equal(allowed('192.0.2.2', 20), 5, 'another host has its own budget');
  t += 1000;
  assert.equal(allowed('192.0.2.1', 50), 5, 'refilled at 10/s, capped at the burst');
  assert.equal(b.denied.host, 15 + 15 + 45);
  assert.equal(allowed('garbage', 1), 0, 'an address that does not parse is refused');
});

test('one /48 counts as one site: its 65,536 /64s share the site budget', () => {
  const b = new SourceBudget({ hostBurst: 10, hostPerSecond: 10, siteBurst: 40, sitePerSecond: 40 });
  let opened = 0;
  for (let i = 0; i < 200; i++) for (let j = 0; j < 5; j++) if (b.allowDatagram(`2001:db8:7:${i.toString(16)}::1`, 0)) opened++;
  assert.equal(opened, 40, 'the /48 as a whole, not 200 × the host budget');
  assert.equal(b.allowDatagram('2001:db8:8::1', 0), true, 'another /48 is another site');
  // IPv4: a /24 is a site.
  let v4 = 0;
  for (let i = 1; i < 250; i++) if (b.allowDatagram(`198.51.100.${i}`, 0)) v4++;
  assert.equal(v4, 40);
});

test('bad options are BAD_CONFIG', () => {
  for (const o of [{ hostPerSecond: 0 }, { siteBurst: -1 }, { agreementBurst: Number.NaN }]) {
    assert.throws(() => new SourceBudget(o), { code: ZtErrorCode.BAD_CONFIG });
  }
});

// ---- in a root -------------------------------------------------------------------------------------------------

const ids = readVectorJson<{ identities: Array<{ secret_string: string }> }>('identities.json').identities.map((i) => Identity.fromString(i.secret_string));
const [rootId, aId, bId, cId] = ids as [Identity, Identity, Identity, Identity];
const planetKey = c25519Generate();
const world = signWorld(
  { type: 'planet', id: 0x5eedb0dn, timestamp: 1_700_000_000_000, updatesMustBeSignedBy: planetKey.publicKey, roots: [{ identity: rootId.publicOnly(), stableEndpoints: [{ family: 4, ip: '192.0.0.1', port: 9993 }] }] },
  planetKey,
);
let validator: IdentityValidator;
let server: RootServer;
let target: FloodTarget;

before(async () => {
  validator = new IdentityValidator({ workers: 1 });
  server = new RootServer(
    {
      port: 0,
      bind4: '127.0.0.1',
      bind6: null,
      sourceBudget: { hostBurst: 50, hostPerSecond: 5, agreementBurst: 3, agreementsPerSitePerSecond: 0.5 },
      newIdentityBurst: 2,
      newIdentityIntervalMs: 60_000,
    },
    { identity: rootId, planet: serializeWorld(world), validator },
  );
  await server.start();
  target = { identity: rootId.toString(), ip: '127.0.0.1', port: server.port, planetId: world.id.toString(), planetTimestamp: world.timestamp };
});
after(async () => {
  await server.stop();
  await validator.close();
});

const counter = (name: string) => server.counters.get(name) ?? 0;

async function socketAt(ip: string): Promise<dgram.Socket & { inbox: Buffer[] }> {
  const s = dgram.createSocket('udp4') as dgram.Socket & { inbox: Buffer[] };
  s.inbox = [];
  s.on('message', (m) => s.inbox.push(m));
  s.bind(0, ip);
  await once(s, 'listening');
  return s;
}

async function until(cond: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}

test('a flood from one address is cut off before decryption; forging a victim\'s address from elsewhere does not cut the victim off', async () => {
  const victim = await socketAt('127.0.0.2');
  const attacker = await socketAt('127.0.0.3');
  try {
    victim.send(helloPacket(aId, target, rootId), server.port, '127.0.0.1');
    await until(() => victim.inbox.length > 0);
    const key = new PeerKey(aId.agree(rootId));
    // The attacker writes the victim's ZeroTier address as the source: a budget keyed by it would now be spent.
    const forged = sealPacket({ dest: rootId.address, source: aId.address, verb: Verb.WHOIS, payload: encodeWhois({ addresses: [rootId.address] }) }, new PeerKey(new Uint8Array(randomBytes(48))), 3);
    const budgetDrops = counter('drop_source_budget');
    const macDrops = counter('drop_bad_mac');
    for (let i = 0; i < 300; i++) attacker.send(forged, server.port, '127.0.0.1');
    await until(() => counter('drop_source_budget') - budgetDrops + counter('drop_bad_mac') - macDrops >= 300);
    const opened = counter('drop_bad_mac') - macDrops;
    assert.ok(opened <= 52, `${opened} of the attacker's datagrams were opened (budget: a burst of 50)`);
    // The victim, from its own address, is still answered.
    victim.inbox.length = 0;
    victim.send(sealPacket({ dest: rootId.address, source: aId.address, verb: Verb.WHOIS, payload: encodeWhois({ addresses: [rootId.address] }) }, key, 3), server.port, '127.0.0.1');
    await until(() => victim.inbox.length > 0);
    assert.equal(decodeOk(openPacket(new Uint8Array(victim.inbox[0]!), key).payload).kind, 'WHOIS');
  } finally {
    victim.close();
    attacker.close();
  }
});

test('a HELLO replaying an identity already found invalid is dropped from the verdict cache: no agreement, no gate spent', async () => {
  const s = await socketAt('127.0.1.2');
  try {
    const bad = invalidIdentity();
    const hello = helloPacket(bad, target, rootId);
    s.send(hello, server.port, '127.0.0.1');
    await until(() => counter('drop_identity_invalid') >= 1);
    const known = counter('drop_identity_known_invalid');
    const gated = counter('drop_new_identity_rate_limited');
    for (let i = 0; i < 20; i++) s.send(hello, server.port, '127.0.0.1');
    await until(() => counter('drop_identity_known_invalid') === known + 20);
    assert.equal(counter('drop_new_identity_rate_limited'), gated, 'the replays never reached the new-identity gate');
    // The prefix's gate (a burst of 2 per minute here) still has room for a real newcomer.
    s.send(helloPacket(bId, target, rootId), server.port, '127.0.0.1');
    await until(() => s.inbox.length > 0);
    assert.ok(server.peers.get(bId.address));
  } finally {
    s.close();
  }
});

test('extended armor costs an X25519 before anything is authenticated: it is gated per prefix', async () => {
  const s = await socketAt('127.0.2.2');
  try {
    const tail = encodeHelloMoons([]);
    const extended = () => {
      const payload = encodeHello({ protocolVersion: 12, versionMajor: 1, versionMinor: 14, versionRevision: 1, timestamp: Date.now(), identity: cId.publicOnly(), physicalDestination: null, planetWorldId: world.id, planetWorldTimestamp: world.timestamp, encryptedTail: tail });
      const pkt = buildPacket({ dest: rootId.address, source: cId.address, verb: Verb.HELLO, payload });
      const key = new PeerKey(cId.agree(rootId));
      cryptField(pkt, key, pkt.length - tail.length, tail.length);
      armor(pkt, key, 0, { extendedArmor: true });
      return extendedArmor(pkt, rootId.publicKey);
    };
    const removed = counter('rx_extended_armor');
    const gated = counter('drop_extended_armor_rate_limited');
    for (let i = 0; i < 10; i++) s.send(extended(), server.port, '127.0.0.1');
    await until(() => counter('rx_extended_armor') - removed + counter('drop_extended_armor_rate_limited') - gated === 10);
    assert.equal(counter('rx_extended_armor') - removed, 3, 'the burst of 3 agreements');
    assert.equal(counter('drop_extended_armor_rate_limited') - gated, 7);
    await until(() => s.inbox.length > 0); // and the first one was answered
  } finally {
    s.close();
  }
});
