/* test_config.c: reading a config: defaults, YAML and --set for every key, every error with
 * its line and column. Printing, JSON, cross-field checks and the shipped configs are in
 * test_config_io.c; what the model does with a config is not here. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config_fixture.h"
#include "suite.h"

/* Writes len bytes to the scratch directory as name; returns the path, in a buffer the next
 * call reuses. */
static const char *write_file(const char *name, const char *text, size_t len) {
  static char path[4096];
  scratch_path(path, sizeof path, name);
  FILE *f = fopen(path, "wb");
  ck_assert_ptr_nonnull(f);
  ck_assert_uint_eq(fwrite(text, 1, len, f), len);
  ck_assert_int_eq(fclose(f), 0);
  return path;
}

static const char *write_text(const char *name, const char *text) {
  return write_file(name, text, strlen(text));
}

/* Writes text to the scratch file name and loads it over c from the scratch directory, so
 * that relative paths read as written (tf_config_load takes them from the file's directory). */
static int load_in_scratch(struct tf_config *c, const char *name, const char *text,
                           struct tf_error *err) {
  char cwd[4096], dir[4200];
  write_text(name, text);
  ck_assert_ptr_nonnull(getcwd(cwd, sizeof cwd));
  scratch_path(dir, sizeof dir, "");
  ck_assert_int_eq(chdir(dir), 0);
  int rc = tf_config_load(c, name, err);
  ck_assert_int_eq(chdir(cwd), 0);
  return rc;
}

/* The values of unusual_config (config_fixture.c) as --set arguments and as YAML. */
static const char *const unusual_sets[] = {
    "model.vocab_size=300",
    "model.d_model=96",
    "model.n_layers=3",
    "model.n_heads=4",
    "model.seq_len=77",
    "model.qkv_tokens=40",
    "model.proj_tokens=50",
    "model.ffn_tokens=60",
    "model.qkv_ref_tokens=20",
    "model.proj_ref_tokens=25",
    "model.ffn_ref_tokens=30",
    "model.norm=softmax",
    "model.rotary_pct=0.5",
    "model.rotary_base=5e5",
    "init.seed=18446744073709551615",
    "init.std=0.01",
    "init.value_std=.3",
    "init.tokenizer=tok/neox.json",
    "train.data=corpus/a b.txt",
    "train.valid=v.txt",
    "train.log=run/log.jsonl",
    "train.batch=3",
    "train.grad_accum=5",
    "train.steps=1000000000000",
    "train.lr=3e-3",
    "train.min_lr=0.0001",
    "train.warmup=250",
    "train.weight_decay=0",
    "train.beta1=0",
    "train.beta2=0.999",
    "train.eps=1",
    "train.clip=0.0",
    "train.eval_every=0",
    "train.eval_batches=7",
    "train.save_every=1000000000",
    "train.seed=42",
    "grow.qkv_tokens=+256",
    "grow.proj_tokens=1024",
    "grow.ffn_tokens=+512",
    "grow.init=duplicate",
    "grow.rescale=true",
    "grow.keep_optimizer=true",
    "grow.seed=9",
};
#define N_UNUSUAL (sizeof unusual_sets / sizeof unusual_sets[0])

static const char unusual_yaml[] =
    "# every key, none at its default\n"
    "model:\n"
    "  vocab_size: 300\n"
    "  d_model: 96\n"
    "  n_layers: 3\n"
    "  n_heads: 4\n"
    "  seq_len: 77\n"
    "  qkv_tokens: 40\n"
    "  proj_tokens: 50\n"
    "  ffn_tokens: 60\n"
    "  qkv_ref_tokens: 20\n"
    "  proj_ref_tokens: 25\n"
    "  ffn_ref_tokens: 30\n"
    "  norm: 'softmax'\n"
    "  rotary_pct: 5.0e-1\n"
    "  rotary_base: 500000\n"
    "init: {seed: 18446744073709551615, std: 0.01, value_std: 0.3, tokenizer: tok/neox.json}\n"
    "train:\n"
    "  data: corpus/a b.txt\n"
    "  valid: 'v.txt'\n"
    "  log: \"run/log.jsonl\"\n"
    "  batch: 3\n"
    "  grad_accum: 5\n"
    "  steps: 1000000000000\n"
    "  lr: 3.0e-3\n"
    "  min_lr: 0.0001\n"
    "  warmup: 250\n"
    "  weight_decay: 0\n"
    "  beta1: 0.0\n"
    "  beta2: 0.999\n"
    "  eps: 1\n"
    "  clip: 0\n"
    "  eval_every: 0\n"
    "  eval_batches: 7\n"
    "  save_every: 1000000000\n"
    "  seed: 42\n"
    "grow: {qkv_tokens: +256, proj_tokens: 1024, ffn_tokens: \"+512\", init: duplicate,\n"
    "       rescale: true, keep_optimizer: TRUE, seed: 9}\n";

