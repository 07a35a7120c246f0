/* official.c: the released TokenFormer checkpoints to and from a model: the GPT-NeoX
 * "sequential" names, shapes taken from the file and the rest from the config, tensors streamed
 * one at a time from the mapped file into the parameter block (docs/official.md §4-§7). */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "st_internal.h"
#include "torch_internal.h"
#include "model_internal.h"
#include "sha256.h"

#define NAME_MAX_LEN 128
#define WIDEN_CHUNK  (1u << 20) /* elements of a half-precision tensor read at once */

void tf_official_name(const struct tf_tensor *t, int n_layers, char *buf, size_t n) {
  if (t->layer >= 0)
    snprintf(buf, n, "sequential.%d.%s", t->layer + 2, strchr(t->name + 7, '.') + 1);
  else if (!strcmp(t->name, "embed.weight"))
    snprintf(buf, n, "sequential.0.word_embeddings.weight");
  else /* final_norm.weight, final_norm.bias */
    snprintf(buf, n, "sequential.%d.norm.%s", n_layers + 3, strchr(t->name, '.') + 1);
}

/* ---------------------------------------------------------------- the source file */

struct src_tensor {
  const char *name;
  enum tf_dtype dtype;
  int ndim;
  const int64_t *shape;
  float *dst; /* where it goes in the model; NULL: read past */
};

struct source {
  const char *path;
  int safetensors;
  struct tf_pt_file pt;
  struct tf_ckpt_reader *st;
  size_t n;
  struct src_tensor *t;
  size_t *sorted; /* indices by name */
};

static const struct source *sort_src; /* qsort has no context argument */

static int by_name(const void *a, const void *b) {
  return strcmp(sort_src->t[*(const size_t *)a].name, sort_src->t[*(const size_t *)b].name);
}

