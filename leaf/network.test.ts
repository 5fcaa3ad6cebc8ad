/**
 * One joined network (leaf/network.ts) on its unit boundary, the NetworkHost: a test double that records what the
 * network sends and saves, and knows the identities a leaf would know. What goes in are the bytes the test
 * controller (test/test-controller.ts) sends — real configs in chunks signed by the controller's key, its ERRORs and
 * revocations, and every attack of test/controller-config.ts — and what comes out is checked: the config taken or
 * kept, the status, the drop counted under its reason, the packets sent back. No sockets, no TAP.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Identity } from '../vl1/identity.js';
import { ErrorCode, Verb } from '../vl1/constants.js';
import { decodeError } from '../vl1/verbs/error.js';
import { decodeOk, type Ok } from '../vl1/verbs/ok.js';
import { decodeNetworkConfigRequest } from '../vl1/verbs/network-config-request.js';
import { decodeNetworkCredentials } from '../vl1/verbs/network-credentials.js';
import { decodeNetworkConfig, encodeNetworkConfig, type NetworkConfig } from '../vl1/netconf/network-config.js';
import { decodeConfigChunk, encodeConfigChunk } from '../vl1/netconf/config-chunk.js';
import { macFromAddress } from '../vl1/mac-ip.js';
import { readVectorText } from '../test/vectors.js';
import { appendixA } from '../test/vl2-sheet.js';
import {
  CONFIG_ATTACKS,
  TOO_MANY_CHUNKS_EXTRA,
  configAttack,
  configChunkBodies,
  credentialsPayload,
  frameAttack,
  memberCom,
  memberConfig,
  revocationPayload,
  type ConfigAttack,
  type TestNetwork,
} from '../test/controller-config.js';
import { Network, type NetworkDropReason, type NetworkHost } from './network.js';

const sessionIdentity = (name: string): Identity => Identity.fromString(readVectorText('session', `${name}.identity.secret`).trim());
/** The session's root is also the controller of its network (shared/vectors/session/nodes.txt). */
const controller = sessionIdentity('root');
const [c1, c2, c3] = [sessionIdentity('c1'), sessionIdentity('c2'), sessionIdentity('c3')];
/** Signs what must be refused: an identity that is not the network's controller (vl2.md A.1's controller). */
const wrongSigner = Identity.fromString(appendixA.controllerSecret());
const NWID = (BigInt(controller.address) << 24n) | 0x000001n;
const OTHER_NWID = NWID ^ 0xffffffn;
const T0 = 1_700_000_000_000;

const net = (): TestNetwork => ({ nwid: NWID, name: 'unit', pool: { first: '10.147.17.10', last: '10.147.17.20' }, routes: ['10.147.17.0/24', '10.200.0.0/16 via 10.147.17.1'], revision: 7, chunkLength: 300 });

interface Sent {
  dest: number;
  verb: number;
  payload: Uint8Array;
  onOk?: (ok: Ok) => void;
}

/** The leaf around a network, reduced to what the network asks of it. */
class HostDouble implements NetworkHost {
  clock = T0;
  readonly sent: Sent[] = [];
  readonly saved: Uint8Array[] = [];
  readonly known = new Map<number, Identity>();
  constructor(readonly identity: Identity, knows: Identity[]) {
    for (const i of knows) this.known.set(i.address, i.publicOnly());
  }
  now(): number {
    return this.clock;
  }
  send(dest: number, verb: number, payload: Uint8Array, onOk?: (ok: Ok) => void): void {
    this.sent.push({ dest, verb, payload, ...(onOk !== undefined ? { onOk } : {}) });
  }
  identityOf(address: number): Identity | undefined {
    return this.known.get(address);
  }
  roots(): number[] {
    return [];
  }
  openTap(): never {
    throw new Error('no TAP device in unit tests');
  }
  saveConfig(_nwid: bigint, dictionary: Uint8Array): void {
    this.saved.push(dictionary.slice());
  }
  /** What was sent since the last call. */
  take(): Sent[] {
    return this.sent.splice(0);
  }
}

