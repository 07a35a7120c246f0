/* attn_kern.h: the vector tiles under lib/attn.c's flash attention (docs/model.md §2.3): the
 * vector type, packing of a head's keys and values, the row-block products rows_dot, rows_mix
 * and cols_acc, and prefetching. Internal to lib/attn.c, which alone includes it: the functions
 * are static, so attn.o is compiled from them as from one file, with the same inlining as when
 * they lived in attn.c (-ffp-contract=fast, see the Makefile). */
#ifndef TF_ATTN_KERN_H
#define TF_ATTN_KERN_H

#include <math.h>
#include <string.h>

#include "kernels.h"

/* Attention runs on its own kernels rather than on BLAS: with dh = 32 a BLAS product of one
 * head's block is ~2 MFLOP, of which calls and packing take a third, and it cannot skip the
 * masked triangle finer than its blocks. Each head's keys and values are packed, in the
 * thread's scratch, into contiguous copies padded with zeros to whole vectors (rows of a head are
 * d floats apart, a stride the L1 cache maps onto a few sets), so the inner loops are plain
 * vector code. A vector is ATT_W floats, one register of the widest kind the target has (16 with
 * AVX-512, 8 with AVX, 4 otherwise), written with GCC's vector extension so any target builds;
 * queries go ATT_RB rows at a time. */
#define ATT_RB 4
#if defined(__AVX512F__)
#define ATT_W 16
#elif defined(__AVX__)
#define ATT_W 8
#else
#define ATT_W 4
#endif
/* The forward exponentiates each score row up to its diagonal rounded up to whole vectors, and
 * the product with the values reads the block's keys up to its last row: the first covers the
 * second only when a block of rows never straddles a vector boundary (ATT_RB = 6 gave NaN). */
_Static_assert(ATT_W % ATT_RB == 0, "a block of query rows must divide a vector of keys");
/* At most this many vectors of channels per pass: rows_mix keeps ATT_RB x ATT_NV sums and
 * ATT_NV values in registers, cols_acc ATT_RB x ATT_NV rows and ATT_NV sums. 4 fits AVX-512's
 * 32 registers; with 16 (AVX2, SSE) 4 spilled to the stack and 3 made the AVX2 build's
 * attention of the 150M shape (dh 64) 17 % faster forward, 7 % backward (a one-thread
 * timing of tf_attn_forward/backward, min of 7). */
#if defined(__AVX512F__)
#define ATT_NV 4
#else
#define ATT_NV 3
#endif
typedef float vec __attribute__((vector_size(ATT_W * sizeof(float))));

static inline __attribute__((always_inline)) vec vec_load(const float *p) {
  vec x;
  memcpy(&x, p, sizeof x);
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

/* Keeps x in a register: GCC otherwise folds a vector that feeds several multiply-adds back into
 * each of them as a memory operand, and the loads, not the arithmetic, set the pace. */
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

/* One head's keys or values (T rows of dh channels, stride ld: d floats apart, far away in
 * memory) copied as rows (T, ldh), zero-padded, in vector moves. */
static void pack_rows(float *rows, int ldh, const float *src, int ld, int T, int dh) {
  for (int j = 0; j < T; j++) {
    float *row = rows + (size_t)j * ldh;
    const float *s = src + (size_t)j * ld;
#pragma omp simd
    for (int c = 0; c < ldh; c++) row[c] = c < dh ? s[c] : 0.0f;
  }
}

/* Those rows, from cache, transposed in panels of 2 ATT_W keys, each holding channel after
 * channel the 2 ATT_W values of its keys; keys from T on are zero. (Transposing each row right
 * after copying it stalled on reading back its vector stores as single floats: a fifth of the
 * forward.) */
static void pack_panels(float *panels, const float *rows, int ldh, int T, int dh) {
  int P = 2 * ATT_W;
  for (int j0 = 0; j0 < att_keys(T); j0 += P) {
    float *pan = panels + (size_t)(j0 / P) * dh * P;
    for (int c = 0; c < dh; c++)
#pragma omp simd
      for (int t = 0; t < P; t++)
        pan[c * P + t] = j0 + t < T ? rows[(size_t)(j0 + t) * ldh + c] : 0.0f;
  }
}

/* dst (T rows, stride ld) = alpha src (T, ldh), dh channels. */
static void unpack_rows(float *dst, int ld, const float *src, int ldh, int T, int dh, float alpha) {
  for (int j = 0; j < T; j++)
#pragma omp simd
    for (int c = 0; c < dh; c++) dst[(size_t)j * ld + c] = alpha * src[(size_t)j * ldh + c];
}

typedef int ivec __attribute__((vector_size(ATT_W * sizeof(int))));

/* keep ? x : other, lane by lane (keep all ones or all zeros). */
static inline __attribute__((always_inline)) vec vec_select(ivec keep, vec x, vec other) {
  return (vec)(((ivec)x & keep) | ((ivec)other & ~keep));
}

/* exp(x) lane by lane, for x <= 0. */
static inline __attribute__((always_inline)) vec vec_exp_neg(vec x) {
  vec e;
#pragma omp simd
  for (int t = 0; t < ATT_W; t++) e[t] = tf_exp_neg(x[t], 0.0f);
  return e;
}

static inline __attribute__((always_inline)) vec vec_max(vec a, vec b) {
  vec m;
#pragma omp simd
  for (int t = 0; t < ATT_W; t++) m[t] = a[t] > b[t] ? a[t] : b[t];
  return m;
}

/* What rows_dot does with a tile of products x before storing it, for row i = i0 + r and key j
 * (the causal mask is j <= i): DOT_SCORES   s = alpha x, -inf where masked; mx[r] keeps the
 * row's running maximum; DOT_PROBS    p = exp(alpha x - lse_i) from rv[r] = lse_i, 0 where
 * masked; DOT_DSCORES  dS = P (alpha x - D_i) from rv[r] = D_i and the stored P (0 where
 * masked). */
enum dot_epilogue { DOT_SCORES, DOT_PROBS, DOT_DSCORES };

/* S_rj = alpha <a_r, k_j> for the nr rows of a (stride lda, dh channels) from row i0 on, keys j
 * < n (rounded up to a whole panel: S rows must have room), the keys in panels, then the
 * epilogue. Per channel, two vector loads and ATT_RB broadcasts feed 2 ATT_RB multiply-adds. */
static inline __attribute__((always_inline)) void
rows_dot(float *S, int lds, const float *a, int lda, int i0, int nr, const float *panels, int n,
         int dh, float alpha, int epi, vec *mx, const float *rv, const float *P) {
  const float *ar[ATT_RB];
  for (int r = 0; r < ATT_RB; r++) ar[r] = a + (size_t)min_int(r, nr - 1) * lda;
  ivec iota;
  for (int t = 0; t < ATT_W; t++) iota[t] = t;
  const vec ninf = {0};
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
    for (int r = 0; r < nr; r++)
      for (int h = 0; h < 2; h++) {
        size_t o = (size_t)r * lds + j + h * ATT_W;
        ivec keep = (iota + (j + h * ATT_W)) <= ((ivec){0} + (i0 + r));
        vec x = alpha * acc[r][h];
        if (epi == DOT_SCORES) {
          x = vec_select(keep, x, ninf - INFINITY);
          mx[r] = vec_max(mx[r], x);
        } else if (epi == DOT_PROBS)
          x = vec_select(keep, vec_exp_neg(x - rv[r]), ninf);
        else
          x = vec_load(P + o) * (x - rv[r]);
        memcpy(S + o, &x, sizeof x);
      }
  }
}

