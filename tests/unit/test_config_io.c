/* test_config_io.c: a config written out and read back (YAML print, JSON), the cross-field
 * checks, and the configs the repository ships. Reading YAML and --set is test_config.c. */
#include <check.h>
#include <dirent.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config_fixture.h"
#include "suite.h"

/* Sets a path as a load leaves it: the string, then zeros to the end of the array. */
static void set_path(char *dst, const char *s) {
  memset(dst, 0, TF_PATH_MAX);
  strcpy(dst, s);
}

/* Prints c to a file and loads that file over a struct of garbage. */
static void print_and_reload(const struct tf_config *c, struct tf_config *back) {
  char path[4200];
  scratch_path(path, sizeof path, "printed.yaml");
  FILE *f = fopen(path, "w");
  ck_assert_ptr_nonnull(f);
  ck_assert_int_eq(tf_config_print(c, f), TF_OK);
  ck_assert_int_eq(fclose(f), 0);
  struct tf_error err = {0};
  memset(back, 0x5a, sizeof *back);
  /* loaded from its own directory, where relative paths read back as written */
  char cwd[4096], dir[4200];
  ck_assert_ptr_nonnull(getcwd(cwd, sizeof cwd));
  scratch_path(dir, sizeof dir, "");
  ck_assert_int_eq(chdir(dir), 0);
  int rc = tf_config_load(back, "printed.yaml", &err);
  ck_assert_int_eq(chdir(cwd), 0);
  ck_assert_msg(rc == TF_OK, "%s", err.msg);
}

START_TEST(print_then_load_gives_identical_struct) {
  struct tf_config c, back;
  tf_config_default(&c);
  print_and_reload(&c, &back);
  assert_same_config(&back, &c);
  unusual_config(&c);
  /* doubles whose shortest decimal needs 17 digits or an exponent still read back exactly */
  c.model.rotary_pct = 0.1 + 0.2;
  c.model.rotary_base = 12345.678901234567;
  c.init.std = 1e-300;
  c.init.value_std = 3e-8;
  print_and_reload(&c, &back);
  assert_same_config(&back, &c);
  /* strings that plain YAML would read as something else, or not at all */
  /* the last holds code points YAML would not keep raw: NEL (a line break), C1, U+FFFE */
  static const char *const awkward[] = {
      "",     "null", "~",       "yes",        "On",
      "123",  "-x",   ".inf",    "a b",        "a: b",
      "#c",   "'q'",  "[x]",     "+256",       "\"dq\" \\ back",
      "\t\n", "\x7f", "é/ü.txt", "x\xc2\xa0y", "nel\xc2\x85 c1\xc2\x80 nonchar\xef\xbf\xbe"};
  size_t n = sizeof awkward / sizeof awkward[0];
  for (size_t i = 0; i < n; i++) {
    set_path(c.train.log, awkward[i]);
    set_path(c.train.data, awkward[n - 1 - i]);
    print_and_reload(&c, &back);
    assert_same_config(&back, &c);
  }
  memset(c.train.valid, '/', TF_PATH_MAX - 1); /* the longest path */
  print_and_reload(&c, &back);
  assert_same_config(&back, &c);
}
END_TEST

/* What tf_config_print writes for c (free it). */
static char *printed(const struct tf_config *c) {
  char *text = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&text, &len);
  ck_assert_ptr_nonnull(f);
  ck_assert_int_eq(tf_config_print(c, f), TF_OK);
  ck_assert_int_eq(fclose(f), 0);
  return text;
}

/* c printed contains each of the n strings of want. */
static void assert_printed_has(const struct tf_config *c, const char *const *want, size_t n) {
  char *text = printed(c);
  for (size_t i = 0; i < n; i++)
    ck_assert_msg(strstr(text, want[i]), "no \"%s\" in\n%s", want[i], text);
  free(text);
}

