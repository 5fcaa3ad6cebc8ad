/**
 * A LeafModel (leaf/model.ts) held in memory, for testing the local API (leaf/local-api.ts) before the real
 * leaf (leaf/leaf.ts) exists: it joins and leaves as 1.14 reports it (a joined network starts
 * REQUESTING_CONFIGURATION, PRIVATE, MTU 2800, with the MAC derived from address and network id), and its
 * peers and status are whatever the test sets. It is not the leaf: nothing here speaks to a network.
 */
import { macFromAddress } from '../vl1/mac-ip.js';
import { ZtError, ZtErrorCode } from '../vl1/errors.js';
import type { World } from '../planet/world.js';
import { DEFAULT_NETWORK_SETTINGS, type LeafModel, type LeafNetwork, type LeafPeer, type LeafStatus, type NetworkSettings } from '../leaf/model.js';

export class TestLeafModel implements LeafModel {
  statusValue: LeafStatus;
  peerList: LeafPeer[] = [];
  readonly nets = new Map<bigint, LeafNetwork>();
  moonList: World[] = [];
  readonly orbited: Array<{ id: bigint; seed: number }> = [];
  readonly deorbited: bigint[] = [];
  metrics = '# HELP zt_num_networks number of networks\n# TYPE zt_num_networks gauge\nzt_num_networks 0\n';
  /** The next call of any method throws this (then it is cleared). */
  failNext: Error | null = null;

  constructor(status: Partial<LeafStatus> & { address: number; publicIdentity: string }) {
    this.statusValue = {
      online: true,
      tcpFallbackActive: false,
      planetWorldId: 0x1234_5678_9abc_def1n, // above 2^53: a JS number could not carry it exactly
      planetWorldTimestamp: 1_700_000_000_000,
      version: { major: 1, minor: 14, revision: 1, build: 0 },
      homeDir: '/var/lib/zerotier-one',
      primaryPort: 9993,
      secondaryPort: 41234,
      tertiaryPort: 51234,
      portMappingEnabled: true,
      allowTcpFallbackRelay: true,
      forceTcpRelay: false,
      listeningOn: ['192.0.2.2/9993', '192.0.2.2/41234'],
      surfaceAddresses: ['198.51.100.7/9993'],
      settings: {},
      ...status,
    };
  }

  private check(): void {
    const e = this.failNext;
    if (e !== null) {
      this.failNext = null;
      throw e;
    }
  }

  status(): LeafStatus {
    this.check();
    return this.statusValue;
  }

  peers(): LeafPeer[] {
    this.check();
    return this.peerList;
  }

  networks(): LeafNetwork[] {
    this.check();
    return [...this.nets.values()];
  }

  join(nwid: bigint, settings: Partial<NetworkSettings> = {}): LeafNetwork {
    this.check();
    if (nwid === 0n) throw new ZtError(ZtErrorCode.BAD_VALUE, 'network id 0000000000000000 is not a network');
    let n = this.nets.get(nwid);
    if (n === undefined) {
      n = {
        nwid,
        mac: macFromAddress(this.statusValue.address, nwid),
        name: '',
        status: 'REQUESTING_CONFIGURATION',
        type: 'PRIVATE',
        mtu: 2800,
        broadcastEnabled: false,
        bridge: false,
        portError: 0,
        netconfRevision: 0,
        portDeviceName: '',
        assignedAddresses: [],
        routes: [],
        multicastSubscriptions: [],
        dns: { domain: '', servers: [] },
        settings: { ...DEFAULT_NETWORK_SETTINGS },
      };
      this.nets.set(nwid, n);
    }
    n.settings = { ...n.settings, ...settings };
    return n;
  }

  leave(nwid: bigint): boolean {
    this.check();
    return this.nets.delete(nwid);
  }

  metricsText(): string {
    this.check();
    return this.metrics;
  }

  moons(): World[] {
    this.check();
    return this.moonList;
  }

  orbit(moonId: bigint, seed: number): void {
    this.check();
    this.orbited.push({ id: moonId, seed });
  }

  deorbit(moonId: bigint): boolean {
    this.check();
    this.deorbited.push(moonId);
    return this.moonList.some((m) => m.id === moonId);
  }
}
