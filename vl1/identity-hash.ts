/**
 * The memory-hard hash that binds a ZeroTier address to its public key
 * (`_computeMemoryHardHash` in `node/Identity.cpp`; shared/protocol/vl1.md §2.4).
 *
 * It runs 163,840 Salsa20/20 blocks over 2 MiB (32,768 to fill the buffer, 131,072 for the swap loop)
 * for every HELLO from an identity a root has not seen, so it is written for speed:
 * - XORs and 8-byte swaps go through `Int32Array` views of the memory. Both are byte-order neutral
 *   (a swap moves raw bytes; XOR is bytewise);
 * - the two indices are taken from the bytes themselves: `BE64(w) mod 8` is the low 3 bits of the
 *   word's last byte, `BE64(w) mod 2^18` its last 18 bits — no 64-bit arithmetic;
 * - the 2 MiB scratch is allocated once per call, or passed in for reuse (a worker pool keeps one).
 *
 * Two implementations, tested against each other and against ZeroTier's digests (identities.json):
 * - {@link memoryHardHashPortable} drives the shared `Salsa20` class, whose `nextBlock` writes each
 *   keystream block straight into the 2 MiB buffer. Exact on any host.
 * - {@link memoryHardHash} (little-endian hosts; falls back to the portable one otherwise) drives the
 *   word-level core `salsaBlockXor` of `vl1/salsa20.ts` over `Int32Array` views, which stores whole
 *   words and fuses the XOR with the previous block / the digest into the output step. Salsa20 emits
 *   little-endian words, so on a little-endian host an `Int32Array` store is the byte layout; this
 *   removes 64 byte stores and a second XOR pass per block (measured: tools/bench/identity.ts).
 */
import { createHash } from 'node:crypto';
import { IDENTITY_GEN_MEMORY } from './constants.js';
import { ZtError, ZtErrorCode } from './errors.js';
import { Salsa20, SALSA_ZERO_BLOCK, salsaBlockXor, salsaInitState } from './salsa20.js';

/** Size of the digest (a SHA-512 state worth of bytes). */
export const MEMORY_HARD_DIGEST_LENGTH = 64;
/** Bytes of scratch memory the hash needs (`ZT_IDENTITY_GEN_MEMORY`, 2 MiB). */
export const MEMORY_HARD_SCRATCH_LENGTH = IDENTITY_GEN_MEMORY;

const BLOCKS = IDENTITY_GEN_MEMORY / 64; // 32,768 keystream-sized blocks
const WORDS = IDENTITY_GEN_MEMORY / 8; // 262,144 uint64 words
const WORD_INDEX_MASK = WORDS - 1; // 2^18 − 1: "mod 262,144" on the word's low bits

const LITTLE_ENDIAN_HOST = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/** A scratch buffer of the right size for {@link memoryHardHash}'s optional argument. */
export function allocMemoryHardScratch(): Uint8Array {
  return new Uint8Array(MEMORY_HARD_SCRATCH_LENGTH);
}

/**
 * The 64-byte memory-hard digest of a 64-byte public key (§2.4). `scratch`, when given, must be a
 * 2 MiB `Uint8Array` starting at a 4-byte-aligned offset; its previous contents do not matter (every
 * byte is overwritten before it is read) and it holds garbage afterwards.
 * @throws {ZtError} BAD_VALUE when the key is not 64 bytes or the scratch is the wrong size or alignment.
 */
export function memoryHardHash(publicKey64: Uint8Array, scratch?: Uint8Array): Uint8Array {
  if (!LITTLE_ENDIAN_HOST) return memoryHardHashPortable(publicKey64, scratch);
  const mem = checkArgs(publicKey64, scratch);
  const m32 = new Int32Array(mem.buffer, mem.byteOffset, IDENTITY_GEN_MEMORY / 4);

  const digest = sha512(publicKey64);
  const d32 = new Int32Array(digest.buffer, 0, 16);
  // Salsa20/20 input state keyed with digest[0..31], nonce digest[32..39], counter 0 — copied now,
  // so the swaps into the digest below do not re-key the stream.
  const st = salsaInitState(digest.subarray(0, 32), digest.subarray(32, 40));

  // Block 0 = keystream block 0 (XOR with the zero block); block i = block i−1 ^ keystream.
  salsaBlockXor(st, 20, m32, 0, SALSA_ZERO_BLOCK, 0);
  for (let i = 16; i < m32.length; i += 16) salsaBlockXor(st, 20, m32, i, m32, i - 16);

  for (let w = 0; w < WORDS; w += 2) {
    swapWords(mem, m32, d32, w);
    salsaBlockXor(st, 20, d32, 0, d32, 0); // digest ^= next keystream block
  }
  return digest;
}

