/**
 * `ztroot start` (what `npm start` runs): a ZeroTier root on embedded defaults or a config.
 *
 * Start-up runs in steps, each of which either succeeds or fails with ONE line naming what failed and how
 * to fix it; whatever earlier steps opened (validation workers, the fleet's Redis connection, UDP sockets,
 * the TCP relay) is closed again before the process exits 1 — never a root half-started (UDP served
 * without health or metrics) or a process left running:
 *
 *   1. configuration      defaults < YAML < env < flags (root/config.ts); a mistake is a usage error (exit 2)
 *   2. state directory    identity (made on first start); the planet (checked to list this root), or a
 *                         first-start planet planned in memory, listing addresses clients can reach
 *   3. TLS files          read before anything listens
 *   4. serving            validation workers, the fleet store, UDP sockets, the TCP relay, the HTTP API
 *   5. first start only   the planned planet and its key written, once the root serves it
 *   6. running            planet reloads on change and SIGHUP, until SIGINT/SIGTERM stop it cleanly
 */
import { watchFile, unwatchFile, readFileSync, existsSync } from 'node:fs';
import https from 'node:https';
import type http from 'node:http';
import { availableParallelism, networkInterfaces } from 'node:os';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { pino, type Logger } from 'pino';
import { limitLogs } from '../root/log-limiter.js';
import { configHelp, loadConfig, type LoadedConfig, type RootConfig } from '../root/config.js';
import {
  chooseEndpoints,
  loadOrCreateIdentity,
  loadPlanet,
  migrateStateDir,
  planFirstPlanet,
  writeFirstPlanet,
  PLANET_SPEC_FILE,
  type LoadedPlanet,
  type PlannedPlanet,
} from '../root/state.js';
import type { RootServer, RootFleet } from '../root/root-server.js';
import type { RedisPeerStore } from '../fleet/redis-store.js';
import { formatAddress } from '../vl1/address.js';
import { ZtError } from '../vl1/errors.js';
import { formatInetAddress, parseInetAddress, parseIp, type InetAddress } from '../vl1/inet-address.js';
import { toHex } from '../vl1/bytes.js';
import { fleetName } from '../root/fleet-identity.js';
import type { Identity } from '../vl1/identity.js';
import { worldUpdateVerdict } from '../planet/world.js';
import { KEY_FILE, stateFilesIn } from '../planet/state.js';
import { UsageError, versionLine } from './args.js';
import { httpExposureProblem } from '../root/host-check.js';
import { CommandFailure, describeFailure } from './run-main.js';
import { describeFileError, describeListenError } from './listen-errors.js';
import { VERSION } from './version.js';
import { aesEngineLogFields } from './aes-engine.js';
import { probeOff, type ProbeApi } from '../root/probe-api.js';
import type { ProbeService } from './probe/probe-service.js';

/** The whole budget for closing what a failed start opened (the process must be gone within 2 s). */
const TEARDOWN_MS = 1000;

export async function main(argv: string[]): Promise<number> {
  // 1. configuration
  const loaded = readConfig(argv);
  if (loaded.help) {
    console.log(`usage: ztroot start [options]\n\nRuns a ZeroTier root server.\n\n${configHelp()}`);
    return 0;
  }
  if (loaded.version) {
    console.log(versionLine());
    return 0;
  }
  const { config } = loaded;
  if (loaded.printConfig) {
    printConfig(loaded);
    return 0;
  }
  const log = makeLogger(config);
  const teardown = new Teardown();
  let root: Started;
  try {
    // 2. state directory; 3. TLS files
    const state = prepareState(config, loaded, log);
    const tls = config.tlsCert === '' ? null : readTls(config);
    // 4. serving
    root = await serve(config, state, tls, log, teardown);
    // 5. first start: the planet goes to disk only now that the root serves it
    if (state.planned !== null) persistPlanet(config, state.planned, state.identity, state.endpointWarnings);
  } catch (e) {
    await teardown.run(TEARDOWN_MS);
    log.fatal({ err: describeFailure('ztroot start', e).line }, 'start failed'); // for log collectors; stderr gets the line too
    throw e;
  }
  const { server, planet } = root;
  log.info(
    { address: formatAddress(server.identity.address), ports: server.ports, planet: planet.world.id.toString(16), planetTimestamp: planet.world.timestamp, planetSha256: sha256(planet.bytes) },
    'root started',
  );

  // 6. running
  watchPlanet(config.planetFile, server, log, teardown);
  const signal = await new Promise<string>((resolve) => {
    process.once('SIGINT', () => resolve('SIGINT'));
    process.once('SIGTERM', () => resolve('SIGTERM'));
  });
  log.info({ signal }, 'stopping');
  await teardown.run(10_000);
  log.info({ counters: Object.fromEntries(server.counters) }, 'stopped');
  return 0;
}

