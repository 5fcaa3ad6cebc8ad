/**
 * The VL1 packet: header accessors on raw datagrams, building, armor/dearmor for cipher suites 0, 1
 * and 3, compression, HELLO's cryptField and the (unreleased) extended armor.
 * Layout and rules: shared/protocol/vl1.md §3.1, §3.5, §4; `node/Packet.hpp`, `node/Packet.cpp`.
 *
 *  0       8        13       18     19       27     28
 *  +-------+--------+--------+------+--------+------+---------
 *  | id/IV | dest   | source | flags| MAC    | verb | payload
 *  +-------+--------+--------+------+--------+------+---------
 *
 * Accessors read the datagram in place (no copies) and are safe on any bytes: a buffer too short
 * for the field asked for is a `ZtError` TRUNCATED, never an out-of-bounds read.
 */
import { createCipheriv, createHash, randomBytes, randomFillSync, type KeyObject } from 'node:crypto';
import { poly1305 } from '@noble/ciphers/_poly1305.js';
import { readU40, readU64, writeU40, toHex, equalBytes, packetBytes } from './bytes.js';
import {
  FLAG_ENCRYPTED_DEPRECATED,
  FLAG_EXTENDED_ARMOR,
  FLAG_FRAGMENTED,
  FLAGS_CIPHER_MASK,
  FLAGS_HOPS_MASK,
  FRAGMENT_IDX_HOPS,
  FRAGMENT_INDICATOR,
  FRAGMENT_IDX_INDICATOR,
  IDX_DEST,
  IDX_FLAGS,
  IDX_MAC,
  IDX_PAYLOAD,
  IDX_SOURCE,
  IDX_VERB,
  MAX_PACKET_LENGTH,
  MIN_FRAGMENT_LENGTH,
  MIN_PACKET_LENGTH,
  PROTO_MAX_HOPS,
  VERB_FLAG_COMPRESSED,
  VERB_MASK,
  Verb,
} from './constants.js';
import { ZtError, ZtErrorCode } from './errors.js';
import { PeerKey } from './peer-key.js';
import { Salsa20 } from './salsa20.js';
import { x25519PublicFromPrivate, x25519Raw, type C25519KeyObjects } from './c25519.js';
import { lz4Compress, lz4Decompress } from './lz4.js';

/** Cipher suites `armor` can produce (0 = Poly1305 only, 1 = Poly1305 + Salsa20/12, 3 = AES-GMAC-SIV). */
export type ArmorSuite = 0 | 1 | 3;

/** §3.5: 1.14 only tries to compress payloads longer than this. */
export const COMPRESSION_MIN_PAYLOAD = 64;
/** §4.6 `ZT_PACKET_IDX_EXTENDED_ARMOR_START`: extended armor encrypts from the MAC on. */
export const EXTENDED_ARMOR_START = 19;
/** §4.6 `ZT_ECC_EPHEMERAL_PUBLIC_KEY_LEN`: the X25519 key appended by extended armor. */
export const EPHEMERAL_KEY_LENGTH = 32;

function need(buf: Uint8Array, n: number, what: string): void {
  if (buf.length < n) throw new ZtError(ZtErrorCode.TRUNCATED, `${what}: datagram of ${buf.length} byte(s) is shorter than ${n}`);
}

// ---- Header accessors ----------------------------------------------------------------------------

/** Bytes 0..7 as a uint64 (for suite 3 after armoring this is the tag half, §3.2). @throws {ZtError} TRUNCATED */
export function packetId(buf: Uint8Array): bigint {
  need(buf, 8, 'packet id');
  return readU64(buf, 0);
}

/** Destination address (bytes 8..12; same place in fragments). @throws {ZtError} TRUNCATED */
export function packetDest(buf: Uint8Array): number {
  need(buf, IDX_DEST + 5, 'packet destination');
  return readU40(buf, IDX_DEST);
}

/** Source address (bytes 13..17; meaningless for fragments). @throws {ZtError} TRUNCATED */
export function packetSource(buf: Uint8Array): number {
  need(buf, IDX_SOURCE + 5, 'packet source');
  return readU40(buf, IDX_SOURCE);
}

