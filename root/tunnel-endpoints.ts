/**
 * What the root's TCP relay needs to know of UDP endpoints: which are this root's own (a tunnel client's
 * datagram sent there is handled or relayed here) and which are any root's (a tunnel client may always
 * send there), and, per tunnel, who recently sent to its client (it may answer them).
 */
import { networkInterfaces } from 'node:os';
import { formatIpv4, formatIpv6, parseIp, type InetAddress } from '../vl1/inet-address.js';
import type { World } from '../planet/world.js';

/** "ip/port", the form every set here is keyed by (the framing's decoder writes IPs canonically). */
export function endpointKey(ip: string, port: number): string {
  return `${ip}/${port}`;
}

export class RootEndpoints {
  private own = new Set<string>();
  private roots = new Set<string>();

  /**
   * Re-learns both sets: the worlds' stable endpoints (`me`'s are also own), `extra` own endpoints (the
   * fleet's configured ones), and every local interface address on every bound port — a root bound to
   * 0.0.0.0 does not know which of its addresses clients use.
   */
  learn(me: number, worlds: readonly World[], extra: readonly InetAddress[], boundPorts: readonly number[]): void {
    const own = new Set<string>();
    const roots = new Set<string>();
    for (const w of worlds) {
      for (const r of w.roots) {
        for (const e of r.stableEndpoints) {
          roots.add(endpointKey(e.ip, e.port));
          if (r.identity.address === me) own.add(endpointKey(e.ip, e.port));
        }
      }
    }
    for (const e of extra) own.add(endpointKey(e.ip, e.port));
    for (const list of Object.values(networkInterfaces())) {
      for (const a of list ?? []) {
        const ip = parseIp(a.address.split('%')[0]!);
        if (ip !== null) for (const p of boundPorts) own.add(endpointKey(ip.length === 4 ? formatIpv4(ip) : formatIpv6(ip), p));
      }
    }
    this.own = own;
    this.roots = roots;
  }

  isOwn(key: string): boolean {
    return this.own.has(key);
  }

  isRoot(key: string): boolean {
    return this.roots.has(key);
  }
}

/** A set that forgets its oldest member past `max` (who sent to a tunnel client lately). */
export class RecentSet {
  private readonly items = new Set<string>();
  constructor(private readonly max: number) {}

  add(key: string): void {
    if (this.items.has(key)) return;
    if (this.items.size >= this.max) this.items.delete(this.items.values().next().value!);
    this.items.add(key);
  }

  has(key: string): boolean {
    return this.items.has(key);
  }
}
