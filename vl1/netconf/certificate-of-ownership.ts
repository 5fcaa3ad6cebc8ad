/**
 * Certificate of ownership (`node/CertificateOfOwnership.hpp`; shared/protocol/vl2.md §4.5): the controller's word
 * that a member owns some IPs/MACs. Rules see it through the "sender IP/MAC authenticated" characteristics.
 *
 *   nwid u64 | timestamp u64 | flags u64 | id u32 | thingCount u16 (≤ 16)
 *   | thingCount × (type[1]: 1 MAC, 2 IPv4, 3 IPv6 | value[16], zero-padded)
 *   | issuedTo[5] | signedBy[5] | sigType[1] | sigLength u16 | sig | extLength u16 | ext
 *
 * Signed: 7f×8 ‖ nwid … signedBy ‖ 0000 ‖ 7f×8. A 1.14 controller issues one (id 1) listing every static IP.
 */
import type { ByteReader, ByteWriter } from '../bytes.js';
import { ZtError, ZtErrorCode } from '../errors.js';
import { macToBytes } from '../mac-ip.js';
import { checkInt, checkUint, readSafeU64, writeAddress, writeSafeU64, writeU64 } from '../verbs/common.js';
import { COO_MAX_THINGS } from './constants.js';
import { credentialCodec, type SignatureBlock } from './credential.js';

/** Thing types (`CertificateOfOwnership::Thing`). */
export const CooThing = { NULL: 0, MAC: 1, IPV4: 2, IPV6: 3 } as const;
const THING_VALUE_LENGTH = 16;

export interface CooThingEntry {
  type: number;
  /** 16 bytes: the MAC (6), IPv4 (4) or IPv6 (16), zero-padded. */
  value: Uint8Array;
}

export interface CertificateOfOwnership extends SignatureBlock {
  networkId: bigint;
  timestamp: number;
  flags: bigint;
  id: number;
  things: CooThingEntry[];
  issuedTo: number;
  signedBy: number;
  ext: Uint8Array;
}

/**
 * Reads one COO. @throws {ZtError} TRUNCATED; TOO_LONG above COO_MAX_THINGS things (1.14 would misread the bytes
 * after the 16th); BAD_VALUE (signature length, timestamp above 2^53).
 */
function readBody(r: ByteReader): Omit<CertificateOfOwnership, keyof SignatureBlock | 'ext'> {
  const networkId = r.u64('COO network id');
  const timestamp = readSafeU64(r, 'COO timestamp');
  const flags = r.u64('COO flags');
  const id = r.u32('COO id');
  const n = r.u16('COO thing count');
  if (n > COO_MAX_THINGS) throw new ZtError(ZtErrorCode.TOO_LONG, `COO: ${n} things, at most COO_MAX_THINGS = ${COO_MAX_THINGS}`);
  const things: CooThingEntry[] = [];
  for (let i = 0; i < n; i++) things.push({ type: r.u8('COO thing type'), value: r.bytes(THING_VALUE_LENGTH, 'COO thing value').slice() });
  const issuedTo = r.u40('COO issued-to');
  const signedBy = r.u40('COO signed-by');
  return { networkId, timestamp, flags, id, things, issuedTo, signedBy };
}

function writeBody(w: ByteWriter, c: CertificateOfOwnership): void {
  writeU64(w, c.networkId, 'COO network id');
  writeSafeU64(w, c.timestamp, 'COO timestamp');
  checkUint(c.flags, 64, 'COO flags');
  checkInt(c.id, 0xffffffff, 'COO id');
  if (c.things.length > COO_MAX_THINGS) throw new ZtError(ZtErrorCode.TOO_LONG, `COO: ${c.things.length} things, at most COO_MAX_THINGS = ${COO_MAX_THINGS}`);
  w.u64(c.flags).u32(c.id).u16(c.things.length);
  for (const t of c.things) {
    checkInt(t.type, 0xff, 'COO thing type');
    if (t.value.length !== THING_VALUE_LENGTH) throw new ZtError(ZtErrorCode.BAD_VALUE, `COO thing value: ${t.value.length} bytes, must be 16`);
    w.u8(t.type).bytes(t.value);
  }
  writeAddress(w, c.issuedTo, 'COO issued-to');
  writeAddress(w, c.signedBy, 'COO signed-by');
}

const codec = credentialCodec<CertificateOfOwnership>('COO', 160, readBody, writeBody);

/** Reads one COO. @throws {ZtError} TRUNCATED, BAD_VALUE (signature length, field ranges) */
export const readCoo = codec.read;
/** @throws {ZtError} BAD_VALUE, TOO_LONG */
export const writeCoo = codec.write;
export const decodeCoo = codec.decode;
export const encodeCoo = codec.encode;
/** The message the controller signs. */
export const cooSignedMessage = codec.signedMessage;
/** A COO issued by `signer` (normally the controller). @throws {ZtError} NO_PRIVATE_KEY, BAD_VALUE */
export const signCoo = codec.sign;
/** `CertificateOfOwnership::verify` with the controller's identity at hand. */
export const verifyCoo = codec.verify;

/** A thing entry for an IP (4 or 16 bytes) or a MAC (bigint). */
export function cooThing(x: Uint8Array | bigint): CooThingEntry {
  const value = new Uint8Array(THING_VALUE_LENGTH);
  if (typeof x === 'bigint') {
    value.set(macToBytes(x));
    return { type: CooThing.MAC, value };
  }
  if (x.length !== 4 && x.length !== 16) throw new ZtError(ZtErrorCode.BAD_VALUE, `COO thing: IP must be 4 or 16 bytes, got ${x.length}`);
  value.set(x);
  return { type: x.length === 4 ? CooThing.IPV4 : CooThing.IPV6, value };
}

/**
 * `CertificateOfOwnership::owns`: some thing of the same type whose first 4 (IPv4), 16 (IPv6) or 6 (MAC) bytes equal
 * the given IP bytes or MAC.
 */
export function cooOwns(c: CertificateOfOwnership, x: Uint8Array | bigint): boolean {
  const want = typeof x === 'bigint' ? macToBytes(x) : x;
  const type = typeof x === 'bigint' ? CooThing.MAC : x.length === 4 ? CooThing.IPV4 : x.length === 16 ? CooThing.IPV6 : -1;
  return c.things.some((t) => t.type === type && want.every((b, i) => t.value[i] === b));
}
