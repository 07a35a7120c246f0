/* inspect.c: what tf-inspect computes from a checkpoint: parameter counts by group, element
 * formatting, per-tensor statistics, header checks against the config, and a streamed diff
 * of two files. Reads through tf_ckpt_read one chunk at a time; never prints. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tokenformer.h"
#include "model_internal.h"

#define CHUNK_ELEMS ((size_t)1 << 17) /* elements per read: at most 1 MiB of raw data */

/* ---------------------------------------------------------------- parameter groups */

static const char *const group_names[TF_NGROUPS] = {"embedding", "qkv", "proj", "ffn", "norm"};

const char *tf_param_group_name(enum tf_param_group g) {
  return (unsigned)g < TF_NGROUPS ? group_names[g] : "?";
}

/* ---------------------------------------------------------------- elements */

static float half_to_float(uint16_t h) {
  int exp = (h >> 10) & 0x1f, man = h & 0x3ff;
  float f;
  if (exp == 0)
    f = ldexpf((float)man, -24); /* zero and subnormals */
  else if (exp == 31)
    f = man ? NAN : INFINITY;
  else
    f = ldexpf((float)(man | 0x400), exp - 25);
  return (h & 0x8000) ? -f : f;
}

static float bf16_to_float(uint16_t h) {
  uint32_t bits = (uint32_t)h << 16;
  float f;
  memcpy(&f, &bits, sizeof f);
  return f;
}

/* Widens n elements to doubles; the dtype switch sits outside the loops. */
#define WIDEN(type, expr)                                                                          \
  for (size_t i = 0; i < n; i++) {                                                                 \
    type x;                                                                                        \
    memcpy(&x, p + i * sizeof x, sizeof x);                                                        \
    out[i] = (double)(expr);                                                                       \
  }

static void to_double(enum tf_dtype t, const void *data, size_t n, double *out) {
  const unsigned char *p = data;
  switch (t) {
  case TF_F32:
    WIDEN(float, x);
    break;
  case TF_F64:
    WIDEN(double, x);
    break;
  case TF_I64:
    WIDEN(int64_t, x);
    break;
  case TF_U64:
    WIDEN(uint64_t, x);
    break;
  case TF_I32:
    WIDEN(int32_t, x);
    break;
  case TF_U8:
    WIDEN(uint8_t, x);
    break;
  case TF_I8:
    WIDEN(int8_t, x);
    break;
  case TF_F16:
    WIDEN(uint16_t, half_to_float(x));
    break;
  case TF_BF16:
    WIDEN(uint16_t, bf16_to_float(x));
    break;
  default:
    for (size_t i = 0; i < n; i++) out[i] = NAN;
  }
}

double tf_dtype_get(enum tf_dtype t, const void *data, size_t i) {
  double v;
  to_double(t, (const unsigned char *)data + i * tf_dtype_size(t), 1, &v);
  return v;
}

char *tf_dtype_format(enum tf_dtype t, const void *data, size_t i, char *buf, size_t n) {
  const unsigned char *p = (const unsigned char *)data + i * tf_dtype_size(t);
  int64_t s;
  uint64_t u;
  int32_t s32;
  switch (t) {
  case TF_I64:
    memcpy(&s, p, sizeof s);
    snprintf(buf, n, "%lld", (long long)s);
    break;
  case TF_U64:
    memcpy(&u, p, sizeof u);
    snprintf(buf, n, "%llu", (unsigned long long)u);
    break;
  case TF_I32:
    memcpy(&s32, p, sizeof s32);
    snprintf(buf, n, "%d", (int)s32);
    break;
  case TF_U8:
    snprintf(buf, n, "%u", (unsigned)*p);
    break;
  case TF_I8:
    snprintf(buf, n, "%d", (int)(int8_t)*p);
    break;
  case TF_F64:
    snprintf(buf, n, "%.17g", tf_dtype_get(t, p, 0));
    break;
  default:
    snprintf(buf, n, "%.9g", tf_dtype_get(t, p, 0));
  }
  return buf;
}

/* ---------------------------------------------------------------- streaming */

static uint64_t numel_of(const struct tf_st_tensor *t) {
  size_t es = tf_dtype_size(t->dtype);
  return es ? (t->end - t->begin) / es : 0;
}

/* Reads count elements of t into buf in pieces of at most CHUNK_ELEMS, calling fn. */
static int read_elems(struct tf_ckpt_reader *r, const struct tf_st_tensor *t, uint64_t count,
                      void *buf, tf_chunk_fn fn, void *ctx, struct tf_error *err) {
  size_t es = tf_dtype_size(t->dtype);
  int rc = TF_OK;
  while (!rc && count) {
    size_t n = count < CHUNK_ELEMS ? (size_t)count : CHUNK_ELEMS;
    rc = tf_ckpt_read(r, buf, n * es, err);
    if (!rc) rc = fn(ctx, buf, n, err);
    count -= n;
  }
  return rc;
}

