/**
 * The live dashboard in a real headless Chromium (Debian's `chromium`, driven by playwright-core): the
 * page loads with no console errors, shows numbers that change while test traffic flows through a real
 * root, the probe matrix colours each pair of roots by health (all direct; one root cut off turns its row and
 * column red; restored, green again), and a screenshot is written to test-artifacts/dashboard.png.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import net from 'node:net';
import { once } from 'node:events';
import { chromium } from 'playwright-core';
import { Identity } from '../vl1/identity.js';
import { c25519Generate } from '../vl1/c25519.js';
import { Verb } from '../vl1/constants.js';
import { sealPacket } from '../vl1/packet.js';
import { signWorld, serializeWorld } from '../planet/world.js';
import { RootServer } from '../root/root-server.js';
import { IdentityValidator } from '../root/identity-validator.js';
import { createRootMetrics } from '../root/metrics.js';
import { createHttpApiHandler, listenHttpApi } from '../root/http-api.js';
import { attachLiveDashboard } from '../root/live-dashboard.js';
import { readVectorJson, REPO_ROOT } from './vectors.js';
import { RawClient } from './raw-vl1-client.js';
import { encodeTunnelHello } from '../vl1/tcp-framing.js';
import { ProbeEngine } from '../tools/probe/probe-engine.js';
import { probeNetworkId } from '../tools/probe/probe-wire.js';
import { probeMatrix, probeRow } from '../tools/probe/probe-matrix.js';
import { parseEthernetFrame } from '../vl1/netconf/ethernet.js';
import { macToAddress } from '../vl1/mac-ip.js';
import type { ProbeApi } from '../root/probe-api.js';
import type { RootHeartbeat } from '../fleet/peer-store.js';

/** The page's DOM, as the functions run inside the browser see it (this file compiles without lib "dom"). */
interface PageElement {
  textContent: string | null;
  dataset: Record<string, string | undefined>;
  querySelectorAll(sel: string): ArrayLike<PageElement>;
}
declare const document: { getElementById(id: string): PageElement | null };
declare function getComputedStyle(e: PageElement): { backgroundColor: string };

/**
 * Three probes (the real engine, tools/probe/probe-engine.ts) on an in-process fabric that can cut one off, and
 * the ProbeApi the root's dashboard reads: root-a's row live, the others' rows as their heartbeats carry them.
 * (test/probe-fleet.test.ts runs the probe leaves themselves over a real fabric.)
 */
function probeFabric(): { api: ProbeApi; cut: Set<number>; stop: () => void } {
  const nwid = probeNetworkId(0x5eed0d0dn);
  const addrs = [0xa000000001, 0xb000000002, 0xc000000003];
  const names = ['root-a', 'root-b', 'root-c'];
  const cut = new Set<number>();
  const engines: ProbeEngine[] = addrs.map(
    (self) =>
      new ProbeEngine(
        { intervalMs: 200 },
        {
          self,
          nwid,
          pathTo: () => 'direct',
          send: (f) => {
            const to = macToAddress(parseEthernetFrame(f).dest, nwid);
            const i = addrs.indexOf(to);
            if (i >= 0 && !cut.has(to) && !cut.has(self)) setImmediate(() => engines[i]!.receive(f));
            return true;
          },
        },
      ),
  );
  for (const e of engines) e.setTargets(addrs.map((probe, i) => ({ rootId: names[i]!, probe })));
  const timer = setInterval(() => {
    for (const e of engines) e.round();
    setTimeout(() => engines.forEach((e) => e.expire()), 110);
  }, 200);
  const heartbeats = (): RootHeartbeat[] => engines.map((e, i) => ({ rootId: names[i]!, ttlMs: 30_000, info: { endpoints: [], probe: addrs[i]!, probeRow: probeRow(e.report()) } }));
  const api: ProbeApi = { state: 'running', report: () => ({}), notRunningReason: () => null, matrix: () => probeMatrix('root-a', engines[0]!.report(), heartbeats()) };
  return { api, cut, stop: () => clearInterval(timer) };
}

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const skip = existsSync(CHROMIUM) ? false : `no Chromium at ${CHROMIUM} (Debian package chromium; the test command installs it as root)`;
if (skip) console.log(`# live dashboard test skipped: ${skip}`);

