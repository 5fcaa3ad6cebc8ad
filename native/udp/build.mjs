// Builds the batched UDP addon (native/udp/udp.cc → build/Release/udp.node) with node-gyp.
//
//   node native/udp/build.mjs             `npm run build:native`: fails (exit 1) if the build fails
//   node native/udp/build.mjs --optional  the `npm install` hook: never fails the install; says what happened;
//                                         skips the build when the addon is newer than its sources (Node-API
//                                         addons do not depend on the Node version)
//
// Optional because the root runs without it, on node:dgram (one system call per datagram instead of one per batch),
// and says so in /api/status with how to build it (root/udp-path.ts). Same pattern as native/tap/build.mjs.
//
// No download: node-gyp is given the running Node's own headers (--nodedir) when it has them, since node-gyp would
// otherwise fetch a header tarball, which fails on a machine without internet access.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const optional = process.argv.includes('--optional');
const logFile = join(here, 'build', 'build.log');

function finish(ok, why) {
  if (ok) {
    console.log(`ztroot: built the batched UDP addon (${join(here, 'build', 'Release', 'udp.node')})`);
    process.exit(0);
  }
  const msg =
    `ztroot: the batched UDP addon was not built: ${why}\n` +
    `  Roots run without it on node:dgram, at a higher CPU cost per packet. To build it: install g++, make and python3\n` +
    `  (Debian: apt-get install g++ make python3), then run \`npm run build:native\`.`;
  console.error(msg);
  process.exit(optional ? 0 : 1);
}

/** npm's own node-gyp (npm sets npm_config_node_gyp for scripts), else the one beside this Node's npm, else PATH. */
function nodeGyp() {
  const candidates = [process.env.npm_config_node_gyp, join(dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js')];
  for (const c of candidates) if (c && existsSync(c)) return [process.execPath, c];
  return ['node-gyp'];
}

/** The running Node's headers, when npm was not told where they are. */
function nodedirArgs() {
  if (process.env.npm_config_nodedir) return [];
  const prefix = join(dirname(process.execPath), '..');
  return existsSync(join(prefix, 'include', 'node', 'node_api.h')) ? [`--nodedir=${prefix}`] : [];
}

/** Whether build/Release/udp.node is newer than every file it is built from. */
function upToDate() {
  const addon = join(here, 'build', 'Release', 'udp.node');
  if (!existsSync(addon)) return false;
  const built = statSync(addon).mtimeMs;
  return ['udp.cc', 'binding.gyp', 'build.mjs'].every((f) => statSync(join(here, f)).mtimeMs < built);
}

if (process.platform !== 'linux') finish(false, `recvmmsg/sendmmsg are Linux-only (this is ${process.platform})`);
if (optional && upToDate()) {
  console.log('ztroot: the batched UDP addon is up to date');
  process.exit(0);
}
try {
  createRequire(join(here, 'binding.gyp')).resolve('node-addon-api');
} catch {
  finish(false, 'the node-addon-api package is not installed (run `npm install` first)');
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
finish(existsSync(join(here, 'build', 'Release', 'udp.node')), 'node-gyp succeeded but left no build/Release/udp.node');
