/**
 * Packet fragmentation and reassembly (shared/protocol/vl1.md §3.3; `Packet::Fragment` in
 * `node/Packet.hpp`, `Switch::_sendViaSpecificPath`, `Switch::onRemotePacket`).
 *
 *  0       8        13     14          15     16
 *  +-------+--------+------+-----------+------+--------
 *  | id    | dest   | 0xff | tot<<4|no | hops | chunk
 *
 * Sending, in this order (the fragmented flag is covered by the MAC, so it cannot be set later):
 *   1. build the plaintext packet;
 *   2. if `needsFragmentation(pkt.length, mtu)`, set FLAG_FRAGMENTED (0x40) in the flags byte
 *      (`sealPacket(..., { mtu })` in `vl1/packet.ts` does 1–3 for you);
 *   3. armor it;
 *   4. `splitPacket(armored, mtu)` → head (the first `mtu` bytes) + fragments of ≤ mtu − 16 bytes.
 *
 * Receiving: `Reassembler` collects heads and fragments by packet id, with 1.14's limits, and hands
 * back the whole armored packet for dearmoring (the MAC is checked only on the reassembled packet).
 */
import { packetBytes, packetCopy, readU40, readU64, writeU40 } from './bytes.js';
import {
  DEFAULT_PHYSMTU,
  FLAG_FRAGMENTED,
  FRAGMENT_IDX_HOPS,
  FRAGMENT_IDX_INDICATOR,
  FRAGMENT_IDX_NUMBERS,
  FRAGMENT_IDX_PAYLOAD,
  FRAGMENT_INDICATOR,
  FLAGS_HOPS_MASK,
  IDX_DEST,
  IDX_FLAGS,
  MAX_PACKET_FRAGMENTS,
  MAX_PACKET_LENGTH,
  MIN_FRAGMENT_LENGTH,
  MIN_PACKET_LENGTH,
  RECEIVE_QUEUE_TIMEOUT,
  RX_QUEUE_SIZE,
} from './constants.js';
import { ZtError, ZtErrorCode } from './errors.js';

/** `ZT_MAX_PHYSMTU` (include/ZeroTierOne.h): largest per-path MTU 1.14 can be configured with. */
export const MAX_PHYSMTU = 10324;

function checkMtu(mtu: number): void {
  if (!Number.isInteger(mtu) || mtu < MIN_PACKET_LENGTH || mtu > MAX_PHYSMTU) {
    throw new ZtError(ZtErrorCode.BAD_VALUE, `MTU must be an integer in ${MIN_PACKET_LENGTH}..${MAX_PHYSMTU}, got ${mtu}`);
  }
}

/**
 * Number of datagrams (head + fragments) a packet of `packetLength` bytes needs at `mtu`.
 * @throws {ZtError} BAD_VALUE on an MTU outside 28..10324.
 */
export function fragmentCount(packetLength: number, mtu: number = DEFAULT_PHYSMTU): number {
  checkMtu(mtu);
  if (packetLength <= mtu) return 1;
  const per = mtu - FRAGMENT_IDX_PAYLOAD;
  return 1 + Math.ceil((packetLength - mtu) / per);
}

/**
 * Whether a packet of this length must be fragmented at `mtu` — ask BEFORE armoring and set
 * FLAG_FRAGMENTED if so (the flag is authenticated).
 * @throws {ZtError} BAD_VALUE on an MTU outside 28..10324.
 */
export function needsFragmentation(packetLength: number, mtu: number = DEFAULT_PHYSMTU): boolean {
  return fragmentCount(packetLength, mtu) > 1;
}

/** A decoded fragment header; `chunk` is a view into the datagram. */
export interface FragmentHeader {
  /** Bytes 0..7 (the armored head's wire id). */
  packetId: bigint;
  dest: number;
  /** Total datagrams of the packet, head included (high nibble of byte 14). */
  total: number;
  /** This fragment's number, 1.. (low nibble of byte 14). */
  number: number;
  hops: number;
  chunk: Uint8Array;
}

