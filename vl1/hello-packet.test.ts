/**
 * buildHelloPacket against ZeroTier One 1.14.1 itself: every HELLO the recorded clients sent (shared/vectors/
 * session/), rebuilt from its decoded fields with its packet id, is the captured datagram byte for byte.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Identity } from './identity.js';
import { fromHex, toHex } from './bytes.js';
import { formatAddress } from './address.js';
import { buildHelloPacket } from './hello-packet.js';
import { decodeHello } from './verbs/hello.js';
import { readVectorJson, readVectorText } from '../test/vectors.js';

interface Captured { kind: string; verb_name?: string; source?: string; dest?: string; wire_hex?: string; frame?: number }

test('every captured 1.14.1 HELLO is rebuilt byte for byte from its fields', () => {
  const ids = new Map<string, Identity>();
  for (const name of ['root', 'c1', 'c2', 'c3']) {
    const id = Identity.fromString(readVectorText('session', `${name}.identity.secret`).trim());
    ids.set(formatAddress(id.address), id);
  }
  const hellos = readVectorJson<{ packets: Captured[] }>('session', 'decoded.json').packets.filter((p) => p.kind === 'packet' && p.verb_name === 'HELLO');
  let rebuilt = 0;
  for (const h of hellos) {
    const from = ids.get(h.source!);
    const to = ids.get(h.dest!);
    if (from === undefined || to === undefined) continue;
    const wire = fromHex(h.wire_hex!);
    const f = decodeHello(wire.subarray(28));
    // Only plain 1.14.1 HELLOs: suite 0 with the moon list (empty) after the world fields.
    if ((wire[18]! >> 3) & 7 || f.planetWorldId === undefined || f.encryptedTail?.length !== 2) continue;
    const pkt = buildHelloPacket({
      from,
      to,
      physicalDestination: f.physicalDestination!,
      planet: { id: f.planetWorldId, timestamp: f.planetWorldTimestamp! },
      timestamp: f.timestamp,
      version: { protocol: f.protocolVersion, major: f.versionMajor, minor: f.versionMinor, revision: f.versionRevision },
      packetId: wire.subarray(0, 8),
    });
    assert.equal(toHex(pkt), h.wire_hex, `frame ${h.frame}`);
    rebuilt++;
  }
  assert.ok(rebuilt >= 12, `the captured HELLOs were rebuilt (${rebuilt})`);
});