START_TEST(print_writes_shortest_decimals_and_notes) {
  struct tf_config c;
  tf_config_default(&c);
  static const char *const want[] = {
      "model:\n  vocab_size: 256 ",
      "\n  std: 0.02 ",
      "\n  rotary_base: 10000.0 ",
      "\n  norm: l2_norm_gelu ",
      "\n  qkv_ref_tokens: 0 ",
      "# 0: same as qkv_tokens",
      "# 0: same as ffn_tokens",
      "\ninit:\n  seed: 1 ",
      "\ntrain:\n  data: data/kjv-train.txt ",
      "\n  log: \"\" ",
      "\n  steps: 2000 ",
      "\n  lr: 0.0006 ",
      "\n  eps: 1.0e-08 ",
      "\n  save_every: 500 ",
      "\ngrow:\n  qkv_tokens: 0 ",
      "\n  init: exact ",
      "\n  rescale: false ",
      "\n  keep_optimizer: false ",
  };
  assert_printed_has(&c, want, sizeof want / sizeof want[0]);
}
END_TEST

START_TEST(print_quotes_what_would_read_back_otherwise) {
  struct tf_config c;
  struct tf_error err = {0};
  tf_config_default(&c);
  static const char *const sets[] = {"grow.ffn_tokens=+512", "grow.qkv_tokens=+0",
                                     "grow.proj_tokens=300", "train.log=yes",
                                     "train.valid=a b",      "grow.rescale=TRUE"};
  for (size_t i = 0; i < sizeof sets / sizeof sets[0]; i++)
    ck_assert_int_eq(tf_config_set(&c, sets[i], &err), TF_OK);
  /* "+512" quoted: YAML 1.1 readers would take a plain +512 for the integer 512 */
  static const char *const want[] = {
      "\n  ffn_tokens: \"+512\" ", "\n  qkv_tokens: 0 ",  "\n  proj_tokens: 300 ",
      "\n  log: \"yes\" ",         "\n  valid: \"a b\" ", "\n  rescale: true ",
  };
  assert_printed_has(&c, want, sizeof want / sizeof want[0]);
}
END_TEST

START_TEST(print_reports_a_failed_write) {
  struct tf_config c;
  tf_config_default(&c);
  FILE *f = fopen("/dev/full", "w");
  if (!f) return; /* no /dev/full on this system: nothing to prove */
  ck_assert_int_eq(tf_config_print(&c, f), TF_EIO);
  fclose(f);
}
END_TEST

START_TEST(json_is_compact_with_ref_tokens_resolved) {
  struct tf_config c;
  tf_config_default(&c);
  char *json = tf_model_config_to_json(&c.model);
  ck_assert_ptr_nonnull(json);
  ck_assert_str_eq(json, "{\"vocab_size\":256,\"d_model\":256,\"n_layers\":6,\"n_heads\":8,"
                         "\"seq_len\":256,\"qkv_tokens\":256,\"proj_tokens\":256,"
                         "\"ffn_tokens\":1024,\"qkv_ref_tokens\":256,\"proj_ref_tokens\":256,"
                         "\"ffn_ref_tokens\":1024,\"norm\":\"l2_norm_gelu\",\"rotary_pct\":0.25,"
                         "\"rotary_base\":10000.0}");
  free(json);
}
END_TEST

START_TEST(json_round_trip_keeps_every_value) {
  struct tf_config c;
  unusual_config(&c);
  c.model.rotary_pct = 0.1 + 0.2; /* 17 significant digits must survive */
  c.model.d_model = 80;           /* d_h 20: 6 RoPE channels with that rotary_pct, even */
  c.model.ref_tokens[TF_KIND_PROJ] = 0;
  char *json = tf_model_config_to_json(&c.model);
  ck_assert_ptr_nonnull(json);
  struct tf_model_config back;
  struct tf_error err = {0};
  memset(&back, 0x5a, sizeof back);
  ck_assert_msg(tf_model_config_from_json(&back, json, &err) == TF_OK, "%s: %s", err.msg, json);
  free(json);
  c.model.ref_tokens[TF_KIND_PROJ] = c.model.tokens[TF_KIND_PROJ]; /* resolved on the way */
  ck_assert_mem_eq(&back, &c.model, sizeof back);
}
END_TEST

