/* st.c: safetensors header encode, decode and validation (docs/checkpoint.md). No I/O here: ckpt.c
 * reads and writes the files. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "st_internal.h"
#include "model_internal.h"

#define META_KEY "__metadata__"
#define NAMEBUF  120 /* a name as shown in a message (escaped, cut) */
#define SHAPEBUF 256 /* "[d0, d1, ...]" for TF_ST_MAX_DIMS 64-bit dimensions */

static const struct {
  const char *name;
  size_t size;
} dtypes[TF_NDTYPES] = {
    [TF_F32] = {"F32", 4}, [TF_F64] = {"F64", 8},   [TF_I64] = {"I64", 8},
    [TF_U64] = {"U64", 8}, [TF_I32] = {"I32", 4},   [TF_U8] = {"U8", 1},
    [TF_F16] = {"F16", 2}, [TF_BF16] = {"BF16", 2}, [TF_I8] = {"I8", 1},
};

const char *tf_dtype_name(enum tf_dtype t) {
  return (unsigned)t < TF_NDTYPES ? dtypes[t].name : "?";
}

size_t tf_dtype_size(enum tf_dtype t) {
  return (unsigned)t < TF_NDTYPES ? dtypes[t].size : 0;
}

static int dtype_parse(const char *s, enum tf_dtype *t) {
  for (int i = 0; i < TF_NDTYPES; i++) {
    if (!strcmp(s, dtypes[i].name)) {
      *t = (enum tf_dtype)i;
      return 0;
    }
  }
  return -1;
}

int tf_st_nbytes(enum tf_dtype dtype, int ndim, const int64_t *shape, uint64_t *out) {
  uint64_t n = tf_dtype_size(dtype);
  for (int i = 0; i < ndim; i++)
    if (shape[i] < 0 || __builtin_mul_overflow(n, (uint64_t)shape[i], &n)) return -1;
  *out = n;
  return 0;
}

/* A name from the file as a message shows it: escaped and cut (tf_escape). */
static const char *printable(char *out, size_t cap, const char *s) {
  return tf_escape(out, cap, s, strlen(s));
}

char *tf_shape_format(int ndim, const int64_t *shape, char *buf, size_t n) {
  if (n == 0) return buf;
  size_t o = (size_t)snprintf(buf, n, "[");
  for (int i = 0; i < ndim && o < n; i++)
    o += (size_t)snprintf(buf + o, n - o, "%s%" PRId64, i ? ", " : "", shape[i]);
  if (o < n) snprintf(buf + o, n - o, "]");
  return buf;
}

static const char *fmt_shape(char *out, const int64_t *shape, int ndim) {
  return tf_shape_format(ndim, shape, out, SHAPEBUF);
}

/* The byte count of t into *nbytes, or TF_EDATA saying why there is none. */
static int tensor_nbytes(const struct tf_st_tensor *t, uint64_t *nbytes, struct tf_error *err) {
  char nb[NAMEBUF], sb[SHAPEBUF];
  if (t->ndim < 0 || t->ndim > TF_ST_MAX_DIMS)
    return tf_error_set(err, TF_EDATA, "tensor %s: %d dimensions, at most %d allowed",
                        printable(nb, sizeof nb, t->name), t->ndim, TF_ST_MAX_DIMS);
  for (int i = 0; i < t->ndim; i++)
    if (t->shape[i] < 0)
      return tf_error_set(err, TF_EDATA, "tensor %s: shape %s has a negative dimension",
                          printable(nb, sizeof nb, t->name), fmt_shape(sb, t->shape, t->ndim));
  if (tf_st_nbytes(t->dtype, t->ndim, t->shape, nbytes))
    return tf_error_set(err, TF_EDATA,
                        "tensor %s: shape %s %s is too large (its byte count "
                        "overflows 64 bits)",
                        printable(nb, sizeof nb, t->name), fmt_shape(sb, t->shape, t->ndim),
                        tf_dtype_name(t->dtype));
  return TF_OK;
}

/* ---------------------------------------------------------------- decode */

static int get_count(const json_t *v, int64_t *out) {
  if (!json_is_integer(v) || json_integer_value(v) < 0) return -1;
  *out = (int64_t)json_integer_value(v);
  return 0;
}

