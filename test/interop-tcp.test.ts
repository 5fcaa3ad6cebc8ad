/**
 * Interoperability of the TCP fallback relay with the real thing: an unmodified ZeroTier One client (the
 * binary named by ZT_ONE_BIN) whose namespace drops all UDP reaches our root only through the relay the
 * root serves on TCP 443 (`ztroot start --tcp-relay`), and talks to a second client that uses UDP.
 *
 * The blocked client's local.conf names our relay (`tcpFallbackRelay`) and sets `forceTcpRelay`, so it
 * tunnels at once instead of after 60 s of silence (vl1.md §9.2). What it checks, in order:
 *   1. both clients reach ONLINE; the blocked one reports its TCP fallback active;
 *   2. the blocked client lists our root as PLANET with a path at the root's UDP endpoint (the relay frames
 *      what it sends with the root's address, so the client learns an ordinary path);
 *   3. both join the ad-hoc network and ICMPv6 echo between their 6plane addresses gets replies both ways;
 *   4. the root's counters: a tunnel opened, datagrams both ways over TCP, nothing dropped for the policy.
 *
 * Skipped, with the reason, unless ZT_ONE_BIN is set and the namespace harness can run; step 3 also needs
 * /dev/net/tun. Every process and namespace is removed in `after`, also when a step fails.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTopology } from './netns.js';
import type { Topology } from './netns.js';
import { ipv6SixPlane } from '../vl1/mac-ip.js';
import { parseAddress } from '../vl1/address.js';
import {
  ADHOC_NWID,
  cli as cliIn,
  cliJson as cliJsonIn,
  interopSkipReason,
  firstEcho,
  joinAdhoc,
  ping6,
  startClient,
  startOurRoot,
  stepWithDump,
  stopAndReadCounters,
  tapSkipReason,
  uniq,
  waitFor,
  type Client,
  type OurRoot,
  type ZtPeer,
} from './interop-harness.js';

const SUITE_TIMEOUT_MS = 180_000;

describe('interop: a real client without UDP through our TCP relay', { skip: interopSkipReason(), timeout: SUITE_TIMEOUT_MS }, () => {
  let topo: Topology | undefined;
  let work = '';
  let root: OurRoot | undefined;
  const clients: Client[] = [];
  const cli = (c: Client, ...args: string[]): Promise<string> => cliIn(topo!, c, ...args);
  const cliJson = <T>(c: Client, ...args: string[]): Promise<T> => cliJsonIn<T>(topo!, c, ...args);
  const step = stepWithDump(() => ({ topo, rootLog: root?.log ?? '', clients }));

  before(async () => {
    topo = await createTopology({ publicHosts: 2 });
    work = mkdtempSync(join(tmpdir(), 'ztroot-interop-tcp-'));
    const t = topo;
    root = await startOurRoot(t, work, ['--tcp-relay', `${t.root.ip4}:443`]);
    const [blocked, open] = t.publicHosts as [(typeof t.publicHosts)[0], (typeof t.publicHosts)[0]];
    // No UDP in or out of the blocked client's namespace, either family: only TCP gets through.
    for (const tool of ['iptables', 'ip6tables']) {
      for (const chain of ['INPUT', 'OUTPUT']) await t.exec(blocked.ns, tool, ['-A', chain, '-p', 'udp', '-j', 'DROP']);
    }
    clients.push(
      startClient(t, work, 'blocked', blocked, root, { settings: { tcpFallbackRelay: `${t.root.ip4}/443`, forceTcpRelay: true, allowTcpFallbackRelay: true } }),
      startClient(t, work, 'open', open, root),
    );
  });

  after(async () => {
    await topo?.destroy();
    if (work !== '') rmSync(work, { recursive: true, force: true });
  });

  test('both clients go ONLINE; the one without UDP through the TCP relay', { timeout: 60_000 }, step(async (t) => {
    const t0 = Date.now();
    for (const c of clients) {
      const info = await waitFor(`${c.host.ip4} to be ONLINE`, 50_000, async () => {
        const i = await cliJson<{ address: string; online: boolean; tcpFallbackActive?: boolean }>(c, 'info');
        return i.online ? i : undefined;
      });
      c.address = info.address;
      t.diagnostic(`${c.host.ip4} ONLINE after ${Date.now() - t0} ms, tcpFallbackActive ${String(info.tcpFallbackActive)}`);
    }
    const blockedInfo = await cliJson<{ tcpFallbackActive?: boolean }>(clients[0]!, 'info');
    assert.equal(blockedInfo.tcpFallbackActive, true, 'the blocked client reports its TCP fallback active');
    assert.match(await cli(clients[0]!, 'info'), /TUNNELED/);
  }));

  test('the blocked client lists our root as PLANET with a path at the root’s UDP endpoint', { timeout: 30_000 }, step(async (t) => {
    const c = clients[0]!;
    const peer = await waitFor('a live path to our root', 20_000, async () => {
      const p = (await cliJson<ZtPeer[]>(c, 'peers')).find((x) => x.address === root!.address);
      return p !== undefined && p.paths.some((x) => x.expired !== true) ? p : undefined;
    });
    assert.equal(peer.role, 'PLANET');
    const paths = uniq(peer.paths.filter((x) => x.expired !== true).map((x) => x.address));
    t.diagnostic(`paths to the root: ${paths.join(', ')}`);
    assert.ok(paths.includes(`${topo!.root.ip4}/9993`), `paths ${paths.join(', ')}`);
  }));

  describe('ad-hoc network between the two clients', { skip: tapSkipReason() }, () => {
    const nwid = BigInt(`0x${ADHOC_NWID}`);
    const sixPlane = (c: Client) => ipv6SixPlane(nwid, parseAddress(c.address));

    test(`both join ${ADHOC_NWID} and ICMPv6 echo gets replies both ways`, { timeout: 90_000 }, step(async (t) => {
      for (const c of clients) await joinAdhoc(topo!, c, sixPlane(c));
      const [a, b] = clients as [Client, Client];
      t.diagnostic(`first echo reply after ${await firstEcho(topo!, a.host.ns, sixPlane(b))} ms`);
      for (const [from, to] of [[a, b], [b, a]] as const) {
        const r = await ping6(topo!, from.host.ns, sixPlane(to), 10);
        t.diagnostic(`${from.address} -> ${to.address}: ${r.summary}`);
        assert.ok(r.received >= 9, `${from.address} -> ${to.address}: ${r.summary}`);
      }
    }));
  });

  test('our root carried it over TCP (its counters at shutdown)', { timeout: 20_000 }, step(async (t) => {
    const counters = await stopAndReadCounters(root!);
    t.diagnostic(`root counters: ${JSON.stringify(counters)}`);
    assert.ok((counters['tcp_tunnels_opened'] ?? 0) >= 1, `tcp_tunnels_opened ${counters['tcp_tunnels_opened']}`);
    assert.ok((counters['tcp_rx_datagrams'] ?? 0) > 0 && (counters['tcp_tx_datagrams'] ?? 0) > 0, 'datagrams both ways over TCP');
    assert.equal(counters['drop_tunnel_destination'] ?? 0, 0, 'nothing the client sent was refused by the destination policy');
  }));
});
