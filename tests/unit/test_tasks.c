/* test_tasks.c: zero-shot task scoring against the PyTorch reference (tests/reference/
 * tasks_ref.py, float64): for every task file of tests/fixtures/tasks, the ids of every
 * request, its log-likelihood (within 1e-4 relative) and greediness, each example's choices
 * and the task's figures, on the byte model tasks_bytes.tfz and on tasks_bpe.tfz with the
 * GPT-NeoX-20B tokenizer (ids given by the Hugging Face tokenizers library). */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "suite.h"
#include "tokenformer.h"
#include "net.h"

static const char *fixtures_dir(void) {
  const char *d = getenv("TF_FIXTURES");
  return d ? d : "tests/fixtures";
}

/* The two fixture cases: a byte model, and a model given the BPE tokenizer. */
enum { CASE_BYTES, CASE_BPE };
static const char *const case_names[] = {"tasks_bytes", "tasks_bpe"};

static json_t *reference(int c) {
  char path[1024];
  snprintf(path, sizeof path, "%s/%s.json", fixtures_dir(), case_names[c]);
  json_error_t je;
  json_t *j = json_load_file(path, 0, &je);
  ck_assert_msg(j != NULL, "%s: %s", path, je.text);
  return j;
}

static void load_model(struct tf_model *m, int c) {
  char path[1024];
  struct tf_error err = {0};
  snprintf(path, sizeof path, "%s/%s.tfz", fixtures_dir(), case_names[c]);
  ck_assert_msg(tf_model_load_weights(m, path, &err) == TF_OK, "%s", err.msg);
  if (c != CASE_BPE) return;
  struct tf_tokenizer *t;
  snprintf(path, sizeof path, "%s/../../data/gpt-neox-20b-tokenizer.json", fixtures_dir());
  ck_assert_msg(tf_tokenizer_load(&t, path, &err) == TF_OK, "%s", err.msg);
  ck_assert_msg(tf_model_set_tokenizer(m, t, &err) == TF_OK, "%s", err.msg);
  tf_tokenizer_free(t);
}

static void load_task(struct tf_task_set *s, enum tf_task_kind k, const struct tf_model *m,
                      long limit) {
  char path[1024];
  struct tf_error err = {0};
  snprintf(path, sizeof path, "%s/tasks/%s.jsonl", fixtures_dir(), tf_task_name(k));
  ck_assert_msg(tf_task_load(s, k, path, limit, m->tok, m->cfg.seq_len, &err) == TF_OK, "%s",
                err.msg);
}

/* The shared-prefix path (default), or with whole every request through tf_net_forward. */
static void score(struct tf_task_set *s, const struct tf_model *m, int B, int whole) {
  struct tf_acts acts;
  struct tf_error err = {0};
  s->whole = whole;
  if (whole) ck_assert_int_eq(tf_acts_init(&acts, &m->cfg, B, s->max_input, &err), TF_OK);
  ck_assert_msg(tf_task_score(s, m, whole ? &acts : NULL, B, &err) == TF_OK, "%s", err.msg);
  if (whole) tf_acts_release(&acts);
}

static void check_ids(const int32_t *ids, json_t *want, const char *what, int e, int i) {
  for (size_t k = 0; k < json_array_size(want); k++)
    ck_assert_msg(ids[k] == json_integer_value(json_array_get(want, k)),
                  "example %d choice %d: %s id %zu is %d, want %lld", e, i, what, k, ids[k],
                  (long long)json_integer_value(json_array_get(want, k)));
}

/* One request against the reference's: the ids of the split, ll and greediness. */
static void check_request(const struct tf_task_set *s, const struct tf_task_request *r,
                          json_t *want, int e, int i) {
  json_t *ctx = json_object_get(want, "ctx"), *cont = json_object_get(want, "cont");
  ck_assert_int_eq(r->n_ctx, (int)json_array_size(ctx));
  ck_assert_int_eq(r->n_cont, (int)json_array_size(cont));
  check_ids(s->pool.v + r->ids, ctx, "context", e, i);
  check_ids(s->pool.v + r->ids + r->n_ctx, cont, "continuation", e, i);
  double ll = json_real_value(json_object_get(want, "ll"));
  ck_assert_msg(fabs(r->ll - ll) <= 1e-4 * fabs(ll), "example %d choice %d: ll %.9g, want %.9g", e,
                i, r->ll, ll);
  ck_assert_int_eq(r->greedy, json_is_true(json_object_get(want, "greedy")));
}

static void check_metric(double got, json_t *want, double rel, const char *name) {
  if (!want) {
    ck_assert_msg(isnan(got), "%s is %g, the task does not report it", name, got);
    return;
  }
  double w = json_is_null(want) ? NAN : json_number_value(want);
  if (isnan(w)) {
    ck_assert_msg(isnan(got), "%s is %g, want N/A", name, got);
    return;
  }
  ck_assert_msg(fabs(got - w) <= rel * fabs(w) + 1e-12, "%s is %.12g, want %.12g", name, got, w);
}