/** A network of member `self` whose config request is pending (its tick ran once). */
function joined(self = c1, knows: Identity[] = [controller, c2, c3]): { host: HostDouble; n: Network; request: Sent } {
  const host = new HostDouble(self, knows);
  const n = new Network(NWID, host);
  n.tick(host.clock);
  const request = host.take().find((s) => s.verb === Verb.NETWORK_CONFIG_REQUEST);
  assert.ok(request?.onOk !== undefined, 'the first tick asks the controller for a config');
  return { host, n, request };
}

/** The controller's answer to `request`: each chunk body as an OK(NETWORK_CONFIG_REQUEST). */
function answer(request: Sent, bodies: Uint8Array[], id = 0x1111n): void {
  for (const body of bodies) request.onOk!({ kind: 'OTHER', inReVerb: Verb.NETWORK_CONFIG_REQUEST, inRePacketId: id, body });
}

function push(n: Network, bodies: Uint8Array[], from = controller.address): void {
  bodies.forEach((body, i) => n.receive(Verb.NETWORK_CONFIG, from, body, 0x2000n + BigInt(i)));
}

function goodConfig(self = c1, ip = '10.147.17.10', now = T0): NetworkConfig {
  return memberConfig(net(), { identity: self, ip }, controller, now);
}

/** A network of c1 holding its good config (taken from a 3-chunk answer). */
function configured(): { host: HostDouble; n: Network; good: NetworkConfig } {
  const j = joined();
  const good = goodConfig();
  answer(j.request, configChunkBodies(encodeNetworkConfig(good), NWID, controller, 300));
  assert.equal(j.n.status, 'OK');
  j.host.take();
  j.host.saved.length = 0;
  return { ...j, good };
}

const drops = (n: Network, r: NetworkDropReason): number => n.counters.drops[r] ?? 0;

