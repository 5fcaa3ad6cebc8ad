/**
 * The memory-hard hash addon's build (native/hash/build.mjs), run on a copy of native/hash so the checkout's own
 * build is left alone: as the `npm install` hook (`--optional`) a failed build never fails the install and says
 * what to do; run plainly it fails; with a C compiler it builds an addon that loads and names its variant.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const DIR = join(REPO, 'test-artifacts', `hash-build-${process.pid}`);
const missingTool = ['gcc', 'make', 'python3'].find((c) => spawnSync(c, ['--version'], { stdio: 'ignore' }).error !== undefined);
const noToolchain = missingTool ? `'${missingTool}' not found: the addon cannot be built here` : false;

before(() => {
  mkdirSync(DIR, { recursive: true });
  for (const f of ['binding.gyp', 'hash.c', 'build.mjs']) copyFileSync(join(REPO, 'native', 'hash', f), join(DIR, f));
  copyFileSync(join(REPO, 'native', 'build-addon.mjs'), join(DIR, '..', 'build-addon.mjs')); // what build.mjs imports
});
after(() => rmSync(DIR, { recursive: true, force: true }));

function build(args: string[], env: NodeJS.ProcessEnv = {}) {
  return spawnSync(process.execPath, [join(DIR, 'build.mjs'), ...args], { encoding: 'utf8', env: { ...process.env, ...env }, timeout: 120_000 });
}

test('a failed hash build does not fail the install, and says why and how to build later', () => {
  const r = build(['--optional'], { CC: 'false', CXX: 'false' });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /^ztroot: the memory-hard hash addon was not built: node-gyp exited with \d+ \(full output in .*build\.log\)/);
  assert.match(r.stderr, /Roots run without it \(pure-JS hash, fewer new identities validated per second\)/);
  assert.ok(!existsSync(join(DIR, 'build', 'Release', 'hash.node')));
  const plain = build([], { CC: 'false', CXX: 'false' });
  assert.equal(plain.status, 1, 'run by hand, a failed build fails');
});

test('with a C compiler the hash addon builds and loads', { skip: noToolchain }, () => {
  const r = build([]);
  assert.equal(r.status, 0, r.stderr);
  const addon = createRequire(import.meta.url)(join(DIR, 'build', 'Release', 'hash.node')) as { fill: unknown; variant: unknown };
  assert.equal(typeof addon.fill, 'function');
  assert.match(String(addon.variant), /^(avx512|avx2|generic)$/);
});
