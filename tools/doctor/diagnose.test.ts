/** Verdicts and advice from probe results (tools/doctor/diagnose.ts), without a network. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { diagnose, planetRelation } from './diagnose.js';
import type { NatReport, PlanetSummary, RootReport } from './report.js';

const LOCAL: PlanetSummary = { id: '0000000000001234', timestamp: 2000, sha256: 'aa'.repeat(32) };
const NO_NAT: { v4: NatReport; v6: NatReport } = {
  v4: { kind: 'none', localPort: 4000, mapped: ['192.0.0.5/4000'], roots: 2 },
  v6: { kind: 'unknown', localPort: 0, mapped: [], roots: 0 },
};

function root(address: string, over: Partial<RootReport> = {}): RootReport {
  return {
    address,
    udp: [{ endpoint: '192.0.0.1/9993', family: 4, ok: true, rttMs: 3, reflected: '192.0.0.5/4000', repliedFrom: null, error: null }],
    tcp: [],
    planet: LOCAL,
    planetRelation: 'same',
    planetUpdateAccepted: null,
    clockSkewMs: null,
    clockSource: null,
    usable: true,
    tcpOnly: false,
    ...over,
  };
}

const codes = (d: ReturnType<typeof diagnose>) => d.advice.map((a) => `${a.level}:${a.code}`);

test('planetRelation: same, either side behind, a conflict, another planet', () => {
  assert.equal(planetRelation(LOCAL, LOCAL), 'same');
  assert.equal(planetRelation(LOCAL, { ...LOCAL, timestamp: 3000 }), 'root-newer');
  assert.equal(planetRelation(LOCAL, { ...LOCAL, timestamp: 1000 }), 'root-older');
  assert.equal(planetRelation(LOCAL, { ...LOCAL, sha256: 'bb'.repeat(32) }), 'conflict');
  assert.equal(planetRelation(LOCAL, { ...LOCAL, id: '0000000000009999' }), 'unknown');
  assert.equal(planetRelation(LOCAL, null), 'unknown');
});

test('healthy: verdict ok, only info lines', () => {
  const d = diagnose(LOCAL, [root('aaaaaaaaaa'), root('bbbbbbbbbb')], NO_NAT);
  assert.equal(d.verdict, 'ok');
  assert.deepEqual(codes(d), ['info:nat-none']);
});

test('one root down: an error naming it; the others fine', () => {
  const down = root('bbbbbbbbbb', { usable: false, planet: null, planetRelation: 'unknown', udp: [{ endpoint: '192.0.0.2/9993', family: 4, ok: false, rttMs: null, reflected: null, repliedFrom: null, error: 'no OK(HELLO) within 3000 ms' }] });
  const d = diagnose(LOCAL, [root('aaaaaaaaaa'), down], NO_NAT);
  assert.equal(d.verdict, 'problems');
  assert.equal(d.udpBlocked, false);
  const e = d.advice.find((a) => a.code === 'root-unreachable');
  assert.ok(e && e.level === 'error' && e.message.includes('bbbbbbbbbb') && e.message.includes('192.0.0.2/9993'));
});

test('a root behind, a conflict, a root serving another planet: each an error', () => {
  const d = diagnose(
    LOCAL,
    [
      root('aaaaaaaaaa', { planet: { ...LOCAL, timestamp: 1000 }, planetRelation: 'root-older' }),
      root('bbbbbbbbbb', { planet: { ...LOCAL, sha256: 'bb'.repeat(32) }, planetRelation: 'conflict' }),
      root('cccccccccc', { planet: null, planetRelation: 'unknown' }),
    ],
    NO_NAT,
  );
  assert.deepEqual(d.rootsBehind, ['aaaaaaaaaa']);
  assert.equal(d.localBehind, false);
  assert.deepEqual(codes(d).filter((c) => c.startsWith('error')), ['error:root-planet-behind', 'error:planet-conflict', 'error:planet-not-served']);
});

test('FAQ cases: a root answering from another address, clock skew, a symmetric NAT (warnings: still exit 0)', () => {
  const d = diagnose(
    LOCAL,
    [root('aaaaaaaaaa', { clockSkewMs: -95_000, udp: [{ endpoint: '192.0.0.1/9993', family: 4, ok: true, rttMs: 3, reflected: '192.0.0.65/31000', repliedFrom: '192.0.0.9/9993', error: null }] })],
    { v4: { kind: 'symmetric', localPort: 4000, mapped: ['192.0.0.65/31000', '192.0.0.65/31001'], roots: 2 }, v6: NO_NAT.v6 },
  );
  assert.equal(d.verdict, 'ok');
  assert.deepEqual(codes(d), ['warning:reply-from-other-address', 'warning:clock-skew', 'warning:symmetric-nat']);
  assert.match(d.advice[1]!.message, /95 s behind/);
});

test('UDP blocked: one diagnosis (not one per root), pointing at the TCP relay when it works', () => {
  const blocked = (a: string, tcpOk: boolean) =>
    root(a, {
      usable: false,
      tcpOnly: tcpOk,
      planetRelation: 'same',
      udp: [{ endpoint: '192.0.0.1/9993', family: 4, ok: false, rttMs: null, reflected: null, repliedFrom: null, error: 'cannot send: EPERM' }],
      tcp: [{ address: '192.0.0.1/443', greeting: true, ok: tcpOk, rttMs: tcpOk ? 5 : null, error: null }],
    });
  const d = diagnose(LOCAL, [blocked('aaaaaaaaaa', true), blocked('bbbbbbbbbb', true)], { v4: { ...NO_NAT.v6 }, v6: NO_NAT.v6 });
  assert.equal(d.udpBlocked, true);
  assert.equal(d.verdict, 'problems');
  assert.deepEqual(codes(d), ['error:udp-blocked']);
  assert.match(d.advice[0]!.message, /TCP relay of aaaaaaaaaa, bbbbbbbbbb/);
  const none = diagnose(LOCAL, [blocked('aaaaaaaaaa', false)], NO_NAT);
  assert.match(none.advice[0]!.message, /No TCP relay answered/);
});

test('a root without a TCP relay: an info line (clients behind UDP-blocking firewalls have no fallback), exit unchanged', () => {
  const tcp = [{ address: '192.0.0.1/443', greeting: false, ok: false, rttMs: null, error: 'cannot connect: connect ECONNREFUSED 192.0.0.1:443' }];
  const d = diagnose(LOCAL, [root('aaaaaaaaaa', { tcp })], NO_NAT);
  assert.equal(d.verdict, 'ok');
  assert.deepEqual(codes(d), ['info:no-tcp-relay', 'info:nat-none']);
  assert.match(d.advice[0]!.message, /root aaaaaaaaaa has no TCP relay at 192\.0\.0\.1\/443 \(cannot connect: connect ECONNREFUSED/);
});

test('the local planet behind: whether clients take the newer one over the air decides the advice', () => {
  const newer = (accepted: boolean) => root('aaaaaaaaaa', { planet: { ...LOCAL, timestamp: 3000 }, planetRelation: 'root-newer', planetUpdateAccepted: accepted });
  const yes = diagnose(LOCAL, [newer(true)], NO_NAT);
  assert.equal(yes.localBehind, true);
  assert.equal(yes.verdict, 'problems');
  assert.match(yes.advice[0]!.message, /^the local planet \(timestamp 2000 .*takes it over the air at its next HELLO/);
  const no = diagnose(LOCAL, [newer(false)], NO_NAT);
  assert.match(no.advice[0]!.message, /will NOT take it over the air .*install it by hand/);
});

