// Builds the batched UDP addon (native/udp/udp.cc → build/Release/udp.node): see native/build-addon.mjs.
// Optional because the root runs without it, on node:dgram (one system call per datagram instead of one per batch),
// and says so in /api/status with how to build it (relay/udp-socket.ts).
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildAddon } from '../build-addon.mjs';

buildAddon({
  here: dirname(fileURLToPath(import.meta.url)),
  name: 'udp',
  title: 'the batched UDP addon',
  sources: ['udp.cc'],
  withoutIt: 'Roots run without it on node:dgram, at a higher CPU cost per packet.',
  compiler: 'g++',
  addonApi: true,
  unsupported: process.platform === 'linux' ? null : `recvmmsg/sendmmsg are Linux-only (this is ${process.platform})`,
});
