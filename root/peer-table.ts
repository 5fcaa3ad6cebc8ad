/**
 * The root's table of peers: address → identity, agreed key, last physical address per family, versions.
 *
 * Fixed-size records in typed arrays, one column per field, indexed by slot (DESIGN.md: "Fixed-size records,
 * no per-packet allocation"). At 1 M peers a peer costs ~300 B live — 180 B of columns (the index included), its
 * handle, its IPv4 path string — and ~380 B of RSS (`ztroot bench memory`), where an object graph (Identity,
 * PeerKey, strings, boxed numbers) cost ~1.7 KB, and ~4 KB once answered in suite 3. Addresses map to slots through an open-addressing hash over an Int32Array; slots of expired peers
 * are reused. Like root.cpp, a peer keeps one path per address family — the last one it was heard from —
 * because a client behind NAT is reachable only at the address its latest packet came from
 * (shared/protocol/vl1.md §6.1 step 4).
 *
 * What is kept per peer, and why not less:
 *   - the 64-byte public key (WHOIS answers, the fleet, comparing a HELLO's identity), as bytes;
 *   - the 48-byte agreed key, as bytes. Computing it again costs an X25519 (tens of µs, `ztroot bench
 *     agreement`); at 1 M peers each HELLOing every minute that would be ~17 k agreements a second. The
 *     PeerKey derived from it (K0/K1 and, once suite 3 is used, the AES contexts: 1–3 KB) lives only in a
 *     bounded CLOCK cache (`keyCacheSize`), so a peer that is not talking costs only its 48 bytes;
 *   - each family's last source IP as the string recvfrom gave it: `dgram.send` takes a string, and building one
 *     from bytes on every relayed packet would allocate per packet.
 *
 * Records are reached through `RootPeer` handles, one per live slot: the relay's look-up returns the slot's
 * handle without allocating, and code that holds a peer across an await sees `alive` turn false (never another
 * peer's record) once the slot is freed.
 */
import { Identity } from '../vl1/identity.js';
import { PeerKey } from '../vl1/peer-key.js';
import { PEER_PATH_EXPIRATION } from '../vl1/constants.js';
import { ZtError, ZtErrorCode } from '../vl1/errors.js';
import { VIA_TUNNEL, type RelayVia } from '../relay/relay.js';
import type { PendingProbe } from './path-probes.js';

/** 2024-01-01T00:00:00Z: the origin of coarse time. */
const COARSE_EPOCH_MS = 1_704_067_200_000;

/**
 * Coarse time for the relay path: whole seconds since 2024-01-01, which V8 keeps as a small integer
 * until 2058. A millisecond timestamp is a boxed double, and each one passed along the per-packet path
 * is a fresh 16-byte heap object (measured by `ztroot bench relay`); the relay needs only seconds
 * (path liveness 243 s, introductions every 30 s).
 */
export function coarseSeconds(ms: number): number {
  return Math.floor((ms - COARSE_EPOCH_MS) / 1000);
}

/** ZeroTier's path expiration (243 s) in coarse seconds. */
const PATH_EXPIRATION_S = PEER_PATH_EXPIRATION / 1000;

/** 2^30: addresses are split into 10 high and 30 low bits, both small integers (no boxing per look-up). */
const LOW_SPAN = 0x40000000;
const PUB_LEN = 64;
const KEY_LEN = 48;
/** Binary public identity: address[5] type[1]=0 public[64] privateLength[1]=0 (vl1.md §2.2). */
const ID_BIN_LEN = 71;

/**
 * Default bound of the PeerKey cache: 8,192 keys. Measured (`ztroot bench memory`) at about 1.0 KB per key, and
 * about 1.5 KB once its AES-GMAC-SIV contexts exist: ≤ ~12 MB however many peers the table holds.
 */
export const DEFAULT_KEY_CACHE_SIZE = 8192;

export interface PeerTableOptions {
  /** Slots allocated up front (rounded up to a power of two); the table doubles when full. */
  initialCapacity: number;
  /** PeerKeys (derived keys and cipher contexts) kept; a peer outside the cache pays two HMACs when next used. */
  keyCacheSize: number;
  /** Back the columns with SharedArrayBuffers (a later multi-core relay can read them from workers). */
  shared: boolean;
}

const DEFAULT_OPTIONS: Readonly<PeerTableOptions> = Object.freeze({ initialCapacity: 1024, keyCacheSize: DEFAULT_KEY_CACHE_SIZE, shared: false });

type TypedArrayCtor<T> = { new (b: ArrayBufferLike, o: number, n: number): T; BYTES_PER_ELEMENT: number };

