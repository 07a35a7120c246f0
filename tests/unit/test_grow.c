/* test_grow.c: growth (lib/grow.c). Exact and duplicate growth keep the logits (each kind
 * alone and all at once, odd counts, n_ref equal to n or not); rescale and random change them;
 * gradients reach the new tokens; the training state carried into the next stage; refusals. */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "suite.h"
#include "tokenformer.h"
#include "model_internal.h"
#include "net.h"
#include "optim.h"
#include "rng.h"
#include "train_internal.h"

/* The model: V 32, d 16, L 2, H 2 (d_h 8, 4 RoPE channels), odd token counts 7/5/9, seq_len
 * 8; batches of 2 x 6 positions. */
#define V 32
#define B 2
#define T 6

static const enum tf_norm gelu_norms[] = {TF_NORM_L2_GELU, TF_NORM_GELU_L2};
static const enum tf_norm all_norms[] = {TF_NORM_L2_GELU, TF_NORM_GELU_L2, TF_NORM_SOFTMAX};

/* Parameters that make every term count (as tests/fixtures does): keys N(0, 1/d) put the
 * scores at order 1, values N(0, 0.2^2) make each Pattention matter, embedding N(0, 0.5^2)
 * gives logits of a few units, final norm weight 1 + N(0, 0.1^2) and bias N(0, 0.1^2). */
static void randomize(struct tf_model *m, uint64_t seed) {
  struct tf_rng rng;
  tf_rng_seed(&rng, seed);
  for (int i = 0; i < m->n_tensors; i++) {
    const struct tf_tensor *t = &m->tensors[i];
    int weight = strcmp(t->name, "final_norm.weight") == 0;
    double std = t->slot < 0 ? (t->decay ? 0.5 : 0.1) : t->is_key ? 1 / sqrt(t->cols) : 0.2;
    for (size_t j = 0; j < t->numel; j++)
      m->params[t->offset + j] = (float)(weight + std * tf_rng_normal(&rng));
  }
}

/* ref (may be NULL): n_ref per kind, as after an earlier exact growth. */
static void make_model(struct tf_model *m, enum tf_norm norm, const int *ref) {
  struct tf_model_config c = {.vocab_size = V,
                              .d_model = 16,
                              .n_layers = 2,
                              .n_heads = 2,
                              .seq_len = 8,
                              .tokens = {7, 5, 9},
                              .norm = norm,
                              .rotary_pct = 0.5,
                              .rotary_base = 10000};
  if (ref) memcpy(c.ref_tokens, ref, sizeof c.ref_tokens);
  struct tf_error err = {0};
  ck_assert_msg(!tf_model_create(m, &c, &err), "%s", err.msg);
  randomize(m, 7 + (uint64_t)norm);
}

static void fixed_batch(int32_t *in, int32_t *tgt) {
  for (int i = 0; i < B * T; i++) {
    in[i] = (i * 7 + 3) % V;
    tgt[i] = (i * 11 + 5) % V;
  }
}

/* The logits (B, T, V) of a fixed batch, in a malloc'd copy. */
static float *logits_of(const struct tf_model *m) {
  struct tf_acts a;
  struct tf_error err = {0};
  int32_t in[B * T], tgt[B * T];
  fixed_batch(in, tgt);
  ck_assert_msg(!tf_acts_init(&a, &m->cfg, B, T, &err), "%s", err.msg);
  tf_net_forward(m, &a, in, NULL, B, T);
  float *out = malloc(sizeof(float) * B * T * V);
  ck_assert(out);
  memcpy(out, a.logits, sizeof(float) * B * T * V);
  tf_acts_release(&a);
  return out;
}

