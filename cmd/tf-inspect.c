/* tf-inspect: show a checkpoint (config, parameter counts, sizes, history, tensors,
 * statistics, values), verify it, or compare it with another. Reads only the header unless
 * asked for data; the computing is lib/inspect.c's. */
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cli.h"

static const char usage[] =
    "Usage: tf-inspect [--tensors] [--stats] [--tensor NAME] [--history] [--json] FILE\n"
    "       tf-inspect --verify [--json] FILE\n"
    "       tf-inspect [--params-only] [-v] [--json] OLD NEW\n"
    "       tf-inspect --diff OTHER [--params-only] [-v] [--json] FILE\n"
    "Show a TokenFormer checkpoint (.tfz or plain .safetensors; FILE '-' reads stdin).\n"
    "With no option: config, parameter counts by kind, parameter tokens and n_ref, sizes,\n"
    "metadata and history, read from the header alone.\n"
    "\n"
    "      --tensors           table of tensors: dtype, shape, bytes, name\n"
    "      --stats             per tensor: mean, std, min, max, L2 norm, fraction of zeros\n"
    "                          (scalars: their value); streams the whole file\n"
    "      --tensor NAME       the values of tensor NAME, one row per line\n"
    "      --history           every history record whole: command line, time, version,\n"
    "                          ranks, threads, config (its text), data files\n"
    "      --verify            read to the end: CRC, layout, tensors against the config,\n"
    "                          values finite; prints 'FILE: ok'\n"
    "      --diff OTHER        compare FILE (A) with OTHER (B) tensor by tensor: same,\n"
    "                          changed (max |B-A|), grown or shrunk (are the old rows\n"
    "                          unchanged?), only in A or B; and the config; the tensors\n"
    "                          may be stored in any order\n"
    "      OLD NEW             two files: the same as --diff NEW OLD (A is OLD, B is NEW)\n"
    "      --params-only       with a diff, the parameters only: the optimizer and\n"
    "                          training state (optim.*, train.*) left out\n"
    "      --json              one JSON document on stdout\n"
    "  -v, --verbose           with --diff, list identical tensors too\n"
    "  -h, --help              this help\n"
    "      --version           version and matrix-product kernel\n"
    "\n"
    "Exit status: 0 ok (also when --diff finds differences), 64 usage or no tensor NAME,\n"
    "65 bad checkpoint, 66 missing file, 71 out of memory, 74 I/O error. See tf-inspect(1).\n";

enum {
  OPT_TENSORS = CLI_OPT_FIRST_FREE,
  OPT_STATS,
  OPT_TENSOR,
  OPT_VERIFY,
  OPT_DIFF,
  OPT_PARAMS_ONLY,
  OPT_HISTORY
};

struct args {
  const char *file, *other, *tensor;
  int tensors, stats, verify, params_only, history;
};

/* An open checkpoint and what its header says. */
struct file {
  const char *path;
  struct tf_ckpt_reader *r;
  const struct tf_st_header *h;
  int has_config;
  struct tf_model_config cfg;
  json_t *config;           /* the model config, every key (NULL without one) */
  json_t *history;          /* array (NULL without one) */
  struct tf_tokenizer *tok; /* the stored BPE (NULL for bytes or none) */
};

/* Metadata shown in sections of their own, not in the metadata list. */
static int meta_shown_apart(const char *key) {
  return !strcmp(key, "config") || !strcmp(key, "history") || !strcmp(key, "tokenizer_json");
}

static int take_option(struct cli *c, void *args, int opt, const char *arg) {
  struct args *a = args;
  (void)c;
  switch (opt) {
  case OPT_TENSORS:
    a->tensors = 1;
    break;
  case OPT_STATS:
    a->stats = 1;
    break;
  case OPT_TENSOR:
    a->tensor = arg;
    break;
  case OPT_VERIFY:
    a->verify = 1;
    break;
  case OPT_PARAMS_ONLY:
    a->params_only = 1;
    break;
  case OPT_HISTORY:
    a->history = 1;
    break;
  default: /* OPT_DIFF */
    a->other = arg;
  }
  return TF_OK;
}

