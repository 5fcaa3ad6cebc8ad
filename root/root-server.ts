/**
 * The root server's control plane and socket wiring.
 *
 *   UDP :port (v4 + v6) ─► peek header ─┬─ dest is me ──► (extended armor) ─► HELLO / dearmor ─► verb handler ─► reply
 *                                       └─ dest is other ─► Relay.forward (hops+1, send; RENDEZVOUS on first hop)
 *
 * What a 1.14 client needs from its root is in shared/protocol/vl1.md §6.8; this follows 1.14's own
 * behaviour as an upstream (§6.2) where root.cpp differs (it validates before trusting a HELLO's MAC,
 * answers collisions only when the HELLO is authentic, and relays only below 3 hops).
 *
 * We advertise protocol version 12, so 1.14 clients talk AES-GMAC-SIV (suite 3) to us, as they do to
 * each other, instead of the Salsa20/12 they would use with root.cpp's version 11; suites 0, 1 and 3
 * are all accepted on receive (§4.4).
 */
import { EventEmitter } from 'node:events';
import type tls from 'node:tls';
import { Identity } from '../vl1/identity.js';
import { PeerKey } from '../vl1/peer-key.js';
import {
  CipherSuite,
  ErrorCode,
  FLAG_EXTENDED_ARMOR,
  FLAG_FRAGMENTED,
  IDX_FLAGS,
  IDX_PAYLOAD,
  IDX_VERB,
  MIN_PACKET_LENGTH,
  PEER_ACTIVITY_TIMEOUT,
  PROTO_VERSION,
  PROTO_VERSION_MIN,
  Verb,
  verbName,
} from '../vl1/constants.js';
import { isZtError, ZtError, ZtErrorCode } from '../vl1/errors.js';
import { concatBytes, readU40, toHex } from '../vl1/bytes.js';
import { cryptField, dearmor, isFragment, openPacket, removeExtendedArmor, sealPacket, type ArmorSuite } from '../vl1/packet.js';
import { decodeHello, decodeHelloMoons, encodeHello, type Hello } from '../vl1/verbs/hello.js';
import { decodeMulticastGather, decodeMulticastLike } from '../vl1/verbs/multicast.js';
import { decodeOk, encodeOk } from '../vl1/verbs/ok.js';
import { encodeError } from '../vl1/verbs/error.js';
import { decodeWhois } from '../vl1/verbs/whois.js';
import { encodeRendezvous } from '../vl1/verbs/rendezvous.js';
import type { InetAddress } from '../vl1/inet-address.js';
import { formatAddress } from '../vl1/address.js';
import { parseWorld, type World } from '../planet/world.js';
import { Relay, type RelayOptions } from '../relay/relay.js';
import { TcpTunnelServer, type TunnelServerOptions } from '../relay/tcp-tunnel-server.js';
import { openUdpSocket, resolveUdpPath, type UdpPath, type UdpPathMode, type UdpSocket } from '../relay/udp-socket.js';
import { coarseSeconds, PeerTable, RootPeer } from './peer-table.js';
import { MulticastSubscriptions } from './multicast-subscriptions.js';
import { RateGate, sourcePrefixKey } from './rate-gate.js';
import { SourceBudget, type SourceBudgetOptions } from './source-budget.js';
import { TunnelPaths } from './tunnel-paths.js';
import { isCurrentPath, PathProbes } from './path-probes.js';
import { FleetForwarding, type RootFleet } from './fleet-forwarding.js';
import { PeerAdoption } from './peer-adoption.js';

export type { RootFleet } from './fleet-forwarding.js';

/** Validates identities off the event loop (root/identity-validator.ts implements it). */
export interface IdentityValidatorLike {
  /** `source`: the requester's prefix (the new-identity gate's key), for fairness across prefixes. */
  validate(identity: Identity, source?: string): Promise<boolean>;
  /** A remembered verdict, or undefined: lets a replayed HELLO of a known-bad identity cost nothing. */
  cached?(identity: Identity): boolean | undefined;
  /** Whether exactly this identity was validated before (remembered, never hashed): peer adoption relies on it. */
  validatedBefore?(identity: Identity): Promise<boolean>;
}

/** Minimal logger shape (pino's). */
export interface Logger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

const silentLogger: Logger = { debug() {}, info() {}, warn() {}, error() {} };

export interface RootServerOptions {
  /** UDP port (default 9993). 0 picks a free one (tests). */
  port: number;
  /** More UDP ports to serve, on both families (e.g. every port the planet lists for this root). */
  extraPorts: number[];
  /** IPv4 bind address, or null for no IPv4 socket (default '0.0.0.0'). */
  bind4: string | null;
  /** IPv6 bind address, or null for no IPv6 socket (default '::'; IPV6_V6ONLY, so no mapped addresses). */
  bind6: string | null;
  /** Peers silent this long are forgotten (ms; ZeroTier's `ZT_PEER_ACTIVITY_TIMEOUT`, 500 s). */
  peerTimeoutMs: number;
  /** How often housekeeping runs (ms). */
  housekeepingMs: number;
  /** Replies (OK/ERROR) one peer may get per second; a client sends each HELLO from several sockets. */
  repliesPerPeerPerSecond: number;
  /**
   * Replies one source IP may get per second, whatever peers it claims to be: bounds what a spoofed or
   * replayed stream can make us reflect. A big NAT (many clients, one IP) needs headroom: each client
   * sends a WHOIS to its root every 5 s.
   */
  repliesPerIpPerSecond: number;
  /**
   * New identities validated per source /24 (IPv4) or /48 (IPv6): one per `newIdentityIntervalMs` after a
   * burst of `newIdentityBurst`. 1.14 allows one per 2 s per prefix (hash); a burst lets a NAT full of
   * clients come up together while still bounding a flood to a sliver of one worker.
   */
  newIdentityIntervalMs: number;
  newIdentityBurst: number;
  /** Largest OK(MULTICAST_GATHER) member list (root.cpp: 255). */
  maxGatherResults: number;
  /**
   * Where a TCP tunnel client may send datagrams that are not for this root (out of the root's own UDP
   * socket): 'peers' — only to a current path of the peer the datagram is addressed to (ours or the
   * fleet's), a root's stable endpoint, or an address that sent to this client; 'any' — anywhere, as
   * ZeroTier's tcp-proxy does. Either way never to a port below `tunnelMinPort`.
   */
  tunnelDestinations: 'peers' | 'any';
  /** Lowest UDP port a tunnel client may send to (tcp-proxy: above 1024, so no well-known services). */
  tunnelMinPort: number;
  /** Per-source budgets applied before decrypting anything (root/source-budget.ts). */
  sourceBudget: Partial<SourceBudgetOptions>;
  /** Versions we advertise in OK(HELLO): ztroot's own release, not ZeroTier's. */
  version: { major: number; minor: number; revision: number };
  relay: Partial<RelayOptions>;
  /** UDP sockets: 'auto' (the batched addon when it loads, unless ZTROOT_UDP says otherwise), 'batched', 'dgram' (relay/udp-socket.ts). */
  udp: UdpPathMode;
}

