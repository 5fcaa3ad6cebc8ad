/**
 * The operator's planet/moon spec (YAML or JSON) → roots, id and timestamp, with every mistake reported as a
 * {@link ZtError} BAD_CONFIG naming the spec file, the key path and the value.
 *
 *   id: 0x000000005eed00b0        # optional; 16 hex digits or 0x… = hex, other digits = decimal
 *   timestamp: 1700000000000      # optional; ms since the epoch (default: now)
 *   roots:
 *     - identity: "e4145b5d9e:0:b5e7…"        # public identity string (a secret one is reduced to public)
 *       endpoints: ["198.51.100.111/9993", "[2001:db8::11]:9993"]
 *     - identityFile: root2/identity.public   # relative to the spec's directory
 *       endpoints: ["198.51.100.112/9993"]
 */
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { ZtError, ZtErrorCode } from '../vl1/errors.js';
import { Identity } from '../vl1/identity.js';
import { formatInetAddress, normalizeInetAddress, parseInetAddress, type InetAddress } from '../vl1/inet-address.js';
import { endpointProblem } from '../vl1/ip-scope.js';
import type { WorldRoot } from './world.js';

export interface PlanetSpec {
  /** Path the spec was read from (for messages and relative identity files). */
  path: string;
  id?: bigint;
  timestamp?: number;
  roots: WorldRoot[];
}

const TOP_KEYS = new Set(['id', 'timestamp', 'roots']);
const ROOT_KEYS = new Set(['identity', 'identityFile', 'endpoints', 'stableEndpoints', 'name', 'comment']);

function bad(spec: string, where: string, msg: string, cause?: unknown): ZtError {
  return new ZtError(ZtErrorCode.BAD_CONFIG, `spec ${spec}: ${where}: ${msg}`, cause === undefined ? undefined : { cause });
}

/**
 * A world id as operators write it: a number, "0x…" hex, 16 hex digits (ZeroTier's own form), or decimal digits.
 * @throws {ZtError} BAD_CONFIG naming `what`.
 */
export function parseWorldId(v: unknown, what: string): bigint {
  let id: bigint | undefined;
  if (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0) id = BigInt(v);
  else if (typeof v === 'bigint') id = v;
  else if (typeof v === 'string') {
    const s = v.trim();
    if (/^0x[0-9a-fA-F]{1,16}$/.test(s)) id = BigInt(s);
    else if (/^[0-9a-fA-F]{16}$/.test(s)) id = BigInt('0x' + s);
    else if (/^[0-9]{1,20}$/.test(s)) id = BigInt(s);
  }
  if (id === undefined || id > 0xffffffffffffffffn) {
    throw new ZtError(ZtErrorCode.BAD_CONFIG, `${what}: ${JSON.stringify(v)} is not a 64-bit world id (use 16 hex digits, 0x…, or decimal)`);
  }
  return id;
}

/**
 * A timestamp in ms: a non-negative safe integer (number or digit string).
 * @throws {ZtError} BAD_CONFIG naming `what`.
 */
export function parseTimestamp(v: unknown, what: string): number {
  const n = typeof v === 'string' && /^[0-9]{1,16}$/.test(v.trim()) ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0) {
    throw new ZtError(ZtErrorCode.BAD_CONFIG, `${what}: ${JSON.stringify(v)} is not a timestamp in ms since 1970`);
  }
  return n;
}

/**
 * Parses and checks a spec's text. `force` lets through endpoints clients cannot use (loopback, link-local…).
 * Identities are checked with the memory-hard hash (`locallyValidate`) unless `validateIdentities` is false.
 * @throws {ZtError} BAD_CONFIG naming the spec, the key and the value.
 */
