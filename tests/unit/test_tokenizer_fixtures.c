/* test_tokenizer_fixtures.c: the BPE kind against the Hugging Face tokenizers library, token
 * for token, on the fixture sets tests/reference/tokenizer_fixtures.js wrote into
 * tests/fixtures/tokenizer/ (`make fixtures`): the GPT-NeoX-20B tokenizer of data/ on every
 * trap, byte, added token, whitespace-only text, KJV passages, multilingual snippets and random
 * Unicode; the same file with add_prefix_space true, and without its NFC normalizer; a small
 * hand-written file, also with use_regex false. On the NeoX set decode(encode(x)) must also give
 * NFC(x) (utf8proc), and two threads encoding with one tokenizer must agree with the fixtures too.
 */
#include <jansson.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "suite.h"
#include "tokenformer.h"

#define NEOX "data/gpt-neox-20b-tokenizer.json"

/* One fixture case. */
struct fcase {
  char name[80];
  uint8_t *text; /* the bytes encoded */
  size_t n;
  int replace; /* 1: given as hex (invalid UTF-8): encoded with TF_TOK_REPLACE_INVALID */
  int32_t *ids;
  size_t n_ids;
};

struct fset {
  struct fcase *c;
  size_t n;
};

static void path_of(char *path, size_t size, const char *file) {
  const char *dir = getenv("TF_FIXTURES");
  snprintf(path, size, "%s/tokenizer/%s", dir ? dir : "tests/fixtures", file);
}

static void hex_bytes(struct fcase *c, const char *hex) {
  c->n = strlen(hex) / 2;
  c->text = malloc(c->n + 1);
  for (size_t i = 0; i < c->n; i++) {
    unsigned v;
    sscanf(hex + 2 * i, "%2x", &v);
    c->text[i] = (uint8_t)v;
  }
  c->replace = 1;
}

static void read_case(struct fcase *c, json_t *o) {
  memset(c, 0, sizeof *c);
  snprintf(c->name, sizeof c->name, "%s", json_string_value(json_object_get(o, "name")));
  json_t *text = json_object_get(o, "text"), *ids = json_object_get(o, "ids");
  if (text) {
    c->n = json_string_length(text);
    c->text = malloc(c->n + 1);
    memcpy(c->text, json_string_value(text), c->n);
  } else {
    hex_bytes(c, json_string_value(json_object_get(o, "hex")));
  }
  c->n_ids = json_array_size(ids);
  c->ids = malloc((c->n_ids + 1) * sizeof *c->ids);
  for (size_t i = 0; i < c->n_ids; i++)
    c->ids[i] = (int32_t)json_integer_value(json_array_get(ids, i));
}

static struct fset read_set(const char *file) {
  char path[512];
  path_of(path, sizeof path, file);
  FILE *f = fopen(path, "r");
  ck_assert_msg(f != NULL, "cannot open %s", path);
  struct fset s = {0};
  size_t cap = 0;
  char *buf = NULL;
  size_t bcap = 0;
  ssize_t len;
  while ((len = getline(&buf, &bcap, f)) > 0) {
    json_error_t jerr;
    json_t *o = json_loadb(buf, (size_t)len, JSON_ALLOW_NUL, &jerr);
    ck_assert_msg(o != NULL, "%s: %s", path, jerr.text);
    if (s.n == cap) s.c = realloc(s.c, (cap = cap * 2 + 64) * sizeof *s.c);
    read_case(&s.c[s.n++], o);
    json_decref(o);
  }
  free(buf);
  fclose(f);
  ck_assert_uint_gt(s.n, 0);
  return s;
}

static void free_set(struct fset *s) {
  for (size_t i = 0; i < s->n; i++) {
    free(s->c[i].text);
    free(s->c[i].ids);
  }
  free(s->c);
}

/* Encodes case c: 0 when the ids equal the fixture's, else 1 with a message in why. */
static int check_case(const struct tf_tokenizer *t, const struct fcase *c, char *why, size_t size) {
  struct tf_ids ids = {0};
  struct tf_error err = {0};
  int bad = 0;
  if (tf_tokenizer_encode(t, (const char *)c->text, c->n, c->replace ? TF_TOK_REPLACE_INVALID : 0,
                          &ids, &err)) {
    snprintf(why, size, "%s: %.400s", c->name, err.msg);
    return 1;
  }
  size_t i = 0;
  while (i < ids.n && i < c->n_ids && ids.v[i] == c->ids[i]) i++;
  if (i < ids.n || i < c->n_ids) {
    snprintf(why, size, "%s: token %zu of %zu (library %zu): %d where the library gives %d",
             c->name, i, ids.n, c->n_ids, i < ids.n ? ids.v[i] : -1, i < c->n_ids ? c->ids[i] : -1);
    bad = 1;
  }
  tf_ids_free(&ids);
  return bad;
}

static void check_set(const struct tf_tokenizer *t, const char *file) {
  struct fset s = read_set(file);
  char why[512];
  for (size_t i = 0; i < s.n; i++)
    if (check_case(t, &s.c[i], why, sizeof why)) ck_abort_msg("%s: %s", file, why);
  free_set(&s);
}

