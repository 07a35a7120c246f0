/* qstore.c: checkpoints whose weights are stored bf16 or q8 (tf-convert --quantize;
 * docs/checkpoint.md §7): the tensors such a file holds, the rules of their values, the
 * entries a converted model is saved as, and the float values of a model loaded straight into
 * its converted weights. Loading itself is model_io.c's; the formats are lib/quant.h's. */
#include <float.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model_internal.h"
#include "quant.h"
#include "st_internal.h"

#define SCALES     ".scales"
#define SCALE_MAX  (FLT_MAX / 127) /* the largest scale s with 127 s finite */
#define NAME_BYTES (TF_NAME_MAX + 8)

int tf_qstore_format(const struct tf_st_header *h, enum tf_weights *w, struct tf_error *err) {
  const char *s = tf_st_meta(h, "weights");
  char b[64];
  *w = TF_WEIGHTS_F32;
  if (!s || tf_weights_parse(s, w) == TF_OK) return TF_OK;
  return tf_error_set(err, TF_EDATA, "metadata weights \"%s\": expected \"bf16\" or \"q8\"",
                      tf_escape(b, sizeof b, s, strlen(s)));
}

int tf_qstore_create(struct tf_model *m, const struct tf_model_config *c, enum tf_weights w,
                     struct tf_error *err) {
  int rc = tf_model_create_shell(m, c, err);
  if (!rc) rc = tf_qweights_new(&m->qw, &m->cfg, w, err);
  if (rc) return rc;
  memset(m->qw->mem, 0, m->qw->bytes);
  m->weights = w;
  m->w->final_norm_weight = m->qw->final_norm;
  m->w->final_norm_bias = m->qw->final_norm + m->cfg.d_model;
  return TF_OK;
}

/* The converted matrix of 2-D parameter t. */
static struct tf_qmat *mat_of(struct tf_qweights *q, const struct tf_tensor *t) {
  if (t->layer < 0) return &q->embed;
  return t->is_key ? &q->key[t->layer][t->slot] : &q->value[t->layer][t->slot];
}

/* The floats of 1-D parameter t, the final LayerNorm's weight or bias, once m->w points at
 * them. */
static float *norm_of(const struct tf_model *m, const struct tf_tensor *t) {
  return strcmp(t->name, "final_norm.bias") == 0 ? m->w->final_norm_bias : m->w->final_norm_weight;
}

/* The parameter NAME of "NAME.scales", or NULL. */
static const struct tf_tensor *scales_of(const struct tf_model *m, const char *name) {
  size_t n = strlen(name), k = strlen(SCALES);
  char base[TF_NAME_MAX];
  if (n <= k || n - k >= sizeof base || strcmp(name + n - k, SCALES) != 0) return NULL;
  memcpy(base, name, n - k);
  base[n - k] = '\0';
  const struct tf_tensor *t = tf_model_tensor_named(m, base);
  return t && t->cols ? t : NULL;
}

int tf_qstore_place(struct tf_model *m, const char *name, struct tensor_place *p) {
  memset(p, 0, sizeof *p);
  const struct tf_tensor *t = tf_model_tensor_named(m, name), *s = NULL;
  if (!t && m->weights == TF_WEIGHTS_Q8) t = s = scales_of(m, name);
  if (!t) return 0;
  struct tf_qmat *W = m->qw && t->cols ? mat_of(m->qw, t) : NULL;
  p->ndim = t->cols ? 2 : 1;
  p->shape[0] = t->rows;
  p->shape[1] = t->cols;
  if (!t->cols) { /* the final LayerNorm, kept in float */
    p->dtype = TF_F32;
    p->dst = m->qw ? norm_of(m, t) : NULL;
  } else if (s) {
    p->dtype = TF_F32;
    p->shape[1] = tf_qcols((int)t->cols) / TF_Q8_BLOCK;
    p->dst = W ? W->scale : NULL;
  } else {
    p->dtype = m->weights == TF_WEIGHTS_BF16 ? TF_BF16 : TF_I8;
    p->dst = !W ? NULL : W->bf16 ? (void *)W->bf16 : (void *)W->q;
    p->pitch = (size_t)tf_qcols((int)t->cols) * tf_dtype_size(p->dtype);
  }
  return 1;
}

