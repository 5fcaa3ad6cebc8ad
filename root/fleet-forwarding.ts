/**
 * This root's part in a fleet of roots sharing a store (fleet/; README "A fleet of roots"): it announces itself,
 * publishes where it holds its peers, forwards datagrams for peers another root holds, delivers what other roots
 * forward to it, and introduces peers across roots.
 *
 *   relay miss ─► location cached? ─┬─ yes ─► USER_MESSAGE "ZTFW" ‖ datagram, armored root-to-root, to the root
 *                                   │         holding the peer (freshest entry first); RENDEZVOUS on the first hop
 *                                   ├─ known absent (a fresh negative) ─► drop, counted
 *                                   └─ unknown ─► hold (bounded) until ONE store round trip answers, then forward
 *                                                 or drop — never held again, so a miss cannot spin
 *   forwarded datagram from a planet root ─► authenticate, unwrap, relay to our peer (never onwards: no loops)
 *
 * Every process has a rootId that must be unique in the fleet (root/fleet-identity.ts derives one), and a boot
 * token it writes into its heartbeat. The store answers each heartbeat with the one it replaced, so a process
 * that finds someone else's token under its own rootId, after having written there itself, knows another live
 * process claims the same id: forwarding between the two would be impossible (each believes the other's peers
 * are its own). That is logged loudly and counted; a derived id is renewed (a cloned state directory), a
 * configured one is left for the operator to fix.
 *
 * Nothing here blocks the packet path: store calls are fire-and-forget or awaited off it.
 */
import { randomBytes } from 'node:crypto';
import type { Identity } from '../vl1/identity.js';
import { PeerKey } from '../vl1/peer-key.js';
import { IDX_FLAGS, MIN_PACKET_LENGTH, Verb } from '../vl1/constants.js';
import { ByteReader, ByteWriter, readU40 } from '../vl1/bytes.js';
import { isFragment, openPacket, sealPacket } from '../vl1/packet.js';
import { readInetAddress, writeInetAddress, type InetAddress } from '../vl1/inet-address.js';
import type { World } from '../planet/world.js';
import type { PeerStore, RootHeartbeat, RootInfo, StoredPeerLocation } from '../fleet/peer-store.js';
import type { PeerStoreCache } from '../fleet/cached-store.js';
import { RateGate } from './rate-gate.js';
import { coarseSeconds, type PeerTable, type RootPeer } from './peer-table.js';

/**
 * This root's part in a fleet: the shared store (never awaited on the packet path), a read-through cache over it,
 * this process's name in the fleet, and where other roots reach it.
 */
export interface RootFleet {
  store: PeerStore;
  cache: PeerStoreCache;
  /** This process's name in the fleet; unique per process (root/fleet-identity.ts). */
  rootId: string;
  endpoints: InetAddress[];
  /**
   * Called when another live process is found writing this rootId: a fresh rootId to switch to (a derived id,
   * from a cloned state directory), or absent to keep it (a configured id: only the operator can fix it).
   */
  renewRootId?: () => string;
  /** The address of this root's probe leaf (tools/probe/), announced in the heartbeat; absent without a probe. */
  probe?: number;
  /** This root's probe results for the heartbeat (target rootId → cell; see RootInfo.probeRow). */
  probeRow?: () => Record<string, string> | undefined;
}

/** Minimal logger shape (pino's). */
interface Logger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

/** What the fleet needs of the root (RootServer provides it). */
export interface FleetHost {
  readonly identity: Identity;
  readonly peers: PeerTable;
  readonly log: Logger;
  now(): number;
  /** The first bound UDP socket of `family`, or −1. */
  socketOf(family: 4 | 6): number;
  sendOn(sock: number, buf: Uint8Array, ip: string, port: number): void;
  sendRendezvous(to: RootPeer, about: number, endpoint: InetAddress): void;
  /** Relays a datagram another root forwarded (hops already raised there) to our peer; true when sent. */
  relayLocal(inner: Uint8Array): boolean;
  count(name: string, n?: number): void;
  /** What the heartbeat says besides endpoints: peers held, software version. */
  heartbeatFacts(): { peers: number; version: string };
  /** The fleet's probe leaves changed (heartbeats): the root re-flags their peers. */
  probesChanged?(before: ReadonlySet<number>, after: ReadonlySet<number>): void;
}

