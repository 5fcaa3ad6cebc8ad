/**
 * Replays every packet ZeroTier One 1.14.1 put on the wire in the shared captures (session/, tcp-fallback/,
 * planet-update/) through our VL1 core:
 *  - the header fields we read equal the recorded ones;
 *  - dearmoring with the key our identities agree gives the recorded verb byte and, after LZ4, the
 *    recorded payload;
 *  - re-armoring the dearmored packet with the same IV (and the same hop count) gives the captured bytes;
 *  - HELLO's encrypted moon tail decrypts to the recorded bytes.
 * (Field-level decoding of each verb is checked in vl1/verbs/*.test.ts against the same captures.)
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { Identity } from '../vl1/identity.js';
import { PeerKey } from '../vl1/peer-key.js';
import {
  armor,
  cipherSuite,
  cryptField,
  dearmor,
  getHops,
  openPacket,
  packetDest,
  packetSource,
  setHops,
} from '../vl1/packet.js';
import { formatAddress } from '../vl1/address.js';
import { fromHex, toHex } from '../vl1/bytes.js';
import { decodeHello } from '../vl1/verbs/hello.js';
import { readVectorJson, readVectorText, vectorPath } from '../test/vectors.js';

interface CapturedPacket {
  frame?: number;
  kind: string;
  wire_hex?: string;
  packet_id?: string;
  dest?: string;
  source?: string;
  flags_byte?: string;
  cipher_suite?: number;
  hops?: number;
  verb_byte_decrypted?: string;
  compressed_lz4?: boolean;
  compressed_payload_hex?: string;
  verb?: number;
  verb_name?: string;
  payload_hex?: string;
  fields?: Record<string, unknown>;
}

interface Capture {
  dir: string;
  identities: Map<string, Identity>; // by address hex
  packets: CapturedPacket[];
}

function loadCapture(dir: string): Capture {
  const decoded = readVectorJson(dir, 'decoded.json');
  const identities = new Map<string, Identity>();
  for (const f of readdirSync(vectorPath(dir)).filter((n) => n.endsWith('.identity.secret'))) {
    const id = Identity.fromString(readVectorText(dir, f).trim());
    identities.set(formatAddress(id.address), id);
  }
  let packets: CapturedPacket[] = [];
  if (Array.isArray(decoded.packets)) packets = decoded.packets;
  if (Array.isArray(decoded.tcp_records)) {
    for (const r of decoded.tcp_records) if (r.inner_packet) packets.push(r.inner_packet);
  }
  if (Array.isArray(decoded.root_loopback_udp_packets)) packets = packets.concat(decoded.root_loopback_udp_packets);
  return { dir, identities, packets: packets.filter((p) => p.kind === 'packet') };
}

const captures = ['session', 'tcp-fallback', 'planet-update'].map(loadCapture);

for (const cap of captures) {
  test(`${cap.dir}: every captured packet dearmors to the recorded payload and re-armors to the same bytes`, () => {
    assert.ok(cap.packets.length > 50, `expected many packets in ${cap.dir}, got ${cap.packets.length}`);
    const keys = new Map<string, PeerKey>();
    const keyFor = (a: string, b: string): PeerKey => {
      const k = a < b ? `${a}-${b}` : `${b}-${a}`;
      let pk = keys.get(k);
      if (!pk) {
        const ia = cap.identities.get(a);
        const ib = cap.identities.get(b);
        assert.ok(ia && ib, `no identity for ${a} or ${b} in ${cap.dir}`);
        pk = new PeerKey(ia.agree(ib));
        keys.set(k, pk);
      }
      return pk;
    };
    const suites = new Set<number>();
    let compressed = 0;
    let hellos = 0;
    for (const p of cap.packets) {
      const where = `${cap.dir} frame ${p.frame} (${p.verb_name})`;
      const wire = fromHex(p.wire_hex!);
      assert.equal(formatAddress(packetDest(wire)), p.dest, where);
      assert.equal(formatAddress(packetSource(wire)), p.source, where);
      assert.equal(cipherSuite(wire), p.cipher_suite, where);
      assert.equal(getHops(wire), p.hops, where);
      const key = keyFor(p.dest!, p.source!);
      suites.add(p.cipher_suite!);

      // dearmor in place; the verb byte and the (possibly compressed) payload are then in clear
      const pkt = wire.slice();
      const iv = dearmor(pkt, key); // the packet id before armoring (suite 3: recovered from the tag)
      assert.equal(toHex(pkt.subarray(27, 28)), p.verb_byte_decrypted, where);
      const onWirePayload = p.compressed_lz4 ? p.compressed_payload_hex : p.payload_hex;
      assert.equal(toHex(pkt.subarray(28)), onWirePayload, where);

      // openPacket = dearmor + LZ4: the recorded payload after decompression
      const opened = openPacket(wire.slice(), key);
      assert.equal(opened.verb, p.verb, where);
      assert.equal(opened.compressed, !!p.compressed_lz4, where);
      assert.equal(toHex(opened.payload), p.payload_hex, where);
      if (p.compressed_lz4) compressed++;

      // re-armor: the same IV and hop count give the captured bytes
      const again = pkt.slice();
      again.set(iv, 0);
      setHops(again, 0);
      armor(again, key, p.cipher_suite as 0 | 1 | 3);
      setHops(again, p.hops!);
      assert.equal(toHex(again), p.wire_hex, `${where}: re-armor`);

      if (p.verb_name === 'HELLO') {
        hellos++;
        const hello = decodeHello(opened.payload);
        const f = p.fields as { encrypted_tail_wire_hex?: string; encrypted_tail_decrypted_hex?: string; encrypted_tail_offset_in_payload?: number };
        if (f.encrypted_tail_wire_hex !== undefined) {
          assert.equal(toHex(hello.encryptedTail ?? new Uint8Array(0)), f.encrypted_tail_wire_hex, where);
          const tail = pkt.slice();
          const start = 28 + f.encrypted_tail_offset_in_payload!;
          cryptField(tail, key, start, tail.length - start);
          assert.equal(toHex(tail.subarray(start)), f.encrypted_tail_decrypted_hex, `${where}: cryptField`);
        }
      }
    }
    if (cap.dir === 'session') {
      assert.deepEqual([...suites].sort(), [0, 1, 3], 'the session capture exercises suites 0, 1 and 3');
      assert.ok(compressed > 0, 'the session capture has LZ4-compressed packets');
    }
    assert.ok(hellos > 0, `${cap.dir} has HELLOs`);
  });

  test(`${cap.dir}: any flipped bit outside the hop field makes dearmor fail with BAD_MAC`, () => {
    const sample = cap.packets.filter((_, i) => i % 17 === 0);
    for (const p of sample) {
      const wire = fromHex(p.wire_hex!);
      const a = cap.identities.get(p.dest!)!;
      const b = cap.identities.get(p.source!)!;
      const key = new PeerKey(a.agree(b));
      // a bit in the payload, the MAC, the source address, and the packet id
      for (const [byte, bit] of [[wire.length - 1, 0x01], [19, 0x80], [13, 0x10], [3, 0x04]] as const) {
        const bad = wire.slice();
        bad[byte]! ^= bit;
        assert.throws(() => dearmor(bad, key), { code: 'ZT_ERR_BAD_MAC' }, `${cap.dir} frame ${p.frame} byte ${byte}`);
      }
    }
  });
}
