/**
 * UDP HELLO probes to every endpoint of every root, out of ONE socket per address family — so the addresses
 * the roots reflect show how a NAT maps that one socket towards different destinations (tools/doctor/nat.ts).
 *
 * Per endpoint: a HELLO every `retryMs` until the first OK (the first may wait for the root to validate our
 * identity), then one more HELLO whose OK gives a clean round trip, and one from a second socket that asks the
 * root for its clock (tools/doctor/hello-exchange.ts); given up at the deadline. Nothing here throws for an
 * endpoint that does not answer: it is reported with its error.
 */
import dgram from 'node:dgram';
import { once } from 'node:events';
import { formatInetAddress, type InetAddress } from '../../vl1/inet-address.js';
import type { OkHello } from '../../vl1/verbs/ok.js';
import type { RootPeer } from './hello-exchange.js';
import type { UdpEndpointResult } from './report.js';

export interface UdpTarget {
  peer: RootPeer;
  endpoint: InetAddress;
}

export interface UdpProbeResult extends UdpEndpointResult {
  /** The first OK(HELLO) (for its world updates), if any. */
  okHello: OkHello | null;
  /** The root's clock minus ours (ms), from the HELLO it sent to probe our second socket; null if none came. */
  clockSkewMs: number | null;
}

export interface UdpProbeOutcome {
  results: UdpProbeResult[];
  /** Local port of each family's socket (0: none could be bound). */
  localPort: { 4: number; 6: number };
}

/** Clock HELLOs per endpoint, and the pause before the second (the root probes one path at most once a second). */
const CLOCK_TRIES = 2;
const CLOCK_RETRY_MS = 1100;

interface State {
  t: UdpTarget;
  sent: Map<bigint, number>;
  oks: number;
  firstOkAt: number;
  lastSentAt: number;
  /** The HELLO sent after the first OK (its round trip has no identity validation in it), and whether it was answered. */
  cleanId: bigint | null;
  cleanDone: boolean;
  /** The root's clock from its HELLO, and when that HELLO arrived (0: not yet). */
  rootClock: number;
  rootClockAt: number;
  /** Clock HELLOs sent, and when the last one went. */
  clockTries: number;
  clockSentAt: number;
  res: UdpProbeResult;
}

/** Sockets for the families the targets need; a family this host cannot bind is reported per endpoint. */
async function openSockets(families: Set<4 | 6>): Promise<Map<4 | 6, dgram.Socket | string>> {
  const out = new Map<4 | 6, dgram.Socket | string>();
  for (const f of families) {
    const s = dgram.createSocket(f === 4 ? { type: 'udp4' } : { type: 'udp6', ipv6Only: true });
    try {
      s.bind(0, f === 4 ? '0.0.0.0' : '::');
      await Promise.race([once(s, 'listening'), once(s, 'error').then(([e]) => Promise.reject(e as Error))]);
      out.set(f, s);
    } catch (e) {
      s.close();
      out.set(f, `no IPv${f} UDP socket (${e instanceof Error ? e.message : String(e)})`);
    }
  }
  return out;
}