export const DEFAULT_ROOT_OPTIONS: Readonly<RootServerOptions> = Object.freeze({
  port: 9993,
  extraPorts: [],
  bind4: '0.0.0.0',
  bind6: '::',
  peerTimeoutMs: PEER_ACTIVITY_TIMEOUT,
  housekeepingMs: 10_000,
  repliesPerPeerPerSecond: 16,
  repliesPerIpPerSecond: 1000,
  newIdentityIntervalMs: 500,
  newIdentityBurst: 10,
  maxGatherResults: 255,
  tunnelDestinations: 'peers',
  tunnelMinPort: 1025,
  sourceBudget: {},
  version: { major: 0, minor: 1, revision: 0 },
  relay: {},
  udp: 'auto',
});

export interface RootServerDeps {
  identity: Identity;
  /** The planet file's bytes (a serialized World that lists this root). */
  planet: Uint8Array;
  /** Moons this root serves (serialized, each listing this root), for clients that orbit them. */
  moons?: Uint8Array[];
  /** The fleet's shared store (fleet/), when this root is one of several. */
  fleet?: RootFleet;
  validator: IdentityValidatorLike;
  logger?: Logger;
  now?: () => number;
}

/**
 * How often a pair that keeps being relayed is introduced again (RENDEZVOUS both ways). 1.14 roots wait 30 s
 * (`ZT_MIN_UNITE_INTERVAL`), so a path that opens later — a firewall rule lifted, a NAT mapping that now holds —
 * is found only at the next introduction, or at the leaves' own 15 s PUSH_DIRECT_PATHS. A root cannot see a path
 * open; re-introducing every 5 s while traffic still needs relaying finds it within seconds, for two small
 * packets per family per pair every 5 s — only pairs that are being relayed right now, and nothing once direct.
 */
export const ROOT_UNITE_INTERVAL_MS = 5000;

/** How often the relay path's cached clock is refreshed (ms). */
const CLOCK_REFRESH_MS = 100;

/** Largest OK(WHOIS): identities that fit in one unfragmented datagram (1432 − 37) / 71. */
const MAX_WHOIS_IDENTITIES = 19;

/** HELLOs kept per identity while it is validated: 2 families × 3 client ports, with room to spare. */
const MAX_PENDING_HELLOS = 8;

/** `rxSock` while no datagram from a UDP socket is being handled. */
const NO_SOCK = -0x7fffffff;

/** A HELLO authenticated with the key of the identity it claims, waiting for that identity's validation. */
interface PendingHello {
  id: Identity;
  key: PeerKey;
  wireId: bigint;
  hello: Hello;
  pkt: Uint8Array;
  family: 4 | 6;
  sock: number;
  ip: string;
  port: number;
}

export class RootServer extends EventEmitter {
  readonly opts: RootServerOptions;
  readonly identity: Identity;
  readonly peers = new PeerTable();
  readonly multicast = new MulticastSubscriptions();
  /** This root's address as the peer table splits addresses (10 high, 30 low bits). */
  private readonly hi10: number;
  private readonly lo30: number;
  /** Counters by name (see `counters`); the relay path's own two live in `relayCounters`. */
  private readonly counterMap = new Map<string, number>();
  /**
   * [relayed datagrams, relayed bytes, of which to or from the fleet's probe leaves: datagrams, bytes]. A
   * Float64Array holds doubles unboxed: a Map value past 2^30 (hours at relay rates) would be a fresh heap number
   * on every increment, i.e. allocation per relayed packet.
   */
  private readonly relayCounters = new Float64Array(4);

  private readonly log: Logger;
  private readonly now: () => number;
  private readonly validator: IdentityValidatorLike;
  /** This root's part in a fleet (root/fleet-forwarding.ts), when it is one of several. */
  readonly fleet: FleetForwarding | undefined;
  /** Taking back peers the fleet knows from their first packet (root/peer-adoption.ts): with a fleet only. */
  private readonly adoption: PeerAdoption | undefined;
  private readonly relay: Relay<RootPeer>;
  private readonly newIdentityGate: RateGate;
  private readonly sourceBudget: SourceBudget;
  private readonly ipReplyGate: RateGate;
  private planetBytesServed: Uint8Array;
  private planetWorld: World;
  /** Moons served, by id: the parsed world and its bytes. */
  private moons = new Map<bigint, { world: World; bytes: Uint8Array }>();
  /** Bound sockets; a peer's path remembers the index of the one it was heard on. */
  private sockets: Array<{ family: 4 | 6; sock: UdpSocket }> = [];
  /** Which UDP path the sockets take (relay/udp-socket.ts), and why when it is the fallback: /api/status shows it. */
  readonly udpPath: UdpPath;
  private housekeeping: NodeJS.Timeout | null = null;
  /**
   * The clock as the relay path reads it, in coarse seconds (a small integer): refreshed every
   * CLOCK_REFRESH_MS and on every datagram for this root. A millisecond clock read or passed per relayed
   * datagram boxes a double each time (measured: 4–16 B per packet); the relay needs whole seconds.
   */
  private clockS = 0;
  private clockTimer: NodeJS.Timeout | null = null;
  /** The TCP fallback listener (startTunnel), and its tunnels as paths of their peers. */
  private tunnelServer: TcpTunnelServer | null = null;
  private readonly tunnels: TunnelPaths;
  /** Proof of new paths before they are adopted (root/path-probes.ts). */
  private readonly probes = new PathProbes({
    sendProbe: (peer, sock, ip, port) => this.sendProbe(peer, sock, ip, port),
    count: (name) => this.count(name),
  });
  /**
   * The UDP socket index, source IP and port of the datagram being handled (NO_SOCK otherwise): a datagram
   * relayed to a tunnel client is framed with the source it came from (see sendToTunnel).
   */
  private rxSock = NO_SOCK;
  private rxIp = '';
  private rxPort = 0;
  /**
   * Identities whose validation is in flight, with the HELLOs that arrived meanwhile: a 1.x client sends its first
   * HELLO to every stable endpoint from every bound socket at once (vl1.md §7.2), and each one answered is a path
   * it learns (IPv4 and IPv6); one validation runs, then every queued HELLO is answered.
   */
  private readonly validating = new Map<number, PendingHello[]>();

