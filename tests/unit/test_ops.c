/* test_ops.c: LayerNorms, embedding, tied output head and cross-entropy (lib/ops.c): forwards
 * against float64 evaluations, every backward against finite differences, scatter-add over
 * repeated tokens, and gradient accumulation. */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fd.h"
#include "kernels.h"
#include "suite.h"

/* Central differences with h = 1e-2 on values of size ~1 (see test_pattn.c for the budget):
 * float32 round-off and O(h^2) truncation stay near 1e-4 of the largest gradient; a wrong
 * term costs 1e-2 or more. */
#define FD_H   1e-2f
#define FD_TOL 2e-3

#define R 6
#define D 10
#define V 7

/* ---------------------------------------------------------------- LayerNorm */

struct ln {
  int affine;
  float x[R * D], y[R * D], w[R * D]; /* input, output, loss weights */
  float gain[D], bias[D], mean[R], rstd[R];
  float dx[R * D], dgain[D], dbias[D];
};

static void ln_init(struct ln *p, int affine, uint64_t seed) {
  memset(p, 0, sizeof *p);
  p->affine = affine;
  fd_fill(p->x, R * D, 2.0f, seed);
  for (int i = 0; i < R * D; i++) p->x[i] += (float)(i / D); /* rows with different means */
  fd_fill(p->w, R * D, 1.0f, seed + 1);
  fd_fill(p->gain, D, 0.5f, seed + 2);
  for (int j = 0; j < D; j++) p->gain[j] += 1.0f;
  fd_fill(p->bias, D, 0.5f, seed + 3);
}

static double ln_loss(void *ctx) {
  struct ln *p = ctx;
  if (p->affine)
    tf_layernorm_affine_forward(p->y, p->mean, p->rstd, p->x, p->gain, p->bias, R, D);
  else
    tf_layernorm_forward(p->y, p->rstd, p->x, R, D);
  return fd_dot(p->y, p->w, R * D);
}

/* Gradients of L = sum y * w into zeroed dx, dgain, dbias. */
static void ln_grad(struct ln *p) {
  ln_loss(p);
  memset(p->dx, 0, sizeof p->dx);
  memset(p->dgain, 0, sizeof p->dgain);
  memset(p->dbias, 0, sizeof p->dbias);
  if (p->affine)
    tf_layernorm_affine_backward(p->dx, p->dgain, p->dbias, p->w, p->x, p->mean, p->rstd, p->gain,
                                 R, D);
  else
    tf_layernorm_backward(p->dx, p->w, p->y, p->rstd, R, D);
}

/* Against float64 mean and biased variance; float32 rounding of (x - mean) * rstd is ~1e-7
 * relative, so 1e-5 absolute on outputs of size ~1. */
START_TEST(layernorm_forward_matches_float64) {
  struct ln p;
  ln_init(&p, _i, 1);
  ln_loss(&p);
  for (int i = 0; i < R; i++) {
    double mu = 0, var = 0;
    for (int j = 0; j < D; j++) mu += p.x[i * D + j] / (double)D;
    for (int j = 0; j < D; j++) var += pow(p.x[i * D + j] - mu, 2) / D;
    for (int j = 0; j < D; j++) {
      double y = (p.x[i * D + j] - mu) / sqrt(var + 1e-5);
      if (_i) y = y * p.gain[j] + p.bias[j];
      ck_assert_msg(fabs(p.y[i * D + j] - y) < 1e-5, "row %d col %d: %g vs %g", i, j,
                    p.y[i * D + j], y);
    }
  }
}
END_TEST

START_TEST(layernorm_backward_matches_finite_differences) {
  struct ln p;
  ln_init(&p, _i, 2);
  ln_grad(&p);
  double e = fd_check(ln_loss, &p, p.x, p.dx, R * D, FD_H, 1000);
  ck_assert_msg(e < FD_TOL, "dx off by %.3g", e);
  if (!_i) return;
  e = fd_check(ln_loss, &p, p.gain, p.dgain, D, FD_H, 1000);
  ck_assert_msg(e < FD_TOL, "dweight off by %.3g", e);
  e = fd_check(ln_loss, &p, p.bias, p.dbias, D, FD_H, 1000);
  ck_assert_msg(e < FD_TOL, "dbias off by %.3g", e);
}
END_TEST

