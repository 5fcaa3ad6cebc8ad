/**
 * Tag credential (`node/Tag.hpp`; shared/protocol/vl2.md §4.5): a controller-signed (id, value) pair issued to a
 * member, matched by the MATCH_TAG* rules.
 *
 *   nwid u64 | timestamp u64 | id u32 | value u32 | issuedTo[5] | signedBy[5]
 *   | sigType[1] | sigLength u16 | sig | extLength u16 | ext
 *
 * Signed: 7f×8 ‖ nwid … signedBy ‖ 0000 ‖ 7f×8.
 */
import { ByteReader, ByteWriter } from '../bytes.js';
import type { Identity } from '../identity.js';
import { checkInt, readSafeU64, writeAddress, writeLengthPrefixed, writeSafeU64, writeU64 } from '../verbs/common.js';
import {
  framedForSigning,
  readExtension,
  readSignatureBlock,
  SIGNATURE_TYPE_C25519,
  type SignatureBlock,
  verifyCredentialSignature,
  writeSignatureBlock,
} from './credential.js';

export interface Tag extends SignatureBlock {
  networkId: bigint;
  /** Issue time (ms). */
  timestamp: number;
  id: number;
  value: number;
  issuedTo: number;
  signedBy: number;
  /** Extension bytes (empty from 1.14; not covered by the signature). */
  ext: Uint8Array;
}

/** Reads one Tag. @throws {ZtError} TRUNCATED, BAD_VALUE (signature length, timestamp above 2^53). */
export function readTag(r: ByteReader): Tag {
  const networkId = r.u64('Tag network id');
  const timestamp = readSafeU64(r, 'Tag timestamp');
  const id = r.u32('Tag id');
  const value = r.u32('Tag value');
  const issuedTo = r.u40('Tag issued-to');
  const signedBy = r.u40('Tag signed-by');
  const sig = readSignatureBlock(r, 'Tag');
  return { networkId, timestamp, id, value, issuedTo, signedBy, ...sig, ext: readExtension(r, 'Tag') };
}

function writeBody(w: ByteWriter, t: Tag): void {
  writeU64(w, t.networkId, 'Tag network id');
  writeSafeU64(w, t.timestamp, 'Tag timestamp');
  checkInt(t.id, 0xffffffff, 'Tag id');
  checkInt(t.value, 0xffffffff, 'Tag value');
  w.u32(t.id).u32(t.value);
  writeAddress(w, t.issuedTo, 'Tag issued-to');
  writeAddress(w, t.signedBy, 'Tag signed-by');
}

/** @throws {ZtError} BAD_VALUE for out-of-range fields. */
export function writeTag(w: ByteWriter, t: Tag): void {
  writeBody(w, t);
  writeSignatureBlock(w, t, 'Tag');
  writeLengthPrefixed(w, t.ext, 'Tag extension');
}

export function decodeTag(b: Uint8Array): Tag {
  const r = new ByteReader(b);
  const t = readTag(r);
  r.expectEnd('Tag');
  return t;
}

export function encodeTag(t: Tag): Uint8Array {
  const w = new ByteWriter(132);
  writeTag(w, t);
  return w.finish();
}

/** The message the controller signs. */
export function tagSignedMessage(t: Tag): Uint8Array {
  return framedForSigning((w) => {
    writeBody(w, t);
    w.u16(0);
  });
}

/**
 * A Tag issued by `signer` (normally the controller). @throws {ZtError} NO_PRIVATE_KEY, BAD_VALUE.
 */
export function signTag(t: Omit<Tag, 'signedBy' | 'signatureType' | 'signature' | 'ext'>, signer: Identity): Tag {
  const unsigned: Tag = { ...t, signedBy: signer.address, signatureType: SIGNATURE_TYPE_C25519, signature: new Uint8Array(96), ext: new Uint8Array(0) };
  return { ...unsigned, signature: signer.sign(tagSignedMessage(unsigned)) };
}

/** `Tag::verify` with the controller's identity at hand. */
export function verifyTag(t: Tag, controller: Identity): boolean {
  return verifyCredentialSignature(t.networkId, t.signedBy, t, tagSignedMessage(t), controller);
}
