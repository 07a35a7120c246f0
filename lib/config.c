/* config.c: where config values come from and go: defaults, strict YAML files, --set
 * overrides, cross-field checks, printing, and the model section as JSON. The keys and their
 * value types are config_keys.c. No model math, no file writing. */
#include <errno.h>
#include <float.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jansson.h>
#include <yaml.h>

#include "config_internal.h"

static const struct section *model_section(void) {
  return &tf_config_sections[0];
}

/* Where section sec of c starts; key offsets count from there. */
static void *section_of(const struct section *sec, struct tf_config *c) {
  return (char *)c + sec->offset;
}

static const void *csection_of(const struct section *sec, const struct tf_config *c) {
  return (const char *)c + sec->offset;
}

/* The valid names of a section's keys (section NULL: the sections), comma-separated. */
static void fmt_valid(const struct section *sec, char *buf, size_t n) {
  size_t used = 0;
  buf[0] = 0;
  size_t count = sec ? tf_config_n_keys : tf_config_n_sections;
  for (size_t i = 0; i < count && used < n; i++) {
    if (sec && strcmp(tf_config_keys[i].section, sec->name) != 0) continue;
    const char *name = sec ? tf_config_keys[i].name : tf_config_sections[i].name;
    used += (size_t)snprintf(buf + used, n - used, "%s%s", used ? ", " : "", name);
  }
}

/* ------------------------------------------------------------ defaults, checks, print */

void tf_config_default(struct tf_config *c) {
  memset(c, 0, sizeof *c);
  for (size_t i = 0; i < tf_config_n_keys; i++) {
    const struct key *k = &tf_config_keys[i];
    tf_config_store(k, section_of(tf_config_key_section(k), c), tf_config_default_value(k));
  }
}

int tf_model_config_ref_tokens(const struct tf_model_config *m, enum tf_kind k) {
  return m->ref_tokens[k] > 0 ? m->ref_tokens[k] : m->tokens[k];
}

int tf_model_config_max_tokens(const struct tf_model_config *m) {
  int n = 0;
  for (int k = 0; k < TF_NKINDS; k++) n = m->tokens[k] > n ? m->tokens[k] : n;
  return n;
}

int tf_model_config_rotary_dims(const struct tf_model_config *m) {
  if (m->n_heads <= 0) return 0;
  return (int)floor((double)(m->d_model / m->n_heads) * m->rotary_pct);
}

/* Cross-field rules of the model section; sec is "model." or "" to prefix key names. */
static int check_model(const struct tf_model_config *m, const char *sec, int code,
                       struct tf_error *err) {
  if (m->d_model % m->n_heads)
    return tf_error_set(err, code, "%sd_model (%d) is not a multiple of %sn_heads (%d)", sec,
                        m->d_model, sec, m->n_heads);
  int r = tf_model_config_rotary_dims(m);
  if (r % 2) {
    char pct[40];
    tf_config_shortest(m->rotary_pct, pct, sizeof pct);
    return tf_error_set(err, code,
                        "%srotary_pct (%s) gives %d RoPE channels of the %d per head; "
                        "RoPE needs an even number",
                        sec, pct, r, m->d_model / m->n_heads);
  }
  return TF_OK;
}

/* A value AdamW uses as a float: "train.KEY (VALUE) ..." when it is not what the update needs
 * in that precision. */
static int float_error(struct tf_error *err, const char *key, double v, const char *why) {
  char text[40];
  tf_config_shortest(v, text, sizeof text);
  return tf_error_set(err, TF_ECONFIG, "train.%s (%s) %s", key, text, why);
}

/* AdamW computes in float (optim.c): beta1 and beta2 must stay below 1 there (beta2 = 1 - 1e-11
 * rounds to 1 and the bias correction divides by zero), eps and lr must be normal
 * floats (a denormal eps lets m / (sqrt(v) + eps) overflow; an lr that is 0 as a float trains
 * nothing). */