START_TEST(defaults_are_the_documented_ones) {
  struct tf_config c;
  tf_config_default(&c);
  ck_assert_int_eq(c.model.vocab_size, 256);
  ck_assert_int_eq(c.model.d_model, 256);
  ck_assert_int_eq(c.model.n_layers, 6);
  ck_assert_int_eq(c.model.n_heads, 8);
  ck_assert_int_eq(c.model.seq_len, 256);
  ck_assert_int_eq(c.model.tokens[TF_KIND_QKV], 256);
  ck_assert_int_eq(c.model.tokens[TF_KIND_PROJ], 256);
  ck_assert_int_eq(c.model.tokens[TF_KIND_FFN], 1024);
  for (int k = 0; k < TF_NKINDS; k++) ck_assert_int_eq(c.model.ref_tokens[k], 0);
  ck_assert_int_eq(c.model.norm, TF_NORM_L2_GELU);
  /* exact: defaults are stored, not computed */
  ck_assert_double_eq(c.model.rotary_pct, 0.25);
  ck_assert_double_eq(c.model.rotary_base, 10000);
  ck_assert_uint_eq(c.init.seed, 1);
  ck_assert_double_eq(c.init.std, 0.02);
  ck_assert_double_eq(c.init.value_std, 0);
  ck_assert_str_eq(c.train.data, "data/kjv-train.txt");
  ck_assert_str_eq(c.train.valid, "data/kjv-valid.txt");
  ck_assert_str_eq(c.train.log, "");
  ck_assert_int_eq(c.train.batch, 16);
  ck_assert_int_eq(c.train.grad_accum, 1);
  ck_assert_int_eq(c.train.steps, 2000);
  ck_assert_double_eq(c.train.lr, 6e-4);
  ck_assert_double_eq(c.train.min_lr, 6e-5);
  ck_assert_double_eq(c.train.warmup, 0.01);
  ck_assert_double_eq(c.train.weight_decay, 0.1);
  ck_assert_double_eq(c.train.beta1, 0.9);
  ck_assert_double_eq(c.train.beta2, 0.95);
  ck_assert_double_eq(c.train.eps, 1e-8);
  ck_assert_double_eq(c.train.clip, 1.0);
  ck_assert_int_eq(c.train.eval_every, 200);
  ck_assert_int_eq(c.train.eval_batches, 20);
  ck_assert_int_eq(c.train.save_every, 500);
  ck_assert_uint_eq(c.train.seed, 1);
  for (int k = 0; k < TF_NKINDS; k++) {
    ck_assert_int_eq(c.grow.tokens[k], 0);
    ck_assert_int_eq(c.grow.relative[k], 0);
  }
  ck_assert_int_eq(c.grow.init, TF_GROW_EXACT);
  ck_assert_int_eq(c.grow.rescale, 0);
  ck_assert_int_eq(c.grow.keep_optimizer, 0);
  ck_assert_uint_eq(c.grow.seed, 1);
  struct tf_error err = {0};
  ck_assert_int_eq(tf_config_check(&c, &err), TF_OK);
}
END_TEST

START_TEST(every_key_loads_from_yaml) {
  struct tf_config c, want;
  struct tf_error err = {0};
  tf_config_default(&c);
  unusual_config(&want);
  ck_assert_msg(load_in_scratch(&c, "all.yaml", unusual_yaml, &err) == TF_OK, "%s", err.msg);
  assert_same_config(&c, &want);
}
END_TEST

