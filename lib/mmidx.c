/* mmidx.c: indexed token datasets in the Megatron / GPT-NeoX mmap format (tokenformer-dataset(5)):
 * PREFIX.idx says how PREFIX.bin, a plain array of token ids, divides into sequences and
 * documents. The reader checks every field against the .bin; the writer streams the tokens
 * to a temporary file and names both files only when everything is written. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tokenformer.h"
#include "data_internal.h"

static const uint8_t magic[TF_MMIDX_MAGIC_LEN] = {'M', 'M', 'I', 'D', 'I', 'D', 'X', 0, 0};
/* magic, version (u64), dtype code (u8), sequences (u64), document index entries (u64) */
#define HEADER_LEN (TF_MMIDX_MAGIC_LEN + 8 + 1 + 8 + 8)

size_t tf_ids_dtype_size(int dtype) {
  switch (dtype) {
  case TF_IDS_U8:
  case TF_IDS_I8:
    return 1;
  case TF_IDS_I16:
  case TF_IDS_U16:
    return 2;
  case TF_IDS_I32:
    return 4;
  case TF_IDS_I64:
    return 8;
  default:
    return 0;
  }
}

int64_t tf_ids_get(int dtype, const void *ids, size_t i) {
  switch (dtype) {
  case TF_IDS_U8:
    return ((const uint8_t *)ids)[i];
  case TF_IDS_I8:
    return ((const int8_t *)ids)[i];
  case TF_IDS_I16:
    return ((const int16_t *)ids)[i];
  case TF_IDS_U16:
    return ((const uint16_t *)ids)[i];
  case TF_IDS_I32:
    return ((const int32_t *)ids)[i];
  default:
    return ((const int64_t *)ids)[i];
  }
}

static uint64_t u64_at(const uint8_t *p) {
  uint64_t v;
  memcpy(&v, p, 8);
  return v;
}

static int64_t i64_at(const uint8_t *p) {
  int64_t v;
  memcpy(&v, p, 8);
  return v;
}

static int32_t i32_at(const uint8_t *p) {
  int32_t v;
  memcpy(&v, p, 4);
  return v;
}

/* Magic, version, dtype and the two counts; the file's length must be what they imply. */
static int parse_header(const uint8_t *idx, size_t len, const char *name,
                        struct tf_mmidx_info *info, struct tf_error *err) {
  if (len < TF_MMIDX_MAGIC_LEN || memcmp(idx, magic, TF_MMIDX_MAGIC_LEN))
    return tf_error_set(err, TF_EDATA,
                        "%s: not an indexed dataset index (magic MMIDIDX\\0\\0 expected)", name);
  if (len < HEADER_LEN)
    return tf_error_set(err, TF_EDATA, "%s: truncated header (%zu bytes of %d)", name, len,
                        HEADER_LEN);
  uint64_t version = u64_at(idx + TF_MMIDX_MAGIC_LEN);
  if (version != 1)
    return tf_error_set(err, TF_EDATA, "%s: version %llu, only version 1 is known", name,
                        (unsigned long long)version);
  info->dtype = idx[TF_MMIDX_MAGIC_LEN + 8];
  if (info->dtype == 6 || info->dtype == 7)
    return tf_error_set(err, TF_EDATA, "%s: dtype code %d is a float type, token ids are integers",
                        name, info->dtype);
  if (!tf_ids_dtype_size(info->dtype))
    return tf_error_set(err, TF_EDATA, "%s: unknown dtype code %d", name, info->dtype);
  info->n_seqs = u64_at(idx + TF_MMIDX_MAGIC_LEN + 9);
  uint64_t n_doc_idx = u64_at(idx + TF_MMIDX_MAGIC_LEN + 17);
  uint64_t body = len - HEADER_LEN;
  if (info->n_seqs > body / 12 || n_doc_idx > body / 8 || 12 * info->n_seqs + 8 * n_doc_idx != body)
    return tf_error_set(err, TF_EDATA,
                        "%s: %llu sequences and %llu document index entries need %s bytes after "
                        "the header, the file has %llu",
                        name, (unsigned long long)info->n_seqs, (unsigned long long)n_doc_idx,
                        info->n_seqs > body / 12 || n_doc_idx > body / 8 ? "more" : "other",
                        (unsigned long long)body);
  if (n_doc_idx == 0)
    return tf_error_set(err, TF_EDATA, "%s: an empty document index (it starts with 0)", name);
  info->n_docs = n_doc_idx - 1;
  return TF_OK;
}

