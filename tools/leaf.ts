/**
 * `ztroot leaf`: the embedded leaf node (leaf/leaf.ts) as a process — what `zerotier-one` is, on a home directory
 * laid out as ZeroTier's, with the local API `zerotier-cli` drives. It exists to test a private planet end to end
 * from the hosts that use it; a host that wants a ZeroTier client for good can run either.
 */
import { copyFileSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pino } from 'pino';
import { Leaf } from '../leaf/leaf.js';
import { HostPolicy } from '../root/host-check.js';
import { PLANET_FILE } from '../leaf/home.js';
import { parseWorld, describeWorld, type World } from '../planet/world.js';
import { parseCommand, str, strs, UsageError, type CommandSpec } from './args.js';
import { CommandFailure } from './run-main.js';
import { leafUdp } from './leaf-udp.js';
import type { UdpPathMode } from '../relay/udp-socket.js';
import { aesEngineLogFields } from './aes-engine.js';

export const DEFAULT_LEAF_HOME = '/var/lib/ztroot-leaf';

const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'];

const SPEC: CommandSpec = {
  command: 'ztroot leaf',
  usage: 'ztroot leaf [--home DIR] [--planet FILE] [--join NWID]... [options]',
  about: `Runs a ZeroTier leaf node (VL1 and VL2, a Linux TAP device per network) on a private planet: it answers
the local JSON API on 127.0.0.1:<primaryPort> that zerotier-cli uses, keeps its identity, planet, joined networks
and their configs in the home directory as ZeroTier One 1.14 does, and reads local.conf from there.

The home needs a planet: give it with --planet on the first start (it is copied in), or copy it to <home>/planet.
There is no fallback to ZeroTier's public roots. TAP devices need CAP_NET_ADMIN and /dev/net/tun.`,
  options: {
    home: { type: 'string', arg: 'dir', help: `home directory (default ${DEFAULT_LEAF_HOME}; made on first start)` },
    planet: {
      type: 'string',
      arg: 'file',
      help: 'the planet to use: copied into the home when it has none, or when it is a newer revision of the same planet',
    },
    join: { type: 'string', multiple: true, arg: 'nwid', help: 'join this network at start (16 hex digits; kept, like zerotier-cli join)' },
    'log-level': { type: 'string', arg: 'level', help: 'trace|debug|info|warn|error|fatal|silent (default info)' },
    udp: {
      type: 'string',
      arg: 'path',
      help: 'UDP sockets: auto (batched recvmmsg/sendmmsg when the native addon is built, else node:dgram; ZTROOT_UDP overrides), batched (fail without the addon) or dgram (default auto)',
    },
  },
  epilogue: `example:
  ztroot leaf --home /var/lib/ztroot-leaf --planet /etc/ztroot/planet --join ff00160016000000
  zerotier-cli -D/var/lib/ztroot-leaf info

Stops cleanly (TAP devices removed, port mappings deleted) on SIGTERM or SIGINT.
Exit codes: 0 stopped by a signal, 1 failed (the message says what and how to fix it), 2 usage, 70 a bug.`,
};

interface LeafArgs {
  home: string;
  planet: string | undefined;
  join: bigint[];
  logLevel: string;
  udp: UdpPathMode;
}

const UDP_MODES: readonly UdpPathMode[] = ['auto', 'batched', 'dgram'];

export function parseLeafArgs(argv: string[]): LeafArgs | { kind: 'print'; text: string } {
  const line = parseCommand(SPEC, argv);
  if (line.kind === 'print') return line;
  const v = line.values;
  const logLevel = str(v, 'log-level') ?? 'info';
  if (!LOG_LEVELS.includes(logLevel)) throw new UsageError(`--log-level ${JSON.stringify(logLevel)}: expected ${LOG_LEVELS.join('|')}`);
  const join = strs(v, 'join').map((s) => {
    if (!/^[0-9a-fA-F]{16}$/.test(s) || /^0+$/.test(s)) throw new UsageError(`--join ${JSON.stringify(s)}: a network id is 16 hex digits, not all zero`);
    return BigInt(`0x${s}`);
  });
  const udp = str(v, 'udp') ?? 'auto';
  if (!(UDP_MODES as readonly string[]).includes(udp)) throw new UsageError(`--udp ${JSON.stringify(udp)}: expected ${UDP_MODES.join('|')}`);
  return { home: resolve(str(v, 'home') ?? DEFAULT_LEAF_HOME), planet: str(v, 'planet'), join, logLevel, udp: udp as UdpPathMode };
}

function readPlanet(file: string, what: string): World {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(file);
  } catch (e) {
    throw new CommandFailure(`cannot read ${what} ${file}: ${(e as Error).message}`);
  }
  let w: World;
  try {
    w = parseWorld(bytes);
  } catch (e) {
    throw new CommandFailure(`${what} ${file} is not a planet: ${(e as Error).message}`);
  }
  if (w.type !== 'planet') throw new CommandFailure(`${what} ${file} is a moon (${describeWorld(w)}), not a planet`);
  return w;
}

/**
 * --planet: into the home when it has none, or when it is a newer revision of the planet there; an older revision
 * is left (the home's came from a signed update) and another planet altogether is refused, naming both.
 */
function installPlanet(home: string, file: string, log: pino.Logger): void {
  const given = readPlanet(file, '--planet');
  const target = join(home, PLANET_FILE);
  mkdirSync(home, { recursive: true, mode: 0o700 });
  if (existsSync(target)) {
    const held = readPlanet(target, 'the home planet');
    if (held.id !== given.id) {
      throw new CommandFailure(
        `--planet ${file} is planet ${given.id.toString(16)} but ${target} holds planet ${held.id.toString(16)}; a leaf keeps one planet: remove ${target} to change planets`,
      );
    }
    if (given.timestamp <= held.timestamp) {
      if (given.timestamp < held.timestamp) log.info({ given: given.timestamp, held: held.timestamp }, '--planet is older than the home planet (an update was adopted): keeping the home planet');
      return;
    }
  }
  copyFileSync(file, target);
  log.info({ planet: describeWorld(given), to: target }, 'planet installed');
}

export async function main(argv: string[]): Promise<number> {
  const args = parseLeafArgs(argv);
  if ('kind' in args) {
    console.log(args.text);
    return 0;
  }
  const log = pino({ level: args.logLevel, base: { svc: 'ztroot-leaf' } });
  const aes = aesEngineLogFields();
  if (aes.why !== undefined) log.info(aes, 'AES-GMAC-SIV on node:crypto (packet suite 3)');
  if (args.planet !== undefined) installPlanet(args.home, args.planet, log);
  let udp: ReturnType<typeof leafUdp>;
  try {
    udp = leafUdp(args.udp);
  } catch (e) {
    throw new CommandFailure((e as Error).message);
  }
  log.info({ udp: udp.path.path, why: udp.path.why ?? undefined }, `UDP sockets: ${udp.path.path === 'batched' ? 'batched (recvmmsg/sendmmsg)' : `node:dgram (${udp.path.why})`}`);
  const leaf = await Leaf.start({ home: args.home, logger: log, apiHostPolicy: (host) => new HostPolicy(host), udpOpener: udp.opener });
  for (const nwid of args.join) leaf.join(nwid);
  const signal = await new Promise<string>((resolve) => {
    process.once('SIGINT', () => resolve('SIGINT'));
    process.once('SIGTERM', () => resolve('SIGTERM'));
  });
  log.info({ signal }, 'stopping');
  await leaf.stop();
  log.info({}, 'stopped');
  return 0;
}
