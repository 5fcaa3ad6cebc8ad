/**
 * One joined network (shared/protocol/vl2.md): its config, its TAP device, its members' credentials, and the frames
 * between the two — what 1.14 spreads over `Network`, `Switch::onLocalEthernet` and `IncomingPacket::_do*FRAME`.
 *
 *   config      ad-hoc (ff…): made here (§1.2); otherwise NETWORK_CONFIG_REQUEST to the controller every 5 s
 *               until one is held, then every 60 s; chunked, signed answers reassembled and verified (§2.2–2.3);
 *               the controller's ERRORs set the status (§2.4)
 *   TAP → peers unicast to a member's MAC → FRAME (our credentials pushed first when the network is private);
 *               multicast/broadcast → MULTICAST_FRAME to members known from LIKEs and gathers (§5.5–5.7); IPv6
 *               neighbour solicitations for ZeroTier-derived addresses answered locally (NDP emulation, §5.8)
 *   peers → TAP FRAME / EXT_FRAME / MULTICAST_FRAME through `gate` (PUBLIC, or an agreeing COM) and the rules (§3.6)
 *
 * The leaf (leaf/leaf.ts) owns the VL1 node and hands each network the packets for it; this class never touches a
 * socket. Every datagram it cannot use is a counted drop, never an exception.
 */
import { EventEmitter } from 'node:events';
import type { Identity } from '../vl1/identity.js';
import { ErrorCode, Verb } from '../vl1/constants.js';
import { parseIp } from '../vl1/inet-address.js';
import { macFromAddress, macToAddress } from '../vl1/mac-ip.js';
import { ipScope } from '../vl1/ip-scope.js';
import type { Ok } from '../vl1/verbs/ok.js';
import { encodeError } from '../vl1/verbs/error.js';
import { encodeOk } from '../vl1/verbs/ok.js';
import { encodeMulticastGather, encodeMulticastLike, type MulticastGroupRef } from '../vl1/verbs/multicast.js';
import { decodeExtFrame, decodeFrame, encodeExtFrame, encodeFrame, EXT_FRAME_FLAG_ACK_REQUESTED } from '../vl1/verbs/frame.js';
import { decodeMulticastFrame, encodeMulticastFrame, MULTICAST_FRAME_FLAG_GATHER_LIMIT } from '../vl1/verbs/multicast-frame.js';
import { encodeNetworkConfigRequest } from '../vl1/verbs/network-config-request.js';
import { credentialsPush, encodeNetworkCredentials, type NetworkCredentials } from '../vl1/verbs/network-credentials.js';
import { synthesizeAdhocConfig, isAdhocNetworkId } from '../vl1/netconf/adhoc.js';
import { decodeConfigChunk, verifyConfigChunk } from '../vl1/netconf/config-chunk.js';
import { ConfigReassembler } from '../vl1/netconf/config-reassembler.js';
import { decodeNetworkConfig, encodeNetworkConfig, sameNetworkConfig, type NetworkConfig } from '../vl1/netconf/network-config.js';
import { buildRequestMetadata } from '../vl1/netconf/request-metadata.js';
import { comNetworkId, decodeCom, encodeCom, verifyCom, type CertificateOfMembership } from '../vl1/netconf/com.js';
import { REVOCATION_FLAG_FAST_PROPAGATE, verifyRevocation, type Revocation } from '../vl1/netconf/revocation.js';
import { verifyTag } from '../vl1/netconf/tag.js';
import { verifyCapability } from '../vl1/netconf/capability.js';
import { verifyCoo } from '../vl1/netconf/certificate-of-ownership.js';
import { filterIncoming, filterOutgoing, ownsByCoos, type FilterFrame, type FilterVerdict, type RuleContext } from '../vl1/netconf/rule-engine.js';
import { NetworkConfigFlag, NetworkType } from '../vl1/netconf/constants.js';
import { ndpEmulationReply } from '../vl1/netconf/ndp-emulation.js';
import { addressResolutionGroup, BROADCAST_GROUP, ETHERNET_HEADER_LENGTH, writeEthernetFrame, isMulticastMac, outgoingMulticastGroup, parseEthernetFrame } from '../vl1/netconf/ethernet.js';
import { admitsPeer, credentialTimely, inboundOwnership } from '../vl1/netconf/membership.js';
import type { TapDevice, TapRoute } from './tap.js';
import { parsePrefix, prefixContains, type BytePrefix } from './path-policy.js';
import { Memberships, ANNOUNCE_PERIOD_MS, CREDENTIALS_RECEIVE_MIN_MS, CREDENTIALS_REQUEST_MIN_MS } from './membership.js';
import { groupKey, Multicaster, type MulticastGroup } from './multicaster.js';
import { DEFAULT_NETWORK_SETTINGS, type LeafNetwork, type NetworkSettings, type NetworkStatus } from './model.js';

/** `ZT_PING_CHECK_INTERVAL`: a config is requested this often while none is held. */
export const CONFIG_RETRY_MS = 5_000;
/** `ZT_NETWORK_AUTOCONF_DELAY`: a held config is refreshed this often. */
export const CONFIG_REFRESH_MS = 60_000;
/** `ZT_TAP_CHECK_MULTICAST_INTERVAL`: the TAP's multicast memberships are read this often. */
export const TAP_GROUPS_INTERVAL_MS = 5_000;
/** Frames from a member that failed `gate` wait this long for its credentials (1.14's RX queue), at most this many. */
const GATE_RETRY_MS = 5_000;
const GATE_RETRY_MAX = 32;
/**
 * Where frames for the TAPs are built (one per process: the event loop writes one frame at a time, and the TAP's
 * write() copies it): a frame per allocation was one more 2.8 kB buffer per received frame for the GC. Grows to the
 * largest frame seen (≤ MTU + header).
 */
let tapScratch = new Uint8Array(4096);


