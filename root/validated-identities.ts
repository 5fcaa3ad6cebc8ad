/**
 * Identities this root has validated, remembered in its state directory so that a restart does not pay the
 * memory-hard hash again for every client that comes back (DESIGN.md: "An identity validated once is
 * remembered (state directory, fleet store)"; issue 15: a restarted root re-validated everyone at ~40/s).
 *
 * What is remembered: a *tag* per identity, the first 16 bytes of SHA-512 over the identity's public binary
 * form (address, type, 64-byte key: vl1.md §2.2), so a tag binds address AND key — a HELLO that claims a
 * remembered address with another key has another tag and is hashed like any newcomer. Forging a match means
 * a second preimage of 128 bits of SHA-512. Only identities that *passed* validation are added: failures are
 * free for an attacker to make (any random key), so remembering them would let junk evict good entries; the
 * validator's in-memory LRU still answers replays of a failed key (root/identity-validator.ts).
 *
 * File `<stateDir>/validated-identities`: a 16-byte header (`ZTVALID1`, 8 bytes reserved) then fixed 20-byte
 * records, `tag[16] | CRC-32(tag)` big-endian, in the order validated. New tags are appended in batches off
 * the packet path (a timer, then one `appendFile`); a crash loses at most the last batch (those identities
 * are hashed again), never adds one. At start (before serving):
 * - a torn last record (the file is not header + whole records) is cut off, logged, and the rest kept;
 * - a bad header or a record whose CRC fails means the file is not what this root wrote: it is moved aside
 *   to `validated-identities.rejected`, logged as an error, and the root starts with nothing remembered
 *   (everyone is validated again; nothing is trusted on its word).
 * The CRC detects corruption, not forgery: whoever can write the state directory holds the root's secret
 * key too.
 *
 * Bounded: at most `maxEntries` tags (default 1,048,576 ≈ 24 bytes each in memory: the tag in an insertion-
 * ordered array plus a 4-byte open-addressing index slot at most half full; 20 bytes each on disk). When full,
 * the older half is forgotten and the file rewritten atomically (temporary file, then rename).
 */
import { createHash } from 'node:crypto';
import { closeSync, existsSync, fsyncSync, openSync, readFileSync, renameSync, truncateSync, writeSync } from 'node:fs';
import { appendFile, rename, writeFile } from 'node:fs/promises';
import { crc32 } from 'node:zlib';
import type { Identity } from '../vl1/identity.js';
import { ZtError, ZtErrorCode } from '../vl1/errors.js';

/** The file in the state directory. */
export const VALIDATED_IDENTITIES_FILE = 'validated-identities';
/** Bytes of a tag. */
export const TAG_LENGTH = 16;
/** Bytes of one record on disk: tag and its CRC-32. */
export const RECORD_LENGTH = TAG_LENGTH + 4;
/** The file's first 8 bytes; 8 reserved bytes follow. */
export const FILE_MAGIC = 'ZTVALID1';
export const HEADER_LENGTH = 16;

/** The 16-byte tag of an identity: SHA-512 of its public binary form (binds address and key), truncated. */
export function validatedIdentityTag(identity: Identity): Uint8Array {
  const d = createHash('sha512').update(identity.toBinary(false)).digest();
  return new Uint8Array(d.buffer, d.byteOffset, TAG_LENGTH).slice();
}

/** Minimal logger (pino's shape). */
export interface ValidatedLogger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

export interface ValidatedIdentitiesOptions {
  /** Tags kept at most (default 1,048,576). When reached, the older half is forgotten. */
  maxEntries?: number;
  /** Longest a validated tag waits in memory before it is appended to the file (default 1000 ms). */
  flushIntervalMs?: number;
  logger?: ValidatedLogger;
}

export interface ValidatedIdentitiesStats {
  entries: number;
  /** Tags loaded from the file at start. */
  loaded: number;
  /** Tags waiting to be written. */
  pendingWrites: number;
  /** Times the older half was forgotten because the set was full. */
  compactions: number;
  /** Writes that failed (logged; the tags stay remembered in memory). */
  writeErrors: number;
}

const silent: ValidatedLogger = { info() {}, warn() {}, error() {} };
const MIN_CAPACITY = 1024;

/** The remembered set: see the module comment. One per root process; `file` null keeps it in memory only. */
export class ValidatedIdentities {
  readonly file: string | null;
  readonly maxEntries: number;
  private readonly flushIntervalMs: number;
  private readonly log: ValidatedLogger;
  /** Tags in the order added: tag i at [16i, 16i+16). */
  private tags: Uint8Array;
  private count = 0;
  /** Open addressing, linear probing: slot = tag index + 1, 0 = empty. Length a power of two ≥ 2 × capacity. */
  private index: Uint32Array;
  private pending: Uint8Array[] = [];
  private timer: NodeJS.Timeout | null = null;
  /** Writes run one after another (appends, and the rewrite after a compaction). */
  private writing: Promise<void> = Promise.resolve();
  private closed = false;
  private readonly counters = { loaded: 0, compactions: 0, writeErrors: 0 };

