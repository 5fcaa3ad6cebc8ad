/**
 * Pieces shared by the signed credentials (Tag, Capability, CertificateOfOwnership, Revocation; node/Tag.hpp,
 * node/Capability.hpp, node/CertificateOfOwnership.hpp, node/Revocation.hpp; shared/protocol/vl2.md §4.4–4.5).
 *
 *   signature block:  sigType[1] | sigLength u16 | sig[sigLength]      sigType 1 (Ed25519/C25519) needs length 96;
 *                     1.14 skips the block of any other type (and then holds no signature)
 *   extension:        extLength u16 | ext[extLength]                     always 0 from 1.14, skipped on read
 *
 * Signed message of each: 7f7f7f7f7f7f7f7f ‖ the serialization without the signature block (extension length
 * written as 0, whatever was received) ‖ 7f7f7f7f7f7f7f7f.
 */
import { networkController } from '../address.js';
import { ByteReader, ByteWriter } from '../bytes.js';
import { C25519_SIGNATURE_LENGTH } from '../constants.js';
import { ZtError, ZtErrorCode } from '../errors.js';
import type { Identity } from '../identity.js';
import { checkInt, writeLengthPrefixed } from '../verbs/common.js';

/** The only signature type 1.x defines. */
export const SIGNATURE_TYPE_C25519 = 1;

/** Credential type numbers (`Credential::Type`), as revocations name them. */
export const CredentialType = {
  NULL: 0,
  COM: 1,
  CAPABILITY: 2,
  TAG: 3,
  COO: 4,
  REVOCATION: 6,
} as const;

export interface SignatureBlock {
  /** 1 for a C25519 signature; anything else is carried but never verifies. */
  signatureType: number;
  /** 96 bytes for type 1; the raw bytes of other types. */
  signature: Uint8Array;
}

const FRAME_MARK = new Uint8Array(8).fill(0x7f);

/**
 * Reads a signature block. The bytes are copied.
 * @throws {ZtError} TRUNCATED; BAD_VALUE for type 1 with a length other than 96.
 */
export function readSignatureBlock(r: ByteReader, what: string): SignatureBlock {
  const signatureType = r.u8(`${what} signature type`);
  const len = r.u16(`${what} signature length`);
  if (signatureType === SIGNATURE_TYPE_C25519 && len !== C25519_SIGNATURE_LENGTH) {
    throw new ZtError(ZtErrorCode.BAD_VALUE, `${what}: signature type 1 with length ${len}, must be ${C25519_SIGNATURE_LENGTH}`);
  }
  return { signatureType, signature: r.bytes(len, `${what} signature`).slice() };
}

/** @throws {ZtError} BAD_VALUE for type 1 without 96 bytes; TOO_LONG above 65535 bytes. */
export function writeSignatureBlock(w: ByteWriter, s: SignatureBlock, what: string): void {
  checkInt(s.signatureType, 0xff, `${what} signature type`);
  if (s.signatureType === SIGNATURE_TYPE_C25519 && s.signature.length !== C25519_SIGNATURE_LENGTH) {
    throw new ZtError(ZtErrorCode.BAD_VALUE, `${what}: signature type 1 needs ${C25519_SIGNATURE_LENGTH} bytes, got ${s.signature.length}`);
  }
  w.u8(s.signatureType);
  writeLengthPrefixed(w, s.signature, `${what} signature`);
}

/** Reads the trailing extension (u16 length + bytes; a copy). @throws {ZtError} TRUNCATED */
export function readExtension(r: ByteReader, what: string): Uint8Array {
  return r.bytes(r.u16(`${what} extension length`), `${what} extension`).slice();
}

/** `7f×8 ‖ body ‖ 7f×8`: what the controller signs. */
export function framedForSigning(body: (w: ByteWriter) => void): Uint8Array {
  const w = new ByteWriter(256);
  w.bytes(FRAME_MARK);
  body(w);
  w.bytes(FRAME_MARK);
  return w.finish();
}