/** What a network needs of the leaf around it. */
export interface NetworkHost {
  /** Our identity (with its private key). */
  readonly identity: Identity;
  now(): number;
  log?: { debug(o: object, m?: string): void; info(o: object, m?: string): void; warn(o: object, m?: string): void };
  /**
   * Sends a packet to `dest`: at once if its identity is known, else after a WHOIS (dropped after 5 s). `onOk` is
   * handed every OK naming it (a request).
   */
  send(dest: number, verb: number, payload: Uint8Array, onOk?: (ok: Ok) => void): void;
  /** The identity of `address` if known; asks the root for it when not (the caller tries again later). */
  identityOf(address: number): Identity | undefined;
  /** The upstreams (planet and moon roots), best first: LIKEs go to all, GATHERs to the first. */
  roots(): number[];
  /** Makes the network's TAP device. */
  openTap(nwid: bigint, mac: bigint, mtu: number): Promise<TapDevice>;
  /** Keeps the network's config (networks.d/<nwid>.conf) so a restart starts from it. */
  saveConfig(nwid: bigint, dictionary: Uint8Array): void;
}

/** Why a network dropped a packet or frame (its `counters.drops` keys; /metrics lists every one). */
export const NETWORK_DROP_REASONS = [
  'no-config',
  'not-own-mac',
  'runt',
  'gate',
  'rules',
  'multicast-disabled',
  'broadcast-disabled',
  'no-bridge',
  'bad-mac',
  'malformed',
  'config-not-for-us',
  'config-signature',
  'config-controller-unknown',
  'config-not-from-controller',
  'credentials-rate-limited',
  'credentials-invalid',
  'credentials-signer-unknown',
  'tap-write',
] as const;
export type NetworkDropReason = (typeof NETWORK_DROP_REASONS)[number];

export interface NetworkCounters {
  framesIn: number;
  framesOut: number;
  multicastIn: number;
  multicastOut: number;
  /** Frames the rules accepted / dropped, by direction (1.14's `zt_network_packets{accepted,direction}`). */
  accepted: { rx: number; tx: number };
  refused: { rx: number; tx: number };
  drops: Partial<Record<NetworkDropReason, number>>;
}

type NetworkEvents = {
  /** Status or config changed (the API shows it; the leaf persists it). */
  changed: [];
};

interface HeldFrame {
  from: number;
  at: number;
  deliver: () => void;
}

export class Network extends EventEmitter<NetworkEvents> {
  readonly nwid: bigint;
  readonly mac: bigint;
  readonly controller: number;
  readonly counters: NetworkCounters = { framesIn: 0, framesOut: 0, multicastIn: 0, multicastOut: 0, accepted: { rx: 0, tx: 0 }, refused: { rx: 0, tx: 0 }, drops: {} };
  settings: NetworkSettings;
  /** `allowManaged=<ip/bits>,…` from `<nwid>.local.conf`: managed addresses and routes only inside these (empty: any). */
  private readonly managedWhitelist: BytePrefix[] = [];
  private cfg: NetworkConfig | null = null;
  private failure: NetworkStatus | null = null;
  private portError = 0;
  private tap: TapDevice | null = null;
  private tapOps: Promise<void> = Promise.resolve();
  private readonly reassembler = new ConfigReassembler();
  private readonly members = new Memberships();
  private readonly multicaster: Multicaster<Uint8Array>;
  /** Our multicast groups (key → group), from the TAP and our addresses. */
  private groups = new Map<string, MulticastGroup>();
  private lastConfigRequest = -Infinity;
  private lastConfigUpdate = -Infinity;
  private lastGroupsScan = -Infinity;
  private lastAnnounce = -Infinity;
  private heldFrames: HeldFrame[] = [];
  private closed = false;

  constructor(
    nwid: bigint,
    private readonly host: NetworkHost,
    opts: { settings?: Partial<NetworkSettings>; savedConfig?: Uint8Array; allowManagedWhitelist?: readonly string[] } = {},
  ) {
    super();
    this.nwid = nwid;
    this.mac = macFromAddress(host.identity.address, nwid);
    this.controller = Number(nwid >> 24n);
    this.settings = { ...DEFAULT_NETWORK_SETTINGS, ...opts.settings };
    for (const entry of opts.allowManagedWhitelist ?? []) {
      const p = parsePrefix(entry);
      if (p === null) host.log?.warn({ nwid: hex16(nwid), entry }, 'allowManaged list: not an IP or IP/bits, ignored');
      else this.managedWhitelist.push(p);
    }
    this.multicaster = new Multicaster(host.identity.address);
    if (opts.savedConfig !== undefined && opts.savedConfig.length > 0) {
      try {
        const c = decodeNetworkConfig(opts.savedConfig);
        // A config loaded from disk is refreshed at once (`lastConfigUpdate = 0`, vl2.md §2.1 step 4).
        if (c.networkId === nwid && c.issuedTo === host.identity.address) this.cfg = c;
      } catch (e) {
        host.log?.warn({ nwid: hex16(nwid), err: (e as Error).message }, 'saved network config unreadable: requesting a new one');
      }
    }
  }

  get config(): NetworkConfig | null {
    return this.cfg;
  }

  get status(): NetworkStatus {
    if (this.portError !== 0) return 'PORT_ERROR';
    if (this.failure !== null) return this.failure;
    return this.cfg === null ? 'REQUESTING_CONFIGURATION' : 'OK';
  }

  get device(): TapDevice | null {
    return this.tap;
  }

