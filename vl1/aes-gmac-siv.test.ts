import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createCipheriv, randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { AesGmacSiv, JS_GMAC_MAX_BYTES } from './aes-gmac-siv.js';
import { fromHex, toHex } from './bytes.js';
import { readVectorJson } from '../test/vectors.js';

interface SivVector { k0: string; k1: string; iv: string; aad: string; plaintext: string; intermediate_gmac_128: string; tag: string; ciphertext: string }
interface Ciphers { aes256_block: Array<{ key: string; block: string; encrypted: string }>; aes_gmac_siv: SivVector[] }
const ciphers = readVectorJson<Ciphers>('ciphers.json');

/** Slow, obviously-correct reference: one-shot node:crypto calls straight from the §4.3 description. */
function referenceEncrypt(k0: Uint8Array, k1: Uint8Array, iv: Uint8Array, aad: Uint8Array, pt: Uint8Array): { gmac: Uint8Array; tag: Uint8Array; ct: Uint8Array } {
  const padded = new Uint8Array(Math.ceil(aad.length / 16) * 16 + pt.length);
  padded.set(aad, 0);
  padded.set(pt, Math.ceil(aad.length / 16) * 16);
  const g = createCipheriv('aes-256-gcm', k0, Buffer.concat([iv, new Uint8Array(4)]));
  g.setAAD(padded);
  g.final();
  const gmac = new Uint8Array(g.getAuthTag());
  const blk = new Uint8Array(16);
  blk.set(iv, 0);
  for (let i = 0; i < 8; i++) blk[8 + i] = gmac[i]! ^ gmac[8 + i]!;
  const e = createCipheriv('aes-256-ecb', k1, null);
  e.setAutoPadding(false);
  const tag = new Uint8Array(e.update(blk));
  const ctrIv = tag.slice();
  ctrIv[12] = ctrIv[12]! & 0x7f;
  const ct = new Uint8Array(createCipheriv('aes-256-ctr', k1, ctrIv).update(pt));
  return { gmac, tag, ct };
}

test('AES-256 block known answer (FIPS-197 via ciphers.json aes256_block)', () => {
  assert.ok(ciphers.aes256_block.length > 0);
  for (const v of ciphers.aes256_block) {
    const e = createCipheriv('aes-256-ecb', fromHex(v.key), null);
    e.setAutoPadding(false);
    assert.equal(toHex(e.update(fromHex(v.block))), v.encrypted);
  }
});

test('every ciphers.json aes_gmac_siv vector: intermediate GMAC, tag, ciphertext, and decrypt', () => {
  assert.equal(ciphers.aes_gmac_siv.length, 7);
  for (const v of ciphers.aes_gmac_siv) {
    const siv = new AesGmacSiv(fromHex(v.k0), fromHex(v.k1));
    const iv = fromHex(v.iv), aad = fromHex(v.aad), pt = fromHex(v.plaintext);
    assert.equal(toHex(siv.gmac(iv, aad, pt)), v.intermediate_gmac_128, `gmac ${v.iv}`);
    const { tag, ciphertext } = siv.encrypt(iv, aad, pt);
    assert.equal(toHex(tag), v.tag, `tag ${v.iv}`);
    assert.equal(toHex(ciphertext), v.ciphertext, `ciphertext ${v.iv}`);
    const back = siv.decrypt(fromHex(v.tag), aad, fromHex(v.ciphertext));
    assert.ok(back !== null);
    assert.equal(toHex(back), v.plaintext);
    // and the in-place form recovers the IV
    const buf = fromHex(v.ciphertext);
    assert.equal(toHex(siv.decryptInPlace(fromHex(v.tag), aad, buf)!), v.iv);
  }
});

test('a wrong tag, AAD or ciphertext bit fails decryption and leaves the buffer untouched', () => {
  const v = ciphers.aes_gmac_siv[5]!;
  const siv = new AesGmacSiv(fromHex(v.k0), fromHex(v.k1));
  const aad = fromHex(v.aad);
  const tag = fromHex(v.tag);
  const ct = fromHex(v.ciphertext);
  const badTag = tag.slice(); badTag[3] = badTag[3]! ^ 0x10;
  assert.equal(siv.decrypt(badTag, aad, ct), null);
  const badAad = aad.slice(); badAad[0] = badAad[0]! ^ 1;
  assert.equal(siv.decrypt(tag, badAad, ct), null);
  const badCt = ct.slice(); badCt[200] = badCt[200]! ^ 0x80;
  const copy = badCt.slice();
  assert.equal(siv.decryptInPlace(tag, aad, badCt), null);
  assert.deepEqual(badCt, copy, 'failed decrypt must restore the ciphertext');
});

