/**
 * `ztroot fuzz` / `npm run fuzz`: mutated ZeroTier traffic against a real root, to keep "bad input is a
 * counted drop, never a crash" true as the code changes.
 *
 * Seeds are the packets ZeroTier One 1.14.1 put on the wire in the shared captures (session/,
 * tcp-fallback/, planet-update/ of the vectors). The root is a real RootServer with the captures' root
 * identity, a real identity-validation worker and a real TCP relay listener. Each datagram is one of:
 *   - authentic: a captured packet decrypted with the keys the captures' identities agree, its verb or
 *     payload mutated (bit flips, random bytes, truncation, extension, length fields, the verb byte and its
 *     compression flag), re-armored with the same key and suite — so the mutation reaches the verb handlers
 *     behind the MAC check;
 *   - replayed with other hop bits (the relay's hop limit, RENDEZVOUS);
 *   - raw: wire bytes mutated (bit flips, truncation, splices of two packets, 2-byte length fields, the
 *     flags byte — cipher suite, hops, fragmented, extended armor —, the verb byte, the fragment marker);
 *   - random bytes of random length.
 * Datagrams enter through `RootServer.onDatagram`, the root's entry for every UDP datagram (what its
 * sockets call), from a pool of loopback sources; replies leave through its real UDP socket. TCP relay
 * records go through real TCP connections: a tunnel hello (sometimes mangled, sometimes TLS or junk),
 * then records carrying such datagrams or mutated captured record bodies, with framing mutations (type,
 * length field, truncated records, junk), written in random splits; a connection the root closes is
 * replaced.
 *
 * At the end: drops by reason, the TCP relay's closes by reason, RSS, and a check that the root still
 * answers a captured HELLO over UDP and through a new tunnel. Exit 1 on any internal error (a counted
 * `drop_internal_error`, an error logged by the root, an uncaught exception), RSS growing by more than
 * --max-rss-growth-mb after warm-up, or a root that no longer answers. Reproduce a run with its --seed.
 */
import net from 'node:net';
import dgram from 'node:dgram';
import { once } from 'node:events';
import { readFileSync, readdirSync, existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Identity } from '../vl1/identity.js';
import { PeerKey } from '../vl1/peer-key.js';
import { fromHex } from '../vl1/bytes.js';
import { cipherSuite, dearmor, getHops, packetDest, packetSource, setHops } from '../vl1/packet.js';
import { c25519Generate } from '../vl1/c25519.js';
import { parseWorld, serializeWorld, signWorld, type World } from '../planet/world.js';
import { RootServer, type IdentityValidatorLike, type Logger } from '../root/root-server.js';
import { IdentityValidator } from '../root/identity-validator.js';
import { encodeTunnelHello, encodeTunnelRecord, TunnelRecordReader } from '../vl1/tcp-framing.js';
import { makeDatagram, makeRecord, Rng, type Seed } from './fuzz-mutations.js';

const HELP = `usage: ztroot fuzz [options]

Drives a real root (UDP datagrams and TCP relay records) with mutations of the packets ZeroTier One
1.14.1 sent in the test captures; reports drops by reason and RSS; exits 1 on any internal error, crash,
RSS growth beyond the limit, or a root that stops answering.

options:
  --datagrams <n>           mutated datagrams (default 1000000)
  --records <n>             mutated TCP relay records (default: a quarter of --datagrams)
  --seed <n>                PRNG seed, to reproduce a run (default: random, printed)
  --vectors <dir>           the shared vectors (default $ZTROOT_VECTORS or ../shared/vectors beside the repo)
  --max-rss-growth-mb <n>   RSS may grow this much after warm-up (default 256)
  --json                    print the report as JSON
  --help
`;

export interface FuzzOptions {
  datagrams: number;
  records: number;
  seed: number;
  vectors: string;
  maxRssGrowthMb: number;
  /** Progress lines (default: none). */
  progress?: (line: string) => void;
}