int tf_qstore_check_complete(const struct tf_model *m, const struct tf_st_header *h,
                             struct tf_error *err) {
  char name[NAME_BYTES];
  for (int i = 0; m->weights == TF_WEIGHTS_Q8 && i < m->n_tensors; i++) {
    if (!m->tensors[i].cols) continue;
    snprintf(name, sizeof name, "%s" SCALES, m->tensors[i].name);
    if (!tf_st_find(h, name))
      return tf_error_set(err, TF_EDATA, "tensor %s: missing (the block scales of q8 tensor %s)",
                          name, m->tensors[i].name);
  }
  return TF_OK;
}

int tf_qstore_check_value(const char *name, enum tf_dtype dtype, double v, struct tf_error *err) {
  size_t n = strlen(name), k = strlen(SCALES);
  if (dtype == TF_I8 && v < -127)
    return tf_error_set(err, TF_EDATA, "tensor %s: holds %g, expected q8 values in [-127, 127]",
                        name, v);
  if (dtype == TF_F32 && n > k && strcmp(name + n - k, SCALES) == 0 && !(v >= 0 && v <= SCALE_MAX))
    return tf_error_set(err, TF_EDATA,
                        "tensor %s: holds %g, expected q8 scales finite, >= 0 and at most %g "
                        "(127 times a scale is a weight)",
                        name, v, (double)SCALE_MAX);
  return TF_OK;
}

/* The first value of W that breaks a rule (bf16: not finite; q8: q = -128, or a bad scale)
 * into *bad, with *scale set when it is a scale; 0 when there is none. */
static int first_bad(const struct tf_qmat *W, double *bad, int *scale) {
  size_t n = (size_t)W->rows * W->cp, nb = n / TF_Q8_BLOCK;
  *scale = 0;
  for (size_t j = 0; W->fmt == TF_WEIGHTS_BF16 && j < n; j++)
    if ((W->bf16[j] & 0x7f80) == 0x7f80) return *bad = tf_bf16_float(W->bf16[j]), 1;
  if (W->fmt == TF_WEIGHTS_BF16) return 0;
  int lo = 0;
#pragma omp simd reduction(min : lo)
  for (size_t j = 0; j < n; j++) lo = W->q[j] < lo ? W->q[j] : lo;
  if (lo < -127) return *bad = lo, 1;
  for (size_t b = 0; b < nb; b++)
    if (!(W->scale[b] >= 0 && W->scale[b] <= SCALE_MAX)) return *bad = W->scale[b], *scale = 1, 1;
  return 0;
}

int tf_qstore_check_values(const struct tf_model *m, struct tf_error *err) {
  char name[NAME_BYTES];
  for (int i = 0; i < m->n_tensors; i++) {
    const struct tf_tensor *t = &m->tensors[i];
    double v;
    int scale;
    if (!t->cols) {
      const float *x = norm_of(m, t);
      size_t j = tf_first_non_finite(x, (size_t)t->rows);
      if (j < (size_t)t->rows)
        return tf_error_set(err, TF_EDATA, "tensor %s: element %zu is %g, expected a finite value",
                            t->name, j, (double)x[j]);
      continue;
    }
    if (!first_bad(mat_of(m->qw, t), &v, &scale)) continue;
    snprintf(name, sizeof name, "%s%s", t->name, scale ? SCALES : "");
    if (m->weights == TF_WEIGHTS_BF16)
      return tf_error_set(err, TF_EDATA, "tensor %s: holds %g, expected finite values", name, v);
    return tf_qstore_check_value(name, scale ? TF_F32 : TF_I8, v, err);
  }
  return TF_OK;
}

/* ---------------------------------------------------------------- saving */

/* Bytes of the unpadded copies of m's 2-D tensors whose rows are padded. */
static size_t copy_bytes(const struct tf_model *m, size_t es) {
  size_t total = 0;
  for (int i = 0; i < m->n_tensors; i++) {
    const struct tf_tensor *t = &m->tensors[i];
    if (t->cols && tf_qcols((int)t->cols) != t->cols) total += t->numel * es;
  }
  return total;
}

