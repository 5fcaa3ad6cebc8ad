/**
 * Prometheus metrics for a root, with prom-client.
 *
 * The root counts events in a plain Map on the packet path (a Map update costs nothing worth measuring
 * and allocates nothing); this module turns those counters into Prometheus families when scraped, so
 * the packet path never touches prom-client. Names follow Prometheus conventions: counters end in
 * `_total`, every drop is one family with a `reason` label, packets carry `verb` and `direction`, and
 * nothing is labelled per peer (cardinality).
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { performance } from 'node:perf_hooks';
import { createHash } from 'node:crypto';
import type { World } from '../planet/world.js';
import { Verb } from '../vl1/constants.js';
import { ZtErrorCode } from '../vl1/errors.js';
import { ADOPTION_REFUSAL_REASONS } from './peer-adoption.js';

/** What a metrics registry reads from the root (RootServer satisfies it). */
export interface RootMetricsSource {
  readonly counters: ReadonlyMap<string, number>;
  readonly peers: { readonly size: number };
  /** Of `peers`, the fleet's probe leaves (shown apart). */
  readonly probePeerCount?: number;
  readonly planet: World;
  readonly planetBytes: Uint8Array;
  /** The TCP fallback listener, when the root runs one. */
  readonly tunnel?: TunnelGaugeSource | null;
}

/** What the TCP relay's gauges read (relay/tcp-tunnel-server.ts). */
interface TunnelGaugeSource {
  readonly connections: number;
  readonly tunnels: number;
  /** The total connection limit in force (derived from the descriptor limit). */
  readonly connectionLimit?: number;
}

/** The TCP relay's counters (relay/tcp-tunnel-server.ts) by family and label. */
const TCP_COUNTERS: Record<string, [string, Record<string, string>]> = {
  tcp_accepted: ['ztroot_tcp_connections_total', { result: 'accepted' }],
  tcp_tunnels_opened: ['ztroot_tcp_connections_total', { result: 'tunnel' }],
  tcp_tls_handoffs: ['ztroot_tcp_connections_total', { result: 'tls' }],
  tcp_refused_total_limit: ['ztroot_tcp_connections_total', { result: 'refused_total_limit' }],
  tcp_refused_ip_limit: ['ztroot_tcp_connections_total', { result: 'refused_ip_limit' }],
  tcp_refused_prefix_limit: ['ztroot_tcp_connections_total', { result: 'refused_prefix_limit' }],
  tcp_accept_errors: ['ztroot_tcp_connections_total', { result: 'accept_error' }],
  tcp_evicted: ['ztroot_tcp_closes_total', { reason: 'evicted' }],
  tcp_tls_unconfigured: ['ztroot_tcp_connections_total', { result: 'tls_unconfigured' }],
  tcp_bad_protocol: ['ztroot_tcp_connections_total', { result: 'bad_protocol' }],
  tcp_closed: ['ztroot_tcp_closes_total', { reason: 'any' }],
  tcp_greeting_timeouts: ['ztroot_tcp_closes_total', { reason: 'greeting_timeout' }],
  tcp_idle_timeouts: ['ztroot_tcp_closes_total', { reason: 'idle' }],
  tcp_slow_reader_closes: ['ztroot_tcp_closes_total', { reason: 'slow_reader' }],
  tcp_bad_records: ['ztroot_tcp_closes_total', { reason: 'bad_record' }],
  tcp_records_too_large: ['ztroot_tcp_closes_total', { reason: 'record_too_large' }],
  tcp_rx_datagrams: ['ztroot_tcp_datagrams_total', { direction: 'in' }],
  tcp_tx_datagrams: ['ztroot_tcp_datagrams_total', { direction: 'out' }],
  tcp_rx_bytes: ['ztroot_tcp_bytes_total', { direction: 'in' }],
  tcp_tx_bytes: ['ztroot_tcp_bytes_total', { direction: 'out' }],
  tcp_queue_full_drops: ['ztroot_tcp_dropped_total', { reason: 'queue_full' }],
  tcp_source_mismatch: ['ztroot_tcp_dropped_total', { reason: 'source_mismatch' }],
  tcp_allowlist_denied: ['ztroot_tcp_dropped_total', { reason: 'allowlist_denied' }],
  tcp_runt_datagrams: ['ztroot_tcp_dropped_total', { reason: 'runt' }],
};

