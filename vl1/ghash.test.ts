/**
 * GHASH against OpenSSL's GCM (node:crypto) as the oracle: a GMAC built from it (E_K(J0) XOR GHASH of the AAD
 * and the length block) must equal AES-256-GCM's tag with no plaintext, for random keys, nonces and AAD of
 * every length class (empty, partial block, whole blocks, several parts).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createCipheriv, randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { Ghash } from './ghash.js';

function ecb(key: Uint8Array, block: Uint8Array): Uint8Array {
  const c = createCipheriv('aes-256-ecb', key, null);
  c.setAutoPadding(false);
  return new Uint8Array(c.update(block));
}

function gmacViaGhash(key: Uint8Array, nonce: Uint8Array, parts: Uint8Array[]): Uint8Array {
  const g = new Ghash(ecb(key, new Uint8Array(16)));
  for (const p of parts) g.update(p);
  const out = new Uint8Array(16);
  g.finishAad(out);
  const j0 = new Uint8Array(16);
  j0.set(nonce);
  j0[15] = 1;
  const e = ecb(key, j0);
  for (let i = 0; i < 16; i++) out[i] = out[i]! ^ e[i]!;
  return out;
}

function gmacViaOpenssl(key: Uint8Array, nonce: Uint8Array, aad: Uint8Array): Uint8Array {
  const c = createCipheriv('aes-256-gcm', key, nonce);
  c.setAAD(aad);
  c.final();
  return new Uint8Array(c.getAuthTag());
}

test('GMAC from GHASH equals OpenSSL GCM for random keys, nonces and AAD lengths 0..700', () => {
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.uint8Array({ minLength: 12, maxLength: 12 }), fc.uint8Array({ minLength: 0, maxLength: 700 }), (key, nonce, aad) => {
      assert.deepEqual(gmacViaGhash(key, nonce, [aad]), gmacViaOpenssl(key, nonce, aad));
    }),
    { numRuns: 300 },
  );
});

test('parts whose lengths are whole blocks hash as their concatenation (the 16-byte packet AAD, then the payload)', () => {
  for (const len of [0, 1, 15, 16, 17, 100, 511, 1400]) {
    const key = new Uint8Array(randomBytes(32));
    const nonce = new Uint8Array(randomBytes(12));
    const head = new Uint8Array(randomBytes(16));
    const data = new Uint8Array(randomBytes(len));
    const whole = new Uint8Array(16 + len);
    whole.set(head);
    whole.set(data, 16);
    assert.deepEqual(gmacViaGhash(key, nonce, [head, data]), gmacViaOpenssl(key, nonce, whole), `payload of ${len} bytes`);
  }
});

test('a reset Ghash hashes afresh; every bit of H and of the data matters', () => {
  const key = new Uint8Array(randomBytes(32));
  const nonce = new Uint8Array(12);
  const data = new Uint8Array(randomBytes(48));
  const g = new Ghash(ecb(key, new Uint8Array(16)));
  const a = new Uint8Array(16);
  const b = new Uint8Array(16);
  g.update(data).finishAad(a);
  g.reset().update(data).finishAad(b);
  assert.deepEqual(a, b);
  for (let bit = 0; bit < data.length * 8; bit += 37) {
    const d = data.slice();
    d[bit >> 3] = d[bit >> 3]! ^ (1 << (bit & 7));
    assert.notDeepEqual(gmacViaGhash(key, nonce, [d]), gmacViaOpenssl(key, nonce, data), `bit ${bit} flipped`);
  }
});
