/* quant_kern.c: the row kernels of lib/quant.h for each instruction set: scalar, AVX2 + FMA,
 * AVX-512 (F, BW, VNNI) and AVX-512 with AVX512_BF16. Every path is compiled into every
 * build (function target attributes), and the one used is chosen at run time from cpuid, so a
 * build for one machine runs on any x86-64 and the tests run every path this CPU has. No
 * model math here; rows are cp values, cp a multiple of 32. */
#include <immintrin.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "quant.h"

/* ---------------------------------------------------------------- scalar */

static void dot_bf16_scalar(float *y, const uint16_t *w, const struct tf_qvec *x, int cp, int nr) {
  for (int r = 0; r < nr; r++) {
    const uint16_t *wr = w + (size_t)r * cp;
    float s = 0.0f;
#pragma omp simd reduction(+ : s)
    for (int j = 0; j < cp; j++) s += tf_bf16_float(wr[j]) * x->f[j];
    y[r] = s;
  }
}

/* sum_b ws_b xs_b sum_{j in b} w_j q_j: the block sums in integers, exact. */
static void dot_q8_scalar(float *y, const int8_t *w, const float *ws, const struct tf_qvec *x,
                          int nb, int nr) {
  for (int r = 0; r < nr; r++) {
    float s = 0.0f;
    for (int b = 0; b < nb; b++) {
      int32_t acc = 0;
      const int8_t *wb = w + ((size_t)r * nb + b) * TF_Q8_BLOCK, *xb = x->q + b * TF_Q8_BLOCK;
      for (int j = 0; j < TF_Q8_BLOCK; j++) acc += wb[j] * xb[j];
      s += ws[(size_t)r * nb + b] * x->s[b] * (float)acc;
    }
    y[r] = s;
  }
}

static void axpy_bf16_scalar(float *y, const float *a, const uint16_t *w, int cp, int nr) {
  for (int r = 0; r < nr; r++) {
    const uint16_t *wr = w + (size_t)r * cp;
#pragma omp simd
    for (int j = 0; j < cp; j++) y[j] += a[r] * tf_bf16_float(wr[j]);
  }
}

static void axpy_q8_scalar(float *y, const float *a, const int8_t *w, const float *ws, int nb,
                           int nr) {
  for (int r = 0; r < nr; r++)
    for (int b = 0; b < nb; b++) {
      float c = a[r] * ws[(size_t)r * nb + b];
      float *yb = y + b * TF_Q8_BLOCK;
      const int8_t *wb = w + ((size_t)r * nb + b) * TF_Q8_BLOCK;
#pragma omp simd
      for (int j = 0; j < TF_Q8_BLOCK; j++) yb[j] += c * wb[j];
    }
}

/* ---------------------------------------------------------------- AVX2 + FMA */

#define AVX2 __attribute__((target("avx2,fma")))

/* 8 bf16 at p as 8 floats. */
AVX2 static inline __m256 bf16x8_avx2(const uint16_t *p) {
  __m256i u = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)p));
  return _mm256_castsi256_ps(_mm256_slli_epi32(u, 16));
}

