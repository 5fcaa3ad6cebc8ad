/**
 * NetworkConfig ⇄ Dictionary (node/NetworkConfig.cpp `fromDictionary` / `toDictionary`; shared/protocol/vl2.md
 * §3.2–3.4). The dictionary is what controllers send in NETWORK_CONFIG chunks and what 1.14 persists as
 * `networks.d/<nwid>.conf`.
 *
 * Keys, in the order 1.14 writes them:
 *   v nwid ts ctmd r id tt tl f ml t n mtu [C] [CAP] [TAG] [COO] [S] [RT] [I] [R] DNS
 *   then ssov ssoe [aurl] [aexpt]                        (SSO version 0; aurl/aexpt only when ssoe)
 *   or   ssov ssoe iurl ssoce sson ssos ssocid ssop     (SSO version 1)
 *
 * Reading follows 1.14: refused when nwid or id is missing/zero or v < 6 (old-style configs are not compiled into
 * 1.14 builds); mtu clamped to 1280..10000 (2800 if absent); t defaults to PRIVATE; lists stop at their limits
 * (MAX_NETWORK_ROUTES, MAX_ZT_ASSIGNED_ADDRESSES, MAX_NETWORK_RULES, MAX_NETWORK_SPECIALISTS,
 * MAX_NETWORK_CAPABILITIES, MAX_NETWORK_TAGS; COOs past MAX_CERTIFICATES_OF_OWNERSHIP are parsed and dropped);
 * a bad Capability or Tag ends its list silently; a bad COM, COO, route, static IP, rule or DNS blob refuses the
 * whole config. Writing refuses what 1.14 could not hold (the same limits, a name over 127 bytes).
 *
 * Integers 1.14 keeps in `unsigned int` (mtu, ml, t, tl, f's useful bits) are read modulo 2^32 as C does;
 * timestamps, ctmd, revision and aexpt must be exact JS numbers (≤ 2^53 − 1) or the config is refused.
 */
import { ByteReader, ByteWriter } from '../bytes.js';
import { ZtError, ZtErrorCode } from '../errors.js';
import { checkInt, checkUint } from '../verbs/common.js';
import { type Capability, readCapability, writeCapability } from './capability.js';
import { type CertificateOfOwnership, readCoo, writeCoo } from './certificate-of-ownership.js';
import { type CertificateOfMembership, encodeCom, readCom } from './com.js';
import {
  decodeDns,
  decodeRoutes,
  decodeSpecialists,
  decodeStaticIps,
  encodeDns,
  encodeRoutes,
  encodeSpecialists,
  encodeStaticIps,
  type IpPrefix,
  type NetworkDns,
  type Route,
} from './config-blobs.js';
import {
  DEFAULT_MTU,
  MAX_CERTIFICATES_OF_OWNERSHIP,
  MAX_MTU,
  MAX_NETWORK_CAPABILITIES,
  MAX_NETWORK_RULES,
  MAX_NETWORK_SHORT_NAME_LENGTH,
  MAX_NETWORK_TAGS,
  MIN_MTU,
  NETWORKCONFIG_DICT_CAPACITY,
  NETWORKCONFIG_MIN_VERSION,
  NETWORKCONFIG_VERSION,
  NetworkType,
} from './constants.js';
import { Dictionary } from './dictionary.js';
import { decodeRules, encodeRules, type Rule } from './rules.js';
import { readTag, type Tag, writeTag } from './tag.js';

export interface NetworkConfig {
  networkId: bigint;
  /** Controller's issue time (ms). */
  timestamp: number;
  /** Tolerance (ms) between our config timestamp and remote credentials' (COM qualifier 0, tags, caps, COOs). */
  credentialTimeMaxDelta: number;
  revision: number;
  issuedTo: number;
  remoteTraceTarget: number;
  remoteTraceLevel: number;
  /** NetworkConfigFlag bits (low 32 bits of `f`). */
  flags: number;
  /** Max recipients per multicast; 0 disables multicast (except NDP emulation). */
  multicastLimit: number;
  /** NetworkType: 0 PRIVATE, 1 PUBLIC. */
  type: number;
  name: string;
  mtu: number;
  com: CertificateOfMembership | null;
  /** Sorted by id, as 1.14 keeps them. */
  capabilities: Capability[];
  /** Sorted by id, as 1.14 keeps them (rules look tags up by id). */
  tags: Tag[];
  certificatesOfOwnership: CertificateOfOwnership[];
  /** Low 40 bits address, high bits SpecialistRole. */
  specialists: bigint[];
  routes: Route[];
  staticIps: IpPrefix[];
  rules: Rule[];
  dns: NetworkDns;
  ssoVersion: number;
  ssoEnabled: boolean;
  authenticationUrl: string;
  authenticationExpiryTime: number;
  issuerUrl: string;
  centralAuthUrl: string;
  ssoNonce: string;
  ssoState: string;
  ssoClientId: string;
  ssoProvider: string;
}

