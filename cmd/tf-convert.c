/* tf-convert: the released TokenFormer checkpoints (the official GPT-NeoX/DeepSpeed code's
 * files) to a model, and a model back to the official layout. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const char usage[] =
    "Usage: tf-convert --from-official FILE [--config FILE] [--tokenizer FILE] -o MODEL\n"
    "       tf-convert --to-official MODEL -o FILE [--config-out FILE] [--rescale]\n"
    "       tf-convert --to-safetensors MODEL -o FILE [--config-out FILE] [--rescale]\n"
    "       tf-convert --quantize bf16|q8 -i MODEL -o MODEL\n"
    "Convert between the official TokenFormer checkpoints and tokenformer models; store a\n"
    "model's weights in bf16 or q8 for inference.\n"
    "\n"
    "      --from-official FILE  a pytorch_model.bin (torch.save zip format; DeepSpeed's\n"
    "                            mp_rank_00_model_states.pt too) or a .safetensors file with\n"
    "                            the official names; its code is never run\n"
    "      --config FILE         the model card's config.json or the GPT-NeoX YAML (heads,\n"
    "                            seq length, rotary_pct, norm); optional for the four released\n"
    "                            models, recognised by their shapes\n"
    "      --tokenizer FILE      a tokenizer.json stored in the model (GPT-NeoX-20B's)\n"
    "      --to-official MODEL   write a file torch.load and the official code read\n"
    "      --to-safetensors MODEL  the same tensors and names as safetensors\n"
    "      --config-out FILE     also write the HF-style config.json of the model\n"
    "      --rescale             export a model with n_ref != n (grown exactly) anyway: the\n"
    "                            official code then computes tau = sqrt(n), another function\n"
    "      --quantize FMT        write the model of -i with its weights stored bf16 or q8 (the\n"
    "                            formats of tf-generate --weights), for tf-generate and\n"
    "                            tf-eval only: training, growing and exporting refuse it\n"
    "  -i, --input MODEL         the model --quantize reads ('-' for stdin)\n"
    "  -o, --output FILE         the output ('-' for stdout)\n"
    "      --compress MODE       of an imported or quantized model: huffman (default), none,\n"
    "                            fast or best\n"
    "      --json                a JSON summary on stdout\n"
    "  -q, --quiet               no summary on stderr\n"
    "      --threads N           threads compressing an imported model (default:\n"
    "                            OMP_NUM_THREADS or all cores)\n"
    "  -h, --help                this help\n"
    "      --version             version\n"
    "\n"
    "Exit status: 0 ok, 64 usage (or no --config for shapes that are no released model's),\n"
    "65 bad or hostile input file, n_ref != n without --rescale, a bf16 or q8 model to\n"
    "export or quantize, 66 missing input, 71 too large for memory, 73 cannot create the\n"
    "output, 74 I/O error, 78 a config that disagrees with the file or describes another\n"
    "network. See tf-convert(1).\n";

enum {
  OPT_FROM = CLI_OPT_FIRST_FREE,
  OPT_TO_OFFICIAL,
  OPT_TO_ST,
  OPT_CONFIG,
  OPT_TOKENIZER,
  OPT_CONFIG_OUT,
  OPT_RESCALE,
  OPT_QUANTIZE
};

struct convert_args {
  int mode; /* OPT_FROM, OPT_TO_OFFICIAL, OPT_TO_ST or OPT_QUANTIZE */
  enum tf_weights quantize;
  const char *input, *output, *config, *tokenizer, *config_out;
  int rescale;
  enum tf_compress compress;
  int argc;
  char **argv; /* the whole command line, for the history */
};

#define MODES "give one of --from-official, --to-official, --to-safetensors, --quantize"

static int set_mode(struct cli *c, struct convert_args *a, int opt, const char *arg) {
  if (a->mode) return cli_usage_error(c, MODES);
  a->mode = opt;
  if (opt != OPT_QUANTIZE) {
    if (a->input) return cli_usage_error(c, "-i goes with --quantize");
    a->input = arg;
    return TF_OK;
  }
  int rc = cli_parse_weights(c, arg, &a->quantize);
  if (!rc && a->quantize == TF_WEIGHTS_F32)
    return cli_usage_error(c, "--quantize: expected bf16 or q8, got 'f32'");
  return rc;
}

