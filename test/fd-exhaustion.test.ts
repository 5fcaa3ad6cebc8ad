/**
 * Descriptor exhaustion, as an attacker does it: `ztroot start --tcp-relay` as a process with a low
 * descriptor limit (1024, set with `ulimit -n` as an unprivileged operator could), and more idle tunnels
 * than fit, from several source addresses and prefixes (127.0.x.y: all of 127/8 is local on lo).
 *
 * Then, while the flood holds its connections: /healthz and /metrics answer, a new legitimate tunnel from a
 * quiet prefix gets its HELLO answered, the process is alive, the relay holds no more than its limit (derived
 * from the descriptor limit), and the connections turned away are counted by reason — per IP, per prefix,
 * the total limit — with evictions to make room for quieter prefixes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import net from 'node:net';
import http from 'node:http';
import dgram from 'node:dgram';
import { once } from 'node:events';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Identity } from '../vl1/identity.js';
import { encodeTunnelHello } from '../vl1/tcp-framing.js';
import { REPO_ROOT, readVectorJson } from './vectors.js';
import { watchJsonLines } from './json-lines.js';
import { RawClient } from './raw-vl1-client.js';
import { RawTunnelClient } from './raw-tunnel-client.js';
import { HTTP_MAX_CONNECTIONS, listenHttpApi } from '../root/http-api.js';

const CLI = join(REPO_ROOT, 'dist', 'tools', 'cli.js');
const NOFILE = 1024;

/** Opens `n` idle tunnels (connect + the 9-byte hello) from `localAddress`; returns those still open after a moment. */
async function flood(port: number, localAddress: string, n: number, held: net.Socket[]): Promise<void> {
  const opening: Promise<void>[] = [];
  for (let i = 0; i < n; i++) {
    opening.push(
      new Promise<void>((resolve) => {
        const s = net.connect({ host: '127.0.0.1', port, localAddress });
        s.on('error', () => resolve());
        s.on('close', () => resolve());
        s.once('connect', () => {
          s.write(encodeTunnelHello({ major: 1, minor: 14, revision: 1 }));
          held.push(s);
          resolve();
        });
      }),
    );
  }
  await Promise.all(opening);
}

/** GET on a new connection (no keep-alive reuse: each probe must get a descriptor of its own), with a deadline. */
function tryFetch(url: string, ms = 3000): Promise<{ status: number; body: string } | { error: string }> {
  return new Promise((resolve) => {
    const req = http.get(url, { agent: false, timeout: ms }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode!, body }));
      res.on('error', (e) => resolve({ error: e.message }));
    });
    req.on('timeout', () => req.destroy(new Error(`no answer in ${ms} ms`)));
    req.on('error', (e) => resolve({ error: e.message }));
  });
}

function metric(text: string, series: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? NaN : Number(line.slice(series.length + 1));
}

