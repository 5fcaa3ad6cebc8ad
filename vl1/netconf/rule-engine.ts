/**
 * The rules engine as a leaf runs it: `_doZtFilter` and its two callers `Network::filterOutgoingPacket` /
 * `Network::filterIncomingPacket` (node/Network.cpp; shared/protocol/vl2.md §3.6). Pure: everything the engine
 * needs to know about members (their tags, their certificates of ownership) and randomness comes in through a
 * {@link RuleContext}; what 1.14 would send (TEE/WATCH copies, REDIRECTs) comes back in the verdict for the caller
 * to send as EXT_FRAME.
 *
 * Semantics kept from 1.14, including its corners:
 *  - a set of matches starts true; a match with the OR bit ORs into the set, others AND (and are skipped once the
 *    set is false); NOT inverts the match; an action is taken when the set is true, else the set restarts;
 *  - a match that does not apply to the frame (IPv4 rule on IPv6, frame too short, …) is false whatever its NOT bit;
 *    port ranges on a non-port protocol are plain "no match" (so NOT makes them true), and on IPv6 port 0 never
 *    matches;
 *  - MATCH_CHARACTERISTICS is true when ANY bit of the mask is present;
 *  - an IPv6 prefix rule compares the masked frame address with the rule address as written (host bits in the rule
 *    never match); IPv4 compares both shifted;
 *  - MATCH_INTEGER_RANGE reads big-endian integers at offset + 8 − bytes (sic) and keeps (end − start) mod 2^32;
 *  - unknown match types yield the network flag RULES_RESULT_OF_UNSUPPORTED_MATCH; unknown actions are no-ops;
 *  - tag matches are lenient where the remote tag is unknown on the way out (and arm "skip the next DROP");
 *  - the capabilities are tried in order only when the table does not match; a DROP in a capability only ends that
 *    capability.
 */
import { randomInt } from 'node:crypto';
import { readU16 } from '../bytes.js';
import { cooOwns, type CertificateOfOwnership } from './certificate-of-ownership.js';
import { ETHERTYPE_ARP, ETHERTYPE_IPV4, ETHERTYPE_IPV6, NetworkConfigFlag } from './constants.js';
import { Characteristic, ruleType, RULE_ACTION_MAX_ID, type Rule } from './rules.js';

/** What one rule table says (`_doZtFilterResult`). */
export type TableResult = 'NO_MATCH' | 'DROP' | 'REDIRECT' | 'ACCEPT' | 'SUPER_ACCEPT';

/** The frame and its addressing, as the filter sees it. */
export interface FilterFrame {
  /** True for a frame received from a peer, false for one read from our TAP. */
  inbound: boolean;
  /** Sender's ZeroTier address (inbound: the peer; outbound: us). */
  ztSource: number;
  /** Receiver's ZeroTier address (inbound: us; outbound: the peer, or 0 for multicast). */
  ztDest: number;
  macSource: bigint;
  macDest: bigint;
  etherType: number;
  /** 0 from a TAP. */
  vlanId?: number;
  /** The Ethernet payload (after the 14-byte header). */
  payload: Uint8Array;
}

/** What the engine needs to know beyond the frame. */
export interface RuleContext {
  /** Our ZeroTier address. */
  self: number;
  /** The network config's flags (NetworkConfigFlag), for RULES_RESULT_OF_UNSUPPORTED_MATCH. */
  networkFlags: number;
  /** Value of our own tag `id` (the config's tags), if we hold one. */
  localTag?: (id: number) => number | undefined;
  /**
   * Value of the other member's tag `id` (inbound: the sender's; outbound: the receiver's), if it presented a valid
   * one (`Membership::getTag`: within the config's credential time delta, not revoked).
   */
  remoteTag?: (id: number) => number | undefined;
  /**
   * Whether the frame's sender holds a certificate of ownership for this IP (4/16 bytes) or MAC: inbound, the
   * sender's valid COOs; outbound, our config's COOs (see {@link ownsByCoos}).
   */
  senderOwns?: (thing: Uint8Array | bigint) => boolean;
  /** A uniformly random u32, for MATCH_RANDOM (default: node:crypto). */
  random?: () => number;
}

