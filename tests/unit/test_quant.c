/* test_quant.c: bf16 and q8 weights (lib/quant.c, lib/quant_kern.c): the roundings, the
 * matrix-vector kernels of every instruction set this CPU runs against float64 on odd shapes,
 * and decoding with converted weights against the full forward of the same weights and of
 * the fp32 model. */
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fd.h"
#include "kernels.h"
#include "quant.h"
#include "suite.h"
#include "tokenformer.h"

/* ---------------------------------------------------------------- roundings */

static float tf_bits_of(uint32_t u) {
  float f;
  memcpy(&f, &u, sizeof f);
  return f;
}

/* x rounded to 8 significant bits, nearest even, in double: the bf16 reference (below 2^-126
 * a fixed step of 2^-133, as subnormals have). */
static double bf16_ref(float x) {
  int e;
  frexp(x, &e);
  if (e < -125) e = -125;
  return ldexp(nearbyint(ldexp(x, 8 - e)), e - 8); /* ties to even in the default mode */
}

START_TEST(bf16_rounds_to_nearest_even) {
  float xs[4000];
  fd_fill(xs, 4000, 3.0f, 1);
  xs[0] = 1.0f + 1.0f / 256;       /* a tie: down to even 1 */
  xs[1] = 1.0f + 3.0f / 256;       /* a tie: up to even 1 + 4/256 */
  xs[2] = -(1.0f + 3.0f / 256);    /* sign kept */
  xs[3] = tf_bits_of(0x7f7f8000u); /* halfway past the largest bf16, odd: infinity */
  xs[4] = 1e-40f;                  /* subnormal */
  for (int i = 0; i < 4000; i++) {
    float got = tf_bf16_float(tf_bf16_round(xs[i]));
    double want = i == 3 ? INFINITY : bf16_ref(xs[i]);
    ck_assert_msg(got == want, "%.9g: %.9g, want %.9g", xs[i], got, want);
  }
  ck_assert(isnan(tf_bf16_float(tf_bf16_round(NAN))));
  ck_assert(tf_bf16_float(tf_bf16_round(-INFINITY)) == -INFINITY);
}
END_TEST

/* A block's values come back within half a step (scale / 2), the largest exactly; past n the
 * block is zero; an all-zero block has scale 0. */
START_TEST(q8_block_error_is_half_a_step) {
  float x[32], s;
  int8_t q[32];
  for (int n = 1; n <= 32; n += 5) {
    fd_fill(x, 32, 2.0f, 10 + n);
    s = tf_q8_block(q, x, n);
    float mx = 0.0f;
    for (int j = 0; j < n; j++) mx = fabsf(x[j]) > mx ? fabsf(x[j]) : mx;
    ck_assert_float_eq_tol(s, mx / 127, 1e-12);
    for (int j = 0; j < 32; j++) {
      if (j >= n) {
        ck_assert_int_eq(q[j], 0);
        continue;
      }
      ck_assert_msg(fabs(s * q[j] - x[j]) <= 0.5 * s * (1 + 1e-5), "n %d, %d: %g vs %g", n, j,
                    s * q[j], x[j]);
      ck_assert(q[j] >= -127 && q[j] <= 127);
    }
  }
  memset(x, 0, sizeof x);
  ck_assert_float_eq(tf_q8_block(q, x, 32), 0.0f);
  for (int j = 0; j < 32; j++) ck_assert_int_eq(q[j], 0);
}
END_TEST

START_TEST(weight_names_parse) {
  enum tf_weights w;
  for (int i = 0; i < TF_NWEIGHTS; i++) {
    ck_assert_int_eq(tf_weights_parse(tf_weights_name(i), &w), TF_OK);
    ck_assert_int_eq(w, i);
  }
  ck_assert_int_eq(tf_weights_parse("q4", &w), TF_EUSAGE);
  ck_assert_int_eq(tf_weights_parse("", &w), TF_EUSAGE);
}
END_TEST

/* ---------------------------------------------------------------- kernels */

/* Shapes: one value; n not a multiple of the block, of the vector widths (8, 16, 32) nor of
 * the thread split (1 to 3 threads); a wide row; more rows than columns; every count of rows
 * in a kernel's last group (rows mod TF_QROWS: 1, 2, 3, 0); an odd number of q8 blocks, past
 * a group of 16 (33 blocks) and within one (3 blocks). */
static const int shapes[][2] = {{1, 1},    {37, 19},  {5, 33},   {64, 768},
                                {3, 1000}, {257, 95}, {6, 1031}, {7, 65}};