/* The operands: FILE, or OLD NEW (the same as --diff NEW OLD: A is OLD, B is NEW). */
static int take_operands(struct cli *c, struct args *a, int argc, char **argv) {
  int n = argc - optind;
  if (n < 1) return cli_usage_error(c, "a checkpoint is required");
  if (n > 2 || (n == 2 && a->other))
    return cli_usage_error(c, "unexpected argument '%s'", argv[optind + (a->other ? 1 : 2)]);
  a->file = argv[optind];
  if (n == 2) a->other = argv[optind + 1]; /* OLD NEW: A is OLD, B is NEW */
  int rc = cli_stdin(c, n == 2 ? "OLD" : "FILE", a->file);
  return rc || n < 2 ? rc : cli_stdin(c, "NEW", a->other);
}

static int parse_args(struct cli *c, struct args *a, int argc, char **argv) {
  static const struct option longopts[] = {{"tensors", no_argument, 0, OPT_TENSORS},
                                           {"stats", no_argument, 0, OPT_STATS},
                                           {"tensor", required_argument, 0, OPT_TENSOR},
                                           {"verify", no_argument, 0, OPT_VERIFY},
                                           {"diff", required_argument, 0, OPT_DIFF},
                                           {"params-only", no_argument, 0, OPT_PARAMS_ONLY},
                                           {"history", no_argument, 0, OPT_HISTORY},
                                           {0, 0, 0, 0}};
  static const int inputs[] = {OPT_DIFF, 0};
  c->inputs = inputs;
  int rc = cli_parse(c, argc, argv, NULL, longopts, take_option, a);
  if (rc || c->done || (rc = take_operands(c, a, argc, argv))) return rc;
  if ((rc = cli_check_path(c, "the checkpoint", a->file)) ||
      (rc = cli_check_path(c, "--diff", a->other)))
    return rc;
  int sections = a->tensors || a->stats || a->tensor || a->history;
  if ((a->verify || a->other) && sections)
    return cli_usage_error(c, "--%s takes no --tensors, --stats, --tensor or --history",
                           a->verify ? "verify" : "diff");
  if (a->verify && a->other) return cli_usage_error(c, "--verify and --diff exclude each other");
  if (a->params_only && !a->other) return cli_usage_error(c, "--params-only goes with --diff");
  return TF_OK;
}

/* ---------------------------------------------------------------- the header */

static int file_open(struct file *f, const char *path, struct tf_error *err) {
  memset(f, 0, sizeof *f);
  f->path = path;
  int rc = tf_ckpt_open(&f->r, path, err);
  if (rc) return rc;
  f->h = tf_ckpt_header(f->r);
  const char *config = tf_st_meta(f->h, "config"), *history = tf_st_meta(f->h, "history");
  if (config) {
    if (tf_model_config_from_json(&f->cfg, config, err))
      return tf_error_prefix(err, "%s: metadata config", path);
    char *text = tf_model_config_to_json(&f->cfg);
    f->config = text ? json_loads(text, 0, NULL) : NULL;
    free(text);
    if (!f->config) return tf_error_set(err, TF_ENOMEM, "out of memory");
    f->has_config = 1;
    if (f->h->n_tensors > tf_model_max_tensors(&f->cfg))
      return tf_error_set(err, TF_EDATA,
                          "%s: %zu tensors, more than the %zu a checkpoint of its config can hold",
                          path, f->h->n_tensors, tf_model_max_tensors(&f->cfg));
  }
  const char *tok_json = tf_st_meta(f->h, "tokenizer_json");
  if (tok_json &&
      tf_tokenizer_from_json(&f->tok, tok_json, strlen(tok_json), "metadata tokenizer_json", err))
    return tf_error_prefix(err, "%s", path);
  if (history) {
    f->history = json_loads(history, 0, NULL);
    if (!json_is_array(f->history))
      return tf_error_set(err, TF_EDATA, "%s: metadata history: not a JSON array", path);
  }
  return TF_OK;
}

static void file_close(struct file *f) {
  tf_ckpt_close(f->r);
  json_decref(f->config);
  json_decref(f->history);
  tf_tokenizer_free(f->tok);
  memset(f, 0, sizeof *f);
}

/* 151881216 -> "151,881,216" (buf of 32 bytes). */
static const char *count_str(uint64_t n, char *buf) {
  char digits[24];
  int len = snprintf(digits, sizeof digits, "%" PRIu64, n), o = 0;
  for (int i = 0; i < len; i++) {
    if (i && (len - i) % 3 == 0) buf[o++] = ',';
    buf[o++] = digits[i];
  }
  buf[o] = '\0';
  return buf;
}

