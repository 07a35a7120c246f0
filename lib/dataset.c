/* dataset.c: text files and JSON Lines to an indexed token dataset (tf-tokenize -o), and ids
 * read back from decimal text (tf-tokenize --decode). Documents are encoded on every core and
 * written in input order, so the files do not depend on the thread count. */
#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "tokenformer.h"
#include "data_internal.h"

/* JSON Lines are encoded this many lines at a time (one line per thread at a time). */
#define LINES_PER_BATCH 4096

struct build {
  const struct tf_dataset_opts *o;
  struct tf_mmidx_writer *w;
  struct tf_dataset_stats *st;
  uint64_t done, total; /* input bytes, for progress */
};

/* Appends the end-of-text token (when the tokenizer has one) and writes the document. */
static int add_document(struct build *b, struct tf_ids *ids, size_t text_bytes,
                        struct tf_error *err) {
  if (ids->n == 0) return TF_OK; /* an empty document is left out, as the official tools do */
  int32_t eos = tf_tokenizer_eos(b->o->tok);
  if (eos >= 0) {
    if (ids->n == ids->cap) {
      int32_t *v = realloc(ids->v, (ids->cap + 1) * sizeof *v);
      if (!v) return tf_error_set(err, TF_ENOMEM, "out of memory");
      ids->v = v;
      ids->cap++;
    }
    ids->v[ids->n++] = eos;
  }
  int rc = tf_mmidx_writer_add(b->w, ids->v, ids->n, err);
  if (!rc) {
    b->st->docs++;
    b->st->tokens += ids->n;
    b->st->bytes += text_bytes;
  }
  return rc;
}

static void progress(struct build *b, uint64_t bytes) {
  b->done += bytes;
  if (b->o->progress) b->o->progress(b->o->ctx, b->done, b->total);
}

static int stopped(const struct build *b, struct tf_error *err) {
  if (b->o->stop && *b->o->stop)
    return tf_error_set(err, TF_ESIGNAL, "stopped by a signal; nothing written");
  return TF_OK;
}

/* A whole file as one document. */
static int add_text_file(struct build *b, const char *path, const struct tf_input *in,
                         struct tf_error *err) {
  struct tf_ids ids = {0};
  int rc = tf_encode_text(b->o->tok, (const char *)in->p, in->n, b->o->flags, &ids, err);
  if (!rc) rc = tf_input_check(path, err);
  if (rc) tf_error_name_file(err, path);
  if (!rc) rc = add_document(b, &ids, in->n, err);
  tf_ids_free(&ids);
  progress(b, in->n);
  return rc;
}

/* One JSON line's field as ids; the message names the file and line. */
static int encode_line(const struct build *b, const char *path, size_t line_no, const char *line,
                       size_t len, struct tf_ids *ids, size_t *text_bytes, struct tf_error *err) {
  json_error_t jerr;
  json_t *j = json_loadb(line, len, JSON_ALLOW_NUL, &jerr);
  json_t *f = json_is_object(j) ? json_object_get(j, b->o->field) : NULL;
  int rc = TF_OK;
  if (!j)
    rc = tf_error_set(err, TF_EDATA, "%s: line %zu: not JSON: %s (column %d)", path, line_no,
                      jerr.text, jerr.column);
  else if (!json_is_object(j))
    rc = tf_error_set(err, TF_EDATA, "%s: line %zu: not a JSON object", path, line_no);
  else if (!json_is_string(f))
    rc = tf_error_set(err, TF_EDATA, "%s: line %zu: no string field \"%s\"", path, line_no,
                      b->o->field);
  else {
    *text_bytes = json_string_length(f);
    rc = tf_tokenizer_encode(b->o->tok, json_string_value(f), *text_bytes, b->o->flags, ids, err);
    if (rc) tf_error_prefix(err, "%s: line %zu", path, line_no);
  }
  json_decref(j);
  return rc;
}

/* A batch of lines (starts[i], lens[i], numbered from first_line) encoded in parallel, then
 * written in order; the first failing line (in input order) is the one reported. */
