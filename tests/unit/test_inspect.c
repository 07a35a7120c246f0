/* test_inspect.c: inspect.c's parameter groups, element formatting, streamed statistics,
 * header checks against the config, and the two-file diff, on checkpoints built here. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "suite.h"
#include "tokenformer.h"
#include "model_internal.h"

static char dir[4096];

static void setup(void) {
  tf_test_tmp_path(dir, sizeof dir, "tf-test-inspect-XXXXXX");
  ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void teardown(void) {
  char cmd[4200];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  ck_assert_int_eq(system(cmd), 0);
}

static const char *path_of(const char *name) {
  static char buf[2][4200];
  static int which;
  which ^= 1;
  snprintf(buf[which], sizeof buf[which], "%s/%s", dir, name);
  return buf[which];
}

/* One tensor entry: 1-D when cols is 0, a scalar when rows is 0 too. */
static struct tf_ckpt_entry entry(const char *name, enum tf_dtype t, int64_t rows, int64_t cols,
                                  const void *data) {
  struct tf_ckpt_entry e = {.name = name, .dtype = t, .data = data};
  e.ndim = cols ? 2 : rows ? 1 : 0;
  e.shape[0] = rows;
  e.shape[1] = cols;
  return e;
}

static void write_file(const char *name, const struct tf_ckpt_entry *e, size_t n) {
  struct tf_error err = {0};
  int rc = tf_ckpt_write(path_of(name), e, n, NULL, 0, TF_COMPRESS_FAST, &err);
  ck_assert_msg(rc == TF_OK, "write %s: %s", name, err.msg);
}

static struct tf_ckpt_reader *open_file(const char *name) {
  struct tf_ckpt_reader *r = NULL;
  struct tf_error err = {0};
  int rc = tf_ckpt_open(&r, path_of(name), &err);
  ck_assert_msg(rc == TF_OK, "open %s: %s", name, err.msg);
  return r;
}

START_TEST(groups_sum_to_the_150m_count) {
  struct tf_model_config c = {.vocab_size = 50304,
                              .d_model = 768,
                              .n_layers = 12,
                              .n_heads = 12,
                              .seq_len = 2048,
                              .tokens = {768, 768, 3072}};
  uint64_t g[TF_NGROUPS], sum = 0;
  tf_param_count_by_group(&c, g);
  for (int i = 0; i < TF_NGROUPS; i++) sum += g[i];
  ck_assert_uint_eq(sum, 151881216ull); /* docs/model.md §3.2 */
  ck_assert_uint_eq(g[TF_GROUP_EMBED], 38633472ull);
  ck_assert_uint_eq(g[TF_GROUP_QKV], 12ull * 3 * 2 * 768 * 768);
  ck_assert_uint_eq(g[TF_GROUP_FFN], 12ull * 2 * 3072 * 768);
  ck_assert_uint_eq(g[TF_GROUP_NORM], 1536);
  ck_assert_str_eq(tf_param_group_name(TF_GROUP_EMBED), "embedding");
}
END_TEST

START_TEST(groups_match_the_tensor_table) {
  struct tf_model_config c = tf_test_tiny_config();
  int n = tf_model_n_tensors(&c);
  struct tf_tensor *t = calloc((size_t)n, sizeof *t);
  uint64_t g[TF_NGROUPS], from_table[TF_NGROUPS] = {0};
  tf_model_tensor_table(&c, t);
  tf_param_count_by_group(&c, g);
  for (int i = 0; i < n; i++) {
    int group = t[i].slot >= 0 ? TF_GROUP_QKV + (int)tf_slot_kind((enum tf_slot)t[i].slot)
                : t[i].decay   ? TF_GROUP_EMBED
                               : TF_GROUP_NORM;
    from_table[group] += t[i].numel;
  }
  for (int i = 0; i < TF_NGROUPS; i++) ck_assert_uint_eq(g[i], from_table[i]);
  free(t);
}
END_TEST

