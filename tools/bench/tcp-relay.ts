/**
 * TCP fallback relay benchmark, over loopback, figures beside references measured in the same run:
 *
 *   1. concurrent connections held: N clients (default 100 000, ZTROOT_BENCH_TCP_CONNS) open a tunnel
 *      each (hello + one record) and stay; the server's RSS and heap per connection and the time to open
 *      them all — for our TcpTunnelServer and, as the reference, a bare `net.Server` that accepts and reads;
 *   2. relayed datagrams/s through a started root (RootServer with its tunnel listener), closed loop with
 *      a window in flight: UDP → root → UDP (the reference: the existing UDP path), tunnel → root → UDP,
 *      and UDP → root → tunnel, at 100 B and 1400 B.
 *
 * Loopback gives ~28 k ephemeral ports per (source IP, destination) pair, so clients spread over
 * 127.0.0.2 … ; each side needs a file descriptor per connection: as root, children are started through
 * `prlimit` with a limit fitting N, otherwise the process's own limit applies and is reported as what
 * stopped the count. This file is also the children's script (`tcp-relay.js <role> ...`).
 */
import { fork, spawnSync, type ChildProcess } from 'node:child_process';
import dgram from 'node:dgram';
import net from 'node:net';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { Identity } from '../../vl1/identity.js';
import { PeerKey } from '../../vl1/peer-key.js';
import { writeU40 } from '../../vl1/bytes.js';
import { c25519Generate } from '../../vl1/c25519.js';
import { serializeWorld, signWorld } from '../../planet/world.js';
import { decodeTunnelRecord, encodeTunnelHello, encodeTunnelRecord, TunnelRecordReader } from '../../vl1/tcp-framing.js';
import { TcpTunnelServer } from '../../relay/tcp-tunnel-server.js';
import { RootServer } from '../../root/root-server.js';
import { RootPeer } from '../../root/peer-table.js';
import { IdentityValidator } from '../../root/identity-validator.js';
import type { Measurement } from './harness.js';
import { report } from './harness.js';
import { helloPacket } from './relay.js';

const SCRIPT = fileURLToPath(import.meta.url);
const LO = '127.0.0.1';
const HELLO = encodeTunnelHello({ major: 1, minor: 14, revision: 1 });
/** Connects in flight per client. */
const CONNECT_CONCURRENCY = 512;
const WINDOW = 64;

// ---- children -----------------------------------------------------------------------------------------

type HoldReply = { type: 'ready'; port: number } | { type: 'memory'; rss: number; heap: number; connections: number };

/** A server that holds connections: ours (TcpTunnelServer) or the bare reference `net.Server`. */
async function holdServer(kind: string): Promise<void> {
  process.on('disconnect', () => process.exit(0));
  let count = (): number => 0;
  let port = 0;
  if (kind === 'ztroot') {
    const s = new TcpTunnelServer(
      { maxConnections: 10_000_000, maxConnectionsPerIp: 10_000_000, greetingTimeoutMs: 600_000, idleTimeoutMs: 600_000 },
      { onDatagram: () => undefined, onClose: () => undefined },
    );
    await s.listen(LO, 0);
    port = s.port;
    count = () => s.connections;
  } else {
    let n = 0;
    const s = net.createServer((c) => {
      n++;
      c.on('data', () => undefined);
      c.on('error', () => undefined);
      c.on('close', () => n--);
    });
    await new Promise<void>((r) => s.listen({ host: LO, port: 0, backlog: 4096 }, r));
    port = (s.address() as net.AddressInfo).port;
    count = () => n;
  }
  process.on('message', (m: { type: string }) => {
    if (m.type !== 'memory') return;
    (globalThis as { gc?: () => void }).gc?.();
    const mu = process.memoryUsage();
    process.send!({ type: 'memory', rss: mu.rss, heap: mu.heapUsed, connections: count() } satisfies HoldReply);
  });
  process.send!({ type: 'ready', port } satisfies HoldReply);
}

/** This process's descriptor limit (soft = hard here unless raised). */
function fdLimit(): number {
  const n = Number(spawnSync('sh', ['-c', 'ulimit -Hn'], { encoding: 'utf8' }).stdout.trim());
  return Number.isFinite(n) && n > 0 ? n : 1024;
}

