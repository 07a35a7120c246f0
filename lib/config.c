/* config.c: one table of config keys and everything it drives: defaults, strict YAML files,
 * --set overrides, printing, and the model section as JSON. No model math, no file writing. */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jansson.h>
#include <yaml.h>

#include "tokenformer.h"

/* Enum fields are read and written as int. */
_Static_assert(sizeof(enum tf_norm) == sizeof(int), "enum tf_norm must be int-sized");

enum key_type { KEY_INT, KEY_U64, KEY_DOUBLE, KEY_ENUM };

/* A section of the file and the struct tf_config member it fills. */
struct section {
  const char *name;
  size_t offset; /* of the section's struct in struct tf_config */
};

/* One key. min and max bound KEY_INT, KEY_U64 and KEY_DOUBLE values; def is the default
 * (for KEY_ENUM the index into names, which is the enum value). */
struct key {
  const char *section;
  const char *name;
  enum key_type type;
  size_t offset; /* in the section's struct */
  double min, max, def;
  const char *const *names; /* KEY_ENUM: the value names, NULL-terminated */
  const char *same_as;      /* 0 stands for this key's value (resolved in the JSON) */
  const char *doc;
};

/* A parsed or stored value: i for KEY_INT and KEY_ENUM, u for KEY_U64, d for KEY_DOUBLE. */
union num {
  long long i;
  uint64_t u;
  double d;
};

static const struct section sections[] = {
    {"model", offsetof(struct tf_config, model)},
    {"init", offsetof(struct tf_config, init)},
};
#define N_SECTIONS (sizeof sections / sizeof sections[0])

static const char *const norm_names[] = {"l2_norm_gelu", "gelu_l2_norm", "softmax", NULL};
static const char *const kind_names[] = {"qkv", "proj", "ffn"};

#define M(f)     offsetof(struct tf_model_config, f)
#define I(f)     offsetof(struct tf_init_config, f)
#define P24      16777216.0             /* 2^24: vocabulary and token counts */
#define U64_LAST 18446744073709551615.0 /* 2^64 - 1 (rounds to 2^64 as a double) */

static const struct key keys[] = {
    /* section, name, type, offset, min, max, default, enum names, 0 means, doc */
    {"model", "vocab_size", KEY_INT, M(vocab_size), 1, P24, 256, NULL, NULL,
     "V, token ids (256: bytes)"},
    {"model", "d_model", KEY_INT, M(d_model), 1, 65536, 256, NULL, NULL,
     "d, width of the model and of every parameter token"},
    {"model", "n_layers", KEY_INT, M(n_layers), 1, TF_MAX_LAYERS, 6, NULL, NULL, "L, blocks"},
    {"model", "n_heads", KEY_INT, M(n_heads), 1, 65536, 8, NULL, NULL,
     "H, attention heads of d_model / n_heads channels"},
    {"model", "seq_len", KEY_INT, M(seq_len), 1, 1048576, 256, NULL, NULL,
     "longest context in tokens"},
    {"model", "qkv_tokens", KEY_INT, M(tokens[TF_KIND_QKV]), 1, P24, 256, NULL, NULL,
     "parameter tokens of each query, key and value Pattention"},
    {"model", "proj_tokens", KEY_INT, M(tokens[TF_KIND_PROJ]), 1, P24, 256, NULL, NULL,
     "parameter tokens of the attention output Pattention"},
    {"model", "ffn_tokens", KEY_INT, M(tokens[TF_KIND_FFN]), 1, P24, 1024, NULL, NULL,
     "parameter tokens of the feed-forward Pattention"},
    {"model", "qkv_ref_tokens", KEY_INT, M(ref_tokens[TF_KIND_QKV]), 0, P24, 0, NULL, "qkv_tokens",
     "n_ref: tau = sqrt(n_ref), kept by tf-grow"},
    {"model", "proj_ref_tokens", KEY_INT, M(ref_tokens[TF_KIND_PROJ]), 0, P24, 0, NULL,
     "proj_tokens", "n_ref: tau = sqrt(n_ref), kept by tf-grow"},
    {"model", "ffn_ref_tokens", KEY_INT, M(ref_tokens[TF_KIND_FFN]), 0, P24, 0, NULL, "ffn_tokens",
     "n_ref: tau = sqrt(n_ref), kept by tf-grow"},
    {"model", "norm", KEY_ENUM, M(norm), 0, 0, TF_NORM_L2_GELU, norm_names, NULL,
     "Pattention normalization: l2_norm_gelu, gelu_l2_norm, softmax"},
    {"model", "rotary_pct", KEY_DOUBLE, M(rotary_pct), 0, 1, 0.25, NULL, NULL,
     "share of each head's channels rotated by RoPE"},
    {"model", "rotary_base", KEY_DOUBLE, M(rotary_base), 1, 1e9, 10000, NULL, NULL, "RoPE base"},
    {"init", "seed", KEY_U64, I(seed), 0, U64_LAST, 1, NULL, NULL, "seed of the initial weights"},
    {"init", "std", KEY_DOUBLE, I(std), 0, 100, 0.02, NULL, NULL,
     "std of key tokens and the embedding"},
    {"init", "value_std", KEY_DOUBLE, I(value_std), 0, 100, 0, NULL, NULL,
     "std of value tokens; 0: 2/(n_layers*sqrt(d_model))"},
};
#define N_KEYS (sizeof keys / sizeof keys[0])

