/**
 * One joined network (leaf/network.ts) driven through its host interface: what it sends, to whom, and what it asks
 * the leaf for, with a TAP device that records writes and lists multicast groups. Each test is a defect found
 * running our leaf with real ZeroTier One 1.14.1 nodes (test/leaf-interop.test.ts).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { Identity } from '../vl1/identity.js';
import { Verb } from '../vl1/constants.js';
import { decodeMulticastLike } from '../vl1/verbs/multicast.js';
import type { NetworkCredentials } from '../vl1/verbs/network-credentials.js';
import { readVectorJson } from '../test/vectors.js';
import { Network, type NetworkHost } from './network.js';
import type { TapDevice } from './tap.js';

const [me] = readVectorJson<{ identities: Array<{ secret_string: string }> }>('identities.json').identities.map((x) => Identity.fromString(x.secret_string)) as [Identity];
const ROOT = 0x1e6d4350d3;
const PEER = 0x51314186a6;
const OTHER = 0x34596db686;

interface Sent {
  dest: number;
  verb: number;
  payload: Uint8Array;
  onOk: unknown;
}

/** A TAP that keeps what is written and is subscribed to the IPv6 all-nodes group. */
class FakeTap extends EventEmitter {
  readonly name = 'ztfake0000';
  readonly written: Uint8Array[] = [];
  write(f: Uint8Array): boolean {
    this.written.push(f);
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