export interface FuzzReport {
  seed: number;
  datagrams: number;
  records: number;
  tcpConnections: number;
  durationMs: number;
  datagramsByKind: Record<string, number>;
  /** The root's drop counters (drop_<reason>), non-zero ones. */
  drops: Record<string, number>;
  /** The TCP relay's counters (tcp_*), non-zero ones. */
  tcp: Record<string, number>;
  /** Replies the root sent (tx_<VERB>), non-zero ones. */
  sent: Record<string, number>;
  rssMb: { start: number; warm: number; end: number; peak: number };
  /** Error-level log lines of the root, uncaught exceptions and unhandled rejections (the first few). */
  errors: string[];
  errorCount: number;
  /** The root still answered a captured HELLO over UDP and through a new tunnel after the run. */
  answersAfter: { udp: boolean; tunnel: boolean };
  problems: string[];
}

// ---- seeds ------------------------------------------------------------------------------------------

interface Seeds {
  rootIdentity: Identity;
  planet: Uint8Array;
  udp: Seed[];
  /** Authentic seeds addressed to the root (for the liveness check): a HELLO. */
  hello: Seed;
  tcpBodies: Uint8Array[];
}

/** The vectors directory: --vectors, $ZTROOT_VECTORS, or ../shared/vectors beside the repository. */
export function defaultVectorsDir(): string {
  if (process.env.ZTROOT_VECTORS) return resolve(process.env.ZTROOT_VECTORS);
  // dist/tools/fuzz.js → <repo>/../shared/vectors
  return resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'shared', 'vectors');
}

interface CapturedPacket {
  kind: string;
  wire_hex?: string;
}

function loadSeeds(dir: string): Seeds {
  if (!existsSync(dir)) throw new Error(`vectors not found at ${dir}: pass --vectors DIR or set ZTROOT_VECTORS`);
  const identities = new Map<number, Identity>();
  const udp: Seed[] = [];
  const tcpBodies: Uint8Array[] = [];
  let rootIdentity: Identity | null = null;
  for (const cap of ['session', 'tcp-fallback', 'planet-update']) {
    const capDir = join(dir, cap);
    for (const f of readdirSync(capDir).filter((n) => n.endsWith('.identity.secret'))) {
      const id = Identity.fromString(readFileSync(join(capDir, f), 'utf8').trim());
      identities.set(id.address, id);
      if (f === 'root.identity.secret') rootIdentity = id;
    }
    const decoded = JSON.parse(readFileSync(join(capDir, 'decoded.json'), 'utf8')) as {
      packets?: CapturedPacket[];
      root_loopback_udp_packets?: CapturedPacket[];
      tcp_records?: Array<{ record_body_hex?: string }>;
    };
    for (const p of [...(decoded.packets ?? []), ...(decoded.root_loopback_udp_packets ?? [])]) {
      if (p.wire_hex !== undefined) udp.push(seedOf(fromHex(p.wire_hex), identities));
    }
    for (const r of decoded.tcp_records ?? []) if (r.record_body_hex !== undefined) tcpBodies.push(fromHex(r.record_body_hex));
  }
  if (rootIdentity === null) throw new Error(`no root.identity.secret in the captures under ${dir}`);
  const root = rootIdentity;
  const hello = udp.find((s) => s.plain !== null && s.verb === 1 && packetDest(s.wire) === root.address);
  if (hello === undefined) throw new Error('no authentic HELLO to the root in the captures');
  const testbed = parseWorld(new Uint8Array(readFileSync(join(dir, 'planets', 'testbed-planet.bin'))));
  return { rootIdentity: root, planet: serializeWorld(planetFor(root, testbed, 9993)), udp, hello, tcpBodies };
}