test(`a flood of idle tunnels cannot take the descriptors health, metrics and new tunnels need (ulimit -n ${NOFILE})`, { timeout: 90_000 }, async (t) => {
  const state = join(mkdtempSync(join(tmpdir(), 'ztroot-fd-')), 'state');
  const args = [CLI, 'start', '--state-dir', state, '--port', '0', '--bind4', '127.0.0.1', '--bind6', 'none', '--endpoint', '192.0.0.1/9993', '--serve-planet-ports', 'false'];
  args.push('--http', '127.0.0.1:0', '--tcp-relay', '127.0.0.1:0', '--validation-workers', '1');
  // A lower per-prefix limit than the default (1024, more than fits here) so that limit is met too; by env, which older builds ignore.
  const child = spawn('/bin/sh', ['-c', `ulimit -n ${NOFILE} && exec "$0" "$@"`, process.execPath, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ZTROOT_TCP_RELAY_MAX_PER_PREFIX: '300' },
  });
  const held: net.Socket[] = [];
  t.after(() => {
    for (const s of held) s.destroy();
    child.kill('SIGKILL');
  });
  const w = watchJsonLines(child, 'ztroot start');
  const relayPort = (await w.waitFor((l) => l.msg === 'TCP relay listening', 15_000, 'the TCP relay')).port as number;
  const httpAt = (await w.waitFor((l) => l.msg === 'HTTP API, /metrics and the live dashboard listening', 15_000, 'the HTTP API')).http as string;
  const started = await w.waitFor((l) => l.msg === 'root started', 15_000, 'root started');
  assert.equal(((await tryFetch(`http://${httpAt}/healthz`)) as { status: number }).status, 200, 'healthy before the flood');

  // The flood: 400 from four addresses of one /24, 300 from one address, 720 from twelve addresses in three /24s.
  const t0 = Date.now();
  for (let h = 1; h <= 4; h++) await flood(relayPort, `127.0.1.${h}`, 100, held);
  await flood(relayPort, '127.0.2.1', 300, held);
  for (const net3 of [3, 5, 6]) for (let h = 1; h <= 4; h++) await flood(relayPort, `127.0.${net3}.${h}`, 60, held);
  await new Promise((r) => setTimeout(r, 1500)); // let the root close what it refused or evicted
  const stillOpen = held.filter((s) => !s.destroyed && s.readyState === 'open').length;
  t.diagnostic(`flood: 1420 attempts in ${Date.now() - t0} ms, ${stillOpen} still open`);

  // While the flood holds its connections: health, metrics, a new legitimate tunnel.
  const health = await tryFetch(`http://${httpAt}/healthz`);
  const metrics = await tryFetch(`http://${httpAt}/metrics`);
  let helloAnswered = false;
  let legitError = '';
  try {
    const rootId = Identity.fromString(readFileSync(join(state, 'identity.public'), 'utf8').trim());
    const a = Identity.fromString(readVectorJson<{ identities: { secret_string: string }[] }>('identities.json').identities[1]!.secret_string);
    const planet = { root: rootId, port: () => 9993, planetId: BigInt(`0x${started.planet as string}`), planetTimestamp: started.planetTimestamp as number };
    const legit = await new RawTunnelClient('127.0.0.1', relayPort).open(undefined, '127.0.200.1');
    legit.send(new RawClient(a, planet).hello({ port: 9993 }), { family: 4, ip: '192.0.0.1', port: 9993 });
    helloAnswered = (await legit.next(5000)) !== null;
    legit.close();
  } catch (e) {
    legitError = (e as Error).message;
  }
  const alive = child.exitCode === null && child.signalCode === null;
  t.diagnostic(`healthz: ${JSON.stringify('status' in health ? health.status : health.error)}, metrics: ${JSON.stringify('status' in metrics ? metrics.status : metrics.error)}, legitimate tunnel answered: ${helloAnswered}${legitError && ` (${legitError})`}, root alive: ${alive}`);
  if ('body' in metrics) {
    const m = (s: string) => metric(metrics.body, s);
    t.diagnostic(
      `relay: ${m('ztroot_tcp_connections{kind="all"}')} open of limit ${m('ztroot_tcp_connections_limit')}; accepted ${m('ztroot_tcp_connections_total{result="accepted"}')}, ` +
        `refused: total_limit ${m('ztroot_tcp_connections_total{result="refused_total_limit"}')}, ip_limit ${m('ztroot_tcp_connections_total{result="refused_ip_limit"}')}, ` +
        `prefix_limit ${m('ztroot_tcp_connections_total{result="refused_prefix_limit"}')}, accept errors ${m('ztroot_tcp_connections_total{result="accept_error"}')}, evicted ${m('ztroot_tcp_closes_total{reason="evicted"}')}`,
    );
  }
  assert.ok(alive, `the root is alive; stderr:\n${w.stderr()}`);
  assert.equal('status' in health ? health.status : health.error, 200, '/healthz answers during the flood');
  assert.equal('status' in metrics ? metrics.status : metrics.error, 200, '/metrics answers during the flood');
  assert.ok(helloAnswered, `a new legitimate tunnel from a quiet prefix is answered ${legitError}`);

  const body = (metrics as { body: string }).body;
  const m = (s: string) => metric(body, s);
  const limit = m('ztroot_tcp_connections_limit');
  const budget = await w.waitFor((l) => l.msg === 'TCP relay connection limit', 1000, 'the connection limit line');
  assert.equal(budget.descriptorLimit, NOFILE, 'the limit was read from the process');
  assert.equal(budget.maxConnections, limit);
  assert.ok(limit > 500 && limit < NOFILE - 150, `the connection limit leaves a reserve: ${limit} of ${NOFILE}`);
  assert.ok(m('ztroot_tcp_connections{kind="all"}') <= limit, 'never more open than the limit');
  assert.ok(m('ztroot_tcp_connections_total{result="refused_total_limit"}') > 0, 'refused at the total limit, counted');
  assert.ok(m('ztroot_tcp_connections_total{result="refused_ip_limit"}') >= 44, 'refused at the per-IP limit, counted');
  assert.ok(m('ztroot_tcp_connections_total{result="refused_prefix_limit"}') > 0, 'refused at the per-prefix limit, counted');
  assert.ok(m('ztroot_tcp_closes_total{reason="evicted"}') > 0, 'room made for quieter prefixes, counted');
  assert.equal(m('ztroot_tcp_connections_total{result="accept_error"}'), 0, 'no accept() failed: the descriptors never ran out');
  child.kill('SIGTERM');
  await once(child, 'exit');
});