START_TEST(json_reader_resolves_a_zero_ref_count) {
  struct tf_config c;
  struct tf_error err = {0};
  tf_config_default(&c);
  const char *json = "{\"vocab_size\":256,\"d_model\":64,\"n_layers\":2,\"n_heads\":2,"
                     "\"seq_len\":32,\"qkv_tokens\":40,\"proj_tokens\":50,\"ffn_tokens\":60,"
                     "\"qkv_ref_tokens\":0,\"proj_ref_tokens\":7,\"ffn_ref_tokens\":0,"
                     "\"norm\":\"gelu_l2_norm\",\"rotary_pct\":0,\"rotary_base\":10000}";
  ck_assert_msg(tf_model_config_from_json(&c.model, json, &err) == TF_OK, "%s", err.msg);
  ck_assert_int_eq(c.model.ref_tokens[TF_KIND_QKV], 40);
  ck_assert_int_eq(c.model.ref_tokens[TF_KIND_PROJ], 7);
  ck_assert_int_eq(c.model.ref_tokens[TF_KIND_FFN], 60);
  ck_assert_int_eq(c.model.norm, TF_NORM_GELU_L2);
}
END_TEST

/* One bad JSON config: a change to the defaults' JSON (key, new value as JSON text or NULL
 * to delete), or a whole text; the message wanted. */
struct bad_json {
  const char *key, *value, *text;
  const char *msg;
};

static const struct bad_json bad_jsons[] = {
    {"d_model", NULL, NULL, "missing key d_model"},
    {"width", "3", NULL, "unknown key \"width\""},
    {"d_model", "\"256\"", NULL, "d_model: expected an integer in [1, 65536], got \"256\""},
    {"d_model", "256.0", NULL, "d_model: expected an integer in [1, 65536], got 256.0"},
    {"d_model", "0", NULL, "d_model: expected an integer in [1, 65536], got 0"},
    {"qkv_ref_tokens", "-1", NULL, "qkv_ref_tokens: expected an integer in [0, 16777216], got -1"},
    {"norm", "\"relu\"", NULL,
     "norm: expected one of l2_norm_gelu, gelu_l2_norm, softmax, got \"relu\""},
    {"norm", "0", NULL, "norm: expected one of l2_norm_gelu, gelu_l2_norm, softmax, got 0"},
    {"rotary_pct", "2", NULL, "rotary_pct: expected a number in [0, 1], got 2"},
    {"rotary_base", "null", NULL, "rotary_base: expected a number in [1, 1000000000], got null"},
    {"d_model", "250", NULL, "d_model (250) is not a multiple of n_heads (8)"},
    {NULL, NULL, "[1]", "expected a JSON object"},
    {NULL, NULL, "{\"d_model\": 1, \"d_model\": 2}", "bad JSON at 1:"},
    {NULL, NULL, "{", "bad JSON at 1:"},
};
#define N_BAD_JSON (sizeof bad_jsons / sizeof bad_jsons[0])

START_TEST(json_errors_name_the_key) {
  const struct bad_json *b = &bad_jsons[_i];
  char *text = NULL;
  if (b->text) {
    text = strdup(b->text);
  } else {
    struct tf_config c;
    tf_config_default(&c);
    char *good = tf_model_config_to_json(&c.model);
    json_t *o = json_loads(good, 0, NULL);
    free(good);
    ck_assert_ptr_nonnull(o);
    if (b->value)
      json_object_set_new(o, b->key, json_loads(b->value, JSON_DECODE_ANY, NULL));
    else
      json_object_del(o, b->key);
    text = json_dumps(o, JSON_COMPACT);
    json_decref(o);
  }
  struct tf_model_config m, before;
  struct tf_error err = {0};
  memset(&m, 0, sizeof m);
  before = m;
  ck_assert_int_eq(tf_model_config_from_json(&m, text, &err), TF_EDATA);
  ck_assert_msg(strncmp(err.msg, b->msg, strlen(b->msg)) == 0, "got %s\nwant %s\nfrom %s", err.msg,
                b->msg, text);
  ck_assert_mem_eq(&m, &before, sizeof m);
  free(text);
}
END_TEST

