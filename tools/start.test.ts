/**
 * `ztroot start` as an operator runs it: a real process, its state directory, its log lines, signals.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import https from 'node:https';
import net from 'node:net';
import { existsSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import dgram from 'node:dgram';
import { once } from 'node:events';
import { REPO_ROOT } from '../test/vectors.js';
import { watchJsonLines, type JsonLine } from '../test/json-lines.js';
import { Identity } from '../vl1/identity.js';
import { parseWorld, serializeWorld, signWorld } from '../planet/world.js';
import { readSigningKeyFile } from '../planet/files.js';
import { encodeTunnelHello } from '../vl1/tcp-framing.js';
import { RedisServer, redisUnavailableReason } from '../test/redis.js';

const CLI = join(REPO_ROOT, 'dist', 'tools', 'cli.js');

async function freeUdpPort(): Promise<number> {
  const s = dgram.createSocket('udp4');
  s.bind(0, '127.0.0.1');
  await once(s, 'listening');
  const p = s.address().port;
  s.close();
  return p;
}

/** Runs `ztroot start`, watching its JSON log lines. */
function startRoot(args: string[]) {
  const child: ChildProcessWithoutNullStreams = spawn(process.execPath, [CLI, 'start', ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
  const w = watchJsonLines(child, 'ztroot start');
  return { child, lines: w.lines, stderr: w.stderr, waitFor: (pred: (l: JsonLine) => boolean, ms = 10000) => w.waitFor(pred, ms, 'a log line') };
}

test('first start makes the state (0600 secret, planet listing the root), reloads the planet on change and on SIGHUP, stops on SIGTERM', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ztroot-start-'));
  const state = join(dir, 'state');
  const epPort = await freeUdpPort();
  const r = startRoot(['--state-dir', state, '--port', '0', '--bind4', '127.0.0.1', '--bind6', 'none', '--endpoint', `192.0.0.1/${epPort}`, '--http', '127.0.0.1:0', '--metrics-token', 'tok']);
  t.after(() => r.child.kill('SIGKILL'));
  const started = await r.waitFor((l) => l.msg === 'root started');
  const httpAt = (await r.waitFor((l) => l.msg === 'HTTP API, /metrics and the live dashboard listening')).http as string;
  const ready = await fetch(`http://${httpAt}/readyz`);
  assert.equal(ready.status, 200);
  // No fleet: no probe, and /readyz says why in its details without being unready.
  assert.match(((await ready.json()) as { details?: { probe?: string } }).details?.probe ?? '', /no fleet is configured \(--fleet-redis\)/);
  assert.deepEqual(await (await fetch(`http://${httpAt}/api/probe`, { headers: { authorization: 'Bearer tok' } })).json(), {
    enabled: false,
    state: 'off',
    reason: "no fleet is configured (--fleet-redis): probes find the other roots' probes through the fleet's heartbeats",
    targets: [],
  });
  assert.equal((await fetch(`http://${httpAt}/metrics`)).status, 401, 'the token is enforced');
  const metrics = await (await fetch(`http://${httpAt}/metrics`, { headers: { authorization: 'Bearer tok' } })).text();
  assert.match(metrics, /^ztroot_planet_info\{id="[0-9a-f]{16}",timestamp="\d+",sha256="[0-9a-f]{64}"\} 1$/m);
  assert.ok(Array.isArray(started.ports) && (started.ports as number[]).includes(epPort), 'also serves the port the planet lists');

  assert.equal(statSync(join(state, 'identity.secret')).mode & 0o777, 0o600);
  // The state directory is also mkplanet's: its key, its history, and the planet's spec.
  assert.equal(statSync(join(state, 'update-key.c25519')).mode & 0o777, 0o600);
  assert.equal(readdirSync(join(state, 'history')).length, 1);
  assert.match(readFileSync(join(state, 'planet.yaml'), 'utf8'), /identityFile: identity\.public\n\s+endpoints: \["192\.0\.0\.1\/\d+"\]/);
  const id = Identity.fromString(readFileSync(join(state, 'identity.secret'), 'utf8').trim());
  assert.ok(id.locallyValidate());
  const planetPath = join(state, 'planet');
  const planet = parseWorld(new Uint8Array(readFileSync(planetPath)));
  assert.equal(planet.roots.length, 1);
  assert.ok(planet.roots[0]!.identity.equals(id));
  assert.deepEqual(planet.roots[0]!.stableEndpoints, [{ family: 4, ip: '192.0.0.1', port: epPort }]);
  assert.match(r.stderr(), /Install it on each client/);
  assert.equal(started.planetSha256?.toString().length, 64);

  // A newer planet signed with the update key: picked up when the file changes...
  const key = readSigningKeyFile(join(state, 'update-key.c25519'));
  const v2 = signWorld({ ...planet, timestamp: planet.timestamp + 1000 }, key);
  writeFileSync(planetPath, serializeWorld(v2));
  const changed = await r.waitFor((l) => l.msg === 'planet reloaded' && l.why === 'file changed', 15000);
  assert.equal(changed.planetTimestamp, v2.timestamp);
  assert.equal(changed.acceptedByClients, true);
  // ...and on SIGHUP; a broken file is refused and the previous planet kept.
  writeFileSync(planetPath, new Uint8Array([1, 2, 3]));
  r.child.kill('SIGHUP');
  await r.waitFor((l) => String(l.msg).startsWith('planet reload failed') && l.why === 'SIGHUP');

  r.child.kill('SIGTERM');
  const [code] = (await once(r.child, 'exit')) as [number];
  assert.equal(code, 0);
  assert.ok(r.lines.some((l) => l.msg === 'stopped'));
  // Second start reuses the identity and the planet file as it is now.
  assert.ok(existsSync(join(state, 'identity.public')));
});

test('a fleet root runs its probe under its own identity; one with no peer to probe yet says why in /readyz and stays ready', { skip: redisUnavailableReason() ?? false }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ztroot-start-probe-'));
  const state = join(dir, 'state');
  const redis = await RedisServer.start();
  t.after(() => redis.stop());
  const epPort = await freeUdpPort();
  const r = startRoot(['--state-dir', state, '--port', '0', '--bind4', '127.0.0.1', '--bind6', 'none', '--endpoint', `192.0.0.1/${epPort}`, '--http', '127.0.0.1:0', '--fleet-redis', redis.url, '--probe-interval-ms', '500']);
  t.after(() => r.child.kill('SIGKILL'));
  const httpAt = (await r.waitFor((l) => l.msg === 'HTTP API, /metrics and the live dashboard listening')).http as string;
  const started = await r.waitFor((l) => l.msg === 'probe started');
  const root = Identity.fromString(readFileSync(join(state, 'identity.secret'), 'utf8').trim());
  const probe = Identity.fromString(readFileSync(join(state, 'probe', 'identity.secret'), 'utf8').trim());
  assert.notEqual(probe.address, root.address, 'the probe has its own identity');
  assert.equal(started.probe, probe.address.toString(16).padStart(10, '0'));
  assert.match(String(started.network), /^ff([0-9a-f]{4})([0-9a-f]{4})000000$/);
  // The planet's endpoint is not reachable here, and there is no other root: the probe waits, the root is ready.
  let body: { ready: boolean; details?: { probe?: string } } = { ready: false };
  for (let i = 0; i < 20 && body.details?.probe === undefined; i++) {
    const ready = await fetch(`http://${httpAt}/readyz`);
    assert.equal(ready.status, 200, 'a probe that cannot run never makes the root unready');
    body = (await ready.json()) as typeof body;
    await new Promise((res) => setTimeout(res, 100));
  }
  assert.match(body.details?.probe ?? '', /has not reached a root yet|no other root of the fleet announces a probe leaf/);
  const api = (await (await fetch(`http://${httpAt}/api/probe`)).json()) as { enabled: boolean; state: string; reason: string; self: { probe: string; network: string }; targets: unknown[] };
  assert.equal(api.enabled, true);
  assert.ok(['starting', 'waiting'].includes(api.state), api.state);
  assert.equal(api.reason, body.details?.probe);
  assert.equal(api.self.probe, started.probe);
  assert.deepEqual(api.targets, []);
  const metrics = await (await fetch(`http://${httpAt}/metrics`)).text();
  assert.match(metrics, new RegExp(`^ztroot_probe_state\\{state="${api.state}"\\} 1$`, 'm'));
  r.child.kill('SIGTERM');
  const [code] = (await once(r.child, 'exit')) as [number];
  assert.equal(code, 0, 'the probe stops with the root');
});

