/* ptfile.c: torch.save files (docs/official.md §1-§3): a state dict read from the zip archive's
 * data.pkl and storages, and written back in the same layout. */
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "st_internal.h"
#include "torch_internal.h"

#define READ_BLOCK (256u << 10) /* storage bytes checked, copied and tested at once (in L2) */
#define NAMEBUF    120

static const char *shown(char *out, const char *s) {
  return tf_escape(out, NAMEBUF, s, strlen(s));
}

/* The archive's one "<name>/data.pkl" (name without a slash); its index or -1 (error set). */
static long find_pickle(const struct tf_zip *z, const char *path, size_t *prefix_len,
                        struct tf_error *err) {
  long found = -1;
  for (size_t i = 0; i < tf_zip_count(z); i++) {
    const char *n = tf_zip_name(z, i), *slash = strchr(n, '/');
    if (!slash || slash == n || strcmp(slash, "/data.pkl")) continue;
    if (found >= 0) {
      tf_error_set(err, TF_EDATA, "%s: more than one data.pkl in the archive", path);
      return -1;
    }
    found = (long)i;
    *prefix_len = (size_t)(slash - n);
  }
  if (found < 0)
    tf_error_set(err, TF_EDATA, "%s: a zip archive without <name>/data.pkl: not a torch.save file",
                 path);
  return found;
}

/* Each tensor's storage entry exists and holds exactly storage_numel elements. */
static int find_storages(struct tf_pt_file *f, const char *path, const char *prefix, size_t plen,
                         struct tf_error *err) {
  char nb[NAMEBUF], kb[NAMEBUF];
  if (!(f->entry = calloc(f->d.n + 1, sizeof *f->entry)))
    return tf_error_set(err, TF_ENOMEM, "out of memory");
  for (size_t i = 0; i < f->d.n; i++) {
    const struct tf_pt_tensor *t = &f->d.t[i];
    size_t len = plen + strlen(t->key) + 8;
    char *name = malloc(len);
    if (!name) return tf_error_set(err, TF_ENOMEM, "out of memory");
    snprintf(name, len, "%.*s/data/%s", (int)plen, prefix, t->key);
    long e = tf_zip_find(f->z, name);
    free(name);
    if (e < 0)
      return tf_error_set(err, TF_EDATA, "%s: tensor %s: its storage %s is not in the archive",
                          path, shown(nb, t->name), shown(kb, t->key));
    uint64_t have, need;
    tf_zip_data(f->z, (size_t)e, &have);
    if (__builtin_mul_overflow((uint64_t)t->storage_numel, tf_dtype_size(t->dtype), &need) ||
        have != need)
      return tf_error_set(err, TF_EDATA,
                          "%s: tensor %s: storage %s holds %" PRIu64 " bytes, its %" PRId64
                          " %s elements need %" PRIu64,
                          path, shown(nb, t->name), shown(kb, t->key), have, t->storage_numel,
                          tf_dtype_name(t->dtype), need);
    f->entry[i] = (size_t)e;
  }
  return TF_OK;
}

static int open_zip(struct tf_pt_file *f, const char *path, struct tf_error *err) {
  size_t plen = 0;
  long pk = find_pickle(f->z, path, &plen, err);
  if (pk < 0) return err ? err->code : TF_EDATA;
  int rc = tf_zip_verify(f->z, (size_t)pk, err);
  uint64_t n;
  const unsigned char *p = tf_zip_data(f->z, (size_t)pk, &n);
  if (!rc && n > TF_PICKLE_MAX_BYTES)
    rc =
        tf_error_set(err, TF_EDATA, "%s: data.pkl of %" PRIu64 " bytes is over the limit", path, n);
  if (!rc && (rc = tf_pickle_state_dict(p, (size_t)n, &f->d, err)))
    tf_error_prefix(err, "%s", path);
  if (!rc) rc = find_storages(f, path, tf_zip_name(f->z, (size_t)pk), plen, err);
  return rc;
}

int tf_pt_open(struct tf_pt_file *f, const char *path, struct tf_error *err) {
  memset(f, 0, sizeof *f);
  int rc = tf_zip_open(&f->z, path, err);
  if (!rc) rc = open_zip(f, path, err);
  if (rc) tf_pt_close(f);
  return rc;
}

int tf_pt_open_mem(struct tf_pt_file *f, const void *p, size_t n, const char *name,
                   struct tf_error *err) {
  memset(f, 0, sizeof *f);
  int rc = tf_zip_open_mem(&f->z, p, n, name, err);
  if (!rc) rc = open_zip(f, name, err);
  if (rc) tf_pt_close(f);
  return rc;
}

