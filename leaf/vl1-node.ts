/**
 * The leaf's VL1 node on real UDP sockets: the client half of ZeroTier One 1.14's VL1. Roots are the
 * root server's job (`root/`, `relay/`): this node never relays, never introduces peers, never serves
 * planets and never answers identity collisions.
 *
 * What it does, and where 1.14 does the same (shared/protocol/vl1.md):
 * - HELLOs the planet's roots (§7.2, `Node::_PingPeersThatNeedPing`): every `helloRetryMs` (5 s) while a
 *   root has no path, then every `helloIntervalMs` (224 s). HELLO is always suite 0 with the moon list
 *   encrypted by `cryptField` (§4.5, `Peer::sendHELLO`).
 * - Sends everything else with suite 3 to peers whose protocol is ≥ 12, else suite 1 (§4.4); accepts
 *   suites 0/1/3 from known peers.
 * - Accepts an OK only if it answers a packet we sent and expect a reply to (§3.2, `leaf/expect.ts`).
 * - Learns a direct path only from an expected OK with hops 0 (§7.3, `Peer::received`); for a root, only
 *   at one of its stable endpoint IPs. Another verb arriving with hops 0 on an unknown path triggers a
 *   contact attempt (ECHO, or HELLO to protocol < 5) instead.
 * - Answers HELLO from peers with OK(HELLO) (validating identities it has not seen, off the datagram
 *   handler), ECHO with OK(ECHO).
 * - WHOIS via the best root (§7.4, `leaf/whois.ts`); packets from unknown senders wait for the answer.
 * - Sends to a peer directly when it has a live direct path, else through the best root (§7.5).
 * - RENDEZVOUS only from a root, for a known peer with a non-zero port (§5.6): a 4-byte junk datagram,
 *   then a contact attempt.
 * - Adopts a newer planet from a root's OK(HELLO) if `worldUpdateVerdict` accepts it (§8.3).
 * - Surfaces a root's ERROR(IDENTITY_COLLISION) as the `identity-collision` event (§5.3).
 * - Reassembles fragments (`vl1/fragment.ts`) and fragments packets larger than `mtu`.
 *
 * Deliberate differences from 1.14:
 * - WHOIS received from a peer is not answered (1.14 answers known identities, 1 per 100 ms per peer,
 *   §6.2). 1.14 sends WHOIS only to its upstream (`Switch::requestWhois`), so no 1.14 node asks a leaf;
 *   a sender able to authenticate a WHOIS to us already holds our identity, so our own would tell it
 *   nothing; and serving other peers' identities is the root's job. Counted as `whois-ignored`.
 * - Loopback and link-local paths are allowed unless `allowPath` says otherwise (tests run on one host).
 * - The NAT-opening junk datagram uses the socket's normal TTL, not TTL 2.
 * - HELLO goes to one stable endpoint per family, from that family's socket only (1.14: every socket).
 * - ECHO replies are not rate-limited unless `echoReplyIntervalMs` is set (1.14: ~166 ms per path).
 *
 * Receive path: nothing the network sends makes this throw; every datagram that is not used is counted in
 * `stats.drops` under a reason.
 */
import { EventEmitter } from 'node:events';
import { randomBytes } from 'node:crypto';

import { equalBytes, packetCopy } from '../vl1/bytes.js';
import { DEFAULT_PHYSMTU, ErrorCode, IDX_PAYLOAD, IDX_VERB, MIN_PACKET_LENGTH, PEER_ACTIVITY_TIMEOUT, PROTO_VERSION, PROTO_VERSION_MIN, VERB_MASK, Verb, verbName } from '../vl1/constants.js';
import { ZtError, ZtErrorCode } from '../vl1/errors.js';
import { splitPacket, Reassembler } from '../vl1/fragment.js';
import { Identity } from '../vl1/identity.js';
import { inetAddressFromBytes, parseIp, type InetAddress } from '../vl1/inet-address.js';
import { cipherSuite, compressesVerb, dearmor, getHops, isFragment, openPacket, packetDest, packetId, packetSource, sealPacket } from '../vl1/packet.js';
import { PeerKey } from '../vl1/peer-key.js';
import { buildHelloPacket } from '../vl1/hello-packet.js';
import { decodeError } from '../vl1/verbs/error.js';
import { decodeHello, type Hello } from '../vl1/verbs/hello.js';
import { decodeOk, encodeOk, type Ok } from '../vl1/verbs/ok.js';
import { decodeRendezvous } from '../vl1/verbs/rendezvous.js';
import { encodeWhois } from '../vl1/verbs/whois.js';
import { formatAddress } from '../vl1/address.js';
import { parseWorlds, worldUpdateVerdict, type World } from '../planet/world.js';
import { dropReasonOf, Vl1NodeError, type DropReason } from './errors.js';
import { EXPECT_TTL_MS, ExpectedReplies, type Expect } from './expect.js';
import { pathKey, PeerTable, suiteFor, type Peer } from './peers.js';
import type { IdentityValidatorLike, PeerInfo, PingResult, Via, Vl1Logger, Vl1NodeEvents, Vl1NodeOptions, Vl1NodeStats } from './types.js';
import { UdpSockets } from './udp.js';
import { TcpRelayClient } from './tcp-relay-client.js';
import { WHOIS_QUEUE_TIMEOUT_MS, WhoisQueue } from './whois.js';

export * from './types.js';
export { Vl1NodeError, type DropReason, type Vl1NodeErrorCode } from './errors.js';

/** `ZT_PING_CHECK_INTERVAL`: a root without a path is HELLOed this often. */
export const DEFAULT_HELLO_RETRY_MS = 5000;
/** 16 × the 14 s ping gate: a root with a path is HELLOed this often (§7.2). */
export const DEFAULT_HELLO_INTERVAL_MS = 224000;
/** Contact attempts (ECHO/HELLO to a new path) at most this often per peer and path. */
export const CONTACT_ATTEMPT_INTERVAL_MS = 5000;

/** Default validator: the memory-hard hash in a later event-loop turn, never inside the datagram handler. */
const deferredValidator: IdentityValidatorLike = {
  validate: (id) => new Promise<boolean>((resolve) => setImmediate(() => resolve(id.locallyValidate()))),
};

