/**
 * A real NAT-PMP / UPnP IGD gateway for the port-mapping tests: Debian's `miniupnpd` (package miniupnpd-iptables,
 * 2.3.1 on bookworm) running in a NAT router namespace of test/netns.ts, set up as Debian's own start script would
 * set it up, inside that namespace only.
 *
 * What it takes, and why:
 * - The MINIUPNPD chains (nat PREROUTING → MINIUPNPD for the DNATs, filter FORWARD → MINIUPNPD for the accepts,
 *   nat POSTROUTING → MINIUPNPD-POSTROUTING for port-preserving SNAT) come from Debian's
 *   /etc/miniupnpd/iptables_init.sh (miniupnpd-iptables; it sources miniupnpd_functions.sh from the miniupnpd
 *   package), which `/usr/libexec/miniupnpd-startstop-helper.sh` runs before the daemon.
 *   The Debian binary manipulates them through libiptc, i.e. the legacy x_tables, while this system's `iptables`
 *   (which the harness's MASQUERADE and firewall use) is iptables-nft; so the script runs with `iptables` pointing
 *   at `iptables-legacy` (a one-link PATH shim). Both rule sets then live side by side in the router's namespace:
 *   the kernel runs legacy and nft NAT hooks together (miniupnpd's DNAT, the harness's MASQUERADE).
 *   Debian's helper refuses exactly this pairing on a host whose `iptables` is nft; we call the daemon directly.
 * - The harness's home-router firewall (nft, FORWARD: drop NEW from wan0) also sees the forwarded packets, and a
 *   legacy ACCEPT cannot overrule an nft DROP; so the router accepts what was DNATed (`--ctstate DNAT`), the rule
 *   routers with UPnP carry for their port forwards (OpenWrt's "accept port forwards").
 * - miniupnpd refuses to map when its external address is private or reserved (getifaddr.c `addr_is_reserved`),
 *   and the harness's public segment is 192.0.0.0/24, which is on that list. So the router gets one more
 *   address on wan0, {@link externalIpOf} (192.0.1.x, not on the list, never routed anywhere: the namespaces
 *   have no way out), configured as miniupnpd's `ext_ip`, and the public hosts a route to it on the segment.
 *   It is a real address of the router: packets to it arrive on wan0 and are DNATed like any other.
 * Nothing touches the host: every rule is in the router's namespace, the config, lease and pid files are in a
 * temporary directory, and the namespace's deletion removes the rest.
 */
