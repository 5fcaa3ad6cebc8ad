/**
 * TAP device names as 1.14 gives them (vl2.md §7.1, examples run with 1.14.1) and the devicemap file.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isValidIfName, readDeviceMap, recordDeviceName, tapNameFor } from './tap-name.js';
import { isZtError, ZtErrorCode } from '../vl1/errors.js';

const none = (): boolean => false;

test('names match the ones 1.14.1 gave (vl2.md §7.1)', () => {
  assert.equal(tapNameFor(0x8056c2e21c000001n, none), 'ztmjfmfyq5');
  assert.equal(tapNameFor(0xff00160016000000n, none), 'zt74lbmaaw');
  assert.equal(tapNameFor(0x0c4d01372d6754f7n, none), 'zthnqgmy62');
});

test('a name in use moves on to the next value, as 1.14 adds 1 and retries', () => {
  const taken = new Set(['ztmjfmfyq5']);
  const next = tapNameFor(0x8056c2e21c000001n, (n) => taken.has(n));
  // v + 1: the last base32 digit goes from '5' (29) to '6' (30).
  assert.equal(next, 'ztmjfmfyq6');
  taken.add(next);
  const third = tapNameFor(0x8056c2e21c000001n, (n) => taken.has(n));
  assert.ok(!taken.has(third));
});

test('the devicemap name wins when free, and is ignored when in use', () => {
  assert.equal(tapNameFor(0x8056c2e21c000001n, none, 'ztmine'), 'ztmine');
  assert.equal(tapNameFor(0x8056c2e21c000001n, (n) => n === 'ztmine', 'ztmine'), 'ztmjfmfyq5');
});

test('bad network ids and an exhausted name space are typed errors', () => {
  assert.throws(() => tapNameFor(-1n, none), (e) => isZtError(e, ZtErrorCode.BAD_VALUE) && /-1/.test(e.message));
  assert.throws(() => tapNameFor(1n << 64n, none), (e) => isZtError(e, ZtErrorCode.BAD_VALUE));
  assert.throws(() => tapNameFor(1n, () => true), (e) => isZtError(e, ZtErrorCode.UNAVAILABLE) && /0000000000000001/.test(e.message));
});

test('interface name validity', () => {
  for (const ok of ['ztmjfmfyq5', 'a', 'x'.repeat(15)]) assert.ok(isValidIfName(ok), ok);
  for (const bad of ['', 'x'.repeat(16), 'a b', 'a/b', 'a:b', '.', '..']) assert.ok(!isValidIfName(bad), bad);
});

test('devicemap: read, record (keeping other entries), ignore junk lines', () => {
  const home = mkdtempSync(join(tmpdir(), 'ztroot-devicemap-'));
  try {
    assert.deepEqual(readDeviceMap(home), new Map());
    writeFileSync(join(home, 'devicemap'), 'ff00160016000000=ztother\nnot a line\n12=short\n8056c2e21c000001=has space\n');
    assert.deepEqual(readDeviceMap(home), new Map([[0xff00160016000000n, 'ztother']]));
    recordDeviceName(home, 0x8056c2e21c000001n, 'ztmjfmfyq5');
    assert.deepEqual(
      readDeviceMap(home),
      new Map([
        [0xff00160016000000n, 'ztother'],
        [0x8056c2e21c000001n, 'ztmjfmfyq5'],
      ]),
    );
    assert.equal(readFileSync(join(home, 'devicemap'), 'utf8'), 'ff00160016000000=ztother\n8056c2e21c000001=ztmjfmfyq5\n');
  } finally {
    rmSync(home, { recursive: true, force: true });
  }
});

test('devicemap: an unreadable home is a FILE error naming the path', () => {
  const home = mkdtempSync(join(tmpdir(), 'ztroot-devicemap-'));
  try {
    // The home is a file, so its devicemap cannot be read (ENOTDIR).
    rmSync(home, { recursive: true });
    writeFileSync(home, '');
    assert.throws(() => recordDeviceName(home, 1n, 'zt1'), (e) => isZtError(e, ZtErrorCode.FILE) && e.message.includes(home));
  } finally {
    rmSync(home, { recursive: true, force: true });
  }
});
