/**
 * Which AES-GMAC-SIV (packet suite 3) the process runs: the native addon (native/aes/aes.c, built by `npm install`
 * when a C compiler is there: OpenSSL contexts made once per key, packets encrypted in place) when it loads, else the
 * node:crypto one of vl1/aes-gmac-siv.ts — the reference the addon is tested against. Both give the same bytes;
 * only the CPU per packet differs (`ztroot bench armor`).
 *
 * `ZTROOT_AES=js` forces node:crypto (to run everything on the fallback, or to compare); `native` requires the
 * addon (an error if it does not load); unset or `auto` picks the addon when it loads. tools/cli.ts calls
 * {@link useAesEngine} once, before any subcommand runs; loading is I/O, hence here and not in vl1/ (pure).
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { GMAC_SIV_IV_LENGTH, GMAC_SIV_TAG_LENGTH } from '../vl1/aes-gmac-siv.js';
import { aesGmacSivEngine, JS_AES_GMAC_SIV, registerAesGmacSivEngine, type AesGmacSivEngine, type SivCipher } from '../vl1/aes-gmac-siv-engine.js';
import { ZtError, ZtErrorCode } from '../vl1/errors.js';
import { PeerKey } from '../vl1/peer-key.js';

/** Where `npm install` (or `node native/aes/build.mjs`) leaves the addon. */
export const AES_ADDON_PATH = fileURLToPath(new URL('../../native/aes/build/Release/aes.node', import.meta.url));

/** The longest data the addon takes (its MAX_DATA; a packet is at most 10,024 bytes). */
const MAX_DATA = 1 << 30;

/** A live key pair's contexts inside the addon (a Node-API external). */
type Handle = object & { readonly __aesHandle: unique symbol };

/** The addon's interface (native/aes/aes.c). */
export interface AesAddon {
  create(k0: Uint8Array, k1: Uint8Array): Handle;
  encrypt(h: Handle, iv: Uint8Array, aad: Uint8Array, data: Uint8Array, tagOut: Uint8Array): void;
  decrypt(h: Handle, tag: Uint8Array, aad: Uint8Array, data: Uint8Array, ivOut: Uint8Array): boolean;
  dispose(h: Handle): void;
  /** The raw CTR step from `counter` as given (tests: the 32-bit counter's wrap). */
  ctrXor(h: Handle, counter: Uint8Array, data: Uint8Array): void;
  /** OpenSSL memory per key pair (measured; told to V8's GC). */
  contextBytes: number;
}

let loaded: { addon: AesAddon } | { why: string } | undefined;

function load(): { addon: AesAddon } | { why: string } {
  if (loaded !== undefined) return loaded;
  const build = 'install gcc, make and python3, then run `node native/aes/build.mjs` in the ztroot checkout';
  if (!existsSync(AES_ADDON_PATH)) {
    loaded = { why: `the AES-GMAC-SIV addon is not built (${AES_ADDON_PATH} is missing): ${build}` };
  } else {
    try {
      const addon = createRequire(import.meta.url)(AES_ADDON_PATH) as AesAddon;
      if (typeof addon.create !== 'function' || typeof addon.decrypt !== 'function') throw new Error('not the ztroot AES-GMAC-SIV addon');
      loaded = { addon };
    } catch (e) {
      loaded = { why: `the AES-GMAC-SIV addon ${AES_ADDON_PATH} does not load (${(e as Error).message.split('\n')[0]}): ${build}` };
    }
  }
  return loaded;
}

/** Why the addon cannot be used (not built, does not load), or null when it can. */
export function nativeAesUnavailableReason(): string | null {
  const l = load();
  return 'why' in l ? l.why : null;
}

/** The addon itself (tests, benchmarks). @throws {ZtError} UNAVAILABLE when it does not load. */
export function aesAddon(): AesAddon {
  const l = load();
  if ('why' in l) throw new ZtError(ZtErrorCode.UNAVAILABLE, l.why);
  return l.addon;
}

function checkLen(b: Uint8Array, n: number, what: string): void {
  if (!(b instanceof Uint8Array) || b.length !== n) throw new ZtError(ZtErrorCode.BAD_VALUE, `${what} must be ${n} bytes, got ${b?.length}`);
}

function checkData(b: Uint8Array, what: string): void {
  if (!(b instanceof Uint8Array)) throw new ZtError(ZtErrorCode.BAD_VALUE, `${what} must be a Uint8Array`);
  if (b.length > MAX_DATA) throw new ZtError(ZtErrorCode.BAD_VALUE, `${what} of ${b.length} bytes is longer than ${MAX_DATA}`);
}

// The IV and tag go through these: a fresh 8- or 16-byte array (armor's `pkt.slice(0, 8)`) lives inside V8's heap,
// and handing it to native code would move it out (a malloc) on every packet. Calls are synchronous: one set does.
const ivScratch = new Uint8Array(GMAC_SIV_IV_LENGTH);
const tagScratch = new Uint8Array(GMAC_SIV_TAG_LENGTH);

/** AES-GMAC-SIV under one key pair, in the addon's OpenSSL contexts (freed when this is collected, or by dispose). */
export class NativeAesGmacSiv implements SivCipher {
  private readonly h: Handle;
  private disposed = false;

