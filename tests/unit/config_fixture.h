/* config_fixture.h: what the two config test programs share: a config unlike the defaults in
 * every key, a field-by-field comparison, and a scratch directory. */
#ifndef TF_CONFIG_FIXTURE_H
#define TF_CONFIG_FIXTURE_H

#include <check.h>

#include "tokenformer.h"

/* Fails the test unless a and b hold the same values (field by field: the train and grow
 * structs have padding that memcmp would see). */
void assert_same_config(const struct tf_config *a, const struct tf_config *b);
/* A config unlike the defaults in every key. */
void unusual_config(struct tf_config *c);
/* Runs the suite (tf_test_run) with a scratch directory made before the tests fork and
 * removed after them; the exit status of the program. */
int config_test_run(Suite *s);
/* The path of name in the scratch directory (the buffer is the caller's). */
void scratch_path(char *buf, size_t n, const char *name);

#endif
