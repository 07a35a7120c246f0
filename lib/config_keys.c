/* config_keys.c: the table of config keys (section, type, range, default, doc) and how one
 * value of each type is read from text, range-checked, stored and written back as YAML.
 * Where values come from (files, --set) and go (print, JSON) is config.c. */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config_internal.h"

/* Enum fields are read and written as int. */
_Static_assert(sizeof(enum tf_norm) == sizeof(int), "enum tf_norm must be int-sized");
_Static_assert(sizeof(enum tf_grow_init) == sizeof(int), "enum tf_grow_init must be int-sized");
_Static_assert(sizeof(enum tf_freeze) == sizeof(int), "enum tf_freeze must be int-sized");

static const char *const norm_names[] = {"l2_norm_gelu", "gelu_l2_norm", "softmax", NULL};
static const char *const kind_names[] = {"qkv", "proj", "ffn"};
static const char *const grow_init_names[] = {"exact", "random", "duplicate", NULL};
static const char *const freeze_names[] = {"none", "old_tokens", NULL};

const struct section tf_config_sections[] = {
    {"model", offsetof(struct tf_config, model)},
    {"init", offsetof(struct tf_config, init)},
    {"train", offsetof(struct tf_config, train)},
    {"grow", offsetof(struct tf_config, grow)},
};
const size_t tf_config_n_sections = sizeof tf_config_sections / sizeof tf_config_sections[0];

#define M(f)       offsetof(struct tf_model_config, f)
#define I(f)       offsetof(struct tf_init_config, f)
#define T(f)       offsetof(struct tf_train_config, f)
#define G(f)       offsetof(struct tf_grow_config, f)
#define P24        ((double)TF_MAX_TOKENS) /* 2^24: vocabulary and token counts */
#define U64_LAST   18446744073709551615.0  /* 2^64 - 1 (rounds to 2^64 as a double) */
#define PATH_BYTES (TF_PATH_MAX - 1)       /* the longest path a char[TF_PATH_MAX] holds */