/** SSO strings and their C buffer sizes − 1 (node/NetworkConfig.hpp). */
const SSO_TEXT = {
  aurl: 2047,
  iurl: 2047,
  ssoce: 2047,
  sson: 127,
  ssos: 255,
  ssocid: 255,
  ssop: 63,
} as const;

/** A config with every optional part empty (what the fields default to). */
export function emptyNetworkConfig(networkId: bigint, issuedTo: number): NetworkConfig {
  return {
    networkId,
    timestamp: 0,
    credentialTimeMaxDelta: 0,
    revision: 0,
    issuedTo,
    remoteTraceTarget: 0,
    remoteTraceLevel: 0,
    flags: 0,
    multicastLimit: 0,
    type: NetworkType.PRIVATE,
    name: '',
    mtu: DEFAULT_MTU,
    com: null,
    capabilities: [],
    tags: [],
    certificatesOfOwnership: [],
    specialists: [],
    routes: [],
    staticIps: [],
    rules: [],
    dns: { domain: '', servers: [] },
    ssoVersion: 0,
    ssoEnabled: false,
    authenticationUrl: '',
    authenticationExpiryTime: 0,
    issuerUrl: '',
    centralAuthUrl: '',
    ssoNonce: '',
    ssoState: '',
    ssoClientId: '',
    ssoProvider: '',
  };
}

const low32 = (v: bigint | undefined, dfl: number): number => (v === undefined ? dfl : Number(v & 0xffffffffn));

function exact(d: Dictionary, key: string, what: string): number {
  const v = d.getU64(key) ?? 0n;
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new ZtError(ZtErrorCode.BAD_VALUE, `network config: ${what} (${key}) 0x${v.toString(16)} is above 2^53 − 1`);
  }
  return Number(v);
}

/** Prefixes a blob parser's error with the dictionary key it came from. */
function blob<T>(key: string, f: () => T): T {
  try {
    return f();
  } catch (e) {
    if (e instanceof ZtError) throw new ZtError(e.code, `network config ${key}: ${e.message}`, { cause: e });
    throw e;
  }
}

/** Reads credentials one after another until the blob ends, or (lenient) until one does not parse. */
function readAll<T>(b: Uint8Array, read: (r: ByteReader) => T, max: number, lenient: boolean): T[] {
  const r = new ByteReader(b);
  const out: T[] = [];
  while (r.remaining > 0 && out.length < max) {
    if (!lenient) {
      out.push(read(r));
      continue;
    }
    try {
      out.push(read(r));
    } catch (e) {
      if (e instanceof ZtError) break;
      throw e;
    }
  }
  return out;
}

/**
 * Decodes a config dictionary (text or parsed) the way 1.14's `NetworkConfig::fromDictionary` accepts it.
 * @throws {ZtError} BAD_VALUE (nwid/id missing or zero, v < 6, an integer over 2^53, a bad blob), TRUNCATED
 *   (a blob that ends early); the message names the key.
 */