test('a probe that cannot start (its port taken) says why in /api/probe and /readyz; the root serves and stays ready', { skip: redisUnavailableReason() ?? false }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ztroot-start-probe-busy-'));
  const redis = await RedisServer.start();
  t.after(() => redis.stop());
  const busy = dgram.createSocket('udp4');
  busy.bind(0);
  await once(busy, 'listening');
  t.after(() => busy.close());
  const port = busy.address().port;
  const epPort = await freeUdpPort();
  const r = startRoot(['--state-dir', join(dir, 'state'), '--port', '0', '--bind4', '127.0.0.1', '--bind6', 'none', '--endpoint', `192.0.0.1/${epPort}`, '--http', '127.0.0.1:0', '--fleet-redis', redis.url, '--probe-port', String(port)]);
  t.after(() => r.child.kill('SIGKILL'));
  const httpAt = (await r.waitFor((l) => l.msg === 'HTTP API, /metrics and the live dashboard listening')).http as string;
  const warned = await r.waitFor((l) => l.msg === 'probe not running (the root serves as usual)');
  assert.match(String(warned.reason), new RegExp(`the probe leaf cannot start: .*port ${port}`));
  const api = (await (await fetch(`http://${httpAt}/api/probe`)).json()) as { state: string; reason: string };
  assert.equal(api.state, 'failed');
  assert.equal(api.reason, warned.reason);
  const ready = await fetch(`http://${httpAt}/readyz`);
  assert.equal(ready.status, 200);
  assert.deepEqual(await ready.json(), { ready: true, problems: [], details: { probe: warned.reason } });
  assert.ok(r.lines.some((l) => l.msg === 'root started'), 'the root serves');
});

