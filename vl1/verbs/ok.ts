/**
 * OK (verb 0x03) payload — shared/protocol/vl1.md §5.4; parsed by `IncomingPacket::_doOK`.
 *
 *   inReVerb[1] | inRePacketId u64 (the request's wire packet id) | body per in-re verb:
 *
 *   HELLO             timestampEcho u64 | protocolVersion[1] | major[1] | minor[1] | revision u16
 *                     | [physical address the HELLO came from (InetAddress)]   only if bytes remain
 *                     | [worldUpdatesLength u16 | serialized worlds]           only if ≥ 2 bytes remain
 *   WHOIS             one or more public identities back to back
 *   ECHO              a copy of the ECHO payload
 *   MULTICAST_GATHER  nwid u64 | mac[6] | adi u32 | totalKnown u32 | count u16 | count × address[5]
 *   MULTICAST_FRAME   nwid u64 | mac[6] | adi u32 | flags[1] | [COM if flags & 0x01]
 *                     | [totalKnown u32 | count u16 | count × address[5]   if flags & 0x02]   (vl2.md §5.7)
 *   NETWORK_CONFIG    nwid u64 | configUpdateId u64
 *   anything else     kept as raw bytes (`kind: 'OTHER'`), e.g. OK(NETWORK_CONFIG_REQUEST)'s netconf chunk
 */
import { ByteReader, ByteWriter } from '../bytes.js';
import { Verb } from '../constants.js';
import { ZtError, ZtErrorCode } from '../errors.js';
import { Identity } from '../identity.js';
import { readInetAddress, writeInetAddress, type InetAddress } from '../inet-address.js';
import { readComBytes } from './multicast.js';
import { checkInt, readMac, readSafeU64, writeAddress, writeLengthPrefixed, writeMac, writeSafeU64, writeU64 } from './common.js';

interface OkBase {
  inReVerb: number;
  /** The request's packet id as it was on the wire (for suite 3: the encrypted tag half). */
  inRePacketId: bigint;
}

export interface OkHello extends OkBase {
  kind: 'HELLO';
  timestampEcho: number;
  protocolVersion: number;
  versionMajor: number;
  versionMinor: number;
  versionRevision: number;
  /** The HELLO's source as the responder saw it; undefined when absent, null for nil/placeholder types. */
  physicalAddress?: InetAddress | null;
  /** Serialized worlds (planet/moons) back to back, without their u16 length; undefined when absent. */
  worldUpdates?: Uint8Array;
}

export interface OkWhois extends OkBase {
  kind: 'WHOIS';
  identities: Identity[];
}

export interface OkEcho extends OkBase {
  kind: 'ECHO';
  payload: Uint8Array;
}

export interface OkMulticastGather extends OkBase {
  kind: 'MULTICAST_GATHER';
  networkId: bigint;
  mac: bigint;
  adi: number;
  /** How many members the responder knows in total (may exceed `members.length`). */
  totalKnown: number;
  members: number[];
}

/** Answer to a MULTICAST_FRAME that asked for an implicit gather (`IncomingPacket::_doMULTICAST_FRAME`). */
export interface OkMulticastFrame extends OkBase {
  kind: 'MULTICAST_FRAME';
  networkId: bigint;
  mac: bigint;
  adi: number;
  /** 0x01 ⇔ `com` present (deprecated); 0x02 ⇔ gather results (`totalKnown`, `members`) present. */
  flags: number;
  com?: Uint8Array;
  totalKnown?: number;
  members?: number[];
}

export interface OkNetworkConfig extends OkBase {
  kind: 'NETWORK_CONFIG';
  networkId: bigint;
  configUpdateId: bigint;
}

export interface OkOther extends OkBase {
  kind: 'OTHER';
  body: Uint8Array;
}

export type Ok = OkHello | OkWhois | OkEcho | OkMulticastGather | OkMulticastFrame | OkNetworkConfig | OkOther;

/** The in-re verb each typed body belongs to. */
const KIND_VERB = {
  HELLO: Verb.HELLO,
  WHOIS: Verb.WHOIS,
  ECHO: Verb.ECHO,
  MULTICAST_GATHER: Verb.MULTICAST_GATHER,
  MULTICAST_FRAME: Verb.MULTICAST_FRAME,
  NETWORK_CONFIG: Verb.NETWORK_CONFIG,
} as const;

/** OK(MULTICAST_FRAME) flags. */
export const OK_MULTICAST_FRAME_FLAG_COM = 0x01;
export const OK_MULTICAST_FRAME_FLAG_GATHER = 0x02;

function readMembers(r: ByteReader, what: string): number[] {
  const count = r.u16(`${what} count`);
  if (count * 5 > r.remaining) {
    throw new ZtError(ZtErrorCode.TRUNCATED, `${what}: count ${count} needs ${count * 5} bytes, have ${r.remaining}`);
  }
  const members: number[] = [];
  for (let i = 0; i < count; i++) members.push(r.u40(`${what} member`));
  return members;
}

