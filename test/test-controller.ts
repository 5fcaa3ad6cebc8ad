/**
 * A network controller for tests, on our own VL1 node (leaf/vl1-node.ts) and our VL2 codecs, run as a process
 * in a network namespace: `node dist/test/test-controller.js '{"planetFile":…,"bind4":…}'` (optionally "identity",
 * a secret identity string; else one is made). It goes online through the planet's roots and prints
 * `{"event":"online","address":"<10 hex>"}`.
 *
 * Its networks are `<its address><6 hex>`, PRIVATE, ACCEPT-all, with managed IPv4 from a pool and routes
 * (test/controller-config.ts builds what it sends). A NETWORK_CONFIG_REQUEST is answered as 1.14's controller does
 * (vl2.md §9.1): OBJ_NOT_FOUND for an unknown network, NETWORK_ACCESS_DENIED for a member not authorized (or
 * presenting another identity than before), else the config as signed chunks in OK(NETWORK_CONFIG_REQUEST)s.
 * Every request is printed: {"event":"request","nwid","member","answer":"config"|"config-delayed"|"access-denied"|
 * "not-found"|"ignored"} (a delayed config is printed again as "config" when it goes).
 *
 * Commands, one JSON object a line on stdin; each answered {"event":"done","id",…} or {"event":"failed","id","error"}:
 *   {"id":1,"cmd":"network","suffix":"000001","name":"t","pool":["10.147.17.10","10.147.17.99"],
 *    "routes":["10.147.17.0/24","10.200.0.0/16 via 10.147.17.1"],"chunkLength":300}        → {"nwid"}
 *   {"id":2,"cmd":"authorize","nwid":…,"member":"<10 hex>","ip"?:…}   config pushed (NETWORK_CONFIG) if the member
 *                                                            asked before; "ip" moves it to that address
 *   {"id":3,"cmd":"deauthorize","nwid":…,"member":…}          ERROR ACCESS_DENIED to it, a revocation of its COM to
 *                                                            every other member that asked (vl2.md §4.4)
 *   {"id":4,"cmd":"silent","on":true}                         requests go unanswered (a controller that is down)
 *   {"id":5,"cmd":"delay","ms":2000}                          configs answer their request this much later (a slow one)
 *   {"id":6,"cmd":"attack","nwid":…,"member":…,"kind":…}      a config attack (CONFIG_ATTACKS) or frame attack
 *                                                            (FRAME_ATTACKS) sent to the member → {"packets"}
 *   {"id":7,"cmd":"present","nwid":…,"member":…,"com":"own"|"stolen"|"other-network"}
 *        NETWORK_CREDENTIALS to the member with a COM: one issued to us (we then pass its gate like a member), one
 *        issued to another member (useless with our key), or one of another network
 * It exits on SIGTERM or at the end of stdin.
 */
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { Identity } from '../vl1/identity.js';
import { ErrorCode, Verb } from '../vl1/constants.js';
import { formatAddress, formatNetworkId, networkController, parseAddress, parseNetworkId } from '../vl1/address.js';
import { macFromAddress } from '../vl1/mac-ip.js';
import { parseWorld } from '../planet/world.js';
import { Vl1Node } from '../leaf/vl1-node.js';
import type { ReceivedPacket } from '../leaf/types.js';
import { encodeNetworkConfig } from '../vl1/netconf/network-config.js';
import { encodeError } from '../vl1/verbs/error.js';
import { encodeOk } from '../vl1/verbs/ok.js';
import { decodeNetworkConfigRequest } from '../vl1/verbs/network-config-request.js';
import {
  CONFIG_ATTACKS,
  FRAME_ATTACKS,
  configAttack,
  configChunkBodies,
  credentialsPayload,
  frameAttack,
  memberCom,
  memberConfig,
  nextPoolAddress,
  revocationPayload,
  type ConfigAttack,
  type FrameAttack,
  type TestNetwork,
} from './controller-config.js';

interface Options {
  identity?: string;
  planetFile: string;
  bind4: string;
  port?: number;
}

interface Member {
  authorized: boolean;
  /** Known once it has asked (the identity it asked with). */
  identity: Identity | null;
  ip: string | null;
  /** It asked at least once: it is "online" for pushes and revocations. */
  asked: boolean;
}

interface Net extends TestNetwork {
  members: Map<number, Member>;
}

const opts = JSON.parse(process.argv[2] ?? '{}') as Options;
const print = (o: object): void => void process.stdout.write(`${JSON.stringify(o)}\n`);
const identity = opts.identity !== undefined ? Identity.fromString(opts.identity) : Identity.generate();
const me = identity.address;
const networks = new Map<bigint, Net>();
let silent = false;
let answerDelayMs = 0;
let wrongSigner: Identity | null = null;

