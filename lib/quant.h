/* quant.h: weights stored in fewer bytes for inference, and the products decoding runs over
 * them. Internal to the library (lib/quant.c, lib/quant_kern.c, lib/decode.c, lib/pattn.c and
 * their tests). The formats (docs/model.md §7.2, tf-generate(1)):
 *
 *   bf16  each weight rounded to nearest-even to bfloat16 (the top 16 bits of its float);
 *   q8    each row cut into blocks of TF_Q8_BLOCK = 32 consecutive values, one float scale
 *         per block, s = max |w| / 127, and w = s q with q = round(w / s) in [-127, 127]
 *         (symmetric, no offset; the scale in float, not half: 1.125 bytes per weight).
 *
 * Rows are padded with zeros to cp columns, a multiple of 32, so no kernel has a tail.
 * y = W x over q8 weights quantizes x the same way per block (a dot product of integers,
 * then one float multiply-add per block); s^T W and the dequantized panels of the batched
 * products keep s and x in float. */
#ifndef TF_QUANT_H
#define TF_QUANT_H

#include <stddef.h>
#include <stdint.h>

#include "tokenformer.h"

#define TF_Q8_BLOCK 32

/* One weight matrix (rows, cols), stored as fmt says; columns padded to cp. */
struct tf_qmat {
  enum tf_weights fmt;
  int rows, cols, cp;
  uint16_t *bf16; /* (rows, cp) bf16 bits */
  int8_t *q;      /* (rows, cp) q8 values */
  float *scale;   /* (rows, cp / 32) q8 block scales */
};

/* The converted weights of a model (struct tf_model's qw). */
struct tf_qweights {
  struct tf_qmat embed;
  struct tf_qmat (*key)[TF_NSLOTS], (*value)[TF_NSLOTS]; /* (n_layers): key[l][slot] */
  float *final_norm; /* (2 d): weight, then bias (kept in float) */
  void *mem;         /* the one allocation the matrices and final_norm point into */
  size_t bytes;      /* of mem */
};

/* A vector x (cols) prepared for y = W x: bf16: f = x zero-padded to cp, and x = hi + lo
 * split in two bf16 (for the bf16 dot-product instruction, which multiplies bf16 pairs:
 * hi + lo keeps about 16 bits of x's 24); q8: x quantized per block like the weights. */
struct tf_qvec {
  float *f;
  uint16_t *hi, *lo;
  int8_t *q;
  float *s;
};

/* cp for cols columns, and the floats of scratch a struct tf_qvec of cp takes. */
static inline int tf_qcols(int cols) {
  return (cols + TF_Q8_BLOCK - 1) / TF_Q8_BLOCK * TF_Q8_BLOCK;
}
static inline size_t tf_qvec_floats(int cp) {
  return (size_t)3 * cp + 64;
}

/* ---------------------------------------------------------------- conversion (quant.c) */

