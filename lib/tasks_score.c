/* tasks_score.c: the log-likelihood of each request's continuation under a model, batched,
 * and the harness's figures: acc, acc_norm, their standard errors, lambada's perplexity. */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tasks_internal.h"
#include "net.h"

int tf_task_input(const struct tf_task_set *s, const struct tf_task_request *r, int seq_len,
                  const int32_t **in) {
  int total = r->n_ctx + r->n_cont, keep = total < seq_len + 1 ? total : seq_len + 1;
  *in = s->pool.v + r->ids + (total - keep);
  return keep - 1;
}

static int input_len(const struct tf_task_set *s, const struct tf_task_request *r, int S) {
  const int32_t *in;
  return tf_task_input(s, r, S, &in);
}

/* Requests ordered by input length, longest first, so that one batch pads little; equal
 * requests (same ids, same split) next to each other, then file order. qsort's context is
 * this file-level pointer during tf_task_score only. */
static const struct tf_task_set *sort_set;
static int sort_S;

static int same_ids(const struct tf_task_set *s, int a, int b) {
  const struct tf_task_request *ra = &s->req[a], *rb = &s->req[b];
  if (ra->n_ctx != rb->n_ctx) return ra->n_ctx - rb->n_ctx;
  if (ra->n_cont != rb->n_cont) return ra->n_cont - rb->n_cont;
  return memcmp(s->pool.v + ra->ids, s->pool.v + rb->ids,
                (size_t)(ra->n_ctx + ra->n_cont) * sizeof *s->pool.v);
}

static int by_length(const void *pa, const void *pb) {
  int a = *(const int *)pa, b = *(const int *)pb, c;
  int la = input_len(sort_set, &sort_set->req[a], sort_S),
      lb = input_len(sort_set, &sort_set->req[b], sort_S);
  if (la != lb) return lb - la;
  if ((c = same_ids(sort_set, a, b))) return c;
  return a - b;
}

/* Fills row b of a batch of width T with request r's input and targets; the padding after
 * it (targets too) is id 0: causal attention keeps it from the positions scored. */
static void fill_row(const struct tf_task_set *s, const struct tf_task_request *r, int S, int T,
                     int32_t *in, int32_t *tg) {
  const int32_t *ids;
  int n = tf_task_input(s, r, S, &ids);
  for (int t = 0; t < T; t++) {
    in[t] = t < n ? ids[t] : 0;
    tg[t] = t < n ? ids[t + 1] : 0;
  }
}

/* Sum of the continuation's log-probabilities (-loss at its positions, in double) and
 * whether each of its tokens was the argmax of its position's logits; r is row b of width T. */
static void read_row(const struct tf_task_set *s, const struct tf_acts *a,
                     struct tf_task_request *r, int S, int b, int T, int V) {
  int n = input_len(s, r, S);
  double ll = 0;
  int greedy = 1;
  for (int t = n - r->n_cont; t < n; t++) {
    size_t row = (size_t)b * T + t;
    ll -= a->losses[row];
    if (tf_sample_argmax(a->logits + row * V, V) != a->targets[row]) greedy = 0;
  }
  r->ll = ll;
  r->greedy = greedy;
}

/* np.argmax of x / len: NaN wins (the first one), else the first maximum. */
static int argmax(const struct tf_task_set *s, const struct tf_task_example *x, int norm) {
  int best = 0;
  double bv = -INFINITY;
  for (int i = 0; i < x->n_choices; i++) {
    double v = s->req[x->first + i].ll;
    if (norm) v /= s->choice_len[x->first + i];
    if (isnan(v)) return i;
    if (i == 0 || v > bv) best = i, bv = v;
  }
  return best;
}

/* Batches of up to B requests of the same padded width (the longest input among them). */
static void score_batches(struct tf_task_set *s, const struct tf_model *m, struct tf_acts *acts,
                          int B, const int *order, int n, int32_t *in, int32_t *tg) {
  int S = m->cfg.seq_len, V = m->cfg.vocab_size;
  for (int i = 0; i < n;) {
    int T = input_len(s, &s->req[order[i]], S), b = 0;
    for (; b < B && i + b < n; b++)
      fill_row(s, &s->req[order[i + b]], S, T, in + (size_t)b * T, tg + (size_t)b * T);
    tf_net_forward(m, acts, in, tg, b, T);
    for (int k = 0; k < b; k++) read_row(s, acts, &s->req[order[i + k]], S, k, T, V);
    i += b;
    if (s->on_batch) s->on_batch(s->on_batch_ctx, i, n);
  }
}

