/**
 * `ztroot doctor` against a real fabric, run as an operator runs it: three roots in a fleet (Redis started
 * here), each with its TCP/443 relay, every one a `ztroot start` process in a namespace of its own, and the
 * doctor a `ztroot doctor --json` process on client hosts behind (a) no NAT, (b) a cone NAT (MASQUERADE),
 * (c) a symmetric NAT (MASQUERADE --random-fully), (d) UDP blocked with TCP 443 open, (e) a stale local planet.
 * Each case asserts the exit code and the JSON fields that carry its diagnosis.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import { Identity } from '../vl1/identity.js';
import { formatAddress } from '../vl1/address.js';
import { c25519Generate } from '../vl1/c25519.js';
import { serializeWorld, signWorld, type UnsignedWorld } from '../planet/world.js';
import { createTopology, netnsUnavailableReason, type Host, type Topology } from './netns.js';
import { RedisServer } from './redis.js';
import { CLI, startRootProcess, type RootProcess } from './fleet-hosts.js';
import { readVectorJson } from './vectors.js';
import type { DoctorReport } from '../tools/doctor/report.js';

const skip = netnsUnavailableReason();
const TOKEN = 'doctor-test-token';

interface DoctorRun {
  code: number | null;
  /** From spawn to exit, ms. */
  ms: number;
  report: DoctorReport | null;
  stdout: string;
  stderr: string;
}