START_TEST(every_key_is_settable_with_set) {
  struct tf_config c, want, one, defaults;
  struct tf_error err = {0};
  tf_config_default(&c);
  tf_config_default(&defaults);
  unusual_config(&want);
  for (size_t i = 0; i < N_UNUSUAL; i++) {
    ck_assert_msg(tf_config_set(&c, unusual_sets[i], &err) == TF_OK, "%s", err.msg);
    memcpy(&one, &defaults, sizeof one); /* each assignment alone changes the struct */
    ck_assert_int_eq(tf_config_set(&one, unusual_sets[i], &err), TF_OK);
    ck_assert_msg(memcmp(&one, &defaults, sizeof one) != 0, "%s changed nothing", unusual_sets[i]);
  }
  assert_same_config(&c, &want);
}
END_TEST

/* One bad file: its text, the status, and the message after "PATH". */
struct bad_yaml {
  const char *text;
  int code;
  const char *msg;
};

static const struct bad_yaml bad_yamls[] = {
    {"model:\n  d_model: abc\n", TF_ECONFIG,
     ":2:12: model.d_model: expected an integer in [1, 65536], got \"abc\""},
    {"model:\n  n_layers: 1.5\n", TF_ECONFIG,
     ":2:13: model.n_layers: expected an integer in [1, 256], got \"1.5\""},
    {"model:\n  seq_len: 12x\n", TF_ECONFIG,
     ":2:12: model.seq_len: expected an integer in [1, 1048576], got \"12x\""},
    {"model:\n  vocab_size: 99999999999999999999\n", TF_ECONFIG,
     ":2:15: model.vocab_size: expected an integer in [1, 16777216], got "
     "\"99999999999999999999\""},
    {"model:\n  d_model: 0\n", TF_ECONFIG,
     ":2:12: model.d_model: expected an integer in [1, 65536], got \"0\""},
    {"model:\n  d_model: 064\n", TF_ECONFIG,
     ":2:12: model.d_model: expected an integer in [1, 65536], got \"064\""},
    {"model:\n  d_model: \"64\"\n", TF_ECONFIG,
     ":2:12: model.d_model: expected an integer in [1, 65536], got the string \"64\""},
    {"model:\n  d_model:\n", TF_ECONFIG,
     ":2:11: model.d_model: expected an integer in [1, 65536], got nothing"},
    {"model:\n  rotary_pct: 1.5\n", TF_ECONFIG,
     ":2:15: model.rotary_pct: expected a number in [0, 1], got \"1.5\""},
    {"model:\n  rotary_base: 1e999\n", TF_ECONFIG,
     ":2:16: model.rotary_base: expected a number in [1, 1000000000], got \"1e999\""},
    {"model:\n  rotary_base: .inf\n", TF_ECONFIG,
     ":2:16: model.rotary_base: expected a number in [1, 1000000000], got \".inf\""},
    {"model:\n  d_model: {a: 1}\n", TF_ECONFIG,
     ":2:12: model.d_model: expected an integer in [1, 65536], got a mapping"},
    {"init:\n  std: [1, 2]\n", TF_ECONFIG,
     ":2:8: init.std: expected a number in [0, 100], got a sequence"},
    {"model:\n  norm: relu\n", TF_ECONFIG,
     ":2:9: model.norm: expected one of l2_norm_gelu, gelu_l2_norm, softmax, got \"relu\""},
    {"init:\n  seed: -1\n", TF_ECONFIG,
     ":2:9: init.seed: expected an integer in [0, 18446744073709551615], got \"-1\""},
    {"init:\n  seed: 18446744073709551616\n", TF_ECONFIG,
     ":2:9: init.seed: expected an integer in [0, 18446744073709551615], got "
     "\"18446744073709551616\""},
    {"model:\n  d_model: 64\n  width: 3\n", TF_ECONFIG,
     ":3:3: model.width: unknown key; valid keys of model: vocab_size, d_model, n_layers, "
     "n_heads, seq_len, qkv_tokens, proj_tokens, ffn_tokens, qkv_ref_tokens, proj_ref_tokens, "
     "ffn_ref_tokens, norm, rotary_pct, rotary_base"},
    {"init:\n  sede: 3\n", TF_ECONFIG,
     ":2:3: init.sede: unknown key; valid keys of init: seed, std, key_std, value_std, "
     "tokenizer"},
    {"# comment\nsample:\n  steps: 3\n", TF_ECONFIG,
     ":2:1: sample: unknown section; valid sections: model, init, train, grow"},
    {"train:\n  step: 3\n", TF_ECONFIG,
     ":2:3: train.step: unknown key; valid keys of train: data, valid, log, batch, grad_accum, "
     "steps, lr, min_lr, warmup, weight_decay, beta1, beta2, eps, clip, eval_every, "
     "eval_batches, save_every, seed"},
    {"grow:\n  tokens: 3\n", TF_ECONFIG,
     ":2:3: grow.tokens: unknown key; valid keys of grow: qkv_tokens, proj_tokens, ffn_tokens, "
     "init, rescale, keep_optimizer, seed"},
    {"train:\n  data: [a.txt]\n", TF_ECONFIG,
     ":2:9: train.data: expected a UTF-8 string of at most 1023 bytes, got a sequence"},
    {"train:\n  log: \"a\\0b\"\n", TF_ECONFIG,
     ":2:8: train.log: expected a UTF-8 string of at most 1023 bytes, got the string "
     "\"a\\x00b\""},
    {"train:\n  batch: 0\n", TF_ECONFIG,
     ":2:10: train.batch: expected an integer in [1, 65536], got \"0\""},
    {"train:\n  steps: 1000000000001\n", TF_ECONFIG,
     ":2:10: train.steps: expected an integer in [0, 1000000000000], got \"1000000000001\""},
    {"train:\n  steps: 2e3\n", TF_ECONFIG,
     ":2:10: train.steps: expected an integer in [0, 1000000000000], got \"2e3\""},
    {"train:\n  lr: 11\n", TF_ECONFIG, ":2:7: train.lr: expected a number in (0, 10], got \"11\""},
    {"train:\n  beta2: 1\n", TF_ECONFIG,
     ":2:10: train.beta2: expected a number in [0, 1), got \"1\""},
    {"train:\n  eps: 0\n", TF_ECONFIG, ":2:8: train.eps: expected a number in (0, 1], got \"0\""},
    {"train:\n  eval_every: -1\n", TF_ECONFIG,
     ":2:15: train.eval_every: expected an integer in [0, 1000000000], got \"-1\""},
    {"grow:\n  rescale: yes\n", TF_ECONFIG,
     ":2:12: grow.rescale: expected true or false, got \"yes\" (yes, no, on and off are "
     "booleans only in YAML 1.1; write true or false)"},
    {"grow:\n  keep_optimizer: Off\n", TF_ECONFIG,
     ":2:19: grow.keep_optimizer: expected true or false, got \"Off\" (yes, no, on and off are "
     "booleans only in YAML 1.1; write true or false)"},
    {"grow:\n  rescale: 1\n", TF_ECONFIG, ":2:12: grow.rescale: expected true or false, got \"1\""},
    {"grow:\n  rescale: 'true'\n", TF_ECONFIG,
     ":2:12: grow.rescale: expected true or false, got the string \"true\""},
    {"grow:\n  rescale:\n", TF_ECONFIG, ":2:11: grow.rescale: expected true or false, got nothing"},
    {"grow:\n  ffn_tokens: -512\n", TF_ECONFIG,
     ":2:15: grow.ffn_tokens: expected a new count N or an increment +N, N an integer in "
     "[0, 16777216], got \"-512\""},
    {"grow:\n  ffn_tokens: \"+16777217\"\n", TF_ECONFIG,
     ":2:15: grow.ffn_tokens: expected a new count N or an increment +N, N an integer in "
     "[0, 16777216], got the string \"+16777217\""},
    {"grow:\n  qkv_tokens: +1.5\n", TF_ECONFIG,
     ":2:15: grow.qkv_tokens: expected a new count N or an increment +N, N an integer in "
     "[0, 16777216], got \"+1.5\""},
    {"grow:\n  qkv_tokens: ++8\n", TF_ECONFIG,
     ":2:15: grow.qkv_tokens: expected a new count N or an increment +N, N an integer in "
     "[0, 16777216], got \"++8\""},
    {"grow:\n  proj_tokens: +064\n", TF_ECONFIG,
     ":2:16: grow.proj_tokens: expected a new count N or an increment +N, N an integer in "
     "[0, 16777216], got \"+064\""},
    {"grow:\n  init: copy\n", TF_ECONFIG,
     ":2:9: grow.init: expected one of exact, random, duplicate, got \"copy\""},
    {"model:\n  d_model: 64\n  d_model: 32\n", TF_ECONFIG,
     ":3:3: model.d_model: duplicate key (first at line 2)"},
    {"model:\n  d_model: 64\ninit:\n  seed: 2\nmodel:\n  n_layers: 2\n", TF_ECONFIG,
     ":5:1: model: duplicate section (first at line 1)"},
    {"model: 5\n", TF_ECONFIG, ":1:8: model: expected a mapping of keys, got \"5\""},
    {"- model\n", TF_ECONFIG,
     ":1:1: expected a mapping of sections (model, init, train, grow), got a sequence"},
    {"model:\n  [a]: 1\n", TF_ECONFIG, ":2:3: model: expected a key name, got a sequence"},
    {"model:\n  d_model: 64\n---\ninit:\n  seed: 2\n", TF_ECONFIG,
     ":4:1: a second YAML document; a config file holds one"},
    {"model:\n  d_model: [64\n", TF_ECONFIG, ":3:1: YAML syntax error: did not find expected"},
    {"model:\n\td_model: 64\n", TF_ECONFIG,
     ":2:1: YAML syntax error: found character that cannot start any token"},
    {"model:\n  d_model: 64\n n_heads: 2\n", TF_ECONFIG, ":3:2: YAML syntax error: "},
    {"model:\n  d_model: *x\n", TF_ECONFIG, ":2:12: YAML syntax error: found undefined alias"},
};
#define N_BAD_YAML (sizeof bad_yamls / sizeof bad_yamls[0])