export function decodeNetworkConfig(input: Dictionary | Uint8Array): NetworkConfig {
  const d = input instanceof Dictionary ? input : Dictionary.parse(input);
  const networkId = d.getU64('nwid') ?? 0n;
  if (networkId === 0n) throw new ZtError(ZtErrorCode.BAD_VALUE, 'network config: nwid missing or zero');
  const issuedTo = Number((d.getU64('id') ?? 0n) & 0xffffffffffn);
  if (issuedTo === 0) throw new ZtError(ZtErrorCode.BAD_VALUE, 'network config: id (issued-to) missing or zero');
  const version = d.getU64('v') ?? 0n;
  if (version < BigInt(NETWORKCONFIG_MIN_VERSION)) {
    throw new ZtError(ZtErrorCode.BAD_VALUE, `network config: version ${version} (v) is older than ${NETWORKCONFIG_MIN_VERSION}; 1.14 refuses old-style configs`);
  }
  const c = emptyNetworkConfig(networkId, issuedTo);
  c.timestamp = exact(d, 'ts', 'timestamp');
  c.credentialTimeMaxDelta = exact(d, 'ctmd', 'credential time max delta');
  c.revision = exact(d, 'r', 'revision');
  c.remoteTraceTarget = Number((d.getU64('tt') ?? 0n) & 0xffffffffffn);
  c.remoteTraceLevel = low32(d.getU64('tl'), 0);
  c.multicastLimit = low32(d.getU64('ml'), 0);
  c.name = d.getString('n', MAX_NETWORK_SHORT_NAME_LENGTH) ?? '';
  c.mtu = Math.min(MAX_MTU, Math.max(MIN_MTU, low32(d.getU64('mtu'), DEFAULT_MTU)));
  c.flags = low32(d.getU64('f'), 0);
  c.type = low32(d.getU64('t'), NetworkType.PRIVATE);

  const com = d.get('C');
  if (com !== undefined) c.com = blob('C', () => readCom(new ByteReader(com)));
  const caps = d.get('CAP');
  if (caps !== undefined) c.capabilities = readAll(caps, readCapability, MAX_NETWORK_CAPABILITIES, true).sort((a, b) => a.id - b.id);
  const tags = d.get('TAG');
  if (tags !== undefined) c.tags = readAll(tags, readTag, MAX_NETWORK_TAGS, true).sort((a, b) => a.id - b.id);
  const coos = d.get('COO');
  if (coos !== undefined) {
    c.certificatesOfOwnership = blob('COO', () => readAll(coos, readCoo, Number.MAX_SAFE_INTEGER, false)).slice(0, MAX_CERTIFICATES_OF_OWNERSHIP);
  }
  const s = d.get('S');
  if (s !== undefined) c.specialists = decodeSpecialists(s);
  const rt = d.get('RT');
  if (rt !== undefined) c.routes = blob('RT', () => decodeRoutes(rt));
  const ips = d.get('I');
  if (ips !== undefined) c.staticIps = blob('I', () => decodeStaticIps(ips));
  const rules = d.get('R');
  if (rules !== undefined) c.rules = blob('R', () => decodeRules(rules, MAX_NETWORK_RULES));
  const dns = d.get('DNS');
  if (dns !== undefined) c.dns = blob('DNS', () => decodeDns(dns));

  c.ssoVersion = exact(d, 'ssov', 'SSO version');
  c.ssoEnabled = d.getBool('ssoe') ?? false;
  if (c.ssoEnabled && (c.ssoVersion === 0 || c.ssoVersion === 1)) {
    c.authenticationUrl = d.getString('aurl', SSO_TEXT.aurl) ?? '';
    if (c.ssoVersion === 0) {
      const e = d.get('aexpt');
      // getI: strtoll; an expiry above 2^53 is not a time anyone sends.
      c.authenticationExpiryTime = e === undefined || e.length === 0 ? 0 : exact(d, 'aexpt', 'authentication expiry time');
    } else {
      c.issuerUrl = d.getString('iurl', SSO_TEXT.iurl) ?? '';
      c.centralAuthUrl = d.getString('ssoce', SSO_TEXT.ssoce) ?? '';
      c.ssoNonce = d.getString('sson', SSO_TEXT.sson) ?? '';
      c.ssoState = d.getString('ssos', SSO_TEXT.ssos) ?? '';
      c.ssoClientId = d.getString('ssocid', SSO_TEXT.ssocid) ?? '';
      const p = d.getString('ssop', SSO_TEXT.ssop);
      c.ssoProvider = p === undefined || p === '' ? 'default' : p;
    }
  }
  return c;
}

function checkText(s: string, max: number, what: string): void {
  const n = new TextEncoder().encode(s);
  if (n.length > max || n.includes(0)) throw new ZtError(ZtErrorCode.TOO_LONG, `network config ${what}: ${n.length} bytes, at most ${max} without NUL`);
}

function writeList<T>(items: readonly T[], max: number, what: string, write: (w: ByteWriter, x: T) => void): Uint8Array {
  if (items.length > max) throw new ZtError(ZtErrorCode.TOO_LONG, `network config ${what}: ${items.length}, at most ${max}`);
  const w = new ByteWriter(256);
  for (const x of items) write(w, x);
  return w.finish();
}

/**
 * The config as a Dictionary, keys and formats exactly as 1.14's `toDictionary` writes them (v is always 7).
 * @throws {ZtError} BAD_VALUE for out-of-range fields; TOO_LONG for lists over their limits or text over its buffer.
 */
