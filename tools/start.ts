/**
 * `ztroot start` (what `npm start` runs): a ZeroTier root on embedded defaults or a config.
 *
 * First start: creates the state directory with identity.secret (0600) and identity.public, makes a
 * one-root planet for this root if none is configured, and prints where it is and how to install it on
 * clients. SIGINT/SIGTERM stop it gracefully; SIGHUP (and a change of the file) reloads the planet.
 */
import { watchFile, unwatchFile, readFileSync } from 'node:fs';
import https from 'node:https';
import type http from 'node:http';
import { availableParallelism, hostname } from 'node:os';
import { pino } from 'pino';
import { limitLogs } from '../root/log-limiter.js';
import { configHelp, loadConfig } from '../root/config.js';
import { loadOrCreateIdentity, loadOrCreatePlanet } from '../root/state.js';
import { RootServer, type RootFleet } from '../root/root-server.js';
import { RedisPeerStore } from '../fleet/redis-store.js';
import { PeerStoreCache } from '../fleet/cached-store.js';
import { IdentityValidator } from '../root/identity-validator.js';
import { formatAddress } from '../vl1/address.js';
import { ZtError, ZtErrorCode } from '../vl1/errors.js';
import { formatInetAddress, type InetAddress } from '../vl1/inet-address.js';
import { worldUpdateVerdict } from '../planet/world.js';
import { createHash } from 'node:crypto';
import { addRootMetrics, createRootMetricsRegistry, timeValidations } from '../root/metrics.js';
import { createHttpApiHandler, listenHttpApi } from '../root/http-api.js';
import { attachLiveDashboard } from '../root/live-dashboard.js';

/** ztroot's own version (package.json), shown by the API and advertised in OK(HELLO). */
const VERSION = '0.1.0';