export interface FleetOptions {
  /** Heartbeat period (the root's housekeeping): three missed beats and a root counts as gone. */
  heartbeatMs: number;
  /** Lifetime of a published location (the peer timeout). */
  locationTtlMs: number;
  /** Minimum time between introductions of one pair across roots. */
  uniteIntervalMs: number;
}

/**
 * First bytes of a USER_MESSAGE between roots that carries a forwarded datagram: "ZTFW" ‖ datagram, or, when the
 * datagram comes straight from our peer (its first hop), "ZTFE" ‖ count u8 ‖ count × InetAddress (vl1.md §5.1) ‖
 * datagram, the sender's endpoints as this root sees them now, so the far root introduces the pair with where the
 * sender is, not with a location read from the store (which may be seconds old). Roots that predate "ZTFE" drop it
 * as not a forward; "ZTFW" still flows between them.
 */
const FORWARD_MAGIC = new Uint8Array([0x5a, 0x54, 0x46, 0x57]);
const FORWARD_WITH_ENDPOINTS_MAGIC = new Uint8Array([0x5a, 0x54, 0x46, 0x45]);
const MAX_FORWARD_ENDPOINTS = 4;

/**
 * Datagrams held per destination while its location is looked up, destinations at most, and for how long. A 1.14
 * node queues packets the same way while it WHOISes (vl1.md §7.4: 32 entries, 5 s).
 */
const HELD_PER_DEST = 8;
const HELD_DESTS = 1024;
const HELD_MS = 2000;

/** Datagrams waiting for one look-up of their destination. */
interface Held {
  since: number;
  bufs: Uint8Array[];
  /** Re-read the roots' list whatever its age (a known location names a root we have not read of). */
  forceRoots: boolean;
}

/** What became of a datagram handed to the root holding its destination. */
const SENT = 0;
const NO_HOLDER = 1;
const UNKNOWN_ROOT = 2;
type SendResult = typeof SENT | typeof NO_HOLDER | typeof UNKNOWN_ROOT;

/** A location is re-published at most this often unless the peer moved (a client HELLOs from several sockets). */
const REPUBLISH_MS = 60_000;

/** The roots' list is re-read at most this often, unless a location names a root we have not read yet. */
const ROOTS_REFRESH_MS = 1000;

/** A rootId conflict is logged at most this often (it is detected at every heartbeat while it lasts). */
const CONFLICT_LOG_MS = 60_000;

export class FleetForwarding {
  /** This process's token in its heartbeats (see the module comment). */
  readonly boot = randomBytes(8).toString('hex');
  private readonly fleet: RootFleet;
  private readonly host: FleetHost;
  private readonly opts: FleetOptions;
  /** Keys agreed with every root of the planet (this one included): they armor datagrams forwarded between roots. */
  private rootKeys = new Map<number, PeerKey>();
  /** The fleet's roots by rootId, from the heartbeats. */
  private roots = new Map<string, RootHeartbeat>();
  /** The IPs of the planet's roots and of every root's heartbeat endpoints (text as the sockets report it). */
  private planetIps: string[] = [];
  private rootIps = new Set<string>();
  /** The probe leaves' addresses: ours and those every root's heartbeat names (their traffic is counted apart). */
  private probes: ReadonlySet<number> = new Set<number>();
  private rootsReadAt = -Infinity;
  private rootsReading: Promise<void> | null = null;
  /** A re-read of the heartbeats is due for a newcomer (see newcomer). */
  private newcomerRead = false;
  private readonly held = new Map<number, Held>();
  /** Set while a datagram forwarded by another root is delivered: it is never forwarded again (no loops). */
  private delivering = false;
  private readonly uniteGate: RateGate;
  /** Heartbeats written under the current rootId (the first may replace our own previous incarnation's). */
  private beatsUnderId = 0;
  private conflictLoggedAt = -Infinity;
  private conflictCount = 0;

  constructor(fleet: RootFleet, host: FleetHost, opts: FleetOptions) {
    this.fleet = fleet;
    this.host = host;
    this.opts = opts;
    this.uniteGate = new RateGate({ intervalMs: opts.uniteIntervalMs });
  }

  get rootId(): string {
    return this.fleet.rootId;
  }

  get endpoints(): readonly InetAddress[] {
    return this.fleet.endpoints;
  }

  /** The read-through cache over the store (WHOIS, and the TCP relay's destination policy, read it). */
  get cache(): PeerStoreCache {
    return this.fleet.cache;
  }

  /** Times another live process was found writing this process's rootId. */
  get rootIdConflicts(): number {
    return this.conflictCount;
  }

