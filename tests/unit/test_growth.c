/* test_growth.c: growth as an experiment (docs/model.md §6.6-§6.7). A frozen stage
 * (train.freeze old_tokens) leaves the old rows and the embedding bitwise unchanged, moves the
 * new ones and counts full FLOPs; train.lr_from_previous sets the peak from the growth record
 * and round-trips through the checkpoint; shrinking by 0 is the identity, shrinking keeps the
 * most important tokens, and exact growth back restores the shrunk model's function. */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "suite.h"
#include "tokenformer.h"
#include "model_internal.h"
#include "net.h"
#include "optim.h"
#include "train_internal.h"

static uint8_t text[4096];

/* Ids below V = 64 with a pattern of period 9 (as test_train's). */
static struct tf_corpus corpus(void) {
  for (size_t i = 0; i < sizeof text; i++) text[i] = (uint8_t)((i % 9) * 5 + (i / 13) % 3);
  return (struct tf_corpus){.ids = text, .dtype = TF_IDS_U8, .n = sizeof text, .path = "pattern"};
}

static struct tf_train_config train_config(void) {
  struct tf_config c;
  tf_config_default(&c);
  c.train.batch = 2;
  c.train.steps = 20;
  c.train.lr = 1e-2;
  c.train.min_lr = 1e-3;
  c.train.warmup = 2;
  c.train.seed = 5;
  return c.train;
}

/* Trains m for `steps` steps of tc. */
static void train(struct tf_model *m, const struct tf_train_config *tc, int steps) {
  struct tf_corpus c = corpus();
  struct tf_trainer t;
  struct tf_step_stats st;
  struct tf_error err = {0};
  ck_assert_msg(!tf_trainer_init(&t, m, tc, 0, 0, 1, &err), "%s", err.msg);
  for (int i = 0; i < steps; i++)
    ck_assert_msg(!tf_trainer_step(&t, &c, NULL, &st, &err), "%s", err.msg);
  tf_trainer_release(&t);
}

/* A tiny model trained 6 of 20 steps, grown by exact init by (qkv, proj, ffn). */
static void trained_and_grown(struct tf_model *m, struct tf_model *g2, int qkv, int proj, int ffn) {
  struct tf_model_config cfg = tf_test_tiny_config();
  struct tf_error err = {0};
  ck_assert_msg(!tf_model_create(m, &cfg, &err), "%s", err.msg);
  tf_model_init(m, &(struct tf_init_config){.seed = 3, .std = 0.02});
  struct tf_train_config tc = train_config();
  train(m, &tc, 6);
  struct tf_grow_config g = {.tokens = {qkv, proj, ffn}, .relative = {1, 1, 1}, .seed = 9};
  ck_assert_msg(!tf_model_grow(g2, m, &g, NULL, NULL, &err), "%s", err.msg);
}

START_TEST(growth_record_is_kept) {
  struct tf_model m, g2;
  trained_and_grown(&m, &g2, 4, 0, 8);
  ck_assert(g2.growth.present);
  for (int k = 0; k < TF_NKINDS; k++) ck_assert_int_eq(g2.growth.old_tokens[k], m.cfg.tokens[k]);
  struct tf_schedule s = {1e-2, 1e-3, 2, 20};
  ck_assert(g2.growth.has_final_lr);
  ck_assert(g2.growth.final_lr == tf_lr_at(&s, 5)); /* the lr of the 6th step */
  tf_model_free(&g2);
  tf_model_free(&m);
}
END_TEST

/* The frozen stage: embedding, norms and old rows bitwise as before; every Pattention tensor
 * of a kind that grew has new rows that moved; the FLOPs are those of an unfrozen stage. */
START_TEST(frozen_stage_moves_only_new_rows) {
  struct tf_model m, g2, g3;
  struct tf_error err = {0};
  trained_and_grown(&m, &g2, 0, 3, 8);
  ck_assert_msg(!tf_model_grow(
                    &g3, &m,
                    &(struct tf_grow_config){.tokens = {0, 3, 8}, .relative = {1, 1, 1}, .seed = 9},
                    NULL, NULL, &err),
                "%s", err.msg);
  float *before = malloc(g2.n_params * sizeof(float));
  ck_assert(before);
  memcpy(before, g2.params, g2.n_params * sizeof(float));
  struct tf_train_config tc = train_config();
  tc.freeze = TF_FREEZE_OLD_TOKENS;
  train(&g2, &tc, 4);
  tc.freeze = TF_FREEZE_NONE;
  train(&g3, &tc, 4);
  for (int i = 0; i < g2.n_tensors; i++) {
    const struct tf_tensor *t = &g2.tensors[i];
    int64_t old = t->slot < 0 ? t->rows : g2.growth.old_tokens[tf_slot_kind(t->slot)];
    size_t n_old = (size_t)old * (size_t)(t->cols ? t->cols : 1);
    ck_assert_msg(!memcmp(g2.params + t->offset, before + t->offset, n_old * sizeof(float)),
                  "%s: a frozen element moved", t->name);
    if (n_old == t->numel) continue;
    int moved = 0;
    for (size_t j = n_old; j < t->numel; j++)
      moved += g2.params[t->offset + j] != before[t->offset + j];
    ck_assert_msg(moved > 0, "%s: no new element moved", t->name);
  }
  ck_assert(g2.train.flops == g3.train.flops);
  free(before);
  tf_model_free(&g3);
  tf_model_free(&g2);
  tf_model_free(&m);
}
END_TEST

