/* optim.h: AdamW, the learning-rate schedule, gradient norm and clipping (optim.c). Internal to
 * the library and its tests. */
#ifndef TF_OPTIM_H
#define TF_OPTIM_H

#include "tokenformer.h"

/* AdamW moments in the parameter block's layout, and the optimizer's own step count (bias
 * correction), which may differ from the training stage's step after growth. */
struct tf_adamw {
  float *m, *v; /* (n) */
  size_t n;
  int64_t step;
};

struct tf_adamw_hparams {
  double beta1, beta2, eps, weight_decay;
};
int tf_adamw_create(struct tf_adamw *o, size_t n, struct tf_error *err);
void tf_adamw_free(struct tf_adamw *o);
/* One AdamW update of every tensor (weight decay only where tensors[i].decay), on the gradient
 * grad_scale grads (the trainer's averaging and clipping, applied in the same pass). */
void tf_adamw_step(struct tf_adamw *o, float *params, const float *grads, float grad_scale,
                   const struct tf_tensor *tensors, int n_tensors, double lr,
                   const struct tf_adamw_hparams *h);

/* A stage's schedule: linear warmup over `warmup` steps (a fraction of steps when < 1), then
 * cosine from lr to min_lr at the last step. */
struct tf_schedule {
  double lr, min_lr, warmup;
  int64_t steps;
};
int64_t tf_warmup_steps(double warmup, int64_t steps);
double tf_lr_at(const struct tf_schedule *s, int64_t step);
/* g = 0, on all threads. */
void tf_grad_zero(float *g, size_t n);
/* Global L2 norm of g, accumulated in double. */
double tf_grad_norm(const float *g, size_t n);
/* The factor that brings a gradient of this norm to norm clip: clip / (norm + 1e-6) when
 * above it, else 1 (clip <= 0: always 1). */
double tf_clip_factor(double norm, double clip);

#endif
