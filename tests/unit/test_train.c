/* test_train.c: tf_trainer_step (docs/model.md §5.1): gradient accumulation against one larger
 * batch, the counters and the schedule, clipping, a non-finite loss leaving the model as it
 * was, learning on a text with a pattern, determinism; tf_eval_windows (docs/data.md §4):
 * the windows, their sum against one forward per window, batch sizes, sampling. */
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

/* A text of ids below the tiny model's V = 64 with a pattern of period 9 (and a slow drift
 * every 13), long enough for thousands of distinct windows. */
static uint8_t text[4096];

static struct tf_corpus corpus(void) {
  for (size_t i = 0; i < sizeof text; i++) text[i] = (uint8_t)((i % 9) * 5 + (i / 13) % 3);
  return (struct tf_corpus){.ids = text, .dtype = TF_IDS_U8, .n = sizeof text, .path = "pattern"};
}

static void make_model(struct tf_model *m, uint64_t seed) {
  struct tf_model_config c = tf_test_tiny_config();
  struct tf_error err = {0};
  ck_assert_msg(tf_model_create(m, &c, &err) == TF_OK, "%s", err.msg);
  tf_model_init(m, &(struct tf_init_config){.seed = seed, .std = 0.02});
}

static struct tf_train_config train_config(int batch, int accum) {
  struct tf_config c;
  tf_config_default(&c);
  c.train.batch = batch;
  c.train.grad_accum = accum;
  c.train.steps = 100;
  c.train.lr = 1e-2;
  c.train.min_lr = 1e-3;
  c.train.warmup = 0.05; /* 5 steps */
  c.train.seed = 5;
  return c.train;
}

static void trainer(struct tf_trainer *t, struct tf_model *m, const struct tf_train_config *tc) {
  struct tf_error err = {0};
  ck_assert_msg(tf_trainer_init(t, m, tc, 0, 0, 1, &err) == TF_OK, "%s", err.msg);
}

static void step_ok(struct tf_trainer *t, const struct tf_corpus *c, struct tf_step_stats *st) {
  struct tf_error err = {0};
  ck_assert_msg(tf_trainer_step(t, c, NULL, st, &err) == TF_OK, "%s", err.msg);
}

static double max_abs(const float *x, size_t n) {
  double mx = 0;
  for (size_t i = 0; i < n; i++) mx = fmax(mx, fabs(x[i]));
  return mx;
}

/* Each micro-batch holds B T tokens, so the mean of A micro-batch gradients of B windows is the
 * gradient of one batch of A B windows, and the stream draws the same windows either way
 * (docs/data.md §3). The block keeps the sum of the micro-batch gradients: half of it for
 * A = 2. eps 1e-3 makes AdamW's first updates depend smoothly on the gradient (with eps
 * 1e-8 an element near 0 moves by +-lr on the sign of its rounding). */