  constructor(opts: Partial<RootServerOptions>, deps: RootServerDeps) {
    super();
    this.opts = { ...DEFAULT_ROOT_OPTIONS, ...opts };
    this.udpPath = resolveUdpPath(this.opts.udp);
    if (!deps.identity.hasPrivate()) throw new ZtError(ZtErrorCode.NO_PRIVATE_KEY, 'the root identity needs its private key (identity.secret)');
    this.identity = deps.identity;
    this.hi10 = Math.floor(deps.identity.address / 0x40000000);
    this.lo30 = deps.identity.address % 0x40000000;
    this.validator = deps.validator;
    this.log = deps.logger ?? silentLogger;
    this.now = deps.now ?? Date.now;
    this.fleet = deps.fleet === undefined ? undefined : this.joinFleet(deps.fleet);
    this.adoption = this.fleet === undefined ? undefined : this.adoptionFor(this.fleet);
    this.tunnels = new TunnelPaths(
      { destinations: this.opts.tunnelDestinations, minPort: this.opts.tunnelMinPort },
      {
        peers: this.peers,
        isForMe: (buf) => this.isForMe(buf),
        receive: (buf, sock, ip, port) => this.onDatagram(buf, sock, ip, port),
        locations: (address) => this.fleet?.cache.locations(address),
        socketFamily: (sock) => this.sockets[sock]?.family,
        firstSocket: (family) => this.sockets.findIndex((x) => x.family === family),
        sendUdp: (sock, buf, ip, port) => this.sendOn(sock, buf, ip, port),
        count: (name) => this.count(name),
      },
    );
    this.planetWorld = this.checkListsUs(parseWorld(deps.planet), 'planet');
    this.planetBytesServed = deps.planet;
    this.fleet?.setPlanet(this.planetWorld);
    this.setMoons(deps.moons ?? []);
    this.newIdentityGate = new RateGate({ intervalMs: this.opts.newIdentityIntervalMs, burst: this.opts.newIdentityBurst });
    this.sourceBudget = new SourceBudget(this.opts.sourceBudget);
    this.ipReplyGate = new RateGate({ intervalMs: 1000 / this.opts.repliesPerIpPerSecond, burst: this.opts.repliesPerIpPerSecond });
    this.relay = new Relay<RootPeer>({ uniteIntervalMs: ROOT_UNITE_INTERVAL_MS, ...this.opts.relay }, {
      lookupAt: (buf, o) => this.peers.getAt(buf, o),
      send: (buf, peer, via) => {
        if (peer.probe) this.countProbeRelayed(buf.length);
        if (via === 4) this.sendOn(peer.sock4, buf, peer.ip4, peer.port4);
        else if (via === 6) this.sendOn(peer.sock6, buf, peer.ip6, peer.port6);
        else this.sendToTunnel(buf, peer);
      },
      unite: (a, b) => this.unite(a, b),
      drop: (reason) => this.count(`drop_${reason}`),
      elsewhere: (buf) => {
        if (this.fleet === undefined || !this.fleet.forward(buf)) return false;
        if (this.peers.getAt(buf, 13)?.probe === true) this.countProbeRelayed(buf.length);
        return true;
      },
      unknownSource: (buf) => this.adoption?.fromUnknownSource(buf, false, this.rxSock, this.rxIp, this.rxPort),
      unknownDestination: (buf) => this.adoption?.forUnknownDestination(buf, this.rxIp),
    });
  }

  /** Adoption of peers the fleet knows (root/peer-adoption.ts); the peer is created only once a probe proved its path. */
  private adoptionFor(fleet: FleetForwarding): PeerAdoption {
    return new PeerAdoption({ version: this.opts.version }, {
      identity: this.identity,
      peers: this.peers,
      fleet,
      validatedBefore: (id) => this.validator.validatedBefore?.(id) ?? Promise.resolve(false),
      socketOf: (family) => this.sockets.findIndex((x) => x.family === family),
      familyOf: (sock) => this.familyOf(sock),
      replyAllowed: (ip, now) => this.ipReplyGate.allow(ip, now),
      sendOn: (sock, buf, ip, port) => this.sendOn(sock, buf, ip, port),
      adopted: (peer) => this.emit('peer', peer),
      count: (name, n) => this.count(name, n),
      now: () => this.now(),
    });
  }

  /** This root's part in the fleet: forwarding, publishing and introductions across roots (root/fleet-forwarding.ts). */
  private joinFleet(fleet: RootFleet): FleetForwarding {
    return new FleetForwarding(
      fleet,
      {
        identity: this.identity,
        peers: this.peers,
        log: this.log,
        now: () => this.now(),
        socketOf: (family) => this.sockets.findIndex((x) => x.family === family),
        sendOn: (sock, buf, ip, port) => this.sendOn(sock, buf, ip, port),
        sendRendezvous: (to, about, endpoint) => this.sendRendezvous(to, about, endpoint),
        relayLocal: (inner) => {
          this.rxSock = NO_SOCK; // relayed by another root: a tunnel client gets it as from this root
          const sent = this.relay.forward(inner, this.clockS);
          if (sent) {
            this.relayCounters[0]! += 1;
            this.relayCounters[1]! += inner.length;
          }
          return sent;
        },
        count: (name, n) => this.count(name, n),
        heartbeatFacts: () => ({ peers: this.peers.size, version: `${this.opts.version.major}.${this.opts.version.minor}.${this.opts.version.revision}` }),
        probesChanged: (before, after) => {
          for (const a of before) this.flagProbe(a, false);
          for (const a of after) this.flagProbe(a, true);
        },
      },
      { heartbeatMs: this.opts.housekeepingMs, locationTtlMs: this.opts.peerTimeoutMs, uniteIntervalMs: this.opts.relay.uniteIntervalMs ?? ROOT_UNITE_INTERVAL_MS },
    );
  }

  get planet(): World {
    return this.planetWorld;
  }

  /** The planet file's bytes as served in OK(HELLO). */
  get planetBytes(): Uint8Array {
    return this.planetBytesServed;
  }

  /** Replaces the planet served in OK(HELLO) (SIGHUP / file change), after checking it lists this root. */
  setPlanet(bytes: Uint8Array): void {
    this.planetWorld = this.checkListsUs(parseWorld(bytes), 'planet');
    this.planetBytesServed = bytes;
    this.fleet?.setPlanet(this.planetWorld);
    this.learnEndpoints();
  }

