/**
 * Makes the probe leaf's identity off the root's event loop (tools/probe/probe-identity.ts): generating one is
 * a memory-hard hash search of 0.1–1+ s that would otherwise stall the root's start and its first packets.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { loadOrCreateIdentity } from '../../planet/identity-files.js';

loadOrCreateIdentity((workerData as { dir: string }).dir);
parentPort?.postMessage('done');