int tf_inspect_read_tensor(struct tf_ckpt_reader *r, const struct tf_st_tensor *t, tf_chunk_fn fn,
                           void *ctx, struct tf_error *err) {
  void *buf = malloc(CHUNK_ELEMS * tf_dtype_size(t->dtype));
  if (!buf) return tf_error_set(err, TF_ENOMEM, "out of memory reading tensor %s", t->name);
  int rc = read_elems(r, t, numel_of(t), buf, fn, ctx, err);
  free(buf);
  return rc;
}

/* ---------------------------------------------------------------- statistics */

struct stats_acc {
  tf_chunk_fn also; /* sees the raw chunk first; may be NULL */
  void *also_ctx;
  struct tf_tensor_stats *s;
  enum tf_dtype dtype;
  double *v;      /* one chunk widened to doubles */
  uint64_t count; /* numbers merged so far */
  double m2;      /* their sum of squared deviations from s->mean */
  double sumsq;
};

/* Per chunk: its mean and squared deviations, then Chan's merge into the running figures,
 * which stays accurate where sum(x^2)/n - mean^2 would cancel. */
static int stats_chunk(void *ctx, const void *data, size_t n, struct tf_error *err) {
  struct stats_acc *a = ctx;
  struct tf_tensor_stats *s = a->s;
  double sum = 0;
  size_t cnt = 0;
  int rc = a->also ? a->also(a->also_ctx, data, n, err) : TF_OK;
  if (rc) return rc;
  to_double(a->dtype, data, n, a->v);
  for (size_t i = 0; i < n; i++) {
    double x = a->v[i];
    if (isnan(x)) {
      s->nans++;
      continue;
    }
    a->v[cnt++] = x;
    s->zeros += x == 0;
    sum += x;
    a->sumsq += x * x;
    if (x < s->min) s->min = x;
    if (x > s->max) s->max = x;
  }
  if (!cnt) return TF_OK;
  double mean = sum / (double)cnt, m2 = 0;
  for (size_t i = 0; i < cnt; i++) m2 += (a->v[i] - mean) * (a->v[i] - mean);
  double total = (double)(a->count + cnt), delta = mean - s->mean;
  s->mean += delta * (double)cnt / total;
  a->m2 += m2 + delta * delta * (double)a->count * (double)cnt / total;
  a->count += cnt;
  return TF_OK;
}

int tf_inspect_stats(struct tf_ckpt_reader *r, const struct tf_st_tensor *t,
                     struct tf_tensor_stats *s, tf_chunk_fn also, void *ctx, struct tf_error *err) {
  memset(s, 0, sizeof *s);
  s->numel = numel_of(t);
  s->min = INFINITY;
  s->max = -INFINITY;
  struct stats_acc a = {.also = also,
                        .also_ctx = ctx,
                        .s = s,
                        .dtype = t->dtype,
                        .v = malloc(CHUNK_ELEMS * sizeof(double))};
  if (!a.v) return tf_error_set(err, TF_ENOMEM, "out of memory reading tensor %s", t->name);
  int rc = tf_inspect_read_tensor(r, t, stats_chunk, &a, err);
  free(a.v);
  s->std = sqrt(a.m2 / (double)a.count);
  s->l2 = sqrt(a.sumsq);
  if (!a.count) s->mean = s->std = s->min = s->max = s->l2 = NAN;
  if (isnan(s->mean)) s->mean = NAN; /* inf - inf: a plain NaN, not a negative one */
  if (isnan(s->std)) s->std = NAN;
  return rc;
}

/* ---------------------------------------------------------------- diff */

static const char *const diff_names[] = {"same",         "changed",   "resized",
                                         "incomparable", "only in A", "only in B"};

const char *tf_diff_status_name(enum tf_diff_status s) {
  return (unsigned)s <= TF_DIFF_ONLY_B ? diff_names[s] : "?";
}

/* The canonical data order: dtype size descending, then name. */
static int canon_cmp(const struct tf_st_tensor *x, const struct tf_st_tensor *y) {
  size_t sx = tf_dtype_size(x->dtype), sy = tf_dtype_size(y->dtype);
  if (sx != sy) return sx > sy ? -1 : 1;
  return strcmp(x->name, y->name);
}

static int is_canonical(const struct tf_st_header *h) {
  for (size_t i = 1; i < h->n_tensors; i++)
    if (canon_cmp(&h->tensors[i - 1], &h->tensors[i]) >= 0) return 0;
  return 1;
}

static int canon_cmp_ptr(const void *x, const void *y) {
  return canon_cmp(*(const struct tf_st_tensor *const *)x, *(const struct tf_st_tensor *const *)y);
}

