/**
 * What a 1.14 client does with a root's path probe (root/path-probes.ts): an ECHO from its root is answered with
 * OK(ECHO) on the path it came by (`IncomingPacket::_doECHO`). The raw test clients do it too, so that a root adopts
 * their paths as it adopts a real client's.
 */
import type { Identity } from '../vl1/identity.js';
import type { PeerKey } from '../vl1/peer-key.js';
import { Verb } from '../vl1/constants.js';
import { readU40 } from '../vl1/bytes.js';
import { openPacket, packetId, sealPacket } from '../vl1/packet.js';
import { encodeOk } from '../vl1/verbs/ok.js';

/** The OK(ECHO) answering `m` if it is an ECHO from `root` to `me`, else null. Never throws. */
export function answerRootEcho(m: Uint8Array, me: Identity, root: Identity, key: PeerKey): Uint8Array | null {
  if (m.length < 28 || m[13] === 0xff || readU40(m, 8) !== me.address || readU40(m, 13) !== root.address) return null;
  let opened;
  try {
    opened = openPacket(m.slice(), key);
  } catch {
    return null;
  }
  if (opened.verb !== Verb.ECHO) return null;
  const ok = encodeOk({ kind: 'ECHO', inReVerb: Verb.ECHO, inRePacketId: packetId(m), payload: opened.payload });
  return sealPacket({ dest: root.address, source: me.address, verb: Verb.OK, payload: ok }, key, 3);
}
