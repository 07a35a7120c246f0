/* model_state.c: the names, types and shapes of the tensors a training checkpoint adds to the
 * parameters (optim.m.*, optim.v.*, optim.step, train.*), for writing and for reading. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model_internal.h"
#include "optim.h"

/* The scalars and small vectors of the training state, and where each lives. */
enum state_home { IN_STATE, IN_OPT, IN_RNG, IN_CURSOR };
struct state_tensor {
  const char *name;
  enum tf_dtype dtype;
  enum state_home home; /* struct tf_train_state, *opt, *rng, or the array cursor points to */
  size_t offset;        /* in the struct of home */
  int64_t len;          /* 0: scalar; -1: n_ranks */
};

#define S(f) IN_STATE, offsetof(struct tf_train_state, f)
static const struct state_tensor state_tensors[] = {
    {"optim.step", TF_I64, IN_OPT, offsetof(struct tf_adamw, step), 0},
    {"train.step", TF_I64, S(step), 0},
    {"train.lifetime_steps", TF_I64, S(lifetime_steps), 0},
    {"train.tokens", TF_I64, S(tokens), 0},
    {"train.flops", TF_F64, S(flops), 0},
    {"train.rng", TF_U64, IN_RNG, 0, 4},
    {"train.data_cursor", TF_I64, IN_CURSOR, 0, -1},
};
#define N_STATE (sizeof state_tensors / sizeof state_tensors[0])

static int64_t state_len(const struct state_tensor *s, const struct tf_train_state *t) {
  return s->len < 0 ? t->n_ranks : s->len;
}

/* The bytes of state tensor s in t (NULL where t does not hold them). */
static void *state_data(const struct state_tensor *s, const struct tf_train_state *t) {
  if (s->home == IN_CURSOR) return t->cursor;
  if (s->home == IN_RNG) return t->rng;
  const void *home = s->home == IN_OPT ? (const void *)t->opt : (const void *)t;
  return home ? (char *)home + s->offset : NULL; /* no opt: a model shape only (model_io.c) */
}

int tf_model_entries(const struct tf_model *m, struct tf_ckpt_entry **entries, size_t *n,
                     char **names, struct tf_error *err) {
  size_t nt = (size_t)m->n_tensors, total = nt + (m->train.present ? 2 * nt + N_STATE : 0);
  struct tf_ckpt_entry *e = calloc(total, sizeof *e);
  char *buf = calloc(2 * nt, TF_NAME_MAX + 8);
  if (!e || !buf) {
    free(e);
    free(buf);
    return tf_error_set(err, TF_ENOMEM, "out of memory listing %zu tensors", total);
  }
  for (size_t i = 0; i < total; i++) e[i].dtype = TF_F32;
  for (size_t i = 0; i < nt; i++) {
    const struct tf_tensor *t = &m->tensors[i];
    for (size_t k = 0; k < (m->train.present ? 3u : 1u); k++) {
      struct tf_ckpt_entry *x = &e[k * nt + i];
      const float *block = k == 0 ? m->params : k == 1 ? m->train.opt->m : m->train.opt->v;
      x->name = t->name;
      if (k) {
        char *name = buf + ((k - 1) * nt + i) * (TF_NAME_MAX + 8);
        snprintf(name, TF_NAME_MAX + 8, "optim.%c.%s", k == 1 ? 'm' : 'v', t->name);
        x->name = name;
      }
      x->ndim = t->cols ? 2 : 1;
      x->shape[0] = t->rows;
      x->shape[1] = t->cols;
      x->data = block + t->offset;
    }
  }
  for (size_t j = 0; m->train.present && j < N_STATE; j++) {
    struct tf_ckpt_entry *x = &e[3 * nt + j];
    const struct state_tensor *s = &state_tensors[j];
    x->name = s->name;
    x->dtype = s->dtype;
    x->ndim = s->len ? 1 : 0;
    x->shape[0] = state_len(s, &m->train);
    x->data = state_data(s, &m->train);
  }
  *entries = e;
  *n = total;
  *names = buf;
  return TF_OK;
}

const struct tf_tensor *tf_model_tensor_named(const struct tf_model *m, const char *name) {
  for (int i = 0; i < m->n_tensors; i++)
    if (strcmp(m->tensors[i].name, name) == 0) return &m->tensors[i];
  return NULL;
}

int tf_model_place(struct tf_model *m, const char *name, struct tensor_place *p) {
  if (m->weights != TF_WEIGHTS_F32) return tf_qstore_place(m, name, p);
  memset(p, 0, sizeof *p);
  int moment = strncmp(name, "optim.m.", 8) == 0 || strncmp(name, "optim.v.", 8) == 0;
  const struct tf_tensor *t = tf_model_tensor_named(m, moment ? name + 8 : name);
  if (t && (!moment || m->train.present)) {
    const struct tf_adamw *o = m->train.opt; /* NULL in a model shape (model_io.c) */
    float *block = !moment ? m->params : !o ? NULL : name[6] == 'm' ? o->m : o->v;
    p->dst = block ? block + t->offset : NULL; /* NULL while only checking shapes */
    p->dtype = TF_F32;
    p->ndim = t->cols ? 2 : 1;
    p->shape[0] = t->rows;
    p->shape[1] = t->cols;
    return 1;
  }
  for (size_t j = 0; j < N_STATE; j++) {
    const struct state_tensor *s = &state_tensors[j];
    if (strcmp(s->name, name) != 0) continue;
    p->dst = state_data(s, &m->train);
    p->dtype = s->dtype;
    p->ndim = s->len ? 1 : 0;
    p->shape[0] = state_len(s, &m->train);
    return 1;
  }
  return 0;
}