/**
 * Encodes one fragment: `id[8] ‖ dest[5] ‖ 0xFF ‖ total<<4|number ‖ hops ‖ chunk`.
 * @throws {ZtError} BAD_VALUE on a field out of its range.
 */
export function encodeFragment(packetId8: Uint8Array, dest: number, total: number, number: number, chunk: Uint8Array, hops = 0): Uint8Array {
  if (packetId8.length < 8) throw new ZtError(ZtErrorCode.BAD_VALUE, `fragment packet id must be 8 bytes, got ${packetId8.length}`);
  if (!Number.isInteger(dest) || dest < 0 || dest > 0xffffffffff) throw new ZtError(ZtErrorCode.BAD_VALUE, `fragment destination is not a 40-bit address: ${dest}`);
  if (!Number.isInteger(total) || total < 0 || total > 15) throw new ZtError(ZtErrorCode.BAD_VALUE, `fragment total must be 0..15, got ${total}`);
  if (!Number.isInteger(number) || number < 0 || number > 15) throw new ZtError(ZtErrorCode.BAD_VALUE, `fragment number must be 0..15, got ${number}`);
  if (!Number.isInteger(hops) || hops < 0 || hops > 7) throw new ZtError(ZtErrorCode.BAD_VALUE, `fragment hops must be 0..7, got ${hops}`);
  const f = packetBytes(FRAGMENT_IDX_PAYLOAD + chunk.length);
  f.set(packetId8.subarray(0, 8), 0);
  writeU40(f, IDX_DEST, dest);
  f[FRAGMENT_IDX_INDICATOR] = FRAGMENT_INDICATOR;
  f[FRAGMENT_IDX_NUMBERS] = (total << 4) | number;
  f[FRAGMENT_IDX_HOPS] = hops;
  f.set(chunk, FRAGMENT_IDX_PAYLOAD);
  return f;
}

/**
 * Decodes a fragment header (format only; acceptance limits are the reassembler's).
 * Hops are the low 3 bits of byte 15; the upper bits are ignored.
 * @throws {ZtError} TRUNCATED below 16 bytes; BAD_FRAGMENT if byte 13 is not 0xFF.
 */
export function decodeFragment(frag: Uint8Array): FragmentHeader {
  if (frag.length < MIN_FRAGMENT_LENGTH) throw new ZtError(ZtErrorCode.TRUNCATED, `fragment of ${frag.length} byte(s) is shorter than ${MIN_FRAGMENT_LENGTH}`);
  if (frag[FRAGMENT_IDX_INDICATOR] !== FRAGMENT_INDICATOR) {
    throw new ZtError(ZtErrorCode.BAD_FRAGMENT, `byte 13 is 0x${frag[FRAGMENT_IDX_INDICATOR]!.toString(16).padStart(2, '0')}, not the fragment indicator 0xff`);
  }
  const tn = frag[FRAGMENT_IDX_NUMBERS]!;
  return {
    packetId: readU64(frag, 0),
    dest: readU40(frag, IDX_DEST),
    total: tn >>> 4,
    number: tn & 0x0f,
    hops: frag[FRAGMENT_IDX_HOPS]! & FLAGS_HOPS_MASK,
    chunk: frag.subarray(FRAGMENT_IDX_PAYLOAD),
  };
}

/**
 * Cuts an armored packet for sending. A packet that fits is returned as `[pkt]`. Otherwise the head
 * is a view of the first `mtu` bytes and fragments are new arrays carrying ≤ mtu − 16 bytes each,
 * all with hops 0 (`Switch::_sendViaSpecificPath`).
 * @throws {ZtError} BAD_VALUE if the packet needs fragments but FLAG_FRAGMENTED was not set before
 *   armoring, or on a bad MTU; TOO_LONG if it would need more than 7 datagrams.
 */