const node = new Vl1Node({ identity, planet: parseWorld(readFileSync(opts.planetFile)), bind: { address: opts.bind4, port: opts.port ?? 9993 }, helloRetryMs: 1000 });

function member(net: Net, address: number): Member {
  let m = net.members.get(address);
  if (m === undefined) net.members.set(address, (m = { authorized: false, identity: null, ip: null, asked: false }));
  return m;
}

function network(nwid: string): Net {
  const net = networks.get(parseNetworkId(nwid));
  if (net === undefined) throw new Error(`no network ${nwid}`);
  return net;
}

/** Sends `m` its config: as OKs to its request `inRe`, or pushed as NETWORK_CONFIGs. */
function sendConfig(net: Net, address: number, m: Member, inRe: bigint | null): number {
  if (m.ip === null) {
    m.ip = nextPoolAddress(net, new Set([...net.members.values()].map((x) => x.ip).filter((ip): ip is string => ip !== null)));
    if (m.ip === null) throw new Error(`pool of ${formatNetworkId(net.nwid)} exhausted`);
  }
  const dict = encodeNetworkConfig(memberConfig(net, { identity: m.identity!, ip: m.ip }, identity, Date.now()));
  const bodies = configChunkBodies(dict, net.nwid, identity, net.chunkLength);
  for (const body of bodies) {
    if (inRe === null) node.sendNow(address, Verb.NETWORK_CONFIG, body);
    else node.sendNow(address, Verb.OK, encodeOk({ kind: 'OTHER', inReVerb: Verb.NETWORK_CONFIG_REQUEST, inRePacketId: inRe, body }));
  }
  return bodies.length;
}

function refuse(to: number, inRe: bigint, nwid: bigint, code: number): void {
  node.sendNow(to, Verb.ERROR, encodeError({ inReVerb: Verb.NETWORK_CONFIG_REQUEST, inRePacketId: inRe, code, networkId: nwid }));
}

function onRequest(p: ReceivedPacket): void {
  const req = decodeNetworkConfigRequest(p.payload);
  const report = (answer: string, more: object = {}) => print({ event: 'request', nwid: formatNetworkId(req.networkId), member: formatAddress(p.source), answer, ...more });
  if (silent || networkController(req.networkId) !== me) return report('ignored');
  const net = networks.get(req.networkId);
  if (net === undefined) {
    refuse(p.source, p.packetId, req.networkId, ErrorCode.OBJ_NOT_FOUND);
    return report('not-found');
  }
  const id = node.identityOf(p.source)!;
  const m = member(net, p.source);
  m.asked = true;
  if (m.identity !== null && !m.identity.equals(id)) {
    refuse(p.source, p.packetId, req.networkId, ErrorCode.NETWORK_ACCESS_DENIED);
    return report('access-denied', { why: 'another identity' });
  }
  m.identity = id;
  if (!m.authorized) {
    refuse(p.source, p.packetId, req.networkId, ErrorCode.NETWORK_ACCESS_DENIED);
    return report('access-denied');
  }
  if (answerDelayMs === 0) return report('config', { chunks: sendConfig(net, p.source, m, p.packetId) });
  report('config-delayed', { ms: answerDelayMs });
  setTimeout(() => report('config', { chunks: sendConfig(net, p.source, m, p.packetId), delayedMs: answerDelayMs }), answerDelayMs);
}

/** The first member of `net` other than `address` that has an identity (for "stolen" credentials). */
function otherMember(net: Net, address: number): [number, Member] | undefined {
  return [...net.members.entries()].find(([a, m]) => a !== address && m.identity !== null);
}

function attack(net: Net, address: number, kind: string): number {
  const m = member(net, address);
  const otherNetwork = net.nwid ^ 0xffffffn;
  if ((FRAME_ATTACKS as readonly string[]).includes(kind)) {
    const { verb, payload } = frameAttack(kind as FrameAttack, net.nwid, otherNetwork, macFromAddress(address, net.nwid));
    node.sendNow(address, verb, payload);
    return 1;
  }
  if (!(CONFIG_ATTACKS as readonly string[]).includes(kind)) throw new Error(`unknown attack ${kind}: one of ${[...CONFIG_ATTACKS, ...FRAME_ATTACKS].join(', ')}`);
  if (m.identity === null || m.ip === null) throw new Error(`member ${formatAddress(address)} has no config to tamper with`);
  wrongSigner ??= Identity.generate();
  const good = memberConfig(net, { identity: m.identity, ip: m.ip }, identity, Date.now());
  const bodies = configAttack(kind as ConfigAttack, { controller: identity, wrongSigner, good, otherNetwork, otherMember: otherMember(net, address)?.[0] ?? 0x0123456789 });
  void paced(address, bodies, (body) => node.sendNow(address, Verb.NETWORK_CONFIG, body));
  return bodies.length;
}

