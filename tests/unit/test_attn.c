/* test_attn.c: RoPE and causal multi-head attention (lib/attn.c): the rotation against float64
 * and its inverse, causality, the forward against a float64 evaluation, and the backward of
 * attention after RoPE against finite differences, also over several row blocks. */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fd.h"
#include "kernels.h"
#include "suite.h"

/* See test_pattn.c for this budget: h = 1e-2 on values of size ~1 leaves float32 round-off and
 * truncation near 1e-4 of the largest gradient; a wrong term costs 1e-2 or more. */
#define FD_H   1e-2f
#define FD_TOL 2e-3

/* One problem: q, k, v (B, T, H*dh) before RoPE; L = sum attention(rope q, rope k, v) * w. */
struct att {
  int B, T, H, dh, r, slots; /* slots: of scratch, the attention's threads at most */
  float *q, *k, *v, *w, *cos_t, *sin_t;
  float *qr, *kr, *out, *lse, *scratch, *dq, *dk, *dv;
};

static float *falloc(size_t n) {
  float *p = calloc(n ? n : 1, sizeof *p);
  ck_assert(p);
  return p;
}

static struct att *att_new(int B, int T, int H, int dh, int r, uint64_t seed) {
  struct att *a = calloc(1, sizeof *a);
  ck_assert(a);
  *a = (struct att){.B = B, .T = T, .H = H, .dh = dh, .r = r, .slots = B * H};
  size_t n = (size_t)B * T * H * dh;
  float **act[] = {&a->q, &a->k, &a->v, &a->w, &a->qr, &a->kr, &a->out, &a->dq, &a->dk, &a->dv};
  for (size_t i = 0; i < sizeof act / sizeof *act; i++) *act[i] = falloc(n);
  a->lse = falloc((size_t)B * H * T);
  a->scratch = falloc((size_t)B * H * tf_attn_scratch_floats(T, dh));
  a->cos_t = falloc((size_t)T * r / 2);
  a->sin_t = falloc((size_t)T * r / 2);
  tf_rope_table(a->cos_t, a->sin_t, T, r, 10000.0);
  fd_fill(a->q, n, 1.0f, seed);
  fd_fill(a->k, n, 1.0f, seed + 1);
  fd_fill(a->v, n, 1.0f, seed + 2);
  fd_fill(a->w, n, 1.0f, seed + 3);
  return a;
}

static void att_free(struct att *a) {
  float *bufs[] = {a->q,  a->k,   a->v,   a->w,       a->cos_t, a->sin_t, a->qr,
                   a->kr, a->out, a->lse, a->scratch, a->dq,    a->dk,    a->dv};
  for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++) free(bufs[i]);
  free(a);
}

static size_t att_numel(const struct att *a) {
  return (size_t)a->B * a->T * a->H * a->dh;
}

static void att_forward(struct att *a) {
  size_t n = att_numel(a);
  memcpy(a->qr, a->q, n * sizeof(float));
  memcpy(a->kr, a->k, n * sizeof(float));
  tf_rope_forward(a->qr, a->cos_t, a->sin_t, a->B, a->T, a->H, a->dh, a->r);
  tf_rope_forward(a->kr, a->cos_t, a->sin_t, a->B, a->T, a->H, a->dh, a->r);
  tf_attn_forward(a->out, a->lse, a->scratch, a->slots, a->qr, a->kr, a->v, a->B, a->T, a->H,
                  a->dh);
}

static double att_loss(void *ctx) {
  struct att *a = ctx;
  att_forward(a);
  return fd_dot(a->out, a->w, att_numel(a));
}

static void att_backward(struct att *a) {
  att_forward(a);
  tf_attn_backward(a->dq, a->dk, a->dv, a->scratch, a->slots, a->w, a->out, a->lse, a->qr, a->kr,
                   a->v, a->B, a->T, a->H, a->dh);
  tf_rope_backward(a->dq, a->cos_t, a->sin_t, a->B, a->T, a->H, a->dh, a->r);
  tf_rope_backward(a->dk, a->cos_t, a->sin_t, a->B, a->T, a->H, a->dh, a->r);
}

/* ---------------------------------------------------------------- RoPE */

