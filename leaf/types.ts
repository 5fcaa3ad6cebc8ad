/**
 * The public shapes of the leaf's VL1 node: its options, what it reports, and its events.
 * Kept apart from the class so callers (and the other leaf modules) can import them without the sockets.
 */
import type { Identity } from '../vl1/identity.js';
import type { InetAddress } from '../vl1/inet-address.js';
import type { World } from '../planet/world.js';
import type { DropReason } from './errors.js';
import type { UdpOpener } from './udp.js';

/** pino-compatible subset (`logger.info({ ...fields }, 'message')`). */
export interface Vl1Logger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
}

/**
 * Checks an identity's address against its key (the memory-hard hash, §2.4). The root's worker pool
 * (`root/identity-validator.ts`) has this shape, so a process running both can share it; `leaf/` itself
 * may not import it (DESIGN.md: `leaf/` imports only `vl1/` and `planet/`).
 */
export interface IdentityValidatorLike {
  validate(identity: Identity): Promise<boolean>;
}

export interface Vl1NodeOptions {
  /** Our identity; must hold the private key. */
  identity: Identity;
  /** The planet whose roots we use (adopted updates replace it, see `planet`). */
  planet: World;
  /**
   * Where to bind. With `address`, one socket of that address's family; without, '0.0.0.0' and '::'
   * (IPv6-only; skipped if the host has no IPv6). `port` 0 or absent = ephemeral. `extraPorts`: more sockets
   * per family (1.14's secondary and tertiary ports); a peer is answered from the one it spoke to.
   */
  bind?: { address?: string; port?: number; extraPorts?: number[] };
  /**
   * Opens the UDP sockets; default node:dgram. The process gives the batched sockets of native/udp here when that
   * addon loads (tools/leaf.ts): leaf/ itself loads no addon (leaf/udp.ts).
   */
  udpOpener?: UdpOpener;
  /** Clock in ms since the epoch (HELLO timestamps, path ages, RTTs). Default `Date.now`. */
  now?: () => number;
  logger?: Vl1Logger;
  /** Root HELLO period once the root has a path. Default 224000 (§7.2). */
  helloIntervalMs?: number;
  /** Root HELLO period while it has no path, and the housekeeping tick. Default 5000. */
  helloRetryMs?: number;
  /** What we advertise in HELLO / OK(HELLO). Defaults: protocol 12, version 1.14.1. */
  version?: { protocol?: number; major?: number; minor?: number; revision?: number };
  /** Validate identities first seen in a HELLO from a peer (as 1.14 does, §6.2). Default true. */
  validateIdentities?: boolean;
  /**
   * Who runs that validation. Default: `locallyValidate` in a later event-loop turn (`setImmediate`), so it
   * never runs inside the datagram handler — but it does still take the loop for its ~tens of ms.
   */
  validator?: IdentityValidatorLike;
  /** Largest datagram we send; bigger packets are fragmented. Default 1432 (`ZT_DEFAULT_PHYSMTU`). */
  mtu?: number;
  /** Minimum ms between OK(ECHO) replies per path; 0 = none (default; 1.14 uses ~166). */
  echoReplyIntervalMs?: number;
  /** Which physical addresses may become paths. Default: all (1.14 refuses loopback / link-local). */
  allowPath?: (a: InetAddress) => boolean;
  /**
   * A TCP fallback relay (1.14's `tcpFallbackRelay`, vl1.md §9.2). With `force` every datagram goes through
   * it and none over UDP (`forceTcpRelay`). Without, as 1.14: once no UDP has been received for
   * `fallbackAfterMs` (default 60 s, `ZT_TCP_FALLBACK_AFTER`) IPv4 datagrams also go through the tunnel,
   * UDP still in parallel, and the tunnel is closed once UDP is heard again within 30 s. UDP sockets are
   * bound either way and what arrives on them is received.
   */
  tcpRelay?: { address: InetAddress; force?: boolean; fallbackAfterMs?: number };
}

/** How a packet reached us, or how we sent one. */
export type Via = 'direct' | 'relayed';

/** An application packet (any verb the VL1 core does not consume, e.g. USER_MESSAGE 0x14). */
export interface ReceivedPacket {
  source: number;
  verb: number;
  /** Decrypted, decompressed payload (a copy). */
  payload: Uint8Array;
  via: Via;
  hops: number;
  /** Physical address the datagram came from (the root's, when relayed). */
  from: InetAddress;
  /** The packet id as it was on the wire: what an OK or ERROR answering it names. */
  packetId: bigint;
}

export interface DropEvent {
  reason: DropReason;
  from: InetAddress;
  detail?: string;
}

export interface Vl1NodeStats {
  datagramsIn: number;
  datagramsOut: number;
  /** Packets we originated, by verb name (`HELLO`, `ECHO`, `OK`, ...). */
  sent: Record<string, number>;
  /** Authenticated packets addressed to us, by verb name. */
  received: Record<string, number>;
  /** Unused datagrams by reason. */
  drops: Partial<Record<DropReason, number>>;
  /** Datagrams the UDP sockets failed to send. */
  readonly sendErrors: number;
}

export interface PathInfo {
  /** "ip/port". */
  address: string;
  inet: InetAddress;
  /** Always true here: only direct paths are stored (relaying is reported as `relayVia`). */
  direct: true;
  /** Configured with `addPath` rather than learned from an OK. */
  configured: boolean;
  /** Received on (or configured) within `ZT_PEER_PATH_EXPIRATION` (243 s). */
  alive: boolean;
  /** The path a packet to this peer goes on now (1.14's `preferred`: `Peer::getAppropriatePath`); at most one. */
  preferred: boolean;
  lastReceive: number | null;
  lastSend: number | null;
  latencyMs: number | null;
}

export interface PeerInfo {
  address: string;
  identity: string;
  isRoot: boolean;
  protocolVersion: number | null;
  version: string | null;
  latencyMs: number | null;
  lastReceive: number | null;
  paths: PathInfo[];
  /** The root a packet to this peer would go through now, or null when it would go direct (or nowhere). */
  relayVia: string | null;
}

export interface PingResult {
  rttMs: number;
  /** How the OK(ECHO) arrived. */
  via: Via;
}

export interface Vl1NodeEvents {
  packet: [ReceivedPacket];
  /** A root answered (first time, or again after being offline). */
  online: [];
  /** An OK(HELLO) carried a newer planet that we adopted. */
  planet: [World];
  drop: [DropEvent];
  /** A RENDEZVOUS from a root was accepted and acted upon. */
  rendezvous: [{ peer: number; endpoint: InetAddress }];
  /** An authenticated ERROR arrived (`networkId` and `errorData` for the network errors, vl2.md §2.4). */
  'peer-error': [{ source: number; inReVerb: number; inRePacketId: bigint; errorCode: number; networkId?: bigint; errorData?: Uint8Array }];
  /** A root sent ERROR(IDENTITY_COLLISION): 1.14 would throw its identity away and restart (§5.3). */
  'identity-collision': [{ root: number }];
}
