/**
 * The root's HTTP side (node:http): Prometheus metrics, a small JSON API, health and readiness.
 *
 *   GET /metrics         Prometheus text (bearer token when configured)
 *   GET /api/status      identity, planet summary, uptime, counts, counters
 *   GET /api/peers       ?offset=&limit= (≤ 1000): address, paths, last seen, version, path kind
 *   GET /api/planet      the planet's summary; ?format=bin gives the planet file itself
 *   GET /healthz         200 while the process serves HTTP
 *   GET /api/probe       the embedded probe's report (root/probe-api.ts, tools/probe/)
 *   GET /readyz          200 when the UDP sockets are bound and a planet is loaded, else 503 with reasons;
 *                        details.probe says why the probe is not running (never a reason to be unready)
 *   GET /                the live dashboard (root/live-dashboard.ts; its WebSocket is /live)
 *
 * Listens on localhost by default: the API shows peers' addresses, which is not for the world.
 */
import http from 'node:http';
import { timingSafeEqual, createHash } from 'node:crypto';
import type { Registry } from 'prom-client';
import { formatAddress } from '../vl1/address.js';
import { formatInetAddress } from '../vl1/inet-address.js';
import type { World } from '../planet/world.js';
import { coarseSeconds, type RootPeer } from './peer-table.js';
import { serveDashboardAsset } from './live-dashboard.js';
import { HostPolicy } from './host-check.js';
import type { ProbeApi } from './probe-api.js';
import { aesGmacSivEngine } from '../vl1/aes-gmac-siv-engine.js';

/** What the API reads from the root (RootServer satisfies it). */
export interface HttpApiSource {
  readonly identity: { address: number; toString(includePrivate?: boolean): string };
  readonly counters: ReadonlyMap<string, number>;
  readonly peers: { readonly size: number; values(): IterableIterator<RootPeer> };
  /** Of `peers`, the fleet's probe leaves. */
  readonly probePeerCount?: number;
  readonly planet: World;
  readonly planetBytes: Uint8Array;
  readonly ports: number[];
  /** Which UDP path the sockets take, and why when it is the node:dgram fallback (relay/udp-socket.ts). */
  readonly udpPath?: { path: 'batched' | 'dgram'; why: string | null };
  /** The TCP fallback listener, when the root runs one. */
  readonly tunnel?: { readonly port: number; readonly connections: number; readonly tunnels: number } | null;
}

export interface HttpApiOptions {
  /** Required bearer token for /metrics (and /api/*); empty = none. */
  token: string;
  /** Version string shown in /api/status. */
  version: string;
  /** The memory-hard hash the identity validator runs (`native-avx2`, `js`, …), shown in /api/status as identityHash. */
  identityHash?: string;
  /** The embedded probe (root/probe-api.ts): /api/probe, and /readyz details. Absent: /api/probe says there is none. */
  probe?: () => ProbeApi;
}

const MAX_PAGE = 1000;

/**
 * Open connections the HTTP server holds at most; more are closed as soon as they are accepted. It bounds the
 * descriptors the API can take (the TCP relay keeps this many free for it: relay/fd-budget.ts), and a
 * scraper, an orchestrator's probes and a few dashboards need far fewer.
 */
export const HTTP_MAX_CONNECTIONS = 64;

function json(res: http.ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body, (_k, v) => (typeof v === 'bigint' ? v.toString(16) : v));
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' });
  res.end(text);
}

function tokenOk(req: http.IncomingMessage, token: string): boolean {
  if (token === '') return true;
  const got = Buffer.from(req.headers.authorization ?? '');
  const want = Buffer.from(`Bearer ${token}`);
  return got.length === want.length && timingSafeEqual(got, want);
}

