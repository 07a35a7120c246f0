/* official_cfg.c: the official code's configs (docs/official.md §5): the model card's
 * config.json and GPT-NeoX's YAML (the same keys, '-' or '_'), read with libyaml; the
 * shapes of the four released models; and the config.json written for an export. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <yaml.h>

#include <jansson.h>

#include "st_internal.h"
#include "torch_internal.h"

/* The released models (the paper's Table; d_h = 64, 64, 80, 96). */
static const struct {
  int d, L, H, qkv, proj, ffn;
} released[] = {
    {768, 12, 12, 768, 768, 3072},
    {1024, 24, 16, 1024, 1024, 4096},
    {1280, 32, 16, 1280, 1280, 5120},
    {1536, 40, 16, 1536, 1536, 6144},
};

int tf_official_released(struct tf_model_config *c) {
  for (size_t i = 0; i < sizeof released / sizeof *released; i++)
    if (c->d_model == released[i].d && c->n_layers == released[i].L &&
        c->tokens[TF_KIND_QKV] == released[i].qkv && c->tokens[TF_KIND_PROJ] == released[i].proj &&
        c->tokens[TF_KIND_FFN] == released[i].ffn) {
      c->n_heads = released[i].H;
      c->seq_len = 2048;
      c->rotary_pct = 0.25;
      c->rotary_base = 10000;
      c->norm = TF_NORM_L2_GELU;
      return 1;
    }
  return 0;
}

/* One top-level key: its name with '-' read as '_', and its scalar value (NULL when the value
 * is a list or mapping, which no key we read has). */
struct item {
  char key[64];
  const char *value;
};

static int is_true(const char *v, int *out) {
  static const char *const t[] = {"true", "True", "TRUE", "yes", "Yes", "on"};
  static const char *const f[] = {"false", "False", "FALSE", "no", "No", "off"};
  for (int i = 0; i < 6; i++) {
    if (!strcmp(v, t[i])) return *out = 1, 1;
    if (!strcmp(v, f[i])) return *out = 0, 1;
  }
  return 0;
}

static int cfg_fail(const char *path, const char *key, const char *value, const char *want,
                    struct tf_error *err) {
  return tf_error_set(err, TF_ECONFIG, "%s: %s is %s%s%s, expected %s", path, key,
                      value ? "\"" : "", value ? value : "not a scalar", value ? "\"" : "", want);
}

static int get_int(const char *path, const struct item *it, int *out, struct tf_error *err) {
  char *end;
  errno = 0;
  long v = it->value ? strtol(it->value, &end, 10) : 0;
  if (!it->value || *end || end == it->value || errno || v < 1 || v > TF_MAX_TOKENS)
    return cfg_fail(path, it->key, it->value, "a positive integer", err);
  *out = (int)v;
  return TF_OK;
}

static int get_double(const char *path, const struct item *it, double *out, struct tf_error *err) {
  char *end;
  double v = it->value ? strtod(it->value, &end) : NAN;
  if (!it->value || *end || end == it->value || !isfinite(v))
    return cfg_fail(path, it->key, it->value, "a number", err);
  *out = v;
  return TF_OK;
}

/* A key whose value must be one fixed string (or boolean) for our model to be the same
 * function. */
static int get_fixed(const char *path, const struct item *it, const char *want,
                     struct tf_error *err) {
  int b, wb;
  if (it->value && is_true(want, &wb) && is_true(it->value, &b) && b == wb) return TF_OK;
  if (it->value && !strcmp(it->value, want)) return TF_OK;
  char msg[96];
  snprintf(msg, sizeof msg, "%s (what the TokenFormer network computes)", want);
  return cfg_fail(path, it->key, it->value, msg, err);
}

static int apply(const char *path, const struct item *it, struct tf_model_config *c,
                 struct tf_error *err) {
  const char *k = it->key;
  if (!strcmp(k, "num_layers")) return get_int(path, it, &c->n_layers, err);
  if (!strcmp(k, "hidden_size")) return get_int(path, it, &c->d_model, err);
  if (!strcmp(k, "num_attention_heads")) return get_int(path, it, &c->n_heads, err);
  if (!strcmp(k, "qkv_slot_num")) return get_int(path, it, &c->tokens[TF_KIND_QKV], err);
  if (!strcmp(k, "proj_slot_num")) return get_int(path, it, &c->tokens[TF_KIND_PROJ], err);
  if (!strcmp(k, "ffn_slot_num")) return get_int(path, it, &c->tokens[TF_KIND_FFN], err);
  if (!strcmp(k, "seq_length")) return get_int(path, it, &c->seq_len, err);
  if (!strcmp(k, "rotary_pct")) return get_double(path, it, &c->rotary_pct, err);
  if (!strcmp(k, "rotary_emb_base")) return get_double(path, it, &c->rotary_base, err);
  if (!strcmp(k, "norm")) return get_fixed(path, it, "layernorm_nonparam", err);
  if (!strcmp(k, "final_norm")) return get_fixed(path, it, "layernorm", err);
  if (!strcmp(k, "pos_emb")) return get_fixed(path, it, "rotary", err);
  if (!strcmp(k, "no_weight_tying") || !strcmp(k, "gpt_j_residual") ||
      !strcmp(k, "use_bias_in_attn_linear"))
    return get_fixed(path, it, "false", err);
  if (!strcmp(k, "norm_activation_type")) {
    for (int n = 0; n < 3; n++)
      if (it->value && !strcmp(it->value, tf_norm_name((enum tf_norm)n)))
        return c->norm = (enum tf_norm)n, TF_OK;
    return cfg_fail(path, k, it->value, "l2_norm_gelu, gelu_l2_norm or softmax", err);
  }
  return TF_OK; /* training settings and the like: not the network's shape */
}

