/**
 * ZeroTier 1.x identities (type 0 only: X25519 + Ed25519) — `node/Identity.hpp`, `node/Identity.cpp`,
 * shared/protocol/vl1.md §2.
 *
 * An `Identity` is immutable. Parsing (string or binary) checks the format only, as 1.14's
 * `Identity::fromString` / `Identity::deserialize` do; whether the address really derives from the key
 * is {@link Identity.locallyValidate}, which costs a memory-hard hash (~25 ms) and so is a separate,
 * explicit step that callers run off the packet path.
 *
 * Private keys never appear in `toString()` unless asked for, in `JSON.stringify`, in
 * `util.inspect`, or in any error message.
 */
import { randomBytes } from 'node:crypto';
import { formatAddress, isReservedAddress, parseAddress } from './address.js';
import { ByteReader, ByteWriter, equalBytes, fromHex, toHex } from './bytes.js';
import { c25519Agree, c25519KeyObjects, c25519Sign, c25519Verify, ed25519PublicFromSeed, x25519PublicFromPrivate, type C25519KeyObjects } from './c25519.js';
import {
  C25519_PRIVATE_KEY_LENGTH,
  C25519_PUBLIC_KEY_LENGTH,
  IDENTITY_GEN_HASHCASH_FIRST_BYTE_LESS_THAN,
  IDENTITY_PUBLIC_BINARY_LENGTH,
} from './constants.js';
import { ZtError, ZtErrorCode } from './errors.js';
import { allocMemoryHardScratch, memoryHardHash } from './identity-hash.js';

/** The only identity type 1.x knows (`Identity::C25519`). */
export const IDENTITY_TYPE_C25519 = 0;
/** Binary length with the private key: 71 + 64. */
export const IDENTITY_SECRET_BINARY_LENGTH = IDENTITY_PUBLIC_BINARY_LENGTH + C25519_PRIVATE_KEY_LENGTH;
/** Longest identity string: 10 + 1 + 1 + 1 + 128 + 1 + 128. Longer input is rejected before splitting. */
export const IDENTITY_STRING_MAX_LENGTH = 270;

const HEX_RE = /^[0-9a-fA-F]*$/;

/** True when digest (from {@link memoryHardHash}) makes `address` a valid address for its key (§2.4). */
export function digestMatchesAddress(digest: Uint8Array, address: number): boolean {
  if (digest[0]! >= IDENTITY_GEN_HASHCASH_FIRST_BYTE_LESS_THAN) return false;
  return addressFromDigest(digest) === address;
}

/** The address a digest implies: its last 5 bytes, big-endian. */
export function addressFromDigest(digest: Uint8Array): number {
  return digest[59]! * 0x100000000 + ((digest[60]! << 24) >>> 0) + ((digest[61]! << 16) | (digest[62]! << 8) | digest[63]!);
}

export class Identity {
  /** 40-bit address. */
  readonly address: number;
  /** 64 bytes: X25519 public[32] | Ed25519 public[32]. */
  readonly publicKey: Uint8Array;
  /** 64 bytes: X25519 scalar[32] | Ed25519 seed[32], or null for a public-only identity. */
  readonly privateKey: Uint8Array | null;
  /**
   * The private key as node:crypto key objects, built at the first agree/sign and kept: building them
   * costs more than an agreement (see `C25519KeyObjects`), and a root agrees with every new identity.
   * A private field: never enumerated, serialized or inspected.
   */
  #keyObjects: C25519KeyObjects | null = null;

  private constructor(address: number, publicKey: Uint8Array, privateKey: Uint8Array | null) {
    this.address = address;
    // Copies: the inputs are often views into a datagram or a file buffer that will be reused.
    this.publicKey = publicKey.slice();
    this.privateKey = privateKey === null ? null : privateKey.slice();
  }