/**
 * ZtError codes a parser on the packet path can throw: the root counts each as `drop_<code>` (root-server.ts
 * onDatagram), so each is a drop reason.
 */
const PACKET_PATH_ERRORS = [
  ZtErrorCode.TRUNCATED,
  ZtErrorCode.TOO_LONG,
  ZtErrorCode.BAD_VALUE,
  ZtErrorCode.TRAILING_BYTES,
  ZtErrorCode.BAD_FORMAT,
  ZtErrorCode.RESERVED_ADDRESS,
  ZtErrorCode.UNKNOWN_IDENTITY_TYPE,
  ZtErrorCode.IDENTITY_INVALID,
  ZtErrorCode.BAD_SIGNATURE,
  ZtErrorCode.BAD_MAC,
  ZtErrorCode.UNSUPPORTED_CIPHER,
  ZtErrorCode.BAD_COMPRESSION,
  ZtErrorCode.BAD_FRAGMENT,
  ZtErrorCode.OVERLOADED,
].map((c) => c.slice('ZT_ERR_'.length).toLowerCase());

/**
 * Drop reasons the root counts by name (root-server.ts, relay/relay.ts, root/tunnel-paths.ts), besides the
 * ZtError codes above. Listed so that every `ztroot_packets_dropped_total{reason}` series exists at 0 from
 * the first scrape: `rate()` and `increase()` need a sample before the first drop, or an alert on a reason
 * never fires on its first burst. root/metrics.test.ts checks that every reason the sources count is here.
 */
export const KNOWN_DROP_REASONS: readonly string[] = [
  ...new Set([
    // relay/relay.ts (RelayDropReason)
    'runt', 'hop_limit', 'unknown_destination', 'no_path', 'bad_fragment',
    // root/root-server.ts
    'bad_protocol_version', 'fragment_to_root', 'from_self',
    'hello_bad_moon_list', 'hello_identity_mismatch', 'hello_source_mismatch', 'hello_validation_pending',
    'identity_invalid', 'internal_error', 'ip_rate_limited', 'multicast_limit', 'new_identity_rate_limited',
    'no_socket', 'rate_limited', 'unhandled_verb', 'unknown_peer', 'validation_unavailable',
    'source_budget', 'extended_armor_rate_limited', 'identity_known_invalid',
    // root/fleet-forwarding.ts
    'fleet_not_forward', 'fleet_unauthenticated', 'fleet_hold_expired',
    // root/tunnel-paths.ts
    'tunnel_destination', 'tunnel_low_port', 'tunnel_no_destination', 'tunnel_no_socket', 'tunnel_unauthenticated',
    ...PACKET_PATH_ERRORS,
  ]),
];

/** Other root counters with a fixed name (each family/label they map to starts at 0). */
const KNOWN_OTHER_COUNTERS = [
  'relayed', 'relayed_bytes', 'rendezvous_sent', 'probe_relayed', 'probe_relayed_bytes', 'probe_rendezvous_sent', 'whois_answered', 'whois_miss', 'gather_answered', 'gather_empty',
  'peers_added', 'peers_expired', 'planet_updates_sent', 'moon_updates_sent', 'hello_identity_collision',
  'fleet_publishes', 'fleet_resyncs', 'fleet_whois_lookups', 'fleet_location_lookups', 'fleet_write_errors',
  'path_probes_sent', 'path_probes_confirmed', 'path_probe_mismatch', 'path_probe_rate_limited', 'path_adopted',
  // ztroot_events_total{event}
  'rx_extended_armor',
  'fleet_forwarded', 'fleet_delivered', 'fleet_read_errors', 'fleet_hold_full', 'hello_queued_for_validation', 'tunnel_sent_udp',
  'fleet_location_miss', 'fleet_root_id_conflicts',
  // root/peer-adoption.ts
  'peer_adoptions', 'peer_adoption_probes', ...ADOPTION_REFUSAL_REASONS.map((r) => `adoption_refused_${r}`),
];

/**
 * Every root counter name known in advance: drop reasons, packets in and out by verb, results, operations,
 * and the TCP relay's counters. The metrics start each of them at 0.
 */