/** `ztroot doctor ...args --json` inside `host`'s namespace; the report parsed from stdout. */
async function doctor(t: Topology, host: Host, cache: string, args: string[], json = true): Promise<DoctorRun> {
  const t0 = Date.now();
  const p = t.spawn(host.ns, process.execPath, [CLI, 'doctor', ...(json ? ['--json'] : []), '--identity-cache', cache, '--timeout-ms', '2000', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  p.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  p.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const giveUp = setTimeout(() => p.kill('SIGKILL'), 30_000); // a hang is a failure, not a stuck suite
  const [code] = (await once(p, 'close')) as [number | null];
  if (process.env.DOCTOR_TEST_SHOW) console.log(stdout, stderr);
  clearTimeout(giveUp);
  const ms = Date.now() - t0;
  let report: DoctorReport | null = null;
  try {
    report = JSON.parse(stdout) as DoctorReport;
  } catch {
    // asserted below with the output
  }
  return { code, ms, report, stdout, stderr };
}

function show(r: DoctorRun): string {
  return `exit ${r.code}\nstdout:\n${r.stdout}\nstderr:\n${r.stderr}`;
}

function codes(r: DoctorReport): string[] {
  return r.advice.map((a) => a.code);
}

test('ztroot doctor: three fleet roots seen from no NAT, a cone NAT, a symmetric NAT, blocked UDP, stale planets, a missing root', { skip: skip ?? false, timeout: 150_000 }, async (tt) => {
  // Public hosts: roots 2 and 3, Redis, the plain client, the UDP-blocked client. NAT 0 is a cone, NAT 1 symmetric.
  const t = await createTopology({ publicHosts: 5, nats: [{ clients: 1 }, { clients: 1, randomFully: true }] });
  const roots: RootProcess[] = [];
  let redis: RedisServer | null = null;
  try {
    const [h2, h3, redisHost, plain, udpBlocked] = t.publicHosts as [Host, Host, Host, Host, Host];
    const rootHosts = [t.root, h2, h3];
    const ids = readVectorJson<{ identities: { secret_string: string }[] }>('identities.json').identities.slice(0, 3).map((i) => Identity.fromString(i.secret_string));
    const key = c25519Generate();
    const base: UnsignedWorld = {
      type: 'planet',
      id: 0xd0c7042n,
      timestamp: Date.now(),
      updatesMustBeSignedBy: key.publicKey,
      roots: ids.map((id, i) => ({
        identity: id.publicOnly(),
        stableEndpoints: [
          { family: 4 as const, ip: rootHosts[i]!.ip4, port: 9993 },
          { family: 6 as const, ip: rootHosts[i]!.ip6!, port: 9993 },
        ],
      })),
    };
    const planet = serializeWorld(signWorld(base, key));
    const stale = serializeWorld(signWorld({ ...base, timestamp: base.timestamp - 3_600_000 }, key));

    redis = await RedisServer.start({ netns: { ns: redisHost.ns, bind: redisHost.ip4 } });
    const extra = (i: number) => ['--tcp-relay', '[::]:443', ...(i === 0 ? ['--http', `${t.root.ip4}:9980`, '--metrics-token', TOKEN] : [])];
    roots.push(...(await Promise.all(rootHosts.map((h, i) => startRootProcess({ topo: t }, h, mkdtempSync(join(tmpdir(), 'ztroot-doctor-root-')), ids[i]!, planet, redis!.url, extra(i))))));

    const dir = mkdtempSync(join(tmpdir(), 'ztroot-doctor-'));
    const planetFile = join(dir, 'planet');
    writeFileSync(planetFile, planet);
    const cache = join(dir, 'cache', 'doctor-identity.secret');
    const rootAddrs = ids.map((id) => formatAddress(id.address));

    /** What every healthy case shares: exit 0, every root usable on both families, the relay, the planet agreed. */
    const healthy = (r: DoctorRun) => {
      assert.equal(r.code, 0, show(r));
      const rep = r.report!;
      assert.equal(rep.verdict, 'ok');
      assert.equal(rep.udpBlocked, false);
      assert.equal(rep.localBehind, false);
      assert.deepEqual(rep.rootsBehind, []);
      assert.deepEqual(rep.roots.map((x) => x.address), rootAddrs);
      for (const root of rep.roots) {
        assert.equal(root.usable, true, `root ${root.address} usable`);
        assert.deepEqual(root.udp.map((e) => [e.family, e.ok, typeof e.rttMs]), [[4, true, 'number'], [6, true, 'number']], JSON.stringify(root.udp));
        assert.ok(root.tcp.length === 2 && root.tcp.every((x) => x.greeting && x.ok), JSON.stringify(root.tcp));
        assert.equal(root.planetRelation, 'same');
        assert.equal(root.planet!.sha256, rep.planet.sha256);
        // One machine, one clock: the skew the root's HELLO shows is the measuring error, a few ms.
        assert.equal(root.clockSource, 'hello', `root ${root.address}'s clock from its HELLO`);
        assert.ok(Math.abs(root.clockSkewMs!) < 1000, `root ${root.address}'s clock skew ${root.clockSkewMs} ms`);
      }
      assert.ok(!rep.advice.some((a) => a.level === 'error'), JSON.stringify(rep.advice));
      return rep;
    };

    await tt.test('(a) no NAT: every root usable, the roots see our own address', async () => {
      const r = await doctor(t, plain, cache, ['--planet', planetFile]);
      const rep = healthy(r);
      assert.ok(existsSync(cache), 'the throwaway identity is cached');
      for (const root of rep.roots) assert.deepEqual(root.udp.map((e) => e.reflected!.replace(/\/\d+$/, '')), [plain.ip4, plain.ip6]);
      assert.equal(rep.nat.v4.kind, 'none');
      assert.equal(rep.nat.v6.kind, 'none');
      assert.deepEqual(rep.nat.v4.mapped, [`${plain.ip4}/${rep.nat.v4.localPort}`]);
      // The same identity on the next run (from the cache), and the planet from a root's /api/planet.
      const again = await doctor(t, plain, cache, ['--planet-url', `http://${t.root.ip4}:9980/api/planet`, '--token', TOKEN]);
      const rep2 = healthy(again);
      assert.equal(rep2.identity, rep.identity);
      assert.equal(rep2.source, `url:http://${t.root.ip4}:9980/api/planet`);
      assert.equal(rep2.planet.sha256, rep.planet.sha256);
    });

    await tt.test('(b) cone NAT: one mapping for every root, endpoint-independent', async () => {
      const nat = t.nats[0]!;
      const rep = healthy(await doctor(t, nat.clients[0]!, cache, ['--planet', planetFile]));
      for (const [fam, pub] of [['v4', nat.publicIp4], ['v6', nat.publicIp6]] as const) {
        const n = rep.nat[fam];
        assert.equal(n.kind, 'endpoint-independent', `${fam}: ${JSON.stringify(n)}`);
        assert.equal(n.roots, 3);
        assert.equal(n.mapped.length, 1);
        assert.ok(n.mapped[0]!.startsWith(`${pub}/`), `${fam} mapped to the NAT's public address: ${n.mapped[0]}`);
      }
      assert.ok(codes(rep).includes('nat-endpoint-independent'));
      assert.ok(!codes(rep).includes('symmetric-nat'));
    });

    await tt.test('(c) symmetric NAT (--random-fully): a mapping per root, said to defeat direct paths', async () => {
      const nat = t.nats[1]!;
      const rep = healthy(await doctor(t, nat.clients[0]!, cache, ['--planet', planetFile]));
      for (const fam of ['v4', 'v6'] as const) {
        const n = rep.nat[fam];
        assert.equal(n.kind, 'symmetric', `${fam}: ${JSON.stringify(n)}`);
        assert.equal(n.mapped.length, 3, `${fam}: a different port for each of the 3 roots: ${n.mapped.join(' ')}`);
      }
      const adv = rep.advice.find((a) => a.code === 'symmetric-nat');
      assert.ok(adv !== undefined && adv.level === 'warning' && /relayed/.test(adv.message), JSON.stringify(rep.advice));
    });

    await tt.test('(d) UDP blocked, TCP 443 open: exit 1, UDP blocked, every root reached through its relay', async () => {
      // A firewall that drops silently (the answers never come back), so the probes must give up on time.
      for (const tool of ['iptables', 'ip6tables']) await t.exec(udpBlocked.ns, tool, ['-A', 'INPUT', '-p', 'udp', '-j', 'DROP']);
      // The planet from root 1's HTTP API (TCP): with UDP gone, that root's clock comes from its Date header.
      const r = await doctor(t, udpBlocked, cache, ['--planet-url', `http://${t.root.ip4}:9980/api/planet`, '--token', TOKEN]);
      assert.equal(r.code, 1, show(r));
      assert.ok(r.ms < 10_000, `gave up on the silent endpoints within its 2 s timeout (took ${r.ms} ms)`);
      assert.deepEqual(r.report!.roots.map((x) => x.clockSource), ['http', null, null]);
      const skew = r.report!.roots[0]!.clockSkewMs!;
      assert.ok(Math.abs(skew) < 2000, `root 1's clock skew ${skew} ms (one machine: within the Date header's second)`);
      const rep = r.report!;
      assert.equal(rep.verdict, 'problems');
      assert.equal(rep.udpBlocked, true);
      for (const root of rep.roots) {
        assert.equal(root.usable, false);
        assert.equal(root.tcpOnly, true);
        assert.ok(root.udp.every((e) => !e.ok && /no OK\(HELLO\) within 2000 ms/.test(e.error ?? '')), JSON.stringify(root.udp));
        assert.ok(root.tcp.every((x) => x.greeting && x.ok && typeof x.rttMs === 'number'), JSON.stringify(root.tcp));
        assert.equal(root.planetRelation, 'same', 'the planet read from the OK through the relay');
      }
      assert.equal(rep.nat.v4.kind, 'unknown');
      const adv = rep.advice.find((a) => a.code === 'udp-blocked');
      assert.ok(adv !== undefined && adv.level === 'error' && /TCP relay/.test(adv.message), JSON.stringify(rep.advice));
      assert.deepEqual(rep.advice.filter((x) => x.level === 'error').map((x) => x.code), ['udp-blocked'], 'one diagnosis: not three unreachable roots, nor planets unknown');
    });

    await tt.test('(e) a stale local planet: exit 1, the local planet behind every root', async () => {
      const staleFile = join(dir, 'stale-planet');
      writeFileSync(staleFile, stale);
      const r = await doctor(t, plain, cache, ['--planet', staleFile]);
      assert.equal(r.code, 1, show(r));
      const rep = r.report!;
      assert.equal(rep.verdict, 'problems');
      assert.equal(rep.localBehind, true);
      assert.deepEqual(rep.rootsBehind, []);
      assert.equal(rep.planet.timestamp, base.timestamp - 3_600_000);
      for (const root of rep.roots) {
        assert.equal(root.usable, true);
        assert.equal(root.planetRelation, 'root-newer');
        assert.equal(root.planetUpdateAccepted, true, 'signed by the stale planet\'s update key: clients take it over the air');
        assert.equal(root.planet!.timestamp, base.timestamp);
        assert.notEqual(root.planet!.sha256, rep.planet.sha256);
      }
      assert.ok(codes(rep).includes('local-planet-behind'), JSON.stringify(rep.advice));
    });

    await tt.test('(f) a newer planet adding a root not yet up: the root reported unreachable, the others behind (text output)', async () => {
      const ghost = Identity.fromString(readVectorJson<{ identities: { secret_string: string }[] }>('identities.json').identities[3]!.secret_string);
      // What an operator has after adding a root to the planet before deploying it: a newer planet, one more root.
      const withGhost = { ...base, timestamp: base.timestamp + 1000, roots: [...base.roots, { identity: ghost.publicOnly(), stableEndpoints: [{ family: 4 as const, ip: '192.0.0.60', port: 9993 }] }] };
      const ghostFile = join(dir, 'ghost-planet');
      writeFileSync(ghostFile, serializeWorld(signWorld(withGhost, key)));
      const r = await doctor(t, plain, cache, ['--planet', ghostFile], false);
      assert.equal(r.code, 1, show(r));
      assert.ok(r.ms < 10_000, `bounded by its 2 s timeout (took ${r.ms} ms)`);
      const g = formatAddress(ghost.address);
      assert.match(r.stdout, new RegExp(`^root ${g}: UNREACHABLE$`, 'm'));
      assert.match(r.stdout, /^ {2}udp 192\.0\.0\.60\/9993 +FAIL {2}no OK\(HELLO\) within 2000 ms$/m);
      assert.match(r.stdout, /^ {2}tcp 192\.0\.0\.60\/443 +FAIL {2}no TCP connection within 2000 ms$/m);
      for (const a of rootAddrs) assert.match(r.stdout, new RegExp(`^root ${a}: usable$`, 'm'));
      assert.match(r.stdout, /^verdict: PROBLEMS$/m);
      assert.match(r.stdout, new RegExp(`^error +root ${g} does not answer HELLO over UDP at 192\\.0\\.0\\.60/9993`, 'm'));
      assert.match(r.stdout, new RegExp(`^error +roots ${rootAddrs.join(', ')} serve an older planet than the local one`, 'm'));
      assert.match(r.stdout, /^UDP: ok$/m);
    });

    await tt.test("(g) a root listed at an address it does not send from: ZeroTier's FAQ advice, still usable", async () => {
      // Root 3's host gets a second address; a planet lists root 3 there. The root's wildcard socket answers
      // from the host's primary address, as a root behind a NAT or on a multi-homed host would.
      await t.exec(h3.ns, 'ip', ['addr', 'add', '192.0.0.59/25', 'dev', h3.iface]);
      const moved = { ...base, timestamp: base.timestamp + 2000, roots: base.roots.map((x, i) => (i === 2 ? { ...x, stableEndpoints: [{ family: 4 as const, ip: '192.0.0.59', port: 9993 }] } : x)) };
      const movedFile = join(dir, 'moved-planet');
      writeFileSync(movedFile, serializeWorld(signWorld(moved, key)));
      const r = await doctor(t, plain, cache, ['--planet', movedFile, '--tcp-port', '0']);
      assert.equal(r.code, 1, show(r)); // the roots serve the older planet: that is an error of its own
      const rep = r.report!;
      const third = rep.roots[2]!;
      assert.equal(third.usable, true);
      assert.deepEqual(third.udp.map((e) => [e.endpoint, e.ok, e.repliedFrom]), [['192.0.0.59/9993', true, '192.0.0.3/9993']]);
      assert.deepEqual(third.tcp, [], '--tcp-port 0 skips the relay');
      assert.ok(rep.roots.slice(0, 2).every((x) => x.udp.every((e) => e.repliedFrom === null)));
      const adv = rep.advice.filter((a) => a.code === 'reply-from-other-address');
      assert.equal(adv.length, 1, JSON.stringify(rep.advice));
      assert.match(adv[0]!.message, new RegExp(`root ${rootAddrs[2]} is listed at 192\\.0\\.0\\.59/9993 but answers from 192\\.0\\.0\\.3/9993`));
      assert.deepEqual(rep.rootsBehind, rootAddrs);
    });
  } finally {
    for (const r of roots) r.proc.kill('SIGTERM');
    await redis?.stop();
    await t.destroy();
  }
});
