/* history.c: the provenance of a run, as one record of a checkpoint's history and as the
 * run-start record of tf-train's log (docs/checkpoint.md §3, tf-train(1)): the command
 * line, the time, the version, the effective config, the data files, ranks and threads. */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "tokenformer.h"
#include "model_internal.h"
#include "sha256.h"

#define HASH_BYTES (1 << 20) /* a data file's hash covers its first MiB */

/* {"key", "path", "bytes", "sha256_first_mib"}: size and hash of a regular file only (a pipe
 * or stdin would be consumed by reading it; a directory has no bytes of its own). */
static json_t *data_json(const char *key, const char *path) {
  json_t *j = json_pack("{s:s, s:s}", "key", key, "path", path);
  struct stat st;
  int fd = strcmp(path, "-") != 0 ? open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK) : -1;
  if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    if (fd >= 0) close(fd);
    return j;
  }
  uint64_t want = (uint64_t)st.st_size < HASH_BYTES ? (uint64_t)st.st_size : HASH_BYTES, got;
  char hex[TF_SHA256_HEX];
  int bad = tf_sha256_fd(fd, HASH_BYTES, NULL, &got, hex);
  close(fd);
  json_object_set_new(j, "bytes", json_integer((json_int_t)st.st_size));
  if (!bad && got == want) json_object_set_new(j, "sha256_first_mib", json_string(hex));
  return j;
}

/* The effective config as YAML (tf_config_print), malloc'd; NULL when out of memory. */
static char *config_text(const struct tf_config *cfg) {
  char *text = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&text, &len);
  if (!f) return NULL;
  int bad = tf_config_print(cfg, f) != TF_OK;
  if (fclose(f) != 0 || bad) {
    free(text);
    return NULL;
  }
  return text;
}

/* 1 when a record of history (a JSON array, may be NULL) already holds the text of the config
 * whose hash is sha. */
static int config_known(const json_t *history, const char *sha) {
  size_t i;
  json_t *rec;
  json_array_foreach(history, i, rec) {
    const char *s = json_string_value(json_object_get(rec, "config_sha256"));
    if (s && !strcmp(s, sha) && json_is_string(json_object_get(rec, "config_text"))) return 1;
  }
  return 0;
}

/* The value of path key ("train.data", "train.valid", "init.tokenizer"), NULL for others. */
static const char *path_of(const struct tf_config *cfg, const char *key) {
  if (!strcmp(key, "train.data")) return cfg->train.data;
  if (!strcmp(key, "train.valid")) return cfg->train.valid;
  return !strcmp(key, "init.tokenizer") ? cfg->init.tokenizer : NULL;
}

json_t *tf_run_json(const struct tf_run *run, const json_t *history) {
  char now[32], sha[TF_SHA256_HEX], *end;
  /* SOURCE_DATE_EPOCH (seconds), the reproducible-builds convention, stands for now */
  const char *epoch = getenv("SOURCE_DATE_EPOCH");
  long long e = epoch && *epoch ? strtoll(epoch, &end, 10) : -1;
  time_t t = e >= 0 && !*end ? (time_t)e : time(NULL);
  strftime(now, sizeof now, "%Y-%m-%dT%H:%M:%SZ", gmtime(&t));
  json_t *j = json_pack("{s:s, s:s, s:[]}", "time", now, "version", TF_VERSION, "argv");
  if (!j) return NULL;
  for (int i = 0; i < run->argc; i++)
    json_array_append_new(json_object_get(j, "argv"), json_string(run->argv[i]));
  json_object_set_new(j, "ranks", json_integer(run->ranks > 0 ? run->ranks : 1));
  json_object_set_new(j, "threads", json_integer(omp_get_max_threads()));
  if (run->config_file) json_object_set_new(j, "config_file", json_string(run->config_file));
  char *text = NULL;
  if (run->cfg) {
    struct tf_config *cfg = malloc(sizeof *cfg);
    if (cfg) {
      *cfg = *run->cfg;
      if (run->model) cfg->model = *run->model;
      text = config_text(cfg);
    }
    free(cfg);
  }
  if (text) {
    tf_sha256_hex(text, strlen(text), sha);
    json_object_set_new(j, "config_sha256", json_string(sha));
    if (!config_known(history, sha)) json_object_set_new(j, "config_text", json_string(text));
  }
  free(text);
  json_t *data = json_array();
  for (int i = 0; run->cfg && run->data_keys && run->data_keys[i]; i++) {
    const char *key = run->data_keys[i], *path = path_of(run->cfg, key);
    if (path && path[0] && strcmp(path, "bytes") != 0)
      json_array_append_new(data, data_json(key, path));
  }
  json_object_set_new(j, "data", data);
  return j;
}

int tf_model_add_run(struct tf_model *m, const struct tf_run *run, json_t *extra,
                     struct tf_error *err) {
  json_error_t je;
  json_t *history = json_loads(m->history ? m->history : "[]", 0, &je);
  json_t *rec = json_pack("{s:s}", "command", run->command);
  int rc = TF_OK;
  if (!json_is_array(history)) {
    rc = tf_error_set(err, TF_EDATA, "history: not a JSON array: %s", je.text);
    goto out;
  }
  json_t *prov = tf_run_json(run, history);
  if (!rec || !prov) {
    json_decref(prov);
    rc = tf_error_set(err, TF_ENOMEM, "out of memory writing the history");
    goto out;
  }
  if (extra) json_object_update(rec, extra);
  json_object_update(rec, prov);
  json_decref(prov);
  char *text = json_dumps(rec, JSON_COMPACT | JSON_PRESERVE_ORDER);
  rc = text ? tf_model_add_history(m, run->command, text, err)
            : tf_error_set(err, TF_ENOMEM, "out of memory writing the history");
  free(text);
out:
  json_decref(history);
  json_decref(rec);
  json_decref(extra);
  return rc;
}
