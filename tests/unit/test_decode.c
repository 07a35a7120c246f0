/* test_decode.c: generation with the KV cache (lib/decode.c) against the full forward of
 * lib/net.c: every position, every norm, chunked prefill, the sliding window, greedy
 * decoding; refused inputs; and the matrix-vector kernels (lib/gemv.c) against plain loops. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fd.h"
#include "gemv.h"
#include "kernels.h"
#include "suite.h"
#include "tokenformer.h"

/* Fixture models (tests/fixtures/README.md): all three norms, grown n_ref, RoPE on every
 * channel, an odd seq_len. Their weights are drawn so that every term matters. */
static const char *const cases[] = {"l2_norm_gelu", "gelu_l2_norm",          "softmax",
                                    "grown",        "grown_gelu_l2_norm",    "grown_softmax",
                                    "odd_seq",      "l2_norm_gelu_rope_full"};
#define N_CASES (int)(sizeof cases / sizeof cases[0])

/* Cached decoding sums in another order than the batched forward (matrix-vector products,
 * one row at a time); both are float32. Measured: 2e-7 to 4e-7 of max |logit| on every case,
 * so 1e-5 (the bound) leaves 25x headroom, while the mistakes tried (tau from n
 * instead of n_ref, the RoPE table one row off) miss by 3e-2 to 0.5 of max |logit|. */
#define TOL 1e-5

static void load_case(struct tf_model *m, const char *name) {
  tf_test_load_fixture(m, name);
}

static void decoder_init(struct tf_decoder *dec, const struct tf_model *m, int chunk) {
  struct tf_error err = {0};
  ck_assert_msg(tf_decoder_create(dec, &m->cfg, chunk, &err) == TF_OK, "%s", err.msg);
}

/* Prefill of one token, then one step per token: the logits of every position equal the
 * full forward's row. */
START_TEST(step_by_step_logits_match_full_forward) {
  struct tf_model m;
  struct tf_decoder dec;
  load_case(&m, cases[_i]);
  int S = m.cfg.seq_len, V = m.cfg.vocab_size;
  int32_t *tok = malloc(S * sizeof *tok);
  float *ref = malloc((size_t)S * V * sizeof *ref);
  tf_test_random_tokens(tok, S, V, 10 + _i);
  tf_test_full_logits(&m, tok, S, ref);
  decoder_init(&dec, &m, 0);
  for (int t = 0; t < S; t++) {
    const float *l =
        t == 0 ? tf_decode_prefill(&m, &dec, tok, 1, NULL) : tf_decode_step(&m, &dec, tok[t], NULL);
    ck_assert_ptr_nonnull(l);
    double e = fd_rel_error(l, ref + (size_t)t * V, V);
    ck_assert_msg(e <= TOL, "%s: position %d off by %.3g of max |logit|", cases[_i], t, e);
  }
  ck_assert_int_eq(dec.len, S);
  ck_assert_int_eq(dec.slides, 0);
  tf_decoder_free(&dec);
  free(tok);
  free(ref);
  tf_model_free(&m);
}
END_TEST

/* A prompt through passes of 1, 3, 5 and S rows, then steps to the end of the context. */
START_TEST(chunked_prefill_matches_full_forward) {
  static const int chunks[] = {1, 3, 5, 1000};
  struct tf_model m;
  load_case(&m, "l2_norm_gelu");
  int S = m.cfg.seq_len, V = m.cfg.vocab_size, P = S - 4;
  int32_t tok[64];
  float *ref = malloc((size_t)S * V * sizeof *ref);
  tf_test_random_tokens(tok, S, V, 77);
  tf_test_full_logits(&m, tok, S, ref);
  for (int c = 0; c < 4; c++) {
    struct tf_decoder dec;
    decoder_init(&dec, &m, chunks[c]);
    const float *l = tf_decode_prefill(&m, &dec, tok, P, NULL);
    ck_assert_ptr_nonnull(l);
    ck_assert_int_eq(dec.len, P);
    for (int t = P - 1; t < S; t++) {
      if (t >= P) l = tf_decode_step(&m, &dec, tok[t], NULL);
      double e = fd_rel_error(l, ref + (size_t)t * V, V);
      ck_assert_msg(e <= TOL, "chunk %d: position %d off by %.3g", chunks[c], t, e);
    }
    tf_decoder_free(&dec);
  }
  free(ref);
  tf_model_free(&m);
}
END_TEST