START_TEST(freeze_needs_a_record_and_new_rows) {
  struct tf_model m, g2;
  struct tf_trainer t;
  struct tf_error err = {0};
  trained_and_grown(&m, &g2, 0, 0, 8);
  struct tf_train_config tc = train_config();
  tc.freeze = TF_FREEZE_OLD_TOKENS;
  ck_assert_int_eq(tf_trainer_init(&t, &m, &tc, 0, 0, 1, &err), TF_ECONFIG);
  ck_assert_msg(strstr(err.msg, "no growth record"), "%s", err.msg);
  g2.growth.old_tokens[TF_KIND_FFN] = g2.cfg.tokens[TF_KIND_FFN];
  ck_assert_int_eq(tf_trainer_init(&t, &g2, &tc, 0, 0, 1, &err), TF_ECONFIG);
  ck_assert_msg(strstr(err.msg, "nothing to train"), "%s", err.msg);
  tf_model_free(&g2);
  tf_model_free(&m);
}
END_TEST

/* lr_from_previous: the peak is the factor times the previous final lr; the stage's schedule
 * saved and loaded holds it, a resume with another factor is refused, and a model without a
 * record refuses the key. */
START_TEST(lr_from_previous_round_trips) {
  struct tf_model m, g2, back;
  struct tf_error err = {0};
  trained_and_grown(&m, &g2, 4, 0, 0);
  struct tf_train_config tc = train_config();
  tc.lr_from_previous = 0.5;
  tc.warmup = 0;
  double lr;
  ck_assert(!tf_train_peak_lr(&g2, &tc, &lr, &err));
  ck_assert(lr == 0.5 * g2.growth.final_lr);
  train(&g2, &tc, 2);
  ck_assert(g2.train.stage_lr == lr);
  char path[256];
  tf_test_tmp_path(path, sizeof path, "lrprev.tfz");
  ck_assert_msg(!tf_model_save(&g2, path, TF_COMPRESS_NONE, &err), "%s", err.msg);
  ck_assert_msg(!tf_model_load(&back, path, &err), "%s", err.msg);
  ck_assert(back.train.stage_lr == lr && back.train.stage_lr_from_previous == 0.5);
  ck_assert(back.growth.present && back.growth.final_lr == g2.growth.final_lr);
  ck_assert(!tf_trainer_check_schedule(&back, &tc, 0, &err));
  tc.lr_from_previous = 0.25;
  ck_assert_int_eq(tf_trainer_check_schedule(&back, &tc, 0, &err), TF_EUSAGE);
  ck_assert_msg(strstr(err.msg, "lr_from_previous"), "%s", err.msg);
  ck_assert_int_eq(tf_train_peak_lr(&m, &tc, &lr, &err), TF_ECONFIG);
  remove(path);
  tf_model_free(&back);
  tf_model_free(&g2);
  tf_model_free(&m);
}
END_TEST

/* The logits of a fixed batch of 2 x 8, malloc'd. */
static float *logits_of(const struct tf_model *m) {
  struct tf_acts a;
  struct tf_error err = {0};
  int32_t in[16];
  for (int i = 0; i < 16; i++) in[i] = (i * 7 + 3) % m->cfg.vocab_size;
  ck_assert_msg(!tf_acts_init(&a, &m->cfg, 2, 8, &err), "%s", err.msg);
  tf_net_forward(m, &a, in, NULL, 2, 8);
  size_t n = (size_t)16 * m->cfg.vocab_size;
  float *out = malloc(n * sizeof(float));
  ck_assert(out);
  memcpy(out, a.logits, n * sizeof(float));
  tf_acts_release(&a);
  return out;
}

static void measure(struct tf_token_scores *s, const struct tf_model *m) {
  struct tf_corpus c = corpus();
  struct tf_eval_result r;
  struct tf_error err = {0};
  ck_assert_msg(!tf_token_scores_measure(s, m, &c, 1024, 4, &r, &err), "%s", err.msg);
  ck_assert(s->positions == 1023 && r.tokens == 1023);
  size_t at = 0; /* the layout: each layer's Pattentions in slot order, n of its kind each */
  for (int l = 0; l < m->cfg.n_layers; l++)
    for (int slot = 0; slot < TF_NSLOTS; slot++) {
      ck_assert_uint_eq(s->offset[l][slot], at);
      at += (size_t)m->cfg.tokens[tf_slot_kind(slot)];
    }
}

