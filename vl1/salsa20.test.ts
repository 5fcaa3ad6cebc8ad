import { test } from 'node:test';
import assert from 'node:assert/strict';
import { salsa20 as nobleSalsa20 } from '@noble/ciphers/salsa.js';
import fc from 'fast-check';
import { Salsa20, salsa20Keystream } from './salsa20.js';
import { fromHex, toHex } from './bytes.js';
import { readVectorJson } from '../test/vectors.js';

interface SalsaVector { rounds: 12 | 20; key: string; iv: string; counter_start: number; keystream_128: string }
const vectors = readVectorJson<{ salsa20: SalsaVector[] }>('ciphers.json').salsa20;

test('Salsa20/12 and /20 keystreams match ZeroTier 1.14.1 (ciphers.json)', () => {
  assert.ok(vectors.some((v) => v.rounds === 12) && vectors.some((v) => v.rounds === 20));
  for (const v of vectors) {
    assert.equal(v.counter_start, 0);
    assert.equal(toHex(salsa20Keystream(fromHex(v.key), fromHex(v.iv), v.rounds, 128)), v.keystream_128, `rounds ${v.rounds} key ${v.key}`);
  }
});

test('20-round core agrees with @noble/ciphers salsa20 for random keys, nonces and split points', () => {
  fc.assert(
    fc.property(
      fc.uint8Array({ minLength: 32, maxLength: 32 }),
      fc.uint8Array({ minLength: 8, maxLength: 8 }),
      fc.uint8Array({ minLength: 0, maxLength: 700 }),
      fc.nat(700),
      (key, nonce, data, split) => {
        const ref = nobleSalsa20(key, nonce, data);
        const mine = data.slice();
        const s = new Salsa20(key, nonce, 20);
        const cut = Math.min(split, data.length);
        s.xorInPlace(mine, 0, cut); // streaming across an arbitrary split must continue the keystream
        s.xorInPlace(mine, cut, mine.length);
        assert.deepEqual(mine, ref);
      },
    ),
    { numRuns: 200, seed: 1 },
  );
});

test('bad key, nonce or rounds is a typed error', () => {
  assert.throws(() => new Salsa20(new Uint8Array(31), new Uint8Array(8)), { code: 'ZT_ERR_BAD_VALUE' });
  assert.throws(() => new Salsa20(new Uint8Array(32), new Uint8Array(12)), { code: 'ZT_ERR_BAD_VALUE' });
  assert.throws(() => new Salsa20(new Uint8Array(32), new Uint8Array(8), 8 as 12), { code: 'ZT_ERR_BAD_VALUE' });
});
