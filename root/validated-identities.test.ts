import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { appendFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Identity } from '../vl1/identity.js';
import { HEADER_LENGTH, RECORD_LENGTH, ValidatedIdentities, validatedIdentityTag } from './validated-identities.js';

const base = mkdtempSync(join(tmpdir(), 'ztroot-validated-'));
let n = 0;
const fresh = (): string => join(base, `v${n++}`);
const tag = (): Uint8Array => new Uint8Array(randomBytes(16));

/** Log lines by level, as pino objects with their message. */
function recorder() {
  const lines: Array<{ level: string; msg: string; obj: Record<string, unknown> }> = [];
  const at = (level: string) => (obj: object, msg?: string) => lines.push({ level, msg: msg ?? '', obj: obj as Record<string, unknown> });
  return { lines, logger: { info: at('info'), warn: at('warn'), error: at('error') } };
}

test('tags bind address and key: same key under another address, or another key under the same address, is another tag', () => {
  const a = Identity.fromString('8e4df28b72:0:ac8b1a0fa1db2bdbc22e9a1bc3e7d4d58fd29b1bec0c39efac3eb8b11a0b5c0a26bb0e6faf2d3fef3dee2b75ab60a2fc62b1bd1fb7b1f1e4cd6b1c2b4d5cd6e1');
  const bin = a.toBinary(false);
  const otherAddress = bin.slice();
  otherAddress[4]! ^= 1;
  const otherKey = bin.slice();
  otherKey[40]! ^= 1;
  const t = Buffer.from(validatedIdentityTag(a)).toString('hex');
  assert.equal(t.length, 32);
  assert.notEqual(Buffer.from(validatedIdentityTag(Identity.fromBinary(otherAddress))).toString('hex'), t);
  assert.notEqual(Buffer.from(validatedIdentityTag(Identity.fromBinary(otherKey))).toString('hex'), t);
  assert.equal(Buffer.from(validatedIdentityTag(Identity.fromBinary(bin))).toString('hex'), t);
});

test('remembered tags survive a restart (written off the call, in one batch); others are not remembered', async () => {
  const file = fresh();
  const a = ValidatedIdentities.open(file, { flushIntervalMs: 20 });
  const kept = Array.from({ length: 50 }, tag);
  for (const t of kept) a.add(t);
  assert.equal(statSync(file).size, HEADER_LENGTH, 'nothing written during add()');
  assert.ok(a.has(kept[7]!));
  await new Promise((r) => setTimeout(r, 100)); // the flush timer
  assert.equal(statSync(file).size, HEADER_LENGTH + 50 * RECORD_LENGTH);
  const b = ValidatedIdentities.open(file);
  assert.equal(b.size, 50);
  assert.ok(kept.every((t) => b.has(t)));
  assert.equal(b.has(tag()), false);
  assert.equal(b.stats().loaded, 50);
  await a.close();
  await b.close();
});

test('a torn last record (crash while appending) is cut off and logged; the whole records are kept; appends stay aligned', async () => {
  const file = fresh();
  const a = ValidatedIdentities.open(file);
  const kept = [tag(), tag(), tag()];
  for (const t of kept) a.add(t);
  await a.close();
  appendFileSync(file, randomBytes(RECORD_LENGTH - 3)); // a record cut short
  const { lines, logger } = recorder();
  const b = ValidatedIdentities.open(file, { logger });
  assert.equal(b.size, 3);
  assert.ok(kept.every((t) => b.has(t)));
  const warn = lines.find((l) => l.level === 'warn');
  assert.ok(warn !== undefined && /torn/.test(warn.msg) && warn.obj.droppedBytes === RECORD_LENGTH - 3, JSON.stringify(lines));
  assert.equal(statSync(file).size, HEADER_LENGTH + 3 * RECORD_LENGTH, 'cut to whole records');
  const later = tag();
  b.add(later);
  await b.close();
  const c = ValidatedIdentities.open(file);
  assert.equal(c.size, 4);
  assert.ok(c.has(later));
});

