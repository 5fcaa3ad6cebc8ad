/**
 * One joined network (leaf/network.ts) driven through its host interface (regressions found with real nodes): what it sends, to whom, and what it asks
 * the leaf for, with a TAP device that records writes and lists multicast groups. Each test is a defect found
 * running our leaf with real ZeroTier One 1.14.1 nodes (test/leaf-interop.test.ts).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { Identity } from '../vl1/identity.js';
import { Verb } from '../vl1/constants.js';
import type { Ok } from '../vl1/verbs/ok.js';
import { decodeMulticastFrame } from '../vl1/verbs/multicast-frame.js';
import { decodeMulticastLike } from '../vl1/verbs/multicast.js';
import type { NetworkCredentials } from '../vl1/verbs/network-credentials.js';
import { BROADCAST_GROUP, buildEthernetFrame } from '../vl1/netconf/ethernet.js';
import { readVectorJson } from '../test/vectors.js';
import { Network, type NetworkHost } from './network.js';
import type { TapDevice } from './tap.js';

const [me] = readVectorJson<{ identities: Array<{ secret_string: string }> }>('identities.json').identities.map((x) => Identity.fromString(x.secret_string)) as [Identity];
const BROADCAST_MAC = BROADCAST_GROUP.mac;
const ROOT = 0x1e6d4350d3;
const PEER = 0x51314186a6;
const OTHER = 0x34596db686;

interface Sent {
  dest: number;
  verb: number;
  payload: Uint8Array;
  onOk: ((ok: Ok) => void) | undefined;
}

/** A TAP that keeps what is written and is subscribed to the IPv6 all-nodes group. */
class FakeTap extends EventEmitter {
  readonly name = 'ztfake0000';
  readonly written: Uint8Array[] = [];
  write(f: Uint8Array): boolean {
    this.written.push(f.slice()); // as the kernel does: the caller reuses its buffer
    return true;
  }
  async setMtu(): Promise<void> {}
  async setAddresses(): Promise<void> {}
  async setRoutes(): Promise<void> {}
  async multicastGroups(): Promise<Array<{ mac: bigint }>> {
    return [{ mac: 0x333300000001n }];
  }
  async close(): Promise<void> {}
}

async function started(nwid: bigint): Promise<{ n: Network; tap: FakeTap; sent: Sent[]; asked: number[]; clock: { now: number } }> {
  const clock = { now: 1_700_000_000_000 };
  const sent: Sent[] = [];
  const asked: number[] = [];
  const tap = new FakeTap();
  const host: NetworkHost = {
    identity: me,
    now: () => clock.now,
    send: (dest, verb, payload, onOk) => void sent.push({ dest, verb, payload, onOk }),
    identityOf: (a) => void asked.push(a),
    roots: () => [ROOT],
    openTap: async () => tap as unknown as TapDevice,
    saveConfig: () => undefined,
  };
  const n = new Network(nwid, host);
  await n.start();
  // The config (synthesized: ad-hoc) is applied, then the TAP's groups are read and announced.
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(n.status, 'OK');
  return { n, tap, sent, asked, clock };
}

/** An ARP request from our TAP for `ip` (a broadcast that travels as multicast to (ff…ff, ADI = ip), vl2.md §5.5). */
function arpRequest(n: Network, ip: number): Uint8Array {
  const p = new Uint8Array(28);
  const dv = new DataView(p.buffer);
  dv.setUint16(0, 1);
  dv.setUint16(2, 0x0800);
  p[4] = 6;
  p[5] = 4;
  dv.setUint16(6, 1);
  for (let i = 0; i < 6; i++) p[8 + i] = Number((n.mac >> BigInt(8 * (5 - i))) & 0xffn);
  dv.setUint32(14, 0x0a000001);
  dv.setUint32(24, ip);
  return buildEthernetFrame({ dest: BROADCAST_MAC, source: n.mac, etherType: 0x0806, payload: p });
}

