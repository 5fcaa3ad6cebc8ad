import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { fromHex, toHex } from '../bytes.js';
import { isZtError } from '../errors.js';
import { Dictionary, parseHexU64 } from './dictionary.js';
import { smallVectors } from '../../test/vl2-sheet.js';

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
const dec = (b: Uint8Array): string => new TextDecoder().decode(b);

test('A.4: B = 61 00 0d 0a 5c 3d 62 is written B=a\\0\\r\\n\\\\\\eb and reads back', () => {
  const row = smallVectors().get('Dictionary `B` = bytes `61 00 0d 0a 5c 3d 62`');
  assert.ok(row, 'vl2.md A.4 has the dictionary row');
  const expected = /^`(.*)`$/.exec(row)![1]!;
  const value = fromHex('61000d0a5c3d62');
  const text = new Dictionary().add('B', value).encode();
  assert.equal(dec(text), expected);
  assert.deepEqual(Dictionary.parse(text).get('B'), value);
});

test('lookup: first occurrence wins, whole keys only, CR or LF ends a line, a NUL ends the text', () => {
  const d = Dictionary.parse(enc('ab=1\na=2\na=3\rbb=\\\nx\n=novalue\nnoequals\nc=4\0d=5'));
  assert.equal(dec(d.get('a')!), '2');
  assert.equal(dec(d.get('ab')!), '1');
  assert.equal(d.get('b'), undefined);
  // a trailing lone backslash escapes nothing and is dropped; the value ends at the LF
  assert.equal(dec(d.get('bb')!), '');
  assert.equal(dec(d.get('c')!), '4');
  assert.equal(d.get('d'), undefined, 'nothing after a NUL counts');
  assert.equal(d.get('noequals'), undefined);
  // unknown escapes give the character itself; '=' inside a value is kept
  assert.equal(dec(Dictionary.parse(enc('k=\\q\\\\x=y\\e')).get('k')!), 'q\\x=y=');
});

test('integers: 16 hex digits on write, strtoull(…, 16) on read', () => {
  const d = new Dictionary().add('v', 7).add('n', 0xc734a53e812d3883n).addAddress('id', 0x89e92ceee5).add('t', true).add('f', false);
  assert.equal(dec(d.encode()), 'v=0000000000000007\nn=c734a53e812d3883\nid=89e92ceee5\nt=1\nf=0');
  const r = (s: string): bigint => parseHexU64(enc(s));
  assert.equal(r('0x1F'), 0x1fn);
  assert.equal(r('  +ff zz'), 0xffn);
  assert.equal(r('-1'), 0xffffffffffffffffn);
  assert.equal(r('zz'), 0n);
  assert.equal(r('0x'), 0n, '"0x" without digits is the 0 before it');
  assert.equal(r('1'.repeat(17)), 0xffffffffffffffffn, 'overflow saturates');
  const x = Dictionary.parse(enc(`a=\nb=${'0'.repeat(127)}5\nc=0000000000000005`));
  assert.equal(x.getU64('a'), undefined, 'an empty value is absent for getUI');
  assert.equal(x.getU64('b'), 0n, 'only the first 127 bytes are read');
  assert.equal(x.getU64('c'), 5n);
  assert.equal(x.getU64('zz'), undefined);
  const b = Dictionary.parse(enc('a=1\nb=true\nc=T\nd=0\ne=\nf=yes'));
  assert.deepEqual(['a', 'b', 'c', 'd', 'e', 'f', 'g'].map((k) => b.getBool(k)), [true, true, true, false, false, false, undefined]);
  assert.throws(() => new Dictionary().add('a', -1), { code: 'ZT_ERR_BAD_VALUE' });
  assert.throws(() => new Dictionary().add('a', 1n << 64n), { code: 'ZT_ERR_BAD_VALUE' });
  for (const k of ['', 'a=b', 'a\nb', 'a\0', 'x'.repeat(257)]) assert.throws(() => new Dictionary().add(k, 1), { code: 'ZT_ERR_BAD_VALUE' }, JSON.stringify(k));
});

test('strings: UTF-8, cut at a NUL and at a byte limit', () => {
  const d = Dictionary.parse(new Dictionary().add('n', 'héllo').add('m', new Uint8Array([0x61, 0, 0x62])).encode());
  assert.equal(d.getString('n'), 'héllo');
  assert.equal(d.getString('m'), 'a');
  assert.equal(d.getString('n', 2), 'h\ufffd');
});

const key = fc.string({ unit: fc.integer({ min: 1, max: 0xff }).filter((c) => c !== 0x0a && c !== 0x0d && c !== 0x3d).map((c) => String.fromCharCode(c)), minLength: 1, maxLength: 12 });

test('property: parse(encode(entries)) gives the entries back (any value bytes)', () => {
  fc.assert(
    fc.property(fc.array(fc.tuple(key, fc.uint8Array({ maxLength: 40 })), { maxLength: 8 }), (entries) => {
      const d = new Dictionary();
      for (const [k, v] of entries) d.add(k, v);
      assert.deepEqual(Dictionary.parse(d.encode()).entries, entries);
    }),
    { numRuns: 400, seed: 51 },
  );
});

test('fuzz: any bytes parse (never throw), and re-encoding what parsed is stable', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 300 }), (b) => {
      const d = Dictionary.parse(b);
      const clean = new Dictionary();
      for (const [k, v] of d.entries) {
        try {
          clean.add(k, v);
        } catch (e) {
          assert.ok(isZtError(e, 'ZT_ERR_BAD_VALUE'), String(e));
        }
      }
      assert.equal(toHex(Dictionary.parse(clean.encode()).encode()), toHex(clean.encode()));
    }),
    { numRuns: 1000, seed: 52 },
  );
});
