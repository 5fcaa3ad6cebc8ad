/**
 * Root server benchmark, over loopback (127.0.0.1) only, each figure beside a minimal plain
 * `node:dgram` forwarder (Map lookup on the 5-byte destination, one send; anything not routed is echoed
 * back) measured in the same run, in the same child process as the root:
 *
 *   0. CPU µs per relayed packet at 50 k pps and the maximum rate, for ours on both UDP paths, a plain dgram
 *      forwarder, a C recvmmsg/sendmmsg forwarder (and root.cpp when ZT_ROOT_BIN is set), on one pinned core and
 *      on two (tools/bench/relay-cpu.ts); `ZTROOT_BENCH_RELAY=cpu` runs only this part;
 *   1. relayed packets/s at 100 B and 1400 B between 1,000 peers: a load generator + sink (this process)
 *      keeps a window of datagrams in flight through the root (or the plain forwarder) and counts what
 *      reaches the sink; the relay step alone in-process (`Relay.forward`, no-op send); heap growth and
 *      GC count over 2 M in-process steps (a child with --expose-gc);
 *   2. new-peer HELLOs/s (validation cache off: each pays the memory-hard hash in the validator pool)
 *      and known-peer HELLOs/s;
 *   3. WHOIS/s answered for a known address;
 *   4. RSS, heap and external memory per known peer at 100 k peers (one child per variant).
 *
 * Children are forked from `relay-load.js` and killed on exit, error or interrupt. Figures are printed,
 * never asserted. ZTROOT_BENCH_MS sets the time per measurement (default 1000 ms).
 */
import { buildHelloPacket } from '../../vl1/hello-packet.js';
import { fork, type ChildProcess } from 'node:child_process';
import dgram from 'node:dgram';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { Identity } from '../../vl1/identity.js';
import { PeerKey } from '../../vl1/peer-key.js';
import { readU40 } from '../../vl1/bytes.js';
import { IDX_FLAGS, Verb } from '../../vl1/constants.js';
import { armor, buildPacket, sealPacket } from '../../vl1/packet.js';
import { encodeWhois } from '../../vl1/verbs/whois.js';
import { Relay } from '../../relay/relay.js';
import { coarseSeconds, PeerTable, RootPeer } from '../../root/peer-table.js';
import { measure, report, type Measurement } from './harness.js';
import { compileForwarder, Load, measureForwarder, pin, printCpuRows, startCForwarder, startRootCpp, tempDir, type CpuRow, type Forwarder } from './relay-cpu.js';
import { loadUdpAddon } from '../../relay/udp-socket.js';
import type { AllocResult, MemoryResult, ServerReply, ServerRequest } from './relay-load.js';

const LOAD_SCRIPT = fileURLToPath(new URL('./relay-load.js', import.meta.url));
const RELAY_PEERS = 1000;
/** Distinct pre-built packets per size (random peer pairs); replayed, so after warm-up every pair is united. */
const RELAY_POOL = 1024;
/** Datagrams kept in flight by the closed-loop generator. */
const WINDOW = 32;
/** Identities HELLOing as new peers (generated once, cached in the temp dir), plus the root's own. */
const HELLO_POOL = 24;
const ID_CACHE = join(tmpdir(), `ztroot-bench-relay-identities-${HELLO_POOL + 1}.txt`);
const LOCALHOST = '127.0.0.1';

// ---- child processes ----------------------------------------------------------------------------

const children = new Set<ChildProcess>();

function killChildren(): void {
  for (const c of children) c.kill('SIGKILL');
  children.clear();
}
function onSignal(sig: NodeJS.Signals): void {
  killChildren();
  process.exit(sig === 'SIGINT' ? 130 : 143);
}

function spawnChild(args: string[], execArgv: string[] = [], env: NodeJS.ProcessEnv = process.env): ChildProcess {
  const c = fork(LOAD_SCRIPT, args, { execArgv, env, stdio: ['ignore', 'inherit', 'inherit', 'ipc'], serialization: 'advanced' });
  children.add(c);
  c.on('exit', () => children.delete(c));
  return c;
}

