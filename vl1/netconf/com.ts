/**
 * Certificate of membership (`node/CertificateOfMembership.hpp/.cpp`; shared/protocol/vl2.md §4.1).
 *
 *   type[1] = 1 | qualifierCount u16 (≤ 8) | count × (id u64, value u64, maxDelta u64), ids non-decreasing
 *   | signedBy[5] (0 = unsigned) | signature[96] only if signedBy ≠ 0
 *
 * Signed message: the qualifiers alone, as big-endian (id, value, maxDelta) triples. A 1.14 controller issues 7
 * qualifiers: 0 timestamp (maxDelta = the config's ctmd), 1 network id (0), 2 issued-to (2^64−1) and 3..6 the
 * words of SHA-384(address[5] ‖ public key[64]) (2^64−1 each), which bind the COM to the member's key.
 */
import { createHash } from 'node:crypto';
import { networkController } from '../address.js';
import { ByteReader, ByteWriter } from '../bytes.js';
import { C25519_SIGNATURE_LENGTH } from '../constants.js';
import { ZtError, ZtErrorCode } from '../errors.js';
import type { Identity } from '../identity.js';
import { checkInt, checkUint } from '../verbs/common.js';
import { COM_MAX_QUALIFIERS } from './constants.js';

export interface ComQualifier {
  id: bigint;
  value: bigint;
  maxDelta: bigint;
}

export interface CertificateOfMembership {
  qualifiers: ComQualifier[];
  /** The signer's address; 0 for an unsigned COM (then there is no signature). */
  signedBy: number;
  /** 96 bytes, present iff signedBy ≠ 0. */
  signature?: Uint8Array;
}

/** Reserved qualifier ids (`COM_RESERVED_ID_*`); 3..6 are the identity-hash words. */
export const ComQualifierId = { TIMESTAMP: 0n, NETWORK_ID: 1n, ISSUED_TO: 2n } as const;
const U64_MAX = 0xffffffffffffffffn;
const COM_TYPE = 1;

/**
 * Reads one COM and leaves `r` after it (`CertificateOfMembership::deserialize`). The signature is a copy.
 * @throws {ZtError} TRUNCATED; BAD_VALUE for type ≠ 1, more than 8 qualifiers or decreasing ids.
 */
export function readCom(r: ByteReader): CertificateOfMembership {
  const type = r.u8('COM type');
  if (type !== COM_TYPE) throw new ZtError(ZtErrorCode.BAD_VALUE, `COM: type ${type}, only 1 exists`);
  const n = r.u16('COM qualifier count');
  if (n > COM_MAX_QUALIFIERS) throw new ZtError(ZtErrorCode.BAD_VALUE, `COM: ${n} qualifiers, at most COM_MAX_QUALIFIERS = ${COM_MAX_QUALIFIERS}`);
  const qualifiers: ComQualifier[] = [];
  let last = 0n;
  for (let i = 0; i < n; i++) {
    const id = r.u64('COM qualifier id');
    if (id < last) throw new ZtError(ZtErrorCode.BAD_VALUE, `COM: qualifier id ${id} follows ${last} (ids must not decrease)`);
    last = id;
    qualifiers.push({ id, value: r.u64('COM qualifier value'), maxDelta: r.u64('COM qualifier max delta') });
  }
  const signedBy = r.u40('COM signed-by');
  const com: CertificateOfMembership = { qualifiers, signedBy };
  if (signedBy !== 0) com.signature = r.bytes(C25519_SIGNATURE_LENGTH, 'COM signature').slice();
  return com;
}

/** Decodes a buffer holding exactly one COM. @throws {ZtError} as {@link readCom}, TRAILING_BYTES. */
export function decodeCom(b: Uint8Array): CertificateOfMembership {
  const r = new ByteReader(b);
  const com = readCom(r);
  r.expectEnd('COM');
  return com;
}

