/* official_fixture.h: tests/fixtures/official (tests/reference/make_official.py) as the
 * suites of the torch reader and of tf-convert's library read it. Not a test itself. */
#ifndef TF_TEST_OFFICIAL_FIXTURE_H
#define TF_TEST_OFFICIAL_FIXTURE_H

#include "tokenformer.h"

/* The path of tests/fixtures/official/NAME (TF_FIXTURES overrides tests/fixtures); four
 * results stay valid at a time. */
const char *official_path(const char *name);

/* expected.safetensors in memory: every tensor as PyTorch holds it, ids, logits, loss. */
struct official_expected {
  struct tf_st_header h;
  unsigned char *data;
};
void official_expected_load(struct official_expected *e);
/* The bytes of tensor name and (when t is not NULL) its header entry; aborts the test if
 * there is none. */
const void *official_expected_get(const struct official_expected *e, const char *name,
                                  const struct tf_st_tensor **t);
void official_expected_free(struct official_expected *e);

#endif
