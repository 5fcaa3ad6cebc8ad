/**
 * The leaf's local JSON API: ZeroTier One 1.14's HTTP control plane (service/OneService.cpp
 * `startHTTPControlPlane`, shared/protocol/vl2.md §8), so the real `zerotier-cli` and GUIs work unchanged.
 *
 *   GET /status, /health, /network, /peer, /moon, /config, /metrics
 *   GET /network/<16 hex>      404 {} when not joined
 *   POST|PUT /network/<16 hex> join (idempotent), optional body {allowManaged, allowGlobal, allowDefault, allowDNS}
 *   DELETE /network/<16 hex>   leave: {"result":true}, or {} when it was not joined
 *   GET /peer/<10 hex>         {} when unknown
 *   GET|POST|PUT|DELETE /moon/<10 hex>   (1.14's route takes exactly 10 hex digits)
 *   POST|PUT /config/settings  merge into local.conf's settings
 *   /bond/…                    400 {} (bonding is never in use here)
 *
 * As 1.14: auth is a loopback (or `allowManagementFrom`) peer AND the token from authtoken.secret in
 * `X-ZT1-Auth`, `?auth=` or `Authorization: Bearer` — checked in that order, the first present decides;
 * /health needs no token; /metrics takes the metrics or the auth token from anywhere; failure is 401 `{}`.
 * Answers are JSON with sorted keys, `{}` for nothing, `?jsonp=<fn>` wraps them; PUT is POST.
 *
 * Where this differs from 1.14, on purpose:
 * - Listens on 127.0.0.1 and ::1 only, unless local.conf's `allowManagementFrom` names networks (then on
 *   0.0.0.0 and :: as 1.14 always does): nothing off the host can reach a socket it has no business with.
 * - The Host header must name this host (root/host-check.ts): a DNS-rebinding page gets 421, not the API.
 *   zerotier-cli sends no Host header at all (osdep/Http.cpp), which is accepted.
 * - Bad requests get a 4xx with `{"code","description","error"}` instead of being half-applied: a body that
 *   is not JSON, an allow* flag that is not a boolean, a settings value local.conf would refuse, a jsonp name
 *   that is not an identifier. 1.14 ignores such input silently (joining anyway, writing any value).
 * - Bounded: {@link LOCAL_API_MAX_CONNECTIONS} connections per listener, {@link LOCAL_API_MAX_BODY_BYTES}
 *   of body, headers within 10 s, a whole request within 15 s.
 */
import http from 'node:http';
import { createHash, timingSafeEqual } from 'node:crypto';
import { isIP } from 'node:net';
import { ZtError, ZtErrorCode, isZtError } from '../vl1/errors.js';
import { parseIp } from '../vl1/inet-address.js';
// The root's Host policy is the leaf's too (see the report on layering).
import { sortedJson, type JsonOut } from './api-json.js';
import { healthJson, moonJson, networkJson, peerJson, statusJson, waitingMoonJson } from './api-shapes.js';
import type { LeafModel, NetworkSettings } from './model.js';
import { ipNetworkContains, type IpNetwork } from './home-local-conf.js';

/** Open connections per listener; more are refused at accept. zerotier-cli uses one per command. */
export const LOCAL_API_MAX_CONNECTIONS = 32;
/** Largest request body read (a join's flags or a settings patch are a few hundred bytes). */
export const LOCAL_API_MAX_BODY_BYTES = 64 * 1024;
/** Header bytes accepted per request (Node's default is 16 KiB). */
export const LOCAL_API_MAX_HEADER_BYTES = 8 * 1024;

/** local.conf as the API needs it; {@link LeafHome} (leaf/home.ts) is one. */
export interface LocalApiConfig {
  readonly localConf: { readonly raw: Record<string, unknown>; readonly settings: { readonly allowManagementFrom: readonly IpNetwork[] } };
  /**
   * POST /config/settings.
   * @throws {ZtError} BAD_CONFIG naming the key and value (answered 400)
   */
  mergeSettings(patch: Record<string, unknown>): unknown;
}

