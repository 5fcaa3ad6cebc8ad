/**
 * A peer's physical path moves only to an address that proves it holds the peer's key.
 *
 * ZeroTier packets are replayable: a HELLO, WHOIS or ECHO recorded once authenticates again from anywhere. A root
 * that moved a peer's path to wherever its latest authentic packet came from let a replay from another address
 * divert the peer's relayed traffic (40 of 50 packets, one replay a second) and name the attacker's address in
 * RENDEZVOUS. 1.14 learns a path only from an authentic OK to something it sent there (vl1.md §7.3, `Peer::received`
 * and `attemptToContactAt`), and so does the root now:
 *
 *   authentic packet on the peer's current path ─► liveness refreshed
 *   authentic packet anywhere else              ─► answered where it came from (replies always are), and that
 *                                                  address probed: ECHO with a fresh packet id (HELLO to protocol < 5)
 *   authentic OK naming a probe, from the very address (and socket or tunnel) it was sent to ─► the path moves there
 *
 * A replay can make the root probe, never move: the probe's id is new, so no recorded OK answers it, and only the
 * peer's key can make a new one. Roaming (a NAT mapping that really changed) costs one round trip after the peer's
 * first packet to the root from its new address.
 *
 * Bounded: at most MAX_PENDING probes outstanding per peer (the oldest gives way), one per path per PROBE_RETRY_MS,
 * and PROBES_PER_SECOND per peer, so replays from many addresses cannot make the root a reflector; the root also
 * passes each probe through its per-IP reply budget.
 */
import type { RootPeer } from './peer-table.js';

/** Outstanding probes per peer: a 1.14 client sends from up to 3 sockets per family, and it may roam meanwhile. */
const MAX_PENDING = 6;
/** A path is probed again only after this long (ms); 1.14 answers one ECHO per path per ~166 ms. */
const PROBE_RETRY_MS = 1000;
/** A probe unanswered this long (ms) is forgotten. */
const PROBE_TIMEOUT_MS = 10_000;
/** Probes one peer may cause per second (a fixed one-second window). */
const PROBES_PER_SECOND = 8;

/** A probe sent to one path of a peer, waiting for its OK. */
export interface PendingProbe {
  /** The packet id an OK names (for suite 3, the id as it was on the wire; vl1.md §3.2). */
  id: bigint;
  sock: number;
  ip: string;
  port: number;
  sentAt: number;
}

/** What the probes need of the root. */
export interface ProbeHost {
  /**
   * Sends a probe to `peer` on path `sock` at ip:port and returns the id its OK will name, or null when it could
   * not be sent (no budget for that IP, socket gone).
   */
  sendProbe(peer: RootPeer, sock: number, ip: string, port: number): bigint | null;
  count(name: string): void;
}

/** Whether (sock, ip, port) is the peer's current path of `family` (or its current tunnel, for sock < 0). */
export function isCurrentPath(peer: RootPeer, family: 4 | 6, sock: number, ip: string, port: number): boolean {
  if (sock < 0) return sock === peer.tunnelSock;
  return family === 4 ? peer.sock4 === sock && peer.port4 === port && peer.ip4 === ip : peer.sock6 === sock && peer.port6 === port && peer.ip6 === ip;
}

export class PathProbes {
  constructor(private readonly host: ProbeHost) {}

  /** An authentic packet from `peer` arrived on a path that is not its current one: probe it (bounded). */
  probe(peer: RootPeer, sock: number, ip: string, port: number, now: number): void {
    const pending = peer.probes ?? [];
    for (let i = pending.length - 1; i >= 0; i--) if (now - pending[i]!.sentAt >= PROBE_TIMEOUT_MS) pending.splice(i, 1);
    peer.probes = pending; // the table keeps a list only while it holds probes
    if (pending.some((p) => p.sock === sock && p.port === port && p.ip === ip && now - p.sentAt < PROBE_RETRY_MS)) return;
    if (now - peer.probeWindowStart >= 1000) {
      peer.probeWindowStart = now;
      peer.probesInWindow = 0;
    }
    if (peer.probesInWindow >= PROBES_PER_SECOND) return this.host.count('path_probe_rate_limited');
    const id = this.host.sendProbe(peer, sock, ip, port);
    if (id === null) return;
    peer.probesInWindow++;
    if (pending.length >= MAX_PENDING) pending.shift();
    pending.push({ id, sock, ip, port, sentAt: now });
    peer.probes = pending;
    this.host.count('path_probes_sent');
  }

  /**
   * An authentic OK from `peer` naming packet `inReId`, arrived on (sock, ip, port): true when it answers a probe
   * sent to exactly that path — the path is proven and may be adopted. The probe is then forgotten.
   */
  confirm(peer: RootPeer, inReId: bigint, sock: number, ip: string, port: number, now: number): boolean {
    const pending = peer.probes;
    if (pending === null) return false;
    const i = pending.findIndex((p) => p.id === inReId);
    if (i < 0) return false;
    const p = pending[i]!;
    pending.splice(i, 1);
    peer.probes = pending;
    if (p.sock !== sock || p.port !== port || p.ip !== ip || now - p.sentAt >= PROBE_TIMEOUT_MS) {
      this.host.count('path_probe_mismatch');
      return false;
    }
    this.host.count('path_probes_confirmed');
    return true;
  }
}