static int decode_dtype(struct tf_st_tensor *t, const json_t *v, const char *nb,
                        struct tf_error *err) {
  char db[NAMEBUF];
  if (!json_is_string(v))
    return tf_error_set(err, TF_EDATA, "tensor %s: dtype is missing or not a string", nb);
  if (dtype_parse(json_string_value(v), &t->dtype))
    return tf_error_set(
        err, TF_EDATA,
        "tensor %s: unknown dtype \"%s\" (known: F64 F32 F16 BF16 I64 U64 I32 U8 I8)", nb,
        printable(db, sizeof db, json_string_value(v)));
  return TF_OK;
}

static int decode_shape(struct tf_st_tensor *t, const json_t *v, const char *nb,
                        struct tf_error *err) {
  if (!json_is_array(v))
    return tf_error_set(err, TF_EDATA, "tensor %s: shape is missing or not an array", nb);
  if (json_array_size(v) > TF_ST_MAX_DIMS)
    return tf_error_set(err, TF_EDATA, "tensor %s: shape has %zu dimensions, at most %d allowed",
                        nb, json_array_size(v), TF_ST_MAX_DIMS);
  t->ndim = (int)json_array_size(v);
  for (int i = 0; i < t->ndim; i++)
    if (get_count(json_array_get(v, (size_t)i), &t->shape[i]))
      return tf_error_set(err, TF_EDATA, "tensor %s: shape[%d] is not a non-negative integer", nb,
                          i);
  return TF_OK;
}

static int decode_offsets(struct tf_st_tensor *t, const json_t *v, const char *nb,
                          struct tf_error *err) {
  int64_t b, e;
  if (!json_is_array(v) || json_array_size(v) != 2 || get_count(json_array_get(v, 0), &b) ||
      get_count(json_array_get(v, 1), &e))
    return tf_error_set(err, TF_EDATA,
                        "tensor %s: data_offsets must be [begin, end], two non-negative integers",
                        nb);
  if (b > e)
    return tf_error_set(err, TF_EDATA,
                        "tensor %s: data_offsets [%" PRId64 ", %" PRId64 "] end before they begin",
                        nb, b, e);
  t->begin = (uint64_t)b;
  t->end = (uint64_t)e;
  return TF_OK;
}

/* Checks that the offsets hold exactly the bytes that dtype and shape need. */
static int check_size(const struct tf_st_tensor *t, const char *nb, struct tf_error *err) {
  char sb[SHAPEBUF];
  uint64_t need;
  int rc = tensor_nbytes(t, &need, err);
  if (rc) return rc;
  if (t->end - t->begin != need)
    return tf_error_set(err, TF_EDATA,
                        "tensor %s: data_offsets [%" PRIu64 ", %" PRIu64 "] hold %" PRIu64
                        " bytes, shape %s %s needs %" PRIu64,
                        nb, t->begin, t->end, t->end - t->begin, fmt_shape(sb, t->shape, t->ndim),
                        tf_dtype_name(t->dtype), need);
  return TF_OK;
}

static int decode_tensor(struct tf_st_header *h, const char *name, json_t *v,
                         struct tf_error *err) {
  char nb[NAMEBUF], kb[NAMEBUF];
  const char *key;
  json_t *m;
  if (!*name) return tf_error_set(err, TF_EDATA, "a tensor has an empty name");
  printable(nb, sizeof nb, name);
  if (!json_is_object(v)) return tf_error_set(err, TF_EDATA, "tensor %s: not an object", nb);
  json_object_foreach(v, key, m) {
    if (strcmp(key, "dtype") && strcmp(key, "shape") && strcmp(key, "data_offsets"))
      return tf_error_set(err, TF_EDATA, "tensor %s: unknown member \"%s\"", nb,
                          printable(kb, sizeof kb, key));
  }
  struct tf_st_tensor *t = &h->tensors[h->n_tensors];
  if (!(t->name = strdup(name))) return tf_error_set(err, TF_ENOMEM, "out of memory");
  h->n_tensors++;
  int rc = decode_dtype(t, json_object_get(v, "dtype"), nb, err);
  if (!rc) rc = decode_shape(t, json_object_get(v, "shape"), nb, err);
  if (!rc) rc = decode_offsets(t, json_object_get(v, "data_offsets"), nb, err);
  if (!rc) rc = check_size(t, nb, err);
  return rc;
}