describe('network config from a controller', () => {
  test('the request names the network and carries 1.14 metadata; the signed chunks of the answer, in any order, make the config', () => {
    const { host, n, request } = joined();
    assert.equal(request.dest, controller.address);
    const req = decodeNetworkConfigRequest(request.payload);
    assert.equal(req.networkId, NWID);
    assert.equal(req.revision, 0n);
    const good = goodConfig();
    const dict = encodeNetworkConfig(good);
    const bodies = configChunkBodies(dict, NWID, controller, 300);
    assert.ok(bodies.length >= 3, `${dict.length} bytes in 300-byte chunks`);
    answer(request, [...bodies].reverse());
    assert.equal(n.status, 'OK');
    assert.deepEqual(n.assignedAddresses(), ['10.147.17.10/24']);
    assert.equal(n.describe().name, 'unit');
    assert.deepEqual(n.describe().routes.map((r) => `${r.target} ${r.via}`), ['10.147.17.0/24 null', '10.200.0.0/16 10.147.17.1']);
    assert.deepEqual(host.saved, [dict], 'the dictionary as received is kept (networks.d/<nwid>.conf)');
    assert.deepEqual(n.counters.drops, {});
  });

  test('a pushed config (NETWORK_CONFIG) replaces the held one and is acknowledged: OK in-re ECHO, nwid | update id', () => {
    const { host, n, good } = configured();
    const next = { ...good, timestamp: T0 + 1000, revision: 8, com: memberCom(controller, NWID, c1, T0 + 1000) };
    const bodies = configChunkBodies(encodeNetworkConfig(next), NWID, controller, 300);
    push(n, bodies);
    assert.equal(n.config?.revision, 8);
    const acks = host.take().filter((s) => s.verb === Verb.OK);
    assert.equal(acks.length, 1, 'one OK for the complete update');
    const ok = decodeOk(acks[0]!.payload);
    assert.equal(ok.inReVerb, Verb.ECHO);
    const chunk = decodeConfigChunk(bodies[0]!);
    assert.ok(chunk.kind === 'signed');
    assert.equal(ok.kind, 'ECHO');
    const body = (ok as { payload: Uint8Array }).payload;
    assert.equal(new DataView(body.buffer, body.byteOffset).getBigUint64(0), NWID);
    assert.equal(new DataView(body.buffer, body.byteOffset).getBigUint64(8), chunk.updateId);
  });

  /** What each attack must be counted as, in chunks refused. */
  const expected: Record<ConfigAttack, { reason: NetworkDropReason; count: number }> = {
    'garbage-dictionary': { reason: 'malformed', count: 1 },
    'bad-static-ip': { reason: 'malformed', count: 1 },
    'other-network': { reason: 'config-not-for-us', count: 1 },
    'issued-to-other': { reason: 'config-not-for-us', count: 1 },
    'wrong-key': { reason: 'config-signature', count: 1 },
    'truncated-chunk': { reason: 'malformed', count: 1 },
    'oversized-total': { reason: 'malformed', count: 1 },
    'too-many-chunks': { reason: 'malformed', count: TOO_MANY_CHUNKS_EXTRA },
    'unjoined-network': { reason: 'config-not-for-us', count: 1 },
  };

  for (const kind of CONFIG_ATTACKS) {
    for (const path of ['pushed', 'answering our request'] as const) {
      test(`attack ${kind} (${path}): counted as ${expected[kind].reason}, the last good config stays, nothing saved or acknowledged`, () => {
        const { host, n, good } = configured();
        const before = encodeNetworkConfig(n.config!);
        const bodies = configAttack(kind, { controller, wrongSigner, good, otherNetwork: OTHER_NWID, otherMember: c2.address });
        if (path === 'pushed') push(n, bodies);
        else {
          host.clock += 60_000;
          n.tick(host.clock);
          const request = host.take().find((s) => s.verb === Verb.NETWORK_CONFIG_REQUEST)!;
          answer(request, bodies);
        }
        assert.equal(drops(n, expected[kind].reason), expected[kind].count, JSON.stringify(n.counters.drops));
        assert.equal(n.status, 'OK');
        assert.deepEqual(encodeNetworkConfig(n.config!), before);
        assert.deepEqual(n.assignedAddresses(), ['10.147.17.10/24']);
        assert.deepEqual(host.saved, []);
        assert.deepEqual(host.take().filter((s) => s.verb === Verb.OK), []);
      });
    }
  }

  test('the controller unknown: a signed chunk cannot be checked and is dropped; once known, the same chunk is taken', () => {
    const { host, n, request } = joined(c1, [c2]);
    const bodies = configChunkBodies(encodeNetworkConfig(goodConfig()), NWID, controller);
    answer(request, bodies);
    assert.equal(drops(n, 'config-controller-unknown'), 1);
    assert.equal(n.status, 'REQUESTING_CONFIGURATION');
    host.known.set(controller.address, controller.publicOnly());
    answer(request, bodies);
    assert.equal(n.status, 'OK');
  });

  test('an unsigned (legacy) chunk is taken from the controller only', () => {
    const { n } = joined();
    const legacy = encodeConfigChunk({ kind: 'legacy', networkId: NWID, data: encodeNetworkConfig(goodConfig()) });
    n.receive(Verb.NETWORK_CONFIG, c2.address, legacy, 0x77n);
    assert.equal(drops(n, 'config-not-from-controller'), 1);
    assert.equal(n.status, 'REQUESTING_CONFIGURATION');
    n.receive(Verb.NETWORK_CONFIG, controller.address, legacy, 0x78n);
    assert.equal(n.status, 'OK');
  });

  test('an answer to a request made before the network stopped (left) is not taken, so nothing is saved to networks.d', async () => {
    const { host, n, request } = joined();
    await n.stop();
    answer(request, configChunkBodies(encodeNetworkConfig(goodConfig()), NWID, controller));
    assert.deepEqual(host.saved, []);
    assert.equal(n.status, 'REQUESTING_CONFIGURATION');
  });

  test('a signed chunk relayed by another member is taken (vl2.md §2.3 step 4)', () => {
    const { n } = joined();
    push(n, configChunkBodies(encodeNetworkConfig(goodConfig()), NWID, controller), c2.address);
    assert.equal(n.status, 'OK');
  });
});