/**
 * True for a fragment: byte 13 (where a packet's source address starts) is 0xFF, which no valid
 * address has (`Switch::onRemotePacket`, `ZT_PACKET_FRAGMENT_INDICATOR`). Never throws.
 */
export function isFragment(buf: Uint8Array): boolean {
  return buf.length >= MIN_FRAGMENT_LENGTH && buf[FRAGMENT_IDX_INDICATOR] === FRAGMENT_INDICATOR;
}

/** Cipher suite 0..7 from the flags byte. @throws {ZtError} TRUNCATED */
export function cipherSuite(buf: Uint8Array): number {
  need(buf, IDX_FLAGS + 1, 'packet flags');
  return (buf[IDX_FLAGS]! & FLAGS_CIPHER_MASK) >>> 3;
}

/** Flag 0x40: more fragments follow this head. @throws {ZtError} TRUNCATED */
export function isFragmented(buf: Uint8Array): boolean {
  need(buf, IDX_FLAGS + 1, 'packet flags');
  return (buf[IDX_FLAGS]! & FLAG_FRAGMENTED) !== 0;
}

/** Hop count of a packet (flags bits 0..2) or a fragment (byte 15, low 3 bits). @throws {ZtError} TRUNCATED */
export function getHops(buf: Uint8Array): number {
  if (isFragment(buf)) return buf[FRAGMENT_IDX_HOPS]! & FLAGS_HOPS_MASK;
  need(buf, IDX_FLAGS + 1, 'packet flags');
  return buf[IDX_FLAGS]! & FLAGS_HOPS_MASK;
}

/**
 * Sets the hop count in place — the only header field a relay may change (§4.7): it is outside
 * every MAC. For fragments the whole byte 15 is written (its upper 5 bits must be 0).
 * @throws {ZtError} BAD_VALUE unless 0 ≤ n ≤ 7; TRUNCATED on a short datagram.
 */
export function setHops(buf: Uint8Array, n: number): void {
  if (!Number.isInteger(n) || n < 0 || n > PROTO_MAX_HOPS) throw new ZtError(ZtErrorCode.BAD_VALUE, `hop count must be 0..7, got ${n}`);
  if (isFragment(buf)) {
    buf[FRAGMENT_IDX_HOPS] = n;
    return;
  }
  need(buf, IDX_FLAGS + 1, 'packet flags');
  buf[IDX_FLAGS] = (buf[IDX_FLAGS]! & ~FLAGS_HOPS_MASK) | n;
}

/** Increments the hop count modulo 8 (7 → 0, as the 3-bit field does) and returns the new value. @throws {ZtError} TRUNCATED */
export function incrementHops(buf: Uint8Array): number {
  const h = (getHops(buf) + 1) & FLAGS_HOPS_MASK;
  setHops(buf, h);
  return h;
}

// ---- Building --------------------------------------------------------------------------------------

/** Fields of a packet before armoring. */
export interface PacketFields {
  /** 8 bytes; random if absent. For suite 3 armoring replaces it with the tag half. */
  packetId?: Uint8Array;
  dest: number;
  source: number;
  /** Verb byte: verb number, optionally with 0x80 (payload already LZ4-compressed). */
  verb: number;
  payload?: Uint8Array;
  /** Flags byte before armoring; normally 0 (or 0x40 when the packet will be fragmented). */
  flags?: number;
}

/**
 * Random packet ids come from one CSPRNG draw per 512 packets: `randomBytes(8)` per packet cost ~5 µs, the largest
 * single item of sealing a full-size frame (`ztroot bench leaf` profile). The ids are as random as before; they are
 * public on the wire anyway (the Salsa20 nonce, the AES-GMAC-SIV IV), so only their uniqueness matters.
 */
const idPool = new Uint8Array(4096);
let idPoolNext = idPool.length;

