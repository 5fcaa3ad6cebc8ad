/**
 * The root's configuration: defaults, then a YAML file, then environment variables, then flags —
 * each later source overriding the earlier. Every key has all three spellings (see CONFIG_KEYS), and
 * `ztroot start --print-config` prints the effective result.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { resolve } from 'node:path';
import { createRequire } from 'node:module';
import { ZtError, ZtErrorCode } from '../vl1/errors.js';
import { parseInetAddress, type InetAddress } from '../vl1/inet-address.js';
import { endpointProblem } from '../vl1/ip-scope.js';

export interface RootConfig {
  /** Where identity.secret, identity.public, the planet and its signing key live. */
  stateDir: string;
  /** UDP port for ZeroTier traffic. */
  port: number;
  /** IPv4 / IPv6 bind addresses; "none" disables that family. */
  bind4: string | null;
  bind6: string | null;
  /** Planet file to serve; default `<stateDir>/planet`, made on first start if missing. */
  planetFile: string;
  /** Stable endpoints ("ip/port") written into a planet made on first start; default: this host's addresses. */
  endpoints: string[];
  logLevel: 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal' | 'silent';
  /** Relay only datagrams that made fewer hops than this (ZeroTier 1.14: 3). */
  maxHops: number;
  /** Forget peers silent this long (seconds; ZeroTier: 500). */
  peerTimeoutSec: number;
  /** Identity-validation worker threads (0 = one less than the cores, at least 1). */
  validationWorkers: number;
  /** HTTP API and /metrics: "host:port" ("[v6]:port"), or null ("none") for no HTTP server. */
  httpListen: { host: string; port: number } | null;
  /** Bearer token required for /metrics and /api/* (empty: none; then httpListen must be a loopback address). */
  metricsToken: string;
  /** Names the HTTP API answers to besides IP literals and localhost (the Host-header check, root/host-check.ts). */
  httpAllowedHosts: string[];
  /** The fleet's Redis (redis://, rediss://, redis+sentinel://, redis-cluster://; see fleet/redis-url.ts); empty: no fleet. */
  fleetRedis: string;
  /** This process's name in the fleet, unique per process (default: `<address>-<instance id in the state dir>`, root/fleet-identity.ts). */
  rootId: string;
  /** Also serve every port the planet lists for this root (off when several processes of one root share a host). */
  servePlanetPorts: boolean;
  /** TCP fallback relay listener ("host:port", usually port 443), or null ("none", the default) for none. */
  tcpRelay: { host: string; port: number } | null;
  /**
   * Open TCP connections in total (0: as many as the descriptor limit allows after a reserve; a larger
   * number is lowered to that), per source IP (IPv6: per /64) and per prefix (IPv4 /24, IPv6 /48).
   */
  tcpRelayMaxConnections: number;
  tcpRelayMaxPerIp: number;
  tcpRelayMaxPerPrefix: number;
  /** Seconds without a record before a tunnel is closed (tcp-proxy: 300). */
  tcpRelayIdleSec: number;
  /** Bytes queued per connection before datagrams to it are dropped (tcp-proxy: 128 KiB). */
  tcpRelayQueueBytes: number;
  /** Where tunnel clients may send (see RootServerOptions.tunnelDestinations): peers | any. */
  tcpRelayDestinations: 'peers' | 'any';
  /** UDP sockets: 'auto' (the batched addon when it loads), 'batched' (refuse to start without it), 'dgram' (relay/udp-socket.ts). */
  udp: 'auto' | 'batched' | 'dgram';
  /** Lowest UDP port tunnel clients may send to. */
  tcpRelayMinPort: number;
  /** File of ZeroTier addresses allowed to use the TCP relay (one per line); empty: everyone. */
  tcpRelayAllowFile: string;
  /** When the allow-list file cannot be read or parsed: true lets everyone in, false (default) no one. */
  tcpRelayAllowFailOpen: boolean;
  /** PEM certificate and key: TLS on the TCP relay's port is then answered by the HTTP API over HTTPS. */
  tlsCert: string;
  tlsKey: string;
  /** The embedded probe (tools/probe/): 'auto' runs it when a fleet is configured. */
  probe: 'auto' | boolean;
  /** Milliseconds between probe rounds (each: one probe to every other root's probe leaf). */
  probeIntervalMs: number;
  /** The probe leaf's UDP port (0: a random free one). */
  probePort: number;
  /** Let the probe leaf fall back to the TCP/443 relay when UDP fails (probes then show as tunneled). */
  probeTcpRelay: boolean;
}

