/**
 * The probe's wire format and engine, in process: two engines wired to each other through a switchable
 * "fabric", on an injected clock.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ProbeEngine, MAX_TARGETS, type PathKind } from './probe-engine.js';
import { decodeProbeFrame, encodeProbeFrame, probeNetworkId, probePort, PROBE_REQUEST, PROBE_REPLY } from './probe-wire.js';
import { parseEthernetFrame } from '../../vl1/netconf/ethernet.js';
import { macFromAddress } from '../../vl1/mac-ip.js';
import { adhocRules, isAdhocNetworkId } from '../../vl1/netconf/adhoc.js';
import { filterIncoming, filterOutgoing } from '../../vl1/netconf/rule-engine.js';

const A = 0x1111111111;
const B = 0x2222222222;

test('the probe network id is ad-hoc form A, derived from the planet id alone', () => {
  const n = probeNetworkId(0x5eedf1ee7n);
  assert.equal(n, probeNetworkId(0x5eedf1ee7n), 'deterministic');
  assert.notEqual(n, probeNetworkId(0x5eedf1ee8n), 'another planet, another network');
  assert.equal(n >> 56n, 0xffn);
  assert.equal(n & 0xffffffn, 0n, 'low 24 bits zero: form A');
  assert.equal((n >> 40n) & 0xffffn, (n >> 24n) & 0xffffn, 'start = end');
  assert.ok(isAdhocNetworkId(n));
  assert.equal(probePort(n), Number((n >> 40n) & 0xffffn));
});

test('a probe frame decodes to what was encoded, and passes the ad-hoc rules a node applies', () => {
  const nwid = probeNetworkId(7n);
  const f = encodeProbeFrame(nwid, A, B, PROBE_REQUEST, 42, 1_700_000_000_123.5);
  const e = parseEthernetFrame(f);
  assert.equal(e.dest, macFromAddress(B, nwid));
  assert.equal(e.source, macFromAddress(A, nwid));
  assert.deepEqual(decodeProbeFrame(nwid, f), { kind: PROBE_REQUEST, from: A, seq: 42, sentAt: 1_700_000_000_123.5 });
  const rules = adhocRules(probePort(nwid), probePort(nwid));
  const frame = { inbound: false, ztSource: A, ztDest: B, macSource: e.source, macDest: e.dest, etherType: e.etherType, payload: e.payload };
  const ctx = { self: A, networkFlags: 0x04, localTag: () => undefined, remoteTag: () => undefined, senderOwns: () => false };
  assert.notEqual(filterOutgoing(rules, [], frame, ctx as never).accept, 0, 'the ad-hoc rules let it out');
  assert.notEqual(filterIncoming(rules, [], { ...frame, inbound: true }, { ...ctx, self: B } as never).accept, 0, 'and in');
  // Anything else on the network is not a probe: another port, another magic, a runt.
  assert.equal(decodeProbeFrame(probeNetworkId(8n), f), null);
  const bad = f.slice();
  bad[14 + 48] = 0; // the magic's first byte
  assert.equal(decodeProbeFrame(nwid, bad), null);
  assert.equal(decodeProbeFrame(nwid, f.subarray(0, 40)), null);
});

interface Pair {
  a: ProbeEngine;
  b: ProbeEngine;
  clock: { now: number };
  fabric: { up: boolean; path: PathKind };
  rtts: Array<[string, PathKind, number]>;
  /** Advances the clock by `ms`, then delivers every frame in flight (and the replies they cause). */
  step(ms: number): void;
}

function pair(intervalMs = 1000): Pair {
  const clock = { now: 1_000_000 };
  const fabric = { up: true, path: 'relayed' as PathKind };
  const nwid = probeNetworkId(1n);
  const rtts: Array<[string, PathKind, number]> = [];
  const queue: Array<() => void> = [];
  let a: ProbeEngine, b: ProbeEngine;
  const deliver = (to: () => ProbeEngine) => (frame: Uint8Array): boolean => {
    if (fabric.up) queue.push(() => to().receive(frame));
    return true;
  };
  a = new ProbeEngine({ intervalMs, now: () => clock.now }, { self: A, nwid, send: deliver(() => b), pathTo: () => fabric.path, observe: (r, p, ms) => rtts.push([r, p, ms]) });
  b = new ProbeEngine({ intervalMs, now: () => clock.now }, { self: B, nwid, send: deliver(() => a), pathTo: () => fabric.path });
  a.setTargets([{ rootId: 'root-b', probe: B }, { rootId: 'self', probe: A }]);
  b.setTargets([{ rootId: 'root-a', probe: A }]);
  const step = (ms: number): void => {
    clock.now += ms;
    while (queue.length > 0) queue.shift()!();
  };
  return { a, b, clock, fabric, rtts, step };
}
const step = (p: Pair, ms: number): void => p.step(ms);

