/**
 * The native AES-GMAC-SIV engine (native/aes through tools/aes-engine.ts) against the shared 1.14.1 vectors and
 * against the node:crypto reference (vl1/aes-gmac-siv.ts): same tags, same ciphertexts, same refusals, same
 * restored buffers, whole packets byte for byte; ZTROOT_AES's choices, in a real CLI process too.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createCipheriv, randomBytes } from 'node:crypto';
import { cpSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { AesGmacSiv } from '../vl1/aes-gmac-siv.js';
import { JS_AES_GMAC_SIV } from '../vl1/aes-gmac-siv-engine.js';
import { fromHex, toHex } from '../vl1/bytes.js';
import { isZtError, ZtErrorCode } from '../vl1/errors.js';
import { armor, buildPacket, dearmor } from '../vl1/packet.js';
import { readVectorJson } from '../test/vectors.js';
import { aesAddon, chooseAesEngine, NativeAesGmacSiv, nativeAesGmacSivEngine, nativeAesUnavailableReason, peerKeyWithEngine } from './aes-engine.js';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const unavailable = nativeAesUnavailableReason();
const needsAddon = { skip: unavailable ?? false };

interface SivVector { k0: string; k1: string; iv: string; aad: string; plaintext: string; tag: string; ciphertext: string }
const vectors = readVectorJson<{ aes_gmac_siv: SivVector[] }>('ciphers.json').aes_gmac_siv;

const code = (c: string) => (e: unknown) => isZtError(e) && e.code === c;

test('every ciphers.json aes_gmac_siv vector: tag, ciphertext, decryption and the recovered IV', needsAddon, () => {
  assert.equal(vectors.length, 7);
  for (const v of vectors) {
    const siv = new NativeAesGmacSiv(fromHex(v.k0), fromHex(v.k1));
    const data = fromHex(v.plaintext);
    const tag = new Uint8Array(16);
    siv.encryptInPlace(fromHex(v.iv), fromHex(v.aad), data, tag);
    assert.equal(toHex(tag), v.tag, `tag ${v.iv}`);
    assert.equal(toHex(data), v.ciphertext, `ciphertext ${v.iv}`);
    const back = fromHex(v.ciphertext);
    assert.equal(toHex(siv.decryptInPlace(fromHex(v.tag), fromHex(v.aad), back)!), v.iv);
    assert.equal(toHex(back), v.plaintext);
  }
});

/** `bytes` copied to `offset` bytes into a fresh buffer: the cipher sees data at any alignment. */
function at(offset: number, bytes: Uint8Array): Uint8Array {
  const host = new Uint8Array(offset + bytes.length + 3);
  const view = host.subarray(offset, offset + bytes.length);
  view.set(bytes);
  return view;
}

test('native and node:crypto agree on random keys, IVs, AADs and lengths 0..10000 at any byte offset, both ways, and both restore a refused buffer', needsAddon, () => {
  fc.assert(
    fc.property(
      fc.uint8Array({ minLength: 32, maxLength: 32 }),
      fc.uint8Array({ minLength: 32, maxLength: 32 }),
      fc.uint8Array({ minLength: 8, maxLength: 8 }),
      fc.oneof(fc.constant(16), fc.integer({ min: 0, max: 40 })),
      fc.oneof(fc.integer({ min: 0, max: 300 }), fc.integer({ min: 0, max: 10_000 })),
      fc.integer({ min: 0, max: 7 }),
      fc.integer({ min: 0, max: 2 ** 31 - 1 }),
      (k0, k1, iv, aadLen, len, offset, seed) => {
        const aad = new Uint8Array(randomBytes(aadLen));
        const pt = new Uint8Array(randomBytes(len));
        const js = new AesGmacSiv(k0, k1);
        const native = new NativeAesGmacSiv(k0, k1);
        // native seals, JS opens
        const a = at(offset, pt), tagA = new Uint8Array(16);
        native.encryptInPlace(iv, aad, a, tagA);
        const ref = js.encrypt(iv, aad, pt);
        assert.deepEqual(tagA, ref.tag);
        assert.deepEqual(a, ref.ciphertext);
        assert.deepEqual(js.decryptInPlace(tagA, aad, a), iv);
        assert.deepEqual(a, pt);
        // JS seals, native opens
        const b = at((offset + 3) & 7, pt), tagB = new Uint8Array(16);
        js.encryptInPlace(iv, aad, b, tagB);
        assert.deepEqual(tagB, tagA);
        assert.deepEqual(native.decryptInPlace(tagB, aad, b), iv);
        assert.deepEqual(b, pt);
        // a flipped bit (tag, AAD or data) is refused by both, and both leave the ciphertext as it came
        const ct = ref.ciphertext;
        const forged = { tag: tagA.slice(), aad: aad.slice(), data: ct.slice() };
        const targets = [forged.tag, forged.aad, forged.data].filter((t) => t.length > 0);
        const target = targets[seed % targets.length]!;
        target[seed % target.length] = target[seed % target.length]! ^ (1 << (seed % 8));
        for (const siv of [js, native]) {
          const buf = at(offset, forged.data);
          assert.equal(siv.decryptInPlace(forged.tag, forged.aad, buf), null);
          assert.deepEqual(buf, forged.data, `${siv === js ? 'JS' : 'native'}: a refused buffer is restored`);
        }
      },
    ),
    { numRuns: 200, seed: 31 },
  );
});

