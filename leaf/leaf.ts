/**
 * A complete leaf node: what `zerotier-one` is to its host, made of the leaf's parts.
 *
 *   home        leaf/home.ts — identity, tokens, planet, local.conf, networks.d (ZeroTier's layout)
 *   VL1         leaf/vl1-node.ts — primary, secondary and port-mapping UDP ports, TCP fallback relay
 *   VL2         leaf/network.ts — one `Network` per joined network, each with its TAP device (leaf/tap.ts)
 *   API         leaf/local-api.ts — the JSON API zerotier-cli and GUIs drive, on the primary port
 *   NAT         leaf/port-mapping.ts — NAT-PMP / UPnP for the port-mapping port
 *
 * This class wires them: it routes each VL2 packet the VL1 node hands up to the network it names, gives the
 * networks a way to send (WHOIS first when the peer is unknown), persists joins, configs and planet updates, and
 * answers the model the API reads (leaf/model.ts).
 *
 *   const leaf = await Leaf.start({ home: '/var/lib/zerotier-one' });
 *   leaf.join(0xff0016001600_0000n);
 *   await leaf.stop();
 */
import type { UdpOpener } from './udp.js';
import { Verb, ErrorCode } from '../vl1/constants.js';
import { ZtError, ZtErrorCode } from '../vl1/errors.js';
import { formatInetAddress, type InetAddress } from '../vl1/inet-address.js';
import type { Identity } from '../vl1/identity.js';
import type { Ok } from '../vl1/verbs/ok.js';
import { encodeError } from '../vl1/verbs/error.js';
import { decodeMulticastLike, type MulticastGroupRef } from '../vl1/verbs/multicast.js';
import { decodeNetworkCredentials } from '../vl1/verbs/network-credentials.js';
import { LeafHome, type HomeNotice } from './home.js';
import { Vl1Node } from './vl1-node.js';
import type { ReceivedPacket, Vl1Logger } from './types.js';
import { Network, hex16, type NetworkHost } from './network.js';
import { openTap, tapUnavailableReason, type TapDevice } from './tap.js';
import { PortMapper, type PortMapperOptions, type PortMapping } from './port-mapping.js';
import { startLocalApi, type HostCheck, type LocalApi } from './local-api.js';
import { leafMetricsText, type Vl2DropReason } from './leaf-metrics.js';
import { pickLeafPorts, pickRandomPort, type LeafPorts } from './leaf-ports.js';
import { SECONDARY_REPICK_OFFLINE_MS, SecondaryPortRepick } from './secondary-port.js';
import { parsePrefix, pathAllowed, type BytePrefix } from './path-policy.js';
import { DirectPaths } from './direct-paths.js';
import { localInterfaceAddresses } from './local-addresses.js';
import type { LeafModel, LeafNetwork, LeafPeer, LeafStatus, NetworkSettings } from './model.js';
import { aesGmacSivEngine } from '../vl1/aes-gmac-siv-engine.js';

/** The housekeeping period: network ticks (config requests, LIKEs, expiry). */
export const LEAF_TICK_MS = 5_000;
/** local.conf is looked at this often for edits (1.14 reads it every 10 s). */
export const LOCAL_CONF_CHECK_MS = 10_000;
/** Packets waiting for a WHOIS: per destination, and in all. Beyond, the oldest of that destination goes. */
const PENDING_PER_PEER = 32;
const PENDING_TOTAL = 1024;
/** A packet waits this long for its destination's identity. */
const PENDING_WHOIS_MS = 5_000;
/** The TCP port our roots' fallback relay listens on (vl1.md §9.2). */
const TCP_RELAY_PORT = 443;

