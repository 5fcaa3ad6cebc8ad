/**
 * The layering of DESIGN.md, checked on every build: each folder's modules import only the folders its row of
 * the layout table allows ("may import"). The table is read from ../shared/DESIGN.md at test time, so the rule
 * and its check cannot drift apart. Tests (`*.test.ts`) may import anything, as test/ may.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative, dirname, normalize } from 'node:path';
import { REPO_ROOT, VECTORS_DIR } from './vectors.js';

// DESIGN.md sits in ../shared beside the vectors.
const SHARED_DIR = dirname(VECTORS_DIR);

/** folder → folders it may import (itself always allowed), from DESIGN.md's layout table. */
function allowedImports(): Map<string, Set<string> | 'anything'> {
  const design = readFileSync(join(SHARED_DIR, 'DESIGN.md'), 'utf8');
  const out = new Map<string, Set<string> | 'anything'>();
  for (const line of design.split('\n')) {
    const m = /^\| `([a-z0-9]+)\/` \|[^|]*\| (.*) \|$/.exec(line);
    if (m === null) continue;
    const [, folder, may] = m as unknown as [string, string, string];
    if (/anything/.test(may)) out.set(folder, 'anything');
    else out.set(folder, new Set([...may.matchAll(/`([a-z0-9]+)\/`/g)].map((x) => x[1]!)));
  }
  return out;
}

function sources(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...sources(p));
    else if (e.name.endsWith('.ts') && !e.name.endsWith('.test.ts') && !e.name.endsWith('.d.ts')) out.push(p);
  }
  return out;
}

test('every module imports only what DESIGN.md allows its folder', () => {
  const rules = allowedImports();
  assert.ok(rules.size >= 6, `the layout table of DESIGN.md was not found (${rules.size} rows read)`);
  const violations: string[] = [];
  for (const [folder, allowed] of rules) {
    if (allowed === 'anything') continue;
    let files: string[];
    try {
      files = sources(join(REPO_ROOT, folder));
    } catch {
      continue; // a folder not made yet
    }
    for (const file of files) {
      const text = readFileSync(file, 'utf8');
      for (const m of text.matchAll(/^\s*(?:import|export)\s[^'"]*?from\s+'(\.[^']+)'|import\(\s*'(\.[^']+)'\s*\)/gm)) {
        const spec = m[1] ?? m[2]!;
        const target = relative(REPO_ROOT, normalize(join(dirname(file), spec)));
        const top = target.split('/')[0]!;
        if (top === folder || allowed.has(top)) continue;
        violations.push(`${relative(REPO_ROOT, file)} imports ${spec} (${top}/), but ${folder}/ may import only ${[...allowed].map((a) => `${a}/`).join(', ') || 'nothing of ours'}`);
      }
    }
  }
  assert.deepEqual(violations, []);
});
