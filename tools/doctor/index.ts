/**
 * `ztroot doctor`: checks a planet's roots from this host (see tools/doctor/options.ts for the command line,
 * report.ts for the JSON). The steps each live in a module of their own: planet-source (the local planet),
 * identity-cache (the throwaway identity), udp-probe and tcp-probe (HELLO → OK, over hello-exchange), nat (the
 * NAT's behaviour), diagnose (verdict and advice), render (text).
 */
import { networkInterfaces } from 'node:os';
import { formatAddress } from '../../vl1/address.js';
import type { InetAddress } from '../../vl1/inet-address.js';
import { RootPeer, planetIn } from './hello-exchange.js';
import { loadOrCreateThrowawayIdentity } from './identity-cache.js';
import { classifyNat, type Reflection } from './nat.js';
import { parseDoctorArgs } from './options.js';
import { loadPlanet, summarize } from './planet-source.js';
import { probeTcpRelay, type TcpProbeResult } from './tcp-probe.js';
import { probeUdp, type UdpProbeResult } from './udp-probe.js';
import { diagnose, planetRelation } from './diagnose.js';
import { renderText } from './render.js';
import { worldUpdateVerdict } from '../../planet/world.js';
import type { DoctorReport, PlanetSummary, RootReport, TcpRelayResult } from './report.js';

function localIps(): Set<string> {
  const out = new Set<string>();
  for (const list of Object.values(networkInterfaces())) for (const a of list ?? []) out.add(a.address.replace(/%.*$/, ''));
  return out;
}

function parseReflected(s: string): { ip: string; port: number } | null {
  const i = s.lastIndexOf('/');
  return i < 0 ? null : { ip: s.slice(0, i), port: Number(s.slice(i + 1)) };
}

export async function main(argv: string[]): Promise<number> {
  const opts = parseDoctorArgs(argv);
  if ('print' in opts) {
    console.log(opts.print);
    return 0;
  }
  const startedAt = Date.now();
  const local = await loadPlanet(opts.source, opts.timeoutMs);
  const localSummary = summarize(local.world, local.bytes);
  const { identity, warning } = loadOrCreateThrowawayIdentity(opts.identityCache);
  if (warning !== null) process.stderr.write(`ztroot doctor: ${warning}\n`);

  const peers = local.world.roots.map((r) => new RootPeer(identity, r.identity));
  const udpTargets = peers.flatMap((peer, i) => local.world.roots[i]!.stableEndpoints.map((endpoint) => ({ peer, endpoint })));
  const tcpTargets: Array<{ root: number; peer: RootPeer; relay: InetAddress; endpoint: InetAddress }> = [];
  if (opts.tcpPort !== 0) {
    peers.forEach((peer, i) => {
      const seen = new Set<string>();
      for (const e of local.world.roots[i]!.stableEndpoints) {
        if (seen.has(e.ip)) continue;
        seen.add(e.ip);
        tcpTargets.push({ root: i, peer, relay: { family: e.family, ip: e.ip, port: opts.tcpPort }, endpoint: e });
      }
    });
  }
  // Both at once: a run takes one timeout at most, whatever is blocked.
  const [udp, tcp] = await Promise.all([
    probeUdp(udpTargets, local.world.id, opts.timeoutMs),
    Promise.all(tcpTargets.map((t) => probeTcpRelay(t.peer, t.relay, t.endpoint, local.world.id, opts.timeoutMs))),
  ]);

  const roots: RootReport[] = local.world.roots.map((r, i) => {
    const mine = udp.results.filter((_, j) => udpTargets[j]!.peer === peers[i]);
    const tcpMine = tcp.filter((_, j) => tcpTargets[j]!.root === i);
    // The planet from the first OK over UDP, else through the relay (UDP blocked).
    const firstOk = mine.find((e) => e.okHello !== null)?.okHello ?? tcpMine.find((t) => t.okHello !== null)?.okHello ?? null;
    const served = firstOk !== null ? planetIn(firstOk, local.world.id) : null;
    const planet: PlanetSummary | null = served === null ? null : summarize(served.world, served.bytes);
    const usable = mine.some((e) => e.ok);
    const tcpOnly = !usable && tcpMine.some((t) => t.ok);
    const relation = usable || tcpOnly ? planetRelation(localSummary, planet) : 'unknown';
    const isHttpHost = local.http !== undefined && local.http.clockSkewMs !== null && r.stableEndpoints.some((e) => e.ip === local.http!.host);
    const clocked = mine.filter((e) => e.clockSkewMs !== null).sort((a, b) => (a.rttMs ?? Infinity) - (b.rttMs ?? Infinity))[0];
    return {
      address: formatAddress(r.identity.address),
      udp: mine.map(({ okHello: _okHello, clockSkewMs: _clock, ...rest }: UdpProbeResult) => rest),
      tcp: tcpMine.map(({ okHello: _okHello, ...rest }: TcpProbeResult): TcpRelayResult => rest),
      planet,
      planetRelation: relation,
      planetUpdateAccepted: relation === 'root-newer' ? worldUpdateVerdict(local.world, served!.world).accepted : null,
      clockSkewMs: clocked !== undefined ? clocked.clockSkewMs : isHttpHost ? local.http!.clockSkewMs : null,
      clockSource: clocked !== undefined ? 'hello' : isHttpHost ? 'http' : null,
      usable,
      tcpOnly,
    };
  });

  const ips = localIps();
  const reflections = (family: 4 | 6): Reflection[] =>
    udp.results.flatMap((e, j) => {
      const p = e.ok && e.family === family && e.reflected !== null ? parseReflected(e.reflected) : null;
      return p === null ? [] : [{ root: formatAddress(udpTargets[j]!.peer.root.address), ...p }];
    });
  const nat = { v4: classifyNat(reflections(4), udp.localPort[4], ips), v6: classifyNat(reflections(6), udp.localPort[6], ips) };
  const d = diagnose(localSummary, roots, nat);
  const report: DoctorReport = { schema: 1, source: local.label, planet: localSummary, identity: formatAddress(identity.address), startedAt, roots, nat, ...d };
  console.log(opts.json ? JSON.stringify(report, null, 2) : renderText(report));
  return report.verdict === 'ok' ? 0 : 1;
}
