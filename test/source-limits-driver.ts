/**
 * Driver for relay/source-limits.test.ts, run inside a network namespace where 2001:db8:f0::/44 and
 * 198.18.0.0/15 are local (AnyIP routes on lo), so a connection can come from any address in them:
 * `node dist/test/source-limits-driver.js`. It runs a TcpTunnelServer on [::] (dual stack) with small limits,
 * connects from chosen sources, and prints one JSON line per step with the server's counters.
 */
import net from 'node:net';
import { once } from 'node:events';
import { TcpTunnelServer } from '../relay/tcp-tunnel-server.js';
import { encodeTunnelHello } from '../vl1/tcp-framing.js';

const server = new TcpTunnelServer(
  { maxConnections: 26, maxConnectionsPerIp: 4, maxConnectionsPerPrefix: 10, fdReserve: 0, sweepMs: 50 },
  { onDatagram: () => undefined, onClose: () => undefined },
);
await server.listen('::', 0);
const open: Array<{ from: string; sock: net.Socket; closed: boolean }> = [];

/** Connects from `from`; `hello`: send the tunnel hello (else the connection stays sniffing). */
async function connect(from: string, hello = true): Promise<void> {
  const sock = net.connect({ host: from.includes(':') ? '::1' : '127.0.0.1', port: server.port, localAddress: from });
  const entry = { from, sock, closed: false };
  sock.on('close', () => (entry.closed = true));
  sock.on('error', () => undefined);
  await once(sock, 'connect');
  if (hello) sock.write(encodeTunnelHello({ major: 1, minor: 14, revision: 1 }));
  open.push(entry);
}

async function settle(): Promise<void> {
  await new Promise((r) => setTimeout(r, 150));
}

function report(step: string): void {
  const c = server.counters;
  const pick = (n: string) => c.get(n) ?? 0;
  const stillOpen = open.filter((o) => !o.closed);
  process.stdout.write(
    `${JSON.stringify({
      step,
      connections: server.connections,
      accepted: pick('tcp_accepted'),
      refusedIp: pick('tcp_refused_ip_limit'),
      refusedPrefix: pick('tcp_refused_prefix_limit'),
      refusedTotal: pick('tcp_refused_total_limit'),
      evicted: pick('tcp_evicted'),
      openFrom: stillOpen.map((o) => o.from),
    })}\n`,
  );
}

const hex = (n: number) => n.toString(16);

// 1. Ten addresses of one IPv6 /64: one host, so the per-IP limit (4) applies to all of them together.
for (let i = 1; i <= 10; i++) await connect(`2001:db8:f1:1::${hex(i)}`);
await settle();
report('one /64');
// 2. Five more /64s of the same /48: other hosts, all let in (the /48 now holds 9).
for (let i = 2; i <= 6; i++) await connect(`2001:db8:f1:${hex(i)}::1`);
await settle();
report('one /48');
// 3. IPv4 through the dual-stack listener (mapped addresses): six from one address, three more of its /24.
for (let i = 0; i < 6; i++) await connect('198.18.0.1');
for (let i = 2; i <= 4; i++) await connect(`198.18.0.${i}`);
await settle();
report('ipv4');
// 4. Twelve /64s of another /48: the per-prefix limit (10) stops the last two, and the relay is full (26).
//    The fifth sends nothing (it stays sniffing).
for (let i = 1; i <= 12; i++) await connect(`2001:db8:f2:${hex(i)}::1`, i !== 5);
await settle();
report('full');
// 5. A newcomer from a quiet /48 takes the place of the busiest prefix's least useful connection (the
//    sniffing one); then one more from that prefix is refused: it is no longer quieter than the busiest.
await connect('2001:db8:f3::1');
await settle();
report('newcomer');
await connect('2001:db8:f2:d::1');
await settle();
report('busiest again');

for (const o of open) o.sock.destroy();
await server.close();
