/* quant.c: a model's weights converted to bf16 or q8 for inference (lib/quant.h says the
 * formats), and the matrix-vector products decoding runs over them, row blocks shared by the
 * OpenMP team as in gemv.c. The row kernels are quant_kern.c's. */
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "gemv.h"
#include "quant.h"
#include "model_internal.h"

static const char *const names[TF_NWEIGHTS] = {"f32", "bf16", "q8"};

const char *tf_weights_name(enum tf_weights w) {
  return (unsigned)w < TF_NWEIGHTS ? names[w] : "?";
}

int tf_weights_parse(const char *s, enum tf_weights *w) {
  for (int i = 0; i < TF_NWEIGHTS; i++)
    if (strcmp(s, names[i]) == 0) {
      *w = (enum tf_weights)i;
      return TF_OK;
    }
  return TF_EUSAGE;
}

const char *tf_weights_kernel(void) {
  return tf_qkern()->name;
}

/* ---------------------------------------------------------------- one row */

float tf_q8_block(int8_t *q, const float *x, int n) {
  float mx = 0.0f;
  for (int j = 0; j < n; j++) mx = fabsf(x[j]) > mx ? fabsf(x[j]) : mx;
  float s = mx / 127.0f, inv = mx > 0.0f ? 127.0f / mx : 0.0f;
  for (int j = 0; j < TF_Q8_BLOCK; j++) {
    float v = j < n ? nearbyintf(x[j] * inv) : 0.0f;
    q[j] = (int8_t)(v > 127.0f ? 127 : v < -127.0f ? -127 : (int)v);
  }
  return s;
}

/* Row i of W from x (W->cols floats). */
static void row_store(struct tf_qmat *W, int i, const float *x) {
  size_t o = (size_t)i * W->cp;
  if (W->fmt == TF_WEIGHTS_BF16) {
    for (int j = 0; j < W->cp; j++) W->bf16[o + j] = j < W->cols ? tf_bf16_round(x[j]) : 0;
    return;
  }
  int nb = W->cp / TF_Q8_BLOCK;
  for (int b = 0; b < nb; b++) {
    int at = b * TF_Q8_BLOCK, n = W->cols - at < TF_Q8_BLOCK ? W->cols - at : TF_Q8_BLOCK;
    W->scale[(size_t)i * nb + b] = tf_q8_block(W->q + o + at, x + at, n);
  }
}

void tf_qmat_row(float *out, const struct tf_qmat *W, int i) {
  size_t o = (size_t)i * W->cp;
  if (W->fmt == TF_WEIGHTS_BF16) {
#pragma omp simd
    for (int j = 0; j < W->cols; j++) out[j] = tf_bf16_float(W->bf16[o + j]);
    return;
  }
  const float *s = W->scale + (size_t)i * (W->cp / TF_Q8_BLOCK);
#pragma omp simd
  for (int j = 0; j < W->cols; j++) out[j] = s[j / TF_Q8_BLOCK] * W->q[o + j];
}

void tf_qvec_prepare(struct tf_qvec *v, float *scratch, const float *x, const struct tf_qmat *W) {
  int cp = W->cp, n = W->cols;
  v->f = scratch;
  v->hi = (uint16_t *)(scratch + cp);
  v->lo = v->hi + cp;
  v->q = (int8_t *)(scratch + 2 * cp);
  v->s = scratch + 2 * cp + cp / 4;
  if (W->fmt == TF_WEIGHTS_Q8) {
    for (int at = 0; at < cp; at += TF_Q8_BLOCK)
      v->s[at / TF_Q8_BLOCK] = tf_q8_block(v->q + at, x + at, n - at < 32 ? n - at : 32);
    return;
  }
  for (int j = 0; j < cp; j++) { /* x = hi + lo: x - hi is exact in float */
    float f = j < n ? x[j] : 0.0f;
    v->f[j] = f;
    v->hi[j] = tf_bf16_round(f);
    v->lo[j] = tf_bf16_round(f - tf_bf16_float(v->hi[j]));
  }
}

/* ---------------------------------------------------------------- products */

/* The groups of TF_QROWS consecutive rows of W (the last may have fewer), the unit the kernels
 * and the threads' static shares work in; group g starts at row g TF_QROWS, *nr rows. */
static int row_groups(const struct tf_qmat *W) {
  return (W->rows + TF_QROWS - 1) / TF_QROWS;
}

static int group_start(const struct tf_qmat *W, int g, int *nr) {
  int i = g * TF_QROWS;
  *nr = W->rows - i < TF_QROWS ? W->rows - i : TF_QROWS;
  return i;
}

void tf_qgemv_nowait_ws(float *y, const struct tf_qmat *W, const struct tf_qvec *x) {
  const struct tf_qkern *k = tf_qkern();
  int cp = W->cp, nb = cp / TF_Q8_BLOCK, groups = row_groups(W);
#pragma omp for schedule(static) nowait
  for (int g = 0; g < groups; g++) {
    int nr, i = group_start(W, g, &nr);
    if (W->fmt == TF_WEIGHTS_BF16)
      k->dot_bf16(y + i, W->bf16 + (size_t)i * cp, x, cp, nr);
    else
      k->dot_q8(y + i, W->q + (size_t)i * cp, W->scale + (size_t)i * nb, x, nb, nr);
  }
}

