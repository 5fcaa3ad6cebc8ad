/**
 * Where `ztroot doctor` gets the planet it checks against: a planet file, a ZeroTier home directory (its
 * `planet` file, which is what a client on this host uses), or a root's `/api/planet` over HTTP
 * (`?format=bin`, the file itself). Missing and unreadable sources are ZtErrors that say how to fix them.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { readFileBytes } from '../../planet/files.js';
import { parseWorld, type World } from '../../planet/world.js';
import { ZtError, ZtErrorCode } from '../../vl1/errors.js';
import type { PlanetSummary } from './report.js';

export type PlanetSource = { kind: 'file'; path: string } | { kind: 'home'; dir: string } | { kind: 'url'; url: string; token?: string };

export interface LoadedPlanet {
  world: World;
  bytes: Uint8Array;
  /** "file:PATH", "home:DIR" or "url:URL". */
  label: string;
  /** For a URL source: the host it names, and its clock minus ours (from the `Date` header), ms. */
  http?: { host: string; clockSkewMs: number | null };
}

export function summarize(world: World, bytes: Uint8Array): PlanetSummary {
  return { id: world.id.toString(16).padStart(16, '0'), timestamp: world.timestamp, sha256: createHash('sha256').update(bytes).digest('hex') };
}

function parse(bytes: Uint8Array, where: string): World {
  try {
    return parseWorld(bytes);
  } catch (e) {
    throw new ZtError(ZtErrorCode.BAD_FORMAT, `${where} is not a planet (${e instanceof Error ? e.message : String(e)}): give a planet file made by mkplanet or ZeroTier's mkworld`);
  }
}

/** @throws {ZtError} FILE (missing, unreadable: "the planet is not installed"), BAD_FORMAT, UNAVAILABLE (HTTP). */
export async function loadPlanet(src: PlanetSource, timeoutMs: number): Promise<LoadedPlanet> {
  if (src.kind === 'file') {
    const bytes = readFileBytes(src.path);
    return { world: parse(bytes, src.path), bytes, label: `file:${src.path}` };
  }
  if (src.kind === 'home') {
    const path = join(src.dir, 'planet');
    if (!existsSync(path)) {
      throw new ZtError(ZtErrorCode.FILE, `no planet installed in ${src.dir}: copy your planet file to ${path} and restart zerotier-one (ZeroTier's FAQ: "a planet not installed")`);
    }
    const bytes = readFileBytes(path);
    return { world: parse(bytes, path), bytes, label: `home:${src.dir}` };
  }
  return loadFromUrl(src.url, src.token, timeoutMs);
}

async function loadFromUrl(raw: string, token: string | undefined, timeoutMs: number): Promise<LoadedPlanet> {
  const url = new URL(raw);
  url.searchParams.set('format', 'bin');
  const t0 = Date.now();
  let res: Response;
  try {
    res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs), ...(token !== undefined ? { headers: { authorization: `Bearer ${token}` } } : {}) });
  } catch (e) {
    const why = e instanceof Error && e.name === 'TimeoutError' ? `no answer within ${timeoutMs} ms` : e instanceof Error ? ((e.cause as Error | undefined)?.message ?? e.message) : String(e);
    throw new ZtError(ZtErrorCode.UNAVAILABLE, `cannot fetch the planet from ${raw}: ${why} (is the root's --http listening there, and reachable from this host?)`);
  }
  const body = new Uint8Array(await res.arrayBuffer());
  const t1 = Date.now();
  if (res.status === 401) throw new ZtError(ZtErrorCode.UNAVAILABLE, `${raw} answered 401: give the root's metrics token with --token`);
  if (res.status !== 200) throw new ZtError(ZtErrorCode.UNAVAILABLE, `${raw} answered HTTP ${res.status}: give a root's /api/planet URL, e.g. http://192.0.2.1:9980/api/planet`);
  const date = Date.parse(res.headers.get('date') ?? '');
  // The Date header has whole seconds: the skew is known to ±1 s, enough for "the root's clock is off by minutes".
  const clockSkewMs = Number.isFinite(date) ? Math.round(date + 500 - (t0 + t1) / 2) : null;
  return { world: parse(body, raw), bytes: body, label: `url:${raw}`, http: { host: url.hostname.replace(/^\[|\]$/g, ''), clockSkewMs } };
}