AVX2 static inline float hsum_avx2(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

/* The kernels below take nr as a constant where it is TF_QROWS (the common case, fully
 * unrolled by inlining) and as a variable for a last group of fewer rows. */
#define BY_ROWS(call, nr) ((nr) == TF_QROWS ? call(TF_QROWS) : call(nr))

/* One row: four sums over 32 columns per step. */
AVX2 static float bf16_dot_avx2(const uint16_t *w, const struct tf_qvec *x, int cp) {
  __m256 a = _mm256_setzero_ps(), b = _mm256_setzero_ps(), c = _mm256_setzero_ps(),
         d = _mm256_setzero_ps();
  for (int j = 0; j < cp; j += 32) {
    a = _mm256_fmadd_ps(bf16x8_avx2(w + j), _mm256_loadu_ps(x->f + j), a);
    b = _mm256_fmadd_ps(bf16x8_avx2(w + j + 8), _mm256_loadu_ps(x->f + j + 8), b);
    c = _mm256_fmadd_ps(bf16x8_avx2(w + j + 16), _mm256_loadu_ps(x->f + j + 16), c);
    d = _mm256_fmadd_ps(bf16x8_avx2(w + j + 24), _mm256_loadu_ps(x->f + j + 24), d);
  }
  return hsum_avx2(_mm256_add_ps(_mm256_add_ps(a, b), _mm256_add_ps(c, d)));
}

/* Row by row: over several rows at once the bf16 dots measured slower (see TF_QROWS). */
AVX2 static void dot_bf16_avx2(float *y, const uint16_t *w, const struct tf_qvec *x, int cp,
                               int nr) {
  for (int r = 0; r < nr; r++) y[r] = bf16_dot_avx2(w + (size_t)r * cp, x, cp);
}

/* One block: |q| (unsigned) times w with q's sign (signed), pairs summed in 16 bits (at most
 * 2 127^2 < 2^15: no saturation), then in 32; |q| once per block for all rows. */
AVX2 static inline __attribute__((always_inline)) void q8_dots_avx2(float *y, const int8_t *w,
                                                                    const float *ws,
                                                                    const struct tf_qvec *x, int nb,
                                                                    const int nr) {
  const __m256i ones = _mm256_set1_epi16(1);
  size_t ld = (size_t)nb * TF_Q8_BLOCK;
  __m256 acc[TF_QROWS];
#pragma GCC unroll 4
  for (int r = 0; r < nr; r++) acc[r] = _mm256_setzero_ps();
  for (int b = 0; b < nb; b++) {
    __m256i xq = _mm256_loadu_si256((const __m256i *)(x->q + b * TF_Q8_BLOCK));
    __m256i xa = _mm256_sign_epi8(xq, xq);
#pragma GCC unroll 4
    for (int r = 0; r < nr; r++) {
      __m256i wq = _mm256_loadu_si256((const __m256i *)(w + r * ld + b * TF_Q8_BLOCK));
      __m256i p16 = _mm256_maddubs_epi16(xa, _mm256_sign_epi8(wq, xq));
      __m256 p = _mm256_cvtepi32_ps(_mm256_madd_epi16(p16, ones));
      acc[r] = _mm256_fmadd_ps(_mm256_set1_ps(ws[(size_t)r * nb + b] * x->s[b]), p, acc[r]);
    }
  }
#pragma GCC unroll 4
  for (int r = 0; r < nr; r++) y[r] = hsum_avx2(acc[r]);
}

AVX2 static void dot_q8_avx2(float *y, const int8_t *w, const float *ws, const struct tf_qvec *x,
                             int nb, int nr) {
#define CALL(n) q8_dots_avx2(y, w, ws, x, nb, n)
  BY_ROWS(CALL, nr);
#undef CALL
}

AVX2 static inline __attribute__((always_inline)) void
bf16_rows_avx2(float *y, const float *a, const uint16_t *w, int cp, const int nr) {
  __m256 c[TF_QROWS];
#pragma GCC unroll 4
  for (int r = 0; r < nr; r++) c[r] = _mm256_set1_ps(a[r]);
  for (int j = 0; j < cp; j += 8) {
    __m256 acc = _mm256_loadu_ps(y + j);
    for (int r = 0; r < nr; r++)
      acc = _mm256_fmadd_ps(c[r], bf16x8_avx2(w + (size_t)r * cp + j), acc);
    _mm256_storeu_ps(y + j, acc);
  }
}

AVX2 static void axpy_bf16_avx2(float *y, const float *a, const uint16_t *w, int cp, int nr) {
#define CALL(n) bf16_rows_avx2(y, a, w, cp, n)
  BY_ROWS(CALL, nr);
#undef CALL
}

AVX2 static inline __attribute__((always_inline)) void
q8_rows_avx2(float *y, const float *a, const int8_t *w, const float *ws, int nb, const int nr) {
  size_t ld = (size_t)nb * TF_Q8_BLOCK;
  for (int b = 0; b < nb; b++) {
    __m256 c[TF_QROWS];
#pragma GCC unroll 4
    for (int r = 0; r < nr; r++) c[r] = _mm256_set1_ps(a[r] * ws[(size_t)r * nb + b]);
#pragma GCC unroll 4
    for (int j = b * TF_Q8_BLOCK; j < (b + 1) * TF_Q8_BLOCK; j += 8) {
      __m256 acc = _mm256_loadu_ps(y + j);
#pragma GCC unroll 4
      for (int r = 0; r < nr; r++) {
        __m128i q = _mm_loadl_epi64((const __m128i *)(w + r * ld + j));
        acc = _mm256_fmadd_ps(c[r], _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(q)), acc);
      }
      _mm256_storeu_ps(y + j, acc);
    }
  }
}

