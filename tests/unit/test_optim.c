/* test_optim.c: AdamW against hand-computed values, the schedule at chosen steps, clipping. */
#include <math.h>

#include "suite.h"
#include "tokenformer.h"

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
  tf_adamw_step(&o, p, g, t, 2, 0.1, &hp);
  ck_assert_double_eq_tol(p[0], 0.890000002, 1e-6);
  ck_assert_double_eq_tol(p[1], 1 - 0.1 * 0.5 / (0.5 + 1e-8), 1e-6);
  g[0] = g[1] = -0.25f;
  tf_adamw_step(&o, p, g, t, 2, 0.1, &hp);
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
  float g[2] = {3, 4};
  ck_assert_double_eq_tol(tf_grad_clip(g, 2, 10), 5, 1e-12); /* below: untouched */
  ck_assert_float_eq(g[0], 3);
  ck_assert_double_eq_tol(tf_grad_clip(g, 2, 1), 5, 1e-12);
  ck_assert_double_eq_tol(sqrt(g[0] * g[0] + g[1] * g[1]), 1, 1e-6);
  ck_assert_double_eq_tol(g[0] / g[1], 0.75, 1e-7); /* direction kept */
}
END_TEST

int main(void) {
  Suite *s = suite_create("optim");
  TCase *tc = tcase_create("optim");
  tcase_add_test(tc, adamw_two_steps_match_hand_computed_values);
  tcase_add_test(tc, schedule_warmup_then_cosine);
  tcase_add_test(tc, clipping_scales_to_the_limit_only_above_it);
  suite_add_tcase(s, tc);
  return tf_test_run(s);
}
