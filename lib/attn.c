/* attn.c: rotary position embedding and causal multi-head softmax attention, forward and
 * backward, over a whole sequence. The KV cache of generation is not here. */
#include <math.h>
#include <omp.h>
#include <string.h>

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

/* Attention runs on its own kernels rather than on BLAS: with dh = 32 a BLAS product of one
 * head's block is ~2 MFLOP, of which calls and packing take a third, and it cannot skip the
 * masked triangle finer than its blocks. Each head's operands are first copied into
 * contiguous scratch (rows of a head are d floats apart, a stride the L1 cache maps onto a
 * few sets), padded with zeros to whole vectors, so the inner loops are plain vector code.
 * A vector is ATT_W floats, one register of the widest kind the target has (16 with
 * AVX-512, 8 with AVX, 4 otherwise), written with GCC's vector extension so any target
 * builds; queries go ATT_RB rows at a time. */
#define ATT_RB 4
#if defined(__AVX512F__)
#define ATT_W 16
#elif defined(__AVX__)
#define ATT_W 8
#else
#define ATT_W 4
#endif
#define ATT_NV 4 /* at most this many vectors of channels per pass */
typedef float vec __attribute__((vector_size(ATT_W * sizeof(float))));

static inline __attribute__((always_inline)) vec vec_load(const float *p) {
  vec x;
  memcpy(&x, p, sizeof x);
  return x;
}

/* min(w, ATT_W) floats at p (w > 0), the rest of the vector fill. */
static inline __attribute__((always_inline)) vec vec_load_fill(const float *p, int w, float fill) {
  if (w >= ATT_W) return vec_load(p);
  vec x;
  for (int t = 0; t < ATT_W; t++) x[t] = t < w ? p[t] : fill;
  return x;
}

/* min(w, ATT_W) floats of x to p (w > 0): a whole vector is one move; only the epilogues of
 * heads whose channels or keys end inside a vector write fewer. */
static inline __attribute__((always_inline)) void vec_store(float *p, vec x, int w) {
  if (w >= ATT_W)
    memcpy(p, &x, sizeof x);
  else
    for (int i = 0; i < w; i++) p[i] = x[i];
}

/* Keeps x in a register: GCC otherwise folds a vector that feeds several multiply-adds back
 * into each of them as a memory operand, and the loads, not the arithmetic, set the pace. */
#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__)) && defined(__SSE2__)
#define vec_in_register(x) __asm__("" : "+x"(x))
#else
#define vec_in_register(x) ((void)0)
#endif

static inline int min_int(int a, int b) {
  return a < b ? a : b;
}

/* Channels of a head padded to whole vectors; keys padded to whole panels of 2 ATT_W. */
static int att_ldh(int dh) {
  return (dh + ATT_W - 1) / ATT_W * ATT_W;
}

static int att_keys(int T) {
  return (T + 2 * ATT_W - 1) / (2 * ATT_W) * (2 * ATT_W);
}

/* Per head: two sets of panels (keys, and values in the backward), three (T, ldh) row copies
 * and two blocks of ATT_RB rows of scores. */
size_t tf_attn_scratch_floats(int T, int dh) {
  return 2 * ((size_t)dh + ATT_RB) * att_keys(T) + 3 * (size_t)T * att_ldh(dh);
}

/* dst (T, ldh) = the T rows of src (stride ld, dh channels), zero-padded. */
static void pack_rows(float *dst, int ldh, const float *src, int ld, int T, int dh) {
  for (int j = 0; j < T; j++) {
    memcpy(dst + (size_t)j * ldh, src + (size_t)j * ld, (size_t)dh * sizeof *dst);
    memset(dst + (size_t)j * ldh + dh, 0, (size_t)(ldh - dh) * sizeof *dst);
  }
}

/* src^T in panels of 2 ATT_W keys: panel p holds, channel after channel, the 2 ATT_W
 * values of keys 2 ATT_W p ...; keys from T on are zero. */