START_TEST(load_errors_name_line_and_column) {
  const struct bad_yaml *b = &bad_yamls[_i];
  char name[32];
  snprintf(name, sizeof name, "bad%d.yaml", _i);
  const char *path = write_text(name, b->text);
  struct tf_config c, before;
  struct tf_error err = {0};
  tf_config_default(&c);
  before = c;
  ck_assert_int_eq(tf_config_load(&c, path, &err), b->code);
  ck_assert_int_eq(err.code, b->code);
  ck_assert_msg(strncmp(err.msg, path, strlen(path)) == 0, "no path in: %s", err.msg);
  ck_assert_msg(strstr(err.msg + strlen(path), b->msg) == err.msg + strlen(path),
                "case %d:\n got  %s\n want PATH%s", _i, err.msg, b->msg);
  assert_same_config(&c, &before); /* a failed load changes nothing */
}
END_TEST

START_TEST(invalid_utf8_is_a_config_error) {
  const char text[] = "model:\n  norm: \xff\n";
  const char *path = write_file("utf8.yaml", text, sizeof text - 1);
  struct tf_config c;
  struct tf_error err = {0};
  tf_config_default(&c);
  ck_assert_int_eq(tf_config_load(&c, path, &err), TF_ECONFIG);
  ck_assert_msg(strstr(err.msg, ": byte 15: "), "%s", err.msg);
}
END_TEST

