/* test_tasks_share.c: the shared-prefix scoring of tf_task_score (lib/tasks_share.c over
 * lib/tree.c) against the whole-request path (s->whole, tf_net_forward) on the fixture models
 * (every norm, grown n_ref, RoPE on every channel, an odd seq_len; their weights drawn so that
 * every term matters) with random ids: contexts longer than seq_len (the harness's window:
 * choices of one context then start at different ids), a request exactly seq_len + 1 long,
 * a continuation of seq_len ids, empty continuations, equal choices, a continuation that is a
 * prefix of another, contexts sharing only a prefix (winogrande's form); passes of one
 * request's rows (examples split across passes), a few, and all; 1 and 2 threads. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "suite.h"
#include "tokenformer.h"
#include "net.h"

static const char *const cases[] = {"l2_norm_gelu", "gelu_l2_norm", "softmax",
                                    "grown",        "odd_seq",      "l2_norm_gelu_rope_full"};
#define N_CASES (int)(sizeof cases / sizeof cases[0])

/* Both paths are float32 and sum attention in different orders (the whole path in blocks):
 * measured below 1e-6 relative on these cases; the fixtures' bound against float64 is 1e-4. */
#define TOL 1e-5

static void load_case(struct tf_model *m, const char *name) {
  tf_test_load_fixture(m, name);
}

/* A hand-built task set: examples of requests (n_ctx, n_cont) over ids drawn in a pool. */
struct builder {
  struct tf_task_set s;
  int cap_ex, cap_req, S;
  uint64_t seed;
};

static void add_ids(struct builder *b, const int32_t *ids, int n) {
  struct tf_ids *p = &b->s.pool;
  if (p->n + n > p->cap) {
    p->cap = 2 * (p->n + n) + 64;
    p->v = realloc(p->v, p->cap * sizeof *p->v);
    ck_assert_ptr_nonnull(p->v);
  }
  memcpy(p->v + p->n, ids, (size_t)n * sizeof *ids);
  p->n += n;
}

static void begin_example(struct builder *b) {
  struct tf_task_set *s = &b->s;
  if (s->n_examples == b->cap_ex) {
    b->cap_ex = 2 * b->cap_ex + 8;
    s->ex = realloc(s->ex, (size_t)b->cap_ex * sizeof *s->ex);
    ck_assert_ptr_nonnull(s->ex);
  }
  s->ex[s->n_examples++] = (struct tf_task_example){.first = s->n_requests};
}

/* A request of ctx then cont (n_ctx >= 1) in the current example. */
static void add_request(struct builder *b, const int32_t *ctx, int n_ctx, const int32_t *cont,
                        int n_cont) {
  struct tf_task_set *s = &b->s;
  if (s->n_requests == b->cap_req) {
    b->cap_req = 2 * b->cap_req + 16;
    s->req = realloc(s->req, (size_t)b->cap_req * sizeof *s->req);
    s->choice_len = realloc(s->choice_len, (size_t)b->cap_req * sizeof *s->choice_len);
    ck_assert(s->req && s->choice_len);
  }
  s->req[s->n_requests] = (struct tf_task_request){s->pool.n, n_ctx, n_cont, 0, 0};
  s->choice_len[s->n_requests++] = 1 + n_cont;
  s->ex[s->n_examples - 1].n_choices++;
  add_ids(b, ctx, n_ctx);
  add_ids(b, cont, n_cont);
  int total = n_ctx + n_cont, input = (total < b->S + 1 ? total : b->S + 1) - 1;
  if (input > s->max_input) s->max_input = input;
}

/* n random ids of V. */
static int32_t *ids(struct builder *b, int n, int V) {
  static int32_t buf[8][512];
  static int k;
  int32_t *v = buf[k++ % 8];
  tf_test_random_tokens(v, n, V, b->seed++);
  return v;
}

