/**
 * The leaf's Linux TAP device (vl2.md §7): one per network, named, addressed and sized as ZeroTier One 1.14 does,
 * carrying whole Ethernet frames between the kernel and the network logic.
 *
 *   const tap = await openTap({ nwid, home, mac, mtu: 2800 });
 *   tap.on('frame', (frame) => …);             // every frame the kernel sends out of the device
 *   tap.write(frame);                           // a frame from the network, into the kernel
 *   await tap.setAddresses([{ ip: '10.147.17.5', bits: 24 }]);
 *   await tap.setRoutes([{ target: '10.0.0.0', bits: 8, via: '10.147.17.1' }]);
 *   await tap.close();                          // the device, its addresses and routes are gone
 *
 * What it needs (vl2.md §7.6): /dev/net/tun, CAP_NET_ADMIN, the native addon (native/tap) for the ioctls and
 * frame I/O, and iproute2's `ip` for addresses and routes. {@link tapUnavailableReason} names whatever is missing.
 */
import { EventEmitter } from 'node:events';
import { readFile } from 'node:fs/promises';
import { ZtError, ZtErrorCode } from '../vl1/errors.js';
import { formatMac, macToBytes } from '../vl1/mac-ip.js';
import { deviceExists, isValidIfName, readDeviceMap, recordDeviceName, tapNameFor } from './tap-name.js';
import {
  checkAddresses,
  ipArgs,
  ipFailureError,
  planAddresses,
  planRouteChanges,
  planRoutes,
  runIp,
  type InstalledRoute,
  type IpFailure,
  type TapAddress,
  type TapRoute,
} from './tap-ip.js';
import { nativeTapSys } from './tap-native.js';
import { errnoName, sysError, tapUnavailableReason } from './tap-access.js';
import type { TapReader, TapSys } from './tap-sys.js';

export { tapNameFor, readDeviceMap, recordDeviceName } from './tap-name.js';
export { tapUnavailableReason, TUN_PATH } from './tap-access.js';
export type { TapAddress, TapRoute } from './tap-ip.js';

/** Ethernet header: destination MAC, source MAC, ethertype. */
export const ETHERNET_HEADER = 14;
/** The MTU range of a ZeroTier network (1.14 clamps the config's `mtu` to it: ZT_MIN_MTU, ZT_MAX_MTU). */
export const TAP_MIN_MTU = 1280;
export const TAP_MAX_MTU = 10000;
/** The largest frame read from the kernel; with a smaller MTU, longer frames are counted as `rx-oversize`. */
const READ_FRAME_MAX = TAP_MAX_MTU + ETHERNET_HEADER;

/** Why a frame was not passed on. Stable strings (metric labels). */
export type TapDropReason =
  /** Written frame longer than the MTU + 14 (1.14 drops these too, LinuxEthernetTap `put`). */
  | 'tx-oversize'
  /** Written frame shorter than an Ethernet header. */
  | 'tx-runt'
  /** Written after close(). */
  | 'tx-closed'
  /** The kernel refused the write (device down: EIO); the errno is not kept. */
  | 'tx-error'
  /** Frame from the kernel longer than the MTU + 14 (1.14 truncates it, which only corrupts it). */
  | 'rx-oversize'
  /** Frame from the kernel shorter than an Ethernet header. */
  | 'rx-runt';

export interface TapStats {
  rxFrames: number;
  rxBytes: number;
  txFrames: number;
  txBytes: number;
  drops: Record<TapDropReason, number>;
}

export interface TapOptions {
  /** The network: names the device (vl2.md §7.1). */
  nwid: bigint;
  /** The node's home directory: its `devicemap` keeps the device's name across restarts. */
  home?: string;
  /** The device's MAC: the node's MAC on this network (`macFromAddress`). */
  mac: bigint;
  /** The network's MTU (1280..10000; 1.14 starts with 2800 before a config arrives). */
  mtu: number;
}

type TapEvents = {
  /** A whole Ethernet frame the kernel sent out of the device (dst MAC, src MAC, ethertype, payload); the listener's to keep. */
  frame: [frame: Uint8Array];
  /** The device is gone: null after close(), the error when it disappeared on its own (deleted with `ip link del`). */
  close: [err: ZtError | null];
};

// ---------------------------------------------------------------------------------------------------------------
// The device

