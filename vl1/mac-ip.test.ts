import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { parseAddress, parseNetworkId } from './address.js';
import { isZtError } from './errors.js';
import { parseInetAddress } from './inet-address.js';
import { formatMac, ipv6Rfc4193, ipv6SixPlane, macFromAddress, macToAddress, macToBytes, parseMac } from './mac-ip.js';
import { toHex } from './bytes.js';
import { readVectorJson } from '../test/vectors.js';

interface Entry { address: string; network_id: string; mac: string; mac_first_octet: string; mac_to_address_roundtrip: string; ipv6_6plane: string; ipv6_rfc4193: string }
const entries = readVectorJson<{ entries: Entry[] }>('macs-and-ips.json').entries;

test('every macs-and-ips.json entry: MAC, MAC → address, 6PLANE and RFC 4193 match ZeroTier 1.14.1', () => {
  assert.ok(entries.length >= 50);
  const firstOctets = new Set<string>();
  for (const e of entries) {
    const a = parseAddress(e.address);
    const n = parseNetworkId(e.network_id);
    const mac = macFromAddress(a, n);
    assert.equal(formatMac(mac), e.mac, `${e.address} on ${e.network_id}`);
    assert.equal(formatMac(mac).slice(0, 2), e.mac_first_octet);
    assert.equal(macToAddress(mac, n), parseAddress(e.mac_to_address_roundtrip));
    assert.equal(ipv6SixPlane(n, a), e.ipv6_6plane);
    assert.equal(ipv6Rfc4193(n, a), e.ipv6_rfc4193);
    // our IPv6 text is canonical: it survives a parse/format round trip
    assert.equal(parseInetAddress(`${e.ipv6_6plane}/0`).ip, e.ipv6_6plane);
    firstOctets.add(e.mac_first_octet);
  }
  assert.ok(firstOctets.has('32'), 'the vectors include the 0x52 → 0x32 substitution');
});

test('MAC text and bytes', () => {
  assert.equal(parseMac('02:F3:8b:75:4a:76'), 0x02f38b754a76n);
  assert.equal(parseMac('02-f3-8b-75-4a-76'), 0x02f38b754a76n);
  assert.equal(parseMac('02f38b754a76'), 0x02f38b754a76n);
  assert.equal(formatMac(0n), '00:00:00:00:00:00');
  assert.equal(toHex(macToBytes(0x02f38b754a76n)), '02f38b754a76');
  for (const s of ['', '02:f3:8b:75:4a', '02:f3:8b:75:4a:76:00', '02:f3-8b:75:4a:76', 'g2:f3:8b:75:4a:76', '2:f3:8b:75:4a:76', 'x'.repeat(500)]) {
    assert.throws(() => parseMac(s), (e: unknown) => isZtError(e, 'ZT_ERR_BAD_FORMAT'), s);
  }
  assert.throws(() => macFromAddress(2 ** 40, 1n), { code: 'ZT_ERR_BAD_VALUE' });
  assert.throws(() => macFromAddress(1, 1n << 64n), { code: 'ZT_ERR_BAD_VALUE' });
  assert.throws(() => macToAddress(1n << 48n, 1n), { code: 'ZT_ERR_BAD_VALUE' });
  assert.throws(() => ipv6SixPlane(-1n, 1), { code: 'ZT_ERR_BAD_VALUE' });
});

test('property: toAddress ∘ fromAddress is the identity; the MAC is unicast and locally administered', () => {
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 2 ** 40 - 1 }), fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }), (a, n) => {
      const mac = macFromAddress(a, n);
      assert.equal(macToAddress(mac, n), a);
      const first = Number(mac >> 40n);
      assert.equal(first & 0x01, 0);
      assert.equal(first & 0x02, 0x02);
      assert.notEqual(first, 0x52);
      assert.equal(parseMac(formatMac(mac)), mac);
      assert.ok(ipv6SixPlane(n, a).startsWith('fc'));
      assert.ok(ipv6Rfc4193(n, a).startsWith('fd'));
    }),
    { numRuns: 1000, seed: 21 },
  );
});
