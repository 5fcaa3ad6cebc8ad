/**
 * End to end through real NATs: our root in one network namespace, two VL1 clients each behind its own
 * Linux NAT (iptables MASQUERADE) in others, built by test/netns.ts. With ordinary (port-preserving)
 * NATs the clients first reach each other through the root, are introduced by RENDEZVOUS, punch
 * through, and go direct. With `--random-fully` NATs (a new random port per destination, i.e. symmetric)
 * the punched ports are wrong, so they stay relayed — and traffic keeps flowing through the root.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Identity } from '../vl1/identity.js';
import { formatAddress } from '../vl1/address.js';
import { c25519Generate } from '../vl1/c25519.js';
import { serializeWorld, signWorld } from '../planet/world.js';
import { netnsUnavailableReason, withTopology, type Topology } from './netns.js';
import { readVectorJson, REPO_ROOT } from './vectors.js';
import { watchJsonLines } from './json-lines.js';
import { startLeaf } from './fleet-hosts.js';

const CLI = join(REPO_ROOT, 'dist', 'tools', 'cli.js');
const skip = netnsUnavailableReason();
if (skip) console.log(`# NAT tests skipped: ${skip}`);

const ids = readVectorJson<{ identities: { secret_string: string }[] }>('identities.json').identities.map((i) => Identity.fromString(i.secret_string));
const [rootId, aId, bId] = ids as [Identity, Identity, Identity];

/** Starts our root in the topology's root namespace with a planet listing it at 192.0.0.1/9993. */
async function startRoot(t: Topology): Promise<{ planet: Uint8Array }> {
  const dir = mkdtempSync(join(tmpdir(), 'ztroot-nat-'));
  writeFileSync(join(dir, 'identity.secret'), rootId.toString(true), { mode: 0o600 });
  const key = c25519Generate();
  const planet = serializeWorld(
    signWorld(
      { type: 'planet', id: 0x5eed0123n, timestamp: Date.now(), updatesMustBeSignedBy: key.publicKey, roots: [{ identity: rootId.publicOnly(), stableEndpoints: [{ family: 4, ip: t.root.ip4, port: 9993 }] }] },
      key,
    ),
  );
  writeFileSync(join(dir, 'planet'), planet);
  const child = t.spawn(t.root.ns, process.execPath, [CLI, 'start', '--state-dir', dir, '--bind4', t.root.ip4, '--bind6', 'none', '--port', '9993'], { stdio: ['pipe', 'pipe', 'pipe'] });
  await watchJsonLines(child, 'root').waitFor((l) => l.msg === 'root started', 15_000, 'root started');
  return { planet };
}

/** The root, then B (waits) and A (pings B, 60 pings at 2/s) each behind its NAT, both online; returns A's event stream. */
async function rootAndPair(t: Topology) {
  const { planet } = await startRoot(t);
  const [na, nb] = t.nats as [Topology['nats'][0], Topology['nats'][0]];
  await startLeaf({ topo: t }, nb.clients[0]!, bId, planet);
  const a = await startLeaf({ topo: t }, na.clients[0]!, aId, planet);
  a.send({ cmd: 'ping', tag: 'nat', peer: formatAddress(bId.address), count: 60, intervalMs: 500, timeoutMs: 2000 });
  return a.events;
}

test('cone NATs: relayed through the root first, then direct after RENDEZVOUS', { skip: skip ?? false, timeout: 120_000 }, async () => {
  await withTopology({ nats: [{ clients: 1 }, { clients: 1 }], ipv6: false }, async (t) => {
    const a = await rootAndPair(t);
    await a.waitFor((l) => l.event === 'ping' && l.via === 'relayed', 20_000, 'a relayed ping');
    // RENDEZVOUS came with the first relayed packet; punching takes a round trip or two.
    await a.waitFor((l) => l.event === 'ping' && l.via === 'direct', 30_000, 'a direct ping');
    const pings = a.lines.filter((l) => l.event === 'ping').sort((x, y) => (x.seq as number) - (y.seq as number));
    const firstDirect = pings.findIndex((l) => l.via === 'direct');
    assert.equal(pings[0]!.via, 'relayed', 'the first ping goes through the root');
    assert.ok(firstDirect > 0);
  });
});

test('symmetric (--random-fully) NATs: the punch fails, the pair stays relayed, and pings keep flowing', { skip: skip ?? false, timeout: 120_000 }, async () => {
  await withTopology({ nats: [{ clients: 1, randomFully: true }, { clients: 1, randomFully: true }], ipv6: false }, async (t) => {
    const a = await rootAndPair(t);
    // Long enough for RENDEZVOUS and several punch attempts to have happened.
    await a.waitFor((l) => l.event === 'ping' && (l.seq as number) >= 20, 40_000, '20 pings');
    const pings = a.lines.filter((l) => l.event === 'ping').sort((x, y) => (x.seq as number) - (y.seq as number));
    const failed = a.lines.filter((l) => l.event === 'ping-failed');
    assert.ok(pings.length >= 18, `pings kept flowing (${pings.length} answered, ${failed.length} failed)`);
    assert.deepEqual([...new Set(pings.map((l) => l.via))], ['relayed'], 'never direct through symmetric NATs');
  });
});
