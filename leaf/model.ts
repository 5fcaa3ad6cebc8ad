/**
 * What the leaf's local API (leaf/local-api.ts) and CLI read and change: plain data about the node, its peers and
 * its networks, as the leaf (leaf/leaf.ts) holds it. No I/O here; the API maps these to 1.14's JSON shapes
 * (shared/protocol/vl2.md §8.2), the leaf fills them.
 */

import type { World } from '../planet/world.js';

/** vl2.md §2.5. */
export type NetworkStatus = 'REQUESTING_CONFIGURATION' | 'OK' | 'ACCESS_DENIED' | 'NOT_FOUND' | 'PORT_ERROR' | 'CLIENT_TOO_OLD' | 'AUTHENTICATION_REQUIRED';

/** Per-network local settings (1.14's allowManaged/allowGlobal/allowDefault/allowDNS, vl2.md §7.3). */
export interface NetworkSettings {
  allowManaged: boolean;
  allowGlobal: boolean;
  allowDefault: boolean;
  allowDNS: boolean;
}

export const DEFAULT_NETWORK_SETTINGS: Readonly<NetworkSettings> = Object.freeze({ allowManaged: true, allowGlobal: false, allowDefault: false, allowDNS: false });

export interface LeafStatus {
  address: number;
  /** `addr:0:pubhex`. */
  publicIdentity: string;
  online: boolean;
  tcpFallbackActive: boolean;
  planetWorldId: bigint;
  planetWorldTimestamp: number;
  version: { major: number; minor: number; revision: number; build: number };
  homeDir: string;
  primaryPort: number;
  secondaryPort: number;
  tertiaryPort: number;
  portMappingEnabled: boolean;
  allowTcpFallbackRelay: boolean;
  forceTcpRelay: boolean;
  /** "ip/port" of every bound socket. */
  listeningOn: string[];
  /** "ip/port" our peers and roots see us at (OK(HELLO) reflections, port mappings). */
  surfaceAddresses: string[];
  /** local.conf's `settings` object as read (unknown keys kept). */
  settings: Record<string, unknown>;
}

export interface LeafPath {
  /** "ip/port". */
  address: string;
  lastReceive: number;
  lastSend: number;
  preferred: boolean;
  expired: boolean;
  /** An opaque handle of the local socket. */
  localSocket: number;
}

export interface LeafPeer {
  address: number;
  role: 'LEAF' | 'MOON' | 'PLANET';
  /** Null when unknown (1.14 prints "-1.-1.-1"). */
  version: { major: number; minor: number; revision: number } | null;
  /** Null when unknown (1.14: -1). */
  latencyMs: number | null;
  tunneled: boolean;
  paths: LeafPath[];
}

export interface LeafRoute {
  /** "ip/bits". */
  target: string;
  /** Null: on-link. */
  via: string | null;
  flags: number;
  metric: number;
}

export interface LeafNetwork {
  nwid: bigint;
  mac: bigint;
  name: string;
  status: NetworkStatus;
  type: 'PRIVATE' | 'PUBLIC';
  mtu: number;
  broadcastEnabled: boolean;
  bridge: boolean;
  portError: number;
  netconfRevision: number;
  /** The TAP device's name ("" when there is none). */
  portDeviceName: string;
  /** "ip/bits", in config order. */
  assignedAddresses: string[];
  routes: LeafRoute[];
  multicastSubscriptions: Array<{ mac: bigint; adi: number }>;
  dns: { domain: string; servers: string[] };
  settings: NetworkSettings;
}

/** The leaf as its local API and CLI see it. */
export interface LeafModel {
  status(): LeafStatus;
  peers(): LeafPeer[];
  networks(): LeafNetwork[];
  /** Joins (idempotent; settings given are applied) and returns the network as it is now. */
  join(nwid: bigint, settings?: Partial<NetworkSettings>): LeafNetwork;
  /** Leaves; false when it was not joined. */
  leave(nwid: bigint): boolean;
  /** Prometheus text of the leaf's metrics (1.14's names, vl2.md §8.3). */
  metricsText(): string;
  /**
   * The moons orbited (GET /moon). Optional: without it the API lists none and refuses to orbit (501).
   * Added by the local API (leaf/local-api.ts).
   */
  moons?(): World[];
  /**
   * Orbits moon `moonId`, fetching it from `seed` (a root's address) when it is not known yet (POST /moon/<id>,
   * `zerotier-cli orbit`); the leaf keeps it in moons.d once it has it (leaf/home.ts saveMoon).
   */
  orbit?(moonId: bigint, seed: number): void;
  /** Stops orbiting moon `moonId` (DELETE /moon/<id>, `zerotier-cli deorbit`); false when it was not orbited. */
  deorbit?(moonId: bigint): boolean;
}
