import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  decodeFragment,
  DEFAULT_REASSEMBLER_LIMITS,
  encodeFragment,
  fragmentCount,
  needsFragmentation,
  Reassembler,
  splitPacket,
} from './fragment.js';
import { buildPacket, dearmor, getHops, isFragment, openPacket, sealPacket, setHops } from './packet.js';
import { PeerKey } from './peer-key.js';
import { isZtError } from './errors.js';

const KEY = new PeerKey(new Uint8Array(48).map((_, i) => i * 5 + 1));

function code(fn: () => unknown): string | null {
  try {
    fn();
    return null;
  } catch (e) {
    if (!isZtError(e)) throw e;
    return e.code;
  }
}

function payload(n: number, seed = 1): Uint8Array {
  const p = new Uint8Array(n);
  let x = seed;
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    p[i] = x >>> 24;
  }
  return p;
}

test('limits default to 1.14 values', () => {
  assert.deepEqual({ ...DEFAULT_REASSEMBLER_LIMITS }, { maxInFlight: 32, timeoutMs: 5000, maxFragments: 7, maxPacketLength: 10024 });
});

test('fragmentCount / needsFragmentation: head carries mtu bytes, fragments mtu − 16', () => {
  assert.equal(fragmentCount(1432), 1);
  assert.equal(fragmentCount(1433), 2);
  assert.equal(fragmentCount(1432 + 1416), 2);
  assert.equal(fragmentCount(1432 + 1416 + 1), 3);
  assert.equal(fragmentCount(1432 + 6 * 1416), 7);
  assert.equal(needsFragmentation(100, 1432), false);
  assert.equal(needsFragmentation(1500, 1432), true);
  assert.equal(code(() => fragmentCount(100, 27)), 'ZT_ERR_BAD_VALUE');
  assert.equal(code(() => fragmentCount(100, 1.5)), 'ZT_ERR_BAD_VALUE');
});

test('splitPacket: layout of head and fragments; order rule enforced', () => {
  const sealed = sealPacket({ dest: 0x0f7b349d9f, source: 0xf38b69a8b4, verb: 6, payload: payload(3000) }, KEY, 3, { compress: false, mtu: 1432 });
  const parts = splitPacket(sealed, 1432);
  assert.equal(parts.length, 3);
  assert.deepEqual(parts[0], sealed.subarray(0, 1432));
  assert.equal(parts[1]!.length, 16 + 1416);
  assert.equal(parts[2]!.length, 16 + (sealed.length - 1432 - 1416));
  for (let n = 1; n < 3; n++) {
    const f = parts[n]!;
    assert.ok(isFragment(f));
    assert.deepEqual(f.subarray(0, 13), sealed.subarray(0, 13), 'id and dest copied from the armored head');
    assert.equal(f[13], 0xff);
    assert.equal(f[14], (3 << 4) | n);
    assert.equal(f[15], 0);
    const h = decodeFragment(f);
    assert.deepEqual([h.total, h.number, h.hops, h.dest], [3, n, 0, 0x0f7b349d9f]);
  }
  // a small packet is passed through untouched
  const small = sealPacket({ dest: 1, source: 2, verb: 8 }, KEY, 1, { mtu: 1432 });
  assert.deepEqual(splitPacket(small), [small]);
  // fragmenting without having set the flag before armoring is refused
  const noFlag = sealPacket({ dest: 1, source: 2, verb: 6, payload: payload(3000) }, KEY, 1, { compress: false });
  assert.equal(code(() => splitPacket(noFlag, 1432)), 'ZT_ERR_BAD_VALUE');
  // more than 7 datagrams is refused
  const huge = buildPacket({ dest: 1, source: 2, verb: 6, payload: payload(600), flags: 0x40 });
  assert.equal(code(() => splitPacket(huge, 100)), 'ZT_ERR_TOO_LONG');
});

test('encode/decode fragment round trip and decode errors', () => {
  const id = new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]);
  const f = encodeFragment(id, 0xaabbccddee, 5, 4, new Uint8Array([9, 9]), 2);
  const h = decodeFragment(f);
  assert.equal(h.packetId, 0x0102030405060708n);
  assert.deepEqual([h.dest, h.total, h.number, h.hops, [...h.chunk]], [0xaabbccddee, 5, 4, 2, [9, 9]]);
  assert.equal(code(() => decodeFragment(new Uint8Array(15))), 'ZT_ERR_TRUNCATED');
  assert.equal(code(() => decodeFragment(new Uint8Array(16))), 'ZT_ERR_BAD_FRAGMENT');
  assert.equal(code(() => encodeFragment(id, 1, 16, 1, new Uint8Array(0))), 'ZT_ERR_BAD_VALUE');
  const g = f.slice();
  g[15] = 0xfa; // upper bits ignored
  assert.equal(decodeFragment(g).hops, 2);
});

