/**
 * PUSH_DIRECT_PATHS (verb 0x10) payload — shared/protocol/vl1.md §5.9, shared/protocol/vl2.md §6.4; parsed by
 * `IncomingPacket::_doPUSH_DIRECT_PATHS`.
 *
 *   count u16 | count × ( flags[1] (0x01 forget, 0x02 cluster redirect) | extLength u16 | ext[extLength]
 *                         | addrType[1] (4 or 6) | addrLength[1] (6 or 18: the IP AND the port) | ip | port u16 )
 *
 * Records with another address type are kept opaque (1.14 skips `addrLength` bytes of them).
 */
import { ByteReader, ByteWriter } from '../bytes.js';
import { ZtError, ZtErrorCode } from '../errors.js';
import { inetAddressFromBytes, inetAddressToBytes, type InetAddress } from '../inet-address.js';
import { checkInt, writeLengthPrefixed } from './common.js';

export const PUSH_PATH_FLAG_FORGET = 0x01;
export const PUSH_PATH_FLAG_CLUSTER_REDIRECT = 0x02;

/** A record whose address type is neither 4 nor 6: its type byte and its `addrLength` bytes, unparsed. */
export interface OpaquePathAddress {
  type: number;
  raw: Uint8Array;
}

export interface PushedPath {
  flags: number;
  /** Extension bytes (empty from 1.14). View into the payload. */
  ext: Uint8Array;
  address: InetAddress | OpaquePathAddress;
}

export interface PushDirectPaths {
  paths: PushedPath[];
}

/** True when a pushed path's address is an IP endpoint (types 4/6). */
export function isInetPath(a: InetAddress | OpaquePathAddress): a is InetAddress {
  return 'family' in a;
}

/**
 * Decodes a PUSH_DIRECT_PATHS payload.
 * @throws {ZtError} TRUNCATED, BAD_VALUE (address length not matching type 4/6), TRAILING_BYTES.
 */
export function decodePushDirectPaths(payload: Uint8Array): PushDirectPaths {
  const r = new ByteReader(payload);
  const count = r.u16('PUSH_DIRECT_PATHS count');
  // Each record takes at least 5 bytes: refuse impossible counts before looping.
  if (count * 5 > r.remaining) {
    throw new ZtError(ZtErrorCode.TRUNCATED, `PUSH_DIRECT_PATHS: count ${count} cannot fit in ${r.remaining} bytes`);
  }
  const paths: PushedPath[] = [];
  for (let i = 0; i < count; i++) {
    const flags = r.u8('PUSH_DIRECT_PATHS flags');
    const ext = r.bytes(r.u16('PUSH_DIRECT_PATHS extension length'), 'PUSH_DIRECT_PATHS extension');
    const type = r.u8('PUSH_DIRECT_PATHS address type');
    const len = r.u8('PUSH_DIRECT_PATHS address length');
    const body = r.bytes(len, 'PUSH_DIRECT_PATHS address');
    let address: InetAddress | OpaquePathAddress;
    if (type === 4 || type === 6) {
      const want = type === 4 ? 6 : 18;
      if (len !== want) {
        throw new ZtError(ZtErrorCode.BAD_VALUE, `PUSH_DIRECT_PATHS record ${i}: address type ${type} needs length ${want}, got ${len}`);
      }
      address = inetAddressFromBytes(body.subarray(0, len - 2), (body[len - 2]! << 8) | body[len - 1]!);
    } else {
      address = { type, raw: body };
    }
    paths.push({ flags, ext, address });
  }
  r.expectEnd('PUSH_DIRECT_PATHS');
  return { paths };
}

/**
 * Encodes a PUSH_DIRECT_PATHS payload. IPv4-mapped IPv6 addresses stay type 6 (16 bytes).
 * @throws {ZtError} BAD_VALUE / TOO_LONG for out-of-range fields.
 */
export function encodePushDirectPaths(x: PushDirectPaths): Uint8Array {
  if (x.paths.length > 0xffff) throw new ZtError(ZtErrorCode.TOO_LONG, `PUSH_DIRECT_PATHS: ${x.paths.length} paths`);
  const w = new ByteWriter(2 + x.paths.length * 24);
  w.u16(x.paths.length);
  for (const p of x.paths) {
    checkInt(p.flags, 0xff, 'PUSH_DIRECT_PATHS flags');
    w.u8(p.flags);
    writeLengthPrefixed(w, p.ext, 'PUSH_DIRECT_PATHS extension');
    if (isInetPath(p.address)) {
      const ip = inetAddressToBytes(p.address);
      checkInt(p.address.port, 0xffff, 'PUSH_DIRECT_PATHS port');
      w.u8(ip.length === 4 ? 4 : 6).u8(ip.length + 2).bytes(ip).u16(p.address.port);
    } else {
      checkInt(p.address.type, 0xff, 'PUSH_DIRECT_PATHS address type');
      if (p.address.type === 4 || p.address.type === 6) {
        throw new ZtError(ZtErrorCode.BAD_VALUE, `PUSH_DIRECT_PATHS: an opaque address cannot have type ${p.address.type}`);
      }
      if (p.address.raw.length > 0xff) throw new ZtError(ZtErrorCode.TOO_LONG, `PUSH_DIRECT_PATHS: opaque address of ${p.address.raw.length} bytes`);
      w.u8(p.address.type).u8(p.address.raw.length).bytes(p.address.raw);
    }
  }
  return w.finish();
}
