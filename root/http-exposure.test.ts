/**
 * The HTTP API against DNS rebinding and accidental exposure, with real HTTP requests and a real process:
 *  - a rebinding page's requests carry its own name in Host: refused on a loopback listener (421), while
 *    localhost and loopback literals are answered; health and readiness answer whatever the Host;
 *  - a listener beyond loopback answers IP literals, localhost and the names the operator lists, no others;
 *  - the live dashboard's WebSocket checks Host and Origin (cross-site WebSocket hijacking);
 *  - `ztroot start` refuses to serve the API beyond loopback without a token: one line naming the key, exit 2 (a configuration mistake, like any other).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WebSocket } from 'ws';
import { Identity } from '../vl1/identity.js';
import { c25519Generate } from '../vl1/c25519.js';
import { signWorld, serializeWorld } from '../planet/world.js';
import { RootServer } from './root-server.js';
import { IdentityValidator } from './identity-validator.js';
import { createRootMetrics } from './metrics.js';
import { createHttpApiHandler, listenHttpApi } from './http-api.js';
import { attachLiveDashboard } from './live-dashboard.js';
import { HostPolicy, hostOfHeader, isLoopbackHost } from './host-check.js';
import { loadConfig } from './config.js';
import { readVectorJson, REPO_ROOT } from '../test/vectors.js';
import { RawClient } from '../test/raw-vl1-client.js';

const ids = readVectorJson<{ identities: { secret_string: string }[] }>('identities.json').identities.map((i) => Identity.fromString(i.secret_string));
const [rootId, aId] = ids as [Identity, Identity];
const key = c25519Generate();
const world = signWorld({ type: 'planet', id: 0x5eed0888n, timestamp: 1, updatesMustBeSignedBy: key.publicKey, roots: [{ identity: rootId.publicOnly(), stableEndpoints: [{ family: 4, ip: '192.0.0.1', port: 9993 }] }] }, key);

let validator: IdentityValidator;
let root: RootServer;
const servers: http.Server[] = [];
const stops: Array<() => void> = [];

before(async () => {
  validator = new IdentityValidator({ workers: 1 });
  root = new RootServer({ port: 0, bind4: '127.0.0.1', bind6: null }, { identity: rootId, planet: serializeWorld(world), validator });
  await root.start();
  // One peer, so /api/peers has something worth stealing.
  const a = await new RawClient(aId, { root: rootId, port: () => root.port, planetId: world.id, planetTimestamp: world.timestamp }).open();
  a.send(a.hello());
  assert.ok(await a.next(5000), 'the root answered the HELLO');
  a.close();
});
after(async () => {
  for (const s of stops) s();
  for (const s of servers) await new Promise((r) => s.close(r));
  await root.stop();
  await validator.close();
});

/** An API server as `ztroot start` makes it (token empty: the default root). */
async function api(host: string, opts: { token?: string; hosts?: HostPolicy } = {}): Promise<number> {
  const handler = createHttpApiHandler(root, createRootMetrics(root, validator, { processMetrics: false }), { token: opts.token ?? '', version: 'test' }, () => []);
  const s = await listenHttpApi(handler, host, 0, opts.hosts !== undefined ? { hosts: opts.hosts } : {});
  servers.push(s);
  stops.push(attachLiveDashboard(s, root, { token: opts.token ?? '', intervalMs: 100, ...(opts.hosts !== undefined ? { hosts: opts.hosts } : {}) }));
  return (s.address() as { port: number }).port;
}

/** GET path from 127.0.0.1:port with the given Host header (what a browser sends). */
function get(port: number, path: string, host: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path, headers: { host, ...headers } }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode!, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

test('a loopback API refuses a DNS-rebinding Host and answers localhost and loopback literals', async () => {
  const port = await api('127.0.0.1');
  const stolen = await get(port, '/api/peers', `rebind.attacker.example:${port}`);
  assert.equal(stolen.status, 421, `the rebinding page read: ${stolen.body.slice(0, 200)}`);
  assert.doesNotMatch(stolen.body, new RegExp(aId.toString(false).slice(0, 10)), 'no peer in the answer');
  for (const path of ['/metrics', '/api/status', '/', '/api/planet']) assert.equal((await get(port, path, `rebind.attacker.example:${port}`)).status, 421, path);
  for (const host of [`127.0.0.1:${port}`, `localhost:${port}`, `LOCALHOST:${port}`, `[::1]:${port}`, 'localhost', '127.0.0.1:1']) {
    const ok = await get(port, '/api/peers', host);
    assert.equal(ok.status, 200, host);
    assert.match(ok.body, new RegExp(aId.toString(false).slice(0, 10)), host);
  }
  for (const host of [`192.0.2.7:${port}`, `127.0.0.1.attacker.example:${port}`, 'localhost.:bad']) assert.equal((await get(port, '/api/status', host)).status, 421, JSON.stringify(host));
  // Orchestrators probe by any name; health tells nothing.
  assert.equal((await get(port, '/healthz', `rebind.attacker.example:${port}`)).status, 200);
  assert.equal((await get(port, '/readyz', 'pod.cluster.local')).status, 200);
});

test('an API beyond loopback answers IP literals, localhost and the listed names only', async () => {
  const port = await api('0.0.0.0', { token: 't', hosts: new HostPolicy('0.0.0.0', ['Metrics.Example.NET']) });
  const auth = { authorization: 'Bearer t' };
  for (const host of [`192.0.2.7:${port}`, `[2001:db8::7]:${port}`, `127.0.0.1:${port}`, `localhost:${port}`, `metrics.example.net:${port}`, 'metrics.example.net.']) {
    assert.equal((await get(port, '/api/status', host, auth)).status, 200, host);
  }
  assert.equal((await get(port, '/api/status', `rebind.attacker.example:${port}`, auth)).status, 421);
  assert.equal((await get(port, '/api/status', `example.net:${port}`, auth)).status, 421);
});

