import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { formatAddress } from '../address.js';
import { fromHex } from '../bytes.js';
import { ErrorCode, Verb } from '../constants.js';
import { Identity } from '../identity.js';
import { parseIp } from '../inet-address.js';
import { ipv6Rfc4193, ipv6SixPlane } from '../mac-ip.js';
import { readVectorJson, readVectorText, vectorPath } from '../../test/vectors.js';
import { decodeError } from '../verbs/error.js';
import { decodeNetworkCredentials } from '../verbs/network-credentials.js';
import { cooThing, type CertificateOfOwnership } from './certificate-of-ownership.js';
import { comTimestamp, createCom, signCom } from './com.js';
import { controllerErrorStatus, NetworkConfigFlag, NetworkStatus, NetworkType } from './constants.js';
import { admitsPeer, comUpdate, credentialTimely, inboundOwnership } from './membership.js';
import { decodeNetworkConfig, emptyNetworkConfig } from './network-config.js';

const ids = new Map<string, Identity>();
for (const f of readdirSync(vectorPath('session')).filter((n) => n.endsWith('.identity.secret'))) {
  const id = Identity.fromString(readVectorText('session', f).trim());
  ids.set(formatAddress(id.address), id);
}
// eslint-disable-next-line @typescript-eslint/no-explicit-any
const session: any = readVectorJson('session', 'decoded.json');

test('session: each member\'s config admits the other members by the COMs they pushed; a revocation or no COM refuses', () => {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const configs = session.assembled_network_configs.map((a: any) => decodeNetworkConfig(fromHex(a.dictionary_wire_hex)));
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const pushed = session.packets.filter((p: any) => p.kind === 'packet' && p.verb === Verb.NETWORK_CREDENTIALS).map((p: any) => ({ from: p.source as string, com: decodeNetworkCredentials(fromHex(p.payload_hex)).coms[0]! }));
  let checked = 0;
  for (const c of configs) {
    for (const { from, com } of pushed) {
      assert.ok(admitsPeer(c, com, ids.get(from)!), `${formatAddress(c.issuedTo)} admits ${from}`);
      assert.equal(admitsPeer(c, com, ids.get('c734a53e81')!), false, 'not with another identity');
      assert.equal(admitsPeer(c, com, ids.get(from)!, comTimestamp(com)), false, 'revoked at its timestamp');
      checked++;
    }
    assert.equal(admitsPeer(c, null, ids.get('c734a53e81')!), false);
    assert.equal(admitsPeer({ ...c, com: null }, pushed[0]!.com, ids.get(pushed[0]!.from)!), false, 'a PRIVATE config without a COM admits nobody');
    assert.ok(admitsPeer({ ...c, type: NetworkType.PUBLIC }, null, ids.get('c734a53e81')!), 'PUBLIC admits everyone');
  }
  assert.ok(checked >= 18);
  assert.equal(admitsPeer(null, pushed[0]!.com, ids.get(pushed[0]!.from)!), false, 'no config');
});

test('COM replacement, credential time validity, controller errors', () => {
  const root = ids.get('c734a53e81')!;
  const member = ids.get('cf42a0f1bd')!;
  const nwid = 0xc734a53e812d3883n;
  const a = signCom(createCom({ timestamp: 1000, maxDelta: 10, networkId: nwid, issuedTo: member }), root);
  const b = signCom(createCom({ timestamp: 2000, maxDelta: 10, networkId: nwid, issuedTo: member }), root);
  assert.equal(comUpdate(null, a), 'verify');
  assert.equal(comUpdate(a, a), 'same');
  assert.equal(comUpdate(a, b), 'verify');
  assert.equal(comUpdate(b, a), 'old');
  assert.equal(comUpdate(a, b, 2000n), 'revoked');
  const cfg = { ...emptyNetworkConfig(nwid, member.address), timestamp: 10_000, credentialTimeMaxDelta: 500 };
  assert.ok(credentialTimely(cfg, 9_500));
  assert.ok(!credentialTimely(cfg, 10_501));
  assert.ok(!credentialTimely(cfg, 10_000, 10_000), 'revoked at or after');
  assert.ok(credentialTimely(cfg, 10_000, 9_999));
  // the controller's ERROR in the capture: ACCESS_DENIED before authorization
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const errs = session.packets.filter((p: any) => p.kind === 'packet' && p.verb === Verb.ERROR).map((p: any) => decodeError(fromHex(p.payload_hex)));
  assert.equal(errs.length, 3);
  for (const e of errs) assert.equal(controllerErrorStatus(e.inReVerb, e.code), NetworkStatus.ACCESS_DENIED);
  assert.equal(controllerErrorStatus(Verb.NETWORK_CONFIG_REQUEST, ErrorCode.OBJ_NOT_FOUND), NetworkStatus.NOT_FOUND);
  assert.equal(controllerErrorStatus(Verb.NETWORK_CONFIG_REQUEST, ErrorCode.UNSUPPORTED_OPERATION), NetworkStatus.NOT_FOUND);
  assert.equal(controllerErrorStatus(Verb.WHOIS, ErrorCode.OBJ_NOT_FOUND), null);
  assert.equal(controllerErrorStatus(Verb.NETWORK_CONFIG_REQUEST, ErrorCode.NETWORK_AUTHENTICATION_REQUIRED), NetworkStatus.AUTHENTICATION_REQUIRED);
  assert.equal(controllerErrorStatus(Verb.FRAME, ErrorCode.NEED_MEMBERSHIP_CERTIFICATE), null);
});

test('inbound ownership: the sender\'s COOs, and with NDP emulation anything in our 6PLANE /40 or RFC 4193 /88', () => {
  const nwid = 0x8056c2e21c000001n;
  const self = 0x89e92ceee5;
  const cfg = {
    ...emptyNetworkConfig(nwid, self),
    flags: NetworkConfigFlag.ENABLE_IPV6_NDP_EMULATION,
    staticIps: [{ family: 6 as const, ip: ipv6SixPlane(nwid, self), bits: 40 }, { family: 6 as const, ip: ipv6Rfc4193(nwid, self), bits: 88 }],
  };
  const coo = { things: [cooThing(new Uint8Array([10, 0, 0, 7])), cooThing(0x02aabbccddeen)] } as CertificateOfOwnership;
  const owns = inboundOwnership(cfg, [coo]);
  assert.ok(owns(new Uint8Array([10, 0, 0, 7])));
  assert.ok(!owns(new Uint8Array([10, 0, 0, 8])));
  assert.ok(owns(0x02aabbccddeen));
  assert.ok(!owns(0x02aabbccddefn));
  assert.ok(owns(parseIp(ipv6SixPlane(nwid, 0x1122334455))!), 'another member\'s 6PLANE');
  assert.ok(owns(parseIp(ipv6Rfc4193(nwid, 0x1122334455))!), 'another member\'s RFC 4193');
  assert.ok(!owns(parseIp('fd00::1')!));
  assert.ok(!inboundOwnership({ ...cfg, flags: 0 }, [])(parseIp(ipv6SixPlane(nwid, 0x1122334455))!), 'only with NDP emulation');
  assert.ok(!inboundOwnership({ ...cfg, staticIps: [] }, [])(parseIp(ipv6SixPlane(nwid, 0x1122334455))!), 'only for prefixes we hold');
});
