// The memory-hard hash of ZeroTier identities (shared/protocol/vl1.md §2.4), natively: the work of
// vl1/identity-hash.ts's memoryHardHash after its SHA-512, i.e. the 2 MiB Salsa20/20 fill and the
// 131,072-round swap loop. vl1/identity-hash.ts stays the reference this is tested against.
//
// Why it is fast: every keystream block of the hash is Salsa20/20 of (digest key, digest nonce, counter n)
// for n = 0, 1, 2, … — independent of the memory and of the swaps — so blocks are computed LANES at a
// time, one counter per vector lane (GCC/Clang vector extensions: SSE2/AVX2 on x86-64, NEON on arm64),
// and the widest variant the CPU runs (AVX-512, AVX2, else the baseline) is chosen at load time.
//
// API (Node-API, usable from worker threads):
//   fill(digest: Uint8Array(64), scratch: Uint8Array(2 MiB)) → undefined
//     `digest` holds SHA-512(public key) on entry and the memory-hard digest on return.
//   variant: "avx512" | "avx2" | "generic" — the keystream code this CPU runs.
#include <node_api.h>
#include <stdint.h>
#include <string.h>

#define GEN_MEMORY (2u * 1024u * 1024u)
#define BLOCKS (GEN_MEMORY / 64u)  // 32,768
#define WORDS (GEN_MEMORY / 8u)    // 262,144
// Blocks produced per call of a keystream generator (the widest variant's lanes).
#define GROUP 16

typedef uint32_t vec8 __attribute__((vector_size(32)));
typedef uint32_t vec16 __attribute__((vector_size(64)));

#define ROTL(v, n) (((v) << (n)) | ((v) >> (32 - (n))))