START_TEST(two_micro_batches_of_b_equal_one_batch_of_2b) {
  struct tf_corpus c = corpus();
  struct tf_model a, b;
  struct tf_trainer ta, tb;
  make_model(&a, 7);
  make_model(&b, 7);
  struct tf_train_config ca = train_config(2, 2), cb = train_config(4, 1);
  ca.eps = cb.eps = 1e-3;
  trainer(&ta, &a, &ca);
  trainer(&tb, &b, &cb);
  for (int s = 0; s < 3; s++) {
    struct tf_step_stats sa, sb;
    step_ok(&ta, &c, &sa);
    step_ok(&tb, &c, &sb);
    ck_assert_int_eq(sa.tokens, sb.tokens);
    ck_assert_int_eq(sa.tokens, 4 * a.cfg.seq_len);
    ck_assert_msg(fabs(sa.loss - sb.loss) <= 1e-6 * sb.loss, "step %d: loss %.9g vs %.9g", s,
                  sa.loss, sb.loss);
    ck_assert_msg(fabs(sa.grad_norm - sb.grad_norm) <= 1e-5 * sb.grad_norm,
                  "step %d: gradient norm %.9g vs %.9g", s, sa.grad_norm, sb.grad_norm);
    double gmax = max_abs(tb.grads, b.n_params), worst = 0;
    for (size_t i = 0; i < b.n_params; i++)
      worst = fmax(worst, fabs(0.5 * ta.grads[i] - tb.grads[i]));
    ck_assert_msg(worst <= 1e-5 * gmax, "step %d: gradients differ by %g (largest %g)", s, worst,
                  gmax);
    for (size_t i = 0; i < b.n_params; i++)
      ck_assert_msg(fabs(a.params[i] - b.params[i]) <= 1e-6, "step %d: parameter %zu: %.9g vs %.9g",
                    s, i, a.params[i], b.params[i]);
    ck_assert_int_eq(memcmp(a.train.rng, b.train.rng, sizeof *a.train.rng), 0);
    ck_assert_int_eq(a.train.cursor[0], b.train.cursor[0]);
  }
  ck_assert_int_eq(a.train.cursor[0], 12);
  tf_trainer_release(&ta);
  tf_trainer_release(&tb);
  tf_model_free(&a);
  tf_model_free(&b);
}
END_TEST

/* A doubled gradient (an accumulation that forgot to average) would not pass the test above:
 * the same step with A = 2 and B = 2 against B = 2 alone must differ. */
START_TEST(accumulation_is_not_one_micro_batch) {
  struct tf_corpus c = corpus();
  struct tf_model a, b;
  struct tf_trainer ta, tb;
  make_model(&a, 7);
  make_model(&b, 7);
  struct tf_train_config ca = train_config(2, 2), cb = train_config(2, 1);
  trainer(&ta, &a, &ca);
  trainer(&tb, &b, &cb);
  struct tf_step_stats sa, sb;
  step_ok(&ta, &c, &sa);
  step_ok(&tb, &c, &sb);
  ck_assert_int_eq(sa.tokens, 2 * sb.tokens);
  ck_assert(sa.loss != sb.loss);
  ck_assert_int_ne(memcmp(a.params, b.params, a.n_params * sizeof(float)), 0);
  tf_trainer_release(&ta);
  tf_trainer_release(&tb);
  tf_model_free(&a);
  tf_model_free(&b);
}
END_TEST

/* Per step: the schedule's learning rate, A B T tokens; after N steps the stage and lifetime
 * steps, AdamW's count, tokens and FLOPs (3 forward FLOPs per token, docs/model.md §3.3). */
START_TEST(steps_count_tokens_flops_and_follow_the_schedule) {
  struct tf_corpus c = corpus();
  struct tf_model m;
  struct tf_trainer t;
  make_model(&m, 3);
  struct tf_train_config tc = train_config(3, 2);
  trainer(&t, &m, &tc);
  struct tf_schedule sched = {tc.lr, tc.min_lr, tc.warmup, tc.steps};
  int64_t per_step = 3 * 2 * (int64_t)m.cfg.seq_len;
  for (int s = 0; s < 8; s++) {
    struct tf_step_stats st;
    step_ok(&t, &c, &st);
    ck_assert_msg(st.lr == tf_lr_at(&sched, s), "step %d: lr %g, schedule %g", s, st.lr,
                  tf_lr_at(&sched, s));
    ck_assert_int_eq(st.tokens, per_step);
    ck_assert(isfinite(st.loss) && st.loss > 0);
    ck_assert(isfinite(st.grad_norm) && st.grad_norm > 0);
  }
  ck_assert_int_eq(m.train.step, 8);
  ck_assert_int_eq(m.train.lifetime_steps, 8);
  ck_assert_int_eq(m.train.opt->step, 8);
  ck_assert_int_eq(m.train.tokens, 8 * per_step);
  ck_assert_int_eq(m.train.cursor[0], 8 * 3 * 2);
  double flops = (double)m.train.tokens * 3 * tf_forward_flops_per_token(&m.cfg);
  ck_assert_msg(fabs(m.train.flops - flops) <= 1e-9 * flops, "%g vs %g", m.train.flops, flops);
  tf_trainer_release(&t);
  tf_model_free(&m);
}
END_TEST

