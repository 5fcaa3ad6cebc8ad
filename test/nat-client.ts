/**
 * A VL1 client process for the namespace tests: `node dist/test/nat-client.js '<json options>'`.
 * It goes online through the planet's root, then (if given a peer) pings it every `intervalMs`,
 * printing one JSON line per event on stdout: {"event":"online"}, {"event":"ping","seq":n,"via":"direct"|
 * "relayed","rttMs":…}, {"event":"ping-failed","seq":n,"error":"…"}. It exits on SIGTERM or stdin EOF.
 */
import { Identity } from '../vl1/identity.js';
import { fromHex } from '../vl1/bytes.js';
import { parseAddress } from '../vl1/address.js';
import { parseWorld } from '../planet/world.js';
import { Vl1Node } from '../leaf/vl1-node.js';

interface Options {
  identity: string;
  planetHex: string;
  bind4: string;
  port?: number;
  peer?: string;
  pings?: number;
  intervalMs?: number;
}

const opts = JSON.parse(process.argv[2] ?? '{}') as Options;
const print = (o: object) => process.stdout.write(`${JSON.stringify(o)}\n`);

const node = new Vl1Node({
  identity: Identity.fromString(opts.identity),
  planet: parseWorld(fromHex(opts.planetHex)),
  bind: { address: opts.bind4, port: opts.port ?? 9994 },
  helloRetryMs: 1000,
});

let stopping = false;
async function stop(): Promise<void> {
  if (stopping) return;
  stopping = true;
  await node.stop();
  process.exit(0);
}
process.on('SIGTERM', () => void stop());
process.stdin.on('end', () => void stop());
process.stdin.resume();

// Diagnostics the test prints when an expectation fails.
node.on('rendezvous', (...args: unknown[]) => print({ event: 'rendezvous', detail: String(JSON.stringify(args, (_k, v) => (typeof v === 'bigint' ? v.toString(16) : v))) }));

await node.start();
await node.whenOnline(20_000);
print({ event: 'online' });
if (opts.peer !== undefined) {
  const peer = parseAddress(opts.peer);
  for (let seq = 0; seq < (opts.pings ?? 20) && !stopping; seq++) {
    try {
      const r = await node.ping(peer, 2000);
      print({ event: 'ping', seq, via: r.via, rttMs: r.rttMs });
    } catch (e) {
      print({ event: 'ping-failed', seq, error: (e as Error).message });
    }
    await new Promise((r) => setTimeout(r, opts.intervalMs ?? 500));
  }
  print({ event: 'done', peer: JSON.stringify(node.peerInfo(peer), (_k, v) => (typeof v === 'bigint' ? v.toString(16) : v)), stats: node.stats });
}
