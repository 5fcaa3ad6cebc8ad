// Builds one of ztroot's optional addons (native/<name>/) with node-gyp; each native/<name>/build.mjs says what its
// addon is and what runs without it, and calls this.
//
//   node native/<name>/build.mjs             `npm run build:native`: fails (exit 1) if the build fails
//   node native/<name>/build.mjs --optional  the `npm install` hook: never fails the install; says what happened;
//                                            skips the build when the addon is newer than its sources (Node-API
//                                            addons do not depend on the Node version)
//
// No download: node-gyp is given the running Node's own headers (--nodedir) when it has them, since node-gyp would
// otherwise fetch a header tarball, which fails on a machine without internet access.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

/**
 * @param {object} a
 * @param {string} a.here          the addon's folder (binding.gyp, sources, build.mjs)
 * @param {string} a.name          the target's name: build/Release/<name>.node
 * @param {string} a.title         what the messages call it ("the TAP addon")
 * @param {string[]} a.sources     its source files, for the up-to-date check
 * @param {string} a.withoutIt     what runs without it (one sentence)
 * @param {string} a.compiler      the compiler package to name (g++ or gcc)
 * @param {boolean} a.addonApi     whether it builds against node-addon-api
 * @param {string|null} a.unsupported  why this platform cannot have it, or null
 */
export function buildAddon({ here, name, title, sources, withoutIt, compiler, addonApi, unsupported }) {
  const optional = process.argv.includes('--optional');
  const addon = join(here, 'build', 'Release', `${name}.node`);
  const logFile = join(here, 'build', 'build.log');

  const finish = (ok, why) => {
    if (ok) {
      console.log(`ztroot: built ${title} (${addon})`);
      process.exit(0);
    }
    console.error(
      `ztroot: ${title} was not built: ${why}\n` +
        `  ${withoutIt} To build it: install ${compiler}, make and python3\n` +
        `  (Debian: apt-get install ${compiler} make python3), then run \`npm run build:native\`.`,
    );
    process.exit(optional ? 0 : 1);
  };

  if (unsupported !== null) finish(false, unsupported);
  if (optional && upToDate(here, addon, [...sources, 'binding.gyp', 'build.mjs', '../build-addon.mjs'])) {
    console.log(`ztroot: ${title} is up to date`);
    process.exit(0);
  }
  if (addonApi) {
    try {
      createRequire(join(here, 'binding.gyp')).resolve('node-addon-api');
    } catch {
      finish(false, 'the node-addon-api package is not installed (run `npm install` first)');
    }
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
  finish(existsSync(addon), `node-gyp succeeded but left no build/Release/${name}.node`);
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

/** Whether the addon is newer than every file it is built from (paths relative to its folder). */
function upToDate(here, addon, files) {
  if (!existsSync(addon)) return false;
  const built = statSync(addon).mtimeMs;
  return files.every((f) => existsSync(join(here, f)) && statSync(join(here, f)).mtimeMs < built);
}