static int check_adamw_floats(const struct tf_train_config *t, struct tf_error *err) {
  if ((float)t->beta1 >= 1.0f) return float_error(err, "beta1", t->beta1, "rounds to 1 as a float");
  if ((float)t->beta2 >= 1.0f) return float_error(err, "beta2", t->beta2, "rounds to 1 as a float");
  if ((float)t->eps < FLT_MIN)
    return float_error(err, "eps", t->eps, "is below the smallest normal float (1.17549435e-38)");
  if ((float)t->lr < FLT_MIN)
    return float_error(err, "lr", t->lr, "is below the smallest normal float (1.17549435e-38)");
  return TF_OK;
}

static int check_train(const struct tf_train_config *t, struct tf_error *err) {
  int rc = check_adamw_floats(t, err);
  if (rc) return rc;
  if (t->min_lr > t->lr) {
    char min_lr[40], lr[40];
    tf_config_shortest(t->min_lr, min_lr, sizeof min_lr);
    tf_config_shortest(t->lr, lr, sizeof lr);
    return tf_error_set(err, TF_ECONFIG, "train.min_lr (%s) is above train.lr (%s)", min_lr, lr);
  }
  return TF_OK;
}

int tf_config_check(const struct tf_config *c, struct tf_error *err) {
  for (size_t i = 0; i < tf_config_n_keys; i++) {
    const struct key *k = &tf_config_keys[i];
    union value v = tf_config_fetch(k, csection_of(tf_config_key_section(k), c));
    char got[96];
    tf_config_show(k, v, got, sizeof got);
    if (!tf_config_in_range(k, v)) return tf_config_bad_value(err, TF_ECONFIG, "", k, got);
  }
  int rc = check_model(&c->model, "model.", TF_ECONFIG, err);
  return rc ? rc : check_train(&c->train, err);
}

/* One key as "  name: value   # doc". */
static void print_key(const struct key *k, const void *base, FILE *out) {
  char val[TF_CONFIG_VALUE_MAX], line[TF_CONFIG_VALUE_MAX + 64];
  tf_config_format(k, tf_config_fetch(k, base), val, sizeof val);
  snprintf(line, sizeof line, "%s: %s", k->name, val);
  fprintf(out, "  %-28s # %s%s%s%s\n", line, k->same_as ? "0: same as " : "",
          k->same_as ? k->same_as : "", k->same_as ? "; " : "", k->doc);
}

int tf_config_print(const struct tf_config *c, FILE *out) {
  for (size_t s = 0; s < tf_config_n_sections; s++) {
    const struct section *sec = &tf_config_sections[s];
    fprintf(out, "%s:\n", sec->name);
    for (size_t i = 0; i < tf_config_n_keys; i++)
      if (strcmp(tf_config_keys[i].section, sec->name) == 0)
        print_key(&tf_config_keys[i], csection_of(sec, c), out);
  }
  return fflush(out) != 0 || ferror(out) ? TF_EIO : TF_OK;
}

/* ------------------------------------------------------------ where paths come from */

/* The origin slot of a path key ("section.key", or section and name), NULL for other keys. */
static char *origin_slot(struct tf_config *c, const char *section, const char *name) {
  struct tf_config_origins *o = &c->origin;
  if (!strcmp(section, "init") && !strcmp(name, "tokenizer")) return o->tokenizer;
  if (strcmp(section, "train") != 0) return NULL;
  if (!strcmp(name, "data")) return o->data;
  if (!strcmp(name, "valid")) return o->valid;
  return !strcmp(name, "log") ? o->log : NULL;
}

static char *origin_of(struct tf_config *c, const char *key) {
  const char *dot = strchr(key, '.');
  char section[16];
  if (!dot || (size_t)(dot - key) >= sizeof section) return NULL;
  snprintf(section, sizeof section, "%.*s", (int)(dot - key), key);
  return origin_slot(c, section, dot + 1);
}

const char *tf_config_origin(const struct tf_config *c, const char *key) {
  const char *o = origin_of((struct tf_config *)c, key);
  return o && o[0] ? o : "default";
}

