/* model_internal.h: what model_io.c and model_state.c share; not part of the public API. */
#ifndef TF_MODEL_INTERNAL_H
#define TF_MODEL_INTERNAL_H

#include "tokenformer.h"

/* Where a stored tensor's bytes go in a model, and what the tensor must look like. */
struct tensor_place {
  void *dst;
  size_t pitch; /* bytes from one row of dst to the next; 0: rows back to back */
  enum tf_dtype dtype;
  int ndim;
  int64_t shape[2];
};

/* A model of config c as tf_model_create makes it, but without the parameter block or its
 * views (params NULL; n_params counted): what converted weights are loaded into. */
int tf_model_create_shell(struct tf_model *m, const struct tf_model_config *c,
                          struct tf_error *err);
/* The parameter tensor of m called name, or NULL. */
const struct tf_tensor *tf_model_tensor_named(const struct tf_model *m, const char *name);
/* The first of n floats that is NaN or infinite, or n. */
size_t tf_first_non_finite(const float *x, size_t n);

/* ---------------------------------------------------------------- stored bf16 and q8 (qstore.c) */

/* The weight format a checkpoint stores (metadata "weights"; none: f32); TF_EDATA for another
 * value. */
int tf_qstore_format(const struct tf_st_header *h, enum tf_weights *w, struct tf_error *err);
/* A model of config c (tf_model_create_shell) with converted weights in format w, zeroed
 * (the padding of rows stays zero), into which a checkpoint of stored weights is read. */
int tf_qstore_create(struct tf_model *m, const struct tf_model_config *c, enum tf_weights w,
                     struct tf_error *err);
/* tf_model_place for a model whose m->weights is BF16 or Q8: every 2-D parameter as BF16 or
 * I8, a q8 one's NAME.scales (F32, one per 32 values of a row), the final LayerNorm in F32;
 * dst into m->qw when it is allocated. */
int tf_qstore_place(struct tf_model *m, const char *name, struct tensor_place *p);
/* Every NAME.scales of a q8 model's header present (the tensors themselves are checked by
 * place); TF_EDATA naming the first missing. */
int tf_qstore_check_complete(const struct tf_model *m, const struct tf_st_header *h,
                             struct tf_error *err);
/* The rules of stored values, for one value v of tensor name (dtype): an I8 value is in
 * [-127, 127]; a q8 scale (F32 NAME.scales) finite, >= 0 and at most FLT_MAX / 127. TF_EDATA
 * naming the tensor; any other tensor passes. */
int tf_qstore_check_value(const char *name, enum tf_dtype dtype, double v, struct tf_error *err);
/* Every value of a loaded converted model by those rules, bf16 weights and the final
 * LayerNorm finite. */
int tf_qstore_check_values(const struct tf_model *m, struct tf_error *err);
/* The checkpoint tensors of a converted model (m->qw), as tf_model_entries: rows without the
 * padding of struct tf_qmat (copied into *names' allocation where a row is padded). */
int tf_qstore_entries(const struct tf_model *m, struct tf_ckpt_entry **entries, size_t *n,
                      char **names, struct tf_error *err);
/* Replaces m's converted weights with a parameter block holding their values in float. */
int tf_qstore_dequantize(struct tf_model *m, struct tf_error *err);

/* The checkpoint tensors of a model: parameters, then (when m->train.present) the AdamW
 * moments and the train.* / optim.step scalars. *names holds storage for the generated
 * names; free both arrays with free(). */
int tf_model_entries(const struct tf_model *m, struct tf_ckpt_entry **entries, size_t *n,
                     char **names, struct tf_error *err);
/* The place of stored tensor `name` (dst NULL where m's blocks are not allocated); 0 if the
 * name is not part of this model's checkpoint. */
int tf_model_place(struct tf_model *m, const char *name, struct tensor_place *p);
/* Sets m->train.present and n_ranks from the header's optim.* and train.* tensors, refusing a
 * partial training state. Allocates nothing. */
int tf_model_state_check(struct tf_model *m, const struct tf_st_header *h, struct tf_error *err);

/* Refuses a training state no training run writes (TF_EDATA naming the tensor): negative
 * counters, a train.flops that is not a finite count, negative second moments, nonzero moments
 * with optim.step 0 (the moments checked only when m->train.opt.m is allocated). */
int tf_model_state_validate(const struct tf_model *m, struct tf_error *err);

/* Makes t (taken over, freed on failure) m's tokenizer; code (TF_ECONFIG for a tokenizer the
 * user gave, TF_EDATA for a stored one) when the vocabulary cannot hold its ids. */
int tf_model_take_tokenizer(struct tf_model *m, struct tf_tokenizer *t, int code,
                            struct tf_error *err);

/* Refuses (TF_ENOMEM, with the figures) a grown or shrunk model of config c that cannot be
 * built beside in, with AdamW moments when in has a training state. */
int grow_check_size(const struct tf_model *in, const struct tf_model_config *c,
                    struct tf_error *err);
/* out (made from in, parameters filled) gets in's history and tokenizer, a new stage of its
 * training state (moments extended with zero rows when keep, else fresh) and the growth record
 * (tf_growth_record). Frees out on failure. */
int grow_finish(struct tf_model *out, const struct tf_model *in, int keep, struct tf_error *err);

#endif
