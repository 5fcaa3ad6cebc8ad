/**
 * What a deployed root must say about its native addons in /api/status: the batched UDP path (native/udp), a
 * native memory-hard hash (native/hash) and the native AES-GMAC-SIV engine (native/aes). A root on node:dgram or the pure-JS hash still works, at ~4× the relay
 * CPU per packet and ~3-5× slower identity validation: a deployment that ships it has silently lost the addons.
 */
import assert from 'node:assert/strict';

interface NativeStatus {
  udp?: { path?: string; why?: string | null } | null;
  identityHash?: string | null;
  aes?: string | null;
}

/**
 * Asserts `body` (the text of /api/status from root `where`) reports both addons in use; returns the summary.
 * `log`: the root's log, whose start-up lines say why a fallback was taken (the hash's reason is only there).
 */
export function assertNativeAddons(body: string, where: string, log = ''): string {
  let status: NativeStatus;
  try {
    status = JSON.parse(body) as NativeStatus;
  } catch {
    assert.fail(`${where}: /api/status is not JSON: ${body.slice(0, 500)}`);
  }
  const why = log
    .split('\n')
    .filter((l) => /identity validation hash|root listening|AES-GMAC-SIV/.test(l))
    .map((l) => `\n  log: ${l.trim()}`)
    .join('');
  const summary = `udp ${status.udp?.path ?? 'null'}, identityHash ${status.identityHash ?? 'null'}, aes ${status.aes ?? 'null'}`;
  assert.equal(status.udp?.path, 'batched', `${where} runs on the ${status.udp?.path ?? 'unknown'} UDP path, not the batched addon: ${status.udp?.why ?? '(no reason given)'}${why}`);
  assert.match(status.identityHash ?? '', /^native-/, `${where} validates identities with the ${status.identityHash ?? 'unknown'} hash, not the native addon${why}`);
  assert.equal(status.aes, 'native', `${where} runs packet suite 3 on the ${status.aes ?? 'unknown'} AES-GMAC-SIV engine, not the native addon${why}`);
  return summary;
}

/** A shell command printing where any C/C++ compiler or make is on the PATH: nothing, on a root's runtime. */
export const FIND_TOOLCHAIN = 'for t in cc gcc g++ c++ make; do command -v "$t"; done; true';