  /** Replaces the moons served; each must be a moon (type 127) listing this root. */
  setMoons(moons: Uint8Array[]): void {
    const next = new Map<bigint, { world: World; bytes: Uint8Array }>();
    for (const bytes of moons) {
      const world = this.checkListsUs(parseWorld(bytes), 'moon');
      if (world.type !== 'moon') throw new ZtError(ZtErrorCode.BAD_CONFIG, `world ${world.id.toString(16)} is a planet, not a moon`);
      next.set(world.id, { world, bytes });
    }
    this.moons = next;
    this.learnEndpoints();
  }

  /** Re-learns which endpoints are this root's and any root's (the TCP relay routes and polices by them). */
  private learnEndpoints(): void {
    const worlds = [this.planetWorld, ...[...this.moons.values()].map((m) => m.world)];
    this.tunnels.endpoints.learn(this.identity.address, worlds, this.fleet?.endpoints ?? [], this.sockets.map((s) => s.sock.address().port));
  }

  private checkListsUs(w: World, what: string): World {
    if (!w.roots.some((r) => r.identity.equals(this.identity))) {
      throw new ZtError(ZtErrorCode.BAD_CONFIG, `${what} ${w.id.toString(16)} does not list this root (${formatAddress(this.identity.address)}) among its roots`);
    }
    return w;
  }

  /** Binds a socket per family per port. @throws the bind error (port in use, address not available). */
  async start(): Promise<void> {
    // Port 0 means "a free port" each time it appears (tests); other duplicates are bound once.
    const ports = [this.opts.port, ...this.opts.extraPorts.filter((p, i, all) => p === 0 || (p !== this.opts.port && all.indexOf(p) === i))];
    try {
      for (const wanted of ports) {
        let port = wanted;
        if (this.opts.bind4 !== null) {
          const s = await this.bind('udp4', this.opts.bind4, port);
          // With port 0 the IPv6 socket takes the IPv4 socket's port, so one port serves both families.
          if (port === 0) port = s.address().port;
        }
        if (this.opts.bind6 !== null) await this.bind('udp6', this.opts.bind6, port);
      }
    } catch (e) {
      await this.stop();
      throw e;
    }
    this.learnEndpoints();
    this.housekeeping = setInterval(() => this.housekeep(), this.opts.housekeepingMs);
    this.housekeeping.unref();
    this.fleet?.tick(); // announce ourselves now, not one housekeeping period from now
    this.clockS = coarseSeconds(this.now());
    this.clockTimer = setInterval(() => (this.clockS = coarseSeconds(this.now())), CLOCK_REFRESH_MS);
    this.clockTimer.unref();
    this.log.info({ address: formatAddress(this.identity.address), ports: this.ports, udp: this.udpPath.path, ...(this.udpPath.why !== null ? { udpWhy: this.udpPath.why } : {}) }, 'root listening');
  }

  /** The first bound port (the main one). */
  get port(): number {
    return this.sockets[0]?.sock.address().port ?? 0;
  }

  get ports(): number[] {
    return [...new Set(this.sockets.map((s) => s.sock.address().port))];
  }

  private async bind(type: 'udp4' | 'udp6', address: string, port: number): Promise<UdpSocket> {
    const family = type === 'udp4' ? 4 : 6;
    const index = this.sockets.length;
    const onError = (e: Error): void => this.log.error({ err: e.message, family }, 'socket error');
    const s = await openUdpSocket(this.udpPath, { family, address, port, onError }, (buf, ip, p) => this.onDatagram(buf, index, ip, p));
    this.sockets.push({ family, sock: s });
    return s;
  }

  /**
   * Listens for TCP fallback clients (vl1.md §9) on host:port — 443 in production, where `https` (when
   * given) answers TLS on the same port. Call after `start`; `stop` closes it.
   * @throws the listen error (port in use, address not available).
   */
  async startTunnel(host: string, port: number, opts: Partial<TunnelServerOptions> = {}, https?: tls.Server): Promise<TcpTunnelServer> {
    if (this.tunnelServer !== null) throw new ZtError(ZtErrorCode.BAD_CONFIG, 'the TCP relay is already listening');
    const server = new TcpTunnelServer(
      opts,
      {
        onDatagram: (conn, datagram, dest) => {
          try {
            this.tunnels.onDatagram(conn, datagram, dest);
          } catch (e) {
            this.count('drop_internal_error');
            this.log.error({ err: e instanceof Error ? e.stack : String(e) }, 'unexpected error handling a tunnel datagram');
          }
        },
        onClose: (conn) => this.tunnels.onClose(conn),
      },
      { ...(https !== undefined ? { https } : {}), logger: this.log, now: this.now },
    );
    await server.listen(host, port);
    this.tunnelServer = server;
    this.log.info({ host, port: server.port, tls: https !== undefined }, 'TCP relay listening');
    return server;
  }

  /** The TCP fallback listener, when started. */
  get tunnel(): TcpTunnelServer | null {
    return this.tunnelServer;
  }

  async stop(): Promise<void> {
    const tunnel = this.tunnelServer;
    this.tunnelServer = null;
    if (tunnel !== null) {
      await tunnel.close();
      for (const [k, v] of tunnel.counters) this.counterMap.set(k, v); // the final figures outlive the listener
    }
    if (this.housekeeping) clearInterval(this.housekeeping);
    if (this.clockTimer) clearInterval(this.clockTimer);
    this.housekeeping = this.clockTimer = null;
    const socks = this.sockets;
    this.sockets = [];
    await Promise.all(socks.map(({ sock }) => sock.close()));
  }

  /** Whether the destination (bytes 8..12) is this root, compared as two small integers: no boxing per packet. */
  private isForMe(buf: Uint8Array): boolean {
    return (
      ((buf[8]! << 2) | (buf[9]! >> 6)) === this.hi10 &&
      (((buf[9]! & 0x3f) << 24) | (buf[10]! << 16) | (buf[11]! << 8) | buf[12]!) === this.lo30
    );
  }

  /** Counters by name: `rx_<VERB>`, `tx_<VERB>`, `drop_<reason>`, `relayed`, `relayed_bytes`, `rendezvous_sent`, ... */
  get counters(): ReadonlyMap<string, number> {
    // Probe leaves' datagrams are counted apart: `relayed` is the clients' traffic alone.
    this.counterMap.set('relayed', this.relayCounters[0]! - this.relayCounters[2]!);
    this.counterMap.set('relayed_bytes', this.relayCounters[1]! - this.relayCounters[3]!);
    this.counterMap.set('probe_relayed', this.relayCounters[2]!);
    this.counterMap.set('probe_relayed_bytes', this.relayCounters[3]!);
    if (this.tunnelServer !== null) for (const [k, v] of this.tunnelServer.counters) this.counterMap.set(k, v);
    return this.counterMap;
  }

