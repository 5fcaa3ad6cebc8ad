/**
 * Peer adoption: a root that restarted (or a root of the fleet a peer never HELLOed) takes back a peer the fleet
 * knows from its first packet, instead of dropping everything from and to it until its next HELLO — which a 1.14
 * client sends its roots only every ~225 s (vl1.md §7.2), while it stays ONLINE for 500 s of silence. The deploy
 * test's rolling restart paused relaying for 43–170 s that way.
 *
 *   datagram from an address the table lacks ─► gates (cheap, synchronous) ─► dropped as before, and one adoption
 *     (whole packet, hops 0: from its sender)        started per address: off the packet path,
 *   datagram for an address the table lacks ─┘       ├ identity from the fleet store (PeerStoreCache)
 *     (relay miss; its last paths from our own       ├ validated before? (state directory or fleet tags: no hash)
 *      entry in the store's locations)               ├ X25519 → the peer's key
 *                                                    ├ a packet that was for us must verify under it (MAC)
 *                                                    └ HELLO sent to the claimed path, with a fresh packet id
 *   authentic OK(HELLO) naming that id, from exactly that path ─► the peer is created with that one path
 *
 * Why a probe, never the packet itself: packets are replayable (issue 11, root/path-probes.ts). A recorded packet of
 * L sent from an attacker's address passes the MAC check; taking its source as L's path would send L's traffic to
 * the attacker. Only L's key can answer a fresh probe id, and the answer must come from the address probed. So a
 * replay costs the root at most a few bounded probes to the replayer's address, and never moves anything.
 *
 * What is trusted: the identity comes from the fleet store, which roots write only after validating it; adoption
 * additionally requires the remembered-validation record for exactly that identity (its tag binds address and key:
 * root/validated-identities.ts) in this root's state directory or the fleet's validated tags, and never runs the
 * memory-hard hash. An identity without such a record is refused (it will HELLO and be validated as usual).
 *
 * Bounded before anything costs: one adoption per address at a time; at most `maxPending` at once (more are refused
 * as `queue_full`); starts limited per source /24 or /48 and for the whole root (as new identities are,
 * root/rate-gate.ts); an address refused for lack of a record is not looked up again for `refusedTtlMs`; at most
 * MAX_PROBES probes per adoption, one per path per PROBE_RETRY_MS, each through the root's per-IP reply budget.
 * The packet path itself never awaits: it reads the gates and drops the datagram, and what waits is a copy of at
 * most MAX_WAITING datagrams per pending address (a packet for us must be kept to check its MAC once the key exists).
 */
import { Identity } from '../vl1/identity.js';
import { PeerKey } from '../vl1/peer-key.js';
import { FLAGS_HOPS_MASK, IDX_FLAGS, PROTO_VERSION, Verb } from '../vl1/constants.js';
import { readU40, toHex } from '../vl1/bytes.js';
import { openPacket, sealPacket } from '../vl1/packet.js';
import { encodeHello } from '../vl1/verbs/hello.js';
import { decodeOk, type OkHello } from '../vl1/verbs/ok.js';
import type { InetAddress } from '../vl1/inet-address.js';
import type { PeerStoreCache } from '../fleet/cached-store.js';
import { RateGate, sourcePrefixKey } from './rate-gate.js';
import type { PeerTable, RootPeer } from './peer-table.js';

/** Why an adoption was refused: `ztroot_peer_adoption_refusals_total{reason}`. */
export const ADOPTION_REFUSAL_REASONS = [
  'not_in_fleet', // the fleet store holds no identity for the address
  'not_validated', // it does, but no root remembers validating exactly that identity
  'lookup_failed', // the store could not be read
  'bad_mac', // a packet for this root did not verify under the key of the stored identity (forged)
  'rate_limited', // the source prefix or the root as a whole started too many adoptions lately
  'queue_full', // maxPending adoptions already under way
  'recently_refused', // refused within refusedTtlMs (not_in_fleet / not_validated / lookup_failed)
  'unanswered', // no authentic answer to the probes within pendingTtlMs
  'tunnel', // arrived over a TCP tunnel: the client says HELLO when it reconnects
  'not_held_here', // a destination the store does not say this root held (another root holds it, or none)
] as const;
export type AdoptionRefusal = (typeof ADOPTION_REFUSAL_REASONS)[number];

