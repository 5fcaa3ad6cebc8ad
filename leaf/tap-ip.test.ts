/**
 * Planning a TAP device's managed addresses and routes (vl2.md §7.3): pure, no device needed. The same plans are
 * applied to real devices in test/tap.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { checkAddresses, ipArgs, planAddresses, planRouteChanges, planRoutes } from './tap-ip.js';
import { isZtError, ZtErrorCode } from '../vl1/errors.js';
import { parseDevMcast } from './tap.js';

test('addresses are checked and canonicalised; bad ones name the entry and the value', () => {
  assert.deepEqual(checkAddresses([{ ip: 'FD00:0:0::5', bits: 64 }, { ip: '10.1.2.3', bits: 24 }]), [
    { ip: 'fd00::5', bits: 64 },
    { ip: '10.1.2.3', bits: 24 },
  ]);
  const bad: Array<[unknown, RegExp]> = [
    [{ ip: '10.1.2', bits: 24 }, /address 0: "10\.1\.2" is not an IPv4 or IPv6 address/],
    [{ ip: '10.1.2.3', bits: 33 }, /address 0: prefix length 33 of 10\.1\.2\.3 is not an integer in 0\.\.32/],
    [{ ip: 'fd00::1', bits: 1.5 }, /prefix length 1\.5/],
    [{ ip: 'fe80::1%eth0', bits: 64 }, /not an IPv4 or IPv6 address/],
    [null, /address 0/],
  ];
  for (const [a, re] of bad) {
    assert.throws(() => checkAddresses([a as { ip: string; bits: number }]), (e) => isZtError(e, ZtErrorCode.BAD_CONFIG) && re.test(e.message), String(re));
  }
  assert.throws(() => checkAddresses([{ ip: '10.0.0.1', bits: 8 }, { ip: '10.0.0.1', bits: 24 }]), /address 1: 10\.0\.0\.1 is listed twice/);
});

test('address plan: add new, remove gone, replace a changed prefix, leave the rest', () => {
  const cur = [
    { ip: '10.0.0.1', bits: 24 },
    { ip: 'fd00::1', bits: 64 },
    { ip: '10.9.9.9', bits: 16 },
  ];
  const want = [
    { ip: '10.0.0.1', bits: 24 },
    { ip: 'fd00::1', bits: 48 },
    { ip: '10.5.5.5', bits: 8 },
  ];
  assert.deepEqual(planAddresses(cur, want), {
    remove: [
      { ip: 'fd00::1', bits: 64 },
      { ip: '10.9.9.9', bits: 16 },
    ],
    add: [
      { ip: 'fd00::1', bits: 48 },
      { ip: '10.5.5.5', bits: 8 },
    ],
  });
  assert.deepEqual(planAddresses(want, want), { remove: [], add: [] });
});

test('address plan reaches the wanted set from any current set (property)', () => {
  const addr = fc.record({ ip: fc.constantFrom('10.0.0.1', '10.0.0.2', 'fd00::1', 'fd00::2'), bits: fc.constantFrom(8, 24, 64) });
  const uniq = (xs: Array<{ ip: string; bits: number }>) => [...new Map(xs.map((x) => [x.ip, x])).values()];
  fc.assert(
    fc.property(fc.array(addr), fc.array(addr), (a, b) => {
      const cur = uniq(a);
      const want = uniq(b);
      const { remove, add } = planAddresses(cur, want);
      const after = new Map(cur.map((x) => [x.ip, x.bits]));
      for (const r of remove) after.delete(r.ip);
      for (const x of add) after.set(x.ip, x.bits);
      assert.deepEqual(after, new Map(want.map((x) => [x.ip, x.bits])));
    }),
  );
});

test('default routes are two halves; the source is our address holding the gateway', () => {
  const addrs = [
    { ip: '10.147.17.5', bits: 24 },
    { ip: '10.147.0.5', bits: 16 },
    { ip: 'fd00:1::5', bits: 64 },
  ];
  const routes = planRoutes(
    [
      { target: '0.0.0.0', bits: 0, via: '10.147.17.1' },
      { target: '::', bits: 0, via: 'fd00:1::1' },
      { target: '192.168.7.0', bits: 24, via: null },
    ],
    addrs,
  );
  assert.deepEqual(routes, [
    { target: '0.0.0.0', bits: 1, via: '10.147.17.1', src: '10.147.17.5' }, // /24 beats /16
    { target: '128.0.0.0', bits: 1, via: '10.147.17.1', src: '10.147.17.5' },
    { target: '::', bits: 1, via: 'fd00:1::1', src: 'fd00:1::5' },
    { target: '8000::', bits: 1, via: 'fd00:1::1', src: 'fd00:1::5' },
    { target: '192.168.7.0', bits: 24, via: null, src: null }, // the kernel picks
  ]);
});

test("routes implied by an address's prefix and routes via ourselves are skipped; targets are normalised", () => {
  const addrs = [{ ip: '10.147.17.5', bits: 24 }];
  assert.deepEqual(
    planRoutes(
      [
        { target: '10.147.17.0', bits: 24, via: null }, // the address's own prefix route: the kernel has it
        { target: '10.0.0.0', bits: 8, via: '10.147.17.5' }, // via us: we are the gateway
        { target: '10.20.30.40', bits: 16, via: '10.147.17.1' }, // host bits set: normalised to 10.20.0.0/16
      ],
      addrs,
    ),
    [{ target: '10.20.0.0', bits: 16, via: '10.147.17.1', src: '10.147.17.5' }],
  );
});

test('bad routes name the route and the value', () => {
  const bad: Array<[unknown, RegExp]> = [
    [{ target: 'x', bits: 8, via: null }, /route 0 target: "x" is not an IPv4 or IPv6 address/],
    [{ target: '10.0.0.0', bits: 40, via: null }, /route 0 target: prefix length 40/],
    [{ target: '10.0.0.0', bits: 8, via: 'fd00::1' }, /route 0: gateway fd00::1 is not of the same family as 10\.0\.0\.0\/8/],
    [{ target: '10.0.0.0', bits: 8, via: 'nope' }, /route 0 via: "nope"/],
  ];
  for (const [r, re] of bad) {
    assert.throws(() => planRoutes([r as never], []), (e) => isZtError(e, ZtErrorCode.BAD_CONFIG) && re.test(e.message), String(re));
  }
});

test('route changes: remove what is no longer wanted, reapply every wanted route', () => {
  const a = { target: '10.0.0.0', bits: 8, via: null, src: null };
  const b = { target: '10.1.0.0', bits: 16, via: null, src: null };
  assert.deepEqual(planRouteChanges([a, b], [b]), { remove: [a], apply: [b] });
});

test('ip arguments: IPv4 addresses get a broadcast, routes name their family, device and source', () => {
  assert.deepEqual(ipArgs.addAddress('zt0', { ip: '10.0.0.1', bits: 24 }), ['addr', 'replace', '10.0.0.1/24', 'broadcast', '+', 'dev', 'zt0']);
  assert.deepEqual(ipArgs.addAddress('zt0', { ip: 'fd00::1', bits: 64 }), ['addr', 'replace', 'fd00::1/64', 'dev', 'zt0']);
  assert.deepEqual(ipArgs.applyRoute('zt0', { target: '::', bits: 1, via: 'fd00::1', src: 'fd00::5' }), [
    '-6', 'route', 'replace', '::/1', 'via', 'fd00::1', 'dev', 'zt0', 'src', 'fd00::5',
  ]);
  assert.deepEqual(ipArgs.removeRoute('zt0', { target: '10.0.0.0', bits: 8, via: null, src: null }), ['-4', 'route', 'del', '10.0.0.0/8', 'dev', 'zt0']);
});

test('/proc/net/dev_mcast: the groups of one device, each once', () => {
  const text = [
    '1    lo              1     0     01005e000001',
    '7    ztmjfmfyq5      1     0     333300000001',
    '7    ztmjfmfyq5      1     0     3333ff300c27',
    '7    ztmjfmfyq5      2     0     333300000001',
    '8    ztmjfmfyq50     1     0     333300000002', // another device whose name starts the same
    '7    ztmjfmfyq5      1     0     3333zz',
    '',
  ].join('\n');
  assert.deepEqual(parseDevMcast(text, 'ztmjfmfyq5'), [0x333300000001n, 0x3333ff300c27n]);
  assert.deepEqual(parseDevMcast('', 'ztmjfmfyq5'), []);
});