import { spawnSync, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { NatRouter, Topology } from './netns.js';

const INIT_SCRIPT = '/etc/miniupnpd/iptables_init.sh';
const FUNCTIONS = '/etc/miniupnpd/miniupnpd_functions.sh';

let probed: string | null | undefined;

/** Why miniupnpd cannot run here (missing, or the nftables build), or null. Cached. */
export function miniupnpdUnavailableReason(): string | null {
  if (probed !== undefined) return probed;
  const v = spawnSync('miniupnpd', ['--version'], { encoding: 'utf8' });
  if (v.error) probed = `'miniupnpd' not found: install the Debian package miniupnpd-iptables (bash test/system-deps.sh does)`;
  else if (!/iptables/.test(`${v.stdout}${v.stderr}`)) probed = `this miniupnpd is not the iptables build (${`${v.stdout}${v.stderr}`.trim().split('\n').pop()}): install miniupnpd-iptables`;
  else if (!existsSync(INIT_SCRIPT)) probed = `${INIT_SCRIPT} is missing: reinstall miniupnpd-iptables`;
  else if (!existsSync(FUNCTIONS)) probed = `${FUNCTIONS} (which ${INIT_SCRIPT} sources) is missing: install the Debian package miniupnpd`;
  else if (spawnSync('iptables-legacy', ['-V'], { stdio: 'ignore' }).error) probed = `'iptables-legacy' not found: install the Debian package iptables`;
  else probed = null;
  return probed;
}

/** The external address miniupnpd announces for NAT router `index` (see the module comment for why not wan0's). */
export function externalIpOf(index: number): string {
  return `192.0.1.${64 + index}`;
}

export interface GatewayOptions {
  natpmp?: boolean;
  upnp?: boolean;
  /** Describe the device as IGD v1 only (`force_igd_desc_v1`), as many older routers do. */
  igdV1Only?: boolean;
}

export interface Miniupnpd {
  readonly router: NatRouter;
  /** The external address miniupnpd reports and DNATs (on the router's wan0). */
  readonly externalIp: string;
  readonly child: ChildProcess;
  /** Everything miniupnpd logged so far (it runs with -d: logs on stderr). */
  log(): string;
  /** miniupnpd's redirect rules now (`iptables-legacy -t nat -S MINIUPNPD` in the router). */
  natRules(): Promise<string>;
  /** Kills the daemon (SIGKILL: a gateway that dies, leaving its rules behind) and waits for it to exit. */
  kill(): Promise<void>;
}

/**
 * Starts miniupnpd on `t.nats[index]` and resolves once it listens.
 * @throws if the chains cannot be set up or the daemon does not come up within 5 s (with its log)
 */
export async function startMiniupnpd(t: Topology, index: number, opts: GatewayOptions = {}): Promise<Miniupnpd> {
  const router = t.nats[index];
  if (router === undefined) throw new Error(`startMiniupnpd: the topology has no NAT router ${index}`);
  const dir = mkdtempSync(join(tmpdir(), 'ztroot-miniupnpd-'));
  const externalIp = externalIpOf(index);

  // The router's public address miniupnpd will announce, reachable from every public host.
  await t.exec(router.ns, 'ip', ['addr', 'add', `${externalIp}/32`, 'dev', 'wan0']);
  for (const h of [t.root, ...t.publicHosts]) await t.exec(h.ns, 'ip', ['route', 'add', `${externalIp}/32`, 'dev', h.iface]);

  // Debian's chain setup, against the legacy tables the binary uses.
  mkdirShim(dir);
  await t.exec(router.ns, 'env', [`PATH=${join(dir, 'bin')}:${process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin'}`, 'sh', INIT_SCRIPT, '-i', 'wan0']);
  await t.exec(router.ns, 'iptables', ['-I', 'FORWARD', '-i', 'wan0', '-m', 'conntrack', '--ctstate', 'DNAT', '-j', 'ACCEPT']);

  const natpmp = opts.natpmp ?? true;
  const upnp = opts.upnp ?? true;
  const conf = join(dir, 'miniupnpd.conf');
  writeFileSync(
    conf,
    [
      'ext_ifname=wan0',
      `ext_ip=${externalIp}`,
      'listening_ip=lan0',
      'http_port=0',
      `enable_natpmp=${natpmp ? 'yes' : 'no'}`,
      `enable_upnp=${upnp ? 'yes' : 'no'}`,
      'ipv6_disable=yes',
      'secure_mode=yes',
      'system_uptime=yes',
      `lease_file=${join(dir, 'upnp.leases')}`,
      `uuid=${randomUUID()}`,
      `force_igd_desc_v1=${opts.igdV1Only ? 'yes' : 'no'}`,
      // The router's own private segment may map unprivileged ports; nothing else may.
      'allow 1024-65535 192.0.0.128/25 1024-65535',
      'deny 0-65535 0.0.0.0/0 0-65535',
      '',
    ].join('\n'),
  );
  const child = t.spawn(router.ns, 'miniupnpd', ['-d', '-f', conf, '-P', join(dir, 'miniupnpd.pid')], { stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  child.stdout!.on('data', (d: Buffer) => (log += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (log += d.toString()));
  child.once('exit', () => rmSync(dir, { recursive: true, force: true }));

  const ready = (): boolean => (!natpmp || log.includes('Listening for NAT-PMP')) && (!upnp || log.includes('HTTP listening on port'));
  const deadline = Date.now() + 5000;
  while (!ready()) {
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`miniupnpd did not come up in ${router.ns} (exit ${String(child.exitCode)}):\n${log}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }

  return {
    router,
    externalIp,
    child,
    log: () => log,
    natRules: async () => (await t.exec(router.ns, 'iptables-legacy', ['-t', 'nat', '-S', 'MINIUPNPD'])).stdout,
    kill: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGKILL');
      await exited;
    },
  };
}

/** `dir/bin/iptables` → iptables-legacy, for Debian's init script (it runs `which iptables`). */
function mkdirShim(dir: string): void {
  const bin = join(dir, 'bin');
  mkdirSync(bin);
  const legacy = spawnSync('sh', ['-c', 'command -v iptables-legacy'], { encoding: 'utf8' }).stdout.trim();
  symlinkSync(legacy, join(bin, 'iptables'));
}
