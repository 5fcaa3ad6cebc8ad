/**
 * InetAddress: the IP + port value carried in HELLO, OK(HELLO), RENDEZVOUS, PUSH_DIRECT_PATHS and worlds
 * (`InetAddress::serialize/deserialize` in `node/InetAddress.hpp`, shared/protocol/vl1.md §5.1).
 *
 * Wire form:
 *   00                          nil (no address)
 *   04 | ipv4[4] | port u16     7 bytes
 *   06 | ipv6[16] | port u16    19 bytes
 *   01 | 6 bytes, 02 | 6 bytes  Ethernet / Bluetooth placeholders: skipped on read
 *   03 | len u16 | len bytes    skipped on read
 *   other                       parse error
 *
 * Text form is ZeroTier's "ip/port". IP text is canonical: dotted decimal for IPv4, RFC 5952 for IPv6
 * (lowercase, longest zero run compressed, IPv4-mapped written as `::ffff:a.b.c.d`).
 */
import { isIPv4, isIPv6 } from 'node:net';
import { ByteReader, ByteWriter } from './bytes.js';
import { ZtError, ZtErrorCode } from './errors.js';

/** An IP endpoint; `ip` is canonical text (see {@link formatIp}). */
export interface InetAddress {
  family: 4 | 6;
  ip: string;
  port: number;
}

/** Type bytes of the wire form (`InetAddress::serialize`). */
export const InetAddressType = {
  NIL: 0x00,
  ETHERNET: 0x01,
  BLUETOOTH: 0x02,
  LENGTH_PREFIXED: 0x03,
  IPV4: 0x04,
  IPV6: 0x06,
} as const;

/** Longest text `parseInetAddress` looks at ("[" + 45-char IPv6 + "]:" + 5 digits fits easily). */
const MAX_TEXT = 64;

/**
 * Reads one serialized InetAddress. Returns null for nil (type 0) and for the placeholder types 1/2/3,
 * which 1.14 skips for forward compatibility.
 * @throws {ZtError} TRUNCATED if the bytes end early; BAD_VALUE for an undefined type byte.
 */
export function readInetAddress(r: ByteReader): InetAddress | null {
  const at = r.pos;
  const type = r.u8('InetAddress type');
  switch (type) {
    case InetAddressType.NIL:
      return null;
    case InetAddressType.IPV4: {
      const ip = formatIpv4(r.bytes(4, 'InetAddress IPv4'));
      return { family: 4, ip, port: r.u16('InetAddress port') };
    }
    case InetAddressType.IPV6: {
      const ip = formatIpv6(r.bytes(16, 'InetAddress IPv6'));
      return { family: 6, ip, port: r.u16('InetAddress port') };
    }
    case InetAddressType.ETHERNET:
    case InetAddressType.BLUETOOTH:
      r.skip(6, `InetAddress placeholder type ${type}`);
      return null;
    case InetAddressType.LENGTH_PREFIXED:
      r.skip(r.u16('InetAddress type 3 length'), 'InetAddress type 3 body');
      return null;
    default:
      throw new ZtError(ZtErrorCode.BAD_VALUE, `InetAddress: undefined type byte 0x${type.toString(16).padStart(2, '0')} at offset ${at}`);
  }
}

/**
 * Writes `a` (or nil for null). IPv4-mapped IPv6 addresses are written as type 4, as 1.14 does (§5.1).
 * @throws {ZtError} BAD_VALUE if `a` holds an invalid IP or port.
 */
export function writeInetAddress(w: ByteWriter, a: InetAddress | null): void {
  if (a === null) {
    w.u8(InetAddressType.NIL);
    return;
  }
  checkPort(a.port);
  const ip = inetAddressToBytes(a);
  if (ip.length === 16 && isMappedV4(ip)) {
    w.u8(InetAddressType.IPV4).bytes(ip.subarray(12)).u16(a.port);
  } else {
    w.u8(ip.length === 4 ? InetAddressType.IPV4 : InetAddressType.IPV6).bytes(ip).u16(a.port);
  }
}

