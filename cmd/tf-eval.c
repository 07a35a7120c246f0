/* tf-eval: loss, perplexity and bits per byte of a checkpoint on text files and token
 * datasets, or its zero-shot task scores (--task). */
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "progress.h"

static const char usage[] =
    "Usage: tf-eval -i MODEL [--data FILE]... [--max-bytes N] [--max-tokens N] [--batch B]\n"
    "               [--json] [--weights f32|bf16|q8]\n"
    "       tf-eval -i MODEL --task NAME --data FILE.jsonl [--limit N] [--per-example OUT]\n"
    "               [--batch B] [--weights f32|bf16|q8] [--json]\n"
    "Score text with a TokenFormer checkpoint: tokens, mean loss per token (nats),\n"
    "perplexity and bits per byte of the text, one line per file (stdin when no --data is\n"
    "given, or with '-').\n"
    "\n"
    "  -i, --input FILE    checkpoint ('-' for stdin)\n"
    "  -d, --data FILE     text to score, tokenized with the model's tokenizer, or an indexed\n"
    "                      token dataset PREFIX (PREFIX.idx + PREFIX.bin) (repeatable; '-'\n"
    "                      for stdin)\n"
    "      --max-bytes N   score only the first N bytes of each text\n"
    "      --max-tokens N  score only the first N tokens of each text or dataset\n"
    "      --batch B       windows per forward pass (default 8; results agree to float rounding)\n"
    "      --weights FMT   score with the weights rounded to bf16 or q8 and back (the\n"
    "                      formats of tf-generate --weights); default: as stored (a\n"
    "                      tf-convert --quantize model: its own format, or f32 alike)\n"
    "      --json          one JSON object per file (or task) on stdout\n"
    "      --task NAME     score a zero-shot task as lm-evaluation-harness does: lambada_openai,\n"
    "                      hellaswag, piqa, arc_easy, arc_challenge or winogrande\n"
    "      --limit N       only the first N examples of the task file\n"
    "      --per-example OUT  each example's log-likelihoods, choice and gold as JSON Lines\n"
    "      --threads N     threads (default: OMP_NUM_THREADS or all cores)\n"
    "  -q, --quiet         no progress bar (shown when stderr is a terminal)\n"
    "  -h, --help          this help\n"
    "      --version       version and matrix-product kernel\n"
    "\n"
    "The tokens t_0..t_{N-1} are cut into windows starting at 0, S, 2S, ... (S the model's\n"
    "seq_len); the window at s feeds t_s..t_{s+S-1} and is scored on t_{s+1}..t_{s+S} (the\n"
    "last one is shorter); the mean is over all N-1 predicted tokens, bits per byte over\n"
    "the bytes of text they decode to.\n"
    "With --task, one line: the task, acc and acc_norm (or perplexity) with standard errors,\n"
    "and the number of examples.\n"
    "Exit status: 0 ok, 64 usage, 65 bad checkpoint or text, 66 missing input, 71 too large\n"
    "for memory, 74 read or write error, or a data file that changed while read. See\n"
    "tf-eval(1).\n";

enum {
  OPT_MAX_BYTES = CLI_OPT_FIRST_FREE,
  OPT_MAX_TOKENS,
  OPT_BATCH,
  OPT_WEIGHTS,
  OPT_TASK,
  OPT_LIMIT,
  OPT_PER_EXAMPLE
};

struct eval_args {
  const char *input;
  const char **data;
  int n_data;
  long long max_bytes, max_tokens; /* 0: all */
  int batch;
  enum tf_weights weights;
  const char *task; /* --task: a zero-shot task instead of text */
  enum tf_task_kind kind;
  long limit; /* 0: all examples */
  const char *per_example;
};

/* The task options: 1 when opt was one, TF_EUSAGE (printed) for a bad value, 0 otherwise. */
static int task_option(struct cli *c, struct eval_args *a, int opt, const char *arg) {
  struct tf_error err = {0};
  switch (opt) {
  case OPT_TASK:
    a->task = arg;
    if (tf_task_from_name(arg, &a->kind, &err)) return cli_usage_error(c, "%s", err.msg);
    return 1;
  case OPT_LIMIT:
    return cli_parse_long(c, "--limit", arg, 1, 1L << 40, &a->limit) ? TF_EUSAGE : 1;
  case OPT_PER_EXAMPLE:
    a->per_example = arg;
    return cli_check_path(c, "--per-example", arg) ? TF_EUSAGE : 1;
  }
  return 0;
}

