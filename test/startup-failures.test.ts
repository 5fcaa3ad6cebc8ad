/**
 * `ztroot start` failing to start, as systemd sees it: each failure must end the process within 2 s with a
 * non-zero code and ONE line on stderr naming what failed and how to fix it — never a stack trace, never a
 * process left running (the bug this reproduces: a busy UDP port left the process alive for minutes, an
 * HTTP port in use left a root serving UDP without health or metrics).
 *
 * Each case is a real process (`node dist/tools/cli.js start …`). The state directories get a ready-made
 * identity, so no case waits for the ~0.5 s identity search.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import dgram from 'node:dgram';
import net from 'node:net';
import { once } from 'node:events';
import { describeRun, runCli, type CliRun } from './cli-process.js';
import { Identity } from '../vl1/identity.js';
import { c25519Generate } from '../vl1/c25519.js';
import { serializeWorld, signWorld } from '../planet/world.js';

/** The budget the issue sets: a failed start is over within 2 s. */
const EXIT_WITHIN_MS = 2000;

const base = mkdtempSync(join(tmpdir(), 'ztroot-startfail-'));
const rootId = Identity.generate();
let dirs = 0;

/** A state directory holding this test's root identity. */
function stateDir(): string {
  const d = join(base, `state-${++dirs}`);
  mkdirSync(d, { mode: 0o700 });
  writeFileSync(join(d, 'identity.secret'), rootId.toString(true), { mode: 0o600 });
  writeFileSync(join(d, 'identity.public'), rootId.toString(false));
  return d;
}

async function busyUdp(): Promise<{ port: number; close: () => void }> {
  const s = dgram.createSocket('udp4');
  s.bind(0, '127.0.0.1');
  await once(s, 'listening');
  return { port: s.address().port, close: () => s.close() };
}

async function busyTcp(): Promise<{ port: number; close: () => void }> {
  const s = net.createServer();
  s.listen(0, '127.0.0.1');
  await once(s, 'listening');
  return { port: (s.address() as net.AddressInfo).port, close: () => s.close() };
}

/** The flags every case shares: loopback only, no HTTP unless the case sets it, a planet endpoint given. */
function common(dir: string, port = 0): string[] {
  return ['--state-dir', dir, '--port', String(port), '--bind4', '127.0.0.1', '--bind6', 'none', '--http', 'none', '--endpoint', '192.0.0.1/9993'];
}

/** Asserts the contract: exit `code` within 2 s, exactly one stderr line matching every pattern. */
function assertFailedFast(r: CliRun, code: number, ...patterns: RegExp[]): void {
  console.log(`# exit ${r.code} after ${Math.round(r.ms)} ms: ${r.errLines.join(' | ')}`);
  assert.equal(r.hung, false, `the process must exit: ${describeRun(r)}`);
  assert.equal(r.code, code, `exit code: ${describeRun(r)}`);
  assert.ok(r.ms < EXIT_WITHIN_MS, `exit within ${EXIT_WITHIN_MS} ms: ${describeRun(r)}`);
  assert.equal(r.errLines.length, 1, `exactly one line on stderr: ${describeRun(r)}`);
  for (const p of patterns) assert.match(r.errLines[0]!, p, describeRun(r));
  assert.doesNotMatch(r.stderr, /^\s+at /m, 'no stack trace');
}

test('a UDP port in use: one line naming the port and --port, exit 1 within 2 s', async () => {
  const busy = await busyUdp();
  try {
    const r = await runCli(['start', ...common(stateDir(), busy.port)]);
    assertFailedFast(r, 1, new RegExp(`UDP port ${busy.port}\\b`), /in use/, /--port/);
  } finally {
    busy.close();
  }
});

test('a UDP port in use with a fleet Redis configured (and unreachable): still one line and out within 2 s', async () => {
  const busy = await busyUdp();
  try {
    const r = await runCli(['start', ...common(stateDir(), busy.port), '--fleet-redis', 'redis://127.0.0.1:1']);
    assertFailedFast(r, 1, new RegExp(`UDP port ${busy.port}\\b`), /in use/);
  } finally {
    busy.close();
  }
});