function seedOf(wire: Uint8Array, identities: Map<number, Identity>): Seed {
  const suiteNum = wire.length >= 28 ? cipherSuite(wire) : 0;
  const base = { wire, plain: null, key: null, suite: 0 as const, hops: wire.length >= 19 ? getHops(wire) : 0, verb: -1 };
  if (wire.length < 28 || wire[13] === 0xff || (suiteNum !== 0 && suiteNum !== 1 && suiteNum !== 3)) return base;
  const a = identities.get(packetSource(wire));
  const b = identities.get(packetDest(wire));
  if (a === undefined || b === undefined) return base;
  const key = new PeerKey(a.agree(b));
  const plain = wire.slice();
  try {
    const iv = dearmor(plain, key);
    plain.set(iv.slice(), 0);
  } catch {
    return base;
  }
  setHops(plain, 0);
  return { wire, plain, key, suite: suiteNum as 0 | 1 | 3, hops: getHops(wire), verb: plain[27]! & 0x1f };
}

/** A planet with the testbed's id, newer (the captured clients get it in OK(HELLO)), the root on loopback. */
function planetFor(root: Identity, testbed: World, port: number): World {
  const signer = c25519Generate();
  return signWorld(
    { type: 'planet', id: testbed.id, timestamp: testbed.timestamp + 5000, updatesMustBeSignedBy: signer.publicKey, roots: [{ identity: root.publicOnly(), stableEndpoints: [{ family: 4, ip: '127.0.0.1', port }] }] },
    signer,
  );
}

// ---- the run ----------------------------------------------------------------------------------------

const mb = (n: number) => Math.round((n / 1048576) * 10) / 10;

/** A TCP connection to the relay that the fuzzer writes records to; replaced when the root closes it. */
interface TunnelConn {
  sock: net.Socket;
  closed: boolean;
  budget: number;
  /** The authentic seeds of the address this tunnel speaks for. */
  speaker: readonly Seed[];
}

/**
 * Runs the fuzzer. `deps.validator` replaces the identity-validation pool (tests).
 * @throws when the vectors cannot be read
 */
