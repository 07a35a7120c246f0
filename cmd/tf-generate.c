/* tf-generate: sample text from a checkpoint, streamed to stdout byte by byte as it comes. */
#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

static const char usage[] =
    "Usage: tf-generate -i MODEL [-p TEXT | -f FILE] [-n N] [-t TEMP] [--top-k K]\n"
    "                   [--top-p P] [--seed S] [--greedy] [--stop STRING]... [--echo]\n"
    "                   [--ignore-eos] [--json] [--weights f32|bf16|q8]\n"
    "Continue a prompt with a TokenFormer checkpoint, one token at a time, each written to\n"
    "stdout as soon as it is sampled (a BPE model's text once its UTF-8 characters are whole).\n"
    "The prompt is TEXT, FILE, or stdin when neither is given; the model's own tokenizer\n"
    "(bytes, or the BPE stored in the checkpoint) encodes it.\n"
    "\n"
    "  -i, --input FILE      checkpoint ('-' for stdin)\n"
    "  -p, --prompt TEXT     the prompt\n"
    "  -f, --file FILE       read the prompt from FILE ('-' for stdin)\n"
    "  -n, --tokens N        tokens to generate (bytes for a byte model; default 200)\n"
    "  -t, --temperature T   divide the logits by T (default 1; 0 is --greedy)\n"
    "      --top-k K         sample among the K most likely tokens only (default 0: all)\n"
    "      --top-p P         sample among the fewest most likely tokens holding probability P\n"
    "                        (in (0, 1]; default 1: all)\n"
    "      --seed S          random seed (default 1): the same seed, the same text\n"
    "      --greedy          always the most likely token (the lowest id on ties)\n"
    "      --stop STRING     stop once the generated text ends with STRING (repeatable;\n"
    "                        C escapes: \\n, \\t, \\r, \\\\, \\xHH)\n"
    "      --echo            print the prompt before the generated text\n"
    "      --weights FMT     f32, bf16 or q8: weights converted at load, the fp32 copy\n"
    "                        freed: fewer bytes to read per token, logits within the\n"
    "                        bounds of tf-generate(1); default: as the model stores them\n"
    "                        (f32, or tf-convert --quantize's format; such a model takes\n"
    "                        its own format or f32, its values in float)\n"
    "      --ignore-eos      go on past the end-of-text token (BPE models stop there)\n"
    "      --json            print one JSON object at the end instead of streaming:\n"
    "                        prompt, text, ids, tokens, stopped, seconds, tokens_per_s\n"
    "  -q, --quiet           no notice when the prompt is read from a terminal\n"
    "  -v, --verbose         timing on stderr\n"
    "      --threads N       threads (default: OMP_NUM_THREADS or all cores)\n"
    "  -h, --help            this help\n"
    "      --version         version and matrix-product kernel\n"
    "\n"
    "A prompt typed on a terminal ends with Ctrl-D (once, even in the middle of a line).\n"
    "An empty prompt starts from a newline byte (a BPE model: from the end-of-text token),\n"
    "not printed. A prompt longer than the model's seq_len is cut to its last seq_len tokens;\n"
    "when the context fills up, the oldest half is dropped and the rest encoded again\n"
    "(tf-generate(1)).\n"
    "Exit status: 0 ok, 64 usage, 65 bad checkpoint or a prompt a BPE model cannot read (not\n"
    "UTF-8), 66 missing or unreadable prompt or\n"
    "checkpoint, 71 too large for memory, 74 write error, 78 a bad TF_QKERNEL. See\n"
    "tf-generate(1).\n";

enum {
  OPT_TOP_K = CLI_OPT_FIRST_FREE,
  OPT_TOP_P,
  OPT_GREEDY,
  OPT_STOP,
  OPT_ECHO,
  OPT_WEIGHTS,
  OPT_IGNORE_EOS,
};

struct gen_args {
  const char *input, *prompt, *file;
  long tokens;
  struct tf_sample_config sc;
  char **stops; /* --stop strings, unescaped (allocated) */
  int n_stops, echo, ignore_eos;
  enum tf_weights weights;
};

