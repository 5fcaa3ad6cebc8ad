/**
 * What the interoperability tests share: our root (`ztroot start` from dist/) and real ZeroTier One clients
 * (the binary named by ZT_ONE_BIN) in network namespaces (test/netns.ts), polling, zerotier-cli, and a
 * dump of everything a failing step needs to be understood.
 */
import { accessSync, constants as fsConstants, copyFileSync, existsSync, mkdirSync, openSync, closeSync, readFileSync, writeFileSync } from 'node:fs';
import type { ChildProcess } from 'node:child_process';
import type { TestContext } from 'node:test';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { netnsUnavailableReason } from './netns.js';
import type { Host, Topology } from './netns.js';

export const ZT_ONE_BIN = process.env['ZT_ONE_BIN'];
/** The repository (this file runs as dist/test/interop-harness.js); not from ./vectors.js, which needs the vectors. */
export const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
/** Port-range ad-hoc network covering every port: `ff` + 0000 + ffff + `000000` (vl2.md §1.2, form A). */
export const ADHOC_NWID = 'ff0000ffff000000';
/** Client UDP/control port; the root uses 9993 in its own namespace. */
export const CLIENT_PORT = 9994;

/** Why the suite cannot run here, or false. */
export function interopSkipReason(): string | false {
  if (ZT_ONE_BIN === undefined || ZT_ONE_BIN === '') return 'skipped: set ZT_ONE_BIN=/path/to/zerotier-one to run the interop test';
  try {
    accessSync(ZT_ONE_BIN, fsConstants.X_OK);
  } catch {
    return `skipped: ZT_ONE_BIN=${ZT_ONE_BIN} is not an executable file`;
  }
  const why = netnsUnavailableReason();
  if (why !== null) return `skipped: ${why}`;
  if (!existsSync(join(REPO_ROOT, 'dist/tools/cli.js'))) return 'skipped: dist/tools/cli.js missing (run tsc first)';
  return false;
}

/** Why the ad-hoc network steps cannot run here (a TAP device needs /dev/net/tun), or false. */
export function tapSkipReason(): string | false {
  return existsSync('/dev/net/tun') ? false : 'skipped: /dev/net/tun is missing, so zerotier-one cannot create its TAP device';
}

export const uniq = (xs: string[]): string[] => [...new Set(xs)];
export const sleep = (ms: number): Promise<void> => new Promise<void>((r) => setTimeout(r, ms));