/* Scores the requests with a continuation, each distinct one once (equal requests, such as
 * a choice repeated, get the same bits, so that ties break by index as in exact arithmetic). */
static int score_distinct(struct tf_task_set *s, const struct tf_model *m, struct tf_acts *acts,
                          int B, struct tf_error *err) {
  int n = 0, u = 0, width = s->max_input > 0 ? s->max_input : 1;
  int *order = malloc((size_t)(s->n_requests > 0 ? s->n_requests : 1) * 2 * sizeof *order);
  int32_t *in = malloc((size_t)B * width * 2 * sizeof *in);
  if (!order || !in) {
    free(order);
    free(in);
    return tf_error_set(err, TF_ENOMEM, "out of memory for %d requests", s->n_requests);
  }
  int *uniq = order + s->n_requests;
  for (int i = 0; i < s->n_requests; i++)
    if (s->req[i].n_cont > 0) order[n++] = i;
  sort_set = s;
  sort_S = m->cfg.seq_len;
  qsort(order, (size_t)n, sizeof *order, by_length);
  for (int i = 0; i < n; i++)
    if (i == 0 || same_ids(s, order[i - 1], order[i])) uniq[u++] = order[i];
  score_batches(s, m, acts, B, uniq, u, in, in + (size_t)B * width);
  for (int i = 1; i < n; i++)
    if (!same_ids(s, order[i - 1], order[i])) {
      s->req[order[i]].ll = s->req[order[i - 1]].ll;
      s->req[order[i]].greedy = s->req[order[i - 1]].greedy;
    }
  free(order);
  free(in);
  return TF_OK;
}

int tf_task_score(struct tf_task_set *s, const struct tf_model *m, struct tf_acts *acts, int B,
                  struct tf_error *err) {
  if (s->whole && !acts) return tf_error_set(err, TF_EUSAGE, "whole requests need activations");
  if (s->whole && B > acts->B) B = acts->B;
  if (s->whole && s->max_input > acts->T)
    return tf_error_set(err, TF_EUSAGE, "activations of length %d, the requests need %d", acts->T,
                        s->max_input);
  /* an empty continuation scores 0 and is greedy (an empty sum, an empty all()) */
  for (int i = 0; i < s->n_requests; i++) {
    s->req[i].ll = 0;
    s->req[i].greedy = 1;
  }
  int rc = s->whole ? score_distinct(s, m, acts, B, err) : tf_task_score_shared(s, m, B, err);
  for (int e = 0; !rc && e < s->n_examples; e++) {
    struct tf_task_example *x = &s->ex[e];
    for (int i = 0; i < x->n_choices; i++)
      if (!isfinite(s->req[x->first + i].ll))
        return tf_error_set(err, TF_EDATA, "line %lld: choice %d: the log-likelihood is %g",
                            (long long)x->line, i, s->req[x->first + i].ll);
    x->pred = argmax(s, x, 0);
    x->pred_norm = argmax(s, x, 1);
  }
  return rc;
}

/* Per-example figures the aggregates average. */
enum figure { FIG_ACC, FIG_ACC_NORM, FIG_GREEDY, FIG_LL };

static double figure(const struct tf_task_set *s, int e, enum figure f) {
  const struct tf_task_example *x = &s->ex[e];
  switch (f) {
  case FIG_ACC:
    return x->pred == x->gold;
  case FIG_ACC_NORM:
    return x->pred_norm == x->gold;
  case FIG_GREEDY:
    return s->req[x->first].greedy;
  default:
    return s->req[x->first].ll;
  }
}

/* The mean over examples and the harness's standard error of it: the sample standard
 * deviation (N - 1) / sqrt(N); NaN for N < 2. */
static void mean_se(const struct tf_task_set *s, enum figure f, double *mean, double *se) {
  int n = s->n_examples;
  double sum = 0, dev = 0;
  for (int e = 0; e < n; e++) sum += figure(s, e, f);
  *mean = sum / n;
  for (int e = 0; e < n; e++) dev += (figure(s, e, f) - *mean) * (figure(s, e, f) - *mean);
  *se = n < 2 ? NAN : sqrt(dev / (n - 1)) / sqrt((double)n);
}