/* max |b - a| / max |a| over the logits of two models. */
static double logit_change(const struct tf_model *a, const struct tf_model *b) {
  float *la = logits_of(a), *lb = logits_of(b);
  double diff = 0, scale = 1e-30;
  for (int i = 0; i < B * T * V; i++) {
    diff = fmax(diff, fabs((double)lb[i] - la[i]));
    scale = fmax(scale, fabs((double)la[i]));
  }
  free(la);
  free(lb);
  return diff / scale;
}

/* Growth by increments (0: that kind stays). */
static struct tf_grow_config grow_by(int qkv, int proj, int ffn, enum tf_grow_init init) {
  struct tf_grow_config g = {.tokens = {qkv, proj, ffn}, .init = init, .seed = 5};
  for (int k = 0; k < TF_NKINDS; k++) g.relative[k] = g.tokens[k] > 0;
  return g;
}

static void grow_ok(struct tf_model *out, const struct tf_model *in, const struct tf_grow_config *g,
                    struct tf_grow_plan *p) {
  struct tf_error err = {0};
  ck_assert_msg(!tf_model_grow(out, in, g, NULL, p, &err), "%s", err.msg);
}

/* Exact growth: each kind alone by an odd increment, then every kind to new absolute totals. */
static struct tf_grow_config exact_case(int i) {
  struct tf_grow_config g = grow_by(i == 0 ? 3 : 0, i == 1 ? 5 : 0, i == 2 ? 7 : 0, TF_GROW_EXACT);
  if (i == 3) g = (struct tf_grow_config){.tokens = {10, 12, 21}, .seed = 5};
  return g;
}

/* float32 rounding only: extra zero columns (or the rounded sqrt of n_ref and of the grown row
 * norms) change a few sums by ~1e-7 relative per operation through two layers; measured up to
 * 5.4e-7 (gelu_l2_norm, 2 threads). A changed function misses by more than 1e-2
 * (rescale_changes_logits). */
#define SAME_FUNCTION 1e-6

START_TEST(exact_preserves_logits) {
  struct tf_model m, g2;
  struct tf_grow_plan p;
  make_model(&m, gelu_norms[_i / 4], NULL);
  struct tf_grow_config g = exact_case(_i % 4);
  grow_ok(&g2, &m, &g, &p);
  double e = logit_change(&m, &g2);
  ck_assert_msg(e <= SAME_FUNCTION, "norm %d case %d: logits change by %.3g", _i / 4, _i % 4, e);
  ck_assert(p.exact);
  for (int k = 0; k < TF_NKINDS; k++) {
    ck_assert_int_eq(g2.cfg.tokens[k], p.new_tokens[k]);
    ck_assert_int_eq(g2.cfg.ref_tokens[k], m.cfg.tokens[k]); /* tau stays sqrt(old n) */
  }
  tf_model_free(&g2);
  tf_model_free(&m);
}
END_TEST

/* Twice in a row: the second growth starts from n_ref != n and still keeps the function. */
START_TEST(exact_twice_preserves_logits) {
  struct tf_model m, g1, g2;
  make_model(&m, gelu_norms[_i], NULL);
  struct tf_grow_config a = grow_by(3, 5, 7, TF_GROW_EXACT), b = grow_by(9, 1, 11, TF_GROW_EXACT);
  grow_ok(&g1, &m, &a, NULL);
  randomize(&g1, 99); /* as if trained: every key non-zero, n_ref 7/5/9 against 10/10/16 */
  grow_ok(&g2, &g1, &b, NULL);
  double e = logit_change(&g1, &g2);
  ck_assert_msg(e <= SAME_FUNCTION, "norm %d: logits change by %.3g", _i, e);
  ck_assert_int_eq(g2.cfg.ref_tokens[TF_KIND_FFN], 9);
  tf_model_free(&g2);
  tf_model_free(&g1);
  tf_model_free(&m);
}
END_TEST

/* Duplicate: multiples of 7/5/9, alone then together. */
static struct tf_grow_config duplicate_case(int i) {
  static const int inc[4][3] = {{7, 0, 0}, {0, 10, 0}, {0, 0, 9}, {14, 5, 27}};
  return grow_by(inc[i][0], inc[i][1], inc[i][2], TF_GROW_DUPLICATE);
}

