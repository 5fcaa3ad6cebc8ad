/**
 * `ztroot bench fleet`: what the fleet store costs.
 *  1. The relay step of a started root (RootServer.onDatagram, socket send stubbed) with a Redis-backed
 *     fleet beside the same root with the in-memory store: the relay path never touches the store, so the
 *     two must match.
 *  2. WHOIS misses resolved per second through the store (the cache's look-up path, cold cache, 256 in
 *     flight), Redis beside the in-memory store.
 * Needs `redis-server` on PATH (Debian package redis-server); it starts its own on a free loopback port.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import net from 'node:net';
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { Identity } from '../../vl1/identity.js';
import { PeerKey } from '../../vl1/peer-key.js';
import { c25519Generate } from '../../vl1/c25519.js';
import { IDX_FLAGS } from '../../vl1/constants.js';
import { armor, buildPacket } from '../../vl1/packet.js';
import type { InetAddress } from '../../vl1/inet-address.js';
import { serializeWorld, signWorld } from '../../planet/world.js';
import { RootServer } from '../../root/root-server.js';
import { RootPeer } from '../../root/peer-table.js';
import { MemoryPeerStore } from '../../fleet/memory-store.js';
import { RedisPeerStore } from '../../fleet/redis-store.js';
import { PeerStoreCache } from '../../fleet/cached-store.js';
import type { PeerStore } from '../../fleet/peer-store.js';
import { measure, report, type Measurement } from './harness.js';
import { fakeIdentity, randomAddress } from './relay.js';

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const p = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(p));
    });
  });
}

async function startRedis(): Promise<{ url: string; stop: () => void } | null> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'ztroot-bench-redis-'));
  const p = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir], { stdio: 'ignore' });
  const failed = await new Promise<boolean>((resolve) => {
    p.once('error', () => resolve(true));
    setTimeout(() => resolve(false), 300);
  });
  if (failed) return null;
  const stop = () => void p.kill('SIGKILL');
  process.once('exit', stop);
  return { url: `redis://127.0.0.1:${port}`, stop };
}

/** A started root with 1000 peers and `store` as its fleet; `step()` measures its relay step once. */
async function relayRoot(label: string, store: PeerStore): Promise<{ step: () => Measurement; stop: () => Promise<void> }> {
  const k = c25519Generate();
  const rootId = Identity.fromString(`${(0x1122334455).toString(16)}:0:${Buffer.from(k.publicKey).toString('hex')}:${Buffer.from(k.privateKey).toString('hex')}`);
  const pk = c25519Generate();
  const planet = serializeWorld(
    signWorld({ type: 'planet', id: 0xbe7cn, timestamp: Date.now(), updatesMustBeSignedBy: pk.publicKey, roots: [{ identity: rootId.publicOnly(), stableEndpoints: [{ family: 4, ip: '127.0.0.1', port: 9993 }] }] }, pk),
  );
  const endpoints: InetAddress[] = [{ family: 4, ip: '127.0.0.1', port: 9993 }];
  const server = new RootServer(
    { port: 0, bind4: '127.0.0.1', bind6: null },
    { identity: rootId, planet, validator: { validate: async () => true }, fleet: { store, cache: new PeerStoreCache(store), rootId: label, endpoints } },
  );
  await server.start();
  const key = new PeerKey(new Uint8Array(randomBytes(48)));
  const addrs: number[] = [];
  while (addrs.length < 1000) {
    const a = randomAddress();
    if (server.peers.get(a) !== undefined) continue;
    const p = new RootPeer(fakeIdentity(a), key);
    p.heardFrom(4, '127.0.0.1', 9, 0, Date.now());
    server.peers.set(p);
    addrs.push(a);
  }
  const sock = (server as unknown as { sockets: Array<{ sock: { send: (...a: unknown[]) => void } }> }).sockets[0]!.sock;
  let sent = 0;
  sock.send = () => void sent++;
  const pkts: Uint8Array[] = [];
  for (let i = 0; i < 1024; i++) {
    const pkt = buildPacket({ dest: addrs[(i * 7 + 1) % 1000]!, source: addrs[i % 1000]!, verb: 6, payload: new Uint8Array(72) });
    armor(pkt, key, 3);
    pkt[IDX_FLAGS] = (pkt[IDX_FLAGS]! & 0xf8) | 1; // hop 1: the steady state, past the introduction
    pkts.push(pkt);
  }
  let i = 0;
  const step = () =>
    measure(`relay step, ${label} fleet store`, () => {
      for (let n = 0; n < 1024; n++) {
        const b = pkts[i++ & 1023]!;
        b[IDX_FLAGS] = (b[IDX_FLAGS]! & 0xf8) | 1;
        server.onDatagram(b, 0, '127.0.0.1', 9);
      }
    }, { batch: 1024, bytesPerOp: 100 });
  return {
    step,
    stop: async () => {
      await server.stop();
      if (sent < 0) console.log(sent);
    },
  };
}

