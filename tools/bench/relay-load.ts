/**
 * Child processes of the `relay` benchmark (tools/bench/relay.ts forks this script; it is not a CLI).
 *
 *   relay-load.js server     — a RootServer and a plain `node:dgram` forwarder on 127.0.0.1, driven over IPC
 *   relay-load.js memory <v> — memory per known peer at 100 k peers (run with --expose-gc), one variant per process
 *   relay-load.js alloc      — heap growth and GC count over N in-process relay steps (run with --expose-gc)
 *   relay-load.js sink       — counts relayed datagrams for the CPU-per-packet part (relay-cpu.ts)
 *   relay-load.js identities <n> — generates n real identities (for root.cpp, which forgets invalid ones)
 *
 * Each role answers over the IPC channel and exits when its parent goes away, so a crashed or
 * interrupted benchmark leaves no process behind.
 */
import dgram from 'node:dgram';
import { randomBytes, randomFillSync } from 'node:crypto';
import { PerformanceObserver } from 'node:perf_hooks';
import { Identity } from '../../vl1/identity.js';
import { PeerKey } from '../../vl1/peer-key.js';
import { readU40, writeU40 } from '../../vl1/bytes.js';
import { IDX_FLAGS } from '../../vl1/constants.js';
import { buildPacket, armor } from '../../vl1/packet.js';
import { c25519Generate } from '../../vl1/c25519.js';
import { signWorld, serializeWorld } from '../../planet/world.js';
import { Relay } from '../../relay/relay.js';
import { RootServer } from '../../root/root-server.js';
import { coarseSeconds, RootPeer, PeerTable } from '../../root/peer-table.js';
import { IdentityValidator } from '../../root/identity-validator.js';
import { fakeIdentity, randomAddress } from './relay.js';
import { sinkRole } from './relay-cpu.js';
import { BATCH, BatchedUdpSocket, loadUdpAddon, SLOT_BYTES } from '../../relay/udp-socket.js';

/** Messages parent → server child. */
export type ServerRequest =
  | { type: 'init'; rootSecret: string; sinkPort: number; relayPeers: number[] }
  | { type: 'forget'; addresses: number[] }
  | { type: 'counters' }
  | { type: 'cpu' };

/** Messages server child → parent. */
export type ServerReply =
  | { type: 'ready'; rootPort: number; plainPort: number; validatorWorkers: number; udp: string }
  | { type: 'forgot' }
  | { type: 'counters'; counters: Record<string, number> }
  | { type: 'cpu'; user: number; system: number };

export interface MemoryResult {
  variant: string;
  peers: number;
  rssPerPeer: number;
  heapPerPeer: number;
  /** ArrayBuffer backing stores and other memory V8 accounts as external. */
  externalPerPeer: number;
  buildMs: number;
}

export interface AllocResult {
  name: string;
  forwards: number;
  heapDeltaBytes: number;
  gcCount: number;
}

function send(msg: unknown, then?: () => void): void {
  if (then === undefined) process.send!(msg);
  else process.send!(msg, () => then());
}

/** Gives PerformanceObserver time to deliver queued GC entries. */
function settle(): Promise<void> {
  return new Promise((r) => setTimeout(r, 50));
}

// ---- server -------------------------------------------------------------------------------------