  /** The fleet trusts exactly the planet's roots: forwarded datagrams must carry a MAC under one of these keys. */
  setPlanet(world: World): void {
    const keys = new Map<number, PeerKey>();
    for (const r of world.roots) keys.set(r.identity.address, new PeerKey(this.host.identity.agree(r.identity)));
    this.rootKeys = keys;
    this.planetIps = world.roots.flatMap((r) => r.stableEndpoints.map((e) => e.ip));
    this.learnRootIps();
  }

  private learnRootIps(): void {
    this.rootIps = new Set([...this.planetIps, ...[...this.roots.values()].flatMap((r) => r.info.endpoints.map((e) => e.ip))]);
  }

  /** Re-reads which addresses are probe leaves (ours may be made after the start) and tells the root of a change. */
  private learnProbes(): void {
    const next = new Set<number>();
    if (this.fleet.probe !== undefined) next.add(this.fleet.probe);
    for (const r of this.roots.values()) if (r.info.probe !== undefined) next.add(r.info.probe);
    const before = this.probes;
    if (next.size === before.size && [...next].every((a) => before.has(a))) return;
    this.probes = next;
    this.host.probesChanged?.(before, next);
  }

  /**
   * A new identity is being validated: re-read the heartbeats (at most once per ROOTS_REFRESH_MS) so that, if it
   * is a probe leaf that started since the last housekeeping, it is flagged by the time it is admitted and even
   * its first HELLO is counted apart.
   */
  newcomer(): void {
    if (this.newcomerRead) return; // a read is already due
    this.newcomerRead = true;
    // A read in flight may have started before the newcomer's root beat: read again after it, at the end of the
    // rate limit (reading at once when it has passed).
    void (this.rootsReading ?? Promise.resolve()).then(() => {
      const wait = Math.max(0, this.rootsReadAt + ROOTS_REFRESH_MS - this.host.now());
      setTimeout(() => {
        this.newcomerRead = false;
        // Forced: the wait was the rate limit, and a timer may fire a millisecond before Date.now() says it is due.
        void this.refreshRoots(this.host.now(), true);
      }, wait).unref();
    });
  }

  /** Whether `address` is one of the fleet's probe leaves. */
  isProbe(address: number): boolean {
    return address === this.fleet.probe || this.probes.has(address);
  }

  /** The fleet's probe leaves now. */
  get probeAddresses(): ReadonlySet<number> {
    return this.probes;
  }

  /** Whether `ip` is an address a root of the fleet announces or the planet lists: forwards come from there. */
  isRootIp(ip: string): boolean {
    return this.rootIps.has(ip);
  }

  /** The key agreed with planet root `address`, if it is one: a suite-3 datagram from it may be a forward. */
  keyOf(address: number): PeerKey | undefined {
    return this.rootKeys.get(address);
  }

  // ---- heartbeat and roots -----------------------------------------------------------------------------------

  /** Announces this root (heartbeat) and re-reads the others; at start and at every housekeeping. */
  tick(): void {
    const f = this.fleet;
    const facts = this.host.heartbeatFacts();
    const info: RootInfo = { endpoints: f.endpoints, peers: facts.peers, version: facts.version, address: this.host.identity.address, boot: this.boot, ...(f.probe !== undefined ? { probe: f.probe } : {}) };
    const row = f.probeRow?.();
    if (row !== undefined) info.probeRow = row;
    const rootId = f.rootId;
    this.beatsUnderId++;
    f.store.heartbeat(rootId, info, 3 * this.opts.heartbeatMs).then(
      (replaced) => this.checkClaim(rootId, replaced),
      () => this.host.count('fleet_write_errors'),
    );
    void this.refreshRoots(this.host.now());
  }

