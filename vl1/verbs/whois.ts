/**
 * WHOIS (verb 0x04) payload — shared/protocol/vl1.md §5.5: one or more 5-byte addresses
 * (1.14 sends exactly one per request, `Switch::requestWhois`). Answered with OK(WHOIS) (see ok.ts).
 */
import { ByteReader, ByteWriter } from '../bytes.js';
import { ADDRESS_LENGTH } from '../constants.js';
import { ZtError, ZtErrorCode } from '../errors.js';
import { writeAddress } from './common.js';

export interface Whois {
  addresses: number[];
}

/**
 * Decodes a WHOIS payload.
 * @throws {ZtError} TRUNCATED when empty, TRAILING_BYTES when the length is not a multiple of 5.
 */
export function decodeWhois(payload: Uint8Array): Whois {
  if (payload.length === 0) throw new ZtError(ZtErrorCode.TRUNCATED, 'WHOIS: no address (need at least 5 bytes)');
  if (payload.length % ADDRESS_LENGTH !== 0) {
    throw new ZtError(ZtErrorCode.TRAILING_BYTES, `WHOIS: ${payload.length} bytes is not a whole number of 5-byte addresses`);
  }
  const r = new ByteReader(payload);
  const addresses: number[] = [];
  while (r.remaining > 0) addresses.push(r.u40('WHOIS address'));
  return { addresses };
}

/** Encodes a WHOIS payload. @throws {ZtError} BAD_VALUE for no or out-of-range addresses. */
export function encodeWhois(x: Whois): Uint8Array {
  if (x.addresses.length === 0) throw new ZtError(ZtErrorCode.BAD_VALUE, 'WHOIS: at least one address');
  const w = new ByteWriter(x.addresses.length * ADDRESS_LENGTH);
  for (const a of x.addresses) writeAddress(w, a, 'WHOIS address');
  return w.finish();
}