export interface LocalApiOptions {
  /** TCP port (1.14: the primary port). 0 = ephemeral (tests). */
  port: number;
  /** The token of authtoken.secret. */
  authToken: string;
  /** The token of metricstoken.secret (/metrics also takes the auth token). */
  metricsToken?: string;
  /** local.conf (GET /config, POST /config/settings, allowManagementFrom); without it /config shows the status's settings. */
  config?: LocalApiConfig;
  /**
   * Addresses to listen on. Default: 127.0.0.1 and ::1, or 0.0.0.0 and :: when `allowManagementFrom` names
   * networks. An IPv6 address the host lacks (no IPv6) is skipped with a notice; the first address must bind.
   */
  listen?: string[];
  /** Clock for `clock` in /status and /health. Default Date.now. */
  now?: () => number;
  /** Told about requests that failed inside the leaf (500s) and IPv6 listeners skipped. Never about tokens. */
  onNotice?: (message: string) => void;
  /**
   * Which Host headers a listener on `listenHost` answers: the defence against DNS rebinding (root/host-check.ts
   * `HostPolicy` is the product's). Required, so that no caller goes without one by forgetting it; null answers
   * every Host. Passed in rather than imported: leaf/ may import only vl1/ and planet/ (DESIGN.md), and the policy
   * is shared with the root's HTTP API.
   */
  hostPolicy: ((listenHost: string) => HostCheck) | null;
}

/** What the API asks of a Host policy. */
export interface HostCheck {
  allows(hostHeader: string | undefined): boolean;
}

type Route =
  | { kind: 'status' | 'health' | 'networks' | 'peers' | 'moons' | 'config' | 'configSettings' | 'metrics' | 'bond' }
  | { kind: 'network'; nwid: bigint }
  | { kind: 'peer'; address: number }
  | { kind: 'moon'; id: bigint };

const ROUTES: Array<[RegExp, (m: RegExpExecArray) => Route, readonly string[]]> = [
  [/^\/status$/, () => ({ kind: 'status' }), ['GET']],
  [/^\/health$/, () => ({ kind: 'health' }), ['GET']],
  [/^\/network$/, () => ({ kind: 'networks' }), ['GET']],
  [/^\/network\/([0-9a-fA-F]{16})$/, (m) => ({ kind: 'network', nwid: BigInt(`0x${m[1]}`) }), ['GET', 'POST', 'DELETE']],
  [/^\/peer$/, () => ({ kind: 'peers' }), ['GET']],
  [/^\/peer\/([0-9a-fA-F]{10})$/, (m) => ({ kind: 'peer', address: parseInt(m[1]!, 16) }), ['GET']],
  [/^\/moon$/, () => ({ kind: 'moons' }), ['GET']],
  [/^\/moon\/([0-9a-fA-F]{10})$/, (m) => ({ kind: 'moon', id: BigInt(`0x${m[1]}`) }), ['GET', 'POST', 'DELETE']],
  [/^\/config$/, () => ({ kind: 'config' }), ['GET']],
  [/^\/config\/settings$/, () => ({ kind: 'configSettings' }), ['POST']],
  [/^\/metrics$/, () => ({ kind: 'metrics' }), ['GET']],
  [/^\/bond\//, () => ({ kind: 'bond' }), ['GET', 'POST']],
];

/** An answer: status, body text, content type. */
interface Reply {
  status: number;
  body: string;
  type?: string;
  headers?: Record<string, string>;
}

const json = (status: number, body: JsonOut): Reply => ({ status, body: sortedJson(body) });
const EMPTY = (status: number): Reply => ({ status, body: '{}' });

/** A refused request: `{"code", "description", "error": <status>}` (1.14's error objects carry error and description). */
function refusal(status: number, code: string, description: string): Reply {
  return json(status, { code, description, error: status });
}

/** Thrown inside a handler to answer with a 4xx. */
class BadRequest extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/**
 * Runs what the request asked for; the ZtErrors that say the request's own values are wrong (the model's
 * join refusing an id, local.conf refusing a setting) become 400s. Elsewhere a ZtError is the leaf's fault: 500.
 */
function asBadRequest<T>(fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (isZtError(e) && (e.code === ZtErrorCode.BAD_CONFIG || e.code === ZtErrorCode.BAD_VALUE || e.code === ZtErrorCode.BAD_FORMAT)) {
      throw new BadRequest(400, e.code, e.message);
    }
    throw e;
  }
}