START_TEST(elements_format_exactly) {
  char buf[40];
  uint64_t u = UINT64_MAX;
  int64_t s = -9007199254740993LL; /* 2^53 + 1: not a double */
  uint16_t half[] = {0x3c00, 0xc000, 0x0001, 0x7c00}, bf[] = {0x3f80, 0xc040};
  float f = 0.1f;
  ck_assert_str_eq(tf_dtype_format(TF_U64, &u, 0, buf, sizeof buf), "18446744073709551615");
  ck_assert_str_eq(tf_dtype_format(TF_I64, &s, 0, buf, sizeof buf), "-9007199254740993");
  ck_assert_float_eq((float)strtod(tf_dtype_format(TF_F32, &f, 0, buf, sizeof buf), NULL), f);
  ck_assert_double_eq(tf_dtype_get(TF_F16, half, 0), 1.0);
  ck_assert_double_eq(tf_dtype_get(TF_F16, half, 1), -2.0);
  ck_assert_double_eq(tf_dtype_get(TF_F16, half, 2), ldexp(1, -24)); /* smallest subnormal */
  ck_assert(isinf(tf_dtype_get(TF_F16, half, 3)));
  ck_assert_double_eq(tf_dtype_get(TF_BF16, bf, 1), -3.0);
  int64_t shape[] = {3, 4};
  ck_assert_str_eq(tf_shape_format(2, shape, buf, sizeof buf), "[3, 4]");
  ck_assert_str_eq(tf_shape_format(0, shape, buf, sizeof buf), "[]");
}
END_TEST

/* 300,001 elements span three read chunks, so the chunk-wise merge is exercised. The values
 * are 1e6 +- 1 (exact in F32) with one NaN: the mean and std are known in closed form, and a
 * naive E[x^2] - E[x]^2 would lose the std of about 1 against 1e12 (error ~1e-4). */
#define N_BIG 300001
START_TEST(stats_stream_across_chunks_without_cancellation) {
  float *v = malloc(N_BIG * sizeof *v), few[5] = {0, -0.0f, 1, 0, 2};
  double sum = 0, sq = 0, n = N_BIG - 1;
  for (size_t i = 0; i < N_BIG; i++) {
    v[i] = i == 12345 ? NAN : i % 2 ? 1e6f + 1 : 1e6f - 1;
    if (!isnan(v[i])) sum += v[i], sq += (double)v[i] * v[i];
  }
  double mean = sum / n, var = 0;
  for (size_t i = 0; i < N_BIG; i++)
    if (!isnan(v[i])) var += (v[i] - mean) * (v[i] - mean);
  int64_t step = 42;
  struct tf_ckpt_entry e[] = {entry("big", TF_F32, N_BIG, 0, v), entry("few", TF_F32, 5, 0, few),
                              entry("train.step", TF_I64, 0, 0, &step)};
  write_file("s.tfz", e, 3);
  struct tf_ckpt_reader *r = open_file("s.tfz");
  const struct tf_st_header *h = tf_ckpt_header(r);
  struct tf_tensor_stats s;
  struct tf_error err = {0};
  ck_assert_str_eq(h->tensors[0].name, "train.step"); /* 8-byte dtypes come first */
  ck_assert_int_eq(tf_inspect_stats(r, &h->tensors[0], &s, NULL, NULL, &err), TF_OK);
  ck_assert_double_eq(s.mean, 42);
  ck_assert_double_eq(s.std, 0);
  ck_assert_int_eq(tf_inspect_stats(r, &h->tensors[1], &s, NULL, NULL, &err), TF_OK);
  ck_assert_uint_eq(s.numel, N_BIG);
  ck_assert_uint_eq(s.nans, 1);
  ck_assert_uint_eq(s.zeros, 0);
  /* double accumulation of 3e5 terms: relative errors far below these tolerances */
  ck_assert_double_eq_tol(s.mean, mean, 1e-12 * mean);
  ck_assert_double_eq_tol(s.std, sqrt(var / n), 1e-9);
  ck_assert_double_eq(s.min, 1e6 - 1);
  ck_assert_double_eq(s.max, 1e6 + 1);
  ck_assert_double_eq_tol(s.l2, sqrt(sq), 1e-12 * sqrt(sq));
  ck_assert_int_eq(tf_inspect_stats(r, &h->tensors[2], &s, NULL, NULL, &err), TF_OK);
  ck_assert_uint_eq(s.zeros, 3); /* -0 counts */
  ck_assert_double_eq_tol(s.mean, 0.6, 1e-15);
  ck_assert_int_eq(tf_ckpt_finish(r, &err), TF_OK);
  tf_ckpt_close(r);
  free(v);
}
END_TEST