export async function runFuzz(opts: FuzzOptions, deps: { validator?: IdentityValidatorLike } = {}): Promise<FuzzReport> {
  const seeds = loadSeeds(opts.vectors);
  const rng = new Rng(opts.seed);
  const authentic = seeds.udp.filter((s) => s.plain !== null);
  const bySource = new Map<number, Seed[]>();
  for (const s of authentic) {
    const a = packetSource(s.wire);
    if (a === seeds.rootIdentity.address) continue; // the root's own packets: dropped as from_self
    let list = bySource.get(a);
    if (list === undefined) bySource.set(a, (list = []));
    list.push(s);
  }
  const speakers = [...bySource.values()];
  const errors: string[] = [];
  let errorCount = 0;
  const recordError = (what: string) => {
    errorCount++;
    if (errors.length < 10) errors.push(what.slice(0, 2000));
  };
  const logger: Logger = {
    debug() {},
    info() {},
    warn() {},
    error: (o, m) => recordError(`root logged an error: ${m ?? ''} ${JSON.stringify(o)}`),
  };
  const onUncaught = (e: unknown) => recordError(`uncaught: ${e instanceof Error ? e.stack : String(e)}`);
  process.on('uncaughtException', onUncaught);
  process.on('unhandledRejection', onUncaught);

  const pool = deps.validator === undefined ? new IdentityValidator({ workers: 1 }) : null;
  const root = new RootServer(
    // Reply budgets raised so mutated requests reach the handlers rather than stopping at the rate gates.
    { port: 0, bind4: '127.0.0.1', bind6: null, repliesPerPeerPerSecond: 1_000_000, repliesPerIpPerSecond: 1_000_000 },
    { identity: seeds.rootIdentity, planet: seeds.planet, validator: deps.validator ?? pool!, logger },
  );
  const sinks: dgram.Socket[] = [];
  const conns: TunnelConn[] = [];
  let tcpConnections = 0;
  const kinds: Record<string, number> = {};
  const t0 = Date.now();
  let rss = { start: 0, warm: 0, end: 0, peak: 0 };
  let answersAfter = { udp: false, tunnel: false };
  try {
    await root.start();
    root.setPlanet(serializeWorld(planetFor(seeds.rootIdentity, parseWorld(seeds.planet), root.port)));
    const tunnel = await root.startTunnel('127.0.0.1', 0, { maxConnections: 1000 });
    for (let i = 0; i < 4; i++) {
      const s = dgram.createSocket('udp4');
      s.on('message', () => undefined);
      s.bind(0, '127.0.0.1');
      await once(s, 'listening');
      sinks.push(s);
    }
    // Sources: the sinks (replies come back to us) and loopback addresses nobody listens on.
    const sources: Array<{ ip: string; port: number }> = sinks.map((s) => ({ ip: '127.0.0.1', port: s.address().port }));
    for (let i = 0; i < 60; i++) sources.push({ ip: `127.${1 + rng.int(250)}.${rng.int(256)}.${1 + rng.int(250)}`, port: 1024 + rng.int(60000) });

    const openConn = async (): Promise<TunnelConn> => {
      const sock = net.connect({ host: '127.0.0.1', port: tunnel.port });
      const c: TunnelConn = { sock, closed: false, budget: 1 + rng.int(300), speaker: rng.pick(speakers) };
      sock.on('close', () => (c.closed = true));
      sock.on('error', () => undefined);
      sock.on('data', () => undefined);
      await once(sock, 'connect').catch(() => undefined);
      tcpConnections++;
      const first = rng.int(100);
      if (first < 85) sock.write(encodeTunnelHello({ major: 1, minor: 14, revision: 1 }));
      else if (first < 90) sock.write(encodeTunnelHello({ major: rng.int(256), minor: rng.int(256), revision: rng.int(65536) }));
      else if (first < 95) sock.write(new Uint8Array([0x16, 0x03, 0x01, 0x00, 0x05, 1, 2, 3, 4, 5])); // TLS, no certificate configured
      else sock.write(rng.bytes(1 + rng.int(32)));
      return c;
    };
    for (let i = 0; i < 4; i++) conns.push(await openConn());

    rss.start = process.memoryUsage().rss;
    rss.peak = rss.start;
    const total = opts.datagrams;
    const recordsPerDatagram = total > 0 ? opts.records / total : 0;
    let records = 0;
    let recordDebt = 0;
    const BATCH = 256;
    let nextProgress = Date.now() + 5000;
    for (let done = 0; done < total || records < opts.records; ) {
      const n = Math.min(BATCH, Math.max(0, total - done));
      for (let i = 0; i < n; i++) {
        const { d, kind } = makeDatagram(rng, seeds.udp, authentic, seeds.rootIdentity.address);
        kinds[kind] = (kinds[kind] ?? 0) + 1;
        const src = rng.pick(sources);
        root.onDatagram(d, 0, src.ip, src.port);
      }
      done += n;
      // Records in proportion, written to the open tunnels in random splits.
      recordDebt += n > 0 ? n * recordsPerDatagram : Math.min(BATCH, opts.records - records);
      while (recordDebt >= 1 && records < opts.records) {
        recordDebt--;
        const ci = rng.int(conns.length);
        let c = conns[ci]!;
        if (c.closed || c.budget <= 0) {
          c.sock.destroy();
          c = await openConn();
          conns[ci] = c;
        }
        const { rec, risky } = makeRecord(rng, seeds.udp, c.speaker, seeds.tcpBodies, seeds.rootIdentity.address);
        if (risky) c.budget = 0;
        const cut = rng.chance(0.3) ? rng.int(rec.length + 1) : rec.length;
        if (!c.closed) {
          c.sock.write(rec.subarray(0, cut));
          if (cut < rec.length) c.sock.write(rec.subarray(cut));
        }
        if (!risky) c.budget--;
        records++;
      }
      // Let the root's replies, validations, timers and the TCP writes run.
      await new Promise((r) => setImmediate(r));
      if (conns.some((c) => c.sock.writableLength > 1 << 20)) await new Promise((r) => setTimeout(r, 5));
      const now = process.memoryUsage().rss;
      if (now > rss.peak) rss.peak = now;
      if (rss.warm === 0 && done >= total * 0.2) rss.warm = now;
      if (opts.progress !== undefined && Date.now() >= nextProgress) {
        nextProgress = Date.now() + 5000;
        opts.progress(`fuzz: ${done}/${total} datagrams, ${records}/${opts.records} records, RSS ${mb(now)} MB`);
      }
    }
    if (rss.warm === 0) rss.warm = process.memoryUsage().rss;
    for (const c of conns) c.sock.destroy();
    // Settle: in-flight validations and replies; rate gates refill.
    await new Promise((r) => setTimeout(r, 1100));
    rss.end = process.memoryUsage().rss;
    rss.peak = Math.max(rss.peak, rss.end); // the peak of every sample, the last one included (it can be the highest)
    answersAfter = { udp: await answersUdp(root, seeds.hello), tunnel: await answersTunnel(tunnel.port, seeds.hello) };
  } finally {
    for (const c of conns) c.sock.destroy();
    for (const s of sinks) s.close();
    await root.stop();
    await pool?.close();
    process.off('uncaughtException', onUncaught);
    process.off('unhandledRejection', onUncaught);
  }
  const counters = root.counters;
  const pick = (prefix: string) => Object.fromEntries([...counters].filter(([k, v]) => k.startsWith(prefix) && v > 0).sort((a, b) => b[1] - a[1]));
  const report: FuzzReport = {
    seed: opts.seed,
    datagrams: opts.datagrams,
    records: opts.records,
    tcpConnections,
    durationMs: Date.now() - t0,
    datagramsByKind: kinds,
    drops: pick('drop_'),
    tcp: pick('tcp_'),
    sent: pick('tx_'),
    rssMb: { start: mb(rss.start), warm: mb(rss.warm), end: mb(rss.end), peak: mb(rss.peak) },
    errors,
    errorCount,
    answersAfter,
    problems: [],
  };
  report.problems = fuzzProblems(report, opts.maxRssGrowthMb);
  return report;
}

