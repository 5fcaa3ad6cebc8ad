/**
 * `ztroot bench admission` (issue 15): how fast a real root process (`ztroot start`, one validation worker,
 * real UDP on loopback) admits identities, each figure beside its goal and a reference measured in the same run:
 *
 *   1. the memory-hard hash on one core: native (native/hash) vs the pure-JS reference, and scrypt (2 MiB, C);
 *   2. newcomers: HELLOs from valid identities the root has never seen → OK(HELLO); answered and validated per
 *      second per core, native hash vs the same root forced to pure JS (ZTROOT_IDENTITY_HASH=js: the "before");
 *   3. re-admission: that root restarted, the same identities HELLO again — admitted from its state directory
 *      (goal ≥ 3,000/s; before this change every one was re-validated, i.e. the pure-JS newcomer rate);
 *   4. restart at N peers (default 100,000; goal: all OK(HELLO) within 30 s of the restart). Generating 100 k
 *      *valid* identities costs ~1.5 M hashes (~1–2 h on this 2-core machine even natively), so the state
 *      directory is given N synthetic identities' tags, exactly as a first run that validated them would have
 *      left it (a restart never re-checks what its own state file remembers, valid or not — that is the point);
 *      step 3 runs the same path with real, validated identities at the cached count.
 *
 * Clients: one UDP socket per 8 identities, each on its own 127.x.y.1 so that every socket is a different /24
 * (the root's new-identity gate allows a burst of 10 per /24, as it would for clients spread over the
 * internet). HELLOs are built ahead of time (keys agreed through the root's own secret, which the bench made),
 * sent with a bounded number outstanding and re-sent when unanswered, as clients do.
 *
 * Valid identities are generated once (native hash, one worker thread per core) and cached in
 * `$TMPDIR/ztroot-bench-admission/`. Environment: ZTROOT_BENCH_ADMISSION_NEWCOMERS (default 1000),
 * ZTROOT_BENCH_ADMISSION_RESTART_N (default 100000), ZTROOT_BENCH_MS (hash measurements, default 1000),
 * ZTROOT_BENCH_ADMISSION_PROFILE=<dir> (V8 CPU profiles of the root processes, written when each stops).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import dgram from 'node:dgram';
import { once } from 'node:events';
import { randomBytes, scryptSync } from 'node:crypto';
import { appendFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { crc32 } from 'node:zlib';
import { Identity } from '../../vl1/identity.js';
import { isReservedAddress } from '../../vl1/address.js';
import { PeerKey } from '../../vl1/peer-key.js';
import { buildHelloPacket } from '../../vl1/hello-packet.js';
import { openPacket, packetDest } from '../../vl1/packet.js';
import { Verb } from '../../vl1/constants.js';
import { decodeOk } from '../../vl1/verbs/ok.js';
import { allocMemoryHardScratch, memoryHardHash } from '../../vl1/identity-hash.js';
import { parseWorld } from '../../planet/world.js';
import { memoryHardHasher, nativeMemoryHardHash } from '../../root/identity-validator-hash.js';
import { FILE_MAGIC, HEADER_LENGTH, RECORD_LENGTH, VALIDATED_IDENTITIES_FILE, validatedIdentityTag } from '../../root/validated-identities.js';
import { freePort } from '../../test/redis.js';
import { measure, type Measurement } from './harness.js';

const CACHE_DIR = join(tmpdir(), 'ztroot-bench-admission');
const VALID_FILE = join(CACHE_DIR, 'valid-identities.txt');
const CLI = fileURLToPath(new URL('../cli.js', import.meta.url));
const PEERS_PER_SOCKET = 8;

// ---- identities ------------------------------------------------------------------------------------------

/** `n` valid identities (with secrets), from the cache, generating the missing ones on every core. */
async function validIdentities(n: number): Promise<Identity[]> {
  mkdirSync(CACHE_DIR, { recursive: true });
  const have = existsSync(VALID_FILE) ? readFileSync(VALID_FILE, 'utf8').split('\n').filter((l) => l.length > 0) : [];
  if (have.length < n) {
    const missing = n - have.length;
    const workers = Math.max(1, availableParallelism());
    const hash = memoryHardHasher();
    console.log(`  generating ${missing} valid identities (${hash.name} hash, ${workers} threads; cached in ${VALID_FILE}) ...`);
    const t0 = performance.now();
    let done = 0;
    await Promise.all(
      Array.from({ length: workers }, (_, w) => {
        const count = Math.floor(missing / workers) + (w < missing % workers ? 1 : 0);
        if (count === 0) return Promise.resolve();
        const worker = new Worker(new URL(import.meta.url), { workerData: { role: 'generate', count } });
        worker.on('message', (s: string) => {
          appendFileSync(VALID_FILE, `${s}\n`);
          have.push(s);
          if (++done % 200 === 0) console.log(`    ${done}/${missing} (${(done / ((performance.now() - t0) / 1000)).toFixed(1)}/s)`);
        });
        return once(worker, 'exit');
      }),
    );
    const s = (performance.now() - t0) / 1000;
    console.log(`  generated ${missing} in ${s.toFixed(1)} s: ${(missing / s).toFixed(1)} identities/s on ${workers} threads`);
  }
  return have.slice(0, n).map((l) => Identity.fromString(l));
}