/* The sum of |parameter change| of one step from the same start, with and without clipping
 * to a tenth of the gradient's norm. With AdamW's eps at 100 (far above every gradient
 * element) the first update is close to lr g / eps, so clipping to a tenth moves the
 * parameters about a tenth as far; the reported norm is the one before clipping. */
START_TEST(clipping_scales_the_gradient_of_the_update) {
  struct tf_corpus c = corpus();
  struct tf_model m0, a, b;
  struct tf_trainer ta, tb;
  make_model(&m0, 11);
  make_model(&a, 11);
  make_model(&b, 11);
  struct tf_train_config ca = train_config(4, 1);
  ca.eps = 100;
  ca.weight_decay = 0;
  ca.clip = 0;
  trainer(&ta, &a, &ca);
  struct tf_step_stats sa, sb;
  step_ok(&ta, &c, &sa);
  struct tf_train_config cb = ca;
  cb.clip = sa.grad_norm / 10;
  trainer(&tb, &b, &cb);
  step_ok(&tb, &c, &sb);
  ck_assert_msg(sb.grad_norm == sa.grad_norm, "%.9g vs %.9g", sb.grad_norm, sa.grad_norm);
  double da = 0, db = 0;
  for (size_t i = 0; i < m0.n_params; i++) {
    da += fabs(a.params[i] - m0.params[i]);
    db += fabs(b.params[i] - m0.params[i]);
  }
  ck_assert_msg(da > 0 && fabs(db / da - 0.1) < 0.005, "moved %g unclipped, %g clipped", da, db);
  tf_trainer_release(&ta);
  tf_trainer_release(&tb);
  tf_model_free(&m0);
  tf_model_free(&a);
  tf_model_free(&b);
}
END_TEST

/* A NaN parameter gives a NaN loss: the step is refused naming it, and neither the parameters
 * nor the counters move. */
START_TEST(non_finite_loss_leaves_the_model_as_it_was) {
  struct tf_corpus c = corpus();
  struct tf_model m;
  struct tf_trainer t;
  struct tf_error err = {0};
  make_model(&m, 3);
  struct tf_train_config tc = train_config(2, 1);
  trainer(&t, &m, &tc);
  m.w->layer[1][TF_SLOT_FFN].value[5] = NAN;
  float *before = malloc(m.n_params * sizeof(float));
  ck_assert_ptr_nonnull(before);
  memcpy(before, m.params, m.n_params * sizeof(float));
  struct tf_step_stats st;
  ck_assert_int_eq(tf_trainer_step(&t, &c, NULL, &st, &err), TF_EDATA);
  ck_assert_msg(strstr(err.msg, "step 1: loss is") != NULL, "%s", err.msg);
  ck_assert_int_eq(memcmp(before, m.params, m.n_params * sizeof(float)), 0);
  ck_assert_int_eq(m.train.step, 0);
  ck_assert_int_eq(m.train.opt->step, 0);
  ck_assert_int_eq(m.train.tokens, 0);
  free(before);
  tf_trainer_release(&t);
  tf_model_free(&m);
}
END_TEST

/* On a text with a period of 9 the loss falls well below its start within 60 steps; the same
 * seeds give the same bits. */