START_TEST(missing_file_or_directory_is_noinput) {
  struct tf_config c;
  struct tf_error err = {0};
  char path[4200], dir[4200];
  tf_config_default(&c);
  scratch_path(path, sizeof path, "absent.yaml");
  scratch_path(dir, sizeof dir, ".");
  ck_assert_int_eq(tf_config_load(&c, path, &err), TF_ENOINPUT);
  char want[4300];
  snprintf(want, sizeof want, "%s: cannot open: No such file or directory", path);
  ck_assert_str_eq(err.msg, want);
  ck_assert_int_eq(tf_config_load(&c, dir, &err), TF_ENOINPUT);
  snprintf(want, sizeof want, "%s: cannot open: Is a directory", dir);
  ck_assert_str_eq(err.msg, want);
}
END_TEST

START_TEST(empty_and_comment_only_files_change_nothing) {
  const char *texts[] = {"", "# nothing here\n\n", "---\n", "model:\ninit: ~\ntrain:\ngrow: {}\n"};
  for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
    struct tf_config c, want;
    struct tf_error err = {0};
    tf_config_default(&c);
    want = c;
    ck_assert_msg(tf_config_load(&c, write_text("empty.yaml", texts[i]), &err) == TF_OK, "%s",
                  err.msg);
    assert_same_config(&c, &want);
  }
}
END_TEST

