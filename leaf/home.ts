/**
 * The leaf's home directory, laid out as ZeroTier One 1.14 lays out its own (`/var/lib/zerotier-one`), so the
 * real `zerotier-cli -D<home>` and `zerotier-idtool` work on it and a home moves between the two:
 *
 *   identity.secret          0600, zerotier-idtool format; made on first start (planet/identity-files.ts, as a root's)
 *   identity.public          rewritten when missing or not the secret's public half (1.14 does the same)
 *   planet                   REQUIRED here (see {@link LeafHome.open} for why there is no fallback to Earth)
 *   moons.d/<16 hex>.moon    orbited moons (`zerotier-cli orbit` ends up writing here)
 *   networks.d/<16 hex>.conf       joined networks: the file's existence IS the membership; its content is
 *                                  the last config as Dictionary text, or "\n" while there is none
 *   networks.d/<16 hex>.local.conf allowManaged/allowGlobal/allowDefault/allowDNS, one `key=0|1` a line
 *   local.conf               JSON; the `settings` that apply to a leaf are typed (leaf/home-local-conf.ts)
 *   authtoken.secret         0600, 24 characters [a-z0-9]: the local API's token (zerotier-cli reads it)
 *   metricstoken.secret      0600, the same for /metrics
 *   zerotier-one.port        the primary port in decimal, no newline (zerotier-cli reads it)
 *   devicemap                `<16 hex nwid>=<ifname>` lines: names TAP devices keep across restarts
 *
 * Facts from service/OneService.cpp, node/Network.cpp, node/Node.cpp and osdep/LinuxEthernetTap.cpp of 1.14.1
 * (shared/protocol/vl2.md §2.1, §7.1, §8.1; vl1.md §8.4, §10). Garbage in the directory (stray names, unreadable
 * or oversized files, moons that do not parse) never stops the leaf: it is skipped and reported through
 * `onNotice`. What the leaf cannot run without (identity, planet, a readable local.conf) is a {@link ZtError}
 * naming the file and the fix.
 */
import { existsSync, readdirSync, readFileSync, statSync, unlinkSync, type Stats } from 'node:fs';
import { join } from 'node:path';
import { randomInt } from 'node:crypto';
import { Identity } from '../vl1/identity.js';
import { ZtError, ZtErrorCode } from '../vl1/errors.js';
import { WORLD_MAX_SERIALIZED_LENGTH } from '../vl1/constants.js';
import { parseWorld, serializeWorld, type World } from '../planet/world.js';
import { moonFileName, writeFileAtomic, writeFileExclusive } from '../planet/files.js';
import { makeDirectory } from '../planet/state.js';
// Not a copy: the root's identity file convention is the leaf's too (see the report on layering).
import { loadOrCreateIdentity, IDENTITY_PUBLIC_FILE, IDENTITY_SECRET_FILE } from '../planet/identity-files.js';
import { DEFAULT_NETWORK_SETTINGS, type NetworkSettings } from './model.js';
import { sortedJson, type JsonOut } from './api-json.js';
import { LOCAL_CONF_FILE, parseLocalConf, typeLocalConf, type LocalConf } from './home-local-conf.js';

export const PLANET_FILE = 'planet';
export const MOONS_DIR = 'moons.d';
export const NETWORKS_DIR = 'networks.d';
export const AUTHTOKEN_FILE = 'authtoken.secret';
export const METRICSTOKEN_FILE = 'metricstoken.secret';
export const PORT_FILE = 'zerotier-one.port';
export const DEVICEMAP_FILE = 'devicemap';

/**
 * Largest `networks.d/<nwid>.conf` 1.14 reads back: `ZT_NETWORKCONFIG_DICT_CAPACITY` − 1 (484 520 with the NUL
 * on x86-64 1.14.1, vl2.md §3.1). A bigger file was not written by a 1.14 node.
 */