AVX2 static void axpy_q8_avx2(float *y, const float *a, const int8_t *w, const float *ws, int nb,
                              int nr) {
#define CALL(n) q8_rows_avx2(y, a, w, ws, nb, n)
  BY_ROWS(CALL, nr);
#undef CALL
}

/* ---------------------------------------------------------------- AVX-512 */

#define AVX512     __attribute__((target("avx512f,avx512bw,avx512vnni")))
#define AVX512BF16 __attribute__((target("avx512f,avx512bw,avx512vnni,avx512bf16")))

/* 16 bf16 at p as 16 floats. */
AVX512 static inline __m512 bf16x16_avx512(const uint16_t *p) {
  __m512i u = _mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)p));
  return _mm512_castsi512_ps(_mm512_slli_epi32(u, 16));
}

/* One row: two sums over 32 columns per step. */
AVX512 static float bf16_dot_avx512(const uint16_t *w, const struct tf_qvec *x, int cp) {
  __m512 a = _mm512_setzero_ps(), b = _mm512_setzero_ps();
  for (int j = 0; j < cp; j += 32) {
    a = _mm512_fmadd_ps(bf16x16_avx512(w + j), _mm512_loadu_ps(x->f + j), a);
    b = _mm512_fmadd_ps(bf16x16_avx512(w + j + 16), _mm512_loadu_ps(x->f + j + 16), b);
  }
  return _mm512_reduce_add_ps(_mm512_add_ps(a, b));
}

AVX512 static void dot_bf16_avx512(float *y, const uint16_t *w, const struct tf_qvec *x, int cp,
                                   int nr) {
  for (int r = 0; r < nr; r++) y[r] = bf16_dot_avx512(w + (size_t)r * cp, x, cp);
}

/* Two blocks (64 bytes) per step; an odd last block loads 32 bytes (the rest zero). vpdpbusd
 * multiplies unsigned by signed bytes: |q| by w with q's sign (w is never -128), 4 products
 * summed per 32-bit lane, lanes 0-7 the first block, 8-15 the second. |q| and q's signs are
 * taken once per step for all rows. The products of the scales, 16 blocks at a time in one
 * vector per row, are spread to the two halves by a permute. */
AVX512 static inline __attribute__((always_inline)) void q8_dots_avx512(float *y, const int8_t *w,
                                                                        const float *ws,
                                                                        const struct tf_qvec *x,
                                                                        int nb, const int nr) {
  const __m512i zero = _mm512_setzero_si512();
  const __m512i halves = _mm512_set_epi32(1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0);
  size_t ld = (size_t)nb * TF_Q8_BLOCK;
  __m512 acc[TF_QROWS], sc[TF_QROWS];
#pragma GCC unroll 4
  for (int r = 0; r < nr; r++) acc[r] = _mm512_setzero_ps();
  for (int g = 0; g < nb; g += 16) {
    int left = nb - g < 16 ? nb - g : 16;
    __mmask16 ms = (__mmask16)((1u << left) - 1);
    __m512 xs = _mm512_maskz_loadu_ps(ms, x->s + g);
#pragma GCC unroll 4
    for (int r = 0; r < nr; r++)
      sc[r] = _mm512_mul_ps(_mm512_maskz_loadu_ps(ms, ws + (size_t)r * nb + g), xs);
    for (int k = 0; k < left; k += 2) {
      size_t at = (size_t)(g + k) * TF_Q8_BLOCK;
      __mmask64 m = k + 1 < left ? ~0ull : 0xffffffffull;
      __m512i xq = _mm512_maskz_loadu_epi8(m, x->q + at), xa = _mm512_abs_epi8(xq);
      __mmask64 neg = _mm512_movepi8_mask(xq);
      __m512i idx = _mm512_add_epi32(halves, _mm512_set1_epi32(k));
#pragma GCC unroll 4
      for (int r = 0; r < nr; r++) {
        __m512i wq = _mm512_maskz_loadu_epi8(m, w + r * ld + at);
        __m512i sw = _mm512_mask_sub_epi8(wq, neg, zero, wq);
        __m512 p = _mm512_cvtepi32_ps(_mm512_dpbusd_epi32(zero, xa, sw));
        acc[r] = _mm512_fmadd_ps(_mm512_permutexvar_ps(idx, sc[r]), p, acc[r]);
      }
    }
  }
#pragma GCC unroll 4
  for (int r = 0; r < nr; r++) y[r] = _mm512_reduce_add_ps(acc[r]);
}