  /** Peers that are the fleet's probe leaves (counted apart in `ztroot_peers`). */
  get probePeerCount(): number {
    let n = 0;
    for (const a of this.fleet?.probeAddresses ?? []) if (this.peers.get(a)?.probe === true) n++;
    return n;
  }

  private flagProbe(address: number, probe: boolean): void {
    const p = this.peers.get(address);
    if (p !== undefined) p.probe = probe;
  }

  /** A relayed datagram to or from a probe leaf: part of `relayCounters`' totals, subtracted from the clients'. */
  private countProbeRelayed(bytes: number): void {
    this.relayCounters[2]! += 1;
    this.relayCounters[3]! += bytes;
  }

  count(name: string, n = 1): void {
    this.counterMap.set(name, (this.counterMap.get(name) ?? 0) + n);
  }

  housekeep(now = this.now()): void {
    const gone = this.peers.expire(now, this.opts.peerTimeoutMs);
    if (gone > 0) this.count('peers_expired', gone);
    this.relay.expire(coarseSeconds(now), this.opts.peerTimeoutMs);
    this.multicast.expire(now);
    this.newIdentityGate.sweep(now);
    this.sourceBudget.sweep(now);
    this.ipReplyGate.sweep(now);
    this.fleet?.sweep(now);
    this.adoption?.sweep(now);
    this.fleet?.tick();
  }

  /** Re-puts everything this root holds in the fleet's store (the store calls it after every reconnect to Redis). */
  async resyncFleet(): Promise<void> {
    await this.fleet?.resync();
  }

  // ---- receive ----------------------------------------------------------------------------------

  /**
   * Entry point for every datagram received on local socket `sock` (an index into the bound sockets)
   * from `ip:port`. Never throws: malformed input is a counted drop.
   */
  onDatagram(buf: Uint8Array, sock: number, ip: string, port: number): void {
    try {
      // ≤ 16 bytes: junk (1.14 sends 4-byte NAT openers) or the legacy 13-byte LAN beacon.
      if (buf.length <= 16) return this.count('drop_runt');
      if (!this.isForMe(buf)) {
        // Plain stores, no allocation: read only if the destination turns out to be a tunnel client.
        this.rxSock = sock;
        this.rxIp = ip;
        this.rxPort = port;
        const sent = this.relay.forward(buf, this.clockS);
        this.rxSock = NO_SOCK;
        if (sent) {
          this.relayCounters[0]! += 1;
          this.relayCounters[1]! += buf.length;
        }
        return;
      }
      const now = this.now();
      this.clockS = coarseSeconds(now);
      if (isFragment(buf) || (buf[IDX_FLAGS]! & FLAG_FRAGMENTED) !== 0) {
        // Like root.cpp, a root does not reassemble: nothing a client sends its root needs fragments.
        return this.count('drop_fragment_to_root');
      }
      if (buf.length < MIN_PACKET_LENGTH) return this.count('drop_runt');
      const source = readU40(buf, 13);
      // Another root of the fleet (possibly another process with this very identity) forwarding a datagram.
      if (this.fleet !== undefined && ((buf[IDX_FLAGS]! >> 3) & 7) === CipherSuite.AES_GMAC_SIV) {
        const key = this.fleet.keyOf(source);
        if (key !== undefined) {
          // From a root's own address: never budgeted. Anyone else claiming a root's address pays the source budget
          // before the decryption that tells.
          if (!this.fleet.isRootIp(ip) && !this.sourceBudget.allowDatagram(ip, now)) return this.count('drop_source_budget');
          return this.fleet.receive(buf, key);
        }
      }
      if (source === this.identity.address) return this.count('drop_from_self');
      const family = this.familyOf(sock);
      if (family === undefined) return this.count('drop_no_socket');
      // Before anything is decrypted: the budget of where it came from (never of the address it claims).
      if (!this.sourceBudget.allowDatagram(ip, now)) return this.count('drop_source_budget');

      let pkt = buf;
      const suite = (pkt[IDX_FLAGS]! >> 3) & 7;
      if (suite === CipherSuite.POLY1305_NONE && (pkt[IDX_FLAGS]! & FLAG_EXTENDED_ARMOR) !== 0) {
        if (!this.sourceBudget.allowAgreement(ip, now)) return this.count('drop_extended_armor_rate_limited');
        pkt = removeExtendedArmor(pkt, this.identity.privateKeyObjects());
        this.count('rx_extended_armor');
      }
      if (suite === CipherSuite.POLY1305_NONE && (pkt[IDX_VERB]! & 0x1f) === Verb.HELLO) {
        return this.onHello(pkt, family, sock, ip, port, now);
      }
      const peer = this.peers.get(source);
      if (peer === undefined) {
        // A peer of the fleet is taken back once it proves its path (root/peer-adoption.ts): this may be that proof.
        if (this.adoption?.fromUnknownSource(pkt, true, sock, ip, port) === true) return this.count('rx_OK');
        return this.count('drop_unknown_peer');
      }
      // The in-re id of our reply is the id as it was on the wire (for suite 3, the tag half), §3.2.
      const wireId = packetIdOf(pkt);
      const opened = openPacket(pkt, peer.key);
      // An OK may be the proof a probe asked for (onOk); any other authentic packet refreshes the path it came
      // by if that is the peer's current one, and otherwise has that address probed.
      if (opened.verb !== Verb.OK) this.authenticatedFrom(peer, family, ip, port, sock, now);
      this.count(`${peer.probe ? 'probe_rx_' : 'rx_'}${verbName(opened.verb)}`);
      this.dispatch(peer, wireId, opened.verb, opened.payload, family, sock, ip, port, now);
    } catch (e) {
      if (isZtError(e)) this.count(`drop_${e.code.slice('ZT_ERR_'.length).toLowerCase()}`);
      else {
        this.count('drop_internal_error');
        this.log.error({ err: e instanceof Error ? e.stack : String(e) }, 'unexpected error handling a datagram');
      }
    }
  }