export const NETWORK_CONFIG_MAX_BYTES = 484_519;
/** `<nwid>.local.conf` is read into a `Dictionary<4096>` by 1.14. */
export const NETWORK_LOCAL_CONF_MAX_BYTES = 4095;
/** local.conf larger than this is refused (a real one is a few hundred bytes). */
export const LOCAL_CONF_MAX_BYTES = 1 << 20;
/** A token file longer than this is not a token. */
const TOKEN_MAX_LENGTH = 1024;
/** devicemap larger than this is not read (one line per joined network). */
const DEVICEMAP_MAX_BYTES = 64 * 1024;
/** Longest Linux interface name (IFNAMSIZ − 1). */
export const IFNAME_MAX_LENGTH = 15;

/** Something in the home that was skipped or is not applied; the leaf logs it. */
export interface HomeNotice {
  /** The file (or file and key) concerned. */
  file: string;
  message: string;
}

// ---------------------------------------------------------------------------------------------------------------
// networks.d/<nwid>.local.conf

/** A network's local settings as stored, with 1.14's allowManaged address whitelist when one is given. */
export interface StoredNetworkSettings {
  settings: NetworkSettings;
  /** `allowManaged=<ip>,<ip>…` (longer than 5 characters): managed addresses only from these; [] otherwise. */
  allowManagedWhitelist: string[];
}

/** 1.14's Dictionary value escapes (node/Dictionary.hpp `get`). */
function unescapeDictValue(v: string): string {
  return v.replace(/\\(.)/g, (_m, c: string) => (c === 'r' ? '\r' : c === 'n' ? '\n' : c === '0' ? '\0' : c === 'e' ? '=' : c));
}

/** Reads a Dictionary text's keys the way 1.14 looks them up: the first `key=` line wins, values end at CR/LF. */
function dictionaryLines(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.split(/[\r\n]/)) {
    const eq = line.indexOf('=');
    if (eq <= 0) continue;
    const key = line.slice(0, eq);
    if (!out.has(key)) out.set(key, unescapeDictValue(line.slice(eq + 1)));
  }
  return out;
}

/** 1.14's `Dictionary::getB`: true when the value starts with 1, t or T. */
function dictBool(v: string | undefined, dflt: boolean): boolean {
  if (v === undefined) return dflt;
  return v.startsWith('1') || v.startsWith('t') || v.startsWith('T');
}

/** Parses `<nwid>.local.conf` as 1.14 reads it (service/OneService.cpp, network port UP). Never throws. */
export function parseNetworkLocalConf(text: string): StoredNetworkSettings {
  const d = dictionaryLines(text.slice(0, NETWORK_LOCAL_CONF_MAX_BYTES));
  const am = d.get('allowManaged');
  let allowManaged = true;
  const allowManagedWhitelist: string[] = [];
  if (am !== undefined && am.length > 0) {
    // 1.14's "untidy parsing for backward compatibility": up to 5 characters is a boolean, more is an IP list.
    if (am.length <= 5) allowManaged = dictBool(am, false);
    else for (const a of am.split(',')) if (a.trim() !== '') allowManagedWhitelist.push(a.trim());
  }
  return {
    settings: {
      allowManaged,
      allowGlobal: dictBool(d.get('allowGlobal'), false),
      allowDefault: dictBool(d.get('allowDefault'), false),
      allowDNS: dictBool(d.get('allowDNS'), false),
    },
    allowManagedWhitelist,
  };
}

/** `<nwid>.local.conf` exactly as 1.14 writes it (`setNetworkSettings`). */
export function formatNetworkLocalConf(s: NetworkSettings): string {
  const b = (x: boolean) => (x ? '1' : '0');
  return `allowManaged=${b(s.allowManaged)}\nallowGlobal=${b(s.allowGlobal)}\nallowDefault=${b(s.allowDefault)}\nallowDNS=${b(s.allowDNS)}\n`;
}

// ---------------------------------------------------------------------------------------------------------------
// devicemap (osdep/LinuxEthernetTap.cpp)