void tf_config_set_origin(struct tf_config *c, const char *key, const char *origin) {
  char *o = origin_of(c, key);
  if (o) snprintf(o, TF_ORIGIN_MAX, "%s", origin);
}

int tf_config_blame(const struct tf_config *c, const char *key, struct tf_error *err) {
  return tf_error_prefix(err, "%s (%s)", key, tf_config_origin(c, key));
}

/* Whether the value v of string key k names a file relative to the current directory (not
 * "", "-", an absolute path, or init.tokenizer's "bytes"). */
static int is_relative_path(const struct key *k, const char *v) {
  if (!v[0] || !strcmp(v, "-") || v[0] == '/') return 0;
  return strcmp(k->name, "tokenizer") != 0 || strcmp(v, "bytes") != 0;
}

/* A relative path of key k in base, read from a file in directory dir (dir "": the current
 * one), becomes "DIR/PATH". TF_ECONFIG (at loc) when that does not fit. */
static int resolve_path(const struct key *k, void *base, const char *dir, const char *loc,
                        struct tf_error *err) {
  union value v = tf_config_fetch(k, base);
  char *path = (char *)v.s.p, joined[TF_PATH_MAX];
  if (!dir[0] || !is_relative_path(k, path)) return TF_OK;
  const char *sep = dir[strlen(dir) - 1] == '/' ? "" : "/";
  int n = snprintf(joined, sizeof joined, "%s%s%s", dir, sep, path);
  if (n < 0 || (double)n > k->max)
    return tf_error_set(err, TF_ECONFIG,
                        "%s%s.%s: the path from the config's directory, %s%s%s, is longer than "
                        "%.0f bytes",
                        loc, k->section, k->name, dir, sep, path, k->max);
  memcpy(path, joined, (size_t)n + 1);
  return TF_OK;
}

/* ------------------------------------------------------------ --set */

int tf_config_set(struct tf_config *c, const char *assignment, struct tf_error *err) {
  const char *eq = strchr(assignment, '=');
  const char *dot = eq ? memchr(assignment, '.', (size_t)(eq - assignment)) : NULL;
  char shown[96], valid[256], got[96];
  if (!dot) {
    tf_config_quote(assignment, strlen(assignment), TF_CONFIG_SHOW_MAX, shown, sizeof shown);
    return tf_error_set(err, TF_EUSAGE, "--set %s: expected section.key=value", shown);
  }
  const char *name = dot + 1;
  const struct section *sec = tf_config_find_section(assignment, (size_t)(dot - assignment));
  if (!sec) {
    tf_config_show_name(assignment, (size_t)(dot - assignment), TF_CONFIG_SHOW_MAX, shown,
                        sizeof shown);
    fmt_valid(NULL, valid, sizeof valid);
    return tf_error_set(err, TF_ECONFIG, "--set %s: unknown section; valid sections: %s", shown,
                        valid);
  }
  const struct key *k = tf_config_find_key(sec, name, (size_t)(eq - name));
  if (!k) {
    tf_config_show_name(assignment, (size_t)(eq - assignment), TF_CONFIG_SHOW_MAX, shown,
                        sizeof shown);
    fmt_valid(sec, valid, sizeof valid);
    return tf_error_set(err, TF_ECONFIG, "--set %s: unknown key; valid keys of %s: %s", shown,
                        sec->name, valid);
  }
  tf_config_quote(eq + 1, strlen(eq + 1), TF_CONFIG_SHOW_MAX, got, sizeof got);
  int rc = tf_config_assign(k, section_of(sec, c), eq + 1, strlen(eq + 1), 1, "--set ", got, err);
  char *origin = rc ? NULL : origin_slot(c, sec->name, k->name);
  if (origin) snprintf(origin, TF_ORIGIN_MAX, "--set");
  return rc;
}

/* ------------------------------------------------------------ YAML files */

