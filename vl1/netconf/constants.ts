/**
 * VL2 constants: limits, flags and status values of virtual networks as ZeroTier One 1.14.1 has them
 * (`include/ZeroTierOne.h`, `node/NetworkConfig.hpp`, `node/Constants.hpp`; shared/protocol/vl2.md §10).
 *
 * Each limit is named once here; the codecs that enforce it cite the name in their errors.
 */

// ---- Networks ------------------------------------------------------------------------------------
/** `ZT_NETWORKCONFIG_VERSION`: the dictionary version 1.14 writes and asks for (`v`). */
export const NETWORKCONFIG_VERSION = 7;
/** Configs with `v` below this are refused by 1.14 builds (no `ZT_SUPPORT_OLD_STYLE_NETCONF`). */
export const NETWORKCONFIG_MIN_VERSION = 6;
/** `ZT_DEFAULT_MTU` / `ZT_MIN_MTU` / `ZT_MAX_MTU`: the network (TAP) MTU and the clamp on `mtu`. */
export const DEFAULT_MTU = 2800;
export const MIN_MTU = 1280;
export const MAX_MTU = 10000;
/** `ZT_MAX_NETWORK_SHORT_NAME_LENGTH`: bytes of `n` kept (the C buffer holds 127 + NUL). */
export const MAX_NETWORK_SHORT_NAME_LENGTH = 127;
/** `ZT_MAX_NETWORK_ROUTES`: routes read from `RT` (1.14 stops reading after this many). */
export const MAX_NETWORK_ROUTES = 128;
/** `ZT_MAX_ZT_ASSIGNED_ADDRESSES`: static IPs read from `I`. */
export const MAX_ZT_ASSIGNED_ADDRESSES = 32;
/** `ZT_MAX_NETWORK_SPECIALISTS`: entries kept from `S`. */
export const MAX_NETWORK_SPECIALISTS = 256;
/** `ZT_MAX_NETWORK_RULES`: rules read from `R`. */
export const MAX_NETWORK_RULES = 1024;
/** `ZT_MAX_NETWORK_CAPABILITIES` / `ZT_MAX_NETWORK_TAGS`: capabilities and tags kept from `CAP` / `TAG`. */
export const MAX_NETWORK_CAPABILITIES = 128;
export const MAX_NETWORK_TAGS = 128;
/** `ZT_MAX_CAPABILITY_RULES`: rules inside one capability (more is a parse error). */
export const MAX_CAPABILITY_RULES = 64;
/** `ZT_MAX_CAPABILITY_CUSTODY_CHAIN_LENGTH`. */
export const MAX_CAPABILITY_CUSTODY_CHAIN_LENGTH = 7;
/** `ZT_MAX_CERTIFICATES_OF_OWNERSHIP`: COOs kept from `COO` (further ones are parsed and dropped). */
export const MAX_CERTIFICATES_OF_OWNERSHIP = 4;
/** `ZT_CERTIFICATEOFOWNERSHIP_MAX_THINGS`: things one COO can hold. */
export const COO_MAX_THINGS = 16;
/** `ZT_MAX_DNS_SERVERS`: InetAddresses in the `DNS` blob (always exactly this many on the wire). */
export const MAX_DNS_SERVERS = 4;
/** Bytes of the NUL-padded domain at the start of the `DNS` blob. */
export const DNS_DOMAIN_LENGTH = 128;
/** `ZT_NETWORK_COM_MAX_QUALIFIERS`. */
export const COM_MAX_QUALIFIERS = 8;

/**
 * `ZT_NETWORKCONFIG_DICT_CAPACITY` on x86-64 1.14.1 (vl2.md §3.1, measured): a config dictionary, its NUL
 * included, must fit; so a chunked update's total length must be below it.
 */
export const NETWORKCONFIG_DICT_CAPACITY = 484520;
/** `ZT_NETWORKCONFIG_METADATA_DICT_CAPACITY`: NETWORK_CONFIG_REQUEST metadata, NUL included. */
export const NETWORKCONFIG_METADATA_DICT_CAPACITY = 1024;
/** Largest chunk a controller sends: `ZT_PROTO_MAX_PACKET_LENGTH − (28 + 256)` (node/Node.cpp `ncSendConfig`). */
export const NETWORKCONFIG_MAX_CHUNK_LENGTH = 9740;
/** `ZT_NETWORK_MAX_INCOMING_UPDATES`: config updates reassembled at once. */
export const NETWORK_MAX_INCOMING_UPDATES = 3;
/** `ZT_NETWORK_MAX_UPDATE_CHUNKS` on 1.14.1 (vl2.md §2.3, measured). */
export const NETWORK_MAX_UPDATE_CHUNKS = 474;

