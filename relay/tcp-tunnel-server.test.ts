/**
 * The TCP relay listener on real TCP (127.0.0.1; 127.0.0.2 as a second source IP): framing both ways, the
 * recorded 1.14.1 stream, every limit, the allow-list, and TLS and ZeroTier sharing one port with a real
 * node:tls handshake.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import https from 'node:https';
import { once } from 'node:events';
import fc from 'fast-check';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readVectorJson } from '../test/vectors.js';
import { concatBytes, fromHex, toHex } from '../vl1/bytes.js';
import type { InetAddress } from '../vl1/inet-address.js';
import { encodeTunnelHello, encodeTunnelRecord } from '../vl1/tcp-framing.js';
import { TcpTunnelServer, type TunnelConnection, type TunnelServerOptions } from './tcp-tunnel-server.js';

const HELLO = encodeTunnelHello({ major: 1, minor: 14, revision: 1 });
const ROOT: InetAddress = { family: 4, ip: '192.0.0.1', port: 9993 };
const tmp = mkdtempSync(join(tmpdir(), 'ztroot-tunnel-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

/** A whole packet (28 bytes+) from ZeroTier address `src` (bytes 13..17); the rest is filler. */
function packetFrom(src: number, len = 40): Uint8Array {
  const p = new Uint8Array(len).fill(0x42);
  for (let i = 0; i < 5; i++) p[13 + i] = Math.floor(src / 2 ** (8 * (4 - i))) & 0xff;
  return p;
}

interface Harness {
  server: TcpTunnelServer;
  got: Array<{ conn: TunnelConnection; datagram: string; dest: InetAddress | null }>;
  closed: TunnelConnection[];
}

async function startServer(opts: Partial<TunnelServerOptions> = {}, httpsServer?: https.Server): Promise<Harness> {
  const h: Harness = { server: undefined as unknown as TcpTunnelServer, got: [], closed: [] };
  h.server = new TcpTunnelServer(
    { sweepMs: 25, ...opts },
    {
      onDatagram: (conn, d, dest) => h.got.push({ conn, datagram: toHex(d), dest }),
      onClose: (conn) => h.closed.push(conn),
    },
    httpsServer !== undefined ? { https: httpsServer } : {},
  );
  await h.server.listen('127.0.0.1', 0);
  return h;
}

async function connect(port: number, localAddress = '127.0.0.1'): Promise<net.Socket & { received: Buffer[]; ended: Promise<void> }> {
  const s = net.connect({ host: '127.0.0.1', port, localAddress }) as net.Socket & { received: Buffer[]; ended: Promise<void> };
  s.received = [];
  s.on('data', (c: Buffer) => s.received.push(c));
  s.on('error', () => undefined);
  s.ended = new Promise((r) => s.once('close', () => r()));
  await once(s, 'connect');
  return s;
}

async function until(cond: () => boolean, ms = 3000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Resolves true if the socket closes within ms. */
async function closesWithin(s: { ended: Promise<void> }, ms: number): Promise<boolean> {
  return Promise.race([s.ended.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), ms))]);
}

