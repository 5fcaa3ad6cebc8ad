/**
 * The leaf's TCP fallback transport on real TCP (127.0.0.1): the exact bytes it writes, what it delivers
 * and what it drops from the relay, its bounded queue, reconnecting after the relay drops it, and a
 * round trip through the real tunnel listener (relay/tcp-tunnel-server.ts).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { once } from 'node:events';
import { fromHex, toHex } from '../vl1/bytes.js';
import type { InetAddress } from '../vl1/inet-address.js';
import { encodeTunnelHello, encodeTunnelRecord, TunnelRecordReader, decodeTunnelRecord } from '../vl1/tcp-framing.js';
import { TcpTunnelServer, type TunnelConnection } from '../relay/tcp-tunnel-server.js';
import { TcpRelayClient } from './tcp-relay-client.js';

const V1141 = { major: 1, minor: 14, revision: 1 };
const ROOT: InetAddress = { family: 4, ip: '203.0.113.7', port: 9993 };
const ROOT6: InetAddress = { family: 6, ip: '2001:db8::7', port: 9993 };

/** A whole packet from ZeroTier address `src` (bytes 13..17); the rest is `fill`. */
function packetFrom(src: number, len = 40, fill = 0x42): Uint8Array {
  const p = new Uint8Array(len).fill(fill);
  for (let i = 0; i < 5; i++) p[13 + i] = Math.floor(src / 2 ** (8 * (4 - i))) & 0xff;
  return p;
}

