/**
 * Port mapping for the leaf: asks the LAN's NAT gateway, by NAT-PMP and then UPnP IGD (as 1.14 does when
 * `portMappingEnabled`, its default; vl1.md §10), to forward a UDP port of its external address to ours, keeps
 * the mapping alive, and reports the external address so the leaf can offer it to peers as a path (1.14 adds it
 * to its surface addresses and PUSH_DIRECT_PATHS).
 *
 * Life cycle: `start()` begins looking; every mapping obtained is announced with 'mapped', and re-requested
 * every `refreshMs` (a renewal, and the check that the gateway is still there). A gateway that stops answering,
 * or refuses a renewal, ends its mappings with 'lost'; the mapper then looks again. No gateway at all is a quiet
 * state (one info line, retries with backoff); a gateway that refuses is logged once per episode and emitted as
 * 'error' (only when someone listens: an unheard 'error' must not crash the leaf). `stop()` deletes the
 * mappings on the gateway, bounded by `stopTimeoutMs`.
 *
 * The protocols are `leaf/port-mapping-pmp.ts` and `leaf/port-mapping-upnp.ts`, both over
 * `@achingbrain/nat-port-mapper`; this module owns the timers, retries, events and logs.
 */
import { EventEmitter } from 'node:events';
import { isIPv4 } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { ZtError, ZtErrorCode } from '../vl1/errors.js';
import { GatewayRefusedError, type GatewaySession, type MappingMethod, type MappingMethodName } from './port-mapping-method.js';
import { PmpMethod, type PmpMethodOptions } from './port-mapping-pmp.js';
import { UpnpMethod, UPNP_MIN_LEASE_SECONDS, type UpnpMethodOptions } from './port-mapping-upnp.js';
import type { Vl1Logger } from './types.js';

export type { MappingMethodName } from './port-mapping-method.js';

/** 1.14's renewal period (`ZT_PORTMAPPER_REFRESH_DELAY`, 120 s): a renewal is also the "still there?" check. */
export const DEFAULT_REFRESH_MS = 120_000;
/** Lease asked for, in seconds: RFC 6886 §3.3 recommends 7200 for NAT-PMP; UPnP gets at least 3600 anyway. */
export const DEFAULT_LEASE_SECONDS = 7200;
/** First wait after a round that mapped nothing; doubles up to {@link DEFAULT_RETRY_MAX_MS}. */
export const DEFAULT_RETRY_MIN_MS = 15_000;
export const DEFAULT_RETRY_MAX_MS = 600_000;
/** How long `stop()` spends deleting mappings on the gateway. */
export const DEFAULT_STOP_TIMEOUT_MS = 2000;

/** One mapped port. */
export interface PortMapping {
  internalPort: number;
  /** Where peers outside can reach `internalPort`: the gateway's external address and the granted port. */
  external: { family: 4; ip: string; port: number };
  method: MappingMethodName;
  /** The gateway's LAN address. */
  gateway: string;
  /** When the gateway forgets the mapping unless renewed (ms, the `now` clock); renewals come well before. */
  expiresAt: number;
}

/**
 * Why a mapping ended: the gateway stopped answering, refused the renewal, granted another external address or
 * port (a 'mapped' with the new one follows), or `stop()` was called.
 */
export type PortMappingLostReason = 'gateway-unreachable' | 'refused' | 'changed' | 'stopped';

export interface PortMapperEvents {
  mapped: [PortMapping];
  lost: [PortMapping, PortMappingLostReason];
  /** A gateway refused, or something unexpected failed; once per distinct problem until a round succeeds. */
  error: [ZtError];
}

export interface PortMapperOptions {
  /** The local UDP ports to map (1.14 maps one, its tertiary port). */
  ports: number[];
  /** Only UDP: ZeroTier's transport. */
  protocol?: 'UDP';
  /** Protocols to try, in order. Default ['nat-pmp', 'upnp'] (NAT-PMP answers in one round trip). */
  methods?: MappingMethodName[];
  /** The mapping's name on the gateway (UPnP). Default `ztroot@<port>`; 1.14 names it `ZeroTier/<address>@<port>`. */
  description?: (internalPort: number) => string;
  /** Lease asked for, in seconds. Default {@link DEFAULT_LEASE_SECONDS}. */
  leaseSeconds?: number;
  /** Renewal period in ms, at most half the lease. Default {@link DEFAULT_REFRESH_MS}. */
  refreshMs?: number;
  retryMinMs?: number;
  retryMaxMs?: number;
  stopTimeoutMs?: number;
  /** NAT-PMP details (gateway override, per-try time limits). */
  pmp?: PmpMethodOptions;
  /** UPnP details (search window, request time limit). */
  upnp?: UpnpMethodOptions;
  logger?: Vl1Logger;
  /** Clock for `expiresAt`, in ms. Default `Date.now`. */
  now?: () => number;
}