/** What makes a run fail; empty when it held. */
export function fuzzProblems(r: Omit<FuzzReport, 'problems'>, maxRssGrowthMb: number): string[] {
  const p: string[] = [];
  const internal = r.drops.drop_internal_error ?? 0;
  if (internal > 0) p.push(`${internal} datagrams hit an internal error (drop_internal_error): a parser threw something other than a ZtError`);
  if (r.errorCount > 0) p.push(`${r.errorCount} errors logged or thrown, first: ${r.errors[0] ?? ''}`);
  const growth = r.rssMb.end - r.rssMb.warm;
  if (growth > maxRssGrowthMb) p.push(`RSS grew ${growth.toFixed(1)} MB after warm-up (${r.rssMb.warm} → ${r.rssMb.end} MB), over the ${maxRssGrowthMb} MB allowed: something is unbounded`);
  if (!r.answersAfter.udp) p.push('after the run the root did not answer a captured HELLO over UDP');
  if (!r.answersAfter.tunnel) p.push('after the run the root did not answer a captured HELLO through a new tunnel');
  return p;
}

/** Sends the captured HELLO from a fresh UDP socket; true if anything comes back within 3 s. */
async function answersUdp(root: RootServer, hello: Seed): Promise<boolean> {
  const s = dgram.createSocket('udp4');
  s.bind(0, '127.0.0.1');
  await once(s, 'listening');
  try {
    const got = once(s, 'message').then(() => true);
    s.send(hello.wire, root.port, '127.0.0.1');
    // unref: a deadline that lost the race must not keep the process alive.
    return await Promise.race([got, new Promise<boolean>((r) => setTimeout(() => r(false), 3000).unref())]);
  } finally {
    s.close();
  }
}

