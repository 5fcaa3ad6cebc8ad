/** NAT classification from reflected addresses (tools/doctor/nat.ts), case by case. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { classifyNat, type Reflection } from './nat.js';

const LOCAL = new Set(['192.0.0.5', '2001:db8:1::5']);
const r = (root: string, ip: string, port: number): Reflection => ({ root, ip, port });

test('no NAT: every root reflects our own address and port', () => {
  const n = classifyNat([r('a', '192.0.0.5', 4000), r('b', '192.0.0.5', 4000)], 4000, LOCAL);
  assert.deepEqual(n, { kind: 'none', localPort: 4000, mapped: ['192.0.0.5/4000'], roots: 2 });
});

test('endpoint-independent: one mapped address and port for every root (even a port-preserving NAT)', () => {
  assert.equal(classifyNat([r('a', '192.0.0.65', 4000), r('b', '192.0.0.65', 4000), r('c', '192.0.0.65', 4000)], 4000, LOCAL).kind, 'endpoint-independent');
  assert.equal(classifyNat([r('a', '192.0.0.65', 31000), r('b', '192.0.0.65', 31000)], 4000, LOCAL).kind, 'endpoint-independent');
});

test('symmetric: a different mapping per root (port or address)', () => {
  const n = classifyNat([r('a', '192.0.0.65', 31000), r('b', '192.0.0.65', 31001), r('c', '192.0.0.65', 31002)], 4000, LOCAL);
  assert.equal(n.kind, 'symmetric');
  assert.deepEqual(n.mapped, ['192.0.0.65/31000', '192.0.0.65/31001', '192.0.0.65/31002']);
  assert.equal(classifyNat([r('a', '192.0.0.65', 4000), r('b', '192.0.0.66', 4000)], 4000, LOCAL).kind, 'symmetric');
});

test('unknown: nothing reflected, or one root only (one destination cannot tell cone from symmetric)', () => {
  assert.equal(classifyNat([], 4000, LOCAL).kind, 'unknown');
  // Two endpoints of ONE root are one destination host to the NAT.
  assert.equal(classifyNat([r('a', '192.0.0.65', 4000), r('a', '192.0.0.65', 4000)], 4000, LOCAL).kind, 'unknown');
  // Our own address but another port: a NAT on this host (port rewritten), not "none".
  assert.equal(classifyNat([r('a', '192.0.0.5', 5000), r('b', '192.0.0.5', 5001)], 4000, LOCAL).kind, 'symmetric');
});
