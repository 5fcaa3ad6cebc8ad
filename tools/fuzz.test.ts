/**
 * `ztroot fuzz` as it is run (a process, a few seconds' worth), and proof that it can fail: a root whose
 * identity validation throws (an internal error on the HELLO path) is reported and fails the run, and RSS
 * growth beyond the limit fails it too.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { REPO_ROOT, VECTORS_DIR } from '../test/vectors.js';
import { fuzzProblems, runFuzz, type FuzzReport } from './fuzz.js';

const CLI = join(REPO_ROOT, 'dist', 'tools', 'cli.js');

test('a short fuzz run against a real root holds: exit 0, drops by reason, TCP records through, RSS reported, the root still answers', { timeout: 120_000 }, (t) => {
  const r = spawnSync(process.execPath, [CLI, 'fuzz', '--datagrams', '30000', '--records', '8000', '--seed', '20261122', '--vectors', VECTORS_DIR, '--json'], { encoding: 'utf8', timeout: 110_000 });
  assert.equal(r.status, 0, `exit ${r.status}\n${r.stdout.slice(-3000)}\n${r.stderr.slice(-3000)}`);
  const report = JSON.parse(r.stdout) as FuzzReport;
  t.diagnostic(`${report.datagrams} datagrams and ${report.records} records in ${report.durationMs} ms; ${Object.keys(report.drops).length} drop reasons; RSS ${report.rssMb.warm} → ${report.rssMb.end} MB`);
  assert.deepEqual(report.problems, []);
  assert.equal(report.errorCount, 0);
  assert.deepEqual(report.answersAfter, { udp: true, tunnel: true });
  // The mutations reach many places: the MAC check, the parsers behind it, the relay, the TCP framing.
  for (const reason of ['drop_bad_mac', 'drop_runt', 'drop_hop_limit', 'drop_truncated', 'drop_unknown_peer']) assert.ok((report.drops[reason] ?? 0) > 0, `${reason} was hit`);
  assert.ok(Object.keys(report.drops).length >= 12, `many drop reasons: ${Object.keys(report.drops).join(', ')}`);
  assert.ok((report.tcp.tcp_rx_datagrams ?? 0) > 2000, 'records reach the root through tunnels');
  assert.ok((report.tcp.tcp_bad_records ?? 0) > 0 && (report.tcp.tcp_bad_protocol ?? 0) > 0, 'framing mutations are refused and counted');
  assert.ok((report.sent.tx_OK ?? 0) > 0, 'authentic mutated requests are answered');
  assert.ok(report.datagramsByKind.authentic! > 0 && report.datagramsByKind.raw! > 0 && report.datagramsByKind.random! > 0);
  assert.ok(report.rssMb.end > 0 && report.rssMb.peak >= report.rssMb.end);
});

test('the fuzzer fails a run when the root hits an internal error', { timeout: 60_000 }, async () => {
  // An identity validator with a bug: it throws a TypeError instead of returning a promise.
  const broken = {
    validate(): Promise<boolean> {
      throw new TypeError('validator bug');
    },
  };
  const report = await runFuzz({ datagrams: 3000, records: 300, seed: 5, vectors: VECTORS_DIR, maxRssGrowthMb: 1024 }, { validator: broken });
  assert.ok((report.drops.drop_internal_error ?? 0) > 0, 'counted as internal errors');
  assert.ok(report.errorCount > 0 && /validator bug/.test(report.errors.join('\n')), 'the error is reported');
  assert.ok(report.problems.some((p) => /internal error/.test(p)));
  assert.ok(report.problems.some((p) => /did not answer a captured HELLO/.test(p)), 'and the liveness check saw the root not answer');
});

test('unbounded RSS growth fails a run', () => {
  const base = { seed: 1, datagrams: 1, records: 1, tcpConnections: 1, durationMs: 1, datagramsByKind: {}, drops: {}, tcp: {}, sent: {}, errors: [], errorCount: 0, answersAfter: { udp: true, tunnel: true } };
  assert.deepEqual(fuzzProblems({ ...base, rssMb: { start: 80, warm: 100, end: 150, peak: 150 } }, 256), []);
  const p = fuzzProblems({ ...base, rssMb: { start: 80, warm: 100, end: 400, peak: 400 } }, 256);
  assert.equal(p.length, 1);
  assert.match(p[0]!, /RSS grew 300\.0 MB after warm-up/);
});
