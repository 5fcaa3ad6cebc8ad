/**
 * The leaf's port mapping at work, end to end: leaf A behind a NAT router that runs a real NAT-PMP/UPnP gateway
 * (Debian's miniupnpd, test/miniupnpd.ts) and drops unsolicited inbound traffic, leaf B on the public segment, our
 * root beside them; both on an ad-hoc network.
 *
 * A maps its port-mapping (tertiary) port at start, shows the mapping among its surface addresses (/status), and
 * offers it to B in PUSH_DIRECT_PATHS once B's traffic reaches it; B contacts the mapped address — the router's
 * external address and the granted port, which only the mapping opens — and A answers there, so B holds a live
 * path to A through the mapping. The NAT picks a random port per connection (`--random-fully`), so nothing
 * but the mapping can give B that address.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTopology, netnsUnavailableReason, type Topology } from './netns.js';
import { miniupnpdUnavailableReason, startMiniupnpd, type Miniupnpd } from './miniupnpd.js';
import { startOurRoot, waitFor, type OurRoot } from './interop-harness.js';
import { joinAndWait, leafApi, leafLog, startOurLeaf, type OurLeaf } from './leaf-harness.js';
import { tapUnavailableReason } from '../leaf/tap-access.js';
import { parseAddress } from '../vl1/address.js';

const NWID = 'ff0a000000000001';

const skip = (() => {
  const why = netnsUnavailableReason() ?? tapUnavailableReason() ?? miniupnpdUnavailableReason();
  return why === null ? false : `skipped: ${why}`;
})();

function formBIpv4(address: string): string {
  const a = parseAddress(address);
  return `10.${(a >> 16) & 0xff}.${(a >> 8) & 0xff}.${a & 0xff}`;
}

/** /status as 1.14 shapes it: the ports and surface addresses are under config.settings. */
interface StatusJson {
  config: { settings: { tertiaryPort: number; surfaceAddresses: string[] } };
}
interface PeerJson {
  address: string;
  paths: Array<{ address: string; expired: boolean }>;
}

describe('leaf: port mapping through a real NAT-PMP/UPnP gateway, offered to peers as a path', { skip, timeout: 120_000 }, () => {
  let topo: Topology | undefined;
  let work = '';
  let root: OurRoot;
  let gw: Miniupnpd;
  let a: OurLeaf;
  let b: OurLeaf;

  before(async () => {
    work = mkdtempSync(join(tmpdir(), 'ztroot-leaf-portmap-'));
    topo = await createTopology({ nats: [{ clients: 1, randomFully: true }], publicHosts: 1, ipv6: false });
    gw = await startMiniupnpd(topo, 0);
    root = await startOurRoot(topo, work);
    const planet = join(root.stateDir, 'planet');
    [a, b] = await Promise.all([startOurLeaf(topo, work, 'a', topo.nats[0]!.clients[0]!, planet), startOurLeaf(topo, work, 'b', topo.publicHosts[0]!, planet)]);
  });

  after(async () => {
    await topo?.destroy();
    if (work !== '') rmSync(work, { recursive: true, force: true });
  });

  const diag = (t: { diagnostic(s: string): void }) => {
    for (const l of [a, b]) if (l !== undefined) t.diagnostic(`leaf ${l.host.ip4} log tail:\n${leafLog(l).trimEnd().split('\n').slice(-25).join('\n')}`);
    if (gw !== undefined) t.diagnostic(`miniupnpd:\n${gw.log().trimEnd().split('\n').slice(-10).join('\n')}`);
  };

  test('the leaf behind the gateway maps its tertiary port and lists the mapping among its surface addresses', { timeout: 30_000 }, async (t) => {
    try {
      const st = await waitFor('a mapping in /status surfaceAddresses', 20_000, async () => {
        const s = (await leafApi<StatusJson>(topo!, a, 'GET', '/status')).body.config.settings;
        return s.surfaceAddresses.some((x) => x.startsWith(`${gw.externalIp}/`)) ? s : undefined;
      }, 250);
      assert.ok(st.tertiaryPort > 0);
      const mapped = st.surfaceAddresses.find((x) => x.startsWith(`${gw.externalIp}/`))!;
      t.diagnostic(`tertiary port ${st.tertiaryPort} mapped at ${mapped}`);
      const external = mapped.split('/')[1]!;
      // The gateway forwards that port to the leaf's tertiary port (its own log says so; its rule is in place).
      assert.ok(gw.log().includes(`${external}->${a.host.ip4}:${st.tertiaryPort} udp`), gw.log());
      assert.match(await gw.natRules(), new RegExp(`-p udp -m udp --dport ${external} -j DNAT`));
    } catch (e) {
      diag(t);
      throw e;
    }
  });

  test('the peer outside is told the mapped address and reaches the leaf through it: a live direct path there', { timeout: 60_000 }, async (t) => {
    try {
      await Promise.all([joinAndWait(topo!, a, NWID), joinAndWait(topo!, b, NWID)]);
      const mapped = (await leafApi<StatusJson>(topo!, a, 'GET', '/status')).body.config.settings.surfaceAddresses.find((x) => x.startsWith(`${gw.externalIp}/`))!;
      // Traffic both ways: B's frames reach A (so A trusts B and pushes its paths), A's reach B.
      const dst = formBIpv4(a.address);
      await waitFor(`B pings A at ${dst}`, 30_000, async () => {
        const out = await topo!.exec(b.host.ns, 'ping', ['-c', '1', '-W', '1', dst], { timeoutMs: 5000 }).catch((e: Error) => ({ stdout: e.message }));
        return /1 received/.test(out.stdout) ? true : undefined;
      }, 200);
      const path = await waitFor(`B's path to A at ${mapped}`, 30_000, async () => {
        await topo!.exec(b.host.ns, 'ping', ['-c', '1', '-W', '1', dst], { timeoutMs: 5000 }).catch(() => undefined);
        const peer = (await leafApi<PeerJson[]>(topo!, b, 'GET', '/peer')).body.find((p) => p.address === a.address);
        return peer?.paths.find((p) => p.address === mapped && !p.expired);
      }, 500);
      t.diagnostic(`B holds ${JSON.stringify(path)}`);
      assert.ok(path !== undefined);
    } catch (e) {
      diag(t);
      throw e;
    }
  });

  test('SIGTERM deletes the mapping on the gateway', { timeout: 20_000 }, async () => {
    const exit = new Promise<number | null>((r) => a.proc.once('exit', (code) => r(code)));
    a.proc.kill('SIGTERM');
    assert.equal(await exit, 0);
    assert.doesNotMatch(await gw.natRules(), /-j DNAT/);
  });
});
