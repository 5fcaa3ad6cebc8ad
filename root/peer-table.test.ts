import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { PeerTable, RootPeer } from './peer-table.js';
import { Identity } from '../vl1/identity.js';
import { PeerKey } from '../vl1/peer-key.js';
import { formatAddress } from '../vl1/address.js';
import { writeU40 } from '../vl1/bytes.js';

const key = new PeerKey(new Uint8Array(48));
const idOf = (a: number, pub = '00'.repeat(64)) => Identity.fromString(`${formatAddress(a)}:0:${pub}`);
const peer = (a: number) => new RootPeer(idOf(a), key);
const at = (a: number) => {
  const b = new Uint8Array(13);
  writeU40(b, 8, a);
  return b;
};

test('addresses sharing their low 30 bits are kept apart, found by number and by bytes, and removed cleanly', () => {
  const t = new PeerTable();
  const lows = [0x0123456789, 0x4123456789, 0x8123456789, 0xfe23456789 & 0xffffffffff]; // same low 30 bits
  for (const a of lows) t.set(peer(a));
  assert.equal(t.size, 4);
  for (const a of lows) {
    assert.equal(t.get(a)?.address, a);
    assert.equal(t.getAt(at(a), 8)?.address, a);
  }
  assert.equal(t.delete(lows[1]!), true);
  assert.equal(t.delete(lows[1]!), false);
  assert.equal(t.get(lows[1]!), undefined);
  assert.deepEqual([...t.values()].map((p) => p.address).sort(), [lows[0], lows[2], lows[3]].sort());
  t.set(peer(lows[2]!)); // replacing keeps one entry
  assert.equal(t.size, 3);
});

test('a record keeps identity, keys, paths and versions; the key is rebuilt from its stored bytes once evicted', () => {
  const t = new PeerTable({ keyCacheSize: 2 });
  const pub = randomBytes(64).toString('hex');
  const k48 = new Uint8Array(randomBytes(48));
  const p = t.insert(idOf(0x1a2b3c4d5e, pub), new PeerKey(k48), 5000);
  assert.equal(p.lastReceive, 5000);
  assert.equal(p.identity.toString(), `1a2b3c4d5e:0:${pub}`);
  assert.equal(p.hasIdentity(idOf(0x1a2b3c4d5e, pub)), true);
  assert.equal(p.hasIdentity(idOf(0x1a2b3c4d5e)), false);
  p.heardFrom(4, '192.0.2.7', 9993, 1, 6000);
  p.heardFrom(6, '2001:db8::7', 21000, 2, 7000);
  p.protocolVersion = 12;
  p.versionRevision = 4000;
  assert.deepEqual([p.ip4, p.port4, p.sock4, p.ip6, p.port6, p.sock6, p.lastReceive, p.suite, p.versionRevision], ['192.0.2.7', 9993, 1, '2001:db8::7', 21000, 2, 7000, 3, 4000]);
  const k = p.key;
  assert.equal(p.key, k, 'a cached key is the same object');
  for (let a = 1; a <= 4; a++) void t.insert(idOf(a), key).key; // pushes p's key out of the 2-entry cache
  const stats = t.keyCacheStats;
  assert.equal(stats.size, 2);
  assert.notEqual(p.key, k);
  assert.deepEqual(p.key.key48, k48);
  assert.deepEqual(p.key.k1, k.k1);
});

test('slots of removed peers are reused; a handle held across the removal is dead, never the new peer', () => {
  const t = new PeerTable({ initialCapacity: 4 });
  const a = t.insert(idOf(0x1111111111), key);
  a.heardFrom(4, '192.0.2.1', 1, 0, 1000);
  const slot = a.s;
  assert.equal(t.delete(a.address), true);
  assert.equal(a.alive, false);
  assert.equal(a.bestFamily(0), 0);
  assert.throws(() => a.key, /removed/);
  const b = t.insert(idOf(0x2222222222), key);
  assert.equal(b.s, slot, 'the freed slot is taken first');
  assert.notEqual(b, a);
  assert.equal(b.ip4, '', 'nothing of the previous peer remains');
  assert.equal(b.lastReceive, 0);
  assert.equal(t.capacity, 4);
});

test('the table grows past its capacity and keeps every peer and handle (columns on SharedArrayBuffers when asked)', () => {
  const t = new PeerTable({ initialCapacity: 1, shared: true });
  const held: RootPeer[] = [];
  for (let a = 1; a <= 1000; a++) {
    const p = t.insert(idOf(a * 7919), key);
    p.heardFrom(4, `10.0.${a >> 8}.${a & 255}`, a, 0, a);
    held.push(p);
  }
  assert.equal(t.size, 1000);
  assert.equal(t.capacity, 1024);
  assert.ok(t.rx4.buffer instanceof SharedArrayBuffer && t.pub.buffer instanceof SharedArrayBuffer);
  for (const p of held) {
    assert.equal(t.get(p.address), p);
    assert.equal(p.port4, p.address / 7919);
  }
});

test('expire removes exactly the peers silent for the timeout', () => {
  const t = new PeerTable();
  const a = t.set(peer(0x1111111111));
  const b = t.set(peer(0x2222222222));
  a.heardFrom(4, '192.0.0.2', 9993, 0, 1000);
  b.heardFrom(4, '192.0.0.3', 9993, 0, 5000);
  assert.equal(t.expire(501_000, 500_000), 1);
  assert.equal(t.get(a.address), undefined);
  assert.equal(t.get(b.address), b);
});

test('the table behaves as a Map<address, peer> under random operations (small tables: long probe runs)', () => {
  fc.assert(
    fc.property(
      fc.array(fc.tuple(fc.constantFrom('set', 'delete', 'expire'), fc.integer({ min: 1, max: 40 }), fc.integer({ min: 0, max: 3 })), { maxLength: 200 }),
      fc.integer({ min: 1, max: 8 }),
      (ops, cap) => {
        const t = new PeerTable({ initialCapacity: cap, keyCacheSize: 3 });
        const m = new Map<number, { p: RootPeer; heard: number }>();
        let clock = 0;
        for (const [op, low, high] of ops) {
          const a = high * 0x40000000 + low; // few distinct low parts
          clock++;
          if (op === 'set') {
            const p = t.insert(idOf(a), key, clock);
            const old = m.get(a)?.p;
            if (old !== undefined) assert.equal(old.alive, false);
            m.set(a, { p, heard: clock });
          } else if (op === 'delete') assert.equal(t.delete(a), m.delete(a));
          else {
            let gone = 0;
            for (const [x, e] of m) if (clock - e.heard >= low) (m.delete(x), gone++);
            assert.equal(t.expire(clock, low), gone);
          }
        }
        assert.equal(t.size, m.size);
        for (const [a, { p }] of m) {
          assert.equal(t.get(a), p);
          assert.equal(t.getAt(at(a), 8), p);
          assert.equal(p.address, a);
        }
        assert.equal([...t.values()].length, m.size);
      },
    ),
    { seed: 3, numRuns: 300 },
  );
});
