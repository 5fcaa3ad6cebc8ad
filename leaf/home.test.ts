/**
 * leaf/home.ts on real directories: what a first start makes (and with which modes), what a second start
 * finds, and how garbage, missing and bad files are met. File formats are checked against what a real
 * zerotier-one 1.14.1 wrote in a temp home (the literal bytes below were read from one).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { c25519Generate } from '../vl1/c25519.js';
import { ZtError, ZtErrorCode } from '../vl1/errors.js';
import { Identity } from '../vl1/identity.js';
import { readVectorJson, vectorPath } from '../test/vectors.js';
import { parseWorld, serializeWorld, signWorld, type World } from '../planet/world.js';
import { LeafHome, formatNetworkLocalConf, NETWORK_CONFIG_MAX_BYTES, parseDeviceMap, parseNetworkLocalConf } from './home.js';
import { ipNetworkContains, parseIpNetwork, parseLocalConf } from './home-local-conf.js';
import { legacySecondaryPort, randomPortCandidates, randomPrimaryPortCandidates, RANDOM_PORT_TRIES } from './home-ports.js';

const tmp = mkdtempSync(join(tmpdir(), 'leaf-home-'));
process.on('exit', () => rmSync(tmp, { recursive: true, force: true }));
let n = 0;
const PLANET = vectorPath('planets', 'planet-a-one-root.bin');
// A ready identity, so that most tests do not pay for generating one (the memory-hard hash).
const IDENTITY = vectorPath('planet-update', 'c1.identity.secret');

/** A fresh home directory holding a planet (and an identity unless `freshIdentity`). */
function home(opts: { planet?: boolean; freshIdentity?: boolean } = {}): string {
  const dir = join(tmp, `h${++n}`);
  mkdirSync(dir, { mode: 0o700 });
  if (opts.planet !== false) copyFileSync(PLANET, join(dir, 'planet'));
  if (opts.freshIdentity !== true) copyFileSync(IDENTITY, join(dir, 'identity.secret'));
  return dir;
}

const mode = (p: string) => statSync(p).mode & 0o777;