START_TEST(loss_falls_on_a_patterned_text_and_runs_repeat) {
  struct tf_corpus c = corpus();
  struct tf_model a, b;
  struct tf_trainer ta, tb;
  make_model(&a, 2);
  make_model(&b, 2);
  struct tf_train_config tc = train_config(4, 1);
  trainer(&ta, &a, &tc);
  trainer(&tb, &b, &tc);
  double first = 0, last = 0;
  for (int s = 0; s < 60; s++) {
    struct tf_step_stats sa, sb;
    step_ok(&ta, &c, &sa);
    step_ok(&tb, &c, &sb);
    ck_assert(sa.loss == sb.loss);
    if (s == 0) first = sa.loss;
    if (s >= 55) last += sa.loss / 5;
  }
  ck_assert_msg(last < 0.5 * first, "loss %g at first, %g over the last 5 steps", first, last);
  ck_assert_int_eq(memcmp(a.params, b.params, a.n_params * sizeof(float)), 0);
  tf_trainer_release(&ta);
  tf_trainer_release(&tb);
  tf_model_free(&a);
  tf_model_free(&b);
}
END_TEST

/* ---------------------------------------------------------------- tf_eval_windows */

/* The loss summed over the window of text[s .. s + len] alone (inputs s .. s + len - 1, each
 * scored on the next byte), one forward of one sequence. */
static double window_loss(const struct tf_model *m, struct tf_acts *acts, const uint8_t *t,
                          size_t s, int len) {
  int32_t in[64], tg[64];
  ck_assert_int_le(len, 64);
  for (int i = 0; i < len; i++) in[i] = t[s + i], tg[i] = t[s + i + 1];
  return (double)tf_net_forward(m, acts, in, tg, 1, len) * len;
}

/* tf_eval_windows with buffers for B windows of seq_len. */
static int eval_err(const struct tf_model *m, struct tf_acts *acts, int B,
                    const struct tf_corpus *c, size_t n, size_t max_windows,
                    struct tf_eval_result *r, struct tf_error *err) {
  size_t S = (size_t)m->cfg.seq_len;
  int32_t *buf = calloc(2 * (size_t)B * S, sizeof *buf);
  ck_assert_ptr_nonnull(buf);
  int rc = tf_eval_windows(m, acts, B, c, n, max_windows, buf, buf + (size_t)B * S, r, err);
  free(buf);
  return rc;
}

static int eval(const struct tf_model *m, struct tf_acts *acts, int B, const struct tf_corpus *c,
                size_t n, size_t max_windows, struct tf_eval_result *r) {
  struct tf_error err = {0};
  int rc = eval_err(m, acts, B, c, n, max_windows, r, &err);
  ck_assert_msg(rc == TF_OK, "%s", err.msg);
  return rc;
}

static void eval_model(struct tf_model *m, struct tf_acts *acts, int B) {
  struct tf_error err = {0};
  make_model(m, 4);
  ck_assert_msg(tf_acts_init(acts, &m->cfg, B, m->cfg.seq_len, &err) == TF_OK, "%s", err.msg);
}

/* Windows at 0, S, 2S, ... each scored on the bytes after its inputs, the last one shorter:
 * every byte but the first predicted once (docs/data.md §4). The sum against one forward per
 * window; the mean, perplexity and bits per byte from it (docs/data.md §5); the same figures
 * for any batch size. */
START_TEST(eval_scores_every_byte_but_the_first_once) {
  struct tf_corpus c = corpus();
  struct tf_model m;
  struct tf_acts acts;
  eval_model(&m, &acts, 5);
  const size_t S = (size_t)m.cfg.seq_len, n = 3 * S + 5; /* 3 full windows and one of 4 */
  double want = 0;
  for (size_t s = 0; s < n - 1; s += S)
    want += window_loss(&m, &acts, text, s, (int)(n - 1 - s < S ? n - 1 - s : S));
  for (int B = 1; B <= 5; B += 2) {
    struct tf_eval_result r;
    ck_assert_int_eq(eval(&m, &acts, B, &c, n, 0, &r), TF_OK);
    ck_assert_int_eq(r.tokens, (int64_t)n - 1);
    ck_assert_int_eq(r.bytes, r.tokens); /* byte tokens: one byte each */
    ck_assert_int_eq(r.windows, 4);
    ck_assert_msg(fabs(r.loss_sum - want) <= 1e-5 * want, "batch %d: %.9g, windows one by one %.9g",
                  B, r.loss_sum, want);
    ck_assert(r.loss == r.loss_sum / (double)r.tokens);
    ck_assert(fabs(r.perplexity - exp(r.loss)) <= 1e-12 * r.perplexity);
    ck_assert(fabs(r.bits_per_byte - r.loss / log(2.0)) <= 1e-12 * r.bits_per_byte);
  }
  tf_acts_release(&acts);
  tf_model_free(&m);
}
END_TEST