/* What --task allows with it. */
static int check_task_args(const struct cli *c, const struct eval_args *a) {
  if (!a->task) {
    if (a->limit || a->per_example)
      return cli_usage_error(c, "--limit and --per-example go with --task");
    return TF_OK;
  }
  if (a->n_data > 1) return cli_usage_error(c, "--task scores one --data file");
  if (a->max_bytes || a->max_tokens)
    return cli_usage_error(c, "--max-bytes and --max-tokens do not go with --task");
  if (a->per_example && strcmp(a->per_example, "-") == 0)
    return cli_usage_error(c, "--per-example needs a file, not stdout");
  return TF_OK;
}

static int take_option(struct cli *c, void *args, int opt, const char *arg) {
  struct eval_args *a = args;
  long v;
  int rc;
  switch (opt) {
  case 'i':
    a->input = arg;
    return TF_OK;
  case 'd':
    a->data[a->n_data++] = arg;
    return TF_OK;
  case OPT_MAX_BYTES:
  case OPT_MAX_TOKENS:
    if (cli_parse_long(c, opt == OPT_MAX_BYTES ? "--max-bytes" : "--max-tokens", arg, 2, 1L << 50,
                       &v))
      return TF_EUSAGE;
    *(opt == OPT_MAX_BYTES ? &a->max_bytes : &a->max_tokens) = v;
    return TF_OK;
  case OPT_BATCH:
    if (cli_parse_long(c, "--batch", arg, 1, 4096, &v)) return TF_EUSAGE;
    a->batch = (int)v;
    return TF_OK;
  case OPT_WEIGHTS:
    return cli_parse_weights(c, arg, &a->weights);
  default:
    rc = task_option(c, a, opt, arg);
    return rc == 1 ? TF_OK : rc;
  }
}

static int parse_args(struct cli *c, struct eval_args *a, int argc, char **argv) {
  static const struct option longopts[] = {{"input", required_argument, 0, 'i'},
                                           {"data", required_argument, 0, 'd'},
                                           {"max-bytes", required_argument, 0, OPT_MAX_BYTES},
                                           {"max-tokens", required_argument, 0, OPT_MAX_TOKENS},
                                           {"batch", required_argument, 0, OPT_BATCH},
                                           {"weights", required_argument, 0, OPT_WEIGHTS},
                                           {"task", required_argument, 0, OPT_TASK},
                                           {"limit", required_argument, 0, OPT_LIMIT},
                                           {"per-example", required_argument, 0, OPT_PER_EXAMPLE},
                                           {0, 0, 0, 0}};
  static const int inputs[] = {'i', 'd', 0};
  a->batch = 8;
  c->inputs = inputs;
  if (!(a->data = cli_name_list(c, argc))) return TF_ENOMEM;
  int rc = cli_parse(c, argc, argv, "i:d:", longopts, take_option, a);
  if (rc || c->done) return rc;
  if ((rc = cli_no_operands(c, argc, argv))) return rc;
  if ((rc = check_task_args(c, a))) return rc;
  if (!a->input) return cli_usage_error(c, "a checkpoint is required (-i FILE)");
  if (a->n_data == 0) {
    a->data[a->n_data++] = "-";
    if ((rc = cli_stdin(c, "no --data (the text from stdin)", NULL))) return rc;
  }
  if ((rc = cli_check_path(c, "--input", a->input))) return rc;
  for (int i = 0; i < a->n_data; i++)
    if ((rc = cli_check_path(c, "--data", a->data[i]))) return rc;
  return TF_OK;
}

/* The model as --json names it: the path given, "<stdin>" for "-". */
static const char *model_name(const struct eval_args *a) {
  return strcmp(a->input, "-") ? a->input : "<stdin>";
}

