/**
 * The TCP relay's connection limit from the descriptor limit: read from the real process (a child with a
 * lowered `ulimit -n`), what is open counted, a reserve kept, a configured limit that does not fit lowered.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { REPO_ROOT } from '../test/vectors.js';
import { connectionBudget, countOpenDescriptors, FALLBACK_MAX_CONNECTIONS, FD_RESERVE, parseProcLimits } from './fd-budget.js';

test('/proc/self/limits: the soft "Max open files", or unlimited', () => {
  const text = 'Limit                     Soft Limit           Hard Limit           Units     \nMax processes             unlimited            unlimited            processes \nMax open files            1024                 20000                files     \n';
  assert.equal(parseProcLimits(text), 1024);
  assert.equal(parseProcLimits(text.replace('1024 ', 'unlimited')), Infinity);
  assert.equal(parseProcLimits('nothing here'), null);
});

test('a child with ulimit -n 777 reads 777, and counts its open descriptors', { skip: process.platform === 'win32' ? 'no ulimit on Windows' : false }, () => {
  const mod = join(REPO_ROOT, 'dist', 'relay', 'fd-budget.js');
  const script = `import(${JSON.stringify(mod)}).then((m) => console.log(JSON.stringify({ limit: m.readDescriptorLimit(), open: m.countOpenDescriptors(), budget: m.connectionBudget(0) })))`;
  const r = spawnSync('/bin/sh', ['-c', `ulimit -n 777 && exec "$0" -e "$1"`, process.execPath, script], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout) as { limit: { soft: number }; open: number; budget: { maxConnections: number; open: number; reserve: number } };
  assert.equal(out.limit.soft, 777);
  assert.ok(out.open >= 3 && out.open < 100, `open descriptors: ${out.open}`);
  assert.equal(out.budget.maxConnections, 777 - out.budget.open - FD_RESERVE);
});

test('budget: derived, kept when it fits, lowered when not, unknown or unlimited limits', () => {
  const lim = { soft: 20_000, source: '/proc/self/limits' as const };
  assert.deepEqual(connectionBudget(0, 200, lim, 40), { maxConnections: 19_760, descriptorLimit: 20_000, open: 40, reserve: 200, requested: 0, lowered: false });
  assert.equal(connectionBudget(5000, 200, lim, 40).maxConnections, 5000);
  const lowered = connectionBudget(200_000, 200, lim, 40);
  assert.equal(lowered.maxConnections, 19_760);
  assert.equal(lowered.lowered, true);
  assert.equal(connectionBudget(0, 200, { soft: 100, source: 'ulimit -n' }, 40).maxConnections, 1, 'nothing left: 1, not 0 or negative');
  assert.equal(connectionBudget(0, 200, null, 40).maxConnections, FALLBACK_MAX_CONNECTIONS);
  assert.equal(connectionBudget(7, 200, null, 40).maxConnections, 7);
  assert.equal(connectionBudget(0, 200, { soft: Infinity, source: '/proc/self/limits' }, 40).maxConnections, FALLBACK_MAX_CONNECTIONS);
  assert.equal(connectionBudget(0, 200, lim, null).maxConnections, 20_000 - 256 - 200, 'open unknown: a busy process assumed');
  assert.ok((countOpenDescriptors() ?? 0) > 0);
});
