/**
 * The local API (leaf/local-api.ts) over real HTTP on loopback, with a real home directory (leaf/home.ts) for
 * its tokens and local.conf. The leaf itself (leaf/leaf.ts) does not exist yet: the model behind the API is
 * test/test-leaf-model.ts, an in-memory LeafModel. With ZT_ONE_BIN set, the REAL zerotier-cli (the 1.14.1
 * binary run as `zerotier-one -q`) is driven against it and its output parsed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { execFile } from 'node:child_process';
import { accessSync, constants as fsConstants, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { networkInterfaces, tmpdir } from 'node:os';
import { join } from 'node:path';
import { ZtError, ZtErrorCode } from '../vl1/errors.js';
import { Identity } from '../vl1/identity.js';
import { formatMac, macFromAddress } from '../vl1/mac-ip.js';
import { c25519Generate } from '../vl1/c25519.js';
import { signWorld } from '../planet/world.js';
import { vectorPath } from '../test/vectors.js';
import { TestLeafModel } from '../test/test-leaf-model.js';
import { LeafHome } from './home.js';
import { LOCAL_API_MAX_BODY_BYTES, LOCAL_API_MAX_CONNECTIONS, startLocalApi, type LocalApi } from './local-api.js';
import { HostPolicy } from '../root/host-check.js';

/** The product's Host policy (tools/leaf.ts passes the same). */
const hostPolicy = (listenHost: string): HostPolicy => new HostPolicy(listenHost);

const tmp = mkdtempSync(join(tmpdir(), 'leaf-api-'));
process.on('exit', () => rmSync(tmp, { recursive: true, force: true }));
const IDENTITY = Identity.fromString(readFileSync(vectorPath('planet-update', 'c1.identity.secret'), 'utf8').trim());
let homes = 0;

function makeHome(localConf?: object): LeafHome {
  const dir = join(tmp, `home${++homes}`);
  mkdirSync(dir, { mode: 0o700 });
  copyFileSync(vectorPath('planets', 'planet-a-one-root.bin'), join(dir, 'planet'));
  copyFileSync(vectorPath('planet-update', 'c1.identity.secret'), join(dir, 'identity.secret'));
  if (localConf !== undefined) writeFileSync(join(dir, 'local.conf'), JSON.stringify(localConf));
  return LeafHome.open(dir);
}

function model(): TestLeafModel {
  const m = new TestLeafModel({ address: IDENTITY.address, publicIdentity: IDENTITY.toString(false) });
  const now = Date.now();
  m.peerList = [
    {
      address: 0x62f865ae71,
      role: 'PLANET',
      version: { major: 1, minor: 14, revision: 1 },
      latencyMs: 12.4,
      tunneled: false,
      paths: [
        { address: '192.0.2.1/9993', lastReceive: now - 1500, lastSend: now - 1400, preferred: true, expired: false, localSocket: 94349926060048 },
        { address: '2001:db8::1/9993', lastReceive: 0, lastSend: -1, preferred: false, expired: true, localSocket: 7 },
      ],
    },
    { address: 0x0c4d01372d, role: 'LEAF', version: null, latencyMs: null, tunneled: false, paths: [] },
  ];
  return m;
}

interface Res {
  status: number;
  headers: http.IncomingHttpHeaders;
  text: string;
}

/** One HTTP request; `host: null` sends no Host header (as zerotier-cli does). */
function request(port: number, method: string, path: string, opts: { headers?: Record<string, string>; body?: string | Buffer; host?: string | null; localAddress?: string; to?: string } = {}): Promise<Res> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { ...opts.headers };
    if (opts.host !== undefined && opts.host !== null) headers['host'] = opts.host;
    const req = http.request(
      { host: opts.to ?? '127.0.0.1', port, method, path, headers, setHost: opts.host === undefined, localAddress: opts.localAddress, agent: false },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text: Buffer.concat(chunks).toString('utf8') }));
      },
    );
    req.on('error', reject);
    if (opts.body !== undefined) req.end(opts.body);
    else req.end();
  });
}

async function withApi(fn: (api: LocalApi, home: LeafHome, m: TestLeafModel) => Promise<void>, localConf?: object, listen?: string[]): Promise<void> {
  const home = makeHome(localConf);
  const m = model();
  const api = await startLocalApi(m, { port: 0, authToken: home.authToken, metricsToken: home.metricsToken, config: home, hostPolicy, ...(listen ? { listen } : {}) });
  try {
    await fn(api, home, m);
  } finally {
    await api.close();
  }
}

