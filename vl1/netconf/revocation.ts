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
import type { ByteReader, ByteWriter } from '../bytes.js';
import { checkInt, checkUint, readSafeU64, writeAddress, writeSafeU64, writeU64 } from '../verbs/common.js';
import { credentialCodec, type SignatureBlock } from './credential.js';

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
function readBody(r: ByteReader): Omit<Revocation, keyof SignatureBlock | 'ext'> {
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
  return { id, networkId, credentialId, threshold, flags, target, signedBy, credentialType };
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

const codec = credentialCodec<Revocation>('Revocation', 150, readBody, writeBody);

/** Reads one Revocation. @throws {ZtError} TRUNCATED, BAD_VALUE (signature length, field ranges) */
export const readRevocation = codec.read;
/** @throws {ZtError} BAD_VALUE, TOO_LONG */
export const writeRevocation = codec.write;
export const decodeRevocation = codec.decode;
export const encodeRevocation = codec.encode;
/** The message the controller signs. */
export const revocationSignedMessage = codec.signedMessage;
/** A Revocation issued by `signer` (normally the controller). @throws {ZtError} NO_PRIVATE_KEY, BAD_VALUE */
export const signRevocation = codec.sign;
/** `Revocation::verify` with the controller's identity at hand. */
export const verifyRevocation = codec.verify;
