/**
 * The TAP addon's build (native/tap/build.mjs), run on a copy of native/tap so the checkout's own build is left
 * alone: as the `npm install` hook (`--optional`) a failed build never fails the install and says what to do; as
 * `npm run build:native` it fails; with a C++ toolchain it builds an addon that loads.
 * (A whole clean clone installing with CC=false CXX=false was checked by hand: see native/tap/README.md.)
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
// Inside the checkout, so that the copy finds node_modules/node-addon-api as the original does.
const DIR = join(REPO, 'test-artifacts', `tap-build-${process.pid}`);

const linux = process.platform === 'linux' ? false : `the TAP addon is Linux-only (this is ${process.platform})`;
const missingTool = ['g++', 'make', 'python3'].find((c) => spawnSync(c, ['--version'], { stdio: 'ignore' }).error !== undefined);
const noToolchain = linux || (missingTool ? `'${missingTool}' not found: the addon cannot be built here` : false);

before(() => {
  mkdirSync(DIR, { recursive: true });
  for (const f of ['binding.gyp', 'tap.cc', 'build.mjs']) copyFileSync(join(REPO, 'native', 'tap', f), join(DIR, f));
  copyFileSync(join(REPO, 'native', 'build-addon.mjs'), join(DIR, '..', 'build-addon.mjs')); // what build.mjs imports
});
after(() => rmSync(DIR, { recursive: true, force: true }));

function build(args: string[], env: NodeJS.ProcessEnv = {}) {
  return spawnSync(process.execPath, [join(DIR, 'build.mjs'), ...args], { encoding: 'utf8', env: { ...process.env, ...env }, timeout: 120_000 });
}

test('a failed build does not fail the install, and says why and how to build later', { skip: linux }, () => {
  const r = build(['--optional'], { CC: 'false', CXX: 'false' });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /^ztroot: the TAP addon was not built: node-gyp exited with \d+ \(full output in .*build\.log\)/);
  assert.match(r.stderr, /Roots do not need it; a leaf needs it for its TAP devices\. To build it: install g\+\+, make and python3/);
  assert.match(r.stderr, /then run `npm run build:native`/);
  assert.ok(!existsSync(join(DIR, 'build', 'Release', 'tap.node')));
});

test('`npm run build:native` fails when the build fails', { skip: linux }, () => {
  const r = build([], { CC: 'false', CXX: 'false' });
  assert.equal(r.status, 1);
  assert.match(r.stderr, /the TAP addon was not built/);
});

test('with a C++ toolchain the addon builds and loads', { skip: noToolchain }, () => {
  const r = build([]);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /ztroot: built the TAP addon/);
  const addon = createRequire(import.meta.url)(join(DIR, 'build', 'Release', 'tap.node')) as Record<string, unknown>;
  assert.deepEqual(Object.keys(addon).sort(), ['Reader', 'close', 'open', 'setMac', 'setMtu', 'setUp', 'write']);
});
