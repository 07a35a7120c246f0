/* test_pattn.c: Pattention (lib/pattn.c): the normal cdf/pdf and exp it uses against libm,
 * the central cdf, the forward against a float64 evaluation of docs/model.md §1.2 (also with rows
 * on both sides of the central cdf's range), every backward against finite differences for the
 * three norms (also with n_ref != n, as after growth), the invariants of docs/model.md §1.3, the
 * row-norm guard, and how gradients accumulate. */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fd.h"
#include "kernels.h"
#include "suite.h"

/* ---------------------------------------------------------------- special functions */

/* Relative error of cdf, pdf and exp in float32: the fitted polynomials are good to 3e-9, the
 * rest is float rounding of about 4 operations (measured worst: cdf 4.2e-7 near z = -1.95,
 * pdf 2.0e-7, exp 1.2e-7); the bounds leave 20 % room. */
START_TEST(normal_cdf_and_pdf_match_libm) {
  double worst_cdf = 0, worst_pdf = 0;
  for (double zd = -13.0; zd <= 9.0; zd += 1.7e-4) {
    float z = (float)zd, cdf, pdf;
    tf_normal(z, &cdf, &pdf);
    double c = 0.5 * erfc(-(double)z / sqrt(2.0)), p = exp(-0.5 * z * (double)z) / sqrt(2 * M_PI);
    worst_cdf = fmax(worst_cdf, fabs(cdf - c) / c);
    worst_pdf = fmax(worst_pdf, fabs(pdf - p) / p);
  }
  ck_assert_msg(worst_cdf < 5e-7, "cdf relative error %.3g", worst_cdf);
  ck_assert_msg(worst_pdf < 2.5e-7, "pdf relative error %.3g", worst_pdf);
  float cdf, pdf;
  tf_normal(-40.0f, &cdf, &pdf); /* far below the float range: exactly 0, not NaN */
  ck_assert(cdf == 0.0f && pdf == 0.0f);
  tf_normal(40.0f, &cdf, &pdf);
  ck_assert(cdf == 1.0f && pdf == 0.0f);
  tf_normal(NAN, &cdf, &pdf);
  ck_assert(isnan(cdf) && isnan(pdf));
}
END_TEST

/* The central cdf, absolute error on [-4, 4] (measured worst 8.8e-8 near z = 3.9: the fit's
 * 2.2e-9 plus float rounding of values just below 1). */
START_TEST(central_cdf_matches_libm) {
  double worst = 0;
  for (double zd = -TF_CDF_CENTRAL; zd <= TF_CDF_CENTRAL; zd += 1e-5) {
    float z = (float)zd;
    worst = fmax(worst, fabs(tf_cdf_central(z) - 0.5 * erfc(-(double)z / sqrt(2.0))));
  }
  ck_assert_msg(worst < 1.2e-7, "central cdf absolute error %.3g", worst);
  ck_assert(tf_cdf_central(0.0f) == 0.5f);
}
END_TEST

START_TEST(exp_matches_libm_below_zero) {
  double worst = 0;
  for (double xd = -87.0; xd <= 0.0; xd += 3.1e-5) {
    float x = (float)xd;
    worst = fmax(worst, fabs(tf_exp_neg(x, 0.0f) / exp((double)x) - 1.0));
  }
  ck_assert_msg(worst < 1.5e-7, "exp relative error %.3g", worst);
  ck_assert(tf_exp_neg(0.0f, 0.0f) == 1.0f);
  ck_assert(tf_exp_neg(-100.0f, 0.0f) == 0.0f);
  /* the split argument: exp(hi + lo) with lo far below hi's precision */
  double want = exp(-50.0 + 3e-6);
  ck_assert(fabs(tf_exp_neg(-50.0f, 3e-6f) / want - 1.0) < 1.5e-7);
}
END_TEST

/* ---------------------------------------------------------------- one Pattention problem */