// --- 1. configuration ------------------------------------------------------------------------------------------

/** The effective config; any mistake in flags, env or file is a usage error (exit 2). */
function readConfig(argv: string[]): LoadedConfig {
  let loaded: LoadedConfig;
  try {
    loaded = loadConfig(argv);
  } catch (e) {
    if (e instanceof ZtError) throw new UsageError(e.message);
    throw e; // parseArgs' own errors: the top level words them as usage errors
  }
  // The API names every peer: beyond loopback only behind a token (root/host-check.ts).
  const exposure = httpExposureProblem(loaded.config.httpListen, loaded.config.metricsToken);
  if (exposure !== null && !loaded.help && !loaded.version && !loaded.printConfig) throw new UsageError(exposure);
  return loaded;
}

function printConfig({ config, origin }: LoadedConfig): void {
  for (const [k, v] of Object.entries(config)) {
    const shown = (k === 'metricsToken' || k === 'fleetRedis') && v !== '' ? '"(set)"' : JSON.stringify(v); // never print a secret
    console.log(`${k.padEnd(22)} ${shown.padEnd(40)} (${origin[k as keyof typeof origin]})`);
  }
}

/** The process's logger: JSON lines on stdout, each message at most a few times per interval (root/log-limiter.ts). */
function makeLogger(config: RootConfig): Logger {
  return limitLogs(pino({ level: config.logLevel, base: { svc: 'ztroot' } }));
}


// --- 2. state directory ----------------------------------------------------------------------------------------

interface PreparedState {
  identity: Identity;
  /** What is served: the planet file, or the first-start planet planned in memory. */
  planet: LoadedPlanet;
  /** Set on first start: written by persistPlanet once the root serves it. */
  planned: PlannedPlanet | null;
  endpointWarnings: string[];
}

function prepareState(config: RootConfig, loaded: LoadedConfig, log: Logger): PreparedState {
  const fix = 'choose another --state-dir (env ZTROOT_STATE_DIR), or make this one a directory this user can write';
  const { identity, created } = fileStep(() => loadOrCreateIdentity(config.stateDir), 'state directory', config.stateDir, fix);
  if (created) log.info({ address: formatAddress(identity.address), stateDir: config.stateDir }, 'created a new root identity');
  const migrated = fileStep(() => migrateStateDir(config.stateDir), 'state directory', config.stateDir, fix);
  if (migrated !== null) log.warn({ stateDir: config.stateDir }, migrated);

  if (existsSync(config.planetFile)) {
    const planet = loadPlanet(config.planetFile, identity);
    if (loaded.origin.endpoints !== 'default') {
      log.warn({ planet: config.planetFile }, `endpoints (${loaded.origin.endpoints}) only shape a planet made on first start; this planet exists and is served as it is (change it with mkplanet update)`);
    }
    return { identity, planet, planned: null, endpointWarnings: [] };
  }
  if (config.planetFile !== join(config.stateDir, 'planet')) {
    throw new CommandFailure(`planet file ${config.planetFile} does not exist: make one with 'ztroot mkplanet', or leave --planet unset to have one made`);
  }
  // A key or history without the planet: the planet was lost or moved. A new one (new id) would strand every
  // client holding the old; say how to get it back instead.
  const leftovers = stateFilesIn(config.stateDir);
  if (leftovers.length > 0) {
    throw new CommandFailure(
      `state directory ${config.stateDir} holds ${leftovers.join(', ')} but no planet: restore it (the newest file in history/ is the last planet made: copy it to ${config.planetFile}), or move those away to have a new planet made (clients must then install it)`,
    );
  }
  const { endpoints, warnings } = firstPlanetEndpoints(config);
  const planned = planFirstPlanet(identity, endpoints);
  return { identity, planet: planned, planned, endpointWarnings: warnings };
}