/* One YAML document being read: the document and the name errors give the file. */
struct ydoc {
  yaml_document_t doc;
  const char *file;
  const char *dir;            /* the file's directory, "" for the current one (and stdin) */
  struct tf_config *cfg;      /* whose origins the path keys set */
  struct tf_config_scan scan; /* which nodes carry an explicit tag */
};

static yaml_node_t *ynode(struct ydoc *y, int id) {
  return yaml_document_get_node(&y->doc, id);
}

/* "FILE:LINE:COL: " of a node, 1-based. */
static void fmt_loc(const struct ydoc *y, const yaml_node_t *n, char *buf, size_t len) {
  snprintf(buf, len, "%s:%zu:%zu: ", y->file, n->start_mark.line + 1, n->start_mark.column + 1);
}

static const char *scalar(const yaml_node_t *n) {
  return (const char *)n->data.scalar.value;
}

static int is_null(const yaml_node_t *n) {
  if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE) return 0;
  return tf_config_is_null_text(scalar(n));
}

/* A node as an error message shows what was found. */
static void fmt_node(const yaml_node_t *n, char *buf, size_t len) {
  char q[96];
  if (n->type == YAML_MAPPING_NODE)
    snprintf(buf, len, "a mapping");
  else if (n->type == YAML_SEQUENCE_NODE)
    snprintf(buf, len, "a sequence");
  else if (n->data.scalar.length == 0 && n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE)
    snprintf(buf, len, "nothing");
  else {
    tf_config_quote(scalar(n), n->data.scalar.length, TF_CONFIG_SHOW_MAX, q, sizeof q);
    snprintf(buf, len, "%s%s", n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE ? "" : "the string ",
             q);
  }
}

/* "!!str" for YAML's own tags, the tag as written otherwise, escaped and cut. */
static void fmt_tag(const yaml_node_t *n, char *buf, size_t len) {
  static const char yaml_prefix[] = "tag:yaml.org,2002:";
  const char *tag = (const char *)n->tag;
  int own = strncmp(tag, yaml_prefix, sizeof yaml_prefix - 1) == 0;
  char shown[96];
  if (own) tag += sizeof yaml_prefix - 1;
  tf_config_show_name(tag, strlen(tag), TF_CONFIG_SHOW_MAX, shown, sizeof shown);
  snprintf(buf, len, "%s%s", own ? "!!" : "", shown);
}

/* Whether YAML tag names the type key k reads: !!int for integers (and numbers), !!float for
 * numbers, !!bool, !!str for strings, names and growth counts (which also take !!int). */
static int tag_fits(const struct key *k, const char *tag) {
  int is_int = !strcmp(tag, "tag:yaml.org,2002:int"),
      is_str = !strcmp(tag, "tag:yaml.org,2002:str");
  switch (k->type) {
  case KEY_INT:
  case KEY_I64:
  case KEY_U64:
    return is_int;
  case KEY_DOUBLE:
    return is_int || !strcmp(tag, "tag:yaml.org,2002:float");
  case KEY_BOOL:
    return !strcmp(tag, "tag:yaml.org,2002:bool");
  case KEY_GROWTH:
    return is_int || is_str;
  case KEY_ENUM:
  case KEY_STRING:
    return is_str;
  }
  return 0;
}

/* A node written with an explicit tag: only a value whose tag names its key's type (k, NULL
 * for keys, sections and the document) is let through; anything else (!!str 64 for an
 * integer, !python/object) is refused rather than read as something it says it is not. */
static int check_tag(struct ydoc *y, const yaml_node_t *n, const struct key *k,
                     struct tf_error *err) {
  if (!n->tag || !tf_config_scan_tagged(&y->scan, n->start_mark.index, n->type)) return TF_OK;
  if (k && n->type == YAML_SCALAR_NODE && tag_fits(k, (const char *)n->tag)) return TF_OK;
  char loc[320], tag[128];
  fmt_loc(y, n, loc, sizeof loc);
  fmt_tag(n, tag, sizeof tag);
  if (k)
    return tf_error_set(err, TF_ECONFIG, "%s%s.%s: the tag %s does not fit this key's type", loc,
                        k->section, k->name, tag);
  return tf_error_set(err, TF_ECONFIG, "%sthe tag %s: a config takes tags only on values", loc,
                      tag);
}