  /** Creates the TAP (MTU 2800 until a config says otherwise, vl2.md §2.1) and applies a saved config, if any. */
  async start(): Promise<void> {
    try {
      this.tap = await this.host.openTap(this.nwid, this.mac, this.cfg?.mtu ?? 2800);
    } catch (e) {
      this.portError = -1;
      this.host.log?.warn({ nwid: hex16(this.nwid), err: (e as Error).message }, 'network has no TAP device (PORT_ERROR)');
      this.emit('changed');
      return;
    }
    this.tap.on('frame', (f) => this.guard(() => this.onTapFrame(f)));
    this.tap.on('close', (err) => {
      if (err !== null && !this.closed) {
        this.portError = -1;
        this.host.log?.warn({ nwid: hex16(this.nwid), err: err.message }, 'TAP device gone (PORT_ERROR)');
        this.emit('changed');
      }
    });
    if (this.cfg !== null) this.configureTap(this.cfg);
    this.tick(this.host.now());
  }

  async stop(): Promise<void> {
    this.closed = true;
    await this.tapOps.catch(() => undefined);
    await this.tap?.close();
    this.tap = null;
  }

  /** The background tick (every ~5 s): config requests, multicast memberships and announcements, expiry. */
  tick(now: number): void {
    if (this.closed) return;
    const due = this.cfg === null ? CONFIG_RETRY_MS : CONFIG_REFRESH_MS;
    if (now - this.lastConfigRequest >= CONFIG_RETRY_MS && now - this.lastConfigUpdate >= due) this.requestConfig(now);
    if (now - this.lastGroupsScan >= TAP_GROUPS_INTERVAL_MS) {
      this.lastGroupsScan = now;
      void this.scanGroups();
    }
    if (this.cfg !== null && now - this.lastAnnounce >= ANNOUNCE_PERIOD_MS) {
      this.lastAnnounce = now;
      this.announce([...this.groups.values()], this.upstreams());
    }
    if (this.cfg !== null) {
      for (const a of this.members.addresses()) {
        const m = this.members.get(a);
        if (now - m.announcedAt >= ANNOUNCE_PERIOD_MS && this.gate(a)) {
          m.announcedAt = now;
          this.announce([...this.groups.values()], [a]);
        }
      }
    }
    this.multicaster.expire(now);
    this.heldFrames = this.heldFrames.filter((h) => now - h.at < GATE_RETRY_MS);
  }

  // ---- config ----------------------------------------------------------------------------------------------

  private requestConfig(now: number): void {
    this.lastConfigRequest = now;
    if (isAdhocNetworkId(this.nwid)) {
      const o = synthesizeAdhocConfig(this.nwid, this.host.identity.address, now);
      if (o.kind === 'config') this.applyConfig(o.config, null);
      else if (o.kind === 'status') this.setFailure('NOT_FOUND');
      return;
    }
    const payload = encodeNetworkConfigRequest({
      networkId: this.nwid,
      metadata: buildRequestMetadata(),
      revision: BigInt(this.cfg?.revision ?? 0),
      timestamp: BigInt(this.cfg?.timestamp ?? 0),
    });
    this.host.send(this.controller, Verb.NETWORK_CONFIG_REQUEST, payload, (ok) => {
      if (ok.kind === 'OTHER') this.guard(() => this.onConfigChunk(ok.body, this.controller, ok.inRePacketId, null));
    });
  }

  /**
   * A config chunk, answering our request (`pushPacketId` null) or pushed in a NETWORK_CONFIG (the packet's id:
   * an OK goes back once the update is complete and accepted, vl2.md §2.3 step 8).
   */
  onConfigChunk(body: Uint8Array, from: number, packetId: bigint, pushPacketId: bigint | null): void {
    // A network left (stopped) takes no config: an answer to a request made before would write networks.d again.
    if (this.closed) return;
    const chunk = decodeConfigChunk(body);
    if (chunk.networkId !== this.nwid) return this.drop('config-not-for-us');
    if (chunk.kind === 'legacy') {
      if (from !== this.controller) return this.drop('config-not-from-controller');
    } else {
      if (this.reassembler.isDuplicate(chunk)) return;
      const controller = this.host.identityOf(this.controller);
      if (controller === undefined) return this.drop('config-controller-unknown');
      if (!verifyConfigChunk(chunk, controller)) return this.drop('config-signature');
    }
    const r = this.reassembler.add(chunk, packetId);
    if (r.status !== 'complete') return;
    let config: NetworkConfig;
    try {
      config = decodeNetworkConfig(r.dictionary);
    } catch (e) {
      // The last good config stays.
      this.host.log?.warn({ nwid: hex16(this.nwid), err: (e as Error).message }, 'config from the controller does not parse; keeping the last good one');
      return this.drop('malformed');
    }
    if (config.networkId !== this.nwid || config.issuedTo !== this.host.identity.address) return this.drop('config-not-for-us');
    this.applyConfig(config, r.dictionary);
    if (pushPacketId !== null) {
      // 1.14 names ECHO as the in-re verb here (a bug its controller ignores); payload nwid ‖ update id.
      const body8 = new Uint8Array(16);
      new DataView(body8.buffer).setBigUint64(0, this.nwid);
      new DataView(body8.buffer).setBigUint64(8, r.updateId);
      this.host.send(from, Verb.OK, encodeOk({ kind: 'OTHER', inReVerb: Verb.ECHO, inRePacketId: pushPacketId, body: body8 }));
    }
  }

  /** ERROR from the controller about this network (vl2.md §2.4); from anyone else it means nothing. */
  onControllerError(from: number, code: number): void {
    if (from !== this.controller) return;
    if (code === ErrorCode.OBJ_NOT_FOUND || code === ErrorCode.UNSUPPORTED_OPERATION) this.setFailure('NOT_FOUND');
    else if (code === ErrorCode.NETWORK_ACCESS_DENIED) this.setFailure('ACCESS_DENIED');
    else if (code === ErrorCode.NETWORK_AUTHENTICATION_REQUIRED) this.setFailure('AUTHENTICATION_REQUIRED');
  }

