/**
 * The test runner's summary names everything that did not run: a skipped suite (whose tests the runner never
 * sees), a skipped test inside a running suite, and a test that skips itself at run time — each with its
 * file and reason — and the "skipped" figure counts them instead of saying 0.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { REPO_ROOT } from './vectors.js';

const FIXTURE = `
import { describe, test } from 'node:test';
import { sharedSuite } from './shared-suite.mjs';
describe('store: compliance', () => sharedSuite());
describe('real clients', { skip: 'skipped: set ZT_ONE_BIN to run it' }, () => {
  for (let i = 0; i < 11; i++) test('client test ' + i, () => {});
});
describe('outer', () => {
  describe('needs tun', { skip: 'no /dev/net/tun' }, () => { test('x', () => {}); });
  test('declared skip', { skip: 'no redis-server' }, () => {});
  test('runtime skip', (t) => t.skip('cannot bind ::1'));
  test('runs', () => {});
});
`;

/** Tests declared in a helper module report it as their file, their parent the test file (as fleet/peer-store.compliance.ts). */
const SHARED = `
import { test } from 'node:test';
export function sharedSuite() { test('garbage in the backend', { skip: 'typed backend' }, () => {}); }
`;

function run(reporter: string): { out: string; status: number | null } {
  const dir = mkdtempSync(join(tmpdir(), 'ztroot-reporter-'));
  const file = join(dir, 'fixture.test.mjs');
  writeFileSync(file, FIXTURE);
  writeFileSync(join(dir, 'shared-suite.mjs'), SHARED);
  // Without NODE_TEST_CONTEXT: set by our own runner, it would make the child report to us instead of printing.
  const env = { ...process.env };
  delete env.NODE_TEST_CONTEXT;
  const r = spawnSync(process.execPath, ['--test', `--test-reporter=${reporter}`, '--test-reporter-destination=stdout', file], { cwd: dir, env, encoding: 'utf8', timeout: 30_000 });
  return { out: r.stdout, status: r.status };
}

test('spec alone hides skipped suites (the defect this reporter fixes)', () => {
  const { out } = run('spec');
  assert.match(out, /ℹ skipped 3\n/, 'spec counts the three skipped tests only');
  assert.doesNotMatch(out.slice(out.indexOf('ℹ tests')), /ZT_ONE_BIN|real clients/, 'and names no skipped suite in its summary');
});

test('the summary reporter counts skipped suites and lists every skipped test and suite with file and reason', () => {
  const { out, status } = run(pathToFileURL(join(REPO_ROOT, 'test', 'summary-reporter.mjs')).href);
  assert.equal(status, 0, out);
  assert.match(out, /ℹ skipped 3 tests and 2 whole suites \(listed at the end\)/);
  const tail = out.slice(out.indexOf('skipped: 3 tests and 2 whole suites — these did not run:'));
  assert.ok(tail.length < out.length, `no list of skipped tests at the end:\n${out}`);
  assert.match(tail, /suite fixture\.test\.mjs › real clients\n\s+why: set ZT_ONE_BIN to run it/);
  assert.match(tail, /suite fixture\.test\.mjs › outer › needs tun\n\s+why: no \/dev\/net\/tun/);
  assert.match(tail, /test {2}fixture\.test\.mjs › outer › declared skip\n\s+why: no redis-server/);
  assert.match(tail, /test {2}fixture\.test\.mjs › outer › runtime skip\n\s+why: cannot bind ::1/);
  assert.match(tail, /test {2}shared-suite\.mjs › store: compliance › garbage in the backend\n\s+why: typed backend/, 'a test declared in a helper module is named with its parents');
  assert.match(out, /✔ runs/, "spec's own lines are still there");
});