static void pack_panels(float *dst, const float *src, int ld, int T, int dh) {
  int P = 2 * ATT_W;
  for (int j0 = 0; j0 < att_keys(T); j0 += P, dst += (size_t)dh * P)
    for (int t = 0; t < P; t++) {
      const float *s = src + (size_t)(j0 + t) * ld;
      for (int c = 0; c < dh; c++) dst[c * P + t] = j0 + t < T ? s[c] : 0.0f;
    }
}

/* dst (T rows, stride ld) = alpha src (T, ldh), dh channels. */
static void unpack_rows(float *dst, int ld, const float *src, int ldh, int T, int dh, float alpha) {
  for (int j = 0; j < T; j++)
#pragma omp simd
    for (int c = 0; c < dh; c++) dst[(size_t)j * ld + c] = alpha * src[(size_t)j * ldh + c];
}

/* S_rj = alpha <a_r, k_j> for the nr rows of a (stride lda, dh channels) and keys j < n,
 * the keys in panels. Per channel: two vector loads and ATT_RB broadcasts feed 2 ATT_RB
 * multiply-adds. */
static void rows_dot(float *S, int lds, const float *a, int lda, int nr, const float *panels, int n,
                     int dh, float alpha) {
  const float *ar[ATT_RB];
  for (int r = 0; r < ATT_RB; r++) ar[r] = a + (size_t)min_int(r, nr - 1) * lda;
  const float *pk = panels;
  for (int j = 0; j < n; j += 2 * ATT_W) {
    vec acc[ATT_RB][2] = {{{0}}};
    for (int c = 0; c < dh; c++, pk += 2 * ATT_W) {
      vec k0 = vec_load(pk), k1 = vec_load(pk + ATT_W);
      vec_in_register(k0);
      vec_in_register(k1);
#pragma GCC unroll 8
      for (int r = 0; r < ATT_RB; r++) {
        acc[r][0] += ar[r][c] * k0;
        acc[r][1] += ar[r][c] * k1;
      }
    }
    for (int r = 0; r < nr; r++) {
      vec_store(S + (size_t)r * lds + j, alpha * acc[r][0], n - j);
      if (n - j > ATT_W)
        vec_store(S + (size_t)r * lds + j + ATT_W, alpha * acc[r][1], n - j - ATT_W);
    }
  }
}

/* out_r = alpha sum_{j<n} M_rj b_j for the nr rows of M (stride ldm); b is (n, ldh) packed,
 * nv vectors of its channels from channel 0 (nv a constant after inlining). */
static inline __attribute__((always_inline)) void rows_mix_pass(float *out, int ldo, int dh,
                                                                const float *const *mr, int nr,
                                                                const float *b, int ldh, int n,
                                                                float alpha, int nv) {
  vec acc[ATT_RB][ATT_NV] = {{{0}}};
  for (int j = 0; j < n; j++, b += ldh) {
    vec bv[ATT_NV];
#pragma GCC unroll 8
    for (int v = 0; v < nv; v++) {
      bv[v] = vec_load(b + v * ATT_W);
      vec_in_register(bv[v]);
    }
#pragma GCC unroll 8
    for (int r = 0; r < ATT_RB; r++)
#pragma GCC unroll 8
      for (int v = 0; v < nv; v++) acc[r][v] += mr[r][j] * bv[v];
  }
  for (int r = 0; r < nr; r++)
    for (int v = 0; v < nv; v++)
      vec_store(out + (size_t)r * ldo + v * ATT_W, alpha * acc[r][v], dh - v * ATT_W);
}

