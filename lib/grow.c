/* grow.c: a larger model from a smaller one by appending parameter tokens (docs/model.md §6): the
 * new token counts and n_ref, the new rows (exact, random, duplicate), the training state carried
 * into the next stage. No file I/O and no printing here (tf-grow does both). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "model_internal.h"
#include "optim.h"
#include "rng.h"
#include "train_internal.h"

/* The new count of kind k: an increment, a new total, or (0, absolute) unchanged. A total
 * below n is a shrink (tf_model_shrink); refuses totals over the config's limit. */
static int new_count(const struct tf_grow_config *g, int k, int n, int *out, struct tf_error *err) {
  long long want = g->relative[k] ? (long long)n + g->tokens[k] : g->tokens[k] ? g->tokens[k] : n;
  if (want > TF_MAX_TOKENS)
    return tf_error_set(err, TF_EUSAGE, "%s tokens: %lld is more than the limit of %d",
                        tf_kind_name(k), want, TF_MAX_TOKENS);
  *out = (int)want;
  return TF_OK;
}

/* n_ref after duplicate growth of n tokens by m = q n: every row norm of the scores grows by
 * sqrt((n + m) / n) = sqrt(1 + q), so tau = sqrt(n_ref) must grow by the same factor for
 * Z = tau A / |A| to stay: n_ref' = n_ref (1 + q), an integer whatever n_ref was
 * (docs/model.md §6.2; softmax's factor n_ref and its sum over 1 + q copies cancel the same
 * way). */
static int duplicate_ref(int k, int n, int m, int ref, int *out, struct tf_error *err) {
  if (m % n != 0)
    return tf_error_set(err, TF_EUSAGE,
                        "duplicate growth: %s grows by %d tokens, not a multiple of its %d "
                        "(stacked copies of the old keys need +%d, +%d, ...)",
                        tf_kind_name(k), m, n, n, 2 * n);
  long long ref2 = (long long)ref * (1 + m / n);
  if (ref2 > TF_MAX_TOKENS)
    return tf_error_set(err, TF_EUSAGE,
                        "duplicate growth: %s n_ref would become %lld, over the limit of %d",
                        tf_kind_name(k), ref2, TF_MAX_TOKENS);
  *out = (int)ref2;
  return TF_OK;
}

/* A key row of zeros copied with a zero value row: GELU(0) = 0 gives the copy zero gradients
 * in both (docs/model.md §6.2, dead tokens). Only the GELU norms; softmax gives exp(0) > 0. */
static int check_no_dead_copies(const struct tf_model *in, int k, struct tf_error *err) {
  const struct tf_model_config *c = &in->cfg;
  if (c->norm == TF_NORM_SOFTMAX) return TF_OK;
  for (int i = 0; i < in->n_tensors; i++) {
    const struct tf_tensor *t = &in->tensors[i];
    if (t->slot < 0 || !t->is_key || tf_slot_kind((enum tf_slot)t->slot) != (enum tf_kind)k)
      continue;
    for (int64_t r = 0; r < t->rows; r++) {
      const float *row = in->params + t->offset + (size_t)r * (size_t)t->cols;
      int64_t j = 0;
      while (j < t->cols && row[j] == 0.0f) j++;
      if (j == t->cols)
        return tf_error_set(err, TF_EUSAGE,
                            "duplicate growth: %s row %lld is zero; its copies (zero key, zero "
                            "value) would be dead tokens; train the model first, or grow with "
                            "init exact or random",
                            t->name, (long long)r);
    }
  }
  return TF_OK;
}

/* The n_ref of a grown kind: kept (exact, random), scaled (duplicate), or the new count
 * (rescale). *keeps: that value leaves the function unchanged. */
static int plan_ref(const struct tf_model *in, const struct tf_grow_config *g, int k, int n, int n2,
                    int ref, int *ref2, int *keeps, struct tf_error *err) {
  int exact_ref = ref;
  if (g->init == TF_GROW_DUPLICATE) {
    int rc = duplicate_ref(k, n, n2 - n, ref, &exact_ref, err);
    if (!rc) rc = check_no_dead_copies(in, k, err);
    if (rc) return rc;
  }
  *ref2 = g->rescale ? n2 : exact_ref;
  *keeps = g->init != TF_GROW_RANDOM && *ref2 == exact_ref;
  return TF_OK;
}