/* The key of pair p in mapping m must be a scalar no earlier pair used. sec: the section
 * whose keys m holds, or NULL when m holds the sections. */
static int pair_name(struct ydoc *y, const yaml_node_t *m, const yaml_node_pair_t *p,
                     const struct section *sec, struct tf_error *err) {
  yaml_node_t *kn = ynode(y, p->key);
  char loc[320], shown[96];
  const char *what = sec ? "key" : "section";
  int rc = check_tag(y, kn, NULL, err);
  if (rc) return rc;
  fmt_loc(y, kn, loc, sizeof loc);
  if (kn->type != YAML_SCALAR_NODE) {
    fmt_node(kn, shown, sizeof shown);
    return tf_error_set(err, TF_ECONFIG, "%s%s%sexpected a %s name, got %s", loc,
                        sec ? sec->name : "", sec ? ": " : "", what, shown);
  }
  tf_config_show_name(scalar(kn), kn->data.scalar.length, TF_CONFIG_SHOW_MAX, shown, sizeof shown);
  for (const yaml_node_pair_t *q = m->data.mapping.pairs.start; q < p; q++) {
    yaml_node_t *other = ynode(y, q->key);
    if (other->type == YAML_SCALAR_NODE && other->data.scalar.length == kn->data.scalar.length &&
        !memcmp(scalar(other), scalar(kn), kn->data.scalar.length))
      return tf_error_set(err, TF_ECONFIG, "%s%s%s%s: duplicate %s (first at line %zu)", loc,
                          sec ? sec->name : "", sec ? "." : "", shown, what,
                          other->start_mark.line + 1);
  }
  return TF_OK;
}

/* One key: value pair of section sec. */
static int load_pair(struct ydoc *y, const struct section *sec, void *base, yaml_node_t *kn,
                     yaml_node_t *vn, struct tf_error *err) {
  char loc[320], valid[256], shown[96], got[128];
  const struct key *k = tf_config_find_key(sec, scalar(kn), kn->data.scalar.length);
  if (!k) {
    fmt_loc(y, kn, loc, sizeof loc);
    tf_config_show_name(scalar(kn), kn->data.scalar.length, TF_CONFIG_SHOW_MAX, shown,
                        sizeof shown);
    fmt_valid(sec, valid, sizeof valid);
    return tf_error_set(err, TF_ECONFIG, "%s%s.%s: unknown key; valid keys of %s: %s", loc,
                        sec->name, shown, sec->name, valid);
  }
  int rc = check_tag(y, vn, k, err);
  if (rc) return rc;
  fmt_loc(y, vn, loc, sizeof loc);
  fmt_node(vn, got, sizeof got);
  if (vn->type != YAML_SCALAR_NODE) return tf_config_bad_value(err, TF_ECONFIG, loc, k, got);
  int plain = vn->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
  rc = tf_config_assign(k, base, scalar(vn), vn->data.scalar.length, plain, loc, got, err);
  char *origin = rc ? NULL : origin_slot(y->cfg, sec->name, k->name);
  if (!origin) return rc;
  snprintf(origin, TF_ORIGIN_MAX, "%s:%zu", y->file, vn->start_mark.line + 1);
  return resolve_path(k, base, y->dir, loc, err);
}