  private setFailure(s: NetworkStatus): void {
    if (this.failure === s) return;
    this.failure = s;
    this.host.log?.info({ nwid: hex16(this.nwid), status: s }, 'network status');
    this.emit('changed');
  }

  private applyConfig(config: NetworkConfig, dictionary: Uint8Array | null): void {
    const now = this.host.now();
    this.lastConfigUpdate = now;
    const changed = this.cfg === null || !sameNetworkConfig(this.cfg, config) || this.failure !== null;
    this.failure = null;
    // Ad-hoc configs get a new timestamp at every refresh: the same network for every other purpose.
    if (!changed && (isAdhocNetworkId(this.nwid) || this.cfg?.timestamp === config.timestamp)) return;
    const first = this.cfg === null;
    this.cfg = config;
    this.members.configChanged();
    this.host.saveConfig(this.nwid, dictionary ?? encodeNetworkConfig(config));
    this.configureTap(config);
    if (first) this.host.log?.info({ nwid: hex16(this.nwid), name: config.name, mtu: config.mtu, addresses: this.assignedAddresses() }, 'network configured');
    this.emit('changed');
  }

  /** MTU, managed addresses and routes on the TAP (the allow* settings decide what is managed, vl2.md §7.3). */
  private configureTap(config: NetworkConfig): void {
    const tap = this.tap;
    if (tap === null) return;
    const addrs = this.allowedAddresses(config);
    const routes: TapRoute[] = [];
    for (const r of config.routes) {
      const t = r.target;
      if (!this.mayManage(t.ip, t.bits)) continue;
      routes.push({ target: t.ip, bits: t.bits, via: r.via === null ? null : r.via.ip });
    }
    // Each step on its own: what the kernel refuses (a route whose gateway is off-link for this member, an address it
    // will not take) is logged and the rest applied, as 1.14's service does — not a PORT_ERROR, which 1.14 keeps for
    // a device that cannot be made (the TAP's own layer applies every other address and route of a failed call).
    const step = (what: string, fn: () => Promise<void>) => async (): Promise<void> => {
      try {
        await fn();
      } catch (e) {
        this.host.log?.warn({ nwid: hex16(this.nwid), err: (e as Error).message }, `${what} of the TAP device not (all) applied`);
      }
    };
    this.tapOps = this.tapOps
      .then(step('MTU', () => tap.setMtu(config.mtu)))
      .then(step('managed addresses', () => tap.setAddresses(addrs)))
      .then(step('managed routes', () => tap.setRoutes(routes)))
      .then(() => this.scanGroups());
  }

  private allowedAddresses(config: NetworkConfig): Array<{ ip: string; bits: number }> {
    return config.staticIps.filter((a) => this.mayManage(a.ip, a.bits)).map((a) => ({ ip: a.ip, bits: a.bits }));
  }

  /**
   * 1.14's managed-address policy: allowManaged (and, when `<nwid>.local.conf` gives it as a list, only addresses
   * inside it), GLOBAL scope only with allowGlobal, a default route only with allowDefault.
   */
  private mayManage(ip: string, bits: number): boolean {
    if (!this.settings.allowManaged) return false;
    const bytes = parseIp(ip);
    if (bytes === null) return false;
    if (this.managedWhitelist.length > 0 && !this.managedWhitelist.some((p) => (p.bits === 0 ? p.bytes.length === bytes.length : prefixContains(p, bytes)))) return false;
    // A default route is allowDefault's alone: its 0.0.0.0 / :: has no scope, so the scope rule below would refuse it.
    if (bits === 0) return this.settings.allowDefault;
    const scope = ipScope(bytes);
    if (scope === 'none' || scope === 'loopback' || scope === 'link-local' || scope === 'multicast') return false;
    return scope !== 'global' || this.settings.allowGlobal;
  }

  // ---- credentials -----------------------------------------------------------------------------------------

  /** `gate` (vl2.md §4.2): a PUBLIC config admits everyone; a PRIVATE one, members whose COM agrees with ours. */
  gate(peer: number): boolean {
    const c = this.cfg;
    if (c === null) return false;
    if (c.type === NetworkType.PUBLIC) return true;
    const id = this.host.identityOf(peer);
    const { com, threshold } = this.members.comOf(peer);
    return id !== undefined && admitsPeer(c, com, id, threshold);
  }

  /** Pushes our credentials to `peer` if it has not had them since our config changed, or for 500 s (private networks). */
  private pushCredentialsIfNeeded(peer: number, now: number): void {
    const c = this.cfg;
    if (c === null || c.com === null || !this.members.needsPush(peer, now)) return;
    this.pushCredentials(peer, now);
  }

  private pushCredentials(peer: number, now: number): void {
    const c = this.cfg;
    if (c === null || c.com === null) return;
    this.members.get(peer).pushedAt = now;
    const creds = credentialsPush({ com: c.com, capabilities: c.capabilities, tags: c.tags, coos: c.certificatesOfOwnership });
    this.host.send(peer, Verb.NETWORK_CREDENTIALS, encodeNetworkCredentials(creds));
  }

  /** A member asked for our credentials (ERROR NEED_MEMBERSHIP_CERTIFICATE): at most once a second. */
  onCredentialsRequested(peer: number): void {
    const now = this.host.now();
    const m = this.members.get(peer);
    if (now - m.pushedAt >= CREDENTIALS_REQUEST_MIN_MS) this.pushCredentials(peer, now);
  }