/* Each row: section, name, type, offset, min, max, default, then the optional members. */
const struct key tf_config_keys[] = {
    {"model", "vocab_size", KEY_INT, M(vocab_size), 1, P24, 256,
     .doc = "V, token ids (256: bytes)"},
    {"model", "d_model", KEY_INT, M(d_model), 1, 65536, 256,
     .doc = "d, width of the model and of every parameter token"},
    {"model", "n_layers", KEY_INT, M(n_layers), 1, TF_MAX_LAYERS, 6, .doc = "L, blocks"},
    {"model", "n_heads", KEY_INT, M(n_heads), 1, 65536, 8,
     .doc = "H, attention heads of d_model / n_heads channels"},
    {"model", "seq_len", KEY_INT, M(seq_len), 1, 1048576, 256, .doc = "longest context in tokens"},
    {"model", "qkv_tokens", KEY_INT, M(tokens[TF_KIND_QKV]), 1, P24, 256,
     .doc = "parameter tokens of each query, key and value Pattention"},
    {"model", "proj_tokens", KEY_INT, M(tokens[TF_KIND_PROJ]), 1, P24, 256,
     .doc = "parameter tokens of the attention output Pattention"},
    {"model", "ffn_tokens", KEY_INT, M(tokens[TF_KIND_FFN]), 1, P24, 1024,
     .doc = "parameter tokens of the feed-forward Pattention"},
    {"model", "qkv_ref_tokens", KEY_INT, M(ref_tokens[TF_KIND_QKV]), 0, P24, 0,
     .same_as = "qkv_tokens", .doc = "n_ref: tau = sqrt(n_ref), kept by tf-grow"},
    {"model", "proj_ref_tokens", KEY_INT, M(ref_tokens[TF_KIND_PROJ]), 0, P24, 0,
     .same_as = "proj_tokens", .doc = "n_ref: tau = sqrt(n_ref), kept by tf-grow"},
    {"model", "ffn_ref_tokens", KEY_INT, M(ref_tokens[TF_KIND_FFN]), 0, P24, 0,
     .same_as = "ffn_tokens", .doc = "n_ref: tau = sqrt(n_ref), kept by tf-grow"},
    {"model", "norm", KEY_ENUM, M(norm), 0, 0, TF_NORM_L2_GELU, .names = norm_names,
     .doc = "Pattention normalization: l2_norm_gelu, gelu_l2_norm, softmax"},
    {"model", "rotary_pct", KEY_DOUBLE, M(rotary_pct), 0, 1, 0.25,
     .doc = "share of each head's channels rotated by RoPE"},
    {"model", "rotary_base", KEY_DOUBLE, M(rotary_base), 1, 1e9, 10000, .doc = "RoPE base"},

    {"init", "seed", KEY_U64, I(seed), 0, U64_LAST, 1, .doc = "seed of the initial weights"},
    {"init", "std", KEY_DOUBLE, I(std), 0, 100, 0.02, .doc = "std of the embedding (and keys)"},
    {"init", "key_std", KEY_DOUBLE, I(key_std), 0, 100, 0,
     .doc = "std of key tokens; 0: init.std (the paper's)"},
    {"init", "value_std", KEY_DOUBLE, I(value_std), 0, 100, 0,
     .doc = "std of value tokens; 0: 2/(n_layers*sqrt(d_model))"},
    {"init", "tokenizer", KEY_STRING, I(tokenizer), 0, PATH_BYTES, 0, .def_text = "bytes",
     .doc = "bytes, or a Hugging Face tokenizer.json stored in the checkpoint"},

    {"train", "data", KEY_STRING, T(data), 0, PATH_BYTES, 0, .def_text = "data/kjv-train.txt",
     .doc = "training text"},
    {"train", "valid", KEY_STRING, T(valid), 0, PATH_BYTES, 0, .def_text = "data/kjv-valid.txt",
     .doc = "validation text; \"\": no evaluation"},
    {"train", "log", KEY_STRING, T(log), 0, PATH_BYTES, 0, .def_text = "",
     .doc = "metrics log, JSON Lines; \"\": none"},
    {"train", "batch", KEY_INT, T(batch), 1, 65536, 16, .doc = "windows per micro-batch"},
    {"train", "grad_accum", KEY_INT, T(grad_accum), 1, 65536, 1,
     .doc = "micro-batches per optimizer step"},
    {"train", "steps", KEY_I64, T(steps), 0, 1e12, 2000, .doc = "optimizer steps of the stage"},
    {"train", "lr", KEY_DOUBLE, T(lr), 0, 10, 6e-4, .open = OPEN_MIN, .doc = "peak learning rate"},
    {"train", "min_lr", KEY_DOUBLE, T(min_lr), 0, 10, 6e-5,
     .doc = "learning rate at the last step (cosine)"},
    {"train", "warmup", KEY_DOUBLE, T(warmup), 0, 1e12, 0.01,
     .doc = "warmup steps; below 1: a fraction of steps"},
    {"train", "weight_decay", KEY_DOUBLE, T(weight_decay), 0, 10, 0.1,
     .doc = "AdamW decoupled weight decay"},
    {"train", "beta1", KEY_DOUBLE, T(beta1), 0, 1, 0.9, .open = OPEN_MAX,
     .doc = "AdamW decay of the first moment"},
    {"train", "beta2", KEY_DOUBLE, T(beta2), 0, 1, 0.95, .open = OPEN_MAX,
     .doc = "AdamW decay of the second moment"},
    {"train", "eps", KEY_DOUBLE, T(eps), 0, 1, 1e-8, .open = OPEN_MIN,
     .doc = "AdamW epsilon of the denominator"},
    {"train", "clip", KEY_DOUBLE, T(clip), 0, 1e6, 1.0,
     .doc = "global gradient-norm limit; 0: none"},
    {"train", "eval_every", KEY_INT, T(eval_every), 0, 1e9, 200,
     .doc = "steps between evaluations; 0: never"},
    {"train", "eval_batches", KEY_INT, T(eval_batches), 0, 1e9, 20,
     .doc = "batches per evaluation; 0: no evaluation"},
    {"train", "save_every", KEY_INT, T(save_every), 0, 1e9, 500,
     .doc = "steps between checkpoint saves; 0: never"},
    {"train", "seed", KEY_U64, T(seed), 0, U64_LAST, 1, .doc = "seed of the data stream"},
    {"train", "lr_from_previous", KEY_DOUBLE, T(lr_from_previous), 0, 100, 0,
     .doc = "peak lr := this x the previous stage's final lr (grown model); 0: train.lr"},
    {"train", "freeze", KEY_ENUM, T(freeze), 0, 0, TF_FREEZE_NONE, .names = freeze_names,
     .doc = "none, or old_tokens: train only the rows the last growth added"},

    {"grow", "qkv_tokens", KEY_GROWTH, G(tokens[TF_KIND_QKV]), 0, P24, 0,
     .flag_offset = G(relative[TF_KIND_QKV]), .doc = "new qkv_tokens, or +N to add N; 0: keep"},
    {"grow", "proj_tokens", KEY_GROWTH, G(tokens[TF_KIND_PROJ]), 0, P24, 0,
     .flag_offset = G(relative[TF_KIND_PROJ]), .doc = "new proj_tokens, or +N to add N; 0: keep"},
    {"grow", "ffn_tokens", KEY_GROWTH, G(tokens[TF_KIND_FFN]), 0, P24, 0,
     .flag_offset = G(relative[TF_KIND_FFN]), .doc = "new ffn_tokens, or +N to add N; 0: keep"},
    {"grow", "init", KEY_ENUM, G(init), 0, 0, TF_GROW_EXACT, .names = grow_init_names,
     .doc = "new tokens: exact, random, duplicate"},
    {"grow", "rescale", KEY_BOOL, G(rescale), 0, 1, 0,
     .doc = "n_ref := the new token count (the official code's tau)"},
    {"grow", "keep_optimizer", KEY_BOOL, G(keep_optimizer), 0, 1, 0,
     .doc = "extend the AdamW moments, not reset them"},
    {"grow", "seed", KEY_U64, G(seed), 0, U64_LAST, 1, .doc = "seed of the new tokens"},
};
const size_t tf_config_n_keys = sizeof tf_config_keys / sizeof tf_config_keys[0];

