/**
 * The live dashboard: a static page (dashboards/web/, no build step, no CDN) and a WebSocket (`/live`,
 * with `ws`) that pushes one snapshot a second — packet rates in/out/relayed/dropped (by reason), peers,
 * RENDEZVOUS rate, TCP relay clients, the fleet's roots and the probe matrix (root/probe-api.ts).
 *
 * Rates are computed here from the root's counters, once a second, only while someone is watching.
 */
import type http from 'node:http';
import { readFileSync } from 'node:fs';
import { createHash, timingSafeEqual } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { WebSocketServer, type WebSocket } from 'ws';
import { formatAddress } from '../vl1/address.js';
import type { World } from '../planet/world.js';
import { HostPolicy } from './host-check.js';
import type { ProbeApi, ProbeMatrix } from './probe-api.js';

/** What the dashboard reads from the root (RootServer satisfies it). */
export interface LiveSource {
  readonly identity: { address: number };
  readonly counters: ReadonlyMap<string, number>;
  readonly peers: { readonly size: number };
  readonly planet: World;
  readonly planetBytes: Uint8Array;
  /** The TCP fallback listener, when the root runs one. */
  readonly tunnel?: { readonly tunnels: number } | null;
}

/** One second's view, as sent to the page. */
export interface LiveSnapshot {
  time: number;
  address: string;
  peers: number;
  rates: { in: number; out: number; relayed: number; dropped: number; rendezvous: number };
  dropsByReason: Record<string, number>;
  tcpClients: number;
  roots: Array<{ address: string; planet: string; peers: number; heartbeatAgoSec: number }>;
  /** Roots × roots from the embedded probes; null without a running probe (`probeReason` says why). */
  probe: ProbeMatrix | null;
  probeReason: string | null;
}

// dist/root/live-dashboard.js → <repo>/dashboards/web
const WEB_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'dashboards', 'web');
const ASSETS: Record<string, { file: string; type: string }> = {
  '/': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/assets/app.js': { file: 'app.js', type: 'text/javascript; charset=utf-8' },
  '/assets/style.css': { file: 'style.css', type: 'text/css; charset=utf-8' },
};

/** Serves the page's static files; returns false for any other path. */
export function serveDashboardAsset(pathname: string, res: http.ServerResponse): boolean {
  if (pathname === '/favicon.ico') {
    // Browsers ask for it unprompted; "nothing" beats a 401/404 in the operator's console.
    res.writeHead(204);
    res.end();
    return true;
  }
  const a = ASSETS[pathname];
  if (a === undefined) return false;
  let body: Buffer;
  try {
    body = readFileSync(join(WEB_DIR, a.file));
  } catch {
    res.writeHead(500, { 'content-type': 'text/plain' });
    res.end(`dashboard asset ${a.file} is missing from ${WEB_DIR}\n`);
    return true;
  }
  res.writeHead(200, {
    'content-type': a.type,
    'cache-control': 'no-cache',
    // Everything the page needs comes from this origin; nothing else may run or load.
    'content-security-policy': "default-src 'self'; connect-src 'self'; img-src 'self' data:",
  });
  res.end(body);
  return true;
}

function sum(counters: ReadonlyMap<string, number>, pred: (name: string) => boolean): number {
  let n = 0;
  for (const [k, v] of counters) if (pred(k)) n += v;
  return n;
}

/**
 * Accepts WebSocket upgrades on `/live` of `server` (checking Host and Origin, then `?token=` when a token is
 * set) and pushes a snapshot every `intervalMs` to every client. Returns a function that stops it.
 * `hosts`: the Host policy of the server (default: that of the address it is bound to, no extra names).
 */
export function attachLiveDashboard(server: http.Server, root: LiveSource, opts: { token: string; hosts?: HostPolicy; intervalMs?: number; now?: () => number; probe?: () => ProbeApi }): () => void {
  const now = opts.now ?? Date.now;
  const bound = server.address();
  const hosts = opts.hosts ?? new HostPolicy(bound !== null && typeof bound === 'object' ? bound.address : '127.0.0.1');
  const wss = new WebSocketServer({ noServer: true, maxPayload: 1024 });
  const tokenOk = (given: string | null) => {
    if (opts.token === '') return true;
    const a = Buffer.from(given ?? '');
    const b = Buffer.from(opts.token);
    return a.length === b.length && timingSafeEqual(a, b);
  };
  const onUpgrade = (req: http.IncomingMessage, socket: import('node:stream').Duplex, head: Buffer) => {
    const url = new URL(req.url ?? '/', 'http://root');
    if (url.pathname !== '/live') return socket.destroy();
    // WebSockets ignore the same-origin policy: any page may open one to 127.0.0.1, so the Origin decides.
    if (!hosts.allowsUpgrade(req.headers.host, req.headers.origin)) {
      socket.end('HTTP/1.1 403 Forbidden\r\nConnection: close\r\n\r\n');
      return;
    }
    if (!tokenOk(url.searchParams.get('token'))) {
      socket.end('HTTP/1.1 401 Unauthorized\r\nConnection: close\r\n\r\n');
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws: WebSocket) => wss.emit('connection', ws, req));
  };
  server.on('upgrade', onUpgrade);

  let prev: { t: number; c: Map<string, number> } | null = null;
  const planetShort = () => `${root.planet.id.toString(16).padStart(16, '0')}@${root.planet.timestamp} ${createHash('sha256').update(root.planetBytes).digest('hex').slice(0, 12)}`;
  const snapshot = (): LiveSnapshot => {
    const t = now();
    const c = new Map(root.counters);
    const dt = prev === null ? 1 : Math.max(0.001, (t - prev.t) / 1000);
    const rate = (pred: (name: string) => boolean) => (prev === null ? 0 : Math.max(0, (sum(c, pred) - sum(prev.c, pred)) / dt));
    const dropsByReason: Record<string, number> = {};
    for (const k of c.keys()) if (k.startsWith('drop_')) dropsByReason[k.slice(5)] = rate((n) => n === k);
    const snap: LiveSnapshot = {
      time: t,
      address: formatAddress(root.identity.address),
      peers: root.peers.size,
      rates: {
        in: rate((n) => n.startsWith('rx_')),
        out: rate((n) => n.startsWith('tx_')),
        relayed: rate((n) => n === 'relayed'),
        dropped: rate((n) => n.startsWith('drop_')),
        rendezvous: rate((n) => n === 'rendezvous_sent'),
      },
      dropsByReason,
      tcpClients: root.tunnel?.tunnels ?? 0,
      roots: [{ address: formatAddress(root.identity.address), planet: planetShort(), peers: root.peers.size, heartbeatAgoSec: 0 }], // the fleet's other roots join with issue 6
      probe: opts.probe?.().matrix?.() ?? null,
      probeReason: opts.probe?.().notRunningReason() ?? 'this root runs no probe',
    };
    prev = { t, c };
    return snap;
  };
  const timer = setInterval(() => {
    if (wss.clients.size === 0) {
      prev = null;
      return;
    }
    const msg = JSON.stringify(snapshot());
    for (const ws of wss.clients) if (ws.readyState === ws.OPEN && ws.bufferedAmount < 1 << 20) ws.send(msg);
  }, opts.intervalMs ?? 1000);
  timer.unref();

  return () => {
    clearInterval(timer);
    server.off('upgrade', onUpgrade);
    for (const ws of wss.clients) ws.terminate();
    wss.close();
  };
}