/** 32-bit FNV-1a of a string: what is kept of a published location (see `wasPublishedAs`). */
function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return h | 0;
}

/**
 * A handle on one record of a PeerTable: every field reads and writes the table's columns. One per live slot
 * (the same object for as long as the peer stays), so handles compare by identity as peer objects did.
 * `new RootPeer(identity, key)` makes a detached record (its own one-slot table) that `PeerTable.set` adopts.
 */
export class RootPeer {
  /** The table and slot this handle reads (slot −1: removed). Internal to the table. */
  t: PeerTable;
  s: number;

  constructor(identity: Identity, key: PeerKey);
  constructor(table: PeerTable, slot: number);
  constructor(a: Identity | PeerTable, b: PeerKey | number) {
    if (a instanceof PeerTable) {
      this.t = a;
      this.s = b as number;
    } else {
      const t = new PeerTable({ initialCapacity: 1, keyCacheSize: 1 });
      t.detached = true;
      this.t = t;
      this.s = t.insertSlot(a, b as PeerKey, this);
    }
  }

  /** False once the peer left the table (expired, replaced): its fields then read as undefined and writes are lost. */
  get alive(): boolean {
    return this.s >= 0;
  }

  get address(): number {
    return this.t.hi10[this.s]! * LOW_SPAN + this.t.lo30[this.s]!;
  }
  /** The address's low 30 and high 10 bits (small integers: the relay compares these, never the 40-bit number). */
  get lo30(): number {
    return this.t.lo30[this.s]!;
  }
  get hi10(): number {
    return this.t.hi10[this.s]!;
  }
  /** The peer's public identity (built from the record: allocates; not for the packet path). */
  get identity(): Identity {
    return this.t.identityOf(this.s);
  }
  /** Whether `id` is this peer's identity (same address and public key), without building an Identity. */
  hasIdentity(id: Identity): boolean {
    return this.t.sameIdentity(this.s, id);
  }
  /** The agreed key with its derived keys, from the table's bounded cache (rebuilt from the stored 48 bytes on a miss). */
  get key(): PeerKey {
    return this.t.keyOf(this.s);
  }

  /** Last IPv4 source (empty string: none), when it was last heard from (coarse seconds), and the local socket it came in on. */
  get ip4(): string {
    return this.t.ip4[this.s]!;
  }
  set ip4(v: string) {
    if (this.s >= 0) this.t.ip4[this.s] = v;
  }
  get port4(): number {
    return this.t.port4[this.s]!;
  }
  set port4(v: number) {
    this.t.port4[this.s] = v;
  }
  get rx4(): number {
    return this.t.rx4[this.s]!;
  }
  set rx4(v: number) {
    this.t.rx4[this.s] = v;
  }
  get sock4(): number {
    return this.t.sock4[this.s]!;
  }
  set sock4(v: number) {
    this.t.sock4[this.s] = v;
  }
  /** Last IPv6 source, when it was last heard from (coarse seconds), and its local socket. */
  get ip6(): string {
    return this.t.ip6[this.s]!;
  }
  set ip6(v: string) {
    if (this.s >= 0) this.t.ip6[this.s] = v;
  }
  get port6(): number {
    return this.t.port6[this.s]!;
  }
  set port6(v: number) {
    this.t.port6[this.s] = v;
  }
  get rx6(): number {
    return this.t.rx6[this.s]!;
  }
  set rx6(v: number) {
    this.t.rx6[this.s] = v;
  }
  get sock6(): number {
    return this.t.sock6[this.s]!;
  }
  set sock6(v: number) {
    this.t.sock6[this.s] = v;
  }
  /**
   * The peer's TCP fallback tunnel, as the root's path index for it (negative; 0: none), and when it was
   * last heard on it (coarse seconds). The root clears it when the connection closes.
   */
  get tunnelSock(): number {
    return this.t.tunnelSock[this.s]!;
  }
  set tunnelSock(v: number) {
    this.t.tunnelSock[this.s] = v;
    if (v === 0) this.t.tunnelFrom.delete(this.s);
  }
  get rxT(): number {
    return this.t.rxT[this.s]!;
  }
  set rxT(v: number) {
    this.t.rxT[this.s] = v;
  }
  /** The tunnel's TCP peer, "ip/port" (for the API; nothing is sent to it but through the tunnel). Kept only while a tunnel is. */
  get tunnelFrom(): string {
    return this.t.tunnelFrom.get(this.s) ?? '';
  }
  set tunnelFrom(v: string) {
    if (this.s < 0) return;
    if (v === '') this.t.tunnelFrom.delete(this.s);
    else this.t.tunnelFrom.set(this.s, v);
  }
  /** Last authenticated packet from this peer, any family (ms). */
  get lastReceive(): number {
    return this.t.lastReceive[this.s]!;
  }
  set lastReceive(v: number) {
    this.t.lastReceive[this.s] = v;
  }

