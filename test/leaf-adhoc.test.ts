/**
 * Two of our leaves — `ztroot leaf` processes, each in a network namespace of its own — on our root, joined to an
 * ad-hoc network, carrying real traffic between their TAP devices: what a user of the leaf does with it.
 *
 * The network is the IPv4 form of ad-hoc network (vl2.md §1.2 form B, `ff0a000000000001`): ACCEPT-all rules,
 * multicast limit 1024, a 6plane /40 and an IPv4 10.x.y.z/8 per member. So it takes every VL2 path: unicast
 * FRAMEs, ARP as multicast (address-resolution groups, LIKE and GATHER through the root), IPv6 neighbour
 * discovery answered by NDP emulation, and a TCP stream of 50 MB whose hash must match at the far end.
 *
 * Leaf C has no UDP at all (iptables drops it in its namespace) and local.conf `forceTcpRelay`: it reaches the
 * network through the TCP/443 relay of its planet's root, found without any relay address configured.
 *
 *   public segment: our root 192.0.0.1 (TCP relay on 443), leaves A 192.0.0.2, B .3, C .4 (and 2001:db8:1::/64)
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTopology, netnsUnavailableReason, type Topology } from './netns.js';
import { REPO_ROOT, startOurRoot, waitFor, ping6, type OurRoot } from './interop-harness.js';
import { joinAndWait, leafApi, leafLog, startOurLeaf, type LeafNetworkJson, type OurLeaf } from './leaf-harness.js';
import { tapUnavailableReason } from '../leaf/tap-access.js';
import { ipv6SixPlane } from '../vl1/mac-ip.js';
import { parseAddress } from '../vl1/address.js';

const NWID = 'ff0a000000000001';
const BLAST = join(REPO_ROOT, 'dist/test/tcp-blast.js');
const BLAST_BYTES = 50 * 1024 * 1024;

const skip = (() => {
  const why = netnsUnavailableReason() ?? tapUnavailableReason();
  return why === null ? false : `skipped: ${why}`;
})();

/** The IPv4 address form B gives `address` on a network whose first octet is 10 (vl2.md §1.2). */
function formBIpv4(address: string): string {
  const a = parseAddress(address);
  return `10.${(a >> 16) & 0xff}.${(a >> 8) & 0xff}.${a & 0xff}`;
}

