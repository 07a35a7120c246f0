/* attn.c: rotary position embedding and causal multi-head softmax attention, forward and
 * backward, over a whole sequence. The KV cache of generation is not here. */
#include <math.h>
#include <string.h>

#include "kernels.h"

/* Rows of queries handled together: block [i0, i1) only needs keys 0..i1-1, which skips most
 * of the masked upper triangle while keeping the products large enough for BLAS. */
#define ATT_BLOCK 128

void tf_rope_table(float *cos_t, float *sin_t, int T, int r, double base) {
  int h = r / 2;
  for (int m = 0; m < h; m++) {
    double theta = pow(base, -2.0 * m / r);
    for (int p = 0; p < T; p++) {
      cos_t[(size_t)p * h + m] = (float)cos(p * theta);
      sin_t[(size_t)p * h + m] = (float)sin(p * theta);
    }
  }
}

/* x'_m = x_m c - x_{m+r/2} s;  x'_{m+r/2} = x_{m+r/2} c + x_m s, with s negated for the
 * transposed rotation. */
static void rope_apply(float *x, const float *cos_t, const float *sin_t, int B, int T, int H,
                       int dh, int r, float sign) {
  int h = r / 2;
#pragma omp parallel for schedule(static) if (tf_par((size_t)B * T * H * dh))
  for (int bt = 0; bt < B * T; bt++) {
    const float *c = cos_t + (size_t)(bt % T) * h, *s = sin_t + (size_t)(bt % T) * h;
    for (int head = 0; head < H; head++) {
      float *x1 = x + ((size_t)bt * H + head) * dh, *x2 = x1 + h;
#pragma omp simd
      for (int m = 0; m < h; m++) {
        float a = x1[m], b = x2[m], sn = sign * s[m];
        x1[m] = a * c[m] - b * sn;
        x2[m] = b * c[m] + a * sn;
      }
    }
  }
}

void tf_rope_forward(float *x, const float *cos_t, const float *sin_t, int B, int T, int H, int dh,
                     int r) {
  rope_apply(x, cos_t, sin_t, B, T, H, dh, r, 1.0f);
}

void tf_rope_backward(float *dx, const float *cos_t, const float *sin_t, int B, int T, int H,
                      int dh, int r) {
  rope_apply(dx, cos_t, sin_t, B, T, H, dh, r, -1.0f);
}

/* Causal softmax of row i in place: p_j = exp(s_j - max) / sum for j <= i, 0 for j > i. */
static void causal_softmax_row(float *p, int i, int T) {
  tf_softmax_row(p, 1.0f, i + 1);
  memset(p + i + 1, 0, (size_t)(T - 1 - i) * sizeof *p);
}

/* One (batch, head): P = softmax(q k^T / sqrt(dh)) causal;  out = P v. q, k, v, out are
 * (T, dh) views with row stride d; P is (T, T). */
static void attn_head_forward(float *out, float *P, const float *q, const float *k, const float *v,
                              int T, int dh, int d) {
  float scale = 1.0f / sqrtf((float)dh);
  for (int i0 = 0; i0 < T; i0 += ATT_BLOCK) {
    int i1 = i0 + ATT_BLOCK < T ? i0 + ATT_BLOCK : T, nr = i1 - i0;
    float *Pb = P + (size_t)i0 * T;
    tf_gemm(0, 1, nr, i1, dh, scale, q + (size_t)i0 * d, d, k, d, 0.0f, Pb, T);
    for (int i = i0; i < i1; i++) causal_softmax_row(P + (size_t)i * T, i, T);
    tf_gemm(0, 0, nr, dh, i1, 1.0f, Pb, T, v, d, 0.0f, out + (size_t)i0 * d, d);
  }
}

void tf_attn_forward(float *out, float *att, const float *q, const float *k, const float *v, int B,
                     int T, int H, int dh) {
  int d = H * dh;
#pragma omp parallel for schedule(static) if (tf_par((size_t)B * H * T * T * dh))
  for (int bh = 0; bh < B * H; bh++) {
    size_t o = (size_t)(bh / H) * T * d + (size_t)(bh % H) * dh;
    attn_head_forward(out + o, att + (size_t)bh * T * T, q + o, k + o, v + o, T, dh, d);
  }
}

/* dS_ij = P_ij (dP_ij - sum_k dP_ik P_ik) over the first n columns of a row, in place. */
static void softmax_row_backward(float *dp, const float *p, int n) {
  float c = (float)tf_row_dot(dp, p, n);
#pragma omp simd
  for (int j = 0; j < n; j++) dp[j] = p[j] * (dp[j] - c);
}

/* One (batch, head), row blocks from last to first so the first block seen (which reaches
 * every key) initialises dk and dv:  dP = dout v^T;  dv += P^T dout;  dS = softmax backward;
 * dq = dS k / sqrt(dh);  dk += dS^T q / sqrt(dh). */
static void attn_head_backward(float *dq, float *dk, float *dv, float *dP, const float *dout,
                               const float *P, const float *q, const float *k, const float *v,
                               int T, int dh, int d) {
  float scale = 1.0f / sqrtf((float)dh);
  int last = (T - 1) / ATT_BLOCK * ATT_BLOCK;
  for (int i0 = last; i0 >= 0; i0 -= ATT_BLOCK) {
    int i1 = i0 + ATT_BLOCK < T ? i0 + ATT_BLOCK : T, nr = i1 - i0;
    float beta = i0 == last ? 0.0f : 1.0f;
    const float *Pb = P + (size_t)i0 * T, *gb = dout + (size_t)i0 * d;
    float *dPb = dP + (size_t)i0 * T;
    tf_gemm(0, 1, nr, i1, dh, 1.0f, gb, d, v, d, 0.0f, dPb, T);
    tf_gemm(1, 0, i1, dh, nr, 1.0f, Pb, T, gb, d, beta, dv, d);
    for (int i = 0; i < nr; i++) softmax_row_backward(dPb + (size_t)i * T, Pb + (size_t)i * T, i1);
    tf_gemm(0, 0, nr, dh, i1, scale, dPb, T, k, d, 0.0f, dq + (size_t)i0 * d, d);
    tf_gemm(1, 0, i1, dh, nr, scale, dPb, T, q + (size_t)i0 * d, d, beta, dk, d);
  }
}

void tf_attn_backward(float *dq, float *dk, float *dv, float *scratch, const float *dout,
                      const float *att, const float *q, const float *k, const float *v, int B,
                      int T, int H, int dh) {
  int d = H * dh;
#pragma omp parallel for schedule(static) if (tf_par((size_t)B * H * T * T * dh))
  for (int bh = 0; bh < B * H; bh++) {
    size_t o = (size_t)(bh / H) * T * d + (size_t)(bh % H) * dh, a = (size_t)bh * T * T;
    attn_head_backward(dq + o, dk + o, dv + o, scratch + a, dout + o, att + a, q + o, k + o, v + o,
                       T, dh, d);
  }
}