const char *tf_grow_init_name(enum tf_grow_init i) {
  return (unsigned)i < sizeof grow_init_names / sizeof grow_init_names[0] - 1 ? grow_init_names[i]
                                                                              : "?";
}

const char *tf_norm_name(enum tf_norm n) {
  return (unsigned)n < sizeof norm_names / sizeof norm_names[0] - 1 ? norm_names[n] : "unknown";
}

const char *tf_kind_name(enum tf_kind k) {
  return (unsigned)k < TF_NKINDS ? kind_names[k] : "unknown";
}

/* ------------------------------------------------------------ lookup and access */

static int name_is(const char *name, const char *s, size_t len) {
  return strlen(name) == len && memcmp(name, s, len) == 0;
}

const struct section *tf_config_find_section(const char *s, size_t len) {
  for (size_t i = 0; i < tf_config_n_sections; i++)
    if (name_is(tf_config_sections[i].name, s, len)) return &tf_config_sections[i];
  return NULL;
}

const struct key *tf_config_find_key(const struct section *sec, const char *s, size_t len) {
  for (size_t i = 0; i < tf_config_n_keys; i++) {
    const struct key *k = &tf_config_keys[i];
    if (strcmp(k->section, sec->name) == 0 && name_is(k->name, s, len)) return k;
  }
  return NULL;
}

