/* gemm.c: every matrix product of the library, on BLIS, and the thread count. No model math. */
#include <blis.h>
#include <omp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "tokenformer.h"
#include "gemm.h"

/* The BLIS context chosen once: NULL means BLIS's own choice for this CPU. */
static cntx_t *gemm_cntx;
static arch_t gemm_arch;
static char gemm_name[96];
static pthread_once_t gemm_once = PTHREAD_ONCE_INIT;

/* The arch named by TF_BLAS_ARCH (as bli_arch_string spells it), or -1. */
static int gemm_arch_from_env(void) {
  const char *want = getenv("TF_BLAS_ARCH");
  if (!want || !*want) return -1;
  for (int id = 0; id < BLIS_NUM_ARCHS; id++)
    if (strcasecmp(want, bli_arch_string((arch_t)id)) == 0) return id;
  return -1;
}

/* BLIS picks haswell kernels on Intel AVX-512 machines; its skx kernels are ~1.8x faster. */
static int gemm_arch_preferred(void) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  if (__builtin_cpu_is("intel") && __builtin_cpu_supports("avx512f")) return BLIS_ARCH_SKX;
#endif
  return -1;
}

static void direct_init(void);

static void gemm_init(void) {
  bli_init();
  gemm_arch = bli_arch_query_id();
  int want = gemm_arch_from_env();
  if (want < 0) want = gemm_arch_preferred();
  if (want >= 0 && (arch_t)want != gemm_arch) {
    cntx_t **c = bli_gks_lookup_id((arch_t)want);
    if (c && c[BLIS_NAT]) {
      gemm_cntx = c[BLIS_NAT];
      gemm_arch = (arch_t)want;
    }
  }
  direct_init();
  snprintf(gemm_name, sizeof gemm_name, "BLIS %s, %s kernels", bli_info_get_version_str(),
           bli_arch_string(gemm_arch));
}

const char *tf_gemm_kernel(void) {
  pthread_once(&gemm_once, gemm_init);
  return gemm_name;
}

/* tf_gemm passes the thread count to BLIS on every call, so OpenMP's setting is the one. */
void tf_set_threads(int n) {
  if (n > 0) omp_set_num_threads(n);
}

/* Products of fewer multiply-adds than this (~20 us on one core) run on one thread. */
#define GEMM_PARALLEL_MIN (1 << 20)
/* Threads split C at multiples of this: whole vector registers of columns; an uneven split
 * costs more than the partial register tiles it leaves at the seam. */
#define GEMM_ALIGN 16
/* BLIS's small-matrix path (its own loops, no packing) wins only for skinny outputs; when both
 * sides of C exceed this it is up to 3x slower, so it is skipped (its kernel is not: below). */
#define GEMM_SUP_MAX 64

/* K at least this many times the longer side of C: split K between the threads. */
#define GEMM_SPLIT_K 2

/* Direct products: when A is stored by rows (not transposed), BLIS's packing of A is skipped.
 * BLIS's small-matrix kernel reads A where it is, a block of rows by kc columns at a time,
 * while the next block is prefetched into L2; op(B) is packed once per product into panels of
 * nr columns, shared by the threads. In a training step A is fresh activations, mostly out of
 * cache: BLIS's packing reads it and the kernel then waits, where here the kernel works on one
 * block while the next arrives (a training step of configs/small.yaml: +2-8 %). Rows of A a
 * multiple of 4 KiB apart would share one set of the L1 cache (the kernel reads 6 at once), and
 * a large op(B) is better served by BLIS's larger blocks: those products stay with BLIS. */
typedef void (*sup_ker_fn)(conj_t, conj_t, dim_t, dim_t, dim_t, float *, float *, inc_t, inc_t,
                           float *, inc_t, inc_t, float *, float *, inc_t, inc_t, auxinfo_t *,
                           cntx_t *);
typedef void (*packm_fn)(conj_t, pack_t, dim_t, dim_t, dim_t, float *, float *, inc_t, inc_t,
                         float *, inc_t, cntx_t *);

/* Rows of A per block; columns of C per pass over K; rows of A this many floats apart share
 * L1 sets; the largest packed op(B) (floats) of a direct product. A larger op(B) streams from
 * L3 once per block of A, and BLIS, which packs A for more rows at a time, is then faster:
 * 150M's 768 x 768 products gain 3-4 % here, its 768 x 3072 ones would lose 4-10 %. */
#define GEMM_ROWS_CHUNK   96
#define GEMM_COLS_BLOCK   256
#define GEMM_ALIAS_FLOATS 1024
#define GEMM_DIRECT_B_MAX (600 * 1024)

