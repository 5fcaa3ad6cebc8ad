// Runs every compiled test file under dist/ with Node's built-in test runner.
// (Node 20's runner takes files, not globs, so we list them here.)
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';

function find(dir, out) {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) find(p, out);
    else if (name.endsWith('.test.js')) out.push(p);
  }
  return out;
}

const filter = process.argv.slice(2);
let files = find('dist', []).sort();
if (filter.length) files = files.filter((f) => filter.some((x) => f.includes(x)));
if (files.length === 0) {
  console.error('no test files found under dist/ (did tsc run?)');
  process.exit(1);
}
// spec's output, with every skipped test and suite (file, name, reason) listed at the end: see the reporter.
const reporter = new URL('./summary-reporter.mjs', import.meta.url).href;
const r = spawnSync(process.execPath, ['--test', `--test-reporter=${reporter}`, '--test-reporter-destination=stdout', ...files], { stdio: 'inherit' });
process.exit(r.status ?? 1);
