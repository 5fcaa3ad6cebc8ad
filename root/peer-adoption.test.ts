/**
 * Peer adoption (root/peer-adoption.ts) under attack, on a root in this process over real UDP sockets on loopback,
 * its fleet store in memory (the netns test test/fleet-restart-adoption.test.ts covers Redis, processes and leaves):
 *
 * - the genuine case: a packet of a peer the fleet knows makes the root probe where it came from (a HELLO), and the
 *   peer's authentic OK(HELLO) from there creates it with that path;
 * - forged MACs for a fleet identity: refused as bad_mac, nothing created, nothing sent, and the real peer is still
 *   adopted afterwards;
 * - identities the store lacks, or holds without a validation record: refused (not_in_fleet / not_validated), looked
 *   up once per refusal period however many packets come, nothing sent;
 * - a replayed OK(HELLO) (the answer to an earlier probe) adopts nothing: probe ids are fresh;
 * - a destination the store does not say this root held is not probed, and that refusal does not hold up the
 *   peer's own adoption;
 * - a flood of packets from 1000 unknown sources across 40 prefixes, with a store that answers slowly: adoptions under
 *   way never exceed the bound (queue_full and rate_limited counted), store reads stay bounded, and the event loop
 *   keeps turning (a timer's lateness stays small) while a known peer's relaying continues.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { Identity } from '../vl1/identity.js';
import { PeerKey } from '../vl1/peer-key.js';
import { c25519Generate } from '../vl1/c25519.js';
import { Verb } from '../vl1/constants.js';
import { readU40 } from '../vl1/bytes.js';
import { openPacket, packetId, sealPacket } from '../vl1/packet.js';
import { decodeHello } from '../vl1/verbs/hello.js';
import { encodeOk } from '../vl1/verbs/ok.js';
import { encodeWhois } from '../vl1/verbs/whois.js';
import { signWorld, serializeWorld } from '../planet/world.js';
import { MemoryPeerStore } from '../fleet/memory-store.js';
import { PeerStoreCache } from '../fleet/cached-store.js';
import { RootServer, type IdentityValidatorLike } from './root-server.js';
import { RememberingValidator } from './identity-validator-remembered.js';
import { ValidatedIdentities, validatedIdentityTag } from './validated-identities.js';
import { readVectorJson } from '../test/vectors.js';

const ids = readVectorJson<{ identities: { secret_string: string }[] }>('identities.json').identities.map((i) => Identity.fromString(i.secret_string));
const [rootId, xId, yId, zId, wId] = [ids[0]!, ids[5]!, ids[6]!, ids[7]!, ids[8]!];
const signing = c25519Generate();
const planet = serializeWorld(signWorld({ type: 'planet', id: 0xad0d7n, timestamp: 1, updatesMustBeSignedBy: signing.publicKey, roots: [{ identity: rootId.publicOnly(), stableEndpoints: [{ family: 4, ip: '192.0.0.1', port: 9993 }] }] }, signing));
const dir = mkdtempSync(join(tmpdir(), 'ztroot-adoption-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** Never hashes: adoption must not ask for it (the test fails loudly if it does). */
const noHash: IdentityValidatorLike = { validate: () => Promise.reject(new Error('adoption must not hash')) };

/** A store that counts identity reads and answers them after `delayMs`. */
class SlowStore extends MemoryPeerStore {
  reads = 0;
  delayMs = 0;
  override async getIdentity(address: number): Promise<Identity | undefined> {
    this.reads++;
    if (this.delayMs > 0) await new Promise((r) => setTimeout(r, this.delayMs));
    return super.getIdentity(address);
  }
}

async function fleetRoot(store: SlowStore, name: string) {
  const remembered = ValidatedIdentities.open(join(dir, `${name}-validated`));
  const validator = new RememberingValidator(noHash, remembered);
  validator.useFleet(store);
  const root = new RootServer({ port: 0, bind4: '127.0.0.1', bind6: null, housekeepingMs: 60_000 }, { identity: rootId, planet, validator, fleet: { store, cache: new PeerStoreCache(store), rootId: name, endpoints: [] } });
  await root.start();
  return { root, close: async () => (await root.stop(), remembered.close()) };
}

