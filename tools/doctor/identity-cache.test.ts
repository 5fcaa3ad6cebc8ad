/** The doctor's throwaway identity: made once, kept 0600, reused; a broken cache file is replaced, not fatal. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadOrCreateThrowawayIdentity } from './identity-cache.js';

test('made once (0600, directories created), then read back; garbage in the file is replaced', () => {
  const path = join(mkdtempSync(join(tmpdir(), 'ztroot-doctor-id-')), 'a', 'b', 'doctor-identity.secret');
  const first = loadOrCreateThrowawayIdentity(path);
  assert.equal(first.cached, false);
  assert.equal(first.warning, null);
  assert.equal(statSync(path).mode & 0o777, 0o600);
  const second = loadOrCreateThrowawayIdentity(path);
  assert.equal(second.cached, true);
  assert.ok(second.identity.equals(first.identity) && second.identity.hasPrivate());
  writeFileSync(path, 'garbage');
  const third = loadOrCreateThrowawayIdentity(path);
  assert.equal(third.cached, false);
  assert.ok(!third.identity.equals(first.identity));
  assert.equal(loadOrCreateThrowawayIdentity(path).cached, true);
});

test('an unwritable cache: an identity anyway, and a warning naming the file and the option', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ztroot-doctor-id-'));
  writeFileSync(join(dir, 'file'), '');
  const r = loadOrCreateThrowawayIdentity(join(dir, 'file', 'doctor-identity.secret')); // a file where a directory should be
  assert.equal(r.cached, false);
  assert.match(r.warning ?? '', /cannot cache the doctor's identity in .*file\/doctor-identity\.secret .*--identity-cache/);
});