test('reassembly: fragments before the head, hops on fragments, relayed copies, result dearmors', () => {
  const data = payload(5000, 3);
  const sealed = sealPacket({ dest: 7, source: 8, verb: 6, payload: data }, KEY, 1, { compress: false, mtu: 1432 });
  const parts = splitPacket(sealed, 1432);
  const r = new Reassembler();
  for (let n = parts.length - 1; n >= 1; n--) {
    const f = parts[n]!.slice();
    setHops(f, 2); // a relay touched it
    assert.equal(getHops(f), 2);
    assert.equal(r.offerFragment(f, 1000), null);
  }
  assert.equal(r.size, 1);
  const head = parts[0]!.slice();
  setHops(head, 1);
  const whole = r.offerHead(head, 1001);
  assert.ok(whole);
  assert.equal(r.size, 0);
  assert.equal(whole.length, sealed.length);
  const opened = openPacket(whole, KEY);
  assert.deepEqual(opened.payload, data);
  assert.equal(r.stats.completed, 1);
});

test('duplicates are counted and ignored; input buffers may be reused after offering', () => {
  const sealed = sealPacket({ dest: 7, source: 8, verb: 6, payload: payload(2000) }, KEY, 3, { compress: false, mtu: 1432 });
  const [head, frag] = splitPacket(sealed, 1432) as [Uint8Array, Uint8Array];
  const r = new Reassembler();
  const h = head.slice();
  assert.equal(r.offerHead(h, 0), null);
  h.fill(0); // the caller reuses its receive buffer
  assert.equal(r.offerHead(head.slice(), 1), null);
  assert.equal(r.stats.duplicates, 1);
  const out = r.offerFragment(frag.slice(), 2);
  assert.ok(out);
  dearmor(out, KEY);
  // a late duplicate fragment starts a new (never completing) entry rather than resurrecting the packet
  assert.equal(r.offerFragment(frag.slice(), 3), null);
  assert.equal(r.size, 1);
});

test('out-of-range and inconsistent fragments are BAD_FRAGMENT and not stored', () => {
  const r = new Reassembler();
  const id = new Uint8Array(8).fill(1);
  const chunk = new Uint8Array(10);
  assert.equal(code(() => r.offerFragment(encodeFragment(id, 1, 1, 0, chunk), 0)), 'ZT_ERR_BAD_FRAGMENT');
  assert.equal(code(() => r.offerFragment(encodeFragment(id, 1, 8, 1, chunk), 0)), 'ZT_ERR_BAD_FRAGMENT');
  assert.equal(code(() => r.offerFragment(encodeFragment(id, 1, 3, 0, chunk), 0)), 'ZT_ERR_BAD_FRAGMENT');
  assert.equal(code(() => r.offerFragment(encodeFragment(id, 1, 3, 3, chunk), 0)), 'ZT_ERR_BAD_FRAGMENT');
  assert.equal(r.size, 0);
  assert.equal(r.offerFragment(encodeFragment(id, 1, 3, 1, chunk), 0), null);
  assert.equal(code(() => r.offerFragment(encodeFragment(id, 1, 4, 2, chunk), 0)), 'ZT_ERR_BAD_FRAGMENT');
  assert.equal(code(() => r.offerFragment(encodeFragment(id, 2, 3, 2, chunk), 0)), 'ZT_ERR_BAD_FRAGMENT');
  const head = buildPacket({ packetId: id, dest: 3, source: 4, verb: 6, flags: 0x40 });
  assert.equal(code(() => r.offerHead(head, 0)), 'ZT_ERR_BAD_FRAGMENT');
  assert.equal(code(() => r.offerHead(new Uint8Array(27), 0)), 'ZT_ERR_TRUNCATED');
  assert.equal(code(() => r.offerHead(encodeFragment(id, 1, 3, 1, new Uint8Array(20)), 0)), 'ZT_ERR_BAD_FRAGMENT');
  assert.equal(r.size, 1);
  // a whole (unfragmented) packet passes straight through
  const whole = buildPacket({ dest: 3, source: 4, verb: 8 });
  assert.equal(r.offerHead(whole, 0), whole);
});

test('a packet growing past maxPacketLength is TOO_LONG and dropped', () => {
  const r = new Reassembler({ maxPacketLength: 100 });
  const id = new Uint8Array(8).fill(2);
  assert.equal(r.offerFragment(encodeFragment(id, 1, 3, 1, new Uint8Array(60)), 0), null);
  assert.equal(code(() => r.offerFragment(encodeFragment(id, 1, 3, 2, new Uint8Array(60)), 0)), 'ZT_ERR_TOO_LONG');
  assert.equal(r.size, 0);
});

