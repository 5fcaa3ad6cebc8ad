/**
 * The standalone relay on real sockets (127.0.0.1 and ::1): tunnel → UDP from the shared socket of the
 * destination's family and back by ZeroTier destination (packets and fragments), the destination policy,
 * and which tunnel gets a reply when several speak for one address. Every drop is a counter.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { once } from 'node:events';
import { toHex } from '../vl1/bytes.js';
import type { InetAddress } from '../vl1/inet-address.js';
import { encodeTunnelRecord } from '../vl1/tcp-framing.js';
import { RawTunnelClient } from '../test/raw-tunnel-client.js';
import { StandaloneRelay, type StandaloneRelayOptions } from './standalone-relay.js';

const X = 0x0102030405; // the tunnel client's ZeroTier address
const Y = 0x0a0b0c0d0e; // someone else

/** A datagram with ZeroTier destination `dest` (bytes 8..12) and source `src` (13..17), or a fragment if src is null. */
function packet(dest: number, src: number | null, len = 48, fill = 0x42): Uint8Array {
  const p = new Uint8Array(len).fill(fill);
  for (let i = 0; i < 5; i++) p[8 + i] = Math.floor(dest / 2 ** (8 * (4 - i))) & 0xff;
  if (src === null) p[13] = 0xff; // fragment indicator
  else for (let i = 0; i < 5; i++) p[13 + i] = Math.floor(src / 2 ** (8 * (4 - i))) & 0xff;
  return p;
}

