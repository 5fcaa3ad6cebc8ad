/**
 * The shape of `ztroot doctor --json`: stable, documented in the README ("ztroot doctor"). Add fields; never
 * rename or remove one (scripts read them). Times are ms, addresses "ip/port" as ZeroTier writes them.
 */

/** A planet as one side holds it: the local file, or what a root serves. */
export interface PlanetSummary {
  /** World id, 16 hex digits. */
  id: string;
  /** The planet's timestamp (ms since the epoch, as mkplanet writes it). */
  timestamp: number;
  /** SHA-256 of the serialized planet, hex. */
  sha256: string;
}

/** How a root's planet compares with the local one. */
export type PlanetRelation =
  /** Same id, timestamp and bytes. */
  | 'same'
  /** The root serves a newer planet of the same id: the local one is behind. */
  | 'root-newer'
  /** The root serves an older one: the root is behind. */
  | 'root-older'
  /** Same id and timestamp, different bytes: two planets were signed with one timestamp. */
  | 'conflict'
  /** The root sent no planet (it serves another planet id, or it is not a ztroot/1.x root), or it was not reached. */
  | 'unknown';

/** One UDP endpoint of a root, as the planet lists it. */
export interface UdpEndpointResult {
  /** "ip/port" from the planet. */
  endpoint: string;
  family: 4 | 6;
  /** OK(HELLO) came back. */
  ok: boolean;
  /** Round trip of the fastest HELLO → OK (the first may include the root validating our identity); null if none. */
  rttMs: number | null;
  /** This host's address as the root saw it (OK(HELLO)'s reflected address); null if none. */
  reflected: string | null;
  /** Where the OK came from, when that is not the endpoint the HELLO went to (a root listed at an address it does not send from). */
  repliedFrom: string | null;
  /** Why not ok (timeout, no socket of that family, send error). */
  error: string | null;
}

/** The TCP fallback relay on one address of a root. */
export interface TcpRelayResult {
  /** "ip/port" connected to. */
  address: string;
  /** The TCP connection opened and took the tunnel greeting (the 4-byte version hello) without closing. */
  greeting: boolean;
  /** A HELLO through the tunnel got its OK. */
  ok: boolean;
  rttMs: number | null;
  error: string | null;
}

export interface RootReport {
  /** The root's ZeroTier address, 10 hex digits. */
  address: string;
  udp: UdpEndpointResult[];
  tcp: TcpRelayResult[];
  /** The planet the root serves (from its OK(HELLO) world update), or null if it sent none. */
  planet: PlanetSummary | null;
  planetRelation: PlanetRelation;
  /**
   * When the root's planet is newer ('root-newer'): whether a client holding the local one takes it over the air
   * (same id, newer, signed by the local planet's update key: 1.14's rule); null otherwise.
   */
  planetUpdateAccepted: boolean | null;
  /**
   * The root's clock minus ours (ms, corrected by half the round trip): from the HELLO the root sends to contact
   * a new path of ours (to a few ms), else from the `Date` header of its `/api/planet` when that was the planet
   * source (±1 s); null when neither came (OK(HELLO) echoes our clock, it carries none of the root's).
   */
  clockSkewMs: number | null;
  /** Where clockSkewMs comes from. */
  clockSource: 'hello' | 'http' | null;
  /** Answers HELLO over UDP on at least one endpoint. */
  usable: boolean;
  /** Answers HELLO only through the TCP relay. */
  tcpOnly: boolean;
}

/** This host's NAT behaviour for one address family, from the addresses the roots reflected. */
export type NatKind =
  /** Every root saw our own address and port: no NAT. */
  | 'none'
  /** One mapped port for every root: endpoint-independent mapping (cone); direct paths by hole punching work. */
  | 'endpoint-independent'
  /** A different mapped port per root: symmetric (endpoint-dependent); direct paths to peers mostly fail. */
  | 'symmetric'
  /** Too little to tell (fewer than two roots answered, or none). */
  | 'unknown';

export interface NatReport {
  kind: NatKind;
  /** The local UDP port the probes were sent from (0: no socket). */
  localPort: number;
  /** Distinct reflected addresses, "ip/port". */
  mapped: string[];
  /** Roots (distinct root addresses) whose reflection was used. */
  roots: number;
}

export interface Advice {
  level: 'error' | 'warning' | 'info';
  /** Stable identifier for scripts, e.g. "udp-blocked". */
  code: string;
  message: string;
}

export interface DoctorReport {
  /** Bumped only if a field changes meaning. */
  schema: 1;
  /** Where the local planet came from: "file:PATH", "home:DIR", "url:URL". */
  source: string;
  planet: PlanetSummary;
  /** The ZeroTier address of the doctor's throwaway identity (the same every run while its cache file lives). */
  identity: string;
  /** This host's clock when the run started (ms). */
  startedAt: number;
  roots: RootReport[];
  nat: { v4: NatReport; v6: NatReport };
  /** No root answered over UDP on any endpoint (while at least one was tried). */
  udpBlocked: boolean;
  /** Roots behind the local planet / the local planet behind a root: root addresses. */
  rootsBehind: string[];
  localBehind: boolean;
  /** 'ok' (exit 0): every root usable over UDP and the planets agree; 'problems' (exit 1) otherwise. */
  verdict: 'ok' | 'problems';
  advice: Advice[];
}
