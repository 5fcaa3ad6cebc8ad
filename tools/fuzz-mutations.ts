/**
 * The mutations of `ztroot fuzz` (tools/fuzz.ts): pure functions from captured packets and a seeded PRNG to
 * mutated datagrams and TCP relay records. No I/O, so a run is reproduced exactly by its seed.
 */
import { armor, setHops } from '../vl1/packet.js';
import type { PeerKey } from '../vl1/peer-key.js';
import type { InetAddress } from '../vl1/inet-address.js';
import { encodeTunnelRecord } from '../vl1/tcp-framing.js';

/** A captured packet as the fuzzer uses it. */
export interface Seed {
  wire: Uint8Array;
  /** Decrypted with the pair's key, the pre-armor packet id at 0..7 and hops 0; null when no key is known. */
  plain: Uint8Array | null;
  key: PeerKey | null;
  suite: 0 | 1 | 3;
  hops: number;
  verb: number;
}

/** xorshift32: fast, seedable, good enough to pick mutations. */
export class Rng {
  private s: number;
  constructor(seed: number) {
    this.s = (seed >>> 0) || 0x9e3779b9;
  }
  u32(): number {
    let x = this.s;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.s = x >>> 0;
    return this.s;
  }
  /** 0 ≤ n < max. */
  int(max: number): number {
    return max <= 1 ? 0 : this.u32() % max;
  }
  chance(p: number): boolean {
    return this.u32() / 0x1_0000_0000 < p;
  }
  pick<T>(a: readonly T[]): T {
    return a[this.int(a.length)]!;
  }
  bytes(n: number): Uint8Array {
    const b = new Uint8Array(n);
    for (let i = 0; i < n; i++) b[i] = this.u32() & 0xff;
    return b;
  }
}

const INTERESTING = [0x00, 0x01, 0x7f, 0x80, 0xfe, 0xff];

/** One in-place or resizing mutation of `b` from offset `from` on. */
export function mutate(rng: Rng, b: Uint8Array, from: number, pool: readonly Seed[]): Uint8Array {
  const span = Math.max(1, b.length - from);
  switch (rng.int(8)) {
    case 0: {
      const n = 1 + rng.int(8);
      for (let i = 0; i < n; i++) b[from + rng.int(span)]! ^= 1 << rng.int(8);
      return b;
    }
    case 1:
      b[from + rng.int(span)] = rng.chance(0.5) ? rng.pick(INTERESTING) : rng.u32() & 0xff;
      return b;
    case 2:
      return b.subarray(0, from + rng.int(span)).slice(); // truncated
    case 3: {
      const out = new Uint8Array(b.length + 1 + rng.int(64));
      out.set(b);
      out.set(rng.bytes(out.length - b.length), b.length);
      return out;
    }
    case 4: {
      // A 2-byte field (counts and lengths are 16-bit big-endian) set to an edge value.
      if (b.length < from + 2) return b;
      const at = from + rng.int(span - 1);
      const v = rng.pick([0, 1, 0xff, 0x100, 0x7fff, 0xffff, b.length - at, b.length - at + 1, rng.u32() & 0xffff]);
      b[at] = (v >> 8) & 0xff;
      b[at + 1] = v & 0xff;
      return b;
    }
    case 5: {
      // Splice: this packet's head, another's tail.
      const other = rng.pick(pool);
      const src = other.plain ?? other.wire;
      const cut = from + rng.int(span);
      const otherCut = rng.int(src.length);
      const out = new Uint8Array(cut + src.length - otherCut);
      out.set(b.subarray(0, cut));
      out.set(src.subarray(otherCut), cut);
      return out;
    }
    case 6:
      // A run of bytes overwritten.
      for (let i = from + rng.int(span), n = 1 + rng.int(16); i < b.length && n > 0; i++, n--) b[i] = rng.u32() & 0xff;
      return b;
    default: {
      // A byte removed or inserted (shifts every later field).
      const at = from + rng.int(span);
      if (rng.chance(0.5) && b.length > from + 1) return new Uint8Array([...b.subarray(0, at), ...b.subarray(at + 1)]);
      return new Uint8Array([...b.subarray(0, at), rng.u32() & 0xff, ...b.subarray(at)]);
    }
  }
}

export type Kind = 'authentic' | 'authentic_verb' | 'hops' | 'raw' | 'raw_header' | 'random';