function checkMtu(mtu: unknown): number {
  if (typeof mtu !== 'number' || !Number.isInteger(mtu) || mtu < TAP_MIN_MTU || mtu > TAP_MAX_MTU) {
    throw new ZtError(ZtErrorCode.BAD_CONFIG, `TAP MTU ${String(mtu)} is not an integer in ${TAP_MIN_MTU}..${TAP_MAX_MTU}`);
  }
  return mtu;
}

function checkMac(mac: unknown): bigint {
  // A device MAC must be unicast (low bit of the first octet clear) and not zero; the kernel refuses others.
  if (typeof mac !== 'bigint' || mac <= 0n || mac > 0xffffffffffffn || ((mac >> 40n) & 1n) !== 0n) {
    throw new ZtError(ZtErrorCode.BAD_CONFIG, `TAP MAC ${typeof mac === 'bigint' && mac >= 0n ? formatMac(mac) : String(mac)} is not a non-zero unicast 48-bit MAC`);
  }
  return mac;
}

export class TapDevice extends EventEmitter<TapEvents> {
  readonly stats: TapStats = {
    rxFrames: 0,
    rxBytes: 0,
    txFrames: 0,
    txBytes: 0,
    drops: { 'tx-oversize': 0, 'tx-runt': 0, 'tx-closed': 0, 'tx-error': 0, 'rx-oversize': 0, 'rx-runt': 0 },
  };
  private fd: number;
  private reader: TapReader | null;
  private mtuNow: number;
  private macNow: bigint;
  private addrs: TapAddress[] = [];
  private routes: InstalledRoute[] = [];
  /** setAddresses/setRoutes run one at a time, in call order (each reads what the previous one left). */
  private ipQueue: Promise<unknown> = Promise.resolve();

  /** @internal use {@link openTap} */
  constructor(
    readonly name: string,
    readonly nwid: bigint,
    fd: number,
    mtu: number,
    mac: bigint,
    private readonly sys: TapSys,
  ) {
    super();
    this.fd = fd;
    this.mtuNow = mtu;
    this.macNow = mac;
    this.reader = sys.read(fd, READ_FRAME_MAX, (f) => this.onFrame(f), (errno) => this.onReadFailed(errno));
  }

  get mtu(): number {
    return this.mtuNow;
  }

  get mac(): bigint {
    return this.macNow;
  }

  get closed(): boolean {
    return this.fd < 0;
  }

  /** The managed addresses as last set (canonical text). */
  get addresses(): readonly TapAddress[] {
    return this.addrs;
  }

  /** The managed routes as installed (default routes as their two halves, with the chosen source). */
  get installedRoutes(): readonly InstalledRoute[] {
    return this.routes;
  }

  private onFrame(frame: Uint8Array): void {
    if (frame.length < ETHERNET_HEADER) {
      this.stats.drops['rx-runt']++;
      return;
    }
    if (frame.length > this.mtuNow + ETHERNET_HEADER) {
      this.stats.drops['rx-oversize']++;
      return;
    }
    this.stats.rxFrames++;
    this.stats.rxBytes += frame.length;
    this.emit('frame', frame);
  }

  private onReadFailed(errno: number): void {
    this.reader = null;
    this.shutdown(new ZtError(ZtErrorCode.CLOSED, `TAP device ${this.name} is gone (its fd failed with ${errnoName(errno)}): it was deleted outside the leaf`));
  }

  /**
   * Passes one whole Ethernet frame (dst MAC, src MAC, ethertype, payload) to the kernel as if it arrived on the
   * device: one write(), which copies it, so the caller may reuse `frame` on return. Never throws: a frame that
   * cannot go is counted in `stats.drops` and false returned.
   */
  write(frame: Uint8Array): boolean {
    if (this.fd < 0) {
      this.stats.drops['tx-closed']++;
      return false;
    }
    if (frame.length < ETHERNET_HEADER) {
      this.stats.drops['tx-runt']++;
      return false;
    }
    if (frame.length > this.mtuNow + ETHERNET_HEADER) {
      this.stats.drops['tx-oversize']++;
      return false;
    }
    const n = this.sys.write(this.fd, frame);
    if (n < 0) {
      this.stats.drops['tx-error']++;
      return false;
    }
    this.stats.txFrames++;
    this.stats.txBytes += frame.length;
    return true;
  }

