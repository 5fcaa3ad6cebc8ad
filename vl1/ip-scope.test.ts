import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { endpointProblem, ipScope, scopeCarriesTraffic, type IpScope } from './ip-scope.js';
import { parseInetAddress, parseIp } from './inet-address.js';

const cases: Array<[string, IpScope]> = [
  ['0.0.0.0', 'none'],
  ['127.0.0.1', 'loopback'],
  ['127.255.0.9', 'loopback'],
  ['169.254.3.4', 'link-local'],
  ['10.1.2.3', 'private'],
  ['172.16.0.1', 'private'],
  ['172.31.255.255', 'private'],
  ['172.32.0.1', 'global'],
  ['192.168.1.1', 'private'],
  ['100.64.0.1', 'shared'],
  ['100.127.255.255', 'shared'],
  ['100.128.0.1', 'global'],
  ['224.0.0.1', 'multicast'],
  ['240.0.0.1', 'reserved'],
  ['255.255.255.255', 'reserved'],
  // Global for ZeroTier: the namespace tests' addresses and the documentation ranges.
  ['192.0.0.1', 'global'],
  ['192.0.2.2', 'global'],
  ['198.51.100.11', 'global'],
  ['203.0.113.12', 'global'],
  ['8.8.8.8', 'global'],
  ['::', 'none'],
  ['::1', 'loopback'],
  ['fe80::1', 'link-local'],
  ['febf::1', 'link-local'],
  ['fec0::1', 'private'],
  ['fd00::2', 'private'],
  ['fc00::1', 'private'],
  ['ff02::1', 'multicast'],
  ['::ffff:10.0.0.1', 'private'],
  ['::ffff:192.0.2.1', 'global'],
  ['2001:db8::1', 'global'],
  ['2001:db8:1::1', 'global'],
  ['2a02:6ea0:d405::9993', 'global'],
];

test('ipScope: each special range, and the documentation ranges ZeroTier treats as global', () => {
  for (const [ip, scope] of cases) assert.equal(ipScope(parseIp(ip)!), scope, ip);
});

test('scopeCarriesTraffic: private, shared and global only', () => {
  assert.deepEqual(
    (['none', 'loopback', 'link-local', 'multicast', 'reserved', 'private', 'shared', 'global'] as IpScope[]).filter(scopeCarriesTraffic),
    ['private', 'shared', 'global'],
  );
});

test('endpointProblem: what clients never use is named; usable endpoints pass', () => {
  const problem = (s: string) => endpointProblem(parseInetAddress(s));
  assert.match(problem('127.0.0.1/9993')!, /loopback/);
  assert.match(problem('[::1]:9993')!, /loopback/);
  assert.match(problem('169.254.1.1/9993')!, /link-local/);
  assert.match(problem('0.0.0.0/9993')!, /unspecified/);
  assert.match(problem('224.1.1.1/9993')!, /multicast/);
  assert.match(problem('192.0.0.1/0')!, /port 0/);
  assert.match(problem('2001:470::1/9993')!, /2001:470::\/32/);
  for (const ok of ['192.0.0.1/9993', '10.0.0.1/9993', '2001:db8::1/443', 'fd00::2/9993', '100.64.1.1/9993']) assert.equal(problem(ok), null, ok);
});

test('ipScope never throws on 4 or 16 bytes', () => {
  fc.assert(
    fc.property(fc.oneof(fc.uint8Array({ minLength: 4, maxLength: 4 }), fc.uint8Array({ minLength: 16, maxLength: 16 })), (b) => {
      assert.equal(typeof ipScope(b), 'string');
    }),
    { seed: 11, numRuns: 2000 },
  );
});