/** The next message from `child` that `pick` accepts; rejects if the child exits first or after `ms`. */
function nextMessage<T>(child: ChildProcess, pick: (m: unknown) => T | undefined, ms = 120_000): Promise<T> {
  return new Promise((resolve, reject) => {
    const done = (): void => {
      clearTimeout(timer);
      child.off('message', onMsg);
      child.off('exit', onExit);
    };
    const onMsg = (m: unknown): void => {
      const v = pick(m);
      if (v === undefined) return;
      done();
      resolve(v);
    };
    const onExit = (code: number | null, sig: string | null): void => {
      done();
      reject(new Error(`bench child exited (${code ?? sig}) before answering`));
    };
    const timer = setTimeout(() => {
      done();
      reject(new Error(`bench child did not answer within ${ms} ms`));
    }, ms);
    child.on('message', onMsg);
    child.on('exit', onExit);
  });
}

function ask<K extends ServerReply['type']>(child: ChildProcess, req: ServerRequest, type: K): Promise<Extract<ServerReply, { type: K }>> {
  const p = nextMessage(child, (m) => ((m as ServerReply).type === type ? (m as Extract<ServerReply, { type: K }>) : undefined));
  child.send(req);
  return p;
}

/** Runs a one-shot child role and returns its single answer. */
async function oneShot<T>(args: string[], execArgv: string[], ms = 120_000): Promise<T> {
  const c = spawnChild(args, execArgv);
  try {
    return await nextMessage(c, (m) => m as T, ms);
  } finally {
    c.kill('SIGKILL');
  }
}

// ---- load generation ----------------------------------------------------------------------------

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function openSocket(): Promise<dgram.Socket> {
  const s = dgram.createSocket({ type: 'udp4', recvBufferSize: 4 << 20, sendBufferSize: 4 << 20 });
  await new Promise<void>((r) => s.bind(0, LOCALHOST, r));
  return s;
}

interface LoopResult {
  m: Measurement;
  /** Times the window was lost (nothing came back for 100 ms) and re-primed: a sign of drops. */
  stalls: number;
}

/**
 * Closed loop: keeps `WINDOW` datagrams in flight from `tx` to `port`; each datagram `accept`ed on `rx`
 * releases the next one. Counts accepted datagrams per second over `ms` after `warmMs`.
 */
async function closedLoop(name: string, tx: dgram.Socket, rx: dgram.Socket, port: number, packets: Uint8Array[], accept: (m: Buffer) => boolean, ms: number, warmMs: number, bytesPerOp?: number): Promise<LoopResult> {
  let next = 0;
  let received = 0;
  let running = true;
  const sendOne = (): void => {
    tx.send(packets[next]!, port, LOCALHOST);
    next = next + 1 === packets.length ? 0 : next + 1;
  };
  const onMsg = (m: Buffer): void => {
    if (!accept(m)) return;
    received++;
    if (running) sendOne();
  };
  rx.on('message', onMsg);
  let stalls = 0;
  let lastSeen = 0;
  const watchdog = setInterval(() => {
    if (received === lastSeen && running) {
      stalls++;
      for (let i = 0; i < WINDOW; i++) sendOne();
    }
    lastSeen = received;
  }, 100);
  try {
    for (let i = 0; i < WINDOW; i++) sendOne();
    await sleep(warmMs);
    const r0 = received;
    const t0 = performance.now();
    await sleep(ms);
    const r1 = received;
    const t1 = performance.now();
    const m: Measurement = { name, opsPerSec: ((r1 - r0) * 1000) / (t1 - t0) };
    if (bytesPerOp !== undefined) m.bytesPerOp = bytesPerOp;
    return { m, stalls };
  } finally {
    running = false;
    clearInterval(watchdog);
    await sleep(30); // let the window drain before the next measurement
    rx.off('message', onMsg);
  }
}