  private checkOpen(what: string): void {
    if (this.fd < 0) throw new ZtError(ZtErrorCode.CLOSED, `TAP device ${this.name} is closed: cannot ${what}`);
  }

  /**
   * Sets the device's MTU (SIOCSIFMTU); frames longer than it + 14 are dropped both ways from then on.
   * @throws {ZtError} BAD_CONFIG out of 1280..10000; CLOSED; UNAVAILABLE if the kernel refuses
   */
  async setMtu(mtu: number): Promise<void> {
    checkMtu(mtu);
    this.checkOpen(`set MTU ${mtu}`);
    if (mtu === this.mtuNow) return;
    try {
      this.sys.setMtu(this.name, mtu);
    } catch (e) {
      throw sysError(this.name, e);
    }
    this.mtuNow = mtu;
  }

  /**
   * Sets the device's MAC (SIOCSIFHWADDR).
   * @throws {ZtError} BAD_CONFIG for a multicast or zero MAC; CLOSED; UNAVAILABLE if the kernel refuses
   */
  async setMac(mac: bigint): Promise<void> {
    checkMac(mac);
    this.checkOpen(`set MAC ${formatMac(mac)}`);
    if (mac === this.macNow) return;
    try {
      this.sys.setMac(this.name, macToBytes(mac));
    } catch (e) {
      throw sysError(this.name, e);
    }
    this.macNow = mac;
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.ipQueue.then(fn, fn);
    this.ipQueue = run.catch(() => undefined);
    return run;
  }

  /**
   * Makes the device's managed addresses exactly `addrs` (vl2.md §7.3): adds the new ones (IPv4 with its
   * broadcast), removes those no longer listed, replaces one whose prefix changed. Addresses the kernel or
   * someone else put there (the IPv6 link-local one) are left alone. Call setRoutes after it: removing an
   * address makes the kernel drop the routes that used it.
   * @throws {ZtError} BAD_CONFIG naming a bad entry (nothing is changed then); CLOSED; UNAVAILABLE naming each
   *   `ip` command that failed (the others are applied)
   */
  setAddresses(addrs: Array<{ ip: string; bits: number }>): Promise<void> {
    const wanted = checkAddresses(addrs);
    return this.serial(async () => {
      this.checkOpen('set addresses');
      const { remove, add } = planAddresses(this.addrs, wanted);
      const failures: IpFailure[] = [];
      for (const a of remove) {
        const f = await runIp(ipArgs.removeAddress(this.name, a));
        // Already gone (removed by hand) is what we wanted.
        if (f && !/Cannot assign requested address/.test(f.message)) failures.push(f);
      }
      const added: TapAddress[] = [];
      for (const a of add) {
        const f = await runIp(ipArgs.addAddress(this.name, a));
        if (f) failures.push(f);
        else added.push(a);
      }
      const removedIps = new Set(remove.map((a) => a.ip));
      const addedIps = new Set(add.map((a) => a.ip));
      this.addrs = [...this.addrs.filter((a) => !removedIps.has(a.ip) && !addedIps.has(a.ip)), ...added];
      if (failures.length) throw ipFailureError(this.name, 'setting addresses', failures);
    });
  }

  /**
   * Makes the device's managed routes exactly `routes` (vl2.md §7.3): a default route (bits 0) is installed as
   * two halves, routes implied by an address's prefix or via one of our own addresses are skipped, each gets the
   * source address its gateway (or target) lies in. Uses the addresses of the last setAddresses.
   * @throws {ZtError} BAD_CONFIG naming a bad route (nothing is changed then); CLOSED; UNAVAILABLE naming each
   *   `ip` command that failed (the others are applied)
   */
  setRoutes(routes: Array<{ target: string; bits: number; via: string | null }>): Promise<void> {
    const copy = routes.map((r) => ({ ...r }));
    planRoutes(copy, []); // checks every route now, so a bad one changes nothing
    return this.serial(async () => {
      this.checkOpen('set routes');
      const wanted = planRoutes(copy, this.addrs);
      const { remove, apply } = planRouteChanges(this.routes, wanted);
      const failures: IpFailure[] = [];
      for (const r of remove) {
        const f = await runIp(ipArgs.removeRoute(this.name, r));
        // Gone already: the kernel drops routes whose address or gateway went away.
        if (f && !/No such process|No such device/.test(f.message)) failures.push(f);
      }
      const installed: InstalledRoute[] = [];
      for (const r of apply) {
        const f = await runIp(ipArgs.applyRoute(this.name, r));
        if (f) failures.push(f);
        else installed.push(r);
      }
      this.routes = installed;
      if (failures.length) throw ipFailureError(this.name, 'setting routes', failures);
    });
  }

