/**
 * HELLO (verb 0x01) payload — shared/protocol/vl1.md §5.2; built by `Peer::sendHELLO`, parsed by
 * `IncomingPacket::_doHELLO`.
 *
 *   protocolVersion[1] | major[1] | minor[1] | revision u16 | timestamp u64 (sender clock, ms)
 *   | identity (public, §2.2)
 *   | [InetAddress the packet was sent to]                       only if bytes remain
 *   | [planet world id u64 | planet world timestamp u64]         only if ≥ 16 bytes remain
 *   | [encrypted tail: moonCount u16 | moonCount × (type[1] id u64 timestamp u64)]   only if bytes remain
 * (each optional step is tested on its own, so the tail may follow the address directly when < 16 bytes remain)
 *
 * The tail is XORed with Salsa20/12 by `Packet::cryptField` (§4.5) before the MAC is computed, so the decoder
 * hands it back still encrypted (`encryptedTail`); after the packet layer decrypts it, {@link decodeHelloMoons}
 * reads the moon list.
 */
import { ByteReader, ByteWriter } from '../bytes.js';
import { ZtError, ZtErrorCode } from '../errors.js';
import { Identity } from '../identity.js';
import { readInetAddress, writeInetAddress, type InetAddress } from '../inet-address.js';
import { checkInt, readSafeU64, writeSafeU64, writeU64 } from './common.js';

export interface Hello {
  protocolVersion: number;
  versionMajor: number;
  versionMinor: number;
  versionRevision: number;
  /** Sender's clock (ms); echoed in OK(HELLO). */
  timestamp: number;
  identity: Identity;
  /**
   * Where the sender sent the packet: absent (`undefined`) when the HELLO ends after the identity; `null` when
   * present as nil (type 0) or as a placeholder type 1/2/3, which 1.14 skips.
   */
  physicalDestination?: InetAddress | null;
  /** Both present or both absent (1.14 reads them only if 16 bytes remain). */
  planetWorldId?: bigint;
  planetWorldTimestamp?: number;
  /**
   * Everything after the world fields (or after the address when fewer than 16 bytes follow it): the
   * cryptField-encrypted moon list, as on the wire (a view into the payload). Its offset in the payload is
   * `payload.length - encryptedTail.length`.
   */
  encryptedTail?: Uint8Array;
}

/** One moon entry of the HELLO tail: a moon the sender orbits (timestamp 0 = wanted, not yet fetched). */
export interface HelloMoon {
  /** World type, 0x7f (moon) from 1.14. */
  type: number;
  id: bigint;
  timestamp: number;
}

/** Bytes per moon entry in the decrypted tail: type[1] id[8] timestamp[8]. */
export const HELLO_MOON_ENTRY_LENGTH = 17;

/**
 * Decodes a HELLO payload with 1.14's optional-field rules.
 * @throws {ZtError} TRUNCATED, BAD_VALUE (address type, timestamps ≥ 2^53), UNKNOWN_IDENTITY_TYPE.
 */
export function decodeHello(payload: Uint8Array): Hello {
  const r = new ByteReader(payload);
  const h: Hello = {
    protocolVersion: r.u8('HELLO protocol version'),
    versionMajor: r.u8('HELLO major version'),
    versionMinor: r.u8('HELLO minor version'),
    versionRevision: r.u16('HELLO revision'),
    timestamp: readSafeU64(r, 'HELLO timestamp'),
    identity: Identity.read(r),
  };
  if (r.remaining > 0) h.physicalDestination = readInetAddress(r);
  if (r.remaining >= 16) {
    h.planetWorldId = r.u64('HELLO planet world id');
    h.planetWorldTimestamp = readSafeU64(r, 'HELLO planet world timestamp');
  }
  // Each step is separately "if bytes remain", so 1..15 bytes after the address are a tail without world fields.
  if (r.remaining > 0) h.encryptedTail = r.rest();
  return h;
}

/**
 * Encodes a HELLO payload. The identity is always written public-only. `encryptedTail` must already be
 * encrypted (the packet layer's cryptField) — or plaintext that the caller encrypts in place afterwards.
 * @throws {ZtError} BAD_VALUE for out-of-range fields or optional fields given without the ones before them.
 */
