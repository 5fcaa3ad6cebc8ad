/**
 * The probe leaf's identity: its own, in `<state dir>/probe/` (the leaf's home), never the root's. An existing
 * one is read at once (so the root's first heartbeat names the probe); a missing one is made in a worker thread
 * (tools/probe/probe-identity-worker.ts), so the root starts and serves without waiting for it.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { loadOrCreateIdentity } from '../../planet/identity-files.js';
import { ZtError, ZtErrorCode } from '../../vl1/errors.js';
import type { Identity } from '../../vl1/identity.js';

/** The probe leaf's home under the root's state directory. */
export const PROBE_HOME = 'probe';

/**
 * The probe identity if `<stateDir>/probe/identity.secret` exists, else null (make it with {@link makeProbeIdentity}).
 * @throws {ZtError} BAD_CONFIG for an unusable file, or one holding the root's own identity
 */
export function existingProbeIdentity(stateDir: string, root: Identity): Identity | null {
  const dir = join(stateDir, PROBE_HOME);
  if (!existsSync(join(dir, 'identity.secret'))) return null;
  return notTheRoot(loadOrCreateIdentity(dir).identity, root, dir);
}

/** Makes (in a worker thread) and reads the probe identity. @throws {ZtError} as {@link existingProbeIdentity}; FILE */
export function makeProbeIdentity(stateDir: string, root: Identity): Promise<Identity> {
  const dir = join(stateDir, PROBE_HOME);
  return new Promise((resolve, reject) => {
    const w = new Worker(new URL('./probe-identity-worker.js', import.meta.url), { workerData: { dir } });
    w.once('message', () => {
      try {
        resolve(notTheRoot(loadOrCreateIdentity(dir).identity, root, dir));
      } catch (e) {
        reject(e);
      }
    });
    w.once('error', reject);
    w.once('exit', (code) => reject(new ZtError(ZtErrorCode.FILE, `making the probe identity in ${dir} stopped (exit ${code})`)));
  });
}

function notTheRoot(identity: Identity, root: Identity, dir: string): Identity {
  if (identity.address === root.address) throw new ZtError(ZtErrorCode.BAD_CONFIG, `${dir} holds the root's own identity: delete its identity.secret (a probe must have its own)`);
  return identity;
}
