/**
 * `ztroot relay`: the TCP fallback relay on a host of its own (relay/standalone-relay.ts). Roots serve the
 * same relay themselves with `ztroot start --tcp-relay`; this is for operators who want port 443 elsewhere.
 */
import { readFileSync } from 'node:fs';
import https from 'node:https';
import { pino } from 'pino';
import { ZtError, ZtErrorCode } from '../vl1/errors.js';
import { parseInetAddress, type InetAddress } from '../vl1/inet-address.js';
import { StandaloneRelay } from '../relay/standalone-relay.js';
import { addRelayMetrics, createRootMetricsRegistry } from '../root/metrics.js';
import { listenHttpApi } from '../root/http-api.js';
import type { Registry } from 'prom-client';
import type http from 'node:http';
import { timingSafeEqual } from 'node:crypto';

const HELP = `usage: ztroot relay [options]

Runs a TCP fallback relay for ZeroTier One clients that cannot use UDP: ZeroTier's tcp-proxy framing on
TCP (port 443 by default, where HTTPS can be answered too), one UDP socket per address family for every
client, with connection limits, timeouts, bounded queues and an optional allow-list.

options:
  --listen <host:port>        TCP listener (default [::]:443, IPv4 and IPv6)
  --udp-port <port>           UDP port the relayed datagrams leave from (default 0: any free port)
  --bind4 <ip|none>           IPv4 UDP bind address (default 0.0.0.0)
  --bind6 <ip|none>           IPv6 UDP bind address (default ::)
  --min-port <port>           lowest destination UDP port (default 1025)
  --destination <ip/port>     only relay to these (repeatable; e.g. your roots); default: anywhere
  --max-connections <n>       open TCP connections in total; 0 = what the descriptor limit allows,
                              kept free for /metrics and files (default 0)
  --max-per-ip <n>            open TCP connections per source IP, IPv6 per /64 (default 256)
  --max-per-prefix <n>        open TCP connections per source IPv4 /24 or IPv6 /48 (default 1024)
  --idle-timeout <s>          close a tunnel silent this long (default 300)
  --queue-bytes <n>           bytes queued per connection before datagrams are dropped (default 131072)
  --allow-file <file>         ZeroTier addresses allowed to use the relay, one per line
  --allow-fail-open           if the allow-list cannot be read, let everyone in (default: no one)
  --tls-cert <pem> --tls-key <pem>
                              answer TLS on the same port with a small HTTPS page (a probe sees a web server)
  --http <host:port|none>     Prometheus /metrics and /healthz (default 127.0.0.1:9981)
  --metrics-token <token>     bearer token required for /metrics (default: none)
  --log-level <level>         trace|debug|info|warn|error|silent (default info)
  --help

example:
  ztroot relay --listen 0.0.0.0:443 --destination 203.0.113.1/9993 --destination 203.0.113.2/9993

and on each client that needs it, in local.conf (e.g. /var/lib/zerotier-one/local.conf):
  {"settings":{"tcpFallbackRelay":"<this host's IP>/443"}}
`;

interface RelayArgs {
  listen: { host: string; port: number };
  udpPort: number;
  bind4: string | null;
  bind6: string | null;
  minPort: number;
  destinations: InetAddress[];
  maxConnections: number;
  maxPerIp: number;
  maxPerPrefix: number;
  idleSec: number;
  queueBytes: number;
  allowFile: string;
  allowFailOpen: boolean;
  tlsCert: string;
  tlsKey: string;
  http: { host: string; port: number } | null;
  metricsToken: string;
  logLevel: string;
}