/* Examples of every shape the trees meet, for seq_len S and vocabulary V. */
static void build(struct builder *b, int S, int V) {
  memset(b, 0, sizeof *b);
  b->S = S;
  b->seed = 7;
  int lens[][2] = {{3, 4}, {2 * S, 2}, {S, 1}, {5, S}, {1, 3}, {S + 3, 6}};
  for (size_t i = 0; i < sizeof lens / sizeof *lens; i++) {
    /* one context, four choices of different lengths (long contexts: different windows) */
    int n_ctx = lens[i][0];
    const int32_t *ctx = ids(b, n_ctx, V);
    begin_example(b);
    for (int c = 0; c < 4; c++) {
      int n = lens[i][1] - c > 0 ? lens[i][1] - c : 1;
      add_request(b, ctx, n_ctx, ids(b, n, V), n);
    }
  }
  /* equal choices, an empty continuation, one continuation a prefix of another */
  const int32_t *ctx = ids(b, 6, V), *cont = ids(b, 5, V), *other = ids(b, 3, V);
  begin_example(b);
  add_request(b, ctx, 6, cont, 5);
  add_request(b, ctx, 6, other, 3);
  add_request(b, ctx, 6, cont, 5);
  add_request(b, ctx, 6, cont, 0);
  add_request(b, ctx, 6, cont, 2);
  /* an example of empty continuations only, then one request alone */
  begin_example(b);
  add_request(b, ctx, 6, cont, 0);
  add_request(b, ctx, 4, cont, 0);
  begin_example(b);
  add_request(b, ctx, 6, cont, 3);
  /* winogrande's form: contexts that share only their first ids, one continuation */
  int32_t w1[8], w2[8];
  memcpy(w1, ids(b, 8, V), sizeof w1);
  memcpy(w2, w1, sizeof w2);
  w2[5] = (w1[5] + 1) % V, w2[7] = (w1[7] + 3) % V;
  cont = ids(b, 4, V);
  begin_example(b);
  add_request(b, w1, 8, cont, 4);
  add_request(b, w2, 7, cont, 4);
  /* many small examples, so that passes hold several trees */
  for (int e = 0; e < 12; e++) {
    int n_ctx = 2 + e % 5;
    ctx = ids(b, n_ctx, V);
    begin_example(b);
    for (int c = 0; c < 2 + e % 3; c++)
      add_request(b, ctx, n_ctx, ids(b, 1 + (e + c) % 4, V), 1 + (e + c) % 4);
  }
}

static void score(struct tf_task_set *s, const struct tf_model *m, int whole, int B) {
  struct tf_error err = {0};
  struct tf_acts acts;
  s->whole = whole;
  if (whole) ck_assert_int_eq(tf_acts_init(&acts, &m->cfg, B, s->max_input, &err), TF_OK);
  ck_assert_msg(tf_task_score(s, m, whole ? &acts : NULL, B, &err) == TF_OK, "%s", err.msg);
  if (whole) tf_acts_release(&acts);
}

/* The whole path's log-likelihoods and greediness, then the shared path's at each batch. */
START_TEST(shared_prefix_matches_whole_requests) {
  struct tf_model m;
  struct builder b;
  load_case(&m, cases[_i % N_CASES]);
  tf_set_threads(_i < N_CASES ? 1 : 2);
  build(&b, m.cfg.seq_len, m.cfg.vocab_size);
  struct tf_task_set *s = &b.s;
  score(s, &m, 1, 4);
  int n = s->n_requests;
  double *ll = malloc((size_t)n * sizeof *ll);
  int *greedy = malloc((size_t)n * sizeof *greedy);
  for (int i = 0; i < n; i++) ll[i] = s->req[i].ll, greedy[i] = s->req[i].greedy;
  int batches[] = {1, 3, 1000};
  double worst = 0;
  for (int k = 0; k < 3; k++) {
    score(s, &m, 0, batches[k]);
    for (int i = 0; i < n; i++) {
      const struct tf_task_request *r = &s->req[i];
      double e = fabs(r->ll - ll[i]) / (fabs(ll[i]) > 1e-30 ? fabs(ll[i]) : 1);
      worst = e > worst ? e : worst;
      ck_assert_msg(r->n_cont > 0 || (r->ll == 0 && r->greedy), "request %d: empty scored", i);
      ck_assert_msg(e <= TOL, "%s, batch %d, request %d: ll %.9g, whole %.9g", cases[_i % N_CASES],
                    batches[k], i, r->ll, ll[i]);
      ck_assert_msg(r->greedy == greedy[i], "%s, batch %d, request %d: greedy %d, whole %d",
                    cases[_i % N_CASES], batches[k], i, r->greedy, greedy[i]);
    }
    /* equal choices get equal bits, so that ties break by index */
    const struct tf_task_example *x = &s->ex[6];
    ck_assert(s->req[x->first].ll == s->req[x->first + 2].ll);
  }
  tf_set_threads(0);
  free(ll);
  free(greedy);
  tf_task_free(s);
  tf_model_free(&m);
}
END_TEST

int main(void) {
  Suite *s = suite_create("tasks_share");
  TCase *tc = tcase_create("whole");
  tcase_add_loop_test(tc, shared_prefix_matches_whole_requests, 0, 2 * N_CASES);
  suite_add_tcase(s, tc);
  return tf_test_run(s);
}
