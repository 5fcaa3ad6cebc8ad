import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { loadConfig } from './config.js';

test('defaults, then file, then env, then flags — and where each value came from', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ztroot-config-'));
  const file = join(dir, 'root.yaml');
  writeFileSync(file, 'port: 1111\nmaxHops: 2\nlogLevel: warn\nendpoints: ["192.0.0.1/9993"]\n');
  const { config, origin } = loadConfig(['--config', file, '--port', '3333'], { ZTROOT_PORT: '2222', ZTROOT_MAX_HOPS: '5' });
  assert.equal(config.port, 3333);
  assert.equal(origin.port, 'flag --port');
  assert.equal(config.maxHops, 5);
  assert.equal(origin.maxHops, 'env ZTROOT_MAX_HOPS');
  assert.equal(config.logLevel, 'warn');
  assert.equal(origin.logLevel, `config file ${file}`);
  assert.deepEqual(config.endpoints, ['192.0.0.1/9993']);
  assert.equal(config.bind4, '0.0.0.0');
  assert.equal(origin.bind4, 'default');
  assert.equal(config.planetFile, join(config.stateDir, 'planet'));
});

test('repeated --endpoint flags accumulate; env lists are comma-separated; "none" disables a family', () => {
  const a = loadConfig(['--endpoint', '192.0.0.1/9993', '--endpoint=2001:db8::1/9993', '--bind6', 'none'], {});
  assert.deepEqual(a.config.endpoints, ['192.0.0.1/9993', '2001:db8::1/9993']);
  assert.equal(a.config.bind6, null);
  const b = loadConfig([], { ZTROOT_ENDPOINTS: '192.0.0.1/9993, 192.0.0.2/443', ZTROOT_STATE_DIR: 'x/y' });
  assert.deepEqual(b.config.endpoints, ['192.0.0.1/9993', '192.0.0.2/443']);
  assert.equal(b.config.stateDir, resolve('x/y'));
});