void tf_qgemv_ws(float *y, const struct tf_qmat *W, const struct tf_qvec *x) {
  tf_qgemv_nowait_ws(y, W, x);
#pragma omp barrier
}

void tf_qgemv_t_mine_ws(float *mine, const float *s, const struct tf_qmat *W) {
  const struct tf_qkern *k = tf_qkern();
  int cp = W->cp, nb = cp / TF_Q8_BLOCK, groups = row_groups(W);
  memset(mine, 0, (size_t)cp * sizeof *mine);
#pragma omp for schedule(static) nowait
  for (int g = 0; g < groups; g++) {
    int nr, i = group_start(W, g, &nr);
    if (W->fmt == TF_WEIGHTS_BF16)
      k->axpy_bf16(mine, s + i, W->bf16 + (size_t)i * cp, cp, nr);
    else
      k->axpy_q8(mine, s + i, W->q + (size_t)i * cp, W->scale + (size_t)i * nb, nb, nr);
  }
}

void tf_qgemv_t_ws(float *y, float beta, const float *s, const struct tf_qmat *W, float *partial) {
  tf_qgemv_t_mine_ws(partial + (size_t)omp_get_thread_num() * W->cp, s, W);
#pragma omp barrier
  tf_gemv_reduce_ws(y, beta, partial, (size_t)W->cp, W->cols);
}

void tf_qmat_panel_ws(float *panel, const struct tf_qmat *W, int r0, int n) {
#pragma omp for schedule(static)
  for (int i = 0; i < n; i++) tf_qmat_row(panel + (size_t)i * W->cols, W, r0 + i);
}

/* ---------------------------------------------------------------- a model's weights */

void *tf_stream_alloc(size_t bytes) {
  size_t huge = (size_t)2 << 20, n = (bytes + huge - 1) / huge * huge;
  if (bytes < huge) return aligned_alloc(64, (bytes + 63) / 64 * 64);
  void *p = aligned_alloc(huge, n);
  if (p) madvise(p, n, MADV_HUGEPAGE); /* a request: where it fails, 4 KiB pages */
  return p;
}

/* Bytes of a (rows, cols) matrix in format w, each array rounded to 64 bytes. */
static size_t mat_bytes(enum tf_weights w, int rows, int cols) {
  size_t cp = (size_t)tf_qcols(cols), r = (size_t)rows, a = 64;
  size_t data = w == TF_WEIGHTS_BF16 ? r * cp * 2 : r * cp;
  size_t sc = w == TF_WEIGHTS_Q8 ? r * (cp / TF_Q8_BLOCK) * sizeof(float) : 0;
  return (data + a - 1) / a * a + (sc + a - 1) / a * a;
}

/* Points W (rows, cols) at *at and moves *at past it. */
static void mat_place(struct tf_qmat *W, enum tf_weights w, int rows, int cols, char **at) {
  *W = (struct tf_qmat){.fmt = w, .rows = rows, .cols = cols, .cp = tf_qcols(cols)};
  size_t cp = (size_t)W->cp, data = w == TF_WEIGHTS_BF16 ? rows * cp * 2 : rows * cp;
  if (w == TF_WEIGHTS_BF16)
    W->bf16 = (uint16_t *)*at;
  else
    W->q = (int8_t *)*at;
  *at += (data + 63) / 64 * 64;
  if (w == TF_WEIGHTS_Q8) W->scale = (float *)*at;
  *at += mat_bytes(w, rows, cols) - (data + 63) / 64 * 64;
}

int tf_qmat_from(struct tf_qmat *W, enum tf_weights w, const float *M, int rows, int cols) {
  char *at = tf_stream_alloc(mat_bytes(w, rows, cols));
  if (!at) return TF_ENOMEM;
  mat_place(W, w, rows, cols, &at);
  for (int i = 0; i < rows; i++) row_store(W, i, M + (size_t)i * cols);
  return TF_OK;
}

void tf_qmat_free(struct tf_qmat *W) {
  free(W->fmt == TF_WEIGHTS_BF16 ? (void *)W->bf16 : (void *)W->q);
  memset(W, 0, sizeof *W);
}

/* One matrix of a model: where it goes (NULL when only rounded), its fp32 rows, how many. */
struct mat_src {
  struct tf_qmat *dst;
  float *src;
  int rows;
};

/* The matrices of m in block order (embed, then per layer and slot key and value) into a
 * new array (free it) of *n, or NULL without memory. */
static struct mat_src *mat_list(struct tf_qweights *q, const struct tf_model *m, int *n) {
  const struct tf_model_config *c = &m->cfg;
  struct mat_src *a = malloc((1 + 2 * (size_t)c->n_layers * TF_NSLOTS) * sizeof *a);
  int k = 0;
  if (!a) return NULL;
  a[k++] = (struct mat_src){q ? &q->embed : NULL, m->w->embed, c->vocab_size};
  for (int l = 0; l < c->n_layers; l++)
    for (int s = 0; s < TF_NSLOTS; s++) {
      int rows = c->tokens[tf_slot_kind(s)];
      a[k++] = (struct mat_src){q ? &q->key[l][s] : NULL, m->w->layer[l][s].key, rows};
      a[k++] = (struct mat_src){q ? &q->value[l][s] : NULL, m->w->layer[l][s].value, rows};
    }
  *n = k;
  return a;
}

