/* config_scan.c: a YAML config's text before config.c loads it: read whole (at most
 * TF_CONFIG_MAX_BYTES), then one pass over its parse events that refuses nesting deeper than
 * TF_CONFIG_MAX_DEPTH as soon as it is met and records which nodes carry an explicit tag
 * (config.c checks those against the keys they set). The pass is linear in the text, and the
 * document loader, whose time grows with the square of the nesting depth, runs only on what
 * passed it. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <yaml.h>

#include "config_internal.h"

static int too_big(const char *file, struct tf_error *err) {
  return tf_error_set(err, TF_ECONFIG, "%s: more than %d bytes; a config is at most 1 MiB", file,
                      TF_CONFIG_MAX_BYTES);
}

int tf_config_read_text(FILE *f, const char *file, char **text, size_t *len, struct tf_error *err) {
  struct stat st;
  if (fstat(fileno(f), &st) == 0 && S_ISREG(st.st_mode) && st.st_size > TF_CONFIG_MAX_BYTES)
    return too_big(file, err); /* at once, without reading it */
  size_t cap = 4096, n = 0;
  char *buf = malloc(cap);
  while (buf && n <= TF_CONFIG_MAX_BYTES) {
    n += fread(buf + n, 1, cap - n, f);
    if (n < cap) break;
    char *grown = realloc(buf, cap *= 2);
    if (!grown) free(buf);
    buf = grown;
  }
  if (!buf) return tf_error_set(err, TF_ENOMEM, "%s: out of memory reading the config", file);
  if (n > TF_CONFIG_MAX_BYTES) {
    free(buf);
    return too_big(file, err);
  }
  if (ferror(f)) {
    free(buf);
    return tf_error_set(err, TF_ENOINPUT, "%s: cannot read: %s", file,
                        strerror(errno ? errno : EIO));
  }
  *text = buf;
  *len = n;
  return TF_OK;
}

/* The explicit tag of event e (NULL when it has none). */
static const char *event_tag(const yaml_event_t *e) {
  if (e->type == YAML_SCALAR_EVENT) return (const char *)e->data.scalar.tag;
  if (e->type == YAML_SEQUENCE_START_EVENT) return (const char *)e->data.sequence_start.tag;
  if (e->type == YAML_MAPPING_START_EVENT) return (const char *)e->data.mapping_start.tag;
  return NULL;
}

/* A node is known by where it starts and its kind: a block mapping starts where its first key
 * does. */
static size_t node_id(size_t index, int kind) {
  return index * 4 + (size_t)kind;
}

static int cmp_size(const void *a, const void *b) {
  size_t x = *(const size_t *)a, y = *(const size_t *)b;
  return (x > y) - (x < y);
}

static int add_tagged(struct tf_config_scan *s, size_t id) {
  if (s->n_tagged == s->cap) {
    size_t cap = s->cap ? 2 * s->cap : 16;
    size_t *grown = realloc(s->tagged, cap * sizeof *grown);
    if (!grown) return -1;
    s->tagged = grown;
    s->cap = cap;
  }
  s->tagged[s->n_tagged++] = id;
  return 0;
}

int tf_config_scan(const char *text, size_t len, const char *file, struct tf_config_scan *s,
                   struct tf_error *err) {
  yaml_parser_t p;
  yaml_event_t e;
  memset(s, 0, sizeof *s);
  if (!yaml_parser_initialize(&p))
    return tf_error_set(err, TF_ENOMEM, "%s: out of memory reading YAML", file);
  yaml_parser_set_input_string(&p, (const unsigned char *)text, len);
  int rc = TF_OK, done = 0, depth = 0;
  /* a syntax error ends the pass quietly: the loader reports it, with its place */
  while (!rc && !done && yaml_parser_parse(&p, &e)) {
    done = e.type == YAML_STREAM_END_EVENT;
    depth += e.type == YAML_SEQUENCE_START_EVENT || e.type == YAML_MAPPING_START_EVENT;
    depth -= e.type == YAML_SEQUENCE_END_EVENT || e.type == YAML_MAPPING_END_EVENT;
    if (depth > TF_CONFIG_MAX_DEPTH)
      rc = tf_error_set(err, TF_ECONFIG,
                        "%s:%zu:%zu: nested more than %d levels deep; a config has 2 (sections, "
                        "keys)",
                        file, e.start_mark.line + 1, e.start_mark.column + 1, TF_CONFIG_MAX_DEPTH);
    int kind = e.type == YAML_SCALAR_EVENT           ? YAML_SCALAR_NODE
               : e.type == YAML_SEQUENCE_START_EVENT ? YAML_SEQUENCE_NODE
                                                     : YAML_MAPPING_NODE;
    if (!rc && event_tag(&e) && add_tagged(s, node_id(e.start_mark.index, kind)))
      rc = tf_error_set(err, TF_ENOMEM, "%s: out of memory reading YAML", file);
    yaml_event_delete(&e);
  }
  yaml_parser_delete(&p);
  /* events come in text order, but at one index a mapping's comes before its first key's */
  if (s->n_tagged) qsort(s->tagged, s->n_tagged, sizeof *s->tagged, cmp_size);
  return rc;
}

int tf_config_scan_tagged(const struct tf_config_scan *s, size_t index, int kind) {
  size_t lo = 0, hi = s->n_tagged, id = node_id(index, kind); /* tagged is sorted */
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (s->tagged[mid] == id) return 1;
    if (s->tagged[mid] < id)
      lo = mid + 1;
    else
      hi = mid;
  }
  return 0;
}

void tf_config_scan_free(struct tf_config_scan *s) {
  free(s->tagged);
  memset(s, 0, sizeof *s);
}