/* out_r = alpha_r sum_{j<n} M_rj b_j for the nr rows of M (stride ldm); b is (n, ldh) packed, nv
 * vectors of its channels from channel 0 (nv a constant after inlining). */
static inline __attribute__((always_inline)) void rows_mix_pass(float *out, int ldo, int dh,
                                                                const float *const *mr, int nr,
                                                                const float *b, int ldh, int n,
                                                                const float *alpha, int nv) {
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
      vec_store(out + (size_t)r * ldo + v * ATT_W, alpha[r] * acc[r][v], dh - v * ATT_W);
}

static void rows_mix(float *out, int ldo, const float *M, int ldm, int nr, const float *b, int ldh,
                     int n, int dh, const float *alpha) {
  const float *mr[ATT_RB];
  for (int r = 0; r < ATT_RB; r++) mr[r] = M + (size_t)min_int(r, nr - 1) * ldm;
  for (int c = 0; c < dh; c += ATT_NV * ATT_W) {
    int nv = min_int(ATT_NV, (dh - c + ATT_W - 1) / ATT_W);
    float *o = out + c;
    const float *bc = b + c;
    if (ATT_NV >= 4 && nv == 4)
      rows_mix_pass(o, ldo, dh - c, mr, nr, bc, ldh, n, alpha, 4);
    else if (nv == 3)
      rows_mix_pass(o, ldo, dh - c, mr, nr, bc, ldh, n, alpha, 3);
    else if (nv == 2)
      rows_mix_pass(o, ldo, dh - c, mr, nr, bc, ldh, n, alpha, 2);
    else
      rows_mix_pass(o, ldo, dh - c, mr, nr, bc, ldh, n, alpha, 1);
  }
}

/* acc_j += sum_r M_rj a_r for j < n: the transposed product, row block by row block. The nr rows
 * of a (stride lda, dh channels) stay in registers; acc is (n, ldh) packed. */
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
    if (ATT_NV >= 4 && nv == 4)
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

static inline float vec_hmax(vec x) {
  float m = x[0];
  for (int t = 1; t < ATT_W; t++) m = x[t] > m ? x[t] : m;
  return m;
}

/* p_j = exp(s_j - mx) over the first m entries (whole vectors; masked scores are -inf and give
 * 0), in place; returns their sum. */
static float exp_row(float *p, float mx, int m) {
  vec sum = {0};
  for (int j = 0; j < m; j += ATT_W) {
    vec e = vec_exp_neg(vec_load(p + j) - mx);
    sum += e;
    memcpy(p + j, &e, sizeof e);
  }
  return vec_sum(sum);
}

/* Asks for the nr rows of a (stride ld, dh channels) from row i on, so that the next row block's
 * strided rows are in cache when its turn comes (the hardware prefetcher misses them). */
static void prefetch_rows(const float *a, int ld, int i, int nr, int dh) {
  enum { LINE_FLOATS = 64 / sizeof(float) };
  for (int r = i; r < i + nr; r++)
    for (int c = 0; c < dh; c += LINE_FLOATS) __builtin_prefetch(a + (size_t)r * ld + c);
}

#endif