/* dx (the residual stream's gradient), dw and db are added to, not overwritten. */
START_TEST(layernorm_backward_accumulates) {
  struct ln p;
  ln_init(&p, 1, 3);
  ln_grad(&p);
  struct ln q = p;
  tf_layernorm_affine_backward(q.dx, q.dgain, q.dbias, q.w, q.x, q.mean, q.rstd, q.gain, R, D);
  for (int i = 0; i < R * D; i++) ck_assert_float_eq_tol(q.dx[i], 2 * p.dx[i], 1e-6);
  for (int j = 0; j < D; j++) {
    ck_assert_float_eq_tol(q.dgain[j], 2 * p.dgain[j], 1e-6);
    ck_assert_float_eq_tol(q.dbias[j], 2 * p.dbias[j], 1e-6);
  }
  struct ln n; /* the non-parametric norm of the same x adds its dx on top */
  ln_init(&n, 0, 3);
  ln_grad(&n);
  tf_layernorm_backward(q.dx, n.w, n.y, n.rstd, R, D);
  for (int i = 0; i < R * D; i++) ck_assert_float_eq_tol(q.dx[i], 2 * p.dx[i] + n.dx[i], 1e-5);
}
END_TEST

/* ---------------------------------------------------------------- embedding and head */

/* The tied pair: x = E[tok];  logits = x E^T;  L = sum logits * w. E gets both gradients. */
struct tied {
  int32_t tok[R];
  float E[V * D], x[R * D], logits[R * V], w[R * V];
  float dE[V * D], dx[R * D];
};

static void tied_init(struct tied *p, uint64_t seed) {
  const int32_t tok[R] = {3, 0, 3, 6, 3, 1}; /* repeats: the scatter-add must sum them */
  memcpy(p->tok, tok, sizeof tok);
  fd_fill(p->E, V * D, 1.0f, seed);
  fd_fill(p->w, R * V, 1.0f, seed + 1);
}

static double tied_loss(void *ctx) {
  struct tied *p = ctx;
  tf_embed_forward(p->x, p->tok, p->E, R, D);
  tf_head_forward(p->logits, p->x, p->E, R, V, D);
  return fd_dot(p->logits, p->w, R * V);
}

START_TEST(tied_embedding_and_head_match_finite_differences) {
  struct tied p;
  tied_init(&p, 4);
  tied_loss(&p);
  memset(p.dE, 0, sizeof p.dE);
  tf_head_backward(p.dx, p.dE, p.w, p.x, p.E, R, V, D);
  tf_embed_backward(p.dE, p.tok, p.dx, R, D);
  double e = fd_check(tied_loss, &p, p.E, p.dE, V * D, FD_H, 1000);
  ck_assert_msg(e < FD_TOL, "dE off by %.3g", e);
  for (int j = 0; j < D; j++) /* token 5 is never used: only the head reaches its row */
    ck_assert(p.dE[5 * D + j] != 0.0f);
}
END_TEST

/* dE[t] += sum of dout over the rows holding t, exactly as a serial loop in row order. */
START_TEST(embedding_backward_sums_repeated_tokens) {
  struct tied p;
  tied_init(&p, 5);
  float dout[R * D], dE[V * D] = {0}, want[V * D] = {0};
  fd_fill(dout, R * D, 1.0f, 6);
  tf_embed_backward(dE, p.tok, dout, R, D);
  for (int i = 0; i < R; i++)
    for (int j = 0; j < D; j++) want[p.tok[i] * D + j] += dout[i * D + j];
  ck_assert_mem_eq(dE, want, sizeof dE);
}
END_TEST

/* The head alone: dy = dlogits E, against finite differences in y. */
static double head_loss(void *ctx) {
  struct tied *p = ctx;
  tf_head_forward(p->logits, p->x, p->E, R, V, D);
  return fd_dot(p->logits, p->w, R * V);
}