/* The kernels of the direct products; ker is NULL when BLIS lacks one (BLIS products then). */
static struct {
  cntx_t *cntx;
  sup_ker_fn ker;
  packm_fn pack_b;
  int mr, nr, kc;
} direct;

static void direct_init(void) {
  cntx_t *cx = gemm_cntx ? gemm_cntx : bli_gks_query_cntx();
  direct.cntx = cx;
  /* the small-matrix kernel's own register block (not every arch has one: skx has not) */
  direct.mr = (int)bli_cntx_get_l3_sup_blksz_def_dt(BLIS_FLOAT, BLIS_MR, cx);
  direct.nr = (int)bli_cntx_get_l3_sup_blksz_def_dt(BLIS_FLOAT, BLIS_NR, cx);
  direct.kc = (int)bli_cntx_get_blksz_def_dt(BLIS_FLOAT, BLIS_KC, cx);
  direct.ker = (sup_ker_fn)bli_cntx_get_l3_sup_ker_dt(BLIS_FLOAT, BLIS_RRR, cx);
  if (direct.mr < 1 || direct.nr < 1 || direct.nr >= BLIS_NUM_PACKM_KERS || direct.kc < 1) {
    direct.ker = NULL;
    return;
  }
  direct.pack_b = (packm_fn)bli_cntx_get_packm_ker_dt(BLIS_FLOAT, (l1mkr_t)direct.nr, cx);
  if (!direct.pack_b) direct.ker = NULL;
}

static int direct_panels(int N) {
  return (N + direct.nr - 1) / direct.nr;
}

/* Panel j of op(B) (K x N), kc rows at a time: block k0 at dst + k0 npad + j kc nr, where npad
 * is N rounded up to whole panels (the last one zero-padded). */
static void direct_pack_panel(float *dst, int trans_b, int K, int N, const float *B, int ldb,
                              int j) {
  int nr = direct.nr, npad = direct_panels(N) * nr, w = N - j * nr < nr ? N - j * nr : nr;
  inc_t rs = trans_b ? 1 : ldb, cs = trans_b ? ldb : 1;
  float one = 1.0f;
  for (int k0 = 0; k0 < K; k0 += direct.kc) {
    int kc = K - k0 < direct.kc ? K - k0 : direct.kc;
    direct.pack_b(BLIS_NO_CONJUGATE, BLIS_PACKED_COL_PANELS, w, kc, kc, &one,
                  (float *)B + k0 * rs + (size_t)j * nr * cs, cs, rs,
                  dst + (size_t)k0 * npad + (size_t)j * kc * nr, nr, direct.cntx);
  }
}

/* Asks for the cache lines [l0, l1) of a block of rows of `cols` floats (stride ld) at a to be
 * brought into L2. */
static void prefetch_lines(const float *a, int ld, int cols, int l0, int l1) {
  int per_row = (cols + 15) / 16;
  for (int l = l0; l < l1; l++)
    __builtin_prefetch(a + (size_t)(l / per_row) * ld + (l % per_row) * 16, 0, 2);
}

/* Rows [r0, r1) of C = alpha A op(B) + beta C (K > 0), op(B) packed by direct_pack_panel into
 * bp. A block of rows of C is done GEMM_COLS_BLOCK columns at a time, so that it stays in L2
 * over the whole sum along K; each block of A (those rows, kc columns) meets the panels of B in
 * that column block, and while it does the next block of A is prefetched, a share per panel. */