/** Every object's keys are in sorted order, at every depth (1.14's nlohmann::json). */
function assertSortedKeys(text: string): void {
  const check = (v: unknown): void => {
    if (Array.isArray(v)) v.forEach(check);
    else if (typeof v === 'object' && v !== null) {
      const keys = Object.keys(v);
      assert.deepEqual(keys, [...keys].sort(), `keys out of order: ${keys.join(',')}`);
      Object.values(v).forEach(check);
    }
  };
  check(JSON.parse(text));
}

test('auth as 1.14: X-ZT1-Auth, ?auth=, Bearer; the first present decides; 401 {} otherwise; /health needs no token; /metrics takes either token', async () => {
  await withApi(async (api, home) => {
    const p = api.port;
    const T = home.authToken;
    assert.deepEqual(await request(p, 'GET', '/status').then((r) => [r.status, r.text]), [401, '{}']);
    assert.equal((await request(p, 'GET', '/status', { headers: { 'X-ZT1-Auth': 'wrong' } })).status, 401);
    assert.equal((await request(p, 'GET', '/status', { headers: { 'x-zt1-auth': T } })).status, 200);
    assert.equal((await request(p, 'GET', `/status?auth=${T}`)).status, 200);
    assert.equal((await request(p, 'GET', '/status', { headers: { authorization: `Bearer ${T}` } })).status, 200);
    assert.equal((await request(p, 'GET', '/status', { headers: { authorization: `bearer ${T}` } })).status, 200);
    assert.equal((await request(p, 'GET', '/status', { headers: { authorization: T } })).status, 401);
    // The header is looked at first: a wrong header is not rescued by a right ?auth= (1.14's order).
    assert.equal((await request(p, 'GET', `/status?auth=${T}`, { headers: { 'x-zt1-auth': 'wrong' } })).status, 401);
    // Unknown paths are 401 too without the token: nothing is learnt before auth.
    assert.equal((await request(p, 'GET', '/nope')).status, 401);
    assert.equal((await request(p, 'GET', '/nope', { headers: { 'x-zt1-auth': T } })).status, 404);
    const h = await request(p, 'GET', '/health');
    assert.equal(h.status, 200);
    assert.deepEqual(Object.keys(JSON.parse(h.text)), ['clock', 'online', 'version', 'versionBuild', 'versionMajor', 'versionMinor', 'versionRev']);
    assert.equal((await request(p, 'GET', '/metrics')).status, 401);
    const m1 = await request(p, 'GET', '/metrics', { headers: { 'x-zt1-auth': home.metricsToken } });
    assert.equal(m1.status, 200);
    assert.match(m1.headers['content-type'] ?? '', /^text\/plain/);
    assert.match(m1.text, /^# HELP zt_num_networks/);
    assert.equal((await request(p, 'GET', '/metrics', { headers: { authorization: `Bearer ${T}` } })).status, 200);
    // The metrics token opens nothing else.
    assert.equal((await request(p, 'GET', '/status', { headers: { 'x-zt1-auth': home.metricsToken } })).status, 401);
  });
});

test('a DNS-rebinding page (Host: its own name) gets 421; localhost, loopback literals and no Host at all (zerotier-cli) are answered', async () => {
  await withApi(async (api, home) => {
    const h = { 'x-zt1-auth': home.authToken };
    const evil = await request(api.port, 'GET', '/status', { headers: h, host: 'attacker.example:9993' });
    assert.equal(evil.status, 421);
    assert.doesNotMatch(evil.text, new RegExp(home.identity.toString(false).slice(0, 10)));
    assert.equal((await request(api.port, 'GET', '/status', { headers: h, host: `localhost:${api.port}` })).status, 200);
    assert.equal((await request(api.port, 'GET', '/status', { headers: h, host: `127.0.0.1:${api.port}` })).status, 200);
    // Exactly what zerotier-cli writes (osdep/Http.cpp): HTTP/1.1, no Host header. Node refuses that by default.
    const raw = await new Promise<string>((resolve, reject) => {
      const s = net.connect(api.port, '127.0.0.1', () => s.write(`GET /status HTTP/1.1\r\nX-ZT1-Auth: ${home.authToken}\r\n\r\n`));
      let got = '';
      s.on('data', (d) => {
        got += d.toString();
        if (/\r\n\r\n\{.*\}$/s.test(got)) s.end();
      });
      s.on('end', () => resolve(got));
      s.on('error', reject);
    });
    assert.match(raw, /^HTTP\/1\.1 200 OK\r\n/);
    assert.match(raw, /\r\ncontent-length: \d+\r\n/i);
  });
});

test('1.14 shapes: /status with sorted keys, exact 64-bit planet id, augmented settings; /peer with -1 for unknowns; 404 {} and {} where 1.14 answers them', async () => {
  await withApi(async (api, home, m) => {
    const get = (path: string) => request(api.port, 'GET', path, { headers: { 'x-zt1-auth': home.authToken } });
    const st = await get('/status');
    assert.equal(st.status, 200);
    assert.match(st.headers['content-type'] ?? '', /^application\/json/);
    assertSortedKeys(st.text);
    assert.match(st.text, /"planetWorldId":1311768467463790321,/, 'the uint64 written exactly, as 1.14 does');
    const s = JSON.parse(st.text);
    assert.equal(s.address, IDENTITY.toString(false).slice(0, 10));
    assert.equal(s.version, '1.14.1');
    assert.equal(s.versionRev, 1);
    assert.equal(typeof s.clock, 'number');
    assert.deepEqual(Object.keys(s.config.settings).sort(), [
      'allowTcpFallbackRelay', 'forceTcpRelay', 'homeDir', 'listeningOn', 'portMappingEnabled', 'primaryPort', 'secondaryPort', 'softwareUpdate', 'softwareUpdateChannel', 'surfaceAddresses', 'tertiaryPort',
    ]);
    assert.equal(s.config.settings.secondaryPort, 41234);
    assert.equal(s.config.settings.softwareUpdate, 'disable');

    const peers = JSON.parse((await get('/peer')).text);
    assert.deepEqual(peers[0], {
      address: '62f865ae71', isBonded: false, latency: 12, role: 'PLANET', tunneled: false, version: '1.14.1', versionMajor: 1, versionMinor: 14, versionRev: 1,
      paths: [
        { active: true, address: '192.0.2.1/9993', expired: false, lastReceive: m.peerList[0]!.paths[0]!.lastReceive, lastSend: m.peerList[0]!.paths[0]!.lastSend, localPort: 0, localSocket: 94349926060048, preferred: true, trustedPathId: 0 },
        { active: false, address: '2001:db8::1/9993', expired: true, lastReceive: 0, lastSend: 0, localPort: 0, localSocket: 7, preferred: false, trustedPathId: 0 },
      ],
    });
    assert.deepEqual(peers[1], { address: '0c4d01372d', isBonded: false, latency: -1, paths: [], role: 'LEAF', tunneled: false, version: '-1.-1.-1', versionMajor: -1, versionMinor: -1, versionRev: -1 });
    assert.deepEqual(JSON.parse((await get('/peer/0C4D01372D')).text).address, '0c4d01372d');
    assert.deepEqual([(await get('/peer/0000000001')).status, (await get('/peer/0000000001')).text], [200, '{}']);
    assert.deepEqual([(await get('/network')).status, (await get('/network')).text], [200, '[]']);
    assert.deepEqual([(await get('/network/8056c2e21c000001')).status, (await get('/network/8056c2e21c000001')).text], [404, '{}']);
    assert.equal((await get('/network/8056c2e21c00001')).status, 404, 'the route takes exactly 16 hex digits');
    assert.equal((await get('/moon')).text, '[]');
    assert.equal((await get('/bond/show/62f865ae71')).status, 400);
    const cfg = JSON.parse((await get('/config')).text);
    assert.deepEqual(cfg, {});
  });
});

test('join, settings, leave: POST (and PUT) /network/<id> joins with allow* flags; DELETE answers {"result":true} then {}', async () => {
  await withApi(async (api, home, m) => {
    const H = { 'x-zt1-auth': home.authToken };
    const j = await request(api.port, 'POST', '/network/8056C2E21C000001', { headers: { ...H, 'content-type': 'application/json' }, body: '{"allowDNS":true,"allowGlobal":false}' });
    assert.equal(j.status, 200);
    assertSortedKeys(j.text);
    const n = JSON.parse(j.text);
    assert.deepEqual(n, {
      allowDNS: true, allowDefault: false, allowGlobal: false, allowManaged: true, assignedAddresses: [], bridge: false, broadcastEnabled: false, dhcp: false,
      dns: { domain: '', servers: [] }, id: '8056c2e21c000001', mac: formatMac(macFromAddress(IDENTITY.address, 0x8056c2e21c000001n)), mtu: 2800,
      multicastSubscriptions: [], name: '', netconfRevision: 0, nwid: '8056c2e21c000001', portDeviceName: '', portError: 0, routes: [], status: 'REQUESTING_CONFIGURATION', type: 'PRIVATE',
    });
    const put = await request(api.port, 'PUT', '/network/8056c2e21c000001', { headers: H, body: '{"allowDefault":true}' });
    assert.equal(JSON.parse(put.text).allowDefault, true);
    assert.equal(JSON.parse(put.text).allowDNS, true, 'flags not given stay');
    // A configured network in full: routes with and without via, DNS, multicast.
    const cfg = m.nets.get(0x8056c2e21c000001n)!;
    Object.assign(cfg, {
      status: 'OK', type: 'PRIVATE', name: 'work', netconfRevision: 7, portDeviceName: 'ztmjfmfyq5', broadcastEnabled: true,
      assignedAddresses: ['10.147.17.4/24', 'fd80:56c2:e21c:0:199:93fd:3457:1fb1/88'],
      routes: [{ target: '10.147.17.0/24', via: null, flags: 0, metric: 0 }, { target: '0.0.0.0/0', via: '10.147.17.1/0', flags: 0, metric: 0 }],
      multicastSubscriptions: [{ mac: 0xffffffffffffn, adi: 0x0a93110a }],
      dns: { domain: 'corp.example', servers: ['10.147.17.1'] },
    });
    const one = JSON.parse((await request(api.port, 'GET', '/network/8056c2e21c000001', { headers: H })).text);
    assert.deepEqual(one.routes, [{ flags: 0, metric: 0, target: '10.147.17.0/24', via: null }, { flags: 0, metric: 0, target: '0.0.0.0/0', via: '10.147.17.1' }]);
    assert.deepEqual(one.multicastSubscriptions, [{ adi: 0x0a93110a, mac: 'ff:ff:ff:ff:ff:ff' }]);
    assert.deepEqual(one.dns, { domain: 'corp.example', servers: ['10.147.17.1'] });
    const del = await request(api.port, 'DELETE', '/network/8056c2e21c000001', { headers: H });
    assert.deepEqual([del.status, del.text], [200, '{"result":true}']);
    const again = await request(api.port, 'DELETE', '/network/8056c2e21c000001', { headers: H });
    assert.deepEqual([again.status, again.text], [200, '{}']);
  });
});

test('bad requests: typed 4xx, nothing half-applied, and the API keeps answering', async () => {
  await withApi(async (api, home, m) => {
    const H = { 'x-zt1-auth': home.authToken };
    const bad = async (method: string, path: string, body: string | Buffer | undefined, status: number, code: string | null, msg?: RegExp) => {
      const r = await request(api.port, method, path, { headers: H, ...(body !== undefined ? { body } : {}) });
      assert.equal(r.status, status, `${method} ${path}: ${r.text}`);
      if (code !== null) {
        const o = JSON.parse(r.text);
        assert.equal(o.code, code);
        assert.equal(o.error, status);
        if (msg) assert.match(o.description, msg);
      }
    };
    await bad('POST', '/network/8056c2e21c000001', 'not json', 400, ZtErrorCode.BAD_FORMAT, /not JSON/);
    await bad('POST', '/network/8056c2e21c000001', '[1]', 400, ZtErrorCode.BAD_FORMAT, /JSON object/);
    await bad('POST', '/network/8056c2e21c000001', '{"allowManaged":"yes"}', 400, ZtErrorCode.BAD_VALUE, /allowManaged must be true or false, got "yes"/);
    assert.equal(m.nets.size, 0, 'no join on a bad request');
    // The model's own typed refusal is a 400 too.
    await bad('POST', '/network/0000000000000000', '{}', 400, ZtErrorCode.BAD_VALUE, /not a network/);
    await bad('POST', '/network/8056c2e21c000001', Buffer.alloc(LOCAL_API_MAX_BODY_BYTES + 1, 0x20), 413, ZtErrorCode.TOO_LONG);
    await bad('POST', '/status', '{}', 405, null);
    await bad('DELETE', '/peer', undefined, 405, null);
    await bad('GET', `/status?jsonp=${encodeURIComponent('alert(1)//')}`, undefined, 400, ZtErrorCode.BAD_VALUE, /jsonp must be a JavaScript function name/);
    await bad('POST', '/moon/00000000ab', '{"seed":"zz"}', 400, ZtErrorCode.BAD_VALUE, /seed/);
    await bad('POST', '/config/settings', '{"primaryPort":"ninety"}', 400, ZtErrorCode.BAD_CONFIG, /settings\.primaryPort = "ninety"/);
    assert.equal(existsSync(join(home.dir, 'local.conf')), false, 'a refused setting writes nothing');
    // A failure inside the leaf: 1.14's 500 object, and the next request is answered.
    m.failNext = new Error('boom');
    const r = await request(api.port, 'GET', '/peer', { headers: H });
    assert.deepEqual([r.status, JSON.parse(r.text)], [500, { description: 'boom', error: 500 }]);
    assert.equal((await request(api.port, 'GET', '/peer', { headers: H })).status, 200);
    // A typed error from inside the leaf is still the leaf's failure (500), not the caller's (400).
    m.failNext = new ZtError(ZtErrorCode.BAD_VALUE, 'a network id out of range inside the leaf');
    assert.equal((await request(api.port, 'GET', '/network', { headers: H })).status, 500);
    // A client that declares a body and hangs up halfway leaves nothing stuck.
    await new Promise<void>((resolve) => {
      const s = net.connect(api.port, '127.0.0.1', () => {
        s.write(`POST /network/8056c2e21c000001 HTTP/1.1\r\nHost: localhost\r\nX-ZT1-Auth: ${home.authToken}\r\nContent-Length: 100\r\n\r\n{"allow`);
        setTimeout(() => s.destroy(), 50);
      });
      s.on('close', () => resolve());
    });
    assert.equal(m.nets.size, 0);
    assert.equal((await request(api.port, 'GET', '/status', { headers: H })).status, 200);
  });
});

test('jsonp wraps answers (401 included) as 1.14 does; PUT is POST; HEAD is GET', async () => {
  await withApi(async (api, home) => {
    const r = await request(api.port, 'GET', `/network?jsonp=cb_1&auth=${home.authToken}`);
    assert.deepEqual([r.status, r.headers['content-type'], r.text], [200, 'application/javascript', 'cb_1([]);']);
    const u = await request(api.port, 'GET', '/network?jsonp=cb');
    assert.deepEqual([u.status, u.text], [401, 'cb({});']);
    const head = await request(api.port, 'HEAD', '/status', { headers: { 'x-zt1-auth': home.authToken } });
    assert.deepEqual([head.status, head.text], [200, '']);
  });
});

test('/config and POST /config/settings go through local.conf (validated, written as 1.14 writes it)', async () => {
  await withApi(
    async (api, home) => {
      const H = { 'x-zt1-auth': home.authToken };
      assert.deepEqual(JSON.parse((await request(api.port, 'GET', '/config', { headers: H })).text), { settings: { primaryPort: 9993, custom: 'kept' } });
      const r = await request(api.port, 'POST', '/config/settings', { headers: H, body: '{"portMappingEnabled":false}' });
      assert.deepEqual([r.status, r.text], [200, '{}']);
      assert.equal(readFileSync(join(home.dir, 'local.conf'), 'utf8'), '{\n    "settings": {\n        "custom": "kept",\n        "portMappingEnabled": false,\n        "primaryPort": 9993\n    }\n}');
      const st = JSON.parse((await request(api.port, 'GET', '/status', { headers: H })).text);
      assert.equal(st.config.settings.custom, 'kept', '/status shows local.conf as held, unknown keys included');
    },
    { settings: { primaryPort: 9993, custom: 'kept' } },
  );
});

test('a "__proto__" key in local.conf is data like any other: shown by /config and /status, never a prototype', async () => {
  const dir = join(tmp, 'proto');
  mkdirSync(dir);
  copyFileSync(vectorPath('planets', 'planet-a-one-root.bin'), join(dir, 'planet'));
  copyFileSync(vectorPath('planet-update', 'c1.identity.secret'), join(dir, 'identity.secret'));
  writeFileSync(join(dir, 'local.conf'), '{"settings": {"__proto__": {"polluted": true}}}');
  const home = LeafHome.open(dir);
  assert.deepEqual(home.localConf.unknownKeys, ['settings.__proto__']);
  const api = await startLocalApi(model(), { port: 0, authToken: home.authToken, config: home, hostPolicy });
  try {
    const H = { 'x-zt1-auth': home.authToken };
    assert.equal((await request(api.port, 'GET', '/config', { headers: H })).text, '{"settings":{"__proto__":{"polluted":true}}}');
    assert.match((await request(api.port, 'GET', '/status', { headers: H })).text, /"settings":\{"__proto__":\{"polluted":true\},"allowTcpFallbackRelay"/);
    assert.equal(({} as Record<string, unknown>)['polluted'], undefined);
  } finally {
    await api.close();
  }
});

test('moons: GET lists the model\'s moons; POST with a seed orbits (1.14\'s waiting placeholder); DELETE deorbits', async () => {
  await withApi(async (api, home, m) => {
    const H = { 'x-zt1-auth': home.authToken };
    const w = await request(api.port, 'POST', '/moon/fd34571fb1', { headers: H, body: '{"seed":"fd34571fb1"}' });
    assert.deepEqual(JSON.parse(w.text), { id: '000000fd34571fb1', roots: [], signature: null, timestamp: 0, updatesMustBeSignedBy: null, waiting: true });
    assert.deepEqual(m.orbited, [{ id: 0xfd34571fb1n, seed: 0xfd34571fb1 }]);
    assert.equal((await request(api.port, 'POST', '/moon/fd34571fb1', { headers: H, body: '{}' })).text, '{}', 'no seed, not known: nothing');
    const key = c25519Generate();
    m.moonList = [signWorld({ type: 'moon', id: 0xfd34571fb1n, timestamp: 1_700_000_000_000, updatesMustBeSignedBy: key.publicKey, roots: [{ identity: IDENTITY.publicOnly(), stableEndpoints: [{ family: 4, ip: '192.0.2.9', port: 9993 }] }] }, key)];
    const list = JSON.parse((await request(api.port, 'GET', '/moon', { headers: H })).text);
    assert.equal(list.length, 1);
    assert.deepEqual(Object.keys(list[0]), ['id', 'roots', 'signature', 'timestamp', 'updatesMustBeSignedBy', 'waiting']);
    assert.equal(list[0].signature.length, 192);
    assert.deepEqual(list[0].roots, [{ identity: IDENTITY.toString(false), stableEndpoints: ['192.0.2.9/9993'] }]);
    assert.equal(list[0].id, '000000fd34571fb1');
    assert.equal(JSON.parse((await request(api.port, 'GET', '/moon/fd34571fb1', { headers: H })).text).timestamp, 1_700_000_000_000);
    const d = await request(api.port, 'DELETE', '/moon/fd34571fb1', { headers: H });
    assert.equal(d.text, '{"result":true}');
    assert.deepEqual(m.deorbited, [0xfd34571fb1n]);
  });
});

test('bounded: connections beyond LOCAL_API_MAX_CONNECTIONS are refused, and the API answers once they go', async () => {
  await withApi(async (api, home) => {
    const sockets: net.Socket[] = [];
    const closed: boolean[] = [];
    for (let i = 0; i < LOCAL_API_MAX_CONNECTIONS + 8; i++) {
      const s = net.connect(api.port, '127.0.0.1');
      const k = closed.push(false) - 1;
      s.on('close', () => (closed[k] = true));
      s.on('error', () => {});
      sockets.push(s);
      await new Promise((r) => s.once('connect', r));
    }
    await new Promise((r) => setTimeout(r, 200));
    const refused = closed.filter(Boolean).length;
    assert.ok(refused >= 8, `expected ≥ 8 refused connections beyond ${LOCAL_API_MAX_CONNECTIONS}, got ${refused}`);
    for (const s of sockets) s.destroy();
    await new Promise((r) => setTimeout(r, 100));
    assert.equal((await request(api.port, 'GET', '/status', { headers: { 'x-zt1-auth': home.authToken } })).status, 200);
  });
});

test('the port already taken: a ZtError naming the address and port and what to do', async () => {
  const blocker = net.createServer();
  await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
  const port = (blocker.address() as net.AddressInfo).port;
  try {
    await assert.rejects(startLocalApi(model(), { port, authToken: 'x', hostPolicy }), (e: unknown) => {
      assert.ok(e instanceof ZtError && e.code === ZtErrorCode.UNAVAILABLE);
      assert.match(e.message, new RegExp(`TCP 127\\.0\\.0\\.1:${port}`));
      assert.match(e.message, /settings\.primaryPort/);
      return true;
    });
  } finally {
    blocker.close();
  }
});

test('listens on loopback only by default (127.0.0.1 and ::1); allowManagementFrom opens the wildcard and admits exactly those networks', async () => {
  await withApi(async (api) => {
    // ::1 only where the host has IPv6 on loopback (it is skipped with a notice otherwise).
    const want = [`127.0.0.1/${api.port}`, `::1/${api.port}`].slice(0, api.listening.length);
    assert.deepEqual(api.listening, want);
  });
  const own = Object.values(networkInterfaces())
    .flat()
    .find((a) => a !== undefined && !a.internal && a.family === 'IPv4');
  if (own === undefined) return; // the rest needs a non-loopback address on this host
  // Our own address is not loopback: listed, it is let in; another network is not.
  await withApi(
    async (api, home) => {
      assert.ok(api.listening.some((l) => l.startsWith('0.0.0.0/')));
      const r = await request(api.port, 'GET', '/status', { to: own!.address, headers: { 'x-zt1-auth': home.authToken } });
      assert.equal(r.status, 200);
    },
    { settings: { allowManagementFrom: [`${own.address}/32`] } },
  );
  await withApi(
    async (api, home) => {
      const r = await request(api.port, 'GET', '/status', { to: own!.address, headers: { 'x-zt1-auth': home.authToken } });
      assert.deepEqual([r.status, r.text], [401, '{}']);
      // /health is not open to the world either (1.14: the address rule applies, only the token is waived).
      assert.equal((await request(api.port, 'GET', '/health', { to: own!.address })).status, 401);
    },
    { settings: { allowManagementFrom: ['203.0.113.0/24'] } },
  );
});

// ---------------------------------------------------------------------------------------------------------------
// The real zerotier-cli

const ZT_ONE_BIN = process.env['ZT_ONE_BIN'];
function cliSkip(): string | false {
  if (ZT_ONE_BIN === undefined || ZT_ONE_BIN === '') return 'skipped: set ZT_ONE_BIN=/path/to/zerotier-one (1.14.1) to drive the real zerotier-cli against the API';
  try {
    accessSync(ZT_ONE_BIN, fsConstants.X_OK);
  } catch {
    return `skipped: ZT_ONE_BIN=${ZT_ONE_BIN} is not an executable file`;
  }
  return false;
}

/** zerotier-cli (the 1.14.1 binary with -q) finding port and token through -D<home>, as a user would. */
function ztCli(home: string, ...args: string[]): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    execFile(ZT_ONE_BIN!, ['-q', `-D${home}`, ...args], { timeout: 20_000 }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof (err as { code?: unknown }).code === 'number' ? ((err as { code: number }).code) : -1;
      resolve({ code, out: stdout + stderr });
    });
  });
}

