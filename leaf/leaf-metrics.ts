/**
 * The leaf's /metrics text, in ZeroTier One 1.14's names and format (shared/protocol/vl2.md §8.3), so the
 * dashboards and alerts written for real nodes read ours unchanged: counters without `_total`, labels in
 * alphabetical order, `# HELP` and `# TYPE` for every family.
 *
 * Written out here rather than through prom-client: the values are snapshots of counters the VL1 node and the
 * networks already keep (prom-client would keep a second copy and add `_total`), and 1.14's exact text is the
 * contract. Families 1.14 has that the leaf cannot fill truthfully (`zt_data` bytes, the latency histogram, the
 * controller's) are left out rather than exported as zeros.
 *
 * Beside 1.14's families, ztroot's own (never a name 1.14 uses, so its dashboards are unaffected):
 *   ztroot_leaf_network_drops_total{network_id,reason}   what each joined network dropped, by reason (every reason
 *                                                        listed, zeros included, so rates work from the first scrape)
 *   ztroot_leaf_vl2_drops_total{reason}                  VL2 packets no joined network saw (too short to name one,
 *                                                        naming one not joined, undecodable LIKE or credentials)
 */
import { NETWORK_DROP_REASONS } from './network.js';

/** Why a VL2 packet reached no network (leaf/leaf.ts counts them): too short to name one, naming one not joined, undecodable. */
export const VL2_DROP_REASONS = ['truncated', 'unknown-network', 'malformed'] as const;
export type Vl2DropReason = (typeof VL2_DROP_REASONS)[number];

/** 1.14's `packet_type` label values, by verb name as the VL1 node counts them. */
const PACKET_TYPES: Record<string, string> = {
  NOP: 'nop',
  HELLO: 'hello',
  ERROR: 'error',
  OK: 'ok',
  WHOIS: 'whois',
  RENDEZVOUS: 'rendezvous',
  FRAME: 'frame',
  EXT_FRAME: 'ext_frame',
  ECHO: 'echo',
  MULTICAST_LIKE: 'multicast_like',
  NETWORK_CREDENTIALS: 'network_credentials',
  NETWORK_CONFIG_REQUEST: 'network_config_request',
  NETWORK_CONFIG: 'network_config',
  MULTICAST_GATHER: 'multicast_gather',
  MULTICAST_FRAME: 'multicast_frame',
  PUSH_DIRECT_PATHS: 'push_direct_paths',
  ACK: 'ack',
  QOS_MEASUREMENT: 'qos',
  USER_MESSAGE: 'user_message',
  REMOTE_TRACE: 'remote_trace',
  PATH_NEGOTIATION_REQUEST: 'path_negotiation_request',
};

/** 1.14's `error_type` label values, by ERROR code. */
const ERROR_TYPES: Record<number, string> = {
  0x03: 'obj_not_found',
  0x05: 'unsupported_operation',
  0x04: 'identity_collision',
  0x06: 'need_membership_certificate',
  0x07: 'network_access_denied',
  0x08: 'unwanted_multicast',
  0x09: 'authentication_required',
  0x0a: 'internal_server_error',
};

export interface LeafMetricsSnapshot {
  /** Packets sent and received, by verb name (the VL1 node's `stats.sent` / `stats.received`). */
  sent: Record<string, number>;
  received: Record<string, number>;
  /** ERRORs received, by code. */
  errorsReceived: Map<number, number>;
  /** VL2 packets that reached no network, by reason. */
  vl2Drops?: Partial<Record<Vl2DropReason, number>>;
  networks: Array<{
    nwid: bigint;
    multicastGroups: number;
    accepted: { rx: number; tx: number };
    refused: { rx: number; tx: number };
    /** The network's drops by reason (`Network.counters.drops`). */
    drops: Partial<Record<string, number>>;
  }>;
  peers: Array<{ address: number; alivePaths: number; deadPaths: number }>;
}

const hex = (n: bigint | number, digits: number): string => n.toString(16).padStart(digits, '0');

class Families {
  private readonly lines: string[] = [];

  family(name: string, type: 'counter' | 'gauge', help: string, samples: Array<[Record<string, string>, number]>): void {
    this.lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    for (const [labels, value] of samples) {
      const keys = Object.keys(labels).sort();
      const l = keys.length === 0 ? '' : `{${keys.map((k) => `${k}="${labels[k]}"`).join(',')}}`;
      this.lines.push(`${name}${l} ${value}`);
    }
  }

  text(): string {
    return this.lines.join('\n') + '\n';
  }
}

export function leafMetricsText(s: LeafMetricsSnapshot): string {
  const f = new Families();
  const packets: Array<[Record<string, string>, number]> = [];
  for (const [direction, counts] of [['rx', s.received], ['tx', s.sent]] as const) {
    for (const [verb, type] of Object.entries(PACKET_TYPES)) packets.push([{ direction, packet_type: type }, counts[verb] ?? 0]);
  }
  f.family('zt_packet', 'counter', 'number of incoming/outgoing packets', packets);
  f.family(
    'zt_packet_error',
    'counter',
    'number of incoming/outgoing packet errors',
    Object.entries(ERROR_TYPES).map(([code, type]) => [{ direction: 'rx', error_type: type }, s.errorsReceived.get(Number(code)) ?? 0]),
  );
  f.family('zt_num_networks', 'gauge', 'number of networks this instance is joined to', [[{}, s.networks.length]]);
  f.family(
    'zt_network_multicast_groups_subscribed',
    'gauge',
    'number of multicast groups networks are subscribed to',
    s.networks.map((n) => [{ network_id: hex(n.nwid, 16) }, n.multicastGroups]),
  );
  const frames: Array<[Record<string, string>, number]> = [];
  for (const n of s.networks) {
    const network_id = hex(n.nwid, 16);
    for (const direction of ['rx', 'tx'] as const) {
      frames.push([{ accepted: 'yes', direction, network_id }, n.accepted[direction]]);
      frames.push([{ accepted: 'no', direction, network_id }, n.refused[direction]]);
    }
  }
  f.family('zt_network_packets', 'counter', 'number of incoming/outgoing network packets', frames);
  const paths: Array<[Record<string, string>, number]> = [];
  for (const p of s.peers) {
    paths.push([{ node_id: hex(p.address, 10), status: 'alive' }, p.alivePaths]);
    paths.push([{ node_id: hex(p.address, 10), status: 'dead' }, p.deadPaths]);
  }
  f.family('zt_peer_path_count', 'gauge', 'number of paths to peer', paths);
  f.family(
    'ztroot_leaf_network_drops_total',
    'counter',
    'packets and frames of a joined network dropped, by reason',
    s.networks.flatMap((n) => NETWORK_DROP_REASONS.map((reason): [Record<string, string>, number] => [{ network_id: hex(n.nwid, 16), reason }, n.drops[reason] ?? 0])),
  );
  f.family(
    'ztroot_leaf_vl2_drops_total',
    'counter',
    'VL2 packets that reached no joined network, by reason',
    VL2_DROP_REASONS.map((reason) => [{ reason }, s.vl2Drops?.[reason] ?? 0]),
  );
  return f.text();
}
