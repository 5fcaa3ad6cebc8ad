/**
 * Our local API against a REAL zerotier-one 1.14.1's (ZT_ONE_BIN), to the byte: a real node runs in a network
 * namespace with our root as its planet and joins the ad-hoc network; its answers to /status, /peer,
 * /network, /health, /moon, /config are read with the real zerotier-cli. Then the same state (every value
 * copied from those answers) is put into an in-memory LeafModel (test/test-leaf-model.ts — the real leaf does
 * not exist yet) behind our API, and our answers must be the same bytes (clocks aside), and the real
 * zerotier-cli must print the same lines for both.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseMac } from '../vl1/mac-ip.js';
import { ipv6SixPlane } from '../vl1/mac-ip.js';
import { createTopology, type Topology } from '../test/netns.js';
import { ADHOC_NWID, cli, dump, interopSkipReason, joinAdhoc, startClient, startOurRoot, tapSkipReason, waitFor, ZT_ONE_BIN, type Client, type OurRoot } from '../test/interop-harness.js';
import { TestLeafModel } from '../test/test-leaf-model.js';
import type { LeafNetwork, LeafPeer, NetworkStatus } from './model.js';
import { LeafHome } from './home.js';
import { startLocalApi, type LocalApi } from './local-api.js';
import { HostPolicy } from '../root/host-check.js';

/** The product's Host policy (tools/leaf.ts passes the same). */
const hostPolicy = (listenHost: string): HostPolicy => new HostPolicy(listenHost);

const skip = interopSkipReason() || tapSkipReason();

/* eslint-disable @typescript-eslint/no-explicit-any */
type J = any;

/** The model state that makes our API say what the real node said. */
function modelFrom(statusText: string, peers: J[], networks: J[]): TestLeafModel {
  const s = JSON.parse(statusText);
  const settings = s.config.settings;
  const m = new TestLeafModel({
    address: parseInt(s.address, 16),
    publicIdentity: s.publicIdentity,
    online: s.online,
    tcpFallbackActive: s.tcpFallbackActive,
    // From the text: JSON.parse would round a 64-bit id.
    planetWorldId: BigInt(/"planetWorldId":(\d+)/.exec(statusText)![1]!),
    planetWorldTimestamp: s.planetWorldTimestamp,
    version: { major: s.versionMajor, minor: s.versionMinor, revision: s.versionRev, build: s.versionBuild },
    homeDir: settings.homeDir,
    primaryPort: settings.primaryPort,
    secondaryPort: settings.secondaryPort,
    tertiaryPort: settings.tertiaryPort,
    portMappingEnabled: settings.portMappingEnabled,
    allowTcpFallbackRelay: settings.allowTcpFallbackRelay,
    forceTcpRelay: settings.forceTcpRelay,
    listeningOn: settings.listeningOn,
    surfaceAddresses: settings.surfaceAddresses,
  });
  m.peerList = peers.map(
    (p): LeafPeer => ({
      address: parseInt(p.address, 16),
      role: p.role,
      version: p.versionMajor < 0 ? null : { major: p.versionMajor, minor: p.versionMinor, revision: p.versionRev },
      latencyMs: p.latency < 0 ? null : p.latency,
      tunneled: p.tunneled,
      paths: p.paths.map((x: J) => ({ address: x.address, lastReceive: x.lastReceive, lastSend: x.lastSend, preferred: x.preferred, expired: x.expired, localSocket: x.localSocket })),
    }),
  );
  for (const n of networks) {
    const net: LeafNetwork = {
      nwid: BigInt(`0x${n.nwid}`),
      mac: parseMac(n.mac),
      name: n.name,
      status: n.status as NetworkStatus,
      type: n.type,
      mtu: n.mtu,
      broadcastEnabled: n.broadcastEnabled,
      bridge: n.bridge,
      portError: n.portError,
      netconfRevision: n.netconfRevision,
      portDeviceName: n.portDeviceName,
      assignedAddresses: n.assignedAddresses,
      routes: n.routes.map((r: J) => ({ target: r.target, via: r.via, flags: r.flags, metric: r.metric })),
      multicastSubscriptions: n.multicastSubscriptions.map((x: J) => ({ mac: parseMac(x.mac), adi: x.adi })),
      dns: n.dns,
      settings: { allowManaged: n.allowManaged, allowGlobal: n.allowGlobal, allowDefault: n.allowDefault, allowDNS: n.allowDNS },
    };
    m.nets.set(net.nwid, net);
  }
  return m;
}