#define N_SHAPES (int)(sizeof shapes / sizeof shapes[0])

/* W's value at (i, j) in double. */
static double w_at(const struct tf_qmat *W, int i, int j) {
  size_t o = (size_t)i * W->cp + j;
  if (W->fmt == TF_WEIGHTS_BF16) return tf_bf16_float(W->bf16[o]);
  return (double)W->scale[(size_t)i * (W->cp / 32) + j / 32] * W->q[o];
}

/* x_j as the dot kernels read it: float for bf16, the block's quantized value for q8. */
static double x_at(const struct tf_qvec *v, enum tf_weights w, int j) {
  return w == TF_WEIGHTS_BF16 ? v->f[j] : (double)v->s[j / 32] * v->q[j];
}

/* |got - want| <= tol sum |terms|, entry by entry. */
static void assert_close(const float *got, const double *want, const double *mag, int n, double tol,
                         const char *what) {
  for (int i = 0; i < n; i++)
    ck_assert_msg(fabs(got[i] - want[i]) <= tol * mag[i] + 1e-30, "%s[%d]: %.9g, want %.9g", what,
                  i, got[i], want[i]);
}

/* y = W x against float64 over the same weights and (prepared) x. Float accumulation:
 * 1e-5 of sum |terms|, as the fp32 gemv test; the bf16 dot instruction sees x as hi + lo,
 * each bf16, 2^-17 of |x| at most, inside that. */
static void check_dot(const struct tf_qmat *W, const float *x, float *y, double *want, double *mag,
                      float *scratch, int threads, const char *path) {
  struct tf_qvec v;
  tf_qvec_prepare(&v, scratch, x, W);
  for (int j = W->cols; j < W->cp; j++) ck_assert(x_at(&v, W->fmt, j) == 0);
#pragma omp parallel num_threads(threads)
  tf_qgemv_ws(y, W, &v);
  for (int i = 0; i < W->rows; i++) {
    want[i] = mag[i] = 0;
    for (int j = 0; j < W->cols; j++) {
      double t = w_at(W, i, j) * x_at(&v, W->fmt, j);
      want[i] += t, mag[i] += fabs(t);
    }
  }
  char what[64];
  snprintf(what, sizeof what, "%s %s W x", path, tf_weights_name(W->fmt));
  assert_close(y, want, mag, W->rows, 1e-5, what);
}

/* y = beta y + s^T W, beta 0 over NaN garbage and then 0.5. */
static void check_axpy(const struct tf_qmat *W, const float *s, float *y, double *want, double *mag,
                       float *partial, int threads, const char *path) {
  for (int pass = 0; pass < 2; pass++) {
    float beta = pass ? 0.5f : 0.0f;
    for (int j = 0; j < W->cols; j++) {
      want[j] = pass ? 0.5 * y[j] : 0, mag[j] = fabs(want[j]);
      if (!pass) y[j] = NAN;
      for (int i = 0; i < W->rows; i++) {
        double t = s[i] * w_at(W, i, j);
        want[j] += t, mag[j] += fabs(t);
      }
    }
#pragma omp parallel num_threads(threads)
    tf_qgemv_t_ws(y, beta, s, W, partial);
    char what[64];
    snprintf(what, sizeof what, "%s %s beta y + s^T W", path, tf_weights_name(W->fmt));
    assert_close(y, want, mag, W->cols, 1e-5, what);
  }
}

