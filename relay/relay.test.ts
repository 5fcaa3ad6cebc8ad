import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Relay, type RelayPeer } from './relay.js';
import { writeU40 } from '../vl1/bytes.js';

class P implements RelayPeer {
  ip4 = '192.0.0.2';
  port4 = 9993;
  ip6 = '';
  port6 = 0;
  readonly lo30: number;
  readonly hi10: number;
  constructor(readonly address: number, public family: 0 | 4 | 6 = 4) {
    this.lo30 = address % 2 ** 30;
    this.hi10 = Math.floor(address / 2 ** 30);
  }
  bestFamily(): 0 | 4 | 6 {
    return this.family;
  }
}

function setup(opts = {}) {
  const peers = new Map<number, P>([[0x0a0a0a0a0a, new P(0x0a0a0a0a0a)], [0x0b0b0b0b0b, new P(0x0b0b0b0b0b)], [0x0c0c0c0c0c, new P(0x0c0c0c0c0c, 0)]]);
  const sent: Array<[Uint8Array, number, number]> = [];
  const unites: Array<[number, number]> = [];
  const drops: string[] = [];
  const relay = new Relay<P>(opts, {
    lookupAt: (b, o) => peers.get(b[o]! * 2 ** 32 + ((b[o + 1]! << 24) >>> 0) + (b[o + 2]! << 16) + (b[o + 3]! << 8) + b[o + 4]!),
    send: (buf, peer, family) => sent.push([buf.slice(), peer.address, family]),
    unite: (a, b) => unites.push([a.address, b.address]),
    drop: (r) => drops.push(r),
  });
  return { relay, sent, unites, drops };
}

function packet(dest: number, src: number, hops: number): Uint8Array {
  const b = new Uint8Array(40).fill(0x5a);
  writeU40(b, 8, dest);
  writeU40(b, 13, src);
  b[18] = 0x18 | hops; // suite 3 + hops
  return b;
}

function fragment(dest: number, hops: number): Uint8Array {
  const b = new Uint8Array(30).fill(0x11);
  writeU40(b, 8, dest);
  b[13] = 0xff;
  b[14] = 0x21; // 2 fragments, this is number 1
  b[15] = hops;
  return b;
}

test('forwards with only the hop count changed; introduces a pair on the first hop, once per interval', () => {
  const { relay, sent, unites } = setup({ uniteIntervalMs: 30_000 });
  const p = packet(0x0b0b0b0b0b, 0x0a0a0a0a0a, 0);
  assert.equal(relay.forward(p.slice(), 1000), true);
  const expect = p.slice();
  expect[18] = 0x19;
  assert.deepEqual(sent[0], [expect, 0x0b0b0b0b0b, 4]);
  assert.deepEqual(unites, [[0x0a0a0a0a0a, 0x0b0b0b0b0b]]);
  relay.forward(packet(0x0a0a0a0a0a, 0x0b0b0b0b0b, 0), 1029); // reverse direction, 29 s later: same pair
  assert.equal(unites.length, 1);
  relay.forward(packet(0x0b0b0b0b0b, 0x0a0a0a0a0a, 0), 1030); // 30 s: again
  assert.equal(unites.length, 2);
  relay.forward(packet(0x0b0b0b0b0b, 0x0a0a0a0a0a, 1), 5000); // not a first hop: no introduction
  assert.equal(unites.length, 2);
  relay.expire(1030 + 30, 30_000);
  relay.forward(packet(0x0b0b0b0b0b, 0x0a0a0a0a0a, 0), 1061);
  assert.equal(unites.length, 3, 'an expired record lets the pair be introduced again');
});

test('drops: hop limit, unknown destination, no live path, runts, malformed fragments — each counted', () => {
  const { relay, sent, drops } = setup();
  assert.equal(relay.forward(packet(0x0b0b0b0b0b, 0x0a0a0a0a0a, 3), 0), false);
  assert.equal(relay.forward(packet(0x0d0d0d0d0d, 0x0a0a0a0a0a, 0), 0), false);
  assert.equal(relay.forward(packet(0x0c0c0c0c0c, 0x0a0a0a0a0a, 0), 0), false);
  assert.equal(relay.forward(new Uint8Array(20), 0), false);
  assert.equal(relay.forward(fragment(0x0b0b0b0b0b, 0x09), 0), false);
  assert.deepEqual(drops, ['hop_limit', 'unknown_destination', 'no_path', 'runt', 'bad_fragment']);
  assert.equal(sent.length, 0);
});

test('fragments are forwarded with their own hop byte bumped and never introduce', () => {
  const { relay, sent, unites } = setup({ maxHops: 2 });
  const f = fragment(0x0b0b0b0b0b, 1);
  assert.equal(relay.forward(f, 0), true);
  assert.equal(sent[0]![0][15], 2);
  assert.equal(relay.forward(fragment(0x0b0b0b0b0b, 2), 0), false, 'maxHops applies to fragments too');
  assert.equal(unites.length, 0);
});
