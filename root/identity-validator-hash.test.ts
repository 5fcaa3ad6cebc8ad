import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { allocMemoryHardScratch, memoryHardHash } from '../vl1/identity-hash.js';
import { fromHex, toHex } from '../vl1/bytes.js';
import { Identity } from '../vl1/identity.js';
import { isZtError, ZtErrorCode } from '../vl1/errors.js';
import { readVectorJson } from '../test/vectors.js';
import { memoryHardHasher, nativeHashUnavailableReason, nativeHashVariants, nativeMemoryHardHash } from './identity-validator-hash.js';
import { IdentityValidator } from './identity-validator.js';

interface IdVector { name: string; public_x25519: string; public_ed25519: string; memory_hard_digest: string }
interface InvalidVector { name: string; string: string; memory_hard_digest: string | null }
const vectors = readVectorJson<{ identities: IdVector[]; invalid: InvalidVector[] }>('identities.json');

// The addon is built by `npm install` where a C compiler exists (this project's CI and dev machines have one).
const unavailable = nativeHashUnavailableReason();
const native = { skip: unavailable ?? false };

test('the native hash reproduces every ZeroTier 1.14.1 digest (identities.json), in every variant this CPU runs', native, () => {
  const variants = nativeHashVariants();
  assert.ok(variants.includes('generic'), `variants: ${variants.join(',')}`);
  const scratch = allocMemoryHardScratch();
  for (const variant of variants) {
    for (const v of vectors.identities) {
      const pub = fromHex(v.public_x25519 + v.public_ed25519);
      assert.equal(toHex(nativeMemoryHardHash(pub, scratch, variant)), v.memory_hard_digest, `${variant} ${v.name}`);
    }
    for (const v of vectors.invalid) {
      if (v.memory_hard_digest === null) continue;
      assert.equal(toHex(nativeMemoryHardHash(fromHex(v.string.split(':')[2]!), scratch, variant)), v.memory_hard_digest, `${variant} ${v.name}`);
    }
  }
});

test('the native hash gives the pure-JS digest for random keys (property; JS is the oracle)', native, () => {
  const jsScratch = allocMemoryHardScratch();
  const nativeScratch = allocMemoryHardScratch();
  const variants = nativeHashVariants();
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 64, maxLength: 64 }), fc.constantFrom(...variants), (pub, variant) => {
      const before = toHex(pub);
      const expected = toHex(memoryHardHash(pub, jsScratch));
      assert.equal(toHex(nativeMemoryHardHash(pub, nativeScratch, variant)), expected, variant);
      assert.equal(toHex(pub), before, 'the key is not modified');
    }),
    { numRuns: 12 },
  );
});

test('the native hash refuses bad arguments with a typed error instead of crashing', native, () => {
  const bad = (f: () => unknown, re: RegExp) =>
    assert.throws(f, (e: unknown) => isZtError(e) && e.code === ZtErrorCode.BAD_VALUE && re.test(e.message));
  bad(() => nativeMemoryHardHash(new Uint8Array(63)), /64 bytes, got 63/);
  bad(() => nativeMemoryHardHash(new Uint8Array(64), new Uint8Array(1024)), /scratch must be a Uint8Array of 2 MiB/);
  bad(() => nativeMemoryHardHash(new Uint8Array(64), new Uint8Array(new ArrayBuffer(2 * 1024 * 1024 + 8), 1, 2 * 1024 * 1024)), /aligned/);
  bad(() => nativeMemoryHardHash(new Uint8Array(64), undefined, 'sse9'), /variant must be one of/);
});

test('an identity generated with the native hash validates with the pure-JS one', native, () => {
  const id = Identity.generate((pub, scratch) => nativeMemoryHardHash(pub, scratch));
  assert.ok(Identity.fromString(id.toString(false)).locallyValidate());
});

test('ZTROOT_IDENTITY_HASH chooses the hash: js forces the reference, native requires the addon, garbage is refused', () => {
  const js = memoryHardHasher({ ZTROOT_IDENTITY_HASH: 'js' });
  assert.equal(js.name, 'js');
  assert.equal(js.hash, memoryHardHash);
  const auto = memoryHardHasher({});
  if (unavailable === null) {
    assert.match(auto.name, /^native-(avx512|avx2|generic)$/);
    assert.equal(memoryHardHasher({ ZTROOT_IDENTITY_HASH: 'native' }).name, auto.name);
  } else {
    assert.equal(auto.name, 'js');
    assert.equal(auto.fallbackReason, unavailable);
    assert.throws(() => memoryHardHasher({ ZTROOT_IDENTITY_HASH: 'native' }), (e: unknown) => isZtError(e) && e.code === ZtErrorCode.UNAVAILABLE);
  }
  assert.throws(
    () => memoryHardHasher({ ZTROOT_IDENTITY_HASH: 'fast' }),
    (e: unknown) => isZtError(e) && e.code === ZtErrorCode.BAD_CONFIG && /"fast": must be auto, native or js/.test(e.message),
  );
});

test("the validator's workers hash with the implementation it reports, and still refuse a forged address", async () => {
  const v = new IdentityValidator({ workers: 1, cacheSize: 0 });
  try {
    assert.equal(v.hashImplementation, memoryHardHasher().name);
    const good = Identity.fromString(`${toHex(fromHex(vectors.identities[0]!.memory_hard_digest).subarray(59))}:0:${vectors.identities[0]!.public_x25519}${vectors.identities[0]!.public_ed25519}`);
    assert.equal(await v.validate(good), true);
    const forged = Identity.fromBinary(Uint8Array.from([...good.toBinary(false)].map((b, i) => (i === 4 ? b ^ 1 : b))));
    assert.equal(await v.validate(forged), false);
  } finally {
    await v.close();
  }
});
