/**
 * `ztroot bench memory`: memory per peer of a root holding 100 k and 1 M peers, the peer table as it is beside
 * the table as it was before issue 15, the bound of every per-peer cache, and the relay step's cost at that size.
 * Each figure comes from its own child process (tools/bench/memory-load.ts), so one fill does not inflate another.
 *
 * Goal (issue 15): ≤ 400 B per peer at 1 M peers. Peers get random keys (1 M real identities cannot be generated
 * here) and enter the table the way a validated HELLO does; see memory-load.ts.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { DEFAULT_KEY_CACHE_SIZE } from '../../root/peer-table.js';
import { DEFAULT_RELAY_OPTIONS } from '../../relay/relay.js';
import type { FillResult, KeysResult, RelayResult } from './memory-load.js';

const LOAD_SCRIPT = fileURLToPath(new URL('./memory-load.js', import.meta.url));
const GOAL_BYTES = 400;

function child<T>(args: string[], execArgv: string[]): Promise<T> {
  return new Promise((resolve, reject) => {
    const c: ChildProcess = fork(LOAD_SCRIPT, args, { execArgv, stdio: ['ignore', 'inherit', 'inherit', 'ipc'], serialization: 'advanced' });
    let result: T | undefined;
    c.once('message', (m) => (result = m as T));
    c.once('error', reject);
    c.once('exit', (code, sig) => (result !== undefined ? resolve(result) : reject(new Error(`memory-load ${args.join(' ')} exited (${code ?? sig}) without a result`))));
  });
}

const fmtPeers = (n: number): string => (n >= 1e6 ? `${n / 1e6} M` : `${n / 1e3} k`);

export async function run(): Promise<void> {
  const big = Number(process.env.ZTROOT_BENCH_MEMORY_PEERS ?? 1_000_000);
  const points = [100_000, big];
  const gcArgs = ['--expose-gc', '--max-old-space-size=8192'];

  console.log(`\n## memory: bytes per peer of a started root (after gc; a distinct IPv4 path string and keys per peer)`);
  const after = await child<FillResult>(['fill', 'new', points.join(',')], gcArgs);
  const before = await child<FillResult>(['fill', 'old', points.join(',')], gcArgs);
  const beforeSiv = await child<FillResult>(['fill', 'old-siv', String(points[0])], gcArgs);
  console.log(`  ${'table'.padEnd(52)} ${'peers'.padStart(6)} ${'RSS'.padStart(6)} ${'heap'.padStart(6)} ${'external'.padStart(8)} ${'fill'.padStart(8)}`);
  const row = (name: string, p: FillResult['points'][number]): void =>
    console.log(
      `  ${name.padEnd(52)} ${fmtPeers(p.peers).padStart(6)} ${p.rssPerPeer.toFixed(0).padStart(6)} ${p.heapPerPeer.toFixed(0).padStart(6)} ${p.externalPerPeer.toFixed(0).padStart(8)} ${`${(p.buildMs / 1000).toFixed(1)} s`.padStart(8)}`,
    );
  for (const p of before.points) row('before: an object per peer (Identity, PeerKey)', p);
  for (const p of beforeSiv.points) row('before, answered in suite 3 (AES contexts)', p);
  for (const p of after.points) row(`after: typed-array records (capacity ${fmtPeers(p.capacity ?? 0)} slots)`, p);
  const at1M = after.points[after.points.length - 1]!;
  const perPeer = Math.max(at1M.rssPerPeer, at1M.heapPerPeer + at1M.externalPerPeer);
  console.log(
    `  goal ≤ ${GOAL_BYTES} B per peer at ${fmtPeers(at1M.peers)}: ${perPeer <= GOAL_BYTES ? 'met' : 'NOT met'} (${perPeer.toFixed(0)} B, the larger of RSS and heap + external). ` +
      `Suite 3 no longer costs per peer: AES contexts live only in the key cache below.`,
  );

  const keys = await child<KeysResult>(['keys'], gcArgs);
  const bound = after.keyCache?.bound ?? DEFAULT_KEY_CACHE_SIZE;
  console.log(`\n## bounds of what the root keeps per peer`);
  console.log(`  peer table: fixed-size records, capacity = the most peers held at once rounded up to a power of two (grows by doubling, slots reused)`);
  console.log(
    `  key cache (PeerKey: K0/K1 and AES-GMAC-SIV contexts): ${bound} keys (CLOCK) × ${keys.bytesPerKey.toFixed(0)} B, ${keys.bytesPerKeyWithSiv.toFixed(0)} B with AES contexts = ` +
      `≤ ${((bound * keys.bytesPerKeyWithSiv) / 1e6).toFixed(1)} MB; a miss costs two HMACs (the 48-byte agreed key is in the record)`,
  );
  console.log(`  relay introductions: ${DEFAULT_RELAY_OPTIONS.uniteTableSize} pairs × 16 B = ${((DEFAULT_RELAY_OPTIONS.uniteTableSize * 16) / 1e6).toFixed(1)} MB, fixed (lossy: an evicted pair is introduced again sooner)`);
  console.log(`  path probes: ≤ 6 per peer, held only while outstanding (10 s); TCP tunnel source: one string per open tunnel`);
  console.log(`  per source, not per peer: reply / new-identity / source budgets ≤ 65,536 keys each (RateGate); fleet cache ≤ 100 k addresses per kind`);
  console.log(`  identity validator verdicts ≤ 100 k (cacheSize); multicast ≤ 100 k groups × 4,096 members`);

  console.log(`\n## relay step over the whole table (4,096 packets between random peers; ns per packet, bytes allocated per packet)`);
  const relayArgs = [...gcArgs, '--min-semi-space-size=256', '--max-semi-space-size=256'];
  let rounds = 0;
  for (const n of points) {
    const r = await child<RelayResult>(['relay', String(n)], relayArgs);
    rounds = r.rounds;
    for (const s of r.steps) {
      // A GC during the loop would hide what it freed: then the allocation figure is only a lower bound.
      const gcNote = s.gcs === 0 ? '' : ` (≥: ${s.gcs} GCs ran)`;
      console.log(
        `  ${(s.table === 'old' ? 'before' : 'after').padEnd(6)} ${fmtPeers(n).padStart(6)}  ${s.name.padEnd(56)} ${s.nsPerPacket.toFixed(0).padStart(5)} ns ${s.bytesPerPacket.toFixed(1).padStart(6)} B${gcNote}`,
      );
    }
  }
  console.log(`  best of ${3} rounds per step, both tables in one process, alternating`);
  console.log('  (timing figures are noisy on a shared machine; the relay never allocates per packet on either table)');
}