const struct section *tf_config_key_section(const struct key *k) {
  return tf_config_find_section(k->section, strlen(k->section));
}

static int is_int_sized(const struct key *k) {
  return k->type == KEY_INT || k->type == KEY_ENUM || k->type == KEY_BOOL;
}

union value tf_config_fetch(const struct key *k, const void *base) {
  const char *p = (const char *)base + k->offset;
  union value v = {0};
  if (is_int_sized(k)) v.i = *(const int *)p;
  if (k->type == KEY_I64) v.i = *(const int64_t *)p;
  if (k->type == KEY_U64) v.u = *(const uint64_t *)p;
  if (k->type == KEY_DOUBLE) v.d = *(const double *)p;
  if (k->type == KEY_STRING) {
    v.s.p = p;
    v.s.len = strnlen(p, (size_t)k->max + 1);
  }
  if (k->type == KEY_GROWTH) {
    v.g.n = *(const int *)p;
    v.g.relative = *(const int *)((const char *)base + k->flag_offset);
  }
  return v;
}

void tf_config_store(const struct key *k, void *base, union value v) {
  char *p = (char *)base + k->offset;
  if (is_int_sized(k)) *(int *)p = (int)v.i;
  if (k->type == KEY_I64) *(int64_t *)p = v.i;
  if (k->type == KEY_U64) *(uint64_t *)p = v.u;
  if (k->type == KEY_DOUBLE) *(double *)p = v.d;
  if (k->type == KEY_STRING) {
    size_t len = v.s.len <= (size_t)k->max ? v.s.len : (size_t)k->max;
    memmove(p, v.s.p, len);
    memset(p + len, 0, (size_t)k->max + 1 - len); /* the same value, the same bytes */
  }
  if (k->type == KEY_GROWTH) {
    *(int *)p = (int)v.g.n;
    *(int *)((char *)base + k->flag_offset) = v.g.relative;
  }
}

union value tf_config_default_value(const struct key *k) {
  union value v;
  memset(&v, 0, sizeof v); /* = {0} would zero only the first member, not g.relative */
  if (is_int_sized(k) || k->type == KEY_I64) v.i = (long long)k->def;
  if (k->type == KEY_U64) v.u = (uint64_t)k->def;
  if (k->type == KEY_DOUBLE) v.d = k->def;
  if (k->type == KEY_STRING) {
    v.s.p = k->def_text;
    v.s.len = strlen(k->def_text);
  }
  if (k->type == KEY_GROWTH) v.g.n = (long long)k->def;
  return v;
}

static long long n_names(const struct key *k) {
  long long n = 0;
  while (k->names[n]) n++;
  return n;
}

static int in_bounds(const struct key *k, double x) {
  int above_min = k->open & OPEN_MIN ? x > k->min : x >= k->min;
  int below_max = k->open & OPEN_MAX ? x < k->max : x <= k->max;
  return above_min && below_max;
}

/* The length of the well-formed UTF-8 sequence at s (shortest form, no surrogate, at most
 * U+10FFFF) and its code point, or 0 when there is none. */
static size_t utf8_next(const unsigned char *s, size_t len, uint32_t *cp) {
  static const uint32_t least[] = {0, 0, 0x80, 0x800, 0x10000};
  size_t n = s[0] < 0x80 ? 1 : s[0] >> 5 == 6 ? 2 : s[0] >> 4 == 14 ? 3 : s[0] >> 3 == 30 ? 4 : 0;
  if (n == 0 || n > len) return 0;
  *cp = n == 1 ? s[0] : s[0] & (0x7fu >> n);
  for (size_t j = 1; j < n; j++) {
    if ((s[j] & 0xc0) != 0x80) return 0;
    *cp = *cp << 6 | (s[j] & 0x3f);
  }
  if (*cp < least[n] || *cp > 0x10ffff || (*cp >= 0xd800 && *cp <= 0xdfff)) return 0;
  return n;
}

