/**
 * The port mapper's parts that need no gateway: its option checks, start/stop with nothing to find, and the
 * parsers of what the network and the kernel hand it (default route, SSDP answers, NAT-PMP answers). The
 * mapper against a real gateway (miniupnpd in a NAT namespace) is test/port-mapping.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { PortMapper, type PortMapperOptions } from './port-mapping.js';
import { parseDefaultGateway } from './default-gateway.js';
import { IGD_V1, IGD_V2, MAX_SSDP_RESPONSE_BYTES, parseSsdpResponse } from './ssdp-search.js';
import { isCompletePmpReply } from './port-mapping-pmp.js';
import { isZtError, ZtErrorCode } from '../vl1/errors.js';

test('PortMapper: bad options are BAD_CONFIG errors naming the option and value', () => {
  const cases: Array<[Partial<PortMapperOptions>, RegExp]> = [
    [{ ports: [] }, /ports: \[\] must be a non-empty array/],
    [{ ports: [0] }, /ports: 0 is not a port number/],
    [{ ports: [70000] }, /ports: 70000 is not a port number/],
    [{ ports: [1.5] }, /ports: 1\.5 is not a port number/],
    [{ ports: [9993, 9993] }, /lists a port twice/],
    [{ ports: [9993], protocol: 'TCP' as 'UDP' }, /protocol: "TCP" is not supported/],
    [{ ports: [9993], methods: [] }, /methods: \[\] maps nothing/],
    [{ ports: [9993], methods: ['pcp' as 'upnp'] }, /methods: "pcp" is not/],
    [{ ports: [9993], leaseSeconds: 1 }, /leaseSeconds: 1 is not/],
    [{ ports: [9993], leaseSeconds: 10, refreshMs: 6000 }, /refreshMs: 6000 must be > 0 and at most half the lease \(5000 ms\)/],
    [{ ports: [9993], retryMinMs: 0 }, /retryMinMs: 0 must be > 0/],
    [{ ports: [9993], description: () => 'a<b' }, /description\(9993\): "a<b" must be/],
    [{ ports: [9993], description: () => 'x'.repeat(65) }, /description\(9993\)/],
  ];
  for (const [opts, msg] of cases) {
    assert.throws(
      () => new PortMapper(opts as PortMapperOptions),
      (e: unknown) => isZtError(e, ZtErrorCode.BAD_CONFIG) && msg.test(e.message),
      JSON.stringify(opts),
    );
  }
});

test('PortMapper: with no gateway to ask it stays quiet, start and stop are idempotent, and stop is immediate', async () => {
  const lines: string[] = [];
  const log = (level: string) => (_o: object, msg?: string) => lines.push(`${level} ${msg ?? ''}`);
  const m = new PortMapper({
    ports: [9993],
    methods: ['nat-pmp'],
    pmp: { gateway: async () => null },
    retryMinMs: 10,
    retryMaxMs: 20,
    logger: { debug: log('debug'), info: log('info'), warn: log('warn') },
  });
  const seen: string[] = [];
  m.on('mapped', () => seen.push('mapped'));
  m.on('lost', () => seen.push('lost'));
  m.on('error', () => seen.push('error'));
  await m.stop(); // before start: nothing to do
  m.start();
  m.start();
  await new Promise((r) => setTimeout(r, 150));
  const t0 = performance.now();
  await Promise.all([m.stop(), m.stop()]);
  await m.stop();
  assert.ok(performance.now() - t0 < 100, 'stop did not wait for a retry timer');
  m.start(); // again, after a stop
  await new Promise((r) => setTimeout(r, 30));
  await m.stop();
  assert.deepEqual(seen, []);
  assert.deepEqual(m.mapped, []);
  assert.equal(lines.filter((l) => l.startsWith('info')).length, 2, `once per run: ${lines.join('\n')}`);
  assert.equal(lines.filter((l) => l.startsWith('warn')).length, 0);
});

const ROUTE_HEADER = 'Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT';

test('parseDefaultGateway: the lowest-metric IPv4 default route of /proc/net/route', () => {
  const text = [
    ROUTE_HEADER,
    'eth1\t00000000\t0101A8C0\t0003\t0\t0\t200\t00000000\t0\t0\t0',
    'eth0\t00000000\t810000C0\t0003\t0\t0\t100\t00000000\t0\t0\t0',
    'eth0\t800000C0\t00000000\t0001\t0\t0\t0\tF0FFFFFF\t0\t0\t0',
    '',
  ].join('\n');
  assert.deepEqual(parseDefaultGateway(text, true), { ip: '192.0.0.129', iface: 'eth0' });
  // Big-endian hosts print the u32 the other way round.
  assert.deepEqual(parseDefaultGateway(`${ROUTE_HEADER}\nwan\t00000000\tC0A80101\t0003\t0\t0\t0\t00000000\t0\t0\t0\n`, false), { ip: '192.168.1.1', iface: 'wan' });
  // Down routes, routes without RTF_GATEWAY, non-default routes: none.
  const none = [ROUTE_HEADER, 'eth0\t00000000\t0101A8C0\t0002\t0\t0\t0\t00000000\t0\t0\t0', 'eth0\t00000000\t00000000\t0001\t0\t0\t0\t00000000\t0\t0\t0', 'eth0\t0000A8C0\t0101A8C0\t0003\t0\t0\t0\t0000FFFF\t0\t0\t0'];
  assert.equal(parseDefaultGateway(none.join('\n'), true), null);
  assert.equal(parseDefaultGateway('', true), null);
  // Whatever the file holds, it never throws.
  fc.assert(
    fc.property(fc.string({ maxLength: 300 }), (s) => {
      parseDefaultGateway(`${ROUTE_HEADER}\n${s}`);
    }),
  );
});

function ssdp(lines: string[]): Buffer {
  return Buffer.from(`${lines.join('\r\n')}\r\n\r\n`);
}

test('parseSsdpResponse: IGD answers with a LOCATION on the responder itself; anything else is null', () => {
  const ok = ssdp(['HTTP/1.1 200 OK', 'CACHE-CONTROL: max-age=120', `ST: ${IGD_V2}`, 'USN: uuid:x::' + IGD_V2, 'LOCATION: http://192.0.0.129:43531/rootDesc.xml', 'SERVER: Debian/12 UPnP/1.1 MiniUPnPd/2.3.1']);
  assert.deepEqual(parseSsdpResponse(ok, '192.0.0.129'), { location: 'http://192.0.0.129:43531/rootDesc.xml', version: 2, address: '192.0.0.129' });
  const v1 = ssdp(['HTTP/1.1 200 OK', `st: ${IGD_V1}`, 'location: http://192.0.0.129:5000/rootDesc.xml']);
  assert.equal(parseSsdpResponse(v1, '192.0.0.129')?.version, 1, 'header names are case-insensitive');
  // Pointing elsewhere than the responder, another scheme, another ST, not a 200, too long: ignored.
  assert.equal(parseSsdpResponse(ok, '192.0.0.130'), null);
  assert.equal(parseSsdpResponse(ssdp(['HTTP/1.1 200 OK', `ST: ${IGD_V2}`, 'LOCATION: https://192.0.0.129/x.xml']), '192.0.0.129'), null);
  assert.equal(parseSsdpResponse(ssdp(['HTTP/1.1 200 OK', 'ST: upnp:rootdevice', 'LOCATION: http://192.0.0.129/x.xml']), '192.0.0.129'), null);
  assert.equal(parseSsdpResponse(ssdp(['HTTP/1.1 404 Not Found', `ST: ${IGD_V2}`, 'LOCATION: http://192.0.0.129/x.xml']), '192.0.0.129'), null);
  assert.equal(parseSsdpResponse(ssdp(['HTTP/1.1 200 OK', `ST: ${IGD_V2}`, 'LOCATION: not a url']), '192.0.0.129'), null);
  assert.equal(parseSsdpResponse(Buffer.concat([ok, Buffer.alloc(MAX_SSDP_RESPONSE_BYTES)]), '192.0.0.129'), null);
  // Whatever arrives, it never throws.
  fc.assert(fc.property(fc.uint8Array({ maxLength: 600 }), (b) => parseSsdpResponse(b, '192.0.0.129') === null));
});

test('isCompletePmpReply: only answers as long as the library reads them', () => {
  const reply = (op: number, result: number, len: number): Uint8Array => {
    const b = Buffer.alloc(len);
    if (len > 1) b[1] = op;
    if (len > 3) b.writeUInt16BE(result, 2);
    return b;
  };
  assert.equal(isCompletePmpReply(reply(128, 0, 12)), true);
  assert.equal(isCompletePmpReply(reply(128, 0, 11)), false);
  assert.equal(isCompletePmpReply(reply(129, 0, 16)), true);
  assert.equal(isCompletePmpReply(reply(129, 0, 15)), false);
  assert.equal(isCompletePmpReply(reply(129, 2, 8)), true, 'an error answer is read to its 8-byte header only');
  for (let len = 0; len < 8; len++) assert.equal(isCompletePmpReply(reply(128, 0, len)), false);
});