test('--print-config shows the effective values and their sources; bad flags exit 2 (usage) naming the value', async () => {
  const p = spawn(process.execPath, [CLI, 'start', '--print-config', '--port', '4242'], { env: { ...process.env, ZTROOT_MAX_HOPS: '2' } });
  let out = '';
  p.stdout.on('data', (d: Buffer) => (out += d.toString()));
  const [code] = (await once(p, 'exit')) as [number];
  assert.equal(code, 0);
  assert.match(out, /^port\s+4242\s+\(flag --port\)$/m);
  assert.match(out, /^maxHops\s+2\s+\(env ZTROOT_MAX_HOPS\)$/m);
  assert.match(out, /^httpListen\s+\{"host":"127\.0\.0\.1","port":9980\}\s+\(default\)$/m);

  const bad = spawn(process.execPath, [CLI, 'start', '--max-hops', '12']);
  let err = '';
  bad.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const [badCode] = (await once(bad, 'exit')) as [number];
  assert.equal(badCode, 2);
  assert.match(err, /maxHops = "12": must be 1\.\.7/);
});

test('--tcp-relay with a certificate: one port answers HTTPS (the API behind the token) and ZeroTier tunnels, both in the metrics', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ztroot-start-'));
  const made = spawnSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1', '-subj', '/CN=localhost', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem')], { stdio: 'ignore' });
  if (made.status !== 0) return t.skip('skipped: openssl is not installed (needed to make a test certificate)');
  const epPort = await freeUdpPort();
  const base = ['--state-dir', join(dir, 'state'), '--port', '0', '--bind4', '127.0.0.1', '--bind6', 'none', '--endpoint', `192.0.0.1/${epPort}`, '--http', 'none'];
  const r = startRoot([...base, '--tcp-relay', '127.0.0.1:0', '--tls-cert', join(dir, 'cert.pem'), '--tls-key', join(dir, 'key.pem'), '--metrics-token', 'tok']);
  t.after(() => r.child.kill('SIGKILL'));
  const port = (await r.waitFor((l) => l.msg === 'TCP relay listening')).port as number;
  await r.waitFor((l) => l.msg === 'root started');
  const ca = readFileSync(join(dir, 'cert.pem'));
  const get = (path: string, headers: Record<string, string> = {}) =>
    new Promise<{ status: number; body: string }>((resolve, reject) => {
      https
        .get({ host: '127.0.0.1', port, path, ca, servername: 'localhost', agent: false, headers }, (res) => {
          let body = '';
          res.on('data', (c: Buffer) => (body += c.toString()));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        })
        .on('error', reject);
    });
  assert.equal((await get('/healthz')).status, 200);
  assert.equal((await get('/metrics')).status, 401, 'the token guards the API on the public port');
  const tunnel = net.connect({ host: '127.0.0.1', port });
  t.after(() => tunnel.destroy());
  await once(tunnel, 'connect');
  tunnel.write(encodeTunnelHello({ major: 1, minor: 14, revision: 1 }));
  let metrics = '';
  for (let i = 0; i < 50 && !/^ztroot_tcp_connections\{kind="tunnel"\} 1$/m.test(metrics); i++) {
    metrics = (await get('/metrics', { authorization: 'Bearer tok' })).body;
    await new Promise((res) => setTimeout(res, 50));
  }
  assert.match(metrics, /^ztroot_tcp_connections\{kind="tunnel"\} 1$/m);
  assert.match(metrics, /^ztroot_tcp_connections_total\{result="tls"\} [1-9]\d*$/m);
  r.child.kill('SIGTERM');
  assert.equal(((await once(r.child, 'exit')) as [number])[0], 0);

  // A missing key file is an error naming it, before anything listens.
  const bad = spawnSync(process.execPath, [CLI, 'start', ...base, '--tcp-relay', '127.0.0.1:0', '--tls-cert', join(dir, 'cert.pem'), '--tls-key', join(dir, 'nope.pem')], { encoding: 'utf8' });
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, /TLS key .*nope\.pem/);
});
