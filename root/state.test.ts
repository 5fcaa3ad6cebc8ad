import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chooseEndpoints, type InterfaceAddress } from './state.js';
import { formatInetAddress } from '../vl1/inet-address.js';

const v4 = (address: string, internal = false): InterfaceAddress => ({ address, family: 'IPv4', internal });
const v6 = (address: string, internal = false): InterfaceAddress => ({ address, family: 'IPv6', internal });
const eps = (r: ReturnType<typeof chooseEndpoints>) => r.endpoints.map(formatInetAddress);

test('a typical host: its public addresses only — never loopback, link-local, bridges, tunnels or overlays', () => {
  const r = chooseEndpoints(
    {
      lo: [v4('127.0.0.1', true), v6('::1', true)],
      eth0: [v4('203.0.113.5'), v6('2001:db8:5::5'), v6('fe80::1%eth0'), v6('fd00::5')],
      docker0: [v4('172.17.0.1')],
      'br-3f2a1c': [v4('172.18.0.1')],
      virbr0: [v4('192.168.122.1')],
      veth12ab: [v6('fe80::2')],
      cni0: [v4('10.244.0.1')],
      'flannel.1': [v4('10.244.0.0')],
      cali1234: [v4('10.1.1.1')],
      'vxlan.calico': [v4('10.1.2.1')],
      wg0: [v4('10.8.0.1'), v6('2001:db8:99::1')],
      tailscale0: [v4('100.100.1.1'), v6('fd7a:115c:a1e0::1')],
      zt7nnig26: [v4('10.147.17.1')],
      tun0: [v4('10.9.0.1')],
      tap0: [v4('10.10.0.1')],
    },
    9993,
  );
  assert.deepEqual(eps(r), ['203.0.113.5/9993', '2001:db8:5::5/9993']);
  assert.deepEqual(r.warnings, []);
});

test('only private addresses: listed, with a warning naming them and what to pass instead', () => {
  const r = chooseEndpoints({ ens5: [v4('10.0.0.5'), v6('fd00::5')], lo: [v4('127.0.0.1', true)] }, 9993);
  assert.deepEqual(eps(r), ['10.0.0.5/9993', 'fd00::5/9993']);
  assert.equal(r.warnings.length, 1);
  assert.match(r.warnings[0]!, /only private addresses found \(10\.0\.0\.5, fd00::5\).*--endpoint/);
});

test('a public IPv6 but only a private IPv4 (a cloud VM behind 1:1 NAT): IPv6 listed, the missing IPv4 named in a warning', () => {
  const r = chooseEndpoints({ ens5: [v4('172.31.4.7'), v6('2001:db8:a::7')] }, 443);
  assert.deepEqual(eps(r), ['2001:db8:a::7/443']);
  assert.match(r.warnings.join('\n'), /no public IPv4 address.*172\.31\.4\.7.*--endpoint/);
});

test('carrier-grade NAT (100.64/10) counts as private; nothing usable gives nothing', () => {
  assert.deepEqual(eps(chooseEndpoints({ wwan0: [v4('100.70.1.2')] }, 9993)), ['100.70.1.2/9993']);
  const none = chooseEndpoints({ lo: [v4('127.0.0.1', true)], eth0: [v6('fe80::1')], docker0: [v4('172.17.0.1')] }, 9993);
  assert.deepEqual(none.endpoints, []);
});

test('duplicates once; at most 32', () => {
  const many = Array.from({ length: 40 }, (_, i) => v4(`198.51.100.${i + 1}`));
  const r = chooseEndpoints({ eth0: many, eth1: [v4('198.51.100.1')] }, 9993);
  assert.equal(r.endpoints.length, 32);
  assert.equal(new Set(eps(r)).size, 32);
});
