/**
 * ZeroTier 1.x VL1 constants, each with the layout or source it matches.
 * Source paths are inside the ZeroTierOne repository at tag 1.14.1 (see shared/protocol/vl1.md).
 */

// ---- Addresses (node/Address.hpp, node/Constants.hpp) ------------------------------------------
/** 40-bit address, 5 bytes big-endian, 10 lowercase hex digits. */
export const ADDRESS_LENGTH = 5;
/** Addresses whose first byte is 0xff are reserved: byte 13 = 0xff marks a fragment. */
export const ADDRESS_RESERVED_PREFIX = 0xff;

// ---- Identities (node/Identity.hpp, node/C25519.hpp) -------------------------------------------
export const C25519_PUBLIC_KEY_LENGTH = 64; // x25519[32] | ed25519[32]
export const C25519_PRIVATE_KEY_LENGTH = 64; // x25519 scalar[32] | ed25519 seed[32]
export const C25519_SIGNATURE_LENGTH = 96; // ed25519 sig[64] | sha512(msg)[0..31]
/** address[5] | type[1]=0 | public[64] | privLen[1]=0 */
export const IDENTITY_PUBLIC_BINARY_LENGTH = 71;
/** Memory used by the address-derivation hash (ZT_IDENTITY_GEN_MEMORY). */
export const IDENTITY_GEN_MEMORY = 2097152;
/** digest[0] must be below this (ZT_IDENTITY_GEN_HASHCASH_FIRST_BYTE_LESS_THAN). */
export const IDENTITY_GEN_HASHCASH_FIRST_BYTE_LESS_THAN = 17;
/** Bytes of the agreed key kept (ZT_SYMMETRIC_KEY_SIZE). */
export const SYMMETRIC_KEY_SIZE = 48;

// ---- Packet header (node/Packet.hpp ZT_PACKET_IDX_*) --------------------------------------------
//
//  0       8        13       18     19       27     28
//  +-------+--------+--------+------+--------+------+---------
//  | id/IV | dest   | source | flags| MAC    | verb | payload
//  +-------+--------+--------+------+--------+------+---------
//  flags = F F C C C H H H : 0x80 legacy "encrypted" / extended armor, 0x40 fragmented,
//                            0x38 cipher suite, 0x07 hops
//  verb  = 0x80 compressed | 0x1f verb
export const IDX_IV = 0;
export const IDX_DEST = 8;
export const IDX_SOURCE = 13;
export const IDX_FLAGS = 18;
export const IDX_MAC = 19;
export const IDX_VERB = 27;
export const IDX_PAYLOAD = 28;
/** ZT_PROTO_MIN_PACKET_LENGTH: header + verb byte. */
export const MIN_PACKET_LENGTH = 28;
/** ZT_PROTO_MAX_PACKET_LENGTH = ZT_MAX_PACKET_FRAGMENTS × ZT_DEFAULT_PHYSMTU. */
export const MAX_PACKET_LENGTH = 10024;

export const FLAG_ENCRYPTED_DEPRECATED = 0x80; // set by 1.14 for suite 1 only
export const FLAG_EXTENDED_ARMOR = 0x80; // hello-encryption branch: with cipher 0
export const FLAG_FRAGMENTED = 0x40;
export const FLAGS_CIPHER_MASK = 0x38;
export const FLAGS_HOPS_MASK = 0x07;

export const VERB_MASK = 0x1f;
export const VERB_FLAG_COMPRESSED = 0x80;

/** Cipher suites (Packet.hpp ZT_PROTO_CIPHER_SUITE__*). */
export const CipherSuite = {
  /** Poly1305 MAC (Salsa20/12-derived key), no encryption: HELLO. */
  POLY1305_NONE: 0,
  /** Poly1305 MAC + Salsa20/12 encryption. */
  POLY1305_SALSA2012: 1,
  /** No crypto on a configured trusted path: never accepted by a root. */
  NONE_TRUSTED_PATH: 2,
  /** AES-GMAC-SIV (AES-256-CTR + GMAC), protocol ≥ 12. */
  AES_GMAC_SIV: 3,
} as const;
export type CipherSuite = (typeof CipherSuite)[keyof typeof CipherSuite];

// ---- Hops (node/Constants.hpp) -----------------------------------------------------------------
/** ZT_PROTO_MAX_HOPS: the 3-bit field's maximum. */
export const PROTO_MAX_HOPS = 7;
/** ZT_RELAY_MAX_HOPS: 1.14 relays only packets with hops below this. */
export const RELAY_MAX_HOPS = 3;

