import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ByteReader, ByteWriter, fromHex, toHex, readU40, writeU40 } from './bytes.js';

test('ByteWriter keeps every byte when it grows (regression: writes landed in the old buffer)', () => {
  const w = new ByteWriter(2);
  w.u8(1).u8(2).u8(3).u8(4).u16(0x0506).u32(0x0708090a).u40(0x0b0c0d0e0f).u64(0x1011121314151617n).bytes(new Uint8Array([0x18, 0x19]));
  assert.equal(toHex(w.finish()), '0102030405060708090a0b0c0d0e0f10111213141516171819');
});

test('ByteWriter and ByteReader round-trip any sequence of fields', () => {
  type Op = { k: 'u8' | 'u16' | 'u32' | 'u40'; v: number } | { k: 'u64'; v: bigint } | { k: 'bytes'; v: Uint8Array };
  const op: fc.Arbitrary<Op> = fc.oneof(
    fc.record({ k: fc.constant('u8' as const), v: fc.nat(0xff) }),
    fc.record({ k: fc.constant('u16' as const), v: fc.nat(0xffff) }),
    fc.record({ k: fc.constant('u32' as const), v: fc.nat(0xffffffff) }),
    fc.record({ k: fc.constant('u40' as const), v: fc.nat(0xffffffffff) }),
    fc.record({ k: fc.constant('u64' as const), v: fc.bigInt({ min: 0n, max: 0xffffffffffffffffn }) }),
    fc.record({ k: fc.constant('bytes' as const), v: fc.uint8Array({ maxLength: 40 }) }),
  );
  fc.assert(
    fc.property(fc.array(op, { maxLength: 60 }), fc.integer({ min: 1, max: 16 }), (ops, initial) => {
      const w = new ByteWriter(initial);
      for (const o of ops) (w[o.k] as (v: unknown) => ByteWriter)(o.v);
      const r = new ByteReader(w.finish());
      for (const o of ops) {
        if (o.k === 'bytes') assert.deepEqual(r.bytes(o.v.length, 'b'), o.v);
        else assert.equal(r[o.k]('x'), o.v);
      }
      r.expectEnd('all');
    }),
    { seed: 7, numRuns: 300 },
  );
});

test('ByteReader never reads past its end and says what was missing', () => {
  const r = new ByteReader(new Uint8Array(3));
  assert.throws(() => r.u32('field x'), (e: unknown) => (e as { code: string; message: string }).code === 'ZT_ERR_TRUNCATED' && /field x/.test((e as Error).message));
  assert.equal(r.pos, 0);
  assert.throws(() => new ByteReader(new Uint8Array(4)).bytes(5, 'y'), { code: 'ZT_ERR_TRUNCATED' });
  const t = new ByteReader(new Uint8Array(2));
  t.u8('a');
  assert.throws(() => t.expectEnd('s'), { code: 'ZT_ERR_TRAILING_BYTES' });
});

test('hex is strict and 40-bit values are exact', () => {
  assert.throws(() => fromHex('abc'), { code: 'ZT_ERR_BAD_FORMAT' });
  assert.throws(() => fromHex('zz'), { code: 'ZT_ERR_BAD_FORMAT' });
  const b = new Uint8Array(5);
  writeU40(b, 0, 0xffffffffff);
  assert.equal(readU40(b, 0), 0xffffffffff);
});