/** Best of `rounds` alternating measurements (same load on each, see armor.ts). */
async function interleavedLoops(makers: Array<(roundMs: number) => Promise<LoopResult>>, ms: number, rounds = 3): Promise<LoopResult[]> {
  const roundMs = Math.max(100, Math.floor(ms / rounds));
  const best: LoopResult[] = [];
  for (let r = 0; r < rounds; r++) {
    for (let i = 0; i < makers.length; i++) {
      const res = await makers[i]!(roundMs);
      const b = best[i];
      if (b === undefined) best[i] = res;
      else best[i] = { m: res.m.opsPerSec > b.m.opsPerSec ? res.m : b.m, stalls: b.stalls + res.stalls };
    }
  }
  return best;
}

/**
 * Sends every packet at once and waits until each `key` (an address) has come back once.
 * @returns elapsed ms, or throws after `timeoutMs`.
 */
async function burst(sock: dgram.Socket, port: number, packets: Uint8Array[], keyOf: (m: Buffer) => number, keys: number[], timeoutMs = 20_000): Promise<number> {
  const pending = new Set(keys);
  const t0 = performance.now();
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      sock.off('message', onMsg);
      reject(new Error(`${pending.size} of ${keys.length} replies missing after ${timeoutMs} ms`));
    }, timeoutMs);
    const onMsg = (m: Buffer): void => {
      if (m.length >= 18) pending.delete(keyOf(m));
      if (pending.size === 0) {
        clearTimeout(timer);
        sock.off('message', onMsg);
        resolve();
      }
    };
    sock.on('message', onMsg);
    for (const p of packets) sock.send(p, port, LOCALHOST);
  });
  return performance.now() - t0;
}

// ---- fixtures (also used by relay-load.ts) -------------------------------------------------------

/** A public identity with a random key: relaying and memory never validate it (the root would, once). */
export function fakeIdentity(address: number): Identity {
  return Identity.fromString(`${address.toString(16).padStart(10, '0')}:0:${randomBytes(64).toString('hex')}`);
}

/** A random 40-bit address that is not reserved (0, or first byte 0xff). */
export function randomAddress(): number {
  for (;;) {
    const a = randomBytes(5).readUIntBE(0, 5);
    if (a !== 0 && a < 0xff00000000) return a;
  }
}

/** `n` identities with private keys, cached in the temp dir (Identity.generate() takes ~0.3–0.5 s each). */
function identityPool(n: number): Identity[] {
  const ids: Identity[] = [];
  if (existsSync(ID_CACHE)) {
    for (const line of readFileSync(ID_CACHE, 'utf8').split('\n')) {
      if (ids.length >= n || line.trim() === '') continue;
      try {
        const id = Identity.fromString(line.trim());
        if (id.hasPrivate()) ids.push(id);
      } catch {
        // a damaged cache line: regenerate below
      }
    }
  }
  if (ids.length < n) {
    console.log(`  (generating ${n - ids.length} identities for the HELLO pool, cached in ${ID_CACHE})`);
    while (ids.length < n) ids.push(Identity.generate());
    writeFileSync(ID_CACHE, ids.map((i) => i.toString(true)).join('\n') + '\n', { mode: 0o600 });
  }
  return ids;
}

function relayPackets(size: number, addrs: number[], pairs: Array<[number, number]>): Uint8Array[] {
  const key = new PeerKey(new Uint8Array(randomBytes(48))); // the root never opens relayed packets
  return pairs.map(([s, d]) => {
    const pkt = buildPacket({ dest: addrs[d]!, source: addrs[s]!, verb: Verb.FRAME, payload: new Uint8Array(randomBytes(size - 28)) });
    armor(pkt, key, 1);
    return pkt;
  });
}

