/**
 * `ztroot relay`: the TCP fallback relay on a host of its own (relay/standalone-relay.ts). Roots serve the
 * same relay themselves with `ztroot start --tcp-relay`; this is for operators who want port 443 elsewhere.
 */
import { readFileSync } from 'node:fs';
import https from 'node:https';
import { pino } from 'pino';
import { formatInetAddress, parseInetAddress, type InetAddress } from '../vl1/inet-address.js';
import { StandaloneRelay } from '../relay/standalone-relay.js';
import { addRelayMetrics, createRootMetricsRegistry } from '../root/metrics.js';
import { listenHttpApi } from '../root/http-api.js';
import { readWorldFile } from '../planet/files.js';
import type { Registry } from 'prom-client';
import type http from 'node:http';
import { flag, parseCommand, str, strs, UsageError, type CommandSpec } from './args.js';
import { CommandFailure } from './run-main.js';
import { describeFileError, describeListenError } from './listen-errors.js';
import { timingSafeEqual } from 'node:crypto';

const SPEC: CommandSpec = {
  command: 'ztroot relay',
  usage: 'ztroot relay (--planet FILE | --destination IP/PORT ... | --open) [options]',
  about: `Runs a TCP fallback relay for ZeroTier One clients that cannot use UDP: ZeroTier's tcp-proxy framing on
TCP (port 443 by default, where HTTPS can be answered too), one UDP socket per address family for every
client, with connection limits, timeouts, bounded queues and an optional allow-list.

Where tunnel clients may send is yours to say: the roots of your planet (--planet, re-read on SIGHUP) or
the destinations you list (--destination); replies are accepted only from those addresses. --open relays
to any address and port above --min-port, as ZeroTier's tcp-proxy does — anyone who can reach this relay
can then use it to send UDP anywhere.`,
  options: {
    planet: { type: 'string', multiple: true, arg: 'file', help: "relay only to the roots of this planet (or moon) file: its stable endpoints" },
    destination: { type: 'string', multiple: true, arg: 'ip/port', help: 'relay only to this address (e.g. a root)' },
    open: { type: 'boolean', help: 'relay to any destination (tcp-proxy behaviour); logged as a warning at start' },
    listen: { type: 'string', arg: 'host:port', help: 'TCP listener (default [::]:443, IPv4 and IPv6)' },
    'udp-port': { type: 'string', arg: 'port', help: 'UDP port the relayed datagrams leave from (default 0: any free port)' },
    bind4: { type: 'string', arg: 'ip|none', help: 'IPv4 UDP bind address (default 0.0.0.0)' },
    bind6: { type: 'string', arg: 'ip|none', help: 'IPv6 UDP bind address (default ::)' },
    'min-port': { type: 'string', arg: 'port', help: 'lowest destination UDP port (default 1025)' },
    'max-connections': { type: 'string', arg: 'n', help: 'open TCP connections in total; 0 = what the descriptor limit allows, kept free for /metrics and files (default 0)' },
    'max-per-ip': { type: 'string', arg: 'n', help: 'open TCP connections per source IP, IPv6 per /64 (default 256)' },
    'max-per-prefix': { type: 'string', arg: 'n', help: 'open TCP connections per source IPv4 /24 or IPv6 /48 (default 1024)' },
    'idle-timeout': { type: 'string', arg: 's', help: 'close a tunnel silent this long (default 300)' },
    'queue-bytes': { type: 'string', arg: 'n', help: 'bytes queued per connection before datagrams are dropped (default 131072)' },
    'allow-file': { type: 'string', arg: 'file', help: 'ZeroTier addresses allowed to use the relay, one per line' },
    'allow-fail-open': { type: 'boolean', help: 'if the allow-list cannot be read, let everyone in (default: no one)' },
    'tls-cert': { type: 'string', arg: 'pem', help: 'answer TLS on the same port with a small HTTPS page (with --tls-key)' },
    'tls-key': { type: 'string', arg: 'pem', help: 'PEM private key for --tls-cert' },
    http: { type: 'string', arg: 'host:port|none', help: 'Prometheus /metrics and /healthz (default 127.0.0.1:9981)' },
    'metrics-token': { type: 'string', arg: 'token', help: 'bearer token required for /metrics (default: none)' },
    'log-level': { type: 'string', arg: 'level', help: 'trace|debug|info|warn|error|fatal|silent (default info)' },
  },
  epilogue: `example:
  ztroot relay --listen 0.0.0.0:443 --planet /etc/ztroot/planet

and on each client that needs it, in local.conf (e.g. /var/lib/zerotier-one/local.conf):
  {"settings":{"tcpFallbackRelay":"<this host's IP>/443"}}`,
};

