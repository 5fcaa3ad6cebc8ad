/**
 * Config delivery: chunk bodies (A.3, the session capture's OK(NETWORK_CONFIG_REQUEST) and NETWORK_CONFIG), signing
 * and verification, the dedupe id, the reassembler and its limits, the request metadata 1.14.1 sends.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import fc from 'fast-check';
import { formatAddress } from '../address.js';
import { fromHex, toHex } from '../bytes.js';
import { isZtError } from '../errors.js';
import { Identity } from '../identity.js';
import { readVectorJson, readVectorText, vectorPath } from '../../test/vectors.js';
import { appendixA, codeBlockAfter } from '../../test/vl2-sheet.js';
import {
  configChunkId,
  configChunkSignedMessage,
  decodeConfigChunk,
  encodeConfigChunk,
  makeConfigChunks,
  signConfigChunk,
  verifyConfigChunk,
  type ConfigChunk,
  type SignedConfigChunk,
} from './config-chunk.js';
import { ConfigReassembler } from './config-reassembler.js';
import { NETWORK_MAX_UPDATE_CHUNKS, NETWORKCONFIG_DICT_CAPACITY } from './constants.js';
import { decodeNetworkConfig } from './network-config.js';
import { buildRequestMetadata, DEFAULT_REQUEST_METADATA, parseRequestMetadata } from './request-metadata.js';
import { decodeOk } from '../verbs/ok.js';
import { decodeNetworkConfigRequest, encodeNetworkConfigRequest } from '../verbs/network-config-request.js';
import { encodeNetworkConfigAck, encodeNetworkConfigRequestOk } from '../verbs/network-config.js';
import { Verb } from '../constants.js';

const controller = Identity.fromString(appendixA.controllerSecret());
const ids = new Map<string, Identity>();
for (const f of readdirSync(vectorPath('session')).filter((n) => n.endsWith('.identity.secret'))) {
  const id = Identity.fromString(readVectorText('session', f).trim());
  ids.set(formatAddress(id.address), id);
}
const root = ids.get('c734a53e81')!;
// eslint-disable-next-line @typescript-eslint/no-explicit-any
const session: any = readVectorJson('session', 'decoded.json');
// eslint-disable-next-line @typescript-eslint/no-explicit-any
const pkts: any[] = session.packets.filter((p: any) => p.kind === 'packet');

/** Chunk bodies in the capture: NETWORK_CONFIG payloads and OK(NETWORK_CONFIG_REQUEST) bodies. */
const captured = pkts
  .filter((p) => p.verb === Verb.NETWORK_CONFIG || (p.verb === Verb.OK && p.fields.in_re_verb === Verb.NETWORK_CONFIG_REQUEST))
  .map((p) => ({ p, body: p.verb === Verb.OK ? (decodeOk(fromHex(p.payload_hex)) as { body: Uint8Array }).body : fromHex(p.payload_hex) }));

test('session: every captured chunk decodes to the recorded fields, re-encodes, verifies with the controller, and reassembles', () => {
  assert.equal(captured.length, 6);
  for (const { p, body } of captured) {
    const c = decodeConfigChunk(body);
    assert.ok(c.kind === 'signed');
    const rec = p.fields.netconf_chunk;
    assert.equal(toHex(c.data), rec.dict_chunk_hex);
    assert.equal(c.flags, rec.flags);
    assert.equal(c.updateId.toString(16).padStart(16, '0'), rec.config_update_id);
    assert.equal(c.totalLength, rec.total_length);
    assert.equal(c.index, rec.chunk_index);
    assert.equal(toHex(c.signature), rec.signature);
    assert.equal(configChunkSignedMessage(c).length, rec.signed_portion_hex_len, "(despite its name, the recorded figure is in bytes)");
    assert.equal(toHex(encodeConfigChunk(c)), toHex(body));
    assert.ok(verifyConfigChunk(c, root), `frame ${p.frame}`);
    assert.equal(verifyConfigChunk(c, controller), false, 'another identity');
    const r = new ConfigReassembler().add(c);
    assert.ok(r.status === 'complete');
    const a = session.assembled_network_configs.find((x: { key: string }) => x.key.endsWith(rec.config_update_id));
    assert.equal(toHex(r.dictionary), a.dictionary_wire_hex);
    assert.equal(formatAddress(decodeNetworkConfig(r.dictionary).issuedTo), p.dest);
  }
  // the controller's OK carries the chunk exactly as encodeNetworkConfigRequestOk builds it
  const okPkt = pkts.find((p) => p.verb === Verb.OK && p.fields.in_re_verb === Verb.NETWORK_CONFIG_REQUEST);
  const ok = decodeOk(fromHex(okPkt.payload_hex));
  assert.equal(toHex(encodeNetworkConfigRequestOk(ok.inRePacketId, decodeConfigChunk((ok as { body: Uint8Array }).body))), okPkt.payload_hex);
});

