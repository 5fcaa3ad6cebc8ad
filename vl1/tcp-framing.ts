/**
 * ZeroTier's TCP fallback framing (shared/protocol/vl1.md §9.1; `service/OneService.cpp`,
 * `tcp-proxy/tcp-proxy.cpp`), byte for byte as 1.14.1 speaks it.
 *
 * Every record on the stream: `17 03 03` (it looks like TLS 1.2 application data to a middlebox) ‖
 * length u16 BE ‖ body. The client's first record is a 4-byte hello (major, minor, revision u16); every
 * other record is an address ‖ a ZeroTier datagram: `04` ‖ IPv4 ‖ port, or `06` ‖ IPv6 ‖ port, or `00`
 * (no address; a 1.14 client drops those). Client → relay the address is the datagram's destination,
 * relay → client its source.
 *
 * Pure: no I/O. The reader is incremental (TCP gives arbitrary chunks) and bounded: a record longer than
 * the configured maximum is refused before its body is buffered.
 */
import { formatIpv4, formatIpv6, parseIp, type InetAddress } from './inet-address.js';
import { ZtError, ZtErrorCode } from './errors.js';
import { MAX_PACKET_LENGTH } from './constants.js';

/** Bytes of a record header: `17 03 03` ‖ length u16. */
export const TUNNEL_HEADER_LENGTH = 5;
/** First byte of every record: the TLS "application data" content type ZeroTier imitates. */
export const TUNNEL_RECORD_TYPE = 0x17;
/** Body length of the client's hello (`ZT_TCP_TUNNEL_HELLO`). */
export const TUNNEL_HELLO_LENGTH = 4;
/** Address prefix lengths by type byte (type ‖ ip ‖ port). */
export const TUNNEL_ADDRESS_LENGTH_V4 = 7;
export const TUNNEL_ADDRESS_LENGTH_V6 = 19;
/** Largest body a record can carry: an IPv6 prefix and the largest ZeroTier datagram. */
export const MAX_TUNNEL_BODY = TUNNEL_ADDRESS_LENGTH_V6 + MAX_PACKET_LENGTH;

export interface TunnelVersion {
  major: number;
  minor: number;
  revision: number;
}

/** A decoded record body: the client's hello, or a datagram with its address (null: type `00`). */
export type TunnelRecord =
  | { kind: 'hello'; version: TunnelVersion }
  | { kind: 'datagram'; address: InetAddress | null; datagram: Uint8Array };

/** The client's 9-byte hello record (`17 03 03 00 04 01 0e 00 01` for 1.14.1). */
export function encodeTunnelHello(v: TunnelVersion): Uint8Array {
  if (!byte(v.major) || !byte(v.minor) || !Number.isInteger(v.revision) || v.revision < 0 || v.revision > 0xffff) {
    throw new ZtError(ZtErrorCode.BAD_VALUE, `tunnel hello: version ${v.major}.${v.minor}.${v.revision} does not fit u8.u8.u16`);
  }
  return new Uint8Array([TUNNEL_RECORD_TYPE, 3, 3, 0, TUNNEL_HELLO_LENGTH, v.major, v.minor, v.revision >> 8, v.revision & 0xff]);
}

/** Length of the address prefix for `address` (1 for none, 7 for IPv4, 19 for IPv6). */
export function tunnelAddressLength(address: InetAddress | null): number {
  return address === null ? 1 : address.family === 4 ? TUNNEL_ADDRESS_LENGTH_V4 : TUNNEL_ADDRESS_LENGTH_V6;
}

/**
 * One data record: header ‖ address prefix ‖ datagram, in a fresh buffer.
 * @throws {ZtError} BAD_VALUE if the address is not an IP of its family or the record would exceed 65535 bytes.
 */
export function encodeTunnelRecord(datagram: Uint8Array, address: InetAddress | null): Uint8Array {
  const prefix = tunnelAddressLength(address);
  const body = prefix + datagram.length;
  if (body > 0xffff) throw new ZtError(ZtErrorCode.BAD_VALUE, `tunnel record: body of ${body} bytes exceeds the 16-bit length field`);
  const out = new Uint8Array(TUNNEL_HEADER_LENGTH + body);
  out[0] = TUNNEL_RECORD_TYPE;
  out[1] = 3;
  out[2] = 3;
  out[3] = body >> 8;
  out[4] = body & 0xff;
  writeTunnelAddress(out, TUNNEL_HEADER_LENGTH, address);
  out.set(datagram, TUNNEL_HEADER_LENGTH + prefix);
  return out;
}

/** Writes the address prefix at `out[o..]`; returns its length. @throws {ZtError} BAD_VALUE for a bad IP. */
export function writeTunnelAddress(out: Uint8Array, o: number, address: InetAddress | null): number {
  if (address === null) {
    out[o] = 0;
    return 1;
  }
  const ip = parseIp(address.ip);
  const want = address.family === 4 ? 4 : 16;
  if (ip === null || ip.length !== want) throw new ZtError(ZtErrorCode.BAD_VALUE, `tunnel record: "${address.ip}" is not an IPv${address.family} address`);
  if (!Number.isInteger(address.port) || address.port < 0 || address.port > 0xffff) {
    throw new ZtError(ZtErrorCode.BAD_VALUE, `tunnel record: port ${address.port} is not 0..65535`);
  }
  out[o] = address.family === 4 ? 4 : 6;
  out.set(ip, o + 1);
  out[o + 1 + want] = address.port >> 8;
  out[o + 2 + want] = address.port & 0xff;
  return 1 + want + 2;
}

