/* kernels.h: forward and backward of every layer (Pattention, LayerNorm, embedding, head,
 * cross-entropy, RoPE, attention) on caller buffers. Internal to the library; no allocation. */
#ifndef TF_KERNELS_H
#define TF_KERNELS_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>

#include "tokenformer.h"

/* Dimensions: R = rows (tokens, B*T flattened), n = parameter tokens of one Pattention,
 * d = channels, V = vocab, B = batch, T = sequence, H = heads, dh = d / H, r = rotary channels.
 * Gradients of parameters are accumulated (+=): the caller zeroes them once per step. */

/* Loops over less work than this (in elements) run on one thread: starting a team of threads
 * costs microseconds, more than small models spend in a whole row pass. */
#define TF_PAR_MIN 32768
static inline int tf_par(size_t work) {
  return work >= TF_PAR_MIN;
}

/* ---------------------------------------------------------------- special functions */

/* tf_exp_neg and tf_normal replace libm's expf and erff in the row loops: they vectorise under
 * #pragma omp simd (no calls, no branches; float bits through a union) and are about as
 * accurate. */
static inline __attribute__((always_inline)) float tf_bits_float(int32_t i) {
  union {
    int32_t i;
    float f;
  } u = {.i = i};
  return u.f;
}

/* exp(hi + lo) for hi <= 0 and |lo| << 1; 0 when hi < -87 (the true value is < 2e-38).
 * Cody-Waite reduction hi = k ln2 + r, then a degree-6 polynomial fitted for |r| <= ln2/2
 * (relative error 3e-9 before float rounding). lo joins r after the reduction, so a caller can
 * pass the rounding error of hi and get exp of the exact sum. */
static inline __attribute__((always_inline)) float tf_exp_neg(float hi, float lo) {
  float x = hi < -87.0f ? -87.0f : hi; /* not fmaxf: GCC does not vectorise it; NaN stays */
  float k = (x * 1.44269504f + 12582912.0f) - 12582912.0f; /* round(x / ln2) */
  float r = fmaf(-k, 0.693145751953125f, x);               /* ln2 high part: exact product */
  r = fmaf(-k, 1.42860677e-06f, r) + lo;                   /* ln2 low part */
  float p = fmaf(r, 1.3814610263e-03f, 8.3687103701e-03f);
  p = fmaf(p, r, 4.1668387443e-02f);
  p = fmaf(p, r, 1.6666520685e-01f);
  p = fmaf(p, r, 4.9999993451e-01f);
  p = fmaf(p, r * r, r + 1.0f);
  /* unsigned shift: a NaN input (a diverging run) must give NaN, not undefined behaviour */
  float scale = tf_bits_float((int32_t)(((uint32_t)(int32_t)k + 127u) << 23));
  return p * scale * (float)(hi >= -87.0f); /* a mask product: a select would not vectorise */
}

/* The standard normal distribution: cdf(z) = (1 + erf(z / sqrt 2)) / 2 and pdf(z).
 * With u = |z|: cdf(-u) = exp(-u^2/2) m(u), where m(u) = t P(t), t = 1 / (1 + 0.3 u) and P of
 * degree 9 is fitted to relative error 3.4e-9 on u in [0, 13.3]; cdf(u) = 1 - cdf(-u). u^2 is
 * split into its float value and rounding error so exp(-u^2/2) keeps full relative accuracy.
 * Relative error of cdf below 4.3e-7, pdf 2e-7 (tests/unit/test_pattn.c measures both). */