/** Opens /live with Host and Origin; resolves with the HTTP status of the upgrade (101) or its refusal. */
function upgrade(port: number, host: string, origin?: string): Promise<{ status: number; snapshot?: unknown }> {
  return new Promise((resolve) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/live`, { headers: { host }, ...(origin !== undefined ? { origin } : {}) });
    ws.on('message', (d) => {
      resolve({ status: 101, snapshot: JSON.parse(String(d)) });
      ws.close();
    });
    ws.on('unexpected-response', (_req, res) => {
      resolve({ status: res.statusCode ?? 0 });
      ws.terminate();
    });
    ws.on('error', () => resolve({ status: 0 }));
  });
}

test("the live dashboard's WebSocket checks Host and Origin", async () => {
  const port = await api('127.0.0.1');
  assert.equal((await upgrade(port, `rebind.attacker.example:${port}`, `http://rebind.attacker.example:${port}`)).status, 403, 'rebinding');
  assert.equal((await upgrade(port, `127.0.0.1:${port}`, 'http://attacker.example')).status, 403, 'cross-site WebSocket from another page');
  assert.equal((await upgrade(port, `127.0.0.1:${port}`, 'null')).status, 403, 'sandboxed frame');
  assert.equal((await upgrade(port, `127.0.0.1:${port}`, `http://127.0.0.1:${port + 1}`)).status, 403, 'another port is another origin');
  const same = await upgrade(port, `127.0.0.1:${port}`, `http://127.0.0.1:${port}`);
  assert.equal(same.status, 101, 'the page served by the API itself');
  assert.equal((same.snapshot as { peers: number }).peers, root.peers.size);
  assert.equal((await upgrade(port, `localhost:${port}`)).status, 101, 'a non-browser client sends no Origin');
});

test('Host parsing and loopback detection', () => {
  assert.equal(hostOfHeader('Example.COM.:80'), 'example.com');
  assert.equal(hostOfHeader('[::1]:9980'), '::1');
  assert.equal(hostOfHeader('[::1'), null);
  assert.equal(hostOfHeader('::1'), null, 'IPv6 in Host must be bracketed');
  assert.equal(hostOfHeader('a:b'), null);
  for (const h of ['127.0.0.1', '127.9.9.9', '::1', '[::1]', '0:0:0:0:0:0:0:1', '::ffff:127.0.0.1', 'localhost']) assert.ok(isLoopbackHost(h), h);
  for (const h of ['0.0.0.0', '::', '192.0.2.1', 'example.com', '::2']) assert.ok(!isLoopbackHost(h), h);
});

const CLI = join(REPO_ROOT, 'dist', 'tools', 'cli.js');

test('`ztroot start` refuses an API beyond loopback without a token: one line naming the key and the fix, exit 2 within 2 s', { timeout: 20_000 }, async () => {
  for (const http0 of ['0.0.0.0:0', '[::]:0']) {
    const state = join(mkdtempSync(join(tmpdir(), 'ztroot-exposure-')), 'state');
    const t0 = Date.now();
    const child = spawn(process.execPath, [CLI, 'start', '--state-dir', state, '--port', '0', '--bind4', '127.0.0.1', '--bind6', 'none', '--http', http0], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const killer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    const [code] = (await once(child, 'exit')) as [number | null];
    clearTimeout(killer);
    const ms = Date.now() - t0;
    assert.equal(code, 2, `exit code (${http0}); output:\n${out}`);
    assert.ok(ms < 2000, `exited after ${ms} ms`);
    const lines = out.trim().split('\n');
    assert.equal(lines.length, 1, `one line:\n${out}`);
    assert.match(lines[0]!, /metricsToken/);
    assert.match(lines[0]!, /--metrics-token|--http 127\.0\.0\.1/);
    assert.ok(!existsSync(state), 'nothing was created before the refusal');
  }
  // With a token, or on loopback, it starts.
  const state = join(mkdtempSync(join(tmpdir(), 'ztroot-exposure-')), 'state');
  const child = spawn(process.execPath, [CLI, 'start', '--state-dir', state, '--port', '0', '--bind4', '127.0.0.1', '--bind6', 'none', '--endpoint', '192.0.0.1/9993', '--serve-planet-ports', 'false', '--http', '0.0.0.0:0', '--metrics-token', 'tok'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  child.stdout.on('data', (d: Buffer) => (log += d.toString()));
  const deadline = Date.now() + 15_000;
  while (!log.includes('"msg":"root started"') && Date.now() < deadline && child.exitCode === null) await new Promise((r) => setTimeout(r, 50));
  child.kill('SIGTERM');
  await once(child, 'exit');
  assert.match(log, /"msg":"root started"/);
});

test('httpAllowedHosts: repeatable flag, comma-separated env, YAML list; a port or scheme is refused by name', () => {
  assert.deepEqual(loadConfig(['--http-allowed-host', 'Root1.example.com', '--http-allowed-host', 'metrics.internal'], {}).config.httpAllowedHosts, ['root1.example.com', 'metrics.internal']);
  assert.deepEqual(loadConfig([], { ZTROOT_HTTP_ALLOWED_HOSTS: 'a.example, b.example' }).config.httpAllowedHosts, ['a.example', 'b.example']);
  assert.deepEqual(loadConfig([], {}).config.httpAllowedHosts, []);
  assert.throws(() => loadConfig(['--http-allowed-host', 'root1.example.com:9980'], {}), /httpAllowedHosts = "root1\.example\.com:9980": expected a host name without port or scheme/);
  assert.throws(() => loadConfig(['--http-allowed-host', 'http://x'], {}), /expected a host name/);
});
