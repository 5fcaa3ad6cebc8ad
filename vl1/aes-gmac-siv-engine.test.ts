import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AesGmacSiv } from './aes-gmac-siv.js';
import { aesGmacSivEngine, JS_AES_GMAC_SIV, registerAesGmacSivEngine, type AesGmacSivEngine, type SivCipher } from './aes-gmac-siv-engine.js';
import { armor, buildPacket, dearmor } from './packet.js';
import { PeerKey } from './peer-key.js';

test('without a registration keys use node:crypto; a registered engine makes the cipher of every key first used after it', () => {
  assert.equal(aesGmacSivEngine(), JS_AES_GMAC_SIV);
  assert.ok(new PeerKey(new Uint8Array(48).fill(1)).siv instanceof AesGmacSiv);

  // An engine that counts what packet.ts asks of it, around the reference.
  const calls: string[] = [];
  const counting: AesGmacSivEngine = {
    name: 'counting',
    create: (k0, k1): SivCipher => {
      const inner = new AesGmacSiv(k0, k1);
      return {
        encryptInPlace: (...a) => (calls.push('enc'), inner.encryptInPlace(...a)),
        decryptInPlace: (...a) => (calls.push('dec'), inner.decryptInPlace(...a)),
      };
    },
  };
  const early = new PeerKey(new Uint8Array(48).fill(2));
  void early.siv; // made before the registration: stays on node:crypto
  registerAesGmacSivEngine(counting);
  try {
    assert.equal(aesGmacSivEngine().name, 'counting');
    const key = new PeerKey(new Uint8Array(48).fill(2));
    const pkt = buildPacket({ dest: 0x0f7b349d9f, source: 0xf38b69a8b4, verb: 6, payload: new Uint8Array(300).fill(7) });
    const id = pkt.slice(0, 8);
    armor(pkt, key, 3);
    assert.deepEqual(dearmor(pkt.slice(), early), id, 'same bytes as the reference');
    assert.deepEqual(dearmor(pkt, key), id);
    assert.deepEqual(calls, ['enc', 'dec']);
  } finally {
    registerAesGmacSivEngine(JS_AES_GMAC_SIV);
  }
  assert.equal(aesGmacSivEngine(), JS_AES_GMAC_SIV);
});
