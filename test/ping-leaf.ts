/**
 * A VL1 leaf process for the multi-host tests, driven over stdin: `node dist/test/ping-leaf.js '<json options>'`.
 *
 * It goes online through the planet's roots and prints `{"event":"online"}`. Then each JSON line on stdin is a
 * command:
 *   {"cmd":"ping","peer":"<10 hex>","count":200,"intervalMs":200,"timeoutMs":2000,"tag":"run1"}
 *       ECHOs at a fixed rate (one every intervalMs, whether or not earlier ones were answered, as `ping -i`
 *       does), printing {"event":"ping","tag","seq","sentAt","rttMs","via"} or {"event":"ping-failed","tag","seq",
 *       "sentAt","error"} for each, then {"event":"ping-done","tag","seq":count}.
 *   {"cmd":"info","peer":"<10 hex>"}   prints {"event":"info","peer":…,"stats":…}
 *   {"cmd":"whois","peer":"<10 hex>"}  asks the root (a packet to the root, as 1.14 sends on demand); prints
 *       {"event":"whois","ok":true|false}
 * Every RENDEZVOUS it acts on is printed as {"event":"rendezvous","peer","endpoint":"ip/port"}, every planet update
 * it adopts from a root as {"event":"planet","timestamp"}.
 * It exits on SIGTERM or stdin EOF.
 */
import { createInterface } from 'node:readline';
import { Identity } from '../vl1/identity.js';
import { fromHex } from '../vl1/bytes.js';
import { formatAddress, parseAddress } from '../vl1/address.js';
import { parseWorld } from '../planet/world.js';
import { Vl1Node } from '../leaf/vl1-node.js';

interface Options {
  identity: string;
  planetHex: string;
  bind4: string;
  port?: number;
  /** HELLO interval to roots that have a path (default 1.14's 224 s); tests of planet updates shorten it. */
  helloIntervalMs?: number;
}

interface PingCommand {
  cmd: 'ping';
  peer: string;
  count: number;
  intervalMs: number;
  timeoutMs: number;
  /** Echoed in every event of this command, so the runs of one leaf can be told apart. */
  tag?: string;
}

const opts = JSON.parse(process.argv[2] ?? '{}') as Options;
const print = (o: object): void => {
  process.stdout.write(`${JSON.stringify(o, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString(16) : v))}\n`);
};

const node = new Vl1Node({
  identity: Identity.fromString(opts.identity),
  planet: parseWorld(fromHex(opts.planetHex)),
  bind: { address: opts.bind4, port: opts.port ?? 9994 },
  helloRetryMs: 1000,
  ...(opts.helloIntervalMs !== undefined ? { helloIntervalMs: opts.helloIntervalMs } : {}),
});

let stopping = false;
async function stop(): Promise<void> {
  if (stopping) return;
  stopping = true;
  await node.stop();
  process.exit(0);
}
process.on('SIGTERM', () => void stop());

function pingAtRate(c: PingCommand): void {
  const peer = parseAddress(c.peer);
  const tag = c.tag ?? '';
  let seq = 0;
  let outstanding = 0;
  const fire = (): void => {
    if (stopping) return;
    const mine = seq++;
    const sentAt = Date.now();
    outstanding++;
    node.ping(peer, c.timeoutMs).then(
      (r) => print({ event: 'ping', tag, seq: mine, sentAt, rttMs: r.rttMs, via: r.via }),
      (e: unknown) => print({ event: 'ping-failed', tag, seq: mine, sentAt, error: (e as Error).message }),
    ).finally(() => {
      if (--outstanding === 0 && seq >= c.count) print({ event: 'ping-done', tag, seq });
    });
    if (seq < c.count) setTimeout(fire, Math.max(0, sentAt + c.intervalMs - Date.now()));
  };
  fire();
}

node.on('planet', (w) => print({ event: 'planet', timestamp: w.timestamp }));
node.on('rendezvous', (r) => print({ event: 'rendezvous', peer: formatAddress(r.peer), endpoint: `${r.endpoint.ip}/${r.endpoint.port}` }));

await node.start();
await node.whenOnline(30_000);
print({ event: 'online' });

const rl = createInterface({ input: process.stdin });
rl.on('line', (line) => {
  let c: { cmd?: string; peer?: string };
  try {
    c = JSON.parse(line) as { cmd?: string };
  } catch {
    return print({ event: 'bad-command', line });
  }
  if (c.cmd === 'ping') return pingAtRate(c as PingCommand);
  if (c.cmd === 'info' && c.peer !== undefined) return print({ event: 'info', peer: node.peerInfo(parseAddress(c.peer)), stats: node.stats });
  if (c.cmd === 'whois' && c.peer !== undefined) {
    return void node.whois(parseAddress(c.peer), 5000).then(
      () => print({ event: 'whois', ok: true }),
      (e: unknown) => print({ event: 'whois', ok: false, error: (e as Error).message }),
    );
  }
  print({ event: 'bad-command', line });
});
rl.on('close', () => void stop());
