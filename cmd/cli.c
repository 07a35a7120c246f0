/* cli.c: shared command-line behaviour: --help, --version, -q, -v, --json, --threads,
 * messages on stderr with the program's name, strict option-value parsing. */
#include <ctype.h>
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "cli.h"

/* Before main (compiled for the x86-64 baseline, like lib/cpu.c): a binary built for instruction
 * sets this CPU lacks says which and exits 78, instead of dying of SIGILL in the first kernel. */
#if defined(__x86_64__) && defined(__GNUC__)
__attribute__((constructor, target("arch=x86-64"))) static void cli_cpu_check(void) {
  char lacks[256];
  if (tf_cpu_check(lacks, sizeof lacks) == 0) return;
  fprintf(
      stderr,
      "%s: this binary was compiled for instructions this CPU lacks (%s); rebuild on this "
      "machine, or for a baseline both have (make ARCH=-march=x86-64-v3, README \"Installing\")\n",
      program_invocation_short_name, lacks);
  _exit(78);
}
#endif

void cli_init(struct cli *c, const char *prog, const char *usage, unsigned takes) {
  /* a write past `ulimit -f` then fails with EFBIG (exit 74) instead of killing us */
  signal(SIGXFSZ, SIG_IGN);
  memset(c, 0, sizeof *c);
  c->prog = prog;
  c->usage = usage;
  c->takes = takes;
  c->compress = TF_COMPRESS_HUFFMAN;
}

const char **cli_name_list(const struct cli *c, int argc) {
  const char **list = calloc((size_t)argc + 1, sizeof *list);
  if (!list) fprintf(stderr, "%s: out of memory\n", c->prog);
  return list;
}

void cli_free(struct cli *c) {
  free(c->sets);
  c->sets = NULL;
}

static void print_version(const struct cli *c) {
  printf("%s (tokenformer) %s\n", c->prog, TF_VERSION);
  printf("matrix products: %s\n", tf_gemm_kernel());
  printf("data parallelism: %s\n", tf_dist_backend());
  struct tf_error refused = {0};
  int bad = tf_weights_kernel_check(&refused);
  printf("bf16 and q8 weights: %s kernels%s%s%s\n", tf_weights_kernel(), bad ? " (" : "",
         bad ? refused.msg : "", bad ? ")" : "");
  printf("compiled for: %s\n", tf_cpu_built());
}

/* -h, --version, -q, -v, --json, --threads: 1 when opt was one, 0 when not, TF_EUSAGE
 * printed for a bad value. */
static int common_option(struct cli *c, int opt, const char *arg) {
  long threads;
  switch (opt) {
  case 'h':
    fputs(c->usage, stdout);
    c->done = 1;
    return 1;
  case CLI_OPT_VERSION:
    print_version(c);
    c->done = 1;
    return 1;
  case 'q':
    c->quiet = 1;
    return 1;
  case 'v':
    c->verbose++;
    return 1;
  case CLI_OPT_JSON:
    c->json = 1;
    return 1;
  case CLI_OPT_THREADS:
    if (cli_parse_long(c, "--threads", arg, 1, 1024, &threads)) return TF_EUSAGE;
    c->threads = (int)threads;
    tf_set_threads(c->threads);
    return 1;
  default:
    return 0;
  }
}

int cli_no_operands(const struct cli *c, int argc, char **argv) {
  if (optind < argc) return cli_usage_error(c, "unexpected argument '%s'", argv[optind]);
  return TF_OK;
}

int cli_check_path(const struct cli *c, const char *opt, const char *path) {
  if (path && !*path) return cli_usage_error(c, "%s: the file name is empty", opt);
  return TF_OK;
}

/* TF_EUSAGE (printed) when a --set is a model.* key: for commands that take the model from a
 * checkpoint. */
static int no_model_sets(const struct cli *c) {
  const char *const *sets = c->sets;
  for (int i = 0; i < c->n_sets; i++)
    if (strncmp(sets[i], "model.", 6) == 0)
      return cli_usage_error(c,
                             "--set %s: %s takes the model from the checkpoint (-i); "
                             "tf-grow changes its size",
                             sets[i], c->prog);
  return TF_OK;
}