/**
 * The VL1 node. Construct, `await start()`, use, `await stop()`. Events: see {@link Vl1NodeEvents}.
 */
export class Vl1Node extends EventEmitter<Vl1NodeEvents> {
  readonly identity: Identity;
  readonly address: number;
  /** Counters; read at any time. */
  readonly stats: Vl1NodeStats;
  /** Planets adopted from OK(HELLO), oldest first. */
  readonly receivedPlanetUpdates: World[] = [];
  /** Our physical address as each root reported it in OK(HELLO) (root address → address). */
  readonly externalAddresses = new Map<number, InetAddress>();

  private planetWorld: World;
  private readonly now: () => number;
  private readonly log: Vl1Logger | undefined;
  private readonly helloIntervalMs: number;
  private readonly helloRetryMs: number;
  private readonly ver: { protocol: number; major: number; minor: number; revision: number };
  private readonly validator: IdentityValidatorLike | null;
  private readonly mtu: number;
  private readonly echoReplyIntervalMs: number;
  private readonly bindOpt: { address?: string; port?: number; extraPorts?: number[] };

  private readonly udp: UdpSockets;
  /** The TCP fallback tunnel (`tcpRelay`), or null: UDP only. */
  private readonly tcp: TcpRelayClient | null;
  private readonly tcpForce: boolean;
  private readonly tcpFallbackAfterMs: number;
  /** When UDP last brought us a datagram, and when the node started (ms): the fallback's clock. */
  private lastUdpReceive = 0;
  private startedAt = 0;
  private readonly peers: PeerTable;
  private readonly expecting = new ExpectedReplies();
  private readonly whoisQueue: WhoisQueue;
  private readonly reassembler = new Reassembler();
  /** Addresses whose identity validation is running: later HELLOs from them wait for the verdict. */
  private readonly validating = new Set<number>();
  private readonly pendingTimers = new Set<NodeJS.Timeout>();
  private readonly pendingRejects = new Set<(e: Error) => void>();
  private tick: NodeJS.Timeout | null = null;
  private state: 'new' | 'starting' | 'running' | 'stopped' = 'new';
  private lastRootReceive = 0;
  private wasOnline = false;

  /** @throws {ZtError} NO_PRIVATE_KEY if `identity` has no private key; BAD_CONFIG on bad options. */
  constructor(opts: Vl1NodeOptions) {
    super();
    if (!opts.identity.hasPrivate()) throw new ZtError(ZtErrorCode.NO_PRIVATE_KEY, `Vl1Node: identity ${formatAddress(opts.identity.address)} has no private key`);
    this.identity = opts.identity;
    this.address = opts.identity.address;
    this.planetWorld = opts.planet;
    this.now = opts.now ?? Date.now;
    this.log = opts.logger;
    this.helloIntervalMs = positive(opts.helloIntervalMs, DEFAULT_HELLO_INTERVAL_MS, 'helloIntervalMs');
    this.helloRetryMs = positive(opts.helloRetryMs, DEFAULT_HELLO_RETRY_MS, 'helloRetryMs');
    const v = opts.version ?? {};
    this.ver = { protocol: v.protocol ?? PROTO_VERSION, major: v.major ?? 1, minor: v.minor ?? 14, revision: v.revision ?? 1 };
    this.validator = opts.validateIdentities === false ? null : (opts.validator ?? deferredValidator);
    this.mtu = opts.mtu ?? DEFAULT_PHYSMTU;
    this.echoReplyIntervalMs = opts.echoReplyIntervalMs ?? 0;
    this.bindOpt = opts.bind ?? {};
    this.udp = new UdpSockets({
      onDatagram: (data, from, borrowed) => {
        if (data.length >= 16) this.lastUdpReceive = this.now();
        this.onDatagram(data, from, borrowed);
      },
      log: this.log,
      opener: opts.udpOpener,
    });
    const udp = this.udp;
    this.stats = {
      datagramsIn: 0,
      datagramsOut: 0,
      sent: {},
      received: {},
      drops: {},
      // Counted by the sockets (the batched ones in native code).
      get sendErrors(): number {
        return udp.sendFailures();
      },
    };
    this.tcp =
      opts.tcpRelay === undefined
        ? null
        : new TcpRelayClient({
            relay: opts.tcpRelay.address,
            version: { major: this.ver.major, minor: this.ver.minor, revision: this.ver.revision },
            // As 1.14 injects them: as if received over UDP from the framed source (vl1.md §9.2).
            onDatagram: (data, from) => this.onDatagram(data, from, false),
            log: this.log,
          });
    this.tcpForce = opts.tcpRelay?.force === true;
    this.tcpFallbackAfterMs = positive(opts.tcpRelay?.fallbackAfterMs, 60_000, 'tcpRelay.fallbackAfterMs');
    this.peers = new PeerTable({ me: this.identity, now: this.now, canSend: (f) => this.canSend(f), allowPath: opts.allowPath ?? (() => true) });
    this.peers.memoizeRoots(this.planetWorld);
    this.whoisQueue = new WhoisQueue({
      send: (address) => {
        const root = this.peers.bestRoot();
        if (root === null) return null;
        const r = this.sendRouted(root, Verb.WHOIS, encodeWhois({ addresses: [address] }), { verb: Verb.WHOIS, peer: root.identity.address, sentAt: this.now() });
        return r === null ? null : r.id;
      },
      forget: (ids) => {
        for (const id of ids) this.expecting.delete(id);
      },
    });
  }

  // ---- Lifecycle ---------------------------------------------------------------------------------------

  /** Binds the socket(s), starts the HELLO/housekeeping timer and HELLOs the roots. Idempotent. */
  async start(): Promise<void> {
    if (this.state !== 'new') return;
    this.state = 'starting';
    try {
      await this.udp.open(this.bindOpt.address, this.bindOpt.port ?? 0, this.bindOpt.extraPorts ?? []);
    } catch (e) {
      this.state = 'stopped';
      throw e;
    }
    this.state = 'running';
    this.startedAt = this.now();
    this.tick = setInterval(() => this.onTick(), this.helloRetryMs);
    this.onTick();
  }