/**
 * Parses a devicemap: `<16 hex nwid>=<name>` a line. 1.14 on Linux looks up the network id as lower-case
 * `%.16llx` text, so other spellings never match there; they are reported here instead of silently ignored.
 */
export function parseDeviceMap(text: string, report: (line: number, why: string) => void = () => {}): Map<bigint, string> {
  const out = new Map<bigint, string>();
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.replace(/\r$/, '');
    if (line.trim() === '') continue;
    const m = /^([0-9a-f]{16})=(.*)$/.exec(line);
    if (m === null) {
      report(i + 1, `not "<16 lower-case hex network id>=<interface name>": ${JSON.stringify(line.slice(0, 60))}`);
      continue;
    }
    const name = m[2]!;
    const why = ifnameProblem(name);
    if (why !== null) {
      report(i + 1, why);
      continue;
    }
    out.set(BigInt(`0x${m[1]}`), name);
  }
  return out;
}

/** Why `name` cannot be a Linux interface name, or null. */
export function ifnameProblem(name: string): string | null {
  if (!/^[A-Za-z0-9_.-]{1,15}$/.test(name) || name === '.' || name === '..') {
    return `${JSON.stringify(name.slice(0, 40))} is not an interface name (1..${IFNAME_MAX_LENGTH} of A-Z a-z 0-9 _ . -)`;
  }
  return null;
}

// ---------------------------------------------------------------------------------------------------------------
// The home

export interface LeafHomeOptions {
  /** Told about everything skipped or not applied. Default: collected in {@link LeafHome.notices}. */
  onNotice?: (n: HomeNotice) => void;
}

// Lower-case hex only: 1.14 reads and deletes these files by `%.16llx` names, so an upper-case one is joined at
// start but never read, and never removed by a leave (it comes back at every restart).
const NWID_CONF = /^([0-9a-f]{16})\.conf$/;
const NWID_LOCAL_CONF = /^([0-9a-f]{16})\.local\.conf$/;
const MOON_FILE = /^([0-9a-f]{16})\.moon$/;
const UPPER_HEX_NAME = /^[0-9a-fA-F]{16}\./;

function hex16(n: bigint): string {
  return n.toString(16).padStart(16, '0');
}

function fileError(e: unknown, action: string, path: string): ZtError {
  if (e instanceof ZtError) return e;
  return new ZtError(ZtErrorCode.FILE, `cannot ${action} ${path}: ${(e as Error).message}`, { cause: e });
}

/** A secret token file: read (trimmed, as 1.14) or made 0600 with 24 characters of [a-z0-9]. */
function loadOrCreateToken(path: string): { token: string; created: boolean } {
  if (existsSync(path)) {
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (e) {
      throw fileError(e, 'read', path);
    }
    const token = text.trim();
    // zerotier-cli sends it verbatim as a header value: no whitespace or control characters may be in it.
    if (token === '' || token.length > TOKEN_MAX_LENGTH || !/^[\x21-\x7e]+$/.test(token)) {
      throw new ZtError(
        ZtErrorCode.BAD_CONFIG,
        `${path} does not hold a usable token (${token === '' ? 'empty' : `${token.length} characters, printable ASCII without spaces required`}); delete it to have a new one made`,
      );
    }
    return { token, created: false };
  }
  const alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789';
  let token = '';
  for (let i = 0; i < 24; i++) token += alphabet[randomInt(alphabet.length)];
  writeFileExclusive(path, new TextEncoder().encode(token), 0o600);
  return { token, created: true };
}

/** The files of `dir`, or [] when it does not exist. */
function listDir(dir: string): string[] {
  try {
    return readdirSync(dir).sort();
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw fileError(e, 'list', dir);
  }
}

function statOrNull(path: string): Stats | null {
  try {
    return statSync(path);
  } catch {
    return null;
  }
}