export interface LeafOptions {
  /** The home directory (1.14's /var/lib/zerotier-one); made on first start, but its `planet` must be there. */
  home: string;
  logger?: Vl1Logger & { error?(o: object, m?: string): void };
  /** Makes a network's TAP device. Default: a Linux TAP named as 1.14 names it (leaf/tap.ts). */
  openTap?: (nwid: bigint, mac: bigint, mtu: number) => Promise<TapDevice>;
  /** The local API's Host-header policy (see leaf/local-api.ts `hostPolicy`): tools/leaf.ts gives root/host-check.ts's. */
  apiHostPolicy: ((listenHost: string) => HostCheck) | null;
  /** The local API's listen addresses. Default: loopback, or every address when allowManagementFrom names networks. */
  apiListen?: string[];
  /** Port-mapper options beyond the port (tests point it at their gateway). False: no port mapping whatever local.conf says. */
  portMapping?: false | Omit<Partial<PortMapperOptions>, 'ports'>;
  /** HELLO/housekeeping periods for the VL1 node (tests shorten them). */
  helloRetryMs?: number;
  /** How often a root with a path is HELLOed again (default 224 s, as 1.14). */
  helloIntervalMs?: number;
  /** The TCP fallback's patience (default 60 s, 1.14's `ZT_TCP_FALLBACK_AFTER`). */
  tcpFallbackAfterMs?: number;
  /** Offline this long, a random secondary port moves (default 1.14's 120 s; tests shorten it). */
  secondaryRepickAfterMs?: number;
  /** The housekeeping period (default {@link LEAF_TICK_MS}; tests shorten it). */
  tickMs?: number;
  now?: () => number;
  /** The UDP sockets (default node:dgram): tools/leaf.ts gives the batched ones when native/udp loads. */
  udpOpener?: UdpOpener;
}

interface PendingSend {
  verb: number;
  payload: Uint8Array;
  onOk: ((ok: Ok) => void) | undefined;
  at: number;
}

export class Leaf implements LeafModel {
  readonly home: LeafHome;
  readonly node: Vl1Node;
  readonly ports: LeafPorts;
  private readonly joined = new Map<bigint, Network>();
  private readonly pending = new Map<number, PendingSend[]>();
  private pendingCount = 0;
  private readonly errorsReceived = new Map<number, number>();
  /** VL2 packets no network saw (1.14 drops them silently; we count them, as every drop). */
  private readonly vl2Drops: Record<Vl2DropReason, number> = { truncated: 0, 'unknown-network': 0, malformed: 0 };
  private readonly mappings = new Map<number, PortMapping>();
  private readonly now: () => number;
  private readonly log: LeafOptions['logger'];
  private readonly tapFactory: (nwid: bigint, mac: bigint, mtu: number) => Promise<TapDevice>;
  private ownPrefixes: BytePrefix[] = [];
  private readonly directPaths: DirectPaths;
  private api: LocalApi | null = null;
  private mapper: PortMapper | null = null;
  private timers: NodeJS.Timeout[] = [];
  /** Null when the secondary port is fixed (local.conf) or there is none. */
  private secondaryRepick: SecondaryPortRepick | null = null;
  private repicking = false;
  private stopped = false;

  private constructor(home: LeafHome, ports: LeafPorts, opts: LeafOptions) {
    this.home = home;
    this.ports = ports;
    this.now = opts.now ?? Date.now;
    this.log = opts.logger;
    this.tapFactory = opts.openTap ?? ((nwid, mac, mtu) => openTap({ nwid, home: home.dir, mac, mtu }));
    const s = home.localConf.settings;
    const relay = s.allowTcpFallbackRelay ? (s.tcpFallbackRelay ?? planetTcpRelay(home)) : null;
    this.node = new Vl1Node({
      identity: home.identity,
      planet: home.planet,
      bind: { address: s.bind[0], port: ports.primary, extraPorts: [ports.secondary, ports.tertiary].filter((p) => p !== 0) },
      now: this.now,
      logger: opts.logger,
      helloRetryMs: opts.helloRetryMs,
      helloIntervalMs: opts.helloIntervalMs,
      allowPath: (a) => pathAllowed(a, this.ownPrefixes),
      udpOpener: opts.udpOpener,
      tcpRelay: relay === null ? undefined : { address: relay, force: s.forceTcpRelay, fallbackAfterMs: opts.tcpFallbackAfterMs },
    });
    // Only a random secondary port moves: one fixed in local.conf stays (1.14 the same).
    if (ports.secondary !== 0 && s.secondaryPort === 0) this.secondaryRepick = new SecondaryPortRepick(opts.secondaryRepickAfterMs ?? SECONDARY_REPICK_OFFLINE_MS, this.now());
    this.directPaths = new DirectPaths({
      now: this.now,
      send: (dest, payload) => this.send(dest, Verb.PUSH_DIRECT_PATHS, payload),
      ourAddresses: () => this.ourAddresses(),
      attemptContact: (peer, endpoint) => this.node.attemptContact(peer, endpoint),
    });
  }