  /** Closes sockets, clears every timer and rejects pending calls with ZT_ERR_STOPPED. Idempotent. */
  async stop(): Promise<void> {
    if (this.state === 'stopped') return;
    this.state = 'stopped';
    if (this.tick !== null) clearInterval(this.tick);
    this.tick = null;
    for (const t of this.pendingTimers) clearTimeout(t);
    this.pendingTimers.clear();
    const stopped = new Vl1NodeError('ZT_ERR_STOPPED', `Vl1Node ${formatAddress(this.address)} stopped`);
    const rejects = [...this.pendingRejects];
    this.pendingRejects.clear();
    this.whoisQueue.stop(stopped);
    this.expecting.clear();
    for (const r of rejects) r(stopped);
    await this.udp.close();
    await this.tcp?.close();
  }

  /** Whether datagrams to `family` can leave: through a forced tunnel (either family), else a UDP socket of it. */
  private canSend(family: 4 | 6): boolean {
    return (this.tcp !== null && this.tcpForce) || this.udp.has(family);
  }

  /** 1.14's fallback rule: up and deaf to UDP for `fallbackAfterMs` (vl1.md §9.2). */
  private tcpFallbackEngaged(now: number): boolean {
    return now - this.startedAt >= this.tcpFallbackAfterMs && now - this.lastUdpReceive >= this.tcpFallbackAfterMs;
  }

  /** Whether the TCP fallback carries traffic now (forced, or engaged). */
  get tcpFallbackActive(): boolean {
    return this.tcp !== null && (this.tcpForce || (this.tcp.isConnected && this.tcpFallbackEngaged(this.now())));
  }

  /** The TCP relay tunnel's figures (null without `tcpRelay`). */
  get tcpRelayStats(): TcpRelayClient['stats'] | null {
    return this.tcp?.stats ?? null;
  }

  /** Bound local addresses (one per socket). */
  get boundAddresses(): InetAddress[] {
    return this.udp.bound();
  }

  /** Moves an extra UDP port (the secondary) to `newPort`; see {@link UdpSockets.replacePort}. */
  replaceExtraPort(oldPort: number, newPort: number): Promise<void> {
    return this.udp.replacePort(oldPort, newPort);
  }

  /** The planet currently held (the one given, or the latest adopted update). */
  get planet(): World {
    return this.planetWorld;
  }

  /** True while a root has sent an authenticated, processed packet within 500 s (§7.3). */
  get online(): boolean {
    return this.lastRootReceive > 0 && this.now() - this.lastRootReceive < PEER_ACTIVITY_TIMEOUT;
  }

  /**
   * Resolves once a root has answered with an authenticated packet (immediately if already online).
   * @throws {Vl1NodeError} ZT_ERR_TIMEOUT, ZT_ERR_STOPPED.
   */
  whenOnline(timeoutMs = 10000): Promise<void> {
    if (this.online) return Promise.resolve();
    return this.wait<void>(timeoutMs, `no root answered within ${timeoutMs} ms`, (resolve) => {
      const on = (): void => resolve();
      this.once('online', on);
      return () => this.off('online', on);
    });
  }

  // ---- Peers and paths -------------------------------------------------------------------------------

  /** Makes a peer known without WHOIS (e.g. from configuration). Returns false if a different identity holds the address. */
  addPeer(identity: Identity): boolean {
    const existing = this.peers.get(identity.address);
    if (existing !== undefined) return existing.identity.equals(identity);
    if (identity.address === this.address) return false;
    this.peers.insert(this.peers.create(identity, false, []));
    return true;
  }

  /**
   * Adds a direct path to a peer (the peer's identity, or its address if already known), as if learned.
   * @throws {ZtError} BAD_VALUE if the IP is not an address or the peer is unknown.
   */
  addPath(peer: number | Identity, ip: string, port: number): void {
    if (peer instanceof Identity) this.addPeer(peer);
    const address = peer instanceof Identity ? peer.address : peer;
    const p = this.peers.get(address);
    if (p === undefined) throw new ZtError(ZtErrorCode.BAD_VALUE, `addPath: peer ${formatAddress(address)} is unknown (pass its Identity)`);
    const bytes = parseIp(ip);
    if (bytes === null) throw new ZtError(ZtErrorCode.BAD_VALUE, `addPath: "${ip}" is not an IP address`);
    this.peers.learnPath(p, inetAddressFromBytes(bytes, port)).configured = true;
  }

  /** What we know about a peer, or null. */
  peerInfo(address: number): PeerInfo | null {
    return this.peers.info(address);
  }

  /** Addresses of all known peers. */
  knownPeers(): number[] {
    return this.peers.addresses();
  }

  // ---- Requests ----------------------------------------------------------------------------------------

  /**
   * Asks the best root for an identity (WHOIS, retried every 500 ms) and remembers it.
   * @throws {Vl1NodeError} ZT_ERR_TIMEOUT, ZT_ERR_NO_ROUTE (no root), ZT_ERR_NOT_RUNNING, ZT_ERR_STOPPED.
   */
  whois(address: number, timeoutMs = 5000): Promise<Identity> {
    this.requireRunning();
    if (address === this.address) return Promise.resolve(this.identity.publicOnly());
    if (this.peers.bestRoot() === null) return Promise.reject(new Vl1NodeError('ZT_ERR_NO_ROUTE', `WHOIS ${formatAddress(address)}: no root to ask`));
    return this.whoisQueue.lookup(address, timeoutMs);
  }

  /**
   * Sends one packet to `dest`: directly if it has a live direct path, else through the best root; WHOIS
   * first if the peer is unknown. Resolves with the route taken.
   * @throws {Vl1NodeError} ZT_ERR_NO_ROUTE, ZT_ERR_TIMEOUT (WHOIS), ZT_ERR_NOT_RUNNING; {@link ZtError} BAD_VALUE / TOO_LONG for a bad verb or payload.
   */
  async send(dest: number, verb: number, payload: Uint8Array = new Uint8Array(0), opts: { whoisTimeoutMs?: number } = {}): Promise<Via> {
    const peer = await this.ensurePeer(dest, opts.whoisTimeoutMs ?? 5000);
    const r = this.sendRouted(peer, verb, payload);
    if (r === null) throw new Vl1NodeError('ZT_ERR_NO_ROUTE', `no path to ${formatAddress(dest)} and no root to relay through`);
    return r.via;
  }