static inline uint32_t le32(const uint8_t* p) {
  return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

// LANES consecutive keystream blocks (counters ctr .. ctr+LANES−1) of Salsa20/20 with input state `in`
// (16 words, counter words ignored), as bytes (little-endian words) at out[0 .. 64·LANES). One body,
// instantiated per vector width and instruction set.
#define SALSA20_BLOCKS(NAME, VEC, LANES, TARGET)                                                             \
  TARGET static void NAME(const uint32_t in[16], uint64_t ctr, uint8_t* out) {                               \
    VEC s[16];                                                                                               \
    for (int i = 0; i < 16; i++)                                                                             \
      for (int l = 0; l < LANES; l++) s[i][l] = in[i];                                                       \
    for (int l = 0; l < LANES; l++) {                                                                        \
      uint64_t c = ctr + (uint64_t)l;                                                                        \
      s[8][l] = (uint32_t)c;                                                                                 \
      s[9][l] = (uint32_t)(c >> 32);                                                                         \
    }                                                                                                        \
    VEC x0 = s[0], x1 = s[1], x2 = s[2], x3 = s[3], x4 = s[4], x5 = s[5], x6 = s[6], x7 = s[7];              \
    VEC x8 = s[8], x9 = s[9], x10 = s[10], x11 = s[11], x12 = s[12], x13 = s[13], x14 = s[14], x15 = s[15];  \
    for (int r = 0; r < 20; r += 2) {                                                                        \
      x4 ^= ROTL(x0 + x12, 7);   x8 ^= ROTL(x4 + x0, 9);    x12 ^= ROTL(x8 + x4, 13);  x0 ^= ROTL(x12 + x8, 18);  \
      x9 ^= ROTL(x5 + x1, 7);    x13 ^= ROTL(x9 + x5, 9);   x1 ^= ROTL(x13 + x9, 13);  x5 ^= ROTL(x1 + x13, 18);  \
      x14 ^= ROTL(x10 + x6, 7);  x2 ^= ROTL(x14 + x10, 9);  x6 ^= ROTL(x2 + x14, 13);  x10 ^= ROTL(x6 + x2, 18);  \
      x3 ^= ROTL(x15 + x11, 7);  x7 ^= ROTL(x3 + x15, 9);   x11 ^= ROTL(x7 + x3, 13);  x15 ^= ROTL(x11 + x7, 18); \
      x1 ^= ROTL(x0 + x3, 7);    x2 ^= ROTL(x1 + x0, 9);    x3 ^= ROTL(x2 + x1, 13);   x0 ^= ROTL(x3 + x2, 18);   \
      x6 ^= ROTL(x5 + x4, 7);    x7 ^= ROTL(x6 + x5, 9);    x4 ^= ROTL(x7 + x6, 13);   x5 ^= ROTL(x4 + x7, 18);   \
      x11 ^= ROTL(x10 + x9, 7);  x8 ^= ROTL(x11 + x10, 9);  x9 ^= ROTL(x8 + x11, 13);  x10 ^= ROTL(x9 + x8, 18);  \
      x12 ^= ROTL(x15 + x14, 7); x13 ^= ROTL(x12 + x15, 9); x14 ^= ROTL(x13 + x12, 13); x15 ^= ROTL(x14 + x13, 18); \
    }                                                                                                        \
    VEC o[16] = {x0 + s[0], x1 + s[1], x2 + s[2], x3 + s[3], x4 + s[4], x5 + s[5], x6 + s[6], x7 + s[7],     \
                 x8 + s[8], x9 + s[9], x10 + s[10], x11 + s[11], x12 + s[12], x13 + s[13], x14 + s[14], x15 + s[15]}; \
    /* Transpose lanes into blocks: vector stores into a word-major table, then word copies. */              \
    uint32_t t[16][LANES] __attribute__((aligned(64)));                                                      \
    for (int i = 0; i < 16; i++) memcpy(t[i], &o[i], sizeof(VEC));                                           \
    for (int l = 0; l < LANES; l++)                                                                          \
      for (int i = 0; i < 16; i++) store_le32(out + 64 * l + 4 * i, t[i][l]);                                \
  }

static inline void store_le32(uint8_t* b, uint32_t w) {
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
  memcpy(b, &w, 4);
#else
  b[0] = (uint8_t)w;
  b[1] = (uint8_t)(w >> 8);
  b[2] = (uint8_t)(w >> 16);
  b[3] = (uint8_t)(w >> 24);
#endif
}

SALSA20_BLOCKS(salsa_x8, vec8, 8, )
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
SALSA20_BLOCKS(salsa_x8_avx2, vec8, 8, __attribute__((target("avx2"))))
SALSA20_BLOCKS(salsa_x16_avx512, vec16, 16, __attribute__((target("avx512f"))))
#endif

typedef void (*group_fn)(const uint32_t in[16], uint64_t ctr, uint8_t* out);

static void group_generic(const uint32_t in[16], uint64_t ctr, uint8_t* out) {
  salsa_x8(in, ctr, out);
  salsa_x8(in, ctr + 8, out + 512);
}
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
static void group_avx2(const uint32_t in[16], uint64_t ctr, uint8_t* out) {
  salsa_x8_avx2(in, ctr, out);
  salsa_x8_avx2(in, ctr + 8, out + 512);
}
#endif

// GROUP keystream blocks from counter `ctr`, with the widest variant this CPU runs (chosen once at load).
static group_fn salsa_group = group_generic;
static const char* variant = "generic";

static void choose_variant(void) {
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f")) {
    salsa_group = salsa_x16_avx512;
    variant = "avx512";
  } else if (__builtin_cpu_supports("avx2")) {
    salsa_group = group_avx2;
    variant = "avx2";
  }
#endif
}

