import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DirectPaths, MAX_PER_SCOPE_AND_FAMILY, PUSH_INTERVAL_DIRECT_MS, PUSH_INTERVAL_RELAYED_MS, RECEIVE_LIMIT, RECEIVE_WINDOW_MS } from './direct-paths.js';
import { decodePushDirectPaths, encodePushDirectPaths, PUSH_PATH_FLAG_FORGET, type PushedPath } from '../vl1/verbs/push-direct-paths.js';
import type { InetAddress } from '../vl1/inet-address.js';

const PEER = 0x1122334455;

function rig(ours: InetAddress[] = [{ family: 4, ip: '192.0.0.9', port: 9993 }]) {
  let now = 1_000_000;
  const sent: Array<{ dest: number; payload: Uint8Array }> = [];
  const contacted: string[] = [];
  const dp = new DirectPaths({
    now: () => now,
    send: (dest, payload) => sent.push({ dest, payload }),
    ourAddresses: () => ours,
    attemptContact: (_peer, e) => {
      contacted.push(`${e.ip}/${e.port}`);
      return true;
    },
  });
  return { dp, sent, contacted, advance: (ms: number) => (now += ms) };
}

const path = (ip: string, port: number, flags = 0): PushedPath => ({ flags, ext: new Uint8Array(0), address: { family: ip.includes(':') ? 6 : 4, ip, port } });

test('pushes our addresses to an admitted peer: every 15 s while its traffic is relayed, every 2 min once direct', () => {
  const r = rig([{ family: 4, ip: '192.0.0.9', port: 9993 }, { family: 4, ip: '192.0.0.9', port: 9993 }, { family: 4, ip: '192.0.1.64', port: 40000 }]);
  r.dp.networkTraffic(PEER, 'relayed', () => true);
  assert.equal(r.sent.length, 1);
  assert.equal(r.sent[0]!.dest, PEER);
  // Deduplicated.
  assert.deepEqual(decodePushDirectPaths(r.sent[0]!.payload).paths.map((p) => p.address), [{ family: 4, ip: '192.0.0.9', port: 9993 }, { family: 4, ip: '192.0.1.64', port: 40000 }]);
  r.advance(PUSH_INTERVAL_RELAYED_MS - 1);
  r.dp.networkTraffic(PEER, 'relayed', () => true);
  assert.equal(r.sent.length, 1);
  r.advance(1);
  r.dp.networkTraffic(PEER, 'relayed', () => true);
  assert.equal(r.sent.length, 2);
  r.advance(PUSH_INTERVAL_RELAYED_MS);
  r.dp.networkTraffic(PEER, 'direct', () => true);
  assert.equal(r.sent.length, 2, 'direct: not before 2 min');
  r.advance(PUSH_INTERVAL_DIRECT_MS - PUSH_INTERVAL_RELAYED_MS);
  r.dp.networkTraffic(PEER, 'direct', () => true);
  assert.equal(r.sent.length, 3);
});

test('nothing is pushed to a peer the gate does not admit, and the gate is asked only when a push is due', () => {
  const r = rig();
  let asked = 0;
  r.dp.networkTraffic(PEER, 'relayed', () => (asked++, false));
  assert.equal(r.sent.length, 0);
  r.dp.networkTraffic(PEER, 'relayed', () => (asked++, true));
  r.dp.networkTraffic(PEER, 'relayed', () => (asked++, true));
  assert.equal(r.sent.length, 1);
  assert.equal(asked, 2);
});

test('received pushes: forget-flagged records skipped, at most 8 addresses per scope and family contacted', () => {
  const r = rig();
  const paths = [path('192.0.0.50', 1, PUSH_PATH_FLAG_FORGET)];
  for (let i = 0; i < 12; i++) paths.push(path(`192.0.0.${100 + i}`, 9993));
  for (let i = 0; i < 3; i++) paths.push(path(`10.0.0.${i + 1}`, 9993));
  paths.push(path('2001:db8::1', 9993));
  r.dp.received(PEER, encodePushDirectPaths({ paths }));
  assert.equal(r.contacted.filter((c) => c.startsWith('192.0.0.')).length, MAX_PER_SCOPE_AND_FAMILY);
  assert.ok(!r.contacted.includes('192.0.0.50/1'));
  assert.equal(r.contacted.filter((c) => c.startsWith('10.')).length, 3);
  assert.ok(r.contacted.includes('2001:db8::1/9993'));
  assert.equal(r.dp.counters.pushesReceived, 1);
});

test('a flood of pushes: 8 per peer per 30 s are looked at, the rest are counted drops; malformed ones too', () => {
  const r = rig();
  const one = encodePushDirectPaths({ paths: [path('192.0.0.77', 9993)] });
  for (let i = 0; i < RECEIVE_LIMIT + 5; i++) r.dp.received(PEER, one);
  assert.equal(r.dp.counters.pushesReceived, RECEIVE_LIMIT);
  assert.equal(r.dp.counters.pushesDropped, 5);
  r.advance(RECEIVE_WINDOW_MS);
  r.dp.received(PEER, Uint8Array.of(0, 5, 1));
  assert.equal(r.dp.counters.pushesDropped, 6);
  assert.equal(r.dp.counters.pushesReceived, RECEIVE_LIMIT);
});
