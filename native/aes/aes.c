// AES-GMAC-SIV (packet cipher suite 3, shared/protocol/vl1.md §4.3) on the OpenSSL that Node itself carries,
// through EVP contexts made once per key pair and reused for every packet. vl1/aes-gmac-siv.ts is the reference
// this is tested against; tools/aes-engine.ts loads this and registers it with vl1.
//
//   1. gmac = AES-256-GCM tag under K0, nonce `iv ‖ 00000000`, no plaintext, AAD = `aad ‖ zero pad to 16 ‖ data`
//   2. tag  = AES-256-ECB(K1, `iv ‖ (gmac[0..7] XOR gmac[8..15])`)
//   3. data ^= AES-256-CTR(K1) from counter block `tag` with byte 12 &= 0x7f (32-bit big-endian counter in
//      bytes 12..15 that wraps without carrying into byte 11)
//
// Why: node:crypto cannot give a GCM context a new nonce, so the JS path makes one cipher object per long packet,
// and each ECB update() returns a new Buffer. Here the per-packet work is: re-initialise the GCM and CTR contexts
// with only a new IV (the key schedules stay), and run the cipher over the caller's memory in place. Nothing is
// allocated per call.
//
// API (Node-API, usable from worker threads; no global state):
//   create(k0: Uint8Array(32), k1: Uint8Array(32)) → handle (an external; the contexts are freed when it is
//                                                    collected, or by dispose)
//   encrypt(h, iv: 8 B, aad, data, tagOut: 16 B) → undefined   data encrypted in place, tag written
//   decrypt(h, tag: 16 B, aad, data, ivOut: 8 B) → boolean     data decrypted in place and ivOut written when the
//                                                              tag verifies; else data is restored, false
//   dispose(h) → undefined                                     frees the contexts now; the handle is dead after
//   ctrXor(h, counter: 16 B, data) → undefined                 the raw CTR step with the counter block as given
//                                                              (tests: the 32-bit wrap)
//   contextBytes: number                                       OpenSSL memory held per handle (see CONTEXT_BYTES)
// `aad` is any length (a packet's is 16 bytes); data at most MAX_DATA bytes.
#include <node_api.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// Far above any packet (≤ 10,024 bytes reassembled) and below INT_MAX, EVP's length type. With byte 12's top bit
// cleared the counter starts below 2^31, so the 32-bit counter cannot wrap within this length (2^31 blocks would
// be 32 GiB): the wrap handling in ctr_xor serves ctrXor's tests and any future caller.
#define MAX_DATA (1u << 30)

// What one handle holds in OpenSSL's memory: 3.8 KB (glibc's in-use bytes over 1,000 handles, and RSS over 20,000,
// on OpenSSL 3.0 in Node 20). Told to V8 per live handle so its
// GC counts what a dropped key costs; a measured figure, not an exact one.
#define CONTEXT_BYTES 3840

typedef struct {
  EVP_CIPHER_CTX* gcm;     // AES-256-GCM under K0, for the GMAC: re-initialised per packet with the nonce only
  EVP_CIPHER_CTX* ecb_enc; // AES-256-ECB under K1: the tag block
  EVP_CIPHER_CTX* ecb_dec; // AES-256-ECB under K1, decrypting: iv ‖ mac64 from a received tag
  EVP_CIPHER_CTX* ctr;     // AES-256-CTR under K1: re-initialised per packet with the counter block only
} siv_t;

static napi_value throw_bad(napi_env env, const char* msg) {
  napi_throw_type_error(env, "ZT_ERR_BAD_VALUE", msg);
  return NULL;
}

static napi_value throw_openssl(napi_env env, const char* what) {
  // Leave nothing on OpenSSL's error queue: node:crypto reads it after its own calls.
  unsigned long e = ERR_get_error();
  char msg[256], detail[160] = "";
  if (e != 0) ERR_error_string_n(e, detail, sizeof detail);
  ERR_clear_error();
  snprintf(msg, sizeof msg, "AES-GMAC-SIV: OpenSSL %s failed%s%s", what, detail[0] ? ": " : "", detail);
  napi_throw_error(env, NULL, msg);
  return NULL;
}