int cli_load_config(const struct cli *c, struct tf_config *cfg, struct tf_error *err) {
  tf_config_default(cfg);
  int rc = c->config ? tf_config_load(cfg, c->config, err) : TF_OK;
  for (int i = 0; !rc && i < c->n_sets; i++) rc = tf_config_set(cfg, c->sets[i], err);
  return rc;
}

int cli_print_config(struct tf_config *cfg, const char *checkpoint, struct tf_error *err) {
  struct tf_ckpt_reader *r;
  int rc = checkpoint ? tf_ckpt_open(&r, checkpoint, err) : TF_OK;
  if (rc || !checkpoint) return rc ? rc : tf_config_print(cfg, stdout);
  const char *json = tf_st_meta(tf_ckpt_header(r), "config");
  if (!json)
    rc = tf_error_set(err, TF_EDATA, "%s: no model config in the metadata", checkpoint);
  else if (tf_model_config_from_json(&cfg->model, json, err))
    rc = tf_error_prefix(err, "%s: metadata config", checkpoint);
  tf_ckpt_close(r);
  return rc ? rc : tf_config_print(cfg, stdout);
}

int cli_check_in_out(const struct cli *c, const char *input, int print_config) {
  int rc = cli_check_path(c, "--input", input);
  if (rc || (rc = no_model_sets(c)) || print_config) return rc;
  if (!input) return cli_usage_error(c, "an input checkpoint is required (-i FILE)");
  if (!c->output) return cli_usage_error(c, "an output is required (-o FILE)");
  return TF_OK;
}

/* ---------------------------------------------------------------- one reader of stdin */

/* 1 when reader (described) is a second reader of stdin, with the message in msg. */
static int stdin_clash(struct cli *c, const char *reader, char *msg, size_t n) {
  if (!c->stdin_reader[0]) {
    snprintf(c->stdin_reader, sizeof c->stdin_reader, "%s", reader);
    return 0;
  }
  snprintf(msg, n, "%s and %s: stdin can be read only once", c->stdin_reader, reader);
  return 1;
}

int cli_stdin(struct cli *c, const char *what, const char *path) {
  char reader[sizeof c->stdin_reader], msg[2 * sizeof reader + 40];
  if (path && !tf_path_is_stdin(path)) return TF_OK;
  snprintf(reader, sizeof reader, "%s%s%s", what, path ? " " : "", path ? path : "");
  return stdin_clash(c, reader, msg, sizeof msg) ? cli_usage_error(c, "%s", msg) : TF_OK;
}

int cli_stdin_key(struct cli *c, const struct tf_config *cfg, const char *key, const char *path,
                  struct tf_error *err) {
  char reader[sizeof c->stdin_reader], msg[2 * sizeof reader + 40];
  if (!tf_path_is_stdin(path)) return TF_OK;
  snprintf(reader, sizeof reader, "%s %s (%s)", key, path, tf_config_origin(cfg, key));
  return stdin_clash(c, reader, msg, sizeof msg) ? tf_error_set(err, TF_EUSAGE, "%s", msg) : TF_OK;
}

void cli_warn_model_ignored(const struct cli *c, const struct tf_model_config *config,
                            const struct tf_model *m, const char *config_path) {
  struct tf_config def;
  char keys[400];
  tf_config_default(&def);
  if (!config_path || !tf_model_config_diff(config, &def.model, keys, sizeof keys))
    return; /* the config says nothing of the model */
  if (tf_model_config_diff(config, &m->cfg, keys, sizeof keys))
    fprintf(stderr, "%s: %s: its model section is ignored, the checkpoint's model is used (%s)\n",
            c->prog, config_path, keys);
}

int cli_finish(const struct cli *c, int rc) {
  int failed = ferror(stdout), e = 0;
  errno = 0;
  if (fflush(stdout) != 0) failed = 1, e = errno;
  if (fclose(stdout) != 0 && !failed) failed = 1, e = errno;
  if (!failed || rc) return rc; /* a command that failed has said why */
  fprintf(stderr, "%s: stdout: %s\n", c->prog, e ? strerror(e) : "write error");
  return TF_EIO;
}

