import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { PeerTable, RootPeer } from './peer-table.js';
import { Identity } from '../vl1/identity.js';
import { PeerKey } from '../vl1/peer-key.js';
import { formatAddress } from '../vl1/address.js';
import { writeU40 } from '../vl1/bytes.js';

const key = new PeerKey(new Uint8Array(48));
const pub = '00'.repeat(64);
const peer = (a: number) => new RootPeer(Identity.fromString(`${formatAddress(a)}:0:${pub}`), key);
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

test('the table behaves as a Map<address, peer> under random operations', () => {
  fc.assert(
    fc.property(
      fc.array(fc.tuple(fc.constantFrom('set', 'delete'), fc.integer({ min: 1, max: 40 }), fc.integer({ min: 0, max: 3 })), { maxLength: 200 }),
      (ops) => {
        const t = new PeerTable();
        const m = new Map<number, RootPeer>();
        for (const [op, low, high] of ops) {
          const a = high * 0x40000000 + low; // few distinct low parts: many chains
          if (op === 'set') {
            const p = peer(a);
            t.set(p);
            m.set(a, p);
          } else assert.equal(t.delete(a), m.delete(a));
        }
        assert.equal(t.size, m.size);
        for (const [a, p] of m) {
          assert.equal(t.get(a), p);
          assert.equal(t.getAt(at(a), 8), p);
        }
        assert.equal([...t.values()].length, m.size);
      },
    ),
    { seed: 3, numRuns: 200 },
  );
});

test('expire removes exactly the peers silent for the timeout', () => {
  const t = new PeerTable();
  const a = peer(0x1111111111);
  const b = peer(0x2222222222);
  a.heardFrom(4, '192.0.0.2', 9993, 0, 1000);
  b.heardFrom(4, '192.0.0.3', 9993, 0, 5000);
  t.set(a);
  t.set(b);
  assert.equal(t.expire(501_000, 500_000), 1);
  assert.equal(t.get(a.address), undefined);
  assert.equal(t.get(b.address), b);
});