/* A sampling option's value into a; 0 or TF_EUSAGE (printed). */
static int sampling_option(struct cli *c, struct gen_args *a, int opt, const char *arg) {
  long v;
  switch (opt) {
  case 't':
    return cli_parse_double(c, "--temperature", arg, 0, 1e6, &a->sc.temperature);
  case OPT_TOP_K:
    if (cli_parse_long(c, "--top-k", arg, 0, INT_MAX, &v)) return TF_EUSAGE;
    a->sc.top_k = (int)v;
    return TF_OK;
  case OPT_TOP_P:
    if (cli_parse_double(c, "--top-p", arg, 0, 1, &a->sc.top_p)) return TF_EUSAGE;
    if (a->sc.top_p > 0) return TF_OK;
    return cli_usage_error(c, "--top-p: expected a number in (0, 1], got '%s'", arg);
  default:
    a->sc.greedy = 1;
    return TF_OK; /* OPT_GREEDY */
  }
}

/* The value of a hex digit, -1 if h is none. */
static int hex_digit(char h) {
  return h >= '0' && h <= '9'   ? h - '0'
         : h >= 'a' && h <= 'f' ? h - 'a' + 10
         : h >= 'A' && h <= 'F' ? h - 'A' + 10
                                : -1;
}

/* --stop's string with its C escapes (\n \t \r \\ \xHH) replaced by the bytes they name, into
 * out (at least strlen(arg) + 1 bytes); TF_EUSAGE (printed) for another escape, a NUL byte or
 * an empty result. */
static int unescape_stop(struct cli *c, const char *arg, char *out) {
  static const char names[] = "ntr\\", bytes[] = "\n\t\r\\";
  char *o = out;
  for (const char *p = arg; *p; p++) {
    if (*p != '\\') {
      *o++ = *p;
      continue;
    }
    const char *k = *++p ? strchr(names, *p) : NULL;
    int hi = *p == 'x' ? hex_digit(p[1]) : -1, lo = hi >= 0 ? hex_digit(p[2]) : -1;
    if (k) {
      *o++ = bytes[k - names];
    } else if (lo >= 0 && (hi | lo) != 0) {
      *o++ = (char)(hi << 4 | lo);
      p += 2;
    } else {
      return cli_usage_error(c, "--stop '%s': escapes are \\n \\t \\r \\\\ and \\xHH (not \\x00)",
                             arg);
    }
  }
  *o = '\0';
  if (o == out) return cli_usage_error(c, "--stop: the string is empty");
  return TF_OK;
}

/* Adds --stop's string, unescaped, to a->stops. */
static int add_stop(struct cli *c, struct gen_args *a, const char *arg) {
  char *s = malloc(strlen(arg) + 1);
  if (!s) return cli_usage_error(c, "out of memory");
  a->stops[a->n_stops++] = s; /* freed with the others, also on failure */
  return unescape_stop(c, arg, s);
}

/* One option of the command's own; 0 or TF_EUSAGE (printed). */
static int take_option(struct cli *c, void *args, int opt, const char *arg) {
  struct gen_args *a = args;
  switch (opt) {
  case 'i':
    a->input = arg;
    return TF_OK;
  case 'p':
    a->prompt = arg;
    return TF_OK;
  case 'f':
    a->file = arg;
    return TF_OK;
  case 'n':
    return cli_parse_long(c, "--tokens", arg, 0, LONG_MAX, &a->tokens);
  case OPT_STOP:
    return add_stop(c, a, arg);
  case OPT_ECHO:
    a->echo = 1;
    return TF_OK;
  case OPT_WEIGHTS:
    return cli_parse_weights(c, arg, &a->weights);
  case OPT_IGNORE_EOS:
    a->ignore_eos = 1;
    return TF_OK;
  default: /* 't', OPT_TOP_K, OPT_TOP_P, OPT_GREEDY */
    return sampling_option(c, a, opt, arg);
  }
}