/* The data of 2-D tensor t as stored: W's rows, or their unpadded copy at *spare. */
static const void *stored_data(const struct tf_qmat *W, size_t es, char **spare) {
  const char *src = W->bf16 ? (const char *)W->bf16 : (const char *)W->q;
  if (W->cp == W->cols) return src;
  char *dst = *spare;
  for (int i = 0; i < W->rows; i++)
    memcpy(dst + (size_t)i * W->cols * es, src + (size_t)i * W->cp * es, (size_t)W->cols * es);
  *spare += (size_t)W->rows * W->cols * es;
  return dst;
}

int tf_qstore_entries(const struct tf_model *m, struct tf_ckpt_entry **entries, size_t *n,
                      char **names, struct tf_error *err) {
  int q8 = m->weights == TF_WEIGHTS_Q8;
  size_t nt = (size_t)m->n_tensors, es = q8 ? 1 : 2, total = nt, k = nt;
  for (size_t i = 0; q8 && i < nt; i++) total += m->tensors[i].cols != 0;
  struct tf_ckpt_entry *e = calloc(total, sizeof *e);
  char *buf = malloc(total * NAME_BYTES + copy_bytes(m, es));
  if (!e || !buf) {
    free(e);
    free(buf);
    return tf_error_set(err, TF_ENOMEM, "out of memory listing %zu tensors", total);
  }
  char *spare = buf + total * NAME_BYTES;
  for (size_t i = 0; i < nt; i++) {
    const struct tf_tensor *t = &m->tensors[i];
    struct tf_ckpt_entry *x = &e[i];
    x->name = t->name;
    x->ndim = t->cols ? 2 : 1;
    x->shape[0] = t->rows;
    x->shape[1] = t->cols;
    x->dtype = !t->cols ? TF_F32 : q8 ? TF_I8 : TF_BF16;
    if (!t->cols) {
      x->data = norm_of(m, t);
      continue;
    }
    const struct tf_qmat *W = mat_of(m->qw, t);
    x->data = stored_data(W, es, &spare);
    if (!q8) continue;
    struct tf_ckpt_entry *s = &e[k];
    char *name = buf + k++ * NAME_BYTES;
    snprintf(name, NAME_BYTES, "%s" SCALES, t->name);
    *s = (struct tf_ckpt_entry){.name = name, .dtype = TF_F32, .ndim = 2, .data = W->scale};
    s->shape[0] = t->rows;
    s->shape[1] = W->cp / TF_Q8_BLOCK;
  }
  *entries = e;
  *n = total;
  *names = buf;
  return TF_OK;
}

/* ---------------------------------------------------------------- float values */

int tf_qstore_dequantize(struct tf_model *m, struct tf_error *err) {
  struct tf_mem_need need = {.params = (double)m->n_params * sizeof(float) + (double)m->qw->bytes};
  int rc = tf_mem_check(&need, "the weights in float beside the stored ones", err);
  float *block = rc ? NULL : malloc(m->n_params * sizeof *block);
  if (!rc && !block) rc = tf_error_set(err, TF_ENOMEM, "out of memory for the weights in float");
  struct tf_view v = {0};
  if (!rc) rc = tf_view_point(&v, block, &m->cfg, err);
  if (rc) {
    free(block);
    return rc;
  }
  int d = m->cfg.d_model;
#pragma omp parallel
  for (int i = 0; i < m->n_tensors; i++) {
    const struct tf_tensor *t = &m->tensors[i];
    if (!t->cols) continue;
    const struct tf_qmat *W = mat_of(m->qw, t);
#pragma omp for schedule(static)
    for (int r = 0; r < W->rows; r++) tf_qmat_row(block + t->offset + (size_t)r * W->cols, W, r);
  }
  memcpy(v.final_norm_weight, m->w->final_norm_weight, (size_t)d * sizeof(float));
  memcpy(v.final_norm_bias, m->w->final_norm_bias, (size_t)d * sizeof(float));
  tf_qweights_free(m->qw);
  m->qw = NULL;
  m->weights = TF_WEIGHTS_F32;
  m->params = block;
  *m->w = v; /* the shell's view held no layers */
  return TF_OK;
}