test('hello, then datagrams both ways: delivered with their destination, answers framed byte for byte', async () => {
  const h = await startServer();
  const c = await connect(h.server.port);
  try {
    c.write(HELLO);
    const p = packetFrom(0x52e6f8fcda);
    c.write(encodeTunnelRecord(p, ROOT));
    await until(() => h.got.length === 1, 3000, 'the datagram');
    const { conn, datagram, dest } = h.got[0]!;
    assert.equal(datagram, toHex(p));
    assert.deepEqual(dest, ROOT);
    assert.deepEqual(conn.version, { major: 1, minor: 14, revision: 1 });
    assert.equal(conn.address, 0x52e6f8fcda, 'bound to the source of its first packet');
    assert.deepEqual(conn.remote, { family: 4, ip: '127.0.0.1', port: c.localPort });
    assert.equal(h.server.tunnels, 1);

    const answer = packetFrom(0xc734a53e81, 60);
    assert.equal(conn.send(answer, ROOT), true);
    await until(() => Buffer.concat(c.received).length >= 5 + 7 + 60, 3000, 'the answer');
    assert.equal(toHex(Buffer.concat(c.received)), toHex(encodeTunnelRecord(answer, ROOT)));
    const v6 = { family: 6 as const, ip: '2001:db8::7', port: 9993 };
    conn.send(answer, v6);
    await until(() => Buffer.concat(c.received).length >= 2 * 5 + 7 + 19 + 120, 3000, 'the IPv6-framed answer');
    assert.equal(toHex(Buffer.concat(c.received).subarray(5 + 7 + 60)), toHex(encodeTunnelRecord(answer, v6)));
    const counters = h.server.counters;
    assert.equal(counters.get('tcp_rx_datagrams'), 1);
    assert.equal(counters.get('tcp_tx_datagrams'), 2);

    // Another source on the same tunnel is not forwarded: a node tunnels only its own packets.
    c.write(encodeTunnelRecord(packetFrom(0x1111111111), ROOT));
    await until(() => h.server.counters.get('tcp_source_mismatch') === 1, 3000, 'the mismatch count');
    assert.equal(h.got.length, 1);
  } finally {
    c.destroy();
    await h.server.close();
  }
  assert.equal(h.closed.length, 1, 'onClose once');
});

test('the recorded 1.14.1 client stream, in odd-sized pieces, yields every inner packet in order', async () => {
  const recs = readVectorJson<{ tcp_records: Array<{ stream_direction?: string; header_hex?: string; record_body_hex?: string; inner_packet?: { wire_hex: string } }> }>(
    'tcp-fallback',
    'decoded.json',
  ).tcp_records.filter((r) => r.stream_direction === 'c2 -> root' && r.header_hex !== undefined);
  const stream = concatBytes(...recs.map((r) => fromHex(r.header_hex! + r.record_body_hex!)));
  const inner = recs.filter((r) => r.inner_packet !== undefined).map((r) => r.inner_packet!.wire_hex);
  const dests = recs.filter((r) => r.inner_packet !== undefined).map((r) => (r as { address_prefix?: { ip: string; port: number } }).address_prefix);
  const h = await startServer();
  const c = await connect(h.server.port);
  try {
    for (let o = 0, i = 0; o < stream.length; i++) {
      const n = [1, 7, 300, 13, 2048, 5][i % 6]!;
      c.write(stream.subarray(o, o + n));
      o += n;
    }
    await until(() => h.got.length === inner.length, 5000, `${inner.length} packets`);
    assert.deepEqual(
      h.got.map((g) => g.datagram),
      inner,
    );
    assert.deepEqual(
      h.got.map((g) => `${g.dest?.ip}/${g.dest?.port}`),
      dests.map((d) => `${d?.ip}/${d?.port}`),
      'each with the destination the client framed',
    );
    assert.ok(dests.some((d) => d?.ip === '192.0.0.1' && d.port === 9993));
    assert.equal(h.got[0]!.conn.address, 0x52e6f8fcda);
  } finally {
    c.destroy();
    await h.server.close();
  }
});

test('connection limits: in total, and per source IP', async () => {
  const h = await startServer({ maxConnections: 3, maxConnectionsPerIp: 2 });
  const socks: Array<Awaited<ReturnType<typeof connect>>> = [];
  try {
    socks.push(await connect(h.server.port, '127.0.0.1'), await connect(h.server.port, '127.0.0.1'));
    const third = await connect(h.server.port, '127.0.0.1');
    assert.equal(await closesWithin(third, 1000), true, 'a third from the same IP is refused');
    assert.equal(h.server.counters.get('tcp_refused_ip_limit'), 1);
    socks.push(await connect(h.server.port, '127.0.0.2'));
    await until(() => h.server.connections === 3, 2000, 'three open');
    const fourth = await connect(h.server.port, '127.0.0.2');
    assert.equal(await closesWithin(fourth, 1000), true, 'past the total, refused');
    assert.equal(h.server.counters.get('tcp_refused_total_limit'), 1);
    // Freed places are reusable.
    socks[0]!.destroy();
    await until(() => h.server.connections === 2, 2000, 'the close to be seen');
    const again = await connect(h.server.port, '127.0.0.1');
    socks.push(again);
    again.write(HELLO);
    await until(() => h.server.tunnels === 1, 2000, 'a tunnel on the freed place');
  } finally {
    for (const s of socks) s.destroy();
    await h.server.close();
  }
});