async function until(cond: () => boolean, what: string, ms = 3000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** A UDP endpoint standing in for a root: records what arrives and from where. */
interface Peer {
  sock: dgram.Socket;
  at: InetAddress;
  got: Array<{ data: string; ip: string; port: number }>;
}

async function udpPeer(family: 4 | 6): Promise<Peer> {
  const sock = dgram.createSocket(family === 4 ? 'udp4' : 'udp6');
  const got: Peer['got'] = [];
  sock.on('message', (m, r) => got.push({ data: toHex(m), ip: r.address, port: r.port }));
  sock.bind(0, family === 4 ? '127.0.0.1' : '::1');
  await once(sock, 'listening');
  return { sock, got, at: { family, ip: family === 4 ? '127.0.0.1' : '::1', port: sock.address().port } };
}

async function startRelay(opts: Partial<StandaloneRelayOptions> = {}): Promise<StandaloneRelay> {
  const r = new StandaloneRelay({ listen: { host: '127.0.0.1', port: 0 }, bind4: '127.0.0.1', bind6: '::1', tunnel: { sweepMs: 50 }, destinations: 'any', ...opts });
  await r.start();
  return r;
}

function count(r: StandaloneRelay, name: string): number {
  return r.counters.get(name) ?? 0;
}

test('tunnel → UDP from the shared socket of each family, and back by ZeroTier destination — packets and fragments — framed with the UDP source', async () => {
  const relay = await startRelay();
  const root4 = await udpPeer(4);
  const root6 = await udpPeer(6);
  const t = await new RawTunnelClient('127.0.0.1', relay.port).open();
  try {
    const out4 = packet(Y, X);
    const out6 = packet(Y, X, 60, 0x66);
    t.send(out4, root4.at);
    t.send(out6, root6.at);
    await until(() => root4.got.length === 1 && root6.got.length === 1, 'both datagrams over UDP');
    assert.deepEqual(root4.got[0], { data: toHex(out4), ip: '127.0.0.1', port: relay.udpPort(4) });
    assert.deepEqual(root6.got[0], { data: toHex(out6), ip: '::1', port: relay.udpPort(6) });

    // Replies: to X by bytes 8..12, whatever else they hold.
    const back4 = packet(X, Y, 50, 0x44);
    const frag6 = packet(X, null, 30, 0x46);
    root4.sock.send(back4, relay.udpPort(4), '127.0.0.1');
    root6.sock.send(frag6, relay.udpPort(6), '::1');
    const got = [await t.next(), await t.next()];
    const byData = new Map(got.map((d) => [toHex(d!.datagram), d!.from]));
    assert.deepEqual(byData.get(toHex(back4)), root4.at);
    assert.deepEqual(byData.get(toHex(frag6)), root6.at);
    assert.deepEqual([count(relay, 'relay_sent_udp'), count(relay, 'relay_to_tunnel')], [2, 2]);
  } finally {
    t.close();
    await relay.stop();
    root4.sock.close();
    root6.sock.close();
  }
});

test('destination policy: low ports, unlisted destinations, no address and a family without a socket are dropped and counted', async () => {
  const root4 = await udpPeer(4);
  const other = await udpPeer(4);
  // Only root4 (and an IPv6 address, listed so the missing socket is what stops it) may be reached; no IPv6 socket.
  const v6: InetAddress = { family: 6, ip: '::1', port: root4.at.port };
  const relay = await startRelay({ destinations: [root4.at, v6], bind6: null });
  const t = await new RawTunnelClient('127.0.0.1', relay.port).open();
  try {
    assert.equal(relay.udpPort(6), 0);
    t.send(packet(Y, X), { family: 4, ip: '127.0.0.1', port: 1024 }); // ≤ 1024: never
    t.send(packet(Y, X), other.at); // not in the list
    t.write(encodeTunnelRecord(packet(Y, X), null)); // address type 00: nowhere to send it
    t.send(packet(Y, X), v6); // no IPv6 socket
    const good = packet(Y, X, 40, 0x77);
    t.send(good, root4.at);
    await until(() => root4.got.length === 1, 'the allowed datagram');
    assert.equal(root4.got[0]!.data, toHex(good));
    assert.deepEqual(
      ['relay_drop_low_port', 'relay_drop_destination', 'relay_drop_no_destination', 'relay_drop_no_socket', 'relay_sent_udp'].map((k) => count(relay, k)),
      [1, 1, 1, 1, 1],
    );
    assert.equal(other.got.length, 0);
    assert.equal(t.closed, false, 'a refused destination costs the datagram, not the tunnel');
  } finally {
    t.close();
    await relay.stop();
    root4.sock.close();
    other.sock.close();
  }
});

test('UDP routing: the tunnel that last spoke for an address gets its replies; when it closes the other does; with none, counted drops', async () => {
  const relay = await startRelay();
  const root = await udpPeer(4);
  const t1 = await new RawTunnelClient('127.0.0.1', relay.port).open();
  const t2 = await new RawTunnelClient('127.0.0.1', relay.port).open();
  try {
    const toRelay = (d: Uint8Array) => root.sock.send(d, relay.udpPort(4), '127.0.0.1');
    // Nobody speaks for X yet; a runt is not even looked at.
    toRelay(packet(X, Y));
    toRelay(new Uint8Array(15));
    await until(() => count(relay, 'relay_drop_no_tunnel') === 1 && count(relay, 'relay_drop_runt') === 1, 'both drops');

    t1.send(packet(Y, X), root.at);
    await until(() => root.got.length === 1, 't1 heard');
    t2.send(packet(Y, X), root.at); // a reconnecting client: the newer connection wins
    await until(() => root.got.length === 2, 't2 heard');
    const r1 = packet(X, Y, 40, 0x01);
    toRelay(r1);
    assert.equal(toHex((await t2.next())!.datagram), toHex(r1));

    t2.close();
    await until(() => relay.tunnel.tunnels === 1, 't2 gone at the relay');
    const r2 = packet(X, Y, 40, 0x02);
    toRelay(r2);
    assert.equal(toHex((await t1.next())!.datagram), toHex(r2));
    assert.equal(t1.inbox.length, 0, 't1 got only what was meant for it after t2 left');

    t1.close();
    await until(() => relay.tunnel.tunnels === 0, 't1 gone at the relay');
    toRelay(packet(X, Y));
    await until(() => count(relay, 'relay_drop_no_tunnel') === 2, 'the drop after both left');
  } finally {
    t1.close();
    t2.close();
    await relay.stop();
    root.sock.close();
  }
});

test('start fails cleanly when the TCP port is taken: the error is thrown and no UDP socket stays bound', async () => {
  const first = await startRelay();
  const second = new StandaloneRelay({ listen: { host: '127.0.0.1', port: first.port }, bind4: '127.0.0.1', bind6: null, destinations: 'any' });
  try {
    await assert.rejects(second.start(), /EADDRINUSE/);
    assert.equal(second.udpPort(4), 0);
  } finally {
    await second.stop();
    await first.stop();
  }
});