/* The slide rule of tokenformer.h, independently: appending to a full context of S keeps
 * its S/2 newest tokens, then the new one. */
static void context_append(int32_t *ctx, int *len, int S, int32_t token) {
  if (*len == S) {
    memmove(ctx, ctx + S - S / 2, (size_t)(S / 2) * sizeof *ctx);
    *len = S / 2;
  }
  ctx[(*len)++] = token;
}

/* 2.5 contexts' worth of tokens: after each step the logits equal the last row of the full
 * forward of the context the slide rule gives (re-encoded from position 0). */
START_TEST(window_slides_and_matches_reencoded_forward) {
  struct tf_model m;
  struct tf_decoder dec;
  load_case(&m, cases[_i]);
  int S = m.cfg.seq_len, V = m.cfg.vocab_size, n = S * 5 / 2, len = 0, slides = 0;
  int32_t *tok = malloc(n * sizeof *tok), *ctx = malloc(S * sizeof *ctx);
  float *ref = malloc((size_t)S * V * sizeof *ref);
  tf_test_random_tokens(tok, n, V, 30 + _i);
  decoder_init(&dec, &m, 5);
  ck_assert_ptr_nonnull(tf_decode_prefill(&m, &dec, tok, 3, NULL));
  for (int i = 0; i < 3; i++) context_append(ctx, &len, S, tok[i]);
  for (int t = 3; t < n; t++) {
    slides += len == S;
    context_append(ctx, &len, S, tok[t]);
    const float *l = tf_decode_step(&m, &dec, tok[t], NULL);
    ck_assert_ptr_nonnull(l);
    ck_assert_int_eq(dec.len, len);
    ck_assert_mem_eq(dec.tokens, ctx, (size_t)len * sizeof *ctx);
    tf_test_full_logits(&m, ctx, len, ref);
    double e = fd_rel_error(l, ref + (size_t)(len - 1) * V, V);
    ck_assert_msg(e <= TOL, "%s: token %d (context %d) off by %.3g", cases[_i], t, len, e);
  }
  ck_assert_int_eq(dec.slides, slides);
  ck_assert_int_ge(slides, 3);
  tf_decoder_free(&dec);
  free(tok);
  free(ctx);
  free(ref);
  tf_model_free(&m);
}
END_TEST

/* Greedy generation from a prompt, past two slides, equals the argmax of the full forward of
 * the same context at every step. */
START_TEST(greedy_decoding_equals_full_forward_argmax) {
  struct tf_model m;
  struct tf_decoder dec;
  load_case(&m, cases[_i]);
  int S = m.cfg.seq_len, V = m.cfg.vocab_size, len = 0;
  int32_t prompt[4], ctx[64];
  float *ref = malloc((size_t)S * V * sizeof *ref);
  tf_test_random_tokens(prompt, 4, V, 5);
  decoder_init(&dec, &m, 0);
  const float *l = tf_decode_prefill(&m, &dec, prompt, 4, NULL);
  for (int i = 0; i < 4; i++) context_append(ctx, &len, S, prompt[i]);
  for (int g = 0; g < 2 * S; g++) {
    tf_test_full_logits(&m, ctx, len, ref);
    int32_t want = tf_sample_argmax(ref + (size_t)(len - 1) * V, V);
    int32_t got = tf_sample_argmax(l, V);
    ck_assert_msg(got == want, "%s: generated token %d is %d, the full forward says %d", cases[_i],
                  g, got, want);
    context_append(ctx, &len, S, got);
    l = tf_decode_step(&m, &dec, got, NULL);
  }
  tf_decoder_free(&dec);
  free(ref);
  tf_model_free(&m);
}
END_TEST

