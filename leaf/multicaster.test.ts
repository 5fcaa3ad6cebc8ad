/** The multicaster's member knowledge and send plans (vl2.md §5.7), on an injected clock. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Multicaster, MULTICAST_GATHER_DELAY_MS, MULTICAST_LIKE_EXPIRE_MS, MULTICAST_TRANSMIT_TIMEOUT_MS } from './multicaster.js';

const ARP = { mac: 0xffffffffffffn, adi: 0x0a931105 };
const SELF = 0x1111111111;

test('LIKEs make members; self is never one; they expire after 600 s', () => {
  const m = new Multicaster<string>(SELF);
  m.add(ARP, 0xa, 0);
  m.add(ARP, SELF, 0);
  m.add(ARP, 0xb, 100);
  assert.deepEqual(m.known(ARP, 1000).sort(), [0xa, 0xb]);
  assert.deepEqual(m.known(ARP, MULTICAST_LIKE_EXPIRE_MS + 50), [0xb]);
  m.expire(MULTICAST_LIKE_EXPIRE_MS + 200);
  assert.deepEqual(m.known(ARP, MULTICAST_LIKE_EXPIRE_MS + 200), []);
  m.add(ARP, 0xc, 0);
  m.remove(ARP, 0xc);
  assert.deepEqual(m.known(ARP, 1), []);
});

test('enough members: limit of them at random, no gather; too few: all of them, a gather, the frame kept for 5 s', () => {
  const m = new Multicaster<string>(SELF);
  for (let a = 1; a <= 10; a++) m.add(ARP, a, 0);
  const full = m.plan(ARP, 'f1', 4, 10);
  assert.equal(full.recipients.length, 4);
  assert.equal(new Set(full.recipients).size, 4);
  assert.equal(full.explicitGather, false);

  const few = new Multicaster<string>(SELF);
  const none = few.plan(ARP, 'f2', 32, 0);
  assert.deepEqual(none, { recipients: [], gatherLimit: 33, explicitGather: true });
  // A member learned from the gather's answer gets the waiting frame; another after 5 s does not.
  few.add(ARP, 0xa, 100);
  const sent: Array<[string, number]> = [];
  few.deliverPending(ARP, 100, (f, to) => sent.push([f, to]));
  few.deliverPending(ARP, 200, (f, to) => sent.push([f, to]));
  assert.deepEqual(sent, [['f2', 0xa]], 'once per member');
  few.add(ARP, 0xb, MULTICAST_TRANSMIT_TIMEOUT_MS + 1);
  few.deliverPending(ARP, MULTICAST_TRANSMIT_TIMEOUT_MS + 1, (f, to) => sent.push([f, to]));
  assert.equal(sent.length, 1, 'a frame waits 5 s, no longer');
  // Known members now: send to them and gather implicitly; an explicit gather only after 60 s.
  const again = few.plan(ARP, 'f3', 32, 1000);
  assert.equal(again.explicitGather, false);
  assert.equal(few.plan(ARP, 'f4', 32, MULTICAST_GATHER_DELAY_MS + 1).explicitGather, true);
  assert.deepEqual(few.plan(ARP, 'f5', 0, 0), { recipients: [], gatherLimit: 0, explicitGather: false }, 'multicast off (ml 0)');
});

test('a waiting frame reaches at most its limit of members', () => {
  const m = new Multicaster<string>(SELF);
  m.plan(ARP, 'f', 2, 0);
  for (let a = 1; a <= 5; a++) m.add(ARP, a, 10);
  const to: number[] = [];
  m.deliverPending(ARP, 10, (_f, a) => to.push(a));
  assert.equal(to.length, 2);
});
