/**
 * One state layout for the root and mkplanet: `mkplanet update <spec> --state <the root's state dir>` makes
 * the next planet in place and the running root serves it. Before, the root kept `planet-update-key.c25519`
 * and no history, mkplanet wanted `update-key.c25519`, so growing the root's own planet meant moving files by
 * hand. State directories of that older layout keep working: they are moved to the new one.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import { CLI } from './cli-process.js';
import { watchJsonLines } from './json-lines.js';
import { Identity } from '../vl1/identity.js';
import { c25519Generate } from '../vl1/c25519.js';
import { parseWorld, serializeWorld, signWorld } from '../planet/world.js';
import { encodeSigningKey } from '../planet/files.js';

const base = mkdtempSync(join(tmpdir(), 'ztroot-planet-state-'));

function mkplanet(args: string[]) {
  return spawnSync(process.execPath, [CLI, 'mkplanet', ...args], { encoding: 'utf8', cwd: base });
}

function startRoot(state: string) {
  const child = spawn(process.execPath, [CLI, 'start', '--state-dir', state, '--port', '0', '--bind4', '127.0.0.1', '--bind6', 'none', '--http', 'none', '--endpoint', '192.0.0.1/9993'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return { child, ...watchJsonLines(child, 'ztroot start') };
}

test('mkplanet update on the root\'s own state directory: a second root added, and the running root serves it', async (t) => {
  const state = join(base, 'fresh');
  const r = startRoot(state);
  t.after(() => r.child.kill('SIGKILL'));
  await r.waitFor((l) => l.msg === 'root started', 15_000, 'root started');
  const first = parseWorld(new Uint8Array(readFileSync(join(state, 'planet'))));

  // The operator edits the spec the root wrote and adds a second root.
  const second = Identity.generate();
  writeFileSync(join(base, 'second.public'), second.toString(false));
  const specPath = join(state, 'planet.yaml');
  writeFileSync(specPath, `${readFileSync(specPath, 'utf8')}  - identityFile: ${join(base, 'second.public')}\n    endpoints: ["192.0.0.2/9993"]\n`);
  const up = mkplanet(['update', specPath, '--state', state]);
  assert.equal(up.status, 0, up.stderr);
  assert.match(up.stdout, /verified: a client holding planet [0-9a-f]{16} @ \d+ accepts it/);

  const reloaded = await r.waitFor((l) => l.msg === 'planet reloaded', 15_000, 'the root reloading the planet');
  assert.equal(reloaded.acceptedByClients, true);
  const next = parseWorld(new Uint8Array(readFileSync(join(state, 'planet'))));
  assert.equal(next.id, first.id);
  assert.equal(reloaded.planetTimestamp, next.timestamp);
  assert.deepEqual(next.roots.map((x) => x.identity.toString(false).slice(0, 10)).sort(), [first.roots[0]!.identity.toString(false).slice(0, 10), second.toString(false).slice(0, 10)].sort());
  assert.equal(readdirSync(join(state, 'history')).length, 2, 'both planets are in the history');
  r.child.kill('SIGTERM');
  assert.equal(((await once(r.child, 'exit')) as [number])[0], 0);
});

/** A state directory as roots before this layout left it: identity, planet, planet-update-key.c25519. */
function legacyStateDir(name: string): { dir: string; id: Identity } {
  const dir = join(base, name);
  mkdirSync(dir, { mode: 0o700 });
  const id = Identity.generate();
  writeFileSync(join(dir, 'identity.secret'), id.toString(true), { mode: 0o600 });
  writeFileSync(join(dir, 'identity.public'), id.toString(false));
  const key = c25519Generate();
  const world = signWorld({ type: 'planet', id: 0x5eed0011n, timestamp: Date.now() - 60_000, updatesMustBeSignedBy: key.publicKey, roots: [{ identity: id.publicOnly(), stableEndpoints: [{ family: 4, ip: '192.0.0.1', port: 9993 }] }] }, key);
  writeFileSync(join(dir, 'planet'), serializeWorld(world));
  writeFileSync(join(dir, 'planet-update-key.c25519'), encodeSigningKey(key), { mode: 0o600 });
  return { dir, id };
}

test('an older root state directory: the root moves it to the shared layout on start, and mkplanet updates it', async (t) => {
  const { dir, id } = legacyStateDir('legacy-root');
  const r = startRoot(dir);
  t.after(() => r.child.kill('SIGKILL'));
  const migrated = await r.waitFor((l) => /moved the planet's update key/.test(String(l.msg)), 15_000, 'the migration logged');
  assert.equal(migrated.level, 40, 'logged as a warning');
  await r.waitFor((l) => l.msg === 'root started', 15_000, 'root started');
  assert.ok(existsSync(join(dir, 'update-key.c25519')) && !existsSync(join(dir, 'planet-update-key.c25519')));
  assert.equal(readdirSync(join(dir, 'history')).length, 1);
  writeFileSync(join(dir, 'planet.yaml'), `roots:\n  - identity: "${id.toString(false)}"\n    endpoints: ["192.0.0.1/9993", "192.0.0.1/443"]\n`);
  const up = mkplanet(['update', join(dir, 'planet.yaml'), '--state', dir]);
  assert.equal(up.status, 0, up.stderr);
  await r.waitFor((l) => l.msg === 'planet reloaded' && l.acceptedByClients === true, 15_000, 'the root reloading the planet');
  r.child.kill('SIGTERM');
  await once(r.child, 'exit');
});

test('an older root state directory given straight to mkplanet (root not restarted): moved, then updated', () => {
  const { dir, id } = legacyStateDir('legacy-mkplanet');
  writeFileSync(join(base, 'legacy.yaml'), `roots:\n  - identity: "${id.toString(false)}"\n    endpoints: ["192.0.0.1/9993"]\n`);
  const up = mkplanet(['update', join(base, 'legacy.yaml'), '--state', dir]);
  assert.equal(up.status, 0, up.stderr);
  assert.match(up.stderr, /moved the planet's update key from planet-update-key\.c25519 to update-key\.c25519/);
  assert.ok(existsSync(join(dir, 'update-key.c25519')));
  assert.equal(readdirSync(join(dir, 'history')).length, 2, 'the planet it had, and the new one');
});