int cli_fail(const struct cli *c, const struct tf_error *err) {
  fprintf(stderr, "%s: ", c->prog);
  cli_put_message(stderr, err->msg);
  fputc('\n', stderr);
  return err->code ? err->code : TF_EDATA;
}

int cli_usage_error(const struct cli *c, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "%s: ", c->prog);
  vfprintf(stderr, fmt, ap);
  fprintf(stderr, "\nTry '%s --help' for more information.\n", c->prog);
  va_end(ap);
  return TF_EUSAGE;
}

void cli_note(const struct cli *c, const char *fmt, ...) {
  if (c->quiet) return;
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "%s: ", c->prog);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
}

/* strtol and friends skip leading white space; an option value that starts with it is a
 * quoting mistake, not a number. */
static int blank_start(const char *s) {
  return s && isspace((unsigned char)*s);
}

int cli_parse_long(const struct cli *c, const char *opt, const char *s, long min, long max,
                   long *out) {
  char *end;
  errno = 0;
  long v = s ? strtol(s, &end, 10) : 0;
  if (!s || !*s || blank_start(s) || *end || errno || v < min || v > max)
    return cli_usage_error(c, "%s: expected an integer in [%ld, %ld], got '%s'", opt, min, max,
                           s ? s : "");
  *out = v;
  return TF_OK;
}

int cli_parse_double(const struct cli *c, const char *opt, const char *s, double min, double max,
                     double *out) {
  char *end;
  errno = 0;
  double v = s ? strtod(s, &end) : 0;
  if (!s || !*s || blank_start(s) || *end || errno || !(v >= min && v <= max))
    return cli_usage_error(c, "%s: expected a number in [%g, %g], got '%s'", opt, min, max,
                           s ? s : "");
  *out = v;
  return TF_OK;
}

int cli_parse_u64(const struct cli *c, const char *opt, const char *s, uint64_t *out) {
  char *end;
  errno = 0;
  unsigned long long v = s && *s != '-' ? strtoull(s, &end, 10) : 0;
  if (!s || !*s || *s == '-' || blank_start(s) || *end || errno)
    return cli_usage_error(c, "%s: expected a non-negative integer, got '%s'", opt, s ? s : "");
  *out = v;
  return TF_OK;
}

void cli_put_message(FILE *f, const char *msg) {
  char e[5];
  for (const char *p = msg; *p; p++) {
    tf_escape_byte((unsigned char)*p, TF_ESCAPE_KEEP_BACKSLASH, e);
    fputs(e, f);
  }
}

void cli_put_escaped(FILE *f, const char *s) {
  char e[5];
  for (const char *p = s; *p; p++) {
    tf_escape_byte((unsigned char)*p, 0, e);
    fputs(e, f);
  }
}

void cli_put_json(FILE *f, const char *json) {
  for (const unsigned char *p = (const unsigned char *)json; *p; p++) {
    if (*p < 0x20 || *p >= 0x7f)
      fprintf(f, "\\u%04x", *p);
    else
      fputc(*p, f);
  }
}

static int parse_compress(const struct cli *c, const char *s, enum tf_compress *out) {
  static const char *const names[] = {"huffman", "none", "fast", "best"};
  for (int i = 0; i < 4; i++)
    if (strcmp(s, names[i]) == 0) {
      *out = (enum tf_compress)i;
      return TF_OK;
    }
  return cli_usage_error(c, "--compress: expected huffman, none, fast or best, got '%s'", s);
}

json_t *cli_json_u64(uint64_t v) {
  char digits[24];
  if (v <= (uint64_t)INT64_MAX) return json_integer((json_int_t)v);
  snprintf(digits, sizeof digits, "%llu", (unsigned long long)v);
  return json_string(digits);
}