static void print_result(const struct cli *c, const struct eval_args *a, const char *name,
                         const struct tf_eval_result *r) {
  if (c->json) {
    json_t *j = json_pack(
        "{s:s, s:s, s:I, s:I, s:f, s:f, s:f, s:s}", "model", model_name(a), "data", name, "tokens",
        (json_int_t)r->tokens, "bytes", (json_int_t)r->bytes, "loss", r->loss, "perplexity",
        r->perplexity, "bits_per_byte", r->bits_per_byte, "weights", tf_weights_name(a->weights));
    json_dumpf(j, stdout, JSON_COMPACT | JSON_PRESERVE_ORDER);
    putchar('\n');
    json_decref(j);
    return;
  }
  cli_put_escaped(stdout, name);
  printf(": %lld tokens (%lld bytes), loss %.6f nats per token, perplexity %.4f, %.6f bits per "
         "byte\n",
         (long long)r->tokens, (long long)r->bytes, r->loss, r->perplexity, r->bits_per_byte);
}

/* The data of path as tokens of the model, checked against its vocabulary. */
static int open_data(const struct eval_args *a, const struct tf_model *m, const char *path,
                     struct tf_corpus *text, struct tf_error *err) {
  int rc = tf_corpus_open_with(text, path, m->tok, (size_t)a->max_bytes, 0, err);
  if (!rc && text->is_dataset && a->max_bytes > 0)
    rc = tf_error_set(err, TF_EUSAGE, "%s: --max-bytes applies to text; use --max-tokens",
                      text->path);
  if (!rc) rc = tf_corpus_check_model(text, m, err);
  if (rc) tf_corpus_close(text);
  return rc;
}

/* A progress bar over the windows, on a terminal, once scoring has taken half a second: a
 * short file shows none. */
static void window_progress(void *ctx, int64_t done, int64_t total) {
  struct progress *p = ctx;
  if (p->drawn || progress_now() - p->start >= 0.5) progress_update(p, done, total, 0, "windows");
}

static int eval_file(const struct cli *c, const struct tf_model *m, struct tf_acts *acts,
                     const struct eval_args *a, const char *path, int32_t *buf,
                     struct tf_error *err) {
  struct tf_corpus text;
  int rc = open_data(a, m, path, &text, err);
  if (rc) return rc;
  size_t n = text.n;
  if (a->max_tokens > 0 && (size_t)a->max_tokens < n) n = (size_t)a->max_tokens;
  if (n < 2) {
    rc = tf_error_set(err, TF_EDATA, "%s: %zu %s, nothing to predict", text.path, n,
                      tf_corpus_unit(&text));
    tf_corpus_close(&text); /* after the message: closing clears text.path */
    return rc;
  }
  struct tf_eval_result r;
  size_t window = (size_t)a->batch * (size_t)m->cfg.seq_len;
  struct progress p;
  progress_init(&p, c->prog, c->quiet || !isatty(STDERR_FILENO), 1);
  rc = tf_eval_windows_watched(m, acts, a->batch, &text, n, 0, buf, buf + window, &r,
                               p.quiet ? NULL : window_progress, &p, err);
  progress_end(&p);
  if (!rc) print_result(c, a, text.path, &r);
  tf_corpus_close(&text);
  return rc;
}

static void put_metric(const char *name, double v, double se) {
  printf(" %s %.4f", name, v);
  if (isnan(se))
    printf(" \u00b1N/A");
  else
    printf(" \u00b1%.4f", se);
}

/* Adds name (and name_stderr) to o unless the task does not report it (NaN); a standard
 * error that cannot be computed is null, as the harness's "N/A". */
static void json_metric(json_t *o, const char *name, double v, double se) {
  if (isnan(v)) return;
  char key[64];
  snprintf(key, sizeof key, "%s_stderr", name);
  json_object_set_new(o, name, json_real(v));
  json_object_set_new(o, key, isnan(se) ? json_null() : json_real(se));
}