  get protocolVersion(): number {
    return this.t.protocolVersion[this.s]!;
  }
  set protocolVersion(v: number) {
    this.t.protocolVersion[this.s] = v;
  }
  get versionMajor(): number {
    return this.t.versionMajor[this.s]!;
  }
  set versionMajor(v: number) {
    this.t.versionMajor[this.s] = v;
  }
  get versionMinor(): number {
    return this.t.versionMinor[this.s]!;
  }
  set versionMinor(v: number) {
    this.t.versionMinor[this.s] = v;
  }
  get versionRevision(): number {
    return this.t.versionRevision[this.s]!;
  }
  set versionRevision(v: number) {
    this.t.versionRevision[this.s] = v;
  }

  /** When this root last published the peer's location to the fleet (ms). */
  get publishedAt(): number {
    return this.t.publishedAt[this.s] ?? 0;
  }
  set publishedAt(v: number) {
    this.t.useFleetColumns();
    this.t.publishedAt[this.s] = v;
  }
  /** The paths last published, kept as a 32-bit hash (a string per peer would cost more than the rest of the record). */
  set publishedWhere(where: string) {
    this.t.useFleetColumns();
    this.t.publishedHash[this.s] = fnv1a(where);
  }
  /** Whether `where` is what was last published (by hash: a collision delays one republish by at most its interval). */
  wasPublishedAs(where: string): boolean {
    return (this.t.publishedAt[this.s] ?? 0) !== 0 && this.t.publishedHash[this.s] === fnv1a(where);
  }

  /**
   * A probe leaf of the fleet (tools/probe/, named in the roots' heartbeats): its traffic is counted apart from
   * the clients' (root/fleet-forwarding.ts keeps the addresses; the root sets the flag).
   */
  get probe(): boolean {
    return this.t.probe[this.s] === 1;
  }
  set probe(v: boolean) {
    this.t.probe[this.s] = v ? 1 : 0;
  }

  /** Reply budget for HELLO/ECHO/WHOIS (a fixed window, see RootServer.replyAllowed). */
  get replyWindowStart(): number {
    return this.t.replyWindowStart[this.s]!;
  }
  set replyWindowStart(v: number) {
    this.t.replyWindowStart[this.s] = v;
  }
  get repliesInWindow(): number {
    return this.t.repliesInWindow[this.s]!;
  }
  set repliesInWindow(v: number) {
    this.t.repliesInWindow[this.s] = v;
  }

  /**
   * Probes of addresses this peer spoke from that are not its current path (root/path-probes.ts); null: none. Kept
   * with their one-second budget beside the table, only while some are outstanding: a peer that is not being probed
   * costs nothing for them (setting an empty list forgets the budget too, which matters only while probes are out).
   */
  get probes(): PendingProbe[] | null {
    const st = this.t.probes.get(this.s);
    return st === undefined || st.list.length === 0 ? null : st.list;
  }
  set probes(v: PendingProbe[] | null) {
    if (this.s < 0) return;
    if (v === null || v.length === 0) this.t.probes.delete(this.s);
    else this.probeState().list = v;
  }
  get probeWindowStart(): number {
    return this.t.probes.get(this.s)?.windowStart ?? 0;
  }
  set probeWindowStart(v: number) {
    if (this.s >= 0) this.probeState().windowStart = v;
  }
  get probesInWindow(): number {
    return this.t.probes.get(this.s)?.inWindow ?? 0;
  }
  set probesInWindow(v: number) {
    if (this.s >= 0) this.probeState().inWindow = v;
  }
  private probeState(): ProbeState {
    let st = this.t.probes.get(this.s);
    if (st === undefined) {
      st = { list: [], windowStart: 0, inWindow: 0 };
      this.t.probes.set(this.s, st);
    }
    return st;
  }

