/**
 * `ztroot bench` / `npm run bench`: every hot path's benchmark, each printed beside a reference
 * measured in the same run. `ztroot bench <name>...` runs only the named suites.
 * ZTROOT_BENCH_MS sets the time per measurement (default 1000 ms).
 */
import { parseCommand, UsageError } from '../args.js';
interface Suite {
  summary: string;
  load: () => Promise<{ run: () => Promise<void> }>;
}

const SUITES: Record<string, Suite> = {
  crypto: { summary: 'packet armor + dearmor, suites 1 and 3, 100 B and 1400 B', load: () => import('./armor.js') },
  identity: { summary: 'identity validations (memory-hard hash) per second', load: () => import('./identity.js') },
  relay: { summary: 'root over loopback: relayed packets/s, HELLO/s, WHOIS/s, memory per peer at 100 k', load: () => import('./relay.js') },
  tcp: { summary: 'TCP relay: datagrams/s through tunnels beside UDP, concurrent connections held (target 100 k)', load: () => import('./tcp-relay.js') },
  fleet: { summary: 'relay step with the Redis fleet store beside the in-memory one; WHOIS misses through the store', load: () => import('./fleet.js') },
};

export async function main(argv: string[]): Promise<number> {
  const line = parseCommand(
    {
      command: 'ztroot bench',
      usage: 'ztroot bench [suite ...]',
      about: `Runs the benchmarks, each figure beside a reference measured in the same run (all suites by default).\n\nsuites:\n${Object.entries(SUITES)
        .map(([n, s]) => `  ${n.padEnd(12)} ${s.summary}`)
        .join('\n')}`,
      options: {},
      positionals: [0, Object.keys(SUITES).length],
      epilogue: 'ZTROOT_BENCH_MS=<ms> sets the time per measurement (default 1000).',
    },
    argv,
  );
  if (line.kind === 'print') {
    console.log(line.text);
    return 0;
  }
  argv = line.positionals;
  const unknown = argv.filter((a) => !Object.hasOwn(SUITES, a));
  if (unknown.length) throw new UsageError(`unknown suite ${JSON.stringify(unknown[0])} (suites: ${Object.keys(SUITES).join(', ')})`, 'ztroot bench');
  const names = argv.length ? argv : Object.keys(SUITES);
  console.log(`# ztroot benchmarks — node ${process.version}, ${process.arch}`);
  for (const n of names) await (await SUITES[n]!.load()).run();
  return 0;
}