  /** The identity of `address` if it is known (a root, or a peer met or looked up), else undefined. */
  identityOf(address: number): Identity | undefined {
    return this.peers.get(address)?.identity;
  }

  /** The roots (planet and orbited moons), the one a packet would be relayed through first. */
  roots(): number[] {
    const best = this.peers.bestRoot();
    const all = this.peers.roots().map((r) => r.identity.address);
    return best === null ? all : [best.identity.address, ...all.filter((a) => a !== best.identity.address)];
  }

  /** Whether `address` is a known peer (its identity is held): `sendNow` can reach it without a WHOIS. */
  knows(address: number): boolean {
    return this.peers.get(address) !== undefined;
  }

  /**
   * Sends one packet to a known peer at once — directly on a live path, else through the best root — for callers
   * that must not wait (VL2 frames); null when the peer is unknown (use `send`, which WHOISes first) or there is
   * no route. With `onOk`, an OK naming this packet is handed to it (until `expectMs`, default 60 s).
   * @throws {ZtError} BAD_VALUE / TOO_LONG for a bad verb or payload.
   */
  sendNow(dest: number, verb: number, payload: Uint8Array, onOk?: (ok: Ok, via: Via) => void): { id: bigint; via: Via } | null {
    if (this.state !== 'running') return null;
    const peer = this.peers.get(dest);
    if (peer === undefined) return null;
    const expect = onOk === undefined ? undefined : { verb: verb & VERB_MASK, peer: dest, sentAt: this.now(), ttlMs: EXPECT_TTL_MS, onOk: (ok: Ok, via: Via) => onOk(ok, via) };
    return this.sendRouted(peer, verb, payload, expect);
  }

  /**
   * Tries `endpoint` as a direct path to known peer `address` (an address it pushed, or a mapping): an ECHO (HELLO
   * to old peers) whose authentic OK makes it a path. Rate-limited per path; false when the peer is unknown or the
   * address may not be a path (see `allowPath`).
   */
  attemptContact(address: number, endpoint: InetAddress): boolean {
    if (this.state !== 'running') return false;
    const peer = this.peers.get(address);
    if (peer === undefined || endpoint.port === 0 || !this.peers.mayUsePath(peer, endpoint) || !this.canSend(endpoint.family)) return false;
    this.contact(peer, endpoint);
    return true;
  }

  /**
   * ECHO → OK(ECHO). `via` tells how the reply arrived.
   * @throws {Vl1NodeError} ZT_ERR_TIMEOUT, ZT_ERR_NO_ROUTE, ZT_ERR_NOT_RUNNING, ZT_ERR_STOPPED.
   */
  async ping(dest: number, timeoutMs = 5000): Promise<PingResult> {
    const started = this.now();
    const peer = await this.ensurePeer(dest, timeoutMs);
    const left = Math.max(1, timeoutMs - (this.now() - started));
    const body = new Uint8Array(randomBytes(8));
    return this.wait<PingResult>(left, `ping ${formatAddress(dest)}: no OK(ECHO) within ${timeoutMs} ms`, (resolve, reject) => {
      const sentAt = this.now();
      const r = this.sendRouted(peer, Verb.ECHO, body, {
        verb: Verb.ECHO,
        peer: dest,
        sentAt,
        onOk: (ok, via) => {
          if (ok.kind === 'ECHO' && equalBytes(ok.payload, body)) resolve({ rttMs: this.now() - sentAt, via });
        },
      });
      if (r === null) reject(new Vl1NodeError('ZT_ERR_NO_ROUTE', `no path to ${formatAddress(dest)} and no root to relay through`));
      return () => {
        if (r !== null) this.expecting.delete(r.id);
      };
    });
  }

  // ---- Internals: helpers ------------------------------------------------------------------------------

  private requireRunning(): void {
    if (this.state !== 'running') throw new Vl1NodeError(this.state === 'stopped' ? 'ZT_ERR_STOPPED' : 'ZT_ERR_NOT_RUNNING', `Vl1Node is ${this.state}`);
  }

