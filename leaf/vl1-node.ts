/**
 * A small VL1 node on real UDP sockets: the client half of ZeroTier One 1.14's VL1 (and, when its
 * identity is one of the planet's roots, a minimal "answer as upstream" half). It is the seed of the
 * leaf node (`leaf/`), and what the root server's integration tests drive.
 *
 * What it does, and where 1.14 does the same (shared/protocol/vl1.md):
 * - HELLOs the planet's roots (§7.2, `Node::_PingPeersThatNeedPing`): every `helloRetryMs` (5 s) while a
 *   root has no path, then every `helloIntervalMs` (224 s). HELLO is always suite 0 with the moon list
 *   encrypted by `cryptField` (§4.5, `Peer::sendHELLO`).
 * - Sends everything else with suite 3 to peers whose protocol is ≥ 12, else suite 1 (§4.4,
 *   `Peer::aesKeysIfSupported`); accepts suites 0/1/3 from known peers.
 * - Accepts an OK only if its in-re packet id is one it sent and expects a reply to (§3.2,
 *   `Node::expectReplyTo`, `IncomingPacket::_doOK`); others are dropped and counted as `unexpected-ok`.
 * - Learns a direct path only from an expected OK with hops 0 (§7.3, `Peer::received`); for a root, only
 *   from one of its stable endpoint IPs (`Topology::isProhibitedEndpoint`). Another verb arriving with
 *   hops 0 on an unknown path triggers a contact attempt (ECHO, or HELLO to protocol < 5) instead.
 * - WHOIS via the best root (§7.4, `Topology::getUpstreamPeer`), retried every 500 ms
 *   (`ZT_WHOIS_RETRY_DELAY`); packets from unknown senders wait up to 5 s for the answer (the RX queue of
 *   `Switch`), then are dropped as `unknown-peer`.
 * - Sends to a peer directly when it has a live direct path, else addressed to the peer through the best
 *   root (§7.5, `Switch::_trySend`).
 * - RENDEZVOUS only from a root, only for a known peer with a non-zero port (§5.6,
 *   `IncomingPacket::_doRENDEZVOUS`): a 4-byte junk datagram, then ECHO (HELLO to protocol < 5).
 * - OK(HELLO) from a root carrying a newer planet that passes `checkWorldUpdate` is adopted (§8.3).
 * - Fragments are reassembled (`vl1/fragment.ts`) and sent when a packet exceeds `mtu`.
 *
 * As upstream (its address is a root of its planet, or `answerAsUpstream`): validates new identities,
 * learns the sender's address from any authenticated packet (as root.cpp does), answers HELLO with
 * OK(HELLO) (carrying its planet when the HELLO names an older one), WHOIS with OK(WHOIS), relays packets for
 * other addresses while hops < 3 (§4.7) and sends RENDEZVOUS to both ends at most every 30 s per pair
 * (§6.2). This exists for tests; the real root is `root/`.
 *
 * Deliberate differences from 1.14, all for running on one test host:
 * - Loopback and link-local paths are allowed (1.14's `Node::shouldUsePathForZeroTierTraffic` refuses them);
 *   pass `allowPath` to restore the rule.
 * - The NAT-opening junk datagram is sent with the socket's normal TTL, not TTL 2.
 * - HELLO goes to every stable endpoint family we have a socket for, from that socket only (1.14 sends from
 *   every bound socket, `Binder::udpSendAll`).
 * - ECHO replies are not rate-limited unless `echoReplyIntervalMs` is set (1.14: ~166 ms per path).
 *
 * Receive path: nothing the network sends makes this throw; every datagram that is not used is counted in
 * `stats.drops` under a reason.
 */
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { EventEmitter } from 'node:events';
import { randomBytes } from 'node:crypto';

import { ByteReader, ByteWriter, equalBytes } from '../vl1/bytes.js';
import { DEFAULT_PHYSMTU, ErrorCode, IDX_PAYLOAD, IDX_VERB, MIN_PACKET_LENGTH, PEER_ACTIVITY_TIMEOUT, PEER_PATH_EXPIRATION, PROTO_VERSION, PROTO_VERSION_AES, PROTO_VERSION_MIN, RELAY_MAX_HOPS, VERB_MASK, Verb, verbName } from '../vl1/constants.js';
import { ZtError, ZtErrorCode } from '../vl1/errors.js';
import { splitPacket, Reassembler } from '../vl1/fragment.js';
import { Identity } from '../vl1/identity.js';
import { formatInetAddress, inetAddressFromBytes, parseIp, type InetAddress } from '../vl1/inet-address.js';
import { armor, buildPacket, cipherSuite, cryptField, dearmor, getHops, hasExtendedArmor, incrementHops, isFragment, openPacket, packetDest, packetId, packetSource, removeExtendedArmor, sealPacket, type ArmorSuite } from '../vl1/packet.js';
import { PeerKey } from '../vl1/peer-key.js';
import { decodeHello, encodeHello, encodeHelloMoons } from '../vl1/verbs/hello.js';
import { decodeOk, encodeOk, type Ok } from '../vl1/verbs/ok.js';
import { decodeRendezvous, encodeRendezvous } from '../vl1/verbs/rendezvous.js';
import { decodeWhois, encodeWhois } from '../vl1/verbs/whois.js';
import { formatAddress } from '../vl1/address.js';
import { parseWorlds, serializeWorld, worldUpdateVerdict, type World } from '../planet/world.js';

// ---- Timers and limits (node/Constants.hpp values unless noted) ------------------------------------

/** `ZT_PING_CHECK_INTERVAL`: a root without a path is HELLOed this often. */
export const DEFAULT_HELLO_RETRY_MS = 5000;
/** 16 × `ZT_PEER_PING_PERIOD`-gate of 14 s: a root with a path is HELLOed this often (§7.2). */
export const DEFAULT_HELLO_INTERVAL_MS = 224000;
/** `ZT_WHOIS_RETRY_DELAY`. */
export const WHOIS_RETRY_MS = 500;
/** `ZT_TRANSMIT_QUEUE_TIMEOUT` / `ZT_RECEIVE_QUEUE_TIMEOUT`: how long a packet waits for a WHOIS. */
export const WHOIS_QUEUE_TIMEOUT_MS = 5000;
/** `ZT_RX_QUEUE_SIZE`: packets held while their sender is being WHOISed. */
export const WHOIS_QUEUE_MAX = 32;
/** How long an expected-reply record (HELLO) is kept; ping/whois records live for their own timeout. */
export const EXPECT_TTL_MS = 60000;
/** Upper bound on expected-reply records (1.14: 256 buckets × 32). */
export const EXPECT_MAX = 8192;
/** Contact attempts (ECHO/HELLO to a new path) at most this often per peer and path. */
export const CONTACT_ATTEMPT_INTERVAL_MS = 5000;
/** `ZT_MIN_UNITE_INTERVAL`: upstream mode sends RENDEZVOUS at most this often per unordered pair. */
export const UNITE_INTERVAL_MS = 30000;
/** `ZT_PEER_WHOIS_RATE_LIMIT`: a non-upstream node answers WHOIS at most this often per peer. */
export const WHOIS_REPLY_INTERVAL_MS = 100;

