/**
 * The small binary blobs of a network config (node/NetworkConfig.cpp `toDictionary`/`fromDictionary`, node/DNS.hpp;
 * shared/protocol/vl2.md §3.2, §3.4):
 *
 *   I   (static IPs)   repeated InetAddress whose port field holds the prefix length
 *   RT  (routes)       repeated: target InetAddress (port = prefix length) | via InetAddress (00 = on-link)
 *                      | flags u16 | metric u16
 *   S   (specialists)  repeated u64: low 40 bits address, high bits role (SpecialistRole)
 *   DNS                domain[128] NUL-padded | 4 × InetAddress (00 for an unused slot)
 *
 * Each reader stops after its limit as 1.14 does (further entries are not read); a malformed entry is an error
 * (1.14 then refuses the whole config).
 */
import { ByteReader, ByteWriter } from '../bytes.js';
import { ZtError, ZtErrorCode } from '../errors.js';
import { inetAddressToBytes, readInetAddress, writeInetAddress, type InetAddress } from '../inet-address.js';
import { checkInt, checkUint } from '../verbs/common.js';
import { DNS_DOMAIN_LENGTH, MAX_DNS_SERVERS, MAX_NETWORK_ROUTES, MAX_NETWORK_SPECIALISTS, MAX_ZT_ASSIGNED_ADDRESSES } from './constants.js';

/** An address with a prefix length (a static IP, a route target): "10.147.17.5/24". */
export interface IpPrefix {
  family: 4 | 6;
  /** Canonical text (dotted decimal, RFC 5952). */
  ip: string;
  /** Prefix length as carried in the port field (u16; meaningful up to 32 / 128). */
  bits: number;
}

export interface Route {
  target: IpPrefix;
  /** Gateway, or null for on-link. Its port is carried (0 from 1.14 controllers). */
  via: InetAddress | null;
  flags: number;
  metric: number;
}

export interface NetworkDns {
  /** Search domain ("" for none); at most 127 bytes. */
  domain: string;
  /** Up to 4 servers, in slot order (unused slots are not listed). */
  servers: InetAddress[];
}

function toPrefix(a: InetAddress): IpPrefix {
  return { family: a.family, ip: a.ip, bits: a.port };
}

function fromPrefix(p: IpPrefix): InetAddress {
  return { family: p.family, ip: p.ip, port: p.bits };
}

/**
 * `I`: at most MAX_ZT_ASSIGNED_ADDRESSES entries are read. Entries without an IP (nil or placeholder types) take a
 * slot, as in 1.14, but are not listed.
 * @throws {ZtError} TRUNCATED, BAD_VALUE (undefined InetAddress type).
 */
export function decodeStaticIps(blob: Uint8Array): IpPrefix[] {
  const r = new ByteReader(blob);
  const out: IpPrefix[] = [];
  for (let n = 0; n < MAX_ZT_ASSIGNED_ADDRESSES && r.remaining > 0; n++) {
    const a = readInetAddress(r);
    if (a !== null) out.push(toPrefix(a));
  }
  return out;
}

/** @throws {ZtError} TOO_LONG above MAX_ZT_ASSIGNED_ADDRESSES; BAD_VALUE for a bad address. */
export function encodeStaticIps(ips: readonly IpPrefix[]): Uint8Array {
  if (ips.length > MAX_ZT_ASSIGNED_ADDRESSES) {
    throw new ZtError(ZtErrorCode.TOO_LONG, `static IPs: ${ips.length}, at most MAX_ZT_ASSIGNED_ADDRESSES = ${MAX_ZT_ASSIGNED_ADDRESSES}`);
  }
  const w = new ByteWriter(ips.length * 19);
  for (const p of ips) writePrefix(w, p, 'static IP');
  return w.finish();
}

function writePrefix(w: ByteWriter, p: IpPrefix, what: string): void {
  checkInt(p.bits, 0xffff, `${what} ${p.ip} prefix bits`);
  const len = inetAddressToBytes(fromPrefix(p)).length;
  if (len !== (p.family === 4 ? 4 : 16)) throw new ZtError(ZtErrorCode.BAD_VALUE, `${what}: "${p.ip}" is not an IPv${p.family} address`);
  writeInetAddress(w, fromPrefix(p));
}

/**
 * `RT`: at most MAX_NETWORK_ROUTES routes are read. A route whose target is not an IP takes a slot (as in 1.14)
 * but is not listed.
 * @throws {ZtError} TRUNCATED, BAD_VALUE.
 */
