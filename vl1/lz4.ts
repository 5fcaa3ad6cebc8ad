/**
 * Raw LZ4 *block* format (no frame, no size prefix) — what `Packet::compress/uncompress` in
 * `node/Packet.cpp` put after the verb byte when the verb's 0x80 flag is set (shared/protocol/vl1.md §3.5).
 *
 * Block layout (LZ4 Block_format.md): a sequence of
 *   token[1] (high nibble literal length, low nibble match length − 4; 15 = "more length bytes follow")
 *   | literal length extension (bytes added while each is 255) | literals
 *   | offset u16 LITTLE-endian (1..65535, back from the current output position)
 *   | match length extension
 * The last sequence has literals only and ends exactly at the end of the block.
 *
 * The decoder is written for hostile input (it runs on every compressed packet a root parses): every length
 * and offset is checked before use, work is linear in input + output, and the only allocation is the
 * exactly-sized output. It is a two-pass decoder: pass 1 walks the tokens and validates everything (and so learns
 * the output size), pass 2 copies without further checks.
 */
import { ZtError, ZtErrorCode } from './errors.js';

/** LZ4's minimum match length (MINMATCH): the token stores match length − 4. */
const MIN_MATCH = 4;
/** LZ4 end-of-block rule (LASTLITERALS): the last 5 bytes of a block are always literals. */
const LAST_LITERALS = 5;
/** LZ4 end-of-block rule (MFLIMIT): the last match starts at least 12 bytes before the end. */
const MF_LIMIT = 12;
/** Hash table size of the compressor (2^12 entries; packets are ≤ 10 KiB, so more buys little). */
const HASH_LOG = 12;
const MAX_OFFSET = 65535;

function bad(msg: string): ZtError {
  return new ZtError(ZtErrorCode.BAD_COMPRESSION, `LZ4 block: ${msg}`);
}

/**
 * Walks and validates a block; returns the decompressed length. When `dst` is given, also writes the output
 * (only called after a validating pass, so it needs no checks of its own beyond what pass 1 proved).
 */
function run(src: Uint8Array, maxOutput: number, dst: Uint8Array | null): number {
  const end = src.length;
  if (end === 0) throw bad('empty input (a block has at least one token)');
  let ip = 0;
  let op = 0;
  for (;;) {
    const tokenAt = ip;
    const token = src[ip++]!;
    // ---- literals
    let lit = token >>> 4;
    if (lit === 15) {
      let b: number;
      do {
        if (ip >= end) throw bad(`literal length of token at ${tokenAt} runs past the end of input (${end} bytes)`);
        b = src[ip++]!;
        lit += b;
        // Bound early so a run of 0xff bytes cannot grow `lit` beyond what could ever be valid.
        if (lit > end) throw bad(`literal length ≥ ${lit} at ${tokenAt} exceeds the input size ${end}`);
      } while (b === 255);
    }
    if (lit > end - ip) throw bad(`literal length ${lit} at ${tokenAt} runs past the end of input (${end - ip} byte(s) left)`);
    if (lit > maxOutput - op) throw bad(`output would exceed maxOutput ${maxOutput} (literals of ${lit} at output ${op})`);
    if (dst !== null) dst.set(src.subarray(ip, ip + lit), op);
    ip += lit;
    op += lit;
    // The last sequence is literals only and ends exactly at the end of input.
    if (ip === end) return op;
    // ---- match
    if (end - ip < 2) throw bad(`match offset of token at ${tokenAt} is cut off (${end - ip} byte(s) left)`);
    const offset = src[ip]! | (src[ip + 1]! << 8);
    ip += 2;
    if (offset === 0) throw bad(`match offset 0 at input ${ip - 2}`);
    if (offset > op) throw bad(`match offset ${offset} at input ${ip - 2} points before the start of output (output position ${op})`);
    let mlen = token & 15;
    if (mlen === 15) {
      let b: number;
      do {
        if (ip >= end) throw bad(`match length of token at ${tokenAt} runs past the end of input`);
        b = src[ip++]!;
        mlen += b;
        if (mlen > maxOutput) throw bad(`match length ≥ ${mlen + MIN_MATCH} at ${tokenAt} exceeds maxOutput ${maxOutput}`);
      } while (b === 255);
    }
    mlen += MIN_MATCH;
    if (mlen > maxOutput - op) throw bad(`output would exceed maxOutput ${maxOutput} (match of ${mlen} at output ${op})`);
    if (dst !== null) {
      let from = op - offset;
      if (offset >= mlen) {
        dst.copyWithin(op, from, from + mlen);
      } else {
        // Overlapping match (a run): byte by byte, as the format defines it.
        const stop = op + mlen;
        for (let o = op; o < stop; o++) dst[o] = dst[from++]!;
      }
    }
    op += mlen;
    if (ip === end) throw bad(`block ends with a match (token at ${tokenAt}); the last sequence must be literals`);
  }
}

