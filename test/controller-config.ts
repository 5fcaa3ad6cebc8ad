/**
 * What the test controller (test/test-controller.ts) sends, as pure functions so the unit tests of leaf/network.ts
 * feed a Network the very same bytes: the config a member is issued (vl2.md §3.3: PRIVATE, managed IPv4 and
 * routes, ACCEPT rules, a COM signed by the controller), its signed chunks (§2.3), the revocation of a deauthorized
 * member (§4.4), and the attacks — configs that are malformed, for another network or member, signed by the wrong
 * key, truncated or oversized, and frames a member cannot send.
 */
import { Verb } from '../vl1/constants.js';
import { ByteWriter } from '../vl1/bytes.js';
import type { Identity } from '../vl1/identity.js';
import { parseIp } from '../vl1/inet-address.js';
import { createCom, signCom, type CertificateOfMembership } from '../vl1/netconf/com.js';
import { encodeConfigChunk, makeConfigChunks } from '../vl1/netconf/config-chunk.js';
import type { IpPrefix, Route } from '../vl1/netconf/config-blobs.js';
import { CREDENTIAL_TIME_DEFAULT_MAX_DELTA, NETWORKCONFIG_DICT_CAPACITY, NETWORK_MAX_UPDATE_CHUNKS, NetworkConfigFlag, NetworkType } from '../vl1/netconf/constants.js';
import { emptyNetworkConfig, encodeNetworkConfig, networkConfigToDictionary, type NetworkConfig } from '../vl1/netconf/network-config.js';
import { REVOCATION_FLAG_FAST_PROPAGATE, signRevocation } from '../vl1/netconf/revocation.js';
import { rule } from '../vl1/netconf/rules.js';
import { encodeExtFrame, encodeFrame } from '../vl1/verbs/frame.js';
import { encodeMulticastFrame } from '../vl1/verbs/multicast-frame.js';
import { credentialsPush, encodeNetworkCredentials } from '../vl1/verbs/network-credentials.js';

/** A network as the test controller keeps it. */
export interface TestNetwork {
  nwid: bigint;
  name: string;
  /** Managed IPv4 addresses are handed out from here, in order. */
  pool: { first: string; last: string };
  /** "10.147.17.0/24" (on-link) or "10.200.0.0/16 via 10.147.17.1". */
  routes: string[];
  /** Bumped on every member change, as 1.14's network `revision`. */
  revision: number;
  /** Largest chunk (default 9740): small values make every config a multi-chunk update. */
  chunkLength?: number;
}

/** What a member is issued. */
export interface IssuedMember {
  identity: Identity;
  ip: string;
}

const ACCEPT_ALL = [rule('ACTION_ACCEPT')];

export function parseRoute(s: string): Route {
  const m = /^([0-9.]+)\/(\d+)(?: via ([0-9.]+))?$/.exec(s.trim());
  if (m === null) throw new Error(`route ${JSON.stringify(s)}: expected "a.b.c.d/bits" or "a.b.c.d/bits via a.b.c.d"`);
  return { target: { family: 4, ip: m[1]!, bits: Number(m[2]) }, via: m[3] === undefined ? null : { family: 4, ip: m[3], port: 0 }, flags: 0, metric: 0 };
}

function ipv4Number(ip: string): number {
  const b = parseIp(ip);
  if (b === null || b.length !== 4) throw new Error(`${ip} is not an IPv4 address`);
  return ((b[0]! << 24) | (b[1]! << 16) | (b[2]! << 8) | b[3]!) >>> 0;
}

function ipv4Text(n: number): string {
  return [n >>> 24, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff].join('.');
}

/** The first pool address not in `used`, or null when the pool is exhausted. */
export function nextPoolAddress(net: TestNetwork, used: ReadonlySet<string>): string | null {
  for (let n = ipv4Number(net.pool.first); n <= ipv4Number(net.pool.last); n++) if (!used.has(ipv4Text(n))) return ipv4Text(n);
  return null;
}

/** As 1.14's controller: an assigned address takes the prefix of the most specific on-link route holding it (else /32). */
function staticIp(net: TestNetwork, ip: string): IpPrefix {
  const n = ipv4Number(ip);
  const holds = (target: IpPrefix): boolean => target.bits === 0 || n >>> (32 - target.bits) === ipv4Number(target.ip) >>> (32 - target.bits);
  const bits = net.routes.map(parseRoute).filter((r) => r.via === null && holds(r.target)).map((r) => r.target.bits);
  return { family: 4, ip, bits: bits.length === 0 ? 32 : Math.max(...bits) };
}

/** The COM `member` gets for `nwid` at `now`, signed by `controller`. */
export function memberCom(controller: Identity, nwid: bigint, member: Identity, now: number): CertificateOfMembership {
  return signCom(createCom({ timestamp: now, maxDelta: CREDENTIAL_TIME_DEFAULT_MAX_DELTA, networkId: nwid, issuedTo: member }), controller);
}

