/**
 * Path hijack by replay, as an attacker would try it: our root as a process on its host, leaf A behind a NAT, leaf
 * B on another host, the two unable to reach each other directly (so B's traffic to A is relayed by the root), and
 * an attacker on a third host who replays authentic packets of A — a HELLO, and suite-3 WHOIS and ECHO to the root —
 * once a second from its own address, while B pings A at 5/s:
 *
 * - none of B's relayed packets reach the attacker, B's pings lose nothing, and no RENDEZVOUS names the attacker;
 * - roaming still works: A's NAT changes its public address (a new WAN address, as after a DHCP renewal), A sends
 *   one packet to the root, and B's pings reach A at its new address one probe round trip later.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Identity } from '../vl1/identity.js';
import { PeerKey } from '../vl1/peer-key.js';
import { Verb } from '../vl1/constants.js';
import { toHex } from '../vl1/bytes.js';
import { formatAddress } from '../vl1/address.js';
import { sealPacket } from '../vl1/packet.js';
import { encodeWhois } from '../vl1/verbs/whois.js';
import { createTopology, netnsUnavailableReason, type Topology } from './netns.js';
import { readVectorJson, REPO_ROOT } from './vectors.js';
import { block, makePlanet, startLeaf, startRootProcess, type LeafProcess, type RootProcess } from './fleet-hosts.js';
import { watchJsonLines, type JsonLine } from './json-lines.js';
import { RawClient } from './raw-vl1-client.js';

const skip = netnsUnavailableReason() ?? false;
if (skip) console.log(`# path hijack tests skipped: ${skip}`);

const ids = readVectorJson<{ identities: { secret_string: string }[] }>('identities.json').identities.map((i) => Identity.fromString(i.secret_string));
const [rootId, aId, bId] = [ids[0]!, ids[5]!, ids[6]!];
const REPLAYER = join(REPO_ROOT, 'dist', 'test', 'replayer.js');

/** Authentic packets of A to the root, as a recording would hold them: its HELLO, a WHOIS and an ECHO (suite 3). */
function recordedPacketsOfA(planet: ReturnType<typeof makePlanet>): Uint8Array[] {
  const raw = new RawClient(aId, { root: rootId, port: () => 9993, planetId: planet.world.id, planetTimestamp: planet.world.timestamp });
  const hello = raw.hello({ port: 9993 });
  raw.close();
  const key = new PeerKey(aId.agree(rootId));
  const whois = sealPacket({ dest: rootId.address, source: aId.address, verb: Verb.WHOIS, payload: encodeWhois({ addresses: [bId.address] }) }, key, 3);
  const echo = sealPacket({ dest: rootId.address, source: aId.address, verb: Verb.ECHO, payload: new Uint8Array([1, 2, 3, 4]) }, key, 3);
  return [hello, whois, echo];
}

function pings(lines: JsonLine[], tag: string): JsonLine[] {
  return lines.filter((l) => (l.event === 'ping' || l.event === 'ping-failed') && l.tag === tag).sort((x, y) => (x.seq as number) - (y.seq as number));
}

