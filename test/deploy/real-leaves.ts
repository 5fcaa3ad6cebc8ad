/**
 * Real ZeroTier One leaves (the binary named by ZT_ONE_BIN, e.g. 1.14.1) for the deploy test: installed as an
 * operator installs them with a private planet (the planet file in the home), in a namespace of their own, and
 * checked through zerotier-cli. Built on test/interop-harness.ts, which the other interop tests share.
 */
import { closeSync, mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import type { ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { ipv6SixPlane } from '../../vl1/mac-ip.js';
import { parseAddress } from '../../vl1/address.js';
import { ADHOC_NWID, CLIENT_PORT, cli, cliJson, firstEcho, interopSkipReason, joinAdhoc, ping6, tapSkipReason, waitFor, ZT_ONE_BIN, type Client, type ZtPeer } from '../interop-harness.js';
import type { Host, Topology } from '../netns.js';

/** Why the real-leaf part of the deploy test cannot run here (no ZT_ONE_BIN, no /dev/net/tun…), or false. */
export function realLeavesSkipReason(): string | false {
  if (ZT_ONE_BIN === undefined || ZT_ONE_BIN === '') return 'skipped: ZT_ONE_BIN is not set (point it at a zerotier-one 1.14.1 binary to include real leaves)';
  return interopSkipReason() || tapSkipReason();
}

export interface RealLeaf extends Client {
  proc: ChildProcess;
}

/** Starts zerotier-one on `host` (port 9994) with `planet` in its home; not yet ONLINE. */
export function startRealLeaf(topo: Topology, work: string, name: string, host: Host, planet: Uint8Array): RealLeaf {
  const home = join(work, name);
  mkdirSync(home);
  writeFileSync(join(home, 'planet'), planet);
  const log = join(work, `${name}.log`);
  const fd = openSync(log, 'w');
  // -U: no privilege drop (root in a namespace); -p: a fixed port, so paths are predictable.
  const proc = topo.spawn(host.ns, ZT_ONE_BIN!, ['-U', `-p${CLIENT_PORT}`, home], { stdio: ['ignore', fd, fd] });
  closeSync(fd);
  return { host, home, log, address: '', proc };
}

export interface ZtInfo {
  address: string;
  online: boolean;
  version: string;
}

export const info = (topo: Topology, c: Client): Promise<ZtInfo> => cliJson<ZtInfo>(topo, c, 'info');

/** Waits until `zerotier-cli info` says ONLINE; fills in the leaf's address; ms it took from `since`. */
export async function waitOnline(topo: Topology, c: RealLeaf, since: number): Promise<number> {
  const i = await waitFor(`real leaf ${c.host.ip4} ONLINE`, 60_000, async () => {
    if (c.proc.exitCode !== null) throw new Error(`zerotier-one exited ${c.proc.exitCode}: ${readFileSync(c.log, 'utf8').slice(-1000)}`);
    const x = await info(topo, c);
    return x.online ? x : undefined;
  }, 500);
  c.address = i.address;
  return Date.now() - since;
}

/** The leaf's roots (role PLANET in 1.14), each with the addresses of its live paths. */
export async function rootPaths(topo: Topology, c: Client): Promise<Array<{ address: string; paths: string[] }>> {
  const peers = await cliJson<ZtPeer[]>(topo, c, 'peers');
  return peers
    .filter((p) => p.role === 'PLANET')
    .map((p) => ({ address: p.address, paths: p.paths.filter((x) => x.expired !== true).map((x) => x.address) }));
}

export const sixPlane = (c: Client): string => ipv6SixPlane(BigInt(`0x${ADHOC_NWID}`), parseAddress(c.address));

/** Both leaves on the ad-hoc network, then `from` pings `to`'s 6PLANE address: time to a first echo, and a run. */
export async function pingAcross(topo: Topology, from: Client, to: Client, count: number): Promise<{ firstEchoMs: number; sent: number; received: number; summary: string }> {
  const firstEchoMs = await firstEcho(topo, from.host.ns, sixPlane(to));
  const run = await ping6(topo, from.host.ns, sixPlane(to), count);
  return { firstEchoMs, ...run };
}

export async function joinNetwork(topo: Topology, c: Client): Promise<void> {
  await joinAdhoc(topo, c, sixPlane(c));
}

/** zerotier-one's output and its info/peers/listnetworks, for a failing step. */
export async function describe(topo: Topology, c: RealLeaf): Promise<string> {
  const parts = [`real leaf ${c.address || c.host.ip4} (${c.home}), exit ${c.proc.exitCode ?? 'running'}:`, readFileSync(c.log, 'utf8').slice(-1500)];
  for (const cmd of ['info', 'peers', 'listnetworks']) {
    try {
      parts.push(`${cmd}:\n${(await cli(topo, c, cmd)).trimEnd()}`);
    } catch (e) {
      parts.push(`${cmd} failed: ${(e as Error).message}`);
    }
  }
  return parts.join('\n');
}

/**
 * Pings `to`'s 6PLANE address from `from` once a second until an echo comes back or `timeoutMs` passes;
 * ms until the first echo, or null (also once `stopped()`).
 */
export async function echoWithin(topo: Topology, from: Client, to: Client, timeoutMs: number, stopped: () => boolean): Promise<number | null> {
  const t0 = Date.now();
  while (Date.now() - t0 < timeoutMs && !stopped()) {
    // Never rejects: it runs unawaited while other steps do.
    const r = await topo.exec(from.host.ns, 'sh', ['-c', `ping -6 -c 1 -W 1 ${sixPlane(to)}; exit 0`], { timeoutMs: 5000 }).catch(() => ({ stdout: '' }));
    if (/1 received/.test(r.stdout)) return Date.now() - t0;
    await new Promise((res) => setTimeout(res, 1000));
  }
  return null;
}