/* Sizes and pointers: the sequences follow one another from byte 0 and fill the .bin. */
static int parse_sequences(const uint8_t *idx, uint64_t bin_len, const char *name,
                           const char *bin_name, struct tf_mmidx_info *info, struct tf_error *err) {
  const uint8_t *sizes = idx + HEADER_LEN, *ptrs = sizes + 4 * info->n_seqs;
  uint64_t w = tf_ids_dtype_size(info->dtype), at = 0;
  for (uint64_t i = 0; i < info->n_seqs; i++) {
    int32_t size = i32_at(sizes + 4 * i);
    int64_t ptr = i64_at(ptrs + 8 * i);
    if (size < 0)
      return tf_error_set(err, TF_EDATA, "%s: sequence %llu has size %d", name,
                          (unsigned long long)i, size);
    if (ptr < 0 || (uint64_t)ptr != at)
      return tf_error_set(err, TF_EDATA,
                          "%s: sequence %llu starts at byte %lld of the .bin, expected %llu (the "
                          "end of the one before: sequences must follow one another)",
                          name, (unsigned long long)i, (long long)ptr, (unsigned long long)at);
    if ((uint64_t)size * w > bin_len - at)
      return tf_error_set(err, TF_EDATA,
                          "%s: sequence %llu (%d tokens at byte %llu) runs past the end of %s "
                          "(%llu bytes)",
                          name, (unsigned long long)i, size, (unsigned long long)at, bin_name,
                          (unsigned long long)bin_len);
    at += (uint64_t)size * w;
  }
  if (at != bin_len)
    return tf_error_set(err, TF_EDATA, "%s: the sequences hold %llu bytes, %s has %llu", name,
                        (unsigned long long)at, bin_name, (unsigned long long)bin_len);
  info->n_tokens = at / w;
  return TF_OK;
}

/* The document index: 0 first, never decreasing, the number of sequences last. */
static int parse_doc_index(const uint8_t *idx, const char *name, const struct tf_mmidx_info *info,
                           struct tf_error *err) {
  const uint8_t *doc = idx + HEADER_LEN + 12 * info->n_seqs;
  int64_t prev = 0;
  for (uint64_t i = 0; i <= info->n_docs; i++) {
    int64_t d = i64_at(doc + 8 * i);
    if (i == 0 && d != 0)
      return tf_error_set(err, TF_EDATA, "%s: the document index starts at %lld, expected 0", name,
                          (long long)d);
    if (d < prev || (uint64_t)d > info->n_seqs)
      return tf_error_set(
          err, TF_EDATA, "%s: document index entry %llu is %lld, expected %lld to %llu", name,
          (unsigned long long)i, (long long)d, (long long)prev, (unsigned long long)info->n_seqs);
    prev = d;
  }
  if ((uint64_t)prev != info->n_seqs)
    return tf_error_set(err, TF_EDATA, "%s: the document index ends at sequence %lld of %llu", name,
                        (long long)prev, (unsigned long long)info->n_seqs);
  return TF_OK;
}

int tf_mmidx_parse(const uint8_t *idx, size_t len, uint64_t bin_len, const char *name,
                   const char *bin_name, struct tf_mmidx_info *info, struct tf_error *err) {
  memset(info, 0, sizeof *info);
  int rc = parse_header(idx, len, name, info, err);
  if (!rc) rc = parse_sequences(idx, bin_len, name, bin_name, info, err);
  if (!rc) rc = parse_doc_index(idx, name, info, err);
  return rc;
}

static int exists(const char *path) {
  struct stat st;
  return stat(path, &st) == 0 && !S_ISDIR(st.st_mode);
}

int tf_mmidx_prefix(const char *path, char *prefix, size_t cap) {
  size_t n = strlen(path);
  if (n + 5 > cap) return 0;
  char idx[TF_PATH_MAX + 8], bin[TF_PATH_MAX + 8];
  if (n >= 4 && (!strcmp(path + n - 4, ".idx") || !strcmp(path + n - 4, ".bin")))
    n -= 4;
  else if (exists(path))
    return 0; /* a file of that name: text */
  if (n + 5 > sizeof idx) return 0;
  snprintf(idx, sizeof idx, "%.*s.idx", (int)n, path);
  snprintf(bin, sizeof bin, "%.*s.bin", (int)n, path);
  if (!exists(idx) || !exists(bin)) return 0;
  snprintf(prefix, cap, "%.*s", (int)n, path);
  return 1;
}