if (!isMainThread && (workerData as { role?: string } | null)?.role === 'generate') {
  const { hash } = memoryHardHasher();
  for (let i = 0; i < (workerData as { count: number }).count; i++) parentPort!.postMessage(Identity.generate(hash).toString(true));
}

/** `n` identities with random keys and distinct, non-reserved addresses: never validated by anyone. */
function syntheticIdentities(n: number): Identity[] {
  const seen = new Set<number>();
  const out: Identity[] = [];
  while (out.length < n) {
    const b = new Uint8Array(71);
    b.set(randomBytes(69), 0);
    b[5] = 0; // type C25519
    b[70] = 0; // no private key
    const address = b[0]! * 2 ** 32 + ((b[1]! << 24) >>> 0) + ((b[2]! << 16) | (b[3]! << 8) | b[4]!);
    if (isReservedAddress(address) || seen.has(address)) continue;
    seen.add(address);
    out.push(Identity.fromBinary(b));
  }
  return out;
}

// ---- the root process ---------------------------------------------------------------------------------------

interface RootProc {
  child: ChildProcess;
  lines: Array<Record<string, unknown>>;
  /** Milliseconds from spawn until it logged 'root started'. */
  startMs: number;
  spawnedAt: number;
}

async function freeUdpPort(): Promise<number> {
  const s = dgram.createSocket('udp4');
  s.bind(0, '127.0.0.1');
  await once(s, 'listening');
  const p = s.address().port;
  s.close();
  return p;
}

async function startRoot(stateDir: string, port: number, httpPort: number, env: NodeJS.ProcessEnv = {}): Promise<RootProc> {
  const spawnedAt = performance.now();
  // ZTROOT_BENCH_ADMISSION_PROFILE=<dir>: each root process writes a V8 CPU profile there when it stops.
  const prof = process.env.ZTROOT_BENCH_ADMISSION_PROFILE;
  const child = spawn(
    process.execPath,
    [...(prof ? ['--cpu-prof', `--cpu-prof-dir=${prof}`] : []), CLI, 'start', '--state-dir', stateDir, '--port', String(port), '--bind4', '127.0.0.1', '--bind6', 'none', '--http', `127.0.0.1:${httpPort}`, '--endpoint', `192.0.2.1/${port}`, '--validation-workers', '1', '--serve-planet-ports', 'false'],
    { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } },
  );
  const lines: Array<Record<string, unknown>> = [];
  let buf = '';
  let err = '';
  child.stdout!.on('data', (d: Buffer) => {
    buf += d.toString();
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      try {
        lines.push(JSON.parse(buf.slice(0, nl)) as Record<string, unknown>);
      } catch {
        /* not a log line */
      }
      buf = buf.slice(nl + 1);
    }
  });
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const deadline = Date.now() + 60_000;
  while (!lines.some((l) => l.msg === 'root started')) {
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`the root did not start: ${err.slice(-2000)}`);
    await new Promise((r) => setTimeout(r, 5));
  }
  return { child, lines, startMs: performance.now() - spawnedAt, spawnedAt };
}

