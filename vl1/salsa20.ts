/**
 * Salsa20 with a choice of 12 or 20 rounds, as a continuous keystream.
 *
 * Why our own and not `@noble/ciphers`' salsa20: noble fixes 20 rounds and has no streaming state,
 * and ZeroTier needs Salsa20/12 for every suite-0/1 packet plus a 20-round stream of ~164 k blocks
 * for each identity validation, where a per-call wrapper would dominate. noble's salsa20 is used
 * in the tests as the reference for the 20-round core (`vl1/salsa20.test.ts`), and the vectors from
 * ZeroTier 1.14.1 (`ciphers.json`) pin both round counts.
 *
 * Standard DJB Salsa20: 32-byte key, 8-byte nonce, 64-bit little-endian block counter from 0
 * (`node/Salsa20.cpp`; same as libsodium `crypto_stream_salsa2012`).
 */
import { ZtError, ZtErrorCode } from './errors.js';

const SIGMA0 = 0x61707865; // "expa"
const SIGMA1 = 0x3320646e; // "nd 3"
const SIGMA2 = 0x79622d32; // "2-by"
const SIGMA3 = 0x6b206574; // "te k"

function le32(b: Uint8Array, o: number): number {
  return (b[o]! | (b[o + 1]! << 8) | (b[o + 2]! << 16) | (b[o + 3]! << 24)) | 0;
}

/**
 * The Salsa20 input state for a 32-byte key and 8-byte nonce, block counter 0 (words 8 and 9).
 * Reads the bytes as little-endian words, so it is right on any host.
 */
export function salsaInitState(key: Uint8Array, nonce: Uint8Array): Int32Array {
  const s = new Int32Array(16);
  s[0] = SIGMA0;
  s[1] = le32(key, 0);
  s[2] = le32(key, 4);
  s[3] = le32(key, 8);
  s[4] = le32(key, 12);
  s[5] = SIGMA1;
  s[6] = le32(nonce, 0);
  s[7] = le32(nonce, 4);
  s[10] = SIGMA2;
  s[11] = le32(key, 16);
  s[12] = le32(key, 20);
  s[13] = le32(key, 24);
  s[14] = le32(key, 28);
  s[15] = SIGMA3;
  return s;
}

/** Sixteen zero words: XOR with this to get the plain keystream block. */
export const SALSA_ZERO_BLOCK: Readonly<Int32Array> = new Int32Array(16);

/**
 * The Salsa20 core, shared by the packet cipher and the identity hash: one keystream block from state
 * `s` with `rounds` rounds (then the 64-bit counter in words 8/9 advances), XORed with `x[p..p+16)` and
 * stored as 16 words at `out[o..o+16)`. `out` and `x` may alias. Words are the cipher's little-endian
 * words as numbers; writing them through an `Int32Array` over bytes gives the byte stream only on a
 * little-endian host (callers that need bytes anywhere use {@link Salsa20}).
 */