/** Writes 8 fresh random bytes at `out[o..o+8)`. */
export function randomPacketId(out: Uint8Array, o = 0): void {
  if (idPoolNext === idPool.length) {
    randomFillSync(idPool);
    idPoolNext = 0;
  }
  for (let i = 0; i < 8; i++) out[o + i] = idPool[idPoolNext + i]!;
  idPoolNext += 8;
}

function checkAddress(a: number, what: string): void {
  if (!Number.isInteger(a) || a < 0 || a > 0xffffffffff) throw new ZtError(ZtErrorCode.BAD_VALUE, `${what} is not a 40-bit address: ${a}`);
}
function checkByte(v: number, what: string): void {
  if (!Number.isInteger(v) || v < 0 || v > 0xff) throw new ZtError(ZtErrorCode.BAD_VALUE, `${what} is not a byte: ${v}`);
}

/**
 * A fresh plaintext packet: id, dest, source, flags, zero MAC, verb byte, payload.
 * @throws {ZtError} BAD_VALUE on an out-of-range field; TOO_LONG beyond MAX_PACKET_LENGTH.
 */
export function buildPacket(f: PacketFields): Uint8Array {
  const payload = f.payload ?? new Uint8Array(0);
  const len = IDX_PAYLOAD + payload.length;
  if (len > MAX_PACKET_LENGTH) throw new ZtError(ZtErrorCode.TOO_LONG, `packet of ${len} bytes exceeds MAX_PACKET_LENGTH ${MAX_PACKET_LENGTH}`);
  checkAddress(f.dest, 'destination');
  checkAddress(f.source, 'source');
  checkByte(f.verb, 'verb byte');
  const flags = f.flags ?? 0;
  checkByte(flags, 'flags byte');
  const pkt = packetBytes(len);
  if (f.packetId !== undefined) {
    if (f.packetId.length !== 8) throw new ZtError(ZtErrorCode.BAD_VALUE, `packet id must be 8 bytes, got ${f.packetId.length}`);
    pkt.set(f.packetId, 0);
  } else {
    randomPacketId(pkt, 0);
  }
  writeU40(pkt, IDX_DEST, f.dest);
  writeU40(pkt, IDX_SOURCE, f.source);
  pkt[IDX_FLAGS] = flags;
  pkt[IDX_VERB] = f.verb;
  pkt.set(payload, IDX_PAYLOAD);
  return pkt;
}

// ---- Suites 0 and 1: Salsa20/12 + Poly1305 (§4.2) -------------------------------------------------

function salsaKeyOf(key: PeerKey | Uint8Array): Uint8Array {
  if (key instanceof PeerKey) return key.salsaKey;
  if (key.length !== 48 && key.length !== 32) throw new ZtError(ZtErrorCode.BAD_VALUE, `key must be 48 (or 32) bytes, got ${key.length}`);
  return key.subarray(0, 32);
}

/**
 * `Packet::_salsa20MangleKey`: key[0..31] XOR the header (id, dest, source, flags without hops)
 * and the packet length, so the one-time keys bind the header and length that the MAC does not cover.
 * @throws {ZtError} TRUNCATED below 19 bytes; BAD_VALUE on a wrong key length.
 */
export function mangledSalsaKey(pkt: Uint8Array, key: PeerKey | Uint8Array, out: Uint8Array = new Uint8Array(32)): Uint8Array {
  need(pkt, IDX_FLAGS + 1, 'packet header');
  const k = salsaKeyOf(key);
  for (let i = 0; i < 18; i++) out[i] = k[i]! ^ pkt[i]!;
  out[18] = k[18]! ^ (pkt[IDX_FLAGS]! & 0xf8); // hops masked: relays change them (§4.7)
  const len = pkt.length;
  out[19] = k[19]! ^ (len & 0xff); // length little-endian here, as `node/Packet.cpp` does
  out[20] = k[20]! ^ ((len >>> 8) & 0xff);
  for (let i = 21; i < 32; i++) out[i] = k[i]!;
  return out;
}

// Scratch for the packet path (synchronous code, one set per process).
const mkScratch = new Uint8Array(32);
const block0 = new Uint8Array(64);
const tag16 = new Uint8Array(16);
const aad16 = new Uint8Array(16);