test('a bind address the host does not have: one line naming it and --bind4, exit 1 within 2 s', async () => {
  const dir = stateDir();
  const r = await runCli(['start', ...common(dir), '--bind4', '203.0.113.77']);
  assertFailedFast(r, 1, /203\.0\.113\.77/, /not an address of this host/, /--bind4/);
});

test('a planet that does not list this root: one line naming the planet and the root, exit 1 within 2 s', async () => {
  const other = Identity.generate();
  const key = c25519Generate();
  const planet = signWorld(
    { type: 'planet', id: 0x1234567890n, timestamp: Date.now(), updatesMustBeSignedBy: key.publicKey, roots: [{ identity: other.publicOnly(), stableEndpoints: [{ family: 4, ip: '192.0.0.9', port: 9993 }] }] },
    key,
  );
  const file = join(base, 'foreign-planet');
  writeFileSync(file, serializeWorld(planet));
  const r = await runCli(['start', ...common(stateDir()), '--planet', file]);
  assertFailedFast(r, 1, /foreign-planet/, /does not list this root/, new RegExp(rootId.toString(false).slice(0, 10)));
});

test('an HTTP port in use: one line naming it and --http; UDP is not left serving', async () => {
  const busy = await busyTcp();
  try {
    const r = await runCli(['start', ...common(stateDir()), '--http', `127.0.0.1:${busy.port}`]);
    assertFailedFast(r, 1, new RegExp(`HTTP API port ${busy.port} on 127\\.0\\.0\\.1`), /in use/, /--http/);
    assert.doesNotMatch(r.stdout, /"root started"/, 'never reported as started');
  } finally {
    busy.close();
  }
});

test('the TCP relay port in use: one line naming it and --tcp-relay, exit 1 within 2 s', async () => {
  const busy = await busyTcp();
  try {
    const r = await runCli(['start', ...common(stateDir()), '--tcp-relay', `127.0.0.1:${busy.port}`]);
    assertFailedFast(r, 1, new RegExp(`TCP relay port ${busy.port} on 127\\.0\\.0\\.1`), /in use/, /--tcp-relay/);
  } finally {
    busy.close();
  }
});

test('an unreadable TLS certificate: one line naming the file and --tls-cert, exit 1 within 2 s, before anything listens', async () => {
  const missing = join(base, 'no-such-cert.pem');
  const key = join(base, 'key.pem');
  writeFileSync(key, 'not really a key');
  const r = await runCli(['start', ...common(stateDir()), '--tcp-relay', '127.0.0.1:0', '--tls-cert', missing, '--tls-key', key]);
  assertFailedFast(r, 1, /no-such-cert\.pem/, /--tls-cert/);
  assert.doesNotMatch(r.stdout, /"root listening"/, 'nothing was bound');
});

test('a state directory that is a file: one line naming it and --state-dir, exit 1 within 2 s', async () => {
  const file = join(base, 'state-is-a-file');
  writeFileSync(file, 'x');
  const r = await runCli(['start', ...common(file)]);
  assertFailedFast(r, 1, /state-is-a-file/, /--state-dir/);
});

test('a state directory the kernel refuses (under /proc): one line, exit 1 within 2 s — not a spinning mkdir', { skip: process.platform !== 'linux' && 'needs /proc' }, async () => {
  // Node 20's mkdirSync(…, { recursive: true }) loops forever here: the process sat at 100 % CPU.
  const r = await runCli(['start', ...common('/proc/ztroot-no-such/state')]);
  assertFailedFast(r, 1, /\/proc\/ztroot-no-such\/state/, /--state-dir/);
});

test('an unwritable state directory: one line naming it and how to fix it, exit 1 within 2 s', async (t) => {
  // Root ignores file modes, so as root the CLI runs as nobody against a directory only root may write.
  const asRoot = process.getuid?.() === 0;
  const parent = join(base, 'readonly-parent');
  mkdirSync(parent, { mode: 0o755 });
  chmodSync(base, 0o755); // nobody may look in, not write
  if (!asRoot) chmodSync(parent, 0o555);
  t.after(() => chmodSync(parent, 0o755));
  const dir = join(parent, 'state');
  const r = await runCli(['start', ...common(dir)], asRoot ? { uid: 65534, gid: 65534 } : {});
  assertFailedFast(r, 1, /readonly-parent\/state/, /(permission denied|EACCES)/i, /--state-dir/);
});