export function encodeHello(h: Hello): Uint8Array {
  checkInt(h.protocolVersion, 0xff, 'HELLO protocol version');
  checkInt(h.versionMajor, 0xff, 'HELLO major version');
  checkInt(h.versionMinor, 0xff, 'HELLO minor version');
  checkInt(h.versionRevision, 0xffff, 'HELLO revision');
  const w = new ByteWriter(160);
  w.u8(h.protocolVersion).u8(h.versionMajor).u8(h.versionMinor).u16(h.versionRevision);
  writeSafeU64(w, h.timestamp, 'HELLO timestamp');
  w.bytes(h.identity.toBinary(false));
  const hasWorld = h.planetWorldId !== undefined || h.planetWorldTimestamp !== undefined;
  if (hasWorld && (h.planetWorldId === undefined || h.planetWorldTimestamp === undefined)) {
    throw new ZtError(ZtErrorCode.BAD_VALUE, 'HELLO: planetWorldId and planetWorldTimestamp go together');
  }
  const tail = h.encryptedTail !== undefined && h.encryptedTail.length > 0 ? h.encryptedTail : undefined;
  // Without world fields a tail of ≥ 16 bytes would be read back as world id/timestamp.
  if (tail !== undefined && !hasWorld && tail.length >= 16) {
    throw new ZtError(ZtErrorCode.BAD_VALUE, `HELLO: a ${tail.length}-byte encryptedTail needs planetWorldId/planetWorldTimestamp`);
  }
  if (h.physicalDestination !== undefined) writeInetAddress(w, h.physicalDestination);
  else if (hasWorld || tail !== undefined) {
    throw new ZtError(ZtErrorCode.BAD_VALUE, 'HELLO: later fields need physicalDestination (null for nil)');
  }
  if (hasWorld) {
    writeU64(w, h.planetWorldId!, 'HELLO planet world id');
    writeSafeU64(w, h.planetWorldTimestamp!, 'HELLO planet world timestamp');
  }
  if (tail !== undefined) w.bytes(tail);
  return w.finish();
}

/**
 * Decodes the decrypted HELLO tail: moon count u16 then 17-byte entries.
 * @throws {ZtError} TRUNCATED, TRAILING_BYTES.
 */
export function decodeHelloMoons(decryptedTail: Uint8Array): HelloMoon[] {
  const r = new ByteReader(decryptedTail);
  const n = r.u16('HELLO moon count');
  if (n * HELLO_MOON_ENTRY_LENGTH > r.remaining) {
    throw new ZtError(ZtErrorCode.TRUNCATED, `HELLO moons: count ${n} needs ${n * HELLO_MOON_ENTRY_LENGTH} bytes, have ${r.remaining}`);
  }
  const moons: HelloMoon[] = [];
  for (let i = 0; i < n; i++) {
    moons.push({ type: r.u8('HELLO moon type'), id: r.u64('HELLO moon id'), timestamp: readSafeU64(r, 'HELLO moon timestamp') });
  }
  r.expectEnd('HELLO moons');
  return moons;
}

/**
 * Encodes the plaintext HELLO tail (to be encrypted with cryptField before armoring).
 * @throws {ZtError} BAD_VALUE / TOO_LONG for out-of-range entries or more than 65535 moons.
 */
export function encodeHelloMoons(moons: readonly HelloMoon[]): Uint8Array {
  if (moons.length > 0xffff) throw new ZtError(ZtErrorCode.TOO_LONG, `HELLO moons: ${moons.length} entries, at most 65535`);
  const w = new ByteWriter(2 + moons.length * HELLO_MOON_ENTRY_LENGTH);
  w.u16(moons.length);
  for (const m of moons) {
    checkInt(m.type, 0xff, 'HELLO moon type');
    writeU64(w.u8(m.type), m.id, 'HELLO moon id');
    writeSafeU64(w, m.timestamp, 'HELLO moon timestamp');
  }
  return w.finish();
}
