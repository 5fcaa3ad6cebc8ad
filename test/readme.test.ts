/**
 * Every shell command README.md shows in a ```sh block works as written: the blocks are read from the README
 * at test time and run in order, in a temporary copy of the checkout (package.json and bin/ copied, dist/ and
 * node_modules/ linked: what `npm install` left), with the shell state a reader keeps between lines (exported
 * variables such as PATH, the directory). A ```yaml block whose first line is `# <file>` is written to that file
 * when reached: the README tells the reader to save it so.
 *
 * Commands that serve (`npm start`, `ztroot start …`, `ztroot relay …`, `ztroot leaf …`) run in a network namespace of their own
 * (their ports — 9993, 9980, 443 — are then free whatever else runs on this machine) until they report that
 * they serve, then get SIGTERM and must stop cleanly. Skipped, each with its reason printed: `npm install`
 * (needs the network; the checkout under test is what it built), `npm test` (this suite itself), and commands
 * for a ZeroTier One client (`zerotier-cli …`: installing a planet on clients is the client OS's business).
 * Before this test, the README used `ztroot` and `mkplanet` bare although `npm install` puts neither on the PATH.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import { REPO_ROOT } from './vectors.js';
import { netnsUnavailableReason, withTopology } from './netns.js';

interface Step {
  kind: 'sh' | 'file';
  /** The command, or the file's name. */
  text: string;
  /** The file's content. */
  content?: string;
  /** Where in the README (line number), for messages. */
  line: number;
}

/** The README's ```sh commands and named ```yaml/```json files, in order. */
export function readmeSteps(readme: string): Step[] {
  const steps: Step[] = [];
  const fence = /^```(\w*)\n([\s\S]*?)^```$/gm;
  for (let m = fence.exec(readme); m !== null; m = fence.exec(readme)) {
    const lang = m[1]!;
    const body = m[2]!;
    const line = readme.slice(0, m.index).split('\n').length + 1;
    if (lang === 'sh') {
      const lines = body.replace(/\\\n/g, ' ').split('\n');
      lines.forEach((l, i) => {
        // `a && b` is a, then b: each judged (skipped, served, run) alone.
        const cmd = l.trim();
        if (cmd === '' || cmd.startsWith('#')) return;
        for (const part of cmd.split(/\s+&&\s+/)) steps.push({ kind: 'sh', text: part, line: line + i });
      });
    } else if (lang === 'yaml') {
      const name = /^# (\S+)\n/.exec(body)?.[1];
      if (name !== undefined) steps.push({ kind: 'file', text: name, content: body, line });
    }
  }
  return steps;
}

/** Why a command is not run, or null. */
function skipReason(cmd: string): string | null {
  if (/^npm install\b/.test(cmd)) return 'needs the network; the checkout under test is what it built';
  if (/^npm test\b/.test(cmd)) return 'runs this test suite inside itself';
  if (/^zerotier-cli\b/.test(cmd)) return 'a command for each ZeroTier One client, not this machine';
  return null;
}

/** A command that serves until stopped, and the log line that says it serves. */
function servesUntilStopped(cmd: string): string | null {
  if (/--(help|version|print-config)\b/.test(cmd)) return null;
  if (/^npm start\b|^ztroot start\b/.test(cmd)) return 'root started';
  if (/^ztroot relay\b/.test(cmd)) return 'relay listening';
  if (/^ztroot leaf\b/.test(cmd)) return 'leaf started';
  return null;
}

const skip = netnsUnavailableReason();

test('README.md: every shell command it shows works as written', { skip: skip ? `the README's servers run in a network namespace: ${skip}` : false, timeout: 240_000 }, async () => {
  const readme = readFileSync(join(REPO_ROOT, 'README.md'), 'utf8');
  const steps = readmeSteps(readme);
  assert.ok(steps.filter((s) => s.kind === 'sh').length >= 20, 'the README has its commands in ```sh blocks');

  // A checkout as `npm install` leaves it.
  const work = mkdtempSync(join(tmpdir(), 'ztroot-readme-'));
  copyFileSync(join(REPO_ROOT, 'package.json'), join(work, 'package.json'));
  for (const d of ['bin', 'dist', 'node_modules']) symlinkSync(join(REPO_ROOT, d), join(work, d));
  // The shell state carried from one line to the next: exported variables and the directory.
  const envFile = join(work, '.readme-env');
  const cwdFile = join(work, '.readme-cwd');
  writeFileSync(envFile, '');
  writeFileSync(cwdFile, work);
  const env: NodeJS.ProcessEnv = { ...process.env, npm_config_update_notifier: 'false' };
  const prologue = `source ${JSON.stringify(envFile)}; cd "$(cat ${JSON.stringify(cwdFile)})" || exit 97`;
  const epilogue = `__rc=$?; export -p > ${JSON.stringify(envFile)}; pwd > ${JSON.stringify(cwdFile)}; exit $__rc`;

  const report: string[] = [];
  await withTopology({ ipv6: true }, async (t) => {
    for (const step of steps) {
      const where = `README.md:${step.line}: ${step.text}`;
      if (step.kind === 'file') {
        writeFileSync(join(readFileSync(cwdFile, 'utf8').trim(), step.text), step.content!);
        report.push(`wrote  ${step.text}`);
        continue;
      }
      const why = skipReason(step.text);
      if (why !== null) {
        report.push(`SKIP   ${step.text}  — ${why}`);
        continue;
      }
      const tool = /^(\S+)/.exec(step.text)![1]!;
      if (!/^(npm|ztroot|mkplanet|export|cp|echo|head|cd)$/.test(tool) && spawnSync('bash', ['-c', `command -v ${tool}`]).status !== 0) {
        report.push(`SKIP   ${step.text}  — ${tool} is not installed here`);
        continue;
      }
      const ready = servesUntilStopped(step.text);
      if (ready === null) {
        const r = spawnSync('bash', ['-c', `${prologue}\n${step.text}\n${epilogue}`], { env, encoding: 'utf8', timeout: 60_000 });
        assert.equal(r.status, 0, `${where}\nexit ${r.status}${r.error ? ` (${r.error.message})` : ''}\nstdout:\n${r.stdout}\nstderr:\n${r.stderr}`);
        report.push(`ok     ${step.text}`);
        continue;
      }
      // A server: in the namespace, until it reports that it serves; then SIGTERM, and it must stop cleanly.
      const child = t.spawn(t.root.ns, 'bash', ['-c', `${prologue}\nexec ${step.text}`], { env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
      let out = '';
      let err = '';
      child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
      child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
      const exited = once(child, 'close'); // after every process holding its stdout (npm's child too) is gone
      const deadline = Date.now() + 30_000;
      while (!out.includes(`"msg":"${ready}"`) && child.exitCode === null && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      assert.ok(out.includes(`"msg":"${ready}"`), `${where}\ndid not report "${ready}" (exit ${child.exitCode})\nstdout:\n${out}\nstderr:\n${err}`);
      process.kill(-child.pid!, 'SIGTERM');
      await exited;
      const stopped = ready === 'relay listening' ? '"msg":"relay stopped"' : '"msg":"stopped"';
      assert.ok(out.includes(stopped), `${where}\nstopped uncleanly\nstdout:\n${out}\nstderr:\n${err}`);
      report.push(`served ${step.text}  (until SIGTERM)`);
    }
  });
  console.log(report.map((l) => `# ${l}`).join('\n'));
  assert.ok(report.some((l) => l.startsWith('served npm start')), 'npm start was run');
});