static long src_find(const struct source *s, const char *name) {
  size_t lo = 0, hi = s->n;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    int c = strcmp(s->t[s->sorted[mid]].name, name);
    if (!c) return (long)s->sorted[mid];
    if (c < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  return -1;
}

/* What the first bytes say the file is; only the zip format and safetensors are read. */
static int sniff(const char *path, int *safetensors, struct tf_error *err) {
  unsigned char b[9] = {0};
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return tf_error_set(err, TF_ENOINPUT, "%s: cannot open: %s", path, strerror(errno));
  struct stat st;
  ssize_t got = fstat(fd, &st) ? -1 : read(fd, b, sizeof b);
  close(fd);
  if (got < 0 || !S_ISREG(st.st_mode))
    return tf_error_set(err, TF_ENOINPUT, "%s: not a readable regular file", path);
  uint64_t n = 0;
  for (int i = 7; i >= 0; i--) n = n << 8 | b[i];
  *safetensors = got == 9 && b[8] == '{' && n + 8 <= (uint64_t)st.st_size;
  if (got == 0) return tf_error_set(err, TF_EDATA, "%s: empty file", path);
  if (b[0] == 0x80)
    return tf_error_set(err, TF_EDATA,
                        "%s: a bare pickle (torch's legacy format before 1.6, or pickle.dump): "
                        "only the zip format of torch.save is read; save it again with torch",
                        path);
  if (b[0] == 0x1f && got > 1 && b[1] == 0x8b)
    return tf_error_set(err, TF_EDATA,
                        "%s: a gzip stream (a tokenformer checkpoint needs no conversion)", path);
  if (!*safetensors && (got < 2 || b[0] != 'P' || b[1] != 'K'))
    return tf_error_set(err, TF_EDATA, "%s: neither a torch.save zip file nor safetensors", path);
  return TF_OK;
}

static int list_tensors(struct source *s, struct tf_error *err) {
  const struct tf_st_header *h = s->safetensors ? tf_ckpt_header(s->st) : NULL;
  s->n = h ? h->n_tensors : s->pt.d.n;
  s->t = calloc(s->n + 1, sizeof *s->t);
  s->sorted = calloc(s->n + 1, sizeof *s->sorted);
  if (!s->t || !s->sorted) return tf_error_set(err, TF_ENOMEM, "out of memory");
  for (size_t i = 0; i < s->n; i++) {
    struct src_tensor *t = &s->t[i];
    if (h)
      *t = (struct src_tensor){h->tensors[i].name, h->tensors[i].dtype, h->tensors[i].ndim,
                               h->tensors[i].shape, NULL};
    else
      *t = (struct src_tensor){s->pt.d.t[i].name, s->pt.d.t[i].dtype, s->pt.d.t[i].ndim,
                               s->pt.d.t[i].shape, NULL};
    s->sorted[i] = i;
  }
  sort_src = s;
  qsort(s->sorted, s->n, sizeof *s->sorted, by_name);
  for (size_t i = 1; i < s->n; i++)
    if (!strcmp(s->t[s->sorted[i]].name, s->t[s->sorted[i - 1]].name))
      return tf_error_set(err, TF_EDATA, "%s: tensor %.*s appears twice", s->path, NAME_MAX_LEN,
                          s->t[s->sorted[i]].name);
  return TF_OK;
}

static int source_open(struct source *s, const char *path, struct tf_error *err) {
  memset(s, 0, sizeof *s);
  s->path = path;
  int rc = sniff(path, &s->safetensors, err);
  if (rc) return rc;
  rc = s->safetensors ? tf_ckpt_open(&s->st, path, err) : tf_pt_open(&s->pt, path, err);
  return rc ? rc : list_tensors(s, err);
}

static void source_close(struct source *s) {
  if (s->st) tf_ckpt_close(s->st);
  tf_pt_close(&s->pt);
  free(s->t);
  free(s->sorted);
}

/* ---------------------------------------------------------------- shapes and config */

static const struct src_tensor *want(const struct source *s, const char *name) {
  long i = src_find(s, name);
  return i < 0 ? NULL : &s->t[i];
}

/* d, V, L and the token counts from the tensors' shapes. */
static int infer_shapes(const struct source *s, struct tf_model_config *c, struct tf_error *err) {
  char name[NAME_MAX_LEN];
  const struct src_tensor *e = want(s, "sequential.0.word_embeddings.weight");
  if (!e || e->ndim != 2)
    return tf_error_set(err, TF_EDATA,
                        "%s: no 2-D sequential.0.word_embeddings.weight: not a TokenFormer "
                        "checkpoint of the official code",
                        s->path);
  c->vocab_size = (int)e->shape[0];
  c->d_model = (int)e->shape[1];
  int L = 0;
  for (;; L++) {
    snprintf(name, sizeof name, "sequential.%d.attention.query.key_param_tokens", L + 2);
    if (!want(s, name) || L == TF_MAX_LAYERS) break;
  }
  if (L == 0)
    return tf_error_set(err, TF_EDATA, "%s: no sequential.2.attention.query.key_param_tokens",
                        s->path);
  c->n_layers = L;
  static const char *const slot[TF_NKINDS] = {"attention.query", "attention.proj", "mlp"};
  for (int k = 0; k < TF_NKINDS; k++) {
    snprintf(name, sizeof name, "sequential.2.%s.key_param_tokens", slot[k]);
    const struct src_tensor *t = want(s, name);
    if (!t || t->ndim != 2)
      return tf_error_set(err, TF_EDATA, "%s: tensor %s: missing or not 2-D", s->path, name);
    c->tokens[k] = c->ref_tokens[k] = (int)t->shape[0];
  }
  return TF_OK;
}

/* A count the config gives must be the file's. */
static int agree(const char *config, const char *what, int given, int found, struct tf_error *err) {
  if (given == 0 || given == found) return TF_OK;
  return tf_error_set(err, TF_ECONFIG, "%s: %s is %d, the checkpoint's tensors say %d", config,
                      what, given, found);
}

static int take_config(const struct source *s, const char *config, struct tf_model_config *c,
                       int *released, struct tf_error *err) {
  struct tf_model_config g;
  memset(&g, 0, sizeof g);
  g.seq_len = 2048;   /* GPT-NeoX's defaults where the file is silent */
  g.rotary_pct = 1.0; /* (the released configs give 0.25) */
  g.rotary_base = 10000;
  g.norm = TF_NORM_L2_GELU;
  int rc = infer_shapes(s, c, err);
  if (rc) return rc;
  *released = 0;
  if (!config) {
    *released = tf_official_released(c);
    if (*released) return TF_OK;
    return tf_error_set(err, TF_EUSAGE,
                        "%s: d %d, %d layers, %d/%d/%d tokens are not a released model's "
                        "shapes: give its config (--config config.json or the GPT-NeoX YAML)",
                        s->path, c->d_model, c->n_layers, c->tokens[0], c->tokens[1], c->tokens[2]);
  }
  if ((rc = tf_official_config_load(config, &g, err))) return rc;
  if ((rc = agree(config, "num_layers", g.n_layers, c->n_layers, err)) ||
      (rc = agree(config, "hidden_size", g.d_model, c->d_model, err)) ||
      (rc = agree(config, "qkv_slot_num", g.tokens[0], c->tokens[0], err)) ||
      (rc = agree(config, "proj_slot_num", g.tokens[1], c->tokens[1], err)) ||
      (rc = agree(config, "ffn_slot_num", g.tokens[2], c->tokens[2], err)))
    return rc;
  if (!g.n_heads)
    return tf_error_set(err, TF_ECONFIG, "%s: num_attention_heads is missing", config);
  c->n_heads = g.n_heads;
  c->seq_len = g.seq_len;
  c->rotary_pct = g.rotary_pct;
  c->rotary_base = g.rotary_base;
  c->norm = g.norm;
  return TF_OK;
}

/* ---------------------------------------------------------------- matching and reading */

static int shape_is(const struct src_tensor *t, const struct tf_tensor *p) {
  if (p->cols == 0) return t->ndim == 1 && t->shape[0] == p->rows;
  return t->ndim == 2 && t->shape[0] == p->rows && t->shape[1] == p->cols;
}

/* Every parameter has its tensor, of a float dtype and the right shape; every other tensor is
 * a buffer that may be ignored. */
static int match(struct source *s, struct tf_model *m, struct tf_official_info *info,
                 struct tf_error *err) {
  char name[NAME_MAX_LEN];
  for (int i = 0; i < m->n_tensors; i++) {
    const struct tf_tensor *p = &m->tensors[i];
    tf_official_name(p, m->cfg.n_layers, name, sizeof name);
    long j = src_find(s, name);
    if (j < 0) return tf_error_set(err, TF_EDATA, "%s: tensor %s is missing", s->path, name);
    struct src_tensor *t = &s->t[j];
    if (t->dtype != TF_F32 && t->dtype != TF_F16 && t->dtype != TF_BF16)
      return tf_error_set(err, TF_EDATA, "%s: tensor %s: dtype %s, expected F32, F16 or BF16",
                          s->path, name, tf_dtype_name(t->dtype));
    if (!shape_is(t, p)) {
      char got[128], exp[64];
      int64_t e[2] = {p->rows, p->cols};
      tf_shape_format(t->ndim, t->shape, got, sizeof got);
      tf_shape_format(p->cols ? 2 : 1, e, exp, sizeof exp);
      return tf_error_set(err, TF_EDATA,
                          "%s: tensor %s: shape %s, expected %s (every layer has the token "
                          "counts of the first)",
                          s->path, name, got, exp);
    }
    t->dst = m->params + p->offset;
    info->widened += t->dtype != TF_F32;
  }
  for (size_t j = 0; j < s->n; j++) {
    if (s->t[j].dst) continue;
    const char *n = s->t[j].name, *tail = ".rotary_emb.inv_freq";
    if (strlen(n) > strlen(tail) && !strcmp(n + strlen(n) - strlen(tail), tail)) {
      info->ignored++;
      continue;
    }
    return tf_error_set(err, TF_EDATA,
                        "%s: tensor %.*s is not a parameter of a TokenFormer with %d layers",
                        s->path, NAME_MAX_LEN, n, m->cfg.n_layers);
  }
  return TF_OK;
}

static uint64_t numel(const struct src_tensor *t) {
  uint64_t n = 1;
  for (int k = 0; k < t->ndim; k++) n *= (uint64_t)t->shape[k];
  return n;
}

/* A safetensors tensor, next in the stream: F32 straight into place, halves widened in
 * chunks, others skipped. */
static int read_st(struct source *s, const struct src_tensor *t, void *buf, struct tf_error *err) {
  uint64_t n = numel(t), es = tf_dtype_size(t->dtype);
  if (!t->dst) return tf_ckpt_read(s->st, NULL, n * es, err);
  if (t->dtype == TF_F32) return tf_ckpt_read(s->st, t->dst, n * 4, err);
  int rc = TF_OK;
  for (uint64_t at = 0; !rc && at < n; at += WIDEN_CHUNK) {
    uint64_t k = n - at < WIDEN_CHUNK ? n - at : WIDEN_CHUNK;
    rc = tf_ckpt_read(s->st, buf, k * es, err);
    for (uint64_t i = 0; !rc && i < k; i++) t->dst[at + i] = (float)tf_dtype_get(t->dtype, buf, i);
  }
  return rc;
}

static int check_finite(const struct source *s, const struct src_tensor *t, struct tf_error *err) {
  uint64_t n = numel(t);
  for (uint64_t i = 0; i < n; i++)
    if (!isfinite(t->dst[i]))
      return tf_error_set(err, TF_EDATA, "%s: tensor %s: element %" PRIu64 " is %g", s->path,
                          t->name, i, (double)t->dst[i]);
  return TF_OK;
}

static int read_all(struct source *s, struct tf_error *err) {
  void *buf = s->safetensors ? malloc(WIDEN_CHUNK * 2) : NULL;
  int rc = s->safetensors && !buf ? tf_error_set(err, TF_ENOMEM, "out of memory") : TF_OK;
  for (size_t j = 0; !rc && j < s->n; j++) {
    const struct src_tensor *t = &s->t[j];
    if (s->safetensors)
      rc = read_st(s, t, buf, err);
    else if (t->dst)
      rc = tf_pt_read(&s->pt, j, t->dst, err); /* finite values checked as they are copied */
    if (!rc && t->dst && s->safetensors) rc = check_finite(s, t, err);
  }
  if (!rc && s->safetensors) rc = tf_ckpt_finish(s->st, err);
  free(buf);
  return rc;
}

/* The source's size and SHA-256, computed by read() on a thread of its own while the tensors
 * are read (docs/official.md §7). When the tensors turn out bad, stop tells the thread to
 * give up at its next 1 MiB piece, so the error is not held back by hashing the rest. */
struct hasher {
  const char *path;
  struct tf_official_info *info;
  int rc;
  struct tf_error err;
  pthread_t thread;
  int started;
  atomic_int stop;
};

static int hash_file(const char *path, struct tf_official_info *info, const atomic_int *stop,
                     struct tf_error *err) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return tf_error_set(err, TF_ENOINPUT, "%s: cannot open: %s", path, strerror(errno));
  int e = tf_sha256_fd(fd, 0, stop, &info->bytes, info->sha256);
  close(fd);
  if (e == ECANCELED) return tf_error_set(err, TF_EDATA, "%s: hashing stopped", path);
  if (e == ENOMEM) return tf_error_set(err, TF_ENOMEM, "out of memory");
  if (e) return tf_error_set(err, TF_EIO, "%s: read failed: %s", path, strerror(e));
  return TF_OK;
}

