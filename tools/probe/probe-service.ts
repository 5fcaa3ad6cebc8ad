/**
 * The root's embedded probe: a leaf of its own (its own identity in `<state dir>/probe/`, never the root's)
 * that joins the planet's probe network (tools/probe/probe-wire.ts) with an in-process port instead of a TAP,
 * and the engine (tools/probe/probe-engine.ts) that probes every other root's probe leaf through it.
 *
 * Finding the others: each root announces its probe leaf's address in its fleet heartbeat (RootInfo.probe,
 * fleet/peer-store.ts), which every root already reads; the probe re-reads the heartbeats once per interval.
 * Chosen over multicast on the probe network because ad-hoc networks carry no broadcast, multicast
 * gathers are per root (a probe on root A would not learn of one on root B without fleet-wide multicast), and
 * the heartbeat is what says which root process a probe leaf belongs to — the label every metric carries.
 *
 * The probe leaf talks to the fabric exactly as a client: UDP HELLOs to the planet's roots, frames relayed
 * through them, RENDEZVOUS then direct, and (with `tcpRelay`) the TCP fallback relay. It never fails the root:
 * whatever stops it (no fleet, a busy port, no other probe yet) is its `state` and `reason`, shown by
 * /api/probe and in /readyz's details without making the root unready.
 */
import { EventEmitter } from 'node:events';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { formatAddress } from '../../vl1/address.js';
import type { Identity } from '../../vl1/identity.js';
import type { RootHeartbeat } from '../../fleet/peer-store.js';
import { Leaf } from '../../leaf/leaf.js';
import type { TapDevice } from '../../leaf/tap.js';
import { HostPolicy } from '../../root/host-check.js';
import type { ProbeApi, ProbeMatrix, ProbeState } from '../../root/probe-api.js';
import { probeMatrix, probeRow } from './probe-matrix.js';
import { ProbeEngine, type PathKind } from './probe-engine.js';
import { probeNetworkId } from './probe-wire.js';
import { makeProbeIdentity, PROBE_HOME } from './probe-identity.js';

/**
 * With `tcpRelay`, the probe leaf falls back to the TCP relay after this long without UDP (at least; 3 intervals
 * when longer). Shorter than a client's 60 s (1.14's rule), so a probe shows the tunneled path while an outage
 * lasts, long enough that a UDP outage shows as such first (the target down) before it is tunneled around.
 */
export const PROBE_TCP_FALLBACK_MS = 10_000;
/**
 * The probe leaf HELLOs its roots this often (a client: every 224 s), so a leaf whose UDP works hears some
 * within every fallback delay even when no probe is answered (every other root down): without it, it took that
 * quiet for deafness and tunneled.
 */
const PROBE_HELLO_INTERVAL_MS = PROBE_TCP_FALLBACK_MS / 2;

export interface ProbeServiceOptions {
  stateDir: string;
  /** The planet the root serves (the probe leaf's planet, and the probe network's id). */
  planet: { id: bigint; bytes: Uint8Array };
  intervalMs: number;
  /** The probe leaf's UDP port (0: a random free one). */
  port: number;
  /** Allow the TCP/443 fallback relay (tunneled probes when UDP fails). */
  tcpRelay: boolean;
  logger: { debug(o: object, m?: string): void; info(o: object, m?: string): void; warn(o: object, m?: string): void; error(o: object, m?: string): void };
  /** Feeds the RTT histogram. */
  observe?: (rootId: string, path: PathKind, rttMs: number) => void;
  /** The root's identity (the probe's must differ). */
  rootIdentity: Identity;
  /** Called once the probe identity is known (made in a worker on first start): the heartbeat names it. */
  onIdentity?: (probe: Identity) => void;
}

/** What the probe needs of the fleet: this process's name and the heartbeats. */
export interface ProbeFleet {
  rootId(): string;
  roots(): Promise<RootHeartbeat[]>;
}