export function splitPacket(armoredPkt: Uint8Array, mtu: number = DEFAULT_PHYSMTU): Uint8Array[] {
  const total = fragmentCount(armoredPkt.length, mtu);
  if (total === 1) return [armoredPkt];
  if (total > MAX_PACKET_FRAGMENTS) {
    throw new ZtError(ZtErrorCode.TOO_LONG, `packet of ${armoredPkt.length} bytes needs ${total} datagrams at MTU ${mtu}, more than ${MAX_PACKET_FRAGMENTS}`);
  }
  if ((armoredPkt[IDX_FLAGS]! & FLAG_FRAGMENTED) === 0) {
    throw new ZtError(ZtErrorCode.BAD_VALUE, `packet of ${armoredPkt.length} bytes needs fragmenting at MTU ${mtu} but FLAG_FRAGMENTED was not set before armoring`);
  }
  const out: Uint8Array[] = [armoredPkt.subarray(0, mtu)];
  const id = armoredPkt.subarray(0, 8);
  const dest = readU40(armoredPkt, IDX_DEST);
  const per = mtu - FRAGMENT_IDX_PAYLOAD;
  for (let n = 1, pos = mtu; n < total; n++, pos += per) {
    out.push(encodeFragment(id, dest, total, n, armoredPkt.subarray(pos, Math.min(pos + per, armoredPkt.length))));
  }
  return out;
}

/** Reassembler limits; each defaults to 1.14's value. */
export interface ReassemblerLimits {
  /** Packets being reassembled at once (`ZT_RX_QUEUE_SIZE` = 32); the oldest is evicted beyond it. */
  maxInFlight: number;
  /** Milliseconds an incomplete packet is kept (`ZT_RECEIVE_QUEUE_TIMEOUT` = 5000). */
  timeoutMs: number;
  /** Most datagrams per packet, head included (`ZT_MAX_PACKET_FRAGMENTS` = 7). */
  maxFragments: number;
  /** Largest reassembled packet (`ZT_PROTO_MAX_PACKET_LENGTH` = 10024). */
  maxPacketLength: number;
}

export const DEFAULT_REASSEMBLER_LIMITS: Readonly<ReassemblerLimits> = Object.freeze({
  maxInFlight: RX_QUEUE_SIZE,
  timeoutMs: RECEIVE_QUEUE_TIMEOUT,
  maxFragments: MAX_PACKET_FRAGMENTS,
  maxPacketLength: MAX_PACKET_LENGTH,
});

/** Drops the reassembler counted instead of throwing (network noise, not malformed input). */
export interface ReassemblerStats {
  /** A head or fragment number seen twice for the same packet: the copy was ignored. */
  duplicates: number;
  /** Incomplete packets dropped after `timeoutMs`. */
  expired: number;
  /** Incomplete packets dropped to make room (oldest first) when `maxInFlight` were in flight. */
  evicted: number;
  /** Packets reassembled. */
  completed: number;
}

interface Entry {
  created: number;
  dest: number;
  head: Uint8Array | null;
  /** Fragment chunks by number (index 0 unused); copies. */
  chunks: Array<Uint8Array | undefined>;
  /** 0 until a fragment tells us. */
  total: number;
  have: number; // fragments held (not counting the head)
  bytes: number; // head + chunk bytes held
}

/**
 * Reassembles fragmented packets (`Switch::onRemotePacket`'s RX queue). Pure: the caller passes `now`
 * in milliseconds. Whatever it keeps it copies, so callers may reuse their receive buffers.
 *
 * Drops and errors:
 * - duplicates (same head or fragment number again) → counted in `stats.duplicates`, ignored (null);
 * - timed-out / evicted packets → counted, dropped;
 * - a fragment whose own fields are out of range (total not in 2..maxFragments, number not in
 *   1..total−1), whose total or destination disagrees with what this packet id already has, or a
 *   packet that would grow beyond maxPacketLength → `ZtError` BAD_FRAGMENT (TOO_LONG for the
 *   length); a bad fragment is not stored, an over-long packet's entry is dropped.
 */
