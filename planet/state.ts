/**
 * mkplanet's state directory: the signing key, the current world and its history, kept so that an operator
 * cannot lose the key the next update must be signed with.
 *
 *   <state>/                              mode 0700
 *     update-key.c25519                   0600  the key the current world names in updatesMustBeSignedBy:
 *                                                it signs the NEXT world (mkworld's 128-byte .c25519 format)
 *     update-key.next.c25519              0600  only while a rotation is in progress
 *     planet  or  <16 hex id>.moon              the current world, exactly what clients install
 *     history/<timestamp>-<planet|id.moon>      every world ever written here (never removed)
 *     retired-keys/<timestamp>-update-key.c25519  keys replaced by a rotation (never removed)
 *
 * A root's state directory (`ztroot start`, root/state.ts) is one of these too, with the root's identity files
 * beside: a planet made on first start is written exactly as `mkplanet init` would, so `mkplanet update SPEC
 * --state <the root's state dir>` makes the next one in place and the running root serves it. Roots before this
 * layout kept the key as `planet-update-key.c25519` and no history: {@link loadState} (and so every mkplanet
 * command) renames that key and records the current planet in history/ the first time it sees such a directory.
 *
 * Order of writes in a rotation: the new key is written (0600, O_EXCL) before anything else; the new world is
 * written only after it has been checked against the current one as a client would (`checkWorldUpdate`); only
 * then is the old key moved (renamed, not deleted) to retired-keys/. A crash at any point leaves either the old
 * state with a pending next key (the next rotate reuses it), or the new world with both keys present, which
 * {@link loadState} completes.
 */
