/* tf-grow: a checkpoint with more parameter tokens, the start of a new training stage
 * (docs/model.md §6). The growth itself is lib/grow.c's. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"

static const char usage[] =
    "Usage: tf-grow -i IN -o OUT [--qkv N|+N] [--proj N|+N] [--ffn N|+N]\n"
    "               [--init exact|random|duplicate] [--rescale] [--keep-optimizer]\n"
    "               [-c CONFIG] [--set SECTION.KEY=VALUE]... [--seed S]\n"
    "               [--data FILE [--max-tokens N]]\n"
    "       tf-grow [-i IN] [growth options]... [-c CONFIG] [--set ...]... --print-config\n"
    "Append parameter tokens to every Pattention of a kind; the grown checkpoint starts a new\n"
    "training stage. N is a new total, +N an increment; at least one kind must grow. A total\n"
    "below the model's shrinks instead: each Pattention keeps its most important tokens\n"
    "(|value row| x mean |score| on the sample text of --data).\n"
    "\n"
    "  -i, --input FILE      checkpoint to grow ('-' for stdin)\n"
    "  -o, --output FILE     grown checkpoint ('-' for stdout, not a terminal)\n"
    "      --qkv N|+N        tokens of each query, key and value Pattention\n"
    "      --proj N|+N       tokens of the attention output Pattention\n"
    "      --ffn N|+N        tokens of the feed-forward Pattention\n"
    "      --init MODE       new tokens: exact (default: zero keys, random values, tau\n"
    "                        kept: the same function), random (keys and values as at init),\n"
    "                        duplicate (copies of the old keys, zero values, n_ref scaled:\n"
    "                        the same function; increments must be multiples of the counts)\n"
    "      --rescale         set n_ref to the new counts (tau = sqrt(n), the official code's\n"
    "                        way): the function changes\n"
    "      --keep-optimizer  extend the AdamW moments with zeros instead of resetting them\n"
    "  -c, --config FILE     YAML config: its grow: section, and init: for the new rows'\n"
    "                        standard deviations; the options above override it\n"
    "      --set S.K=V       override one config key (repeatable), e.g. grow.ffn_tokens=+64\n"
    "      --seed S          seed of the new rows (overrides grow.seed)\n"
    "      --data FILE       shrinking: sample text or token dataset the tokens are scored on\n"
    "      --max-tokens N    shrinking: score on the first N tokens of FILE (default 65536)\n"
    "      --compress MODE   huffman (default), none, fast or best\n"
    "      --print-config    print the run's config as YAML (defaults included; with -i,\n"
    "                        the checkpoint's model) and exit\n"
    "      --json            print the summary as JSON on stdout\n"
    "  -q, --quiet           no summary or notes on stderr (warnings remain)\n"
    "      --threads N       threads (default: OMP_NUM_THREADS or all cores)\n"
    "  -h, --help            this help\n"
    "      --version         version and matrix-product kernel\n"
    "\n"
    "Exit status: 0 ok, 64 usage or a growth that is refused (shrinking, nothing to grow,\n"
    "exact growth of a softmax model, duplicate by a non-multiple), 65 bad checkpoint,\n"
    "66 missing input, 71 too large for memory, 73 cannot create output, 74 I/O error (the\n"
    "previous OUT is kept), 78 bad config. See tf-grow(1).\n";

enum {
  OPT_QKV = CLI_OPT_FIRST_FREE, /* OPT_QKV + k for kind k */
  OPT_PROJ,
  OPT_FFN,
  OPT_INIT,
  OPT_RESCALE,
  OPT_KEEP_OPTIMIZER,
  OPT_PRINT_CONFIG,
  OPT_DATA,
  OPT_MAX_TOKENS
};

struct grow_args {
  const char *input, *output, *config;
  int given[TF_NKINDS], tokens[TF_NKINDS], relative[TF_NKINDS]; /* --qkv, --proj, --ffn */
  int init;                                                     /* -1: not given */
  int rescale, keep_optimizer, print_config;
  const char *data; /* shrinking's sample */
  long max_tokens;
  int argc;
  char **argv; /* the whole command line, for the history */
};