static const char *const norm_names[] = {"l2_norm_gelu", "gelu_l2_norm", "softmax"};

struct prob {
  struct tf_pattn_shape s;
  float *x, *key, *value; /* (R, d_in), (n, d_in), (n, d_out) */
  float *out, *w;         /* (R, d_out): output and the loss weights L = sum out * w */
  float *cache, *rnorm, *scratch;
  float *dx, *dkey, *dvalue;
};

static float *zalloc(size_t n) {
  float *p = calloc(n ? n : 1, sizeof *p);
  ck_assert(p);
  return p;
}

static struct prob *prob_new(int R, int n, int n_ref, int d_in, int d_out, enum tf_norm norm,
                             uint64_t seed) {
  struct prob *p = calloc(1, sizeof *p);
  ck_assert(p);
  int ld = n + (int)(seed % 3); /* rows of the score arrays 0-2 floats apart beyond n */
  p->s = (struct tf_pattn_shape){R, n, n_ref, d_in, d_out, norm, ld};
  p->x = zalloc((size_t)R * d_in);
  p->key = zalloc((size_t)n * d_in);
  p->value = zalloc((size_t)n * d_out);
  p->out = zalloc((size_t)R * d_out);
  p->w = zalloc((size_t)R * d_out);
  p->cache = zalloc((size_t)R * ld);
  p->rnorm = zalloc(R);
  p->scratch = zalloc(2 * (size_t)R * ld);
  p->dx = zalloc((size_t)R * d_in);
  p->dkey = zalloc((size_t)n * d_in);
  p->dvalue = zalloc((size_t)n * d_out);
  fd_fill(p->x, (size_t)R * d_in, 1.0f, seed);
  fd_fill(p->key, (size_t)n * d_in, 0.7f, seed + 1);
  fd_fill(p->value, (size_t)n * d_out, 1.0f, seed + 2);
  fd_fill(p->w, (size_t)R * d_out, 1.0f, seed + 3);
  return p;
}

static void prob_free(struct prob *p) {
  float *bufs[] = {p->x,     p->key,     p->value, p->out,  p->w,     p->cache,
                   p->rnorm, p->scratch, p->dx,    p->dkey, p->dvalue};
  for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++) free(bufs[i]);
  free(p);
}

static void prob_forward(struct prob *p) {
  tf_pattn_forward(&p->s, p->out, 0.0f, p->cache, p->rnorm, p->scratch, p->x, p->key, p->value);
}

static double prob_loss(void *ctx) {
  struct prob *p = ctx;
  prob_forward(p);
  return fd_dot(p->out, p->w, (size_t)p->s.rows * p->s.d_out);
}

/* Gradients of L = sum out * w: dout = w; parameter gradients start from zero. */
static void prob_backward(struct prob *p) {
  prob_forward(p);
  memset(p->dkey, 0, (size_t)p->s.n * p->s.d_in * sizeof(float));
  memset(p->dvalue, 0, (size_t)p->s.n * p->s.d_out * sizeof(float));
  tf_pattn_backward(&p->s, p->dx, 0.0f, p->dkey, p->dvalue, p->scratch, p->w, p->cache, p->rnorm,
                    p->x, p->key, p->value);
}

/* ---------------------------------------------------------------- forward */

static double gelu_d(double z) {
  return 0.5 * z * (1.0 + erf(z / sqrt(2.0)));
}

/* Row i of docs/model.md §1.2 in float64: s (n) from the scores a (n). */
static void theta_double(double *s, const double *a, int n, int n_ref, enum tf_norm norm) {
  double tau = sqrt((double)n_ref), ss = 0, mx = a[0];
  for (int j = 0; j < n; j++) {
    double g = norm == TF_NORM_GELU_L2 ? gelu_d(a[j]) : a[j];
    ss += g * g;
    mx = fmax(mx, a[j]);
  }
  double r = fmax(sqrt(ss), 1e-5), sum = 0;
  for (int j = 0; j < n; j++) sum += exp(a[j] - mx);
  for (int j = 0; j < n; j++) {
    if (norm == TF_NORM_L2_GELU)
      s[j] = gelu_d(tau * a[j] / r);
    else if (norm == TF_NORM_GELU_L2)
      s[j] = tau * gelu_d(a[j]) / r;
    else
      s[j] = n_ref * exp(a[j] - mx) / sum;
  }
}

