/**
 * A root restarted in a fleet serves the leaves it held at once (root/peer-adoption.ts), without waiting for their
 * next HELLO — 1.14 HELLOs its roots only every ~225 s (vl1.md §7.2), and the deploy test saw relaying pause for
 * 43–170 s after a rolling restart. One root host, Redis on its own host, two of our leaves (leaf/) that cannot
 * reach each other (iptables), so everything between them is relayed by the root; their HELLO interval is an hour,
 * so nothing but adoption can bring them back within the test.
 *
 * - resume: the root process is stopped and started again on the same state directory; A's pings to B are answered
 *   again within RESUME_WITHIN_MS of the restart. Only A speaks: A is taken back from its own packets, B (silent)
 *   from the packets for it and where the fleet store says this root last saw it. Then B's pings to A too.
 * - replay: an attacker on a third host replays authentic packets of leaf A (a capture's bytes: WHOIS and ECHO to the
 *   root; A's HELLO is path-hijack.test.ts's case) at the restarted root from its own address: the root does not
 *   adopt A there (its peer list stays without A); A's own next packet adopts A at its real address while the replays
 *   go on; then, with a replayed frame of A for B added, B's pings reach A, A's only path stays its real one, and not
 *   one of B's datagrams for A reaches the attacker.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import type { TestContext } from 'node:test';
import { Identity } from '../vl1/identity.js';
import { PeerKey } from '../vl1/peer-key.js';
import { Verb } from '../vl1/constants.js';
import { toHex } from '../vl1/bytes.js';
import { formatAddress } from '../vl1/address.js';
import { sealPacket } from '../vl1/packet.js';
import { encodeWhois } from '../vl1/verbs/whois.js';
import { netnsUnavailableReason, type Host } from './netns.js';
import { redisUnavailableReason, type RedisServer } from './redis.js';
import { readVectorJson, REPO_ROOT } from './vectors.js';
import { block, createFleetHosts, ipsOf, makePlanet, metricValue, scrapeMetrics, startLeaf, startRedisHost, startRootProcess, type FleetHosts, type LeafProcess, type RootProcess } from './fleet-hosts.js';
import { watchJsonLines, type JsonLine } from './json-lines.js';

const skip = netnsUnavailableReason() ?? redisUnavailableReason() ?? false;
if (skip) console.log(`# fleet restart adoption tests skipped: ${skip}`);

const ids = readVectorJson<{ identities: { secret_string: string }[] }>('identities.json').identities.map((i) => Identity.fromString(i.secret_string));
const [rootId, aId, bId] = [ids[0]!, ids[5]!, ids[6]!];
const REPLAYER = join(REPO_ROOT, 'dist', 'test', 'replayer.js');
/** The leaves' HELLO interval to a root with a path: an hour, so only adoption can bring them back in the test. */
const LONG_HELLO_MS = 3_600_000;
/** The figure: relaying resumes within a couple of seconds of the restart. */
const RESUME_WITHIN_MS = 2500;
/** A's adoption is seen by polling the root's /api/peers inside its namespace (a node process each, ~0.3–1 s). */
const OWN_PACKET_ADOPTED_MS = 4000;

function pings(lines: JsonLine[], tag: string): JsonLine[] {
  return lines.filter((l) => (l.event === 'ping' || l.event === 'ping-failed') && l.tag === tag).sort((x, y) => (x.seq as number) - (y.seq as number));
}

/** Milliseconds from `since` to the answer of the first ping sent after it (Infinity if none was answered). */
function resumedAfter(lines: JsonLine[], tag: string, since: number): number {
  const first = pings(lines, tag).find((l) => l.event === 'ping' && (l.sentAt as number) >= since);
  return first === undefined ? Infinity : (first.sentAt as number) + (first.rttMs as number) - since;
}

async function pingBoth(a: LeafProcess, b: LeafProcess, tag: string, count: number): Promise<void> {
  a.send({ cmd: 'ping', tag, peer: formatAddress(bId.address), count, intervalMs: 200, timeoutMs: 1500 });
  b.send({ cmd: 'ping', tag, peer: formatAddress(aId.address), count, intervalMs: 200, timeoutMs: 1500 });
  await Promise.all([a, b].map((l) => l.events.waitFor((x) => x.event === 'ping-done' && x.tag === tag, count * 200 + 10_000, `${tag} pings`)));
}