test('per-prefix limit (/24), and a full relay makes room for a quiet prefix by closing the busiest one\'s least useful connection', async () => {
  const h = await startServer({ maxConnections: 6, maxConnectionsPerIp: 10, maxConnectionsPerPrefix: 4 });
  const socks: Array<Awaited<ReturnType<typeof connect>>> = [];
  try {
    // Four addresses of 127.0.1.0/24 fill its prefix; a fifth address of it is refused per prefix.
    for (let i = 1; i <= 4; i++) {
      const s = await connect(h.server.port, `127.0.1.${i}`);
      if (i !== 2) s.write(HELLO); // 127.0.1.2 says nothing: the least useful
      socks.push(s);
    }
    const fifth = await connect(h.server.port, '127.0.1.5');
    assert.equal(await closesWithin(fifth, 1000), true, 'the prefix is full');
    assert.equal(h.server.counters.get('tcp_refused_prefix_limit'), 1);
    socks.push(await connect(h.server.port, '127.0.2.1'), await connect(h.server.port, '127.0.2.2'));
    await until(() => h.server.connections === 6 && h.server.tunnels === 3, 2000, 'full');
    // Full. A newcomer from a quiet prefix: the silent connection of the busiest prefix makes room.
    const newcomer = await connect(h.server.port, '127.0.3.1');
    socks.push(newcomer);
    assert.equal(await closesWithin(socks[1]!, 1000), true, 'the silent 127.0.1.2 was closed');
    assert.equal(await closesWithin(newcomer, 300), false, 'the newcomer stays');
    assert.equal(h.server.counters.get('tcp_evicted'), 1);
    assert.equal(h.server.connections, 6);
    // 127.0.1.0/24 (3) and 127.0.2.0/24 (2) are not two below the busiest (3): refused at the total.
    const again = await connect(h.server.port, '127.0.2.3');
    assert.equal(await closesWithin(again, 1000), true);
    assert.equal(h.server.counters.get('tcp_refused_total_limit'), 1);
    assert.equal(h.server.counters.get('tcp_evicted'), 1);
  } finally {
    for (const s of socks) s.destroy();
    await h.server.close();
  }
});

test('greeting deadline (slowloris): silence or a partial hello is closed and counted', async () => {
  const h = await startServer({ greetingTimeoutMs: 300 });
  try {
    const silent = await connect(h.server.port);
    const partial = await connect(h.server.port);
    partial.write(HELLO.subarray(0, 3));
    const t0 = Date.now();
    assert.equal(await closesWithin(silent, 2000), true);
    assert.equal(await closesWithin(partial, 2000), true);
    assert.ok(Date.now() - t0 >= 200, 'not before the deadline');
    assert.equal(h.server.counters.get('tcp_greeting_timeouts'), 2);
    // A client that greets in time stays.
    const ok = await connect(h.server.port);
    ok.write(HELLO);
    assert.equal(await closesWithin(ok, 600), false);
    ok.destroy();
  } finally {
    await h.server.close();
  }
});

