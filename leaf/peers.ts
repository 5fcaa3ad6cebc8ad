/**
 * What the leaf knows about other nodes: their identities and keys, their direct paths, and which path
 * or root a packet to them takes (shared/protocol/vl1.md §7). No sockets here: the table is told which
 * address families it can send on.
 */
import type { Identity } from '../vl1/identity.js';
import { formatInetAddress, type InetAddress } from '../vl1/inet-address.js';
import { PeerKey } from '../vl1/peer-key.js';
import { PEER_ACTIVITY_TIMEOUT, PEER_PATH_EXPIRATION, PROTO_VERSION_AES } from '../vl1/constants.js';
import type { ArmorSuite } from '../vl1/packet.js';
import { formatAddress } from '../vl1/address.js';
import type { World } from '../planet/world.js';
import type { PeerInfo } from './types.js';

/** `Peer::relayQuality` ages a root's latency in steps of this (§7.4). */
const RELAY_QUALITY_STEP_MS = 61000;
/** Latency assumed for a root that never answered (`Peer::relayQuality`: 0xffff). */
const UNKNOWN_LATENCY = 0xffff;

/** One direct path to a peer. */
export interface Path {
  inet: InetAddress;
  /** "ip/port", the map key. */
  key: string;
  configured: boolean;
  /** Last receive, or the configuration time for configured paths (alive-ness). */
  aliveAt: number;
  lastReceive: number | null;
  lastSend: number | null;
  latencyMs: number | null;
  lastEchoReply: number;
}

export interface Peer {
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
  /** Path key → last contact attempt (ECHO/HELLO to a new address), to rate-limit them. */
  contactAttempts: Map<string, number>;
}

export function pathKey(a: InetAddress): string {
  // A stream's datagrams share one source object (leaf/udp.ts) and its sends one path object, and each packet asks
  // for both keys: two remembered answers spare formatting the address per packet. Addresses are never modified.
  if (a === keyCache0) return keyText0;
  if (a === keyCache1) return keyText1;
  const k = formatInetAddress(a);
  keyCache1 = keyCache0;
  keyText1 = keyText0;
  keyCache0 = a;
  keyText0 = k;
  return k;
}
let keyCache0: InetAddress | null = null;
let keyText0 = '';
let keyCache1: InetAddress | null = null;
let keyText1 = '';

/** `Peer::aesKeysIfSupported` (§4.4): AES-GMAC-SIV once the peer said it speaks protocol ≥ 12. */
export function suiteFor(peer: Peer): ArmorSuite {
  return peer.remoteProtocol >= PROTO_VERSION_AES ? 3 : 1;
}

export interface PeerTableDeps {
  /** Our identity (with private key): every peer's key is agreed with it. */
  me: Identity;
  now: () => number;
  /** Whether we have a socket of that family (a path we cannot send on is not usable). */
  canSend: (family: 4 | 6) => boolean;
  /** Local policy on physical addresses (1.14: `Node::shouldUsePathForZeroTierTraffic`). */
  allowPath: (a: InetAddress) => boolean;
}

export class PeerTable {
  private readonly peers = new Map<number, Peer>();
  constructor(private readonly deps: PeerTableDeps) {}

  get(address: number): Peer | undefined {
    return this.peers.get(address);
  }

  addresses(): number[] {
    return [...this.peers.keys()];
  }

  /** Adds a (validated or configured) peer record; the caller checked the address is free. */
  insert(p: Peer): Peer {
    this.peers.set(p.identity.address, p);
    return p;
  }

  /** A peer record with its key agreed, not yet in the table (a HELLO's MAC is checked with it first). */
  create(identity: Identity, isRoot: boolean, stableEndpoints: InetAddress[]): Peer {
    return {
      identity: identity.publicOnly(),
      key: new PeerKey(this.deps.me.agree(identity)),
      isRoot,
      stableEndpoints,
      remoteProtocol: 0,
      remoteVersion: null,
      paths: new Map(),
      lastReceive: null,
      latencyMs: null,
      lastHello: 0,
      contactAttempts: new Map(),
    };
  }