  /**
   * Opens the home, binds the ports, starts VL1, rejoins the networks of networks.d, starts the local API and
   * port mapping. Everything started is stopped again when a later step fails.
   * @throws {ZtError} BAD_CONFIG (home files), UNAVAILABLE (a port in use, naming it), FILE
   */
  static async start(opts: LeafOptions): Promise<Leaf> {
    const notices: HomeNotice[] = [];
    const home = LeafHome.open(opts.home, { onNotice: (n) => notices.push(n) });
    for (const n of notices) opts.logger?.warn({ file: n.file }, n.message);
    const s = home.localConf.settings;
    if (s.bind.length > 1) opts.logger?.warn({ bind: s.bind }, `local.conf settings.bind: only the first address (${s.bind[0]}) is bound`);
    const ports = await pickLeafPorts(opts.portMapping === false ? { ...s, portMappingEnabled: false } : s, s.bind[0]);
    const leaf = new Leaf(home, ports, opts);
    try {
      await leaf.run(opts);
    } catch (e) {
      await leaf.stop();
      throw e;
    }
    return leaf;
  }

  private async run(opts: LeafOptions): Promise<void> {
    const node = this.node;
    node.on('packet', (p) => this.onPacket(p));
    node.on('peer-error', (e) => this.onPeerError(e));
    node.on('planet', (w) => {
      try {
        this.home.savePlanet(w);
      } catch (err) {
        this.log?.warn({ err: (err as Error).message }, 'cannot keep the updated planet');
      }
    });
    node.on('identity-collision', ({ root }) =>
      (this.log?.error ?? this.log?.warn)?.call(this.log, { root: root.toString(16).padStart(10, '0') }, 'a root says another node has our address: make a new identity (delete identity.secret) and restart'),
    );
    await node.start();
    // Said once at start, not only when a join fails: the operator sees at once why networks will be PORT_ERROR.
    const noTap = opts.openTap === undefined ? tapUnavailableReason() : null;
    if (noTap !== null) this.log?.warn({ reason: noTap }, 'TAP devices cannot be made here: every network will be PORT_ERROR until this is fixed');
    const saved = this.home.loadNetworkConfigs();
    for (const nwid of this.home.joinedNetworks()) this.addNetwork(nwid, this.home.loadNetworkSettings(nwid)?.settings, saved.get(nwid));
    this.api = await startLocalApi(this, {
      port: this.ports.primary,
      authToken: this.home.authToken,
      metricsToken: this.home.metricsToken,
      config: this.home,
      listen: opts.apiListen,
      hostPolicy: opts.apiHostPolicy,
      now: this.now,
      onNotice: (m) => this.log?.warn({}, m),
    });
    this.home.writePortFile(this.api.port);
    if (this.ports.tertiary !== 0 && opts.portMapping !== false) this.startPortMapping(opts.portMapping ?? {});
    this.timers.push(setInterval(() => this.tick(), opts.tickMs ?? LEAF_TICK_MS));
    this.timers.push(setInterval(() => this.checkLocalConf(), LOCAL_CONF_CHECK_MS));
    for (const t of this.timers) t.unref();
    this.log?.info(
      { address: hex10(node.address), ports: this.ports, api: this.api.listening, networks: [...this.joined.keys()].map(hex16), aes: aesGmacSivEngine().name },
      'leaf started',
    );
  }

