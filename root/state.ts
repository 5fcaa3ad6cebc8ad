/**
 * The root's state directory: its identity, and — when no planet is configured — a one-root planet made
 * for it on first start, with the signing key that later updates need.
 *
 *   <stateDir>/identity.secret   0600, zerotier-idtool format
 *   <stateDir>/identity.public
 *   <stateDir>/planet            the planet served (unless --planet points elsewhere)
 *   <stateDir>/planet-update-key.c25519   0600, signs the next planet (mkworld's key file format)
 */
import { chmodSync, existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { networkInterfaces } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { Identity } from '../vl1/identity.js';
import { ZtError, ZtErrorCode } from '../vl1/errors.js';
import { parseInetAddress, type InetAddress } from '../vl1/inet-address.js';
import { c25519Generate } from '../vl1/c25519.js';
import { WORLD_ID_EARTH } from '../vl1/constants.js';
import { signWorld, serializeWorld, type World } from '../planet/world.js';
import { encodeSigningKey, readWorldFile, writeFileExclusive } from '../planet/files.js';

export const IDENTITY_SECRET_FILE = 'identity.secret';
export const IDENTITY_PUBLIC_FILE = 'identity.public';
export const PLANET_KEY_FILE = 'planet-update-key.c25519';

/** Loads `<dir>/identity.secret`, or generates and writes one (0600) on first start. */
export function loadOrCreateIdentity(dir: string): { identity: Identity; created: boolean } {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const secretPath = join(dir, IDENTITY_SECRET_FILE);
  if (existsSync(secretPath)) {
    const identity = Identity.fromString(readFileSync(secretPath, 'utf8').trim());
    if (!identity.hasPrivate()) throw new ZtError(ZtErrorCode.BAD_CONFIG, `${secretPath} holds no private key`);
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

/**
 * Addresses of this host a client could reach: non-internal, not link-local, IPv4 and IPv6, with `port`.
 * Used only to fill a first-start planet when no endpoints are configured.
 */
export function detectEndpoints(port: number): InetAddress[] {
  const out: InetAddress[] = [];
  for (const [name, addrs] of Object.entries(networkInterfaces())) {
    // ZeroTier itself ignores these interface names (its own and tunnels), and so do we.
    if (/^(lo|zt|tun|tap)/.test(name)) continue;
    for (const a of addrs ?? []) {
      if (a.internal) continue;
      if (a.family === 'IPv4' && !a.address.startsWith('169.254.')) out.push({ family: 4, ip: a.address, port });
      if (a.family === 'IPv6' && !/^fe[89ab]/i.test(a.address)) out.push({ family: 6, ip: a.address, port });
    }
  }
  return out.slice(0, 32);
}

/**
 * Loads the planet file, or — when it is missing and it is the default path — makes a one-root planet
 * for `identity` with the given (or detected) endpoints and a fresh signing key.
 */
export function loadOrCreatePlanet(
  planetFile: string,
  stateDir: string,
  identity: Identity,
  endpoints: string[],
  port: number,
): { bytes: Uint8Array; world: World; created: boolean } {
  if (existsSync(planetFile)) {
    const world = readWorldFile(planetFile);
    return { bytes: new Uint8Array(readFileSync(planetFile)), world, created: false };
  }
  if (planetFile !== join(stateDir, 'planet')) {
    throw new ZtError(ZtErrorCode.FILE, `planet file ${planetFile} does not exist (make one with 'ztroot mkplanet', or leave --planet unset to have one made)`);
  }
  const stable = endpoints.length ? endpoints.map((e) => parseInetAddress(e)) : detectEndpoints(port);
  if (stable.length === 0) {
    throw new ZtError(ZtErrorCode.BAD_CONFIG, 'no usable address found on this host for the planet: pass --endpoint <public-ip>/<port> (repeatable)');
  }
  const key = c25519Generate();
  writeFileExclusive(join(stateDir, PLANET_KEY_FILE), encodeSigningKey(key), 0o600);
  let id: bigint;
  do id = randomBytes(8).readBigUInt64BE(0);
  while (id === WORLD_ID_EARTH || id === 0n);
  const world = signWorld(
    { type: 'planet', id, timestamp: Date.now(), updatesMustBeSignedBy: key.publicKey, roots: [{ identity: identity.publicOnly(), stableEndpoints: stable }] },
    key,
  );
  const bytes = serializeWorld(world);
  writeFileExclusive(planetFile, bytes, 0o644);
  return { bytes, world, created: true };
}