const noClock = (text: string) => text.replace(/"clock":\d+/, '"clock":0');
/** Values that move between two reads of the same node (JSON text, possibly inside a JSON string). */
const masked = (text: string) => text.replace(/(\\?"(?:clock|lastSend|lastReceive|latency)\\?":)-?\d+/g, '$10');

/** Each value's JSON type, recursively (arrays by their first element): what a strict reader casts. */
function shape(v: J): J {
  if (v === null) return 'null';
  if (Array.isArray(v)) return v.length === 0 ? '[]' : [shape(v[0])];
  if (typeof v === 'object') return Object.fromEntries(Object.keys(v).sort().map((k) => [k, shape(v[k])]));
  return typeof v;
}

/** zerotier-cli against our API, in this (the host's) namespace: -p and -T, as a user may. */
function ourCli(api: LocalApi, token: string, ...args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(ZT_ONE_BIN!, ['-q', `-p${api.port}`, `-T${token}`, ...args], { timeout: 20_000 }, (err, stdout) => (err ? reject(err) : resolve(stdout)));
  });
}

/** `peers` lines without the lastTX/lastRX columns (they are "ms ago" at print time). */
const peersLines = (out: string) => out.trimEnd().split('\n').map((l) => l.replace(/ (DIRECT|RELAY) +-?\d+ +-?\d+ +/, ' $1 <tx> <rx> '));
const listpeersLines = (out: string) => out.trimEnd().split('\n').map((l) => l.replace(/;-?\d+;-?\d+ /, ';<tx>;<rx> '));