static int count_chunk(void *ctx, const void *data, size_t n, struct tf_error *err) {
  (void)data;
  (void)err;
  *(uint64_t *)ctx += n;
  return n > (1 << 17) ? TF_EDATA : TF_OK; /* chunks stay bounded */
}

START_TEST(read_tensor_delivers_every_element_in_bounded_chunks) {
  float *v = calloc(N_BIG, sizeof *v);
  struct tf_ckpt_entry e[] = {entry("big", TF_F32, N_BIG, 0, v)};
  write_file("c.safetensors", e, 1);
  struct tf_ckpt_reader *r = open_file("c.safetensors");
  uint64_t seen = 0;
  ck_assert_int_eq(
      tf_inspect_read_tensor(r, &tf_ckpt_header(r)->tensors[0], count_chunk, &seen, NULL), TF_OK);
  ck_assert_uint_eq(seen, N_BIG);
  tf_ckpt_close(r);
  free(v);
}
END_TEST

/* Writes the model of config c plus extra entries (n_extra), with the model's metadata. */
static void write_model(const char *name, const struct tf_model_config *c,
                        const struct tf_ckpt_entry *extra, size_t n_extra, int drop_last) {
  struct tf_model m;
  struct tf_error err = {0};
  ck_assert_int_eq(tf_model_create(&m, c, &err), TF_OK);
  size_t n = (size_t)m.n_tensors - (size_t)drop_last;
  struct tf_ckpt_entry *e = calloc(n + n_extra, sizeof *e);
  for (size_t i = 0; i < n; i++)
    e[i] = entry(m.tensors[i].name, TF_F32, m.tensors[i].rows, m.tensors[i].cols,
                 m.params + m.tensors[i].offset);
  if (n_extra) memcpy(e + n, extra, n_extra * sizeof *e);
  char *config = tf_model_config_to_json(&m.cfg);
  const char *meta[] = {"format", "tokenformer", "format_version", "1",
                        "config", config,        "history",        "[]"};
  int rc = tf_ckpt_write(path_of(name), e, n + n_extra, meta, 4, TF_COMPRESS_FAST, &err);
  ck_assert_msg(rc == TF_OK, "%s", err.msg);
  free(config);
  free(e);
  tf_model_free(&m);
}

static int check_file(const char *name, struct tf_error *err) {
  struct tf_ckpt_reader *r = open_file(name);
  int rc = tf_model_check_header(tf_ckpt_header(r), NULL, err);
  tf_ckpt_close(r);
  return rc;
}

