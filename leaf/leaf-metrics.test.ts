/**
 * The leaf's /metrics text: 1.14's families first, untouched by ztroot's own, which follow (vl2.md §8.3).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { leafMetricsText, type LeafMetricsSnapshot } from './leaf-metrics.js';
import { NETWORK_DROP_REASONS } from './network.js';

const NWID = 0x8056c2e21c000001n;

function snapshot(drops: Partial<Record<string, number>>): LeafMetricsSnapshot {
  return {
    sent: { HELLO: 3, FRAME: 7 },
    received: { OK: 2, NETWORK_CREDENTIALS: 1 },
    errorsReceived: new Map([[7, 2]]),
    networks: [{ nwid: NWID, multicastGroups: 2, accepted: { rx: 5, tx: 6 }, refused: { rx: 1, tx: 0 }, drops }],
    peers: [{ address: 0x89e92ceee5, alivePaths: 1, deadPaths: 0 }],
  };
}

/** The families of a text, in order. */
const families = (text: string): string[] => [...text.matchAll(/^# TYPE (\S+) /gm)].map((m) => m[1]!);

test("1.14's families come first, in 1.14's names, and ztroot's drop counters change nothing in them", () => {
  const withDrops = leafMetricsText(snapshot({ gate: 4, malformed: 1 }));
  const without = leafMetricsText(snapshot({}));
  assert.deepEqual(families(withDrops), [
    'zt_packet',
    'zt_packet_error',
    'zt_num_networks',
    'zt_network_multicast_groups_subscribed',
    'zt_network_packets',
    'zt_peer_path_count',
    'ztroot_leaf_network_drops_total',
    'ztroot_leaf_vl2_drops_total',
  ]);
  const ours = (t: string) => t.indexOf('# HELP ztroot_');
  assert.equal(withDrops.slice(0, ours(withDrops)), without.slice(0, ours(without)));
  // vl2.md §8.3's example lines, as 1.14.1 prints them
  assert.match(withDrops, /^zt_packet\{direction="tx",packet_type="hello"\} 3$/m);
  assert.match(withDrops, /^zt_network_packets\{accepted="yes",direction="tx",network_id="8056c2e21c000001"\} 6$/m);
  assert.match(withDrops, /^zt_packet_error\{direction="rx",error_type="network_access_denied"\} 2$/m);
});

test('ztroot_leaf_network_drops_total: every reason of every network, zeros included, labels in order', () => {
  const text = leafMetricsText(snapshot({ gate: 4, malformed: 1 }));
  const lines = text.split('\n').filter((l) => l.startsWith('ztroot_leaf_network_drops_total{'));
  assert.equal(lines.length, NETWORK_DROP_REASONS.length);
  assert.ok(lines.includes('ztroot_leaf_network_drops_total{network_id="8056c2e21c000001",reason="gate"} 4'));
  assert.ok(lines.includes('ztroot_leaf_network_drops_total{network_id="8056c2e21c000001",reason="malformed"} 1'));
  assert.ok(lines.includes('ztroot_leaf_network_drops_total{network_id="8056c2e21c000001",reason="config-signature"} 0'));
  assert.match(text, /^# TYPE ztroot_leaf_network_drops_total counter$/m);
});

test('ztroot_leaf_vl2_drops_total: what reached no joined network, every reason listed', () => {
  const text = leafMetricsText({ ...snapshot({}), vl2Drops: { 'unknown-network': 3 } });
  assert.deepEqual(
    text.split('\n').filter((l) => l.startsWith('ztroot_leaf_vl2_drops_total{')),
    ['ztroot_leaf_vl2_drops_total{reason="truncated"} 0', 'ztroot_leaf_vl2_drops_total{reason="unknown-network"} 3', 'ztroot_leaf_vl2_drops_total{reason="malformed"} 0'],
  );
});