/** A copy 1.14 would send as EXT_FRAME (TEE/WATCH). */
export interface FrameCopy {
  to: number;
  /** Bytes of the payload to copy. */
  length: number;
  /** EXT_FRAME flags byte: 0x02 TEE out, 0x16 WATCH out, 0x08 TEE in, 0x1c WATCH in. */
  flags: number;
}

export interface FilterVerdict {
  /** 0 drop, 1 accept, 2 super-accept (we are a TEE/REDIRECT target: bridging checks are skipped). */
  accept: 0 | 1 | 2;
  /** Copies to send when accepted (the accepting capability's, then the table's, in 1.14's order). */
  copies: FrameCopy[];
  /** Send the whole frame as EXT_FRAME to `to` with `flags` (0x04 out, 0x0a in) INSTEAD of delivering it. */
  redirect?: { to: number; flags: number };
  /** Index of the capability (in the list given) that accepted, if it was one. */
  capability?: number;
}

export interface TableOutcome {
  result: TableResult;
  /** For REDIRECT: the new destination. */
  redirectTo?: number;
  /** The last TEE/WATCH target armed in this table. */
  copy?: { to: number; length: number; watch: boolean };
}

const defaultRandom = (): number => randomInt(0, 0x100000000);

/** Where the L4 header of an IPv6 packet starts and its protocol, past extension headers 0/43/60/135 (`_ipv6GetPayload`). */
export function ipv6Payload(p: Uint8Array): { pos: number; proto: number } | null {
  if (p.length < 40) return null;
  let pos = 40;
  let proto = p[6]!;
  while (pos <= p.length) {
    if (proto === 0 || proto === 43 || proto === 60 || proto === 135) {
      if (pos + 8 > p.length) return null;
      proto = p[pos]!;
      pos += p[pos + 1]! * 8 + 8;
    } else {
      return { pos, proto };
    }
  }
  return null;
}

const at = (p: Uint8Array, i: number): number => p[i] ?? 0;

/**
 * IPv4 prefix test as `InetAddress::containsAddress` (both sides shifted). Bits above 32 are undefined behaviour in
 * 1.14 (a negative shift); here they mean 32.
 */
function v4Contains(rule: Uint8Array, bits: number, p: Uint8Array, o: number): boolean {
  if (bits === 0) return true;
  const s = 32 - Math.min(bits, 32);
  const a = ((p[o]! << 24) | (p[o + 1]! << 16) | (p[o + 2]! << 8) | p[o + 3]!) >>> 0;
  const b = ((rule[0]! << 24) | (rule[1]! << 16) | (rule[2]! << 8) | rule[3]!) >>> 0;
  return Math.floor(a / 2 ** s) === Math.floor(b / 2 ** s);
}

/**
 * IPv6 prefix test as `InetAddress::containsAddress`: (frame & mask) must equal the rule address as written. Bits
 * above 128 (undefined in 1.14) mean 128.
 */
function v6Contains(rule: Uint8Array, bits: number, p: Uint8Array, o: number): boolean {
  const n = Math.min(bits, 128);
  for (let i = 0; i < 16; i++) {
    const m = i * 8 + 8 <= n ? 0xff : i * 8 >= n ? 0 : (0xff << (8 - (n - i * 8))) & 0xff;
    if ((p[o + i]! & m) !== rule[i]) return false;
  }
  return true;
}

function readInteger(payload: Uint8Array, offset: number, format: number): bigint {
  const bits = (format & 63) + 1;
  const bytes = Math.ceil(bits / 8);
  let v = 0n;
  if ((format & 0x80) === 0) {
    const idx = offset + (8 - bytes);
    if (idx + bytes <= payload.length) for (let i = idx; i < idx + bytes; i++) v = (v << 8n) | BigInt(payload[i]!);
    return v & (0xffffffffffffffffn >> BigInt(64 - bits));
  }
  if (offset + bytes <= payload.length) for (let i = offset; i < offset + bytes; i++) v = (v >> 8n) | (BigInt(payload[i]!) << 56n);
  return v >> BigInt(64 - bits);
}