export function salsaBlockXor(s: Int32Array, rounds: number, out: Int32Array, o: number, x: Readonly<Int32Array>, p: number): void {
  const j0 = s[0]!, j1 = s[1]!, j2 = s[2]!, j3 = s[3]!, j4 = s[4]!, j5 = s[5]!, j6 = s[6]!, j7 = s[7]!;
  const j8 = s[8]!, j9 = s[9]!, j10 = s[10]!, j11 = s[11]!, j12 = s[12]!, j13 = s[13]!, j14 = s[14]!, j15 = s[15]!;
  let x0 = j0, x1 = j1, x2 = j2, x3 = j3, x4 = j4, x5 = j5, x6 = j6, x7 = j7;
  let x8 = j8, x9 = j9, x10 = j10, x11 = j11, x12 = j12, x13 = j13, x14 = j14, x15 = j15;
  let u: number;
  for (let r = rounds; r > 0; r -= 2) {
    // column round
    u = (x0 + x12) | 0; x4 ^= (u << 7) | (u >>> 25);
    u = (x4 + x0) | 0; x8 ^= (u << 9) | (u >>> 23);
    u = (x8 + x4) | 0; x12 ^= (u << 13) | (u >>> 19);
    u = (x12 + x8) | 0; x0 ^= (u << 18) | (u >>> 14);
    u = (x5 + x1) | 0; x9 ^= (u << 7) | (u >>> 25);
    u = (x9 + x5) | 0; x13 ^= (u << 9) | (u >>> 23);
    u = (x13 + x9) | 0; x1 ^= (u << 13) | (u >>> 19);
    u = (x1 + x13) | 0; x5 ^= (u << 18) | (u >>> 14);
    u = (x10 + x6) | 0; x14 ^= (u << 7) | (u >>> 25);
    u = (x14 + x10) | 0; x2 ^= (u << 9) | (u >>> 23);
    u = (x2 + x14) | 0; x6 ^= (u << 13) | (u >>> 19);
    u = (x6 + x2) | 0; x10 ^= (u << 18) | (u >>> 14);
    u = (x15 + x11) | 0; x3 ^= (u << 7) | (u >>> 25);
    u = (x3 + x15) | 0; x7 ^= (u << 9) | (u >>> 23);
    u = (x7 + x3) | 0; x11 ^= (u << 13) | (u >>> 19);
    u = (x11 + x7) | 0; x15 ^= (u << 18) | (u >>> 14);
    // row round
    u = (x0 + x3) | 0; x1 ^= (u << 7) | (u >>> 25);
    u = (x1 + x0) | 0; x2 ^= (u << 9) | (u >>> 23);
    u = (x2 + x1) | 0; x3 ^= (u << 13) | (u >>> 19);
    u = (x3 + x2) | 0; x0 ^= (u << 18) | (u >>> 14);
    u = (x5 + x4) | 0; x6 ^= (u << 7) | (u >>> 25);
    u = (x6 + x5) | 0; x7 ^= (u << 9) | (u >>> 23);
    u = (x7 + x6) | 0; x4 ^= (u << 13) | (u >>> 19);
    u = (x4 + x7) | 0; x5 ^= (u << 18) | (u >>> 14);
    u = (x10 + x9) | 0; x11 ^= (u << 7) | (u >>> 25);
    u = (x11 + x10) | 0; x8 ^= (u << 9) | (u >>> 23);
    u = (x8 + x11) | 0; x9 ^= (u << 13) | (u >>> 19);
    u = (x9 + x8) | 0; x10 ^= (u << 18) | (u >>> 14);
    u = (x15 + x14) | 0; x12 ^= (u << 7) | (u >>> 25);
    u = (x12 + x15) | 0; x13 ^= (u << 9) | (u >>> 23);
    u = (x13 + x12) | 0; x14 ^= (u << 13) | (u >>> 19);
    u = (x14 + x13) | 0; x15 ^= (u << 18) | (u >>> 14);
  }
  out[o] = (x0 + j0) ^ x[p]!;
  out[o + 1] = (x1 + j1) ^ x[p + 1]!;
  out[o + 2] = (x2 + j2) ^ x[p + 2]!;
  out[o + 3] = (x3 + j3) ^ x[p + 3]!;
  out[o + 4] = (x4 + j4) ^ x[p + 4]!;
  out[o + 5] = (x5 + j5) ^ x[p + 5]!;
  out[o + 6] = (x6 + j6) ^ x[p + 6]!;
  out[o + 7] = (x7 + j7) ^ x[p + 7]!;
  out[o + 8] = (x8 + j8) ^ x[p + 8]!;
  out[o + 9] = (x9 + j9) ^ x[p + 9]!;
  out[o + 10] = (x10 + j10) ^ x[p + 10]!;
  out[o + 11] = (x11 + j11) ^ x[p + 11]!;
  out[o + 12] = (x12 + j12) ^ x[p + 12]!;
  out[o + 13] = (x13 + j13) ^ x[p + 13]!;
  out[o + 14] = (x14 + j14) ^ x[p + 14]!;
  out[o + 15] = (x15 + j15) ^ x[p + 15]!;
  s[8] = (j8 + 1) | 0;
  if (s[8] === 0) s[9] = (j9 + 1) | 0;
}

export class Salsa20 {
  /** Input state: constants, key, nonce, counter (words 8/9). */
  private readonly s: Int32Array;
  private readonly rounds: number;
  /** The current keystream block as words, and how many of its bytes are used. */
  private readonly w = new Int32Array(16);
  private used = 64;