  /**
   * Records that an authenticated packet arrived from `ip:port` on local socket `sock` — a path the peer proved
   * it holds (root/path-probes.ts), never merely the source of a packet, which may be a replay. Replies and
   * relayed packets leave from that same socket, so they come from the address:port the peer's NAT expects.
   */
  heardFrom(family: 4 | 6, ip: string, port: number, sock: number, nowMs: number): void {
    const t = this.t;
    const i = this.s;
    if (i < 0) return;
    const s = coarseSeconds(nowMs);
    t.lastReceive[i] = nowMs;
    // A tunnel (negative index) is a path of its own: its TCP peer address is no UDP path to send to.
    if (sock < 0) {
      t.tunnelSock[i] = sock;
      t.rxT[i] = s;
      return;
    }
    if (family === 4) {
      t.ip4[i] = ip;
      t.port4[i] = port;
      t.rx4[i] = s;
      t.sock4[i] = sock;
    } else {
      t.ip6[i] = ip;
      t.port6[i] = port;
      t.rx6[i] = s;
      t.sock6[i] = sock;
    }
  }

  /** Whether the peer has a TCP fallback tunnel open to this root. */
  get hasTunnel(): boolean {
    return this.t.tunnelSock[this.s]! < 0;
  }

  /** True when the IPv4 / IPv6 path was heard from within ZeroTier's path expiration (243 s); `nowS` in coarse seconds. */
  hasLive4(nowS: number): boolean {
    return this.t.ip4[this.s] !== '' && nowS - this.t.rx4[this.s]! < PATH_EXPIRATION_S;
  }
  hasLive6(nowS: number): boolean {
    return this.t.ip6[this.s] !== '' && nowS - this.t.rx6[this.s]! < PATH_EXPIRATION_S;
  }

  /**
   * Where to send: the tunnel while the peer keeps one open (a 1.14 client keeps it only while it hears no
   * UDP, vl1.md §9.2, so UDP we receive from it may well be one-way), else the live UDP path heard from
   * most recently (so a peer that moved from IPv6 to IPv4 is reached where it is now); 0 when it has no
   * live path. `nowS` in coarse seconds.
   */
  bestFamily(nowS: number): RelayVia {
    const t = this.t;
    const i = this.s;
    if (i < 0) return 0;
    if (t.tunnelSock[i]! < 0) return VIA_TUNNEL;
    const l4 = t.ip4[i] !== '' && nowS - t.rx4[i]! < PATH_EXPIRATION_S;
    const l6 = t.ip6[i] !== '' && nowS - t.rx6[i]! < PATH_EXPIRATION_S;
    if (l4 && l6) return t.rx6[i]! >= t.rx4[i]! ? 6 : 4;
    return l6 ? 6 : l4 ? 4 : 0;
  }

  /** The protocol version decides the cipher suite for what we send (vl1.md §4.4). */
  get suite(): 1 | 3 {
    return this.t.protocolVersion[this.s]! >= 12 ? 3 : 1;
  }
}

/** A peer's outstanding path probes and their one-second budget. */
interface ProbeState {
  list: PendingProbe[];
  windowStart: number;
  inWindow: number;
}

/** Hit and miss counts of the key cache (for `ztroot bench memory` and the status API). */
export interface KeyCacheStats {
  size: number;
  bound: number;
  hits: number;
  misses: number;
}

/**
 * Peers by address, in fixed-size records. Bounds: the columns hold `capacity` slots (a power of two ≥ the most
 * peers held at once: it grows by doubling and never shrinks); the address index holds 2 × capacity int32 (load
 * ≤ ½); the key cache holds `keyCacheSize` PeerKeys; `tunnelFrom` holds one string per open TCP tunnel and
 * `probes` one list (≤ 6 probes, root/path-probes.ts) per peer with a probe outstanding.
 */
export class PeerTable {
  private readonly opts: PeerTableOptions;
  /** True for the one-slot table of a `new RootPeer(identity, key)`: `set` adopts its handle. */
  detached = false;
  private cap = 0;
  /** Slots handed out so far (the high-water mark); freed ones below it are on the free stack. */
  private used = 0;
  private count = 0;
  /** Freed slots, a stack threaded through their `lo30` (a free slot is in no index): −1 when empty. */
  private freeHead = -1;
  /** Open-addressing index: slot + 1, 0 when empty; linear probing, backward-shift deletion (no tombstones). */
  private index = new Int32Array(0);
  private mask = 0;
  /** Per-table seed: where an address lands in the index is not predictable from outside. */
  private readonly seed = (Math.random() * 0x7fffffff) | 0;

