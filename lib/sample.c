/* sample.c: the next token from a row of logits: greedy, temperature, top-k, top-p, drawn
 * from a seeded rng (definitions in tokenformer.h, the rng's in rng.h). No model here. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels.h"
#include "rng.h"

int tf_sampler_create(struct tf_sampler *s, int V, const struct tf_sample_config *cfg,
                      struct tf_error *err) {
  memset(s, 0, sizeof *s);
  if (V < 1) return tf_error_set(err, TF_EUSAGE, "sampler: %d candidate ids", V);
  if (!(cfg->temperature >= 0 && cfg->temperature <= 1e6))
    return tf_error_set(err, TF_EUSAGE, "temperature %g: expected a number in [0, 1e6]",
                        cfg->temperature);
  if (cfg->top_k < 0)
    return tf_error_set(err, TF_EUSAGE, "top-k %d: expected 0 (no limit) or more", cfg->top_k);
  if (!(cfg->top_p > 0 && cfg->top_p <= 1))
    return tf_error_set(err, TF_EUSAGE, "top-p %g: expected a number in (0, 1]", cfg->top_p);
  s->cfg = *cfg;
  s->V = V;
  s->rng = malloc(sizeof *s->rng);
  s->prob = malloc((size_t)V * sizeof *s->prob);
  s->order = malloc((size_t)V * sizeof *s->order);
  s->kept = malloc((size_t)V);
  if (!s->rng || !s->prob || !s->order || !s->kept) {
    tf_sampler_free(s);
    return tf_error_set(err, TF_ENOMEM, "sampler: out of memory for %d ids", V);
  }
  tf_rng_seed(s->rng, cfg->seed);
  return TF_OK;
}

void tf_sampler_free(struct tf_sampler *s) {
  free(s->rng);
  free(s->prob);
  free(s->order);
  free(s->kept);
  memset(s, 0, sizeof *s);
}

/* A logit that takes part: a number above -infinity. */
static int counts(float l) {
  return l > -INFINITY;
}

int32_t tf_sample_argmax(const float *logits, int n) {
  int32_t best = -1;
  for (int i = 0; i < n; i++)
    if (counts(logits[i]) && (best < 0 || logits[i] > logits[best])) best = i;
  return best;
}

/* p = softmax(l / T), the ids that do not count at 0; the sum in double. 0 when no id counts. */
static int probabilities(float *p, const float *l, int V, double T) {
  int32_t top = tf_sample_argmax(l, V);
  if (top < 0) return 0;
  double sum = 0, mx = l[top];
  for (int i = 0; i < V; i++) {
    p[i] = counts(l[i]) ? tf_exp_neg((float)((l[i] - mx) / T), 0.0f) : 0.0f;
    sum += p[i];
  }
  float k = (float)(1.0 / sum);
  for (int i = 0; i < V; i++) p[i] *= k;
  return 1;
}

/* The ranking of the selections, a strict order: a before b when p_a > p_b, or on equal
 * probability when a < b. */
static int before(const float *p, int32_t a, int32_t b) {
  return p[a] > p[b] || (p[a] == p[b] && a < b);
}

static int cmp_before(const void *a, const void *b, void *ctx) {
  int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
  return before(ctx, x, y) ? -1 : before(ctx, y, x);
}

/* Rearranges ids (n) so that ids[0 .. k) are the k first in `before` order (Hoare's FIND:
 * partitions around the middle element until position k - 1 holds the k-th). */
static void select_first(const float *p, int32_t *ids, int n, int k) {
  int lo = 0, hi = n - 1, want = k - 1;
  while (lo < hi) {
    int32_t pivot = ids[lo + (hi - lo) / 2];
    int i = lo, j = hi;
    while (i <= j) {
      while (before(p, ids[i], pivot)) i++;
      while (before(p, pivot, ids[j])) j--;
      if (i <= j) {
        int32_t t = ids[i];
        ids[i++] = ids[j];
        ids[j--] = t;
      }
    }
    if (want <= j)
      hi = j;
    else if (want >= i)
      lo = i;
    else
      break;
  }
}

/* The nucleus of ids (n): how many of the first ids, ranked, reach top_p of their
 * probability (the ids are left ranked). Ids below (1 - top_p) M / n, M their total, are
 * dropped unranked first: together they hold less than (1 - top_p) M, so the nucleus is
 * among the others, and only those are sorted. */
static int nucleus(const float *p, int32_t *ids, int n, double top_p) {
  double mass = 0, cum = 0;
  for (int i = 0; i < n; i++) mass += p[ids[i]];
  double floor = (1.0 - top_p) * mass / n;
  int m = 0;
  for (int i = 0; i < n; i++)
    if (p[ids[i]] >= floor) ids[m++] = ids[i];
  qsort_r(ids, (size_t)m, sizeof *ids, cmp_before, (void *)p);
  for (int i = 0; i < m; i++) {
    cum += p[ids[i]];
    if (cum >= top_p * mass) return i + 1;
  }
  return m; /* float rounding kept the sum just below: all of them */
}

/* Draws among the kept ids (ids (n); n == V: all) in ascending id order: the first whose
 * cumulative probability exceeds u times the kept total. */
static int32_t draw(struct tf_sampler *s, const int32_t *ids, int n) {
  const float *p = s->prob;
  memset(s->kept, n == s->V, (size_t)s->V);
  for (int i = 0; n < s->V && i < n; i++) s->kept[ids[i]] = 1;
  double total = 0, cum = 0;
  for (int i = 0; i < s->V; i++) total += s->kept[i] ? p[i] : 0.0;
  double u = tf_rng_uniform(s->rng) * total;
  int32_t last = -1;
  for (int i = 0; i < s->V; i++) {
    if (!s->kept[i] || p[i] <= 0) continue;
    cum += p[i];
    last = i;
    if (cum > u) return i;
  }
  return last;
}

int32_t tf_sample(struct tf_sampler *s, const float *logits) {
  const struct tf_sample_config *c = &s->cfg;
  if (c->greedy || c->temperature == 0) return tf_sample_argmax(logits, s->V);
  if (!probabilities(s->prob, logits, s->V, c->temperature)) return -1;
  int n = s->V;
  int truncate = (c->top_k > 0 && c->top_k < s->V) || c->top_p < 1;
  for (int i = 0; truncate && i < s->V; i++) s->order[i] = i;
  if (c->top_k > 0 && c->top_k < s->V) {
    select_first(s->prob, s->order, s->V, c->top_k);
    n = c->top_k;
  }
  if (c->top_p < 1) n = nucleus(s->prob, s->order, n, c->top_p);
  return draw(s, s->order, n);
}
