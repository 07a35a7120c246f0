/* train.c: one training step (micro-batches, gradient accumulation, clipping, AdamW), the
 * stage bookkeeping that exact resume needs, and evaluation over consecutive windows. No
 * printing, no signals, no file names chosen here: tf-train drives it. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tokenformer.h"
#include "data_internal.h"
#include "model_internal.h"
#include "net.h"
#include "optim.h"
#include "rng.h"
#include "train_internal.h"

static struct tf_adamw_hparams hparams(const struct tf_train_config *tc) {
  return (struct tf_adamw_hparams){tc->beta1, tc->beta2, tc->eps, tc->weight_decay};
}

/* A fresh stage: step 0, fresh moments, the data stream seeded from train.seed. Lifetime
 * counters carry on. */
static int start_stage(struct tf_model *m, const struct tf_train_config *tc, int n_ranks,
                       struct tf_error *err) {
  struct tf_train_state *s = &m->train;
  tf_adamw_free(s->opt);
  int rc = tf_adamw_create(s->opt, m->n_params, err);
  if (rc) return rc;
  s->present = 1;
  s->step = 0;
  tf_rng_seed(s->rng, tc->seed);
  rc = tf_train_state_set_ranks(s, n_ranks, err);
  if (!rc) memset(s->cursor, 0, (size_t)n_ranks * sizeof *s->cursor);
  return rc;
}

/* Training holds the parameters, their gradients, the two AdamW moments and the activations of
 * batch B x length T: refused when they do not fit in memory together. */
static int check_train_size(const struct tf_model *m, int B, int T, struct tf_error *err) {
  double block = (double)m->n_params * sizeof(float), acts = tf_acts_bytes(&m->cfg, B, T);
  if (!isfinite(acts)) return TF_OK; /* tf_acts_create names what is wrong */
  struct tf_mem_need need = {.params = block, .grads = block, .optimizer = 2 * block, .acts = acts};
  char what[96];
  snprintf(what, sizeof what, "training with batch %d x length %d", B, T);
  return tf_mem_check(&need, what, err);
}

int tf_train_peak_lr(const struct tf_model *m, const struct tf_train_config *tc, double *lr,
                     struct tf_error *err) {
  const struct tf_growth *g = &m->growth;
  *lr = tc->lr;
  if (tc->lr_from_previous <= 0) return TF_OK;
  if (!g->present || !g->has_final_lr)
    return tf_error_set(err, TF_ECONFIG,
                        "train.lr_from_previous: the model has no previous stage's final lr (a "
                        "checkpoint grown by tf-grow from one written by tf-train has it)");
  *lr = tc->lr_from_previous * g->final_lr;
  if (*lr > 0 && *lr <= 10) return TF_OK;
  return tf_error_set(err, TF_ECONFIG,
                      "train.lr_from_previous: %g x the previous final lr %g is %g, expected a "
                      "peak lr in (0, 10]",
                      tc->lr_from_previous, g->final_lr, *lr);
}

/* train.freeze old_tokens: the rows past the growth record's counts of every Pattention tensor,
 * as tensors of their own (the embedding, norms and old rows are left out). */
static int freeze_plan(struct tf_trainer *t, struct tf_error *err) {
  const struct tf_model *m = t->m;
  const struct tf_growth *g = &m->growth;
  if (!g->present)
    return tf_error_set(err, TF_ECONFIG,
                        "train.freeze old_tokens: the model has no growth record (tf-grow writes "
                        "it); nothing tells the old tokens from the new");
  t->trained = calloc((size_t)m->n_tensors, sizeof *t->trained);
  if (!t->trained) return tf_error_set(err, TF_ENOMEM, "out of memory");
  for (int i = 0; i < m->n_tensors; i++) {
    const struct tf_tensor *a = &m->tensors[i];
    int64_t old = a->slot < 0 ? a->rows : g->old_tokens[tf_slot_kind((enum tf_slot)a->slot)];
    if (old >= a->rows) continue;
    struct tf_tensor *b = &t->trained[t->n_trained++];
    *b = *a;
    b->offset += (size_t)old * (size_t)a->cols;
    b->numel -= (size_t)old * (size_t)a->cols;
    b->rows -= old;
  }
  if (t->n_trained) return TF_OK;
  return tf_error_set(err, TF_ECONFIG,
                      "train.freeze old_tokens: no Pattention has more tokens than before the "
                      "last growth (qkv %d, proj %d, ffn %d): nothing to train",
                      g->old_tokens[0], g->old_tokens[1], g->old_tokens[2]);
}