  private dispatch(peer: RootPeer, wireId: bigint, verb: number, payload: Uint8Array, family: 4 | 6, sock: number, ip: string, port: number, now: number): void {
    switch (verb) {
      case Verb.HELLO: {
        // HELLO in suite 1/3 from a known peer (hello-encryption clients relay them encrypted): already authentic.
        const hello = decodeHello(payload);
        if (!peer.hasIdentity(hello.identity)) return this.count('drop_hello_identity_mismatch');
        return this.answerHello(peer, wireId, hello, null, family, sock, ip, port, now);
      }
      case Verb.ECHO:
        if (!this.replyAllowed(peer, ip, now)) return;
        return this.reply(peer, sock, ip, port, Verb.OK, encodeOk({ kind: 'ECHO', inReVerb: Verb.ECHO, inRePacketId: wireId, payload: payload.subarray(0, 1024) }));
      case Verb.WHOIS:
        return this.onWhois(peer, wireId, payload, sock, ip, port, now);
      case Verb.MULTICAST_LIKE: {
        for (const g of decodeMulticastLike(payload).groups) {
          if (!this.multicast.like(g.networkId, g.mac, g.adi, peer.address, now)) this.count('drop_multicast_limit');
        }
        return;
      }
      case Verb.MULTICAST_GATHER:
        return this.onGather(peer, wireId, payload, sock, ip, port, now);
      case Verb.OK:
        return this.onOk(peer, payload, family, sock, ip, port, now);
      case Verb.NOP:
      case Verb.ERROR:
        return; // counted as rx_*; nothing to answer
      default:
        return this.count('drop_unhandled_verb');
    }
  }

  /** HELLO in suite 0: authenticate (and validate new identities off the event loop), then answer. */
  private onHello(pkt: Uint8Array, family: 4 | 6, sock: number, ip: string, port: number, now: number): void {
    const hello = decodeHello(pkt.subarray(IDX_PAYLOAD));
    const id = hello.identity;
    if (id.address !== readU40(pkt, 13)) return this.count('drop_hello_source_mismatch');
    if (hello.protocolVersion < PROTO_VERSION_MIN) return this.count('drop_bad_protocol_version');
    const wireId = packetIdOf(pkt);

    const known = this.peers.get(id.address);
    if (known !== undefined && known.hasIdentity(id)) {
      dearmor(pkt, known.key); // throws BAD_MAC → counted by the caller
      this.count(known.probe ? 'probe_rx_HELLO' : 'rx_HELLO');
      // Answered where it came from; the path itself moves only once that address answers a probe.
      this.answerHello(known, wireId, hello, pkt, family, sock, ip, port, now);
      if (this.authenticatedFrom(known, family, ip, port, sock, now)) this.fleet?.publish(known, false, now);
      return;
    }

    // The same identity's other HELLOs while it is validated reuse its key (a client sends several at once).
    const pendingFirst = this.validating.get(id.address)?.[0];
    const sameAsPending = pendingFirst !== undefined && pendingFirst.id.equals(id);
    // Enough of this identity's HELLOs are already waiting for its validation: drop before authenticating.
    if (sameAsPending && this.validating.get(id.address)!.length >= MAX_PENDING_HELLOS) return this.count('drop_hello_validation_pending');
    // A key already found not to give this address: nothing to agree or hash, whoever sent it (a replay).
    if (!sameAsPending && this.validator.cached?.(id) === false) return this.count('drop_identity_known_invalid');
    // New address, or a known address with a different key: both cost an X25519 and maybe a memory-hard
    // hash, so they pass the per-source gate first (1.14: Node::rateGateIdentityVerification). Its key is
    // the IPv4 /24 or IPv6 /48, as 1.14's: one /48 holds 65,536 /64s, so counting /64s would give one
    // attacker that many budgets (and as many turns at the validator, which serves these prefixes fairly).
    const prefix = sourcePrefixKey(ip);
    if (!sameAsPending && !this.newIdentityGate.allow(prefix, now)) return this.count('drop_new_identity_rate_limited');
    const key = sameAsPending ? pendingFirst.key : new PeerKey(this.identity.agree(id));
    dearmor(pkt, key); // the MAC must verify with the key of the identity it claims
    if (known !== undefined) {
      // Someone else holds this address: tell the claimant, as 1.14 does, armored with its own key.
      this.count('hello_identity_collision');
      const err = encodeError({ inReVerb: Verb.HELLO, inRePacketId: wireId, code: ErrorCode.IDENTITY_COLLISION });
      this.count('tx_ERROR');
      return this.sendOn(sock, sealPacket({ dest: id.address, source: this.identity.address, verb: Verb.ERROR, payload: err }, key, 1), ip, port);
    }
    // Keep what the reply needs: the datagram buffer is not ours after this call returns.
    const pending: PendingHello = { id, key, wireId, hello, pkt: pkt.slice(), family, sock, ip, port };
    const queue = this.validating.get(id.address);
    if (queue !== undefined) {
      if (queue.length >= MAX_PENDING_HELLOS) return this.count('drop_hello_validation_pending');
      queue.push(pending);
      return this.count('hello_queued_for_validation');
    }
    this.validating.set(id.address, [pending]);
    this.fleet?.newcomer();
    this.validator.validate(id, prefix).then(
      (valid) => {
        const queued = this.validating.get(id.address) ?? [];
        this.validating.delete(id.address);
        if (!valid) {
          this.count('drop_identity_invalid');
          this.log.warn({ address: formatAddress(id.address), ip, port }, 'HELLO with an identity that does not validate');
          return;
        }
        const later = this.now();
        let peer = this.peers.get(id.address);
        if (peer === undefined) {
          peer = this.peers.insert(id, key);
          peer.probe = this.fleet?.isProbe(id.address) ?? false;
          this.count('peers_added');
          this.emit('peer', peer);
        } else if (!peer.hasIdentity(id)) {
          return this.count('hello_identity_collision'); // lost a race with another claimant
        }
        for (const q of queued) {
          // A HELLO queued from another claimant of the same address was authenticated with its own key.
          if (!peer.hasIdentity(q.id)) {
            this.count('hello_identity_collision');
            continue;
          }
          this.count(peer.probe ? 'probe_rx_HELLO' : 'rx_HELLO');
          if (peer.publishedAt === 0) this.fleet?.publish(peer, true, later); // its identity, for every root's WHOIS
          // The answer first: it tells us the protocol version, which decides how the path is probed.
          this.answerHello(peer, q.wireId, q.hello, q.pkt, q.family, q.sock, q.ip, q.port, later);
          this.authenticatedFrom(peer, q.family, q.ip, q.port, q.sock, later);
        }
      },
      (e: unknown) => {
        this.validating.delete(id.address);
        this.count('drop_validation_unavailable');
        this.log.warn({ err: e instanceof Error ? e.message : String(e) }, 'identity validation could not run');
      },
    );
  }

