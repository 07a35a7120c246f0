/* config_internal.h: the config key table and the typed values of its keys, shared by
 * config_keys.c (the table; reading, checking and writing one value) and config.c (files,
 * --set, print, cross-field checks, JSON). Not part of the public API. */
#ifndef TF_CONFIG_INTERNAL_H
#define TF_CONFIG_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "tokenformer.h"

enum key_type {
  KEY_INT,    /* int */
  KEY_I64,    /* int64_t */
  KEY_U64,    /* uint64_t */
  KEY_DOUBLE, /* double */
  KEY_ENUM,   /* an int-sized enum, written as one of names */
  KEY_BOOL,   /* int 0 or 1, written true or false */
  KEY_STRING, /* char[max + 1], NUL-terminated: at most max bytes */
  KEY_GROWTH, /* int count at offset, int flag at flag_offset: "N" (flag 0), "+N" (flag 1) */
};

/* Bits of key.open: the bound itself is out of range. */
enum { OPEN_MIN = 1, OPEN_MAX = 2 };

/* A section of the file and the struct tf_config member it fills. */
struct section {
  const char *name;
  size_t offset; /* of the section's struct in struct tf_config */
};

/* One key. min and max bound numbers (and growth counts); max is the byte limit of a string.
 * def is the default (for KEY_ENUM the index into names, which is the enum value). */
struct key {
  const char *section;
  const char *name;
  enum key_type type;
  size_t offset; /* in the section's struct */
  double min, max, def;
  int open;                 /* OPEN_MIN | OPEN_MAX */
  const char *def_text;     /* KEY_STRING: the default */
  const char *const *names; /* KEY_ENUM: the value names, NULL-terminated */
  size_t flag_offset;       /* KEY_GROWTH: of the "relative" int, in the section's struct */
  const char *same_as;      /* 0 stands for this key's value (resolved in the JSON) */
  const char *doc;
};

/* A value of some key. */
union value {
  long long i; /* KEY_INT, KEY_I64, KEY_ENUM, KEY_BOOL */
  uint64_t u;  /* KEY_U64 */
  double d;    /* KEY_DOUBLE */
  struct {
    const char *p; /* not NUL-terminated */
    size_t len;
  } s; /* KEY_STRING */
  struct {
    long long n;
    int relative;
  } g; /* KEY_GROWTH */
};

#define TF_CONFIG_SHOW_MAX 40 /* bytes of a bad value or name an error message shows */

extern const struct section tf_config_sections[];
extern const size_t tf_config_n_sections;
extern const struct key tf_config_keys[];
extern const size_t tf_config_n_keys;

/* Lookup by a name of len bytes; NULL when there is none. */
const struct section *tf_config_find_section(const char *s, size_t len);
const struct key *tf_config_find_key(const struct section *sec, const char *s, size_t len);
const struct section *tf_config_key_section(const struct key *k);

/* base is the section's struct. A fetched string points into base. */
union value tf_config_fetch(const struct key *k, const void *base);
void tf_config_store(const struct key *k, void *base, union value v);
union value tf_config_default_value(const struct key *k);
int tf_config_in_range(const struct key *k, union value v);

/* Reads the whole of s as key k's type (no range check); 0 on success, -1 if it is not one.
 * plain: a plain YAML scalar (or --set); only enums, strings and growth counts may be quoted. */
int tf_config_parse(const struct key *k, const char *s, int plain, union value *v);
/* Sets key k in base from scalar text (len bytes; plain: a plain YAML scalar, or --set).
 * loc and got (what the value looked like) go into the error message. */
int tf_config_assign(const struct key *k, void *base, const char *text, size_t len, int plain,
                     const char *loc, const char *got, struct tf_error *err);
/* "LOCsection.key: expected WHAT, got GOT": the error of a value k does not take. */
int tf_config_bad_value(struct tf_error *err, int code, const char *loc, const struct key *k,
                        const char *got);

/* A value as YAML that reads back to the same value (buf: TF_CONFIG_VALUE_MAX bytes hold any). */
#define TF_CONFIG_VALUE_MAX (4 * TF_PATH_MAX + 8)
void tf_config_format(const struct key *k, union value v, char *buf, size_t n);
/* A value as an error message shows it (strings quoted, escaped and cut). */
void tf_config_show(const struct key *k, union value v, char *buf, size_t n);
/* What key k accepts, e.g. "an integer in [1, 65536]". */
void tf_config_expected(const struct key *k, char *buf, size_t n);
/* The shortest decimal that reads back to the same double. */
void tf_config_shortest(double v, char *buf, size_t n);
/* Text from a file or the command line, quoted and escaped for a terminal, cut at max bytes;
 * tf_config_show_name does the same without the quotes. */
void tf_config_quote(const char *s, size_t len, size_t max, char *buf, size_t n);
void tf_config_show_name(const char *s, size_t len, size_t max, char *buf, size_t n);
#define TF_CONFIG_MAX_BYTES (1 << 20) /* a longer config file is refused, unread */
#define TF_CONFIG_MAX_DEPTH 64        /* deeper nesting is refused when the scan meets it */

/* A config file's text, read whole from f (file names it in messages): a malloc'd buffer of
 * *len bytes. TF_ECONFIG when it is longer than TF_CONFIG_MAX_BYTES (a regular file before
 * anything is read), TF_ENOINPUT when reading fails. */
int tf_config_read_text(FILE *f, const char *file, char **text, size_t *len, struct tf_error *err);

/* What one pass over the parse events of a config's text found: the offsets (start marks) of
 * the nodes with an explicit tag (!!str 64, !python/object), ascending. */
struct tf_config_scan {
  size_t *tagged;
  size_t n_tagged, cap;
};
/* Fills s from text (len bytes). TF_ECONFIG at the first node nested deeper than
 * TF_CONFIG_MAX_DEPTH; a syntax error ends the pass without an error (the loader reports it);
 * TF_ENOMEM. */
int tf_config_scan(const char *text, size_t len, const char *file, struct tf_config_scan *s,
                   struct tf_error *err);
/* 1 when the node of kind (yaml_node_type_t) starting at byte index carries an explicit tag. */
int tf_config_scan_tagged(const struct tf_config_scan *s, size_t index, int kind);
void tf_config_scan_free(struct tf_config_scan *s);

/* YAML's null as a plain scalar: nothing, ~, null, Null, NULL. */
int tf_config_is_null_text(const char *s);

#endif
