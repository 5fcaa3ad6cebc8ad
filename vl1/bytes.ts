/**
 * Byte helpers shared by every codec: strict hex, a bounds-checked reader, a growable writer.
 *
 * Everything on the wire is big-endian (`node/Buffer.hpp` uses hton/ntoh), so the reader and writer
 * speak big-endian only. The reader returns views (`subarray`), never copies: callers that keep a
 * field beyond the lifetime of the datagram buffer copy it themselves.
 */
import { ZtError, ZtErrorCode } from './errors.js';

// ---- Packet-path byte arrays ----------------------------------------------------------------------

/** Bytes of each shared slab {@link packetBytes} carves arrays from. */
export const PACKET_SLAB_BYTES = 64 * 1024;
/** Larger arrays get an ArrayBuffer of their own; 64 bytes and fewer live on V8's heap anyway. */
const SLAB_MAX_ARRAY = 16 * 1024;
let slab: ArrayBuffer | null = null;
let slabNext = 0;

/**
 * A zeroed byte array of `n` bytes for the packet path (packets, fragments, frames), carved from a shared 64 KiB
 * slab. Why: a `new Uint8Array` above 64 bytes is an ArrayBuffer of its own — a malloc, a free on another thread,
 * and V8 bookkeeping — and a leaf at speed makes ~10 of them per frame: measured as the largest single cost of the
 * frame path (`ztroot bench leaf`, perf). The catch: any array kept alive keeps its whole slab alive, so keep these
 * for the life of a packet, and copy (`slice()`) what is held for long.
 */
export function packetBytes(n: number): Uint8Array {
  if (n <= 64 || n > SLAB_MAX_ARRAY) return new Uint8Array(n);
  if (slab === null || slabNext + n > PACKET_SLAB_BYTES) {
    slab = new ArrayBuffer(PACKET_SLAB_BYTES); // zeroed, and never handed out twice: arrays start zeroed
    slabNext = 0;
  }
  const out = new Uint8Array(slab, slabNext, n);
  slabNext = (slabNext + n + 7) & ~7; // 8-byte aligned starts, so word-wise crypto stays aligned
  return out;
}

/** A {@link packetBytes} copy of `src`. */
export function packetCopy(src: Uint8Array): Uint8Array {
  const out = packetBytes(src.length);
  out.set(src);
  return out;
}

const HEX = '0123456789abcdef';
const HEX_TABLE: string[] = Array.from({ length: 256 }, (_, i) => HEX[i >> 4]! + HEX[i & 15]!);

/** Lowercase hex of `b`. */
export function toHex(b: Uint8Array): string {
  let s = '';
  for (let i = 0; i < b.length; i++) s += HEX_TABLE[b[i]!]!;
  return s;
}

/**
 * Strict hex decode: even length, only [0-9a-fA-F].
 * @throws {ZtError} BAD_FORMAT naming `what` and the offending input.
 */
export function fromHex(s: string, what = 'hex'): Uint8Array {
  if (s.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(s)) {
    const shown = s.length > 40 ? `${s.slice(0, 40)}…` : s;
    throw new ZtError(ZtErrorCode.BAD_FORMAT, `${what}: not an even-length hex string: "${shown}"`);
  }
  return new Uint8Array(Buffer.from(s, 'hex'));
}

/** Constant-time comparison of two byte ranges of equal length. */
export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let d = 0;
  for (let i = 0; i < a.length; i++) d |= a[i]! ^ b[i]!;
  return d === 0;
}

