/* suite.c: the one main loop of every check suite. */
#include <stdio.h>
#include <stdlib.h>

#include "suite.h"

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