static void rows_mix(float *out, int ldo, const float *M, int ldm, int nr, const float *b, int ldh,
                     int n, int dh, float alpha) {
  const float *mr[ATT_RB];
  for (int r = 0; r < ATT_RB; r++) mr[r] = M + (size_t)min_int(r, nr - 1) * ldm;
  for (int c = 0; c < dh; c += ATT_NV * ATT_W) {
    int nv = min_int(ATT_NV, (dh - c + ATT_W - 1) / ATT_W);
    float *o = out + c;
    const float *bc = b + c;
    if (nv == 4)
      rows_mix_pass(o, ldo, dh - c, mr, nr, bc, ldh, n, alpha, 4);
    else if (nv == 3)
      rows_mix_pass(o, ldo, dh - c, mr, nr, bc, ldh, n, alpha, 3);
    else if (nv == 2)
      rows_mix_pass(o, ldo, dh - c, mr, nr, bc, ldh, n, alpha, 2);
    else
      rows_mix_pass(o, ldo, dh - c, mr, nr, bc, ldh, n, alpha, 1);
  }
}

/* acc_j += sum_r M_rj a_r for j < n: the transposed product, row block by row block. The
 * nr rows of a (stride lda, dh channels) stay in registers; acc is (n, ldh) packed. */
static inline __attribute__((always_inline)) void
cols_acc_pass(float *acc, int ldh, const float *const *mr, const vec (*av)[ATT_NV], int n, int nv) {
  for (int j = 0; j < n; j++, acc += ldh) {
    vec s[ATT_NV];
#pragma GCC unroll 8
    for (int v = 0; v < nv; v++) s[v] = vec_load(acc + v * ATT_W);
#pragma GCC unroll 8
    for (int r = 0; r < ATT_RB; r++)
#pragma GCC unroll 8
      for (int v = 0; v < nv; v++) s[v] += mr[r][j] * av[r][v];
#pragma GCC unroll 8
    for (int v = 0; v < nv; v++) memcpy(acc + v * ATT_W, &s[v], sizeof s[v]);
  }
}

static void cols_acc(float *acc, int ldh, const float *M, int ldm, int nr, const float *a, int lda,
                     int n, int dh) {
  const float *mr[ATT_RB];
  vec av[ATT_RB][ATT_NV];
  for (int c = 0; c < dh; c += ATT_NV * ATT_W) {
    int nv = min_int(ATT_NV, (dh - c + ATT_W - 1) / ATT_W);
    for (int r = 0; r < ATT_RB; r++) {
      mr[r] = M + (size_t)min_int(r, nr - 1) * ldm;
      for (int v = 0; v < nv; v++) { /* rows past nr count zero times */
        vec x = {0};
        if (r < nr)
          memcpy(&x, a + (size_t)r * lda + c + v * ATT_W,
                 (size_t)min_int(ATT_W, dh - c - v * ATT_W) * sizeof(float));
        av[r][v] = x;
      }
    }
    float *ac = acc + c;
    if (nv == 4)
      cols_acc_pass(ac, ldh, mr, (const vec(*)[ATT_NV])av, n, 4);
    else if (nv == 3)
      cols_acc_pass(ac, ldh, mr, (const vec(*)[ATT_NV])av, n, 3);
    else if (nv == 2)
      cols_acc_pass(ac, ldh, mr, (const vec(*)[ATT_NV])av, n, 2);
    else
      cols_acc_pass(ac, ldh, mr, (const vec(*)[ATT_NV])av, n, 1);
  }
}

static inline float vec_sum(vec x) {
  float s = 0.0f;
  for (int t = 0; t < ATT_W; t++) s += x[t];
  return s;
}

/* Causal softmax of row i (n >= i + 1 entries) in place: p_j = exp(s_j - lse) for j <= i, 0
 * for i < j < n, where lse = log sum_{j<=i} exp(s_j) is returned. Whole vectors throughout,
 * the last one padded (with -inf: exp gives 0), because a row is short and a scalar
 * remainder would cost as much as the rest. */
