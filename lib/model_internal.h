/* model_internal.h: a model's insides: the tensor table and the views into the parameter block,
 * the memory check, the training state's rules, and what model_io.c, model_state.c and grow.c
 * share. Internal to the library and its tests. */
#ifndef TF_MODEL_INTERNAL_H
#define TF_MODEL_INTERNAL_H

#include "tokenformer.h"

struct tf_pattn_view {
  float *key;   /* (n, d) key parameter tokens */
  float *value; /* (n, d) value parameter tokens */
};

/* Named views into one flat block; gradients and AdamW moments use the same layout. */
struct tf_view {
  float *embed;                             /* (V, d) tied with the output head */
  struct tf_pattn_view (*layer)[TF_NSLOTS]; /* (L): layer[l][slot] */
  float *final_norm_weight;                 /* (d) */
  float *final_norm_bias;                   /* (d) */
};

#define TF_NAME_MAX 64
/* One parameter tensor of the block, in block order: embed.weight, then per layer
 * query/key/value/proj/mlp (key_param_tokens, value_param_tokens), then final_norm. */
struct tf_tensor {
  char name[TF_NAME_MAX]; /* checkpoint name, e.g. layers.0.attention.query.key_param_tokens */
  int64_t rows, cols;     /* shape; cols is 0 for a vector */
  size_t offset;          /* in floats from the start of the block */
  size_t numel;
  int decay;  /* 1: AdamW weight decay applies (all but the final LayerNorm) */
  int layer;  /* -1 for embed and final_norm */
  int slot;   /* enum tf_slot, or -1 */
  int is_key; /* 1 key tokens, 0 value tokens (Pattention tensors only) */
};

/* Number of tensors for this config and their table (out holds tf_model_n_tensors entries). */
int tf_model_n_tensors(const struct tf_model_config *c);
void tf_model_tensor_table(const struct tf_model_config *c, struct tf_tensor *out);
/* Points every view of v into block (laid out as the tensor table says), allocating v->layer
 * (free with tf_view_free; v must not hold one yet). TF_ENOMEM when it cannot. */
int tf_view_point(struct tf_view *v, float *block, const struct tf_model_config *c,
                  struct tf_error *err);
void tf_view_free(struct tf_view *v);

#define TF_MAX_RANKS 4096

/* Sizes s->cursor to n_ranks (1 .. TF_MAX_RANKS) entries, keeping the first ones and zeroing
 * the new; TF_ENOMEM when it cannot (s is then unchanged). tf_model_free frees it. */
int tf_train_state_set_ranks(struct tf_train_state *s, int n_ranks, struct tf_error *err);

/* What a process holds at once, in bytes: the one check every size goes through before a large
 * allocation adds them up (a model that fits and activations that fit may not fit together). */
struct tf_mem_need {
  double params, grads, optimizer, acts, cache;
};
/* TF_OK when the parts of need fit together in tf_machine_bytes() (physical memory, or the
 * address-space limit of ulimit -v when lower); else TF_ENOMEM "WHAT: needs X GiB in all (the
 * parts), held at once; the machine has Y GiB". */
int tf_mem_check(const struct tf_mem_need *need, const char *what, struct tf_error *err);

/* Appends one record to the model's history (metadata "history", a JSON array): the member
 * "command", then the members of extra_json (one JSON object text, may be NULL), nothing else.
 * TF_EDATA when the history or extra_json is not valid JSON. Commands record a run with
 * tf_model_add_run, which builds the whole record. */
int tf_model_add_history(struct tf_model *m, const char *command, const char *extra_json,
                         struct tf_error *err);

/* Checks a checkpoint header without allocating the model: metadata (format, version,
 * config, history, tokenizer) and every tensor's name, dtype and shape against the stored
 * config, including a training state (which must be complete). cfg (may be NULL) gets the
 * config. TF_EDATA with the reason. */
int tf_model_check_header(const struct tf_st_header *h, struct tf_model_config *cfg,
                          struct tf_error *err);

/* The training state's rules, shared by the loaders and tf-inspect --verify: the counters
 * (optim.step, train.* but train.rng) are finite and not negative, and no second moment
 * (optim.v.*) is negative. min is the smallest value of stored tensor name (any other name
 * passes). TF_EDATA naming the tensor. */
int tf_train_state_check_tensor(const char *name, double min, struct tf_error *err);
/* Moments before the first update are zero: moment (the name of a moment tensor holding a
 * nonzero value, or NULL when none does) with optim_step <= 0 is TF_EDATA. */
int tf_train_state_check_fresh(int64_t optim_step, const char *moment, struct tf_error *err);

/* The official name of tensor t of a model with n_layers layers, into buf (n bytes). */
void tf_official_name(const struct tf_tensor *t, int n_layers, char *buf, size_t n);

/* out->growth := what in was: its token counts, and the learning rate of its last step when
 * its stage's schedule is stored (tf-grow's record; train.freeze and train.lr_from_previous
 * read it). */
void tf_growth_record(struct tf_model *out, const struct tf_model *in);

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
int tf_grow_check_size(const struct tf_model *in, const struct tf_model_config *c,
                       struct tf_error *err);
/* out (made from in, parameters filled) gets in's history and tokenizer, a new stage of its
 * training state (moments extended with zero rows when keep, else fresh) and the growth record
 * (tf_growth_record). Frees out on failure. */
int tf_grow_finish(struct tf_model *out, const struct tf_model *in, int keep, struct tf_error *err);

#endif