async function until(cond: () => boolean, what: string, ms = 3000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** A raw relay: accepts connections and records every byte each sends. */
class RawRelay {
  readonly conns: Array<net.Socket & { bytes: Buffer[] }> = [];
  private readonly server = net.createServer((s) => {
    const c = s as net.Socket & { bytes: Buffer[] };
    c.bytes = [];
    c.on('data', (b: Buffer) => c.bytes.push(b));
    c.on('error', () => undefined);
    this.conns.push(c);
  });

  async listen(): Promise<InetAddress> {
    this.server.listen(0, '127.0.0.1');
    await once(this.server, 'listening');
    return { family: 4, ip: '127.0.0.1', port: (this.server.address() as net.AddressInfo).port };
  }

  /** Everything connection `i` sent so far. */
  received(i: number): Buffer {
    return Buffer.concat(this.conns[i]!.bytes);
  }

  async close(): Promise<void> {
    for (const c of this.conns) c.destroy();
    await new Promise((r) => this.server.close(r));
  }
}

interface Delivery {
  data: string;
  from: InetAddress;
}

function client(relay: InetAddress, got: Delivery[], extra: { maxQueueBytes?: number; reconnectMs?: number } = {}): TcpRelayClient {
  return new TcpRelayClient({ relay, version: V1141, log: undefined, onDatagram: (d, from) => got.push({ data: toHex(d), from }), ...extra });
}

test('writes the 9-byte hello, then each datagram framed with its destination, byte for byte', async () => {
  const relay = new RawRelay();
  const at = await relay.listen();
  const c = client(at, []);
  try {
    const p4 = packetFrom(0x0102030405);
    const p6 = packetFrom(0x0102030405, 64, 0x11);
    assert.equal(c.send(ROOT, p4), true);
    assert.equal(c.send(ROOT6, p6), true);
    // Shorter than a fragment: not tunnelled (1.14 sends nothing under 16 bytes through it either).
    assert.equal(c.send(ROOT, new Uint8Array(15)), false);
    const want = Buffer.concat([encodeTunnelHello(V1141), encodeTunnelRecord(p4, ROOT), encodeTunnelRecord(p6, ROOT6)]);
    assert.equal(toHex(encodeTunnelHello(V1141)), '1703030004010e0001', 'the hello as vl1.md §9.1 spells it');
    await until(() => relay.conns.length === 1 && relay.received(0).length >= want.length, 'the bytes');
    assert.equal(relay.received(0).toString('hex'), want.toString('hex'));
    assert.equal(c.isConnected, true);
    assert.deepEqual([c.stats.connects, c.stats.sent, c.stats.dropped], [1, 2, 0]);
  } finally {
    await c.close();
    await relay.close();
  }
});

test('delivers datagrams with the source they were framed with; skips no-address, runt, hello and unknown-type records and keeps the stream', async () => {
  const relay = new RawRelay();
  const at = await relay.listen();
  const got: Delivery[] = [];
  const c = client(at, got);
  try {
    c.send(ROOT, packetFrom(1));
    await until(() => relay.conns.length === 1, 'the connection');
    const s = relay.conns[0]!;
    const a = packetFrom(7, 48, 0xaa);
    const b = packetFrom(8, 33, 0xbb);
    const runt = encodeTunnelRecord(new Uint8Array(16), ROOT).subarray(0, 5 + 7 + 10); // 10-byte datagram
    runt[4] = 7 + 10; // body length to match
    const unknownType = encodeTunnelRecord(packetFrom(9), ROOT);
    unknownType[5] = 5; // address type 05 does not exist
    const stream = Buffer.concat([
      encodeTunnelRecord(a, ROOT),
      encodeTunnelRecord(packetFrom(3), null), // type 00: no source to answer, dropped as 1.14 does
      runt,
      encodeTunnelHello(V1141),
      unknownType,
      encodeTunnelRecord(b, ROOT6),
    ]);
    // One byte at a time: records cut anywhere still come out whole.
    for (const byte of stream) s.write(Buffer.from([byte]));
    await until(() => got.length === 2, 'both datagrams');
    assert.deepEqual(got, [
      { data: toHex(a), from: ROOT },
      { data: toHex(b), from: ROOT6 },
    ]);
    assert.deepEqual([c.stats.received, c.stats.badRecords], [2, 4]);
    assert.equal(c.isConnected, true, 'well-framed records it cannot use do not cost the connection');
  } finally {
    await c.close();
    await relay.close();
  }
});

test('junk framing from the relay drops the connection; the next send reconnects with a fresh hello', async () => {
  const relay = new RawRelay();
  const at = await relay.listen();
  const got: Delivery[] = [];
  const c = client(at, got, { reconnectMs: 50 });
  try {
    c.send(ROOT, packetFrom(1));
    await until(() => relay.conns.length === 1, 'the connection');
    relay.conns[0]!.write(fromHex('1603010005')); // a TLS header, not our record type
    await until(() => !c.isConnected, 'the client to hang up');
    assert.equal(c.stats.badRecords, 1);
    await new Promise((r) => setTimeout(r, 60));
    const p = packetFrom(2);
    assert.equal(c.send(ROOT, p), true);
    await until(() => relay.conns.length === 2 && relay.received(1).length >= 9 + 12 + p.length, 'the second connection');
    assert.equal(relay.received(1).toString('hex'), Buffer.concat([encodeTunnelHello(V1141), encodeTunnelRecord(p, ROOT)]).toString('hex'));
  } finally {
    await c.close();
    await relay.close();
  }
});

test('the relay drops the connection: sends within the reconnect pause are dropped and counted, the next one reconnects', async () => {
  const relay = new RawRelay();
  const at = await relay.listen();
  const got: Delivery[] = [];
  const c = client(at, got, { reconnectMs: 200 });
  try {
    c.send(ROOT, packetFrom(1));
    await until(() => c.isConnected && relay.conns.length === 1, 'the connection');
    relay.conns[0]!.destroy();
    await until(() => !c.isConnected, 'the client to notice');
    // Within 200 ms of the first attempt: 1.14 also waits before reopening.
    const first = c.stats.connects;
    assert.equal(c.send(ROOT, packetFrom(2)), false);
    assert.equal(c.stats.dropped, 1);
    assert.equal(c.stats.connects, first);
    await new Promise((r) => setTimeout(r, 220));
    assert.equal(c.send(ROOT, packetFrom(3)), true);
    await until(() => relay.conns.length === 2 && relay.received(1).length >= 9 + 12 + 40, 'the new connection');
    assert.equal(c.stats.connects, 2);
    // The new stream starts with the hello and carries the datagram sent after the pause.
    const r = new TunnelRecordReader();
    r.push(relay.received(1));
    const bodies = [r.next(), r.next()];
    assert.deepEqual(decodeTunnelRecord(bodies[0]!), { kind: 'hello', version: V1141 });
    const rec = decodeTunnelRecord(bodies[1]!);
    assert.equal(rec.kind === 'datagram' && toHex(rec.datagram), toHex(packetFrom(3)));
    // And what the relay sends on it arrives.
    relay.conns[1]!.write(encodeTunnelRecord(packetFrom(9), ROOT));
    await until(() => got.length === 1, 'a datagram on the new connection');
  } finally {
    await c.close();
    await relay.close();
  }
});

test('bounded queue: a relay that stops reading costs at most maxQueueBytes; beyond, datagrams are dropped and counted, and nothing queued is torn', async () => {
  const relay = new RawRelay();
  const at = await relay.listen();
  const max = 64 * 1024;
  const c = client(at, [], { maxQueueBytes: max });
  let sock: net.Socket | null = null;
  try {
    c.send(ROOT, packetFrom(1, 1000));
    await until(() => relay.conns.length === 1 && c.isConnected, 'the connection');
    relay.conns[0]!.pause(); // the kernel's buffers fill, then the client's own queue
    sock = relay.conns[0]!;
    // Reach into the client only to watch its socket's queue; the bound is what is under test.
    const own = (c as unknown as { sock: net.Socket }).sock;
    const total = 20_000; // 20 MB: far more than loopback's socket buffers hold
    let maxSeen = 0;
    for (let i = 0; i < total; i++) {
      c.send(ROOT, packetFrom(i, 1000));
      maxSeen = Math.max(maxSeen, own.writableLength);
    }
    assert.ok(maxSeen <= max, `queued ${maxSeen} bytes > ${max}`);
    assert.ok(c.stats.dropped > 0, 'some datagrams were dropped');
    assert.equal(c.stats.sent + c.stats.dropped, total + 1);
    // The relay reads again: exactly the accepted records arrive, each whole.
    sock.resume();
    const want = 9 + c.stats.sent * (5 + 7 + 1000);
    await until(() => relay.received(0).length >= want, 'every accepted record', 10_000);
    assert.equal(relay.received(0).length, want);
    const r = new TunnelRecordReader();
    r.push(relay.received(0));
    let records = 0;
    for (let b = r.next(); b !== null; b = r.next()) records++;
    assert.equal(records, 1 + c.stats.sent);
    assert.equal(r.pending, 0);
  } finally {
    sock?.resume();
    await c.close();
    await relay.close();
  }
});

test('close: the socket is gone, later sends are refused, and close again is harmless', async () => {
  const relay = new RawRelay();
  const at = await relay.listen();
  const c = client(at, []);
  try {
    c.send(ROOT, packetFrom(1));
    await until(() => relay.conns.length === 1, 'the connection');
    const ended = once(relay.conns[0]!, 'close');
    await c.close();
    await ended;
    assert.equal(c.send(ROOT, packetFrom(2)), false);
    assert.equal(c.stats.connects, 1, 'no reconnect after close');
    await c.close();
  } finally {
    await relay.close();
  }
});

test('through the real tunnel listener: the datagram arrives with its destination, the answer with the source it was given', async () => {
  const got: Delivery[] = [];
  let conn: TunnelConnection | null = null;
  let dest: InetAddress | null = null;
  const server = new TcpTunnelServer(
    { sweepMs: 50 },
    {
      onDatagram: (cn, _d, to) => {
        conn = cn;
        dest = to;
      },
      onClose: () => undefined,
    },
  );
  await server.listen('127.0.0.1', 0);
  const c = client({ family: 4, ip: '127.0.0.1', port: server.port }, got);
  try {
    assert.equal(c.send(ROOT6, packetFrom(0x0a0b0c0d0e)), true);
    await until(() => conn !== null, 'the datagram at the listener');
    assert.deepEqual(dest, ROOT6);
    assert.equal(conn!.address, 0x0a0b0c0d0e, 'the tunnel speaks for the packet’s source');
    assert.deepEqual(conn!.version, V1141);
    const answer = packetFrom(0x1112131415, 60, 0x5a);
    assert.equal(conn!.send(answer, ROOT6), true);
    await until(() => got.length === 1, 'the answer');
    assert.deepEqual(got[0], { data: toHex(answer), from: ROOT6 });
  } finally {
    await c.close();
    await server.close();
  }
});
