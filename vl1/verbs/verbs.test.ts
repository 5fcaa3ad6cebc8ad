/**
 * Verb payload codecs against every packet ZeroTier One 1.14.1 put on the wire in the shared captures
 * (session/, tcp-fallback/ incl. the tunneled inner packets and the proxy's loopback UDP, planet-update/):
 * decoding `payload_hex` gives every recorded field, and re-encoding gives `payload_hex` back byte for byte.
 * Then property tests: decode ∘ encode is the identity for every codec, and random or mutated payloads only
 * ever produce a ZtError.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { formatAddress, formatNetworkId } from '../address.js';
import { fromHex, toHex } from '../bytes.js';
import { errorCodeName, ErrorCode, Verb } from '../constants.js';
import { isZtError } from '../errors.js';
import { Identity } from '../identity.js';
import type { InetAddress } from '../inet-address.js';
import { formatMac } from '../mac-ip.js';
import { decodeHello, decodeHelloMoons, encodeHello, encodeHelloMoons, type Hello, type HelloMoon } from './hello.js';
import { decodeOk, encodeOk, type Ok } from './ok.js';
import { decodeError, encodeError, type ErrorPayload } from './error.js';
import { decodeWhois, encodeWhois, type Whois } from './whois.js';
import { decodeRendezvous, encodeRendezvous, type Rendezvous } from './rendezvous.js';
import { decodeEcho, encodeEcho } from './echo.js';
import { decodePushDirectPaths, encodePushDirectPaths, isInetPath, type PushDirectPaths } from './push-direct-paths.js';
import { decodeMulticastGather, decodeMulticastLike, encodeMulticastGather, encodeMulticastLike, type MulticastGather, type MulticastLike } from './multicast.js';
import { readVectorJson } from '../../test/vectors.js';
import { decodeExtFrame, decodeFrame, encodeExtFrame, encodeFrame, type ExtFrame, type Frame } from './frame.js';
import { decodeMulticastFrame, encodeMulticastFrame, type MulticastFrame } from './multicast-frame.js';
import { decodeNetworkCredentials, encodeNetworkCredentials } from './network-credentials.js';
import { decodeNetworkConfigRequest, encodeNetworkConfigRequest, type NetworkConfigRequest } from './network-config-request.js';
import { decodeNetworkConfigPayload, encodeNetworkConfigPayload } from './network-config.js';
import { decodeConfigChunk, encodeConfigChunk } from '../netconf/config-chunk.js';
import { encodeCom } from '../netconf/com.js';
import { encodeCoo } from '../netconf/certificate-of-ownership.js';
import { Dictionary } from '../netconf/dictionary.js';

// ---------------------------------------------------------------------------------------------------------------
// captured packets

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Fields = Record<string, any>;
interface Pkt { kind: string; frame?: number; verb_name: string; verb: number; payload_hex: string; fields: Fields }

function capturedPackets(dir: string): Pkt[] {
  const j = readVectorJson(dir, 'decoded.json');
  const out: Pkt[] = [...(j.packets ?? [])];
  for (const r of j.tcp_records ?? []) if (r.inner_packet) out.push(r.inner_packet);
  out.push(...(j.root_loopback_udp_packets ?? []));
  return out.filter((p) => p.kind === 'packet');
}
const DIRS = ['session', 'tcp-fallback', 'planet-update'];
const packets = DIRS.flatMap((d) => capturedPackets(d).map((p) => ({ ...p, where: `${d} frame ${p.frame} ${p.verb_name}` })));

/** The keys a recorded `fields` object may have; a key not listed here fails the test (nothing goes unchecked). */
function onlyKeys(f: Fields, keys: string[], where: string): void {
  for (const k of Object.keys(f)) assert.ok(keys.includes(k), `${where}: recorded field "${k}" is not checked`);
}

function checkIdentity(id: Identity, rec: Fields, where: string): void {
  onlyKeys(rec, ['address', 'type', 'public_key', 'private_key_length', 'string', 'raw'], where);
  assert.equal(formatAddress(id.address), rec.address, where);
  assert.equal(rec.type, 0, where);
  assert.equal(toHex(id.publicKey), rec.public_key, where);
  assert.equal(id.privateKey === null ? 0 : 64, rec.private_key_length, where);
  assert.equal(id.toString(false), rec.string, where);
  assert.equal(toHex(id.toBinary(false)), rec.raw, where);
}

function checkInet(a: InetAddress | null | undefined, rec: Fields, where: string): void {
  onlyKeys(rec, ['type', 'ip', 'port', 'raw'], where);
  assert.ok(a, `${where}: address missing`);
  assert.equal(a.family, rec.type, where);
  assert.equal(a.ip, rec.ip, where);
  assert.equal(a.port, rec.port, where);
}

const hex8 = (n: number): string => n.toString(16).padStart(8, '0');

function checkChunk(body: Uint8Array, rec: Fields, where: string): void {
  onlyKeys(rec, ['network_id', 'dict_chunk_len', 'dict_chunk_hex', 'flags', 'config_update_id', 'total_length', 'chunk_index', 'signed_portion_hex_len', 'signature_type', 'signature_len', 'signature'], where);
  const c = decodeConfigChunk(body);
  assert.ok(c.kind === 'signed', where);
  assert.equal(formatNetworkId(c.networkId), rec.network_id, where);
  assert.equal(c.data.length, rec.dict_chunk_len, where);
  assert.equal(toHex(c.data), rec.dict_chunk_hex, where);
  assert.equal(c.flags, rec.flags, where);
  assert.equal(c.updateId.toString(16).padStart(16, '0'), rec.config_update_id, where);
  assert.equal(c.totalLength, rec.total_length, where);
  assert.equal(c.index, rec.chunk_index, where);
  assert.equal(rec.signature_type, 1, where);
  assert.equal(rec.signature_len, 96, where);
  assert.equal(toHex(c.signature), rec.signature, where);
  assert.equal(toHex(encodeConfigChunk(c)), toHex(body), where);
}

