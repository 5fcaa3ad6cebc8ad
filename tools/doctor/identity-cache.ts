/**
 * The doctor's throwaway identity, kept in one file between runs: making one costs the memory-hard hash
 * (a second or more), and a root remembers identities it validated, so a cached one is also cheaper for the
 * roots. It is nobody's real identity: a cache file that cannot be read or parsed is replaced, never fatal.
 */
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { Identity } from '../../vl1/identity.js';

/** $XDG_CACHE_HOME/ztroot/doctor-identity.secret, or ~/.cache/ztroot/doctor-identity.secret. */
export function defaultIdentityCache(env: NodeJS.ProcessEnv = process.env): string {
  const base = env.XDG_CACHE_HOME !== undefined && env.XDG_CACHE_HOME !== '' ? env.XDG_CACHE_HOME : join(homedir(), '.cache');
  return join(base, 'ztroot', 'doctor-identity.secret');
}

/** The identity in `path`, or a new one written there (0600). `cached` tells which. */
export function loadOrCreateThrowawayIdentity(path: string): { identity: Identity; cached: boolean; warning: string | null } {
  try {
    const id = Identity.fromString(readFileSync(path, 'utf8').trim());
    if (id.hasPrivate()) return { identity: id, cached: true, warning: null };
  } catch {
    // missing or unusable: make a new one below
  }
  const identity = Identity.generate();
  try {
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    const tmp = `${path}.${process.pid}.tmp`;
    writeFileSync(tmp, identity.toString(true), { mode: 0o600 });
    renameSync(tmp, path);
    return { identity, cached: false, warning: null };
  } catch (e) {
    return { identity, cached: false, warning: `cannot cache the doctor's identity in ${path} (${e instanceof Error ? e.message : String(e)}): the next run makes a new one; choose a writable --identity-cache` };
  }
}
