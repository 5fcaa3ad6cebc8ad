/**
 * `ztroot leaf` as a process, as systemd or an operator sees it: usage errors exit 2 naming the option, a home
 * it cannot use exits 1 naming the file and the fix, a busy port exits 1 at once naming the port (never a hang),
 * SIGTERM stops it with exit 0, and what was joined is joined again after a restart, from the saved config.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import { Identity } from '../vl1/identity.js';
import { describeRun, runCli, CLI } from './cli-process.js';
import { c25519Generate } from '../vl1/c25519.js';
import { serializeWorld, signWorld } from '../planet/world.js';
import { netnsUnavailableReason, withTopology, type Host, type Topology } from './netns.js';
import { waitFor } from './interop-harness.js';
import { tapUnavailableReason } from '../leaf/tap-access.js';
import { chooseAesEngine } from '../tools/aes-engine.js';

const NWID = 'ff0a000000000001';

/** A one-root planet (root at 192.0.0.1/9993, never started: ad-hoc networks need no root) in `dir/name`. */
function planetFile(dir: string, name = 'planet', id = 0x5eedf1ee7n): string {
  const key = c25519Generate();
  const world = signWorld(
    { type: 'planet', id, timestamp: Date.now(), updatesMustBeSignedBy: key.publicKey, roots: [{ identity: Identity.generate().publicOnly(), stableEndpoints: [{ family: 4, ip: '192.0.0.1', port: 9993 }] }] },
    key,
  );
  const file = join(dir, name);
  writeFileSync(file, serializeWorld(world));
  return file;
}

test('ztroot leaf: --help exits 0; a bad --join or --log-level exits 2 naming the value', async () => {
  const help = await runCli(['leaf', '--help']);
  assert.equal(help.code, 0, describeRun(help));
  assert.match(help.stdout, /usage: ztroot leaf/);
  assert.match(help.stdout, /--join/);
  const badJoin = await runCli(['leaf', '--join', 'abc']);
  assert.equal(badJoin.code, 2, describeRun(badJoin));
  assert.deepEqual(badJoin.errLines, [`ztroot leaf: --join "abc": a network id is 16 hex digits, not all zero (see 'ztroot leaf --help')`]);
  const badLevel = await runCli(['leaf', '--log-level', 'loud']);
  assert.equal(badLevel.code, 2, describeRun(badLevel));
  assert.match(badLevel.errLines[0]!, /--log-level "loud"/);
});

test('ztroot leaf: a home without a planet, or another planet than the home holds, exits 1 saying what to do', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ztroot-leaf-proc-'));
  try {
    const home = join(dir, 'home');
    const none = await runCli(['leaf', '--home', home]);
    assert.equal(none.code, 1, describeRun(none));
    assert.equal(none.errLines.length, 1, describeRun(none));
    assert.match(none.errLines[0]!, new RegExp(`${join(home, 'planet').replace(/[/.]/g, '\\$&')}`));

    const first = planetFile(dir, 'first');
    const other = planetFile(dir, 'other', 0xa11e7n);
    writeFileSync(join(home, 'planet'), readFileSync(first));
    const r = await runCli(['leaf', '--home', home, '--planet', other]);
    assert.equal(r.code, 1, describeRun(r));
    assert.match(r.errLines[0]!, /^ztroot leaf: --planet .*other is planet a11e7 but .*holds planet 5eedf1ee7; a leaf keeps one planet: remove .* to change planets$/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

const nsSkip = (() => {
  const why = netnsUnavailableReason() ?? tapUnavailableReason();
  return why === null ? false : `skipped: ${why}`;
})();

/** Runs `ztroot leaf …` in `host`'s namespace; resolves once it logged `until` (or exited). */
async function leafIn(t: Topology, host: Host, args: string[], until: string | null) {
  const child = t.spawn(host.ns, process.execPath, [CLI, 'leaf', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const closed = once(child, 'close');
  const t0 = Date.now();
  await waitFor(until === null ? 'the leaf to exit' : `the leaf to log "${until}"`, 15_000, async () => (child.exitCode !== null || (until !== null && out.includes(`"msg":"${until}"`)) ? true : undefined), 50);
  return { child, out: () => out, err: () => err, closed, ms: Date.now() - t0 };
}

test('ztroot leaf: a busy primary port exits 1 at once naming it; SIGTERM exits 0; a restart rejoins from networks.d', { skip: nsSkip, timeout: 90_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ztroot-leaf-proc-'));
  try {
    await withTopology({ publicHosts: 1 }, async (t) => {
      const host = t.publicHosts[0]!;
      const planet = planetFile(dir);
      const home = join(dir, 'home');

      // Another process holds UDP 9993 (another zerotier-one, say).
      const holder = t.spawn(host.ns, process.execPath, ['-e', "require('node:dgram').createSocket('udp4').bind(9993, () => console.log('bound'))"], { stdio: ['ignore', 'pipe', 'inherit'] });
      await once(holder.stdout!, 'data');
      const busy = await leafIn(t, host, ['--home', home, '--planet', planet], null);
      await busy.closed;
      assert.equal(busy.child.exitCode, 1, busy.err());
      assert.ok(busy.ms < 10_000, `exited after ${busy.ms} ms`);
      assert.match(busy.err(), /^ztroot leaf: port 9993 \(local\.conf settings\.primaryPort, UDP and TCP\) is in use/);
      holder.kill();
      await once(holder, 'exit');

      // Joined, configured, stopped by SIGTERM.
      const first = await leafIn(t, host, ['--home', home, '--join', NWID], 'network configured');
      assert.ok(existsSync(join(home, 'networks.d', `${NWID}.conf`)), 'the config is kept');
      first.child.kill('SIGTERM');
      await first.closed;
      assert.equal(first.child.exitCode, 0, first.err());
      assert.match(first.out(), /"msg":"stopped"/);

      // Started again without --join: the network is back, with its saved config, and its device.
      const again = await leafIn(t, host, ['--home', home], 'leaf started');
      assert.match(again.out(), new RegExp(`"networks":\\["${NWID}"\\]`));
      assert.match(again.out(), new RegExp(`"aes":"${chooseAesEngine().engine.name}"[^\\n]*"msg":"leaf started"`), 'the start-up line names the suite-3 engine');
      const dev = await waitFor('the TAP device back', 10_000, async () => {
        const links = (await t.exec(host.ns, 'ip', ['-o', 'link', 'show'])).stdout;
        return /\d+: (zt\w+):/.exec(links)?.[1];
      }, 100);
      // The device is made first and addressed just after (leaf/tap.ts): wait for the address, not only the device.
      await waitFor('the saved address on the TAP device', 10_000, async () => /inet 10\.\d+\.\d+\.\d+\/8/.test((await t.exec(host.ns, 'ip', ['-4', 'addr', 'show', 'dev', dev])).stdout) || undefined, 100);
      again.child.kill('SIGTERM');
      await again.closed;
      assert.equal(again.child.exitCode, 0, again.err());
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