static int check_args(struct cli *c, const struct convert_args *a) {
  int rc;
  if (!a->mode) return cli_usage_error(c, MODES);
  if (a->mode == OPT_QUANTIZE && !a->input)
    return cli_usage_error(c, "--quantize reads the model of -i MODEL");
  if (!a->output) return cli_usage_error(c, "an output is required (-o FILE)");
  if (a->mode == OPT_QUANTIZE && (a->config_out || a->rescale || a->config || a->tokenizer))
    return cli_usage_error(c, "--quantize takes -i, -o and --compress only");
  if (a->mode == OPT_FROM && (a->config_out || a->rescale))
    return cli_usage_error(c, "--config-out and --rescale are options of an export");
  if (a->mode != OPT_FROM && (a->config || a->tokenizer))
    return cli_usage_error(c, "--config and --tokenizer are options of --from-official");
  if ((rc = cli_check_path(c, "--input", a->input)) ||
      (rc = cli_check_path(c, "--config", a->config)) ||
      (rc = cli_check_path(c, "--tokenizer", a->tokenizer)) ||
      (rc = cli_check_path(c, "--config-out", a->config_out)))
    return rc;
  if (a->mode == OPT_FROM && !strcmp(a->input, "-"))
    return cli_usage_error(c, "--from-official reads a file (it is mapped), not stdin");
  if (a->config_out && !strcmp(a->config_out, "-") && !strcmp(a->output, "-"))
    return cli_usage_error(c, "stdout can take only one of -o and --config-out");
  if (c->json && (!strcmp(a->output, "-") || (a->config_out && !strcmp(a->config_out, "-"))))
    return cli_usage_error(c, "--json and %s - both want stdout",
                           strcmp(a->output, "-") ? "--config-out" : "-o");
  return TF_OK;
}

static int take_option(struct cli *c, void *args, int opt, const char *arg) {
  struct convert_args *a = args;
  switch (opt) {
  case OPT_CONFIG:
    a->config = arg;
    return TF_OK;
  case OPT_TOKENIZER:
    a->tokenizer = arg;
    return TF_OK;
  case OPT_CONFIG_OUT:
    a->config_out = arg;
    return TF_OK;
  case OPT_RESCALE:
    a->rescale = 1;
    return TF_OK;
  case 'i':
    if (a->mode && a->mode != OPT_QUANTIZE) return cli_usage_error(c, "-i goes with --quantize");
    a->input = arg;
    return TF_OK;
  default: /* OPT_FROM, OPT_TO_OFFICIAL, OPT_TO_ST, OPT_QUANTIZE */
    return set_mode(c, a, opt, arg);
  }
}

static int parse_args(struct cli *c, struct convert_args *a, int argc, char **argv) {
  static const struct option longopts[] = {{"from-official", required_argument, 0, OPT_FROM},
                                           {"to-official", required_argument, 0, OPT_TO_OFFICIAL},
                                           {"to-safetensors", required_argument, 0, OPT_TO_ST},
                                           {"config", required_argument, 0, OPT_CONFIG},
                                           {"tokenizer", required_argument, 0, OPT_TOKENIZER},
                                           {"config-out", required_argument, 0, OPT_CONFIG_OUT},
                                           {"rescale", no_argument, 0, OPT_RESCALE},
                                           {"quantize", required_argument, 0, OPT_QUANTIZE},
                                           {"input", required_argument, 0, 'i'},
                                           {0, 0, 0, 0}};
  static const int inputs[] = {'i', OPT_TO_OFFICIAL, OPT_TO_ST, OPT_CONFIG, OPT_TOKENIZER, 0};
  c->inputs = inputs;
  int rc = cli_parse(c, argc, argv, "i:", longopts, take_option, a);
  if (rc || c->done || (rc = cli_no_operands(c, argc, argv))) return rc;
  a->output = c->output;
  a->compress = c->compress;
  return check_args(c, a);
}

/* The history record of an import: where the weights came from, exactly. */
static int record(struct tf_model *m, const struct convert_args *a,
                  const struct tf_official_info *info, struct tf_error *err) {
  json_t *j =
      json_pack("{s:s, s:s, s:I, s:s, s:s, s:b, s:i, s:i}", "from", a->input, "format",
                info->format, "bytes", (json_int_t)info->bytes, "sha256", info->sha256,
                "official_config", a->config ? a->config : "released model shapes", "deepspeed",
                info->nested, "widened", info->widened, "ignored", info->ignored);
  if (j && a->tokenizer) json_object_set_new(j, "tokenizer", json_string(a->tokenizer));
  struct tf_run run = {.command = "tf-convert", .argc = a->argc, .argv = a->argv};
  return j ? tf_model_add_run(m, &run, j, err) : tf_error_set(err, TF_ENOMEM, "out of memory");
}