static void direct_rows(int r0, int r1, int N, int K, float alpha, const float *A, int lda,
                        const float *bp, float beta, float *C, int ldc) {
  int nr = direct.nr, np = direct_panels(N);
  int group = GEMM_COLS_BLOCK / nr > 0 ? GEMM_COLS_BLOCK / nr : 1;
  auxinfo_t aux;
  memset(&aux, 0, sizeof aux);
  bli_auxinfo_set_ps_a((inc_t)direct.mr * lda, &aux); /* the kernel steps mr rows of A */
  for (int i0 = r0; i0 < r1; i0 += GEMM_ROWS_CHUNK) {
    int m = r1 - i0 < GEMM_ROWS_CHUNK ? r1 - i0 : GEMM_ROWS_CHUNK;
    for (int g0 = 0; g0 < np; g0 += group) {
      int g1 = np - g0 < group ? np : g0 + group;
      for (int k0 = 0; k0 < K; k0 += direct.kc) {
        int kc = K - k0 < direct.kc ? K - k0 : direct.kc, last = k0 + kc >= K && g1 == np;
        /* next: the following kc columns, else (next column block) the first, else the next
         * rows' first */
        int ni = last ? i0 + m : i0, nk = k0 + kc < K ? k0 + kc : 0;
        int nm = r1 - ni < GEMM_ROWS_CHUNK ? r1 - ni : GEMM_ROWS_CHUNK;
        int nkc = K - nk < direct.kc ? K - nk : direct.kc;
        long lines = nm > 0 ? (long)nm * ((nkc + 15) / 16) : 0;
        float b = k0 ? 1.0f : beta;
        for (int j = g0; j < g1; j++) {
          prefetch_lines(A + (size_t)ni * lda + nk, lda, nkc, (int)(lines * (j - g0) / (g1 - g0)),
                         (int)(lines * (j - g0 + 1) / (g1 - g0)));
          direct.ker(BLIS_NO_CONJUGATE, BLIS_NO_CONJUGATE, m, N - j * nr < nr ? N - j * nr : nr, kc,
                     &alpha, (float *)A + (size_t)i0 * lda + k0, lda, 1,
                     (float *)bp + (size_t)k0 * np * nr + (size_t)j * kc * nr, nr, 1, &b,
                     C + (size_t)i0 * ldc + (size_t)j * nr, ldc, 1, &aux, direct.cntx);
        }
      }
    }
  }
}

/* *p grown to at least `floats` (64-byte aligned; what it held is not kept) and kept: the
 * model's shapes repeat every step, so the calling thread's buffers grow in the first step
 * only. NULL when memory is short. */
static float *kept_buffer(float **p, size_t *have, size_t floats) {
  if (floats > *have) {
    float *q = aligned_alloc(64, (floats + 15) / 16 * 16 * sizeof *q);
    if (!q) return NULL;
    free(*p);
    *p = q;
    *have = floats;
  }
  return *p;
}

/* The packed op(B) of the calling thread's direct products; the partial products of its
 * split-K ones. */
static _Thread_local float *direct_b, *gemm_work;
static _Thread_local size_t direct_b_floats, gemm_work_floats;

/* C = alpha A op(B) + beta C on nt threads (1: the calling thread alone): op(B) packed by all,
 * then each thread its share of the rows. Returns -1 (nothing done) when it does not apply
 * (also for K = 0 and alpha = 0, where BLIS scales C by beta without reading A or B). */
static int gemm_direct(int nt, int trans_a, int trans_b, int M, int N, int K, float alpha,
                       const float *A, int lda, const float *B, int ldb, float beta, float *C,
                       int ldc) {
  if (trans_a || !direct.ker || K < 1 || alpha == 0.0f || (M < N ? M : N) <= GEMM_SUP_MAX ||
      M < nt * GEMM_ROWS_CHUNK || lda % GEMM_ALIAS_FLOATS == 0)
    return -1;
  int np = direct_panels(N);
  size_t b_floats = (size_t)K * np * direct.nr;
  float *bp =
      b_floats > GEMM_DIRECT_B_MAX ? NULL : kept_buffer(&direct_b, &direct_b_floats, b_floats);
  if (!bp) return -1;
#pragma omp parallel num_threads(nt) if (nt > 1)
  {
#pragma omp for schedule(static)
    for (int j = 0; j < np; j++) direct_pack_panel(bp, trans_b, K, N, B, ldb, j);
    int tn = omp_get_num_threads(), t = omp_get_thread_num();
    int share = ((M + tn - 1) / tn + GEMM_ALIGN - 1) / GEMM_ALIGN * GEMM_ALIGN;
    int r0 = t * share < M ? t * share : M, r1 = r0 + share < M ? r0 + share : M;
    direct_rows(r0, r1, N, K, alpha, A, lda, bp, beta, C, ldc);
  }
  return 0;
}

/* One product on the calling thread; a transpose is only a swap of strides. */
static void gemm_serial(int trans_a, int trans_b, int M, int N, int K, float alpha, const float *A,
                        int lda, const float *B, int ldb, float beta, float *C, int ldc) {
  if (gemm_direct(1, trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc) == 0) return;
  rntm_t rntm = BLIS_RNTM_INITIALIZER;
  bli_rntm_set_num_threads(1, &rntm);
  if ((M < N ? M : N) > GEMM_SUP_MAX) bli_rntm_disable_l3_sup(&rntm);
  inc_t rs_a = trans_a ? 1 : lda, cs_a = trans_a ? lda : 1;
  inc_t rs_b = trans_b ? 1 : ldb, cs_b = trans_b ? ldb : 1;
  bli_sgemm_ex(BLIS_NO_TRANSPOSE, BLIS_NO_TRANSPOSE, M, N, K, &alpha, (float *)A, rs_a, cs_a,
               (float *)B, rs_b, cs_b, &beta, C, ldc, 1, gemm_cntx, &rntm);
}