  /**
   * OK(HELLO): echo, our version, the reflected address, and the worlds the client holds older
   * versions of — our planet if same id and older, and each moon it lists (orbits or wants) that we serve
   * newer. `suite0Pkt` is the authenticated suite-0 HELLO (its moon list is still encrypted), or null.
   */
  private answerHello(peer: RootPeer, wireId: bigint, hello: Hello, suite0Pkt: Uint8Array | null, family: 4 | 6, sock: number, ip: string, port: number, now: number): void {
    peer.protocolVersion = hello.protocolVersion;
    peer.versionMajor = hello.versionMajor;
    peer.versionMinor = hello.versionMinor;
    peer.versionRevision = hello.versionRevision;
    if (!this.replyAllowed(peer, ip, now)) return;
    const updates: Uint8Array[] = [];
    const w = this.planetWorld;
    // 1.14 as an upstream sends its planet only to holders of an older one of the same id: anyone else
    // would discard it, and it is the largest part of the reply.
    if (hello.planetWorldId === w.id && hello.planetWorldTimestamp !== undefined && hello.planetWorldTimestamp < w.timestamp) {
      updates.push(this.planetBytesServed);
      this.count('planet_updates_sent');
    }
    if (this.moons.size > 0 && hello.encryptedTail !== undefined && hello.encryptedTail.length >= 2) {
      for (const m of this.helloMoons(hello, suite0Pkt, peer)) {
        const served = this.moons.get(m.id);
        if (served !== undefined && m.timestamp < served.world.timestamp) {
          updates.push(served.bytes);
          this.count('moon_updates_sent');
        }
      }
    }
    const ok = encodeOk({
      kind: 'HELLO',
      inReVerb: Verb.HELLO,
      inRePacketId: wireId,
      timestampEcho: hello.timestamp,
      protocolVersion: PROTO_VERSION,
      versionMajor: this.opts.version.major,
      versionMinor: this.opts.version.minor,
      versionRevision: this.opts.version.revision,
      physicalAddress: { family, ip, port } satisfies InetAddress,
      worldUpdates: concatBytes(...updates),
    });
    this.reply(peer, sock, ip, port, Verb.OK, ok);
  }

  /** The moon list of a HELLO: decrypted in a suite-0 HELLO (cryptField, §4.5), plain in suite 1/3. */
  private helloMoons(hello: Hello, suite0Pkt: Uint8Array | null, peer: RootPeer): Array<{ id: bigint; timestamp: number }> {
    const tail = hello.encryptedTail!.slice();
    if (suite0Pkt !== null) {
      const copy = suite0Pkt.slice();
      const start = copy.length - tail.length;
      cryptField(copy, peer.key, start, tail.length);
      tail.set(copy.subarray(start));
    }
    try {
      return decodeHelloMoons(tail);
    } catch {
      this.count('drop_hello_bad_moon_list');
      return [];
    }
  }

  private onWhois(peer: RootPeer, wireId: bigint, payload: Uint8Array, sock: number, ip: string, port: number, now: number): void {
    const { addresses } = decodeWhois(payload);
    const found: Identity[] = [];
    const elsewhere: number[] = [];
    for (const a of addresses) {
      if (found.length + elsewhere.length >= MAX_WHOIS_IDENTITIES) break;
      if (a === this.identity.address) found.push(this.identity.publicOnly());
      else {
        const local = this.peers.get(a);
        const p = local ?? this.fleet?.cache.identity(a);
        if (p !== undefined) found.push(p instanceof RootPeer ? p.identity : p);
        else if (this.fleet !== undefined) elsewhere.push(a);
        // A peer another root holds: datagrams to it follow this answer, so learn where it is now.
        if (local === undefined) this.fleet?.prefetchLocation(a);
      }
    }
    if (elsewhere.length === 0) return this.answerWhois(peer, wireId, found, sock, ip, port, now);
    // Peers that said HELLO to another root of the fleet: look them up in the store, off the packet path
    // (the cache makes it one look-up per address however many ask, and remembers misses).
    const cache = this.fleet!.cache;
    void Promise.all(elsewhere.map((a) => cache.lookupIdentity(a))).then((ids) => {
      for (const id of ids) if (id !== undefined) found.push(id);
      this.count('fleet_whois_lookups', elsewhere.length);
      this.answerWhois(peer, wireId, found, sock, ip, port, this.now());
    });
  }

  private answerWhois(peer: RootPeer, wireId: bigint, found: Identity[], sock: number, ip: string, port: number, now: number): void {
    if (!peer.alive) return this.count('drop_unknown_peer'); // expired while the fleet was asked
    if (found.length === 0) return this.count('whois_miss'); // 1.14 sends nothing for unknown addresses
    if (!this.replyAllowed(peer, ip, now)) return;
    this.count('whois_answered');
    this.reply(peer, sock, ip, port, Verb.OK, encodeOk({ kind: 'WHOIS', inReVerb: Verb.WHOIS, inRePacketId: wireId, identities: found }));
  }

  /** OK(MULTICAST_GATHER) from the LIKEs we hold, only when there is someone to name (as root.cpp). */
  private onGather(peer: RootPeer, wireId: bigint, payload: Uint8Array, sock: number, ip: string, port: number, now: number): void {
    const g = decodeMulticastGather(payload);
    const limit = Math.min(g.gatherLimit, this.opts.maxGatherResults);
    const { total, members } = this.multicast.gather(g.networkId, g.mac, g.adi, peer.address, limit, now);
    if (members.length === 0) return this.count('gather_empty');
    if (!this.replyAllowed(peer, ip, now)) return;
    this.count('gather_answered');
    this.reply(
      peer,
      sock,
      ip,
      port,
      Verb.OK,
      encodeOk({ kind: 'MULTICAST_GATHER', inReVerb: Verb.MULTICAST_GATHER, inRePacketId: wireId, networkId: g.networkId, mac: g.mac, adi: g.adi, totalKnown: total, members }),
    );
  }

  // ---- TCP fallback tunnels (root/tunnel-paths.ts) ----------------------------------------------

  /** The address family of path `sock` (a UDP socket, or a tunnel's TCP peer), or undefined if it is gone. */
  private familyOf(sock: number): 4 | 6 | undefined {
    return sock >= 0 ? this.sockets[sock]?.family : this.tunnels.family(sock);
  }

  /**
   * An authentic packet from `peer` on path (sock, ip, port): refreshes that path if it is the peer's current one
   * (true), else has it probed (false) — see root/path-probes.ts.
   */
  private authenticatedFrom(peer: RootPeer, family: 4 | 6, ip: string, port: number, sock: number, now: number): boolean {
    if (isCurrentPath(peer, family, sock, ip, port)) {
      peer.heardFrom(family, ip, port, sock, now);
      return true;
    }
    this.probes.probe(peer, sock, ip, port, now);
    return false;
  }

  /** An OK from a peer: the proof of a path we probed, or else liveness of its current path (nothing is answered). */
  private onOk(peer: RootPeer, payload: Uint8Array, family: 4 | 6, sock: number, ip: string, port: number, now: number): void {
    const ok = decodeOk(payload);
    if ((ok.kind === 'ECHO' || ok.kind === 'HELLO') && this.probes.confirm(peer, ok.inRePacketId, sock, ip, port, now)) return this.adopt(peer, family, ip, port, sock, now);
    if (isCurrentPath(peer, family, sock, ip, port)) peer.heardFrom(family, ip, port, sock, now);
  }