/* float to bf16 bits, round to nearest even (NaN stays a quiet NaN), and back. */
static inline uint16_t tf_bf16_round(float x) {
  union {
    float f;
    uint32_t u;
  } v = {.f = x};
  if ((v.u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)(v.u >> 16 | 0x40);
  return (uint16_t)((v.u + 0x7fffu + (v.u >> 16 & 1)) >> 16);
}
static inline float tf_bf16_float(uint16_t b) {
  union {
    uint32_t u;
    float f;
  } v = {.u = (uint32_t)b << 16};
  return v.f;
}

/* One block of n <= 32 values to q (32, zero past n) and its scale max |x| / 127 (0 for an
 * all-zero block): q_j = round(x_j / s), ties to even. */
float tf_q8_block(int8_t *q, const float *x, int n);

/* A new matrix (free with tf_qmat_free) of M (rows, cols) in format w (BF16 or Q8);
 * TF_ENOMEM. */
int tf_qmat_from(struct tf_qmat *W, enum tf_weights w, const float *M, int rows, int cols);
void tf_qmat_free(struct tf_qmat *W);
/* Row i of W into out (cols floats). */
void tf_qmat_row(float *out, const struct tf_qmat *W, int i);
/* Prepares x (W->cols) for y = W x into v, carved from scratch (tf_qvec_floats(W->cp)). */
void tf_qvec_prepare(struct tf_qvec *v, float *scratch, const float *x, const struct tf_qmat *W);

/* ---------------------------------------------------------------- products (quant.c) */

/* As gemv.h's tf_gemv_ws and tf_gemv_t_ws (work shared by the enclosing team, contiguous row
 * blocks per thread, partial sums added in thread order): y (rows) = W x with x prepared;
 * y (cols) = beta y + s^T W, partial holds cp floats per thread. */
void tf_qgemv_ws(float *y, const struct tf_qmat *W, const struct tf_qvec *x);
void tf_qgemv_t_ws(float *y, float beta, const float *s, const struct tf_qmat *W, float *partial);
/* Their forms without barriers, as gemv.h's tf_gemv_nowait_ws and tf_gemv_t_mine_ws: this
 * thread's rows of y; this thread's share of s^T W into mine (cp floats). */
void tf_qgemv_nowait_ws(float *y, const struct tf_qmat *W, const struct tf_qvec *x);
void tf_qgemv_t_mine_ws(float *mine, const float *s, const struct tf_qmat *W);

/* Rows [r0, r0 + n) of W dequantized into panel (n, cols), shared by the enclosing team. */
void tf_qmat_panel_ws(float *panel, const struct tf_qmat *W, int r0, int n);

/* Memory for weights that every decoded token streams (free with free()): bytes rounded up
 * to 64, from 2 MiB on aligned to 2 MiB and asked of the kernel in transparent huge pages
 * (madvise), so a pass over them misses the TLB once per 2 MiB rather than per 4 KiB
 * (measured: 1-thread bf16 decoding of the 150M shape about a third faster). NULL without
 * memory. */
void *tf_stream_alloc(size_t bytes);

/* New converted weights (*out) for config c in format w (BF16 or Q8), every matrix placed but
 * nothing filled; TF_ENOMEM naming the size. */
int tf_qweights_new(struct tf_qweights **out, const struct tf_model_config *c, enum tf_weights w,
                    struct tf_error *err);
/* Frees converted weights (NULL: nothing). */
void tf_qweights_free(struct tf_qweights *q);

/* ---------------------------------------------------------------- kernels (quant_kern.c) */

/* Which instructions run the kernels: chosen at run time from the CPU (cpuid), best first
 * avx512bf16 (AVX512F/BW/VNNI and AVX512_BF16: vdpbf16ps), avx512 (AVX512F/BW/VNNI:
 * vpdpbusd), avx2 (AVX2 and FMA), scalar. */
enum tf_qpath {
  TF_QPATH_SCALAR = 0,
  TF_QPATH_AVX2,
  TF_QPATH_AVX512,
  TF_QPATH_AVX512BF16,
  TF_NQPATHS
};

/* Rows a kernel takes at once: an axpy loads and stores y once per TF_QROWS rows, a q8 dot
 * loads x once for them and runs their TF_QROWS sums side by side. The bf16 dots take their
 * rows one after the other: 4 rows side by side made 150M decoding from memory slower (1
 * thread, 42.2 -> 34.0 tokens/s, min of 4 alternated runs), as one stream became four. */
#define TF_QROWS 4

/* The kernels, over nr <= TF_QROWS consecutive rows w_r of cp values (cp apart; for q8
 * nb = cp / 32 blocks, the scales ws of a row nb apart): the dot forms y_r = <w_r, x>,
 * the axpy forms y += sum_r a_r w_r. */
struct tf_qkern {
  const char *name;
  void (*dot_bf16)(float *y, const uint16_t *w, const struct tf_qvec *x, int cp, int nr);
  void (*dot_q8)(float *y, const int8_t *w, const float *ws, const struct tf_qvec *x, int nb,
                 int nr);
  void (*axpy_bf16)(float *y, const float *a, const uint16_t *w, int cp, int nr);
  void (*axpy_q8)(float *y, const float *a, const int8_t *w, const float *ws, int nb, int nr);
};

/* 1 when this CPU runs path p. */
int tf_qpath_supported(enum tf_qpath p);
/* The kernels of path p (which must be supported). */
const struct tf_qkern *tf_qkern_of(enum tf_qpath p);
/* The kernels in use: the best path the CPU runs, or the one the environment variable
 * TF_QKERNEL names (a path's name: scalar, avx2, avx512, avx512bf16; read once), or the one
 * tf_qpath_force chose. A TF_QKERNEL that names no path, or a path this CPU lacks, leaves the
 * best path in use, and tf_weights_kernel_check (lib/tokenformer.h) says so; tf_decoder_create
 * calls it, so nothing decodes under a refused TF_QKERNEL. */
const struct tf_qkern *tf_qkern(void);
/* Forces path p (tests; p supported), or back to the best with TF_NQPATHS. Not while
 * products run. */
void tf_qpath_force(enum tf_qpath p);

#endif