async function stopRoot(r: RootProc): Promise<void> {
  if (r.child.exitCode !== null) return;
  r.child.kill('SIGTERM');
  await once(r.child, 'exit');
}

/** CPU seconds (user + system) the process has used, all its threads (Linux /proc). */
function cpuSeconds(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const rest = f.slice(f.lastIndexOf(')') + 2).split(' ');
  return (Number(rest[11]) + Number(rest[12])) / 100; // utime, stime in clock ticks (USER_HZ 100)
}

async function validations(httpPort: number): Promise<Record<string, number>> {
  const text = await (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text();
  const out: Record<string, number> = {};
  for (const m of text.matchAll(/^ztroot_identity_validations_total\{result="(\w+)"\} (\d+)$/gm)) out[m[1]!] = Number(m[2]);
  return out;
}

/** A state directory with the root's identity and planet (a first start, stopped), and that root's identity. */
async function prepareState(port: number, httpPort: number): Promise<{ dir: string; root: Identity }> {
  const dir = mkdtempSync(join(tmpdir(), 'ztroot-bench-admission-root-'));
  const r = await startRoot(dir, port, httpPort);
  await stopRoot(r);
  return { dir, root: Identity.fromString(readFileSync(join(dir, 'identity.secret'), 'utf8').trim()) };
}

// ---- the clients ------------------------------------------------------------------------------------------

interface StormResult {
  /** First HELLO sent → last OK(HELLO) received. */
  ms: number;
  answered: number;
  resent: number;
  /** Time of the last OK(HELLO) (performance.now()). */
  lastOkAt: number;
}

/** HELLOs built ahead of time: keys agreed with the root's secret (the bench made that root). */
function prepareHellos(root: Identity, stateDir: string, port: number, peers: Identity[]): Array<{ id: Identity; key: PeerKey; hello: Uint8Array }> {
  const planet = parseWorld(new Uint8Array(readFileSync(join(stateDir, 'planet'))));
  return peers.map((id) => {
    const key = new PeerKey(root.agree(id));
    const hello = buildHelloPacket({ from: id, to: root, key, physicalDestination: { family: 4, ip: '127.0.0.1', port }, planet: { id: planet.id, timestamp: planet.timestamp } });
    return { id, key, hello };
  });
}

/** Every peer HELLOs (at most `window` unanswered at once, re-sent after `resendMs`) until each has its OK(HELLO). */
async function helloStorm(port: number, prepared: Array<{ id: Identity; key: PeerKey; hello: Uint8Array }>, window: number, resendMs: number, giveUpMs: number): Promise<StormResult> {
  const n = prepared.length;
  const socks: dgram.Socket[] = [];
  for (let g = 0; g * PEERS_PER_SOCKET < n; g++) {
    const s = dgram.createSocket('udp4');
    s.bind(0, `127.${1 + (g >> 8)}.${g & 255}.1`);
    socks.push(s);
  }
  await Promise.all(socks.map((s) => once(s, 'listening')));
  const byAddress = new Map<number, number>();
  prepared.forEach((p, i) => byAddress.set(p.id.address, i));
  const sentAt = new Float64Array(n); // 0: not sent; −1: answered
  let answered = 0;
  let resent = 0;
  let next = 0;
  let lastOkAt = 0;
  let outstanding = 0;
  const send = (i: number): void => {
    sentAt[i] = performance.now();
    socks[Math.floor(i / PEERS_PER_SOCKET)]!.send(prepared[i]!.hello, port, '127.0.0.1');
  };
  const fill = (): void => {
    while (outstanding < window && next < n) {
      outstanding++;
      send(next++);
    }
  };
  let finish: () => void = () => {};
  const done = new Promise<void>((r) => (finish = r));
  const onMessage = (m: Buffer): void => {
    const i = byAddress.get(packetDest(m));
    if (i === undefined || sentAt[i] === -1) return;
    try {
      const opened = openPacket(new Uint8Array(m), prepared[i]!.key);
      if (opened.verb !== Verb.OK || decodeOk(opened.payload).kind !== 'HELLO') return;
    } catch {
      return;
    }
    sentAt[i] = -1;
    answered++;
    outstanding--;
    lastOkAt = performance.now();
    if (answered === n) finish();
    else fill();
  };
  for (const s of socks) s.on('message', onMessage);
  const t0 = performance.now();
  const retry = setInterval(() => {
    const now = performance.now();
    for (let i = 0; i < next; i++) {
      if (sentAt[i]! > 0 && now - sentAt[i]! > resendMs) {
        resent++;
        send(i);
      }
    }
  }, Math.min(250, resendMs / 2));
  const timer = setTimeout(finish, giveUpMs);
  fill();
  await done;
  clearInterval(retry);
  clearTimeout(timer);
  for (const s of socks) s.close();
  return { ms: (answered === n ? lastOkAt : performance.now()) - t0, answered, resent, lastOkAt };
}

/** The state file a first run that validated `peers` would have left (root/validated-identities.ts format). */
function writeRemembered(stateDir: string, peers: Identity[]): void {
  const buf = Buffer.alloc(HEADER_LENGTH + peers.length * RECORD_LENGTH);
  buf.write(FILE_MAGIC, 0, 'latin1');
  peers.forEach((p, i) => {
    const t = validatedIdentityTag(p);
    const o = HEADER_LENGTH + i * RECORD_LENGTH;
    buf.set(t, o);
    buf.writeUInt32BE(crc32(t), o + 16);
  });
  writeFileSync(join(stateDir, VALIDATED_IDENTITIES_FILE), buf, { mode: 0o600 });
}

// ---- the report -------------------------------------------------------------------------------------------

const fmt = (x: number, digits = 0): string => x.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });

