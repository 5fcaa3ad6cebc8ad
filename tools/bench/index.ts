/**
 * `ztroot bench` / `npm run bench`: every hot path's benchmark, each printed beside a reference
 * measured in the same run. `ztroot bench <name>...` runs only the named suites.
 * ZTROOT_BENCH_MS sets the time per measurement (default 1000 ms).
 */
interface Suite {
  summary: string;
  load: () => Promise<{ run: () => Promise<void> }>;
}

const SUITES: Record<string, Suite> = {
  crypto: { summary: 'packet armor + dearmor, suites 1 and 3, 100 B and 1400 B', load: () => import('./armor.js') },
  identity: { summary: 'identity validations (memory-hard hash) per second', load: () => import('./identity.js') },
  agreement: { summary: "the root's X25519 agreement per new identity, key object kept vs imported per call", load: () => import('./agreement.js') },
  relay: { summary: 'root over loopback: relayed packets/s, HELLO/s, WHOIS/s, memory per peer at 100 k', load: () => import('./relay.js') },
  tcp: { summary: 'TCP relay: datagrams/s through tunnels beside UDP, concurrent connections held (target 100 k)', load: () => import('./tcp-relay.js') },
  fleet: { summary: 'relay step with the Redis fleet store beside the in-memory one; WHOIS misses through the store', load: () => import('./fleet.js') },
};

export async function main(argv: string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    console.log('usage: ztroot bench [suite ...]\n\nsuites:');
    for (const [n, s] of Object.entries(SUITES)) console.log(`  ${n.padEnd(12)} ${s.summary}`);
    console.log('\nZTROOT_BENCH_MS=<ms> sets the time per measurement (default 1000).');
    return 0;
  }
  const unknown = argv.filter((a) => !(a in SUITES));
  if (unknown.length) {
    console.error(`ztroot bench: unknown suite(s): ${unknown.join(', ')} (known: ${Object.keys(SUITES).join(', ')})`);
    return 2;
  }
  const names = argv.length ? argv : Object.keys(SUITES);
  console.log(`# ztroot benchmarks — node ${process.version}, ${process.arch}`);
  for (const n of names) await (await SUITES[n]!.load()).run();
  return 0;
}