// Regression: the leaf handed every NETWORK_CREDENTIALS to every joined network. An ad-hoc network given the
// credentials a member of a private network pushed looked up its "controller" (the reserved ff… address: a WHOIS
// to the root for it), counted them as signed by an unknown controller, and took the sender for one of its own
// members — announcing the ad-hoc network's multicast groups to it at the next tick. Seen with the real nodes: the
// private network's controller and members got our LIKEs for ff0000ffff000000.
test('credentials for another network leave this one alone: no controller lookup, no drop, no member, no LIKEs', async () => {
  const { n, sent, asked, clock } = await started(0xff0000ffff000000n);
  sent.length = 0;
  asked.length = 0;
  // What a private network's controller sends every member when one is deauthorized (vl2.md §4.4).
  const revocation = { id: 1, networkId: 0x34596db686318d74n, credentialId: 0, threshold: clock.now, flags: 1n, target: OTHER, signedBy: 0x34596db686, credentialType: 1, ext: new Uint8Array(0), signatureType: 1, signature: new Uint8Array(96) };
  const otherNetwork: NetworkCredentials = { coms: [], terminated: true, capabilities: [], tags: [], revocations: [revocation], coos: [] };
  n.onCredentials(PEER, otherNetwork);
  assert.deepEqual(asked, [], 'no identity looked up');
  assert.deepEqual(n.counters.drops, {});
  clock.now += 5_000;
  n.tick(clock.now);
  const likesToPeer = sent.filter((s) => s.dest === PEER && s.verb === Verb.MULTICAST_LIKE);
  assert.deepEqual(likesToPeer.map((s) => decodeMulticastLike(s.payload).groups.length), [], 'no LIKEs to a peer that never took part');
  await n.stop();
});

// Regression: our MULTICAST_FRAMEs ask for an implicit gather (flag 0x02), and 1.14 recipients answer with
// OK(MULTICAST_FRAME) naming the members they know — but the frames went out without a reply handler, so the VL1
// node dropped every answer as an unexpected OK (the leaf's log: "unexpected-ok … in-re MULTICAST_FRAME") and the
// members they named were never learned. 1.14 expects these replies (`OutboundMulticast::sendOnly`).
test('OK(MULTICAST_FRAME) gather results from a recipient teach the network more members of the group', async () => {
  const { n, tap, sent, clock } = await started(0xff0a000000000001n);
  sent.length = 0;
  const target = 0x0a000002;
  tap.emit('frame', arpRequest(n, target));
  const gather = sent.find((s) => s.verb === Verb.MULTICAST_GATHER && s.dest === ROOT);
  assert.ok(gather?.onOk !== undefined, 'an explicit gather to the root');
  // The root knows PEER.
  gather.onOk({ kind: 'MULTICAST_GATHER', inReVerb: Verb.MULTICAST_GATHER, inRePacketId: 1n, networkId: n.nwid, mac: BROADCAST_MAC, adi: target, totalKnown: 1, members: [PEER] });
  const toPeer = sent.find((s) => s.verb === Verb.MULTICAST_FRAME && s.dest === PEER);
  assert.ok(toPeer !== undefined, 'the waiting frame goes to the member the root named');
  assert.equal(decodeMulticastFrame(toPeer.payload).flags & 0x02, 0x02, 'it asks for an implicit gather');
  assert.ok(toPeer.onOk !== undefined, 'and expects the answer');
  // PEER answers with another member it knows: the waiting frame goes to it too.
  toPeer.onOk({ kind: 'MULTICAST_FRAME', inReVerb: Verb.MULTICAST_FRAME, inRePacketId: 2n, networkId: n.nwid, mac: BROADCAST_MAC, adi: target, flags: 0x02, totalKnown: 1, members: [OTHER] });
  assert.ok(sent.some((s) => s.verb === Verb.MULTICAST_FRAME && s.dest === OTHER), 'the member PEER named got the frame');
  // An answer naming another network or group, or no gather results, teaches nothing.
  const before = sent.length;
  toPeer.onOk({ kind: 'MULTICAST_FRAME', inReVerb: Verb.MULTICAST_FRAME, inRePacketId: 2n, networkId: n.nwid + 1n, mac: BROADCAST_MAC, adi: target, flags: 0x02, totalKnown: 1, members: [0x1111111111] });
  toPeer.onOk({ kind: 'MULTICAST_FRAME', inReVerb: Verb.MULTICAST_FRAME, inRePacketId: 2n, networkId: n.nwid, mac: BROADCAST_MAC, adi: target, flags: 0 });
  assert.equal(sent.length, before);
  clock.now += 1;
  await n.stop();
});