/* What YAML can hold. */
static int is_utf8(const char *text, size_t len) {
  uint32_t cp;
  for (size_t i = 0, n; i < len; i += n)
    if (!(n = utf8_next((const unsigned char *)text + i, len - i, &cp))) return 0;
  return 1;
}

int tf_config_in_range(const struct key *k, union value v) {
  switch (k->type) {
  case KEY_INT:
  case KEY_I64:
    return in_bounds(k, (double)v.i);
  case KEY_U64:
    return in_bounds(k, (double)v.u);
  case KEY_DOUBLE:
    return in_bounds(k, v.d);
  case KEY_ENUM:
    return v.i >= 0 && v.i < n_names(k);
  case KEY_BOOL:
    return v.i == 0 || v.i == 1;
  case KEY_STRING:
    return v.s.len <= k->max && is_utf8(v.s.p, v.s.len);
  case KEY_GROWTH:
    return in_bounds(k, (double)v.g.n) && (v.g.relative == 0 || v.g.relative == 1);
  }
  return 0;
}

/* ------------------------------------------------------------ text of values */

void tf_config_shortest(double v, char *buf, size_t n) {
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
  tf_config_shortest(v, s, sizeof s);
  char *e = strchr(s, 'e');
  if (strpbrk(s, ".ni"))
    snprintf(buf, n, "%s", s);
  else if (e)
    snprintf(buf, n, "%.*s.0%s", (int)(e - s), s, e);
  else
    snprintf(buf, n, "%s.0", s);
}

/* A non-ASCII code point YAML takes as it is: not C1 (U+0085 is a line break), U+FFFE, U+FFFF. */
static int yaml_printable(uint32_t cp) {
  return (cp >= 0xa0 && cp <= 0xfffd) || cp >= 0x10000;
}

/* s (len bytes) in double quotes, cut at max bytes with "...": '"' escaped, other bytes as
 * tf_escape_byte shows them (\\, and \xHH for control characters: escapes YAML and C share),
 * except that with utf8 well-formed UTF-8 stays as it is and code points YAML would not keep
 * become \uHHHH. */
static void quote(const char *s, size_t len, size_t max, int utf8, char *buf, size_t n) {
  size_t o = 0;
  buf[o++] = '"';
  for (size_t i = 0; i < len && i < max && o + 8 < n; i++) {
    unsigned char ch = (unsigned char)s[i];
    uint32_t cp = 0;
    size_t seq = utf8 && ch > 0x7f ? utf8_next((const unsigned char *)s + i, len - i, &cp) : 0;
    if (ch == '"') {
      o += (size_t)snprintf(buf + o, n - o, "\\\"");
    } else if (seq && yaml_printable(cp)) {
      memcpy(buf + o, s + i, seq);
      o += seq, i += seq - 1;
    } else if (seq) {
      o += (size_t)snprintf(buf + o, n - o, "\\u%04x", (unsigned)cp);
      i += seq - 1;
    } else {
      o += tf_escape_byte(ch, 0, buf + o);
    }
  }
  snprintf(buf + o, n - o, "%s\"", len > max ? "..." : "");
}

void tf_config_quote(const char *s, size_t len, size_t max, char *buf, size_t n) {
  quote(s, len, max, 0, buf, n);
}

void tf_config_show_name(const char *s, size_t len, size_t max, char *buf, size_t n) {
  tf_config_quote(s, len, max, buf, n);
  size_t l = strlen(buf);
  memmove(buf, buf + 1, l - 2);
  buf[l - 2] = 0;
}

/* Whether s, written plain, could read back as anything but that string, here or in another
 * YAML reader: empty, not starting with a letter, '_' or '/' (numbers, ~, .inf, indicators),
 * holding a character outside [A-Za-z0-9_./-], or a YAML 1.1 boolean or null word. */