/** The shortest probe interval: a probe stays a trickle beside client traffic. */
export const MIN_PROBE_INTERVAL_MS = 200;

type Kind = 'string' | 'path' | 'port' | 'bind' | 'list' | 'hosts' | 'int' | 'level' | 'listen' | 'secret' | 'bool' | 'destinations' | 'auto-bool' | 'udp';

/** key → [kind, env var, flag, help]. */
export const CONFIG_KEYS: Record<keyof RootConfig, [Kind, string, string, string]> = {
  stateDir: ['string', 'ZTROOT_STATE_DIR', '--state-dir', 'state directory (identity, planet, keys)'],
  port: ['port', 'ZTROOT_PORT', '--port', 'UDP port (default 9993)'],
  bind4: ['bind', 'ZTROOT_BIND4', '--bind4', "IPv4 address to bind, or 'none' (default 0.0.0.0)"],
  bind6: ['bind', 'ZTROOT_BIND6', '--bind6', "IPv6 address to bind, or 'none' (default ::)"],
  planetFile: ['string', 'ZTROOT_PLANET', '--planet', 'planet file to serve (default <state-dir>/planet)'],
  endpoints: ['list', 'ZTROOT_ENDPOINTS', '--endpoint', 'stable endpoint ip/port for a planet made on first start (repeatable; env: comma-separated)'],
  logLevel: ['level', 'ZTROOT_LOG_LEVEL', '--log-level', 'trace|debug|info|warn|error|fatal|silent (default info)'],
  maxHops: ['int', 'ZTROOT_MAX_HOPS', '--max-hops', 'relay datagrams with fewer hops than this, 1..7 (default 3)'],
  peerTimeoutSec: ['int', 'ZTROOT_PEER_TIMEOUT', '--peer-timeout', 'seconds before a silent peer is forgotten (default 500)'],
  validationWorkers: ['int', 'ZTROOT_VALIDATION_WORKERS', '--validation-workers', 'identity validation threads, 0 = auto (default 0)'],
  httpListen: ['listen', 'ZTROOT_HTTP', '--http', "HTTP API and /metrics, host:port or 'none' (default 127.0.0.1:9980)"],
  metricsToken: ['secret', 'ZTROOT_METRICS_TOKEN', '--metrics-token', 'bearer token required for /metrics and /api (default: none; required when --http is not a loopback address)'],
  httpAllowedHosts: ['hosts', 'ZTROOT_HTTP_ALLOWED_HOSTS', '--http-allowed-host', 'a name the HTTP API answers to besides IP addresses and localhost, e.g. the one Prometheus scrapes by (repeatable; env: comma-separated)'],
  fleetRedis: ['secret', 'ZTROOT_FLEET_REDIS', '--fleet-redis', 'Redis URL shared by the fleet (default: none, a single root)'],
  rootId: ['string', 'ZTROOT_ROOT_ID', '--root-id', 'this process in the fleet, unique per process (default <root address>-<instance id kept in the state dir>)'],
  servePlanetPorts: ['bool', 'ZTROOT_SERVE_PLANET_PORTS', '--serve-planet-ports', 'also listen on every port the planet lists for this root, true|false (default true)'],
  tcpRelay: ['listen', 'ZTROOT_TCP_RELAY', '--tcp-relay', "TCP fallback relay for clients without UDP, host:port (e.g. [::]:443) or 'none' (default none)"],
  tcpRelayMaxConnections: ['int', 'ZTROOT_TCP_RELAY_MAX_CONNECTIONS', '--tcp-relay-max-connections', 'open TCP connections in total; 0 = what the descriptor limit allows, kept free for health, metrics and Redis (default 0)'],
  tcpRelayMaxPerIp: ['int', 'ZTROOT_TCP_RELAY_MAX_PER_IP', '--tcp-relay-max-per-ip', 'open TCP connections per source IP, IPv6 per /64 (default 256)'],
  tcpRelayMaxPerPrefix: ['int', 'ZTROOT_TCP_RELAY_MAX_PER_PREFIX', '--tcp-relay-max-per-prefix', 'open TCP connections per source IPv4 /24 or IPv6 /48 (default 1024)'],
  tcpRelayIdleSec: ['int', 'ZTROOT_TCP_RELAY_IDLE', '--tcp-relay-idle', 'seconds without traffic before a tunnel is closed (default 300)'],
  tcpRelayQueueBytes: ['int', 'ZTROOT_TCP_RELAY_QUEUE_BYTES', '--tcp-relay-queue-bytes', 'bytes queued per connection before datagrams are dropped (default 131072)'],
  udp: ['udp', 'ZTROOT_UDP', '--udp', "UDP sockets: auto (batched recvmmsg/sendmmsg when the native addon is built, else node:dgram), batched (fail without the addon) or dgram (default auto)"],
  tcpRelayDestinations: ['destinations', 'ZTROOT_TCP_RELAY_DESTINATIONS', '--tcp-relay-destinations', "where tunnel clients may send: 'peers' (known peers and roots) or 'any' (default peers)"],
  tcpRelayMinPort: ['port', 'ZTROOT_TCP_RELAY_MIN_PORT', '--tcp-relay-min-port', 'lowest UDP port tunnel clients may send to (default 1025)'],
  tcpRelayAllowFile: ['path', 'ZTROOT_TCP_RELAY_ALLOW_FILE', '--tcp-relay-allow-file', 'file of ZeroTier addresses allowed to use the TCP relay (default: everyone)'],
  tcpRelayAllowFailOpen: ['bool', 'ZTROOT_TCP_RELAY_ALLOW_FAIL_OPEN', '--tcp-relay-allow-fail-open', 'if the allow-list cannot be read: true = allow all, false = deny all (default false)'],
  tlsCert: ['path', 'ZTROOT_TLS_CERT', '--tls-cert', 'PEM certificate: TLS on the TCP relay port gets the HTTP API over HTTPS (with --tls-key)'],
  tlsKey: ['path', 'ZTROOT_TLS_KEY', '--tls-key', 'PEM private key for --tls-cert'],
  probe: ['auto-bool', 'ZTROOT_PROBE', '--probe', "embedded probe leaf that probes the other roots: auto (on with --fleet-redis), true or false (default auto; --no-probe = false)"],
  probeIntervalMs: ['int', 'ZTROOT_PROBE_INTERVAL_MS', '--probe-interval-ms', `milliseconds between probe rounds, at least ${MIN_PROBE_INTERVAL_MS} (default 5000)`],
  probePort: ['port', 'ZTROOT_PROBE_PORT', '--probe-port', "the probe leaf's UDP port, 0 = a random free one (default 0)"],
  probeTcpRelay: ['bool', 'ZTROOT_PROBE_TCP_RELAY', '--probe-tcp-relay', 'let the probe leaf fall back to the TCP/443 relay when UDP fails, true|false (default false)'],
};


