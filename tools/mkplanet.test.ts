/**
 * `mkplanet` end to end: the compiled CLI (`node dist/tools/cli.js mkplanet ...`) in a temp directory.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { fromHex, toHex } from '../vl1/bytes.js';
import { REPO_ROOT, readVectorJson, vectorPath } from '../test/vectors.js';
import { parseWorld } from '../planet/world.js';

const CLI = join(REPO_ROOT, 'dist', 'tools', 'cli.js');
const keys = readVectorJson<{ keys: { name: string; public_64: string; secret_64: string }[]; root_identities: Record<string, string> }>(
  'planets',
  'keys.json',
);
const ID = keys.root_identities;

interface Run { code: number | null; out: string; err: string }
function mk(args: string[], cwd: string): Run {
  const r = spawnSync(process.execPath, [CLI, 'mkplanet', ...args], { cwd, encoding: 'utf8' });
  return { code: r.status, out: r.stdout, err: r.stderr };
}
function ok(r: Run, what: string): Run {
  assert.equal(r.code, 0, `${what}: exit ${r.code}\nstdout: ${r.out}\nstderr: ${r.err}`);
  return r;
}
function fails(r: Run, code: number, msg: RegExp, what: string): void {
  assert.equal(r.code, code, `${what}: exit ${r.code}\nstdout: ${r.out}\nstderr: ${r.err}`);
  assert.match(r.err + r.out, msg, what);
}
const mode = (p: string): number => statSync(p).mode & 0o777;

function spec(roots: { id: string; eps: string[] }[], extra = ''): string {
  return (
    extra +
    'roots:\n' +
    roots.map((r) => `  - identity: "${r.id}"\n    endpoints: [${r.eps.map((e) => `"${e}"`).join(', ')}]\n`).join('')
  );
}

const tmp = mkdtempSync(join(tmpdir(), 'mkplanet-test-'));
process.on('exit', () => rmSync(tmp, { recursive: true, force: true }));

test('spec → planet → update → rotate → update, each step accepted by a client holding the previous one', () => {
  const dir = join(tmp, 'chain');
  mkdirSync(dir);
  const specPath = join(dir, 'planet.yaml');
  writeFileSync(specPath, spec([{ id: ID.id11!, eps: ['198.51.100.11/9993', '2001:db8:c::11/9993'] }, { id: ID.id12!, eps: ['198.51.100.12/9993'] }]));

  // First run: bare 'mkplanet SPEC' = init.
  const init = ok(mk(['planet.yaml', '--json', '--out', 'planet.v1'], dir), 'init');
  const sum = JSON.parse(init.out) as { id: string; id_hex: string; timestamp: number; roots: { address: string; stable_endpoints: string[] }[]; sha256: string };
  const state = join(dir, 'planet.state');
  const v1 = readFileSync(join(state, 'planet'));
  assert.deepEqual(readFileSync(join(dir, 'planet.v1')), v1);
  assert.equal(sum.sha256, createHash('sha256').update(v1).digest('hex'));
  assert.equal(BigInt(sum.id).toString(16).padStart(16, '0'), sum.id_hex);
  assert.notEqual(sum.id, '149604618');
  assert.ok(Math.abs(sum.timestamp - Date.now()) < 120_000, 'timestamp = now');
  assert.deepEqual(sum.roots.map((r) => r.address), ['e4145b5d9e', '4bd184fdef']);
  assert.deepEqual(sum.roots[0]!.stable_endpoints, ['198.51.100.11/9993', '2001:db8:c::11/9993']);
  assert.equal(mode(join(state, 'update-key.c25519')), 0o600, 'signing key is 0600');
  assert.equal(mode(state), 0o700);
  assert.equal(statSync(join(state, 'update-key.c25519')).size, 128, "mkworld's .c25519 layout");
  const w1 = parseWorld(v1);
  assert.equal(toHex(w1.updatesMustBeSignedBy), toHex(readFileSync(join(state, 'update-key.c25519')).subarray(0, 64)));
  ok(mk(['verify', 'planet.v1'], dir), 'verify v1 alone');

  // A second init on the same state is refused.
  fails(mk(['init', 'planet.yaml'], dir), 1, /already exists and is not empty/, 'second init');

  // Move root 2 to a new IP: update.
  writeFileSync(specPath, spec([{ id: ID.id11!, eps: ['198.51.100.11/9993', '2001:db8:c::11/9993'] }, { id: ID.id12!, eps: ['203.0.113.12/9993'] }]));
  ok(mk(['update', 'planet.yaml', '--out', 'planet.v1'], dir), 'update --out over an older version');
  const v2 = readFileSync(join(state, 'planet'));
  assert.deepEqual(readFileSync(join(dir, 'planet.v1')), v2, '--out replaces an older version of the same planet');
  writeFileSync(join(dir, 'planet.v1'), v1);
  writeFileSync(join(dir, 'planet.v2'), v2);
  const ver = ok(mk(['verify', 'planet.v2', '--previous', 'planet.v1'], dir), 'verify v2 after v1');
  assert.match(ver.out, /^accepted/);
  const w2 = parseWorld(v2);
  assert.equal(w2.id, w1.id);
  assert.ok(w2.timestamp > w1.timestamp);
  assert.deepEqual(w2.updatesMustBeSignedBy, w1.updatesMustBeSignedBy);

  // Rotate: the new planet names a new key, is signed by the old one; the old key is kept.
  const oldKey = readFileSync(join(state, 'update-key.c25519'));
  ok(mk(['rotate', 'planet.yaml'], dir), 'rotate');
  const v3 = readFileSync(join(state, 'planet'));
  writeFileSync(join(dir, 'planet.v3'), v3);
  ok(mk(['verify', 'planet.v3', '--previous', 'planet.v2'], dir), 'verify v3 after v2');
  const newKey = readFileSync(join(state, 'update-key.c25519'));
  assert.notDeepEqual(newKey, oldKey);
  assert.equal(mode(join(state, 'update-key.c25519')), 0o600);
  assert.ok(!existsSync(join(state, 'update-key.next.c25519')));
  const retired = readdirSync(join(state, 'retired-keys'));
  assert.equal(retired.length, 1);
  assert.deepEqual(readFileSync(join(state, 'retired-keys', retired[0]!)), oldKey, 'old key kept');
  assert.equal(toHex(parseWorld(v3).updatesMustBeSignedBy), toHex(newKey.subarray(0, 64)));

  // Update after the rotation: signed by the new key.
  writeFileSync(specPath, spec([{ id: ID.id11!, eps: ['198.51.100.11/9993'] }, { id: ID.id12!, eps: ['203.0.113.12/9993'] }, { id: ID.id13!, eps: ['192.0.2.13/443'] }]));
  const u4 = ok(mk(['update', 'planet.yaml', '--base64'], dir), 'update after rotate');
  const v4 = readFileSync(join(state, 'planet'));
  assert.deepEqual(Buffer.from(u4.out.trim(), 'base64'), v4);
  writeFileSync(join(dir, 'planet.v4'), v4);
  ok(mk(['verify', 'planet.v4', '--previous', 'planet.v3'], dir), 'verify v4 after v3');
  // A client that missed the rotation (still holding v2, which names the old key) cannot take v4.
  fails(mk(['verify', 'planet.v4', '--previous', 'planet.v2'], dir), 1, /rejected \(bad-signature\)/, 'v4 over v2');
  fails(mk(['verify', 'planet.v1', '--previous', 'planet.v4'], dir), 1, /rejected \(not-newer\)/, 'downgrade');
  assert.equal(readdirSync(join(state, 'history')).length, 4, 'every planet kept in history/');

  // Stale timestamp and id change are refused before anything is written.
  fails(mk(['update', 'planet.yaml', '--timestamp', String(parseWorld(v4).timestamp)], dir), 1, /is not newer than the current planet/, 'stale');
  writeFileSync(join(dir, 'other-id.yaml'), 'id: 0x1234\n' + readFileSync(specPath, 'utf8'));
  fails(mk(['update', 'other-id.yaml', '--state', 'planet.state'], dir), 1, /id 0000000000001234 differs from the current planet's/, 'id change');
  assert.deepEqual(readFileSync(join(state, 'planet')), v4, 'refusals leave the planet untouched');

  // A wrong key in the state directory is caught before signing.
  copyFileSync(join(state, 'retired-keys', retired[0]!), join(dir, 'old.c25519'));
  rmSync(join(state, 'update-key.c25519'));
  copyFileSync(join(dir, 'old.c25519'), join(state, 'update-key.c25519'));
  fails(mk(['update', 'planet.yaml'], dir), 1, /update-key\.c25519 \([0-9a-f]{16}…\) is not the update key planet [0-9a-f]{16} @ \d+ names/, 'wrong key');
});

test('refusals: Earth id, 2019 timestamp, >4 roots, >32 endpoints, bad endpoints, bad identities', () => {
  const dir = mkdtempSync(join(tmp, 'refuse-'));
  const one = [{ id: ID.id10!, eps: ['203.0.113.10/9993'] }];
  const cases: [string, string, RegExp][] = [
    ['earth', spec(one, 'id: 149604618\n'), /world id 149604618 is ZeroTier's Earth/],
    ['ts2019', spec(one, 'timestamp: 1567191349589\n'), /mkworld's fixed 2019 value/],
    ['five', spec([ID.id10!, ID.id11!, ID.id12!, ID.id13!, ID.id14!].map((id, i) => ({ id, eps: [`203.0.113.${i + 1}/9993`] }))), /5 roots, limit is 4/],
    ['eps33', spec([{ id: ID.id10!, eps: Array.from({ length: 33 }, (_, i) => `203.0.113.${i + 1}/9993`) }]), /33 stable endpoints, limit is 32/],
    ['loopback', spec([{ id: ID.id10!, eps: ['127.0.0.1/9993'] }]), /roots\[0\]\.endpoints\[0\]: "127\.0\.0\.1\/9993" is a loopback address/],
    ['linklocal', spec([{ id: ID.id10!, eps: ['[fe80::1]:9993'] }]), /link-local/],
    ['noport', spec([{ id: ID.id10!, eps: ['203.0.113.1'] }]), /roots\[0\]\.endpoints\[0\]: "203\.0\.113\.1" is not an IPv4\/IPv6 address with port/],
    ['dup', spec([{ id: ID.id10!, eps: ['203.0.113.1/9993'] }, { id: ID.id10!, eps: ['203.0.113.2/9993'] }]), /root 1c134aa030 is already listed as roots\[0\]/],
    ['badid', spec([{ id: ID.id10!.replace('1c134aa030', '1c134aa031'), eps: ['203.0.113.1/9993'] }]), /identity 1c134aa031 does not validate/],
    ['noroots', 'roots: []\n', /roots: must be a non-empty list/],
    ['typo', 'rots: []\n', /rots: unknown key/],
  ];
  for (const [name, text, msg] of cases) {
    writeFileSync(join(dir, `${name}.yaml`), text);
    fails(mk(['init', `${name}.yaml`], dir), 1, msg, name);
    assert.ok(!existsSync(join(dir, `${name}.state`)) || readdirSync(join(dir, `${name}.state`)).length === 0, `${name}: nothing written`);
  }
  // --force lets the Earth id and the 2019 timestamp through (an operator reproducing mkworld on purpose).
  writeFileSync(join(dir, 'forced.yaml'), spec(one, 'id: 149604618\ntimestamp: 1567191349589\n'));
  const f = ok(mk(['init', 'forced.yaml', '--force', '--json'], dir), 'forced');
  const j = JSON.parse(f.out) as { id: string; timestamp: number };
  assert.equal(j.id, '149604618');
  assert.equal(j.timestamp, 1567191349589);
  // An id written as ZeroTier prints it (16 hex digits) is hex even when it has no letters; decimal otherwise.
  writeFileSync(join(dir, 'hexid.yaml'), spec(one, 'id: 0000000012345678\n'));
  assert.equal((JSON.parse(ok(mk(['init', 'hexid.yaml', '--json'], dir), 'hexid').out) as { id_hex: string }).id_hex, '0000000012345678');
  writeFileSync(join(dir, 'decid.yaml'), spec(one, 'id: 12345678\n'));
  assert.equal((JSON.parse(ok(mk(['init', 'decid.yaml', '--json'], dir), 'decid').out) as { id: string }).id, '12345678');
  // Usage errors exit 2; --help exits 0.
  fails(mk(['init', '--nope', 'x.yaml'], dir), 2, /Unknown option/i, 'unknown option');
  fails(mk(['frobnicate'], dir), 2, /unknown command/, 'unknown command');
  for (const c of ['init', 'update', 'rotate', 'moon', 'inspect', 'verify']) assert.match(ok(mk([c, '--help'], dir), c).out, /usage: mkplanet/);
  fails(mk(['update', 'nostate.yaml'], dir), 1, /no mkplanet state at .*nostate\.state/, 'update without state');
});

interface VecWorld { id_hex: string; timestamp: number; roots: { address: string; stable_endpoints: { ip: string; port: number }[] }[]; updates_must_be_signed_by: string }

test('inspect prints every vector planet (incl. Earth); verify agrees with the recorded verdicts', () => {
  for (const n of readdirSync(vectorPath('planets')).filter((x) => x.endsWith('.bin'))) {
    const v = readVectorJson<VecWorld>('planets', n.replace(/\.bin$/, '.json'));
    const r = ok(mk(['inspect', vectorPath('planets', n), '--json'], tmp), n);
    const j = JSON.parse(r.out) as { id_hex: string; timestamp: number; updates_must_be_signed_by: string; roots: { address: string; stable_endpoints: string[] }[] };
    assert.equal(j.id_hex, v.id_hex, n);
    assert.equal(j.timestamp, v.timestamp, n);
    assert.equal(j.updates_must_be_signed_by, v.updates_must_be_signed_by, n);
    assert.deepEqual(j.roots.map((x) => x.address), v.roots.map((x) => x.address), n);
    assert.deepEqual(j.roots.map((x) => x.stable_endpoints), v.roots.map((x) => x.stable_endpoints.map((e) => `${e.ip}/${e.port}`)), n);
    const text = ok(mk(['inspect', vectorPath('planets', n)], tmp), n).out;
    assert.match(text, new RegExp(`id: +${v.id_hex}`));
  }
  assert.match(ok(mk(['inspect', vectorPath('planets', 'default-earth-planet.bin')], tmp), 'earth').out, /ZeroTier's Earth[\s\S]*cafe9efeb9 +104\.194\.8\.134\/9993/);
  const b = vectorPath('planets', 'planet-b-three-roots.bin');
  ok(mk(['verify', vectorPath('planets', 'planet-c-update-of-b.bin'), '--previous', b], tmp), 'c after b');
  fails(mk(['verify', vectorPath('planets', 'planet-c-bad-wrong-signer.bin'), '--previous', b], tmp), 1, /bad-signature/, 'wrong signer');
  fails(mk(['verify', vectorPath('planets', 'planet-c-bad-same-timestamp.bin'), '--previous', b], tmp), 1, /not-newer/, 'same ts');
  fails(mk(['verify', vectorPath('planets', 'planet-c-bad-other-world-id.bin'), '--previous', b], tmp), 1, /other-id/, 'other id');
  const j = JSON.parse(ok(mk(['verify', vectorPath('planets', 'testbed-planet-v2.bin'), '--previous', vectorPath('planets', 'testbed-planet.bin'), '--json'], tmp), 'v2').out) as { accepted: boolean };
  assert.equal(j.accepted, true);
  // Truncated / tampered files: clear errors naming the file.
  const bytes = readFileSync(b);
  writeFileSync(join(tmp, 'trunc.bin'), bytes.subarray(0, 200));
  fails(mk(['inspect', 'trunc.bin'], tmp), 1, /trunc\.bin: .*need \d+ byte\(s\) at offset \d+.*ZT_ERR_TRUNCATED/, 'truncated');
  writeFileSync(join(tmp, 'trail.bin'), Buffer.concat([bytes, Buffer.from([0])]));
  fails(mk(['inspect', 'trail.bin'], tmp), 1, /trail\.bin: .*1 unexpected trailing byte.*ZT_ERR_TRAILING_BYTES/, 'trailing');
  const tampered = Buffer.from(readFileSync(vectorPath('planets', 'planet-c-update-of-b.bin')));
  tampered[tampered.length - 3]! ^= 1; // an endpoint byte: still well formed, signature no longer matches
  writeFileSync(join(tmp, 'tampered.bin'), tampered);
  fails(mk(['verify', 'tampered.bin', '--previous', b], tmp), 1, /rejected \(bad-signature\)/, 'tampered');
  fails(mk(['inspect', 'missing.bin'], tmp), 1, /cannot read .*missing\.bin/, 'missing');
});

test('moons: make, then update; outputs; adopting an mkworld-style planet and key', () => {
  const dir = mkdtempSync(join(tmp, 'moon-'));
  // A JSON spec, with the root given as an identity file (relative to the spec; a secret file is reduced to public).
  mkdirSync(join(dir, 'r13'));
  writeFileSync(join(dir, 'r13', 'identity.public'), ID.id13! + '\n');
  writeFileSync(join(dir, 'moon.json'), JSON.stringify({ roots: [{ identityFile: 'r13/identity.public', endpoints: ['192.0.2.13/9993'] }] }));
  const m1 = JSON.parse(ok(mk(['moon', 'moon.json', '--json', '--state', 'moon.state'], dir), 'moon').out) as { id_hex: string; type_name: string };
  assert.equal(m1.type_name, 'moon');
  assert.equal(m1.id_hex, '000000419aea3c39', 'moon id = the seed root address, as zerotier-idtool initmoon does');
  const file = join(dir, 'moon.state', '000000419aea3c39.moon');
  const first = readFileSync(file);
  assert.equal(first[0], 127);
  writeFileSync(join(dir, 'moon.yaml'), spec([{ id: ID.id13!, eps: ['192.0.2.13/9993', '192.0.2.14/9993'] }]));
  ok(mk(['moon', 'moon.yaml'], dir), 'moon update');
  writeFileSync(join(dir, 'old.moon'), first);
  ok(mk(['verify', file, '--previous', 'old.moon'], dir), 'moon update accepted');
  const c = ok(mk(['inspect', file], dir), 'inspect moon').out;
  assert.match(c, /type: +moon \(127\)/);
  // C array output.
  writeFileSync(join(dir, 'p.yaml'), spec([{ id: ID.id10!, eps: ['203.0.113.10/9993'] }]));
  const ca = ok(mk(['init', 'p.yaml', '--c-array'], dir), 'c-array').out;
  const len = readFileSync(join(dir, 'p.state', 'planet')).length;
  assert.match(ca, new RegExp(`#define ZT_DEFAULT_WORLD_LENGTH ${len}\\n`));
  assert.equal((ca.match(/0x[0-9a-f]{2}/g) ?? []).length, len);

  // Adopt: planet-b (as an mkworld world.bin) with key-b as current.c25519, then update it.
  const kb = keys.keys.find((k) => k.name === 'key-b')!;
  writeFileSync(join(dir, 'current.c25519'), Buffer.concat([fromHex(kb.public_64), fromHex(kb.secret_64)]));
  const ka = keys.keys.find((k) => k.name === 'key-a')!;
  writeFileSync(join(dir, 'wrong.c25519'), Buffer.concat([fromHex(ka.public_64), fromHex(ka.secret_64)]));
  const b = vectorPath('planets', 'planet-b-three-roots.bin');
  fails(mk(['init', '--adopt', b, '--signing-key', 'wrong.c25519', '--state', 'b.state'], dir), 1, /is not the update key planet 000000005eed00b0/, 'adopt with wrong key');
  ok(mk(['init', '--adopt', b, '--signing-key', 'current.c25519', '--state', 'b.state'], dir), 'adopt');
  assert.equal(mode(join(dir, 'b.state', 'update-key.c25519')), 0o600);
  writeFileSync(join(dir, 'b.yaml'), spec([{ id: ID.id11!, eps: ['198.51.100.111/9993'] }, { id: ID.id14!, eps: ['198.51.100.14/9993'] }]));
  ok(mk(['update', 'b.yaml', '--state', 'b.state'], dir), 'update adopted');
  ok(mk(['verify', join(dir, 'b.state', 'planet'), '--previous', b], dir), 'adopted update accepted by a client holding planet-b');
});
