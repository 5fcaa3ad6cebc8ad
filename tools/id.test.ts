// `ztroot id` end to end: the compiled CLI run as a child process in a temporary directory.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Identity } from '../vl1/identity.js';
import { fromHex } from '../vl1/bytes.js';
import { REPO_ROOT, readVectorJson, vectorPath } from '../test/vectors.js';

const CLI = join(REPO_ROOT, 'dist', 'tools', 'cli.js');
let dir = '';

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'ztroot-id-test-'));
});
after(() => {
  rmSync(dir, { recursive: true, force: true });
});

function zt(...args: string[]): { code: number; out: string; err: string } {
  const r = spawnSync(process.execPath, [CLI, 'id', ...args], { cwd: dir, encoding: 'utf8', timeout: 30_000 });
  return { code: r.status ?? -1, out: r.stdout, err: r.stderr };
}
const mode = (p: string): number => statSync(join(dir, p)).mode & 0o777;

test('generate → validate → getpublic → sign → verify', () => {
  const g = zt('generate', 'identity.secret', 'identity.public');
  assert.equal(g.code, 0, g.err);
  const address = g.out.trim();
  assert.match(address, /^[0-9a-f]{10}$/);
  assert.equal(mode('identity.secret'), 0o600);
  assert.equal(mode('identity.public'), 0o644);
  const secretText = readFileSync(join(dir, 'identity.secret'), 'utf8');
  const publicText = readFileSync(join(dir, 'identity.public'), 'utf8');
  const id = Identity.fromString(secretText);
  assert.ok(id.hasPrivate());
  assert.equal(id.toString(false), publicText);
  assert.ok(publicText.startsWith(`${address}:0:`));
  assert.equal(publicText.split(':').length, 3);

  const v = zt('validate', 'identity.secret');
  assert.equal(v.code, 0, v.err);
  assert.equal(v.out.trim(), 'identity.secret is a valid identity');
  assert.equal(zt('validate', 'identity.public').code, 0);

  const p = zt('getpublic', 'identity.secret');
  assert.equal(p.code, 0, p.err);
  assert.equal(p.out.trim(), publicText);

  writeFileSync(join(dir, 'msg.bin'), Uint8Array.of(0, 1, 2, 0xff, 10, 13));
  const s = zt('sign', 'identity.secret', 'msg.bin');
  assert.equal(s.code, 0, s.err);
  const sig = s.out.trim();
  assert.match(sig, /^[0-9a-f]{192}$/);
  assert.ok(id.verify(Uint8Array.of(0, 1, 2, 0xff, 10, 13), fromHex(sig)));

  const ok = zt('verify', 'identity.public', 'msg.bin', sig);
  assert.equal(ok.code, 0, ok.err);
  assert.equal(ok.out.trim(), 'msg.bin signature valid');

  writeFileSync(join(dir, 'msg2.bin'), 'other');
  const bad = zt('verify', 'identity.public', 'msg2.bin', sig);
  assert.equal(bad.code, 1);
  assert.match(bad.err, /msg2\.bin signature check FAILED/);
});

test('generate with no file prints a valid secret string; files are never overwritten without --force', () => {
  const g = zt('generate');
  assert.equal(g.code, 0, g.err);
  const id = Identity.fromString(g.out.trim());
  assert.ok(id.hasPrivate());

  writeFileSync(join(dir, 'taken.secret'), 'keep me');
  const r = zt('generate', 'taken.secret');
  assert.equal(r.code, 1);
  assert.match(r.err, /taken\.secret: already exists \(use --force to overwrite\)/);
  assert.equal(readFileSync(join(dir, 'taken.secret'), 'utf8'), 'keep me');

  // refusal is checked before anything is written: the secret file must not appear either
  writeFileSync(join(dir, 'taken.public'), 'keep me too');
  assert.equal(zt('generate', 'new.secret', 'taken.public').code, 1);
  assert.equal(existsSync(join(dir, 'new.secret')), false);

  // --force replaces a world-readable file with a 0600 one
  chmodSync(join(dir, 'taken.secret'), 0o644);
  const f = zt('generate', '--force', 'taken.secret');
  assert.equal(f.code, 0, f.err);
  assert.equal(mode('taken.secret'), 0o600);
  assert.equal(Identity.fromString(readFileSync(join(dir, 'taken.secret'), 'utf8')).toString().slice(0, 10), f.out.trim());
});