START_TEST(shrink_by_zero_is_identity) {
  struct tf_model m, g2, s2;
  struct tf_token_scores s;
  struct tf_error err = {0};
  trained_and_grown(&m, &g2, 4, 2, 8);
  measure(&s, &g2);
  struct tf_grow_config g = {0};
  struct tf_grow_plan p;
  ck_assert_msg(!tf_model_shrink(&s2, &g2, &g, &s, &p, &err), "%s", err.msg);
  ck_assert(!p.shrink && p.exact);
  ck_assert_uint_eq(s2.n_params, g2.n_params);
  ck_assert(!memcmp(s2.params, g2.params, g2.n_params * sizeof(float)));
  tf_token_scores_free(&s);
  tf_model_free(&s2);
  tf_model_free(&g2);
  tf_model_free(&m);
}
END_TEST

/* Shrinking ffn by 8 keeps the 32 most important rows of each ffn Pattention, in order (checked
 * against the scores), leaves the other tensors as they were; exact growth by 8 gives back the
 * shrunk model's logits bitwise (zero keys add GELU(0) = 0 with n_ref kept). */
START_TEST(shrink_keeps_important_and_grows_back) {
  struct tf_model m, g2, s2, back;
  struct tf_token_scores s;
  struct tf_error err = {0};
  trained_and_grown(&m, &g2, 0, 0, 0 + 8);
  measure(&s, &g2);
  struct tf_grow_config g = {.tokens = {0, 0, 40}};
  ck_assert_msg(!tf_model_shrink(&s2, &g2, &g, &s, NULL, &err), "%s", err.msg);
  ck_assert_int_eq(s2.cfg.tokens[TF_KIND_FFN], 40);
  ck_assert_int_eq(s2.cfg.ref_tokens[TF_KIND_FFN], g2.cfg.ref_tokens[TF_KIND_FFN]); /* tau kept */
  const double *imp = s.importance + s.offset[1][TF_SLOT_FFN];
  const float *K = g2.w->layer[1][TF_SLOT_FFN].key, *K2 = s2.w->layer[1][TF_SLOT_FFN].key;
  int d = g2.cfg.d_model, r2 = 0;
  for (int j = 0; j < 48; j++) {
    int above = 0;
    for (int i = 0; i < 48; i++) above += imp[i] > imp[j] || (imp[i] == imp[j] && i < j);
    if (above >= 40) continue; /* dropped */
    ck_assert(!memcmp(K2 + r2 * d, K + j * d, (size_t)d * sizeof(float)));
    r2++;
  }
  ck_assert_int_eq(r2, 40);
  ck_assert(!memcmp(s2.w->embed, g2.w->embed, (size_t)64 * d * sizeof(float)));
  struct tf_grow_config up = {.tokens = {0, 0, 8}, .relative = {0, 0, 1}, .seed = 4};
  ck_assert_msg(!tf_model_grow(&back, &s2, &up, NULL, NULL, &err), "%s", err.msg);
  float *a = logits_of(&s2), *b = logits_of(&back);
  ck_assert(!memcmp(a, b, (size_t)16 * 64 * sizeof(float)));
  free(a);
  free(b);
  /* deterministic: the same scores give the same model */
  struct tf_model s3;
  struct tf_token_scores s_again;
  measure(&s_again, &g2);
  ck_assert(!memcmp(s_again.importance, s.importance, (s.offset[1][TF_SLOT_FFN] + 48) * 8));
  ck_assert_msg(!tf_model_shrink(&s3, &g2, &g, &s_again, NULL, &err), "%s", err.msg);
  ck_assert(!memcmp(s3.params, s2.params, s2.n_params * sizeof(float)));
  tf_token_scores_free(&s_again);
  tf_model_free(&s3);
  tf_token_scores_free(&s);
  tf_model_free(&back);
  tf_model_free(&s2);
  tf_model_free(&g2);
  tf_model_free(&m);
}
END_TEST

static Suite *growth_suite(void) {
  Suite *s = suite_create("growth");
  TCase *tc = tcase_create("growth");
  tcase_add_test(tc, growth_record_is_kept);
  tcase_add_test(tc, frozen_stage_moves_only_new_rows);
  tcase_add_test(tc, freeze_needs_a_record_and_new_rows);
  tcase_add_test(tc, lr_from_previous_round_trips);
  tcase_add_test(tc, shrink_by_zero_is_identity);
  tcase_add_test(tc, shrink_keeps_important_and_grows_back);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  return tf_test_run(growth_suite());
}
