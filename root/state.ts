/**
 * The root's state directory: its identity, and — when no planet is configured — the one-root planet made for
 * it on first start, kept exactly as `mkplanet` keeps a planet (planet/state.ts), so that
 * `mkplanet update <spec> --state <this directory>` makes the next planet in place and the running root
 * serves it (it reloads the file when it changes, and on SIGHUP):
 *
 *   <stateDir>/identity.secret     0600, zerotier-idtool format
 *   <stateDir>/identity.public
 *   <stateDir>/planet              the planet served (unless --planet points elsewhere)
 *   <stateDir>/update-key.c25519   0600, signs the next planet (mkworld's key format)
 *   <stateDir>/history/            every planet made here
 *   <stateDir>/planet.yaml         the planet's spec, for `mkplanet update` (edit it to add or move roots)
 *   <stateDir>/validated-identities  0600, tags of the client identities validated here (root/validated-identities.ts)
 *
 * Directories made by earlier versions (key in `planet-update-key.c25519`, no history) are moved to this
 * layout on the next start (planet/state.ts: migrateLegacyRootKey).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { Identity } from '../vl1/identity.js';
import { ZtError, ZtErrorCode } from '../vl1/errors.js';
import { formatInetAddress, parseInetAddress, parseIp, type InetAddress } from '../vl1/inet-address.js';
import { ipScope, scopeCarriesTraffic } from '../vl1/ip-scope.js';
import { c25519Generate } from '../vl1/c25519.js';
import { WORLD_ID_EARTH, WORLD_ID_MARS } from '../vl1/constants.js';
import { signWorld, serializeWorld, parseWorld, type SigningKeyPair, type World } from '../planet/world.js';
import { readWorldFile, writeFileExclusive } from '../planet/files.js';
import { adoptState, migrateLegacyRootKey } from '../planet/state.js';

// The identity files are shared with the leaf's home (planet/identity-files.ts); re-exported for the root's callers.
import { IDENTITY_PUBLIC_FILE } from '../planet/identity-files.js';
export { IDENTITY_PUBLIC_FILE, IDENTITY_SECRET_FILE, loadOrCreateIdentity } from '../planet/identity-files.js';
/** The spec of the planet made on first start, beside it. */
export const PLANET_SPEC_FILE = 'planet.yaml';
/** A planet lists at most this many endpoints per root (ZT_WORLD_MAX_STABLE_ENDPOINTS_PER_ROOT). */
const MAX_ENDPOINTS = 32;

/**
 * Interfaces whose addresses clients never reach the root at: loopback, container and VM bridges, overlay
 * and VPN tunnels (ZeroTier's own included). Their addresses are private to this host or to an overlay,
 * and a planet listing them sends clients nowhere.
 */
export const SKIPPED_INTERFACES =
  /^(lo|docker|br-|virbr|veth|cni|flannel|cali|cilium|vxlan|genev|weave|kube-|lxcbr|lxdbr|podman|wg|tailscale|zt|tun|tap|utun|ipsec|gre|sit|ip6tnl)/;

/** One address of `os.networkInterfaces()` (only what is used). */
export interface InterfaceAddress {
  address: string;
  family: string | number;
  internal: boolean;
}

export interface ChosenEndpoints {
  endpoints: InetAddress[];
  /** For the operator: private addresses listed or left out, and why. */
  warnings: string[];
}

/**
 * The endpoints a first-start planet lists when none are given: this host's addresses clients can reach,
 * with `port`. Global addresses (vl1/ip-scope.ts) when there are any; private and shared (CGNAT) ones only
 * when nothing else exists, with a warning naming them; never loopback, link-local, or the interfaces of
 * {@link SKIPPED_INTERFACES}. Pure: give it `os.networkInterfaces()`.
 */
