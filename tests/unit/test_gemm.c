/* test_gemm.c: tf_gemm (lib/gemm.c) against a float64 triple loop for every transpose
 * combination, with padded strides, alpha and beta; K = 0; beta = 0 over NaN; alpha = 0 over
 * NaN; calls from inside OpenMP regions; bit-for-bit repeatability; the kernel name and the
 * TF_BLAS_ARCH override. */
#include <check.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fd.h"
#include "tokenformer.h"
#include "suite.h"
#include "gemm.h"

/* op(A) (M x K) stored as M x K or, transposed, K x M, with 3 floats of padding per row. */
struct mm {
  int ta, tb, M, N, K, lda, ldb, ldc;
  float alpha, beta;
  float *A, *B, *C;
};

static struct mm mm_new(int ta, int tb, int M, int N, int K, uint64_t seed) {
  struct mm m = {.ta = ta,
                 .tb = tb,
                 .M = M,
                 .N = N,
                 .K = K,
                 .lda = (ta ? M : K) + 3,
                 .ldb = (tb ? K : N) + 3,
                 .ldc = N + 3,
                 .alpha = 0.7f,
                 .beta = -1.3f};
  size_t na = (size_t)(ta ? K : M) * m.lda, nb = (size_t)(tb ? N : K) * m.ldb;
  m.A = malloc((na + 1) * sizeof(float));
  m.B = malloc((nb + 1) * sizeof(float));
  m.C = malloc(((size_t)M * m.ldc + 1) * sizeof(float));
  if (!m.A || !m.B || !m.C) abort(); /* no ck_assert: arch_child runs outside check */
  fd_fill(m.A, na, 1.0f, seed);
  fd_fill(m.B, nb, 1.0f, seed + 1);
  fd_fill(m.C, (size_t)M * m.ldc, 1.0f, seed + 2);
  return m;
}

static void mm_free(struct mm *m) {
  free(m->A);
  free(m->B);
  free(m->C);
}

static void mm_run(struct mm *m) {
  tf_gemm(m->ta, m->tb, m->M, m->N, m->K, m->alpha, m->A, m->lda, m->B, m->ldb, m->beta, m->C,
          m->ldc);
}

static float at(const float *X, int ld, int trans, int i, int j) {
  return trans ? X[(size_t)j * ld + i] : X[(size_t)i * ld + j];
}

/* Runs the product and returns its worst error against float64 alpha sum_k A_ik B_kj +
 * beta C_ij, relative to alpha sum_k |A_ik B_kj| + |beta C_ij| (float32 accumulation over K
 * terms errs by about sqrt(K) ulps of that); infinity if the padding between rows changed. */
static double mm_error(struct mm *m) {
  float *C0 = malloc(((size_t)m->M * m->ldc + 1) * sizeof(float));
  if (!C0) return INFINITY;
  memcpy(C0, m->C, (size_t)m->M * m->ldc * sizeof(float));
  mm_run(m);
  double worst = 0;
  for (int i = 0; i < m->M; i++)
    for (int j = 0; j < m->ldc; j++) {
      size_t o = (size_t)i * m->ldc + j;
      if (j >= m->N) {
        if (m->C[o] != C0[o]) worst = INFINITY;
        continue;
      }
      double s = 0, mag = fabs(m->beta * C0[o]);
      for (int k = 0; k < m->K; k++) {
        double p = (double)at(m->A, m->lda, m->ta, i, k) * at(m->B, m->ldb, m->tb, k, j);
        s += p;
        mag += fabs(m->alpha * p);
      }
      worst = fmax(worst, fabs(m->C[o] - (m->alpha * s + m->beta * C0[o])) / (mag + 1e-30));
    }
  free(C0);
  return worst;
}

/* sqrt(300) ulps is 1e-6; 1e-5 is ample and still far below any indexing mistake. */
static void check_against_loop(struct mm *m) {
  double e = mm_error(m);
  ck_assert_msg(e <= 1e-5, "ta %d tb %d %dx%dx%d: error %.3g", m->ta, m->tb, m->M, m->N, m->K, e);
}