test('session: the members acknowledged each pushed NETWORK_CONFIG with OK(in-re ECHO) nwid|updateId, byte for byte', () => {
  const pushes = new Map<string, SignedConfigChunk>(
    pkts.filter((p) => p.verb === Verb.NETWORK_CONFIG).map((p) => [p.packet_id as string, decodeConfigChunk(fromHex(p.payload_hex)) as SignedConfigChunk]),
  );
  const acks = pkts.filter((p) => p.verb === Verb.OK && p.fields.in_re_verb === Verb.ECHO && pushes.has(p.fields.in_re_packet_id));
  assert.equal(acks.length, 3);
  for (const a of acks) {
    const c = pushes.get(a.fields.in_re_packet_id)!;
    assert.equal(toHex(encodeNetworkConfigAck(BigInt(`0x${a.fields.in_re_packet_id}`), c.networkId, c.updateId)), a.payload_hex);
  }
});

test('A.3: signing the same fields with A.1\'s controller gives CHUNK_HEX byte for byte; legacy single chunks', () => {
  const body = appendixA.chunkHex();
  const c = decodeConfigChunk(body) as SignedConfigChunk;
  const { signature: _sig, kind: _k, ...fields } = c;
  assert.equal(toHex(encodeConfigChunk(signConfigChunk(fields, controller))), toHex(body));
  const [only] = makeConfigChunks(c.data, { networkId: c.networkId, updateId: c.updateId, signer: controller });
  assert.equal(toHex(encodeConfigChunk(only!)), toHex(body));
  // tampering anywhere in the covered part breaks the signature
  for (const at of [0, 9, 500, 906, 915, 922]) {
    const bad = body.slice();
    bad[at]! ^= 0x40;
    let ok: boolean;
    try {
      const d = decodeConfigChunk(bad);
      ok = d.kind === 'signed' && verifyConfigChunk(d, controller);
    } catch (e) {
      assert.ok(isZtError(e));
      ok = false;
    }
    assert.equal(ok, false, `byte ${at}`);
  }
  // the legacy form: the body ends after the data
  const legacy = decodeConfigChunk(body.subarray(0, 906));
  assert.deepEqual(legacy, { kind: 'legacy', networkId: c.networkId, data: c.data });
  assert.equal(toHex(encodeConfigChunk(legacy)), toHex(body.subarray(0, 906)));
  const r = new ConfigReassembler();
  assert.throws(() => r.add(legacy), { code: 'ZT_ERR_BAD_VALUE' }, 'a legacy chunk needs its packet id');
  const done = r.add(legacy, 0x77n);
  assert.ok(done.status === 'complete' && done.updateId === 0x77n && toHex(done.dictionary) === toHex(c.data));
  assert.equal(r.add(legacy, 0x77n).status, 'duplicate');
});

