/**
 * Ad-hoc networks: network ids starting with 0xff are configured locally, never requested from a controller
 * (node/Network.cpp `requestConfiguration`; shared/protocol/vl2.md §1.2). 1.14 re-synthesizes the config at every
 * refresh (so its timestamp changes every 60 s).
 *
 *   Form A  ff SSSS EEEE 000000   ports [S, E]: 6PLANE /40, IPv6 only, TCP connections only toward [S, E]
 *   Form B  ff AA hhhhhhhhhh 01   6PLANE /40 + IPv4 AA.x.y.z/8 (x.y.z = low 3 bytes of our address), accept all
 *   other   ff…                   nothing happens (the network stays REQUESTING_CONFIGURATION)
 */
import { formatIpv4, formatIpv6 } from '../inet-address.js';
import { ipv6SixPlaneBytes, IPV6_6PLANE_PREFIX_BITS } from '../mac-ip.js';
import { CREDENTIAL_TIME_MAX_MAX_DELTA, DEFAULT_MTU, NetworkConfigFlag, NetworkStatus, NetworkType } from './constants.js';
import { emptyNetworkConfig, type NetworkConfig } from './network-config.js';
import { Characteristic, rule, type Rule } from './rules.js';

export type AdhocOutcome =
  | { kind: 'config'; config: NetworkConfig }
  /** Form A with end port < start port. */
  | { kind: 'status'; status: typeof NetworkStatus.NOT_FOUND }
  /** An 0xff id of neither form: 1.14 does nothing. */
  | { kind: 'none' };

/** True for any network id 1.14 configures locally (top byte 0xff). */
export function isAdhocNetworkId(nwid: bigint): boolean {
  return nwid >> 56n === 0xffn;
}

/**
 * The 14-rule table of a Form A network (wire form in vl2.md §1.2): drop non-IPv6, accept ICMPv6, accept UDP/TCP to
 * [start, end], accept anything without SYN, accept SYN+ACK, drop the rest (a bare SYN to another port).
 */
export function adhocRules(startPort: number, endPort: number): Rule[] {
  return [
    rule('MATCH_ETHERTYPE', { etherType: 0x86dd, not: true }),
    rule('ACTION_DROP'),
    rule('MATCH_IP_PROTOCOL', { protocol: 0x3a }),
    rule('ACTION_ACCEPT'),
    rule('MATCH_IP_PROTOCOL', { protocol: 0x11 }),
    rule('MATCH_IP_PROTOCOL', { protocol: 0x06, or: true }),
    rule('MATCH_IP_DEST_PORT_RANGE', { start: startPort, end: endPort }),
    rule('ACTION_ACCEPT'),
    rule('MATCH_CHARACTERISTICS', { mask: Characteristic.TCP_SYN, not: true }),
    rule('ACTION_ACCEPT'),
    rule('MATCH_CHARACTERISTICS', { mask: Characteristic.TCP_SYN }),
    rule('MATCH_CHARACTERISTICS', { mask: Characteristic.TCP_ACK }),
    rule('ACTION_ACCEPT'),
    rule('ACTION_DROP'),
  ];
}

/**
 * What 1.14 does for an ad-hoc network id at time `now` (ms) on the node `self`.
 * Not meant for ids without the 0xff top byte (returns 'none').
 */
export function synthesizeAdhocConfig(nwid: bigint, self: number, now: number): AdhocOutcome {
  if (!isAdhocNetworkId(nwid)) return { kind: 'none' };
  const base = (): NetworkConfig => {
    const c = emptyNetworkConfig(nwid, self);
    c.timestamp = now;
    c.credentialTimeMaxDelta = CREDENTIAL_TIME_MAX_MAX_DELTA;
    c.revision = 1;
    c.flags = NetworkConfigFlag.ENABLE_IPV6_NDP_EMULATION;
    c.mtu = DEFAULT_MTU;
    c.type = NetworkType.PUBLIC;
    c.staticIps = [{ family: 6, ip: formatIpv6(ipv6SixPlaneBytes(nwid, self)), bits: IPV6_6PLANE_PREFIX_BITS }];
    return c;
  };
  if ((nwid & 0xffffffn) === 0n) {
    const start = Number((nwid >> 40n) & 0xffffn);
    const end = Number((nwid >> 24n) & 0xffffn);
    if (end < start) return { kind: 'status', status: NetworkStatus.NOT_FOUND };
    const c = base();
    c.multicastLimit = 0;
    c.rules = adhocRules(start, end);
    const hex4 = (p: number): string => p.toString(16).padStart(4, '0');
    c.name = `adhoc-${hex4(start)}-${hex4(end)}`;
    return { kind: 'config', config: c };
  }
  if ((nwid & 0xffn) === 0x01n) {
    const first = Number((nwid >> 48n) & 0xffn);
    const hub = (nwid >> 8n) & 0xffffffffffn;
    const c = base();
    c.multicastLimit = 1024;
    // The "hub" goes in as a specialist without role bits, so nothing uses it (as in 1.14).
    if (hub !== 0n) c.specialists = [hub];
    const v4 = new Uint8Array([first, (self >>> 16) & 0xff, (self >>> 8) & 0xff, self & 0xff]);
    c.staticIps.push({ family: 4, ip: formatIpv4(v4), bits: 8 });
    c.rules = [rule('ACTION_ACCEPT')];
    c.name = `adhoc-${first}.0.0.0`;
    return { kind: 'config', config: c };
  }
  return { kind: 'none' };
}
