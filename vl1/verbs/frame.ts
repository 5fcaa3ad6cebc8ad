/**
 * FRAME (0x06) and EXT_FRAME (0x07) payloads — shared/protocol/vl2.md §5.1–5.2; parsed by
 * `IncomingPacket::_doFRAME` / `_doEXT_FRAME`, built by `Switch::onLocalEthernet` and the rules engine.
 *
 *   FRAME      nwid u64 | etherType u16 | Ethernet payload (no header, no FCS)
 *              source MAC = MAC(sender, nwid), destination MAC = the receiver's network MAC
 *   EXT_FRAME  nwid u64 | flags[1] | [COM if flags & 0x01] | to MAC[6] | from MAC[6] | etherType u16 | payload
 *              flags: 0x01 inline COM (deprecated, still parsed), 0x10 ACK requested (reply OK(EXT_FRAME) nwid),
 *              0x0e subtype (1.14 marks copies: 0x02 TEE out, 0x04 REDIRECT out, 0x16 WATCH out, 0x08 TEE in,
 *              0x0a REDIRECT in, 0x1c WATCH in; receivers ignore it)
 *
 * The payload is a view into the packet; the COM is kept as its raw bytes (decode it with vl1/netconf/com.ts).
 * An empty payload decodes (1.14 then delivers nothing).
 */
import { ByteReader, ByteWriter, packetBytes } from '../bytes.js';
import { ZtError, ZtErrorCode } from '../errors.js';
import { checkInt, readMac, writeMac, writeU64 } from './common.js';
import { readComBytes } from './multicast.js';

export const EXT_FRAME_FLAG_COM = 0x01;
export const EXT_FRAME_FLAG_ACK_REQUESTED = 0x10;
/** The subtype bits 1.14 sets on rule-engine copies. */
export const EXT_FRAME_SUBTYPE_MASK = 0x0e;

export interface Frame {
  networkId: bigint;
  etherType: number;
  payload: Uint8Array;
}

export interface ExtFrame {
  networkId: bigint;
  /** Bit 0x01 ⇔ `com` is present. */
  flags: number;
  com?: Uint8Array;
  to: bigint;
  from: bigint;
  etherType: number;
  payload: Uint8Array;
}

/** @throws {ZtError} TRUNCATED */
export function decodeFrame(payload: Uint8Array): Frame {
  const r = new ByteReader(payload);
  return { networkId: r.u64('FRAME network id'), etherType: r.u16('FRAME ethertype'), payload: r.rest() };
}

/** @throws {ZtError} BAD_VALUE */
export function encodeFrame(x: Frame): Uint8Array {
  checkInt(x.etherType, 0xffff, 'FRAME ethertype');
  // Built straight into a packet-path array: a FRAME lives only until the packet that carries it is sealed.
  const out = packetBytes(10 + x.payload.length);
  const w = new ByteWriter(0, out);
  writeU64(w, x.networkId, 'FRAME network id');
  w.u16(x.etherType).bytes(x.payload);
  return w.finish();
}

/** @throws {ZtError} TRUNCATED, BAD_VALUE (a malformed inline COM) */
export function decodeExtFrame(payload: Uint8Array): ExtFrame {
  const r = new ByteReader(payload);
  const networkId = r.u64('EXT_FRAME network id');
  const flags = r.u8('EXT_FRAME flags');
  const x: ExtFrame = { networkId, flags, to: 0n, from: 0n, etherType: 0, payload: new Uint8Array(0) };
  if (flags & EXT_FRAME_FLAG_COM) x.com = readComBytes(r);
  x.to = readMac(r, 'EXT_FRAME to');
  x.from = readMac(r, 'EXT_FRAME from');
  x.etherType = r.u16('EXT_FRAME ethertype');
  x.payload = r.rest();
  return x;
}

/** @throws {ZtError} BAD_VALUE for out-of-range fields or a flag/COM mismatch */
export function encodeExtFrame(x: ExtFrame): Uint8Array {
  checkInt(x.flags, 0xff, 'EXT_FRAME flags');
  checkInt(x.etherType, 0xffff, 'EXT_FRAME ethertype');
  if (((x.flags & EXT_FRAME_FLAG_COM) !== 0) !== (x.com !== undefined)) {
    throw new ZtError(ZtErrorCode.BAD_VALUE, `EXT_FRAME: flags 0x${x.flags.toString(16)} and ${x.com ? 'a' : 'no'} COM disagree`);
  }
  const w = new ByteWriter(23 + x.payload.length + (x.com?.length ?? 0));
  writeU64(w, x.networkId, 'EXT_FRAME network id');
  w.u8(x.flags);
  if (x.com !== undefined) {
    const r = new ByteReader(x.com);
    readComBytes(r);
    r.expectEnd('EXT_FRAME COM');
    w.bytes(x.com);
  }
  writeMac(w, x.to, 'EXT_FRAME to');
  writeMac(w, x.from, 'EXT_FRAME from');
  w.u16(x.etherType).bytes(x.payload);
  return w.finish();
}