export const KNOWN_ROOT_COUNTERS: readonly string[] = [
  ...KNOWN_DROP_REASONS.map((r) => `drop_${r}`),
  ...Object.keys(Verb).flatMap((v) => [`rx_${v}`, `tx_${v}`, `probe_rx_${v}`, `probe_tx_${v}`]),
  ...KNOWN_OTHER_COUNTERS,
  ...Object.keys(TCP_COUNTERS),
];

/** The standalone relay's own results (`relay_*` counters of relay/standalone-relay.ts). */
export const KNOWN_RELAY_RESULTS: readonly string[] = [
  'sent_udp', 'to_tunnel', 'udp_errors', 'drop_runt', 'drop_no_tunnel', 'drop_no_socket', 'drop_no_destination', 'drop_low_port', 'drop_destination', 'drop_source',
];

/** The fleet store and its cache, when the root is part of a fleet. */
export interface FleetMetricsSource {
  readonly store: { readonly healthy: boolean; stats(): { queued: number; dropped: number } };
  readonly cache: { stats(): { identities: number } };
}

/** Identity validation figures (root/identity-validator.ts `stats`). */
export interface ValidatorMetricsSource {
  readonly stats: {
    validated: number;
    cacheHits: number;
    invalid: number;
    rejectedQueueFull: number;
    failed: number;
    inFlight: number;
    queueLength: number;
    /** Admitted without hashing: validated before (state directory; root/identity-validator-remembered.ts). */
    rememberedHits?: number;
    /** Admitted without hashing: validated by a root of the fleet. */
    fleetHits?: number;
  };
}

/**
 * How one root counter maps to a Prometheus family and labels. Unknown names land in
 * `ztroot_events_total{event}` so that no counter is ever silently lost.
 */
export function classifyCounter(name: string): { family: string; labels: Record<string, string> } {
  const tcp = TCP_COUNTERS[name];
  if (tcp !== undefined) return { family: tcp[0], labels: tcp[1] };
  if (name.startsWith('drop_')) return { family: 'ztroot_packets_dropped_total', labels: { reason: name.slice(5) } };
  if (name.startsWith('rx_')) return { family: 'ztroot_packets_total', labels: { direction: 'in', verb: name.slice(3) } };
  if (name.startsWith('tx_')) return { family: 'ztroot_packets_total', labels: { direction: 'out', verb: name.slice(3) } };
  if (name.startsWith('probe_rx_')) return { family: 'ztroot_probe_leaf_packets_total', labels: { direction: 'in', verb: name.slice(9) } };
  if (name.startsWith('probe_tx_')) return { family: 'ztroot_probe_leaf_packets_total', labels: { direction: 'out', verb: name.slice(9) } };
  if (name.startsWith('adoption_refused_')) return { family: 'ztroot_peer_adoption_refusals_total', labels: { reason: name.slice('adoption_refused_'.length) } };
  switch (name) {
    case 'relayed':
      return { family: 'ztroot_packets_relayed_total', labels: {} };
    case 'relayed_bytes':
      return { family: 'ztroot_relayed_bytes_total', labels: {} };
    case 'rendezvous_sent':
      return { family: 'ztroot_rendezvous_sent_total', labels: {} };
    case 'probe_relayed':
      return { family: 'ztroot_probe_leaf_packets_relayed_total', labels: {} };
    case 'probe_relayed_bytes':
      return { family: 'ztroot_probe_leaf_relayed_bytes_total', labels: {} };
    case 'probe_rendezvous_sent':
      return { family: 'ztroot_probe_leaf_rendezvous_sent_total', labels: {} };
    case 'whois_answered':
      return { family: 'ztroot_whois_total', labels: { result: 'answered' } };
    case 'whois_miss':
      return { family: 'ztroot_whois_total', labels: { result: 'miss' } };
    case 'gather_answered':
      return { family: 'ztroot_multicast_gathers_total', labels: { result: 'answered' } };
    case 'gather_empty':
      return { family: 'ztroot_multicast_gathers_total', labels: { result: 'empty' } };
    case 'peers_added':
      return { family: 'ztroot_peers_added_total', labels: {} };
    case 'peers_expired':
      return { family: 'ztroot_peers_expired_total', labels: {} };
    case 'planet_updates_sent':
      return { family: 'ztroot_world_updates_sent_total', labels: { type: 'planet' } };
    case 'moon_updates_sent':
      return { family: 'ztroot_world_updates_sent_total', labels: { type: 'moon' } };
    case 'fleet_publishes':
      return { family: 'ztroot_fleet_operations_total', labels: { op: 'publish' } };
    case 'fleet_resyncs':
      return { family: 'ztroot_fleet_operations_total', labels: { op: 'resync' } };
    case 'fleet_whois_lookups':
      return { family: 'ztroot_fleet_operations_total', labels: { op: 'whois_lookup' } };
    case 'fleet_location_lookups':
      return { family: 'ztroot_fleet_operations_total', labels: { op: 'location_lookup' } };
    case 'fleet_write_errors':
      return { family: 'ztroot_fleet_errors_total', labels: { op: 'write' } };
    case 'hello_identity_collision':
      return { family: 'ztroot_identity_collisions_total', labels: {} };
    case 'path_probes_sent':
      return { family: 'ztroot_path_probes_total', labels: { result: 'sent' } };
    case 'path_probes_confirmed':
      return { family: 'ztroot_path_probes_total', labels: { result: 'confirmed' } };
    case 'path_probe_mismatch':
      return { family: 'ztroot_path_probes_total', labels: { result: 'mismatch' } };
    case 'path_probe_rate_limited':
      return { family: 'ztroot_path_probes_total', labels: { result: 'rate_limited' } };
    case 'path_adopted':
      return { family: 'ztroot_paths_adopted_total', labels: {} };
    case 'peer_adoptions':
      return { family: 'ztroot_peer_adoptions_total', labels: {} };
    case 'peer_adoption_probes':
      return { family: 'ztroot_peer_adoption_probes_total', labels: {} };
    default:
      return { family: 'ztroot_events_total', labels: { event: name } };
  }
}