export class Reassembler {
  readonly limits: Readonly<ReassemblerLimits>;
  readonly stats: ReassemblerStats = { duplicates: 0, expired: 0, evicted: 0, completed: 0 };
  /** Insertion order = creation order, so the first key is the oldest entry. */
  private readonly entries = new Map<bigint, Entry>();

  constructor(limits: Partial<ReassemblerLimits> = {}) {
    const l = { ...DEFAULT_REASSEMBLER_LIMITS, ...limits };
    if (!Number.isInteger(l.maxInFlight) || l.maxInFlight < 1) throw new ZtError(ZtErrorCode.BAD_VALUE, `maxInFlight must be ≥ 1, got ${l.maxInFlight}`);
    if (!Number.isInteger(l.maxFragments) || l.maxFragments < 2 || l.maxFragments > 16) throw new ZtError(ZtErrorCode.BAD_VALUE, `maxFragments must be 2..16, got ${l.maxFragments}`);
    if (!(l.timeoutMs >= 0)) throw new ZtError(ZtErrorCode.BAD_VALUE, `timeoutMs must be ≥ 0, got ${l.timeoutMs}`);
    if (!Number.isInteger(l.maxPacketLength) || l.maxPacketLength < MIN_PACKET_LENGTH) {
      throw new ZtError(ZtErrorCode.BAD_VALUE, `maxPacketLength must be ≥ ${MIN_PACKET_LENGTH}, got ${l.maxPacketLength}`);
    }
    this.limits = Object.freeze(l);
  }

  /** Packets currently being reassembled (never more than `limits.maxInFlight`). */
  get size(): number {
    return this.entries.size;
  }

  /**
   * Offers a datagram that is a packet head. A packet without FLAG_FRAGMENTED is already whole and
   * is returned as is. Returns the reassembled packet when this completes it, else null.
   * @throws {ZtError} TRUNCATED below 28 bytes; TOO_LONG beyond maxPacketLength; BAD_FRAGMENT if it is
   *   a fragment or its destination disagrees with fragments already held.
   */
  offerHead(pkt: Uint8Array, now: number): Uint8Array | null {
    if (pkt.length < MIN_PACKET_LENGTH) throw new ZtError(ZtErrorCode.TRUNCATED, `packet head of ${pkt.length} byte(s) is shorter than ${MIN_PACKET_LENGTH}`);
    if (pkt[FRAGMENT_IDX_INDICATOR] === FRAGMENT_INDICATOR) throw new ZtError(ZtErrorCode.BAD_FRAGMENT, 'offerHead was given a fragment (byte 13 = 0xff)');
    if ((pkt[IDX_FLAGS]! & FLAG_FRAGMENTED) === 0) return pkt;
    if (pkt.length > this.limits.maxPacketLength) {
      throw new ZtError(ZtErrorCode.TOO_LONG, `packet head of ${pkt.length} bytes exceeds maxPacketLength ${this.limits.maxPacketLength}`);
    }
    const id = readU64(pkt, 0);
    const dest = readU40(pkt, IDX_DEST);
    const existing = this.entries.get(id);
    if (existing !== undefined && !this.isStale(existing, now) && existing.dest !== dest) {
      throw new ZtError(ZtErrorCode.BAD_FRAGMENT, `head destination ${dest.toString(16)} differs from its fragments'`);
    }
    const e = this.entryFor(id, dest, now);
    if (e.head !== null) {
      this.stats.duplicates++;
      return null;
    }
    this.checkGrowth(id, e, pkt.length);
    e.head = pkt; // copied below unless it completes the packet now
    e.bytes += pkt.length;
    const whole = this.tryComplete(id, e);
    if (whole === null) e.head = packetCopy(pkt);
    return whole;
  }