/**
 * Same digest as {@link memoryHardHash}, computed with the shared `Salsa20` class: the readable
 * version, the fallback on big-endian hosts, and the reference the fast path is tested against.
 * @throws {ZtError} BAD_VALUE when the key is not 64 bytes or the scratch is the wrong size or alignment.
 */
export function memoryHardHashPortable(publicKey64: Uint8Array, scratch?: Uint8Array): Uint8Array {
  const mem = checkArgs(publicKey64, scratch);
  const m32 = new Int32Array(mem.buffer, mem.byteOffset, IDENTITY_GEN_MEMORY / 4);

  // 1. digest = SHA-512(pub); the stream is keyed from a copy of it, so later changes to the digest
  //    do not re-key it (Salsa20's constructor copies key and nonce into its state).
  const digest = sha512(publicKey64);
  const d32 = new Int32Array(digest.buffer, 0, 16);
  const s20 = new Salsa20(digest.subarray(0, 32), digest.subarray(32, 40), 20);

  // 2. Block 0 = keystream block 0 (zeros XOR keystream); block i = block i−1 XOR next keystream block.
  s20.nextBlock(mem, 0);
  for (let b = 1; b < BLOCKS; b++) {
    const o = b * 64;
    s20.nextBlock(mem, o);
    const i = o >> 2;
    for (let k = 0; k < 16; k++) m32[i + k]! ^= m32[i - 16 + k]!;
  }

  // 3. 131,072 sequential rounds: indices come from memory that earlier swaps may have changed.
  const ks = new Uint8Array(64);
  const ks32 = new Int32Array(ks.buffer);
  for (let w = 0; w < WORDS; w += 2) {
    swapWords(mem, m32, d32, w);
    // digest ^= next keystream block
    s20.nextBlock(ks, 0);
    for (let k = 0; k < 16; k++) d32[k]! ^= ks32[k]!;
  }
  return digest;
}

/**
 * Steps 5a–c of §2.4 for the word pair (w, w+1): swap mem word `BE64(w+1) mod 2^18` with digest word
 * `BE64(w) mod 8`, as raw bytes.
 */
function swapWords(mem: Uint8Array, m32: Int32Array, d32: Int32Array, w: number): void {
  const o = w * 8;
  // idx1 = BE64(word w) mod 8: low 3 bits of the word's last byte.
  const idx1 = mem[o + 7]! & 7;
  // idx2 = BE64(word w+1) mod 2^18: the last 18 bits of word w+1 (its bytes 5, 6, 7).
  const idx2 = ((mem[o + 13]! << 16) | (mem[o + 14]! << 8) | mem[o + 15]!) & WORD_INDEX_MASK;
  const mi = idx2 * 2;
  const di = idx1 * 2;
  const t0 = m32[mi]!;
  const t1 = m32[mi + 1]!;
  m32[mi] = d32[di]!;
  m32[mi + 1] = d32[di + 1]!;
  d32[di] = t0;
  d32[di + 1] = t1;
}

function sha512(b: Uint8Array): Uint8Array {
  const digest = new Uint8Array(64);
  digest.set(createHash('sha512').update(b).digest());
  return digest;
}

function checkArgs(publicKey64: Uint8Array, scratch: Uint8Array | undefined): Uint8Array {
  if (!(publicKey64 instanceof Uint8Array) || publicKey64.length !== 64) {
    throw new ZtError(ZtErrorCode.BAD_VALUE, `memory-hard hash: public key must be 64 bytes, got ${publicKey64?.length}`);
  }
  let mem: Uint8Array;
  if (scratch === undefined) {
    mem = new Uint8Array(IDENTITY_GEN_MEMORY);
  } else {
    if (!(scratch instanceof Uint8Array) || scratch.length !== IDENTITY_GEN_MEMORY || scratch.byteOffset % 4 !== 0) {
      throw new ZtError(
        ZtErrorCode.BAD_VALUE,
        `memory-hard hash: scratch must be a 4-byte-aligned Uint8Array of ${IDENTITY_GEN_MEMORY} bytes, got ${scratch?.length} at offset ${scratch?.byteOffset}`,
      );
    }
    mem = scratch;
  }
  return mem;
}
