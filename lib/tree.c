/* tree.c: the network's forward over packed prefix trees, for scoring many continuations of
 * one context (tasks_share.c). Rows come in segments; a segment under a parent continues the
 * parent's rows: its positions follow them and its rows attend to all of them, so a context
 * is encoded once and each continuation is a segment under it. Every row is independent of
 * the others except in attention, so the Pattentions and LayerNorms run over all rows of all
 * segments in one pass, as net.c's whole-sequence forward does; logits are made only for the
 * rows asked for. The math is net.c's layer_forward (docs/model.md §2.1). */
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "gemv.h"
#include "kernels.h"
#include "tasks_internal.h"
#include "model_internal.h"

/* Rows of logits made at once: (HEAD_ROWS, V) floats, 25 MiB at V = 50304. */
#define HEAD_ROWS 128

/* One buffer of the tree: where its pointer goes and how many floats it takes. */
struct piece {
  float **ptr;
  size_t a, b;
};

/* The float buffers, in allocation order; returns how many. */
static int pieces(struct tf_tree *t, const struct tf_model_config *c, struct piece *p) {
  size_t R = t->R, C = t->C, S = t->S, d = c->d_model, ld = tf_pattn_ld_max(c);
  size_t half = (size_t)tf_model_config_rotary_dims(c) / 2;
  int i = 0;
  float **rows[] = {&t->x, &t->h, &t->q, &t->k, &t->v, &t->att};
  for (size_t j = 0; j < sizeof rows / sizeof *rows; j++) p[i++] = (struct piece){rows[j], R, d};
  p[i++] = (struct piece){&t->rstd, R, 1};
  p[i++] = (struct piece){&t->pcache, R, ld};
  p[i++] = (struct piece){&t->pscratch, R, ld};
  p[i++] = (struct piece){&t->prnorm, R, 1};
  p[i++] = (struct piece){&t->rope_cos, S, half};
  p[i++] = (struct piece){&t->rope_sin, S, half};
  p[i++] = (struct piece){&t->scores, (size_t)t->threads, S};
  p[i++] = (struct piece){&t->y, C, d};
  p[i++] = (struct piece){&t->mean, C, 1};
  p[i++] = (struct piece){&t->ystd, C, 1};
  p[i++] = (struct piece){&t->logits, C, c->vocab_size};
  p[i++] = (struct piece){&t->lse, C, 1};
  p[i++] = (struct piece){&t->loss, C, 1};
  return i;
}

/* Bytes of the float buffers and the row tables, or INFINITY on overflow. */
static double tree_bytes(struct tf_tree *t, const struct tf_model_config *c, struct piece *p,
                         int *np, size_t *floats) {
  size_t total = 0, n;
  *np = pieces(t, c, p);
  for (int i = 0; i < *np; i++)
    if (__builtin_mul_overflow(p[i].a, p[i].b, &n) || __builtin_add_overflow(total, n, &total))
      return INFINITY;
  *floats = total;
  return (double)total * sizeof(float) +
         (double)t->R * (sizeof *t->tokens + sizeof *t->seg + sizeof *t->row_seg);
}

int tf_tree_create(struct tf_tree *t, const struct tf_model_config *c, int R,
                   struct tf_error *err) {
  memset(t, 0, sizeof *t);
  int procs = omp_get_num_procs(), maxt = omp_get_max_threads();
  *t =
      (struct tf_tree){.R = R < 1 ? 1 : R, .S = c->seq_len, .threads = procs > maxt ? procs : maxt};
  t->C = t->R < HEAD_ROWS ? t->R : HEAD_ROWS;
  struct piece p[24];
  int np;
  size_t total = 0;
  struct tf_mem_need need = {.params = (double)tf_param_count(c) * sizeof(float),
                             .acts = tree_bytes(t, c, p, &np, &total)};
  char what[64];
  snprintf(what, sizeof what, "task scoring buffers for %d rows", t->R);
  int rc = tf_mem_check(&need, what, err);
  if (rc) return rc;
  t->mem = calloc(total, sizeof(float));
  t->tokens = calloc((size_t)t->R, sizeof *t->tokens);
  t->seg = calloc((size_t)t->R, sizeof *t->seg);
  t->row_seg = calloc((size_t)t->R, sizeof *t->row_seg);
  if (!t->mem || !t->tokens || !t->seg || !t->row_seg) {
    tf_tree_free(t);
    return tf_error_set(err, TF_ENOMEM, "%s: cannot allocate %.3g GiB", what,
                        need.acts / (1 << 30));
  }
  float *at = t->mem;
  for (int i = 0; i < np; i++) {
    *p[i].ptr = at;
    at += p[i].a * p[i].b;
  }
  tf_rope_table(t->rope_cos, t->rope_sin, t->S, tf_model_config_rotary_dims(c), c->rotary_base);
  return TF_OK;
}

void tf_tree_free(struct tf_tree *t) {
  free(t->mem);
  free(t->tokens);
  free(t->seg);
  free(t->row_seg);
  memset(t, 0, sizeof *t);
}

/* ---------------------------------------------------------------- the layers */

static void pattn(const struct tf_model *m, struct tf_tree *t, int l, int slot, const float *x,
                  float *out, float beta) {
  const struct tf_model_config *c = &m->cfg;
  int k = tf_slot_kind(slot);
  struct tf_pattn_shape s = {.rows = t->n_rows,
                             .n = c->tokens[k],
                             .n_ref = tf_model_config_ref_tokens(c, k),
                             .d_in = c->d_model,
                             .d_out = c->d_model,
                             .norm = c->norm,
                             .ld = tf_pattn_ld_max(c)};
  const struct tf_pattn_view *w = &m->w->layer[l][slot];
  tf_pattn_forward(&s, out, beta, t->pcache, t->prnorm, t->pscratch, x, w->key, w->value);
}