export async function probeUdp(targets: UdpTarget[], planetId: bigint, timeoutMs: number, retryMs = 400): Promise<UdpProbeOutcome> {
  const families = new Set(targets.map((t) => t.endpoint.family));
  const sockets = await openSockets(families);
  const clockSockets = await openSockets(families);
  const states: State[] = targets.map((t) => ({
    t,
    sent: new Map(),
    oks: 0,
    firstOkAt: 0,
    lastSentAt: -Infinity,
    cleanId: null,
    cleanDone: false,
    rootClock: 0,
    rootClockAt: 0,
    clockTries: 0,
    clockSentAt: 0,
    res: { endpoint: formatInetAddress(t.endpoint), family: t.endpoint.family, ok: false, rttMs: null, reflected: null, repliedFrom: null, error: null, okHello: null, clockSkewMs: null },
  }));
  const localPort = { 4: 0, 6: 0 };
  for (const [f, s] of sockets) if (typeof s !== 'string') localPort[f] = s.address().port;

  const rootHasClock = (s: State) => states.some((x) => x.t.peer === s.t.peer && x.rootClockAt > 0);
  const clockDone = (s: State, now: number) =>
    typeof clockSockets.get(s.t.endpoint.family) !== 'object' || rootHasClock(s) || (s.clockTries >= CLOCK_TRIES && now - s.clockSentAt >= 2 * retryMs);
  const finished = (s: State, now: number) => s.res.error !== null || (s.oks > 0 && (s.cleanDone || now - s.firstOkAt >= 2 * retryMs) && clockDone(s, now));
  const askClock = (s: State, now: number) => {
    const sock = clockSockets.get(s.t.endpoint.family);
    if (typeof sock !== 'object') return;
    s.clockTries++;
    s.clockSentAt = now;
    sock.send(s.t.peer.hello(s.t.endpoint, planetId, now, { askClock: true }).packet, s.t.endpoint.port, s.t.endpoint.ip);
  };
  let wake: () => void = () => {};

  const send = (s: State, sock: dgram.Socket): bigint => {
    const now = Date.now();
    const { packet, id } = s.t.peer.hello(s.t.endpoint, planetId, now);
    s.sent.set(id, now);
    s.lastSentAt = now;
    sock.send(packet, s.t.endpoint.port, s.t.endpoint.ip, (e) => {
      // A send that fails at once (no route: the family is not configured) will not get better: say so.
      if (e && s.oks === 0) s.res.error = `cannot send: ${e.message}`;
    });
    return id;
  };

  const onMessage = (msg: Buffer, rinfo: dgram.RemoteInfo) => {
    const now = Date.now();
    const d = new Uint8Array(msg.buffer, msg.byteOffset, msg.length);
    for (const s of states) {
      const ok = s.t.peer.readOk(d, s.sent);
      if (ok === null) continue;
      const rtt = Math.max(0, now - ok.timestampEcho);
      s.res.rttMs = s.res.rttMs === null ? rtt : Math.min(s.res.rttMs, rtt);
      if (ok.inRePacketId === s.cleanId) s.cleanDone = true;
      if (s.oks++ === 0) {
        s.firstOkAt = now;
        s.res.ok = true;
        s.res.okHello = ok;
        const sock = sockets.get(s.t.endpoint.family);
        // Earlier HELLOs may all have waited for the root to validate our identity: one more gives the plain round trip.
        if (typeof sock === 'object') s.cleanId = send(s, sock);
        askClock(s, now);
      }
      if (ok.physicalAddress) s.res.reflected = formatInetAddress(ok.physicalAddress);
      const from = `${rinfo.address}/${rinfo.port}`;
      s.res.repliedFrom = from === s.res.endpoint ? null : from;
      wake();
      return;
    }
  };
  // On the second socket only the root's HELLO matters (its OK there is not our mapping: the NAT check ignores it).
  const onClockMessage = (msg: Buffer, rinfo: dgram.RemoteInfo) => {
    const now = Date.now();
    const d = new Uint8Array(msg.buffer, msg.byteOffset, msg.length);
    const from = states.filter((s) => s.t.endpoint.ip === rinfo.address);
    for (const s of from.length > 0 ? from : states) {
      const clock = s.t.peer.readRootClock(d);
      if (clock === null) continue;
      s.rootClock = clock;
      s.rootClockAt = now;
      wake();
      return;
    }
  };
  for (const s of sockets.values()) if (typeof s === 'object') s.on('message', onMessage).on('error', () => {});
  for (const s of clockSockets.values()) if (typeof s === 'object') s.on('message', onClockMessage).on('error', () => {});

  const deadline = Date.now() + timeoutMs;
  try {
    for (;;) {
      const now = Date.now();
      for (const s of states) {
        // The root contacts a path at most once a second, and only so many paths of a peer per second (two runs
        // in a row reach that): a clock HELLO unanswered after a second is sent once more.
        if (s.oks > 0 && !rootHasClock(s) && s.clockTries < CLOCK_TRIES && now - s.clockSentAt >= CLOCK_RETRY_MS) askClock(s, now);
        if (finished(s, now) || s.oks > 0 || now - s.lastSentAt < retryMs) continue;
        const sock = sockets.get(s.t.endpoint.family);
        if (typeof sock === 'string') s.res.error = sock;
        else if (sock !== undefined) send(s, sock);
      }
      if (states.every((s) => finished(s, now)) || now >= deadline) break;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(retryMs / 4, Math.max(1, deadline - now)));
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  } finally {
    for (const s of [...sockets.values(), ...clockSockets.values()]) if (typeof s === 'object') s.close();
  }
  // The root stamped its HELLO about half a round trip before it arrived.
  for (const s of states) if (s.rootClockAt > 0) s.res.clockSkewMs = Math.round(s.rootClock - (s.rootClockAt - (s.res.rttMs ?? 0) / 2));
  for (const s of states) if (!s.res.ok && s.res.error === null) s.res.error = `no OK(HELLO) within ${timeoutMs} ms`;
  return { results: states.map((s) => s.res), localPort };
}
