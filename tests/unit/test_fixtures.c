/* test_fixtures.c: our logits, loss and every parameter gradient against the PyTorch
 * reference (tests/reference, float64) on the committed fixtures of tests/fixtures. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fd.h"
#include "suite.h"
#include "tokenformer.h"
#include "model_internal.h"
#include "net.h"

static const char *const cases[] = {
    "l2_norm_gelu", "l2_norm_gelu_rope_full", "gelu_l2_norm",  "softmax",  "odd_seq",
    "grown",        "grown_gelu_l2_norm",     "grown_softmax", "short_seq"};
#define N_CASES (int)(sizeof cases / sizeof cases[0])

/* Every tensor of a safetensors file, in memory. */
struct fixture {
  struct tf_st_header h;
  void **data;
};

static const char *fixtures_dir(void) {
  const char *d = getenv("TF_FIXTURES");
  return d ? d : "tests/fixtures";
}

static void fixture_load(struct fixture *f, const char *path) {
  struct tf_ckpt_reader *r;
  struct tf_error err = {0};
  ck_assert_msg(tf_ckpt_open(&r, path, &err) == TF_OK, "%s", err.msg);
  const struct tf_st_header *h = tf_ckpt_header(r);
  f->data = calloc(h->n_tensors, sizeof *f->data);
  for (size_t i = 0; i < h->n_tensors; i++) {
    uint64_t n = h->tensors[i].end - h->tensors[i].begin;
    f->data[i] = malloc(n ? n : 1);
    ck_assert_int_eq(tf_ckpt_read(r, f->data[i], n, &err), TF_OK);
  }
  ck_assert_int_eq(tf_ckpt_finish(r, &err), TF_OK);
  /* keep a copy of the header: the reader owns its own */
  f->h = *h;
  struct tf_st_tensor *t = calloc(h->n_tensors, sizeof *t);
  for (size_t i = 0; i < h->n_tensors; i++) t[i] = h->tensors[i], t[i].name = strdup(t[i].name);
  f->h.tensors = t;
  f->h.n_meta = 0;
  f->h.meta_keys = f->h.meta_values = NULL;
  tf_ckpt_close(r);
}

static const void *fixture_get(const struct fixture *f, const char *name) {
  for (size_t i = 0; i < f->h.n_tensors; i++)
    if (strcmp(f->h.tensors[i].name, name) == 0) return f->data[i];
  ck_abort_msg("fixture has no tensor %s", name);
  return NULL;
}

static void fixture_free(struct fixture *f) {
  for (size_t i = 0; i < f->h.n_tensors; i++) free(f->data[i]), free(f->h.tensors[i].name);
  free(f->data);
  free(f->h.tensors);
}

/* The reference runs in float64; ours in float32 with double row reductions. The reference
 * itself measured float32 round-off at <= 7e-6 (logits) and <= 2e-6 (gradients) relative, so
 * 1e-4 (the acceptance bound) leaves a wide margin and still catches any wrong term: the
 * fixtures are built so that every term moves the results by far more (>= 0.6). */
#define TOL 1e-4

START_TEST(forward_and_backward_match_pytorch) {
  const char *name = cases[_i];
  char path[512];
  struct tf_model m;
  struct tf_error err = {0};
  snprintf(path, sizeof path, "%s/%s.tfz", fixtures_dir(), name);
  ck_assert_msg(tf_model_load(&m, path, &err) == TF_OK, "%s", err.msg);
  struct fixture f;
  snprintf(path, sizeof path, "%s/%s.safetensors", fixtures_dir(), name);
  fixture_load(&f, path);
  const struct tf_st_tensor *in = tf_st_find(&f.h, "inputs");
  int B = (int)in->shape[0], T = (int)in->shape[1], V = m.cfg.vocab_size;
  struct tf_acts acts;
  ck_assert_int_eq(tf_acts_init(&acts, &m.cfg, B, m.cfg.seq_len, &err), TF_OK);
  float loss =
      tf_net_forward(&m, &acts, fixture_get(&f, "inputs"), fixture_get(&f, "targets"), B, T);
  double ref_loss = *(const double *)fixture_get(&f, "loss");
  ck_assert_msg(fabs(loss - ref_loss) / fabs(ref_loss) <= TOL, "%s: loss %.9g, reference %.9g",
                name, loss, ref_loss);
  double e = fd_rel_error(acts.logits, fixture_get(&f, "logits"), (size_t)B * T * V);
  ck_assert_msg(e <= TOL, "%s: logits differ by %g relative", name, e);
  float *grads = calloc(m.n_params, sizeof(float));
  struct tf_view g;
  ck_assert_int_eq(tf_view_point(&g, grads, &m.cfg, NULL), TF_OK);
  tf_net_backward(&m, &acts, &g);
  for (int i = 0; i < m.n_tensors; i++) {
    char gname[TF_NAME_MAX + 8];
    snprintf(gname, sizeof gname, "grad.%s", m.tensors[i].name);
    e = fd_rel_error(grads + m.tensors[i].offset, fixture_get(&f, gname), m.tensors[i].numel);
    ck_assert_msg(e <= TOL, "%s: gradient of %s differs by %g relative", name, m.tensors[i].name,
                  e);
  }
  tf_view_free(&g);
  free(grads);
  tf_acts_release(&acts);
  fixture_free(&f);
  tf_model_free(&m);
}
END_TEST

int main(void) {
  Suite *s = suite_create("fixtures");
  TCase *tc = tcase_create("pytorch");
  tcase_add_loop_test(tc, forward_and_backward_match_pytorch, 0, N_CASES);
  suite_add_tcase(s, tc);
  return tf_test_run(s);
}