/** Keystream block 0 under the mangled key; returns the Salsa20 state positioned at block 1. */
function salsaForPacket(pkt: Uint8Array, key: PeerKey | Uint8Array): Salsa20 {
  const s = new Salsa20(mangledSalsaKey(pkt, key, mkScratch), pkt.subarray(0, 8), 12);
  s.nextBlock(block0, 0);
  return s;
}

/**
 * The one-time Poly1305 key of a packet (Salsa20/12 keystream bytes 0..31 under the mangled key).
 * @throws {ZtError} TRUNCATED below 19 bytes; BAD_VALUE on a wrong key length.
 */
export function poly1305KeyOf(pkt: Uint8Array, key: PeerKey | Uint8Array): Uint8Array {
  salsaForPacket(pkt, key);
  return block0.slice(0, 32);
}

function polyTag(pkt: Uint8Array): Uint8Array {
  return poly1305(pkt.subarray(IDX_VERB), block0.subarray(0, 32));
}

// ---- Suite 3: AES-GMAC-SIV (§4.3) ------------------------------------------------------------------

/** AAD16 = dest ‖ source ‖ flags with hops masked ‖ 5 zero bytes. */
function fillAad(pkt: Uint8Array): Uint8Array {
  aad16.set(pkt.subarray(IDX_DEST, IDX_FLAGS), 0);
  aad16[10] = pkt[IDX_FLAGS]! & 0xf8; // masked on both sides so a relayed (hops > 0) packet verifies
  return aad16; // bytes 11..15 are never written: always zero
}

// ---- Armor / dearmor -----------------------------------------------------------------------------

function checkArmorable(pkt: Uint8Array): void {
  if (pkt.length < MIN_PACKET_LENGTH) throw new ZtError(ZtErrorCode.TRUNCATED, `packet of ${pkt.length} byte(s) is shorter than ${MIN_PACKET_LENGTH}`);
  if (pkt.length > MAX_PACKET_LENGTH) throw new ZtError(ZtErrorCode.TOO_LONG, `packet of ${pkt.length} bytes exceeds MAX_PACKET_LENGTH ${MAX_PACKET_LENGTH}`);
}

function describe(pkt: Uint8Array): string {
  return `packet ${toHex(pkt.subarray(0, 8))} ${toHex(pkt.subarray(IDX_SOURCE, IDX_FLAGS))}→${toHex(pkt.subarray(IDX_DEST, IDX_SOURCE))}`;
}

/**
 * Encrypts and/or authenticates a plaintext packet in place (`Packet::armor`).
 * Sets the cipher bits; like 1.14's `setCipher`, sets 0x80 for suite 1 and clears it for 0 and 3 —
 * except with `extendedArmor` (suite 0 only, §4.6), which keeps 0x80 set so the MAC covers it.
 * The fragmented flag (0x40) must already be final: it is covered by the MAC. Suite 3 overwrites
 * bytes 0..7 (the packet id) with the tag.
 * @throws {ZtError} TRUNCATED below 28 bytes; TOO_LONG beyond MAX_PACKET_LENGTH; UNSUPPORTED_CIPHER for suites other than 0/1/3.
 */
export function armor(pkt: Uint8Array, key: PeerKey, suite: ArmorSuite, opts: { extendedArmor?: boolean } = {}): void {
  checkArmorable(pkt);
  if (suite !== 0 && suite !== 1 && suite !== 3) throw new ZtError(ZtErrorCode.UNSUPPORTED_CIPHER, `cannot armor with cipher suite ${String(suite)}`);
  const ext = opts.extendedArmor === true;
  if (ext && suite !== 0) throw new ZtError(ZtErrorCode.BAD_VALUE, `extended armor needs suite 0, got ${suite}`);
  let flags = pkt[IDX_FLAGS]! & (FLAG_FRAGMENTED | FLAGS_HOPS_MASK);
  flags |= suite << 3;
  if (suite === 1) flags |= FLAG_ENCRYPTED_DEPRECATED;
  if (ext) flags |= FLAG_EXTENDED_ARMOR;
  pkt[IDX_FLAGS] = flags;

  if (suite === 3) {
    const iv = pkt.slice(0, 8);
    key.siv.encryptInPlace(iv, fillAad(pkt), pkt.subarray(IDX_VERB), tag16);
    pkt.set(tag16.subarray(0, 8), 0);
    pkt.set(tag16.subarray(8, 16), IDX_MAC);
    return;
  }
  const s = salsaForPacket(pkt, key);
  if (suite === 1) s.xorInPlace(pkt, IDX_VERB, pkt.length); // from keystream offset 64 (block 1)
  pkt.set(polyTag(pkt).subarray(0, 8), IDX_MAC);
}

