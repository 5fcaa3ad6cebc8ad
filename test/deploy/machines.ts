/**
 * Target machines for the Ansible test: Debian bookworm booted with systemd by `systemd-nspawn -b`, each inside a
 * network namespace of a test topology (test/netns.ts), so each has its own address on the public segment, as a
 * VPS does. Ansible reaches them over SSH from another namespace of the topology (the control node).
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import type { Host, Topology } from '../netns.js';
import { REPO_ROOT } from '../vectors.js';

export interface Machine {
  name: string;
  host: Host;
  dir: string;
  proc: ChildProcess;
  log: () => string;
}

export const SSH_OPTS = ['-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null', '-o', 'LogLevel=ERROR', '-o', 'ConnectTimeout=5', '-o', 'BatchMode=yes'];

/** Why the machines cannot run here, or null. */
export function machinesUnavailableReason(): string | null {
  if (process.getuid?.() !== 0) return 'needs root (systemd-nspawn, network namespaces)';
  for (const [tool, pkg] of [['systemd-nspawn', 'systemd-container'], ['debootstrap', 'debootstrap'], ['ansible-playbook', 'ansible'], ['ssh', 'openssh-client'], ['ssh-keygen', 'openssh-client']]) {
    try {
      execFileSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' });
    } catch {
      return `${tool} is not installed (apt-get install ${pkg})`;
    }
  }
  return null;
}

/** The packages the root role installs to build the native addons (its ztroot_native_build_packages). */
export function nativeBuildPackages(): string[] {
  const defaults = parseYaml(readFileSync(join(REPO_ROOT, 'ansible', 'roles', 'root', 'defaults', 'main.yml'), 'utf8')) as { ztroot_native_build_packages?: unknown };
  const pkgs = defaults.ztroot_native_build_packages;
  if (!Array.isArray(pkgs) || !pkgs.every((p) => typeof p === 'string')) throw new Error(`ansible/roles/root/defaults/main.yml: ztroot_native_build_packages is not a list of package names: ${JSON.stringify(pkgs)}`);
  return pkgs;
}

/**
 * The machines' template (debootstrapped once, cached), with `publicKey` allowed to log in as root and the .debs
 * of the role's compiler packages in apt's cache (the machines reach no mirror).
 */
export function machineTemplate(publicKeyFile: string): string {
  const out = execFileSync('bash', [join(REPO_ROOT, 'test', 'deploy', 'machine-image.sh'), publicKeyFile, ...nativeBuildPackages()], { stdio: ['ignore', 'pipe', 'inherit'], timeout: 20 * 60_000 });
  return out.toString().trim().split('\n').pop()!;
}

/** Copies the template and boots it in `host`'s namespace. */
export function bootMachine(template: string, work: string, name: string, host: Host): Machine {
  const dir = join(work, `machine-${name}`);
  rmSync(dir, { recursive: true, force: true });
  // cp -a: device nodes, owners, modes and capabilities as they are (fs.cpSync cannot copy device nodes).
  execFileSync('cp', ['-a', '--reflink=auto', template, dir]);
  writeFileSync(join(dir, 'etc', 'hostname'), `${name}\n`);
  // apt's lists count as fresh (the roles' apt tasks update the cache only when it is a day old; the machines
  // reach no mirror).
  const now = new Date();
  utimesSync(join(dir, 'var', 'lib', 'apt', 'lists'), now, now);
  mkdirSync(join(dir, 'var', 'lib', 'apt', 'periodic'), { recursive: true });
  writeFileSync(join(dir, 'var', 'lib', 'apt', 'periodic', 'update-success-stamp'), '');
  let out = '';
  const proc = spawn('systemd-nspawn', [
    '--boot', '--directory', dir, '--machine', `ztd-${name}`, '--register=no', '--keep-unit',
    `--network-namespace-path=/run/netns/${host.ns}`,
    // nftables (the firewall role) needs it; nspawn grants it only with a network of its own making.
    '--capability=CAP_NET_ADMIN',
  ], { stdio: ['ignore', 'pipe', 'pipe'] });
  proc.stdout!.on('data', (d: Buffer) => (out = (out + d.toString()).slice(-20_000)));
  proc.stderr!.on('data', (d: Buffer) => (out = (out + d.toString()).slice(-20_000)));
  return { name, host, dir, proc, log: () => out };
}

/** Waits until the machine answers SSH from the control namespace. */
export async function waitForSsh(topo: Topology, control: Host, key: string, m: Machine, ms = 60_000): Promise<void> {
  const deadline = Date.now() + ms;
  let last = '';
  while (Date.now() < deadline) {
    if (m.proc.exitCode !== null) throw new Error(`machine ${m.name} exited (${m.proc.exitCode}):\n${m.log()}`);
    try {
      await topo.exec(control.ns, 'ssh', [...SSH_OPTS, '-i', key, `root@${m.host.ip4}`, 'systemctl is-system-running --wait || true'], { timeoutMs: 30_000 });
      return;
    } catch (e) {
      last = (e as Error).message;
      await new Promise((r) => setTimeout(r, 500));
    }
  }
  throw new Error(`machine ${m.name} (${m.host.ip4}) did not answer SSH in ${ms} ms: ${last}\n${m.log().slice(-3000)}`);
}

/** Powers the machine off (nspawn turns SIGTERM into a clean shutdown), then kills it if it lingers. */
export async function stopMachine(m: Machine): Promise<void> {
  if (m.proc.exitCode === null && m.proc.signalCode === null) {
    const exited = new Promise<void>((r) => m.proc.once('exit', () => r()));
    m.proc.kill('SIGTERM');
    const timer = setTimeout(() => m.proc.kill('SIGKILL'), 15_000);
    await exited;
    clearTimeout(timer);
  }
  rmSync(m.dir, { recursive: true, force: true });
}