// ---- Public types ------------------------------------------------------------------------------------

/** pino-compatible subset (`logger.info({ ...fields }, 'message')`). */
export interface Vl1Logger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
}

export interface Vl1NodeOptions {
  /** Our identity; must hold the private key. */
  identity: Identity;
  /** The planet whose roots we use (adopted updates replace it, see `planet`). */
  planet: World;
  /**
   * Where to bind. With `address`, one socket of that address's family; without, '0.0.0.0' and '::'
   * (IPv6-only; skipped if the host has no IPv6). `port` 0 or absent = ephemeral.
   */
  bind?: { address?: string; port?: number };
  /** Clock in ms since the epoch (HELLO timestamps, path ages, RTTs). Default `Date.now`. */
  now?: () => number;
  logger?: Vl1Logger;
  /** Root HELLO period once the root has a path. Default 224000 (§7.2). */
  helloIntervalMs?: number;
  /** Root HELLO period while it has no path, and the housekeeping tick. Default 5000. */
  helloRetryMs?: number;
  /** What we advertise in HELLO / OK(HELLO). Defaults: protocol 12, version 1.14.1. */
  version?: { protocol?: number; major?: number; minor?: number; revision?: number };
  /** Answer as an upstream (HELLO/WHOIS/relay/RENDEZVOUS). Default: true iff our address is a planet root. */
  answerAsUpstream?: boolean;
  /** Run `locallyValidate` on identities first seen in a HELLO (as 1.14 does). Default true. */
  validateIdentities?: boolean;
  /** Largest datagram we send; bigger packets are fragmented. Default 1432 (`ZT_DEFAULT_PHYSMTU`). */
  mtu?: number;
  /** Upstream mode: relay only packets whose hop count is below this. Default 3 (`ZT_RELAY_MAX_HOPS`). */
  relayMaxHops?: number;
  /** Minimum ms between OK(ECHO) replies per path; 0 = none (default; 1.14 uses ~166). */
  echoReplyIntervalMs?: number;
  /** Which physical addresses may become paths. Default: all (1.14 refuses loopback / link-local). */
  allowPath?: (a: InetAddress) => boolean;
}

/** How a packet reached us, or how we sent one. */
export type Via = 'direct' | 'relayed';

/** An application packet (any verb the VL1 core does not consume, e.g. USER_MESSAGE 0x14). */
export interface ReceivedPacket {
  source: number;
  verb: number;
  /** Decrypted, decompressed payload (a copy). */
  payload: Uint8Array;
  via: Via;
  hops: number;
  /** Physical address the datagram came from (the root's, when relayed). */
  from: InetAddress;
}

/** Why a datagram was not used. Stable strings (metric labels). */
export type DropReason =
  | 'runt'
  | 'beacon'
  | 'malformed'
  | 'bad-mac'
  | 'unsupported-cipher'
  | 'bad-compression'
  | 'bad-fragment'
  | 'from-self'
  | 'not-for-me'
  | 'unknown-peer'
  | 'unexpected-ok'
  | 'old-protocol'
  | 'hello-mismatch'
  | 'invalid-identity'
  | 'identity-collision'
  | 'whois-not-from-root'
  | 'rendezvous-not-from-root'
  | 'rendezvous-unknown-peer'
  | 'rendezvous-bad-address'
  | 'hop-limit'
  | 'relay-no-path'
  | 'rate-limited'
  | 'internal';

export interface DropEvent {
  reason: DropReason;
  from: InetAddress;
  detail?: string;
}

export interface Vl1NodeStats {
  datagramsIn: number;
  datagramsOut: number;
  /** Packets we originated, by verb name (`HELLO`, `ECHO`, `OK`, ...). */
  sent: Record<string, number>;
  /** Authenticated packets addressed to us, by verb name. */
  received: Record<string, number>;
  /** Unused datagrams by reason. */
  drops: Partial<Record<DropReason, number>>;
  /** Upstream mode: datagrams forwarded for other addresses. */
  relayed: number;
  /** Upstream mode: RENDEZVOUS sent. */
  rendezvousSent: number;
  /** Datagrams whose send failed at the socket. */
  sendErrors: number;
}

export interface PathInfo {
  /** "ip/port". */
  address: string;
  inet: InetAddress;
  /** Always true here: only direct paths are stored (relaying is reported as `relayVia`). */
  direct: true;
  /** Configured with `addPath` rather than learned from an OK. */
  configured: boolean;
  /** Received on (or configured) within `ZT_PEER_PATH_EXPIRATION` (243 s). */
  alive: boolean;
  lastReceive: number | null;
  lastSend: number | null;
  latencyMs: number | null;
}

export interface PeerInfo {
  address: string;
  identity: string;
  isRoot: boolean;
  protocolVersion: number | null;
  version: string | null;
  latencyMs: number | null;
  lastReceive: number | null;
  paths: PathInfo[];
  /** The root a packet to this peer would go through now, or null when it would go direct (or nowhere). */
  relayVia: string | null;
}

export interface PingResult {
  rttMs: number;
  /** How the OK(ECHO) arrived. */
  via: Via;
}

export interface Vl1NodeEvents {
  packet: [ReceivedPacket];
  /** A root answered (first time, or again after being offline). */
  online: [];
  /** An OK(HELLO) carried a newer planet that we adopted. */
  planet: [World];
  drop: [DropEvent];
  /** A RENDEZVOUS from a root was accepted and acted upon. */
  rendezvous: [{ peer: number; endpoint: InetAddress }];
  /** An authenticated ERROR arrived. */
  'peer-error': [{ source: number; inReVerb: number; inRePacketId: bigint; errorCode: number }];
  /** A root sent ERROR(IDENTITY_COLLISION): 1.14 would throw its identity away and restart (§5.3). */
  'identity-collision': [{ root: number }];
}

/** API errors of the node (not network garbage, which is only counted). */
export type Vl1NodeErrorCode = 'ZT_ERR_TIMEOUT' | 'ZT_ERR_STOPPED' | 'ZT_ERR_NOT_RUNNING' | 'ZT_ERR_NO_ROUTE' | 'ZT_ERR_REMOTE';