async function server(): Promise<void> {
  let root: RootServer | null = null;
  let validator: IdentityValidator | null = null;
  let plain: dgram.Socket | null = null;
  const shutdown = async (): Promise<never> => {
    await root?.stop().catch(() => undefined);
    await validator?.close().catch(() => undefined);
    plain?.close();
    process.exit(0);
  };
  process.on('disconnect', () => void shutdown());

  process.on('message', (m: ServerRequest) => {
    void (async () => {
      if (m.type === 'init') {
        const rootId = Identity.fromString(m.rootSecret);
        const planetKey = c25519Generate();
        const planet = serializeWorld(
          signWorld(
            { type: 'planet', id: 0x5eed0b0bn, timestamp: Date.now(), updatesMustBeSignedBy: planetKey.publicKey, roots: [{ identity: rootId.publicOnly(), stableEndpoints: [{ family: 4, ip: '127.0.0.1', port: 9993 }] }] },
            planetKey,
          ),
        );
        // cacheSize 0: every new-peer HELLO pays the memory-hard hash (the cold case we measure).
        // maxQueuePerSource: all new identities come from one prefix here (not a flood: what we measure).
        validator = new IdentityValidator({ cacheSize: 0, maxQueuePerSource: 1e6 });
        root = new RootServer(
          {
            port: 0,
            bind4: '127.0.0.1',
            bind6: null,
            // Every client here shares 127.0.0.1: lift the per-IP / per-prefix / per-peer budgets, which
            // would otherwise cap replies at 1,000/s and new identities at 2/s. We measure capacity.
            repliesPerPeerPerSecond: 1e9,
            repliesPerIpPerSecond: 1e9,
            newIdentityIntervalMs: 1e-6,
            newIdentityBurst: 1e9,
            sourceBudget: { hostPerSecond: 1e9, hostBurst: 1e9, sitePerSecond: 1e9, siteBurst: 1e9 },
          },
          { identity: rootId, planet, validator },
        );
        await root.start();
        // The relayed peers: one shared key (only RENDEZVOUS is ever sealed to them), path → the sink.
        const key = new PeerKey(new Uint8Array(randomBytes(48)));
        const now = Date.now();
        for (const a of m.relayPeers) {
          const p = new RootPeer(fakeIdentity(a), key);
          p.heardFrom(4, '127.0.0.1', m.sinkPort, 0, now);
          root.peers.set(p);
        }
        // The reference: a Map lookup on the 5-byte destination and a send; anything else is echoed.
        const routes = new Map<number, { ip: string; port: number }>();
        for (const a of m.relayPeers) routes.set(a, { ip: '127.0.0.1', port: m.sinkPort });
        const sock = dgram.createSocket({ type: 'udp4', recvBufferSize: 4 << 20, sendBufferSize: 4 << 20 });
        plain = sock;
        sock.on('message', (msg, rinfo) => {
          const r = msg.length >= 13 ? routes.get(readU40(msg, 8)) : undefined;
          if (r !== undefined) sock.send(msg, r.port, r.ip);
          else sock.send(msg, rinfo.port, rinfo.address);
        });
        await new Promise<void>((resolve) => sock.bind(0, '127.0.0.1', resolve));
        send({ type: 'ready', rootPort: root.port, plainPort: sock.address().port, validatorWorkers: validator.stats.workers, udp: root.udpPath.path } satisfies ServerReply);
      } else if (m.type === 'forget') {
        for (const a of m.addresses) root?.peers.delete(a);
        send({ type: 'forgot' } satisfies ServerReply);
      } else if (m.type === 'cpu') {
        const u = process.cpuUsage();
        send({ type: 'cpu', user: u.user, system: u.system } satisfies ServerReply);
      } else if (m.type === 'counters') {
        send({ type: 'counters', counters: Object.fromEntries(root?.counters ?? []) } satisfies ServerReply);
      }
    })().catch((e: unknown) => {
      console.error('relay-load server:', e);
      process.exit(1);
    });
  });
}

// ---- memory per peer ----------------------------------------------------------------------------

const MEMORY_PEERS = 100_000;

function gc(): void {
  const g = (globalThis as { gc?: () => void }).gc;
  if (g === undefined) throw new Error('relay-load memory/alloc must run with --expose-gc');
  g();
  g();
}