/** Decodes, checks every recorded field, re-encodes. Returns false for verbs this module has no codec for. */
function checkPacket(p: Pkt & { where: string }): boolean {
  const payload = fromHex(p.payload_hex);
  const f = p.fields;
  const w = p.where;
  let again: Uint8Array;
  switch (p.verb) {
    case Verb.HELLO: {
      onlyKeys(f, ['protocol_version', 'version_major', 'version_minor', 'version_revision', 'timestamp', 'identity', 'physical_destination', 'planet_world_id', 'planet_world_id_hex', 'planet_world_timestamp', 'encrypted_tail_offset_in_payload', 'encrypted_tail_wire_hex', 'encrypted_tail_decrypted_hex', 'moon_count', 'moons'], w);
      const h = decodeHello(payload);
      assert.equal(h.protocolVersion, f.protocol_version, w);
      assert.equal(h.versionMajor, f.version_major, w);
      assert.equal(h.versionMinor, f.version_minor, w);
      assert.equal(h.versionRevision, f.version_revision, w);
      assert.equal(h.timestamp, f.timestamp, w);
      checkIdentity(h.identity, f.identity, w);
      if (f.physical_destination !== undefined) checkInet(h.physicalDestination, f.physical_destination, w);
      else assert.equal(h.physicalDestination, undefined, w);
      if (f.planet_world_id_hex !== undefined) {
        assert.equal(formatNetworkId(h.planetWorldId!), f.planet_world_id_hex, w);
        assert.equal(Number(h.planetWorldId), f.planet_world_id, w);
        assert.equal(h.planetWorldTimestamp, f.planet_world_timestamp, w);
      } else assert.equal(h.planetWorldId, undefined, w);
      if (f.encrypted_tail_wire_hex !== undefined) {
        assert.equal(toHex(h.encryptedTail!), f.encrypted_tail_wire_hex, w);
        assert.equal(payload.length - h.encryptedTail!.length, f.encrypted_tail_offset_in_payload, w);
        const moons = decodeHelloMoons(fromHex(f.encrypted_tail_decrypted_hex));
        assert.equal(moons.length, f.moon_count, w);
        assert.deepEqual(
          moons.map((m) => ({ type: m.type, id: formatNetworkId(m.id), timestamp: m.timestamp })),
          (f.moons as Fields[]).map((m) => ({ type: m.type, id: m.id_hex ?? m.id, timestamp: m.timestamp })),
          w,
        );
        assert.equal(toHex(encodeHelloMoons(moons)), f.encrypted_tail_decrypted_hex, w);
      } else assert.equal(h.encryptedTail, undefined, w);
      again = encodeHello(h);
      break;
    }
    case Verb.OK: {
      const ok = decodeOk(payload);
      assert.equal(ok.inReVerb, f.in_re_verb, w);
      assert.equal(ok.inRePacketId.toString(16).padStart(16, '0'), f.in_re_packet_id, w);
      const base = ['in_re_verb', 'in_re_verb_name', 'in_re_packet_id'];
      switch (ok.kind) {
        case 'HELLO':
          onlyKeys(f, [...base, 'timestamp_echo', 'protocol_version', 'version_major', 'version_minor', 'version_revision', 'physical_destination', 'world_updates_length', 'world_updates'], w);
          assert.equal(ok.timestampEcho, f.timestamp_echo, w);
          assert.equal(ok.protocolVersion, f.protocol_version, w);
          assert.equal(ok.versionMajor, f.version_major, w);
          assert.equal(ok.versionMinor, f.version_minor, w);
          assert.equal(ok.versionRevision, f.version_revision, w);
          checkInet(ok.physicalAddress, f.physical_destination, w);
          assert.equal(ok.worldUpdates?.length, f.world_updates_length, w);
          // the worlds themselves are the planet codec's business (planet/); here: the bytes are exactly theirs
          assert.equal(toHex(ok.worldUpdates!), (f.world_updates as Fields[]).map((x) => x.raw).join(''), w);
          break;
        case 'WHOIS':
          onlyKeys(f, [...base, 'identities'], w);
          assert.equal(ok.identities.length, f.identities.length, w);
          ok.identities.forEach((id, i) => checkIdentity(id, f.identities[i], `${w} identity ${i}`));
          break;
        case 'ECHO':
          onlyKeys(f, [...base, 'echo_payload'], w);
          assert.equal(toHex(ok.payload), f.echo_payload, w);
          break;
        case 'MULTICAST_GATHER':
          onlyKeys(f, [...base, 'network_id', 'mac', 'adi', 'total_known', 'count', 'members'], w);
          assert.equal(formatNetworkId(ok.networkId), f.network_id, w);
          assert.equal(formatMac(ok.mac), f.mac, w);
          assert.equal(hex8(ok.adi), f.adi, w);
          assert.equal(ok.totalKnown, f.total_known, w);
          assert.equal(ok.members.length, f.count, w);
          assert.deepEqual(ok.members.map(formatAddress), f.members, w);
          break;
        case 'NETWORK_CONFIG':
          assert.fail(`${w}: no OK(NETWORK_CONFIG) expected in the captures`);
          break;
        case 'MULTICAST_FRAME':
          // recorded raw: nwid | mac | adi | flags | gather results
          onlyKeys(f, [...base, 'rest'], w);
          assert.equal(f.rest, p.payload_hex.slice(18), w);
          assert.equal(formatNetworkId(ok.networkId), f.rest.slice(0, 16), w);
          assert.equal(ok.mac.toString(16).padStart(12, '0'), f.rest.slice(16, 28), w);
          assert.equal(hex8(ok.adi), f.rest.slice(28, 36), w);
          assert.equal(ok.flags, 2, w);
          assert.equal(ok.com, undefined, w);
          assert.equal(ok.totalKnown, parseInt(f.rest.slice(38, 46), 16), w);
          assert.equal(ok.members!.length, parseInt(f.rest.slice(46, 50), 16), w);
          assert.equal(ok.members!.map(formatAddress).join(''), f.rest.slice(50), w);
          break;
        case 'OTHER':
          assert.equal(toHex(ok.body), p.payload_hex.slice(18), w);
          if (ok.inReVerb === Verb.NETWORK_CONFIG_REQUEST) {
            // the body is a config chunk (vl1/netconf/config-chunk.ts)
            onlyKeys(f, [...base, 'netconf_chunk'], w);
            checkChunk(ok.body, f.netconf_chunk, w);
          } else {
            onlyKeys(f, [...base, 'rest'], w);
            assert.equal(toHex(ok.body), f.rest, w);
          }
          break;
      }
      again = encodeOk(ok);
      break;
    }
    case Verb.ERROR: {
      onlyKeys(f, ['in_re_verb', 'in_re_verb_name', 'in_re_packet_id', 'error_code', 'error_name', 'network_id'], w);
      const e = decodeError(payload);
      assert.equal(e.inReVerb, f.in_re_verb, w);
      assert.equal(e.inRePacketId.toString(16).padStart(16, '0'), f.in_re_packet_id, w);
      assert.equal(e.code, f.error_code, w);
      assert.equal(errorCodeName(e.code), f.error_name, w);
      assert.equal(e.networkId === undefined ? undefined : formatNetworkId(e.networkId), f.network_id, w);
      again = encodeError(e);
      break;
    }
    case Verb.WHOIS: {
      onlyKeys(f, ['addresses'], w);
      const x = decodeWhois(payload);
      assert.deepEqual(x.addresses.map(formatAddress), f.addresses, w);
      again = encodeWhois(x);
      break;
    }
    case Verb.RENDEZVOUS: {
      onlyKeys(f, ['flags', 'with_address', 'port', 'address_length', 'ip'], w);
      const x = decodeRendezvous(payload);
      assert.equal(x.flags, f.flags, w);
      assert.equal(formatAddress(x.address), f.with_address, w);
      assert.equal(x.endpoint.port, f.port, w);
      assert.equal(x.endpoint.family === 4 ? 4 : 16, f.address_length, w);
      assert.equal(x.endpoint.ip, f.ip, w);
      again = encodeRendezvous(x);
      break;
    }
    case Verb.ECHO: {
      onlyKeys(f, ['echo_payload'], w);
      const x = decodeEcho(payload);
      assert.equal(toHex(x.payload), f.echo_payload, w);
      again = encodeEcho(x);
      break;
    }
    case Verb.PUSH_DIRECT_PATHS: {
      onlyKeys(f, ['path_count', 'paths'], w);
      const x = decodePushDirectPaths(payload);
      assert.equal(x.paths.length, f.path_count, w);
      x.paths.forEach((pp, i) => {
        const rec = f.paths[i] as Fields;
        onlyKeys(rec, ['flags', 'ext_len', 'addr_type', 'addr_len', 'ip', 'port'], w);
        assert.ok(isInetPath(pp.address), w);
        assert.equal(pp.flags, rec.flags, w);
        assert.equal(pp.ext.length, rec.ext_len, w);
        assert.equal(pp.address.family, rec.addr_type, w);
        assert.equal(pp.address.family === 4 ? 6 : 18, rec.addr_len, w);
        assert.equal(pp.address.ip, rec.ip, w);
        assert.equal(pp.address.port, rec.port, w);
      });
      again = encodePushDirectPaths(x);
      break;
    }
    case Verb.MULTICAST_LIKE: {
      onlyKeys(f, ['groups'], w);
      const x = decodeMulticastLike(payload);
      assert.deepEqual(
        x.groups.map((g) => ({ network_id: formatNetworkId(g.networkId), mac: formatMac(g.mac), adi: hex8(g.adi) })),
        f.groups,
        w,
      );
      again = encodeMulticastLike(x);
      break;
    }
    case Verb.MULTICAST_GATHER: {
      onlyKeys(f, ['network_id', 'flags', 'mac', 'adi', 'gather_limit', 'com'], w);
      const x = decodeMulticastGather(payload);
      assert.equal(formatNetworkId(x.networkId), f.network_id, w);
      assert.equal(x.flags, f.flags, w);
      assert.equal(formatMac(x.mac), f.mac, w);
      assert.equal(hex8(x.adi), f.adi, w);
      assert.equal(x.gatherLimit, f.gather_limit, w);
      // the COM is kept raw; its fields are VL2's business — here its exact extent must match
      assert.equal(x.com === undefined ? undefined : toHex(x.com), f.com?.raw, w);
      again = encodeMulticastGather(x);
      break;
    }
    case Verb.FRAME: {
      onlyKeys(f, ['network_id', 'ethertype', 'frame_len', 'frame_summary', 'frame_hex'], w);
      const x = decodeFrame(payload);
      assert.equal(formatNetworkId(x.networkId), f.network_id, w);
      assert.equal(x.etherType.toString(16).padStart(4, '0'), f.ethertype, w);
      assert.equal(x.payload.length, f.frame_len, w);
      assert.equal(toHex(x.payload), f.frame_hex, w);
      again = encodeFrame(x);
      break;
    }
    case Verb.MULTICAST_FRAME: {
      onlyKeys(f, ['network_id', 'flags', 'com', 'gather_limit', 'source_mac', 'dest_mac', 'adi', 'ethertype', 'frame_summary', 'frame_hex'], w);
      const x = decodeMulticastFrame(payload);
      assert.equal(formatNetworkId(x.networkId), f.network_id, w);
      assert.equal(x.flags, f.flags, w);
      assert.equal(x.com === undefined ? undefined : toHex(x.com), f.com?.raw, w);
      assert.equal(x.gatherLimit, f.gather_limit, w);
      assert.equal(x.source === undefined ? undefined : formatMac(x.source), f.source_mac, w);
      assert.equal(formatMac(x.dest), f.dest_mac, w);
      assert.equal(hex8(x.adi), f.adi, w);
      assert.equal(x.etherType.toString(16).padStart(4, '0'), f.ethertype, w);
      assert.equal(toHex(x.payload), f.frame_hex, w);
      again = encodeMulticastFrame(x);
      break;
    }
    case Verb.NETWORK_CREDENTIALS: {
      onlyKeys(f, ['coms', 'capability_count', 'tag_count', 'revocation_count', 'coo_count', 'rest'], w);
      const x = decodeNetworkCredentials(payload);
      assert.deepEqual(x.coms.map((c) => toHex(encodeCom(c))), (f.coms as Fields[]).map((c) => c.raw), w);
      x.coms.forEach((c, i) => {
        const rec = f.coms[i] as Fields;
        assert.equal(rec.version, 1, w);
        assert.deepEqual(c.qualifiers.map((q) => [Number(q.id), q.value.toString(16).padStart(16, '0'), q.maxDelta.toString()]), (rec.qualifiers as Fields[]).map((q) => [q.id, q.value_hex, q.max_delta]), w);
        assert.equal(formatAddress(c.signedBy), rec.signed_by, w);
        assert.equal(toHex(c.signature!), rec.signature, w);
      });
      assert.equal(x.terminated, true, w);
      assert.equal(x.capabilities?.length, f.capability_count, w);
      assert.equal(x.tags?.length, f.tag_count, w);
      assert.equal(x.revocations?.length, f.revocation_count, w);
      assert.equal(x.coos?.length, f.coo_count, w);
      assert.equal(x.coos!.map((c) => toHex(encodeCoo(c))).join(''), f.rest, w);
      again = encodeNetworkCredentials(x);
      break;
    }
    case Verb.NETWORK_CONFIG_REQUEST: {
      onlyKeys(f, ['network_id', 'metadata_len', 'metadata_text', 'metadata', 'have_revision', 'have_timestamp'], w);
      const x = decodeNetworkConfigRequest(payload);
      assert.equal(formatNetworkId(x.networkId), f.network_id, w);
      assert.equal(x.metadata.length, f.metadata_len, w);
      assert.equal(Buffer.from(x.metadata).toString('latin1'), f.metadata_text, w);
      const d = Dictionary.parse(x.metadata);
      for (const [k, v] of Object.entries(f.metadata as Record<string, { text: string; hex: string }>)) assert.equal(toHex(d.get(k)!), v.hex, `${w} ${k}`);
      assert.equal(x.revision, BigInt(f.have_revision), w);
      assert.equal(x.timestamp, BigInt(f.have_timestamp), w);
      again = encodeNetworkConfigRequest(x);
      break;
    }
    case Verb.NETWORK_CONFIG: {
      onlyKeys(f, ['netconf_chunk'], w);
      checkChunk(payload, f.netconf_chunk, w);
      again = encodeNetworkConfigPayload(decodeNetworkConfigPayload(payload));
      break;
    }
    default:
      return false;
  }
  assert.equal(toHex(again), p.payload_hex, `${w}: re-encode`);
  return true;
}

