import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import fc from 'fast-check';
import { lz4Compress, lz4CompressBound, lz4Decompress } from './lz4.js';
import { fromHex, toHex } from './bytes.js';
import { MAX_PACKET_LENGTH, MIN_PACKET_LENGTH } from './constants.js';
import { isZtError } from './errors.js';
import { readVectorJson } from '../test/vectors.js';

// lz4js is an old CommonJS package without types: load it through require and type the two calls we use.
interface Lz4js {
  compressBlock(src: Uint8Array, dst: Uint8Array, sIndex: number, sLength: number, hashTable: Uint32Array): number;
  decompressBlock(src: Uint8Array, dst: Uint8Array, sIndex: number, sLength: number, dIndex: number): number;
}
const lz4js = createRequire(import.meta.url)('lz4js') as Lz4js;

const MAX_PAYLOAD = MAX_PACKET_LENGTH - MIN_PACKET_LENGTH;

interface Pkt { kind: string; compressed_lz4?: boolean; compressed_payload_hex?: string; payload_hex?: string; frame?: number }
function capturedPackets(dir: string): Pkt[] {
  const j = readVectorJson(dir, 'decoded.json');
  const out: Pkt[] = [...(j.packets ?? [])];
  for (const r of j.tcp_records ?? []) if (r.inner_packet) out.push(r.inner_packet);
  out.push(...(j.root_loopback_udp_packets ?? []));
  return out.filter((p) => p.kind === 'packet');
}
const compressed = ['session', 'tcp-fallback', 'planet-update'].flatMap((d) =>
  capturedPackets(d)
    .filter((p) => p.compressed_lz4)
    .map((p) => ({ where: `${d} frame ${p.frame}`, src: fromHex(p.compressed_payload_hex!), out: fromHex(p.payload_hex!) })),
);

/** Decode with lz4js into a buffer of the known size. */
function lz4jsDecode(src: Uint8Array, size: number): Uint8Array {
  const dst = new Uint8Array(size + 64);
  const n = lz4js.decompressBlock(src, dst, 0, src.length, 0);
  return dst.slice(0, n);
}

test('every LZ4 payload ZeroTier 1.14.1 compressed in the captures decompresses to the recorded payload', () => {
  assert.ok(compressed.length >= 20, `expected many compressed packets, got ${compressed.length}`);
  for (const c of compressed) {
    assert.equal(toHex(lz4Decompress(c.src, MAX_PAYLOAD)), toHex(c.out), c.where);
    // the bound is honoured exactly: one byte less is refused
    assert.equal(lz4Decompress(c.src, c.out.length).length, c.out.length, c.where);
    assert.throws(() => lz4Decompress(c.src, c.out.length - 1), { code: 'ZT_ERR_BAD_COMPRESSION' }, c.where);
  }
});

test('our compressor shrinks the captured payloads and both lz4js and we decode its output', () => {
  for (const c of compressed) {
    const z = lz4Compress(c.out);
    assert.ok(z.length < c.out.length, `${c.where}: ${z.length} ≥ ${c.out.length}`);
    assert.deepEqual(lz4Decompress(z, MAX_PAYLOAD), c.out, c.where);
    assert.deepEqual(lz4jsDecode(z, c.out.length), c.out, `${c.where} (lz4js)`);
  }
});

test('fixed cases: empty, tiny, long runs, long literals, overlapping matches', () => {
  const cases: Uint8Array[] = [
    new Uint8Array(0),
    new Uint8Array([7]),
    new Uint8Array(12),
    new Uint8Array(13),
    new Uint8Array(5000), // one long overlapping run (offset 1)
    new Uint8Array(300).map((_, i) => (i * 7919) & 0xff), // literal length needing extension bytes
    new TextEncoder().encode('abcabcabcabcabcabcabcabcabcabcabcabcabcabc and then something else entirely, abcabcabc'),
  ];
  for (const c of cases) {
    const z = lz4Compress(c);
    assert.ok(z.length <= lz4CompressBound(c.length));
    assert.deepEqual(lz4Decompress(z, c.length), c, `length ${c.length}`);
    assert.deepEqual(lz4jsDecode(z, c.length), c, `lz4js, length ${c.length}`);
  }
  assert.ok(lz4Compress(new Uint8Array(5000)).length < 40, 'a zero run compresses to a few bytes');
});

test('end-of-block rules: the last 5 bytes are literals and no match starts in the last 12', () => {
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 0, maxLength: 200 }), fc.integer({ min: 0, max: 3 }), (a, alpha) => {
      const src = a.map((x) => x % (alpha + 1)); // small alphabets make many matches, up to the end
      const z = lz4Compress(src);
      // Walk our output's sequences and check where each match starts and ends in the output.
      let ip = 0;
      let op = 0;
      for (;;) {
        const t = z[ip++]!;
        let lit = t >> 4;
        if (lit === 15) for (let b = 255; b === 255; ) lit += b = z[ip++]!;
        ip += lit;
        op += lit;
        if (ip === z.length) break;
        ip += 2;
        let m = t & 15;
        if (m === 15) for (let b = 255; b === 255; ) m += b = z[ip++]!;
        assert.ok(op + 12 <= src.length, `match starts at ${op} of ${src.length}`);
        op += m + 4;
        assert.ok(op + 5 <= src.length, `match ends at ${op} of ${src.length}`);
      }
      assert.equal(op, src.length);
    }),
    { numRuns: 300, seed: 7 },
  );
});