/**
 * Decodes one record body. A 4-byte body is the hello; anything else starts with an address type.
 * @throws {ZtError} BAD_VALUE for an unknown address type or an empty body; TRUNCATED for a truncated
 *   address or a datagram shorter than 16 bytes (tcp-proxy forwards nothing shorter).
 */
export function decodeTunnelRecord(body: Uint8Array): TunnelRecord {
  if (body.length === TUNNEL_HELLO_LENGTH) {
    return { kind: 'hello', version: { major: body[0]!, minor: body[1]!, revision: (body[2]! << 8) | body[3]! } };
  }
  if (body.length === 0) throw new ZtError(ZtErrorCode.BAD_VALUE, 'tunnel record: empty body');
  const type = body[0]!;
  let address: InetAddress | null;
  let prefix: number;
  if (type === 4) {
    prefix = TUNNEL_ADDRESS_LENGTH_V4;
    if (body.length < prefix) throw new ZtError(ZtErrorCode.TRUNCATED, `tunnel record: ${body.length} bytes cannot hold an IPv4 address`);
    address = { family: 4, ip: formatIpv4(body.subarray(1, 5)), port: (body[5]! << 8) | body[6]! };
  } else if (type === 6) {
    prefix = TUNNEL_ADDRESS_LENGTH_V6;
    if (body.length < prefix) throw new ZtError(ZtErrorCode.TRUNCATED, `tunnel record: ${body.length} bytes cannot hold an IPv6 address`);
    address = { family: 6, ip: formatIpv6(body.subarray(1, 17)), port: (body[17]! << 8) | body[18]! };
  } else if (type === 0) {
    prefix = 1;
    address = null;
  } else {
    throw new ZtError(ZtErrorCode.BAD_VALUE, `tunnel record: unknown address type 0x${type.toString(16).padStart(2, '0')}`);
  }
  const datagram = body.subarray(prefix);
  // 16 bytes is a fragment's minimum; tcp-proxy forwards nothing shorter either.
  if (datagram.length < 16) throw new ZtError(ZtErrorCode.TRUNCATED, `tunnel record: datagram of ${datagram.length} bytes is too short`);
  return { kind: 'datagram', address, datagram };
}

/**
 * Splits a TCP byte stream into record bodies. Feed chunks with `push`, take bodies with `next` until it
 * returns null. Holds at most one partial record (≤ 5 + maxBody bytes); a header announcing more than
 * `maxBody`, or not starting with 0x17, throws at once so the caller can close the connection before
 * buffering anything more.
 */
export class TunnelRecordReader {
  private chunks: Uint8Array[] = [];
  private buffered = 0;
  /** Body length of the record being assembled, or -1 while its header is incomplete. */
  private want = -1;

  constructor(private readonly maxBody: number = MAX_TUNNEL_BODY) {}

  /** Bytes held for an incomplete record. */
  get pending(): number {
    return this.buffered;
  }

  push(chunk: Uint8Array): void {
    if (chunk.length === 0) return;
    this.chunks.push(chunk);
    this.buffered += chunk.length;
  }

  /**
   * The next complete record body (a view that stays valid), or null when more bytes are needed.
   * @throws {ZtError} BAD_VALUE when the stream is not ZeroTier framing; TOO_LONG when a record exceeds the maximum.
   */
  next(): Uint8Array | null {
    if (this.want < 0) {
      if (this.buffered < TUNNEL_HEADER_LENGTH) return null;
      const h = this.peek(TUNNEL_HEADER_LENGTH);
      // 1.14 does not check bytes 1–2 (vl1.md §9.1); byte 0 tells our framing from TLS and junk.
      if (h[0] !== TUNNEL_RECORD_TYPE) {
        throw new ZtError(ZtErrorCode.BAD_VALUE, `tunnel stream: record type 0x${h[0]!.toString(16).padStart(2, '0')} is not 0x17`);
      }
      const len = (h[3]! << 8) | h[4]!;
      if (len > this.maxBody) throw new ZtError(ZtErrorCode.TOO_LONG, `tunnel stream: record of ${len} bytes exceeds the ${this.maxBody}-byte maximum`);
      this.consume(TUNNEL_HEADER_LENGTH);
      this.want = len;
    }
    if (this.buffered < this.want) return null;
    const body = this.take(this.want);
    this.want = -1;
    return body;
  }

  /** A copy of the first n buffered bytes (n ≤ buffered), without consuming. */
  private peek(n: number): Uint8Array {
    const first = this.chunks[0]!;
    if (first.length >= n) return first.subarray(0, n);
    const out = new Uint8Array(n);
    let o = 0;
    for (const c of this.chunks) {
      const k = Math.min(c.length, n - o);
      out.set(c.subarray(0, k), o);
      o += k;
      if (o === n) break;
    }
    return out;
  }

  private consume(n: number): void {
    this.buffered -= n;
    while (n > 0) {
      const first = this.chunks[0]!;
      if (first.length <= n) {
        n -= first.length;
        this.chunks.shift();
      } else {
        this.chunks[0] = first.subarray(n);
        n = 0;
      }
    }
  }

  /** Removes and returns the first n bytes: a view when they lie in one chunk, else a copy. */
  private take(n: number): Uint8Array {
    const first = this.chunks[0];
    if (n === 0) return new Uint8Array(0);
    if (first !== undefined && first.length >= n) {
      const out = first.subarray(0, n);
      this.consume(n);
      return out;
    }
    const out = this.peek(n); // spans chunks: peek made a fresh buffer
    this.consume(n);
    return out;
  }
}

function byte(n: number): boolean {
  return Number.isInteger(n) && n >= 0 && n <= 0xff;
}