int tf_grow_plan(struct tf_grow_plan *p, const struct tf_model *in, const struct tf_grow_config *g,
                 struct tf_error *err) {
  const struct tf_model_config *c = &in->cfg;
  memset(p, 0, sizeof *p);
  if ((unsigned)g->init > TF_GROW_DUPLICATE)
    return tf_error_set(err, TF_EUSAGE, "unknown growth init %d", (int)g->init);
  if (g->init == TF_GROW_EXACT && c->norm == TF_NORM_SOFTMAX)
    return tf_error_set(err, TF_EUSAGE,
                        "exact growth: a softmax model cannot keep its function with zero new "
                        "keys (each adds exp(0) to every row's normaliser); grow it with init "
                        "duplicate (exact) or random");
  int grows = 0, shrinks = 0;
  p->exact = 1;
  for (int k = 0; k < TF_NKINDS; k++) {
    int n = c->tokens[k], keeps = 1;
    p->old_tokens[k] = n;
    p->old_ref[k] = p->new_ref[k] = tf_model_config_ref_tokens(c, k);
    int rc = new_count(g, k, n, &p->new_tokens[k], err);
    shrinks += p->new_tokens[k] < n;
    if (!rc && p->new_tokens[k] > n)
      rc = plan_ref(in, g, k, n, p->new_tokens[k], p->old_ref[k], &p->new_ref[k], &keeps, err);
    if (rc) return rc;
    grows += p->new_tokens[k] > n;
    p->exact &= keeps;
  }
  if (grows && shrinks)
    return tf_error_set(err, TF_EUSAGE,
                        "qkv %d -> %d, proj %d -> %d, ffn %d -> %d: one run grows or shrinks, "
                        "not both",
                        p->old_tokens[0], p->new_tokens[0], p->old_tokens[1], p->new_tokens[1],
                        p->old_tokens[2], p->new_tokens[2]);
  p->shrink = shrinks > 0;
  if (p->shrink) p->exact = 0;
  if (!grows && !shrinks)
    return tf_error_set(err, TF_EUSAGE,
                        "nothing to grow: qkv %d, proj %d, ffn %d tokens stay as they are",
                        c->tokens[TF_KIND_QKV], c->tokens[TF_KIND_PROJ], c->tokens[TF_KIND_FFN]);
  return TF_OK;
}

/* Copies the rows of tensor a (of block src) into the first rows of tensor b (of block dst);
 * b's other rows are left as they are. */
static void copy_rows(float *dst, const struct tf_tensor *b, const float *src,
                      const struct tf_tensor *a) {
  memcpy(dst + b->offset, src + a->offset, a->numel * sizeof(float));
}

/* How new rows are drawn: the mode, the init's standard deviations, one RNG stream. */
struct row_init {
  enum tf_grow_init mode;
  double key_std, value_std;
  struct tf_rng rng;
};

/* 0 for zero rows: duplicate's values (its keys are copies), exact's keys. */
static double new_row_std(const struct row_init *ri, int is_key) {
  if (ri->mode == TF_GROW_DUPLICATE) return 0;
  if (!is_key) return ri->value_std;
  return ri->mode == TF_GROW_RANDOM ? ri->key_std : 0;
}

/* The new rows of Pattention tensor b, whose first a->rows rows were copied from a:
 *   exact:     K_new = 0,                              V_new ~ N(0, value_std)
 *   random:    K_new ~ N(0, key_std),                  V_new ~ N(0, value_std)
 *   duplicate: K_new = m/n stacked copies of K_old,    V_new = 0 */
static void fill_new_rows(float *block, const struct tf_tensor *b, const struct tf_tensor *a,
                          struct row_init *ri) {
  size_t d = (size_t)b->cols, n = (size_t)a->rows;
  float *p = block + b->offset;
  if (ri->mode == TF_GROW_DUPLICATE && b->is_key) {
    for (size_t r = n; r < (size_t)b->rows; r++) memcpy(p + r * d, p + (r % n) * d, d * sizeof *p);
    return;
  }
  double std = new_row_std(ri, b->is_key);
  if (std == 0) return; /* the block is zeroed */
  for (size_t j = n * d; j < b->numel; j++) p[j] = (float)(std * tf_rng_normal(&ri->rng));
}

static void init_rows(struct row_init *ri, const struct tf_model_config *c,
                      const struct tf_grow_config *g, const struct tf_init_config *ic) {
  struct tf_config def;
  if (!ic) {
    tf_config_default(&def);
    ic = &def.init;
  }
  ri->mode = g->init;
  ri->key_std = tf_init_key_std(ic);
  ri->value_std = tf_init_value_std(c, ic); /* docs/model.md §4, as tf_model_init */
  tf_rng_seed(&ri->rng, g->seed);
}

