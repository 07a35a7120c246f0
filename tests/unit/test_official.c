/* test_official.c: the released checkpoints to a model and back (lib/official.c,
 * lib/official_cfg.c) on tests/fixtures/official: every tensor bitwise equal to what PyTorch
 * holds, the loss on the fixture's ids within 1e-5 of the official forward's (float64),
 * configs that disagree refused, export -> import bitwise, n_ref != n refused without
 * rescale, and configs/150M.yaml ... 1.5B.yaml agreeing with the released shapes. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "official_fixture.h"
#include "suite.h"
#include "torch_internal.h"
#include "model_internal.h"
#include "net.h"

/* Every parameter of m equals, bit for bit, expected prefix + its official name. */
static void same_as_expected(const struct tf_model *m, const char *prefix) {
  struct official_expected e;
  official_expected_load(&e);
  for (int i = 0; i < m->n_tensors; i++) {
    const struct tf_tensor *t = &m->tensors[i];
    char name[160], full[200];
    tf_official_name(t, m->cfg.n_layers, name, sizeof name);
    snprintf(full, sizeof full, "%s%s", prefix, name);
    ck_assert_msg(
        !memcmp(m->params + t->offset, official_expected_get(&e, full, NULL), t->numel * 4),
        "%s differs", full);
  }
  official_expected_free(&e);
}

static void import_ok(struct tf_model *m, const char *file, const char *config,
                      struct tf_official_info *info) {
  struct tf_error err = {0};
  ck_assert_msg(tf_official_import(m, official_path(file), config ? official_path(config) : NULL,
                                   info, &err) == TF_OK,
                "%s: %s", file, err.msg);
}

START_TEST(imports_are_bitwise_equal_to_pytorch) {
  static const struct {
    const char *file, *config, *prefix;
    int nested, widened, ignored;
  } cases[] = {
      {"plain.bin", "config.json", "", 0, 0, 0},
      {"fp16.bin", "config.json", "half.", 0, 23, 0},
      {"bf16.bin", "config.json", "bf16.", 0, 23, 0},
      {"views.bin", "neox.yml", "", 0, 0, 0},
      {"deepspeed.pt", "neox.yml", "half.", 1, 23, 1},
  };
  for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
    struct tf_model m;
    struct tf_official_info info;
    import_ok(&m, cases[k].file, cases[k].config, &info);
    ck_assert_int_eq(m.cfg.vocab_size, 96);
    ck_assert_int_eq(m.cfg.n_heads, 2);
    ck_assert_int_eq(m.cfg.seq_len, 16);
    ck_assert_int_eq(tf_model_config_rotary_dims(&m.cfg), 4);
    ck_assert_int_eq(m.cfg.tokens[TF_KIND_PROJ], 20);
    ck_assert_int_eq(m.cfg.ref_tokens[TF_KIND_FFN], 40);
    ck_assert_str_eq(info.format, "torch");
    ck_assert_int_eq(info.nested, cases[k].nested);
    ck_assert_int_eq(info.widened, cases[k].widened);
    ck_assert_int_eq(info.ignored, cases[k].ignored);
    ck_assert_uint_eq(strlen(info.sha256), 64);
    same_as_expected(&m, cases[k].prefix);
    tf_model_free(&m);
  }
}
END_TEST

/* The official forward in float64 (tests/reference/make_official.py) against ours. */
START_TEST(loss_matches_the_official_forward) {
  struct official_expected e;
  struct tf_model m;
  struct tf_acts a;
  struct tf_error err = {0};
  enum { B = 3, T = 12, V = 96 };
  official_expected_load(&e);
  import_ok(&m, "plain.bin", "config.json", NULL);
  ck_assert_int_eq(tf_acts_init(&a, &m.cfg, B, T, &err), TF_OK);
  const int64_t *ids = official_expected_get(&e, "ids", NULL);
  int32_t in[B * T], tg[B * T];
  for (int b = 0; b < B; b++)
    for (int t = 0; t < T; t++)
      in[b * T + t] = (int32_t)ids[b * (T + 1) + t],
                 tg[b * T + t] = (int32_t)ids[b * (T + 1) + t + 1];
  double loss = tf_net_forward(&m, &a, in, tg, B, T);
  double want = *(const double *)official_expected_get(&e, "loss", NULL);
  ck_assert_msg(fabs(loss - want) <= 1e-5 * fabs(want), "loss %.9f, official %.9f", loss, want);
  const double *logits = official_expected_get(&e, "logits", NULL);
  double worst = 0, scale = 0;
  for (int i = 0; i < B * T * V; i++) {
    worst = fmax(worst, fabs(a.logits[i] - logits[i]));
    scale = fmax(scale, fabs(logits[i]));
  }
  ck_assert_msg(worst <= 1e-5 * scale, "logits differ by %g of %g", worst, scale);
  tf_acts_release(&a);
  tf_model_free(&m);
  official_expected_free(&e);
}
END_TEST