static int load_section(struct ydoc *y, struct tf_config *c, const struct section *sec,
                        yaml_node_t *m, struct tf_error *err) {
  char loc[320], got[128];
  int rc = check_tag(y, m, NULL, err);
  if (rc || is_null(m)) return rc;
  if (m->type != YAML_MAPPING_NODE) {
    fmt_loc(y, m, loc, sizeof loc);
    fmt_node(m, got, sizeof got);
    return tf_error_set(err, TF_ECONFIG, "%s%s: expected a mapping of keys, got %s", loc, sec->name,
                        got);
  }
  for (yaml_node_pair_t *p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top; p++) {
    rc = pair_name(y, m, p, sec, err);
    if (!rc) rc = load_pair(y, sec, section_of(sec, c), ynode(y, p->key), ynode(y, p->value), err);
    if (rc) return rc;
  }
  return TF_OK;
}

static int load_document(struct ydoc *y, struct tf_config *c, struct tf_error *err) {
  yaml_node_t *root = yaml_document_get_root_node(&y->doc);
  char loc[320], got[128], valid[128], shown[96];
  if (!root) return TF_OK;
  int rc = check_tag(y, root, NULL, err);
  if (rc || is_null(root)) return rc;
  fmt_valid(NULL, valid, sizeof valid);
  if (root->type != YAML_MAPPING_NODE) {
    fmt_loc(y, root, loc, sizeof loc);
    fmt_node(root, got, sizeof got);
    return tf_error_set(err, TF_ECONFIG, "%sexpected a mapping of sections (%s), got %s", loc,
                        valid, got);
  }
  for (yaml_node_pair_t *p = root->data.mapping.pairs.start; p < root->data.mapping.pairs.top;
       p++) {
    rc = pair_name(y, root, p, NULL, err);
    if (rc) return rc;
    yaml_node_t *kn = ynode(y, p->key);
    const struct section *sec = tf_config_find_section(scalar(kn), kn->data.scalar.length);
    if (!sec) {
      fmt_loc(y, kn, loc, sizeof loc);
      tf_config_show_name(scalar(kn), kn->data.scalar.length, TF_CONFIG_SHOW_MAX, shown,
                          sizeof shown);
      return tf_error_set(err, TF_ECONFIG, "%s%s: unknown section; valid sections: %s", loc, shown,
                          valid);
    }
    rc = load_section(y, c, sec, ynode(y, p->value), err);
    if (rc) return rc;
  }
  return TF_OK;
}

static int parse_error(const yaml_parser_t *p, const char *file, struct tf_error *err) {
  const char *problem = p->problem ? p->problem : "unknown error";
  if (p->error == YAML_MEMORY_ERROR)
    return tf_error_set(err, TF_ENOMEM, "%s: out of memory reading YAML", file);
  if (p->error == YAML_READER_ERROR)
    return tf_error_set(err, TF_ECONFIG, "%s: byte %zu: %s", file, p->problem_offset, problem);
  char ctx[160] = "";
  if (p->context)
    snprintf(ctx, sizeof ctx, " (%s at %zu:%zu)", p->context, p->context_mark.line + 1,
             p->context_mark.column + 1);
  return tf_error_set(err, TF_ECONFIG, "%s:%zu:%zu: YAML syntax error: %s%s", file,
                      p->problem_mark.line + 1, p->problem_mark.column + 1, problem, ctx);
}

/* After the first document the stream must end. */
static int expect_end(yaml_parser_t *parser, struct ydoc *y, struct tf_error *err) {
  if (!yaml_parser_load(parser, &y->doc)) return parse_error(parser, y->file, err);
  yaml_node_t *root = yaml_document_get_root_node(&y->doc);
  char loc[320];
  int rc = TF_OK;
  if (root) {
    fmt_loc(y, root, loc, sizeof loc);
    rc = tf_error_set(err, TF_ECONFIG, "%sa second YAML document; a config file holds one", loc);
  }
  yaml_document_delete(&y->doc);
  return rc;
}

