/**
 * Key agreement benchmark: what a root pays per HELLO from an identity it does not know — the X25519 with
 * its own private key, SHA-512, and the peer key's two HMACs (`Identity::agree`, `Peer::Peer`) — beside a
 * reference measured in the same run: the same agreement with the root's private key object imported
 * from its raw bytes on every call (PKCS#8 DER, as the code did before it kept the key object: OpenSSL
 * derives the public key on import, a scalar multiplication of its own), and the peer's public key
 * imported from DER.
 *
 * A flood of HELLOs from new identities costs the root one agreement per HELLO that passes its gates, on
 * the event loop: this is the figure that bounds how many it can afford.
 */
import { createHash, createPrivateKey, createPublicKey, diffieHellman } from 'node:crypto';
import { Identity } from '../../vl1/identity.js';
import { PeerKey } from '../../vl1/peer-key.js';
import { x25519PublicKeyObject } from '../../vl1/c25519.js';
import { invalidIdentity } from '../../test/flood/packets.js';
import { measure, report } from './harness.js';

const X25519_PKCS8 = Buffer.from('302e020100300506032b656e04220420', 'hex');
const X25519_SPKI = Buffer.from('302a300506032b656e032100', 'hex');

/** The agreement with every key object imported from DER on each call (the reference). */
function agreeRebuilding(myPriv64: Uint8Array, theirPub64: Uint8Array): Uint8Array {
  const privateKey = createPrivateKey({ key: Buffer.concat([X25519_PKCS8, myPriv64.subarray(0, 32)]), format: 'der', type: 'pkcs8' });
  const publicKey = createPublicKey({ key: Buffer.concat([X25519_SPKI, theirPub64.subarray(0, 32)]), format: 'der', type: 'spki' });
  return new Uint8Array(createHash('sha512').update(diffieHellman({ privateKey, publicKey })).digest().subarray(0, 48));
}

export async function run(): Promise<void> {
  const root = invalidIdentity(); // any key pair will do: the address plays no part in an agreement
  // 256 different peers, as in a flood: nothing about the peer may be reused between calls.
  const peers: Identity[] = [];
  for (let i = 0; i < 256; i++) peers.push(invalidIdentity().publicOnly());
  let i = 0;
  const next = (): Identity => peers[i++ & 255]!;
  const rootPriv = root.privateKey!;

  const agree = measure('Identity.agree (root key object kept)', () => {
    root.agree(next());
  });
  const agreeRef = measure('agree, key objects imported per call (DER)', () => {
    agreeRebuilding(rootPriv, next().publicKey);
  });
  const hello = measure('new PeerKey(root.agree(peer)) — per new HELLO', () => {
    new PeerKey(root.agree(next()));
  });
  const helloRef = measure('new PeerKey(agree, DER per call)', () => {
    new PeerKey(agreeRebuilding(rootPriv, next().publicKey));
  });
  const pubImport = measure('x25519PublicKeyObject (peer key import)', () => {
    x25519PublicKeyObject(next().publicKey.subarray(0, 32));
  });
  const pubImportRef = measure('createPublicKey from SPKI DER', () => {
    createPublicKey({ key: Buffer.concat([X25519_SPKI, next().publicKey.subarray(0, 32)]), format: 'der', type: 'spki' });
  });
  report('agreement: the root\'s X25519 per new identity (one core)', [
    { ours: agree, reference: agreeRef },
    { ours: hello, reference: helloRef },
    { ours: pubImport, reference: pubImportRef },
  ]);
  console.log(`  ${(1000 / agree.opsPerSec).toFixed(3)} ms per agreement; ${(1000 / agreeRef.opsPerSec).toFixed(3)} ms with the key objects imported per call`);
}