#define LETTERS "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
static int needs_quotes(const char *s, size_t len) {
  static const char *const words[] = {"y", "n", "yes", "no", "on", "off", "true", "false", "null"};
  if (len == 0 || !s[0] || !strchr(LETTERS "_/", s[0])) return 1;
  for (size_t i = 0; i < len; i++)
    if (!s[i] || !strchr(LETTERS "0123456789_./-", s[i])) return 1;
  for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
    if (strlen(words[i]) == len && strncasecmp(s, words[i], len) == 0) return 1;
  return 0;
}

void tf_config_format(const struct key *k, union value v, char *buf, size_t n) {
  switch (k->type) {
  case KEY_INT:
  case KEY_I64:
    snprintf(buf, n, "%lld", v.i);
    break;
  case KEY_U64:
    snprintf(buf, n, "%" PRIu64, v.u);
    break;
  case KEY_DOUBLE:
    fmt_float(v.d, buf, n);
    break;
  case KEY_ENUM: /* a bad enum or bool as its number */
  case KEY_BOOL:
    if (!tf_config_in_range(k, v))
      snprintf(buf, n, "%lld", v.i);
    else
      snprintf(buf, n, "%s", k->type == KEY_BOOL ? (v.i ? "true" : "false") : k->names[v.i]);
    break;
  case KEY_STRING:
    if (needs_quotes(v.s.p, v.s.len))
      quote(v.s.p, v.s.len, v.s.len, 1, buf, n);
    else
      snprintf(buf, n, "%.*s", (int)v.s.len, v.s.p);
    break;
  case KEY_GROWTH: /* "+N" quoted, so that a YAML 1.1 reader keeps the '+' */
    if (v.g.relative)
      snprintf(buf, n, "\"+%lld\"", v.g.n);
    else
      snprintf(buf, n, "%lld", v.g.n);
    break;
  }
}

void tf_config_show(const struct key *k, union value v, char *buf, size_t n) {
  if (k->type == KEY_STRING)
    tf_config_quote(v.s.p, v.s.len, TF_CONFIG_SHOW_MAX, buf, n);
  else
    tf_config_format(k, v, buf, n);
}

void tf_config_expected(const struct key *k, char *buf, size_t n) {
  char lo[40], hi[40];
  if (k->type == KEY_ENUM) {
    size_t used = (size_t)snprintf(buf, n, "one of");
    for (long long i = 0; k->names[i] && used < n; i++)
      used += (size_t)snprintf(buf + used, n - used, "%s %s", i ? "," : "", k->names[i]);
    return;
  }
  if (k->type == KEY_BOOL) {
    snprintf(buf, n, "true or false");
    return;
  }
  if (k->type == KEY_STRING) {
    snprintf(buf, n, "a UTF-8 string of at most %.0f bytes", k->max);
    return;
  }
  tf_config_shortest(k->min, lo, sizeof lo);
  tf_config_shortest(k->max, hi, sizeof hi);
  if (k->type == KEY_U64 && k->max >= U64_LAST)
    snprintf(hi, sizeof hi, "%" PRIu64, UINT64_MAX);
  else if (k->type != KEY_DOUBLE)
    snprintf(hi, sizeof hi, "%.0f", k->max);
  const char *what = k->type == KEY_DOUBLE   ? "a number in"
                     : k->type == KEY_GROWTH ? "a new count N or an increment +N, N an integer in"
                                             : "an integer in";
  snprintf(buf, n, "%s %c%s, %s%c", what, k->open & OPEN_MIN ? '(' : '[', lo, hi,
           k->open & OPEN_MAX ? ')' : ']');
}

/* ------------------------------------------------------------ parsing text */

int tf_config_is_null_text(const char *s) {
  return !*s || !strcmp(s, "~") || !strcmp(s, "null") || !strcmp(s, "Null") || !strcmp(s, "NULL");
}

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

