import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { salsa20 as nobleSalsa20 } from '@noble/ciphers/salsa.js';
import { allocMemoryHardScratch, memoryHardHash, memoryHardHashPortable, MEMORY_HARD_SCRATCH_LENGTH } from './identity-hash.js';
import { fromHex, toHex } from './bytes.js';
import { ZtErrorCode } from './errors.js';
import { readVectorJson } from '../test/vectors.js';

interface IdVector { name: string; public_x25519: string; public_ed25519: string; memory_hard_digest: string }
interface InvalidVector { name: string; string: string; memory_hard_digest: string | null }
const vectors = readVectorJson<{ identities: IdVector[]; invalid: InvalidVector[] }>('identities.json');

/**
 * Slow, obviously-correct reference written straight from vl1.md §2.4: keystream from @noble/ciphers'
 * Salsa20/20 (one continuous stream, generated up front), BigInt big-endian word reads, byte copies.
 */
function referenceHash(pub: Uint8Array): Uint8Array {
  const d = new Uint8Array(createHash('sha512').update(pub).digest());
  const memBlocks = 2097152 / 64;
  const loopBlocks = 262144 / 2;
  const ks = nobleSalsa20(d.slice(0, 32), d.slice(32, 40), new Uint8Array((memBlocks + loopBlocks) * 64));
  const mem = new Uint8Array(2097152);
  for (let i = 0; i < mem.length; i++) mem[i] = (i >= 64 ? mem[i - 64]! : 0) ^ ks[i]!;
  const dv = new DataView(mem.buffer);
  let k = memBlocks * 64;
  for (let w = 0; w < 262144; w += 2) {
    const idx1 = Number(dv.getBigUint64(w * 8, false) % 8n);
    const idx2 = Number(dv.getBigUint64((w + 1) * 8, false) % 262144n);
    const tmp = mem.slice(idx2 * 8, idx2 * 8 + 8);
    mem.set(d.subarray(idx1 * 8, idx1 * 8 + 8), idx2 * 8);
    d.set(tmp, idx1 * 8);
    for (let j = 0; j < 64; j++) d[j]! ^= ks[k++]!;
  }
  return d;
}

test('memoryHardHash reproduces every digest from ZeroTier 1.14.1 (identities.json)', () => {
  const scratch = allocMemoryHardScratch();
  assert.equal(vectors.identities.length, 16);
  for (const v of vectors.identities) {
    const pub = fromHex(v.public_x25519 + v.public_ed25519);
    assert.equal(toHex(memoryHardHash(pub, scratch)), v.memory_hard_digest, v.name);
  }
  // Tampered keys from invalid[] have their own digests recorded: the hash covers all 64 key bytes.
  let n = 0;
  for (const v of vectors.invalid) {
    if (v.memory_hard_digest === null) continue;
    const pub = fromHex(v.string.split(':')[2]!);
    assert.equal(toHex(memoryHardHash(pub)), v.memory_hard_digest, v.name);
    n++;
  }
  assert.ok(n >= 4);
});

test('portable (Salsa20 class) path gives the same digests', () => {
  for (const v of vectors.identities.slice(0, 4)) {
    const pub = fromHex(v.public_x25519 + v.public_ed25519);
    assert.equal(toHex(memoryHardHashPortable(pub)), v.memory_hard_digest, v.name);
  }
});

test('fast and portable paths agree with the slow reference for random keys', () => {
  for (let i = 0; i < 2; i++) {
    const pub = new Uint8Array(randomBytes(64));
    const ref = toHex(referenceHash(pub));
    assert.equal(toHex(memoryHardHash(pub)), ref);
    assert.equal(toHex(memoryHardHashPortable(pub)), ref);
  }
});

test('the slow reference itself matches a ZeroTier digest (so it can fail)', () => {
  const v = vectors.identities[1]!;
  assert.equal(toHex(referenceHash(fromHex(v.public_x25519 + v.public_ed25519))), v.memory_hard_digest);
});

test('a reused scratch holding garbage gives the same digest; the key is not modified', () => {
  const v = vectors.identities[2]!;
  const pub = fromHex(v.public_x25519 + v.public_ed25519);
  const before = toHex(pub);
  const scratch = allocMemoryHardScratch().fill(0xa5);
  assert.equal(toHex(memoryHardHash(pub, scratch)), v.memory_hard_digest);
  // scratch is now full of the previous hash's state: must not matter either
  assert.equal(toHex(memoryHardHashPortable(pub, scratch)), v.memory_hard_digest);
  // a 4-byte-aligned view into a larger buffer is fine
  const big = new Uint8Array(MEMORY_HARD_SCRATCH_LENGTH + 8);
  assert.equal(toHex(memoryHardHash(pub, big.subarray(4, 4 + MEMORY_HARD_SCRATCH_LENGTH))), v.memory_hard_digest);
  assert.equal(toHex(pub), before);
});

test('wrong key length or scratch shape is BAD_VALUE', () => {
  for (const f of [memoryHardHash, memoryHardHashPortable]) {
    assert.throws(() => f(new Uint8Array(63)), { code: ZtErrorCode.BAD_VALUE });
    assert.throws(() => f(new Uint8Array(65)), { code: ZtErrorCode.BAD_VALUE });
    assert.throws(() => f(new Uint8Array(64), new Uint8Array(1024)), { code: ZtErrorCode.BAD_VALUE });
    const misaligned = new Uint8Array(MEMORY_HARD_SCRATCH_LENGTH + 1).subarray(1);
    assert.throws(() => f(new Uint8Array(64), misaligned), { code: ZtErrorCode.BAD_VALUE });
  }
});