const COUNTER_FAMILIES: Record<string, { help: string; labelNames: string[] }> = {
  ztroot_packets_total: { help: "Packets addressed to this root (in) and sent by it (out), by verb; the fleet's probe leaves' are in ztroot_probe_leaf_packets_total.", labelNames: ['direction', 'verb'] },
  ztroot_packets_dropped_total: { help: 'Datagrams dropped, by reason.', labelNames: ['reason'] },
  ztroot_packets_relayed_total: { help: "Datagrams relayed to another peer (clients'; the probe leaves' are counted apart).", labelNames: [] },
  ztroot_relayed_bytes_total: { help: 'Bytes of the datagrams relayed (UDP payload), probe leaves apart.', labelNames: [] },
  ztroot_rendezvous_sent_total: { help: 'RENDEZVOUS packets sent to introduce peers (probe leaves apart).', labelNames: [] },
  ztroot_probe_leaf_packets_total: { help: "Packets between this root and the fleet's probe leaves (tools/probe/), by direction and verb: not in ztroot_packets_total.", labelNames: ['direction', 'verb'] },
  ztroot_probe_leaf_packets_relayed_total: { help: "Datagrams to or from the fleet's probe leaves relayed by this root: not in ztroot_packets_relayed_total.", labelNames: [] },
  ztroot_probe_leaf_relayed_bytes_total: { help: "Bytes of the probe leaves' datagrams relayed: not in ztroot_relayed_bytes_total.", labelNames: [] },
  ztroot_probe_leaf_rendezvous_sent_total: { help: 'RENDEZVOUS sent to probe leaves: not in ztroot_rendezvous_sent_total.', labelNames: [] },
  ztroot_whois_total: { help: 'WHOIS requests by result (answered, or miss: nothing known).', labelNames: ['result'] },
  ztroot_multicast_gathers_total: { help: 'MULTICAST_GATHER requests by result.', labelNames: ['result'] },
  ztroot_peers_added_total: { help: 'Peers added after a validated HELLO.', labelNames: [] },
  ztroot_peers_expired_total: { help: 'Peers forgotten after the activity timeout.', labelNames: [] },
  ztroot_world_updates_sent_total: { help: 'Planets and moons sent in OK(HELLO) to holders of older ones.', labelNames: ['type'] },
  ztroot_identity_collisions_total: { help: 'HELLOs claiming a known address with another key.', labelNames: [] },
  ztroot_path_probes_total: { help: 'Probes of addresses a peer spoke from that are not its path (sent; confirmed by an authentic OK from there; mismatch: answered from elsewhere; rate_limited: not sent).', labelNames: ['result'] },
  ztroot_paths_adopted_total: { help: 'Peer paths moved to an address that answered a probe (new peers, roaming).', labelNames: [] },
  ztroot_peer_adoptions_total: { help: 'Peers the fleet knew taken back from their own packets without a HELLO (after a restart), once a probe proved their path.', labelNames: [] },
  ztroot_peer_adoption_probes_total: { help: 'HELLO probes sent to the claimed paths of peers being adopted.', labelNames: [] },
  ztroot_peer_adoption_refusals_total: { help: 'Packets from or to unknown peers that did not lead to an adoption, by reason (not_in_fleet, not_validated, bad_mac, rate_limited, queue_full, …).', labelNames: ['reason'] },
  ztroot_fleet_operations_total: { help: 'Operations on the fleet store, by kind.', labelNames: ['op'] },
  ztroot_fleet_errors_total: { help: 'Failed operations on the fleet store, by kind.', labelNames: ['op'] },
  ztroot_tcp_connections_total: { help: 'TCP relay connections by outcome: accepted, then tunnel or tls (handed to HTTPS); or refused by a limit (total, per IP, per prefix), or an accept error (descriptors exhausted).', labelNames: ['result'] },
  ztroot_tcp_closes_total: { help: 'TCP relay connections closed (reason any), and those closed by a limit, by bad input, or evicted to make room for another prefix, by reason.', labelNames: ['reason'] },
  ztroot_tcp_datagrams_total: { help: 'Datagrams carried over TCP tunnels, by direction (in: from clients).', labelNames: ['direction'] },
  ztroot_tcp_bytes_total: { help: 'Bytes of the datagrams carried over TCP tunnels, by direction.', labelNames: ['direction'] },
  ztroot_tcp_dropped_total: { help: 'Datagrams dropped by the TCP relay, by reason (queue_full: the client reads too slowly).', labelNames: ['reason'] },
  ztroot_events_total: { help: 'Other root events, by name.', labelNames: ['event'] },
};

