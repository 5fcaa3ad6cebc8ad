/**
 * `ztroot fleet status` — the fleet as Redis sees it: every root that sent a heartbeat recently, where it
 * is reached, how many peers it holds, and how fresh its heartbeat is.
 */
import { RedisPeerStore } from '../fleet/redis-store.js';
import { formatInetAddress } from '../vl1/inet-address.js';
import { ZtError, ZtErrorCode } from '../vl1/errors.js';
import { flag, parseCommand, str, UsageError, versionLine, type CommandSpec } from './args.js';

const STATUS: CommandSpec = {
  command: 'ztroot fleet status',
  usage: 'ztroot fleet status --redis URL --fleet ID [--json]',
  about: "Lists the fleet's roots as Redis sees them: every root with a recent heartbeat, its peers and endpoints.",
  options: {
    redis: { type: 'string', arg: 'url', help: "the fleet's Redis (env ZTROOT_FLEET_REDIS): redis://, rediss://, redis+sentinel://, redis-cluster://" },
    fleet: { type: 'string', arg: 'id', help: "the fleet's name in Redis: the planet id in hex, as the roots use it (env ZTROOT_FLEET)" },
    json: { type: 'boolean', help: 'machine-readable output' },
  },
  epilogue: 'Exit codes: 0 ok, 1 Redis unreachable or no roots, 2 usage.',
};

const USAGE = `usage: ztroot fleet <command> [options]

commands:
  status      the fleet's roots as Redis sees them

Run 'ztroot fleet status --help' for its options.`;

export async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  if (cmd === undefined) {
    console.error(USAGE);
    return 2;
  }
  if (cmd === '--help' || cmd === '-h') {
    console.log(USAGE);
    return 0;
  }
  if (cmd === '--version') {
    console.log(versionLine());
    return 0;
  }
  if (cmd !== 'status') throw new UsageError(cmd.startsWith('-') ? `unknown option ${cmd}` : `unknown command ${JSON.stringify(cmd)} (commands: status)`);
  const line = parseCommand(STATUS, rest);
  if (line.kind === 'print') {
    console.log(line.text);
    return 0;
  }
  const url = str(line.values, 'redis') ?? process.env.ZTROOT_FLEET_REDIS ?? '';
  const fleet = str(line.values, 'fleet') ?? process.env.ZTROOT_FLEET ?? '';
  const json = flag(line.values, 'json');
  if (url === '' || fleet === '') throw new UsageError(`${url === '' ? '--redis' : '--fleet'} is required`, STATUS.command);
  let store: RedisPeerStore;
  try {
    store = new RedisPeerStore({ url, fleet });
  } catch (e) {
    throw e instanceof ZtError ? new UsageError(e.message, STATUS.command) : e;
  }
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