START_TEST(gemm_matches_triple_loop_for_every_transpose) {
  int ta = _i / 2, tb = _i % 2;
  /* odd sizes, vectors, two products large enough to be split across threads (by rows, then
   * by columns, into panels of unequal size), two whose K is long enough to be split instead
   * (an odd K: unequal shares), one whose rows go in blocks, with K longer than a block of
   * BLIS's and a last panel of B only partly filled (a direct product: A not transposed), and
   * one whose B is too large for that (BLIS's packing again) */
  tf_set_threads(2);
  int sizes[][3] = {{37, 29, 53},    {1, 17, 5},      {64, 1, 300},   {130, 70, 9},
                    {301, 97, 40},   {90, 403, 31},   {96, 80, 1500}, {70, 33, 1001},
                    {701, 203, 613}, {200, 1100, 600}};
  for (size_t s = 0; s < sizeof sizes / sizeof *sizes; s++) {
    struct mm m = mm_new(ta, tb, sizes[s][0], sizes[s][1], sizes[s][2], 10 * s + _i);
    check_against_loop(&m);
    mm_free(&m);
  }
}
END_TEST

/* K = 0: the product is empty and C becomes beta C; small, and of a size that would be a
 * direct product, after one (whose buffers are then there to be used). */
START_TEST(gemm_with_empty_inner_dimension_scales_c) {
  tf_set_threads(2);
  struct mm before = mm_new(0, 0, 301, 97, 40, 2);
  mm_run(&before);
  mm_free(&before);
  int sizes[][2] = {{5, 4}, {301, 97}};
  for (int s = 0; s < 2; s++) {
    struct mm m = mm_new(0, 0, sizes[s][0], sizes[s][1], 0, 3);
    check_against_loop(&m);
    mm_free(&m);
  }
}
END_TEST

/* beta = 0 writes C without reading it: NaN there (memory never written) does not leak in. */
START_TEST(gemm_with_zero_beta_ignores_c) {
  tf_set_threads(2);
  int sizes[][3] = {{5, 4, 3}, {301, 97, 40}, {701, 203, 300}};
  for (int ta = 0; ta < 2; ta++)
    for (size_t s = 0; s < sizeof sizes / sizeof *sizes; s++) {
      struct mm m = mm_new(ta, 0, sizes[s][0], sizes[s][1], sizes[s][2], 60 + s);
      for (int i = 0; i < m.M; i++)
        for (int j = 0; j < m.N; j++) m.C[(size_t)i * m.ldc + j] = NAN;
      m.beta = 0.0f;
      check_against_loop(&m);
      mm_free(&m);
    }
}
END_TEST

/* alpha = 0 leaves A and B unread: C becomes beta C, NaN in A does not leak in. */
START_TEST(gemm_with_zero_alpha_ignores_a_and_b) {
  tf_set_threads(2);
  struct mm m = mm_new(0, 0, 301, 97, 40, 70);
  for (size_t i = 0; i < (size_t)m.M * m.lda; i++) m.A[i] = NAN;
  float *C0 = malloc((size_t)m.M * m.ldc * sizeof *C0);
  ck_assert(C0 != NULL);
  memcpy(C0, m.C, (size_t)m.M * m.ldc * sizeof *C0);
  m.alpha = 0.0f;
  mm_run(&m);
  for (int i = 0; i < m.M; i++)
    for (int j = 0; j < m.N; j++) {
      size_t o = (size_t)i * m.ldc + j;
      ck_assert_msg(fabsf(m.C[o] - m.beta * C0[o]) <= 1e-6f * fabsf(C0[o]),
                    "C[%d][%d] = %g, beta C = %g", i, j, m.C[o], m.beta * C0[o]);
    }
  free(C0);
  mm_free(&m);
}
END_TEST

/* Each thread of an OpenMP region runs its own product (on its own, without nesting). */
START_TEST(gemm_inside_parallel_region) {
  struct mm m[4], ref[4];
  for (int i = 0; i < 4; i++) {
    m[i] = mm_new(i & 1, i >> 1, 90, 70, 80, 40 + i);
    ref[i] = mm_new(i & 1, i >> 1, 90, 70, 80, 40 + i);
    mm_run(&ref[i]);
  }
#pragma omp parallel for num_threads(2)
  for (int i = 0; i < 4; i++) mm_run(&m[i]);
  for (int i = 0; i < 4; i++) {
    ck_assert_mem_eq(m[i].C, ref[i].C, (size_t)90 * m[i].ldc * sizeof(float));
    mm_free(&m[i]);
    mm_free(&ref[i]);
  }
}
END_TEST