/** The endpoints a first-start planet lists: the configured ones, or this host's reachable addresses. */
function firstPlanetEndpoints(config: RootConfig): { endpoints: InetAddress[]; warnings: string[] } {
  if (config.endpoints.length > 0) return { endpoints: config.endpoints.map((e) => parseInetAddress(e)), warnings: [] };
  if (config.port === 0) {
    throw new UsageError('--port 0 takes a new port at every start, so a planet made now would send clients nowhere next time: give --endpoint <ip>/<port>, or a fixed --port');
  }
  const chosen = chooseEndpoints(networkInterfaces(), config.port);
  if (chosen.endpoints.length === 0) {
    throw new CommandFailure('no address clients could reach was found on this host for the planet: pass --endpoint <public ip>/<port> (repeatable)');
  }
  return chosen;
}

/** Runs a file-system step; an errno error becomes one line naming `what` `path` and the fix. */
function fileStep<T>(fn: () => T, what: string, path: string, fix: string): T {
  try {
    return fn();
  } catch (e) {
    const line = describeFileError(what, path, fix, e);
    throw line !== null ? new CommandFailure(line) : e;
  }
}

// --- 3. TLS files ----------------------------------------------------------------------------------------------

function readTls(config: RootConfig): { cert: Buffer; key: Buffer } {
  const read = (file: string, flag: string, what: string): Buffer =>
    fileStep(() => readFileSync(file), `TLS ${what}`, file, `fix ${flag} (a readable PEM file)`);
  return { cert: read(config.tlsCert, '--tls-cert', 'certificate'), key: read(config.tlsKey, '--tls-key', 'key') };
}

// --- 4. serving ------------------------------------------------------------------------------------------------

interface Started {
  server: RootServer;
  planet: LoadedPlanet;
}