/** Polls `probe` every `everyMs` until it returns a non-undefined value, or throws `what` after `timeoutMs`. */
export async function waitFor<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>, everyMs = 1000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastErr = '';
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch (e) {
      lastErr = (e as Error).message;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${lastErr ? ` (last error: ${lastErr})` : ''}`);
    await sleep(everyMs);
  }
}

export interface ZtPeerPath { address: string; active?: boolean; expired?: boolean; preferred?: boolean }
export interface ZtPeer { address: string; role: string; version?: string; paths: ZtPeerPath[] }
export interface ZtNetwork { id?: string; nwid?: string; status: string; name: string; portDeviceName?: string; assignedAddresses: string[] }

export interface Client {
  host: Host;
  home: string;
  log: string;
  address: string; // 10 hex digits, from `info`
}

export interface OurRoot {
  proc: ChildProcess;
  log: string;
  stateDir: string;
  /** 10 hex digits. */
  address: string;
}

/** Starts `ztroot start` in the root namespace, listing its IPv4 (and IPv6) /9993 in the planet it makes. */
export async function startOurRoot(t: Topology, work: string, extraArgs: string[] = []): Promise<OurRoot> {
  const stateDir = join(work, 'root');
  const log = join(work, 'root.log');
  const endpoints = [`${t.root.ip4}/9993`, ...(t.root.ip6 !== null ? [`${t.root.ip6}/9993`] : [])];
  const fd = openSync(log, 'w');
  const proc = t.spawn(
    t.root.ns,
    process.execPath,
    [
      join(REPO_ROOT, 'dist/tools/cli.js'), 'start', '--state-dir', stateDir,
      ...endpoints.flatMap((e) => ['--endpoint', e]),
      '--bind4', t.root.ip4, '--bind6', t.root.ip6 ?? 'none', '--port', '9993', '--log-level', 'debug',
      ...extraArgs,
    ],
    { stdio: ['ignore', fd, fd] },
  );
  closeSync(fd);
  let exited: string | null = null;
  proc.once('exit', (code, sig) => (exited = `exit ${code} ${sig ?? ''}`));
  await waitFor('our root to log "root started"', 20_000, async () => {
    if (exited !== null) throw new Error(`root died (${exited}): ${readFileSync(log, 'utf8')}`);
    return readFileSync(log, 'utf8').includes('"root started"') ? true : undefined;
  }, 200);
  // identity.public is the zerotier-idtool text form, "<10 hex address>:0:<public key>".
  const address = readFileSync(join(stateDir, 'identity.public'), 'utf8').trim().slice(0, 10);
  return { proc, log, stateDir, address };
}

/** Starts a real client on `host` with our planet (and a local.conf, if given). */
export function startClient(t: Topology, work: string, name: string, host: Host, root: OurRoot, localConf?: object): Client {
  const home = join(work, name);
  mkdirSync(home);
  // A planet file in the home replaces the compiled-in Earth (node/Topology.cpp); this is how operators install ours.
  copyFileSync(join(root.stateDir, 'planet'), join(home, 'planet'));
  if (localConf !== undefined) writeFileSync(join(home, 'local.conf'), JSON.stringify(localConf));
  const log = join(work, `${name}.log`);
  const cfd = openSync(log, 'w');
  // -U: no privilege drop (we are root in a namespace); -p: fixed port so the paths are predictable.
  t.spawn(host.ns, ZT_ONE_BIN!, ['-U', `-p${CLIENT_PORT}`, home], { stdio: ['ignore', cfd, cfd] });
  closeSync(cfd);
  return { host, home, log, address: '' };
}

/** zerotier-cli (the same binary with -q) against client `c`'s home; stdout. */
export async function cli(t: Topology, c: Client, ...args: string[]): Promise<string> {
  return (await t.exec(c.host.ns, ZT_ONE_BIN!, ['-q', `-D${c.home}`, ...args])).stdout;
}

export async function cliJson<T>(t: Topology, c: Client, ...args: string[]): Promise<T> {
  return JSON.parse(await cli(t, c, '-j', ...args)) as T;
}

/** Everything a failing step needs to be understood: root log tail, client output, info/peers/networks. */
export async function dump(t: Topology | undefined, tc: TestContext, rootLog: string, clients: Client[]): Promise<void> {
  const tail = (f: string, n: number) => {
    try {
      return readFileSync(f, 'utf8').trimEnd().split('\n').slice(-n).join('\n');
    } catch {
      return '(none)';
    }
  };
  tc.diagnostic(`root log (last 40 lines of ${rootLog}):\n${tail(rootLog, 40)}`);
  if (t === undefined) return;
  for (const c of clients) {
    tc.diagnostic(`client ${c.address || c.host.ip4} output:\n${tail(c.log, 20)}`);
    for (const cmd of ['info', 'peers', 'listnetworks']) {
      try {
        tc.diagnostic(`${c.host.ip4} ${cmd}:\n${(await cli(t, c, cmd)).trimEnd()}`);
      } catch (e) {
        tc.diagnostic(`${c.host.ip4} ${cmd} failed: ${(e as Error).message}`);
      }
    }
  }
}

/** Wraps a test step so that its failure comes with the dump (of the topology and clients as they are then). */
export function stepWithDump(state: () => { topo: Topology | undefined; rootLog: string; clients: Client[] }) {
  return (fn: (tc: TestContext) => Promise<void>) =>
    async (tc: TestContext): Promise<void> => {
      try {
        await fn(tc);
      } catch (e) {
        const s = state();
        await dump(s.topo, tc, s.rootLog, s.clients);
        throw e;
      }
    };
}

/** The root's counters from its "stopped" log line, after SIGTERM. */
export async function stopAndReadCounters(root: OurRoot): Promise<Record<string, number>> {
  if (root.proc.exitCode !== null) throw new Error('our root is no longer running');
  root.proc.kill('SIGTERM');
  const line = await waitFor('the root\'s "stopped" log line', 15_000, async () => readFileSync(root.log, 'utf8').split('\n').find((l) => l.includes('"stopped"')), 200);
  return (JSON.parse(line) as { counters: Record<string, number> }).counters;
}

/**
 * Has client `c` join the ad-hoc network and waits until it is OK with an address, and until `sixPlane` is on
 * its TAP device and past duplicate-address detection (nothing can be sent from it before). The network as listed.
 */
export async function joinAdhoc(t: Topology, c: Client, sixPlane: string): Promise<ZtNetwork> {
  const joined = await cli(t, c, 'join', ADHOC_NWID);
  if (!/200 join OK/.test(joined)) throw new Error(`${c.host.ip4}: join ${ADHOC_NWID} answered ${joined}`);
  const net = await waitFor(`${c.host.ip4} network ${ADHOC_NWID} OK with an address`, 30_000, async () => {
    const n = (await cliJson<ZtNetwork[]>(t, c, 'listnetworks')).find((x) => (x.nwid ?? x.id) === ADHOC_NWID);
    return n !== undefined && n.status === 'OK' && n.assignedAddresses.length > 0 ? n : undefined;
  });
  const dev = net.portDeviceName ?? '';
  if (dev === '') throw new Error(`${c.host.ip4}: no TAP device name in ${JSON.stringify(net)}`);
  await waitFor(`${sixPlane} usable on ${dev}`, 15_000, async () => {
    const out = (await t.exec(c.host.ns, 'ip', ['-6', 'addr', 'show', 'dev', dev])).stdout;
    return out.includes(`${sixPlane}/40`) && !/tentative/.test(out) ? true : undefined;
  }, 250);
  return net;
}

/** Pings until a first echo reply comes back (the first frames wait for WHOIS through the root); ms it took. */
export async function firstEcho(t: Topology, ns: string, to: string): Promise<number> {
  const t0 = Date.now();
  await waitFor(`a first echo reply from ${to}`, 30_000, async () => {
    const r = await t.exec(ns, 'ping', ['-6', '-c', '1', '-W', '1', to], { timeoutMs: 5000 });
    return /1 received/.test(r.stdout) ? true : undefined;
  }, 200);
  return Date.now() - t0;
}

/** Pings `to` from `from`'s namespace (`count` echoes); [transmitted, received] and the summary line. */
export async function ping6(t: Topology, ns: string, to: string, count: number): Promise<{ sent: number; received: number; summary: string }> {
  // ping exits 1 when some replies are missing, and a failed exec keeps only stderr: run it so that the summary
  // line (stdout) always comes back, and let the counts decide.
  const out = (await t.exec(ns, 'sh', ['-c', `ping -6 -c ${count} -i 0.2 -W 2 ${to}; exit 0`], { timeoutMs: 15_000 })).stdout;
  const m = /(\d+) packets transmitted, (\d+) received/.exec(out);
  if (!m) throw new Error(`no ping summary: ${out}`);
  return { sent: Number(m[1]), received: Number(m[2]), summary: m[0] };
}
