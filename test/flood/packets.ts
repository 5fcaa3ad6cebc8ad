/**
 * Packets the flood scenarios send, built with the vl1 codecs: HELLOs as 1.14.1 builds them (suite 0, the
 * moon list cryptField-encrypted) for any identity — valid or with a random key whose memory-hard hash
 * does not give its address (an "invalid-PoW" identity, cheap to make) — and relayed datagrams that carry
 * a sequence number and a send time for the pair that measures loss and latency through the root.
 */
import { buildHelloPacket } from '../../vl1/hello-packet.js';
import { randomBytes } from 'node:crypto';
import { Identity } from '../../vl1/identity.js';
import { PeerKey } from '../../vl1/peer-key.js';
import { Verb } from '../../vl1/constants.js';
import { buildPacket } from '../../vl1/packet.js';
import { c25519PublicFromPrivate } from '../../vl1/c25519.js';
import { formatAddress, isReservedAddress } from '../../vl1/address.js';
import { toHex } from '../../vl1/bytes.js';

/** The root a scenario talks to. */
export interface FloodTarget {
  /** The root's public identity string. */
  identity: string;
  ip: string;
  port: number;
  /** The planet's id (decimal string: it is a u64) and timestamp, claimed as current in every HELLO. */
  planetId: string;
  planetTimestamp: number;
}

/**
 * A random identity whose address does not derive from its key (with overwhelming probability): the
 * root can tell only by running the memory-hard hash. Costs one key generation, not an identity search.
 */
export function invalidIdentity(): Identity {
  const priv = new Uint8Array(randomBytes(64));
  const pub = c25519PublicFromPrivate(priv);
  let address: number;
  do address = randomBytes(5).readUIntBE(0, 5);
  while (isReservedAddress(address));
  return Identity.fromString(`${formatAddress(address)}:0:${toHex(pub)}:${toHex(priv)}`);
}

/** A 1.14.1-style HELLO from `id` to the root, as sent to `target.ip`/`port` from the address family of `target.ip`. */
export function helloPacket(id: Identity, target: FloodTarget, root: Identity, key?: PeerKey): Uint8Array {
  return buildHelloPacket({
    from: id,
    to: root,
    ...(key !== undefined ? { key } : {}),
    physicalDestination: { family: target.ip.includes(':') ? 6 : 4, ip: target.ip, port: target.port },
    planet: { id: BigInt(target.planetId), timestamp: target.planetTimestamp },
  });
}

/** Bytes of a relayed probe datagram: a 28-byte header (never opened by the root) then seq u32 and send time f64. */
export const PROBE_LENGTH = 28 + 12;

/**
 * A datagram from `source` to `dest` through the root, carrying `seq` and the sender's clock. The root relays
 * it by its destination without opening it; hops 0 as a real first hop (the root may send RENDEZVOUS).
 */
export function probePacket(dest: number, source: number, seq: number, sentMs: number): Uint8Array {
  const pkt = buildPacket({ dest, source, verb: Verb.NOP, payload: new Uint8Array(12), flags: 3 << 3 });
  const dv = new DataView(pkt.buffer, pkt.byteOffset + 28, 12);
  dv.setUint32(0, seq);
  dv.setFloat64(4, sentMs);
  return pkt;
}

/** The seq and send time of a probe datagram, or null when `buf` is something else (a RENDEZVOUS, an OK). */
export function readProbe(buf: Uint8Array, source: number): { seq: number; sentMs: number } | null {
  if (buf.length !== PROBE_LENGTH) return null;
  const s = buf[13]! * 2 ** 32 + ((buf[14]! << 24) >>> 0) + ((buf[15]! << 16) | (buf[16]! << 8) | buf[17]!);
  if (s !== source) return null;
  const dv = new DataView(buf.buffer, buf.byteOffset + 28, 12);
  return { seq: dv.getUint32(0), sentMs: dv.getFloat64(4) };
}