/* tf-inspect --verify checks headers with the model's own tf_model_check_header. */
START_TEST(check_names_stray_missing_partial_and_misshapen_tensors) {
  struct tf_model_config c = tf_test_tiny_config();
  struct tf_error err = {0};
  float moment[16] = {0}, odd[3] = {0};
  int64_t step = 7;
  write_model("ok.tfz", &c, NULL, 0, 0);
  ck_assert_int_eq(check_file("ok.tfz", &err), TF_OK);

  struct tf_ckpt_entry partial[] = {entry("optim.m.final_norm.bias", TF_F32, 16, 0, moment),
                                    entry("train.step", TF_I64, 0, 0, &step)};
  write_model("p.tfz", &c, partial, 2, 0);
  ck_assert_int_eq(check_file("p.tfz", &err), TF_EDATA);
  ck_assert_msg(strstr(err.msg, "incomplete training state"), "%s", err.msg);

  struct tf_ckpt_entry stray[] = {entry("extra", TF_F32, 3, 0, odd)};
  write_model("x.tfz", &c, stray, 1, 0);
  ck_assert_int_eq(check_file("x.tfz", &err), TF_EDATA);
  ck_assert_msg(strstr(err.msg, "extra: not part of this model"), "%s", err.msg);

  write_model("d.tfz", &c, NULL, 0, 1); /* final_norm.bias left out */
  ck_assert_int_eq(check_file("d.tfz", &err), TF_EDATA);
  ck_assert_msg(strstr(err.msg, "final_norm.bias: missing"), "%s", err.msg);

  struct tf_ckpt_entry bias[] = {entry("final_norm.bias", TF_F32, 3, 0, odd)};
  write_model("s.tfz", &c, bias, 1, 1); /* final_norm.bias of 3 instead of 16 */
  ck_assert_int_eq(check_file("s.tfz", &err), TF_EDATA);
  ck_assert_msg(strstr(err.msg, "final_norm.bias: shape [3], config says [16]"), "%s", err.msg);
}
END_TEST

/* tf-inspect --verify (tf_model_verify) refuses what loading refuses, naming the file, and
 * passes what loading takes. */
START_TEST(verify_agrees_with_load) {
  struct tf_model_config c = tf_test_tiny_config();
  float nan16[16] = {0};
  nan16[5] = NAN;
  struct tf_ckpt_entry bias[] = {entry("final_norm.bias", TF_F32, 16, 0, nan16)};
  write_model("ok.tfz", &c, NULL, 0, 0);
  write_model("nan.tfz", &c, bias, 1, 1); /* final_norm.bias holds a NaN */
  write_model("d.tfz", &c, NULL, 0, 1);   /* final_norm.bias left out */
  const char *names[] = {"ok.tfz", "nan.tfz", "d.tfz"}, *why[] = {"", "final_norm.bias", "missing"};
  for (int i = 0; i < 3; i++) {
    char path[4200];
    snprintf(path, sizeof path, "%s", path_of(names[i]));
    struct tf_error ev = {0}, el = {0};
    struct tf_model m;
    int rv = tf_model_verify(path, &ev), rl = tf_model_load(&m, path, &el);
    ck_assert_int_eq(rv, i ? TF_EDATA : TF_OK);
    ck_assert_int_eq(rl, rv);
    if (!rl) tf_model_free(&m);
    if (!rv) continue;
    ck_assert_msg(strncmp(ev.msg, path, strlen(path)) == 0 && strstr(ev.msg, why[i]), "%s", ev.msg);
  }
}
END_TEST

static const struct tf_tensor_diff *find_diff(const struct tf_tensor_diff *d, size_t n,
                                              const char *name) {
  for (size_t i = 0; i < n; i++)
    if (strcmp((d[i].a ? d[i].a : d[i].b)->name, name) == 0) return &d[i];
  ck_abort_msg("no diff entry for %s", name);
  return NULL;
}

/* A: w [2, 3], v [4], s I64, z F32 [2], gone [1]. B: w grown to [4, 3] keeping its rows,
 * v with one element moved by 0.5, s equal, z as F64 (sorts elsewhere), new [1]. */