/* Every path this CPU runs, both formats, 1 to 3 threads. */
START_TEST(kernels_match_float64_on_every_path) {
  int rows = shapes[_i][0], cols = shapes[_i][1], cp = tf_qcols(cols), ran = 0;
  float *M = malloc((size_t)rows * cols * sizeof *M), *x = malloc(cols * sizeof *x);
  float *s = malloc(rows * sizeof *s), *y = malloc((rows + cols) * sizeof *y);
  float *partial = malloc(3 * (size_t)cp * sizeof *partial);
  float *scratch = malloc(tf_qvec_floats(cp) * sizeof *scratch);
  double *want = malloc((rows + cols) * sizeof *want), *mag = malloc((rows + cols) * sizeof *mag);
  fd_fill(M, (size_t)rows * cols, 1.0f, 1 + _i);
  fd_fill(x, cols, 1.0f, 2 + _i);
  fd_fill(s, rows, 1.0f, 3 + _i);
  M[0] = 0.0f; /* a zero in a block, and (1 x 1) an all-zero q8 block */
  for (int p = 0; p < TF_NQPATHS; p++) {
    if (!tf_qpath_supported(p)) continue;
    tf_qpath_force(p);
    const char *path = tf_qkern()->name;
    for (int w = TF_WEIGHTS_BF16; w <= TF_WEIGHTS_Q8; w++) {
      struct tf_qmat W;
      ck_assert_int_eq(tf_qmat_from(&W, w, M, rows, cols), TF_OK);
      for (int t = 1; t <= 3; t++) {
        check_dot(&W, x, y, want, mag, scratch, t, path);
        check_axpy(&W, s, y, want, mag, partial, t, path);
      }
      tf_qmat_free(&W);
    }
    ran++;
  }
  tf_qpath_force(TF_NQPATHS);
  if (_i == 0) {
    fprintf(stderr, "test_quant: kernel paths run on this CPU:");
    for (int p = 0; p < TF_NQPATHS; p++)
      if (tf_qpath_supported(p)) fprintf(stderr, " %s", tf_qkern_of(p)->name);
    fprintf(stderr, " (best: %s)\n", tf_weights_kernel());
  }
  ck_assert_int_ge(ran, 1);
  free(M), free(x), free(s), free(y), free(partial), free(scratch), free(want), free(mag);
}
END_TEST

/* The q8 product's error against the exact fp32 W x stays within what quantizing both sides
 * by half a step each allows: sum_b (s_wb |x|_b + s_xb |W|_b + s_wb s_xb 32 / 2) / 2. */
START_TEST(q8_product_error_is_bounded_by_the_steps) {
  int rows = 64, cols = 768, cp = tf_qcols(cols);
  float *M = malloc((size_t)rows * cols * sizeof *M), *x = malloc(cols * sizeof *x);
  float *y = malloc(rows * sizeof *y), *scratch = malloc(tf_qvec_floats(cp) * sizeof *scratch);
  fd_fill(M, (size_t)rows * cols, 0.1f, 7);
  fd_fill(x, cols, 3.0f, 8);
  struct tf_qmat W;
  struct tf_qvec v;
  ck_assert_int_eq(tf_qmat_from(&W, TF_WEIGHTS_Q8, M, rows, cols), TF_OK);
  tf_qvec_prepare(&v, scratch, x, &W);
  tf_qgemv_ws(y, &W, &v);
  for (int i = 0; i < rows; i++) {
    double exact = 0, bound = 0;
    for (int b = 0; b < cols / 32; b++) {
      double sw = W.scale[i * (cp / 32) + b], sx = v.s[b], ax = 0, aw = 0;
      for (int j = b * 32; j < b * 32 + 32; j++) {
        exact += (double)M[(size_t)i * cols + j] * x[j];
        ax += fabs(x[j]), aw += fabs(M[(size_t)i * cols + j]);
      }
      bound += 0.5 * (sw * ax + sx * aw + 16 * sw * sx);
    }
    ck_assert_msg(fabs(y[i] - exact) <= bound * 1.0001 + 1e-6, "row %d: %g vs %g (bound %g)", i,
                  y[i], exact, bound);
  }
  tf_qmat_free(&W);
  free(M), free(x), free(y), free(scratch);
}
END_TEST

/* The batched Pattention through dequantized panels (3 rows per panel: several, the last
 * one short) equals tf_pattn_forward over the dequantized weights to float order (1e-5 of
 * max |out|; measured below 1e-6), for each norm and beta. */
START_TEST(panel_pattention_matches_dequantized_forward) {
  enum { R = 5, N = 11, D = 37, P = 3 };
  static float x[R * D], key[N * D], value[N * D], kd[N * D], vd[N * D], out[R * D], ref[R * D];
  static float cache[R * N], rnorm[R], scratch[2 * R * N], panel[P * D];
  fd_fill(x, R * D, 1.0f, 1);
  fd_fill(key, N * D, 0.3f, 2);
  fd_fill(value, N * D, 1.0f, 3);
  for (int w = TF_WEIGHTS_BF16; w <= TF_WEIGHTS_Q8; w++) {
    struct tf_qmat K, V;
    ck_assert_int_eq(tf_qmat_from(&K, w, key, N, D), TF_OK);
    ck_assert_int_eq(tf_qmat_from(&V, w, value, N, D), TF_OK);
    for (int i = 0; i < N; i++) tf_qmat_row(kd + i * D, &K, i), tf_qmat_row(vd + i * D, &V, i);
    for (int norm = 0; norm < 3; norm++) {
      struct tf_pattn_shape s = {R, N, N, D, D, (enum tf_norm)norm, N};
      float beta = norm == 1 ? 0.5f : 0.0f;
      fd_fill(out, R * D, 1.0f, 4);
      memcpy(ref, out, sizeof out);
      tf_pattn_forward(&s, ref, beta, cache, rnorm, scratch, x, kd, vd);
      tf_pattn_forward_q(&s, out, beta, cache, rnorm, scratch, x, &K, &V, panel, P);
      double e = fd_rel_error(out, ref, R * D);
      ck_assert_msg(e <= 1e-5, "%s, norm %d: %.3g", tf_weights_name(w), norm, e);
    }
    tf_qmat_free(&K), tf_qmat_free(&V);
  }
}
END_TEST