/**
 * Decompresses one raw LZ4 block of untrusted bytes.
 * @param maxOutput the largest acceptable output (for packets: `MAX_PACKET_LENGTH − 28`).
 * @throws {ZtError} BAD_COMPRESSION naming the bad length/offset and where it was found.
 */
export function lz4Decompress(src: Uint8Array, maxOutput: number): Uint8Array {
  if (!Number.isSafeInteger(maxOutput) || maxOutput < 0) throw bad(`maxOutput must be a non-negative integer, got ${maxOutput}`);
  const n = run(src, maxOutput, null);
  const out = new Uint8Array(n);
  run(src, maxOutput, out);
  return out;
}

/** Worst-case compressed size of `n` bytes (LZ4_COMPRESSBOUND). */
export function lz4CompressBound(n: number): number {
  return n + Math.floor(n / 255) + 16;
}

function writeLength(dst: Uint8Array, o: number, n: number): number {
  // Continuation of a length whose nibble was 15: bytes of 255 then the remainder.
  let r = n - 15;
  while (r >= 255) {
    dst[o++] = 255;
    r -= 255;
  }
  dst[o++] = r;
  return o;
}

function emit(dst: Uint8Array, o: number, src: Uint8Array, litStart: number, litEnd: number, offset: number, mlen: number): number {
  const lit = litEnd - litStart;
  const tokenAt = o++;
  let token = (lit >= 15 ? 15 : lit) << 4;
  if (lit >= 15) o = writeLength(dst, o, lit);
  dst.set(src.subarray(litStart, litEnd), o);
  o += lit;
  if (mlen > 0) {
    dst[o++] = offset & 0xff;
    dst[o++] = offset >>> 8;
    const m = mlen - MIN_MATCH;
    token |= m >= 15 ? 15 : m;
    if (m >= 15) o = writeLength(dst, o, m);
  }
  dst[tokenAt] = token;
  return o;
}

function hash4(src: Uint8Array, i: number): number {
  const v = src[i]! | (src[i + 1]! << 8) | (src[i + 2]! << 16) | (src[i + 3]! << 24);
  return Math.imul(v, 2654435761) >>> (32 - HASH_LOG);
}

/**
 * The compressor's hash table, shared by every call (compression is synchronous). A position is stored plus
 * `tableBase`, which then moves past the block, so what earlier blocks left reads as out of range and the table
 * is never cleared: a fresh 16 KiB table per call cost more than compressing a 100-byte packet (≈ 9 µs of 13;
 * the root tries to compress every OK(WHOIS) it sends).
 */
const table = new Int32Array(1 << HASH_LOG);
/** Stored values below this belong to earlier blocks (0: never written). */
let tableBase = 1;
/** Output scratch, grown on demand; the result is copied out of it. */
let scratch = new Uint8Array(lz4CompressBound(10240));

/**
 * Compresses `src` into one valid raw LZ4 block (greedy, single hash table). Honours the end-of-block rules
 * (last 5 bytes are literals, no match starts within the last 12 bytes), so LZ4's reference decoder accepts it.
 * Returns a new array of exactly the block's length.
 */
export function lz4Compress(src: Uint8Array): Uint8Array {
  const n = src.length;
  if (scratch.length < lz4CompressBound(n)) scratch = new Uint8Array(lz4CompressBound(n));
  const dst = scratch;
  let o = 0;
  let anchor = 0;
  if (n > MF_LIMIT) {
    if (tableBase > 0x7fffffff - n - 1) {
      table.fill(0);
      tableBase = 1;
    }
    const base = tableBase;
    tableBase += n;
    const matchStartLimit = n - MF_LIMIT; // a match may start at positions < this (≥ 12 bytes before the end)
    const matchEndLimit = n - LAST_LITERALS; // and must end at or before this
    let i = 0;
    while (i < matchStartLimit) {
      const h = hash4(src, i);
      const cand = table[h]! - base; // negative: empty, or left by an earlier block
      table[h] = i + base;
      if (
        cand >= 0 &&
        i - cand <= MAX_OFFSET &&
        src[cand] === src[i] &&
        src[cand + 1] === src[i + 1] &&
        src[cand + 2] === src[i + 2] &&
        src[cand + 3] === src[i + 3]
      ) {
        let len = MIN_MATCH;
        while (i + len < matchEndLimit && src[cand + len] === src[i + len]) len++;
        o = emit(dst, o, src, anchor, i, i - cand, len);
        i += len;
        anchor = i;
      } else {
        i++;
      }
    }
  }
  o = emit(dst, o, src, anchor, n, 0, 0);
  return dst.slice(0, o);
}
