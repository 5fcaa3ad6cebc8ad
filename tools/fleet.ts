/**
 * `ztroot fleet status` — the fleet as Redis sees it: every root that sent a heartbeat recently, where it
 * is reached, how many peers it holds, and how fresh its heartbeat is.
 */
import { RedisPeerStore } from '../fleet/redis-store.js';
import { formatInetAddress } from '../vl1/inet-address.js';
import { ZtError, ZtErrorCode } from '../vl1/errors.js';

const USAGE = `usage: ztroot fleet status --redis URL --fleet ID [--json]

  --redis URL   the fleet's Redis (env ZTROOT_FLEET_REDIS): redis://, rediss://, redis+sentinel://, redis-cluster://
  --fleet ID    the fleet's name in Redis: the planet id in hex, as the roots use it (env ZTROOT_FLEET)
  --json        machine-readable output
Exit codes: 0 ok, 1 Redis unreachable or no roots, 2 usage.`;

export async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  if (cmd === undefined || cmd === '--help' || cmd === '-h') {
    console.log(USAGE);
    return cmd === undefined ? 2 : 0;
  }
  if (cmd !== 'status') {
    console.error(`ztroot fleet: unknown command "${cmd}"\n\n${USAGE}`);
    return 2;
  }
  let url = process.env.ZTROOT_FLEET_REDIS ?? '';
  let fleet = process.env.ZTROOT_FLEET ?? '';
  let json = false;
  for (let i = 0; i < rest.length; i++) {
    const a = rest[i]!;
    if (a === '--json') json = true;
    else if (a === '--redis' && rest[i + 1] !== undefined) url = rest[++i]!;
    else if (a === '--fleet' && rest[i + 1] !== undefined) fleet = rest[++i]!;
    else if (a === '--help' || a === '-h') {
      console.log(USAGE);
      return 0;
    } else {
      console.error(`ztroot fleet status: unexpected argument "${a}"\n\n${USAGE}`);
      return 2;
    }
  }
  if (url === '' || fleet === '') {
    console.error(`ztroot fleet status: ${url === '' ? '--redis' : '--fleet'} is required\n\n${USAGE}`);
    return 2;
  }
  const store = new RedisPeerStore({ url, fleet });
  try {
    await store.whenHealthy(5000).catch(() => {
      throw new ZtError(ZtErrorCode.UNAVAILABLE, `cannot reach Redis for fleet ${fleet}`);
    });
    const roots = (await store.roots()).sort((a, b) => a.rootId.localeCompare(b.rootId));
    if (json) console.log(JSON.stringify({ fleet, roots }, null, 2));
    else if (roots.length === 0) console.log(`fleet ${fleet}: no root has sent a heartbeat recently`);
    else {
      console.log(`fleet ${fleet}: ${roots.length} root(s)`);
      console.log(`${'root'.padEnd(28)} ${'peers'.padStart(7)} ${'version'.padEnd(8)} ${'expires in'.padStart(10)}  endpoints`);
      for (const r of roots) {
        console.log(
          `${r.rootId.padEnd(28)} ${String(r.info.peers ?? '-').padStart(7)} ${(r.info.version ?? '-').padEnd(8)} ${`${(r.ttlMs / 1000).toFixed(0)} s`.padStart(10)}  ${r.info.endpoints.map(formatInetAddress).join(' ')}`,
        );
      }
    }
    return roots.length === 0 ? 1 : 0;
  } finally {
    await store.close();
  }
}