test('a forged tag is refused by both, whatever the data length (every 1-bit flip of the tag)', needsAddon, () => {
  const k0 = new Uint8Array(randomBytes(32)), k1 = new Uint8Array(randomBytes(32));
  const js = new AesGmacSiv(k0, k1), native = new NativeAesGmacSiv(k0, k1);
  for (const len of [0, 1, 256, 257, 1400, 2800]) {
    const aad = new Uint8Array(randomBytes(16));
    const { tag, ciphertext } = js.encrypt(new Uint8Array(randomBytes(8)), aad, new Uint8Array(randomBytes(len)));
    for (let bit = 0; bit < 128; bit++) {
      const t = tag.slice();
      t[bit >> 3] = t[bit >> 3]! ^ (1 << (bit & 7));
      assert.equal(native.decryptInPlace(t, aad, ciphertext.slice()), null, `native, ${len} B, bit ${bit}`);
      assert.equal(js.decryptInPlace(t, aad, ciphertext.slice()), null, `JS, ${len} B, bit ${bit}`);
    }
  }
});

/** CTR from `counter` as ZeroTier's C++ runs it: the last 4 bytes a big-endian counter that wraps at 2^32. */
function ctrReference(k1: Uint8Array, counter: Uint8Array, data: Uint8Array): Uint8Array {
  const blocks = Math.ceil(data.length / 16);
  const cb = new Uint8Array(blocks * 16);
  const dv = new DataView(cb.buffer);
  const c0 = new DataView(counter.buffer, counter.byteOffset, 16).getUint32(12, false);
  for (let i = 0; i < blocks; i++) {
    cb.set(counter.subarray(0, 12), i * 16);
    dv.setUint32(i * 16 + 12, (c0 + i) >>> 0, false);
  }
  const ecb = createCipheriv('aes-256-ecb', k1, null);
  ecb.setAutoPadding(false);
  const ks = ecb.update(cb);
  return data.map((b, i) => b ^ ks[i]!);
}

test('the CTR counter is 32 bits and wraps without carrying into byte 11 (OpenSSL alone would carry)', needsAddon, () => {
  const addon = aesAddon();
  const k1 = new Uint8Array(randomBytes(32));
  const h = addon.create(new Uint8Array(32), k1);
  for (const [start, len] of [[0xfffffffe, 100], [0xffffffff, 16], [0xffffffff, 17], [0xfffffff0, 16 * 16], [0xfffffff0, 16 * 16 + 1], [0x7ffffffe, 64]] as const) {
    const counter = new Uint8Array(randomBytes(16));
    counter[11] = 0xff; // a carry would show here
    new DataView(counter.buffer).setUint32(12, start, false);
    const data = new Uint8Array(randomBytes(len));
    const want = ctrReference(k1, counter, data);
    const got = data.slice();
    addon.ctrXor(h, counter, got);
    assert.deepEqual(got, want, `counter ${start.toString(16)}, ${len} B`);
  }
  // What the carry would have given: OpenSSL's own 128-bit counter differs past the wrap, so the split matters.
  const counter = new Uint8Array(16).fill(0xff);
  const data = new Uint8Array(48);
  const whole128 = new Uint8Array(createCipheriv('aes-256-ctr', k1, counter).update(data));
  const ours = data.slice();
  addon.ctrXor(h, counter, ours);
  assert.deepEqual(ours.subarray(0, 16), whole128.subarray(0, 16));
  assert.notDeepEqual(ours.subarray(16), whole128.subarray(16));
  addon.dispose(h);
});