  /**
   * Loads `file` (see the module comment for what is kept, cut or rejected). Never throws for what the file
   * holds; an unreadable file is logged and the set runs in memory only.
   * @throws {ZtError} BAD_CONFIG for a bad option.
   */
  static open(file: string | null, opts: ValidatedIdentitiesOptions = {}): ValidatedIdentities {
    const set = new ValidatedIdentities(file, opts);
    if (file !== null) set.load(file);
    return set;
  }

  private constructor(file: string | null, opts: ValidatedIdentitiesOptions) {
    const maxEntries = opts.maxEntries ?? 1_048_576;
    if (!Number.isSafeInteger(maxEntries) || maxEntries < 2) {
      throw new ZtError(ZtErrorCode.BAD_CONFIG, `validated identities: maxEntries must be an integer ≥ 2, got ${String(maxEntries)}`);
    }
    this.file = file;
    this.maxEntries = maxEntries;
    this.flushIntervalMs = opts.flushIntervalMs ?? 1000;
    this.log = opts.logger ?? silent;
    const cap = Math.min(MIN_CAPACITY, maxEntries);
    this.tags = new Uint8Array(cap * TAG_LENGTH);
    this.index = new Uint32Array(indexSizeFor(cap));
  }

  get size(): number {
    return this.count;
  }

  /** Whether `tag` (from {@link validatedIdentityTag}) was validated. O(1), no allocation. */
  has(tag: Uint8Array): boolean {
    return this.find(tag) >= 0;
  }

  /** Remembers a tag that passed validation; written to the file within `flushIntervalMs`. */
  add(tag: Uint8Array): void {
    if (tag.length !== TAG_LENGTH) throw new ZtError(ZtErrorCode.BAD_VALUE, `validated identities: a tag is ${TAG_LENGTH} bytes, got ${tag.length}`);
    if (this.closed || this.find(tag) >= 0) return;
    if (this.count === this.maxEntries) this.compact();
    this.insert(tag);
    if (this.file === null) return;
    this.pending.push(tag.slice());
    if (this.timer === null) {
      this.timer = setTimeout(() => void this.flush(), this.flushIntervalMs);
      this.timer.unref();
    }
  }

  /** Writes the tags waiting (resolves when they are on disk, or the write failed and was logged). */
  flush(): Promise<void> {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    if (this.file === null || this.pending.length === 0) return this.writing;
    const buf = encodeRecords(this.pending);
    this.pending = [];
    const file = this.file;
    this.writing = this.writing.then(() =>
      appendFile(file, buf).catch((e: unknown) => {
        this.counters.writeErrors++;
        this.log.error({ file, err: (e as Error).message }, 'validated identities: could not append to the file; those identities will be validated again after a restart');
      }),
    );
    return this.writing;
  }

  /** Flushes and stops writing. */
  async close(): Promise<void> {
    await this.flush();
    this.closed = true;
  }

  stats(): ValidatedIdentitiesStats {
    return { entries: this.count, loaded: this.counters.loaded, pendingWrites: this.pending.length, compactions: this.counters.compactions, writeErrors: this.counters.writeErrors };
  }

  // ---------------------------------------------------------------------------------------------

  private load(file: string): void {
    let bytes: Buffer;
    try {
      if (!existsSync(file)) {
        this.writeHeaderSync(file);
        return;
      }
      bytes = readFileSync(file);
    } catch (e) {
      this.log.error({ file, err: (e as Error).message }, 'validated identities: the file cannot be read or created; remembering in memory only (fix the state directory\'s permissions)');
      (this as { file: string | null }).file = null;
      return;
    }
    const reject = (why: string): void => {
      const aside = `${file}.rejected`;
      try {
        renameSync(file, aside);
        this.writeHeaderSync(file);
      } catch (e) {
        this.log.error({ file, err: (e as Error).message }, 'validated identities: could not move the rejected file aside; remembering in memory only');
        (this as { file: string | null }).file = null;
      }
      this.log.error({ file, movedTo: aside, reason: why }, `validated identities: ${file} rejected (${why}); every identity will be validated again`);
    };
    if (bytes.length < HEADER_LENGTH || bytes.toString('latin1', 0, FILE_MAGIC.length) !== FILE_MAGIC) {
      return reject(`it does not start with the ${FILE_MAGIC} header`);
    }
    const whole = Math.floor((bytes.length - HEADER_LENGTH) / RECORD_LENGTH);
    const torn = bytes.length - HEADER_LENGTH - whole * RECORD_LENGTH;
    // The newest maxEntries records, should a smaller bound be configured than the file holds.
    const first = Math.max(0, whole - this.maxEntries);
    for (let i = 0; i < whole; i++) {
      const o = HEADER_LENGTH + i * RECORD_LENGTH;
      const tag = bytes.subarray(o, o + TAG_LENGTH);
      if (crc32(tag) !== bytes.readUInt32BE(o + TAG_LENGTH)) {
        this.clear();
        return reject(`record ${i} at byte ${o} fails its checksum`);
      }
      if (i >= first && this.find(tag) < 0) this.insert(tag);
    }
    this.counters.loaded = this.count;
    if (torn > 0) {
      try {
        truncateSync(file, bytes.length - torn);
        this.log.warn({ file, droppedBytes: torn, kept: this.count }, 'validated identities: the last record was torn (a crash while writing): cut off, the rest kept');
      } catch (e) {
        this.log.error({ file, err: (e as Error).message }, 'validated identities: could not cut off a torn last record; remembering in memory only');
        (this as { file: string | null }).file = null;
      }
    }
    if (first > 0) this.rewrite();
    this.log.info({ file, identities: this.count }, 'validated identities loaded');
  }

