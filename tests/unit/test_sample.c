/* test_sample.c: the sampler (lib/sample.c): greedy and its ties, the frequencies of
 * temperature, top-k and top-p draws against their definitions (tokenformer.h), ids outside
 * the kept set never drawn, seeded reproducibility, refused settings. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "suite.h"
#include "tokenformer.h"
#include "rng.h"

static void sampler_init(struct tf_sampler *s, int V, struct tf_sample_config c) {
  struct tf_error err = {0};
  ck_assert_msg(tf_sampler_create(s, V, &c, &err) == TF_OK, "%s", err.msg);
}

START_TEST(greedy_takes_the_argmax_and_the_lowest_id_on_ties) {
  float l[6] = {0.5f, 2.0f, NAN, 2.0f, -INFINITY, 1.0f};
  ck_assert_int_eq(tf_sample_argmax(l, 6), 1);
  float none[6] = {NAN, -INFINITY, NAN, NAN, -INFINITY, NAN};
  ck_assert_int_eq(tf_sample_argmax(none, 6), -1);
  struct tf_sampler s;
  sampler_init(&s, 6, (struct tf_sample_config){.temperature = 1, .top_p = 1, .greedy = 1});
  struct tf_rng before = *s.rng;
  for (int i = 0; i < 10; i++) ck_assert_int_eq(tf_sample(&s, l), 1);
  ck_assert_mem_eq(&before, s.rng, sizeof before); /* no random number used */
  tf_sampler_free(&s);
  sampler_init(&s, 6, (struct tf_sample_config){.temperature = 0, .top_p = 1, .seed = 3});
  ck_assert_int_eq(tf_sample(&s, l), 1); /* temperature 0 is greedy */
  ck_assert_int_eq(tf_sample(&s, none), -1);
  tf_sampler_free(&s);
  sampler_init(&s, 6, (struct tf_sample_config){.temperature = 1, .top_k = 2, .top_p = 0.5});
  ck_assert_int_eq(tf_sample(&s, none), -1); /* nothing to draw from */
  tf_sampler_free(&s);
}
END_TEST

/* The fixed distribution every frequency test starts from (it sums to 1). */
static const double base[8] = {0.30, 0.25, 0.15, 0.10, 0.08, 0.05, 0.04, 0.03};

struct freq_case {
  struct tf_sample_config c;
  int kept; /* the ids kept are 0 .. kept-1 (base is sorted), worked out by hand below */
};

/* q_i = base_i^(1/T) renormalised over the kept ids: softmax(log base / T). */
static const struct freq_case freq_cases[] = {
    {{.temperature = 1, .top_p = 1}, 8},
    {{.temperature = 2, .top_p = 1}, 8},
    {{.temperature = 1, .top_k = 3, .top_p = 1}, 3},
    /* cumulative .30 .55 .70: 0.6 is reached by the third */
    {{.temperature = 1, .top_p = 0.6}, 3},
    /* .30 .55: 0.5 is reached by the second */
    {{.temperature = 1, .top_p = 0.5}, 2},
    /* top-k 5 keeps mass .88; shares .341 .625 .795 .909: 0.9 reached by the fourth */
    {{.temperature = 1, .top_k = 5, .top_p = 0.9}, 4},
    /* T 0.5 squares: shares .458 .776 .891: 0.8 reached by the third */
    {{.temperature = 0.5, .top_p = 0.8}, 3},
    /* k above V: no limit */
    {{.temperature = 1.5, .top_k = 100, .top_p = 1}, 8},
};

#define DRAWS 100000

/* 1e5 draws per case: the ids outside the kept set never come up, and Pearson's chi-square
 * of the counts against DRAWS q stays under 30. With at most 7 degrees of freedom a correct
 * sampler exceeds 30 with probability < 1e-4 (the seed is fixed, so the test is repeatable
 * anyway); a wrong temperature, set or renormalisation gives chi-square in the hundreds or
 * more at this many draws. */