/** Datagrams kept per address while its identity is looked up (each a possible path, or a MAC to check). */
const MAX_WAITING = 4;
/** Probes outstanding per adoption: the store's paths (≤ MAX_STORE_PATHS) and a few a client's packets came from. */
const MAX_PROBES = 12;
/** A path is probed again only after this long (ms). */
const PROBE_RETRY_MS = 1000;
/** What an authentic OK is to an adoption. */
const NOT_AN_ANSWER = 0;
const MISMATCH = 1;
const ADOPTED = 2;
type Answer = typeof NOT_AN_ANSWER | typeof MISMATCH | typeof ADOPTED;

/** Paths from the store probed per adoption, at most (a location carries at most 16 endpoints). */
const MAX_STORE_PATHS = 8;
/** How long a destination the store does not say this root held is not looked at again (its locations' cache TTL). */
const NOT_HELD_TTL_MS = 2000;
/** How often a full pending table may be swept for expired entries on the packet path (ms). */
const FULL_SWEEP_MS = 100;

export interface PeerAdoptionOptions {
  /** Adoptions under way at once, at most (default 256); more are refused as `queue_full`. */
  maxPending: number;
  /** An adoption not answered within this long is given up (ms, default 10 000). */
  pendingTtlMs: number;
  /** An address refused for want of a record is not looked up again for this long (ms, default 10 000). */
  refusedTtlMs: number;
  /** Addresses remembered as refused, at most (default 16 384; the oldest are forgotten). */
  maxRefused: number;
  /**
   * Adoptions one source /24 or /48 may start: `perPrefixBurst` back to back, then one per `perPrefixIntervalMs`
   * (default 32, then one per 50 ms). An adoption costs a store read and an X25519, not a memory-hard hash, so a
   * NAT full of clients gets a larger burst than new identities do.
   */
  perPrefixIntervalMs: number;
  perPrefixBurst: number;
  /** Adoptions the whole root may start per second (default 500: at ~50 µs an X25519, 2.5 % of a core). */
  globalPerSecond: number;
  /** Versions sent in the probe HELLO (the root's own). */
  version: { major: number; minor: number; revision: number };
}

export const DEFAULT_ADOPTION_OPTIONS: Readonly<PeerAdoptionOptions> = Object.freeze({
  maxPending: 256,
  pendingTtlMs: 10_000,
  refusedTtlMs: 10_000,
  maxRefused: 16_384,
  perPrefixIntervalMs: 50,
  perPrefixBurst: 32,
  globalPerSecond: 500,
  version: { major: 0, minor: 0, revision: 0 },
});

/** What adoption needs of the store side: the fleet's identities and where this root last saw a peer. */
export interface AdoptionFleet {
  readonly rootId: string;
  readonly cache: Pick<PeerStoreCache, 'lookupIdentity' | 'lookupLocations'>;
  isProbe(address: number): boolean;
  publish(peer: RootPeer, isNew: boolean, now: number): void;
}

/** What adoption needs of the root. */
export interface AdoptionHost {
  /** The root's identity (with its private key: it agrees keys). */
  readonly identity: Identity;
  /** The root's table: an adopted peer goes in (a HELLO may have put it there first). */
  readonly peers: PeerTable;
  readonly fleet: AdoptionFleet;
  /** Whether exactly this identity was validated before (state directory, fleet tags), without hashing. */
  validatedBefore(identity: Identity): Promise<boolean>;
  /** The root's UDP socket of `family` (−1 if none), and the family of socket `sock`. */
  socketOf(family: 4 | 6): number;
  familyOf(sock: number): 4 | 6 | undefined;
  /** The root's per-IP reply budget (the reflection bound every reply and probe passes). */
  replyAllowed(ip: string, now: number): boolean;
  sendOn(sock: number, buf: Uint8Array, ip: string, port: number): void;
  /** A peer was adopted (the root emits 'peer'). */
  adopted(peer: RootPeer): void;
  count(name: string, n?: number): void;
  now(): number;
}

/** A path a packet came by (or the store names), with the packet if it was for this root (its MAC is checked). */
interface Candidate {
  sock: number;
  ip: string;
  port: number;
  pkt: Uint8Array | null;
}

interface Probe {
  id: bigint;
  /** To a path the store named: never evicted by probes of paths packets claimed. */
  trusted: boolean;
  sock: number;
  ip: string;
  port: number;
  sentAt: number;
}

interface Pending {
  address: number;
  since: number;
  /** Set once the identity is found and remembered as validated, and the key agreed. */
  identity: Identity | null;
  key: PeerKey | null;
  waiting: Candidate[];
  probes: Probe[];
  /** Whether the store's last paths of the address were asked for (a destination trigger does, once). */
  storeAsked: boolean;
  /** The store's paths, kept until the key is agreed. */
  storePaths: readonly InetAddress[];
}