START_TEST(check_rejects_inconsistent_configs) {
  struct tf_config c;
  struct tf_error err = {0};
  tf_config_default(&c);
  c.model.d_model = 250;
  ck_assert_int_eq(tf_config_check(&c, &err), TF_ECONFIG);
  ck_assert_str_eq(err.msg, "model.d_model (250) is not a multiple of model.n_heads (8)");

  tf_config_default(&c);
  c.model.d_model = 64;
  c.model.n_heads = 2;
  c.model.rotary_pct = 0.1; /* 32 * 0.1 = 3.2: 3 channels, odd */
  ck_assert_int_eq(tf_config_check(&c, &err), TF_ECONFIG);
  ck_assert_str_eq(err.msg, "model.rotary_pct (0.1) gives 3 RoPE channels of the 32 per head; "
                            "RoPE needs an even number");
  c.model.rotary_pct = 0; /* no RoPE at all is fine */
  ck_assert_int_eq(tf_config_check(&c, &err), TF_OK);

  tf_config_default(&c);
  c.model.ref_tokens[TF_KIND_FFN] = -1;
  ck_assert_int_eq(tf_config_check(&c, &err), TF_ECONFIG);
  ck_assert_str_eq(err.msg, "model.ffn_ref_tokens: expected an integer in [0, 16777216], got -1");

  tf_config_default(&c);
  c.model.norm = (enum tf_norm)7;
  ck_assert_int_eq(tf_config_check(&c, &err), TF_ECONFIG);
  ck_assert_str_eq(err.msg,
                   "model.norm: expected one of l2_norm_gelu, gelu_l2_norm, softmax, got 7");

  tf_config_default(&c);
  c.init.std = -0.5;
  ck_assert_int_eq(tf_config_check(&c, &err), TF_ECONFIG);
  ck_assert_str_eq(err.msg, "init.std: expected a number in [0, 100], got -0.5");

  tf_config_default(&c);
  c.train.min_lr = 1e-3;
  ck_assert_int_eq(tf_config_check(&c, &err), TF_ECONFIG);
  ck_assert_str_eq(err.msg, "train.min_lr (0.001) is above train.lr (0.0006)");
  c.train.min_lr = c.train.lr; /* a constant rate is fine */
  ck_assert_int_eq(tf_config_check(&c, &err), TF_OK);

  tf_config_default(&c);
  c.train.steps = -1;
  ck_assert_int_eq(tf_config_check(&c, &err), TF_ECONFIG);
  ck_assert_str_eq(err.msg, "train.steps: expected an integer in [0, 1000000000000], got -1");

  tf_config_default(&c);
  c.grow.rescale = 2;
  ck_assert_int_eq(tf_config_check(&c, &err), TF_ECONFIG);
  ck_assert_str_eq(err.msg, "grow.rescale: expected true or false, got 2");

  tf_config_default(&c);
  memset(c.train.log, 'x', sizeof c.train.log); /* no terminating NUL */
  ck_assert_int_eq(tf_config_check(&c, &err), TF_ECONFIG);
  ck_assert_str_eq(err.msg, "train.log: expected a UTF-8 string of at most 1023 bytes, got "
                            "\"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx...\"");

  tf_config_default(&c);
  strcpy(c.train.valid, "\xc3"); /* a cut UTF-8 sequence */
  ck_assert_int_eq(tf_config_check(&c, &err), TF_ECONFIG);
  ck_assert_str_eq(err.msg, "train.valid: expected a UTF-8 string of at most 1023 bytes, got "
                            "\"\\xc3\"");
}
END_TEST