/* A prompt longer than the context gives what its last S tokens give, bit for bit. */
START_TEST(long_prompt_keeps_its_last_context) {
  struct tf_model m;
  struct tf_decoder a, b;
  load_case(&m, "l2_norm_gelu");
  int S = m.cfg.seq_len, V = m.cfg.vocab_size;
  int32_t tok[40];
  tf_test_random_tokens(tok, 40, V, 9);
  decoder_init(&a, &m, 0);
  decoder_init(&b, &m, 0);
  const float *la = tf_decode_prefill(&m, &a, tok, 40, NULL);
  const float *lb = tf_decode_prefill(&m, &b, tok + 40 - S, S, NULL);
  ck_assert_int_eq(a.len, S);
  ck_assert_mem_eq(la, lb, (size_t)V * sizeof *la);
  ck_assert_mem_eq(a.tokens, tok + 40 - S, (size_t)S * sizeof *tok);
  tf_decoder_free(&a);
  tf_decoder_free(&b);
  tf_model_free(&m);
}
END_TEST

/* NULL from the decoder, with err saying why (code and words), in the state it was. */
static void refused(const float *logits, const struct tf_error *err, int code, const char *why) {
  ck_assert_ptr_null(logits);
  ck_assert_int_eq(err->code, code);
  ck_assert_msg(strstr(err->msg, why) != NULL, "\"%s\" does not say \"%s\"", err->msg, why);
}

/* Out-of-range tokens, an empty context and another model's config give NULL, say why, and
 * leave the state as it was. */
START_TEST(bad_tokens_and_wrong_models_are_refused) {
  struct tf_model m, other;
  struct tf_decoder dec;
  load_case(&m, "l2_norm_gelu");
  load_case(&other, "gelu_l2_norm");
  int V = m.cfg.vocab_size;
  int32_t tok[3] = {1, 2, V};
  decoder_init(&dec, &m, 0);
  struct tf_error err = {0};
  char want[64];
  snprintf(want, sizeof want, "token %d is not in the vocabulary [0, %d)", V, V);
  /* nothing to continue yet */
  refused(tf_decode_step(&m, &dec, 1, &err), &err, TF_EUSAGE, "no context to continue");
  refused(tf_decode_prefill(&m, &dec, tok, 0, &err), &err, TF_EUSAGE, "an empty context");
  refused(tf_decode_prefill(&m, &dec, tok, 3, &err), &err, TF_EDATA, want);
  refused(tf_decode_prefill(&other, &dec, tok, 2, &err), &err, TF_EUSAGE, "another model config");
  ck_assert_int_eq(dec.len, 0);
  ck_assert_ptr_nonnull(tf_decode_prefill(&m, &dec, tok, 2, &err));
  refused(tf_decode_step(&m, &dec, -1, &err), &err, TF_EDATA, "token -1 is not in");
  refused(tf_decode_step(&m, &dec, V, &err), &err, TF_EDATA, want);
  refused(tf_decode_step(&other, &dec, 1, &err), &err, TF_EUSAGE, "another model config");
  ck_assert_ptr_null(tf_decode_step(&m, &dec, V, NULL)); /* err may be NULL */
  ck_assert_int_eq(dec.len, 2);
  tf_decoder_free(&dec);
  tf_model_free(&other);
  tf_model_free(&m);
}
END_TEST

/* The same inputs and thread count give the same bits; 1 and 2 threads differ only by the
 * order of the partial sums of s^T V (float rounding, ~1e-7 relative). */
START_TEST(decoding_is_repeatable_and_thread_count_changes_only_rounding) {
  struct tf_model m;
  load_case(&m, "l2_norm_gelu");
  int S = m.cfg.seq_len, V = m.cfg.vocab_size;
  int32_t tok[64];
  float *out[3];
  tf_test_random_tokens(tok, S, V, 3);
  static const int threads[3] = {2, 2, 1};
  for (int r = 0; r < 3; r++) {
    struct tf_decoder dec;
    tf_set_threads(threads[r]);
    decoder_init(&dec, &m, 0);
    const float *l = tf_decode_prefill(&m, &dec, tok, 2, NULL);
    for (int t = 2; t < S; t++) l = tf_decode_step(&m, &dec, tok[t], NULL);
    out[r] = malloc((size_t)V * sizeof(float));
    memcpy(out[r], l, (size_t)V * sizeof(float));
    tf_decoder_free(&dec);
  }
  tf_set_threads(2);
  ck_assert_mem_eq(out[0], out[1], (size_t)V * sizeof(float));
  ck_assert_msg(fd_rel_error(out[2], out[0], V) <= 1e-6, "1 thread vs 2: %.3g",
                fd_rel_error(out[2], out[0], V));
  for (int r = 0; r < 3; r++) free(out[r]);
  tf_model_free(&m);
}
END_TEST