interface RelayArgs {
  listen: { host: string; port: number };
  udpPort: number;
  bind4: string | null;
  bind6: string | null;
  minPort: number;
  /** Listed with --destination. */
  destinations: InetAddress[];
  /** Planet/moon files whose roots' endpoints are destinations too (re-read on SIGHUP). */
  planets: string[];
  /** --open: anywhere. */
  open: boolean;
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

const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'];

/**
 * The relay's settings from its command line, or the text --help/--version print.
 * @throws {UsageError} naming the option and the value — including when no destination policy is chosen.
 */
export function parseRelayArgs(argv: string[]): RelayArgs | { kind: 'print'; text: string } {
  const line = parseCommand(SPEC, argv);
  if (line.kind === 'print') return line;
  const v = line.values;
  const bad = (flag: string, value: string, why: string) => new UsageError(`${flag} ${JSON.stringify(value)}: ${why}`);
  const int = (name: string, dflt: number, min: number, max: number): number => {
    const x = str(v, name);
    if (x === undefined) return dflt;
    const n = /^\d+$/.test(x) ? Number(x) : NaN;
    if (!Number.isInteger(n) || n < min || n > max) throw bad(`--${name}`, x, `expected a whole number ${min}..${max}`);
    return n;
  };
  const listenAt = (name: string, dflt: { host: string; port: number }, none: boolean): { host: string; port: number } | null => {
    const x = str(v, name);
    if (x === undefined) return dflt;
    if (none && x === 'none') return null;
    return hostPort(x) ?? badHostPort(`--${name}`, x);
  };
  const bindAt = (name: string, dflt: string): string | null => {
    const x = str(v, name) ?? dflt;
    return x === 'none' ? null : x;
  };
  const destinations = strs(v, 'destination').map((d) => {
    try {
      return parseInetAddress(d);
    } catch (e) {
      throw bad('--destination', d, (e as Error).message);
    }
  });
  const logLevel = str(v, 'log-level') ?? 'info';
  if (!LOG_LEVELS.includes(logLevel)) throw bad('--log-level', logLevel, `expected ${LOG_LEVELS.join('|')}`);
  const a: RelayArgs = {
    listen: listenAt('listen', { host: '::', port: 443 }, false)!,
    udpPort: int('udp-port', 0, 0, 65535),
    bind4: bindAt('bind4', '0.0.0.0'),
    bind6: bindAt('bind6', '::'),
    minPort: int('min-port', 1025, 1, 65535),
    destinations,
    planets: strs(v, 'planet'),
    open: flag(v, 'open'),
    maxConnections: int('max-connections', 0, 0, 10_000_000),
    maxPerIp: int('max-per-ip', 256, 1, 10_000_000),
    maxPerPrefix: int('max-per-prefix', 1024, 1, 10_000_000),
    idleSec: int('idle-timeout', 300, 1, 86_400),
    queueBytes: int('queue-bytes', 131_072, 16_384, 1 << 30),
    allowFile: str(v, 'allow-file') ?? '',
    allowFailOpen: flag(v, 'allow-fail-open'),
    tlsCert: str(v, 'tls-cert') ?? '',
    tlsKey: str(v, 'tls-key') ?? '',
    http: listenAt('http', { host: '127.0.0.1', port: 9981 }, true),
    metricsToken: str(v, 'metrics-token') ?? '',
    logLevel,
  };
  if (a.bind4 === null && a.bind6 === null) throw new UsageError('--bind4 and --bind6 are both none: no UDP socket to relay from');
  if ((a.tlsCert === '') !== (a.tlsKey === '')) throw new UsageError('--tls-cert and --tls-key go together');
  const restricted = a.destinations.length > 0 || a.planets.length > 0;
  if (a.open && restricted) throw new UsageError('--open relays anywhere: leave out --destination and --planet, or --open');
  if (!a.open && !restricted) {
    throw new UsageError(
      'no destinations: pass --planet <your planet file> (its roots become the only destinations), --destination <ip>/<port> (repeatable), or --open to relay anywhere like tcp-proxy',
    );
  }
  return a;
}

/** "host:port" or "[ipv6]:port", or null. */
function hostPort(v: string): { host: string; port: number } | null {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(v);
  return m && Number(m[3]) <= 65535 ? { host: m[1] ?? m[2]!, port: Number(m[3]) } : null;
}

function badHostPort(flag: string, v: string): never {
  throw new UsageError(`${flag} ${JSON.stringify(v)}: expected host:port or [ipv6]:port${flag === '--http' ? " or 'none'" : ''}`);
}

/**
 * The destinations: --destination's, and the stable endpoints of every root of every --planet file.
 * @throws {CommandFailure} naming a planet file that cannot be read or is not a planet.
 */
function relayDestinations(a: RelayArgs): InetAddress[] {
  const out = [...a.destinations];
  for (const file of a.planets) {
    let world;
    try {
      world = readWorldFile(file);
    } catch (e) {
      throw new CommandFailure(`--planet ${file}: ${(e as Error).message}`);
    }
    for (const r of world.roots) out.push(...r.stableEndpoints);
  }
  return out;
}

function readPem(file: string, what: string, flagName: string): Buffer {
  try {
    return readFileSync(file);
  } catch (e) {
    throw new CommandFailure(describeFileError(`TLS ${what}`, file, `fix ${flagName} (a readable PEM file)`, e) ?? `TLS ${what} ${file}: ${(e as Error).message}`);
  }
}

/**
 * `ztroot relay` (argv after the subcommand). 0 after a clean stop on SIGINT/SIGTERM; a usage error (2) for
 * bad flags or no destination policy; a one-line failure (1) when a port is taken or a file unreadable —
 * after closing whatever had been opened.
 */
export async function main(argv: string[]): Promise<number> {
  const args = parseRelayArgs(argv);
  if ('kind' in args) {
    console.log(args.text);
    return 0;
  }
  const destinations = args.open ? 'any' : relayDestinations(args);
  const web =
    args.tlsCert === ''
      ? undefined
      : https.createServer(
          { cert: readPem(args.tlsCert, 'certificate', '--tls-cert'), key: readPem(args.tlsKey, 'key', '--tls-key'), handshakeTimeout: 10_000, headersTimeout: 10_000, requestTimeout: 30_000 },
          (_req, res) => {
            res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' });
            res.end('ztroot relay\n');
          },
        );
  const log = pino({ level: args.logLevel, base: { svc: 'ztroot-relay' } });
  const relay = new StandaloneRelay(
    {
      listen: args.listen,
      udpPort: args.udpPort,
      bind4: args.bind4,
      bind6: args.bind6,
      minPort: args.minPort,
      destinations,
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
  try {
    await relay.start(); // closes what it opened when it fails
  } catch (e) {
    // Which socket failed: the error names its address (and the TCP listener's syscall is 'listen').
    const tcp = (e as { syscall?: string }).syscall === 'listen';
    const v6 = String((e as { address?: string }).address ?? '').includes(':');
    const line = describeListenError(
      tcp
        ? { what: 'TCP relay', host: args.listen.host, port: args.listen.port, hostFlag: '--listen', portFlag: '--listen' }
        : { what: 'UDP', host: (v6 ? args.bind6 : args.bind4) ?? '', port: args.udpPort, hostFlag: v6 ? '--bind6' : '--bind4', portFlag: '--udp-port' },
      e,
    );
    throw line !== null ? new CommandFailure(line) : e;
  }
  let metricsServer: http.Server | null = null;
  if (args.http !== null) {
    const { host, port } = args.http;
    const registry = createRootMetricsRegistry();
    addRelayMetrics(registry, relay);
    try {
      // No Host check: this /metrics names no peer, and the relay has no setting for the names it is scraped by.
      const onAcceptError = (e: Error, count: number): void => log.error({ err: e.message, count }, 'relay metrics cannot accept connections');
      metricsServer = await listenHttpApi(metricsHandler(registry, args.metricsToken), host, port, { hosts: null, onAcceptError });
    } catch (e) {
      await relay.stop(); // never a relay running without its health and metrics
      const line = describeListenError({ what: 'HTTP metrics', host, port, hostFlag: '--http', portFlag: '--http' }, e);
      throw line !== null ? new CommandFailure(line) : e;
    }
  }
  if (destinations === 'any') {
    log.warn({ minPort: args.minPort }, 'open relay (--open): tunnel clients may send UDP to any address and port; prefer --planet or --destination');
  }
  log.info(
    { listen: `${args.listen.host}:${relay.port}`, udp4: relay.udpPort(4), udp6: relay.udpPort(6), tls: web !== undefined, destinations: destinations === 'any' ? 'any' : destinations.map(formatInetAddress) },
    'relay listening',
  );
  if (metricsServer !== null) {
    const a = metricsServer.address() as { address: string; port: number };
    log.info({ http: `${a.address}:${a.port}` }, 'relay metrics listening');
  }
  // SIGHUP re-reads the planet files: a planet update (roots moved or added) reaches the relay without a restart.
  const onHup = () => {
    if (args.open) return;
    try {
      const next = relayDestinations(args);
      relay.setDestinations(next);
      log.info({ destinations: next.map(formatInetAddress) }, 'destinations reloaded');
    } catch (e) {
      log.error({ err: (e as Error).message }, 'destinations reload failed; keeping the previous ones');
    }
  };
  process.on('SIGHUP', onHup);
  const stats = setInterval(() => log.info({ connections: relay.tunnel.connections, tunnels: relay.tunnel.tunnels }, 'relay status'), 60_000);
  stats.unref();
  await new Promise<void>((resolve) => {
    process.once('SIGINT', () => resolve());
    process.once('SIGTERM', () => resolve());
  });
  process.off('SIGHUP', onHup);
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
