/**
 * The Grafana dashboard and the Prometheus rules in dashboards/ are checked against the real thing:
 * the rules with `promtool check rules` (Debian's prometheus package, installed by the test command),
 * and every metric a panel or a rule names must appear in a scrape of a real root that handled traffic.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { parse as parseYaml } from 'yaml';
import { Identity } from '../vl1/identity.js';
import { c25519Generate } from '../vl1/c25519.js';
import { Verb } from '../vl1/constants.js';
import { sealPacket } from '../vl1/packet.js';
import { encodeWhois } from '../vl1/verbs/whois.js';
import { signWorld, serializeWorld } from '../planet/world.js';
import { RootServer } from '../root/root-server.js';
import { IdentityValidator } from '../root/identity-validator.js';
import { addRootMetrics, createRootMetricsRegistry, timeValidations } from '../root/metrics.js';
import { readVectorJson, REPO_ROOT } from './vectors.js';
import { MemoryPeerStore } from '../fleet/memory-store.js';
import { PeerStoreCache } from '../fleet/cached-store.js';
import { RawClient } from './raw-vl1-client.js';
import { addProbeMetrics } from '../tools/probe/probe-metrics.js';
import { ProbeEngine, type PathKind } from '../tools/probe/probe-engine.js';
import { probeNetworkId } from '../tools/probe/probe-wire.js';

const DASHBOARD = join(REPO_ROOT, 'dashboards', 'grafana', 'ztroot-fleet.json');
const RULES = join(REPO_ROOT, 'dashboards', 'prometheus', 'rules.yml');
const RULES_TESTS = join(REPO_ROOT, 'dashboards', 'prometheus', 'rules.test.yml');

/**
 * A probe whose every family has a sample: two engines wired in process, answered relayed, then direct, then
 * one request lost (the probe leaf itself is exercised by test/probe-fleet.test.ts).
 */
function probeWithHistory(registry: Parameters<typeof addProbeMetrics>[0]): void {
  const nwid = probeNetworkId(1n);
  const wire: { path: PathKind; up: boolean } = { path: 'relayed', up: true };
  const engines: ProbeEngine[] = [];
  const observe = addProbeMetrics(registry, () => ({ state: 'running', engine: engines[0]! }));
  for (const [self, other] of [[1, 2], [2, 1]] as const) {
    engines.push(new ProbeEngine({ intervalMs: 1000, timeoutMs: 0 }, { self, nwid, pathTo: () => wire.path, send: (f) => (wire.up && engines[other - 1]!.receive(f), true), ...(self === 1 ? { observe } : {}) }));
  }
  engines[0]!.setTargets([{ rootId: 'two', probe: 2 }]);
  engines[0]!.round();
  wire.path = 'direct';
  engines[0]!.round();
  wire.up = false;
  engines[0]!.round();
  engines[0]!.expire(Date.now() + 1);
}

/** Metric names in a PromQL expression (ours start with ztroot_; `up` is Prometheus' own). */
function metricNames(expr: string): string[] {
  return [...expr.matchAll(/\bztroot_[a-z0-9_]+\b/g)].map((m) => m[0]);
}

