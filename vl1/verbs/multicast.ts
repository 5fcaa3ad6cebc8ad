/**
 * MULTICAST_LIKE (0x09) and MULTICAST_GATHER (0x0d) payloads — shared/protocol/vl1.md §5.8,
 * shared/protocol/vl2.md §5.6–5.7; parsed by `IncomingPacket::_doMULTICAST_LIKE` / `_doMULTICAST_GATHER`.
 *
 *   MULTICAST_LIKE    repeated 18-byte tuples: nwid u64 | mac[6] | adi u32
 *   MULTICAST_GATHER  nwid u64 | flags[1] | mac[6] | adi u32 | gatherLimit u32 | [COM if flags & 0x01]
 *
 * The certificate of membership (vl2.md §4.1, `CertificateOfMembership::deserialize`) is kept as raw bytes;
 * its length is found by walking its structure:
 *   type[1] = 1 | qualifierCount u16 (≤ 8) | count × (id u64, value u64, maxDelta u64) | signedBy[5]
 *   | signature[96] only if signedBy ≠ 0
 */
import { ByteReader, ByteWriter } from '../bytes.js';
import { ZtError, ZtErrorCode } from '../errors.js';
import { checkInt, readMac, writeMac, writeU64 } from './common.js';

export interface MulticastGroupRef {
  networkId: bigint;
  mac: bigint;
  adi: number;
}

export interface MulticastLike {
  groups: MulticastGroupRef[];
}

export const MULTICAST_LIKE_TUPLE_LENGTH = 18;
/** MULTICAST_GATHER flag: a certificate of membership follows the fixed part. */
export const MULTICAST_GATHER_FLAG_COM = 0x01;
/** `ZT_NETWORK_COM_MAX_QUALIFIERS` as 1.14 accepts it (vl2.md §4.1). */
export const COM_MAX_QUALIFIERS = 8;
const COM_SIGNATURE_LENGTH = 96;

export interface MulticastGather {
  networkId: bigint;
  /** Bit 0x01 ⇔ `com` is present. */
  flags: number;
  mac: bigint;
  adi: number;
  gatherLimit: number;
  /** Serialized certificate of membership (view into the payload), present iff flags & 0x01. */
  com?: Uint8Array;
}

/**
 * Decodes a MULTICAST_LIKE payload (possibly empty).
 * @throws {ZtError} TRAILING_BYTES when the length is not a multiple of 18.
 */
export function decodeMulticastLike(payload: Uint8Array): MulticastLike {
  if (payload.length % MULTICAST_LIKE_TUPLE_LENGTH !== 0) {
    throw new ZtError(ZtErrorCode.TRAILING_BYTES, `MULTICAST_LIKE: ${payload.length} bytes is not a whole number of 18-byte tuples`);
  }
  const r = new ByteReader(payload);
  const groups: MulticastGroupRef[] = [];
  while (r.remaining > 0) {
    groups.push({ networkId: r.u64('MULTICAST_LIKE network id'), mac: readMac(r, 'MULTICAST_LIKE MAC'), adi: r.u32('MULTICAST_LIKE ADI') });
  }
  return { groups };
}

/** Encodes a MULTICAST_LIKE payload. @throws {ZtError} BAD_VALUE for out-of-range fields. */
export function encodeMulticastLike(x: MulticastLike): Uint8Array {
  const w = new ByteWriter(x.groups.length * MULTICAST_LIKE_TUPLE_LENGTH);
  for (const g of x.groups) {
    writeU64(w, g.networkId, 'MULTICAST_LIKE network id');
    writeMac(w, g.mac, 'MULTICAST_LIKE MAC');
    checkInt(g.adi, 0xffffffff, 'MULTICAST_LIKE ADI');
    w.u32(g.adi);
  }
  return w.finish();
}

/**
 * Reads one serialized certificate of membership and returns a view of exactly its bytes.
 * @throws {ZtError} TRUNCATED, BAD_VALUE (type ≠ 1, more than 8 qualifiers).
 */
export function readComBytes(r: ByteReader): Uint8Array {
  const start = r.pos;
  const type = r.u8('COM type');
  if (type !== 1) throw new ZtError(ZtErrorCode.BAD_VALUE, `COM: type ${type}, only 1 exists`);
  const n = r.u16('COM qualifier count');
  if (n > COM_MAX_QUALIFIERS) throw new ZtError(ZtErrorCode.BAD_VALUE, `COM: ${n} qualifiers, at most ${COM_MAX_QUALIFIERS}`);
  r.skip(n * 24, 'COM qualifiers');
  const signedBy = r.u40('COM signed-by');
  if (signedBy !== 0) r.skip(COM_SIGNATURE_LENGTH, 'COM signature');
  return r.buf.subarray(start, r.pos);
}

/**
 * Decodes a MULTICAST_GATHER payload.
 * @throws {ZtError} TRUNCATED, BAD_VALUE (bad COM), TRAILING_BYTES.
 */
export function decodeMulticastGather(payload: Uint8Array): MulticastGather {
  const r = new ByteReader(payload);
  const g: MulticastGather = {
    networkId: r.u64('MULTICAST_GATHER network id'),
    flags: r.u8('MULTICAST_GATHER flags'),
    mac: readMac(r, 'MULTICAST_GATHER MAC'),
    adi: r.u32('MULTICAST_GATHER ADI'),
    gatherLimit: r.u32('MULTICAST_GATHER gather limit'),
  };
  if (g.flags & MULTICAST_GATHER_FLAG_COM) g.com = readComBytes(r);
  r.expectEnd('MULTICAST_GATHER');
  return g;
}

/**
 * Encodes a MULTICAST_GATHER payload; `com` must be given iff flags & 0x01.
 * @throws {ZtError} BAD_VALUE for out-of-range fields or a flag/COM mismatch.
 */
export function encodeMulticastGather(x: MulticastGather): Uint8Array {
  checkInt(x.flags, 0xff, 'MULTICAST_GATHER flags');
  checkInt(x.adi, 0xffffffff, 'MULTICAST_GATHER ADI');
  checkInt(x.gatherLimit, 0xffffffff, 'MULTICAST_GATHER gather limit');
  const hasCom = (x.flags & MULTICAST_GATHER_FLAG_COM) !== 0;
  if (hasCom !== (x.com !== undefined)) {
    throw new ZtError(ZtErrorCode.BAD_VALUE, `MULTICAST_GATHER: flags 0x${x.flags.toString(16)} and ${x.com ? 'a' : 'no'} COM disagree`);
  }
  const w = new ByteWriter(27 + (x.com?.length ?? 0));
  writeU64(w, x.networkId, 'MULTICAST_GATHER network id');
  w.u8(x.flags);
  writeMac(w, x.mac, 'MULTICAST_GATHER MAC');
  w.u32(x.adi).u32(x.gatherLimit);
  if (x.com !== undefined) {
    // Check that the blob is exactly one COM, so the receiver's parse ends where ours would.
    const r = new ByteReader(x.com);
    readComBytes(r);
    r.expectEnd('MULTICAST_GATHER COM');
    w.bytes(x.com);
  }
  return w.finish();
}