#define SHOW_MAX 40 /* bytes of a bad value or name an error message shows */

/* ------------------------------------------------------------ lookup and access */

static int name_is(const char *name, const char *s, size_t len) {
  return strlen(name) == len && memcmp(name, s, len) == 0;
}

static const struct section *find_section(const char *s, size_t len) {
  for (size_t i = 0; i < N_SECTIONS; i++)
    if (name_is(sections[i].name, s, len)) return &sections[i];
  return NULL;
}

static const struct key *find_key(const struct section *sec, const char *s, size_t len) {
  for (size_t i = 0; i < N_KEYS; i++)
    if (strcmp(keys[i].section, sec->name) == 0 && name_is(keys[i].name, s, len)) return &keys[i];
  return NULL;
}

static const struct section *model_section(void) {
  return &sections[0];
}

static const struct section *key_section(const struct key *k) {
  return find_section(k->section, strlen(k->section));
}

/* Where section sec of c starts; key offsets count from there. */
static void *section_of(const struct section *sec, struct tf_config *c) {
  return (char *)c + sec->offset;
}

static const void *csection_of(const struct section *sec, const struct tf_config *c) {
  return (const char *)c + sec->offset;
}

static union num fetch(const struct key *k, const void *base) {
  const char *p = (const char *)base + k->offset;
  union num v = {0};
  if (k->type == KEY_INT || k->type == KEY_ENUM) v.i = *(const int *)p;
  if (k->type == KEY_U64) v.u = *(const uint64_t *)p;
  if (k->type == KEY_DOUBLE) v.d = *(const double *)p;
  return v;
}

static void store(const struct key *k, void *base, union num v) {
  char *p = (char *)base + k->offset;
  if (k->type == KEY_INT || k->type == KEY_ENUM) *(int *)p = (int)v.i;
  if (k->type == KEY_U64) *(uint64_t *)p = v.u;
  if (k->type == KEY_DOUBLE) *(double *)p = v.d;
}

static long long n_names(const struct key *k) {
  long long n = 0;
  while (k->names[n]) n++;
  return n;
}

static int in_range(const struct key *k, union num v) {
  switch (k->type) {
  case KEY_INT:
    return v.i >= k->min && v.i <= k->max;
  case KEY_ENUM:
    return v.i >= 0 && v.i < n_names(k);
  case KEY_U64:
    return (double)v.u >= k->min && (double)v.u <= k->max;
  case KEY_DOUBLE:
    return v.d >= k->min && v.d <= k->max;
  }
  return 0;
}

/* ------------------------------------------------------------ text of values */

/* The shortest decimal that reads back to the same double: plain digits for exponents in
 * [-5, 16] (10000, 0.02), scientific notation beyond (1e-300). */