/** @throws {ZtError} BAD_CONFIG naming the flag and the value. */
export function parseRelayArgs(argv: string[]): RelayArgs | 'help' {
  const a: RelayArgs = {
    listen: { host: '::', port: 443 },
    udpPort: 0,
    bind4: '0.0.0.0',
    bind6: '::',
    minPort: 1025,
    destinations: [],
    maxConnections: 0,
    maxPerIp: 256,
    maxPerPrefix: 1024,
    idleSec: 300,
    queueBytes: 131_072,
    allowFile: '',
    allowFailOpen: false,
    tlsCert: '',
    tlsKey: '',
    http: { host: '127.0.0.1', port: 9981 },
    metricsToken: '',
    logLevel: 'info',
  };
  const bad = (flag: string, value: string, why: string) => new ZtError(ZtErrorCode.BAD_CONFIG, `${flag} ${JSON.stringify(value)}: ${why}`);
  const int = (flag: string, v: string, min: number, max: number): number => {
    const n = /^\d+$/.test(v) ? Number(v) : NaN;
    if (!Number.isInteger(n) || n < min || n > max) throw bad(flag, v, `expected a whole number ${min}..${max}`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i]!;
    if (flag === '--help' || flag === '-h') return 'help';
    if (flag === '--allow-fail-open') {
      a.allowFailOpen = true;
      continue;
    }
    const v = argv[++i];
    if (v === undefined) throw new ZtError(ZtErrorCode.BAD_CONFIG, `${flag} needs a value (see --help)`);
    switch (flag) {
      case '--listen':
        a.listen = hostPort(v) ?? badHostPort(flag, v);
        break;
      case '--http':
        a.http = v === 'none' ? null : (hostPort(v) ?? badHostPort(flag, v));
        break;
      case '--metrics-token':
        a.metricsToken = v;
        break;
      case '--udp-port':
        a.udpPort = int(flag, v, 0, 65535);
        break;
      case '--bind4':
        a.bind4 = v === 'none' ? null : v;
        break;
      case '--bind6':
        a.bind6 = v === 'none' ? null : v;
        break;
      case '--min-port':
        a.minPort = int(flag, v, 1, 65535);
        break;
      case '--destination':
        try {
          a.destinations.push(parseInetAddress(v));
        } catch (e) {
          throw bad(flag, v, (e as Error).message);
        }
        break;
      case '--max-connections':
        a.maxConnections = int(flag, v, 0, 10_000_000);
        break;
      case '--max-per-prefix':
        a.maxPerPrefix = int(flag, v, 1, 10_000_000);
        break;
      case '--max-per-ip':
        a.maxPerIp = int(flag, v, 1, 10_000_000);
        break;
      case '--idle-timeout':
        a.idleSec = int(flag, v, 1, 86_400);
        break;
      case '--queue-bytes':
        a.queueBytes = int(flag, v, 16_384, 1 << 30);
        break;
      case '--allow-file':
        a.allowFile = v;
        break;
      case '--tls-cert':
        a.tlsCert = v;
        break;
      case '--tls-key':
        a.tlsKey = v;
        break;
      case '--log-level':
        if (!['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'].includes(v)) throw bad(flag, v, 'expected trace|debug|info|warn|error|fatal|silent');
        a.logLevel = v;
        break;
      default:
        throw new ZtError(ZtErrorCode.BAD_CONFIG, `unknown option ${JSON.stringify(flag)} (see --help)`);
    }
  }
  if (a.bind4 === null && a.bind6 === null) throw new ZtError(ZtErrorCode.BAD_CONFIG, '--bind4 and --bind6 are both none: no UDP socket to relay from');
  if ((a.tlsCert === '') !== (a.tlsKey === '')) throw new ZtError(ZtErrorCode.BAD_CONFIG, '--tls-cert and --tls-key go together');
  return a;
}

/** "host:port" or "[ipv6]:port", or null. */
function hostPort(v: string): { host: string; port: number } | null {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(v);
  return m && Number(m[3]) <= 65535 ? { host: m[1] ?? m[2]!, port: Number(m[3]) } : null;
}

function badHostPort(flag: string, v: string): never {
  throw new ZtError(ZtErrorCode.BAD_CONFIG, `${flag} ${JSON.stringify(v)}: expected host:port or [ipv6]:port${flag === '--http' ? " or 'none'" : ''}`);
}

function readPem(file: string, what: string): Buffer {
  try {
    return readFileSync(file);
  } catch (e) {
    throw new ZtError(ZtErrorCode.FILE, `TLS ${what} ${file}: ${(e as Error).message}`);
  }
}