/** Bytes `writeInetAddress` produces for `a`: 1, 7 or 19. */
export function inetAddressWireLength(a: InetAddress | null): number {
  if (a === null) return 1;
  if (a.family === 4) return 7;
  return isMappedV4(inetAddressToBytes(a)) ? 7 : 19;
}

/**
 * Parses "1.2.3.4/9993", "2001:db8::1/9993", "1.2.3.4:9993" or "[2001:db8::1]:9993". The IP text is
 * canonicalised; an IPv6 zone ("%eth0") is rejected because the wire form cannot carry it.
 * @throws {ZtError} BAD_FORMAT naming the input.
 */
export function parseInetAddress(s: string): InetAddress {
  if (typeof s !== 'string') throw new ZtError(ZtErrorCode.BAD_FORMAT, `InetAddress: expected a string, got ${typeof s}`);
  const shown = s.length > MAX_TEXT ? `${s.slice(0, MAX_TEXT)}…` : s;
  const fail = (why: string): ZtError => new ZtError(ZtErrorCode.BAD_FORMAT, `InetAddress "${shown}": ${why}`);
  if (s.length > MAX_TEXT) throw fail(`longer than ${MAX_TEXT} characters`);
  let ipText: string;
  let portText: string;
  const slash = s.lastIndexOf('/');
  if (slash >= 0) {
    ipText = s.slice(0, slash);
    portText = s.slice(slash + 1);
  } else if (s.startsWith('[')) {
    const close = s.indexOf(']');
    if (close < 0 || s[close + 1] !== ':') throw fail('expected "[ipv6]:port"');
    ipText = s.slice(1, close);
    portText = s.slice(close + 2);
    if (!isIPv6(ipText)) throw fail(`"${ipText}" is not an IPv6 address`);
  } else {
    const colon = s.lastIndexOf(':');
    if (colon < 0) throw fail('no port (expected "ip/port", "ipv4:port" or "[ipv6]:port")');
    ipText = s.slice(0, colon);
    portText = s.slice(colon + 1);
    if (!isIPv4(ipText)) throw fail('an IPv6 address with a port must be written "ip/port" or "[ip]:port"');
  }
  if (!/^[0-9]{1,5}$/.test(portText)) throw fail(`port "${portText}" is not a decimal number`);
  const port = Number(portText);
  if (port > 0xffff) throw fail(`port ${port} is above 65535`);
  const bytes = parseIp(ipText);
  if (bytes === null) throw fail(`"${ipText}" is not an IPv4 or IPv6 address`);
  return bytes.length === 4 ? { family: 4, ip: formatIpv4(bytes), port } : { family: 6, ip: formatIpv6(bytes), port };
}

/** ZeroTier's text form, "ip/port". */
export function formatInetAddress(a: InetAddress): string {
  return `${a.ip}/${a.port}`;
}

/**
 * The 4 or 16 bytes of `a.ip` (per `a.family`).
 * @throws {ZtError} BAD_VALUE if the IP text is not an address of that family.
 */
export function inetAddressToBytes(a: InetAddress): Uint8Array {
  const b = typeof a.ip === 'string' && a.ip.length <= MAX_TEXT ? parseIp(a.ip) : null;
  if (b === null || b.length !== (a.family === 4 ? 4 : a.family === 6 ? 16 : -1)) {
    throw new ZtError(ZtErrorCode.BAD_VALUE, `InetAddress: "${String(a.ip).slice(0, MAX_TEXT)}" is not an IPv${a.family} address`);
  }
  return b;
}

/** InetAddress from raw IP bytes (4 or 16) and a port. @throws {ZtError} BAD_VALUE on another length or port. */
export function inetAddressFromBytes(ip: Uint8Array, port: number): InetAddress {
  checkPort(port);
  if (ip.length === 4) return { family: 4, ip: formatIpv4(ip), port };
  if (ip.length === 16) return { family: 6, ip: formatIpv6(ip), port };
  throw new ZtError(ZtErrorCode.BAD_VALUE, `InetAddress: IP must be 4 or 16 bytes, got ${ip.length}`);
}

