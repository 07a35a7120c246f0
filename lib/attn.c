/* attn.c: rotary position embedding and causal multi-head softmax attention, forward and
 * backward, over a whole sequence. The KV cache of generation is not here. */
#include <math.h>
#include <omp.h>
#include <string.h>

#include "attn_kern.h"
#include "kernels.h"

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
 * transposed rotation; over the H heads of one row. */
static inline void rope_row(float *x, const float *c, const float *s, int H, int dh, int r,
                            float sign) {
  int h = r / 2;
  for (int head = 0; head < H; head++) {
    float *x1 = x + (size_t)head * dh, *x2 = x1 + h;
#pragma omp simd
    for (int m = 0; m < h; m++) {
      float a = x1[m], b = x2[m], sn = sign * s[m];
      x1[m] = a * c[m] - b * sn;
      x2[m] = b * c[m] + a * sn;
    }
  }
}

static void rope_apply(float *x, const float *cos_t, const float *sin_t, int B, int T, int H,
                       int dh, int r, float sign) {
  int h = r / 2;
#pragma omp parallel for schedule(static) if (tf_par((size_t)B * T * H * dh))
  for (int bt = 0; bt < B * T; bt++)
    rope_row(x + (size_t)bt * H * dh, cos_t + (size_t)(bt % T) * h, sin_t + (size_t)(bt % T) * h, H,
             dh, r, sign);
}

void tf_rope_row_forward(float *x, const float *c, const float *s, int H, int dh, int r) {
  rope_row(x, c, s, H, dh, r, 1.0f);
}

void tf_rope_forward(float *x, const float *cos_t, const float *sin_t, int B, int T, int H, int dh,
                     int r) {
  rope_apply(x, cos_t, sin_t, B, T, H, dh, r, 1.0f);
}

void tf_rope_backward(float *dx, const float *cos_t, const float *sin_t, int B, int T, int H,
                      int dh, int r) {
  rope_apply(dx, cos_t, sin_t, B, T, H, dh, r, -1.0f);
}

/* Causal attention, flash-attention style (docs/model.md §2.3), per sequence and head:
 *   s_ij = <q_i, k_j> / sqrt(dh) for j <= i;  P_ij = exp(s_ij - lse_i);  out_i = sum_j P_ij v_j.
 * The (T, T) matrix P is never stored: queries go ATT_RB rows at a time, and lse_i is all a row
 * keeps for the backward. The vector tiles (rows_dot, rows_mix, cols_acc, packing) are in
 * attn_kern.h; this file holds the algorithm. */

/* Per thread, for the head it works on: its keys and values packed twice (transposed in panels,
 * and as rows (T, ldh)), two blocks of ATT_RB rows of scores, and, backward, the packed dk and
 * dv. The backward packs the keys and values again rather than keep the forward's copies: a
 * training step measured the same either way, and the activations keep 4 B H T dh floats per
 * layer fewer. */
size_t tf_attn_scratch_floats(int T, int dh) {
  return 2 * (size_t)dh * att_keys(T) + 4 * (size_t)T * att_ldh(dh) +
         2 * (size_t)ATT_RB * att_keys(T);
}

/* The calling thread's scratch (one head's worth per thread, reused from head to head so it
 * stays in cache: a fresh block per head would miss on every first touch), carved up: keys and
 * values in panels (kt, vt) and as rows (kr, vr), two blocks of score rows (P, dS), and the
 * backward's packed dk and dv. */
struct head_scratch {
  float *kt, *vt, *kr, *vr, *P, *dS, *dkp, *dvp;
};

static struct head_scratch head_scratch(float *scratch, int T, int dh) {
  size_t panel = (size_t)dh * att_keys(T), rows = (size_t)T * att_ldh(dh);
  size_t block = (size_t)ATT_RB * att_keys(T);
  float *s = scratch + (size_t)omp_get_thread_num() * tf_attn_scratch_floats(T, dh);
  struct head_scratch h;
  h.kt = s;
  h.vt = h.kt + panel;
  h.kr = h.vt + panel;
  h.vr = h.kr + rows;
  h.P = h.vr + rows;
  h.dS = h.P + block;
  h.dkp = h.dS + block;
  h.dvp = h.dkp + rows;
  return h;
}

/* Threads for B H heads with `slots` scratch slots: one slot each, no more threads than heads. */
static int attn_threads(int heads, int slots) {
  int nt = omp_get_max_threads();
  nt = nt < slots ? nt : slots;
  return nt < heads ? nt : heads;
}

/* One (batch, head): P = softmax(q k^T / sqrt(dh)) causal;  out = P v;  lse per row. q, k, v,
 * out are (T, dh) views with row stride d; h is the thread's scratch. P is never stored whole:
 * row block [i0, i0 + nr) needs keys 0..i0+nr-1 only, its ATT_RB rows of exp(s - max) stay in
 * cache from the scores to the product with v, which divides by the sums; the backward
 * recomputes P from lse. */