/* A JSON value as compact text, reals to 12 significant digits (0.1, not
 * 0.10000000000000001: --json keeps every digit): a string bare and escaped as a name
 * (cli_put_escaped), anything else as JSON, escaped as JSON. */
static void put_json_value(FILE *f, const json_t *v) {
  size_t flags = JSON_ENCODE_ANY | JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(12) |
                 JSON_ENSURE_ASCII;
  if (json_is_string(v)) {
    cli_put_escaped(f, json_string_value(v));
    return;
  }
  char *s = json_dumps(v, flags);
  cli_put_json(f, s ? s : "?");
  free(s);
}

/* History members the summary leaves to --history (long): the command line, the config's
 * text, the data files. */
static int history_detail(const char *key) {
  return !strcmp(key, "argv") || !strcmp(key, "config_text") || !strcmp(key, "data");
}

/* The data files of a record, one line each: key, path, size, hash of the first MiB. */
static void print_history_data(const json_t *data) {
  size_t i;
  json_t *d;
  json_array_foreach(data, i, d) {
    printf("  data          ");
    put_json_value(stdout, json_object_get(d, "key"));
    printf(" ");
    put_json_value(stdout, json_object_get(d, "path"));
    json_t *bytes = json_object_get(d, "bytes"), *sha = json_object_get(d, "sha256_first_mib");
    if (bytes) printf("  %" JSON_INTEGER_FORMAT " bytes", json_integer_value(bytes));
    if (sha) printf("  sha256 of the first MiB %s", json_string_value(sha));
    putchar('\n');
  }
}

/* Text lines, each indented by four spaces, escaped. */
static void print_indented(const char *text) {
  while (*text) {
    size_t n = strcspn(text, "\n");
    char *line = strndup(text, n);
    printf("    ");
    cli_put_escaped(stdout, line ? line : "");
    putchar('\n');
    free(line);
    text += n + (text[n] == '\n');
  }
}

/* --history: every record whole, one block each; a config's text where it was first stored. */
static void print_history_text(const json_t *history) {
  size_t i;
  json_t *rec, *m;
  const char *key;
  json_array_foreach(history, i, rec) {
    printf("%zu ", i + 1);
    put_json_value(stdout, json_object_get(rec, "command"));
    putchar('\n');
    json_object_foreach(rec, key, m) {
      if (!strcmp(key, "command") || !strcmp(key, "config_text")) continue;
      if (!strcmp(key, "data")) {
        print_history_data(m);
        continue;
      }
      printf("  %-13s ", key);
      put_json_value(stdout, m);
      putchar('\n');
    }
    const char *text = json_string_value(json_object_get(rec, "config_text"));
    if (text) {
      printf("  config_text\n");
      print_indented(text);
    }
  }
}

static void print_params_text(const struct tf_model_config *m) {
  uint64_t g[TF_NGROUPS];
  char b[32];
  tf_param_count_by_group(m, g);
  printf("parameters\n  %-10s %8s %8s %16s\n", "kind", "tokens", "n_ref", "parameters");
  for (int i = 0; i < TF_NGROUPS; i++) {
    int k = i - TF_GROUP_QKV; /* enum tf_kind for the three Pattention groups */
    if (k >= 0 && k < TF_NKINDS)
      printf("  %-10s %8d %8d %16s\n", tf_param_group_name(i), m->tokens[k],
             tf_model_config_ref_tokens(m, k), count_str(g[i], b));
    else
      printf("  %-10s %8s %8s %16s\n", tf_param_group_name(i), "", "", count_str(g[i], b));
  }
  printf("  %-10s %8s %8s %16s\n", "total", "", "", count_str(tf_param_count(m), b));
}

