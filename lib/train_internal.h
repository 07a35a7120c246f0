/* train_internal.h: the trainer's insides, token importance and shrinking, the gradient
 * allreduce (train.c, shrink.c, dist.c). Internal to the library and its tests. */
#ifndef TF_TRAIN_INTERNAL_H
#define TF_TRAIN_INTERNAL_H

#include "model_internal.h"
#include "net.h"
#include "tokenformer.h"

/* What a training run holds besides the model: activations, gradients (the parameter
 * layout, view g), one micro-batch of windows. */
struct tf_trainer {
  struct tf_model *m;
  struct tf_train_config tc;
  int rank, n_ranks;
  struct tf_acts acts;
  float *grads; /* (n_params) */
  struct tf_view g;
  int32_t *inputs, *targets; /* (batch, seq_len) */
  struct tf_tensor *trained; /* train.freeze old_tokens: the rows AdamW updates, else NULL */
  int n_trained;
};

/* tf_trainer_create and tf_trainer_free in place (t is not allocated); tf_trainer_release is
 * safe after a failed init. */
int tf_trainer_init(struct tf_trainer *t, struct tf_model *m, const struct tf_train_config *tc,
                    int new_stage, int rank, int n_ranks, struct tf_error *err);
void tf_trainer_release(struct tf_trainer *t);

/* The peak lr tc asks of m: tc->lr, or tc->lr_from_previous x the final lr in m's growth
 * record. TF_ECONFIG when there is no such lr or the product is not in (0, 10]. */
int tf_train_peak_lr(const struct tf_model *m, const struct tf_train_config *tc, double *lr,
                     struct tf_error *err);

/* Shrinking (docs/model.md §6.7): how much each parameter token of each Pattention matters, on
 * sample text. Token j of Pattention (l, slot) scores
 *   importance_j = |V_j| * mean over the sample's positions of |S_j|,
 * the mean size of its contribution to the output (S = Theta(X K^T), V_j its value row). */
struct tf_token_scores {
  double *importance;          /* every Pattention's tokens, at offset[l][slot] */
  size_t (*offset)[TF_NSLOTS]; /* one row per layer of the model */
  int64_t positions;           /* rows of the sample the means are over */
};
/* Scores m's tokens over the first n tokens of c (tf_eval_windows' windows, B at a time);
 * r receives the sample's loss. Errors as tf_eval_windows, named after c's path. */
int tf_token_scores_measure(struct tf_token_scores *s, const struct tf_model *m,
                            const struct tf_corpus *c, size_t n, int B, struct tf_eval_result *r,
                            struct tf_error *err);
void tf_token_scores_free(struct tf_token_scores *s);

/* Creates out, `in` with the counts g asks for (all at most in's; tf_grow_plan must say
 * shrink): each Pattention keeps its most important tokens (ties: the lower index), in their
 * order; n_ref, and so tau, is kept. Training state and records as tf_model_grow (moments
 * fresh). Deterministic for given scores. */
int tf_model_shrink(struct tf_model *out, const struct tf_model *in, const struct tf_grow_config *g,
                    const struct tf_token_scores *s, struct tf_grow_plan *plan,
                    struct tf_error *err);

/* In place: grads summed over ranks; *loss averaged. */
void tf_dist_allreduce(const struct tf_dist *d, float *grads, size_t n, double *loss);

#endif