static void attn_head_forward(float *out, float *lse, struct head_scratch h, const float *q,
                              const float *k, const float *v, int T, int dh, int d) {
  float scale = 1.0f / sqrtf((float)dh);
  int ldh = att_ldh(dh), ldp = att_keys(T);
  pack_rows(h.kr, ldh, k, d, T, dh);
  pack_panels(h.kt, h.kr, ldh, T, dh);
  pack_rows(h.vr, ldh, v, d, T, dh);
  for (int i0 = 0; i0 < T; i0 += ATT_RB) {
    int nr = min_int(ATT_RB, T - i0), n = i0 + nr;
    vec mv[ATT_RB];
    float inv[ATT_RB];
    for (int r = 0; r < ATT_RB; r++) mv[r] = (vec){0} - INFINITY;
    prefetch_rows(q, d, n, min_int(ATT_RB, T - n), dh);
    rows_dot(h.P, ldp, q + (size_t)i0 * d, d, i0, nr, h.kt, n, dh, scale, DOT_SCORES, mv, NULL,
             NULL);
    for (int r = 0; r < nr; r++) {
      int m = (i0 + r + ATT_W) / ATT_W * ATT_W; /* covers j <= i and j < n */
      float mx = vec_hmax(mv[r]), sum = exp_row(h.P + (size_t)r * ldp, mx, m);
      inv[r] = 1.0f / sum;
      lse[i0 + r] = mx + logf(sum);
    }
    rows_mix(out + (size_t)i0 * d, d, h.P, ldp, nr, h.vr, ldh, n, dh, inv);
  }
}

void tf_attn_forward(float *out, float *lse, float *scratch, int slots, const float *q,
                     const float *k, const float *v, int B, int T, int H, int dh) {
  int d = H * dh;
#pragma omp parallel for schedule(static)                                                          \
    num_threads(attn_threads(B *H, slots)) if (tf_par((size_t)B * H * T * T * dh))
  for (int bh = 0; bh < B * H; bh++) {
    size_t o = (size_t)(bh / H) * T * d + (size_t)(bh % H) * dh;
    attn_head_forward(out + o, lse + (size_t)bh * T, head_scratch(scratch, T, dh), q + o, k + o,
                      v + o, T, dh, d);
  }
}

/* One (batch, head), row block by row block, on keys and values packed again:
 *   P_ij = exp(s_ij - lse_i);  dP_ij = <dout_i, v_j>;  D_i = <dout_i, out_i> (= sum_j P_ij dP_ij);
 *   dS_ij = P_ij (dP_ij - D_i);  dq_i = sum_j dS_ij k_j / sqrt(dh);
 *   dv_j += sum_i P_ij dout_i;  dk_j += sum_i dS_ij q_i / sqrt(dh)
 * (dv and dk in packed scratch, written out at the end). */
static void attn_head_backward(float *dq, float *dk, float *dv, struct head_scratch h,
                               const float *dout, const float *out, const float *lse,
                               const float *q, const float *k, const float *v, int T, int dh,
                               int d) {
  float scale = 1.0f / sqrtf((float)dh), scales[ATT_RB];
  int ldh = att_ldh(dh), ldp = att_keys(T);
  for (int r = 0; r < ATT_RB; r++) scales[r] = scale;
  pack_rows(h.kr, ldh, k, d, T, dh);
  pack_panels(h.kt, h.kr, ldh, T, dh);
  pack_rows(h.vr, ldh, v, d, T, dh);
  pack_panels(h.vt, h.vr, ldh, T, dh);
  memset(h.dkp, 0, (size_t)T * ldh * sizeof *h.dkp);
  memset(h.dvp, 0, (size_t)T * ldh * sizeof *h.dvp);
  for (int i0 = 0; i0 < T; i0 += ATT_RB) {
    int nr = min_int(ATT_RB, T - i0), n = i0 + nr;
    const float *qb = q + (size_t)i0 * d, *gb = dout + (size_t)i0 * d;
    float D[ATT_RB];
    int next = min_int(ATT_RB, T - n);
    prefetch_rows(q, d, n, next, dh);
    prefetch_rows(dout, d, n, next, dh);
    prefetch_rows(out, d, n, next, dh);
    for (int r = 0; r < nr; r++) {
      const float *g = gb + (size_t)r * d, *o = out + (size_t)(i0 + r) * d;
      float s = 0.0f;
#pragma omp simd reduction(+ : s)
      for (int c = 0; c < dh; c++) s += g[c] * o[c];
      D[r] = s;
    }
    rows_dot(h.P, ldp, qb, d, i0, nr, h.kt, n, dh, scale, DOT_PROBS, NULL, lse + i0, NULL);
    rows_dot(h.dS, ldp, gb, d, i0, nr, h.vt, n, dh, 1.0f, DOT_DSCORES, NULL, D, h.P);
    rows_mix(dq + (size_t)i0 * d, d, h.dS, ldp, nr, h.kr, ldh, n, dh, scales);
    cols_acc(h.dvp, ldh, h.P, ldp, nr, gb, d, n, dh);
    cols_acc(h.dkp, ldh, h.dS, ldp, nr, qb, d, n, dh);
  }
  unpack_rows(dv, d, h.dvp, ldh, T, dh, 1.0f);
  unpack_rows(dk, d, h.dkp, ldh, T, dh, scale);
}

void tf_attn_backward(float *dq, float *dk, float *dv, float *scratch, int slots, const float *dout,
                      const float *out, const float *lse, const float *q, const float *k,
                      const float *v, int B, int T, int H, int dh) {
  int d = H * dh;
#pragma omp parallel for schedule(static)                                                          \
    num_threads(attn_threads(B *H, slots)) if (tf_par((size_t)B * H * T * T * dh))
  for (int bh = 0; bh < B * H; bh++) {
    size_t o = (size_t)(bh / H) * T * d + (size_t)(bh % H) * dh;
    attn_head_backward(dq + o, dk + o, dv + o, head_scratch(scratch, T, dh), dout + o, out + o,
                       lse + (size_t)bh * T, q + o, k + o, v + o, T, dh, d);
  }
}