test('bad values are refused with the source, the key and the value named', () => {
  const cases: Array<[string[], NodeJS.ProcessEnv, RegExp]> = [
    [['--port', '70000'], {}, /flag --port: port = "70000": port must be 0\.\.65535/],
    [['--port', 'abc'], {}, /port = "abc": not a whole number/],
    [[], { ZTROOT_MAX_HOPS: '9' }, /env ZTROOT_MAX_HOPS: maxHops = "9": must be 1\.\.7/],
    [['--log-level', 'loud'], {}, /logLevel = "loud": must be one of/],
    [['--endpoint', 'not-an-address'], {}, /endpoints = "not-an-address"/],
    [['--endpoint', '127.0.0.1/9993'], {}, /endpoints = "127\.0\.0\.1\/9993": a loopback address .*give an address clients reach/],
    [['--endpoint', '192.0.0.1/0'], {}, /endpoints = "192\.0\.0\.1\/0": port 0/],
    [['--bind4', 'none', '--bind6', 'none'], {}, /nothing to listen on/],
  ];
  for (const [argv, env, re] of cases) {
    assert.throws(() => loadConfig(argv, env), (e: unknown) => (e as { code: string }).code === 'ZT_ERR_BAD_CONFIG' && re.test((e as Error).message), `${argv.join(' ')} ${JSON.stringify(env)}`);
  }
  // Command-line mistakes are parseArgs' own errors: the CLI's top level words them and exits 2.
  assert.throws(() => loadConfig(['--frobnicate', '1'], {}), { code: 'ERR_PARSE_ARGS_UNKNOWN_OPTION' });
  assert.throws(() => loadConfig(['--port'], {}), { code: 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE' });
  const dir = mkdtempSync(join(tmpdir(), 'ztroot-config-'));
  writeFileSync(join(dir, 'bad.yaml'), 'prot: 9993\n');
  assert.throws(() => loadConfig(['--config', join(dir, 'bad.yaml')], {}), /unknown key "prot"/);
  assert.throws(() => loadConfig(['--config', join(dir, 'missing.yaml')], {}), { code: 'ZT_ERR_FILE' });
});

test('httpListen takes host:port, [ipv6]:port or none; the token is never echoed in errors', () => {
  assert.deepEqual(loadConfig(['--http', '[::1]:9000'], {}).config.httpListen, { host: '::1', port: 9000 });
  assert.deepEqual(loadConfig([], { ZTROOT_HTTP: '0.0.0.0:80' }).config.httpListen, { host: '0.0.0.0', port: 80 });
  assert.equal(loadConfig(['--http', 'none'], {}).config.httpListen, null);
  assert.throws(() => loadConfig(['--http', '9000'], {}), /httpListen = "9000": expected host:port/);
  assert.equal(loadConfig(['--metrics-token', 'abc'], {}).config.metricsToken, 'abc');
});

test('TCP relay keys: listener, limits, destinations, allow-list and TLS, with bad values named', () => {
  const c = loadConfig(['--tcp-relay', '[::]:443', '--tcp-relay-max-per-ip', '8', '--tcp-relay-destinations', 'any', '--tcp-relay-allow-file', 'allow.txt'], {
    ZTROOT_TCP_RELAY_IDLE: '60',
  }).config;
  assert.deepEqual(c.tcpRelay, { host: '::', port: 443 });
  assert.equal(c.tcpRelayMaxPerIp, 8);
  assert.equal(c.tcpRelayIdleSec, 60);
  assert.equal(c.tcpRelayDestinations, 'any');
  assert.equal(c.tcpRelayAllowFile, resolve('allow.txt'));
  assert.equal(c.tcpRelayAllowFailOpen, false, 'fails closed unless told otherwise');
  const d = loadConfig([], {}).config;
  assert.equal(d.tcpRelay, null, 'no TCP relay unless asked for (443 needs privileges)');
  assert.equal(d.tcpRelayMinPort, 1025);
  assert.equal(d.tcpRelayMaxConnections, 0, 'by default as many as the descriptor limit allows (relay/fd-budget.ts)');
  assert.deepEqual([d.tcpRelayMaxPerIp, d.tcpRelayMaxPerPrefix], [256, 1024]);
  assert.equal(loadConfig(['--tcp-relay-max-per-prefix', '64'], {}).config.tcpRelayMaxPerPrefix, 64);
  const bad: Array<[string[], RegExp]> = [
    [['--tcp-relay', '443'], /tcpRelay = "443": expected host:port/],
    [['--tcp-relay-destinations', 'all'], /tcpRelayDestinations = "all": must be 'peers' or 'any'/],
    [['--tcp-relay-queue-bytes', '100'], /tcpRelayQueueBytes = "100": must be at least 16384/],
    [['--tcp-relay-max-connections=-1'], /tcpRelayMaxConnections = "-1": not a whole number/],
    [['--tcp-relay-max-per-prefix', '0'], /tcpRelayMaxPerPrefix = "0": must be at least 1/],
    [['--tcp-relay', '0.0.0.0:443', '--tls-cert', 'c.pem'], /tlsCert and tlsKey go together: got only tlsCert/],
    [['--tls-cert', 'c.pem', '--tls-key', 'k.pem'], /set tcpRelay too/],
  ];
  for (const [argv, re] of bad) assert.throws(() => loadConfig(argv, {}), (e: unknown) => (e as { code: string }).code === 'ZT_ERR_BAD_CONFIG' && re.test((e as Error).message), argv.join(' '));
});

test('probe keys: auto by default, --no-probe, the interval bounded, bad values named', () => {
  const d = loadConfig([], {}).config;
  assert.deepEqual([d.probe, d.probeIntervalMs, d.probePort, d.probeTcpRelay], ['auto', 5000, 0, false]);
  assert.equal(loadConfig(['--no-probe'], {}).config.probe, false);
  assert.equal(loadConfig(['--probe', 'true', '--probe-interval-ms', '1000'], {}).config.probeIntervalMs, 1000);
  assert.equal(loadConfig([], { ZTROOT_PROBE: 'false' }).config.probe, false);
  const dir = mkdtempSync(join(tmpdir(), 'ztroot-config-'));
  writeFileSync(join(dir, 'p.yaml'), 'probe: true\nprobeIntervalMs: 2000\nprobeTcpRelay: true\n');
  const f = loadConfig(['--config', join(dir, 'p.yaml')], {}).config;
  assert.deepEqual([f.probe, f.probeIntervalMs, f.probeTcpRelay], [true, 2000, true]);
  const bad: Array<[string[], RegExp]> = [
    [['--probe', 'maybe'], /flag --probe: probe = "maybe": expected auto, true or false/],
    [['--probe-interval-ms', '50'], /probeIntervalMs = "50": must be 200\.\.3600000/],
    [['--probe-port', '99999'], /probePort = "99999": port must be 0\.\.65535/],
    [['--no-probe', '--probe', 'true'], /--no-probe: contradicts --probe true/],
  ];
  for (const [argv, re] of bad) assert.throws(() => loadConfig(argv, {}), (e: unknown) => (e as { code: string }).code === 'ZT_ERR_BAD_CONFIG' && re.test((e as Error).message), argv.join(' '));
});