struct diff_io {
  struct tf_ckpt_reader *r[2];
  const struct tf_st_tensor **order[2]; /* each file's tensors in the canonical order */
  unsigned char *mem[2]; /* a file's whole data region when it stores another order */
  unsigned char *raw[2]; /* one chunk of each file */
  double *v[2];          /* the same widened */
};

/* n bytes of tensor t of file f from byte off (dst NULL: skipped): read from the stream, which
 * is in the canonical order, or copied from the data region held in memory. */
static int io_read(struct diff_io *io, int f, const struct tf_st_tensor *t, uint64_t off, void *dst,
                   uint64_t n, struct tf_error *err) {
  if (!io->mem[f]) return tf_ckpt_read(io->r[f], dst, n, err);
  if (dst) memcpy(dst, io->mem[f] + t->begin + off, (size_t)n);
  return TF_OK;
}

static int skip_tensor(struct diff_io *io, int f, const struct tf_st_tensor *t,
                       struct tf_error *err) {
  return io_read(io, f, t, 0, NULL, t->end - t->begin, err);
}

/* File f's tensors in the canonical order; a file that stores another order is read whole
 * into memory first, so that the merge below can take its tensors in any order. */
static int diff_prepare(struct diff_io *io, int f, const char *name, struct tf_error *err) {
  const struct tf_st_header *h = tf_ckpt_header(io->r[f]);
  uint64_t bytes = 0;
  if (!(io->order[f] = malloc((h->n_tensors + 1) * sizeof *io->order[f])))
    return tf_error_set(err, TF_ENOMEM, "%s: out of memory", name);
  for (size_t i = 0; i < h->n_tensors; i++) {
    io->order[f][i] = &h->tensors[i];
    if (h->tensors[i].end > bytes) bytes = h->tensors[i].end;
  }
  if (is_canonical(h)) return TF_OK;
  qsort(io->order[f], h->n_tensors, sizeof *io->order[f], canon_cmp_ptr);
  if (bytes > SIZE_MAX || !(io->mem[f] = malloc(bytes ? (size_t)bytes : 1)))
    return tf_error_set(err, TF_ENOMEM,
                        "%s: out of memory for its %llu bytes of tensors (stored out of the "
                        "canonical order, a diff holds them in memory)",
                        name, (unsigned long long)bytes);
  return tf_ckpt_read(io->r[f], io->mem[f], bytes, err);
}

/* Elements per leading row (product of the inner dimensions); 0 when the two tensors cannot
 * be compared row by row (dtype, rank or an inner dimension differ, or a scalar). */
static uint64_t row_elems(const struct tf_st_tensor *a, const struct tf_st_tensor *b) {
  uint64_t n = 1;
  if (a->dtype != b->dtype || a->ndim != b->ndim || a->ndim == 0) return 0;
  for (int k = 1; k < a->ndim; k++) {
    if (a->shape[k] != b->shape[k]) return 0;
    n *= (uint64_t)a->shape[k];
  }
  return n;
}

static void compare_chunk(struct tf_tensor_diff *d, const struct diff_io *io, size_t n, size_t es) {
  to_double(d->a->dtype, io->raw[0], n, io->v[0]);
  to_double(d->a->dtype, io->raw[1], n, io->v[1]);
  for (size_t i = 0; i < n; i++) {
    if (memcmp(io->raw[0] + i * es, io->raw[1] + i * es, es) == 0) continue;
    double delta = fabs(io->v[1][i] - io->v[0][i]);
    d->n_changed++;
    if (isnan(delta) || delta > d->max_abs) d->max_abs = delta; /* a NaN sticks */
  }
}

/* Compares the common leading rows of two tensors read side by side, then skips the rest. */
static int compare_pair(struct tf_tensor_diff *d, struct diff_io *io, struct tf_error *err) {
  const struct tf_st_tensor *a = d->a, *b = d->b;
  int same_shape = a->dtype == b->dtype && a->ndim == b->ndim &&
                   memcmp(a->shape, b->shape, (size_t)a->ndim * sizeof a->shape[0]) == 0;
  uint64_t per_row = row_elems(a, b), rows = 0;
  if (per_row) rows = (uint64_t)(a->shape[0] < b->shape[0] ? a->shape[0] : b->shape[0]);
  d->compared = same_shape ? numel_of(a) : per_row * rows;
  d->status = same_shape ? TF_DIFF_SAME : per_row ? TF_DIFF_RESIZED : TF_DIFF_INCOMPARABLE;
  size_t es = tf_dtype_size(a->dtype);
  int rc = TF_OK;
  for (uint64_t done = 0; !rc && done < d->compared;) {
    size_t n = d->compared - done < CHUNK_ELEMS ? (size_t)(d->compared - done) : CHUNK_ELEMS;
    rc = io_read(io, 0, a, done * es, io->raw[0], n * es, err);
    if (!rc) rc = io_read(io, 1, b, done * es, io->raw[1], n * es, err);
    if (!rc) compare_chunk(d, io, n, es);
    done += n;
  }
  uint64_t off = d->compared * es;
  if (!rc) rc = io_read(io, 0, a, off, NULL, a->end - a->begin - off, err);
  if (!rc) rc = io_read(io, 1, b, off, NULL, b->end - b->begin - off, err);
  if (same_shape && d->n_changed) d->status = TF_DIFF_CHANGED;
  return rc;
}