START_TEST(duplicate_preserves_logits) {
  struct tf_model m, g2;
  struct tf_grow_plan p;
  make_model(&m, all_norms[_i / 4], NULL);
  struct tf_grow_config g = duplicate_case(_i % 4);
  grow_ok(&g2, &m, &g, &p);
  double e = logit_change(&m, &g2);
  ck_assert_msg(e <= SAME_FUNCTION, "norm %d case %d: logits change by %.3g", _i / 4, _i % 4, e);
  ck_assert(p.exact);
  for (int k = 0; k < TF_NKINDS; k++) /* n_ref = n + m when it was n */
    ck_assert_int_eq(g2.cfg.ref_tokens[k], g2.cfg.tokens[k]);
  tf_model_free(&g2);
  tf_model_free(&m);
}
END_TEST

/* n_ref != n before (an earlier exact growth): n_ref must grow by (n + m) / n, not become
 * n + m, for Z = sqrt(n_ref) A / |A| to stay. */
START_TEST(duplicate_with_ref_unlike_n_preserves_logits) {
  static const int ref[TF_NKINDS] = {4, 3, 6};
  struct tf_model m, g2;
  make_model(&m, all_norms[_i], ref);
  struct tf_grow_config g = grow_by(14, 5, 9, TF_GROW_DUPLICATE); /* x3, x2, x2 */
  grow_ok(&g2, &m, &g, NULL);
  double e = logit_change(&m, &g2);
  ck_assert_msg(e <= SAME_FUNCTION, "norm %d: logits change by %.3g", _i, e);
  ck_assert_int_eq(g2.cfg.ref_tokens[TF_KIND_QKV], 12);
  ck_assert_int_eq(g2.cfg.ref_tokens[TF_KIND_PROJ], 6);
  ck_assert_int_eq(g2.cfg.ref_tokens[TF_KIND_FFN], 12);
  tf_model_free(&g2);
  tf_model_free(&m);
}
END_TEST

/* tau = sqrt(new n) scales every pre-activation by sqrt((n+m)/n) = 1.2 to 1.5 here: the logits
 * move by 0.22 (l2_norm_gelu) and 0.37 (gelu_l2_norm) of the largest (measured); 1e-2 is far
 * above rounding. */
START_TEST(rescale_changes_logits) {
  struct tf_model m, g2;
  struct tf_grow_plan p;
  make_model(&m, gelu_norms[_i], NULL);
  struct tf_grow_config g = grow_by(3, 5, 7, TF_GROW_EXACT);
  g.rescale = 1;
  grow_ok(&g2, &m, &g, &p);
  double e = logit_change(&m, &g2);
  ck_assert_msg(e > 1e-2, "norm %d: logits change by only %.3g", _i, e);
  ck_assert(!p.exact);
  for (int k = 0; k < TF_NKINDS; k++) ck_assert_int_eq(g2.cfg.ref_tokens[k], g2.cfg.tokens[k]);
  tf_model_free(&g2);
  tf_model_free(&m);
}
END_TEST

/* Random new keys N(0, 0.02) change every row norm, and the new tokens add outputs through
 * values N(0, 2/(L sqrt d)) = N(0, 0.25^2) here: measured 0.09 to 1.1 of the largest logit;
 * 1e-2 is far above rounding. Softmax models may grow this way. */
START_TEST(random_changes_logits) {
  struct tf_model m, g2;
  struct tf_grow_plan p;
  make_model(&m, all_norms[_i], NULL);
  struct tf_grow_config g = grow_by(3, 5, 7, TF_GROW_RANDOM);
  grow_ok(&g2, &m, &g, &p);
  double e = logit_change(&m, &g2);
  ck_assert_msg(e > 1e-2, "norm %d: logits change by only %.3g", _i, e);
  ck_assert(!p.exact);
  ck_assert_int_eq(g2.cfg.ref_tokens[TF_KIND_QKV], 7);
  tf_model_free(&g2);
  tf_model_free(&m);
}
END_TEST