for (const dir of DIRS) {
  test(`${dir}: every packet of a verb with a codec decodes to the recorded fields and re-encodes byte for byte`, () => {
    const mine = packets.filter((p) => p.where.startsWith(`${dir} `));
    const counts = new Map<string, number>();
    for (const p of mine) {
      if (!checkPacket(p)) continue;
      const k = p.verb === Verb.OK || p.verb === Verb.ERROR ? `${p.verb_name}(${p.fields.in_re_verb_name})` : p.verb_name;
      counts.set(k, (counts.get(k) ?? 0) + 1);
    }
    for (const must of ['HELLO', 'OK(HELLO)', 'WHOIS', 'OK(WHOIS)']) assert.ok(counts.get(must), `${dir}: no ${must} checked`);
    if (dir === 'session') {
      for (const must of ['ECHO', 'OK(ECHO)', 'RENDEZVOUS', 'PUSH_DIRECT_PATHS', 'MULTICAST_LIKE', 'MULTICAST_GATHER', 'OK(MULTICAST_GATHER)', 'ERROR(NETWORK_CONFIG_REQUEST)',
        'FRAME', 'MULTICAST_FRAME', 'OK(MULTICAST_FRAME)', 'NETWORK_CREDENTIALS', 'NETWORK_CONFIG_REQUEST', 'NETWORK_CONFIG', 'OK(NETWORK_CONFIG_REQUEST)']) {
        assert.ok(counts.get(must), `session: no ${must} checked`);
      }
    }
  });
}