/** The sender's source IP for ownership checks, or 'ns' for a neighbour solicitation (always counted as owned). */
function ownershipSource(f: FilterFrame): Uint8Array | 'ns' | null {
  const p = f.payload;
  if (f.etherType === ETHERTYPE_IPV4 && p.length >= 20) return p.subarray(12, 16);
  if (f.etherType === ETHERTYPE_IPV6 && p.length >= 40) {
    if (p.length >= 64 && p[6] === 0x3a && (p[40] === 0x87 || p[40] === 0x88)) return p[40] === 0x87 ? 'ns' : p.subarray(48, 64);
    return p.subarray(8, 24);
  }
  if (f.etherType === ETHERTYPE_ARP && p.length >= 28) return p.subarray(14, 18);
  return null;
}

function characteristics(f: FilterFrame, ctx: RuleContext): bigint {
  const p = f.payload;
  let cf = f.inbound ? Characteristic.INBOUND : 0n;
  if ((f.macDest >> 40n) & 1n) cf |= Characteristic.MULTICAST;
  if (f.macDest === 0xffffffffffffn) cf |= Characteristic.BROADCAST;
  const src = ownershipSource(f);
  if (src === 'ns') cf |= Characteristic.SENDER_IP_AUTHENTICATED;
  else if (src !== null && ctx.senderOwns?.(src)) cf |= Characteristic.SENDER_IP_AUTHENTICATED;
  if (ctx.senderOwns?.(f.macSource)) cf |= Characteristic.SENDER_MAC_AUTHENTICATED;
  let tcp = -1;
  if (f.etherType === ETHERTYPE_IPV4 && p.length >= 20 && p[9] === 0x06) tcp = 4 * (p[0]! & 0xf);
  else if (f.etherType === ETHERTYPE_IPV6) {
    const l4 = ipv6Payload(p);
    if (l4 !== null && l4.proto === 0x06 && p.length > l4.pos + 14) tcp = l4.pos;
  }
  // 1.14 reads the TCP flags without a bounds check on IPv4; bytes past the end count as 0 here.
  if (tcp >= 0) cf |= BigInt(at(p, tcp + 13) | ((at(p, tcp + 12) & 0x0f) << 8));
  return cf;
}

/** L4 port (source or destination) per `_doZtFilter`: -1 when the protocol has no ports or the frame is short. */
function port(f: FilterFrame, dest: boolean): number | 'n/a' {
  const p = f.payload;
  let proto: number;
  let pos: number;
  if (f.etherType === ETHERTYPE_IPV4 && p.length >= 20) {
    proto = p[9]!;
    pos = 4 * (p[0]! & 0xf);
  } else if (f.etherType === ETHERTYPE_IPV6) {
    const l4 = ipv6Payload(p);
    if (l4 === null) return 'n/a';
    ({ proto, pos } = l4);
  } else return 'n/a';
  if ((proto === 0x06 || proto === 0x11 || proto === 0x84 || proto === 0x88) && p.length > pos + 4) return readU16(p, pos + (dest ? 2 : 0));
  return -1;
}

/**
 * Evaluates one rule table (`_doZtFilter`).
 */
