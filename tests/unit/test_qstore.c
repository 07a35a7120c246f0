/* test_qstore.c: checkpoints of bf16 and q8 weights (lib/qstore.c, model_io.c): a converted
 * model saved and loaded back holds the same bytes, decodes to the same logits bit for bit,
 * and loaded in float equals the f32 checkpoint rounded at load; the loaders that need f32
 * refuse such a file, and --weights that cannot be made from it is refused. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "quant.h"
#include "suite.h"
#include "tokenformer.h"

/* Case c: 0 the tiny config (d 16: rows padded to a q8 block), 1 the same at d 64 (no
 * padding), randomly initialised. */
static void model_of(struct tf_model *m, int c) {
  struct tf_error err = {0};
  struct tf_model_config mc = tf_test_tiny_config();
  struct tf_config cfg;
  if (c == 1) mc.d_model = 64;
  tf_config_default(&cfg);
  cfg.init.std = 0.3;
  ck_assert_int_eq(tf_model_create(m, &mc, &err), TF_OK);
  tf_model_init(m, &cfg.init);
}

/* path: a new file name in $TMPDIR. */
static void tmp_file(char *path, size_t n, const char *what) {
  char name[64];
  snprintf(name, sizeof name, "test_qstore.%d.%s.tfz", (int)getpid(), what);
  tf_test_tmp_path(path, n, name);
}

/* The model of case c saved as f32 at a new path f32, and converted to w and saved at a new
 * path qpath (both of 512 bytes). */
static void save_both(int c, enum tf_weights w, char *f32, char *qpath) {
  struct tf_model m;
  struct tf_error err = {0};
  tmp_file(f32, 512, "f32");
  tmp_file(qpath, 512, tf_weights_name(w));
  model_of(&m, c);
  ck_assert_msg(tf_model_save(&m, f32, TF_COMPRESS_HUFFMAN, &err) == TF_OK, "%s", err.msg);
  ck_assert_int_eq(tf_model_convert_weights(&m, w, &err), TF_OK);
  ck_assert_msg(tf_model_save(&m, qpath, TF_COMPRESS_HUFFMAN, &err) == TF_OK, "%s", err.msg);
  tf_model_free(&m);
}

/* m loaded from path by tf_model_load_run with want and use; its values in format values. */
static void load_run(struct tf_model *m, const char *path, enum tf_weights want,
                     enum tf_weights_use use, enum tf_weights values) {
  struct tf_error err = {0};
  enum tf_weights got = TF_NWEIGHTS;
  ck_assert_msg(tf_model_load_run(m, path, want, use, &got, &err) == TF_OK, "%s", err.msg);
  ck_assert_int_eq(got, values);
}

static void same_matrix(const struct tf_qmat *a, const struct tf_qmat *b) {
  ck_assert_int_eq(a->fmt, b->fmt);
  ck_assert_int_eq(a->rows, b->rows);
  ck_assert_int_eq(a->cp, b->cp);
  size_t n = (size_t)a->rows * a->cp;
  if (a->fmt == TF_WEIGHTS_BF16) {
    ck_assert(memcmp(a->bf16, b->bf16, n * 2) == 0);
  } else {
    ck_assert(memcmp(a->q, b->q, n) == 0);
    ck_assert(memcmp(a->scale, b->scale, n / TF_Q8_BLOCK * sizeof(float)) == 0);
  }
}

/* Every position's logits of decoding tokens with a and b, bit for bit. */
static void same_logits(const struct tf_model *a, const struct tf_model *b) {
  struct tf_decoder da, db;
  struct tf_error err = {0};
  int S = a->cfg.seq_len, V = a->cfg.vocab_size, P = S / 2;
  int32_t tok[64];
  ck_assert_int_le(S, 64);
  tf_test_random_tokens(tok, S, V, 7);
  ck_assert_int_eq(tf_decoder_create(&da, &a->cfg, 3, &err), TF_OK);
  ck_assert_int_eq(tf_decoder_create(&db, &b->cfg, 3, &err), TF_OK);
  for (int t = P - 1; t < S; t++) {
    const float *la =
        t == P - 1 ? tf_decode_prefill(a, &da, tok, P, NULL) : tf_decode_step(a, &da, tok[t], NULL);
    const float *lb =
        t == P - 1 ? tf_decode_prefill(b, &db, tok, P, NULL) : tf_decode_step(b, &db, tok[t], NULL);
    ck_assert(la && lb);
    ck_assert_msg(memcmp(la, lb, (size_t)V * sizeof *la) == 0, "position %d differs", t);
  }
  tf_decoder_free(&da);
  tf_decoder_free(&db);
}