test('chunk body refusals as 1.14: index + length past the total, a total that does not fit, a signature block other than 1/96', () => {
  const c = decodeConfigChunk(appendixA.chunkHex()) as SignedConfigChunk;
  const body = encodeConfigChunk(c);
  const at = 8 + 2 + c.data.length; // flags
  const total = body.slice();
  total.set([0, 0, 0x03, 0x7f], at + 9); // total 895 < 896
  assert.throws(() => decodeConfigChunk(total), { code: 'ZT_ERR_BAD_VALUE' });
  const big = body.slice();
  new DataView(big.buffer).setUint32(at + 9, NETWORKCONFIG_DICT_CAPACITY);
  assert.throws(() => decodeConfigChunk(big), (e: unknown) => isZtError(e, 'ZT_ERR_TOO_LONG') && /NETWORKCONFIG_DICT_CAPACITY/.test(e.message));
  const type = body.slice();
  type[at + 17] = 2;
  assert.throws(() => decodeConfigChunk(type), { code: 'ZT_ERR_BAD_VALUE' });
  const len = body.slice();
  len[at + 19] = 95;
  assert.throws(() => decodeConfigChunk(len), { code: 'ZT_ERR_BAD_VALUE' });
  assert.throws(() => decodeConfigChunk(body.subarray(0, body.length - 1)), { code: 'ZT_ERR_TRUNCATED' });
  assert.throws(() => decodeConfigChunk(body.subarray(0, at + 3)), { code: 'ZT_ERR_TRUNCATED' });
  // bytes after the signature are ignored, as 1.14 ignores them
  assert.deepEqual(decodeConfigChunk(new Uint8Array([...body, 1, 2, 3])), c);
});

test('reassembly: chunks in any order, duplicates by chunk id, 3 updates at once (least recently touched replaced), 474 chunks', () => {
  const dict = new Uint8Array(2500).map((_, i) => 0x41 + (i % 26));
  const chunks = makeConfigChunks(dict, { networkId: appendixA.networkId(), updateId: 0xaan, signer: controller, maxChunkLength: 1000 });
  assert.deepEqual(chunks.map((c) => [c.index, c.data.length]), [[0, 1000], [1000, 1000], [2000, 500]]);
  assert.ok(chunks.every((c) => verifyConfigChunk(c, controller)));
  const r = new ConfigReassembler();
  assert.deepEqual(r.add(chunks[2]!), { status: 'partial', updateId: 0xaan, received: 500, total: 2500 });
  assert.ok(r.isDuplicate(chunks[2]!));
  assert.equal(r.add(chunks[2]!).status, 'duplicate');
  assert.equal(r.add(chunks[0]!).status, 'partial');
  const done = r.add(chunks[1]!);
  assert.ok(done.status === 'complete');
  assert.equal(toHex(done.dictionary), toHex(dict));
  assert.equal(r.add(chunks[0]!).status, 'duplicate', 'after completion');
  assert.notEqual(configChunkId(chunks[0]!), configChunkId(chunks[1]!));

  // a fourth update replaces the least recently touched of three
  const u = (id: bigint): SignedConfigChunk[] => makeConfigChunks(dict, { networkId: 1n << 24n, updateId: id, signer: controller, maxChunkLength: 1000 });
  const r2 = new ConfigReassembler();
  const [a, b, c, d] = [u(1n), u(2n), u(3n), u(4n)];
  r2.add(a[0]!);
  r2.add(b[0]!);
  r2.add(c[0]!);
  r2.add(a[1]!); // touch update 1: update 2 is now the oldest
  r2.add(d[0]!);
  assert.deepEqual(r2.heldUpdates.sort(), [1n, 3n, 4n]);
  assert.equal(r2.add(a[2]!).status, 'complete', 'update 1 kept its chunks');
  assert.equal(r2.add(b[1]!).status, 'partial', 'update 2 starts over');

  // NETWORK_MAX_UPDATE_CHUNKS: the 475th chunk of one update is refused
  const tiny = makeConfigChunks(new Uint8Array(NETWORK_MAX_UPDATE_CHUNKS + 1).fill(0x61), { networkId: 1n << 24n, updateId: 9n, signer: controller, maxChunkLength: 1 });
  const r3 = new ConfigReassembler();
  for (let i = 0; i < NETWORK_MAX_UPDATE_CHUNKS; i++) assert.equal(r3.add(tiny[i]!).status, 'partial');
  assert.throws(() => r3.add(tiny[NETWORK_MAX_UPDATE_CHUNKS]!), (e: unknown) => isZtError(e, 'ZT_ERR_TOO_LONG') && /NETWORK_MAX_UPDATE_CHUNKS/.test(e.message));

  // chunks of one update disagreeing on the total
  const r4 = new ConfigReassembler();
  r4.add(chunks[0]!);
  const liar = signConfigChunk({ networkId: chunks[1]!.networkId, data: chunks[1]!.data, flags: 0, updateId: 0xaan, totalLength: 3000, index: 1000 }, controller);
  assert.throws(() => r4.add(liar), { code: 'ZT_ERR_BAD_VALUE' });
  // a hand-built chunk claiming a total that does not fit is refused before anything is allocated
  const huge = { ...chunks[0]!, totalLength: NETWORKCONFIG_DICT_CAPACITY };
  assert.throws(() => new ConfigReassembler().add(huge), (e: unknown) => isZtError(e, 'ZT_ERR_TOO_LONG') && /NETWORKCONFIG_DICT_CAPACITY/.test(e.message));
  // overlap is not checked (as 1.14): the sum of lengths decides, later bytes win
  const r5 = new ConfigReassembler();
  const over = [0, 2].map((index) => signConfigChunk({ networkId: 1n << 24n, data: new Uint8Array(3).fill(index + 1), flags: 0, updateId: 5n, totalLength: 6, index }, controller));
  assert.equal(r5.add(over[0]!).status, 'partial');
  const o = r5.add(over[1]!);
  assert.ok(o.status === 'complete');
  assert.equal(toHex(o.dictionary), '010103030300');
});

