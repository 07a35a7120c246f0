/* tf-tokenize: text to token ids and back with a tokenizer.json or a checkpoint's tokenizer;
 * text files and JSON Lines to an indexed token dataset. */
#include <jansson.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "progress.h"

static const char usage[] =
    "Usage: tf-tokenize (-t TOKENIZER.json | -i MODEL) [--ids | --decode | --count] [FILE|-]\n"
    "       tf-tokenize (-t TOKENIZER.json | -i MODEL) -o PREFIX [--jsonl [--field NAME]]\n"
    "                   FILE...\n"
    "Turn text into token ids and back, or tokenize a corpus into an indexed token dataset\n"
    "(PREFIX.bin + PREFIX.idx, the Megatron / GPT-NeoX mmap format).\n"
    "\n"
    "  -t, --tokenizer FILE  a Hugging Face tokenizer.json\n"
    "  -i, --input MODEL     the tokenizer stored in a checkpoint ('-' for stdin)\n"
    "      --ids             print the ids of the text, separated by spaces (the default)\n"
    "      --decode          read ids separated by white space, print their text\n"
    "      --count           print the number of tokens and bytes (--json: as JSON)\n"
    "  -o, --output PREFIX   write PREFIX.bin and PREFIX.idx: one document per FILE, each\n"
    "                        followed by the end-of-text token when the tokenizer has one\n"
    "      --jsonl           FILEs are JSON Lines: one document per line\n"
    "      --field NAME      the JSON Lines field holding the text (default text)\n"
    "      --errors MODE     invalid UTF-8: strict (default: an error naming file and byte)\n"
    "                        or replace (U+FFFD)\n"
    "      --json            --count, or the summary of -o, as JSON on stdout\n"
    "  -q, --quiet           no progress or summary\n"
    "      --threads N       threads (default: OMP_NUM_THREADS or all cores)\n"
    "  -h, --help            this help\n"
    "      --version         version\n"
    "\n"
    "Exit status: 0 ok, 64 usage, 65 bad text, ids, JSON line or tokenizer, 66 missing input,\n"
    "71 out of memory, 73 cannot create output, 74 I/O error, 75 stopped by a signal (nothing\n"
    "written). See tf-tokenize(1).\n";

enum { OPT_IDS = CLI_OPT_FIRST_FREE, OPT_DECODE, OPT_COUNT, OPT_JSONL, OPT_FIELD, OPT_ERRORS };
enum mode { MODE_IDS, MODE_DECODE, MODE_COUNT, MODE_DATASET };

struct tok_args {
  const char *tokenizer, *model, *output, *field;
  enum mode mode;
  int modes, jsonl;
  unsigned flags;
  const char **files;
  int n_files;
};

static volatile int stop_signal;

static void on_signal(int sig) {
  stop_signal = sig;
}

static int parse_mode_option(struct cli *c, struct tok_args *a, int opt, const char *arg) {
  switch (opt) {
  case OPT_IDS:
  case OPT_DECODE:
  case OPT_COUNT:
    a->mode = opt == OPT_IDS ? MODE_IDS : opt == OPT_DECODE ? MODE_DECODE : MODE_COUNT;
    a->modes++;
    return TF_OK;
  case OPT_JSONL:
    a->jsonl = 1;
    return TF_OK;
  case OPT_FIELD:
    a->field = arg;
    return TF_OK;
  default: /* OPT_ERRORS */
    if (!strcmp(arg, "replace"))
      a->flags = TF_TOK_REPLACE_INVALID;
    else if (strcmp(arg, "strict"))
      return cli_usage_error(c, "--errors: expected strict or replace, got '%s'", arg);
    return TF_OK;
  }
}

