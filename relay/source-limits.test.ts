/**
 * The TCP relay's per-IP, per-prefix and total limits with real sources: inside a network namespace where
 * 2001:db8:f0::/44 and 198.18.0.0/15 are local, connections come from many IPv6 /64s and /48s and IPv4
 * addresses (test/source-limits-driver.ts). An IPv6 /64 counts as one host, a /48 or an IPv4 /24 as one
 * prefix, and a full relay makes room for a quiet prefix by closing the busiest prefix's least useful
 * connection.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { createTopology, netnsUnavailableReason } from '../test/netns.js';
import { REPO_ROOT } from '../test/vectors.js';
import { sourceKeys } from './source-keys.js';

const DRIVER = join(REPO_ROOT, 'dist', 'test', 'source-limits-driver.js');

test('source keys: IPv4 /32 and /24, IPv6 /64 and /48, mapped IPv4 as IPv4', () => {
  assert.deepEqual(sourceKeys('198.51.100.7'), { host: '198.51.100.7', prefix: '198.51.100.0/24' });
  assert.deepEqual(sourceKeys('::ffff:198.51.100.7'), { host: '198.51.100.7', prefix: '198.51.100.0/24' });
  assert.deepEqual(sourceKeys('2001:db8:a:b:c:d:e:f'), { host: '2001:db8:a:b::/64', prefix: '2001:db8:a::/48' });
  assert.deepEqual(sourceKeys('2001:db8:a:b::1'), sourceKeys('2001:db8:a:b:ffff:ffff:ffff:ffff'), 'one /64, one host');
  assert.deepEqual(sourceKeys('fe80::1%eth0'), { host: 'fe80::/64', prefix: 'fe80::/48' });
  assert.equal(sourceKeys('not an ip'), null);
});

const skip = netnsUnavailableReason() ?? false;

test('per /64, per /48 and per /24 limits, and room made for a quiet prefix, on real connections', { skip, timeout: 60_000 }, async () => {
  const topo = await createTopology({ publicHosts: 0 });
  try {
    const ns = topo.root.ns;
    await topo.exec(ns, 'ip', ['link', 'set', 'lo', 'up']);
    await topo.exec(ns, 'ip', ['-6', 'route', 'add', 'local', '2001:db8:f0::/44', 'dev', 'lo']);
    await topo.exec(ns, 'ip', ['route', 'add', 'local', '198.18.0.0/15', 'dev', 'lo']);
    // Binding an IPv6 address that only a local route covers needs this (IPv4 does not).
    await topo.exec(ns, 'sysctl', ['-qw', 'net.ipv6.ip_nonlocal_bind=1']);
    const { stdout } = await topo.exec(ns, process.execPath, [DRIVER], { timeoutMs: 30_000 });
    const steps = new Map(stdout.trim().split('\n').map((l) => {
      const o = JSON.parse(l) as { step: string; connections: number; refusedIp: number; refusedPrefix: number; refusedTotal: number; evicted: number; openFrom: string[] };
      return [o.step, o];
    }));
    const s = (name: string) => steps.get(name)!;
    // Ten addresses of one /64 count as one host: 4 in, 6 refused per IP.
    assert.equal(s('one /64').connections, 4);
    assert.equal(s('one /64').refusedIp, 6);
    // Other /64s of the /48 are other hosts.
    assert.equal(s('one /48').connections, 9);
    assert.equal(s('one /48').refusedIp, 6);
    // IPv4 through the dual-stack socket: per address (4 of 6), then its /24.
    assert.equal(s('ipv4').connections, 16);
    assert.equal(s('ipv4').refusedIp, 8);
    // A /48 holds at most 10.
    assert.equal(s('full').connections, 26);
    assert.equal(s('full').refusedPrefix, 2);
    assert.equal(s('full').refusedTotal, 0);
    // Full: the quiet /48 gets in; the sniffing connection of the busiest /48 made room.
    assert.equal(s('newcomer').evicted, 1);
    assert.equal(s('newcomer').connections, 26);
    assert.ok(s('newcomer').openFrom.includes('2001:db8:f3::1'), 'the newcomer is in');
    assert.ok(!s('newcomer').openFrom.includes('2001:db8:f2:5::1'), 'the connection that never said anything was the one closed');
    assert.equal(s('newcomer').openFrom.filter((a) => a.startsWith('2001:db8:f2:')).length, 9);
    // The busiest prefix cannot evict its peers' places back.
    assert.equal(s('busiest again').refusedTotal, 1);
    assert.equal(s('busiest again').evicted, 1);
    assert.equal(s('busiest again').connections, 26);
  } finally {
    await topo.destroy();
  }
});
