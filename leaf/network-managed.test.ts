/**
 * What a network puts on its TAP device from a controller's config under the allow* settings of
 * `<nwid>.local.conf` (leaf/network.ts `mayManage`, vl2.md §7.3): the managed addresses and routes a TAP double
 * records, for the same signed config under different settings — including 1.14's allowManaged address list.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { Identity } from '../vl1/identity.js';
import { Verb } from '../vl1/constants.js';
import type { Ok } from '../vl1/verbs/ok.js';
import { encodeNetworkConfig } from '../vl1/netconf/network-config.js';
import { readVectorText } from '../test/vectors.js';
import { configChunkBodies, memberConfig, type TestNetwork } from '../test/controller-config.js';
import { Network, type NetworkHost } from './network.js';
import type { TapDevice, TapRoute } from './tap.js';
import type { NetworkSettings } from './model.js';

const sessionIdentity = (name: string): Identity => Identity.fromString(readVectorText('session', `${name}.identity.secret`).trim());
const controller = sessionIdentity('root');
const member = sessionIdentity('c1');
const NWID = (BigInt(controller.address) << 24n) | 0x000002n;
const T0 = 1_700_000_000_000;

/** A config with a private address, a public one, a default route, a private route and a public route. */
const NET: TestNetwork = {
  nwid: NWID,
  name: 'managed',
  pool: { first: '10.147.17.10', last: '10.147.17.20' },
  routes: ['10.147.17.0/24', '0.0.0.0/0 via 10.147.17.1', '10.200.0.0/16 via 10.147.17.1', '198.51.100.0/24 via 10.147.17.1'],
  revision: 1,
  chunkLength: 1400,
};

class RecordingTap extends EventEmitter {
  readonly name = 'ztmanaged0';
  addresses: string[] = [];
  routes: string[] = [];
  write(): boolean {
    return true;
  }
  async setMtu(): Promise<void> {}
  async setAddresses(a: Array<{ ip: string; bits: number }>): Promise<void> {
    this.addresses = a.map((x) => `${x.ip}/${x.bits}`);
  }
  async setRoutes(r: TapRoute[]): Promise<void> {
    this.routes = r.map((x) => `${x.target}/${x.bits}`);
  }
  async multicastGroups(): Promise<Array<{ mac: bigint }>> {
    return [];
  }
  async close(): Promise<void> {}
}

/** A started network of `member` that took the controller's config; what its TAP was given. */
async function applied(settings: Partial<NetworkSettings>, allowManagedWhitelist: string[] = []): Promise<RecordingTap> {
  const tap = new RecordingTap();
  let request: ((ok: Ok) => void) | undefined;
  const host: NetworkHost = {
    identity: member,
    now: () => T0,
    send: (_dest, verb, _payload, onOk) => void (verb === Verb.NETWORK_CONFIG_REQUEST && (request = onOk)),
    identityOf: (a) => (a === controller.address ? controller.publicOnly() : undefined),
    roots: () => [],
    openTap: async () => tap as unknown as TapDevice,
    saveConfig: () => undefined,
  };
  const n = new Network(NWID, host, { settings, allowManagedWhitelist });
  await n.start();
  n.tick(T0);
  assert.ok(request !== undefined, 'the network asked for its config');
  // A second address outside the private range: the controller may assign any address it likes.
  const config = memberConfig(NET, { identity: member, ip: '10.147.17.10' }, controller, T0);
  config.staticIps.push({ family: 4, ip: '198.51.100.7', bits: 24 });
  for (const body of configChunkBodies(encodeNetworkConfig(config), NWID, controller, NET.chunkLength)) request({ kind: 'OTHER', inReVerb: Verb.NETWORK_CONFIG_REQUEST, inRePacketId: 1n, body });
  assert.equal(n.status, 'OK');
  await new Promise((r) => setTimeout(r, 20)); // the TAP steps are chained promises
  await n.stop();
  return tap;
}

test("the defaults (allowManaged, not allowGlobal, not allowDefault): private addresses and routes only", async () => {
  const tap = await applied({});
  assert.deepEqual(tap.addresses, ['10.147.17.10/24']);
  assert.deepEqual(tap.routes, ['10.147.17.0/24', '10.200.0.0/16']);
});

test('allowGlobal adds the public address and route; allowDefault adds the default route; allowManaged=0 takes none', async () => {
  const all = await applied({ allowGlobal: true, allowDefault: true });
  assert.deepEqual(all.addresses, ['10.147.17.10/24', '198.51.100.7/24']);
  assert.deepEqual(all.routes, ['10.147.17.0/24', '0.0.0.0/0', '10.200.0.0/16', '198.51.100.0/24']);
  const none = await applied({ allowManaged: false, allowGlobal: true, allowDefault: true });
  assert.deepEqual(none.addresses, []);
  assert.deepEqual(none.routes, []);
});

test('an allowManaged address list (allowManaged=10.147.17.0/24 in <nwid>.local.conf): only what lies inside it', async () => {
  const tap = await applied({ allowGlobal: true, allowDefault: true }, ['10.147.17.0/24', 'not-an-ip']);
  assert.deepEqual(tap.addresses, ['10.147.17.10/24']);
  assert.deepEqual(tap.routes, ['10.147.17.0/24'], 'the default route, 10.200/16 and the public route lie outside the list');
  const wide = await applied({ allowGlobal: true }, ['0.0.0.0/0']);
  assert.deepEqual(wide.addresses, ['10.147.17.10/24', '198.51.100.7/24'], 'a /0 entry admits the whole family');
  assert.deepEqual(wide.routes, ['10.147.17.0/24', '10.200.0.0/16', '198.51.100.0/24'], 'the default route still needs allowDefault');
});
