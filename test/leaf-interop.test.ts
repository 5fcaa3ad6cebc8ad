/**
 * Our leaf (`ztroot leaf`) with the real thing: unmodified ZeroTier One 1.14.1 nodes (the binary named by
 * ZT_ONE_BIN), all on our root, each in a network namespace of its own, run as processes.
 *
 *   our root 192.0.0.1 · our leaf A 192.0.0.2 · a real leaf R 192.0.0.3 · a real node C 192.0.0.4 whose embedded
 *   controller serves a private network (created through its local API, vl2.md §9.2)
 *
 * What it checks (the acceptance lines of issue 12 that need the real client):
 *   1. controller network: A joins, is refused (ACCESS_DENIED) until authorized through C's API, then receives its
 *      managed IPv4 address and routes (on its TAP device and in its /network JSON) and pings R over IPv4 both ways;
 *   2. ad-hoc network ff0000ffff000000 (form A, 6plane only): A and R ping6 both ways and stream 20 MB each way
 *      over TCP, intact (the same SHA-256 at both ends);
 *   3. the real zerotier-cli against A's home: info, peers, listpeers, listnetworks, join, leave, with and without -j;
 *   4. A deauthorized through C's API: R stops taking its frames (the controller's revocation) and A's next config
 *      request is answered ACCESS_DENIED — its status in our API.
 * The deauthorization runs last: a deauthorized member learns it only at its next config request, 60 s after its
 * last config update (1.14's `ZT_NETWORK_AUTOCONF_DELAY`; the controller sends no ERROR without a request), so the
 * steps in between use that wait.
 *
 * Skipped, with the reason, unless ZT_ONE_BIN is set, namespaces can be made and /dev/net/tun exists.
 */
import { after, before, describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTopology, type Topology } from './netns.js';
import {
  ADHOC_NWID,
  CLIENT_PORT,
  REPO_ROOT,
  ZT_ONE_BIN,
  cli as cliIn,
  cliJson as cliJsonIn,
  dump,
  interopSkipReason,
  joinAdhoc,
  ping6,
  startClient,
  startOurRoot,
  tapSkipReason,
  waitFor,
  type Client,
  type OurRoot,
  type ZtNetwork,
} from './interop-harness.js';
import { joinAndWait, leafApi, leafLog, startOurLeaf, type LeafNetworkJson, type OurLeaf } from './leaf-harness.js';
import { tapUnavailableReason } from '../leaf/tap-access.js';
import { ipv6SixPlane } from '../vl1/mac-ip.js';
import { parseAddress } from '../vl1/address.js';

const SUITE_TIMEOUT_MS = 180_000;
const BLAST = join(REPO_ROOT, 'dist/test/tcp-blast.js');
const BLAST_BYTES = 20 * 1024 * 1024;
/** The controller network's IPv4 pool, on-link route, and a route through a gateway inside it. */
const POOL = { ipRangeStart: '10.147.17.10', ipRangeEnd: '10.147.17.250' };
const ONLINK = '10.147.17.0/24';
const ROUTED = { target: '10.147.99.0/24', via: '10.147.17.1' };
/** A network the cli joins and leaves (ad-hoc form A, ports 0x16..0x16: nothing else uses it). */
const CLI_NWID = 'ff00160016000000';

const skip = (() => {
  const why = interopSkipReason() || tapSkipReason();
  if (why !== false) return why;
  const tap = tapUnavailableReason();
  return tap === null ? false : `skipped: ${tap}`;
})();

interface NetworkJson extends LeafNetworkJson {
  routes: Array<{ target: string; via: string | null }>;
}

interface MemberJson {
  id: string;
  authorized: boolean;
  identity: string;
  ipAssignments: string[];
  vMajor: number;
  vMinor: number;
  vRev: number;
  vProto: number;
}

