/**
 * `ztroot doctor`'s command line, as processes: usage mistakes exit 2 with one line naming the bad value;
 * sources that do not exist exit 1 saying how to fix it; --help documents the options and exit codes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from '../../test/cli-process.js';
import { defaultHome, parseDoctorArgs } from './options.js';
import { defaultIdentityCache } from './identity-cache.js';

test('usage errors exit 2, one line naming the option and the value', async () => {
  const cases: Array<[string[], RegExp]> = [
    [['--timeout-ms', 'soon'], /--timeout-ms "soon" is not a whole number from 100 to 60000/],
    [['--timeout-ms', '5'], /--timeout-ms "5" is not a whole number/],
    [['--tcp-port', '70000'], /--tcp-port "70000" is not a whole number from 0 to 65535/],
    [['--planet', 'p', '--home', 'h'], /give one planet source, not --planet and --home/],
    [['--planet-url', 'not a url'], /--planet-url "not a url" is not a URL/],
    [['--planet-url', 'ftp://192.0.0.1/api/planet'], /is not http:\/\/ or https:\/\//],
    [['--token', 't'], /--token is for --planet-url only/],
    [['--planet'], /option --planet needs a value/],
    [['extra'], /unexpected argument "extra"/],
  ];
  const runs = await Promise.all(cases.map(([args]) => runCli(['doctor', ...args])));
  runs.forEach((r, i) => {
    const [args, re] = cases[i]!;
    assert.equal(r.code, 2, `${args.join(' ')}: exit ${r.code}\n${r.stderr}`);
    assert.equal(r.errLines.length, 1, r.stderr);
    assert.match(r.errLines[0]!, re);
    assert.match(r.errLines[0]!, /^ztroot doctor: .*\(see 'ztroot doctor --help'\)$/);
    assert.equal(r.stdout, '');
  });
});

test('a planet that is missing or not a planet: exit 1, saying what to do', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ztroot-doctor-opts-'));
  writeFileSync(join(dir, 'junk'), 'not a planet');
  const cache = join(dir, 'id.secret');
  const [home, junk, missing] = await Promise.all([
    runCli(['doctor', '--home', dir, '--identity-cache', cache]),
    runCli(['doctor', '--planet', join(dir, 'junk'), '--identity-cache', cache]),
    runCli(['doctor', '--planet', join(dir, 'nope'), '--identity-cache', cache]),
  ]);
  assert.equal(home.code, 1, home.stderr);
  assert.match(home.stderr, new RegExp(`no planet installed in ${dir}: copy your planet file to ${join(dir, 'planet')}`));
  assert.equal(junk.code, 1, junk.stderr);
  assert.match(junk.stderr, /junk is not a planet/);
  assert.equal(missing.code, 1, missing.stderr);
  assert.match(missing.stderr, /cannot read .*nope/);
});

test('--help: the options and the exit codes', async () => {
  const r = await runCli(['doctor', '--help']);
  assert.equal(r.code, 0);
  for (const o of ['--planet', '--home', '--planet-url', '--json', '--timeout-ms', '--tcp-port', '--identity-cache']) assert.ok(r.stdout.includes(o), o);
  assert.match(r.stdout, /Exit codes: 0 every root usable/);
});

test('defaults: the local ZeroTier home, 3 s, port 443, the cache under XDG_CACHE_HOME', () => {
  const o = parseDoctorArgs([], { XDG_CACHE_HOME: '/c' });
  assert.ok(!('print' in o));
  assert.deepEqual(o, { source: { kind: 'home', dir: defaultHome({}) }, json: false, timeoutMs: 3000, tcpPort: 443, identityCache: '/c/ztroot/doctor-identity.secret' });
  assert.equal(defaultHome({ ZEROTIER_HOME: '/zt' }), '/zt');
  assert.match(defaultIdentityCache({}), /\.cache\/ztroot\/doctor-identity\.secret$/);
});