/** The root's /api/peers, read inside its namespace from its default listener. */
async function rootPeers(f: FleetHosts, host: Host): Promise<Array<Record<string, unknown>>> {
  const js = "fetch('http://127.0.0.1:9980/api/peers').then((r) => r.text()).then((t) => process.stdout.write(t), (e) => { console.error(String(e)); process.exit(1); })";
  const body = JSON.parse((await f.topo.exec(host.ns, process.execPath, ['-e', js], { timeoutMs: 10_000 })).stdout) as { peers: Array<Record<string, unknown>> };
  return body.peers;
}

/** An attacker's replayer (test/replayer.ts) on `host`, sending `packets` to the root every 300 ms. */
async function startReplayer(f: FleetHosts, host: Host, rootHost: Host, packets: Uint8Array[], cleanup: Array<() => void>) {
  const proc = f.topo.spawn(host.ns, process.execPath, [REPLAYER, JSON.stringify({ bind: host.ip4, to: rootHost.ip4, port: 9993, packetsHex: packets.map(toHex), intervalMs: 300 })], { stdio: ['pipe', 'pipe', 'pipe'] });
  cleanup.push(() => {
    if (proc.exitCode === null) proc.kill('SIGKILL');
  });
  const watch = watchJsonLines(proc, 'replayer');
  await watch.waitFor((l) => l.event === 'ready', 10_000, 'the replayer');
  return { proc, watch };
}

async function restart(f: FleetHosts, root: RootProcess, planet: Uint8Array, redisUrl: string): Promise<RootProcess> {
  root.proc.kill('SIGTERM');
  if (root.proc.exitCode === null) await once(root.proc, 'exit');
  return startRootProcess(f, root.host, root.home, rootId, planet, redisUrl);
}

interface Scene {
  f: FleetHosts;
  redis: RedisServer;
  root: RootProcess;
  a: LeafProcess;
  b: LeafProcess;
  planet: ReturnType<typeof makePlanet>;
}

/** Root, Redis and leaves A and B (blocked from each other); B and A have met through the root. */
async function scene(t: TestContext, extraHosts: number, cleanup: Array<() => Promise<void> | void>): Promise<Scene> {
  const work = mkdtempSync(join(tmpdir(), 'ztroot-adoption-'));
  cleanup.push(() => rmSync(work, { recursive: true, force: true }));
  const f = await createFleetHosts(1, 2 + extraHosts);
  cleanup.push(() => f.topo.destroy());
  const planet = makePlanet([{ identity: rootId, hosts: [f.roots[0]!] }]);
  const redis = await startRedisHost(f);
  cleanup.push(() => redis.stop());
  const root = await startRootProcess(f, f.roots[0]!, join(work, 'root'), rootId, planet.bytes, redis.url);
  const [aHost, bHost] = [f.leaves[0]!, f.leaves[1]!];
  await block(f.topo, aHost, ipsOf(bHost));
  await block(f.topo, bHost, ipsOf(aHost));
  const a = await startLeaf(f, aHost, aId, planet.bytes, { helloIntervalMs: LONG_HELLO_MS });
  const b = await startLeaf(f, bHost, bId, planet.bytes, { helloIntervalMs: LONG_HELLO_MS });
  cleanup.push(() => {
    a.proc.stdin?.end();
    b.proc.stdin?.end();
  });
  await pingBoth(a, b, 'before', 5);
  for (const l of [a, b]) assert.ok(pings(l.events.lines, 'before').some((x) => x.event === 'ping'), 'the leaves met through the root before the restart');
  t.diagnostic('A and B relayed through the root');
  return { f, redis, root, a, b, planet };
}

