/**
 * From the probes' results to a verdict and advice lines (pure: tested without a network). The advice follows
 * ZeroTier's troubleshooting FAQ where it applies: firewall rules (UDP 9993 out and back), a planet not
 * installed or out of date, a root listed at an address it does not send from; and says what a NAT means for
 * direct paths. Exit 0 needs no 'error' line: every root answers over UDP and serves the local planet.
 */
import type { Advice, NatReport, PlanetRelation, PlanetSummary, RootReport } from './report.js';

/** A skew beyond this is worth a line (ZeroTier itself tolerates skew; certificates of membership and logs do not). */
export const CLOCK_SKEW_WARN_MS = 10_000;

export function planetRelation(local: PlanetSummary, served: PlanetSummary | null): PlanetRelation {
  if (served === null || served.id !== local.id) return 'unknown';
  if (served.timestamp > local.timestamp) return 'root-newer';
  if (served.timestamp < local.timestamp) return 'root-older';
  return served.sha256 === local.sha256 ? 'same' : 'conflict';
}

function when(ts: number): string {
  return Number.isFinite(ts) && ts > 0 && ts < 8.64e15 ? `${ts} (${new Date(ts).toISOString()})` : String(ts);
}

export interface Diagnosis {
  udpBlocked: boolean;
  rootsBehind: string[];
  localBehind: boolean;
  verdict: 'ok' | 'problems';
  advice: Advice[];
}