static void print_task(const struct cli *c, const struct eval_args *a, const struct tf_task_set *s,
                       const char *path) {
  struct tf_task_metrics mt;
  tf_task_metrics(s, &mt);
  const char *name = tf_task_name(s->kind);
  if (c->json) {
    json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:i}", "task", name, "model", model_name(a), "data",
                          path, "weights", tf_weights_name(a->weights), "n", mt.n);
    json_metric(o, "acc", mt.acc, mt.acc_stderr);
    json_metric(o, "acc_norm", mt.acc_norm, mt.acc_norm_stderr);
    json_metric(o, "perplexity", mt.perplexity, mt.perplexity_stderr);
    json_dumpf(o, stdout, JSON_COMPACT | JSON_PRESERVE_ORDER);
    putchar('\n');
    json_decref(o);
    return;
  }
  printf("%s", name);
  put_metric("acc", mt.acc, mt.acc_stderr);
  if (!isnan(mt.acc_norm)) put_metric("acc_norm", mt.acc_norm, mt.acc_norm_stderr);
  if (!isnan(mt.perplexity)) put_metric("perplexity", mt.perplexity, mt.perplexity_stderr);
  printf(" N %d\n", mt.n);
}

/* The batch that fits in memory beside the model: B, or a smaller one (said on stderr; the
 * results do not depend on it), or B again when not even one window fits (tf_acts_create then
 * names the figures). */
static int fit_batch(const struct cli *c, const struct tf_model *m, int B, int T) {
  int fit = tf_acts_fit_batch(&m->cfg, B, T);
  if (fit < 1 || fit == B) return B;
  cli_note(c, "--batch %d does not fit in memory beside the model; using --batch %d instead", B,
           fit);
  return fit;
}

/* A progress bar over the requests, on a terminal only. */
static void task_progress(void *ctx, int done, int total) {
  progress_update(ctx, done, total, 0, "requests");
}

/* --task: read the examples, score them B requests at a time, report. */
static int run_task(const struct cli *c, const struct tf_model *m, const struct eval_args *a,
                    struct tf_error *err) {
  struct tf_task_set s;
  const char *path = a->n_data ? a->data[0] : "-";
  int rc = tf_task_load(&s, a->kind, path, a->limit, m->tok, m->cfg.seq_len, err);
  if (rc) return rc;
  /* an example's choices share their context's forward, in buffers of the scorer's own */
  int B = a->batch < s.n_requests ? a->batch : s.n_requests;
  struct progress p;
  progress_init(&p, c->prog, c->quiet, 1);
  if (p.tty) s.on_batch = task_progress, s.on_batch_ctx = &p;
  if (!rc) rc = tf_task_score(&s, m, NULL, B, err);
  progress_end(&p);
  if (rc) tf_error_name_file(err, path);
  if (!rc && a->per_example) rc = tf_task_save_examples(&s, a->per_example, err);
  if (!rc) print_task(c, a, &s, strcmp(path, "-") ? path : "<stdin>");
  tf_task_free(&s);
  return rc;
}

int main(int argc, char **argv) {
  struct cli c;
  struct eval_args a = {.weights = TF_WEIGHTS_STORED};
  struct tf_model m;
  struct tf_acts *acts = NULL;
  struct tf_error err = {0};
  cli_init(&c, "tf-eval", usage, CLI_QUIET | CLI_JSON | CLI_THREADS);
  int rc = parse_args(&c, &a, argc, argv);
  if (rc || c.done) goto out;
  if ((rc = tf_model_load_run(&m, a.input, a.weights, TF_USE_ROUNDED, &a.weights, &err))) {
    rc = cli_fail(&c, &err);
    goto out;
  }
  if (a.task) {
    if ((rc = run_task(&c, &m, &a, &err))) rc = cli_fail(&c, &err);
    tf_model_free(&m);
    goto out;
  }
  /* the activations first: their size check names the figures before anything large is
   * allocated */
  int32_t *buf = NULL;
  a.batch = fit_batch(&c, &m, a.batch, m.cfg.seq_len);
  rc = tf_acts_create(&acts, &m.cfg, a.batch, m.cfg.seq_len, &err);
  if (!rc && !(buf = calloc(2 * (size_t)a.batch * (size_t)m.cfg.seq_len, sizeof *buf)))
    rc = tf_error_set(&err, TF_ENOMEM, "out of memory for %d windows of %d tokens", a.batch,
                      m.cfg.seq_len);
  for (int i = 0; !rc && i < a.n_data; i++) rc = eval_file(&c, &m, acts, &a, a.data[i], buf, &err);
  if (rc) rc = cli_fail(&c, &err);
  tf_acts_free(acts);
  free(buf);
  tf_model_free(&m);
out:
  free(a.data);
  cli_free(&c);
  return cli_finish(&c, rc);
}
