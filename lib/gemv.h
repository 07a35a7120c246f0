/* gemv.h: matrix-vector products for decoding one row at a time, where a one-row sgemm is
 * several times slower. Internal to the library (lib/decode.c and its tests).
 *
 * The *_ws forms share their work among the threads of the enclosing OpenMP parallel region
 * (every thread of the team must call them, like an orphaned `omp for`) and end with a
 * barrier; called outside a parallel region, the calling thread does all the work. Rows are
 * split in contiguous blocks, so each thread streams its own part of the matrix once. */
#ifndef TF_GEMV_H
#define TF_GEMV_H

/* <a, b> over n floats, in float: lanes of partial sums, then the lanes added. */
static inline float tf_dotf(const float *a, const float *b, int n) {
  float s = 0.0f;
#pragma omp simd reduction(+ : s)
  for (int j = 0; j < n; j++) s += a[j] * b[j];
  return s;
}

/* y += alpha x over n floats. */
static inline void tf_axpyf(float *y, float alpha, const float *x, int n) {
#pragma omp simd
  for (int j = 0; j < n; j++) y[j] += alpha * x[j];
}

/* y (rows) = M x:  y_i = <M_i, x>, M (rows, cols) row-major, x (cols). */
void tf_gemv_ws(float *y, const float *M, const float *x, int rows, int cols);
/* The same without the closing barrier: this thread's rows of y are done on return. */
void tf_gemv_nowait_ws(float *y, const float *M, const float *x, int rows, int cols);

/* y (cols) = beta y + s^T M = beta y + sum_i s_i M_i, s (rows), M (rows, cols) row-major.
 * Each thread adds its block of rows into its own slice of partial (slice t at
 * partial + t cols; partial holds cols floats per thread of the team), then the slices are
 * added in thread order: a given thread count always gives the same bits. beta 0 ignores y. */
void tf_gemv_t_ws(float *y, float beta, const float *s, const float *M, int rows, int cols,
                  float *partial);

/* The first step of tf_gemv_t_ws: mine (cols) = the sum of s_i M_i over this thread's block
 * of rows (the same blocks), no barrier; the slices are added once the team has passed one. */
void tf_gemv_t_mine_ws(float *mine, const float *s, const float *M, int rows, int cols);

/* y (cols) = beta y + the sum, in thread order, of the team's slices of partial (slice t at
 * partial + t ld): the last step of tf_gemv_t_ws and of its forms over converted weights. */
void tf_gemv_reduce_ws(float *y, float beta, const float *partial, size_t ld, int cols);
/* Columns [c0, c1) of that sum over nt slices, by the calling thread alone (the same bits as
 * tf_gemv_reduce_ws gives them). */
void tf_gemv_reduce_cols(float *y, float beta, const float *partial, size_t ld, int nt, int c0,
                         int c1);

/* The same in a parallel region of their own on up to `threads` threads (<= 0: OpenMP's
 * default); partial as above for that many threads. */
void tf_gemv(float *y, const float *M, const float *x, int rows, int cols, int threads);
void tf_gemv_t(float *y, float beta, const float *s, const float *M, int rows, int cols,
               float *partial, int threads);

#endif
