/* tasks_share.c: the requests of each example scored as one prefix tree: its root is the
 * longest common prefix of the requests' network inputs (the context, for the multiple-choice
 * tasks; the sentence before the blank for winogrande), one segment under it per request
 * holds the rest of that input, and the trees of many examples are packed into each forward
 * (tree.c). Each input row sees exactly the rows it sees in its own request's forward, at the
 * same positions, so the log-likelihoods are those of the whole-request path (tasks_score.c)
 * to float rounding, with the context's rows computed once instead of once per choice, and
 * logits only at the rows that predict a continuation token. */
#include <stdlib.h>
#include <string.h>

#include "tasks_internal.h"

/* One continuation token to read: request req's token target, predicted at row row. */
struct read {
  int req, row;
  int32_t target;
  float loss; /* lse - logit[target], as the cross-entropy computes it */
  int hit;    /* target was the row's argmax */
};

struct pack {
  struct tf_tree t;
  struct read *reads;
  int n_reads, cap_reads;
  int *head_row;          /* (R) the rows whose logits are made, in row order */
  int *head_of;           /* (R) a row's index in head_row, or -1 */
  int32_t *argmax;        /* (C) */
  int *list;              /* (n_requests) the distinct requests of one example */
  int *twin;              /* (n_requests) an earlier equal request of the same example, or -1 */
  int added, done, total; /* requests in this pass, scored before it, to score */
};

static int equal_requests(const struct tf_task_set *s, int a, int b) {
  const struct tf_task_request *ra = &s->req[a], *rb = &s->req[b];
  return ra->n_ctx == rb->n_ctx && ra->n_cont == rb->n_cont &&
         !memcmp(s->pool.v + ra->ids, s->pool.v + rb->ids,
                 (size_t)(ra->n_ctx + ra->n_cont) * sizeof *s->pool.v);
}

/* Logits for the rows read, t->C at a time; each read's loss and hit from its row's;
 * then each request's sum in its tokens' order, as the whole path adds them. */
static void read_pass(struct tf_task_set *s, const struct tf_model *m, struct pack *p) {
  struct tf_tree *t = &p->t;
  int V = m->cfg.vocab_size, nh = 0;
  for (int r = 0; r < t->n_rows; r++) p->head_of[r] = -1;
  for (int i = 0; i < p->n_reads; i++) p->head_of[p->reads[i].row] = 0;
  for (int r = 0; r < t->n_rows; r++)
    if (p->head_of[r] == 0) p->head_of[r] = nh, p->head_row[nh++] = r;
  for (int c0 = 0; c0 < nh; c0 += t->C) {
    int cn = nh - c0 < t->C ? nh - c0 : t->C;
    tf_tree_head(m, t, p->head_row + c0, cn);
    for (int c = 0; c < cn; c++) p->argmax[c] = tf_sample_argmax(t->logits + (size_t)c * V, V);
    for (int i = 0; i < p->n_reads; i++) {
      struct read *rd = &p->reads[i];
      int c = p->head_of[rd->row] - c0;
      if (c < 0 || c >= cn) continue;
      rd->loss = t->lse[c] - t->logits[(size_t)c * V + rd->target];
      rd->hit = p->argmax[c] == rd->target;
    }
  }
  for (int i = 0; i < p->n_reads; i++) {
    struct tf_task_request *r = &s->req[p->reads[i].req];
    r->ll -= p->reads[i].loss;
    if (!p->reads[i].hit) r->greedy = 0;
  }
}

/* Runs the pass packed so far and starts an empty one. */
static void flush(struct tf_task_set *s, const struct tf_model *m, struct pack *p) {
  if (p->t.n_rows == 0) return;
  tf_tree_forward(m, &p->t);
  read_pass(s, m, p);
  p->done += p->added;
  if (s->on_batch) s->on_batch(s->on_batch_ctx, p->done, p->total);
  p->t.n_rows = p->t.n_segs = p->n_reads = p->added = 0;
}

static int fits(const struct pack *p, int rows, int reads) {
  return p->t.n_rows + rows <= p->t.R && p->n_reads + reads <= p->cap_reads;
}

/* A segment of the n ids at `ids` under parent (-1: a root); returns its index. */
static int add_segment(struct pack *p, const int32_t *ids, int n, int parent) {
  struct tf_tree *t = &p->t;
  t->seg[t->n_segs] = (struct tf_tree_seg){t->n_rows, n, parent};
  memcpy(t->tokens + t->n_rows, ids, (size_t)n * sizeof *ids);
  t->n_rows += n;
  return t->n_segs++;
}

