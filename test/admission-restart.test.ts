/**
 * Issue 15, restart: a root process that held peers is killed and started again on the same state directory;
 * every peer HELLOs again and gets OK(HELLO) without a single memory-hard hash (before: every one re-validated,
 * ~40/s). Then the state file is damaged the two ways a crash or an attacker can: a torn last record (kept up to
 * it) and a tampered record (the file is rejected: everyone is hashed again, nobody admitted on its word) — the
 * root starts and serves either way.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { appendFileSync, existsSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import { CLI } from './cli-process.js';
import { watchJsonLines } from './json-lines.js';
import { freePort } from './redis.js';
import { RawClient } from './raw-vl1-client.js';
import { Identity } from '../vl1/identity.js';
import { openPacket, packetId } from '../vl1/packet.js';
import { Verb } from '../vl1/constants.js';
import { decodeOk } from '../vl1/verbs/ok.js';
import { parseWorld } from '../planet/world.js';
import { memoryHardHasher } from '../root/identity-validator-hash.js';
import { chooseAesEngine } from '../tools/aes-engine.js';
import { HEADER_LENGTH, RECORD_LENGTH, VALIDATED_IDENTITIES_FILE } from '../root/validated-identities.js';

const N = 4;
const state = mkdtempSync(join(tmpdir(), 'ztroot-admission-restart-'));
const file = join(state, VALIDATED_IDENTITIES_FILE);
const hasher = memoryHardHasher();
const peers = Array.from({ length: N }, () => Identity.generate(hasher.hash));

async function startRoot(httpPort: number) {
  const child = spawn(process.execPath, [CLI, 'start', '--state-dir', state, '--port', '0', '--bind4', '127.0.0.1', '--bind6', 'none', '--http', `127.0.0.1:${httpPort}`, '--endpoint', '192.0.0.1/9993'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const w = watchJsonLines(child, 'ztroot start');
  const started = await w.waitFor((l) => l.msg === 'root started', 15_000, 'root started');
  return { child, ...w, port: (started.ports as number[])[0]! };
}

async function stop(child: ReturnType<typeof spawn>, signal: NodeJS.Signals): Promise<void> {
  child.kill(signal);
  await once(child, 'exit');
}

/** Each peer HELLOs the root; resolves when every one has its OK(HELLO). */
async function helloAll(rootPort: number): Promise<void> {
  const root = Identity.fromString(readFileSync(join(state, 'identity.public'), 'utf8').trim());
  const planet = parseWorld(new Uint8Array(readFileSync(join(state, 'planet'))));
  await Promise.all(
    peers.map(async (id) => {
      const c = await new RawClient(id, { root, port: () => rootPort, planetId: planet.id, planetTimestamp: planet.timestamp }).open();
      try {
        const hello = c.hello();
        c.send(hello);
        for (;;) {
          const reply = await c.next(10_000);
          assert.ok(reply !== null, `no OK(HELLO) for ${id.toString(false).slice(0, 10)}`);
          const opened = openPacket(reply, c.keyWith(root));
          if (opened.verb !== Verb.OK) continue;
          const ok = decodeOk(opened.payload);
          if (ok.kind === 'HELLO' && ok.inRePacketId === packetId(hello)) return;
        }
      } finally {
        c.close();
      }
    }),
  );
}

/** ztroot_identity_validations_total by result. */
async function validations(httpPort: number): Promise<Record<string, number>> {
  const text = await (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text();
  const out: Record<string, number> = {};
  for (const m of text.matchAll(/^ztroot_identity_validations_total\{result="(\w+)"\} (\d+)$/gm)) out[m[1]!] = Number(m[2]);
  return out;
}

async function until(what: string, ok: () => boolean, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

test('a root restarted after a crash re-admits every peer it held without hashing; a torn or tampered state file never stops it', async (t) => {
  const httpPort = await freePort();
  const children: Array<ReturnType<typeof spawn>> = [];
  t.after(() => children.forEach((c) => c.kill('SIGKILL')));

  // 1. First run: every peer is new and hashed.
  const first = await startRoot(httpPort);
  children.push(first.child);
  const status = (await (await fetch(`http://127.0.0.1:${httpPort}/api/status`)).json()) as { identityHash: string; aes: string };
  assert.equal(status.identityHash, hasher.name, '/api/status says which hash validates');
  assert.equal(status.aes, chooseAesEngine().engine.name, '/api/status says which AES-GMAC-SIV engine runs suite 3');
  await helloAll(first.port);
  assert.equal((await validations(httpPort)).valid, N);
  // Remembered on disk off the packet path (within the 1 s batch), then the process dies without a goodbye.
  await until('the validated identities on disk', () => statSync(file).size === HEADER_LENGTH + N * RECORD_LENGTH);
  await stop(first.child, 'SIGKILL');

  // 2. A crash in the middle of the next append: a torn record. The restarted root keeps the whole ones.
  appendFileSync(file, Buffer.alloc(7, 0xee));
  const second = await startRoot(httpPort);
  children.push(second.child);
  const torn = await second.waitFor((l) => /torn/.test(String(l.msg)), 5000, 'the torn record logged');
  assert.equal(torn.droppedBytes, 7);
  assert.equal((await second.waitFor((l) => l.msg === 'validated identities loaded', 5000, 'loaded')).identities, N);
  await helloAll(second.port);
  const after = await validations(httpPort);
  assert.equal(after.valid, 0, 'no peer was hashed again');
  assert.equal(after.remembered, N, 'every peer was admitted from what the root remembered');
  await stop(second.child, 'SIGTERM');

  // 3. A tampered record: the file is rejected (moved aside) with an error line, the root serves, everyone is hashed.
  const bytes = readFileSync(file);
  bytes[HEADER_LENGTH + RECORD_LENGTH + 3]! ^= 0xff;
  writeFileSync(file, bytes);
  const third = await startRoot(httpPort);
  children.push(third.child);
  const rejected = await third.waitFor((l) => /rejected/.test(String(l.msg)), 5000, 'the rejection logged');
  assert.equal(rejected.level, 50, 'an error');
  assert.match(String(rejected.msg), /record 1 at byte 36 fails its checksum/);
  assert.ok(existsSync(`${file}.rejected`));
  await helloAll(third.port);
  const third_ = await validations(httpPort);
  assert.equal(third_.valid, N, 'validated again by the hash');
  assert.equal(third_.remembered, 0);
  await stop(third.child, 'SIGTERM');
});