/* ---------------------------------------------------------------- writer */

struct tf_mmidx_writer {
  char *path[2], *tmp[2]; /* PREFIX.bin and PREFIX.idx, their temporary names */
  FILE *f[2];
  int dtype, n_ids;
  size_t width;
  int32_t *sizes; /* (n_seqs) */
  size_t n_seqs, cap;
  uint8_t *buf; /* ids converted to the dtype */
  size_t buf_cap;
};

enum { BIN = 0, IDX = 1 };

/* The mode a new file gets from open(..., 0666): umask is only readable by setting it. */
static mode_t new_file_mode(void) {
  mode_t mask = umask(022);
  umask(mask);
  return 0666 & ~mask;
}

/* A temporary file in path's directory: ".NAME.tmp.XXXXXX". */
static int open_temp(struct tf_mmidx_writer *w, int k, struct tf_error *err) {
  const char *slash = strrchr(w->path[k], '/');
  size_t dir = slash ? (size_t)(slash - w->path[k]) + 1 : 0;
  w->tmp[k] = malloc(strlen(w->path[k]) + 16);
  if (!w->tmp[k]) return tf_error_set(err, TF_ENOMEM, "out of memory");
  sprintf(w->tmp[k], "%.*s.%s.tmp.XXXXXX", (int)dir, w->path[k], w->path[k] + dir);
  int fd = mkostemp(w->tmp[k], O_CLOEXEC);
  if (fd < 0) {
    int e = errno;
    free(w->tmp[k]);
    w->tmp[k] = NULL;
    return tf_error_set(err, e == ENOSPC || e == EDQUOT ? TF_EIO : TF_ECANTCREAT,
                        "%s: cannot create a temporary file beside it: %s", w->path[k],
                        strerror(e));
  }
  if (fchmod(fd, new_file_mode()) || !(w->f[k] = fdopen(fd, "wb"))) {
    close(fd);
    return tf_error_set(err, TF_EIO, "%s: cannot open the temporary file: %s", w->path[k],
                        strerror(errno));
  }
  return TF_OK;
}

int tf_mmidx_writer_create(struct tf_mmidx_writer **out, const char *prefix, int n_ids,
                           struct tf_error *err) {
  struct tf_mmidx_writer *w = calloc(1, sizeof *w);
  *out = NULL;
  if (!w) return tf_error_set(err, TF_ENOMEM, "out of memory");
  w->dtype = n_ids < TF_MMIDX_U16_BELOW ? TF_IDS_U16 : TF_IDS_I32;
  w->width = tf_ids_dtype_size(w->dtype);
  w->n_ids = n_ids;
  int rc = TF_OK;
  for (int k = 0; k < 2 && !rc; k++) {
    w->path[k] = malloc(strlen(prefix) + 5);
    if (!w->path[k]) rc = tf_error_set(err, TF_ENOMEM, "out of memory");
    if (!rc) sprintf(w->path[k], "%s.%s", prefix, k == BIN ? "bin" : "idx");
  }
  if (!rc) rc = open_temp(w, BIN, err);
  if (rc) {
    tf_mmidx_writer_abort(w);
    return rc;
  }
  *out = w;
  return TF_OK;
}

static int write_bytes(struct tf_mmidx_writer *w, int k, const void *p, size_t n,
                       struct tf_error *err) {
  if (n && fwrite(p, 1, n, w->f[k]) != n)
    return tf_error_set(err, TF_EIO, "%s: write failed: %s", w->path[k], strerror(errno));
  return TF_OK;
}

/* The ids as the dataset's dtype in w->buf; TF_EDATA for an id outside [0, n_ids). */
static int convert(struct tf_mmidx_writer *w, const int32_t *ids, size_t n, struct tf_error *err) {
  if (n * w->width > w->buf_cap) {
    size_t cap = n * w->width * 2;
    uint8_t *b = realloc(w->buf, cap);
    if (!b) return tf_error_set(err, TF_ENOMEM, "out of memory for %zu tokens", n);
    w->buf = b;
    w->buf_cap = cap;
  }
  for (size_t i = 0; i < n; i++) {
    if (ids[i] < 0 || ids[i] >= w->n_ids)
      return tf_error_set(err, TF_EDATA, "%s: token id %d is outside [0, %d)", w->path[BIN], ids[i],
                          w->n_ids);
    if (w->dtype == TF_IDS_U16)
      ((uint16_t *)w->buf)[i] = (uint16_t)ids[i];
    else
      ((int32_t *)w->buf)[i] = ids[i];
  }
  return TF_OK;
}

