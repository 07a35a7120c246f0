/* test_net.c: the whole network (lib/net.c): the gradient of the mean loss against finite
 * differences on entries of every parameter tensor (each norm, fresh and grown n_ref), a
 * shorter batch in larger buffers, bit-for-bit repeatability, and refused activation sizes. */
#include <check.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "fd.h"
#include "tokenformer.h"
#include "suite.h"
#include "model_internal.h"
#include "net.h"

/* The tiny model: L 2, d 16, H 2 (d_h 8, 4 RoPE channels), 8/8/16 tokens, V 32, seq_len 8;
 * batches of 2 x 5 positions. */
#define B 2
#define T 5

struct net {
  struct tf_model m;
  struct tf_acts a;
  float *grads;
  struct tf_view g;
  int32_t in[B * T], tgt[B * T];
};

static void net_init(struct net *n, enum tf_norm norm, int grown) {
  struct tf_model_config c = {.vocab_size = 32,
                              .d_model = 16,
                              .n_layers = 2,
                              .n_heads = 2,
                              .seq_len = 8,
                              .tokens = {8, 8, 16},
                              .norm = norm,
                              .rotary_pct = 0.5,
                              .rotary_base = 10000};
  if (grown) /* as after growing every kind: tau stays at the old sqrt(n) */
    for (int k = 0; k < TF_NKINDS; k++) c.ref_tokens[k] = c.tokens[k] * 3 / 4;
  struct tf_error err = {0};
  ck_assert_msg(!tf_model_create(&n->m, &c, &err), "%s", err.msg);
  ck_assert_msg(!tf_acts_init(&n->a, &c, B, c.seq_len, &err), "%s", err.msg);
  /* weights of size ~0.5 rather than the 0.02 of a fresh model: gradients large enough
   * for finite differences to see them above float32 round-off */
  fd_fill(n->m.params, n->m.n_params, 0.5f, 100 + norm);
  for (int j = 0; j < c.d_model; j++) n->m.w->final_norm_weight[j] += 1.0f;
  n->grads = calloc(n->m.n_params, sizeof(float));
  ck_assert(n->grads);
  ck_assert_int_eq(tf_view_point(&n->g, n->grads, &n->m.cfg, NULL), TF_OK);
  for (int i = 0; i < B * T; i++) {
    n->in[i] = (i * 7 + 3) % 32;
    n->tgt[i] = (i * 11 + 5) % 32;
  }
}

static void net_free(struct net *n) {
  tf_acts_release(&n->a);
  tf_model_free(&n->m);
  tf_view_free(&n->g);
  free(n->grads);
}

/* The mean loss, summed in double from the per-token float losses. */
static double net_loss(void *ctx) {
  struct net *n = ctx;
  tf_net_forward(&n->m, &n->a, n->in, n->tgt, B, T);
  double sum = 0;
  for (int i = 0; i < B * T; i++) sum += n->a.losses[i];
  return sum / (B * T);
}

static void net_grad(struct net *n) {
  memset(n->grads, 0, n->m.n_params * sizeof(float));
  tf_net_forward(&n->m, &n->a, n->in, n->tgt, B, T);
  tf_net_backward(&n->m, &n->a, &n->g);
}

/* Central differences with h = 1e-2 on weights of size 0.5: the mean loss (~4) carries float32
 * round-off of ~1e-6, i.e. ~5e-5 in a difference quotient, against gradients of 1e-3 to 1e-1;
 * the measured worst error is 3.2e-3 of a tensor's largest gradient entry (over all 6 cases),
 * so 2e-2 leaves room while a wrong term is off by far more. 8 entries spread over each
 * tensor, every tensor of the model. */
START_TEST(gradients_match_finite_differences) {
  struct net n;
  net_init(&n, _i / 2, _i % 2);
  net_grad(&n);
  for (int t = 0; t < n.m.n_tensors; t++) {
    const struct tf_tensor *tt = &n.m.tensors[t];
    double e =
        fd_check(net_loss, &n, n.m.params + tt->offset, n.grads + tt->offset, tt->numel, 1e-2f, 8);
    ck_assert_msg(e < 2e-2, "norm %d grown %d: %s off by %.3g of its largest gradient", _i / 2,
                  _i % 2, tt->name, e);
  }
  net_free(&n);
}
END_TEST