export class PeerAdoption {
  private readonly opts: PeerAdoptionOptions;
  private readonly pending = new Map<number, Pending>();
  /** Address → until when it stays refused. Insertion-ordered: the first is the oldest. */
  private readonly refused = new Map<number, number>();
  /** Destinations the store does not say this root held → until when (see notHeldHere). */
  private readonly notHeld = new Map<number, number>();
  private readonly prefixGate: RateGate;
  private readonly globalGate: RateGate;
  private lastFullSweep = -Infinity;

  constructor(
    opts: Partial<PeerAdoptionOptions>,
    private readonly host: AdoptionHost,
  ) {
    this.opts = { ...DEFAULT_ADOPTION_OPTIONS, ...opts };
    this.prefixGate = new RateGate({ intervalMs: this.opts.perPrefixIntervalMs, burst: this.opts.perPrefixBurst });
    this.globalGate = new RateGate({ intervalMs: 1000 / this.opts.globalPerSecond, burst: this.opts.globalPerSecond, maxKeys: 1 });
  }

  /** Adoptions under way. */
  get size(): number {
    return this.pending.size;
  }

  /**
   * A datagram whose source (bytes 13..18) the table lacks, received on path (sock, ip, port): straight from its
   * sender (the relay calls this only for whole packets with hops 0). `forMe`: addressed to this root, so its MAC can
   * be checked. Synchronous and cheap. Returns true when the datagram was the answer that adopted its sender;
   * otherwise the caller drops it as before.
   */
  fromUnknownSource(buf: Uint8Array, forMe: boolean, sock: number, ip: string, port: number): boolean {
    // Relayed on its way here (hops > 0): it did not come from its sender's address, so there is nothing to probe.
    if ((buf[IDX_FLAGS]! & FLAGS_HOPS_MASK) !== 0) return false;
    const address = readU40(buf, 13);
    const now = this.host.now();
    const p = this.live(address, now);
    if (p !== undefined) return this.offer(p, sock, ip, port, forMe ? buf : null, now);
    if (sock < 0) this.refuse('tunnel');
    else if (this.mayStart(address, ip, now)) this.start(address, now, [{ sock, ip, port, pkt: forMe ? buf.slice() : null }], false);
    return false;
  }

  /**
   * A datagram for an address the table lacks (a relay miss), from a sender on `ip`: if the fleet knows the
   * destination and this root held it (its own entry in the store's locations), probe it where it was.
   */
  forUnknownDestination(buf: Uint8Array, ip: string): void {
    const address = readU40(buf, 8);
    const now = this.host.now();
    const p = this.live(address, now);
    if (p !== undefined) {
      // Under way from packets that claim its source (replays from anywhere, maybe): add where the store says it was,
      // once, so that a replayer keeping an adoption busy cannot keep the real path from being probed.
      if (!p.storeAsked) this.addStorePaths(p);
      return;
    }
    const notHeldUntil = this.notHeld.get(address);
    if (notHeldUntil !== undefined) {
      if (notHeldUntil > now) return this.refuse('not_held_here');
      this.notHeld.delete(address);
    }
    if (!this.mayStart(address, ip, now)) return;
    this.start(address, now, [], true);
  }

  private addStorePaths(p: Pending): void {
    p.storeAsked = true;
    this.lastPaths(p.address).then(
      (paths) => {
        if (this.pending.get(p.address) !== p) return;
        if (p.key === null) p.storePaths = paths.slice(0, MAX_STORE_PATHS);
        else this.offerStorePaths(p, paths);
      },
      () => undefined,
    );
  }

  /** Paths the store names: trusted to be worth a probe (a root wrote them), and their probes are never evicted. */
  private offerStorePaths(p: Pending, paths: readonly InetAddress[]): void {
    const now = this.host.now();
    for (const e of paths.slice(0, MAX_STORE_PATHS)) {
      const sock = this.host.socketOf(e.family);
      if (sock >= 0) this.probe(p, sock, e.ip, e.port, now, true);
    }
  }

  /** Forgets expired adoptions and refusals (housekeeping). */
  sweep(now = this.host.now()): void {
    for (const [a, p] of this.pending) {
      if (this.known(a)) this.pending.delete(a);
      else if (now - p.since >= this.opts.pendingTtlMs) {
        this.pending.delete(a);
        if (p.key !== null) this.refuse('unanswered');
      }
    }
    for (const m of [this.refused, this.notHeld]) {
      for (const [a, until] of m) {
        if (until > now) break; // ordered by insertion, all with one TTL: the rest are younger
        m.delete(a);
      }
    }
    this.prefixGate.sweep(now);
  }