/**
 * Decodes an OK payload; the body is typed for in-re HELLO/WHOIS/ECHO/MULTICAST_GATHER/MULTICAST_FRAME/NETWORK_CONFIG.
 * (OK(NETWORK_CONFIG_REQUEST) stays OTHER: its body is a config chunk, vl1/netconf/config-chunk.ts.)
 * @throws {ZtError} TRUNCATED, TRAILING_BYTES (fixed-layout bodies), BAD_VALUE, UNKNOWN_IDENTITY_TYPE.
 */
export function decodeOk(payload: Uint8Array): Ok {
  const r = new ByteReader(payload);
  const inReVerb = r.u8('OK in-re verb');
  const inRePacketId = r.u64('OK in-re packet id');
  switch (inReVerb) {
    case Verb.HELLO: {
      const ok: OkHello = {
        kind: 'HELLO',
        inReVerb,
        inRePacketId,
        timestampEcho: readSafeU64(r, 'OK(HELLO) timestamp echo'),
        protocolVersion: r.u8('OK(HELLO) protocol version'),
        versionMajor: r.u8('OK(HELLO) major version'),
        versionMinor: r.u8('OK(HELLO) minor version'),
        versionRevision: r.u16('OK(HELLO) revision'),
      };
      if (r.remaining > 0) ok.physicalAddress = readInetAddress(r);
      if (r.remaining >= 2) ok.worldUpdates = r.bytes(r.u16('OK(HELLO) world updates length'), 'OK(HELLO) world updates');
      r.expectEnd('OK(HELLO)');
      return ok;
    }
    case Verb.WHOIS: {
      const identities: Identity[] = [];
      do identities.push(Identity.read(r));
      while (r.remaining > 0);
      return { kind: 'WHOIS', inReVerb, inRePacketId, identities };
    }
    case Verb.ECHO:
      return { kind: 'ECHO', inReVerb, inRePacketId, payload: r.rest() };
    case Verb.MULTICAST_GATHER: {
      const networkId = r.u64('OK(MULTICAST_GATHER) network id');
      const mac = readMac(r, 'OK(MULTICAST_GATHER) MAC');
      const adi = r.u32('OK(MULTICAST_GATHER) ADI');
      const totalKnown = r.u32('OK(MULTICAST_GATHER) total known');
      const members = readMembers(r, 'OK(MULTICAST_GATHER)');
      r.expectEnd('OK(MULTICAST_GATHER)');
      return { kind: 'MULTICAST_GATHER', inReVerb, inRePacketId, networkId, mac, adi, totalKnown, members };
    }
    case Verb.MULTICAST_FRAME: {
      const ok: OkMulticastFrame = {
        kind: 'MULTICAST_FRAME',
        inReVerb,
        inRePacketId,
        networkId: r.u64('OK(MULTICAST_FRAME) network id'),
        mac: readMac(r, 'OK(MULTICAST_FRAME) MAC'),
        adi: r.u32('OK(MULTICAST_FRAME) ADI'),
        flags: r.u8('OK(MULTICAST_FRAME) flags'),
      };
      if (ok.flags & OK_MULTICAST_FRAME_FLAG_COM) ok.com = readComBytes(r);
      if (ok.flags & OK_MULTICAST_FRAME_FLAG_GATHER) {
        ok.totalKnown = r.u32('OK(MULTICAST_FRAME) total known');
        ok.members = readMembers(r, 'OK(MULTICAST_FRAME)');
      }
      r.expectEnd('OK(MULTICAST_FRAME)');
      return ok;
    }
    case Verb.NETWORK_CONFIG: {
      const networkId = r.u64('OK(NETWORK_CONFIG) network id');
      const configUpdateId = r.u64('OK(NETWORK_CONFIG) config update id');
      r.expectEnd('OK(NETWORK_CONFIG)');
      return { kind: 'NETWORK_CONFIG', inReVerb, inRePacketId, networkId, configUpdateId };
    }
    default:
      return { kind: 'OTHER', inReVerb, inRePacketId, body: r.rest() };
  }
}

/**
 * Encodes an OK payload. For typed kinds `inReVerb` must be that kind's verb.
 * @throws {ZtError} BAD_VALUE for out-of-range fields or a kind/inReVerb mismatch; TOO_LONG for oversized blobs.
 */