  /**
   * Offers a datagram that is a fragment (byte 13 = 0xFF). Returns the reassembled packet when this
   * completes it, else null.
   * @throws {ZtError} TRUNCATED / BAD_FRAGMENT / TOO_LONG as described on the class.
   */
  offerFragment(frag: Uint8Array, now: number): Uint8Array | null {
    const h = decodeFragment(frag);
    if (h.total < 2 || h.total > this.limits.maxFragments) {
      throw new ZtError(ZtErrorCode.BAD_FRAGMENT, `fragment total ${h.total} is outside 2..${this.limits.maxFragments}`);
    }
    if (h.number < 1 || h.number >= h.total) throw new ZtError(ZtErrorCode.BAD_FRAGMENT, `fragment number ${h.number} is outside 1..${h.total - 1}`);
    const existing = this.entries.get(h.packetId);
    if (existing !== undefined && !this.isStale(existing, now)) {
      if (existing.total !== 0 && existing.total !== h.total) {
        throw new ZtError(ZtErrorCode.BAD_FRAGMENT, `fragment says ${h.total} datagrams, earlier ones of packet ${h.packetId.toString(16)} said ${existing.total}`);
      }
      if (existing.dest !== h.dest) throw new ZtError(ZtErrorCode.BAD_FRAGMENT, `fragment destination ${h.dest.toString(16)} differs from its packet's`);
      if (existing.chunks[h.number] !== undefined) {
        this.stats.duplicates++;
        return null;
      }
    }
    const e = this.entryFor(h.packetId, h.dest, now);
    this.checkGrowth(h.packetId, e, h.chunk.length);
    e.total = h.total;
    e.chunks[h.number] = h.chunk; // copied below unless it completes the packet now
    e.have++;
    e.bytes += h.chunk.length;
    const whole = this.tryComplete(h.packetId, e);
    if (whole === null) e.chunks[h.number] = packetCopy(h.chunk);
    return whole;
  }

  /** Drops every incomplete packet older than `timeoutMs`; returns how many were dropped. */
  expire(now: number): number {
    let n = 0;
    for (const [id, e] of this.entries) {
      if (this.isStale(e, now)) {
        this.entries.delete(id);
        n++;
      }
    }
    this.stats.expired += n;
    return n;
  }

  private isStale(e: Entry, now: number): boolean {
    return now - e.created > this.limits.timeoutMs;
  }

  /** The entry for `id`, (re)created if missing or stale; evicts the oldest when full. */
  private entryFor(id: bigint, dest: number, now: number): Entry {
    const old = this.entries.get(id);
    if (old !== undefined) {
      if (!this.isStale(old, now)) return old;
      this.entries.delete(id);
      this.stats.expired++;
    }
    while (this.entries.size >= this.limits.maxInFlight) {
      const oldest = this.entries.keys().next().value as bigint;
      this.entries.delete(oldest);
      this.stats.evicted++;
    }
    const e: Entry = { created: now, dest, head: null, chunks: [], total: 0, have: 0, bytes: 0 };
    this.entries.set(id, e);
    return e;
  }

  private checkGrowth(id: bigint, e: Entry, adding: number): void {
    if (e.bytes + adding > this.limits.maxPacketLength) {
      this.entries.delete(id);
      throw new ZtError(ZtErrorCode.TOO_LONG, `packet ${id.toString(16)} would exceed maxPacketLength ${this.limits.maxPacketLength} when reassembled`);
    }
  }

  private tryComplete(id: bigint, e: Entry): Uint8Array | null {
    if (e.head === null || e.total === 0 || e.have !== e.total - 1) return null;
    this.entries.delete(id);
    const out = packetBytes(e.bytes);
    out.set(e.head, 0);
    let pos = e.head.length;
    for (let n = 1; n < e.total; n++) {
      const c = e.chunks[n]!;
      out.set(c, pos);
      pos += c.length;
    }
    this.stats.completed++;
    return out;
  }
}