/* Where segment g's rows start in position: after all of its parent's. */
static int seg_pos(const struct tf_tree *t, int g) {
  int parent = t->seg[g].parent;
  return parent < 0 ? 0 : t->seg[parent].n;
}

/* RoPE on q and k, segment by segment: row i of segment g is position seg_pos(g) + i. */
static void rope(const struct tf_model_config *c, struct tf_tree *t) {
  int d = c->d_model, H = c->n_heads, r = tf_model_config_rotary_dims(c), half = r / 2;
  if (r == 0) return;
  for (int g = 0; g < t->n_segs; g++) {
    size_t at = (size_t)seg_pos(t, g) * half, row = (size_t)t->seg[g].r0 * d;
    int n = t->seg[g].n;
    tf_rope_forward(t->q + row, t->rope_cos + at, t->rope_sin + at, 1, n, H, d / H, r);
    tf_rope_forward(t->k + row, t->rope_cos + at, t->rope_sin + at, 1, n, H, d / H, r);
  }
}

/* The keys of row i, in position order: its parent's rows, then its own segment's up to i,
 * per head:  p_t = softmax_t(<q_i, k_t> / sqrt(d_h));  att_i = sum_t p_t v_t. */
static void attend(const struct tf_model_config *c, struct tf_tree *t) {
  int d = c->d_model, H = c->n_heads, dh = d / H, R = t->n_rows;
  int team = omp_get_max_threads() < t->threads ? omp_get_max_threads() : t->threads;
  float scale = 1.0f / sqrtf((float)dh);
#pragma omp parallel for schedule(dynamic, 16) num_threads(team) if (tf_par((size_t)R * d * 64))
  for (int job = 0; job < R * H; job++) {
    int i = job / H, hd = job % H;
    const struct tf_tree_seg *g = &t->seg[t->row_seg[i]];
    int span[2][2] = {{0, 0}, {g->r0, i + 1}}; /* [first, end) rows of parent and own */
    if (g->parent >= 0)
      span[0][0] = t->seg[g->parent].r0, span[0][1] = span[0][0] + seg_pos(t, t->row_seg[i]);
    const float *q = t->q + (size_t)i * d + (size_t)hd * dh;
    float *p = t->scores + (size_t)omp_get_thread_num() * t->S,
          *out = t->att + (size_t)i * d + hd * dh;
    int n = 0;
    for (int s = 0; s < 2; s++)
      for (int j = span[s][0]; j < span[s][1]; j++)
        p[n++] = scale * tf_dotf(q, t->k + (size_t)j * d + hd * dh, dh);
    tf_softmax_row(p, 1.0f, n);
    memset(out, 0, (size_t)dh * sizeof *out);
    n = 0;
    for (int s = 0; s < 2; s++)
      for (int j = span[s][0]; j < span[s][1]; j++)
        tf_axpyf(out, p[n++], t->v + (size_t)j * d + hd * dh, dh);
  }
}

/* One layer over every row, as net.c's layer_forward:  h = LN0(x);  q, k, v = Pattentions of
 * h;  RoPE;  att = attention within the tree;  x += Pattention_proj(att);  h = LN0(x);
 * x += Pattention_ffn(h). */
static void layer(const struct tf_model *m, struct tf_tree *t, int l) {
  int R = t->n_rows, d = m->cfg.d_model;
  tf_layernorm_forward(t->h, t->rstd, t->x, R, d);
  pattn(m, t, l, TF_SLOT_Q, t->h, t->q, 0.0f);
  pattn(m, t, l, TF_SLOT_K, t->h, t->k, 0.0f);
  pattn(m, t, l, TF_SLOT_V, t->h, t->v, 0.0f);
  rope(&m->cfg, t);
  attend(&m->cfg, t);
  pattn(m, t, l, TF_SLOT_PROJ, t->att, t->x, 1.0f);
  tf_layernorm_forward(t->h, t->rstd, t->x, R, d);
  pattn(m, t, l, TF_SLOT_FFN, t->h, t->x, 1.0f);
}

void tf_tree_forward(const struct tf_model *m, struct tf_tree *t) {
  for (int g = 0; g < t->n_segs; g++)
    for (int i = 0; i < t->seg[g].n; i++) t->row_seg[t->seg[g].r0 + i] = g;
  tf_embed_forward(t->x, t->tokens, m->w->embed, t->n_rows, m->cfg.d_model);
  for (int l = 0; l < m->cfg.n_layers; l++) layer(m, t, l);
}

void tf_tree_head(const struct tf_model *m, struct tf_tree *t, const int *rows, int n) {
  int d = m->cfg.d_model, V = m->cfg.vocab_size;
  for (int i = 0; i < n; i++)
    memcpy(t->h + (size_t)i * d, t->x + (size_t)rows[i] * d, (size_t)d * sizeof(float));
  /* logits = LN_final(x) E^T; lse_i = log sum_j exp(logits_ij) (the cross-entropy's, its
   * targets unused: t->loss is scratch) */
  tf_layernorm_affine_forward(t->y, t->mean, t->ystd, t->h, m->w->final_norm_weight,
                              m->w->final_norm_bias, n, d);
  tf_head_forward(t->logits, t->y, m->w->embed, n, V, d);
  int32_t zero[HEAD_ROWS] = {0};
  tf_crossentropy_forward(t->loss, t->lse, t->logits, zero, n, V);
}
