/* shrink.c: how much each parameter token matters on sample text (docs/model.md §6.7), the
 * measure tf-grow shrinks by. The shrinking itself is tf_model_shrink (grow.c). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels.h"
#include "model_internal.h"
#include "net.h"
#include "train_internal.h"

/* What the hook adds to after each forward pass. */
struct measure {
  const struct tf_model *m;
  const struct tf_acts *acts; /* the pass just done */
  struct tf_token_scores *s;
  float *a, *row; /* (n_max) scratch: a copy of one row of X K^T, and its scores */
};

/* Adds |S_j| of every row of Pattention (l, slot) to mass (n). The forward keeps A = X K^T
 * (softmax: S itself, computed in place); S = Theta(A) row by row as the forward computes it. */
static void add_slot(struct measure *x, const struct tf_pattn_acts *pa, int R, int slot,
                     double *mass) {
  const struct tf_model_config *c = &x->m->cfg;
  int k = tf_slot_kind(slot), n = c->tokens[k], n_ref = tf_model_config_ref_tokens(c, k);
  size_t ld = (size_t)tf_pattn_row_stride(n);
  float tau = sqrtf((float)n_ref), rn;
  for (int i = 0; i < R; i++) {
    const float *S = pa->cache + (size_t)i * ld;
    if (c->norm != TF_NORM_SOFTMAX) {
      memcpy(x->a, S, (size_t)n * sizeof *x->a);
      S = tf_pattn_theta_row(c->norm, x->a, x->row, &rn, tau, n_ref, n);
    }
    for (int j = 0; j < n; j++) mass[j] += fabsf(S[j]);
  }
}

static void each_pass(void *ctx, int64_t done, int64_t total) {
  struct measure *x = ctx;
  const struct tf_acts *a = x->acts;
  (void)done, (void)total;
  int R = a->cur_B * a->cur_T;
  for (int l = 0; l < x->m->cfg.n_layers; l++)
    for (int slot = 0; slot < TF_NSLOTS; slot++)
      add_slot(x, &a->layer[l].p[slot], R, slot, x->s->importance + x->s->offset[l][slot]);
  x->s->positions += R;
}

/* importance_j = mean |S_j| * |V_j|, from the masses summed over the sample. */
static void finish_scores(struct tf_token_scores *s, const struct tf_model *m) {
  const struct tf_model_config *c = &m->cfg;
  size_t d = (size_t)c->d_model;
  for (int l = 0; l < c->n_layers; l++)
    for (int slot = 0; slot < TF_NSLOTS; slot++) {
      int n = c->tokens[tf_slot_kind(slot)];
      double *imp = s->importance + s->offset[l][slot];
      const float *V = m->w->layer[l][slot].value;
      for (int j = 0; j < n; j++) {
        double sq = 0;
        for (size_t e = 0; e < d; e++) sq += (double)V[j * d + e] * V[j * d + e];
        imp[j] = imp[j] / (double)(s->positions > 0 ? s->positions : 1) * sqrt(sq);
      }
    }
}

/* The scores' layout, offset allocated to the model's layers: every layer's Pattentions in
 * slot order, n of its kind each. Their total (0 when out of memory: offset is NULL). */
static size_t lay_out(struct tf_token_scores *s, const struct tf_model_config *c) {
  size_t total = 0;
  if (!(s->offset = calloc((size_t)c->n_layers, sizeof *s->offset))) return 0;
  for (int l = 0; l < c->n_layers; l++)
    for (int slot = 0; slot < TF_NSLOTS; slot++) {
      s->offset[l][slot] = total;
      total += (size_t)c->tokens[tf_slot_kind(slot)];
    }
  return total;
}

int tf_token_scores_measure(struct tf_token_scores *s, const struct tf_model *m,
                            const struct tf_corpus *c, size_t n, int B, struct tf_eval_result *r,
                            struct tf_error *err) {
  const struct tf_model_config *cfg = &m->cfg;
  int T = cfg->seq_len, n_max = tf_model_config_max_tokens(cfg);
  memset(s, 0, sizeof *s);
  struct tf_acts acts;
  int rc = tf_acts_init(&acts, cfg, B, T, err);
  if (rc) return rc;
  struct measure x = {.m = m, .acts = &acts, .s = s};
  s->importance = calloc(lay_out(s, cfg), sizeof *s->importance);
  x.a = malloc((size_t)n_max * sizeof *x.a);
  x.row = malloc((size_t)n_max * sizeof *x.row);
  int32_t *buf = malloc(2 * (size_t)B * (size_t)T * sizeof *buf);
  if (!s->offset || !s->importance || !x.a || !x.row || !buf)
    rc = tf_error_set(err, TF_ENOMEM, "out of memory for the token scores");
  if (!rc)
    rc = tf_eval_windows_watched(m, &acts, B, c, n, 0, buf, buf + (size_t)B * T, r, each_pass, &x,
                                 err);
  if (!rc) finish_scores(s, m);
  free(buf);
  free(x.a);
  free(x.row);
  tf_acts_release(&acts);
  if (rc) tf_token_scores_free(s);
  return rc;
}

void tf_token_scores_free(struct tf_token_scores *s) {
  free(s->importance);
  free(s->offset);
  memset(s, 0, sizeof *s);
}

/* The loss of m over the first n tokens of c, as tf_token_scores_measure scores it. */
static int sample_loss(const struct tf_model *m, const struct tf_corpus *c, size_t n, int B,
                       struct tf_eval_result *r, struct tf_error *err) {
  int T = m->cfg.seq_len;
  struct tf_acts acts;
  int rc = tf_acts_init(&acts, &m->cfg, B, T, err);
  if (rc) return rc;
  int32_t *buf = malloc(2 * (size_t)B * (size_t)T * sizeof *buf);
  if (!buf)
    rc = tf_error_set(err, TF_ENOMEM, "out of memory for the sample's windows");
  else
    rc = tf_eval_windows(m, &acts, B, c, n, 0, buf, buf + (size_t)B * T, r, err);
  free(buf);
  tf_acts_release(&acts);
  return rc;
}

int tf_model_shrink_on(struct tf_model *out, const struct tf_model *in,
                       const struct tf_grow_config *g, const struct tf_corpus *c, size_t n, int B,
                       struct tf_shrink_report *rep, struct tf_error *err) {
  struct tf_token_scores s;
  memset(out, 0, sizeof *out);
  memset(rep, 0, sizeof *rep);
  int rc = tf_token_scores_measure(&s, in, c, n, B, &rep->before, err);
  if (rc) return rc;
  rc = tf_model_shrink(out, in, g, &s, &rep->plan, err);
  tf_token_scores_free(&s);
  if (!rc) rc = sample_loss(out, c, n, B, &rep->after, err);
  if (rc) tf_model_free(out);
  return rc;
}