export function chooseEndpoints(interfaces: Record<string, InterfaceAddress[] | undefined>, port: number): ChosenEndpoints {
  const global: InetAddress[] = [];
  const nonGlobal: InetAddress[] = [];
  const seen = new Set<string>();
  for (const [name, addrs] of Object.entries(interfaces)) {
    if (SKIPPED_INTERFACES.test(name)) continue;
    for (const a of addrs ?? []) {
      if (a.internal) continue;
      const bytes = parseIp(a.address.replace(/%.*$/, ''));
      if (bytes === null) continue;
      const scope = ipScope(bytes);
      if (!scopeCarriesTraffic(scope)) continue;
      const ep = parseInetAddress(`${a.address.replace(/%.*$/, '')}/${port}`);
      const key = formatInetAddress(ep);
      if (seen.has(key)) continue;
      seen.add(key);
      (scope === 'global' ? global : nonGlobal).push(ep);
    }
  }
  const ips = (l: InetAddress[]) => l.map((e) => e.ip).join(', ');
  const hint = 'pass --endpoint <public ip>/<port> (repeatable) if this host is reached at a public address (e.g. through NAT)';
  if (global.length === 0) {
    const warnings = nonGlobal.length > 0 ? [`only private addresses found (${ips(nonGlobal)}): clients outside their networks cannot reach them; ${hint}`] : [];
    return { endpoints: nonGlobal.slice(0, MAX_ENDPOINTS), warnings };
  }
  const warnings: string[] = [];
  for (const family of [4, 6] as const) {
    const priv = nonGlobal.filter((e) => e.family === family);
    if (priv.length > 0 && !global.some((e) => e.family === family)) {
      warnings.push(`no public IPv${family} address on this host; its private ones (${ips(priv)}) are not listed, so IPv${family}-only clients cannot reach this root: ${hint}`);
    }
  }
  return { endpoints: global.slice(0, MAX_ENDPOINTS), warnings };
}

/** A planet file as served: its bytes and what they hold. */
export interface LoadedPlanet {
  bytes: Uint8Array;
  world: World;
}

/**
 * Reads the planet file to serve and checks that it lists `identity` among its roots (a root serving a
 * planet without itself would never be accepted by a client).
 * @throws {ZtError} FILE if it cannot be read; a parse error; BAD_CONFIG if it does not list this root.
 */
export function loadPlanet(planetFile: string, identity: Identity): LoadedPlanet {
  const world = readWorldFile(planetFile);
  if (!world.roots.some((r) => r.identity.equals(identity))) {
    const address = identity.toString(false).slice(0, 10);
    throw new ZtError(
      ZtErrorCode.BAD_CONFIG,
      `planet ${planetFile} (id ${world.id.toString(16)}) does not list this root (${address}): add it with 'mkplanet update' (its identity.public) or serve another --planet`,
    );
  }
  return { bytes: new Uint8Array(readFileSync(planetFile)), world };
}

/** A first-start planet made in memory: written by {@link writeFirstPlanet} only once the root serves it. */
export interface PlannedPlanet extends LoadedPlanet {
  key: SigningKeyPair;
}

/** A one-root planet for `identity` at `endpoints`, with a fresh signing key and a random id. */
export function planFirstPlanet(identity: Identity, endpoints: InetAddress[]): PlannedPlanet {
  const key = c25519Generate();
  let id: bigint;
  do id = randomBytes(8).readBigUInt64BE(0);
  while (id === WORLD_ID_EARTH || id === WORLD_ID_MARS || id === 0n);
  const world = signWorld(
    { type: 'planet', id, timestamp: Date.now(), updatesMustBeSignedBy: key.publicKey, roots: [{ identity: identity.publicOnly(), stableEndpoints: endpoints }] },
    key,
  );
  const bytes = serializeWorld(world);
  return { bytes, world: parseWorld(bytes), key };
}

/**
 * Writes a planned planet into the state directory as mkplanet's state (key first, then history, then the
 * planet), and its spec beside it.
 * @throws {ZtError} FILE if the directory already holds a planet, key or history, or cannot be written.
 */
export function writeFirstPlanet(stateDir: string, plan: PlannedPlanet): void {
  adoptState(stateDir, plan.world, plan.key, { shared: true });
  const spec = [
    `# The planet 'ztroot start' made for this root. To add a root or change endpoints, edit this file, then:`,
    `#   mkplanet update ${join(stateDir, PLANET_SPEC_FILE)} --state ${stateDir}`,
    '# The running root serves the new planet within seconds (or at SIGHUP); clients take it at their next HELLO.',
    'roots:',
    `  - identityFile: ${IDENTITY_PUBLIC_FILE}`,
    `    endpoints: [${plan.world.roots[0]!.stableEndpoints.map((e) => JSON.stringify(formatInetAddress(e))).join(', ')}]`,
    '',
  ].join('\n');
  writeFileExclusive(join(stateDir, PLANET_SPEC_FILE), new TextEncoder().encode(spec), 0o644);
}

/** Moves a state directory made by an earlier version to the current layout; returns what it did, or null. */
export function migrateStateDir(stateDir: string): string | null {
  return migrateLegacyRootKey(stateDir);
}
