/**
 * The TCP fallback relay on a host of its own (`ztroot relay`): what ZeroTier's tcp-proxy does, with one
 * UDP socket per address family for every client instead of a port each (vl1.md §9.3).
 *
 *   tunnel ─► datagram for ip:port ─► destination policy ─► UDP socket of that family ─► ip:port
 *   UDP ─► ZeroTier destination (bytes 8..12, packets and fragments alike) ─► that address's tunnel, framed with the UDP source
 *
 * A tunnel speaks for the ZeroTier address its first packet came from (relay/tcp-tunnel-server.ts); the
 * newest tunnel for an address wins, since a client that reconnects leaves its old connection half-dead
 * until the idle timeout. Without the root's keys this relay cannot authenticate that claim: a client
 * could claim another's address and take its replies (not read them: they are encrypted end to end). The
 * allow-list, or running the relay inside the root (`ztroot start --tcp-relay`, which binds a tunnel only
 * after the peer's HELLO authenticated), closes that gap.
 *
 * Destinations are a required choice: a list (the planet's roots, what ZeroTier clients need: they reach
 * other peers through their roots) or 'any', tcp-proxy's relay-anywhere. With a list, datagrams are taken
 * from UDP only when they come from a listed IP (port not compared, as a client compares a root's source
 * only by IP, vl1.md §7.3): the only senders a tunnel client can have talked to, so nobody else can push
 * datagrams into the tunnels.
 */
import dgram from 'node:dgram';
import type tls from 'node:tls';
import { formatIpv4, formatIpv6, parseIp, type InetAddress } from '../vl1/inet-address.js';
import { IDX_DEST } from '../vl1/constants.js';
import { TcpTunnelServer, type TunnelConnection, type TunnelServerDeps, type TunnelServerOptions } from './tcp-tunnel-server.js';

export interface StandaloneRelayOptions {
  /** TCP listener. */
  listen: { host: string; port: number };
  /** UDP port for both families (0: ephemeral); bind addresses, null for none. */
  udpPort: number;
  bind4: string | null;
  bind6: string | null;
  /** Lowest destination port (tcp-proxy: above 1024). */
  minPort: number;
  /** Only these destinations (e.g. the planet's roots), or 'any' (an open relay). No default: a choice. */
  destinations: 'any' | InetAddress[];
  tunnel: Partial<TunnelServerOptions>;
}

export const DEFAULT_STANDALONE_RELAY_OPTIONS: Readonly<Omit<StandaloneRelayOptions, 'destinations'>> = Object.freeze({
  listen: { host: '::', port: 443 },
  udpPort: 0,
  bind4: '0.0.0.0',
  bind6: '::',
  minPort: 1025,
  tunnel: {},
});

export class StandaloneRelay {
  readonly opts: StandaloneRelayOptions;
  private readonly server: TcpTunnelServer;
  private readonly sockets = new Map<4 | 6, dgram.Socket>();
  /** ZeroTier address → its tunnels, newest first (a TCP write costs far more than the boxed 40-bit key). */
  private readonly byAddress = new Map<number, TunnelConnection[]>();
  /** "ip/port" of the allowed destinations, and their IPs (the allowed UDP sources); null: any. */
  private allowed: Set<string> | null = null;
  private allowedSources: Set<string> | null = null;
  private readonly counts = new Map<string, number>();

  constructor(opts: Partial<StandaloneRelayOptions> & Pick<StandaloneRelayOptions, 'destinations'>, deps: Omit<TunnelServerDeps, 'now'> & { https?: tls.Server } = {}) {
    this.opts = { ...DEFAULT_STANDALONE_RELAY_OPTIONS, ...opts };
    this.setDestinations(this.opts.destinations);
    this.server = new TcpTunnelServer(
      this.opts.tunnel,
      { onDatagram: (conn, d, dest) => this.fromTunnel(conn, d, dest), onClose: (conn) => this.forget(conn) },
      deps,
    );
  }

  /** Replaces the destination policy (e.g. after the planet changed); tunnels stay up. */
  setDestinations(destinations: 'any' | InetAddress[]): void {
    if (destinations === 'any') {
      this.allowed = this.allowedSources = null;
      return;
    }
    const canon = destinations.map((d) => ({ ip: canonicalIp(d.ip), port: d.port }));
    this.allowed = new Set(canon.map((d) => `${d.ip}/${d.port}`));
    this.allowedSources = new Set(canon.map((d) => d.ip));
  }

