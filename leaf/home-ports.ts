/**
 * The UDP ports 1.14 picks (shared/protocol/vl1.md §10; service/OneService.cpp `_getRandomPort`, the primary
 * port hunt in `run`): pure candidate sequences, for the leaf to try binding in order.
 */
import { randomBytes } from 'node:crypto';

/** 1.14's random ports: 20000 + (random mod 45500) … (service/OneService.cpp `_getRandomPort`). */
export const RANDOM_PORT_BASE = 20000;
export const RANDOM_PORT_SPAN = 45500;
/** `_getRandomPort` gives up after this many trial binds (it tries i = 0..1000). */
export const RANDOM_PORT_TRIES = 1001;

/** A uniformly random unsigned 32-bit number (what `Utils::getSecureRandom` gives 1.14). */
export function secureRandomU32(): number {
  return randomBytes(4).readUInt32LE(0);
}

/**
 * The ports 1.14 tries, in order, for its secondary and tertiary (port-mapping) ports when local.conf fixes
 * none: start = 20000 + (r mod 45500) for a fresh secure random r, then +1 BEFORE each trial bind, wrapping
 * 65536 → 20000, at most {@link RANDOM_PORT_TRIES} trials; the first that binds (UDP and TCP) is taken, and 0
 * if none does. So the first candidate is never the start itself.
 */
export function* randomPortCandidates(random32: () => number = secureRandomU32): Generator<number, void, undefined> {
  let p = RANDOM_PORT_BASE + (random32() % RANDOM_PORT_SPAN);
  for (let i = 0; i < RANDOM_PORT_TRIES; i++) {
    if (++p >= 65536) p = RANDOM_PORT_BASE;
    yield p;
  }
}

/**
 * The primary port 1.14 tries when `primaryPort` is 0: a fresh 20000 + (r mod 45500) for each of up to 256
 * trials (no +1 here, unlike {@link randomPortCandidates}).
 */
export function* randomPrimaryPortCandidates(random32: () => number = secureRandomU32): Generator<number, void, undefined> {
  for (let i = 0; i < 256; i++) yield RANDOM_PORT_BASE + (random32() % RANDOM_PORT_SPAN);
}

/**
 * The secondary port ZeroTier derived from the node's address up to 1.6.x (changed to random by commit
 * 4fed56443, first released in 1.8.1): the first candidate 20001 + (low 32 bits of the address mod 45500),
 * then +1 per failed bind as above. 1.14 does NOT use it (see {@link randomPortCandidates}); it is here for
 * talking about old nodes and is checked against shared/vectors/macs-and-ips.json.
 */
export function legacySecondaryPort(address: number): number {
  const low32 = address % 2 ** 32;
  return RANDOM_PORT_BASE + (low32 % RANDOM_PORT_SPAN) + 1;
}
