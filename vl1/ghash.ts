/**
 * GHASH, GCM's universal hash (NIST SP 800-38D §6.4), in 32-bit words with Shoup's 4-bit tables: 16 multiples of
 * the hash key H per key (256 bytes), then per 16-byte block 32 table steps of shifts and XORs.
 *
 * Why: suite 3's GMAC (vl1/aes-gmac-siv.ts) needs a GCM tag per packet under a long-lived key and a fresh nonce,
 * and `node:crypto` cannot re-key a GCM context with a new nonce: a `createCipheriv('aes-256-gcm')` per packet
 * costs more than hashing a short packet here (tools/bench/armor.ts prints both). Long packets keep OpenSSL's GCM,
 * whose per-byte cost is far lower.
 *
 * Bit order as in the standard: a block is a 128-bit big-endian number whose most significant bit is x^0, so
 * "multiply by x" is a right shift, reduced by XORing 0xe1 into the top byte.
 */

/** x^-4 reduction: what the 4 bits shifted out of the low end add at the top (16-bit values, placed at bits 16..31 of word 0). */
const LAST4 = Uint32Array.of(0x0000, 0x1c20, 0x3840, 0x2460, 0x7080, 0x6ca0, 0x48c0, 0x54e0, 0xe100, 0xfd20, 0xd940, 0xc560, 0x9180, 0x8da0, 0xa9c0, 0xb5e0);

export class Ghash {
  /** M[i] = i·H for i in 0..15, as four big-endian 32-bit words each (M[i] at 4i..4i+3). */
  private readonly m = new Uint32Array(64);
  /** The running value Y (four words), between update() calls. */
  private y0 = 0;
  private y1 = 0;
  private y2 = 0;
  private y3 = 0;
  /** Bytes hashed since reset(), for the length block. */
  private length = 0;

  /** @param h the hash key H = AES_K(0^128), 16 bytes. */
  constructor(h: Uint8Array) {
    const m = this.m;
    let w0 = be32(h, 0), w1 = be32(h, 4), w2 = be32(h, 8), w3 = be32(h, 12);
    m[32] = w0; m[33] = w1; m[34] = w2; m[35] = w3; // M[8] = H (the nibble's top bit is x^0)
    for (let i = 4; i > 0; i >>= 1) {
      // M[i] = M[2i]·x: a right shift by one, reduced.
      const carry = w3 & 1;
      w3 = (w3 >>> 1) | (w2 << 31);
      w2 = (w2 >>> 1) | (w1 << 31);
      w1 = (w1 >>> 1) | (w0 << 31);
      w0 = (w0 >>> 1) ^ (carry === 0 ? 0 : 0xe1000000);
      m[4 * i] = w0; m[4 * i + 1] = w1; m[4 * i + 2] = w2; m[4 * i + 3] = w3;
    }
    for (let i = 2; i <= 8; i <<= 1) {
      for (let j = 1; j < i; j++) for (let k = 0; k < 4; k++) m[4 * (i + j) + k] = m[4 * i + k]! ^ m[4 * j + k]!;
    }
  }

  reset(): this {
    this.y0 = this.y1 = this.y2 = this.y3 = 0;
    this.length = 0;
    return this;
  }

  /**
   * Hashes `data` as the next blocks, its last block zero-padded: each call starts a new block, as GCM pads its
   * AAD and ciphertext separately (call it once per padded part).
   */
  update(data: Uint8Array): this {
    const n = data.length;
    let i = 0;
    for (; i + 16 <= n; i += 16) this.block(be32(data, i), be32(data, i + 4), be32(data, i + 8), be32(data, i + 12));
    if (i < n) {
      const tail = new Uint8Array(16); // at most one per call
      tail.set(data.subarray(i));
      this.block(be32(tail, 0), be32(tail, 4), be32(tail, 8), be32(tail, 12));
    }
    this.length += n;
    return this;
  }

  /**
   * Ends a GMAC: hashes the length block for `length` bytes of AAD (padded parts counted as hashed) and no
   * ciphertext, and writes Y to `out` (16 bytes). The caller XORs in E_K(J0) for the tag.
   */
  finishAad(out: Uint8Array, aadBytes = this.length): void {
    const bits = aadBytes * 8;
    this.block(Math.floor(bits / 0x100000000) >>> 0, bits >>> 0, 0, 0);
    put32(out, 0, this.y0);
    put32(out, 4, this.y1);
    put32(out, 8, this.y2);
    put32(out, 12, this.y3);
  }

  /** Y = (Y ^ X)·H, by nibbles from the last byte to the first. */
  private block(x0: number, x1: number, x2: number, x3: number): void {
    const m = this.m;
    const a0 = this.y0 ^ x0, a1 = this.y1 ^ x1, a2 = this.y2 ^ x2, a3 = this.y3 ^ x3;
    let z0 = 0, z1 = 0, z2 = 0, z3 = 0;
    let first = true;
    for (let w = 3; w >= 0; w--) {
      const word = w === 3 ? a3 : w === 2 ? a2 : w === 1 ? a1 : a0;
      for (let s = 0; s < 32; s += 4) {
        const nib = (word >>> s) & 0xf;
        if (!first) {
          const rem = z3 & 0xf;
          z3 = (z3 >>> 4) | (z2 << 28);
          z2 = (z2 >>> 4) | (z1 << 28);
          z1 = (z1 >>> 4) | (z0 << 28);
          z0 = (z0 >>> 4) ^ (LAST4[rem]! << 16);
        }
        first = false;
        const k = nib << 2;
        z0 ^= m[k]!;
        z1 ^= m[k + 1]!;
        z2 ^= m[k + 2]!;
        z3 ^= m[k + 3]!;
      }
    }
    this.y0 = z0 >>> 0;
    this.y1 = z1 >>> 0;
    this.y2 = z2 >>> 0;
    this.y3 = z3 >>> 0;
  }
}

function be32(b: Uint8Array, i: number): number {
  return ((b[i]! << 24) | (b[i + 1]! << 16) | (b[i + 2]! << 8) | b[i + 3]!) >>> 0;
}

function put32(b: Uint8Array, i: number, v: number): void {
  b[i] = v >>> 24;
  b[i + 1] = (v >>> 16) & 0xff;
  b[i + 2] = (v >>> 8) & 0xff;
  b[i + 3] = v & 0xff;
}
