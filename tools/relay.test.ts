/**
 * `ztroot relay`'s flags in process: defaults, every value read, and bad flags named with their value
 * (exit 2). The relay as a running process is tested in test/tcp-relay-e2e.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { UsageError } from './args.js';
import { main, parseRelayArgs } from './relay.js';

/** Runs `fn` with console.log/error captured. */
async function captured<T>(fn: () => Promise<T>): Promise<{ result: T; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const log = console.log;
  const error = console.error;
  console.log = (...a: unknown[]) => void out.push(a.join(' '));
  console.error = (...a: unknown[]) => void err.push(a.join(' '));
  try {
    return { result: await fn(), out: out.join('\n'), err: err.join('\n') };
  } finally {
    console.log = log;
    console.error = error;
  }
}

/** Parsed settings, or a failed assertion if the line was --help/--version. */
function parsed(argv: string[]) {
  const a = parseRelayArgs(argv);
  if ('kind' in a) return assert.fail(`${argv.join(' ')}: not settings`);
  return a;
}

test('defaults: [::]:443, ephemeral UDP port on both families, ports above 1024, tcp-proxy-like limits', () => {
  const a = parsed(['--destination', '203.0.113.1/9993']);
  assert.deepEqual(a.listen, { host: '::', port: 443 });
  assert.deepEqual([a.udpPort, a.bind4, a.bind6, a.minPort], [0, '0.0.0.0', '::', 1025]);
  // maxConnections 0: as many as the descriptor limit allows (relay/fd-budget.ts).
  assert.deepEqual([a.maxConnections, a.maxPerIp, a.maxPerPrefix, a.idleSec, a.queueBytes], [0, 256, 1024, 300, 131_072]);
  assert.deepEqual([a.planets, a.open, a.allowFile, a.allowFailOpen, a.tlsCert, a.tlsKey], [[], false, '', false, '', '']);
});

test('no destination policy is a usage error saying how to choose one; --open is explicit and exclusive', () => {
  assert.throws(() => parseRelayArgs([]), (e: unknown) => e instanceof UsageError && /no destinations: pass --planet .*--destination .*--open/.test(e.message));
  assert.throws(() => parseRelayArgs(['--open', '--destination', '203.0.113.1/9993']), (e: unknown) => e instanceof UsageError && /--open relays anywhere/.test(e.message));
  assert.throws(() => parseRelayArgs(['--open', '--planet', 'p']), UsageError);
  assert.equal(parsed(['--open']).open, true);
  assert.deepEqual(parsed(['--planet', 'a', '--planet', 'b']).planets, ['a', 'b']);
});

test('every flag is read', () => {
  const a = parsed([
    '--listen', '[2001:db8::1]:8443',
    '--udp-port', '9994',
    '--bind4', 'none',
    '--bind6', '2001:db8::1',
    '--min-port', '2000',
    '--destination', '203.0.113.1/9993',
    '--destination', '2001:DB8::2/9993',
    '--max-connections', '1000',
    '--max-per-ip', '8',
    '--max-per-prefix', '32',
    '--idle-timeout', '60',
    '--queue-bytes', '65536',
    '--allow-file', '/etc/ztroot/allow',
    '--allow-fail-open',
    '--tls-cert', 'c.pem',
    '--tls-key', 'k.pem',
    '--http', 'none',
    '--log-level', 'warn',
  ]);
  assert.deepEqual(a.listen, { host: '2001:db8::1', port: 8443 });
  assert.deepEqual([a.udpPort, a.bind4, a.bind6, a.minPort], [9994, null, '2001:db8::1', 2000]);
  assert.deepEqual(a.destinations, [
    { family: 4, ip: '203.0.113.1', port: 9993 },
    { family: 6, ip: '2001:db8::2', port: 9993 },
  ]);
  assert.deepEqual([a.maxConnections, a.maxPerIp, a.maxPerPrefix, a.idleSec, a.queueBytes], [1000, 8, 32, 60, 65536]);
  assert.deepEqual([a.allowFile, a.allowFailOpen, a.tlsCert, a.tlsKey, a.http, a.logLevel], ['/etc/ztroot/allow', true, 'c.pem', 'k.pem', null, 'warn']);
});

test('bad flags: a usage error naming the flag and the value', () => {
  const cases: Array<[string[], RegExp]> = [
    [['--listen', '443'], /--listen "443": expected host:port/],
    [['--udp-port', '70000'], /--udp-port "70000": expected a whole number 0\.\.65535/],
    [['--min-port', '-1'], /option --min-port needs a value/],
    [['--min-port=-1'], /--min-port "-1"/],
    [['--max-per-ip', '0'], /--max-per-ip "0"/],
    [['--idle-timeout', '1.5'], /--idle-timeout "1\.5"/],
    [['--queue-bytes', '10'], /--queue-bytes "10"/],
    [['--destination', 'somewhere'], /--destination "somewhere"/],
    [['--log-level', 'loud'], /--log-level "loud"/],
    [['--max-connections'], /option --max-connections needs a value/],
    [['--frobnicate', '1'], /unknown option --frobnicate/],
    [['--bogus'], /unknown option --bogus/],
    [['--bind4', 'none', '--bind6', 'none'], /no UDP socket/],
    [['--tls-cert', 'c.pem'], /--tls-cert and --tls-key go together/],
  ];
  for (const [argv, re] of cases) {
    assert.throws(
      () => parseRelayArgs([...argv, '--open']),
      (e: unknown) => e instanceof UsageError && re.test(e.message),
      argv.join(' '),
    );
  }
});

test('main: --help prints the usage with the local.conf line; a bad flag is a usage error and nothing starts', async () => {
  const help = await captured(() => main(['--help']));
  assert.equal(help.result, 0);
  assert.match(help.out, /usage: ztroot relay/);
  assert.match(help.out, /\{"settings":\{"tcpFallbackRelay":"<this host's IP>\/443"\}\}/);
  assert.match(help.out, /example:\n {2}ztroot relay --listen/);
  await assert.rejects(main(['--listen', '127.0.0.1:0', '--queue-bytes', 'lots', '--open']), (e: unknown) => e instanceof UsageError && /^--queue-bytes "lots": expected a whole number/.test(e.message));
});