  /** NETWORK_CREDENTIALS from `peer`: what concerns this network (vl2.md §4.3–4.4). */
  onCredentials(peer: number, creds: NetworkCredentials): void {
    // The leaf hands every NETWORK_CREDENTIALS to every network: those for another one are none of this one's business
    // (1.14 files each credential under the network it names, `IncomingPacket::_doNETWORK_CREDENTIALS`).
    if (!namesNetwork(creds, this.nwid)) return;
    const now = this.host.now();
    const m = this.members.get(peer);
    if (now - m.lastCredentialsReceived < CREDENTIALS_RECEIVE_MIN_MS) return this.drop('credentials-rate-limited');
    m.lastCredentialsReceived = now;
    const controller = this.host.identityOf(this.controller);
    if (controller === undefined) return this.drop('credentials-signer-unknown');
    let accepted = false;
    for (const com of creds.coms) if (comNetworkId(com) === this.nwid && this.acceptCom(peer, com, controller)) accepted = true;
    for (const r of creds.revocations ?? []) {
      if (r.networkId !== this.nwid) continue;
      if (!verifyRevocation(r, controller)) {
        this.drop('credentials-invalid');
        continue;
      }
      // News flagged fast-propagate goes on to every other member, as 1.14 does (`Network::addCredential`): one
      // lost packet from the controller then does not leave a member admitting the revoked one.
      if (this.members.revoke(r.target, r.credentialType, BigInt(r.threshold)) && (r.flags & REVOCATION_FLAG_FAST_PROPAGATE) !== 0n) this.passOn(r, peer);
    }
    const identityOf = (a: number): Identity | undefined => (a === this.controller ? controller : this.host.identityOf(a));
    const cfg = this.cfg;
    // Tags, capabilities and COOs count only while timely against our config (vl2.md §4.5), so without one, none do.
    const timely = (ts: number, type: number): boolean => cfg !== null && credentialTimely(cfg, ts, thresholdNumber(m.thresholds.get(type)));
    for (const t of creds.tags ?? []) if (t.networkId === this.nwid && t.issuedTo === peer && timely(t.timestamp, 3) && verifyTag(t, controller)) m.tags.set(t.id, t);
    for (const c of creds.capabilities ?? []) if (c.networkId === this.nwid && timely(c.timestamp, 2) && verifyCapability(c, identityOf) === 'valid') m.capabilities.set(c.id, c);
    for (const c of creds.coos ?? []) if (c.networkId === this.nwid && c.issuedTo === peer && timely(c.timestamp, 4) && verifyCoo(c, controller)) m.coos = [...m.coos.filter((x) => x.id !== c.id), c].slice(-4);
    if (accepted) this.releaseHeld(peer);
  }

  /** A revocation to every member but the one it came from and its signer (vl2.md §4.4). */
  private passOn(r: Revocation, from: number): void {
    const payload = encodeNetworkCredentials({ coms: [], terminated: true, capabilities: [], tags: [], revocations: [r], coos: [] });
    for (const a of this.members.addresses()) if (a !== from && a !== r.signedBy) this.host.send(a, Verb.NETWORK_CREDENTIALS, payload);
  }

  /** A COM from `peer`: checked against what it replaces, then its signature (vl2.md §4.2). */
  private acceptCom(peer: number, com: CertificateOfMembership, controller: Identity): boolean {
    const u = this.members.comUpdate(peer, com);
    if (u !== 'verify') return false;
    if (!verifyCom(com, controller)) {
      this.drop('credentials-invalid');
      return false;
    }
    this.members.setCom(peer, com);
    return true;
  }

  /** Frames from `peer` that waited for its credentials. */
  private releaseHeld(peer: number): void {
    const now = this.host.now();
    const ready = this.heldFrames.filter((h) => h.from === peer && now - h.at < GATE_RETRY_MS);
    this.heldFrames = this.heldFrames.filter((h) => h.from !== peer);
    for (const h of ready) this.guard(h.deliver);
  }

  /** `gate` failed: ask for credentials (ERROR 0x06) and keep the frame for 5 s in case they come. */
  private refuseForCredentials(peer: number, verb: number, packetId: bigint, deliver: () => void): void {
    this.drop('gate');
    this.host.send(peer, Verb.ERROR, encodeError({ inReVerb: verb, inRePacketId: packetId, code: ErrorCode.NEED_MEMBERSHIP_CERTIFICATE, networkId: this.nwid }));
    if (this.heldFrames.length >= GATE_RETRY_MAX) this.heldFrames.shift();
    this.heldFrames.push({ from: peer, at: this.host.now(), deliver });
  }

  // ---- frames from peers -----------------------------------------------------------------------------------

  /**
   * A VL2 packet from `peer` naming this network (the leaf dispatches FRAME, EXT_FRAME, MULTICAST_FRAME and pushed
   * NETWORK_CONFIG by the network id they start with). Never throws: what does not decode is a counted drop.
   */
  receive(verb: number, peer: number, payload: Uint8Array, packetId: bigint): void {
    if (this.closed) return;
    this.guard(() => {
      if (verb === Verb.FRAME) this.onFrame(peer, payload, packetId);
      else if (verb === Verb.EXT_FRAME) this.onExtFrame(peer, payload, packetId);
      else if (verb === Verb.MULTICAST_FRAME) this.onMulticastFrame(peer, payload, packetId);
      else if (verb === Verb.NETWORK_CONFIG) this.onConfigChunk(payload, peer, packetId, packetId);
    });
  }

  /** FRAME (vl2.md §5.1): from a member's MAC to ours. */
  onFrame(peer: number, payload: Uint8Array, packetId: bigint): void {
    const f = decodeFrame(payload);
    if (this.cfg === null) return this.drop('no-config');
    const deliver = (): void => {
      if (f.payload.length === 0) return this.drop('runt');
      const src = macFromAddress(peer, this.nwid);
      if (!this.filterIn(peer, src, this.mac, f.etherType, f.payload)) return;
      this.toTap(this.mac, src, f.etherType, f.payload);
      this.counters.framesIn++;
    };
    if (!this.gate(peer)) return this.refuseForCredentials(peer, Verb.FRAME, packetId, deliver);
    deliver();
  }