static void check_task(int c, enum tf_task_kind k, int B, int whole) {
  json_t *ref = reference(c);
  json_t *task = json_object_get(json_object_get(ref, "tasks"), tf_task_name(k));
  json_t *examples = json_object_get(task, "examples");
  struct tf_model m;
  struct tf_task_set s;
  load_model(&m, c);
  load_task(&s, k, &m, 0);
  ck_assert_int_eq(s.n_examples, (int)json_array_size(examples));
  score(&s, &m, B, whole);
  for (int e = 0; e < s.n_examples; e++) {
    json_t *x = json_array_get(examples, (size_t)e), *reqs = json_object_get(x, "requests");
    const struct tf_task_example *ex = &s.ex[e];
    ck_assert_int_eq(ex->line, json_integer_value(json_object_get(x, "line")));
    ck_assert_int_eq(ex->n_choices, (int)json_array_size(reqs));
    ck_assert_int_eq(ex->gold, json_integer_value(json_object_get(x, "gold")));
    for (int i = 0; i < ex->n_choices; i++) {
      check_request(&s, &s.req[ex->first + i], json_array_get(reqs, (size_t)i), e, i);
      double len = (double)json_integer_value(json_array_get(json_object_get(x, "choice_len"), i));
      if (k != TF_TASK_LAMBADA) ck_assert(s.choice_len[ex->first + i] == len);
    }
    ck_assert_int_eq(ex->pred, json_integer_value(json_object_get(x, "chosen")));
    if (k != TF_TASK_LAMBADA && k != TF_TASK_WINOGRANDE)
      ck_assert_int_eq(ex->pred_norm, json_integer_value(json_object_get(x, "chosen_norm")));
  }
  struct tf_task_metrics mt;
  json_t *want = json_object_get(task, "metrics");
  tf_task_metrics(&s, &mt);
  ck_assert_int_eq(mt.n, json_integer_value(json_object_get(want, "n")));
  check_metric(mt.acc, json_object_get(want, "acc"), 1e-12, "acc");
  check_metric(mt.acc_stderr, json_object_get(want, "acc_stderr"), 1e-9, "acc_stderr");
  check_metric(mt.acc_norm, json_object_get(want, "acc_norm"), 1e-12, "acc_norm");
  check_metric(mt.acc_norm_stderr, json_object_get(want, "acc_norm_stderr"), 1e-9,
               "acc_norm_stderr");
  check_metric(mt.perplexity, json_object_get(want, "perplexity"), 1e-4, "perplexity");
  check_metric(mt.perplexity_stderr, json_object_get(want, "perplexity_stderr"), 1e-3,
               "perplexity_stderr");
  tf_task_free(&s);
  tf_model_free(&m);
  json_decref(ref);
}

/* Passes of 3 requests' rows and of 1 (examples split across passes) give the reference's
 * figures, as do whole requests in padded batches of 3. */
START_TEST(tasks_match_pytorch) {
  check_task(CASE_BYTES, (enum tf_task_kind)_i, 3, 0);
}
END_TEST

START_TEST(tasks_match_pytorch_one_at_a_time) {
  check_task(CASE_BYTES, (enum tf_task_kind)_i, 1, 0);
}
END_TEST

START_TEST(whole_requests_match_pytorch) {
  check_task(CASE_BYTES, (enum tf_task_kind)_i, 3, 1);
}
END_TEST

/* The same in BPE tokens: the harness's split of encode(context + continuation). */
START_TEST(bpe_tasks_match_pytorch) {
  check_task(CASE_BPE, (enum tf_task_kind)_i, 4, 0);
}
END_TEST

START_TEST(bpe_whole_requests_match_pytorch) {
  check_task(CASE_BPE, (enum tf_task_kind)_i, 4, 1);
}
END_TEST

/* --limit: the first N examples, nothing read after them. */
START_TEST(limit_takes_the_first_examples) {
  struct tf_model m;
  struct tf_task_set all, some;
  load_model(&m, CASE_BYTES);
  load_task(&all, TF_TASK_HELLASWAG, &m, 0);
  load_task(&some, TF_TASK_HELLASWAG, &m, 5);
  ck_assert_int_eq(some.n_examples, 5);
  ck_assert_int_eq(some.n_requests, all.ex[5].first);
  ck_assert_int_eq(some.ex[4].line, all.ex[4].line);
  tf_task_free(&all);
  tf_task_free(&some);
  tf_model_free(&m);
}
END_TEST

START_TEST(task_names) {
  enum tf_task_kind k;
  struct tf_error err = {0};
  for (int i = 0; i < TF_NTASKS; i++) {
    ck_assert_int_eq(tf_task_from_name(tf_task_name((enum tf_task_kind)i), &k, &err), TF_OK);
    ck_assert_int_eq(k, i);
  }
  ck_assert_int_eq(tf_task_from_name("lambada", &k, &err), TF_EUSAGE);
  ck_assert_ptr_nonnull(strstr(err.msg, "winogrande"));
}
END_TEST

int main(void) {
  Suite *s = suite_create("tasks");
  TCase *tc = tcase_create("pytorch");
  tcase_add_loop_test(tc, tasks_match_pytorch, 0, TF_NTASKS);
  tcase_add_loop_test(tc, tasks_match_pytorch_one_at_a_time, 0, TF_NTASKS);
  tcase_add_loop_test(tc, whole_requests_match_pytorch, 0, TF_NTASKS);
  tcase_add_loop_test(tc, bpe_tasks_match_pytorch, 0, TF_NTASKS);
  tcase_add_loop_test(tc, bpe_whole_requests_match_pytorch, 0, TF_NTASKS);
  tcase_add_test(tc, limit_takes_the_first_examples);
  tcase_add_test(tc, task_names);
  suite_add_tcase(s, tc);
  return tf_test_run(s);
}