/** An IPv4-mapped IPv6 address (`::ffff:a.b.c.d`) as the plain IPv4 address it stands for; others unchanged. */
export function normalizeInetAddress(a: InetAddress): InetAddress {
  if (a.family !== 6) return a;
  const b = inetAddressToBytes(a);
  return isMappedV4(b) ? { family: 4, ip: formatIpv4(b.subarray(12)), port: a.port } : a;
}

/** True when both denote the same IP bytes and port (mapped IPv6 equals its IPv4). */
export function inetAddressEquals(a: InetAddress, b: InetAddress): boolean {
  const x = normalizeInetAddress(a);
  const y = normalizeInetAddress(b);
  return x.family === y.family && x.ip === y.ip && x.port === y.port;
}

function checkPort(port: number): void {
  if (!Number.isInteger(port) || port < 0 || port > 0xffff) {
    throw new ZtError(ZtErrorCode.BAD_VALUE, `InetAddress: port ${port} is not an integer in 0..65535`);
  }
}

function isMappedV4(b: Uint8Array): boolean {
  if (b.length !== 16) return false;
  for (let i = 0; i < 10; i++) if (b[i] !== 0) return false;
  return b[10] === 0xff && b[11] === 0xff;
}

/** Dotted decimal of 4 bytes. */
export function formatIpv4(b: Uint8Array): string {
  return `${b[0]}.${b[1]}.${b[2]}.${b[3]}`;
}

/** RFC 5952 text of 16 bytes: lowercase, no leading zeros, the longest (first) run of ≥ 2 zero groups as "::". */
export function formatIpv6(b: Uint8Array): string {
  if (isMappedV4(b)) return `::ffff:${formatIpv4(b.subarray(12))}`;
  const g: number[] = [];
  for (let i = 0; i < 16; i += 2) g.push((b[i]! << 8) | b[i + 1]!);
  let bestStart = -1;
  let bestLen = 1; // a single zero group is not compressed (RFC 5952 §4.2.2)
  for (let i = 0; i < 8; ) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (from: number, to: number): string => g.slice(from, to).map((x) => x.toString(16)).join(':');
  if (bestStart < 0) return hex(0, 8);
  return `${hex(0, bestStart)}::${hex(bestStart + bestLen, 8)}`;
}

/**
 * IPv4 or IPv6 text (validated with node:net, zone ids refused) to 4 or 16 bytes; null if it is neither.
 * Callers bound the length of `s` first.
 */
export function parseIp(s: string): Uint8Array | null {
  if (isIPv4(s)) return parseIpv4(s);
  if (!isIPv6(s) || s.includes('%')) return null;
  const out = new Uint8Array(16);
  let head = s;
  let tail = '';
  const dc = s.indexOf('::');
  if (dc >= 0) {
    head = s.slice(0, dc);
    tail = s.slice(dc + 2);
  }
  const toGroups = (part: string): number[] | null => {
    if (part === '') return [];
    const groups: number[] = [];
    const items = part.split(':');
    for (let k = 0; k < items.length; k++) {
      const it = items[k]!;
      if (k === items.length - 1 && it.includes('.')) {
        const v4 = isIPv4(it) ? parseIpv4(it) : null;
        if (v4 === null) return null;
        groups.push((v4[0]! << 8) | v4[1]!, (v4[2]! << 8) | v4[3]!);
      } else {
        if (!/^[0-9a-fA-F]{1,4}$/.test(it)) return null;
        groups.push(parseInt(it, 16));
      }
    }
    return groups;
  };
  const h = toGroups(head);
  const t = toGroups(tail);
  if (h === null || t === null) return null;
  if (dc >= 0 ? h.length + t.length > 7 : h.length !== 8) return null;
  const groups = dc >= 0 ? [...h, ...new Array<number>(8 - h.length - t.length).fill(0), ...t] : h;
  for (let k = 0; k < 8; k++) {
    out[2 * k] = groups[k]! >>> 8;
    out[2 * k + 1] = groups[k]! & 0xff;
  }
  return out;
}

function parseIpv4(s: string): Uint8Array {
  return new Uint8Array(s.split('.').map((x) => Number(x)));
}