test('planet-update: OK(HELLO) carries the 283-byte v2 planet with its length', () => {
  const oks = packets.filter((p) => p.where.startsWith('planet-update') && p.verb === Verb.OK && p.fields.in_re_verb === Verb.HELLO);
  const withWorld = oks.map((p) => decodeOk(fromHex(p.payload_hex))).filter((o) => o.kind === 'HELLO' && (o.worldUpdates?.length ?? 0) > 0);
  assert.ok(withWorld.length > 0);
  for (const o of withWorld) assert.equal(o.kind === 'HELLO' && o.worldUpdates!.length, 283);
});

// ---------------------------------------------------------------------------------------------------------------
// hand-made cases the captures lack

const ID = Identity.fromString(
  'c734a53e81:0:079f55d167cad9e2db14b9df442146ed198926ec5a51055cbbdea7222d5393296e0c5dde4b7163511143da670224d66f7d49f35259200f72fe64db4354a761a4',
);

test('HELLO optional fields: each present only if bytes remain, exactly as _doHELLO reads them', () => {
  const base: Hello = { protocolVersion: 12, versionMajor: 1, versionMinor: 14, versionRevision: 1, timestamp: 1795330104559, identity: ID };
  const bare = encodeHello(base);
  assert.equal(bare.length, 13 + 71);
  assert.deepEqual(Object.keys(decodeHello(bare)).sort(), Object.keys(base).sort());
  const nil = decodeHello(encodeHello({ ...base, physicalDestination: null }));
  assert.equal(nil.physicalDestination, null);
  // fewer than 16 bytes after the address: no world fields; they are the (encrypted) tail
  const short = decodeHello(encodeHello({ ...base, physicalDestination: null, encryptedTail: fromHex('7232') }));
  assert.equal(short.planetWorldId, undefined);
  assert.equal(toHex(short.encryptedTail!), '7232');
  assert.throws(() => encodeHello({ ...base, physicalDestination: null, encryptedTail: new Uint8Array(16) }), { code: 'ZT_ERR_BAD_VALUE' });
  assert.throws(() => encodeHello({ ...base, planetWorldId: 1n, planetWorldTimestamp: 2 }), { code: 'ZT_ERR_BAD_VALUE' });
  assert.throws(() => encodeHello({ ...base, physicalDestination: null, planetWorldId: 1n }), { code: 'ZT_ERR_BAD_VALUE' });
  // a type-3 placeholder address is skipped as 1.14 does and read back as null
  const p = new Uint8Array([...bare, 0x03, 0x00, 0x02, 0xaa, 0xbb]);
  assert.equal(decodeHello(p).physicalDestination, null);
  // timestamps that a JS number cannot hold exactly are refused, not rounded
  const big = bare.slice();
  big[5] = 0x01; // timestamp bytes 5..12 → ≥ 2^56
  assert.throws(() => decodeHello(big), { code: 'ZT_ERR_BAD_VALUE' });
  // moons
  const moons: HelloMoon[] = [{ type: 0x7f, id: 0xdeadbeef00n, timestamp: 0 }, { type: 0x7f, id: 2n, timestamp: 1644592324813 }];
  const m = encodeHelloMoons(moons);
  assert.equal(m.length, 2 + 34);
  assert.deepEqual(decodeHelloMoons(m), moons);
  assert.throws(() => decodeHelloMoons(m.subarray(0, 20)), { code: 'ZT_ERR_TRUNCATED' });
  assert.throws(() => decodeHelloMoons(new Uint8Array([...m, 0])), { code: 'ZT_ERR_TRAILING_BYTES' });
  assert.throws(() => decodeHelloMoons(fromHex('ffff')), { code: 'ZT_ERR_TRUNCATED' });
  assert.throws(() => decodeHello(new Uint8Array([12, 1, 14, 0, 1, ...new Uint8Array(8), ...ID.toBinary().subarray(0, 70)])), { code: 'ZT_ERR_TRUNCATED' });
});