  /**
   * The Ethernet multicast groups the kernel has joined on this device (/proc/net/dev_mcast, vl2.md §7.5), e.g.
   * 33:33:00:00:00:01 and the IPv6 solicited-node groups. The network logic adds the ARP groups of its IPv4
   * addresses itself (they are not listed here).
   * @throws {ZtError} CLOSED; FILE if /proc/net/dev_mcast cannot be read
   */
  async multicastGroups(): Promise<Array<{ mac: bigint }>> {
    this.checkOpen('list multicast groups');
    let text: string;
    try {
      text = await readFile('/proc/net/dev_mcast', 'utf8');
    } catch (e) {
      throw new ZtError(ZtErrorCode.FILE, `cannot read /proc/net/dev_mcast for TAP device ${this.name}: ${(e as Error).message}`, { cause: e });
    }
    return parseDevMcast(text, this.name).map((mac) => ({ mac }));
  }

  /** Removes the device (closing its fd does: it is not persistent), with its addresses and routes. Idempotent. */
  async close(): Promise<void> {
    this.shutdown(null);
  }

  private shutdown(err: ZtError | null): void {
    if (this.fd < 0) return;
    this.reader?.stop();
    this.reader = null;
    const fd = this.fd;
    this.fd = -1;
    try {
      this.sys.close(fd);
    } catch {
      /* EBADF cannot happen (we own the fd); EINTR leaves it closed on Linux */
    }
    this.addrs = [];
    this.routes = [];
    this.emit('close', err);
  }
}

/** The MACs /proc/net/dev_mcast lists for device `name` (lines: index, name, users, global flag, 12 hex digits). */
export function parseDevMcast(text: string, name: string): bigint[] {
  const out: bigint[] = [];
  const seen = new Set<bigint>();
  for (const line of text.split('\n')) {
    const f = line.trim().split(/\s+/);
    if (f.length < 5 || f[1] !== name || !/^[0-9a-fA-F]{12}$/.test(f[4]!)) continue;
    const mac = BigInt(`0x${f[4]}`);
    if (!seen.has(mac)) out.push(mac);
    seen.add(mac);
  }
  return out;
}

/**
 * Creates the network's TAP device as 1.14 does (vl2.md §7.1): named from the devicemap of `home` or from the
 * network id, MTU and MAC set, brought up (IFF_UP | IFF_MULTICAST), reading frames. The name is recorded in the
 * devicemap. Nothing else is touched (IPv6 autoconf stays at the kernel's defaults, as with 1.14).
 * @throws {ZtError} BAD_CONFIG for bad options; UNAVAILABLE naming what is missing (see
 *   {@link tapUnavailableReason}) or the system call that failed; FILE if the devicemap cannot be read or written
 */
export async function openTap(opts: TapOptions, sys?: TapSys): Promise<TapDevice> {
  const mtu = checkMtu(opts.mtu);
  const mac = checkMac(opts.mac);
  if (sys === undefined) {
    const why = tapUnavailableReason();
    if (why !== null) throw new ZtError(ZtErrorCode.UNAVAILABLE, `cannot create a TAP device: ${why}`);
    sys = nativeTapSys();
  }
  const preferred = opts.home !== undefined ? readDeviceMap(opts.home).get(opts.nwid) : undefined;
  const name = tapNameFor(opts.nwid, deviceExists, preferred !== undefined && isValidIfName(preferred) ? preferred : undefined);
  let fd: number;
  try {
    fd = sys.open(name);
  } catch (e) {
    throw sysError(name, e);
  }
  try {
    // The MAC before the device goes up: the kernel derives the IPv6 link-local address from it then.
    sys.setMtu(name, mtu);
    sys.setMac(name, macToBytes(mac));
    sys.setUp(name);
  } catch (e) {
    sys.close(fd);
    throw sysError(name, e);
  }
  const dev = new TapDevice(name, opts.nwid, fd, mtu, mac, sys);
  if (opts.home !== undefined) {
    try {
      recordDeviceName(opts.home, opts.nwid, name);
    } catch (e) {
      await dev.close();
      throw e;
    }
  }
  return dev;
}
