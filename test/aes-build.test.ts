/**
 * The AES-GMAC-SIV addon's build (native/aes/build.mjs), run on a copy of native/aes so the checkout's own build is
 * left alone: as the `npm install` hook (`--optional`) a failed build never fails the install and says what to do;
 * run plainly (`npm run build:native`) it fails; with a C compiler it builds, with no warning, an addon that loads
 * and seals one ciphers.json vector. (Same checks as the other addons', test/hash-build.test.ts.)
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { fromHex, toHex } from '../vl1/bytes.js';
import type { AesAddon } from '../tools/aes-engine.js';
import { readVectorJson } from './vectors.js';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const DIR = join(REPO, 'test-artifacts', `aes-build-${process.pid}`);
const missingTool = ['gcc', 'make', 'python3'].find((c) => spawnSync(c, ['--version'], { stdio: 'ignore' }).error !== undefined);
const noToolchain = missingTool ? `'${missingTool}' not found: the addon cannot be built here` : false;

before(() => {
  mkdirSync(DIR, { recursive: true });
  for (const f of ['binding.gyp', 'aes.c', 'build.mjs']) copyFileSync(join(REPO, 'native', 'aes', f), join(DIR, f));
  copyFileSync(join(REPO, 'native', 'build-addon.mjs'), join(DIR, '..', 'build-addon.mjs')); // what build.mjs imports
});
after(() => rmSync(DIR, { recursive: true, force: true }));

function build(args: string[], env: NodeJS.ProcessEnv = {}) {
  return spawnSync(process.execPath, [join(DIR, 'build.mjs'), ...args], { encoding: 'utf8', env: { ...process.env, ...env }, timeout: 120_000 });
}

test('a failed AES build does not fail the install, and says that suite 3 runs on node:crypto and how to build later', () => {
  const r = build(['--optional'], { CC: 'false', CXX: 'false' });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /^ztroot: the AES-GMAC-SIV addon was not built: node-gyp exited with \d+ \(full output in .*build\.log\)/);
  assert.match(r.stderr, /Roots and leaves run without it \(suite 3 on node:crypto, more CPU per packet\)\. To build it: install gcc, make and python3/);
  assert.ok(!existsSync(join(DIR, 'build', 'Release', 'aes.node')));
  const plain = build([], { CC: 'false', CXX: 'false' });
  assert.equal(plain.status, 1, 'run by hand, a failed build fails');
});

test('with a C compiler the AES addon builds without a warning, loads, and seals a 1.14.1 vector', { skip: noToolchain }, () => {
  const r = build([]);
  assert.equal(r.status, 0, r.stderr);
  assert.doesNotMatch(readFileSync(join(DIR, 'build', 'build.log'), 'utf8'), /warning:/);
  const addon = createRequire(import.meta.url)(join(DIR, 'build', 'Release', 'aes.node')) as AesAddon;
  const v = readVectorJson<{ aes_gmac_siv: Array<Record<string, string>> }>('ciphers.json').aes_gmac_siv[3]!;
  const h = addon.create(fromHex(v.k0!), fromHex(v.k1!));
  const data = fromHex(v.plaintext!), tag = new Uint8Array(16);
  addon.encrypt(h, fromHex(v.iv!), fromHex(v.aad!), data, tag);
  assert.equal(toHex(tag), v.tag);
  assert.equal(toHex(data), v.ciphertext);
});
