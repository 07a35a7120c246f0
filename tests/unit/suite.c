/* suite.c: the one main loop of every check suite. */
#include <stdio.h>
#include <stdlib.h>

#include <string.h>

#include "suite.h"
#include "net.h"
#include "rng.h"

int tf_test_run(Suite *s) {
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_ENV);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? 1 : 0;
}

void tf_test_tmp_path(char *buf, size_t n, const char *name) {
  const char *tmp = getenv("TMPDIR");
  int len = snprintf(buf, n, "%s/%s", tmp && *tmp ? tmp : "/tmp", name);
  if (len < 0 || (size_t)len >= n) { /* also called outside tests, where ck_assert cannot be */
    fprintf(stderr, "temporary path too long: %s\n", buf);
    abort();
  }
}

struct tf_model_config tf_test_tiny_config(void) {
  struct tf_config c;
  tf_config_default(&c);
  c.model.vocab_size = 64;
  c.model.d_model = 16;
  c.model.n_layers = 2;
  c.model.n_heads = 2;
  c.model.seq_len = 8;
  c.model.tokens[TF_KIND_QKV] = 12;
  c.model.tokens[TF_KIND_PROJ] = 10;
  c.model.tokens[TF_KIND_FFN] = 40;
  return c.model;
}

struct tf_model_config tf_test_team_config(void) {
  struct tf_model_config c = tf_test_tiny_config();
  c.d_model = 64;
  c.n_heads = 4;
  c.seq_len = 24;
  c.tokens[TF_KIND_QKV] = 64;
  c.tokens[TF_KIND_PROJ] = 64;
  c.tokens[TF_KIND_FFN] = 256;
  return c;
}

void tf_test_random_tokens(int32_t *t, int n, int V, uint64_t seed) {
  struct tf_rng r;
  tf_rng_seed(&r, seed);
  for (int i = 0; i < n; i++) t[i] = (int32_t)(tf_rng_next(&r) % (uint64_t)V);
}

void tf_test_full_logits(const struct tf_model *m, const int32_t *tokens, int T, float *out) {
  struct tf_acts a;
  struct tf_error err = {0};
  ck_assert_msg(tf_acts_init(&a, &m->cfg, 1, T, &err) == TF_OK, "%s", err.msg);
  tf_net_forward(m, &a, tokens, NULL, 1, T);
  memcpy(out, a.logits, (size_t)T * m->cfg.vocab_size * sizeof *out);
  tf_acts_release(&a);
}

void tf_test_load_fixture(struct tf_model *m, const char *name) {
  const char *dir = getenv("TF_FIXTURES");
  char path[512];
  struct tf_error err = {0};
  snprintf(path, sizeof path, "%s/%s.tfz", dir ? dir : "tests/fixtures", name);
  ck_assert_msg(tf_model_load(m, path, &err) == TF_OK, "%s", err.msg);
}