/**
 * The probe leaf's "TAP": frames the network delivers go to the engine, frames the engine sends go to the
 * network. Has the members of TapDevice the network uses (leaf/network.ts), and nothing of the kernel.
 */
class InProcessPort extends EventEmitter {
  readonly name = 'probe';
  constructor(private readonly deliver: (frame: Uint8Array) => void) {
    super();
  }
  write(frame: Uint8Array): boolean {
    this.deliver(frame);
    return true;
  }
  async setMtu(): Promise<void> {}
  async setAddresses(): Promise<void> {}
  async setRoutes(): Promise<void> {}
  async multicastGroups(): Promise<Array<{ mac: bigint }>> {
    return [];
  }
  async close(): Promise<void> {
    this.emit('close', null);
  }
}

export class ProbeService implements ProbeApi {
  readonly nwid: bigint;
  state: ProbeState = 'starting';
  reason: string | null = 'the probe leaf is starting';
  engine: ProbeEngine | null = null;
  private leaf: Leaf | null = null;
  private port: InProcessPort | null = null;
  private timers: NodeJS.Timeout[] = [];
  private expiry: NodeJS.Timeout | null = null;
  /** The fleet's heartbeats as last read (the other roots' rows of the matrix). */
  private heartbeats: RootHeartbeat[] = [];
  private stopped = false;
  private readonly home: string;

  private identity: Identity | null;

  /** `identity`: the probe identity if it exists already (tools/probe/probe-identity.ts), else null: made at start. */
  constructor(
    private readonly opts: ProbeServiceOptions,
    identity: Identity | null,
    private readonly fleet: ProbeFleet,
  ) {
    this.identity = identity;
    this.nwid = probeNetworkId(opts.planet.id);
    this.home = join(opts.stateDir, PROBE_HOME);
  }

  /** Starts the leaf in the background; a failure is the probe's state, never the root's. */
  start(): void {
    this.run().catch((e: unknown) => {
      this.fail(`the probe leaf cannot start: ${(e as Error).message}`);
    });
  }

  private fail(reason: string): void {
    if (this.stopped) return;
    this.state = 'failed';
    this.reason = reason;
    this.opts.logger.warn({ reason }, 'probe not running (the root serves as usual)');
  }

  private async run(): Promise<void> {
    const o = this.opts;
    if (this.identity === null) {
      this.reason = "the probe leaf's identity is being made (first start)";
      try {
        this.identity = await makeProbeIdentity(o.stateDir, o.rootIdentity);
      } catch (e) {
        throw new Error(`its identity in ${this.home} cannot be made: ${(e as Error).message}`);
      }
      if (this.stopped) return;
    }
    const identity = this.identity;
    o.onIdentity?.(identity);
    this.writeHome();
    const port = new InProcessPort((f) => this.engine?.receive(f));
    this.port = port;
    const leaf = await Leaf.start({
      home: this.home,
      logger: o.logger,
      openTap: async () => port as unknown as TapDevice, // structurally what leaf/network.ts uses of a TAP
      apiHostPolicy: (host) => new HostPolicy(host),
      portMapping: false,
      helloRetryMs: Math.min(5000, Math.max(1000, o.intervalMs)),
      tcpFallbackAfterMs: Math.max(PROBE_TCP_FALLBACK_MS, 3 * o.intervalMs),
      helloIntervalMs: Math.max(PROBE_HELLO_INTERVAL_MS, Math.floor((3 * o.intervalMs) / 2)),
    });
    if (this.stopped) return void (await leaf.stop());
    this.leaf = leaf;
    this.engine = new ProbeEngine(
      { intervalMs: o.intervalMs },
      {
        self: identity.address,
        nwid: this.nwid,
        send: (frame) => {
          port.emit('frame', frame);
          return true;
        },
        pathTo: (a) => this.pathTo(a),
        ...(o.observe !== undefined ? { observe: o.observe } : {}),
      },
    );
    leaf.join(this.nwid);
    o.logger.info({ probe: formatAddress(identity.address), network: this.nwid.toString(16), intervalMs: o.intervalMs, port: leaf.ports.primary }, 'probe started');
    const round = setInterval(() => this.round(), this.engine.cadenceMs);
    round.unref();
    this.timers.push(round);
    this.round();
  }

