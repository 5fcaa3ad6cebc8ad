/**
 * Which memory-hard hash the identity validator runs: the native addon (native/hash/hash.c, built by
 * `npm install` when a C compiler is there; ~5–10× the pure-JS hash) when it loads, else the pure-JS
 * {@link memoryHardHash} of vl1/identity-hash.ts — the reference the addon is tested against. Both give the
 * same digest; only the speed differs (`ztroot bench identity`, `ztroot bench admission`).
 *
 * `ZTROOT_IDENTITY_HASH=js` forces the pure-JS hash (to run everything on the fallback, or to compare);
 * `native` requires the addon (an error if it does not load); unset or `auto` picks the addon when it loads.
 * Loading is I/O, hence here and not in vl1/ (pure).
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { ZtError, ZtErrorCode } from '../vl1/errors.js';
import { memoryHardHash, MEMORY_HARD_SCRATCH_LENGTH } from '../vl1/identity-hash.js';

/** Where `npm install` (or `node native/hash/build.mjs`) leaves the addon. */
export const HASH_ADDON_PATH = fileURLToPath(new URL('../../native/hash/build/Release/hash.node', import.meta.url));

/** The addon's interface (native/hash/hash.c). */
interface HashAddon {
  /** `digest` holds SHA-512(public key) on entry, the memory-hard digest on return. */
  fill(digest: Uint8Array, scratch: Uint8Array, variant?: string): void;
  /** The keystream code this CPU runs: avx512 | avx2 | generic. */
  variant: string;
}

/** A memory-hard hash implementation: same signature and digest as {@link memoryHardHash}. */
export type MemoryHardHashFn = (publicKey64: Uint8Array, scratch?: Uint8Array) => Uint8Array;

export interface MemoryHardHasher {
  /** `native-avx512`, `native-avx2`, `native-generic` or `js`: what /api/status shows as `identityHash`. */
  name: string;
  hash: MemoryHardHashFn;
  /** Why the native hash is not used (null when it is). */
  fallbackReason: string | null;
}

let loaded: { addon: HashAddon } | { why: string } | undefined;

function load(): { addon: HashAddon } | { why: string } {
  if (loaded !== undefined) return loaded;
  const build = 'install gcc, make and python3, then run `node native/hash/build.mjs` in the ztroot checkout';
  if (!existsSync(HASH_ADDON_PATH)) {
    loaded = { why: `the hash addon is not built (${HASH_ADDON_PATH} is missing): ${build}` };
  } else {
    try {
      const addon = createRequire(import.meta.url)(HASH_ADDON_PATH) as HashAddon;
      if (typeof addon.fill !== 'function' || typeof addon.variant !== 'string') throw new Error('not the ztroot hash addon');
      loaded = { addon };
    } catch (e) {
      loaded = { why: `the hash addon ${HASH_ADDON_PATH} does not load (${(e as Error).message.split('\n')[0]}): ${build}` };
    }
  }
  return loaded;
}

/** Why the native hash cannot be used (not built, does not load), or null when it can. */
export function nativeHashUnavailableReason(): string | null {
  const l = load();
  return 'why' in l ? l.why : null;
}

/**
 * The memory-hard digest computed by the addon (`variant`: force one of its code paths, for tests).
 * @throws {ZtError} UNAVAILABLE when the addon does not load; BAD_VALUE for a bad key or scratch.
 */
export function nativeMemoryHardHash(publicKey64: Uint8Array, scratch?: Uint8Array, variant?: string): Uint8Array {
  const l = load();
  if ('why' in l) throw new ZtError(ZtErrorCode.UNAVAILABLE, l.why);
  if (!(publicKey64 instanceof Uint8Array) || publicKey64.length !== 64) {
    throw new ZtError(ZtErrorCode.BAD_VALUE, `memory-hard hash: public key must be 64 bytes, got ${publicKey64?.length}`);
  }
  const mem = scratch ?? new Uint8Array(MEMORY_HARD_SCRATCH_LENGTH);
  const digest = new Uint8Array(64);
  digest.set(createHash('sha512').update(publicKey64).digest());
  try {
    if (variant === undefined) l.addon.fill(digest, mem);
    else l.addon.fill(digest, mem, variant);
  } catch (e) {
    throw new ZtError(ZtErrorCode.BAD_VALUE, `memory-hard hash: ${(e as Error).message}`);
  }
  return digest;
}

/** The variants of the addon this CPU runs (empty when it does not load), for tests. */
export function nativeHashVariants(): string[] {
  const l = load();
  if ('why' in l) return [];
  return ['generic', 'avx2', 'avx512'].filter((v) => {
    try {
      l.addon.fill(new Uint8Array(64), new Uint8Array(MEMORY_HARD_SCRATCH_LENGTH), v);
      return true;
    } catch {
      return false;
    }
  });
}

/**
 * The hash to validate with, by `ZTROOT_IDENTITY_HASH` (see the module comment).
 * @throws {ZtError} BAD_CONFIG for another value; UNAVAILABLE for `native` without the addon.
 */
export function memoryHardHasher(env: NodeJS.ProcessEnv = process.env): MemoryHardHasher {
  const want = env.ZTROOT_IDENTITY_HASH ?? 'auto';
  const js: MemoryHardHasher = { name: 'js', hash: memoryHardHash, fallbackReason: null };
  if (want === 'js') return { ...js, fallbackReason: 'ZTROOT_IDENTITY_HASH=js' };
  if (want !== 'auto' && want !== 'native' && want !== '') {
    throw new ZtError(ZtErrorCode.BAD_CONFIG, `ZTROOT_IDENTITY_HASH=${JSON.stringify(want)}: must be auto, native or js`);
  }
  const l = load();
  if ('why' in l) {
    if (want === 'native') throw new ZtError(ZtErrorCode.UNAVAILABLE, `ZTROOT_IDENTITY_HASH=native: ${l.why}`);
    return { ...js, fallbackReason: l.why };
  }
  return { name: `native-${l.addon.variant}`, hash: (pub, scratch) => nativeMemoryHardHash(pub, scratch), fallbackReason: null };
}