  private writeHeaderSync(file: string): void {
    const fd = openSync(file, 'w', 0o600);
    try {
      const h = Buffer.alloc(HEADER_LENGTH);
      h.write(FILE_MAGIC, 0, 'latin1');
      // On disk before the first append: a crash must not leave records without their header.
      writeSync(fd, h);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  }

  private clear(): void {
    this.count = 0;
    this.index.fill(0);
  }

  /** Index of `tag` in `tags`, or −1. */
  private find(tag: Uint8Array): number {
    const mask = this.index.length - 1;
    let s = hashOf(tag) & mask;
    for (;;) {
      const slot = this.index[s]!;
      if (slot === 0) return -1;
      const i = slot - 1;
      if (sameTag(this.tags, i * TAG_LENGTH, tag)) return i;
      s = (s + 1) & mask;
    }
  }

  private insert(tag: Uint8Array): void {
    if (this.count * TAG_LENGTH === this.tags.length) this.grow();
    this.tags.set(tag, this.count * TAG_LENGTH);
    this.count++;
    this.indexTag(this.count - 1);
  }

  private indexTag(i: number): void {
    const mask = this.index.length - 1;
    let s = hashOf(this.tags.subarray(i * TAG_LENGTH, i * TAG_LENGTH + TAG_LENGTH)) & mask;
    while (this.index[s] !== 0) s = (s + 1) & mask;
    this.index[s] = i + 1;
  }

  private grow(): void {
    const cap = Math.min(this.maxEntries, (this.tags.length / TAG_LENGTH) * 2);
    const tags = new Uint8Array(cap * TAG_LENGTH);
    tags.set(this.tags);
    this.tags = tags;
    this.reindex(indexSizeFor(cap));
  }

  private reindex(size: number): void {
    this.index = new Uint32Array(size);
    for (let i = 0; i < this.count; i++) this.indexTag(i);
  }

  /** Forgets the older half (the set is full) and rewrites the file with the rest. */
  private compact(): void {
    const keep = Math.floor(this.maxEntries / 2);
    this.tags.copyWithin(0, (this.count - keep) * TAG_LENGTH, this.count * TAG_LENGTH);
    this.count = keep;
    this.reindex(this.index.length);
    this.counters.compactions++;
    this.log.info({ kept: keep, maxEntries: this.maxEntries }, 'validated identities: full, the older half forgotten');
    this.rewrite();
  }

  /** Replaces the file with the set as it is now (temporary file, then rename: never a half-written file). */
  private rewrite(): void {
    if (this.file === null) return;
    this.pending = [];
    const records: Uint8Array[] = [];
    for (let i = 0; i < this.count; i++) records.push(this.tags.subarray(i * TAG_LENGTH, (i + 1) * TAG_LENGTH));
    const h = Buffer.alloc(HEADER_LENGTH);
    h.write(FILE_MAGIC, 0, 'latin1');
    const body = Buffer.concat([h, encodeRecords(records)]);
    const file = this.file;
    const tmp = `${file}.tmp`;
    this.writing = this.writing.then(() =>
      writeFile(tmp, body, { mode: 0o600 })
        .then(() => rename(tmp, file))
        .catch((e: unknown) => {
          this.counters.writeErrors++;
          this.log.error({ file, err: (e as Error).message }, 'validated identities: could not rewrite the file');
        }),
    );
  }
}

function indexSizeFor(capacity: number): number {
  let n = 1;
  while (n < capacity * 2) n *= 2;
  return n;
}

/** The tag's first 4 bytes: already uniformly random (a SHA-512 prefix). */
function hashOf(tag: Uint8Array): number {
  return ((tag[0]! << 24) | (tag[1]! << 16) | (tag[2]! << 8) | tag[3]!) >>> 0;
}

function sameTag(tags: Uint8Array, o: number, tag: Uint8Array): boolean {
  for (let k = 0; k < TAG_LENGTH; k++) if (tags[o + k] !== tag[k]) return false;
  return true;
}

function encodeRecords(tags: readonly Uint8Array[]): Buffer {
  const buf = Buffer.alloc(tags.length * RECORD_LENGTH);
  tags.forEach((t, i) => {
    buf.set(t, i * RECORD_LENGTH);
    buf.writeUInt32BE(crc32(t), i * RECORD_LENGTH + TAG_LENGTH);
  });
  return buf;
}
