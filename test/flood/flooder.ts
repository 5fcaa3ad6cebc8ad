/**
 * A flood generator, run as its own process (`node dist/test/flood/flooder.js '<spec JSON>'`) so the root
 * under test never shares its event loop or its core budget accounting with the attacker.
 *
 *   hello — HELLOs from many identities (valid ones given as secret strings, plus `invalid` random ones)
 *           from every address of `sources` (one socket bound to each), round robin.
 *   whois — one authenticated peer: HELLO until the root answers, then WHOIS armored with suite 3 (as a
 *           1.14 client talks to a protocol-12 root) from one source address.
 *
 * Protocol on stdio: prints `{"ready":…}` once its packets are built and its sockets bound, starts on a
 * line on stdin, prints `{"sent":…,"elapsedMs":…}` when `durationMs` is over, and exits. It exits too when
 * its stdin closes (the scenario is gone), so an interrupted run leaves nothing behind.
 */
import dgram from 'node:dgram';
import { once } from 'node:events';
import { setPriority } from 'node:os';
import { Identity } from '../../vl1/identity.js';
import { PeerKey } from '../../vl1/peer-key.js';
import { Verb } from '../../vl1/constants.js';
import { sealPacket } from '../../vl1/packet.js';
import { encodeWhois } from '../../vl1/verbs/whois.js';
import { answerRootEcho } from '../probe-answer.js';
import { helloPacket, invalidIdentity, type FloodTarget } from './packets.js';

export interface FlooderSpec {
  kind: 'hello' | 'whois';
  target: FloodTarget;
  /** Source addresses, one socket each (must be local: see test/flood/netns-flood.ts). */
  sources: string[];
  /** Datagrams per second from this process. */
  rate: number;
  durationMs: number;
  /** hello: valid identities (secret strings) and how many random invalid ones to add. */
  valid?: string[];
  invalid?: number;
  /** whois: the flooding peer (secret string) and the addresses it asks about. */
  peer?: string;
  whoisTargets?: number[];
}

/** Datagrams queued in a socket beyond which a tick skips it (the kernel is not taking more). */
const MAX_SEND_QUEUE = 512;
const TICK_MS = 2;

/**
 * The flood's priority (nice). A real attacker's CPU is not the root's: here they share one machine, so the
 * generators yield to everything else rather than starve the root of the CPU it would have on its own host.
 */
const FLOODER_NICE = 19;

async function main(): Promise<void> {
  const spec = JSON.parse(process.argv[2] ?? '') as FlooderSpec;
  try {
    setPriority(FLOODER_NICE); // this thread: the one that sends
  } catch {
    /* not permitted: flood at normal priority */
  }
  const root = Identity.fromString(spec.target.identity);
  const family = spec.target.ip.includes(':') ? 6 : 4;
  const socks = await Promise.all(
    spec.sources.map(async (ip) => {
      const s = dgram.createSocket({ type: family === 6 ? 'udp6' : 'udp4', sendBufferSize: 1 << 20 });
      s.on('error', () => {}); // ICMP errors etc.: a flooder does not care
      s.on('message', () => {}); // replies are read and discarded (an unread socket would only fill its buffer)
      s.bind(0, ip);
      await once(s, 'listening');
      return s;
    }),
  );

  let packets: Uint8Array[];
  if (spec.kind === 'hello') {
    const ids = [...(spec.valid ?? []).map((s) => Identity.fromString(s))];
    for (let i = 0; i < (spec.invalid ?? 0); i++) ids.push(invalidIdentity());
    packets = ids.map((id) => helloPacket(id, spec.target, root));
  } else {
    const peer = Identity.fromString(spec.peer!);
    const key = new PeerKey(peer.agree(root));
    // An authenticated peer answers the root's probe of its path, as a 1.14 client does (root/path-probes.ts).
    socks[0]!.on('message', (m, rinfo) => {
      const ok = answerRootEcho(new Uint8Array(m), peer, root, key);
      if (ok !== null) socks[0]!.send(ok, rinfo.port, rinfo.address);
    });
    await online(socks[0]!, helloPacket(peer, spec.target, root, key), spec.target);
    const targets = spec.whoisTargets ?? [root.address];
    packets = [];
    for (let i = 0; i < 512; i++) {
      const payload = encodeWhois({ addresses: [targets[i % targets.length]!] });
      packets.push(sealPacket({ dest: root.address, source: peer.address, verb: Verb.WHOIS, payload }, key, 3));
    }
  }
  process.stdout.write(`${JSON.stringify({ ready: true, packets: packets.length, sockets: socks.length })}\n`);

  process.stdin.resume();
  process.stdin.on('end', () => process.exit(0));
  await new Promise<void>((r) => process.stdin.once('data', () => r()));

  const start = performance.now();
  let sent = 0;
  let skipped = 0;
  let p = 0;
  let s = 0;
  await new Promise<void>((resolve) => {
    const timer = setInterval(() => {
      const elapsed = performance.now() - start;
      if (elapsed >= spec.durationMs) {
        clearInterval(timer);
        return resolve();
      }
      const due = Math.floor((spec.rate * elapsed) / 1000) - sent - skipped;
      for (let i = 0; i < due; i++) {
        const sock = socks[s]!;
        s = (s + 1) % socks.length;
        if (sock.getSendQueueCount() > MAX_SEND_QUEUE) {
          skipped++;
          continue;
        }
        sock.send(packets[p]!, spec.target.port, spec.target.ip);
        // A stride co-prime with most source counts, so each identity is sent from many addresses.
        p = (p + 7) % packets.length;
        sent++;
      }
    }, TICK_MS);
  });
  process.stdout.write(`${JSON.stringify({ sent, skipped, elapsedMs: Math.round(performance.now() - start) })}\n`);
  for (const sock of socks) sock.close();
  process.exit(0);
}

/** HELLO every 500 ms until the root answers (any reply will do: only an OK comes back to a valid HELLO). */
async function online(sock: dgram.Socket, hello: Uint8Array, target: FloodTarget): Promise<void> {
  const answered = once(sock, 'message');
  const timer = setInterval(() => sock.send(hello, target.port, target.ip), 500);
  sock.send(hello, target.port, target.ip);
  const timeout = setTimeout(() => {
    process.stderr.write('flooder: the root never answered the HELLO\n');
    process.exit(3);
  }, 20_000);
  await answered;
  clearInterval(timer);
  clearTimeout(timeout);
}

main().catch((e: unknown) => {
  process.stderr.write(`flooder: ${e instanceof Error ? e.stack : String(e)}\n`);
  process.exit(1);
});