/* A training checkpoint stores all of the state or none of it; the rank count comes from
 * train.data_cursor's length. */
size_t tf_model_max_tensors(const struct tf_model_config *c) {
  return 3 * (size_t)tf_model_n_tensors(c) + N_STATE;
}

int tf_model_state_check(struct tf_model *m, const struct tf_st_header *h, struct tf_error *err) {
  size_t found = 0, most = 3 * (size_t)m->n_tensors + N_STATE;
  if (h->n_tensors > most) /* refused before any per-tensor lookup */
    return tf_error_set(err, TF_EDATA,
                        "%zu tensors, more than the %zu a checkpoint of its config can hold",
                        h->n_tensors, most);
  for (size_t j = 0; j < N_STATE; j++) {
    const struct tf_st_tensor *s = tf_st_find(h, state_tensors[j].name);
    if (!s) continue;
    found++;
    if (state_tensors[j].len < 0) {
      if (s->ndim != 1 || s->shape[0] < 1 || s->shape[0] > TF_MAX_RANKS)
        return tf_error_set(err, TF_EDATA, "tensor %s: expected 1 to %d entries", s->name,
                            TF_MAX_RANKS);
      int rc = tf_train_state_set_ranks(&m->train, (int)s->shape[0], err);
      if (rc) return rc;
    }
  }
  size_t moments = 0;
  for (size_t i = 0; i < h->n_tensors; i++)
    moments += strncmp(h->tensors[i].name, "optim.", 6) == 0 &&
               strcmp(h->tensors[i].name, "optim.step") != 0;
  if (found == 0 && moments == 0) return TF_OK;
  if (found != N_STATE || moments != 2 * (size_t)m->n_tensors)
    return tf_error_set(err, TF_EDATA,
                        "incomplete training state: %zu of %zu train.*/optim.step tensors and "
                        "%zu of %d AdamW moments",
                        found, N_STATE, moments, 2 * m->n_tensors);
  m->train.present = 1;
  return TF_OK;
}

int tf_train_state_check_tensor(const char *name, double min, struct tf_error *err) {
  int moment = strncmp(name, "optim.v.", 8) == 0;
  int counter = strcmp(name, "optim.step") == 0 ||
                (strncmp(name, "train.", 6) == 0 && strcmp(name, "train.rng") != 0);
  if ((!moment && !counter) || (min >= 0 && !isinf(min))) return TF_OK;
  if (moment)
    return tf_error_set(err, TF_EDATA,
                        "tensor %s: holds %g: a second moment of AdamW is never negative", name,
                        min);
  return tf_error_set(err, TF_EDATA, "tensor %s: %g, expected a finite count of 0 or more", name,
                      min);
}

int tf_train_state_check_fresh(int64_t optim_step, const char *moment, struct tf_error *err) {
  if (optim_step > 0 || !moment) return TF_OK;
  return tf_error_set(err, TF_EDATA,
                      "tensor %s: nonzero, but optim.step is %lld: moments before any update "
                      "are zero",
                      moment, (long long)optim_step);
}

/* The smallest of n floats (-0 counts as 0). */
static float block_min(const float *x, size_t n) {
  float lo = 0;
  for (size_t j = 0; j < n; j++) lo = x[j] < lo ? x[j] : lo;
  return lo;
}

/* The first tensor of block x with an element that is not zero, or NULL. */
static const char *first_nonzero(const struct tf_model *m, const float *x) {
  for (int i = 0; i < m->n_tensors; i++) {
    const struct tf_tensor *t = &m->tensors[i];
    for (size_t j = 0; j < t->numel; j++)
      if (x[t->offset + j] != 0) return t->name;
  }
  return NULL;
}

int tf_model_state_validate(const struct tf_model *m, struct tf_error *err) {
  const struct tf_train_state *s = &m->train;
  if (!s->present) return TF_OK;
  int rc = tf_train_state_check_tensor("optim.step", (double)s->opt->step, err);
  if (!rc) rc = tf_train_state_check_tensor("train.step", (double)s->step, err);
  if (!rc) rc = tf_train_state_check_tensor("train.lifetime_steps", (double)s->lifetime_steps, err);
  if (!rc) rc = tf_train_state_check_tensor("train.tokens", (double)s->tokens, err);
  if (!rc) rc = tf_train_state_check_tensor("train.flops", s->flops, err);
  for (int r = 0; !rc && r < s->n_ranks; r++)
    rc = tf_train_state_check_tensor("train.data_cursor", (double)s->cursor[r], err);
  if (rc || !s->opt->m) return rc;
  char name[TF_NAME_MAX + 8];
  for (int i = 0; !rc && i < m->n_tensors; i++) {
    const struct tf_tensor *t = &m->tensors[i];
    snprintf(name, sizeof name, "optim.v.%s", t->name);
    rc = tf_train_state_check_tensor(name, block_min(s->opt->v + t->offset, t->numel), err);
  }
  if (!rc && s->opt->step <= 0) {
    const char *nz_m = first_nonzero(m, s->opt->m),
               *nz_v = nz_m ? NULL : first_nonzero(m, s->opt->v);
    snprintf(name, sizeof name, "optim.%c.%s", nz_m ? 'm' : 'v', nz_m ? nz_m : nz_v ? nz_v : "");
    rc = tf_train_state_check_fresh(s->opt->step, nz_m || nz_v ? name : NULL, err);
  }
  return rc;
}