  /** EXT_FRAME (vl2.md §5.2): explicit MACs; we are no bridge, so only frames from the sender's own MAC to ours. */
  onExtFrame(peer: number, payload: Uint8Array, packetId: bigint): void {
    const f = decodeExtFrame(payload);
    if (this.cfg === null) return this.drop('no-config');
    if (f.com !== undefined) this.inlineCom(peer, f.com);
    const deliver = (): void => {
      if (f.from === 0n || f.from === this.mac) return this.drop('bad-mac');
      if (!this.filterIn(peer, f.from, f.to, f.etherType, f.payload)) return;
      if (f.from !== macFromAddress(peer, this.nwid)) return this.drop('no-bridge'); // the sender would have to be a bridge
      if (f.to !== this.mac && (!isMulticastMac(f.to) || this.cfg!.multicastLimit === 0)) return this.drop('no-bridge');
      this.toTap(f.to, f.from, f.etherType, f.payload);
      this.counters.framesIn++;
      if (f.flags & EXT_FRAME_FLAG_ACK_REQUESTED) {
        const nw = new Uint8Array(8);
        new DataView(nw.buffer).setBigUint64(0, this.nwid);
        this.host.send(peer, Verb.OK, encodeOk({ kind: 'OTHER', inReVerb: Verb.EXT_FRAME, inRePacketId: packetId, body: nw }));
      }
    };
    if (!this.gate(peer)) return this.refuseForCredentials(peer, Verb.EXT_FRAME, packetId, deliver);
    deliver();
  }

  /** MULTICAST_FRAME (vl2.md §5.7): written to the TAP with its destination MAC (the ADI is not on Ethernet). */
  onMulticastFrame(peer: number, payload: Uint8Array, packetId: bigint): void {
    const f = decodeMulticastFrame(payload);
    const c = this.cfg;
    if (c === null) return this.drop('no-config');
    if (f.com !== undefined) this.inlineCom(peer, f.com);
    const deliver = (): void => {
      if (c.multicastLimit === 0) return this.drop('multicast-disabled');
      const src = f.source ?? macFromAddress(peer, this.nwid);
      if (!isMulticastMac(f.dest) || src === 0n || isMulticastMac(src) || src === this.mac) return this.drop('bad-mac');
      if (src !== macFromAddress(peer, this.nwid)) return this.drop('no-bridge');
      if (!this.filterIn(peer, src, f.dest, f.etherType, f.payload)) return;
      this.toTap(f.dest, src, f.etherType, f.payload);
      this.counters.multicastIn++;
    };
    // A member that multicasts to us is one we may want to tell our groups to.
    this.members.get(peer);
    if (!this.gate(peer)) return this.refuseForCredentials(peer, Verb.MULTICAST_FRAME, packetId, deliver);
    deliver();
  }

  /** A member LIKEs groups of this network. */
  onMulticastLike(peer: number, groups: MulticastGroupRef[]): void {
    if (!this.gate(peer)) return;
    const now = this.host.now();
    for (const g of groups) {
      if (g.networkId !== this.nwid) continue;
      this.multicaster.add(g, peer, now);
      this.sendPending(g, now);
    }
  }

  /** A member does not want `g` (ERROR UNWANTED_MULTICAST). */
  onUnwantedMulticast(peer: number, g: MulticastGroup): void {
    this.multicaster.remove(g, peer);
  }

  private inlineCom(peer: number, comBytes: Uint8Array): void {
    const controller = this.host.identityOf(this.controller);
    if (controller === undefined) return;
    const com = decodeCom(comBytes);
    if (comNetworkId(com) === this.nwid) this.acceptCom(peer, com, controller);
  }

  private filterIn(peer: number, srcMac: bigint, dstMac: bigint, etherType: number, payload: Uint8Array): boolean {
    const c = this.cfg!;
    const frame: FilterFrame = { inbound: true, ztSource: peer, ztDest: this.host.identity.address, macSource: srcMac, macDest: dstMac, etherType, payload };
    const m = this.members.peek(peer);
    const caps = m === undefined ? [] : [...m.capabilities.values()].map((x) => x.rules);
    const v = filterIncoming(c.rules, caps, frame, this.ruleContext(peer, true));
    this.afterFilter(v, frame);
    if (v.accept === 0) {
      this.counters.refused.rx++;
      this.drop('rules');
      return false;
    }
    this.counters.accepted.rx++;
    return true;
  }

  private ruleContext(peer: number, inbound: boolean): RuleContext {
    const c = this.cfg!;
    const m = this.members.peek(peer);
    return {
      self: this.host.identity.address,
      networkFlags: c.flags,
      localTag: (id) => c.tags.find((t) => t.id === id)?.value,
      remoteTag: (id) => m?.tags.get(id)?.value,
      // Built on first use: most rule sets never ask, and building it per frame was 4 % of a leaf's CPU at speed.
      senderOwns: inbound ? lazily(() => inboundOwnership(c, (m?.coos ?? []).filter((x) => credentialTimely(c, x.timestamp, thresholdNumber(m?.thresholds.get(4)))))) : ownsByCoos(c.certificatesOfOwnership),
    };
  }

  /** TEE/WATCH copies and REDIRECTs the rules asked for, sent as EXT_FRAME (vl2.md §3.6). */
  private afterFilter(v: FilterVerdict, f: FilterFrame): void {
    const send = (to: number, flags: number, payload: Uint8Array): void => {
      if (to === this.host.identity.address) return;
      this.host.send(to, Verb.EXT_FRAME, encodeExtFrame({ networkId: this.nwid, flags, to: f.macDest, from: f.macSource, etherType: f.etherType, payload }));
    };
    for (const c of v.copies) send(c.to, c.flags, c.length > 0 ? f.payload.subarray(0, c.length) : f.payload);
    if (v.redirect !== undefined) send(v.redirect.to, v.redirect.flags, f.payload);
  }