export async function main(argv: string[]): Promise<number> {
  const { config, origin, printConfig, help } = loadConfig(argv);
  if (help) {
    console.log(`usage: ztroot start [options]\n\nRuns a ZeroTier root server.\n\n${configHelp()}`);
    return 0;
  }
  if (printConfig) {
    for (const [k, v] of Object.entries(config)) {
      const shown = (k === 'metricsToken' || k === 'fleetRedis') && v !== '' ? '"(set)"' : JSON.stringify(v); // never print a secret
      console.log(`${k.padEnd(18)} ${shown.padEnd(40)} (${origin[k as keyof typeof origin]})`);
    }
    return 0;
  }
  const log = limitLogs(pino({ level: config.logLevel, base: { svc: 'ztroot' } })); // a flood must not become a log flood
  const { identity, created } = loadOrCreateIdentity(config.stateDir);
  if (created) log.info({ address: formatAddress(identity.address), stateDir: config.stateDir }, 'created a new root identity');
  const planet = loadOrCreatePlanet(config.planetFile, config.stateDir, identity, config.endpoints, config.port);
  if (planet.created) {
    const eps = planet.world.roots[0]!.stableEndpoints.map(formatInetAddress).join(', ');
    // Human-readable guidance on stderr, once; the JSON log line carries the same facts.
    console.error(
      [
        '',
        `A planet for this root was written to ${config.planetFile}`,
        `  id ${planet.world.id.toString(16)}, root ${formatAddress(identity.address)} at ${eps}`,
        'Install it on each client as the file "planet" in ZeroTier\'s home and restart the service:',
        '  Linux   /var/lib/zerotier-one/planet',
        '  macOS   /Library/Application Support/ZeroTier/One/planet',
        '  Windows C:\\ProgramData\\ZeroTier\\One\\planet',
        `Its update key is in ${config.stateDir} — keep it: newer planets must be signed with it.`,
        'If these endpoints are not what clients reach, stop, delete the planet and its key, and restart with --endpoint ip/port.',
        '',
      ].join('\n'),
    );
  }
  const workers = config.validationWorkers > 0 ? config.validationWorkers : Math.max(1, availableParallelism() - 1);
  const validator = new IdentityValidator({ workers });
  // Made before the server so validations are timed from the first HELLO (the histogram lives in it).
  const registry = createRootMetricsRegistry();
  const timedValidator = timeValidations(validator, registry);
  // Serve every port the planet lists for this root too: clients pick any stable endpoint.
  const me = planet.world.roots.find((r) => r.identity.equals(identity));
  const extraPorts = config.servePlanetPorts ? [...new Set((me?.stableEndpoints ?? []).map((e) => e.port))].filter((p) => p !== config.port) : [];
  // The fleet: a Redis store shared by the planet's roots (nothing on the packet path waits for it).
  let fleetStore: RedisPeerStore | null = null;
  let server: RootServer | undefined;
  let fleet: RootFleet | undefined;
  if (config.fleetRedis !== '') {
    fleetStore = new RedisPeerStore({ url: config.fleetRedis, fleet: planet.world.id.toString(16), resync: () => server?.resyncFleet() });
    fleetStore.on('degraded', (e: Error) => log.warn({ err: e.message }, 'fleet store unreachable: serving from what this root knows, writes queued'));
    fleetStore.on('recovered', () => log.info({}, 'fleet store back: queued writes flushed and state resynchronised'));
    fleet = {
      store: fleetStore,
      cache: new PeerStoreCache(fleetStore),
      rootId: config.rootId !== '' ? config.rootId : `${hostname()}:${config.port}`,
      endpoints: servedEndpoints(me?.stableEndpoints ?? [], [config.port, ...extraPorts]),
    };
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
      tunnelMinPort: config.tcpRelayMinPort,
    },
    { identity, planet: planet.bytes, validator: timedValidator, logger: log, ...(fleet ? { fleet } : {}) },
  );
  await server.start();
  let httpServer: http.Server | null = null;
  let stopLive = (): void => {};
  const ready = () => {
    const problems: string[] = [];
    if (server.ports.length === 0) problems.push('UDP sockets are not bound');
    if (config.tcpRelay !== null && server.tunnel === null) problems.push('the TCP relay is not listening');
    return problems;
  };
  if (config.httpListen !== null || config.tcpRelay !== null) addRootMetrics(registry, server, validator, fleet);
  const apiHandler = createHttpApiHandler(server, registry, { token: config.metricsToken, version: VERSION }, ready);
  if (config.tcpRelay !== null) {
    try {
      await server.startTunnel(
        config.tcpRelay.host,
        config.tcpRelay.port,
        {
          maxConnections: config.tcpRelayMaxConnections,
          maxConnectionsPerIp: config.tcpRelayMaxPerIp,
          idleTimeoutMs: config.tcpRelayIdleSec * 1000,
          maxQueueBytes: config.tcpRelayQueueBytes,
          allowList: config.tcpRelayAllowFile === '' ? null : { file: config.tcpRelayAllowFile, failOpen: config.tcpRelayAllowFailOpen },
        },
        config.tlsCert === '' ? undefined : publicHttps(config.tlsCert, config.tlsKey, config.metricsToken, apiHandler, log),
      );
    } catch (e) {
      await server.stop();
      await validator.close();
      throw e;
    }
  }
  if (config.httpListen !== null) {
    httpServer = await listenHttpApi(apiHandler, config.httpListen.host, config.httpListen.port);
    stopLive = attachLiveDashboard(httpServer, server, { token: config.metricsToken });
    const a = httpServer.address() as { address: string; port: number };
    log.info({ http: `${a.address}:${a.port}` }, 'HTTP API, /metrics and the live dashboard listening');
  }
  log.info(
    { address: formatAddress(identity.address), ports: server.ports, planet: planet.world.id.toString(16), planetTimestamp: planet.world.timestamp, planetSha256: sha256(planet.bytes) },
    'root started',
  );

  const reload = (why: string) => {
    try {
      const bytes = new Uint8Array(readFileSync(config.planetFile));
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
  process.on('SIGHUP', () => reload('SIGHUP'));
  watchFile(config.planetFile, { interval: 2000 }, (cur, prev) => {
    if (cur.mtimeMs !== prev.mtimeMs) reload('file changed');
  });

  await new Promise<void>((resolve) => {
    const stop = (sig: string) => {
      log.info({ signal: sig }, 'stopping');
      resolve();
    };
    process.once('SIGINT', () => stop('SIGINT'));
    process.once('SIGTERM', () => stop('SIGTERM'));
  });
  unwatchFile(config.planetFile);
  stopLive();
  if (httpServer !== null) await new Promise((r) => httpServer!.close(r));
  await server.stop();
  await fleetStore?.close();
  await validator.close();
  log.info({ counters: Object.fromEntries(server.counters) }, 'stopped');
  return 0;
}

/**
 * The HTTPS server that answers TLS on the TCP relay's port, so the port looks like any web server to a
 * probe. It is public, so the API (peers' addresses) and /metrics are served there only behind the bearer
 * token; without one it answers /healthz and nothing else.
 * @throws {ZtError} FILE naming the certificate or key file that cannot be read.
 */
function publicHttps(certFile: string, keyFile: string, token: string, api: http.RequestListener, log: { warn(o: object, m?: string): void }): https.Server {
  const read = (f: string, what: string): Buffer => {
    try {
      return readFileSync(f);
    } catch (e) {
      throw new ZtError(ZtErrorCode.FILE, `TLS ${what} ${f}: ${(e as Error).message}`);
    }
  };
  const cert = read(certFile, 'certificate');
  const key = read(keyFile, 'key');
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
    return https.createServer({ cert, key, handshakeTimeout: 10_000, headersTimeout: 10_000, requestTimeout: 30_000 }, handler);
  } catch (e) {
    throw new ZtError(ZtErrorCode.BAD_CONFIG, `TLS certificate ${certFile} / key ${keyFile}: ${(e as Error).message}`);
  }
}

/**
 * The planet's endpoints of this root that this process serves: other roots forward to them. With several
 * processes per root identity the planet lists all of theirs, and announcing another's would have a
 * process forward to itself.
 */
function servedEndpoints(all: InetAddress[], ports: number[]): InetAddress[] {
  const served = all.filter((e) => ports.includes(e.port));
  return served.length > 0 ? served : all;
}

function sha256(b: Uint8Array): string {
  return createHash('sha256').update(b).digest('hex');
}
