/**
 * Planet, moon and signing-key files as ZeroTier One and its generators store them.
 *
 * - `planet`: the raw World bytes, in the ZeroTier home directory (`service/OneService.cpp` state functions,
 *   shared/protocol/vl1.md §8.4); moons: `moons.d/<16 hex id>.moon`, raw World bytes as well.
 * - Signing keys: our own format IS mkworld's `.c25519` file (`attic/world/mkworld.cpp`, §8.5): 128 bytes,
 *   public 64 (x25519 ‖ ed25519) ‖ private 64 (x25519 scalar ‖ ed25519 seed). So a key made here works with
 *   mkworld and back. On input we also accept the same 128 bytes as hex text (optionally "public:private") and
 *   the `signingKey` / `signingKey_SECRET` pair of a `zerotier-idtool initmoon` JSON file.
 *
 * Secrets are created with mode 0600 from the first byte (open with O_EXCL), never chmod-ed afterwards, and
 * never overwritten unless the caller says `force`.
 */
import { closeSync, existsSync, fsyncSync, openSync, renameSync, readFileSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { fromHex, toHex } from '../vl1/bytes.js';
import { C25519_PRIVATE_KEY_LENGTH, C25519_PUBLIC_KEY_LENGTH } from '../vl1/constants.js';
import { ZtError, ZtErrorCode } from '../vl1/errors.js';
import { checkKeyPair, parseWorld, serializeWorld, type SigningKeyPair, type World } from './world.js';

/** Where ZeroTier One 1.x keeps its `planet` file (home directories from §8.4; `ZEROTIER_HOME` overrides). */
export const CLIENT_PLANET_PATHS = {
  linux: '/var/lib/zerotier-one/planet',
  bsd: '/var/db/zerotier-one/planet',
  macos: '/Library/Application Support/ZeroTier/One/planet',
  windows: 'C:\\ProgramData\\ZeroTier\\One\\planet',
} as const;

/** mkworld's key file length: public 64 ‖ private 64. */
export const SIGNING_KEY_FILE_LENGTH = C25519_PUBLIC_KEY_LENGTH + C25519_PRIVATE_KEY_LENGTH;

/** File name ZeroTier uses for a moon: `<16 hex id>.moon` (inside `moons.d/`). */
export function moonFileName(id: bigint): string {
  return `${id.toString(16).padStart(16, '0')}.moon`;
}

function ioError(e: unknown, action: string, path: string): ZtError {
  const msg = e instanceof Error ? e.message : String(e);
  return new ZtError(ZtErrorCode.FILE, `${action} ${path}: ${msg}`, { cause: e });
}

/**
 * Reads a whole file.
 * @throws {ZtError} FILE naming the path.
 */
export function readFileBytes(path: string): Uint8Array {
  try {
    return new Uint8Array(readFileSync(path));
  } catch (e) {
    throw ioError(e, 'cannot read', path);
  }
}

/**
 * Reads a `planet` or `*.moon` file.
 * @throws {ZtError} FILE if unreadable; any {@link parseWorld} error, its message prefixed with the path.
 */
export function readWorldFile(path: string): World {
  const bytes = readFileBytes(path);
  try {
    return parseWorld(bytes);
  } catch (e) {
    if (e instanceof ZtError) throw new ZtError(e.code, `${path}: ${e.message}`, { cause: e });
    throw e;
  }
}

/**
 * Creates `path` with `mode` and writes `data`; fails if it exists (O_EXCL), so the mode applies from creation.
 * @throws {ZtError} FILE naming the path (e.g. "already exists").
 */
export function writeFileExclusive(path: string, data: Uint8Array, mode: number): void {
  let fd: number;
  try {
    fd = openSync(path, 'wx', mode);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') {
      throw new ZtError(ZtErrorCode.FILE, `${path} already exists; refusing to overwrite it (use --force)`, { cause: e });
    }
    throw ioError(e, 'cannot create', path);
  }
  try {
    writeSync(fd, data);
    fsyncSync(fd);
  } catch (e) {
    closeSync(fd);
    throw ioError(e, 'cannot write', path);
  }
  closeSync(fd);
}

/**
 * Writes `data` to `path` atomically: a fresh temp file (created with `mode`) in the same directory, then a
 * rename over `path`. Readers see the old or the new content, never a partial file.
 * @throws {ZtError} FILE naming the path.
 */
export function writeFileAtomic(path: string, data: Uint8Array, mode: number): void {
  const tmp = join(dirname(path), `.${basename(path)}.${toHex(new Uint8Array(randomBytes(6)))}.tmp`);
  writeFileExclusive(tmp, data, mode);
  try {
    renameSync(tmp, path);
  } catch (e) {
    try {
      unlinkSync(tmp);
    } catch {
      /* the rename error is the one to report */
    }
    throw ioError(e, 'cannot replace', path);
  }
}