static void fmt_shortest(double v, char *buf, size_t n) {
  if (!isfinite(v)) {
    snprintf(buf, n, "%g", v);
    return;
  }
  int p = 1;
  for (; p < 17; p++) {
    snprintf(buf, n, "%.*e", p - 1, v);
    double back = strtod(buf, NULL);
    if (memcmp(&back, &v, sizeof v) == 0) break;
  }
  snprintf(buf, n, "%.*e", p - 1, v);
  int exp10 = atoi(strchr(buf, 'e') + 1);
  if (exp10 >= -5 && exp10 <= 16)
    snprintf(buf, n, "%.*f", p - 1 - exp10 > 0 ? p - 1 - exp10 : 0, v);
}

/* The shortest text as a float in YAML 1.1 and JSON: a '.' in the mantissa (10000.0,
 * 1.0e-08), so PyYAML reads a float too. */
static void fmt_float(double v, char *buf, size_t n) {
  char s[40];
  fmt_shortest(v, s, sizeof s);
  char *e = strchr(s, 'e');
  if (strpbrk(s, ".ni"))
    snprintf(buf, n, "%s", s);
  else if (e)
    snprintf(buf, n, "%.*s.0%s", (int)(e - s), s, e);
  else
    snprintf(buf, n, "%s.0", s);
}

/* A value as the config file spells it (enum names unquoted; a bad enum as its number). */
static void fmt_value(const struct key *k, union num v, char *buf, size_t n) {
  switch (k->type) {
  case KEY_INT:
    snprintf(buf, n, "%lld", v.i);
    break;
  case KEY_U64:
    snprintf(buf, n, "%" PRIu64, v.u);
    break;
  case KEY_DOUBLE:
    fmt_float(v.d, buf, n);
    break;
  case KEY_ENUM:
    if (in_range(k, v))
      snprintf(buf, n, "%s", k->names[v.i]);
    else
      snprintf(buf, n, "%lld", v.i);
    break;
  }
}

/* What a key accepts, e.g. "an integer in [1, 65536]". */
static void fmt_expected(const struct key *k, char *buf, size_t n) {
  char lo[40], hi[40];
  if (k->type == KEY_ENUM) {
    size_t used = (size_t)snprintf(buf, n, "one of");
    for (long long i = 0; k->names[i] && used < n; i++)
      used += (size_t)snprintf(buf + used, n - used, "%s %s", i ? "," : "", k->names[i]);
    return;
  }
  fmt_shortest(k->min, lo, sizeof lo);
  fmt_shortest(k->max, hi, sizeof hi);
  if (k->type == KEY_U64 && k->max >= U64_LAST)
    snprintf(hi, sizeof hi, "%" PRIu64, UINT64_MAX);
  else if (k->type != KEY_DOUBLE)
    snprintf(hi, sizeof hi, "%.0f", k->max);
  snprintf(buf, n, "%s in [%s, %s]", k->type == KEY_DOUBLE ? "a number" : "an integer", lo, hi);
}

/* Text from a file or the command line, quoted and escaped for a terminal, cut at max bytes. */
static void fmt_quoted(const char *s, size_t len, size_t max, char *buf, size_t n) {
  size_t o = 0;
  buf[o++] = '"';
  for (size_t i = 0; i < len && i < max && o + 8 < n; i++) {
    unsigned char ch = (unsigned char)s[i];
    if (ch == '"' || ch == '\\')
      o += (size_t)snprintf(buf + o, n - o, "\\%c", ch);
    else if (ch < 0x20 || ch >= 0x7f)
      o += (size_t)snprintf(buf + o, n - o, "\\x%02x", ch);
    else
      buf[o++] = (char)ch;
  }
  snprintf(buf + o, n - o, "%s\"", len > max ? "..." : "");
}

/* A name from a file, escaped as in fmt_quoted but without the quotes. */
static void fmt_name(const char *s, size_t len, size_t max, char *buf, size_t n) {
  fmt_quoted(s, len, max, buf, n);
  size_t l = strlen(buf);
  memmove(buf, buf + 1, l - 2);
  buf[l - 2] = 0;
}

