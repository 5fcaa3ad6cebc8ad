/**
 * The top level every command runs under: whatever reaches it becomes one line and an exit code, and a process
 * that does not end after its command returned is ended (and the line names what kept it alive).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ZtError, ZtErrorCode } from '../vl1/errors.js';
import { UsageError } from './args.js';
import { CommandFailure, describeFailure } from './run-main.js';
import { describeRun, runCli } from '../test/cli-process.js';

test('describeFailure: usage 2, failures 1, ZtError 1 with its code, errno errors 1, anything else 70 — always one line', () => {
  const cases: Array<[unknown, number, RegExp]> = [
    [new UsageError('unknown option --x'), 2, /^ztroot x: unknown option --x \(see 'ztroot x --help'\)$/],
    [new UsageError('expected 1 argument, got 0', 'ztroot id sign'), 2, /^ztroot id sign: expected 1 argument, got 0 \(see 'ztroot id sign --help'\)$/],
    [Object.assign(new TypeError("Unknown option '--y'. To specify a positional…"), { code: 'ERR_PARSE_ARGS_UNKNOWN_OPTION' }), 2, /^ztroot x: unknown option --y /],
    [new CommandFailure('UDP port 9993 on 0.0.0.0 is already in use'), 1, /^ztroot x: UDP port 9993 on 0\.0\.0\.0 is already in use$/],
    [new ZtError(ZtErrorCode.FILE, 'planet p: cannot read\nsecond line'), 1, /^ztroot x: planet p: cannot read second line \(ZT_ERR_FILE\)$/],
    [Object.assign(new Error("EACCES: permission denied, open '/x'"), { code: 'EACCES', syscall: 'open', path: '/x' }), 1, /^ztroot x: EACCES: permission denied, open '\/x'$/],
    [new TypeError("Cannot read properties of undefined (reading 'port')"), 70, /^ztroot x: unexpected error: TypeError: Cannot read properties of undefined \(reading 'port'\) \(at .*run-main\.test\.js:\d+\); please report it/],
    ['a string', 70, /^ztroot x: unexpected error: string: a string; please report it/],
  ];
  for (const [e, code, re] of cases) {
    const d = describeFailure('ztroot x', e);
    assert.equal(d.code, code, String(e));
    assert.match(d.line, re);
    assert.ok(!d.line.includes('\n'), 'one line');
  }
});

/** A command module run by runMain in its own process. */
async function runMainWith(body: string) {
  const dir = mkdtempSync(join(tmpdir(), 'ztroot-runmain-'));
  const file = join(dir, 'cmd.mjs');
  const runMain = JSON.stringify(new URL('./run-main.js', import.meta.url).href);
  writeFileSync(file, `import { runMain } from ${runMain};\nawait runMain('ztroot demo', async () => { ${body} }, []);\n`);
  return runCli([], { script: file, giveUpMs: 8000 });
}

test('an exception thrown later, outside the command (a timer), is one line and exit 70, not a stack trace', async () => {
  const r = await runMainWith(`setTimeout(() => { null.port; }, 50); await new Promise(() => setTimeout(() => {}, 60_000)); return 0;`);
  assert.equal(r.code, 70, describeRun(r));
  assert.equal(r.errLines.length, 1, describeRun(r));
  assert.match(r.errLines[0]!, /^ztroot demo: unexpected error: TypeError: Cannot read properties of null/);
});

test('a rejected promise nobody handles: one line and exit 70', async () => {
  const r = await runMainWith(`Promise.reject(new RangeError('bad range')); await new Promise(() => setTimeout(() => {}, 60_000)); return 0;`);
  assert.equal(r.code, 70, describeRun(r));
  assert.match(r.errLines.join('\n'), /^ztroot demo: unexpected error: RangeError: bad range/);
});

test('a command that returned but left a handle open: ended within ~2 s, naming what was open', async () => {
  const r = await runMainWith(`setInterval(() => {}, 1000); return 0;`);
  assert.equal(r.hung, false, describeRun(r));
  assert.equal(r.code, 0, describeRun(r));
  assert.ok(r.ms < 4000, describeRun(r));
  assert.match(r.errLines.join('\n'), /^ztroot demo: finished, but the process was still running 2000 ms later \(open: .*Timeout.*\); exiting$/m);
});

test('a failure exits at once with its code even if handles are open', async () => {
  const r = await runMainWith(`setInterval(() => {}, 1000); throw new (await import(${JSON.stringify(new URL('./run-main.js', import.meta.url).href)})).CommandFailure('the thing failed: fix --thing');`);
  assert.equal(r.code, 1, describeRun(r));
  assert.deepEqual(r.errLines, ['ztroot demo: the thing failed: fix --thing']);
  assert.ok(r.ms < 2000, describeRun(r));
});
