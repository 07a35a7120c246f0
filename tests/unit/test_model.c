/* test_model.c: the parameter table, counts and initialization of model.c, and the model's
 * round trip through a checkpoint (model_io.c). */
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "suite.h"
#include "tokenformer.h"
#include "model_internal.h"
#include "optim.h"
#include "rng.h"

START_TEST(param_count_150m_is_151881216) {
  struct tf_model_config c = {.vocab_size = 50304,
                              .d_model = 768,
                              .n_layers = 12,
                              .n_heads = 12,
                              .seq_len = 2048,
                              .tokens = {768, 768, 3072}};
  ck_assert_uint_eq(tf_param_count(&c), 151881216ull);
}
END_TEST

START_TEST(param_count_matches_tensor_table) {
  struct tf_model_config c = tf_test_tiny_config();
  int n = tf_model_n_tensors(&c);
  struct tf_tensor *t = calloc((size_t)n, sizeof *t);
  tf_model_tensor_table(&c, t);
  size_t total = 0;
  for (int i = 0; i < n; i++) {
    ck_assert_uint_eq(t[i].offset, total); /* tensors tile the block in order */
    total += t[i].numel;
  }
  ck_assert_uint_eq(total, tf_param_count(&c));
  ck_assert_str_eq(t[0].name, "embed.weight");
  ck_assert_str_eq(t[1].name, "layers.0.attention.query.key_param_tokens");
  ck_assert_str_eq(t[n - 1].name, "final_norm.bias");
  ck_assert_int_eq(t[n - 1].decay, 0);
  free(t);
}
END_TEST

START_TEST(views_point_at_table_offsets) {
  struct tf_model m;
  struct tf_model_config c = tf_test_tiny_config();
  ck_assert_int_eq(tf_model_create(&m, &c, NULL), TF_OK);
  for (int i = 0; i < m.n_tensors; i++) {
    const struct tf_tensor *t = &m.tensors[i];
    if (t->slot < 0) continue;
    const struct tf_pattn_view *p = &m.w->layer[t->layer][t->slot];
    ck_assert_ptr_eq(t->is_key ? p->key : p->value, m.params + t->offset);
    ck_assert_int_eq(t->rows, c.tokens[tf_slot_kind((enum tf_slot)t->slot)]);
  }
  ck_assert_ptr_eq(m.w->final_norm_bias, m.params + m.n_params - 16);
  ck_assert_int_eq(m.cfg.ref_tokens[TF_KIND_FFN], 40); /* 0 resolves to the token count */
  tf_model_free(&m);
}
END_TEST

/* Sample mean and std of n draws of N(0, s): with n >= 10,000 the std estimate is within
 * 5 % of s with overwhelming probability (its relative standard error is 1/sqrt(2n) < 0.8 %). */
static void assert_normal(const float *p, size_t n, double s) {
  double sum = 0, sq = 0;
  for (size_t i = 0; i < n; i++) sum += p[i], sq += (double)p[i] * p[i];
  double mean = sum / n, std = sqrt(sq / n - mean * mean);
  ck_assert_msg(fabs(std / s - 1) < 0.05, "std %g, expected %g", std, s);
  ck_assert_msg(fabs(mean) < 5 * s / sqrt((double)n), "mean %g too far from 0", mean);
}

/* _i = 0: the paper's init (keys share init.std); _i = 1: keys with their own init.key_std. */
START_TEST(init_statistics_match_their_sigma) {
  struct tf_model m;
  struct tf_model_config c = tf_test_tiny_config();
  c.d_model = 64;
  c.vocab_size = 256;
  c.tokens[TF_KIND_QKV] = c.tokens[TF_KIND_PROJ] = 160;
  c.tokens[TF_KIND_FFN] = 200;
  ck_assert_int_eq(tf_model_create(&m, &c, NULL), TF_OK);
  struct tf_init_config ic = {.seed = 5, .std = 0.02, .key_std = _i ? 0.3 : 0, .value_std = 0};
  tf_model_init(&m, &ic);
  double wang = 2.0 / (2 * sqrt(64.0)), key = _i ? 0.3 : 0.02;
  assert_normal(m.w->embed, 256 * 64, 0.02);
  for (int s = 0; s < TF_NSLOTS; s++) {
    size_t n = (size_t)c.tokens[tf_slot_kind((enum tf_slot)s)] * 64;
    assert_normal(m.w->layer[1][s].key, n, key);
    assert_normal(m.w->layer[1][s].value, n, wang);
  }
  for (int i = 0; i < 64; i++) {
    ck_assert_float_eq(m.w->final_norm_weight[i], 1.0f);
    ck_assert_float_eq(m.w->final_norm_bias[i], 0.0f);
  }
  tf_model_free(&m);
}
END_TEST