/** A peer of the fleet known to the store and validated by some root. */
async function inFleet(store: MemoryPeerStore, id: Identity, validated = true): Promise<void> {
  await store.putIdentity(id.publicOnly());
  if (validated) await store.putValidated(validatedIdentityTag(id.publicOnly()));
}

/** A UDP endpoint speaking as `id` (or only listening): answers the root's HELLO probes with OK(HELLO) when asked to. */
class Endpoint {
  readonly sock = dgram.createSocket('udp4');
  readonly got: Uint8Array[] = [];
  readonly okHellos: Uint8Array[] = [];
  answer = true;
  constructor(readonly id: Identity, readonly bind = '127.0.0.1') {
    const key = new PeerKey(id.agree(rootId));
    this.sock.on('message', (m, rinfo) => {
      const d = new Uint8Array(m);
      this.got.push(d);
      if (!this.answer || readU40(d, 13) !== rootId.address || readU40(d, 8) !== id.address) return;
      let opened;
      try {
        opened = openPacket(d.slice(), key);
      } catch {
        return;
      }
      if (opened.verb !== Verb.HELLO) return;
      const h = decodeHello(opened.payload);
      const ok = encodeOk({ kind: 'HELLO', inReVerb: Verb.HELLO, inRePacketId: packetId(d), timestampEcho: h.timestamp, protocolVersion: 12, versionMajor: 1, versionMinor: 14, versionRevision: 1, physicalAddress: { family: 4, ip: rinfo.address, port: rinfo.port } });
      const out = sealPacket({ dest: rootId.address, source: id.address, verb: Verb.OK, payload: ok }, key, 3);
      this.okHellos.push(out);
      this.sock.send(out, rinfo.port, rinfo.address);
    });
  }
  async open(): Promise<this> {
    this.sock.bind(0, this.bind);
    await once(this.sock, 'listening');
    return this;
  }
  get port(): number {
    return this.sock.address().port;
  }
  send(buf: Uint8Array, root: RootServer): void {
    this.sock.send(buf, root.port, '127.0.0.1');
  }
  close(): void {
    this.sock.close();
  }
}

/** A WHOIS from `from` to the root, sealed with `key` (the real one, or a wrong one: a forgery). */
function whois(from: Identity, key: PeerKey): Uint8Array {
  return sealPacket({ dest: rootId.address, source: from.address, verb: Verb.WHOIS, payload: encodeWhois({ addresses: [yId.address] }) }, key, 3);
}

const realKey = (id: Identity) => new PeerKey(id.agree(rootId));
const wrongKey = () => new PeerKey(new Uint8Array(48).fill(7));
const c = (root: RootServer, name: string) => root.counters.get(name) ?? 0;

