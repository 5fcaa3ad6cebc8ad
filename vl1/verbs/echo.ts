/**
 * ECHO (verb 0x08) payload — shared/protocol/vl1.md §5.7: arbitrary bytes (1.14 sends it empty as a path probe /
 * keepalive), answered by OK(ECHO) with the same bytes (see ok.ts).
 */

export interface Echo {
  /** View into the packet payload. */
  payload: Uint8Array;
}

/** Decodes an ECHO payload (any bytes are valid). */
export function decodeEcho(payload: Uint8Array): Echo {
  return { payload };
}

/** Encodes an ECHO payload (a copy). */
export function encodeEcho(x: Echo): Uint8Array {
  return x.payload.slice();
}