START_TEST(same_seed_same_parameters) {
  struct tf_model a, b;
  struct tf_model_config c = tf_test_tiny_config();
  struct tf_init_config ic = {.seed = 9, .std = 0.02};
  tf_model_create(&a, &c, NULL);
  tf_model_create(&b, &c, NULL);
  tf_model_init(&a, &ic);
  tf_model_init(&b, &ic);
  ck_assert_int_eq(memcmp(a.params, b.params, a.n_params * sizeof(float)), 0);
  ic.seed = 10;
  tf_model_init(&b, &ic);
  ck_assert_int_ne(memcmp(a.params, b.params, a.n_params * sizeof(float)), 0);
  tf_model_free(&a);
  tf_model_free(&b);
}
END_TEST

START_TEST(huge_config_is_refused_before_allocating) {
  struct tf_model m;
  struct tf_error err = {0};
  struct tf_model_config c = tf_test_tiny_config();
  c.vocab_size = 1 << 24;
  c.d_model = 65536;
  ck_assert_int_eq(tf_model_create(&m, &c, &err), TF_ENOMEM);
  ck_assert_msg(strstr(err.msg, "GiB") != NULL, "message names the figures: %s", err.msg);
}
END_TEST

START_TEST(save_load_round_trip_keeps_everything) {
  struct tf_model a, b;
  struct tf_error err = {0};
  struct tf_model_config c = tf_test_tiny_config();
  c.ref_tokens[TF_KIND_FFN] = 32;
  struct tf_init_config ic = {.seed = 3, .std = 0.02};
  ck_assert_int_eq(tf_model_create(&a, &c, &err), TF_OK);
  tf_model_init(&a, &ic);
  ck_assert_int_eq(tf_model_add_history(&a, "test", "{\"k\": 1}", &err), TF_OK);
  char path[4096];
  tf_test_tmp_path(path, sizeof path, "tf-test-model-XXXXXX");
  int fd = mkstemp(path);
  close(fd);
  ck_assert_msg(tf_model_save(&a, path, TF_COMPRESS_HUFFMAN, &err) == TF_OK, "%s", err.msg);
  ck_assert_msg(tf_model_load(&b, path, &err) == TF_OK, "%s", err.msg);
  ck_assert_int_eq(memcmp(&a.cfg, &b.cfg, sizeof a.cfg), 0);
  ck_assert_int_eq(b.cfg.ref_tokens[TF_KIND_FFN], 32);
  ck_assert_int_eq(memcmp(a.params, b.params, a.n_params * sizeof(float)), 0);
  ck_assert_ptr_nonnull(strstr(b.history, "\"command\":\"test\""));
  unlink(path);
  tf_model_free(&a);
  tf_model_free(&b);
}
END_TEST

START_TEST(training_state_round_trip) {
  struct tf_model a, b;
  struct tf_error err = {0};
  struct tf_model_config c = tf_test_tiny_config();
  ck_assert_int_eq(tf_model_create(&a, &c, &err), TF_OK);
  tf_model_init(&a, &(struct tf_init_config){.seed = 2, .std = 0.02});
  a.train.present = 1;
  a.train.step = 17;
  a.train.lifetime_steps = 40;
  a.train.tokens = 123456789012ll;
  a.train.flops = 1.5e15;
  tf_rng_seed(a.train.rng, 99);
  ck_assert_int_eq(tf_train_state_set_ranks(&a.train, 3, &err), TF_OK);
  a.train.cursor[2] = 77;
  ck_assert_int_eq(tf_adamw_create(a.train.opt, a.n_params, &err), TF_OK);
  a.train.opt->step = 5;
  for (size_t i = 0; i < a.n_params; i++) a.train.opt->m[i] = (float)i, a.train.opt->v[i] = 0.5f;
  char path[4096];
  tf_test_tmp_path(path, sizeof path, "tf-test-state-XXXXXX.safetensors");
  int fd = mkstemps(path, 12);
  close(fd);
  ck_assert_msg(tf_model_save(&a, path, TF_COMPRESS_NONE, &err) == TF_OK, "%s", err.msg);
  ck_assert_msg(tf_model_load(&b, path, &err) == TF_OK, "%s", err.msg);
  ck_assert_int_eq(b.train.present, 1);
  ck_assert_int_eq(b.train.step, 17);
  ck_assert_int_eq(b.train.lifetime_steps, 40);
  ck_assert_int_eq(b.train.tokens, 123456789012ll);
  ck_assert_double_eq(b.train.flops, 1.5e15);
  ck_assert_int_eq(memcmp(a.train.rng, b.train.rng, sizeof *a.train.rng), 0);
  ck_assert_int_eq(b.train.n_ranks, 3);
  ck_assert_int_eq(b.train.cursor[2], 77);
  ck_assert_int_eq(b.train.opt->step, 5);
  ck_assert_int_eq(memcmp(a.train.opt->m, b.train.opt->m, a.n_params * sizeof(float)), 0);
  ck_assert_int_eq(memcmp(a.train.opt->v, b.train.opt->v, a.n_params * sizeof(float)), 0);
  tf_model_free(&b);
  /* weights only: the same parameters, the moments read past, no training state kept */
  ck_assert_msg(tf_model_load_weights(&b, path, &err) == TF_OK, "%s", err.msg);
  ck_assert_int_eq(memcmp(a.params, b.params, a.n_params * sizeof(float)), 0);
  ck_assert_int_eq(b.train.present, 0);
  ck_assert_ptr_null(b.train.opt->m);
  ck_assert_ptr_null(b.train.opt->v);
  tf_model_free(&b);
  unlink(path);
  tf_model_free(&a);
}
END_TEST