static void print_summary_text(const struct file *f) {
  char b1[32], b2[32], b3[32];
  uint64_t size = tf_ckpt_file_size(f->r);
  printf("file        ");
  cli_put_escaped(stdout, f->path);
  printf("\nsize        %s%s (header %s, payload %s)\ntensors     %zu\n",
         size ? count_str(size, b1) : "unknown", size ? " bytes" : " (a stream)",
         count_str(8 + f->h->header_len, b2), count_str(f->h->data_len, b3), f->h->n_tensors);
  printf("data        not read: this summary is the header's (--verify checks the data)\n");
  const char *w = tf_st_meta(f->h, "weights");
  printf("weights     ");
  cli_put_escaped(stdout, w ? w : "f32");
  printf("%s\n",
         w && strcmp(w, "f32") ? ", stored for inference only (tf-convert --quantize)" : "");
  printf("metadata\n");
  for (size_t i = 0; i < f->h->n_meta; i++) {
    if (meta_shown_apart(f->h->meta_keys[i])) continue;
    printf("  ");
    cli_put_escaped(stdout, f->h->meta_keys[i]);
    printf("%*s", (int)(strlen(f->h->meta_keys[i]) < 16 ? 16 - strlen(f->h->meta_keys[i]) : 1), "");
    cli_put_escaped(stdout, f->h->meta_values[i]);
    putchar('\n');
  }
  if (f->tok)
    printf("tokenizer   bpe, %s ids, end of text %d, sha256 %s\n",
           count_str((uint64_t)tf_tokenizer_n_ids(f->tok), b1), tf_tokenizer_eos(f->tok),
           tf_tokenizer_sha256(f->tok));
  const char *key;
  json_t *v;
  printf("config%s\n", f->has_config ? "" : "      none (not a tokenformer checkpoint)");
  json_object_foreach(f->config, key, v) {
    printf("  %-16s", key);
    put_json_value(stdout, v);
    putchar('\n');
  }
  if (f->has_config) print_params_text(&f->cfg);
  printf("history\n");
  size_t i;
  json_array_foreach(f->history, i, v) {
    printf("  %zu ", i + 1);
    put_json_value(stdout, json_object_get(v, "command"));
    json_t *m;
    json_object_foreach(v, key, m) {
      if (!strcmp(key, "command") || history_detail(key)) continue;
      printf("  ");
      cli_put_escaped(stdout, key);
      putchar('=');
      put_json_value(stdout, m);
    }
    putchar('\n');
  }
}

static json_t *params_json(const struct tf_model_config *m) {
  uint64_t g[TF_NGROUPS];
  tf_param_count_by_group(m, g);
  json_t *p = json_object();
  for (int i = 0; i < TF_NGROUPS; i++)
    json_object_set_new(p, tf_param_group_name(i), json_integer((json_int_t)g[i]));
  json_object_set_new(p, "total", json_integer((json_int_t)tf_param_count(m)));
  return p;
}

static json_t *tokens_json(const struct tf_model_config *m) {
  json_t *t = json_object();
  for (int k = 0; k < TF_NKINDS; k++)
    json_object_set_new(
        t, tf_kind_name(k),
        json_pack("{s:i, s:i}", "tokens", m->tokens[k], "n_ref", tf_model_config_ref_tokens(m, k)));
  return t;
}

/* {"kind": "bytes"} or the BPE's kind, ids, end-of-text id and SHA-256 (null: no metadata). */
static json_t *tokenizer_json(const struct file *f) {
  const char *kind = tf_st_meta(f->h, "tokenizer");
  if (!f->tok) return kind ? json_pack("{s:s}", "kind", kind) : json_null();
  return json_pack("{s:s, s:i, s:i, s:s}", "kind", "bpe", "n_ids", tf_tokenizer_n_ids(f->tok),
                   "eos", tf_tokenizer_eos(f->tok), "sha256", tf_tokenizer_sha256(f->tok));
}

static json_t *summary_json(const struct file *f) {
  uint64_t size = tf_ckpt_file_size(f->r);
  json_t *meta = json_object();
  for (size_t i = 0; i < f->h->n_meta; i++)
    if (!meta_shown_apart(f->h->meta_keys[i]))
      json_object_set_new(meta, f->h->meta_keys[i], json_string(f->h->meta_values[i]));
  json_t *j = json_object();
  json_object_set_new(j, "file", json_string(f->path));
  json_object_set_new(j, "file_bytes", size ? json_integer((json_int_t)size) : json_null());
  json_object_set_new(j, "header_bytes", json_integer((json_int_t)(8 + f->h->header_len)));
  json_object_set_new(j, "payload_bytes", json_integer((json_int_t)f->h->data_len));
  json_object_set_new(j, "n_tensors", json_integer((json_int_t)f->h->n_tensors));
  json_object_set_new(j, "data_checked", json_false()); /* true once the data was read */
  const char *w = tf_st_meta(f->h, "weights");
  json_object_set_new(j, "weights", json_string(w ? w : "f32"));
  json_object_set_new(j, "metadata", meta);
  json_object_set(j, "config", f->config ? f->config : json_null());
  json_object_set_new(j, "parameters", f->has_config ? params_json(&f->cfg) : json_null());
  json_object_set_new(j, "tokens", f->has_config ? tokens_json(&f->cfg) : json_null());
  json_object_set_new(j, "history", f->history ? json_copy(f->history) : json_array());
  json_object_set_new(j, "tokenizer", tokenizer_json(f));
  return j;
}

