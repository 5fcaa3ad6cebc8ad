/**
 * local.conf as ZeroTier One 1.14 reads it (service/OneService.cpp `readLocalSettings`, `applyLocalConfig`):
 * a JSON object whose `settings` a leaf applies in part. The settings that apply are typed here with 1.14's
 * defaults; every other key is kept (GET /config shows it, POST /config/settings writes it back) and reported.
 * Unlike 1.14, which reads whatever it can and ignores the rest, a value of the wrong type or range is a
 * BAD_CONFIG naming the file, the key and the value.
 */
import { ZtError, ZtErrorCode } from '../vl1/errors.js';
import { formatIpv4, formatIpv6, parseInetAddress, parseIp, type InetAddress } from '../vl1/inet-address.js';

export const LOCAL_CONF_FILE = 'local.conf';
/** 1.14's default primary port (`ZT_DEFAULT_PORT`). */
export const DEFAULT_PRIMARY_PORT = 9993;

/** An IP network of `allowManagementFrom` ("10.0.0.0/8"; a bare address means that one address). */
export interface IpNetwork {
  /** Network bytes (4 or 16), host bits cleared. */
  bytes: Uint8Array;
  bits: number;
  /** "ip/bits" as written back. */
  text: string;
}

/** The `settings` of local.conf that apply to a leaf, typed, with 1.14's defaults. */
export interface LeafLocalSettings {
  /** UDP port, and the local API's TCP port. Default 9993; 0 = pick at random (20000..65499, 256 tries). */
  primaryPort: number;
  /** 0 (default) = random at each start, re-picked after 2 minutes offline (1.14 since 1.8.1). */
  secondaryPort: number;
  /** The port-mapping (UPnP/NAT-PMP) port; 0 (default) = random. */
  tertiaryPort: number;
  /** Default true. */
  allowSecondaryPort: boolean;
  /** UPnP / NAT-PMP. Default true. */
  portMappingEnabled: boolean;
  /** Default true. */
  allowTcpFallbackRelay: boolean;
  /**
   * The TCP relay's "ip/port", or null when local.conf names none. 1.14's default is ZeroTier's public relay
   * 204.80.128.1/443; a leaf of a private planet must not fall back to it, so the default here is null and
   * the leaf picks a relay of its own planet.
   */
  tcpFallbackRelay: InetAddress | null;
  /** Default false. */
  forceTcpRelay: boolean;
  /** Networks besides loopback whose hosts may use the local API (with the token). Default none. */
  allowManagementFrom: IpNetwork[];
  /** Interface name prefixes whose addresses are never bound. */
  interfacePrefixBlacklist: string[];
  /** Bind only these local IPs (1.14's `bind`); empty = every usable address. */
  bind: string[];
}

/** local.conf as held: the JSON object as read (unknown keys kept) and the typed settings. */
export interface LocalConf {
  /** The whole JSON object (what GET /config answers; POST /config/settings merges into its `settings`). */
  raw: Record<string, unknown>;
  settings: LeafLocalSettings;
  /** Keys (dotted, e.g. "settings.fooBar") that mean nothing to 1.14 either: kept, not applied. */
  unknownKeys: string[];
  /** Keys 1.14 knows that this leaf does not apply (bonding, software update, physical/virtual, …). */
  notApplied: string[];
}

const APPLIED_SETTINGS = [
  'primaryPort', 'secondaryPort', 'tertiaryPort', 'allowSecondaryPort', 'portMappingEnabled', 'allowTcpFallbackRelay',
  'tcpFallbackRelay', 'forceTcpRelay', 'allowManagementFrom', 'interfacePrefixBlacklist', 'bind',
] as const;
/** Settings 1.14 reads that a leaf of ours does not use, and the keys /status adds (echoed back by some GUIs). */
const NOT_APPLIED_SETTINGS = new Set([
  'softwareUpdate', 'softwareUpdateChannel', 'softwareUpdateDist', 'multicoreEnabled', 'concurrency', 'cpuPinningEnabled',
  'controllerDbPath', 'ssoRedirectURL', 'enableWebServer', 'defaultBondingPolicy', 'policies', 'peerSpecificBonds',
  'redis', 'vault', 'homeDir', 'listeningOn', 'surfaceAddresses',
]);
/** Top-level keys of local.conf 1.14 reads besides `settings`. */
const NOT_APPLIED_TOP = new Set(['physical', 'virtual']);