test('a restarted root relays for the leaves it held within seconds, not at their next HELLO', { skip, timeout: 120_000 }, async (t) => {
  const cleanup: Array<() => Promise<void> | void> = [];
  let root: RootProcess | undefined;
  try {
    const s = await scene(t, 0, cleanup);
    root = s.root;
    root = await restart(s.f, root, s.planet.bytes, s.redis.url);
    const restartedAt = Date.now();
    s.a.send({ cmd: 'ping', tag: 'after', peer: formatAddress(bId.address), count: 30, intervalMs: 200, timeoutMs: 1500 });
    await s.a.events.waitFor((x) => x.event === 'ping-done' && x.tag === 'after', 20_000, 'A\'s pings after the restart');
    const aToB = resumedAfter(s.a.events.lines, 'after', restartedAt);
    const tail = pings(s.a.events.lines, 'after').slice(-10);
    await pingBoth(s.a, s.b, 'both', 10);
    const both = [s.a, s.b].map((l) => pings(l.events.lines, 'both').filter((x) => x.event === 'ping').length);
    const metrics = await scrapeMetrics(s.f, root.host);
    const refusals = Object.fromEntries([...metrics.matchAll(/^ztroot_peer_adoption_refusals_total\{reason="(\w+)"\} (\d+)$/gm)].filter((m) => m[2] !== '0').map((m) => [m[1], Number(m[2])]));
    t.diagnostic(`after the restart: A→B answered ${aToB} ms after it; its last 10 pings: ${tail.filter((l) => l.event === 'ping').length}/10 answered; then ${both.join(' and ')} of 10 each way; adoptions ${metricValue(metrics, 'ztroot_peer_adoptions_total')}, refusals ${JSON.stringify(refusals)}`);
    assert.ok(aToB < RESUME_WITHIN_MS, `relaying resumed within ${RESUME_WITHIN_MS} ms of the restart (A→B ${aToB} ms)`);
    assert.equal(tail.filter((l) => l.event === 'ping').length, 10, 'and stays up');
    assert.deepEqual(both, [10, 10], 'both ways');
    assert.equal(metricValue(metrics, 'ztroot_peer_adoptions_total'), 2, 'both leaves adopted, once each');
  } catch (e) {
    if (root !== undefined) t.diagnostic(`root log tail:\n${root.log.lines.slice(-15).map((l) => JSON.stringify(l)).join('\n')}`);
    throw e;
  } finally {
    for (const c of cleanup.reverse()) await c();
  }
});

/** Authentic packets of A, as a capture holds them: WHOIS and ECHO to the root (suite 3); a frame for B. */
function recordedPacketsOfA(): { toRoot: Uint8Array[]; relayed: Uint8Array[] } {
  const toRoot = new PeerKey(aId.agree(rootId));
  const toB = new PeerKey(aId.agree(bId));
  const whois = sealPacket({ dest: rootId.address, source: aId.address, verb: Verb.WHOIS, payload: encodeWhois({ addresses: [bId.address] }) }, toRoot, 3);
  const echo = sealPacket({ dest: rootId.address, source: aId.address, verb: Verb.ECHO, payload: new Uint8Array([1, 2, 3, 4]) }, toRoot, 3);
  const frame = sealPacket({ dest: bId.address, source: aId.address, verb: Verb.ECHO, payload: new Uint8Array([5, 6, 7, 8]) }, toB, 3);
  return { toRoot: [whois, echo], relayed: [frame] };
}