/** A HELLO as 1.14.1 builds it (suite 0, empty cryptField moon list) from `id` to the root at 127.0.0.1:rootPort. */
export function helloPacket(id: Identity, root: Identity, rootPort: number): Uint8Array {
  return buildHelloPacket({
    from: id,
    to: root,
    physicalDestination: { family: 4, ip: LOCALHOST, port: rootPort },
    planet: { id: 0x5eed0b0bn, timestamp: Date.now() + 1e9 }, // newer than the root's: no planet in the reply (steady state)
  });
}

/** CPU time of the server child and of this process (generator + sink) over a span of the run. */
async function cpuSpan(server: ChildProcess): Promise<() => Promise<string>> {
  const c0 = await ask(server, { type: 'cpu' }, 'cpu');
  const m0 = process.cpuUsage();
  const t0 = performance.now();
  return async () => {
    const c1 = await ask(server, { type: 'cpu' }, 'cpu');
    const m1 = process.cpuUsage();
    const wall = (performance.now() - t0) * 1000; // µs
    const pct = (us: number): string => `${((100 * us) / wall).toFixed(0)} %`;
    return (
      `server process ${pct(c1.user - c0.user + c1.system - c0.system)} of a core (${pct(c1.system - c0.system)} in the kernel), ` +
      `generator+sink ${pct(m1.user - m0.user + m1.system - m0.system)} (${pct(m1.system - m0.system)} kernel)`
    );
  };
}

const us = (opsPerSec: number): string => `${(1e6 / opsPerSec).toFixed(2)} µs`;

// ---- the suite ----------------------------------------------------------------------------------