START_TEST(softmax_exact_is_refused) {
  struct tf_model m, g2;
  struct tf_error err = {0};
  make_model(&m, TF_NORM_SOFTMAX, NULL);
  struct tf_grow_config g = grow_by(3, 0, 0, TF_GROW_EXACT);
  ck_assert_int_eq(tf_model_grow(&g2, &m, &g, NULL, NULL, &err), TF_EUSAGE);
  ck_assert_msg(strstr(err.msg, "softmax") && strstr(err.msg, "duplicate"), "%s", err.msg);
  tf_model_free(&m);
}
END_TEST

/* The gradient of the mean loss of the fixed batch, in a calloc'd block. */
static float *gradient_of(const struct tf_model *m) {
  struct tf_acts a;
  struct tf_view gv;
  struct tf_error err = {0};
  int32_t in[B * T], tgt[B * T];
  fixed_batch(in, tgt);
  float *g = calloc(m->n_params, sizeof(float));
  ck_assert(g);
  ck_assert_msg(!tf_acts_init(&a, &m->cfg, B, T, &err), "%s", err.msg);
  ck_assert_int_eq(tf_view_point(&gv, g, &m->cfg, NULL), TF_OK);
  tf_net_forward(m, &a, in, tgt, B, T);
  tf_net_backward(m, &a, &gv);
  tf_view_free(&gv);
  tf_acts_release(&a);
  return g;
}

/* Counts the new rows (those from row `from` on) of Pattention tensors with is_key == key
 * whose gradient is entirely zero, and returns how many new rows there are in *rows. */
static int zero_new_rows(const struct tf_model *m, const float *grad, const struct tf_model *old,
                         int key, int *rows) {
  int zero = 0;
  *rows = 0;
  for (int i = 0; i < m->n_tensors; i++) {
    const struct tf_tensor *t = &m->tensors[i];
    if (t->slot < 0 || t->is_key != key) continue;
    for (int64_t r = old->tensors[i].rows; r < t->rows; r++) {
      const float *g = grad + t->offset + (size_t)r * (size_t)t->cols;
      int64_t j = 0;
      while (j < t->cols && g[j] == 0.0f) j++;
      zero += j == t->cols;
      ++*rows;
    }
  }
  return zero;
}

/* docs/model.md §6.4: zero new keys get a gradient at once, their values from step 2 on. */
START_TEST(gradients_reach_new_tokens) {
  struct tf_model m, g2;
  struct tf_error err = {0};
  make_model(&m, gelu_norms[_i], NULL);
  struct tf_grow_config g = grow_by(3, 5, 7, TF_GROW_EXACT);
  grow_ok(&g2, &m, &g, NULL);
  float *grad = gradient_of(&g2);
  int rows;
  ck_assert_int_eq(zero_new_rows(&g2, grad, &m, 1, &rows), 0);
  ck_assert_int_eq(rows, 2 * (3 * 3 + 5 + 7));
  ck_assert_int_eq(zero_new_rows(&g2, grad, &m, 0, &rows), rows); /* GELU(0) = 0 */
  struct tf_adamw opt;
  struct tf_adamw_hparams h = {0.9, 0.95, 1e-8, 0.1};
  ck_assert(!tf_adamw_create(&opt, g2.n_params, &err));
  tf_adamw_step(&opt, g2.params, grad, 1.0f, g2.tensors, g2.n_tensors, 1e-2, &h);
  free(grad);
  grad = gradient_of(&g2);
  ck_assert_int_eq(zero_new_rows(&g2, grad, &m, 0, &rows), 0);
  tf_adamw_free(&opt);
  free(grad);
  tf_model_free(&g2);
  tf_model_free(&m);
}
END_TEST

