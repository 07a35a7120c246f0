/* ops.c: LayerNorms, embedding, tied output head and softmax cross-entropy, forward and
 * backward. Pattention and attention live in pattn.c and attn.c. */
#include <math.h>

#include "kernels.h"
#include "gemm.h"

/* Channels per block when rows are reduced into per-channel sums (dw, db, dE): each thread
 * owns whole blocks of channels, so the sums are the same for any thread count. */
#define CHAN_BLOCK 64

/* Mean and 1 / sqrt(biased variance + eps) of one row, both passes in double. */
static void row_moments(const float *x, int d, float *mean, float *rstd) {
  double mu = tf_row_sum(x, d) / d, var = 0;
#pragma omp simd reduction(+ : var)
  for (int j = 0; j < d; j++) var += ((double)x[j] - mu) * ((double)x[j] - mu);
  *mean = (float)mu;
  *rstd = (float)(1.0 / sqrt(var / d + TF_LN_EPS));
}

/* LayerNorm backward through xhat for one row:  dx += rstd (g - mean(g) - xhat mean(g xhat)).
 * xhat is given directly (y of the non-parametric norm) or rebuilt from x, mean, rstd. */
static void ln_row_backward(float *dx, const float *g, const float *xhat, float rstd, int d) {
  float mg = (float)(tf_row_sum(g, d) / d), mgx = (float)(tf_row_dot(g, xhat, d) / d);
#pragma omp simd
  for (int j = 0; j < d; j++) dx[j] += rstd * (g[j] - mg - xhat[j] * mgx);
}

/* y = (x - mean) * rstd. */
void tf_layernorm_row(float *y, float *rstd, const float *x, int d) {
  float mean;
  row_moments(x, d, &mean, rstd);
  float s = *rstd;
#pragma omp simd
  for (int j = 0; j < d; j++) y[j] = (x[j] - mean) * s;
}

void tf_layernorm_forward(float *y, float *rstd, const float *x, int R, int d) {
#pragma omp parallel for schedule(static) if (tf_par((size_t)R * d))
  for (int i = 0; i < R; i++) tf_layernorm_row(y + (size_t)i * d, rstd + i, x + (size_t)i * d, d);
}

void tf_layernorm_backward(float *dx, const float *dy, const float *y, const float *rstd, int R,
                           int d) {
#pragma omp parallel for schedule(static) if (tf_par((size_t)R * d))
  for (int i = 0; i < R; i++) {
    size_t o = (size_t)i * d;
    ln_row_backward(dx + o, dy + o, y + o, rstd[i], d);
  }
}

/* y = xhat w + b. */
void tf_layernorm_affine_forward(float *y, float *mean, float *rstd, const float *x, const float *w,
                                 const float *b, int R, int d) {
#pragma omp parallel for schedule(static) if (tf_par((size_t)R * d))
  for (int i = 0; i < R; i++) {
    const float *xi = x + (size_t)i * d;
    float *yi = y + (size_t)i * d;
    row_moments(xi, d, mean + i, rstd + i);
    float m = mean[i], s = rstd[i];
#pragma omp simd
    for (int j = 0; j < d; j++) yi[j] = (xi[j] - m) * s * w[j] + b[j];
  }
}

/* dw, db: per-channel sums over rows, in double, one channel block per thread. */
static void ln_affine_param_grads(float *dw, float *db, const float *dy, const float *x,
                                  const float *mean, const float *rstd, int R, int d) {
  int nblk = (d + CHAN_BLOCK - 1) / CHAN_BLOCK;
#pragma omp parallel for schedule(static) if (tf_par((size_t)R * d))
  for (int bk = 0; bk < nblk; bk++) {
    int c0 = bk * CHAN_BLOCK, nc = d - c0 < CHAN_BLOCK ? d - c0 : CHAN_BLOCK;
    double sw[CHAN_BLOCK] = {0}, sb[CHAN_BLOCK] = {0};
    for (int i = 0; i < R; i++) {
      const float *g = dy + (size_t)i * d + c0, *xi = x + (size_t)i * d + c0;
      float m = mean[i], s = rstd[i];
#pragma omp simd
      for (int j = 0; j < nc; j++) {
        sw[j] += (double)g[j] * ((xi[j] - m) * s);
        sb[j] += g[j];
      }
    }
    for (int j = 0; j < nc; j++) {
      dw[c0 + j] += (float)sw[j];
      db[c0 + j] += (float)sb[j];
    }
  }
}

