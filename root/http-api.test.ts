/**
 * The root's HTTP side on a real root with real traffic: /metrics moves by exactly what the traffic did,
 * the JSON API describes the root, health and readiness tell the truth, and the token is enforced.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type http from 'node:http';
import { existsSync } from 'node:fs';
import { Identity } from '../vl1/identity.js';
import { c25519Generate } from '../vl1/c25519.js';
import { Verb } from '../vl1/constants.js';
import { sealPacket } from '../vl1/packet.js';
import { encodeWhois } from '../vl1/verbs/whois.js';
import { toHex } from '../vl1/bytes.js';
import { signWorld, serializeWorld } from '../planet/world.js';
import { RootServer } from './root-server.js';
import { UDP_ADDON_PATH } from '../relay/udp-socket.js';
import { IdentityValidator } from './identity-validator.js';
import { createRootMetrics, classifyCounter } from './metrics.js';
import { createHttpApiHandler, listenHttpApi } from './http-api.js';
import { readVectorJson } from '../test/vectors.js';
import { RawClient } from '../test/raw-vl1-client.js';

const ids = readVectorJson<{ identities: { secret_string: string }[] }>('identities.json').identities.map((i) => Identity.fromString(i.secret_string));
const [rootId, aId, bId, cId] = ids as [Identity, Identity, Identity, Identity];
const key = c25519Generate();
const world = signWorld(
  { type: 'planet', id: 0x5eed0777n, timestamp: 1_700_000_000_000, updatesMustBeSignedBy: key.publicKey, roots: [{ identity: rootId.publicOnly(), stableEndpoints: [{ family: 4, ip: '192.0.0.1', port: 9993 }] }] },
  key,
);
const planet = serializeWorld(world);
const TOKEN = 's3cret-token';

let validator: IdentityValidator;
let root: RootServer;
let http0: http.Server;
let base = '';
const target = { root: rootId, port: () => root.port, planetId: world.id, planetTimestamp: world.timestamp };

before(async () => {
  validator = new IdentityValidator({ workers: 1 });
  root = new RootServer({ port: 0, bind4: '127.0.0.1', bind6: null }, { identity: rootId, planet, validator });
  await root.start();
  const registry = createRootMetrics(root, validator);
  const handler = createHttpApiHandler(root, registry, { token: TOKEN, version: '0.1.0-test' }, () => (root.ports.length > 0 ? [] : ['UDP sockets not bound']));
  http0 = await listenHttpApi(handler, '127.0.0.1', 0);
  base = `http://127.0.0.1:${(http0.address() as { port: number }).port}`;
});
after(async () => {
  await new Promise((r) => http0.close(r));
  await root.stop();
  await validator.close();
});

const auth = { authorization: `Bearer ${TOKEN}` };
async function scrape(): Promise<Map<string, number>> {
  const res = await fetch(`${base}/metrics`, { headers: auth });
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /text\/plain/);
  const out = new Map<string, number>();
  for (const line of (await res.text()).split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const sp = line.lastIndexOf(' ');
    out.set(line.slice(0, sp), Number(line.slice(sp + 1)));
  }
  return out;
}
const val = (m: Map<string, number>, series: string) => m.get(series) ?? 0;

test('counters in /metrics move by exactly what the traffic did', async () => {
  const before = await scrape();
  const a = await new RawClient(aId, target).open();
  const b = await new RawClient(bId, target).open();
  const c = await new RawClient(cId, target).open();
  try {
    a.send(a.hello());
    assert.ok(await a.next(5000));
    b.send(b.hello());
    assert.ok(await b.next(5000));
    // Each answers the root's probe of its new path (an ECHO), and only then is its path adopted.
    for (const [c, id] of [[a, aId], [b, bId]] as const) {
      for (let i = 0; i < 200 && root.peers.get(id.address)?.port4 !== c.port; i++) await new Promise((r) => setTimeout(r, 5));
    }
    // 3 WHOIS: 2 answered (B, the root itself), 1 miss (C is unknown)
    const k = a.keyWith(rootId);
    for (const addr of [bId.address, rootId.address, cId.address]) {
      a.send(sealPacket({ dest: rootId.address, source: aId.address, verb: Verb.WHOIS, payload: encodeWhois({ addresses: [addr] }) }, k, 3));
    }
    // 2 relayed A→B (the first introduces the pair: 2 RENDEZVOUS)
    for (let i = 0; i < 2; i++) a.send(sealPacket({ dest: bId.address, source: aId.address, verb: Verb.USER_MESSAGE, payload: new Uint8Array(8) }, a.keyWith(bId), 3));
    // 1 forged HELLO
    const forged = c.hello();
    forged[forged.length - 1]! ^= 1;
    c.send(forged);
    await a.drain(300);
    await b.drain(100);
  } finally {
    a.close();
    b.close();
    c.close();
  }
  const after = await scrape();
  const d = (s: string) => val(after, s) - val(before, s);
  assert.equal(d('ztroot_packets_total{direction="in",verb="HELLO"}'), 2);
  assert.equal(d('ztroot_packets_total{direction="in",verb="WHOIS"}'), 3);
  assert.equal(d('ztroot_whois_total{result="answered"}'), 2);
  assert.equal(d('ztroot_whois_total{result="miss"}'), 1);
  assert.equal(d('ztroot_packets_total{direction="out",verb="OK"}'), 4);
  assert.equal(d('ztroot_packets_total{direction="out",verb="ECHO"}'), 2, 'one probe of each new path');
  assert.equal(d('ztroot_packets_total{direction="in",verb="OK"}'), 2, 'each answered');
  assert.equal(d('ztroot_path_probes_total{result="confirmed"}'), 2);
  assert.equal(d('ztroot_paths_adopted_total'), 2);
  assert.equal(d('ztroot_packets_relayed_total'), 2);
  assert.equal(d('ztroot_relayed_bytes_total'), 2 * (28 + 8), 'two 36-byte datagrams');
  assert.equal(d('ztroot_rendezvous_sent_total'), 2);
  assert.equal(d('ztroot_packets_dropped_total{reason="bad_mac"}'), 1);
  assert.equal(d('ztroot_peers_added_total'), 2);
  assert.equal(val(after, 'ztroot_peers{scope="local"}'), 2);
  assert.equal(d('ztroot_identity_validations_total{result="valid"}'), 2);
  const sha = [...after.keys()].find((k) => k.startsWith('ztroot_planet_info'));
  assert.match(sha ?? '', /id="000000005eed0777",timestamp="1700000000000",sha256="[0-9a-f]{64}"/);
  assert.ok([...after.keys()].some((k) => k.startsWith('ztroot_process_cpu_seconds_total')), 'process metrics are exported');
  // No label names a peer, and no label value is a ZeroTier address (a drop reason such as reserved_address is fine).
  for (const name of after.keys()) assert.doesNotMatch(name, /[{,](address|peer|ip)="|="[0-9a-f]{10}"/, `no per-peer labels: ${name}`);
});

test('every root counter name maps to a documented family; unknown ones are kept, not lost', () => {
  assert.deepEqual(classifyCounter('drop_hop_limit'), { family: 'ztroot_packets_dropped_total', labels: { reason: 'hop_limit' } });
  assert.deepEqual(classifyCounter('tx_RENDEZVOUS'), { family: 'ztroot_packets_total', labels: { direction: 'out', verb: 'RENDEZVOUS' } });
  assert.deepEqual(classifyCounter('something_new'), { family: 'ztroot_events_total', labels: { event: 'something_new' } });
});

test('JSON API: status, paginated peers, planet (summary and file), health and readiness', async () => {
  const status = (await (await fetch(`${base}/api/status`, { headers: auth })).json()) as Record<string, unknown>;
  assert.equal(status.address, rootId.toString().slice(0, 10));
  assert.equal(status.identity, rootId.toString(false), 'public identity only');
  assert.equal(status.version, '0.1.0-test');
  assert.deepEqual(status.ports, [root.port]);
  // The UDP path in use: the batched addon, or the node:dgram fallback and why (the test run may force it).
  const forced = process.env.ZTROOT_UDP === 'dgram';
  const built = existsSync(UDP_ADDON_PATH);
  assert.deepEqual(status.udp, forced ? { path: 'dgram', why: 'ZTROOT_UDP=dgram' } : built ? { path: 'batched', why: null } : status.udp);
  if (!forced && !built) assert.match((status.udp as { why: string }).why, /is not built .* npm run build:native/);
  assert.equal((status.planet as { id: string }).id, '000000005eed0777');

  const p1 = (await (await fetch(`${base}/api/peers?limit=1`, { headers: auth })).json()) as { total: number; peers: Array<{ address: string; paths: Array<{ address: string; live: boolean }> }> };
  assert.equal(p1.total, root.peers.size);
  assert.equal(p1.peers.length, 1);
  assert.match(p1.peers[0]!.paths[0]!.address, /^127\.0\.0\.1\/\d+$/);
  assert.equal(p1.peers[0]!.paths[0]!.live, true);
  const p2 = (await (await fetch(`${base}/api/peers?offset=1&limit=1000`, { headers: auth })).json()) as { peers: Array<{ address: string }> };
  assert.equal(p2.peers.length, root.peers.size - 1);
  assert.notEqual(p2.peers[0]?.address, p1.peers[0]!.address);
  assert.equal((await fetch(`${base}/api/peers?limit=5000`, { headers: auth })).status, 400);

  const bin = new Uint8Array(await (await fetch(`${base}/api/planet?format=bin`, { headers: auth })).arrayBuffer());
  assert.equal(toHex(bin), toHex(planet));

  assert.equal((await fetch(`${base}/healthz`)).status, 200);
  const ready = await fetch(`${base}/readyz`);
  assert.equal(ready.status, 200);
  assert.deepEqual(await ready.json(), { ready: true, problems: [] });
  assert.equal((await fetch(`${base}/nope`, { headers: auth })).status, 404);
  assert.equal((await fetch(`${base}/metrics`, { method: 'POST', headers: auth })).status, 405);
});

test('the bearer token is required for /metrics and /api, not for health checks', async () => {
  assert.equal((await fetch(`${base}/metrics`)).status, 401);
  assert.equal((await fetch(`${base}/api/status`, { headers: { authorization: 'Bearer wrong' } })).status, 401);
  assert.equal((await fetch(`${base}/healthz`)).status, 200);
});
