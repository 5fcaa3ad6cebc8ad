/**
 * `ztroot bench` / `npm run bench`: every hot path's benchmark, each printed beside a reference
 * measured in the same run. `ztroot bench <name>...` runs only the named suites.
 * ZTROOT_BENCH_MS sets the time per measurement (default 1000 ms).
 */
import { parseCommand, UsageError } from '../args.js';
interface Suite {
  summary: string;
  load: () => Promise<{ run: (args: string[]) => Promise<void> }>;
  /** Run only when named (minutes long, or needs root): not part of a plain `ztroot bench`. */
  explicit?: boolean;
}

const SUITES: Record<string, Suite> = {
  crypto: { summary: 'packet armor + dearmor, suites 1 and 3, 100 B and 1400 B; suite 3 seal/open on the native addon vs node:crypto, 100–2800 B', load: () => import('./armor.js') },
  identity: { summary: 'identity validations (memory-hard hash) per second', load: () => import('./identity.js') },
  admission: {
    summary: 'a root process admitting newcomers (validated/s per core, native vs JS hash), re-admission after a restart, restart with 100 k peers (minutes)',
    load: () => import('./admission.js'),
    explicit: true,
  },
  agreement: { summary: "the root's X25519 agreement per new identity, key object kept vs imported per call", load: () => import('./agreement.js') },
  relay: { summary: 'root over loopback: relayed packets/s, HELLO/s, WHOIS/s, memory per peer at 100 k', load: () => import('./relay.js') },
  memory: {
    summary: 'memory per peer at 100 k and 1 M peers (before/after the compact table), each cache\'s bound, the relay step at that size (GBs; a minute)',
    load: () => import('./memory.js'),
    explicit: true,
  },
  tcp: { summary: 'TCP relay: datagrams/s through tunnels beside UDP, concurrent connections held (target 100 k)', load: () => import('./tcp-relay.js') },
  fleet: { summary: 'relay step with the Redis fleet store beside the in-memory one; WHOIS misses through the store', load: () => import('./fleet.js') },
  tap: { summary: 'TAP layer alone: frames/s and per-frame latency through a kernel loop, beside a UDP socket pair (root)', load: () => import('./tap.js') },
  leaf: {
    summary: 'two of our leaves over TAP (root; iperf3 TCP both ways, ping, CPU, drops), beside two real 1.14 leaves when ZT_ONE_BIN is set',
    load: () => import('./leaf.js'),
    explicit: true,
  },
  flood: {
    summary: "issue 11's floods at full scale against a root process in a namespace (root; minutes; `flood hello4|hello6|whois` for one)",
    load: () => import('./flood.js'),
    explicit: true,
  },
};

/** Arguments of a suite that takes them (`ztroot bench flood whois`): the words after its name that are not suites. */
const SUITE_ARGS: Record<string, readonly string[]> = { flood: ['hello4', 'hello6', 'whois'] };

export async function main(argv: string[]): Promise<number> {
  const line = parseCommand(
    {
      command: 'ztroot bench',
      usage: 'ztroot bench [suite ...]',
      about: `Runs the benchmarks, each figure beside a reference measured in the same run (all suites by default).\n\nsuites:\n${Object.entries(SUITES)
        .map(([n, s]) => `  ${n.padEnd(12)} ${s.summary}`)
        .join('\n')}`,
      options: {},
      positionals: [0, Object.keys(SUITES).length + Object.values(SUITE_ARGS).flat().length],
      epilogue: 'ZTROOT_BENCH_MS=<ms> sets the time per measurement (default 1000).',
    },
    argv,
  );
  if (line.kind === 'print') {
    console.log(line.text);
    return 0;
  }
  argv = line.positionals;
  const known = (a: string): boolean => Object.hasOwn(SUITES, a) || Object.values(SUITE_ARGS).some((args) => args.includes(a));
  const unknown = argv.filter((a) => !known(a));
  if (unknown.length) throw new UsageError(`unknown suite ${JSON.stringify(unknown[0])} (suites: ${Object.keys(SUITES).join(', ')})`, 'ztroot bench');
  const named = argv.filter((a) => Object.hasOwn(SUITES, a));
  const names = named.length ? named : Object.keys(SUITES).filter((n) => SUITES[n]!.explicit !== true);
  console.log(`# ztroot benchmarks — node ${process.version}, ${process.arch}`);
  for (const n of names) await (await SUITES[n]!.load()).run(argv.filter((a) => SUITE_ARGS[n]?.includes(a)));
  return 0;
}