  private round(): void {
    const leaf = this.leaf;
    const engine = this.engine;
    if (leaf === null || engine === null || this.stopped) return;
    void this.fleet.roots().then(
      (list) => {
        this.heartbeats = list;
        const me = this.fleet.rootId();
        engine.setTargets(list.filter((r) => r.rootId !== me && r.info.probe !== undefined).map((r) => ({ rootId: r.rootId, probe: r.info.probe! })));
      },
      (e: unknown) => this.opts.logger.debug({ err: (e as Error).message }, 'probe: fleet heartbeats not readable; probing the targets known'),
    );
    if (!leaf.node.online) {
      this.state = 'starting';
      this.reason = 'the probe leaf has not reached a root yet';
    } else if (engine.targetCount === 0) {
      this.state = 'waiting';
      this.reason = "no other root of the fleet announces a probe leaf yet (each root's heartbeat names its probe)";
    } else {
      this.state = 'running';
      this.reason = null;
    }
    engine.round();
    // A loss shows at its request's timeout, not only at the next round.
    if (this.expiry === null) {
      this.expiry = setTimeout(() => {
        this.expiry = null;
        engine.expire();
      }, engine.timeoutMs + 1);
      this.expiry.unref();
    }
  }

  /** The path a packet to `address` takes now: through the TCP relay, direct, or relayed by a root. */
  private pathTo(address: number): PathKind {
    const node = this.leaf!.node;
    if (node.tcpFallbackActive) return 'tunneled';
    const info = node.peerInfo(address);
    return info !== null && info.relayVia === null && info.paths.some((p) => p.alive) ? 'direct' : 'relayed';
  }

  /** The probe leaf's home: its planet is the root's (rewritten at each start), its ports and relay from config. */
  private writeHome(): void {
    mkdirSync(this.home, { recursive: true, mode: 0o700 });
    writeFileSync(join(this.home, 'planet'), this.opts.planet.bytes);
    const conf = { settings: { primaryPort: this.opts.port, allowSecondaryPort: false, portMappingEnabled: false, allowTcpFallbackRelay: this.opts.tcpRelay } };
    const file = join(this.home, 'local.conf');
    const text = `${JSON.stringify(conf, null, 2)}\n`;
    if (!existsSync(file) || readFileSync(file, 'utf8') !== text) writeFileSync(file, text);
  }

  /** /api/probe. */
  report(): object {
    const e = this.engine;
    return {
      enabled: true,
      state: this.state,
      reason: this.reason,
      self: { rootId: this.fleet.rootId(), probe: this.identity === null ? null : formatAddress(this.identity.address), network: this.nwid.toString(16).padStart(16, '0'), port: this.leaf?.ports.primary ?? null, online: this.leaf?.node.online ?? false },
      intervalMs: this.opts.intervalMs,
      timeoutMs: e?.timeoutMs ?? null,
      targets: e?.report() ?? [],
      matrix: this.matrix(),
      frames: e?.counters ?? null,
    };
  }

  /** Roots × roots (tools/probe/probe-matrix.ts), or null before the probe runs. */
  matrix(): ProbeMatrix | null {
    const e = this.engine;
    return e === null ? null : probeMatrix(this.fleet.rootId(), e.report(), this.heartbeats);
  }

  /** This root's row for its heartbeat, or undefined before the probe runs. */
  row(): Record<string, string> | undefined {
    return this.engine === null ? undefined : probeRow(this.engine.report());
  }

  notRunningReason(): string | null {
    return this.state === 'running' ? null : this.reason;
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    for (const t of this.timers) clearInterval(t);
    if (this.expiry !== null) clearTimeout(this.expiry);
    await this.leaf?.stop();
    this.port?.removeAllListeners();
  }
}
