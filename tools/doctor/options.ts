/**
 * `ztroot doctor`'s command line: the option table (also its --help) and its checks. Every mistake is a
 * UsageError (exit 2) naming the option and the bad value.
 */
import { platform } from 'node:os';
import { flag, parseCommand, str, UsageError, type CommandSpec } from '../args.js';
import { CLIENT_PLANET_PATHS } from '../../planet/files.js';
import { defaultIdentityCache } from './identity-cache.js';
import type { PlanetSource } from './planet-source.js';
import { dirname } from 'node:path';

export const DOCTOR: CommandSpec = {
  command: 'ztroot doctor',
  usage: 'ztroot doctor [--planet FILE | --home DIR | --planet-url URL] [--json] [options]',
  about:
    'Checks, from this host, every root of a planet: HELLO → OK over UDP on each endpoint (round trip, the\n' +
    "address the root sees), this host's NAT behaviour, the TCP/443 fallback relay, the planet each root serves\n" +
    "against the local one, and clock skew; then says what is wrong and how to fix it. With no planet option, the\n" +
    "local ZeroTier One home's planet ($ZEROTIER_HOME, else the platform's default home).",
  options: {
    planet: { type: 'string', arg: 'file', help: 'a planet file' },
    home: { type: 'string', arg: 'dir', help: "a ZeroTier One home directory: its planet file (what this host's client uses)" },
    'planet-url': { type: 'string', arg: 'url', help: "a root's planet API, e.g. http://192.0.2.1:9980/api/planet (also gives that root's clock)" },
    token: { type: 'string', arg: 'token', help: "bearer token for --planet-url (the root's metricsToken; env ZTROOT_METRICS_TOKEN)" },
    json: { type: 'boolean', help: 'print one JSON object (its shape is in the README) instead of text' },
    'timeout-ms': { type: 'string', arg: 'ms', help: 'give up on a root endpoint or relay after this long (100–60000, default 3000)' },
    'tcp-port': { type: 'string', arg: 'port', help: "the roots' TCP fallback relay port (default 443; 0 skips the TCP checks)" },
    'identity-cache': { type: 'string', arg: 'file', help: `where the throwaway identity is kept between runs (default ${defaultIdentityCache()})` },
  },
  epilogue: 'Exit codes: 0 every root usable over UDP and serving the local planet, 1 something is wrong (the advice\nlines say what), 2 usage.',
};

export interface DoctorOptions {
  source: PlanetSource;
  json: boolean;
  timeoutMs: number;
  tcpPort: number;
  identityCache: string;
}

function intOption(v: string | undefined, name: string, min: number, max: number, dflt: number): number {
  if (v === undefined) return dflt;
  const n = /^\d+$/.test(v) ? Number(v) : NaN;
  if (!Number.isSafeInteger(n) || n < min || n > max) throw new UsageError(`--${name} ${JSON.stringify(v)} is not a whole number from ${min} to ${max}`, DOCTOR.command);
  return n;
}

/** The default home: $ZEROTIER_HOME, else where ZeroTier One keeps it on this platform. */
export function defaultHome(env: NodeJS.ProcessEnv = process.env): string {
  if (env.ZEROTIER_HOME !== undefined && env.ZEROTIER_HOME !== '') return env.ZEROTIER_HOME;
  const p = platform();
  const file = p === 'darwin' ? CLIENT_PLANET_PATHS.macos : p === 'win32' ? CLIENT_PLANET_PATHS.windows : /bsd/.test(p) ? CLIENT_PLANET_PATHS.bsd : CLIENT_PLANET_PATHS.linux;
  return dirname(file);
}

/** The options, or the text --help/--version print (exit 0). @throws {UsageError} */
export function parseDoctorArgs(argv: string[], env: NodeJS.ProcessEnv = process.env): DoctorOptions | { print: string } {
  const line = parseCommand(DOCTOR, argv);
  if (line.kind === 'print') return { print: line.text };
  const v = line.values;
  const given = (['planet', 'home', 'planet-url'] as const).filter((k) => str(v, k) !== undefined);
  if (given.length > 1) throw new UsageError(`give one planet source, not ${given.map((k) => `--${k}`).join(' and ')}`, DOCTOR.command);
  for (const k of given) if (str(v, k) === '') throw new UsageError(`--${k} needs a non-empty value`, DOCTOR.command);
  let source: PlanetSource;
  const url = str(v, 'planet-url');
  if (url !== undefined) {
    let u: URL;
    try {
      u = new URL(url);
    } catch {
      throw new UsageError(`--planet-url ${JSON.stringify(url)} is not a URL: give e.g. http://192.0.2.1:9980/api/planet`, DOCTOR.command);
    }
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new UsageError(`--planet-url ${JSON.stringify(url)} is not http:// or https://`, DOCTOR.command);
    const token = str(v, 'token') ?? env.ZTROOT_METRICS_TOKEN;
    source = { kind: 'url', url, ...(token !== undefined && token !== '' ? { token } : {}) };
  } else if (str(v, 'token') !== undefined) {
    throw new UsageError('--token is for --planet-url only', DOCTOR.command);
  } else if (str(v, 'planet') !== undefined) source = { kind: 'file', path: str(v, 'planet')! };
  else source = { kind: 'home', dir: str(v, 'home') ?? defaultHome(env) };
  const cache = str(v, 'identity-cache');
  if (cache === '') throw new UsageError('--identity-cache needs a non-empty value', DOCTOR.command);
  return {
    source,
    json: flag(v, 'json'),
    timeoutMs: intOption(str(v, 'timeout-ms'), 'timeout-ms', 100, 60_000, 3000),
    tcpPort: intOption(str(v, 'tcp-port'), 'tcp-port', 0, 65_535, 443),
    identityCache: cache ?? defaultIdentityCache(env),
  };
}
