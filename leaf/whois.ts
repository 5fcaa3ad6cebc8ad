/**
 * WHOIS bookkeeping (shared/protocol/vl1.md §7.4–7.5, `Switch::requestWhois`, `Switch::_trySend`):
 * - callers waiting for an identity, one request per address, re-sent every 500 ms
 *   (`ZT_WHOIS_RETRY_DELAY`) until answered or timed out;
 * - packets from senders we do not know yet, held until their identity arrives (the RX queue of
 *   `Switch`, `ZT_RX_QUEUE_SIZE` packets, `ZT_RECEIVE_QUEUE_TIMEOUT` each).
 * Sending is the node's business: this module only says when.
 */
import type { Identity } from '../vl1/identity.js';
import type { InetAddress } from '../vl1/inet-address.js';
import { RECEIVE_QUEUE_TIMEOUT, RX_QUEUE_SIZE } from '../vl1/constants.js';
import { formatAddress } from '../vl1/address.js';
import { Vl1NodeError } from './errors.js';

/** `ZT_WHOIS_RETRY_DELAY`. */
export const WHOIS_RETRY_MS = 500;
/** `ZT_RECEIVE_QUEUE_TIMEOUT`: how long a packet from an unknown sender waits for its WHOIS. */
export const WHOIS_QUEUE_TIMEOUT_MS = RECEIVE_QUEUE_TIMEOUT;
/** `ZT_RX_QUEUE_SIZE`: packets held while their senders are being WHOISed. */
export const WHOIS_QUEUE_MAX = RX_QUEUE_SIZE;

/** A packet waiting for its sender's identity. */
export interface HeldPacket {
  source: number;
  pkt: Uint8Array;
  from: InetAddress;
  at: number;
}

export interface WhoisDeps {
  /** Sends one WHOIS for `address` to the best root; returns the wire id of the request, or null if it could not. */
  send(address: number): bigint | null;
  /** The request ids of an address are no longer expected (answered, timed out or stopped). */
  forget(ids: bigint[]): void;
}

interface Waiter {
  resolve: Array<(id: Identity) => void>;
  reject: Array<(e: Error) => void>;
  retry: NodeJS.Timeout;
  deadline: NodeJS.Timeout;
  ids: bigint[];
}

export class WhoisQueue {
  private readonly waiters = new Map<number, Waiter>();
  private readonly held = new Map<number, HeldPacket[]>();
  private heldCount = 0;

  constructor(private readonly deps: WhoisDeps) {}

  /** Whether a WHOIS for `address` is in flight. */
  pending(address: number): boolean {
    return this.waiters.has(address);
  }

  /** Resolves with the identity once {@link answer} is called for `address`; joins a request in flight. */
  lookup(address: number, timeoutMs: number): Promise<Identity> {
    return new Promise<Identity>((resolve, reject) => {
      let w = this.waiters.get(address);
      if (w === undefined) {
        const send = (): void => {
          const id = this.deps.send(address);
          if (id !== null) waiter.ids.push(id);
        };
        const waiter: Waiter = {
          resolve: [],
          reject: [],
          ids: [],
          retry: setInterval(send, WHOIS_RETRY_MS),
          deadline: setTimeout(() => {
            this.finish(address, null, new Vl1NodeError('ZT_ERR_TIMEOUT', `WHOIS ${formatAddress(address)}: no answer within ${timeoutMs} ms`));
          }, timeoutMs),
        };
        w = waiter;
        this.waiters.set(address, w);
        send();
      }
      w.resolve.push(resolve);
      w.reject.push(reject);
    });
  }

  /** An identity for `address` arrived (and was accepted): wake its waiters and hand back its held packets. */
  answer(address: number, identity: Identity): HeldPacket[] {
    this.finish(address, identity, null);
    const q = this.held.get(address) ?? [];
    this.held.delete(address);
    this.heldCount -= q.length;
    return q;
  }

  /** Holds a packet from an unknown sender; false when the queue is full (the caller drops it). */
  hold(p: HeldPacket): boolean {
    if (this.heldCount >= WHOIS_QUEUE_MAX) return false;
    const q = this.held.get(p.source) ?? [];
    q.push(p);
    this.held.set(p.source, q);
    this.heldCount++;
    return true;
  }

  /** Removes and returns held packets older than {@link WHOIS_QUEUE_TIMEOUT_MS} (the caller counts them). */
  expire(now: number): HeldPacket[] {
    const gone: HeldPacket[] = [];
    for (const [addr, q] of this.held) {
      const keep = q.filter((x) => now - x.at < WHOIS_QUEUE_TIMEOUT_MS);
      for (const x of q) if (!keep.includes(x)) gone.push(x);
      if (keep.length === 0) this.held.delete(addr);
      else this.held.set(addr, keep);
    }
    this.heldCount -= gone.length;
    return gone;
  }

  /** Clears every timer and rejects every waiter with `err`. */
  stop(err: Error): void {
    for (const address of [...this.waiters.keys()]) this.finish(address, null, err);
    this.held.clear();
    this.heldCount = 0;
  }

  private finish(address: number, id: Identity | null, err: Error | null): void {
    const w = this.waiters.get(address);
    if (w === undefined) return;
    this.waiters.delete(address);
    clearInterval(w.retry);
    clearTimeout(w.deadline);
    this.deps.forget(w.ids);
    if (id !== null) for (const r of w.resolve) r(id);
    else for (const r of w.reject) r(err ?? new Vl1NodeError('ZT_ERR_TIMEOUT', `WHOIS ${formatAddress(address)} failed`));
  }
}