static float causal_softmax_row(float *p, int i, int n) {
  int m = i + 1;
  vec mv = vec_load_fill(p, m, -INFINITY), sum = {0};
  for (int j = ATT_W; j < m; j += ATT_W) {
    vec x = vec_load_fill(p + j, m - j, -INFINITY);
#pragma omp simd
    for (int t = 0; t < ATT_W; t++) mv[t] = x[t] > mv[t] ? x[t] : mv[t];
  }
  float mx = mv[0];
  for (int t = 1; t < ATT_W; t++) mx = mv[t] > mx ? mv[t] : mx;
  for (int j = 0; j < m; j += ATT_W) {
    vec x = vec_load_fill(p + j, m - j, -INFINITY), e;
#pragma omp simd
    for (int t = 0; t < ATT_W; t++) e[t] = tf_exp_neg(x[t] - mx, 0.0f);
    sum += e;
    vec_store(p + j, e, m - j);
  }
  float total = vec_sum(sum), k = 1.0f / total;
  for (int j = 0; j < m; j += ATT_W) vec_store(p + j, k * vec_load_fill(p + j, m - j, 0.0f), m - j);
  for (int j = m; j < n; j++) p[j] = 0.0f;
  return mx + logf(total);
}

/* The probabilities again from the scores and the forward's lse: p_j = exp(s_j - lse) for
 * j <= i, 0 for i < j < n. */
static void causal_exp_row(float *p, float lse, int i, int n) {
  int m = i + 1;
  for (int j = 0; j < m; j += ATT_W) {
    vec x = vec_load_fill(p + j, m - j, -INFINITY), e;
#pragma omp simd
    for (int t = 0; t < ATT_W; t++) e[t] = tf_exp_neg(x[t] - lse, 0.0f);
    vec_store(p + j, e, m - j);
  }
  for (int j = m; j < n; j++) p[j] = 0.0f;
}

/* The scratch of the calling thread: one head's worth per thread, reused from head to head so
 * it stays in cache (a fresh block per head would miss on every first touch). With more
 * threads than heads, each head has its own. */
static float *head_scratch(float *scratch, int bh, int heads, int T, int dh) {
  int slot = omp_get_num_threads() <= heads ? omp_get_thread_num() : bh;
  return scratch + (size_t)slot * tf_attn_scratch_floats(T, dh);
}

/* One (batch, head): P = softmax(q k^T / sqrt(dh)) causal;  out = P v;  lse per row. q, k,
 * v, out are (T, dh) views with row stride d; sc is the head's scratch. P is never stored
 * whole: row block [i0, i0 + nr) needs keys 0..i0+nr-1 only, and its ATT_RB rows of P stay
 * in cache from the scores to the product with v; the backward recomputes them from lse. */
static void attn_head_forward(float *out, float *lse, float *sc, const float *q, const float *k,
                              const float *v, int T, int dh, int d) {
  float scale = 1.0f / sqrtf((float)dh);
  int ldh = att_ldh(dh), ldp = att_keys(T);
  float *kp = sc, *vp = kp + (size_t)dh * ldp, *Pb = vp + (size_t)T * ldh;
  pack_panels(kp, k, d, T, dh);
  pack_rows(vp, ldh, v, d, T, dh);
  for (int i0 = 0; i0 < T; i0 += ATT_RB) {
    int nr = min_int(ATT_RB, T - i0), n = i0 + nr;
    rows_dot(Pb, ldp, q + (size_t)i0 * d, d, nr, kp, n, dh, scale);
    for (int r = 0; r < nr; r++) lse[i0 + r] = causal_softmax_row(Pb + (size_t)r * ldp, i0 + r, n);
    rows_mix(out + (size_t)i0 * d, d, Pb, ldp, nr, vp, ldh, n, dh, 1.0f);
  }
}

void tf_attn_forward(float *out, float *lse, float *scratch, const float *q, const float *k,
                     const float *v, int B, int T, int H, int dh) {
  int d = H * dh;
#pragma omp parallel for schedule(static) if (tf_par((size_t)B * H * T * T * dh))
  for (int bh = 0; bh < B * H; bh++) {
    size_t o = (size_t)(bh / H) * T * d + (size_t)(bh % H) * dh;
    attn_head_forward(out + o, lse + (size_t)bh * T, head_scratch(scratch, bh, B * H, T, dh), q + o,
                      k + o, v + o, T, dh, d);
  }
}