const JSONP_NAME = /^[A-Za-z_$][A-Za-z0-9_$.]{0,63}$/;

/** Constant-time token comparison (hashes first, so lengths do not leak either). */
function tokenEquals(given: string, want: string): boolean {
  if (want === '') return false;
  const a = createHash('sha256').update(given).digest();
  const b = createHash('sha256').update(want).digest();
  return timingSafeEqual(a, b);
}

/** 1.14's `bearerTokenValid`: exactly "<bearer> <token>", the scheme in any case. */
function bearerToken(header: string): string | null {
  const parts = header.split(' ').filter((p) => p !== '');
  return parts.length === 2 && parts[0]!.toLowerCase() === 'bearer' ? parts[1]! : null;
}

/** The token a request presents, found as 1.14 looks for it: header, then ?auth=, then Authorization. */
function presentedToken(req: http.IncomingMessage, url: URL): string | null {
  const h = req.headers['x-zt1-auth'];
  if (h !== undefined) return Array.isArray(h) ? h.join(', ') : h;
  const q = url.searchParams.get('auth');
  if (q !== null) return q;
  const a = req.headers.authorization;
  if (a !== undefined) return bearerToken(a);
  return null;
}

/** The peer's IP bytes (IPv4-mapped IPv6 unmapped), or null. */
function remoteIp(req: http.IncomingMessage): Uint8Array | null {
  let a = req.socket.remoteAddress ?? '';
  if (a.toLowerCase().startsWith('::ffff:') && isIP(a.slice(7)) === 4) a = a.slice(7);
  return parseIp(a.replace(/%.*$/, ''));
}

function isLoopbackIp(b: Uint8Array): boolean {
  if (b.length === 4) return b[0] === 127;
  return b.every((x, i) => x === (i === 15 ? 1 : 0));
}

/** Reads a request body up to {@link LOCAL_API_MAX_BODY_BYTES}. @throws BadRequest 413 beyond it. */
function readBody(req: http.IncomingMessage): Promise<string> {
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > LOCAL_API_MAX_BODY_BYTES) {
    return Promise.reject(new BadRequest(413, ZtErrorCode.TOO_LONG, `request body of ${declared} bytes; at most ${LOCAL_API_MAX_BODY_BYTES} are read`));
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > LOCAL_API_MAX_BODY_BYTES) {
        req.removeAllListeners('data');
        req.pause();
        reject(new BadRequest(413, ZtErrorCode.TOO_LONG, `request body over ${LOCAL_API_MAX_BODY_BYTES} bytes`));
        return;
      }
      chunks.push(c);
    });
    req.once('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.once('error', reject);
    // A client that hangs up mid-body: settle, so nothing waits on it (a no-op after 'end').
    req.once('close', () => reject(new BadRequest(400, ZtErrorCode.TRUNCATED, 'the request body ended early')));
  });
}

/** A body that must be a JSON object; empty means `{}` (zerotier-cli posts "{}", some clients nothing). */
function parseObjectBody(text: string, what: string): Record<string, unknown> {
  if (text.trim() === '') return {};
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw new BadRequest(400, ZtErrorCode.BAD_FORMAT, `${what}: the body is not JSON (${(e as Error).message})`);
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new BadRequest(400, ZtErrorCode.BAD_FORMAT, `${what}: the body must be a JSON object`);
  return v as Record<string, unknown>;
}