/* Duplicated keys give the new (zero) values a gradient at the first step. */
START_TEST(duplicate_values_get_gradients_at_once) {
  struct tf_model m, g2;
  make_model(&m, all_norms[_i], NULL);
  struct tf_grow_config g = grow_by(7, 5, 9, TF_GROW_DUPLICATE);
  grow_ok(&g2, &m, &g, NULL);
  float *grad = gradient_of(&g2);
  int rows;
  ck_assert_int_eq(zero_new_rows(&g2, grad, &m, 0, &rows), 0);
  free(grad);
  tf_model_free(&g2);
  tf_model_free(&m);
}
END_TEST

/* A trained model's state: moments of known values, counters, a data stream. */
static void add_train_state(struct tf_model *m) {
  struct tf_train_state *s = &m->train;
  struct tf_error err = {0};
  ck_assert(!tf_adamw_create(s->opt, m->n_params, &err));
  for (size_t i = 0; i < m->n_params; i++) {
    s->opt->m[i] = 1.0f + (float)(i % 13);
    s->opt->v[i] = 2.0f + (float)(i % 7);
  }
  s->present = 1;
  s->opt->step = 7;
  s->step = 12;
  s->lifetime_steps = 30;
  s->tokens = 1000;
  s->flops = 5e6;
  ck_assert(!tf_train_state_set_ranks(s, 1, &err));
  s->cursor[0] = 48;
  tf_rng_seed(s->rng, 3);
}

static void assert_state_carried(const struct tf_model *g2, const struct tf_model *m) {
  const struct tf_train_state *a = &m->train, *b = &g2->train;
  ck_assert(b->present);
  ck_assert_int_eq(b->step, 0); /* a new stage */
  ck_assert_int_eq(b->lifetime_steps, a->lifetime_steps);
  ck_assert_int_eq(b->tokens, a->tokens);
  ck_assert(b->flops == a->flops);
  ck_assert_int_eq(b->cursor[0], a->cursor[0]);
  ck_assert_mem_eq(b->rng, a->rng, sizeof *a->rng);
  ck_assert_uint_eq(b->opt->n, g2->n_params);
}

START_TEST(keep_optimizer_extends_moments) {
  struct tf_model m, g2;
  make_model(&m, TF_NORM_L2_GELU, NULL);
  add_train_state(&m);
  struct tf_grow_config g = grow_by(3, 5, 7, TF_GROW_EXACT);
  g.keep_optimizer = 1;
  grow_ok(&g2, &m, &g, NULL);
  assert_state_carried(&g2, &m);
  ck_assert_int_eq(g2.train.opt->step, 7); /* bias correction goes on */
  for (int i = 0; i < m.n_tensors; i++) {
    const struct tf_tensor *a = &m.tensors[i], *b = &g2.tensors[i];
    ck_assert_mem_eq(g2.train.opt->m + b->offset, m.train.opt->m + a->offset,
                     a->numel * sizeof(float));
    ck_assert_mem_eq(g2.train.opt->v + b->offset, m.train.opt->v + a->offset,
                     a->numel * sizeof(float));
    for (size_t j = a->numel; j < b->numel; j++)
      ck_assert(g2.train.opt->m[b->offset + j] == 0 && g2.train.opt->v[b->offset + j] == 0);
  }
  tf_model_free(&g2);
  tf_model_free(&m);
}
END_TEST

START_TEST(default_resets_moments) {
  struct tf_model m, g2;
  make_model(&m, TF_NORM_L2_GELU, NULL);
  add_train_state(&m);
  struct tf_grow_config g = grow_by(0, 0, 7, TF_GROW_EXACT);
  grow_ok(&g2, &m, &g, NULL);
  assert_state_carried(&g2, &m);
  ck_assert_int_eq(g2.train.opt->step, 0); /* zero moments at step 0: a fresh AdamW */
  for (size_t i = 0; i < g2.n_params; i++)
    ck_assert(g2.train.opt->m[i] == 0 && g2.train.opt->v[i] == 0);
  tf_model_free(&g2);
  tf_model_free(&m);
}
END_TEST

