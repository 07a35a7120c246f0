/* tf-init: a new TokenFormer checkpoint from a config (docs/model.md §4 initialization). */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "cli.h"

static const char usage[] =
    "Usage: tf-init [-c CONFIG] [--set SECTION.KEY=VALUE]... [--seed N] [--tokenizer FILE] -o OUT\n"
    "       tf-init [-c CONFIG] [--set ...]... --print-config\n"
    "Create a TokenFormer model, initialized as docs/model.md §4 says, and write it as a\n"
    "checkpoint.\n"
    "\n"
    "  -c, --config FILE       YAML config (model: and init: sections; every key has a\n"
    "                          default, tf-init --print-config shows them); '-' reads stdin\n"
    "      --set S.K=V         override one config key (repeatable), e.g. model.d_model=128\n"
    "      --seed N            initialization seed (overrides init.seed)\n"
    "      --tokenizer FILE    a Hugging Face tokenizer.json stored in the model, or 'bytes'\n"
    "                          (overrides init.tokenizer)\n"
    "  -o, --output FILE       checkpoint to write ('-' for stdout, not a terminal)\n"
    "      --compress MODE     huffman (default), none, fast or best\n"
    "      --print-config      print the effective config as YAML and exit\n"
    "      --json              print the summary as JSON on stdout\n"
    "  -q, --quiet             no summary on stderr\n"
    "      --threads N         threads (default: OMP_NUM_THREADS or all cores)\n"
    "  -h, --help              this help\n"
    "      --version           version and matrix-product kernel\n"
    "\n"
    "Exit status: 0 ok, 64 usage, 65 bad tokenizer file, 66 config or tokenizer missing, 71 too\n"
    "large for memory, 73 cannot create output, 74 I/O error (the previous OUT is kept), 78 bad\n"
    "config (e.g. a vocab_size smaller than the tokenizer). See tf-init(1).\n";

enum { OPT_PRINT_CONFIG = CLI_OPT_FIRST_FREE, OPT_TOKENIZER };

struct init_args {
  const char *tokenizer;
  int print_config;
};

static int take_option(struct cli *c, void *args, int opt, const char *arg) {
  struct init_args *a = args;
  (void)c;
  if (opt == OPT_PRINT_CONFIG)
    a->print_config = 1;
  else /* OPT_TOKENIZER */
    a->tokenizer = arg;
  return TF_OK;
}

static int parse_args(struct cli *c, struct init_args *a, int argc, char **argv) {
  static const struct option longopts[] = {{"print-config", no_argument, 0, OPT_PRINT_CONFIG},
                                           {"tokenizer", required_argument, 0, OPT_TOKENIZER},
                                           {0, 0, 0, 0}};
  static const int inputs[] = {OPT_TOKENIZER, 0};
  c->inputs = inputs;
  int rc = cli_parse(c, argc, argv, NULL, longopts, take_option, a);
  if (rc || c->done || (rc = cli_no_operands(c, argc, argv))) return rc;
  if (!c->output && !a->print_config) return cli_usage_error(c, "an output is required (-o FILE)");
  if ((rc = cli_check_path(c, "--tokenizer", a->tokenizer))) return rc;
  if (c->json && c->output && strcmp(c->output, "-") == 0)
    return cli_usage_error(c, "--json and -o - both want stdout");
  return TF_OK;
}

static int load_config(struct cli *c, struct tf_config *cfg, const struct init_args *a,
                       struct tf_error *err) {
  int rc = cli_load_config(c, cfg, err);
  if (!rc && c->has_seed) cfg->init.seed = c->seed;
  if (!rc && a->tokenizer) {
    snprintf(cfg->init.tokenizer, sizeof cfg->init.tokenizer, "%s", a->tokenizer);
    tf_config_set_origin(cfg, "init.tokenizer", "--tokenizer");
  } else if (!rc && !a->print_config) { /* --tokenizer was checked as an option */
    rc = cli_stdin_key(c, cfg, "init.tokenizer", cfg->init.tokenizer, err);
  }
  if (!rc) rc = tf_config_check(cfg, err);
  return rc;
}

