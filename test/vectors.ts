/**
 * Where the shared ZeroTier 1.14.1 test vectors live, read at test time (never copied into the repo).
 * `ZTROOT_VECTORS` overrides; otherwise `../shared/vectors` beside the repository root.
 */
import { readFileSync, existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'tsconfig.json'))) return dir;
    const up = dirname(dir);
    if (up === dir) throw new Error('cannot find the repository root above ' + fileURLToPath(import.meta.url));
    dir = up;
  }
}

export const VECTORS_DIR = process.env.ZTROOT_VECTORS
  ? resolve(process.env.ZTROOT_VECTORS)
  : resolve(repoRoot(), '..', 'shared', 'vectors');

if (!existsSync(VECTORS_DIR)) {
  throw new Error(`test vectors not found at ${VECTORS_DIR} (set ZTROOT_VECTORS or put shared/ beside the repo)`);
}

export function vectorPath(...parts: string[]): string {
  return join(VECTORS_DIR, ...parts);
}

/** Parsed JSON vector file, e.g. `readVectorJson('ciphers.json')`. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export function readVectorJson<T = any>(...parts: string[]): T {
  return JSON.parse(readFileSync(vectorPath(...parts), 'utf8')) as T;
}

export function readVectorBytes(...parts: string[]): Uint8Array {
  return new Uint8Array(readFileSync(vectorPath(...parts)));
}

export function readVectorText(...parts: string[]): string {
  return readFileSync(vectorPath(...parts), 'utf8');
}

export const REPO_ROOT = repoRoot();