START_TEST(rotary_dims_match_the_released_models) {
  /* docs/model.md §3.1: d_h 64, 80, 96 at rotary_pct 0.25 give 16, 20, 24 channels */
  struct tf_model_config m = {.d_model = 768, .n_heads = 12, .rotary_pct = 0.25};
  ck_assert_int_eq(tf_model_config_rotary_dims(&m), 16);
  m.d_model = 1280, m.n_heads = 16;
  ck_assert_int_eq(tf_model_config_rotary_dims(&m), 20);
  m.d_model = 1536;
  ck_assert_int_eq(tf_model_config_rotary_dims(&m), 24);
}
END_TEST

START_TEST(names_of_norms_and_kinds) {
  ck_assert_str_eq(tf_norm_name(TF_NORM_L2_GELU), "l2_norm_gelu");
  ck_assert_str_eq(tf_norm_name(TF_NORM_GELU_L2), "gelu_l2_norm");
  ck_assert_str_eq(tf_norm_name(TF_NORM_SOFTMAX), "softmax");
  ck_assert_str_eq(tf_kind_name(TF_KIND_QKV), "qkv");
  ck_assert_str_eq(tf_kind_name(TF_KIND_PROJ), "proj");
  ck_assert_str_eq(tf_kind_name(TF_KIND_FFN), "ffn");
}
END_TEST

/* The repository root: TF_FIXTURES is ROOT/tests/fixtures; without it, the working dir. */
static void configs_dir(char *buf, size_t n) {
  const char *fx = getenv("TF_FIXTURES");
  snprintf(buf, n, "%s%s", fx ? fx : "", fx ? "/../../configs" : "configs");
}

static void load_shipped(const char *name, struct tf_config *c) {
  char dir[4096], path[4400];
  struct tf_error err = {0};
  configs_dir(dir, sizeof dir);
  snprintf(path, sizeof path, "%s/%s", dir, name);
  tf_config_default(c);
  ck_assert_msg(tf_config_load(c, path, &err) == TF_OK, "%s", err.msg);
  ck_assert_msg(tf_config_check(c, &err) == TF_OK, "%s: %s", path, err.msg);
}

START_TEST(every_shipped_config_loads_and_checks) {
  char dir[4096];
  configs_dir(dir, sizeof dir);
  DIR *d = opendir(dir);
  ck_assert_msg(d != NULL, "cannot open %s", dir);
  int n = 0;
  struct tf_config c;
  for (struct dirent *e; (e = readdir(d));) {
    size_t len = strlen(e->d_name);
    if (len < 5 || strcmp(e->d_name + len - 5, ".yaml") != 0) continue;
    load_shipped(e->d_name, &c);
    n++;
  }
  closedir(d);
  ck_assert_int_ge(n, 6);
}
END_TEST

/* docs/model.md §3.1: L, d, H, tokens of each shipped size. */
static const struct {
  const char *file;
  int vocab, seq, L, d, H, qkv, proj, ffn;
} shipped[] = {
    {"tiny.yaml", 256, 32, 2, 32, 2, 32, 32, 64},
    {"small.yaml", 256, 256, 6, 256, 8, 256, 256, 1024},
    {"150M.yaml", 50304, 2048, 12, 768, 12, 768, 768, 3072},
    {"450M.yaml", 50304, 2048, 24, 1024, 16, 1024, 1024, 4096},
    {"900M.yaml", 50304, 2048, 32, 1280, 16, 1280, 1280, 5120},
    {"1.5B.yaml", 50304, 2048, 40, 1536, 16, 1536, 1536, 6144},
};