test('OK bodies: NETWORK_CONFIG, other in-re verbs raw, kind/verb mismatch refused', () => {
  const nc: Ok = { kind: 'NETWORK_CONFIG', inReVerb: Verb.NETWORK_CONFIG, inRePacketId: 0x0123456789abcdefn, networkId: 0xc734a53e812d3883n, configUpdateId: 0xffffffffffffffffn };
  const b = encodeOk(nc);
  assert.equal(toHex(b), '0c0123456789abcdefc734a53e812d3883ffffffffffffffff');
  assert.deepEqual(decodeOk(b), nc);
  assert.throws(() => decodeOk(new Uint8Array([...b, 0])), { code: 'ZT_ERR_TRAILING_BYTES' });
  assert.throws(() => decodeOk(b.subarray(0, 20)), { code: 'ZT_ERR_TRUNCATED' });
  const other = decodeOk(fromHex('150000000000000001abcd'));
  assert.equal(other.kind, 'OTHER');
  assert.throws(() => encodeOk({ ...nc, inReVerb: Verb.HELLO }), { code: 'ZT_ERR_BAD_VALUE' });
  assert.throws(() => decodeOk(fromHex('0400000000000000')), { code: 'ZT_ERR_TRUNCATED' });
  // OK(WHOIS) needs at least one identity
  assert.throws(() => decodeOk(fromHex('040000000000000001')), { code: 'ZT_ERR_TRUNCATED' });
  // OK(HELLO): physical address and world blob are optional; a declared blob must be all there
  const hello = fromHex('01' + '0000000000000001' + '000001a202035cef' + '0c000000' + '0b');
  assert.deepEqual(Object.keys(decodeOk(hello)).includes('physicalAddress'), false);
  assert.throws(() => decodeOk(new Uint8Array([...hello, 0x00, 0x00, 0x05, 0x01])), { code: 'ZT_ERR_TRUNCATED' });
});

test('ERROR: every code with its payload', () => {
  const base = { inReVerb: Verb.NETWORK_CONFIG_REQUEST, inRePacketId: 7n };
  const cases: ErrorPayload[] = [
    { ...base, code: ErrorCode.INVALID_REQUEST },
    { ...base, code: ErrorCode.BAD_PROTOCOL_VERSION },
    { ...base, code: ErrorCode.IDENTITY_COLLISION },
    { ...base, code: ErrorCode.OBJ_NOT_FOUND, networkId: 0x8056c2e21c000001n },
    { ...base, code: ErrorCode.OBJ_NOT_FOUND },
    { ...base, code: ErrorCode.UNSUPPORTED_OPERATION, networkId: 1n },
    { ...base, code: ErrorCode.NEED_MEMBERSHIP_CERTIFICATE, networkId: 2n },
    { ...base, code: ErrorCode.NETWORK_ACCESS_DENIED, networkId: 3n },
    { ...base, code: ErrorCode.UNWANTED_MULTICAST, networkId: 4n, mac: 0xffffffffffffn, adi: 0xc6130798 },
    { ...base, code: ErrorCode.NETWORK_AUTHENTICATION_REQUIRED, networkId: 5n },
    { ...base, code: ErrorCode.NETWORK_AUTHENTICATION_REQUIRED, networkId: 5n, errorData: new TextEncoder().encode('aV=0\naU=https://x\n') },
    { ...base, code: 0x42, raw: fromHex('0102') },
    { ...base, code: 0x42, raw: new Uint8Array(0) },
  ];
  for (const c of cases) assert.deepEqual(decodeError(encodeError(c)), c, `code ${c.code}`);
  assert.equal(encodeError(cases[2]!).length, 10);
  assert.throws(() => decodeError(fromHex('0b' + '00'.repeat(8) + '04' + '00')), { code: 'ZT_ERR_TRAILING_BYTES' });
  assert.throws(() => decodeError(fromHex('0b' + '00'.repeat(8) + '07' + '0000')), { code: 'ZT_ERR_TRUNCATED' });
  assert.throws(() => decodeError(fromHex('0b' + '00'.repeat(8) + '08' + '00'.repeat(17))), { code: 'ZT_ERR_TRUNCATED' });
  assert.throws(() => decodeError(fromHex('0b' + '00'.repeat(8) + '09' + '00'.repeat(8) + '0005aa')), { code: 'ZT_ERR_TRUNCATED' });
  assert.throws(() => encodeError({ ...base, code: ErrorCode.IDENTITY_COLLISION, networkId: 1n }), { code: 'ZT_ERR_BAD_VALUE' });
  assert.throws(() => encodeError({ ...base, code: ErrorCode.UNWANTED_MULTICAST, networkId: 1n }), { code: 'ZT_ERR_BAD_VALUE' });
});

test('WHOIS, RENDEZVOUS, PUSH_DIRECT_PATHS, MULTICAST_*: malformed input is the right ZtError', () => {
  assert.throws(() => decodeWhois(new Uint8Array(0)), { code: 'ZT_ERR_TRUNCATED' });
  assert.throws(() => decodeWhois(new Uint8Array(7)), { code: 'ZT_ERR_TRAILING_BYTES' });
  assert.deepEqual(decodeWhois(fromHex('c734a53e81ff0000ffff')).addresses, [0xc734a53e81, 0xff0000ffff]);
  assert.throws(() => decodeRendezvous(fromHex('00f558809ade270b05c0000000aa')), (e: unknown) => isZtError(e, 'ZT_ERR_BAD_VALUE') && /length 5/.test(e.message));
  assert.throws(() => decodeRendezvous(fromHex('00f558809ade270b04c00000')), { code: 'ZT_ERR_TRUNCATED' });
  assert.throws(() => decodeRendezvous(fromHex('00f558809ade270b04c000000101')), { code: 'ZT_ERR_TRAILING_BYTES' });
  const r: Rendezvous = { flags: 0, address: 0xf558809ade, endpoint: { family: 4, ip: '192.0.0.12', port: 9995 } };
  assert.deepEqual(decodeRendezvous(encodeRendezvous(r)), r);
  assert.throws(() => decodePushDirectPaths(fromHex('ffff00')), { code: 'ZT_ERR_TRUNCATED' });
  assert.throws(() => decodePushDirectPaths(fromHex('0001' + '00' + '0000' + '04' + '12' + '00'.repeat(18))), { code: 'ZT_ERR_BAD_VALUE' });
  const opaque = decodePushDirectPaths(fromHex('0001' + '01' + '0002abcd' + '09' + '03' + '010203'));
  assert.deepEqual(opaque.paths[0]!.address, { type: 9, raw: fromHex('010203') });
  assert.equal(toHex(encodePushDirectPaths(opaque)), '0001010002abcd0903010203');
  assert.throws(() => decodeMulticastLike(new Uint8Array(19)), { code: 'ZT_ERR_TRAILING_BYTES' });
  assert.deepEqual(decodeMulticastLike(new Uint8Array(0)).groups, []);
  const g = fromHex('c734a53e812d3883' + '00' + '333300000016' + '00000000' + '00000021');
  assert.deepEqual(decodeMulticastGather(g).com, undefined);
  assert.throws(() => decodeMulticastGather(new Uint8Array([...g, 0])), { code: 'ZT_ERR_TRAILING_BYTES' });
  const withFlag = g.slice();
  withFlag[8] = 1;
  assert.throws(() => decodeMulticastGather(withFlag), { code: 'ZT_ERR_TRUNCATED' });
  // COM: type must be 1, at most 8 qualifiers, signature only when signedBy ≠ 0
  assert.throws(() => decodeMulticastGather(new Uint8Array([...withFlag, 2, 0, 0, 0, 0, 0, 0, 0])), { code: 'ZT_ERR_BAD_VALUE' });
  assert.throws(() => decodeMulticastGather(new Uint8Array([...withFlag, 1, 0, 9])), { code: 'ZT_ERR_BAD_VALUE' });
  const unsigned = decodeMulticastGather(new Uint8Array([...withFlag, 1, 0, 0, 0, 0, 0, 0, 0]));
  assert.equal(unsigned.com!.length, 8);
  assert.throws(() => encodeMulticastGather({ ...unsigned, flags: 0 }), { code: 'ZT_ERR_BAD_VALUE' });
});

