/**
 * An idle validator pool must not keep its process alive: `ztroot start` creates the pool before binding its
 * sockets, and a start that failed after that stayed running for minutes (issue 11). The worker was unref'd
 * before its 'message' listener was added, and adding that listener refs the worker's port again.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT } from '../test/vectors.js';

async function exitsWithin(script: string, ms: number): Promise<{ exited: boolean; code: number | null; stderr: string }> {
  // A file, not --eval: workers inherit the parent's execArgv, and --input-type would break them.
  const file = join(mkdtempSync(join(tmpdir(), 'ztroot-validator-exit-')), 'script.mjs');
  writeFileSync(file, script);
  const child = spawn(process.execPath, [file], { cwd: REPO_ROOT, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      resolve({ exited: false, code: null, stderr });
    }, ms);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ exited: true, code, stderr });
    });
  });
}

const mod = JSON.stringify(new URL('./identity-validator.js', import.meta.url).href);
const idMod = JSON.stringify(new URL('../vl1/identity.js', import.meta.url).href);

test('a process holding an idle validator pool exits by itself', async () => {
  const r = await exitsWithin(`import { IdentityValidator } from ${mod}; new IdentityValidator({ workers: 2 });
     await new Promise((r) => setTimeout(r, 500)); // the workers are up and idle`, 3000);
  assert.ok(r.exited, 'the process exits (it was still running after 3 s)');
  assert.equal(r.code, 0, r.stderr);
});

test('...also after the pool has validated something (busy workers are ref\'d, idle ones unref\'d again)', async () => {
  const r = await exitsWithin(
    `import { IdentityValidator } from ${mod}; import { Identity } from ${idMod};
     const v = new IdentityValidator({ workers: 1 });
     const ok = await v.validate(Identity.generate());
     if (ok !== true) process.exit(3);`,
    6000,
  );
  assert.ok(r.exited, 'the process exits (it was still running after 6 s)');
  assert.equal(r.code, 0, r.stderr);
});
