/* gemv.c: the two matrix-vector products of a one-row Pattention (x K^T and s^T V) and of
 * the output head, as OpenMP work-sharing loops that vectorise. No model math here. */
#include <omp.h>
#include <stddef.h>
#include <string.h>

#include "gemv.h"

void tf_gemv_nowait_ws(float *y, const float *M, const float *x, int rows, int cols) {
#pragma omp for schedule(static) nowait
  for (int i = 0; i < rows; i++) y[i] = tf_dotf(M + (size_t)i * cols, x, cols);
}

void tf_gemv_ws(float *y, const float *M, const float *x, int rows, int cols) {
  tf_gemv_nowait_ws(y, M, x, rows, cols);
#pragma omp barrier
}

void tf_gemv_t_mine_ws(float *mine, const float *s, const float *M, int rows, int cols) {
  memset(mine, 0, (size_t)cols * sizeof *mine);
#pragma omp for schedule(static) nowait
  for (int i = 0; i < rows; i++) tf_axpyf(mine, s[i], M + (size_t)i * cols, cols);
}

void tf_gemv_t_ws(float *y, float beta, const float *s, const float *M, int rows, int cols,
                  float *partial) {
  tf_gemv_t_mine_ws(partial + (size_t)omp_get_thread_num() * cols, s, M, rows, cols);
#pragma omp barrier
  tf_gemv_reduce_ws(y, beta, partial, (size_t)cols, cols);
}

/* y_c = beta y_c + sum_t partial_tc in thread order (beta 0: y ignored). */
static inline float reduce_col(float y, float beta, const float *partial, size_t ld, int nt) {
  float acc = 0.0f;
  for (int t = 0; t < nt; t++) acc += partial[(size_t)t * ld];
  return beta == 0.0f ? acc : beta * y + acc;
}

void tf_gemv_reduce_ws(float *y, float beta, const float *partial, size_t ld, int cols) {
  int nt = omp_get_num_threads();
#pragma omp for simd schedule(static)
  for (int c = 0; c < cols; c++) y[c] = reduce_col(y[c], beta, partial + c, ld, nt);
}

void tf_gemv_reduce_cols(float *y, float beta, const float *partial, size_t ld, int nt, int c0,
                         int c1) {
#pragma omp simd
  for (int c = c0; c < c1; c++) y[c] = reduce_col(y[c], beta, partial + c, ld, nt);
}

static int team_size(int threads) {
  return threads > 0 ? threads : omp_get_max_threads();
}

void tf_gemv(float *y, const float *M, const float *x, int rows, int cols, int threads) {
#pragma omp parallel num_threads(team_size(threads))
  tf_gemv_ws(y, M, x, rows, cols);
}

void tf_gemv_t(float *y, float beta, const float *s, const float *M, int rows, int cols,
               float *partial, int threads) {
#pragma omp parallel num_threads(team_size(threads))
  tf_gemv_t_ws(y, beta, s, M, rows, cols, partial);
}
