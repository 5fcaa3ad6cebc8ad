/**
 * Tag credential (`node/Tag.hpp`; shared/protocol/vl2.md §4.5): a controller-signed (id, value) pair issued to a
 * member, matched by the MATCH_TAG* rules.
 *
 *   nwid u64 | timestamp u64 | id u32 | value u32 | issuedTo[5] | signedBy[5]
 *   | sigType[1] | sigLength u16 | sig | extLength u16 | ext
 *
 * Signed: 7f×8 ‖ nwid … signedBy ‖ 0000 ‖ 7f×8.
 */
import type { ByteReader, ByteWriter } from '../bytes.js';
import { checkInt, readSafeU64, writeAddress, writeSafeU64, writeU64 } from '../verbs/common.js';
import { credentialCodec, type SignatureBlock } from './credential.js';

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
function readBody(r: ByteReader): Omit<Tag, keyof SignatureBlock | 'ext'> {
  const networkId = r.u64('Tag network id');
  const timestamp = readSafeU64(r, 'Tag timestamp');
  const id = r.u32('Tag id');
  const value = r.u32('Tag value');
  const issuedTo = r.u40('Tag issued-to');
  const signedBy = r.u40('Tag signed-by');
  return { networkId, timestamp, id, value, issuedTo, signedBy };
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

const codec = credentialCodec<Tag>('Tag', 132, readBody, writeBody);

/** Reads one Tag. @throws {ZtError} TRUNCATED, BAD_VALUE (signature length, field ranges) */
export const readTag = codec.read;
/** @throws {ZtError} BAD_VALUE, TOO_LONG */
export const writeTag = codec.write;
export const decodeTag = codec.decode;
export const encodeTag = codec.encode;
/** The message the controller signs. */
export const tagSignedMessage = codec.signedMessage;
/** A Tag issued by `signer` (normally the controller). @throws {ZtError} NO_PRIVATE_KEY, BAD_VALUE */
export const signTag = codec.sign;
/** `Tag::verify` with the controller's identity at hand. */
export const verifyTag = codec.verify;