export async function run(): Promise<void> {
  const ms = Number(process.env.ZTROOT_BENCH_MS ?? 1000);
  process.on('exit', killChildren);
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const sockets: dgram.Socket[] = [];
  try {
    await runSuite(ms, sockets);
  } finally {
    for (const s of sockets) s.close();
    killChildren();
    process.off('exit', killChildren);
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

async function runSuite(ms: number, sockets: dgram.Socket[]): Promise<void> {
  const pool = identityPool(HELLO_POOL + 1);
  const rootId = pool[0]!;
  const helloIds = pool.slice(1);

  const addrs: number[] = [];
  const seen = new Set<number>([rootId.address, ...helloIds.map((i) => i.address)]);
  while (addrs.length < RELAY_PEERS) {
    const a = randomAddress();
    if (!seen.has(a)) {
      seen.add(a);
      addrs.push(a);
    }
  }
  const pairs: Array<[number, number]> = [];
  for (let i = 0; i < RELAY_POOL; i++) {
    const s = Math.floor(Math.random() * RELAY_PEERS);
    let d = Math.floor(Math.random() * (RELAY_PEERS - 1));
    if (d >= s) d++;
    pairs.push([s, d]);
  }

  await cpuPerPacket(addrs, ms);
  if (process.env.ZTROOT_BENCH_RELAY === 'cpu') return;

  const gen = await openSocket();
  const sink = await openSocket();
  const client = await openSocket();
  sockets.push(gen, sink, client);

  const server = spawnChild(['server']);
  const ready = await ask(server, { type: 'init', rootSecret: rootId.toString(true), sinkPort: sink.address().port, relayPeers: addrs }, 'ready');
  const { rootPort, plainPort } = ready;

  // ---- 1. relay throughput ----
  const relayRows: Array<{ ours: Measurement; reference: Measurement }> = [];
  let stalls = 0;
  const relayCpu = await cpuSpan(server);
  for (const size of [100, 1400]) {
    const pkts = relayPackets(size, addrs, pairs);
    const isRelayed = (m: Buffer): boolean => m.length === size; // RENDEZVOUS to the sink are ~41 B
    const [ours, ref] = await interleavedLoops([
      (t) => closedLoop(`root relay (${ready.udp}), ${size} B`, gen, sink, rootPort, pkts, isRelayed, t, 100, size),
      (t) => closedLoop(`plain dgram forwarder, ${size} B`, gen, sink, plainPort, pkts, isRelayed, t, 100, size),
    ], ms);
    relayRows.push({ ours: ours!.m, reference: ref!.m });
    stalls += ours!.stalls + ref!.stalls;
  }
  const relayCpuText = await relayCpu();
  report(`relay: packets/s through the root, ${RELAY_PEERS} peers, ${WINDOW} in flight, loopback (best of 3 interleaved rounds)`, relayRows);
  console.log(`  CPU over these rounds: ${relayCpuText}`);
  const c1 = (await ask(server, { type: 'counters' }, 'counters')).counters;
  console.log(
    `  root counters: relayed ${c1['relayed'] ?? 0}, rendezvous_sent ${c1['rendezvous_sent'] ?? 0}, ` +
      `drops ${Object.entries(c1).filter(([k]) => k.startsWith('drop_')).map(([k, v]) => `${k}=${v}`).join(' ') || 'none'}; window re-primed ${stalls}×`,
  );

  // In-process: the relay step alone, to split JS cost from the socket path.
  const peers = new PeerTable();
  const routes = new Map<number, { ip: string; port: number }>();
  const sharedKey = new PeerKey(new Uint8Array(randomBytes(48)));
  const now = Date.now();
  for (const a of addrs) {
    const p = new RootPeer(fakeIdentity(a), sharedKey);
    p.heardFrom(4, LOCALHOST, 9, 0, now);
    peers.set(p);
    routes.set(a, { ip: LOCALHOST, port: 9 });
  }
  let sent = 0;
  const nowS = coarseSeconds(now);
  const relay = new Relay<RootPeer>({}, { lookupAt: (buf, o) => peers.getAt(buf, o), send: () => void sent++, unite: () => undefined, drop: () => undefined });
  const stepPkts = relayPackets(100, addrs, pairs);
  const flags = stepPkts.map((p) => p[IDX_FLAGS]!);
  const BATCH = 1024;
  const step = measure('Relay.forward, no-op send', () => {
    for (let i = 0; i < BATCH; i++) {
      const b = stepPkts[i]!;
      b[IDX_FLAGS] = flags[i]!; // undo the hop bump so the pool replays forever
      relay.forward(b, nowS);
    }
  }, { ms, batch: BATCH });
  const plainStep = measure('Map.get(dest), no-op send', () => {
    for (let i = 0; i < BATCH; i++) {
      const r = routes.get(readU40(stepPkts[i]!, 8));
      if (r !== undefined) sent++;
    }
  }, { ms, batch: BATCH });
  report('relay: the JS step alone, in-process (one core)', [{ ours: step, reference: plainStep }]);
  const e2e = relayRows[0]!.ours.opsPerSec;
  console.log(
    `  per relayed 100 B datagram: ${us(step.opsPerSec)} in Relay.forward of ${us(e2e)} end to end ` +
      `(${((100 * e2e) / step.opsPerSec).toFixed(1)} %). Limit in this closed loop: the node:dgram generator and sink (one ` +
      'sendmsg / recvmsg and one callback per datagram) sharing the 2 cores with the root; the CPU part above measures the root alone',
  );

  const alloc = await oneShot<AllocResult[]>(['alloc'], ['--expose-gc', '--min-semi-space-size=256', '--max-semi-space-size=256']);
  console.log('\n## relay: bytes allocated per relay step (in-process, optimized, 256 MB young generation, heap delta over N steps)');
  for (const a of alloc) {
    // A GC during the loop would hide what it freed: then the figure is only a lower bound.
    const bound = a.gcCount === 0 ? '' : ` (≥: ${a.gcCount} GCs ran)`;
    console.log(`  ${a.name.padEnd(34)} ${(a.heapDeltaBytes / a.forwards).toFixed(1).padStart(6)} B/step over ${a.forwards / 1000} k steps${bound}`);
  }
  console.log('  a Map keyed by 40-bit addresses boxes each key in a HeapNumber (16 B per get); the peer table keys on the low 30 bits (a small integer) read from the packet bytes, so the relay step allocates nothing');

  // ---- 2. HELLO ----
  const hellos = helloIds.map((id) => helloPacket(id, rootId, rootPort));
  const helloAddrs = helloIds.map((i) => i.address);
  // Untimed warm-up: the validator worker's hash code is compiled on its first calls.
  await ask(server, { type: 'forget', addresses: helloAddrs }, 'forgot');
  await burst(client, rootPort, hellos.slice(0, 4), (m) => readU40(m, 8), helloAddrs.slice(0, 4));
  let newTotal = 0;
  let newMs = 0;
  do {
    await ask(server, { type: 'forget', addresses: helloAddrs }, 'forgot');
    newMs += await burst(client, rootPort, hellos, (m) => readU40(m, 8), helloAddrs);
    newTotal += hellos.length;
  } while (newMs < ms);
  const newPeer: Measurement = { name: `new-peer HELLO → OK, ${hellos.length}-identity bursts`, opsPerSec: (newTotal * 1000) / newMs };
  let echoTotal = 0;
  let echoMs = 0;
  do {
    echoMs += await burst(client, plainPort, hellos, (m) => readU40(m, 13), helloAddrs);
    echoTotal += hellos.length;
  } while (echoMs < Math.min(ms, 200));
  const echoBurst: Measurement = { name: 'plain echo, same bursts', opsPerSec: (echoTotal * 1000) / echoMs };
  const any = (): boolean => true;
  const helloCpu = await cpuSpan(server);
  const [known, knownRef] = await interleavedLoops([
    (t) => closedLoop('known-peer HELLO → OK(HELLO)', client, client, rootPort, hellos, any, t, 100),
    (t) => closedLoop('plain echo, same datagrams', client, client, plainPort, hellos, any, t, 100),
  ], ms);
  const helloCpuText = await helloCpu();
  report(`HELLO: answered per second (root validator workers: ${ready.validatorWorkers}, cache off for new peers)`, [
    { ours: newPeer, reference: echoBurst },
    { ours: known!.m, reference: knownRef!.m },
  ]);
  console.log(
    `  ${(1000 / newPeer.opsPerSec).toFixed(1)} ms per new peer — limit: the memory-hard hash in the validator's ${ready.validatorWorkers} worker(s) ` +
      `(one per core but one, the event loop keeps the other), plus an X25519 on the event loop; ` +
      `${us(known!.m.opsPerSec)} per known-peer HELLO — limit: the root's event loop (Poly1305 check, HELLO decode, OK encode + suite-3 seal, send)`,
  );
  console.log(`  CPU over the known-peer rounds: ${helloCpuText}`);

  // ---- 3. WHOIS ----
  const whois = helloIds.map((id, i) =>
    sealPacket({ dest: rootId.address, source: id.address, verb: Verb.WHOIS, payload: encodeWhois({ addresses: [helloIds[(i + 1) % helloIds.length]!.address] }) }, new PeerKey(id.agree(rootId)), 3),
  );
  const whoisCpu = await cpuSpan(server);
  const [w, wRef] = await interleavedLoops([
    (t) => closedLoop('WHOIS (known) → OK(WHOIS)', client, client, rootPort, whois, any, t, 100),
    (t) => closedLoop('plain echo, same datagrams', client, client, plainPort, whois, any, t, 100),
  ], ms);
  const whoisCpuText = await whoisCpu();
  report('WHOIS: answered per second, suite 3, known address', [{ ours: w!.m, reference: wRef!.m }]);
  console.log(`  ${us(w!.m.opsPerSec)} per WHOIS (open suite 3, decode, seal OK in suite 3, send); CPU over these rounds: ${whoisCpuText}`);
  const c2 = (await ask(server, { type: 'counters' }, 'counters')).counters;
  console.log(`  root counters: whois_answered ${c2['whois_answered'] ?? 0}, rx_HELLO ${c2['rx_HELLO'] ?? 0}, peers_added ${c2['peers_added'] ?? 0}, drops ${Object.entries(c2).filter(([k]) => k.startsWith('drop_')).map(([k, v]) => `${k}=${v}`).join(' ') || 'none'}`);
  server.kill('SIGKILL');

  // ---- 4. memory per known peer ----
  const mem: MemoryResult[] = [];
  for (const v of ['plain-map', 'peers', 'peers-siv']) mem.push(await oneShot<MemoryResult>(['memory', v], ['--expose-gc']));
  const [ref, peersOnly, peersSiv] = mem as [MemoryResult, MemoryResult, MemoryResult];
  console.log(`\n## memory: bytes per known peer at ${ref.peers / 1000} k peers (after gc; distinct IP string and key per peer)`);
  console.log(`  ${'ours / reference'.padEnd(40)} ${'RSS'.padStart(6)} ${'heap'.padStart(6)} ${'external'.padStart(8)} | RSS vs reference`);
  const row = (name: string, r: MemoryResult): void =>
    console.log(`  ${name.padEnd(40)} ${r.rssPerPeer.toFixed(0).padStart(6)} ${r.heapPerPeer.toFixed(0).padStart(6)} ${r.externalPerPeer.toFixed(0).padStart(8)} | ${(r.rssPerPeer / ref.rssPerPeer).toFixed(2)}×`);
  row('RootPeer in PeerTable, no AES contexts', peersOnly);
  row('RootPeer in PeerTable, answered suite 3', peersSiv);
  row('reference: Map<number, {ip, port}>', ref);
  console.log(
    `  built in ${peersOnly.buildMs.toFixed(0)} / ${peersSiv.buildMs.toFixed(0)} / ${ref.buildMs.toFixed(0)} ms. Keys are random 48-byte keys (no X25519: same memory). ` +
      'Heap: Identity with its 64-byte key (~340 B), PeerKey and its four typed-array views (~550 B), the record, its IP string; ' +
      "suite 3 adds two OpenSSL cipher contexts (~2 KB of RSS). Not included: the validator's result cache (~126 B an entry, root/identity-validator.ts)",
  );
}

// ---- 0. CPU per relayed packet ------------------------------------------------------------------

/** Real identities (root.cpp forgets peers whose identity does not validate), cached in the temp dir. */
const REAL_ID_CACHE = join(tmpdir(), 'ztroot-bench-relay-real-identities.txt');

/** `n` real identities with private keys: from the cache, the rest generated by forked children (one per core). */
async function realIdentityPool(n: number): Promise<Identity[]> {
  const ids: Identity[] = [];
  if (existsSync(REAL_ID_CACHE)) {
    for (const line of readFileSync(REAL_ID_CACHE, 'utf8').split('\n')) {
      if (ids.length >= n || line.trim() === '') continue;
      try {
        const id = Identity.fromString(line.trim());
        if (id.hasPrivate()) ids.push(id);
      } catch {
        // a damaged line: generated again below
      }
    }
  }
  const missing = n - ids.length;
  if (missing > 0) {
    const workers = Math.max(1, cpus().length);
    console.log(`  (generating ${missing} real identities for root.cpp in ${workers} processes — ~0.5 s each per core; cached in ${REAL_ID_CACHE})`);
    const parts = await Promise.all(
      Array.from({ length: workers }, () => oneShot<string[]>(['identities', String(Math.ceil(missing / workers))], [], 4 * 3_600_000)),
    );
    for (const line of parts.flat()) if (ids.length < n) ids.push(Identity.fromString(line));
    writeFileSync(REAL_ID_CACHE, ids.map((i) => i.toString(true)).join('\n') + '\n', { mode: 0o600 });
  }
  return ids;
}

async function startRootCppOrSkip(load: Load, dir: string, ms: number, forwarders: Forwarder[], skipped: string[]): Promise<Uint8Array[] | null> {
  const bin = process.env.ZT_ROOT_BIN;
  if (bin === undefined || bin === '') {
    skipped.push("ZeroTier's root.cpp: skipped: ZT_ROOT_BIN is not set (a zerotier-root binary built from the root branch)");
    return null;
  }
  if (!existsSync(bin)) {
    skipped.push(`ZeroTier's root.cpp: skipped: ZT_ROOT_BIN=${bin} does not exist`);
    return null;
  }
  try {
    const real = await realIdentityPool(1000);
    const rootId = Identity.generate();
    const pairs: Array<[number, number]> = [];
    for (let i = 0; i < real.length; i++) pairs.push([i, (i + 1 + Math.floor(Math.random() * (real.length - 1))) % real.length]);
    const pkts = relayPackets(100, real.map((i) => i.address), pairs);
    const f = await startRootCpp(bin, dir, rootId.toString(true), (port) => real.map((id) => helloPacket(id, rootId, port)), load, children);
    forwarders.push(f);
    void ms;
    return pkts;
  } catch (e) {
    skipped.push(`ZeroTier's root.cpp: skipped: ${(e as Error).message}`);
    return null;
  }
}

async function cpuPerPacket(addrs: number[], ms: number): Promise<void> {
  const windowMs = Math.max(1500, ms);
  const pairs: Array<[number, number]> = [];
  for (let i = 0; i < 1000; i++) pairs.push([i, (i + 1 + Math.floor(Math.random() * 999)) % 1000]); // 1,000 pairs, never to itself
  const pkts = relayPackets(100, addrs, pairs);
  const load = await Load.open(() => spawnChild(['sink']));
  const tmp = tempDir();
  const forwarders: Forwarder[] = [];
  const skipped: string[] = [];
  try {
    const init = { type: 'init' as const, rootSecret: Identity.generate().toString(true), sinkPort: load.sinkPort, relayPeers: addrs };
    if ('addon' in loadUdpAddon()) {
      const batched = spawnChild(['server'], [], { ...process.env, ZTROOT_UDP: 'batched' });
      const r = await ask(batched, init, 'ready');
      forwarders.push({ name: 'ours, batched (native/udp)', pid: batched.pid!, port: r.rootPort });
    } else skipped.push(`ours, batched: skipped: ${(loadUdpAddon() as { why: string }).why}`);
    const fallback = spawnChild(['server'], [], { ...process.env, ZTROOT_UDP: 'dgram' });
    const r = await ask(fallback, init, 'ready');
    forwarders.push({ name: 'ours, node:dgram fallback', pid: fallback.pid!, port: r.rootPort });
    forwarders.push({ name: 'plain node:dgram forwarder', pid: fallback.pid!, port: r.plainPort });
    const c = compileForwarder(tmp.dir);
    if ('bin' in c) forwarders.push(await startCForwarder(c.bin, tmp.dir, load.sinkPort, addrs, children));
    else skipped.push(`C recvmmsg forwarder: skipped: ${c.why}`);
    const rootCppPkts = await startRootCppOrSkip(load, tmp.dir, ms, forwarders, skipped);

    const rows: CpuRow[] = [];
    for (const [serverCpus, loadCpus, label] of [['0', '1', 'pinned: core 0 (load: core 1)'], ['0,1', '0,1', 'two cores (load shares them)']] as const) {
      const pinned = forwarders.every((f) => pin(f.pid, serverCpus)) && pin(process.pid, loadCpus) && pin(load.sinkPid, loadCpus);
      for (const f of forwarders) rows.push(await measureForwarder(load, f, f.name.includes('root.cpp') ? rootCppPkts! : pkts, pinned ? label : `${label}: taskset failed, unpinned`, windowMs));
    }
    pin(process.pid, `0-${cpus().length - 1}`);
    printCpuRows(rows, skipped, load.kind);
  } finally {
    load.close();
    killChildren();
    tmp.remove();
  }
}
