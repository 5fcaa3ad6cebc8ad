/**
 * Budgets per source for what the root does before it knows who sent a datagram: every datagram addressed
 * to the root is opened (decrypted and authenticated) only within its source's budget, and an X25519 for an
 * unauthenticated datagram (extended armor) only within its prefix's. DESIGN.md: every budget that protects
 * the root is applied before the expensive step it protects.
 *
 * Why: one authenticated peer sending 20,000 WHOIS/s had every one decrypted before the per-peer reply
 * limit applied, and cost everyone else 18 % of their relayed packets (issue 11). A token bucket per source
 * costs a Map look-up; the decryption it saves costs ~10–30 µs.
 *
 * The key is where the datagram came from, never what it claims to be from:
 *  - not the claimed ZeroTier source address (header bytes 13..17): anyone can write any address there, so a
 *    budget keyed by it lets an attacker exhaust a victim's budget and cut the victim off from its root; and
 *    keyed by (IP, claimed address) one host would get a fresh budget for every address it makes up;
 *  - the host: an IPv4 address, or an IPv6 /64 — a /64 is one host's or one LAN's (SLAAC and privacy
 *    addresses give a host as many /128s as it likes, so counting /128s would multiply its budget);
 *  - and the site it is in, an IPv4 /24 or an IPv6 /48, with a larger budget: one /48 gives an attacker
 *    65,536 /64s, and the site budget is what bounds them together.
 * Only someone able to forge the source IP can spend another's budget, and such a sender can already do
 * worse (it can also forge the replies' destination). A big NAT (many clients, one IP) is what the host
 * budget has to allow for: a 1.14 client sends its root a few datagrams a minute (HELLO every ~60 s per
 * path, WHOIS and MULTICAST_LIKE now and then), so 1,000/s is thousands of clients.
 *
 * Datagrams relayed between peers are not counted here: the relay never decrypts anything.
 * No timers: the caller passes `now` (ms).
 */
import { ZtError, ZtErrorCode } from '../vl1/errors.js';
import { sourceKeys } from '../relay/source-keys.js';
import { RateGate, RATE_GATE_DEFAULT_MAX_KEYS } from './rate-gate.js';

export interface SourceBudgetOptions {
  /** Datagrams per second the root opens for one source host (IPv4 address, IPv6 /64). Default 1,000. */
  hostPerSecond: number;
  /** Back to back for a host (a NAT's clients waking together). Default 2,000. */
  hostBurst: number;
  /** Datagrams per second for one site (IPv4 /24, IPv6 /48), all its hosts together. Default 4,000. */
  sitePerSecond: number;
  siteBurst: number;
  /**
   * X25519 agreements per second for unauthenticated datagrams (extended armor, §4.6) from one site (IPv4 /24,
   * IPv6 /48). Default 20 (a client sends its root a HELLO per path about once a minute), burst 40.
   */
  agreementsPerSitePerSecond: number;
  agreementBurst: number;
  /** Sources remembered per budget (bounded memory; see RateGate). Default 65,536. */
  maxKeys: number;
}

export const DEFAULT_SOURCE_BUDGET: Readonly<SourceBudgetOptions> = Object.freeze({
  hostPerSecond: 1000,
  hostBurst: 2000,
  sitePerSecond: 4000,
  siteBurst: 8000,
  agreementsPerSitePerSecond: 20,
  agreementBurst: 40,
  maxKeys: RATE_GATE_DEFAULT_MAX_KEYS,
});

/** Per-source budgets before decryption; see the module comment. */
export class SourceBudget {
  readonly opts: SourceBudgetOptions;
  private readonly hosts: RateGate;
  private readonly sites: RateGate;
  private readonly agreements: RateGate;
  /** The keys of the last source seen: a flood comes from few sources, so most look-ups skip the parse. */
  private lastIp = '';
  private lastHost = '';
  private lastSite = '';

  /** @throws {ZtError} BAD_CONFIG when a rate or burst is not positive. */
  constructor(opts: Partial<SourceBudgetOptions> = {}) {
    const o = { ...DEFAULT_SOURCE_BUDGET, ...opts };
    for (const k of Object.keys(DEFAULT_SOURCE_BUDGET) as Array<keyof SourceBudgetOptions>) {
      if (typeof o[k] !== 'number' || !(o[k] > 0) || !Number.isFinite(o[k])) {
        throw new ZtError(ZtErrorCode.BAD_CONFIG, `source budget: ${k} must be a positive number, got ${String(o[k])}`);
      }
    }
    this.opts = o;
    const gate = (perSecond: number, burst: number) => new RateGate({ intervalMs: 1000 / perSecond, burst: Math.max(1, Math.round(burst)), maxKeys: o.maxKeys });
    this.hosts = gate(o.hostPerSecond, o.hostBurst);
    this.sites = gate(o.sitePerSecond, o.siteBurst);
    this.agreements = gate(o.agreementsPerSitePerSecond, o.agreementBurst);
  }

  /**
   * Whether the root may open a datagram from `ip` (its host's and its site's budgets both allow it);
   * counts it against both when it may. An unparsable `ip` (never from a socket) is refused.
   */
  allowDatagram(ip: string, now: number): boolean {
    if (!this.keys(ip)) return false;
    // The site is charged only for what its host may send, so a host over its budget does not drain its site's.
    return this.hosts.allow(this.lastHost, now) && this.sites.allow(this.lastSite, now);
  }

  /** Whether the root may run an X25519 for an unauthenticated datagram from `ip`'s site (extended armor). */
  allowAgreement(ip: string, now: number): boolean {
    return this.keys(ip) && this.agreements.allow(this.lastSite, now);
  }

  /** Drops sources whose budget is full again (housekeeping). */
  sweep(now: number): void {
    this.hosts.sweep(now);
    this.sites.sweep(now);
    this.agreements.sweep(now);
  }

  /** Datagrams refused so far, by budget. */
  get denied(): { host: number; site: number; agreement: number } {
    return { host: this.hosts.denied, site: this.sites.denied, agreement: this.agreements.denied };
  }

  private keys(ip: string): boolean {
    if (ip === this.lastIp) return true;
    const keys = sourceKeys(ip);
    if (keys === null) return false;
    this.lastIp = ip;
    this.lastHost = keys.host;
    this.lastSite = keys.prefix;
    return true;
  }
}

/** The budget key of a source host (an IPv4 address, or an IPv6 /64; relay/source-keys.ts), or null when `ip` is not an address. */
export function hostPrefixKey(ip: string): string | null {
  return sourceKeys(ip)?.host ?? null;
}
