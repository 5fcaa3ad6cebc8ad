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

test('packetBytes: zeroed arrays of the asked length that never overlap, 8-byte aligned in their slab; small and large ones standalone', async () => {
  const { packetBytes, packetCopy, PACKET_SLAB_BYTES } = await import('./bytes.js');
  const got: Uint8Array[] = [];
  // Enough to span several slabs, with odd sizes so alignment matters.
  for (let i = 0; i < 200; i++) {
    const n = 65 + ((i * 977) % 3000);
    const a = packetBytes(n);
    assert.equal(a.length, n);
    assert.ok(a.every((b) => b === 0), 'zeroed');
    assert.equal(a.byteOffset % 8, 0);
    a.fill(i & 0xff || 1);
    got.push(a);
  }
  // Writing each did not touch any other: every array still holds only its own byte.
  got.forEach((a, i) => assert.ok(a.every((b) => b === (i & 0xff || 1)), `array ${i} was overwritten`));
  assert.ok(new Set(got.map((a) => a.buffer)).size > 1, 'several slabs');
  for (const n of [0, 1, 64, 16 * 1024 + 1, PACKET_SLAB_BYTES]) {
    const a = packetBytes(n);
    assert.equal(a.length, n);
    assert.equal(a.byteOffset, 0);
    assert.equal(a.buffer.byteLength, n, `${n} bytes get their own buffer`);
  }
  const src = new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51, 52, 53, 54, 55, 56, 57, 58, 59, 60, 61, 62, 63, 64, 65, 66]);
  const c = packetCopy(src);
  assert.deepEqual([...c], [...src]);
  src[0] = 99;
  assert.equal(c[0], 1, 'a copy, not a view');
});

test('ByteWriter.finish: what a later write cannot change, whether the buffer was sized exactly or not', () => {
  for (const initial of [3, 8]) {
    const w = new ByteWriter(initial);
    w.u8(1).u16(0x0203);
    const first = w.finish();
    w.u8(4);
    assert.deepEqual([...first], [1, 2, 3]);
    assert.deepEqual([...w.finish()], [1, 2, 3, 4]);
  }
});