static int has_acc_norm(enum tf_task_kind k) {
  return k != TF_TASK_LAMBADA && k != TF_TASK_WINOGRANDE;
}

void tf_task_metrics(const struct tf_task_set *s, struct tf_task_metrics *mt) {
  *mt = (struct tf_task_metrics){.n = s->n_examples,
                                 .acc = NAN,
                                 .acc_stderr = NAN,
                                 .acc_norm = NAN,
                                 .acc_norm_stderr = NAN,
                                 .perplexity = NAN,
                                 .perplexity_stderr = NAN};
  if (s->n_examples == 0) return;
  if (s->kind == TF_TASK_LAMBADA) {
    /* acc: the whole continuation greedy; perplexity = exp(-mean ll), its standard error
     * exp(-mean ll) * se(ll) (the delta method; the harness bootstraps it) */
    double mean, se;
    mean_se(s, FIG_GREEDY, &mt->acc, &mt->acc_stderr);
    mean_se(s, FIG_LL, &mean, &se);
    mt->perplexity = exp(-mean);
    mt->perplexity_stderr = mt->perplexity * se;
    return;
  }
  mean_se(s, FIG_ACC, &mt->acc, &mt->acc_stderr);
  if (has_acc_norm(s->kind)) mean_se(s, FIG_ACC_NORM, &mt->acc_norm, &mt->acc_norm_stderr);
}

/* One example's JSON object. */
static json_t *example_json(const struct tf_task_set *s, int e) {
  const struct tf_task_example *x = &s->ex[e];
  json_t *o = json_object(), *ll = json_array(), *gr = json_array();
  for (int i = 0; i < x->n_choices; i++) {
    json_array_append_new(ll, json_real(s->req[x->first + i].ll));
    json_array_append_new(gr, json_boolean(s->req[x->first + i].greedy));
  }
  json_object_set_new(o, "index", json_integer(e));
  json_object_set_new(o, "line", json_integer(x->line));
  json_object_set_new(o, "loglikelihoods", ll);
  json_object_set_new(o, "is_greedy", gr);
  if (s->kind != TF_TASK_LAMBADA) {
    json_object_set_new(o, "chosen", json_integer(x->pred));
    if (has_acc_norm(s->kind)) json_object_set_new(o, "chosen_norm", json_integer(x->pred_norm));
    json_object_set_new(o, "gold", json_integer(x->gold));
  }
  return o;
}

int tf_task_write_examples(const struct tf_task_set *s, FILE *f, struct tf_error *err) {
  for (int e = 0; e < s->n_examples; e++) {
    json_t *o = example_json(s, e);
    int bad = !o || json_dumpf(o, f, JSON_COMPACT | JSON_PRESERVE_ORDER) || fputc('\n', f) == EOF;
    json_decref(o);
    if (bad || ferror(f)) return tf_error_set(err, TF_EIO, "write error at example %d", e);
  }
  return TF_OK;
}

int tf_task_save_examples(const struct tf_task_set *s, const char *path, struct tf_error *err) {
  size_t n = strlen(path);
  char *tmp = malloc(n + 16);
  if (!tmp) return tf_error_set(err, TF_ENOMEM, "out of memory");
  snprintf(tmp, n + 16, "%s.XXXXXX", path);
  int fd = mkstemp(tmp);
  mode_t mask = umask(0);
  umask(mask);
  if (fd >= 0) fchmod(fd, 0666 & ~mask); /* as fopen would have made it */
  FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
  if (!f) {
    int e = errno;
    if (fd >= 0) close(fd), unlink(tmp);
    free(tmp);
    return tf_error_set(err, TF_ECANTCREAT, "%s: cannot create: %s", path, strerror(e));
  }
  int rc = tf_task_write_examples(s, f, err);
  if (!rc && (fflush(f) || fsync(fileno(f))))
    rc = tf_error_set(err, TF_EIO, "%s: %s", path, strerror(errno));
  if (fclose(f) && !rc) rc = tf_error_set(err, TF_EIO, "%s: %s", path, strerror(errno));
  if (!rc && rename(tmp, path))
    rc =
        tf_error_set(err, TF_ECANTCREAT, "%s: cannot rename into place: %s", path, strerror(errno));
  if (rc) unlink(tmp), tf_error_name_file(err, path);
  free(tmp);
  return rc;
}
