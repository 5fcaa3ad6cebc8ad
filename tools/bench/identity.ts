/**
 * Identity benchmark: how many unknown identities a root can validate per second per core (the
 * memory-hard hash of `node/Identity.cpp` plus the address checks), beside a native memory-hard
 * function of the same memory size measured in the same run: `crypto.scryptSync` with N=2048, r=8
 * (128·N·r = 2 MiB), p=1 — OpenSSL's C scrypt, i.e. roughly what a native addon could reach.
 * Also identity generations per second (~15 hashes each, short run), and the native hash (native/hash, what
 * the validator's workers run when its addon loads) beside the pure-JS one.
 * ZTROOT_BENCH_MS sets the time per measurement.
 */
import { scryptSync } from 'node:crypto';
import { Identity } from '../../vl1/identity.js';
import { allocMemoryHardScratch, memoryHardHash, memoryHardHashPortable } from '../../vl1/identity-hash.js';
import { memoryHardHasher, nativeMemoryHardHash } from '../../root/identity-validator-hash.js';
import { measure, report, type Measurement } from './harness.js';

/** Expected memory-hard hashes per generated identity: digest[0] < 17 has probability 17/256. */
const HASHES_PER_GENERATION = 256 / 17;
/** (32,768 + 131,072) blocks × 20 rounds, against scrypt's 2·N·2r = 65,536 cores × 8 rounds. */
const SALSA_ROUNDS_RATIO = ((32768 + 131072) * 20) / (2 * 2048 * 2 * 8 * 8);

export async function run(): Promise<void> {
  const ms = Number(process.env.ZTROOT_BENCH_MS ?? 1000);
  const id = Identity.generate();
  const pub = Identity.fromString(id.toString(false));
  const scratch = allocMemoryHardScratch();
  const salt = Buffer.alloc(16, 7);
  const password = Buffer.from(pub.publicKey);

  const scrypt = measure('scrypt N=2048 r=8 p=1 (2 MiB, native C)', () => {
    scryptSync(password, salt, 64, { N: 2048, r: 8, p: 1, maxmem: 64 * 1024 * 1024 });
  }, { ms });
  const validateReused = measure('locallyValidate, reused 2 MiB scratch', () => {
    if (!pub.locallyValidate(scratch)) throw new Error('benchmark identity does not validate');
  }, { ms });
  const validateFresh = measure('locallyValidate, fresh 2 MiB per call', () => {
    if (!pub.locallyValidate()) throw new Error('benchmark identity does not validate');
  }, { ms });
  const portable = measure('memoryHardHashPortable (Salsa20 class)', () => {
    memoryHardHashPortable(pub.publicKey, scratch);
  }, { ms });
  const fast = measure('memoryHardHash (fused core)', () => {
    memoryHardHash(pub.publicKey, scratch);
  }, { ms });
  const generate = measure('Identity.generate', () => {
    Identity.generate();
  }, { ms: Math.max(ms, 1500) });
  const hasher = memoryHardHasher();
  const native: Measurement | null =
    hasher.name === 'js' ? null : measure(`memory-hard hash, ${hasher.name} (native/hash)`, () => nativeMemoryHardHash(pub.publicKey, scratch), { ms });
  const generateNative: Measurement | null =
    hasher.name === 'js' ? null : measure(`Identity.generate, ${hasher.name} hash`, () => Identity.generate(hasher.hash), { ms: Math.max(ms, 1500) });
  const scryptPerGeneration: Measurement = {
    name: `scrypt 2 MiB × ${HASHES_PER_GENERATION.toFixed(2)} (expected hashes)`,
    opsPerSec: scrypt.opsPerSec / HASHES_PER_GENERATION,
  };

  report('identity: memory-hard hash (2 MiB, one core)', [
    { ours: validateReused, reference: scrypt },
    { ours: validateFresh, reference: scrypt },
    { ours: fast, reference: portable },
    { ours: generate, reference: scryptPerGeneration },
    ...(native !== null && generateNative !== null
      ? [
          { ours: native, reference: fast },
          { ours: native, reference: scrypt },
          { ours: generateNative, reference: generate },
        ]
      : []),
  ]);
  if (native === null) console.log(`  native hash not measured: ${hasher.fallbackReason}`);
  console.log(
    `  ${(1000 / validateReused.opsPerSec).toFixed(1)} ms per validation; ` +
      `${(1000 / scrypt.opsPerSec).toFixed(1)} ms per native scrypt of the same size; ` +
      `${(1000 / generate.opsPerSec).toFixed(0)} ms per generation`,
  );
  // Not equal work: ZeroTier's hash runs 163,840 Salsa20/20 cores, scrypt(N=2048, r=8) 65,536 Salsa20/8 cores.
  console.log(`  note: per validation ZeroTier's hash does ${SALSA_ROUNDS_RATIO.toFixed(2)}× the Salsa20 rounds of that scrypt`);
}