/* The valid names of a section's keys (section NULL: the sections), comma-separated. */
static void fmt_valid(const struct section *sec, char *buf, size_t n) {
  size_t used = 0;
  buf[0] = 0;
  size_t count = sec ? N_KEYS : N_SECTIONS;
  for (size_t i = 0; i < count && used < n; i++) {
    if (sec && strcmp(keys[i].section, sec->name) != 0) continue;
    const char *name = sec ? keys[i].name : sections[i].name;
    used += (size_t)snprintf(buf + used, n - used, "%s%s", used ? ", " : "", name);
  }
}

/* ------------------------------------------------------------ parsing scalars */

/* Decimal integer: optional sign, digits, no leading zero (YAML 1.1 reads 010 as octal). */
static int is_int_text(const char *s) {
  if (*s == '+' || *s == '-') s++;
  size_t d = strspn(s, "0123456789");
  return d > 0 && s[d] == 0 && !(s[0] == '0' && d > 1);
}

/* Decimal number: [sign] digits [. digits] [e [sign] digits], at least one mantissa digit. */
static int is_float_text(const char *s) {
  if (*s == '+' || *s == '-') s++;
  size_t d = strspn(s, "0123456789");
  s += d;
  if (*s == '.') {
    size_t f = strspn(++s, "0123456789");
    s += f;
    d += f;
  }
  if (d == 0) return 0;
  if (*s == 'e' || *s == 'E') {
    s++;
    if (*s == '+' || *s == '-') s++;
    size_t e = strspn(s, "0123456789");
    if (e == 0) return 0;
    s += e;
  }
  return *s == 0;
}

/* Reads the text of a plain scalar as key k's type; 0 on success, -1 if it is not one. */
static int parse_text(const struct key *k, const char *s, union num *v) {
  errno = 0;
  switch (k->type) {
  case KEY_INT:
    if (!is_int_text(s)) return -1;
    v->i = strtoll(s, NULL, 10);
    return errno ? -1 : 0;
  case KEY_U64:
    if (!is_int_text(s) || *s == '-') return -1;
    v->u = strtoull(s, NULL, 10);
    return errno ? -1 : 0;
  case KEY_DOUBLE:
    if (!is_float_text(s)) return -1;
    v->d = strtod(s, NULL);
    return isfinite(v->d) ? 0 : -1;
  case KEY_ENUM:
    for (v->i = 0; k->names[v->i]; v->i++)
      if (strcmp(k->names[v->i], s) == 0) return 0;
    return -1;
  }
  return -1;
}

static int bad_value(struct tf_error *err, int code, const char *loc, const struct key *k,
                     const char *got) {
  char want[160];
  fmt_expected(k, want, sizeof want);
  return tf_error_set(err, code, "%s%s.%s: expected %s, got %s", loc, k->section, k->name, want,
                      got);
}

/* Sets key k in base from scalar text (len bytes). quoted: the scalar was a quoted YAML
 * string, which only an enum key accepts. got describes the value for an error message. */
static int assign_text(const struct key *k, void *base, const char *text, size_t len, int quoted,
                       const char *loc, const char *got, struct tf_error *err) {
  union num v;
  if ((quoted && k->type != KEY_ENUM) || strlen(text) != len || parse_text(k, text, &v) ||
      !in_range(k, v))
    return bad_value(err, TF_ECONFIG, loc, k, got);
  store(k, base, v);
  return TF_OK;
}

/* ------------------------------------------------------------ defaults, checks, print */

void tf_config_default(struct tf_config *c) {
  memset(c, 0, sizeof *c);
  for (size_t i = 0; i < N_KEYS; i++) {
    const struct key *k = &keys[i];
    void *base = section_of(key_section(k), c);
    union num v = {0};
    if (k->type == KEY_INT || k->type == KEY_ENUM) v.i = (long long)k->def;
    if (k->type == KEY_U64) v.u = (uint64_t)k->def;
    if (k->type == KEY_DOUBLE) v.d = k->def;
    store(k, base, v);
  }
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
    fmt_shortest(m->rotary_pct, pct, sizeof pct);
    return tf_error_set(err, code,
                        "%srotary_pct (%s) gives %d RoPE channels of the %d per head; "
                        "RoPE needs an even number",
                        sec, pct, r, m->d_model / m->n_heads);
  }
  return TF_OK;
}