void tf_pt_close(struct tf_pt_file *f) {
  tf_zip_close(f->z);
  tf_pt_dict_free(&f->d);
  free(f->entry);
  memset(f, 0, sizeof *f);
}

/* dst[i] = element i of src (n elements of dtype t), widened to float32 exactly. */
static void widen(enum tf_dtype t, const unsigned char *src, size_t n, float *dst) {
  if (t == TF_F32) {
    memcpy(dst, src, n * sizeof *dst);
    return;
  }
  for (size_t i = 0; i < n; i++) dst[i] = (float)tf_dtype_get(t, src, i);
}

/* Row-major strides: element (i_0, ...) of shape at sum i_k stride_k with stride_{k} =
 * prod_{j>k} shape_j (dimensions of size 1 may carry any stride). */
static int contiguous(const struct tf_pt_tensor *t) {
  int64_t want = 1;
  for (int k = t->ndim - 1; k >= 0; k--) {
    if (t->shape[k] != 1 && t->stride[k] != want) return 0;
    want *= t->shape[k];
  }
  return 1;
}

static uint64_t numel(const struct tf_pt_tensor *t) {
  uint64_t n = 1;
  for (int k = 0; k < t->ndim; k++) n *= (uint64_t)t->shape[k];
  return n;
}

/* A strided view, element by element in row-major order. */
static void gather(const struct tf_pt_tensor *t, const unsigned char *base, float *dst) {
  int64_t idx[TF_ST_MAX_DIMS] = {0};
  size_t es = tf_dtype_size(t->dtype);
  uint64_t n = numel(t);
  for (uint64_t i = 0; i < n; i++) {
    int64_t at = t->offset;
    for (int k = 0; k < t->ndim; k++) at += idx[k] * t->stride[k];
    widen(t->dtype, base + (uint64_t)at * es, 1, dst + i);
    for (int k = t->ndim - 1; k >= 0 && ++idx[k] == t->shape[k]; k--) idx[k] = 0;
  }
}

/* The first of the n floats at x that is NaN or infinite (all exponent bits set), or n: one
 * vectorised pass, then a search only when there is one. */
static size_t first_non_finite(const float *x, size_t n) {
  unsigned bad = 0;
#pragma omp simd reduction(| : bad)
  for (size_t j = 0; j < n; j++) {
    uint32_t u;
    memcpy(&u, x + j, sizeof u);
    bad |= (u & 0x7f800000u) == 0x7f800000u;
  }
  size_t j = 0;
  while (bad && j < n && isfinite(x[j])) j++;
  return bad ? j : n;
}

static int not_finite(const struct tf_pt_file *f, const struct tf_pt_tensor *t, uint64_t at,
                      float v, struct tf_error *err) {
  char nb[NAMEBUF];
  return tf_error_set(err, TF_EDATA,
                      "%s: tensor %s: element %" PRIu64 " is %g, expected a finite value",
                      tf_zip_path(f->z), shown(nb, t->name), at, (double)v);
}

/* A contiguous view in one pass over its storage, READ_BLOCK bytes at a time while they are in
 * the cache: the CRC-32 of every byte, the view's elements widened into place and tested,
 * the mapped pages released behind. A damaged storage is reported before a bad value. */
static int read_contiguous(struct tf_pt_file *f, size_t i, float *dst, struct tf_error *err) {
  const struct tf_pt_tensor *t = &f->d.t[i];
  uint64_t size, es = tf_dtype_size(t->dtype), n = numel(t), bad = n;
  const unsigned char *base = tf_zip_data(f->z, f->entry[i], &size);
  uint64_t lo = (uint64_t)t->offset * es, hi = lo + n * es; /* the view's bytes */
  uint32_t crc = 0;
  for (uint64_t at = 0; at < size; at += READ_BLOCK) { /* READ_BLOCK is a multiple of es */
    uint64_t end = size - at < READ_BLOCK ? size : at + READ_BLOCK;
    crc = tf_crc32(crc, base + at, end - at);
    uint64_t a = at > lo ? at : lo, b = end < hi ? end : hi;
    if (a < b) {
      float *d = dst + (a - lo) / es;
      widen(t->dtype, base + a, (size_t)((b - a) / es), d);
      size_t k = bad < n ? (size_t)((b - a) / es) : first_non_finite(d, (size_t)((b - a) / es));
      if (k < (b - a) / es) bad = (a - lo) / es + k;
    }
    tf_zip_release(f->z, base + at, end - at);
  }
  int rc = tf_zip_check_crc(f->z, f->entry[i], crc, err);
  return rc || bad == n ? rc : not_finite(f, t, bad, dst[bad], err);
}