/** A leaf's home directory (see the module comment). Open it with {@link LeafHome.open}. */
export class LeafHome {
  readonly dir: string;
  readonly identity: Identity;
  /** True when identity.secret was made by this open. */
  readonly identityCreated: boolean;
  readonly authToken: string;
  readonly metricsToken: string;
  /** The planet as read at open (see {@link savePlanet} for updates). */
  planet: World;
  planetBytes: Uint8Array;
  /** Notices collected when no `onNotice` was given. */
  readonly notices: HomeNotice[] = [];
  private conf: LocalConf;
  private confStamp: string;
  private readonly notify: (n: HomeNotice) => void;

  private constructor(dir: string, opts: LeafHomeOptions) {
    this.dir = dir;
    this.notify = opts.onNotice ?? ((n) => this.notices.push(n));
    this.dropOrphanPublicIdentity();
    // Identity first: it makes the directory (0700) the way the root does.
    const id = loadOrCreateIdentity(dir);
    this.identity = id.identity;
    this.identityCreated = id.created;
    this.ensurePublicIdentity();
    this.authToken = loadOrCreateToken(join(dir, AUTHTOKEN_FILE)).token;
    this.metricsToken = loadOrCreateToken(join(dir, METRICSTOKEN_FILE)).token;
    const planet = this.readPlanet();
    this.planet = planet.world;
    this.planetBytes = planet.bytes;
    const c = this.readLocalConf();
    this.conf = c.conf;
    this.confStamp = c.stamp;
    this.reportConf(this.conf);
  }

  /**
   * Opens (and on first start makes) a home: identity, tokens, planet, local.conf.
   *
   * The planet is required. 1.14 falls back to its compiled-in Earth when `planet` is absent; this leaf does
   * not, on purpose: it exists to run on (and test) a private planet, and a missing file almost always means a
   * mistake (wrong directory, forgotten copy). Falling back would silently send its HELLOs, identity and
   * traffic to ZeroTier's public roots and "work", hiding the mistake. The error says what to copy where.
   * @throws {ZtError} BAD_CONFIG (identity.secret unusable, planet missing or not a planet, local.conf bad,
   *   token file bad), FILE (cannot read or write), a parse error of the planet naming the file
   */
  static open(dir: string, opts: LeafHomeOptions = {}): LeafHome {
    return new LeafHome(dir, opts);
  }

  private notice(file: string, message: string): void {
    this.notify({ file, message });
  }

  /**
   * identity.public without identity.secret is of no use (the key is gone) and would stop a new identity
   * from being written; 1.14 overwrites it, so does this.
   */
  private dropOrphanPublicIdentity(): void {
    const pub = join(this.dir, IDENTITY_PUBLIC_FILE);
    if (existsSync(join(this.dir, IDENTITY_SECRET_FILE)) || !existsSync(pub)) return;
    try {
      unlinkSync(pub);
    } catch (e) {
      throw fileError(e, 'remove', pub);
    }
    this.notice(pub, 'had no identity.secret beside it: replaced by the new identity');
  }

  private ensurePublicIdentity(): void {
    const path = join(this.dir, IDENTITY_PUBLIC_FILE);
    const want = this.identity.toString(false);
    let have: string | null = null;
    try {
      have = readFileSync(path, 'utf8').trim();
    } catch {
      /* missing: written below */
    }
    if (have === want) return;
    writeFileAtomic(path, new TextEncoder().encode(want), 0o644);
    if (have !== null) this.notice(path, 'did not match identity.secret; rewritten from it (as 1.14 does)');
  }

