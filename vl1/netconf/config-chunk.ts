/**
 * Network config chunks: the body of OK(NETWORK_CONFIG_REQUEST) (after the OK header) and of NETWORK_CONFIG 0x0c
 * (node/Node.cpp `ncSendConfig`, node/Network.cpp `handleConfigChunk`; shared/protocol/vl2.md §2.3).
 *
 *   nwid u64 | chunkLength u16 | chunk data                                    ← signature coverage starts at nwid
 *   | flags[1] (0x01 fast propagate) | configUpdateId u64 (≠ 0) | totalLength u32 | chunkIndex u32 (byte offset)
 *                                                                              ← …and ends after chunkIndex
 *   | sigType[1] = 1 | sigLength u16 = 96 | signature[96]
 *
 * A body that ends right after the chunk data is the legacy unsigned single-chunk form (accepted only from the
 * controller itself). Bytes after the signature are ignored, as 1.14 ignores them.
 */
import { networkController } from '../address.js';
import { ByteReader, ByteWriter } from '../bytes.js';
import { C25519_SIGNATURE_LENGTH } from '../constants.js';
import { ZtError, ZtErrorCode } from '../errors.js';
import type { Identity } from '../identity.js';
import { checkInt, checkUint, writeLengthPrefixed, writeU64 } from '../verbs/common.js';
import { NETWORKCONFIG_DICT_CAPACITY, NETWORKCONFIG_MAX_CHUNK_LENGTH } from './constants.js';
import { SIGNATURE_TYPE_C25519 } from './credential.js';

/** Chunk flag: receivers re-send the chunk to the network's other members. */
export const CONFIG_CHUNK_FLAG_FAST_PROPAGATE = 0x01;

export interface LegacyConfigChunk {
  kind: 'legacy';
  networkId: bigint;
  /** The whole dictionary (a copy). */
  data: Uint8Array;
}

export interface SignedConfigChunk {
  kind: 'signed';
  networkId: bigint;
  /** Bytes [index, index + data.length) of the dictionary (a copy). */
  data: Uint8Array;
  flags: number;
  updateId: bigint;
  totalLength: number;
  index: number;
  /** 96 bytes by the controller over nwid … index. */
  signature: Uint8Array;
}

export type ConfigChunk = LegacyConfigChunk | SignedConfigChunk;

/**
 * Decodes a chunk body, refusing what `handleConfigChunk` refuses before any lookup: index + length past the total,
 * a total that would not fit NETWORKCONFIG_DICT_CAPACITY, a signature block other than type 1 / 96 bytes.
 * @throws {ZtError} TRUNCATED; BAD_VALUE (bounds, signature block); TOO_LONG (total).
 */
export function decodeConfigChunk(body: Uint8Array): ConfigChunk {
  const r = new ByteReader(body);
  const networkId = r.u64('config chunk network id');
  const data = r.bytes(r.u16('config chunk length'), 'config chunk data').slice();
  if (r.remaining === 0) {
    if (data.length >= NETWORKCONFIG_DICT_CAPACITY) throw tooLong(data.length);
    return { kind: 'legacy', networkId, data };
  }
  const flags = r.u8('config chunk flags');
  const updateId = r.u64('config chunk update id');
  const totalLength = r.u32('config chunk total length');
  const index = r.u32('config chunk index');
  checkBounds(index, data.length, totalLength);
  const sigType = r.u8('config chunk signature type');
  const sigLen = r.u16('config chunk signature length');
  if (sigType !== SIGNATURE_TYPE_C25519 || sigLen !== C25519_SIGNATURE_LENGTH) {
    throw new ZtError(ZtErrorCode.BAD_VALUE, `config chunk: signature type ${sigType} length ${sigLen}, must be type 1 length 96`);
  }
  const signature = r.bytes(C25519_SIGNATURE_LENGTH, 'config chunk signature').slice();
  return { kind: 'signed', networkId, data, flags, updateId, totalLength, index, signature };
}

function tooLong(total: number): ZtError {
  return new ZtError(ZtErrorCode.TOO_LONG, `config chunk: total ${total} bytes, must be below NETWORKCONFIG_DICT_CAPACITY = ${NETWORKCONFIG_DICT_CAPACITY}`);
}

function checkBounds(index: number, length: number, total: number): void {
  if (index + length > total) throw new ZtError(ZtErrorCode.BAD_VALUE, `config chunk: bytes ${index}..${index + length} run past the total ${total}`);
  if (total >= NETWORKCONFIG_DICT_CAPACITY) throw tooLong(total);
}