/* At most max_windows windows of the same grid: every k-th from the first, k = windows /
 * max_windows, so the sample spans the text; max_windows at or above the count takes all. */
START_TEST(eval_max_windows_takes_every_kth_window) {
  struct tf_corpus c = corpus();
  struct tf_model m;
  struct tf_acts acts;
  eval_model(&m, &acts, 3);
  const size_t S = (size_t)m.cfg.seq_len, n = 20 * S + 1; /* 20 full windows */
  static const struct {
    size_t max, k, count;
  } cases[] = {{5, 4, 5}, {6, 3, 6}, {7, 2, 7}, {20, 1, 20}, {100, 1, 20}};
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    double want = 0;
    for (size_t w = 0; w < cases[i].count; w++)
      want += window_loss(&m, &acts, text, w * cases[i].k * S, (int)S);
    struct tf_eval_result r;
    ck_assert_int_eq(eval(&m, &acts, 3, &c, n, cases[i].max, &r), TF_OK);
    ck_assert_int_eq(r.windows, (int64_t)cases[i].count);
    ck_assert_int_eq(r.tokens, (int64_t)(cases[i].count * S));
    ck_assert_msg(fabs(r.loss_sum - want) <= 1e-5 * want, "max %zu: %.9g, expected %.9g",
                  cases[i].max, r.loss_sum, want);
  }
  tf_acts_release(&acts);
  tf_model_free(&m);
}
END_TEST

/* A model that gives a NaN loss is TF_EDATA, not a number. */
START_TEST(eval_non_finite_loss_is_an_error) {
  struct tf_corpus c = corpus();
  struct tf_model m;
  struct tf_acts acts;
  eval_model(&m, &acts, 2);
  m.w->embed[3] = NAN;
  struct tf_eval_result r;
  struct tf_error err = {0};
  ck_assert_int_eq(eval_err(&m, &acts, 2, &c, 100, 0, &r, &err), TF_EDATA);
  ck_assert_int_eq(err.code, TF_EDATA);
  ck_assert_msg(strstr(err.msg, "evaluation loss is not finite") &&
                    strncmp(err.msg, c.path, strlen(c.path)) == 0,
                "%s", err.msg);
  tf_acts_release(&acts);
  tf_model_free(&m);
}
END_TEST

static Suite *train_suite(void) {
  Suite *s = suite_create("train");
  TCase *t = tcase_create("trainer_step");
  tcase_add_test(t, two_micro_batches_of_b_equal_one_batch_of_2b);
  tcase_add_test(t, accumulation_is_not_one_micro_batch);
  tcase_add_test(t, steps_count_tokens_flops_and_follow_the_schedule);
  tcase_add_test(t, clipping_scales_the_gradient_of_the_update);
  tcase_add_test(t, non_finite_loss_leaves_the_model_as_it_was);
  tcase_add_test(t, loss_falls_on_a_patterned_text_and_runs_repeat);
  suite_add_tcase(s, t);
  TCase *e = tcase_create("eval_windows");
  tcase_add_test(e, eval_scores_every_byte_but_the_first_once);
  tcase_add_test(e, eval_max_windows_takes_every_kth_window);
  tcase_add_test(e, eval_non_finite_loss_is_an_error);
  suite_add_tcase(s, e);
  return s;
}

int main(void) {
  return tf_test_run(train_suite());
}