static int parse_int(const char *s, long long *v) {
  if (!is_int_text(s)) return -1;
  errno = 0;
  *v = strtoll(s, NULL, 10);
  return errno ? -1 : 0;
}

/* YAML 1.2 core schema booleans. */
static int parse_bool(const char *s, long long *v) {
  static const char *const words[] = {"false", "False", "FALSE", "true", "True", "TRUE"};
  for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
    if (strcmp(s, words[i]) == 0) {
      *v = i >= 3; /* the last three */
      return 0;
    }
  return -1;
}

/* "N" or "+N"; "+0" is stored as 0, the one way to say "no growth". */
static int parse_growth(const char *s, union value *v) {
  if (*s == '-' || parse_int(s, &v->g.n)) return -1;
  v->g.relative = *s == '+' && v->g.n != 0;
  return 0;
}

int tf_config_parse(const struct key *k, const char *s, int plain, union value *v) {
  if (!plain && k->type != KEY_ENUM && k->type != KEY_STRING && k->type != KEY_GROWTH) return -1;
  switch (k->type) {
  case KEY_INT:
  case KEY_I64:
    return parse_int(s, &v->i);
  case KEY_U64:
    if (!is_int_text(s) || *s == '-') return -1;
    errno = 0;
    v->u = strtoull(s, NULL, 10);
    return errno ? -1 : 0;
  case KEY_DOUBLE:
    if (!is_float_text(s)) return -1;
    errno = 0;
    v->d = strtod(s, NULL); /* ERANGE: overflow, or underflow to 0 or a denormal (1e-400) */
    return isfinite(v->d) && errno != ERANGE ? 0 : -1;
  case KEY_ENUM:
    for (v->i = 0; k->names[v->i]; v->i++)
      if (strcmp(k->names[v->i], s) == 0) return 0;
    return -1;
  case KEY_BOOL:
    return parse_bool(s, &v->i);
  case KEY_STRING: /* YAML's null is the empty string: no path */
    v->s.p = plain && tf_config_is_null_text(s) ? "" : s;
    v->s.len = strlen(v->s.p);
    return 0;
  case KEY_GROWTH:
    return parse_growth(s, v);
  }
  return -1;
}

/* A note for a value that another YAML reader would take: YAML 1.1's booleans, a number too
 * small for a double (read elsewhere as 0). */
static const char *note_for(const struct key *k, const char *text) {
  static const char *const yaml11[] = {"y", "n", "yes", "no", "on", "off"};
  if (k->type == KEY_DOUBLE && is_float_text(text)) {
    errno = 0;
    double v = strtod(text, NULL);
    return errno == ERANGE && fabs(v) < 1
               ? " (below the smallest normal double: it would read as 0)"
               : "";
  }
  if (k->type != KEY_BOOL) return "";
  for (size_t i = 0; i < sizeof yaml11 / sizeof yaml11[0]; i++)
    if (strcasecmp(text, yaml11[i]) == 0)
      return " (yes, no, on and off are booleans only in YAML 1.1; write true or false)";
  return "";
}

static int bad_value(struct tf_error *err, int code, const char *loc, const struct key *k,
                     const char *got, const char *note) {
  char want[160];
  tf_config_expected(k, want, sizeof want);
  return tf_error_set(err, code, "%s%s.%s: expected %s, got %s%s", loc, k->section, k->name, want,
                      got, note);
}

int tf_config_bad_value(struct tf_error *err, int code, const char *loc, const struct key *k,
                        const char *got) {
  return bad_value(err, code, loc, k, got, "");
}

int tf_config_assign(const struct key *k, void *base, const char *text, size_t len, int plain,
                     const char *loc, const char *got, struct tf_error *err) {
  union value v;
  if (strlen(text) != len || tf_config_parse(k, text, plain, &v) || !tf_config_in_range(k, v))
    return bad_value(err, TF_ECONFIG, loc, k, got, note_for(k, text));
  tf_config_store(k, base, v);
  return TF_OK;
}