test('our API answers what a real zerotier-one 1.14.1 answers for the same state, byte for byte; the real zerotier-cli prints the same for both', { skip, timeout: 120_000 }, async (tc) => {
  const work = mkdtempSync(join(tmpdir(), 'leaf-api-interop-'));
  let t: Topology | undefined;
  let root: OurRoot | undefined;
  let c: Client | undefined;
  let api: LocalApi | undefined;
  try {
    t = await createTopology({ publicHosts: 1 });
    root = await startOurRoot(t, work);
    c = startClient(t, work, 'real', t.publicHosts[0]!, root);
    const info = await waitFor('the real node ONLINE with our root', 60_000, async () => {
      const out = await cli(t!, c!, 'info');
      return /ONLINE/.test(out) ? out : undefined;
    }, 500);
    c.address = info.split(' ')[2]!;
    const joinText = await cli(t, c, '-j', 'join', ADHOC_NWID); // the answer to the join of a new network
    await joinAdhoc(t, c, ipv6SixPlane(BigInt(`0x${ADHOC_NWID}`), parseInt(c.address, 16)));
    // Wait for the root's path to be preferred, so paths are compared with something in them.
    await waitFor('a preferred path to our root', 30_000, async () => {
      const p = JSON.parse(await cli(t!, c!, '/peer')) as J[];
      return p.some((x) => x.paths.some((y: J) => y.preferred)) ? true : undefined;
    }, 500);

    // One snapshot of the real node. Timers move between two reads (lastSend, latency, clock): those are masked
    // where two reads are compared; the snapshot is retaken until nothing else changed while it was read.
    const read = async () => ({
      status: await cli(t!, c!, '/status'),
      peer: await cli(t!, c!, '/peer'),
      network: await cli(t!, c!, '/network'),
      peerOne: await cli(t!, c!, `/peer/${root!.address}`),
      networkOne: await cli(t!, c!, `/network/${ADHOC_NWID}`),
      health: await cli(t!, c!, '/health'),
      moon: await cli(t!, c!, '/moon'),
      config: await cli(t!, c!, '/config'),
      unknownPeer: await cli(t!, c!, '/peer/0000000001'),
    });
    const real = await waitFor('a snapshot of the real node that holds still while read', 20_000, async () => {
      const a = await read();
      const b = await read();
      return masked(JSON.stringify(a)) === masked(JSON.stringify(b)) ? a : undefined;
    }, 200);
    const peers = JSON.parse(real.peer) as J[];
    const nets = JSON.parse(real.network) as J[];
    const realCli = {
      info: await cli(t, c, 'info'),
      peers: await cli(t, c, 'peers'),
      listpeers: await cli(t, c, 'listpeers'),
      listnetworks: await cli(t, c, 'listnetworks'),
    };
    tc.diagnostic(`real /peer: ${real.peer}`);
    tc.diagnostic(`real /network: ${real.network}`);

    // Our API: a home with no local.conf (as the real one has none), the model holding the real node's state.
    const homeDir = join(work, 'ours');
    mkdirSync(homeDir);
    copyFileSync(join(root.stateDir, 'planet'), join(homeDir, 'planet'));
    const home = LeafHome.open(homeDir);
    const m = modelFrom(real.status, peers, nets);
    api = await startLocalApi(m, { port: 0, authToken: home.authToken, metricsToken: home.metricsToken, config: home, hostPolicy });
    const ours = async (path: string) => {
      const r = await fetch(`http://127.0.0.1:${api!.port}${path}`, { headers: { 'x-zt1-auth': home.authToken } });
      return r.text();
    };

    assert.equal(noClock(await ours('/status')), noClock(real.status));
    assert.equal(await ours('/peer'), real.peer);
    assert.equal(masked(await ours(`/peer/${root.address}`)), masked(real.peerOne));
    assert.equal(await ours('/peer/0000000001'), real.unknownPeer);
    assert.equal(await ours('/network'), real.network);
    assert.equal(await ours(`/network/${ADHOC_NWID}`), real.networkOne);
    assert.equal(noClock(await ours('/health')), noClock(real.health));
    assert.equal(await ours('/moon'), real.moon);
    assert.equal(await ours('/config'), real.config);
    // A join of a new network: the same keys and types (values differ: the real one had made its TAP already).
    const ourJoin = await (await fetch(`http://127.0.0.1:${api.port}/network/ff00160016000000`, { method: 'POST', body: '{}', headers: { 'x-zt1-auth': home.authToken } })).text();
    assert.deepEqual(shape(JSON.parse(ourJoin)), shape(JSON.parse(joinText)));
    m.nets.delete(0xff00160016000000n);
    // What was compared had content: a path, an assigned address (else the element types went unchecked).
    assert.ok(peers.some((p) => p.paths.length > 0) && nets[0].assignedAddresses.length > 0);

    // The real zerotier-cli prints the same lines for ours as for the real node (timing columns aside).
    assert.equal(await ourCli(api, home.authToken, 'info'), realCli.info);
    assert.deepEqual(peersLines(await ourCli(api, home.authToken, 'peers')), peersLines(realCli.peers));
    assert.deepEqual(listpeersLines(await ourCli(api, home.authToken, 'listpeers')), listpeersLines(realCli.listpeers));
    assert.equal(await ourCli(api, home.authToken, 'listnetworks'), realCli.listnetworks);
  } catch (e) {
    if (root !== undefined) await dump(t, tc, root.log, c === undefined ? [] : [c]);
    throw e;
  } finally {
    await api?.close();
    await t?.destroy();
    rmSync(work, { recursive: true, force: true });
  }
});