static int decode_meta(struct tf_st_header *h, json_t *v, struct tf_error *err) {
  char kb[NAMEBUF];
  const char *key;
  json_t *m;
  if (!json_is_object(v)) return tf_error_set(err, TF_EDATA, META_KEY " is not an object");
  size_t n = json_object_size(v);
  h->meta_keys = calloc(n ? n : 1, sizeof *h->meta_keys);
  h->meta_values = calloc(n ? n : 1, sizeof *h->meta_values);
  if (!h->meta_keys || !h->meta_values) return tf_error_set(err, TF_ENOMEM, "out of memory");
  json_object_foreach(v, key, m) {
    if (!json_is_string(m))
      return tf_error_set(err, TF_EDATA, META_KEY ": member \"%s\" is not a string",
                          printable(kb, sizeof kb, key));
    size_t i = h->n_meta++;
    h->meta_keys[i] = strdup(key);
    h->meta_values[i] = strdup(json_string_value(m));
    if (!h->meta_keys[i] || !h->meta_values[i])
      return tf_error_set(err, TF_ENOMEM, "out of memory");
  }
  return TF_OK;
}

static int decode_root(struct tf_st_header *h, json_t *root, struct tf_error *err) {
  const char *key;
  json_t *v;
  size_t n = json_object_size(root) - (json_object_get(root, META_KEY) ? 1 : 0);
  if (!(h->tensors = calloc(n ? n : 1, sizeof *h->tensors)))
    return tf_error_set(err, TF_ENOMEM, "out of memory");
  json_object_foreach(root, key, v) {
    int rc = strcmp(key, META_KEY) ? decode_tensor(h, key, v, err) : decode_meta(h, v, err);
    if (rc) return rc;
  }
  return TF_OK;
}

static int by_offset(const void *a, const void *b) {
  const struct tf_st_tensor *x = a, *y = b;
  if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
  if (x->end != y->end) return x->end < y->end ? -1 : 1;
  return strcmp(x->name, y->name);
}

/* Sorts the tensors into data order and checks that they tile [0, data_len). */
static int check_tiling(struct tf_st_header *h, struct tf_error *err) {
  char ab[NAMEBUF], bb[NAMEBUF];
  uint64_t pos = 0;
  const struct tf_st_tensor *last = NULL; /* the tensor that ends at pos */
  qsort(h->tensors, h->n_tensors, sizeof *h->tensors, by_offset);
  for (size_t i = 0; i < h->n_tensors; i++) {
    const struct tf_st_tensor *t = &h->tensors[i];
    if (t->begin > pos)
      return tf_error_set(err, TF_EDATA,
                          "hole in the data region between byte %" PRIu64 " and %" PRIu64, pos,
                          t->begin);
    if (t->begin < pos)
      return tf_error_set(err, TF_EDATA,
                          "tensors %s [%" PRIu64 ", %" PRIu64 "] and %s [%" PRIu64 ", %" PRIu64
                          "] overlap",
                          printable(ab, sizeof ab, last->name), last->begin, last->end,
                          printable(bb, sizeof bb, t->name), t->begin, t->end);
    pos = t->end;
    last = t;
  }
  h->data_len = pos;
  return TF_OK;
}

/* One pass over the JSON text before it is parsed, building nothing: the members of the
 * top-level object (tensors and __metadata__) and the structural characters ({ [ : ,) outside
 * strings, which bound the values a parse would allocate. Refuses more than TF_ST_MAX_TENSORS
 * members or TF_ST_MAX_TOKENS of those characters, so that a header of millions of tiny
 * entries costs a scan, not gigabytes of JSON nodes. Malformed JSON is left to the parser. */
static int check_counts(const char *json, size_t len, struct tf_error *err) {
  size_t members = 0, tokens = 0;
  int depth = 0, in_string = 0;
  for (size_t i = 0; i < len; i++) {
    char c = json[i];
    if (in_string) {
      if (c == '\\')
        i++;
      else if (c == '"')
        in_string = 0;
      continue;
    }
    if (c == '"') in_string = 1;
    if (c != '{' && c != '[' && c != ':' && c != ',' && c != '}' && c != ']') continue;
    depth += (c == '{' || c == '[') - (c == '}' || c == ']');
    tokens += c != '}' && c != ']';
    members += c == ':' && depth == 1;
  }
  if (members > TF_ST_MAX_TENSORS)
    return tf_error_set(err, TF_EDATA,
                        "header holds %zu entries, more than the limit of %d tensors", members,
                        TF_ST_MAX_TENSORS);
  if (tokens > TF_ST_MAX_TOKENS)
    return tf_error_set(err, TF_EDATA,
                        "header holds more than %d JSON values; no checkpoint has so many",
                        TF_ST_MAX_TOKENS);
  return TF_OK;
}