export interface RootMetricsOptions {
  /** Node.js process metrics (CPU, memory, event loop lag, GC) with prom-client's defaults. Default true. */
  processMetrics?: boolean;
}

/** A registry that reads `root` (and optionally the validator) at every scrape. */
export function createRootMetrics(root: RootMetricsSource, validator?: ValidatorMetricsSource, opts: RootMetricsOptions = {}, fleet?: FleetMetricsSource): Registry {
  const registry = createRootMetricsRegistry(opts);
  addRootMetrics(registry, root, validator, fleet);
  return registry;
}

/**
 * prom-client's default gauges that are named like counters: `promtool check metrics` rejects a gauge ending
 * in `_total`. Each is the sum over the `type` label of the gauge of the same name without `_total`
 * (`ztroot_nodejs_active_handles{type}` …), which is kept: `sum(ztroot_nodejs_active_handles)` gives it back.
 */
const MISNAMED_DEFAULT_GAUGES = ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total'];

/** An empty registry with the process metrics (unless turned off). */
export function createRootMetricsRegistry(opts: RootMetricsOptions = {}): Registry {
  const registry = new Registry();
  if (opts.processMetrics !== false) {
    collectDefaultMetrics({ register: registry, prefix: 'ztroot_' });
    for (const name of MISNAMED_DEFAULT_GAUGES) registry.removeSingleMetric(`ztroot_${name}`);
  }
  return registry;
}

