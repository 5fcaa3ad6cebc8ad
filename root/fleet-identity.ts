/**
 * A root process's name in the fleet (its `rootId`), unique without configuration.
 *
 * Hostnames are not identities: containers and cloned VMs share them, and two roots that took the same name
 * each believed the other's peers were their own (nothing was forwarded between them). So the default name is
 * the root's ZeroTier address plus an instance id kept in the state directory: stable across restarts (dashboards
 * and `ztroot fleet status` keep their rows), distinct for every state directory — two processes serving one root
 * identity each have their own. A state directory cloned with its instance id is caught at run time
 * (root/fleet-forwarding.ts sees two live processes write one rootId) and renewed here.
 *
 *   <stateDir>/fleet-instance-id    12 hex digits, made on first start
 */
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { formatAddress } from '../vl1/address.js';
import { ZtError, ZtErrorCode } from '../vl1/errors.js';

export const INSTANCE_ID_FILE = 'fleet-instance-id';
const INSTANCE_RE = /^[0-9a-f]{12}$/;

export interface FleetName {
  rootId: string;
  /** Picks and records a new instance id and returns the new rootId; absent for a configured rootId. */
  renew?: () => string;
}

/**
 * The configured rootId, or `<address>-<instance id>` with the instance id read from (or first written to)
 * `stateDir`.
 * @throws {ZtError} FILE if the instance id file cannot be read or written.
 */
export function fleetName(stateDir: string, address: number, configured: string): FleetName {
  if (configured !== '') return { rootId: configured };
  const file = join(stateDir, INSTANCE_ID_FILE);
  const derived = (instance: string): string => `${formatAddress(address)}-${instance}`;
  let instance = readInstance(file);
  if (instance === null) instance = writeInstance(file);
  return {
    rootId: derived(instance),
    renew: () => derived(writeInstance(file)),
  };
}

function readInstance(file: string): string | null {
  let text: string;
  try {
    text = readFileSync(file, 'utf8').trim();
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new ZtError(ZtErrorCode.FILE, `cannot read the fleet instance id ${file}: ${(e as Error).message}`);
  }
  // Garbage is replaced rather than fatal: the id only has to be unique, not remembered.
  return INSTANCE_RE.test(text) ? text : null;
}

function writeInstance(file: string): string {
  const instance = randomBytes(6).toString('hex');
  try {
    writeFileSync(file, `${instance}\n`, { mode: 0o644 });
  } catch (e) {
    throw new ZtError(ZtErrorCode.FILE, `cannot write the fleet instance id ${file}: ${(e as Error).message} (is the state directory writable?)`);
  }
  return instance;
}
