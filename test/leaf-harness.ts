/**
 * Our leaf as the tests run it: `ztroot leaf` from dist/ as a process in a network namespace of its own, with a
 * home laid out as ZeroTier's, driven through its local API (the one zerotier-cli uses) from inside that
 * namespace — exactly how an operator's scripts would drive it.
 */
import { closeSync, mkdirSync, openSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import type { Host, Topology } from './netns.js';
import { REPO_ROOT, waitFor } from './interop-harness.js';

export const LEAF_CLI = join(REPO_ROOT, 'dist/tools/cli.js');

export interface OurLeaf {
  host: Host;
  home: string;
  log: string;
  proc: ChildProcess;
  /** 10 hex digits. */
  address: string;
  /** The API's port (zerotier-one.port). */
  port: number;
  token: string;
}

export interface LeafNetworkJson {
  id: string;
  nwid: string;
  status: string;
  name: string;
  portDeviceName: string;
  assignedAddresses: string[];
  mtu: number;
  type: string;
}

/** The process's log so far. */
export function leafLog(l: OurLeaf): string {
  try {
    return readFileSync(l.log, 'utf8');
  } catch {
    return '';
  }
}

/**
 * Starts `ztroot leaf --home <work>/<name> --planet <planet>` in `host`'s namespace and waits for its API.
 * `localConf`, if given, is written first; `nodeArgs` go to node before the script (e.g. `--cpu-prof`).
 */
export async function startOurLeaf(t: Topology, work: string, name: string, host: Host, planetFile: string, extra: string[] = [], localConf?: object, nodeArgs: string[] = []): Promise<OurLeaf> {
  const home = join(work, name);
  mkdirSync(home, { recursive: true });
  if (localConf !== undefined) (await import('node:fs')).writeFileSync(join(home, 'local.conf'), JSON.stringify(localConf));
  const log = join(work, `${name}.log`);
  const fd = openSync(log, 'w');
  const proc = t.spawn(host.ns, process.execPath, [...nodeArgs, LEAF_CLI, 'leaf', '--home', home, '--planet', planetFile, '--log-level', 'debug', ...extra], { stdio: ['ignore', fd, fd] });
  closeSync(fd);
  let exited: string | null = null;
  proc.once('exit', (code, sig) => (exited = `exit ${code} ${sig ?? ''}`));
  await waitFor(`leaf ${name} to log "leaf started"`, 20_000, async () => {
    if (exited !== null) throw new Error(`leaf ${name} died (${exited}): ${leafLog({ log } as OurLeaf)}`);
    return leafLog({ log } as OurLeaf).includes('"leaf started"') ? true : undefined;
  }, 100);
  const port = Number(readFileSync(join(home, 'zerotier-one.port'), 'utf8').trim());
  const token = readFileSync(join(home, 'authtoken.secret'), 'utf8').trim();
  const address = readFileSync(join(home, 'identity.public'), 'utf8').trim().slice(0, 10);
  return { host, home, log, proc, address, port, token };
}

/** One request to the leaf's local API from inside its namespace; the status and the parsed JSON body. */
export async function leafApi<T = unknown>(t: Topology, l: OurLeaf, method: string, path: string, body?: object): Promise<{ status: number; body: T }> {
  const script = `
    const r = await fetch(process.argv[1], { method: process.argv[2], headers: { 'X-ZT1-Auth': process.argv[3] }, body: process.argv[4] || undefined });
    process.stdout.write(JSON.stringify({ status: r.status, text: await r.text() }));`;
  const { stdout } = await t.exec(l.host.ns, process.execPath, ['--input-type=module', '-e', script, `http://127.0.0.1:${l.port}${path}`, method, l.token, body === undefined ? '' : JSON.stringify(body)]);
  const r = JSON.parse(stdout) as { status: number; text: string };
  let parsed: unknown = r.text;
  try {
    parsed = JSON.parse(r.text);
  } catch {
    /* not JSON: the text */
  }
  return { status: r.status, body: parsed as T };
}

/** Joins `nwid` and waits until the network is OK with its device up and `address` (if given) past DAD. */
export async function joinAndWait(t: Topology, l: OurLeaf, nwid: string, mustHave?: string): Promise<LeafNetworkJson> {
  const r = await leafApi<LeafNetworkJson>(t, l, 'POST', `/network/${nwid}`, {});
  if (r.status !== 200) throw new Error(`join ${nwid} answered ${r.status} ${JSON.stringify(r.body)}`);
  const net = await waitFor(`${l.host.ip4}: network ${nwid} OK with a device`, 30_000, async () => {
    const n = (await leafApi<LeafNetworkJson>(t, l, 'GET', `/network/${nwid}`)).body;
    return n.status === 'OK' && n.portDeviceName !== '' && n.assignedAddresses.length > 0 ? n : undefined;
  }, 250);
  if (mustHave !== undefined) {
    const family = mustHave.includes(':') ? '-6' : '-4';
    await waitFor(`${mustHave} usable on ${net.portDeviceName}`, 15_000, async () => {
      const out = (await t.exec(l.host.ns, 'ip', [family, 'addr', 'show', 'dev', net.portDeviceName])).stdout;
      return out.includes(`${mustHave}/`) && !/tentative/.test(out) ? true : undefined;
    }, 250);
  }
  return net;
}
