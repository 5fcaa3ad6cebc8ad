/**
 * The TCP/443 fallback relay of one root address, as a 1.14 client uses it (vl1.md §9): connect, send the
 * 4-byte version greeting, then a HELLO framed with the root's UDP endpoint as destination; the root answers
 * on the tunnel. A relay sends no greeting back, so "greeting" means the connection opened and stayed open
 * after ours. Bounded by `timeoutMs`; every failure is a result, never a throw.
 */
import net from 'node:net';
import { formatInetAddress, type InetAddress } from '../../vl1/inet-address.js';
import { decodeTunnelRecord, encodeTunnelHello, encodeTunnelRecord, TunnelRecordReader } from '../../vl1/tcp-framing.js';
import type { RootPeer } from './hello-exchange.js';
import type { OkHello } from '../../vl1/verbs/ok.js';
import type { TcpRelayResult } from './report.js';

export interface TcpProbeResult extends TcpRelayResult {
  /** The first OK(HELLO) through the tunnel (for its world updates), if any. */
  okHello: OkHello | null;
}

/** The version our greeting claims: 1.14.1, what the HELLO claims too. */
const VERSION = { major: 1, minor: 14, revision: 1 };

/**
 * @param relay where the relay listens (the root's IP, the relay port)
 * @param udpEndpoint the root's UDP endpoint the HELLO is addressed to inside the tunnel
 */
export function probeTcpRelay(peer: RootPeer, relay: InetAddress, udpEndpoint: InetAddress, planetId: bigint, timeoutMs: number, retryMs = 400): Promise<TcpProbeResult> {
  const res: TcpProbeResult = { address: formatInetAddress(relay), greeting: false, ok: false, rttMs: null, error: null, okHello: null };
  return new Promise((resolve) => {
    const sent = new Map<bigint, number>();
    const reader = new TunnelRecordReader();
    let retry: NodeJS.Timeout | undefined;
    let settled = false;
    const sock = net.connect({ host: relay.ip, port: relay.port, noDelay: true });
    const finish = (error: string | null) => {
      if (settled) return;
      settled = true;
      clearTimeout(deadline);
      clearInterval(retry);
      if (!res.ok) res.error = error;
      sock.destroy();
      resolve(res);
    };
    const deadline = setTimeout(() => finish(res.greeting ? `no OK(HELLO) through the tunnel within ${timeoutMs} ms` : `no TCP connection within ${timeoutMs} ms`), timeoutMs);
    let cleanId: bigint | null = null;
    const sendHello = (): bigint => {
      const { packet, id } = peer.hello(udpEndpoint, planetId);
      sent.set(id, Date.now());
      sock.write(encodeTunnelRecord(packet, udpEndpoint));
      return id;
    };
    sock.on('connect', () => {
      sock.write(encodeTunnelHello(VERSION));
      res.greeting = true;
      sendHello();
      retry = setInterval(sendHello, retryMs);
    });
    sock.on('data', (chunk: Buffer) => {
      reader.push(new Uint8Array(chunk));
      for (;;) {
        let body: Uint8Array | null;
        try {
          body = reader.next();
        } catch (e) {
          return finish(`the relay's stream is not ZeroTier framing (${e instanceof Error ? e.message : String(e)})`);
        }
        if (body === null) return;
        let rec;
        try {
          rec = decodeTunnelRecord(body);
        } catch {
          continue;
        }
        if (rec.kind !== 'datagram') continue;
        const ok = peer.readOk(rec.datagram.slice(), sent);
        if (ok === null) continue; // e.g. the root's ECHO probing the tunnel as a path
        const rtt = Math.max(0, Date.now() - ok.timestampEcho);
        res.rttMs = res.rttMs === null ? rtt : Math.min(res.rttMs, rtt);
        if (res.ok && ok.inRePacketId !== cleanId) continue; // a late answer to an earlier HELLO
        if (res.ok) return finish(null);
        // The first answer may have waited for the root to validate our identity: one more HELLO gives the plain
        // round trip (or, unanswered within two retry periods, the first one stands).
        res.ok = true;
        res.okHello = ok;
        clearInterval(retry);
        cleanId = sendHello();
        setTimeout(() => finish(null), 2 * retryMs).unref();
      }
    });
    sock.on('error', (e) => finish(`${res.greeting ? 'the tunnel failed' : 'cannot connect'}: ${e.message}`));
    sock.on('close', () => {
      if (settled) return;
      if (res.greeting) res.greeting = false; // closed on us: the greeting (or what followed) was refused
      finish('the relay closed the connection');
    });
  });
}