/* "N" (a new total) or "+N" (an increment); "+0" and "0" leave the kind as it is. */
static int parse_count(struct cli *c, struct grow_args *a, int k, const char *s) {
  char opt[16];
  long v;
  snprintf(opt, sizeof opt, "--%s", tf_kind_name(k));
  int rel = s[0] == '+';
  if (s[rel] < '0' || s[rel] > '9')
    return cli_usage_error(c, "%s: expected N (a new total) or +N (an increment), got '%s'", opt,
                           s);
  if (cli_parse_long(c, opt, s + rel, 0, 1L << 24, &v)) return TF_EUSAGE;
  a->given[k] = 1;
  a->tokens[k] = (int)v;
  a->relative[k] = rel && v != 0;
  return TF_OK;
}

static int parse_init(struct cli *c, struct grow_args *a, const char *s) {
  for (int i = TF_GROW_EXACT; i <= TF_GROW_DUPLICATE; i++)
    if (strcmp(s, tf_grow_init_name(i)) == 0) {
      a->init = i;
      return TF_OK;
    }
  return cli_usage_error(c, "--init: expected exact, random or duplicate, got '%s'", s);
}

static int take_option(struct cli *c, void *args, int opt, const char *arg) {
  struct grow_args *a = args;
  switch (opt) {
  case 'i':
    a->input = arg;
    return TF_OK;
  case OPT_INIT:
    return parse_init(c, a, arg);
  case OPT_RESCALE:
    a->rescale = 1;
    return TF_OK;
  case OPT_KEEP_OPTIMIZER:
    a->keep_optimizer = 1;
    return TF_OK;
  case OPT_PRINT_CONFIG:
    a->print_config = 1;
    return TF_OK;
  case OPT_DATA:
    a->data = arg;
    return cli_check_path(c, "--data", arg);
  case OPT_MAX_TOKENS:
    return cli_parse_long(c, "--max-tokens", arg, 2, 1L << 40, &a->max_tokens);
  default: /* OPT_QKV, OPT_PROJ, OPT_FFN */
    return parse_count(c, a, opt - OPT_QKV, arg);
  }
}

static int parse_args(struct cli *c, struct grow_args *a, int argc, char **argv) {
  static const struct option longopts[] = {{"input", required_argument, 0, 'i'},
                                           {"qkv", required_argument, 0, OPT_QKV},
                                           {"proj", required_argument, 0, OPT_PROJ},
                                           {"ffn", required_argument, 0, OPT_FFN},
                                           {"init", required_argument, 0, OPT_INIT},
                                           {"rescale", no_argument, 0, OPT_RESCALE},
                                           {"keep-optimizer", no_argument, 0, OPT_KEEP_OPTIMIZER},
                                           {"print-config", no_argument, 0, OPT_PRINT_CONFIG},
                                           {"data", required_argument, 0, OPT_DATA},
                                           {"max-tokens", required_argument, 0, OPT_MAX_TOKENS},
                                           {0, 0, 0, 0}};
  static const int inputs[] = {'i', OPT_DATA, 0};
  a->init = -1;
  a->max_tokens = 65536;
  c->inputs = inputs;
  int rc = cli_parse(c, argc, argv, "i:", longopts, take_option, a);
  if (rc || c->done || (rc = cli_no_operands(c, argc, argv))) return rc;
  a->config = c->config;
  a->output = c->output;
  if ((rc = cli_check_in_out(c, a->input, a->print_config)) || a->print_config) return rc;
  if (c->json && strcmp(a->output, "-") == 0)
    return cli_usage_error(c, "--json and -o - both want stdout");
  return TF_OK;
}

/* The grow: and init: sections: defaults, CONFIG, --set, then the options. */
static int load_config(const struct cli *c, struct tf_config *cfg, const struct grow_args *a,
                       struct tf_error *err) {
  struct tf_grow_config *g = &cfg->grow;
  int rc = cli_load_config(c, cfg, err);
  if (rc) return rc;
  for (int k = 0; k < TF_NKINDS; k++)
    if (a->given[k]) {
      g->tokens[k] = a->tokens[k];
      g->relative[k] = a->relative[k];
    }
  if (a->init >= 0) g->init = (enum tf_grow_init)a->init;
  g->rescale |= a->rescale;
  g->keep_optimizer |= a->keep_optimizer;
  if (c->has_seed) g->seed = c->seed;
  return tf_config_check(cfg, err);
}

