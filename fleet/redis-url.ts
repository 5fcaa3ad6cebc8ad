/**
 * One URL names the fleet's Redis, whatever its topology:
 *
 *   redis://[[user]:password@]host[:6379][/db]                     standalone
 *   rediss://…                                                     the same over TLS
 *   redis+sentinel://[[user]:password@]h1[:26379][,h2[:p2]…]/<master name>[/db][?sentinelPassword=…]
 *   rediss+sentinel://…                                            TLS to the sentinels and to the master
 *   redis-cluster://[[user]:password@]h1[:6379][,h2[:p2]…]         Cluster seed nodes (any few masters)
 *   rediss-cluster://…                                             the same over TLS
 *
 * IPv6 hosts go in brackets (`[2001:db8::1]:6379`). The password in `user:password@` is the data nodes' one;
 * a Sentinel with its own password takes `?sentinelPassword=`. Anything else in the query is refused, so a typo
 * is an error rather than a silently ignored option. Error messages never show the password.
 */
import { ZtError, ZtErrorCode } from '../vl1/errors.js';

export interface RedisHostPort {
  host: string;
  port: number;
}

export interface RedisAuth {
  username?: string;
  password?: string;
  tls: boolean;
}

export type RedisTarget =
  | ({ kind: 'standalone'; node: RedisHostPort; db: number } & RedisAuth)
  | ({ kind: 'sentinel'; sentinels: RedisHostPort[]; masterName: string; db: number; sentinelPassword?: string } & RedisAuth)
  | ({ kind: 'cluster'; nodes: RedisHostPort[] } & RedisAuth);

const URL_RE = /^([a-z+-]+):\/\/(?:([^@/?#]*)@)?([^/?#]+)(\/[^?#]*)?(?:\?([^#]*))?$/i;
const SCHEMES: Record<string, { kind: RedisTarget['kind']; tls: boolean; port: number }> = {
  redis: { kind: 'standalone', tls: false, port: 6379 },
  rediss: { kind: 'standalone', tls: true, port: 6379 },
  'redis+sentinel': { kind: 'sentinel', tls: false, port: 26379 },
  'rediss+sentinel': { kind: 'sentinel', tls: true, port: 26379 },
  'redis-cluster': { kind: 'cluster', tls: false, port: 6379 },
  'rediss-cluster': { kind: 'cluster', tls: true, port: 6379 },
};

/** The URL with any password replaced by `***`, for messages and logs. */
export function redactRedisUrl(url: string): string {
  return String(url).replace(/(:\/\/[^:@/]*:)[^@/]*@/, '$1***@');
}

/**
 * Parses a fleet Redis URL (forms above).
 * @throws {ZtError} BAD_CONFIG naming the (redacted) URL and what is wrong.
 */
export function parseRedisUrl(url: string): RedisTarget {
  const bad = (why: string): ZtError => new ZtError(ZtErrorCode.BAD_CONFIG, `redis URL "${redactRedisUrl(url)}": ${why}`);
  if (typeof url !== 'string' || url.length > 4096) throw bad('must be a string of at most 4096 characters');
  const m = URL_RE.exec(url);
  if (m === null) throw bad('expected scheme://[user:password@]host[:port][,host[:port]…][/path]');
  const [, schemeRaw, userinfo, hostList, path, query] = m as unknown as [string, string, string | undefined, string, string | undefined, string | undefined];
  const scheme = SCHEMES[schemeRaw.toLowerCase()];
  if (scheme === undefined) throw bad(`unknown scheme "${schemeRaw}" (use ${Object.keys(SCHEMES).join(', ')})`);

  const auth: RedisAuth = { tls: scheme.tls };
  if (userinfo !== undefined) {
    const i = userinfo.indexOf(':');
    const user = decode(i < 0 ? userinfo : userinfo.slice(0, i), bad);
    if (user !== '') auth.username = user;
    if (i >= 0) auth.password = decode(userinfo.slice(i + 1), bad);
  }
  const nodes = hostList.split(',').map((h) => parseHostPort(h, scheme.port, bad));
  const params = new URLSearchParams(query ?? '');
  let sentinelPassword: string | undefined;
  for (const [k, v] of params) {
    if (k === 'sentinelPassword' && scheme.kind === 'sentinel') sentinelPassword = v;
    else throw bad(`unknown query parameter "${k}"`);
  }
  const segs = (path ?? '').split('/').filter((s) => s !== '');
  const parseDb = (s: string | undefined): number => {
    if (s === undefined) return 0;
    if (!/^[0-9]{1,2}$/.test(s)) throw bad(`database "${s.slice(0, 20)}" is not a number 0..99`);
    return Number(s);
  };

  switch (scheme.kind) {
    case 'standalone':
      if (nodes.length !== 1) throw bad('a standalone URL names one host (use redis-cluster:// or redis+sentinel:// for several)');
      if (segs.length > 1) throw bad('path must be at most /<db>');
      return { kind: 'standalone', node: nodes[0]!, db: parseDb(segs[0]), ...auth };
    case 'sentinel': {
      if (segs.length < 1 || segs.length > 2) throw bad('path must be /<master name>[/<db>]');
      const t: RedisTarget = { kind: 'sentinel', sentinels: nodes, masterName: decode(segs[0]!, bad), db: parseDb(segs[1]), ...auth };
      if (sentinelPassword !== undefined) t.sentinelPassword = sentinelPassword;
      return t;
    }
    case 'cluster':
      // Cluster has no databases (SELECT is refused): any path is a mistake.
      if (segs.length !== 0) throw bad('a Cluster URL has no path (Cluster has only database 0)');
      return { kind: 'cluster', nodes, ...auth };
  }
}

function decode(s: string, bad: (why: string) => ZtError): string {
  try {
    return decodeURIComponent(s);
  } catch {
    throw bad('bad percent-encoding in the user, password or master name');
  }
}

function parseHostPort(s: string, defaultPort: number, bad: (why: string) => ZtError): RedisHostPort {
  const m = /^(?:\[([0-9A-Fa-f:.]+)\]|([A-Za-z0-9._-]+))(?::([0-9]{1,5}))?$/.exec(s);
  if (m === null) throw bad(`host "${s.slice(0, 80)}" is not host[:port] or [ipv6][:port]`);
  const port = m[3] === undefined ? defaultPort : Number(m[3]);
  if (port < 1 || port > 65535) throw bad(`port ${port} of "${s}" is out of range`);
  return { host: (m[1] ?? m[2])!, port };
}