  /** Another process's token under our rootId, after we wrote there ourselves: two processes claim one id. */
  private checkClaim(rootId: string, replaced: RootInfo | undefined): void {
    if (rootId !== this.fleet.rootId || replaced?.boot === undefined || replaced.boot === this.boot) return;
    // Our first beat may replace our own previous incarnation's (a restart within the heartbeat's lifetime).
    if (this.beatsUnderId <= 1) return;
    this.conflictCount++;
    this.host.count('fleet_root_id_conflicts');
    const now = this.host.now();
    const renew = this.fleet.renewRootId;
    if (now - this.conflictLoggedAt >= CONFLICT_LOG_MS || renew !== undefined) {
      this.conflictLoggedAt = now;
      this.host.log.error(
        { rootId, boot: this.boot, otherBoot: replaced.boot, otherEndpoints: replaced.endpoints.map((e) => `${e.ip}/${e.port}`) },
        renew !== undefined
          ? 'another live process writes this fleet root id (a cloned state directory?): switching to a new one'
          : 'another live process writes this fleet root id: roots cannot forward to each other until every process has its own --root-id (or leave it unset: each then derives a unique one)',
      );
    }
    if (renew === undefined) return;
    try {
      this.fleet.rootId = renew();
    } catch (e) {
      this.host.log.error({ rootId, err: (e as Error).message }, 'could not renew the fleet root id; keeping it');
      this.fleet.renewRootId = undefined;
      return;
    }
    this.beatsUnderId = 0;
    this.host.log.warn({ from: rootId, to: this.fleet.rootId }, 'fleet root id renewed');
    // Everything we hold is re-published under the new id; what stays under the old one is ignored once the
    // old id's heartbeat expires (no process writes it any more) — and sooner, because fresher entries win.
    this.tick();
    void this.resync();
  }

  /** Re-reads the fleet's roots, at most once per ROOTS_REFRESH_MS unless forced. */
  private refreshRoots(now: number, force = false): Promise<void> {
    if (this.rootsReading !== null) return this.rootsReading;
    if (!force && now - this.rootsReadAt < ROOTS_REFRESH_MS) return Promise.resolve();
    this.rootsReadAt = now;
    this.rootsReading = this.fleet.store.roots().then(
      (list) => {
        this.roots = new Map(list.map((r) => [r.rootId, r]));
        this.learnRootIps();
        this.learnProbes();
      },
      () => this.host.count('fleet_read_errors'),
    ).finally(() => {
      this.rootsReading = null;
    });
    return this.rootsReading;
  }

  // ---- publishing --------------------------------------------------------------------------------------------

  /**
   * Tells the fleet this root holds `peer` (and, when new, its identity, so any root answers WHOIS for it).
   * Fire-and-forget: the store queues writes while Redis is away. A moved peer is republished at once.
   */
  publish(peer: RootPeer, isNew: boolean, now: number): void {
    const f = this.fleet;
    const where = `${peer.ip4}/${peer.port4} ${peer.ip6}/${peer.port6} ${peer.tunnelSock}`;
    if (!isNew && peer.wasPublishedAs(where) && now - peer.publishedAt < REPUBLISH_MS) return;
    peer.publishedAt = now;
    peer.publishedWhere = where;
    if (isNew) f.store.putIdentity(peer.identity).catch(() => this.host.count('fleet_write_errors'));
    f.store.putLocation(peer.address, { rootId: f.rootId, endpoints: pathsOf(peer) }, this.opts.locationTtlMs).catch(() => this.host.count('fleet_write_errors'));
    this.host.count('fleet_publishes');
  }

  /** Re-puts everything this root holds (the store calls it after every reconnect to Redis). */
  async resync(): Promise<void> {
    const f = this.fleet;
    const writes: Promise<void>[] = [];
    for (const p of this.host.peers.values()) {
      writes.push(f.store.putIdentity(p.identity));
      writes.push(f.store.putLocation(p.address, { rootId: f.rootId, endpoints: pathsOf(p) }, this.opts.locationTtlMs));
    }
    await Promise.allSettled(writes);
    this.host.count('fleet_resyncs');
    // Reconnected: the roots' list read while Redis was away (e.g. at start) is stale.
    await this.refreshRoots(this.host.now(), true);
  }

  // ---- forwarding --------------------------------------------------------------------------------------------

  /**
   * Relay miss: the relay has raised the hop count; returns true if the datagram was forwarded to the root holding
   * its destination, or held for one look-up of where that is.
   */
  forward(buf: Uint8Array): boolean {
    if (this.delivering) return false;
    const dest = readU40(buf, 8);
    const cache = this.fleet.cache;
    const locs = cache.locations(dest); // starts a background look-up on a miss or a stale entry
    if (locs !== undefined) {
      const r = this.sendToHolder(dest, locs, buf);
      // The holder is a root we have not read of yet (it started after our last read): wait for one read.
      return r === SENT || (r === UNKNOWN_ROOT && this.hold(dest, buf));
    }
    if (cache.locationsKnownAbsent(dest)) {
      this.host.count('fleet_location_miss');
      return false;
    }
    return this.hold(dest, buf);
  }