  private readPlanet(): { world: World; bytes: Uint8Array } {
    const path = join(this.dir, PLANET_FILE);
    const st = statOrNull(path);
    if (st === null) {
      throw new ZtError(
        ZtErrorCode.BAD_CONFIG,
        `${path} is missing: this leaf joins your own planet, never ZeroTier's built-in one. Copy your roots' planet file there, ` +
          `or start once with 'ztroot leaf --planet FILE' (a root made by 'ztroot start' keeps it at <its state directory>/planet; 'mkplanet' writes one too)`,
      );
    }
    if (!st.isFile()) throw new ZtError(ZtErrorCode.BAD_CONFIG, `${path} is not a file: it must be your roots' planet file`);
    if (st.size > WORLD_MAX_SERIALIZED_LENGTH) {
      throw new ZtError(ZtErrorCode.BAD_CONFIG, `${path} is ${st.size} bytes, larger than any planet (${WORLD_MAX_SERIALIZED_LENGTH}): copy your roots' planet file there`);
    }
    let bytes: Uint8Array;
    try {
      bytes = new Uint8Array(readFileSync(path));
    } catch (e) {
      throw fileError(e, 'read', path);
    }
    let world: World;
    try {
      world = parseWorld(bytes);
    } catch (e) {
      if (e instanceof ZtError) throw new ZtError(e.code, `${path} is not a planet file (${e.message}): copy your roots' planet file there`, { cause: e });
      throw e;
    }
    if (world.type !== 'planet') {
      throw new ZtError(ZtErrorCode.BAD_CONFIG, `${path} holds a moon (id ${hex16(world.id)}), not a planet: moons go in ${MOONS_DIR}/; put your roots' planet file here`);
    }
    return { world, bytes };
  }

  /** Keeps a planet update the leaf accepted (1.14 writes it over `planet`, so a restart starts from it). */
  savePlanet(world: World): void {
    const bytes = serializeWorld(world);
    writeFileAtomic(join(this.dir, PLANET_FILE), bytes, 0o644);
    this.planet = world;
    this.planetBytes = bytes;
  }

  // --- local.conf ---------------------------------------------------------------------------------------------

  private readLocalConf(): { conf: LocalConf; stamp: string } {
    const path = join(this.dir, LOCAL_CONF_FILE);
    const st = statOrNull(path);
    if (st === null) return { conf: parseLocalConf('', path), stamp: 'absent' };
    if (!st.isFile()) throw new ZtError(ZtErrorCode.BAD_CONFIG, `${path} is not a file`);
    if (st.size > LOCAL_CONF_MAX_BYTES) throw new ZtError(ZtErrorCode.BAD_CONFIG, `${path} is ${st.size} bytes; more than ${LOCAL_CONF_MAX_BYTES} is not a local.conf`);
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (e) {
      throw fileError(e, 'read', path);
    }
    return { conf: parseLocalConf(text, path), stamp: `${st.ino}:${st.size}:${st.mtimeMs}` };
  }

  private reportConf(c: LocalConf): void {
    const path = join(this.dir, LOCAL_CONF_FILE);
    for (const k of c.unknownKeys) this.notice(path, `unknown key "${k}" (not a ZeroTier 1.14 setting): kept, not applied`);
    for (const k of c.notApplied) this.notice(path, `"${k}" is a ZeroTier setting this leaf does not apply: kept, ignored`);
  }

  /** local.conf as held now. */
  get localConf(): LocalConf {
    return this.conf;
  }

  /**
   * Re-reads local.conf when the file changed since it was last read (1.14 checks every 10 s). A bad new
   * version is reported and the previous one kept: an edit in progress never stops a running leaf.
   * @returns the new local.conf, or null when unchanged or unusable
   */
  reloadLocalConfIfChanged(): LocalConf | null {
    const path = join(this.dir, LOCAL_CONF_FILE);
    const st = statOrNull(path);
    const stamp = st === null ? 'absent' : `${st.ino}:${st.size}:${st.mtimeMs}`;
    if (stamp === this.confStamp) return null;
    try {
      const c = this.readLocalConf();
      this.conf = c.conf;
      this.confStamp = c.stamp;
      this.reportConf(c.conf);
      return c.conf;
    } catch (e) {
      this.confStamp = stamp; // reported once per change, not at every check
      this.notice(path, `not reloaded, the previous settings stay: ${(e as Error).message}`);
      return null;
    }
  }