/* A batch of 1 x 3 in buffers for 2 x 8 gives the bits of buffers sized 1 x 3. */
START_TEST(short_batch_in_large_buffers_is_exact) {
  struct net n;
  net_init(&n, TF_NORM_L2_GELU, 0);
  struct tf_acts small;
  struct tf_error err = {0};
  ck_assert(!tf_acts_init(&small, &n.m.cfg, 1, 3, &err));
  float l1 = tf_net_forward(&n.m, &n.a, n.in, n.tgt, 1, 3);
  float l2 = tf_net_forward(&n.m, &small, n.in, n.tgt, 1, 3);
  ck_assert(l1 == l2);
  ck_assert_mem_eq(n.a.logits, small.logits, 3 * 32 * sizeof(float));
  ck_assert(isnan(tf_net_forward(&n.m, &small, n.in, n.tgt, 1, 4))); /* over capacity */
  tf_acts_release(&small);
  net_free(&n);
}
END_TEST

/* Same inputs and thread count: the same loss and gradient block, bit for bit. */
START_TEST(forward_and_backward_are_repeatable) {
  struct net n;
  net_init(&n, TF_NORM_L2_GELU, 0);
  tf_set_threads(2);
  net_grad(&n);
  float *first = malloc(n.m.n_params * sizeof(float));
  ck_assert(first);
  memcpy(first, n.grads, n.m.n_params * sizeof(float));
  float loss = tf_net_forward(&n.m, &n.a, n.in, n.tgt, B, T);
  net_grad(&n);
  ck_assert(loss == tf_net_forward(&n.m, &n.a, n.in, n.tgt, B, T));
  ck_assert_mem_eq(first, n.grads, n.m.n_params * sizeof(float));
  free(first);
  net_free(&n);
}
END_TEST

/* A forward without targets leaves the logits and returns 0; a backward after it, or a
 * second backward after one forward, changes nothing. */
START_TEST(backward_needs_a_fresh_forward_with_targets) {
  struct net n;
  net_init(&n, TF_NORM_L2_GELU, 0);
  ck_assert(tf_net_forward(&n.m, &n.a, n.in, NULL, B, T) == 0.0f);
  tf_net_backward(&n.m, &n.a, &n.g);
  for (size_t i = 0; i < n.m.n_params; i++) ck_assert(n.grads[i] == 0.0f);
  net_grad(&n);
  float *once = malloc(n.m.n_params * sizeof(float));
  ck_assert(once);
  memcpy(once, n.grads, n.m.n_params * sizeof(float));
  tf_net_backward(&n.m, &n.a, &n.g);
  ck_assert_mem_eq(once, n.grads, n.m.n_params * sizeof(float));
  free(once);
  net_free(&n);
}
END_TEST

START_TEST(absurd_activation_sizes_are_refused) {
  struct tf_model_config c = {.vocab_size = 50304,
                              .d_model = 768,
                              .n_layers = 12,
                              .n_heads = 12,
                              .seq_len = 1 << 20,
                              .tokens = {768, 768, 3072},
                              .rotary_pct = 0.25,
                              .rotary_base = 10000};
  struct tf_acts a;
  struct tf_error err = {0};
  ck_assert_int_eq(tf_acts_init(&a, &c, 1 << 20, 1 << 20, &err), TF_ENOMEM);
  ck_assert_int_eq(tf_acts_init(&a, &c, 64, 1 << 20, &err), TF_ENOMEM);
  ck_assert_msg(strstr(err.msg, "GiB"), "%s", err.msg);
  ck_assert_int_eq(tf_acts_init(&a, &c, 0, 5, &err), TF_ENOMEM);
  /* 2^30 positions with 2^30 tokens in each of a layer's six Pattention caches, in 2^20
   * layers: the float count overflows 64 bits, and says so instead of wrapping around */
  c.n_layers = 1 << 20;
  c.tokens[0] = c.tokens[1] = c.tokens[2] = 1 << 30;
  ck_assert_int_eq(tf_acts_init(&a, &c, 1 << 10, 1 << 20, &err), TF_ENOMEM);
  ck_assert_msg(strstr(err.msg, "more than 2^64 bytes"), "%s", err.msg);
}
END_TEST

static Suite *net_suite(void) {
  Suite *s = suite_create("net");
  TCase *tc = tcase_create("net");
  tcase_set_timeout(tc, 60); /* slow only when the cores are shared */
  tcase_add_loop_test(tc, gradients_match_finite_differences, 0, 6);
  tcase_add_test(tc, short_batch_in_large_buffers_is_exact);
  tcase_add_test(tc, forward_and_backward_are_repeatable);
  tcase_add_test(tc, backward_needs_a_fresh_forward_with_targets);
  tcase_add_test(tc, absurd_activation_sizes_are_refused);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  return tf_test_run(net_suite());
}