static void memory_hard_fill(uint8_t digest[64], uint8_t* mem, group_fn gen) {
  uint32_t in[16];
  in[0] = 0x61707865u;
  in[1] = le32(digest);
  in[2] = le32(digest + 4);
  in[3] = le32(digest + 8);
  in[4] = le32(digest + 12);
  in[5] = 0x3320646eu;
  in[6] = le32(digest + 32);
  in[7] = le32(digest + 36);
  in[8] = 0;
  in[9] = 0;
  in[10] = 0x79622d32u;
  in[11] = le32(digest + 16);
  in[12] = le32(digest + 20);
  in[13] = le32(digest + 24);
  in[14] = le32(digest + 28);
  in[15] = 0x6b206574u;

  // Block 0 = keystream block 0; block i = block i−1 XOR keystream block i.
  uint64_t ctr = 0;
  for (uint32_t b = 0; b < BLOCKS; b += GROUP, ctr += GROUP) gen(in, ctr, mem + 64u * b);
  uint64_t* m = (uint64_t*)mem;
  for (uint32_t i = 8; i < WORDS; i++) m[i] ^= m[i - 8];

  // 131,072 rounds: swap memory word BE64(w+1) mod 2^18 with digest word BE64(w) mod 8, then
  // digest ^= the next keystream block.
  uint8_t ks[64 * GROUP];
  uint64_t d[8];
  memcpy(d, digest, 64);
  uint32_t k = GROUP;
  for (uint32_t w = 0; w < WORDS; w += 2) {
    const uint8_t* p = mem + 8u * w;
    uint32_t idx1 = p[7] & 7u;
    uint32_t idx2 = (((uint32_t)p[13] << 16) | ((uint32_t)p[14] << 8) | p[15]) & (WORDS - 1);
    uint64_t t = m[idx2];
    m[idx2] = d[idx1];
    d[idx1] = t;
    if (k == GROUP) {
      gen(in, ctr, ks);
      ctr += GROUP;
      k = 0;
    }
    uint64_t kw[8];
    memcpy(kw, ks + 64u * k, 64);
    for (int i = 0; i < 8; i++) d[i] ^= kw[i];
    k++;
  }
  memcpy(digest, d, 64);
}

static napi_value fail(napi_env env, const char* msg) {
  napi_throw_type_error(env, "ZT_BAD_VALUE", msg);
  return NULL;
}

static int bytes_of(napi_env env, napi_value v, uint8_t** data, size_t* len) {
  bool is;
  if (napi_is_typedarray(env, v, &is) != napi_ok || !is) return 0;
  napi_typedarray_type type;
  void* p;
  napi_value ab;
  size_t off;
  if (napi_get_typedarray_info(env, v, &type, len, &p, &ab, &off) != napi_ok || type != napi_uint8_array) return 0;
  *data = (uint8_t*)p;
  return 1;
}

// The generator named `name` if this CPU runs it (tests compare every variant with the JS reference).
static group_fn group_named(const char* name) {
  if (strcmp(name, "generic") == 0) return group_generic;
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
  if (strcmp(name, "avx2") == 0 && __builtin_cpu_supports("avx2")) return group_avx2;
  if (strcmp(name, "avx512") == 0 && __builtin_cpu_supports("avx512f")) return salsa_x16_avx512;
#endif
  return NULL;
}

static napi_value js_fill(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 2) return fail(env, "fill(digest, scratch[, variant]): two arguments at least");
  uint8_t *digest, *mem;
  size_t dlen, mlen;
  if (!bytes_of(env, argv[0], &digest, &dlen) || dlen != 64) return fail(env, "fill: digest must be a Uint8Array of 64 bytes");
  if (!bytes_of(env, argv[1], &mem, &mlen) || mlen != GEN_MEMORY) return fail(env, "fill: scratch must be a Uint8Array of 2 MiB");
  if (((uintptr_t)mem & 7u) != 0) return fail(env, "fill: scratch must be 8-byte aligned");
  group_fn gen = salsa_group;
  if (argc >= 3) {
    char name[16];
    size_t n;
    if (napi_get_value_string_utf8(env, argv[2], name, sizeof name, &n) != napi_ok || (gen = group_named(name)) == NULL) {
      return fail(env, "fill: variant must be one of generic, avx2, avx512 that this CPU runs");
    }
  }
  memory_hard_fill(digest, mem, gen);
  return NULL;
}

NAPI_MODULE_INIT() {
  choose_variant();
  napi_value fn, name;
  if (napi_create_string_utf8(env, variant, NAPI_AUTO_LENGTH, &name) != napi_ok) return NULL;
  if (napi_set_named_property(env, exports, "variant", name) != napi_ok) return NULL;
  if (napi_create_function(env, "fill", NAPI_AUTO_LENGTH, js_fill, NULL, &fn) != napi_ok) return NULL;
  if (napi_set_named_property(env, exports, "fill", fn) != napi_ok) return NULL;
  return exports;
}