static int bytes_of(napi_env env, napi_value v, uint8_t** data, size_t* len) {
  napi_typedarray_type type;
  void* p;
  // A typed array of at most 64 bytes made in JS lives inside V8's heap and is moved out of it (a malloc) the first
  // time native code asks for its memory: callers pass long-lived buffers (tools/aes-engine.ts copies the IV).
  if (napi_get_typedarray_info(env, v, &type, len, &p, NULL, NULL) != napi_ok || type != napi_uint8_array) return 0;
  *data = (uint8_t*)p;
  return 1;
}

static siv_t* handle_of(napi_env env, napi_value v) {
  void* p = NULL;
  if (napi_get_value_external(env, v, &p) != napi_ok || p == NULL) return NULL;
  siv_t* s = (siv_t*)p;
  return s->gcm == NULL ? NULL : s; // disposed
}

static void free_contexts(siv_t* s) {
  EVP_CIPHER_CTX_free(s->gcm); // NULL-safe; frees (and cleanses) the key schedules
  EVP_CIPHER_CTX_free(s->ecb_enc);
  EVP_CIPHER_CTX_free(s->ecb_dec);
  EVP_CIPHER_CTX_free(s->ctr);
  s->gcm = s->ecb_enc = s->ecb_dec = s->ctr = NULL;
}

static int init_contexts(siv_t* s, const uint8_t* k0, const uint8_t* k1) {
  static const uint8_t zero[16] = {0};
  s->gcm = EVP_CIPHER_CTX_new();
  s->ecb_enc = EVP_CIPHER_CTX_new();
  s->ecb_dec = EVP_CIPHER_CTX_new();
  s->ctr = EVP_CIPHER_CTX_new();
  if (!s->gcm || !s->ecb_enc || !s->ecb_dec || !s->ctr) return 0;
  // GCM's default nonce length is 12 bytes: iv ‖ 00000000.
  if (EVP_EncryptInit_ex(s->gcm, EVP_aes_256_gcm(), NULL, k0, zero) != 1) return 0;
  if (EVP_EncryptInit_ex(s->ecb_enc, EVP_aes_256_ecb(), NULL, k1, NULL) != 1) return 0;
  if (EVP_DecryptInit_ex(s->ecb_dec, EVP_aes_256_ecb(), NULL, k1, NULL) != 1) return 0;
  if (EVP_EncryptInit_ex(s->ctr, EVP_aes_256_ctr(), NULL, k1, zero) != 1) return 0;
  EVP_CIPHER_CTX_set_padding(s->ecb_enc, 0);
  EVP_CIPHER_CTX_set_padding(s->ecb_dec, 0);
  return 1;
}

static void finalize(napi_env env, void* data, void* hint) {
  (void)hint;
  siv_t* s = (siv_t*)data;
  int64_t ignored;
  if (s->gcm != NULL) {
    free_contexts(s);
    napi_adjust_external_memory(env, -CONTEXT_BYTES, &ignored);
  }
  free(s);
}

// The intermediate GMAC of §4.3 step 1.
static int gmac(siv_t* s, const uint8_t iv[8], const uint8_t* aad, size_t aad_len, const uint8_t* data, size_t len,
                uint8_t out[16]) {
  static const uint8_t zero[16] = {0};
  uint8_t nonce[12] = {0}, sink[16];
  int n;
  memcpy(nonce, iv, 8);
  if (EVP_EncryptInit_ex(s->gcm, NULL, NULL, NULL, nonce) != 1) return 0;
  if (aad_len > 0 && EVP_EncryptUpdate(s->gcm, NULL, &n, aad, (int)aad_len) != 1) return 0;
  size_t pad = (16 - (aad_len & 15)) & 15;
  if (pad > 0 && EVP_EncryptUpdate(s->gcm, NULL, &n, zero, (int)pad) != 1) return 0;
  if (len > 0 && EVP_EncryptUpdate(s->gcm, NULL, &n, data, (int)len) != 1) return 0;
  if (EVP_EncryptFinal_ex(s->gcm, sink, &n) != 1) return 0;
  return EVP_CIPHER_CTX_ctrl(s->gcm, EVP_CTRL_AEAD_GET_TAG, 16, out) == 1;
}

static uint32_t be32(const uint8_t* p) {
  return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | (uint32_t)p[3];
}

static void put_be32(uint8_t* p, uint32_t v) {
  p[0] = (uint8_t)(v >> 24);
  p[1] = (uint8_t)(v >> 16);
  p[2] = (uint8_t)(v >> 8);
  p[3] = (uint8_t)v;
}