AVX512 static void dot_q8_avx512(float *y, const int8_t *w, const float *ws,
                                 const struct tf_qvec *x, int nb, int nr) {
#define CALL(n) q8_dots_avx512(y, w, ws, x, nb, n)
  BY_ROWS(CALL, nr);
#undef CALL
}

AVX512 static inline __attribute__((always_inline)) void
bf16_rows_avx512(float *y, const float *a, const uint16_t *w, int cp, const int nr) {
  __m512 c[TF_QROWS];
#pragma GCC unroll 4
  for (int r = 0; r < nr; r++) c[r] = _mm512_set1_ps(a[r]);
  for (int j = 0; j < cp; j += 16) {
    __m512 acc = _mm512_loadu_ps(y + j);
#pragma GCC unroll 4
    for (int r = 0; r < nr; r++)
      acc = _mm512_fmadd_ps(c[r], bf16x16_avx512(w + (size_t)r * cp + j), acc);
    _mm512_storeu_ps(y + j, acc);
  }
}

AVX512 static void axpy_bf16_avx512(float *y, const float *a, const uint16_t *w, int cp, int nr) {
#define CALL(n) bf16_rows_avx512(y, a, w, cp, n)
  BY_ROWS(CALL, nr);
#undef CALL
}

AVX512 static inline __attribute__((always_inline)) void
q8_rows_avx512(float *y, const float *a, const int8_t *w, const float *ws, int nb, const int nr) {
  size_t ld = (size_t)nb * TF_Q8_BLOCK;
  for (int b = 0; b < nb; b++) {
    __m512 c[TF_QROWS];
#pragma GCC unroll 4
    for (int r = 0; r < nr; r++) c[r] = _mm512_set1_ps(a[r] * ws[(size_t)r * nb + b]);
#pragma GCC unroll 2
    for (int j = b * TF_Q8_BLOCK; j < (b + 1) * TF_Q8_BLOCK; j += 16) {
      __m512 acc = _mm512_loadu_ps(y + j);
#pragma GCC unroll 4
      for (int r = 0; r < nr; r++) {
        __m128i q = _mm_loadu_si128((const __m128i *)(w + r * ld + j));
        acc = _mm512_fmadd_ps(c[r], _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(q)), acc);
      }
      _mm512_storeu_ps(y + j, acc);
    }
  }
}

AVX512 static void axpy_q8_avx512(float *y, const float *a, const int8_t *w, const float *ws,
                                  int nb, int nr) {
#define CALL(n) q8_rows_avx512(y, a, w, ws, nb, n)
  BY_ROWS(CALL, nr);
#undef CALL
}

/* vdpbf16ps: lane i += w_2i x_2i + w_2i+1 x_2i+1 over bf16 pairs, in float; x = hi + lo, so
 * two of them per 32 weights. */
AVX512BF16 static float bf16_dot_avx512bf16(const uint16_t *w, const struct tf_qvec *x, int cp) {
  __m512 a = _mm512_setzero_ps(), b = _mm512_setzero_ps();
  for (int j = 0; j < cp; j += 32) {
    __m512bh wv = (__m512bh)_mm512_loadu_si512(w + j);
    a = _mm512_dpbf16_ps(a, wv, (__m512bh)_mm512_loadu_si512(x->hi + j));
    b = _mm512_dpbf16_ps(b, wv, (__m512bh)_mm512_loadu_si512(x->lo + j));
  }
  return _mm512_reduce_add_ps(_mm512_add_ps(a, b));
}