  /**
   * Merges `patch` into local.conf's `settings` and writes the file (sorted keys, 4-space indent, as 1.14's
   * POST /config/settings does). Unlike 1.14 it checks the result first: a bad value changes nothing.
   * @throws {ZtError} BAD_CONFIG naming the key and value; FILE when it cannot be written
   */
  mergeSettings(patch: Record<string, unknown>): LocalConf {
    const path = join(this.dir, LOCAL_CONF_FILE);
    const oldSettings = this.conf.raw['settings'];
    const settings = { ...(typeof oldSettings === 'object' && oldSettings !== null && !Array.isArray(oldSettings) ? oldSettings : {}), ...patch };
    const raw = { ...this.conf.raw, settings };
    const next = typeLocalConf(raw, path);
    let text: string;
    try {
      text = sortedJson(raw as JsonOut, 4);
    } catch (e) {
      throw new ZtError(ZtErrorCode.BAD_CONFIG, `${path}: the new settings cannot be written as JSON (${(e as Error).message})`);
    }
    writeFileAtomic(path, new TextEncoder().encode(text), 0o644);
    const st = statOrNull(path);
    this.conf = next;
    this.confStamp = st === null ? 'absent' : `${st.ino}:${st.size}:${st.mtimeMs}`;
    return next;
  }

  // --- ports ----------------------------------------------------------------------------------------------------

  /** Writes `zerotier-one.port` (decimal, no newline, as 1.14) for zerotier-cli and GUIs. */
  writePortFile(port: number): void {
    if (!Number.isInteger(port) || port < 1 || port > 65535) throw new ZtError(ZtErrorCode.BAD_VALUE, `zerotier-one.port: ${port} is not a port (1..65535)`);
    writeFileAtomic(join(this.dir, PORT_FILE), new TextEncoder().encode(String(port)), 0o644);
  }

  // --- networks.d -----------------------------------------------------------------------------------------------

  private networksDir(): string {
    return join(this.dir, NETWORKS_DIR);
  }

  private confPath(nwid: bigint): string {
    return join(this.networksDir(), `${hex16(nwid)}.conf`);
  }

  private localConfPath(nwid: bigint): string {
    return join(this.networksDir(), `${hex16(nwid)}.local.conf`);
  }

  /** The joined networks: every `networks.d/<16 hex>.conf` (1.14 joins each at start), in id order. */
  joinedNetworks(): bigint[] {
    const ids: bigint[] = [];
    for (const f of listDir(this.networksDir())) {
      const m = NWID_CONF.exec(f);
      if (m !== null) ids.push(BigInt(`0x${m[1]}`));
      else if (UPPER_HEX_NAME.test(f) && (f.endsWith('.conf'))) this.notice(join(this.networksDir(), f), `upper-case network id: ignored (ZeroTier reads only lower-case names; rename it to ${f.toLowerCase()})`);
      else if (!NWID_LOCAL_CONF.test(f) && !f.startsWith('.')) this.notice(join(this.networksDir(), f), 'not a network file (<16 hex id>.conf or .local.conf): ignored');
    }
    return [...new Set(ids)].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  }

  /**
   * Each joined network's stored config bytes (Dictionary text as 1.14 writes it). A network joined but never
   * configured has "\n" (1.14 writes that on join) or an empty file: both mean "no config yet". A file that
   * cannot be read or is larger than {@link NETWORK_CONFIG_MAX_BYTES} is reported and given as empty — the
   * network stays joined and is configured afresh.
   */
  loadNetworkConfigs(): Map<bigint, Uint8Array> {
    const out = new Map<bigint, Uint8Array>();
    for (const nwid of this.joinedNetworks()) {
      const path = this.confPath(nwid);
      const st = statOrNull(path);
      if (st === null || !st.isFile()) {
        this.notice(path, 'not a regular file: the network stays joined, its config is requested afresh');
        out.set(nwid, new Uint8Array(0));
        continue;
      }
      if (st.size > NETWORK_CONFIG_MAX_BYTES) {
        this.notice(path, `${st.size} bytes, more than a 1.14 network config can be (${NETWORK_CONFIG_MAX_BYTES}): ignored, the config is requested afresh`);
        out.set(nwid, new Uint8Array(0));
        continue;
      }
      try {
        out.set(nwid, new Uint8Array(readFileSync(path)));
      } catch (e) {
        this.notice(path, `cannot be read (${(e as Error).message}): the config is requested afresh`);
        out.set(nwid, new Uint8Array(0));
      }
    }
    return out;
  }