function throwsZt(fn: () => unknown, code: string, ...msgs: RegExp[]): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof ZtError, `expected a ZtError, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    for (const m of msgs) assert.match(e.message, m);
    return true;
  });
}

function moon(id: bigint): World {
  const key = c25519Generate();
  const root = Identity.fromString(readFileSync(IDENTITY, 'utf8').trim()).publicOnly();
  return signWorld({ type: 'moon', id, timestamp: 1_700_000_000_000, updatesMustBeSignedBy: key.publicKey, roots: [{ identity: root, stableEndpoints: [{ family: 4, ip: '192.0.2.9', port: 9993 }] }] }, key);
}

test('first start makes identity, tokens and directories as 1.14 does (modes included); the second start finds them', () => {
  const dir = join(home({ freshIdentity: true }), 'nested', 'home'); // a home that does not exist yet
  mkdirSync(join(dir, '..'), { recursive: true });
  mkdirSync(dir);
  copyFileSync(PLANET, join(dir, 'planet'));
  const h = LeafHome.open(dir);
  assert.equal(h.identityCreated, true);
  assert.equal(mode(join(dir, 'identity.secret')), 0o600);
  assert.equal(mode(join(dir, 'authtoken.secret')), 0o600);
  assert.equal(mode(join(dir, 'metricstoken.secret')), 0o600);
  // identity.public: the public form, no newline (as zerotier-idtool and 1.14 write it).
  assert.equal(readFileSync(join(dir, 'identity.public'), 'utf8'), h.identity.toString(false));
  assert.match(h.authToken, /^[a-z0-9]{24}$/);
  assert.match(h.metricsToken, /^[a-z0-9]{24}$/);
  assert.notEqual(h.authToken, h.metricsToken);
  assert.equal(readFileSync(join(dir, 'authtoken.secret'), 'utf8'), h.authToken);
  assert.equal(h.planet.type, 'planet');
  assert.deepEqual(h.notices, []);

  const again = LeafHome.open(dir);
  assert.equal(again.identityCreated, false);
  assert.equal(again.identity.toString(true), h.identity.toString(true));
  assert.equal(again.authToken, h.authToken);
  assert.equal(again.metricsToken, h.metricsToken);
});

test('tokens: an existing one is trimmed like 1.14; an empty or multi-word one is a BAD_CONFIG naming the file', () => {
  const dir = home();
  writeFileSync(join(dir, 'authtoken.secret'), '  mytoken123\n');
  assert.equal(LeafHome.open(dir).authToken, 'mytoken123');
  writeFileSync(join(dir, 'authtoken.secret'), '\n');
  throwsZt(() => LeafHome.open(dir), ZtErrorCode.BAD_CONFIG, /authtoken\.secret/, /empty/, /delete it/);
  writeFileSync(join(dir, 'authtoken.secret'), 'two words');
  throwsZt(() => LeafHome.open(dir), ZtErrorCode.BAD_CONFIG, /authtoken\.secret/, /without spaces/);
});

test('identity.public that does not match identity.secret is rewritten; one without a secret is replaced', () => {
  const dir = home();
  writeFileSync(join(dir, 'identity.public'), 'deadbeef00:0:00');
  const h = LeafHome.open(dir);
  assert.equal(readFileSync(join(dir, 'identity.public'), 'utf8'), h.identity.toString(false));
  assert.match(h.notices.map((x) => x.message).join('\n'), /did not match identity\.secret/);

  const orphan = home({ freshIdentity: true });
  writeFileSync(join(orphan, 'identity.public'), 'deadbeef00:0:00');
  const h2 = LeafHome.open(orphan);
  assert.equal(h2.identityCreated, true);
  assert.equal(readFileSync(join(orphan, 'identity.public'), 'utf8'), h2.identity.toString(false));
});

test('a bad identity.secret is a BAD_CONFIG naming the file (never silently replaced)', () => {
  const dir = home({ freshIdentity: true });
  writeFileSync(join(dir, 'identity.secret'), 'garbage');
  throwsZt(() => LeafHome.open(dir), ZtErrorCode.BAD_CONFIG, /identity\.secret/);
  assert.equal(readFileSync(join(dir, 'identity.secret'), 'utf8'), 'garbage');
});

test('the planet is required: missing, a directory, garbage, oversized or a moon — each a clear BAD_CONFIG naming the file', () => {
  const dir = home({ planet: false });
  throwsZt(() => LeafHome.open(dir), ZtErrorCode.BAD_CONFIG, new RegExp(`${dir}/planet is missing`), /never ZeroTier's built-in one/, /Copy your roots' planet/);
  // Nothing half-made that a second try would trip over: the identity and tokens made are the ones kept.
  const token = readFileSync(join(dir, 'authtoken.secret'), 'utf8');
  mkdirSync(join(dir, 'planet'));
  throwsZt(() => LeafHome.open(dir), ZtErrorCode.BAD_CONFIG, /planet is not a file/);
  rmSync(join(dir, 'planet'), { recursive: true });
  writeFileSync(join(dir, 'planet'), 'not a world');
  assert.throws(() => LeafHome.open(dir), (e: unknown) => e instanceof ZtError && /planet is not a planet file/.test(e.message));
  writeFileSync(join(dir, 'planet'), Buffer.alloc(100_000));
  throwsZt(() => LeafHome.open(dir), ZtErrorCode.BAD_CONFIG, /100000 bytes, larger than any planet/);
  writeFileSync(join(dir, 'planet'), serializeWorld(moon(0xabcdn)));
  throwsZt(() => LeafHome.open(dir), ZtErrorCode.BAD_CONFIG, /holds a moon \(id 000000000000abcd\)/, /moons\.d/);
  copyFileSync(PLANET, join(dir, 'planet'));
  assert.equal(LeafHome.open(dir).authToken, token);
});

test('savePlanet keeps an accepted update in place of planet; the next open starts from it', () => {
  const dir = home();
  const h = LeafHome.open(dir);
  const next = parseWorld(new Uint8Array(readFileSync(vectorPath('planets', 'planet-b-three-roots.bin'))));
  h.savePlanet(next);
  assert.deepEqual(new Uint8Array(readFileSync(join(dir, 'planet'))), serializeWorld(next));
  assert.equal(h.planet, next);
  assert.equal(LeafHome.open(dir).planet.roots.length, 3);
});

test('local.conf: absent or empty = 1.14 defaults; the settings that apply are typed', () => {
  const d = parseLocalConf('').settings;
  assert.deepEqual(
    { ...d, allowManagementFrom: d.allowManagementFrom.length },
    {
      primaryPort: 9993, secondaryPort: 0, tertiaryPort: 0, allowSecondaryPort: true, portMappingEnabled: true, allowTcpFallbackRelay: true,
      tcpFallbackRelay: null, forceTcpRelay: false, allowManagementFrom: 0, interfacePrefixBlacklist: [], bind: [],
    },
  );
  const c = parseLocalConf(
    JSON.stringify({
      settings: {
        primaryPort: '19993', secondaryPort: 30000, portMappingEnabled: 0, allowTcpFallbackRelay: 'false', forceTcpRelay: true,
        tcpFallbackRelay: '192.0.2.1/443', allowManagementFrom: ['10.1.0.0/16', '192.0.2.7', 'fd00::/8'], interfacePrefixBlacklist: ['docker', ' veth '],
        bind: ['192.0.2.1', '2001:DB8::1'],
      },
    }),
  );
  assert.equal(c.settings.primaryPort, 19993);
  assert.equal(c.settings.secondaryPort, 30000);
  assert.equal(c.settings.portMappingEnabled, false);
  assert.equal(c.settings.allowTcpFallbackRelay, false);
  assert.equal(c.settings.forceTcpRelay, true);
  assert.deepEqual(c.settings.tcpFallbackRelay, { family: 4, ip: '192.0.2.1', port: 443 });
  assert.deepEqual(c.settings.allowManagementFrom.map((x) => x.text), ['10.1.0.0/16', '192.0.2.7/32', 'fd00::/8']);
  assert.deepEqual(c.settings.interfacePrefixBlacklist, ['docker', 'veth']);
  assert.deepEqual(c.settings.bind, ['192.0.2.1', '2001:db8::1']);
  assert.deepEqual(c.unknownKeys, []);
});

test('local.conf: unknown keys are kept and reported; keys 1.14 has but this leaf does not apply are reported as such', () => {
  const dir = home();
  const raw = { settings: { primaryPort: 9993, fooBar: 1, softwareUpdate: 'apply', defaultBondingPolicy: 'active-backup' }, physical: {}, extra: [1] };
  writeFileSync(join(dir, 'local.conf'), JSON.stringify(raw));
  const h = LeafHome.open(dir);
  assert.deepEqual(h.localConf.raw, raw);
  assert.deepEqual(h.localConf.unknownKeys.sort(), ['extra', 'settings.fooBar']);
  assert.deepEqual(h.localConf.notApplied.sort(), ['physical', 'settings.defaultBondingPolicy', 'settings.softwareUpdate']);
  const text = h.notices.map((x) => `${x.file}: ${x.message}`).join('\n');
  assert.match(text, /local\.conf: unknown key "settings\.fooBar".*kept, not applied/);
  assert.match(text, /"settings\.softwareUpdate" is a ZeroTier setting this leaf does not apply/);
});

test('local.conf: each bad value is a BAD_CONFIG naming the file, the key and the value', () => {
  const cases: Array<[unknown, RegExp[]]> = [
    ['{"settings": {', [/local\.conf is not valid JSON/]],
    ['[1,2]', [/top level must be a JSON object/, /an array/]],
    ['"x"', [/top level must be a JSON object/]],
    [{ settings: [] }, [/"settings" must be a JSON object/]],
    [{ settings: { primaryPort: 70000 } }, [/settings\.primaryPort = 70000 is not a port/]],
    [{ settings: { primaryPort: 'abc' } }, [/settings\.primaryPort = "abc" is not a port/]],
    [{ settings: { secondaryPort: -1 } }, [/settings\.secondaryPort = -1/]],
    [{ settings: { tertiaryPort: 1.5 } }, [/settings\.tertiaryPort = 1\.5/]],
    [{ settings: { portMappingEnabled: 'yes' } }, [/settings\.portMappingEnabled = "yes" is not a boolean/]],
    [{ settings: { forceTcpRelay: 2 } }, [/settings\.forceTcpRelay = 2 is not a boolean/]],
    [{ settings: { allowManagementFrom: '10.0.0.0/8' } }, [/settings\.allowManagementFrom = "10\.0\.0\.0\/8" is not an array of strings/]],
    [{ settings: { allowManagementFrom: ['10.0.0.0/33'] } }, [/allowManagementFrom: "10\.0\.0\.0\/33" has prefix length 33; IPv4 allows 0\.\.32/]],
    [{ settings: { allowManagementFrom: ['example.com'] } }, [/allowManagementFrom: "example\.com" is not an IP address or network/]],
    [{ settings: { tcpFallbackRelay: 'relay.example:443' } }, [/settings\.tcpFallbackRelay = "relay\.example:443" is not an "ip\/port" address/]],
    [{ settings: { tcpFallbackRelay: 443 } }, [/settings\.tcpFallbackRelay = 443 is not an "ip\/port" string/]],
    [{ settings: { bind: ['eth0'] } }, [/settings\.bind = "eth0" is not an IP address/]],
    [{ settings: { interfacePrefixBlacklist: [1] } }, [/interfacePrefixBlacklist = \[1\] is not an array of strings/]],
  ];
  for (const [conf, msgs] of cases) {
    const dir = home();
    writeFileSync(join(dir, 'local.conf'), typeof conf === 'string' ? conf : JSON.stringify(conf));
    throwsZt(() => LeafHome.open(dir), ZtErrorCode.BAD_CONFIG, new RegExp(`${dir}/local\\.conf`), ...msgs);
  }
});

test('local.conf: mergeSettings writes sorted 4-space JSON as 1.14; a bad value changes nothing; edits are picked up; a bad edit keeps the old settings', () => {
  const dir = home();
  writeFileSync(join(dir, 'local.conf'), JSON.stringify({ settings: { primaryPort: 19993 }, physical: { '10.0.0.0/8': { blacklist: true } } }));
  const h = LeafHome.open(dir);
  h.mergeSettings({ portMappingEnabled: false, allowManagementFrom: ['192.0.2.0/24'] });
  assert.equal(
    readFileSync(join(dir, 'local.conf'), 'utf8'),
    '{\n    "physical": {\n        "10.0.0.0/8": {\n            "blacklist": true\n        }\n    },\n    "settings": {\n        "allowManagementFrom": [\n            "192.0.2.0/24"\n        ],\n        "portMappingEnabled": false,\n        "primaryPort": 19993\n    }\n}',
  );
  assert.equal(h.localConf.settings.portMappingEnabled, false);
  assert.equal(h.localConf.settings.allowManagementFrom[0]!.text, '192.0.2.0/24');
  const before = readFileSync(join(dir, 'local.conf'), 'utf8');
  throwsZt(() => h.mergeSettings({ primaryPort: 'ninety' }), ZtErrorCode.BAD_CONFIG, /settings\.primaryPort = "ninety"/);
  assert.equal(readFileSync(join(dir, 'local.conf'), 'utf8'), before);
  assert.equal(h.localConf.settings.primaryPort, 19993);
  assert.equal(h.reloadLocalConfIfChanged(), null, 'its own write is not a change');

  writeFileSync(join(dir, 'local.conf'), JSON.stringify({ settings: { primaryPort: 29993 } }));
  utimesSync(join(dir, 'local.conf'), new Date(), new Date(Date.now() + 5000)); // a distinct mtime whatever the clock's grain
  assert.equal(h.reloadLocalConfIfChanged()?.settings.primaryPort, 29993);
  assert.equal(h.reloadLocalConfIfChanged(), null);
  writeFileSync(join(dir, 'local.conf'), '{"settings": {"primaryPort": ');
  utimesSync(join(dir, 'local.conf'), new Date(), new Date(Date.now() + 10_000));
  assert.equal(h.reloadLocalConfIfChanged(), null);
  assert.equal(h.localConf.settings.primaryPort, 29993);
  assert.match(h.notices.at(-1)!.message, /not reloaded, the previous settings stay: .*not valid JSON/);
});

test('allowManagementFrom networks: masks host bits, bare address = that host, families never mix', () => {
  const net = parseIpNetwork('10.1.2.3/16', 'x');
  assert.equal(net.text, '10.1.0.0/16');
  assert.ok(ipNetworkContains(net, new Uint8Array([10, 1, 200, 9])));
  assert.ok(!ipNetworkContains(net, new Uint8Array([10, 2, 0, 1])));
  const host = parseIpNetwork('192.0.2.7', 'x');
  assert.ok(ipNetworkContains(host, new Uint8Array([192, 0, 2, 7])));
  assert.ok(!ipNetworkContains(host, new Uint8Array([192, 0, 2, 8])), '1.14 would read this as /0 and let everyone in');
  const all4 = parseIpNetwork('0.0.0.0/0', 'x');
  assert.ok(ipNetworkContains(all4, new Uint8Array([8, 8, 8, 8])));
  assert.ok(!ipNetworkContains(all4, new Uint8Array(16)));
  const v6 = parseIpNetwork('fd00:1::5/32', 'x');
  assert.equal(v6.text, 'fd00:1::/32');
  const a = new Uint8Array(16);
  a.set([0xfd, 0x00, 0x00, 0x01]);
  assert.ok(ipNetworkContains(v6, a));
});

test('networks.d: join writes "\\n" (as 1.14), configs persist byte for byte, leave removes .conf and .local.conf', () => {
  const dir = home();
  const h = LeafHome.open(dir);
  const nw = 0x8056c2e21c000001n;
  assert.deepEqual(h.joinedNetworks(), []);
  h.markJoined(nw);
  assert.equal(readFileSync(join(dir, 'networks.d', '8056c2e21c000001.conf'), 'utf8'), '\n');
  assert.equal(mode(join(dir, 'networks.d')), 0o755);
  h.markJoined(nw); // idempotent: never clobbers a stored config
  const dict = new TextEncoder().encode('v=7\nnwid=8056c2e21c000001\nn=test\n');
  h.saveNetworkConfig(nw, dict);
  h.markJoined(nw);
  h.markJoined(0xff00160016000000n);
  const again = LeafHome.open(dir);
  assert.deepEqual(again.joinedNetworks(), [0x8056c2e21c000001n, 0xff00160016000000n]);
  const configs = again.loadNetworkConfigs();
  assert.deepEqual(configs.get(nw), dict);
  assert.deepEqual(configs.get(0xff00160016000000n), new Uint8Array([10]));

  again.saveNetworkSettings(nw, { allowManaged: true, allowGlobal: false, allowDefault: true, allowDNS: false });
  assert.equal(readFileSync(join(dir, 'networks.d', '8056c2e21c000001.local.conf'), 'utf8'), 'allowManaged=1\nallowGlobal=0\nallowDefault=1\nallowDNS=0\n');
  assert.deepEqual(again.loadNetworkSettings(nw)?.settings, { allowManaged: true, allowGlobal: false, allowDefault: true, allowDNS: false });
  assert.equal(again.loadNetworkSettings(0xff00160016000000n), null);

  assert.equal(again.forgetNetwork(nw), true);
  assert.equal(existsSync(join(dir, 'networks.d', '8056c2e21c000001.conf')), false);
  assert.equal(existsSync(join(dir, 'networks.d', '8056c2e21c000001.local.conf')), false);
  assert.equal(again.forgetNetwork(nw), false);
  assert.deepEqual(again.joinedNetworks(), [0xff00160016000000n]);
});

test('networks.d garbage: stray names reported and ignored, an oversized or unreadable config keeps the network joined with no config', () => {
  const dir = home();
  const nd = join(dir, 'networks.d');
  mkdirSync(nd);
  writeFileSync(join(nd, 'README'), 'hello');
  writeFileSync(join(nd, '8056c2e21c00001.conf'), ''); // 15 hex digits
  writeFileSync(join(nd, '8056c2e21c0000zz.conf'), '');
  writeFileSync(join(nd, 'aaaaaaaaaaaaaaaa.conf'), 'x=1\n');
  // Upper case: 1.14 joins it at start (hexStrToU64) but reads and deletes only lower-case names.
  writeFileSync(join(nd, 'BBBBBBBBBBBBBBBB.conf'), 'x=2\n');
  writeFileSync(join(nd, '1111111111111111.conf'), Buffer.alloc(NETWORK_CONFIG_MAX_BYTES + 1, 0x41));
  mkdirSync(join(nd, '2222222222222222.conf'));
  const h = LeafHome.open(dir);
  const configs = h.loadNetworkConfigs();
  assert.deepEqual([...configs.keys()], [0x1111111111111111n, 0x2222222222222222n, 0xaaaaaaaaaaaaaaaan]);
  assert.equal(configs.get(0x1111111111111111n)!.length, 0);
  assert.equal(configs.get(0x2222222222222222n)!.length, 0);
  assert.equal(new TextDecoder().decode(configs.get(0xaaaaaaaaaaaaaaaan)), 'x=1\n');
  const text = h.notices.map((x) => `${x.file}: ${x.message}`).join('\n');
  assert.match(text, /README: not a network file/);
  assert.match(text, /BBBBBBBBBBBBBBBB\.conf: upper-case network id: ignored .*rename it to bbbbbbbbbbbbbbbb\.conf/);
  assert.match(text, /8056c2e21c00001\.conf: not a network file/);
  assert.match(text, /8056c2e21c0000zz\.conf: not a network file/);
  assert.match(text, /1111111111111111\.conf: 484520 bytes, more than a 1\.14 network config can be/);
  assert.match(text, /2222222222222222\.conf: not a regular file/);
  assert.throws(() => h.saveNetworkConfig(1n, new Uint8Array(NETWORK_CONFIG_MAX_BYTES + 1)), (e: unknown) => e instanceof ZtError && e.code === ZtErrorCode.TOO_LONG);
});

test('<nwid>.local.conf: 1.14\'s exact text, its whitelist form, its loose booleans, and garbage', () => {
  // Bytes a real zerotier-one 1.14.1 wrote after `zerotier-cli join` (POST {}).
  const real = 'allowManaged=1\nallowGlobal=0\nallowDefault=0\nallowDNS=0\n';
  assert.equal(formatNetworkLocalConf({ allowManaged: true, allowGlobal: false, allowDefault: false, allowDNS: false }), real);
  assert.deepEqual(parseNetworkLocalConf(real), { settings: { allowManaged: true, allowGlobal: false, allowDefault: false, allowDNS: false }, allowManagedWhitelist: [] });
  const wl = parseNetworkLocalConf('allowManaged=10.0.0.0/8,fd00::/8\r\nallowGlobal=true\nallowDNS=T\n');
  assert.deepEqual(wl, { settings: { allowManaged: true, allowGlobal: true, allowDefault: false, allowDNS: true }, allowManagedWhitelist: ['10.0.0.0/8', 'fd00::/8'] });
  assert.equal(parseNetworkLocalConf('allowManaged=false\n').settings.allowManaged, false);
  assert.equal(parseNetworkLocalConf('allowManaged=\n').settings.allowManaged, true, 'empty = default (true)');
  assert.deepEqual(parseNetworkLocalConf('\u0000garbage\n=x\n').settings, { allowManaged: true, allowGlobal: false, allowDefault: false, allowDNS: false });
});

test('moons.d: saved and loaded; wrong names, wrong ids and garbage reported and skipped; removeMoon deorbits', () => {
  const dir = home();
  const h = LeafHome.open(dir);
  const m = moon(0x000000fd34571fb1n);
  h.saveMoon(m);
  assert.ok(existsSync(join(dir, 'moons.d', '000000fd34571fb1.moon')));
  writeFileSync(join(dir, 'moons.d', '0000000000000001.moon'), serializeWorld(moon(0x2n)));
  writeFileSync(join(dir, 'moons.d', '0000000000000003.moon'), 'garbage');
  writeFileSync(join(dir, 'moons.d', '0000000000000004.moon'), readFileSync(PLANET));
  writeFileSync(join(dir, 'moons.d', 'notes.txt'), '');
  const loaded = h.loadMoons();
  assert.deepEqual(loaded.map((w) => w.id), [0xfd34571fb1n]);
  assert.deepEqual(serializeWorld(loaded[0]!), serializeWorld(m));
  const text = h.notices.map((x) => `${x.file}: ${x.message}`).join('\n');
  assert.match(text, /0000000000000001\.moon: holds a moon with id 0000000000000002, not moon 0000000000000001/);
  assert.match(text, /0000000000000003\.moon: not a moon/);
  assert.match(text, /0000000000000004\.moon: holds a planet/);
  assert.match(text, /notes\.txt: not a moon file/);
  assert.equal(h.removeMoon(0xfd34571fb1n), true);
  assert.equal(h.removeMoon(0xfd34571fb1n), false);
  assert.deepEqual(h.loadMoons().length, 0);
});

test('devicemap: 1.14\'s lines read, bad lines reported; setDeviceName replaces one entry and keeps the rest', () => {
  const notes: string[] = [];
  const m = parseDeviceMap('8056c2e21c000001=zt0\r\nFF00160016000000=zt1\nff00160016000000=\nnot a line\n0c4d01372d6754f7=averyveryverylongname\n0c4d01372d6754f7=zthnqgmy62\n', (l, w) => notes.push(`${l}: ${w}`));
  assert.deepEqual([...m], [[0x8056c2e21c000001n, 'zt0'], [0x0c4d01372d6754f7n, 'zthnqgmy62']]);
  assert.equal(notes.length, 4);
  assert.match(notes.join('\n'), /^2: not "<16 lower-case hex/m);
  assert.match(notes.join('\n'), /^5: "averyveryverylongname" is not an interface name/m);

  const dir = home();
  const h = LeafHome.open(dir);
  assert.equal(h.readDeviceMap().size, 0);
  h.setDeviceName(0x8056c2e21c000001n, 'zt0');
  h.setDeviceName(0xff00160016000000n, 'ztadhoc');
  h.setDeviceName(0x8056c2e21c000001n, 'ztwork');
  assert.equal(readFileSync(join(dir, 'devicemap'), 'utf8'), 'ff00160016000000=ztadhoc\n8056c2e21c000001=ztwork\n');
  assert.deepEqual([...h.readDeviceMap()], [[0xff00160016000000n, 'ztadhoc'], [0x8056c2e21c000001n, 'ztwork']]);
  assert.throws(() => h.setDeviceName(1n, 'bad name'), (e: unknown) => e instanceof ZtError && e.code === ZtErrorCode.BAD_VALUE);
});

test('zerotier-one.port: decimal, no newline (zerotier-cli reads it)', () => {
  const dir = home();
  const h = LeafHome.open(dir);
  h.writePortFile(19993);
  assert.equal(readFileSync(join(dir, 'zerotier-one.port'), 'utf8'), '19993');
  assert.throws(() => h.writePortFile(0), (e: unknown) => e instanceof ZtError && e.code === ZtErrorCode.BAD_VALUE);
});

test('ports: the address-derived secondary port of ZeroTier ≤ 1.6 matches every vector; 1.14 tries random ports from start+1 and wraps at 65536', () => {
  const v = readVectorJson<{ entries: Array<{ address: string; legacy_secondary_port_first_candidate: number }> }>('macs-and-ips.json');
  assert.ok(v.entries.length > 0);
  for (const e of v.entries) assert.equal(legacySecondaryPort(parseInt(e.address, 16)), e.legacy_secondary_port_first_candidate, e.address);

  const first = [...randomPortCandidates(() => 0)];
  assert.equal(first.length, RANDOM_PORT_TRIES);
  assert.deepEqual(first.slice(0, 3), [20001, 20002, 20003]);
  const high = [...randomPortCandidates(() => 45499)]; // start 65499: 36 ports, then the wrap to 20000
  assert.deepEqual(high.slice(0, 2), [65500, 65501]);
  assert.equal(high[35], 65535);
  assert.equal(high[36], 20000);
  assert.ok(high.every((p) => p >= 20000 && p <= 65535));
  const big = [...randomPortCandidates(() => 0xffffffff)];
  assert.equal(big[0], 20000 + (0xffffffff % 45500) + 1);
  // The real thing draws from crypto: every candidate is in range.
  for (let i = 0; i < 20; i++) for (const p of randomPortCandidates()) assert.ok(p >= 20000 && p <= 65535);
  const primaries = [...randomPrimaryPortCandidates(() => 45499)];
  assert.equal(primaries.length, 256);
  assert.ok(primaries.every((p) => p === 65499));
});