export function defaultConfig(): RootConfig {
  return {
    stateDir: resolve('.state'),
    port: 9993,
    bind4: '0.0.0.0',
    bind6: '::',
    planetFile: '',
    endpoints: [],
    logLevel: 'info',
    maxHops: 3,
    peerTimeoutSec: 500,
    validationWorkers: 0,
    httpListen: { host: '127.0.0.1', port: 9980 },
    metricsToken: '',
    httpAllowedHosts: [],
    fleetRedis: '',
    rootId: '',
    servePlanetPorts: true,
    tcpRelay: null,
    tcpRelayMaxConnections: 0,
    tcpRelayMaxPerIp: 256,
    tcpRelayMaxPerPrefix: 1024,
    tcpRelayIdleSec: 300,
    tcpRelayQueueBytes: 131_072,
    tcpRelayDestinations: 'peers',
    udp: 'auto',
    tcpRelayMinPort: 1025,
    tcpRelayAllowFile: '',
    tcpRelayAllowFailOpen: false,
    tlsCert: '',
    tlsKey: '',
    probe: 'auto',
    probeIntervalMs: 5000,
    probePort: 0,
    probeTcpRelay: false,
  };
}

const LEVELS = new Set(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']);

function bad(source: string, key: string, value: unknown, why: string): ZtError {
  return new ZtError(ZtErrorCode.BAD_CONFIG, `${source}: ${key} = ${JSON.stringify(value)}: ${why}`);
}

/** Converts one raw value (YAML value, env string or flag string) to its typed form. */
function convert(key: keyof RootConfig, raw: unknown, source: string): RootConfig[keyof RootConfig] {
  const kind = CONFIG_KEYS[key][0];
  const asInt = (v: unknown): number => {
    const n = typeof v === 'number' ? v : typeof v === 'string' && /^\s*\d+\s*$/.test(v) ? Number(v) : NaN;
    if (!Number.isInteger(n)) throw bad(source, key, raw, 'not a whole number');
    return n;
  };
  switch (kind) {
    case 'string':
      if (typeof raw !== 'string' || raw === '') throw bad(source, key, raw, 'expected a non-empty string');
      return raw;
    case 'path':
      if (typeof raw !== 'string') throw bad(source, key, raw, 'expected a file path');
      return raw === '' ? '' : resolve(raw);
    case 'udp':
      if (raw !== 'auto' && raw !== 'batched' && raw !== 'dgram') throw bad(source, key, raw, "must be 'auto', 'batched' or 'dgram'");
      return raw;
    case 'destinations':
      if (raw !== 'peers' && raw !== 'any') throw bad(source, key, raw, "must be 'peers' or 'any'");
      return raw;
    case 'port': {
      const n = asInt(raw);
      if (n < 0 || n > 65535) throw bad(source, key, raw, 'port must be 0..65535');
      return n;
    }
    case 'bind':
      if (typeof raw !== 'string' || raw === '') throw bad(source, key, raw, "expected an address or 'none'");
      return raw === 'none' ? null : raw;
    case 'int': {
      const n = asInt(raw);
      if (key === 'maxHops' && (n < 1 || n > 7)) throw bad(source, key, raw, 'must be 1..7');
      if (key === 'peerTimeoutSec' && n < 1) throw bad(source, key, raw, 'must be at least 1');
      if ((key === 'tcpRelayMaxPerIp' || key === 'tcpRelayMaxPerPrefix' || key === 'tcpRelayIdleSec') && n < 1) throw bad(source, key, raw, 'must be at least 1');
      // One frame must fit: the largest ZeroTier datagram with its record header and address.
      if (key === 'tcpRelayQueueBytes' && n < 16384) throw bad(source, key, raw, 'must be at least 16384');
      if (key === 'probeIntervalMs' && (n < MIN_PROBE_INTERVAL_MS || n > 3_600_000)) throw bad(source, key, raw, `must be ${MIN_PROBE_INTERVAL_MS}..3600000 (milliseconds)`);
      return n;
    }
    case 'listen': {
      if (raw === 'none') return null;
      const m = typeof raw === 'string' ? /^(?:\[([0-9a-fA-F:.]+)\]|([^:\[\]]+)):(\d{1,5})$/.exec(raw) : null;
      const port = m ? Number(m[3]) : NaN;
      if (!m || port > 65535) throw bad(source, key, raw, "expected host:port, [ipv6]:port or 'none'");
      return { host: m[1] ?? m[2]!, port };
    }
    case 'auto-bool':
      if (raw === 'auto') return 'auto';
      if (raw === true || raw === 'true') return true;
      if (raw === false || raw === 'false') return false;
      throw bad(source, key, raw, 'expected auto, true or false');
    case 'bool':
      if (raw === true || raw === 'true') return true;
      if (raw === false || raw === 'false') return false;
      throw bad(source, key, raw, 'expected true or false');
    case 'secret':
      if (typeof raw !== 'string') throw bad(source, key, '(hidden)', 'expected a string');
      return raw;
    case 'level':
      if (typeof raw !== 'string' || !LEVELS.has(raw)) throw bad(source, key, raw, `must be one of ${[...LEVELS].join(', ')}`);
      return raw as RootConfig['logLevel'];
    case 'hosts': {
      const items = Array.isArray(raw) ? raw : typeof raw === 'string' ? raw.split(',').map((s) => s.trim()).filter(Boolean) : null;
      if (items === null) throw bad(source, key, raw, 'expected a list of host names');
      for (const i of items) {
        if (typeof i !== 'string' || !/^(?=.{1,253}$)[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*\.?$/i.test(i)) {
          throw bad(source, key, i, 'expected a host name without port or scheme, e.g. root1.example.com');
        }
      }
      return (items as string[]).map((i) => i.toLowerCase());
    }
    case 'list': {
      const items = Array.isArray(raw) ? raw : typeof raw === 'string' ? raw.split(',').map((s) => s.trim()).filter(Boolean) : null;
      if (items === null || items.some((i) => typeof i !== 'string')) throw bad(source, key, raw, 'expected a list of ip/port strings');
      for (const i of items as string[]) {
        let a: InetAddress;
        try {
          a = parseInetAddress(i);
        } catch (e) {
          throw bad(source, key, i, (e as Error).message);
        }
        // The same check mkplanet applies to a spec: an endpoint clients would ignore is refused here, not
        // discovered when no client can reach the root.
        const problem = endpointProblem(a);
        if (problem !== null) throw bad(source, key, i, `${problem}; give an address clients reach`);
      }
      return items as string[];
    }
  }
}

export interface LoadedConfig {
  config: RootConfig;
  /** Where each key's value came from: default, file, env or flag. */
  origin: Record<keyof RootConfig, string>;
  printConfig: boolean;
  help: boolean;
  version: boolean;
}

/**
 * Builds the effective config from defaults, `--config FILE` (or ZTROOT_CONFIG), env and flags.
 * @throws {ZtError} BAD_CONFIG naming the source, the key and the value; FILE when the file is unreadable;
 *   parseArgs' own TypeError (code ERR_PARSE_ARGS_*) for an unknown option or a missing value.
 */
export function loadConfig(argv: string[], env: NodeJS.ProcessEnv = process.env): LoadedConfig {
  const config = defaultConfig();
  const origin = Object.fromEntries(Object.keys(config).map((k) => [k, 'default'])) as Record<keyof RootConfig, string>;
  const set = (key: keyof RootConfig, raw: unknown, source: string) => {
    (config as unknown as Record<string, unknown>)[key] = convert(key, raw, source);
    origin[key] = source;
  };

  // The flags, parsed by node:util parseArgs (strict) from the table CONFIG_KEYS makes: its errors
  // (ERR_PARSE_ARGS_*: unknown option, missing value) reach the CLI's top level as usage errors.
  const { values } = parseArgs({ args: argv, options: configArgOptions(), strict: true, allowPositionals: false });
  const help = values.help === true;
  const version = values.version === true;
  const printConfig = values['print-config'] === true;
  let file = typeof values.config === 'string' ? values.config : (env.ZTROOT_CONFIG ?? '');
  const flags: Array<[keyof RootConfig, string | string[]]> = [];
  for (const [key, [, , flag]] of Object.entries(CONFIG_KEYS)) {
    const v = values[flag.slice(2)];
    if (typeof v === 'string' || Array.isArray(v)) flags.push([key as keyof RootConfig, v as string | string[]]);
  }
  if (values['no-probe'] === true) {
    if (typeof values.probe === 'string') throw new ZtError(ZtErrorCode.BAD_CONFIG, `flag --no-probe: contradicts --probe ${values.probe}; give one of them`);
    flags.push(['probe', 'false']);
  }

  if (file !== '') {
    let doc: unknown;
    try {
      // Loaded only when a file is given: the YAML parser is a good part of start-up time otherwise.
      const { parse } = createRequire(import.meta.url)('yaml') as typeof import('yaml');
      doc = parse(readFileSync(file, 'utf8'));
    } catch (e) {
      throw new ZtError(ZtErrorCode.FILE, `config file ${file}: ${(e as Error).message}`);
    }
    if (doc !== null && doc !== undefined) {
      if (typeof doc !== 'object' || Array.isArray(doc)) throw new ZtError(ZtErrorCode.BAD_CONFIG, `config file ${file}: expected a mapping of keys`);
      for (const [k, v] of Object.entries(doc as Record<string, unknown>)) {
        if (!(k in CONFIG_KEYS)) throw new ZtError(ZtErrorCode.BAD_CONFIG, `config file ${file}: unknown key ${JSON.stringify(k)} (known: ${Object.keys(CONFIG_KEYS).join(', ')})`);
        set(k as keyof RootConfig, v, `config file ${file}`);
      }
    }
  }
  for (const [key, [, envName]] of Object.entries(CONFIG_KEYS)) {
    const v = env[envName];
    if (v !== undefined && v !== '') set(key as keyof RootConfig, v, `env ${envName}`);
  }
  // Repeated --endpoint and --http-allowed-host flags accumulate (options of several values); every other flag's last value wins.
  for (const [key, value] of flags) set(key, value, `flag ${CONFIG_KEYS[key][2]}`);

  config.stateDir = resolve(config.stateDir);
  if (config.planetFile === '') config.planetFile = resolve(config.stateDir, 'planet');
  else config.planetFile = resolve(config.planetFile);
  if (config.bind4 === null && config.bind6 === null) throw new ZtError(ZtErrorCode.BAD_CONFIG, 'bind4 and bind6 are both "none": nothing to listen on');
  if ((config.tlsCert === '') !== (config.tlsKey === '')) {
    throw new ZtError(ZtErrorCode.BAD_CONFIG, `tlsCert and tlsKey go together: got ${config.tlsCert === '' ? 'only tlsKey' : 'only tlsCert'}`);
  }
  if (config.tlsCert !== '' && config.tcpRelay === null) throw new ZtError(ZtErrorCode.BAD_CONFIG, 'tlsCert/tlsKey serve HTTPS on the TCP relay port: set tcpRelay too');
  return { config, origin, printConfig, help, version };
}

/** parseArgs' option table for `ztroot start`: one string option per CONFIG_KEYS flag, and the meta flags. */
export function configArgOptions(): Record<string, { type: 'string' | 'boolean'; multiple?: boolean; short?: string }> {
  const options: Record<string, { type: 'string' | 'boolean'; multiple?: boolean; short?: string }> = {
    config: { type: 'string' },
    'print-config': { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
    version: { type: 'boolean' },
    'no-probe': { type: 'boolean' },
  };
  for (const [kind, , flag] of Object.values(CONFIG_KEYS)) options[flag.slice(2)] = kind === 'list' || kind === 'hosts' ? { type: 'string', multiple: true } : { type: 'string' };
  return options;
}

export function configHelp(): string {
  const lines = ['options (each also settable in the YAML file given by --config, and by its env var):'];
  for (const [key, [kind, envName, flag, help]] of Object.entries(CONFIG_KEYS)) {
    lines.push(`  ${`${flag} <v>`.padEnd(30)} ${help}${kind === 'list' ? ' (repeatable)' : ''}`, `  ${''.padEnd(30)} file: ${key}, env: ${envName}`);
  }
  lines.push(
    '  --config <file>                YAML config file (env: ZTROOT_CONFIG)',
    '  --no-probe                     the same as --probe false',
    '  --print-config                 print the effective config, and where each value came from, and exit',
    '  --version                      print the version',
    '  -h, --help                     show this help',
    '',
    'Precedence: defaults < config file < environment < flags.',
  );
  return lines.join('\n');
}