// data ^= CTR keystream from `counter` (bytes 12..15 a big-endian counter that wraps at 2^32 and leaves bytes
// 0..11 alone, as ZeroTier's C++ does). OpenSSL's CTR increments all 128 bits, so the run is split where the
// 32-bit counter wraps and the second part starts again from counter 0.
static int ctr_xor(siv_t* s, const uint8_t counter[16], uint8_t* data, size_t len) {
  uint8_t cb[16];
  memcpy(cb, counter, 16);
  while (len > 0) {
    uint32_t c = be32(cb + 12);
    uint64_t until_wrap = (((uint64_t)1 << 32) - c) * 16; // bytes before the counter would pass 0xffffffff
    size_t run = len;
    if (run > until_wrap) run = (size_t)until_wrap;
    if (run > MAX_DATA) run = MAX_DATA;
    int n;
    if (EVP_EncryptInit_ex(s->ctr, NULL, NULL, NULL, cb) != 1) return 0;
    if (EVP_EncryptUpdate(s->ctr, data, &n, data, (int)run) != 1) return 0; // in place: EVP allows out == in
    data += run;
    len -= run;
    put_be32(cb + 12, c + (uint32_t)(run / 16)); // run is whole blocks unless it was the last
  }
  return 1;
}

static int ecb(EVP_CIPHER_CTX* ctx, int encrypt, const uint8_t in[16], uint8_t out[16]) {
  int n;
  return (encrypt ? EVP_EncryptUpdate(ctx, out, &n, in, 16) : EVP_DecryptUpdate(ctx, out, &n, in, 16)) == 1 && n == 16;
}

static napi_value js_create(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  uint8_t *k0, *k1;
  size_t l0, l1;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 2) return throw_bad(env, "create(k0, k1): two arguments");
  if (!bytes_of(env, argv[0], &k0, &l0) || l0 != 32) return throw_bad(env, "create: K0 must be a Uint8Array of 32 bytes");
  if (!bytes_of(env, argv[1], &k1, &l1) || l1 != 32) return throw_bad(env, "create: K1 must be a Uint8Array of 32 bytes");
  siv_t* s = (siv_t*)calloc(1, sizeof *s);
  if (s == NULL) {
    napi_throw_error(env, NULL, "AES-GMAC-SIV: out of memory");
    return NULL;
  }
  if (!init_contexts(s, k0, k1)) {
    free_contexts(s);
    free(s);
    return throw_openssl(env, "context set-up");
  }
  napi_value h;
  if (napi_create_external(env, s, finalize, NULL, &h) != napi_ok) {
    free_contexts(s);
    free(s);
    return NULL;
  }
  int64_t ignored;
  napi_adjust_external_memory(env, CONTEXT_BYTES, &ignored);
  return h;
}

static napi_value js_encrypt(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  uint8_t *iv, *aad, *data, *tag;
  size_t liv, laad, len, ltag;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 5) return throw_bad(env, "encrypt(h, iv, aad, data, tagOut): five arguments");
  siv_t* s = handle_of(env, argv[0]);
  if (s == NULL) return throw_bad(env, "encrypt: not a live AES-GMAC-SIV handle (disposed?)");
  if (!bytes_of(env, argv[1], &iv, &liv) || liv != 8) return throw_bad(env, "encrypt: iv must be a Uint8Array of 8 bytes");
  if (!bytes_of(env, argv[2], &aad, &laad) || laad > MAX_DATA) return throw_bad(env, "encrypt: aad must be a Uint8Array");
  if (!bytes_of(env, argv[3], &data, &len) || len > MAX_DATA) return throw_bad(env, "encrypt: data must be a Uint8Array of at most 1 GiB");
  if (!bytes_of(env, argv[4], &tag, &ltag) || ltag != 16) return throw_bad(env, "encrypt: tagOut must be a Uint8Array of 16 bytes");
  uint8_t g[16], blk[16], t[16], cb[16];
  memcpy(blk, iv, 8); // copies first: the caller's buffers may overlap one another
  if (!gmac(s, blk, aad, laad, data, len, g)) return throw_openssl(env, "GMAC");
  for (int i = 0; i < 8; i++) blk[8 + i] = g[i] ^ g[8 + i];
  if (!ecb(s->ecb_enc, 1, blk, t)) return throw_openssl(env, "tag block encryption");
  memcpy(cb, t, 16);
  cb[12] &= 0x7f;
  if (!ctr_xor(s, cb, data, len)) return throw_openssl(env, "CTR");
  memcpy(tag, t, 16);
  return NULL;
}

