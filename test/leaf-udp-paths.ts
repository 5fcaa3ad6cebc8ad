/**
 * The leaf's two UDP socket implementations, for tests that run on both: node:dgram (leaf/udp.ts's own) and the
 * batched sockets `ztroot leaf` injects (tools/leaf-udp.ts), skipped with the reason when native/udp is not built.
 */
import { loadUdpAddon } from '../relay/udp-socket.js';
import { leafUdp } from '../tools/leaf-udp.js';
import type { UdpOpener } from '../leaf/udp.js';

const loaded = loadUdpAddon();
const batchedWhy = 'why' in loaded ? loaded.why : null;

export const UDP_PATHS: ReadonlyArray<{ name: string; opener: UdpOpener | undefined; skip: string | false }> = [
  { name: 'node:dgram', opener: undefined, skip: false },
  { name: 'batched', opener: batchedWhy === null ? leafUdp('batched').opener : undefined, skip: batchedWhy ?? false },
];