test('a tampered record (checksum fails) rejects the whole file with a clear error, moves it aside, trusts nothing from it', async () => {
  const file = fresh();
  const a = ValidatedIdentities.open(file);
  const t0 = tag();
  const t1 = tag();
  a.add(t0);
  a.add(t1);
  await a.close();
  const bytes = readFileSync(file);
  // An attacker (or a bad disk) swaps in a tag of their own in record 1 without fixing its checksum.
  const forged = tag();
  bytes.set(forged, HEADER_LENGTH + RECORD_LENGTH);
  writeFileSync(file, bytes);
  const { lines, logger } = recorder();
  const b = ValidatedIdentities.open(file, { logger });
  assert.equal(b.size, 0);
  assert.equal(b.has(forged), false);
  assert.equal(b.has(t0), false, 'nothing from a rejected file, not even the records before the bad one');
  const err = lines.find((l) => l.level === 'error');
  assert.ok(err !== undefined, JSON.stringify(lines));
  assert.match(err.msg, /rejected \(record 1 at byte 36 fails its checksum\); every identity will be validated again/);
  assert.equal(err.obj.movedTo, `${file}.rejected`);
  assert.ok(existsSync(`${file}.rejected`));
  // The root goes on remembering in a fresh file.
  const t2 = tag();
  b.add(t2);
  await b.close();
  const c = ValidatedIdentities.open(file);
  assert.equal(c.size, 1);
  assert.ok(c.has(t2));
});

test('a file that is not ours (bad header, or shorter than one) is rejected, never parsed', () => {
  for (const content of [Buffer.from('not a validated-identity log at all, just text'), Buffer.alloc(5)]) {
    const file = fresh();
    writeFileSync(file, content);
    const { lines, logger } = recorder();
    const v = ValidatedIdentities.open(file, { logger });
    assert.equal(v.size, 0);
    assert.ok(lines.some((l) => l.level === 'error' && /does not start with the ZTVALID1 header/.test(l.msg)), JSON.stringify(lines));
  }
});

test('an unusable path (a directory) is logged and the set works in memory only, no throw', async () => {
  const dir = fresh();
  mkdirSync(dir);
  const { lines, logger } = recorder();
  const v = ValidatedIdentities.open(dir, { logger });
  assert.equal(v.file, null);
  const t = tag();
  v.add(t);
  assert.ok(v.has(t));
  await v.close();
  assert.ok(lines.some((l) => l.level === 'error' && /memory only/.test(l.msg)));
});

test('bounded: when full, the older half is forgotten, and the file rewritten to match', async () => {
  const file = fresh();
  const v = ValidatedIdentities.open(file, { maxEntries: 4 });
  const tags = Array.from({ length: 5 }, tag);
  for (const t of tags) v.add(t);
  // 4 held; the 5th made room by forgetting the 2 oldest.
  assert.equal(v.size, 3);
  assert.deepEqual(tags.map((t) => v.has(t)), [false, false, true, true, true]);
  assert.equal(v.stats().compactions, 1);
  await v.close();
  const w = ValidatedIdentities.open(file, { maxEntries: 4 });
  assert.deepEqual(tags.map((t) => w.has(t)), [false, false, true, true, true]);
  assert.equal(statSync(file).size, HEADER_LENGTH + 3 * RECORD_LENGTH);
});

test('grows past its first allocation and finds every tag (open addressing stays correct)', () => {
  const v = ValidatedIdentities.open(null, { maxEntries: 10_000 });
  const tags = Array.from({ length: 5000 }, tag);
  for (const t of tags) v.add(t);
  assert.equal(v.size, 5000);
  assert.ok(tags.every((t) => v.has(t)));
  let misses = 0;
  for (let i = 0; i < 5000; i++) if (v.has(tag())) misses++;
  assert.equal(misses, 0);
});