/* A new stage: step 0; lifetime counters and the data stream carried on; the AdamW moments
 * extended with zero rows (keep) or zeroed with their step (a fresh AdamW, as the official
 * code's reset). A model without training state stays without. */
static int carry_state(struct tf_model *out, const struct tf_model *in, int keep,
                       struct tf_error *err) {
  if (!in->train.present) return TF_OK;
  struct tf_rng *rng = out->train.rng; /* out's own parts, fresh from tf_model_create */
  struct tf_adamw *opt = out->train.opt;
  out->train = in->train;
  out->train.rng = rng;
  out->train.opt = opt;
  out->train.cursor = NULL;
  *rng = *in->train.rng;
  int rc = tf_train_state_set_ranks(&out->train, in->train.n_ranks, err);
  if (rc) return rc;
  memcpy(out->train.cursor, in->train.cursor, (size_t)in->train.n_ranks * sizeof *in->train.cursor);
  out->train.step = 0;
  out->train.has_schedule = 0; /* a new stage, on the config's schedule */
  rc = tf_adamw_create(opt, out->n_params, err);
  if (rc || !keep || !in->train.opt->m) return rc;
  opt->step = in->train.opt->step;
  for (int i = 0; i < in->n_tensors; i++) {
    copy_rows(opt->m, &out->tensors[i], in->train.opt->m, &in->tensors[i]);
    copy_rows(opt->v, &out->tensors[i], in->train.opt->v, &in->tensors[i]);
  }
  return TF_OK;
}

void tf_growth_record(struct tf_model *out, const struct tf_model *in) {
  const struct tf_train_state *s = &in->train;
  out->growth = (struct tf_growth){.present = 1};
  memcpy(out->growth.old_tokens, in->cfg.tokens, sizeof out->growth.old_tokens);
  if (s->present && s->has_schedule && s->step > 0) {
    struct tf_schedule sched = {s->stage_lr, s->stage_min_lr, s->stage_warmup, s->stage_steps};
    out->growth.has_final_lr = 1;
    out->growth.final_lr = tf_lr_at(&sched, s->step - 1);
  }
}

static int copy_text(char **dst, const char *src, struct tf_error *err) {
  if (!src) return TF_OK; /* keep tf_model_create's default */
  char *s = strdup(src);
  if (!s) return tf_error_set(err, TF_ENOMEM, "out of memory");
  free(*dst);
  *dst = s;
  return TF_OK;
}

/* The grown model is built beside the input: both, with their AdamW moments when a training
 * state is carried, must fit in memory together. Refused before allocating, with the figures. */
int tf_grow_check_size(const struct tf_model *in, const struct tf_model_config *c,
                       struct tf_error *err) {
  uint64_t n_in = tf_param_count(&in->cfg), n_out = tf_param_count(c);
  double block = ((double)n_in + (double)n_out) * sizeof(float);
  struct tf_mem_need need = {.params = block, .optimizer = in->train.present ? 2 * block : 0};
  char what[128];
  snprintf(what, sizeof what, "the grown model of %llu parameters beside the input's %llu",
           (unsigned long long)n_out, (unsigned long long)n_in);
  return tf_mem_check(&need, what, err);
}

int tf_model_grow(struct tf_model *out, const struct tf_model *in, const struct tf_grow_config *g,
                  const struct tf_init_config *ic, struct tf_grow_plan *plan,
                  struct tf_error *err) {
  struct tf_grow_plan p;
  memset(out, 0, sizeof *out);
  int rc = tf_grow_plan(&p, in, g, err);
  if (!rc && p.shrink)
    rc = tf_error_set(err, TF_EUSAGE, "a count below the model's is a shrink: tf_model_shrink");
  if (rc) return rc;
  struct tf_model_config c = in->cfg;
  memcpy(c.tokens, p.new_tokens, sizeof c.tokens);
  memcpy(c.ref_tokens, p.new_ref, sizeof c.ref_tokens);
  if ((rc = tf_grow_check_size(in, &c, err)) || (rc = tf_model_create(out, &c, err))) return rc;
  struct row_init ri;
  init_rows(&ri, &c, g, ic);
  for (int i = 0; i < in->n_tensors; i++) {
    copy_rows(out->params, &out->tensors[i], in->params, &in->tensors[i]);
    if (out->tensors[i].slot >= 0)
      fill_new_rows(out->params, &out->tensors[i], &in->tensors[i], &ri);
  }
  if ((rc = tf_grow_finish(out, in, g->keep_optimizer, err))) return rc;
  if (plan) *plan = p;
  return TF_OK;
}

