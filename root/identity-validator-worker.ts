/**
 * Worker thread of {@link IdentityValidator} (`root/identity-validator.ts`): runs the memory-hard hash
 * of `Identity::locallyValidate` (`node/Identity.cpp`, shared/protocol/vl1.md §2.4) off the event loop.
 *
 * One 2 MiB scratch buffer per worker, allocated once and reused for every job. The answer is the
 * address the key implies (or −1 when the digest fails the hashcash test `digest[0] < 17`): the main
 * thread compares it with the claimed address and caches it per public key, so a later request with
 * the same key and any address is answered without hashing again.
 *
 * Protocol: in `{ id: number, pub: Uint8Array(64) }`; out `{ id, implied: number }` or `{ id, error }`.
 */
import { parentPort } from 'node:worker_threads';
import { addressFromDigest, digestMatchesAddress } from '../vl1/identity.js';
import { allocMemoryHardScratch, memoryHardHash } from '../vl1/identity-hash.js';

/** Request sent to the worker. */
export interface ValidateJobRequest {
  id: number;
  pub: Uint8Array;
}
/** Reply: `implied` = the 40-bit address the key derives, or −1 when no address is valid for it. */
export type ValidateJobReply = { id: number; implied: number } | { id: number; error: string };

/** The address `pub` derives (§2.4), or −1 if its digest fails the hashcash byte. */
export function impliedAddress(pub: Uint8Array, scratch: Uint8Array): number {
  const digest = memoryHardHash(pub, scratch);
  const a = addressFromDigest(digest);
  return digestMatchesAddress(digest, a) ? a : -1;
}

const port = parentPort;
if (port !== null) {
  const scratch = allocMemoryHardScratch();
  port.on('message', (msg: ValidateJobRequest) => {
    let reply: ValidateJobReply;
    try {
      reply = { id: msg.id, implied: impliedAddress(msg.pub, scratch) };
    } catch (e) {
      // A bad request (wrong key length) is answered, not thrown: an uncaught error would kill the worker.
      reply = { id: msg?.id, error: e instanceof Error ? e.message : String(e) };
    }
    port.postMessage(reply);
  });
}
