/**
 * AES-GMAC-SIV, the cipher of packet suite 3 (`AES::GMACSIVEncryptor/Decryptor` in `node/AES.hpp`,
 * `node/AES.cpp`; shared/protocol/vl1.md §4.3, ciphers.json `aes_gmac_siv`), on `node:crypto`.
 *
 *   1. gmac = AES-256-GCM tag under K0, nonce `iv ‖ 00000000`, empty plaintext,
 *             AAD = `aad ‖ zero pad to 16 ‖ plaintext`
 *   2. tag  = AES-256-ECB(K1, `iv ‖ (gmac[0..7] XOR gmac[8..15])`)
 *   3. ciphertext = plaintext XOR AES-256-CTR(K1) from counter block `tag` with byte 12 &= 0x7f
 *      (32-bit big-endian counter in bytes 12..15)
 *
 * Performance: the CTR keystream is made by ECB-encrypting a run of counter blocks with the
 * long-lived `aes-256-ecb` cipher in one `update()` call and XORing it in 32-bit words. Measured
 * against `createCipheriv('aes-256-ctr')` per packet (tools/bench/armor.ts, second table; best of 15
 * interleaved runs on the shared 2-core dev box, Node 20): ≈1.2–1.35× faster at 100, 400, 800 and
 * 1400 bytes, because creating a cipher object per packet costs more than the JS XOR. (A byte-wise XOR
 * loop lost at 1400 B; the word XOR is what makes this win.) GCM has no such trick in `node:crypto` —
 * a GCM context cannot be re-keyed with a new nonce — so for long packets the GMAC is one
 * `createCipheriv('aes-256-gcm')` per packet; up to JS_GMAC_MAX_BYTES it is GHASH in JS (vl1/ghash.ts) plus
 * one block of the long-lived ECB under K0 for E(J0): 2.6–3.6 µs of CPU against 3.8–7.2 µs for a GCM context
 * at 16–256 bytes; the two cross near 300 bytes (measured on the shared 2-core box; WHOIS, ECHO, HELLO and
 * OK replies are all short).
 */
import { createCipheriv, createDecipheriv, type Cipher, type Decipher } from 'node:crypto';
import { ZtError, ZtErrorCode } from './errors.js';
import { Ghash } from './ghash.js';

/** Data (after the 16-byte AAD) up to this long gets its GMAC from GHASH in JS; longer, from OpenSSL's GCM. */
export const JS_GMAC_MAX_BYTES = 256;

/** Bytes of the SIV tag (on the wire: packet bytes 0..7 and 19..26). */
export const GMAC_SIV_TAG_LENGTH = 16;
/** Bytes of the per-message IV (the packet's random ID before armoring). */
export const GMAC_SIV_IV_LENGTH = 8;

const ZERO16 = new Uint8Array(16);

// Scratch shared by every key: the functions below are synchronous, so one set per process is
// enough, and per-key scratch would cost ~20 KB per peer for no gain. Grown on demand.
let ctrBlocks = new Uint8Array(10048);
let ctrWords = new Uint32Array(ctrBlocks.buffer);
let ctrView = new DataView(ctrBlocks.buffer);
/** Keystream copy placed so that its 4-byte alignment matches the data being XORed. */
let ksAligned = new Uint8Array(10048 + 8);
const nonce12 = new Uint8Array(12);
const block16 = new Uint8Array(16);
/** J0 = nonce ‖ 00000001 for E_K0(J0). */
const j0 = new Uint8Array(16);
const gmacOut = new Uint8Array(16);

function growScratch(bytes: number): void {
  if (bytes <= ctrBlocks.length) return;
  let n = ctrBlocks.length;
  while (n < bytes) n *= 2;
  ctrBlocks = new Uint8Array(n);
  ctrWords = new Uint32Array(ctrBlocks.buffer);
  ctrView = new DataView(ctrBlocks.buffer);
  ksAligned = new Uint8Array(n + 8);
}

function checkLen(b: Uint8Array, n: number, what: string): void {
  if (b.length !== n) throw new ZtError(ZtErrorCode.BAD_VALUE, `${what} must be ${n} bytes, got ${b.length}`);
}