START_TEST(shipped_sizes_match_the_spec) {
  struct tf_config c;
  load_shipped(shipped[_i].file, &c);
  const struct tf_model_config *m = &c.model;
  ck_assert_int_eq(m->vocab_size, shipped[_i].vocab);
  ck_assert_int_eq(m->seq_len, shipped[_i].seq);
  ck_assert_int_eq(m->n_layers, shipped[_i].L);
  ck_assert_int_eq(m->d_model, shipped[_i].d);
  ck_assert_int_eq(m->n_heads, shipped[_i].H);
  ck_assert_int_eq(m->tokens[TF_KIND_QKV], shipped[_i].qkv);
  ck_assert_int_eq(m->tokens[TF_KIND_PROJ], shipped[_i].proj);
  ck_assert_int_eq(m->tokens[TF_KIND_FFN], shipped[_i].ffn);
  ck_assert_int_eq(m->norm, TF_NORM_L2_GELU);
  ck_assert_double_eq(m->rotary_pct, 0.25);
}
END_TEST

/* The train sections of the test and demo configs (tokenformer-config(5)). */
static const struct {
  const char *file, *data, *valid;
  int batch, eval_every, eval_batches, save_every;
  int64_t steps;
  double lr, min_lr, warmup;
} shipped_train[] = {
    {"tiny.yaml", "../data/tiny-train.txt", "../data/tiny-valid.txt", 4, 25, 2, 0, 50, 1e-3, 1e-4,
     0.1},
    {"small.yaml", "../data/kjv-train.txt", "../data/kjv-valid.txt", 8, 100, 16, 500, 1000, 2e-3,
     2e-4, 0.02},
};

START_TEST(shipped_train_sections_match_the_brief) {
  struct tf_config c;
  load_shipped(shipped_train[_i].file, &c);
  const struct tf_train_config *t = &c.train;
  char dir[4096], want[4400];
  configs_dir(dir, sizeof dir); /* the paths are the config directory's */
  snprintf(want, sizeof want, "%s/%s", dir, shipped_train[_i].data);
  ck_assert_str_eq(t->data, want);
  snprintf(want, sizeof want, "%s/%s", dir, shipped_train[_i].valid);
  ck_assert_str_eq(t->valid, want);
  ck_assert_int_eq(t->batch, shipped_train[_i].batch);
  ck_assert_int_eq(t->steps, shipped_train[_i].steps);
  ck_assert_double_eq(t->lr, shipped_train[_i].lr); /* exact: the same decimal text */
  ck_assert_double_eq(t->min_lr, shipped_train[_i].min_lr);
  ck_assert_double_eq(t->warmup, shipped_train[_i].warmup);
  ck_assert_int_eq(t->eval_every, shipped_train[_i].eval_every);
  ck_assert_int_eq(t->eval_batches, shipped_train[_i].eval_batches);
  ck_assert_int_eq(t->save_every, shipped_train[_i].save_every);
}
END_TEST

/* Writes text to the scratch file name (in a subdirectory made here), its path into path. */
static void write_scratch(const char *name, const char *text, char *path, size_t n) {
  char dir[4200];
  scratch_path(dir, sizeof dir, "sub");
  mkdir(dir, 0700);
  snprintf(path, n, "%s/%s", dir, name);
  FILE *f = fopen(path, "w");
  ck_assert_ptr_nonnull(f);
  fputs(text, f);
  ck_assert_int_eq(fclose(f), 0);
}