START_TEST(load_merges_over_current_values) {
  struct tf_config c;
  struct tf_error err = {0};
  tf_config_default(&c);
  ck_assert_int_eq(tf_config_set(&c, "model.seq_len=99", &err), TF_OK);
  const char *path = write_text("part.yaml", "model: {d_model: 64, n_heads: 4}\n");
  ck_assert_msg(tf_config_load(&c, path, &err) == TF_OK, "%s", err.msg);
  ck_assert_int_eq(c.model.d_model, 64);
  ck_assert_int_eq(c.model.n_heads, 4);
  ck_assert_int_eq(c.model.seq_len, 99); /* kept: not in the file */
  ck_assert_int_eq(c.model.n_layers, 6);
}
END_TEST

START_TEST(dash_reads_stdin) {
  const char *path = write_text("stdin.yaml", "init:\n  seed: 42\n  std: oops\n");
  ck_assert_ptr_nonnull(freopen(path, "r", stdin));
  struct tf_config c;
  struct tf_error err = {0};
  tf_config_default(&c);
  ck_assert_int_eq(tf_config_load(&c, "-", &err), TF_ECONFIG);
  ck_assert_str_eq(err.msg, "<stdin>:3:8: init.std: expected a number in [0, 100], got \"oops\"");
  ck_assert_ptr_nonnull(freopen(write_text("stdin2.yaml", "init: {seed: 42}\n"), "r", stdin));
  ck_assert_int_eq(tf_config_load(&c, "-", &err), TF_OK);
  ck_assert_uint_eq(c.init.seed, 42);
}
END_TEST

/* Loads text over the defaults into c; the load must succeed. */
static void load_text(const char *text, struct tf_config *c) {
  struct tf_error err = {0};
  tf_config_default(c);
  ck_assert_msg(load_in_scratch(c, "ok.yaml", text, &err) == TF_OK, "%s\n%s", err.msg, text);
}

/* A growth value as YAML and what it sets. */
static const struct {
  const char *text;
  int tokens, relative;
} growths[] = {
    {"+256", 256, 1},  {"\"+256\"", 256, 1}, {"'+256'", 256, 1}, {"+16777216", 16777216, 1},
    {"1024", 1024, 0}, {"'1024'", 1024, 0},  {"0", 0, 0},        {"+0", 0, 0}, /* no growth */
};
#define N_GROWTHS (sizeof growths / sizeof growths[0])

START_TEST(growth_is_a_new_count_or_an_increment) {
  char text[64];
  snprintf(text, sizeof text, "grow:\n  ffn_tokens: %s\n", growths[_i].text);
  struct tf_config c;
  load_text(text, &c);
  ck_assert_int_eq(c.grow.tokens[TF_KIND_FFN], growths[_i].tokens);
  ck_assert_int_eq(c.grow.relative[TF_KIND_FFN], growths[_i].relative);
  ck_assert_int_eq(c.grow.tokens[TF_KIND_QKV], 0); /* the other kinds are left alone */
  ck_assert_int_eq(c.grow.relative[TF_KIND_QKV], 0);
}
END_TEST

START_TEST(booleans_are_those_of_yaml_1_2) {
  static const char *const words[] = {"true", "True", "TRUE", "false", "False", "FALSE"};
  for (int i = 0; i < 6; i++) {
    char text[96];
    snprintf(text, sizeof text, "grow: {rescale: %s, keep_optimizer: %s}\n", words[i],
             words[5 - i]);
    struct tf_config c;
    load_text(text, &c);
    ck_assert_int_eq(c.grow.rescale, i < 3);
    ck_assert_int_eq(c.grow.keep_optimizer, i >= 3);
  }
}
END_TEST