/* A growth done: the models before and after, and the plan. */
struct outcome {
  const struct tf_model *in, *out;
  struct tf_grow_plan p;
  const struct tf_shrink_report *shrink; /* NULL: a growth */
};

/* What the growth did, as JSON members: counts as [before, after] per config key. */
static json_t *describe(const struct grow_args *a, const struct tf_grow_config *g,
                        const struct outcome *r) {
  const struct tf_grow_plan *p = &r->p;
  json_t *j =
      json_pack("{s:s, s:s, s:b, s:b, s:o, s:b}", "input", a->input, "init",
                tf_grow_init_name(g->init), "rescale", g->rescale, "keep_optimizer",
                g->keep_optimizer, "seed", cli_json_u64(g->seed), "same_function", p->exact);
  for (int k = 0; k < TF_NKINDS; k++) {
    char key[32];
    snprintf(key, sizeof key, "%s_tokens", tf_kind_name(k));
    json_object_set_new(j, key, json_pack("[i, i]", p->old_tokens[k], p->new_tokens[k]));
    snprintf(key, sizeof key, "%s_ref_tokens", tf_kind_name(k));
    json_object_set_new(j, key, json_pack("[i, i]", p->old_ref[k], p->new_ref[k]));
  }
  if (r->shrink)
    json_object_set_new(j, "sample",
                        json_pack("{s:s, s:I, s:[f, f], s:[f, f]}", "data", a->data, "tokens",
                                  (json_int_t)r->shrink->before.tokens, "loss",
                                  r->shrink->before.loss, r->shrink->after.loss, "bits_per_byte",
                                  r->shrink->before.bits_per_byte, r->shrink->after.bits_per_byte));
  json_object_set_new(j, "parameters",
                      json_pack("[I, I]", (json_int_t)tf_param_count(&r->in->cfg),
                                (json_int_t)tf_param_count(&r->out->cfg)));
  return j;
}

/* Appends the record (tf_model_add_run: the run's provenance after it) to out's history. */
static int add_history(struct tf_model *out, const struct grow_args *a, const struct tf_config *cfg,
                       json_t *rec, struct tf_error *err) {
  struct tf_run run = {.command = "tf-grow",
                       .argc = a->argc,
                       .argv = a->argv,
                       .cfg = cfg,
                       .model = &out->cfg,
                       .config_file = a->config};
  return tf_model_add_run(out, &run, json_incref(rec), err);
}

/* The warning of --rescale (even with -q), and notes (unless -q). */
static void warn(const struct cli *c, const struct grow_args *a, const struct tf_grow_config *g,
                 const struct outcome *r) {
  if (!r->p.exact && g->rescale)
    fprintf(stderr,
            "%s: warning: --rescale: n_ref becomes the new token count (tau = sqrt(n)); the "
            "grown model computes a different function\n",
            c->prog);
  else if (!r->p.exact)
    cli_note(c, "--init random: the new keys are random; the grown model computes a different "
                "function");
  if (g->keep_optimizer && !r->in->train.present)
    cli_note(c, "%s has no optimizer state: --keep-optimizer keeps nothing", a->input);
}

/* "qkv 32 -> 64 (n_ref 32 -> 64), proj 32, ffn 64 -> 96" on stderr. */
static void print_counts(const struct tf_grow_plan *p) {
  for (int k = 0; k < TF_NKINDS; k++) {
    fprintf(stderr, "%s%s %d", k ? ", " : "", tf_kind_name(k), p->old_tokens[k]);
    if (p->new_tokens[k] != p->old_tokens[k]) fprintf(stderr, " -> %d", p->new_tokens[k]);
    if (p->new_ref[k] != p->old_ref[k])
      fprintf(stderr, " (n_ref %d -> %d)", p->old_ref[k], p->new_ref[k]);
  }
}