/* Rotation by p theta_m then by -p theta_m: float32 rounding of two products, ~1e-7. */
START_TEST(rope_then_inverse_is_identity) {
  struct att *a = att_new(2, 9, 3, 8, 4, 1);
  size_t n = att_numel(a);
  memcpy(a->qr, a->q, n * sizeof(float));
  tf_rope_forward(a->qr, a->cos_t, a->sin_t, 2, 9, 3, 8, 4);
  tf_rope_backward(a->qr, a->cos_t, a->sin_t, 2, 9, 3, 8, 4);
  for (size_t i = 0; i < n; i++) ck_assert_float_eq_tol(a->qr[i], a->q[i], 1e-6);
  att_free(a);
}
END_TEST

/* docs/model.md §2.2 in float64, theta_m = base^(-2m/r), at positions up to 2047: the tables are
 * the rounded float64 values and the rotation adds two float32 products, so 1e-6 on values of
 * size 1. Channels from r on, and every channel at position 0, come out bit for bit. */
START_TEST(rope_matches_float64_rotation) {
  int B = 1, T = 2048, H = 2, dh = 10, r = 6;
  struct att *a = att_new(B, T, H, dh, r, 2);
  size_t n = att_numel(a);
  memcpy(a->qr, a->q, n * sizeof(float));
  tf_rope_forward(a->qr, a->cos_t, a->sin_t, B, T, H, dh, r);
  for (int b = 0; b < B; b++)
    for (int t = 0; t < T; t++)
      for (int h = 0; h < H; h++) {
        size_t o = (((size_t)b * T + t) * H + h) * dh;
        const float *x = a->q + o, *y = a->qr + o;
        for (int m = 0; m < r / 2; m++) {
          double th = t * pow(10000.0, -2.0 * m / r), c = cos(th), s = sin(th);
          ck_assert_double_eq_tol(y[m], x[m] * c - x[m + r / 2] * s, 1e-6);
          ck_assert_double_eq_tol(y[m + r / 2], x[m + r / 2] * c + x[m] * s, 1e-6);
        }
        for (int j = t == 0 ? 0 : r; j < dh; j++) ck_assert(y[j] == x[j]);
      }
  att_free(a);
}
END_TEST

/* ---------------------------------------------------------------- attention */

/* Shapes for the attention kernels: channels per head below, at and between whole vectors
 * (16 floats) and past the four vectors one pass takes (80); sequences shorter than a block
 * of rows (4), than a panel of keys (32), and over several panels, ending inside them. */
static const int att_shapes[][4] = {/* B, T, H, dh */
                                    {2, 7, 3, 5},   {1, 37, 2, 32}, {1, 70, 1, 80},
                                    {2, 33, 2, 48}, {1, 3, 1, 16},  {1, 65, 2, 64}};
#define N_ATT_SHAPES (int)(sizeof att_shapes / sizeof *att_shapes)

/* Causal softmax attention of one (b, h) in float64 against the kernel: products of length
 * dh and T of float32 values, ~1e-7 relative, so 1e-5 on outputs of size ~1 (the scores of
 * dh = 80 unit-size channels reach ~10: 1e-5 of the larger of 1 and the value). */
START_TEST(attention_forward_matches_float64) {
  int B = att_shapes[_i][0], T = att_shapes[_i][1], H = att_shapes[_i][2], dh = att_shapes[_i][3];
  int d = H * dh;
  struct att *a = att_new(B, T, H, dh, 0, 3);
  double *s = malloc((size_t)T * sizeof *s);
  ck_assert(s);
  tf_attn_forward(a->out, a->lse, a->scratch, a->slots, a->q, a->k, a->v, B, T, H, dh);
  for (int b = 0; b < B; b++)
    for (int h = 0; h < H; h++)
      for (int i = 0; i < T; i++) {
        const float *qi = a->q + ((size_t)b * T + i) * d + h * dh;
        double mx = -INFINITY, sum = 0;
        for (int j = 0; j <= i; j++) {
          const float *kj = a->k + ((size_t)b * T + j) * d + h * dh;
          s[j] = fd_dot(qi, kj, dh) / sqrt(dh);
          mx = fmax(mx, s[j]);
        }
        for (int j = 0; j <= i; j++) sum += (s[j] = exp(s[j] - mx));
        for (int c = 0; c < dh; c++) {
          double o = 0;
          for (int j = 0; j <= i; j++) o += s[j] / sum * a->v[((size_t)b * T + j) * d + h * dh + c];
          ck_assert_double_eq_tol(a->out[((size_t)b * T + i) * d + h * dh + c], o, 1e-5);
        }
        double lse = mx + log(sum); /* what the backward recomputes P from */
        ck_assert_double_eq_tol(a->lse[((size_t)b * H + h) * T + i], lse,
                                1e-5 * fmax(1, fabs(lse)));
      }
  free(s);
  att_free(a);
}
END_TEST