export function encodeOk(ok: Ok): Uint8Array {
  checkInt(ok.inReVerb, 0xff, 'OK in-re verb');
  if (ok.kind !== 'OTHER' && KIND_VERB[ok.kind] !== ok.inReVerb) {
    throw new ZtError(ZtErrorCode.BAD_VALUE, `OK: kind ${ok.kind} needs in-re verb ${KIND_VERB[ok.kind]}, got ${ok.inReVerb}`);
  }
  const w = new ByteWriter(64);
  w.u8(ok.inReVerb);
  writeU64(w, ok.inRePacketId, 'OK in-re packet id');
  switch (ok.kind) {
    case 'HELLO':
      checkInt(ok.protocolVersion, 0xff, 'OK(HELLO) protocol version');
      checkInt(ok.versionMajor, 0xff, 'OK(HELLO) major version');
      checkInt(ok.versionMinor, 0xff, 'OK(HELLO) minor version');
      checkInt(ok.versionRevision, 0xffff, 'OK(HELLO) revision');
      writeSafeU64(w, ok.timestampEcho, 'OK(HELLO) timestamp echo');
      w.u8(ok.protocolVersion).u8(ok.versionMajor).u8(ok.versionMinor).u16(ok.versionRevision);
      if (ok.physicalAddress !== undefined) writeInetAddress(w, ok.physicalAddress);
      if (ok.worldUpdates !== undefined) {
        if (ok.physicalAddress === undefined) {
          throw new ZtError(ZtErrorCode.BAD_VALUE, 'OK(HELLO): worldUpdates need physicalAddress (null for nil)');
        }
        writeLengthPrefixed(w, ok.worldUpdates, 'OK(HELLO) world updates');
      }
      break;
    case 'WHOIS':
      if (ok.identities.length === 0) throw new ZtError(ZtErrorCode.BAD_VALUE, 'OK(WHOIS): at least one identity');
      for (const id of ok.identities) w.bytes(id.toBinary(false));
      break;
    case 'ECHO':
      w.bytes(ok.payload);
      break;
    case 'MULTICAST_GATHER':
      writeU64(w, ok.networkId, 'OK(MULTICAST_GATHER) network id');
      writeMac(w, ok.mac, 'OK(MULTICAST_GATHER) MAC');
      checkInt(ok.adi, 0xffffffff, 'OK(MULTICAST_GATHER) ADI');
      checkInt(ok.totalKnown, 0xffffffff, 'OK(MULTICAST_GATHER) total known');
      if (ok.members.length > 0xffff) throw new ZtError(ZtErrorCode.TOO_LONG, `OK(MULTICAST_GATHER): ${ok.members.length} members`);
      w.u32(ok.adi).u32(ok.totalKnown).u16(ok.members.length);
      for (const m of ok.members) writeAddress(w, m, 'OK(MULTICAST_GATHER) member');
      break;
    case 'MULTICAST_FRAME': {
      writeU64(w, ok.networkId, 'OK(MULTICAST_FRAME) network id');
      writeMac(w, ok.mac, 'OK(MULTICAST_FRAME) MAC');
      checkInt(ok.adi, 0xffffffff, 'OK(MULTICAST_FRAME) ADI');
      checkInt(ok.flags, 0xff, 'OK(MULTICAST_FRAME) flags');
      const hasCom = (ok.flags & OK_MULTICAST_FRAME_FLAG_COM) !== 0;
      const hasGather = (ok.flags & OK_MULTICAST_FRAME_FLAG_GATHER) !== 0;
      if (hasCom !== (ok.com !== undefined) || hasGather !== (ok.totalKnown !== undefined) || hasGather !== (ok.members !== undefined)) {
        throw new ZtError(ZtErrorCode.BAD_VALUE, `OK(MULTICAST_FRAME): flags 0x${ok.flags.toString(16)} disagree with the fields present`);
      }
      w.u32(ok.adi).u8(ok.flags);
      if (ok.com !== undefined) {
        const cr = new ByteReader(ok.com);
        readComBytes(cr);
        cr.expectEnd('OK(MULTICAST_FRAME) COM');
        w.bytes(ok.com);
      }
      if (ok.totalKnown !== undefined && ok.members !== undefined) {
        checkInt(ok.totalKnown, 0xffffffff, 'OK(MULTICAST_FRAME) total known');
        if (ok.members.length > 0xffff) throw new ZtError(ZtErrorCode.TOO_LONG, `OK(MULTICAST_FRAME): ${ok.members.length} members`);
        w.u32(ok.totalKnown).u16(ok.members.length);
        for (const m of ok.members) writeAddress(w, m, 'OK(MULTICAST_FRAME) member');
      }
      break;
    }
    case 'NETWORK_CONFIG':
      writeU64(w, ok.networkId, 'OK(NETWORK_CONFIG) network id');
      writeU64(w, ok.configUpdateId, 'OK(NETWORK_CONFIG) config update id');
      break;
    case 'OTHER':
      w.bytes(ok.body);
      break;
  }
  return w.finish();
}
