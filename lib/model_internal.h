/* model_internal.h: what model_io.c and model_state.c share; not part of the public API. */
#ifndef TF_MODEL_INTERNAL_H
#define TF_MODEL_INTERNAL_H

#include "tokenformer.h"

/* Where a stored tensor's bytes go in a model, and what the tensor must look like. */
struct tensor_place {
  void *dst;
  enum tf_dtype dtype;
  int ndim;
  int64_t shape[2];
};

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
int tf_grow_check_size(const struct tf_model *in, const struct tf_model_config *c,
                    struct tf_error *err);
/* out (made from in, parameters filled) gets in's history and tokenizer, a new stage of its
 * training state (moments extended with zero rows when keep, else fresh) and the growth record
 * (tf_growth_record). Frees out on failure. */
int tf_grow_finish(struct tf_model *out, const struct tf_model *in, int keep, struct tf_error *err);

#endif