function badSetting(file: string, key: string, value: unknown, want: string): ZtError {
  let shown: string;
  try {
    shown = JSON.stringify(value) ?? String(value);
  } catch {
    shown = String(value);
  }
  if (shown.length > 80) shown = `${shown.slice(0, 80)}…`;
  return new ZtError(ZtErrorCode.BAD_CONFIG, `${file}: settings.${key} = ${shown} is not ${want}; fix or remove it`);
}

/** A port as 1.14's jsonInt reads it (a number or a decimal string), but refusing what it would mask silently. */
function portSetting(file: string, s: Record<string, unknown>, key: string, dflt: number): number {
  const v = s[key];
  if (v === undefined || v === null) return dflt;
  const n = typeof v === 'number' ? v : typeof v === 'string' && /^\d{1,5}$/.test(v.trim()) ? Number(v.trim()) : NaN;
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw badSetting(file, key, v, 'a port (a whole number 0..65535, 0 = pick one at random)');
  return n;
}

/** A boolean as 1.14's jsonBool reads the usual spellings: true/false, 1/0, "true"/"false", "1"/"0". */
function boolSetting(file: string, s: Record<string, unknown>, key: string, dflt: boolean): boolean {
  const v = s[key];
  if (v === undefined || v === null) return dflt;
  if (typeof v === 'boolean') return v;
  if (v === 1 || v === 0) return v === 1;
  if (typeof v === 'string') {
    const t = v.trim().toLowerCase();
    if (t === 'true' || t === '1') return true;
    if (t === 'false' || t === '0') return false;
  }
  throw badSetting(file, key, v, 'a boolean (true or false)');
}

function stringArraySetting(file: string, s: Record<string, unknown>, key: string): string[] {
  const v = s[key];
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v) || v.some((x) => typeof x !== 'string')) throw badSetting(file, key, v, 'an array of strings');
  return (v as string[]).map((x) => x.trim()).filter((x) => x !== '');
}

/**
 * Parses "10.0.0.0/8", "fd00::/8" or a bare address (that address alone: 1.14 would read a bare address as
 * prefix length 0 and let every host of that family in — a trap this leaf does not copy).
 * @throws {ZtError} BAD_CONFIG naming the text
 */
export function parseIpNetwork(text: string, what: string): IpNetwork {
  const t = text.trim();
  const slash = t.indexOf('/');
  const ipText = slash < 0 ? t : t.slice(0, slash);
  const bytes = ipText.length <= 64 ? parseIp(ipText) : null;
  if (bytes === null) throw new ZtError(ZtErrorCode.BAD_CONFIG, `${what}: ${JSON.stringify(text)} is not an IP address or network ("10.0.0.0/8", "fd00::/8")`);
  const max = bytes.length * 8;
  const bitsText = slash < 0 ? String(max) : t.slice(slash + 1);
  const bits = /^\d{1,3}$/.test(bitsText) ? Number(bitsText) : NaN;
  if (!(bits >= 0 && bits <= max)) throw new ZtError(ZtErrorCode.BAD_CONFIG, `${what}: ${JSON.stringify(text)} has prefix length ${bitsText}; IPv${bytes.length === 4 ? 4 : 6} allows 0..${max}`);
  const net = bytes.slice();
  for (let i = 0; i < net.length; i++) {
    const keep = Math.min(8, Math.max(0, bits - i * 8));
    net[i]! &= (0xff << (8 - keep)) & 0xff;
  }
  return { bytes: net, bits, text: `${net.length === 4 ? formatIpv4(net) : formatIpv6(net)}/${bits}` };
}

/** Whether `ip` (4 or 16 bytes) lies in `net`. Families never mix (an IPv4-mapped IPv6 is unmapped by the caller). */
export function ipNetworkContains(net: IpNetwork, ip: Uint8Array): boolean {
  if (ip.length !== net.bytes.length) return false;
  for (let i = 0; i < ip.length; i++) {
    const keep = Math.min(8, Math.max(0, net.bits - i * 8));
    const mask = (0xff << (8 - keep)) & 0xff;
    if ((ip[i]! & mask) !== net.bytes[i]) return false;
  }
  return true;
}