// ---------------------------------------------------------------------------------------------------------------
// properties

// plain-prototype records, so deepEqual against our decoders' object literals holds
const rec = <T,>(model: { [K in keyof T]: fc.Arbitrary<T[K]> }): fc.Arbitrary<T> => fc.record(model, { noNullPrototype: true });
const u8 = fc.integer({ min: 0, max: 0xff });
const u16 = fc.integer({ min: 0, max: 0xffff });
const u32 = fc.integer({ min: 0, max: 0xffffffff });
const u40 = fc.integer({ min: 0, max: 2 ** 40 - 1 });
const u48 = fc.bigInt({ min: 0n, max: (1n << 48n) - 1n });
const u64 = fc.bigInt({ min: 0n, max: (1n << 64n) - 1n });
const ms = fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER });
const bytes = (max: number): fc.Arbitrary<Uint8Array> => fc.uint8Array({ maxLength: max });
const identity = fc.tuple(u40, fc.uint8Array({ minLength: 64, maxLength: 64 })).map(([a, pub]) => {
  const b = new Uint8Array(71);
  b[0] = Math.floor(a / 2 ** 32);
  new DataView(b.buffer).setUint32(1, a >>> 0);
  b.set(pub, 6);
  return Identity.fromBinary(b);
});
const v4 = fc.tuple(fc.uint8Array({ minLength: 4, maxLength: 4 }), u16).map(([b, port]): InetAddress => ({ family: 4, ip: [...b].join('.'), port }));
const v6 = fc.tuple(fc.array(u16, { minLength: 8, maxLength: 8 }), u16).filter(([g]) => !(g.slice(0, 5).every((x) => x === 0) && g[5] === 0xffff))
  .map(([g, port]): InetAddress => {
    const b = new Uint8Array(16);
    g.forEach((x, i) => new DataView(b.buffer).setUint16(2 * i, x));
    return { family: 6, ip: decodeRendezvous(new Uint8Array([0, 0, 0, 0, 0, 0, 0, 0, 16, ...b])).endpoint.ip, port };
  });
const inet = fc.oneof(v4, v6);

const helloArb: fc.Arbitrary<Hello> = fc
  .record({
    protocolVersion: u8, versionMajor: u8, versionMinor: u8, versionRevision: u16, timestamp: ms, identity,
    dest: fc.option(fc.option(inet, { nil: null }), { nil: undefined }),
    world: fc.option(fc.tuple(u64, ms), { nil: undefined }),
    tail: fc.option(fc.uint8Array({ minLength: 1, maxLength: 60 }), { nil: undefined }),
  })
  .map(({ dest, world, tail, ...h }) => {
    const x: Hello = { ...h };
    if (dest === undefined) return x;
    x.physicalDestination = dest;
    if (world !== undefined) [x.planetWorldId, x.planetWorldTimestamp] = world;
    if (tail !== undefined && (world !== undefined || tail.length < 16)) x.encryptedTail = tail;
    return x;
  });

const comArb = fc.tuple(fc.integer({ min: 0, max: 8 }), u40).chain(([n, signer]) =>
  fc.uint8Array({ minLength: n * 24 + (signer ? 96 : 0), maxLength: n * 24 + (signer ? 96 : 0) }).map((body) => {
    const b = new Uint8Array(3 + n * 24 + 5 + (signer ? 96 : 0));
    b[0] = 1;
    b[2] = n;
    b.set(body.subarray(0, n * 24), 3);
    b[3 + n * 24] = Math.floor(signer / 2 ** 32);
    new DataView(b.buffer).setUint32(4 + n * 24, signer >>> 0);
    b.set(body.subarray(n * 24), 8 + n * 24);
    return b;
  }),
);
const okArb: fc.Arbitrary<Ok> = fc.oneof(
  rec({ inRePacketId: u64, timestampEcho: ms, protocolVersion: u8, versionMajor: u8, versionMinor: u8, versionRevision: u16, addr: fc.option(fc.option(inet, { nil: null }), { nil: undefined }), worlds: fc.option(bytes(300), { nil: undefined }) })
    .map(({ addr, worlds, ...o }): Ok => {
      const x: Ok = { kind: 'HELLO', inReVerb: Verb.HELLO, ...o };
      if (addr !== undefined) {
        x.physicalAddress = addr;
        if (worlds !== undefined) x.worldUpdates = worlds;
      }
      return x;
    }),
  rec({ inRePacketId: u64, identities: fc.array(identity, { minLength: 1, maxLength: 3 }) }).map((o): Ok => ({ kind: 'WHOIS', inReVerb: Verb.WHOIS, ...o })),
  rec({ inRePacketId: u64, payload: bytes(100) }).map((o): Ok => ({ kind: 'ECHO', inReVerb: Verb.ECHO, ...o })),
  rec({ inRePacketId: u64, networkId: u64, mac: u48, adi: u32, totalKnown: u32, members: fc.array(u40, { maxLength: 20 }) }).map((o): Ok => ({ kind: 'MULTICAST_GATHER', inReVerb: Verb.MULTICAST_GATHER, ...o })),
  rec({ inRePacketId: u64, networkId: u64, configUpdateId: u64 }).map((o): Ok => ({ kind: 'NETWORK_CONFIG', inReVerb: Verb.NETWORK_CONFIG, ...o })),
  fc
    .record({ inRePacketId: u64, networkId: u64, mac: u48, adi: u32, flags: u8, com: fc.constant(null), totalKnown: u32, members: fc.array(u40, { maxLength: 20 }) })
    .chain((o) => fc.tuple(fc.constant(o), comArb))
    .map(([{ com: _c, totalKnown, members, ...o }, com]): Ok => {
      const x: Ok = { kind: 'MULTICAST_FRAME', inReVerb: Verb.MULTICAST_FRAME, ...o };
      if (o.flags & 1) x.com = com;
      if (o.flags & 2) Object.assign(x, { totalKnown, members });
      return x;
    }),
  rec({ inReVerb: u8.filter((v) => ![1, 4, 8, 0x0c, 0x0d, 0x0e].includes(v)), inRePacketId: u64, body: bytes(100) }).map((o): Ok => ({ kind: 'OTHER', ...o })),
);

