/**
 * What one network knows of each other member (1.14's `Membership`, shared/protocol/vl2.md §4): the credentials it
 * presented (COM, tags, capabilities, certificates of ownership), the revocation thresholds the controller set, and
 * when we last pushed our own credentials to it and last announced our multicast groups to it.
 *
 * Pure bookkeeping: verification against the controller's identity is the caller's (it holds the identities).
 */
import { comTimestamp, type CertificateOfMembership } from '../vl1/netconf/com.js';
import { comUpdate } from '../vl1/netconf/membership.js';
import type { Capability } from '../vl1/netconf/capability.js';
import type { Tag } from '../vl1/netconf/tag.js';
import type { CertificateOfOwnership } from '../vl1/netconf/certificate-of-ownership.js';

/** `ZT_PEER_ACTIVITY_TIMEOUT`: credentials are pushed again after this long (vl2.md §4.2, `pushCredentialsIfNeeded`). */
export const CREDENTIALS_REPUSH_MS = 500_000;
/** A member asking for our credentials (ERROR NEED_MEMBERSHIP_CERTIFICATE) is answered at most this often. */
export const CREDENTIALS_REQUEST_MIN_MS = 1_000;
/** 1.14 processes at most one NETWORK_CREDENTIALS per peer per second (`rateGateCredentialsReceived`). */
export const CREDENTIALS_RECEIVE_MIN_MS = 1_000;
/** `ZT_MULTICAST_ANNOUNCE_PERIOD`: our groups are announced to each member at most this often. */
export const ANNOUNCE_PERIOD_MS = 60_000;

export interface Member {
  com: CertificateOfMembership | null;
  /** Revocation thresholds by credential type (1 COM, 2 capability, 3 tag, 4 COO): credentials at or before them are void. */
  thresholds: Map<number, bigint>;
  tags: Map<number, Tag>;
  capabilities: Map<number, Capability>;
  coos: CertificateOfOwnership[];
  /** When we last pushed our credentials to it (0: never since our config changed). */
  pushedAt: number;
  lastCredentialsReceived: number;
  /** When we last announced our multicast groups to it. */
  announcedAt: number;
}

export class Memberships {
  private readonly members = new Map<number, Member>();

  get(address: number): Member {
    let m = this.members.get(address);
    if (m === undefined) {
      m = { com: null, thresholds: new Map(), tags: new Map(), capabilities: new Map(), coos: [], pushedAt: 0, lastCredentialsReceived: -Infinity, announcedAt: 0 };
      this.members.set(address, m);
    }
    return m;
  }

  peek(address: number): Member | undefined {
    return this.members.get(address);
  }

  addresses(): number[] {
    return [...this.members.keys()];
  }

  /** Our config changed: every member gets our new credentials before the next frame (`pushedAt` reset). */
  configChanged(): void {
    for (const m of this.members.values()) m.pushedAt = 0;
  }

  /** Whether it is time to push our credentials to `address` before sending it a frame. */
  needsPush(address: number, now: number): boolean {
    const m = this.get(address);
    return m.pushedAt === 0 || now - m.pushedAt >= CREDENTIALS_REPUSH_MS;
  }

  /** Whether a received COM is worth verifying (newer than the held one and its revocation threshold), vl2.md §4.2. */
  comUpdate(address: number, com: CertificateOfMembership): 'revoked' | 'old' | 'same' | 'verify' {
    const m = this.get(address);
    return comUpdate(m.com, com, m.thresholds.get(1) ?? -1n);
  }

  /** Keeps a verified COM. */
  setCom(address: number, com: CertificateOfMembership): void {
    this.get(address).com = com;
  }

  /** The controller revoked `address`'s credentials of `type` up to `threshold` (ms). Whether that was news (the threshold rose). */
  revoke(address: number, type: number, threshold: bigint): boolean {
    const m = this.get(address);
    const news = threshold > (m.thresholds.get(type) ?? -1n);
    if (news) m.thresholds.set(type, threshold);
    if (type === 1 && m.com !== null && comTimestamp(m.com) <= threshold) m.com = null;
    return news;
  }

  /** The member's COM and its revocation threshold (COM credentials of type 1). */
  comOf(address: number): { com: CertificateOfMembership | null; threshold: bigint } {
    const m = this.members.get(address);
    return { com: m?.com ?? null, threshold: m?.thresholds.get(1) ?? -1n };
  }

  forget(address: number): void {
    this.members.delete(address);
  }
}
