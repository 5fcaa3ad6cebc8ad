/**
 * The Redis store through a real Sentinel (redis-server in sentinel mode, started by the test): the same
 * URL-configured code finds the master through the Sentinel and reads back what it wrote.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RedisPeerStore } from './redis-store.js';
import { fakeIdentity } from './peer-store.compliance.js';
import { RedisServer, freePort, redisUnavailableReason, rawCommand } from '../test/redis.js';

const skip = redisUnavailableReason() ?? false;

test('RedisPeerStore through a real Sentinel: the master is found, writes and reads work', { skip, timeout: 30_000 }, async (t) => {
  const master = await RedisServer.start();
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'ztroot-sentinel-'));
  const conf = join(dir, 'sentinel.conf');
  writeFileSync(conf, `port ${port}\nbind 127.0.0.1\ndir ${dir}\nsentinel monitor zmaster 127.0.0.1 ${master.port} 1\nsentinel down-after-milliseconds zmaster 5000\n`);
  const sentinel = spawn('redis-server', [conf, '--sentinel'], { stdio: 'ignore' });
  let store: RedisPeerStore | undefined;
  t.after(async () => {
    await store?.close();
    sentinel.kill('SIGKILL');
    await master.stop();
  });
  // Wait for the sentinel to answer and know its master.
  for (let i = 0; i < 50; i++) {
    const r = await rawCommand(port, 'SENTINEL get-master-addr-by-name zmaster').catch(() => null);
    if (r !== null && r.includes(String(master.port))) break;
    await new Promise((r2) => setTimeout(r2, 100));
  }
  store = new RedisPeerStore({ url: `redis+sentinel://127.0.0.1:${port}/zmaster`, fleet: 'sentinel-test' });
  await store.whenHealthy(10_000);
  const id = fakeIdentity(0x0102030405);
  await store.putIdentity(id);
  await store.putLocation(id.address, { rootId: 'root-s', endpoints: [{ family: 4, ip: '192.0.0.7', port: 9993 }] }, 60_000);
  assert.equal((await store.getIdentity(id.address))?.toString(), id.publicOnly().toString());
  assert.deepEqual((await store.getLocations(id.address)).map((l) => l.rootId), ['root-s']);
});