// ---- Fragments (Packet::Fragment) --------------------------------------------------------------
//  0       8        13     14          15     16
//  +-------+--------+------+-----------+------+--------
//  | id    | dest   | 0xff | tot<<4|no | hops | chunk
export const FRAGMENT_INDICATOR = 0xff;
export const FRAGMENT_IDX_INDICATOR = 13;
export const FRAGMENT_IDX_NUMBERS = 14;
export const FRAGMENT_IDX_HOPS = 15;
export const FRAGMENT_IDX_PAYLOAD = 16;
/** ZT_PROTO_MIN_FRAGMENT_LENGTH */
export const MIN_FRAGMENT_LENGTH = 16;
/** ZT_MAX_PACKET_FRAGMENTS (head + up to 6 fragments). */
export const MAX_PACKET_FRAGMENTS = 7;
/** ZT_RX_QUEUE_SIZE: packets being reassembled at once. */
export const RX_QUEUE_SIZE = 32;
/** ZT_RECEIVE_QUEUE_TIMEOUT (ms). */
export const RECEIVE_QUEUE_TIMEOUT = 5000;

// ---- MTU (include/ZeroTierOne.h) ---------------------------------------------------------------
export const DEFAULT_PHYSMTU = 1432;
export const MIN_PHYSMTU = 1400;

// ---- Protocol version (node/Packet.hpp) --------------------------------------------------------
/** What 1.14 speaks; ≥ 12 means the peer understands AES-GMAC-SIV. */
export const PROTO_VERSION = 12;
/** Oldest version 1.14 accepts in HELLO / OK(HELLO). */
export const PROTO_VERSION_MIN = 4;
/** First protocol version with AES-GMAC-SIV (Peer::aesKeysIfSupported). */
export const PROTO_VERSION_AES = 12;

// ---- Verbs (enum Packet::Verb) -----------------------------------------------------------------
export const Verb = {
  NOP: 0x00,
  HELLO: 0x01,
  ERROR: 0x02,
  OK: 0x03,
  WHOIS: 0x04,
  RENDEZVOUS: 0x05,
  FRAME: 0x06,
  EXT_FRAME: 0x07,
  ECHO: 0x08,
  MULTICAST_LIKE: 0x09,
  NETWORK_CREDENTIALS: 0x0a,
  NETWORK_CONFIG_REQUEST: 0x0b,
  NETWORK_CONFIG: 0x0c,
  MULTICAST_GATHER: 0x0d,
  MULTICAST_FRAME: 0x0e,
  PUSH_DIRECT_PATHS: 0x10,
  ACK: 0x12,
  QOS_MEASUREMENT: 0x13,
  USER_MESSAGE: 0x14,
  REMOTE_TRACE: 0x15,
  PATH_NEGOTIATION_REQUEST: 0x16,
} as const;
export type Verb = (typeof Verb)[keyof typeof Verb];

const VERB_NAMES = new Map<number, string>(Object.entries(Verb).map(([k, v]) => [v, k]));
/** Name of a verb number, or `VERB_0x..` for unassigned ones. */
export function verbName(v: number): string {
  return VERB_NAMES.get(v) ?? `VERB_0x${v.toString(16).padStart(2, '0')}`;
}

// ---- Error codes (enum Packet::ErrorCode) ------------------------------------------------------
export const ErrorCode = {
  NONE: 0x00,
  INVALID_REQUEST: 0x01,
  BAD_PROTOCOL_VERSION: 0x02,
  OBJ_NOT_FOUND: 0x03,
  IDENTITY_COLLISION: 0x04,
  UNSUPPORTED_OPERATION: 0x05,
  NEED_MEMBERSHIP_CERTIFICATE: 0x06,
  NETWORK_ACCESS_DENIED: 0x07,
  UNWANTED_MULTICAST: 0x08,
  NETWORK_AUTHENTICATION_REQUIRED: 0x09,
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

const ERROR_NAMES = new Map<number, string>(Object.entries(ErrorCode).map(([k, v]) => [v, k]));
export function errorCodeName(c: number): string {
  return ERROR_NAMES.get(c) ?? `ERROR_0x${c.toString(16).padStart(2, '0')}`;
}

// ---- Timers a root cares about (node/Constants.hpp) --------------------------------------------
/** ZT_PEER_ACTIVITY_TIMEOUT (ms): a peer silent this long is gone. */
export const PEER_ACTIVITY_TIMEOUT = 500000;
/** ZT_MIN_UNITE_INTERVAL (ms): RENDEZVOUS at most this often per unordered pair. */
export const MIN_UNITE_INTERVAL = 30000;
/** ZT_PEER_PATH_EXPIRATION (ms). */
export const PEER_PATH_EXPIRATION = 243000;

// ---- Worlds (node/World.hpp) -------------------------------------------------------------------
export const WORLD_MAX_ROOTS = 4;
export const WORLD_MAX_STABLE_ENDPOINTS_PER_ROOT = 32;
export const WORLD_MAX_SERIALIZED_LENGTH = 8480;
export const WORLD_ID_EARTH = 149604618n;
export const WORLD_ID_MARS = 227883110n;