  /**
   * Parses `<10 hex address>:0:<128 hex public>[:<128 hex private>]` (§2.3; `Identity::fromString`).
   * Like 1.14 it does not check the address against the key ({@link locallyValidate} does) nor the
   * private key against the public one.
   * @throws {ZtError} BAD_FORMAT (field count, hex, key lengths), RESERVED_ADDRESS, UNKNOWN_IDENTITY_TYPE.
   */
  static fromString(s: string): Identity {
    if (typeof s !== 'string') throw new ZtError(ZtErrorCode.BAD_FORMAT, `identity string: expected a string, got ${typeof s}`);
    if (s.length > IDENTITY_STRING_MAX_LENGTH) {
      throw new ZtError(ZtErrorCode.BAD_FORMAT, `identity string: ${s.length} characters, at most ${IDENTITY_STRING_MAX_LENGTH} allowed`);
    }
    const f = s.split(':');
    if (f.length !== 3 && f.length !== 4) {
      throw new ZtError(ZtErrorCode.BAD_FORMAT, `identity string: expected 3 or 4 ':'-separated fields, got ${f.length}`);
    }
    const [addrText, typeText, pubText, privText] = f as [string, string, string, string | undefined];
    if (!/^[0-9a-fA-F]{10}$/.test(addrText)) {
      // Echo only short text: a misplaced field could be key material.
      const shown = addrText.length <= 12 ? ` "${addrText}"` : '';
      throw new ZtError(ZtErrorCode.BAD_FORMAT, `identity string: field 1 (address) must be 10 hex digits, got ${addrText.length} character(s)${shown}`);
    }
    const address = parseAddress(addrText);
    if (isReservedAddress(address)) {
      throw new ZtError(ZtErrorCode.RESERVED_ADDRESS, `identity string: address ${formatAddress(address)} is reserved`);
    }
    if (typeText !== '0') {
      const shown = typeText.length > 8 ? `${typeText.slice(0, 8)}…` : typeText;
      // A different number is a type 1.14 does not know (the 2.x P-384 type is 1); anything else is garbage.
      throw /^[1-9][0-9]*$/.test(typeText)
        ? new ZtError(ZtErrorCode.UNKNOWN_IDENTITY_TYPE, `identity string: field 2 (type) is "${shown}", only type 0 (C25519) exists in 1.x`)
        : new ZtError(ZtErrorCode.BAD_FORMAT, `identity string: field 2 (type) must be "0", got "${shown}"`);
    }
    if (pubText.length !== C25519_PUBLIC_KEY_LENGTH * 2 || !HEX_RE.test(pubText)) {
      throw new ZtError(
        ZtErrorCode.BAD_FORMAT,
        `identity string: field 3 (public key) must be ${C25519_PUBLIC_KEY_LENGTH * 2} hex digits, got ${pubText.length} character(s)${HEX_RE.test(pubText) ? '' : ' with non-hex'}`,
      );
    }
    let priv: Uint8Array | null = null;
    if (privText !== undefined) {
      // Never echo any of this field: it is secret.
      if (privText.length !== C25519_PRIVATE_KEY_LENGTH * 2 || !HEX_RE.test(privText)) {
        throw new ZtError(
          ZtErrorCode.BAD_FORMAT,
          `identity string: field 4 (private key) must be ${C25519_PRIVATE_KEY_LENGTH * 2} hex digits, got ${privText.length} character(s)${HEX_RE.test(privText) ? '' : ' with non-hex'}`,
        );
      }
      priv = fromHex(privText, 'identity private key');
    }
    return new Identity(address, fromHex(pubText, 'identity public key'), priv);
  }

  /**
   * `<address>:0:<public>` — and `:<private>` when `includePrivate` and this identity has one.
   * Lowercase, as `Identity::toString` writes it.
   */
  toString(includePrivate = false): string {
    let s = `${formatAddress(this.address)}:0:${toHex(this.publicKey)}`;
    if (includePrivate && this.privateKey !== null) s += `:${toHex(this.privateKey)}`;
    return s;
  }

  /**
   * Reads one binary identity (§2.2; `Identity::deserialize`) and leaves `r` just after it. Like
   * 1.14 it accepts any address here; {@link locallyValidate} rejects reserved ones.
   * @throws {ZtError} TRUNCATED, UNKNOWN_IDENTITY_TYPE (type byte ≠ 0), BAD_VALUE (private length not 0 or 64).
   */
  static read(r: ByteReader): Identity {
    const address = r.u40('identity address');
    const type = r.u8('identity type');
    if (type !== IDENTITY_TYPE_C25519) {
      throw new ZtError(ZtErrorCode.UNKNOWN_IDENTITY_TYPE, `identity ${formatAddress(address)}: type ${type}, only type 0 (C25519) exists in 1.x`);
    }
    const pub = r.bytes(C25519_PUBLIC_KEY_LENGTH, 'identity public key');
    const privLen = r.u8('identity private key length');
    let priv: Uint8Array | null = null;
    if (privLen === C25519_PRIVATE_KEY_LENGTH) {
      priv = r.bytes(C25519_PRIVATE_KEY_LENGTH, 'identity private key');
    } else if (privLen !== 0) {
      throw new ZtError(ZtErrorCode.BAD_VALUE, `identity ${formatAddress(address)}: private key length ${privLen}, must be 0 or 64`);
    }
    return new Identity(address, pub, priv);
  }

  /**
   * Parses a buffer that holds exactly one binary identity.
   * @throws {ZtError} as {@link read}, and TRAILING_BYTES if anything follows it.
   */
  static fromBinary(b: Uint8Array): Identity {
    const r = new ByteReader(b);
    const id = Identity.read(r);
    r.expectEnd('identity');
    return id;
  }

  /** Binary form (§2.2): 71 bytes, or 135 with the private key when asked and present. */
  toBinary(includePrivate = false): Uint8Array {
    const withPriv = includePrivate && this.privateKey !== null;
    const w = new ByteWriter(withPriv ? IDENTITY_SECRET_BINARY_LENGTH : IDENTITY_PUBLIC_BINARY_LENGTH);
    w.u40(this.address).u8(IDENTITY_TYPE_C25519).bytes(this.publicKey);
    if (withPriv) w.u8(C25519_PRIVATE_KEY_LENGTH).bytes(this.privateKey!);
    else w.u8(0);
    return w.finish();
  }

