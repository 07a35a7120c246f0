/* official_fixture.c: see official_fixture.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "official_fixture.h"
#include "suite.h"
#include "model_internal.h"

const char *official_path(const char *name) {
  static char buf[4][512];
  static int k;
  const char *d = getenv("TF_FIXTURES");
  k = (k + 1) % 4;
  snprintf(buf[k], sizeof buf[k], "%s/official/%s", d ? d : "tests/fixtures", name);
  return buf[k];
}

void official_expected_load(struct official_expected *e) {
  struct tf_ckpt_reader *r;
  struct tf_error err = {0};
  ck_assert_msg(tf_ckpt_open(&r, official_path("expected.safetensors"), &err) == TF_OK, "%s",
                err.msg);
  const struct tf_st_header *h = tf_ckpt_header(r);
  e->data = malloc(h->data_len + 1);
  ck_assert_int_eq(tf_ckpt_read(r, e->data, h->data_len, &err), TF_OK);
  e->h = *h; /* a copy of the header: the reader owns its own */
  struct tf_st_tensor *t = calloc(h->n_tensors, sizeof *t);
  for (size_t i = 0; i < h->n_tensors; i++) t[i] = h->tensors[i], t[i].name = strdup(t[i].name);
  e->h.tensors = t;
  e->h.n_meta = 0;
  e->h.meta_keys = e->h.meta_values = NULL;
  tf_ckpt_close(r);
}

const void *official_expected_get(const struct official_expected *e, const char *name,
                                  const struct tf_st_tensor **t) {
  const struct tf_st_tensor *x = tf_st_find(&e->h, name);
  ck_assert_msg(x != NULL, "expected.safetensors has no %s", name);
  if (t) *t = x;
  return e->data + x->begin;
}

void official_expected_free(struct official_expected *e) {
  for (size_t i = 0; i < e->h.n_tensors; i++) free(e->h.tensors[i].name);
  free(e->h.tensors);
  free(e->data);
}