/* tf_trainer_create continues a stored stage: the grown model's moments and optimizer step
 * are used as they are, not replaced by fresh ones. */
START_TEST(trainer_continues_with_kept_moments) {
  struct tf_model m, g2;
  struct tf_config c;
  struct tf_trainer t;
  struct tf_error err = {0};
  make_model(&m, TF_NORM_L2_GELU, NULL);
  add_train_state(&m);
  struct tf_grow_config g = grow_by(3, 0, 0, TF_GROW_EXACT);
  g.keep_optimizer = 1;
  grow_ok(&g2, &m, &g, NULL);
  tf_config_default(&c);
  c.train.batch = 2;
  const float *moments = g2.train.opt->m;
  ck_assert_msg(!tf_trainer_init(&t, &g2, &c.train, 0, 0, 1, &err), "%s", err.msg);
  ck_assert_ptr_eq(g2.train.opt->m, moments);
  ck_assert_int_eq(g2.train.opt->step, 7);
  ck_assert_int_eq(g2.train.step, 0);
  ck_assert(g2.train.opt->m[0] == m.train.opt->m[0]);
  tf_trainer_release(&t);
  tf_model_free(&g2);
  tf_model_free(&m);
}
END_TEST

START_TEST(untrained_model_stays_without_state) {
  struct tf_model m, g2;
  make_model(&m, TF_NORM_L2_GELU, NULL);
  tf_model_add_history(&m, "tf-init", "{\"seed\": 1}", NULL);
  struct tf_grow_config g = grow_by(1, 0, 0, TF_GROW_RANDOM);
  g.keep_optimizer = 1; /* nothing to keep */
  grow_ok(&g2, &m, &g, NULL);
  ck_assert(!g2.train.present);
  ck_assert_ptr_null(g2.train.opt->m);
  ck_assert_str_eq(g2.history, m.history);
  ck_assert_str_eq(tf_tokenizer_kind_name(g2.tok), "bytes");
  tf_model_free(&g2);
  tf_model_free(&m);
}
END_TEST

/* The new rows: exact keys zero and values N(0, 2/(L sqrt d)); duplicate keys copies, values
 * zero; old rows bit for bit; the same seed gives the same bytes, another seed others. */
START_TEST(new_rows_are_as_specified) {
  struct tf_model m, a, b, c2, d2;
  make_model(&m, TF_NORM_L2_GELU, NULL);
  struct tf_grow_config g = grow_by(14, 0, 0, TF_GROW_EXACT);
  grow_ok(&a, &m, &g, NULL);
  grow_ok(&b, &m, &g, NULL);
  ck_assert_mem_eq(a.params, b.params, a.n_params * sizeof(float));
  g.seed = 6;
  grow_ok(&c2, &m, &g, NULL);
  ck_assert(memcmp(a.params, c2.params, a.n_params * sizeof(float)) != 0);
  g.init = TF_GROW_DUPLICATE;
  grow_ok(&d2, &m, &g, NULL);
  const float *k = a.w->layer[1][TF_SLOT_V].key, *v = a.w->layer[1][TF_SLOT_V].value;
  const float *dk = d2.w->layer[1][TF_SLOT_V].key, *dv = d2.w->layer[1][TF_SLOT_V].value;
  const float *ok = m.w->layer[1][TF_SLOT_V].key;
  int d = 16;
  ck_assert_mem_eq(k, ok, 7 * d * sizeof(float));
  double sq = 0;
  for (int j = 7 * d; j < 21 * d; j++) {
    ck_assert(k[j] == 0 && dv[j] == 0);
    ck_assert(dk[j] == ok[j % (7 * d)]);
    sq += (double)v[j] * v[j];
  }
  /* 224 draws of N(0, 0.25^2), 2 / (L sqrt d): the sample std is within 15% (3 standard
   * errors of 1 / sqrt(2 * 224)) */
  double std = sqrt(sq / (14 * d)), want = 2 / (2 * sqrt(16));
  ck_assert_msg(fabs(std / want - 1) < 0.15, "value std %.4f, expected %.4f", std, want);
  ck_assert_mem_eq(a.w->embed, m.w->embed, V * d * sizeof(float));
  ck_assert_mem_eq(a.w->final_norm_bias, m.w->final_norm_bias, d * sizeof(float));
  tf_model_free(&d2);
  tf_model_free(&c2);
  tf_model_free(&b);
  tf_model_free(&a);
  tf_model_free(&m);
}
END_TEST