test('idle timeout: a tunnel that sends nothing is closed; one that keeps sending stays', async () => {
  const h = await startServer({ idleTimeoutMs: 400 });
  try {
    const idle = await connect(h.server.port);
    const busy = await connect(h.server.port);
    idle.write(HELLO);
    busy.write(HELLO);
    const timer = setInterval(() => busy.write(encodeTunnelRecord(packetFrom(0x0102030405), ROOT)), 100);
    try {
      assert.equal(await closesWithin(idle, 2000), true);
      assert.equal(await closesWithin(busy, 300), false);
    } finally {
      clearInterval(timer);
    }
    assert.equal(h.server.counters.get('tcp_idle_timeouts'), 1);
    busy.destroy();
  } finally {
    await h.server.close();
  }
});

test('bounded write queue: a client that does not read costs at most maxQueueBytes, drops are counted, and it is closed as a slow reader', async () => {
  const max = 64 * 1024;
  const h = await startServer({ maxQueueBytes: max, slowReaderMs: 500 });
  const c = await connect(h.server.port);
  try {
    c.pause(); // never reads: the kernel buffers fill, then the server's queue
    c.write(HELLO);
    c.write(encodeTunnelRecord(packetFrom(0x0a0b0c0d0e), ROOT));
    await until(() => h.got.length === 1, 2000, 'the tunnel');
    const conn = h.got[0]!.conn;
    const big = new Uint8Array(1400);
    let maxSeen = 0;
    const socket = (conn as unknown as { socket: net.Socket }).socket;
    // Keep offering datagrams, as a root relaying to it would, until the kernel's buffers are full and the
    // server gives up on the client.
    const deadline = Date.now() + 8000;
    while (conn.open && Date.now() < deadline) {
      for (let i = 0; i < 200; i++) conn.send(big, ROOT);
      maxSeen = Math.max(maxSeen, socket.writableLength);
      await new Promise((r) => setTimeout(r, 5));
    }
    assert.ok((h.server.counters.get('tcp_queue_full_drops') ?? 0) >= 50, 'drops counted');
    assert.ok(maxSeen <= max, `queue stayed within ${max} bytes (saw ${maxSeen})`);
    assert.equal(h.closed.length, 1, 'the server closed the tunnel');
    assert.equal(h.server.counters.get('tcp_slow_reader_closes'), 1, 'as a slow reader');
    c.resume(); // a paused socket does not report its close
    assert.equal(await closesWithin(c, 3000), true, 'the client sees it closed');
    assert.equal(h.server.counters.get('tcp_slow_reader_closes'), 1);
  } finally {
    c.destroy();
    await h.server.close();
  }
});

test('bad streams: an oversized record header closes at once; junk and a non-hello first record are refused', async () => {
  const h = await startServer({ maxRecordBytes: 1500 });
  try {
    const big = await connect(h.server.port);
    big.write(HELLO);
    big.write(fromHex('17030305dd')); // 1501 announced, body never sent
    assert.equal(await closesWithin(big, 1000), true);
    assert.equal(h.server.counters.get('tcp_records_too_large'), 1);

    const http = await connect(h.server.port);
    http.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    assert.equal(await closesWithin(http, 1000), true);
    const noHello = await connect(h.server.port);
    noHello.write(encodeTunnelRecord(packetFrom(0x0102030405), ROOT));
    assert.equal(await closesWithin(noHello, 1000), true);
    assert.equal(h.server.counters.get('tcp_bad_protocol'), 2);

    // A datagram too short to be ZeroTier is dropped and counted; the tunnel stays.
    const runt = await connect(h.server.port);
    runt.write(HELLO);
    runt.write(encodeTunnelRecord(new Uint8Array(4), ROOT));
    runt.write(encodeTunnelRecord(packetFrom(0x0102030405), ROOT));
    await until(() => h.got.length === 1, 2000, 'the datagram after the runt');
    assert.equal(h.server.counters.get('tcp_runt_datagrams'), 1);
    assert.equal(await closesWithin(runt, 200), false);
    runt.destroy();
    h.got.length = 0;

    const badType = await connect(h.server.port);
    badType.write(HELLO);
    badType.write(fromHex('1703030020' + '05' + '00'.repeat(31)));
    assert.equal(await closesWithin(badType, 1000), true, 'an unknown address type closes (as 1.14)');
    assert.equal(h.server.counters.get('tcp_bad_records'), 1);
    assert.equal(h.got.length, 0);
  } finally {
    await h.server.close();
  }
});