/* Cross-option checks once all are read. */
static int check_args(struct cli *c, const struct gen_args *a) {
  if (!a->input) return cli_usage_error(c, "a checkpoint is required (-i FILE)");
  int rc = cli_check_path(c, "--input", a->input);
  if (rc || (rc = cli_check_path(c, "--file", a->file))) return rc;
  if (a->prompt && a->file) return cli_usage_error(c, "-p and -f both give the prompt");
  if (!a->prompt && !a->file) return cli_stdin(c, "no -p or -f (the prompt from stdin)", NULL);
  return TF_OK;
}

static int parse_args(struct cli *c, struct gen_args *a, int argc, char **argv) {
  static const struct option longopts[] = {{"input", required_argument, 0, 'i'},
                                           {"prompt", required_argument, 0, 'p'},
                                           {"file", required_argument, 0, 'f'},
                                           {"tokens", required_argument, 0, 'n'},
                                           {"temperature", required_argument, 0, 't'},
                                           {"top-k", required_argument, 0, OPT_TOP_K},
                                           {"top-p", required_argument, 0, OPT_TOP_P},
                                           {"greedy", no_argument, 0, OPT_GREEDY},
                                           {"stop", required_argument, 0, OPT_STOP},
                                           {"echo", no_argument, 0, OPT_ECHO},
                                           {"weights", required_argument, 0, OPT_WEIGHTS},
                                           {"ignore-eos", no_argument, 0, OPT_IGNORE_EOS},
                                           {0, 0, 0, 0}};
  a->tokens = 200;
  a->sc = (struct tf_sample_config){.temperature = 1.0, .top_p = 1.0, .seed = 1};
  if (!(a->stops = calloc((size_t)argc + 1, sizeof *a->stops))) {
    fprintf(stderr, "%s: out of memory\n", c->prog);
    return TF_ENOMEM;
  }
  static const int inputs[] = {'i', 'f', 0};
  c->inputs = inputs;
  int rc = cli_parse(c, argc, argv, "i:p:f:n:t:", longopts, take_option, a);
  if (rc || c->done) return rc;
  if (c->has_seed) a->sc.seed = c->seed;
  if ((rc = cli_no_operands(c, argc, argv))) return rc;
  return check_args(c, a);
}

/* ---------------------------------------------------------------- the prompt */

/* A growing byte buffer. */
struct bytes {
  unsigned char *p;
  size_t n, cap;
};

static int bytes_add(struct bytes *b, const void *data, size_t n) {
  if (n == 0) return TF_OK;
  if (b->n + n > b->cap) {
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->n + n) cap *= 2;
    unsigned char *p = realloc(b->p, cap);
    if (!p) return TF_ENOMEM;
    b->p = p;
    b->cap = cap;
  }
  memcpy(b->p + b->n, data, n);
  b->n += n;
  return TF_OK;
}

/* A prompt typed on the terminal at fd. The terminal hands over a line at a time; Ctrl-D
 * hands over what is typed so far without a newline, or nothing at the start of a line: a
 * read that does not end in a newline is therefore the Ctrl-D that ends the prompt, in the
 * middle of a line too (stdio would wait for a second one there). */
static int read_terminal(int fd, struct bytes *b, struct tf_error *err) {
  char buf[1 << 14];
  for (;;) {
    ssize_t got = read(fd, buf, sizeof buf);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) return tf_error_set(err, TF_ENOINPUT, "<stdin>: cannot read: %s", strerror(errno));
    if (bytes_add(b, buf, (size_t)got))
      return tf_error_set(err, TF_ENOMEM, "<stdin>: out of memory");
    if (got == 0 || buf[got - 1] != '\n') return TF_OK;
  }
}

