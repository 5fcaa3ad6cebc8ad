/**
 * NetworkConfig ⇄ Dictionary against the ad-hoc vector of vl2.md §3.2 (669 bytes), the controller config of A.3 and
 * the six configs a real 1.14.1 controller sent in the session capture; ad-hoc synthesis (Form A, Form B,
 * NOT_FOUND); 1.14's refusals and limits; fuzzing of mutated dictionaries.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { formatNetworkId } from '../address.js';
import { fromHex, toHex } from '../bytes.js';
import { isZtError } from '../errors.js';
import { Identity } from '../identity.js';
import { ipv6SixPlane } from '../mac-ip.js';
import { readVectorJson } from '../../test/vectors.js';
import { adhocDictionaryDisplay, appendixA } from '../../test/vl2-sheet.js';
import { adhocRules, isAdhocNetworkId, synthesizeAdhocConfig } from './adhoc.js';
import { decodeConfigChunk, verifyConfigChunk } from './config-chunk.js';
import { ConfigReassembler } from './config-reassembler.js';
import { comIssuedTo, verifyCom } from './com.js';
import { MAX_NETWORK_ROUTES, MAX_ZT_ASSIGNED_ADDRESSES, NetworkConfigFlag, NetworkStatus, NetworkType } from './constants.js';
import { Dictionary } from './dictionary.js';
import { decodeNetworkConfig, emptyNetworkConfig, encodeNetworkConfig, networkConfigToDictionary, sameNetworkConfig, type NetworkConfig } from './network-config.js';
import { decodeRoutes, decodeStaticIps, encodeDns, encodeRoutes, encodeStaticIps, decodeDns } from './config-blobs.js';
import { rule } from './rules.js';

const latin1 = (b: Uint8Array): string => Buffer.from(b).toString('latin1');

test('vl2.md §3.2: the ad-hoc config of ff00160016000000 for 89e92ceee5 at ts 1700000000000 is the 669-byte dictionary', () => {
  const o = synthesizeAdhocConfig(0xff00160016000000n, 0x89e92ceee5, 1700000000000);
  assert.equal(o.kind, 'config');
  const text = encodeNetworkConfig((o as { config: NetworkConfig }).config);
  assert.equal(text.length, 669);
  const { lines, dnsLine } = adhocDictionaryDisplay();
  const ours = latin1(text).split('\n');
  assert.deepEqual(ours.map((l) => l.slice(0, l.indexOf('='))), lines.map((l) => l.key), 'keys in 1.14\'s order');
  lines.forEach((l, i) => {
    if (l.key !== 'DNS') assert.equal(ours[i], latin1(l.wire), l.key);
  });
  assert.match(dnsLine, /132 escaped zero bytes/);
  assert.equal(ours[lines.findIndex((l) => l.key === 'DNS')], `DNS=${'\\0'.repeat(132)}`);
  // and it reads back to the same config
  const back = decodeNetworkConfig(text);
  assert.ok(sameNetworkConfig(back, (o as { config: NetworkConfig }).config));
  assert.deepEqual(back.staticIps, [{ family: 6, ip: 'fce9:16:89:e92c:eee5::1', bits: 40 }]);
});

test('ad-hoc Form A: fields as 1.14 sets them; NOT_FOUND when end < start; other ff ids do nothing', () => {
  const o = synthesizeAdhocConfig(0xff1f401f41000000n, 0x0c4d01372d, 5);
  assert.ok(o.kind === 'config');
  const c = o.config;
  assert.equal(c.name, 'adhoc-1f40-1f41');
  assert.equal(c.type, NetworkType.PUBLIC);
  assert.equal(c.flags, NetworkConfigFlag.ENABLE_IPV6_NDP_EMULATION);
  assert.equal(c.multicastLimit, 0);
  assert.equal(c.mtu, 2800);
  assert.equal(c.revision, 1);
  assert.equal(c.credentialTimeMaxDelta, 7200000);
  assert.equal(c.timestamp, 5);
  assert.equal(c.issuedTo, 0x0c4d01372d);
  assert.equal(c.com, null);
  assert.deepEqual(c.staticIps, [{ family: 6, ip: ipv6SixPlane(0xff1f401f41000000n, 0x0c4d01372d), bits: 40 }]);
  assert.deepEqual(c.rules, adhocRules(0x1f40, 0x1f41));
  assert.deepEqual(synthesizeAdhocConfig(0xff00170016000000n, 1, 0), { kind: 'status', status: NetworkStatus.NOT_FOUND });
  assert.deepEqual(synthesizeAdhocConfig(0xff00000000000002n, 1, 0), { kind: 'none' });
  assert.deepEqual(synthesizeAdhocConfig(0x8056c2e21c000001n, 1, 0), { kind: 'none' });
  assert.ok(isAdhocNetworkId(0xff0000ffff000000n));
  assert.ok(!isAdhocNetworkId(0xfe0000ffff000000n));
});

test('ad-hoc Form B (ffAA…01): 6PLANE and AA.x.y.z/8, multicast limit 1024, ACCEPT, the hub as a role-less specialist', () => {
  const o = synthesizeAdhocConfig(0xff0a0011223344_01n, 0x89e92ceee5, 9);
  assert.ok(o.kind === 'config');
  const c = o.config;
  assert.equal(c.name, 'adhoc-10.0.0.0');
  assert.deepEqual(c.staticIps.map((s) => `${s.ip}/${s.bits}`), [`${ipv6SixPlane(0xff0a001122334401n, 0x89e92ceee5)}/40`, '10.44.238.229/8']);
  assert.equal(c.multicastLimit, 1024);
  assert.deepEqual(c.rules, [rule('ACTION_ACCEPT')]);
  assert.deepEqual(c.specialists, [0x0011223344n]);
  const noHub = synthesizeAdhocConfig(0xff0a000000000001n, 0x89e92ceee5, 9);
  assert.ok(noHub.kind === 'config');
  assert.deepEqual(noHub.config.specialists, []);
  assert.ok(sameNetworkConfig(decodeNetworkConfig(encodeNetworkConfig(c)), c));
});

test('A.3: the chunk verifies with A.1\'s controller, reassembles to 896 bytes and decodes to the config described', () => {
  const controller = Identity.fromString(appendixA.controllerSecret());
  const body = appendixA.chunkHex();
  assert.equal(body.length, 1022);
  const chunk = decodeConfigChunk(body);
  assert.ok(chunk.kind === 'signed');
  assert.equal(chunk.updateId, 0x0123456789abcdefn);
  assert.ok(verifyConfigChunk(chunk, controller));
  const r = new ConfigReassembler().add(chunk);
  assert.ok(r.status === 'complete');
  assert.equal(r.dictionary.length, 896);
  const c = decodeNetworkConfig(r.dictionary);
  assert.equal(c.networkId, appendixA.networkId());
  assert.equal(c.type, NetworkType.PRIVATE);
  assert.equal(c.revision, 3);
  assert.equal(c.flags, 0x02);
  assert.equal(c.multicastLimit, 32);
  assert.equal(c.name, 'test');
  assert.equal(c.mtu, 2800);
  assert.deepEqual(c.routes, [{ target: { family: 4, ip: '10.147.17.0', bits: 24 }, via: null, flags: 0, metric: 0 }]);
  assert.deepEqual(c.staticIps, [{ family: 4, ip: '10.147.17.5', bits: 24 }]);
  assert.deepEqual(c.rules, [rule('ACTION_ACCEPT')]);
  assert.ok(c.com && verifyCom(c.com, controller));
  assert.equal(toHex(networkConfigToDictionary(c).get('C')!), toHex(appendixA.comHex()), 'the COM is A.2\'s');
  // A.3's dictionary ends after DNS (no ssov/ssoe, unlike the session's): re-encoding adds only those two keys
  assert.equal(latin1(encodeNetworkConfig(c)), `${latin1(r.dictionary)}\nssov=0000000000000000\nssoe=0`);
});

test('session: the six configs a 1.14.1 controller sent decode to the recorded values and re-encode byte for byte', () => {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const configs: any[] = readVectorJson('session', 'decoded.json').assembled_network_configs;
  assert.equal(configs.length, 6);
  for (const a of configs) {
    const text = fromHex(a.dictionary_wire_hex);
    const c = decodeNetworkConfig(text);
    const d = a.dictionary;
    assert.equal(formatNetworkId(c.networkId), d.nwid.text);
    assert.equal(c.timestamp, parseInt(d.ts.text, 16));
    assert.equal(c.credentialTimeMaxDelta, parseInt(d.ctmd.text, 16));
    assert.equal(c.revision, parseInt(d.r.text, 16));
    assert.equal(c.issuedTo.toString(16).padStart(10, '0'), d.id.text);
    assert.equal(c.flags, parseInt(d.f.text, 16));
    assert.equal(c.multicastLimit, parseInt(d.ml.text, 16));
    assert.equal(c.type, parseInt(d.t.text, 16));
    assert.equal(c.name, d.n.text);
    assert.equal(c.mtu, parseInt(d.mtu.text, 16));
    const bin = a.decoded_binary_values;
    assert.equal(comIssuedTo(c.com!), c.issuedTo);
    assert.deepEqual(c.staticIps, bin.I_static_ips.map((s: { type: number; ip: string; port: number }) => ({ family: s.type, ip: s.ip, bits: s.port })));
    assert.deepEqual(c.routes.map((r) => ({ ...r.target, via: r.via })), bin.RT_routes.map((r: { target: { type: number; ip: string; port: number } }) => ({ family: r.target.type, ip: r.target.ip, bits: r.target.port, via: null })));
    assert.equal(c.certificatesOfOwnership.length, 1);
    assert.deepEqual(c.rules, [rule('ACTION_ACCEPT')]);
    assert.equal(toHex(encodeNetworkConfig(c)), a.dictionary_wire_hex, a.key);
  }
});

test('1.14\'s refusals: nwid or id missing/zero, v < 6, bad COM/route/static IP/rule/DNS blob; capabilities/tags end silently', () => {
  const base = encodeNetworkConfig((synthesizeAdhocConfig(0xff00160016000000n, 0x89e92ceee5, 1) as { config: NetworkConfig }).config);
  const with_ = (edit: (d: Dictionary) => void): Uint8Array => {
    const d = Dictionary.parse(base);
    edit(d);
    return d.encode();
  };
  const set = (k: string, v: Uint8Array | string) => (d: Dictionary) => {
    const i = d.entries.findIndex((e) => e[0] === k);
    const bytes = typeof v === 'string' ? new TextEncoder().encode(v) : v;
    if (i >= 0) d.entries[i] = [k, bytes];
    else d.entries.push([k, bytes]);
  };
  const refuses = (b: Uint8Array, re: RegExp): void => {
    assert.throws(() => decodeNetworkConfig(b), (e: unknown) => isZtError(e) && re.test(e.message), re.source);
  };
  refuses(with_(set('nwid', '0')), /nwid/);
  refuses(with_((d) => d.entries.splice(1, 1)), /nwid/);
  refuses(with_(set('id', '0')), /id/);
  refuses(with_(set('id', '10000000000')), /id/); // only the low 40 bits count
  refuses(with_(set('v', '5')), /version 5/);
  refuses(with_((d) => d.entries.splice(0, 1)), /version 0/);
  refuses(with_(set('ts', 'ffffffffffffffff')), /timestamp/);
  refuses(with_(set('C', '')), /^network config C/);
  refuses(with_(set('C', fromHex('02'))), /^network config C/);
  refuses(with_(set('RT', fromHex('04c0a80100'))), /^network config RT/);
  refuses(with_(set('I', fromHex('05'))), /^network config I/);
  refuses(with_(set('R', fromHex('2501'))), /^network config R/);
  refuses(with_(set('DNS', new Uint8Array(130))), /^network config DNS/);
  refuses(with_(set('COO', fromHex('00'))), /^network config COO/);
  // capabilities and tags: a bad one ends the list without refusing the config (1.14 catches those)
  assert.deepEqual(decodeNetworkConfig(with_(set('CAP', fromHex('0102')))).capabilities, []);
  assert.deepEqual(decodeNetworkConfig(with_(set('TAG', fromHex('0102')))).tags, []);
  // mtu clamped, t defaults to PRIVATE, f/ml/t read modulo 2^32
  assert.equal(decodeNetworkConfig(with_(set('mtu', '100'))).mtu, 1280);
  assert.equal(decodeNetworkConfig(with_(set('mtu', 'ffffff'))).mtu, 10000);
  assert.equal(decodeNetworkConfig(with_((d) => d.entries.splice(d.entries.findIndex((e) => e[0] === 'mtu'), 1))).mtu, 2800);
  assert.equal(decodeNetworkConfig(with_((d) => d.entries.splice(d.entries.findIndex((e) => e[0] === 't'), 1))).type, NetworkType.PRIVATE);
  assert.equal(decodeNetworkConfig(with_(set('ml', '100000020'))).multicastLimit, 0x20);
  // first occurrence wins
  assert.equal(decodeNetworkConfig(with_((d) => d.entries.splice(1, 0, ['n', new TextEncoder().encode('first')]))).name, 'first');
});

test('limits: 1.14 reads at most 128 routes / 32 static IPs (the rest is ignored); writing more is TOO_LONG', () => {
  const many = Array.from({ length: MAX_NETWORK_ROUTES + 2 }, (_, i) => ({ target: { family: 4 as const, ip: `10.0.${i}.0`, bits: 24 }, via: null, flags: 0, metric: 0 }));
  assert.throws(() => encodeRoutes(many), (e: unknown) => isZtError(e, 'ZT_ERR_TOO_LONG') && /MAX_NETWORK_ROUTES/.test(e.message));
  const blob = new Uint8Array([...encodeRoutes(many.slice(0, 128)), ...encodeRoutes(many.slice(128))]);
  assert.equal(decodeRoutes(blob).length, MAX_NETWORK_ROUTES);
  const ips = Array.from({ length: 40 }, (_, i) => ({ family: 4 as const, ip: `10.0.0.${i}`, bits: 24 }));
  assert.throws(() => encodeStaticIps(ips), (e: unknown) => isZtError(e, 'ZT_ERR_TOO_LONG') && /MAX_ZT_ASSIGNED_ADDRESSES/.test(e.message));
  const ipBlob = new Uint8Array([...encodeStaticIps(ips.slice(0, 32)), ...encodeStaticIps(ips.slice(32))]);
  assert.equal(decodeStaticIps(ipBlob).length, MAX_ZT_ASSIGNED_ADDRESSES);
  // nil entries take a slot but are not listed
  assert.deepEqual(decodeStaticIps(fromHex('00' + '040a0000010018')), [{ family: 4, ip: '10.0.0.1', bits: 24 }]);
  const c = emptyNetworkConfig(1n, 1);
  assert.throws(() => encodeNetworkConfig({ ...c, rules: new Array(1025).fill(rule('ACTION_ACCEPT')) }), (e: unknown) => isZtError(e, 'ZT_ERR_TOO_LONG') && /MAX_NETWORK_RULES/.test(e.message));
  assert.throws(() => encodeNetworkConfig({ ...c, name: 'x'.repeat(128) }), { code: 'ZT_ERR_TOO_LONG' });
  // DNS: always 132 bytes when empty; a domain and servers round-trip
  assert.equal(encodeDns({ domain: '', servers: [] }).length, 132);
  const dns = { domain: 'zt.example', servers: [{ family: 4 as const, ip: '10.0.0.53', port: 53 }, { family: 6 as const, ip: 'fd00::53', port: 53 }] };
  assert.deepEqual(decodeDns(encodeDns(dns)), dns);
  assert.throws(() => encodeDns({ domain: '', servers: new Array(5).fill(dns.servers[0]) }), { code: 'ZT_ERR_TOO_LONG' });
});

test('SSO fields: version 0 writes aurl/aexpt only when enabled; version 1 writes its six strings', () => {
  const c = { ...emptyNetworkConfig(0x8056c2e21c000001n, 0x89e92ceee5), ssoEnabled: true, authenticationUrl: 'https://sso.example/x', authenticationExpiryTime: 1700000000000 };
  const t0 = latin1(encodeNetworkConfig(c));
  assert.match(t0, /\nssov=0000000000000000\nssoe=1\naurl=https:\/\/sso\.example\/x\naexpt=0000018bcfe56800$/);
  assert.ok(sameNetworkConfig(decodeNetworkConfig(encodeNetworkConfig(c)), c));
  const c1 = { ...c, ssoVersion: 1, authenticationUrl: '', authenticationExpiryTime: 0, issuerUrl: 'https://issuer', centralAuthUrl: 'https://central', ssoNonce: 'n', ssoState: 's', ssoClientId: 'id', ssoProvider: 'oidc' };
  assert.match(latin1(encodeNetworkConfig(c1)), /\nssov=0000000000000001\nssoe=1\niurl=https:\/\/issuer\nssoce=https:\/\/central\nsson=n\nssos=s\nssocid=id\nssop=oidc$/);
  assert.ok(sameNetworkConfig(decodeNetworkConfig(encodeNetworkConfig(c1)), c1));
  // disabled: nothing of it is read back
  const off = decodeNetworkConfig(encodeNetworkConfig({ ...c, ssoEnabled: false }));
  assert.equal(off.authenticationUrl, '');
});

test('fuzz: mutated real config dictionaries decode or fail with ZtError; what decodes re-encodes stably', () => {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const seeds = (readVectorJson('session', 'decoded.json').assembled_network_configs as any[]).map((a) => fromHex(a.dictionary_wire_hex));
  seeds.push(appendixA.chunkHex().subarray(10, 906));
  fc.assert(
    fc.property(fc.nat({ max: seeds.length - 1 }), fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 6 }), fc.nat(), fc.boolean(), (which, edits, cut, truncate) => {
      const s = seeds[which]!;
      const b = truncate ? s.slice(0, cut % (s.length + 1)) : s.slice();
      for (const [at, v] of edits) if (b.length > 0) b[at % b.length] = v;
      let c: NetworkConfig;
      try {
        c = decodeNetworkConfig(b);
      } catch (e) {
        assert.ok(isZtError(e), String(e));
        return;
      }
      let again: Uint8Array;
      try {
        again = encodeNetworkConfig(c);
      } catch (e) {
        // what 1.14 can hold we can write, except what it reads leniently and cannot write back (e.g. a name cut
        // inside a UTF-8 sequence grows when re-encoded as U+FFFD): those are TOO_LONG, never anything else
        assert.ok(isZtError(e, 'ZT_ERR_TOO_LONG'), String(e));
        return;
      }
      assert.equal(toHex(encodeNetworkConfig(decodeNetworkConfig(again))), toHex(again));
    }),
    { numRuns: 1500, seed: 81 },
  );
});
