/**
 * The peer table's snapshot (what the local API and zerotier-cli show) against what the table does.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Identity } from '../vl1/identity.js';
import { readVectorJson } from '../test/vectors.js';
import { PeerTable } from './peers.js';

const [me, root] = readVectorJson<{ identities: Array<{ secret_string: string }> }>('identities.json').identities.map((x) => Identity.fromString(x.secret_string)) as [Identity, Identity];

// Regression: the API marked a peer's first-learned path preferred, while packets went on the most recently alive
// one. Seen with the real zerotier-cli against our leaf: the root listed at 192.0.0.1/9993 with its lastTX growing
// past 60 s, while the leaf talked to it over 2001:db8:1::1/9993.
test('info() marks preferred the path bestPath() sends on, not the first one learned', () => {
  let now = 1_000_000;
  const t = new PeerTable({ me, now: () => now, canSend: () => true, allowPath: () => true });
  const p = t.insert(t.create(root, true, []));
  t.learnPath(p, { family: 4, ip: '192.0.0.1', port: 9993 });
  now += 5;
  const v6 = t.learnPath(p, { family: 6, ip: '2001:db8:1::1', port: 9993 });
  assert.equal(t.bestPath(p), v6);
  const info = t.info(root.address)!;
  assert.deepEqual(
    info.paths.map((x) => [x.address, x.preferred]),
    [['192.0.0.1/9993', false], ['2001:db8:1::1/9993', true]],
  );
  // A path we cannot send on is never preferred; with none usable, none is.
  const t2 = new PeerTable({ me, now: () => now, canSend: (f) => f === 4, allowPath: () => true });
  const q = t2.insert(t2.create(root, true, []));
  t2.learnPath(q, { family: 6, ip: '2001:db8:1::1', port: 9993 });
  assert.deepEqual(t2.info(root.address)!.paths.map((x) => x.preferred), [false]);
});