  /**
   * Persists a network's accepted config (its Dictionary bytes) as `networks.d/<nwid>.conf`, atomically, and
   * only when it differs from what is there (as 1.14, to spare the disk).
   * @throws {ZtError} TOO_LONG beyond {@link NETWORK_CONFIG_MAX_BYTES}; FILE naming the path
   */
  saveNetworkConfig(nwid: bigint, dictBytes: Uint8Array): void {
    if (dictBytes.length > NETWORK_CONFIG_MAX_BYTES) {
      throw new ZtError(ZtErrorCode.TOO_LONG, `network ${hex16(nwid)} config: ${dictBytes.length} bytes, 1.14 keeps at most ${NETWORK_CONFIG_MAX_BYTES}`);
    }
    const path = this.confPath(nwid);
    try {
      const old = readFileSync(path);
      if (old.length === dictBytes.length && old.equals(dictBytes)) return;
    } catch {
      /* absent or unreadable: write it */
    }
    makeDirectory(this.networksDir(), 0o755);
    writeFileAtomic(path, dictBytes, 0o644);
  }

  /** Records a join: writes "\n" as the config when there is none yet (1.14 node/Network.cpp). Idempotent. */
  markJoined(nwid: bigint): void {
    if (existsSync(this.confPath(nwid))) return;
    makeDirectory(this.networksDir(), 0o755);
    writeFileAtomic(this.confPath(nwid), new TextEncoder().encode('\n'), 0o644);
  }

  /**
   * Records a leave: removes `<nwid>.conf` and `<nwid>.local.conf` (1.14 removes both).
   * @returns whether the network was joined (its .conf existed)
   */
  forgetNetwork(nwid: bigint): boolean {
    let was = false;
    for (const [path, isConf] of [[this.confPath(nwid), true], [this.localConfPath(nwid), false]] as const) {
      try {
        unlinkSync(path);
        if (isConf) was = true;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw fileError(e, 'remove', path);
      }
    }
    return was;
  }

  /** A network's stored local settings, or null when it has no `<nwid>.local.conf` (then 1.14's defaults apply). */
  loadNetworkSettings(nwid: bigint): StoredNetworkSettings | null {
    const path = this.localConfPath(nwid);
    const st = statOrNull(path);
    if (st === null) return null;
    try {
      if (!st.isFile()) throw new Error('not a regular file');
      const buf = readFileSync(path);
      return parseNetworkLocalConf(buf.subarray(0, NETWORK_LOCAL_CONF_MAX_BYTES).toString('latin1'));
    } catch (e) {
      this.notice(path, `cannot be read (${(e as Error).message}): the defaults apply (${formatNetworkLocalConf(DEFAULT_NETWORK_SETTINGS).trim().replace(/\n/g, ', ')})`);
      return null;
    }
  }

  /** Writes a network's local settings in 1.14's format (which keeps no allowManaged whitelist). */
  saveNetworkSettings(nwid: bigint, s: NetworkSettings): void {
    makeDirectory(this.networksDir(), 0o755);
    writeFileAtomic(this.localConfPath(nwid), new TextEncoder().encode(formatNetworkLocalConf(s)), 0o644);
  }

  // --- moons.d --------------------------------------------------------------------------------------------------