/* ---------------------------------------------------------------- tensors and values */

static json_t *shape_json(const struct tf_st_tensor *t) {
  json_t *s = json_array();
  for (int k = 0; k < t->ndim; k++) json_array_append_new(s, json_integer(t->shape[k]));
  return s;
}

static json_t *tensor_json(const struct tf_st_tensor *t) {
  return json_pack("{s:s, s:s, s:o, s:I}", "name", t->name, "dtype", tf_dtype_name(t->dtype),
                   "shape", shape_json(t), "bytes", (json_int_t)(t->end - t->begin));
}

static void print_tensors_text(const struct tf_st_header *h) {
  char shape[160], b[32];
  int w = 5;
  for (size_t i = 0; i < h->n_tensors; i++) {
    int len = (int)strlen(tf_shape_format(h->tensors[i].ndim, h->tensors[i].shape, shape, 160));
    if (len > w) w = len;
  }
  printf("%-5s  %-*s %14s  %s\n", "dtype", w, "shape", "bytes", "name");
  for (size_t i = 0; i < h->n_tensors; i++) {
    const struct tf_st_tensor *t = &h->tensors[i];
    printf("%-5s  %-*s %14s  ", tf_dtype_name(t->dtype), w,
           tf_shape_format(t->ndim, t->shape, shape, sizeof shape),
           count_str(t->end - t->begin, b));
    cli_put_escaped(stdout, t->name);
    putchar('\n');
  }
}

/* One element as JSON: integers exact (a U64 above the int64 range as a string), reals as
 * numbers, NaN and infinities as null (JSON has none). */
static json_t *elem_json(enum tf_dtype t, const void *data, size_t i) {
  char buf[40];
  if (t == TF_I64 || t == TF_U64 || t == TF_I32 || t == TF_U8 || t == TF_I8) {
    tf_dtype_format(t, data, i, buf, sizeof buf);
    unsigned long long u = strtoull(buf, NULL, 10);
    if (t == TF_U64 && u > INT64_MAX) return json_string(buf);
    return json_integer((json_int_t)strtoll(buf, NULL, 10));
  }
  double v = tf_dtype_get(t, data, i);
  return isfinite(v) ? json_real(v) : json_null();
}

/* What the one streaming pass keeps of a tensor: its statistics and first element. */
struct row {
  struct tf_tensor_stats s;
  unsigned char first[8];
  int have_first;
};

/* What the pass does with each chunk of a tensor. */
struct pass {
  enum tf_dtype dtype;
  struct row *row;
  int print; /* print values as text, row_len per line */
  uint64_t row_len, col;
  json_t *values, *line; /* values as JSON: rows (ndim >= 2) or flat */
};

static int pass_chunk(void *ctx, const void *data, size_t n, struct tf_error *err) {
  struct pass *p = ctx;
  char buf[40];
  if (!p->row->have_first && n) {
    memcpy(p->row->first, data, tf_dtype_size(p->dtype));
    p->row->have_first = 1;
  }
  for (size_t i = 0; (p->print || p->values) && i < n; i++) {
    int end_of_row = ++p->col == p->row_len;
    if (p->print)
      printf("%s%c", tf_dtype_format(p->dtype, data, i, buf, sizeof buf), end_of_row ? '\n' : ' ');
    if (p->values) {
      if (!p->line) p->line = p->row_len > 1 ? json_array() : p->values;
      json_array_append_new(p->line, elem_json(p->dtype, data, i));
      if (end_of_row && p->line != p->values) json_array_append_new(p->values, p->line);
      if (end_of_row) p->line = NULL;
    }
    if (end_of_row) p->col = 0;
  }
  if (p->print && ferror(stdout)) return tf_error_set(err, TF_EIO, "stdout: write error");
  return TF_OK;
}