/* What the options say together: one tokenizer source, one mode, operands that fit it. */
static int check_args(struct cli *c, struct tok_args *a) {
  int rc;
  if (!a->tokenizer == !a->model)
    return cli_usage_error(c, "give the tokenizer as -t TOKENIZER.json or -i MODEL (one of them)");
  if ((rc = cli_check_path(c, "--tokenizer", a->tokenizer)) ||
      (rc = cli_check_path(c, "--input", a->model)))
    return rc;
  if (a->output) {
    if (a->modes)
      return cli_usage_error(c, "-o writes a dataset: --ids, --decode and --count do not apply");
    if (a->n_files == 0) return cli_usage_error(c, "-o needs the files to tokenize");
    a->mode = MODE_DATASET;
  } else if (a->modes > 1)
    return cli_usage_error(c, "--ids, --decode and --count exclude one another");
  else if (a->n_files > 1)
    return cli_usage_error(c, "one input at most without -o (got %d)", a->n_files);
  else if (a->jsonl)
    return cli_usage_error(c, "--jsonl applies to -o");
  for (int i = 0; i < a->n_files; i++)
    if ((rc = cli_stdin(c, "FILE", a->files[i]))) return rc;
  if (a->n_files == 0) {
    a->files[a->n_files++] = "-";
    if ((rc = cli_stdin(c, "no FILE (the text from stdin)", NULL))) return rc;
  }
  if (a->field && !a->jsonl) return cli_usage_error(c, "--field applies to --jsonl");
  if (!a->field) a->field = "text";
  return TF_OK;
}

static int take_option(struct cli *c, void *args, int opt, const char *arg) {
  struct tok_args *a = args;
  switch (opt) {
  case 't':
    a->tokenizer = arg;
    return TF_OK;
  case 'i':
    a->model = arg;
    return TF_OK;
  default:
    return parse_mode_option(c, a, opt, arg);
  }
}

static int parse_args(struct cli *c, struct tok_args *a, int argc, char **argv) {
  static const struct option longopts[] = {{"tokenizer", required_argument, 0, 't'},
                                           {"input", required_argument, 0, 'i'},
                                           {"ids", no_argument, 0, OPT_IDS},
                                           {"decode", no_argument, 0, OPT_DECODE},
                                           {"count", no_argument, 0, OPT_COUNT},
                                           {"jsonl", no_argument, 0, OPT_JSONL},
                                           {"field", required_argument, 0, OPT_FIELD},
                                           {"errors", required_argument, 0, OPT_ERRORS},
                                           {0, 0, 0, 0}};
  static const int inputs[] = {'t', 'i', 0};
  c->inputs = inputs;
  if (!(a->files = cli_name_list(c, argc))) return TF_ENOMEM;
  int rc = cli_parse(c, argc, argv, "t:i:", longopts, take_option, a);
  if (rc || c->done) return rc;
  a->output = c->output;
  while (optind < argc) a->files[a->n_files++] = argv[optind++];
  return check_args(c, a);
}

/* The tokenizer of -t, or of the checkpoint of -i. */
static int load_tokenizer(const struct tok_args *a, struct tf_tokenizer **tok,
                          struct tf_error *err) {
  if (a->tokenizer) return tf_tokenizer_load(tok, a->tokenizer, err);
  struct tf_model m;
  /* any stored weight format, at its size: only the tokenizer is kept */
  int rc = tf_model_load_run(&m, a->model, TF_WEIGHTS_STORED, TF_USE_CONVERTED, NULL, err);
  if (rc) return rc;
  rc = tf_tokenizer_copy(tok, m.tok, err);
  tf_model_free(&m);
  return rc;
}

/* The ids, space-separated, one line. */
static void print_ids(const struct tf_ids *ids) {
  for (size_t i = 0; i < ids->n; i++) printf(i ? " %d" : "%d", ids->v[i]);
  putchar('\n');
}

static void print_count(const struct cli *c, const char *name, size_t tokens, size_t bytes) {
  if (c->json) {
    cli_print_json(json_pack("{s:s, s:I, s:I}", "file", name, "tokens", (json_int_t)tokens, "bytes",
                             (json_int_t)bytes));
    return;
  }
  printf("%zu tokens, %zu bytes\n", tokens, bytes);
}