static void item_from(struct item *it, yaml_document_t *doc, yaml_node_pair_t *p) {
  yaml_node_t *k = yaml_document_get_node(doc, p->key), *v = yaml_document_get_node(doc, p->value);
  size_t o = 0;
  it->key[0] = '\0';
  it->value = NULL;
  if (!k || k->type != YAML_SCALAR_NODE) return;
  for (size_t i = 0; i < k->data.scalar.length && o + 1 < sizeof it->key; i++) {
    char ch = (char)k->data.scalar.value[i];
    it->key[o++] = ch == '-' ? '_' : ch;
  }
  it->key[o] = '\0';
  if (v && v->type == YAML_SCALAR_NODE) it->value = (const char *)v->data.scalar.value;
}

/* c gets the network's settings of the config file at path; a key not given leaves c's value
 * (0 for the counts that must come from the file or the config). */
int tf_official_config_load(const char *path, struct tf_model_config *c, struct tf_error *err) {
  FILE *f = fopen(path, "rb");
  if (!f) return tf_error_set(err, TF_ENOINPUT, "%s: cannot open: %s", path, strerror(errno));
  yaml_parser_t parser;
  yaml_document_t doc;
  int rc = TF_OK;
  if (!yaml_parser_initialize(&parser)) {
    fclose(f);
    return tf_error_set(err, TF_ENOMEM, "out of memory");
  }
  yaml_parser_set_input_file(&parser, f);
  if (!yaml_parser_load(&parser, &doc)) {
    rc = tf_error_set(err, TF_ECONFIG, "%s:%zu:%zu: %s", path, parser.problem_mark.line + 1,
                      parser.problem_mark.column + 1, parser.problem ? parser.problem : "bad YAML");
  } else {
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    if (!root || root->type != YAML_MAPPING_NODE)
      rc = tf_error_set(err, TF_ECONFIG, "%s: not a mapping of settings (JSON object or YAML)",
                        path);
    for (yaml_node_pair_t *p =
             root && root->type == YAML_MAPPING_NODE ? root->data.mapping.pairs.start : NULL;
         !rc && p && p < root->data.mapping.pairs.top; p++) {
      struct item it;
      item_from(&it, &doc, p);
      rc = apply(path, &it, c, err);
    }
    yaml_document_delete(&doc);
  }
  yaml_parser_delete(&parser);
  fclose(f);
  return rc;
}

char *tf_official_config_json(const struct tf_model_config *c) {
  json_t *j = json_object();
  json_object_set_new(j, "num_layers", json_integer(c->n_layers));
  json_object_set_new(j, "hidden_size", json_integer(c->d_model));
  json_object_set_new(j, "num_attention_heads", json_integer(c->n_heads));
  json_object_set_new(j, "qkv_slot_num", json_integer(c->tokens[TF_KIND_QKV]));
  json_object_set_new(j, "proj_slot_num", json_integer(c->tokens[TF_KIND_PROJ]));
  json_object_set_new(j, "ffn_slot_num", json_integer(c->tokens[TF_KIND_FFN]));
  json_object_set_new(j, "seq_length", json_integer(c->seq_len));
  json_object_set_new(j, "max_position_embeddings", json_integer(c->seq_len));
  json_object_set_new(j, "rotary_pct", json_real(c->rotary_pct));
  json_object_set_new(j, "rotary_emb_base", json_real(c->rotary_base));
  json_object_set_new(j, "norm_activation_type", json_string(tf_norm_name(c->norm)));
  json_object_set_new(j, "norm", json_string("layernorm_nonparam"));
  json_object_set_new(j, "final_norm", json_string("layernorm"));
  json_object_set_new(j, "pos_emb", json_string("rotary"));
  json_object_set_new(j, "no_weight_tying", json_false());
  char *s = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
  json_decref(j);
  return s;
}

static int fill_text(int fd, const char *name, void *ctx, struct tf_error *err) {
  return tf_write_all(fd, name, ctx, strlen(ctx), err);
}

int tf_official_write_config(const struct tf_model_config *c, const char *path,
                             struct tf_error *err) {
  char *json = tf_official_config_json(c), *text = json ? malloc(strlen(json) + 2) : NULL;
  int rc = text ? TF_OK : tf_error_set(err, TF_ENOMEM, "out of memory");
  if (!rc) {
    sprintf(text, "%s\n", json);
    rc = strcmp(path, "-")
             ? tf_file_write(path, fill_text, text, err) /* text: a terminal is fine */
             : fill_text(STDOUT_FILENO, "<stdout>", text, err);
  }
  free(json);
  free(text);
  return rc;
}
