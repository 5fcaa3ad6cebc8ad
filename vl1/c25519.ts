/**
 * ZeroTier's "C25519" key pairs on top of `node:crypto`: X25519 for agreement, Ed25519 for signatures.
 *
 *   public  (64) = x25519 public[32] | ed25519 public[32]
 *   private (64) = x25519 scalar[32] | ed25519 seed[32]
 *   signature (96) = ed25519(seed, M)[64] | M[32], where M = SHA-512(message)[0..31]
 *
 * (`node/C25519.hpp`, `node/C25519.cpp`; shared/protocol/vl1.md §2.1, §2.6, §2.7.)
 * Node's built-in Ed25519 reproduces 1.14's signatures bit-exactly (signatures.json).
 */
import {
  createHash,
  createPrivateKey,
  createPublicKey,
  diffieHellman,
  randomBytes,
  sign as edSign,
  verify as edVerify,
  type KeyObject,
} from 'node:crypto';
import {
  C25519_PRIVATE_KEY_LENGTH,
  C25519_PUBLIC_KEY_LENGTH,
  C25519_SIGNATURE_LENGTH,
  SYMMETRIC_KEY_SIZE,
} from './constants.js';
import { ZtError, ZtErrorCode } from './errors.js';
import { equalBytes } from './bytes.js';

// DER prefixes that wrap a raw 32-byte private key into PKCS#8 for node:crypto (RFC 8410).
const X25519_PKCS8 = Buffer.from('302e020100300506032b656e04220420', 'hex');
const ED25519_PKCS8 = Buffer.from('302e020100300506032b657004220420', 'hex');

function checkLen(b: Uint8Array, n: number, what: string): void {
  if (b.length !== n) throw new ZtError(ZtErrorCode.BAD_VALUE, `${what} must be ${n} bytes, got ${b.length}`);
}

export function x25519PrivateKeyObject(scalar32: Uint8Array): KeyObject {
  return createPrivateKey({ key: Buffer.concat([X25519_PKCS8, scalar32]), format: 'der', type: 'pkcs8' });
}
/**
 * A peer's X25519 public key as a KeyObject. Imported as a JWK rather than SPKI DER: with OpenSSL 3 the DER
 * path runs the generic decoder framework and costs ~9× more (80 µs against 9 µs here, twice the X25519
 * itself), and a root imports one per HELLO from an identity it does not know.
 */
export function x25519PublicKeyObject(pub32: Uint8Array): KeyObject {
  return createPublicKey({ key: { kty: 'OKP', crv: 'X25519', x: base64url(pub32) }, format: 'jwk' });
}
export function ed25519PrivateKeyObject(seed32: Uint8Array): KeyObject {
  return createPrivateKey({ key: Buffer.concat([ED25519_PKCS8, seed32]), format: 'der', type: 'pkcs8' });
}
/** An Ed25519 public key as a KeyObject (JWK import, for the reason given at {@link x25519PublicKeyObject}). */
export function ed25519PublicKeyObject(pub32: Uint8Array): KeyObject {
  return createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: base64url(pub32) }, format: 'jwk' });
}

function base64url(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('base64url');
}

/**
 * A C25519 private key as `node:crypto` key objects, built once and kept: importing a private key makes
 * OpenSSL derive its public key — a scalar multiplication of its own, more than the agreement it is for
 * (measured 0.36 ms per import against 0.04 ms per X25519; `ztroot bench agreement`). A root agrees a
 * key with every new identity that says HELLO, so it must not pay that per agreement.
 */
export interface C25519KeyObjects {
  readonly x25519: KeyObject;
  readonly ed25519: KeyObject;
}

/** The key objects of a 64-byte C25519 private key. @throws {ZtError} BAD_VALUE unless 64 bytes. */
export function c25519KeyObjects(priv64: Uint8Array): C25519KeyObjects {
  checkLen(priv64, C25519_PRIVATE_KEY_LENGTH, 'C25519 private key');
  return { x25519: x25519PrivateKeyObject(priv64.subarray(0, 32)), ed25519: ed25519PrivateKeyObject(priv64.subarray(32, 64)) };
}

function isKeyObjects(k: Uint8Array | C25519KeyObjects): k is C25519KeyObjects {
  return !(k instanceof Uint8Array);
}

/** Raw 32-byte public key of a private KeyObject (X25519 or Ed25519). */
function rawPublic(priv: KeyObject): Uint8Array {
  const spki = createPublicKey(priv).export({ format: 'der', type: 'spki' });
  return new Uint8Array(spki.subarray(spki.length - 32));
}

/** X25519 public key for a 32-byte scalar (clamping happens inside, as in ZeroTier). */
export function x25519PublicFromPrivate(scalar32: Uint8Array): Uint8Array {
  checkLen(scalar32, 32, 'X25519 private key');
  return rawPublic(x25519PrivateKeyObject(scalar32));
}