export function parseSpecText(
  text: string,
  path: string,
  opts: { force?: boolean; validateIdentities?: boolean; readFile?: (p: string) => string } = {},
): PlanetSpec {
  let doc: unknown;
  try {
    // YAML's failsafe schema keeps every scalar a string, so "id: 0000000012345678" stays the 16-hex-digit id
    // it looks like instead of becoming the decimal number 12345678 (or a float past 2^53).
    doc = /\.json$/i.test(path) ? JSON.parse(text) : parseYaml(text, { schema: 'failsafe' });
  } catch (e) {
    throw bad(path, 'syntax', (e as Error).message.split('\n')[0] ?? 'cannot parse', e);
  }
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) throw bad(path, 'top level', 'must be a mapping with "roots"');
  const o = doc as Record<string, unknown>;
  for (const k of Object.keys(o)) if (!TOP_KEYS.has(k)) throw bad(path, k, `unknown key (expected one of: ${[...TOP_KEYS].join(', ')})`);
  const spec: PlanetSpec = { path, roots: [] };
  if (o.id !== undefined && o.id !== null) spec.id = parseWorldId(o.id, `spec ${path}: id`);
  if (o.timestamp !== undefined && o.timestamp !== null) spec.timestamp = parseTimestamp(o.timestamp, `spec ${path}: timestamp`);
  if (!Array.isArray(o.roots) || o.roots.length === 0) throw bad(path, 'roots', 'must be a non-empty list of roots');
  const readFile = opts.readFile ?? ((p: string) => readFileSync(p, 'utf8'));
  const seenAddr = new Map<number, number>();
  o.roots.forEach((r: unknown, i: number) => {
    const where = `roots[${i}]`;
    if (r === null || typeof r !== 'object' || Array.isArray(r)) throw bad(path, where, 'must be a mapping with identity and endpoints');
    const ro = r as Record<string, unknown>;
    for (const k of Object.keys(ro)) if (!ROOT_KEYS.has(k)) throw bad(path, `${where}.${k}`, 'unknown key (expected identity or identityFile, and endpoints)');
    let idText: string;
    let idWhere: string;
    if (typeof ro.identity === 'string' && ro.identityFile === undefined) {
      idText = ro.identity;
      idWhere = `${where}.identity`;
    } else if (typeof ro.identityFile === 'string' && ro.identity === undefined) {
      const file = resolve(dirname(path), ro.identityFile);
      idWhere = `${where}.identityFile ${file}`;
      try {
        idText = readFile(file);
      } catch (e) {
        throw bad(path, idWhere, `cannot read: ${(e as Error).message}`, e);
      }
    } else {
      throw bad(path, where, 'needs exactly one of identity (string) or identityFile (path)');
    }
    let identity: Identity;
    try {
      identity = Identity.fromString(idText.trim());
    } catch (e) {
      throw bad(path, idWhere, `not an identity: ${(e as Error).message}`, e);
    }
    if (identity.privateKey !== null) identity = Identity.fromString(identity.toString(false)); // never embed a secret
    const addr = identity.toString(false).slice(0, 10);
    if (opts.validateIdentities !== false && !identity.locallyValidate()) {
      throw bad(path, idWhere, `identity ${addr} does not validate (its address is not derived from its key)`);
    }
    const dup = seenAddr.get(identity.address);
    if (dup !== undefined) throw bad(path, idWhere, `root ${addr} is already listed as roots[${dup}]`);
    seenAddr.set(identity.address, i);
    const eps = ro.endpoints ?? ro.stableEndpoints;
    if (!Array.isArray(eps) || eps.length === 0) throw bad(path, `${where}.endpoints`, `root ${addr} needs a non-empty list of "ip/port" endpoints`);
    const stableEndpoints: InetAddress[] = [];
    const seenEp = new Set<string>();
    eps.forEach((e: unknown, j: number) => {
      const ew = `${where}.endpoints[${j}]`;
      if (typeof e !== 'string') throw bad(path, ew, `${JSON.stringify(e)} is not an "ip/port" string`);
      let a: InetAddress;
      try {
        a = normalizeInetAddress(parseInetAddress(e.trim())); // ::ffff:a.b.c.d is written as IPv4 anyway
      } catch (err) {
        throw bad(path, ew, `"${e}" is not an IPv4/IPv6 address with port: ${(err as Error).message}`, err);
      }
      const why = endpointProblem(a); // the same check as `ztroot start --endpoint`
      if (why && !(opts.force && a.port !== 0)) throw bad(path, ew, `"${e}" is ${why}${a.port !== 0 ? ' (use --force to keep it)' : ''}`);
      const key = formatInetAddress(a);
      if (seenEp.has(key)) throw bad(path, ew, `"${e}" is listed twice for root ${addr}`);
      seenEp.add(key);
      stableEndpoints.push(a);
    });
    spec.roots.push({ identity, stableEndpoints });
  });
  return spec;
}

/**
 * Reads and checks a spec file (see {@link parseSpecText}).
 * @throws {ZtError} FILE if unreadable, BAD_CONFIG for its content.
 */
export function readSpecFile(path: string, opts: { force?: boolean; validateIdentities?: boolean } = {}): PlanetSpec {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new ZtError(ZtErrorCode.FILE, `cannot read spec ${path}: ${(e as Error).message}`, { cause: e });
  }
  return parseSpecText(text, path, opts);
}