int tf_qweights_new(struct tf_qweights **out, const struct tf_model_config *c, enum tf_weights w,
                    struct tf_error *err) {
  int d = c->d_model;
  size_t bytes = mat_bytes(w, c->vocab_size, d) + 2 * (size_t)d * sizeof(float) + 64;
  for (int l = 0; l < c->n_layers; l++)
    for (int s = 0; s < TF_NSLOTS; s++) bytes += 2 * mat_bytes(w, c->tokens[tf_slot_kind(s)], d);
  double have = tf_machine_bytes();
  struct tf_qweights *q = *out = calloc(1, sizeof *q);
  if (q) q->key = calloc(2 * (size_t)c->n_layers, sizeof *q->key);
  if (q && q->key && (have == 0 || bytes <= have)) q->mem = tf_stream_alloc(bytes);
  if (!q || !q->mem) {
    tf_qweights_free(q);
    *out = NULL;
    return tf_error_set(err, TF_ENOMEM, "%s weights need %.3g GiB; out of memory",
                        tf_weights_name(w), (double)bytes / (1 << 30));
  }
  q->value = q->key + c->n_layers;
  q->bytes = bytes;
  char *at = q->mem;
  mat_place(&q->embed, w, c->vocab_size, d, &at);
  for (int l = 0; l < c->n_layers; l++)
    for (int s = 0; s < TF_NSLOTS; s++) {
      int n = c->tokens[tf_slot_kind(s)];
      mat_place(&q->key[l][s], w, n, d, &at);
      mat_place(&q->value[l][s], w, n, d, &at);
    }
  q->final_norm = (float *)at;
  return TF_OK;
}

/* Every matrix of a (n) into its place, rows shared by the threads. */
static void qweights_fill(const struct mat_src *a, int n) {
#pragma omp parallel
  for (int k = 0; k < n; k++) {
#pragma omp for schedule(static)
    for (int i = 0; i < a[k].rows; i++)
      row_store(a[k].dst, i, a[k].src + (size_t)i * a[k].dst->cols);
  }
}

void tf_qweights_free(struct tf_qweights *q) {
  if (q) {
    free(q->mem);
    free(q->key); /* value is carved from the same allocation */
  }
  free(q);
}

int tf_model_convert_weights(struct tf_model *m, enum tf_weights w, struct tf_error *err) {
  if (w == TF_WEIGHTS_F32 || m->qw) return TF_OK;
  int n, d = m->cfg.d_model;
  struct tf_qweights *q;
  int rc = tf_qweights_new(&q, &m->cfg, w, err);
  struct mat_src *a = rc ? NULL : mat_list(q, m, &n);
  if (!rc && !a) rc = tf_error_set(err, TF_ENOMEM, "out of memory converting weights");
  if (rc) {
    free(a);
    tf_qweights_free(q);
    return rc;
  }
  qweights_fill(a, n);
  free(a);
  memcpy(q->final_norm, m->w->final_norm_weight, (size_t)d * sizeof(float));
  memcpy(q->final_norm + d, m->w->final_norm_bias, (size_t)d * sizeof(float));
  free(m->params);
  m->params = NULL;
  tf_view_free(m->w); /* the views pointed into params */
  m->w->final_norm_weight = q->final_norm;
  m->w->final_norm_bias = q->final_norm + d;
  m->qw = q;
  m->weights = w;
  return TF_OK;
}

size_t tf_model_weight_bytes(const struct tf_model *m) {
  return m->qw ? m->qw->bytes : m->n_params * sizeof(float);
}

int tf_model_round_weights(struct tf_model *m, enum tf_weights w, struct tf_error *err) {
  if (w == TF_WEIGHTS_F32) return TF_OK;
  if (m->qw) return tf_error_set(err, TF_EUSAGE, "the weights are converted already");
  int d = m->cfg.d_model;
  size_t per = mat_bytes(w, 1, d);
  int threads = omp_get_max_threads(), n;
  char *buf = malloc(per * (size_t)threads);
  struct mat_src *a = buf ? mat_list(NULL, m, &n) : NULL;
  if (!a) {
    free(buf);
    return tf_error_set(err, TF_ENOMEM, "out of memory rounding weights");
  }
#pragma omp parallel num_threads(threads)
  for (int k = 0; k < n; k++) { /* each row through a one-row matrix and back, in place */
    char *at = buf + per * (size_t)omp_get_thread_num();
    struct tf_qmat row;
    mat_place(&row, w, 1, d, &at);
#pragma omp for schedule(static)
    for (int i = 0; i < a[k].rows; i++) {
      float *x = a[k].src + (size_t)i * d;
      row_store(&row, 0, x);
      tf_qmat_row(x, &row, 0);
    }
  }
  free(buf);
  free(a);
  return TF_OK;
}