/** The config a 1.14 controller would issue `m` (vl2.md §9.1 step 5, with the defaults of a new network). */
export function memberConfig(net: TestNetwork, m: IssuedMember, controller: Identity, now: number): NetworkConfig {
  return {
    ...emptyNetworkConfig(net.nwid, m.identity.address),
    timestamp: now,
    credentialTimeMaxDelta: CREDENTIAL_TIME_DEFAULT_MAX_DELTA,
    revision: net.revision,
    flags: NetworkConfigFlag.ENABLE_BROADCAST,
    multicastLimit: 32,
    type: NetworkType.PRIVATE,
    name: net.name,
    com: memberCom(controller, net.nwid, m.identity, now),
    routes: net.routes.map(parseRoute),
    staticIps: [staticIp(net, m.ip)],
    rules: ACCEPT_ALL,
  };
}

/** A fresh non-zero config update id. */
export function randomUpdateId(): bigint {
  const b = new Uint8Array(8);
  crypto.getRandomValues(b);
  b[0] = b[0]! | 1;
  return new DataView(b.buffer).getBigUint64(0);
}

/** Chunk bodies (each the payload of one NETWORK_CONFIG, or the body of one OK(NETWORK_CONFIG_REQUEST)). */
export function configChunkBodies(dictionary: Uint8Array, nwid: bigint, signer: Identity, chunkLength?: number): Uint8Array[] {
  return makeConfigChunks(dictionary, { networkId: nwid, updateId: randomUpdateId(), signer, ...(chunkLength !== undefined ? { maxChunkLength: chunkLength } : {}) }).map(encodeConfigChunk);
}

/** NETWORK_CREDENTIALS revoking `target`'s COMs up to `now` (what 1.14 sends every online member on a deauthorization). */
export function revocationPayload(controller: Identity, nwid: bigint, target: number, now: number): Uint8Array {
  const revocation = signRevocation({ id: (now & 0x7fffffff) >>> 0, networkId: nwid, credentialId: 0, threshold: now, flags: REVOCATION_FLAG_FAST_PROPAGATE, target, credentialType: 1 }, controller);
  return encodeNetworkCredentials({ coms: [], terminated: true, capabilities: [], tags: [], revocations: [revocation], coos: [] });
}

/** NETWORK_CREDENTIALS presenting `com` (a member pushing its own, or an attacker someone else's). */
export function credentialsPayload(com: CertificateOfMembership): Uint8Array {
  return encodeNetworkCredentials(credentialsPush({ com }));
}

// ---- attacks ------------------------------------------------------------------------------------------------------

export const CONFIG_ATTACKS = [
  /** A signed update whose dictionary is not a network config (no nwid, no id). */
  'garbage-dictionary',
  /** A signed config whose static-IP blob has an undefined address type: 1.14 refuses the whole config. */
  'bad-static-ip',
  /** Chunks of this network carrying a config of another network. */
  'other-network',
  /** A config issued to another member. */
  'issued-to-other',
  /** A good-looking config signed by a key that is not the controller's. */
  'wrong-key',
  /** A chunk cut inside its signature. */
  'truncated-chunk',
  /** A signed chunk announcing a total at NETWORKCONFIG_DICT_CAPACITY. */
  'oversized-total',
  /** One update in more chunks than NETWORK_MAX_UPDATE_CHUNKS: the extra ones. */
  'too-many-chunks',
  /** A signed config of a network the member has not joined. */
  'unjoined-network',
] as const;
export type ConfigAttack = (typeof CONFIG_ATTACKS)[number];

export interface AttackContext {
  /** The real controller (signs what must look genuine). */
  controller: Identity;
  /** Any other identity with a private key. */
  wrongSigner: Identity;
  /** The last good config of the attacked member. */
  good: NetworkConfig;
  /** Another network of the same controller, not joined by the member. */
  otherNetwork: bigint;
  /** Another member's address. */
  otherMember: number;
}

/** TAMPERED_IP would show on the TAP if any attack config were taken. */
export const TAMPERED_IP = '10.99.99.99';

/** What an attack config says, were it believed: another revision, name and address. */
function tampered(good: NetworkConfig): NetworkConfig {
  return { ...good, revision: good.revision + 1000, name: 'tampered', staticIps: [{ family: 4, ip: TAMPERED_IP, bits: 24 }] };
}

