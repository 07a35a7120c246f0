/* st_internal.h: safetensors helpers shared by st.c and ckpt.c. Not part of the public API. */
#ifndef TF_ST_INTERNAL_H
#define TF_ST_INTERNAL_H

#include "tokenformer.h"

/* Bytes of a tensor of this dtype and shape into *out; returns 0, or -1 when a dimension is
 * negative or the count overflows 64 bits. */
int tf_st_nbytes(enum tf_dtype dtype, int ndim, const int64_t *shape, uint64_t *out);

#endif