describe('leaf: two of our leaves on an ad-hoc network through our root', { skip, timeout: 240_000 }, () => {
  let topo: Topology | undefined;
  let work = '';
  let root: OurRoot;
  let a: OurLeaf;
  let b: OurLeaf;
  let c: OurLeaf;
  let netA: LeafNetworkJson;
  let netB: LeafNetworkJson;

  before(async () => {
    work = mkdtempSync(join(tmpdir(), 'ztroot-leaf-adhoc-'));
    topo = await createTopology({ publicHosts: 3 });
    root = await startOurRoot(topo, work, ['--tcp-relay', `${topo.root.ip4}:443`]);
    const planet = join(root.stateDir, 'planet');
    const hostC = topo.publicHosts[2]!;
    for (const tool of ['iptables', 'ip6tables']) for (const chain of ['INPUT', 'OUTPUT']) await topo.exec(hostC.ns, tool, ['-A', chain, '-p', 'udp', '-j', 'DROP']);
    [a, b, c] = await Promise.all([
      startOurLeaf(topo, work, 'a', topo.publicHosts[0]!, planet),
      startOurLeaf(topo, work, 'b', topo.publicHosts[1]!, planet),
      startOurLeaf(topo, work, 'c', hostC, planet, [], { settings: { forceTcpRelay: true } }),
    ]);
  });

  after(async () => {
    await topo?.destroy();
    if (work !== '') rmSync(work, { recursive: true, force: true });
  });

  const diag = (t: { diagnostic(s: string): void }) => {
    for (const l of [a, b, c]) if (l !== undefined) t.diagnostic(`leaf ${l.host.ip4} log tail:\n${leafLog(l).trimEnd().split('\n').slice(-30).join('\n')}`);
  };

  test('both leaves come online through our root', { timeout: 30_000 }, async (t) => {
    try {
      for (const l of [a, b]) {
        await waitFor(`${l.host.ip4} online`, 20_000, async () => ((await leafApi<{ online: boolean }>(topo!, l, 'GET', '/status')).body.online ? true : undefined), 250);
      }
    } catch (e) {
      diag(t);
      throw e;
    }
  });

  test(`both join ${NWID}, get the 6plane and IPv4 addresses vl2.md names, on a TAP device`, { timeout: 60_000 }, async (t) => {
    try {
      [netA, netB] = await Promise.all([joinAndWait(topo!, a, NWID, ipv6SixPlane(BigInt(`0x${NWID}`), parseAddress(a.address))), joinAndWait(topo!, b, NWID, ipv6SixPlane(BigInt(`0x${NWID}`), parseAddress(b.address)))]);
    } catch (e) {
      diag(t);
      throw e;
    }
    for (const [l, n] of [[a, netA], [b, netB]] as const) {
      assert.equal(n.name, 'adhoc-10.0.0.0');
      assert.deepEqual(
        [...n.assignedAddresses].sort(),
        [`${formBIpv4(l.address)}/8`, `${ipv6SixPlane(BigInt(`0x${NWID}`), parseAddress(l.address))}/40`].sort(),
      );
      assert.match(n.portDeviceName, /^zt/);
      const link = (await topo!.exec(l.host.ns, 'ip', ['-o', 'link', 'show', 'dev', n.portDeviceName])).stdout;
      assert.match(link, /mtu 2800/);
    }
  });

  test('IPv6 ping both ways between 6plane addresses (NDP emulation)', { timeout: 60_000 }, async (t) => {
    const nw = BigInt(`0x${NWID}`);
    try {
      for (const [from, to] of [[a, b], [b, a]] as const) {
        const dst = ipv6SixPlane(nw, parseAddress(to.address));
        await waitFor(`a first echo ${from.host.ip4} → ${dst}`, 30_000, async () => ((await ping6(topo!, from.host.ns, dst, 1)).received === 1 ? true : undefined), 200);
        const r = await ping6(topo!, from.host.ns, dst, 10);
        assert.equal(r.received, 10, r.summary);
      }
    } catch (e) {
      diag(t);
      throw e;
    }
  });

  test('IPv4 ping both ways (ARP over address-resolution multicast groups)', { timeout: 60_000 }, async (t) => {
    try {
      for (const [from, to] of [[a, b], [b, a]] as const) {
        const dst = formBIpv4(to.address);
        await waitFor(`a first IPv4 echo ${from.host.ip4} → ${dst}`, 30_000, async () => {
          const out = await topo!.exec(from.host.ns, 'ping', ['-c', '1', '-W', '1', dst], { timeoutMs: 5000 }).catch((e: Error) => ({ stdout: e.message }));
          return /1 received/.test(out.stdout) ? true : undefined;
        }, 200);
        const out = (await topo!.exec(from.host.ns, 'ping', ['-c', '10', '-i', '0.2', '-W', '2', dst], { timeoutMs: 15_000 })).stdout;
        assert.match(out, /10 packets transmitted, 10 received/);
        // ARP resolved to the peer's ZeroTier MAC (vl2.md §5.3), learned over the network.
        const neigh = (await topo!.exec(from.host.ns, 'ip', ['-4', 'neigh', 'show', dst])).stdout;
        assert.match(neigh, /lladdr [0-9a-f:]{17} (REACHABLE|STALE|DELAY|PROBE)/, neigh);
      }
    } catch (e) {
      diag(t);
      throw e;
    }
  });

  test('a 50 MB TCP stream over IPv4 arrives whole (same SHA-256)', { timeout: 120_000 }, async (t) => {
    const dst = formBIpv4(b.address);
    const server = topo!.spawn(b.host.ns, process.execPath, [BLAST, 'serve', dst, '5201'], { stdio: ['ignore', 'pipe', 'inherit'] });
    let serverOut = '';
    server.stdout!.on('data', (d: Buffer) => (serverOut += d.toString()));
    await waitFor('the TCP server to listen', 10_000, async () => (serverOut.includes('listening') ? true : undefined), 50);
    try {
      const sent = JSON.parse((await topo!.exec(a.host.ns, process.execPath, [BLAST, 'send', dst, '5201', String(BLAST_BYTES)], { timeoutMs: 110_000 })).stdout) as { bytes: number; sha256: string; ms: number };
      const got = await waitFor('the server to report what it received', 15_000, async () => {
        const line = serverOut.split('\n').find((l) => l.includes('sha256'));
        return line === undefined ? undefined : (JSON.parse(line) as { bytes: number; sha256: string });
      }, 100);
      assert.equal(got.bytes, BLAST_BYTES);
      assert.equal(got.sha256, sent.sha256);
      t.diagnostic(`50 MB in ${sent.ms} ms: ${((BLAST_BYTES * 8) / sent.ms / 1000).toFixed(0)} Mbit/s`);
    } catch (e) {
      diag(t);
      throw e;
    } finally {
      server.kill();
    }
  });

  test('/metrics counts what happened in 1.14\'s names: one network, frames accepted both ways, packets by type', { timeout: 20_000 }, async () => {
    const text = (await leafApi<string>(topo!, a, 'GET', '/metrics')).body;
    const value = (line: string): number => {
      const m = new RegExp(`^${line.replace(/[{}"]/g, '\\$&')} (\\d+)$`, 'm').exec(text);
      assert.ok(m !== null, `${line} in /metrics:\n${text}`);
      return Number(m[1]);
    };
    assert.equal(value('zt_num_networks'), 1);
    assert.ok(value(`zt_network_packets{accepted="yes",direction="rx",network_id="${NWID}"}`) > 1000);
    assert.ok(value(`zt_network_packets{accepted="yes",direction="tx",network_id="${NWID}"}`) > 1000);
    assert.ok(value('zt_packet{direction="rx",packet_type="frame"}') > 1000);
    assert.ok(value('zt_packet{direction="tx",packet_type="hello"}') >= 1);
    assert.match(text, /^# TYPE zt_packet counter$/m);
    // 1.14's families keep their names (no `_total`, as 1.14's own exporter); only ours, `ztroot_leaf_…`, are counters
    // in Prometheus' own naming.
    assert.doesNotMatch(text, /^zt_\w*_total/m);
    assert.equal(value('ztroot_leaf_vl2_drops_total{reason="unknown-network"}'), 0);
  });

  test('the paths between the leaves became direct (RENDEZVOUS), and the root relayed only the start', { timeout: 30_000 }, async () => {
    const peers = (await leafApi<Array<{ address: string; role: string; paths: Array<{ address: string; preferred: boolean }> }>>(topo!, a, 'GET', '/peer')).body;
    const pb = peers.find((p) => p.address === b.address);
    assert.ok(pb !== undefined, `leaf A knows leaf B: ${JSON.stringify(peers)}`);
    assert.ok(pb.paths.some((p) => p.address.startsWith(`${b.host.ip4}/`) || (b.host.ip6 !== null && p.address.startsWith(`${b.host.ip6}/`))), JSON.stringify(pb));
  });

  test('a leaf without UDP reaches the network through its root\'s TCP relay (forceTcpRelay) and pings A', { timeout: 60_000 }, async (t) => {
    try {
      const st = await waitFor('C online through the tunnel', 20_000, async () => {
        const s = (await leafApi<{ online: boolean; tcpFallbackActive: boolean }>(topo!, c, 'GET', '/status')).body;
        return s.online ? s : undefined;
      }, 250);
      assert.equal(st.tcpFallbackActive, true);
      await joinAndWait(topo!, c, NWID, formBIpv4(c.address));
      const dst = formBIpv4(a.address);
      await waitFor(`C pings A at ${dst} through the tunnel`, 30_000, async () => {
        const out = await topo!.exec(c.host.ns, 'ping', ['-c', '1', '-W', '1', dst], { timeoutMs: 5000 }).catch((e: Error) => ({ stdout: e.message }));
        return /1 received/.test(out.stdout) ? true : undefined;
      }, 200);
      const out = (await topo!.exec(c.host.ns, 'ping', ['-c', '5', '-i', '0.2', '-W', '2', dst], { timeoutMs: 15_000 })).stdout;
      assert.match(out, /5 packets transmitted, 5 received/);
      const peers = (await leafApi<Array<{ address: string; tunneled: boolean }>>(topo!, c, 'GET', '/peer')).body;
      assert.ok(peers.length > 0 && peers.every((p) => p.tunneled), JSON.stringify(peers));
    } catch (e) {
      diag(t);
      throw e;
    }
  });

  test('leave removes the TAP device and forgets the network (networks.d no longer names it)', { timeout: 30_000 }, async () => {
    const dev = netA.portDeviceName;
    const r = await leafApi(topo!, a, 'DELETE', `/network/${NWID}`);
    assert.equal(r.status, 200);
    await waitFor(`${dev} gone`, 10_000, async () => {
      const out = await topo!.exec(a.host.ns, 'ip', ['link', 'show', 'dev', dev]).then(() => 'present', () => 'gone');
      return out === 'gone' ? true : undefined;
    }, 100);
    const list = (await leafApi<unknown[]>(topo!, a, 'GET', '/network')).body;
    assert.deepEqual(list, []);
    assert.equal(existsSync(join(a.home, 'networks.d', `${NWID}.conf`)), false);
    assert.equal(existsSync(join(a.home, 'networks.d', `${NWID}.local.conf`)), false);
  });

  test('SIGTERM: the leaf exits 0 and its TAP device is gone', { timeout: 20_000 }, async () => {
    const dev = netB.portDeviceName;
    const exit = new Promise<number | null>((r) => b.proc.once('exit', (code) => r(code)));
    b.proc.kill('SIGTERM');
    assert.equal(await exit, 0);
    const present = await topo!.exec(b.host.ns, 'ip', ['link', 'show', 'dev', dev]).then(() => true, () => false);
    assert.equal(present, false);
  });
});