/* C = alpha op(A) op(B) + beta C with the K sum split between nt threads: thread 0 adds its
 * share into C, the others write theirs to the workspace, and the threads then add the
 * partial products into C row by row. For the products whose K is long beside both sides of C
 * (the parameter gradients, K = tokens): splitting C instead would have every thread pack the
 * whole of the operand it shares. */
static int gemm_split_k(int nt, int trans_a, int trans_b, int M, int N, int K, float alpha,
                        const float *A, int lda, const float *B, int ldb, float beta, float *C,
                        int ldc) {
  size_t mn = (size_t)M * N;
  float *work = kept_buffer(&gemm_work, &gemm_work_floats, mn * (nt - 1));
  if (!work) return -1;
#pragma omp parallel num_threads(nt)
  {
    /* the team may be smaller than asked (OMP_THREAD_LIMIT): share K among those there are */
    int tn = omp_get_num_threads(), chunk = (K + tn - 1) / tn;
    int p = omp_get_thread_num(), k0 = p * chunk, kn = K - k0 < chunk ? K - k0 : chunk;
    const float *Ap = A + (size_t)k0 * (trans_a ? lda : 1);
    const float *Bp = B + (size_t)k0 * (trans_b ? 1 : ldb);
    float *Cp = p == 0 ? C : work + (p - 1) * mn;
    if (kn > 0)
      gemm_serial(trans_a, trans_b, M, N, kn, alpha, Ap, lda, Bp, ldb, p == 0 ? beta : 0.0f, Cp,
                  p == 0 ? ldc : N);
    else if (p > 0)
      memset(Cp, 0, mn * sizeof *Cp);
#pragma omp barrier
#pragma omp for schedule(static)
    for (int i = 0; i < M; i++)
      for (int q = 1; q < tn; q++) {
        const float *w = work + (q - 1) * mn + (size_t)i * N;
        float *c = C + (size_t)i * ldc;
#pragma omp simd
        for (int j = 0; j < N; j++) c[j] += w[j];
      }
  }
  return 0;
}

/* C = alpha op(A) op(B) + beta C, row-major. The threads split C into panels along its longer
 * side, one single-threaded product each (or split K, above; or share the rows of a direct
 * product). BLIS's own threading is as
 * fast on an idle machine, but its threads wait for each other by spinning: when another
 * process shares the cores it loses 5-10x where this split loses at most 2x. Inside an OpenMP
 * parallel region (even a one-thread one) the product runs on the calling thread. */
void tf_gemm(int trans_a, int trans_b, int M, int N, int K, float alpha, const float *A, int lda,
             const float *B, int ldb, float beta, float *C, int ldc) {
  if (M <= 0 || N <= 0) return;
  pthread_once(&gemm_once, gemm_init);
  int nt = omp_get_level() > 0 ? 1 : omp_get_max_threads();
  int rows = M >= N, len = rows ? M : N;
  int chunk = ((len + nt - 1) / nt + GEMM_ALIGN - 1) / GEMM_ALIGN * GEMM_ALIGN;
  if (nt == 1 || (double)M * N * K < GEMM_PARALLEL_MIN) {
    gemm_serial(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    return;
  }
  if (K >= GEMM_SPLIT_K * len &&
      gemm_split_k(nt, trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc) == 0)
    return;
  if (gemm_direct(nt, trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc) == 0) return;
  if (chunk >= len) {
    gemm_serial(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    return;
  }
  int parts = (len + chunk - 1) / chunk;
#pragma omp parallel for schedule(static) num_threads(parts)
  for (int p = 0; p < parts; p++) {
    size_t o = (size_t)p * chunk;
    int n = len - (int)o < chunk ? len - (int)o : chunk;
    if (rows)
      gemm_serial(trans_a, trans_b, n, N, K, alpha, A + (trans_a ? o : o * lda), lda, B, ldb, beta,
                  C + o * ldc, ldc);
    else
      gemm_serial(trans_a, trans_b, M, n, K, alpha, A, lda, B + (trans_b ? o * ldb : o), ldb, beta,
                  C + o, ldc);
  }
}