  /** Keeps a copy of the datagram until the look-up of `dest` answers (see the module comment). */
  private hold(dest: number, buf: Uint8Array): boolean {
    const now = this.host.now();
    let h = this.held.get(dest);
    if (h === undefined) {
      if (this.held.size >= HELD_DESTS) {
        this.host.count('fleet_hold_full');
        return false;
      }
      // A location we have names a root we have not read of: read the roots' list now, whatever its age.
      h = { since: now, bufs: [], forceRoots: this.fleet.cache.locationsKnown(dest) };
      this.held.set(dest, h);
      this.host.count('fleet_location_lookups');
      void this.release(dest, h);
    } else if (h.bufs.length >= HELD_PER_DEST) {
      this.host.count('fleet_hold_full');
      return false;
    }
    h.bufs.push(buf.slice()); // the datagram buffer is not ours after this call
    return true;
  }

  /** One round trip: the location and (if not read within a second) the roots' list, in parallel. */
  private async release(dest: number, h: Held): Promise<void> {
    const [locs] = await Promise.all([this.fleet.cache.lookupLocations(dest), this.refreshRoots(this.host.now(), h.forceRoots)]);
    // A root that started after our last read of the list: one more read, only then.
    if (locs.some((l) => l.rootId !== this.fleet.rootId && !this.roots.has(l.rootId))) await this.refreshRoots(this.host.now(), true);
    if (this.held.get(dest) === h) this.held.delete(dest);
    if (this.host.now() - h.since > HELD_MS) {
      this.host.count('drop_fleet_hold_expired', h.bufs.length);
      return;
    }
    for (const b of h.bufs) if (this.sendToHolder(dest, locs, b) !== SENT) this.host.count('drop_unknown_destination');
  }

  /**
   * Forwards `buf` to the root holding `dest`: of the locations naming a live root (not this process) that we can
   * reach, the freshest — after a process renewed its rootId, its new entry outlives the old one.
   */
  private sendToHolder(dest: number, locs: readonly StoredPeerLocation[], buf: Uint8Array): SendResult {
    let best: StoredPeerLocation | undefined;
    let bestRoot: RootHeartbeat | undefined;
    let bestEp: InetAddress | undefined;
    let missingRoot = false;
    for (const l of locs) {
      if (l.rootId === this.fleet.rootId || (best !== undefined && l.ttlMs <= best.ttlMs)) continue;
      const root = this.roots.get(l.rootId);
      if (root === undefined) {
        missingRoot = true;
        continue;
      }
      const ep = root.info.endpoints.find((e) => this.host.socketOf(e.family) >= 0);
      if (ep === undefined || root.info.address === undefined || !this.rootKeys.has(root.info.address)) continue;
      best = l;
      bestRoot = root;
      bestEp = ep;
    }
    if (best === undefined || bestRoot === undefined || bestEp === undefined) return missingRoot ? UNKNOWN_ROOT : NO_HOLDER;
    const rootAddress = bestRoot.info.address!;
    // First hop (the relay made it 1), from a peer of ours: both ends are to be introduced.
    const src = !isFragment(buf) && (buf[IDX_FLAGS]! & 7) === 1 ? this.host.peers.getAt(buf, 13) : undefined;
    const payload = forwardPayload(buf, src === undefined ? null : pathsOf(src));
    const out = sealPacket({ dest: rootAddress, source: this.host.identity.address, verb: Verb.USER_MESSAGE, payload }, this.rootKeys.get(rootAddress)!, 3, { compress: false });
    this.host.sendOn(this.host.socketOf(bestEp.family), out, bestEp.ip, bestEp.port);
    this.host.count('fleet_forwarded');
    // Tell our peer, the sender, where the destination is.
    if (src !== undefined) this.uniteAcross(src, dest, best.endpoints);
    return SENT;
  }