START_TEST(relative_paths_are_the_config_directory_s) {
  char path[4400], want[4500], origin[4500];
  write_scratch("paths.yaml",
                "init:\n  tokenizer: bytes\ntrain:\n  data: corpus.txt\n  valid: /abs/v.txt\n"
                "  log: \"-\"\n",
                path, sizeof path);
  struct tf_config c;
  struct tf_error err = {0};
  tf_config_default(&c);
  ck_assert_str_eq(tf_config_origin(&c, "train.data"), "default");
  ck_assert_msg(tf_config_load(&c, path, &err) == TF_OK, "%s", err.msg);
  snprintf(want, sizeof want, "%.*s/corpus.txt", (int)(strrchr(path, '/') - path), path);
  ck_assert_str_eq(c.train.data, want);
  ck_assert_str_eq(c.train.valid, "/abs/v.txt"); /* absolute: as written */
  ck_assert_str_eq(c.train.log, "-");            /* stdin: as written */
  ck_assert_str_eq(c.init.tokenizer, "bytes");   /* not a path */
  snprintf(origin, sizeof origin, "%s:4", path);
  ck_assert_str_eq(tf_config_origin(&c, "train.data"), origin);
  /* a missing file's error names the key and its origin */
  tf_error_set(&err, TF_ENOINPUT, "%s: cannot open: No such file or directory", c.train.data);
  ck_assert_int_eq(tf_config_blame(&c, "train.data", &err), TF_ENOINPUT);
  ck_assert_msg(strncmp(err.msg, "train.data (", 12) == 0 && strstr(err.msg, origin) &&
                    strstr(err.msg, "): "),
                "%s", err.msg);
  /* --set: from the current directory */
  ck_assert_int_eq(tf_config_set(&c, "train.data=here.txt", &err), TF_OK);
  ck_assert_str_eq(c.train.data, "here.txt");
  ck_assert_str_eq(tf_config_origin(&c, "train.data"), "--set");
  tf_config_set_origin(&c, "train.log", "--log");
  ck_assert_str_eq(tf_config_origin(&c, "train.log"), "--log");
  ck_assert_str_eq(tf_config_origin(&c, "train.batch"), "default"); /* not a path key */
}
END_TEST

START_TEST(a_resolved_path_too_long_is_refused) {
  char path[4400], text[1200];
  snprintf(text, sizeof text, "train:\n  data: %01020d\n", 7); /* 1020 bytes + the directory */
  write_scratch("long.yaml", text, path, sizeof path);
  struct tf_config c;
  struct tf_error err = {0};
  tf_config_default(&c);
  ck_assert_int_eq(tf_config_load(&c, path, &err), TF_ECONFIG);
  ck_assert_msg(strstr(err.msg, "long.yaml:2:9: train.data: the path from the config's directory"),
                "%s", err.msg);
  ck_assert_str_eq(c.train.data, "data/kjv-train.txt"); /* untouched */
}
END_TEST

static Suite *config_suite(void) {
  Suite *s = suite_create("config_io");
  TCase *t = tcase_create("config_io");
  tcase_add_test(t, print_then_load_gives_identical_struct);
  tcase_add_test(t, print_writes_shortest_decimals_and_notes);
  tcase_add_test(t, print_quotes_what_would_read_back_otherwise);
  tcase_add_test(t, print_reports_a_failed_write);
  tcase_add_test(t, json_is_compact_with_ref_tokens_resolved);
  tcase_add_test(t, json_round_trip_keeps_every_value);
  tcase_add_test(t, json_reader_resolves_a_zero_ref_count);
  tcase_add_loop_test(t, json_errors_name_the_key, 0, (int)N_BAD_JSON);
  tcase_add_test(t, check_rejects_inconsistent_configs);
  tcase_add_test(t, rotary_dims_match_the_released_models);
  tcase_add_test(t, names_of_norms_and_kinds);
  tcase_add_test(t, every_shipped_config_loads_and_checks);
  tcase_add_test(t, relative_paths_are_the_config_directory_s);
  tcase_add_test(t, a_resolved_path_too_long_is_refused);
  tcase_add_loop_test(t, shipped_sizes_match_the_spec, 0,
                      (int)(sizeof shipped / sizeof shipped[0]));
  tcase_add_loop_test(t, shipped_train_sections_match_the_brief, 0,
                      (int)(sizeof shipped_train / sizeof shipped_train[0]));
  suite_add_tcase(s, t);
  return s;
}

int main(void) {
  return config_test_run(config_suite());
}