test('at most maxInFlight packets; the oldest is evicted; entries expire after timeoutMs', () => {
  const r = new Reassembler();
  for (let i = 0; i < 40; i++) {
    const id = new Uint8Array(8);
    id[7] = i;
    r.offerFragment(encodeFragment(id, 1, 2, 1, new Uint8Array(4)), i);
    assert.ok(r.size <= 32);
  }
  assert.equal(r.size, 32);
  assert.equal(r.stats.evicted, 8);
  // the oldest (ids 0..7) went; their heads now start fresh entries instead of completing
  const head0 = buildPacket({ packetId: new Uint8Array(8), dest: 1, source: 2, verb: 6, flags: 0x40 });
  assert.equal(r.offerHead(head0, 100), null);
  const id39 = new Uint8Array(8);
  id39[7] = 39;
  const head39 = buildPacket({ packetId: id39, dest: 1, source: 2, verb: 6, flags: 0x40 });
  assert.ok(r.offerHead(head39, 100));
  assert.equal(r.expire(5000), 0);
  assert.equal(r.expire(5039), 30, 'created at t=8..38 → older than 5000 ms at t=5039');
  assert.equal(r.size, 1);
  assert.equal(r.expire(5101), 1);
  assert.equal(r.size, 0);
  // a stale partial entry is not completed by a late datagram
  const id = new Uint8Array(8).fill(9);
  r.offerFragment(encodeFragment(id, 1, 2, 1, new Uint8Array(4)), 0);
  assert.equal(r.offerHead(buildPacket({ packetId: id, dest: 1, source: 2, verb: 6, flags: 0x40 }), 6000), null);
  assert.equal(r.stats.expired, 32);
});

test('property: split ∘ reassemble is the identity in any arrival order, with duplicates', () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 29, max: 1500 }).chain((mtu) =>
        fc.record({
          mtu: fc.constant(mtu),
          len: fc.integer({ min: 0, max: Math.min(10024, mtu + 6 * (mtu - 16)) - 28 }),
          suite: fc.constantFrom<0 | 1 | 3>(0, 1, 3),
          order: fc.array(fc.nat(), { minLength: 7, maxLength: 7 }),
          dups: fc.array(fc.nat(6), { maxLength: 3 }),
        }),
      ),
      ({ mtu, len, suite, order, dups }) => {
        const data = payload(len, len + 1);
        const sealed = sealPacket({ dest: 0x1122334455, source: 0x0102030405, verb: 6, payload: data }, KEY, suite, { compress: false, mtu });
        const parts = splitPacket(sealed, mtu);
        const idx = parts.map((_, i) => i).sort((a, b) => (order[a]! - order[b]!) || a - b);
        const seq = [...idx, ...dups.filter((d) => d < parts.length)];
        const r = new Reassembler();
        let result: Uint8Array | null = null;
        let t = 0;
        for (const i of seq) {
          const d = parts[i]!.slice();
          const out = i === 0 ? r.offerHead(d, t++) : r.offerFragment(d, t++);
          if (out) {
            // an unfragmented packet passes through every time it is offered; a fragmented one completes once
            if (parts.length > 1) assert.equal(result, null, 'completed once');
            result = out;
          }
        }
        assert.ok(result);
        assert.deepEqual(result, sealed);
        assert.deepEqual(openPacket(result, KEY).payload, data);
      },
    ),
    { numRuns: 150, seed: 21 },
  );
});

test('property: garbage datagrams give only ZtError or null, and the reassembler stays within its limit', () => {
  const datagram = fc.record({
    id: fc.integer({ min: 0, max: 40 }),
    tn: fc.integer({ min: 0, max: 255 }),
    frag: fc.boolean(),
    flags: fc.integer({ min: 0, max: 255 }),
    body: fc.uint8Array({ maxLength: 400 }),
    dt: fc.integer({ min: 0, max: 800 }),
  });
  fc.assert(
    fc.property(fc.array(datagram, { maxLength: 120 }), (ds) => {
      const r = new Reassembler();
      let now = 0;
      for (const d of ds) {
        now += d.dt;
        const b = new Uint8Array(28 + d.body.length);
        b[7] = d.id;
        b.set(d.body, 28);
        if (d.frag) {
          b[13] = 0xff;
          b[14] = d.tn;
        } else {
          b[18] = d.flags;
        }
        try {
          const out = d.frag ? r.offerFragment(b.subarray(0, 16 + d.body.length), now) : r.offerHead(b, now);
          if (out !== null) assert.ok(out.length <= 10024);
        } catch (e) {
          assert.ok(isZtError(e), `not a ZtError: ${String(e)}`);
        }
        assert.ok(r.size <= 32);
        if (d.dt > 700) r.expire(now);
      }
    }),
    { numRuns: 200, seed: 22 },
  );
});