test('a replayed packet of a peer, from another address, diverts none of its traffic; roaming still moves the path', { skip, timeout: 120_000 }, async (t) => {
  const work = mkdtempSync(join(tmpdir(), 'ztroot-hijack-'));
  let topo: Topology | undefined;
  let root: RootProcess | undefined;
  const leaves: LeafProcess[] = [];
  try {
    topo = await createTopology({ publicHosts: 2, nats: [{ clients: 1 }], ipv6: false });
    const tp = topo;
    const [bHost, attacker] = topo.publicHosts as [Topology['publicHosts'][0], Topology['publicHosts'][0]];
    const router = topo.nats[0]!;
    const aHost = router.clients[0]!;
    const planet = makePlanet([{ identity: rootId, hosts: [topo.root] }]);
    root = await startRootProcess({ topo }, topo.root, join(work, 'root'), rootId, planet.bytes, '');
    // A and B cannot reach each other: everything between them goes through the root.
    await block(topo, aHost, [bHost.ip4]);
    await block(topo, bHost, [router.publicIp4]);
    const b = await startLeaf({ topo: tp }, bHost, bId, planet.bytes);
    const a = await startLeaf({ topo: tp }, aHost, aId, planet.bytes);
    leaves.push(a, b);

    // The attack: A's recorded packets, replayed from the attacker's address once a second.
    const replayer = tp.spawn(attacker.ns, process.execPath, [REPLAYER, JSON.stringify({ bind: attacker.ip4, to: tp.root.ip4, port: 9993, packetsHex: recordedPacketsOfA(planet).map(toHex), intervalMs: 1000 })], { stdio: ['pipe', 'pipe', 'pipe'] });
    const replay = watchJsonLines(replayer, 'replayer');
    await replay.waitFor((l) => l.event === 'ready', 10_000, 'the replayer');
    b.send({ cmd: 'ping', tag: 'attack', peer: formatAddress(aId.address), count: 50, intervalMs: 200, timeoutMs: 2000 });
    await b.events.waitFor((l) => l.event === 'ping-done' && l.tag === 'attack', 30_000, 'the pings under attack');
    replayer.stdin!.end();
    const report = await replay.waitFor((l) => l.event === 'report', 10_000, 'the replayer report');
    const underAttack = pings(b.events.lines, 'attack');
    const lost = underAttack.filter((l) => l.event !== 'ping').length;
    // The root's answers to the replayed requests go where they came from (as any reply does): what must not reach
    // the attacker is B's traffic for A.
    const received = report.received as Record<string, number>;
    const diverted = received[`${formatAddress(aId.address)} from ${formatAddress(bId.address)}`] ?? 0;
    t.diagnostic(`the attacker received: ${JSON.stringify(received)}`);
    const rendezvous = b.events.lines.filter((l) => l.event === 'rendezvous').map((l) => String(l.endpoint));
    t.diagnostic(`under attack (${String(report.sent)} replayed packets): ${lost}/50 pings lost, ${diverted} of B's packets for A reached the attacker; RENDEZVOUS to B named ${[...new Set(rendezvous)].join(', ') || 'nothing'}`);
    assert.equal(diverted, 0, 'no datagram for A reached the attacker');
    assert.ok(lost <= 1, `B's pings to A kept flowing: ${lost}/50 lost`);
    assert.ok(rendezvous.length > 0, 'B was introduced to A');
    assert.ok(rendezvous.every((e) => e.startsWith(`${router.publicIp4}/`)), `every RENDEZVOUS named A's real address ${router.publicIp4}: ${rendezvous.join(', ')}`);

    // Roaming: A's NAT gets a new public address; A's next packet to the root comes from there.
    b.send({ cmd: 'ping', tag: 'roam', peer: formatAddress(aId.address), count: 60, intervalMs: 200, timeoutMs: 2000 });
    await new Promise((r) => setTimeout(r, 2000));
    const newIp = '192.0.0.100';
    // Removed first: deleting a subnet's primary address would take a secondary one with it.
    await tp.exec(router.ns, 'ip', ['addr', 'del', `${router.publicIp4}/25`, 'dev', 'wan0']);
    await tp.exec(router.ns, 'ip', ['addr', 'add', `${newIp}/25`, 'dev', 'wan0']);
    await block(tp, bHost, [newIp]); // still no direct path between A and B
    const movedAt = Date.now();
    a.send({ cmd: 'whois', peer: formatAddress(bId.address) });
    await b.events.waitFor((l) => l.event === 'ping-done' && l.tag === 'roam', 30_000, 'the pings while A roams');
    const roam = pings(b.events.lines, 'roam');
    const back = roam.find((l) => l.event === 'ping' && (l.sentAt as number) >= movedAt);
    const tookMs = back === undefined ? Infinity : (back.sentAt as number) + (back.rttMs as number) - movedAt;
    const tail = roam.slice(-20);
    t.diagnostic(`roaming: B reached A at its new address ${tookMs} ms after A's first packet from there; the last 20 pings: ${tail.filter((l) => l.event === 'ping').length} answered`);
    assert.ok(tookMs < 2000, `A's new address adopted within a probe round trip of its first packet (${tookMs} ms)`);
    assert.equal(tail.filter((l) => l.event === 'ping').length, 20, 'pings flow again at the new address');
  } catch (e) {
    if (root !== undefined) t.diagnostic(`root log tail:\n${root.log.lines.slice(-15).map((l) => JSON.stringify(l)).join('\n')}`);
    throw e;
  } finally {
    for (const l of leaves) l.proc.stdin?.end();
    await topo?.destroy();
    rmSync(work, { recursive: true, force: true });
  }
});
