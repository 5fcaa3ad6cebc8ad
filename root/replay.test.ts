/**
 * Replay: our root, holding the recorded root identity of shared/vectors/session/ and the testbed planet,
 * answers every recorded client HELLO (sent byte for byte as ZeroTier One 1.14.1 sent it) with an
 * OK(HELLO) that the recorded client's own keys dearmor and decode — and, the packets being replays from an
 * address the clients never answer at, adopts no path for them (root/path-probes.ts).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { once } from 'node:events';
import { Identity } from '../vl1/identity.js';
import { PeerKey } from '../vl1/peer-key.js';
import { Verb } from '../vl1/constants.js';
import { fromHex } from '../vl1/bytes.js';
import { openPacket, packetId } from '../vl1/packet.js';
import { decodeOk } from '../vl1/verbs/ok.js';
import { decodeHello } from '../vl1/verbs/hello.js';
import { formatAddress } from '../vl1/address.js';
import { parseWorlds } from '../planet/world.js';
import { RootServer } from './root-server.js';
import { IdentityValidator } from './identity-validator.js';
import { readVectorBytes, readVectorJson, readVectorText } from '../test/vectors.js';

interface Captured { kind: string; verb_name?: string; dest?: string; source?: string; wire_hex?: string; frame?: number }

test('recorded 1.14.1 client HELLOs get OK(HELLO)s the recorded clients can open', async () => {
  const rootId = Identity.fromString(readVectorText('session', 'root.identity.secret').trim());
  const clients = new Map<string, Identity>();
  for (const name of ['c1', 'c2', 'c3']) {
    const id = Identity.fromString(readVectorText('session', `${name}.identity.secret`).trim());
    clients.set(formatAddress(id.address), id);
  }
  const decoded = readVectorJson<{ packets: Captured[] }>('session', 'decoded.json');
  const hellos = decoded.packets.filter((p) => p.kind === 'packet' && p.verb_name === 'HELLO' && p.dest === formatAddress(rootId.address) && clients.has(p.source!));
  assert.ok(hellos.length >= 12, `expected the clients' HELLOs to the root, found ${hellos.length}`);

  const validator = new IdentityValidator({ workers: 1 });
  const root = new RootServer({ port: 0, bind4: '127.0.0.1', bind6: null, repliesPerPeerPerSecond: 1000 }, { identity: rootId, planet: readVectorBytes('planets', 'testbed-planet.bin'), validator });
  await root.start();
  const sock = dgram.createSocket('udp4');
  sock.bind(0, '127.0.0.1');
  await once(sock, 'listening');
  const replies: Uint8Array[] = [];
  sock.on('message', (m) => replies.push(new Uint8Array(m)));
  try {
    let answered = 0;
    for (const h of hellos) {
      const wire = fromHex(h.wire_hex!);
      const client = clients.get(h.source!)!;
      const key = new PeerKey(client.agree(rootId));
      const sentHello = decodeHello(wire.subarray(28));
      replies.length = 0;
      sock.send(wire, root.port, '127.0.0.1');
      const deadline = Date.now() + 3000;
      while (replies.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
      await new Promise((r) => setTimeout(r, 20));
      // The OK(HELLO), and (at most once a second per address) an ECHO probing this address, which no one here answers.
      const verbs = replies.map((m) => openPacket(m.slice(), key).verb);
      assert.equal(verbs.filter((v) => v === Verb.OK).length, 1, `frame ${h.frame}: one OK (${verbs.join(', ')})`);
      assert.ok(verbs.every((v) => v === Verb.OK || v === Verb.ECHO), `frame ${h.frame}: nothing but the OK and a probe (${verbs.join(', ')})`);
      const opened = openPacket(replies.find((m) => openPacket(m.slice(), key).verb === Verb.OK)!, key);
      assert.equal(opened.verb, Verb.OK, `frame ${h.frame}`);
      const ok = decodeOk(opened.payload);
      assert.ok(ok.kind === 'HELLO', `frame ${h.frame}: OK in re HELLO`);
      assert.equal(ok.inRePacketId, packetId(wire));
      assert.equal(ok.timestampEcho, sentHello.timestamp);
      assert.ok(ok.protocolVersion >= 4);
      assert.deepEqual(ok.physicalAddress, { family: 4, ip: '127.0.0.1', port: sock.address().port });
      // The clients held the testbed planet itself: nothing newer to send.
      assert.deepEqual(parseWorlds(ok.worldUpdates ?? new Uint8Array(0)), []);
      answered++;
    }
    assert.equal(answered, hellos.length);
    assert.equal(root.peers.size, clients.size);
    // Recorded packets from an address the clients never answered at: the root knows them, but no path moved here.
    for (const id of clients.values()) assert.equal(root.peers.get(id.address)?.ip4, '', `${formatAddress(id.address)} has no path`);
  } finally {
    sock.close();
    await root.stop();
    await validator.close();
  }
});
