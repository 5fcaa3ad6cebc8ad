/**
 * Worker thread of {@link IdentityValidator} (`root/identity-validator.ts`): runs the memory-hard hash
 * of `Identity::locallyValidate` (`node/Identity.cpp`, shared/protocol/vl1.md §2.4) off the event loop.
 *
 * The hash is the native one when its addon loads, else pure JS (root/identity-validator-hash.ts).
 * One 2 MiB scratch buffer per worker, allocated once and reused for every job. The answer is the
 * address the key implies (or −1 when the digest fails the hashcash test `digest[0] < 17`): the main
 * thread compares it with the claimed address and caches it per public key, so a later request with
 * the same key and any address is answered without hashing again.
 *
 * Protocol: in `{ id: number, pub: Uint8Array(64) }`; out `{ id, implied: number }` or `{ id, error }`.
 */
import { readFileSync } from 'node:fs';
import { getPriority, setPriority } from 'node:os';
import { parentPort } from 'node:worker_threads';
import { addressFromDigest, digestMatchesAddress } from '../vl1/identity.js';
import { allocMemoryHardScratch, memoryHardHash } from '../vl1/identity-hash.js';
import { memoryHardHasher, type MemoryHardHashFn } from './identity-validator-hash.js';

/** Request sent to the worker. */
export interface ValidateJobRequest {
  id: number;
  pub: Uint8Array;
}
/** Reply: `implied` = the 40-bit address the key derives, or −1 when no address is valid for it. */
export type ValidateJobReply = { id: number; implied: number } | { id: number; error: string };

/** The address `pub` derives (§2.4), or −1 if its digest fails the hashcash byte. `hash`: default the pure-JS one. */
export function impliedAddress(pub: Uint8Array, scratch: Uint8Array, hash: MemoryHardHashFn = memoryHardHash): number {
  const digest = hash(pub, scratch);
  const a = addressFromDigest(digest);
  return digestMatchesAddress(digest, a) ? a : -1;
}

/**
 * How much lower than the event loop a validation thread runs (nice, Linux). On a busy machine — a small
 * VPS, or a flood of new identities — the hashes then take what the event loop leaves, and relaying for
 * known peers keeps its CPU (issue 11: relayed traffic lost 83 % during a HELLO flood on a loaded 2-core
 * machine). A newcomer's validation needs one hash (~30 ms of CPU), served first (fairness in the pool), so
 * it still completes in well under a second at this priority.
 */
export const WORKER_NICE = 10;

/**
 * Lowers this thread's priority (not the process's): on Linux `setpriority(PRIO_PROCESS, tid)` applies to
 * the one thread whose id is given, and /proc/thread-self names it. Elsewhere, or if refused, nothing changes.
 */
function lowerThreadPriority(): void {
  try {
    const tid = Number(readFileSync('/proc/thread-self/stat', 'utf8').split(' ', 1)[0]);
    if (Number.isInteger(tid) && tid > 0 && tid !== process.pid) setPriority(tid, Math.max(getPriority(tid), WORKER_NICE));
  } catch {
    /* not Linux, or not permitted: run at the process's priority */
  }
}

const port = parentPort;
if (port !== null) {
  lowerThreadPriority();
  const scratch = allocMemoryHardScratch();
  // The native hash when its addon loads (the pool's owner reports which: IdentityValidator.hashImplementation).
  const { hash } = memoryHardHasher();
  port.on('message', (msg: ValidateJobRequest) => {
    let reply: ValidateJobReply;
    try {
      reply = { id: msg.id, implied: impliedAddress(msg.pub, scratch, hash) };
    } catch (e) {
      // A bad request (wrong key length) is answered, not thrown: an uncaught error would kill the worker.
      reply = { id: msg?.id, error: e instanceof Error ? e.message : String(e) };
    }
    port.postMessage(reply);
  });
}
