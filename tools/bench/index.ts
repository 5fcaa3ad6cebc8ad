/**
 * `ztroot bench` / `npm run bench`: every hot path's benchmark, each printed beside a reference
 * measured in the same run. `ztroot bench <name>...` runs only the named suites.
 * ZTROOT_BENCH_MS sets the time per measurement (default 1000 ms).
 */
interface Suite {
  summary: string;
  load: () => Promise<{ run: (args: string[]) => Promise<void> }>;
  /** Run only when named (minutes long, or needs root): not part of a plain `ztroot bench`. */
  explicit?: boolean;
}

const SUITES: Record<string, Suite> = {
  crypto: { summary: 'packet armor + dearmor, suites 1 and 3, 100 B and 1400 B', load: () => import('./armor.js') },
  identity: { summary: 'identity validations (memory-hard hash) per second', load: () => import('./identity.js') },
  agreement: { summary: "the root's X25519 agreement per new identity, key object kept vs imported per call", load: () => import('./agreement.js') },
  relay: { summary: 'root over loopback: relayed packets/s, HELLO/s, WHOIS/s, memory per peer at 100 k', load: () => import('./relay.js') },
  tcp: { summary: 'TCP relay: datagrams/s through tunnels beside UDP, concurrent connections held (target 100 k)', load: () => import('./tcp-relay.js') },
  fleet: { summary: 'relay step with the Redis fleet store beside the in-memory one; WHOIS misses through the store', load: () => import('./fleet.js') },
  flood: {
    summary: "issue 11's floods at full scale against a root process in a namespace (root; minutes; `flood hello4|hello6|whois` for one)",
    load: () => import('./flood.js'),
    explicit: true,
  },
};

/** Arguments of a suite that takes them (`ztroot bench flood whois`): the words after its name that are not suites. */
const SUITE_ARGS: Record<string, readonly string[]> = { flood: ['hello4', 'hello6', 'whois'] };

export async function main(argv: string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    console.log('usage: ztroot bench [suite ...]\n\nsuites:');
    for (const [n, s] of Object.entries(SUITES)) console.log(`  ${n.padEnd(12)} ${s.summary}`);
    console.log('\nZTROOT_BENCH_MS=<ms> sets the time per measurement (default 1000).');
    return 0;
  }
  const known = (a: string) => a in SUITES || Object.values(SUITE_ARGS).some((args) => args.includes(a));
  const unknown = argv.filter((a) => !known(a));
  if (unknown.length) {
    console.error(`ztroot bench: unknown suite(s): ${unknown.join(', ')} (known: ${Object.keys(SUITES).join(', ')})`);
    return 2;
  }
  const named = argv.filter((a) => a in SUITES);
  const names = named.length ? named : Object.keys(SUITES).filter((n) => SUITES[n]!.explicit !== true);
  console.log(`# ztroot benchmarks — node ${process.version}, ${process.arch}`);
  for (const n of names) await (await SUITES[n]!.load()).run(argv.filter((a) => SUITE_ARGS[n]?.includes(a)));
  return 0;
}