/**
 * Sends a burst a few dozen packets at a time, each batch followed by an ECHO answered: hundreds at once would
 * overflow the receiver's UDP socket buffer on a loaded machine (the kernel's loss, not the leaf's), and the test
 * counts exactly what the leaf dropped. The leaf reads its socket in order, so its OK(ECHO) means it has read the batch.
 */
async function paced<T>(to: number, items: T[], send: (item: T) => void): Promise<void> {
  for (let i = 0; i < items.length; i++) {
    if (i > 0 && i % 32 === 0) await node.ping(to, 2000).catch(() => undefined);
    send(items[i]!);
  }
}

function present(net: Net, address: number, which: string): void {
  const now = Date.now();
  let com;
  if (which === 'own') com = memberCom(identity, net.nwid, identity, now);
  else if (which === 'other-network') com = memberCom(identity, net.nwid ^ 0xffffffn, identity, now);
  else if (which === 'stolen') {
    const other = otherMember(net, address);
    if (other === undefined) throw new Error('no other member to steal a COM from');
    com = memberCom(identity, net.nwid, other[1].identity!, now);
  } else throw new Error(`present: com must be own, stolen or other-network, not ${which}`);
  node.sendNow(address, Verb.NETWORK_CREDENTIALS, credentialsPayload(com));
}

function run(c: Record<string, unknown>): object {
  const str = (k: string): string => {
    if (typeof c[k] !== 'string') throw new Error(`${String(c['cmd'])}: "${k}" must be a string`);
    return c[k] as string;
  };
  switch (c['cmd']) {
    case 'network': {
      const nwid = (BigInt(me) << 24n) | BigInt(`0x${str('suffix')}`);
      const pool = (c['pool'] as [string, string] | undefined) ?? ['10.147.17.10', '10.147.17.99'];
      networks.set(nwid, { nwid, name: (c['name'] as string | undefined) ?? 'ctl-test', pool: { first: pool[0], last: pool[1] }, routes: (c['routes'] as string[] | undefined) ?? ['10.147.17.0/24'], revision: 1, chunkLength: c['chunkLength'] as number | undefined, members: new Map() });
      return { nwid: formatNetworkId(nwid) };
    }
    case 'authorize': {
      const net = network(str('nwid'));
      const address = parseAddress(str('member'));
      const m = member(net, address);
      m.authorized = true;
      if (typeof c['ip'] === 'string') m.ip = c['ip'];
      // 1.14 pushes a member's new config at once when it asked lately (vl2.md §9.1 step 6).
      return { pushed: m.asked && m.identity !== null ? sendConfig(net, address, m, null) : 0 };
    }
    case 'deauthorize': {
      const net = network(str('nwid'));
      const address = parseAddress(str('member'));
      member(net, address).authorized = false;
      refuse(address, 0n, net.nwid, ErrorCode.NETWORK_ACCESS_DENIED);
      const told: string[] = [];
      const revocation = revocationPayload(identity, net.nwid, address, Date.now());
      for (const [a, m] of net.members) {
        if (a === address || !m.asked || !m.authorized) continue;
        node.sendNow(a, Verb.NETWORK_CREDENTIALS, revocation);
        told.push(formatAddress(a));
      }
      return { revocationSentTo: told };
    }
    case 'silent':
      silent = c['on'] === true;
      return { silent };
    case 'delay':
      answerDelayMs = Number(c['ms'] ?? 0);
      return { answerDelayMs };
    case 'attack':
      return { packets: attack(network(str('nwid')), parseAddress(str('member')), str('kind')) };
    case 'present':
      present(network(str('nwid')), parseAddress(str('member')), str('com'));
      return {};
    default:
      throw new Error(`unknown command ${JSON.stringify(c['cmd'])}`);
  }
}

node.on('packet', (p) => {
  if (p.verb !== Verb.NETWORK_CONFIG_REQUEST) return;
  try {
    onRequest(p);
  } catch (e) {
    print({ event: 'bad-request', member: formatAddress(p.source), error: (e as Error).message });
  }
});

let stopping = false;
async function stop(): Promise<void> {
  if (stopping) return;
  stopping = true;
  await node.stop();
  process.exit(0);
}
process.on('SIGTERM', () => void stop());

await node.start();
await node.whenOnline(30_000);
print({ event: 'online', address: formatAddress(me) });

createInterface({ input: process.stdin })
  .on('line', (line) => {
    let c: Record<string, unknown>;
    try {
      c = JSON.parse(line) as Record<string, unknown>;
    } catch {
      return print({ event: 'failed', error: `not JSON: ${line}` });
    }
    try {
      print({ event: 'done', id: c['id'], ...run(c) });
    } catch (e) {
      print({ event: 'failed', id: c['id'], error: (e as Error).message });
    }
  })
  .on('close', () => void stop());
