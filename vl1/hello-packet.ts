/**
 * A HELLO packet as 1.14 builds it (`Peer::sendHELLO`, vl1.md §4.5, §5.2): suite 0, never encrypted — a root must
 * read the identity before it can agree a key — with the moon list after the world fields encrypted by
 * `cryptField`, then the MAC. One builder for every sender of HELLOs: the leaf, the test clients and benchmarks.
 */
import type { Identity } from './identity.js';
import type { InetAddress } from './inet-address.js';
import { PeerKey } from './peer-key.js';
import { Verb } from './constants.js';
import { armor, buildPacket, cryptField, extendedArmor } from './packet.js';
import { encodeHello, encodeHelloMoons, type HelloMoon } from './verbs/hello.js';

export interface HelloPacketFields {
  /** The sender; its public half goes in the packet. */
  from: Identity;
  /** The receiver (a root, or a peer). */
  to: Identity;
  /** The key `from` and `to` agree: computed from `from`'s private key when not given (an X25519). */
  key?: PeerKey;
  /** Where the packet is sent (what the receiver reflects in OK(HELLO)). */
  physicalDestination: InetAddress;
  /** The planet the sender holds. */
  planet: { id: bigint; timestamp: number };
  /** Moons the sender orbits (timestamp 0: wanted, not yet held); none by default, as 1.14 sends it then. */
  moons?: readonly HelloMoon[];
  /** Sender's clock, ms (default `Date.now()`). */
  timestamp?: number;
  /** The packet id (8 bytes); random when absent, as it should be (a replay check for tests, against captures). */
  packetId?: Uint8Array;
  /** What the sender advertises (default protocol 12, 1.14.1). */
  version?: { protocol: number; major: number; minor: number; revision: number };
  /**
   * Extended armor, as ZeroTier's hello-encryption branch sends HELLO (§4.6; not 1.14.1): flag 0x80 before the MAC,
   * then MAC and payload encrypted to `to`'s public key.
   */
  extended?: boolean;
}

/** The armored HELLO. @throws {ZtError} BAD_VALUE on out-of-range fields; NO_PRIVATE_KEY without `key` and `from`'s private key. */
export function buildHelloPacket(f: HelloPacketFields): Uint8Array {
  const v = f.version ?? { protocol: 12, major: 1, minor: 14, revision: 1 };
  const tail = encodeHelloMoons(f.moons ?? []);
  const payload = encodeHello({
    protocolVersion: v.protocol,
    versionMajor: v.major,
    versionMinor: v.minor,
    versionRevision: v.revision,
    timestamp: f.timestamp ?? Date.now(),
    identity: f.from.publicOnly(),
    physicalDestination: f.physicalDestination,
    planetWorldId: f.planet.id,
    planetWorldTimestamp: f.planet.timestamp,
    encryptedTail: tail,
  });
  const pkt = buildPacket({ dest: f.to.address, source: f.from.address, verb: Verb.HELLO, payload, ...(f.packetId !== undefined ? { packetId: f.packetId } : {}) });
  const key = f.key ?? new PeerKey(f.from.agree(f.to));
  cryptField(pkt, key, pkt.length - tail.length, tail.length);
  if (f.extended !== true) {
    armor(pkt, key, 0);
    return pkt;
  }
  armor(pkt, key, 0, { extendedArmor: true });
  return extendedArmor(pkt, f.to.publicKey);
}