test(`the HTTP API holds at most ${HTTP_MAX_CONNECTIONS} connections: a flood of idle ones cannot take its descriptors`, async (t) => {
  const server = await listenHttpApi((_req, res) => res.end('ok\n'), '127.0.0.1', 0);
  const port = (server.address() as { port: number }).port;
  const socks: net.Socket[] = [];
  t.after(() => {
    for (const s of socks) s.destroy();
    server.close();
  });
  for (let i = 0; i < 200; i++) {
    const s = net.connect({ host: '127.0.0.1', port });
    s.on('error', () => undefined);
    socks.push(s);
  }
  await new Promise((r) => setTimeout(r, 500));
  const open = socks.filter((s) => !s.destroyed && s.readyState === 'open').length;
  const held = await new Promise<number>((resolve) => server.getConnections((_e, n) => resolve(n)));
  t.diagnostic(`200 idle connections: the server holds ${held}, ${open} still open on the client side`);
  assert.ok(held <= HTTP_MAX_CONNECTIONS, `the server holds ${held}`);
  assert.ok(open <= HTTP_MAX_CONNECTIONS, `${open} still open`);
});

test('`ztroot relay` under the same flood: /healthz and /metrics answer, a new tunnel still relays, the excess is refused and counted', { timeout: 60_000 }, async (t) => {
  const nofile = 512;
  const child = spawn('/bin/sh', ['-c', `ulimit -n ${nofile} && exec "$0" "$@"`, process.execPath, CLI, 'relay', '--listen', '127.0.0.1:0', '--bind6', 'none', '--http', '127.0.0.1:0', '--open'], { stdio: ['ignore', 'pipe', 'pipe'] });
  const held: net.Socket[] = [];
  const udp = dgram.createSocket('udp4');
  t.after(() => {
    for (const s of held) s.destroy();
    udp.close();
    child.kill('SIGKILL');
  });
  const w = watchJsonLines(child, 'ztroot relay');
  const listen = (await w.waitFor((l) => l.msg === 'relay listening', 15_000, 'the relay')).listen as string;
  const relayPort = Number(listen.slice(listen.lastIndexOf(':') + 1));
  const httpAt = (await w.waitFor((l) => l.msg === 'relay metrics listening', 15_000, 'its metrics')).http as string;
  for (const net3 of [1, 2, 3]) for (let h = 1; h <= 4; h++) await flood(relayPort, `127.0.${net3}.${h}`, 50, held);
  await new Promise((r) => setTimeout(r, 1000));

  const health = await tryFetch(`http://${httpAt}/healthz`);
  const metrics = await tryFetch(`http://${httpAt}/metrics`);
  // A new tunnel from a quiet prefix relays a datagram to a UDP socket of ours.
  udp.bind(0, '127.0.0.1');
  await once(udp, 'listening');
  const got = once(udp, 'message');
  const legit = await new RawTunnelClient('127.0.0.1', relayPort).open(undefined, '127.0.200.1');
  const datagram = new Uint8Array(40).fill(0x42);
  legit.send(datagram, { family: 4, ip: '127.0.0.1', port: udp.address().port });
  const relayed = await Promise.race([got.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), 3000))]);
  legit.close();
  const body = 'body' in metrics ? metrics.body : '';
  const m = (s: string) => metric(body, s);
  t.diagnostic(
    `healthz: ${'status' in health ? health.status : health.error}, metrics: ${'status' in metrics ? metrics.status : metrics.error}, new tunnel relayed: ${relayed}; ` +
      `${m('ztroot_tcp_connections{kind="all"}')} open of limit ${m('ztroot_tcp_connections_limit')}, refused total_limit ${m('ztroot_tcp_connections_total{result="refused_total_limit"}')}, accept errors ${m('ztroot_tcp_connections_total{result="accept_error"}')}`,
  );
  assert.equal(child.exitCode, null, 'the relay is alive');
  assert.equal('status' in health ? health.status : health.error, 200);
  assert.equal('status' in metrics ? metrics.status : metrics.error, 200);
  assert.ok(relayed, 'a new tunnel from a quiet prefix relays');
  assert.ok(m('ztroot_tcp_connections_limit') < nofile - 150);
  assert.ok(m('ztroot_tcp_connections_total{result="refused_total_limit"}') > 0);
  assert.equal(m('ztroot_tcp_connections_total{result="accept_error"}'), 0);
});