test('bad lengths and a disposed cipher are typed errors; raw bad arguments are refused by the addon', needsAddon, () => {
  assert.throws(() => new NativeAesGmacSiv(new Uint8Array(16), new Uint8Array(32)), code(ZtErrorCode.BAD_VALUE));
  assert.throws(() => new NativeAesGmacSiv(new Uint8Array(32), new Uint8Array(31)), code(ZtErrorCode.BAD_VALUE));
  const siv = new NativeAesGmacSiv(new Uint8Array(32), new Uint8Array(32));
  assert.throws(() => siv.encryptInPlace(new Uint8Array(12), new Uint8Array(0), new Uint8Array(3), new Uint8Array(16)), code(ZtErrorCode.BAD_VALUE));
  assert.throws(() => siv.encryptInPlace(new Uint8Array(8), new Uint8Array(0), new Uint8Array(3), new Uint8Array(15)), code(ZtErrorCode.BAD_VALUE));
  assert.throws(() => siv.decryptInPlace(new Uint8Array(15), new Uint8Array(0), new Uint8Array(3)), code(ZtErrorCode.BAD_VALUE));
  assert.throws(() => siv.decryptInPlace(new Uint8Array(16), [] as unknown as Uint8Array, new Uint8Array(3)), code(ZtErrorCode.BAD_VALUE));
  siv.dispose();
  siv.dispose();
  assert.throws(() => siv.decryptInPlace(new Uint8Array(16), new Uint8Array(0), new Uint8Array(3)), code(ZtErrorCode.CLOSED));
  const addon = aesAddon();
  const h = addon.create(new Uint8Array(32), new Uint8Array(32));
  assert.throws(() => addon.encrypt(h, new Uint16Array(4) as unknown as Uint8Array, new Uint8Array(0), new Uint8Array(0), new Uint8Array(16)), { name: 'TypeError', code: 'ZT_ERR_BAD_VALUE' });
  assert.throws(() => addon.encrypt({} as never, new Uint8Array(8), new Uint8Array(0), new Uint8Array(0), new Uint8Array(16)), { code: 'ZT_ERR_BAD_VALUE' });
  addon.dispose(h);
  assert.throws(() => addon.decrypt(h, new Uint8Array(16), new Uint8Array(0), new Uint8Array(0), new Uint8Array(8)), /disposed/);
});

test('dropped ciphers are freed by the garbage collector: 50,000 keys made and dropped leave RSS bounded', needsAddon, async () => {
  const engine = nativeAesGmacSivEngine();
  const before = process.memoryUsage().rss;
  const k = new Uint8Array(randomBytes(32));
  const tag = new Uint8Array(16), data = new Uint8Array(100);
  for (let i = 0; i < 50_000; i++) {
    k[0] = i & 255;
    engine.create(k, k).encryptInPlace(new Uint8Array(8), new Uint8Array(16), data, tag);
    // Node runs Node-API finalizers between event-loop turns, as a root's packets come (one batch per turn).
    if (i % 500 === 499) await new Promise((r) => setImmediate(r));
  }
  const grew = process.memoryUsage().rss - before;
  // Kept alive, 50,000 keys would hold 50,000 × contextBytes (≈ 190 MB) of OpenSSL memory.
  assert.ok(grew < 50_000 * aesAddon().contextBytes * 0.4, `RSS grew by ${(grew / 1e6).toFixed(0)} MB`);
});

test('PeerKey makes its cipher from the registered engine', needsAddon, () => {
  const key48 = new Uint8Array(randomBytes(48));
  assert.ok(peerKeyWithEngine(nativeAesGmacSivEngine(), key48).siv instanceof NativeAesGmacSiv);
  assert.ok(peerKeyWithEngine(JS_AES_GMAC_SIV, key48).siv instanceof AesGmacSiv);
});