START_TEST(diff_classifies_growth_changes_and_absences) {
  float wa[6] = {1, 2, 3, 4, 5, 6}, wb[12] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
  float va[4] = {0, 1, 2, 3}, vb[4] = {0, 1, 2.5f, 3}, one[1] = {1}, z[2] = {0};
  double z64[2] = {0};
  int64_t s = 5;
  struct tf_ckpt_entry a[] = {entry("w", TF_F32, 2, 3, wa), entry("v", TF_F32, 4, 0, va),
                              entry("s", TF_I64, 0, 0, &s), entry("z", TF_F32, 2, 0, z),
                              entry("gone", TF_F32, 1, 0, one)};
  struct tf_ckpt_entry b[] = {entry("w", TF_F32, 4, 3, wb), entry("v", TF_F32, 4, 0, vb),
                              entry("s", TF_I64, 0, 0, &s), entry("z", TF_F64, 2, 0, z64),
                              entry("new", TF_F32, 1, 0, one)};
  write_file("a.tfz", a, 5);
  write_file("b.safetensors", b, 5);
  struct tf_ckpt_reader *ra = open_file("a.tfz"), *rb = open_file("b.safetensors");
  struct tf_tensor_diff *d;
  size_t n;
  struct tf_error err = {0};
  ck_assert_int_eq(tf_inspect_diff(ra, "a", rb, "b", &d, &n, &err), TF_OK);
  ck_assert_uint_eq(n, 6);
  const struct tf_tensor_diff *w = find_diff(d, n, "w"), *v = find_diff(d, n, "v");
  ck_assert_int_eq(w->status, TF_DIFF_RESIZED);
  ck_assert_uint_eq(w->compared, 6);
  ck_assert_uint_eq(w->n_changed, 0); /* old rows unchanged */
  ck_assert_int_eq(v->status, TF_DIFF_CHANGED);
  ck_assert_uint_eq(v->n_changed, 1);
  ck_assert_double_eq(v->max_abs, 0.5);
  ck_assert_int_eq(find_diff(d, n, "s")->status, TF_DIFF_SAME);
  ck_assert_int_eq(find_diff(d, n, "z")->status, TF_DIFF_INCOMPARABLE);
  ck_assert_ptr_nonnull(find_diff(d, n, "z")->b);
  ck_assert_int_eq(find_diff(d, n, "gone")->status, TF_DIFF_ONLY_A);
  ck_assert_int_eq(find_diff(d, n, "new")->status, TF_DIFF_ONLY_B);
  free(d);
  tf_ckpt_close(ra);
  tf_ckpt_close(rb);
}
END_TEST

START_TEST(diff_of_a_file_with_itself_is_all_same) {
  struct tf_model_config c = tf_test_tiny_config();
  write_model("m.tfz", &c, NULL, 0, 0);
  struct tf_ckpt_reader *ra = open_file("m.tfz"), *rb = open_file("m.tfz");
  struct tf_tensor_diff *d;
  size_t n;
  ck_assert_int_eq(tf_inspect_diff(ra, "a", rb, "b", &d, &n, NULL), TF_OK);
  ck_assert_uint_eq(n, (size_t)tf_model_n_tensors(&c));
  for (size_t i = 0; i < n; i++) ck_assert_int_eq(d[i].status, TF_DIFF_SAME);
  free(d);
  tf_ckpt_close(ra);
  tf_ckpt_close(rb);
}
END_TEST

int main(void) {
  Suite *s = suite_create("inspect");
  TCase *t = tcase_create("core");
  tcase_add_checked_fixture(t, setup, teardown);
  tcase_add_test(t, groups_sum_to_the_150m_count);
  tcase_add_test(t, groups_match_the_tensor_table);
  tcase_add_test(t, elements_format_exactly);
  tcase_add_test(t, stats_stream_across_chunks_without_cancellation);
  tcase_add_test(t, read_tensor_delivers_every_element_in_bounded_chunks);
  tcase_add_test(t, check_names_stray_missing_partial_and_misshapen_tensors);
  tcase_add_test(t, verify_agrees_with_load);
  tcase_add_test(t, diff_classifies_growth_changes_and_absences);
  tcase_add_test(t, diff_of_a_file_with_itself_is_all_same);
  suite_add_tcase(s, t);
  return tf_test_run(s);
}