test('optimised ECB-counter CTR + in-place path equals the one-shot reference at any size and alignment', () => {
  fc.assert(
    fc.property(
      fc.uint8Array({ minLength: 32, maxLength: 32 }),
      fc.uint8Array({ minLength: 32, maxLength: 32 }),
      fc.uint8Array({ minLength: 8, maxLength: 8 }),
      fc.uint8Array({ maxLength: 40 }),
      fc.uint8Array({ maxLength: 1600 }),
      fc.integer({ min: 0, max: 7 }),
      (k0, k1, iv, aad, pt, offset) => {
        const ref = referenceEncrypt(k0, k1, iv, aad, pt);
        const siv = new AesGmacSiv(k0, k1);
        const host = new Uint8Array(pt.length + offset);
        const data = host.subarray(offset);
        data.set(pt);
        const tag = new Uint8Array(16);
        siv.encryptInPlace(iv, aad, data, tag);
        assert.deepEqual(tag, ref.tag);
        assert.deepEqual(data, ref.ct);
        assert.deepEqual(siv.decryptInPlace(tag, aad, data), iv);
        assert.deepEqual(data, pt);
      },
    ),
    { numRuns: 150, seed: 7 },
  );
});

test('CTR starts from the tag with byte 12 & 0x7f (not the raw tag)', () => {
  const k0 = new Uint8Array(32).fill(3), k1 = new Uint8Array(32).fill(9);
  const siv = new AesGmacSiv(k0, k1);
  const pt = new Uint8Array(100).fill(0x5a);
  // find an IV whose tag has the top bit of byte 12 set, so clearing it matters
  let iv = new Uint8Array(8);
  let out = siv.encrypt(iv, new Uint8Array(0), pt);
  for (let i = 1; (out.tag[12]! & 0x80) === 0; i++) {
    iv = new Uint8Array(8); iv[0] = i;
    out = siv.encrypt(iv, new Uint8Array(0), pt);
  }
  const cleared = out.tag.slice(); cleared[12] = cleared[12]! & 0x7f;
  assert.deepEqual(out.ciphertext, new Uint8Array(createCipheriv('aes-256-ctr', k1, cleared).update(pt)));
  assert.notDeepEqual(out.ciphertext, new Uint8Array(createCipheriv('aes-256-ctr', k1, out.tag).update(pt)));
});

test('bad key, IV or tag lengths are typed errors', () => {
  assert.throws(() => new AesGmacSiv(new Uint8Array(16), new Uint8Array(32)), { code: 'ZT_ERR_BAD_VALUE' });
  assert.throws(() => new AesGmacSiv(new Uint8Array(32), new Uint8Array(31)), { code: 'ZT_ERR_BAD_VALUE' });
  const siv = new AesGmacSiv(new Uint8Array(32), new Uint8Array(32));
  assert.throws(() => siv.encrypt(new Uint8Array(12), new Uint8Array(0), new Uint8Array(3)), { code: 'ZT_ERR_BAD_VALUE' });
  assert.throws(() => siv.decrypt(new Uint8Array(15), new Uint8Array(0), new Uint8Array(3)), { code: 'ZT_ERR_BAD_VALUE' });
});

test('the GMAC is the same whichever way it is made: GHASH in JS (short data) or OpenSSL GCM (long), either side of the threshold', () => {
  const k0 = new Uint8Array(randomBytes(32));
  const siv = new AesGmacSiv(k0, new Uint8Array(randomBytes(32)));
  for (const len of [0, 1, 15, 16, 17, 100, JS_GMAC_MAX_BYTES - 1, JS_GMAC_MAX_BYTES, JS_GMAC_MAX_BYTES + 1, 600, 1400]) {
    for (const aadLen of [0, 11, 16, 32]) {
      const iv = new Uint8Array(randomBytes(8));
      const aad = new Uint8Array(randomBytes(aadLen));
      const data = new Uint8Array(randomBytes(len));
      const nonce = new Uint8Array(12);
      nonce.set(iv);
      const g = createCipheriv('aes-256-gcm', k0, nonce);
      g.setAAD(Buffer.concat([aad, new Uint8Array((16 - (aadLen & 15)) & 15), data]));
      g.final();
      assert.equal(toHex(siv.gmac(iv, aad, data)), toHex(new Uint8Array(g.getAuthTag())), `data ${len} B, AAD ${aadLen} B`);
    }
  }
});