  /** Stops everything: port mappings deleted, TAP devices removed, sockets and the API closed. Idempotent. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    for (const t of this.timers) clearInterval(t);
    await this.mapper?.stop().catch(() => undefined);
    await this.api?.close().catch(() => undefined);
    await Promise.all([...this.joined.values()].map((n) => n.stop().catch(() => undefined)));
    await this.node.stop();
  }

  get apiPort(): number {
    return this.api?.port ?? 0;
  }

  /** The joined network `nwid`, or undefined. */
  network(nwid: bigint): Network | undefined {
    return this.joined.get(nwid);
  }

  // ---- networks --------------------------------------------------------------------------------------------

  private addNetwork(nwid: bigint, settings: NetworkSettings | undefined, savedConfig: Uint8Array | undefined): Network {
    // 1.14 keeps an allowManaged address list only in <nwid>.local.conf (the API sets the boolean): read it from there.
    const allowManagedWhitelist = this.home.loadNetworkSettings(nwid)?.allowManagedWhitelist ?? [];
    const n = new Network(nwid, this.networkHost(), { settings, savedConfig, allowManagedWhitelist });
    this.joined.set(nwid, n);
    n.on('changed', () => this.refreshOwnPrefixes());
    void n.start().then(() => this.refreshOwnPrefixes());
    return n;
  }

  private networkHost(): NetworkHost {
    return {
      identity: this.home.identity,
      now: this.now,
      log: this.log,
      send: (dest, verb, payload, onOk) => this.send(dest, verb, payload, onOk),
      identityOf: (a) => this.identityOf(a),
      roots: () => this.node.roots(),
      openTap: (nwid, mac, mtu) => this.tapFactory(nwid, mac, mtu),
      saveConfig: (nwid, dict) => {
        try {
          this.home.saveNetworkConfig(nwid, dict);
        } catch (e) {
          this.log?.warn({ nwid: hex16(nwid), err: (e as Error).message }, 'cannot keep the network config');
        }
      },
    };
  }

  /** Our networks' addresses and routes: never paths (see leaf/path-policy.ts). */
  private refreshOwnPrefixes(): void {
    const out: BytePrefix[] = [];
    for (const n of this.joined.values()) {
      const d = n.describe();
      for (const t of [...d.assignedAddresses, ...d.routes.map((r) => r.target)]) {
        const p = parsePrefix(t);
        if (p !== null) out.push(p);
      }
    }
    this.ownPrefixes = out;
  }

  /** What we push to peers as our paths: interface addresses on our ports, what the roots see, port mappings. */
  private ourAddresses(): InetAddress[] {
    const s = this.home.localConf.settings;
    const ports = [this.ports.primary, this.ports.secondary].filter((p) => p !== 0);
    const out: InetAddress[] = [];
    for (const ip of localInterfaceAddresses(s.interfacePrefixBlacklist, s.bind)) for (const port of ports) out.push({ ...ip, port });
    out.push(...this.node.externalAddresses.values());
    for (const m of this.mappings.values()) out.push({ family: 4, ip: m.external.ip, port: m.external.port });
    return out.filter((a) => pathAllowed(a, this.ownPrefixes));
  }

  private tick(): void {
    const now = this.now();
    if (this.secondaryRepick?.due(this.node.online, now) === true && !this.repicking) void this.repickSecondaryPort();
    this.directPaths.expire();
    for (const n of this.joined.values()) n.tick(now);
    for (const [dest, q] of this.pending) {
      const kept = q.filter((p) => now - p.at < PENDING_WHOIS_MS);
      this.pendingCount -= q.length - kept.length;
      if (kept.length === 0) this.pending.delete(dest);
      else this.pending.set(dest, kept);
    }
  }