/* Worst |out - reference| / max |reference| of the forward against float64. */
static double forward_error(struct prob *p) {
  int R = p->s.rows, n = p->s.n, di = p->s.d_in, dout = p->s.d_out;
  double *a = malloc(n * sizeof *a), *s = malloc(n * sizeof *s), *ref = malloc(dout * sizeof *ref);
  double worst = 0, scale = 1e-30;
  prob_forward(p);
  for (int i = 0; i < R; i++) {
    for (int j = 0; j < n; j++) {
      a[j] = 0;
      for (int c = 0; c < di; c++) a[j] += (double)p->x[i * di + c] * p->key[j * di + c];
    }
    theta_double(s, a, n, p->s.n_ref, p->s.norm);
    for (int c = 0; c < dout; c++) {
      ref[c] = 0;
      for (int j = 0; j < n; j++) ref[c] += s[j] * p->value[j * dout + c];
      worst = fmax(worst, fabs(p->out[i * dout + c] - ref[c]));
      scale = fmax(scale, fabs(ref[c]));
    }
  }
  free(a);
  free(s);
  free(ref);
  return worst / scale;
}

/* Each norm, with n_ref = n (fresh) and n_ref < n (grown): float32 against float64 through
 * two products of length <= 24 and a normalisation: a few 1e-7, bound 1e-5. */
START_TEST(forward_matches_float64_formula) {
  for (int norm = 0; norm < 3; norm++)
    for (int grown = 0; grown < 2; grown++) {
      struct prob *p = prob_new(9, 12, grown ? 8 : 12, 7, 5, norm, 10 + norm);
      double e = forward_error(p);
      ck_assert_msg(e < 1e-5, "%s n_ref %d: error %.3g", norm_names[norm], p->s.n_ref, e);
      prob_free(p);
    }
}
END_TEST

/* beta = 1 adds the Pattention's output to what out held (the residual stream). */
START_TEST(forward_with_beta_one_adds_to_out) {
  struct prob *p = prob_new(5, 6, 6, 4, 3, TF_NORM_L2_GELU, 3);
  prob_forward(p);
  float *once = zalloc(15);
  memcpy(once, p->out, sizeof(float) * 15);
  for (int i = 0; i < 15; i++) p->out[i] = (float)i;
  tf_pattn_forward(&p->s, p->out, 1.0f, p->cache, p->rnorm, p->scratch, p->x, p->key, p->value);
  for (int i = 0; i < 15; i++) ck_assert_float_eq_tol(p->out[i], once[i] + (float)i, 1e-5);
  free(once);
  prob_free(p);
}
END_TEST

/* ---------------------------------------------------------------- backward */

/* Central differences in float32 with h = 1e-2 on inputs of size ~1: truncation error
 * O(h^2) and round-off of L (float outputs) over 2h are both ~1e-4 of the largest gradient
 * (measured worst 1.8e-4 here; h = 3e-2 gives 1.6e-3 from truncation alone). A wrong term
 * shows up at 1e-2 or more, so 2e-3 separates the two. */
#define FD_H   1e-2f
#define FD_TOL 2e-3