async function serve(config: RootConfig, state: PreparedState, tls: { cert: Buffer; key: Buffer } | null, log: Logger, teardown: Teardown): Promise<Started> {
  const { identity, planet } = state;
  // The serving modules load here, not at start-up: a start that fails earlier (config, state) or a --help
  // does not pay for them; the HTTP side loads after the UDP sockets are bound (a busy port fails sooner).
  const [{ RootServer }, { IdentityValidator }, { RememberingValidator }, { ValidatedIdentities, VALIDATED_IDENTITIES_FILE }, { addRootMetrics, createRootMetricsRegistry, timeValidations }, fleetModules, { addProbeMetrics }, probeModule] = await Promise.all([
    import('../root/root-server.js'),
    import('../root/identity-validator.js'),
    import('../root/identity-validator-remembered.js'),
    import('../root/validated-identities.js'),
    import('../root/metrics.js'),
    config.fleetRedis === '' ? null : Promise.all([import('../fleet/redis-store.js'), import('../fleet/cached-store.js')]),
    import('./probe/probe-metrics.js'),
    config.fleetRedis === '' || config.probe === false ? null : Promise.all([import('./probe/probe-service.js'), import('./probe/probe-identity.js')]).then(([a, b]) => ({ ...a, ...b })),
  ]);
  const workers = config.validationWorkers > 0 ? config.validationWorkers : Math.max(1, availableParallelism() - 1);
  const validator = new IdentityValidator({ workers });
  teardown.add('identity validator', () => validator.close());
  log.info(aesEngineLogFields(), 'AES-GMAC-SIV engine (packet suite 3)');
  log.info({ identityHash: validator.hashImplementation, ...(validator.hashFallbackReason ? { why: validator.hashFallbackReason } : {}) }, 'identity validation hash');
  // Identities validated before (this state directory, or the fleet once its store exists) skip the hash.
  const remembered = ValidatedIdentities.open(join(config.stateDir, VALIDATED_IDENTITIES_FILE), { logger: log });
  teardown.add('validated identities', () => remembered.close());
  const admission = new RememberingValidator(validator, remembered, log);
  // Made before the server so validations are timed from the first HELLO (the histogram lives in it).
  const registry = createRootMetricsRegistry();
  const timedValidator = timeValidations(admission, registry);
  const probe = probeSetup(config);
  const observeRtt = addProbeMetrics(registry, () => probe.service);
  // Serve every port the planet lists for this root too: clients pick any stable endpoint.
  const me = planet.world.roots.find((r) => r.identity.equals(identity));
  const extraPorts = config.servePlanetPorts ? [...new Set((me?.stableEndpoints ?? []).map((e) => e.port))].filter((p) => p !== config.port) : [];

  // The fleet: a Redis store shared by the planet's roots (nothing on the packet path waits for it).
  let server: RootServer | undefined;
  let fleet: RootFleet | undefined;
  if (fleetModules !== null) {
    const [{ RedisPeerStore }, { PeerStoreCache }] = fleetModules;
    let store: RedisPeerStore;
    try {
      store = new RedisPeerStore({ url: config.fleetRedis, fleet: planet.world.id.toString(16), resync: () => server?.resyncFleet() });
    } catch (e) {
      throw e instanceof ZtError ? new UsageError(`--fleet-redis: ${e.message}`) : e;
    }
    teardown.add('fleet store', () => store.close());
    admission.useFleet(store);
    store.on('degraded', (e: Error) => log.warn({ err: e.message }, 'fleet store unreachable: serving from what this root knows, writes queued'));
    store.on('recovered', () => log.info({}, 'fleet store back: queued writes flushed and state resynchronised'));
    // This process's name in the fleet: configured, or <address>-<instance id of this state dir> (root/fleet-identity.ts).
    const name = fileStep(() => fleetName(config.stateDir, identity.address, config.rootId), 'fleet instance id in', config.stateDir, 'make the state directory writable');
    fleet = {
      store,
      cache: new PeerStoreCache(store),
      rootId: name.rootId,
      endpoints: servedEndpoints(me?.stableEndpoints ?? [], [config.port, ...extraPorts]),
      ...(name.renew !== undefined ? { renewRootId: name.renew } : {}),
    };
    if (probeModule !== null && prepareProbeIdentity(config, identity, probe, log, probeModule.existingProbeIdentity)) {
      if (probe.identity !== null) fleet.probe = probe.identity.address; // in the heartbeats from the first (else once made)
      fleet.probeRow = () => probe.service?.row();
    }
    log.info({ rootId: name.rootId, configured: config.rootId !== '' }, 'fleet root id');
  }

  server = new RootServer(
    {
      port: config.port,
      extraPorts,
      bind4: config.bind4,
      bind6: config.bind6,
      peerTimeoutMs: config.peerTimeoutSec * 1000,
      relay: { maxHops: config.maxHops },
      tunnelDestinations: config.tcpRelayDestinations,
      udp: config.udp,
      tunnelMinPort: config.tcpRelayMinPort,
      version: versionTriple(VERSION),
    },
    { identity, planet: planet.bytes, validator: timedValidator, logger: log, ...(fleet ? { fleet } : {}) },
  );
  const root = server;
  teardown.add('root server', () => root.stop());
  await listenStep(() => root.start(), (e) => {
    const family6 = typeof (e as { address?: unknown }).address === 'string' && String((e as { address: string }).address).includes(':');
    const port = (e as { port?: unknown }).port;
    return {
      what: 'UDP',
      host: family6 ? (config.bind6 ?? '::') : (config.bind4 ?? '0.0.0.0'),
      port: config.port,
      hostFlag: family6 ? '--bind6' : '--bind4',
      portFlag: '--port',
      ...(typeof port === 'number' && extraPorts.includes(port) ? { portNote: `port ${port} is this root's in the planet; --serve-planet-ports false serves --port only` } : {}),
    };
  });

  const [{ createHttpApiHandler, listenHttpApi }, { attachLiveDashboard }, { HostPolicy }] = await Promise.all([
    import('../root/http-api.js'),
    import('../root/live-dashboard.js'),
    import('../root/host-check.js'),
  ]);
  const ready = () => {
    const problems: string[] = [];
    if (root.ports.length === 0) problems.push('UDP sockets are not bound');
    if (config.tcpRelay !== null && root.tunnel === null) problems.push('the TCP relay is not listening');
    return problems;
  };
  if (config.httpListen !== null || config.tcpRelay !== null) addRootMetrics(registry, root, { get stats() { return { ...validator.stats, ...admission.stats }; } }, fleet);
  const apiHandler = createHttpApiHandler(root, registry, { token: config.metricsToken, version: VERSION, identityHash: validator.hashImplementation, probe: () => probe.service ?? probe.off }, ready);

  if (config.tcpRelay !== null) {
    const { host, port } = config.tcpRelay;
    const web = tls === null ? undefined : publicHttps(tls, config.metricsToken, apiHandler, log);
    await listenStep(
      () =>
        root.startTunnel(
          host,
          port,
          {
            maxConnections: config.tcpRelayMaxConnections,
            maxConnectionsPerIp: config.tcpRelayMaxPerIp,
            maxConnectionsPerPrefix: config.tcpRelayMaxPerPrefix,
            idleTimeoutMs: config.tcpRelayIdleSec * 1000,
            maxQueueBytes: config.tcpRelayQueueBytes,
            allowList: config.tcpRelayAllowFile === '' ? null : { file: config.tcpRelayAllowFile, failOpen: config.tcpRelayAllowFailOpen },
          },
          web,
        ),
      () => ({ what: 'TCP relay', host, port, hostFlag: '--tcp-relay', portFlag: '--tcp-relay' }),
    );
  }

  if (config.httpListen !== null) {
    const { host, port } = config.httpListen;
    const hosts = new HostPolicy(host, config.httpAllowedHosts);
    const onAcceptError = (e: Error, count: number): void => log.error({ err: e.message, count }, 'HTTP API cannot accept connections');
    const httpServer = await listenStep(() => listenHttpApi(apiHandler, host, port, { hosts, onAcceptError }), () => ({ what: 'HTTP API', host, port, hostFlag: '--http', portFlag: '--http' }));
    teardown.add('HTTP API', () => new Promise<void>((r) => httpServer.close(() => r())));
    const stopLive = attachLiveDashboard(httpServer, root, { token: config.metricsToken, hosts, probe: () => probe.service ?? probe.off });
    teardown.add('live dashboard', async () => stopLive());
    const a = httpServer.address() as { address: string; port: number };
    log.info({ http: `${a.address}:${a.port}` }, 'HTTP API, /metrics and the live dashboard listening');
  }
  // The probe last: it is a client of what the steps above started, and its failure is its own (never the root's).
  if (probe.usable && fleet !== undefined && probeModule !== null) {
    const f = fleet;
    const svc = new probeModule.ProbeService(
      {
        stateDir: config.stateDir,
        planet: { id: planet.world.id, bytes: planet.bytes },
        intervalMs: config.probeIntervalMs,
        port: config.probePort,
        tcpRelay: config.probeTcpRelay,
        logger: log.child({ part: 'probe' }),
        observe: observeRtt,
        rootIdentity: identity,
        onIdentity: (id) => {
          f.probe = id.address;
          root.fleet?.tick(); // the heartbeats name a new probe leaf before it first speaks (its traffic is counted apart)
        },
      },
      probe.identity,
      { rootId: () => f.rootId, roots: () => f.store.roots() },
    );
    probe.service = svc;
    teardown.add('probe', () => svc.stop());
    svc.start();
  }
  return { server: root, planet };
}