/* --ids, --count and --decode on one input. */
static int run_text(const struct cli *c, const struct tok_args *a, const struct tf_tokenizer *tok,
                    struct tf_error *err) {
  const char *path = a->files[0], *name = strcmp(path, "-") ? path : "<stdin>";
  struct tf_input in;
  struct tf_ids ids = {0};
  int rc = tf_input_open(&in, path, name, err);
  if (rc) return rc;
  if (a->mode == MODE_DECODE) {
    char *text = NULL;
    size_t len;
    rc = tf_ids_parse((const char *)in.p, in.n, name, &ids, err);
    if (!rc && (rc = tf_tokenizer_decode(tok, ids.v, ids.n, 0, &text, &len, err)))
      tf_error_prefix(err, "%s", name);
    if (!rc) fwrite(text, 1, len, stdout);
    free(text);
  } else {
    rc = tf_encode_text(tok, (const char *)in.p, in.n, a->flags, &ids, err);
    if (rc) tf_error_name_file(err, name);
    if (!rc && a->mode == MODE_IDS) print_ids(&ids);
    if (!rc && a->mode == MODE_COUNT) print_count(c, name, ids.n, in.n);
  }
  tf_ids_free(&ids);
  tf_input_close(&in);
  return rc;
}

static void show_progress(void *ctx, uint64_t done, uint64_t total) {
  char status[64];
  snprintf(status, sizeof status, "MB of input");
  progress_update(ctx, (int64_t)(done >> 20), (int64_t)((total > done ? total : done) >> 20), 0,
                  status);
}

static int run_dataset(const struct cli *c, const struct tok_args *a,
                       const struct tf_tokenizer *tok, struct tf_error *err) {
  struct progress p;
  progress_init(&p, c->prog, c->quiet || !isatty(STDERR_FILENO), 1);
  struct tf_dataset_opts o = {.tok = tok,
                              .flags = a->flags,
                              .jsonl = a->jsonl,
                              .field = a->field,
                              .progress = show_progress,
                              .ctx = &p,
                              .stop = &stop_signal};
  struct tf_dataset_stats st;
  signal(SIGINT, on_signal);
  signal(SIGTERM, on_signal);
  int rc = tf_dataset_build(a->output, a->files, a->n_files, &o, &st, err);
  progress_end(&p);
  if (rc) return rc;
  if (c->json)
    cli_print_json(json_pack("{s:s, s:I, s:I, s:I, s:s}", "output", a->output, "documents",
                             (json_int_t)st.docs, "tokens", (json_int_t)st.tokens, "bytes",
                             (json_int_t)st.bytes, "dtype",
                             st.dtype == TF_IDS_U16 ? "uint16" : "int32"));
  else
    cli_note(c, "%s.bin, %s.idx: %llu documents, %llu tokens (%s) from %llu bytes", a->output,
             a->output, (unsigned long long)st.docs, (unsigned long long)st.tokens,
             st.dtype == TF_IDS_U16 ? "uint16" : "int32", (unsigned long long)st.bytes);
  return TF_OK;
}

int main(int argc, char **argv) {
  struct cli c;
  struct tok_args a = {0};
  struct tf_error err = {0};
  struct tf_tokenizer *tok = NULL;
  cli_init(&c, "tf-tokenize", usage, CLI_QUIET | CLI_JSON | CLI_THREADS | CLI_OUTPUT);
  int rc = parse_args(&c, &a, argc, argv);
  if (rc || c.done) goto out;
  if ((rc = load_tokenizer(&a, &tok, &err)) ||
      (rc = a.mode == MODE_DATASET ? run_dataset(&c, &a, tok, &err) : run_text(&c, &a, tok, &err)))
    rc = cli_fail(&c, &err);
  tf_tokenizer_free(tok);
out:
  free(a.files);
  cli_free(&c);
  return cli_finish(&c, rc);
}
