/* fuzz_optim.c: libFuzzer harness of the training-state checks (lib/model_state.c), the AdamW
 * hyper-parameter checks (lib/config.c) and the finite check before a save (lib/model_io.c),
 * on one tiny model made once (V 8, d 8, L 1, tokens 2/2/4). The input fills, in order: the
 * counters (optim.step, train.step, train.lifetime_steps, train.tokens as int64, train.flops
 * as a double, the data cursor), beta1, beta2, eps, lr (doubles), then floats for the
 * parameters, the two moments and a gradient, cycling over what is left (zeros when nothing
 * is). Non-finite floats become 0: the loader refuses them before these checks run.
 * Promises checked: the state check accepts exactly the states the rules of
 * tokenformer-checkpoint(5) allow (counters and second moments not negative, moments zero
 * before the first update), as an oracle written here says, and names the tensor it refuses;
 * after one AdamW step with hyper-parameters tf_config_check accepts, tf_model_save refuses
 * (TF_EDATA, naming a tensor) exactly when a parameter or moment is not finite. */
#include <math.h>

#include "fuzz.h"
#include "model_internal.h"
#include "optim.h"

static struct tf_model model;
static float *grads;

static void make_model(void) {
  struct tf_model_config c = {.vocab_size = 8,
                              .d_model = 8,
                              .n_layers = 1,
                              .n_heads = 1,
                              .seq_len = 4,
                              .tokens = {2, 2, 4},
                              .norm = TF_NORM_L2_GELU,
                              .rotary_pct = 0.25,
                              .rotary_base = 10000};
  struct tf_error err = {0};
  if (tf_model_create(&model, &c, &err) || tf_adamw_create(model.train.opt, model.n_params, &err))
    fuzz_fail("cannot make the model: %s", err.msg);
  if (!(grads = calloc(model.n_params, sizeof *grads))) fuzz_fail("out of memory");
  model.train.present = 1;
  if (tf_train_state_set_ranks(&model.train, 1, &err)) fuzz_fail("%s", err.msg);
}

/* Reads the input a piece at a time; past its end, zeros. */
struct input {
  const uint8_t *p;
  size_t n, at;
};

static void take(struct input *in, void *dst, size_t k) {
  memset(dst, 0, k);
  for (size_t i = 0; i < k && in->n; i++) ((uint8_t *)dst)[i] = in->p[in->at++ % in->n];
}

static int64_t take_i64(struct input *in) {
  int64_t v;
  take(in, &v, sizeof v);
  return v;
}

static double take_f64(struct input *in) {
  double v;
  take(in, &v, sizeof v);
  return v;
}

static void fill_block(struct input *in, float *x, size_t n) {
  for (size_t j = 0; j < n; j++) {
    take(in, &x[j], sizeof x[j]);
    if (!isfinite(x[j])) x[j] = 0;
  }
}

/* The rules, written out once more: 1 when a training run could have written this state. */
static int oracle(const struct tf_model *m) {
  const struct tf_train_state *s = &m->train;
  if (s->opt->step < 0 || s->step < 0 || s->lifetime_steps < 0 || s->tokens < 0 ||
      !(s->flops >= 0) || isinf(s->flops) || s->cursor[0] < 0)
    return 0;
  int nonzero = 0;
  for (size_t j = 0; j < m->n_params; j++) {
    if (s->opt->v[j] < 0) return 0;
    nonzero |= s->opt->m[j] != 0 || s->opt->v[j] != 0;
  }
  return s->opt->step > 0 || !nonzero;
}

static int all_finite(const struct tf_model *m) {
  for (size_t j = 0; j < m->n_params; j++)
    if (!isfinite(m->params[j]) || !isfinite(m->train.opt->m[j]) || !isfinite(m->train.opt->v[j]))
      return 0;
  return 1;
}

/* One AdamW step when the config check accepts the hyper-parameters; then the save guard. */
static void step_and_save(struct tf_model *m, double b1, double b2, double eps, double lr) {
  struct tf_config c;
  struct tf_error err = {0};
  tf_config_default(&c);
  c.train.beta1 = b1;
  c.train.beta2 = b2;
  c.train.eps = eps;
  c.train.lr = lr;
  c.train.min_lr = 0;
  if (tf_config_check(&c, &err)) {
    if (err.code != TF_ECONFIG || strncmp(err.msg, "train.", 6))
      fuzz_fail("hyper-parameters refused with %d: %s", err.code, err.msg);
    return;
  }
  struct tf_adamw_hparams h = {b1, b2, eps, c.train.weight_decay};
  if (m->train.opt->step == INT64_MAX) return; /* no training gets there */
  tf_adamw_step(m->train.opt, m->params, grads, 1.0f, m->tensors, m->n_tensors, lr, &h);
  int finite = all_finite(m);
  int rc = tf_model_save(m, "/dev/null", TF_COMPRESS_NONE, &err);
  if (finite && rc) fuzz_fail("a finite model was not saved: %s", err.msg);
  if (!finite && (rc != TF_EDATA || !strstr(err.msg, "not saved") || !strstr(err.msg, "tensor ")))
    fuzz_fail("a non-finite model: save returned %d: %s", rc, err.msg);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (!model.params) make_model();
  struct tf_model *m = &model;
  struct tf_train_state *s = &m->train;
  struct input in = {data, size, 0};
  s->opt->step = take_i64(&in);
  s->step = take_i64(&in);
  s->lifetime_steps = take_i64(&in);
  s->tokens = take_i64(&in);
  s->flops = take_f64(&in);
  s->cursor[0] = take_i64(&in);
  double b1 = take_f64(&in), b2 = take_f64(&in), eps = take_f64(&in), lr = take_f64(&in);
  fill_block(&in, m->params, m->n_params);
  fill_block(&in, s->opt->m, m->n_params);
  fill_block(&in, s->opt->v, m->n_params);
  fill_block(&in, grads, m->n_params);
  struct tf_error err = {0};
  int rc = tf_model_state_validate(m, &err), want = oracle(m);
  if (want && rc) fuzz_fail("a state training can write was refused: %s", err.msg);
  if (!want && (rc != TF_EDATA || strncmp(err.msg, "tensor ", 7)))
    fuzz_fail("an impossible state: check returned %d: %s", rc, err.msg);
  if (want) step_and_save(m, b1, b2, eps, lr);
  return 0;
}
