// Builds the memory-hard hash addon (native/hash/hash.c → build/Release/hash.node) with node-gyp.
//
//   node native/hash/build.mjs             fails (exit 1) if the build fails
//   node native/hash/build.mjs --optional  the `npm install` hook: never fails the install; says what happened;
//                                          skips the build when the addon is newer than its sources
//
// Optional because the pure-JS hash (vl1/identity-hash.ts) does the same work, only ~3× slower: a root without
// a C compiler validates fewer new identities per second, and says so in /api/status (identityHash).
// No download: node-gyp is given the running Node's own headers (--nodedir) when it has them.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const optional = process.argv.includes('--optional');
const addon = join(here, 'build', 'Release', 'hash.node');
const logFile = join(here, 'build', 'build.log');

function finish(ok, why) {
  if (ok) {
    console.log(`ztroot: built the memory-hard hash addon (${addon})`);
    process.exit(0);
  }
  console.error(
    `ztroot: the memory-hard hash addon was not built: ${why}\n` +
      `  Roots run without it (pure-JS hash, fewer new identities validated per second). To build it: install gcc,\n` +
      `  make and python3 (Debian: apt-get install gcc make python3), then run \`node native/hash/build.mjs\`.`,
  );
  process.exit(optional ? 0 : 1);
}

function nodeGyp() {
  const candidates = [process.env.npm_config_node_gyp, join(dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js')];
  for (const c of candidates) if (c && existsSync(c)) return [process.execPath, c];
  return ['node-gyp'];
}

function nodedirArgs() {
  if (process.env.npm_config_nodedir) return [];
  const prefix = join(dirname(process.execPath), '..');
  return existsSync(join(prefix, 'include', 'node', 'node_api.h')) ? [`--nodedir=${prefix}`] : [];
}

function upToDate() {
  if (!existsSync(addon)) return false;
  const built = statSync(addon).mtimeMs;
  return ['hash.c', 'binding.gyp', 'build.mjs'].every((f) => statSync(join(here, f)).mtimeMs < built);
}

if (optional && upToDate()) {
  console.log('ztroot: the memory-hard hash addon is up to date');
  process.exit(0);
}
const [cmd, ...pre] = nodeGyp();
const r = spawnSync(cmd, [...pre, 'rebuild', ...nodedirArgs()], { cwd: here, encoding: 'utf8', maxBuffer: 64 << 20 });
const output = `${r.stdout ?? ''}${r.stderr ?? ''}`;
try {
  mkdirSync(dirname(logFile), { recursive: true });
  writeFileSync(logFile, output);
} catch {
  /* the log is a convenience */
}
if (r.error) finish(false, `could not run node-gyp (${r.error.message})`);
if (r.status !== 0) {
  const tail = output
    .split('\n')
    .filter((l) => /error|not found|No such file|failed/i.test(l) && !/^gyp info/.test(l))
    .slice(0, 6)
    .map((l) => `    ${l.trim()}`)
    .join('\n');
  finish(false, `node-gyp exited with ${r.status} (full output in ${logFile})${tail ? `:\n${tail}` : ''}`);
}
finish(existsSync(addon), 'node-gyp succeeded but left no build/Release/hash.node');