/* Changing the keys and values of the last position leaves every earlier output bit-equal. */
START_TEST(attention_is_causal) {
  int B = 1, T = 200, H = 2, dh = 4, d = H * dh; /* 200 rows: two row blocks */
  struct att *a = att_new(B, T, H, dh, 0, 4);
  tf_attn_forward(a->out, a->lse, a->scratch, a->slots, a->q, a->k, a->v, B, T, H, dh);
  float *before = falloc(att_numel(a));
  memcpy(before, a->out, att_numel(a) * sizeof(float));
  for (int c = 0; c < d; c++) {
    a->k[(size_t)(T - 1) * d + c] += 1.0f;
    a->v[(size_t)(T - 1) * d + c] -= 2.0f;
  }
  tf_attn_forward(a->out, a->lse, a->scratch, a->slots, a->q, a->k, a->v, B, T, H, dh);
  ck_assert_mem_eq(a->out, before, (size_t)(T - 1) * d * sizeof(float));
  free(before);
  att_free(a);
}
END_TEST

/* One scratch slot (one thread) gives the bits of one slot per head: every head's arithmetic
 * is the same whichever thread and slot it gets. */
START_TEST(attention_on_one_slot_is_bit_identical) {
  struct att *a = att_new(2, 200, 3, 32, 8, 12); /* large enough to run on all threads */
  att_backward(a);
  size_t n = att_numel(a);
  float *want[4] = {falloc(n), falloc(n), falloc(n), falloc(n)},
        *got[4] = {a->out, a->dq, a->dk, a->dv};
  for (int i = 0; i < 4; i++) memcpy(want[i], got[i], n * sizeof(float));
  /* one slot and a canary behind it: a second thread would write there */
  size_t slot = tf_attn_scratch_floats(a->T, a->dh);
  free(a->scratch);
  a->scratch = falloc(slot + 4096);
  for (size_t i = slot; i < slot + 4096; i++) a->scratch[i] = 7.0f;
  a->slots = 1;
  att_backward(a);
  for (size_t i = slot; i < slot + 4096; i++) ck_assert(a->scratch[i] == 7.0f);
  for (int i = 0; i < 4; i++) {
    ck_assert_mem_eq(got[i], want[i], n * sizeof(float));
    free(want[i]);
  }
  att_free(a);
}
END_TEST

/* Gradients of q, k (through RoPE) and v (a sample of 120 entries each): a short sequence,
 * 200 positions (seven panels of keys, the last one partial), then the kernel shapes above. */
START_TEST(attention_with_rope_matches_finite_differences) {
  struct att *a;
  if (_i < 2)
    a = _i == 0 ? att_new(2, 9, 2, 8, 4, 5) : att_new(1, 200, 2, 6, 2, 6);
  else {
    const int *sh = att_shapes[_i - 2];
    a = att_new(sh[0], sh[1], sh[2], sh[3], sh[3] / 2 * 2, 7 + _i);
  }
  att_backward(a);
  size_t n = att_numel(a);
  struct {
    const char *name;
    float *x, *g;
  } t[3] = {{"q", a->q, a->dq}, {"k", a->k, a->dk}, {"v", a->v, a->dv}};
  for (int i = 0; i < 3; i++) {
    double e = fd_check(att_loss, a, t[i].x, t[i].g, n, FD_H, 120);
    ck_assert_msg(e < FD_TOL, "T=%d: d%s off by %.3g", a->T, t[i].name, e);
  }
  att_free(a);
}
END_TEST

static Suite *attn_suite(void) {
  Suite *s = suite_create("attn");
  TCase *tc = tcase_create("rope");
  tcase_set_timeout(tc, 60); /* slow only when the cores are shared */
  tcase_add_test(tc, rope_then_inverse_is_identity);
  tcase_add_test(tc, rope_matches_float64_rotation);
  suite_add_tcase(s, tc);
  tc = tcase_create("attention");
  tcase_set_timeout(tc, 60);
  tcase_add_loop_test(tc, attention_forward_matches_float64, 0, N_ATT_SHAPES);
  tcase_add_test(tc, attention_is_causal);
  tcase_add_test(tc, attention_on_one_slot_is_bit_identical);
  tcase_add_loop_test(tc, attention_with_rope_matches_finite_differences, 0, 2 + N_ATT_SHAPES);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  return tf_test_run(attn_suite());
}
