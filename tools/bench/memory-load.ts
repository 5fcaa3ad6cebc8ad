/**
 * The child process of `ztroot bench memory` (tools/bench/memory.ts), one measurement per process:
 *
 *   memory-load.js fill <new|old|old-siv> <n,n,...>  — a started root filled to each n peers; memory per peer at each
 *   memory-load.js keys                              — what one cached PeerKey costs, without and with AES contexts
 *   memory-load.js relay <n>                          — the relay step's ns per packet and bytes allocated at n peers, on
 *                                                      both tables filled alike in this one process, alternating
 *
 * 1 M real identities cannot be generated here (each costs a memory-hard search), so peers get random public keys and
 * random 48-byte agreed keys (no X25519: the same bytes are stored either way) and enter the table the way a
 * validated HELLO's identity does: `peers.insert(identity, key)` (RootServer's validation callback), then
 * `heardFrom` once its path is proven (RootServer.adopt). 'old' fills the table as it was before issue 15
 * (tools/bench/legacy-peer-table.ts), beside the same started root.
 */
import { randomFillSync } from 'node:crypto';
import { PerformanceObserver } from 'node:perf_hooks';
import { Identity } from '../../vl1/identity.js';
import { PeerKey } from '../../vl1/peer-key.js';
import { writeU40 } from '../../vl1/bytes.js';
import { IDX_FLAGS } from '../../vl1/constants.js';
import { buildPacket } from '../../vl1/packet.js';
import { c25519Generate } from '../../vl1/c25519.js';
import { signWorld, serializeWorld } from '../../planet/world.js';
import { Relay, type RelayPeer } from '../../relay/relay.js';
import { RootServer } from '../../root/root-server.js';
import { coarseSeconds } from '../../root/peer-table.js';
import { PeerTable as LegacyPeerTable, RootPeer as LegacyRootPeer } from './legacy-peer-table.js';

export interface FillResult {
  variant: string;
  points: Array<{ peers: number; rssPerPeer: number; heapPerPeer: number; externalPerPeer: number; buildMs: number; capacity?: number }>;
  keyCache?: { size: number; bound: number };
}
export interface KeysResult {
  keys: number;
  bytesPerKey: number;
  bytesPerKeyWithSiv: number;
}
export interface RelayResult {
  peers: number;
  rounds: number;
  /** Per step: the best round's ns per packet, the worst round's bytes allocated per packet and GCs. */
  steps: Array<{ table: 'old' | 'new'; name: string; nsPerPacket: number; bytesPerPacket: number; gcs: number }>;
}

function send(msg: unknown): void {
  process.send!(msg, () => process.exit(0));
}

function gc(): void {
  const g = (globalThis as { gc?: () => void }).gc;
  if (g === undefined) throw new Error('memory-load.js must run with --expose-gc');
  g();
  g();
}

/** Lets ArrayBuffers freed by a GC be released and GC entries be delivered. */
const settle = (): Promise<void> => new Promise((r) => setTimeout(r, 50));

/**
 * Memory after the heap is compacted: a full GC compacts only some fragmented pages, and a fill leaves many (each
 * evicted PeerKey dies in old space among live records). Measured at 300 k peers: after 2 GCs the heap still held
 * ~110 B per peer committed but empty; after 8 it held none (heapTotal = heapUsed).
 */
async function measured(): Promise<NodeJS.MemoryUsage> {
  for (let i = 0; i < 4; i++) gc();
  await settle();
  gc();
  return process.memoryUsage();
}

/** `n` distinct random addresses, not reserved (0, first byte 0xff). */
function addresses(n: number): Float64Array {
  const out = new Float64Array(n);
  const seen = new Set<number>();
  const b = new Uint8Array(5 * 4096);
  let j = b.length;
  for (let i = 0; i < n; ) {
    if (j === b.length) {
      randomFillSync(b);
      j = 0;
    }
    const a = b[j]! * 0x100000000 + ((b[j + 1]! << 24) >>> 0) + (b[j + 2]! << 16) + (b[j + 3]! << 8) + b[j + 4]!;
    j += 5;
    if (a === 0 || a >= 0xff00000000 || seen.has(a)) continue;
    seen.add(a);
    out[i++] = a;
  }
  return out;
}