const NETWORK_FLAGS = ['allowManaged', 'allowGlobal', 'allowDefault', 'allowDNS'] as const;

/** The request handler (without listening: tests and an embedding server may use it directly). */
export function createLocalApiHandler(model: LeafModel, opts: LocalApiOptions): (req: http.IncomingMessage, res: http.ServerResponse, hosts: HostCheck | null) => void {
  const now = opts.now ?? Date.now;
  const notice = opts.onNotice ?? (() => {});

  const allowedPeer = (req: http.IncomingMessage): boolean => {
    const ip = remoteIp(req);
    if (ip === null) return false;
    if (isLoopbackIp(ip)) return true;
    const nets = opts.config?.localConf.settings.allowManagementFrom ?? [];
    return nets.some((n) => ipNetworkContains(n, ip));
  };

  const authorized = (req: http.IncomingMessage, url: URL, route: Route | null): boolean => {
    const token = presentedToken(req, url);
    if (route?.kind === 'metrics') {
      // 1.14: /metrics is not bound to an address, only to a token (the metrics one or the API's).
      return token !== null && (tokenEquals(token, opts.metricsToken ?? '') || tokenEquals(token, opts.authToken));
    }
    if (!allowedPeer(req)) return false;
    if (route?.kind === 'health') return true;
    return token !== null && tokenEquals(token, opts.authToken);
  };

  const localConfRaw = (): Record<string, unknown> => opts.config?.localConf.raw ?? { settings: model.status().settings };

  async function answer(req: http.IncomingMessage, method: string, route: Route): Promise<Reply> {
    switch (route.kind) {
      case 'status':
        return json(200, statusJson(model.status(), now(), opts.config === undefined ? null : localConfRaw()));
      case 'health':
        return json(200, healthJson(model.status(), now()));
      case 'networks':
        return json(200, model.networks().map(networkJson));
      case 'network': {
        if (method === 'GET') {
          const n = model.networks().find((x) => x.nwid === route.nwid);
          return n === undefined ? EMPTY(404) : json(200, networkJson(n));
        }
        if (method === 'DELETE') return model.leave(route.nwid) ? json(200, { result: true }) : EMPTY(200);
        const body = parseObjectBody(await readBody(req), `POST /network/${route.nwid.toString(16).padStart(16, '0')}`);
        const settings: Partial<NetworkSettings> = {};
        for (const k of NETWORK_FLAGS) {
          const v = body[k];
          if (v === undefined) continue;
          if (typeof v !== 'boolean') throw new BadRequest(400, ZtErrorCode.BAD_VALUE, `${k} must be true or false, got ${JSON.stringify(v)}`);
          settings[k] = v;
        }
        return json(200, networkJson(asBadRequest(() => model.join(route.nwid, settings))));
      }
      case 'peers':
        return json(200, model.peers().map(peerJson));
      case 'peer': {
        const p = model.peers().find((x) => x.address === route.address);
        return p === undefined ? EMPTY(200) : json(200, peerJson(p));
      }
      case 'moons':
        return json(200, (model.moons?.() ?? []).map(moonJson));
      case 'moon': {
        const known = (model.moons?.() ?? []).find((w) => w.id === route.id);
        if (method === 'GET') return known === undefined ? EMPTY(200) : json(200, moonJson(known));
        if (method === 'DELETE') {
          if (model.deorbit === undefined) throw new BadRequest(501, ZtErrorCode.UNAVAILABLE, 'this leaf does not orbit moons');
          model.deorbit(route.id);
          return json(200, { result: true });
        }
        const body = parseObjectBody(await readBody(req), `POST /moon/${route.id.toString(16)}`);
        const seedText = body['seed'] ?? '0';
        // A root's address; zerotier-cli passes what the user typed, so 16 digits with leading zeros are fine too.
        if (typeof seedText !== 'string' || !/^[0-9a-fA-F]{1,16}$/.test(seedText) || BigInt(`0x${seedText}`) > 0xffffffffffn) {
          throw new BadRequest(400, ZtErrorCode.BAD_VALUE, `seed must be a root's address (10 hex digits), got ${JSON.stringify(seedText)}`);
        }
        const seed = Number(BigInt(`0x${seedText}`));
        if (known !== undefined) return json(200, moonJson(known));
        if (seed === 0) return EMPTY(200);
        if (model.orbit === undefined) throw new BadRequest(501, ZtErrorCode.UNAVAILABLE, 'this leaf does not orbit moons');
        model.orbit(route.id, seed);
        return json(200, waitingMoonJson(route.id));
      }
      case 'config':
        return json(200, localConfRaw() as JsonOut);
      case 'configSettings': {
        const patch = parseObjectBody(await readBody(req), 'POST /config/settings');
        if (opts.config === undefined) throw new BadRequest(501, ZtErrorCode.UNAVAILABLE, 'this leaf keeps no local.conf');
        const config = opts.config;
        asBadRequest(() => config.mergeSettings(patch));
        return EMPTY(200);
      }
      case 'metrics':
        // 1.14 serves metrics.prom as text/plain, no jsonp.
        return { status: 200, body: model.metricsText(), type: 'text/plain; charset=utf-8' };
      case 'bond':
        return EMPTY(400);
    }
  }

  return (req, res, hosts) => {
    const send = (r: Reply, jsonp: string | null): void => {
      if (res.headersSent) return;
      let body = r.body === '' ? '{}' : r.body;
      let type = r.type ?? 'application/json';
      if (jsonp !== null && r.type === undefined) {
        body = `${jsonp}(${body});`;
        type = 'application/javascript';
      }
      const buf = Buffer.from(body, 'utf8');
      res.writeHead(r.status, { 'content-type': type, 'content-length': String(buf.length), 'cache-control': 'no-store', 'x-content-type-options': 'nosniff', ...r.headers });
      res.end(buf);
    };

    let url: URL;
    try {
      url = new URL(req.url ?? '/', 'http://localhost');
    } catch {
      return send(refusal(400, ZtErrorCode.BAD_FORMAT, 'the request target is not a path'), null);
    }
    if (hosts !== null && !hosts.allows(req.headers.host)) {
      // A page that reached us through DNS rebinding carries its own name here.
      return send(refusal(421, ZtErrorCode.BAD_VALUE, `Host ${JSON.stringify(req.headers.host)} is not this host: use 127.0.0.1 or localhost`), null);
    }
    const jsonpRaw = url.searchParams.get('jsonp');
    const jsonp = jsonpRaw !== null && JSONP_NAME.test(jsonpRaw) ? jsonpRaw : null;

    let route: Route | null = null;
    let methods: readonly string[] = [];
    for (const [re, make, ms] of ROUTES) {
      const m = re.exec(url.pathname);
      if (m !== null) {
        route = make(m);
        methods = ms;
        break;
      }
    }
    // Auth comes before routing, as in 1.14: an unauthenticated caller learns nothing, not even which paths exist.
    if (!authorized(req, url, route)) return send(EMPTY(401), jsonp);
    if (jsonpRaw !== null && jsonp === null) {
      return send(refusal(400, ZtErrorCode.BAD_VALUE, `jsonp must be a JavaScript function name, got ${JSON.stringify(jsonpRaw.slice(0, 64))}`), null);
    }
    if (route === null) return send(EMPTY(404), jsonp);
    const method = req.method === 'PUT' ? 'POST' : req.method === 'HEAD' ? 'GET' : (req.method ?? '');
    if (!methods.includes(method)) {
      const allow = methods.flatMap((m) => (m === 'POST' ? ['POST', 'PUT'] : m === 'GET' ? ['GET', 'HEAD'] : [m])).join(', ');
      return send({ ...EMPTY(405), headers: { allow } }, jsonp);
    }
    answer(req, method, route).then(
      (r) => send(r, route.kind === 'metrics' ? null : jsonp),
      (e: unknown) => {
        if (e instanceof BadRequest) {
          if (e.status === 413) res.setHeader('connection', 'close');
          return send(refusal(e.status, e.code, e.message), jsonp);
        }
        if (isZtError(e, ZtErrorCode.OVERLOADED)) return send(refusal(503, e.code, e.message), jsonp);
        const msg = e instanceof Error ? e.message : String(e);
        notice(`local API: ${req.method} ${url.pathname} failed: ${msg}`);
        // 1.14's exception handler: {"error": 500, "description": "..."}.
        return send(json(500, { description: msg, error: 500 }), jsonp);
      },
    );
  };
}

