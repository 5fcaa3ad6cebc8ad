/**
 * Packet crypto benchmark: armor + dearmor round trips per second for suite 1 (Salsa20/12 +
 * Poly1305, pure JS) and suite 3 (AES-GMAC-SIV on node:crypto) at 100 and 1400 bytes, each beside
 * node:crypto `aes-256-gcm` encrypt + decrypt of the same size with `createCipheriv` per packet (what a
 * one-shot AEAD costs in Node) measured in the same run. A last table backs the choice made in
 * `vl1/aes-gmac-siv.ts`: CTR keystream from ECB-encrypted counter blocks vs `aes-256-ctr` per packet.
 * ZTROOT_BENCH_MS sets the time per measurement.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { AesGmacSiv } from '../../vl1/aes-gmac-siv.js';
import { armor, buildPacket, dearmor, type ArmorSuite } from '../../vl1/packet.js';
import { PeerKey } from '../../vl1/peer-key.js';
import { measure, report, type Measurement } from './harness.js';

const SIZES = [100, 1400] as const;
const BATCH = 64;

function armorRoundTrip(size: number, suite: ArmorSuite, key: PeerKey, ms: number): Measurement {
  const template = buildPacket({ dest: 0x0f7b349d9f, source: 0xf38b69a8b4, verb: 6, payload: new Uint8Array(randomBytes(size - 28)) });
  const work = new Uint8Array(size);
  return measure(`suite ${suite} armor+dearmor ${size} B`, () => {
    for (let i = 0; i < BATCH; i++) {
      work.set(template);
      armor(work, key, suite);
      dearmor(work, key);
    }
  }, { ms, batch: BATCH, bytesPerOp: size });
}

function gcmRoundTrip(size: number, ms: number): Measurement {
  const key = randomBytes(32);
  const iv = randomBytes(12);
  const aad = randomBytes(11);
  const pt = randomBytes(size - 27);
  return measure(`aes-256-gcm enc+dec ${size} B`, () => {
    for (let i = 0; i < BATCH; i++) {
      const c = createCipheriv('aes-256-gcm', key, iv);
      c.setAAD(aad);
      const ct = c.update(pt);
      c.final();
      const tag = c.getAuthTag();
      const d = createDecipheriv('aes-256-gcm', key, iv);
      d.setAAD(aad);
      d.setAuthTag(tag);
      d.update(ct);
      d.final();
    }
  }, { ms, batch: BATCH, bytesPerOp: size });
}

/** The same SIV with `createCipheriv('aes-256-ctr')` per message: the alternative we measured against. */
function sivWithCtrCipher(k0: Uint8Array, k1: Uint8Array) {
  const ecb = createCipheriv('aes-256-ecb', k1, null);
  ecb.setAutoPadding(false);
  const siv = new AesGmacSiv(k0, k1);
  const blk = new Uint8Array(16);
  return (iv: Uint8Array, aad: Uint8Array, data: Uint8Array, tagOut: Uint8Array): void => {
    const g = siv.gmac(iv, aad, data);
    blk.set(iv, 0);
    for (let i = 0; i < 8; i++) blk[8 + i] = g[i]! ^ g[8 + i]!;
    const t = ecb.update(blk);
    tagOut.set(t);
    const ctr = Buffer.from(t);
    ctr[12] = ctr[12]! & 0x7f;
    data.set(createCipheriv('aes-256-ctr', k1, ctr).update(data));
  };
}

/**
 * Runs each measurement `rounds` times, alternating between them, and keeps each one's best round:
 * on a shared box a single window swings by ±40 %, and alternating exposes ours and the reference
 * to the same load.
 */
function interleaved(makers: Array<(roundMs: number) => Measurement>, ms: number, rounds = 3): Measurement[] {
  const roundMs = Math.max(50, Math.floor(ms / rounds));
  const best: Array<Measurement | null> = makers.map(() => null);
  for (let r = 0; r < rounds; r++) {
    makers.forEach((make, i) => {
      const m = make(roundMs);
      const b = best[i];
      if (b === null || b === undefined || m.opsPerSec > b.opsPerSec) best[i] = m;
    });
  }
  return best as Measurement[];
}

export async function run(): Promise<void> {
  const ms = Number(process.env.ZTROOT_BENCH_MS ?? 1000);
  const key = new PeerKey(new Uint8Array(randomBytes(48)));

  const rows: Array<{ ours: Measurement; reference: Measurement }> = [];
  for (const size of SIZES) {
    const [ref, s1, s3] = interleaved([
      (t) => gcmRoundTrip(size, t),
      (t) => armorRoundTrip(size, 1, key, t),
      (t) => armorRoundTrip(size, 3, key, t),
    ], ms) as [Measurement, Measurement, Measurement];
    rows.push({ ours: s1, reference: ref }, { ours: s3, reference: ref });
  }
  report('crypto: packet armor + dearmor (one core, best of 3 interleaved rounds)', rows);

  const ctrRows: Array<{ ours: Measurement; reference: Measurement }> = [];
  for (const size of SIZES) {
    const data = new Uint8Array(size + 27).subarray(27); // packet payload alignment
    const iv = new Uint8Array(8), aad = new Uint8Array(16), tag = new Uint8Array(16);
    const alt = sivWithCtrCipher(key.k0, key.k1);
    const [ours, reference] = interleaved([
      (t) => measure(`SIV encrypt, ECB counter blocks ${size} B`, () => {
        for (let i = 0; i < BATCH; i++) key.siv.encryptInPlace(iv, aad, data, tag);
      }, { ms: t, batch: BATCH, bytesPerOp: size }),
      (t) => measure(`SIV encrypt, aes-256-ctr cipher ${size} B`, () => {
        for (let i = 0; i < BATCH; i++) alt(iv, aad, data, tag);
      }, { ms: t, batch: BATCH, bytesPerOp: size }),
    ], ms, 5) as [Measurement, Measurement];
    ctrRows.push({ ours, reference });
  }
  report('crypto: AES-GMAC-SIV CTR keystream strategy (best of 5 interleaved rounds)', ctrRows);
}