test('NETWORK_CONFIG_REQUEST: the metadata 1.14.1 sends, byte for byte (263 bytes), built from fields; payloads re-encode', () => {
  const sheet = codeBlockAfter('Metadata dictionary sent by 1.14.1').join('\n');
  const built = buildRequestMetadata();
  assert.equal(built.length, 263);
  assert.equal(Buffer.from(built).toString('latin1'), sheet);
  assert.deepEqual(parseRequestMetadata(built), { ...DEFAULT_REQUEST_METADATA });
  assert.deepEqual(parseRequestMetadata(buildRequestMetadata({ authToken: 'abc' })).authToken, 'abc');
  const reqs = pkts.filter((p) => p.verb === Verb.NETWORK_CONFIG_REQUEST);
  assert.equal(reqs.length, 6);
  for (const p of reqs) {
    const x = decodeNetworkConfigRequest(fromHex(p.payload_hex));
    assert.equal(toHex(x.metadata), toHex(built));
    assert.equal(x.metadata.length, p.fields.metadata_len);
    assert.equal(x.revision, BigInt(p.fields.have_revision));
    assert.equal(x.timestamp, BigInt(p.fields.have_timestamp));
    assert.equal(toHex(encodeNetworkConfigRequest({ networkId: x.networkId, metadata: built, revision: 0n, timestamp: 0n })), p.payload_hex);
  }
  assert.throws(() => buildRequestMetadata({ osArch: 'x'.repeat(800) }), (e: unknown) => isZtError(e, 'ZT_ERR_TOO_LONG') && /METADATA_DICT_CAPACITY/.test(e.message));
});

test('fuzz: chunk bodies decode or fail with ZtError; what decodes re-encodes to the same chunk', () => {
  const seeds = [appendixA.chunkHex(), ...captured.map((c) => c.body)];
  const one = (b: Uint8Array): void => {
    let c: ConfigChunk;
    try {
      c = decodeConfigChunk(b);
    } catch (e) {
      assert.ok(isZtError(e), String(e));
      return;
    }
    assert.deepEqual(decodeConfigChunk(encodeConfigChunk(c)), c);
  };
  fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), one), { numRuns: 500, seed: 91 });
  fc.assert(
    fc.property(fc.nat({ max: seeds.length - 1 }), fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 4 }), fc.nat(), fc.boolean(), (which, edits, cut, truncate) => {
      const s = seeds[which]!;
      const b = truncate ? s.slice(0, cut % (s.length + 1)) : s.slice();
      for (const [at, v] of edits) if (b.length > 0) b[at % b.length] = v;
      one(b);
    }),
    { numRuns: 1500, seed: 92 },
  );
});