/* Zeroes the gradient of every element AdamW leaves alone (before the norm and clipping). */
static void zero_frozen(const struct tf_trainer *t) {
  const struct tf_model *m = t->m;
  for (int i = 0, j = 0; i < m->n_tensors; i++) {
    const struct tf_tensor *a = &m->tensors[i];
    size_t n = a->numel;
    if (j < t->n_trained && t->trained[j].offset >= a->offset &&
        t->trained[j].offset < a->offset + a->numel)
      n = t->trained[j++].offset - a->offset;
    tf_grad_zero(t->grads + a->offset, n);
  }
}

int tf_trainer_init(struct tf_trainer *t, struct tf_model *m, const struct tf_train_config *tc,
                    int new_stage, int rank, int n_ranks, struct tf_error *err) {
  memset(t, 0, sizeof *t);
  t->m = m;
  t->tc = *tc;
  t->rank = rank;
  t->n_ranks = n_ranks;
  int T = m->cfg.seq_len, B = tc->batch;
  /* the whole of training counted before anything large is allocated */
  int rc = tf_train_peak_lr(m, tc, &t->tc.lr, err);
  if (!rc && tc->freeze == TF_FREEZE_OLD_TOKENS) rc = freeze_plan(t, err);
  if (!rc) rc = check_train_size(m, B, T, err);
  if (!rc) rc = tf_acts_init(&t->acts, &m->cfg, B, T, err);
  if (!rc && (new_stage || !m->train.present))
    rc = start_stage(m, tc, n_ranks, err);
  else if (!rc && m->train.n_ranks != n_ranks) /* the stream is global */
    rc = tf_train_state_set_ranks(&m->train, n_ranks, err);
  if (rc) {
    tf_trainer_release(t);
    return rc;
  }
  t->grads = calloc(m->n_params, sizeof(float));
  t->inputs = calloc((size_t)B * T, sizeof(int32_t));
  t->targets = calloc((size_t)B * T, sizeof(int32_t));
  if (!t->grads || !t->inputs || !t->targets) {
    tf_trainer_release(t);
    return tf_error_set(err, TF_ENOMEM, "out of memory for gradients and batches");
  }
  if ((rc = tf_view_point(&t->g, t->grads, &m->cfg, err))) {
    tf_trainer_release(t);
    return rc;
  }
  m->train.has_schedule = 1; /* the stage's schedule is the one this trainer runs */
  m->train.stage_steps = tc->steps;
  m->train.stage_lr = t->tc.lr;
  m->train.stage_lr_from_previous = tc->lr_from_previous;
  m->train.stage_min_lr = tc->min_lr;
  m->train.stage_warmup = tc->warmup;
  return TF_OK;
}

int tf_trainer_check_schedule(const struct tf_model *m, const struct tf_train_config *tc,
                              int reschedule, struct tf_error *err) {
  const struct tf_train_state *s = &m->train;
  if (!s->present || !s->has_schedule || reschedule) return TF_OK;
  const char *key = NULL;
  double stored = 0, given = 0, lr;
  int rc = tf_train_peak_lr(m, tc, &lr, err);
  if (rc) return rc;
  if (s->stage_lr_from_previous != tc->lr_from_previous)
    key = "lr_from_previous", stored = s->stage_lr_from_previous, given = tc->lr_from_previous;
  else if (s->stage_steps != tc->steps)
    key = "steps", stored = (double)s->stage_steps, given = (double)tc->steps;
  else if (s->stage_warmup != tc->warmup)
    key = "warmup", stored = s->stage_warmup, given = tc->warmup;
  else if (s->stage_lr != lr)
    key = "lr", stored = s->stage_lr, given = lr;
  else if (s->stage_min_lr != tc->min_lr)
    key = "min_lr", stored = s->stage_min_lr, given = tc->min_lr;
  if (!key) return TF_OK;
  return tf_error_set(err, TF_EUSAGE,
                      "train.%s: the checkpoint's stage has %.17g, this run asks for %.17g; "
                      "resume with the stage's value, --reschedule to change the stage, or "
                      "--new-stage to start another",
                      key, stored, given);
}