export class Vl1NodeError extends Error {
  override readonly name = 'Vl1NodeError';
  readonly code: Vl1NodeErrorCode;
  constructor(code: Vl1NodeErrorCode, message: string) {
    super(message);
    this.code = code;
  }
}

// ---- Internal state ------------------------------------------------------------------------------------

interface Path {
  inet: InetAddress;
  key: string;
  configured: boolean;
  /** Last receive, or the configuration time for configured paths (alive-ness). */
  aliveAt: number;
  lastReceive: number | null;
  lastSend: number | null;
  latencyMs: number | null;
  lastEchoReply: number;
}

interface Peer {
  identity: Identity;
  key: PeerKey;
  isRoot: boolean;
  stableEndpoints: InetAddress[];
  /** 0 = unknown (1.14 creates root peers with version 0, so first packets are suite 1). */
  remoteProtocol: number;
  remoteVersion: [number, number, number] | null;
  paths: Map<string, Path>;
  lastReceive: number | null;
  latencyMs: number | null;
  lastHello: number;
  contactAttempts: Map<string, number>;
  lastWhoisReply: number;
}

interface Expect {
  verb: number;
  peer: number;
  sentAt: number;
  /** Called with the OK, the route it came by and the hop count (after it was authenticated). */
  onOk?: (ok: Ok, via: Via, hops: number) => void;
}

interface WhoisWaiter {
  resolve: Array<(id: Identity) => void>;
  reject: Array<(e: Error) => void>;
  retry: NodeJS.Timeout;
  deadline: NodeJS.Timeout;
  ids: bigint[];
}

interface QueuedRx {
  pkt: Uint8Array;
  from: InetAddress;
  at: number;
}

function pathKey(a: InetAddress): string {
  return formatInetAddress(a);
}

/**
 * The VL1 node. Construct, `await start()`, use, `await stop()`. Events: see {@link Vl1NodeEvents}.
 */
export class Vl1Node extends EventEmitter<Vl1NodeEvents> {
  readonly identity: Identity;
  readonly address: number;
  /** Counters; read at any time. */
  readonly stats: Vl1NodeStats = { datagramsIn: 0, datagramsOut: 0, sent: {}, received: {}, drops: {}, relayed: 0, rendezvousSent: 0, sendErrors: 0 };
  /** Planets adopted from OK(HELLO), oldest first. */
  readonly receivedPlanetUpdates: World[] = [];
  /** Our physical address as each root reported it in OK(HELLO) (root address → "ip/port"). */
  readonly externalAddresses = new Map<number, InetAddress>();

  private planetWorld: World;
  private readonly now: () => number;
  private readonly log: Vl1Logger | undefined;
  private readonly helloIntervalMs: number;
  private readonly helloRetryMs: number;
  private readonly ver: { protocol: number; major: number; minor: number; revision: number };
  private readonly upstream: boolean;
  private readonly validateIdentities: boolean;
  private readonly mtu: number;
  private readonly relayMaxHops: number;
  private readonly echoReplyIntervalMs: number;
  private readonly allowPath: (a: InetAddress) => boolean;
  private readonly bindOpt: { address?: string; port?: number };