  // The columns (read by RootPeer handles; replaced when the table grows).
  lo30 = new Int32Array(0);
  hi10 = new Int16Array(0);
  pub = new Uint8Array(0);
  agreed = new Uint8Array(0);
  ip4: string[] = [];
  port4 = new Uint16Array(0);
  rx4 = new Int32Array(0);
  sock4 = new Int16Array(0);
  ip6: string[] = [];
  port6 = new Uint16Array(0);
  rx6 = new Int32Array(0);
  sock6 = new Int16Array(0);
  tunnelSock = new Int32Array(0);
  rxT = new Int32Array(0);
  lastReceive = new Float64Array(0);
  protocolVersion = new Uint8Array(0);
  versionMajor = new Uint8Array(0);
  versionMinor = new Uint8Array(0);
  versionRevision = new Uint16Array(0);
  /** 1: one of the fleet's probe leaves (RootPeer.probe). */
  probe = new Uint8Array(0);
  /** The fleet's columns (fleet-forwarding.ts), allocated at first use: a root without a fleet never pays for them. */
  publishedAt = new Float64Array(0);
  publishedHash = new Int32Array(0);
  private fleetColumns = false;
  replyWindowStart = new Float64Array(0);
  repliesInWindow = new Int32Array(0);
  /** Index into the key cache, −1 when the peer's PeerKey is not cached. */
  keyIdx = new Int32Array(0);
  handles: Array<RootPeer | undefined> = [];
  readonly tunnelFrom = new Map<number, string>();
  readonly probes = new Map<number, ProbeState>();

  // The key cache (CLOCK: a reference bit per entry, a hand that clears bits until it finds an unreferenced one).
  private readonly kcKeys: Array<PeerKey | undefined>;
  private readonly kcSlot: Int32Array;
  private readonly kcRef: Uint8Array;
  private kcHand = 0;
  private kcHits = 0;
  private kcMisses = 0;
  private readonly idScratch = new Uint8Array(ID_BIN_LEN);

  constructor(opts: Partial<PeerTableOptions> = {}) {
    this.opts = { ...DEFAULT_OPTIONS, ...opts };
    const { initialCapacity, keyCacheSize } = this.opts;
    if (!Number.isSafeInteger(initialCapacity) || initialCapacity < 1) {
      throw new ZtError(ZtErrorCode.BAD_CONFIG, `peer table: initialCapacity must be an integer ≥ 1, got ${String(initialCapacity)}`);
    }
    if (!Number.isSafeInteger(keyCacheSize) || keyCacheSize < 0) {
      throw new ZtError(ZtErrorCode.BAD_CONFIG, `peer table: keyCacheSize must be an integer ≥ 0, got ${String(keyCacheSize)}`);
    }
    this.kcKeys = new Array<PeerKey | undefined>(keyCacheSize).fill(undefined);
    this.kcSlot = new Int32Array(keyCacheSize).fill(-1);
    this.kcRef = new Uint8Array(keyCacheSize);
    let cap = 1;
    while (cap < initialCapacity) cap *= 2;
    this.resize(cap);
  }

  get size(): number {
    return this.count;
  }

  /** Slots allocated (columns are this long). */
  get capacity(): number {
    return this.cap;
  }

  get keyCacheStats(): KeyCacheStats {
    let size = 0;
    for (let i = 0; i < this.kcSlot.length; i++) if (this.kcSlot[i]! >= 0) size++;
    return { size, bound: this.kcSlot.length, hits: this.kcHits, misses: this.kcMisses };
  }

  get(address: number): RootPeer | undefined {
    const s = this.find(address % LOW_SPAN, Math.floor(address / LOW_SPAN));
    return s < 0 ? undefined : this.handles[s];
  }

  /** The peer whose address is the 5 bytes at `buf[o..o+5)`, without allocating. */
  getAt(buf: Uint8Array, o: number): RootPeer | undefined {
    const hi = (buf[o]! << 2) | (buf[o + 1]! >> 6);
    const lo = ((buf[o + 1]! & 0x3f) << 24) | (buf[o + 2]! << 16) | (buf[o + 3]! << 8) | buf[o + 4]!;
    const s = this.find(lo, hi);
    return s < 0 ? undefined : this.handles[s];
  }

  /**
   * Adds a peer (the HELLO handler, once the identity validated), replacing any with its address; `key` is the
   * agreed key (its 48 bytes are stored, and the PeerKey object cached). `nowMs`: when it was heard (for expiry).
   */
  insert(identity: Identity, key: PeerKey, nowMs = 0): RootPeer {
    const s = this.insertSlot(identity, key, undefined);
    this.lastReceive[s] = nowMs;
    return this.handles[s]!;
  }