/* The prompt's bytes: -p TEXT, -f FILE, or stdin. */
static int read_prompt(const struct cli *c, const struct gen_args *a, struct bytes *b,
                       struct tf_error *err) {
  if (a->prompt && bytes_add(b, a->prompt, strlen(a->prompt)))
    return tf_error_set(err, TF_ENOMEM, "out of memory for the prompt");
  if (a->prompt) return TF_OK;
  const char *path = a->file ? a->file : "-";
  if (strcmp(path, "-") == 0 && isatty(STDIN_FILENO)) {
    cli_note(c, "reading the prompt from the terminal (end with Ctrl-D)");
    return read_terminal(STDIN_FILENO, b, err);
  }
  const char *name = strcmp(path, "-") == 0 ? "<stdin>" : path;
  struct tf_input in;
  int rc = tf_input_open(&in, path, name, err);
  if (!rc && bytes_add(b, in.p, in.n)) rc = tf_error_set(err, TF_ENOMEM, "%s: out of memory", name);
  if (!rc) rc = tf_input_check(name, err);
  tf_input_close(&in);
  return rc;
}

/* ---------------------------------------------------------------- generation */

struct run {
  enum tf_weights weights; /* the format the model runs on */
  const struct gen_args *a;
  const struct cli *c;
  struct bytes prompt, text; /* text: all of it with --json, else the tail stop strings need */
  struct bytes pending;      /* BPE text held back until its UTF-8 characters are whole */
  struct tf_ids ids;         /* the generated ids, for --json */
  size_t generated;          /* tokens generated */
  int prompt_tokens;         /* fed to the model, after the cut */
  const char *stopped;       /* "length", "stop" (a stop string) or "eos" */
  double seconds, prefill_seconds;
};

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* The generated text ends with one of the stop strings. */
static int at_stop(const struct gen_args *a, const struct bytes *t) {
  for (int i = 0; i < a->n_stops; i++) {
    size_t n = strlen(a->stops[i]);
    if (n <= t->n && memcmp(t->p + t->n - n, a->stops[i], n) == 0) return 1;
  }
  return 0;
}

/* Writes n bytes to stdout now; TF_EIO if that failed. */
static int put_now(const void *p, size_t n, struct tf_error *err) {
  if ((n && fwrite(p, 1, n, stdout) != n) || fflush(stdout))
    return tf_error_set(err, TF_EIO, "stdout: %s", strerror(errno));
  return TF_OK;
}

/* Streaming keeps only the bytes a stop string can still match, so memory does not grow
 * with -n; --json keeps the whole text. */
static void keep_tail(struct run *r) {
  size_t keep = 0;
  for (int i = 0; i < r->a->n_stops; i++)
    if (strlen(r->a->stops[i]) > keep) keep = strlen(r->a->stops[i]);
  if (r->c->json || r->text.n < keep + 4096) return;
  memmove(r->text.p, r->text.p + r->text.n - keep, keep);
  r->text.n = keep;
}

/* Writes a token's text: at once for a byte model (as sampled), for a BPE model once its
 * UTF-8 characters are whole (the rest when `all`). */
static int emit(struct run *r, const struct tf_model *m, const uint8_t *p, size_t n, int all,
                struct tf_error *err) {
  if (r->c->json) return TF_OK;
  if (tf_tokenizer_kind(m->tok) == TF_TOK_BYTES) return put_now(p, n, err);
  if (bytes_add(&r->pending, p, n)) return tf_error_set(err, TF_ENOMEM, "out of memory");
  size_t ready = all ? r->pending.n : tf_utf8_complete(r->pending.p, r->pending.n);
  int rc = put_now(r->pending.p, ready, err);
  memmove(r->pending.p, r->pending.p + ready, r->pending.n - ready);
  r->pending.n -= ready;
  return rc;
}

/* The sampling loop: sample, emit, stop or feed the token back. */
static int sample_loop(struct run *r, const struct tf_model *m, struct tf_decoder *dec,
                       struct tf_sampler *s, const float *logits, struct tf_error *err) {
  int32_t eos = r->a->ignore_eos ? -1 : tf_tokenizer_eos(m->tok);
  r->stopped = "length";
  for (long i = 0; i < r->a->tokens; i++) {
    if (!logits) return err->code; /* the decoder said why */
    int32_t tok = tf_sample(s, logits);
    if (tok < 0) return tf_error_set(err, TF_EDATA, "the model's logits are not finite");
    r->generated++;
    if (r->c->json && tf_ids_push(&r->ids, tok, err)) return err->code;
    if (tok == eos) {
      r->stopped = "eos";
      break;
    }
    size_t n = 0;
    const uint8_t *text =
        tf_tokenizer_is_special(m->tok, tok) ? NULL : tf_tokenizer_token_bytes(m->tok, tok, &n);
    if (bytes_add(&r->text, text, text ? n : 0))
      return tf_error_set(err, TF_ENOMEM, "out of memory");
    if (emit(r, m, text, text ? n : 0, 0, err)) return err->code;
    if (at_stop(r->a, &r->text)) {
      r->stopped = "stop";
      break;
    }
    keep_tail(r);
    if (i + 1 < r->a->tokens) logits = tf_decode_step(m, dec, tok, err);
  }
  return emit(r, m, NULL, 0, 1, err);
}

