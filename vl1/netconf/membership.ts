/**
 * What 1.14 decides about another member from the credentials it presented (node/Membership.hpp/.cpp,
 * node/Network.cpp `gate`; shared/protocol/vl2.md §4.2), as pure functions of our config and their credentials.
 * The caller keeps, per (network, peer), the newest accepted COM, the valid tags/capabilities/COOs by id, and
 * revocation thresholds.
 */
import { ipv6Rfc4193Bytes, ipv6SixPlaneBytes } from '../mac-ip.js';
import { parseIp } from '../inet-address.js';
import { cooOwns, type CertificateOfOwnership } from './certificate-of-ownership.js';
import { comAgreesWith, comTimestamp, type CertificateOfMembership } from './com.js';
import { NetworkConfigFlag, NetworkType } from './constants.js';
import type { NetworkConfig } from './network-config.js';
import type { Identity } from '../identity.js';

/**
 * `Membership::isAllowedOnNetwork` / `Network::gate`: a PUBLIC network admits everyone; otherwise the peer's COM must
 * be newer than its revocation threshold and agree with ours (which a PRIVATE config without a COM never does).
 * No config: nobody.
 */
export function admitsPeer(config: NetworkConfig | null, peerCom: CertificateOfMembership | null, peerIdentity: Identity, comRevocationThreshold = 0n): boolean {
  if (config === null) return false;
  if (config.type === NetworkType.PUBLIC) return true;
  if (config.com === null || peerCom === null) return false;
  return comTimestamp(peerCom) > comRevocationThreshold && comAgreesWith(config.com, peerCom, peerIdentity);
}

/**
 * Whether a received COM replaces the stored one (`Membership::addCredential`, before the signature check):
 * 'revoked' (not newer than the threshold), 'old' (older than the stored one), 'same' (identical: nothing to do),
 * else 'verify' (check the signature, then store it).
 */
export function comUpdate(stored: CertificateOfMembership | null, received: CertificateOfMembership, comRevocationThreshold = 0n): 'revoked' | 'old' | 'same' | 'verify' {
  const ts = comTimestamp(received);
  if (ts <= comRevocationThreshold) return 'revoked';
  if (stored === null) return 'verify';
  if (ts < comTimestamp(stored)) return 'old';
  const same =
    stored.signedBy === received.signedBy &&
    stored.qualifiers.length === received.qualifiers.length &&
    stored.qualifiers.every((q, i) => q.id === received.qualifiers[i]!.id && q.value === received.qualifiers[i]!.value && q.maxDelta === received.qualifiers[i]!.maxDelta) &&
    (stored.signature ?? new Uint8Array(0)).every((b, i) => b === received.signature?.[i]);
  return same ? 'same' : 'verify';
}

/**
 * `Membership::_isCredentialTimestampValid`: a remote tag/capability/COO counts while its timestamp is within our
 * config's credential time max delta of our config's timestamp, and newer than any revocation of it.
 */
export function credentialTimely(config: NetworkConfig, timestamp: number, revocationThreshold?: number): boolean {
  if (Math.abs(timestamp - config.timestamp) > config.credentialTimeMaxDelta) return false;
  return revocationThreshold === undefined || timestamp > revocationThreshold;
}

/**
 * `senderOwns` for an inbound frame (`Membership::hasCertificateOfOwnershipFor`): one of the sender's valid COOs
 * lists the IP/MAC — or, with NDP emulation on, the IPv6 lies inside OUR 6PLANE /40 or RFC 4193 /88 (when we hold
 * that address): 1.14 then treats it as authenticated whoever sends it.
 */
export function inboundOwnership(config: NetworkConfig, senderValidCoos: readonly CertificateOfOwnership[]): (thing: Uint8Array | bigint) => boolean {
  const ndp = (config.flags & NetworkConfigFlag.ENABLE_IPV6_NDP_EMULATION) !== 0;
  const held = new Set(config.staticIps.filter((s) => s.family === 6).map((s) => toKey(parseIp(s.ip))));
  const six = ipv6SixPlaneBytes(config.networkId, config.issuedTo);
  const rfc = ipv6Rfc4193Bytes(config.networkId, config.issuedTo);
  const prefixes: Array<[Uint8Array, number]> = [];
  if (held.has(toKey(six))) prefixes.push([six, 5]);
  if (held.has(toKey(rfc))) prefixes.push([rfc, 11]);
  return (thing) => {
    if (senderValidCoos.some((c) => cooOwns(c, thing))) return true;
    if (!ndp || typeof thing === 'bigint' || thing.length !== 16) return false;
    return prefixes.some(([p, n]) => p.subarray(0, n).every((b, i) => b === thing[i]));
  };
}

function toKey(b: Uint8Array | null): string {
  return b === null ? '' : Buffer.from(b).toString('hex');
}
