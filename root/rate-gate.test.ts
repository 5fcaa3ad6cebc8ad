import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { IDENTITY_VALIDATION_SOURCE_INTERVAL_MS, RateGate, sourcePrefixKey } from './rate-gate.js';
import { isZtError, ZtErrorCode } from '../vl1/errors.js';
import { formatIpv4, formatIpv6 } from '../vl1/inet-address.js';

test('minimum interval: one event per interval per key, keys independent, numbers and strings distinct', () => {
  const g = new RateGate({ intervalMs: IDENTITY_VALIDATION_SOURCE_INTERVAL_MS });
  assert.equal(g.allow('1.2.3.0/24', 0), true);
  assert.equal(g.allow('1.2.3.0/24', 1), false);
  assert.equal(g.allow('1.2.3.0/24', 1999), false);
  assert.equal(g.allow('5.6.7.0/24', 1999), true); // another key is not affected
  assert.equal(g.allow('1.2.3.0/24', 2000), true);
  assert.equal(g.allow('1.2.3.0/24', 3999), false);
  assert.equal(g.allow('1.2.3.0/24', 4000), true);
  assert.equal(g.allow(42, 0), true);
  assert.equal(g.allow('42', 0), true);
  assert.equal(g.allow(42, 10), false);
  assert.equal(g.denied, 4);
  // Idle for long: still only one event (burst 1), not a backlog of saved-up ones.
  assert.equal(g.allow('1.2.3.0/24', 100_000), true);
  assert.equal(g.allow('1.2.3.0/24', 100_001), false);
});

test('burst: N back to back, then one per interval; a backwards clock grants nothing extra', () => {
  const g = new RateGate({ intervalMs: 100, burst: 3 });
  assert.deepEqual([0, 0, 0, 0].map((t) => g.allow('k', t)), [true, true, true, false]);
  assert.equal(g.allow('k', 99), false);
  assert.equal(g.allow('k', 100), true);
  assert.equal(g.allow('k', 100), false);
  assert.equal(g.allow('k', -5000), false); // clock stepped back: the stored time must still be reached
  assert.deepEqual([1000, 1000, 1000, 1000].map((t) => g.allow('k', t)), [true, true, true, false]);
});

/** Unbounded reference of the same rule, written the obvious way (tokens refilled continuously). */
class ReferenceGate {
  private readonly s = new Map<string, { tokens: number; at: number }>();
  constructor(private readonly interval: number, private readonly burst: number) {}
  allow(k: string, now: number): boolean {
    const e = this.s.get(k) ?? { tokens: this.burst, at: now };
    const tokens = Math.min(this.burst, e.tokens + Math.max(0, now - e.at) / this.interval);
    const at = Math.max(e.at, now);
    if (tokens >= 1 - 1e-9) {
      this.s.set(k, { tokens: tokens - 1, at });
      return true;
    }
    this.s.set(k, { tokens, at });
    return false;
  }
}

test('matches an unbounded token-bucket reference; with few keys allowed it is never stricter and stays bounded', () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 4 }),
      fc.integer({ min: 1, max: 50 }),
      fc.array(fc.tuple(fc.integer({ min: 0, max: 9 }), fc.integer({ min: 0, max: 40 })), { maxLength: 300 }),
      (burst, interval, ops) => {
        const big = new RateGate({ intervalMs: interval, burst, maxKeys: 1000 });
        const small = new RateGate({ intervalMs: interval, burst, maxKeys: 3 });
        const ref = new ReferenceGate(interval, burst);
        let now = 0;
        for (const [k, dt] of ops) {
          now += dt;
          const key = `k${k}`;
          const r = ref.allow(key, now);
          assert.equal(big.allow(key, now), r, `key ${key} at ${now}`);
          const s = small.allow(key, now);
          // Eviction forgets a key's history, which can only grant an event, never refuse one.
          if (r) assert.equal(s, true, `bounded gate refused ${key} at ${now}`);
          assert.ok(small.size <= 3);
        }
      },
    ),
    { seed: 0x7a7, numRuns: 300 },
  );
});

test('key count stays at maxKeys under a flood of new keys; evicts the least recently allowed first', () => {
  const g = new RateGate({ intervalMs: 1000, maxKeys: 100 });
  assert.equal(g.allow('victim', 0), true);
  for (let i = 0; i < 99; i++) g.allow(`other${i}`, 1);
  assert.equal(g.size, 100);
  assert.equal(g.allow('victim', 2), false); // still remembered: the map is full but not yet over
  for (let i = 0; i < 10_000; i++) g.allow(`flood${i}`, 3);
  assert.equal(g.size, 100);
  assert.equal(g.evictions, 10_000); // every eviction dropped a live key (all within their interval)
  assert.equal(g.allow('victim', 4), true); // evicted, so it starts fresh
  // Expired keys are dropped by sweep() and do not count as evictions.
  assert.equal(g.sweep(10_000), 100);
  assert.equal(g.size, 0);
  const before = g.evictions;
  for (let i = 0; i < 150; i++) g.allow(i, 20_000 + i * 1000); // each key expires before the next arrives
  assert.equal(g.evictions, before);
});

