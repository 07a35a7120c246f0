/* pattn.c: Pattention forward and backward for its three normalisations (docs/model.md §1.2-§1.3).
 * Growing a layer (new parameter tokens) is not here. */
#include <math.h>

#include "kernels.h"
#include "quant.h"
#include "gemm.h"

/* Whether max_j |k a_j| <= TF_CDF_CENTRAL over a row of n (k > 0). */
static int row_central(const float *a, int n, float k) {
  float mx = 0.0f;
#pragma omp simd reduction(max : mx)
  for (int j = 0; j < n; j++) {
    float v = fabsf(a[j]);
    mx = v > mx ? v : mx;
  }
  return mx * k <= TF_CDF_CENTRAL;
}

/* g_j = GELU(z_j) = z_j cdf(z_j) at z_j = k a_j over a row of n and, if with_dg, dg_j *=
 * GELU'(z_j) = cdf + z pdf. A row whose |z| all stay within TF_CDF_CENTRAL takes
 * tf_cdf_central (where z = tau a / |a| has rms 1, as in l2_norm_gelu, nearly every row
 * does); the others tf_normal, whose relative accuracy also holds in the far tail. with_dg is
 * a constant at each call (gelu_row): a store under a condition inside the loop vectorises only
 * with AVX-512's masked stores, and an AVX2 build ran these loops scalar. */
static inline __attribute__((always_inline)) void gelu_row_as(const float *a, float k, int n,
                                                              float *g, float *dg, int with_dg) {
  if (row_central(a, n, k)) {
#pragma omp simd
    for (int j = 0; j < n; j++) {
      float z = a[j] * k, cdf = tf_cdf_central(z);
      g[j] = z * cdf;
      if (with_dg) dg[j] *= fmaf(z, 0.398942280f * tf_exp_neg(-0.5f * z * z, 0.0f), cdf);
    }
    return;
  }
#pragma omp simd
  for (int j = 0; j < n; j++) {
    float z = a[j] * k, cdf, pdf;
    tf_normal(z, &cdf, &pdf);
    g[j] = z * cdf;
    if (with_dg) dg[j] *= fmaf(z, pdf, cdf);
  }
}

/* gelu_row_as with dg when dg is not NULL. */
static void gelu_row(const float *a, float k, int n, float *g, float *dg) {
  if (dg)
    gelu_row_as(a, k, n, g, dg, 1);
  else
    gelu_row_as(a, k, n, g, NULL, 0);
}

/* l2_norm_gelu, one row:  r = |a|;  z = tau a / max(r, eps);  s = GELU(z) = z cdf(z). a is
 * kept (the backward recomputes z from it and r: one product, where keeping z would cost a
 * write of the whole row). */
static void l2_gelu_row(const float *a, float *s, float *rnorm, float tau, int n) {
  float r = (float)sqrt(tf_row_dot(a, a, n));
  gelu_row(a, tau / fmaxf(r, TF_PATTN_EPS), n, s, NULL);
  *rnorm = r;
}

/* gelu_l2_norm, one row:  g = GELU(a);  q = |g|;  s = tau g / max(q, eps). a is kept. */
static void gelu_l2_row(const float *a, float *s, float *qnorm, float tau, int n) {
  gelu_row(a, 1.0f, n, s, NULL);
  float q = (float)sqrt(tf_row_dot(s, s, n));
  float k = tau / fmaxf(q, TF_PATTN_EPS);
#pragma omp simd
  for (int j = 0; j < n; j++) s[j] *= k;
  *qnorm = q;
}

float *tf_pattn_theta_row(enum tf_norm norm, float *a, float *s, float *rnorm, float tau, int n_ref,
                          int n) {
  if (norm == TF_NORM_L2_GELU) {
    l2_gelu_row(a, s, rnorm, tau, n);
    return s;
  }
  if (norm == TF_NORM_GELU_L2) {
    gelu_l2_row(a, s, rnorm, tau, n);
    return s;
  }
  /* softmax x n_ref. The official code exponentiates without the max; the result is the
   * same where it does not overflow. */
  tf_softmax_row(a, (float)n_ref, n);
  return a;
}