START_TEST(frequencies_follow_the_definitions) {
  const struct freq_case *fc = &freq_cases[_i];
  float logits[8];
  double q[8], total = 0;
  for (int i = 0; i < 8; i++) logits[i] = (float)log(base[i]);
  for (int i = 0; i < fc->kept; i++) total += q[i] = pow(base[i], 1.0 / fc->c.temperature);
  struct tf_sampler s;
  struct tf_sample_config c = fc->c;
  c.seed = 100 + _i;
  sampler_init(&s, 8, c);
  long count[8] = {0};
  for (int n = 0; n < DRAWS; n++) {
    int32_t t = tf_sample(&s, logits);
    ck_assert(t >= 0 && t < 8);
    count[t]++;
  }
  double chi2 = 0;
  for (int i = 0; i < 8; i++) {
    if (i >= fc->kept) {
      ck_assert_msg(count[i] == 0, "case %d: id %d drawn %ld times, outside the kept set", _i, i,
                    count[i]);
      continue;
    }
    double want = DRAWS * q[i] / total;
    chi2 += (count[i] - want) * (count[i] - want) / want;
  }
  ck_assert_msg(chi2 < 30, "case %d: chi-square %.1f over %d ids", _i, chi2, fc->kept);
  tf_sampler_free(&s);
}
END_TEST

/* Equal probabilities at the boundary: the lower ids are kept, by top-k and by top-p. */
START_TEST(ties_at_the_cut_keep_the_lower_ids) {
  float l[5] = {0.0f, 1.0f, 1.0f, 1.0f, 1.0f};
  struct tf_sample_config k2 = {.temperature = 1, .top_k = 2, .top_p = 1, .seed = 1};
  struct tf_sample_config p = {.temperature = 1, .top_p = 0.5, .seed = 2};
  /* top-p: the four ties carry .229 each; .458 < 0.5 <= .687: three of them, ids 1 2 3 */
  const struct tf_sample_config *cfg[2] = {&k2, &p};
  const int lo[2] = {1, 1}, hi[2] = {2, 3};
  for (int c = 0; c < 2; c++) {
    struct tf_sampler s;
    sampler_init(&s, 5, *cfg[c]);
    long count[5] = {0};
    for (int n = 0; n < 20000; n++) count[tf_sample(&s, l)]++;
    for (int i = 0; i < 5; i++)
      ck_assert_msg((count[i] > 0) == (i >= lo[c] && i <= hi[c]), "setting %d: id %d drawn %ld", c,
                    i, count[i]);
    tf_sampler_free(&s);
  }
}
END_TEST

/* Random logits with many ties (values 0 or 1 over 24 ids), every k: the drawn ids are
 * exactly the k first by (probability descending, id ascending), computed here by brute force.
 * Each kept id has probability >= 1 / (24 e) so 20000 draws see all of them. */
START_TEST(top_k_keeps_exactly_the_k_best) {
  struct tf_rng r;
  tf_rng_seed(&r, 42);
  float l[24];
  for (int i = 0; i < 24; i++) l[i] = (float)(tf_rng_next(&r) & 1);
  for (int k = 1; k <= 24; k++) {
    int rank[24], kept = 0;
    for (int i = 0; i < 24; i++) { /* ids before i in the ranking */
      rank[i] = 0;
      for (int j = 0; j < 24; j++) rank[i] += l[j] > l[i] || (l[j] == l[i] && j < i);
    }
    struct tf_sampler s;
    sampler_init(&s, 24, (struct tf_sample_config){.temperature = 1, .top_k = k, .top_p = 1});
    long count[24] = {0};
    for (int n = 0; n < 20000; n++) count[tf_sample(&s, l)]++;
    for (int i = 0; i < 24; i++) {
      ck_assert_msg((count[i] > 0) == (rank[i] < k), "k %d: id %d (rank %d) drawn %ld", k, i,
                    rank[i], count[i]);
      kept += count[i] > 0;
    }
    ck_assert_int_eq(kept, k);
    tf_sampler_free(&s);
  }
}
END_TEST

static int by_prob_desc(const void *a, const void *b) {
  double x = ((const double *)a)[0], y = ((const double *)b)[0];
  return x < y ? 1 : x > y ? -1 : 0;
}

/* A wide, peaked distribution (1000 ids, logits 3 N(0,1)), where the sampler drops most ids
 * before sorting: for several top_p set midway between two cumulative sums (far from float
 * rounding), the drawn ids are within the nucleus computed by brute force. */