/* The history record: init.* as used, then the run (tf_model_add_run). */
static int record(struct tf_model *m, const struct tf_config *cfg, const char *config_file,
                  int argc, char **argv, struct tf_error *err) {
  static const char *const data_keys[] = {"init.tokenizer", NULL};
  const struct tf_init_config *ic = &cfg->init;
  json_t *rec =
      json_pack("{s:o, s:f, s:f, s:f, s:s}", "seed", cli_json_u64(ic->seed), "std", ic->std,
                "key_std", tf_init_key_std(ic), "value_std", tf_init_value_std(&cfg->model, ic),
                "tokenizer", tf_tokenizer_kind_name(m->tok));
  if (rec && tf_tokenizer_kind(m->tok) == TF_TOK_BPE)
    json_object_set_new(rec, "tokenizer_sha256", json_string(tf_tokenizer_sha256(m->tok)));
  struct tf_run run = {.command = "tf-init",
                       .argc = argc,
                       .argv = argv,
                       .cfg = cfg,
                       .model = &m->cfg,
                       .config_file = config_file,
                       .data_keys = data_keys};
  if (!rec) return tf_error_set(err, TF_ENOMEM, "out of memory writing the history");
  return tf_model_add_run(m, &run, rec, err);
}

static void print_summary(const struct cli *c, const struct tf_model *m, const char *out) {
  char size[48];
  json_t *bytes;
  const char *said = cli_output_size(out, size, sizeof size, &bytes);
  double flops = 3 * tf_forward_flops_per_token(&m->cfg);
  uint64_t n = tf_param_count(&m->cfg);
  if (c->json) {
    json_t *j = json_pack("{s:s, s:I, s:f, s:o}", "output", out, "parameters", (json_int_t)n,
                          "train_flops_per_token", flops, "file_bytes", bytes);
    cli_print_json(j);
  } else {
    json_decref(bytes);
  }
  if (!c->quiet && !c->json)
    fprintf(stderr, "%s: %s: %llu parameters, %.4g training FLOPs/token, %s\n", c->prog, out,
            (unsigned long long)n, flops, said);
}

int main(int argc, char **argv) {
  struct cli c;
  struct init_args a = {0};
  struct tf_config cfg;
  struct tf_model m;
  struct tf_error err = {0};
  cli_init(&c, "tf-init", usage,
           CLI_QUIET | CLI_JSON | CLI_THREADS | CLI_CONFIG | CLI_OUTPUT | CLI_SEED | CLI_COMPRESS);
  int rc = parse_args(&c, &a, argc, argv);
  if (rc || c.done) goto out;
  if ((rc = load_config(&c, &cfg, &a, &err))) {
    rc = cli_fail(&c, &err);
    goto out;
  }
  if (a.print_config) {
    tf_config_print(&cfg, stdout);
    goto out;
  }
  if ((rc = tf_output_check(c.output, &err)) || (rc = tf_model_create(&m, &cfg.model, &err))) {
    rc = cli_fail(&c, &err);
    goto out;
  }
  tf_model_init(&m, &cfg.init);
  rc = cli_give_tokenizer(&m, cfg.init.tokenizer, &err);
  if (rc == TF_ENOINPUT) tf_config_blame(&cfg, "init.tokenizer", &err);
  if (!rc) rc = record(&m, &cfg, c.config, argc, argv, &err);
  if (!rc) rc = tf_model_save(&m, c.output, c.compress, &err);
  if (rc)
    rc = cli_fail(&c, &err);
  else
    print_summary(&c, &m, c.output);
  tf_model_free(&m);
out:
  cli_free(&c);
  return cli_finish(&c, rc);
}