static int add_lines(struct build *b, const char *path, const char *text, const size_t *starts,
                     const size_t *lens, size_t n, size_t first_line, struct tf_error *err) {
  struct tf_ids *ids = calloc(n, sizeof *ids);
  size_t *bytes = calloc(n, sizeof *bytes);
  struct tf_error *errs = calloc(n, sizeof *errs);
  int *rcs = calloc(n, sizeof *rcs);
  int rc = ids && bytes && errs && rcs ? TF_OK : tf_error_set(err, TF_ENOMEM, "out of memory");
#pragma omp parallel for schedule(dynamic, 16) if (!rc)
  for (size_t i = 0; i < n; i++)
    rcs[i] = lens[i] ? encode_line(b, path, first_line + i, text + starts[i], lens[i], &ids[i],
                                   &bytes[i], &errs[i])
                     : TF_OK;
  for (size_t i = 0; !rc && i < n; i++) {
    if (rcs[i] && err) *err = errs[i];
    rc = rcs[i] ? rcs[i] : add_document(b, &ids[i], bytes[i], err);
  }
  for (size_t i = 0; ids && i < n; i++) tf_ids_free(&ids[i]);
  free(ids);
  free(bytes);
  free(errs);
  free(rcs);
  return rc;
}

static int blank(const char *s, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r') return 0;
  return 1;
}

/* JSON Lines: one document per line (blank lines are skipped), LINES_PER_BATCH at a time. */
static int add_jsonl_file(struct build *b, const char *path, const struct tf_input *in,
                          struct tf_error *err) {
  const char *text = (const char *)in->p;
  size_t starts[LINES_PER_BATCH], lens[LINES_PER_BATCH], k = 0, line = 0, first = 1, done = 0;
  int rc = TF_OK;
  for (size_t at = 0; !rc && at < in->n;) {
    const char *nl = memchr(text + at, '\n', in->n - at);
    size_t end = nl ? (size_t)(nl - text) : in->n;
    starts[k] = at;
    lens[k] = blank(text + at, end - at) ? 0 : end - at;
    k++;
    line++;
    at = end + 1;
    if (k == LINES_PER_BATCH || at >= in->n) {
      rc = add_lines(b, path, text, starts, lens, k, first, err);
      if (!rc) rc = tf_input_check(path, err);
      if (!rc) rc = stopped(b, err);
      progress(b, (at < in->n ? at : in->n) - done);
      done = at < in->n ? at : in->n;
      first = line + 1;
      k = 0;
    }
  }
  return rc;
}

static int add_file(struct build *b, const char *path, struct tf_error *err) {
  struct tf_input in;
  const char *name = !strcmp(path, "-") ? "<stdin>" : path;
  int rc = tf_input_open(&in, path, name, err);
  if (rc) return rc;
  rc = b->o->jsonl ? add_jsonl_file(b, name, &in, err) : add_text_file(b, name, &in, err);
  if (!rc) rc = stopped(b, err);
  tf_input_close(&in);
  return rc;
}

int tf_dataset_build(const char *prefix, const char *const *files, int n_files,
                     const struct tf_dataset_opts *o, struct tf_dataset_stats *st,
                     struct tf_error *err) {
  struct build b = {.o = o, .st = st};
  memset(st, 0, sizeof *st);
  for (int i = 0; i < n_files; i++) {
    struct stat s;
    if (strcmp(files[i], "-") && stat(files[i], &s) == 0 && S_ISREG(s.st_mode))
      b.total += (uint64_t)s.st_size;
  }
  json_object_seed(0); /* once, before the threads parse */
  int rc = tf_mmidx_writer_create(&b.w, prefix, tf_tokenizer_n_ids(o->tok), err);
  if (rc) return rc;
  for (int i = 0; !rc && i < n_files; i++) rc = add_file(&b, files[i], err);
  st->dtype = tf_mmidx_writer_dtype(b.w);
  if (rc) {
    tf_mmidx_writer_abort(b.w);
    return rc;
  }
  return tf_mmidx_writer_finish(b.w, err);
}

int tf_ids_parse(const char *text, size_t n, const char *name, struct tf_ids *out,
                 struct tf_error *err) {
  size_t i = 0;
  while (i < n) {
    while (i < n && (text[i] == ' ' || (text[i] >= '\t' && text[i] <= '\r'))) i++;
    if (i == n) break;
    size_t start = i;
    int64_t v = 0;
    while (i < n && text[i] >= '0' && text[i] <= '9' && v <= INT32_MAX)
      v = v * 10 + (text[i++] - '0');
    int sep = i == n || text[i] == ' ' || (text[i] >= '\t' && text[i] <= '\r');
    if (i == start || !sep || v > INT32_MAX)
      return tf_error_set(err, TF_EDATA,
                          "%s: byte %zu: expected a token id (a decimal number below 2^31)", name,
                          start);
    if (out->n == out->cap) {
      size_t cap = out->cap ? 2 * out->cap : 1024;
      int32_t *vv = realloc(out->v, cap * sizeof *vv);
      if (!vv) return tf_error_set(err, TF_ENOMEM, "%s: out of memory", name);
      out->v = vv;
      out->cap = cap;
    }
    out->v[out->n++] = (int32_t)v;
  }
  return TF_OK;
}