/* A name stored with dtypes of different sizes sorts apart in the two files and comes out
 * of the merge as "only in A" plus "only in B": pair those up as one incomparable entry. */
static size_t pair_up(struct tf_tensor_diff *d, size_t n) {
  for (size_t i = 0; i < n; i++)
    for (size_t j = 0; d[i].status == TF_DIFF_ONLY_A && j < n; j++)
      if (d[j].status == TF_DIFF_ONLY_B && strcmp(d[j].b->name, d[i].a->name) == 0) {
        d[i].b = d[j].b;
        d[i].status = TF_DIFF_INCOMPARABLE;
        d[j].b = NULL; /* absorbed: dropped below */
        d[j].status = TF_DIFF_SAME;
      }
  size_t out = 0;
  for (size_t i = 0; i < n; i++)
    if (d[i].a || d[i].b) d[out++] = d[i];
  return out;
}

/* Merge join over the two files' tensors in the canonical order: each step consumes one
 * tensor of a file or a pair with the same name and dtype size. */
static int merge(struct diff_io *io, struct tf_tensor_diff *out, size_t *n_out,
                 struct tf_error *err) {
  const struct tf_st_header *ha = tf_ckpt_header(io->r[0]), *hb = tf_ckpt_header(io->r[1]);
  size_t i = 0, j = 0, k = 0;
  int rc = TF_OK;
  while (!rc && (i < ha->n_tensors || j < hb->n_tensors)) {
    const struct tf_st_tensor *a = i < ha->n_tensors ? io->order[0][i] : NULL;
    const struct tf_st_tensor *b = j < hb->n_tensors ? io->order[1][j] : NULL;
    int c = !a ? 1 : !b ? -1 : canon_cmp(a, b);
    struct tf_tensor_diff *d = &out[k++];
    if (c < 0) {
      *d = (struct tf_tensor_diff){.a = a, .status = TF_DIFF_ONLY_A};
      rc = skip_tensor(io, 0, a, err);
      i++;
    } else if (c > 0) {
      *d = (struct tf_tensor_diff){.b = b, .status = TF_DIFF_ONLY_B};
      rc = skip_tensor(io, 1, b, err);
      j++;
    } else {
      *d = (struct tf_tensor_diff){.a = a, .b = b};
      rc = compare_pair(d, io, err);
      i++;
      j++;
    }
  }
  *n_out = k;
  return rc;
}

int tf_inspect_diff(struct tf_ckpt_reader *a, const char *name_a, struct tf_ckpt_reader *b,
                    const char *name_b, struct tf_tensor_diff **out, size_t *n_out,
                    struct tf_error *err) {
  const struct tf_st_header *ha = tf_ckpt_header(a), *hb = tf_ckpt_header(b);
  *out = NULL;
  *n_out = 0;
  struct diff_io io = {.r = {a, b}};
  struct tf_tensor_diff *d = calloc(ha->n_tensors + hb->n_tensors + 1, sizeof *d);
  for (int f = 0; f < 2; f++) {
    io.raw[f] = malloc(CHUNK_ELEMS * 8);
    io.v[f] = malloc(CHUNK_ELEMS * sizeof(double));
  }
  int rc = TF_OK;
  if (!d || !io.raw[0] || !io.raw[1] || !io.v[0] || !io.v[1])
    rc = tf_error_set(err, TF_ENOMEM, "out of memory comparing %s and %s", name_a, name_b);
  if (!rc) rc = diff_prepare(&io, 0, name_a, err);
  if (!rc) rc = diff_prepare(&io, 1, name_b, err);
  size_t n = 0;
  if (!rc) rc = merge(&io, d, &n, err);
  if (!rc) rc = tf_ckpt_finish(a, err);
  if (!rc) rc = tf_ckpt_finish(b, err);
  for (int f = 0; f < 2; f++) {
    free(io.raw[f]);
    free(io.v[f]);
    free(io.order[f]);
    free(io.mem[f]);
  }
  if (rc) {
    free(d);
    return rc;
  }
  *n_out = pair_up(d, n);
  *out = d;
  return TF_OK;
}