function line(figure: string, value: string, goal: string, reference: string): void {
  console.log(`  ${figure.padEnd(44)} ${value.padStart(16)}   goal ${goal.padEnd(10)} | ${reference}`);
}

export async function run(): Promise<void> {
  const ms = Number(process.env.ZTROOT_BENCH_MS ?? 1000);
  const newcomers = Number(process.env.ZTROOT_BENCH_ADMISSION_NEWCOMERS ?? 1000);
  const restartN = Number(process.env.ZTROOT_BENCH_ADMISSION_RESTART_N ?? 100_000);
  const hasher = memoryHardHasher();
  console.log(`\n## admission: a real root process (ztroot start, 1 validation worker), HELLOs over loopback UDP`);
  console.log(`  identity hash: ${hasher.name}${hasher.fallbackReason ? ` (${hasher.fallbackReason})` : ''}; machine: ${availableParallelism()} cores, shared — figures are noisy when others load it`);

  // 1. The hash on one core.
  const pub = randomBytes(64);
  const scratch = allocMemoryHardScratch();
  const js = measure('memory-hard hash, pure JS', () => memoryHardHash(pub, scratch), { ms });
  const fast: Measurement = hasher.name === 'js' ? js : measure(`memory-hard hash, ${hasher.name}`, () => nativeMemoryHardHash(pub, scratch), { ms });
  const scrypt = measure('scrypt 2 MiB (C)', () => scryptSync(pub, 'salt', 64, { N: 2048, r: 8, p: 1, maxmem: 64 << 20 }), { ms });
  console.log('\n  figure                                                  value   goal        | reference (same run)');
  line(`hash/s on one core (${hasher.name})`, fmt(fast.opsPerSec, 1), '≥ 100/s', `pure JS ${fmt(js.opsPerSec, 1)}/s; scrypt 2 MiB ${fmt(scrypt.opsPerSec, 1)}/s`);

  const port = await freeUdpPort();
  const httpPort = await freePort();
  const dirs: string[] = [];
  try {
    // 2. Newcomers, native and pure JS; 3. re-admission after a restart.
    const valid = await validIdentities(newcomers);
    const { dir, root } = await prepareState(port, httpPort);
    dirs.push(dir);
    const hellos = prepareHellos(root, dir, port, valid);

    let r = await startRoot(dir, port, httpPort);
    let cpu0 = cpuSeconds(r.child.pid!);
    const fresh = await helloStorm(port, hellos, 64, 3000, 300_000);
    let cpu = cpuSeconds(r.child.pid!) - cpu0;
    const v1 = await validations(httpPort);
    await stopRoot(r);
    const newcomerRate = (fresh.answered / fresh.ms) * 1000;

    const jsN = Math.min(newcomers, 150);
    const { dir: jsDir, root: jsRoot } = await prepareState(port, httpPort);
    dirs.push(jsDir);
    const jsRootProc = await startRoot(jsDir, port, httpPort, { ZTROOT_IDENTITY_HASH: 'js' });
    const jsStorm = await helloStorm(port, prepareHellos(jsRoot, jsDir, port, valid.slice(0, jsN)), 64, 5000, 300_000);
    await stopRoot(jsRootProc);
    const jsRate = (jsStorm.answered / jsStorm.ms) * 1000;

    line(`newcomers answered (OK(HELLO))/s, ${fresh.answered}/${valid.length}`, fmt(newcomerRate, 1), '—', `pure-JS root: ${fmt(jsRate, 1)}/s (${jsStorm.answered}/${jsN})`);
    line('newcomers validated/s per core (1 worker)', fmt(((v1.valid ?? 0) / fresh.ms) * 1000, 1), '≥ 100/s', `pure JS ${fmt(jsRate, 1)}/s; root CPU ${fmt(cpu, 1)} s for ${v1.valid ?? 0} hashes, all threads`);

    r = await startRoot(dir, port, httpPort);
    cpu0 = cpuSeconds(r.child.pid!);
    const again = await helloStorm(port, hellos, 512, 2000, 120_000);
    cpu = cpuSeconds(r.child.pid!) - cpu0;
    const v2 = await validations(httpPort);
    await stopRoot(r);
    const readmitRate = (again.answered / again.ms) * 1000;
    line(`re-admitted/s after a restart (${again.answered}/${valid.length})`, fmt(readmitRate, 0), '≥ 3,000/s', `before: every one re-hashed, ${fmt(jsRate, 1)}/s (pure JS); hashes now: ${v2.valid ?? 0}, remembered: ${v2.remembered ?? 0}; root CPU ${fmt((cpu / Math.max(1, again.answered)) * 1e6, 0)} µs per re-admission`);

    // 4. Restart at N.
    console.log(`  preparing the restart case: ${fmt(restartN)} peers (synthetic identities in the state file, see the module comment) ...`);
    const { dir: bigDir, root: bigRoot } = await prepareState(port, httpPort);
    dirs.push(bigDir);
    const synth = syntheticIdentities(restartN);
    writeRemembered(bigDir, synth);
    const bigHellos = prepareHellos(bigRoot, bigDir, port, synth);
    r = await startRoot(bigDir, port, httpPort);
    cpu0 = cpuSeconds(r.child.pid!);
    const benchCpu0 = process.cpuUsage();
    const storm = await helloStorm(port, bigHellos, 512, 2000, 180_000);
    cpu = cpuSeconds(r.child.pid!) - cpu0;
    const benchCpu = process.cpuUsage(benchCpu0);
    const total = (storm.answered === restartN ? storm.lastOkAt : performance.now()) - r.spawnedAt;
    const v3 = await validations(httpPort);
    await stopRoot(r);
    line(
      `restart with ${fmt(restartN)} peers: spawn → all OK(HELLO)`,
      `${fmt(total / 1000, 1)} s`,
      '≤ 30 s',
      `${storm.answered}/${restartN} answered; start ${fmt(r.startMs / 1000, 1)} s + HELLOs ${fmt(storm.ms / 1000, 1)} s (${fmt((storm.answered / storm.ms) * 1000, 0)}/s, ${storm.resent} re-sent); hashes ${v3.valid ?? 0}`,
    );
    const perAdmission = cpu / Math.max(1, storm.answered);
    line(
      '  CPU per re-admission: root (all threads)',
      `${fmt(perAdmission * 1e6, 0)} µs`,
      '≤ 333 µs',
      `= ${fmt(1 / perAdmission, 0)}/s on a core of its own (goal 3,000/s); the clients (this process): ${fmt((benchCpu.user + benchCpu.system) / Math.max(1, storm.answered), 0)} µs each, on the same cores`,
    );
    line('  the same without remembering (extrapolated)', `${fmt(restartN / newcomerRate / 60, 1)} min`, '', `at this run's native newcomer rate; ${fmt(restartN / jsRate / 3600, 2)} h at the pure-JS rate (before)`);
  } finally {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  }
}