static inline __attribute__((always_inline)) void tf_normal(float z, float *cdf, float *pdf) {
  float u = fabsf(z), zz = z * z;
  float e = tf_exp_neg(-0.5f * zz, -0.5f * fmaf(z, z, -zz));
  float t = 1.0f / fmaf(0.3f, u, 1.0f);
  float p = fmaf(t, -2.0594619650e-02f, 1.1227326700e-01f);
  p = fmaf(p, t, -2.2781693775e-01f);
  p = fmaf(p, t, 1.9123331476e-01f);
  p = fmaf(p, t, -7.8944366994e-02f);
  p = fmaf(p, t, 9.5887248930e-02f);
  p = fmaf(p, t, 7.8487614314e-02f);
  p = fmaf(p, t, 1.1021330654e-01f);
  p = fmaf(p, t, 1.1957462937e-01f);
  p = fmaf(p, t, 1.1968654177e-01f);
  float tail = e * (t * p);
  *cdf = z < 0.0f ? tail : 1.0f - tail;
  *pdf = e * 0.398942280f; /* 1 / sqrt(2 pi) */
}

/* cdf(z) for |z| <= TF_CDF_CENTRAL, without exp or division (about a third of tf_normal's
 * work): cdf(z) = 1/2 + z P(t), t = z^2 / 8 - 1 in [-1, 1], P of degree 12 fitted to absolute
 * error 2.2e-9 on that range; below 1e-7 in float (tests/unit/test_pattn.c). Absolute, not
 * relative, accuracy: towards z = -4 cdf is small and its relative error grows (to ~3e-3),
 * as it does in the float (1 + erf(z / sqrt 2)) / 2 of PyTorch's GELU. */
#define TF_CDF_CENTRAL 4.0f
static inline __attribute__((always_inline)) float tf_cdf_central(float z) {
  float t = fmaf(z * z, 0.125f, -1.0f);
  float p = fmaf(t, 1.6259683915e-05f, -6.2067234868e-05f);
  p = fmaf(p, t, 1.5153045952e-04f);
  p = fmaf(p, t, -4.2054987209e-04f);
  p = fmaf(p, t, 1.1591333045e-03f);
  p = fmaf(p, t, -2.8315998636e-03f);
  p = fmaf(p, t, 6.2384548463e-03f);
  p = fmaf(p, t, -1.2469822111e-02f);
  p = fmaf(p, t, 2.2517780670e-02f);
  p = fmaf(p, t, -3.6869612397e-02f);
  p = fmaf(p, t, 5.5934234673e-02f);
  p = fmaf(p, t, -8.4321439796e-02f);
  p = fmaf(p, t, 1.7594978038e-01f);
  return fmaf(z, p, 0.5f);
}

/* Row reductions, in double so comparisons with a float64 reference hold at 1e-4. */
static inline double tf_row_sum(const float *a, int n) {
  double s = 0;
#pragma omp simd reduction(+ : s)
  for (int j = 0; j < n; j++) s += a[j];
  return s;
}

static inline double tf_row_dot(const float *a, const float *b, int n) {
  double s = 0;
#pragma omp simd reduction(+ : s)
  for (int j = 0; j < n; j++) s += (double)a[j] * b[j];
  return s;
}

static inline float tf_row_max(const float *a, int n) {
  float mx = a[0];
#pragma omp simd reduction(max : mx)
  for (int j = 1; j < n; j++) mx = a[j] > mx ? a[j] : mx;
  return mx;
}

/* p = mult exp(p - max p) / sum exp(p - max p) over n entries in place, the sum in double. */
static inline void tf_softmax_row(float *p, float mult, int n) {
  float mx = tf_row_max(p, n);
  double sum = 0;
#pragma omp simd reduction(+ : sum)
  for (int j = 0; j < n; j++) {
    p[j] = tf_exp_neg(p[j] - mx, 0.0f);
    sum += p[j];
  }
  float k = (float)(mult / sum);
#pragma omp simd
  for (int j = 0; j < n; j++) p[j] *= k;
}

/* ---------------------------------------------------------------- pattn */

/* One Pattention layer: x (R, d_in), key (n, d_in), value (n, d_out), out (R, d_out).
 * tau = sqrt(n_ref); n_ref equals n in a fresh model and keeps the old n after growth, which
 * makes growth with zero keys exact (docs/model.md §6.1). */
