/**
 * Who listens to which multicast group, as learned from MULTICAST_LIKE, so the root can answer
 * MULTICAST_GATHER (shared/protocol/vl1.md §5.8). 1.14 clients send LIKEs to every root every 60 s and
 * forget a LIKE after 600 s (`ZT_MULTICAST_LIKE_EXPIRE`); so do we.
 *
 * Bounded: at most `maxGroups` groups and `maxMembersPerGroup` members each; beyond that new entries are
 * refused (counted by the caller) rather than evicting live ones an attacker could push out.
 */

export const MULTICAST_LIKE_EXPIRE_MS = 600_000;

export interface MulticastLimits {
  maxGroups: number;
  maxMembersPerGroup: number;
}

export const DEFAULT_MULTICAST_LIMITS: Readonly<MulticastLimits> = Object.freeze({ maxGroups: 100_000, maxMembersPerGroup: 4096 });

function groupKey(networkId: bigint, mac: bigint, adi: number): string {
  return `${networkId.toString(16)}/${mac.toString(16)}/${adi >>> 0}`;
}

export class MulticastSubscriptions {
  private readonly groups = new Map<string, Map<number, number>>(); // key → member address → last LIKE (ms)
  private readonly limits: MulticastLimits;

  constructor(limits: Partial<MulticastLimits> = {}) {
    this.limits = { ...DEFAULT_MULTICAST_LIMITS, ...limits };
  }

  get groupCount(): number {
    return this.groups.size;
  }

  /** Records that `member` likes the group; false when a limit refused it. */
  like(networkId: bigint, mac: bigint, adi: number, member: number, now: number): boolean {
    const k = groupKey(networkId, mac, adi);
    let members = this.groups.get(k);
    if (members === undefined) {
      if (this.groups.size >= this.limits.maxGroups) return false;
      members = new Map();
      this.groups.set(k, members);
    }
    if (!members.has(member) && members.size >= this.limits.maxMembersPerGroup) return false;
    members.set(member, now);
    return true;
  }

  /**
   * Up to `limit` live members of the group other than `requester`, and how many live ones there are
   * in all (the OK(MULTICAST_GATHER) "total known" field).
   */
  gather(networkId: bigint, mac: bigint, adi: number, requester: number, limit: number, now: number): { total: number; members: number[] } {
    const members = this.groups.get(groupKey(networkId, mac, adi));
    const out: number[] = [];
    let total = 0;
    if (members === undefined) return { total, members: out };
    for (const [a, t] of members) {
      if (a === requester || now - t >= MULTICAST_LIKE_EXPIRE_MS) continue;
      total++;
      if (out.length < limit) out.push(a);
    }
    return { total, members: out };
  }

  /** Drops LIKEs older than the expiry (housekeeping). */
  expire(now: number): void {
    for (const [k, members] of this.groups) {
      for (const [a, t] of members) if (now - t >= MULTICAST_LIKE_EXPIRE_MS) members.delete(a);
      if (members.size === 0) this.groups.delete(k);
    }
  }
}