static void summary(const struct cli *c, const struct convert_args *a, const struct tf_model *m,
                    const struct tf_official_info *info) {
  if (c->json) {
    json_t *j = json_pack("{s:s, s:s, s:I}", "input", a->input, "output", a->output, "parameters",
                          (json_int_t)m->n_params);
    if (info)
      json_object_update_new(j, json_pack("{s:s, s:I, s:s, s:b, s:i, s:i}", "format", info->format,
                                          "bytes", (json_int_t)info->bytes, "sha256", info->sha256,
                                          "deepspeed", info->nested, "widened", info->widened,
                                          "ignored", info->ignored));
    cli_print_json(j);
  } else if (info) {
    cli_note(c, "%s (%s%s, %llu bytes, sha256 %s) -> %s: %zu parameters%s%s", a->input,
             info->format, info->nested ? ", DeepSpeed module" : "",
             (unsigned long long)info->bytes, info->sha256, a->output, m->n_params,
             info->widened ? ", half-precision tensors widened" : "",
             info->released_shape ? ", config of the released model of these shapes" : "");
  } else {
    cli_note(c, "%s -> %s: %zu parameters under the official names", a->input, a->output,
             m->n_params);
  }
}

/* --quantize: the f32 model converted as tf-generate --weights converts it at load, then
 * written with its weights in that format (tokenformer-checkpoint(5)). */
static int quantize(const struct cli *c, const struct convert_args *a, struct tf_error *err) {
  struct tf_model m;
  int rc = tf_model_load_weights(&m, a->input, err);
  if (rc) return rc;
  size_t f32 = tf_model_weight_bytes(&m);
  const char *name = tf_weights_name(a->quantize);
  json_t *j = json_pack("{s:s, s:s}", "from", a->input, "quantize", name);
  struct tf_run run = {.command = "tf-convert", .argc = a->argc, .argv = a->argv};
  rc = tf_model_convert_weights(&m, a->quantize, err);
  if (!rc)
    rc = j ? tf_model_add_run(&m, &run, j, err) : tf_error_set(err, TF_ENOMEM, "out of memory");
  else
    json_decref(j);
  if (!rc) rc = tf_model_save(&m, a->output, a->compress, err);
  if (!rc && c->json)
    cli_print_json(json_pack("{s:s, s:s, s:s, s:I, s:I, s:I}", "input", a->input, "output",
                             a->output, "weights", name, "parameters", (json_int_t)m.n_params,
                             "f32_bytes", (json_int_t)f32, "weight_bytes",
                             (json_int_t)tf_model_weight_bytes(&m)));
  else if (!rc)
    cli_note(c, "%s -> %s: %zu parameters, weights stored %s (%.1f MiB in memory, f32 %.1f MiB)",
             a->input, a->output, m.n_params, name, tf_model_weight_bytes(&m) / 1048576.0,
             f32 / 1048576.0);
  tf_model_free(&m);
  return rc;
}

static int run(const struct cli *c, const struct convert_args *a, struct tf_error *err) {
  struct tf_model m;
  struct tf_official_info info;
  int rc = tf_output_check(a->output, err);
  if (!rc && a->config_out) rc = tf_output_check(a->config_out, err);
  if (rc) return rc;
  if (a->mode == OPT_FROM) {
    rc = tf_official_import(&m, a->input, a->config, &info, err);
    if (rc) return rc;
    if (a->tokenizer) rc = cli_give_tokenizer(&m, a->tokenizer, err);
    if (!rc) rc = record(&m, a, &info, err);
    if (!rc) rc = tf_model_save(&m, a->output, a->compress, err);
    if (!rc) summary(c, a, &m, &info);
    tf_model_free(&m);
    return rc;
  }
  if (a->mode == OPT_QUANTIZE) return quantize(c, a, err);
  if ((rc = tf_model_load_weights(&m, a->input, err))) return rc;
  rc = tf_official_export(&m, a->output,
                          a->mode == OPT_TO_ST ? TF_OFFICIAL_SAFETENSORS : TF_OFFICIAL_TORCH,
                          a->rescale, err);
  if (rc) tf_error_name_file(err, a->input);
  if (!rc && a->config_out) rc = tf_official_write_config(&m.cfg, a->config_out, err);
  if (!rc) summary(c, a, &m, NULL);
  tf_model_free(&m);
  return rc;
}

int main(int argc, char **argv) {
  struct cli c;
  struct convert_args a = {0};
  struct tf_error err = {0};
  cli_init(&c, "tf-convert", usage, CLI_QUIET | CLI_JSON | CLI_THREADS | CLI_OUTPUT | CLI_COMPRESS);
  int rc = parse_args(&c, &a, argc, argv);
  a.argc = argc;
  a.argv = argv;
  if (!rc && !c.done && (rc = run(&c, &a, &err))) rc = cli_fail(&c, &err);
  cli_free(&c);
  return cli_finish(&c, rc);
}
