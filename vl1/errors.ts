/**
 * The one error class of the protocol core.
 *
 * Every failure the project reports — a malformed packet, a bad MAC, an identity that does not
 * validate, a planet file that is too long, a full queue, a timeout — is a `ZtError` with a stable `code` from
 * {@link ZtErrorCode}. Callers on the packet path switch on `code` and count a drop with that code as
 * the `reason` label; callers in tools print `message`, which names the offending value.
 *
 * Parsers never throw anything else on bad input (property tests in `vl1/*.test.ts` check this).
 */

/** Stable reason codes. Add new ones at the end of their group; never renumber or rename. */
export const ZtErrorCode = {
  /** Input ended before a field it declares (a length, a count, a fixed-size field). */
  TRUNCATED: 'ZT_ERR_TRUNCATED',
  /** Input is longer than a named limit allows (packet, fragment count, world size, ...). */
  TOO_LONG: 'ZT_ERR_TOO_LONG',
  /** A field holds a value the protocol does not define (unknown type byte, bad flag, bad length). */
  BAD_VALUE: 'ZT_ERR_BAD_VALUE',
  /** Trailing bytes after a structure that must end exactly at the buffer's end. */
  TRAILING_BYTES: 'ZT_ERR_TRAILING_BYTES',
  /** A textual form (hex, identity string, address string) does not parse. */
  BAD_FORMAT: 'ZT_ERR_BAD_FORMAT',

  /** Address is 0 or starts with 0xff (`Address::isReserved`). */
  RESERVED_ADDRESS: 'ZT_ERR_RESERVED_ADDRESS',
  /** Identity type byte is not 0 (1.x knows only C25519). */
  UNKNOWN_IDENTITY_TYPE: 'ZT_ERR_UNKNOWN_IDENTITY_TYPE',
  /** Identity's address is not derived from its public key (memory-hard hash check failed). */
  IDENTITY_INVALID: 'ZT_ERR_IDENTITY_INVALID',
  /** An operation needs the private key and the identity holds only the public one. */
  NO_PRIVATE_KEY: 'ZT_ERR_NO_PRIVATE_KEY',
  /** Signature does not verify. */
  BAD_SIGNATURE: 'ZT_ERR_BAD_SIGNATURE',

  /** Packet MAC does not verify (forged, corrupted, or wrong key). */
  BAD_MAC: 'ZT_ERR_BAD_MAC',
  /** Cipher suite we do not accept here (2 = trusted path, 4..7 undefined). */
  UNSUPPORTED_CIPHER: 'ZT_ERR_UNSUPPORTED_CIPHER',
  /** LZ4 payload is corrupt or decompresses past its bound. */
  BAD_COMPRESSION: 'ZT_ERR_BAD_COMPRESSION',
  /** Fragment is out of the accepted range, duplicated, or its packet cannot be reassembled. */
  BAD_FRAGMENT: 'ZT_ERR_BAD_FRAGMENT',

  /** World (planet/moon) update is not acceptable (other id/type, not newer, wrong signer). */
  WORLD_UPDATE_REJECTED: 'ZT_ERR_WORLD_UPDATE_REJECTED',

  /** Configuration or command-line input is wrong; the message names the key and the value. */
  BAD_CONFIG: 'ZT_ERR_BAD_CONFIG',
  /** A file could not be read or written; the message names the path. */
  FILE: 'ZT_ERR_FILE',

  /** A bounded queue or budget is full; nothing was queued (retry later). */
  OVERLOADED: 'ZT_ERR_OVERLOADED',
  /** The component was stopped or closed before or while the operation ran. */
  CLOSED: 'ZT_ERR_CLOSED',
  /** No answer within the operation's time limit. */
  TIMEOUT: 'ZT_ERR_TIMEOUT',
  /** A worker or service the operation needs failed (it is restarted where that makes sense). */
  UNAVAILABLE: 'ZT_ERR_UNAVAILABLE',
  /** No path to the destination (no direct path and no reachable root). */
  NO_ROUTE: 'ZT_ERR_NO_ROUTE',
} as const;

export type ZtErrorCode = (typeof ZtErrorCode)[keyof typeof ZtErrorCode];

export class ZtError extends Error {
  override readonly name = 'ZtError';
  readonly code: ZtErrorCode;

  constructor(code: ZtErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}

/** True when `e` is a {@link ZtError}, optionally with the given code. */
export function isZtError(e: unknown, code?: ZtErrorCode): e is ZtError {
  return e instanceof ZtError && (code === undefined || e.code === code);
}

/** Throws {@link ZtErrorCode.TRUNCATED} unless `need` bytes are available at `offset`. */
export function needBytes(buf: Uint8Array, offset: number, need: number, what: string): void {
  if (offset < 0 || need < 0 || offset + need > buf.length) {
    throw new ZtError(
      ZtErrorCode.TRUNCATED,
      `${what}: need ${need} byte(s) at offset ${offset}, have ${Math.max(0, buf.length - offset)}`,
    );
  }
}