/** The probe's plan before anything serves: off (and why), or its identity (null: made at its start). */
interface ProbeSetup {
  off: ProbeApi;
  usable: boolean;
  identity: Identity | null;
  service: ProbeService | null;
}

function probeSetup(config: RootConfig): ProbeSetup {
  const why =
    config.probe === false
      ? 'the probe is turned off (probe: false / --no-probe)'
      : config.fleetRedis === ''
        ? "no fleet is configured (--fleet-redis): probes find the other roots' probes through the fleet's heartbeats"
        : 'the probe has not started';
  return { off: probeOff(why), usable: false, identity: null, service: null };
}

/** Reads an existing probe identity into `probe`; false (and why, in `probe.off`) when its file is unusable. */
function prepareProbeIdentity(config: RootConfig, root: Identity, probe: ProbeSetup, log: Logger, existing: (stateDir: string, root: Identity) => Identity | null): boolean {
  try {
    probe.identity = existing(config.stateDir, root);
    probe.usable = true;
    return true;
  } catch (e) {
    const reason = `the probe's identity (${join(config.stateDir, 'probe')}) is not usable: ${(e as Error).message}`;
    probe.off = { state: 'failed', report: () => ({ enabled: true, state: 'failed', reason, targets: [] }), notRunningReason: () => reason };
    log.warn({ reason }, 'probe not running (the root serves as usual)');
    return false;
  }
}