test('the real zerotier-cli against the API: info, peers, listpeers, listnetworks, join, leave, and -j', { skip: cliSkip() }, async () => {
  await withApi(async (api, home, m) => {
    home.writePortFile(api.port);
    const addr = IDENTITY.toString(false).slice(0, 10);

    const info = await ztCli(home.dir, 'info');
    assert.equal(info.code, 0, info.out);
    assert.equal(info.out, `200 info ${addr} 1.14.1 ONLINE\n`);
    m.statusValue = { ...m.statusValue, online: false };
    assert.equal((await ztCli(home.dir, 'info')).out, `200 info ${addr} 1.14.1 OFFLINE\n`);
    m.statusValue = { ...m.statusValue, tcpFallbackActive: true };
    assert.equal((await ztCli(home.dir, 'status')).out, `200 info ${addr} 1.14.1 TUNNELED\n`);
    const infoJ = await ztCli(home.dir, '-j', 'info');
    assert.equal(JSON.parse(infoJ.out).address, addr);

    const peers = await ztCli(home.dir, 'peers');
    assert.equal(peers.code, 0, peers.out);
    const lines = peers.out.trimEnd().split('\n');
    assert.equal(lines[0], '200 peers');
    assert.equal(lines[1], '<ztaddr>   <ver>  <role> <lat> <link>   <lastTX> <lastRX> <path>');
    assert.match(lines[2]!, /^62f865ae71 1\.14\.1 PLANET    12 DIRECT   \d+\s+\d+\s+192\.0\.2\.1\/9993$/);
    assert.match(lines[3]!, /^0c4d01372d -      LEAF      -1 RELAY$/);
    const lp = (await ztCli(home.dir, 'listpeers')).out.trimEnd().split('\n');
    assert.equal(lp[0], '200 listpeers <ztaddr> <path> <latency> <version> <role>');
    assert.match(lp[1]!, /^200 listpeers 62f865ae71 192\.0\.2\.1\/9993;\d+;\d+ 12 1\.14\.1 PLANET$/);
    assert.equal(lp[2], '200 listpeers 0c4d01372d - -1 - LEAF');
    const pj = JSON.parse((await ztCli(home.dir, '-j', 'peers')).out);
    assert.equal(pj.length, 2);
    assert.equal(pj[0].paths[0].preferred, true);

    assert.equal((await ztCli(home.dir, 'listnetworks')).out, '200 listnetworks <nwid> <name> <mac> <status> <type> <dev> <ZT assigned ips>\n');
    const join = await ztCli(home.dir, 'join', '8056c2e21c000001');
    assert.deepEqual([join.code, join.out], [0, '200 join OK\n']);
    assert.ok(m.nets.has(0x8056c2e21c000001n));
    const mac = formatMac(macFromAddress(IDENTITY.address, 0x8056c2e21c000001n));
    // 1.14 prints an unnamed network's name as the empty string between two spaces.
    assert.equal((await ztCli(home.dir, 'listnetworks')).out.split('\n')[1], `200 listnetworks 8056c2e21c000001  ${mac} REQUESTING_CONFIGURATION PRIVATE  -`);
    Object.assign(m.nets.get(0x8056c2e21c000001n)!, { name: 'work', status: 'OK', portDeviceName: 'ztmjfmfyq5', assignedAddresses: ['10.147.17.4/24', 'fd80::1/88'] });
    assert.equal((await ztCli(home.dir, 'listnetworks')).out.split('\n')[1], `200 listnetworks 8056c2e21c000001 work ${mac} OK PRIVATE ztmjfmfyq5 10.147.17.4/24,fd80::1/88`);
    const nj = JSON.parse((await ztCli(home.dir, '-j', 'listnetworks')).out);
    assert.equal(nj[0].nwid, '8056c2e21c000001');
    const jj = JSON.parse((await ztCli(home.dir, '-j', 'join', 'ff00160016000000')).out);
    assert.equal(jj.status, 'REQUESTING_CONFIGURATION');
    const leave = await ztCli(home.dir, 'leave', '8056c2e21c000001');
    assert.deepEqual([leave.code, leave.out], [0, '200 leave OK\n']);
    assert.ok(!m.nets.has(0x8056c2e21c000001n));
    assert.deepEqual(JSON.parse((await ztCli(home.dir, '-j', 'leave', 'ff00160016000000')).out), { result: true });
    // Raw paths print the body verbatim; errors come back as "<code> <path> <body>" with exit 1.
    const missing = await ztCli(home.dir, '/network/8056c2e21c000001');
    assert.deepEqual([missing.code, missing.out], [1, '404 /network/8056c2e21c000001 {}\n']);
    // set (POST with one flag), orbit (POST /moon/<id> {"seed"}), listmoons, deorbit.
    await ztCli(home.dir, 'join', '8056c2e21c000001');
    const set = await ztCli(home.dir, 'set', '8056c2e21c000001', 'allowDNS=1');
    assert.equal(JSON.parse(set.out).allowDNS, true);
    assert.equal(m.nets.get(0x8056c2e21c000001n)!.settings.allowDNS, true);
    assert.equal((await ztCli(home.dir, 'orbit', 'fd34571fb1', 'fd34571fb1')).out, '200 orbit OK\n');
    assert.deepEqual(m.orbited.at(-1), { id: 0xfd34571fb1n, seed: 0xfd34571fb1 });
    assert.deepEqual(JSON.parse((await ztCli(home.dir, 'listmoons')).out), []);
    assert.equal((await ztCli(home.dir, 'deorbit', 'fd34571fb1')).out, '200 deorbit OK\n');
    assert.deepEqual(m.deorbited, [0xfd34571fb1n]);
    const denied = await ztCli(home.dir, '-Tnottoken', 'info');
    assert.equal(denied.out, '401 info {}\n');
  });
});