/** A distinct IPv4 string per peer, as each real peer's path holds its own string from recvfrom. */
function ipOf(i: number): string {
  return `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
}

/** A started root on loopback (its own memory is part of the baseline, not of the per-peer figure). */
async function startRoot(): Promise<RootServer> {
  const k = c25519Generate();
  const rootId = Identity.fromString(`1122334455:0:${Buffer.from(k.publicKey).toString('hex')}:${Buffer.from(k.privateKey).toString('hex')}`);
  const pk = c25519Generate();
  const planet = serializeWorld(
    signWorld({ type: 'planet', id: 0x3e3n, timestamp: Date.now(), updatesMustBeSignedBy: pk.publicKey, roots: [{ identity: rootId.publicOnly(), stableEndpoints: [{ family: 4, ip: '127.0.0.1', port: 9993 }] }] }, pk),
  );
  const root = new RootServer({ port: 0, bind4: '127.0.0.1', bind6: null }, { identity: rootId, planet, validator: { validate: async () => true } });
  await root.start();
  return root;
}

/** Adds peers [from, to) of `addrs`, the way a validated HELLO and a proven path do. */
type Filler = (from: number, to: number) => void;

function filler(variant: string, root: RootServer, legacy: LegacyPeerTable, addrs: Float64Array): Filler {
  // Scratch reused for every peer (Identity and PeerKey copy their input).
  const idBin = new Uint8Array(71); // address[5] type[1]=0 public[64] privateLength[1]=0
  const key48 = new Uint8Array(48);
  const now = Date.now();
  return (from, to) => {
    for (let i = from; i < to; i++) {
      randomFillSync(idBin, 6, 64);
      writeU40(idBin, 0, addrs[i]!);
      const id = Identity.fromBinary(idBin);
      randomFillSync(key48);
      const key = new PeerKey(key48);
      if (variant === 'new') {
        const p = root.peers.insert(id, key);
        p.heardFrom(4, ipOf(i), 9993 + (i & 1023), 0, now);
        p.protocolVersion = 12;
      } else {
        if (variant === 'old-siv') void key.siv; // answered in suite 3 (every 1.14 client): AES contexts exist
        const p = new LegacyRootPeer(id, key);
        p.heardFrom(4, ipOf(i), 9993 + (i & 1023), 0, now);
        p.protocolVersion = 12;
        legacy.set(p);
      }
    }
  };
}

/**
 * Makes the garbage a fill makes (an Identity, a PeerKey and a path string per peer) before the baseline: the young
 * generation grows to its working size (tens of MB, once per process) and malloc holds freed key buffers for reuse.
 * Measured after this, the figures are what each further peer costs, not the process's one-time growth.
 */
function warmUp(): void {
  const idBin = new Uint8Array(71);
  const key48 = new Uint8Array(48);
  let keep = 0;
  for (let i = 0; i < 200_000; i++) {
    randomFillSync(idBin, 6, 64);
    writeU40(idBin, 0, 1 + i);
    const id = Identity.fromBinary(idBin);
    randomFillSync(key48);
    const key = new PeerKey(key48);
    keep += id.publicKey[0]! + key.k0[0]! + ipOf(i).length;
  }
  if (keep < 0) console.log(keep);
}

async function fill(variant: string, points: number[]): Promise<void> {
  const max = Math.max(...points);
  const root = await startRoot();
  const legacy = new LegacyPeerTable();
  const addrs = addresses(max);
  const add = filler(variant, root, legacy, addrs);
  warmUp();
  const m0 = await measured();
  const out: FillResult = { variant, points: [] };
  let done = 0;
  let buildMs = 0;
  for (const n of [...points].sort((a, b) => a - b)) {
    const t0 = performance.now();
    add(done, n);
    buildMs += performance.now() - t0;
    done = n;
    const m = await measured();
    out.points.push({
      peers: n,
      rssPerPeer: (m.rss - m0.rss) / n,
      heapPerPeer: (m.heapUsed - m0.heapUsed) / n,
      externalPerPeer: (m.external - m0.external) / n,
      buildMs,
      ...(variant === 'new' ? { capacity: root.peers.capacity } : {}),
    });
  }
  if (variant === 'new') {
    const s = root.peers.keyCacheStats;
    out.keyCache = { size: s.size, bound: s.bound };
  }
  if (legacy.size + root.peers.size !== max) throw new Error(`filled ${legacy.size + root.peers.size} of ${max}`);
  await root.stop();
  send(out);
}

async function keys(): Promise<void> {
  const n = 8192;
  const key48 = new Uint8Array(48);
  const m0 = await measured();
  const ks: PeerKey[] = [];
  for (let i = 0; i < n; i++) {
    randomFillSync(key48);
    ks.push(new PeerKey(key48));
  }
  const m1 = await measured();
  for (const k of ks) void k.siv;
  const m2 = await measured();
  const total = (m: NodeJS.MemoryUsage): number => m.heapUsed + m.external;
  if (ks.length !== n) throw new Error('unreachable'); // keeps the keys alive through the measurements
  send({ keys: n, bytesPerKey: (total(m1) - total(m0)) / n, bytesPerKeyWithSiv: (total(m2) - total(m0)) / n } satisfies KeysResult);
}

/** Steps measured per figure, after a warm-up (optimized code, as in a long run). */
const RELAY_STEPS = 500_000;

/** Rounds of every step, old and new table alternating; the best round of each is reported (the machine is shared). */
const RELAY_ROUNDS = 3;

async function relay(n: number): Promise<void> {
  const root = await startRoot();
  const legacy = new LegacyPeerTable();
  const addrs = addresses(n);
  filler('new', root, legacy, addrs)(0, n);
  filler('old', root, legacy, addrs)(0, n);
  // 4096 packets between random peers of the whole table: look-ups land all over it, as with real traffic.
  const pkts: Uint8Array[] = [];
  for (let i = 0; i < 4096; i++) {
    const d = addrs[Math.floor(Math.random() * n)]!;
    const s = addrs[Math.floor(Math.random() * n)]!;
    const pkt = buildPacket({ dest: d, source: s, verb: 6, payload: new Uint8Array(72) });
    pkt[IDX_FLAGS] = (pkt[IDX_FLAGS]! & 0xf8) | 1; // hop 1: past the introduction, the steady state
    pkts.push(pkt);
  }
  const hop0 = pkts.map((p) => {
    const c = p.slice();
    c[IDX_FLAGS] = c[IDX_FLAGS]! & 0xf8;
    return c;
  });
  let sent = 0;
  const nowS = coarseSeconds(Date.now());
  const sock = (root as unknown as { sockets: Array<{ sock: { send: (...a: unknown[]) => void } }> }).sockets[0]!.sock;
  sock.send = () => void sent++;
  const steps: Array<{ table: 'old' | 'new'; name: string; step: (i: number) => void }> = [];
  for (const table of ['old', 'new'] as const) {
    const lookupAt = table === 'new' ? (b: Uint8Array, o: number) => root.peers.getAt(b, o) : (b: Uint8Array, o: number) => legacy.getAt(b, o);
    const relay = new Relay<RelayPeer>({}, { lookupAt, send: () => void sent++, unite: () => void sent++, drop: () => undefined });
    steps.push(
      {
        table,
        name: 'Relay.forward, hop 1 (no-op send)',
        step: (i) => {
          const b = pkts[i]!;
          b[IDX_FLAGS] = (b[IDX_FLAGS]! & 0xf8) | 1; // undo the hop bump so the pool replays forever
          relay.forward(b, nowS);
        },
      },
      {
        table,
        name: 'Relay.forward, first hop (pair introduced ≤ once per 30 s)',
        step: (i) => {
          const b = hop0[i]!;
          b[IDX_FLAGS] = b[IDX_FLAGS]! & 0xf8;
          relay.forward(b, nowS);
        },
      },
    );
  }
  steps.push({
    table: 'new',
    name: 'RootServer.onDatagram, relayed (socket send stubbed)',
    step: (i) => {
      const b = pkts[i]!;
      b[IDX_FLAGS] = (b[IDX_FLAGS]! & 0xf8) | 1;
      root.onDatagram(b, 0, '127.0.0.1', 9);
    },
  });
  let gcs = 0;
  const obs = new PerformanceObserver((list) => void (gcs += list.getEntries().length));
  obs.observe({ entryTypes: ['gc'] });
  for (const { step } of steps) for (let i = 0; i < 200_000; i++) step(i & 4095); // optimized code, as in a long run
  const best = steps.map(({ table, name }) => ({ table, name, nsPerPacket: Infinity, bytesPerPacket: 0, gcs: 0 }));
  for (let round = 0; round < RELAY_ROUNDS; round++) {
    for (let k = 0; k < steps.length; k++) {
      const step = steps[k]!.step;
      gc();
      await settle();
      const g0 = gcs;
      const h0 = process.memoryUsage().heapUsed;
      const t0 = process.hrtime.bigint();
      for (let i = 0; i < RELAY_STEPS; i++) step(i & 4095);
      const t1 = process.hrtime.bigint();
      const h1 = process.memoryUsage().heapUsed;
      await settle();
      const b = best[k]!;
      b.nsPerPacket = Math.min(b.nsPerPacket, Number(t1 - t0) / RELAY_STEPS);
      b.bytesPerPacket = Math.max(b.bytesPerPacket, (h1 - h0) / RELAY_STEPS);
      b.gcs = Math.max(b.gcs, gcs - g0);
    }
  }
  obs.disconnect();
  if (sent < 0) console.log(sent);
  await root.stop();
  send({ peers: n, rounds: RELAY_ROUNDS, steps: best } satisfies RelayResult);
}

const role = process.argv[2];
if (process.send === undefined) {
  console.error('memory-load.js is started by `ztroot bench memory`, not by hand');
  process.exit(2);
}
if (role === 'fill') await fill(process.argv[3] ?? 'new', (process.argv[4] ?? '100000').split(',').map(Number));
else if (role === 'keys') await keys();
else if (role === 'relay') await relay(Number(process.argv[3] ?? 100_000));
else {
  console.error(`memory-load.js: unknown role ${String(role)}`);
  process.exit(2);
}
