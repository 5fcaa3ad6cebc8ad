/**
 * The fleet on separate hosts with real ZeroTier One 1.14.1 leaves (ZT_ONE_BIN), in the topology of
 * test/fleet-hosts.ts: roots each in a namespace of their own with one hostname, Redis on another host, every root
 * started with nothing but `--fleet-redis`; leaf 1 reaches only the first root, leaf 2 only the last, and the
 * leaves cannot reach each other. Both join the ad-hoc network and leaf 1 pings leaf 2's 6PLANE address:
 *
 * - the first echo reply comes within 1 s of the first ping (both leaves ONLINE, both on the network);
 * - 200 pings at 5/s lose < 1 %;
 * - every root's location look-ups stay bounded (from /metrics);
 * - once the block between the leaves is lifted, each lists the other over a DIRECT path within 6 s.
 *
 * Two roots; three roots (leaves on the first and the third, the second idle); one root identity served by two hosts.
 * And a rolling restart's step with real leaves (root/peer-adoption.ts): one root relaying for both leaves is
 * restarted; the pings are answered again within RESUME_WITHIN_MS, not at the leaves' next HELLO (~225 s).
 * Skipped, saying why, without ZT_ONE_BIN, root, or /dev/net/tun.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, openSync, closeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { once } from 'node:events';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { Identity } from '../vl1/identity.js';
import { ipv6SixPlane } from '../vl1/mac-ip.js';
import { parseAddress } from '../vl1/address.js';
import { redisUnavailableReason, type RedisServer } from './redis.js';
import { readVectorJson } from './vectors.js';
import { ADHOC_NWID, CLIENT_PORT, cliJson, interopSkipReason, joinAdhoc, sleep, tapSkipReason, uniq, waitFor, ZT_ONE_BIN, type Client, type ZtPeer } from './interop-harness.js';
import { block, createFleetHosts, ipsOf, makePlanet, metricValue, scrapeMetrics, startRedisHost, startRootProcess, type FleetHosts, type RootProcess } from './fleet-hosts.js';
import type { Host, Topology } from './netns.js';

const skip = interopSkipReason() || tapSkipReason() || (redisUnavailableReason() ?? false);
if (skip) console.log(`# interop-fleet tests ${skip}`);

const ids = readVectorJson<{ identities: { secret_string: string }[] }>('identities.json').identities.map((i) => Identity.fromString(i.secret_string));

const PINGS = 200;
const FIRST_REPLY_MS = 1000;
const MAX_LOSS = 0.01;
const DIRECT_WITHIN_MS = 6000;
const MAX_LOCATION_LOOKUPS = 100;
/** A restarted root relays for the real leaves it held again within this long (their next HELLO is ~225 s away). */
const RESUME_WITHIN_MS = 3000;

function startRealLeaf(topo: Topology, work: string, name: string, host: Host, planet: Uint8Array): Client {
  const home = join(work, name);
  mkdirSync(home);
  writeFileSync(join(home, 'planet'), planet);
  const log = join(work, `${name}.log`);
  const fd = openSync(log, 'w');
  topo.spawn(host.ns, ZT_ONE_BIN!, ['-U', `-p${CLIENT_PORT}`, home], { stdio: ['ignore', fd, fd] });
  closeSync(fd);
  return { host, home, log, address: '' };
}