describe("the controller's ERRORs", () => {
  test('ACCESS_DENIED and NOT_FOUND from the controller set the status over a held config; a new config clears it', () => {
    const { n, good } = configured();
    n.onControllerError(controller.address, ErrorCode.NETWORK_ACCESS_DENIED);
    assert.equal(n.status, 'ACCESS_DENIED');
    assert.deepEqual(n.assignedAddresses(), ['10.147.17.10/24'], 'the config is kept');
    n.onControllerError(controller.address, ErrorCode.OBJ_NOT_FOUND);
    assert.equal(n.status, 'NOT_FOUND');
    push(n, configChunkBodies(encodeNetworkConfig({ ...good, timestamp: T0 + 5 }), NWID, controller));
    assert.equal(n.status, 'OK');
  });

  test('from anyone else they mean nothing', () => {
    const { n } = configured();
    n.onControllerError(c2.address, ErrorCode.NETWORK_ACCESS_DENIED);
    n.onControllerError(c2.address, ErrorCode.OBJ_NOT_FOUND);
    assert.equal(n.status, 'OK');
  });

  test('before any config: ACCESS_DENIED, and the request is repeated every 5 s', () => {
    const { host, n } = joined();
    n.onControllerError(controller.address, ErrorCode.NETWORK_ACCESS_DENIED);
    assert.equal(n.status, 'ACCESS_DENIED');
    host.clock += 5_000;
    n.tick(host.clock);
    assert.equal(host.take().filter((s) => s.verb === Verb.NETWORK_CONFIG_REQUEST).length, 1);
  });
});