int tf_st_decode(struct tf_st_header *h, const char *json, size_t len, struct tf_error *err) {
  char tb[NAMEBUF];
  json_error_t je;
  memset(h, 0, sizeof *h);
  if (len == 0) return tf_error_set(err, TF_EDATA, "empty header");
  if (len > TF_ST_MAX_HEADER)
    return tf_error_set(err, TF_EDATA, "header of %zu bytes exceeds the limit of %u bytes", len,
                        TF_ST_MAX_HEADER);
  if (json[0] != '{') return tf_error_set(err, TF_EDATA, "header does not start with '{'");
  int rc = check_counts(json, len, err);
  if (rc) return rc;
  json_t *root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &je);
  if (!root)
    return tf_error_set(err, TF_EDATA, "header is not valid JSON: %s (at byte %d)",
                        printable(tb, sizeof tb, je.text), je.position);
  rc = json_is_object(root) ? decode_root(h, root, err)
                            : tf_error_set(err, TF_EDATA, "header is not a JSON object");
  json_decref(root);
  if (!rc) rc = check_tiling(h, err);
  if (rc) {
    tf_st_free(h);
    return rc;
  }
  h->header_len = len;
  return TF_OK;
}

void tf_st_free(struct tf_st_header *h) {
  if (!h) return;
  for (size_t i = 0; i < h->n_tensors; i++) free(h->tensors[i].name);
  for (size_t i = 0; i < h->n_meta; i++) {
    free(h->meta_keys[i]);
    free(h->meta_values[i]);
  }
  free(h->tensors);
  free(h->meta_keys);
  free(h->meta_values);
  memset(h, 0, sizeof *h);
}

const char *tf_st_meta(const struct tf_st_header *h, const char *key) {
  for (size_t i = 0; i < h->n_meta; i++)
    if (!strcmp(h->meta_keys[i], key)) return h->meta_values[i];
  return NULL;
}

const struct tf_st_tensor *tf_st_find(const struct tf_st_header *h, const char *name) {
  for (size_t i = 0; i < h->n_tensors; i++)
    if (!strcmp(h->tensors[i].name, name)) return &h->tensors[i];
  return NULL;
}

/* ---------------------------------------------------------------- encode */

/* Data order: dtype size descending, then name. */
static int by_data_order(const void *a, const void *b) {
  const struct tf_st_tensor *x = *(const struct tf_st_tensor *const *)a;
  const struct tf_st_tensor *y = *(const struct tf_st_tensor *const *)b;
  size_t sx = tf_dtype_size(x->dtype), sy = tf_dtype_size(y->dtype);
  if (sx != sy) return sx > sy ? -1 : 1;
  return strcmp(x->name, y->name);
}

static int check_entry(const struct tf_st_tensor *t, struct tf_error *err) {
  char nb[NAMEBUF];
  uint64_t nbytes;
  if (!t->name || !*t->name) return tf_error_set(err, TF_EDATA, "a tensor has an empty name");
  if (!strcmp(t->name, META_KEY))
    return tf_error_set(err, TF_EDATA, "the tensor name " META_KEY " is reserved");
  if ((unsigned)t->dtype >= TF_NDTYPES)
    return tf_error_set(err, TF_EDATA, "tensor %s: unknown dtype %d",
                        printable(nb, sizeof nb, t->name), (int)t->dtype);
  return tensor_nbytes(t, &nbytes, err);
}