/** A running local API. */
export interface LocalApi {
  /** The port listened on (the one asked for, or the ephemeral one picked). */
  readonly port: number;
  /** "ip/port" of each listener. */
  readonly listening: string[];
  /** Stops listening and closes every connection. */
  close(): Promise<void>;
}

function defaultListen(config: LocalApiConfig | undefined): string[] {
  const remote = (config?.localConf.settings.allowManagementFrom.length ?? 0) > 0;
  return remote ? ['0.0.0.0', '::'] : ['127.0.0.1', '::1'];
}

function listenOn(server: http.Server, host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host, port, ipv6Only: host.includes(':') }, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

/**
 * Starts the API on every listen address (see {@link LocalApiOptions.listen}), all on one port.
 * @throws {ZtError} UNAVAILABLE naming the address and port when the first address cannot be bound
 *   (another zerotier-one, or a leaf, already there)
 */
export async function startLocalApi(model: LeafModel, opts: LocalApiOptions): Promise<LocalApi> {
  const handler = createLocalApiHandler(model, opts);
  const addresses = opts.listen ?? defaultListen(opts.config);
  const servers: http.Server[] = [];
  const listening: string[] = [];
  let port = opts.port;
  const closeAll = async () => {
    await Promise.all(
      servers.map(
        (s) =>
          new Promise<void>((r) => {
            s.close(() => r());
            s.closeAllConnections();
          }),
      ),
    );
  };
  for (let i = 0; i < addresses.length; i++) {
    const host = addresses[i]!;
    const hosts = opts.hostPolicy === null ? null : opts.hostPolicy(host);
    const server = http.createServer(
      {
        // zerotier-cli sends HTTP/1.1 without a Host header; Node would answer 400 by default.
        requireHostHeader: false,
        maxHeaderSize: LOCAL_API_MAX_HEADER_BYTES,
        headersTimeout: 10_000,
        requestTimeout: 15_000,
        keepAliveTimeout: 5_000,
        connectionsCheckingInterval: 2_000,
      },
      (req, res) => handler(req, res, hosts),
    );
    server.maxConnections = LOCAL_API_MAX_CONNECTIONS;
    try {
      await listenOn(server, host, port);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (i > 0 && host.includes(':') && (code === 'EADDRNOTAVAIL' || code === 'EAFNOSUPPORT')) {
        (opts.onNotice ?? (() => {}))(`local API: not listening on [${host}]:${port} (${code}: this host has no IPv6 there)`);
        continue;
      }
      await closeAll();
      const shown = host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
      const hint = code === 'EADDRINUSE' ? ': another zerotier-one or leaf is using it; stop it or set settings.primaryPort in local.conf' : '';
      throw new ZtError(ZtErrorCode.UNAVAILABLE, `local API cannot listen on TCP ${shown} (${(e as Error).message})${hint}`, { cause: e });
    }
    // After listening, an error is a failed accept (descriptors exhausted): never let it end the process.
    server.on('error', (e) => (opts.onNotice ?? (() => {}))(`local API: accept failed on ${host}: ${e.message}`));
    servers.push(server);
    if (port === 0) port = (server.address() as { port: number }).port;
    listening.push(`${host}/${port}`);
  }
  return { port, listening, close: closeAll };
}