int tf_pattn_row_stride(int n) {
  return n % 512 == 0 ? n + 16 : n;
}

int tf_pattn_ld_max(const struct tf_model_config *c) {
  int ld = 0;
  for (int k = 0; k < TF_NKINDS; k++) {
    int s = tf_pattn_row_stride(c->tokens[k]);
    ld = s > ld ? s : ld;
  }
  return ld;
}

static int pattn_ld(const struct tf_pattn_shape *p) {
  return p->ld > p->n ? p->ld : p->n;
}

/* S = Theta(A) row by row, A in cache; returns S (cache or scratch). */
static const float *theta_rows(const struct tf_pattn_shape *p, float *cache, float *rnorm,
                               float *scratch) {
  int R = p->rows, n = p->n, ld = pattn_ld(p);
  float tau = sqrtf((float)p->n_ref);
#pragma omp parallel for schedule(static) if (tf_par((size_t)R * n))
  for (int i = 0; i < R; i++) {
    size_t o = (size_t)i * ld;
    tf_pattn_theta_row(p->norm, cache + o, scratch + o, rnorm + i, tau, p->n_ref, n);
  }
  return p->norm == TF_NORM_SOFTMAX ? cache : scratch;
}

/* Pattention: A = x key^T;  S = Theta(A) row by row;  out = S value + beta out. */
void tf_pattn_forward(const struct tf_pattn_shape *p, float *out, float beta, float *cache,
                      float *rnorm, float *scratch, const float *x, const float *key,
                      const float *value) {
  int R = p->rows, n = p->n, ld = pattn_ld(p);
  tf_gemm(0, 1, R, n, p->d_in, 1.0f, x, p->d_in, key, p->d_in, 0.0f, cache, ld);
  const float *S = theta_rows(p, cache, rnorm, scratch);
  tf_gemm(0, 0, R, p->d_out, n, 1.0f, S, ld, value, p->d_out, beta, out, p->d_out);
}

/* The same over converted weights, P parameter tokens at a time: rows [r0, r0 + P) of key
 * dequantized into panel, A[:, r0 .. r0 + P) = x panel^T; then S; then per panel of value
 * rows out = S[:, r0 .. r0 + P) panel + (beta for the first panel, 1 after) out. */
void tf_pattn_forward_q(const struct tf_pattn_shape *p, float *out, float beta, float *cache,
                        float *rnorm, float *scratch, const float *x, const struct tf_qmat *key,
                        const struct tf_qmat *value, float *panel, int P) {
  int R = p->rows, n = p->n, ld = pattn_ld(p);
  for (int r0 = 0; r0 < n; r0 += P) {
    int k = n - r0 < P ? n - r0 : P;
#pragma omp parallel if (tf_par((size_t)k * p->d_in))
    tf_qmat_panel_ws(panel, key, r0, k);
    tf_gemm(0, 1, R, k, p->d_in, 1.0f, x, p->d_in, panel, p->d_in, 0.0f, cache + r0, ld);
  }
  const float *S = theta_rows(p, cache, rnorm, scratch);
  for (int r0 = 0; r0 < n; r0 += P) {
    int k = n - r0 < P ? n - r0 : P;
#pragma omp parallel if (tf_par((size_t)k * p->d_out))
    tf_qmat_panel_ws(panel, value, r0, k);
    tf_gemm(0, 0, R, p->d_out, k, 1.0f, S + r0, ld, panel, p->d_out, r0 ? 1.0f : beta, out,
            p->d_out);
  }
}

/* l2_norm_gelu backward, one row (docs/model.md §1.3), z = k a with k = tau / max(r, eps),
 * U = z / tau:  dz = ds GELU'(z);  da = k (dz - <dz, U> U), the projection dropped when r <= eps
 * (the row was scaled linearly). ds becomes da; s gets GELU(z) for dvalue. */