export function evaluateRules(rules: readonly Rule[], f: FilterFrame, ctx: RuleContext): TableOutcome {
  const p = f.payload;
  let superAccept = false;
  let set = true;
  let skipDrop = false;
  let copy: TableOutcome['copy'];
  let cf: bigint | undefined;

  for (const r of rules) {
    const type = ruleType(r);
    if (type <= RULE_ACTION_MAX_ID) {
      if (set) {
        switch (r.kind) {
          case 'ACTION_PRIORITY':
            return { result: 'ACCEPT', ...(copy && { copy }) };
          case 'ACTION_DROP':
            if (skipDrop) {
              skipDrop = false;
              continue;
            }
            return { result: 'DROP', ...(copy && { copy }) };
          case 'ACTION_ACCEPT':
            return { result: superAccept ? 'SUPER_ACCEPT' : 'ACCEPT', ...(copy && { copy }) };
          case 'ACTION_TEE':
          case 'ACTION_WATCH':
          case 'ACTION_REDIRECT': {
            const to = r.address;
            if (to === f.ztSource) {
              // the source is the target: nothing to do
            } else if (to === ctx.self) {
              if (f.inbound) return { result: 'SUPER_ACCEPT', ...(copy && { copy }) };
            } else if (to === f.ztDest) {
              // the destination is the target: nothing to do
            } else if (r.kind === 'ACTION_REDIRECT') {
              return { result: 'REDIRECT', redirectTo: to, ...(copy && { copy }) };
            } else {
              copy = { to, length: r.length !== 0 ? Math.min(p.length, r.length) : p.length, watch: r.kind === 'ACTION_WATCH' };
            }
            continue;
          }
          case 'ACTION_BREAK':
            return { result: 'NO_MATCH', ...(copy && { copy }) };
          default:
            continue; // unknown actions are no-ops
        }
      }
      // The set did not match: a TEE/WATCH/REDIRECT naming us still makes a later inbound ACCEPT a super-accept.
      if (f.inbound && (r.kind === 'ACTION_TEE' || r.kind === 'ACTION_WATCH' || r.kind === 'ACTION_REDIRECT') && r.address === ctx.self) {
        superAccept = true;
      }
      set = true;
      continue;
    }

    if (!set && !r.or) continue;

    const hardNo = r.not; // after the NOT is applied: false
    const hardYes = !r.not; // after the NOT is applied: true
    let m: boolean;
    switch (r.kind) {
      case 'MATCH_SOURCE_ZEROTIER_ADDRESS':
        m = r.address === f.ztSource;
        break;
      case 'MATCH_DEST_ZEROTIER_ADDRESS':
        m = r.address === f.ztDest;
        break;
      case 'MATCH_VLAN_ID':
        m = r.vlanId === ((f.vlanId ?? 0) & 0xffff);
        break;
      case 'MATCH_VLAN_PCP':
      case 'MATCH_VLAN_DEI':
        m = r.value === 0; // not supported by 1.14: matches iff the rule asks for 0
        break;
      case 'MATCH_MAC_SOURCE':
        m = r.mac === f.macSource;
        break;
      case 'MATCH_MAC_DEST':
        m = r.mac === f.macDest;
        break;
      case 'MATCH_IPV4_SOURCE':
      case 'MATCH_IPV4_DEST':
        m = f.etherType === ETHERTYPE_IPV4 && p.length >= 20 ? v4Contains(r.ip, r.bits, p, r.kind === 'MATCH_IPV4_SOURCE' ? 12 : 16) : hardNo;
        break;
      case 'MATCH_IPV6_SOURCE':
      case 'MATCH_IPV6_DEST':
        m = f.etherType === ETHERTYPE_IPV6 && p.length >= 40 ? v6Contains(r.ip, r.bits, p, r.kind === 'MATCH_IPV6_SOURCE' ? 8 : 24) : hardNo;
        break;
      case 'MATCH_IP_TOS': {
        let tos = -1;
        if (f.etherType === ETHERTYPE_IPV4 && p.length >= 20) tos = p[1]! & r.mask;
        else if (f.etherType === ETHERTYPE_IPV6 && p.length >= 40) tos = (((p[0]! << 4) & 0xf0) | ((p[1]! >> 4) & 0x0f)) & r.mask;
        m = tos < 0 ? hardNo : tos >= r.start && tos <= r.end;
        break;
      }
      case 'MATCH_IP_PROTOCOL':
        if (f.etherType === ETHERTYPE_IPV4 && p.length >= 20) m = r.protocol === p[9];
        else if (f.etherType === ETHERTYPE_IPV6) {
          const l4 = ipv6Payload(p);
          m = l4 === null ? hardNo : r.protocol === (l4.proto & 0xff);
        } else m = hardNo;
        break;
      case 'MATCH_ETHERTYPE':
        m = r.etherType === (f.etherType & 0xffff);
        break;
      case 'MATCH_ICMP': {
        let at4 = -1;
        if (f.etherType === ETHERTYPE_IPV4 && p.length >= 20) {
          const ihl = (p[0]! & 0xf) * 4;
          if (p[9] === 0x01 && p.length >= ihl + 2) at4 = ihl;
        } else if (f.etherType === ETHERTYPE_IPV6) {
          const l4 = ipv6Payload(p);
          if (l4 !== null && l4.proto === 0x3a && p.length >= l4.pos + 2) at4 = l4.pos;
        }
        if (at4 < 0 || r.icmpType !== p[at4]) m = hardNo;
        else m = (r.flags & 0x01) !== 0 ? p[at4 + 1] === r.icmpCode : hardYes;
        break;
      }
      case 'MATCH_IP_SOURCE_PORT_RANGE':
      case 'MATCH_IP_DEST_PORT_RANGE': {
        const v = port(f, r.kind === 'MATCH_IP_DEST_PORT_RANGE');
        if (v === 'n/a') m = hardNo;
        else {
          const ok = f.etherType === ETHERTYPE_IPV4 ? v >= 0 : v > 0; // sic: IPv6 port 0 never matches
          m = ok && v >= r.start && v <= r.end;
        }
        break;
      }
      case 'MATCH_CHARACTERISTICS':
        cf ??= characteristics(f, ctx);
        m = (cf & r.mask) !== 0n;
        break;
      case 'MATCH_FRAME_SIZE_RANGE':
        m = p.length >= r.start && p.length <= r.end;
        break;
      case 'MATCH_RANDOM':
        m = ((ctx.random ?? defaultRandom)() >>> 0) <= r.probability;
        break;
      case 'MATCH_TAGS_DIFFERENCE':
      case 'MATCH_TAGS_BITWISE_AND':
      case 'MATCH_TAGS_BITWISE_OR':
      case 'MATCH_TAGS_BITWISE_XOR':
      case 'MATCH_TAGS_EQUAL': {
        const lt = ctx.localTag?.(r.tagId);
        if (lt === undefined) {
          m = hardNo;
          break;
        }
        const rt = ctx.remoteTag?.(r.tagId);
        if (rt === undefined) {
          // Outbound (or as a TEE/REDIRECT target) the receiver's tags may not be known yet: lenient.
          if (f.inbound && !superAccept) m = hardNo;
          else {
            skipDrop = true;
            m = hardYes;
          }
          break;
        }
        const v = r.tagValue >>> 0;
        switch (r.kind) {
          case 'MATCH_TAGS_DIFFERENCE':
            m = Math.abs(lt - rt) <= v;
            break;
          case 'MATCH_TAGS_BITWISE_AND':
            m = (lt & rt) >>> 0 === v;
            break;
          case 'MATCH_TAGS_BITWISE_OR':
            m = (lt | rt) >>> 0 === v;
            break;
          case 'MATCH_TAGS_BITWISE_XOR':
            m = (lt ^ rt) >>> 0 === v;
            break;
          default:
            m = lt === v && rt === v;
        }
        break;
      }
      case 'MATCH_TAG_SENDER':
      case 'MATCH_TAG_RECEIVER': {
        if (superAccept) {
          skipDrop = true;
          m = hardYes;
        } else if ((r.kind === 'MATCH_TAG_SENDER') === f.inbound) {
          // the other member's tag: the sender's inbound, the receiver's outbound
          const rt = ctx.remoteTag?.(r.tagId);
          if (rt !== undefined) m = rt === r.tagValue;
          else if (r.kind === 'MATCH_TAG_RECEIVER') {
            skipDrop = true;
            m = hardYes;
          } else m = hardNo;
        } else {
          const lt = ctx.localTag?.(r.tagId);
          m = lt === undefined ? hardNo : lt === r.tagValue;
        }
        break;
      }
      case 'MATCH_INTEGER_RANGE': {
        const x = readInteger(p, r.offset, r.format);
        const upper = (r.start + ((r.end - r.start) & 0xffffffffn)) & 0xffffffffffffffffn;
        m = x >= r.start && x <= upper;
        break;
      }
      default:
        // Unknown (or unsupported) match types: the network decides.
        m = (ctx.networkFlags & NetworkConfigFlag.RULES_RESULT_OF_UNSUPPORTED_MATCH) !== 0;
    }
    if (r.or) set = set || m !== r.not;
    else set = set && m !== r.not;
  }
  return { result: 'NO_MATCH', ...(copy && { copy }) };
}