const errorArb: fc.Arbitrary<ErrorPayload> = fc
  .record({ inReVerb: u8, inRePacketId: u64, code: fc.oneof(fc.integer({ min: 0, max: 9 }), u8), nwid: fc.option(u64, { nil: undefined }), mac: u48, adi: u32, data: fc.option(bytes(50), { nil: undefined }) })
  .map(({ nwid, mac, adi, data, ...e }): ErrorPayload => {
    if ([0, 1, 2, 4].includes(e.code)) return e;
    if (e.code === 8) return { ...e, networkId: nwid ?? 0n, mac, adi };
    if ([3, 5, 6, 7, 9].includes(e.code)) {
      if (nwid === undefined) return e;
      return data === undefined ? { ...e, networkId: nwid } : { ...e, networkId: nwid, errorData: data };
    }
    return { ...e, raw: data ?? new Uint8Array(0) };
  });

const pdpArb: fc.Arbitrary<PushDirectPaths> = rec({
  paths: fc.array(
    rec({
      flags: u8,
      ext: bytes(10),
      address: fc.oneof(inet, rec({ type: u8.filter((t) => t !== 4 && t !== 6), raw: bytes(20) })),
    }),
    { maxLength: 8 },
  ),
});
const likeArb: fc.Arbitrary<MulticastLike> = rec({ groups: fc.array(rec({ networkId: u64, mac: u48, adi: u32 }), { maxLength: 10 }) });
const gatherArb: fc.Arbitrary<MulticastGather> = fc
  .record({ networkId: u64, flags: u8, mac: u48, adi: u32, gatherLimit: u32, com: comArb })
  .map(({ com, ...g }) => ((g.flags & 1) !== 0 ? { ...g, com } : g));
const whoisArb: fc.Arbitrary<Whois> = rec({ addresses: fc.array(u40, { minLength: 1, maxLength: 10 }) });
const rdvArb: fc.Arbitrary<Rendezvous> = rec({ flags: u8, address: u40, endpoint: inet });
const moonsArb: fc.Arbitrary<HelloMoon[]> = fc.array(rec({ type: u8, id: u64, timestamp: ms }), { maxLength: 5 });

interface Codec { name: string; verb?: number; decode: (b: Uint8Array) => unknown; encode: (x: never) => Uint8Array; arb: fc.Arbitrary<unknown> }
const frameArb: fc.Arbitrary<Frame> = rec({ networkId: u64, etherType: u16, payload: bytes(100) });
const extFrameArb: fc.Arbitrary<ExtFrame> = fc
  .record({ networkId: u64, flags: u8, com: comArb, to: u48, from: u48, etherType: u16, payload: bytes(100) })
  .map(({ com, ...x }) => ((x.flags & 1) !== 0 ? { ...x, com } : x));
const mcFrameArb: fc.Arbitrary<MulticastFrame> = fc
  .record({ networkId: u64, flags: u8, com: comArb, gatherLimit: u32, source: u48, dest: u48, adi: u32, etherType: u16, payload: bytes(100) })
  .map(({ com, gatherLimit, source, ...x }) => {
    const y: MulticastFrame = { networkId: x.networkId, flags: x.flags } as MulticastFrame;
    if (x.flags & 1) y.com = com;
    if (x.flags & 2) y.gatherLimit = gatherLimit;
    if (x.flags & 4) y.source = source;
    return Object.assign(y, { dest: x.dest, adi: x.adi, etherType: x.etherType, payload: x.payload });
  });
const ncrArb: fc.Arbitrary<NetworkConfigRequest> = fc
  .record({ networkId: u64, metadata: bytes(300), tail: fc.option(fc.tuple(u64, u64), { nil: undefined }) })
  .map(({ tail, ...x }) => (tail === undefined ? x : { ...x, revision: tail[0], timestamp: tail[1] }));
const chunkArb = fc.oneof(
  rec({ networkId: u64, data: bytes(100) }).map((x) => ({ kind: 'legacy' as const, ...x })),
  fc
    .record({ networkId: u64, data: bytes(100), flags: u8, updateId: u64, extra: fc.nat({ max: 1000 }), index: fc.nat({ max: 1000 }), signature: fc.uint8Array({ minLength: 96, maxLength: 96 }) })
    .map(({ extra, ...x }) => ({ kind: 'signed' as const, ...x, totalLength: x.index + x.data.length + extra })),
);