/* Each refusal is TF_EUSAGE with its reason, and leaves out empty (freeing it is harmless). */
static void refused(const struct tf_model *m, const struct tf_grow_config *g, const char *why) {
  struct tf_model out;
  struct tf_error err = {0};
  ck_assert_int_eq(tf_model_grow(&out, m, g, NULL, NULL, &err), TF_EUSAGE);
  ck_assert_msg(strstr(err.msg, why), "expected \"%s\" in: %s", why, err.msg);
  ck_assert_ptr_null(out.params);
  tf_model_free(&out);
}

START_TEST(bad_growth_is_refused) {
  struct tf_model m, z;
  make_model(&m, TF_NORM_L2_GELU, NULL);
  struct tf_grow_config g = {.tokens = {6, 0, 0}};
  refused(&m, &g, "is a shrink");
  g = (struct tf_grow_config){.tokens = {7, 5, 9}};
  refused(&m, &g, "nothing to grow");
  g = grow_by(0, 0, 0, TF_GROW_EXACT);
  refused(&m, &g, "nothing to grow");
  g = grow_by(1 << 24, 0, 0, TF_GROW_EXACT);
  refused(&m, &g, "limit");
  g = grow_by(3, 0, 0, TF_GROW_DUPLICATE);
  refused(&m, &g, "not a multiple of its 7");
  g = grow_by(3, 0, 0, TF_GROW_EXACT);
  grow_ok(&z, &m, &g, NULL); /* 3 zero key rows per qkv Pattention */
  g = grow_by(10, 0, 0, TF_GROW_DUPLICATE);
  refused(&z, &g, "dead tokens");
  tf_model_free(&z);
  tf_model_free(&m);
}
END_TEST

static Suite *grow_suite(void) {
  Suite *s = suite_create("grow");
  TCase *tc = tcase_create("grow");
  tcase_add_loop_test(tc, exact_preserves_logits, 0, 8);
  tcase_add_loop_test(tc, exact_twice_preserves_logits, 0, 2);
  tcase_add_loop_test(tc, duplicate_preserves_logits, 0, 12);
  tcase_add_loop_test(tc, duplicate_with_ref_unlike_n_preserves_logits, 0, 3);
  tcase_add_loop_test(tc, rescale_changes_logits, 0, 2);
  tcase_add_loop_test(tc, random_changes_logits, 0, 3);
  tcase_add_test(tc, softmax_exact_is_refused);
  tcase_add_loop_test(tc, gradients_reach_new_tokens, 0, 2);
  tcase_add_loop_test(tc, duplicate_values_get_gradients_at_once, 0, 3);
  tcase_add_test(tc, keep_optimizer_extends_moments);
  tcase_add_test(tc, default_resets_moments);
  tcase_add_test(tc, trainer_continues_with_kept_moments);
  tcase_add_test(tc, untrained_model_stays_without_state);
  tcase_add_test(tc, new_rows_are_as_specified);
  tcase_add_test(tc, bad_growth_is_refused);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  return tf_test_run(grow_suite());
}