/* The config in text (len bytes): scanned for tags, then loaded as one YAML document. */
static int load_text(struct tf_config *c, const char *text, size_t len, const char *file,
                     const char *dir, struct tf_error *err) {
  yaml_parser_t parser;
  struct ydoc y = {.file = file, .dir = dir, .cfg = c};
  int rc = tf_config_scan(text, len, file, &y.scan, err);
  if (rc) return rc;
  if (!yaml_parser_initialize(&parser)) {
    tf_config_scan_free(&y.scan);
    return tf_error_set(err, TF_ENOMEM, "%s: out of memory reading YAML", file);
  }
  yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
  if (!yaml_parser_load(&parser, &y.doc)) {
    rc = parse_error(&parser, file, err);
  } else {
    rc = load_document(&y, c, err);
    yaml_document_delete(&y.doc);
    if (!rc) rc = expect_end(&parser, &y, err);
  }
  yaml_parser_delete(&parser);
  tf_config_scan_free(&y.scan);
  return rc;
}

int tf_config_load(struct tf_config *c, const char *path, struct tf_error *err) {
  int from_stdin = strcmp(path, "-") == 0;
  const char *file = from_stdin ? "<stdin>" : path;
  FILE *f = from_stdin ? stdin : fopen(path, "r");
  if (!f) return tf_error_set(err, TF_ENOINPUT, "%s: cannot open: %s", file, strerror(errno));
  struct stat st;
  if (fstat(fileno(f), &st) == 0 && S_ISDIR(st.st_mode)) {
    if (!from_stdin) fclose(f);
    return tf_error_set(err, TF_ENOINPUT, "%s: cannot open: %s", file, strerror(EISDIR));
  }
  struct tf_config tmp = *c; /* c changes only when the whole file is good */
  char *text = NULL;
  size_t len = 0;
  int rc = tf_config_read_text(f, file, &text, &len, err);
  if (!from_stdin) fclose(f);
  const char *slash = from_stdin ? NULL : strrchr(path, '/');
  char *dir = strndup(path, slash ? (size_t)(slash - path) + (slash == path) : 0);
  if (!rc && !dir) rc = tf_error_set(err, TF_ENOMEM, "%s: out of memory", file);
  if (!rc) rc = load_text(&tmp, text, len, file, dir, err);
  free(dir);
  free(text);
  if (!rc) *c = tmp;
  return rc;
}

/* ------------------------------------------------------------ the model section as JSON */

/* Replaces each 0 of a key with a same_as by the value of that key (ref tokens). */
static void resolve_model(struct tf_model_config *m) {
  const struct section *sec = model_section();
  for (size_t i = 0; i < tf_config_n_keys; i++) {
    const struct key *k = &tf_config_keys[i];
    if (strcmp(k->section, sec->name) != 0 || !k->same_as || tf_config_fetch(k, m).i != 0) continue;
    tf_config_store(k, m,
                    tf_config_fetch(tf_config_find_key(sec, k->same_as, strlen(k->same_as)), m));
  }
}

char *tf_model_config_to_json(const struct tf_model_config *given) {
  const struct section *sec = model_section();
  struct tf_model_config resolved = *given, *m = &resolved;
  resolve_model(m);
  char *buf = NULL;
  size_t len = 0;
  FILE *out = open_memstream(&buf, &len);
  if (!out) return NULL;
  const char *sep = "{";
  for (size_t i = 0; i < tf_config_n_keys; i++) {
    const struct key *k = &tf_config_keys[i];
    if (strcmp(k->section, sec->name) != 0) continue;
    char val[64];
    tf_config_format(k, tf_config_fetch(k, m), val, sizeof val);
    const char *q = k->type == KEY_ENUM ? "\"" : "";
    fprintf(out, "%s\"%s\":%s%s%s", sep, k->name, q, val, q);
    sep = ",";
  }
  fputc('}', out);
  if (fclose(out) != 0) {
    free(buf);
    return NULL;
  }
  return buf;
}

/* Reads a JSON value as key k's type; 0 on success, -1 if it is not one. */
static int json_num(const struct key *k, const json_t *j, union value *v) {
  if (k->type == KEY_ENUM)
    return json_is_string(j) ? tf_config_parse(k, json_string_value(j), 0, v) : -1;
  if (k->type == KEY_DOUBLE && json_is_number(j))
    v->d = json_number_value(j);
  else if (k->type == KEY_INT && json_is_integer(j))
    v->i = json_integer_value(j);
  else if (k->type == KEY_U64 && json_is_integer(j) && json_integer_value(j) >= 0)
    v->u = (uint64_t)json_integer_value(j);
  else
    return -1;
  return 0;
}