test('allow-list: listed addresses pass, others are closed; a broken file fails closed or open as configured, and edits are picked up', async () => {
  const file = join(tmp, 'allow.txt');
  writeFileSync(file, '# relay users\n0a0b0c0d0e\n\n52E6F8FCDA  # c2\n');
  const h = await startServer({ allowList: { file, failOpen: false } });
  try {
    const ok = await connect(h.server.port);
    ok.write(HELLO);
    ok.write(encodeTunnelRecord(packetFrom(0x52e6f8fcda), ROOT));
    await until(() => h.got.length === 1, 2000, 'the listed address');
    const no = await connect(h.server.port);
    no.write(HELLO);
    no.write(encodeTunnelRecord(packetFrom(0x1111111111), ROOT));
    assert.equal(await closesWithin(no, 1000), true);
    assert.equal(h.server.counters.get('tcp_allowlist_denied'), 1);
    assert.equal(h.server.allowListState, 'ok');
    ok.destroy();
  } finally {
    await h.server.close();
  }

  const broken = join(tmp, 'broken.txt');
  writeFileSync(broken, '52e6f8fcda\nnot-an-address\n');
  for (const failOpen of [false, true]) {
    const hb = await startServer({ allowList: { file: broken, failOpen } });
    try {
      assert.equal(hb.server.allowListState, failOpen ? 'failed-open' : 'failed-closed');
      const c = await connect(hb.server.port);
      c.write(HELLO);
      c.write(encodeTunnelRecord(packetFrom(0x52e6f8fcda), ROOT));
      if (failOpen) await until(() => hb.got.length === 1, 2000, 'fail-open lets it through');
      else assert.equal(await closesWithin(c, 1000), true, 'fail-closed lets no one through');
      c.destroy();
    } finally {
      await hb.server.close();
    }
  }

  // Fixing the file is picked up (checked every 5 s at most; the sweep runs every 25 ms here).
  const hc = await startServer({ allowList: { file: broken, failOpen: false } });
  try {
    writeFileSync(broken, '52e6f8fcda\n# fixed, and longer than before\n');
    await until(() => hc.server.allowListState === 'ok', 8000, 'the reload');
  } finally {
    await hc.server.close();
  }
});

/** A self-signed certificate for localhost, or null if openssl is missing. */
function selfSigned(): { key: Buffer; cert: Buffer } | null {
  const dir = mkdtempSync(join(tmp, 'tls-'));
  const r = spawnSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1', '-subj', '/CN=localhost', '-keyout', join(dir, 'k'), '-out', join(dir, 'c')], { stdio: 'ignore' });
  if (r.status !== 0) return null;
  return { key: readFileSync(join(dir, 'k')), cert: readFileSync(join(dir, 'c')) };
}