int tf_pt_read(struct tf_pt_file *f, size_t i, float *dst, struct tf_error *err) {
  const struct tf_pt_tensor *t = &f->d.t[i];
  uint64_t size, n = numel(t);
  if (contiguous(t) && n) return read_contiguous(f, i, dst, err);
  int rc = tf_zip_verify(f->z, f->entry[i], err);
  if (rc || n == 0) return rc;
  const unsigned char *base = tf_zip_data(f->z, f->entry[i], &size);
  gather(t, base, dst);
  tf_zip_release(f->z, base, size);
  size_t k = first_non_finite(dst, (size_t)n);
  return k == n ? TF_OK : not_finite(f, t, k, dst[k], err);
}

/* ---------------------------------------------------------------- writer */

struct write_job {
  const struct tf_pt_out *t;
  size_t n;
  int force_zip64;
  char prefix[64];
};

static int add_record(struct tf_zip_writer *w, const char *prefix, const char *name, const void *p,
                      uint64_t n, struct tf_error *err) {
  char full[128];
  snprintf(full, sizeof full, "%s/%s", prefix, name);
  return tf_zip_add(w, full, p, n, err);
}

/* The pickle's view of each tensor: storage "i", contiguous, the whole storage. */
static int describe(const struct write_job *j, struct tf_pt_tensor *d, char (*keys)[24]) {
  for (size_t i = 0; i < j->n; i++) {
    struct tf_pt_tensor *t = &d[i];
    uint64_t count = 1;
    t->name = (char *)j->t[i].name;
    t->dtype = TF_F32;
    t->ndim = j->t[i].ndim;
    snprintf(keys[i], sizeof keys[i], "%zu", i);
    t->key = keys[i];
    for (int k = t->ndim - 1; k >= 0; k--) {
      t->shape[k] = j->t[i].shape[k];
      t->stride[k] = (int64_t)count;
      if (__builtin_mul_overflow(count, (uint64_t)t->shape[k], &count) || t->shape[k] < 0)
        return -1;
    }
    t->storage_numel = (int64_t)count;
  }
  return 0;
}

/* data.pkl, byteorder, data/0 ..., version: the records torch.save writes. */
static int fill_zip(int fd, const char *name, void *ctx, struct tf_error *err) {
  const struct write_job *j = ctx;
  struct tf_zip_writer w;
  struct tf_pt_tensor *d = calloc(j->n + 1, sizeof *d);
  char(*keys)[24] = calloc(j->n + 1, sizeof *keys);
  char *pkl = NULL;
  size_t len = 0;
  int rc = tf_zip_writer_init(&w, fd, name, err);
  w.force_zip64 = j->force_zip64;
  if (!rc && !(d && keys)) rc = tf_error_set(err, TF_ENOMEM, "out of memory");
  if (!rc && describe(j, d, keys)) rc = tf_error_set(err, TF_EDATA, "%s: bad tensor shape", name);
  if (!rc) rc = tf_pickle_write_state_dict(d, j->n, &pkl, &len, err);
  if (!rc) rc = add_record(&w, j->prefix, "data.pkl", pkl, len, err);
  if (!rc) rc = add_record(&w, j->prefix, "byteorder", "little", 6, err);
  for (size_t i = 0; !rc && i < j->n; i++) {
    char rec[40];
    snprintf(rec, sizeof rec, "data/%zu", i);
    rc = add_record(&w, j->prefix, rec, j->t[i].data, (uint64_t)d[i].storage_numel * 4, err);
  }
  if (!rc) rc = add_record(&w, j->prefix, "version", "3\n", 2, err);
  if (!rc)
    rc = tf_zip_finish(&w, err);
  else
    tf_zip_writer_free(&w);
  free(pkl);
  free(keys);
  free(d);
  return rc;
}

/* The archive's name, as torch.save takes it: the file's base name without its extension
 * (letters, digits, '_' and '-' kept), "archive" when that leaves nothing. */
static void archive_name(const char *path, char *out, size_t cap) {
  const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
  const char *dot = strchr(base, '.');
  size_t o = 0;
  for (const char *s = base; *s && s != dot && o + 1 < cap; s++)
    if ((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
        *s == '_' || *s == '-')
      out[o++] = *s;
  out[o] = '\0';
  if (!o || !strcmp(path, "-")) snprintf(out, cap, "archive");
}

int tf_pt_write(const char *path, const struct tf_pt_out *t, size_t n, int force_zip64,
                struct tf_error *err) {
  struct write_job j = {t, n, force_zip64, {0}};
  archive_name(path, j.prefix, sizeof j.prefix);
  return tf_file_write(path, fill_zip, &j, err);
}
