/* optim.c: AdamW with decoupled weight decay, the learning-rate schedule (linear warmup then
 * cosine to min_lr), global-norm gradient clipping. One loop over flat blocks; no model math. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tokenformer.h"
#include "model_internal.h"
#include "optim.h"

int tf_adamw_create(struct tf_adamw *o, size_t n, struct tf_error *err) {
  memset(o, 0, sizeof *o);
  o->m = calloc(n, sizeof(float));
  o->v = calloc(n, sizeof(float));
  if (!o->m || !o->v) {
    tf_adamw_free(o);
    return tf_error_set(err, TF_ENOMEM, "out of memory for the AdamW moments (%zu floats)", n);
  }
  o->n = n;
  return TF_OK;
}

void tf_adamw_free(struct tf_adamw *o) {
  free(o->m);
  free(o->v);
  memset(o, 0, sizeof *o);
}

/* The update, as torch.optim.AdamW computes it, for one tensor's elements:
 *   m = b1 m + (1-b1) g;  v = b2 v + (1-b2) g^2
 *   p = p (1 - lr wd)     (decayed tensors only)
 *   p = p - lr (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps)
 * Called inside a parallel region: the threads share the elements, and go on to the next tensor
 * without waiting for each other. */
static void adamw_range(float *p, const float *g, float gs, float *m, float *v, size_t n, double lr,
                        double wd, const struct tf_adamw_hparams *h, double bc1, double bc2) {
  const float b1 = (float)h->beta1, b2 = (float)h->beta2, eps = (float)h->eps;
  const float step = (float)(lr / bc1), rbc2 = (float)(1.0 / sqrt(bc2));
  const float shrink = (float)(1.0 - lr * wd);
#pragma omp for simd schedule(static) nowait
  for (size_t i = 0; i < n; i++) {
    float gi = g[i] * gs;
    m[i] = b1 * m[i] + (1 - b1) * gi;
    v[i] = b2 * v[i] + (1 - b2) * gi * gi;
    p[i] = p[i] * shrink - step * m[i] / (sqrtf(v[i]) * rbc2 + eps);
  }
}

void tf_adamw_step(struct tf_adamw *o, float *params, const float *grads, float grad_scale,
                   const struct tf_tensor *tensors, int n_tensors, double lr,
                   const struct tf_adamw_hparams *h) {
  o->step++;
  double bc1 = 1 - pow(h->beta1, (double)o->step), bc2 = 1 - pow(h->beta2, (double)o->step);
#pragma omp parallel
  for (int i = 0; i < n_tensors; i++) {
    const struct tf_tensor *t = &tensors[i];
    adamw_range(params + t->offset, grads + t->offset, grad_scale, o->m + t->offset,
                o->v + t->offset, t->numel, lr, t->decay ? h->weight_decay : 0.0, h, bc1, bc2);
  }
}

int64_t tf_warmup_steps(double warmup, int64_t steps) {
  return warmup < 1 ? (int64_t)floor(warmup * (double)steps) : (int64_t)warmup;
}

/* Step t (0-based) of a stage of `steps` updates: lr_max (t+1)/w during the w warmup steps,
 * then min + (max - min) (1 + cos(pi (t - w) / (steps - w))) / 2. */
double tf_lr_at(const struct tf_schedule *s, int64_t t) {
  int64_t w = tf_warmup_steps(s->warmup, s->steps);
  if (t < w) return s->lr * (double)(t + 1) / (double)w;
  if (s->steps <= w) return s->lr;
  double progress = (double)(t - w) / (double)(s->steps - w);
  if (progress > 1) progress = 1;
  return s->min_lr + (s->lr - s->min_lr) * 0.5 * (1 + cos(M_PI * progress));
}

void tf_grad_zero(float *g, size_t n) {
#pragma omp parallel for simd schedule(static)
  for (size_t i = 0; i < n; i++) g[i] = 0.0f;
}

double tf_grad_norm(const float *g, size_t n) {
  double sq = 0;
#pragma omp parallel for simd reduction(+ : sq) schedule(static)
  for (size_t i = 0; i < n; i++) sq += (double)g[i] * g[i];
  return sqrt(sq);
}

double tf_clip_factor(double norm, double clip) {
  return clip > 0 && norm > clip ? clip / (norm + 1e-6) : 1.0;
}
