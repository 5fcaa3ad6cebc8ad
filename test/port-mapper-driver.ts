/**
 * A process standing in for a leaf behind a NAT, for test/port-mapping.test.ts: it binds the leaf's UDP port(s),
 * runs a PortMapper for them, and prints one JSON object per line:
 *   {"event":"ready"}                                 sockets bound, mapper started
 *   {"event":"mapped","mapping":{…},"sinceStartMs"} / {"event":"lost","mapping":{…},"reason":…,"sinceStartMs"}
 *   {"event":"error","code","message"}
 *   {"event":"datagram","port":<local port>,"from":"ip/port","data":"<utf8>"}   anything the sockets receive
 *   {"event":"log","level":…,"msg":…,…}                the mapper's log lines
 *   {"event":"stopped","ms":<how long stop() took>}    then it exits 0
 * Usage: `node dist/test/port-mapper-driver.js '<json PortMapperOptions subset>'`; it stops on a line
 * {"cmd":"stop"} on stdin, on stdin EOF, or on SIGTERM. With `startOnCommand` the mapper starts on {"cmd":"start"}.
 */
import { createSocket, type Socket } from 'node:dgram';
import { createInterface } from 'node:readline';
import { PortMapper, type PortMapperOptions } from '../leaf/port-mapping.js';

type DriverOptions = Pick<PortMapperOptions, 'ports' | 'methods' | 'leaseSeconds' | 'refreshMs' | 'retryMinMs' | 'retryMaxMs' | 'stopTimeoutMs'> & {
  pmpAttemptsMs?: number[];
  upnpSearchMs?: number;
  /** Bind the sockets and print ready, but start the mapper only on {"cmd":"start"} (for a before/after test). */
  startOnCommand?: boolean;
  /** Leave 'error' unheard, as a careless embedder might (it must not crash the process). */
  noErrorListener?: boolean;
};

const opts = JSON.parse(process.argv[2] ?? '{}') as DriverOptions;
const print = (o: object): void => {
  process.stdout.write(`${JSON.stringify(o)}\n`);
};
const logAt =
  (level: string) =>
  (obj: object, msg?: string): void =>
    print({ event: 'log', level, msg, ...obj });

const sockets: Socket[] = [];
for (const port of opts.ports) {
  const s = createSocket('udp4');
  s.on('message', (data, rinfo) => print({ event: 'datagram', port, from: `${rinfo.address}/${rinfo.port}`, data: data.toString('utf8') }));
  await new Promise<void>((resolve, reject) => {
    s.once('error', reject);
    s.bind(port, '0.0.0.0', () => resolve());
  });
  sockets.push(s);
}

const { pmpAttemptsMs, upnpSearchMs, startOnCommand, noErrorListener, ...mapperOpts } = opts;
const mapper = new PortMapper({
  ...mapperOpts,
  ...(pmpAttemptsMs ? { pmp: { attemptsMs: pmpAttemptsMs } } : {}),
  ...(upnpSearchMs ? { upnp: { searchMs: upnpSearchMs } } : {}),
  logger: { debug: logAt('debug'), info: logAt('info'), warn: logAt('warn') },
});
let startedAt = 0;
const sinceStartMs = (): number => Math.round(performance.now() - startedAt);
mapper.on('mapped', (mapping) => print({ event: 'mapped', mapping, sinceStartMs: sinceStartMs() }));
mapper.on('lost', (mapping, reason) => print({ event: 'lost', mapping, reason, sinceStartMs: sinceStartMs() }));
if (!noErrorListener) mapper.on('error', (err) => print({ event: 'error', code: err.code, message: err.message }));
const start = (): void => {
  startedAt = performance.now();
  mapper.start();
};
if (!startOnCommand) start();
print({ event: 'ready' });

let stopping = false;
async function stop(): Promise<void> {
  if (stopping) return;
  stopping = true;
  const t0 = performance.now();
  await mapper.stop();
  print({ event: 'stopped', ms: Math.round(performance.now() - t0) });
  for (const s of sockets) s.close();
  process.exit(0);
}
process.on('SIGTERM', () => void stop());
const rl = createInterface({ input: process.stdin });
rl.on('line', (line) => {
  if (line.includes('"stop"')) void stop();
  else if (line.includes('"start"')) start();
});
rl.on('close', () => void stop());