/** AES-GMAC-SIV under one key pair (K0 for GMAC, K1 for the tag block and CTR). */
export class AesGmacSiv {
  private readonly k0: Uint8Array;
  /** Long-lived ECB contexts under K1: update() only, never final(), so they can be reused forever. */
  private readonly ecbEnc: Cipher;
  private readonly ecbDec: Decipher;
  /** For short data: ECB under K0 (E(J0)) and GHASH under H = E_K0(0), made at the first short GMAC. */
  private ecbK0: Cipher | null = null;
  private ghash: Ghash | null = null;

  /** @throws {ZtError} BAD_VALUE unless both keys are 32 bytes. */
  constructor(k0: Uint8Array, k1: Uint8Array) {
    checkLen(k0, 32, 'AES-GMAC-SIV K0');
    checkLen(k1, 32, 'AES-GMAC-SIV K1');
    this.k0 = k0.slice();
    this.ecbEnc = createCipheriv('aes-256-ecb', k1, null);
    this.ecbEnc.setAutoPadding(false);
    this.ecbDec = createDecipheriv('aes-256-ecb', k1, null);
    this.ecbDec.setAutoPadding(false);
  }

  /**
   * The intermediate GMAC (16 bytes): AES-256-GCM tag under K0 with nonce `iv ‖ 00000000`, empty
   * plaintext and AAD `aad ‖ zero pad ‖ data`.
   * @throws {ZtError} BAD_VALUE unless `iv` is 8 bytes.
   */
  gmac(iv: Uint8Array, aad: Uint8Array, data: Uint8Array): Uint8Array {
    checkLen(iv, GMAC_SIV_IV_LENGTH, 'AES-GMAC-SIV IV');
    if (data.length <= JS_GMAC_MAX_BYTES && (aad.length & 15) === 0) return this.gmacJs(iv, aad, data);
    nonce12.set(iv, 0); // bytes 8..11 stay zero
    const g = createCipheriv('aes-256-gcm', this.k0, nonce12);
    g.setAAD(aad);
    const pad = (16 - (aad.length & 15)) & 15;
    if (pad !== 0) g.setAAD(ZERO16.subarray(0, pad));
    g.setAAD(data);
    g.final();
    return g.getAuthTag();
  }

  /** {@link gmac} for short data whose AAD is whole blocks (the packet's is 16 bytes): GHASH in JS. */
  private gmacJs(iv: Uint8Array, aad: Uint8Array, data: Uint8Array): Uint8Array {
    if (this.ecbK0 === null) {
      this.ecbK0 = createCipheriv('aes-256-ecb', this.k0, null);
      this.ecbK0.setAutoPadding(false);
      this.ghash = new Ghash(this.ecbK0.update(ZERO16));
    }
    this.ghash!.reset().update(aad).update(data).finishAad(gmacOut);
    j0.set(iv, 0); // bytes 8..14 stay zero, byte 15 is 1
    j0[15] = 1;
    const e = this.ecbK0.update(j0);
    for (let i = 0; i < 16; i++) gmacOut[i] = gmacOut[i]! ^ e[i]!;
    return gmacOut;
  }

  /**
   * Encrypts `data` in place and writes the 16-byte tag into `tagOut`.
   * @throws {ZtError} BAD_VALUE on a wrong IV or tag buffer length.
   */
  encryptInPlace(iv: Uint8Array, aad: Uint8Array, data: Uint8Array, tagOut: Uint8Array): void {
    checkLen(tagOut, GMAC_SIV_TAG_LENGTH, 'AES-GMAC-SIV tag output');
    const g = this.gmac(iv, aad, data);
    block16.set(iv, 0);
    for (let i = 0; i < 8; i++) block16[8 + i] = g[i]! ^ g[8 + i]!;
    const t = this.ecbEnc.update(block16);
    tagOut.set(t);
    this.ctrXor(t, data);
  }