test('bad options are BAD_CONFIG ZtErrors naming the option', () => {
  const bad: Array<[unknown, string]> = [
    [{ intervalMs: 0 }, 'intervalMs'],
    [{ intervalMs: -1 }, 'intervalMs'],
    [{ intervalMs: Number.NaN }, 'intervalMs'],
    [{ intervalMs: Infinity }, 'intervalMs'],
    [{ intervalMs: '5' }, 'intervalMs'],
    [{ intervalMs: 5, burst: 0 }, 'burst'],
    [{ intervalMs: 5, burst: 1.5 }, 'burst'],
    [{ intervalMs: 5, maxKeys: 0 }, 'maxKeys'],
  ];
  for (const [o, name] of bad) {
    assert.throws(
      () => new RateGate(o as never),
      (e) => isZtError(e, ZtErrorCode.BAD_CONFIG) && e.message.includes(name),
      JSON.stringify(o),
    );
  }
});

test('sourcePrefixKey: IPv4 /24, IPv4-mapped IPv6 as IPv4, IPv6 /48, zone ids ignored', () => {
  assert.equal(sourcePrefixKey('1.2.3.4'), '1.2.3.0/24');
  assert.equal(sourcePrefixKey('1.2.3.250'), '1.2.3.0/24');
  assert.notEqual(sourcePrefixKey('1.2.4.4'), sourcePrefixKey('1.2.3.4'));
  assert.equal(sourcePrefixKey('::ffff:1.2.3.4'), '1.2.3.0/24');
  assert.equal(sourcePrefixKey('::FFFF:102:3ff'), '1.2.3.0/24');
  assert.equal(sourcePrefixKey('0:0:0:0:0:ffff:0102:0304'), '1.2.3.0/24');
  assert.equal(sourcePrefixKey('2001:db8:1:2::1'), '2001:db8:1::/48');
  assert.equal(sourcePrefixKey('2001:0DB8:0001:ffff:ffff:ffff:ffff:ffff'), '2001:db8:1::/48');
  assert.equal(sourcePrefixKey('2001:db8::1'), '2001:db8::/48');
  assert.equal(sourcePrefixKey('2605:9880:400:c3:254:f2bc:a1f7:19'), '2605:9880:400::/48');
  assert.equal(sourcePrefixKey('fe80::1%eth0'), 'fe80::/48');
  assert.equal(sourcePrefixKey('::1'), '::/48');
  assert.equal(sourcePrefixKey('::'), '::/48');
  // ::ffff:0:0/96 only; other IPv4-looking IPv6 forms are plain IPv6.
  assert.equal(sourcePrefixKey('::1.2.3.4'), '::/48');
  assert.equal(sourcePrefixKey('64:ff9b::1.2.3.4'), '64:ff9b::/48');
});

test('sourcePrefixKey: bad text is a BAD_FORMAT ZtError naming it; any string gives a key or that error', () => {
  for (const s of ['', '1.2.3', '1.2.3.4.5', '256.1.1.1', '1.2.3.4/24', '1.2.3.4:9993', 'abc', '::g', '1::2::3', 'x'.repeat(500)]) {
    assert.throws(() => sourcePrefixKey(s), (e) => isZtError(e, ZtErrorCode.BAD_FORMAT) && e.message.includes(s.slice(0, 20)), s);
  }
  assert.throws(() => sourcePrefixKey(7 as never), (e) => isZtError(e, ZtErrorCode.BAD_FORMAT));
  fc.assert(
    fc.property(fc.oneof(fc.string({ maxLength: 60 }), fc.stringMatching(/^[0-9a-fA-F:.%]{0,45}$/)), (s) => {
      try {
        assert.match(sourcePrefixKey(s), /\/(24|48)$/);
      } catch (e) {
        if (!isZtError(e, ZtErrorCode.BAD_FORMAT)) assert.fail(`expected ZtError, got ${String(e)}`);
      }
    }),
    { seed: 0x5eed, numRuns: 2000 },
  );
});

test('sourcePrefixKey: two addresses share a key exactly when their /24 or /48 is equal', () => {
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 4, maxLength: 4 }), fc.uint8Array({ minLength: 4, maxLength: 4 }), (a, b) => {
      const ka = sourcePrefixKey(formatIpv4(a));
      assert.equal(ka, `${a[0]}.${a[1]}.${a[2]}.0/24`);
      assert.equal(ka === sourcePrefixKey(formatIpv4(b)), a[0] === b[0] && a[1] === b[1] && a[2] === b[2]);
    }),
    { seed: 24, numRuns: 500 },
  );
  const v6 = fc.uint8Array({ minLength: 16, maxLength: 16 }).filter((b) => !(b.subarray(0, 10).every((x) => x === 0) && b[10] === 0xff && b[11] === 0xff));
  fc.assert(
    fc.property(v6, v6, fc.boolean(), (a, b, samePrefix) => {
      if (samePrefix) b.set(a.subarray(0, 6));
      const ka = sourcePrefixKey(formatIpv6(a));
      const kb = sourcePrefixKey(formatIpv6(b));
      const same = a.subarray(0, 6).every((x, i) => x === b[i]);
      assert.equal(ka === kb, same, `${formatIpv6(a)} vs ${formatIpv6(b)}`);
      assert.ok(ka.endsWith('/48'));
    }),
    { seed: 48, numRuns: 500 },
  );
});
