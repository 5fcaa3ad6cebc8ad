import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { kbkdfHmacSha384, PeerKey } from './peer-key.js';
import { fromHex, toHex } from './bytes.js';
import { readVectorJson, REPO_ROOT } from '../test/vectors.js';
import { join } from 'node:path';

interface Pair { identity_agree_48: string; salsa_poly_key_32: string; kbkdf_label0_48: string; kbkdf_label1_48: string; aes_gmac_siv_k0: string; aes_gmac_siv_k1: string }
const pairs = readVectorJson<{ pairs: Pair[] }>('agreement.json').pairs;

test('KBKDF HMAC-SHA-384 and K0/K1 for every agreement.json pair', () => {
  assert.equal(pairs.length, 5);
  for (const p of pairs) {
    const key = fromHex(p.identity_agree_48);
    assert.equal(toHex(kbkdfHmacSha384(key, '0')), p.kbkdf_label0_48);
    assert.equal(toHex(kbkdfHmacSha384(key, '1')), p.kbkdf_label1_48);
    const pk = new PeerKey(key);
    assert.equal(toHex(pk.k0), p.aes_gmac_siv_k0);
    assert.equal(toHex(pk.k1), p.aes_gmac_siv_k1);
    assert.equal(toHex(pk.salsaKey), p.salsa_poly_key_32);
    assert.equal(toHex(pk.key48), p.identity_agree_48);
  }
});

test('vl1.md Appendix A.2 KBKDF outputs (read from the markdown)', () => {
  const md = readFileSync(join(REPO_ROOT, '..', 'shared', 'protocol', 'vl1.md'), 'utf8');
  const a2 = /\*\*A\.2 Agreement and KBKDF\.\*\*([\s\S]*?)\*\*A\.3/.exec(md)?.[1] ?? '';
  const key = /key\(A,B\) = key\(B,A\) = `([0-9a-f]{96})`/.exec(a2)?.[1];
  const h0 = /HMAC output for K0 = `([0-9a-f]{96})`/.exec(a2)?.[1];
  const h1 = /for K1 = `([0-9a-f]{96})`/.exec(a2)?.[1];
  assert.ok(key && h0 && h1, 'Appendix A.2 not found in vl1.md');
  assert.equal(toHex(kbkdfHmacSha384(fromHex(key), '0')), h0);
  assert.equal(toHex(kbkdfHmacSha384(fromHex(key), '1')), h1);
});

test('PeerKey copies its input and rejects wrong lengths', () => {
  const key = fromHex(pairs[0]!.identity_agree_48);
  const pk = new PeerKey(key);
  key[0] = key[0]! ^ 0xff;
  assert.equal(toHex(pk.key48), pairs[0]!.identity_agree_48);
  assert.throws(() => new PeerKey(new Uint8Array(32)), { code: 'ZT_ERR_BAD_VALUE' });
  assert.throws(() => kbkdfHmacSha384(new Uint8Array(47), '0'), { code: 'ZT_ERR_BAD_VALUE' });
  assert.throws(() => kbkdfHmacSha384(new Uint8Array(48), '2' as '0'), { code: 'ZT_ERR_BAD_VALUE' });
  assert.equal(pk.siv, pk.siv, 'the suite-3 cipher is created once');
});