/** One mutated datagram from the seeds, and what kind of mutation it is. */
export function makeDatagram(rng: Rng, seeds: readonly Seed[], authentic: readonly Seed[], rootAddress: number): { d: Uint8Array; kind: Kind } {
  const r = rng.int(100);
  if (r < 30 && authentic.length > 0) {
    // Behind the MAC: mutate the plaintext verb and payload, re-armor with the pair's key.
    const s = rng.pick(authentic);
    let p: Uint8Array = s.plain!.slice();
    const verbOnly = rng.chance(0.15);
    if (verbOnly) p[27] = rng.chance(0.5) ? (rng.u32() & 0x1f) | (rng.chance(0.2) ? 0x80 : 0) : p[27]! ^ 0x80;
    else for (let n = 1 + rng.int(3); n > 0; n--) p = mutate(rng, p, 27, authentic);
    if (p.length < 28) return { d: p, kind: 'authentic' };
    setHops(p, rng.chance(0.8) ? 0 : rng.int(8));
    try {
      armor(p, s.key!, s.suite);
    } catch {
      // too long to armor: sent as it is
    }
    return { d: p, kind: verbOnly ? 'authentic_verb' : 'authentic' };
  }
  if (r < 40 && authentic.length > 0) {
    // The captured bytes with other hop bits (the MAC does not cover them).
    const d = rng.pick(authentic).wire.slice();
    d[18] = (d[18]! & 0xf8) | rng.int(8);
    return { d, kind: 'hops' };
  }
  if (r < 90) {
    const s = rng.pick(seeds);
    let d: Uint8Array = s.wire.slice();
    if (r < 65 || d.length < 28) {
      for (let n = 1 + rng.int(3); n > 0; n--) d = mutate(rng, d, 0, seeds);
      return { d, kind: 'raw' };
    }
    // The header: flags (suite, hops, fragmented, extended armor), verb, destination, the fragment marker.
    switch (rng.int(5)) {
      case 0:
        d[18] = rng.u32() & 0xff;
        break;
      case 1:
        d[27] = rng.u32() & 0xff;
        break;
      case 2:
        d.set([Math.floor(rootAddress / 2 ** 32) & 0xff, (rootAddress >>> 24) & 0xff, (rootAddress >>> 16) & 0xff, (rootAddress >>> 8) & 0xff, rootAddress & 0xff], 8);
        break;
      case 3:
        d[13] = 0xff; // a fragment: byte 14 number/total, 15 hops
        d[14] = rng.u32() & 0xff;
        d[15] = rng.u32() & 0xff;
        break;
      default:
        d[18] = (d[18]! & 0xc7) | (rng.int(8) << 3);
        break;
    }
    return { d, kind: 'raw_header' };
  }
  return { d: rng.bytes(rng.int(100) < 20 ? rng.int(17) : rng.int(1500)), kind: 'random' };
}

/**
 * One TCP relay record (or a piece of framing junk) for a tunnel. `speaker`: the authentic seeds of the one
 * ZeroTier address this tunnel speaks for (a tunnel carries only its own node's packets; others are dropped
 * as source_mismatch before they reach the root), so most records get past the relay into the root.
 * `risky`: the record may make the root close the connection (a mutated body or framing), so the caller
 * writes it last on that connection rather than wasting the records after it.
 */
export function makeRecord(rng: Rng, seeds: readonly Seed[], speaker: readonly Seed[], tcpBodies: readonly Uint8Array[], rootAddress: number): { rec: Uint8Array; risky: boolean } {
  const r = rng.int(100);
  const dest = (): InetAddress | null =>
    rng.pick<InetAddress | null>([{ family: 4, ip: '127.0.0.1', port: 1025 + rng.int(60000) }, { family: 6, ip: '::1', port: 9993 }, null, { family: 4, ip: '127.0.0.1', port: rng.int(1025) }]);
  if (r < 88) return { rec: encodeTunnelRecord(makeDatagram(rng, speaker, speaker, rootAddress).d.subarray(0, 0xffff - 19), dest()), risky: false };
  if (r < 95 && tcpBodies.length > 0) {
    let body: Uint8Array = rng.pick(tcpBodies).slice();
    for (let n = 1 + rng.int(2); n > 0; n--) body = mutate(rng, body, 0, seeds);
    body = body.subarray(0, 0xffff);
    const rec = new Uint8Array(5 + body.length);
    rec.set([0x17, 0x03, 0x03, body.length >> 8, body.length & 0xff]);
    rec.set(body, 5);
    return { rec, risky: true };
  }
  // Framing: a record with a wrong type or length field, a truncated record, junk.
  const rec = encodeTunnelRecord(makeDatagram(rng, speaker, speaker, rootAddress).d.subarray(0, 1400), dest());
  switch (rng.int(4)) {
    case 0:
      rec[0] = rng.u32() & 0xff;
      return { rec, risky: true };
    case 1: {
      const v = rng.pick([0, 1, 3, 4, 5, 0xffff, rec.length - 5 + 1, rng.u32() & 0xffff]);
      rec[3] = v >> 8;
      rec[4] = v & 0xff;
      return { rec, risky: true };
    }
    case 2:
      return { rec: rec.subarray(0, rng.int(rec.length)), risky: true };
    default:
      return { rec: rng.bytes(1 + rng.int(64)), risky: true };
  }
}
