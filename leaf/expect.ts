/**
 * Expected replies (shared/protocol/vl1.md §3.2, `Node::expectReplyTo`, `IncomingPacket::_doOK`): 1.14
 * ignores every OK whose in-re packet id is not one it sent and expects an answer to, so an attacker (or
 * a confused peer) cannot make it learn paths or latencies with unsolicited OKs. Ids are the ones on the
 * wire, after armoring (for suite 3 that is the tag half, not the random id chosen before).
 */
import type { Ok } from '../vl1/verbs/ok.js';
import type { Via } from './types.js';

/** How long a record without a waiting caller (HELLO, contact ECHO) is kept. */
export const EXPECT_TTL_MS = 60000;
/** Upper bound on records (1.14: 256 buckets × 32); the oldest goes first. */
export const EXPECT_MAX = 8192;

export interface Expect {
  /** The verb we sent: an OK must name it as its in-re verb. */
  verb: number;
  /** The peer we sent it to: only it may answer. */
  peer: number;
  sentAt: number;
  /** Called with the OK, the route it came by and its hop count, once it authenticated. */
  onOk?: (ok: Ok, via: Via, hops: number) => void;
  /** A waiter that does not clean up after itself (one sent with `Vl1Node.sendNow`): forgotten after this long. */
  ttlMs?: number;
}

export class ExpectedReplies {
  private readonly byId = new Map<bigint, Expect>();

  /** Records that `id` (sent to `e.peer`) may be answered. Evicts the oldest past {@link EXPECT_MAX}. */
  add(id: bigint, e: Expect): void {
    if (this.byId.size >= EXPECT_MAX) {
      const oldest = this.byId.keys().next().value as bigint;
      this.byId.delete(oldest);
    }
    this.byId.set(id, e);
  }

  /** The record an OK answers, or undefined when the OK is unsolicited (wrong id, peer or verb). */
  match(inRePacketId: bigint, from: number, inReVerb: number): Expect | undefined {
    const e = this.byId.get(inRePacketId);
    return e !== undefined && e.peer === from && e.verb === inReVerb ? e : undefined;
  }

  delete(id: bigint): void {
    this.byId.delete(id);
  }

  /** Forgets records nobody waits on once they are older than {@link EXPECT_TTL_MS}; waiters clean up their own. */
  expire(now: number): void {
    for (const [id, e] of this.byId) {
      if ((e.onOk === undefined || e.ttlMs !== undefined) && now - e.sentAt > (e.ttlMs ?? EXPECT_TTL_MS)) this.byId.delete(id);
    }
  }

  clear(): void {
    this.byId.clear();
  }
}
