/**
 * Revocation (`node/Revocation.hpp`; shared/protocol/vl2.md §4.4): the controller withdraws a member's credentials
 * of one type issued before `threshold`. 1.14 controllers send one (type COM, flags 0x1 fast-propagate) to every
 * online member when a member is deauthorized.
 *
 *   reserved u32 (0) | id u32 | nwid u64 | reserved u32 (0) | credentialId u32 | threshold u64 | flags u64
 *   | target[5] | signedBy[5] | credentialType[1] | sigType[1] | sigLength u16 | sig | extLength u16 | ext
 *
 * Signed: 7f×8 ‖ everything up to and including credentialType (reserved words as 0) ‖ 0000 ‖ 7f×8.
 */
import { ByteReader, ByteWriter } from '../bytes.js';
import type { Identity } from '../identity.js';
import { checkInt, checkUint, readSafeU64, writeAddress, writeLengthPrefixed, writeSafeU64, writeU64 } from '../verbs/common.js';
import {
  framedForSigning,
  readExtension,
  readSignatureBlock,
  SIGNATURE_TYPE_C25519,
  type SignatureBlock,
  verifyCredentialSignature,
  writeSignatureBlock,
} from './credential.js';

/** `ZT_REVOCATION_FLAG_FAST_PROPAGATE`: receivers forward it to the other members. */
export const REVOCATION_FLAG_FAST_PROPAGATE = 0x1n;

export interface Revocation extends SignatureBlock {
  id: number;
  networkId: bigint;
  credentialId: number;
  /** Credentials of the target issued at or before this time (ms) are void. */
  threshold: number;
  flags: bigint;
  target: number;
  signedBy: number;
  /** `CredentialType` of what is revoked (1 = COM). */
  credentialType: number;
  ext: Uint8Array;
}

/** Reads one Revocation (the reserved words are not checked, as in 1.14). @throws {ZtError} TRUNCATED, BAD_VALUE */
export function readRevocation(r: ByteReader): Revocation {
  r.skip(4, 'Revocation reserved');
  const id = r.u32('Revocation id');
  const networkId = r.u64('Revocation network id');
  r.skip(4, 'Revocation reserved');
  const credentialId = r.u32('Revocation credential id');
  const threshold = readSafeU64(r, 'Revocation threshold');
  const flags = r.u64('Revocation flags');
  const target = r.u40('Revocation target');
  const signedBy = r.u40('Revocation signed-by');
  const credentialType = r.u8('Revocation credential type');
  const sig = readSignatureBlock(r, 'Revocation');
  return { id, networkId, credentialId, threshold, flags, target, signedBy, credentialType, ...sig, ext: readExtension(r, 'Revocation') };
}

function writeBody(w: ByteWriter, v: Revocation): void {
  checkInt(v.id, 0xffffffff, 'Revocation id');
  checkInt(v.credentialId, 0xffffffff, 'Revocation credential id');
  checkUint(v.flags, 64, 'Revocation flags');
  checkInt(v.credentialType, 0xff, 'Revocation credential type');
  w.u32(0).u32(v.id);
  writeU64(w, v.networkId, 'Revocation network id');
  w.u32(0).u32(v.credentialId);
  writeSafeU64(w, v.threshold, 'Revocation threshold');
  w.u64(v.flags);
  writeAddress(w, v.target, 'Revocation target');
  writeAddress(w, v.signedBy, 'Revocation signed-by');
  w.u8(v.credentialType);
}

/** @throws {ZtError} BAD_VALUE */
export function writeRevocation(w: ByteWriter, v: Revocation): void {
  writeBody(w, v);
  writeSignatureBlock(w, v, 'Revocation');
  writeLengthPrefixed(w, v.ext, 'Revocation extension');
}

export function decodeRevocation(b: Uint8Array): Revocation {
  const r = new ByteReader(b);
  const v = readRevocation(r);
  r.expectEnd('Revocation');
  return v;
}

export function encodeRevocation(v: Revocation): Uint8Array {
  const w = new ByteWriter(150);
  writeRevocation(w, v);
  return w.finish();
}

export function revocationSignedMessage(v: Revocation): Uint8Array {
  return framedForSigning((w) => {
    writeBody(w, v);
    w.u16(0);
  });
}

/** A Revocation issued by `signer`. @throws {ZtError} NO_PRIVATE_KEY, BAD_VALUE. */
export function signRevocation(v: Omit<Revocation, 'signedBy' | 'signatureType' | 'signature' | 'ext'>, signer: Identity): Revocation {
  const unsigned: Revocation = { ...v, signedBy: signer.address, signatureType: SIGNATURE_TYPE_C25519, signature: new Uint8Array(96), ext: new Uint8Array(0) };
  return { ...unsigned, signature: signer.sign(revocationSignedMessage(unsigned)) };
}

/** `Revocation::verify` with the controller's identity at hand. */
export function verifyRevocation(v: Revocation, controller: Identity): boolean {
  return verifyCredentialSignature(v.networkId, v.signedBy, v, revocationSignedMessage(v), controller);
}