/**
 * Parses local.conf's text (as 1.14: an empty file is `{}`), typing the settings that apply to a leaf.
 * @param file the name used in messages
 * @throws {ZtError} BAD_CONFIG naming the file, the key and the value
 */
export function parseLocalConf(text: string, file = LOCAL_CONF_FILE): LocalConf {
  let raw: unknown = {};
  if (text.trim() !== '') {
    try {
      raw = JSON.parse(text);
    } catch (e) {
      throw new ZtError(ZtErrorCode.BAD_CONFIG, `${file} is not valid JSON (${(e as Error).message}); fix it, or move it away to run with the defaults`, { cause: e });
    }
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new ZtError(ZtErrorCode.BAD_CONFIG, `${file}: the top level must be a JSON object such as {"settings": {"primaryPort": 9993}}, got ${Array.isArray(raw) ? 'an array' : JSON.stringify(raw)}`);
  }
  return typeLocalConf(raw as Record<string, unknown>, file);
}

/**
 * Types an already parsed local.conf object (what {@link parseLocalConf} does after JSON.parse; a settings
 * merge checks its result with it before writing).
 * @throws {ZtError} BAD_CONFIG naming the file, the key and the value
 */
export function typeLocalConf(raw: Record<string, unknown>, file: string): LocalConf {
  const unknownKeys: string[] = [];
  const notApplied: string[] = [];
  for (const k of Object.keys(raw)) {
    if (k === 'settings') continue;
    (NOT_APPLIED_TOP.has(k) ? notApplied : unknownKeys).push(k);
  }
  const sv = raw['settings'];
  if (sv !== undefined && sv !== null && (typeof sv !== 'object' || Array.isArray(sv))) {
    throw new ZtError(ZtErrorCode.BAD_CONFIG, `${file}: "settings" must be a JSON object, got ${JSON.stringify(sv)}`);
  }
  const s = (sv ?? {}) as Record<string, unknown>;
  for (const k of Object.keys(s)) {
    if ((APPLIED_SETTINGS as readonly string[]).includes(k)) continue;
    (NOT_APPLIED_SETTINGS.has(k) ? notApplied : unknownKeys).push(`settings.${k}`);
  }
  const relay = s['tcpFallbackRelay'];
  let tcpFallbackRelay: InetAddress | null = null;
  if (relay !== undefined && relay !== null && relay !== '') {
    if (typeof relay !== 'string') throw badSetting(file, 'tcpFallbackRelay', relay, 'an "ip/port" string');
    try {
      tcpFallbackRelay = parseInetAddress(relay.trim());
    } catch {
      throw badSetting(file, 'tcpFallbackRelay', relay, 'an "ip/port" address such as "192.0.2.1/443"');
    }
  }
  const bind = stringArraySetting(file, s, 'bind').map((ip) => {
    const b = ip.length <= 64 ? parseIp(ip) : null;
    if (b === null) throw badSetting(file, 'bind', ip, 'an IP address');
    return b.length === 4 ? formatIpv4(b) : formatIpv6(b);
  });
  const settings: LeafLocalSettings = {
    primaryPort: portSetting(file, s, 'primaryPort', DEFAULT_PRIMARY_PORT),
    secondaryPort: portSetting(file, s, 'secondaryPort', 0),
    tertiaryPort: portSetting(file, s, 'tertiaryPort', 0),
    allowSecondaryPort: boolSetting(file, s, 'allowSecondaryPort', true),
    portMappingEnabled: boolSetting(file, s, 'portMappingEnabled', true),
    allowTcpFallbackRelay: boolSetting(file, s, 'allowTcpFallbackRelay', true),
    tcpFallbackRelay,
    forceTcpRelay: boolSetting(file, s, 'forceTcpRelay', false),
    allowManagementFrom: stringArraySetting(file, s, 'allowManagementFrom').map((t) => parseIpNetwork(t, `${file}: settings.allowManagementFrom`)),
    interfacePrefixBlacklist: stringArraySetting(file, s, 'interfacePrefixBlacklist'),
    bind,
  };
  return { raw, settings, unknownKeys, notApplied };
}