/** A distinct, flat IPv4 string per peer (each real peer's path holds its own string from recvfrom). */
function ipOf(i: number): string {
  return `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
}

async function memory(variant: string): Promise<void> {
  const addresses = new Array<number>(MEMORY_PEERS);
  const seen = new Set<number>();
  for (let i = 0; i < MEMORY_PEERS; ) {
    const a = randomAddress();
    if (!seen.has(a)) {
      seen.add(a);
      addresses[i++] = a;
    }
  }
  seen.clear();
  // Scratch reused for every peer (Identity and PeerKey copy their input), so building leaves no
  // garbage that a later GC would subtract from the figure.
  const idBin = new Uint8Array(71); // address[5] type[1]=0 public[64] privateLength[1]=0
  const key48 = new Uint8Array(48);
  // Settle the baseline: ArrayBuffers freed by a GC are released a little later.
  gc();
  await settle();
  gc();
  const m0 = process.memoryUsage();
  const t0 = performance.now();
  let keep: unknown;
  if (variant === 'plain-map') {
    const map = new Map<number, { ip: string; port: number }>();
    for (let i = 0; i < MEMORY_PEERS; i++) map.set(addresses[i]!, { ip: ipOf(i), port: 9993 + (i & 1023) });
    keep = map;
  } else {
    const table = new PeerTable();
    const now = Date.now();
    for (let i = 0; i < MEMORY_PEERS; i++) {
      randomFillSync(idBin, 6, 64);
      writeU40(idBin, 0, addresses[i]!);
      const id = Identity.fromBinary(idBin);
      // A distinct key per peer, from random bytes instead of an X25519 agreement: same memory, no 10 s.
      randomFillSync(key48);
      const key = new PeerKey(key48);
      if (variant === 'peers-siv') void key.siv; // answered in suite 3 (every 1.14 client): AES contexts exist
      const p = new RootPeer(id, key);
      p.heardFrom(4, ipOf(i), 9993 + (i & 1023), 0, now);
      table.set(p);
    }
    keep = table;
  }
  const buildMs = performance.now() - t0;
  gc();
  await settle();
  gc();
  const m1 = process.memoryUsage();
  if (keep === null) console.log('unreachable'); // keeps `keep` alive through the second measurement
  send({
    variant,
    peers: MEMORY_PEERS,
    rssPerPeer: (m1.rss - m0.rss) / MEMORY_PEERS,
    heapPerPeer: (m1.heapUsed - m0.heapUsed) / MEMORY_PEERS,
    externalPerPeer: (m1.external - m0.external) / MEMORY_PEERS,
    buildMs,
  } satisfies MemoryResult, () => process.exit(0));
}

// ---- allocation on the relay step ---------------------------------------------------------------

/**
 * Forwards per measurement. The child runs with 256 MB semi-spaces (relay.ts), so up to ~500 B per
 * forward fit in the young generation without a scavenge: the heap delta is then the bytes allocated.
 */
const ALLOC_FORWARDS = 500_000;

/** Closes the batched socket of batchedSteps (declared here: the role runs before the end of this module). */
let closeBatched = (): void => undefined;

async function alloc(): Promise<void> {
  const peers = new PeerTable();
  const routes = new Map<number, { ip: string; port: number }>();
  const key = new PeerKey(new Uint8Array(randomBytes(48)));
  const now = Date.now();
  const addrs: number[] = [];
  while (addrs.length < 1000) {
    const a = randomAddress();
    if (peers.get(a) !== undefined) continue;
    const p = new RootPeer(fakeIdentity(a), key);
    p.heardFrom(4, '127.0.0.1', 9, 0, now);
    peers.set(p);
    routes.set(a, { ip: '127.0.0.1', port: 9 });
    addrs.push(a);
  }
  const pkts: Uint8Array[] = [];
  for (let i = 0; i < 1024; i++) {
    const s = addrs[i % 1000]!;
    const d = addrs[(i * 7 + 1) % 1000]!;
    const pkt = buildPacket({ dest: d, source: s, verb: 6, payload: new Uint8Array(72) });
    armor(pkt, key, 1);
    pkts.push(pkt);
  }
  let sent = 0;
  const nowS = coarseSeconds(now);
  const relay = new Relay<RootPeer>({}, {
    lookupAt: (buf, o) => peers.getAt(buf, o),
    send: () => void sent++,
    unite: () => undefined,
    drop: () => undefined,
  });
  const flags = pkts.map((p) => p[IDX_FLAGS]!);

  // The whole per-datagram path of a started root (peek, relay, counters), with its socket's send
  // replaced by a counter so that only our code is measured.
  const rootKey = c25519Generate();
  const rootId = Identity.fromString(`${(0x1122334455).toString(16)}:0:${Buffer.from(rootKey.publicKey).toString('hex')}:${Buffer.from(rootKey.privateKey).toString('hex')}`);
  const planetKey = c25519Generate();
  const planet = serializeWorld(
    signWorld({ type: 'planet', id: 0x5eed0b0bn, timestamp: now, updatesMustBeSignedBy: planetKey.publicKey, roots: [{ identity: rootId.publicOnly(), stableEndpoints: [{ family: 4, ip: '127.0.0.1', port: 9993 }] }] }, planetKey),
  );
  const server = new RootServer({ port: 0, bind4: '127.0.0.1', bind6: null }, { identity: rootId, planet, validator: { validate: async () => true } });
  await server.start();
  for (const p of peers.values()) server.peers.set(p);
  const sock = (server as unknown as { sockets: Array<{ sock: { send: (...a: unknown[]) => void } }> }).sockets[0]!.sock;
  sock.send = () => void sent++;
  const hop1 = pkts.map((p) => {
    const c = p.slice();
    c[IDX_FLAGS] = (c[IDX_FLAGS]! & 0xf8) | 1; // hop 1: past the introduction, the steady state
    return c;
  });

  const steps: Array<{ name: string; step: (buf: Uint8Array, i: number) => void }> = [
    {
      name: 'RootServer.onDatagram, relayed (socket send stubbed)',
      step: (_buf, i) => {
        const b = hop1[i]!;
        b[IDX_FLAGS] = (b[IDX_FLAGS]! & 0xf8) | 1;
        server.onDatagram(b, 0, '127.0.0.1', 9);
      },
    },
    {
      name: 'Relay.forward (no-op send)',
      step: (buf, i) => {
        buf[IDX_FLAGS] = flags[i]!; // undo the hop bump so the pool can be replayed forever
        relay.forward(buf, nowS);
      },
    },
    {
      name: 'plain Map lookup + no-op send',
      step: (buf) => {
        const r = routes.get(readU40(buf, 8));
        if (r !== undefined) sent++;
      },
    },
    ...batchedSteps(server, hop1),
    {
      // Control: proves the measure sees per-packet allocation (one 5-byte view per packet).
      name: 'control: subarray() per packet',
      step: (buf) => {
        if (buf.subarray(8, 13)[0] === 256) sent++;
      },
    },
  ];
  let gcs = 0;
  const obs = new PerformanceObserver((list) => {
    gcs += list.getEntries().length;
  });
  obs.observe({ entryTypes: ['gc'] });
  const results: AllocResult[] = [];
  for (const { name, step } of steps) {
    for (let i = 0; i < 200_000; i++) step(pkts[i & 1023]!, i & 1023); // warm up: optimized code, as in a long run
    gc();
    await settle(); // deliver the warm-up's GC entries before counting
    const g0 = gcs;
    const h0 = process.memoryUsage().heapUsed;
    for (let i = 0; i < ALLOC_FORWARDS; i++) step(pkts[i & 1023]!, i & 1023);
    const h1 = process.memoryUsage().heapUsed;
    await settle();
    results.push({ name, forwards: ALLOC_FORWARDS, heapDeltaBytes: h1 - h0, gcCount: gcs - g0 });
  }
  obs.disconnect();
  await server.stop();
  closeBatched();
  if (sent < 0) console.log(sent);
  send(results, () => process.exit(0));
}

const role = process.argv[2];
if (process.send === undefined) {
  console.error('relay-load.js is started by `ztroot bench relay`, not by hand');
  process.exit(2);
}
if (role === 'server') await server();
else if (role === 'memory') await memory(process.argv[3] ?? 'peers');
else if (role === 'alloc') await alloc();
else if (role === 'sink') await sinkRole();
else if (role === 'identities') {
  // Real identities for root.cpp (relay.ts realIdentityPool): the memory-hard hash, one process per core.
  const out: string[] = [];
  for (let i = 0; i < Number(process.argv[3] ?? 0); i++) out.push(Identity.generate().toString(true));
  send(out, () => process.exit(0));
}
else {
  console.error(`relay-load.js: unknown role ${String(role)}`);
  process.exit(2);
}

/**
 * The batched socket's receive step (relay/udp-socket.ts onBatch: a view per datagram unless its slot's last one had
 * the same length, the source IP from the cache) feeding the root's onDatagram, without the system calls: the receive
 * buffer is filled here, 64 datagrams at a time, as recvmmsg would. One variant with every datagram the same length,
 * one with lengths that change from slot to slot. Empty when the addon is not built.
 */
function batchedSteps(server: RootServer, hop1: Uint8Array[]): Array<{ name: string; step: (buf: Uint8Array, i: number) => void }> {
  const l = loadUdpAddon();
  if ('why' in l) return [];
  const sock = new BatchedUdpSocket(l.addon, { family: 4, address: '127.0.0.1', port: 0 }, (buf, ip, port) => server.onDatagram(buf, 0, ip, port));
  closeBatched = () => void sock.close();
  const inner = sock as unknown as { data: Uint8Array; meta: Uint32Array; onBatch(n: number): void };
  const fill = (i: number, varied: boolean): void => {
    for (let k = 0; k < BATCH; k++) {
      const p = hop1[(i + k) & 1023]!;
      const len = varied ? p.length - ((k + (i >> 6)) & 7) : p.length; // a few bytes short, changing every batch: still relayed
      for (let b = 0, o = k * SLOT_BYTES; b < len; b++) inner.data[o + b] = p[b]!; // no subarray: that would allocate
      inner.data[k * SLOT_BYTES + IDX_FLAGS] = (p[IDX_FLAGS]! & 0xf8) | 1;
      const m = k * 8;
      inner.meta[m] = len;
      inner.meta[m + 1] = 4;
      inner.meta[m + 2] = 9;
      inner.meta[m + 4] = 0x0100007f; // 127.0.0.1 as the bytes lie in memory (little-endian word)
    }
  };
  const step = (varied: boolean) => (_buf: Uint8Array, i: number): void => {
    if ((i & (BATCH - 1)) !== BATCH - 1) return;
    fill(i, varied);
    inner.onBatch(BATCH);
  };
  return [
    { name: 'batched socket → onDatagram, same length', step: step(false) },
    { name: 'batched socket → onDatagram, mixed lengths', step: step(true) },
  ];
}