static char *write_temp(const char *text) {
  static char path[4096];
  tf_test_tmp_path(path, sizeof path, "tf_official_XXXXXX");
  int fd = mkstemp(path);
  ck_assert_int_ge(fd, 0);
  ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
  close(fd);
  return path;
}

START_TEST(configs_that_disagree_are_refused) {
  static const struct {
    const char *text;
    int code;
    const char *reason;
  } bad[] = {
      {"{\"num_attention_heads\": 2, \"hidden_size\": 64}", TF_ECONFIG,
       "hidden_size is 64, the checkpoint's tensors say 32"},
      {"{\"num_attention_heads\": 2, \"qkv_slot_num\": 20}", TF_ECONFIG, "qkv_slot_num is 20"},
      {"{\"num_attention_heads\": 2, \"norm\": \"layernorm\"}", TF_ECONFIG,
       "norm is \"layernorm\", expected layernorm_nonparam"},
      {"{\"num_attention_heads\": 2, \"no_weight_tying\": true}", TF_ECONFIG, "no_weight_tying"},
      {"{\"num_attention_heads\": 2, \"norm_activation_type\": \"relu\"}", TF_ECONFIG,
       "norm_activation_type"},
      {"{\"hidden_size\": 32}", TF_ECONFIG, "num_attention_heads is missing"},
      {"{\"num_attention_heads\": 3}", TF_ECONFIG, "d_model"},
      {"[1, 2]", TF_ECONFIG, "not a mapping"},
      {"{\"num_attention_heads\": 2,", TF_ECONFIG, ":"},
  };
  for (size_t k = 0; k < sizeof bad / sizeof *bad; k++) {
    struct tf_model m;
    struct tf_error err = {0};
    char *path = write_temp(bad[k].text);
    int rc = tf_official_import(&m, official_path("plain.bin"), path, NULL, &err);
    unlink(path);
    ck_assert_msg(rc == bad[k].code && strstr(err.msg, bad[k].reason), "case %zu: %d %s", k, rc,
                  err.msg);
  }
  struct tf_model m;
  struct tf_error err = {0};
  ck_assert_int_eq(tf_official_import(&m, official_path("plain.bin"), NULL, NULL, &err), TF_EUSAGE);
  ck_assert_ptr_nonnull(strstr(err.msg, "not a released model's shapes"));
  ck_assert_int_eq(
      tf_official_import(&m, official_path("plain.bin"), official_path("none.json"), NULL, &err),
      TF_ENOINPUT);
  ck_assert_int_eq(tf_official_import(&m, official_path("bad/os_system.bin"),
                                      official_path("config.json"), NULL, &err),
                   TF_EDATA);
  ck_assert_int_eq(tf_official_import(&m, official_path("bad/bare.pkl"), NULL, NULL, &err),
                   TF_EDATA);
  ck_assert_ptr_nonnull(strstr(err.msg, "bare pickle"));
}
END_TEST

/* Two fresh temporary files (their names into cfg and out, 4096 bytes each): m's config.json
 * written to cfg, out for an export. */
static void config_and_output(const struct tf_model *m, char *cfg, char *out) {
  struct tf_error err = {0};
  tf_test_tmp_path(cfg, 4096, "tf_official_cfg_XXXXXX");
  tf_test_tmp_path(out, 4096, "tf_official_out_XXXXXX");
  close(mkstemp(cfg));
  close(mkstemp(out));
  ck_assert_msg(tf_official_write_config(&m->cfg, cfg, &err) == TF_OK, "%s", err.msg);
}

START_TEST(export_then_import_is_bitwise_both_formats) {
  struct tf_model m, back;
  struct tf_error err = {0};
  import_ok(&m, "plain.bin", "config.json", NULL);
  char cfg[4096], out[4096];
  config_and_output(&m, cfg, out);
  for (int f = 0; f < 2; f++) {
    ck_assert_msg(tf_official_export(&m, out, (enum tf_official_format)f, 0, &err) == TF_OK, "%s",
                  err.msg);
    struct tf_official_info info;
    ck_assert_msg(tf_official_import(&back, out, cfg, &info, &err) == TF_OK, "%s", err.msg);
    ck_assert_str_eq(info.format, f ? "safetensors" : "torch");
    ck_assert(!memcmp(&back.cfg, &m.cfg, sizeof m.cfg));
    ck_assert(!memcmp(back.params, m.params, m.n_params * sizeof *m.params));
    tf_model_free(&back);
  }
  m.cfg.ref_tokens[TF_KIND_FFN] = 32; /* as after exact growth */
  ck_assert_int_eq(tf_official_export(&m, out, TF_OFFICIAL_TORCH, 0, &err), TF_EDATA);
  ck_assert_ptr_nonnull(strstr(err.msg, "--rescale"));
  ck_assert_int_eq(tf_official_export(&m, out, TF_OFFICIAL_TORCH, 1, &err), TF_OK);
  unlink(cfg);
  unlink(out);
  tf_model_free(&m);
}
END_TEST