  /** Binds a new random secondary port in place of the current one (1.14, after 120 s offline: leaf/secondary-port.ts). */
  private async repickSecondaryPort(): Promise<void> {
    this.repicking = true;
    const old = this.ports.secondary;
    try {
      const bindAddress = this.home.localConf.settings.bind[0];
      const next = await pickRandomPort(new Set([this.ports.primary, this.ports.tertiary, old]), bindAddress);
      if (next === 0 || this.stopped) return;
      await this.node.replaceExtraPort(old, next);
      this.ports.secondary = next;
      this.log?.info({ from: old, to: next }, 'offline (no root heard): the secondary port moves, as 1.14 does, in case a NAT dropped its mapping');
    } catch (e) {
      this.log?.warn({ port: old, err: (e as Error).message }, 'could not move the secondary port: keeping it');
    } finally {
      this.repicking = false;
    }
  }

  private checkLocalConf(): void {
    try {
      if (this.home.reloadLocalConfIfChanged() !== null) this.log?.info({}, 'local.conf changed: the API shows it now; ports, relay and bind apply at the next start');
    } catch (e) {
      this.log?.warn({ err: (e as Error).message }, 'local.conf changed but is not usable: keeping the settings in force');
    }
  }

  // ---- sending ---------------------------------------------------------------------------------------------

  /** Sends at once to a known peer; an unknown one is looked up first (the packet waits, bounded). */
  private send(dest: number, verb: number, payload: Uint8Array, onOk?: (ok: Ok) => void): void {
    if (this.stopped) return;
    if (this.node.knows(dest)) {
      this.node.sendNow(dest, verb, payload, onOk);
      return;
    }
    let q = this.pending.get(dest);
    if (q === undefined) {
      q = [];
      this.pending.set(dest, q);
      this.node.whois(dest).then(
        () => this.flushPending(dest),
        () => this.dropPending(dest),
      );
    }
    if (q.length >= PENDING_PER_PEER || this.pendingCount >= PENDING_TOTAL) {
      if (q.length === 0) return;
      q.shift();
      this.pendingCount--;
    }
    q.push({ verb, payload, onOk, at: this.now() });
    this.pendingCount++;
  }

  private flushPending(dest: number): void {
    const q = this.pending.get(dest) ?? [];
    this.dropPending(dest);
    for (const p of q) this.node.sendNow(dest, p.verb, p.payload, p.onOk);
  }

  private dropPending(dest: number): void {
    this.pendingCount -= this.pending.get(dest)?.length ?? 0;
    this.pending.delete(dest);
  }

  private identityOf(address: number): Identity | undefined {
    const id = this.node.identityOf(address);
    if (id === undefined && !this.stopped && !this.pending.has(address)) this.node.whois(address).catch(() => undefined);
    return id;
  }

  // ---- receiving -------------------------------------------------------------------------------------------

  private onPacket(p: ReceivedPacket): void {
    const { verb, payload, source } = p;
    switch (verb) {
      case Verb.FRAME:
      case Verb.EXT_FRAME:
      case Verb.MULTICAST_FRAME:
      case Verb.NETWORK_CONFIG: {
        if (payload.length < 8) return void this.vl2Drops.truncated++;
        const n = this.joined.get(readNwid(payload));
        if (n === undefined) return void this.vl2Drops['unknown-network']++;
        n.receive(verb, source, payload, p.packetId);
        if (verb !== Verb.NETWORK_CONFIG) this.directPaths.networkTraffic(source, p.via, () => n.gate(source));
        return;
      }
      case Verb.PUSH_DIRECT_PATHS:
        this.directPaths.received(source, payload);
        return;
      case Verb.MULTICAST_LIKE: {
        let groups: MulticastGroupRef[];
        try {
          groups = decodeMulticastLike(payload).groups;
        } catch {
          return void this.vl2Drops.malformed++;
        }
        const byNetwork = new Map<bigint, MulticastGroupRef[]>();
        for (const g of groups) byNetwork.set(g.networkId, [...(byNetwork.get(g.networkId) ?? []), g]);
        for (const [nwid, gs] of byNetwork) this.joined.get(nwid)?.onMulticastLike(source, gs);
        return;
      }
      case Verb.NETWORK_CREDENTIALS: {
        let creds;
        try {
          creds = decodeNetworkCredentials(payload);
        } catch {
          return void this.vl2Drops.malformed++;
        }
        for (const n of this.joined.values()) n.onCredentials(source, creds);
        return;
      }
      case Verb.NETWORK_CONFIG_REQUEST: {
        // We are no controller: say so, naming the network, as 1.14 does without one.
        if (payload.length < 8) return void this.vl2Drops.truncated++;
        this.send(source, Verb.ERROR, encodeError({ inReVerb: verb, inRePacketId: p.packetId, code: ErrorCode.UNSUPPORTED_OPERATION, networkId: readNwid(payload) }));
        return;
      }
    }
  }