  /** `Topology::_memoizeUpstreams`: a peer for every root of the planet (no WHOIS, no validation, §7.1). */
  memoizeRoots(planet: World): void {
    const rootAddrs = new Set<number>();
    for (const r of planet.roots) {
      if (r.identity.address === this.deps.me.address) continue;
      rootAddrs.add(r.identity.address);
      const existing = this.peers.get(r.identity.address);
      if (existing !== undefined && existing.identity.equals(r.identity)) {
        existing.isRoot = true;
        existing.stableEndpoints = r.stableEndpoints.slice();
      } else {
        this.peers.set(r.identity.address, this.create(r.identity, true, r.stableEndpoints.slice()));
      }
    }
    for (const p of this.peers.values()) if (!rootAddrs.has(p.identity.address)) p.isRoot = false;
  }

  roots(): Peer[] {
    return [...this.peers.values()].filter((p) => p.isRoot);
  }

  pathAlive(p: Path, now: number): boolean {
    return now - p.aliveAt < PEER_PATH_EXPIRATION;
  }

  /** Most recently alive direct path we can send on. */
  bestPath(peer: Peer): Path | null {
    const now = this.deps.now();
    let best: Path | null = null;
    for (const p of peer.paths.values()) {
      if (!this.pathAlive(p, now) || !this.deps.canSend(p.inet.family)) continue;
      if (best === null || p.aliveAt > best.aliveAt) best = p;
    }
    return best;
  }

  /** `Topology::getUpstreamPeer` / `Peer::relayQuality` (§7.4): lowest aged latency, ties to the later address. */
  bestRoot(): Peer | null {
    const now = this.deps.now();
    let best: Peer | null = null;
    let bestQ = Infinity;
    const sorted = this.roots().sort((a, b) => a.identity.address - b.identity.address);
    for (const p of sorted) {
      const since = p.lastReceive === null ? Infinity : now - p.lastReceive;
      const q = since >= PEER_ACTIVITY_TIMEOUT ? Number.MAX_SAFE_INTEGER : (p.latencyMs ?? UNKNOWN_LATENCY) * (Math.floor(since / RELAY_QUALITY_STEP_MS) + 1);
      if (q <= bestQ) {
        best = p;
        bestQ = q;
      }
    }
    return best;
  }

  /** One stable endpoint per family we can send on (§7.2 step 3; 1.14 picks a random one, we the first). */
  rootTargets(root: Peer): InetAddress[] {
    const out: InetAddress[] = [];
    for (const fam of [4, 6] as const) {
      if (!this.deps.canSend(fam)) continue;
      // One at random, as 1.14 picks (§7.2 step 3): a root served by several hosts is reached at whichever
      // of them answers, even when some cannot be reached from here.
      const of = root.stableEndpoints.filter((x) => x.family === fam);
      if (of.length > 0) out.push(of[Math.floor(Math.random() * of.length)]!);
    }
    return out;
  }

  /** Records a direct path (idempotent). */
  learnPath(peer: Peer, inet: InetAddress): Path {
    const key = pathKey(inet);
    let path = peer.paths.get(key);
    if (path === undefined) {
      path = { inet, key, configured: false, aliveAt: this.deps.now(), lastReceive: null, lastSend: null, latencyMs: null, lastEchoReply: 0 };
      peer.paths.set(key, path);
    }
    return path;
  }

  /**
   * `Node::shouldUsePathForZeroTierTraffic` + `Topology::isProhibitedEndpoint` (§7.3): a root is only
   * believed at one of its stable endpoint IPs (port not compared), so nobody can pose as its path.
   */
  mayUsePath(peer: Peer, inet: InetAddress): boolean {
    if (!this.deps.allowPath(inet)) return false;
    if (peer.isRoot && peer.stableEndpoints.length > 0) return peer.stableEndpoints.some((e) => e.family === inet.family && e.ip === inet.ip);
    return true;
  }

  /** A snapshot for callers (copies; nothing in it aliases the table). */
  info(address: number): PeerInfo | null {
    const p = this.peers.get(address);
    if (p === undefined) return null;
    const now = this.deps.now();
    const best = this.bestPath(p);
    const root = best === null && !p.isRoot ? this.bestRoot() : null;
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
        alive: this.pathAlive(x, now),
        preferred: x === best,
        lastReceive: x.lastReceive,
        lastSend: x.lastSend,
        latencyMs: x.latencyMs,
      })),
      relayVia: root === null ? null : formatAddress(root.identity.address),
    };
  }
}