/* A source that turns out bad partway (a NaN in a tensor of an 8 MiB safetensors file) is
 * refused with its own error; the hash running beside the read is stopped, not waited for, and
 * leaves nothing behind (make check SANITIZE=1, tests/valgrind/run.sh). Whether the hash had
 * finished first depends on timing, so this checks the outcome, not the time. */
START_TEST(a_source_bad_partway_is_refused) {
  struct tf_model m, back;
  struct tf_model_config c = tf_test_tiny_config();
  struct tf_error err = {0};
  c.vocab_size = 1 << 17; /* 8 MiB of embedding */
  ck_assert_msg(tf_model_create(&m, &c, &err) == TF_OK, "%s", err.msg);
  char cfg[4096], out[4096];
  config_and_output(&m, cfg, out);
  ck_assert_msg(tf_official_export(&m, out, TF_OFFICIAL_SAFETENSORS, 0, &err) == TF_OK, "%s",
                err.msg);
  tf_model_free(&m);
  FILE *f = fopen(out, "r+b");
  unsigned char len[8];
  ck_assert_uint_eq(fread(len, 1, 8, f), 8);
  uint64_t hlen = 0;
  for (int i = 7; i >= 0; i--) hlen = hlen << 8 | len[i];
  const float nan = NAN;
  ck_assert_int_eq(fseek(f, (long)(8 + hlen), SEEK_SET), 0); /* the first tensor's first value */
  ck_assert_uint_eq(fwrite(&nan, sizeof nan, 1, f), 1);
  ck_assert_int_eq(fclose(f), 0);
  struct tf_official_info info;
  ck_assert_int_eq(tf_official_import(&back, out, cfg, &info, &err), TF_EDATA);
  ck_assert_msg(strstr(err.msg, "element 0 is nan") && strstr(err.msg, out), "%s", err.msg);
  unlink(cfg);
  unlink(out);
}
END_TEST

/* configs/150M.yaml ... 1.5B.yaml build the shapes tf-convert gives the released files. */
START_TEST(shipped_configs_are_the_released_shapes) {
  static const struct {
    const char *file;
    int d_h;
    uint64_t params;
  } want[] = {{"configs/150M.yaml", 64, 151881216},
              {"configs/450M.yaml", 64, 0},
              {"configs/900M.yaml", 80, 903252480},
              {"configs/1.5B.yaml", 96, 0}};
  for (size_t k = 0; k < 4; k++) {
    struct tf_config c;
    struct tf_error err = {0};
    tf_config_default(&c);
    ck_assert_msg(tf_config_load(&c, want[k].file, &err) == TF_OK, "%s", err.msg);
    struct tf_model_config r;
    memset(&r, 0, sizeof r);
    r.vocab_size = 50304;
    r.d_model = c.model.d_model;
    r.n_layers = c.model.n_layers;
    for (int i = 0; i < TF_NKINDS; i++) r.tokens[i] = r.ref_tokens[i] = c.model.tokens[i];
    ck_assert_msg(tf_official_released(&r), "%s is not a released shape", want[k].file);
    ck_assert_int_eq(c.model.vocab_size, 50304);
    ck_assert_int_eq(c.model.n_heads, r.n_heads);
    ck_assert_int_eq(c.model.d_model / c.model.n_heads, want[k].d_h);
    ck_assert_int_eq(c.model.seq_len, r.seq_len);
    ck_assert(c.model.rotary_pct == r.rotary_pct && c.model.rotary_base == r.rotary_base);
    ck_assert_int_eq(c.model.norm, r.norm);
    for (int i = 0; i < TF_NKINDS; i++) /* n_ref unset (0) means n: a model never grown */
      ck_assert(c.model.ref_tokens[i] == 0 || c.model.ref_tokens[i] == r.tokens[i]);
    if (want[k].params) ck_assert_uint_eq(tf_param_count(&c.model), want[k].params);
  }
}
END_TEST

static Suite *official_suite(void) {
  Suite *s = suite_create("official");
  TCase *tc = tcase_create("import");
  tcase_add_test(tc, imports_are_bitwise_equal_to_pytorch);
  tcase_add_test(tc, loss_matches_the_official_forward);
  tcase_add_test(tc, configs_that_disagree_are_refused);
  tcase_add_test(tc, a_source_bad_partway_is_refused);
  suite_add_tcase(s, tc);
  tc = tcase_create("export");
  tcase_add_test(tc, export_then_import_is_bitwise_both_formats);
  tcase_add_test(tc, shipped_configs_are_the_released_shapes);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  return tf_test_run(official_suite());
}