static int add_meta(json_t *root, const char *const *meta, size_t n_meta, struct tf_error *err) {
  char kb[NAMEBUF];
  if (!n_meta) return TF_OK;
  json_t *m = json_object();
  if (!m || json_object_set_new(root, META_KEY, m))
    return tf_error_set(err, TF_ENOMEM, "out of memory");
  for (size_t i = 0; i < n_meta; i++) {
    const char *k = meta[2 * i], *v = meta[2 * i + 1];
    if (!k || !v) return tf_error_set(err, TF_EDATA, META_KEY ": entry %zu is NULL", i);
    printable(kb, sizeof kb, k);
    if (json_object_get(m, k))
      return tf_error_set(err, TF_EDATA, META_KEY ": key \"%s\" given twice", kb);
    json_t *s = json_string(v);
    if (!s || json_object_set_new(m, k, s))
      return tf_error_set(err, TF_EDATA, META_KEY ": key or value of \"%s\" is not valid UTF-8",
                          kb);
  }
  return TF_OK;
}

/* Adds the tensors to root in data order with contiguous offsets. */
static int add_tensors(json_t *root, const struct tf_st_tensor *t,
                       const struct tf_st_tensor **sorted, size_t n, size_t *order,
                       struct tf_error *err) {
  char nb[NAMEBUF];
  uint64_t pos = 0, nbytes = 0;
  for (size_t i = 0; i < n; i++) {
    const struct tf_st_tensor *e = sorted[i];
    order[i] = (size_t)(e - t);
    printable(nb, sizeof nb, e->name);
    tf_st_nbytes(e->dtype, e->ndim, e->shape, &nbytes); /* checked by check_entry */
    if (json_object_get(root, e->name))
      return tf_error_set(err, TF_EDATA, "tensor %s: name given twice", nb);
    if (nbytes > (uint64_t)INT64_MAX - pos)
      return tf_error_set(err, TF_EDATA, "tensor %s: the data region exceeds 2^63 bytes", nb);
    json_t *shape = json_array();
    for (int d = 0; shape && d < e->ndim; d++)
      json_array_append_new(shape, json_integer((json_int_t)e->shape[d]));
    json_t *o = json_pack("{s:s, s:o, s:[I, I]}", "dtype", tf_dtype_name(e->dtype), "shape", shape,
                          "data_offsets", (json_int_t)pos, (json_int_t)(pos + nbytes));
    if (!o || json_object_set_new(root, e->name, o))
      return tf_error_set(err, TF_EDATA, "tensor %s: name is not valid UTF-8", nb);
    pos += nbytes;
  }
  return TF_OK;
}

/* The 8-byte length, then the JSON text padded with spaces to a multiple of 8. */
static int dump_padded(const json_t *root, char **out, size_t *out_len, struct tf_error *err) {
  char *s = json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER);
  if (!s) return tf_error_set(err, TF_ENOMEM, "out of memory");
  size_t len = strlen(s), total = (8 + len + 7) & ~(size_t)7;
  if (total - 8 > TF_ST_MAX_HEADER) {
    free(s);
    return tf_error_set(err, TF_EDATA, "header of %zu bytes exceeds the limit of %u bytes",
                        total - 8, TF_ST_MAX_HEADER);
  }
  char *buf = malloc(total);
  if (!buf) {
    free(s);
    return tf_error_set(err, TF_ENOMEM, "out of memory");
  }
  uint64_t n = total - 8;
  for (int i = 0; i < 8; i++) buf[i] = (char)(n >> (8 * i));
  memcpy(buf + 8, s, len);
  memset(buf + 8 + len, ' ', total - 8 - len);
  free(s);
  *out = buf;
  *out_len = total;
  return TF_OK;
}

int tf_st_encode(const struct tf_st_tensor *t, size_t n, const char *const *meta, size_t n_meta,
                 size_t *order, char **out, size_t *out_len, struct tf_error *err) {
  *out = NULL;
  *out_len = 0;
  for (size_t i = 0; i < n; i++) {
    int rc = check_entry(&t[i], err);
    if (rc) return rc;
  }
  const struct tf_st_tensor **sorted = malloc((n ? n : 1) * sizeof *sorted);
  json_t *root = json_object();
  int rc = sorted && root ? TF_OK : tf_error_set(err, TF_ENOMEM, "out of memory");
  for (size_t i = 0; !rc && i < n; i++) sorted[i] = &t[i];
  if (!rc) {
    qsort(sorted, n, sizeof *sorted, by_data_order);
    rc = add_meta(root, meta, n_meta, err);
  }
  if (!rc) rc = add_tensors(root, t, sorted, n, order, err);
  if (!rc) rc = dump_padded(root, out, out_len, err);
  json_decref(root);
  free(sorted);
  return rc;
}