function planetSummary(w: World, bytes: Uint8Array) {
  return {
    type: w.type,
    id: w.id.toString(16).padStart(16, '0'),
    timestamp: w.timestamp,
    sha256: createHash('sha256').update(bytes).digest('hex'),
    size: bytes.length,
    roots: w.roots.map((r) => ({ address: formatAddress(r.identity.address), identity: r.identity.toString(), endpoints: r.stableEndpoints.map(formatInetAddress) })),
  };
}

function peerView(p: RootPeer, nowS: number) {
  const paths: Array<{ kind: 'udp' | 'tcp'; address: string; lastReceiveSecAgo: number; live: boolean }> = [];
  // A TCP fallback tunnel first: while it is open, everything for the peer goes through it.
  if (p.hasTunnel) paths.push({ kind: 'tcp', address: p.tunnelFrom, lastReceiveSecAgo: nowS - p.rxT, live: true });
  if (p.ip4 !== '') paths.push({ kind: 'udp', address: `${p.ip4}/${p.port4}`, lastReceiveSecAgo: nowS - p.rx4, live: p.hasLive4(nowS) });
  if (p.ip6 !== '') paths.push({ kind: 'udp', address: `${p.ip6}/${p.port6}`, lastReceiveSecAgo: nowS - p.rx6, live: p.hasLive6(nowS) });
  return {
    address: formatAddress(p.address),
    identity: p.identity.toString(),
    version: p.protocolVersion > 0 ? `${p.versionMajor}.${p.versionMinor}.${p.versionRevision}` : null,
    protocolVersion: p.protocolVersion,
    lastReceive: p.lastReceive,
    paths,
    /** One of the fleet's probe leaves (tools/probe/), not a client. */
    probe: p.probe,
  };
}

/** Builds the request handler (separate from listening, so it can also sit behind the TCP/443 port's HTTPS). */
export function createHttpApiHandler(
  root: HttpApiSource,
  metrics: Registry,
  opts: HttpApiOptions,
  ready: () => string[],
  now: () => number = Date.now,
): http.RequestListener {
  const started = now();
  return (req, res) => {
    void (async () => {
      const url = new URL(req.url ?? '/', 'http://root');
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        res.writeHead(405, { allow: 'GET, HEAD' });
        return res.end();
      }
      // The live dashboard's page is static and public (the data comes over /live, token-checked).
      if (serveDashboardAsset(url.pathname, res)) return;
      switch (url.pathname) {
        case '/healthz':
          res.writeHead(200, { 'content-type': 'text/plain' });
          return res.end('ok\n');
        case '/readyz': {
          const problems = ready();
          // A probe that is not running is a detail, never a problem: it must not take a serving root out.
          const probeWhy = opts.probe?.().notRunningReason() ?? null;
          return json(res, problems.length === 0 ? 200 : 503, { ready: problems.length === 0, problems, ...(probeWhy !== null ? { details: { probe: probeWhy } } : {}) });
        }
      }
      if (!tokenOk(req, opts.token)) {
        res.writeHead(401, { 'www-authenticate': 'Bearer' });
        return res.end();
      }
      switch (url.pathname) {
        case '/metrics': {
          const body = await metrics.metrics();
          res.writeHead(200, { 'content-type': metrics.contentType });
          return res.end(body);
        }
        case '/api/status':
          return json(res, 200, {
            address: formatAddress(root.identity.address),
            identity: root.identity.toString(false),
            version: opts.version,
            identityHash: opts.identityHash ?? null,
            aes: aesGmacSivEngine().name,
            uptimeSec: Math.floor((now() - started) / 1000),
            ports: root.ports,
            udp: root.udpPath ?? null,
            peers: root.peers.size,
            probePeers: root.probePeerCount ?? 0,
            tcpRelay: root.tunnel === null || root.tunnel === undefined ? null : { port: root.tunnel.port, connections: root.tunnel.connections, tunnels: root.tunnel.tunnels },
            planet: planetSummary(root.planet, root.planetBytes),
            counters: Object.fromEntries(root.counters),
          });
        case '/api/peers': {
          const offset = Number(url.searchParams.get('offset') ?? 0);
          const limit = Number(url.searchParams.get('limit') ?? 100);
          if (!Number.isInteger(offset) || offset < 0 || !Number.isInteger(limit) || limit < 1 || limit > MAX_PAGE) {
            return json(res, 400, { error: `offset must be a whole number ≥ 0 and limit 1..${MAX_PAGE}; got offset=${url.searchParams.get('offset')} limit=${url.searchParams.get('limit')}` });
          }
          const nowS = coarseSeconds(now());
          const page: unknown[] = [];
          let i = 0;
          for (const p of root.peers.values()) {
            if (i++ < offset) continue;
            if (page.length >= limit) break;
            page.push(peerView(p, nowS));
          }
          return json(res, 200, { total: root.peers.size, offset, limit, peers: page });
        }
        case '/api/probe':
          return json(res, 200, opts.probe?.().report() ?? { enabled: false, state: 'off', reason: 'this root runs no probe', targets: [] });
        case '/api/planet':
          if (url.searchParams.get('format') === 'bin') {
            res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-disposition': 'attachment; filename="planet"' });
            return res.end(Buffer.from(root.planetBytes));
          }
          return json(res, 200, planetSummary(root.planet, root.planetBytes));
        default:
          return json(res, 404, { error: `no such endpoint: ${url.pathname}` });
      }
    })().catch((e: unknown) => {
      if (!res.headersSent) json(res, 500, { error: (e as Error).message });
      else res.destroy();
    });
  };
}