  /**
   * Adds a peer made with `new RootPeer(identity, key)` (its handle is adopted), or copies one held by another table
   * (a new handle here). Replaces any peer with its address. @returns the handle in this table.
   */
  set(peer: RootPeer): RootPeer {
    const src = peer.t;
    const from = peer.s;
    if (from < 0) throw new ZtError(ZtErrorCode.BAD_VALUE, 'peer table: this peer was removed from its table; add it again from its identity');
    if (src === this) return peer;
    const adopt = src.detached;
    const s = this.allocSlot(src.lo30[from]!, src.hi10[from]!, adopt ? peer : undefined);
    this.copyRecord(src, from, s);
    const k = src.keyIdx[from]!;
    if (k >= 0) this.cacheKey(s, src.kcKeys[k]!);
    if (adopt) src.handles[from] = undefined;
    return this.handles[s]!;
  }

  delete(address: number): boolean {
    const s = this.find(address % LOW_SPAN, Math.floor(address / LOW_SPAN));
    if (s < 0) return false;
    this.removeSlot(s);
    return true;
  }

  *values(): IterableIterator<RootPeer> {
    for (let s = 0; s < this.used; s++) {
      const h = this.handles[s];
      if (h !== undefined) yield h;
    }
  }

  /** Removes peers silent for `timeoutMs` (ZeroTier: 500 s); returns how many went. */
  expire(now: number, timeoutMs: number): number {
    let gone = 0;
    for (let s = 0; s < this.used; s++) {
      if (this.handles[s] !== undefined && now - this.lastReceive[s]! >= timeoutMs) {
        this.removeSlot(s);
        gone++;
      }
    }
    return gone;
  }

  // ---- records ----------------------------------------------------------------------------------

  /** Internal: a fresh record for `identity` with `key`, handled by `handle` (or a new one). @returns its slot. */
  insertSlot(identity: Identity, key: PeerKey, handle: RootPeer | undefined): number {
    const address = identity.address;
    const s = this.allocSlot(address % LOW_SPAN, Math.floor(address / LOW_SPAN), handle);
    this.pub.set(identity.publicKey, s * PUB_LEN);
    this.agreed.set(key.key48, s * KEY_LEN);
    this.cacheKey(s, key);
    return s;
  }

  identityOf(s: number): Identity {
    if (s < 0) throw new ZtError(ZtErrorCode.BAD_VALUE, 'peer table: this peer was removed (expired or replaced)');
    const b = this.idScratch;
    const a = this.hi10[s]! * LOW_SPAN + this.lo30[s]!;
    b[0] = Math.floor(a / 0x100000000);
    b[1] = (a >>> 24) & 0xff;
    b[2] = (a >>> 16) & 0xff;
    b[3] = (a >>> 8) & 0xff;
    b[4] = a & 0xff;
    b[5] = 0;
    b.set(this.pub.subarray(s * PUB_LEN, (s + 1) * PUB_LEN), 6);
    b[70] = 0;
    return Identity.fromBinary(b); // copies
  }

  sameIdentity(s: number, id: Identity): boolean {
    if (s < 0 || this.hi10[s]! * LOW_SPAN + this.lo30[s]! !== id.address) return false;
    const p = this.pub;
    const k = id.publicKey;
    const o = s * PUB_LEN;
    for (let i = 0; i < PUB_LEN; i++) if (p[o + i] !== k[i]) return false;
    return true;
  }

  keyOf(s: number): PeerKey {
    if (s < 0) throw new ZtError(ZtErrorCode.BAD_VALUE, 'peer table: this peer was removed (expired or replaced)');
    const i = this.keyIdx[s]!;
    if (i >= 0) {
      this.kcHits++;
      this.kcRef[i] = 1;
      return this.kcKeys[i]!;
    }
    this.kcMisses++;
    const k = new PeerKey(this.agreed.subarray(s * KEY_LEN, (s + 1) * KEY_LEN)); // copies
    this.cacheKey(s, k);
    return k;
  }

  private cacheKey(s: number, key: PeerKey): void {
    const n = this.kcSlot.length;
    if (n === 0) return;
    const cur = this.keyIdx[s]!;
    if (cur >= 0) {
      this.kcKeys[cur] = key;
      this.kcRef[cur] = 1;
      return;
    }
    for (;;) {
      const i = this.kcHand;
      this.kcHand = i + 1 === n ? 0 : i + 1;
      const owner = this.kcSlot[i]!;
      if (owner >= 0 && this.kcRef[i] === 1) {
        this.kcRef[i] = 0; // a second chance
        continue;
      }
      if (owner >= 0) this.keyIdx[owner] = -1;
      this.kcKeys[i] = key;
      this.kcSlot[i] = s;
      this.kcRef[i] = 1;
      this.keyIdx[s] = i;
      return;
    }
  }