  /** Writes one frame to the TAP, built in a scratch buffer: the TAP's write() copies it into the kernel. */
  private toTap(dest: bigint, source: bigint, etherType: number, payload: Uint8Array): void {
    const tap = this.tap;
    if (tap === null) return this.drop('tap-write');
    const n = ETHERNET_HEADER_LENGTH + payload.length;
    if (n > tapScratch.length) tapScratch = new Uint8Array(Math.max(n, tapScratch.length * 2));
    writeEthernetFrame(tapScratch, dest, source, etherType, payload);
    if (!tap.write(tapScratch.subarray(0, n))) this.drop('tap-write');
  }

  // ---- frames from the TAP (vl2.md §5.5) -------------------------------------------------------------------

  private onTapFrame(frame: Uint8Array): void {
    const c = this.cfg;
    if (c === null) return this.drop('no-config');
    if (frame.length < ETHERNET_HEADER_LENGTH) return this.drop('runt');
    const { dest: dst, source: src, etherType, payload } = parseEthernetFrame(frame);
    if (src !== this.mac) return this.drop('not-own-mac');
    const now = this.host.now();
    if (isMulticastMac(dst)) return this.multicastOut(c, dst, etherType, payload, frame, now);
    if (dst === this.mac) {
      this.tap?.write(frame);
      return;
    }
    if (dst >> 40n !== this.mac >> 40n) return this.drop('no-bridge');
    const to = macToAddress(dst, this.nwid);
    const f: FilterFrame = { inbound: false, ztSource: this.host.identity.address, ztDest: to, macSource: src, macDest: dst, etherType, payload };
    const v = filterOutgoing(c.rules, c.capabilities.map((x) => x.rules), f, this.ruleContext(to, false));
    this.afterFilter(v, f);
    if (v.accept === 0) {
      this.counters.refused.tx++;
      return this.drop('rules');
    }
    this.counters.accepted.tx++;
    this.pushCredentialsIfNeeded(to, now);
    this.members.get(to);
    this.host.send(to, Verb.FRAME, encodeFrame({ networkId: this.nwid, etherType, payload }));
    this.counters.framesOut++;
  }

  private multicastOut(c: NetworkConfig, dst: bigint, etherType: number, payload: Uint8Array, _frame: Uint8Array, now: number): void {
    const group = outgoingMulticastGroup(dst, etherType, payload, (c.flags & NetworkConfigFlag.ENABLE_BROADCAST) !== 0);
    if (group === null) return this.drop('broadcast-disabled');
    if ((c.flags & NetworkConfigFlag.ENABLE_IPV6_NDP_EMULATION) !== 0) {
      const na = ndpEmulationReply({ networkId: this.nwid, self: this.host.identity.address, staticIps: c.staticIps, dest: dst, source: this.mac, etherType, payload });
      if (na !== null) {
        if (this.tap?.write(na.frame) !== true) this.drop('tap-write');
        return;
      }
    }
    if (c.multicastLimit === 0) return this.drop('multicast-disabled');
    const f: FilterFrame = { inbound: false, ztSource: this.host.identity.address, ztDest: 0, macSource: this.mac, macDest: dst, etherType, payload };
    const v = filterOutgoing(c.rules, c.capabilities.map((x) => x.rules), f, this.ruleContext(0, false));
    this.afterFilter(v, f);
    if (v.accept === 0) {
      this.counters.refused.tx++;
      return this.drop('rules');
    }
    this.counters.accepted.tx++;
    const body = { networkId: this.nwid, dest: group.mac, adi: group.adi, etherType, payload: payload.slice() };
    const plan = this.multicaster.plan(group, encodeMulticastFrame({ ...body, flags: MULTICAST_FRAME_FLAG_GATHER_LIMIT, gatherLimit: 1 }), c.multicastLimit, now);
    const frameFor = (gatherLimit: number): Uint8Array => encodeMulticastFrame({ ...body, flags: MULTICAST_FRAME_FLAG_GATHER_LIMIT, gatherLimit });
    const out = frameFor(plan.gatherLimit);
    for (const to of plan.recipients) this.multicastTo(to, out, now);
    if (plan.explicitGather) this.gather(group, plan.gatherLimit);
  }

  private multicastTo(to: number, packet: Uint8Array, now: number): void {
    this.pushCredentialsIfNeeded(to, now);
    // Our frames ask for an implicit gather: 1.14 recipients answer with members they know (an OK we must expect).
    this.host.send(to, Verb.MULTICAST_FRAME, packet, this.onGatherResults);
    this.counters.multicastOut++;
  }

  /** MULTICAST_GATHER to the best root and the controller (an ad-hoc network has none), vl2.md §5.7 step 3. */
  private gather(g: MulticastGroup, limit: number): void {
    const c = this.cfg;
    const com = c?.com ?? null;
    const payload = encodeMulticastGather({
      networkId: this.nwid,
      flags: com !== null ? 0x01 : 0,
      mac: g.mac,
      adi: g.adi,
      gatherLimit: limit,
      ...(com !== null ? { com: encodeCom(com) } : {}),
    });
    const best = this.host.roots()[0];
    if (best !== undefined) this.host.send(best, Verb.MULTICAST_GATHER, payload, this.onGatherResults);
    if (!isAdhocNetworkId(this.nwid)) this.host.send(this.controller, Verb.MULTICAST_GATHER, payload, this.onGatherResults);
  }

  /** Members of a group named by OK(MULTICAST_GATHER), or by OK(MULTICAST_FRAME) answering an implicit gather (§5.7). */
  private readonly onGatherResults = (ok: Ok): void => {
    if ((ok.kind !== 'MULTICAST_GATHER' && ok.kind !== 'MULTICAST_FRAME') || ok.networkId !== this.nwid || ok.members === undefined) return;
    const members = ok.members;
    this.guard(() => {
      const now = this.host.now();
      const g = { mac: ok.mac, adi: ok.adi };
      for (const a of members) this.multicaster.add(g, a, now);
      this.sendPending(g, now);
    });
  };