  /** A datagram another root forwarded: authenticate, unwrap, and deliver to a peer of ours (never onwards). */
  receive(pkt: Uint8Array, key: PeerKey): void {
    let opened;
    try {
      opened = openPacket(pkt, key);
    } catch {
      return this.host.count('drop_fleet_unauthenticated');
    }
    const unwrapped = opened.verb === Verb.USER_MESSAGE ? unwrapForward(opened.payload) : null;
    if (unwrapped === null) return this.host.count('drop_fleet_not_forward');
    const { inner, senderEndpoints } = unwrapped;
    const firstHop = !isFragment(inner) && (inner[IDX_FLAGS]! & 7) === 1;
    this.delivering = true;
    let sent: boolean;
    try {
      sent = this.host.relayLocal(inner);
    } finally {
      this.delivering = false;
    }
    if (!sent) return;
    this.host.count('fleet_delivered');
    if (!firstHop) return;
    // Tell our peer, the destination, where the sender is, as its own root sees it: from the forward itself, or
    // (a root that sent "ZTFW") from the store.
    const dst = this.host.peers.getAt(inner, 8);
    if (dst === undefined) return;
    const srcAddr = readU40(inner, 13);
    if (senderEndpoints !== null) return this.uniteAcross(dst, srcAddr, senderEndpoints);
    const srcLocs = this.fleet.cache.locations(srcAddr);
    if (srcLocs !== undefined) for (const l of srcLocs) if (l.rootId !== this.fleet.rootId) this.uniteAcross(dst, srcAddr, l.endpoints);
  }

  /** RENDEZVOUS to our peer `to` about a peer held by another root, at most once per pair per unite interval. */
  private uniteAcross(to: RootPeer, about: number, endpoints: readonly InetAddress[]): void {
    const now = this.host.now();
    if (!this.uniteGate.allow(`${to.address}:${about}`, now)) return;
    const s = coarseSeconds(now);
    for (const family of [6, 4] as const) {
      const live = to.hasTunnel || (family === 6 ? to.hasLive6(s) : to.hasLive4(s));
      const ep = endpoints.find((e) => e.family === family);
      if (live && ep !== undefined) this.host.sendRendezvous(to, about, ep);
    }
  }

  /** Forgets idle introduction records (housekeeping). */
  sweep(now: number): void {
    this.uniteGate.sweep(now);
  }

  /** Warms the cache with where `address` is, when a WHOIS for it is answered from the fleet: its datagrams follow. */
  prefetchLocation(address: number): void {
    this.fleet.cache.locations(address);
  }
}

/** A peer's current physical endpoints (for the fleet's location records): none for a tunnel client, whose UDP may be one-way. */
export function pathsOf(p: RootPeer): InetAddress[] {
  const out: InetAddress[] = [];
  if (p.hasTunnel) return out;
  if (p.ip4 !== '') out.push({ family: 4, ip: p.ip4, port: p.port4 });
  if (p.ip6 !== '') out.push({ family: 6, ip: p.ip6, port: p.port6 });
  return out;
}

/** The USER_MESSAGE payload carrying `datagram` to another root, with the sender's endpoints when given (see FORWARD_MAGIC). */
function forwardPayload(datagram: Uint8Array, senderEndpoints: InetAddress[] | null): Uint8Array {
  if (senderEndpoints === null) {
    const payload = new Uint8Array(FORWARD_MAGIC.length + datagram.length);
    payload.set(FORWARD_MAGIC, 0);
    payload.set(datagram, FORWARD_MAGIC.length);
    return payload;
  }
  const eps = senderEndpoints.slice(0, MAX_FORWARD_ENDPOINTS);
  const w = new ByteWriter(8 + eps.length * 19 + datagram.length).bytes(FORWARD_WITH_ENDPOINTS_MAGIC).u8(eps.length);
  for (const e of eps) writeInetAddress(w, e);
  return w.bytes(datagram).finish();
}

/** Inverse of {@link forwardPayload}; null when `p` is not a forward (or a malformed one). */
function unwrapForward(p: Uint8Array): { inner: Uint8Array; senderEndpoints: InetAddress[] | null } | null {
  const magic = (m: Uint8Array): boolean => p.length >= m.length && m.every((b, i) => p[i] === b);
  let inner: Uint8Array;
  let senderEndpoints: InetAddress[] | null = null;
  if (magic(FORWARD_MAGIC)) inner = p.subarray(FORWARD_MAGIC.length);
  else if (magic(FORWARD_WITH_ENDPOINTS_MAGIC)) {
    try {
      const r = new ByteReader(p, FORWARD_WITH_ENDPOINTS_MAGIC.length);
      const n = r.u8('forwarded endpoint count');
      if (n > MAX_FORWARD_ENDPOINTS) return null;
      senderEndpoints = [];
      for (let i = 0; i < n; i++) {
        const e = readInetAddress(r);
        if (e !== null) senderEndpoints.push(e);
      }
      inner = p.subarray(r.pos);
    } catch {
      return null;
    }
  } else return null;
  return inner.length >= MIN_PACKET_LENGTH ? { inner, senderEndpoints } : null;
}
