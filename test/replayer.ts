/**
 * An attacker for the replay tests: `node dist/test/replayer.js '<json options>'` binds `bind`:0 and sends each of
 * `packetsHex` (authentic packets recorded from a peer) to `to`:`port` every `intervalMs`, from its own address. It
 * counts what arrives by ZeroTier destination and source, and prints
 * {"event":"report","received":{"<10 hex dest> from <10 hex source>":n,…},"sent":n}
 * on stdin EOF or SIGTERM, then exits.
 */
import dgram from 'node:dgram';
import { fromHex, readU40 } from '../vl1/bytes.js';
import { formatAddress } from '../vl1/address.js';

interface Options {
  bind: string;
  to: string;
  port: number;
  packetsHex: string[];
  intervalMs: number;
}

const opts = JSON.parse(process.argv[2] ?? '{}') as Options;
const packets = opts.packetsHex.map((h) => fromHex(h));
const sock = dgram.createSocket(opts.bind.includes(':') ? 'udp6' : 'udp4');
const received: Record<string, number> = {};
let sent = 0;
sock.on('message', (m) => {
  const d = new Uint8Array(m);
  const key = d.length >= 18 ? `${formatAddress(readU40(d, 8))} from ${formatAddress(readU40(d, 13))}` : 'runt';
  received[key] = (received[key] ?? 0) + 1;
});
sock.bind(0, opts.bind, () => {
  process.stdout.write(`${JSON.stringify({ event: 'ready', port: sock.address().port })}\n`);
  const fire = (): void => {
    for (const p of packets) {
      sock.send(p, opts.port, opts.to);
      sent++;
    }
  };
  fire();
  setInterval(fire, opts.intervalMs);
});
const report = (): void => {
  process.stdout.write(`${JSON.stringify({ event: 'report', received, sent })}\n`);
  process.exit(0);
};
process.on('SIGTERM', report);
process.stdin.on('end', report);
process.stdin.resume();