/**
 * The verification rule the four credentials share (`Tag::verify` and its siblings, with the signer's identity
 * at hand): signed by the network's controller, which is `controller`, with a type-1 signature that verifies.
 */
export function verifyCredentialSignature(
  networkId: bigint,
  signedBy: number,
  sig: SignatureBlock,
  message: Uint8Array,
  controller: Identity,
): boolean {
  if (signedBy === 0 || signedBy !== networkController(networkId) || signedBy !== controller.address) return false;
  if (sig.signatureType !== SIGNATURE_TYPE_C25519) return false;
  return controller.verify(message, sig.signature);
}

/** What every signed credential carries besides its own fields: the network, the signer, the signature, the extension. */
export interface SignedCredential extends SignatureBlock {
  networkId: bigint;
  signedBy: number;
  /** Extension bytes (empty from 1.14; not covered by the signature). */
  ext: Uint8Array;
}

/** A credential's fields before it is signed (`sign` fills in the signer, the signature and an empty extension). */
export type UnsignedCredential<T extends SignedCredential> = Omit<T, 'signedBy' | 'signatureType' | 'signature' | 'ext'>;

/** The functions each credential module exports, built by {@link credentialCodec}. */
export interface CredentialCodec<T extends SignedCredential> {
  /** Reads one credential. @throws {ZtError} TRUNCATED, BAD_VALUE (and what the body's reader throws) */
  read(r: ByteReader): T;
  /** @throws {ZtError} BAD_VALUE, TOO_LONG */
  write(w: ByteWriter, t: T): void;
  /** Exactly one credential, nothing after it. */
  decode(b: Uint8Array): T;
  encode(t: T): Uint8Array;
  /** `7f×8 ‖ body ‖ 0000 ‖ 7f×8`: the message the controller signs. */
  signedMessage(t: T): Uint8Array;
  /** Issued by `signer` (normally the controller). @throws {ZtError} NO_PRIVATE_KEY, BAD_VALUE */
  sign(t: UnsignedCredential<T>, signer: Identity): T;
  /** `<Credential>::verify` with the controller's identity at hand. */
  verify(t: T, controller: Identity): boolean;
}

/**
 * The serialization the credentials share around each one's own body (`Tag`, `CertificateOfOwnership`,
 * `Revocation`): body ‖ signature block ‖ extension on the wire, body ‖ 0000 framed for signing. `readBody` reads
 * the fields up to and including signedBy; `writeBody` writes them, checking their ranges.
 */
export function credentialCodec<T extends SignedCredential>(
  name: string,
  sizeHint: number,
  readBody: (r: ByteReader) => Omit<T, keyof SignatureBlock | 'ext'>,
  writeBody: (w: ByteWriter, t: T) => void,
): CredentialCodec<T> {
  const read = (r: ByteReader): T => {
    const body = readBody(r);
    const sig = readSignatureBlock(r, name);
    return { ...body, ...sig, ext: readExtension(r, name) } as T;
  };
  const write = (w: ByteWriter, t: T): void => {
    writeBody(w, t);
    writeSignatureBlock(w, t, name);
    writeLengthPrefixed(w, t.ext, `${name} extension`);
  };
  const signedMessage = (t: T): Uint8Array =>
    framedForSigning((w) => {
      writeBody(w, t);
      w.u16(0);
    });
  return {
    read,
    write,
    decode(b) {
      const r = new ByteReader(b);
      const t = read(r);
      r.expectEnd(name);
      return t;
    },
    encode(t) {
      const w = new ByteWriter(sizeHint);
      write(w, t);
      return w.finish();
    },
    signedMessage,
    sign(t, signer) {
      const unsigned = { ...t, signedBy: signer.address, signatureType: SIGNATURE_TYPE_C25519, signature: new Uint8Array(C25519_SIGNATURE_LENGTH), ext: new Uint8Array(0) } as T;
      return { ...unsigned, signature: signer.sign(signedMessage(unsigned)) };
    },
    verify: (t, controller) => verifyCredentialSignature(t.networkId, t.signedBy, t, signedMessage(t), controller),
  };
}
