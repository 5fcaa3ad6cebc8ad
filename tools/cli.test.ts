/**
 * One argument parser for every command, checked as processes: an unknown option is named as such, a usage
 * error is ONE line and exit 2 everywhere, `--version` prints package.json's version, `--help` helps.
 * (Before: `ztroot relay --bogus` said "--bogus needs a value"; usage errors exited 1 in some commands and
 * printed whole usage texts in others; there was no --version.)
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from '../test/vectors.js';
import { describeRun, runCli, type CliRun } from '../test/cli-process.js';

const VERSION = (JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string }).version;
const MKPLANET = join(REPO_ROOT, 'dist', 'tools', 'mkplanet-bin.js');

/** Every command line that takes options: `ztroot <these> --bogus` etc. */
const COMMANDS: string[][] = [
  ['start'],
  ['relay'],
  ['doctor'],
  ['id', 'generate'],
  ['id', 'validate'],
  ['id', 'getpublic'],
  ['id', 'sign'],
  ['id', 'verify'],
  ['mkplanet', 'init'],
  ['mkplanet', 'update'],
  ['mkplanet', 'rotate'],
  ['mkplanet', 'moon'],
  ['mkplanet', 'inspect'],
  ['mkplanet', 'verify'],
  ['fleet', 'status'],
  ['bench'],
];

/** Runs all at once, a few at a time (each is a Node process). */
async function runAll(lines: string[][], opts: { script?: string } = {}): Promise<CliRun[]> {
  const out: CliRun[] = new Array(lines.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: 4 }, async () => {
      while (next < lines.length) {
        const i = next++;
        out[i] = await runCli(lines[i]!, opts);
      }
    }),
  );
  return out;
}

function usageError(r: CliRun, what: string, pattern: RegExp): void {
  assert.equal(r.code, 2, `${what}: exit 2 — ${describeRun(r)}`);
  assert.equal(r.errLines.length, 1, `${what}: one line — ${describeRun(r)}`);
  assert.match(r.errLines[0]!, pattern, `${what}: ${describeRun(r)}`);
}

test('an unknown option is rejected as such, in one line, exit 2 — by every command', async () => {
  const runs = await runAll(COMMANDS.map((c) => [...c, '--bogus']));
  runs.forEach((r, i) => usageError(r, COMMANDS[i]!.join(' '), /unknown option --bogus/));
  usageError((await runAll([['--bogus']]))[0]!, 'ztroot', /unknown option --bogus/);
  usageError((await runAll([['update', '--bogus']], { script: MKPLANET }))[0]!, 'mkplanet', /unknown option --bogus/);
});

test('a missing value, an unknown command, a stray argument: one line each, exit 2', async () => {
  const cases: Array<[string[], RegExp]> = [
    [['relay', '--listen'], /option --listen needs a value/],
    [['relay', '--listen', '--open'], /option --listen needs a value/],
    [['start', '--port'], /option --port needs a value/],
    [['relay', '--open=yes'], /option --open takes no value/],
    [['relay', 'stray'], /unexpected argument "stray"/],
    [['frobnicate'], /unknown command "frobnicate"/],
    [['id', 'frobnicate'], /unknown command "frobnicate"/],
    [['mkplanet', 'frobnicate'], /unknown command "frobnicate"/],
    [['fleet', 'frobnicate'], /unknown command "frobnicate"/],
    [['fleet', 'status', '--fleet', 'x'], /--redis is required/],
    [['bench', 'nosuchsuite'], /unknown suite "nosuchsuite"/],
    [['id', 'validate'], /expected 1 argument, got 0/],
    [['mkplanet', 'update'], /expected 1 argument, got 0/],
  ];
  const runs = await runAll(cases.map(([a]) => a), {});
  runs.forEach((r, i) => usageError(r, cases[i]![0].join(' '), cases[i]![1]));
});

test('--version prints package.json\'s version, for ztroot, mkplanet and every subcommand', async () => {
  const lines = [['--version'], ...COMMANDS.map((c) => [...c, '--version']), ['id', '--version'], ['mkplanet', '--version'], ['fleet', '--version']];
  const runs = await runAll(lines);
  runs.forEach((r, i) => {
    assert.equal(r.code, 0, `${lines[i]!.join(' ')}: ${describeRun(r)}`);
    assert.equal(r.stdout.trim(), `ztroot ${VERSION}`, lines[i]!.join(' '));
  });
  const mk = await runCli(['--version'], { script: MKPLANET });
  assert.equal(mk.stdout.trim(), `ztroot ${VERSION}`);
});

test('--help: usage, every option the command takes, exit 0', async () => {
  const lines = [['--help'], ...COMMANDS.map((c) => [...c, '--help'])];
  const runs = await runAll(lines);
  runs.forEach((r, i) => {
    assert.equal(r.code, 0, `${lines[i]!.join(' ')}: ${describeRun(r)}`);
    assert.match(r.stdout, /^usage: /m, lines[i]!.join(' '));
    assert.match(r.stdout, /--version/, `${lines[i]!.join(' ')} lists --version`);
  });
  const relay = runs[COMMANDS.findIndex((c) => c[0] === 'relay') + 1]!.stdout;
  for (const opt of ['--listen', '--destination', '--planet', '--open', '--allow-file', '--http']) assert.match(relay, new RegExp(`${opt}\\b`), `relay --help names ${opt}`);
  const start = runs[1]!.stdout;
  for (const opt of ['--state-dir', '--port', '--endpoint', '--config', '--print-config', '--tcp-relay']) assert.match(start, new RegExp(`${opt}\\b`), `start --help names ${opt}`);
});