/**
 * Verifies and decrypts a packet in place (`Packet::dearmor`). Header bytes are left as received:
 * for suite 3 bytes 0..7 stay the wire id (the tag half), which is what OK/ERROR must refer to (§3.2).
 * Returns the packet's pre-armor 8-byte id: for suite 3 the random IV recovered from the tag (a copy;
 * re-armoring with it reproduces the wire bytes), for suites 0/1 a view of bytes 0..7.
 * On failure the packet is left unchanged.
 * @throws {ZtError} TRUNCATED below 28 bytes; TOO_LONG beyond MAX_PACKET_LENGTH;
 *   UNSUPPORTED_CIPHER for suite 2 (trusted path: a root drops it) and 4..7; BAD_MAC when it does not verify.
 */
export function dearmor(pkt: Uint8Array, key: PeerKey): Uint8Array {
  checkArmorable(pkt);
  const suite = (pkt[IDX_FLAGS]! & FLAGS_CIPHER_MASK) >>> 3;
  if (suite === 3) {
    tag16.set(pkt.subarray(0, 8), 0);
    tag16.set(pkt.subarray(IDX_MAC, IDX_VERB), 8);
    const iv = key.siv.decryptInPlace(tag16, fillAad(pkt), pkt.subarray(IDX_VERB));
    if (iv === null) throw new ZtError(ZtErrorCode.BAD_MAC, `${describe(pkt)}: AES-GMAC-SIV tag does not verify (suite 3)`);
    return iv;
  }
  if (suite !== 0 && suite !== 1) throw new ZtError(ZtErrorCode.UNSUPPORTED_CIPHER, `${describe(pkt)}: cipher suite ${suite} not accepted`);
  const s = salsaForPacket(pkt, key);
  const tag = polyTag(pkt);
  // Constant time over the 8 MAC bytes (`Utils::secureEq` in 1.14).
  if (!equalBytes(tag.subarray(0, 8), pkt.subarray(IDX_MAC, IDX_VERB))) {
    throw new ZtError(ZtErrorCode.BAD_MAC, `${describe(pkt)}: Poly1305 MAC does not verify (suite ${suite})`);
  }
  if (suite === 1) s.xorInPlace(pkt, IDX_VERB, pkt.length);
  return pkt.subarray(0, 8);
}

// ---- Open / seal (dearmor + verb + LZ4) ------------------------------------------------------------

/** What a dearmored packet carries. */
export interface OpenedPacket {
  /** Verb number (verb byte & 0x1f). */
  verb: number;
  /** Payload after decompression (a view into the packet when it was not compressed). */
  payload: Uint8Array;
  /** Whether the payload came LZ4-compressed (verb flag 0x80). */
  compressed: boolean;
}

/**
 * Dearmors in place, reads the verb byte and LZ4-decompresses the payload when flagged (§3.5).
 * @throws {ZtError} as {@link dearmor}; BAD_COMPRESSION when the payload does not decompress within `maxPayload`.
 */
export function openPacket(pkt: Uint8Array, key: PeerKey, maxPayload = MAX_PACKET_LENGTH - IDX_PAYLOAD): OpenedPacket {
  dearmor(pkt, key);
  const vb = pkt[IDX_VERB]!;
  const compressed = (vb & VERB_FLAG_COMPRESSED) !== 0;
  const body = pkt.subarray(IDX_PAYLOAD);
  return { verb: vb & VERB_MASK, payload: compressed ? lz4Decompress(body, maxPayload) : body, compressed };
}

