/**
 * Who receives a multicast frame on one network (shared/protocol/vl2.md §5.6–5.7, 1.14's `Multicaster`): the
 * members each group is known to have — from their MULTICAST_LIKEs and from gather results — and what to do with a
 * frame when too few are known: ask (MULTICAST_GATHER to the root and the controller, at most every 60 s per
 * group), send to those known now, and keep the frame for 5 s to send it to members learned meanwhile, until the
 * network's multicast limit is reached.
 *
 * Pure: no sockets, no timers; the caller passes `now` (ms) and is handed what to send.
 */

/** `ZT_MULTICAST_LIKE_EXPIRE`: a member is forgotten this long after its last LIKE or gather mention. */
export const MULTICAST_LIKE_EXPIRE_MS = 600_000;
/** `ZT_MULTICAST_EXPLICIT_GATHER_DELAY`: explicit gathers per group at most this often. */
export const MULTICAST_GATHER_DELAY_MS = 60_000;
/** `ZT_MULTICAST_TRANSMIT_TIMEOUT`: a frame waits this long for members to be learned. */
export const MULTICAST_TRANSMIT_TIMEOUT_MS = 5_000;
/** Frames kept waiting per network (bounded; the oldest is dropped). */
const MAX_PENDING = 64;
/** Members remembered per group (bounded; the least recently heard is forgotten). */
const MAX_MEMBERS_PER_GROUP = 4096;

/** A multicast group: (MAC, ADI) — `MulticastGroup`. */
export interface MulticastGroup {
  mac: bigint;
  adi: number;
}

/** What to send for one frame: each recipient gets a MULTICAST_FRAME; `gather` asks the roots/controller for more. */
export interface MulticastPlan {
  recipients: number[];
  /** Members to ask for in a MULTICAST_GATHER (0: do not gather now), and the implicit gather limit in each frame. */
  gatherLimit: number;
  explicitGather: boolean;
}

interface Pending<F> {
  group: string;
  frame: F;
  sentTo: Set<number>;
  until: number;
  limit: number;
}

export function groupKey(g: MulticastGroup): string {
  return `${g.mac.toString(16)}/${g.adi}`;
}

export class Multicaster<F> {
  /** Group key → member address → last time it was heard of (ms). */
  private readonly members = new Map<string, Map<number, number>>();
  /** Group key → when it was last explicitly gathered. */
  private readonly lastGather = new Map<string, number>();
  private pending: Array<Pending<F>> = [];

  constructor(private readonly self: number) {}

  /** A member LIKEs `g` (MULTICAST_LIKE), or a gather result names it. */
  add(g: MulticastGroup, member: number, now: number): void {
    if (member === this.self) return;
    const k = groupKey(g);
    let m = this.members.get(k);
    if (m === undefined) {
      m = new Map();
      this.members.set(k, m);
    }
    m.delete(member);
    m.set(member, now);
    if (m.size > MAX_MEMBERS_PER_GROUP) m.delete(m.keys().next().value as number);
  }

  /** A member said it does not want `g` (ERROR UNWANTED_MULTICAST): forget it for that group. */
  remove(g: MulticastGroup, member: number): void {
    this.members.get(groupKey(g))?.delete(member);
  }

  /** Known members of `g` (newest first is not promised). */
  known(g: MulticastGroup, now: number): number[] {
    const m = this.members.get(groupKey(g));
    if (m === undefined) return [];
    const out: number[] = [];
    for (const [a, t] of m) if (now - t < MULTICAST_LIKE_EXPIRE_MS) out.push(a);
    return out;
  }

  /**
   * Plans sending `frame` to `g` with the network's multicast `limit` (config `ml`): to `limit` random known
   * members when enough are known; otherwise to all known, asking for `limit − known + 1` more — explicitly when
   * none are known or the group was not gathered for 60 s — and keeping the frame to send to those learned in the
   * next 5 s (`deliverPending`).
   */
  plan(g: MulticastGroup, frame: F, limit: number, now: number): MulticastPlan {
    if (limit <= 0) return { recipients: [], gatherLimit: 0, explicitGather: false };
    const known = shuffle(this.known(g, now));
    if (known.length >= limit) return { recipients: known.slice(0, limit), gatherLimit: 1, explicitGather: false };
    const k = groupKey(g);
    const gatherLimit = limit - known.length + 1;
    const last = this.lastGather.get(k);
    const explicitGather = known.length === 0 || last === undefined || now - last >= MULTICAST_GATHER_DELAY_MS;
    if (explicitGather) this.lastGather.set(k, now);
    this.pending.push({ group: k, frame, sentTo: new Set(known), until: now + MULTICAST_TRANSMIT_TIMEOUT_MS, limit });
    if (this.pending.length > MAX_PENDING) this.pending.shift();
    return { recipients: known, gatherLimit, explicitGather };
  }

  /**
   * Frames still waiting for `g` and the members they have not reached yet (after new members were learned):
   * `send` is called for each (frame, member) until a frame reached its limit.
   */
  deliverPending(g: MulticastGroup, now: number, send: (frame: F, member: number) => void): void {
    const k = groupKey(g);
    const members = this.known(g, now);
    for (const p of this.pending) {
      if (p.group !== k || p.until <= now) continue;
      for (const m of members) {
        if (p.sentTo.size >= p.limit) break;
        if (p.sentTo.has(m)) continue;
        p.sentTo.add(m);
        send(p.frame, m);
      }
    }
  }

  /** Forgets expired members, gathers and pending frames (housekeeping). */
  expire(now: number): void {
    this.pending = this.pending.filter((p) => p.until > now);
    for (const [k, m] of this.members) {
      for (const [a, t] of m) if (now - t >= MULTICAST_LIKE_EXPIRE_MS) m.delete(a);
      if (m.size === 0) this.members.delete(k);
    }
    for (const [k, t] of this.lastGather) if (now - t >= MULTICAST_GATHER_DELAY_MS) this.lastGather.delete(k);
  }
}

/** Fisher–Yates in place (1.14 picks recipients in random order). */
function shuffle<T>(a: T[]): T[] {
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [a[i], a[j]] = [a[j]!, a[i]!];
  }
  return a;
}