  private sendPending(g: MulticastGroup, now: number): void {
    this.multicaster.deliverPending(g, now, (packet, to) => this.multicastTo(to, packet, now));
  }

  // ---- our multicast groups (vl2.md §5.6, §7.5) ------------------------------------------------------------

  /** Reads the TAP's memberships and our addresses' groups; new ones are announced at once. */
  private async scanGroups(): Promise<void> {
    const tap = this.tap;
    const c = this.cfg;
    if (tap === null || c === null || this.closed) return;
    let fromTap: Array<{ mac: bigint }>;
    try {
      fromTap = await tap.multicastGroups();
    } catch {
      fromTap = [];
    }
    const next = new Map<string, MulticastGroup>();
    const add = (g: MulticastGroup): void => void next.set(groupKey(g), g);
    for (const g of fromTap) add({ mac: g.mac, adi: 0 });
    for (const a of this.allowedAddresses(c)) add(addressResolutionGroup(a.ip));
    if (c.flags & NetworkConfigFlag.ENABLE_BROADCAST) add(BROADCAST_GROUP);
    const fresh = [...next.entries()].filter(([k]) => !this.groups.has(k)).map(([, g]) => g);
    this.groups = next;
    if (fresh.length > 0) this.announce(fresh, [...this.upstreams(), ...this.members.addresses().filter((a) => this.gate(a))]);
  }

  /** MULTICAST_LIKE of `groups` to each of `to` (18 bytes a group; 1.14 starts a new packet when one is full). */
  private announce(groups: MulticastGroup[], to: number[]): void {
    if (groups.length === 0) return;
    const refs = groups.map((g) => ({ networkId: this.nwid, mac: g.mac, adi: g.adi }));
    for (let i = 0; i < refs.length; i += 64) {
      const payload = encodeMulticastLike({ groups: refs.slice(i, i + 64) });
      for (const a of new Set(to)) this.host.send(a, Verb.MULTICAST_LIKE, payload);
    }
  }

  /** Who always hears our LIKEs: the roots, and the controller (an ad-hoc network's "controller" is reserved). */
  private upstreams(): number[] {
    return isAdhocNetworkId(this.nwid) ? this.host.roots() : [...this.host.roots(), this.controller];
  }

  // ---- the model ---------------------------------------------------------------------------------------------

  assignedAddresses(): string[] {
    return this.cfg === null ? [] : this.allowedAddresses(this.cfg).map((a) => `${a.ip}/${a.bits}`);
  }

  /** The network as the local API shows it. */
  describe(): LeafNetwork {
    const c = this.cfg;
    return {
      nwid: this.nwid,
      mac: this.mac,
      name: c?.name ?? '',
      status: this.status,
      type: c !== null && c.type === NetworkType.PUBLIC ? 'PUBLIC' : 'PRIVATE',
      mtu: c?.mtu ?? 2800,
      broadcastEnabled: c !== null && (c.flags & NetworkConfigFlag.ENABLE_BROADCAST) !== 0,
      bridge: false,
      portError: this.portError,
      netconfRevision: c?.revision ?? 0,
      portDeviceName: this.tap?.name ?? '',
      assignedAddresses: this.assignedAddresses(),
      routes: (c?.routes ?? []).map((r) => ({ target: `${r.target.ip}/${r.target.bits}`, via: r.via === null ? null : r.via.ip, flags: r.flags, metric: r.metric })),
      multicastSubscriptions: [...this.groups.values()].map((g) => ({ mac: g.mac, adi: g.adi })),
      dns: { domain: c?.dns.domain ?? '', servers: (c?.dns.servers ?? []).map((x) => x.ip) },
      settings: { ...this.settings },
    };
  }

  /** New allow* settings: the managed addresses and routes are applied again under them. */
  setSettings(s: Partial<NetworkSettings>): void {
    this.settings = { ...this.settings, ...s };
    if (this.cfg !== null) this.configureTap(this.cfg);
  }

  private drop(reason: NetworkDropReason): void {
    this.counters.drops[reason] = (this.counters.drops[reason] ?? 0) + 1;
  }

  /** Runs a step on input from outside; a ZtError is a counted malformed drop, anything else is logged. */
  private guard(fn: () => void): void {
    try {
      fn();
    } catch (e) {
      if ((e as { code?: unknown }).code !== undefined && String((e as { code: unknown }).code).startsWith('ZT_ERR_')) return this.drop('malformed');
      this.drop('malformed');
      this.host.log?.warn({ nwid: hex16(this.nwid), err: e instanceof Error ? e.stack : String(e) }, 'unexpected error in the network');
    }
  }
}

export function hex16(nwid: bigint): string {
  return nwid.toString(16).padStart(16, '0');
}

/** Whether any credential in a NETWORK_CREDENTIALS belongs to network `nwid`. */
function namesNetwork(c: NetworkCredentials, nwid: bigint): boolean {
  return (
    c.coms.some((x) => comNetworkId(x) === nwid) ||
    (c.revocations ?? []).some((x) => x.networkId === nwid) ||
    (c.tags ?? []).some((x) => x.networkId === nwid) ||
    (c.capabilities ?? []).some((x) => x.networkId === nwid) ||
    (c.coos ?? []).some((x) => x.networkId === nwid)
  );
}

/** A revocation threshold (bigint ms) as the credential-time check takes it. */
function thresholdNumber(t: bigint | undefined): number | undefined {
  return t === undefined ? undefined : Number(t);
}

/** `make()`'s function, made on the first call only. */
function lazily<A, R>(make: () => (a: A) => R): (a: A) => R {
  let f: ((a: A) => R) | undefined;
  return (a) => (f ??= make())(a);
}