function copyOf(c: NonNullable<TableOutcome['copy']>, inbound: boolean): FrameCopy {
  return { to: c.to, length: c.length, flags: inbound ? (c.watch ? 0x1c : 0x08) : c.watch ? 0x16 : 0x02 };
}

/**
 * `Network::filterOutgoingPacket`: the config's table, then (if it does not match) our own capabilities in order.
 * `noTee` suppresses copies (1.14 sets it for the 2nd..nth recipients of one multicast).
 */
export function filterOutgoing(
  rules: readonly Rule[],
  capabilities: ReadonlyArray<readonly Rule[]>,
  frame: FilterFrame,
  ctx: RuleContext,
  noTee = false,
): FilterVerdict {
  const f = { ...frame, inbound: false };
  return filter(rules, capabilities, f, ctx, noTee, 0x04);
}

/**
 * `Network::filterIncomingPacket`: the config's table, then (if it does not match) the capabilities the sender
 * presented (valid ones, in order).
 */
export function filterIncoming(rules: readonly Rule[], senderCapabilities: ReadonlyArray<readonly Rule[]>, frame: FilterFrame, ctx: RuleContext): FilterVerdict {
  const f = { ...frame, inbound: true };
  return filter(rules, senderCapabilities, f, ctx, false, 0x0a);
}