export interface HttpListenOptions {
  /**
   * Which Host headers are answered (root/host-check.ts): by default the policy of `host` with no extra names;
   * null answers any (only for a server that shows nothing about peers, such as the standalone relay's /metrics).
   * /healthz and /readyz are answered whatever the Host: orchestrators probe by any name, and they tell nothing.
   */
  hosts?: HostPolicy | null;
  /** Told when accepting a connection fails (descriptors exhausted); at most once per 10 s, with the count. */
  onAcceptError?: (e: Error, count: number) => void;
}

/** Paths answered without the Host check and without the token (they reveal nothing). */
function isProbe(url: string | undefined): boolean {
  const path = (url ?? '').split('?')[0];
  return path === '/healthz' || path === '/readyz';
}

/** Starts the HTTP server on `host:port`; resolves once listening. @throws the listen error. */
export async function listenHttpApi(handler: http.RequestListener, host: string, port: number, opts: HttpListenOptions = {}): Promise<http.Server> {
  const hosts = opts.hosts === undefined ? new HostPolicy(host) : opts.hosts;
  // Bounded: at most HTTP_MAX_CONNECTIONS, none held long. A connection that sends nothing is closed by the
  // headers timeout (checked every 2 s), an idle keep-alive one after 5 s.
  const limits = { headersTimeout: 10_000, requestTimeout: 15_000, keepAliveTimeout: 5_000, connectionsCheckingInterval: 2_000 };
  const server = http.createServer(limits, (req, res) => {
    if (hosts !== null && !isProbe(req.url) && !hosts.allows(req.headers.host)) {
      // 421: this server is not the one for that name (a DNS-rebinding page, or a name the operator has not listed).
      res.writeHead(421, { 'content-type': 'text/plain; charset=utf-8', connection: 'close' });
      res.end(`Host ${JSON.stringify(req.headers.host)} is not served here: use this server's IP address or localhost, or list the name in httpAllowedHosts\n`);
      return;
    }
    handler(req, res);
  });
  server.maxConnections = HTTP_MAX_CONNECTIONS;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  // After listening, an error is a failed accept (EMFILE): without a listener it would end the process.
  let errors = 0;
  let lastReport = -Infinity;
  server.on('error', (e) => {
    errors++;
    if (Date.now() - lastReport < 10_000) return;
    lastReport = Date.now();
    opts.onAcceptError?.(e, errors);
  });
  return server;
}