  /**
   * Decrypts `data` in place and checks the tag. Returns the recovered 8-byte IV, or null when the
   * tag does not verify — then `data` is restored to the ciphertext it was.
   * @throws {ZtError} BAD_VALUE unless `tag` is 16 bytes.
   */
  decryptInPlace(tag: Uint8Array, aad: Uint8Array, data: Uint8Array): Uint8Array | null {
    checkLen(tag, GMAC_SIV_TAG_LENGTH, 'AES-GMAC-SIV tag');
    const ks = this.ctrXor(tag, data);
    const d = this.ecbDec.update(tag); // iv ‖ mac64
    const iv = d.subarray(0, 8);
    const g = this.gmac(iv, aad, data);
    let diff = 0; // constant time over the 8 bytes
    for (let i = 0; i < 8; i++) diff |= (g[i]! ^ g[8 + i]!) ^ d[8 + i]!;
    if (diff !== 0) {
      xorWords(data, ks); // undo: leave the caller's buffer as it came
      return null;
    }
    return new Uint8Array(iv);
  }

  /** Copying convenience form of {@link encryptInPlace}. */
  encrypt(iv: Uint8Array, aad: Uint8Array, plaintext: Uint8Array): { tag: Uint8Array; ciphertext: Uint8Array } {
    const ciphertext = plaintext.slice();
    const tag = new Uint8Array(GMAC_SIV_TAG_LENGTH);
    this.encryptInPlace(iv, aad, ciphertext, tag);
    return { tag, ciphertext };
  }

  /** Copying convenience form of {@link decryptInPlace}: the plaintext, or null on a bad tag. */
  decrypt(tag: Uint8Array, aad: Uint8Array, ciphertext: Uint8Array): Uint8Array | null {
    const out = ciphertext.slice();
    return this.decryptInPlace(tag, aad, out) === null ? null : out;
  }

  /**
   * XORs AES-256-CTR(K1) keystream from counter block `tag` (byte 12 &= 0x7f) into `data`.
   * Returns the aligned keystream scratch (valid until the next call) so a failed decrypt can undo it.
   */
  private ctrXor(tag: Uint8Array, data: Uint8Array): Uint8Array {
    const len = data.length;
    if (len === 0) return ksAligned.subarray(0, 0);
    const n = (len + 15) >>> 4;
    growScratch(n << 4);
    ctrBlocks.set(tag.subarray(0, 16), 0);
    ctrBlocks[12] = ctrBlocks[12]! & 0x7f; // `node/AES.cpp`: the counter's top bit is cleared (SIV)
    const w0 = ctrWords[0]!, w1 = ctrWords[1]!, w2 = ctrWords[2]!;
    const c0 = ctrView.getUint32(12, false);
    for (let b = 1; b < n; b++) {
      const w = b << 2;
      ctrWords[w] = w0;
      ctrWords[w + 1] = w1;
      ctrWords[w + 2] = w2;
      ctrView.setUint32((b << 4) + 12, (c0 + b) >>> 0, false); // 32-bit BE counter, wraps like the C++
    }
    const ks = this.ecbEnc.update(ctrBlocks.subarray(0, n << 4));
    const mis = data.byteOffset & 3;
    ksAligned.set(ks.subarray(0, len), mis);
    const view = ksAligned.subarray(mis, mis + len);
    xorWords(data, view);
    return view;
  }
}

/**
 * data ^= ks, where ks[i] sits at the same 4-byte alignment as data[i] (ksAligned guarantees it),
 * so the bulk runs on Uint32 words — 3–4× faster than a byte loop at 1400 bytes.
 */
function xorWords(data: Uint8Array, ks: Uint8Array): void {
  const len = data.length;
  let i = 0;
  const head = Math.min(len, (4 - (data.byteOffset & 3)) & 3);
  for (; i < head; i++) data[i] = data[i]! ^ ks[i]!;
  const words = (len - i) >>> 2;
  if (words > 0 && ((ks.byteOffset + i) & 3) === 0) {
    const d32 = new Uint32Array(data.buffer, data.byteOffset + i, words);
    const k32 = new Uint32Array(ks.buffer, ks.byteOffset + i, words);
    for (let w = 0; w < words; w++) d32[w] = d32[w]! ^ k32[w]!;
    i += words << 2;
  }
  for (; i < len; i++) data[i] = data[i]! ^ ks[i]!;
}
