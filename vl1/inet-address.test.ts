import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SocketAddress } from 'node:net';
import fc from 'fast-check';
import { ByteReader, ByteWriter, fromHex, toHex } from './bytes.js';
import { isZtError } from './errors.js';
import {
  formatInetAddress,
  formatIpv6,
  inetAddressEquals,
  inetAddressToBytes,
  inetAddressWireLength,
  normalizeInetAddress,
  parseInetAddress,
  readInetAddress,
  writeInetAddress,
  type InetAddress,
} from './inet-address.js';
import { readVectorJson } from '../test/vectors.js';

function write(a: InetAddress | null): string {
  const w = new ByteWriter(4);
  writeInetAddress(w, a);
  return toHex(w.finish());
}
function read(hex: string): InetAddress | null {
  const r = new ByteReader(fromHex(hex));
  const a = readInetAddress(r);
  r.expectEnd('test');
  return a;
}

test('wire form of the types 1.14 defines (§5.1)', () => {
  assert.equal(read('00'), null);
  assert.deepEqual(read('04c00000012709'), { family: 4, ip: '192.0.0.1', port: 9993 });
  assert.deepEqual(read('0620010db802c0000000000000000000012709'), { family: 6, ip: '2001:db8:2c0::1', port: 9993 });
  // placeholders 1/2 (6 bytes) and 3 (length-prefixed) are skipped and consume exactly their bytes
  assert.equal(read('01aabbccddeeff'), null);
  assert.equal(read('02aabbccddeeff'), null);
  assert.equal(read('030003aabbcc'), null);
  assert.equal(read('030000'), null);
  assert.equal(write(null), '00');
  assert.equal(write({ family: 4, ip: '192.0.0.1', port: 9993 }), '04c00000012709');
  assert.equal(write({ family: 6, ip: '2001:db8:2c0::1', port: 9993 }), '0620010db802c0000000000000000000012709');
});

test('IPv4-mapped IPv6 is written as type 4 (as 1.14 serializes it)', () => {
  const mapped: InetAddress = { family: 6, ip: '::ffff:1.2.3.4', port: 443 };
  assert.equal(write(mapped), '04' + '01020304' + '01bb');
  assert.equal(inetAddressWireLength(mapped), 7);
  assert.deepEqual(parseInetAddress('::ffff:1.2.3.4/443'), mapped);
  assert.deepEqual(normalizeInetAddress(mapped), { family: 4, ip: '1.2.3.4', port: 443 });
  assert.ok(inetAddressEquals(mapped, { family: 4, ip: '1.2.3.4', port: 443 }));
  // a type-6 mapped address on the wire keeps its family when read, RFC 5952 text
  assert.deepEqual(read('0600000000000000000000ffff010203040001'), { family: 6, ip: '::ffff:1.2.3.4', port: 1 });
});

test('bad wire input: undefined type → BAD_VALUE naming it; short → TRUNCATED', () => {
  for (const t of [5, 7, 0x40, 0xff]) {
    assert.throws(() => read(t.toString(16).padStart(2, '0') + '00'.repeat(20)), (e: unknown) => isZtError(e, 'ZT_ERR_BAD_VALUE') && e.message.includes(`0x${t.toString(16).padStart(2, '0')}`));
  }
  for (const h of ['', '04c000', '04c0000001', '0620010db8', '01aabb', '0300', '030005aabb']) {
    assert.throws(() => read(h), { code: 'ZT_ERR_TRUNCATED' }, h);
  }
});

test('every endpoint in the planet vectors and captures reads to the recorded ip/port and writes back', () => {
  let n = 0;
  const visit = (o: unknown): void => {
    if (Array.isArray(o)) return o.forEach(visit);
    if (o === null || typeof o !== 'object') return;
    const rec = o as { type?: number; ip?: string; port?: number; raw?: string };
    if ((rec.type === 4 || rec.type === 6) && typeof rec.raw === 'string' && typeof rec.ip === 'string') {
      const a = read(rec.raw);
      assert.deepEqual(a, { family: rec.type, ip: rec.ip, port: rec.port });
      assert.equal(write(a), rec.raw);
      assert.deepEqual(parseInetAddress(formatInetAddress(a!)), a);
      n++;
    }
    Object.values(o).forEach(visit);
  };
  for (const d of ['session', 'planet-update']) visit(readVectorJson(d, 'decoded.json'));
  assert.ok(n > 100, `only ${n} endpoints found`);
});

