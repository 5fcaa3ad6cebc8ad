/**
 * Small field helpers shared by the verb payload codecs (`node/Packet.hpp` layouts, all big-endian).
 *
 * Conventions of every codec in `vl1/verbs/`: the payload is the bytes after the verb byte, already dearmored
 * and decompressed; decoders return views (`subarray`) into it for opaque byte fields, so callers that keep them
 * past the datagram's lifetime copy them; every failure is a {@link ZtError}.
 */
import { readU16, readU32, type ByteReader, type ByteWriter } from '../bytes.js';
import { ZtError, ZtErrorCode } from '../errors.js';

/** Reads a u64 that must be an exact JS number (millisecond timestamps). @throws {ZtError} BAD_VALUE above 2^53 − 1. */
export function readSafeU64(r: ByteReader, what: string): number {
  const v = r.u64(what);
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new ZtError(ZtErrorCode.BAD_VALUE, `${what}: 0x${v.toString(16)} is above 2^53 − 1 and cannot be held exactly`);
  }
  return Number(v);
}

/** Writes a non-negative integer number as u64. @throws {ZtError} BAD_VALUE if it is not a safe non-negative integer. */
export function writeSafeU64(w: ByteWriter, v: number, what: string): void {
  if (!Number.isSafeInteger(v) || v < 0) throw new ZtError(ZtErrorCode.BAD_VALUE, `${what}: ${v} is not a non-negative safe integer`);
  w.u64(BigInt(v));
}

/** Reads a 6-byte MAC as a bigint. */
export function readMac(r: ByteReader, what: string): bigint {
  const b = r.bytes(6, what);
  return (BigInt(readU16(b, 0)) << 32n) | BigInt(readU32(b, 2));
}

/** Writes a 48-bit MAC. @throws {ZtError} BAD_VALUE if out of range. */
export function writeMac(w: ByteWriter, mac: bigint, what: string): void {
  checkUint(mac, 48, what);
  w.u16(Number(mac >> 32n)).u32(Number(mac & 0xffffffffn));
}

/** Writes a 64-bit id (network id, packet id). @throws {ZtError} BAD_VALUE if out of range. */
export function writeU64(w: ByteWriter, v: bigint, what: string): void {
  checkUint(v, 64, what);
  w.u64(v);
}

/** @throws {ZtError} BAD_VALUE unless `v` is a bigint in [0, 2^bits). */
export function checkUint(v: bigint, bits: number, what: string): void {
  if (typeof v !== 'bigint' || v < 0n || v >> BigInt(bits) !== 0n) {
    throw new ZtError(ZtErrorCode.BAD_VALUE, `${what}: ${String(v)} is not a ${bits}-bit unsigned integer`);
  }
}

/** @throws {ZtError} BAD_VALUE unless `v` is an integer in [0, max]. */
export function checkInt(v: number, max: number, what: string): void {
  if (!Number.isInteger(v) || v < 0 || v > max) {
    throw new ZtError(ZtErrorCode.BAD_VALUE, `${what}: ${v} is not an integer in 0..${max}`);
  }
}

/** Writes a 40-bit address. @throws {ZtError} BAD_VALUE if out of range. */
export function writeAddress(w: ByteWriter, a: number, what: string): void {
  checkInt(a, 0xffffffffff, what);
  w.u40(a);
}

/** Writes a u16 length followed by the bytes. @throws {ZtError} TOO_LONG above 65535 bytes. */
export function writeLengthPrefixed(w: ByteWriter, b: Uint8Array, what: string): void {
  if (b.length > 0xffff) throw new ZtError(ZtErrorCode.TOO_LONG, `${what}: ${b.length} bytes do not fit a u16 length`);
  w.u16(b.length).bytes(b);
}