/** Opens `n` connections to port, each sending the hello and one record, and keeps them. */
async function holdClient(port: number, n: number): Promise<void> {
  process.on('disconnect', () => process.exit(0));
  const record = encodeTunnelRecord(new Uint8Array(64).fill(1), { family: 4, ip: LO, port: 9993 });
  const socks: net.Socket[] = [];
  let opened = 0;
  let failed = 0;
  let firstError = '';
  let next = 0;
  await new Promise<void>((done) => {
    const one = (): void => {
      if (next >= n) {
        if (opened + failed === n) done();
        return;
      }
      next++;
      // No localAddress: binding the source first makes the kernel search ports for every bind (measured:
      // 10× slower at 8 k); each client talks to its own server port, so its 28 k ports suffice.
      const s = net.connect({ host: LO, port });
      s.on('connect', () => {
        s.write(HELLO);
        s.write(record);
        opened++;
        socks.push(s);
        one();
      });
      s.on('error', (e) => {
        if (firstError === '') firstError = e.message;
        failed++;
        s.destroy();
        one();
      });
    };
    for (let i = 0; i < CONNECT_CONCURRENCY; i++) one();
    if (n === 0) done();
  });
  process.send!({ type: 'opened', opened, failed, firstError });
}

/** The root for the packets/s measurement: tunnel listener on, a UDP sink peer pre-registered. */
async function ppsRoot(rootSecret: string, sinkAddr: number, sinkPort: number): Promise<void> {
  process.on('disconnect', () => process.exit(0));
  const rootId = Identity.fromString(rootSecret);
  const key = c25519Generate();
  const planet = serializeWorld(
    signWorld({ type: 'planet', id: 0x5eed0c0cn, timestamp: Date.now(), updatesMustBeSignedBy: key.publicKey, roots: [{ identity: rootId.publicOnly(), stableEndpoints: [{ family: 4, ip: LO, port: 9993 }] }] }, key),
  );
  const validator = new IdentityValidator({ workers: 1 });
  const root = new RootServer({ port: 0, bind4: LO, bind6: null, repliesPerPeerPerSecond: 1e9, repliesPerIpPerSecond: 1e9 }, { identity: rootId, planet, validator });
  await root.start();
  await root.startTunnel(LO, 0, { maxQueueBytes: 4 << 20 });
  const sink = new RootPeer(Identity.fromString(`${sinkAddr.toString(16).padStart(10, '0')}:0:${'00'.repeat(64)}`), new PeerKey(new Uint8Array(48)));
  sink.heardFrom(4, LO, sinkPort, 0, Date.now());
  root.peers.set(sink);
  process.on('message', (m: { type: string }) => {
    if (m.type === 'counters') process.send!({ type: 'counters', counters: Object.fromEntries(root.counters) });
  });
  process.send!({ type: 'ready', udpPort: root.port, tcpPort: root.tunnel!.port });
}

// ---- parent -------------------------------------------------------------------------------------------