/* Prefill, then the sampling loop; timings into r. */
static int generate(struct run *r, const struct tf_model *m, struct tf_error *err) {
  struct tf_decoder dec;
  struct tf_sampler s;
  struct tf_ids ctx = {0};
  /* a byte model samples bytes, a BPE model its tokenizer's ids: never the padding */
  int n_cand =
      tf_tokenizer_kind(m->tok) == TF_TOK_BYTES ? TF_BYTE_TOKENS : tf_tokenizer_n_ids(m->tok);
  int rc = tf_tok_context(m, (const char *)r->prompt.p, r->prompt.n, &ctx, err);
  if (rc) return rc;
  if ((rc = tf_decoder_create(&dec, &m->cfg, 0, err))) {
    tf_ids_free(&ctx);
    return rc;
  }
  rc = tf_sampler_create(&s, n_cand, &r->a->sc, err);
  if (!rc) {
    double t0 = now();
    const float *logits = tf_decode_prefill(m, &dec, ctx.v, (int)ctx.n, err);
    r->prompt_tokens = dec.len;
    r->prefill_seconds = now() - t0;
    rc = sample_loop(r, m, &dec, &s, logits, err);
    r->seconds = now() - t0;
  }
  tf_ids_free(&ctx);
  tf_sampler_free(&s);
  tf_decoder_free(&dec);
  return rc;
}

/* ---------------------------------------------------------------- output */

/* Length of the well-formed UTF-8 sequence at s (n bytes left), 0 if none starts there. */
static size_t utf8_len(const unsigned char *s, size_t n) {
  static const unsigned long least[5] = {0, 0, 0x80, 0x800, 0x10000};
  size_t len = s[0] < 0x80 ? 1 : s[0] >> 5 == 6 ? 2 : s[0] >> 4 == 14 ? 3 : s[0] >> 3 == 30 ? 4 : 0;
  if (len == 0 || len > n) return 0;
  unsigned long cp = len == 1 ? s[0] : s[0] & (0x7fu >> len);
  for (size_t i = 1; i < len; i++) {
    if ((s[i] & 0xc0) != 0x80) return 0;
    cp = cp << 6 | (s[i] & 0x3f);
  }
  return cp < least[len] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff) ? 0 : len;
}

/* b as a JSON string: bytes that are not well-formed UTF-8 become U+FFFD each. */
static json_t *json_bytes(const struct bytes *b) {
  static const unsigned char replacement[3] = {0xef, 0xbf, 0xbd};
  struct bytes u = {0};
  for (size_t i = 0, len; i < b->n; i += len ? len : 1) {
    len = utf8_len(b->p + i, b->n - i);
    if (bytes_add(&u, len ? b->p + i : replacement, len ? len : 3)) break;
  }
  json_t *j = json_stringn(u.p ? (const char *)u.p : "", u.n);
  free(u.p);
  return j;
}