  /** The adoption of `address` under way and not expired, if any. */
  private live(address: number, now: number): Pending | undefined {
    const p = this.pending.get(address);
    if (p === undefined || now - p.since < this.opts.pendingTtlMs) return p;
    this.pending.delete(address);
    if (p.key !== null) this.refuse('unanswered');
    return undefined;
  }

  /** The gates, cheapest first; counts what they refuse. */
  private mayStart(address: number, ip: string, now: number): boolean {
    const until = this.refused.get(address);
    if (until !== undefined) {
      if (until > now) {
        this.refuse('recently_refused');
        return false;
      }
      this.refused.delete(address);
    }
    if (this.pending.size >= this.opts.maxPending && now - this.lastFullSweep >= FULL_SWEEP_MS) {
      this.lastFullSweep = now;
      this.sweep(now);
    }
    if (this.pending.size >= this.opts.maxPending) {
      this.refuse('queue_full');
      return false;
    }
    let prefix: string;
    try {
      prefix = sourcePrefixKey(ip);
    } catch {
      prefix = ip; // a tunnel's or test's odd source: keyed as itself
    }
    if (!this.prefixGate.allow(prefix, now) || !this.globalGate.allow(0, now)) {
      this.refuse('rate_limited');
      return false;
    }
    return true;
  }

  private start(address: number, now: number, waiting: Candidate[], fromStore: boolean): void {
    const p: Pending = { address, since: now, identity: null, key: null, waiting, probes: [], storeAsked: fromStore, storePaths: [] };
    this.pending.set(address, p);
    const h = this.host;
    void Promise.all([h.fleet.cache.lookupIdentity(address), fromStore ? this.lastPaths(address) : Promise.resolve([])])
      .then(async ([identity, paths]) => {
        if (this.pending.get(address) !== p) return;
        if (identity === undefined || identity.address !== address) return this.refuseAddress(p, 'not_in_fleet');
        // For a destination, the store must say this root held it, and where: nothing else is worth an X25519.
        if (fromStore && paths.length === 0) return this.notHeldHere(p);
        if (!(await h.validatedBefore(identity))) return this.refuseAddress(p, 'not_validated');
        if (this.pending.get(address) !== p) return;
        if (this.known(address)) return void this.pending.delete(address); // a HELLO won the race
        // The X25519, here: after the packet that asked for it was dropped, and once per adoption.
        p.identity = identity;
        p.key = new PeerKey(h.identity.agree(identity));
        const t = h.now();
        this.offerStorePaths(p, [...paths, ...p.storePaths]);
        const waited = p.waiting;
        p.waiting = [];
        for (const c of waited) if (this.offer(p, c.sock, c.ip, c.port, c.pkt, t)) break;
      })
      .catch(() => {
        if (this.pending.get(address) === p) this.refuseAddress(p, 'lookup_failed');
      });
  }

  /**
   * A path for adoption `p`: kept while the key is not agreed yet; else, with a packet for us, its MAC is checked
   * (and it may be the answer to a probe: true); then the path is probed.
   */
  private offer(p: Pending, sock: number, ip: string, port: number, pkt: Uint8Array | null, now: number): boolean {
    if (sock < 0) return false;
    if (p.key === null) {
      // Packets for us are kept whatever path they claim (each may be the authentic one); relayed ones once per path.
      if (p.waiting.length < MAX_WAITING && (pkt !== null || !p.waiting.some((c) => c.pkt === null && c.sock === sock && c.port === port && c.ip === ip))) {
        p.waiting.push({ sock, ip, port, pkt: pkt === null ? null : pkt.slice() });
      }
      return false;
    }
    if (pkt !== null) {
      let opened;
      try {
        opened = openPacket(pkt, p.key);
      } catch {
        this.refuse('bad_mac'); // forged: costs a MAC check, and cancels nothing of the real peer's
        return false;
      }
      if (opened.verb === Verb.OK) {
        const answer = this.answers(p, opened.payload, sock, ip, port, now);
        if (answer !== NOT_AN_ANSWER) return answer === ADOPTED;
      }
    }
    this.probe(p, sock, ip, port, now);
    return false;
  }