test('one port, two protocols: a real TLS client gets the HTTPS server while a ZeroTier tunnel works beside it', async (t) => {
  const pair = selfSigned();
  if (pair === null) return t.skip('skipped: openssl is not installed (needed to make a test certificate)');
  const web = https.createServer({ ...pair, handshakeTimeout: 2000 }, (_req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end('hello over https');
  });
  const h = await startServer({}, web);
  const tunnel = await connect(h.server.port);
  try {
    tunnel.write(HELLO);
    const body = await new Promise<string>((resolve, reject) => {
      https
        .get({ host: '127.0.0.1', port: h.server.port, path: '/', ca: pair.cert, servername: 'localhost', agent: false }, (res) => {
          let text = '';
          res.on('data', (c: Buffer) => (text += c.toString()));
          res.on('end', () => resolve(`${res.statusCode} ${text}`));
        })
        .on('error', reject);
    });
    assert.equal(body, '200 hello over https');
    assert.equal(h.server.counters.get('tcp_tls_handoffs'), 1);
    tunnel.write(encodeTunnelRecord(packetFrom(0x52e6f8fcda), ROOT));
    await until(() => h.got.length === 1, 2000, 'the tunnel datagram');
    await until(() => h.server.connections === 1, 3000, 'the TLS connection to be closed and uncounted');
  } finally {
    tunnel.destroy();
    await h.server.close();
    web.close();
  }

  // Without an HTTPS server, TLS is refused and counted.
  const bare = await startServer();
  try {
    const err = await new Promise<Error>((resolve) => {
      https.get({ host: '127.0.0.1', port: bare.server.port, ca: pair.cert, servername: 'localhost', agent: false }, () => resolve(new Error('unexpected response'))).on('error', resolve);
    });
    assert.ok(err instanceof Error && err.message !== 'unexpected response', `the TLS client fails: ${err.message}`);
    assert.equal(bare.server.counters.get('tcp_tls_unconfigured'), 1);
  } finally {
    await bare.server.close();
  }
});

test('dual stack: one listener on [::] takes IPv4 clients (named as IPv4, not ::ffff:) and IPv6 clients', async (t) => {
  const h: Harness = { server: undefined as unknown as TcpTunnelServer, got: [], closed: [] };
  h.server = new TcpTunnelServer({}, { onDatagram: (conn, d, dest) => h.got.push({ conn, datagram: toHex(d), dest }), onClose: () => undefined });
  try {
    await h.server.listen('::', 0);
  } catch (e) {
    return t.skip(`skipped: no IPv6 on this host (${(e as Error).message})`);
  }
  const socks: net.Socket[] = [];
  try {
    for (const [host, src] of [['127.0.0.1', 0x0101010101], ['::1', 0x0202020202]] as const) {
      const s = net.connect({ host, port: h.server.port });
      socks.push(s);
      await once(s, 'connect');
      s.write(HELLO);
      s.write(encodeTunnelRecord(packetFrom(src), { family: 6, ip: '2001:db8::1', port: 9993 }));
    }
    await until(() => h.got.length === 2, 3000, 'both datagrams');
    const byFamily = new Map(h.got.map((g) => [g.conn.remote.family, g]));
    assert.equal(byFamily.get(4)?.conn.remote.ip, '127.0.0.1');
    assert.equal(byFamily.get(6)?.conn.remote.ip, '::1');
    assert.deepEqual(byFamily.get(6)?.dest, { family: 6, ip: '2001:db8::1', port: 9993 }, 'an IPv6 destination, as framed');
  } finally {
    for (const s of socks) s.destroy();
    await h.server.close();
  }
});

test('random streams never crash the listener: each connection is served or closed, and a good tunnel still works after', async () => {
  const h = await startServer({ greetingTimeoutMs: 500, maxRecordBytes: 2048 });
  try {
    await fc.assert(
      fc.asyncProperty(fc.boolean(), fc.array(fc.uint8Array({ minLength: 1, maxLength: 300 }), { minLength: 1, maxLength: 8 }), async (greet, chunks) => {
        const c = await connect(h.server.port);
        if (greet) c.write(HELLO);
        for (const ch of chunks) c.write(ch);
        await new Promise((r) => setTimeout(r, 5));
        c.destroy();
      }),
      { seed: 77, numRuns: 150 },
    );
    await until(() => h.server.connections === 0, 3000, 'every random connection to be gone');
    const good = await connect(h.server.port);
    good.write(HELLO);
    h.got.length = 0;
    good.write(encodeTunnelRecord(packetFrom(0x0102030405), ROOT));
    await until(() => h.got.length === 1, 2000, 'a datagram on a good tunnel');
    good.destroy();
  } finally {
    await h.server.close();
  }
});
