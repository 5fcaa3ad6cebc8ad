/**
 * A TAP device (leaf/tap.ts) in a process of its own, for the tests in network namespaces — a TAP device belongs
 * to the network namespace of the process that creates it, so each namespace needs its own process:
 *
 *   node dist/test/tap-driver.js '<json options>'
 *
 * Options: {"nwid":"<hex>","mac":"<hex>","mtu":2800,"home":"<dir>"?,"listen":<udp port>?,"peer":"<ip>:<port>"?,
 * "probe":true?}.
 * - probe: prints {"event":"probe","reason":<tapUnavailableReason()>,"open":{"name"}|{"code","message"}} (trying
 *   openTap for real) and exits.
 * - otherwise opens the device and prints {"event":"ready","name"} (or {"event":"open-failed","code","message"} and
 *   exits 1), then obeys JSON lines on stdin, {"id":1,"op":"setMtu","args":[1500]}, answering
 *   {"id":1,"ok":true,"result":…} or {"id":1,"ok":false,"code","message"}. Ops: setMtu, setMac (hex),
 *   setAddresses, setRoutes, multicastGroups (hex MACs), write (hex frame; result: the boolean), stats, cpuDuring
 *   (ms; result: CPU ms used meanwhile), capture
 *   (true/false: print {"event":"frame","hex"} for every frame read), close.
 * - with listen and peer: a two-line VPN — every frame read goes to peer as one UDP datagram, every datagram
 *   received on listen is written to the device.
 * Prints {"event":"close","error":null|message} when the device goes. Exits on stdin EOF or SIGTERM.
 */
import { createSocket } from 'node:dgram';
import { createInterface } from 'node:readline';
import { openTap, tapUnavailableReason, type TapDevice } from '../leaf/tap.js';
import { formatMac } from '../vl1/mac-ip.js';

interface Options {
  nwid: string;
  mac: string;
  mtu: number;
  home?: string;
  listen?: number;
  peer?: string;
  probe?: boolean;
}

const opts = JSON.parse(process.argv[2] ?? '{}') as Options;
const print = (o: object): void => {
  process.stdout.write(`${JSON.stringify(o)}\n`);
};
const errorFields = (e: unknown) => ({ code: (e as { code?: string }).code ?? 'unknown', message: (e as Error).message ?? String(e) });
const tapOptions = { nwid: BigInt(`0x${opts.nwid}`), mac: BigInt(`0x${opts.mac}`), mtu: opts.mtu, ...(opts.home !== undefined ? { home: opts.home } : {}) };

async function probe(): Promise<void> {
  let open: object;
  try {
    const tap = await openTap(tapOptions);
    open = { name: tap.name };
    await tap.close();
  } catch (e) {
    open = errorFields(e);
  }
  print({ event: 'probe', reason: tapUnavailableReason(), open });
}

async function drive(): Promise<void> {
  let tap: TapDevice;
  try {
    tap = await openTap(tapOptions);
  } catch (e) {
    print({ event: 'open-failed', ...errorFields(e) });
    process.exit(1);
  }
  let capture = false;
  tap.on('frame', (f) => {
    if (capture) print({ event: 'frame', hex: Buffer.from(f).toString('hex') });
  });
  tap.on('close', (err) => print({ event: 'close', error: err?.message ?? null }));

  if (opts.listen !== undefined && opts.peer !== undefined) {
    const [peerIp, peerPort] = [opts.peer.slice(0, opts.peer.lastIndexOf(':')), Number(opts.peer.slice(opts.peer.lastIndexOf(':') + 1))];
    const sock = createSocket('udp4');
    sock.on('message', (m) => tap.write(m));
    sock.on('error', (e) => print({ event: 'udp-error', message: e.message }));
    await new Promise<void>((r) => sock.bind(opts.listen, r));
    tap.on('frame', (f) => sock.send(f, peerPort, peerIp));
    tap.on('close', () => sock.close());
  }

  const ops: Record<string, (...args: never[]) => unknown> = {
    setMtu: (mtu: number) => tap.setMtu(mtu),
    setMac: (hex: string) => tap.setMac(BigInt(`0x${hex}`)),
    setAddresses: (a: Array<{ ip: string; bits: number }>) => tap.setAddresses(a),
    setRoutes: (r: Array<{ target: string; bits: number; via: string | null }>) => tap.setRoutes(r),
    multicastGroups: async () => (await tap.multicastGroups()).map((g) => formatMac(g.mac)),
    write: (hex: string) => tap.write(Buffer.from(hex, 'hex')),
    stats: () => tap.stats,
    /** CPU time (user + system, ms) this process used during the next `ms` milliseconds. */
    cpuDuring: async (ms: number) => {
      const since = process.cpuUsage();
      await new Promise((r) => setTimeout(r, ms));
      const d = process.cpuUsage(since);
      return (d.user + d.system) / 1000;
    },
    capture: (on: boolean) => {
      capture = on;
    },
    close: () => tap.close(),
  };
  print({ event: 'ready', name: tap.name });
  const rl = createInterface({ input: process.stdin });
  rl.on('line', (line) => {
    if (line.trim() === '') return;
    const c = JSON.parse(line) as { id: number; op: string; args?: unknown[] };
    const fn = ops[c.op];
    Promise.resolve()
      .then(() => {
        if (!fn) throw new Error(`unknown op ${c.op}`);
        return (fn as (...a: unknown[]) => unknown)(...(c.args ?? []));
      })
      .then(
        (result) => print({ id: c.id, ok: true, result: result ?? null }),
        (e: unknown) => print({ id: c.id, ok: false, ...errorFields(e) }),
      );
  });
  rl.on('close', () => {
    void tap.close().then(() => process.exit(0));
  });
  process.on('SIGTERM', () => {
    void tap.close().then(() => process.exit(0));
  });
}

(opts.probe ? probe() : drive()).catch((e: unknown) => {
  print({ event: 'crash', message: String((e as Error)?.stack ?? e) });
  process.exit(70);
});