  /** A promise with a timeout that stop() rejects; `setup` returns its cleanup. */
  private wait<T>(timeoutMs: number, timeoutMsg: string, setup: (resolve: (v: T) => void, reject: (e: Error) => void) => () => void): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      if (this.state === 'stopped') {
        reject(new Vl1NodeError('ZT_ERR_STOPPED', 'Vl1Node stopped'));
        return;
      }
      let done = false;
      let cleanup: () => void = () => undefined;
      const finish = (): void => {
        done = true;
        clearTimeout(timer);
        this.pendingTimers.delete(timer);
        this.pendingRejects.delete(rej);
        cleanup();
      };
      const res = (v: T): void => {
        if (done) return;
        finish();
        resolve(v);
      };
      const rej = (e: Error): void => {
        if (done) return;
        finish();
        reject(e);
      };
      const timer = setTimeout(() => rej(new Vl1NodeError('ZT_ERR_TIMEOUT', timeoutMsg)), timeoutMs);
      this.pendingTimers.add(timer);
      this.pendingRejects.add(rej);
      cleanup = setup(res, rej);
      if (done) cleanup();
    });
  }

  private async ensurePeer(dest: number, timeoutMs: number): Promise<Peer> {
    this.requireRunning();
    if (dest === this.address) throw new ZtError(ZtErrorCode.BAD_VALUE, `cannot send to our own address ${formatAddress(dest)}`);
    const p = this.peers.get(dest);
    if (p !== undefined) return p;
    await this.whois(dest, timeoutMs);
    const q = this.peers.get(dest);
    if (q === undefined) throw new Vl1NodeError('ZT_ERR_NO_ROUTE', `peer ${formatAddress(dest)} unknown after WHOIS`);
    return q;
  }

  private count(map: Record<string, number>, verb: number): void {
    const n = verbName(verb);
    map[n] = (map[n] ?? 0) + 1;
  }

  private drop(reason: DropReason, from: InetAddress, detail?: string): void {
    this.stats.drops[reason] = (this.stats.drops[reason] ?? 0) + 1;
    this.log?.debug({ reason, from: pathKey(from), detail }, 'dropped datagram');
    if (this.listenerCount('drop') > 0) this.emit('drop', detail === undefined ? { reason, from } : { reason, from, detail });
  }

  // ---- Internals: sending ------------------------------------------------------------------------------

  private transmit(to: InetAddress, data: Uint8Array): boolean {
    if (this.state !== 'running') return false;
    let sent: boolean;
    if (this.tcp !== null && this.tcpForce) sent = this.tcp.send(to, data); // forceTcpRelay: never UDP
    else {
      sent = this.udp.send(to, data);
      // Deaf to UDP: IPv4 also through the tunnel, UDP still in parallel (1.14 tunnels global IPv4 only).
      if (this.tcp !== null && to.family === 4 && this.tcpFallbackEngaged(this.now())) sent = this.tcp.send(to, data) || sent;
    }
    if (!sent) return false;
    this.stats.datagramsOut++;
    return true;
  }

  /**
   * Seals `verb`/`payload` for `peer` and sends it directly if a live direct path exists, else to the root
   * it would relay through (§7.5). Returns the wire packet id (what an OK will name, §3.2) and the route.
   */
  private sendRouted(peer: Peer, verb: number, payload: Uint8Array, expect?: Expect): { id: bigint; via: Via } | null {
    const direct = this.peers.bestPath(peer);
    let targets: InetAddress[];
    let via: Via = 'direct';
    if (direct !== null) targets = [direct.inet];
    else if (peer.isRoot) targets = this.peers.rootTargets(peer);
    else {
      const root = this.peers.bestRoot();
      if (root === null) return null;
      const rp = this.peers.bestPath(root);
      targets = rp !== null ? [rp.inet] : this.peers.rootTargets(root);
      via = 'relayed';
    }
    if (targets.length === 0) return null;
    const id = this.sealAndSend(peer, verb, payload, targets, expect);
    return id === null ? null : { id, via };
  }

  private sealAndSend(peer: Peer, verb: number, payload: Uint8Array, targets: InetAddress[], expect?: Expect): bigint | null {
    const pkt = sealPacket({ dest: peer.identity.address, source: this.address, verb, payload }, peer.key, suiteFor(peer), { mtu: this.mtu, compress: compressesVerb(verb) });
    const id = packetId(pkt);
    if (expect !== undefined) this.expecting.add(id, expect);
    const parts = splitPacket(pkt, this.mtu);
    let any = false;
    for (const to of targets) {
      let ok = true;
      for (const d of parts) ok = this.transmit(to, d) && ok;
      if (ok) {
        any = true;
        const path = peer.paths.get(pathKey(to));
        if (path !== undefined) path.lastSend = this.now();
      }
    }
    if (!any) {
      if (expect !== undefined) this.expecting.delete(id);
      return null;
    }
    this.count(this.stats.sent, verb);
    return id;
  }

  /** HELLO (suite 0, moon list encrypted with cryptField) to one physical address (§5.2, §4.5). */
  private sendHello(peer: Peer, to: InetAddress): void {
    const now = this.now();
    // We orbit no moons: count 0, as 1.14 sends it (137-byte HELLO over IPv4).
    const pkt = buildHelloPacket({
      from: this.identity,
      to: peer.identity,
      key: peer.key,
      physicalDestination: to,
      planet: { id: this.planetWorld.id, timestamp: this.planetWorld.timestamp },
      timestamp: now,
      version: this.ver,
    });
    if (!this.transmit(to, pkt)) return;
    this.expecting.add(packetId(pkt), { verb: Verb.HELLO, peer: peer.identity.address, sentAt: now });
    peer.lastHello = now;
    const path = peer.paths.get(pathKey(to));
    if (path !== undefined) path.lastSend = now;
    this.count(this.stats.sent, Verb.HELLO);
  }

  /** `Peer::attemptToContactAt`: ECHO if the peer speaks protocol ≥ 5, else HELLO. Rate-limited per path. */
  private contact(peer: Peer, to: InetAddress): void {
    const now = this.now();
    const key = pathKey(to);
    const last = peer.contactAttempts.get(key);
    if (last !== undefined && now - last < CONTACT_ATTEMPT_INTERVAL_MS) return;
    peer.contactAttempts.set(key, now);
    this.probe(peer, to);
  }

  /** `Peer::attemptToContactAt`: an ECHO (or a HELLO to peers older than protocol 5) whose OK proves the path. */
  private probe(peer: Peer, to: InetAddress): void {
    if (peer.remoteProtocol >= 5) this.sealAndSend(peer, Verb.ECHO, new Uint8Array(0), [to], { verb: Verb.ECHO, peer: peer.identity.address, sentAt: this.now() });
    else this.sendHello(peer, to);
  }

  private replyOk(peer: Peer, to: InetAddress, ok: Ok): void {
    this.sealAndSend(peer, Verb.OK, encodeOk(ok), [to]);
  }

  // ---- Internals: periodic work ------------------------------------------------------------------------

  private onTick(): void {
    if (this.state !== 'running') return;
    const now = this.now();
    // UDP heard again within 30 s: the tunnel is no longer needed (1.14 closes it the same way). Within the
    // fallback delay when that is shorter: else a tunnel opened after a shorter deafness closed at every check.
    if (this.tcp !== null && !this.tcpForce && this.tcp.isConnected && now - this.lastUdpReceive < Math.min(30_000, this.tcpFallbackAfterMs)) this.tcp.disconnect();
    for (const root of this.peers.roots()) {
      // §7.2: a root without a path is retried on every check; with one, every ~224 s.
      if (this.peers.bestPath(root) !== null && now - root.lastHello < this.helloIntervalMs) continue;
      const targets = new Map<string, InetAddress>();
      for (const p of root.paths.values()) if (this.peers.pathAlive(p, now)) targets.set(p.key, p.inet);
      for (const t of this.peers.rootTargets(root)) {
        if (![...targets.values()].some((x) => x.family === t.family)) targets.set(pathKey(t), t);
      }
      for (const t of targets.values()) this.sendHello(root, t);
    }
    this.expecting.expire(now);
    this.reassembler.expire(now);
    for (const x of this.whoisQueue.expire(now)) this.drop('unknown-peer', x.from, formatAddress(x.source));
    if (this.wasOnline && !this.online) this.wasOnline = false;
  }

  // ---- Internals: receive path -------------------------------------------------------------------------

  /** `borrowed`: `data` is overwritten once this returns (batched sockets), so what outlives the call is copied. */
  private onDatagram(data: Uint8Array, from: InetAddress, borrowed: boolean): void {
    this.stats.datagramsIn++;
    this.guarded(from, () => this.receive(data, from, borrowed));
  }

  /** Runs one step of the receive path; whatever it throws becomes a counted drop. */
  private guarded(from: InetAddress, fn: () => void): void {
    try {
      fn();
    } catch (e) {
      if (e instanceof ZtError) this.drop(dropReasonOf(e.code), from, e.message);
      else {
        this.drop('internal', from, String(e));
        this.log?.warn({ err: String(e), from: pathKey(from) }, 'internal error on the receive path');
      }
    }
  }

  /** `Switch::onRemotePacket` (§3.4): size thresholds, fragments, then the packet itself. */
  private receive(data: Uint8Array, from: InetAddress, borrowed: boolean): void {
    if (data.length <= 16) {
      // 13 bytes = legacy LAN beacon; 4-byte junk is NAT traversal (§3.4): neither is for us to answer.
      this.drop(data.length === 13 ? 'beacon' : 'runt', from);
      return;
    }
    const dest = packetDest(data);
    if (dest !== this.address) {
      this.drop('not-for-me', from, formatAddress(dest)); // relaying is the root's job
      return;
    }
    const now = this.now();
    let pkt: Uint8Array | null;
    if (isFragment(data)) pkt = this.reassembler.offerFragment(data, now);
    else {
      if (data.length < MIN_PACKET_LENGTH) {
        this.drop('runt', from);
        return;
      }
      pkt = this.reassembler.offerHead(data, now);
    }
    // A reassembled packet is a new buffer (the fragments it kept were copied): only a whole datagram is borrowed.
    if (pkt !== null) this.handlePacket(pkt, from, borrowed && pkt === data);
  }

  private handlePacket(pkt: Uint8Array, from: InetAddress, borrowed: boolean): void {
    const source = packetSource(pkt);
    if (source === this.address) {
      this.drop('from-self', from);
      return;
    }
    const hops = getHops(pkt);
    const peer = this.peers.get(source);
    if (cipherSuite(pkt) === 0 && (pkt[IDX_VERB]! & VERB_MASK) === Verb.HELLO) {
      this.handlePlainHello(borrowed ? packetCopy(pkt) : pkt, from, hops, peer); // kept across the identity's validation
      return;
    }
    if (peer === undefined) {
      this.holdForWhois(source, pkt, from);
      return;
    }
    const opened = openPacket(pkt, peer.key);
    const verb = opened.verb;
    // What the handlers and 'packet' listeners get is theirs to keep (decoders keep views of it; a frame may wait for
    // its sender's credentials): a borrowed datagram's payload is copied — a reassembled packet (every full-size
    // frame) or a node:dgram datagram is already ours.
    const payload = borrowed ? packetCopy(opened.payload) : opened.payload;
    let expected: Expect | undefined;
    let ok: Ok | undefined;
    if (verb === Verb.OK) {
      ok = decodeOk(payload);
      expected = this.expecting.match(ok.inRePacketId, source, ok.inReVerb);
      // `IncomingPacket::_doOK`: an OK we did not ask for is ignored before `Peer::received`.
      if (expected === undefined) {
        this.drop('unexpected-ok', from, `in-re ${verbName(ok.inReVerb)} ${ok.inRePacketId.toString(16)}`);
        return;
      }
    }
    const via = this.received(peer, from, hops, verb, expected !== undefined);
    switch (verb) {
      case Verb.NOP:
        return;
      case Verb.HELLO: {
        // HELLO in suite 1/3 (hello-encryption clients relay it so): already authentic under the peer's key.
        const h = decodeHello(payload);
        if (!h.identity.equals(peer.identity)) this.drop('hello-mismatch', from, 'encrypted HELLO with another identity');
        else {
          noteVersion(peer, h);
          this.answerHello(peer, h, packetId(pkt), from);
        }
        return;
      }
      case Verb.OK:
        this.onOk(peer, ok!, expected!, from, hops, via);
        return;
      case Verb.ERROR:
        this.onError(peer, payload);
        return;
      case Verb.WHOIS:
        this.drop('whois-ignored', from, formatAddress(source)); // see the module comment
        return;
      case Verb.RENDEZVOUS:
        this.onRendezvous(peer, payload, from);
        return;
      case Verb.ECHO:
        this.onEcho(peer, payload, from, packetId(pkt));
        return;
      default:
        this.emit('packet', { source, verb, payload, via, hops, from, packetId: packetId(pkt) });
    }
  }

  /**
   * `Peer::received`: bookkeeping for an authenticated packet; learns a path per §7.3 and returns how
   * the packet came (direct = hops 0 on a known direct path of the sender).
   */
  private received(peer: Peer, from: InetAddress, hops: number, verb: number, expectedOk: boolean): Via {
    const now = this.now();
    this.count(this.stats.received, verb);
    peer.lastReceive = now;
    if (peer.isRoot) {
      this.lastRootReceive = now;
      if (!this.wasOnline) {
        this.wasOnline = true;
        this.emit('online');
      }
    }
    if (hops !== 0) return 'relayed';
    let path = peer.paths.get(pathKey(from));
    if (path === undefined && this.peers.mayUsePath(peer, from)) {
      // Only an OK we asked for proves the path works both ways; anything else earns a contact attempt.
      if (verb === Verb.OK && expectedOk) {
        path = this.peers.learnPath(peer, from);
        this.log?.debug({ peer: formatAddress(peer.identity.address), path: path.key }, 'learned path');
      } else if (verb !== Verb.OK) this.contact(peer, from);
    }
    if (path === undefined) return 'relayed';
    path.lastReceive = now;
    path.aliveAt = now;
    return 'direct';
  }

  /** A suite-0 HELLO: the only packet that may come from an unknown sender (§5.2, `_doHELLO`). */
  private handlePlainHello(pkt: Uint8Array, from: InetAddress, hops: number, peer: Peer | undefined): void {
    const h = decodeHello(pkt.subarray(IDX_PAYLOAD));
    if (h.identity.address !== packetSource(pkt)) {
      this.drop('hello-mismatch', from, `source ${formatAddress(packetSource(pkt))} carries identity ${formatAddress(h.identity.address)}`);
      return;
    }
    if (h.protocolVersion < PROTO_VERSION_MIN) {
      this.drop('old-protocol', from, `protocol ${h.protocolVersion}`);
      return;
    }
    if (peer !== undefined && !peer.identity.equals(h.identity)) {
      // Verified with the claimant's own key, so a forgery counts as bad-mac. The peer we know keeps its
      // address; telling the claimant (ERROR IDENTITY_COLLISION) is a root's job, and 1.14 heeds it only from one.
      dearmor(pkt, new PeerKey(this.identity.agree(h.identity)));
      this.drop('identity-collision', from, formatAddress(h.identity.address));
      return;
    }
    if (peer !== undefined) {
      dearmor(pkt, peer.key);
      noteVersion(peer, h);
      this.received(peer, from, hops, Verb.HELLO, false);
      this.answerHello(peer, h, packetId(pkt), from);
      return;
    }
    const fresh = this.peers.create(h.identity, false, []);
    dearmor(pkt, fresh.key); // the cheap MAC check before the memory-hard hash
    const id = packetId(pkt);
    if (this.validator === null) {
      this.acceptHello(fresh, h, id, from, hops);
      return;
    }
    const addr = h.identity.address;
    if (this.validating.has(addr)) {
      this.drop('validation-pending', from, formatAddress(addr));
      return;
    }
    this.validating.add(addr);
    this.validator.validate(h.identity).then(
      (valid) => {
        this.validating.delete(addr);
        if (this.state !== 'running') return;
        if (!valid) this.drop('invalid-identity', from, formatAddress(addr));
        else this.guarded(from, () => this.acceptHello(fresh, h, id, from, hops));
      },
      (err: unknown) => {
        this.validating.delete(addr);
        this.drop('internal', from, `identity validation failed to run: ${String(err)}`);
      },
    );
  }

  /** Adds a validated HELLO's sender (unless its address was taken meanwhile) and answers it. */
  private acceptHello(fresh: Peer, h: Hello, inRe: bigint, from: InetAddress, hops: number): void {
    let peer = this.peers.get(fresh.identity.address);
    if (peer === undefined) peer = this.peers.insert(fresh);
    else if (!peer.identity.equals(fresh.identity)) {
      this.drop('identity-collision', from, formatAddress(fresh.identity.address));
      return;
    }
    noteVersion(peer, h);
    this.received(peer, from, hops, Verb.HELLO, false);
    this.answerHello(peer, h, inRe, from);
  }

  /** Authenticated HELLO: answer OK(HELLO) on the path it came by (§5.4). */
  private answerHello(peer: Peer, h: Hello, inRe: bigint, from: InetAddress): void {
    this.replyOk(peer, from, {
      kind: 'HELLO',
      inReVerb: Verb.HELLO,
      inRePacketId: inRe,
      timestampEcho: h.timestamp,
      protocolVersion: this.ver.protocol,
      versionMajor: this.ver.major,
      versionMinor: this.ver.minor,
      versionRevision: this.ver.revision,
      // 1.14 zeroes the port for protocol < 5 peers (`_doHELLO`); a leaf serves no world updates.
      physicalAddress: h.protocolVersion < 5 ? { ...from, port: 0 } : from,
      worldUpdates: new Uint8Array(0),
    });
  }

  private onOk(peer: Peer, ok: Ok, e: Expect, from: InetAddress, hops: number, via: Via): void {
    const now = this.now();
    if (ok.kind === 'HELLO') {
      this.expecting.delete(ok.inRePacketId);
      if (ok.protocolVersion < PROTO_VERSION_MIN) {
        this.drop('old-protocol', from, `OK(HELLO) protocol ${ok.protocolVersion}`);
        return;
      }
      peer.remoteProtocol = ok.protocolVersion;
      peer.remoteVersion = [ok.versionMajor, ok.versionMinor, ok.versionRevision];
      if (hops === 0) {
        // `_doOK` takes latency and the reflected address only from direct replies.
        const lat = Math.max(0, now - ok.timestampEcho);
        peer.latencyMs = lat;
        const path = peer.paths.get(pathKey(from));
        if (path !== undefined) path.latencyMs = lat;
        if (peer.isRoot && ok.physicalAddress) this.externalAddresses.set(peer.identity.address, ok.physicalAddress);
      }
      // `Topology::shouldAcceptWorldUpdateFrom`: only upstreams may update the planet.
      if (peer.isRoot && ok.worldUpdates !== undefined && ok.worldUpdates.length > 0) this.considerWorlds(ok.worldUpdates, from);
    } else if (ok.kind === 'WHOIS') {
      // 1.14 accepts OK(WHOIS) only from an upstream and reads only the first identity (§5.4).
      if (!peer.isRoot) {
        this.drop('whois-not-from-root', from);
        return;
      }
      const id = ok.identities[0];
      if (id === undefined || id.address === this.address) return;
      this.addPeer(id);
      const known = this.peers.get(id.address);
      if (known !== undefined && known.identity.equals(id)) {
        for (const held of this.whoisQueue.answer(id.address, known.identity)) this.guarded(held.from, () => this.handlePacket(held.pkt, held.from, false));
      }
    } else {
      // A config comes back as one OK per chunk, all naming the one request (vl2.md §2.3): keep expecting it.
      if (ok.inReVerb !== Verb.NETWORK_CONFIG_REQUEST) this.expecting.delete(ok.inRePacketId);
      if (ok.kind === 'ECHO' && hops === 0) {
        const lat = Math.max(0, now - e.sentAt);
        peer.latencyMs = lat;
        const path = peer.paths.get(pathKey(from));
        if (path !== undefined) path.latencyMs = lat;
      }
    }
    e.onOk?.(ok, via, hops);
  }

  /** §8.3: a planet from a root's OK(HELLO) replaces ours only if same id, newer, and signed by our update key. */
  private considerWorlds(blob: Uint8Array, from: InetAddress): void {
    let worlds: World[];
    try {
      worlds = parseWorlds(blob);
    } catch (err) {
      this.drop('malformed', from, `OK(HELLO) world updates: ${String(err instanceof Error ? err.message : err)}`);
      return;
    }
    for (const w of worlds) {
      if (w.type !== 'planet') continue; // moons: we orbit none
      const v = worldUpdateVerdict(this.planetWorld, w);
      if (!v.accepted) {
        if (v.reason !== 'not-newer') this.log?.info({ reason: v.reason, msg: v.message }, 'planet update refused');
        continue;
      }
      this.planetWorld = w;
      this.receivedPlanetUpdates.push(w);
      this.peers.memoizeRoots(w);
      this.log?.info({ id: w.id.toString(16), timestamp: w.timestamp }, 'adopted planet update');
      this.emit('planet', w);
    }
  }

  /** `_doERROR` (§5.3): reported as an event; IDENTITY_COLLISION from a root also as its own event. */
  private onError(peer: Peer, payload: Uint8Array): void {
    const e = decodeError(payload);
    if (e.code === ErrorCode.IDENTITY_COLLISION && peer.isRoot) this.emit('identity-collision', { root: peer.identity.address });
    this.emit('peer-error', {
      source: peer.identity.address,
      inReVerb: e.inReVerb,
      inRePacketId: e.inRePacketId,
      errorCode: e.code,
      ...(e.networkId !== undefined ? { networkId: e.networkId } : {}),
      ...(e.errorData !== undefined ? { errorData: e.errorData.slice() } : {}),
    });
  }

  /** `_doRENDEZVOUS` (§5.6): only from a root, for a known peer, to a usable address. */
  private onRendezvous(peer: Peer, payload: Uint8Array, from: InetAddress): void {
    if (!peer.isRoot) {
      this.drop('rendezvous-not-from-root', from, formatAddress(peer.identity.address));
      return;
    }
    const r = decodeRendezvous(payload);
    const target = this.peers.get(r.address);
    if (target !== undefined) return this.punch(target, r.endpoint, from);
    // 1.14 ignores a RENDEZVOUS naming a peer it does not know yet (`_doRENDEZVOUS`) and waits for the root to
    // introduce the pair again, 30 s later. The root sends it together with the pair's first relayed packet, so
    // that peer is usually being looked up at this very moment: finish the lookup and punch then.
    this.whois(r.address, 5000).then(
      () => {
        const known = this.peers.get(r.address);
        if (known !== undefined) this.punch(known, r.endpoint, from);
      },
      () => this.drop('rendezvous-unknown-peer', from, formatAddress(r.address)),
    );
  }

  /** Acts on an introduction: open our NAT towards `endpoint`, then contact the peer there. */
  private punch(target: Peer, endpoint: InetAddress, from: InetAddress): void {
    if (endpoint.port === 0 || !this.peers.mayUsePath(target, endpoint) || !this.canSend(endpoint.family)) {
      this.drop('rendezvous-bad-address', from, pathKey(endpoint));
      return;
    }
    // A 4-byte junk datagram first to open our NAT (1.14 sends it with TTL 2), then the real contact.
    // The probe does not count against the per-path contact limit: the far NAT usually drops it (the peer
    // has not sent our way yet), and the packet the peer then sends us must be able to trigger the probe
    // that gets through (see received()). The root paces introductions, 30 s per pair.
    this.transmit(endpoint, new Uint8Array(randomBytes(4)));
    target.contactAttempts.delete(pathKey(endpoint));
    this.probe(target, endpoint);
    this.emit('rendezvous', { peer: target.identity.address, endpoint });
  }

  /** `_doECHO`: OK(ECHO) with the payload, on the path the ECHO came by. */
  private onEcho(peer: Peer, payload: Uint8Array, from: InetAddress, inRe: bigint): void {
    if (this.echoReplyIntervalMs > 0) {
      const path = peer.paths.get(pathKey(from));
      const now = this.now();
      if (path !== undefined) {
        if (now - path.lastEchoReply < this.echoReplyIntervalMs) {
          this.drop('rate-limited', from, 'ECHO');
          return;
        }
        path.lastEchoReply = now;
      }
    }
    this.replyOk(peer, from, { kind: 'ECHO', inReVerb: Verb.ECHO, inRePacketId: inRe, payload });
  }

  /** `Switch` RX queue: a packet from an unknown sender waits for its WHOIS (§7.5). */
  private holdForWhois(source: number, pkt: Uint8Array, from: InetAddress): void {
    if (this.peers.bestRoot() === null) {
      this.drop('unknown-peer', from, formatAddress(source));
      return;
    }
    if (!this.whoisQueue.hold({ source, pkt: pkt.slice(), from, at: this.now() })) {
      this.drop('unknown-peer', from, `${formatAddress(source)} (queue full)`);
      return;
    }
    if (!this.whoisQueue.pending(source)) {
      // No point asking longer than the packet may wait; its expiry is counted by onTick.
      this.whoisQueue.lookup(source, WHOIS_QUEUE_TIMEOUT_MS).catch(() => undefined);
    }
  }
}

/**
 * An authenticated HELLO's versions, recorded before `received()` as `_doHELLO` does before
 * `Peer::received`, so a contact attempt it triggers already knows the peer speaks ECHO (protocol ≥ 5).
 */
function noteVersion(peer: Peer, h: Hello): void {
  peer.remoteProtocol = h.protocolVersion;
  peer.remoteVersion = [h.versionMajor, h.versionMinor, h.versionRevision];
}

function positive(v: number | undefined, dflt: number, name: string): number {
  if (v === undefined) return dflt;
  if (!Number.isFinite(v) || v <= 0) throw new ZtError(ZtErrorCode.BAD_CONFIG, `Vl1Node ${name}: must be a positive number of ms, got ${String(v)}`);
  return v;
}