/* ---------------------------------------------------------------- decoding */

static const char *const cases[] = {"l2_norm_gelu",  "gelu_l2_norm", "softmax",
                                    "grown_softmax", "odd_seq",      "l2_norm_gelu_rope_full"};
#define N_CASES (int)(sizeof cases / sizeof cases[0])

/* Fixture case c (N_CASES: the tiny config, d = 16, below one q8 block; N_CASES + 1: the
 * team config, whose rows decode on a team of threads; both randomly initialised); rounded or
 * converted to w when asked. */
static void model_of(struct tf_model *m, int c, enum tf_weights round, enum tf_weights convert) {
  struct tf_error err = {0};
  if (c < N_CASES) {
    const char *dir = getenv("TF_FIXTURES");
    char path[512];
    snprintf(path, sizeof path, "%s/%s.tfz", dir ? dir : "tests/fixtures", cases[c]);
    ck_assert_msg(tf_model_load(m, path, &err) == TF_OK, "%s", err.msg);
  } else {
    struct tf_model_config mc = c == N_CASES ? tf_test_tiny_config() : tf_test_team_config();
    struct tf_config cfg;
    tf_config_default(&cfg);
    cfg.init.std = 0.3;
    ck_assert_int_eq(tf_model_create(m, &mc, &err), TF_OK);
    tf_model_init(m, &cfg.init);
  }
  ck_assert_msg(tf_model_round_weights(m, round, &err) == TF_OK, "%s", err.msg);
  ck_assert_msg(tf_model_convert_weights(m, convert, &err) == TF_OK, "%s", err.msg);
}

/* Bounds, as fd_rel_error (of max |logit|), with their measured worst case over the cases
 * and kernel paths (fixtures are drawn so that every term matters, harsh for rounding):
 *   CACHED_BF16  converted bf16 decoding against the full forward of the same rounded
 *                weights: float order differs, and the bf16 dot instruction sees x as
 *                hi + lo (measured 7.7e-6);
 *   CACHED_Q8    the same for q8, where every y = W x of a step (and the head of a prefill)
 *                also quantizes x in blocks (measured 1.5e-2);
 *   FP32_BF16, FP32_Q8  converted decoding against the fp32 model: the formats' own cost
 *                (measured 8.6e-3 and 2.6e-2). */
#define CACHED_BF16 2e-5
#define CACHED_Q8   3e-2
#define FP32_BF16   2e-2
#define FP32_Q8     5e-2

/* Per format, case and kernel path: a prefill of P tokens in chunks of 3 (the batched, panel
 * path, its head through the kernels), then one step per token (the kernels) to seq_len: every
 * position's logits against the full forward of the rounded weights and of the fp32 model. */