/* Expects loading path (whole, or weights only) to fail with TF_EDATA naming want. */
static void refused(const char *path, int weights_only, const char *want) {
  struct tf_model b;
  struct tf_error err = {0};
  int rc = weights_only ? tf_model_load_weights(&b, path, &err) : tf_model_load(&b, path, &err);
  ck_assert_int_eq(rc, TF_EDATA);
  ck_assert_msg(strstr(err.msg, want) && strstr(err.msg, path), "message: %s", err.msg);
}

/* Sets element i of tensor name in the plain safetensors file at path to x, in place: a file
 * that no save writes. */
static void poke(const char *path, const char *name, size_t i, float x) {
  struct tf_ckpt_reader *r;
  struct tf_error err = {0};
  ck_assert_msg(tf_ckpt_open(&r, path, &err) == TF_OK, "%s", err.msg);
  const struct tf_st_header *h = tf_ckpt_header(r);
  const struct tf_st_tensor *t = tf_st_find(h, name);
  ck_assert_ptr_nonnull(t);
  off_t at = (off_t)(8 + h->header_len + t->begin + i * sizeof x);
  tf_ckpt_close(r);
  int fd = open(path, O_WRONLY);
  ck_assert_int_eq(pwrite(fd, &x, sizeof x, at), (ssize_t)sizeof x);
  close(fd);
}

/* A NaN or infinity in a parameter, or in a moment a command would keep, is never saved (the
 * save names the step, tensor and element) and is refused on load with the tensor and
 * element; the moments of a checkpoint loaded for its weights only do not matter. */
START_TEST(non_finite_values_are_refused_on_load) {
  struct tf_model a, b;
  struct tf_error err = {0};
  struct tf_model_config c = tf_test_tiny_config();
  ck_assert_int_eq(tf_model_create(&a, &c, &err), TF_OK);
  tf_model_init(&a, &(struct tf_init_config){.seed = 4, .std = 0.02});
  a.train.present = 1;
  ck_assert_int_eq(tf_train_state_set_ranks(&a.train, 1, &err), TF_OK);
  a.train.step = 7;
  ck_assert_int_eq(tf_adamw_create(a.train.opt, a.n_params, &err), TF_OK);
  char path[4096];
  tf_test_tmp_path(path, sizeof path, "tf-test-nan-XXXXXX.safetensors");
  int fd = mkstemps(path, 12);
  close(fd);
  const struct tf_tensor *t = &a.tensors[2];
  char want[160];
  a.params[t->offset + 3] = NAN;
  ck_assert_int_eq(tf_model_save(&a, path, TF_COMPRESS_NONE, &err), TF_EDATA);
  snprintf(want, sizeof want, "not saved (step 7): tensor %s: element 3 is nan", t->name);
  ck_assert_msg(strstr(err.msg, want) && strstr(err.msg, path), "message: %s", err.msg);
  struct stat st;
  ck_assert_int_eq(stat(path, &st), 0);
  ck_assert_int_eq(st.st_size, 0); /* the file there was left as it was */
  a.params[t->offset + 3] = 0.5f;
  ck_assert_msg(tf_model_save(&a, path, TF_COMPRESS_NONE, &err) == TF_OK, "%s", err.msg);
  poke(path, t->name, 3, NAN);
  snprintf(want, sizeof want, "tensor %s: element 3 is nan", t->name);
  refused(path, 0, want);
  refused(path, 1, want);
  poke(path, t->name, 3, 0.5f);
  t = &a.tensors[a.n_tensors - 1];
  char moment[TF_NAME_MAX + 8];
  snprintf(moment, sizeof moment, "optim.v.%s", t->name);
  poke(path, moment, t->numel - 1, INFINITY);
  snprintf(want, sizeof want, "tensor optim.v.%s: element %zu is inf", t->name, t->numel - 1);
  refused(path, 0, want);
  ck_assert_msg(tf_model_load_weights(&b, path, &err) == TF_OK, "%s", err.msg);
  tf_model_free(&b);
  unlink(path);
  tf_model_free(&a);
}
END_TEST

int main(void) {
  Suite *s = suite_create("model");
  TCase *tc = tcase_create("params");
  tcase_add_test(tc, param_count_150m_is_151881216);
  tcase_add_test(tc, param_count_matches_tensor_table);
  tcase_add_test(tc, views_point_at_table_offsets);
  tcase_add_loop_test(tc, init_statistics_match_their_sigma, 0, 2);
  tcase_add_test(tc, same_seed_same_parameters);
  tcase_add_test(tc, huge_config_is_refused_before_allocating);
  tcase_add_test(tc, non_finite_values_are_refused_on_load);
  tcase_add_test(tc, save_load_round_trip_keeps_everything);
  tcase_add_test(tc, training_state_round_trip);
  suite_add_tcase(s, tc);
  return tf_test_run(s);
}
