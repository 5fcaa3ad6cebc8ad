/**
 * ERROR (verb 0x02) payload — shared/protocol/vl1.md §5.3, shared/protocol/vl2.md §2.4; parsed by
 * `IncomingPacket::_doERROR`.
 *
 *   inReVerb[1] | inRePacketId u64 | code[1] | code-dependent payload:
 *     0x00 NONE, 0x01 INVALID_REQUEST, 0x02 BAD_PROTOCOL_VERSION, 0x04 IDENTITY_COLLISION   nothing
 *     0x03 OBJ_NOT_FOUND, 0x05 UNSUPPORTED_OPERATION, 0x06 NEED_MEMBERSHIP_CERTIFICATE,
 *     0x07 NETWORK_ACCESS_DENIED, 0x09 NETWORK_AUTHENTICATION_REQUIRED
 *                          [nwid u64 [errorDataLength u16 | errorData]]   (controllers append a dictionary)
 *     0x08 UNWANTED_MULTICAST  nwid u64 | mac[6] | adi u32
 *     other codes              kept raw
 */
import { ByteReader, ByteWriter } from '../bytes.js';
import { ErrorCode } from '../constants.js';
import { ZtError, ZtErrorCode } from '../errors.js';
import { checkInt, readMac, writeLengthPrefixed, writeMac, writeU64 } from './common.js';

export interface ErrorPayload {
  inReVerb: number;
  inRePacketId: bigint;
  /** `Packet::ErrorCode` (see `ErrorCode` in constants.ts). */
  code: number;
  /** Codes 3/5/6/7/9 (optional: absent when the payload ends after the code) and 8 (required). */
  networkId?: bigint;
  /** Code 8 (UNWANTED_MULTICAST): the multicast group. */
  mac?: bigint;
  adi?: number;
  /**
   * After the network id of codes 3/5/6/7/9, when present: the u16-length-prefixed error data — for
   * NETWORK_AUTHENTICATION_REQUIRED the SSO dictionary (keys aV, aU, ...). View into the payload.
   */
  errorData?: Uint8Array;
  /** Codes this module does not know: everything after the code byte, unparsed. */
  raw?: Uint8Array;
}

const NO_PAYLOAD = new Set<number>([ErrorCode.NONE, ErrorCode.INVALID_REQUEST, ErrorCode.BAD_PROTOCOL_VERSION, ErrorCode.IDENTITY_COLLISION]);
const NWID_PAYLOAD = new Set<number>([
  ErrorCode.OBJ_NOT_FOUND,
  ErrorCode.UNSUPPORTED_OPERATION,
  ErrorCode.NEED_MEMBERSHIP_CERTIFICATE,
  ErrorCode.NETWORK_ACCESS_DENIED,
  ErrorCode.NETWORK_AUTHENTICATION_REQUIRED,
]);

/**
 * Decodes an ERROR payload.
 * @throws {ZtError} TRUNCATED, TRAILING_BYTES (bytes after a known code's payload).
 */
export function decodeError(payload: Uint8Array): ErrorPayload {
  const r = new ByteReader(payload);
  const e: ErrorPayload = {
    inReVerb: r.u8('ERROR in-re verb'),
    inRePacketId: r.u64('ERROR in-re packet id'),
    code: r.u8('ERROR code'),
  };
  const what = `ERROR code ${e.code}`;
  if (NO_PAYLOAD.has(e.code)) {
    r.expectEnd(what);
  } else if (NWID_PAYLOAD.has(e.code)) {
    if (r.remaining > 0) {
      e.networkId = r.u64(`${what} network id`);
      if (r.remaining > 0) e.errorData = r.bytes(r.u16(`${what} error data length`), `${what} error data`);
      r.expectEnd(what);
    }
  } else if (e.code === ErrorCode.UNWANTED_MULTICAST) {
    e.networkId = r.u64(`${what} network id`);
    e.mac = readMac(r, `${what} MAC`);
    e.adi = r.u32(`${what} ADI`);
    r.expectEnd(what);
  } else {
    e.raw = r.rest();
  }
  return e;
}

/**
 * Encodes an ERROR payload from the fields its code uses.
 * @throws {ZtError} BAD_VALUE for fields the code does not carry, missing required fields, or out-of-range values.
 */
export function encodeError(e: ErrorPayload): Uint8Array {
  checkInt(e.inReVerb, 0xff, 'ERROR in-re verb');
  checkInt(e.code, 0xff, 'ERROR code');
  const w = new ByteWriter(64);
  w.u8(e.inReVerb);
  writeU64(w, e.inRePacketId, 'ERROR in-re packet id');
  w.u8(e.code);
  const what = `ERROR code ${e.code}`;
  const extra = (names: string[]): void => {
    for (const n of names) {
      if ((e as unknown as Record<string, unknown>)[n] !== undefined) throw new ZtError(ZtErrorCode.BAD_VALUE, `${what} does not carry ${n}`);
    }
  };
  if (NO_PAYLOAD.has(e.code)) {
    extra(['networkId', 'mac', 'adi', 'errorData', 'raw']);
  } else if (NWID_PAYLOAD.has(e.code)) {
    extra(['mac', 'adi', 'raw']);
    if (e.networkId !== undefined) {
      writeU64(w, e.networkId, `${what} network id`);
      if (e.errorData !== undefined) writeLengthPrefixed(w, e.errorData, `${what} error data`);
    } else if (e.errorData !== undefined) {
      throw new ZtError(ZtErrorCode.BAD_VALUE, `${what}: errorData needs networkId`);
    }
  } else if (e.code === ErrorCode.UNWANTED_MULTICAST) {
    extra(['errorData', 'raw']);
    if (e.networkId === undefined || e.mac === undefined || e.adi === undefined) {
      throw new ZtError(ZtErrorCode.BAD_VALUE, `${what} needs networkId, mac and adi`);
    }
    writeU64(w, e.networkId, `${what} network id`);
    writeMac(w, e.mac, `${what} MAC`);
    checkInt(e.adi, 0xffffffff, `${what} ADI`);
    w.u32(e.adi);
  } else {
    extra(['networkId', 'mac', 'adi', 'errorData']);
    if (e.raw !== undefined) w.bytes(e.raw);
  }
  return w.finish();
}
