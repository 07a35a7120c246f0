/* pretok.c: text to pre-tokens, in the Hugging Face library's order (docs/tokenizer.md):
 * the UTF-8 check (or replacement), added tokens not normalized split out of the text as given,
 * NFC (utf8proc) of each piece between them, added tokens normalized split out of that, then
 * the ByteLevel pre-tokenizer's GPT-2 pattern (PCRE2) on each remaining piece; every match is
 * one pre-token for the merge loop (lib/bpe.c). */
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "bpe_internal.h"

/* The GPT-2 pattern. Oniguruma's \s (the library's regex engine) is U+0009-000D, U+0085 and
 * the separators \p{Z}; PCRE2's \s differs (U+180E), so the class is spelled out. */
#define WS "\\t-\\r\\x{85}\\p{Z}"
static const char pattern[] = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^" WS
                              "\\p{L}\\p{N}]+|[" WS "]+(?![^" WS "])|[" WS "]+";

int tf_pretok_compile(struct tf_bpe *bpe, struct tf_error *err) {
  int code;
  PCRE2_SIZE at;
  bpe->re = pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED, PCRE2_UTF | PCRE2_UCP, &code,
                          &at, NULL);
  if (!bpe->re) {
    PCRE2_UCHAR msg[256];
    pcre2_get_error_message(code, msg, sizeof msg);
    return tf_error_set(err, TF_EDATA, "the split pattern: %s at %zu", (char *)msg, (size_t)at);
  }
  bpe->jit = pcre2_jit_compile(bpe->re, PCRE2_JIT_COMPLETE) == 0;
  return TF_OK;
}

/* The length of the valid UTF-8 character at s (n > 0 bytes left), or 0 when it is invalid;
 * then *bad is the length of its maximal invalid subpart (the bytes one U+FFFD replaces). */
static size_t utf8_char(const uint8_t *s, size_t n, size_t *bad) {
  uint8_t b = s[0];
  if (b < 0x80) return 1;
  size_t need;
  uint8_t lo = 0x80, hi = 0xBF; /* the range of the second byte */
  if (b >= 0xC2 && b <= 0xDF)
    need = 2;
  else if (b >= 0xE0 && b <= 0xEF)
    need = 3, lo = b == 0xE0 ? 0xA0 : 0x80, hi = b == 0xED ? 0x9F : 0xBF;
  else if (b >= 0xF0 && b <= 0xF4)
    need = 4, lo = b == 0xF0 ? 0x90 : 0x80, hi = b == 0xF4 ? 0x8F : 0xBF;
  else
    return *bad = 1, 0;
  size_t k = 1;
  for (; k < need && k < n; k++) {
    uint8_t c = s[k];
    if (c < (k == 1 ? lo : 0x80) || c > (k == 1 ? hi : 0xBF)) break;
  }
  if (k == need) return need;
  *bad = k;
  return 0;
}

/* The offset of the first invalid byte of s, or n. */
static size_t utf8_check(const uint8_t *s, size_t n) {
  size_t i = 0, bad;
  while (i < n) {
    while (i + 8 <= n) {
      uint64_t w;
      memcpy(&w, s + i, 8);
      if (w & 0x8080808080808080ull) break;
      i += 8;
    }
    if (i >= n) break;
    size_t k = utf8_char(s + i, n - i, &bad);
    if (!k) return i;
    i += k;
  }
  return n;
}

/* s with each maximal invalid subpart replaced by U+FFFD, as a new buffer of *m bytes. */
static uint8_t *utf8_replace(const uint8_t *s, size_t n, size_t *m) {
  uint8_t *out = n < SIZE_MAX / 3 ? malloc(3 * n + 1) : NULL; /* one byte grows to three */
  if (!out) return NULL;
  size_t i = 0, k = 0, bad;
  while (i < n) {
    size_t len = utf8_char(s + i, n - i, &bad);
    if (len) {
      memcpy(out + k, s + i, len);
      k += len;
      i += len;
    } else {
      memcpy(out + k, "\xEF\xBF\xBD", 3);
      k += 3;
      i += bad;
    }
  }
  *m = k;
  return out;
}

/* The added token of trie tr starting at s (n bytes left): its id and *len, or -1. */
static int32_t trie_match(const struct tf_bpe_trie *tr, const uint8_t *s, size_t n, size_t *len) {
  int32_t at = 0, id = -1;
  for (size_t i = 0; i < n; i++) {
    int32_t c = tr->node[at].child;
    while (c >= 0 && tr->node[c].byte != s[i]) c = tr->node[c].sibling;
    if (c < 0) break;
    at = c;
    if (tr->node[at].id >= 0) id = tr->node[at].id, *len = i + 1;
  }
  return id;
}

/* The encoding state of one call. */
struct enc {
  struct tf_bpe *bpe;
  struct tf_bpe_cache *c;
  struct tf_ids *out;
  struct tf_error *err;
};