/** Best of `rounds` interleaved measurements of each (order and GC state would otherwise bias the pair). */
function bestOf(rounds: number, a: () => Measurement, b: () => Measurement): [Measurement, Measurement] {
  let ba: Measurement | undefined;
  let bb: Measurement | undefined;
  for (let r = 0; r < rounds; r++) {
    const x = a();
    const y = b();
    if (ba === undefined || x.opsPerSec > ba.opsPerSec) ba = x;
    if (bb === undefined || y.opsPerSec > bb.opsPerSec) bb = y;
  }
  return [ba!, bb!];
}

/** WHOIS misses: distinct known addresses looked up through a cold cache, 256 in flight. */
async function whoisMisses(label: string, store: PeerStore, n: number): Promise<Measurement> {
  const ids: Identity[] = [];
  for (let i = 0; i < n; i++) ids.push(fakeIdentity(randomAddress()));
  await Promise.all(ids.map((id) => store.putIdentity(id)));
  const cache = new PeerStoreCache(store, { maxInflight: 256 });
  const t0 = performance.now();
  let next = 0;
  let found = 0;
  await Promise.all(
    Array.from({ length: 256 }, async () => {
      while (next < ids.length) {
        const id = ids[next++]!;
        if ((await cache.lookupIdentity(id.address)) !== undefined) found++;
      }
    }),
  );
  const secs = (performance.now() - t0) / 1000;
  if (found !== n) console.log(`  (${label}: ${n - found} of ${n} look-ups found nothing)`);
  return { name: `WHOIS miss resolved, ${label} store`, opsPerSec: n / secs };
}

export async function run(): Promise<void> {
  const redis = await startRedis();
  if (redis === null) {
    console.log('\n## fleet: skipped — no redis-server on PATH (Debian package redis-server)');
    return;
  }
  const mem = new MemoryPeerStore();
  const red = new RedisPeerStore({ url: redis.url, fleet: 'bench' });
  try {
    await red.whenHealthy(5000);
    const rm = await relayRoot('in-memory', mem);
    const rr = await relayRoot('Redis', red);
    const [withRedis, withMemory] = bestOf(3, rr.step, rm.step);
    await rm.stop();
    await rr.stop();
    report('fleet: relay step of a started root (1000 peers, socket send stubbed; best of 3 interleaved) — the relay never touches the store', [
      { ours: withRedis, reference: withMemory },
    ]);
    const n = 20_000;
    const wm = await whoisMisses('in-memory', mem, n);
    const wr = await whoisMisses('Redis', red, n);
    report(`fleet: WHOIS misses resolved through the store (${n} distinct addresses, cold cache, 256 in flight)`, [{ ours: wr, reference: wm }]);
    console.log('  limit for Redis: one round trip per look-up over loopback, Redis and this process sharing the 2 cores');
  } finally {
    await red.close();
    await mem.close();
    redis.stop();
  }
}
