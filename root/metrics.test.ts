/**
 * Metrics conventions on real processes: a started root's and a started relay's /metrics pass
 * `promtool check metrics`, and every counter with known label values (drop reasons, results, directions,
 * operations) is there at 0 before any traffic, so `rate()` and alerts work from the first scrape.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT } from '../test/vectors.js';
import { watchJsonLines } from '../test/json-lines.js';
import dgram from 'node:dgram';
import { StandaloneRelay } from '../relay/standalone-relay.js';
import { addRelayMetrics, createRootMetricsRegistry, KNOWN_DROP_REASONS, KNOWN_RELAY_RESULTS, KNOWN_ROOT_COUNTERS } from './metrics.js';

const CLI = join(REPO_ROOT, 'dist', 'tools', 'cli.js');
const promtool = spawnSync('promtool', ['--version']).status === 0 ? null : 'skipped: promtool is missing (Debian package prometheus)';

/** Starts `ztroot <args>`, waits for the log line naming its HTTP address, returns the /metrics text. */
async function scrapeProcess(t: { after(fn: () => void): void }, args: string[], listening: string): Promise<string> {
  const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  t.after(() => child.kill('SIGKILL'));
  const w = watchJsonLines(child, `ztroot ${args[0]}`);
  const at = (await w.waitFor((l) => l.msg === listening, 15_000, listening)).http as string;
  const res = await fetch(`http://${at}/metrics`);
  assert.equal(res.status, 200);
  return res.text();
}

function promtoolCheck(text: string): { status: number | null; out: string } {
  const r = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

/** Series → value from Prometheus text. */
function series(text: string): Map<string, number> {
  const m = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const sp = line.lastIndexOf(' ');
    m.set(line.slice(0, sp), Number(line.slice(sp + 1)));
  }
  return m;
}

test('a started root: /metrics passes promtool check metrics, and known label values are at 0 before any traffic', { skip: promtool ?? false, timeout: 30_000 }, async (t) => {
  const state = mkdtempSync(join(tmpdir(), 'ztroot-metrics-'));
  const text = await scrapeProcess(
    t,
    ['start', '--state-dir', state, '--port', '0', '--bind4', '127.0.0.1', '--bind6', 'none', '--endpoint', '192.0.0.1/9993', '--serve-planet-ports', 'false', '--http', '127.0.0.1:0', '--tcp-relay', '127.0.0.1:0'],
    'HTTP API, /metrics and the live dashboard listening',
  );
  const check = promtoolCheck(text);
  assert.equal(check.status, 0, `promtool check metrics:\n${check.out}`);
  assert.equal(check.out.trim(), '', 'no lint warnings either');

  const m = series(text);
  const zero = (s: string) => assert.equal(m.get(s), 0, `${s} should be exported at 0 before traffic`);
  for (const reason of KNOWN_DROP_REASONS) zero(`ztroot_packets_dropped_total{reason="${reason}"}`);
  for (const verb of ['HELLO', 'WHOIS', 'ECHO', 'MULTICAST_LIKE', 'MULTICAST_GATHER']) zero(`ztroot_packets_total{direction="in",verb="${verb}"}`);
  for (const verb of ['OK', 'ERROR', 'RENDEZVOUS']) zero(`ztroot_packets_total{direction="out",verb="${verb}"}`);
  for (const r of ['answered', 'miss']) zero(`ztroot_whois_total{result="${r}"}`);
  for (const r of ['answered', 'empty']) zero(`ztroot_multicast_gathers_total{result="${r}"}`);
  for (const ty of ['planet', 'moon']) zero(`ztroot_world_updates_sent_total{type="${ty}"}`);
  for (const op of ['publish', 'resync', 'whois_lookup', 'location_lookup']) zero(`ztroot_fleet_operations_total{op="${op}"}`);
  zero('ztroot_fleet_errors_total{op="write"}');
  for (const r of ['accepted', 'tunnel', 'tls', 'refused_total_limit', 'refused_ip_limit', 'refused_prefix_limit', 'accept_error', 'tls_unconfigured', 'bad_protocol']) zero(`ztroot_tcp_connections_total{result="${r}"}`);
  for (const d of ['in', 'out']) zero(`ztroot_tcp_datagrams_total{direction="${d}"}`);
  zero('ztroot_tcp_closes_total{reason="evicted"}');
  for (const r of ['valid', 'invalid', 'cache_hit', 'queue_full', 'failed']) zero(`ztroot_identity_validations_total{result="${r}"}`);
  for (const r of ['valid', 'invalid', 'error']) zero(`ztroot_identity_validation_duration_seconds_count{result="${r}"}`);
  // What replaced the default gauges promtool rejects is still there.
  assert.ok([...m.keys()].some((k) => k.startsWith('ztroot_nodejs_active_handles{')), 'per-type active handles are kept');
  assert.ok(![...m.keys()].some((k) => /^ztroot_nodejs_active_\w+_total/.test(k)), 'no gauge named *_total');
});