/** The NETWORK_CONFIG payloads of one attack on the member `ctx.good` was issued to. */
export function configAttack(kind: ConfigAttack, ctx: AttackContext): Uint8Array[] {
  const nwid = ctx.good.networkId;
  const bad = tampered(ctx.good);
  const signed = (dict: Uint8Array, chunkNwid = nwid, signer = ctx.controller): Uint8Array[] => configChunkBodies(dict, chunkNwid, signer);
  switch (kind) {
    case 'garbage-dictionary':
      return signed(new TextEncoder().encode('this is not a network config'));
    case 'bad-static-ip': {
      const d = networkConfigToDictionary(bad);
      const i = d.entries.findIndex(([k]) => k === 'I');
      d.entries[i]![1] = Uint8Array.of(0x09, 1, 2, 3, 4);
      return signed(d.encode());
    }
    case 'other-network':
      return signed(encodeNetworkConfig({ ...bad, networkId: ctx.otherNetwork }));
    case 'issued-to-other':
      return signed(encodeNetworkConfig({ ...bad, issuedTo: ctx.otherMember }));
    case 'wrong-key':
      return signed(encodeNetworkConfig(bad), nwid, ctx.wrongSigner);
    case 'truncated-chunk':
      return signed(encodeNetworkConfig(bad)).map((b) => b.subarray(0, b.length - 40));
    case 'oversized-total':
      return [handSignedChunk(ctx.controller, nwid, new TextEncoder().encode('v=7'), NETWORKCONFIG_DICT_CAPACITY, 0)];
    case 'too-many-chunks': {
      const dict = encodeNetworkConfig(bad);
      return makeConfigChunks(dict, { networkId: nwid, updateId: randomUpdateId(), signer: ctx.controller, maxChunkLength: 1 })
        .slice(0, NETWORK_MAX_UPDATE_CHUNKS + TOO_MANY_CHUNKS_EXTRA)
        .map(encodeConfigChunk);
    }
    case 'unjoined-network':
      return signed(encodeNetworkConfig({ ...bad, networkId: ctx.otherNetwork }), ctx.otherNetwork);
  }
}

/** Chunks past the limit in 'too-many-chunks' (each one is refused). */
export const TOO_MANY_CHUNKS_EXTRA = 6;

/** A chunk body signed over whatever fields it is given: the encoder refuses to write an invalid one. */
function handSignedChunk(signer: Identity, nwid: bigint, data: Uint8Array, total: number, index: number): Uint8Array {
  const w = new ByteWriter(data.length + 140);
  w.u64(nwid).u16(data.length).bytes(data).u8(0).u64(randomUpdateId()).u32(total).u32(index);
  const covered = w.finish();
  return new ByteWriter(covered.length + 99).bytes(covered).u8(1).u16(96).bytes(signer.sign(covered)).finish();
}

export const FRAME_ATTACKS = [
  /** A FRAME that ends inside its ethertype. */
  'frame-truncated',
  /** A FRAME with no Ethernet payload. */
  'frame-empty',
  /** A FRAME whose Ethernet payload is over the network's MTU (2800). */
  'frame-oversized',
  /** An EXT_FRAME that ends inside its MACs. */
  'ext-frame-truncated',
  /** A MULTICAST_FRAME that ends inside its group. */
  'multicast-frame-truncated',
  /** A well-formed FRAME naming a network the receiver has not joined. */
  'frame-unjoined-network',
  /** A well-formed small FRAME (the control: it must be accepted). */
  'frame-ok',
] as const;
export type FrameAttack = (typeof FRAME_ATTACKS)[number];

/** An IEEE "local experimental" ethertype: nothing in the receiver's kernel answers it. */
const EXPERIMENTAL_ETHERTYPE = 0x88b5;

/** The packet of a frame attack on network `nwid` (`otherNetwork`: one the receiver has not joined). */
export function frameAttack(kind: FrameAttack, nwid: bigint, otherNetwork: bigint, receiverMac: bigint): { verb: number; payload: Uint8Array } {
  const small = new Uint8Array(46).fill(0x5a);
  const frame = (n: bigint, payload: Uint8Array) => encodeFrame({ networkId: n, etherType: EXPERIMENTAL_ETHERTYPE, payload });
  switch (kind) {
    case 'frame-truncated':
      return { verb: Verb.FRAME, payload: frame(nwid, small).subarray(0, 9) };
    case 'frame-empty':
      return { verb: Verb.FRAME, payload: frame(nwid, new Uint8Array(0)) };
    case 'frame-oversized':
      return { verb: Verb.FRAME, payload: frame(nwid, new Uint8Array(9000).fill(0x5a)) };
    case 'ext-frame-truncated':
      return { verb: Verb.EXT_FRAME, payload: encodeExtFrame({ networkId: nwid, flags: 0, to: receiverMac, from: 0x020000000001n, etherType: EXPERIMENTAL_ETHERTYPE, payload: small }).subarray(0, 14) };
    case 'multicast-frame-truncated':
      return { verb: Verb.MULTICAST_FRAME, payload: encodeMulticastFrame({ networkId: nwid, flags: 0, dest: 0xffffffffffffn, adi: 0, etherType: EXPERIMENTAL_ETHERTYPE, payload: small }).subarray(0, 12) };
    case 'frame-unjoined-network':
      return { verb: Verb.FRAME, payload: frame(otherNetwork, small) };
    case 'frame-ok':
      return { verb: Verb.FRAME, payload: frame(nwid, small) };
  }
}