int tf_config_check(const struct tf_config *c, struct tf_error *err) {
  for (size_t i = 0; i < N_KEYS; i++) {
    const struct key *k = &keys[i];
    union num v = fetch(k, csection_of(key_section(k), c));
    char got[64];
    fmt_value(k, v, got, sizeof got);
    if (!in_range(k, v)) return bad_value(err, TF_ECONFIG, "", k, got);
  }
  return check_model(&c->model, "model.", TF_ECONFIG, err);
}

int tf_config_print(const struct tf_config *c, FILE *out) {
  for (size_t s = 0; s < N_SECTIONS; s++) {
    fprintf(out, "%s:\n", sections[s].name);
    for (size_t i = 0; i < N_KEYS; i++) {
      const struct key *k = &keys[i];
      if (strcmp(k->section, sections[s].name) != 0) continue;
      char val[64], line[128];
      fmt_value(k, fetch(k, csection_of(&sections[s], c)), val, sizeof val);
      snprintf(line, sizeof line, "%s: %s", k->name, val);
      fprintf(out, "  %-28s # %s%s%s%s\n", line, k->same_as ? "0: same as " : "",
              k->same_as ? k->same_as : "", k->same_as ? "; " : "", k->doc);
    }
  }
  return fflush(out) != 0 || ferror(out) ? TF_EIO : TF_OK;
}

const char *tf_norm_name(enum tf_norm n) {
  return (unsigned)n < sizeof norm_names / sizeof norm_names[0] - 1 ? norm_names[n] : "unknown";
}

const char *tf_kind_name(enum tf_kind k) {
  return (unsigned)k < TF_NKINDS ? kind_names[k] : "unknown";
}

/* ------------------------------------------------------------ --set */

int tf_config_set(struct tf_config *c, const char *assignment, struct tf_error *err) {
  const char *eq = strchr(assignment, '=');
  const char *dot = eq ? memchr(assignment, '.', (size_t)(eq - assignment)) : NULL;
  char shown[96], valid[256], got[96];
  if (!dot) {
    fmt_quoted(assignment, strlen(assignment), SHOW_MAX, shown, sizeof shown);
    return tf_error_set(err, TF_EUSAGE, "--set %s: expected section.key=value", shown);
  }
  const char *name = dot + 1;
  const struct section *sec = find_section(assignment, (size_t)(dot - assignment));
  if (!sec) {
    fmt_name(assignment, (size_t)(dot - assignment), SHOW_MAX, shown, sizeof shown);
    fmt_valid(NULL, valid, sizeof valid);
    return tf_error_set(err, TF_ECONFIG, "--set %s: unknown section; valid sections: %s", shown,
                        valid);
  }
  const struct key *k = find_key(sec, name, (size_t)(eq - name));
  if (!k) {
    fmt_name(assignment, (size_t)(eq - assignment), SHOW_MAX, shown, sizeof shown);
    fmt_valid(sec, valid, sizeof valid);
    return tf_error_set(err, TF_ECONFIG, "--set %s: unknown key; valid keys of %s: %s", shown,
                        sec->name, valid);
  }
  fmt_quoted(eq + 1, strlen(eq + 1), SHOW_MAX, got, sizeof got);
  return assign_text(k, section_of(sec, c), eq + 1, strlen(eq + 1), 0, "--set ", got, err);
}

/* ------------------------------------------------------------ YAML files */

/* One YAML document being read: the document and the name errors give the file. */
struct ydoc {
  yaml_document_t doc;
  const char *file;
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
  const char *s = scalar(n);
  return !*s || !strcmp(s, "~") || !strcmp(s, "null") || !strcmp(s, "Null") || !strcmp(s, "NULL");
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
    fmt_quoted(scalar(n), n->data.scalar.length, SHOW_MAX, q, sizeof q);
    snprintf(buf, len, "%s%s", n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE ? "" : "the string ",
             q);
  }
}

/* The key of pair p in mapping m must be a scalar no earlier pair used. sec: the section
 * whose keys m holds, or NULL when m holds the sections. */