  /** Whether `payload` (an authentic OK) answers one of `p`'s probes; ADOPTED when from exactly the path probed. */
  private answers(p: Pending, payload: Uint8Array, sock: number, ip: string, port: number, now: number): Answer {
    let ok;
    try {
      ok = decodeOk(payload);
    } catch {
      return NOT_AN_ANSWER;
    }
    if (ok.kind !== 'HELLO') return NOT_AN_ANSWER;
    const i = p.probes.findIndex((x) => x.id === ok.inRePacketId);
    if (i < 0) return NOT_AN_ANSWER;
    const probe = p.probes[i]!;
    p.probes.splice(i, 1);
    const family = this.host.familyOf(sock);
    if (probe.sock !== sock || probe.port !== port || probe.ip !== ip || family === undefined) {
      this.host.count('path_probe_mismatch'); // answered from elsewhere: proves nothing about where
      return MISMATCH;
    }
    this.pending.delete(p.address);
    if (this.known(p.address)) return MISMATCH; // a HELLO won the race: the root holds it already
    this.create(p.identity!, p.key!, ok, family, sock, ip, port, now);
    return ADOPTED;
  }

  /** The peer, with the one path it proved and the versions its OK(HELLO) gave; published to the fleet. */
  private create(identity: Identity, key: PeerKey, ok: OkHello, family: 4 | 6, sock: number, ip: string, port: number, now: number): void {
    const { peers, fleet } = this.host;
    const peer = peers.insert(identity, key, now);
    peer.probe = fleet.isProbe(identity.address);
    peer.protocolVersion = ok.protocolVersion;
    peer.versionMajor = ok.versionMajor;
    peer.versionMinor = ok.versionMinor;
    peer.versionRevision = ok.versionRevision;
    peer.heardFrom(family, ip, port, sock, now);
    this.host.count('peer_adoptions');
    this.host.adopted(peer);
    fleet.publish(peer, true, now);
  }

  private known(address: number): boolean {
    return this.host.peers.get(address) !== undefined;
  }

  /** Where this root last saw `address`: its own entry in the fleet's locations (rootId survives a restart). */
  private async lastPaths(address: number): Promise<readonly InetAddress[]> {
    const f = this.host.fleet;
    return (await f.cache.lookupLocations(address)).filter((l) => l.rootId === f.rootId).flatMap((l) => l.endpoints);
  }

  /** A HELLO to (sock, ip, port) with a fresh packet id, whose OK only the peer's key can make. */
  private probe(p: Pending, sock: number, ip: string, port: number, now: number, trusted = false): void {
    if (p.probes.some((x) => x.sock === sock && x.port === port && x.ip === ip && now - x.sentAt < PROBE_RETRY_MS)) return;
    // Full: the oldest probe of a claimed path gives way (a replayer's from many addresses must not push out the
    // real one's for long); the store's probes stay.
    const evict = p.probes.length < MAX_PROBES ? -1 : p.probes.findIndex((x) => !x.trusted);
    if (p.probes.length >= MAX_PROBES && evict < 0) return;
    const family = this.host.familyOf(sock);
    if (family === undefined) return;
    if (!this.host.replyAllowed(ip, now)) return this.host.count('drop_ip_rate_limited');
    if (evict >= 0) p.probes.splice(evict, 1);
    const v = this.opts.version;
    const payload = encodeHello({
      protocolVersion: PROTO_VERSION,
      versionMajor: v.major,
      versionMinor: v.minor,
      versionRevision: v.revision,
      timestamp: now,
      identity: this.host.identity.publicOnly(),
      physicalDestination: { family, ip, port },
    });
    const out = sealPacket({ dest: p.address, source: this.host.identity.address, verb: Verb.HELLO, payload }, p.key!, 0);
    p.probes.push({ id: BigInt(`0x${toHex(out.subarray(0, 8))}`), trusted, sock, ip, port, sentAt: now });
    this.host.count('tx_HELLO');
    this.host.count('peer_adoption_probes');
    this.host.sendOn(sock, out, ip, port);
  }

  /**
   * Remembered apart from `refused`, and only for destinations: the peer may still speak to this root itself
   * (then it is adopted from its own packets), and the store's locations change within seconds.
   */
  private notHeldHere(p: Pending): void {
    this.pending.delete(p.address);
    this.notHeld.delete(p.address);
    this.notHeld.set(p.address, this.host.now() + NOT_HELD_TTL_MS);
    while (this.notHeld.size > this.opts.maxRefused) this.notHeld.delete(this.notHeld.keys().next().value as number);
    this.refuse('not_held_here');
  }

  private refuseAddress(p: Pending, reason: AdoptionRefusal): void {
    this.pending.delete(p.address);
    this.refused.delete(p.address);
    this.refused.set(p.address, this.host.now() + this.opts.refusedTtlMs);
    while (this.refused.size > this.opts.maxRefused) this.refused.delete(this.refused.keys().next().value as number);
    this.refuse(reason);
  }

  private refuse(reason: AdoptionRefusal): void {
    this.host.count(`adoption_refused_${reason}`);
  }
}