/** Adds the families that read `root` (and the validator) at every scrape to `registry`. */
export function addRootMetrics(registry: Registry, root: RootMetricsSource, validator?: ValidatorMetricsSource, fleet?: FleetMetricsSource): void {

  const families = new Map<string, Counter<string>>();
  // One collector refreshes every counter family from the root's Map (the source of truth). prom-client
  // reads each metric right after its own collect(), in registration order, so this one comes first.
  new Gauge({
    name: 'ztroot_peers',
    help: "Peers this root knows, by scope (local: clients that said HELLO to this root; probe: the fleet's probe leaves that did; remote: known through the fleet).",
    labelNames: ['scope'],
    registers: [registry],
    collect() {
      const probes = root.probePeerCount ?? 0;
      this.set({ scope: 'local' }, root.peers.size - probes);
      this.set({ scope: 'probe' }, probes);
      // Remote: peers of other roots this root currently knows through the fleet (its cache).
      if (fleet !== undefined) this.set({ scope: 'remote' }, fleet.cache.stats().identities);
      for (const c of families.values()) c.reset();
      for (const name of KNOWN_ROOT_COUNTERS) {
        const { family, labels } = classifyCounter(name);
        families.get(family)!.inc(labels, 0);
      }
      for (const [name, value] of root.counters) {
        const { family, labels } = classifyCounter(name);
        families.get(family)!.inc(labels, value);
      }
    },
  });
  for (const [name, { help, labelNames }] of Object.entries(COUNTER_FAMILIES)) {
    families.set(name, new Counter({ name, help, labelNames, registers: [registry] }));
  }

  addTcpConnectionsGauge(registry, root);

  let planetKey = '';
  let planetSha = '';
  new Gauge({
    name: 'ztroot_planet_info',
    help: 'The planet this root serves: id, timestamp and SHA-256 as labels (value 1). Roots of one fleet should agree.',
    labelNames: ['id', 'timestamp', 'sha256'],
    registers: [registry],
    collect() {
      const w = root.planet;
      const key = `${w.id}:${w.timestamp}`;
      if (key !== planetKey) {
        planetKey = key;
        planetSha = createHash('sha256').update(root.planetBytes).digest('hex');
        this.reset();
      }
      this.set({ id: w.id.toString(16).padStart(16, '0'), timestamp: String(w.timestamp), sha256: planetSha }, 1);
    },
  });

  if (fleet !== undefined) {
    new Gauge({
      name: 'ztroot_fleet_store_up',
      help: 'Whether the fleet store (Redis) is reachable: 1 up, 0 degraded (serving from what this root knows, writes queued).',
      registers: [registry],
      collect() {
        this.set(fleet.store.healthy ? 1 : 0);
      },
    });
    new Gauge({
      name: 'ztroot_fleet_store_queued_writes',
      help: 'Writes to the fleet store waiting for it to come back.',
      registers: [registry],
      collect() {
        this.set(fleet.store.stats().queued);
      },
    });
  }

  if (validator !== undefined) {
    const v = validator;
    new Counter({
      name: 'ztroot_identity_validations_total',
      help: 'New identities checked with the memory-hard hash, by result (cache hits, remembered and fleet admissions cost no hash).',
      labelNames: ['result'],
      registers: [registry],
      collect() {
        this.reset();
        const s = v.stats;
        this.inc({ result: 'valid' }, Math.max(0, s.validated - s.invalid));
        this.inc({ result: 'invalid' }, s.invalid);
        this.inc({ result: 'cache_hit' }, s.cacheHits);
        this.inc({ result: 'queue_full' }, s.rejectedQueueFull);
        this.inc({ result: 'failed' }, s.failed);
        if (s.rememberedHits !== undefined) this.inc({ result: 'remembered' }, s.rememberedHits);
        if (s.fleetHits !== undefined) this.inc({ result: 'fleet' }, s.fleetHits);
      },
    });
    new Gauge({
      name: 'ztroot_identity_validations_pending',
      help: 'Identity validations running or waiting for a worker.',
      registers: [registry],
      collect() {
        this.set(v.stats.inFlight + v.stats.queueLength);
      },
    });
  }
}

function addTcpConnectionsGauge(registry: Registry, source: { readonly tunnel?: TunnelGaugeSource | null }): void {
  new Gauge({
    name: 'ztroot_tcp_connections',
    help: 'Open TCP relay connections (kind all: every connection, tunnel: ZeroTier tunnels among them).',
    labelNames: ['kind'],
    registers: [registry],
    collect() {
      const t = source.tunnel;
      if (t === undefined || t === null) return;
      this.set({ kind: 'all' }, t.connections);
      this.set({ kind: 'tunnel' }, t.tunnels);
    },
  });
  new Gauge({
    name: 'ztroot_tcp_connections_limit',
    help: 'The TCP relay\'s limit on open connections: the configured one, or what the descriptor limit leaves after a reserve for the HTTP API, Redis and files.',
    registers: [registry],
    collect() {
      const limit = source.tunnel?.connectionLimit;
      if (limit !== undefined) this.set(limit);
    },
  });
}