test('the live dashboard shows changing numbers from a real root, with no console errors', { skip, timeout: 60_000 }, async (t) => {
  const ids = readVectorJson<{ identities: { secret_string: string }[] }>('identities.json').identities.map((i) => Identity.fromString(i.secret_string));
  const [rootId, aId, bId] = ids as [Identity, Identity, Identity];
  const key = c25519Generate();
  const world = signWorld({ type: 'planet', id: 0x5eed0d0dn, timestamp: 1, updatesMustBeSignedBy: key.publicKey, roots: [{ identity: rootId.publicOnly(), stableEndpoints: [{ family: 4, ip: '192.0.0.1', port: 9993 }] }] }, key);
  const validator = new IdentityValidator({ workers: 1 });
  const root = new RootServer({ port: 0, bind4: '127.0.0.1', bind6: null, repliesPerPeerPerSecond: 1000 }, { identity: rootId, planet: serializeWorld(world), validator });
  await root.start();
  await root.startTunnel('127.0.0.1', 0);
  const token = 'dash-token';
  const http = await listenHttpApi(createHttpApiHandler(root, createRootMetrics(root, validator), { token, version: 'test' }, () => []), '127.0.0.1', 0);
  const fabric = probeFabric();
  const stopLive = attachLiveDashboard(http, root, { token, intervalMs: 500, probe: () => fabric.api });
  const port = (http.address() as { port: number }).port;
  const target = { root: rootId, port: () => root.port, planetId: world.id, planetTimestamp: world.timestamp };
  const a = await new RawClient(aId, target).open();
  const b = await new RawClient(bId, target).open();
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    // As this machine's probe runs it: as root, sandbox off; no background traffic to Google's hosts.
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  let traffic: NodeJS.Timeout | undefined;
  t.after(async () => {
    clearInterval(traffic);
    fabric.stop();
    await browser.close();
    a.close();
    b.close();
    stopLive();
    await new Promise((r) => http.close(r));
    await root.stop();
    await validator.close();
  });

  a.send(a.hello());
  b.send(b.hello());
  assert.ok(await a.next(5000));
  assert.ok(await b.next(5000));

  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  const consoleErrors: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error') consoleErrors.push(m.text());
  });
  page.on('pageerror', (e) => consoleErrors.push(String(e)));
  await page.goto(`http://127.0.0.1:${port}/?token=${token}`);
  await page.waitForFunction(() => document.getElementById('status')?.textContent === 'live', undefined, { timeout: 10_000 });
  await page.waitForFunction(() => document.getElementById('peers')?.textContent === '2', undefined, { timeout: 10_000 });
  // A TCP relay client appears in its tile.
  const tunnel = net.connect({ host: '127.0.0.1', port: root.tunnel!.port });
  t.after(() => tunnel.destroy());
  await once(tunnel, 'connect');
  tunnel.write(encodeTunnelHello({ major: 1, minor: 14, revision: 1 }));
  await page.waitForFunction(() => document.getElementById('tcp')?.textContent === '1', undefined, { timeout: 10_000 });

  // Traffic: A relays to B through the root (and a stray datagram now and then, to show drops).
  const ab = a.keyWith(bId);
  let n = 0;
  traffic = setInterval(() => {
    for (let i = 0; i < 20; i++) a.send(sealPacket({ dest: bId.address, source: aId.address, verb: Verb.USER_MESSAGE, payload: new Uint8Array(64) }, ab, 3));
    if (n++ % 2 === 0) a.send(new Uint8Array(8));
  }, 50);
  const rateOf = (id: string) => page.evaluate((i) => Number(document.getElementById(i)?.textContent ?? 'NaN'), id);
  await page.waitForFunction(() => Number(document.getElementById('relayed')?.textContent) > 0, undefined, { timeout: 10_000 });
  const first = await rateOf('relayed');
  await page.waitForFunction((f) => Number(document.getElementById('relayed')?.textContent) !== f, first, { timeout: 10_000 });
  const dropsShown = await page.evaluate(() => document.getElementById('drops')?.textContent ?? '');
  assert.match(dropsShown, /runt/, 'drops are shown by reason');

  // The probe matrix: 3 × 3, six cells all direct (green); root-c cut off → its four cells down (red), then back.
  const cells = () =>
    page.evaluate(() => {
      const out: Record<string, string> = {};
      const tds = document.getElementById('probe-matrix')!.querySelectorAll('td[data-from]');
      for (let i = 0; i < tds.length; i++) out[`${tds[i]!.dataset.from}>${tds[i]!.dataset.to}`] = `${tds[i]!.textContent} ${getComputedStyle(tds[i]!).backgroundColor}`;
      return out;
    });
  const GREEN = 'direct rgb(46, 125, 50)';
  const RED = 'down rgb(183, 28, 28)';
  const waitCells = async (want: (c: Record<string, string>) => boolean, what: string): Promise<Record<string, string>> => {
    const deadline = Date.now() + 10_000;
    let c = await cells();
    while (!want(c) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 200));
      c = await cells();
    }
    assert.ok(want(c), `${what}: ${JSON.stringify(c)}`);
    return c;
  };
  const all = await waitCells((c) => Object.keys(c).length === 6 && Object.values(c).every((v) => v === GREEN), 'all six pairs direct, green');
  t.diagnostic(`probe matrix: ${JSON.stringify(all)}`);
  fabric.cut.add(0xc000000003);
  const cutView = await waitCells((c) => ['root-a>root-c', 'root-b>root-c', 'root-c>root-a', 'root-c>root-b'].every((k) => c[k] === RED) && c['root-a>root-b'] === GREEN && c['root-b>root-a'] === GREEN, 'root-c cut off: its row and column red, the rest green');
  t.diagnostic(`root-c cut off: ${JSON.stringify(cutView)}`);
  mkdirSync(join(REPO_ROOT, 'test-artifacts'), { recursive: true });
  await page.screenshot({ path: join(REPO_ROOT, 'test-artifacts', 'dashboard-probe-down.png'), fullPage: true });
  fabric.cut.clear();
  await waitCells((c) => Object.keys(c).length === 6 && Object.values(c).every((v) => v === GREEN), 'restored: all green again');

  const shot = join(REPO_ROOT, 'test-artifacts', 'dashboard.png');
  await page.screenshot({ path: shot, fullPage: true });
  assert.ok(statSync(shot).size > 10_000, 'a real screenshot was written');
  assert.deepEqual(consoleErrors, [], 'no console errors');

  // Without the token the live feed is refused.
  const refused = await page.evaluate(
    (p) => new Promise<string>((resolve) => {
      const ws = new WebSocket(`ws://127.0.0.1:${p}/live`);
      ws.onopen = () => resolve('open');
      ws.onerror = () => resolve('refused');
    }),
    port,
  );
  assert.equal(refused, 'refused');
});