int tf_mmidx_writer_add(struct tf_mmidx_writer *w, const int32_t *ids, size_t n,
                        struct tf_error *err) {
  if (n == 0) return TF_OK; /* as the official tools: an empty document is left out */
  if (n > INT32_MAX)
    return tf_error_set(err, TF_EDATA, "%s: a document of %zu tokens (at most %d)", w->path[BIN], n,
                        INT32_MAX);
  if (w->n_seqs == w->cap) {
    size_t cap = w->cap ? 2 * w->cap : 1024;
    int32_t *s = realloc(w->sizes, cap * sizeof *s);
    if (!s) return tf_error_set(err, TF_ENOMEM, "out of memory for %zu documents", cap);
    w->sizes = s;
    w->cap = cap;
  }
  int rc = convert(w, ids, n, err);
  if (!rc) rc = write_bytes(w, BIN, w->buf, n * w->width, err);
  if (!rc) w->sizes[w->n_seqs++] = (int32_t)n;
  return rc;
}

static int write_u64(struct tf_mmidx_writer *w, uint64_t v, struct tf_error *err) {
  return write_bytes(w, IDX, &v, 8, err);
}

/* The index: header, sizes, byte offsets, and one document per sequence. */
static int write_index(struct tf_mmidx_writer *w, struct tf_error *err) {
  uint8_t code = (uint8_t)w->dtype;
  int rc = write_bytes(w, IDX, magic, sizeof magic, err);
  if (!rc) rc = write_u64(w, 1, err);
  if (!rc) rc = write_bytes(w, IDX, &code, 1, err);
  if (!rc) rc = write_u64(w, w->n_seqs, err);
  if (!rc) rc = write_u64(w, w->n_seqs + 1, err);
  if (!rc) rc = write_bytes(w, IDX, w->sizes, w->n_seqs * sizeof *w->sizes, err);
  uint64_t at = 0;
  for (size_t i = 0; !rc && i < w->n_seqs; at += (uint64_t)w->sizes[i++] * w->width)
    rc = write_u64(w, at, err);
  for (size_t i = 0; !rc && i <= w->n_seqs; i++) rc = write_u64(w, i, err);
  return rc;
}

/* Flushes, syncs and closes file k. */
static int close_file(struct tf_mmidx_writer *w, int k, struct tf_error *err) {
  int bad = fflush(w->f[k]) || fsync(fileno(w->f[k]));
  int e = errno;
  bad |= fclose(w->f[k]) != 0;
  w->f[k] = NULL;
  if (bad) return tf_error_set(err, TF_EIO, "%s: write failed: %s", w->path[k], strerror(e));
  return TF_OK;
}

int tf_mmidx_writer_finish(struct tf_mmidx_writer *w, struct tf_error *err) {
  int rc = close_file(w, BIN, err);
  if (!rc) rc = open_temp(w, IDX, err);
  if (!rc) rc = write_index(w, err);
  if (!rc) rc = close_file(w, IDX, err);
  for (int k = 0; k < 2 && !rc; k++) {
    if (rename(w->tmp[k], w->path[k]))
      rc = tf_error_set(err, TF_EIO, "%s: cannot rename %s over it: %s", w->path[k], w->tmp[k],
                        strerror(errno));
    else {
      free(w->tmp[k]);
      w->tmp[k] = NULL;
    }
  }
  tf_mmidx_writer_abort(w); /* frees; removes what is left if something failed */
  return rc;
}

void tf_mmidx_writer_abort(struct tf_mmidx_writer *w) {
  if (!w) return;
  for (int k = 0; k < 2; k++) {
    if (w->f[k]) fclose(w->f[k]);
    if (w->tmp[k]) unlink(w->tmp[k]);
    free(w->tmp[k]);
    free(w->path[k]);
  }
  free(w->sizes);
  free(w->buf);
  free(w);
}

size_t tf_mmidx_writer_docs(const struct tf_mmidx_writer *w) {
  return w->n_seqs;
}

int tf_mmidx_writer_dtype(const struct tf_mmidx_writer *w) {
  return w->dtype;
}