static int json_key(const struct key *k, json_t *o, void *base, struct tf_error *err) {
  json_t *j = json_object_get(o, k->name);
  if (!j) return tf_error_set(err, TF_EDATA, "missing key %s", k->name);
  union value v;
  if (!json_num(k, j, &v) && tf_config_in_range(k, v)) {
    tf_config_store(k, base, v);
    return TF_OK;
  }
  /* JSON text with every control and non-ASCII character escaped is safe to show */
  char *text = json_dumps(j, JSON_ENCODE_ANY | JSON_COMPACT | JSON_ENSURE_ASCII), got[64];
  snprintf(got, sizeof got, "%.40s%s", text ? text : "?", text && strlen(text) > 40 ? "..." : "");
  free(text);
  char want[160];
  tf_config_expected(k, want, sizeof want);
  return tf_error_set(err, TF_EDATA, "%s: expected %s, got %s", k->name, want, got);
}

static int json_model(struct tf_model_config *m, json_t *o, struct tf_error *err) {
  const struct section *sec = model_section();
  const char *name;
  json_t *j;
  char shown[96];
  if (!json_is_object(o)) return tf_error_set(err, TF_EDATA, "expected a JSON object");
  json_object_foreach(o, name, j) {
    if (tf_config_find_key(sec, name, strlen(name))) continue;
    tf_config_quote(name, strlen(name), TF_CONFIG_SHOW_MAX, shown, sizeof shown);
    return tf_error_set(err, TF_EDATA, "unknown key %s", shown);
  }
  for (size_t i = 0; i < tf_config_n_keys; i++) {
    if (strcmp(tf_config_keys[i].section, sec->name) != 0) continue;
    int rc = json_key(&tf_config_keys[i], o, m, err);
    if (rc) return rc;
  }
  resolve_model(m);
  return check_model(m, "", TF_EDATA, err);
}

int tf_model_config_from_json(struct tf_model_config *m, const char *json, struct tf_error *err) {
  json_error_t je;
  json_t *o = json_loads(json, JSON_REJECT_DUPLICATES, &je);
  if (!o) {
    char text[256];
    tf_config_show_name(je.text, strlen(je.text), sizeof text / 4 - 4, text, sizeof text);
    return tf_error_set(err, TF_EDATA, "bad JSON at %d:%d: %s", je.line, je.column, text);
  }
  struct tf_model_config tmp;
  memset(&tmp, 0, sizeof tmp);
  int rc = json_model(&tmp, o, err);
  json_decref(o);
  if (!rc) *m = tmp;
  return rc;
}

int tf_model_config_diff(const struct tf_model_config *a, const struct tf_model_config *b,
                         char *out, size_t n) {
  const struct section *sec = model_section();
  struct tf_model_config ra = *a, rb = *b;
  resolve_model(&ra);
  resolve_model(&rb);
  int count = 0;
  size_t used = 0;
  if (n) out[0] = 0;
  for (size_t i = 0; i < tf_config_n_keys; i++) {
    const struct key *k = &tf_config_keys[i];
    if (strcmp(k->section, sec->name) != 0) continue;
    char va[64], vb[64];
    tf_config_format(k, tf_config_fetch(k, &ra), va, sizeof va);
    tf_config_format(k, tf_config_fetch(k, &rb), vb, sizeof vb);
    if (strcmp(va, vb) == 0) continue;
    int w = snprintf(out + used, n > used ? n - used : 0, "%smodel.%s %s vs %s",
                     count++ ? ", " : "", k->name, va, vb);
    if (w > 0) used += (size_t)w;
    if (used >= n) used = n ? n - 1 : 0;
  }
  return count;
}