  /**
   * The moons to orbit: every `moons.d/<16 hex id>.moon` holding a moon with that id. Others are reported and
   * skipped (1.14 would fail to load them as well).
   */
  loadMoons(): World[] {
    const dir = join(this.dir, MOONS_DIR);
    const out: World[] = [];
    for (const f of listDir(dir)) {
      const path = join(dir, f);
      const m = MOON_FILE.exec(f);
      if (m === null) {
        if (UPPER_HEX_NAME.test(f) && f.endsWith('.moon')) this.notice(path, `upper-case moon id: ignored (ZeroTier reads only lower-case names; rename it to ${f.toLowerCase()})`);
        else if (!f.startsWith('.')) this.notice(path, 'not a moon file (<16 hex id>.moon): ignored');
        continue;
      }
      const st = statOrNull(path);
      if (st === null || !st.isFile() || st.size > WORLD_MAX_SERIALIZED_LENGTH) {
        this.notice(path, `not a moon (${st === null || !st.isFile() ? 'not a regular file' : `${st.size} bytes, more than ${WORLD_MAX_SERIALIZED_LENGTH}`}): ignored`);
        continue;
      }
      let w: World;
      try {
        w = parseWorld(new Uint8Array(readFileSync(path)));
      } catch (e) {
        this.notice(path, `not a moon (${(e as Error).message}): ignored`);
        continue;
      }
      const id = BigInt(`0x${m[1]}`);
      if (w.type !== 'moon' || w.id !== id) {
        this.notice(path, `holds a ${w.type} with id ${hex16(w.id)}, not moon ${hex16(id)}: ignored`);
        continue;
      }
      out.push(w);
    }
    return out;
  }

  /** Keeps an orbited moon (or its update) as `moons.d/<id>.moon`. */
  saveMoon(moon: World): void {
    if (moon.type !== 'moon') throw new ZtError(ZtErrorCode.BAD_VALUE, `world ${hex16(moon.id)} is a ${moon.type}, not a moon`);
    const dir = join(this.dir, MOONS_DIR);
    makeDirectory(dir, 0o755);
    writeFileAtomic(join(dir, moonFileName(moon.id)), serializeWorld(moon), 0o644);
  }

  /** Deorbits: removes `moons.d/<id>.moon`; false when there was none. */
  removeMoon(id: bigint): boolean {
    const path = join(this.dir, MOONS_DIR, moonFileName(id));
    try {
      unlinkSync(path);
      return true;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw fileError(e, 'remove', path);
    }
  }

  // --- devicemap ------------------------------------------------------------------------------------------------

  /** `devicemap` as 1.14 on Linux reads it: network id → interface name to reuse. Bad lines are reported. */
  readDeviceMap(): Map<bigint, string> {
    const path = join(this.dir, DEVICEMAP_FILE);
    const st = statOrNull(path);
    if (st === null) return new Map();
    if (!st.isFile() || st.size > DEVICEMAP_MAX_BYTES) {
      this.notice(path, st.isFile() ? `${st.size} bytes, more than ${DEVICEMAP_MAX_BYTES}: ignored` : 'not a regular file: ignored');
      return new Map();
    }
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (e) {
      this.notice(path, `cannot be read (${(e as Error).message}): ignored`);
      return new Map();
    }
    return parseDeviceMap(text, (line, why) => this.notice(`${path}:${line}`, `${why}: line ignored`));
  }

  /**
   * Records the interface name of a network in `devicemap` (replacing its line, keeping the others). 1.14 on
   * Linux only reads this file — its names are derived from the network id — so writing is for names that
   * must stay when the derived one was taken.
   * @throws {ZtError} BAD_VALUE for a name Linux would refuse; FILE naming the path
   */
  setDeviceName(nwid: bigint, name: string): void {
    const why = ifnameProblem(name);
    if (why !== null) throw new ZtError(ZtErrorCode.BAD_VALUE, `devicemap entry for ${hex16(nwid)}: ${why}`);
    const path = join(this.dir, DEVICEMAP_FILE);
    let lines: string[] = [];
    try {
      lines = readFileSync(path, 'utf8').split('\n').filter((l) => l.trim() !== '');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw fileError(e, 'read', path);
    }
    const key = `${hex16(nwid)}=`;
    const kept = lines.filter((l) => !l.startsWith(key));
    kept.push(`${key}${name}`);
    writeFileAtomic(path, new TextEncoder().encode(`${kept.join('\n')}\n`), 0o644);
  }
}
