/**
 * A node's identity files, as ZeroTier One keeps them beside its planet: `identity.secret` (0600, the
 * zerotier-idtool text form with the private key) and `identity.public`. Both a root's state directory
 * (root/state.ts) and a leaf's home (leaf/home.ts) hold them, made on first start; they live here, with the other
 * files a node keeps beside its planet, because planet/ is the lowest layer with file I/O that both may import.
 */
import { chmodSync, existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { Identity } from '../vl1/identity.js';
import { ZtError, ZtErrorCode } from '../vl1/errors.js';
import { writeFileExclusive } from './files.js';
import { makeDirectory } from './state.js';

export const IDENTITY_SECRET_FILE = 'identity.secret';
export const IDENTITY_PUBLIC_FILE = 'identity.public';

/**
 * Loads `<dir>/identity.secret`, or generates and writes one (0600) on first start.
 * @throws {ZtError} BAD_CONFIG naming the file when it holds no usable secret identity; the file system's
 *   own errors (EACCES, ENOTDIR, …) when the directory cannot be made or written.
 */
export function loadOrCreateIdentity(dir: string): { identity: Identity; created: boolean } {
  makeDirectory(dir, 0o700);
  const secretPath = join(dir, IDENTITY_SECRET_FILE);
  if (existsSync(secretPath)) {
    let identity: Identity;
    try {
      identity = Identity.fromString(readFileSync(secretPath, 'utf8').trim());
    } catch (e) {
      if (!(e instanceof ZtError)) throw e;
      throw new ZtError(ZtErrorCode.BAD_CONFIG, `${secretPath} is not an identity (${e.message}): restore it from a backup, or move it away to have a new one made (clients then need a new planet)`);
    }
    if (!identity.hasPrivate()) throw new ZtError(ZtErrorCode.BAD_CONFIG, `${secretPath} holds no private key (a public identity?): restore identity.secret from a backup`);
    if ((readFileMode(secretPath) & 0o077) !== 0) chmodSync(secretPath, 0o600); // never leave it readable by others
    return { identity, created: false };
  }
  const identity = Identity.generate();
  writeFileExclusive(secretPath, new TextEncoder().encode(identity.toString(true)), 0o600);
  writeFileExclusive(join(dir, IDENTITY_PUBLIC_FILE), new TextEncoder().encode(identity.toString(false)), 0o644);
  return { identity, created: true };
}

function readFileMode(path: string): number {
  return statSync(path).mode & 0o777;
}