static json_t *stats_json(const struct tf_st_tensor *t, const struct row *r) {
  const struct tf_tensor_stats *s = &r->s;
  json_t *j = tensor_json(t);
  json_object_del(j, "bytes");
  json_object_set_new(j, "numel", json_integer((json_int_t)s->numel));
  const char *names[] = {"mean", "std", "min", "max", "l2"};
  const double vals[] = {s->mean, s->std, s->min, s->max, s->l2};
  for (int i = 0; i < 5; i++)
    json_object_set_new(j, names[i], isfinite(vals[i]) ? json_real(vals[i]) : json_null());
  json_object_set_new(j, "zero_fraction",
                      s->numel ? json_real((double)s->zeros / (double)s->numel) : json_null());
  json_object_set_new(j, "nans", json_integer((json_int_t)s->nans));
  if (s->numel == 1 && r->have_first)
    json_object_set_new(j, "value", elem_json(t->dtype, r->first, 0));
  return j;
}

static void print_stats_text(const struct tf_st_header *h, const struct row *rows) {
  char buf[40];
  printf("%12s %12s %12s %12s %12s %8s  %s\n", "mean", "std", "min", "max", "l2", "zeros", "name");
  for (size_t i = 0; i < h->n_tensors; i++) {
    const struct tf_st_tensor *t = &h->tensors[i];
    const struct tf_tensor_stats *s = &rows[i].s;
    if (s->numel == 1 && rows[i].have_first)
      printf("%12s %-60s  ", "value", tf_dtype_format(t->dtype, rows[i].first, 0, buf, sizeof buf));
    else
      printf("%12.6g %12.6g %12.6g %12.6g %12.6g %8.4g  ", s->mean, s->std, s->min, s->max, s->l2,
             s->numel ? (double)s->zeros / (double)s->numel : NAN);
    cli_put_escaped(stdout, t->name);
    putchar('\n');
  }
}

/* Reads tensor t for the pass: statistics, values, both, or neither (skipped). */
static int pass_tensor(const struct cli *c, struct file *f, const struct tf_st_tensor *t, int stats,
                       int want, struct row *row, json_t *j, struct tf_error *err) {
  struct pass p = {.dtype = t->dtype, .row = row, .print = want && !c->json, .row_len = 1};
  if (t->ndim >= 2) p.row_len = (uint64_t)t->shape[t->ndim - 1];
  if (want && c->json) p.values = json_array();
  int rc;
  if (stats)
    rc = tf_inspect_stats(f->r, t, &row->s, pass_chunk, &p, err);
  else if (want)
    rc = tf_inspect_read_tensor(f->r, t, pass_chunk, &p, err);
  else
    rc = tf_ckpt_read(f->r, NULL, t->end - t->begin, err);
  if (p.line && p.line != p.values) json_decref(p.line); /* a row cut short by an error */
  if (p.values)
    json_object_set_new(j, "tensor",
                        json_pack("{s:s, s:s, s:o, s:o}", "name", t->name, "dtype",
                                  tf_dtype_name(t->dtype), "shape", shape_json(t), "values",
                                  p.values));
  return rc;
}

/* Streams the data once: statistics of every tensor (--stats) and the values of one
 * (--tensor, printed as they come), then the statistics table or JSON. Stops early when
 * only values were wanted. */
static int stream_pass(const struct cli *c, struct file *f, const struct args *a, json_t *j,
                       struct tf_error *err) {
  struct row *rows = calloc(f->h->n_tensors + 1, sizeof *rows);
  if (!rows) return tf_error_set(err, TF_ENOMEM, "out of memory");
  int rc = TF_OK;
  for (size_t i = 0; !rc && i < f->h->n_tensors; i++) {
    const struct tf_st_tensor *t = &f->h->tensors[i];
    int want = a->tensor && strcmp(t->name, a->tensor) == 0;
    rc = pass_tensor(c, f, t, a->stats, want, &rows[i], j, err);
    if (want && !a->stats) break;
  }
  /* the rest of the stream, the CRC, the length and what follows: figures from a damaged
   * file are never shown as if they were good */
  if (!rc) rc = tf_ckpt_finish(f->r, err);
  if (rc && a->tensor && !c->json)
    snprintf(err->msg + strlen(err->msg), sizeof err->msg - strlen(err->msg),
             "; the values printed above came from this damaged file");
  if (!rc && j) json_object_set_new(j, "data_checked", json_true());
  if (!rc && a->stats && j) {
    json_t *list = json_array();
    for (size_t i = 0; i < f->h->n_tensors; i++)
      json_array_append_new(list, stats_json(&f->h->tensors[i], &rows[i]));
    json_object_set_new(j, "stats", list);
  } else if (!rc && a->stats) {
    print_stats_text(f->h, rows);
  }
  free(rows);
  return rc;
}