describe('leaf interop: our leaf with real ZeroTier One 1.14.1 nodes', { skip, timeout: SUITE_TIMEOUT_MS }, () => {
  let topo: Topology | undefined;
  let work = '';
  let root: OurRoot;
  let ours: OurLeaf;
  let real: Client;
  let ctl: Client;
  let nwid = '';
  let oursIp4 = '';
  let realIp4 = '';

  const cli = (c: Client, ...args: string[]): Promise<string> => cliIn(topo!, c, ...args);
  const cliJson = <T>(c: Client, ...args: string[]): Promise<T> => cliJsonIn<T>(topo!, c, ...args);
  /** The real zerotier-cli against our leaf's home, in its namespace. */
  const cliOurs = async (...args: string[]): Promise<string> => (await topo!.exec(ours.host.ns, ZT_ONE_BIN!, ['-q', `-D${ours.home}`, ...args])).stdout;

  /** One request to C's local API (its controller lives there), from inside C's namespace. */
  async function controller<T>(method: string, path: string, body?: object): Promise<T> {
    const token = readFileSync(join(ctl.home, 'authtoken.secret'), 'utf8').trim();
    const script = `
      const r = await fetch(process.argv[1], { method: process.argv[2], headers: { 'X-ZT1-Auth': process.argv[3] }, body: process.argv[4] || undefined });
      process.stdout.write(JSON.stringify({ status: r.status, text: await r.text() }));`;
    const { stdout } = await topo!.exec(ctl.host.ns, process.execPath, ['--input-type=module', '-e', script, `http://127.0.0.1:${CLIENT_PORT}${path}`, method, token, body === undefined ? '' : JSON.stringify(body)]);
    const r = JSON.parse(stdout) as { status: number; text: string };
    if (r.status !== 200) throw new Error(`${method} ${path} answered ${r.status} ${r.text}`);
    return JSON.parse(r.text) as T;
  }

  const ourNetwork = async (id: string): Promise<NetworkJson> => (await leafApi<NetworkJson>(topo!, ours, 'GET', `/network/${id}`)).body;

  /** IPv4 echo from `ns` to `to`: how many of `count` came back. */
  async function ping4(ns: string, to: string, count: number): Promise<number> {
    // ping exits 1 when replies are missing, and a failed exec keeps only stderr: the summary line decides.
    const out = (await topo!.exec(ns, 'sh', ['-c', `ping -4 -c ${count} -i 0.2 -W 1 ${to}; exit 0`], { timeoutMs: 15_000 })).stdout;
    const m = /(\d+) packets transmitted, (\d+) received/.exec(out);
    if (!m) throw new Error(`no ping summary: ${out}`);
    return Number(m[2]);
  }

  /** On failure: our leaf's log tail, our root's, the real nodes' state. */
  const step = (fn: (t: TestContext) => Promise<void>) => async (t: TestContext): Promise<void> => {
    try {
      await fn(t);
    } catch (e) {
      if (ours !== undefined) t.diagnostic(`our leaf's log (tail):\n${leafLog(ours).trimEnd().split('\n').slice(-40).join('\n')}`);
      await dump(topo, t, root?.log ?? '', [real, ctl].filter((c) => c !== undefined));
      throw e;
    }
  };

  before(async () => {
    work = mkdtempSync(join(tmpdir(), 'ztroot-leaf-interop-'));
    topo = await createTopology({ publicHosts: 3 });
    const [hA, hR, hC] = topo.publicHosts as [(typeof topo.publicHosts)[0], (typeof topo.publicHosts)[0], (typeof topo.publicHosts)[0]];
    root = await startOurRoot(topo, work);
    real = startClient(topo, work, 'real', hR, root);
    ctl = startClient(topo, work, 'controller', hC, root);
    ours = await startOurLeaf(topo, work, 'ours', hA, join(root.stateDir, 'planet'));
  });

  after(async () => {
    await topo?.destroy();
    if (work !== '') rmSync(work, { recursive: true, force: true });
  });

  test('our leaf and both real nodes come online through our root', { timeout: 45_000 }, step(async () => {
    await waitFor('our leaf online', 30_000, async () => ((await leafApi<{ online: boolean }>(topo!, ours, 'GET', '/status')).body.online ? true : undefined), 250);
    for (const c of [real, ctl]) {
      const info = await waitFor(`${c.host.ip4} ONLINE`, 40_000, async () => {
        const i = await cliJson<{ address: string; online: boolean }>(c, 'info');
        return i.online ? i : undefined;
      }, 500);
      c.address = info.address;
    }
  }));

  describe('a private network of the real embedded controller', () => {
    test('created through its API; our leaf joins, is refused until authorized, then configured', { timeout: 60_000 }, step(async (t) => {
      const status = await controller<{ controller: boolean }>('GET', '/controller');
      assert.equal(status.controller, true);
      const net = await controller<{ id: string; private: boolean }>('POST', `/controller/network/${ctl.address}______`, {
        name: 'leaf-interop',
        private: true,
        v4AssignMode: { zt: true },
        v6AssignMode: { zt: false, rfc4193: false, '6plane': false },
        ipAssignmentPools: [POOL],
        routes: [{ target: ONLINK, via: null }, ROUTED],
      });
      nwid = net.id;
      assert.match(nwid, new RegExp(`^${ctl.address}[0-9a-f]{6}$`));
      assert.equal(net.private, true);
      t.diagnostic(`network ${nwid}`);

      // Both members ask; neither is authorized yet: the controller answers ACCESS_DENIED and records them.
      const joined = await leafApi<NetworkJson>(topo!, ours, 'POST', `/network/${nwid}`, {});
      assert.equal(joined.status, 200);
      assert.match(await cli(real, 'join', nwid), /200 join OK/);
      await waitFor('our leaf ACCESS_DENIED before authorization', 20_000, async () => ((await ourNetwork(nwid)).status === 'ACCESS_DENIED' ? true : undefined), 250);
      const before = await controller<MemberJson>('GET', `/controller/network/${nwid}/member/${ours.address}`);
      assert.equal(before.authorized, false);
      // The controller has our leaf's identity from its request: the one in our home.
      assert.equal(before.identity, readFileSync(join(ours.home, 'identity.public'), 'utf8').trim());

      for (const c of [ours.address, real.address]) await controller('POST', `/controller/network/${nwid}/member/${c}`, { authorized: true });
      const n = await waitFor('our leaf OK with an IPv4 address', 20_000, async () => {
        const x = await ourNetwork(nwid);
        return x.status === 'OK' && x.assignedAddresses.some((a) => !a.includes(':')) ? x : undefined;
      }, 250);
      assert.equal(n.type, 'PRIVATE');
      assert.equal(n.name, 'leaf-interop');
      const r = await waitFor('the real leaf OK with an IPv4 address', 30_000, async () => {
        const x = (await cliJson<ZtNetwork[]>(real, 'listnetworks')).find((y) => (y.nwid ?? y.id) === nwid);
        return x?.status === 'OK' && x.assignedAddresses.length > 0 ? x : undefined;
      }, 500);
      realIp4 = r.assignedAddresses[0]!.split('/')[0]!;
    }));

    test('our leaf has the managed IPv4 address and routes: on its TAP device and in its /network JSON', { timeout: 30_000 }, step(async () => {
      const member = await controller<MemberJson>('GET', `/controller/network/${nwid}/member/${ours.address}`);
      assert.equal(member.authorized, true);
      assert.equal(member.ipAssignments.length, 1, JSON.stringify(member));
      // What our NETWORK_CONFIG_REQUEST's metadata said (vl2.md §2.2), as the controller recorded it.
      assert.deepEqual([member.vMajor, member.vMinor, member.vRev, member.vProto], [1, 14, 1, 12]);
      oursIp4 = member.ipAssignments[0]!;
      const n = await ourNetwork(nwid);
      // The controller gives the assigned address the prefix of the most specific route containing it (vl2.md §3.4).
      assert.deepEqual(n.assignedAddresses, [`${oursIp4}/24`]);
      assert.deepEqual(
        n.routes.map((r) => ({ target: r.target, via: r.via })),
        [{ target: ONLINK, via: null }, ROUTED],
      );
      const dev = n.portDeviceName;
      await waitFor(`${oursIp4}/24 and both routes on ${dev}`, 15_000, async () => {
        const addrs = (await topo!.exec(ours.host.ns, 'ip', ['-4', 'addr', 'show', 'dev', dev])).stdout;
        const routes = (await topo!.exec(ours.host.ns, 'ip', ['-4', 'route', 'show', 'dev', dev])).stdout;
        return addrs.includes(`inet ${oursIp4}/24`) && routes.includes(ONLINK) && routes.includes(`${ROUTED.target} via ${ROUTED.via}`) ? true : undefined;
      }, 250);
    }));

    test('our leaf and the real leaf ping each other over IPv4, both ways', { timeout: 45_000 }, step(async (t) => {
      for (const [ns, to] of [[ours.host.ns, realIp4], [real.host.ns, oursIp4]] as const) {
        // The first echo waits for ARP (multicast through the root's GATHER) and the credentials exchange.
        const t0 = Date.now();
        await waitFor(`a first IPv4 echo to ${to}`, 20_000, async () => ((await ping4(ns, to, 1)) === 1 ? true : undefined), 200);
        t.diagnostic(`first echo to ${to} after ${Date.now() - t0} ms`);
        assert.equal(await ping4(ns, to, 10), 10, `10 echoes to ${to}`);
      }
    }));
  });

  describe(`the ad-hoc network ${ADHOC_NWID} with the real leaf`, () => {
    const id = BigInt(`0x${ADHOC_NWID}`);
    const sixPlane = (address: string): string => ipv6SixPlane(id, parseAddress(address));

    test('both join; ping6 between the 6plane addresses, both ways', { timeout: 60_000 }, step(async (t) => {
      const [n] = await Promise.all([joinAndWait(topo!, ours, ADHOC_NWID, sixPlane(ours.address)), joinAdhoc(topo!, real, sixPlane(real.address))]);
      assert.deepEqual(n.assignedAddresses, [`${sixPlane(ours.address)}/40`]);
      assert.equal(n.name, 'adhoc-0000-ffff');
      for (const [ns, to] of [[ours.host.ns, sixPlane(real.address)], [real.host.ns, sixPlane(ours.address)]] as const) {
        const t0 = Date.now();
        await waitFor(`a first echo to ${to}`, 20_000, async () => ((await ping6(topo!, ns, to, 1)).received === 1 ? true : undefined), 200);
        t.diagnostic(`first echo to ${to} after ${Date.now() - t0} ms`);
        const r = await ping6(topo!, ns, to, 10);
        assert.equal(r.received, 10, r.summary);
      }
    }));

    for (const dir of ['ours → real', 'real → ours'] as const) {
      test(`a ${BLAST_BYTES >> 20} MB TCP stream ${dir} arrives whole (same SHA-256)`, { timeout: 60_000 }, step(async (t) => {
        const [from, to] = dir === 'ours → real' ? [ours.host.ns, real] : [real.host.ns, ours];
        const dst = sixPlane(to.address);
        const server = topo!.spawn(to.host.ns, process.execPath, [BLAST, 'serve', dst, '5201'], { stdio: ['ignore', 'pipe', 'inherit'] });
        let out = '';
        server.stdout!.on('data', (d: Buffer) => (out += d.toString()));
        try {
          await waitFor('the TCP server to listen', 10_000, async () => (out.includes('listening') ? true : undefined), 50);
          const sent = JSON.parse((await topo!.exec(from, process.execPath, [BLAST, 'send', dst, '5201', String(BLAST_BYTES)], { timeoutMs: 50_000 })).stdout) as { bytes: number; sha256: string; ms: number };
          const got = await waitFor('the server to report what it received', 10_000, async () => {
            const line = out.split('\n').find((l) => l.includes('sha256'));
            return line === undefined ? undefined : (JSON.parse(line) as { bytes: number; sha256: string });
          }, 100);
          assert.equal(got.bytes, BLAST_BYTES);
          assert.equal(got.sha256, sent.sha256);
          t.diagnostic(`${dir}: ${BLAST_BYTES >> 20} MB in ${sent.ms} ms (${((BLAST_BYTES * 8) / sent.ms / 1000).toFixed(0)} Mbit/s; shared machine, indicative only)`);
        } finally {
          server.kill();
        }
      }));
    }
  });

  describe('the real zerotier-cli against our leaf', () => {
    test('info, with and without -j: our address, version 1.14.1, ONLINE', { timeout: 15_000 }, step(async () => {
      assert.match(await cliOurs('info'), new RegExp(`^200 info ${ours.address} 1\\.14\\.1 ONLINE\\s*$`));
      const j = JSON.parse(await cliOurs('-j', 'info')) as { address: string; online: boolean; version: string };
      assert.equal(j.address, ours.address);
      assert.equal(j.online, true);
      assert.equal(j.version, '1.14.1');
    }));

    test('peers and listpeers, with and without -j: our root as PLANET, the real nodes as LEAF', { timeout: 15_000 }, step(async () => {
      const peers = await cliOurs('peers');
      assert.match(peers, /^200 peers\n<ztaddr>/);
      // The root's version is what it announces (ours say 0.1.0); its preferred path is either planet endpoint.
      const rootPath = `(${[topo!.root.ip4, topo!.root.ip6].filter((x) => x !== null).map((x) => x.replaceAll('.', '\\.')).join('|')})/9993`;
      assert.match(peers, new RegExp(`^${root.address} \\S+ +PLANET +\\d+ DIRECT +\\d+ +\\d+ +${rootPath}$`, 'm'));
      for (const c of [real, ctl]) assert.match(peers, new RegExp(`^${c.address} 1\\.14\\.1 LEAF `, 'm'));
      const listpeers = await cliOurs('listpeers');
      assert.match(listpeers, new RegExp(`^200 listpeers ${root.address} \\S*${rootPath}\\S* -?\\d+ \\S+ PLANET$`, 'm'));
      const j = JSON.parse(await cliOurs('-j', 'peers')) as Array<{ address: string; role: string; paths: Array<{ address: string; preferred: boolean; lastSend: number }> }>;
      const r = j.find((p) => p.address === root.address)!;
      assert.equal(r.role, 'PLANET');
      // One preferred path (the one the cli prints, the one the leaf sends on: leaf/peers.test.ts), a planet endpoint.
      const preferred = r.paths.filter((p) => p.preferred);
      assert.equal(preferred.length, 1, JSON.stringify(r.paths));
      assert.match(preferred[0]!.address, new RegExp(`^${rootPath}$`));
      for (const c of [real, ctl]) assert.equal(j.find((p) => p.address === c.address)?.role, 'LEAF');
      const jl = JSON.parse(await cliOurs('-j', 'listpeers')) as Array<{ address: string }>;
      assert.deepEqual(jl.map((p) => p.address).sort(), j.map((p) => p.address).sort());
    }));

    test('listnetworks, with and without -j: both networks, their status, type, device and addresses', { timeout: 15_000 }, step(async () => {
      const text = await cliOurs('listnetworks');
      const adhoc = await ourNetwork(ADHOC_NWID);
      const priv = await ourNetwork(nwid);
      assert.match(text, /^200 listnetworks <nwid> <name> <mac> <status> <type> <dev> <ZT assigned ips>$/m);
      assert.ok(text.includes(`200 listnetworks ${ADHOC_NWID} adhoc-0000-ffff ${(adhoc as { mac?: string }).mac} OK PUBLIC ${adhoc.portDeviceName} ${adhoc.assignedAddresses.join(',')}\n`), text);
      assert.ok(text.includes(`200 listnetworks ${nwid} leaf-interop ${(priv as { mac?: string }).mac} OK PRIVATE ${priv.portDeviceName} ${oursIp4}/24\n`), text);
      const j = JSON.parse(await cliOurs('-j', 'listnetworks')) as NetworkJson[];
      assert.deepEqual(j.map((n) => [n.id, n.status, n.type]).sort(), [[ADHOC_NWID, 'OK', 'PUBLIC'], [nwid, 'OK', 'PRIVATE']].sort());
    }));

    test('join and leave, with and without -j', { timeout: 30_000 }, step(async () => {
      assert.match(await cliOurs('join', CLI_NWID), /^200 join OK\s*$/);
      await waitFor(`${CLI_NWID} OK in listnetworks`, 15_000, async () => (new RegExp(`^200 listnetworks ${CLI_NWID} adhoc-0016-0016 \\S+ OK PUBLIC zt\\w+ \\S+/40$`, 'm').test(await cliOurs('listnetworks')) ? true : undefined), 250);
      assert.match(await cliOurs('leave', CLI_NWID), /^200 leave OK\s*$/);
      assert.doesNotMatch(await cliOurs('listnetworks'), new RegExp(CLI_NWID));
      const j = JSON.parse(await cliOurs('-j', 'join', CLI_NWID)) as { id: string; status: string };
      assert.equal(j.id, CLI_NWID);
      assert.ok(['REQUESTING_CONFIGURATION', 'OK'].includes(j.status), j.status);
      assert.ok((JSON.parse(await cliOurs('-j', 'listnetworks')) as NetworkJson[]).some((n) => n.id === CLI_NWID));
      const left = JSON.parse(await cliOurs('-j', 'leave', CLI_NWID)) as { result?: boolean };
      assert.equal(left.result, true);
      assert.ok(!(JSON.parse(await cliOurs('-j', 'listnetworks')) as NetworkJson[]).some((n) => n.id === CLI_NWID));
    }));
  });

  test('deauthorized through the controller API: frames stop, and our leaf reaches ACCESS_DENIED', { timeout: 90_000 }, step(async (t) => {
    await controller('POST', `/controller/network/${nwid}/member/${ours.address}`, { authorized: false });
    const t0 = Date.now();
    // The controller revokes our COM at every online member (vl2.md §4.4): the real leaf stops taking our frames.
    await waitFor('IPv4 echoes between our leaf and the real leaf to stop', 15_000, async () => ((await ping4(ours.host.ns, realIp4, 2)) === 0 ? true : undefined), 200);
    t.diagnostic(`frames stopped ${Date.now() - t0} ms after the deauthorization`);
    // Our next config request (due 60 s after the last config update, ticks every 5 s) is answered ACCESS_DENIED.
    await waitFor('our leaf ACCESS_DENIED', 70_000, async () => ((await ourNetwork(nwid)).status === 'ACCESS_DENIED' ? true : undefined), 500);
    t.diagnostic(`ACCESS_DENIED ${Date.now() - t0} ms after the deauthorization`);
    assert.equal(await ping4(ours.host.ns, realIp4, 3), 0, 'no echo from the real leaf');
    assert.equal(await ping4(real.host.ns, oursIp4, 3), 0, 'no echo from our leaf');
    assert.match(await cliOurs('listnetworks'), new RegExp(`^200 listnetworks ${nwid} leaf-interop \\S+ ACCESS_DENIED PRIVATE `, 'm'));
  }));
});