function writeSigned(w: ByteWriter, c: Omit<SignedConfigChunk, 'signature'>): void {
  writeU64(w, c.networkId, 'config chunk network id');
  writeLengthPrefixed(w, c.data, 'config chunk data');
  checkInt(c.flags, 0xff, 'config chunk flags');
  checkUint(c.updateId, 64, 'config chunk update id');
  checkInt(c.totalLength, 0xffffffff, 'config chunk total length');
  checkInt(c.index, 0xffffffff, 'config chunk index');
  checkBounds(c.index, c.data.length, c.totalLength);
  w.u8(c.flags).u64(c.updateId).u32(c.totalLength).u32(c.index);
}

/** @throws {ZtError} BAD_VALUE, TOO_LONG (as {@link decodeConfigChunk} would refuse). */
export function encodeConfigChunk(c: ConfigChunk): Uint8Array {
  const w = new ByteWriter(c.data.length + 130);
  if (c.kind === 'legacy') {
    writeU64(w, c.networkId, 'config chunk network id');
    writeLengthPrefixed(w, c.data, 'config chunk data');
    if (c.data.length >= NETWORKCONFIG_DICT_CAPACITY) throw tooLong(c.data.length);
    return w.finish();
  }
  writeSigned(w, c);
  if (c.signature.length !== C25519_SIGNATURE_LENGTH) throw new ZtError(ZtErrorCode.BAD_VALUE, `config chunk: signature of ${c.signature.length} bytes, must be 96`);
  w.u8(SIGNATURE_TYPE_C25519).u16(C25519_SIGNATURE_LENGTH).bytes(c.signature);
  return w.finish();
}

/** The bytes the controller signs: nwid through chunk index. */
export function configChunkSignedMessage(c: Omit<SignedConfigChunk, 'signature'>): Uint8Array {
  const w = new ByteWriter(c.data.length + 27);
  writeSigned(w, c);
  return w.finish();
}

/** A chunk signed by `signer` (a test controller). @throws {ZtError} NO_PRIVATE_KEY, BAD_VALUE, TOO_LONG. */
export function signConfigChunk(c: Omit<SignedConfigChunk, 'kind' | 'signature'>, signer: Identity): SignedConfigChunk {
  const unsigned = { ...c, kind: 'signed' as const };
  return { ...unsigned, signature: signer.sign(configChunkSignedMessage(unsigned)) };
}

/**
 * The controller's signature check of `handleConfigChunk`: `controller` must be the network's controller
 * (`nwid >> 24`) and the signature must verify. Any node may relay a properly signed chunk.
 */
export function verifyConfigChunk(c: SignedConfigChunk, controller: Identity): boolean {
  if (controller.address !== networkController(c.networkId)) return false;
  return controller.verify(configChunkSignedMessage(c), c.signature);
}

/** Per-chunk id for duplicate detection: the first 16 signature bytes XOR-folded into 8 (`handleConfigChunk`). */
export function configChunkId(c: SignedConfigChunk): bigint {
  const id = new Uint8Array(8);
  for (let i = 0; i < 16; i++) id[i & 7]! ^= c.signature[i]!;
  return new DataView(id.buffer).getBigUint64(0);
}

/**
 * Splits a config dictionary into signed chunks as `Node::ncSendConfig` does (≤ 9740 bytes each, byte offsets as
 * indexes, flags 0, one random non-zero update id shared by all). @throws {ZtError} BAD_VALUE, TOO_LONG, NO_PRIVATE_KEY
 */
export function makeConfigChunks(
  dictionary: Uint8Array,
  p: { networkId: bigint; updateId: bigint; signer: Identity; maxChunkLength?: number; flags?: number },
): SignedConfigChunk[] {
  if (p.updateId === 0n) throw new ZtError(ZtErrorCode.BAD_VALUE, 'config chunks: the update id must not be 0');
  const max = p.maxChunkLength ?? NETWORKCONFIG_MAX_CHUNK_LENGTH;
  checkInt(max, 0xffff, 'config chunks: max chunk length');
  if (max < 1) throw new ZtError(ZtErrorCode.BAD_VALUE, 'config chunks: max chunk length must be at least 1');
  const out: SignedConfigChunk[] = [];
  for (let index = 0; index < dictionary.length; index += max) {
    const data = dictionary.slice(index, Math.min(dictionary.length, index + max));
    out.push(signConfigChunk({ networkId: p.networkId, data, flags: p.flags ?? 0, updateId: p.updateId, totalLength: dictionary.length, index }, p.signer));
  }
  return out;
}