/* dS_ij = P_ij (dP_ij - sum_k dP_ik P_ik) for j <= i, in place; zero for i < j < n. */
static void causal_softmax_row_backward(float *dp, const float *p, int i, int n) {
  int m = i + 1;
  vec dot = {0};
  for (int j = 0; j < m; j += ATT_W)
    dot += vec_load_fill(dp + j, m - j, 0.0f) * vec_load_fill(p + j, m - j, 0.0f);
  float c = vec_sum(dot);
  for (int j = 0; j < m; j += ATT_W) {
    vec x = vec_load_fill(p + j, m - j, 0.0f) * (vec_load_fill(dp + j, m - j, 0.0f) - c);
    vec_store(dp + j, x, m - j);
  }
  for (int j = m; j < n; j++) dp[j] = 0.0f;
}

/* One (batch, head), row block by row block:  P from q k^T / sqrt(dh) and lse;
 * dP = dout v^T;  dS = softmax backward;  dq = dS k / sqrt(dh);  dv += P^T dout;
 * dk += dS^T q / sqrt(dh) (the last two in packed scratch, written out at the end). */
static void attn_head_backward(float *dq, float *dk, float *dv, float *sc, const float *dout,
                               const float *lse, const float *q, const float *k, const float *v,
                               int T, int dh, int d) {
  float scale = 1.0f / sqrtf((float)dh);
  int ldh = att_ldh(dh), ldp = att_keys(T);
  float *kt = sc, *vt = kt + (size_t)dh * ldp, *kp = vt + (size_t)dh * ldp;
  float *dvp = kp + (size_t)T * ldh, *dkp = dvp + (size_t)T * ldh;
  float *Pb = dkp + (size_t)T * ldh, *dSb = Pb + (size_t)ATT_RB * ldp;
  pack_panels(kt, k, d, T, dh);
  pack_panels(vt, v, d, T, dh);
  pack_rows(kp, ldh, k, d, T, dh);
  memset(dvp, 0, 2 * (size_t)T * ldh * sizeof *dvp);
  for (int i0 = 0; i0 < T; i0 += ATT_RB) {
    int nr = min_int(ATT_RB, T - i0), n = i0 + nr;
    const float *qb = q + (size_t)i0 * d, *gb = dout + (size_t)i0 * d;
    rows_dot(Pb, ldp, qb, d, nr, kt, n, dh, scale);
    rows_dot(dSb, ldp, gb, d, nr, vt, n, dh, 1.0f);
    for (int r = 0; r < nr; r++) {
      causal_exp_row(Pb + (size_t)r * ldp, lse[i0 + r], i0 + r, n);
      causal_softmax_row_backward(dSb + (size_t)r * ldp, Pb + (size_t)r * ldp, i0 + r, n);
    }
    rows_mix(dq + (size_t)i0 * d, d, dSb, ldp, nr, kp, ldh, n, dh, scale);
    cols_acc(dvp, ldh, Pb, ldp, nr, gb, d, n, dh);
    cols_acc(dkp, ldh, dSb, ldp, nr, qb, d, n, dh);
  }
  unpack_rows(dv, d, dvp, ldh, T, dh, 1.0f);
  unpack_rows(dk, d, dkp, ldh, T, dh, scale);
}

void tf_attn_backward(float *dq, float *dk, float *dv, float *scratch, const float *dout,
                      const float *lse, const float *q, const float *k, const float *v, int B,
                      int T, int H, int dh) {
  int d = H * dh;
#pragma omp parallel for schedule(static) if (tf_par((size_t)B * H * T * T * dh))
  for (int bh = 0; bh < B * H; bh++) {
    size_t o = (size_t)(bh / H) * T * d + (size_t)(bh % H) * dh;
    attn_head_backward(dq + o, dk + o, dv + o, head_scratch(scratch, bh, B * H, T, dh), dout + o,
                       lse + (size_t)bh * T, q + o, k + o, v + o, T, dh, d);
  }
}