void tf_trainer_release(struct tf_trainer *t) {
  tf_acts_release(&t->acts);
  tf_view_free(&t->g);
  free(t->grads);
  free(t->inputs);
  free(t->targets);
  free(t->trained);
  memset(t, 0, sizeof *t);
}

int tf_trainer_create(struct tf_trainer **t, struct tf_model *m, const struct tf_train_config *tc,
                      int new_stage, int rank, int n_ranks, struct tf_error *err) {
  *t = calloc(1, sizeof **t);
  if (!*t) return tf_error_set(err, TF_ENOMEM, "out of memory");
  int rc = tf_trainer_init(*t, m, tc, new_stage, rank, n_ranks, err);
  if (rc) free(*t), *t = NULL;
  return rc;
}

void tf_trainer_free(struct tf_trainer *t) {
  if (t) tf_trainer_release(t);
  free(t);
}

/* Names the first tensor whose gradient is not finite. */
static int non_finite_error(const struct tf_trainer *t, double loss, struct tf_error *err) {
  const struct tf_model *m = t->m;
  int64_t step = m->train.step + 1;
  if (!isfinite(loss))
    return tf_error_set(err, TF_EDATA, "step %lld: loss is %g", (long long)step, loss);
  for (int i = 0; i < m->n_tensors; i++) {
    const float *g = t->grads + m->tensors[i].offset;
    for (size_t j = 0; j < m->tensors[i].numel; j++)
      if (!isfinite(g[j]))
        return tf_error_set(err, TF_EDATA, "step %lld: gradient of %s is %g", (long long)step,
                            m->tensors[i].name, g[j]);
  }
  return tf_error_set(err, TF_EDATA, "step %lld: gradient norm is not finite", (long long)step);
}

/* One optimizer step: grad_accum micro-batches of `batch` windows each (per rank), gradients
 * averaged over all of them, summed across ranks by one allreduce (dist NULL: one process), clipped
 * to the global norm, then AdamW at the schedule's learning rate. */
int tf_trainer_step(struct tf_trainer *t, const struct tf_corpus *data, const struct tf_dist *dist,
                    struct tf_step_stats *st, struct tf_error *err) {
  struct tf_model *m = t->m;
  struct tf_train_state *s = &m->train;
  const struct tf_train_config *tc = &t->tc;
  int B = tc->batch, T = m->cfg.seq_len, A = tc->grad_accum;
  tf_grad_zero(t->grads, m->n_params);
  double loss = 0;
  for (int a = 0; a < A; a++) {
    tf_corpus_draw(data, s->rng, B, T, t->rank, t->n_ranks, t->inputs, t->targets);
    for (int r = 0; r < t->n_ranks; r++) s->cursor[r] += B; /* every rank keeps all counts */
    loss += tf_net_forward(m, &t->acts, t->inputs, t->targets, B, T);
    tf_net_backward(m, &t->acts, &t->g);
  }
  /* each backward gives the gradient of its micro-batch's mean loss: the step's gradient is
   * their mean, scaled once more by the clipping factor; both go into AdamW's one pass (the
   * block itself keeps the sum) */
  double mean = 1.0 / ((double)A * t->n_ranks);
  loss /= A;
  if (dist) tf_dist_allreduce(dist, t->grads, m->n_params, &loss);
  /* a data file that shrank under the draws (on any rank): stop before the update */
  int changed = dist ? tf_dist_any(dist, tf_input_changed()) : tf_input_changed();
  if (changed)
    return tf_input_changed()
               ? tf_corpus_changed(data, err)
               : tf_error_set(err, TF_EIO, "another rank's data file changed while reading");
  if (t->trained) zero_frozen(t);
  double norm = mean * tf_grad_norm(t->grads, m->n_params);
  if (!isfinite(loss) || !isfinite(norm)) return non_finite_error(t, loss, err);
  float grad_scale = (float)(mean * tf_clip_factor(norm, tc->clip));
  struct tf_schedule sched = {tc->lr, tc->min_lr, tc->warmup, tc->steps};
  double lr = tf_lr_at(&sched, s->step);
  struct tf_adamw_hparams h = hparams(tc);
  /* frozen: AdamW over the new rows only; the FLOPs below stay those of a full step, since the
   * backward computes every gradient (the frozen ones are zeroed, not skipped) */
  tf_adamw_step(s->opt, m->params, t->grads, grad_scale, t->trained ? t->trained : m->tensors,
                t->trained ? t->n_trained : m->n_tensors, lr, &h);
  int64_t tokens = (int64_t)B * T * A * t->n_ranks;
  s->step++;
  s->lifetime_steps++;
  s->tokens += tokens;
  s->flops += (double)tokens * 3 * tf_forward_flops_per_token(&m->cfg);
  *st = (struct tf_step_stats){.loss = loss, .lr = lr, .grad_norm = norm, .tokens = tokens};
  return TF_OK;
}

