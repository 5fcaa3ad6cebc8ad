/**
 * RENDEZVOUS (verb 0x05) payload — shared/protocol/vl1.md §5.6; sent by a root to introduce two peers, parsed by
 * `IncomingPacket::_doRENDEZVOUS`.
 *
 *   flags[1] = 0 | address of the other peer[5] | its port u16 | ipLength[1] (4 or 16) | ip[ipLength]
 */
import { ByteReader, ByteWriter } from '../bytes.js';
import { ZtError, ZtErrorCode } from '../errors.js';
import { inetAddressFromBytes, inetAddressToBytes, type InetAddress } from '../inet-address.js';
import { checkInt, writeAddress } from './common.js';

export interface Rendezvous {
  flags: number;
  /** The peer to contact. */
  address: number;
  /** Where to contact it (the IP length byte selects the family). */
  endpoint: InetAddress;
}

/**
 * Decodes a RENDEZVOUS payload.
 * @throws {ZtError} TRUNCATED, BAD_VALUE (IP length not 4 or 16), TRAILING_BYTES.
 */
export function decodeRendezvous(payload: Uint8Array): Rendezvous {
  const r = new ByteReader(payload);
  const flags = r.u8('RENDEZVOUS flags');
  const address = r.u40('RENDEZVOUS address');
  const port = r.u16('RENDEZVOUS port');
  const len = r.u8('RENDEZVOUS IP length');
  if (len !== 4 && len !== 16) throw new ZtError(ZtErrorCode.BAD_VALUE, `RENDEZVOUS: IP length ${len}, must be 4 or 16`);
  const endpoint = inetAddressFromBytes(r.bytes(len, 'RENDEZVOUS IP'), port);
  r.expectEnd('RENDEZVOUS');
  return { flags, address, endpoint };
}

/**
 * Encodes a RENDEZVOUS payload. An IPv4-mapped IPv6 endpoint is written as its 16 bytes (this field carries the
 * family by length, not by type byte).
 * @throws {ZtError} BAD_VALUE for out-of-range fields.
 */
export function encodeRendezvous(x: Rendezvous): Uint8Array {
  checkInt(x.flags, 0xff, 'RENDEZVOUS flags');
  checkInt(x.endpoint.port, 0xffff, 'RENDEZVOUS port');
  const ip = inetAddressToBytes(x.endpoint);
  const w = new ByteWriter(13 + ip.length);
  w.u8(x.flags);
  writeAddress(w, x.address, 'RENDEZVOUS address');
  w.u16(x.endpoint.port).u8(ip.length).bytes(ip);
  return w.finish();
}
