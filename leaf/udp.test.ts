/**
 * The leaf's UDP sockets (leaf/udp.ts) on real sockets over loopback.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { UdpSockets } from './udp.js';

/** A burst that a socket with Linux's default receive buffer (212992 bytes: ~90 full-size datagrams) cannot hold. */
const BURST = 1000;
const SIZE = 1432; // the physical MTU: what a full fragment of a TAP frame takes

test('a burst of 1000 full-size datagrams that arrives while the event loop is busy is received whole', async () => {
  // Regression: a TCP stream over the TAP comes as bursts of datagrams faster than one event-loop turn drains them;
  // with the default buffer the kernel dropped thousands per second (UdpRcvbufErrors), and TCP backed off to 50 Mbit/s.
  let got = 0;
  const udp = new UdpSockets({ onDatagram: () => void got++, onSendError: () => undefined, log: undefined });
  await udp.open('127.0.0.1', 0);
  const sender = createSocket('udp4');
  try {
    const port = udp.bound()[0]!.port;
    const payload = Buffer.alloc(SIZE, 0xa5);
    // libuv sends at once while its queue is empty; nothing is read until this synchronous loop ends.
    let sendErrors = 0;
    for (let i = 0; i < BURST; i++) sender.send(payload, port, '127.0.0.1', (e) => void (e && sendErrors++));
    const deadline = Date.now() + 5000;
    while (got < BURST && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    assert.equal(sendErrors, 0);
    assert.equal(got, BURST, `${BURST - got} of ${BURST} datagrams dropped by the receiving socket`);
  } finally {
    sender.close();
    await udp.close();
  }
});
