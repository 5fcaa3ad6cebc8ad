/**
 * The planet a first `ztroot start` (`npm start`) makes lists only addresses clients can reach. It listed every
 * non-loopback address before — container bridges, overlay and VPN interfaces, ULAs — and a client picks any
 * endpoint of a root. Tested in a network namespace whose root host also has the interfaces a container host
 * has (made as veth interfaces with those names), and in one that has only a private address.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import { parseWorld } from '../planet/world.js';
import { formatInetAddress } from '../vl1/inet-address.js';
import { netnsUnavailableReason, withTopology, type Topology } from './netns.js';
import { watchJsonLines } from './json-lines.js';
import { CLI } from './cli-process.js';

const skip = netnsUnavailableReason();
if (skip) console.log(`# first-planet endpoint tests skipped: ${skip}`);

/** Starts a root with no --endpoint in `ns`, waits until it serves, stops it; returns its planet's endpoints. */
async function firstStartEndpoints(t: Topology, ns: string): Promise<{ endpoints: string[]; stderr: string }> {
  const state = join(mkdtempSync(join(tmpdir(), 'ztroot-firstplanet-')), 'state');
  const child = t.spawn(ns, process.execPath, [CLI, 'start', '--state-dir', state, '--http', 'none', '--validation-workers', '1'], { stdio: ['ignore', 'pipe', 'pipe'] });
  const w = watchJsonLines(child, 'ztroot start');
  await w.waitFor((l) => l.msg === 'root started', 20_000, 'root started');
  child.kill('SIGTERM');
  await once(child, 'exit');
  const world = parseWorld(new Uint8Array(readFileSync(join(state, 'planet'))));
  return { endpoints: world.roots[0]!.stableEndpoints.map(formatInetAddress), stderr: w.stderr() };
}

let pairs = 0;
/** An interface called `name` with these addresses (a veth: the kernel here may lack the dummy type). */
async function iface(t: Topology, ns: string, name: string, ...cidrs: string[]): Promise<void> {
  const peer = `veth${++pairs}p`; // skipped by its name, like a container's host end
  await t.exec(ns, 'ip', ['link', 'add', name, 'type', 'veth', 'peer', 'name', peer]);
  for (const c of cidrs) await t.exec(ns, 'ip', ['addr', 'add', c, 'dev', name, ...(c.includes(':') ? ['nodad'] : [])]);
  await t.exec(ns, 'ip', ['link', 'set', name, 'up']);
  await t.exec(ns, 'ip', ['link', 'set', peer, 'up']);
}

test('a host with container bridges, overlays, a VPN and a ULA: the planet lists only its public addresses', { skip: skip ?? false, timeout: 60_000 }, async () => {
  await withTopology({ ipv6: true }, async (t) => {
    const ns = t.root.ns;
    await t.exec(ns, 'ip', ['addr', 'add', 'fd00::5/64', 'dev', 'eth0', 'nodad']);
    await iface(t, ns, 'docker0', '172.17.0.1/16');
    await iface(t, ns, 'br-3f2a1c9d', '172.18.0.1/16');
    await iface(t, ns, 'virbr0', '192.168.122.1/24');
    await iface(t, ns, 'cni0', '10.244.0.1/24');
    await iface(t, ns, 'wg0', '10.8.0.1/24', '2001:db8:99::1/64');
    await iface(t, ns, 'tailscale0', '100.100.1.1/32');
    await iface(t, ns, 'zt7nnig26', '10.147.17.1/24');
    const { endpoints } = await firstStartEndpoints(t, ns);
    assert.deepEqual(endpoints.sort(), ['192.0.0.1/9993', '2001:db8:1::1/9993']);
  });
});

test('a host with only a private address: that address, and a warning naming it', { skip: skip ?? false, timeout: 60_000 }, async () => {
  await withTopology({ ipv6: false }, async (t) => {
    const ns = t.root.ns;
    await t.exec(ns, 'ip', ['addr', 'flush', 'dev', 'eth0']);
    await t.exec(ns, 'ip', ['addr', 'add', '10.0.0.5/24', 'dev', 'eth0']);
    await iface(t, ns, 'docker0', '172.17.0.1/16');
    const { endpoints, stderr } = await firstStartEndpoints(t, ns);
    assert.deepEqual(endpoints, ['10.0.0.5/9993']);
    assert.match(stderr, /warning: only private addresses found \(10\.0\.0\.5\)/);
  });
});
