/* gemm.c: every matrix product of the library, on BLIS, and the thread count. No model math. */
#include <blis.h>
#include <omp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "kernels.h"
#include "tokenformer.h"

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
/* BLIS's small-matrix path (no packing) wins only for skinny outputs, like attention's
 * (T, d_h) ones; when both sides of C exceed this it is up to 3x slower, so it is skipped. */
#define GEMM_SUP_MAX 64

/* K at least this many times the longer side of C: split K between the threads. */
#define GEMM_SPLIT_K 2

/* One product on the calling thread; a transpose is only a swap of strides. */
static void gemm_serial(int trans_a, int trans_b, int M, int N, int K, float alpha, const float *A,
                        int lda, const float *B, int ldb, float beta, float *C, int ldc) {
  rntm_t rntm = BLIS_RNTM_INITIALIZER;
  bli_rntm_set_num_threads(1, &rntm);
  if ((M < N ? M : N) > GEMM_SUP_MAX) bli_rntm_disable_l3_sup(&rntm);
  inc_t rs_a = trans_a ? 1 : lda, cs_a = trans_a ? lda : 1;
  inc_t rs_b = trans_b ? 1 : ldb, cs_b = trans_b ? ldb : 1;
  bli_sgemm_ex(BLIS_NO_TRANSPOSE, BLIS_NO_TRANSPOSE, M, N, K, &alpha, (float *)A, rs_a, cs_a,
               (float *)B, rs_b, cs_b, &beta, C, ldc, 1, gemm_cntx, &rntm);
}

/* Per-thread workspace for the partial products of split-K, grown on demand and kept: the
 * model's shapes repeat every step, so it is allocated in the first step only. NULL when
 * memory is short (the caller then splits C instead). */
static _Thread_local float *gemm_work;
static _Thread_local size_t gemm_work_floats;

static float *gemm_workspace(size_t floats) {
  if (floats > gemm_work_floats) {
    float *p = realloc(gemm_work, floats * sizeof *p);
    if (!p) return NULL;
    gemm_work = p;
    gemm_work_floats = floats;
  }
  return gemm_work;
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
  float *work = gemm_workspace(mn * (nt - 1));
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
 * side, one single-threaded BLIS product each (or split K, above). BLIS's own threading is as
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