export function diagnose(local: PlanetSummary, roots: readonly RootReport[], nat: { v4: NatReport; v6: NatReport }): Diagnosis {
  const advice: Advice[] = [];
  const add = (level: Advice['level'], code: string, message: string) => advice.push({ level, code, message });
  const triedUdp = roots.some((r) => r.udp.length > 0);
  const udpBlocked = triedUdp && !roots.some((r) => r.udp.some((e) => e.ok));

  if (roots.length === 0) add('error', 'no-roots', `the planet ${local.id} lists no roots: make one with mkplanet that lists your roots`);
  if (udpBlocked) {
    const viaTcp = roots.filter((r) => r.tcp.some((t) => t.ok)).map((r) => r.address);
    add(
      'error',
      'udp-blocked',
      `no root answered over UDP: UDP to the roots' port 9993 (or its replies) is blocked on this host or its network. ` +
        `Allow outbound UDP to ${[...new Set(roots.flatMap((r) => r.udp.map((e) => e.endpoint)))].join(', ')} and the replies (ZeroTier's FAQ: firewall rules)` +
        (viaTcp.length > 0 ? `. Meanwhile ZeroTier One falls back to the TCP relay of ${viaTcp.join(', ')} after 60 s without UDP: it works, every packet relayed, slower` : '. No TCP relay answered either: this host cannot reach the planet at all'),
    );
  }
  for (const r of roots) {
    if (!udpBlocked && !r.usable) {
      add('error', 'root-unreachable', `root ${r.address} does not answer HELLO over UDP at ${r.udp.map((e) => e.endpoint).join(', ')}: is it running, and does the firewall in front of it let UDP 9993 in?`);
    }
    if (r.usable) {
      for (const e of r.udp.filter((x) => !x.ok)) add('warning', 'endpoint-unreachable', `root ${r.address} does not answer at ${e.endpoint} (${e.error ?? 'no answer'}), though it does at another endpoint`);
    }
    for (const e of r.udp.filter((x) => x.repliedFrom !== null)) {
      add('warning', 'reply-from-other-address', `root ${r.address} is listed at ${e.endpoint} but answers from ${e.repliedFrom}: the planet lists an address the root does not send from (a NAT in front of it, or a wrong --endpoint); clients may drop its replies. List ${e.repliedFrom} in the planet, or run the root where it sends from the address it is listed at`);
    }
    if (!udpBlocked && r.tcp.length > 0 && !r.tcp.some((x) => x.greeting)) {
      add('info', 'no-tcp-relay', `root ${r.address} has no TCP relay at ${r.tcp.map((x) => x.address).join(', ')} (${r.tcp[0]!.error ?? ''}): clients whose UDP is blocked cannot fall back to it (ztroot start --tcp-relay '[::]:443')`);
    }
    for (const t of r.tcp.filter((x) => x.greeting && !x.ok)) add('warning', 'tcp-relay-no-answer', `the TCP relay at ${t.address} took the greeting but a HELLO through it got no answer (${t.error ?? ''})`);
    if (r.clockSkewMs !== null && Math.abs(r.clockSkewMs) > CLOCK_SKEW_WARN_MS) {
      add('warning', 'clock-skew', `root ${r.address}'s clock is ${(r.clockSkewMs / 1000).toFixed(0)} s ${r.clockSkewMs > 0 ? 'ahead of' : 'behind'} this host's: run NTP (chrony, systemd-timesyncd) on both`);
    }
  }

  const reached = roots.filter((r) => r.usable || r.tcpOnly);
  const rootsBehind = reached.filter((r) => r.planetRelation === 'root-older').map((r) => r.address);
  const newer = reached.filter((r) => r.planetRelation === 'root-newer');
  const localBehind = newer.length > 0;
  if (localBehind) {
    const n = newer[0]!;
    const overTheAir =
      n.planetUpdateAccepted === true
        ? "ZeroTier One takes it over the air at its next HELLO (it is signed by the local planet's update key); a host that only holds the file needs it copied"
        : n.planetUpdateAccepted === false
          ? "ZeroTier One will NOT take it over the air (it is not signed by the local planet's update key): install it by hand on every client"
          : "ZeroTier One takes it over the air only when it is signed by the local planet's update key";
    add('error', 'local-planet-behind', `the local planet (timestamp ${when(local.timestamp)}) is older than the one root${newer.length > 1 ? 's' : ''} ${newer.map((r) => r.address).join(', ')} serve${newer.length > 1 ? '' : 's'} (timestamp ${when(n.planet!.timestamp)}): install the newer planet (/api/planet?format=bin on a root downloads it). ${overTheAir}`);
  }
  if (rootsBehind.length > 0) add('error', 'root-planet-behind', `root${rootsBehind.length > 1 ? 's' : ''} ${rootsBehind.join(', ')} serve${rootsBehind.length > 1 ? '' : 's'} an older planet than the local one (timestamp ${when(local.timestamp)}): deploy the newer planet to ${rootsBehind.length > 1 ? 'them' : 'it'} (copy it to the state directory's planet file; the root picks it up within seconds)`);
  for (const r of reached.filter((x) => x.planetRelation === 'conflict')) add('error', 'planet-conflict', `root ${r.address} serves a different planet with the same id and timestamp (SHA-256 ${r.planet!.sha256.slice(0, 16)}… vs ${local.sha256.slice(0, 16)}…): two planets were signed with one timestamp; make a newer one and deploy it everywhere`);
  for (const r of reached.filter((x) => x.planetRelation === 'unknown')) add('error', 'planet-not-served', `root ${r.address} answers but sent no planet of id ${local.id}: it serves another planet (or is not a root of this one). Check its planet file`);

  for (const [fam, n] of [['IPv4', nat.v4], ['IPv6', nat.v6]] as const) {
    if (n.kind === 'symmetric') {
      add('warning', 'symmetric-nat', `${fam}: this host is behind a symmetric NAT (one local port ${n.localPort}, a different mapping per root: ${n.mapped.join(', ')}). Peers cannot reach it directly by hole punching: its traffic stays relayed through the roots unless the NAT maps ports (UPnP/NAT-PMP) or the other peer has a public address or an endpoint-independent NAT`);
    } else if (n.kind === 'endpoint-independent') {
      add('info', 'nat-endpoint-independent', `${fam}: behind a NAT with endpoint-independent mapping (port ${n.localPort} → ${n.mapped.join(', ')} for every root): direct paths by hole punching work`);
    } else if (n.kind === 'none') {
      add('info', 'nat-none', `${fam}: no NAT (the roots see this host's own address ${n.mapped.join(', ')})`);
    }
  }
  const verdict = advice.some((a) => a.level === 'error') ? 'problems' : 'ok';
  return { udpBlocked, rootsBehind, localBehind, verdict, advice };
}