AVX512BF16 static void dot_bf16_avx512bf16(float *y, const uint16_t *w, const struct tf_qvec *x,
                                           int cp, int nr) {
  for (int r = 0; r < nr; r++) y[r] = bf16_dot_avx512bf16(w + (size_t)r * cp, x, cp);
}

/* ---------------------------------------------------------------- choice */

static const struct tf_qkern kernels[TF_NQPATHS] = {
    {"scalar", dot_bf16_scalar, dot_q8_scalar, axpy_bf16_scalar, axpy_q8_scalar},
    {"avx2", dot_bf16_avx2, dot_q8_avx2, axpy_bf16_avx2, axpy_q8_avx2},
    {"avx512", dot_bf16_avx512, dot_q8_avx512, axpy_bf16_avx512, axpy_q8_avx512},
    {"avx512bf16", dot_bf16_avx512bf16, dot_q8_avx512, axpy_bf16_avx512, axpy_q8_avx512},
};

int tf_qpath_supported(enum tf_qpath p) {
  __builtin_cpu_init();
  int avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  int avx512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
               __builtin_cpu_supports("avx512vnni");
  switch (p) {
  case TF_QPATH_SCALAR:
    return 1;
  case TF_QPATH_AVX2:
    return avx2;
  case TF_QPATH_AVX512:
    return avx512;
  case TF_QPATH_AVX512BF16:
    return avx512 && __builtin_cpu_supports("avx512bf16");
  default:
    return 0;
  }
}

const struct tf_qkern *tf_qkern_of(enum tf_qpath p) {
  return &kernels[p];
}

static int forced = TF_NQPATHS, best;
static char refused[200]; /* why TF_QKERNEL was refused, or empty */
static pthread_once_t best_once = PTHREAD_ONCE_INIT;

/* The names of the paths this CPU runs, best first, into out (cap bytes). */
static void supported_names(char *out, size_t cap) {
  size_t at = 0;
  out[0] = 0;
  for (int p = TF_NQPATHS - 1; p >= 0 && at < cap; p--)
    if (tf_qpath_supported(p))
      at += (size_t)snprintf(out + at, cap - at, "%s%s", at ? ", " : "", kernels[p].name);
}

/* The best path of the CPU, or the one TF_QKERNEL names (read here, once per process). A name
 * that is no path's, or a path this CPU lacks, is refused (tf_weights_kernel_check says why) and
 * the best path stays: nothing runs instructions the CPU lacks. */
static void find_best(void) {
  best = TF_NQPATHS - 1;
  while (best > 0 && !tf_qpath_supported(best)) best--;
  const char *want = getenv("TF_QKERNEL");
  if (!want || !*want) return;
  char name[48], have[64];
  tf_escape(name, sizeof name, want, strlen(want));
  supported_names(have, sizeof have);
  for (int p = 0; p < TF_NQPATHS; p++)
    if (strcmp(want, kernels[p].name) == 0) {
      if (tf_qpath_supported(p)) {
        best = p;
        return;
      }
      snprintf(refused, sizeof refused,
               "TF_QKERNEL=%s: this CPU lacks its instructions (it runs %s)", name, have);
      return;
    }
  snprintf(refused, sizeof refused, "TF_QKERNEL=%s: not a kernel family (this CPU runs %s)", name,
           have);
}

int tf_weights_kernel_check(struct tf_error *err) {
  pthread_once(&best_once, find_best);
  return refused[0] ? tf_error_set(err, TF_ECONFIG, "%s", refused) : TF_OK;
}

void tf_qpath_force(enum tf_qpath p) {
  forced = p;
}

const struct tf_qkern *tf_qkern(void) {
  if (forced < TF_NQPATHS) return &kernels[forced];
  pthread_once(&best_once, find_best);
  return &kernels[best];
}
