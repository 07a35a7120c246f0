/* data.c: corpora as token ids: a text file (its bytes mapped as they are for the byte
 * tokenizer, else tokenized on every core), or an indexed token dataset (tf_mmidx_*, the .bin
 * mapped); training windows at random offsets. No model math, no training loop. */
#include <stdlib.h>
#include <string.h>

#include "tokenformer.h"
#include "data_internal.h"
#include "rng.h"

static const char *display_name(const char *path) {
  return strcmp(path, "-") ? path : "<stdin>";
}

/* PREFIX.idx read and checked against PREFIX.bin, which stays mapped. */
static int open_dataset(struct tf_corpus *c, const char *prefix, struct tf_error *err) {
  size_t n = strlen(prefix);
  char *idx_name = malloc(n + 5);
  c->name = malloc(n + 5);
  if (!idx_name || !c->name) {
    free(idx_name);
    return tf_error_set(err, TF_ENOMEM, "out of memory");
  }
  sprintf(idx_name, "%s.idx", prefix);
  sprintf(c->name, "%s.bin", prefix);
  c->path = c->name;
  struct tf_input idx;
  struct tf_mmidx_info info;
  int rc = tf_input_open(&idx, idx_name, idx_name, err);
  if (!rc) rc = tf_input_open(&c->in, c->name, c->name, err);
  if (!rc) rc = tf_mmidx_parse(idx.p, idx.n, c->in.n, idx_name, c->name, &info, err);
  if (!rc) rc = tf_input_check(idx_name, err);
  tf_input_close(&idx);
  free(idx_name);
  if (rc) return rc;
  c->ids = c->in.p;
  c->dtype = info.dtype;
  c->n = info.n_tokens;
  c->n_docs = info.n_docs;
  c->is_dataset = 1;
  if (c->n == 0) return tf_error_set(err, TF_EDATA, "%s: no tokens", c->path);
  return TF_OK;
}

/* A text: its bytes are the ids of the byte tokenizer (tok NULL or bytes), kept where they
 * are; any other tokenizer encodes them (max_bytes > 0: the first max_bytes only). */
static int open_text(struct tf_corpus *c, const char *path, const struct tf_tokenizer *tok,
                     size_t max_bytes, unsigned flags, struct tf_error *err) {
  c->path = display_name(path);
  int rc = tf_input_open(&c->in, path, c->path, err);
  if (rc) return rc;
  c->text_bytes = max_bytes > 0 && max_bytes < c->in.n ? max_bytes : c->in.n;
  c->n_docs = 1;
  if (c->in.n == 0) return tf_error_set(err, TF_EDATA, "%s: empty file, expected text", c->path);
  if (!tok || tf_tokenizer_kind(tok) == TF_TOK_BYTES) {
    c->ids = c->in.p;
    c->dtype = TF_IDS_U8;
    c->n = c->text_bytes;
    return TF_OK;
  }
  if (c->text_bytes < c->in.n) /* --max-bytes: never split a UTF-8 character */
    c->text_bytes = tf_utf8_complete(c->in.p, c->text_bytes);
  struct tf_ids ids = {0};
  rc = tf_encode_text(tok, (const char *)c->in.p, c->text_bytes, flags, &ids, err);
  if (!rc) rc = tf_input_check(c->path, err);
  if (rc) {
    tf_ids_free(&ids);
    return tf_error_name_file(err, c->path);
  }
  c->owned_ids = ids.v;
  c->ids = ids.v;
  c->dtype = TF_IDS_I32;
  c->n = ids.n;
  if (c->n == 0) return tf_error_set(err, TF_EDATA, "%s: no tokens", c->path);
  return TF_OK;
}

int tf_corpus_open_with(struct tf_corpus *c, const char *path, const struct tf_tokenizer *tok,
                        size_t max_bytes, unsigned flags, struct tf_error *err) {
  memset(c, 0, sizeof *c);
  char prefix[TF_PATH_MAX];
  int rc = !tf_path_is_stdin(path) && tf_mmidx_prefix(path, prefix, sizeof prefix)
               ? open_dataset(c, prefix, err)
               : open_text(c, path, tok, max_bytes, flags, err);
  if (rc) tf_corpus_close(c);
  return rc;
}

