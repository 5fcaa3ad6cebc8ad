/**
 * The batched UDP addon's build (native/udp/build.mjs), run on a copy of native/udp so the checkout's own build is
 * left alone: as the `npm install` hook (`--optional`) a failed build never fails the install and says what to do;
 * as `npm run build:native` it fails; with a C++ toolchain it builds an addon that loads. (Same checks as the TAP
 * addon's, test/tap-build.test.ts.)
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const DIR = join(REPO, 'test-artifacts', `udp-build-${process.pid}`);

const linux = process.platform === 'linux' ? false : `the batched UDP addon is Linux-only (this is ${process.platform})`;
const missingTool = ['g++', 'make', 'python3'].find((c) => spawnSync(c, ['--version'], { stdio: 'ignore' }).error !== undefined);
const noToolchain = linux || (missingTool ? `'${missingTool}' not found: the addon cannot be built here` : false);

before(() => {
  mkdirSync(DIR, { recursive: true });
  for (const f of ['binding.gyp', 'udp.cc', 'build.mjs']) copyFileSync(join(REPO, 'native', 'udp', f), join(DIR, f));
  copyFileSync(join(REPO, 'native', 'build-addon.mjs'), join(DIR, '..', 'build-addon.mjs')); // what build.mjs imports
});
after(() => rmSync(DIR, { recursive: true, force: true }));

function build(args: string[], env: NodeJS.ProcessEnv = {}) {
  return spawnSync(process.execPath, [join(DIR, 'build.mjs'), ...args], { encoding: 'utf8', env: { ...process.env, ...env }, timeout: 180_000 });
}

test('a failed build does not fail the install, and says that roots run on node:dgram and how to build later', { skip: linux }, () => {
  const r = build(['--optional'], { CC: 'false', CXX: 'false' });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /^ztroot: the batched UDP addon was not built: node-gyp exited with \d+ \(full output in .*build\.log\)/);
  assert.match(r.stderr, /Roots run without it on node:dgram, at a higher CPU cost per packet\. To build it: install g\+\+, make and python3/);
  assert.match(r.stderr, /then run `npm run build:native`/);
  assert.ok(!existsSync(join(DIR, 'build', 'Release', 'udp.node')));
});

test('`npm run build:native` fails when the build fails', { skip: linux }, () => {
  const r = build([], { CC: 'false', CXX: 'false' });
  assert.equal(r.status, 1);
  assert.match(r.stderr, /the batched UDP addon was not built/);
});

test('with a C++ toolchain the addon builds (no compiler warning) and loads', { skip: noToolchain }, () => {
  const r = build([]);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /ztroot: built the batched UDP addon/);
  assert.doesNotMatch(readFileSync(join(DIR, 'build', 'build.log'), 'utf8'), /warning:/);
  const addon = createRequire(import.meta.url)(join(DIR, 'build', 'Release', 'udp.node')) as Record<string, unknown>;
  assert.deepEqual(Object.keys(addon).sort(), ['META_WORDS', 'STATS', 'Socket']);
});