/* One row of the affine backward, g = dy w and xhat = (x - mean) rstd formed on the fly. */
static void ln_affine_row_backward(float *dx, const float *dy, const float *x, const float *w,
                                   float m, float s, int d) {
  double sg = 0, sgx = 0;
#pragma omp simd reduction(+ : sg, sgx)
  for (int j = 0; j < d; j++) {
    float g = dy[j] * w[j];
    sg += g;
    sgx += (double)g * ((x[j] - m) * s);
  }
  float mg = (float)(sg / d), mgx = (float)(sgx / d);
#pragma omp simd
  for (int j = 0; j < d; j++) dx[j] += s * (dy[j] * w[j] - mg - (x[j] - m) * s * mgx);
}

void tf_layernorm_affine_backward(float *dx, float *dw, float *db, const float *dy, const float *x,
                                  const float *mean, const float *rstd, const float *w, int R,
                                  int d) {
#pragma omp parallel for schedule(static) if (tf_par((size_t)R * d))
  for (int i = 0; i < R; i++) {
    size_t o = (size_t)i * d;
    ln_affine_row_backward(dx + o, dy + o, x + o, w, mean[i], rstd[i], d);
  }
  ln_affine_param_grads(dw, db, dy, x, mean, rstd, R, d);
}

/* out[i] = E[tok[i]]. */
void tf_embed_forward(float *out, const int32_t *tok, const float *E, int R, int d) {
#pragma omp parallel for schedule(static) if (tf_par((size_t)R * d))
  for (int i = 0; i < R; i++) {
    const float *e = E + (size_t)tok[i] * d;
    float *o = out + (size_t)i * d;
#pragma omp simd
    for (int j = 0; j < d; j++) o[j] = e[j];
  }
}

/* dE[tok[i]] += dout[i], rows in order within each channel block. */
void tf_embed_backward(float *dE, const int32_t *tok, const float *dout, int R, int d) {
  int nblk = (d + CHAN_BLOCK - 1) / CHAN_BLOCK;
#pragma omp parallel for schedule(static) if (tf_par((size_t)R * d))
  for (int bk = 0; bk < nblk; bk++) {
    int c0 = bk * CHAN_BLOCK, nc = d - c0 < CHAN_BLOCK ? d - c0 : CHAN_BLOCK;
    for (int i = 0; i < R; i++) {
      float *e = dE + (size_t)tok[i] * d + c0;
      const float *g = dout + (size_t)i * d + c0;
#pragma omp simd
      for (int j = 0; j < nc; j++) e[j] += g[j];
    }
  }
}

/* logits = y E^T. */
void tf_head_forward(float *logits, const float *y, const float *E, int R, int V, int d) {
  tf_gemm(0, 1, R, V, d, 1.0f, y, d, E, d, 0.0f, logits, V);
}

/* dy = dlogits E;  dE += dlogits^T y. */
void tf_head_backward(float *dy, float *dE, const float *dlogits, const float *y, const float *E,
                      int R, int V, int d) {
  tf_gemm(0, 0, R, d, V, 1.0f, dlogits, V, E, d, 0.0f, dy, d);
  tf_gemm(1, 0, V, d, R, 1.0f, dlogits, V, y, d, 1.0f, dE, d);
}

/* log sum_j exp(l_j) = max + log sum_j exp(l_j - max), the sum in double. */
static float row_logsumexp(const float *l, int n) {
  float mx = tf_row_max(l, n);
  double sum = 0;
#pragma omp simd reduction(+ : sum)
  for (int j = 0; j < n; j++) sum += tf_exp_neg(l[j] - mx, 0.0f);
  return mx + (float)log(sum);
}

float tf_crossentropy_forward(float *losses, float *lse, const float *logits,
                              const int32_t *targets, int R, int V) {
#pragma omp parallel for schedule(static) if (tf_par((size_t)R * V))
  for (int i = 0; i < R; i++) {
    const float *l = logits + (size_t)i * V;
    lse[i] = row_logsumexp(l, V);
    losses[i] = lse[i] - l[targets[i]];
  }
  return (float)(tf_row_sum(losses, R) / R);
}

/* dlogits_ij = (exp(l_ij - lse_i) - [j == target_i]) * scale. */
void tf_crossentropy_backward(float *dlogits, const float *logits, const float *lse,
                              const int32_t *targets, float scale, int R, int V) {
#pragma omp parallel for schedule(static) if (tf_par((size_t)R * V))
  for (int i = 0; i < R; i++) {
    const float *l = logits + (size_t)i * V;
    float *g = dlogits + (size_t)i * V, m = lse[i];
#pragma omp simd
    for (int j = 0; j < V; j++) g[j] = tf_exp_neg(l[j] - m, 0.0f) * scale;
    g[targets[i]] -= scale;
  }
}