  private onPeerError(e: { source: number; inReVerb: number; errorCode: number; networkId?: bigint; errorData?: Uint8Array }): void {
    this.errorsReceived.set(e.errorCode, (this.errorsReceived.get(e.errorCode) ?? 0) + 1);
    const n = e.networkId === undefined ? undefined : this.joined.get(e.networkId);
    if (n === undefined) return;
    switch (e.errorCode) {
      case ErrorCode.NEED_MEMBERSHIP_CERTIFICATE:
        n.onCredentialsRequested(e.source);
        return;
      case ErrorCode.UNWANTED_MULTICAST: {
        const d = e.errorData;
        if (d === undefined || d.length < 10) return;
        const dv = new DataView(d.buffer, d.byteOffset, d.byteLength);
        const mac = (BigInt(dv.getUint16(0)) << 32n) | BigInt(dv.getUint32(2));
        n.onUnwantedMulticast(e.source, { mac, adi: dv.getUint32(6) });
        return;
      }
      default:
        if (e.inReVerb === Verb.NETWORK_CONFIG_REQUEST) n.onControllerError(e.source, e.errorCode);
    }
  }

  // ---- port mapping ----------------------------------------------------------------------------------------

  private startPortMapping(o: Omit<Partial<PortMapperOptions>, 'ports'>): void {
    const address = hex10(this.node.address);
    const mapper = new PortMapper({ description: (port) => `ZeroTier/${address}@${port}`, logger: this.log, now: this.now, ...o, ports: [this.ports.tertiary] });
    mapper.on('mapped', (m) => {
      this.mappings.set(m.internalPort, m);
      this.log?.info({ external: `${m.external.ip}/${m.external.port}`, method: m.method, gateway: m.gateway }, 'port mapped');
    });
    mapper.on('lost', (m, why) => {
      this.mappings.delete(m.internalPort);
      if (why !== 'stopped') this.log?.info({ external: `${m.external.ip}/${m.external.port}`, why }, 'port mapping lost');
    });
    mapper.on('error', (e) => this.log?.debug({ err: e.message }, 'port mapping'));
    mapper.start();
    this.mapper = mapper;
  }

  // ---- the model (leaf/model.ts) -----------------------------------------------------------------------------

  status(): LeafStatus {
    const s = this.home.localConf.settings;
    const surface = new Set<string>();
    for (const a of this.node.externalAddresses.values()) surface.add(formatInetAddress(a));
    for (const m of this.mappings.values()) surface.add(`${m.external.ip}/${m.external.port}`);
    const planet = this.node.planet;
    return {
      address: this.node.address,
      publicIdentity: this.home.identity.toString(false),
      online: this.node.online,
      tcpFallbackActive: this.node.tcpFallbackActive,
      planetWorldId: planet.id,
      planetWorldTimestamp: planet.timestamp,
      version: { major: 1, minor: 14, revision: 1, build: 0 },
      homeDir: this.home.dir,
      primaryPort: this.ports.primary,
      secondaryPort: this.ports.secondary,
      tertiaryPort: this.ports.tertiary,
      portMappingEnabled: s.portMappingEnabled,
      allowTcpFallbackRelay: s.allowTcpFallbackRelay,
      forceTcpRelay: s.forceTcpRelay,
      listeningOn: this.node.boundAddresses.map(formatInetAddress),
      surfaceAddresses: [...surface],
      settings: (this.home.localConf.raw['settings'] as Record<string, unknown> | undefined) ?? {},
    };
  }