/**
 * Writes a planet/moon file (mode 0644: it is public). Refuses to replace an existing file unless `force`.
 * @throws {ZtError} FILE, or a {@link serializeWorld} error.
 */
export function writeWorldFile(path: string, world: World, opts: { force?: boolean } = {}): Uint8Array {
  const bytes = serializeWorld(world);
  if (opts.force) writeFileAtomic(path, bytes, 0o644);
  else writeFileExclusive(path, bytes, 0o644);
  return bytes;
}

/**
 * Parses a signing key file: mkworld's 128-byte binary, the same as hex text, or an initmoon/genmoon JSON.
 * The public half must belong to the private half.
 * @throws {ZtError} BAD_FORMAT (unknown layout) or BAD_VALUE (mismatched halves), naming `name`.
 */
export function parseSigningKey(bytes: Uint8Array, name: string): SigningKeyPair {
  let pub: Uint8Array;
  let priv: Uint8Array;
  if (bytes.length === SIGNING_KEY_FILE_LENGTH) {
    pub = bytes.slice(0, C25519_PUBLIC_KEY_LENGTH);
    priv = bytes.slice(C25519_PUBLIC_KEY_LENGTH);
  } else {
    const text = Buffer.from(bytes).toString('utf8').trim();
    let pubHex: string | undefined;
    let privHex: string | undefined;
    if (text.startsWith('{')) {
      let j: unknown;
      try {
        j = JSON.parse(text);
      } catch (e) {
        throw new ZtError(ZtErrorCode.BAD_FORMAT, `${name}: not valid JSON (${(e as Error).message})`, { cause: e });
      }
      const o = (j ?? {}) as Record<string, unknown>;
      if (typeof o.signingKey === 'string' && typeof o.signingKey_SECRET === 'string') {
        pubHex = o.signingKey;
        privHex = o.signingKey_SECRET;
      }
    } else {
      const compact = text.replace(/\s+/g, '');
      const parts = compact.split(':');
      if (parts.length === 2) [pubHex, privHex] = parts;
      else if (parts.length === 1 && compact.length === SIGNING_KEY_FILE_LENGTH * 2) {
        pubHex = compact.slice(0, C25519_PUBLIC_KEY_LENGTH * 2);
        privHex = compact.slice(C25519_PUBLIC_KEY_LENGTH * 2);
      }
    }
    if (pubHex === undefined || privHex === undefined) {
      throw new ZtError(
        ZtErrorCode.BAD_FORMAT,
        `${name}: not a signing key (expected mkworld's 128-byte .c25519 file, 256 hex digits, or JSON with signingKey/signingKey_SECRET; got ${bytes.length} bytes)`,
      );
    }
    pub = fromHex(pubHex, `${name}: public key`);
    priv = fromHex(privHex, `${name}: private key`);
    if (pub.length !== C25519_PUBLIC_KEY_LENGTH || priv.length !== C25519_PRIVATE_KEY_LENGTH) {
      throw new ZtError(ZtErrorCode.BAD_FORMAT, `${name}: public/private key must be 64/64 bytes, got ${pub.length}/${priv.length}`);
    }
  }
  const pair = { publicKey: pub, privateKey: priv };
  checkKeyPair(pair, name);
  return pair;
}

/**
 * Reads a signing key file (see {@link parseSigningKey}).
 * @throws {ZtError} FILE, BAD_FORMAT, BAD_VALUE naming the path.
 */
export function readSigningKeyFile(path: string): SigningKeyPair {
  return parseSigningKey(readFileBytes(path), `signing key ${path}`);
}

/** mkworld's `.c25519` layout: public 64 ‖ private 64. */
export function encodeSigningKey(pair: SigningKeyPair): Uint8Array {
  const out = new Uint8Array(SIGNING_KEY_FILE_LENGTH);
  out.set(pair.publicKey, 0);
  out.set(pair.privateKey, C25519_PUBLIC_KEY_LENGTH);
  return out;
}

/**
 * Writes a signing key in mkworld's format with mode 0600 from creation; never replaces an existing file.
 * @throws {ZtError} FILE ("already exists", or an I/O error) naming the path.
 */
export function writeSigningKeyFile(path: string, pair: SigningKeyPair): void {
  checkKeyPair(pair, `signing key for ${path}`);
  writeFileExclusive(path, encodeSigningKey(pair), 0o600);
}

/** True if group or others may read `path` (a secret that should be 0600). False if it does not exist. */
export function isReadableByOthers(path: string): boolean {
  if (!existsSync(path)) return false;
  if (process.platform === 'win32') return false;
  return (statSync(path).mode & 0o077) !== 0;
}