/* A string value as YAML and what it sets. */
static const struct {
  const char *yaml, *want;
} strings[] = {
    {"data/kjv-train.txt", "data/kjv-train.txt"},
    {"runs/a b.jsonl", "runs/a b.jsonl"},
    {"'has: colon # and hash'", "has: colon # and hash"},
    {"\"tab\\there \\\"q\\\"\"", "tab\there \"q\""},
    {"données/é.txt", "données/é.txt"},
    {"123", "123"}, /* a plain number is still a name */
    {"''", ""},
    {"", ""}, /* YAML's null, in any spelling: no path */
    {"~", ""},
    {"null", ""},
    {"'null'", "null"},
};
#define N_STRINGS (sizeof strings / sizeof strings[0])

START_TEST(strings_take_any_scalar_and_null_means_none) {
  char text[96];
  snprintf(text, sizeof text, "train:\n  log: %s\n", strings[_i].yaml);
  struct tf_config c;
  load_text(text, &c);
  ck_assert_str_eq(c.train.log, strings[_i].want);
}
END_TEST

START_TEST(a_path_fills_its_array_and_no_more) {
  char text[TF_PATH_MAX + 64], want[256];
  struct tf_config c, before;
  struct tf_error err = {0};
  int n = snprintf(text, sizeof text, "train:\n  data: ");
  memset(text + n, 'a', TF_PATH_MAX - 1);
  strcpy(text + n + TF_PATH_MAX - 1, "\n");
  load_text(text, &c);
  ck_assert_uint_eq(strlen(c.train.data), TF_PATH_MAX - 1);

  strcpy(text + n + TF_PATH_MAX - 1, "a\n"); /* one byte more */
  const char *path = write_text("long.yaml", text);
  tf_config_default(&c);
  before = c;
  ck_assert_int_eq(tf_config_load(&c, path, &err), TF_ECONFIG);
  snprintf(want, sizeof want,
           "%s:2:9: train.data: expected a UTF-8 string of at most 1023 bytes, got \"%.40s...\"",
           path, text + n);
  ck_assert_str_eq(err.msg, want);
  assert_same_config(&c, &before);

  n = snprintf(text, sizeof text, "train.data=");
  memset(text + n, 'a', TF_PATH_MAX);
  text[n + TF_PATH_MAX] = 0;
  ck_assert_int_eq(tf_config_set(&c, text, &err), TF_ECONFIG);
  ck_assert_str_eq(err.msg + strlen("--set "), want + strlen(path) + strlen(":2:9: "));
}
END_TEST

/* One bad --set: the assignment, the status, the whole message. */
struct bad_set {
  const char *arg;
  int code;
  const char *msg;
};

static const struct bad_set bad_sets[] = {
    {"model.d_model=abc", TF_ECONFIG,
     "--set model.d_model: expected an integer in [1, 65536], got \"abc\""},
    {"model.d_model=", TF_ECONFIG,
     "--set model.d_model: expected an integer in [1, 65536], got \"\""},
    {"model.d_model= 64", TF_ECONFIG,
     "--set model.d_model: expected an integer in [1, 65536], got \" 64\""},
    {"model.n_layers=257", TF_ECONFIG,
     "--set model.n_layers: expected an integer in [1, 256], got \"257\""},
    {"model.rotary_pct=nan", TF_ECONFIG,
     "--set model.rotary_pct: expected a number in [0, 1], got \"nan\""},
    {"model.norm=relu", TF_ECONFIG,
     "--set model.norm: expected one of l2_norm_gelu, gelu_l2_norm, softmax, got \"relu\""},
    {"init.seed=-1", TF_ECONFIG,
     "--set init.seed: expected an integer in [0, 18446744073709551615], got \"-1\""},
    {"model.width=3", TF_ECONFIG,
     "--set model.width: unknown key; valid keys of model: vocab_size, d_model, n_layers, "
     "n_heads, seq_len, qkv_tokens, proj_tokens, ffn_tokens, qkv_ref_tokens, proj_ref_tokens, "
     "ffn_ref_tokens, norm, rotary_pct, rotary_base"},
    {"sample.steps=3", TF_ECONFIG,
     "--set sample: unknown section; valid sections: model, init, train, grow"},
    {"train.beta1=1.0", TF_ECONFIG, "--set train.beta1: expected a number in [0, 1), got \"1.0\""},
    {"train.data=\xff.txt", TF_ECONFIG,
     "--set train.data: expected a UTF-8 string of at most 1023 bytes, got \"\\xff.txt\""},
    {"grow.rescale=on", TF_ECONFIG,
     "--set grow.rescale: expected true or false, got \"on\" (yes, no, on and off are booleans "
     "only in YAML 1.1; write true or false)"},
    {"grow.ffn_tokens=-512", TF_ECONFIG,
     "--set grow.ffn_tokens: expected a new count N or an increment +N, N an integer in "
     "[0, 16777216], got \"-512\""},
    {"grow.init=Exact", TF_ECONFIG,
     "--set grow.init: expected one of exact, random, duplicate, got \"Exact\""},
    {"model.d_model", TF_EUSAGE, "--set \"model.d_model\": expected section.key=value"},
    {"d_model=64", TF_EUSAGE, "--set \"d_model=64\": expected section.key=value"},
};
#define N_BAD_SET (sizeof bad_sets / sizeof bad_sets[0])