const defaultDescription = (port: number): string => `ztroot@${port}`;

function badConfig(what: string): ZtError {
  return new ZtError(ZtErrorCode.BAD_CONFIG, `PortMapper ${what}`);
}

function validate(o: PortMapperOptions): void {
  if (!Array.isArray(o.ports) || o.ports.length === 0) throw badConfig(`ports: ${JSON.stringify(o.ports)} must be a non-empty array of UDP ports`);
  for (const p of o.ports) if (!Number.isInteger(p) || p < 1 || p > 65535) throw badConfig(`ports: ${String(p)} is not a port number (1..65535)`);
  if (new Set(o.ports).size !== o.ports.length) throw badConfig(`ports: ${JSON.stringify(o.ports)} lists a port twice`);
  if (o.protocol !== undefined && o.protocol !== 'UDP') throw badConfig(`protocol: "${String(o.protocol)}" is not supported; only 'UDP'`);
  const methods = o.methods ?? [];
  if (o.methods !== undefined && methods.length === 0) throw badConfig('methods: [] maps nothing; leave it out, or list "nat-pmp" and/or "upnp"');
  for (const m of methods) if (m !== 'nat-pmp' && m !== 'upnp') throw badConfig(`methods: "${String(m)}" is not "nat-pmp" or "upnp"`);
  for (const p of o.ports) {
    const d = (o.description ?? defaultDescription)(p);
    // The library writes it into the SOAP body unescaped; miniupnpd keeps 64 bytes of it.
    if (typeof d !== 'string' || !/^[\x20-\x7e]{1,64}$/.test(d) || /[<>&'"]/.test(d)) {
      throw badConfig(`description(${p}): ${JSON.stringify(d)} must be 1..64 printable ASCII characters without <>&'"`);
    }
  }
  const lease = o.leaseSeconds ?? DEFAULT_LEASE_SECONDS;
  if (!Number.isInteger(lease) || lease < 2 || lease > 0xffffffff) throw badConfig(`leaseSeconds: ${lease} is not an integer number of seconds >= 2`);
  const refresh = o.refreshMs ?? Math.min(DEFAULT_REFRESH_MS, (lease * 1000) / 2);
  if (!(refresh > 0) || refresh > (lease * 1000) / 2) throw badConfig(`refreshMs: ${refresh} must be > 0 and at most half the lease (${(lease * 1000) / 2} ms), so renewals come before expiry`);
  for (const k of ['retryMinMs', 'retryMaxMs', 'stopTimeoutMs'] as const) {
    const v = o[k];
    if (v !== undefined && !(v > 0)) throw badConfig(`${k}: ${v} must be > 0`);
  }
}

/** The result of one mapping round on a session. */
interface RoundResult {
  mapped: number;
  /** A request got no answer, or the connection failed: the gateway is gone. */
  unreachable: boolean;
}

export class PortMapper extends EventEmitter<PortMapperEvents> {
  private readonly ports: number[];
  private readonly methods: MappingMethod[];
  private readonly describe: (port: number) => string;
  private readonly leaseSeconds: number;
  private readonly refreshMs: number;
  private readonly retryMinMs: number;
  private readonly retryMaxMs: number;
  private readonly stopTimeoutMs: number;
  private readonly log: Vl1Logger | undefined;
  private readonly now: () => number;

  private readonly current = new Map<number, PortMapping>();
  /** Problems already logged at warn in this episode (cleared when a round maps every port). */
  private readonly reported = new Set<string>();
  private session: GatewaySession | null = null;
  private abort: AbortController | null = null;
  private loop: Promise<void> | null = null;
  private stopping: Promise<void> | null = null;

  /** @throws {ZtError} BAD_CONFIG naming the option and value that are wrong */
  constructor(opts: PortMapperOptions) {
    super();
    validate(opts);
    this.ports = [...opts.ports];
    const byName = { 'nat-pmp': () => new PmpMethod(opts.pmp), upnp: () => new UpnpMethod(opts.upnp) };
    this.methods = (opts.methods ?? ['nat-pmp', 'upnp']).map((m) => byName[m]());
    this.describe = opts.description ?? defaultDescription;
    this.leaseSeconds = opts.leaseSeconds ?? DEFAULT_LEASE_SECONDS;
    this.refreshMs = opts.refreshMs ?? Math.min(DEFAULT_REFRESH_MS, (this.leaseSeconds * 1000) / 2);
    this.retryMinMs = opts.retryMinMs ?? DEFAULT_RETRY_MIN_MS;
    this.retryMaxMs = Math.max(this.retryMinMs, opts.retryMaxMs ?? DEFAULT_RETRY_MAX_MS);
    this.stopTimeoutMs = opts.stopTimeoutMs ?? DEFAULT_STOP_TIMEOUT_MS;
    this.log = opts.logger;
    this.now = opts.now ?? Date.now;
  }

  /** The ports mapped now, with their external addresses. */
  get mapped(): PortMapping[] {
    return [...this.current.values()].map((m) => ({ ...m, external: { ...m.external } }));
  }

  /** Starts looking for a gateway (in the background; see the events). Idempotent; a no-op while stopping. */
  start(): void {
    if (this.abort !== null) return;
    this.reported.clear(); // a new run is a new episode
    this.abort = new AbortController();
    this.loop = this.run(this.abort.signal);
  }

  /**
   * Stops, deletes the mappings on the gateway (within `stopTimeoutMs`), and reports each as 'lost'. Idempotent;
   * `start()` may be called again once it resolved.
   */
  async stop(): Promise<void> {
    if (this.abort === null) return;
    this.stopping ??= this.teardown(this.abort).finally(() => {
      this.abort = null;
      this.stopping = null;
    });
    await this.stopping;
  }

  private async teardown(abort: AbortController): Promise<void> {
    abort.abort(new ZtError(ZtErrorCode.CLOSED, 'PortMapper stopped'));
    await this.loop;
    this.loop = null;
    const session = this.session;
    this.session = null;
    if (session !== null) {
      // One port after the other: NAT-PMP answers come back to one shared client port (5350).
      const deadline = AbortSignal.timeout(this.stopTimeoutMs);
      for (const port of this.ports) {
        await session.unmap(port, this.current.get(port)?.external.port ?? port, deadline).catch((e: unknown) => {
          this.log?.debug({ port, gateway: session.gateway, err: String(e) }, 'port mapping not deleted on stop (it expires with its lease)');
        });
      }
      await session.close();
    }
    for (const m of [...this.current.values()]) this.lose(m, 'stopped');
  }

  // ---------------------------------------------------------------------------------------------------------------

  private async run(signal: AbortSignal): Promise<void> {
    let delay = this.retryMinMs;
    while (!signal.aborted) {
      try {
        const session = await this.acquire(signal);
        if (session !== null) {
          delay = this.retryMinMs;
          await this.maintain(session, signal);
          continue;
        }
      } catch (e) {
        if (signal.aborted) break;
        this.problem('unexpected', new ZtError(ZtErrorCode.UNAVAILABLE, `port mapping failed unexpectedly: ${String(e)}`, { cause: e }));
      }
      try {
        await sleep(delay, undefined, { signal, ref: false });
      } catch {
        break; // stopped
      }
      delay = Math.min(delay * 2, this.retryMaxMs);
    }
  }

  /** Tries each method in order; returns the first session that mapped at least one port (kept in `session`). */
  private async acquire(signal: AbortSignal): Promise<GatewaySession | null> {
    let refused = false;
    for (const method of this.methods) {
      let session: GatewaySession | null;
      try {
        session = await method.open(signal);
      } catch (e) {
        if (signal.aborted) return null;
        this.refused(`${method.name}:open`, e);
        refused = true;
        continue;
      }
      if (session === null) {
        this.log?.debug({ method: method.name }, 'no port-mapping gateway answered');
        continue;
      }
      this.session = session;
      const r = await this.round(session, signal);
      if (signal.aborted) return null; // stop() deletes what this round mapped
      if (r.mapped > 0) return session;
      await this.endSession(session, r);
      refused ||= !r.unreachable;
    }
    if (!refused) this.quiet('absent', `no NAT-PMP or UPnP gateway answered (${this.methods.map((m) => m.name).join(', ')}); retrying with backoff up to ${this.retryMaxMs / 1000} s`);
    return null;
  }

  /** Renews every `refreshMs` until the gateway is lost or we stop. */
  private async maintain(session: GatewaySession, signal: AbortSignal): Promise<void> {
    for (;;) {
      try {
        await sleep(this.refreshMs, undefined, { signal, ref: false });
      } catch {
        return; // stopped: stop() deletes the mappings
      }
      const r = await this.round(session, signal);
      if (signal.aborted) return;
      if (r.mapped > 0) continue;
      await this.endSession(session, r);
      return;
    }
  }

  /** Gives up on `session` after a round that mapped nothing: whatever it had mapped is lost. */
  private async endSession(session: GatewaySession, r: RoundResult): Promise<void> {
    for (const m of [...this.current.values()]) this.lose(m, r.unreachable ? 'gateway-unreachable' : 'refused');
    this.session = null;
    await session.close();
  }

  /** Maps (or renews) every port on `session`. An unreachable gateway ends the round at the first port. */
  private async round(session: GatewaySession, signal: AbortSignal): Promise<RoundResult> {
    let mapped = 0;
    for (const port of this.ports) {
      const prev = this.current.get(port);
      try {
        const granted = await session.map(
          { internalPort: port, externalPort: prev?.external.port ?? port, leaseSeconds: this.leaseSeconds, description: this.describe(port) },
          signal,
        );
        if (!isIPv4(granted.ip) || granted.ip === '0.0.0.0') {
          throw new GatewayRefusedError(`${session.method} gateway ${session.gateway} mapped port ${port} but reports external address "${granted.ip}": it has no usable external IPv4 address`);
        }
        const lease = session.method === 'upnp' ? Math.max(this.leaseSeconds, UPNP_MIN_LEASE_SECONDS) : this.leaseSeconds;
        const m: PortMapping = {
          internalPort: port,
          external: { family: 4, ip: granted.ip, port: granted.port },
          method: session.method,
          gateway: session.gateway,
          expiresAt: this.now() + lease * 1000,
        };
        const same = prev !== undefined && prev.external.ip === m.external.ip && prev.external.port === m.external.port && prev.gateway === m.gateway;
        if (prev !== undefined && !same) this.lose(prev, 'changed');
        this.current.set(port, m);
        if (!same) {
          this.log?.info({ internalPort: port, external: `${m.external.ip}/${m.external.port}`, method: m.method, gateway: m.gateway }, 'port mapped');
          this.emit('mapped', { ...m, external: { ...m.external } });
        }
        mapped++;
      } catch (e) {
        if (signal.aborted) return { mapped, unreachable: false };
        if (!(e instanceof GatewayRefusedError)) {
          this.log?.debug({ port, method: session.method, gateway: session.gateway, err: String(e) }, 'port-mapping gateway did not answer');
          return { mapped: 0, unreachable: true };
        }
        this.refused(`${session.method}:map:${port}`, e);
        if (prev !== undefined) this.lose(prev, 'refused');
      }
    }
    if (mapped === this.ports.length) this.reported.clear();
    return { mapped, unreachable: false };
  }

  private lose(m: PortMapping, reason: PortMappingLostReason): void {
    if (this.current.get(m.internalPort) === m) this.current.delete(m.internalPort);
    this.log?.info({ internalPort: m.internalPort, external: `${m.external.ip}/${m.external.port}`, method: m.method, gateway: m.gateway, reason }, 'port mapping lost');
    this.emit('lost', { ...m, external: { ...m.external } }, reason);
  }

  private refused(key: string, e: unknown): void {
    const err =
      e instanceof GatewayRefusedError
        ? new ZtError(ZtErrorCode.UNAVAILABLE, `${e.message}; retrying with backoff (set portMappingEnabled false to stop trying)`, { cause: e })
        : new ZtError(ZtErrorCode.UNAVAILABLE, `port mapping (${key}) failed: ${String(e)}`, { cause: e });
    this.problem(key, err);
  }

  /** Logs a problem at warn and emits it the first time in an episode, at debug afterwards. */
  private problem(key: string, err: ZtError): void {
    if (this.reported.has(key)) {
      this.log?.debug({ err: err.message }, 'port mapping problem persists');
      return;
    }
    this.reported.add(key);
    this.log?.warn({ code: err.code, err: err.message }, 'port mapping problem');
    if (this.listenerCount('error') > 0) this.emit('error', err);
  }

  /** Logs a normal condition (no gateway here) once per episode, at info. */
  private quiet(key: string, msg: string): void {
    if (this.reported.has(key)) return;
    this.reported.add(key);
    this.log?.info({}, msg);
  }
}