/**
 * Whether 1.14 tries LZ4 on a packet of this verb: every verb but unicast FRAME and EXT_FRAME, which it never
 * compresses (node/Switch.cpp, "1.4.8: disable compression for unicast"; vl2.md §0). Pass it as `compress` to
 * {@link sealPacket}.
 */
export function compressesVerb(verb: number): boolean {
  const v = verb & VERB_MASK;
  return v !== Verb.FRAME && v !== Verb.EXT_FRAME;
}

/**
 * Builds, optionally compresses (only payloads > 64 bytes, only if it shrinks — §3.5, as
 * `Packet::compress`) and armors a packet. With `mtu`, sets the fragmented flag before armoring
 * when the packet will not fit, so that `splitPacket(pkt, mtu)` can cut it afterwards.
 * @throws {ZtError} as {@link buildPacket} and {@link armor}.
 */
export function sealPacket(f: PacketFields, key: PeerKey, suite: ArmorSuite, opts: { compress?: boolean; mtu?: number } = {}): Uint8Array {
  let payload = f.payload ?? new Uint8Array(0);
  let verb = f.verb;
  if (opts.compress !== false && payload.length > COMPRESSION_MIN_PAYLOAD && (verb & VERB_FLAG_COMPRESSED) === 0) {
    const c = lz4Compress(payload);
    if (c.length < payload.length) {
      payload = c;
      verb |= VERB_FLAG_COMPRESSED;
    }
  }
  let flags = f.flags ?? 0;
  if (opts.mtu !== undefined && IDX_PAYLOAD + payload.length > opts.mtu) flags |= FLAG_FRAGMENTED;
  const pkt = buildPacket({ ...f, verb, payload, flags });
  armor(pkt, key, suite);
  return pkt;
}

// ---- HELLO cryptField (§4.5) -----------------------------------------------------------------------

/**
 * `Packet::cryptField`: XORs `pkt[start .. start+length)` in place with Salsa20/12 keyed with the
 * raw (unmangled) key[0..31], nonce = packet id with byte 7 & 0xF8, from keystream byte 0.
 * Its own inverse. HELLO applies it to the moon list before armoring (suite 0).
 * @throws {ZtError} TRUNCATED if the field is outside the packet; BAD_VALUE on a wrong key length.
 */
export function cryptField(pkt: Uint8Array, key: PeerKey | Uint8Array, start: number, length: number): void {
  if (!Number.isInteger(start) || !Number.isInteger(length) || start < 0 || length < 0 || pkt.length < 8 || start + length > pkt.length) {
    throw new ZtError(ZtErrorCode.TRUNCATED, `cryptField [${start}, +${length}) is outside a packet of ${pkt.length} bytes`);
  }
  const iv = pkt.slice(0, 8);
  iv[7] = iv[7]! & 0xf8;
  new Salsa20(salsaKeyOf(key), iv, 12).xorInPlace(pkt, start, start + length);
}

// ---- Extended armor (§4.6, hello-encryption branch; not in 1.14.1) -------------------------------

/** True for cipher 0 with 0x80 set: the packet carries extended armor (§4.6). Never throws. */
export function hasExtendedArmor(pkt: Uint8Array): boolean {
  if (pkt.length <= IDX_FLAGS || isFragment(pkt)) return false;
  const f = pkt[IDX_FLAGS]!;
  return (f & FLAGS_CIPHER_MASK) === 0 && (f & FLAG_EXTENDED_ARMOR) !== 0;
}

function extendedKey(mine: Uint8Array | KeyObject, theirPub32: Uint8Array): Uint8Array {
  return new Uint8Array(createHash('sha512').update(x25519Raw(mine, theirPub32)).digest().subarray(0, 32));
}