  /** `peer` proved it holds (sock, ip, port): its path of that family (or its tunnel) moves there. */
  private adopt(peer: RootPeer, family: 4 | 6, ip: string, port: number, sock: number, now: number): void {
    // A tunnel that closed meanwhile is no path.
    if (sock < 0 && !this.tunnels.heard(peer, sock, ip, port)) return;
    peer.heardFrom(family, ip, port, sock, now);
    this.count('path_adopted');
    this.fleet?.publish(peer, false, now); // moved: the fleet introduces it there at once
  }

  /**
   * A probe of path (sock, ip, port): an empty ECHO — or a HELLO to a peer older than protocol 5, which has no
   * ECHO (vl1.md §5.6) — whose fresh packet id only the peer's key can answer. Counts against the per-IP reply budget.
   */
  private sendProbe(peer: RootPeer, sock: number, ip: string, port: number): bigint | null {
    const now = this.now();
    if (!this.ipReplyGate.allow(ip, now)) {
      this.count('drop_ip_rate_limited');
      return null;
    }
    let out: Uint8Array;
    const verb = peer.protocolVersion >= 5 ? Verb.ECHO : Verb.HELLO;
    if (verb === Verb.ECHO) {
      out = sealPacket({ dest: peer.address, source: this.identity.address, verb }, peer.key, peer.suite as ArmorSuite);
    } else {
      const family = this.familyOf(sock);
      if (family === undefined) return null;
      const payload = encodeHello({
        protocolVersion: PROTO_VERSION,
        versionMajor: this.opts.version.major,
        versionMinor: this.opts.version.minor,
        versionRevision: this.opts.version.revision,
        timestamp: now,
        identity: this.identity.publicOnly(),
        physicalDestination: { family, ip, port },
      });
      out = sealPacket({ dest: peer.address, source: this.identity.address, verb: Verb.HELLO, payload }, peer.key, 0);
    }
    this.count(`${peer.probe ? 'probe_tx_' : 'tx_'}${verbName(verb)}`);
    this.sendOn(sock, out, ip, port);
    return packetIdOf(out);
  }

  /** The relay's send to a tunnel client (see TunnelPaths.sendRelayed). */
  private sendToTunnel(buf: Uint8Array, peer: RootPeer): void {
    if (!this.tunnels.sendRelayed(buf, peer, this.rxSock, this.rxIp, this.rxPort)) this.count('drop_no_socket');
  }

  // ---- send -------------------------------------------------------------------------------------

  /**
   * Reply budget: a fixed one-second window per peer (cheap, and a peer cannot make us amplify), and a
   * token bucket per source IP (bounds reflection towards a spoofed address). Counts what it refuses.
   */
  private replyAllowed(peer: RootPeer, ip: string, now: number): boolean {
    if (now - peer.replyWindowStart >= 1000) {
      peer.replyWindowStart = now;
      peer.repliesInWindow = 0;
    }
    if (++peer.repliesInWindow > this.opts.repliesPerPeerPerSecond) {
      this.count('drop_rate_limited');
      return false;
    }
    if (!this.ipReplyGate.allow(ip, now)) {
      this.count('drop_ip_rate_limited');
      return false;
    }
    return true;
  }

  private reply(peer: RootPeer, sock: number, ip: string, port: number, verb: number, payload: Uint8Array): void {
    const out = sealPacket({ dest: peer.address, source: this.identity.address, verb, payload }, peer.key, peer.suite as ArmorSuite);
    this.count(`${peer.probe ? 'probe_tx_' : 'tx_'}${verbName(verb)}`);
    this.sendOn(sock, out, ip, port);
  }

  /** RENDEZVOUS both ways, for each address family both peers have a live path in (IPv6 first). */
  private unite(a: RootPeer, b: RootPeer): void {
    const now = this.clockS;
    // A tunnel client has no UDP address anyone could reach, so it is never named; it is told about the
    // other peer, whom it then reaches through its tunnel and our UDP socket (see sendFromTunnel).
    if (a.hasTunnel && b.hasTunnel) return;
    for (const family of [6, 4] as const) {
      const liveA = family === 6 ? a.hasLive6(now) : a.hasLive4(now);
      const liveB = family === 6 ? b.hasLive6(now) : b.hasLive4(now);
      if (a.hasTunnel) {
        if (liveB) this.sendRendezvous(a, b.address, pathOf(b, family));
      } else if (b.hasTunnel) {
        if (liveA) this.sendRendezvous(b, a.address, pathOf(a, family));
      } else if (liveA && liveB) {
        this.sendRendezvous(a, b.address, pathOf(b, family));
        this.sendRendezvous(b, a.address, pathOf(a, family));
      }
    }
  }

  /** Tells `to` that peer `about` is at `endpoint`, sent on `to`'s path of the endpoint's family. */
  private sendRendezvous(to: RootPeer, about: number, endpoint: InetAddress): void {
    const payload = encodeRendezvous({ flags: 0, address: about, endpoint });
    const out = sealPacket({ dest: to.address, source: this.identity.address, verb: Verb.RENDEZVOUS, payload }, to.key, to.suite as ArmorSuite);
    this.count(to.probe ? 'probe_rendezvous_sent' : 'rendezvous_sent');
    if (to.hasTunnel) this.sendOn(to.tunnelSock, out, '', 0);
    else if (endpoint.family === 4) this.sendOn(to.sock4, out, to.ip4, to.port4);
    else this.sendOn(to.sock6, out, to.ip6, to.port6);
  }

  /** Sends on path `sock`: a UDP socket index to ip:port, or (negative) a tunnel, framed as from the endpoint it addressed. */
  private sendOn(sock: number, buf: Uint8Array, ip: string, port: number): void {
    if (sock < 0) {
      if (!this.tunnels.send(sock, buf)) this.count('drop_no_socket');
      return;
    }
    const s = this.sockets[sock];
    if (s === undefined) return this.count('drop_no_socket');
    s.sock.send(buf, port, ip);
  }
}

/** A peer's path of one family as an InetAddress. */
function pathOf(p: RootPeer, family: 4 | 6): InetAddress {
  return family === 4 ? { family, ip: p.ip4, port: p.port4 } : { family, ip: p.ip6, port: p.port6 };
}

function packetIdOf(pkt: Uint8Array): bigint {
  return BigInt(`0x${toHex(pkt.subarray(0, 8))}`);
}