  private uncacheKey(s: number): void {
    const i = this.keyIdx[s]!;
    if (i < 0) return;
    this.kcKeys[i] = undefined;
    this.kcSlot[i] = -1;
    this.kcRef[i] = 0;
    this.keyIdx[s] = -1;
  }

  /** A cleared slot for address (lo, hi), indexed, replacing the peer that had the address. */
  private allocSlot(lo: number, hi: number, handle: RootPeer | undefined): number {
    const old = this.find(lo, hi);
    if (old >= 0) this.removeSlot(old);
    let s: number;
    if (this.freeHead >= 0) {
      s = this.freeHead;
      this.freeHead = this.lo30[s]!;
    } else {
      if (this.used === this.cap) this.resize(this.cap * 2);
      s = this.used++;
    }
    this.clearRecord(s);
    this.lo30[s] = lo;
    this.hi10[s] = hi;
    let i = this.home(lo, hi);
    while (this.index[i] !== 0) i = (i + 1) & this.mask;
    this.index[i] = s + 1;
    if (handle === undefined) handle = new RootPeer(this, s);
    else {
      handle.t = this;
      handle.s = s;
    }
    this.handles[s] = handle;
    this.count++;
    return s;
  }

  private removeSlot(s: number): void {
    // Unindex: find its position, then shift back later entries of the same run that may move into the hole.
    let i = this.home(this.lo30[s]!, this.hi10[s]!);
    while (this.index[i] !== s + 1) i = (i + 1) & this.mask;
    let j = i;
    for (;;) {
      j = (j + 1) & this.mask;
      const e = this.index[j]!;
      if (e === 0) break;
      const k = this.home(this.lo30[e - 1]!, this.hi10[e - 1]!);
      // The entry at j may fill the hole at i unless its home lies cyclically in (i, j].
      const stays = i <= j ? i < k && k <= j : i < k || k <= j;
      if (!stays) {
        this.index[i] = e;
        i = j;
      }
    }
    this.index[i] = 0;
    const h = this.handles[s];
    if (h !== undefined) h.s = -1;
    this.handles[s] = undefined;
    this.uncacheKey(s);
    this.ip4[s] = '';
    this.ip6[s] = '';
    this.tunnelFrom.delete(s);
    this.probes.delete(s);
    this.lo30[s] = this.freeHead;
    this.freeHead = s;
    this.count--;
  }

  private home(lo: number, hi: number): number {
    let h = Math.imul(lo ^ this.seed, 0x9e3779b1);
    h ^= h >>> 15;
    h = Math.imul(h ^ hi, 0x85ebca6b);
    h ^= h >>> 13;
    return h & this.mask;
  }

  private find(lo: number, hi: number): number {
    const index = this.index;
    const mask = this.mask;
    let i = this.home(lo, hi);
    for (;;) {
      const e = index[i]!;
      if (e === 0) return -1;
      if (this.lo30[e - 1] === lo && this.hi10[e - 1] === hi) return e - 1;
      i = (i + 1) & mask;
    }
  }

  private clearRecord(s: number): void {
    this.ip4[s] = '';
    this.ip6[s] = '';
    this.port4[s] = this.rx4[s] = this.sock4[s] = 0;
    this.port6[s] = this.rx6[s] = this.sock6[s] = 0;
    this.tunnelSock[s] = this.rxT[s] = 0;
    this.lastReceive[s] = 0;
    this.protocolVersion[s] = this.versionMajor[s] = this.versionMinor[s] = this.versionRevision[s] = 0;
    this.probe[s] = 0;
    this.publishedAt[s] = this.publishedHash[s] = 0;
    this.replyWindowStart[s] = this.repliesInWindow[s] = 0;
    this.keyIdx[s] = -1;
  }