/** Ed25519 public key for a 32-byte seed (RFC 8032). */
export function ed25519PublicFromSeed(seed32: Uint8Array): Uint8Array {
  checkLen(seed32, 32, 'Ed25519 seed');
  return rawPublic(ed25519PrivateKeyObject(seed32));
}

/** The 64-byte C25519 public key for a 64-byte private key. */
export function c25519PublicFromPrivate(priv64: Uint8Array): Uint8Array {
  checkLen(priv64, C25519_PRIVATE_KEY_LENGTH, 'C25519 private key');
  const pub = new Uint8Array(C25519_PUBLIC_KEY_LENGTH);
  pub.set(x25519PublicFromPrivate(priv64.subarray(0, 32)), 0);
  pub.set(ed25519PublicFromSeed(priv64.subarray(32, 64)), 32);
  return pub;
}

/** A fresh random C25519 key pair (not an identity: no address criterion). */
export function c25519Generate(): { publicKey: Uint8Array; privateKey: Uint8Array } {
  const privateKey = new Uint8Array(randomBytes(C25519_PRIVATE_KEY_LENGTH));
  return { publicKey: c25519PublicFromPrivate(privateKey), privateKey };
}

function digest32(message: Uint8Array): Uint8Array {
  return new Uint8Array(createHash('sha512').update(message).digest().subarray(0, 32));
}

/**
 * ZeroTier signature (96 bytes) of `message` with the 64-byte private key (or its kept key objects).
 * Deterministic: Ed25519 is, and so is the appended digest.
 */
export function c25519Sign(priv: Uint8Array | C25519KeyObjects, message: Uint8Array): Uint8Array {
  let key: KeyObject;
  if (isKeyObjects(priv)) key = priv.ed25519;
  else {
    checkLen(priv, C25519_PRIVATE_KEY_LENGTH, 'C25519 private key');
    key = ed25519PrivateKeyObject(priv.subarray(32, 64));
  }
  const m = digest32(message);
  const ed = edSign(null, m, key);
  const sig = new Uint8Array(C25519_SIGNATURE_LENGTH);
  sig.set(ed, 0);
  sig.set(m, 64);
  return sig;
}

/**
 * Checks a ZeroTier signature against a 64-byte public key (only its Ed25519 half is used).
 * Returns false for any malformed signature or key; never throws on bad input.
 */
export function c25519Verify(pub64: Uint8Array, message: Uint8Array, sig: Uint8Array): boolean {
  if (pub64.length !== C25519_PUBLIC_KEY_LENGTH || sig.length !== C25519_SIGNATURE_LENGTH) return false;
  const m = digest32(message);
  // C25519::verify checks the appended digest first.
  if (!equalBytes(m, sig.subarray(64, 96))) return false;
  try {
    return edVerify(null, m, ed25519PublicKeyObject(pub64.subarray(32, 64)), sig.subarray(0, 64));
  } catch {
    return false; // a public key that is not a curve point
  }
}

/** Raw X25519 shared secret (32 bytes), from my 32-byte scalar or my kept X25519 key object. */
export function x25519Raw(mine: Uint8Array | KeyObject, theirPub32: Uint8Array): Uint8Array {
  if (mine instanceof Uint8Array) checkLen(mine, 32, 'X25519 private key');
  checkLen(theirPub32, 32, 'X25519 public key');
  try {
    const privateKey = mine instanceof Uint8Array ? x25519PrivateKeyObject(mine) : mine;
    return new Uint8Array(diffieHellman({ privateKey, publicKey: x25519PublicKeyObject(theirPub32) }));
  } catch (e) {
    // OpenSSL refuses small-order points (all-zero shared secret).
    throw new ZtError(ZtErrorCode.BAD_VALUE, 'X25519 agreement failed: peer public key is a low-order point', { cause: e });
  }
}

/**
 * The long-term symmetric key between two C25519 key pairs (`C25519::agree` with keylen 48):
 * SHA-512(X25519(my x25519 scalar, their x25519 public))[0..47]. Pass the kept key objects
 * ({@link c25519KeyObjects}) when agreeing more than once with the same private key.
 */
export function c25519Agree(mine: Uint8Array | C25519KeyObjects, theirPub64: Uint8Array): Uint8Array {
  if (!isKeyObjects(mine)) checkLen(mine, C25519_PRIVATE_KEY_LENGTH, 'C25519 private key');
  checkLen(theirPub64, C25519_PUBLIC_KEY_LENGTH, 'C25519 public key');
  const raw = x25519Raw(isKeyObjects(mine) ? mine.x25519 : mine.subarray(0, 32), theirPub64.subarray(0, 32));
  return new Uint8Array(createHash('sha512').update(raw).digest().subarray(0, SYMMETRIC_KEY_SIZE));
}
