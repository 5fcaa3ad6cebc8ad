/**
 * The batched UDP socket (native/udp through relay/udp-socket.ts) on real sockets: batches in and out, IPv4 and
 * IPv6, sources as node:dgram gives them, a full send buffer (EAGAIN) counted, an oversized datagram counted,
 * close, and bad arguments refused with typed errors. The choice of path (auto / batched / dgram) is tested too.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { spawnSync } from 'node:child_process';
import { writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BATCH, BatchedUdpSocket, formatIpv6Like, loadUdpAddon, openUdpSocket, resolveUdpPath, SLOT_BYTES, UdpStat, type UdpAddon } from './udp-socket.js';
import { isZtError } from '../vl1/errors.js';

const l = loadUdpAddon();
const noAddon = 'why' in l ? l.why : false;
const addon = (): UdpAddon => (l as { addon: UdpAddon }).addon;

async function dgramSocket(type: 'udp4' | 'udp6', address: string): Promise<dgram.Socket> {
  const s = dgram.createSocket(type);
  await new Promise<void>((r) => s.bind(0, address, r));
  return s;
}

function waitFor(cond: () => boolean, ms = 3000): Promise<void> {
  const t0 = Date.now();
  return new Promise((resolve, reject) => {
    const tick = (): void => {
      if (cond()) resolve();
      else if (Date.now() - t0 > ms) reject(new Error('timed out'));
      else setTimeout(tick, 2);
    };
    tick();
  });
}

test('receives a burst in batches of up to 64, each datagram whole with its source as dgram reports it', { skip: noAddon }, async () => {
  const got: Array<{ bytes: Buffer; ip: string; port: number }> = [];
  const s = new BatchedUdpSocket(addon(), { family: 4, address: '127.0.0.1', port: 0 }, (buf, ip, port) => got.push({ bytes: Buffer.from(buf), ip, port }));
  const tx = await dgramSocket('udp4', '127.0.0.1');
  try {
    const N = 200;
    // Sent before the loop turns: all queued in the kernel when the socket first becomes readable.
    for (let i = 0; i < N; i++) tx.send(Buffer.alloc(20 + i, i & 0xff), s.address().port, '127.0.0.1');
    await waitFor(() => got.length === N);
    for (let i = 0; i < N; i++) {
      assert.equal(got[i]!.bytes.length, 20 + i);
      assert.ok(got[i]!.bytes.every((b) => b === (i & 0xff)), `datagram ${i} intact`);
      assert.equal(got[i]!.ip, '127.0.0.1');
      assert.equal(got[i]!.port, tx.address().port);
    }
    assert.equal(s.stats[UdpStat.RX_DATAGRAMS], N);
    assert.ok(s.stats[UdpStat.RX_BATCHES]! <= Math.ceil(N / BATCH) + 2, `batches: ${s.stats[UdpStat.RX_BATCHES]}`);
  } finally {
    tx.close();
    await s.close();
  }
});

test('sends queued outside a receive callback leave in sendmmsg batches before the loop waits, all of them, in order', { skip: noAddon }, async () => {
  const rx = await dgramSocket('udp4', '127.0.0.1');
  const got: number[] = [];
  rx.on('message', (m) => got.push(m.readUInt16BE(0)));
  const s = new BatchedUdpSocket(addon(), { family: 4, address: '127.0.0.1', port: 0 }, () => undefined);
  try {
    const N = 100;
    const buf = Buffer.alloc(50);
    for (let i = 0; i < N; i++) {
      buf.writeUInt16BE(i, 0);
      s.send(buf, rx.address().port, '127.0.0.1'); // the bytes are copied: the caller reuses its buffer
    }
    assert.equal(s.stats[UdpStat.TX_DATAGRAMS], BATCH, 'a full batch leaves at once');
    await waitFor(() => got.length === N);
    assert.deepEqual(got, [...Array(N).keys()]);
    assert.equal(s.stats[UdpStat.TX_BATCHES], 2);
  } finally {
    rx.close();
    await s.close();
  }
});

test('replies queued inside the receive callback leave in one batch after it returns (an echo server)', { skip: noAddon }, async () => {
  let s: BatchedUdpSocket | null = null;
  s = new BatchedUdpSocket(addon(), { family: 4, address: '127.0.0.1', port: 0 }, (buf, ip, port) => s!.send(buf, port, ip));
  const tx = await dgramSocket('udp4', '127.0.0.1');
  const back: Buffer[] = [];
  tx.on('message', (m) => back.push(m));
  try {
    for (let i = 0; i < 64; i++) tx.send(Buffer.from([i, 1, 2, 3]), s.address().port, '127.0.0.1');
    await waitFor(() => back.length === 64);
    assert.deepEqual(back.map((m) => m[0]).sort((a, b) => a! - b!), [...Array(64).keys()]);
    assert.ok(s.stats[UdpStat.TX_BATCHES]! <= s.stats[UdpStat.RX_BATCHES]!, 'one sendmmsg per received batch at most');
  } finally {
    tx.close();
    await s.close();
  }
});

test('IPv6: binds v6-only, receives from ::1 and sends to it', { skip: noAddon }, async () => {
  const got: Array<{ ip: string; port: number }> = [];
  const s = new BatchedUdpSocket(addon(), { family: 6, address: '::1', port: 0 }, (buf, ip, port) => {
    got.push({ ip, port });
    s.send(buf, port, ip);
  });
  const tx = await dgramSocket('udp6', '::1');
  const back: Buffer[] = [];
  tx.on('message', (m) => back.push(m));
  try {
    tx.send(Buffer.from('hello six'), s.address().port, '::1');
    await waitFor(() => back.length === 1);
    assert.deepEqual(got, [{ ip: '::1', port: tx.address().port }]);
    assert.equal(back[0]!.toString(), 'hello six');
    // v6-only: the same port number is free for an IPv4 socket
    const v4 = new BatchedUdpSocket(addon(), { family: 4, address: '127.0.0.1', port: s.address().port }, () => undefined);
    await v4.close();
  } finally {
    tx.close();
    await s.close();
  }
});

test('IPv6 sources are written as libuv writes them', () => {
  const b = (hex: string): Uint8Array => Uint8Array.from(Buffer.from(hex, 'hex'));
  assert.equal(formatIpv6Like(b('00000000000000000000000000000001')), '::1');
  assert.equal(formatIpv6Like(b('20010db8000000000000000000000001')), '2001:db8::1');
  assert.equal(formatIpv6Like(b('00000000000000000000ffffc0000201')), '::ffff:192.0.2.1');
  assert.equal(formatIpv6Like(b('000000000000000000000000c0000201')), '::192.0.2.1');
  assert.equal(formatIpv6Like(b('20010db8000000010000000000000000')), '2001:db8:0:1::');
});

test('a datagram longer than a slot is counted and dropped, the next one delivered', { skip: noAddon }, async () => {
  const got: number[] = [];
  const s = new BatchedUdpSocket(addon(), { family: 4, address: '127.0.0.1', port: 0 }, (buf) => got.push(buf.length));
  const tx = await dgramSocket('udp4', '127.0.0.1');
  try {
    tx.send(Buffer.alloc(SLOT_BYTES + 100), s.address().port, '127.0.0.1');
    tx.send(Buffer.alloc(SLOT_BYTES), s.address().port, '127.0.0.1');
    await waitFor(() => got.length === 1 && s.stats[UdpStat.RX_TRUNCATED] === 1);
    assert.deepEqual(got, [SLOT_BYTES]);
  } finally {
    tx.close();
    await s.close();
  }
});

test('sends that cannot be queued are refused and counted: bad address, wrong family, bad port, oversized', { skip: noAddon }, async () => {
  const s = new BatchedUdpSocket(addon(), { family: 4, address: '127.0.0.1', port: 0 }, () => undefined);
  try {
    s.send(new Uint8Array(10), 9, 'not-an-ip');
    s.send(new Uint8Array(10), 9, '::1');
    s.send(new Uint8Array(10), 0, '127.0.0.1');
    s.send(new Uint8Array(SLOT_BYTES + 1), 9, '127.0.0.1');
    assert.equal(s.stats[UdpStat.TX_REJECTED], 4);
    assert.throws(() => (s as unknown as { send: (a: unknown, b: unknown, c: unknown) => void }).send('text', 9, '127.0.0.1'), TypeError);
  } finally {
    await s.close();
  }
});

test('close: idempotent, frees the port, refuses later sends, and works from inside the receive callback', { skip: noAddon }, async () => {
  let calls = 0;
  const s: BatchedUdpSocket = new BatchedUdpSocket(addon(), { family: 4, address: '127.0.0.1', port: 0 }, () => {
    calls++;
    void s.close();
  });
  const port = s.address().port;
  const tx = await dgramSocket('udp4', '127.0.0.1');
  try {
    for (let i = 0; i < 10; i++) tx.send(Buffer.alloc(30), port, '127.0.0.1');
    await waitFor(() => calls > 0);
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(calls, 1, 'no datagram is delivered after close');
    await s.close();
    s.send(new Uint8Array(10), 9, '127.0.0.1');
    assert.equal(s.stats[UdpStat.TX_REJECTED], 1);
    const again = new BatchedUdpSocket(addon(), { family: 4, address: '127.0.0.1', port }, () => undefined);
    await again.close();
  } finally {
    tx.close();
  }
});

test('bad arguments and failed binds are typed errors naming the value', { skip: noAddon }, async () => {
  const Socket = addon().Socket;
  const data = new Uint8Array(64 * 1024);
  const meta = new Uint32Array(64 * 8);
  const stats = new Float64Array(16);
  const make = (...args: unknown[]): unknown => new (Socket as unknown as new (...a: unknown[]) => unknown)(...args);
  assert.throws(() => make(), TypeError);
  assert.throws(() => make(5, '127.0.0.1', 0, false, 0, data, meta, 1024, 64, stats, () => 0), /family must be 4 or 6, not 5/);
  assert.throws(() => make(4, '127.0.0.1', 70000, false, 0, data, meta, 1024, 64, stats, () => 0), RangeError);
  assert.throws(() => make(4, '127.0.0.1', 0, false, 0, data, meta, 4096, 64, stats, () => 0), /rxData must be a Uint8Array of at least/);
  assert.throws(() => make(4, '127.0.0.1', 0, false, 0, data, new Uint8Array(4096), 1024, 64, stats, () => 0), /rxMeta must be a Uint32Array/);
  assert.throws(() => make(4, '127.0.0.1', 0, false, 0, data, meta, 1024, 64, new Float64Array(2), () => 0), /stats must be a Float64Array/);
  assert.throws(() => make(4, '::1', 0, false, 0, data, meta, 1024, 64, stats, () => 0), /not an IPv4 address: '::1'/);
  const busy = await dgramSocket('udp4', '127.0.0.1');
  try {
    // As node:dgram reports it (code, negative errno, address, port): `ztroot start` explains both paths alike.
    const port = busy.address().port;
    await assert.rejects(openUdpSocket({ path: 'batched', why: null }, { family: 4, address: '127.0.0.1', port }, () => undefined), (e: Error & { errno?: number; syscall?: string; code?: string; address?: string; port?: number }) => {
      assert.equal(e.syscall, 'bind');
      assert.equal(e.code, 'EADDRINUSE');
      assert.ok(e.errno! < 0);
      assert.deepEqual([e.address, e.port], ['127.0.0.1', port]);
      assert.match(e.message, /bind 127\.0\.0\.1 port \d+: Address already in use/);
      return true;
    });
    await assert.rejects(openUdpSocket({ path: 'batched', why: null }, { family: 4, address: '192.0.2.77', port: 0 }, () => undefined), { code: 'EADDRNOTAVAIL', syscall: 'bind' });
  } finally {
    busy.close();
  }
});

test('path choice: auto takes the addon, ZTROOT_UDP=dgram or udp: dgram forces the fallback, unknown modes are refused', () => {
  assert.deepEqual(resolveUdpPath('dgram', {}), { path: 'dgram', why: 'udp: dgram in the configuration' });
  assert.deepEqual(resolveUdpPath('auto', { ZTROOT_UDP: 'dgram' }), { path: 'dgram', why: 'ZTROOT_UDP=dgram' });
  assert.throws(() => resolveUdpPath('auto', { ZTROOT_UDP: 'fast' }), (e: unknown) => isZtError(e) && /'fast' is not a UDP path; use auto, batched or dgram/.test(e.message));
  if (noAddon) {
    assert.equal(resolveUdpPath('auto', {}).path, 'dgram');
    assert.match(resolveUdpPath('auto', {}).why!, /npm run build:native/);
    assert.throws(() => resolveUdpPath('batched', {}), /batched was asked for, but/);
  } else {
    assert.deepEqual(resolveUdpPath('auto', {}), { path: 'batched', why: null });
    assert.deepEqual(resolveUdpPath('batched', { ZTROOT_UDP: 'dgram' }), { path: 'batched', why: null });
  }
});

// A full send buffer: in a private network namespace whose loopback holds packets in a slow qdisc (tbf), the datagrams
// waiting there are charged to the sender's SO_SNDBUF, so sendmmsg soon fails with EAGAIN. Nothing here touches the
// host's network: the namespace goes away with the child process.
const notRoot = process.getuid?.() !== 0 ? 'needs root (unshare -n, tc)' : false;
const noTc = spawnSync('tc', ['-V'], { stdio: 'ignore' }).error !== undefined ? "'tc' (iproute2) not found" : false;
test('a full send buffer (EAGAIN) drops the rest of the batch and counts it, without spinning', { skip: noAddon || notRoot || noTc }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'ztroot-udp-eagain-'));
  try {
    const script = join(dir, 'child.mjs');
    const mod = fileURLToPath(new URL('./udp-socket.js', import.meta.url));
    writeFileSync(
      script,
      `import { loadUdpAddon, UdpStat } from ${JSON.stringify(mod)};
const a = loadUdpAddon().addon;
const stats = new Float64Array(a.STATS);
const s = new a.Socket(4, '127.0.0.1', 0, false, 4096, new Uint8Array(64 * 2048), new Uint32Array(64 * 8), 2048, 64, stats, () => {});
const buf = new Uint8Array(1400);
const t0 = process.hrtime.bigint();
for (let i = 0; i < 2000; i++) s.send(buf, '127.0.0.1', 9);
s.flush();
const ms = Number(process.hrtime.bigint() - t0) / 1e6;
s.close();
console.log(JSON.stringify({ sent: stats[UdpStat.TX_DATAGRAMS], again: stats[UdpStat.TX_DROPPED_AGAIN], errors: stats[UdpStat.TX_ERRORS], ms }));
`,
    );
    const r = spawnSync('unshare', ['-n', 'sh', '-c', `ip link set lo up && tc qdisc add dev lo root tbf rate 100kbit burst 1600 limit 10000000 && exec ${JSON.stringify(process.execPath)} ${JSON.stringify(script)}`], {
      encoding: 'utf8',
      timeout: 20_000,
    });
    assert.equal(r.status, 0, r.stderr);
    const out = JSON.parse(r.stdout) as { sent: number; again: number; errors: number; ms: number };
    assert.ok(out.again > 0, `EAGAIN drops counted: ${r.stdout}`);
    assert.equal(out.sent + out.again + out.errors, 2000, r.stdout);
    assert.ok(out.sent < 2000);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