static napi_value js_decrypt(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  uint8_t *tag, *aad, *data, *ivout;
  size_t ltag, laad, len, liv;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 5) return throw_bad(env, "decrypt(h, tag, aad, data, ivOut): five arguments");
  siv_t* s = handle_of(env, argv[0]);
  if (s == NULL) return throw_bad(env, "decrypt: not a live AES-GMAC-SIV handle (disposed?)");
  if (!bytes_of(env, argv[1], &tag, &ltag) || ltag != 16) return throw_bad(env, "decrypt: tag must be a Uint8Array of 16 bytes");
  if (!bytes_of(env, argv[2], &aad, &laad) || laad > MAX_DATA) return throw_bad(env, "decrypt: aad must be a Uint8Array");
  if (!bytes_of(env, argv[3], &data, &len) || len > MAX_DATA) return throw_bad(env, "decrypt: data must be a Uint8Array of at most 1 GiB");
  if (!bytes_of(env, argv[4], &ivout, &liv) || liv != 8) return throw_bad(env, "decrypt: ivOut must be a Uint8Array of 8 bytes");
  uint8_t t[16], cb[16], d[16], g[16];
  memcpy(t, tag, 16);
  memcpy(cb, t, 16);
  cb[12] &= 0x7f;
  if (!ctr_xor(s, cb, data, len)) return throw_openssl(env, "CTR");
  if (!ecb(s->ecb_dec, 0, t, d)) return throw_openssl(env, "tag block decryption"); // d = iv ‖ mac64
  if (!gmac(s, d, aad, laad, data, len, g)) return throw_openssl(env, "GMAC");
  uint8_t mac[8];
  for (int i = 0; i < 8; i++) mac[i] = g[i] ^ g[8 + i];
  int ok = CRYPTO_memcmp(mac, d + 8, 8) == 0; // constant time, as Utils::secureEq
  if (ok) {
    memcpy(ivout, d, 8);
  } else if (!ctr_xor(s, cb, data, len)) { // undo: leave the caller's buffer as it came
    return throw_openssl(env, "CTR");
  }
  napi_value r;
  napi_get_boolean(env, ok, &r);
  return r;
}

static napi_value js_dispose(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 1) return throw_bad(env, "dispose(h): one argument");
  void* p = NULL;
  if (napi_get_value_external(env, argv[0], &p) != napi_ok || p == NULL) return throw_bad(env, "dispose: not an AES-GMAC-SIV handle");
  siv_t* s = (siv_t*)p;
  if (s->gcm != NULL) { // a second dispose is a no-op
    free_contexts(s);
    int64_t ignored;
    napi_adjust_external_memory(env, -CONTEXT_BYTES, &ignored);
  }
  return NULL;
}

static napi_value js_ctr_xor(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  uint8_t *cb, *data;
  size_t lcb, len;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 3) return throw_bad(env, "ctrXor(h, counter, data): three arguments");
  siv_t* s = handle_of(env, argv[0]);
  if (s == NULL) return throw_bad(env, "ctrXor: not a live AES-GMAC-SIV handle (disposed?)");
  if (!bytes_of(env, argv[1], &cb, &lcb) || lcb != 16) return throw_bad(env, "ctrXor: counter must be a Uint8Array of 16 bytes");
  if (!bytes_of(env, argv[2], &data, &len) || len > MAX_DATA) return throw_bad(env, "ctrXor: data must be a Uint8Array of at most 1 GiB");
  uint8_t c[16];
  memcpy(c, cb, 16);
  if (!ctr_xor(s, c, data, len)) return throw_openssl(env, "CTR");
  return NULL;
}

static void set_property(napi_env env, napi_value obj, const char* name, napi_callback cb) {
  napi_value fn;
  if (napi_create_function(env, name, NAPI_AUTO_LENGTH, cb, NULL, &fn) == napi_ok) napi_set_named_property(env, obj, name, fn);
}

NAPI_MODULE_INIT() {
  set_property(env, exports, "create", js_create);
  set_property(env, exports, "encrypt", js_encrypt);
  set_property(env, exports, "decrypt", js_decrypt);
  set_property(env, exports, "dispose", js_dispose);
  set_property(env, exports, "ctrXor", js_ctr_xor);
  napi_value n;
  if (napi_create_int64(env, CONTEXT_BYTES, &n) == napi_ok) napi_set_named_property(env, exports, "contextBytes", n);
  return exports;
}
