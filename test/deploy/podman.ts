/**
 * Podman for the deploy tests: which runtime works on this machine, the locally made base image
 * (test/deploy/base-image.sh) and the image built from the repository's Dockerfile, unchanged.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { REPO_ROOT } from '../vectors.js';

export const BASE_IMAGE = process.env.ZTROOT_BASE_IMAGE ?? 'localhost/ztroot-node-base:20-bookworm-slim';
export const IMAGE = 'localhost/ztroot:deploy-test';

/** Why the container tests cannot run here, or null. */
export function podmanUnavailableReason(): string | null {
  if (process.getuid?.() !== 0) return 'needs root (podman, network namespaces)';
  for (const tool of ['podman', 'debootstrap']) {
    if (spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0) return `${tool} is not installed (apt-get install ${tool})`;
  }
  return null;
}

/**
 * Global podman options: crun refuses cgroup v1/v2 hybrid hosts (as this one), runc does not; with cgroup v2
 * podman's default runtime is fine.
 */
export function podmanGlobalArgs(): string[] {
  const hybrid = spawnSync('sh', ['-c', 'test -d /sys/fs/cgroup/unified && test -d /sys/fs/cgroup/memory']).status === 0;
  const runc = spawnSync('sh', ['-c', 'command -v runc']).status === 0;
  return hybrid && runc ? ['--runtime', 'runc'] : [];
}

/**
 * Limits for `podman run`: its default (nofile 1048576, nproc) cannot be set where the engine's own hard limit is
 * lower, so the container gets this process's hard limits, as a VPS gets its own.
 */
export function ulimitArgs(): string[] {
  const hard = (what: string): number => Number(execFileSync('bash', ['-c', `ulimit -H${what}`]).toString().trim()) || 4096;
  // nproc: an explicit value, as this engine's default (and even the host's own value) is refused here.
  return ['--ulimit', `nofile=${hard('n')}:${hard('n')}`, '--ulimit', 'nproc=4096:4096'];
}

export function podman(args: string[], timeoutMs = 60_000): string {
  return execFileSync('podman', [...podmanGlobalArgs(), ...args], { timeout: timeoutMs, stdio: ['ignore', 'pipe', 'pipe'] }).toString();
}

/** Makes the base image when missing (minutes the first time: debootstrap). */
export function ensureBaseImage(): void {
  execFileSync('bash', [join(REPO_ROOT, 'test', 'deploy', 'base-image.sh')], { stdio: ['ignore', 'inherit', 'inherit'], timeout: 15 * 60_000 });
}

/** `podman build` of the repository's Dockerfile with the local base image; returns the seconds it took. */
export function buildImage(): number {
  const t0 = Date.now();
  const r = spawnSync('podman', [...podmanGlobalArgs(), 'build', '--format', 'docker', '--build-arg', `NODE_IMAGE=${BASE_IMAGE}`, '-t', IMAGE, REPO_ROOT], {
    timeout: 15 * 60_000,
    encoding: 'utf8',
  });
  if (r.status !== 0) throw new Error(`podman build failed (exit ${r.status}):\n${(r.stdout ?? '').slice(-3000)}\n${(r.stderr ?? '').slice(-3000)}`);
  return (Date.now() - t0) / 1000;
}