static int run_inspect(const struct cli *c, const struct args *a, struct tf_error *err) {
  struct file f;
  int rc = file_open(&f, a->file, err);
  if (!rc && a->tensor && !tf_st_find(f.h, a->tensor))
    rc = tf_error_set(err, TF_EUSAGE, "%s: no tensor named '%s'", a->file, a->tensor);
  json_t *j = !rc && c->json ? summary_json(&f) : NULL;
  if (!rc && !c->json && !a->tensors && !a->stats && !a->tensor && !a->history)
    print_summary_text(&f);
  if (!rc && !c->json && a->history) print_history_text(f.history);
  if (!rc && a->tensors) {
    if (j) {
      json_t *list = json_array();
      for (size_t i = 0; i < f.h->n_tensors; i++)
        json_array_append_new(list, tensor_json(&f.h->tensors[i]));
      json_object_set_new(j, "tensors", list);
    } else {
      print_tensors_text(f.h);
    }
  }
  if (!rc && (a->stats || a->tensor)) rc = stream_pass(c, &f, a, j, err);
  if (!rc)
    cli_print_json(j);
  else
    json_decref(j);
  file_close(&f);
  return rc;
}

/* ---------------------------------------------------------------- verify */

static int run_verify(const struct cli *c, const struct args *a, struct tf_error *err) {
  int rc = tf_model_verify(a->file, err);
  if (rc) return rc;
  if (c->json) {
    cli_print_json(json_pack("{s:s, s:b}", "file", a->file, "ok", 1));
  } else {
    cli_put_escaped(stdout, a->file);
    printf(": ok\n");
  }
  return TF_OK;
}

/* ---------------------------------------------------------------- diff */

/* Keys whose values differ between the two configs: printed, or as {key: {a, b}}. */
static json_t *config_diff(const struct cli *c, const struct file *fa, const struct file *fb) {
  json_t *out = json_object(), *va;
  const char *key;
  json_object_foreach(fa->config, key, va) {
    json_t *vb = json_object_get(fb->config, key);
    if (vb && json_equal(va, vb)) continue;
    json_object_set_new(out, key, json_pack("{s:O, s:O?}", "a", va, "b", vb));
    if (c->json) continue;
    printf("config %s: ", key);
    put_json_value(stdout, va);
    printf(" -> ");
    if (vb)
      put_json_value(stdout, vb);
    else
      printf("absent");
    putchar('\n');
  }
  return out;
}

/* The word for a status: a resized tensor grew or shrank. */
static const char *diff_word(const struct tf_tensor_diff *d) {
  if (d->status != TF_DIFF_RESIZED) return tf_diff_status_name(d->status);
  return d->b->shape[0] > d->a->shape[0] ? "grown" : "shrunk";
}

static void print_diff_line(const struct tf_tensor_diff *d) {
  char sa[160], sb[160], b1[32], b2[32];
  const struct tf_st_tensor *t = d->a ? d->a : d->b;
  printf("%-12s ", diff_word(d));
  cli_put_escaped(stdout, t->name);
  if (d->status == TF_DIFF_RESIZED || d->status == TF_DIFF_INCOMPARABLE)
    printf("  %s %s -> %s %s", tf_dtype_name(d->a->dtype),
           tf_shape_format(d->a->ndim, d->a->shape, sa, sizeof sa), tf_dtype_name(d->b->dtype),
           tf_shape_format(d->b->ndim, d->b->shape, sb, sizeof sb));
  else if (!d->a || !d->b)
    printf("  %s %s", tf_dtype_name(t->dtype), tf_shape_format(t->ndim, t->shape, sa, sizeof sa));
  if (d->status == TF_DIFF_RESIZED && !d->n_changed) printf(", old rows unchanged");
  if (d->n_changed)
    printf("%s%s of %s elements differ, max |B-A| %.6g",
           d->status == TF_DIFF_RESIZED ? ", old rows changed: " : "  ",
           count_str(d->n_changed, b1), count_str(d->compared, b2), d->max_abs);
  putchar('\n');
}