static void check_all_gradients(struct prob *p, const char *what) {
  prob_backward(p);
  struct {
    const char *name;
    float *x, *g;
    size_t n;
  } t[3] = {{"x", p->x, p->dx, (size_t)p->s.rows * p->s.d_in},
            {"key", p->key, p->dkey, (size_t)p->s.n * p->s.d_in},
            {"value", p->value, p->dvalue, (size_t)p->s.n * p->s.d_out}};
  for (int k = 0; k < 3; k++) {
    double e = fd_check(prob_loss, p, t[k].x, t[k].g, t[k].n, FD_H, 400);
    ck_assert_msg(e < FD_TOL, "%s: d%s off by %.3g of its largest entry", what, t[k].name, e);
  }
}

START_TEST(backward_matches_finite_differences) {
  int norm = _i / 2, grown = _i % 2;
  struct prob *p = prob_new(9, 12, grown ? 8 : 12, 7, 5, norm, 20 + _i);
  char what[64];
  snprintf(what, sizeof what, "%s n=12 n_ref=%d", norm_names[norm], p->s.n_ref);
  check_all_gradients(p, what);
  prob_free(p);
}
END_TEST

/* docs/model.md §1.3, l2_norm_gelu: dA_i is orthogonal to A_i, so sum_j <dK_j, K_j> = 0 and
 * <dX_i, X_i> = 0. Each is a sum of products of float32 results whose own error is ~1e-6 of
 * the magnitudes, so they must vanish to 1e-5 of sum |dK_j| |K_j| and |dX_i| |X_i|. */
START_TEST(l2_norm_gelu_gradients_are_orthogonal) {
  struct prob *p = prob_new(11, 16, 16, 8, 6, TF_NORM_L2_GELU, 7);
  prob_backward(p);
  int di = p->s.d_in;
  double sum = 0, mag = 0;
  for (int j = 0; j < p->s.n; j++) {
    const float *k = p->key + j * di, *g = p->dkey + j * di;
    sum += fd_dot(k, g, di);
    mag += sqrt(fd_dot(k, k, di) * fd_dot(g, g, di));
  }
  ck_assert_msg(fabs(sum) < 1e-5 * mag, "sum <dK, K> = %.3g of %.3g", sum, mag);
  for (int i = 0; i < p->s.rows; i++) {
    const float *x = p->x + i * di, *g = p->dx + i * di;
    double dot = fd_dot(x, g, di), m = sqrt(fd_dot(x, x, di) * fd_dot(g, g, di));
    ck_assert_msg(fabs(dot) < 1e-5 * m, "row %d: <dX, X> = %.3g of %.3g", i, dot, m);
  }
  prob_free(p);
}
END_TEST

/* Rows on both sides of TF_CDF_CENTRAL (GELU takes tf_cdf_central for a row whose |z| stay
 * within it, tf_normal for the others): key 0 is scaled by 10 and rows 3-7 of x get a
 * component of +-2 |k0| along it, so their z_0 is about 6.1 (l2_norm_gelu) or their a_0 about
 * +-19 (gelu_l2_norm); rows 0-2 are made orthogonal to it and stay within (max |z| 2.2). The
 * test counts both kinds of row through a float64 z, then checks the forward and every
 * gradient. */
START_TEST(rows_beyond_the_central_range) {
  enum tf_norm norm = _i;
  int R = 8, n = 40, di = 7;
  struct prob *p = prob_new(R, n, n, di, 5, norm, 31);
  float *k0 = p->key;
  for (int c = 0; c < di; c++) k0[c] *= 10.0f;
  for (int i = 0; i < R; i++) { /* x_i along k0: 0 for rows 0-2, +-2 |k0| for the others */
    float *x = p->x + i * di;
    double kk = fd_dot(k0, k0, di), f = fd_dot(x, k0, di) / kk;
    double want = i < 3 ? 0.0 : (i % 2 ? 2.0 : -2.0) / sqrt(kk);
    for (int c = 0; c < di; c++) x[c] += (float)((want - f) * k0[c]);
  }
  int central = 0;
  for (int i = 0; i < R; i++) {
    double a[40], ss = 0, mx = 0;
    for (int j = 0; j < n; j++) {
      a[j] = fd_dot(p->x + i * di, p->key + j * di, di);
      ss += a[j] * a[j];
    }
    double k = norm == TF_NORM_L2_GELU ? sqrt((double)n) / sqrt(ss) : 1.0;
    for (int j = 0; j < n; j++) mx = fmax(mx, fabs(k * a[j]));
    central += mx <= TF_CDF_CENTRAL;
  }
  ck_assert_msg(central > 0 && central < R, "%s: %d of %d rows central", norm_names[norm], central,
                R);
  double e = forward_error(p);
  ck_assert_msg(e < 1e-5, "%s: forward error %.3g", norm_names[norm], e);
  check_all_gradients(p, norm_names[norm]);
  prob_free(p);
}
END_TEST