let scraped = new Set<string>();
let scrapeText = '';
before(async () => {
  const ids = readVectorJson<{ identities: { secret_string: string }[] }>('identities.json').identities.map((i) => Identity.fromString(i.secret_string));
  const [rootId, aId, bId] = ids as [Identity, Identity, Identity];
  const key = c25519Generate();
  const world = signWorld({ type: 'planet', id: 0x5eed0999n, timestamp: 1, updatesMustBeSignedBy: key.publicKey, roots: [{ identity: rootId.publicOnly(), stableEndpoints: [{ family: 4, ip: '192.0.0.1', port: 9993 }] }] }, key);
  const registry = createRootMetricsRegistry();
  const validator = new IdentityValidator({ workers: 1 });
  const store = new MemoryPeerStore();
  const fleet = { store, cache: new PeerStoreCache(store), rootId: 'dash', endpoints: [] };
  const root = new RootServer({ port: 0, bind4: '127.0.0.1', bind6: null }, { identity: rootId, planet: serializeWorld(world), validator: timeValidations(validator, registry), fleet });
  await root.start();
  await root.startTunnel('127.0.0.1', 0);
  addRootMetrics(registry, root, validator, fleet);
  probeWithHistory(registry);
  const target = { root: rootId, port: () => root.port, planetId: world.id, planetTimestamp: world.timestamp };
  const a = await new RawClient(aId, target).open();
  const b = await new RawClient(bId, target).open();
  try {
    // Traffic that makes every family have a sample: HELLOs (validations), WHOIS, a relay with RENDEZVOUS, a drop.
    a.send(a.hello());
    b.send(b.hello());
    await a.next(5000);
    await b.next(5000);
    a.send(sealPacket({ dest: rootId.address, source: aId.address, verb: Verb.WHOIS, payload: encodeWhois({ addresses: [bId.address] }) }, a.keyWith(rootId), 3));
    a.send(sealPacket({ dest: bId.address, source: aId.address, verb: Verb.USER_MESSAGE, payload: new Uint8Array(4) }, a.keyWith(bId), 3));
    a.send(new Uint8Array(20));
    await a.drain(300);
    const text = await registry.metrics();
    scrapeText = text;
    scraped = new Set(text.split('\n').filter((l) => l !== '' && !l.startsWith('#')).map((l) => l.replace(/[{ ].*$/, '')));
  } finally {
    a.close();
    b.close();
    await root.stop();
    await validator.close();
    await store.close();
  }
});

test('the Grafana dashboard is well-formed and every metric a panel names exists in a scrape', () => {
  const dash = JSON.parse(readFileSync(DASHBOARD, 'utf8')) as {
    uid: string;
    templating: { list: Array<{ name: string; query?: string }> };
    panels: Array<{ id: number; title: string; type: string; gridPos: { x: number; w: number }; targets: Array<{ expr: string }> }>;
  };
  assert.equal(dash.uid, 'ztroot-fleet');
  assert.deepEqual(dash.templating.list.map((v) => v.name), ['datasource', 'instance']);
  assert.equal(new Set(dash.panels.map((p) => p.id)).size, dash.panels.length, 'panel ids are unique');
  const names = new Set<string>();
  for (const p of dash.panels) {
    assert.ok(p.gridPos.x + p.gridPos.w <= 24, `${p.title}: fits the 24-column grid`);
    assert.ok(p.targets.length > 0, `${p.title}: has a query`);
    for (const t of p.targets) for (const n of metricNames(t.expr)) names.add(n);
  }
  for (const n of metricNames(dash.templating.list[1]!.query ?? '')) names.add(n);
  assert.ok(dash.panels.some((p) => p.targets.some((t) => /histogram_quantile\(0\.99/.test(t.expr))), 'a p99 panel from a histogram');
  const missing = [...names].filter((n) => !scraped.has(n));
  assert.deepEqual(missing, [], `dashboard names metrics a root does not export: ${missing.join(', ')}`);
  assert.ok(names.size >= 12, `the dashboard covers the root's families (${names.size})`);
});

test('the alerting rules pass promtool and name only metrics a root exports', (t) => {
  const rules = parseYaml(readFileSync(RULES, 'utf8')) as { groups: Array<{ rules: Array<{ alert: string; expr: string }> }> };
  const alerts = rules.groups.flatMap((g) => g.rules);
  assert.deepEqual(alerts.map((r) => r.alert).sort(), ['ZtrootAcceptFailing', 'ZtrootFleetRootIdConflict', 'ZtrootFleetStoreDegraded', 'ZtrootNoPeers', 'ZtrootPlanetMismatch', 'ZtrootProbeLossHigh', 'ZtrootProbeStuckRelayed', 'ZtrootProbeTargetDown', 'ZtrootRelayDropsRising', 'ZtrootRootDown', 'ZtrootTcpRelayNearDescriptorLimit', 'ZtrootTcpRelayRefusing', 'ZtrootValidationBacklog']);
  const missing = alerts.flatMap((r) => metricNames(r.expr)).filter((n) => !scraped.has(n));
  assert.deepEqual(missing, [], `rules name metrics a root does not export: ${missing.join(', ')}`);

  const which = spawnSync('sh', ['-c', 'command -v promtool']);
  if (which.status !== 0) return t.skip('promtool not installed (Debian package prometheus; the test command installs it as root)');
  const r = spawnSync('promtool', ['check', 'rules', RULES], { encoding: 'utf8' });
  assert.equal(r.status, 0, `promtool check rules failed:\n${r.stdout}\n${r.stderr}`);
  assert.match(r.stdout, /SUCCESS: 13 rules found/);
});

test('a scrape with the probe families passes promtool check metrics', (t) => {
  if (spawnSync('sh', ['-c', 'command -v promtool']).status !== 0) return t.skip('promtool not installed');
  assert.match(scrapeText, /^ztroot_probe_rtt_seconds_bucket\{/m, 'the probe families are in the scrape');
  const r = spawnSync('promtool', ['check', 'metrics'], { input: scrapeText, encoding: 'utf8' });
  assert.equal(r.status, 0, `promtool check metrics:\n${r.stdout}\n${r.stderr}`);
});

test('the probe alerts fire and clear as their promtool unit tests say (promtool test rules)', (t) => {
  if (spawnSync('sh', ['-c', 'command -v promtool']).status !== 0) return t.skip('promtool not installed');
  const r = spawnSync('promtool', ['test', 'rules', RULES_TESTS], { encoding: 'utf8' });
  assert.equal(r.status, 0, `promtool test rules failed:\n${r.stdout}\n${r.stderr}`);
  const tests = parseYaml(readFileSync(RULES_TESTS, 'utf8')) as { tests: Array<{ alert_rule_test: Array<{ alertname: string; exp_alerts: unknown[] }> }> };
  const firing = new Set(tests.tests.flatMap((x) => x.alert_rule_test.filter((a) => a.exp_alerts.length > 0).map((a) => a.alertname)));
  assert.deepEqual([...firing].sort(), ['ZtrootProbeLossHigh', 'ZtrootProbeStuckRelayed', 'ZtrootProbeTargetDown'], 'each probe alert is shown firing');
});