/* One norm's model of tf_test_team_config: each decoded row on a team of 2 threads, one
 * parallel region a row (per-thread residuals and partial sums, the heads shared out): every
 * step matches the full forward (measured: below 1e-6 of max |logit|; init std 0.1, as at 0.2
 * softmax's rows are sharp enough that 1 thread too misses TOL); the same again gives the same
 * bits; 1 thread differs only by rounding. A prefill of one row, then steps through a slide. */
START_TEST(rows_on_a_team_match_full_forward) {
  static const enum tf_norm norms[] = {TF_NORM_L2_GELU, TF_NORM_GELU_L2, TF_NORM_SOFTMAX};
  struct tf_model_config mc = tf_test_team_config();
  struct tf_config cfg;
  struct tf_model m;
  struct tf_error err = {0};
  mc.norm = norms[_i];
  tf_config_default(&cfg);
  cfg.init.std = 0.1;
  ck_assert_int_eq(tf_model_create(&m, &mc, &err), TF_OK);
  tf_model_init(&m, &cfg.init);
  int S = mc.seq_len, V = mc.vocab_size, n = S + S / 2;
  size_t work = 2 * (size_t)mc.d_model * (3 * mc.tokens[0] + mc.tokens[1] + mc.tokens[2]);
  ck_assert(work >= TF_PAR_MIN); /* the team's size, as decode.c's row_work */
  int32_t tok[64];
  float *ref = malloc((size_t)S * V * sizeof *ref), *last[3];
  tf_test_random_tokens(tok, n, V, 90 + _i);
  tf_test_full_logits(&m, tok, S, ref);
  static const int threads[3] = {2, 2, 1};
  for (int r = 0; r < 3; r++) {
    struct tf_decoder dec;
    tf_set_threads(threads[r]);
    decoder_init(&dec, &m, 0);
    const float *l = tf_decode_prefill(&m, &dec, tok, 1, NULL);
    for (int t = 1; l && t < n; t++) {
      if (t < S) {
        double e = fd_rel_error(l, ref + (size_t)(t - 1) * V, V);
        ck_assert_msg(e <= TOL, "norm %d, %d threads: position %d off by %.3g", _i, threads[r],
                      t - 1, e);
      }
      l = tf_decode_step(&m, &dec, tok[t], NULL);
    }
    ck_assert_ptr_nonnull(l);
    ck_assert_int_eq(dec.slides, 1);
    last[r] = malloc((size_t)V * sizeof(float));
    memcpy(last[r], l, (size_t)V * sizeof(float));
    tf_decoder_free(&dec);
  }
  tf_set_threads(2);
  ck_assert_mem_eq(last[0], last[1], (size_t)V * sizeof(float));
  ck_assert_msg(fd_rel_error(last[2], last[0], V) <= 1e-6, "1 thread vs 2: %.3g",
                fd_rel_error(last[2], last[0], V));
  for (int r = 0; r < 3; r++) free(last[r]);
  free(ref);
  tf_model_free(&m);
}
END_TEST

START_TEST(absurd_decoder_sizes_and_configs_are_refused) {
  struct tf_model_config c = {.vocab_size = 256,
                              .d_model = 4096,
                              .n_layers = 64,
                              .n_heads = 32,
                              .seq_len = 1 << 24,
                              .tokens = {4096, 4096, 16384},
                              .rotary_pct = 0.25,
                              .rotary_base = 10000};
  struct tf_decoder dec;
  struct tf_error err = {0};
  ck_assert_int_eq(tf_decoder_create(&dec, &c, 0, &err), TF_ENOMEM);
  ck_assert_msg(strstr(err.msg, "GiB"), "%s", err.msg);
  ck_assert_ptr_null(dec.mem);
  c.n_heads = 3; /* 4096 channels do not split into 3 heads */
  ck_assert_int_eq(tf_decoder_create(&dec, &c, 0, &err), TF_ECONFIG);
}
END_TEST