/* Stored weights load into the bytes the conversion at load makes, and decode alike. */
START_TEST(stored_weights_equal_conversion_at_load) {
  char f32[512], qp[512];
  for (enum tf_weights w = TF_WEIGHTS_BF16; w <= TF_WEIGHTS_Q8; w++) {
    save_both(_i, w, f32, qp);
    struct tf_model conv, st;
    load_run(&conv, f32, w, TF_USE_CONVERTED, w);
    load_run(&st, qp, TF_WEIGHTS_STORED, TF_USE_CONVERTED, w);
    ck_assert_int_eq(st.weights, w);
    ck_assert_ptr_null(st.params);
    ck_assert_uint_eq(st.qw->bytes, conv.qw->bytes);
    same_matrix(&st.qw->embed, &conv.qw->embed);
    for (int l = 0; l < st.cfg.n_layers; l++)
      for (int s = 0; s < TF_NSLOTS; s++) {
        same_matrix(&st.qw->key[l][s], &conv.qw->key[l][s]);
        same_matrix(&st.qw->value[l][s], &conv.qw->value[l][s]);
      }
    ck_assert(memcmp(st.qw->final_norm, conv.qw->final_norm,
                     2 * (size_t)st.cfg.d_model * sizeof(float)) == 0);
    same_logits(&st, &conv);
    tf_model_free(&st);
    /* the same format asked for by name is the stored one */
    load_run(&st, qp, w, TF_USE_CONVERTED, w);
    same_logits(&st, &conv);
    tf_model_free(&st);
    tf_model_free(&conv);
    unlink(f32);
    unlink(qp);
  }
}
END_TEST

/* In float (tf-eval, or --weights f32): the values the f32 checkpoint rounded at load has. */
START_TEST(stored_weights_in_float_equal_rounding_at_load) {
  char f32[512], qp[512];
  for (enum tf_weights w = TF_WEIGHTS_BF16; w <= TF_WEIGHTS_Q8; w++) {
    save_both(_i, w, f32, qp);
    struct tf_model r, a, b;
    load_run(&r, f32, w, TF_USE_ROUNDED, w);
    load_run(&a, qp, TF_WEIGHTS_STORED, TF_USE_ROUNDED, w);
    load_run(&b, qp, TF_WEIGHTS_F32, TF_USE_CONVERTED, w);
    ck_assert(a.params && b.params && !a.qw && !b.qw);
    ck_assert_int_eq(a.weights, TF_WEIGHTS_F32);
    ck_assert(memcmp(a.params, r.params, r.n_params * sizeof(float)) == 0);
    ck_assert(memcmp(b.params, r.params, r.n_params * sizeof(float)) == 0);
    tf_model_free(&r), tf_model_free(&a), tf_model_free(&b);
    unlink(f32);
    unlink(qp);
  }
}
END_TEST

/* Training, growing and exporting load f32 only; a format that cannot be made from the stored
 * one is refused; tf-inspect --verify passes the file. */
START_TEST(stored_weights_are_for_inference_only) {
  char f32[512], qp[512];
  struct tf_error err = {0};
  struct tf_model m;
  save_both(0, TF_WEIGHTS_Q8, f32, qp);
  ck_assert_int_eq(tf_model_load(&m, qp, &err), TF_EDATA);
  ck_assert_msg(strstr(err.msg, "stores q8 weights") && strstr(err.msg, "inference only") &&
                    strstr(err.msg, qp),
                "%s", err.msg);
  ck_assert_int_eq(tf_model_load_weights(&m, qp, &err), TF_EDATA);
  ck_assert_int_eq(tf_model_load_run(&m, qp, TF_WEIGHTS_BF16, TF_USE_CONVERTED, NULL, &err),
                   TF_EUSAGE);
  ck_assert_msg(strstr(err.msg, "--weights bf16"), "%s", err.msg);
  ck_assert_msg(tf_model_verify(qp, &err) == TF_OK, "%s", err.msg);
  struct tf_ckpt_reader *r;
  ck_assert_int_eq(tf_ckpt_open(&r, qp, &err), TF_OK);
  ck_assert_str_eq(tf_st_meta(tf_ckpt_header(r), "weights"), "q8");
  const struct tf_st_tensor *t = tf_st_find(tf_ckpt_header(r), "embed.weight.scales");
  ck_assert_ptr_nonnull(t);
  ck_assert_int_eq(t->dtype, TF_F32);
  ck_assert_int_eq(t->shape[1], 1); /* d 16: one block per row */
  ck_assert_int_eq(tf_st_find(tf_ckpt_header(r), "embed.weight")->dtype, TF_I8);
  ck_assert_int_eq(tf_st_find(tf_ckpt_header(r), "embed.weight")->shape[1], 16);
  tf_ckpt_close(r);
  unlink(f32);
  unlink(qp);
}
END_TEST

static Suite *qstore_suite(void) {
  Suite *s = suite_create("qstore");
  TCase *tc = tcase_create("qstore");
  tcase_set_timeout(tc, 120);
  tcase_add_loop_test(tc, stored_weights_equal_conversion_at_load, 0, 2);
  tcase_add_loop_test(tc, stored_weights_in_float_equal_rounding_at_load, 0, 2);
  tcase_add_test(tc, stored_weights_are_for_inference_only);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  return tf_test_run(qstore_suite());
}
