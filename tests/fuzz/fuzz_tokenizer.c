/* fuzz_tokenizer.c: libFuzzer harness of the BPE tokenizer (lib/tokenizer.c, lib/bpe*.c,
 * lib/pretok.c). The first byte chooses what the rest is:
 *   even  a tokenizer.json for tf_tokenizer_from_json; when it loads, a few texts (and the
 *         input itself, with replacement) are encoded and decoded with it;
 *   odd   text for the GPT-NeoX-20B tokenizer of data/ (loaded once), encoded without and with
 *         TF_TOK_REPLACE_INVALID.
 * Promises checked: a refused file is TF_EDATA (TF_ENOMEM) with a message naming it; every id
 * encoded lies in [0, n_ids) and has bytes; valid UTF-8 (as utf8proc reads it) always encodes,
 * and decodes to its NFC form; invalid UTF-8 is refused with "invalid UTF-8 at byte N", N the
 * first byte utf8proc cannot read, and leaves the output as it was; with replacement anything
 * encodes and decodes to valid UTF-8; encoding twice (the second from the cache) agrees. */
#include <utf8proc.h>

#include "fuzz.h"

#define NEOX "data/gpt-neox-20b-tokenizer.json"

static struct tf_tokenizer *neox;

/* The offset of the first byte of s that utf8proc cannot read as UTF-8, or n. */
static size_t first_invalid(const uint8_t *s, size_t n) {
  size_t i = 0;
  while (i < n) {
    utf8proc_int32_t c;
    utf8proc_ssize_t k = utf8proc_iterate(s + i, (utf8proc_ssize_t)(n - i), &c);
    if (k <= 0) return i;
    i += (size_t)k;
  }
  return n;
}

/* Encodes s with flags into ids (returns the status), checking every id. */
static int encode(const struct tf_tokenizer *t, const uint8_t *s, size_t n, unsigned flags,
                  struct tf_ids *ids) {
  struct tf_error err = {0};
  ids->n = 0;
  int rc = tf_tokenizer_encode(t, (const char *)s, n, flags, ids, &err);
  if (rc && rc != TF_EDATA && rc != TF_ENOMEM) fuzz_fail("encode: status %d: %s", rc, err.msg);
  if (rc && ids->n) fuzz_fail("a failed encode left %zu ids", ids->n);
  size_t len;
  for (size_t i = 0; i < ids->n; i++)
    if (ids->v[i] < 0 || ids->v[i] >= tf_tokenizer_n_ids(t) ||
        !tf_tokenizer_token_bytes(t, ids->v[i], &len))
      fuzz_fail("encode gave id %d, not one of the tokenizer's", ids->v[i]);
  return rc;
}

/* With replacement: encodes, decodes to valid UTF-8, and a second encode agrees. */
static void check_replace(const struct tf_tokenizer *t, const uint8_t *s, size_t n) {
  struct tf_ids a = {0}, b = {0};
  struct tf_error err = {0};
  if (encode(t, s, n, TF_TOK_REPLACE_INVALID, &a)) fuzz_fail("encode with replacement failed");
  if (encode(t, s, n, TF_TOK_REPLACE_INVALID, &b) || a.n != b.n ||
      (a.n && memcmp(a.v, b.v, a.n * sizeof *a.v)))
    fuzz_fail("a second encode of the same text differs");
  char *back;
  size_t len;
  if (tf_tokenizer_decode(t, a.v, a.n, 0, &back, &len, &err)) fuzz_fail("decode: %s", err.msg);
  if (t == neox && first_invalid((uint8_t *)back, len) != len)
    fuzz_fail("decode gave invalid UTF-8");
  free(back);
  tf_ids_free(&a);
  tf_ids_free(&b);
}

/* Text for the NeoX tokenizer. */
static void check_text(const uint8_t *s, size_t n) {
  struct tf_ids ids = {0};
  struct tf_error err = {0};
  size_t bad = first_invalid(s, n);
  int rc = tf_tokenizer_encode(neox, (const char *)s, n, 0, &ids, &err);
  if (bad < n) {
    char want[64];
    snprintf(want, sizeof want, "invalid UTF-8 at byte %zu", bad);
    if (rc != TF_EDATA || strcmp(err.msg, want) || ids.n)
      fuzz_fail("invalid UTF-8 at %zu: status %d, \"%s\", %zu ids", bad, rc, err.msg, ids.n);
  } else {
    if (rc) fuzz_fail("valid UTF-8 refused: %s", err.msg);
    uint8_t *nfc = NULL;
    utf8proc_ssize_t m =
        utf8proc_map(s, (utf8proc_ssize_t)n, &nfc, UTF8PROC_STABLE | UTF8PROC_COMPOSE);
    char *back;
    size_t len;
    if (m < 0) fuzz_fail("utf8proc cannot normalize valid text");
    if (tf_tokenizer_decode(neox, ids.v, ids.n, 0, &back, &len, &err)) fuzz_fail("%s", err.msg);
    if (len != (size_t)m || memcmp(back, nfc, len)) fuzz_fail("decode(encode(x)) is not NFC(x)");
    free(back);
    free(nfc);
  }
  tf_ids_free(&ids);
  check_replace(neox, s, n);
}

/* A tokenizer.json: refused with a named error, or encodes some texts and the input. */
static void check_json(const uint8_t *s, size_t n) {
  static const int allowed[] = {TF_EDATA, TF_ENOMEM, 0};
  static const char *texts[] = {"",
                                "a",
                                "ab ab abc",
                                "Hello, world!  It's 42.\n",
                                "<|endoftext|>x  y",
                                "caf\xc3\xa9 e\xcc\x81 \xf0\x9f\x98\x80"};
  struct tf_tokenizer *t;
  struct tf_error err = {0};
  int rc = tf_tokenizer_from_json(&t, (const char *)s, n, "fuzz.json", &err);
  fuzz_check_error(rc, &err, "fuzz.json: ", allowed, "tf_tokenizer_from_json");
  if (rc) {
    if (t) fuzz_fail("a refused tokenizer was returned");
    return;
  }
  for (size_t i = 0; i < sizeof texts / sizeof *texts; i++)
    check_replace(t, (const uint8_t *)texts[i], strlen(texts[i]));
  check_replace(t, s, n);
  tf_tokenizer_free(t);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (!neox) {
    struct tf_error err = {0};
    if (tf_tokenizer_load(&neox, NEOX, &err)) fuzz_fail("cannot load %s: %s", NEOX, err.msg);
  }
  if (size < 1) return 0;
  if (data[0] & 1)
    check_text(data + 1, size - 1);
  else
    check_json(data + 1, size - 1);
  return 0;
}
