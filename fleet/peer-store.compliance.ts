/**
 * The one test suite every {@link PeerStore} passes (STYLE.md §7; libp2p's interface-compliance-tests): the
 * in-memory store, standalone Redis and a Redis Cluster run exactly these cases. Call it inside a `describe`.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, it } from 'node:test';
import fc from 'fast-check';
import { isZtError, ZtErrorCode } from '../vl1/errors.js';
import { Identity } from '../vl1/identity.js';
import type { InetAddress } from '../vl1/inet-address.js';
import { MAX_ENDPOINTS } from './peer-store.js';
import type { PeerStore } from './peer-store.js';

/** Raw garbage a harness can plant under a store's keys (backends with untyped storage only). */
export type GarbageKind = 'identity-bytes' | 'identity-other-address' | 'identity-type' | 'location-field' | 'location-type' | 'roots-field';

export interface StoreUnderTest {
  store: PeerStore;
  /** Writes garbage where the store keeps `address`'s records (or the roots); absent for typed backends. */
  plant?: (kind: GarbageKind, address: number) => Promise<void>;
}

export interface StoreHarness {
  /** A fresh, empty store (its own namespace), connected and healthy. */
  make(): Promise<StoreUnderTest>;
  /** Lets `ms` of store time pass (memory: moves the injected clock; Redis: sleeps). */
  advance(ms: number): Promise<void>;
  /** A TTL short enough to wait out in a test and long enough to survive a round trip (Redis: ~150 ms). */
  shortTtlMs: number;
}

/** A public identity with an arbitrary address and random key: the store does not validate (callers do). */
export function fakeIdentity(address: number): Identity {
  const b = new Uint8Array(71);
  new DataView(b.buffer).setUint32(0, Math.floor(address / 256));
  b[4] = address & 0xff;
  b.set(randomBytes(64), 6);
  return Identity.fromBinary(b);
}

const V4: InetAddress = { family: 4, ip: '192.0.2.10', port: 9993 };
const V6: InetAddress = { family: 6, ip: '2001:db8::1', port: 21234 };
const V4B: InetAddress = { family: 4, ip: '198.51.100.7', port: 443 };