const char *cli_output_size(const char *path, char *buf, size_t n, json_t **json) {
  struct stat st;
  if (strcmp(path, "-") == 0 || stat(path, &st) != 0) {
    if (json) *json = json_null();
    return "streamed";
  }
  if (json) *json = json_integer((json_int_t)st.st_size);
  snprintf(buf, n, "%lld bytes", (long long)st.st_size);
  return buf;
}

void cli_print_json(json_t *j) {
  if (!j) return;
  json_dumpf(j, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
  fputc('\n', stdout);
  json_decref(j);
}

int cli_parse_weights(const struct cli *c, const char *s, enum tf_weights *out) {
  if (tf_weights_parse(s, out) == TF_OK) return TF_OK;
  return cli_usage_error(c, "--weights: expected f32, bf16 or q8, got '%s'", s);
}

int cli_give_tokenizer(struct tf_model *m, const char *path, struct tf_error *err) {
  if (path[0] == '\0' || strcmp(path, "bytes") == 0) return TF_OK;
  struct tf_tokenizer *t;
  int rc = tf_tokenizer_load(&t, path, err);
  if (rc) return rc;
  rc = tf_model_set_tokenizer(m, t, err);
  tf_tokenizer_free(t);
  return rc ? tf_error_prefix(err, "%s", path) : TF_OK;
}

/* ---------------------------------------------------------------- the option loop */

/* The shared options, each with the flag that makes a command take it. */
static const struct {
  unsigned flag;
  struct option o;
} shared_options[] = {
    {0, {"help", no_argument, 0, 'h'}},
    {0, {"version", no_argument, 0, CLI_OPT_VERSION}},
    {CLI_QUIET, {"quiet", no_argument, 0, 'q'}},
    {CLI_VERBOSE, {"verbose", no_argument, 0, 'v'}},
    {CLI_JSON, {"json", no_argument, 0, CLI_OPT_JSON}},
    {CLI_THREADS, {"threads", required_argument, 0, CLI_OPT_THREADS}},
    {CLI_CONFIG, {"config", required_argument, 0, 'c'}},
    {CLI_CONFIG, {"set", required_argument, 0, CLI_OPT_SET}},
    {CLI_OUTPUT, {"output", required_argument, 0, 'o'}},
    {CLI_SEED, {"seed", required_argument, 0, CLI_OPT_SEED}},
    {CLI_COMPRESS, {"compress", required_argument, 0, CLI_OPT_COMPRESS}},
};
#define N_SHARED (sizeof shared_options / sizeof shared_options[0])

/* The long table: the command's own options, then the shared ones it takes. NULL: no memory. */
static struct option *option_table(const struct cli *c, const struct option *own) {
  size_t n = 0, k = 0;
  while (own && own[n].name) n++;
  struct option *t = calloc(n + N_SHARED + 1, sizeof *t);
  if (!t) return NULL;
  for (k = 0; k < n; k++) t[k] = own[k];
  for (size_t i = 0; i < N_SHARED; i++)
    if (!shared_options[i].flag || (c->takes & shared_options[i].flag))
      t[k++] = shared_options[i].o;
  return t;
}

/* The short letters: the command's, then h, q, v, c:, o: as it takes them. */
static void short_letters(const struct cli *c, const char *own, char *out, size_t n) {
  snprintf(out, n, "%s%s%s%s%s%s", own ? own : "", "h", c->takes & CLI_QUIET ? "q" : "",
           c->takes & CLI_VERBOSE ? "v" : "", c->takes & CLI_CONFIG ? "c:" : "",
           c->takes & CLI_OUTPUT ? "o:" : "");
}

/* The long option word names (its text up to '='): the one entry it names exactly or
 * abbreviates alone; NULL when none or several (*several set). */
static const struct option *long_match(const struct option *t, const char *word, int *several) {
  size_t len = strcspn(word, "=");
  const struct option *hit = NULL, *exact = NULL;
  int n = 0;
  for (; t->name; t++)
    if (strncmp(t->name, word, len) == 0) {
      if (strlen(t->name) == len) exact = t;
      hit = t;
      n++;
    }
  if (several) *several = !exact && n > 1;
  return exact ? exact : n == 1 ? hit : NULL;
}

/* What getopt found wrong (opterr is 0: getopt printed nothing), as one error line. */
static int bad_option(const struct cli *c, char **argv, const struct option *t,
                      const char *shorts) {
  const char *word = optind > 0 ? argv[optind - 1] : "";
  if (strncmp(word, "--", 2) == 0 && (optopt == 0 || long_match(t, word + 2, NULL))) {
    int several, len = (int)strcspn(word, "=");
    const struct option *o = long_match(t, word + 2, &several);
    if (!o)
      return cli_usage_error(c, "%s option '%.*s'", several ? "ambiguous" : "unrecognized", len,
                             word);
    if (o->has_arg == no_argument && word[len])
      return cli_usage_error(c, "option '--%s' doesn't allow an argument", o->name);
    return cli_usage_error(c, "option '--%s' requires an argument", o->name);
  }
  const char *at = optopt > 0 && optopt < 0x100 ? strchr(shorts, optopt) : NULL;
  if (at && at[1] == ':') return cli_usage_error(c, "option '-%c' requires an argument", optopt);
  if (optopt > 0 && optopt < 0x100) return cli_usage_error(c, "unrecognized option '-%c'", optopt);
  return cli_usage_error(c, "unrecognized option '%s'", word);
}

/* A shared option into c: TF_OK, or TF_EUSAGE printed. */
static int shared_option(struct cli *c, int opt, const char *arg) {
  switch (opt) {
  case 'c':
    c->config = arg;
    return cli_stdin(c, "--config", arg);
  case 'o':
    c->output = arg;
    return TF_OK;
  case CLI_OPT_SET:
    c->sets[c->n_sets++] = arg;
    return TF_OK;
  case CLI_OPT_SEED:
    c->has_seed = 1;
    return cli_parse_u64(c, "--seed", arg, &c->seed);
  case CLI_OPT_COMPRESS:
    return parse_compress(c, arg, &c->compress);
  }
  int rc = common_option(c, opt, arg);
  return rc == 1 ? TF_OK : rc ? rc : cli_usage_error(c, "unexpected option");
}

/* A command's own option that names an input file: its value read from stdin goes through
 * cli_stdin, named by the option's long name. */
static int own_input(struct cli *c, const struct option *t, int opt, const char *arg) {
  const int *in = c->inputs;
  while (in && *in && *in != opt) in++;
  if (!in || !*in) return TF_OK;
  while (t->name && t->val != opt) t++;
  char name[64];
  snprintf(name, sizeof name, "--%s", t->name ? t->name : "?");
  return cli_stdin(c, name, arg);
}

/* Is opt one of the command's own options? */
static int is_own(int opt, const char *own_short, const struct option *own) {
  if (opt > 0 && opt < 0x100 && own_short && strchr(own_short, opt)) return 1;
  for (; own && own->name; own++)
    if (own->val == opt) return 1;
  return 0;
}

int cli_parse(struct cli *c, int argc, char **argv, const char *own_short, const struct option *own,
              cli_option_fn fn, void *args) {
  char shorts[64];
  int opt, rc = TF_OK;
  struct option *t = option_table(c, own);
  if (!t) fprintf(stderr, "%s: out of memory\n", c->prog);
  if (!t || !(c->sets = cli_name_list(c, argc))) {
    free(t);
    return TF_ENOMEM;
  }
  short_letters(c, own_short, shorts, sizeof shorts);
  opterr = 0;
  while (!rc && !c->done && (opt = getopt_long(argc, argv, shorts, t, NULL)) != -1) {
    if (opt == '?' || opt == ':')
      rc = bad_option(c, argv, t, shorts);
    else if (!is_own(opt, own_short, own))
      rc = shared_option(c, opt, optarg);
    else if (!(rc = fn(c, args, opt, optarg)))
      rc = own_input(c, t, opt, optarg);
  }
  free(t);
  if (rc || c->done) return rc;
  if ((rc = cli_check_path(c, "--config", c->config))) return rc;
  return cli_check_path(c, "--output", c->output);
}