import { existsSync, mkdirSync, readdirSync, renameSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { equalBytes, toHex } from '../vl1/bytes.js';
import { c25519Generate } from '../vl1/c25519.js';
import { ZtError, ZtErrorCode } from '../vl1/errors.js';
import {
  isReadableByOthers,
  moonFileName,
  readFileBytes,
  readSigningKeyFile,
  readWorldFile,
  writeFileAtomic,
  writeFileExclusive,
  writeSigningKeyFile,
} from './files.js';
import {
  checkKeyPair,
  checkWorldUpdate,
  describeWorld,
  parseWorld,
  serializeWorld,
  signWorld,
  verifyWorldSignature,
  type SigningKeyPair,
  type UnsignedWorld,
  type World,
} from './world.js';

export const KEY_FILE = 'update-key.c25519';
export const NEXT_KEY_FILE = 'update-key.next.c25519';
export const HISTORY_DIR = 'history';
export const RETIRED_KEYS_DIR = 'retired-keys';
/** Where roots before the shared layout kept the update key of the planet they made. */
export const LEGACY_ROOT_KEY_FILE = 'planet-update-key.c25519';

export interface PlanetState {
  dir: string;
  /** The current world (what clients hold or will be given). */
  world: World;
  worldPath: string;
  /** Its bytes, as on disk. */
  bytes: Uint8Array;
  /** The key the current world names: signs the next world. */
  key: SigningKeyPair;
  keyPath: string;
  /** Things the operator should know (key readable by others, a finished interrupted rotation...). */
  warnings: string[];
}

/** File name ZeroTier gives this world: `planet`, or `<16 hex id>.moon`. */
export function worldFileName(w: Pick<World, 'type' | 'id'>): string {
  return w.type === 'planet' ? 'planet' : moonFileName(w.id);
}

function keyHex(pub: Uint8Array): string {
  return `${toHex(pub.subarray(32, 64)).slice(0, 16)}…`;
}

function findWorldFile(dir: string): string {
  const names = readdirSync(dir).filter((n) => n === 'planet' || /^[0-9a-f]{16}\.moon$/.test(n));
  if (names.length !== 1) {
    throw new ZtError(
      ZtErrorCode.FILE,
      names.length === 0
        ? `state ${dir}: no planet or <id>.moon file in it`
        : `state ${dir}: holds several worlds (${names.join(', ')}); keep one state directory per planet or moon`,
    );
  }
  return join(dir, names[0]!);
}

/** True if `dir` looks like a state directory (has a key file, or an older root's key beside its planet). */
export function isStateDir(dir: string): boolean {
  return existsSync(join(dir, KEY_FILE)) || (existsSync(join(dir, LEGACY_ROOT_KEY_FILE)) && existsSync(join(dir, 'planet')));
}

/**
 * Brings a root state directory of the older layout (key `planet-update-key.c25519`, no history) to this
 * one: renames the key and records the current planet in history/. Does nothing when there is nothing to do.
 * @returns what it did, for the operator, or null.
 * @throws {ZtError} FILE if the directory cannot be written.
 */
export function migrateLegacyRootKey(dir: string): string | null {
  const legacy = join(dir, LEGACY_ROOT_KEY_FILE);
  const keyPath = join(dir, KEY_FILE);
  const planetPath = join(dir, 'planet');
  if (!existsSync(legacy) || existsSync(keyPath) || !existsSync(planetPath)) return null;
  try {
    const world = readWorldFile(planetPath);
    if (!existsSync(join(dir, HISTORY_DIR))) writeHistory(dir, world, readFileBytes(planetPath));
    renameSync(legacy, keyPath); // a rename: the key is never copied, never absent
  } catch (e) {
    if (e instanceof ZtError) throw e;
    throw new ZtError(ZtErrorCode.FILE, `state ${dir}: cannot move ${LEGACY_ROOT_KEY_FILE} to ${KEY_FILE}: ${(e as Error).message}`);
  }
  return `state ${dir}: moved the planet's update key from ${LEGACY_ROOT_KEY_FILE} to ${KEY_FILE} and recorded the planet in ${HISTORY_DIR}/ (the layout mkplanet uses)`;
}

/**
 * Loads a state directory and checks that its key is the one its world names. Completes a rotation that was
 * interrupted after the new world was written.
 * @throws {ZtError} FILE (missing/unreadable), BAD_VALUE (key does not match the world), parse errors.
 */
export function loadState(dir: string): PlanetState {
  if (!existsSync(dir)) throw new ZtError(ZtErrorCode.FILE, `state ${dir} does not exist (run 'mkplanet init' first, or pass --state)`);
  const warnings: string[] = [];
  const migrated = migrateLegacyRootKey(dir);
  if (migrated !== null) warnings.push(migrated);
  const worldPath = findWorldFile(dir);
  const bytes = readFileBytes(worldPath);
  const world = readWorldFile(worldPath);
  const keyPath = join(dir, KEY_FILE);
  const nextPath = join(dir, NEXT_KEY_FILE);
  let key = readSigningKeyFile(keyPath);
  if (existsSync(nextPath)) {
    const next = readSigningKeyFile(nextPath);
    if (equalBytes(next.publicKey, world.updatesMustBeSignedBy) && !equalBytes(key.publicKey, world.updatesMustBeSignedBy)) {
      retireKey(dir, world.timestamp);
      renameSync(nextPath, keyPath);
      key = next;
      warnings.push(`completed an interrupted key rotation: ${NEXT_KEY_FILE} is now ${KEY_FILE}, the old key is in ${RETIRED_KEYS_DIR}/`);
    } else {
      warnings.push(`${nextPath} is a pending key from an interrupted rotation; 'mkplanet rotate' will use it`);
    }
  }
  if (!equalBytes(key.publicKey, world.updatesMustBeSignedBy)) {
    throw new ZtError(
      ZtErrorCode.BAD_VALUE,
      `state ${dir}: ${KEY_FILE} (${keyHex(key.publicKey)}) is not the update key ${describeWorld(world)} names (${keyHex(world.updatesMustBeSignedBy)})`,
    );
  }
  for (const p of [keyPath, nextPath]) {
    if (isReadableByOthers(p)) warnings.push(`${p} is readable by group or others; chmod 600 it`);
  }
  return { dir, world, worldPath, bytes, key, keyPath, warnings };
}

function retireKey(dir: string, timestamp: number): void {
  const rdir = join(dir, RETIRED_KEYS_DIR);
  makeDirectory(rdir, 0o700);
  let target = join(rdir, `${timestamp}-${KEY_FILE}`);
  for (let i = 1; existsSync(target); i++) target = join(rdir, `${timestamp}-${i}-${KEY_FILE}`);
  renameSync(join(dir, KEY_FILE), target);
}

function writeHistory(dir: string, world: World, bytes: Uint8Array): void {
  const hdir = join(dir, HISTORY_DIR);
  makeDirectory(hdir, 0o700);
  writeFileExclusive(join(hdir, `${world.timestamp}-${worldFileName(world)}`), bytes, 0o644);
}

/** Serializes, re-parses and compares, so what is written is exactly what a client will read back. */
function finalBytes(world: World): Uint8Array {
  const bytes = serializeWorld(world);
  const again = serializeWorld(parseWorld(bytes));
  if (!equalBytes(bytes, again)) throw new ZtError(ZtErrorCode.BAD_VALUE, `${describeWorld(world)}: does not re-serialize to the same bytes`);
  return bytes;
}

/**
 * `mkdir -p` with `mode` for what it creates. Not `mkdirSync(…, { recursive: true })`: on Node 20 that spins
 * forever at full CPU for a path under /proc (the kernel answers ENOENT for the child, EEXIST for the parent),
 * so a mistyped state directory hung the process instead of failing.
 * @throws the file system's error (EACCES, ENOENT, …); EEXIST when `dir` exists and is not a directory.
 */
export function makeDirectory(dir: string, mode: number): void {
  const missing: string[] = [];
  for (let p = resolve(dir); !existsSync(p); p = dirname(p)) {
    missing.push(p);
    if (dirname(p) === p) break;
  }
  for (const p of missing.reverse()) mkdirSync(p, { mode });
  if (!statSync(dir).isDirectory()) {
    throw Object.assign(new Error(`EEXIST: file already exists and is not a directory, mkdir '${dir}'`), { code: 'EEXIST', syscall: 'mkdir', path: dir });
  }
}

/** Options of {@link createState} and {@link adoptState}. */
export interface NewStateOptions {
  /**
   * The directory may already hold other files (a root's identity), as long as it holds no world, key or
   * history of its own. Without it the directory must be new or empty.
   */
  shared?: boolean;
}

/** The files of a state directory's own (world, keys, history) that `dir` already holds. */
export function stateFilesIn(dir: string): string[] {
  if (!existsSync(dir)) return [];
  const ours = (n: string) => n === KEY_FILE || n === NEXT_KEY_FILE || n === LEGACY_ROOT_KEY_FILE || n === HISTORY_DIR || n === RETIRED_KEYS_DIR || n === 'planet' || n.endsWith('.moon');
  return readdirSync(dir).filter(ours);
}

function prepareNewDir(dir: string, opts: NewStateOptions = {}): void {
  if (existsSync(dir)) {
    const clash = opts.shared ? stateFilesIn(dir) : readdirSync(dir);
    if (clash.length > 0) {
      throw new ZtError(ZtErrorCode.FILE, `state ${dir} already exists and ${opts.shared ? `holds ${clash.join(', ')}` : 'is not empty'}; use 'mkplanet update' or another --state`);
    }
  } else {
    makeDirectory(dir, 0o700);
  }
}

/**
 * Creates a state directory with a first world. The world names `key` (a fresh key pair if omitted) as its
 * update key and is signed by it, as mkworld does on its first run.
 * @throws {ZtError} FILE if `dir` exists and is not empty; limit errors from the codec.
 */
export function createState(dir: string, unsigned: UnsignedWorld, key?: SigningKeyPair, opts: NewStateOptions = {}): PlanetState {
  const k = key ?? c25519Generate();
  checkKeyPair(k, 'signing key');
  const world = signWorld({ ...unsigned, updatesMustBeSignedBy: k.publicKey }, k);
  if (!verifyWorldSignature(world, k.publicKey)) throw new ZtError(ZtErrorCode.BAD_SIGNATURE, `${describeWorld(world)}: fresh signature does not verify`);
  const bytes = finalBytes(world);
  prepareNewDir(dir, opts);
  writeSigningKeyFile(join(dir, KEY_FILE), k); // first: without the key the world could never be updated
  writeHistory(dir, world, bytes);
  writeFileExclusive(join(dir, worldFileName(world)), bytes, 0o644);
  return loadState(dir);
}

/**
 * Creates a state directory from an existing world (e.g. made by mkworld) and the key it names
 * (mkworld's `current.c25519`).
 * @throws {ZtError} BAD_VALUE if the key is not the one the world names; FILE as {@link createState}.
 */
export function adoptState(dir: string, world: World, key: SigningKeyPair, opts: NewStateOptions = {}): PlanetState {
  checkKeyPair(key, 'signing key');
  if (!equalBytes(key.publicKey, world.updatesMustBeSignedBy)) {
    throw new ZtError(
      ZtErrorCode.BAD_VALUE,
      `signing key ${keyHex(key.publicKey)} is not the update key ${describeWorld(world)} names (${keyHex(world.updatesMustBeSignedBy)}); with mkworld it is current.c25519`,
    );
  }
  const bytes = finalBytes(world);
  prepareNewDir(dir, opts);
  writeSigningKeyFile(join(dir, KEY_FILE), key);
  writeHistory(dir, world, bytes);
  writeFileExclusive(join(dir, worldFileName(world)), bytes, 0o644);
  return loadState(dir);
}

/**
 * Makes, checks and writes the next world: signed by the state's key; naming the same key (update) or a new
 * one (`rotate`). Verified with {@link checkWorldUpdate} against the current world before anything is written.
 * @throws {ZtError} WORLD_UPDATE_REJECTED if a client would refuse it; limit and file errors.
 */
export function commitNext(st: PlanetState, next: UnsignedWorld, opts: { rotate?: boolean } = {}): PlanetState {
  const nextPath = join(st.dir, NEXT_KEY_FILE);
  let nextKey = st.key;
  if (opts.rotate) {
    if (existsSync(nextPath)) {
      nextKey = readSigningKeyFile(nextPath); // pending from an interrupted rotation: reuse, never replace
    } else {
      nextKey = c25519Generate();
      writeSigningKeyFile(nextPath, nextKey);
    }
    if (equalBytes(nextKey.publicKey, st.key.publicKey)) throw new ZtError(ZtErrorCode.BAD_VALUE, `${nextPath}: same key as ${KEY_FILE}`);
  }
  const world = signWorld({ ...next, updatesMustBeSignedBy: nextKey.publicKey }, st.key);
  checkWorldUpdate(st.world, world); // exactly what a client holding the current world will do
  const bytes = finalBytes(world);
  writeHistory(st.dir, world, bytes);
  writeFileAtomic(st.worldPath, bytes, 0o644);
  if (opts.rotate) {
    retireKey(st.dir, world.timestamp);
    renameSync(nextPath, join(st.dir, KEY_FILE));
  }
  const after = loadState(st.dir);
  if (!equalBytes(after.bytes, bytes)) throw new ZtError(ZtErrorCode.FILE, `${st.worldPath}: read back differs from what was written`);
  return after;
}
