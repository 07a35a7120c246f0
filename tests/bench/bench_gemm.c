/* bench_gemm.c: GFLOP/s of tf_gemm at 1024^2 and at the Pattention shapes of two model
 * configs, on 1 and 2 threads (median of several runs). A measurement, not a test. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "tokenformer.h"
#include "gemm.h"
#include "bench_util.h"

#define RUNS 7

struct shape {
  const char *what;
  int ta, tb, M, N, K;
};

static float *filled(size_t n) {
  float *p = malloc(n * sizeof *p);
  if (!p) return NULL;
  for (size_t i = 0; i < n; i++) p[i] = (float)((i * 7919) % 1000) / 1000.0f - 0.5f;
  return p;
}

/* Median GFLOP/s of RUNS products of shape s (after one warm-up), or -1 without memory. */
static double measure(const struct shape *s) {
  float *A = filled((size_t)s->M * s->K), *B = filled((size_t)s->K * s->N);
  float *C = filled((size_t)s->M * s->N);
  double t[RUNS], gf = -1;
  if (A && B && C) {
    int lda = s->ta ? s->M : s->K, ldb = s->tb ? s->K : s->N;
    for (int r = -1; r < RUNS; r++) {
      double t0 = now();
      tf_gemm(s->ta, s->tb, s->M, s->N, s->K, 1.0f, A, lda, B, ldb, 0.0f, C, s->N);
      if (r >= 0) t[r] = now() - t0;
    }
    sort_times(t, RUNS);
    gf = 2.0 * s->M * s->N * s->K / t[RUNS / 2] / 1e9;
  }
  free(A);
  free(B);
  free(C);
  return gf;
}

/* The three product shapes of a Pattention with T rows, n tokens and width d: forward
 * X K^T and S V (backward G V^T and dA K are the same), backward S^T G and dA^T X. */
static int pattn_shapes(struct shape *out, const char *cfg, int T, int n, int d) {
  static char names[64][80];
  static int used;
  const char *op[3] = {"X.K^T  ", "S.V    ", "dA^T.X  "};
  int dims[3][5] = {{0, 1, T, n, d}, {0, 0, T, d, n}, {1, 0, n, d, T}};
  for (int i = 0; i < 3; i++) {
    snprintf(names[used], sizeof names[used], "%s %s T=%d n=%d d=%d", cfg, op[i], T, n, d);
    out[i] =
        (struct shape){names[used++], dims[i][0], dims[i][1], dims[i][2], dims[i][3], dims[i][4]};
  }
  return 3;
}

int main(void) {
  struct shape s[16];
  int ns = 0;
  s[ns++] = (struct shape){"square 1024", 0, 0, 1024, 1024, 1024};
  ns += pattn_shapes(s + ns, "L6 d256", 8 * 256, 256, 256);
  ns += pattn_shapes(s + ns, "L6 d256", 8 * 256, 1024, 256);
  ns += pattn_shapes(s + ns, "150M   ", 4 * 512, 768, 768);
  ns += pattn_shapes(s + ns, "150M   ", 4 * 512, 3072, 768);
  printf("tf_gemm: %s; median of %d runs, GFLOP/s\n", tf_gemm_kernel(), RUNS);
  printf("%-36s %9s %9s\n", "shape", "1 thread", "2 threads");
  for (int i = 0; i < ns; i++) {
    double g[2];
    for (int th = 1; th <= 2; th++) {
      tf_set_threads(th);
      g[th - 1] = measure(&s[i]);
    }
    printf("%-36s %9.1f %9.1f\n", s[i].what, g[0], g[1]);
    fflush(stdout);
  }
  return 0;
}