/* Request q whose input `in` (n ids, its targets in[1 .. n]) shares its first P with the
 * root segment (-1: P is 0): a segment for the rest, and its continuation's reads. */
static void add_request(struct pack *p, int q, const struct tf_task_request *r, const int32_t *in,
                        int n, int P, int root) {
  int own = n > P ? add_segment(p, in + P, n - P, root) : -1;
  for (int k = n - r->n_cont; k < n; k++) {
    int row = k < P ? p->t.seg[root].r0 + k : p->t.seg[own].r0 + (k - P);
    p->reads[p->n_reads++] = (struct read){.req = q, .row = row, .target = in[k + 1]};
  }
  p->added++;
}

/* Example x's distinct requests with a continuation (in p->list), their twins marked;
 * returns how many and sets *P to the longest common prefix of their inputs. */
static int distinct(const struct tf_task_set *s, const struct tf_task_example *x, int S,
                    struct pack *p, int *P) {
  int nl = 0;
  const int32_t *first = NULL;
  for (int i = x->first; i < x->first + x->n_choices; i++) {
    p->twin[i] = -1;
    for (int j = x->first; j < i && p->twin[i] < 0; j++)
      if (equal_requests(s, i, j)) p->twin[i] = j;
    if (p->twin[i] >= 0) p->added += s->req[i].n_cont > 0; /* scored with its twin */
    if (p->twin[i] >= 0 || s->req[i].n_cont == 0) continue;
    const int32_t *in;
    int n = tf_task_input(s, &s->req[i], S, &in), k = 0;
    if (!first) first = in, *P = n;
    while (k < *P && k < n && in[k] == first[k]) k++;
    *P = k;
    p->list[nl++] = i;
  }
  return nl;
}

/* Packs example x into the pass, running passes as they fill; a tree too large for what is
 * left of a pass goes on in the next with its root again. */
static void add_example(struct tf_task_set *s, const struct tf_model *m, struct pack *p,
                        const struct tf_task_example *x) {
  int S = m->cfg.seq_len, P = 0, nl = distinct(s, x, S, p, &P);
  for (int k = 0; k < nl;) {
    const int32_t *in;
    int n = tf_task_input(s, &s->req[p->list[k]], S, &in);
    if (!fits(p, n, s->req[p->list[k]].n_cont)) flush(s, m, p);
    int root = P > 0 ? add_segment(p, in, P, -1) : -1;
    for (; k < nl; k++) {
      const struct tf_task_request *r = &s->req[p->list[k]];
      n = tf_task_input(s, r, S, &in);
      if (!fits(p, n - P, r->n_cont)) break;
      add_request(p, p->list[k], r, in, n, P, root);
    }
  }
}

int tf_task_score_shared(struct tf_task_set *s, const struct tf_model *m, int B,
                         struct tf_error *err) {
  struct pack p = {0};
  int width = s->max_input > 0 ? s->max_input : 1;
  long long R = (long long)(B > 0 ? B : 1) * width;
  int rc = tf_tree_create(&p.t, &m->cfg, R < 0x3fffffff ? (int)R : 0x3fffffff, err);
  if (rc) return rc;
  p.cap_reads = 2 * p.t.R; /* a request reads at most its input's rows, at most R */
  p.reads = malloc((size_t)p.cap_reads * sizeof *p.reads);
  p.head_row = malloc((size_t)p.t.R * sizeof *p.head_row);
  p.head_of = malloc((size_t)p.t.R * sizeof *p.head_of);
  p.argmax = malloc((size_t)p.t.C * sizeof *p.argmax);
  p.list = malloc((size_t)(s->n_requests + 1) * sizeof *p.list);
  p.twin = malloc((size_t)(s->n_requests + 1) * sizeof *p.twin);
  if (!p.reads || !p.head_row || !p.head_of || !p.argmax || !p.list || !p.twin)
    rc = tf_error_set(err, TF_ENOMEM, "out of memory for %d requests", s->n_requests);
  for (int i = 0; !rc && i < s->n_requests; i++) p.total += s->req[i].n_cont > 0;
  for (int e = 0; !rc && e < s->n_examples; e++) add_example(s, m, &p, &s->ex[e]);
  if (!rc) flush(s, m, &p);
  for (int i = 0; !rc && i < s->n_requests; i++)
    if (p.twin[i] >= 0) {
      s->req[i].ll = s->req[p.twin[i]].ll;
      s->req[i].greedy = s->req[p.twin[i]].greedy;
    }
  tf_tree_free(&p.t);
  free(p.reads);
  free(p.head_row);
  free(p.head_of);
  free(p.argmax);
  free(p.list);
  free(p.twin);
  return rc;
}
