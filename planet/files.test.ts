import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fromHex, toHex } from '../vl1/bytes.js';
import { c25519Generate } from '../vl1/c25519.js';
import { ZtError, ZtErrorCode } from '../vl1/errors.js';
import { Identity } from '../vl1/identity.js';
import { readVectorBytes, readVectorJson, vectorPath } from '../test/vectors.js';
import {
  encodeSigningKey,
  moonFileName,
  parseSigningKey,
  readSigningKeyFile,
  readWorldFile,
  writeSigningKeyFile,
  writeWorldFile,
} from './files.js';
import { commitNext, createState, KEY_FILE, loadState, NEXT_KEY_FILE } from './state.js';
import { checkWorldUpdate, parseWorld, serializeWorld, type UnsignedWorld } from './world.js';

const keys = readVectorJson<{ keys: { name: string; public_64: string; secret_64: string }[]; root_identities: Record<string, string> }>('planets', 'keys.json');
const kb = keys.keys.find((k) => k.name === 'key-b')!;
const keyB = { publicKey: fromHex(kb.public_64), privateKey: fromHex(kb.secret_64) };
const tmp = mkdtempSync(join(tmpdir(), 'planet-files-'));
process.on('exit', () => rmSync(tmp, { recursive: true, force: true }));

function throwsZt(fn: () => unknown, code: string, msg: RegExp): void {
  assert.throws(fn, (e: unknown) => e instanceof ZtError && e.code === code && msg.test(e.message));
}

test("signing keys: mkworld's 128-byte file, hex text and initmoon JSON all read; mismatches named", () => {
  const bin = encodeSigningKey(keyB);
  assert.equal(bin.length, 128);
  assert.deepEqual(parseSigningKey(bin, 'k'), keyB);
  const hex = toHex(bin);
  assert.deepEqual(parseSigningKey(Buffer.from(hex + '\n'), 'k'), keyB);
  assert.deepEqual(parseSigningKey(Buffer.from(`${kb.public_64}:${kb.secret_64}`), 'k'), keyB);
  const json = JSON.stringify({ objtype: 'world', worldType: 'moon', signingKey: kb.public_64, signingKey_SECRET: kb.secret_64 });
  assert.deepEqual(parseSigningKey(Buffer.from(json), 'k'), keyB);
  const other = c25519Generate();
  const mixed = new Uint8Array([...keyB.publicKey, ...other.privateKey]);
  throwsZt(() => parseSigningKey(mixed, 'signing key x.c25519'), ZtErrorCode.BAD_VALUE, /signing key x\.c25519: public half [0-9a-f]{16}… does not belong/);
  throwsZt(() => parseSigningKey(new Uint8Array(127), 'short.c25519'), ZtErrorCode.BAD_FORMAT, /short\.c25519: not a signing key .*got 127 bytes/);
  throwsZt(() => parseSigningKey(Buffer.from('{"a":1}'), 'j'), ZtErrorCode.BAD_FORMAT, /j: not a signing key/);
  throwsZt(() => parseSigningKey(Buffer.from('{'), 'j'), ZtErrorCode.BAD_FORMAT, /j: not valid JSON/);
  throwsZt(() => parseSigningKey(Buffer.from('zz'.repeat(128)), 'h'), ZtErrorCode.BAD_FORMAT, /h: public key: not an even-length hex string/);
});

test('secret files are 0600 from creation and never overwritten', () => {
  const p = join(tmp, 'k.c25519');
  const old = process.umask(0); // even with a permissive umask
  try {
    writeSigningKeyFile(p, keyB);
  } finally {
    process.umask(old);
  }
  assert.equal(statSync(p).mode & 0o777, 0o600);
  assert.deepEqual(readSigningKeyFile(p), keyB);
  throwsZt(() => writeSigningKeyFile(p, c25519Generate()), ZtErrorCode.FILE, /k\.c25519 already exists; refusing to overwrite/);
  assert.deepEqual(readSigningKeyFile(p), keyB, 'untouched');
  throwsZt(() => readSigningKeyFile(join(tmp, 'none.c25519')), ZtErrorCode.FILE, /cannot read .*none\.c25519/);
});

