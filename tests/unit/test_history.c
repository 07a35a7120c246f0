/* test_history.c: history records (lib/history.c, tf_model_add_history): what one record
 * holds, a config's text stored once per distinct config, data files hashed. */
#include <check.h>
#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "suite.h"
#include "model_internal.h"
#include "sha256.h"

/* The history of m, parsed. */
static json_t *history_of(const struct tf_model *m) {
  json_t *h = json_loads(m->history, 0, NULL);
  ck_assert_msg(json_is_array(h), "%s", m->history);
  return h;
}

START_TEST(add_history_appends_exactly_what_it_is_given) {
  struct tf_model_config mc = tf_test_tiny_config();
  struct tf_model m;
  struct tf_error err = {0};
  ck_assert_int_eq(tf_model_create(&m, &mc, &err), TF_OK);
  ck_assert_int_eq(tf_model_add_history(&m, "x", "{\"a\":1}", &err), TF_OK);
  ck_assert_str_eq(m.history, "[{\"command\":\"x\",\"a\":1}]");
  ck_assert_int_eq(tf_model_add_history(&m, "x", "[1]", &err), TF_EDATA);
  tf_model_free(&m);
}
END_TEST

START_TEST(a_run_record_holds_the_provenance) {
  char path[TF_PATH_MAX - 1]; /* fits train.data */
  tf_test_tmp_path(path, sizeof path, "tf-history-XXXXXX");
  int fd = mkstemp(path);
  ck_assert_int_ge(fd, 0);
  ck_assert_int_eq(write(fd, "abc", 3), 3);
  close(fd);
  struct tf_config cfg;
  tf_config_default(&cfg);
  snprintf(cfg.train.data, sizeof cfg.train.data, "%s", path);
  snprintf(cfg.train.valid, sizeof cfg.train.valid, "-");
  struct tf_model_config mc = tf_test_tiny_config();
  struct tf_model m;
  struct tf_error err = {0};
  ck_assert_int_eq(tf_model_create(&m, &mc, &err), TF_OK);
  char *argv[] = {"tf-train", "-c", "c.yaml", NULL};
  static const char *const keys[] = {"train.data", "train.valid", NULL};
  struct tf_run run = {.command = "tf-train",
                       .argc = 3,
                       .argv = argv,
                       .cfg = &cfg,
                       .model = &m.cfg,
                       .config_file = "c.yaml",
                       .data_keys = keys,
                       .ranks = 2};
  setenv("SOURCE_DATE_EPOCH", "86400", 1);
  ck_assert_int_eq(tf_model_add_run(&m, &run, json_pack("{s:i}", "steps", 5), &err), TF_OK);
  ck_assert_int_eq(tf_model_add_run(&m, &run, NULL, &err), TF_OK);
  cfg.train.lr = 1e-3; /* another config: its text again */
  ck_assert_int_eq(tf_model_add_run(&m, &run, NULL, &err), TF_OK);
  unsetenv("SOURCE_DATE_EPOCH");
  unlink(path);
  json_t *h = history_of(&m), *r0 = json_array_get(h, 0), *r1 = json_array_get(h, 1),
         *r2 = json_array_get(h, 2);
  ck_assert_int_eq(json_array_size(h), 3);
  /* command first, then the command's own members, then the provenance */
  const char *first = json_object_iter_key(json_object_iter(r0));
  ck_assert_str_eq(first, "command");
  ck_assert_int_eq(json_integer_value(json_object_get(r0, "steps")), 5);
  ck_assert_str_eq(json_string_value(json_object_get(r0, "time")), "1970-01-02T00:00:00Z");
  ck_assert_str_eq(json_string_value(json_object_get(r0, "version")), TF_VERSION);
  ck_assert_str_eq(json_string_value(json_array_get(json_object_get(r0, "argv"), 2)), "c.yaml");
  ck_assert_int_eq(json_integer_value(json_object_get(r0, "ranks")), 2);
  ck_assert_int_ge(json_integer_value(json_object_get(r0, "threads")), 1);
  ck_assert_str_eq(json_string_value(json_object_get(r0, "config_file")), "c.yaml");
  /* the config's text once per distinct config; its model section is the model's */
  const char *text = json_string_value(json_object_get(r0, "config_text"));
  ck_assert_ptr_nonnull(text);
  ck_assert_ptr_nonnull(strstr(text, "d_model: 16 "));
  ck_assert_str_eq(json_string_value(json_object_get(r0, "config_sha256")),
                   json_string_value(json_object_get(r1, "config_sha256")));
  ck_assert_ptr_null(json_object_get(r1, "config_text"));
  ck_assert_ptr_nonnull(json_object_get(r2, "config_text"));
  ck_assert_str_ne(json_string_value(json_object_get(r0, "config_sha256")),
                   json_string_value(json_object_get(r2, "config_sha256")));
  /* a regular file: size and hash; stdin: its path only */
  json_t *d0 = json_array_get(json_object_get(r0, "data"), 0),
         *d1 = json_array_get(json_object_get(r0, "data"), 1);
  ck_assert_str_eq(json_string_value(json_object_get(d0, "key")), "train.data");
  ck_assert_int_eq(json_integer_value(json_object_get(d0, "bytes")), 3);
  ck_assert_str_eq(json_string_value(json_object_get(d0, "sha256_first_mib")),
                   "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  ck_assert_str_eq(json_string_value(json_object_get(d1, "path")), "-");
  ck_assert_ptr_null(json_object_get(d1, "bytes"));
  json_decref(h);
  tf_model_free(&m);
}
END_TEST

/* tf_sha256_fd hashes what the descriptor reads, up to the limit (0: all of it), and says how
 * much; "abc" is FIPS 180-2's first example. */
START_TEST(sha256_of_a_file_prefix) {
  char hex[TF_SHA256_HEX], whole[TF_SHA256_HEX];
  tf_sha256_hex("abc", 3, hex);
  ck_assert_str_eq(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  int fds[2];
  ck_assert_int_eq(pipe(fds), 0);
  ck_assert_int_eq(write(fds[1], "abcdefgh", 8), 8);
  close(fds[1]);
  uint64_t bytes = 0;
  ck_assert_int_eq(tf_sha256_fd(fds[0], 3, NULL, &bytes, whole), 0);
  ck_assert_int_eq(bytes, 3);
  ck_assert_str_eq(whole, hex);
  ck_assert_int_eq(tf_sha256_fd(fds[0], 0, NULL, &bytes, whole), 0); /* the rest: "defgh" */
  ck_assert_int_eq(bytes, 5);
  tf_sha256_hex("defgh", 5, hex);
  ck_assert_str_eq(whole, hex);
  close(fds[0]);
  ck_assert_int_eq(tf_sha256_fd(fds[0], 0, NULL, &bytes, whole), EBADF);
}
END_TEST

/* A hash on another thread, of a pipe whose writer stays open (so it never ends by itself). */
struct hash_job {
  int fd, rc;
  atomic_int stop;
  uint64_t bytes;
  char hex[TF_SHA256_HEX];
};

static void *hash_job_main(void *arg) {
  struct hash_job *j = arg;
  j->rc = tf_sha256_fd(j->fd, 0, &j->stop, &j->bytes, j->hex);
  return NULL;
}

/* tf_sha256_fd looks at its stop flag before each piece: set beforehand, nothing is read; set
 * while it waits on a pipe that never ends, it returns ECANCELED after the next piece. Without
 * the flag the hash would wait for the end of the pipe for ever (the test would time out). */
START_TEST(sha256_stops_when_asked) {
  static const char chunk[100] = "abc";
  int fds[2];
  ck_assert_int_eq(pipe(fds), 0);
  ck_assert_int_eq(write(fds[1], chunk, sizeof chunk), (int)sizeof chunk);
  struct hash_job j = {.fd = fds[0]};
  atomic_init(&j.stop, 1);
  hash_job_main(&j);
  ck_assert_int_eq(j.rc, ECANCELED);
  ck_assert_uint_eq(j.bytes, 0);
  atomic_store(&j.stop, 0);
  pthread_t t;
  ck_assert_int_eq(pthread_create(&t, NULL, hash_job_main, &j), 0);
  atomic_store(&j.stop, 1);
  ck_assert_int_eq(write(fds[1], chunk, sizeof chunk), (int)sizeof chunk); /* wakes a read */
  ck_assert_int_eq(pthread_join(t, NULL), 0);
  ck_assert_int_eq(j.rc, ECANCELED);
  ck_assert_uint_le(j.bytes, 2 * sizeof chunk);
  close(fds[0]);
  close(fds[1]);
}
END_TEST

int main(void) {
  Suite *s = suite_create("history");
  TCase *t = tcase_create("history");
  tcase_add_test(t, add_history_appends_exactly_what_it_is_given);
  tcase_add_test(t, sha256_stops_when_asked);
  tcase_add_test(t, a_run_record_holds_the_provenance);
  tcase_add_test(t, sha256_of_a_file_prefix);
  suite_add_tcase(s, t);
  return tf_test_run(s);
}
