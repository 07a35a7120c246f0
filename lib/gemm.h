/* gemm.h: every matrix product of the library (gemm.c). Internal to the library and its tests;
 * tokenformer.h has the thread count and the kernel's name. */
#ifndef TF_GEMM_H
#define TF_GEMM_H

#include "tokenformer.h"

/* C = alpha op(A) op(B) + beta C, all row-major; op(A) is M x K, op(B) is K x N; trans_x != 0
 * means the matrix is stored transposed (A as K x M with row stride lda, ...). BLIS underneath,
 * on every thread of tf_set_threads (on one thread when called inside an OpenMP parallel
 * region). Same inputs and thread count give the same bits. */
void tf_gemm(int trans_a, int trans_b, int M, int N, int K, float alpha, const float *A, int lda,
             const float *B, int ldb, float beta, float *C, int ldc);

#endif