  /** Binds the UDP sockets, then the TCP listener. @throws the bind/listen error (nothing stays open). */
  async start(): Promise<void> {
    try {
      if (this.opts.bind4 !== null) await this.bindUdp(4, this.opts.bind4);
      if (this.opts.bind6 !== null) await this.bindUdp(6, this.opts.bind6);
      await this.server.listen(this.opts.listen.host, this.opts.listen.port);
    } catch (e) {
      await this.stop();
      throw e;
    }
  }

  async stop(): Promise<void> {
    await this.server.close().catch(() => undefined);
    const socks = [...this.sockets.values()];
    this.sockets.clear();
    await Promise.all(socks.map((s) => new Promise<void>((r) => s.close(() => r()))));
  }

  /** The TCP listener's port. */
  get port(): number {
    return this.server.port;
  }

  /** The UDP port of `family`'s socket (0 if none). */
  udpPort(family: 4 | 6): number {
    return this.sockets.get(family)?.address().port ?? 0;
  }

  get tunnel(): TcpTunnelServer {
    return this.server;
  }

  /** The tunnel server's counters and the relay's own (`relay_*`). */
  get counters(): ReadonlyMap<string, number> {
    const all = new Map(this.server.counters);
    for (const [k, v] of this.counts) all.set(k, v);
    return all;
  }

  private count(name: string): void {
    this.counts.set(name, (this.counts.get(name) ?? 0) + 1);
  }

  private fromTunnel(conn: TunnelConnection, datagram: Uint8Array, dest: InetAddress | null): void {
    if (conn.address >= 0) this.remember(conn);
    if (dest === null) return this.count('relay_drop_no_destination');
    if (dest.port < this.opts.minPort) return this.count('relay_drop_low_port');
    if (this.allowed !== null && !this.allowed.has(`${dest.ip}/${dest.port}`)) return this.count('relay_drop_destination');
    const s = this.sockets.get(dest.family);
    if (s === undefined) return this.count('relay_drop_no_socket');
    this.count('relay_sent_udp');
    // A copy: the socket sends later, the datagram is a view into the connection's receive buffer.
    s.send(datagram.slice(), dest.port, dest.ip);
  }

  /** Newest tunnel first; an address has at most a few (a reconnect while the old one idles out). */
  private remember(conn: TunnelConnection): void {
    const list = this.byAddress.get(conn.address);
    if (list === undefined) return void this.byAddress.set(conn.address, [conn]);
    if (list[0] === conn) return;
    const i = list.indexOf(conn);
    if (i > 0) list.splice(i, 1);
    list.unshift(conn);
  }

  private forget(conn: TunnelConnection): void {
    const list = this.byAddress.get(conn.address);
    if (list === undefined) return;
    const i = list.indexOf(conn);
    if (i >= 0) list.splice(i, 1);
    if (list.length === 0) this.byAddress.delete(conn.address);
  }

  private fromUdp(family: 4 | 6, msg: Buffer, ip: string, port: number): void {
    if (msg.length < 16) return this.count('relay_drop_runt');
    if (this.allowedSources !== null && !this.allowedSources.has(canonicalIp(ip))) return this.count('relay_drop_source');
    const d = msg[IDX_DEST]! * 2 ** 32 + (((msg[IDX_DEST + 1]! << 24) | (msg[IDX_DEST + 2]! << 16) | (msg[IDX_DEST + 3]! << 8) | msg[IDX_DEST + 4]!) >>> 0);
    const conn = this.byAddress.get(d)?.[0];
    if (conn === undefined) return this.count('relay_drop_no_tunnel');
    if (conn.send(msg, { family, ip: canonicalIp(ip), port })) this.count('relay_to_tunnel');
  }

  private bindUdp(family: 4 | 6, address: string): Promise<void> {
    return new Promise((resolve, reject) => {
      const s = dgram.createSocket({ type: family === 4 ? 'udp4' : 'udp6', ipv6Only: family === 6, recvBufferSize: 4 << 20, sendBufferSize: 4 << 20 });
      s.once('error', reject);
      s.on('message', (msg, r) => this.fromUdp(family, msg, r.address, r.port));
      s.bind({ address, port: this.opts.udpPort, exclusive: true }, () => {
        s.off('error', reject);
        s.on('error', () => this.count('relay_udp_errors'));
        this.sockets.set(family, s);
        resolve();
      });
    });
  }
}

/** The IP as the framing's decoder writes it (so a client's paths compare equal). */
function canonicalIp(ip: string): string {
  const b = parseIp(ip);
  return b === null ? ip : b.length === 4 ? formatIpv4(b) : formatIpv6(b);
}