  /** @throws {ZtError} BAD_VALUE unless both keys are 32 bytes; UNAVAILABLE when the addon does not load. */
  constructor(k0: Uint8Array, k1: Uint8Array, private readonly addon: AesAddon = aesAddon()) {
    checkLen(k0, 32, 'AES-GMAC-SIV K0');
    checkLen(k1, 32, 'AES-GMAC-SIV K1');
    this.h = addon.create(k0, k1);
  }

  encryptInPlace(iv: Uint8Array, aad: Uint8Array, data: Uint8Array, tagOut: Uint8Array): void {
    this.checkLive();
    checkLen(iv, GMAC_SIV_IV_LENGTH, 'AES-GMAC-SIV IV');
    checkLen(tagOut, GMAC_SIV_TAG_LENGTH, 'AES-GMAC-SIV tag output');
    checkData(aad, 'AES-GMAC-SIV AAD');
    checkData(data, 'AES-GMAC-SIV data');
    ivScratch.set(iv);
    this.addon.encrypt(this.h, ivScratch, aad, data, tagScratch);
    tagOut.set(tagScratch);
  }

  decryptInPlace(tag: Uint8Array, aad: Uint8Array, data: Uint8Array): Uint8Array | null {
    this.checkLive();
    checkLen(tag, GMAC_SIV_TAG_LENGTH, 'AES-GMAC-SIV tag');
    checkData(aad, 'AES-GMAC-SIV AAD');
    checkData(data, 'AES-GMAC-SIV data');
    tagScratch.set(tag);
    return this.addon.decrypt(this.h, tagScratch, aad, data, ivScratch) ? ivScratch.slice() : null;
  }

  /** Frees the OpenSSL contexts now (the garbage collector would later); using the cipher after is an error. */
  dispose(): void {
    this.disposed = true;
    this.addon.dispose(this.h);
  }

  private checkLive(): void {
    if (this.disposed) throw new ZtError(ZtErrorCode.CLOSED, 'AES-GMAC-SIV: this key pair\'s native cipher was disposed');
  }
}

/** The engine that makes {@link NativeAesGmacSiv}s. @throws {ZtError} UNAVAILABLE when the addon does not load. */
export function nativeAesGmacSivEngine(): AesGmacSivEngine {
  const addon = aesAddon();
  return { name: 'native', create: (k0, k1) => new NativeAesGmacSiv(k0, k1, addon) };
}

export interface AesEngineChoice {
  engine: AesGmacSivEngine;
  /** Why the addon is not used (null when it is). */
  fallbackReason: string | null;
}

/**
 * The engine by `ZTROOT_AES` (see the module comment), not registered.
 * @throws {ZtError} BAD_CONFIG for another value; UNAVAILABLE for `native` without the addon.
 */
export function chooseAesEngine(env: NodeJS.ProcessEnv = process.env): AesEngineChoice {
  const want = env.ZTROOT_AES ?? 'auto';
  if (want === 'js') return { engine: JS_AES_GMAC_SIV, fallbackReason: 'ZTROOT_AES=js' };
  if (want !== 'auto' && want !== 'native' && want !== '') {
    throw new ZtError(ZtErrorCode.BAD_CONFIG, `ZTROOT_AES=${JSON.stringify(want)}: must be auto, native or js`);
  }
  const why = nativeAesUnavailableReason();
  if (why !== null) {
    if (want === 'native') throw new ZtError(ZtErrorCode.UNAVAILABLE, `ZTROOT_AES=native: ${why}`);
    return { engine: JS_AES_GMAC_SIV, fallbackReason: why };
  }
  return { engine: nativeAesGmacSivEngine(), fallbackReason: null };
}

let chosen: AesEngineChoice = { engine: JS_AES_GMAC_SIV, fallbackReason: 'no engine was chosen (tools/aes-engine.ts useAesEngine)' };

/**
 * Chooses by `ZTROOT_AES` and registers the engine with vl1 (registerAesGmacSivEngine): the process's keys use it.
 * @throws {ZtError} as {@link chooseAesEngine}.
 */
export function useAesEngine(env: NodeJS.ProcessEnv = process.env): AesEngineChoice {
  chosen = chooseAesEngine(env);
  registerAesGmacSivEngine(chosen.engine);
  return chosen;
}

/** What {@link useAesEngine} chose, for start-up lines: `{ aes, why? }`. */
export function aesEngineLogFields(): { aes: string; why?: string } {
  return { aes: chosen.engine.name, ...(chosen.fallbackReason !== null ? { why: chosen.fallbackReason } : {}) };
}

/** A PeerKey whose suite-3 cipher comes from `engine` (the process's engine is put back at once): tests, benchmarks. */
export function peerKeyWithEngine(engine: AesGmacSivEngine, key48: Uint8Array): PeerKey {
  const prev = aesGmacSivEngine();
  registerAesGmacSivEngine(engine);
  try {
    const k = new PeerKey(key48);
    void k.siv; // made now, from `engine`, and kept
    return k;
  } finally {
    registerAesGmacSivEngine(prev);
  }
}
