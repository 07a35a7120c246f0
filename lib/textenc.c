/* textenc.c: whole texts to token ids on every core. A BPE text is cut into chunks at places
 * where no pre-token, added token or normalization can cross (a newline between an ASCII
 * character that is not white space and an ASCII letter or digit), chosen from the text alone,
 * so the ids are the same as one encode of the whole text on any number of threads. */
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "tokenformer.h"
#include "data_internal.h"

static int ascii_alnum(uint8_t c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* A chunk may start at i: "<visible ASCII>\n<ASCII letter or digit>" around it. */
static int cut_here(const uint8_t *t, size_t i) {
  return t[i - 1] == '\n' && t[i - 2] > ' ' && t[i - 2] < 0x7f && ascii_alnum(t[i]);
}

/* The chunk starts: 0, then the first cut at or after each multiple of chunk; ends with n.
 * Returns the number of chunks (starts[0..k], k + 1 entries), or -1 without memory. */
static long chunk_starts(const uint8_t *t, size_t n, size_t chunk, size_t **starts) {
  size_t cap = n / chunk + 2, k = 0;
  *starts = malloc(cap * sizeof **starts);
  if (!*starts) return -1;
  (*starts)[k++] = 0;
  for (size_t at = chunk; at < n; at += chunk) {
    size_t i = at > (*starts)[k - 1] + 2 ? at : (*starts)[k - 1] + 2;
    while (i < n && !cut_here(t, i)) i++;
    if (i >= n) break;
    (*starts)[k++] = i;
    if (at < i) at = i - i % chunk; /* the next target is the next multiple past the cut */
  }
  (*starts)[k] = n;
  return (long)k;
}

size_t tf_utf8_check(const char *text, size_t n) {
  const utf8proc_uint8_t *p = (const utf8proc_uint8_t *)text;
  size_t i = 0;
  while (i < n) {
    if (p[i] < 0x80) {
      i++;
      continue;
    }
    utf8proc_int32_t cp;
    utf8proc_ssize_t k = utf8proc_iterate(p + i, (utf8proc_ssize_t)(n - i), &cp);
    if (k < 0) return i;
    i += (size_t)k;
  }
  return n;
}

/* Encodes the chunks [starts[j], starts[j + 1]) into parts[j], in parallel. */
static int encode_chunks(const struct tf_tokenizer *tok, const char *text, const size_t *starts,
                         long k, unsigned flags, struct tf_ids *parts, struct tf_error *err) {
  int rc = TF_OK;
#pragma omp parallel for schedule(dynamic, 1)
  for (long j = 0; j < k; j++) {
    struct tf_error e = {0};
    int r =
        tf_tokenizer_encode(tok, text + starts[j], starts[j + 1] - starts[j], flags, &parts[j], &e);
    if (r) {
#pragma omp critical
      if (!rc) {
        rc = r;
        if (err) *err = e;
      }
    }
  }
  return rc;
}

int tf_encode_text_chunked(const struct tf_tokenizer *tok, const char *text, size_t n,
                           unsigned flags, size_t chunk, struct tf_ids *out, struct tf_error *err) {
  if (tf_tokenizer_kind(tok) == TF_TOK_BYTES || n < 3 || chunk >= n)
    return tf_tokenizer_encode(tok, text, n, flags, out, err);
  size_t *starts;
  long k = chunk_starts((const uint8_t *)text, n, chunk < 3 ? 3 : chunk, &starts);
  struct tf_ids *parts = k > 0 ? calloc((size_t)k, sizeof *parts) : NULL;
  int rc = parts ? encode_chunks(tok, text, starts, k, flags, parts, err)
                 : tf_error_set(err, TF_ENOMEM, "out of memory for %ld chunks", k);
  size_t total = out->n;
  for (long j = 0; parts && j < k; j++) total += parts[j].n;
  if (!rc && total > out->cap) {
    int32_t *v = realloc(out->v, total * sizeof *v);
    if (!v) rc = tf_error_set(err, TF_ENOMEM, "out of memory: %zu token ids", total);
    if (v) out->v = v, out->cap = total;
  }
  for (long j = 0; !rc && j < k; j++) {
    memcpy(out->v + out->n, parts[j].v, parts[j].n * sizeof *out->v);
    out->n += parts[j].n;
  }
  for (long j = 0; parts && j < k; j++) tf_ids_free(&parts[j]);
  free(parts);
  free(starts);
  return rc;
}

int tf_encode_text(const struct tf_tokenizer *tok, const char *text, size_t n, unsigned flags,
                   struct tf_ids *out, struct tf_error *err) {
  if (tf_tokenizer_kind(tok) != TF_TOK_BYTES && !(flags & TF_TOK_REPLACE_INVALID)) {
    size_t bad = tf_utf8_check(text, n);
    if (bad < n) return tf_error_set(err, TF_EDATA, "invalid UTF-8 at byte %zu", bad);
  }
  return tf_encode_text_chunked(tok, text, n, flags, TF_ENCODE_CHUNK, out, err);
}