static void check_decoding(int c, enum tf_weights w, double cached_tol, double fp32_tol) {
  struct tf_model mq, md, m32;
  struct tf_decoder dec;
  struct tf_error err = {0};
  model_of(&mq, c, TF_WEIGHTS_F32, w);
  model_of(&md, c, w, TF_WEIGHTS_F32);
  model_of(&m32, c, TF_WEIGHTS_F32, TF_WEIGHTS_F32);
  ck_assert_ptr_null(mq.params);
  ck_assert_int_eq(mq.weights, w);
  int S = mq.cfg.seq_len, V = mq.cfg.vocab_size, P = S / 2;
  int32_t *tok = malloc(S * sizeof *tok);
  float *ref = malloc((size_t)S * V * sizeof *ref), *ref32 = malloc((size_t)S * V * sizeof *ref);
  tf_test_random_tokens(tok, S, V, 40 + c);
  tf_test_full_logits(&md, tok, S, ref);
  tf_test_full_logits(&m32, tok, S, ref32);
  ck_assert_msg(tf_decoder_create(&dec, &mq.cfg, 3, &err) == TF_OK, "%s", err.msg);
  char name[128];
  double worst = 0, worst32 = 0, worst_prefill = 0;
  for (int p = 0; p < TF_NQPATHS; p++) {
    if (!tf_qpath_supported(p)) continue;
    tf_qpath_force(p);
    snprintf(name, sizeof name, "%s (%s)",
             c < N_CASES    ? cases[c]
             : c == N_CASES ? "tiny"
                            : "team",
             tf_qkern()->name);
    for (int t = P - 1; t < S; t++) {
      const float *l = t == P - 1 ? tf_decode_prefill(&mq, &dec, tok, P, NULL)
                                  : tf_decode_step(&mq, &dec, tok[t], NULL);
      ck_assert_ptr_nonnull(l);
      double e = fd_rel_error(l, ref + (size_t)t * V, V), tol = cached_tol;
      double e32 = fd_rel_error(l, ref32 + (size_t)t * V, V);
      ck_assert_msg(e <= tol, "%s %s: position %d off the rounded model by %.3g", name,
                    tf_weights_name(w), t, e);
      ck_assert_msg(e32 <= fp32_tol, "%s %s: position %d off the fp32 model by %.3g", name,
                    tf_weights_name(w), t, e32);
      if (t == P - 1)
        worst_prefill = e > worst_prefill ? e : worst_prefill;
      else
        worst = e > worst ? e : worst;
      worst32 = e32 > worst32 ? e32 : worst32;
    }
  }
  tf_qpath_force(TF_NQPATHS);
  if (getenv("TF_QUANT_VERBOSE"))
    fprintf(stderr, "%s %s: prefill %.3g, steps %.3g, fp32 %.3g\n", name, tf_weights_name(w),
            worst_prefill, worst, worst32);
  tf_decoder_free(&dec);
  free(tok), free(ref), free(ref32);
  tf_model_free(&mq), tf_model_free(&md), tf_model_free(&m32);
}

START_TEST(bf16_decoding_matches_full_forward) {
  check_decoding(_i, TF_WEIGHTS_BF16, CACHED_BF16, FP32_BF16);
}
END_TEST

START_TEST(q8_decoding_matches_full_forward) {
  check_decoding(_i, TF_WEIGHTS_Q8, CACHED_Q8, FP32_Q8);
}
END_TEST

/* The sizes are as the formats say: bf16 half of fp32, q8 (1 + 4/32) / 4 of it; converted
 * weights cannot be rounded again. */
START_TEST(converted_models_take_their_bytes) {
  struct tf_model m32, mb, mq;
  model_of(&m32, 0, TF_WEIGHTS_F32, TF_WEIGHTS_F32);
  model_of(&mb, 0, TF_WEIGHTS_F32, TF_WEIGHTS_BF16);
  model_of(&mq, 0, TF_WEIGHTS_F32, TF_WEIGHTS_Q8);
  double f = (double)tf_model_weight_bytes(&m32);
  double rb = tf_model_weight_bytes(&mb) / f, rq = tf_model_weight_bytes(&mq) / f;
  /* 64-byte alignment of each matrix adds a little at these tiny sizes */
  ck_assert_msg(rb >= 0.5 && rb < 0.53, "bf16: %.3f of fp32", rb);
  ck_assert_msg(rq >= 1.125 / 4 && rq < 0.31, "q8: %.3f of fp32", rq);
  struct tf_error err = {0};
  ck_assert_int_eq(tf_model_round_weights(&mq, TF_WEIGHTS_BF16, &err), TF_EUSAGE);
  tf_model_free(&m32), tf_model_free(&mb), tf_model_free(&mq);
}
END_TEST

static Suite *quant_suite(void) {
  Suite *s = suite_create("quant");
  TCase *tc = tcase_create("quant");
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, bf16_rounds_to_nearest_even);
  tcase_add_test(tc, q8_block_error_is_half_a_step);
  tcase_add_test(tc, weight_names_parse);
  tcase_add_loop_test(tc, kernels_match_float64_on_every_path, 0, N_SHAPES);
  tcase_add_test(tc, q8_product_error_is_bounded_by_the_steps);
  tcase_add_test(tc, panel_pattention_matches_dequantized_forward);
  tcase_add_loop_test(tc, bf16_decoding_matches_full_forward, 0, N_CASES + 2);
  tcase_add_loop_test(tc, q8_decoding_matches_full_forward, 0, N_CASES + 2);
  tcase_add_test(tc, converted_models_take_their_bytes);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  return tf_test_run(quant_suite());
}