export function networkConfigToDictionary(c: NetworkConfig): Dictionary {
  checkUint(c.networkId, 64, 'network config nwid');
  for (const [v, what] of [
    [c.remoteTraceLevel, 'remote trace level'],
    [c.flags, 'flags'],
    [c.multicastLimit, 'multicast limit'],
    [c.type, 'type'],
    [c.mtu, 'mtu'],
  ] as const) {
    checkInt(v, 0xffffffff, `network config ${what}`);
  }
  checkText(c.name, MAX_NETWORK_SHORT_NAME_LENGTH, 'name');
  const d = new Dictionary()
    .add('v', NETWORKCONFIG_VERSION)
    .add('nwid', c.networkId)
    .add('ts', c.timestamp)
    .add('ctmd', c.credentialTimeMaxDelta)
    .add('r', c.revision)
    .addAddress('id', c.issuedTo)
    .addAddress('tt', c.remoteTraceTarget)
    .add('tl', c.remoteTraceLevel)
    .add('f', c.flags)
    .add('ml', c.multicastLimit)
    .add('t', c.type)
    .add('n', c.name)
    .add('mtu', c.mtu);
  if (c.com !== null) d.add('C', encodeCom(c.com));
  const optional: Array<[string, Uint8Array]> = [
    ['CAP', writeList(c.capabilities, MAX_NETWORK_CAPABILITIES, 'capabilities', writeCapability)],
    ['TAG', writeList(c.tags, MAX_NETWORK_TAGS, 'tags', writeTag)],
    ['COO', writeList(c.certificatesOfOwnership, MAX_CERTIFICATES_OF_OWNERSHIP, 'certificates of ownership', writeCoo)],
    ['S', encodeSpecialists(c.specialists)],
    ['RT', encodeRoutes(c.routes)],
    ['I', encodeStaticIps(c.staticIps)],
  ];
  for (const [k, v] of optional) if (v.length > 0) d.add(k, v);
  if (c.rules.length > MAX_NETWORK_RULES) throw new ZtError(ZtErrorCode.TOO_LONG, `network config rules: ${c.rules.length}, at most MAX_NETWORK_RULES = ${MAX_NETWORK_RULES}`);
  if (c.rules.length > 0) d.add('R', encodeRules(c.rules));
  d.add('DNS', encodeDns(c.dns));
  if (c.ssoVersion === 0) {
    d.add('ssov', 0).add('ssoe', c.ssoEnabled);
    if (c.ssoEnabled) {
      checkText(c.authenticationUrl, SSO_TEXT.aurl, 'authentication URL');
      if (c.authenticationUrl !== '') d.add('aurl', c.authenticationUrl);
      d.add('aexpt', c.authenticationExpiryTime);
    }
  } else if (c.ssoVersion === 1) {
    d.add('ssov', 1).add('ssoe', c.ssoEnabled);
    for (const [k, v] of [
      ['iurl', c.issuerUrl],
      ['ssoce', c.centralAuthUrl],
      ['sson', c.ssoNonce],
      ['ssos', c.ssoState],
      ['ssocid', c.ssoClientId],
      ['ssop', c.ssoProvider],
    ] as const) {
      checkText(v, SSO_TEXT[k], k);
      d.add(k, v);
    }
  }
  return d;
}

/**
 * The config's dictionary text: what a controller chunks into NETWORK_CONFIG and what `networks.d/<nwid>.conf` holds.
 * @throws {ZtError} as {@link networkConfigToDictionary}; TOO_LONG when it would not fit NETWORKCONFIG_DICT_CAPACITY.
 */
export function encodeNetworkConfig(c: NetworkConfig): Uint8Array {
  const text = networkConfigToDictionary(c).encode();
  if (text.length >= NETWORKCONFIG_DICT_CAPACITY) {
    throw new ZtError(ZtErrorCode.TOO_LONG, `network config: ${text.length} bytes, must be below NETWORKCONFIG_DICT_CAPACITY = ${NETWORKCONFIG_DICT_CAPACITY}`);
  }
  return text;
}

/** True when both encode to the same dictionary (1.14 ignores a config identical to the one it holds). */
export function sameNetworkConfig(a: NetworkConfig, b: NetworkConfig): boolean {
  const x = encodeNetworkConfig(a);
  const y = encodeNetworkConfig(b);
  return x.length === y.length && x.every((v, i) => v === y[i]);
}

/** PUBLIC networks admit every peer; everything else needs a COM that agrees with ours. */
export function isPublicNetwork(c: NetworkConfig): boolean {
  return c.type === NetworkType.PUBLIC;
}