test('a vector identity validates and a signatures.json signature verifies through the CLI', () => {
  const ids = readVectorJson<{ identities: Array<{ name: string; secret_string: string; public_string: string }>; invalid: Array<{ name: string; string: string }> }>(
    'identities.json',
  );
  const id00 = ids.identities.find((i) => i.name === 'id00')!;
  const v = zt('validate', id00.public_string);
  assert.equal(v.code, 0, v.err);
  assert.equal(v.out.trim(), `${id00.public_string} is a valid identity`);
  // a session node's identity.secret file, read from disk with its trailing whitespace
  assert.equal(zt('validate', vectorPath('session', 'root.identity.secret')).code, 0);

  const tampered = ids.invalid.find((i) => i.name === 'tampered_address_last_nibble')!;
  const t = zt('validate', tampered.string);
  assert.equal(t.code, 1);
  assert.match(t.err, /FAILED validation/);

  const sigs = readVectorJson<{ signatures: Array<{ signer: string; message: string; signature: string; signer_public: string }> }>('signatures.json');
  const s = sigs.signatures.find((x) => x.signer === 'id00' && x.message.length > 8)!;
  writeFileSync(join(dir, 'vector.msg'), fromHex(s.message));
  writeFileSync(join(dir, 'id00.secret'), `${id00.secret_string}\n`);
  const signed = zt('sign', 'id00.secret', 'vector.msg');
  assert.equal(signed.code, 0, signed.err);
  assert.equal(signed.out.trim(), s.signature);
  const ok = zt('verify', s.signer_public, 'vector.msg', s.signature);
  assert.equal(ok.code, 0, ok.err);
  assert.equal(ok.out.trim(), 'vector.msg signature valid');
});

test('bad input: clear errors naming the file, exit 1; usage errors exit 2; --help exits 0', () => {
  writeFileSync(join(dir, 'garbage.secret'), 'not an identity');
  const g = zt('validate', 'garbage.secret');
  assert.equal(g.code, 1);
  assert.match(g.err, /garbage\.secret: not an identity: .*ZT_ERR_BAD_FORMAT/);

  const missing = zt('getpublic', 'nope.secret');
  assert.equal(missing.code, 1);
  assert.match(missing.err, /nope\.secret: no such file/);

  const id00 = readVectorJson<{ identities: Array<{ secret_string: string; public_string: string }> }>('identities.json').identities[0]!;
  writeFileSync(join(dir, 'pub.only'), id00.public_string);
  writeFileSync(join(dir, 'm'), 'm');
  const noPriv = zt('sign', 'pub.only', 'm');
  assert.equal(noPriv.code, 1);
  assert.match(noPriv.err, /pub\.only: has no private key/);

  const noMsg = zt('sign', id00.secret_string, 'absent.bin');
  assert.equal(noMsg.code, 1);
  assert.match(noMsg.err, /absent\.bin: cannot read: ENOENT/);

  const badHex = zt('verify', 'pub.only', 'm', 'xyz');
  assert.equal(badHex.code, 1);
  assert.match(badHex.err, /m signature check FAILED/);
  const shortSig = zt('verify', 'pub.only', 'm', 'ab'.repeat(64));
  assert.equal(shortSig.code, 1);
  assert.match(shortSig.err, /signature is 64 bytes, expected 96/);

  // a malformed secret string on the command line is never echoed back
  const privHex = id00.secret_string.split(':')[3]!;
  const leaked = zt('validate', `${id00.secret_string.slice(0, -1)}z`);
  assert.equal(leaked.code, 1);
  assert.ok(!leaked.err.includes(privHex.slice(0, 16)) && !leaked.out.includes(privHex.slice(0, 16)));

  assert.equal(zt().code, 2);
  assert.equal(zt('frobnicate').code, 2);
  assert.equal(zt('validate').code, 2);
  assert.equal(zt('verify', 'a', 'b').code, 2);
  assert.equal(zt('generate', 'a', 'b', 'c').code, 2);
  assert.equal(zt('validate', '--bogus', 'x').code, 2);
  const help = zt('--help');
  assert.equal(help.code, 0);
  assert.match(help.out, /generate/);
  for (const sub of ['generate', 'validate', 'getpublic', 'sign', 'verify']) {
    const h = zt(sub, '--help');
    assert.equal(h.code, 0, sub);
    assert.match(h.out, new RegExp(`usage: ztroot id ${sub}`));
  }
});
