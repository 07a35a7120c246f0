/* suite.h: what every check suite shares. */
#ifndef TF_TEST_SUITE_H
#define TF_TEST_SUITE_H

#include <check.h>

#include "tokenformer.h"

/* Runs the suite, prints check's summary, returns the process exit status (0: all passed). */
int tf_test_run(Suite *s);
/* "$TMPDIR/name" into buf (n bytes), /tmp when TMPDIR is unset or empty: where a test makes
 * its files, e.g. from a mkdtemp or mkstemp template name. Aborts when it does not fit. */
void tf_test_tmp_path(char *buf, size_t n, const char *name);
/* A model small enough for any test: V 64, d 16, L 2, H 2, seq 8, 12/10/40 tokens. */
struct tf_model_config tf_test_tiny_config(void);
/* The smallest model whose decoded rows go through a team of threads (lib/decode.c: a layer's
 * products stream at least TF_PAR_MIN floats): V 64, d 64, L 2, H 4, seq 24, 64/64/256 tokens. */
struct tf_model_config tf_test_team_config(void);
/* n token ids in [0, V), the same for the same seed. */
void tf_test_random_tokens(int32_t *t, int n, int V, uint64_t seed);
/* The fixture model name (tests/fixtures/README.md) from $TF_FIXTURES (default
 * tests/fixtures), with its training state; the check fails when it cannot be loaded. */
void tf_test_load_fixture(struct tf_model *m, const char *name);
/* out (T, V) = the logits of the full forward (tf_net_forward) of tokens (T). */
void tf_test_full_logits(const struct tf_model *m, const int32_t *tokens, int T, float *out);

#endif
