/* tasks_internal.h: what the task modules share: Python's string operations on UTF-8 text as
 * the harness applies them (tasks_text.c), and the building of one task's requests
 * (tasks.c) for the encoder and scorer (tasks_score.c). */
#ifndef TF_TASKS_INTERNAL_H
#define TF_TASKS_INTERNAL_H

#include "tokenformer.h"

/* A growable NUL-terminated byte string. */
struct tf_text {
  char *s;
  size_t n, cap;
};
int tf_text_append(struct tf_text *t, const char *s, size_t n); /* TF_ENOMEM */
int tf_text_set(struct tf_text *t, const char *s, size_t n);
void tf_text_free(struct tf_text *t);

/* Python's len: code points of valid UTF-8 s (n bytes). */
size_t tf_text_codepoints(const char *s, size_t n);
/* Python's str.isspace for one code point. */
int tf_text_isspace(int32_t c);
/* Bytes of s left after Python's rstrip() (trailing whitespace). */
size_t tf_text_rstrip_len(const char *s, size_t n);
/* Python's strip(): *start and the length of what remains. */
size_t tf_text_strip(const char *s, size_t n, size_t *start);
/* Appends Python's s.capitalize() to out. */
int tf_text_capitalize(struct tf_text *out, const char *s, size_t n);
/* The harness's hellaswag preprocess of s into out (replaced). */
int tf_text_hellaswag(struct tf_text *out, const char *s, size_t n);

/* The network's view of request r as the harness cuts it: the last seq_len + 1 ids of context
 * + continuation, all but the last as input (*in, the returned count of ids), each input id's
 * target the one after it; the continuation is predicted at the input's last n_cont ids. */
int tf_task_input(const struct tf_task_set *s, const struct tf_task_request *r, int seq_len,
                  const int32_t **in);
/* tf_task_score's default path (tasks_share.c): each example's requests as one prefix tree,
 * many trees per forward, up to B * s->max_input rows; sets every request's ll and greedy
 * (which the caller zeroes and sets to 1 first). */
int tf_task_score_shared(struct tf_task_set *s, const struct tf_model *m, int B,
                         struct tf_error *err);

/* ---------------------------------------------------------------- tree.c */

/* Rows r0 .. r0 + n - 1 of a packed pass; under a parent (an earlier segment without a
 * parent; -1: none) they continue its rows: positions from parent.n on, attending to all of
 * the parent's rows before their own. */
struct tf_tree_seg {
  int r0, n, parent;
};

/* The forward over packed prefix trees and its buffers, sized once for R rows. */
struct tf_tree {
  int R, C, S, threads;    /* rows, rows of logits at once, seq_len, attention scratch slots */
  int n_rows, n_segs;      /* this pass: set by the caller with tokens and seg */
  int32_t *tokens;         /* (R) */
  struct tf_tree_seg *seg; /* (R) */
  int *row_seg;            /* (R) each row's segment (tf_tree_forward sets it) */
  float *mem, *x, *h, *q, *k, *v, *att, *rstd, *pcache, *pscratch, *prnorm, *rope_cos, *rope_sin,
      *scores, *y, *mean, *ystd, *logits, *lse, *loss;
};
/* Buffers for R rows, checked with tf_mem_check beside the model's parameters first
 * (TF_ENOMEM naming the figures). */
int tf_tree_create(struct tf_tree *t, const struct tf_model_config *c, int R, struct tf_error *err);
void tf_tree_free(struct tf_tree *t);
/* Every layer over the n_rows rows of the n_segs segments (each at most seq_len deep): t->x
 * then holds each row's last residual. */
void tf_tree_forward(const struct tf_model *m, struct tf_tree *t);
/* The logits of rows[0 .. n) (n <= t->C) into t->logits (n, V) and their log-sum-exp into
 * t->lse, after tf_tree_forward. */
void tf_tree_head(const struct tf_model *m, struct tf_tree *t, const int *rows, int n);

#endif