test('round trip and lz4js cross-check on random data of varied compressibility', () => {
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 0, maxLength: 3000 }), fc.integer({ min: 0, max: 255 }), (a, alpha) => {
      const src = alpha === 255 ? a : a.map((x) => x % (alpha + 1));
      const z = lz4Compress(src);
      assert.deepEqual(lz4Decompress(z, src.length), src);
      assert.deepEqual(lz4jsDecode(z, src.length), src);
      // and we decode lz4js's blocks (it returns 0 when it found nothing to compress)
      const dst = new Uint8Array(lz4CompressBound(src.length));
      const n = lz4js.compressBlock(src, dst, 0, src.length, new Uint32Array(1 << 16));
      if (n > 0) assert.deepEqual(lz4Decompress(dst.subarray(0, n), src.length), src);
    }),
    { numRuns: 300, seed: 42 },
  );
});

test('hostile blocks: each malformation is a BAD_COMPRESSION naming what is wrong', () => {
  const bad = (hex: string, max: number, re: RegExp): void => {
    assert.throws(() => lz4Decompress(fromHex(hex), max), (e: unknown) => isZtError(e, 'ZT_ERR_BAD_COMPRESSION') && re.test(e.message), hex);
  };
  bad('', 100, /empty/);
  bad('20', 100, /literal length 2 .* past the end of input/); // 2 literals promised, none given
  bad('f0', 100, /literal length .* past the end of input/); // extension byte missing
  bad('f0ffffff', 10000, /literal length/); // run of 0xff
  bad('104101', 100, /offset of token .* cut off/); // one literal then half an offset
  bad('10410000', 100, /offset 0/);
  bad('1041020000', 100, /points before the start of output/); // offset 2 after 1 byte
  bad('1f410100', 100, /match length .* runs past the end of input/); // match length extension missing
  bad('1f41010000', 100, /ends with a match/); // match of 19, then nothing: the last sequence must be literals
  bad('1f4101000000', 10, /exceeds maxOutput|would exceed maxOutput/);
  bad('30414243', 2, /would exceed maxOutput 2/);
  // valid control: 1 literal + 19-byte run (offset 1) + an empty last sequence
  assert.equal(toHex(lz4Decompress(fromHex('1f4101000000'), 20)), '41'.repeat(20));
  assert.equal(toHex(lz4Decompress(fromHex('1041'), 1)), '41'); // literals only
});

test('random and mutated input only ever yields ZtError BAD_COMPRESSION and never exceeds maxOutput', () => {
  const seeds = compressed.map((c) => c.src);
  const check = (src: Uint8Array, max: number): void => {
    try {
      const out = lz4Decompress(src, max);
      assert.ok(out.length <= max);
    } catch (e) {
      if (!isZtError(e, 'ZT_ERR_BAD_COMPRESSION')) throw e;
    }
  };
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 0, maxLength: 400 }), fc.integer({ min: 0, max: 4000 }), (src, max) => check(src, max)),
    { numRuns: 2000, seed: 3 },
  );
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: seeds.length - 1 }),
      fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 }),
      fc.nat(),
      fc.integer({ min: 0, max: MAX_PAYLOAD }),
      (which, edits, cut, max) => {
        const src = seeds[which]!.slice(0, 1 + (cut % seeds[which]!.length));
        for (const [at, v] of edits) src[at % src.length] = v;
        check(src, max);
      },
    ),
    { numRuns: 2000, seed: 4 },
  );
});

test('decompression is linear: a maximal zero run and a 64 KiB 0xff length run finish fast', () => {
  const t0 = performance.now();
  // 1 literal, then a match of offset 1 whose length fills MAX_PAYLOAD, then an empty last sequence
  const runLen = MAX_PAYLOAD - 1 - 4;
  const ext: number[] = [];
  let r = runLen - 15;
  while (r >= 255) {
    ext.push(255);
    r -= 255;
  }
  ext.push(r);
  const block = new Uint8Array([0x1f, 0x00, 0x01, 0x00, ...ext, 0x00]);
  assert.equal(lz4Decompress(block, MAX_PAYLOAD).length, MAX_PAYLOAD);
  const hostile = new Uint8Array(65536).fill(0xff);
  hostile[0] = 0xf0;
  assert.throws(() => lz4Decompress(hostile, MAX_PAYLOAD), { code: 'ZT_ERR_BAD_COMPRESSION' });
  assert.ok(performance.now() - t0 < 500);
});