describe('credentials and revocations', () => {
  test("a member's COM opens the gate; a revocation signed by another key is counted and ignored; the controller's closes it", () => {
    const { host, n } = configured();
    assert.equal(n.gate(c2.address), false, 'no COM yet');
    n.onCredentials(c2.address, decodeNetworkCredentials(credentialsPayload(memberCom(controller, NWID, c2, T0))));
    assert.equal(n.gate(c2.address), true);
    host.clock += 1_500;
    n.onCredentials(controller.address, decodeNetworkCredentials(revocationPayload(wrongSigner, NWID, c2.address, host.clock)));
    assert.equal(drops(n, 'credentials-invalid'), 1);
    assert.equal(n.gate(c2.address), true);
    host.clock += 1_500;
    n.onCredentials(controller.address, decodeNetworkCredentials(revocationPayload(controller, NWID, c2.address, host.clock)));
    assert.equal(n.gate(c2.address), false, 'revoked');
    host.clock += 1_500;
    n.onCredentials(c2.address, decodeNetworkCredentials(credentialsPayload(memberCom(controller, NWID, c2, T0))));
    assert.equal(n.gate(c2.address), false, 'the revoked COM presented again');
    host.clock += 1_500;
    n.onCredentials(c2.address, decodeNetworkCredentials(credentialsPayload(memberCom(controller, NWID, c2, host.clock))));
    assert.equal(n.gate(c2.address), true, 'a COM issued after the revocation');
  });

  test('a revocation flagged fast-propagate is passed on once to the other members, not back to its sender or signer (vl2.md §4.4)', () => {
    const { host, n } = configured();
    n.onCredentials(c2.address, decodeNetworkCredentials(credentialsPayload(memberCom(controller, NWID, c2, T0))));
    n.onCredentials(c3.address, decodeNetworkCredentials(credentialsPayload(memberCom(controller, NWID, c3, T0))));
    host.take();
    host.clock += 1_500;
    const revocation = revocationPayload(controller, NWID, c2.address, host.clock);
    n.onCredentials(controller.address, decodeNetworkCredentials(revocation));
    const passedOn = host.take().filter((s) => s.verb === Verb.NETWORK_CREDENTIALS);
    assert.deepEqual(passedOn.map((s) => s.dest).sort(), [c2.address, c3.address].sort(), 'every member but the sender (and signer)');
    for (const s of passedOn) assert.deepEqual(decodeNetworkCredentials(s.payload).revocations, decodeNetworkCredentials(revocation).revocations);
    host.clock += 1_500;
    n.onCredentials(c3.address, decodeNetworkCredentials(revocation));
    assert.deepEqual(host.take().filter((s) => s.verb === Verb.NETWORK_CREDENTIALS), [], 'known already: not passed on again');
  });

  test("a COM issued to another member, or of another network, opens nothing", () => {
    const { host, n } = configured();
    n.onCredentials(c3.address, decodeNetworkCredentials(credentialsPayload(memberCom(controller, NWID, c2, T0))));
    assert.equal(n.gate(c3.address), false, "c2's COM presented by c3");
    host.clock += 1_500;
    n.onCredentials(c3.address, decodeNetworkCredentials(credentialsPayload(memberCom(controller, OTHER_NWID, c3, T0))));
    assert.equal(n.gate(c3.address), false);
  });

  test('credentials faster than one a second from a peer are counted and not looked at', () => {
    const { n } = configured();
    // The first push is looked at (and refused: signed by a key that is not the controller's); the second, a good
    // COM arriving within the second, is not looked at.
    n.onCredentials(c3.address, decodeNetworkCredentials(credentialsPayload(memberCom(wrongSigner, NWID, c3, T0))));
    assert.equal(drops(n, 'credentials-invalid'), 1);
    n.onCredentials(c3.address, decodeNetworkCredentials(credentialsPayload(memberCom(controller, NWID, c3, T0))));
    assert.equal(drops(n, 'credentials-rate-limited'), 1);
    assert.equal(n.gate(c3.address), false);
  });
});

describe('frames from peers', () => {
  const frame = (kind: Parameters<typeof frameAttack>[0]) => frameAttack(kind, NWID, OTHER_NWID, macFromAddress(c1.address, NWID));

  test('from a peer without credentials: counted as gate, ERROR NEED_MEMBERSHIP_CERTIFICATE naming the network sent back', () => {
    const { host, n } = configured();
    const f = frame('frame-ok');
    n.receive(f.verb, c2.address, f.payload, 0x99n);
    assert.equal(drops(n, 'gate'), 1);
    const errs = host.take().filter((s) => s.verb === Verb.ERROR);
    assert.equal(errs.length, 1);
    const e = decodeError(errs[0]!.payload);
    assert.equal(e.code, ErrorCode.NEED_MEMBERSHIP_CERTIFICATE);
    assert.equal(e.networkId, NWID);
    assert.equal(e.inRePacketId, 0x99n);
  });

  test('truncated and empty frames from a member are counted, never thrown', () => {
    const { n } = configured();
    n.onCredentials(c2.address, decodeNetworkCredentials(credentialsPayload(memberCom(controller, NWID, c2, T0))));
    for (const kind of ['frame-truncated', 'ext-frame-truncated', 'multicast-frame-truncated'] as const) {
      const f = frame(kind);
      n.receive(f.verb, c2.address, f.payload, 1n);
    }
    assert.equal(drops(n, 'malformed'), 3);
    const f = frame('frame-empty');
    n.receive(f.verb, c2.address, f.payload, 2n);
    assert.equal(drops(n, 'runt'), 1);
  });
});