/** AES-256-CTR(ek) from counter block `pkt[0..11] ‖ 00000000` over pkt[19 .. end) in place. */
function extendedCtr(pkt: Uint8Array, ek: Uint8Array, end: number): void {
  const iv = new Uint8Array(16);
  iv.set(pkt.subarray(0, 12), 0);
  const region = pkt.subarray(EXTENDED_ARMOR_START, end);
  pkt.set(createCipheriv('aes-256-ctr', ek, iv).update(region), EXTENDED_ARMOR_START);
}

/**
 * Adds extended armor to a HELLO already armored with `armor(pkt, key, 0, { extendedArmor: true })`:
 * encrypts bytes 19…end with AES-256-CTR under SHA-512(X25519(ephemeral, recipient))[0..31] and
 * appends the ephemeral X25519 public key. Returns a new, 32-byte longer packet.
 * @throws {ZtError} BAD_VALUE unless the packet is suite 0 with 0x80 set and the key is 64 bytes; TRUNCATED below 28 bytes.
 */
export function extendedArmor(pkt: Uint8Array, recipientPublic64: Uint8Array, ephemeralPrivate32?: Uint8Array): Uint8Array {
  if (pkt.length < MIN_PACKET_LENGTH) throw new ZtError(ZtErrorCode.TRUNCATED, `packet of ${pkt.length} byte(s) is shorter than ${MIN_PACKET_LENGTH}`);
  if (!hasExtendedArmor(pkt)) throw new ZtError(ZtErrorCode.BAD_VALUE, `${describe(pkt)}: extended armor needs suite 0 with flag 0x80 set before armoring`);
  if (recipientPublic64.length !== 64) throw new ZtError(ZtErrorCode.BAD_VALUE, `recipient public key must be 64 bytes, got ${recipientPublic64.length}`);
  const eph = ephemeralPrivate32 ?? new Uint8Array(randomBytes(32));
  if (eph.length !== 32) throw new ZtError(ZtErrorCode.BAD_VALUE, `ephemeral private key must be 32 bytes, got ${eph.length}`);
  const ek = extendedKey(eph, recipientPublic64.subarray(0, 32));
  const out = new Uint8Array(pkt.length + EPHEMERAL_KEY_LENGTH);
  out.set(pkt, 0);
  extendedCtr(out, ek, pkt.length);
  out.set(x25519PublicFromPrivate(eph), pkt.length);
  return out;
}

/**
 * Removes extended armor in place (root.cpp does this before anything else): decrypts bytes
 * 19 … len−33 and returns the view without the trailing ephemeral key, ready for {@link dearmor}
 * (which then authenticates it). Not authenticated by itself: garbage in gives garbage that fails the MAC.
 * `mine` is the 64-byte private key or, better, its kept key objects (`Identity.privateKeyObjects()`): importing
 * the private key costs more than the X25519 itself.
 * @throws {ZtError} BAD_VALUE unless suite 0 with 0x80 and a 64-byte private key, or when the ephemeral key
 *   is a low-order point; TRUNCATED below 28 + 32 bytes.
 */
export function removeExtendedArmor(pkt: Uint8Array, mine: Uint8Array | C25519KeyObjects): Uint8Array {
  if (pkt.length < MIN_PACKET_LENGTH + EPHEMERAL_KEY_LENGTH) {
    throw new ZtError(ZtErrorCode.TRUNCATED, `extended-armor packet of ${pkt.length} byte(s) is shorter than ${MIN_PACKET_LENGTH + EPHEMERAL_KEY_LENGTH}`);
  }
  if (!hasExtendedArmor(pkt)) throw new ZtError(ZtErrorCode.BAD_VALUE, `${describe(pkt)}: not extended armor (needs suite 0 with flag 0x80)`);
  if (mine instanceof Uint8Array && mine.length !== 64) throw new ZtError(ZtErrorCode.BAD_VALUE, `private key must be 64 bytes, got ${mine.length}`);
  const end = pkt.length - EPHEMERAL_KEY_LENGTH;
  const ek = extendedKey(mine instanceof Uint8Array ? mine.subarray(0, 32) : mine.x25519, pkt.subarray(end));
  extendedCtr(pkt, ek, end);
  return pkt.subarray(0, end);
}