test('a started relay: /metrics passes promtool check metrics, its results at 0 before any traffic', { skip: promtool ?? false, timeout: 30_000 }, async (t) => {
  const text = await scrapeProcess(t, ['relay', '--listen', '127.0.0.1:0', '--bind6', 'none', '--http', '127.0.0.1:0', '--open'], 'relay metrics listening');
  const check = promtoolCheck(text);
  assert.equal(check.status, 0, `promtool check metrics:\n${check.out}`);
  assert.equal(check.out.trim(), '');
  const m = series(text);
  for (const r of KNOWN_RELAY_RESULTS) assert.equal(m.get(`ztroot_relay_datagrams_total{result="${r}"}`), 0, r);
  assert.equal(m.get('ztroot_tcp_connections_total{result="refused_ip_limit"}'), 0);
});

/** The TypeScript sources (not tests) under `dir`. */
function sources(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(join(REPO_ROOT, dir))) {
    const p = join(REPO_ROOT, dir, name);
    if (statSync(p).isDirectory()) continue;
    if (name.endsWith('.ts') && !name.endsWith('.test.ts')) out.push(p);
  }
  return out;
}

test('every counter name the root and the relay count literally is known to the metrics (so it starts at 0)', () => {
  const known = new Set(KNOWN_ROOT_COUNTERS);
  const relayKnown = new Set(KNOWN_RELAY_RESULTS.map((r) => `relay_${r}`));
  const missing: string[] = [];
  for (const file of [...sources('root'), ...sources('relay'), ...sources('fleet')]) {
    const text = readFileSync(file, 'utf8');
    // count('name') and the relay's drop('reason') (counted as drop_<reason>).
    for (const [, name] of text.matchAll(/\bcount\(\s*'([a-z][A-Za-z0-9_]*)'/g)) {
      if (!known.has(name!) && !relayKnown.has(name!)) missing.push(`${file.slice(REPO_ROOT.length + 1)}: ${name}`);
    }
    for (const [, reason] of text.matchAll(/\bdrop\(\s*'([a-z_]+)'\s*\)/g)) {
      if (!known.has(`drop_${reason}`)) missing.push(`${file.slice(REPO_ROOT.length + 1)}: drop_${reason}`);
    }
  }
  assert.deepEqual(missing, [], 'add these to KNOWN_DROP_REASONS / KNOWN_OTHER_COUNTERS / KNOWN_RELAY_RESULTS in root/metrics.ts');
});

test("the standalone relay's datagram results are those of this scrape, not the previous one", async () => {
  const relay = new StandaloneRelay({ listen: { host: '127.0.0.1', port: 0 }, bind4: '127.0.0.1', bind6: null, destinations: 'any' });
  await relay.start();
  try {
    const registry = createRootMetricsRegistry({ processMetrics: false });
    addRelayMetrics(registry, relay);
    const u = dgram.createSocket('udp4');
    // A datagram for a ZeroTier address no tunnel speaks for: relay_drop_no_tunnel.
    u.send(new Uint8Array(32).fill(7), relay.udpPort(4), '127.0.0.1');
    const deadline = Date.now() + 3000;
    while ((relay.counters.get('relay_drop_no_tunnel') ?? 0) < 1 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    u.close();
    assert.equal(relay.counters.get('relay_drop_no_tunnel'), 1);
    assert.equal(series(await registry.metrics()).get('ztroot_relay_datagrams_total{result="drop_no_tunnel"}'), 1, 'the first scrape after the drop shows it');
  } finally {
    await relay.stop();
  }
});