struct tf_pattn_shape {
  int rows;  /* R */
  int n;     /* parameter tokens */
  int n_ref; /* tau = sqrt(n_ref); softmax multiplies by n_ref, not n (equal when fresh;
              * after growth, new keys far below the old ones then leave the output as it
              * was, the closest softmax gets to exact growth) */
  int d_in, d_out;
  enum tf_norm norm;
  int ld; /* row stride of cache and scratch, at least n (0: n) */
};

/* A row stride for (R, n) score arrays: n, or n + 16 when n is a multiple of 512. Rows 2 KiB
 * apart (or a multiple of that) fall on few cache sets, and the parameter gradients read these
 * arrays down their columns (dA^T x): at n = 1024 that product, timed alone, ran ~5 % faster
 * padded (~3 % inside a training step). */
int tf_pattn_row_stride(int n);
/* The widest of those strides over a model's three kinds of Pattention. */
int tf_pattn_ld_max(const struct tf_model_config *c);

/* Row norms below this count as this (docs/model.md §1.2: Z = tau A / max(|A_i|, eps)). */
#define TF_PATTN_EPS 1e-5f

/* Theta of one row of scores a (n), docs/model.md §1.2, tau = sqrt(n_ref). Returns the row S: s for
 * the GELU forms (a then keeps what the backward needs, as the cache below), a itself for
 * softmax; *rnorm gets the row norm (unset for softmax). */
float *tf_pattn_theta_row(enum tf_norm norm, float *a, float *s, float *rnorm, float tau, int n_ref,
                          int n);

/* out = Theta(x key^T) value + beta out. Rows of cache and scratch are p->ld apart.
 * cache (R, ld) keeps what backward needs: A for the GELU forms, S for softmax; rnorm (R) the row
 * norm |A_i| (l2_norm_gelu) or |GELU(A_i)| (gelu_l2_norm); scratch (R, ld) is overwritten. */
void tf_pattn_forward(const struct tf_pattn_shape *p, float *out, float beta, float *cache,
                      float *rnorm, float *scratch, const float *x, const float *key,
                      const float *value);

/* tf_pattn_forward over converted key and value (lib/quant.h), for decoding: P of their rows
 * at a time dequantized into panel (P, d) and multiplied in float; the same bits as
 * tf_pattn_forward on the dequantized weights to float rounding (the sums over value rows
 * run panel by panel). */
struct tf_qmat;
void tf_pattn_forward_q(const struct tf_pattn_shape *p, float *out, float beta, float *cache,
                        float *rnorm, float *scratch, const float *x, const struct tf_qmat *key,
                        const struct tf_qmat *value, float *panel, int P);

/* From dout (R, d_out): dx = dA key + beta_dx dx; dkey += dA^T x; dvalue += S^T dout.
 * cache and rnorm as the forward left them; scratch holds 2 R ld floats. */
void tf_pattn_backward(const struct tf_pattn_shape *p, float *dx, float beta_dx, float *dkey,
                       float *dvalue, float *scratch, const float *dout, const float *cache,
                       const float *rnorm, const float *x, const float *key, const float *value);

/* ---------------------------------------------------------------- ops */

#define TF_LN_EPS 1e-5f

/* Non-parametric LayerNorm: y = (x - mean) * rstd, rstd = 1 / sqrt(var + eps), biased var.
 * x, y (R, d); rstd (R). y may not alias x. */
void tf_layernorm_forward(float *y, float *rstd, const float *x, int R, int d);
/* One row of it (d), on the calling thread: no parallel region (callable inside one). */
void tf_layernorm_row(float *y, float *rstd, const float *x, int d);
/* dx += rstd (dy - mean(dy) - y mean(dy y)). */
void tf_layernorm_backward(float *dx, const float *dy, const float *y, const float *rstd, int R,
                           int d);

/* Affine LayerNorm: y = xhat w + b, xhat = (x - mean) rstd; mean, rstd (R); w, b (d). */
void tf_layernorm_affine_forward(float *y, float *mean, float *rstd, const float *x, const float *w,
                                 const float *b, int R, int d);