START_TEST(head_backward_matches_finite_differences) {
  struct tied p;
  tied_init(&p, 7);
  fd_fill(p.x, R * D, 1.0f, 8);
  memset(p.dE, 0, sizeof p.dE);
  tf_head_backward(p.dx, p.dE, p.w, p.x, p.E, R, V, D);
  double e = fd_check(head_loss, &p, p.x, p.dx, R * D, FD_H, 1000);
  ck_assert_msg(e < FD_TOL, "dy off by %.3g", e);
  e = fd_check(head_loss, &p, p.E, p.dE, V * D, FD_H, 1000);
  ck_assert_msg(e < FD_TOL, "dE off by %.3g", e);
}
END_TEST

/* ---------------------------------------------------------------- cross-entropy */

struct ce {
  float logits[R * V], losses[R], lse[R], dlogits[R * V];
  int32_t targets[R];
};

static void ce_init(struct ce *p, float offset) {
  const int32_t t[R] = {0, 6, 2, 2, 5, 1};
  memcpy(p->targets, t, sizeof t);
  fd_fill(p->logits, R * V, 3.0f, 9);
  for (int i = 0; i < R * V; i++) p->logits[i] += offset;
}

static double ce_loss(void *ctx) {
  struct ce *p = ctx;
  return tf_crossentropy_forward(p->losses, p->lse, p->logits, p->targets, R, V);
}

/* Mean of -log softmax at the target, against float64; logits offset by 80 would overflow
 * a naive exp. float32 logits of size ~80 carry ~5e-6 absolute error, hence 2e-5. */
START_TEST(crossentropy_forward_matches_float64) {
  struct ce p;
  ce_init(&p, _i ? 80.0f : 0.0f);
  double want = 0;
  for (int i = 0; i < R; i++) {
    double mx = -INFINITY, sum = 0;
    for (int j = 0; j < V; j++) mx = fmax(mx, p.logits[i * V + j]);
    for (int j = 0; j < V; j++) sum += exp(p.logits[i * V + j] - mx);
    want += (mx + log(sum) - p.logits[i * V + p.targets[i]]) / R;
  }
  double got = ce_loss(&p);
  ck_assert_msg(fabs(got - want) < 2e-5, "loss %.9g, want %.9g", got, want);
}
END_TEST

/* dlogits = (softmax - onehot) / R for the mean loss, in place over the logits too. The FD
 * step is 1e-2 on the loss itself (size ~1, float32 round-off ~1e-7 / 2h = 5e-6 against
 * gradients of size 1/R). */
START_TEST(crossentropy_backward_matches_finite_differences) {
  struct ce p;
  ce_init(&p, 0.0f);
  ce_loss(&p);
  tf_crossentropy_backward(p.dlogits, p.logits, p.lse, p.targets, 1.0f / R, R, V);
  double e = fd_check(ce_loss, &p, p.logits, p.dlogits, R * V, FD_H, 1000);
  ck_assert_msg(e < FD_TOL, "dlogits off by %.3g", e);
  float copy[R * V];
  memcpy(copy, p.dlogits, sizeof copy);
  ce_loss(&p); /* lse of the unperturbed logits again */
  tf_crossentropy_backward(p.logits, p.logits, p.lse, p.targets, 1.0f / R, R, V);
  ck_assert_mem_eq(p.logits, copy, sizeof copy);
}
END_TEST

static Suite *ops_suite(void) {
  Suite *s = suite_create("ops");
  TCase *tc = tcase_create("layernorm");
  tcase_set_timeout(tc, 60); /* slow only when the cores are shared */
  tcase_add_loop_test(tc, layernorm_forward_matches_float64, 0, 2);
  tcase_add_loop_test(tc, layernorm_backward_matches_finite_differences, 0, 2);
  tcase_add_test(tc, layernorm_backward_accumulates);
  suite_add_tcase(s, tc);
  tc = tcase_create("embedding");
  tcase_set_timeout(tc, 60);
  tcase_add_test(tc, tied_embedding_and_head_match_finite_differences);
  tcase_add_test(tc, embedding_backward_sums_repeated_tokens);
  tcase_add_test(tc, head_backward_matches_finite_differences);
  suite_add_tcase(s, tc);
  tc = tcase_create("crossentropy");
  tcase_set_timeout(tc, 60);
  tcase_add_loop_test(tc, crossentropy_forward_matches_float64, 0, 2);
  tcase_add_test(tc, crossentropy_backward_matches_finite_differences);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  return tf_test_run(ops_suite());
}
