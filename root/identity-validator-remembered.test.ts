/**
 * Admission that remembers, tested by the attack: what a restarted root or a root joining a fleet admits
 * without hashing, and what it must still hash and refuse. Real worker pools, a real state file, a real
 * redis-server (test/redis.ts).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Identity } from '../vl1/identity.js';
import { RedisPeerStore } from '../fleet/redis-store.js';
import { MemoryPeerStore } from '../fleet/memory-store.js';
import { RedisServer, redisUnavailableReason } from '../test/redis.js';
import { IdentityValidator } from './identity-validator.js';
import { memoryHardHasher } from './identity-validator-hash.js';
import { RememberingValidator } from './identity-validator-remembered.js';
import { ValidatedIdentities, validatedIdentityTag } from './validated-identities.js';

const base = mkdtempSync(join(tmpdir(), 'ztroot-remembered-'));
const hash = memoryHardHasher().hash;
const real = Identity.generate(hash);
const other = Identity.generate(hash);

/** Same address as `id`, another (random) key: what an impostor claiming a remembered client sends. */
function sameAddressOtherKey(id: Identity): Identity {
  const b = id.toBinary(false);
  b.set(randomBytes(64), 6);
  return Identity.fromBinary(b);
}
/** `id`'s key under another address. */
function sameKeyOtherAddress(id: Identity): Identity {
  const b = id.toBinary(false);
  b[4]! ^= 0x5a;
  return Identity.fromBinary(b);
}

/** One root's admission: its own pool (no verdict cache, so every hash shows in `pool.stats.validated`). */
function rootAdmission(file: string | null) {
  const pool = new IdentityValidator({ workers: 1, cacheSize: 0 });
  const remembered = ValidatedIdentities.open(file, { flushIntervalMs: 10 });
  const admission = new RememberingValidator(pool, remembered);
  return {
    pool,
    remembered,
    admission,
    async close() {
      await remembered.close();
      await pool.close();
    },
  };
}

test('a restarted root admits what it validated before without hashing, and still hashes and refuses impostors of those addresses', async () => {
  const file = join(base, 'restart');
  const before = rootAdmission(file);
  assert.equal(await before.admission.validate(real), true);
  assert.equal(before.pool.stats.validated, 1, 'hashed the first time');
  assert.equal(await before.admission.validate(sameAddressOtherKey(other)), false);
  await before.close();

  const after = rootAdmission(file);
  try {
    assert.equal(after.remembered.size, 1, 'only the pass was remembered');
    assert.equal(await after.admission.validate(real), true);
    assert.equal(after.pool.stats.validated, 0, 'no hash after the restart');
    assert.equal(after.admission.stats.rememberedHits, 1);

    // The attack: claim the remembered address with another key, or the remembered key under another address.
    for (const impostor of [sameAddressOtherKey(real), sameKeyOtherAddress(real)]) {
      assert.equal(await after.admission.validate(impostor), false, 'refused');
    }
    assert.equal(after.pool.stats.validated, 2, 'each impostor was hashed, not admitted from memory');
    assert.equal(after.remembered.size, 1, 'and not remembered');
  } finally {
    await after.close();
  }
});

test('a root joining a fleet (in-memory store) admits what another root validated; the tag is then remembered locally', async () => {
  const store = new MemoryPeerStore();
  const a = rootAdmission(null);
  const b = rootAdmission(null);
  a.admission.useFleet(store);
  b.admission.useFleet(store);
  try {
    assert.equal(await a.admission.validate(real), true);
    assert.equal(await store.isValidated(validatedIdentityTag(real)), true, 'root A recorded its pass in the fleet store');
    assert.equal(await b.admission.validate(real), true);
    assert.equal(b.pool.stats.validated, 0, 'root B did not hash');
    assert.equal(b.admission.stats.fleetHits, 1);
    assert.ok(b.remembered.has(validatedIdentityTag(real)));
    assert.equal(await b.admission.validate(sameAddressOtherKey(real)), false);
    assert.equal(b.pool.stats.validated, 1);
  } finally {
    await a.close();
    await b.close();
    await store.close();
  }
});

const skip = redisUnavailableReason() ?? false;

describe('a fleet on a real redis-server', { skip }, () => {
  let server: RedisServer;
  const stores: RedisPeerStore[] = [];
  const open = async (): Promise<RedisPeerStore> => {
    const s = new RedisPeerStore({ url: `redis://127.0.0.1:${server.port}`, fleet: 'admission', commandTimeoutMs: 500, reconnectMaxDelayMs: 100 });
    stores.push(s);
    await s.whenHealthy(10_000);
    return s;
  };
  before(async () => {
    server = await RedisServer.start();
  });
  after(async () => {
    for (const s of stores) await s.close();
    await server?.stop();
  });

  test('root B trusts what root A validated (no hash); an impostor of that address is hashed and refused', async () => {
    const a = rootAdmission(null);
    const b = rootAdmission(null);
    a.admission.useFleet(await open());
    const storeB = await open();
    b.admission.useFleet(storeB);
    try {
      assert.equal(await a.admission.validate(other), true);
      const tag = validatedIdentityTag(other);
      for (let i = 0; i < 50 && !(await storeB.isValidated(tag)); i++) await new Promise((r) => setTimeout(r, 20));
      assert.equal(await b.admission.validate(other), true);
      assert.equal(b.pool.stats.validated, 0, 'root B did not hash');
      assert.equal(b.admission.stats.fleetHits, 1);
      assert.equal(await b.admission.validate(sameAddressOtherKey(other)), false);
      assert.equal(b.pool.stats.validated, 1, 'the impostor was hashed');
    } finally {
      await a.close();
      await b.close();
    }
  });

  test('with the store down, a newcomer is hashed (never admitted on the store\'s silence)', async () => {
    const c = rootAdmission(null);
    c.admission.useFleet(await open());
    try {
      await server.kill();
      assert.equal(await c.admission.validate(real), true);
      assert.equal(c.pool.stats.validated, 1, 'hashed');
      assert.equal(await c.admission.validate(sameAddressOtherKey(real)), false);
      assert.equal(c.admission.stats.fleetHits, 0);
    } finally {
      await c.close();
    }
  });
});