static void *hasher_main(void *arg) {
  struct hasher *h = arg;
  h->rc = hash_file(h->path, h->info, &h->stop, &h->err);
  return NULL;
}

static void hasher_start(struct hasher *h, const char *path, struct tf_official_info *info) {
  memset(h, 0, sizeof *h);
  h->path = path;
  h->info = info;
  atomic_init(&h->stop, 0);
  h->started = pthread_create(&h->thread, NULL, hasher_main, h) == 0;
}

/* After the tensors were read (read_rc their status): waits for the hash (computed here when
 * no thread could be started) and returns its status; after a failed read, stops it first and
 * computes none. */
static int hasher_finish(struct hasher *h, int read_rc, struct tf_error *err) {
  if (!h->started) return read_rc ? read_rc : hash_file(h->path, h->info, NULL, err);
  if (read_rc) atomic_store_explicit(&h->stop, 1, memory_order_relaxed);
  pthread_join(h->thread, NULL);
  if (h->rc && err) *err = h->err;
  return h->rc;
}

int tf_official_import(struct tf_model *m, const char *path, const char *config,
                       struct tf_official_info *info, struct tf_error *err) {
  struct tf_official_info local;
  struct source s;
  struct tf_model_config c;
  memset(m, 0, sizeof *m);
  memset(&c, 0, sizeof c);
  if (!info) info = &local;
  memset(info, 0, sizeof *info);
  int rc = source_open(&s, path, err);
  if (!rc) rc = take_config(&s, config, &c, &info->released_shape, err);
  if (!rc) {
    struct tf_config full;
    tf_config_default(&full);
    full.model = c;
    if ((rc = tf_config_check(&full, err))) tf_error_prefix(err, "%s", config ? config : path);
  }
  if (!rc) rc = tf_model_create(m, &c, err);
  if (!rc) rc = match(&s, m, info, err);
  if (!rc) {
    struct hasher h;
    hasher_start(&h, path, info);
    rc = read_all(&s, err);
    int hrc = hasher_finish(&h, rc, rc ? NULL : err);
    if (!rc) rc = hrc;
  }
  info->format = s.safetensors ? "safetensors" : "torch";
  info->nested = s.pt.d.nested;
  source_close(&s);
  if (rc) tf_model_free(m);
  return rc;
}