/** Runs a bind/listen; its failure becomes one line naming the socket and the option that fixes it. */
async function listenStep<T>(fn: () => Promise<T>, target: (e: unknown) => Parameters<typeof describeListenError>[0]): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    const line = describeListenError(target(e), e);
    throw line !== null ? new CommandFailure(line) : e;
  }
}

/**
 * The HTTPS server that answers TLS on the TCP relay's port, so the port looks like any web server to a
 * probe. It is public, so the API (peers' addresses) and /metrics are served there only behind the bearer
 * token; without one it answers /healthz and nothing else.
 */
function publicHttps(tls: { cert: Buffer; key: Buffer }, token: string, api: http.RequestListener, log: Logger): https.Server {
  if (token === '') log.warn({}, 'HTTPS on the TCP relay port serves only /healthz: set metricsToken to serve the API and /metrics there');
  const handler: http.RequestListener =
    token !== ''
      ? api
      : (req, res) => {
          const ok = req.url === '/healthz';
          res.writeHead(ok ? 200 : 404, { 'content-type': 'text/plain; charset=utf-8' });
          res.end(ok ? 'ok\n' : 'not found\n');
        };
  try {
    // Bounded handshakes and headers: a TLS slowloris must not hold connections the relay counts.
    return https.createServer({ ...tls, handshakeTimeout: 10_000, headersTimeout: 10_000, requestTimeout: 30_000 }, handler);
  } catch (e) {
    throw new CommandFailure(`TLS certificate/key: ${(e as Error).message}: fix --tls-cert / --tls-key (PEM files that belong together)`);
  }
}

/**
 * The planet's endpoints of this root that this process serves — on a port it listens on and, where any are, at an
 * address of this host: other roots forward to them. With one root identity on several hosts (or processes) the
 * planet lists all of theirs, and announcing another's would have a process forward to itself. A host behind 1:1
 * NAT (a cloud VM whose public IP is not on an interface) matches no local address: then every endpoint on a served
 * port is announced, which is right for one host per identity.
 */
function servedEndpoints(all: InetAddress[], ports: number[]): InetAddress[] {
  const onPort = all.filter((e) => ports.includes(e.port));
  // Compared as bytes: text forms of one IPv6 address differ.
  const key = (ip: string): string => toHex(parseIp(ip.replace(/%.*$/, '')) ?? new Uint8Array(0));
  const local = new Set(Object.values(networkInterfaces()).flatMap((as) => (as ?? []).map((a) => key(a.address))));
  const here = onPort.filter((e) => local.has(key(e.ip)));
  return here.length > 0 ? here : onPort.length > 0 ? onPort : all;
}

// --- 5. first start --------------------------------------------------------------------------------------------

