/**
 * The log limiter with real pino loggers writing JSON lines into a stream: what passes, what is counted,
 * and the summary lines (issue 11: 13,852 warning lines in one flood).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { limitLogs } from './log-limiter.js';
import { ZtErrorCode } from '../vl1/errors.js';

/** A pino logger writing synchronously into an array of parsed lines. */
function capture(level = 'info') {
  const lines: Array<Record<string, unknown>> = [];
  const out = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const l of chunk.toString().split('\n')) if (l !== '') lines.push(JSON.parse(l) as Record<string, unknown>);
      cb();
    },
  });
  return { lines, log: pino({ level, base: null }, out) };
}

test('at most N lines per message per interval, then one summary line with the count', () => {
  let now = 1_000_000;
  const { lines, log } = capture();
  const limited = limitLogs(log, { perInterval: 3, intervalMs: 10_000 }, { now: () => now });
  for (let i = 0; i < 1000; i++) limited.warn({ ip: `10.0.0.${i % 250}`, i }, 'identity validation could not run');
  for (let i = 0; i < 5; i++) limited.warn({ i }, 'another message'); // its own budget
  assert.equal(lines.length, 3 + 3);
  assert.deepEqual(lines.slice(0, 3).map((l) => l.i), [0, 1, 2]);
  assert.equal(limited.suppressedTotal, 997 + 2);
  now += 10_000;
  limited.warn({ i: 1000 }, 'identity validation could not run'); // a new window: the summary first, then this line
  const summary = lines[6]!;
  assert.equal(summary.msg, 'identity validation could not run (997 more suppressed)');
  assert.equal(summary.suppressed, 997);
  assert.equal(summary.level, 40, 'at the level of the lines it stands for');
  assert.equal(summary.i, 999, 'with the fields of the last line held back');
  assert.equal(lines[7]!.i, 1000);
  limited.flushSuppressed();
  assert.equal(lines[8]!.msg, 'another message (2 more suppressed)');
  assert.equal(lines.length, 9);
});

test('a summary is written one interval on even when the message never comes back', async () => {
  const { lines, log } = capture();
  const limited = limitLogs(log, { perInterval: 1, intervalMs: 200 });
  for (let i = 0; i < 50; i++) limited.error('socket error');
  assert.equal(lines.length, 1);
  await new Promise((r) => setTimeout(r, 600));
  assert.equal(lines.length, 2);
  assert.equal(lines[1]!.msg, 'socket error (49 more suppressed)');
  assert.equal(lines[1]!.suppressed, 49);
});

test('levels, message-only calls, errors and children: everything pino does still works', () => {
  const { lines, log } = capture('debug');
  const limited = limitLogs(log, { perInterval: 2 });
  limited.debug('below the level of nothing'); // debug is enabled here
  limited.trace('below the level'); // trace is not: pino drops it, the limiter only counts what it is given
  limited.error(new Error('boom'), 'failed');
  assert.equal(limited.level, 'debug');
  assert.equal(typeof limited.flush, 'function');
  const child = limited.child({ component: 'fleet' });
  child.warn({ a: 1 }, 'same text');
  child.warn({ a: 2 }, 'same text');
  limited.warn({ a: 3 }, 'same text'); // parent and child share the budget of a message
  assert.deepEqual(lines.map((l) => l.msg), ['below the level of nothing', 'failed', 'same text', 'same text']);
  assert.equal(lines[2]!.component, 'fleet');
  assert.equal((lines[1]!.err as { message: string }).message, 'boom');
  // The same text at another level is another message.
  limited.info('same text');
  assert.equal(lines.at(-1)!.level, 30);
});

test('bad options are refused with BAD_CONFIG', () => {
  const { log } = capture();
  for (const o of [{ perInterval: 0 }, { intervalMs: -1 }, { maxKeys: 1.5 }]) {
    assert.throws(() => limitLogs(log, o), { code: ZtErrorCode.BAD_CONFIG });
  }
});

test('distinct messages beyond maxKeys do not grow memory: the oldest windows are summarised and forgotten', () => {
  const { lines, log } = capture();
  const limited = limitLogs(log, { perInterval: 1, maxKeys: 4 });
  limited.warn('m0');
  limited.warn('m0'); // held back
  for (let i = 1; i < 10; i++) limited.warn(`m${i}`);
  assert.ok(lines.some((l) => l.msg === 'm0 (1 more suppressed)'), 'the evicted window said what it held back');
  assert.equal(lines.filter((l) => /^m\d$/.test(l.msg as string)).length, 10);
});