async function rejectsWith(p: Promise<unknown>, code: string, re?: RegExp): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(isZtError(e), `expected a ZtError, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    if (re) assert.match(e.message, re);
    return true;
  });
}

let nextAddr = 0x1a2b3c4d00;
/** A fresh peer address per case (non-reserved), so cases cannot see each other's records. */
function addr(): number {
  return nextAddr++;
}

/** Registers the compliance cases (node:test `it`s) against `h`. */
export function peerStoreCompliance(h: StoreHarness): void {
  const opened: PeerStore[] = [];
  const make = async (): Promise<StoreUnderTest> => {
    const s = await h.make();
    opened.push(s.store);
    return s;
  };
  after(async () => {
    for (const s of opened) await s.close();
  });

  it('identities: get returns what was put (public half only); a missing one is undefined; a newer put wins', async () => {
    const { store } = await make();
    const real = Identity.generate();
    await store.putIdentity(real);
    const got = await store.getIdentity(real.address);
    assert.ok(got !== undefined && got.equals(real));
    assert.equal(got.privateKey, null, 'the private key is never stored');
    assert.equal(await store.getIdentity(addr()), undefined);

    const a = addr();
    const first = fakeIdentity(a);
    const second = fakeIdentity(a);
    await store.putIdentity(first);
    await store.putIdentity(second);
    const latest = await store.getIdentity(a);
    assert.ok(latest !== undefined && latest.equals(second) && !latest.equals(first));
  });

  it('identities expire after their TTL', async () => {
    const { store } = await make();
    const keep = fakeIdentity(addr());
    const lose = fakeIdentity(addr());
    await store.putIdentity(keep, 60_000);
    await store.putIdentity(lose, h.shortTtlMs);
    assert.ok((await store.getIdentity(lose.address))?.equals(lose));
    await h.advance(h.shortTtlMs * 2);
    assert.equal(await store.getIdentity(lose.address), undefined);
    assert.ok((await store.getIdentity(keep.address))?.equals(keep));
  });

  it('locations: one entry per root, endpoints round-trip (v4 and v6), overwrite and remove', async () => {
    const { store } = await make();
    const a = addr();
    assert.deepEqual(await store.getLocations(a), []);
    await store.putLocation(a, { rootId: 'root-a.fra1', endpoints: [V4, V6] }, 60_000);
    await store.putLocation(a, { rootId: 'root-b:2', endpoints: [] }, 30_000);
    let locs = (await store.getLocations(a)).sort((x, y) => x.rootId.localeCompare(y.rootId));
    assert.deepEqual(
      locs.map((l) => [l.rootId, l.endpoints]),
      [
        ['root-a.fra1', [V4, V6]],
        ['root-b:2', []],
      ],
    );
    assert.ok(locs[0]!.ttlMs > 50_000 && locs[0]!.ttlMs <= 60_000, `ttl ${locs[0]!.ttlMs}`);
    assert.ok(locs[1]!.ttlMs > 20_000 && locs[1]!.ttlMs <= 30_000, `ttl ${locs[1]!.ttlMs}`);

    await store.putLocation(a, { rootId: 'root-a.fra1', endpoints: [V4B] }, 60_000);
    locs = await store.getLocations(a);
    assert.deepEqual(locs.find((l) => l.rootId === 'root-a.fra1')?.endpoints, [V4B]);
    assert.equal(locs.length, 2);

    await store.removeLocation(a, 'root-a.fra1');
    await store.removeLocation(a, 'root-never-there');
    assert.deepEqual((await store.getLocations(a)).map((l) => l.rootId), ['root-b:2']);
    await store.removeLocation(addr(), 'root-a'); // nothing stored: a no-op
  });

  it('locations expire per root: a short entry goes, a long one stays (a short put does not shorten it)', async () => {
    const { store } = await make();
    const a = addr();
    await store.putLocation(a, { rootId: 'long', endpoints: [V4] }, 60_000);
    await store.putLocation(a, { rootId: 'short', endpoints: [V6] }, h.shortTtlMs);
    assert.equal((await store.getLocations(a)).length, 2);
    await h.advance(h.shortTtlMs * 2);
    assert.deepEqual((await store.getLocations(a)).map((l) => l.rootId), ['long']);
    // Everything short-lived: the whole record goes.
    const b = addr();
    await store.putLocation(b, { rootId: 'x', endpoints: [V4] }, h.shortTtlMs);
    await h.advance(h.shortTtlMs * 2);
    assert.deepEqual(await store.getLocations(b), []);
  });

  it('heartbeats: roots() lists live roots with their info; overwrite; expiry', async () => {
    const { store } = await make();
    assert.deepEqual(await store.roots(), []);
    await store.heartbeat('root-a', { endpoints: [V4, V6], peers: 12, version: '0.1.0' }, 60_000);
    await store.heartbeat('root-b', { endpoints: [V4B] }, h.shortTtlMs);
    let roots = (await store.roots()).sort((x, y) => x.rootId.localeCompare(y.rootId));
    assert.deepEqual(
      roots.map((r) => [r.rootId, r.info]),
      [
        ['root-a', { endpoints: [V4, V6], peers: 12, version: '0.1.0' }],
        ['root-b', { endpoints: [V4B] }],
      ],
    );
    await store.heartbeat('root-a', { endpoints: [V4B], peers: 13 }, 60_000);
    await h.advance(h.shortTtlMs * 2);
    roots = await store.roots();
    assert.deepEqual(
      roots.map((r) => [r.rootId, r.info]),
      [['root-a', { endpoints: [V4B], peers: 13 }]],
    );
    assert.ok(roots[0]!.ttlMs > 0 && roots[0]!.ttlMs <= 60_000);
  });

  it('heartbeat() answers with the live heartbeat it replaced, boot token included; none once expired', async () => {
    const { store } = await make();
    assert.equal(await store.heartbeat('dup', { endpoints: [V4], boot: 'aa01' }, 60_000), undefined);
    // A second process writing the same rootId sees the first one's token, and the first sees the second's.
    assert.deepEqual(await store.heartbeat('dup', { endpoints: [V4B], boot: 'bb02' }, h.shortTtlMs), { endpoints: [V4], boot: 'aa01' });
    assert.deepEqual(await store.heartbeat('dup', { endpoints: [V4], boot: 'aa01' }, h.shortTtlMs), { endpoints: [V4B], boot: 'bb02' });
    await h.advance(h.shortTtlMs * 2);
    assert.equal(await store.heartbeat('dup', { endpoints: [V4], boot: 'aa01' }, 60_000), undefined, 'an expired heartbeat is not reported');
    await rejectsWith(store.heartbeat('dup', { endpoints: [], boot: 'not hex' }, 1000), ZtErrorCode.BAD_VALUE, /boot "not hex"/);
  });

  it('a heartbeat carries the root\'s probe leaf and its probe row; a bad row is refused naming it', async () => {
    const { store } = await make();
    const row = { 'root-b': 'direct', 'root-c': 'down' };
    await store.heartbeat('root-p', { endpoints: [V4], probe: 0xfc22112346, probeRow: row }, 60_000);
    assert.deepEqual((await store.roots()).find((r) => r.rootId === 'root-p')?.info, { endpoints: [V4], probe: 0xfc22112346, probeRow: row });
    await rejectsWith(store.heartbeat('root-p', { endpoints: [V4], probeRow: { 'root-b': 'green' } }, 1000), ZtErrorCode.BAD_VALUE, /probeRow must map/);
  });

  it('bad arguments reject with BAD_VALUE naming the value, and store nothing', async () => {
    const { store } = await make();
    const a = addr();
    await rejectsWith(store.putLocation(a, { rootId: 'has space', endpoints: [] }, 1000), ZtErrorCode.BAD_VALUE, /has space/);
    await rejectsWith(store.putLocation(a, { rootId: '', endpoints: [] }, 1000), ZtErrorCode.BAD_VALUE, /root id/);
    await rejectsWith(store.putLocation(a, { rootId: 'r', endpoints: [] }, 0), ZtErrorCode.BAD_VALUE, /TTL 0/);
    await rejectsWith(store.putLocation(a, { rootId: 'r', endpoints: [] }, 1.5), ZtErrorCode.BAD_VALUE, /TTL 1\.5/);
    await rejectsWith(store.putLocation(-1, { rootId: 'r', endpoints: [] }, 1000), ZtErrorCode.BAD_VALUE, /address -1/);
    await rejectsWith(store.getLocations(2 ** 40), ZtErrorCode.BAD_VALUE, /address/);
    await rejectsWith(store.getIdentity(Number.NaN), ZtErrorCode.BAD_VALUE, /address NaN/);
    const tooMany = Array.from({ length: MAX_ENDPOINTS + 1 }, (_, i) => ({ family: 4 as const, ip: '192.0.2.1', port: 1000 + i }));
    await rejectsWith(store.putLocation(a, { rootId: 'r', endpoints: tooMany }, 1000), ZtErrorCode.BAD_VALUE, /endpoints/);
    await assert.rejects(store.putLocation(a, { rootId: 'r', endpoints: [{ family: 4, ip: 'not-an-ip', port: 1 }] }, 1000), (e: unknown) => isZtError(e));
    await rejectsWith(store.heartbeat('r', { endpoints: [], peers: -1 }, 1000), ZtErrorCode.BAD_VALUE, /peers -1/);
    await rejectsWith(store.putIdentity(fakeIdentity(a), -5), ZtErrorCode.BAD_VALUE, /TTL -5/);
    assert.deepEqual(await store.getLocations(a), []);
    assert.deepEqual(await store.roots(), []);
    assert.equal(await store.getIdentity(a), undefined);
  });

  it('many concurrent writes and reads all land (no lost or crossed updates)', async () => {
    const { store } = await make();
    const ids = Array.from({ length: 200 }, () => fakeIdentity(addr()));
    await Promise.all(ids.flatMap((id, i) => [store.putIdentity(id), store.putLocation(id.address, { rootId: `r${i % 4}`, endpoints: [{ family: 4, ip: '192.0.2.1', port: 1 + i }] }, 60_000)]));
    const got = await Promise.all(ids.map(async (id) => [await store.getIdentity(id.address), await store.getLocations(id.address)] as const));
    got.forEach(([g, locs], i) => {
      assert.ok(g?.equals(ids[i]!), `identity ${i}`);
      assert.deepEqual(locs.map((l) => [l.rootId, l.endpoints[0]?.port]), [[`r${i % 4}`, 1 + i]]);
    });
  });

  it('property: any endpoint list of up to MAX_ENDPOINTS round-trips through putLocation/getLocations', async () => {
    const { store } = await make();
    const a = addr();
    const ep = fc.oneof(
      fc.record({ family: fc.constant(4 as const), ip: fc.ipV4(), port: fc.integer({ min: 0, max: 65535 }) }),
      fc.record({ family: fc.constant(6 as const), ip: fc.ipV6(), port: fc.integer({ min: 0, max: 65535 }) }),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(ep, { maxLength: MAX_ENDPOINTS }), async (eps) => {
        await store.putLocation(a, { rootId: 'p', endpoints: eps }, 60_000);
        const [loc] = await store.getLocations(a);
        assert.equal(loc?.endpoints.length, eps.length);
        // Same addresses, compared in canonical form (fast-check's IPv6 text is not canonical).
        loc!.endpoints.forEach((e, i) => {
          assert.equal(e.family, eps[i]!.family);
          assert.equal(e.port, eps[i]!.port);
          assert.equal(canonicalIp(e.ip), canonicalIp(eps[i]!.ip));
        });
      }),
      { seed: 12, numRuns: 40 },
    );
  });

  it('garbage in the backend: a typed error or an ignored entry, never a crash', async (t) => {
    const { store, plant } = await make();
    if (plant === undefined) {
      t.skip('typed backend: nothing to plant');
      return;
    }
    const a = addr();
    await plant('identity-bytes', a);
    await rejectsWith(store.getIdentity(a), ZtErrorCode.BAD_VALUE, /not an identity/);
    const b = addr();
    await plant('identity-other-address', b);
    await rejectsWith(store.getIdentity(b), ZtErrorCode.BAD_VALUE, /identity of/);
    const c = addr();
    await plant('identity-type', c);
    await rejectsWith(store.getIdentity(c), ZtErrorCode.BAD_VALUE, /wrong type/);
    // A later put replaces garbage.
    const idc = fakeIdentity(c);
    await store.putIdentity(idc);
    assert.ok((await store.getIdentity(c))?.equals(idc));

    const d = addr();
    await store.putLocation(d, { rootId: 'good', endpoints: [V4] }, 60_000);
    const before = store.stats().badValues;
    await plant('location-field', d);
    assert.deepEqual((await store.getLocations(d)).map((l) => [l.rootId, l.endpoints]), [['good', [V4]]]);
    assert.ok(store.stats().badValues > before, 'garbage is counted');

    const e = addr();
    await plant('location-type', e);
    assert.deepEqual(await store.getLocations(e), []);
    await store.putLocation(e, { rootId: 'healed', endpoints: [V6] }, 60_000);
    assert.deepEqual((await store.getLocations(e)).map((l) => l.rootId), ['healed']);

    await store.heartbeat('fine', { endpoints: [V4] }, 60_000);
    await plant('roots-field', 0);
    assert.deepEqual((await store.roots()).map((r) => r.rootId), ['fine']);
  });

  it('validated identities: a recorded tag is found, any other tag (one bit off) is not; records expire; bad tags are refused', async () => {
    const { store } = await make();
    const tag = new Uint8Array(randomBytes(16));
    const near = tag.slice();
    near[15]! ^= 1;
    assert.equal(await store.isValidated(tag), false);
    await store.putValidated(tag, 60_000);
    assert.equal(await store.isValidated(tag), true);
    assert.equal(await store.isValidated(near), false, 'a tag one bit off is another identity');
    const brief = new Uint8Array(randomBytes(16));
    await store.putValidated(brief, h.shortTtlMs);
    assert.equal(await store.isValidated(brief), true);
    await h.advance(h.shortTtlMs * 2);
    assert.equal(await store.isValidated(brief), false, 'expired');
    assert.equal(await store.isValidated(tag), true);
    await rejectsWith(store.putValidated(new Uint8Array(15)), ZtErrorCode.BAD_VALUE, /must be 16 bytes, got 15/);
    await rejectsWith(store.isValidated(new Uint8Array(32)), ZtErrorCode.BAD_VALUE, /must be 16 bytes, got 32/);
    await rejectsWith(store.putValidated(new Uint8Array(16), 0), ZtErrorCode.BAD_VALUE, /TTL/);
  });

  it('after close(), every call rejects with CLOSED', async () => {
    const { store } = await make();
    await store.close();
    await rejectsWith(store.getIdentity(addr()), ZtErrorCode.CLOSED);
    await rejectsWith(store.putLocation(addr(), { rootId: 'r', endpoints: [] }, 1000), ZtErrorCode.CLOSED);
    await rejectsWith(store.roots(), ZtErrorCode.CLOSED);
    await rejectsWith(store.putValidated(new Uint8Array(16)), ZtErrorCode.CLOSED);
    await rejectsWith(store.isValidated(new Uint8Array(16)), ZtErrorCode.CLOSED);
    await store.close(); // idempotent
  });
}

function canonicalIp(ip: string): string {
  if (!ip.includes(':')) return ip;
  // Expand to 8 groups of 4 hex digits (fast-check may write embedded IPv4 or leading zeros).
  let s = ip.toLowerCase();
  const v4 = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(s);
  if (v4) {
    const [p, q, r, u] = v4.slice(1).map(Number) as [number, number, number, number];
    s = s.slice(0, v4.index) + ((p << 8) | q).toString(16) + ':' + ((r << 8) | u).toString(16);
  }
  const [head, tail] = s.includes('::') ? (s.split('::') as [string, string]) : [s, undefined];
  const hs = head === '' ? [] : head.split(':');
  const ts = tail === undefined ? [] : tail === '' ? [] : tail.split(':');
  const fill = tail === undefined ? [] : Array.from({ length: 8 - hs.length - ts.length }, () => '0');
  return [...hs, ...fill, ...ts].map((g) => parseInt(g, 16).toString(16)).join(':');
}