  /**
   * Makes a new identity (§2.5; `Identity::generate`, `C25519::generateSatisfying`): random private
   * key, then the X25519 half is tweaked until the public key's memory-hard digest starts below 17;
   * the address is the digest's last 5 bytes, and a reserved address starts over. ~15 hashes expected.
   * `hash`: another implementation of the memory-hard hash with the same digest (the native one of
   * root/identity-validator-hash.ts, for tools that generate many identities).
   */
  static generate(hash: (publicKey64: Uint8Array, scratch: Uint8Array) => Uint8Array = memoryHardHash): Identity {
    const scratch = allocMemoryHardScratch();
    for (;;) {
      const priv = new Uint8Array(randomBytes(C25519_PRIVATE_KEY_LENGTH));
      const pub = new Uint8Array(C25519_PUBLIC_KEY_LENGTH);
      pub.set(ed25519PublicFromSeed(priv.subarray(32, 64)), 32); // the Ed25519 half never changes
      const dv = new DataView(priv.buffer, priv.byteOffset, priv.byteLength);
      for (;;) {
        pub.set(x25519PublicFromPrivate(priv.subarray(0, 32)), 0);
        const digest = hash(pub, scratch);
        if (digest[0]! < IDENTITY_GEN_HASHCASH_FIRST_BYTE_LESS_THAN) {
          const address = addressFromDigest(digest);
          if (!isReservedAddress(address)) return new Identity(address, pub, priv);
          break; // reserved: start over with a fresh key
        }
        // Same walk as C25519::generateSatisfying: ++ the LE uint64 at priv[8..16), -- the one at priv[16..24).
        dv.setBigUint64(8, (dv.getBigUint64(8, true) + 1n) & 0xffffffffffffffffn, true);
        dv.setBigUint64(16, (dv.getBigUint64(16, true) - 1n) & 0xffffffffffffffffn, true);
      }
    }
  }

  /**
   * `Identity::locallyValidate` (§2.4): the address is not reserved, and the memory-hard digest of
   * the public key starts below 17 and ends with the address. Costs one memory-hard hash; pass a
   * 2 MiB `scratch` (see `allocMemoryHardScratch`) to reuse memory across calls.
   */
  locallyValidate(scratch?: Uint8Array): boolean {
    if (isReservedAddress(this.address)) return false;
    return digestMatchesAddress(memoryHardHash(this.publicKey, scratch), this.address);
  }

  /** True when this identity holds a private key. */
  hasPrivate(): boolean {
    return this.privateKey !== null;
  }

  /** The same identity without its private key. */
  publicOnly(): Identity {
    return this.privateKey === null ? this : new Identity(this.address, this.publicKey, null);
  }

  /**
   * 96-byte signature (§2.6; `C25519::sign`). Deterministic.
   * @throws {ZtError} NO_PRIVATE_KEY for a public-only identity.
   */
  sign(message: Uint8Array): Uint8Array {
    return c25519Sign(this.keyObjectsFor('sign'), message);
  }

  /** Checks a 96-byte signature (§2.6; `Identity::verify`). Any other length, or garbage, is false. */
  verify(message: Uint8Array, sig: Uint8Array): boolean {
    return c25519Verify(this.publicKey, message, sig);
  }

  /**
   * The 48-byte long-term key shared with `other` (§2.7; `Identity::agree`): SHA-512(X25519)[0..47].
   * @throws {ZtError} NO_PRIVATE_KEY for a public-only identity; BAD_VALUE if `other`'s key is low-order.
   */
  agree(other: Identity): Uint8Array {
    return c25519Agree(this.keyObjectsFor('agree'), other.publicKey);
  }

  /**
   * This identity's private key as kept node:crypto key objects (for X25519 with other public keys, e.g.
   * removing extended armor, vl1/packet.ts). Built once, on first use.
   * @throws {ZtError} NO_PRIVATE_KEY for a public-only identity.
   */
  privateKeyObjects(): C25519KeyObjects {
    return this.keyObjectsFor('use its private key');
  }

  /** Same address and public key (private keys are not compared, as in `Identity::operator==`). */
  equals(other: Identity): boolean {
    return this.address === other.address && equalBytes(this.publicKey, other.publicKey);
  }

  /** JSON shows the public string only, so logging an identity never leaks its secret. */
  toJSON(): string {
    return this.toString(false);
  }

  /** `util.inspect` / `console.log` show the public string only. */
  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return `Identity<${this.toString(false)}${this.privateKey !== null ? ' +private' : ''}>`;
  }

  private keyObjectsFor(op: string): C25519KeyObjects {
    return (this.#keyObjects ??= c25519KeyObjects(this.requirePrivate(op)));
  }

  private requirePrivate(op: string): Uint8Array {
    if (this.privateKey === null) {
      throw new ZtError(ZtErrorCode.NO_PRIVATE_KEY, `identity ${formatAddress(this.address)}: cannot ${op} without a private key`);
    }
    return this.privateKey;
  }
}