/* Runs the split pattern over one piece; each match (and any gap) is a pre-token. */
static int split(struct enc *e, const uint8_t *s, size_t n) {
  const struct tf_bpe *bpe = e->bpe;
  if (!bpe->use_regex) return tf_bpe_encode_word(bpe, e->c, s, n, e->out, e->err);
  PCRE2_SIZE *ov = pcre2_get_ovector_pointer(e->c->md);
  size_t at = 0;
  while (at < n) {
    int rc = bpe->jit ? pcre2_jit_match(bpe->re, s, n, at, 0, e->c->md, NULL)
                      : pcre2_match(bpe->re, s, n, at, PCRE2_NO_UTF_CHECK, e->c->md, NULL);
    size_t from = rc > 0 ? ov[0] : n, to = rc > 0 ? ov[1] : n;
    if (rc < 0 && rc != PCRE2_ERROR_NOMATCH)
      return tf_error_set(e->err, TF_EDATA, "the split pattern failed (PCRE2 error %d)", rc);
    if (from > at && (rc = tf_bpe_encode_word(bpe, e->c, s + at, from - at, e->out, e->err)))
      return rc;
    if (to <= from) break; /* the pattern never matches empty text */
    if ((rc = tf_bpe_encode_word(bpe, e->c, s + from, to - from, e->out, e->err))) return rc;
    at = to;
  }
  return TF_OK;
}

/* A piece between added tokens: the ByteLevel pre-tokenizer's prefix space, then the split. */
static int pretokenize(struct enc *e, const uint8_t *s, size_t n) {
  if (!n) return TF_OK;
  if (!e->bpe->add_prefix_space || s[0] == ' ') return split(e, s, n);
  struct tf_bpe_cache *c = e->c;
  if (c->buf_cap < n + 1) {
    uint8_t *b = realloc(c->buf, n + 1);
    if (!b) return tf_error_set(e->err, TF_ENOMEM, "out of memory for %zu bytes of text", n);
    c->buf = b;
    c->buf_cap = n + 1;
  }
  c->buf[0] = ' ';
  memcpy(c->buf + 1, s, n);
  return split(e, c->buf, n + 1);
}

typedef int (*piece_fn)(struct enc *e, const uint8_t *s, size_t n);

/* Splits s at the added tokens of tr (leftmost, then longest): each token's id goes out,
 * each piece between them to fn. */
static int split_added(struct enc *e, const struct tf_bpe_trie *tr, const uint8_t *s, size_t n,
                       piece_fn fn) {
  size_t from = 0, len = 0;
  int rc;
  if (tr->node)
    for (size_t i = 0; i < n;) {
      if (tr->n_first == 1) { /* skip to the next byte a token may start with */
        const uint8_t *at = memchr(s + i, tr->only, n - i);
        if (!at) break;
        i = (size_t)(at - s);
      }
      int32_t id = tr->first[s[i]] ? trie_match(tr, s + i, n - i, &len) : -1;
      if (id < 0) {
        i++;
        continue;
      }
      if ((rc = fn(e, s + from, i - from)) || (rc = tf_bpe_push(e->out, id, e->err))) return rc;
      i += len;
      from = i;
    }
  return fn(e, s + from, n - from);
}

/* A piece between added tokens not normalized: NFC, then the normalized added tokens. */
static int normalize(struct enc *e, const uint8_t *s, size_t n) {
  if (!n) return TF_OK;
  int ascii = 1;
  for (size_t i = 0; i < n && ascii; i++) ascii = s[i] < 0x80;
  if (ascii || !e->bpe->nfc) return split_added(e, &e->bpe->norm_trie, s, n, pretokenize);
  uint8_t *nfc = NULL;
  utf8proc_ssize_t m =
      utf8proc_map(s, (utf8proc_ssize_t)n, &nfc, UTF8PROC_STABLE | UTF8PROC_COMPOSE);
  if (m < 0)
    return tf_error_set(e->err, m == UTF8PROC_ERROR_NOMEM ? TF_ENOMEM : TF_EDATA, "NFC: %s",
                        utf8proc_errmsg(m));
  int rc = split_added(e, &e->bpe->norm_trie, nfc, (size_t)m, pretokenize);
  free(nfc);
  return rc;
}

int tf_bpe_encode(struct tf_bpe *bpe, const char *text, size_t n, unsigned flags,
                  struct tf_ids *out, struct tf_error *err) {
  struct enc e = {bpe, tf_bpe_thread_cache(bpe), out, err};
  if (!e.c) return tf_error_set(err, TF_ENOMEM, "out of memory for the tokenizer cache");
  const uint8_t *s = (const uint8_t *)text;
  uint8_t *fixed = NULL;
  size_t bad = utf8_check(s, n);
  if (bad < n) {
    if (!(flags & TF_TOK_REPLACE_INVALID))
      return tf_error_set(err, TF_EDATA, "invalid UTF-8 at byte %zu", bad);
    if (!(fixed = utf8_replace(s, n, &n)))
      return tf_error_set(err, TF_ENOMEM, "out of memory for %zu bytes of text", n);
    s = fixed;
  }
  int rc = split_added(&e, &bpe->raw_trie, s, n, normalize);
  free(fixed);
  return rc;
}