static int pair_name(struct ydoc *y, const yaml_node_t *m, const yaml_node_pair_t *p,
                     const struct section *sec, struct tf_error *err) {
  yaml_node_t *kn = ynode(y, p->key);
  char loc[320], shown[96];
  const char *what = sec ? "key" : "section";
  fmt_loc(y, kn, loc, sizeof loc);
  if (kn->type != YAML_SCALAR_NODE) {
    fmt_node(kn, shown, sizeof shown);
    return tf_error_set(err, TF_ECONFIG, "%s%s%sexpected a %s name, got %s", loc,
                        sec ? sec->name : "", sec ? ": " : "", what, shown);
  }
  fmt_name(scalar(kn), kn->data.scalar.length, SHOW_MAX, shown, sizeof shown);
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
  const struct key *k = find_key(sec, scalar(kn), kn->data.scalar.length);
  if (!k) {
    fmt_loc(y, kn, loc, sizeof loc);
    fmt_name(scalar(kn), kn->data.scalar.length, SHOW_MAX, shown, sizeof shown);
    fmt_valid(sec, valid, sizeof valid);
    return tf_error_set(err, TF_ECONFIG, "%s%s.%s: unknown key; valid keys of %s: %s", loc,
                        sec->name, shown, sec->name, valid);
  }
  fmt_loc(y, vn, loc, sizeof loc);
  fmt_node(vn, got, sizeof got);
  if (vn->type != YAML_SCALAR_NODE) return bad_value(err, TF_ECONFIG, loc, k, got);
  int quoted = vn->data.scalar.style != YAML_PLAIN_SCALAR_STYLE;
  return assign_text(k, base, scalar(vn), vn->data.scalar.length, quoted, loc, got, err);
}

static int load_section(struct ydoc *y, struct tf_config *c, const struct section *sec,
                        yaml_node_t *m, struct tf_error *err) {
  char loc[320], got[128];
  if (is_null(m)) return TF_OK;
  if (m->type != YAML_MAPPING_NODE) {
    fmt_loc(y, m, loc, sizeof loc);
    fmt_node(m, got, sizeof got);
    return tf_error_set(err, TF_ECONFIG, "%s%s: expected a mapping of keys, got %s", loc, sec->name,
                        got);
  }
  for (yaml_node_pair_t *p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top; p++) {
    int rc = pair_name(y, m, p, sec, err);
    if (!rc) rc = load_pair(y, sec, section_of(sec, c), ynode(y, p->key), ynode(y, p->value), err);
    if (rc) return rc;
  }
  return TF_OK;
}

static int load_document(struct ydoc *y, struct tf_config *c, struct tf_error *err) {
  yaml_node_t *root = yaml_document_get_root_node(&y->doc);
  char loc[320], got[128], valid[128], shown[96];
  if (!root || is_null(root)) return TF_OK;
  fmt_valid(NULL, valid, sizeof valid);
  if (root->type != YAML_MAPPING_NODE) {
    fmt_loc(y, root, loc, sizeof loc);
    fmt_node(root, got, sizeof got);
    return tf_error_set(err, TF_ECONFIG, "%sexpected a mapping of sections (%s), got %s", loc,
                        valid, got);
  }
  for (yaml_node_pair_t *p = root->data.mapping.pairs.start; p < root->data.mapping.pairs.top;
       p++) {
    int rc = pair_name(y, root, p, NULL, err);
    if (rc) return rc;
    yaml_node_t *kn = ynode(y, p->key);
    const struct section *sec = find_section(scalar(kn), kn->data.scalar.length);
    if (!sec) {
      fmt_loc(y, kn, loc, sizeof loc);
      fmt_name(scalar(kn), kn->data.scalar.length, SHOW_MAX, shown, sizeof shown);
      return tf_error_set(err, TF_ECONFIG, "%s%s: unknown section; valid sections: %s", loc, shown,
                          valid);
    }
    rc = load_section(y, c, sec, ynode(y, p->value), err);
    if (rc) return rc;
  }
  return TF_OK;
}