/* Same inputs, same thread count: the same bits (a model-sized product on 2 threads). */
START_TEST(gemm_is_repeatable) {
  tf_set_threads(2);
  /* split by rows; split K; rows dealt in blocks (A not transposed) */
  int sizes[][4] = {{300, 256, 512, 1}, {256, 256, 2048, 1}, {300, 256, 512, 0}};
  for (int s = 0; s < 3; s++) {
    int M = sizes[s][0], N = sizes[s][1], K = sizes[s][2], ta = sizes[s][3];
    struct mm a = mm_new(ta, 0, M, N, K, 7), b = mm_new(ta, 0, M, N, K, 7);
    mm_run(&a);
    mm_run(&b);
    ck_assert_mem_eq(a.C, b.C, (size_t)M * a.ldc * sizeof(float));
    mm_free(&a);
    mm_free(&b);
  }
}
END_TEST

START_TEST(kernel_name_says_blis_and_kernels) {
  const char *k = tf_gemm_kernel();
  ck_assert_msg(strncmp(k, "BLIS ", 5) == 0 && strstr(k, " kernels"), "kernel: %s", k);
}
END_TEST

/* The child of blas_arch_variable_overrides_the_choice, in a fresh process (the choice is
 * made once per process): exit 0 if the kernels are the ones TF_BLAS_ARCH names and products
 * with them are right (a small one, and one that is direct where the arch allows it). */
static int arch_child(const char *arch) {
  char want[64];
  snprintf(want, sizeof want, "%s kernels", arch);
  tf_set_threads(2);
  struct mm m = mm_new(1, 1, 33, 45, 61, 9), d = mm_new(0, 1, 301, 97, 300, 19);
  int ok = strstr(tf_gemm_kernel(), want) && mm_error(&m) <= 1e-5 && mm_error(&d) <= 1e-5;
  mm_free(&m);
  mm_free(&d);
  return ok ? 0 : 1;
}

/* haswell everywhere; skx (no small-matrix kernel of its own) where AVX-512 runs. */
START_TEST(blas_arch_variable_overrides_the_choice) {
  const char *arch = _i == 0 ? "haswell" : "skx";
  __builtin_cpu_init();
  if (_i == 1 && !__builtin_cpu_supports("avx512f")) return;
  pid_t pid = fork();
  ck_assert(pid >= 0);
  if (pid == 0) {
    setenv("TF_BLAS_ARCH", arch, 1);
    execl("/proc/self/exe", "test_gemm", "--arch-child", arch, (char *)NULL);
    _exit(127);
  }
  int status;
  ck_assert(waitpid(pid, &status, 0) == pid);
  ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "TF_BLAS_ARCH=%s: status %d", arch,
                status);
}
END_TEST

static Suite *gemm_suite(void) {
  Suite *s = suite_create("gemm");
  TCase *tc = tcase_create("gemm");
  tcase_set_timeout(tc, 60); /* slow only when the cores are shared */
  tcase_add_loop_test(tc, gemm_matches_triple_loop_for_every_transpose, 0, 4);
  tcase_add_test(tc, gemm_with_empty_inner_dimension_scales_c);
  tcase_add_test(tc, gemm_with_zero_beta_ignores_c);
  tcase_add_test(tc, gemm_with_zero_alpha_ignores_a_and_b);
  tcase_add_test(tc, gemm_inside_parallel_region);
  tcase_add_test(tc, gemm_is_repeatable);
  tcase_add_test(tc, kernel_name_says_blis_and_kernels);
  tcase_add_loop_test(tc, blas_arch_variable_overrides_the_choice, 0, 2);
  suite_add_tcase(s, tc);
  return s;
}

int main(int argc, char **argv) {
  if (argc == 3 && strcmp(argv[1], "--arch-child") == 0) return arch_child(argv[2]);
  return tf_test_run(gemm_suite());
}