function child(args: string[]): ChildProcess {
  return fork(SCRIPT, args, { execArgv: ['--expose-gc'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
}

function nextMessage<T>(c: ChildProcess, type: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const onMsg = (m: { type: string }) => {
      if (m.type !== type) return;
      c.off('message', onMsg);
      c.off('exit', onExit);
      resolve(m as T);
    };
    const onExit = (code: number | null) => reject(new Error(`child exited (${code}) before '${type}'`));
    c.on('message', onMsg);
    c.once('exit', onExit);
  });
}

interface HoldResult {
  kind: string;
  wanted: number;
  held: number;
  openSec: number;
  rssPerConn: number;
  heapPerConn: number;
  limitedBy: string;
}

async function holdRun(kind: string, n: number, perProcess: number): Promise<HoldResult> {
  const kids: ChildProcess[] = [];
  try {
    const servers: ChildProcess[] = [];
    const ports: number[] = [];
    for (let left = n; left > 0; left -= perProcess) {
      const s = child(['hold-server', kind]);
      kids.push(s);
      servers.push(s);
      ports.push((await nextMessage<{ port: number }>(s, 'ready')).port);
    }
    const weigh = async () => {
      const rs = await Promise.all(
        servers.map((s) => {
          const p = nextMessage<{ rss: number; heap: number; connections: number }>(s, 'memory');
          s.send({ type: 'memory' });
          return p;
        }),
      );
      return { rss: rs.reduce((a, r) => a + r.rss, 0), heap: rs.reduce((a, r) => a + r.heap, 0), connections: rs.reduce((a, r) => a + r.connections, 0) };
    };
    const before = await weigh();
    const t0 = performance.now();
    const clients = ports.map((port, i) => {
      const c = child(['hold-client', String(port), String(Math.min(perProcess, n - i * perProcess))]);
      kids.push(c);
      return nextMessage<{ opened: number; failed: number; firstError: string }>(c, 'opened');
    });
    const results = await Promise.all(clients);
    const openSec = (performance.now() - t0) / 1000;
    const opened = results.reduce((s, r) => s + r.opened, 0);
    // Let the servers read every greeting before weighing them.
    let after = await weigh();
    for (let i = 0; i < 40 && after.connections < opened; i++) {
      await new Promise((r) => setTimeout(r, 250));
      after = await weigh();
    }
    const failed = results.reduce((s, r) => s + r.failed, 0);
    const held = after.connections;
    return {
      kind,
      wanted: n,
      held,
      openSec,
      rssPerConn: (after.rss - before.rss) / Math.max(1, held),
      heapPerConn: (after.heap - before.heap) / Math.max(1, held),
      limitedBy: failed === 0 ? '' : `${failed} connects failed, first: ${results.find((r) => r.failed > 0)!.firstError}`,
    };
  } finally {
    for (const k of kids) k.kill('SIGKILL');
  }
}

/** A datagram of `size` bytes shaped like a ZeroTier packet from `src` to `dst` (hops 0); the relay reads only the header. */
function datagram(size: number, dst: number, src: number, seq: number): Uint8Array {
  const d = new Uint8Array(size).fill(seq & 0xff);
  writeU40(d, 8, dst);
  writeU40(d, 13, src);
  d[18] = 0x18; // suite 3, hops 0
  return d;
}

/** Closed loop: keep WINDOW datagrams in flight (send one per arrival) for `ms`; arrivals per second. */
async function closedLoop(sendOne: () => void, arrivals: { n: number; onArrive: (() => void) | null }, ms: number): Promise<number> {
  arrivals.n = 0;
  arrivals.onArrive = sendOne;
  for (let i = 0; i < WINDOW; i++) sendOne();
  // Re-prime when nothing arrived for 50 ms: a datagram lost on loopback must not shrink the window for good.
  await new Promise((r) => setTimeout(r, Math.min(200, ms / 5)));
  const n0 = arrivals.n;
  const t0 = performance.now();
  const deadline = t0 + ms;
  while (performance.now() < deadline) {
    const before = arrivals.n;
    await new Promise((r) => setTimeout(r, 50));
    if (arrivals.n === before) for (let i = 0; i < WINDOW; i++) sendOne();
  }
  const rate = ((arrivals.n - n0) * 1000) / (performance.now() - t0);
  arrivals.onArrive = null;
  await new Promise((r) => setTimeout(r, 100)); // drain
  return rate;
}

async function ppsRun(ms: number): Promise<Array<{ ours: Measurement; reference: Measurement }>> {
  const rootId = Identity.generate();
  const tunnelId = Identity.generate();
  const sinkAddr = 0x0a00000001;
  const sink = dgram.createSocket({ type: 'udp4', recvBufferSize: 4 << 20 });
  await new Promise<void>((r) => sink.bind(0, LO, r));
  const sender = dgram.createSocket({ type: 'udp4', sendBufferSize: 4 << 20 });
  await new Promise<void>((r) => sender.bind(0, LO, r));
  const rootChild = child(['pps-root', rootId.toString(true), String(sinkAddr), String(sink.address().port)]);
  try {
    const ports = await nextMessage<{ udpPort: number; tcpPort: number }>(rootChild, 'ready');
    const atSink = { n: 0, onArrive: null as (() => void) | null };
    sink.on('message', () => {
      atSink.n++;
      atSink.onArrive?.();
    });
    // The tunnel client: HELLO through the tunnel makes it a peer of the root with a tunnel path.
    const tunnel = net.connect({ host: LO, port: ports.tcpPort, noDelay: true });
    await once(tunnel, 'connect');
    const atTunnel = { n: 0, onArrive: null as (() => void) | null };
    const reader = new TunnelRecordReader();
    let helloAnswered = false;
    tunnel.on('data', (c: Buffer) => {
      reader.push(c);
      for (let b = reader.next(); b !== null; b = reader.next()) {
        const r = decodeTunnelRecord(b);
        if (r.kind !== 'datagram') continue;
        if (!helloAnswered) {
          helloAnswered = true;
          continue;
        }
        atTunnel.n++;
        atTunnel.onArrive?.();
      }
    });
    tunnel.write(HELLO);
    const rootEp = { family: 4 as const, ip: LO, port: ports.udpPort };
    tunnel.write(encodeTunnelRecord(helloPacket(tunnelId, rootId, ports.udpPort), rootEp));
    for (let i = 0; i < 200 && !helloAnswered; i++) await new Promise((r) => setTimeout(r, 25));
    if (!helloAnswered) throw new Error('the root did not answer the tunnel HELLO');

    const rows: Array<{ ours: Measurement; reference: Measurement }> = [];
    for (const size of [100, 1400]) {
      // From the tunnel's own address: a tunnel carries only its client's packets.
      const toSink = datagram(size, sinkAddr, tunnelId.address, size);
      const toTunnel = datagram(size, tunnelId.address, 0x0b00000002, size);
      const framedToSink = encodeTunnelRecord(toSink, rootEp);
      const fromUdp = datagram(size, sinkAddr, 0x0b00000001, size);
      const udp = await closedLoop(() => sender.send(fromUdp, ports.udpPort, LO), atSink, ms);
      const tcpIn = await closedLoop(() => tunnel.write(framedToSink), atSink, ms);
      const tcpOut = await closedLoop(() => sender.send(toTunnel, ports.udpPort, LO), atTunnel, ms);
      const ref: Measurement = { name: `UDP → root → UDP ${size} B`, opsPerSec: udp, bytesPerOp: size };
      rows.push({ ours: { name: `tunnel → root → UDP ${size} B`, opsPerSec: tcpIn, bytesPerOp: size }, reference: ref });
      rows.push({ ours: { name: `UDP → root → tunnel ${size} B`, opsPerSec: tcpOut, bytesPerOp: size }, reference: ref });
    }
    tunnel.destroy();
    return rows;
  } finally {
    rootChild.kill('SIGKILL');
    sink.close();
    sender.close();
  }
}

export async function run(): Promise<void> {
  const ms = Number(process.env.ZTROOT_BENCH_MS ?? 1000);
  const n = Number(process.env.ZTROOT_BENCH_TCP_CONNS ?? 100_000);
  report('TCP relay: relayed datagrams/s through a started root (closed loop, window 64; reference: the UDP path, same run)', await ppsRun(ms));

  // Each connection is a descriptor on each side; one process gets at most its hard limit (20 000 in this
  // container, which lacks CAP_SYS_RESOURCE to raise it), so the connections are spread over several
  // server processes (as one would run a relay per core) and as many client processes.
  const limit = fdLimit();
  const perProcess = Math.min(25_000, limit - 512);
  const servers = Math.ceil(n / perProcess);
  console.log(`\n## TCP relay: ${n.toLocaleString('en')} concurrent connections held (hello + one record each, over loopback)`);
  console.log(
    `descriptor hard limit per process: ${limit} (this container cannot raise it: no CAP_SYS_RESOURCE) — so ${servers} server process${servers > 1 ? 'es' : ''} of ≤ ${perProcess.toLocaleString('en')} connections each, on ports of their own, and a client process for each`,
  );
  console.log(`${'server'.padEnd(22)} ${'held'.padStart(9)} ${'open time'.padStart(10)} ${'RSS/conn'.padStart(10)} ${'heap/conn'.padStart(10)}  limited by`);
  for (const kind of ['ztroot', 'plain']) {
    const r = await holdRun(kind, n, perProcess);
    const name = kind === 'ztroot' ? 'TcpTunnelServer' : 'net.Server (reference)';
    console.log(
      `${name.padEnd(22)} ${r.held.toLocaleString('en').padStart(9)} ${`${r.openSec.toFixed(1)} s`.padStart(10)} ${`${(r.rssPerConn / 1024).toFixed(2)} KiB`.padStart(10)} ${`${(r.heapPerConn / 1024).toFixed(2)} KiB`.padStart(10)}  ${r.held >= r.wanted ? '—' : r.limitedBy || 'the server saw fewer than were opened'}`,
    );
  }
}

// ---- entry as a child ---------------------------------------------------------------------------------

const [role, ...args] = process.argv.slice(2);
if (process.argv[1] === SCRIPT && role !== undefined) {
  const job =
    role === 'hold-server'
      ? holdServer(args[0]!)
      : role === 'hold-client'
        ? holdClient(Number(args[0]), Number(args[1]))
        : role === 'pps-root'
          ? ppsRoot(args[0]!, Number(args[1]), Number(args[2]))
          : Promise.reject(new Error(`unknown role ${role}`));
  job.catch((e: unknown) => {
    console.error(`tcp-relay bench child ${role}:`, e);
    process.exit(1);
  });
}