START_TEST(top_p_keeps_exactly_the_nucleus) {
  enum { V = 1000 };
  static float l[V];
  static double pr[V][2];
  struct tf_rng r;
  tf_rng_seed(&r, 5);
  double z = 0;
  for (int i = 0; i < V; i++) z += exp(l[i] = (float)(3 * tf_rng_normal(&r)));
  for (int i = 0; i < V; i++) pr[i][0] = exp(l[i]) / z, pr[i][1] = i;
  qsort(pr, V, sizeof pr[0], by_prob_desc);
  static const int sizes[] = {1, 3, 10, 40};
  for (int c = 0; c < 4; c++) {
    int n = sizes[c];
    double cum = 0;
    for (int i = 0; i < n - 1; i++) cum += pr[i][0];
    double top_p = cum + 0.5 * pr[n - 1][0]; /* reached by the n-th, not before */
    struct tf_sampler s;
    sampler_init(&s, V, (struct tf_sample_config){.temperature = 1, .top_p = top_p, .seed = c});
    static char in[V];
    memset(in, 0, sizeof in);
    for (int i = 0; i < n; i++) in[(int)pr[i][1]] = 1;
    for (int d = 0; d < 20000; d++) {
      int32_t t = tf_sample(&s, l);
      ck_assert_msg(in[t], "top_p %.6f (%d ids): drew id %d outside the nucleus", top_p, n, t);
    }
    tf_sampler_free(&s);
  }
}
END_TEST

/* The same seed and logits: the same ids; another seed: other ids. */
START_TEST(same_seed_same_draws) {
  struct tf_sampler a, b, c;
  struct tf_sample_config cfg = {.temperature = 0.8, .top_k = 50, .top_p = 0.95, .seed = 7};
  sampler_init(&a, 256, cfg);
  sampler_init(&b, 256, cfg);
  cfg.seed = 8;
  sampler_init(&c, 256, cfg);
  float l[256];
  struct tf_rng r;
  tf_rng_seed(&r, 1);
  int differ = 0;
  for (int n = 0; n < 1000; n++) {
    for (int i = 0; i < 256; i++) l[i] = (float)tf_rng_normal(&r);
    int32_t x = tf_sample(&a, l);
    ck_assert_int_eq(x, tf_sample(&b, l));
    differ += x != tf_sample(&c, l);
  }
  ck_assert_int_gt(differ, 100);
  tf_sampler_free(&a), tf_sampler_free(&b), tf_sampler_free(&c);
}
END_TEST

START_TEST(settings_out_of_range_are_refused) {
  const struct tf_sample_config bad[] = {{.temperature = -1, .top_p = 1},
                                         {.temperature = NAN, .top_p = 1},
                                         {.temperature = 1, .top_k = -1, .top_p = 1},
                                         {.temperature = 1, .top_p = 0},
                                         {.temperature = 1, .top_p = 1.5},
                                         {.temperature = 1, .top_p = NAN}};
  struct tf_sampler s;
  struct tf_error err = {0};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    ck_assert_int_eq(tf_sampler_create(&s, 10, &bad[i], &err), TF_EUSAGE);
  struct tf_sample_config ok = {.temperature = 1, .top_p = 1};
  ck_assert_int_eq(tf_sampler_create(&s, 0, &ok, &err), TF_EUSAGE);
}
END_TEST

static Suite *sample_suite(void) {
  Suite *s = suite_create("sample");
  TCase *tc = tcase_create("sample");
  tcase_add_test(tc, greedy_takes_the_argmax_and_the_lowest_id_on_ties);
  tcase_add_loop_test(tc, frequencies_follow_the_definitions, 0,
                      (int)(sizeof freq_cases / sizeof freq_cases[0]));
  tcase_add_test(tc, ties_at_the_cut_keep_the_lower_ids);
  tcase_add_test(tc, top_k_keeps_exactly_the_k_best);
  tcase_add_test(tc, top_p_keeps_exactly_the_nucleus);
  tcase_add_test(tc, same_seed_same_draws);
  tcase_add_test(tc, settings_out_of_range_are_refused);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  return tf_test_run(sample_suite());
}