static int parse_error(const yaml_parser_t *p, FILE *f, const char *file, struct tf_error *err) {
  const char *problem = p->problem ? p->problem : "unknown error";
  if (p->error == YAML_MEMORY_ERROR)
    return tf_error_set(err, TF_ENOMEM, "%s: out of memory reading YAML", file);
  if (p->error == YAML_READER_ERROR && ferror(f))
    return tf_error_set(err, TF_ENOINPUT, "%s: cannot read: %s", file, strerror(EIO));
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
static int expect_end(yaml_parser_t *parser, FILE *f, struct ydoc *y, struct tf_error *err) {
  if (!yaml_parser_load(parser, &y->doc)) return parse_error(parser, f, y->file, err);
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

static int load_stream(struct tf_config *c, FILE *f, const char *file, struct tf_error *err) {
  yaml_parser_t parser;
  struct ydoc y = {.file = file};
  if (!yaml_parser_initialize(&parser))
    return tf_error_set(err, TF_ENOMEM, "%s: out of memory reading YAML", file);
  yaml_parser_set_input_file(&parser, f);
  int rc;
  if (!yaml_parser_load(&parser, &y.doc)) {
    rc = parse_error(&parser, f, file, err);
  } else {
    rc = load_document(&y, c, err);
    yaml_document_delete(&y.doc);
    if (!rc) rc = expect_end(&parser, f, &y, err);
  }
  yaml_parser_delete(&parser);
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
  int rc = load_stream(&tmp, f, file, err);
  if (!from_stdin) fclose(f);
  if (!rc) *c = tmp;
  return rc;
}

/* ------------------------------------------------------------ the model section as JSON */

/* Replaces each 0 of a key with a same_as by the value of that key (ref tokens). */
static void resolve_model(struct tf_model_config *m) {
  const struct section *sec = model_section();
  for (size_t i = 0; i < N_KEYS; i++) {
    const struct key *k = &keys[i];
    if (strcmp(k->section, sec->name) != 0 || !k->same_as || fetch(k, m).i != 0) continue;
    store(k, m, fetch(find_key(sec, k->same_as, strlen(k->same_as)), m));
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
  for (size_t i = 0; i < N_KEYS; i++) {
    const struct key *k = &keys[i];
    if (strcmp(k->section, sec->name) != 0) continue;
    char val[64];
    fmt_value(k, fetch(k, m), val, sizeof val);
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
static int json_num(const struct key *k, const json_t *j, union num *v) {
  if (k->type == KEY_ENUM) return json_is_string(j) ? parse_text(k, json_string_value(j), v) : -1;
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
  union num v;
  if (!json_num(k, j, &v) && in_range(k, v)) {
    store(k, base, v);
    return TF_OK;
  }
  /* JSON text with every control and non-ASCII character escaped is safe to show */
  char *text = json_dumps(j, JSON_ENCODE_ANY | JSON_COMPACT | JSON_ENSURE_ASCII), got[64];
  snprintf(got, sizeof got, "%.40s%s", text ? text : "?", text && strlen(text) > 40 ? "..." : "");
  free(text);
  char want[160];
  fmt_expected(k, want, sizeof want);
  return tf_error_set(err, TF_EDATA, "%s: expected %s, got %s", k->name, want, got);
}

static int json_model(struct tf_model_config *m, json_t *o, struct tf_error *err) {
  const struct section *sec = model_section();
  const char *name;
  json_t *j;
  char shown[96];
  if (!json_is_object(o)) return tf_error_set(err, TF_EDATA, "expected a JSON object");
  json_object_foreach(o, name, j) {
    if (find_key(sec, name, strlen(name))) continue;
    fmt_quoted(name, strlen(name), SHOW_MAX, shown, sizeof shown);
    return tf_error_set(err, TF_EDATA, "unknown key %s", shown);
  }
  for (size_t i = 0; i < N_KEYS; i++) {
    if (strcmp(keys[i].section, sec->name) != 0) continue;
    int rc = json_key(&keys[i], o, m, err);
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
    fmt_name(je.text, strlen(je.text), sizeof text / 4 - 4, text, sizeof text);
    return tf_error_set(err, TF_EDATA, "bad JSON at %d:%d: %s", je.line, je.column, text);
  }
  struct tf_model_config tmp;
  memset(&tmp, 0, sizeof tmp);
  int rc = json_model(&tmp, o, err);
  json_decref(o);
  if (!rc) *m = tmp;
  return rc;
}