function persistPlanet(config: RootConfig, planned: PlannedPlanet, identity: Identity, warnings: string[]): void {
  fileStep(() => writeFirstPlanet(config.stateDir, planned), 'state directory', config.stateDir, 'choose another --state-dir, or make this one writable');
  const eps = planned.world.roots[0]!.stableEndpoints.map(formatInetAddress).join(', ');
  // Human-readable guidance on stderr, once; the JSON log carries the facts.
  console.error(
    [
      '',
      `A planet for this root was written to ${config.planetFile}`,
      `  id ${planned.world.id.toString(16)}, root ${formatAddress(identity.address)} at ${eps}`,
      ...warnings.map((w) => `  warning: ${w}`),
      'Install it on each client as the file "planet" in ZeroTier\'s home and restart the service:',
      '  Linux   /var/lib/zerotier-one/planet',
      '  macOS   /Library/Application Support/ZeroTier/One/planet',
      '  Windows C:\\ProgramData\\ZeroTier\\One\\planet',
      `Its update key is ${join(config.stateDir, KEY_FILE)} — back up ${config.stateDir}: newer planets must be signed with it.`,
      `To add roots or change endpoints: edit ${join(config.stateDir, PLANET_SPEC_FILE)}, then`,
      `  mkplanet update ${join(config.stateDir, PLANET_SPEC_FILE)} --state ${config.stateDir}`,
      'and this root serves the new planet within seconds.',
      '',
    ].join('\n'),
  );
}

// --- 6. running ------------------------------------------------------------------------------------------------

/** Reloads the planet when its file changes and on SIGHUP (mkplanet update writes it in place). */
function watchPlanet(planetFile: string, server: RootServer, log: Logger, teardown: Teardown): void {
  const reload = (why: string) => {
    try {
      const bytes = new Uint8Array(readFileSync(planetFile));
      const previous = server.planet;
      server.setPlanet(bytes);
      // Serving it is harmless either way (clients check), but an operator must hear when clients that
      // hold the previous planet will refuse this one.
      const verdict = worldUpdateVerdict(previous, server.planet);
      const fields = { why, planetTimestamp: server.planet.timestamp, planetSha256: sha256(bytes), acceptedByClients: verdict.accepted };
      if (verdict.accepted) log.info(fields, 'planet reloaded');
      else log.warn({ ...fields, reason: verdict.message }, 'planet reloaded, but clients holding the previous one will not accept it');
    } catch (e) {
      log.error({ why, err: (e as Error).message }, 'planet reload failed; still serving the previous one');
    }
  };
  const onHup = () => reload('SIGHUP');
  process.on('SIGHUP', onHup);
  watchFile(planetFile, { interval: 2000 }, (cur, prev) => {
    if (cur.mtimeMs !== prev.mtimeMs) reload('file changed');
  });
  teardown.add('planet watcher', async () => {
    unwatchFile(planetFile);
    process.off('SIGHUP', onHup);
  });
}

/** package.json's "1.2.3" as the root advertises it (OK(HELLO), the fleet heartbeat); 0.0.0 if unreadable. */
function versionTriple(v: string): { major: number; minor: number; revision: number } {
  const [major = 0, minor = 0, revision = 0] = (/^(\d+)\.(\d+)\.(\d+)/.exec(v) ?? []).slice(1).map(Number);
  return { major, minor, revision };
}

function sha256(b: Uint8Array): string {
  return createHash('sha256').update(b).digest('hex');
}

/**
 * What start-up opened, closed again in reverse order — after a failed start (within a budget: a
 * connection that will not close must not keep a failed process alive) and at a normal stop.
 */
class Teardown {
  private readonly steps: Array<{ what: string; close: () => Promise<unknown> }> = [];

  add(what: string, close: () => Promise<unknown>): void {
    this.steps.push({ what, close });
  }

  async run(budgetMs: number): Promise<void> {
    const deadline = Date.now() + budgetMs;
    for (const { close } of this.steps.splice(0).reverse()) {
      const left = deadline - Date.now();
      if (left <= 0) return;
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        close().catch(() => undefined),
        new Promise<void>((r) => {
          timer = setTimeout(r, left);
          timer.unref();
        }),
      ]);
      clearTimeout(timer);
    }
  }
}