  private readonly peers = new Map<number, Peer>();
  private readonly expecting = new Map<bigint, Expect>();
  private readonly whoisWaiters = new Map<number, WhoisWaiter>();
  private readonly whoisQueue = new Map<number, QueuedRx[]>();
  private whoisQueued = 0;
  private readonly pendingTimers = new Set<NodeJS.Timeout>();
  private readonly pendingRejects = new Set<(e: Error) => void>();
  private readonly lastUnite = new Map<string, number>();
  private readonly reassembler = new Reassembler();
  private readonly sockets = new Map<4 | 6, Socket>();
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
    this.upstream = opts.answerAsUpstream ?? opts.planet.roots.some((r) => r.identity.address === this.address);
    this.validateIdentities = opts.validateIdentities ?? true;
    this.mtu = opts.mtu ?? DEFAULT_PHYSMTU;
    this.relayMaxHops = opts.relayMaxHops ?? RELAY_MAX_HOPS;
    this.echoReplyIntervalMs = opts.echoReplyIntervalMs ?? 0;
    this.allowPath = opts.allowPath ?? (() => true);
    this.bindOpt = opts.bind ?? {};
    this.memoizeRoots();
  }

  // ---- Lifecycle ---------------------------------------------------------------------------------------

  /** Binds the socket(s), starts the HELLO/housekeeping timer and HELLOs the roots. Idempotent. */
  async start(): Promise<void> {
    if (this.state !== 'new') return;
    this.state = 'starting';
    const port = this.bindOpt.port ?? 0;
    try {
      if (this.bindOpt.address !== undefined) {
        const ip = parseIp(this.bindOpt.address);
        if (ip === null) throw new ZtError(ZtErrorCode.BAD_CONFIG, `Vl1Node bind.address: "${this.bindOpt.address}" is not an IP address`);
        await this.bindSocket(ip.length === 4 ? 4 : 6, this.bindOpt.address, port);
      } else {
        await this.bindSocket(4, '0.0.0.0', port);
        try {
          await this.bindSocket(6, '::', port === 0 ? 0 : port);
        } catch (e) {
          this.log?.info({ err: String(e) }, 'no IPv6 socket');
        }
      }
    } catch (e) {
      this.closeSockets();
      this.state = 'stopped';
      throw e;
    }
    this.state = 'running';
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
    for (const w of this.whoisWaiters.values()) {
      clearTimeout(w.retry);
      clearTimeout(w.deadline);
    }
    const stopped = new Vl1NodeError('ZT_ERR_STOPPED', `Vl1Node ${formatAddress(this.address)} stopped`);
    const rejects = [...this.pendingRejects];
    for (const w of this.whoisWaiters.values()) rejects.push(...w.reject);
    this.pendingRejects.clear();
    this.whoisWaiters.clear();
    this.whoisQueue.clear();
    this.expecting.clear();
    for (const r of rejects) r(stopped);
    await this.closeSockets();
  }

  /** Bound local addresses (one per socket). */
  get boundAddresses(): InetAddress[] {
    const out: InetAddress[] = [];
    for (const [family, s] of this.sockets) {
      const a = s.address();
      out.push({ family, ip: a.address, port: a.port });
    }
    return out;
  }

  /** The planet currently held (the one given, or the latest adopted update). */
  get planet(): World {
    return this.planetWorld;
  }

  /** True while a root has sent an authenticated, processed packet within 500 s (§7.3). */
  get online(): boolean {
    return this.lastRootReceive > 0 && this.now() - this.lastRootReceive < PEER_ACTIVITY_TIMEOUT;
  }

  /** Whether this node answers as an upstream. */
  get isUpstream(): boolean {
    return this.upstream;
  }

  /**
   * Resolves once a root has answered a HELLO with an authenticated OK (immediately if already online).
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
    this.peers.set(identity.address, this.newPeer(identity.publicOnly(), false, []));
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
    const inet = inetAddressFromBytes(bytes, port);
    const path = this.learnPath(p, inet);
    path.configured = true;
  }

  /** What we know about a peer, or null. */
  peerInfo(address: number): PeerInfo | null {
    const p = this.peers.get(address);
    if (p === undefined) return null;
    const now = this.now();
    const direct = this.bestPath(p);
    const root = direct === null && !p.isRoot ? this.bestRoot() : null;
    return {
      address: formatAddress(address),
      identity: p.identity.toString(false),
      isRoot: p.isRoot,
      protocolVersion: p.remoteProtocol === 0 ? null : p.remoteProtocol,
      version: p.remoteVersion === null ? null : p.remoteVersion.join('.'),
      latencyMs: p.latencyMs,
      lastReceive: p.lastReceive,
      paths: [...p.paths.values()].map((x) => ({
        address: x.key,
        inet: { ...x.inet },
        direct: true as const,
        configured: x.configured,
        alive: now - x.aliveAt < PEER_PATH_EXPIRATION,
        lastReceive: x.lastReceive,
        lastSend: x.lastSend,
        latencyMs: x.latencyMs,
      })),
      relayVia: root === null ? null : formatAddress(root.identity.address),
    };
  }

  /** Addresses of all known peers. */
  knownPeers(): number[] {
    return [...this.peers.keys()];
  }

  // ---- Requests ----------------------------------------------------------------------------------------

  /**
   * Asks the best root for an identity (WHOIS, retried every 500 ms) and remembers it.
   * @throws {Vl1NodeError} ZT_ERR_TIMEOUT, ZT_ERR_NO_ROUTE (no root), ZT_ERR_NOT_RUNNING, ZT_ERR_STOPPED.
   */
  whois(address: number, timeoutMs = 5000): Promise<Identity> {
    this.requireRunning();
    if (address === this.address) return Promise.resolve(this.identity.publicOnly());
    if (this.bestRoot() === null) return Promise.reject(new Vl1NodeError('ZT_ERR_NO_ROUTE', `WHOIS ${formatAddress(address)}: no root to ask`));
    return new Promise<Identity>((resolve, reject) => {
      let w = this.whoisWaiters.get(address);
      if (w === undefined) {
        const send = (): void => {
          const root = this.bestRoot();
          if (root === null) return;
          const r = this.sendPacketRouted(root, Verb.WHOIS, encodeWhois({ addresses: [address] }), { verb: Verb.WHOIS, peer: root.identity.address, sentAt: this.now() });
          if (r !== null) waiter.ids.push(r.id);
        };
        const waiter: WhoisWaiter = {
          resolve: [],
          reject: [],
          ids: [],
          retry: setInterval(send, WHOIS_RETRY_MS),
          deadline: setTimeout(() => {
            this.finishWhois(address, null, new Vl1NodeError('ZT_ERR_TIMEOUT', `WHOIS ${formatAddress(address)}: no answer within ${timeoutMs} ms`));
          }, timeoutMs),
        };
        w = waiter;
        this.whoisWaiters.set(address, w);
        send();
      }
      w.resolve.push(resolve);
      w.reject.push(reject);
    });
  }

  /**
   * Sends one packet to `dest`: directly if it has a live direct path, else through the best root; WHOIS
   * first if the peer is unknown. Resolves with the route taken.
   * @throws {Vl1NodeError} ZT_ERR_NO_ROUTE, ZT_ERR_TIMEOUT (WHOIS), ZT_ERR_NOT_RUNNING; {@link ZtError} BAD_VALUE / TOO_LONG for a bad verb or payload.
   */
  async send(dest: number, verb: number, payload: Uint8Array = new Uint8Array(0), opts: { whoisTimeoutMs?: number } = {}): Promise<Via> {
    const peer = await this.ensurePeer(dest, opts.whoisTimeoutMs ?? 5000);
    const r = this.sendPacketRouted(peer, verb, payload);
    if (r === null) throw new Vl1NodeError('ZT_ERR_NO_ROUTE', `no path to ${formatAddress(dest)} and no root to relay through`);
    return r.via;
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
      let id: bigint | null = null;
      const sentAt = this.now();
      const r = this.sendPacketRouted(peer, Verb.ECHO, body, {
        verb: Verb.ECHO,
        peer: dest,
        sentAt,
        onOk: (ok, via) => {
          if (ok.kind === 'ECHO' && equalBytes(ok.payload, body)) resolve({ rttMs: this.now() - sentAt, via });
        },
      });
      if (r === null) reject(new Vl1NodeError('ZT_ERR_NO_ROUTE', `no path to ${formatAddress(dest)} and no root to relay through`));
      else id = r.id;
      return () => {
        if (id !== null) this.expecting.delete(id);
      };
    });
  }

  // ---- Internals: sockets ------------------------------------------------------------------------------

  private bindSocket(family: 4 | 6, address: string, port: number): Promise<void> {
    const s = createSocket(family === 4 ? { type: 'udp4' } : { type: 'udp6', ipv6Only: true });
    return new Promise<void>((resolve, reject) => {
      const onError = (e: Error): void => {
        s.close();
        reject(e);
      };
      s.once('error', onError);
      s.bind({ address, port, exclusive: true }, () => {
        s.off('error', onError);
        s.on('error', (e) => this.log?.warn({ err: String(e), family }, 'UDP socket error'));
        s.on('message', (msg: Buffer, rinfo: RemoteInfo) => this.onDatagram(msg, rinfo));
        this.sockets.set(family, s);
        resolve();
      });
    });
  }

  private async closeSockets(): Promise<void> {
    const socks = [...this.sockets.values()];
    this.sockets.clear();
    await Promise.all(socks.map((s) => new Promise<void>((r) => s.close(() => r()))));
  }

  private transmit(to: InetAddress, data: Uint8Array): boolean {
    const s = this.sockets.get(to.family);
    if (s === undefined || this.state !== 'running') return false;
    this.stats.datagramsOut++;
    s.send(data, to.port, to.ip, (err) => {
      if (err) {
        this.stats.sendErrors++;
        this.log?.debug({ to: pathKey(to), err: String(err) }, 'send failed');
      }
    });
    return true;
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

  private newPeer(identity: Identity, isRoot: boolean, stableEndpoints: InetAddress[]): Peer {
    return {
      identity,
      key: new PeerKey(this.identity.agree(identity)),
      isRoot,
      stableEndpoints,
      remoteProtocol: 0,
      remoteVersion: null,
      paths: new Map(),
      lastReceive: null,
      latencyMs: null,
      lastHello: 0,
      contactAttempts: new Map(),
      lastWhoisReply: 0,
    };
  }

  /** `Topology::_memoizeUpstreams`: a peer for every root of the planet (no WHOIS, no validation). */
  private memoizeRoots(): void {
    const rootAddrs = new Set<number>();
    for (const r of this.planetWorld.roots) {
      if (r.identity.address === this.address) continue;
      rootAddrs.add(r.identity.address);
      const existing = this.peers.get(r.identity.address);
      if (existing !== undefined && existing.identity.equals(r.identity)) {
        existing.isRoot = true;
        existing.stableEndpoints = r.stableEndpoints.slice();
      } else {
        this.peers.set(r.identity.address, this.newPeer(r.identity.publicOnly(), true, r.stableEndpoints.slice()));
      }
    }
    for (const p of this.peers.values()) if (!rootAddrs.has(p.identity.address)) p.isRoot = false;
  }

  private pathAlive(p: Path, now: number): boolean {
    return now - p.aliveAt < PEER_PATH_EXPIRATION;
  }

  /** Most recently alive direct path. */
  private bestPath(peer: Peer): Path | null {
    const now = this.now();
    let best: Path | null = null;
    for (const p of peer.paths.values()) {
      if (!this.pathAlive(p, now) || !this.sockets.has(p.inet.family)) continue;
      if (best === null || p.aliveAt > best.aliveAt) best = p;
    }
    return best;
  }

  /** `Topology::getUpstreamPeer` / `Peer::relayQuality` (§7.4). */
  private bestRoot(): Peer | null {
    const now = this.now();
    let best: Peer | null = null;
    let bestQ = Infinity;
    const sorted = [...this.peers.values()].filter((p) => p.isRoot).sort((a, b) => a.identity.address - b.identity.address);
    for (const p of sorted) {
      const since = p.lastReceive === null ? Infinity : now - p.lastReceive;
      const q = since >= PEER_ACTIVITY_TIMEOUT ? Number.MAX_SAFE_INTEGER : (p.latencyMs ?? 0xffff) * (Math.floor(since / 61000) + 1);
      if (q <= bestQ) {
        best = p; // ties go to the later address
        bestQ = q;
      }
    }
    return best;
  }

  private learnPath(peer: Peer, inet: InetAddress): Path {
    const key = pathKey(inet);
    let path = peer.paths.get(key);
    if (path === undefined) {
      path = { inet, key, configured: false, aliveAt: this.now(), lastReceive: null, lastSend: null, latencyMs: null, lastEchoReply: 0 };
      peer.paths.set(key, path);
      this.log?.debug({ peer: formatAddress(peer.identity.address), path: key }, 'learned path');
    }
    return path;
  }

  /** `Node::shouldUsePathForZeroTierTraffic` + `Topology::isProhibitedEndpoint` (§7.3). */
  private mayUsePath(peer: Peer, inet: InetAddress): boolean {
    if (!this.allowPath(inet)) return false;
    if (peer.isRoot && peer.stableEndpoints.length > 0) return peer.stableEndpoints.some((e) => e.family === inet.family && e.ip === inet.ip);
    return true;
  }

  private suiteFor(peer: Peer): ArmorSuite {
    return peer.remoteProtocol >= PROTO_VERSION_AES ? 3 : 1;
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

  private expect(id: bigint, e: Expect): void {
    if (this.expecting.size >= EXPECT_MAX) {
      const oldest = this.expecting.keys().next().value as bigint;
      this.expecting.delete(oldest);
    }
    this.expecting.set(id, e);
  }

  // ---- Internals: sending ------------------------------------------------------------------------------

  /**
   * Seals `verb`/`payload` for `peer` and sends it directly if a live direct path exists, else to the root
   * it would relay through. Returns the wire packet id (what an OK will name, §3.2) and the route, or null.
   */
  private sendPacketRouted(peer: Peer, verb: number, payload: Uint8Array, expect?: Expect): { id: bigint; via: Via } | null {
    const direct = this.bestPath(peer);
    let targets: InetAddress[];
    let via: Via = 'direct';
    if (direct !== null) targets = [direct.inet];
    else if (peer.isRoot) targets = this.rootTargets(peer);
    else {
      const root = this.bestRoot();
      if (root === null) return null;
      const rp = this.bestPath(root);
      targets = rp !== null ? [rp.inet] : this.rootTargets(root);
      via = 'relayed';
    }
    if (targets.length === 0) return null;
    const id = this.sealAndSend(peer, verb, payload, targets, expect);
    return id === null ? null : { id, via };
  }

  /** One stable endpoint per family we have a socket for (§7.2 step 3; we pick the first, not a random one). */
  private rootTargets(root: Peer): InetAddress[] {
    const out: InetAddress[] = [];
    for (const fam of [4, 6] as const) {
      if (!this.sockets.has(fam)) continue;
      const e = root.stableEndpoints.find((x) => x.family === fam);
      if (e !== undefined) out.push(e);
    }
    return out;
  }

  private sealAndSend(peer: Peer, verb: number, payload: Uint8Array, targets: InetAddress[], expect?: Omit<Expect, 'sentAt'> & { sentAt?: number }): bigint | null {
    const pkt = sealPacket({ dest: peer.identity.address, source: this.address, verb, payload }, peer.key, this.suiteFor(peer), { mtu: this.mtu });
    const id = packetId(pkt);
    if (expect !== undefined) this.expect(id, { ...expect, sentAt: expect.sentAt ?? this.now() });
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
  private sendHello(peer: Peer, to: InetAddress): bigint | null {
    const now = this.now();
    const tail = encodeHelloMoons([]); // we orbit no moons: count 0, as 1.14 sends it (137-byte HELLO over IPv4)
    const payload = encodeHello({
      protocolVersion: this.ver.protocol,
      versionMajor: this.ver.major,
      versionMinor: this.ver.minor,
      versionRevision: this.ver.revision,
      timestamp: now,
      identity: this.identity,
      physicalDestination: to,
      planetWorldId: this.planetWorld.id,
      planetWorldTimestamp: this.planetWorld.timestamp,
      encryptedTail: tail,
    });
    const pkt = buildPacket({ dest: peer.identity.address, source: this.address, verb: Verb.HELLO, payload });
    cryptField(pkt, peer.key, pkt.length - tail.length, tail.length);
    armor(pkt, peer.key, 0); // `Peer::sendHELLO` never encrypts HELLO: a root must read the identity first
    const id = packetId(pkt);
    if (!this.transmit(to, pkt)) return null;
    this.expect(id, { verb: Verb.HELLO, peer: peer.identity.address, sentAt: now });
    peer.lastHello = now;
    const path = peer.paths.get(pathKey(to));
    if (path !== undefined) path.lastSend = now;
    this.count(this.stats.sent, Verb.HELLO);
    return id;
  }

  /** `Peer::attemptToContactAt`: ECHO if the peer speaks protocol ≥ 5, else HELLO. Rate-limited per path. */
  private contact(peer: Peer, to: InetAddress): void {
    const now = this.now();
    const key = pathKey(to);
    const last = peer.contactAttempts.get(key);
    if (last !== undefined && now - last < CONTACT_ATTEMPT_INTERVAL_MS) return;
    peer.contactAttempts.set(key, now);
    if (peer.remoteProtocol >= 5) {
      this.sealAndSend(peer, Verb.ECHO, new Uint8Array(0), [to], { verb: Verb.ECHO, peer: peer.identity.address });
    } else {
      this.sendHello(peer, to);
    }
  }

  // ---- Internals: periodic work ------------------------------------------------------------------------

  private onTick(): void {
    if (this.state !== 'running') return;
    const now = this.now();
    for (const root of this.peers.values()) {
      if (!root.isRoot) continue;
      const hasPath = this.bestPath(root) !== null;
      // §7.2: a root without a path is retried on every check; with one, every ~224 s.
      if (hasPath && now - root.lastHello < this.helloIntervalMs) continue;
      const targets = new Map<string, InetAddress>();
      for (const p of root.paths.values()) if (this.pathAlive(p, now)) targets.set(p.key, p.inet);
      for (const fam of [4, 6] as const) {
        if ([...targets.values()].some((t) => t.family === fam)) continue;
        for (const t of this.rootTargets(root)) if (t.family === fam) targets.set(pathKey(t), t);
      }
      for (const t of targets.values()) this.sendHello(root, t);
    }
    for (const [id, e] of this.expecting) {
      if (e.onOk === undefined && now - e.sentAt > EXPECT_TTL_MS) this.expecting.delete(id);
    }
    this.reassembler.expire(now);
    for (const [addr, q] of this.whoisQueue) {
      const keep = q.filter((x) => now - x.at < WHOIS_QUEUE_TIMEOUT_MS);
      for (const x of q) if (!keep.includes(x)) this.drop('unknown-peer', x.from, formatAddress(addr));
      this.whoisQueued -= q.length - keep.length;
      if (keep.length === 0) this.whoisQueue.delete(addr);
      else this.whoisQueue.set(addr, keep);
    }
    if (this.wasOnline && !this.online) this.wasOnline = false;
  }

  private finishWhois(address: number, id: Identity | null, err: Error | null): void {
    const w = this.whoisWaiters.get(address);
    if (w === undefined) return;
    this.whoisWaiters.delete(address);
    clearInterval(w.retry);
    clearTimeout(w.deadline);
    for (const i of w.ids) this.expecting.delete(i);
    if (id !== null) for (const r of w.resolve) r(id);
    else for (const r of w.reject) r(err ?? new Vl1NodeError('ZT_ERR_TIMEOUT', `WHOIS ${formatAddress(address)} failed`));
  }

  // ---- Internals: receive path -------------------------------------------------------------------------

  private onDatagram(msg: Buffer, rinfo: RemoteInfo): void {
    this.stats.datagramsIn++;
    const ip = parseIp(rinfo.address);
    if (ip === null) return; // cannot happen for a UDP source; nothing to attribute a drop to
    const from = inetAddressFromBytes(ip, rinfo.port);
    const data = new Uint8Array(msg.buffer, msg.byteOffset, msg.length);
    try {
      this.receive(data, from);
    } catch (e) {
      if (e instanceof ZtError) this.drop(dropReasonOf(e.code), from, e.message);
      else {
        this.drop('internal', from, String(e));
        this.log?.warn({ err: String(e), from: pathKey(from) }, 'internal error on the receive path');
      }
    }
  }

  /** `Switch::onRemotePacket` (§3.4): size thresholds, fragments, relaying, then the packet itself. */
  private receive(data: Uint8Array, from: InetAddress): void {
    const now = this.now();
    if (data.length <= 16) {
      // 13 bytes = legacy LAN beacon; 4-byte junk is NAT traversal (§3.4): neither is for us to answer.
      this.drop(data.length === 13 ? 'beacon' : 'runt', from);
      return;
    }
    const dest = packetDest(data);
    if (dest !== this.address) {
      this.relay(data, dest, from);
      return;
    }
    let pkt: Uint8Array | null;
    if (isFragment(data)) pkt = this.reassembler.offerFragment(data, now);
    else {
      if (data.length < MIN_PACKET_LENGTH) {
        this.drop('runt', from);
        return;
      }
      pkt = this.reassembler.offerHead(data, now);
    }
    if (pkt === null) return; // waiting for more fragments
    this.handlePacket(pkt, from);
  }

  private handlePacket(pktIn: Uint8Array, from: InetAddress): void {
    let pkt = pktIn;
    const source = packetSource(pkt);
    if (source === this.address) {
      this.drop('from-self', from);
      return;
    }
    if (this.upstream && hasExtendedArmor(pkt)) pkt = removeExtendedArmor(pkt, this.identity.privateKey!); // §4.6, as root.cpp
    const hops = getHops(pkt);
    const peer = this.peers.get(source);
    if (cipherSuite(pkt) === 0 && (pkt[IDX_VERB]! & VERB_MASK) === Verb.HELLO) {
      this.handlePlainHello(pkt, from, hops, peer);
      return;
    }
    if (peer === undefined) {
      this.queueForWhois(source, pkt, from);
      return;
    }
    const opened = openPacket(pkt, peer.key);
    const payload = opened.payload;
    const verb = opened.verb;
    let expected: Expect | undefined;
    let ok: Ok | undefined;
    if (verb === Verb.OK) {
      ok = decodeOk(payload);
      expected = this.expecting.get(ok.inRePacketId);
      // `IncomingPacket::_doOK`: an OK we did not ask for is ignored before `Peer::received`.
      if (expected === undefined || expected.peer !== source || expected.verb !== ok.inReVerb) {
        this.drop('unexpected-ok', from, `in-re ${verbName(ok.inReVerb)} ${ok.inRePacketId.toString(16)}`);
        return;
      }
    }
    const via = this.received(peer, from, hops, verb, expected !== undefined);
    switch (verb) {
      case Verb.NOP:
        return;
      case Verb.HELLO:
        this.onHello(peer, decodeHello(payload), pkt, from, hops);
        return;
      case Verb.OK:
        this.onOk(peer, ok!, expected!, from, hops, via);
        return;
      case Verb.ERROR:
        this.onError(peer, payload);
        return;
      case Verb.WHOIS:
        this.onWhois(peer, payload, from, packetId(pkt));
        return;
      case Verb.RENDEZVOUS:
        this.onRendezvous(peer, payload, from);
        return;
      case Verb.ECHO:
        this.onEcho(peer, payload, from, packetId(pkt));
        return;
      default:
        this.emit('packet', { source, verb, payload: payload.slice(), via, hops, from });
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
    if (path === undefined) {
      // 1.14 learns only from an expected OK; a root (root.cpp) records any authenticated sender address.
      if (((verb === Verb.OK && expectedOk) || this.upstream) && this.mayUsePath(peer, from)) path = this.learnPath(peer, from);
      else if (this.mayUsePath(peer, from) && verb !== Verb.OK) this.contact(peer, from);
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
      // §6.2: verify with the new identity's key; only an authentic HELLO earns ERROR(IDENTITY_COLLISION).
      const key = new PeerKey(this.identity.agree(h.identity));
      dearmor(pkt, key);
      if (this.upstream) {
        const err = buildPacket({
          dest: h.identity.address,
          source: this.address,
          verb: Verb.ERROR,
          payload: errorPrefix(Verb.HELLO, packetId(pkt), ErrorCode.IDENTITY_COLLISION),
        });
        armor(err, key, 1);
        if (this.transmit(from, err)) this.count(this.stats.sent, Verb.ERROR);
      }
      this.drop('identity-collision', from, formatAddress(h.identity.address));
      return;
    }
    let p = peer;
    if (p === undefined) {
      const fresh = this.newPeer(h.identity.publicOnly(), false, []);
      dearmor(pkt, fresh.key); // cheap MAC check before the memory-hard hash
      if (this.validateIdentities && !h.identity.locallyValidate()) {
        this.drop('invalid-identity', from, formatAddress(h.identity.address));
        return;
      }
      this.peers.set(h.identity.address, fresh);
      p = fresh;
    } else {
      dearmor(pkt, p.key);
    }
    const via = this.received(p, from, hops, Verb.HELLO, false);
    void via;
    this.onHello(p, h, pkt, from, hops);
  }

  /** Authenticated HELLO: remember the version and answer OK(HELLO) on the path it came by (§5.4). */
  private onHello(peer: Peer, h: ReturnType<typeof decodeHello>, pkt: Uint8Array, from: InetAddress, hops: number): void {
    if (!h.identity.equals(peer.identity)) {
      this.drop('hello-mismatch', from, 'encrypted HELLO with another identity');
      return;
    }
    peer.remoteProtocol = h.protocolVersion;
    peer.remoteVersion = [h.versionMajor, h.versionMinor, h.versionRevision];
    void hops;
    let worldUpdates: Uint8Array | undefined;
    // A 1.14 root sends its planet only when the HELLO names the same planet with an older timestamp.
    if (this.upstream && h.planetWorldId === this.planetWorld.id && h.planetWorldTimestamp !== undefined && h.planetWorldTimestamp < this.planetWorld.timestamp) {
      worldUpdates = serializeWorld(this.planetWorld);
    }
    const physicalAddress = h.protocolVersion < 5 ? { ...from, port: 0 } : from;
    const body = encodeOk({
      kind: 'HELLO',
      inReVerb: Verb.HELLO,
      inRePacketId: packetId(pkt),
      timestampEcho: h.timestamp,
      protocolVersion: this.ver.protocol,
      versionMajor: this.ver.major,
      versionMinor: this.ver.minor,
      versionRevision: this.ver.revision,
      physicalAddress,
      worldUpdates: worldUpdates ?? new Uint8Array(0),
    });
    this.sealAndSend(peer, Verb.OK, body, [from]);
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
        // Latency only from direct replies (`_doOK` updates path latency only with hops 0).
        const lat = Math.max(0, now - ok.timestampEcho);
        peer.latencyMs = lat;
        const path = peer.paths.get(pathKey(from));
        if (path !== undefined) path.latencyMs = lat;
        if (peer.isRoot && ok.physicalAddress) this.externalAddresses.set(peer.identity.address, ok.physicalAddress);
      }
      // `Topology::shouldAcceptWorldUpdateFrom`: only upstreams may update the planet.
      if (peer.isRoot && ok.worldUpdates !== undefined && ok.worldUpdates.length > 0) this.considerWorlds(ok.worldUpdates, from);
    } else if (ok.kind === 'WHOIS') {
      const w = this.whoisWaiters.get(ok.identities[0]!.address);
      // 1.14 accepts OK(WHOIS) only from an upstream and reads only the first identity.
      if (!peer.isRoot) {
        this.drop('whois-not-from-root', from);
        return;
      }
      const id = ok.identities[0]!;
      if (id.address === this.address) return;
      this.addPeer(id);
      const known = this.peers.get(id.address);
      if (known !== undefined && known.identity.equals(id)) {
        if (w !== undefined) this.finishWhois(id.address, known.identity, null);
        this.replayQueued(id.address);
      }
    } else {
      this.expecting.delete(ok.inRePacketId);
      if (ok.kind === 'ECHO' && hops === 0 && e.sentAt > 0) {
        const path = peer.paths.get(pathKey(from));
        const lat = Math.max(0, now - e.sentAt);
        peer.latencyMs = lat;
        if (path !== undefined) path.latencyMs = lat;
      }
    }
    e.onOk?.(ok, via, hops);
  }

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
      this.memoizeRoots();
      this.log?.info({ id: w.id.toString(16), timestamp: w.timestamp }, 'adopted planet update');
      this.emit('planet', w);
    }
  }

  /** `_doERROR`: only the fixed prefix matters here (§5.3); the code-specific tail is not needed. */
  private onError(peer: Peer, payload: Uint8Array): void {
    const r = new ByteReader(payload);
    const inReVerb = r.u8('ERROR in-re verb');
    const inRePacketId = r.u64('ERROR in-re packet id');
    const errorCode = r.u8('ERROR code');
    if (errorCode === ErrorCode.IDENTITY_COLLISION && peer.isRoot) this.emit('identity-collision', { root: peer.identity.address });
    this.emit('peer-error', { source: peer.identity.address, inReVerb, inRePacketId, errorCode });
  }

  /** `_doWHOIS`: answer with the identities we know (upstreams without rate limit, §6.2). */
  private onWhois(peer: Peer, payload: Uint8Array, from: InetAddress, inRe: bigint): void {
    const w = decodeWhois(payload);
    const now = this.now();
    if (!this.upstream) {
      if (now - peer.lastWhoisReply < WHOIS_REPLY_INTERVAL_MS) {
        this.drop('rate-limited', from, 'WHOIS');
        return;
      }
      peer.lastWhoisReply = now;
    }
    const found: Identity[] = [];
    for (const a of w.addresses) {
      if (a === this.address) found.push(this.identity.publicOnly());
      else {
        const p = this.peers.get(a);
        if (p !== undefined) found.push(p.identity);
      }
    }
    if (found.length === 0) return; // §5.5: misses get no reply
    this.replyOk(peer, from, { kind: 'WHOIS', inReVerb: Verb.WHOIS, inRePacketId: inRe, identities: found });
  }

  /** `_doRENDEZVOUS` (§5.6): only from a root, for a known peer, to a usable address. */
  private onRendezvous(peer: Peer, payload: Uint8Array, from: InetAddress): void {
    if (!peer.isRoot) {
      this.drop('rendezvous-not-from-root', from, formatAddress(peer.identity.address));
      return;
    }
    const r = decodeRendezvous(payload);
    const target = this.peers.get(r.address);
    if (target === undefined) {
      this.drop('rendezvous-unknown-peer', from, formatAddress(r.address));
      return;
    }
    if (r.endpoint.port === 0 || !this.mayUsePath(target, r.endpoint) || !this.sockets.has(r.endpoint.family)) {
      this.drop('rendezvous-bad-address', from, pathKey(r.endpoint));
      return;
    }
    // A 4-byte junk datagram first to open our NAT (1.14 sends it with TTL 2), then the real contact.
    this.transmit(r.endpoint, new Uint8Array(randomBytes(4)));
    target.contactAttempts.delete(pathKey(r.endpoint));
    this.contact(target, r.endpoint);
    this.emit('rendezvous', { peer: r.address, endpoint: r.endpoint });
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

  private replyOk(peer: Peer, to: InetAddress, ok: Ok): void {
    this.sealAndSend(peer, Verb.OK, encodeOk(ok), [to]);
  }

  private queueForWhois(source: number, pkt: Uint8Array, from: InetAddress): void {
    if (this.upstream || this.bestRoot() === null) {
      this.drop('unknown-peer', from, formatAddress(source));
      return;
    }
    if (this.whoisQueued >= WHOIS_QUEUE_MAX) {
      this.drop('unknown-peer', from, `${formatAddress(source)} (queue full)`);
      return;
    }
    const q = this.whoisQueue.get(source) ?? [];
    q.push({ pkt: pkt.slice(), from, at: this.now() });
    this.whoisQueue.set(source, q);
    this.whoisQueued++;
    if (!this.whoisWaiters.has(source)) {
      this.whois(source, WHOIS_QUEUE_TIMEOUT_MS).catch(() => undefined); // expiry is counted by onTick
    }
  }

  private replayQueued(address: number): void {
    const q = this.whoisQueue.get(address);
    if (q === undefined) return;
    this.whoisQueue.delete(address);
    this.whoisQueued -= q.length;
    for (const x of q) {
      try {
        this.handlePacket(x.pkt, x.from);
      } catch (e) {
        if (e instanceof ZtError) this.drop(dropReasonOf(e.code), x.from, e.message);
        else this.drop('internal', x.from, String(e));
      }
    }
  }

  // ---- Upstream mode: relaying and uniting -----------------------------------------------------------

  /** §6.2 / `Switch::onRemotePacket`: forward with hops + 1 while hops < relayMaxHops; unite first-hop pairs. */
  private relay(data: Uint8Array, dest: number, from: InetAddress): void {
    if (!this.upstream) {
      this.drop('not-for-me', from, formatAddress(dest));
      return;
    }
    const hops = getHops(data);
    if (hops >= this.relayMaxHops) {
      this.drop('hop-limit', from, `hops ${hops}`);
      return;
    }
    const target = this.peers.get(dest);
    const path = target === undefined ? null : this.bestPath(target);
    if (target === undefined || path === null) {
      this.drop('relay-no-path', from, formatAddress(dest));
      return;
    }
    if (!isFragment(data) && hops === 0) {
      const src = this.peers.get(packetSource(data));
      if (src !== undefined) this.unite(src, target);
    }
    const out = data.slice(); // the receive buffer belongs to dgram
    incrementHops(out);
    if (this.transmit(path.inet, out)) this.stats.relayed++;
  }

  /** `Peer::introduce`: RENDEZVOUS to both ends, per family both have, at most every 30 s per pair. */
  private unite(a: Peer, b: Peer): void {
    const [x, y] = a.identity.address < b.identity.address ? [a, b] : [b, a];
    const key = `${x.identity.address}-${y.identity.address}`;
    const now = this.now();
    const last = this.lastUnite.get(key);
    if (last !== undefined && now - last < UNITE_INTERVAL_MS) return;
    const pa = this.bestPath(a);
    const pb = this.bestPath(b);
    if (pa === null || pb === null || pa.inet.family !== pb.inet.family) return;
    this.lastUnite.set(key, now);
    const toA = encodeRendezvous({ flags: 0, address: b.identity.address, endpoint: pb.inet });
    const toB = encodeRendezvous({ flags: 0, address: a.identity.address, endpoint: pa.inet });
    if (this.sealAndSend(b, Verb.RENDEZVOUS, toB, [pb.inet]) !== null) this.stats.rendezvousSent++;
    if (this.sealAndSend(a, Verb.RENDEZVOUS, toA, [pa.inet]) !== null) this.stats.rendezvousSent++;
  }
}

/**
 * ERROR's fixed prefix (§5.3): in-re verb, in-re packet id, code — all of IDENTITY_COLLISION's payload.
 * Written here rather than with `vl1/verbs/error.ts` because only these 10 bytes are needed.
 */
function errorPrefix(inReVerb: number, inRePacketId: bigint, code: number): Uint8Array {
  return new ByteWriter(10).u8(inReVerb).u64(inRePacketId).u8(code).finish();
}

function positive(v: number | undefined, dflt: number, name: string): number {
  if (v === undefined) return dflt;
  if (!Number.isFinite(v) || v <= 0) throw new ZtError(ZtErrorCode.BAD_CONFIG, `Vl1Node ${name}: must be a positive number of ms, got ${String(v)}`);
  return v;
}

function dropReasonOf(code: string): DropReason {
  switch (code) {
    case ZtErrorCode.BAD_MAC:
      return 'bad-mac';
    case ZtErrorCode.UNSUPPORTED_CIPHER:
      return 'unsupported-cipher';
    case ZtErrorCode.BAD_COMPRESSION:
      return 'bad-compression';
    case ZtErrorCode.BAD_FRAGMENT:
      return 'bad-fragment';
    default:
      return 'malformed';
  }
}

