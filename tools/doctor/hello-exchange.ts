/**
 * One HELLO → OK(HELLO) exchange with a root, as a 1.14 client makes it (vl1.md §5.2, §5.4), shared by the
 * UDP and TCP-relay probes. The HELLO claims the local planet's id with timestamp 0, so a root serving that
 * planet id sends the planet it serves in the OK (it sends it to any holder of an older one): that is how the
 * doctor learns what every root serves without its HTTP API. The OK's timestamp echo gives the round trip,
 * and its physical address field our address as the root saw it.
 *
 * The root's clock: no OK carries it, but a root contacts a new, unproven path of a peer older than protocol 5
 * with a HELLO of its own (`Peer::attemptToContactAt`; root/path-probes.ts), and a HELLO carries its sender's
 * clock. So one extra HELLO claiming protocol 4, from a second socket (a path the root has not seen), brings the
 * root's clock back. Only that one: a 1.14 root zeroes the reflected port in OK to a protocol < 5 HELLO
 * (vl1.md §5.4), which would blind the NAT check.
 */
import type { Identity } from '../../vl1/identity.js';
import type { InetAddress } from '../../vl1/inet-address.js';
import { PeerKey } from '../../vl1/peer-key.js';
import { buildHelloPacket } from '../../vl1/hello-packet.js';
import { isFragment, isFragmented, openPacket, packetDest, packetId, packetSource } from '../../vl1/packet.js';
import { Verb } from '../../vl1/constants.js';
import { decodeOk, type OkHello } from '../../vl1/verbs/ok.js';
import { decodeHello } from '../../vl1/verbs/hello.js';

/** What our HELLOs claim: 1.14.1 speaking protocol 12, or protocol 4 to be contacted with a HELLO (see above). */
const VERSION_1_14 = { protocol: 12, major: 1, minor: 14, revision: 1 };
const VERSION_CLOCK = { ...VERSION_1_14, protocol: 4 };
import { parseWorlds, serializeWorld, type World } from '../../planet/world.js';

/** A root we talk to: its identity and the key we agree with it (one X25519 per root and run). */
export class RootPeer {
  readonly key: PeerKey;
  constructor(
    readonly me: Identity,
    readonly root: Identity,
  ) {
    this.key = new PeerKey(me.agree(root));
  }

  /** A HELLO to `to` (the endpoint it is sent to) and the packet id its OK will name. */
  hello(to: InetAddress, planetId: bigint, now = Date.now(), opts: { askClock?: boolean } = {}): { packet: Uint8Array; id: bigint } {
    const version = opts.askClock === true ? VERSION_CLOCK : VERSION_1_14;
    const packet = buildHelloPacket({ from: this.me, to: this.root, key: this.key, physicalDestination: to, planet: { id: planetId, timestamp: 0 }, timestamp: now, version });
    return { packet, id: packetId(packet) };
  }

  /** The root's clock (ms) from a HELLO it sent us (authentic, from this root); null for anything else. */
  readRootClock(datagram: Uint8Array): number | null {
    if (datagram.length < 28 || isFragment(datagram) || isFragmented(datagram)) return null;
    if (packetSource(datagram) !== this.root.address || packetDest(datagram) !== this.me.address) return null;
    try {
      const opened = openPacket(datagram.slice(), this.key);
      if (opened.verb !== Verb.HELLO) return null;
      const h = decodeHello(opened.payload);
      return h.identity.address === this.root.address ? h.timestamp : null;
    } catch {
      return null;
    }
  }

  /**
   * The OK(HELLO) in `datagram` if it is one from this root answering one of `sent`; null for anything else
   * (another verb, another sender, a bad MAC, a fragment: a planet too large for one datagram is not read).
   */
  readOk(datagram: Uint8Array, sent: ReadonlyMap<bigint, number>): OkHello | null {
    if (datagram.length < 28 || isFragment(datagram) || isFragmented(datagram)) return null;
    if (packetSource(datagram) !== this.root.address || packetDest(datagram) !== this.me.address) return null;
    let opened;
    try {
      opened = openPacket(datagram.slice(), this.key);
    } catch {
      return null;
    }
    if (opened.verb !== Verb.OK) return null;
    try {
      const ok = decodeOk(opened.payload);
      return ok.kind === 'HELLO' && sent.has(ok.inRePacketId) ? ok : null;
    } catch {
      return null;
    }
  }
}

/** The planet of id `id` among an OK(HELLO)'s world updates (null: none, or updates that do not parse). */
export function planetIn(ok: OkHello, id: bigint): { world: World; bytes: Uint8Array } | null {
  if (ok.worldUpdates === undefined || ok.worldUpdates.length === 0) return null;
  try {
    const w = parseWorlds(ok.worldUpdates).find((x) => x.type === 'planet' && x.id === id);
    return w === undefined ? null : { world: w, bytes: serializeWorld(w) };
  } catch {
    return null;
  }
}
