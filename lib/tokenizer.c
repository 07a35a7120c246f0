/* tokenizer.c: the tokenizer object every command shares: the byte tokenizer, and the
 * byte-level BPE of a Hugging Face tokenizer.json (loading, encoding and decoding of BPE live in
 * bpe*.c). Text in, ids out, and back; no model math. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bpe_internal.h"
#include "tokenformer.h"
#include "sha256.h"

struct tf_tokenizer {
  enum tf_tok_kind kind;
  char *json; /* the tokenizer.json text (bpe), NUL-terminated */
  size_t json_len;
  char sha256[TF_SHA256_HEX];
  uint8_t bytes[TF_BYTE_TOKENS]; /* bytes kind: token i is byte i */
  struct tf_bpe *bpe;            /* bpe kind */
};

void tf_ids_free(struct tf_ids *ids) {
  free(ids->v);
  memset(ids, 0, sizeof *ids);
}

/* Makes room for `more` ids after the n held. */
static int ids_reserve(struct tf_ids *ids, size_t more, struct tf_error *err) {
  if (ids->cap - ids->n >= more) return TF_OK;
  size_t cap = ids->cap ? ids->cap : 256;
  while (cap - ids->n < more) {
    if (cap > SIZE_MAX / 2 / sizeof *ids->v)
      return tf_error_set(err, TF_ENOMEM, "out of memory: %zu token ids", ids->n + more);
    cap *= 2;
  }
  int32_t *v = realloc(ids->v, cap * sizeof *v);
  if (!v) return tf_error_set(err, TF_ENOMEM, "out of memory: %zu token ids", cap);
  ids->v = v;
  ids->cap = cap;
  return TF_OK;
}

int tf_ids_push(struct tf_ids *ids, int32_t id, struct tf_error *err) {
  int rc = ids_reserve(ids, 1, err);
  if (!rc) ids->v[ids->n++] = id;
  return rc;
}

int tf_tokenizer_bytes(struct tf_tokenizer **t, struct tf_error *err) {
  *t = calloc(1, sizeof **t);
  if (!*t) return tf_error_set(err, TF_ENOMEM, "out of memory creating the byte tokenizer");
  (*t)->kind = TF_TOK_BYTES;
  for (int i = 0; i < TF_BYTE_TOKENS; i++) (*t)->bytes[i] = (uint8_t)i;
  return TF_OK;
}

int tf_tokenizer_from_json(struct tf_tokenizer **t, const char *json, size_t len, const char *name,
                           struct tf_error *err) {
  *t = NULL;
  struct tf_tokenizer *k = calloc(1, sizeof *k);
  char *copy = len < SIZE_MAX ? malloc(len + 1) : NULL;
  if (!k || !copy) {
    free(k);
    free(copy);
    return tf_error_set(err, TF_ENOMEM, "%s: out of memory", name);
  }
  int rc = tf_bpe_load(&k->bpe, json, len, name, err);
  if (rc) {
    free(k);
    free(copy);
    return rc;
  }
  k->kind = TF_TOK_BPE;
  memcpy(copy, json, len);
  copy[len] = '\0';
  k->json = copy;
  k->json_len = len;
  tf_sha256_hex(json, len, k->sha256);
  *t = k;
  return TF_OK;
}

int tf_tokenizer_load(struct tf_tokenizer **t, const char *path, struct tf_error *err) {
  *t = NULL;
  const char *name = strcmp(path, "-") == 0 ? "<stdin>" : path;
  struct tf_input in;
  int rc = tf_input_open(&in, path, path, err);
  if (!rc) rc = tf_tokenizer_from_json(t, (const char *)in.p, in.n, name, err);
  if (!rc) rc = tf_input_check(path, err);
  if (rc) {
    tf_tokenizer_free(*t);
    *t = NULL;
  }
  tf_input_close(&in);
  return rc;
}

void tf_tokenizer_free(struct tf_tokenizer *t) {
  if (!t) return;
  tf_bpe_free(t->bpe);
  free(t->json);
  free(t);
}