test('suite-3 packets armored through the native engine are byte-identical to the JS path for the same IV, and each dearmors the other', needsAddon, () => {
  const key48 = new Uint8Array(randomBytes(48));
  const native = peerKeyWithEngine(nativeAesGmacSivEngine(), key48), js = peerKeyWithEngine(JS_AES_GMAC_SIV, key48);
  for (const payloadLen of [0, 1, 100, 229, 230, 1400, 2800, 10_024 - 28]) {
    for (const flags of [0, 0x40]) {
      const pkt = buildPacket({ dest: 0x0f7b349d9f, source: 0xf38b69a8b4, verb: 6, flags, payload: new Uint8Array(randomBytes(payloadLen)) });
      const viaNative = pkt.slice(), viaJs = pkt.slice();
      armor(viaNative, native, 3);
      armor(viaJs, js, 3);
      assert.equal(toHex(viaNative), toHex(viaJs), `${pkt.length} B packet, flags ${flags}`);
      const hop = viaNative.slice();
      hop[18] = hop[18]! | 3; // hops are outside the MAC
      assert.deepEqual(dearmor(viaNative, js), pkt.subarray(0, 8), 'JS opens native, recovering the IV');
      assert.deepEqual(dearmor(hop, native), pkt.subarray(0, 8), 'native opens JS (relayed)');
      assert.deepEqual(viaNative.subarray(27), pkt.subarray(27));
      const bad = viaJs.slice();
      bad[bad.length - 1] = bad[bad.length - 1]! ^ 1;
      const copy = bad.slice();
      assert.throws(() => dearmor(bad, native), code(ZtErrorCode.BAD_MAC));
      assert.deepEqual(bad, copy, 'a refused packet is left as it came');
    }
  }
});

test('ZTROOT_AES chooses the engine: js forces node:crypto, native requires the addon, auto takes it, garbage is refused', () => {
  const js = chooseAesEngine({ ZTROOT_AES: 'js' });
  assert.equal(js.engine, JS_AES_GMAC_SIV);
  assert.equal(js.fallbackReason, 'ZTROOT_AES=js');
  const auto = chooseAesEngine({});
  if (unavailable === null) {
    assert.equal(auto.engine.name, 'native');
    assert.equal(chooseAesEngine({ ZTROOT_AES: 'native' }).engine.name, 'native');
  } else {
    assert.equal(auto.engine, JS_AES_GMAC_SIV);
    assert.equal(auto.fallbackReason, unavailable);
    assert.throws(() => chooseAesEngine({ ZTROOT_AES: 'native' }), code(ZtErrorCode.UNAVAILABLE));
  }
  assert.throws(() => chooseAesEngine({ ZTROOT_AES: 'fast' }), (e: unknown) => isZtError(e) && e.code === ZtErrorCode.BAD_CONFIG && /ZTROOT_AES="fast": must be auto, native or js/.test(e.message));
});

// A copy of the compiled package without native/: what an install without a C compiler has.
const bare = mkdtempSync(join(tmpdir(), 'ztroot-aes-bare-'));
after(() => rmSync(bare, { recursive: true, force: true }));

test('without the addon, ZTROOT_AES=native stops the CLI with one line saying how to build it; auto and js run on node:crypto', () => {
  cpSync(join(REPO, 'dist'), join(bare, 'dist'), { recursive: true });
  writeFileSync(join(bare, 'package.json'), JSON.stringify({ type: 'module' }));
  symlinkSync(join(REPO, 'node_modules'), join(bare, 'node_modules'));
  const cli = (env: Record<string, string>) =>
    spawnSync(process.execPath, [join(bare, 'dist', 'tools', 'cli.js'), 'id', '--help'], { encoding: 'utf8', env: { ...process.env, ...env }, timeout: 30_000 });
  const r = cli({ ZTROOT_AES: 'native' });
  assert.equal(r.status, 1, r.stderr);
  const lines = r.stderr.trim().split('\n');
  assert.equal(lines.length, 1, r.stderr);
  assert.match(lines[0]!, /^ztroot id: ZTROOT_AES=native: the AES-GMAC-SIV addon is not built \(.*native\/aes\/build\/Release\/aes\.node is missing\): install gcc, make and python3, then run `node native\/aes\/build\.mjs`/);
  assert.match(lines[0]!, /\(ZT_ERR_UNAVAILABLE\)$/);
  for (const v of ['auto', 'js']) assert.equal(cli({ ZTROOT_AES: v }).status, 0, `ZTROOT_AES=${v}`);
  const bad = cli({ ZTROOT_AES: 'fast' });
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, /ZTROOT_AES="fast": must be auto, native or js/);
});