test('text forms: ip/port, ipv4:port, [ipv6]:port, canonical output', () => {
  assert.deepEqual(parseInetAddress('1.2.3.4/9993'), { family: 4, ip: '1.2.3.4', port: 9993 });
  assert.deepEqual(parseInetAddress('1.2.3.4:9993'), { family: 4, ip: '1.2.3.4', port: 9993 });
  assert.deepEqual(parseInetAddress('2001:DB8:0:0::1/9993'), { family: 6, ip: '2001:db8::1', port: 9993 });
  assert.deepEqual(parseInetAddress('[2001:db8::0:1]:443'), { family: 6, ip: '2001:db8::1', port: 443 });
  assert.deepEqual(parseInetAddress('::/0'), { family: 6, ip: '::', port: 0 });
  assert.equal(formatInetAddress({ family: 6, ip: '2001:db8::1', port: 9993 }), '2001:db8::1/9993');
  // RFC 5952: first longest zero run; a single zero group is not compressed
  assert.equal(formatIpv6(fromHex('20010db8000000010000000000000001')), '2001:db8:0:1::1');
  assert.equal(formatIpv6(fromHex('20010db8000000000001000000000001')), '2001:db8::1:0:0:1');
  assert.equal(formatIpv6(fromHex('20010db8000100010001000100010001')), '2001:db8:1:1:1:1:1:1');
  assert.equal(formatIpv6(fromHex('20010000000100010001000100010001')), '2001:0:1:1:1:1:1:1');
});

test('bad text is BAD_FORMAT naming the input', () => {
  for (const s of ['', '1.2.3.4', '1.2.3.4/', '1.2.3.4/65536', '1.2.3.4/-1', '1.2.3.4/99999999', '01.2.3.4/1', '1.2.3/1', '2001:db8::1:9993', '[2001:db8::1]9993', '[1.2.3.4]:1', 'fe80::1%eth0/9993', '[fe80::1%eth0]:1', 'host/1', ':::/1', '1:2:3:4:5:6:7:8:9/1', 'x'.repeat(1000)]) {
    assert.throws(() => parseInetAddress(s), (e: unknown) => isZtError(e, 'ZT_ERR_BAD_FORMAT') && e.message.includes(s.slice(0, 20)), s);
  }
  assert.throws(() => parseInetAddress(7 as unknown as string), { code: 'ZT_ERR_BAD_FORMAT' });
  assert.throws(() => write({ family: 4, ip: '2001:db8::1', port: 1 }), { code: 'ZT_ERR_BAD_VALUE' });
  assert.throws(() => write({ family: 4, ip: '1.2.3.4', port: 65536 }), { code: 'ZT_ERR_BAD_VALUE' });
  assert.throws(() => write({ family: 6, ip: 'nonsense', port: 1 }), { code: 'ZT_ERR_BAD_VALUE' });
});

const arbV4 = fc.uint8Array({ minLength: 4, maxLength: 4 });
// bias IPv6 toward zero groups so "::" placement is exercised
const arbV6 = fc.array(fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 0xffff })), { minLength: 8, maxLength: 8 }).map((g) => {
  const b = new Uint8Array(16);
  g.forEach((x, i) => {
    b[2 * i] = x >> 8;
    b[2 * i + 1] = x & 0xff;
  });
  return b;
});

test('property: wire bytes → read → write is the identity; text agrees with Node (SocketAddress)', () => {
  fc.assert(
    fc.property(fc.oneof(arbV4, arbV6), fc.integer({ min: 0, max: 0xffff }), (ip, port) => {
      const isMapped = ip.length === 16 && toHex(ip).startsWith('00000000000000000000ffff');
      fc.pre(!isMapped); // mapped addresses are normalised to type 4 on write (tested above)
      const hex = (ip.length === 4 ? '04' : '06') + toHex(ip) + port.toString(16).padStart(4, '0');
      const a = read(hex)!;
      assert.equal(write(a), hex);
      assert.deepEqual(inetAddressToBytes(a), ip);
      // Node (libuv inet_ntop) still prints the deprecated IPv4-compatible form "::a.b.c.d" for ::/96; RFC 5952 does not
      const v4compat = ip.length === 16 && toHex(ip).startsWith('000000000000000000000000');
      if (!v4compat) assert.equal(a.ip, new SocketAddress({ address: a.ip, family: a.family === 4 ? 'ipv4' : 'ipv6' }).address);
      assert.deepEqual(parseInetAddress(formatInetAddress(a)), a);
      if (a.family === 6) assert.deepEqual(parseInetAddress(`[${a.ip}]:${port}`), a);
    }),
    { numRuns: 1000, seed: 11 },
  );
});

test('property: random bytes and random strings only ever give ZtError', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 30 }), (b) => {
      try {
        readInetAddress(new ByteReader(b));
      } catch (e) {
        if (!isZtError(e)) throw e;
      }
    }),
    { numRuns: 2000, seed: 12 },
  );
  fc.assert(
    fc.property(fc.oneof(fc.string({ maxLength: 60 }), fc.stringMatching(/^[0-9a-fA-F:.\[\]\/%]{0,50}$/)), (s) => {
      try {
        const a = parseInetAddress(s);
        assert.deepEqual(parseInetAddress(formatInetAddress(a)), a);
      } catch (e) {
        if (!isZtError(e, 'ZT_ERR_BAD_FORMAT')) throw e;
      }
    }),
    { numRuns: 3000, seed: 13 },
  );
});