static void l2_gelu_row_backward(float *ds, float *s, const float *a, float r, float tau, int n) {
  float k = tau / fmaxf(r, TF_PATTN_EPS);
  gelu_row(a, k, n, s, ds);
  double dot = 0;
#pragma omp simd reduction(+ : dot)
  for (int j = 0; j < n; j++) dot += (double)ds[j] * (a[j] * k);
  float proj = r > TF_PATTN_EPS ? (float)(dot / ((double)tau * tau)) : 0.0f;
#pragma omp simd
  for (int j = 0; j < n; j++) ds[j] = k * fmaf(-proj, a[j] * k, ds[j]);
}

/* gelu_l2_norm backward, one row:  g = GELU(a), ghat = g / q;
 * dg = (tau / max(q, eps)) (ds - <ds, ghat> ghat);  da = dg GELU'(a). */
static void gelu_l2_row_backward(float *ds, float *s, const float *a, float q, float tau, int n) {
  float k = tau / fmaxf(q, TF_PATTN_EPS);
  double dot = 0;
#pragma omp simd reduction(+ : dot)
  for (int j = 0; j < n; j++) {
    float cdf, pdf;
    tf_normal(a[j], &cdf, &pdf);
    float g = a[j] * cdf;
    s[j] = k * g;
    dot += (double)ds[j] * g;
  }
  float proj = q > TF_PATTN_EPS ? (float)(dot / ((double)q * q)) : 0.0f;
#pragma omp simd
  for (int j = 0; j < n; j++) {
    float cdf, pdf;
    tf_normal(a[j], &cdf, &pdf);
    ds[j] = k * fmaf(-proj, a[j] * cdf, ds[j]) * fmaf(a[j], pdf, cdf);
  }
}

/* softmax backward, one row, S = m P:  da = S (ds - <ds, S> / m). */
static void softmax_row_backward(float *ds, const float *s, float mult, int n) {
  float c = (float)(tf_row_dot(ds, s, n) / mult);
#pragma omp simd
  for (int j = 0; j < n; j++) ds[j] = s[j] * (ds[j] - c);
}

/* dS = dout value^T;  dA row by row;  dvalue += S^T dout;  dx = dA key + beta dx;
 * dkey += dA^T x. */
void tf_pattn_backward(const struct tf_pattn_shape *p, float *dx, float beta_dx, float *dkey,
                       float *dvalue, float *scratch, const float *dout, const float *cache,
                       const float *rnorm, const float *x, const float *key, const float *value) {
  int R = p->rows, n = p->n, ld = pattn_ld(p);
  float tau = sqrtf((float)p->n_ref);
  float *ds = scratch, *s = scratch + (size_t)R * ld;
  tf_gemm(0, 1, R, n, p->d_out, 1.0f, dout, p->d_out, value, p->d_out, 0.0f, ds, ld);
#pragma omp parallel for schedule(static) if (tf_par((size_t)R * n))
  for (int i = 0; i < R; i++) {
    size_t o = (size_t)i * ld;
    if (p->norm == TF_NORM_L2_GELU)
      l2_gelu_row_backward(ds + o, s + o, cache + o, rnorm[i], tau, n);
    else if (p->norm == TF_NORM_GELU_L2)
      gelu_l2_row_backward(ds + o, s + o, cache + o, rnorm[i], tau, n);
    else
      softmax_row_backward(ds + o, cache + o, (float)p->n_ref, n);
  }
  const float *S = p->norm == TF_NORM_SOFTMAX ? cache : s;
  tf_gemm(1, 0, n, p->d_out, R, 1.0f, S, ld, dout, p->d_out, 1.0f, dvalue, p->d_out);
  tf_gemm(0, 0, R, p->d_in, n, 1.0f, ds, ld, key, p->d_in, beta_dx, dx, p->d_in);
  tf_gemm(1, 0, n, p->d_in, R, 1.0f, ds, ld, x, p->d_in, 1.0f, dkey, p->d_in);
}
