/* config_fixture.c: see config_fixture.h. */
#include <check.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config_fixture.h"
#include "suite.h"

static char tmpdir[4096];
static int tmpdir_made;

static int scratch_make(void) {
  tf_test_tmp_path(tmpdir, sizeof tmpdir, "test_config.XXXXXX");
  if (!mkdtemp(tmpdir)) {
    perror("mkdtemp");
    return -1;
  }
  tmpdir_made = 1;
  return 0;
}

void scratch_path(char *buf, size_t n, const char *name) {
  ck_assert_msg(tmpdir_made, "scratch_make was not called");
  snprintf(buf, n, "%s/%s", tmpdir, name);
}

static int remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
  (void)sb, (void)flag, (void)ftw;
  return remove(path);
}

int config_test_run(Suite *s) {
  if (scratch_make()) return 1;
  int status = tf_test_run(s);
  nftw(tmpdir, remove_entry, 8, FTW_DEPTH | FTW_PHYS);
  return status;
}

#define ASSERT_SAME(a, b, f)                                                                       \
  ck_assert_msg(memcmp(&(a)->f, &(b)->f, sizeof(a)->f) == 0, "%s differs", #f)

void assert_same_config(const struct tf_config *a, const struct tf_config *b) {
  ASSERT_SAME(a, b, model); /* no padding in model and init */
  ASSERT_SAME(a, b, init);
  ASSERT_SAME(a, b, train.data);
  ASSERT_SAME(a, b, train.valid);
  ASSERT_SAME(a, b, train.log);
  ASSERT_SAME(a, b, train.batch);
  ASSERT_SAME(a, b, train.grad_accum);
  ASSERT_SAME(a, b, train.steps);
  ASSERT_SAME(a, b, train.lr);
  ASSERT_SAME(a, b, train.min_lr);
  ASSERT_SAME(a, b, train.warmup);
  ASSERT_SAME(a, b, train.weight_decay);
  ASSERT_SAME(a, b, train.beta1);
  ASSERT_SAME(a, b, train.beta2);
  ASSERT_SAME(a, b, train.eps);
  ASSERT_SAME(a, b, train.clip);
  ASSERT_SAME(a, b, train.eval_every);
  ASSERT_SAME(a, b, train.eval_batches);
  ASSERT_SAME(a, b, train.save_every);
  ASSERT_SAME(a, b, train.seed);
  ASSERT_SAME(a, b, grow.tokens);
  ASSERT_SAME(a, b, grow.relative);
  ASSERT_SAME(a, b, grow.init);
  ASSERT_SAME(a, b, grow.rescale);
  ASSERT_SAME(a, b, grow.keep_optimizer);
  ASSERT_SAME(a, b, grow.seed);
}

void unusual_config(struct tf_config *c) {
  memset(c, 0, sizeof *c);
  c->model = (struct tf_model_config){.vocab_size = 300,
                                      .d_model = 96,
                                      .n_layers = 3,
                                      .n_heads = 4,
                                      .seq_len = 77,
                                      .tokens = {40, 50, 60},
                                      .ref_tokens = {20, 25, 30},
                                      .norm = TF_NORM_SOFTMAX,
                                      .rotary_pct = 0.5,
                                      .rotary_base = 500000};
  c->init = (struct tf_init_config){.seed = 18446744073709551615ull, .std = 0.01, .value_std = 0.3};
  strcpy(c->init.tokenizer, "tok/neox.json");
  struct tf_train_config *t = &c->train;
  strcpy(t->data, "corpus/a b.txt");
  strcpy(t->valid, "v.txt");
  strcpy(t->log, "run/log.jsonl");
  t->batch = 3, t->grad_accum = 5, t->steps = 1000000000000; /* above INT_MAX */
  t->lr = 0.003, t->min_lr = 0.0001, t->warmup = 250;
  t->weight_decay = 0, t->beta1 = 0, t->beta2 = 0.999, t->eps = 1, t->clip = 0;
  t->eval_every = 0, t->eval_batches = 7, t->save_every = 1000000000, t->seed = 42;
  struct tf_grow_config *g = &c->grow;
  g->tokens[TF_KIND_QKV] = 256, g->relative[TF_KIND_QKV] = 1;
  g->tokens[TF_KIND_PROJ] = 1024;
  g->tokens[TF_KIND_FFN] = 512, g->relative[TF_KIND_FFN] = 1;
  g->init = TF_GROW_DUPLICATE, g->rescale = 1, g->keep_optimizer = 1, g->seed = 9;
}