int tf_corpus_open(struct tf_corpus *c, const char *path, struct tf_error *err) {
  return tf_corpus_open_with(c, path, NULL, 0, 0, err);
}

void tf_corpus_close(struct tf_corpus *c) {
  tf_input_close(&c->in);
  free(c->owned_ids);
  free(c->name);
  memset(c, 0, sizeof *c);
}

int tf_corpus_check_ids(const struct tf_corpus *c, int64_t limit, const char *what,
                        struct tf_error *err) {
  if (c->dtype == TF_IDS_U8 && limit >= 256) return tf_input_check(c->path, err);
  for (size_t i = 0; i < c->n; i++) {
    int64_t id = tf_ids_get(c->dtype, c->ids, i);
    if (id < 0 || id >= limit)
      return tf_error_set(err, TF_EDATA, "%s: token %zu is id %lld, outside %s [0, %lld)", c->path,
                          i, (long long)id, what, (long long)limit);
  }
  return tf_input_check(c->path, err);
}

int tf_corpus_check_model(const struct tf_corpus *c, const struct tf_model *m,
                          struct tf_error *err) {
  int64_t tok_ids = tf_tokenizer_n_ids(m->tok);
  if (tok_ids > 0 && tok_ids < m->cfg.vocab_size)
    return tf_corpus_check_ids(c, tok_ids, "the model's tokenizer's ids", err);
  return tf_corpus_check_ids(c, m->cfg.vocab_size, "the model's vocab_size", err);
}

int tf_corpus_check_window(const struct tf_corpus *c, int T, struct tf_error *err) {
  if (c->n < (size_t)T + 1)
    return tf_error_set(err, TF_EDATA,
                        "%s: %zu tokens, shorter than one training window of %d tokens", c->path,
                        c->n, T + 1);
  return TF_OK;
}

const char *tf_corpus_unit(const struct tf_corpus *c) {
  return c->dtype == TF_IDS_U8 && !c->is_dataset ? "byte" : "token";
}

void tf_corpus_copy(const struct tf_corpus *c, size_t off, size_t n, int32_t *dst) {
  switch (c->dtype) {
  case TF_IDS_U8:
    for (size_t i = 0; i < n; i++) dst[i] = ((const uint8_t *)c->ids)[off + i];
    break;
  case TF_IDS_U16:
    for (size_t i = 0; i < n; i++) dst[i] = ((const uint16_t *)c->ids)[off + i];
    break;
  case TF_IDS_I32:
    memcpy(dst, (const int32_t *)c->ids + off, n * sizeof *dst);
    break;
  default: /* checked against the vocabulary when opened: every id fits */
    for (size_t i = 0; i < n; i++) dst[i] = (int32_t)tf_ids_get(c->dtype, c->ids, off + i);
  }
}

int tf_corpus_changed(const struct tf_corpus *c, struct tf_error *err) {
  return tf_input_check(c->path, err);
}

/* Draws the global batch of n_ranks * B windows of T+1 tokens (one offset each, uniform in
 * [0, n - T - 1]) and keeps rank's B of them, so every rank's stream stays in step and N
 * ranks of batch B see exactly the windows of one process with batch N B. */
void tf_corpus_draw(const struct tf_corpus *c, struct tf_rng *rng, int B, int T, int rank,
                    int n_ranks, int32_t *inputs, int32_t *targets) {
  uint64_t span = (uint64_t)(c->n - (size_t)T);
  for (int r = 0; r < n_ranks; r++) {
    for (int b = 0; b < B; b++) {
      uint64_t off = tf_rng_next(rng) % span;
      if (r != rank) continue;
      tf_corpus_copy(c, off, (size_t)T, inputs + (size_t)b * T);
      tf_corpus_copy(c, off + 1, (size_t)T, targets + (size_t)b * T);
    }
  }
}