/** `ztroot relay` (argv after the subcommand). 0 after a clean stop on SIGINT/SIGTERM; 2 for bad flags. */
export async function main(argv: string[]): Promise<number> {
  let args: RelayArgs | 'help';
  try {
    args = parseRelayArgs(argv);
  } catch (e) {
    // A usage error (exit 2, like the CLI's unknown commands); failures at run time stay exit 1.
    if (!(e instanceof ZtError)) throw e;
    console.error(`ztroot relay: ${e.message}`);
    return 2;
  }
  if (args === 'help') {
    console.log(HELP);
    return 0;
  }
  const log = pino({ level: args.logLevel, base: { svc: 'ztroot-relay' } });
  const web =
    args.tlsCert === ''
      ? undefined
      : https.createServer({ cert: readPem(args.tlsCert, 'certificate'), key: readPem(args.tlsKey, 'key'), handshakeTimeout: 10_000, headersTimeout: 10_000, requestTimeout: 30_000 }, (_req, res) => {
          res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' });
          res.end('ztroot relay\n');
        });
  const relay = new StandaloneRelay(
    {
      listen: args.listen,
      udpPort: args.udpPort,
      bind4: args.bind4,
      bind6: args.bind6,
      minPort: args.minPort,
      destinations: args.destinations.length > 0 ? args.destinations : 'any',
      tunnel: {
        maxConnections: args.maxConnections,
        maxConnectionsPerIp: args.maxPerIp,
        maxConnectionsPerPrefix: args.maxPerPrefix,
        idleTimeoutMs: args.idleSec * 1000,
        maxQueueBytes: args.queueBytes,
        allowList: args.allowFile === '' ? null : { file: args.allowFile, failOpen: args.allowFailOpen },
      },
    },
    { logger: log, ...(web !== undefined ? { https: web } : {}) },
  );
  await relay.start();
  log.info({ listen: `${args.listen.host}:${relay.port}`, udp4: relay.udpPort(4), udp6: relay.udpPort(6), tls: web !== undefined }, 'relay listening');
  let metricsServer: http.Server | null = null;
  if (args.http !== null) {
    const registry = createRootMetricsRegistry();
    addRelayMetrics(registry, relay);
    // No Host check: this /metrics names no peer, and the relay has no setting for the names it is scraped by.
    const onAcceptError = (e: Error, count: number) => log.error({ err: e.message, count }, 'relay metrics cannot accept connections');
    metricsServer = await listenHttpApi(metricsHandler(registry, args.metricsToken), args.http.host, args.http.port, { hosts: null, onAcceptError });
    const a = metricsServer.address() as { address: string; port: number };
    log.info({ http: `${a.address}:${a.port}` }, 'relay metrics listening');
  }
  const stats = setInterval(() => log.info({ connections: relay.tunnel.connections, tunnels: relay.tunnel.tunnels }, 'relay status'), 60_000);
  stats.unref();
  await new Promise<void>((resolve) => {
    process.once('SIGINT', () => resolve());
    process.once('SIGTERM', () => resolve());
  });
  clearInterval(stats);
  if (metricsServer !== null) await new Promise((r) => metricsServer!.close(r));
  await relay.stop();
  log.info({ counters: Object.fromEntries(relay.counters) }, 'relay stopped');
  return 0;
}

/** /metrics (behind the token, when set) and /healthz. */
function metricsHandler(registry: Registry, token: string): http.RequestListener {
  const want = Buffer.from(`Bearer ${token}`);
  return (req, res) => {
    const path = (req.url ?? '').split('?')[0];
    if (path === '/healthz') {
      res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' });
      res.end('ok\n');
      return;
    }
    if (path !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' });
      res.end('not found\n');
      return;
    }
    const got = Buffer.from(req.headers.authorization ?? '');
    if (token !== '' && !(got.length === want.length && timingSafeEqual(got, want))) {
      res.writeHead(401, { 'www-authenticate': 'Bearer' });
      res.end();
      return;
    }
    registry.metrics().then(
      (text) => {
        res.writeHead(200, { 'content-type': registry.contentType });
        res.end(text);
      },
      () => {
        res.writeHead(500);
        res.end();
      },
    );
  };
}