START_TEST(set_errors_name_the_key) {
  const struct bad_set *b = &bad_sets[_i];
  struct tf_config c, before;
  struct tf_error err = {0};
  tf_config_default(&c);
  before = c;
  ck_assert_int_eq(tf_config_set(&c, b->arg, &err), b->code);
  ck_assert_str_eq(err.msg, b->msg);
  assert_same_config(&c, &before);
}
END_TEST

START_TEST(set_reads_train_and_grow_values) {
  static const char *const sets[] = {
      "train.lr=1e-3", "grow.ffn_tokens=+512", "grow.init=random",  "grow.rescale=true",
      "train.log=",    "train.valid=null",     "train.data=a: b #c"};
  struct tf_config c;
  struct tf_error err = {0};
  tf_config_default(&c);
  for (size_t i = 0; i < sizeof sets / sizeof sets[0]; i++)
    ck_assert_msg(tf_config_set(&c, sets[i], &err) == TF_OK, "%s: %s", sets[i], err.msg);
  ck_assert_double_eq(c.train.lr, 1e-3);
  ck_assert_int_eq(c.grow.tokens[TF_KIND_FFN], 512);
  ck_assert_int_eq(c.grow.relative[TF_KIND_FFN], 1);
  ck_assert_int_eq(c.grow.init, TF_GROW_RANDOM);
  ck_assert_int_eq(c.grow.rescale, 1);
  ck_assert_str_eq(c.train.log, ""); /* empty or null: no path */
  ck_assert_str_eq(c.train.valid, "");
  ck_assert_str_eq(c.train.data, "a: b #c"); /* the text after '=' as it is */
  ck_assert_int_eq(tf_config_check(&c, &err), TF_OK);
}
END_TEST

static Suite *config_suite(void) {
  Suite *s = suite_create("config");
  TCase *t = tcase_create("config");
  tcase_add_test(t, defaults_are_the_documented_ones);
  tcase_add_test(t, every_key_loads_from_yaml);
  tcase_add_test(t, every_key_is_settable_with_set);
  tcase_add_loop_test(t, load_errors_name_line_and_column, 0, (int)N_BAD_YAML);
  tcase_add_test(t, invalid_utf8_is_a_config_error);
  tcase_add_test(t, missing_file_or_directory_is_noinput);
  tcase_add_test(t, empty_and_comment_only_files_change_nothing);
  tcase_add_test(t, load_merges_over_current_values);
  tcase_add_test(t, dash_reads_stdin);
  tcase_add_loop_test(t, growth_is_a_new_count_or_an_increment, 0, (int)N_GROWTHS);
  tcase_add_test(t, booleans_are_those_of_yaml_1_2);
  tcase_add_loop_test(t, strings_take_any_scalar_and_null_means_none, 0, (int)N_STRINGS);
  tcase_add_test(t, a_path_fills_its_array_and_no_more);
  tcase_add_loop_test(t, set_errors_name_the_key, 0, (int)N_BAD_SET);
  tcase_add_test(t, set_reads_train_and_grow_values);
  suite_add_tcase(s, t);
  return s;
}

int main(void) {
  return config_test_run(config_suite());
}