export function decodeRoutes(blob: Uint8Array): Route[] {
  const r = new ByteReader(blob);
  const out: Route[] = [];
  for (let n = 0; n < MAX_NETWORK_ROUTES && r.remaining > 0; n++) {
    const target = readInetAddress(r);
    const via = readInetAddress(r);
    const flags = r.u16('route flags');
    const metric = r.u16('route metric');
    if (target !== null) out.push({ target: toPrefix(target), via, flags, metric });
  }
  return out;
}

/** @throws {ZtError} TOO_LONG above MAX_NETWORK_ROUTES; BAD_VALUE. */
export function encodeRoutes(routes: readonly Route[]): Uint8Array {
  if (routes.length > MAX_NETWORK_ROUTES) {
    throw new ZtError(ZtErrorCode.TOO_LONG, `routes: ${routes.length}, at most MAX_NETWORK_ROUTES = ${MAX_NETWORK_ROUTES}`);
  }
  const w = new ByteWriter(routes.length * 24);
  for (const rt of routes) {
    writePrefix(w, rt.target, 'route target');
    writeInetAddress(w, rt.via);
    checkInt(rt.flags, 0xffff, 'route flags');
    checkInt(rt.metric, 0xffff, 'route metric');
    w.u16(rt.flags).u16(rt.metric);
  }
  return w.finish();
}

/** `S`: whole u64s, at most MAX_NETWORK_SPECIALISTS kept (1.14 skips the rest and a partial tail). */
export function decodeSpecialists(blob: Uint8Array): bigint[] {
  const r = new ByteReader(blob);
  const out: bigint[] = [];
  while (r.remaining >= 8) {
    const s = r.u64('specialist');
    if (out.length < MAX_NETWORK_SPECIALISTS) out.push(s);
  }
  return out;
}

/** @throws {ZtError} TOO_LONG above MAX_NETWORK_SPECIALISTS; BAD_VALUE. */
export function encodeSpecialists(s: readonly bigint[]): Uint8Array {
  if (s.length > MAX_NETWORK_SPECIALISTS) {
    throw new ZtError(ZtErrorCode.TOO_LONG, `specialists: ${s.length}, at most MAX_NETWORK_SPECIALISTS = ${MAX_NETWORK_SPECIALISTS}`);
  }
  const w = new ByteWriter(s.length * 8);
  for (const x of s) {
    checkUint(x, 64, 'specialist');
    w.u64(x);
  }
  return w.finish();
}

/**
 * `DNS`: the 128-byte domain (read up to its first NUL, at most 127 bytes) and exactly 4 InetAddresses.
 * 1.14 refuses a config whose DNS blob is shorter.
 * @throws {ZtError} TRUNCATED, BAD_VALUE.
 */
export function decodeDns(blob: Uint8Array): NetworkDns {
  const r = new ByteReader(blob);
  const raw = r.bytes(DNS_DOMAIN_LENGTH, 'DNS domain');
  let n = raw.indexOf(0);
  if (n < 0 || n > DNS_DOMAIN_LENGTH - 1) n = DNS_DOMAIN_LENGTH - 1;
  const domain = new TextDecoder().decode(raw.subarray(0, n));
  const servers: InetAddress[] = [];
  for (let i = 0; i < MAX_DNS_SERVERS; i++) {
    const a = readInetAddress(r);
    if (a !== null) servers.push(a);
  }
  return { domain, servers };
}

/** Always 128 + 4 addresses (132 bytes when empty), as 1.14 writes it. @throws {ZtError} TOO_LONG, BAD_VALUE */
export function encodeDns(dns: NetworkDns): Uint8Array {
  const domain = new TextEncoder().encode(dns.domain);
  if (domain.length > DNS_DOMAIN_LENGTH - 1 || domain.includes(0)) {
    throw new ZtError(ZtErrorCode.TOO_LONG, `DNS domain: ${domain.length} bytes, at most ${DNS_DOMAIN_LENGTH - 1} without NUL`);
  }
  if (dns.servers.length > MAX_DNS_SERVERS) {
    throw new ZtError(ZtErrorCode.TOO_LONG, `DNS servers: ${dns.servers.length}, at most MAX_DNS_SERVERS = ${MAX_DNS_SERVERS}`);
  }
  const w = new ByteWriter(DNS_DOMAIN_LENGTH + 4 * 19);
  const d = new Uint8Array(DNS_DOMAIN_LENGTH);
  d.set(domain);
  w.bytes(d);
  for (let i = 0; i < MAX_DNS_SERVERS; i++) writeInetAddress(w, dns.servers[i] ?? null);
  return w.finish();
}