/** Writes a COM. @throws {ZtError} BAD_VALUE for an inconsistent COM (see {@link checkCom}). */
export function writeCom(w: ByteWriter, com: CertificateOfMembership): void {
  checkCom(com);
  w.u8(COM_TYPE).u16(com.qualifiers.length);
  for (const q of com.qualifiers) w.u64(q.id).u64(q.value).u64(q.maxDelta);
  w.u40(com.signedBy);
  if (com.signedBy !== 0) w.bytes(com.signature!);
}

export function encodeCom(com: CertificateOfMembership): Uint8Array {
  const w = new ByteWriter(8 + com.qualifiers.length * 24 + 96);
  writeCom(w, com);
  return w.finish();
}

/** @throws {ZtError} BAD_VALUE unless the COM is one {@link readCom} could have produced. */
function checkCom(com: CertificateOfMembership): void {
  if (com.qualifiers.length > COM_MAX_QUALIFIERS) {
    throw new ZtError(ZtErrorCode.BAD_VALUE, `COM: ${com.qualifiers.length} qualifiers, at most COM_MAX_QUALIFIERS = ${COM_MAX_QUALIFIERS}`);
  }
  let last = 0n;
  for (const q of com.qualifiers) {
    checkUint(q.id, 64, 'COM qualifier id');
    checkUint(q.value, 64, 'COM qualifier value');
    checkUint(q.maxDelta, 64, 'COM qualifier max delta');
    if (q.id < last) throw new ZtError(ZtErrorCode.BAD_VALUE, `COM: qualifier id ${q.id} follows ${last} (ids must not decrease)`);
    last = q.id;
  }
  checkInt(com.signedBy, 0xffffffffff, 'COM signed-by');
  const hasSig = com.signature !== undefined;
  if (hasSig !== (com.signedBy !== 0) || (hasSig && com.signature!.length !== C25519_SIGNATURE_LENGTH)) {
    throw new ZtError(ZtErrorCode.BAD_VALUE, 'COM: a 96-byte signature must be present exactly when signedBy is non-zero');
  }
}

function qualifierValue(com: CertificateOfMembership, id: bigint): bigint | undefined {
  return com.qualifiers.find((q) => q.id === id)?.value;
}

/** The timestamp qualifier (ms), or 0n when absent (as `CertificateOfMembership::timestamp`). */
export function comTimestamp(com: CertificateOfMembership): bigint {
  return qualifierValue(com, ComQualifierId.TIMESTAMP) ?? 0n;
}
/** The network id qualifier, or 0n when absent. */
export function comNetworkId(com: CertificateOfMembership): bigint {
  return qualifierValue(com, ComQualifierId.NETWORK_ID) ?? 0n;
}
/** The issued-to qualifier as an address (its low 40 bits), or 0 when absent. */
export function comIssuedTo(com: CertificateOfMembership): number {
  return Number((qualifierValue(com, ComQualifierId.ISSUED_TO) ?? 0n) & 0xffffffffffn);
}

/**
 * The four identity-hash words (`Identity::publicKeyHash`): SHA-384(address[5] ‖ public key[64]) bytes
 * [0..8), [8..16), [16..24), [24..32), each read big-endian.
 */
export function identityHashWords(id: Identity): [bigint, bigint, bigint, bigint] {
  const addr = new Uint8Array(5);
  const dv = new DataView(addr.buffer);
  dv.setUint8(0, Math.floor(id.address / 2 ** 32));
  dv.setUint32(1, id.address >>> 0);
  const h = createHash('sha384').update(addr).update(id.publicKey).digest();
  return [h.readBigUInt64BE(0), h.readBigUInt64BE(8), h.readBigUInt64BE(16), h.readBigUInt64BE(24)];
}

/**
 * An unsigned COM as a 1.14 controller builds it (`CertificateOfMembership` constructor): the 7 qualifiers above.
 * @throws {ZtError} BAD_VALUE for out-of-range values.
 */