static void print_json(const struct run *r) {
  json_t *j = json_object();
  json_object_set_new(j, "prompt", json_bytes(&r->prompt));
  json_object_set_new(j, "text", json_bytes(&r->text));
  json_t *ids = json_array();
  for (size_t i = 0; i < r->ids.n; i++) json_array_append_new(ids, json_integer(r->ids.v[i]));
  json_object_set_new(j, "ids", ids);
  json_object_set_new(j, "tokens", json_integer((json_int_t)r->generated));
  json_object_set_new(j, "prompt_tokens", json_integer(r->prompt_tokens));
  json_object_set_new(j, "stopped", json_string(r->stopped ? r->stopped : "length"));
  json_object_set_new(j, "weights", json_string(tf_weights_name(r->weights)));
  json_object_set_new(j, "seconds", json_real(r->seconds));
  json_object_set_new(j, "tokens_per_s", json_real(r->seconds > 0 ? r->generated / r->seconds : 0));
  json_dumpf(j, stdout, JSON_COMPACT | JSON_PRESERVE_ORDER);
  putchar('\n');
  json_decref(j);
}

/* Loads the model in format w (TF_WEIGHTS_STORED: as stored) and checks that a byte model
 * holds every byte. */
static int load_model(struct tf_model *m, const char *path, enum tf_weights w,
                      struct tf_error *err) {
  int rc = tf_model_load_run(m, path, w, TF_USE_CONVERTED, NULL, err);
  if (rc) return rc;
  if (tf_tokenizer_kind(m->tok) == TF_TOK_BYTES && (rc = tf_tok_bytes_check(m, err))) {
    tf_error_prefix(err, "%s", path);
    tf_model_free(m);
  }
  return rc;
}

/* --json keeps the whole text and builds its JSON (up to 3 bytes per byte, twice): an -n
 * whose text cannot fit in memory is refused before anything is generated. */
static int check_json_size(const struct cli *c, const struct gen_args *a, struct tf_error *err) {
  double have = tf_machine_bytes();
  double need = 7.0 * (double)a->tokens;
  if (!c->json || have == 0 || need <= have) return TF_OK;
  return tf_error_set(err, TF_ENOMEM,
                      "--json keeps the whole text: -n %ld needs %.3g GiB, the machine has "
                      "%.3g GiB",
                      a->tokens, need / (1 << 30), have / (1 << 30));
}

static int run_command(const struct cli *c, const struct gen_args *a, struct run *r,
                       struct tf_error *err) {
  struct tf_model m;
  int rc = check_json_size(c, a, err);
  if (!rc) rc = read_prompt(c, a, &r->prompt, err); /* before the model: a cheap failure first */
  if (rc) return rc;
  if ((rc = load_model(&m, a->input, a->weights, err))) return rc;
  r->weights = m.weights;
  if (c->verbose)
    fprintf(stderr, "tf-generate: %s weights, %.1f MiB%s%s\n", tf_weights_name(m.weights),
            tf_model_weight_bytes(&m) / 1048576.0, m.qw ? ", kernels " : "",
            m.qw ? tf_weights_kernel() : "");
  if (a->echo && !c->json) rc = put_now(r->prompt.p, r->prompt.n, err);
  if (!rc && a->tokens > 0) rc = generate(r, &m, err);
  if (!rc && c->json) print_json(r);
  if (!rc && c->verbose)
    fprintf(stderr,
            "tf-generate: %zu tokens in %.3f s (%.1f tokens/s); prompt %d tokens in %.3f s\n",
            r->generated, r->seconds, r->seconds > 0 ? r->generated / r->seconds : 0.0,
            r->prompt_tokens, r->prefill_seconds);
  tf_model_free(&m);
  return rc;
}

int main(int argc, char **argv) {
  struct cli c;
  struct gen_args a = {.weights = TF_WEIGHTS_STORED};
  struct tf_error err = {0};
  cli_init(&c, "tf-generate", usage, CLI_QUIET | CLI_VERBOSE | CLI_JSON | CLI_THREADS | CLI_SEED);
  int rc = parse_args(&c, &a, argc, argv);
  if (!rc && !c.done) {
    struct run r = {.a = &a, .c = &c};
    rc = run_command(&c, &a, &r, &err);
    if (rc) rc = cli_fail(&c, &err);
    free(r.prompt.p);
    free(r.text.p);
    free(r.pending.p);
    tf_ids_free(&r.ids);
  }
  for (int i = 0; i < a.n_stops; i++) free(a.stops[i]);
  free(a.stops);
  cli_free(&c);
  return cli_finish(&c, rc);
}