function filter(
  rules: readonly Rule[],
  caps: ReadonlyArray<readonly Rule[]>,
  f: FilterFrame,
  ctx: RuleContext,
  noTee: boolean,
  redirectFlags: number,
): FilterVerdict {
  const main = evaluateRules(rules, f, ctx);
  let accept: 0 | 1 | 2 = 0;
  let redirectTo = main.result === 'REDIRECT' ? main.redirectTo : undefined;
  const copies: FrameCopy[] = [];
  let capability: number | undefined;
  switch (main.result) {
    case 'DROP':
      return { accept: 0, copies };
    case 'REDIRECT':
    case 'ACCEPT':
      accept = 1;
      break;
    case 'SUPER_ACCEPT':
      accept = 2;
      break;
    case 'NO_MATCH':
      for (let i = 0; i < caps.length; i++) {
        const c = evaluateRules(caps[i]!, f, ctx);
        if (c.result === 'NO_MATCH' || c.result === 'DROP') continue;
        // Outbound, a capability's super-accept is a plain accept.
        accept = c.result === 'SUPER_ACCEPT' && f.inbound ? 2 : 1;
        if (c.result === 'REDIRECT') redirectTo = c.redirectTo;
        if (c.copy && !noTee) copies.push(copyOf(c.copy, f.inbound));
        capability = i;
        break;
      }
      break;
  }
  if (accept === 0) return { accept: 0, copies: [] };
  // 1.14 sends the capability's copy first (inside its loop), then the table's.
  if (main.copy && !noTee) copies.push(copyOf(main.copy, f.inbound));
  const verdict: FilterVerdict = { accept, copies };
  if (capability !== undefined) verdict.capability = capability;
  if (redirectTo !== undefined && redirectTo !== 0 && redirectTo !== f.ztDest) {
    verdict.accept = 0; // delivered to the redirect target instead
    verdict.redirect = { to: redirectTo, flags: redirectFlags };
  }
  return verdict;
}

/**
 * `senderOwns` for a set of certificates of ownership: outbound, our config's COOs (`NetworkConfig::
 * certificatesOfOwnership`); inbound, the sender's COOs that are valid (the caller filters by time and revocation).
 */
export function ownsByCoos(coos: readonly CertificateOfOwnership[]): (thing: Uint8Array | bigint) => boolean {
  return (thing) => coos.some((c) => cooOwns(c, thing));
}