test('after a restart, a replayed packet of a leaf from another address adopts nothing there; the leaf\'s own packet does', { skip, timeout: 120_000 }, async (t) => {
  const cleanup: Array<() => Promise<void> | void> = [];
  let root: RootProcess | undefined;
  try {
    const s = await scene(t, 1, cleanup);
    const attacker = s.f.leaves[2]!;
    const aHost = s.f.leaves[0]!;
    root = await restart(s.f, s.root, s.planet.bytes, s.redis.url);

    // The attack: A's recorded packets from the attacker's address, every 300 ms, before A says anything itself.
    const recorded = recordedPacketsOfA();
    const replayers = [await startReplayer(s.f, attacker, root.host, recorded.toRoot, cleanup)];
    await new Promise((r) => setTimeout(r, 2000));
    const underAttack = await scrapeMetrics(s.f, root.host);
    const peerA = (await rootPeers(s.f, root.host)).find((p) => p.address === formatAddress(aId.address));
    t.diagnostic(`under replay for 2 s: the root's record of A ${JSON.stringify(peerA ?? null)}; adoption probes sent ${metricValue(underAttack, 'ztroot_peer_adoption_probes_total')}, adoptions ${metricValue(underAttack, 'ztroot_peer_adoptions_total')}`);
    assert.equal(peerA, undefined, 'the replays adopted nothing');
    assert.ok(metricValue(underAttack, 'ztroot_peer_adoption_probes_total') > 0, 'the replays were probed (at the attacker\'s address)');
    assert.equal(metricValue(underAttack, 'ztroot_peer_adoptions_total'), 0);

    // A's own next packet (a WHOIS to the root), while the replays go on, adopts A where it really is.
    const spokeAt = Date.now();
    s.a.send({ cmd: 'whois', peer: formatAddress(bId.address) });
    let peerA2: Record<string, unknown> | undefined;
    while (Date.now() - spokeAt < 5000 && peerA2 === undefined) {
      await new Promise((r) => setTimeout(r, 100));
      peerA2 = (await rootPeers(s.f, root.host)).find((p) => p.address === formatAddress(aId.address));
    }
    const took = Date.now() - spokeAt;
    t.diagnostic(`A's own packet: adopted within ${took} ms (polled): ${JSON.stringify(peerA2?.paths ?? null)}`);
    assert.ok(peerA2 !== undefined && took < OWN_PACKET_ADOPTED_MS, `A adopted within ${OWN_PACKET_ADOPTED_MS} ms of its own packet (${took} ms)`);
    assert.deepEqual((peerA2.paths as Array<{ address: string }>).map((x) => x.address), [`${aHost.ip4}/9994`], 'at its real address, the only path');

    // B's traffic for A while the replays go on, a relayed frame of A's among them: all of it reaches A, none the attacker.
    replayers.push(await startReplayer(s.f, attacker, root.host, recorded.relayed, cleanup));
    s.b.send({ cmd: 'ping', tag: 'attack', peer: formatAddress(aId.address), count: 10, intervalMs: 200, timeoutMs: 1500 });
    await s.b.events.waitFor((l) => l.event === 'ping-done' && l.tag === 'attack', 15_000, 'the pings under attack');
    const reports = await Promise.all(replayers.map(async (r) => {
      r.proc.stdin!.end();
      return (await r.watch.waitFor((l) => l.event === 'report', 10_000, 'the replayer report')) as { received: Record<string, number>; sent: number };
    }));
    const diverted = reports.reduce((n, r) => n + (r.received[`${formatAddress(aId.address)} from ${formatAddress(bId.address)}`] ?? 0), 0);
    const answered = pings(s.b.events.lines, 'attack').filter((l) => l.event === 'ping').length;
    // B has not spoken since the restart either: its first ping may be lost while B itself is adopted.
    const lastEight = pings(s.b.events.lines, 'attack').slice(-8).filter((l) => l.event === 'ping').length;
    const peerA3 = (await rootPeers(s.f, root.host)).find((p) => p.address === formatAddress(aId.address));
    t.diagnostic(`the attacker sent ${reports.map((r) => r.sent).join(' + ')} replays and received ${reports.map((r) => JSON.stringify(r.received)).join(' + ')}; B's pings to A: ${answered}/10 answered; A's paths ${JSON.stringify(peerA3?.paths ?? null)}`);
    assert.equal(diverted, 0, 'no datagram of B for A reached the attacker');
    assert.equal(lastEight, 8, `B's pings to A flow (the last 8 answered; ${answered}/10 in all)`);
    assert.deepEqual(((peerA3?.paths ?? []) as Array<{ address: string }>).map((x) => x.address), [`${aHost.ip4}/9994`], 'A\'s only path is still its real one');
  } catch (e) {
    if (root !== undefined) t.diagnostic(`root log tail:\n${root.log.lines.slice(-15).map((l) => JSON.stringify(l)).join('\n')}`);
    throw e;
  } finally {
    for (const c of cleanup.reverse()) await c();
  }
});
