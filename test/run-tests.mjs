// Runs every compiled test file under dist/ with Node's built-in test runner.
// (Node 20's runner takes files, not globs, so we list them here.)
import { existsSync, readdirSync, statSync } from 'node:fs';
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

const filter = process.argv.slice(2).filter((a) => a !== '--dgram');
let files = find('dist', []).sort();
if (filter.length) files = files.filter((f) => filter.some((x) => f.includes(x)));
if (files.length === 0) {
  console.error('no test files found under dist/ (did tsc run?)');
  process.exit(1);
}
// spec's output, with every skipped test and suite (file, name, reason) listed at the end: see the reporter.
const reporter = new URL('./summary-reporter.mjs', import.meta.url).href;
const run = (list, env = process.env) =>
  spawnSync(process.execPath, ['--test', `--test-reporter=${reporter}`, '--test-reporter-destination=stdout', ...list], { stdio: 'inherit', env }).status ?? 1;
let status = run(files);

// The root's UDP has two paths (relay/udp-socket.ts): the batched native addon, which the run above used when it is
// built, and the node:dgram fallback. A full run (no filter) runs the files that drive the root's UDP sockets a
// second time on the fallback (~3 min); `ZTROOT_UDP=dgram npm test` puts the whole suite on it, and
// `node test/run-tests.mjs --dgram <substring>` a chosen part.
const UDP_FILES = ['dist/root/', 'dist/relay/', 'dist/test/nat.test', 'dist/test/path-hijack.test', 'dist/test/startup-failures.test', 'dist/leaf/vl1-node.test'];
const addonBuilt = existsSync(new URL('../native/udp/build/Release/udp.node', import.meta.url));
// Not twice: the Redis outage test (a minute of waiting on Redis, its UDP the same as root/fleet.test's).
const NOT_TWICE = ['dist/root/fleet-outage.test'];
const second = process.argv.includes('--dgram') ? files : filter.length === 0 ? files.filter((f) => UDP_FILES.some((u) => f.startsWith(u)) && !NOT_TWICE.some((u) => f.startsWith(u))) : [];
if (second.length > 0 && process.env.ZTROOT_UDP !== 'dgram') {
  if (!addonBuilt) console.log('\n(the batched UDP addon is not built: the run above was already on the node:dgram fallback; not run twice)');
  else {
    console.log(`\n# the ${second.length} files that drive the root's UDP, again on the node:dgram fallback (ZTROOT_UDP=dgram)`);
    const s2 = run(second, { ...process.env, ZTROOT_UDP: 'dgram' });
    if (status === 0) status = s2;
  }
}
process.exit(status);
