/**
 * The Dockerfile as an operator uses it: built unchanged with podman on a locally made base image (no registry
 * here), started in a network namespace of its own as a non-root user with only CAP_NET_BIND_SERVICE, state in
 * a volume, TCP relay on 443. It runs on the native addons the build stage compiled (batched UDP, native
 * identity hash: /api/status says so), and the runtime image carries no compiler. Our leaf, given the planet the container made, goes ONLINE through it (a real
 * HELLO); the HEALTHCHECK passes; SIGTERM (podman stop) stops it cleanly and promptly.
 *
 * Part of `npm run test:deploy` (not `npm test`): the first run debootstraps the base image (minutes).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chownSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { Identity } from '../../vl1/identity.js';
import { createTopology, netnsUnavailableReason } from '../netns.js';
import { startLeaf } from '../fleet-hosts.js';
import { IMAGE, buildImage, ensureBaseImage, podman, podmanGlobalArgs, podmanUnavailableReason, ulimitArgs } from './podman.js';
import { FIND_TOOLCHAIN, assertNativeAddons } from './native-status.js';

const skip = podmanUnavailableReason() ?? netnsUnavailableReason() ?? false;

test('the container image serves a real HELLO and stops cleanly on SIGTERM', { skip, timeout: 20 * 60_000 }, async () => {
  ensureBaseImage();
  const seconds = buildImage();
  const size = podman(['image', 'inspect', '--format', '{{.Size}}', IMAGE]).trim();
  console.log(`# podman build: ${seconds.toFixed(0)} s; image ${(Number(size) / 1e6).toFixed(0)} MB`);

  const topo = await createTopology({ publicHosts: 1 });
  const state = mkdtempSync(join(tmpdir(), 'ztroot-container-'));
  chownSync(state, 10001, 10001);
  const name = `ztroot-deploy-${topo.tag}`;
  try {
    podman([
      'run', '--detach', '--name', name,
      '--network', `ns:/run/netns/${topo.root.ns}`,
      '--cap-drop', 'all', '--cap-add', 'net_bind_service', '--security-opt', 'no-new-privileges',
      ...ulimitArgs(),
      '--volume', `${state}:/var/lib/ztroot`,
      '--env', `ZTROOT_ENDPOINTS=${topo.root.ip4}/9993`,
      '--env', 'ZTROOT_TCP_RELAY=[::]:443',
      IMAGE,
    ]);
    const planetFile = join(state, 'planet');
    const deadline = Date.now() + 30_000;
    while (!existsSync(planetFile) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 250));
    assert.ok(existsSync(planetFile), `the container wrote no planet into its volume in 30 s; logs:\n${podman(['logs', name])}`);
    const logs = podman(['logs', name]);
    assert.match(logs, /"msg":"root started"/);
    assert.match(podman(['exec', name, 'id', '-u']), /^10001\s*$/, 'runs as the non-root user');
    // 443 bound by the non-root user: the TCP relay listens.
    assert.match(logs, /443/, 'the TCP relay on 443 is in the start-up log');
    // The native addons, as the root itself reports them (the API listens on the container's loopback).
    const status = await topo.exec(topo.root.ns, 'curl', ['-s', '-m', '5', 'http://127.0.0.1:9980/api/status']);
    console.log(`# container root: ${assertNativeAddons(status.stdout, 'the container root', logs)}`);
    const toolchain = podman(['exec', name, 'sh', '-c', FIND_TOOLCHAIN]).trim();
    assert.equal(toolchain, '', `the runtime image carries build tools: ${toolchain}`);

    const leaf = await startLeaf({ topo }, topo.publicHosts[0]!, Identity.generate(), new Uint8Array(readFileSync(planetFile)));
    leaf.proc.kill('SIGTERM');

    const health = spawnSync('podman', [...podmanGlobalArgs(), 'healthcheck', 'run', name], { encoding: 'utf8' });
    assert.equal(health.status, 0, `HEALTHCHECK failed: ${health.stdout}${health.stderr}`);

    const t0 = Date.now();
    podman(['stop', '--time', '20', name], 40_000); // SIGTERM, then SIGKILL after 20 s
    const stopMs = Date.now() - t0;
    const exit = podman(['inspect', '--format', '{{.State.ExitCode}}', name]).trim();
    const after = podman(['logs', name]);
    console.log(`# stopped in ${stopMs} ms, exit code ${exit}`);
    assert.equal(exit, '0', `exit code after SIGTERM: ${exit}\n${after.slice(-2000)}`);
    assert.ok(stopMs < 10_000, `SIGTERM took ${stopMs} ms: it did not reach node`);
    assert.match(after, /"msg":"stopped"/, 'the root logged its clean stop');
  } finally {
    spawnSync('podman', [...podmanGlobalArgs(), 'rm', '--force', name]);
    await topo.destroy();
    rmSync(state, { recursive: true, force: true });
  }
});