  private copyRecord(src: PeerTable, f: number, s: number): void {
    this.pub.set(src.pub.subarray(f * PUB_LEN, (f + 1) * PUB_LEN), s * PUB_LEN);
    this.agreed.set(src.agreed.subarray(f * KEY_LEN, (f + 1) * KEY_LEN), s * KEY_LEN);
    this.ip4[s] = src.ip4[f]!;
    this.port4[s] = src.port4[f]!;
    this.rx4[s] = src.rx4[f]!;
    this.sock4[s] = src.sock4[f]!;
    this.ip6[s] = src.ip6[f]!;
    this.port6[s] = src.port6[f]!;
    this.rx6[s] = src.rx6[f]!;
    this.sock6[s] = src.sock6[f]!;
    this.tunnelSock[s] = src.tunnelSock[f]!;
    this.rxT[s] = src.rxT[f]!;
    const from = src.tunnelFrom.get(f);
    if (from !== undefined) this.tunnelFrom.set(s, from);
    this.lastReceive[s] = src.lastReceive[f]!;
    this.protocolVersion[s] = src.protocolVersion[f]!;
    this.versionMajor[s] = src.versionMajor[f]!;
    this.versionMinor[s] = src.versionMinor[f]!;
    this.versionRevision[s] = src.versionRevision[f]!;
    this.probe[s] = src.probe[f]!;
    if (src.fleetColumns) {
      this.useFleetColumns();
      this.publishedAt[s] = src.publishedAt[f]!;
      this.publishedHash[s] = src.publishedHash[f]!;
    }
    this.replyWindowStart[s] = src.replyWindowStart[f]!;
    this.repliesInWindow[s] = src.repliesInWindow[f]!;
    const probes = src.probes.get(f);
    if (probes !== undefined) this.probes.set(s, { ...probes, list: probes.list.slice() });
  }

  /** Allocates the fleet's columns (once). */
  useFleetColumns(): void {
    if (this.fleetColumns) return;
    this.fleetColumns = true;
    const bytes = (n: number): ArrayBuffer => (this.opts.shared ? (new SharedArrayBuffer(n) as unknown as ArrayBuffer) : new ArrayBuffer(n));
    this.publishedAt = new Float64Array(bytes(this.cap * 8));
    this.publishedHash = new Int32Array(bytes(this.cap * 4));
  }

  /** Re-allocates every column for `cap` slots (copying what is there) and rebuilds the index at 2 × cap. */
  private resize(cap: number): void {
    const shared = this.opts.shared;
    const col = <T extends ArrayLike<number> & { set(a: ArrayLike<number>): void }>(Ctor: TypedArrayCtor<T>, old: T, per = 1): T => {
      const bytes = cap * per * Ctor.BYTES_PER_ELEMENT;
      const buf = shared ? new SharedArrayBuffer(bytes) : new ArrayBuffer(bytes);
      const a = new Ctor(buf, 0, cap * per);
      a.set(old);
      return a;
    };
    this.lo30 = col(Int32Array, this.lo30);
    this.hi10 = col(Int16Array, this.hi10);
    this.pub = col(Uint8Array, this.pub, PUB_LEN);
    this.agreed = col(Uint8Array, this.agreed, KEY_LEN);
    this.port4 = col(Uint16Array, this.port4);
    this.rx4 = col(Int32Array, this.rx4);
    this.sock4 = col(Int16Array, this.sock4);
    this.port6 = col(Uint16Array, this.port6);
    this.rx6 = col(Int32Array, this.rx6);
    this.sock6 = col(Int16Array, this.sock6);
    this.tunnelSock = col(Int32Array, this.tunnelSock);
    this.rxT = col(Int32Array, this.rxT);
    this.lastReceive = col(Float64Array, this.lastReceive);
    this.protocolVersion = col(Uint8Array, this.protocolVersion);
    this.versionMajor = col(Uint8Array, this.versionMajor);
    this.versionMinor = col(Uint8Array, this.versionMinor);
    this.versionRevision = col(Uint16Array, this.versionRevision);
    this.probe = col(Uint8Array, this.probe);
    if (this.fleetColumns) {
      this.publishedAt = col(Float64Array, this.publishedAt);
      this.publishedHash = col(Int32Array, this.publishedHash);
    }
    this.replyWindowStart = col(Float64Array, this.replyWindowStart);
    this.repliesInWindow = col(Int32Array, this.repliesInWindow);
    this.keyIdx = col(Int32Array, this.keyIdx);
    // Strings and handles: plain arrays of exactly `cap` elements (push would leave up to half again as spare),
    // filled so that no element is a hole.
    const grow = <T>(old: T[], fill: T): T[] => {
      const a = new Array<T>(cap);
      for (let s = 0; s < cap; s++) a[s] = s < old.length ? old[s]! : fill;
      return a;
    };
    this.ip4 = grow(this.ip4, '');
    this.ip6 = grow(this.ip6, '');
    this.handles = grow<RootPeer | undefined>(this.handles, undefined);
    this.cap = cap;
    this.index = col(Int32Array, new Int32Array(0), 2);
    this.mask = cap * 2 - 1;
    for (let s = 0; s < this.used; s++) {
      if (this.handles[s] === undefined) continue;
      let i = this.home(this.lo30[s]!, this.hi10[s]!);
      while (this.index[i] !== 0) i = (i + 1) & this.mask;
      this.index[i] = s + 1;
    }
  }
}