static int all_finite(const float *x, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (!isfinite(x[i])) return 0;
  return 1;
}

/* A zero row of X makes a zero row of scores: the guard max(|A_i|, 1e-5) keeps the output and
 * every gradient finite, for every norm. */
START_TEST(zero_row_stays_finite) {
  struct prob *p = prob_new(6, 8, 8, 5, 4, _i, 5);
  memset(p->x + 2 * 5, 0, 5 * sizeof(float));
  prob_backward(p);
  ck_assert(all_finite(p->out, 6 * 4));
  ck_assert(all_finite(p->dx, 6 * 5));
  ck_assert(all_finite(p->dkey, 8 * 5));
  ck_assert(all_finite(p->dvalue, 8 * 4));
  prob_free(p);
}
END_TEST

/* Parameter gradients accumulate (two backward passes give twice one); dx obeys beta_dx. */
START_TEST(gradients_accumulate) {
  struct prob *p = prob_new(5, 6, 6, 4, 3, TF_NORM_L2_GELU, 9);
  prob_backward(p);
  float dk[24], dv[18], dx[20];
  memcpy(dk, p->dkey, sizeof dk);
  memcpy(dv, p->dvalue, sizeof dv);
  memcpy(dx, p->dx, sizeof dx);
  tf_pattn_backward(&p->s, p->dx, 1.0f, p->dkey, p->dvalue, p->scratch, p->w, p->cache, p->rnorm,
                    p->x, p->key, p->value);
  for (int i = 0; i < 24; i++) ck_assert_float_eq_tol(p->dkey[i], 2 * dk[i], 1e-6);
  for (int i = 0; i < 18; i++) ck_assert_float_eq_tol(p->dvalue[i], 2 * dv[i], 1e-6);
  for (int i = 0; i < 20; i++) ck_assert_float_eq_tol(p->dx[i], 2 * dx[i], 1e-6);
  prob_free(p);
}
END_TEST

static Suite *pattn_suite(void) {
  Suite *s = suite_create("pattn");
  TCase *tc = tcase_create("special");
  tcase_set_timeout(tc, 60); /* slow only when the cores are shared */
  tcase_add_test(tc, normal_cdf_and_pdf_match_libm);
  tcase_add_test(tc, central_cdf_matches_libm);
  tcase_add_test(tc, exp_matches_libm_below_zero);
  suite_add_tcase(s, tc);
  tc = tcase_create("forward");
  tcase_set_timeout(tc, 60);
  tcase_add_test(tc, forward_matches_float64_formula);
  tcase_add_test(tc, forward_with_beta_one_adds_to_out);
  suite_add_tcase(s, tc);
  tc = tcase_create("backward");
  tcase_set_timeout(tc, 60);
  tcase_add_loop_test(tc, backward_matches_finite_differences, 0, 6);
  tcase_add_test(tc, l2_norm_gelu_gradients_are_orthogonal);
  tcase_add_loop_test(tc, zero_row_stays_finite, 0, 3);
  tcase_add_test(tc, gradients_accumulate);
  tcase_add_loop_test(tc, rows_beyond_the_central_range, 0, 2);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  return tf_test_run(pattn_suite());
}