  /**
   * @param key 32 bytes
   * @param nonce 8 bytes
   * @param rounds 12 (packets) or 20 (identity hash)
   * @throws {ZtError} BAD_VALUE on wrong key/nonce length or rounds
   */
  constructor(key: Uint8Array, nonce: Uint8Array, rounds: 12 | 20 = 20) {
    if (key.length !== 32) throw new ZtError(ZtErrorCode.BAD_VALUE, `Salsa20 key must be 32 bytes, got ${key.length}`);
    if (nonce.length !== 8) throw new ZtError(ZtErrorCode.BAD_VALUE, `Salsa20 nonce must be 8 bytes, got ${nonce.length}`);
    if (rounds !== 12 && rounds !== 20) throw new ZtError(ZtErrorCode.BAD_VALUE, `Salsa20 rounds must be 12 or 20, got ${rounds}`);
    this.rounds = rounds;
    this.s = salsaInitState(key, nonce);
  }

  /** Writes the next 64-byte keystream block into `out` at `o` (any host, any alignment). */
  nextBlock(out: Uint8Array, o = 0): void {
    const w = this.w;
    salsaBlockXor(this.s, this.rounds, w, 0, SALSA_ZERO_BLOCK, 0);
    for (let k = 0; k < 16; k++) put(out, o + 4 * k, w[k]!);
  }

  /** XORs the next keystream bytes into `data[start..end)` in place (any alignment). */
  xorInPlace(data: Uint8Array, start = 0, end = data.length): void {
    const w = this.w;
    let i = start;
    // Finish a block begun by an earlier call.
    while (i < end && this.used < 64) {
      data[i++]! ^= w[this.used >> 2]! >>> ((this.used & 3) << 3);
      this.used++;
    }
    // Whole blocks: XOR straight from the words, no intermediate byte buffer.
    while (end - i >= 64) {
      salsaBlockXor(this.s, this.rounds, w, 0, SALSA_ZERO_BLOCK, 0);
      for (let k = 0; k < 16; k++, i += 4) {
        const v = w[k]!;
        data[i]! ^= v;
        data[i + 1]! ^= v >>> 8;
        data[i + 2]! ^= v >>> 16;
        data[i + 3]! ^= v >>> 24;
      }
    }
    if (i < end) {
      salsaBlockXor(this.s, this.rounds, w, 0, SALSA_ZERO_BLOCK, 0);
      this.used = 0;
      while (i < end) {
        data[i++]! ^= w[this.used >> 2]! >>> ((this.used & 3) << 3);
        this.used++;
      }
    }
  }

  /** Discards `n` keystream bytes (e.g. the 32 unused bytes after the Poly1305 key). */
  skip(n: number): void {
    let left = n;
    while (left > 0 && this.used < 64) {
      this.used++;
      left--;
    }
    while (left >= 64) {
      salsaBlockXor(this.s, this.rounds, this.w, 0, SALSA_ZERO_BLOCK, 0);
      left -= 64;
    }
    if (left > 0) {
      salsaBlockXor(this.s, this.rounds, this.w, 0, SALSA_ZERO_BLOCK, 0);
      this.used = left;
    }
  }
}

function put(b: Uint8Array, o: number, v: number): void {
  b[o] = v & 0xff;
  b[o + 1] = (v >>> 8) & 0xff;
  b[o + 2] = (v >>> 16) & 0xff;
  b[o + 3] = (v >>> 24) & 0xff;
}

/** One-shot: XOR `data` with Salsa20 keystream from block 0 (returns a new array). */
export function salsa20Xor(key: Uint8Array, nonce: Uint8Array, rounds: 12 | 20, data: Uint8Array): Uint8Array {
  const out = data.slice();
  new Salsa20(key, nonce, rounds).xorInPlace(out);
  return out;
}

/** One-shot: the first `n` keystream bytes. */
export function salsa20Keystream(key: Uint8Array, nonce: Uint8Array, rounds: 12 | 20, n: number): Uint8Array {
  const out = new Uint8Array(n);
  new Salsa20(key, nonce, rounds).xorInPlace(out);
  return out;
}