  peers(): LeafPeer[] {
    const tunneled = this.node.tcpFallbackActive;
    const out: LeafPeer[] = [];
    for (const address of this.node.knownPeers()) {
      const i = this.node.peerInfo(address);
      if (i === null) continue;
      const v = i.version?.split('.').map(Number);
      out.push({
        address,
        role: i.isRoot ? 'PLANET' : 'LEAF',
        version: v !== undefined && v.length === 3 && v.every(Number.isInteger) ? { major: v[0]!, minor: v[1]!, revision: v[2]! } : null,
        latencyMs: i.latencyMs,
        tunneled,
        paths: i.paths.map((p) => ({
          address: p.address,
          lastReceive: p.lastReceive ?? 0,
          lastSend: p.lastSend ?? 0,
          preferred: p.preferred,
          expired: !p.alive,
          localSocket: 0,
        })),
      });
    }
    return out;
  }

  networks(): LeafNetwork[] {
    return [...this.joined.values()].map((n) => n.describe());
  }

  join(nwid: bigint, settings: Partial<NetworkSettings> = {}): LeafNetwork {
    if (this.stopped) throw new ZtError(ZtErrorCode.UNAVAILABLE, 'the leaf is stopping');
    if (nwid <= 0n || nwid > 0xffff_ffff_ffff_ffffn) throw new ZtError(ZtErrorCode.BAD_VALUE, `network id ${nwid.toString(16)} is not a network`);
    let n = this.joined.get(nwid);
    if (n === undefined) {
      this.home.markJoined(nwid);
      n = this.addNetwork(nwid, { ...(this.home.loadNetworkSettings(nwid)?.settings ?? {}), ...settings } as NetworkSettings, undefined);
    } else if (Object.keys(settings).length > 0) {
      n.setSettings(settings);
    }
    this.home.saveNetworkSettings(nwid, n.settings);
    this.log?.info({ nwid: hex16(nwid) }, 'joined');
    return n.describe();
  }

  leave(nwid: bigint): boolean {
    const n = this.joined.get(nwid);
    if (n === undefined) return false;
    this.joined.delete(nwid);
    void n.stop().then(() => this.refreshOwnPrefixes());
    this.home.forgetNetwork(nwid);
    this.log?.info({ nwid: hex16(nwid) }, 'left');
    return true;
  }

  metricsText(): string {
    const nets = [...this.joined.values()];
    return leafMetricsText({
      sent: this.node.stats.sent,
      received: this.node.stats.received,
      errorsReceived: this.errorsReceived,
      vl2Drops: this.vl2Drops,
      networks: nets.map((n) => ({ nwid: n.nwid, multicastGroups: n.describe().multicastSubscriptions.length, accepted: n.counters.accepted, refused: n.counters.refused, drops: n.counters.drops })),
      peers: this.node.knownPeers().map((a) => {
        const paths = this.node.peerInfo(a)?.paths ?? [];
        const alive = paths.filter((p) => p.alive).length;
        return { address: a, alivePaths: alive, deadPaths: paths.length - alive };
      }),
    });
  }
}

function readNwid(payload: Uint8Array): bigint {
  return new DataView(payload.buffer, payload.byteOffset, 8).getBigUint64(0);
}

function hex10(a: number): string {
  return a.toString(16).padStart(10, '0');
}

/** Without a configured relay: the first root's first IPv4 endpoint, on the relay port (our roots all run one). */
function planetTcpRelay(home: LeafHome): InetAddress | null {
  for (const r of home.planet.roots) {
    for (const e of r.stableEndpoints) if (e.family === 4) return { ...e, port: TCP_RELAY_PORT };
  }
  return null;
}
