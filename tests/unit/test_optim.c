/* test_optim.c: AdamW against hand-computed values and with a gradient factor, the schedule at
 * chosen steps, clipping. */
#include <math.h>

#include "suite.h"
#include "tokenformer.h"
#include "model_internal.h"
#include "optim.h"

static const struct tf_adamw_hparams hp = {
    .beta1 = 0.9, .beta2 = 0.95, .eps = 1e-8, .weight_decay = 0.1};

/* Worked by hand (lr 0.1, wd 0.1, p0 = 1, g = 0.5 then -0.25):
 *   t=1: m = 0.05, v = 0.0125, m^ = 0.5, v^ = 0.25: p = 1 (0.99) - 0.1 (0.5 / (0.5 + 1e-8))
 *        = 0.890000002
 *   t=2: m = 0.02, v = 0.015, m^ = 0.02/0.19, v^ = 0.015/0.0975:
 *        p = 0.890000002 (0.99) - 0.1 m^ / (sqrt(v^) + 1e-8) = 0.85426305786
 * A float32 parameter carries 7 significant digits: tolerance 1e-6. The undecayed tensor
 * (second) sees the same moments without the 0.99 shrink. */
START_TEST(adamw_two_steps_match_hand_computed_values) {
  float p[2] = {1, 1}, g[2] = {0.5f, 0.5f};
  struct tf_tensor t[2] = {{.offset = 0, .numel = 1, .decay = 1},
                           {.offset = 1, .numel = 1, .decay = 0}};
  struct tf_adamw o;
  ck_assert_int_eq(tf_adamw_create(&o, 2, NULL), TF_OK);
  tf_adamw_step(&o, p, g, 1.0f, t, 2, 0.1, &hp);
  ck_assert_double_eq_tol(p[0], 0.890000002, 1e-6);
  ck_assert_double_eq_tol(p[1], 1 - 0.1 * 0.5 / (0.5 + 1e-8), 1e-6);
  g[0] = g[1] = -0.25f;
  tf_adamw_step(&o, p, g, 1.0f, t, 2, 0.1, &hp);
  ck_assert_double_eq_tol(p[0], 0.8542630578558273, 1e-6);
  ck_assert_int_eq(o.step, 2);
  tf_adamw_free(&o);
}
END_TEST

START_TEST(schedule_warmup_then_cosine) {
  struct tf_schedule s = {.lr = 1e-3, .min_lr = 1e-4, .warmup = 0.1, .steps = 111};
  ck_assert_int_eq(tf_warmup_steps(0.1, 111), 11); /* floor(11.1) */
  ck_assert_int_eq(tf_warmup_steps(25, 111), 25);  /* >= 1 is a step count */
  ck_assert_double_eq_tol(tf_lr_at(&s, 0), 1e-3 / 11, 1e-15);
  ck_assert_double_eq_tol(tf_lr_at(&s, 10), 1e-3, 1e-15);   /* end of warmup */
  ck_assert_double_eq_tol(tf_lr_at(&s, 11), 1e-3, 1e-15);   /* cosine starts at max */
  ck_assert_double_eq_tol(tf_lr_at(&s, 61), 5.5e-4, 1e-15); /* halfway: mean */
  ck_assert_double_eq_tol(tf_lr_at(&s, 111), 1e-4, 1e-15);  /* min_lr at the end */
  ck_assert_double_eq_tol(tf_lr_at(&s, 500), 1e-4, 1e-15);
  s.warmup = 0;
  ck_assert_double_eq_tol(tf_lr_at(&s, 0), 1e-3, 1e-15);
}
END_TEST

START_TEST(clipping_scales_to_the_limit_only_above_it) {
  float g[3] = {2, 3, 6};
  double norm = tf_grad_norm(g, 3);
  ck_assert_double_eq_tol(norm, 7, 1e-12);
  ck_assert_double_eq(tf_clip_factor(norm, 10), 1); /* below the limit: untouched */
  ck_assert_double_eq(tf_clip_factor(norm, 0), 1);  /* clip 0: off */
  ck_assert_double_eq_tol(norm * tf_clip_factor(norm, 1), 1, 1e-6);
  tf_grad_zero(g, 3);
  ck_assert(g[0] == 0 && g[1] == 0 && g[2] == 0);
}
END_TEST

/* The trainer hands AdamW the raw gradient sum and one factor (the mean over micro-batches
 * times the clipping factor): the update must be the one of the scaled gradient, on every
 * element of tensors larger than one thread's share. */
START_TEST(adamw_grad_scale_equals_a_scaled_gradient) {
  enum { N = 1000 };
  static float p1[N], p2[N], g[N], gs[N];
  struct tf_tensor t[2] = {{.offset = 0, .numel = 700, .decay = 1},
                           {.offset = 700, .numel = 300, .decay = 0}};
  for (int i = 0; i < N; i++) {
    p1[i] = p2[i] = 0.01f * (float)(i % 17) - 0.05f;
    g[i] = 0.3f * (float)(i % 11) - 1.2f;
    gs[i] = g[i] * 0.25f;
  }
  struct tf_adamw o1, o2;
  ck_assert_int_eq(tf_adamw_create(&o1, N, NULL), TF_OK);
  ck_assert_int_eq(tf_adamw_create(&o2, N, NULL), TF_OK);
  for (int step = 0; step < 3; step++) {
    tf_adamw_step(&o1, p1, g, 0.25f, t, 2, 0.01, &hp);
    tf_adamw_step(&o2, p2, gs, 1.0f, t, 2, 0.01, &hp);
  }
  /* 0.25 is a power of two: exact either way. The moments carry the scale (the update itself
   * barely depends on it: m / sqrt(v) is scale-free but for eps). */
  ck_assert_mem_eq(o1.m, o2.m, sizeof p1);
  ck_assert_mem_eq(o1.v, o2.v, sizeof p1);
  ck_assert_mem_eq(p1, p2, sizeof p1);
  tf_adamw_free(&o1);
  tf_adamw_free(&o2);
}
END_TEST

int main(void) {
  Suite *s = suite_create("optim");
  TCase *tc = tcase_create("optim");
  tcase_add_test(tc, adamw_two_steps_match_hand_computed_values);
  tcase_add_test(tc, schedule_warmup_then_cosine);
  tcase_add_test(tc, clipping_scales_to_the_limit_only_above_it);
  tcase_add_test(tc, adamw_grad_scale_equals_a_scaled_gradient);
  suite_add_tcase(s, tc);
  return tf_test_run(s);
}