export function concatBytes(...parts: Uint8Array[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

export function readU16(b: Uint8Array, o: number): number {
  return (b[o]! << 8) | b[o + 1]!;
}
export function readU32(b: Uint8Array, o: number): number {
  return ((b[o]! << 24) >>> 0) + ((b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!);
}
/** Unsigned 40-bit big-endian (a ZeroTier address) as a JS number (exact: < 2^53). */
export function readU40(b: Uint8Array, o: number): number {
  return b[o]! * 0x100000000 + readU32(b, o + 1);
}
export function readU64(b: Uint8Array, o: number): bigint {
  return (BigInt(readU32(b, o)) << 32n) | BigInt(readU32(b, o + 4));
}
export function writeU16(b: Uint8Array, o: number, v: number): void {
  b[o] = (v >>> 8) & 0xff;
  b[o + 1] = v & 0xff;
}
export function writeU32(b: Uint8Array, o: number, v: number): void {
  b[o] = (v >>> 24) & 0xff;
  b[o + 1] = (v >>> 16) & 0xff;
  b[o + 2] = (v >>> 8) & 0xff;
  b[o + 3] = v & 0xff;
}
export function writeU40(b: Uint8Array, o: number, v: number): void {
  b[o] = Math.floor(v / 0x100000000) & 0xff;
  writeU32(b, o + 1, v >>> 0);
}
export function writeU64(b: Uint8Array, o: number, v: bigint): void {
  writeU32(b, o, Number((v >> 32n) & 0xffffffffn));
  writeU32(b, o + 4, Number(v & 0xffffffffn));
}

/**
 * Bounds-checked big-endian cursor over a byte array. Every read either returns a value inside the
 * buffer or throws {@link ZtErrorCode.TRUNCATED} naming `what` — it never reads past the end.
 */
export class ByteReader {
  readonly buf: Uint8Array;
  pos: number;
  readonly end: number;

  constructor(buf: Uint8Array, start = 0, end = buf.length) {
    this.buf = buf;
    this.pos = start;
    this.end = end;
  }

  get remaining(): number {
    return this.end - this.pos;
  }

  private need(n: number, what: string): number {
    if (this.pos + n > this.end) {
      throw new ZtError(
        ZtErrorCode.TRUNCATED,
        `${what}: need ${n} byte(s) at offset ${this.pos}, have ${Math.max(0, this.end - this.pos)}`,
      );
    }
    const p = this.pos;
    this.pos += n;
    return p;
  }

  u8(what: string): number {
    return this.buf[this.need(1, what)]!;
  }
  u16(what: string): number {
    return readU16(this.buf, this.need(2, what));
  }
  u32(what: string): number {
    return readU32(this.buf, this.need(4, what));
  }
  u40(what: string): number {
    return readU40(this.buf, this.need(5, what));
  }
  u64(what: string): bigint {
    return readU64(this.buf, this.need(8, what));
  }
  /** A view of the next `n` bytes (not a copy). */
  bytes(n: number, what: string): Uint8Array {
    const p = this.need(n, what);
    return this.buf.subarray(p, p + n);
  }
  /** A view of everything left. */
  rest(): Uint8Array {
    const p = this.pos;
    this.pos = this.end;
    return this.buf.subarray(p, this.end);
  }
  skip(n: number, what: string): void {
    this.need(n, what);
  }
  /** @throws {ZtError} TRAILING_BYTES if anything is left. */
  expectEnd(what: string): void {
    if (this.pos !== this.end) {
      throw new ZtError(ZtErrorCode.TRAILING_BYTES, `${what}: ${this.end - this.pos} unexpected trailing byte(s)`);
    }
  }
}

/** Growable big-endian writer for building payloads (not for the relay path). */
export class ByteWriter {
  private buf: Uint8Array;
  length = 0;

  /** `into`, if given, is written first (then `initial` is ignored); it is grown into a new array like any other. */
  constructor(initial = 256, into?: Uint8Array) {
    this.buf = into ?? new Uint8Array(initial);
  }

  private room(n: number): number {
    if (this.length + n > this.buf.length) {
      let cap = this.buf.length * 2;
      while (cap < this.length + n) cap *= 2;
      const nb = new Uint8Array(cap);
      nb.set(this.buf.subarray(0, this.length));
      this.buf = nb;
    }
    const p = this.length;
    this.length += n;
    return p;
  }

  // Each writer takes its offset from room() before touching this.buf: room() may replace the buffer,
  // and `this.buf[this.room(1)]` would evaluate the old one first (a data-losing bug, see bytes.test.ts).
  u8(v: number): this {
    const p = this.room(1);
    this.buf[p] = v & 0xff;
    return this;
  }
  u16(v: number): this {
    const p = this.room(2);
    writeU16(this.buf, p, v);
    return this;
  }
  u32(v: number): this {
    const p = this.room(4);
    writeU32(this.buf, p, v);
    return this;
  }
  u40(v: number): this {
    const p = this.room(5);
    writeU40(this.buf, p, v);
    return this;
  }
  u64(v: bigint): this {
    const p = this.room(8);
    writeU64(this.buf, p, v);
    return this;
  }
  bytes(b: Uint8Array): this {
    const p = this.room(b.length);
    this.buf.set(b, p);
    return this;
  }
  /**
   * What was written, as an array no later write changes: the buffer itself when it was sized exactly (later writes
   * then go to a new one), else a copy.
   */
  finish(): Uint8Array {
    return this.length === this.buf.length ? this.buf : this.buf.slice(0, this.length);
  }
}
