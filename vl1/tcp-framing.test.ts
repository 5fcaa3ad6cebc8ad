import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { readVectorJson } from '../test/vectors.js';
import { concatBytes, fromHex, toHex } from './bytes.js';
import { isZtError, ZtErrorCode } from './errors.js';
import { decodeTunnelRecord, encodeTunnelHello, encodeTunnelRecord, MAX_TUNNEL_BODY, TunnelRecordReader } from './tcp-framing.js';

interface RecordVector {
  stream_direction?: string;
  header_hex?: string;
  record_length_field?: number;
  record_body_hex?: string;
  kind?: string;
  version?: string;
  address_prefix?: { type: number; ip: string; port: number };
  address_prefix_hex?: string;
  inner_len?: number;
  inner_packet?: { wire_hex: string };
}

const records = readVectorJson<{ tcp_records: RecordVector[] }>('tcp-fallback', 'decoded.json').tcp_records.filter((r) => r.header_hex !== undefined);

test('tcp-fallback vectors: every recorded record decodes to its address and inner packet, and re-encodes byte for byte', () => {
  assert.ok(records.length >= 80, `expected the capture's ~80 records, got ${records.length}`);
  let hellos = 0;
  let data = 0;
  for (const r of records) {
    const body = fromHex(r.record_body_hex!);
    assert.equal(body.length, r.record_length_field);
    const rec = decodeTunnelRecord(body);
    if (r.kind === 'tunnel-hello') {
      assert.equal(rec.kind, 'hello');
      if (rec.kind !== 'hello') continue;
      assert.equal(`${rec.version.major}.${rec.version.minor}.${rec.version.revision}`, r.version);
      assert.equal(toHex(encodeTunnelHello(rec.version)), r.header_hex! + r.record_body_hex!);
      hellos++;
      continue;
    }
    assert.equal(rec.kind, 'datagram');
    if (rec.kind !== 'datagram') continue;
    assert.deepEqual(rec.address, { family: r.address_prefix!.type as 4 | 6, ip: r.address_prefix!.ip, port: r.address_prefix!.port });
    assert.equal(toHex(rec.datagram), r.inner_packet!.wire_hex);
    assert.equal(rec.datagram.length, r.inner_len);
    const again = encodeTunnelRecord(rec.datagram, rec.address);
    assert.equal(toHex(again), r.header_hex! + r.record_body_hex!, `record re-encodes byte for byte (${r.stream_direction})`);
    assert.equal(toHex(again.subarray(5, 5 + r.address_prefix_hex!.length / 2)), r.address_prefix_hex);
    data++;
  }
  assert.equal(hellos, 1);
  assert.ok(data >= 78);
  // The greeting a 1.14.1 client sends, as vl1.md §9.1 writes it.
  assert.equal(toHex(encodeTunnelHello({ major: 1, minor: 14, revision: 1 })), '1703030004010e0001');
});

test('tcp-fallback vectors: each direction of the stream, cut into arbitrary chunks, yields the recorded bodies in order', () => {
  for (const dir of ['c2 -> root', 'root -> c2']) {
    const mine = records.filter((r) => r.stream_direction === dir);
    const stream = concatBytes(...mine.map((r) => fromHex(r.header_hex! + r.record_body_hex!)));
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: 300 }), { minLength: 1, maxLength: 200 }), (cuts) => {
        const reader = new TunnelRecordReader();
        const got: string[] = [];
        let o = 0;
        let i = 0;
        while (o < stream.length) {
          const n = cuts[i++ % cuts.length]!;
          reader.push(stream.subarray(o, o + n));
          o += n;
          for (let b = reader.next(); b !== null; b = reader.next()) got.push(toHex(b));
        }
        assert.deepEqual(got, mine.map((r) => r.record_body_hex));
        assert.equal(reader.pending, 0);
      }),
      { seed: 5, numRuns: 60 },
    );
  }
});

test('IPv6 and no-address records round-trip; an IPv6 record carries a 19-byte prefix', () => {
  const dg = new Uint8Array(40).fill(7);
  const v6 = encodeTunnelRecord(dg, { family: 6, ip: '2001:db8::1', port: 9993 });
  assert.equal(v6.length, 5 + 19 + 40);
  assert.equal(toHex(v6.subarray(0, 6)), '17030300' + (19 + 40).toString(16) + '06');
  const back = decodeTunnelRecord(v6.subarray(5));
  assert.deepEqual(back, { kind: 'datagram', address: { family: 6, ip: '2001:db8::1', port: 9993 }, datagram: dg });
  const none = decodeTunnelRecord(encodeTunnelRecord(dg, null).subarray(5));
  assert.deepEqual(none, { kind: 'datagram', address: null, datagram: dg });
});

test('bad records and streams give typed errors naming the value', () => {
  const code = (f: () => unknown): string => {
    try {
      f();
    } catch (e) {
      assert.ok(isZtError(e), `ZtError expected, got ${String(e)}`);
      return `${e.code}: ${e.message}`;
    }
    return 'no error';
  };
  assert.match(code(() => decodeTunnelRecord(fromHex('05' + '00'.repeat(30)))), /BAD_VALUE.*0x05/);
  assert.match(code(() => decodeTunnelRecord(fromHex('04c0000001'))), /TRUNCATED.*5 bytes.*IPv4/);
  assert.match(code(() => decodeTunnelRecord(fromHex('06' + '00'.repeat(10)))), /TRUNCATED.*IPv6/);
  assert.match(code(() => decodeTunnelRecord(fromHex('04c0000001270900'))), /TRUNCATED.*1 bytes/);
  assert.match(code(() => decodeTunnelRecord(new Uint8Array(0))), /BAD_VALUE.*empty/);
  assert.match(code(() => encodeTunnelRecord(new Uint8Array(20), { family: 4, ip: '::1', port: 1 })), /BAD_VALUE.*"::1"/);
  assert.match(code(() => encodeTunnelRecord(new Uint8Array(0xffff), { family: 4, ip: '1.2.3.4', port: 1 })), /BAD_VALUE.*16-bit/);
  assert.match(code(() => encodeTunnelHello({ major: 256, minor: 0, revision: 0 })), /BAD_VALUE.*256/);

  const tls = new TunnelRecordReader();
  tls.push(fromHex('160301020000'));
  assert.match(code(() => tls.next()), /BAD_VALUE.*0x16/);
  const big = new TunnelRecordReader(1500);
  big.push(fromHex('17030305dd')); // 1501 announced: refused from the header alone
  assert.match(code(() => big.next()), new RegExp(`${ZtErrorCode.TOO_LONG}.*1501.*1500`));
  assert.equal(MAX_TUNNEL_BODY, 19 + 10024);
});

test('the reader never throws anything but ZtError and never returns more than it was given', () => {
  fc.assert(
    fc.property(fc.array(fc.uint8Array({ maxLength: 64 }), { maxLength: 20 }), (chunks) => {
      const r = new TunnelRecordReader(100);
      let out = 0;
      let given = 0;
      try {
        for (const c of chunks) {
          r.push(c);
          given += c.length;
          for (let b = r.next(); b !== null; b = r.next()) out += b.length + 5;
        }
      } catch (e) {
        assert.ok(isZtError(e));
      }
      assert.ok(out <= given);
    }),
    { seed: 9, numRuns: 300 },
  );
});