test('a state directory whose identity.secret is not an identity: one line naming the file, exit 1 within 2 s', async () => {
  const dir = stateDir();
  writeFileSync(join(dir, 'identity.secret'), 'garbage');
  const r = await runCli(['start', ...common(dir)]);
  assertFailedFast(r, 1, /identity\.secret/);
});

test('a bad config value (flag, env, YAML): one line naming the source, key and value; usage exit 2', async () => {
  const flag = await runCli(['start', ...common(stateDir()), '--max-hops', '12']);
  assertFailedFast(flag, 2, /--max-hops/, /"12"/, /1\.\.7/);
  const env = await runCli(['start', ...common(stateDir())], { env: { ...process.env, ZTROOT_PEER_TIMEOUT: 'soon' } });
  assertFailedFast(env, 2, /ZTROOT_PEER_TIMEOUT/, /"soon"/);
  const yaml = join(base, 'bad.yaml');
  writeFileSync(yaml, 'port: 99999\n');
  const file = await runCli(['start', ...common(stateDir()), '--config', yaml]);
  assertFailedFast(file, 2, /bad\.yaml/, /port/, /99999/);
});

test('an unknown option is named as such; usage exit 2', async () => {
  const r = await runCli(['start', '--bogus']);
  assertFailedFast(r, 2, /unknown option --bogus/);
});

test('ztroot relay: its TCP port in use — one line naming it and --listen, exit 1 within 2 s', async () => {
  const busy = await busyTcp();
  try {
    const r = await runCli(['relay', '--open', '--listen', `127.0.0.1:${busy.port}`, '--bind4', '127.0.0.1', '--bind6', 'none', '--http', 'none']);
    assertFailedFast(r, 1, new RegExp(`TCP relay port ${busy.port} on 127\\.0\\.0\\.1`), /in use/, /--listen/);
  } finally {
    busy.close();
  }
});

test('ztroot relay: its metrics port in use — one line naming it and --http, exit 1 within 2 s; no relay left without metrics', async () => {
  const busy = await busyTcp();
  try {
    const r = await runCli(['relay', '--open', '--listen', '127.0.0.1:0', '--bind4', '127.0.0.1', '--bind6', 'none', '--http', `127.0.0.1:${busy.port}`]);
    assertFailedFast(r, 1, new RegExp(`HTTP metrics port ${busy.port} on 127\\.0\\.0\\.1`), /in use/, /--http/);
  } finally {
    busy.close();
  }
});

test('ztroot relay: an unreadable --planet — one line naming it, exit 1 within 2 s', async () => {
  const r = await runCli(['relay', '--planet', join(base, 'no-such-planet'), '--listen', '127.0.0.1:0', '--http', 'none']);
  assertFailedFast(r, 1, /--planet .*no-such-planet/);
});

test('a first-start planet with --port 0 and no --endpoint is refused (it would list port 0): usage exit 2, one line', async () => {
  const dir = stateDir();
  const r = await runCli(['start', '--state-dir', dir, '--port', '0', '--bind4', '127.0.0.1', '--bind6', 'none', '--http', 'none']);
  assertFailedFast(r, 2, /--port 0/, /--endpoint/);
  assert.ok(!existsSync(join(dir, 'planet')), 'no planet written');
});

test('--endpoint that clients never use (loopback, port 0) is refused as mkplanet refuses it: usage exit 2, one line', async () => {
  const loop = await runCli(['start', ...common(stateDir()), '--endpoint', '127.0.0.1/9993']);
  assertFailedFast(loop, 2, /127\.0\.0\.1\/9993/, /loopback/);
  const zero = await runCli(['start', ...common(stateDir()), '--endpoint', '192.0.0.1/0']);
  assertFailedFast(zero, 2, /192\.0\.0\.1\/0/, /port 0/);
});

test('a state directory that lost its planet but kept the key: one line saying how to restore it — no new planet behind the clients\' back', async () => {
  const dir = stateDir();
  writeFileSync(join(dir, 'update-key.c25519'), new Uint8Array(128));
  const r = await runCli(['start', ...common(dir)]);
  assertFailedFast(r, 1, /holds update-key\.c25519 but no planet/, /history\//);
  assert.ok(!existsSync(join(dir, 'planet')), 'no planet made');
});