/* g = dy w;  dx += rstd (g - mean(g) - xhat mean(g xhat));  dw += sum_rows dy xhat;
 * db += sum_rows dy. */
void tf_layernorm_affine_backward(float *dx, float *dw, float *db, const float *dy, const float *x,
                                  const float *mean, const float *rstd, const float *w, int R,
                                  int d);

/* Embedding: out[i] = E[tok[i]]; tok (R) in [0, V); E (V, d); out (R, d). */
void tf_embed_forward(float *out, const int32_t *tok, const float *E, int R, int d);
/* dE[tok[i]] += dout[i] (scatter-add; deterministic: channels split across threads). */
void tf_embed_backward(float *dE, const int32_t *tok, const float *dout, int R, int d);

/* Tied output head: logits (R, V) = y (R, d) E^T. */
void tf_head_forward(float *logits, const float *y, const float *E, int R, int V, int d);
/* dy = dlogits E;  dE += dlogits^T y. */
void tf_head_backward(float *dy, float *dE, const float *dlogits, const float *y, const float *E,
                      int R, int V, int d);

/* Softmax cross-entropy: losses[i] = logsumexp(logits_i) - logits_i[target_i], lse (R) saved
 * for backward. Returns the mean loss over the R rows (summed in double, in row order). */
float tf_crossentropy_forward(float *losses, float *lse, const float *logits,
                              const int32_t *targets, int R, int V);
/* dlogits = (softmax(logits) - onehot(target)) * scale; scale = dloss / R for a mean loss.
 * dlogits may alias logits. */
void tf_crossentropy_backward(float *dlogits, const float *logits, const float *lse,
                              const int32_t *targets, float scale, int R, int V);

/* ---------------------------------------------------------------- attn */

/* Rotary tables for positions 0..T-1 and r rotary channels: cos, sin (T, r/2) at angle
 * p * theta_m, theta_m = base^(-2m/r). Computed in double and rounded once to float, as the
 * float64 reference does (GPT-NeoX forms p * theta_m in float32, which drifts by ~1e-4 rad
 * at p = 2048). */
void tf_rope_table(float *cos_t, float *sin_t, int T, int r, double base);
/* In place on x (B, T, H*dh): rotate-half RoPE on the first r channels of every head at
 * position t (docs/model.md §2.2). The backward applies the transposed rotation to a gradient. */
void tf_rope_forward(float *x, const float *cos_t, const float *sin_t, int B, int T, int H, int dh,
                     int r);
void tf_rope_backward(float *dx, const float *cos_t, const float *sin_t, int B, int T, int H,
                      int dh, int r);
/* The forward on one row x (H*dh) whose tables' rows (r/2) are c and s, on the calling thread. */
void tf_rope_row_forward(float *x, const float *c, const float *s, int H, int dh, int r);

/* Causal multi-head attention, scale 1/sqrt(dh): q, k, v, out (B, T, H*dh), head h on
 * channels [h dh, (h+1) dh). The forward keeps for the backward lse (B, H, T), log sum_j
 * exp(s_ij) of every row's scores, from which the probabilities are recomputed (they are never
 * stored whole). scratch holds slots tf_attn_scratch_floats(T, dh) floats, one slot per thread,
 * in both directions: the heads run on at most `slots` threads (B H slots are never needed). */
size_t tf_attn_scratch_floats(int T, int dh);
void tf_attn_forward(float *out, float *lse, float *scratch, int slots, const float *q,
                     const float *k, const float *v, int B, int T, int H, int dh);
/* From dout, the forward's inputs q, k, v, its out and lse: dq, dk, dv (B, T, H*dh) are
 * overwritten; scratch too. */
void tf_attn_backward(float *dq, float *dk, float *dv, float *scratch, int slots, const float *dout,
                      const float *out, const float *lse, const float *q, const float *k,
                      const float *v, int B, int T, int H, int dh);

#endif