/* ---------------------------------------------------------------- export */

static int check_ref(const struct tf_model *m, struct tf_error *err) {
  const int *n = m->cfg.tokens, *r = m->cfg.ref_tokens;
  for (int k = 0; k < TF_NKINDS; k++)
    if (n[k] != r[k])
      return tf_error_set(err, TF_EDATA,
                          "the model's tau is sqrt(n_ref) with n_ref %d/%d/%d != n %d/%d/%d "
                          "(qkv/proj/ffn, grown exactly); the official code's tau is sqrt(n), "
                          "so it cannot compute this function: --rescale exports the tensors "
                          "anyway (the function changes)",
                          r[0], r[1], r[2], n[0], n[1], n[2]);
  return TF_OK;
}

int tf_official_export(const struct tf_model *m, const char *path, enum tf_official_format f,
                       int rescale, struct tf_error *err) {
  int rc = rescale ? TF_OK : check_ref(m, err);
  if (rc) return rc;
  size_t n = (size_t)m->n_tensors;
  char(*names)[NAME_MAX_LEN] = calloc(n, sizeof *names);
  struct tf_pt_out *pt = calloc(n, sizeof *pt);
  struct tf_ckpt_entry *st = calloc(n, sizeof *st);
  if (!names || !pt || !st) rc = tf_error_set(err, TF_ENOMEM, "out of memory");
  for (size_t i = 0; !rc && i < n; i++) {
    const struct tf_tensor *t = &m->tensors[i];
    tf_official_name(t, m->cfg.n_layers, names[i], sizeof names[i]);
    int nd = t->cols ? 2 : 1;
    pt[i] = (struct tf_pt_out){names[i], nd, {t->rows, t->cols}, m->params + t->offset};
    st[i] = (struct tf_ckpt_entry){names[i], TF_F32, nd, {t->rows, t->cols}, pt[i].data};
  }
  static const char *const meta[] = {"format", "pt"};
  if (!rc)
    rc = f == TF_OFFICIAL_TORCH ? tf_pt_write(path, pt, n, 0, err)
                                : tf_st_write_plain(path, st, n, meta, 1, err);
  free(names);
  free(pt);
  free(st);
  return rc;
}