/** Sends the captured HELLO through a new tunnel; true if a record comes back within 3 s. */
async function answersTunnel(port: number, hello: Seed): Promise<boolean> {
  const sock = net.connect({ host: '127.0.0.1', port });
  sock.on('error', () => undefined);
  try {
    await once(sock, 'connect');
    const reader = new TunnelRecordReader();
    const got = new Promise<boolean>((resolve) => {
      sock.on('data', (chunk: Buffer) => {
        reader.push(new Uint8Array(chunk));
        if (reader.next() !== null) resolve(true);
      });
      sock.on('close', () => resolve(false));
      setTimeout(() => resolve(false), 3000).unref();
    });
    sock.write(encodeTunnelHello({ major: 1, minor: 14, revision: 1 }));
    sock.write(encodeTunnelRecord(hello.wire, { family: 4, ip: '127.0.0.1', port: 9993 }));
    return await got;
  } catch {
    return false;
  } finally {
    sock.destroy();
  }
}

function printReport(r: FuzzReport): void {
  const lines = [
    `ztroot fuzz: seed ${r.seed}: ${r.datagrams} datagrams (${Object.entries(r.datagramsByKind).map(([k, v]) => `${k} ${v}`).join(', ')}), ${r.records} TCP records over ${r.tcpConnections} connections, in ${(r.durationMs / 1000).toFixed(1)} s`,
    'drops by reason:',
    ...Object.entries(r.drops).map(([k, v]) => `  ${k.slice(5).padEnd(32)} ${v}`),
    'TCP relay:',
    ...Object.entries(r.tcp).map(([k, v]) => `  ${k.slice(4).padEnd(32)} ${v}`),
    `sent by the root: ${Object.entries(r.sent).map(([k, v]) => `${k.slice(3)} ${v}`).join(', ')}`,
    `RSS: ${r.rssMb.start} MB at the start, ${r.rssMb.warm} after warm-up, ${r.rssMb.end} at the end (peak ${r.rssMb.peak})`,
    `the root answers afterwards: UDP ${r.answersAfter.udp ? 'yes' : 'NO'}, new tunnel ${r.answersAfter.tunnel ? 'yes' : 'NO'}`,
    r.problems.length === 0 ? 'held: no internal error, no crash, RSS bounded' : `FAILED:\n${r.problems.map((p) => `  - ${p}`).join('\n')}`,
  ];
  console.log(lines.join('\n'));
}

/** `ztroot fuzz` (argv after the subcommand): 0 when the root held, 1 when not, 2 for bad flags. */
export async function main(argv: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        datagrams: { type: 'string' },
        records: { type: 'string' },
        seed: { type: 'string' },
        vectors: { type: 'string' },
        'max-rss-growth-mb': { type: 'string' },
        json: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (e) {
    console.error(`ztroot fuzz: ${(e as Error).message} (see --help)`);
    return 2;
  }
  if (values.help === true) {
    console.log(HELP);
    return 0;
  }
  const num = (flag: string, v: string | undefined, dflt: number, min: number): number => {
    if (v === undefined) return dflt;
    if (!/^\d+$/.test(v) || Number(v) < min || !Number.isSafeInteger(Number(v))) throw new Error(`--${flag} ${JSON.stringify(v)}: expected a whole number ≥ ${min}`);
    return Number(v);
  };
  let opts: FuzzOptions;
  try {
    const datagrams = num('datagrams', values.datagrams, 1_000_000, 0);
    opts = {
      datagrams,
      records: num('records', values.records, Math.floor(datagrams / 4), 0),
      seed: num('seed', values.seed, (Math.random() * 0xffffffff) >>> 0, 0) >>> 0,
      vectors: values.vectors !== undefined ? resolve(values.vectors) : defaultVectorsDir(),
      maxRssGrowthMb: num('max-rss-growth-mb', values['max-rss-growth-mb'], 256, 1),
    };
  } catch (e) {
    console.error(`ztroot fuzz: ${(e as Error).message}`);
    return 2;
  }
  if (values.json !== true) {
    console.log(`ztroot fuzz: seed ${opts.seed} (reproduce with --seed ${opts.seed}), vectors ${opts.vectors}`);
    opts.progress = (l) => console.log(l);
  }
  const report = await runFuzz(opts);
  if (values.json === true) console.log(JSON.stringify(report, null, 2));
  else printReport(report);
  return report.problems.length === 0 ? 0 : 1;
}