/** Credential time max delta: controller default, and the clamp it applies (node/NetworkConfig.hpp). */
export const CREDENTIAL_TIME_DEFAULT_MAX_DELTA = 1_800_000;
export const CREDENTIAL_TIME_MIN_MAX_DELTA = 300_000;
export const CREDENTIAL_TIME_MAX_MAX_DELTA = 7_200_000;

/** `f` flags (`ZT_NETWORKCONFIG_FLAG_*`). */
export const NetworkConfigFlag = {
  ENABLE_BROADCAST: 0x02,
  ENABLE_IPV6_NDP_EMULATION: 0x04,
  /** What an unknown MATCH rule evaluates to (vl2.md §3.6). */
  RULES_RESULT_OF_UNSUPPORTED_MATCH: 0x08,
  DISABLE_COMPRESSION: 0x10,
} as const;

/** `t`: network type (`ZT_VirtualNetworkType`). */
export const NetworkType = { PRIVATE: 0, PUBLIC: 1 } as const;
export type NetworkType = (typeof NetworkType)[keyof typeof NetworkType];

/** Role bits in the high bits of an `S` entry (low 40 bits = address). */
export const SpecialistRole = {
  ACTIVE_BRIDGE: 0x0000020000000000n,
  ANCHOR: 0x0000040000000000n,
  MULTICAST_REPLICATOR: 0x0000080000000000n,
} as const;

/** Network status (`ZT_VirtualNetworkStatus`) and its JSON string as 1.14's API prints it (vl2.md §2.5). */
export const NetworkStatus = {
  REQUESTING_CONFIGURATION: 0,
  OK: 1,
  ACCESS_DENIED: 2,
  NOT_FOUND: 3,
  PORT_ERROR: 4,
  CLIENT_TOO_OLD: 5,
  AUTHENTICATION_REQUIRED: 6,
} as const;
export type NetworkStatus = (typeof NetworkStatus)[keyof typeof NetworkStatus];
const STATUS_NAMES = new Map<number, string>(Object.entries(NetworkStatus).map(([k, v]) => [v, k]));
/** "OK", "ACCESS_DENIED", ... as `zerotier-cli listnetworks` prints them. */
export function networkStatusName(s: number): string {
  return STATUS_NAMES.get(s) ?? 'UNKNOWN';
}

// ---- Ethernet ------------------------------------------------------------------------------------
export const ETHERTYPE_IPV4 = 0x0800;
export const ETHERTYPE_ARP = 0x0806;
export const ETHERTYPE_IPV6 = 0x86dd;
export const BROADCAST_MAC = 0xffffffffffffn;

/**
 * The status an ERROR from the network's controller puts the network in (`IncomingPacket::_doERROR`; vl2.md §2.4),
 * or null when 1.14 ignores it. The caller checks that the sender IS the controller (`nwid >> 24`).
 * OBJ_NOT_FOUND / UNSUPPORTED_OPERATION count only in reply to NETWORK_CONFIG_REQUEST (0x0b). For
 * NETWORK_AUTHENTICATION_REQUIRED 1.14 also needs the error dictionary (version 0 with an `aU` URL, or version 1).
 */
export function controllerErrorStatus(inReVerb: number, code: number): NetworkStatus | null {
  switch (code) {
    case 0x03: // OBJ_NOT_FOUND
    case 0x05: // UNSUPPORTED_OPERATION
      return inReVerb === 0x0b ? NetworkStatus.NOT_FOUND : null;
    case 0x07: // NETWORK_ACCESS_DENIED
      return NetworkStatus.ACCESS_DENIED;
    case 0x09: // NETWORK_AUTHENTICATION_REQUIRED
      return NetworkStatus.AUTHENTICATION_REQUIRED;
    default:
      return null;
  }
}