const codecs: Codec[] = [
  { name: 'HELLO', verb: Verb.HELLO, decode: decodeHello, encode: encodeHello, arb: helloArb },
  { name: 'HELLO moons', decode: decodeHelloMoons, encode: encodeHelloMoons, arb: moonsArb },
  { name: 'OK', verb: Verb.OK, decode: decodeOk, encode: encodeOk, arb: okArb },
  { name: 'ERROR', verb: Verb.ERROR, decode: decodeError, encode: encodeError, arb: errorArb },
  { name: 'WHOIS', verb: Verb.WHOIS, decode: decodeWhois, encode: encodeWhois, arb: whoisArb },
  { name: 'RENDEZVOUS', verb: Verb.RENDEZVOUS, decode: decodeRendezvous, encode: encodeRendezvous, arb: rdvArb },
  { name: 'ECHO', verb: Verb.ECHO, decode: decodeEcho, encode: encodeEcho, arb: rec({ payload: bytes(100) }) },
  { name: 'PUSH_DIRECT_PATHS', verb: Verb.PUSH_DIRECT_PATHS, decode: decodePushDirectPaths, encode: encodePushDirectPaths, arb: pdpArb },
  { name: 'MULTICAST_LIKE', verb: Verb.MULTICAST_LIKE, decode: decodeMulticastLike, encode: encodeMulticastLike, arb: likeArb },
  { name: 'MULTICAST_GATHER', verb: Verb.MULTICAST_GATHER, decode: decodeMulticastGather, encode: encodeMulticastGather, arb: gatherArb },
  { name: 'FRAME', verb: Verb.FRAME, decode: decodeFrame, encode: encodeFrame, arb: frameArb },
  { name: 'EXT_FRAME', verb: Verb.EXT_FRAME, decode: decodeExtFrame, encode: encodeExtFrame, arb: extFrameArb },
  { name: 'MULTICAST_FRAME', verb: Verb.MULTICAST_FRAME, decode: decodeMulticastFrame, encode: encodeMulticastFrame, arb: mcFrameArb },
  { name: 'NETWORK_CONFIG_REQUEST', verb: Verb.NETWORK_CONFIG_REQUEST, decode: decodeNetworkConfigRequest, encode: encodeNetworkConfigRequest, arb: ncrArb },
  { name: 'NETWORK_CONFIG', verb: Verb.NETWORK_CONFIG, decode: decodeNetworkConfigPayload, encode: encodeNetworkConfigPayload, arb: chunkArb },
];

for (const c of codecs) {
  test(`property ${c.name}: decode(encode(x)) deep-equals x`, () => {
    fc.assert(
      fc.property(c.arb, (x) => {
        assert.deepEqual(c.decode(c.encode(x as never)), x);
      }),
      { numRuns: 300, seed: 31 },
    );
  });
}

/** Decode must return or throw ZtError; what it returns must re-encode, and re-decode to the same thing. */
function fuzzOne(c: Codec, b: Uint8Array): void {
  let x: unknown;
  try {
    x = c.decode(b);
  } catch (e) {
    if (!isZtError(e)) throw e;
    return;
  }
  const again = c.encode(x as never);
  assert.equal(toHex(c.encode(c.decode(again) as never)), toHex(again), `${c.name} ${toHex(b)}`);
}

for (const c of codecs) {
  const seeds = c.verb === undefined
    ? packets.filter((p) => p.verb === Verb.HELLO && p.fields.encrypted_tail_decrypted_hex).map((p) => fromHex(p.fields.encrypted_tail_decrypted_hex))
    : packets.filter((p) => p.verb === c.verb).map((p) => fromHex(p.payload_hex));
  test(`fuzz ${c.name}: random, truncated and mutated payloads (seeded from ${seeds.length} captured ones) give only ZtError`, () => {
    fc.assert(fc.property(bytes(400), (b) => fuzzOne(c, b)), { numRuns: 500, seed: 41 });
    if (seeds.length === 0) return;
    fc.assert(
      fc.property(
        fc.nat({ max: seeds.length - 1 }),
        fc.array(fc.tuple(fc.nat(), u8), { maxLength: 4 }),
        fc.nat(),
        fc.boolean(),
        (which, edits, cut, truncate) => {
          const s = seeds[which]!;
          const b = truncate ? s.slice(0, cut % (s.length + 1)) : s.slice();
          for (const [at, v] of edits) if (b.length > 0) b[at % b.length] = v;
          fuzzOne(c, b);
        },
      ),
      { numRuns: 1500, seed: 42 },
    );
  });
}

test('VL2 frames: EXT_FRAME with an inline COM, MULTICAST_FRAME with every optional field, in 1.14\'s field order', () => {
  // a real COM from the session capture (c1's, pushed in NETWORK_CREDENTIALS)
  const cred = packets.find((p) => p.verb === Verb.NETWORK_CREDENTIALS)!;
  const com = fromHex(cred.fields.coms[0].raw);
  const ext: ExtFrame = { networkId: 0xc734a53e812d3883n, flags: 0x11, com, to: 0x32aabbccddeen, from: 0x320c4d01372dn, etherType: 0x0800, payload: fromHex('4500') };
  const b = encodeExtFrame(ext);
  assert.equal(toHex(b), `c734a53e812d3883 11 ${toHex(com)} 32aabbccddee 320c4d01372d 0800 4500`.replace(/ /g, ''));
  assert.deepEqual(decodeExtFrame(b), ext);
  assert.throws(() => encodeExtFrame({ ...ext, flags: 0x10 }), { code: 'ZT_ERR_BAD_VALUE' });
  assert.throws(() => decodeExtFrame(b.subarray(0, 9 + com.length + 11)), { code: 'ZT_ERR_TRUNCATED' });
  const mf: MulticastFrame = { networkId: 1n, flags: 0x0f, com, gatherLimit: 33, source: 0x02aabbccddeen, dest: 0xffffffffffffn, adi: 0x0a931105, etherType: 0x0806, payload: fromHex('0001') };
  assert.equal(toHex(encodeMulticastFrame(mf)), `0000000000000001 0f ${toHex(com)} 00000021 02aabbccddee ffffffffffff 0a931105 0806 0001`.replace(/ /g, ''));
  assert.deepEqual(decodeMulticastFrame(encodeMulticastFrame(mf)), mf);
  assert.throws(() => encodeMulticastFrame({ ...mf, flags: 0x0b }), { code: 'ZT_ERR_BAD_VALUE' });
  // OK(MULTICAST_FRAME) with the deprecated COM before the gather results
  const ok: Ok = { kind: 'MULTICAST_FRAME', inReVerb: Verb.MULTICAST_FRAME, inRePacketId: 5n, networkId: 1n, mac: 0xffffffffffffn, adi: 7, flags: 3, com, totalKnown: 2, members: [0x89e92ceee5] };
  assert.equal(toHex(encodeOk(ok)), `0e 0000000000000005 0000000000000001 ffffffffffff 00000007 03 ${toHex(com)} 00000002 0001 89e92ceee5`.replace(/ /g, ''));
  assert.deepEqual(decodeOk(encodeOk(ok)), ok);
  // NETWORK_CONFIG_REQUEST: revision/timestamp optional on read, both or neither on write
  const r = decodeNetworkConfigRequest(fromHex('0000000000000001' + '0002' + '763d'));
  assert.deepEqual(r, { networkId: 1n, metadata: fromHex('763d') });
  assert.throws(() => decodeNetworkConfigRequest(fromHex('0000000000000001' + '0000' + '00')), { code: 'ZT_ERR_TRUNCATED' });
  assert.throws(() => encodeNetworkConfigRequest({ ...r, revision: 1n }), { code: 'ZT_ERR_BAD_VALUE' });
});
