/**
 * Which implementation of AES-GMAC-SIV (packet suite 3) a process's keys use: the node:crypto one in
 * vl1/aes-gmac-siv.ts, unless another engine was registered at process start — the native addon
 * (native/aes, loaded by tools/aes-engine.ts: loading is I/O, which vl1/ does not do). Both give the same bytes;
 * only the CPU per packet differs.
 *
 * A {@link PeerKey} makes its cipher from the engine registered when it is first used, and keeps it: register
 * before any key is used (tools/cli.ts does, before running a subcommand).
 */
import { AesGmacSiv } from './aes-gmac-siv.js';

/** The suite-3 cipher under one key pair, as vl1/packet.ts uses it (semantics: {@link AesGmacSiv}). */
export interface SivCipher {
  /** Encrypts `data` in place and writes the 16-byte tag into `tagOut`. @throws {ZtError} BAD_VALUE on bad lengths. */
  encryptInPlace(iv: Uint8Array, aad: Uint8Array, data: Uint8Array, tagOut: Uint8Array): void;
  /**
   * Decrypts `data` in place: the recovered 8-byte IV (a new array), or null when the tag does not verify — then
   * `data` is as it came. @throws {ZtError} BAD_VALUE on bad lengths.
   */
  decryptInPlace(tag: Uint8Array, aad: Uint8Array, data: Uint8Array): Uint8Array | null;
}

/** Makes {@link SivCipher}s. */
export interface AesGmacSivEngine {
  /** What /api/status and the leaf's start-up line show as `aes`: `js`, `native`. */
  readonly name: string;
  /** @throws {ZtError} BAD_VALUE unless both keys are 32 bytes. */
  create(k0: Uint8Array, k1: Uint8Array): SivCipher;
}

/** The reference engine: node:crypto (vl1/aes-gmac-siv.ts). */
export const JS_AES_GMAC_SIV: AesGmacSivEngine = { name: 'js', create: (k0, k1) => new AesGmacSiv(k0, k1) };

let engine: AesGmacSivEngine = JS_AES_GMAC_SIV;

/** Makes `e` the engine of every key whose cipher is made from now on ({@link JS_AES_GMAC_SIV} to go back). */
export function registerAesGmacSivEngine(e: AesGmacSivEngine): void {
  engine = e;
}

/** The engine new keys get. */
export function aesGmacSivEngine(): AesGmacSivEngine {
  return engine;
}

/** A cipher under (K0, K1) from the registered engine. @throws {ZtError} BAD_VALUE unless both keys are 32 bytes. */
export function createSivCipher(k0: Uint8Array, k1: Uint8Array): SivCipher {
  return engine.create(k0, k1);
}