test('planet and moon files: read as ZeroTier stores them, written without clobbering', () => {
  for (const n of readdirSync(vectorPath('planets')).filter((x) => x.endsWith('.bin'))) {
    const w = readWorldFile(vectorPath('planets', n));
    assert.deepEqual(serializeWorld(w), readVectorBytes('planets', n));
  }
  const w = parseWorld(readVectorBytes('planets', 'planet-a-one-root.bin'));
  const p = join(tmp, 'planet');
  writeWorldFile(p, w);
  assert.deepEqual(new Uint8Array(readFileSync(p)), readVectorBytes('planets', 'planet-a-one-root.bin'));
  throwsZt(() => writeWorldFile(p, w), ZtErrorCode.FILE, /already exists/);
  writeWorldFile(p, w, { force: true });
  assert.equal(moonFileName(0x419aea3c39n), '000000419aea3c39.moon');
  writeFileSync(join(tmp, 'bad'), new Uint8Array(10));
  throwsZt(() => readWorldFile(join(tmp, 'bad')), ZtErrorCode.BAD_VALUE, /\/bad: world type: 0/);
});

test('state: update and rotate keep the chain; an interrupted rotation is completed or resumed, never loses a key', () => {
  const ids = Object.values(keys.root_identities).map((s) => Identity.fromString(s));
  const base = (ts: number): UnsignedWorld => ({
    type: 'planet',
    id: 0x5eedn,
    timestamp: ts,
    updatesMustBeSignedBy: new Uint8Array(64),
    roots: [{ identity: ids[0]!, stableEndpoints: [{ family: 4, ip: '203.0.113.1', port: 9993 }] }],
  });
  const dir = join(tmp, 'state');
  const s1 = createState(dir, base(1000));
  assert.equal(statSync(dir).mode & 0o777, 0o700);
  assert.equal(statSync(join(dir, KEY_FILE)).mode & 0o777, 0o600);
  const s2 = commitNext(s1, base(2000));
  checkWorldUpdate(s1.world, s2.world);
  throwsZt(() => commitNext(s2, base(2000)), ZtErrorCode.WORLD_UPDATE_REJECTED, /not newer/);
  assert.equal(readdirSync(join(dir, 'history')).length, 2, 'a refused update writes nothing');

  // Crash after the new key was written but before the planet: the pending key is reused by the next rotate.
  const pending = c25519Generate();
  writeSigningKeyFile(join(dir, NEXT_KEY_FILE), pending);
  const s2b = loadState(dir);
  assert.match(s2b.warnings.join('\n'), /pending key from an interrupted rotation/);
  const s3 = commitNext(s2b, base(3000), { rotate: true });
  assert.deepEqual(s3.world.updatesMustBeSignedBy, pending.publicKey, 'pending key reused, not replaced');
  checkWorldUpdate(s2.world, s3.world);
  assert.ok(!existsSync(join(dir, NEXT_KEY_FILE)));

  // Crash after the planet was written but before the keys were swapped: loadState finishes the swap.
  const s4pre = loadState(dir);
  const next = c25519Generate();
  writeSigningKeyFile(join(dir, NEXT_KEY_FILE), next);
  const s4 = commitNext(s4pre, base(4000), { rotate: true }); // completes normally...
  // ...now rewind the key swap to simulate the crash point.
  const retired = readdirSync(join(dir, 'retired-keys')).sort();
  renameSync(join(dir, KEY_FILE), join(dir, NEXT_KEY_FILE));
  renameSync(join(dir, 'retired-keys', retired[retired.length - 1]!), join(dir, KEY_FILE));
  const s5 = loadState(dir);
  assert.match(s5.warnings.join('\n'), /completed an interrupted key rotation/);
  assert.deepEqual(s5.key, next);
  assert.deepEqual(s5.world.updatesMustBeSignedBy, s4.world.updatesMustBeSignedBy);
  assert.equal(readdirSync(join(dir, 'retired-keys')).length, 2, 'both replaced keys kept');

  // A key readable by others is reported.
  chmodSync(join(dir, KEY_FILE), 0o644);
  assert.match(loadState(dir).warnings.join('\n'), /readable by group or others/);
  chmodSync(join(dir, KEY_FILE), 0o600);
  // A state whose key is not the one its planet names is refused.
  rmSync(join(dir, KEY_FILE));
  writeSigningKeyFile(join(dir, KEY_FILE), keyB);
  throwsZt(() => loadState(dir), ZtErrorCode.BAD_VALUE, /update-key\.c25519 \(4f5d4c6053b25a3e…\) is not the update key/);
});