test('probes are answered; RTT, path, time to direct and last reached are kept; self is never a target', () => {
  const p = pair();
  assert.equal(p.a.targetCount, 1, 'its own address is not a target');
  p.a.round();
  step(p, 10);
  let r = p.a.report()[0]!;
  assert.equal(r.status, 'up');
  assert.equal(r.path, 'relayed');
  assert.equal(r.rttMs, 10);
  assert.equal(r.timeToDirectMs, null);
  assert.deepEqual(p.rtts, [['root-b', 'relayed', 10]]);
  p.fabric.path = 'direct';
  step(p, 990);
  p.a.round();
  step(p, 5);
  r = p.a.report()[0]!;
  assert.equal(r.path, 'direct');
  assert.equal(r.timeToDirectMs, 1005, 'from the first request to the first direct reply');
  assert.equal(r.lastReachedAt, new Date(p.clock.now).toISOString());
  assert.deepEqual([r.sent, r.received, r.lost, r.lossRatio], [2, 2, 0, 0]);
  assert.equal(p.b.counters.repliesSent, 2);
});

test('a target that stops answering is down at the timeout (45 % of the interval), then up again when it answers', () => {
  const p = pair(1000);
  assert.equal(p.a.cadenceMs, 500, 'rounds every half interval');
  assert.equal(p.a.timeoutMs, 450);
  p.a.round();
  step(p, 10);
  p.fabric.up = false;
  step(p, 490);
  p.a.round();
  const sentAt = p.clock.now;
  step(p, 449);
  p.a.expire();
  assert.equal(p.a.report()[0]!.status, 'up', 'not yet: 449 ms < the 450 ms timeout');
  step(p, 1);
  p.a.expire();
  const r = p.a.report()[0]!;
  assert.equal(r.status, 'down');
  assert.equal(r.downSince, new Date(sentAt + 450).toISOString());
  assert.equal(r.lost, 1);
  assert.equal(r.lossRatio, 0.5);
  p.fabric.up = true;
  step(p, 50);
  p.a.round();
  step(p, 10);
  assert.equal(p.a.report()[0]!.status, 'up');
  assert.equal(p.a.report()[0]!.downSince, null);
});

test('a cut at the worst moment (just after a reply) shows down within one interval, with rounds only (no expiry timer)', () => {
  for (const intervalMs of [200, 1000, 5000]) {
    const p = pair(intervalMs);
    p.a.round();
    step(p, 1); // answered: up
    assert.equal(p.a.report()[0]!.status, 'up');
    p.fabric.up = false;
    const cutAt = p.clock.now;
    // Only the rounds run, each late by up to 5 ms as timers are: the loss must still be counted in time.
    let downAt: number | null = null;
    for (let t = 0; t < 4 && downAt === null; t++) {
      step(p, p.a.cadenceMs - 1 + (t === 0 ? 0 : 5));
      p.a.round();
      if (p.a.report()[0]!.status === 'down') downAt = p.clock.now;
    }
    assert.ok(downAt !== null, `interval ${intervalMs}: never shown down`);
    assert.ok(downAt - cutAt <= intervalMs + 5, `interval ${intervalMs}: down ${downAt - cutAt} ms after the cut`);
  }
});

test('replies are rate-limited and counted apart; garbage and stale replies are counted drops', () => {
  const nwid = probeNetworkId(1n);
  const sent: Uint8Array[] = [];
  const clock = { now: 0 };
  const e = new ProbeEngine({ intervalMs: 1000, now: () => clock.now }, { self: B, nwid, send: (f) => (sent.push(f), true), pathTo: () => 'direct' });
  for (let i = 0; i < 1000; i++) e.receive(encodeProbeFrame(nwid, A, B, PROBE_REQUEST, i, 0));
  assert.equal(sent.length, 200, 'the burst, then nothing within the same instant');
  assert.equal(e.counters.dropped['rate-limited'], 800);
  clock.now += 1000;
  for (let i = 0; i < 1000; i++) e.receive(encodeProbeFrame(nwid, A, B, PROBE_REQUEST, i, 0));
  assert.equal(sent.length, 300, '100 per second after the burst');
  e.receive(new Uint8Array(100));
  e.receive(encodeProbeFrame(nwid, A, B, PROBE_REPLY, 1, 0));
  assert.equal(e.counters.dropped['not-probe'], 1);
  assert.equal(e.counters.dropped['unknown-target'], 1);
  e.setTargets([{ rootId: 'a', probe: A }]);
  e.receive(encodeProbeFrame(nwid, A, B, PROBE_REPLY, 1, 0));
  assert.equal(e.counters.dropped['stale-reply'], 1, 'a reply to nothing outstanding');
});

test('targets are bounded', () => {
  const e = new ProbeEngine({ intervalMs: 1000 }, { self: 1, nwid: probeNetworkId(1n), send: () => true, pathTo: () => 'relayed' });
  e.setTargets(Array.from({ length: MAX_TARGETS + 5 }, (_, i) => ({ rootId: `r${i}`, probe: 0x100 + i })));
  assert.equal(e.targetCount, MAX_TARGETS);
  assert.equal(e.counters.dropped['too-many-targets'], 5);
});