async function until(what: string, ok: () => boolean, ms = 3000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
const settle = (ms = 200) => new Promise((r) => setTimeout(r, ms));

test('a peer of the fleet is adopted from its own packet once it answers the probe; forged MACs cost nothing and cancel nothing', async () => {
  const store = new SlowStore();
  await inFleet(store, xId);
  const { root, close } = await fleetRoot(store, 'genuine');
  const x = await new Endpoint(xId).open();
  const forger = await new Endpoint(xId).open();
  forger.answer = false;
  try {
    // Forgeries first: a WHOIS "from X" with a MAC under the wrong key, from another socket.
    for (let i = 0; i < 20; i++) forger.send(whois(xId, wrongKey()), root);
    await until('the forgeries refused', () => c(root, 'adoption_refused_bad_mac') >= 1);
    await settle();
    assert.equal(root.peers.get(xId.address), undefined, 'no peer from forged packets');
    assert.equal(forger.got.length, 0, 'nothing sent to the forger');
    assert.equal(c(root, 'peer_adoption_probes'), 0, 'no probe for a forgery');
    assert.equal(store.reads, 1, 'one store read for the lot');

    // X's own packet: probed where it came from, adopted there once its OK(HELLO) answers.
    x.send(whois(xId, realKey(xId)), root);
    await until('X adopted', () => root.peers.get(xId.address) !== undefined);
    const peer = root.peers.get(xId.address)!;
    assert.deepEqual([peer.ip4, peer.port4, peer.protocolVersion, peer.versionMinor], ['127.0.0.1', x.port, 12, 14], 'its path is where it answered from, its versions from the OK(HELLO)');
    assert.equal(c(root, 'peer_adoptions'), 1);
    assert.equal(c(root, 'drop_unknown_peer'), 21, 'the packets that asked were dropped, not held');
  } finally {
    x.close();
    forger.close();
    await close();
  }
});

test('identities the store lacks or holds unvalidated are refused, looked up once, and answered with nothing', async () => {
  const store = new SlowStore();
  await inFleet(store, zId, false); // in the store, but no root recorded validating it
  const { root, close } = await fleetRoot(store, 'refusals');
  const w = await new Endpoint(wId).open(); // not in the store at all
  const z = await new Endpoint(zId).open();
  try {
    for (let i = 0; i < 10; i++) {
      w.send(whois(wId, realKey(wId)), root);
      z.send(whois(zId, realKey(zId)), root);
    }
    await until('both refused', () => c(root, 'adoption_refused_not_in_fleet') === 1 && c(root, 'adoption_refused_not_validated') === 1);
    await settle();
    assert.equal(store.reads, 2, 'one store read per address');
    assert.ok(c(root, 'adoption_refused_recently_refused') + c(root, 'adoption_refused_not_in_fleet') + c(root, 'adoption_refused_not_validated') >= 2);
    assert.equal(w.got.length + z.got.length, 0, 'nothing sent to either');
    assert.equal(root.peers.size, 0);
  } finally {
    w.close();
    z.close();
    await close();
  }
});

test('a replayed OK(HELLO) adopts nothing: each probe asks with a fresh id', async () => {
  const store = new SlowStore();
  await inFleet(store, xId);
  const first = await fleetRoot(store, 'replay-1');
  const x = await new Endpoint(xId).open();
  let recorded: Uint8Array[];
  try {
    x.send(whois(xId, realKey(xId)), first.root);
    await until('X adopted', () => first.root.peers.get(xId.address) !== undefined);
    recorded = [...x.okHellos, whois(xId, realKey(xId))]; // what a capture of X's traffic holds
  } finally {
    await first.close();
  }
  // The root restarts (same identity, same store); an attacker replays X's answer and its WHOIS from its own socket.
  const { root, close } = await fleetRoot(store, 'replay-2');
  const attacker = await new Endpoint(xId).open();
  attacker.answer = false;
  try {
    for (let i = 0; i < 3; i++) {
      for (const p of recorded) attacker.send(p.slice(), root);
      await settle(100);
    }
    await settle(300);
    assert.equal(root.peers.get(xId.address), undefined, 'nothing adopted from replays');
    assert.ok(c(root, 'peer_adoption_probes') >= 1, 'the replayed WHOIS was probed where it came from');
    assert.ok(attacker.got.every((d) => readU40(d, 8) === xId.address && readU40(d, 13) === rootId.address), 'the attacker got only the root\'s own probes');
    // X itself, still where it was: its next packet adopts it.
    x.send(whois(xId, realKey(xId)), root);
    await until('X adopted at its own address', () => root.peers.get(xId.address)?.port4 === x.port);
  } finally {
    x.close();
    attacker.close();
    await close();
  }
});

test('a destination this root never held is not probed, and that refusal does not hold up the peer\'s own adoption', async () => {
  const store = new SlowStore();
  await inFleet(store, xId);
  await inFleet(store, yId);
  const { root, close } = await fleetRoot(store, 'not-held');
  const x = await new Endpoint(xId).open();
  const y = await new Endpoint(yId).open();
  try {
    y.send(whois(yId, realKey(yId)), root);
    await until('Y adopted', () => root.peers.get(yId.address) !== undefined);
    // Y → X through the root: X is in the store, but no location of this root names it (it never held X).
    const yToX = sealPacket({ dest: xId.address, source: yId.address, verb: Verb.ECHO, payload: new Uint8Array(8) }, new PeerKey(yId.agree(xId)), 3);
    // The first datagrams wait for the fleet's location look-up (fleet-forwarding.ts holds them); later ones miss.
    for (let i = 0; i < 10 && c(root, 'adoption_refused_not_held_here') === 0; i++) {
      y.send(yToX.slice(), root);
      await settle(100);
    }
    assert.equal(c(root, 'adoption_refused_not_held_here'), 1, 'refused as not held here, once (then remembered)');
    assert.equal(x.got.length, 0, 'nothing sent towards X');
    // X speaks itself at once: adopted from its own packet, not refused for the destination's sake.
    x.send(whois(xId, realKey(xId)), root);
    await until('X adopted', () => root.peers.get(xId.address) !== undefined);
    assert.equal(c(root, 'adoption_refused_recently_refused'), 0);
  } finally {
    x.close();
    y.close();
    await close();
  }
});

test('a flood of unknown sources is bounded: adoptions under way, store reads, and the event loop keeps turning', { timeout: 30_000 }, async () => {
  const store = new SlowStore();
  store.delayMs = 1500; // a slow store: adoptions pile up
  await inFleet(store, xId);
  await inFleet(store, yId);
  const { root, close } = await fleetRoot(store, 'flood');
  // Two peers the root holds (adopted before the flood), relaying to each other through it.
  const x = await new Endpoint(xId).open();
  const y = await new Endpoint(yId).open();
  store.delayMs = 0;
  x.send(whois(xId, realKey(xId)), root);
  y.send(whois(yId, realKey(yId)), root);
  await until('X and Y adopted', () => root.peers.get(xId.address) !== undefined && root.peers.get(yId.address) !== undefined);
  store.delayMs = 1500;
  const readsBefore = store.reads;
  const senders: dgram.Socket[] = [];
  const lag = monitorEventLoopDelay({ resolution: 10 });
  try {
    for (let n = 0; n < 40; n++) {
      const s = dgram.createSocket('udp4');
      s.bind(0, `127.0.${n + 1}.1`);
      await once(s, 'listening');
      senders.push(s);
    }
    const relayedBefore = c(root, 'relayed');
    lag.enable();
    // 1000 distinct forged sources, 25 per prefix, each a WHOIS with a random MAC; X→Y traffic meanwhile.
    const xToY = sealPacket({ dest: yId.address, source: xId.address, verb: Verb.ECHO, payload: new Uint8Array(8) }, new PeerKey(xId.agree(yId)), 3);
    for (let i = 0; i < 1000; i++) {
      const pkt = whois(xId, wrongKey());
      pkt[13] = 0x10 + (i >> 8); // distinct, valid-looking addresses
      pkt[14] = i & 0xff;
      senders[i % 40]!.send(pkt, root.port, '127.0.0.1');
      if (i % 100 === 0) x.send(xToY, root);
      if (i % 50 === 0) await new Promise((r) => setImmediate(r));
    }
    await settle(500);
    lag.disable();
    const underWay = root.counters;
    const refusals = ['queue_full', 'rate_limited', 'budget'].map((r) => (r === 'budget' ? c(root, 'drop_source_budget') : c(root, `adoption_refused_${r}`)));
    const reads = store.reads - readsBefore;
    const maxLagMs = lag.max / 1e6;
    console.log(`# flood: store reads ${reads}, refusals queue_full ${refusals[0]} rate_limited ${refusals[1]} (source budget drops ${refusals[2]}), drops unknown_peer ${underWay.get('drop_unknown_peer')}, event loop max delay ${maxLagMs.toFixed(1)} ms, relayed X→Y ${c(root, 'relayed') - relayedBefore}`);
    assert.ok(reads <= 256, `store reads bounded by the adoptions allowed under way (${reads})`);
    assert.ok(refusals[0]! + refusals[1]! + refusals[2]! >= 1000 - reads, `the rest refused and counted (${refusals.join(' + ')})`);
    assert.ok(refusals[0]! > 0, 'the bound on adoptions under way was reached and counted');
    assert.ok(maxLagMs < 500, `the event loop kept turning (max delay ${maxLagMs.toFixed(1)} ms)`);
    assert.equal(c(root, 'relayed') - relayedBefore, 10, 'X→Y relaying went on');
  } finally {
    for (const s of senders) s.close();
    x.close();
    y.close();
    await close();
  }
});