/* ---------------------------------------------------------------- gemv */

/* |got - want| <= 1e-5 of sum |terms| (float sums of up to 1000 terms in another order
 * stay within ~1e-6 of it), entry by entry. */
static void assert_close(const float *got, const double *want, const double *mag, int n,
                         const char *what) {
  for (int i = 0; i < n; i++)
    ck_assert_msg(fabs(got[i] - want[i]) <= 1e-5 * mag[i] + 1e-30, "%s[%d]: %.9g, want %.9g", what,
                  i, got[i], want[i]);
}

/* y = M x and y = beta y + s^T M against loops in double, odd shapes, 1 to 3 threads. */
START_TEST(gemv_matches_plain_loops) {
  static const int shapes[][2] = {{1, 1}, {37, 19}, {64, 768}, {3, 1000}, {257, 33}};
  int rows = shapes[_i][0], cols = shapes[_i][1];
  float *M = malloc((size_t)rows * cols * sizeof *M), *x = malloc(cols * sizeof *x);
  float *s = malloc(rows * sizeof *s), *y = malloc((rows + cols) * sizeof *y);
  float *partial = malloc(3 * (size_t)cols * sizeof *partial);
  double *want = malloc((rows + cols) * sizeof *want), *mag = malloc((rows + cols) * sizeof *mag);
  fd_fill(M, (size_t)rows * cols, 1.0f, 1);
  fd_fill(x, cols, 1.0f, 2);
  fd_fill(s, rows, 1.0f, 3);
  for (int threads = 1; threads <= 3; threads++) {
    tf_gemv(y, M, x, rows, cols, threads);
    for (int i = 0; i < rows; i++) {
      want[i] = mag[i] = 0;
      for (int j = 0; j < cols; j++) {
        want[i] += (double)M[(size_t)i * cols + j] * x[j];
        mag[i] += fabs((double)M[(size_t)i * cols + j] * x[j]);
      }
    }
    assert_close(y, want, mag, rows, "M x");
    for (int pass = 0; pass < 2; pass++) { /* beta 0 over garbage, then beta 0.5 */
      float beta = pass ? 0.5f : 0.0f;
      for (int j = 0; j < cols; j++) {
        want[j] = pass ? 0.5 * y[j] : 0, mag[j] = fabs(want[j]);
        if (!pass) y[j] = NAN;
        for (int i = 0; i < rows; i++) {
          want[j] += (double)s[i] * M[(size_t)i * cols + j];
          mag[j] += fabs((double)s[i] * M[(size_t)i * cols + j]);
        }
      }
      tf_gemv_t(y, beta, s, M, rows, cols, partial, threads);
      assert_close(y, want, mag, cols, "beta y + s^T M");
    }
  }
  free(M), free(x), free(s), free(y), free(partial), free(want), free(mag);
}
END_TEST

static Suite *decode_suite(void) {
  Suite *s = suite_create("decode");
  TCase *tc = tcase_create("decode");
  tcase_set_timeout(tc, 120);
  tcase_add_loop_test(tc, step_by_step_logits_match_full_forward, 0, N_CASES);
  tcase_add_test(tc, chunked_prefill_matches_full_forward);
  tcase_add_loop_test(tc, window_slides_and_matches_reencoded_forward, 0, N_CASES);
  tcase_add_loop_test(tc, greedy_decoding_equals_full_forward_argmax, 0, N_CASES);
  tcase_add_test(tc, long_prompt_keeps_its_last_context);
  tcase_add_test(tc, bad_tokens_and_wrong_models_are_refused);
  tcase_add_test(tc, decoding_is_repeatable_and_thread_count_changes_only_rounding);
  tcase_add_loop_test(tc, rows_on_a_team_match_full_forward, 0, 3);
  tcase_add_test(tc, absurd_decoder_sizes_and_configs_are_refused);
  tcase_add_loop_test(tc, gemv_matches_plain_loops, 0, 5);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  return tf_test_run(decode_suite());
}