static void print_summary(const struct cli *c, const struct grow_args *a,
                          const struct tf_grow_config *g, json_t *rec, const struct outcome *r) {
  const char *o = a->output;
  if (c->json) {
    char size[48];
    json_t *bytes;
    cli_output_size(o, size, sizeof size, &bytes);
    json_object_set_new(rec, "output", json_string(o));
    json_object_set_new(rec, "file_bytes", bytes);
    cli_print_json(json_incref(rec));
  }
  if (c->quiet || c->json) return;
  fprintf(stderr, "%s: %s: %llu -> %llu parameters (", c->prog, o,
          (unsigned long long)tf_param_count(&r->in->cfg),
          (unsigned long long)tf_param_count(&r->out->cfg));
  print_counts(&r->p);
  if (r->shrink) {
    const struct tf_shrink_report *x = r->shrink;
    fprintf(stderr,
            "), shrunk: loss on %lld tokens of the sample %.4f -> %.4f (%.4f -> %.4f bits "
            "per byte)\n",
            (long long)x->before.tokens, x->before.loss, x->after.loss, x->before.bits_per_byte,
            x->after.bits_per_byte);
    return;
  }
  fprintf(stderr, "), init %s, %s\n", tf_grow_init_name(g->init),
          r->p.exact ? "same function" : "function changed");
}

/* Shrinking: in's tokens scored on the sample of --data, the least important dropped. */
static int shrink(const struct grow_args *a, const struct tf_config *cfg, struct tf_model *out,
                  struct outcome *r, struct tf_shrink_report *rep, struct tf_error *err) {
  struct tf_corpus text;
  if (!a->data)
    return tf_error_set(err, TF_EUSAGE,
                        "a count below the model's shrinks it, which scores the "
                        "tokens on sample text: --data FILE is required");
  int rc = tf_corpus_open_with(&text, a->data, r->in->tok, 0, 0, err);
  if (rc) return rc;
  size_t n = text.n < (size_t)a->max_tokens ? text.n : (size_t)a->max_tokens;
  int B = tf_acts_fit_batch(&r->in->cfg, 8, r->in->cfg.seq_len);
  if ((rc = tf_corpus_check_model(&text, r->in, err))) goto done;
  if (n < 2 || B < 1) {
    rc = tf_error_set(err, n < 2 ? TF_EDATA : TF_ENOMEM, "%s: %s", text.path,
                      n < 2 ? "fewer than 2 tokens, nothing to score on"
                            : "not even one window fits in memory beside the model");
    goto done;
  }
  rc = tf_model_shrink_on(out, r->in, &cfg->grow, &text, n, B, rep, err);
  if (!rc) r->p = rep->plan, r->shrink = rep;
done:
  tf_corpus_close(&text);
  return rc;
}

static int grow(const struct cli *c, const struct grow_args *a, const struct tf_config *cfg,
                struct tf_error *err) {
  struct tf_model in, out;
  struct outcome r = {.in = &in, .out = &out};
  int rc = tf_output_check(a->output, err);
  if (!rc) rc = tf_model_load(&in, a->input, err);
  if (rc) return rc;
  cli_warn_model_ignored(c, &cfg->model, &in, a->config);
  struct tf_shrink_report rep;
  struct tf_error probe = {0};
  if (tf_grow_plan(&r.p, &in, &cfg->grow, &probe) == TF_OK && r.p.shrink)
    rc = shrink(a, cfg, &out, &r, &rep, err);
  else
    rc = tf_model_grow(&out, &in, &cfg->grow, &cfg->init, &r.p, err);
  if (rc) goto free_in;
  if (!r.shrink) warn(c, a, &cfg->grow, &r);
  json_t *rec = describe(a, &cfg->grow, &r);
  rc = add_history(&out, a, cfg, rec, err);
  if (!rc) rc = tf_model_save(&out, a->output, c->compress, err);
  if (!rc) print_summary(c, a, &cfg->grow, rec, &r);
  json_decref(rec);
  tf_model_free(&out);
free_in:
  tf_model_free(&in);
  return rc;
}

int main(int argc, char **argv) {
  struct cli c;
  struct grow_args a = {0};
  struct tf_config cfg;
  struct tf_error err = {0};
  cli_init(&c, "tf-grow", usage,
           CLI_QUIET | CLI_JSON | CLI_THREADS | CLI_CONFIG | CLI_OUTPUT | CLI_SEED | CLI_COMPRESS);
  int rc = parse_args(&c, &a, argc, argv);
  a.argc = argc;
  a.argv = argv;
  if (rc || c.done) goto out;
  if ((rc = load_config(&c, &cfg, &a, &err)) ||
      (a.print_config ? (rc = cli_print_config(&cfg, a.input, &err))
                      : (rc = grow(&c, &a, &cfg, &err))))
    rc = cli_fail(&c, &err);
out:
  cli_free(&c);
  return cli_finish(&c, rc);
}