/* Bytes of text the targets stand for (special tokens count none): bits per byte is the
 * loss over these, so byte and BPE models compare on one scale. */
static int64_t target_bytes(const struct tf_tokenizer *tok, const int32_t *targets, size_t n) {
  int64_t bytes = 0;
  size_t len;
  for (size_t i = 0; i < n; i++)
    if (!tf_tokenizer_is_special(tok, targets[i]) &&
        tf_tokenizer_token_bytes(tok, targets[i], &len))
      bytes += (int64_t)len;
  return bytes;
}

/* Consecutive windows of S = seq_len from token 0: the window at s feeds t_s..t_{s+S-1} and is
 * scored on t_{s+1}..t_{s+S}; the last one is shorter. Full windows go through the network B
 * at a time. Sums the loss over every predicted token, and the bytes of text they decode to.
 * With max_windows > 0 and more windows than that, every k-th window of the same grid,
 * k = windows / max_windows: a sample spread over the whole text rather than its beginning. */
int tf_eval_windows(const struct tf_model *m, struct tf_acts *acts, int B,
                    const struct tf_corpus *c, size_t n, size_t max_windows, int32_t *inputs,
                    int32_t *targets, struct tf_eval_result *r, struct tf_error *err) {
  return tf_eval_windows_watched(m, acts, B, c, n, max_windows, inputs, targets, r, NULL, NULL,
                                 err);
}

int tf_eval_windows_watched(const struct tf_model *m, struct tf_acts *acts, int B,
                            const struct tf_corpus *c, size_t n, size_t max_windows,
                            int32_t *inputs, int32_t *targets, struct tf_eval_result *r,
                            void (*on_batch)(void *ctx, int64_t done, int64_t total), void *ctx,
                            struct tf_error *err) {
  const size_t S = (size_t)m->cfg.seq_len;
  memset(r, 0, sizeof *r);
  size_t predicted = n > 0 ? n - 1 : 0, start = 0, windows = 0, every = 1;
  size_t total = (predicted + S - 1) / S;
  if (max_windows > 0 && total > max_windows) {
    every = total / max_windows;
    total = max_windows;
  }
  while (start < predicted && (max_windows == 0 || windows < max_windows)) {
    int b = 0, T = 0;
    while (b < B && start < predicted && (max_windows == 0 || windows < max_windows)) {
      size_t len = predicted - start < S ? predicted - start : S;
      if (b > 0 && len != (size_t)T) break; /* a short last window goes alone */
      T = (int)len;
      tf_corpus_copy(c, start, len, inputs + (size_t)b * T);
      tf_corpus_copy(c, start + 1, len, targets + (size_t)b * T);
      b++;
      windows++;
      start += len + (every - 1) * S;
    }
    if (tf_input_changed()) return tf_corpus_changed(c, err);
    double mean = tf_net_forward(m, acts, inputs, targets, b, T);
    r->loss_sum += mean * b * T;
    r->tokens += (int64_t)b * T;
    r->bytes += target_bytes(m->tok, targets, (size_t)b * T);
    if (on_batch) on_batch(ctx, (int64_t)windows, (int64_t)total);
  }
  r->windows = (int64_t)windows;
  if (r->tokens > 0) {
    r->loss = r->loss_sum / (double)r->tokens;
    r->perplexity = exp(r->loss);
  }
  if (r->bytes > 0) r->bits_per_byte = r->loss_sum / log(2.0) / (double)r->bytes;
  if (isfinite(r->loss_sum)) return TF_OK;
  return tf_error_set(err, TF_EDATA, "%s: the evaluation loss is not finite", c->path);
}

int tf_trainer_eval(struct tf_trainer *t, const struct tf_corpus *valid, struct tf_eval_result *r,
                    struct tf_error *err) {
  size_t max_windows = (size_t)t->tc.eval_batches * (size_t)t->tc.batch;
  return tf_eval_windows(t->m, &t->acts, t->tc.batch, valid, valid->n, max_windows, t->inputs,
                         t->targets, r, err);
}
