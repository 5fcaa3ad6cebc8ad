/**
 * MULTICAST_FRAME (0x0e) payload — shared/protocol/vl2.md §5.7; parsed by `IncomingPacket::_doMULTICAST_FRAME`,
 * built by `OutboundMulticast`.
 *
 *   nwid u64 | flags[1]
 *   | [COM]                  flags & 0x01 (deprecated; parsed, not sent by 1.14)
 *   | [gatherLimit u32]      flags & 0x02 (implicit gather: the recipient answers OK(MULTICAST_FRAME) with members)
 *   | [source MAC[6]]        flags & 0x04 (else the source is MAC(sender, nwid))
 *   | dest MAC[6] | dest ADI u32 | etherType u16 | Ethernet payload (≤ MAX_MTU; 1.14 ignores empty or longer ones)
 *   flags & 0x08: "please replicate" (honoured only by multicast-replicator specialists)
 */
import { ByteReader, ByteWriter } from '../bytes.js';
import { ZtError, ZtErrorCode } from '../errors.js';
import { checkInt, readMac, writeMac, writeU64 } from './common.js';
import { readComBytes } from './multicast.js';

export const MULTICAST_FRAME_FLAG_COM = 0x01;
export const MULTICAST_FRAME_FLAG_GATHER_LIMIT = 0x02;
export const MULTICAST_FRAME_FLAG_SOURCE_MAC = 0x04;
export const MULTICAST_FRAME_FLAG_REPLICATE = 0x08;

export interface MulticastFrame {
  networkId: bigint;
  /** Bits 0x01/0x02/0x04 ⇔ com/gatherLimit/source present. */
  flags: number;
  com?: Uint8Array;
  gatherLimit?: number;
  source?: bigint;
  dest: bigint;
  adi: number;
  etherType: number;
  payload: Uint8Array;
}

/** @throws {ZtError} TRUNCATED, BAD_VALUE (a malformed inline COM) */
export function decodeMulticastFrame(payload: Uint8Array): MulticastFrame {
  const r = new ByteReader(payload);
  const networkId = r.u64('MULTICAST_FRAME network id');
  const flags = r.u8('MULTICAST_FRAME flags');
  const x: MulticastFrame = { networkId, flags, dest: 0n, adi: 0, etherType: 0, payload: new Uint8Array(0) };
  if (flags & MULTICAST_FRAME_FLAG_COM) x.com = readComBytes(r);
  if (flags & MULTICAST_FRAME_FLAG_GATHER_LIMIT) x.gatherLimit = r.u32('MULTICAST_FRAME gather limit');
  if (flags & MULTICAST_FRAME_FLAG_SOURCE_MAC) x.source = readMac(r, 'MULTICAST_FRAME source MAC');
  x.dest = readMac(r, 'MULTICAST_FRAME dest MAC');
  x.adi = r.u32('MULTICAST_FRAME dest ADI');
  x.etherType = r.u16('MULTICAST_FRAME ethertype');
  x.payload = r.rest();
  return x;
}

/** @throws {ZtError} BAD_VALUE for out-of-range fields or flags that disagree with the optional fields */
export function encodeMulticastFrame(x: MulticastFrame): Uint8Array {
  checkInt(x.flags, 0xff, 'MULTICAST_FRAME flags');
  checkInt(x.adi, 0xffffffff, 'MULTICAST_FRAME ADI');
  checkInt(x.etherType, 0xffff, 'MULTICAST_FRAME ethertype');
  const has = [
    [MULTICAST_FRAME_FLAG_COM, x.com, 'COM'],
    [MULTICAST_FRAME_FLAG_GATHER_LIMIT, x.gatherLimit, 'gather limit'],
    [MULTICAST_FRAME_FLAG_SOURCE_MAC, x.source, 'source MAC'],
  ] as const;
  for (const [bit, v, what] of has) {
    if (((x.flags & bit) !== 0) !== (v !== undefined)) {
      throw new ZtError(ZtErrorCode.BAD_VALUE, `MULTICAST_FRAME: flags 0x${x.flags.toString(16)} and the ${what} (${v === undefined ? 'absent' : 'present'}) disagree`);
    }
  }
  const w = new ByteWriter(35 + x.payload.length + (x.com?.length ?? 0));
  writeU64(w, x.networkId, 'MULTICAST_FRAME network id');
  w.u8(x.flags);
  if (x.com !== undefined) {
    const r = new ByteReader(x.com);
    readComBytes(r);
    r.expectEnd('MULTICAST_FRAME COM');
    w.bytes(x.com);
  }
  if (x.gatherLimit !== undefined) {
    checkInt(x.gatherLimit, 0xffffffff, 'MULTICAST_FRAME gather limit');
    w.u32(x.gatherLimit);
  }
  if (x.source !== undefined) writeMac(w, x.source, 'MULTICAST_FRAME source MAC');
  writeMac(w, x.dest, 'MULTICAST_FRAME dest MAC');
  w.u32(x.adi).u16(x.etherType).bytes(x.payload);
  return w.finish();
}
