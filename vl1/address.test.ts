import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  MAX_ADDRESS,
  adhocNetworkId,
  formatAddress,
  formatNetworkId,
  isReservedAddress,
  networkController,
  parseAddress,
  parseNetworkId,
} from './address.js';
import { isZtError, ZtErrorCode } from './errors.js';
import { readVectorJson, readVectorText } from '../test/vectors.js';

test('addresses format as 10 lowercase hex digits and parse back (identities.json)', () => {
  const ids = readVectorJson<{ identities: Array<{ address: string }> }>('identities.json').identities;
  for (const { address } of ids) {
    const a = parseAddress(address);
    assert.equal(formatAddress(a), address);
    assert.equal(isReservedAddress(a), false);
  }
  assert.equal(formatAddress(1), '0000000001');
  assert.equal(formatAddress(MAX_ADDRESS), 'ffffffffff');
  assert.equal(parseAddress('DEADBEEF01'), 0xdeadbeef01);
});

test('format/parse round-trip for every 40-bit value (property)', () => {
  fc.assert(
    fc.property(fc.integer({ min: 0, max: MAX_ADDRESS }), (a) => {
      const s = formatAddress(a);
      assert.match(s, /^[0-9a-f]{10}$/);
      assert.equal(parseAddress(s), a);
    }),
    { numRuns: 500, seed: 7 },
  );
});

test('reserved: 0 and every address starting with 0xff (Address::isReserved)', () => {
  assert.equal(isReservedAddress(0), true);
  assert.equal(isReservedAddress(0xff00000000), true);
  assert.equal(isReservedAddress(0xffffffffff), true);
  assert.equal(isReservedAddress(parseAddress('ff0000ffff')), true); // ad-hoc pseudo-controller seen in WHOIS
  assert.equal(isReservedAddress(1), false);
  assert.equal(isReservedAddress(0xfeffffffff), false);
  assert.equal(isReservedAddress(0x00ff000000), false);
});

test('bad address text and values are typed errors naming the input', () => {
  for (const s of ['', '123456789', '12345678901', 'g123456789', ' 123456789', '0x12345678', '12345678-9']) {
    assert.throws(() => parseAddress(s), (e: unknown) => isZtError(e, ZtErrorCode.BAD_FORMAT) && e.message.includes(`"${s}"`), s);
  }
  for (const a of [-1, MAX_ADDRESS + 1, 1.5, NaN]) {
    assert.throws(() => formatAddress(a), { code: ZtErrorCode.BAD_VALUE });
  }
});

test('random strings never parse into anything but a ZtError (property)', () => {
  fc.assert(
    fc.property(fc.string({ maxLength: 24 }), (s) => {
      for (const f of [parseAddress, parseNetworkId]) {
        try {
          f(s);
        } catch (e) {
          assert.ok(isZtError(e, ZtErrorCode.BAD_FORMAT), `unexpected ${String(e)}`);
        }
      }
    }),
    { numRuns: 1000, seed: 11 },
  );
});

test('network ids: 16 hex digits, controller = top 40 bits (session/nodes.txt)', () => {
  const nodes = readVectorText('session', 'nodes.txt');
  const root = /^root address=([0-9a-f]{10})/m.exec(nodes)![1]!;
  const nwidText = /^controller_network=([0-9a-f]{16})$/m.exec(nodes)![1]!;
  const nwid = parseNetworkId(nwidText);
  assert.equal(formatNetworkId(nwid), nwidText);
  assert.equal(formatAddress(networkController(nwid)), root);
  assert.equal(formatNetworkId(0n), '0000000000000000');
  assert.equal(parseNetworkId('FFFFFFFFFFFFFFFF'), 0xffffffffffffffffn);
  assert.equal(networkController(0xffffffffffffffffn), MAX_ADDRESS);
  for (const s of ['', 'c734a53e812d388', 'c734a53e812d38833', 'c734a53e812d388z']) {
    assert.throws(() => parseNetworkId(s), { code: ZtErrorCode.BAD_FORMAT });
  }
  for (const n of [-1n, 1n << 64n]) assert.throws(() => formatNetworkId(n), { code: ZtErrorCode.BAD_VALUE });
});

test('network id round-trip (property)', () => {
  fc.assert(
    fc.property(fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }), (n) => {
      assert.equal(parseNetworkId(formatNetworkId(n)), n);
      assert.equal(BigInt(networkController(n)), n >> 24n);
    }),
    { numRuns: 500, seed: 3 },
  );
});

test('ad-hoc network ids: ff | start | end | 000000 (the capture joined ff0000ffff000000)', () => {
  assert.equal(formatNetworkId(adhocNetworkId(0, 65535)), 'ff0000ffff000000');
  assert.equal(formatNetworkId(adhocNetworkId(9993, 9993)), 'ff27092709000000');
  assert.equal(formatAddress(networkController(adhocNetworkId(0, 65535))), 'ff0000ffff');
  for (const [a, b] of [[-1, 0], [0, 65536], [1.5, 2]] as const) {
    assert.throws(() => adhocNetworkId(a, b), { code: ZtErrorCode.BAD_VALUE });
  }
});