int tf_tokenizer_copy(struct tf_tokenizer **dst, const struct tf_tokenizer *t,
                      struct tf_error *err) {
  if (t->kind == TF_TOK_BYTES) return tf_tokenizer_bytes(dst, err);
  return tf_tokenizer_from_json(dst, t->json, t->json_len, "tokenizer", err);
}

enum tf_tok_kind tf_tokenizer_kind(const struct tf_tokenizer *t) {
  return t->kind;
}

const char *tf_tokenizer_kind_name(const struct tf_tokenizer *t) {
  return t->kind == TF_TOK_BPE ? "bpe" : "bytes";
}

int tf_tokenizer_n_ids(const struct tf_tokenizer *t) {
  return t->kind == TF_TOK_BYTES ? TF_BYTE_TOKENS : t->bpe->n_ids;
}

int32_t tf_tokenizer_eos(const struct tf_tokenizer *t) {
  return t->kind == TF_TOK_BYTES ? -1 : t->bpe->eos;
}

const char *tf_tokenizer_json(const struct tf_tokenizer *t, size_t *len) {
  if (len) *len = t->json ? t->json_len : 0;
  return t->json;
}

const char *tf_tokenizer_sha256(const struct tf_tokenizer *t) {
  return t->sha256;
}

int tf_tokenizer_encode(const struct tf_tokenizer *t, const char *text, size_t n, unsigned flags,
                        struct tf_ids *out, struct tf_error *err) {
  if (t->kind == TF_TOK_BPE) {
    size_t first = out->n;
    int rc = tf_bpe_encode(t->bpe, text, n, flags, out, err);
    if (rc) out->n = first; /* nothing half-encoded is left */
    return rc;
  }
  int rc = ids_reserve(out, n, err);
  if (rc) return rc;
  for (size_t i = 0; i < n; i++) out->v[out->n++] = (uint8_t)text[i];
  return TF_OK;
}

const uint8_t *tf_tokenizer_token_bytes(const struct tf_tokenizer *t, int32_t id, size_t *len) {
  if (t->kind == TF_TOK_BPE) {
    const struct tf_bpe *b = t->bpe;
    if (id < 0 || id >= b->n_ids || b->tok_len[id] == TF_BPE_UNUSED) return NULL;
    *len = b->tok_len[id];
    return b->tok_pool + b->tok_off[id];
  }
  if (id < 0 || id >= TF_BYTE_TOKENS) return NULL;
  *len = 1;
  return &t->bytes[id];
}

int tf_tokenizer_is_special(const struct tf_tokenizer *t, int32_t id) {
  if (t->kind != TF_TOK_BPE || id < 0 || id >= t->bpe->n_ids) return 0;
  return t->bpe->special[id];
}

int tf_tokenizer_decode(const struct tf_tokenizer *t, const int32_t *ids, size_t n,
                        int skip_special, char **out, size_t *len, struct tf_error *err) {
  size_t total = 0, k = 0;
  *out = NULL;
  *len = 0;
  for (size_t i = 0; i < n; i++) {
    if (skip_special && tf_tokenizer_is_special(t, ids[i])) continue;
    if (!tf_tokenizer_token_bytes(t, ids[i], &k))
      return tf_error_set(err, TF_EDATA, "token %zu: id %d is not one of the tokenizer's", i,
                          ids[i]);
    total += k;
  }
  char *buf = malloc(total + 1);
  if (!buf) return tf_error_set(err, TF_ENOMEM, "out of memory decoding %zu tokens", n);
  char *p = buf;
  for (size_t i = 0; i < n; i++) {
    if (skip_special && tf_tokenizer_is_special(t, ids[i])) continue;
    const uint8_t *b = tf_tokenizer_token_bytes(t, ids[i], &k);
    memcpy(p, b, k);
    p += k;
  }
  *p = '\0';
  *out = buf;
  *len = total;
  return TF_OK;
}