static json_t *diff_json(const struct tf_tensor_diff *d) {
  const struct tf_st_tensor *t = d->a ? d->a : d->b;
  json_t *j = json_pack("{s:s, s:s}", "name", t->name, "status", diff_word(d));
  if (d->a) json_object_set_new(j, "shape_a", shape_json(d->a));
  if (d->b) json_object_set_new(j, "shape_b", shape_json(d->b));
  if (d->a && d->b && d->a->dtype != d->b->dtype)
    json_object_set_new(
        j, "dtypes", json_pack("[s, s]", tf_dtype_name(d->a->dtype), tf_dtype_name(d->b->dtype)));
  if (d->compared) {
    json_object_set_new(j, "compared", json_integer((json_int_t)d->compared));
    json_object_set_new(j, "changed", json_integer((json_int_t)d->n_changed));
    json_object_set_new(j, "max_abs_diff",
                        isfinite(d->max_abs) ? json_real(d->max_abs) : json_null());
  }
  if (d->status == TF_DIFF_RESIZED)
    json_object_set_new(j, "old_rows_unchanged", json_boolean(d->n_changed == 0));
  return j;
}

/* Per-status counts ("grown" and "shrunk" apart); prints the closing line in text mode. */
static json_t *diff_counts(const struct cli *c, const struct tf_tensor_diff *d, size_t n) {
  static const char *const words[] = {"same",         "changed",   "grown",    "shrunk",
                                      "incomparable", "only in A", "only in B"};
  json_t *counts = json_object();
  for (int w = 0; w < 7; w++) json_object_set_new(counts, words[w], json_integer(0));
  for (size_t i = 0; i < n; i++) {
    json_t *v = json_object_get(counts, diff_word(&d[i]));
    json_integer_set(v, json_integer_value(v) + 1);
  }
  for (int w = 0; !c->json && w < 7; w++)
    printf("%s%" JSON_INTEGER_FORMAT " %s",
           w ? ", " : "tensors: ", json_integer_value(json_object_get(counts, words[w])), words[w]);
  if (!c->json) putchar('\n');
  return counts;
}

/* --params-only keeps the parameters: the optimizer and training state are left out. */
static size_t keep_params(struct tf_tensor_diff *d, size_t n) {
  size_t out = 0;
  for (size_t i = 0; i < n; i++) {
    const char *name = (d[i].a ? d[i].a : d[i].b)->name;
    if (strncmp(name, "optim.", 6) != 0 && strncmp(name, "train.", 6) != 0) d[out++] = d[i];
  }
  return out;
}

static int run_diff(const struct cli *c, const struct args *a, struct tf_error *err) {
  struct file fa, fb;
  struct tf_tensor_diff *d = NULL;
  size_t n = 0;
  int rc = file_open(&fa, a->file, err);
  if (!rc)
    rc = file_open(&fb, a->other, err);
  else
    memset(&fb, 0, sizeof fb);
  if (!rc) rc = tf_inspect_diff(fa.r, a->file, fb.r, a->other, &d, &n, err);
  if (!rc && a->params_only) n = keep_params(d, n);
  if (!rc) {
    json_t *j = json_pack("{s:s, s:s}", "a", a->file, "b", a->other), *list = json_array();
    json_object_set_new(j, "config", config_diff(c, &fa, &fb));
    for (size_t i = 0; i < n; i++) {
      if (c->json)
        json_array_append_new(list, diff_json(&d[i]));
      else if (d[i].status != TF_DIFF_SAME || c->verbose)
        print_diff_line(&d[i]);
    }
    json_object_set_new(j, "tensors", list);
    json_object_set_new(j, "counts", diff_counts(c, d, n));
    if (c->json)
      cli_print_json(j);
    else
      json_decref(j);
  }
  free(d);
  file_close(&fa);
  file_close(&fb);
  return rc;
}

int main(int argc, char **argv) {
  struct cli c;
  struct args a = {0};
  struct tf_error err = {0};
  cli_init(&c, "tf-inspect", usage, CLI_VERBOSE | CLI_JSON);
  int rc = parse_args(&c, &a, argc, argv);
  if (rc || c.done) {
    cli_free(&c);
    return cli_finish(&c, rc);
  }
  if (a.other)
    rc = run_diff(&c, &a, &err);
  else if (a.verify)
    rc = run_verify(&c, &a, &err);
  else
    rc = run_inspect(&c, &a, &err);
  cli_free(&c);
  return cli_finish(&c, rc ? cli_fail(&c, &err) : TF_OK);
}