static struct tf_tokenizer *load(const char *path) {
  struct tf_tokenizer *t;
  struct tf_error err = {0};
  if (tf_tokenizer_load(&t, path, &err)) ck_abort_msg("%s", err.msg);
  return t;
}

START_TEST(neox_ids_equal_the_library) {
  struct tf_tokenizer *t = load(NEOX);
  check_set(t, "neox.jsonl");
  tf_tokenizer_free(t);
}
END_TEST

START_TEST(neox_decode_gives_nfc_text) {
  struct tf_tokenizer *t = load(NEOX);
  struct fset s = read_set("neox.jsonl");
  struct tf_error err = {0};
  for (size_t i = 0; i < s.n; i++) {
    struct fcase *c = &s.c[i];
    if (c->replace) continue;
    uint8_t *nfc = NULL;
    utf8proc_ssize_t m =
        utf8proc_map(c->text, (utf8proc_ssize_t)c->n, &nfc, UTF8PROC_STABLE | UTF8PROC_COMPOSE);
    ck_assert_int_ge(m, 0);
    char *back;
    size_t len;
    ck_assert_int_eq(tf_tokenizer_decode(t, c->ids, c->n_ids, 0, &back, &len, &err), TF_OK);
    ck_assert_msg(len == (size_t)m && memcmp(back, nfc, len) == 0, "%s: decode is not NFC(text)",
                  c->name);
    free(back);
    free(nfc);
  }
  free_set(&s);
  tf_tokenizer_free(t);
}
END_TEST

/* The tokenizer of file with `from` replaced by `to` (every occurrence, or the first only when
 * !all, as the fixture script does), checked against the fixture set `set`. */
static void check_variant(const char *file, const char *from, const char *to, int all,
                          const char *set) {
  struct tf_tokenizer *t = load(file);
  size_t n, nf = strlen(from), nt = strlen(to), k = 0; /* k: replacements made */
  const char *json = tf_tokenizer_json(t, &n);
  char *v = malloc(2 * n + 1), *p = v; /* to is never twice as long as from */
  for (const char *s = json, *at; *s; s = at + nf) {
    at = k && !all ? NULL : strstr(s, from);
    if (!at) {
      p = stpcpy(p, s);
      break;
    }
    memcpy(p, s, (size_t)(at - s));
    memcpy(p + (at - s), to, nt);
    p += (at - s) + nt;
    k++;
  }
  ck_assert_uint_gt(k, 0);
  struct tf_tokenizer *u;
  struct tf_error err = {0};
  ck_assert_msg(tf_tokenizer_from_json(&u, v, (size_t)(p - v), "variant", &err) == TF_OK, "%s",
                err.msg);
  check_set(u, set);
  free(v);
  tf_tokenizer_free(u);
  tf_tokenizer_free(t);
}

START_TEST(neox_prefix_space_ids_equal_the_library) {
  check_variant(NEOX, "\"add_prefix_space\": false", "\"add_prefix_space\": true", 1,
                "neox_prefix.jsonl");
}
END_TEST

START_TEST(neox_without_nfc_ids_equal_the_library) {
  check_variant(NEOX, "\"normalizer\": {\n    \"type\": \"NFC\"\n  }", "\"normalizer\": null", 0,
                "neox_nonfc.jsonl");
}
END_TEST

START_TEST(small_ids_equal_the_library) {
  char path[512];
  path_of(path, sizeof path, "small.json");
  struct tf_tokenizer *t = load(path);
  check_set(t, "small.jsonl");
  tf_tokenizer_free(t);
}
END_TEST

START_TEST(small_without_the_pattern_equals_the_library) {
  char path[512];
  path_of(path, sizeof path, "small.json");
  /* the first "use_regex" is the pre-tokenizer's */
  check_variant(path, "\"use_regex\": true", "\"use_regex\": false", 0, "small_noregex.jsonl");
}
END_TEST

START_TEST(two_threads_share_one_tokenizer) {
  struct tf_tokenizer *t = load(NEOX);
  struct fset s = read_set("neox.jsonl");
  int bad = 0;
  char why[512] = "";
#pragma omp parallel for schedule(dynamic, 1) num_threads(2) reduction(+ : bad)
  for (size_t r = 0; r < 2 * s.n; r++) { /* every case twice: second time from the caches */
    char w[512];
    if (check_case(t, &s.c[r % s.n], w, sizeof w)) {
      bad++;
#pragma omp critical
      snprintf(why, sizeof why, "%s", w);
    }
  }
  ck_assert_msg(bad == 0, "%d cases differ, e.g. %s", bad, why);
  free_set(&s);
  tf_tokenizer_free(t);
}
END_TEST

int main(void) {
  Suite *s = suite_create("tokenizer_fixtures");
  TCase *tc = tcase_create("tokenizer_fixtures");
  tcase_add_test(tc, neox_ids_equal_the_library);
  tcase_add_test(tc, neox_decode_gives_nfc_text);
  tcase_add_test(tc, neox_prefix_space_ids_equal_the_library);
  tcase_add_test(tc, neox_without_nfc_ids_equal_the_library);
  tcase_add_test(tc, small_ids_equal_the_library);
  tcase_add_test(tc, small_without_the_pattern_equals_the_library);
  tcase_add_test(tc, two_threads_share_one_tokenizer);
  suite_add_tcase(s, tc);
  return tf_test_run(s);
}