int tf_grow_finish(struct tf_model *out, const struct tf_model *in, int keep,
                   struct tf_error *err) {
  int rc = copy_text(&out->history, in->history, err);
  if (!rc) rc = tf_model_set_tokenizer(out, in->tok, err);
  if (!rc) rc = carry_state(out, in, keep, err);
  tf_growth_record(out, in);
  if (rc) tf_model_free(out);
  return rc;
}

/* ---------------------------------------------------------------- shrink */

/* The counts of a shrink: as tf_grow_plan, none above the model's (all equal: the identity). */
static int shrink_plan(struct tf_grow_plan *p, const struct tf_model *in,
                       const struct tf_grow_config *g, struct tf_error *err) {
  memset(p, 0, sizeof *p);
  for (int k = 0; k < TF_NKINDS; k++) {
    int n = in->cfg.tokens[k], rc = new_count(g, k, n, &p->new_tokens[k], err);
    if (rc) return rc;
    if (p->new_tokens[k] > n)
      return tf_error_set(err, TF_EUSAGE,
                          "%s tokens: %d is more than the %d the model has; "
                          "a shrink does not grow",
                          tf_kind_name(k), p->new_tokens[k], n);
    p->old_tokens[k] = n;
    p->old_ref[k] = p->new_ref[k] = tf_model_config_ref_tokens(&in->cfg, k);
    p->shrink |= p->new_tokens[k] < n;
  }
  p->exact = !p->shrink;
  return TF_OK;
}

struct ranked {
  double imp;
  int idx;
};

/* Higher importance first; ties: the lower index. */
static int by_rank(const void *x, const void *y) {
  const struct ranked *a = x, *b = y;
  if (a->imp != b->imp) return a->imp > b->imp ? -1 : 1;
  return (a->idx > b->idx) - (a->idx < b->idx);
}

/* Marks in keep (n) the n2 tokens of highest importance; r is scratch for n. */
static void pick_tokens(const double *imp, int n, int n2, struct ranked *r, unsigned char *keep) {
  for (int j = 0; j < n; j++) r[j] = (struct ranked){imp[j], j};
  qsort(r, (size_t)n, sizeof *r, by_rank);
  memset(keep, 0, (size_t)n);
  for (int j = 0; j < n2; j++) keep[r[j].idx] = 1;
}

/* Copies the kept rows of Pattention tensor a into tensor b, in their order. */
static void copy_kept_rows(float *dst, const struct tf_tensor *b, const float *src,
                           const struct tf_tensor *a, const unsigned char *keep) {
  size_t d = (size_t)a->cols, r2 = 0;
  for (size_t r = 0; r < (size_t)a->rows; r++)
    if (keep[r]) memcpy(dst + b->offset + r2++ * d, src + a->offset + r * d, d * sizeof(float));
}

int tf_model_shrink(struct tf_model *out, const struct tf_model *in, const struct tf_grow_config *g,
                    const struct tf_token_scores *s, struct tf_grow_plan *plan,
                    struct tf_error *err) {
  struct tf_grow_plan p;
  memset(out, 0, sizeof *out);
  int rc = shrink_plan(&p, in, g, err);
  if (rc) return rc;
  struct tf_model_config c = in->cfg;
  memcpy(c.tokens, p.new_tokens, sizeof c.tokens);
  if ((rc = tf_grow_check_size(in, &c, err)) || (rc = tf_model_create(out, &c, err))) return rc;
  int n_max = 0;
  for (int k = 0; k < TF_NKINDS; k++) n_max = p.old_tokens[k] > n_max ? p.old_tokens[k] : n_max;
  unsigned char *keep = malloc((size_t)n_max);
  struct ranked *rank = malloc((size_t)n_max * sizeof *rank);
  if (!keep || !rank) {
    free(keep);
    free(rank);
    tf_model_free(out);
    return tf_error_set(err, TF_ENOMEM, "out of memory choosing the tokens to keep");
  }
  for (int i = 0; i < in->n_tensors; i++) {
    const struct tf_tensor *a = &in->tensors[i], *b = &out->tensors[i];
    if (a->slot < 0) {
      copy_rows(out->params, b, in->params, a);
      continue;
    }
    int k = tf_slot_kind((enum tf_slot)a->slot);
    pick_tokens(s->importance + s->offset[a->layer][a->slot], p.old_tokens[k], p.new_tokens[k],
                rank, keep);
    copy_kept_rows(out->params, b, in->params, a, keep);
  }
  free(keep);
  free(rank);
  if ((rc = tf_grow_finish(out, in, 0, err))) return rc;
  if (plan) *plan = p;
  return TF_OK;
}
