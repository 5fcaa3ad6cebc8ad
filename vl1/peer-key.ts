/**
 * The per-peer symmetric key and what is derived from it (shared/protocol/vl1.md §2.7).
 *
 *   key48     = SHA-512(X25519(...))[0..47]            (`Identity::agree`, ZT_SYMMETRIC_KEY_SIZE)
 *   salsaKey  = key48[0..31]                           (suites 0/1, HELLO cryptField)
 *   K0 / K1   = HMAC-SHA-384(key48, M('0' / '1'))[0..31] (`KBKDFHMACSHA384` in `node/SHA512.cpp`,
 *                                                        built in the `Peer` constructor, `node/Peer.cpp`)
 */
import { createHmac } from 'node:crypto';
import { createSivCipher, type SivCipher } from './aes-gmac-siv-engine.js';
import { SYMMETRIC_KEY_SIZE } from './constants.js';
import { ZtError, ZtErrorCode } from './errors.js';

/**
 * KBKDF in counter mode with HMAC-SHA-384, one iteration (`KBKDFHMACSHA384`, `node/SHA512.cpp`):
 * HMAC-SHA-384(key48, `00000000 ‖ 'Z' 'T' ‖ label ‖ 00 ‖ 00 ‖ 00000180`) — 48 bytes.
 * @throws {ZtError} BAD_VALUE unless `key48` is 48 bytes and `label` is '0' or '1'.
 */
export function kbkdfHmacSha384(key48: Uint8Array, label: '0' | '1'): Uint8Array {
  if (key48.length !== SYMMETRIC_KEY_SIZE) {
    throw new ZtError(ZtErrorCode.BAD_VALUE, `KBKDF key must be ${SYMMETRIC_KEY_SIZE} bytes, got ${key48.length}`);
  }
  if (label !== '0' && label !== '1') throw new ZtError(ZtErrorCode.BAD_VALUE, `KBKDF label must be '0' or '1', got "${String(label)}"`);
  const msg = new Uint8Array([
    0, 0, 0, 0, // iteration counter, uint32 BE
    0x5a, 0x54, // "ZT"
    label.charCodeAt(0),
    0, // separator
    0, // context
    0, 0, 0x01, 0x80, // output length in bits (384), uint32 BE
  ]);
  return new Uint8Array(createHmac('sha384', key48).update(msg).digest());
}

/**
 * A peer's 48-byte agreed key with its derived keys precomputed.
 *
 * K0/K1 are derived at construction (two HMACs); the AES cipher contexts for suite 3 are created on
 * first use only, since most of a root's peers may never be sent suite 3 and each context holds
 * OpenSSL key schedules.
 */
export class PeerKey {
  /** The 48-byte key (a private copy). */
  readonly key48: Uint8Array;
  /** key48[0..31]: the Salsa20/12 + Poly1305 key (a copy). */
  readonly salsaKey: Uint8Array;
  /** AES-GMAC-SIV K0 (keys GMAC). */
  readonly k0: Uint8Array;
  /** AES-GMAC-SIV K1 (keys the tag block and CTR). */
  readonly k1: Uint8Array;
  private sivCache: SivCipher | null = null;

  /** @throws {ZtError} BAD_VALUE unless `key48` is 48 bytes. */
  constructor(key48: Uint8Array) {
    if (key48.length !== SYMMETRIC_KEY_SIZE) {
      throw new ZtError(ZtErrorCode.BAD_VALUE, `peer key must be ${SYMMETRIC_KEY_SIZE} bytes, got ${key48.length}`);
    }
    // Separate copies of at most 64 bytes, never views: V8 keeps typed arrays that small inside its own heap, with
    // no malloc'd backing store. A root makes a PeerKey per new peer and drops it when its bounded key cache
    // (root/peer-table.ts) lets it go; backing stores freed that way stayed in malloc's free lists, ~100 B of
    // RSS per peer after a fill of 1 M peers (`ztroot bench memory`), and on-heap arrays are compacted by the GC.
    this.key48 = new Uint8Array(key48);
    this.salsaKey = new Uint8Array(key48.subarray(0, 32));
    this.k0 = new Uint8Array(kbkdfHmacSha384(key48, '0').subarray(0, 32));
    this.k1 = new Uint8Array(kbkdfHmacSha384(key48, '1').subarray(0, 32));
  }

  /** The suite-3 cipher under (K0, K1), created on first use by the registered engine (vl1/aes-gmac-siv-engine.ts). */
  get siv(): SivCipher {
    return (this.sivCache ??= createSivCipher(this.k0, this.k1));
  }
}