export function createCom(p: { timestamp: number | bigint; maxDelta: number | bigint; networkId: bigint; issuedTo: Identity }): CertificateOfMembership {
  const ts = BigInt(p.timestamp);
  const md = BigInt(p.maxDelta);
  checkUint(ts, 64, 'COM timestamp');
  checkUint(md, 64, 'COM max delta');
  checkUint(p.networkId, 64, 'COM network id');
  const words = identityHashWords(p.issuedTo);
  return {
    qualifiers: [
      { id: ComQualifierId.TIMESTAMP, value: ts, maxDelta: md },
      { id: ComQualifierId.NETWORK_ID, value: p.networkId, maxDelta: 0n },
      { id: ComQualifierId.ISSUED_TO, value: BigInt(p.issuedTo.address), maxDelta: U64_MAX },
      ...words.map((value, i) => ({ id: BigInt(i + 3), value, maxDelta: U64_MAX })),
    ],
    signedBy: 0,
  };
}

/** The bytes a COM's signature covers: its qualifiers as (id, value, maxDelta) u64 triples. */
export function comSignedMessage(com: CertificateOfMembership): Uint8Array {
  const w = new ByteWriter(com.qualifiers.length * 24);
  for (const q of com.qualifiers) w.u64(q.id).u64(q.value).u64(q.maxDelta);
  return w.finish();
}

/**
 * `com` signed by `signer` (a copy; `CertificateOfMembership::sign`).
 * @throws {ZtError} NO_PRIVATE_KEY; BAD_VALUE for more than 8 qualifiers.
 */
export function signCom(com: CertificateOfMembership, signer: Identity): CertificateOfMembership {
  if (com.qualifiers.length > COM_MAX_QUALIFIERS) {
    throw new ZtError(ZtErrorCode.BAD_VALUE, `COM: ${com.qualifiers.length} qualifiers, at most COM_MAX_QUALIFIERS = ${COM_MAX_QUALIFIERS}`);
  }
  return { qualifiers: com.qualifiers.map((q) => ({ ...q })), signedBy: signer.address, signature: signer.sign(comSignedMessage(com)) };
}

/**
 * `CertificateOfMembership::verify` with the signer's identity at hand: signed by the network's controller
 * (`networkId >> 24`, the network id taken from qualifier 1), which is `controller`, and the signature verifies.
 * (1.14 answers "WHOIS first" when it does not know the controller; the caller does that lookup.)
 */
export function verifyCom(com: CertificateOfMembership, controller: Identity): boolean {
  if (com.signedBy === 0 || com.signature === undefined || com.qualifiers.length > COM_MAX_QUALIFIERS) return false;
  if (com.signedBy !== networkController(comNetworkId(com)) || com.signedBy !== controller.address) return false;
  return controller.verify(comSignedMessage(com), com.signature);
}

/**
 * `CertificateOfMembership::agreesWith`, evaluated as MY com against THEIR com and their identity: both non-empty;
 * every qualifier of mine is in theirs within my maxDelta (unsigned distance); and if mine has any of ids 3..6,
 * theirs must carry ids 3..6 equal to the hash words of `theirIdentity` (so a COM is useless with another key).
 * Where theirs repeats an id, its last value counts (1.14 builds a map).
 */
export function comAgreesWith(mine: CertificateOfMembership, theirs: CertificateOfMembership, theirIdentity: Identity): boolean {
  if (mine.qualifiers.length === 0 || theirs.qualifiers.length === 0) return false;
  const other = new Map<bigint, bigint>();
  for (const q of theirs.qualifiers) other.set(q.id, q.value);
  let fullIdentity = false;
  for (const q of mine.qualifiers) {
    if (q.id >= 3n && q.id <= 6n) fullIdentity = true;
    const b = other.get(q.id);
    if (b === undefined) return false;
    const d = q.value >= b ? q.value - b : b - q.value;
    if (d > q.maxDelta) return false;
  }
  if (fullIdentity) {
    const words = identityHashWords(theirIdentity);
    for (let i = 0; i < 4; i++) if (other.get(BigInt(i + 3)) !== words[i]) return false;
  }
  return true;
}
