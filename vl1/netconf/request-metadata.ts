/**
 * The metadata dictionary of NETWORK_CONFIG_REQUEST (node/Network.cpp `requestConfiguration`,
 * node/NetworkConfig.hpp `ZT_NETWORKCONFIG_REQUEST_METADATA_KEY_*`; shared/protocol/vl2.md §2.2).
 *
 * 1.14.1 on Linux x86-64 sends exactly these 263 bytes (keys in this order):
 *   v=7 vend=1 pv=12 majv=1 minv=14 revv=1 mr=1024 mc=128 mcr=64 mt=128 f=0 revr=1 o=linux/x86_64
 * (integers as 16 hex digits). `a` = "token:<t>" is an optional join token a controller honours; 1.14 never sends it.
 */
import { ZtError, ZtErrorCode } from '../errors.js';
import {
  MAX_CAPABILITY_RULES,
  MAX_NETWORK_CAPABILITIES,
  MAX_NETWORK_RULES,
  MAX_NETWORK_TAGS,
  NETWORKCONFIG_METADATA_DICT_CAPACITY,
  NETWORKCONFIG_VERSION,
} from './constants.js';
import { Dictionary } from './dictionary.js';

export interface RequestMetadata {
  /** `v`: dictionary version we understand. */
  dictionaryVersion: number;
  /** `vend`: 1 = ZeroTier. */
  vendor: number;
  /** `pv`: protocol version. */
  protocolVersion: number;
  versionMajor: number;
  versionMinor: number;
  versionRevision: number;
  /** `mr`, `mc`, `mcr`, `mt`: how much we can hold. */
  maxRules: number;
  maxCapabilities: number;
  maxCapabilityRules: number;
  maxTags: number;
  /** `f` */
  flags: number;
  /** `revr`: rules engine revision (0 makes a controller send a single ACCEPT rule). */
  rulesEngineRevision: number;
  /** `o`: `ZT_TARGET_NAME`. */
  osArch: string;
  /** `a`: join token, sent as "token:<authToken>" when given. */
  authToken?: string;
}

/** What ZeroTier One 1.14.1 on linux/x86_64 sends. */
export const DEFAULT_REQUEST_METADATA: Readonly<RequestMetadata> = {
  dictionaryVersion: NETWORKCONFIG_VERSION,
  vendor: 1,
  protocolVersion: 12,
  versionMajor: 1,
  versionMinor: 14,
  versionRevision: 1,
  maxRules: MAX_NETWORK_RULES,
  maxCapabilities: MAX_NETWORK_CAPABILITIES,
  maxCapabilityRules: MAX_CAPABILITY_RULES,
  maxTags: MAX_NETWORK_TAGS,
  flags: 0,
  rulesEngineRevision: 1,
  osArch: 'linux/x86_64',
};

/**
 * The metadata dictionary text, defaults from {@link DEFAULT_REQUEST_METADATA}.
 * @throws {ZtError} BAD_VALUE for negative or fractional numbers; TOO_LONG beyond NETWORKCONFIG_METADATA_DICT_CAPACITY.
 */
export function buildRequestMetadata(m: Partial<RequestMetadata> = {}): Uint8Array {
  const x = { ...DEFAULT_REQUEST_METADATA, ...m };
  const d = new Dictionary()
    .add('v', x.dictionaryVersion)
    .add('vend', x.vendor)
    .add('pv', x.protocolVersion)
    .add('majv', x.versionMajor)
    .add('minv', x.versionMinor)
    .add('revv', x.versionRevision)
    .add('mr', x.maxRules)
    .add('mc', x.maxCapabilities)
    .add('mcr', x.maxCapabilityRules)
    .add('mt', x.maxTags)
    .add('f', x.flags)
    .add('revr', x.rulesEngineRevision)
    .add('o', x.osArch);
  if (x.authToken !== undefined) d.add('a', `token:${x.authToken}`);
  const text = d.encode();
  if (text.length >= NETWORKCONFIG_METADATA_DICT_CAPACITY) {
    throw new ZtError(ZtErrorCode.TOO_LONG, `request metadata: ${text.length} bytes, must be below NETWORKCONFIG_METADATA_DICT_CAPACITY = ${NETWORKCONFIG_METADATA_DICT_CAPACITY}`);
  }
  return text;
}

/**
 * Reads request metadata as a controller does: integers default to 0 when absent (a 1.14 controller treats a
 * missing `revr` as 0), values above 2^53 are clamped to 2^53 − 1.
 */
export function parseRequestMetadata(text: Uint8Array): RequestMetadata {
  const d = Dictionary.parse(text);
  const n = (k: string): number => {
    const v = d.getU64(k) ?? 0n;
    return v > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(v);
  };
  const m: RequestMetadata = {
    dictionaryVersion: n('v'),
    vendor: n('vend'),
    protocolVersion: n('pv'),
    versionMajor: n('majv'),
    versionMinor: n('minv'),
    versionRevision: n('revv'),
    maxRules: n('mr'),
    maxCapabilities: n('mc'),
    maxCapabilityRules: n('mcr'),
    maxTags: n('mt'),
    flags: n('f'),
    rulesEngineRevision: n('revr'),
    osArch: d.getString('o') ?? '',
  };
  const a = d.getString('a');
  if (a !== undefined && a.startsWith('token:')) m.authToken = a.slice(6);
  return m;
}