/** `ping -6 -D` from `ns`: how many were answered, and when the first answer came (ms after the first ping). */
async function pingRun(topo: Topology, ns: string, to: string, count: number): Promise<{ sent: number; received: number; firstReplyMs: number; summary: string }> {
  const started = Date.now();
  // Spawned rather than exec'd: ping exits 1 when replies are missing, and its stdout still holds the counts.
  const p = topo.spawn(ns, 'ping', ['-6', '-D', '-c', String(count), '-i', '0.2', '-W', '2', to], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  p.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  p.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  await new Promise<void>((resolve) => p.once('exit', () => resolve()));
  const m = /(\d+) packets transmitted, (\d+) received/.exec(out);
  if (!m) throw new Error(`no ping summary: ${out.slice(-500)}`);
  const firstReply = /^\[(\d+\.\d+)\] \d+ bytes from/m.exec(out);
  const firstReplyMs = firstReply ? Math.round(Number(firstReply[1]) * 1000 - started) : Infinity;
  return { sent: Number(m[1]), received: Number(m[2]), firstReplyMs, summary: m[0] };
}

async function directPathTo(topo: Topology, from: Client, to: Client): Promise<string[] | undefined> {
  const p = (await cliJson<ZtPeer[]>(topo, from, 'peers')).find((x) => x.address === to.address);
  const ips = ipsOf(to.host);
  const live = (p?.paths ?? []).filter((x) => x.active === true && x.expired !== true).map((x) => x.address);
  return live.some((a) => ips.includes(a.slice(0, a.lastIndexOf('/')))) ? uniq(live) : undefined;
}

async function runShape(t: TestContext, rootIdentities: Identity[], leafRoot: [number, number]): Promise<void> {
  const work = mkdtempSync(join(tmpdir(), 'ztroot-interop-fleet-'));
  let f: FleetHosts | undefined;
  let redis: RedisServer | undefined;
  const roots: RootProcess[] = [];
  const clients: Client[] = [];
  try {
    f = await createFleetHosts(rootIdentities.length, 2);
    const fh = f;
    const distinct = [...new Map(rootIdentities.map((id) => [id.address, id])).values()];
    const planet = makePlanet(distinct.map((id) => ({ identity: id, hosts: fh.roots.filter((_, i) => rootIdentities[i]!.address === id.address) })));
    redis = await startRedisHost(f);
    for (const [i, host] of f.roots.entries()) roots.push(await startRootProcess(f, host, join(work, `root${i}`), rootIdentities[i]!, planet.bytes, redis.url));
    const lifts: Array<() => Promise<void>> = [];
    for (const [k, leafHost] of f.leaves.entries()) {
      await block(f.topo, leafHost, f.roots.filter((_, i) => i !== leafRoot[k]).flatMap(ipsOf));
      lifts.push(await block(f.topo, leafHost, ipsOf(f.leaves[1 - k]!)));
    }
    for (const [k, h] of f.leaves.entries()) clients.push(startRealLeaf(f.topo, work, `leaf${k}`, h, planet.bytes));
    for (const c of clients) {
      const info = await waitFor(`${c.host.ip4} ONLINE`, 60_000, async () => {
        const i = await cliJson<{ address: string; online: boolean }>(fh.topo, c, 'info');
        return i.online ? i : undefined;
      });
      c.address = info.address;
    }
    const nwid = BigInt(`0x${ADHOC_NWID}`);
    const sixPlane = (c: Client): string => ipv6SixPlane(nwid, parseAddress(c.address));
    for (const c of clients) await joinAdhoc(f.topo, c, sixPlane(c));
    const [a, b] = clients as [Client, Client];

    const run = await pingRun(f.topo, a.host.ns, sixPlane(b), PINGS);
    const loss = (run.sent - run.received) / run.sent;
    t.diagnostic(`relayed across roots: ${run.summary}; first reply ${run.firstReplyMs} ms after the first ping`);
    const metrics = await Promise.all(f.roots.map((h) => scrapeMetrics(fh, h)));
    const lookups = metrics.map((m) => metricValue(m, 'ztroot_fleet_operations_total', { op: 'location_lookup' }));
    t.diagnostic(`location look-ups per root: ${lookups.join(', ')}; fleet_hold_full drops: ${metrics.map((m) => metricValue(m, 'ztroot_packets_dropped_total', { reason: 'fleet_hold_full' })).join(', ')}`);

    // Lift the block with traffic flowing, and time how long until both list each other over a DIRECT path.
    for (const lift of lifts) await lift();
    const liftedAt = Date.now();
    const traffic = pingRun(fh.topo, a.host.ns, sixPlane(b), 60);
    let directMs = Infinity;
    try {
      await waitFor('a DIRECT path both ways', 12_000, async () => ((await directPathTo(fh.topo, a, b)) && (await directPathTo(fh.topo, b, a)) ? true : undefined), 250);
      directMs = Date.now() - liftedAt;
    } catch {
      /* asserted below, with the figure */
    }
    await traffic;
    t.diagnostic(`DIRECT both ways ${directMs} ms after lifting the block`);

    assert.ok(run.firstReplyMs <= FIRST_REPLY_MS, `first reply within ${FIRST_REPLY_MS} ms of the first ping: ${run.firstReplyMs} ms`);
    assert.ok(loss < MAX_LOSS, `loss must be < ${MAX_LOSS * 100} %: ${run.summary}`);
    for (const [i, n] of lookups.entries()) assert.ok(n <= MAX_LOCATION_LOOKUPS, `root ${i}: ${n} location look-ups (bounded: ≤ ${MAX_LOCATION_LOOKUPS})`);
    assert.ok(directMs <= DIRECT_WITHIN_MS, `DIRECT within ${DIRECT_WITHIN_MS} ms of lifting the block: ${directMs} ms`);
  } catch (e) {
    for (const r of roots) t.diagnostic(`root ${r.host.ip4} log tail:\n${r.log.lines.slice(-10).map((l) => JSON.stringify(l)).join('\n')}`);
    for (const c of clients) t.diagnostic(`leaf ${c.host.ip4} output:\n${readFileSync(c.log, 'utf8').slice(-1500)}`);
    throw e;
  } finally {
    await f?.topo.destroy();
    await redis?.stop();
    await sleep(100);
    rmSync(work, { recursive: true, force: true });
  }
}

test('real leaves, two roots on two hosts', { skip, timeout: 240_000 }, async (t) => {
  await runShape(t, [ids[0]!, ids[1]!], [0, 1]);
});

test('real leaves, three roots: leaves on the first and the third, the second idle', { skip, timeout: 240_000 }, async (t) => {
  await runShape(t, [ids[0]!, ids[1]!, ids[2]!], [0, 2]);
});

test('real leaves, one root identity served by two hosts', { skip, timeout: 240_000 }, async (t) => {
  await runShape(t, [ids[0]!, ids[0]!], [0, 1]);
});

test('real leaves: a restarted root relays for them again within seconds, not at their next HELLO', { skip, timeout: 240_000 }, async (t) => {
  const work = mkdtempSync(join(tmpdir(), 'ztroot-interop-restart-'));
  let f: FleetHosts | undefined;
  let redis: RedisServer | undefined;
  let root: RootProcess | undefined;
  const clients: Client[] = [];
  try {
    f = await createFleetHosts(1, 2);
    const fh = f;
    const planet = makePlanet([{ identity: ids[0]!, hosts: [f.roots[0]!] }]);
    redis = await startRedisHost(f);
    root = await startRootProcess(f, f.roots[0]!, join(work, 'root'), ids[0]!, planet.bytes, redis.url);
    for (const [k, leafHost] of f.leaves.entries()) await block(f.topo, leafHost, ipsOf(f.leaves[1 - k]!));
    for (const [k, h] of f.leaves.entries()) clients.push(startRealLeaf(f.topo, work, `leaf${k}`, h, planet.bytes));
    for (const c of clients) {
      c.address = (await waitFor(`${c.host.ip4} ONLINE`, 60_000, async () => {
        const i = await cliJson<{ address: string; online: boolean }>(fh.topo, c, 'info');
        return i.online ? i : undefined;
      })).address;
    }
    const nwid = BigInt(`0x${ADHOC_NWID}`);
    const sixPlane = (c: Client): string => ipv6SixPlane(nwid, parseAddress(c.address));
    for (const c of clients) await joinAdhoc(f.topo, c, sixPlane(c));
    const [a, b] = clients as [Client, Client];
    const before = await pingRun(f.topo, a.host.ns, sixPlane(b), 10);
    t.diagnostic(`relayed before the restart: ${before.summary}`);
    assert.ok(before.received > 0, 'the leaves met through the root');

    root.proc.kill('SIGTERM');
    if (root.proc.exitCode === null) await once(root.proc, 'exit');
    root = await startRootProcess(f, root.host, root.home, ids[0]!, planet.bytes, redis.url);
    const after = await pingRun(f.topo, a.host.ns, sixPlane(b), 40);
    const metrics = await scrapeMetrics(fh, root.host);
    t.diagnostic(`after the restart: ${after.summary}; first reply ${after.firstReplyMs} ms after the first ping; adoptions ${metricValue(metrics, 'ztroot_peer_adoptions_total')}, probes ${metricValue(metrics, 'ztroot_peer_adoption_probes_total')}`);
    assert.ok(after.firstReplyMs <= RESUME_WITHIN_MS, `relaying resumed within ${RESUME_WITHIN_MS} ms: first reply ${after.firstReplyMs} ms after the first ping`);
    assert.equal(metricValue(metrics, 'ztroot_peer_adoptions_total'), 2, 'both real leaves adopted');
  } catch (e) {
    if (root !== undefined) t.diagnostic(`root log tail:\n${root.log.lines.slice(-10).map((l) => JSON.stringify(l)).join('\n')}`);
    for (const c of clients) t.diagnostic(`leaf ${c.host.ip4} output:\n${readFileSync(c.log, 'utf8').slice(-1500)}`);
    throw e;
  } finally {
    await f?.topo.destroy();
    await redis?.stop();
    await sleep(100);
    rmSync(work, { recursive: true, force: true });
  }
});