/** What the standalone relay (`ztroot relay`, relay/standalone-relay.ts) exposes. */
export interface RelayMetricsSource {
  readonly counters: ReadonlyMap<string, number>;
  readonly tunnel: TunnelGaugeSource;
}

/**
 * The standalone relay's metrics: the same `ztroot_tcp_*` families as a root's relay, and
 * `ztroot_relay_datagrams_total{result}` for what it did with each datagram (sent_udp, to_tunnel, drop_*).
 */
export function addRelayMetrics(registry: Registry, relay: RelayMetricsSource): void {
  const families = new Map<string, Counter<string>>();
  // Registered after the gauge whose collect() fills it: prom-client serialises each metric right after its
  // own collect, in registration order, so a family registered before it would always show the previous scrape.
  let relayed: Counter<string> | null = null;
  new Gauge({
    name: 'ztroot_relay_up',
    help: 'The standalone TCP relay is running (1).',
    registers: [registry],
    collect() {
      this.set(1);
      // Counters are refreshed here, first in the scrape (see addRootMetrics).
      for (const c of families.values()) c.reset();
      relayed!.reset();
      for (const [family, labels] of Object.values(TCP_COUNTERS)) families.get(family)!.inc(labels, 0);
      for (const result of KNOWN_RELAY_RESULTS) relayed!.inc({ result }, 0);
      for (const [name, value] of relay.counters) {
        const tcp = TCP_COUNTERS[name];
        if (tcp !== undefined) families.get(tcp[0])!.inc(tcp[1], value);
        else if (name.startsWith('relay_')) relayed!.inc({ result: name.slice('relay_'.length) }, value);
      }
    },
  });
  relayed = new Counter({ name: 'ztroot_relay_datagrams_total', help: 'Datagrams through the standalone relay, by result (sent_udp, to_tunnel, drop_<reason>).', labelNames: ['result'], registers: [registry] });
  addTcpConnectionsGauge(registry, relay);
  for (const name of new Set(Object.values(TCP_COUNTERS).map(([f]) => f))) {
    const { help, labelNames } = COUNTER_FAMILIES[name]!;
    families.set(name, new Counter({ name, help, labelNames, registers: [registry] }));
  }
}

/** Something that validates identities (root/identity-validator.ts, or anything with its `validate`). */
export interface Validates<I> {
  validate(identity: I, source?: string): Promise<boolean>;
  cached?(identity: I): boolean | undefined;
  validatedBefore?(identity: I): Promise<boolean>;
}

/**
 * Wraps a validator so every validation's latency (queueing included: what a new client waits for)
 * lands in the histogram `ztroot_identity_validation_duration_seconds{result}` of `registry`.
 */
export function timeValidations<I>(validator: Validates<I>, registry: Registry): Validates<I> {
  const h = new Histogram({
    name: 'ztroot_identity_validation_duration_seconds',
    help: 'Time from a new identity HELLO to its validation result (memory-hard hash, queueing included).',
    labelNames: ['result'],
    // The hash takes ~25–50 ms on one core; a backlog shows up in the upper buckets.
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [registry],
  });
  for (const result of ['valid', 'invalid', 'error']) h.zero({ result }); // exported from the first scrape
  return {
    // The verdict cache, the remembered verdicts (no hash) and the requester's prefix (for fairness) pass through untimed.
    ...(validator.cached !== undefined ? { cached: (identity: I) => validator.cached!(identity) } : {}),
    ...(validator.validatedBefore !== undefined ? { validatedBefore: (identity: I) => validator.validatedBefore!(identity) } : {}),
    validate(identity: I, source?: string): Promise<boolean> {
      const t0 = performance.now();
      return validator.validate(identity, source).then(
        (valid) => {
          h.observe({ result: valid ? 'valid' : 'invalid' }, (performance.now() - t0) / 1000);
          return valid;
        },
        (e: unknown) => {
          h.observe({ result: 'error' }, (performance.now() - t0) / 1000);
          throw e;
        },
      );
    },
  };
}
