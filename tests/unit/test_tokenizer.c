/* test_tokenizer.c: the tokenizer object (lib/tokenizer.c): the byte kind's encode and decode
 * round trip, ids it does not know, and files that cannot be read; the BPE kind on the
 * GPT-NeoX-20B tokenizer (data/) and on small hand-written files, their refusals, invalid
 * UTF-8, and several threads sharing one tokenizer. The ids expected were given by the Hugging
 * Face tokenizers library (test_tokenizer_fixtures.c compares whole fixture sets). */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "suite.h"
#include "tokenformer.h"

START_TEST(bytes_encode_is_one_id_per_byte_and_decodes_back) {
  struct tf_tokenizer *t;
  struct tf_error err = {0};
  ck_assert_int_eq(tf_tokenizer_bytes(&t, &err), TF_OK);
  ck_assert_int_eq(tf_tokenizer_kind(t), TF_TOK_BYTES);
  ck_assert_str_eq(tf_tokenizer_kind_name(t), "bytes");
  ck_assert_int_eq(tf_tokenizer_n_ids(t), 256);
  ck_assert_int_eq(tf_tokenizer_eos(t), -1);
  ck_assert_ptr_null(tf_tokenizer_json(t, NULL));
  const char text[] = "a\0\xff\x80 z"; /* any byte, invalid UTF-8 included */
  struct tf_ids ids = {0};
  ck_assert_int_eq(tf_tokenizer_encode(t, text, sizeof text - 1, 0, &ids, &err), TF_OK);
  ck_assert_uint_eq(ids.n, sizeof text - 1);
  ck_assert_int_eq(ids.v[0], 'a');
  ck_assert_int_eq(ids.v[2], 255);
  ck_assert_int_eq(ids.v[3], 128);
  char *back;
  size_t len;
  ck_assert_int_eq(tf_tokenizer_decode(t, ids.v, ids.n, 1, &back, &len, &err), TF_OK);
  ck_assert_uint_eq(len, sizeof text - 1);
  ck_assert_mem_eq(back, text, len);
  free(back);
  tf_ids_free(&ids);
  tf_tokenizer_free(t);
}
END_TEST

START_TEST(bytes_decode_refuses_ids_past_the_bytes) {
  struct tf_tokenizer *t;
  struct tf_error err = {0};
  ck_assert_int_eq(tf_tokenizer_bytes(&t, &err), TF_OK);
  size_t len;
  ck_assert_ptr_null(tf_tokenizer_token_bytes(t, 256, &len));
  ck_assert_ptr_null(tf_tokenizer_token_bytes(t, -1, &len));
  char *back = NULL;
  const int32_t ids[] = {'o', 'k', 300};
  ck_assert_int_eq(tf_tokenizer_decode(t, ids, 3, 0, &back, &len, &err), TF_EDATA);
  ck_assert_str_eq(err.msg, "token 2: id 300 is not one of the tokenizer's");
  ck_assert_ptr_null(back);
  tf_tokenizer_free(t);
}
END_TEST

START_TEST(load_names_a_missing_file) {
  struct tf_tokenizer *t;
  struct tf_error err = {0};
  ck_assert_int_eq(tf_tokenizer_load(&t, "/nonexistent/tokenizer.json", &err), TF_ENOINPUT);
  ck_assert_ptr_null(t);
  ck_assert_str_eq(err.msg, "/nonexistent/tokenizer.json: cannot open: No such file or directory");
}
END_TEST

#define NEOX "data/gpt-neox-20b-tokenizer.json"

static struct tf_tokenizer *neox(void) {
  struct tf_tokenizer *t;
  struct tf_error err = {0};
  if (tf_tokenizer_load(&t, NEOX, &err)) ck_abort_msg("%s", err.msg);
  return t;
}

/* Encodes text (n bytes) with flags and checks the ids against want[0..nw). */
static void expect_ids(const struct tf_tokenizer *t, const char *text, size_t n, unsigned flags,
                       const int32_t *want, size_t nw) {
  struct tf_ids ids = {0};
  struct tf_error err = {0};
  ck_assert_msg(tf_tokenizer_encode(t, text, n, flags, &ids, &err) == TF_OK, "%s", err.msg);
  ck_assert_uint_eq(ids.n, nw);
  for (size_t i = 0; i < nw; i++) ck_assert_int_eq(ids.v[i], want[i]);
  tf_ids_free(&ids);
}

START_TEST(neox_loads_with_its_added_tokens) {
  struct tf_tokenizer *t = neox();
  ck_assert_int_eq(tf_tokenizer_kind(t), TF_TOK_BPE);
  ck_assert_str_eq(tf_tokenizer_kind_name(t), "bpe");
  ck_assert_int_eq(tf_tokenizer_n_ids(t), 50277);
  ck_assert_int_eq(tf_tokenizer_eos(t), 0);
  ck_assert_uint_eq(strlen(tf_tokenizer_sha256(t)), 64);
  ck_assert(tf_tokenizer_is_special(t, 0) && tf_tokenizer_is_special(t, 1));
  ck_assert(!tf_tokenizer_is_special(t, 50254) && !tf_tokenizer_is_special(t, 66));
  size_t len;
  const uint8_t *b = tf_tokenizer_token_bytes(t, 50276, &len); /* the two-space added token */
  ck_assert_uint_eq(len, 2);
  ck_assert_mem_eq(b, "  ", 2);
  b = tf_tokenizer_token_bytes(t, 1533, &len); /* "Ġworld" */
  ck_assert_uint_eq(len, 6);
  ck_assert_mem_eq(b, " world", 6);
  ck_assert_ptr_null(tf_tokenizer_token_bytes(t, 50277, &len));
  struct tf_tokenizer *c;
  struct tf_error err = {0};
  ck_assert_int_eq(tf_tokenizer_copy(&c, t, &err), TF_OK);
  ck_assert_str_eq(tf_tokenizer_sha256(c), tf_tokenizer_sha256(t));
  tf_tokenizer_free(c);
  tf_tokenizer_free(t);
}
END_TEST

START_TEST(neox_splits_added_tokens_before_the_pattern) {
  struct tf_tokenizer *t = neox();
  const char text[] = "a  In<|endoftext|>hello 'S world\xe2\x80\x99s  x";
  const int32_t want[] = {66, 50276, 688, 0, 25521, 686, 52, 1533, 457, 84, 50276, 89};
  expect_ids(t, text, sizeof text - 1, 0, want, sizeof want / sizeof *want);
  struct tf_ids ids = {0};
  struct tf_error err = {0};
  ck_assert_int_eq(tf_tokenizer_encode(t, text, sizeof text - 1, 0, &ids, &err), TF_OK);
  char *back;
  size_t len;
  ck_assert_int_eq(tf_tokenizer_decode(t, ids.v, ids.n, 0, &back, &len, &err), TF_OK);
  ck_assert_str_eq(back, text);
  free(back);
  ck_assert_int_eq(tf_tokenizer_decode(t, ids.v, ids.n, 1, &back, &len, &err), TF_OK);
  ck_assert_str_eq(back, "a  Inhello 'S world\xe2\x80\x99s  x");
  free(back);
  tf_ids_free(&ids);
  tf_tokenizer_free(t);
}
END_TEST

START_TEST(neox_invalid_utf8_is_refused_or_replaced) {
  struct tf_tokenizer *t = neox();
  struct tf_ids ids = {0};
  struct tf_error err = {0};
  const char bad[] = "ok \xe2\x82 then \xff";
  ids.n = 0;
  ck_assert_int_eq(tf_tokenizer_encode(t, bad, sizeof bad - 1, 0, &ids, &err), TF_EDATA);
  ck_assert_str_eq(err.msg, "invalid UTF-8 at byte 3");
  ck_assert_uint_eq(ids.n, 0);
  ck_assert_int_eq(tf_tokenizer_encode(t, bad, sizeof bad - 1, TF_TOK_REPLACE_INVALID, &ids, &err),
                   TF_OK);
  char *back;
  size_t len;
  ck_assert_int_eq(tf_tokenizer_decode(t, ids.v, ids.n, 0, &back, &len, &err), TF_OK);
  ck_assert_str_eq(back, "ok \xef\xbf\xbd then \xef\xbf\xbd"); /* E2 82 is one maximal subpart */
  free(back);
  tf_ids_free(&ids);
  tf_tokenizer_free(t);
}
END_TEST

static void *encode_in_thread(void *t) {
  const int32_t want[] = {66, 50276, 688, 0};
  expect_ids(t, "a  In<|endoftext|>", 18, 0, want, 4);
  return NULL;
}

START_TEST(threads_that_end_release_their_caches) {
  struct tf_tokenizer *t = neox();
  for (int i = 0; i < 4; i++) { /* each thread's cache is made, then freed as it ends */
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, encode_in_thread, t), 0);
    ck_assert_int_eq(pthread_join(th, NULL), 0);
  }
  encode_in_thread(t); /* this thread's, freed with the tokenizer */
  tf_tokenizer_free(t);
}
END_TEST

/* A small hand-written tokenizer.json: vocab, merges, an added token (tests/fixtures/tokenizer/
 * small.json, checked against the library, has merges as pairs). */
static const char small_json[] =
    "{\"version\":\"1.0\",\"truncation\":null,\"padding\":null,"
    "\"added_tokens\":[{\"id\":7,\"content\":\"<|endoftext|>\",\"special\":true,"
    "\"normalized\":false,\"lstrip\":false,\"rstrip\":false,\"single_word\":false}],"
    "\"normalizer\":{\"type\":\"NFC\"},"
    "\"pre_tokenizer\":{\"type\":\"ByteLevel\",\"add_prefix_space\":false,\"trim_offsets\":true,"
    "\"use_regex\":true},"
    "\"post_processor\":null,\"decoder\":{\"type\":\"ByteLevel\"},"
    "\"model\":{\"type\":\"BPE\",\"dropout\":null,\"unk_token\":null,"
    "\"vocab\":{\"a\":0,\"b\":1,\"ab\":2,\"\\u0120\":3,\"\\u0120ab\":4,\"c\":5,\"abc\":6},"
    "\"merges\":[\"a b\",\"\\u0120 ab\",\"ab c\"]}}";

START_TEST(small_tokenizer_merges_by_rank) {
  struct tf_tokenizer *t;
  struct tf_error err = {0};
  ck_assert_msg(tf_tokenizer_from_json(&t, small_json, sizeof small_json - 1, "small", &err) ==
                    TF_OK,
                "%s", err.msg);
  ck_assert_int_eq(tf_tokenizer_n_ids(t), 8);
  ck_assert_int_eq(tf_tokenizer_eos(t), 7);
  /* "ab ab abc": ab, Ġab, Ġab+c has no merge; bytes without a token (d) are dropped */
  const int32_t want[] = {2, 4, 4, 5, 7, 6};
  const char text[] = "ab ab abc<|endoftext|>abcd";
  expect_ids(t, text, sizeof text - 1, 0, want, 6);
  tf_tokenizer_free(t);
}
END_TEST

/* small_json with `from` replaced by `to`: the refusal message of the result. */
static void expect_refusal(const char *from, const char *to, const char *msg) {
  char json[2048];
  const char *at = strstr(small_json, from);
  ck_assert_ptr_nonnull(at);
  snprintf(json, sizeof json, "%.*s%s%s", (int)(at - small_json), small_json, to,
           at + strlen(from));
  struct tf_tokenizer *t = (void *)1;
  struct tf_error err = {0};
  ck_assert_int_eq(tf_tokenizer_from_json(&t, json, strlen(json), "x.json", &err), TF_EDATA);
  ck_assert_ptr_null(t);
  ck_assert_str_eq(err.msg, msg);
}

START_TEST(bpe_refusals_name_the_feature) {
  struct tf_tokenizer *t = (void *)1;
  struct tf_error err = {0};
  ck_assert_int_eq(tf_tokenizer_from_json(&t, small_json, 100, "x.json", &err), TF_EDATA);
  ck_assert_ptr_null(t);
  ck_assert_str_eq(err.msg, "x.json: line 1 column 100: string or '}' expected near end of file");
  expect_refusal("\"BPE\"", "\"WordPiece\"", "x.json: model type WordPiece is not supported");
  expect_refusal("\"ab c\"", "\"ab q\"", "x.json: merge 2 names the unknown token \"q\"");
  expect_refusal("\"ab c\"", "[\"ab\",\"c\"]",
                 "x.json: model: merges mix \"a b\" strings and [a, b] pairs");
  expect_refusal("\"c\":5", "\"c\":4",
                 "x.json: duplicate id 4 (tokens \"\xc4\xa0"
                 "ab\" and \"c\")");
  expect_refusal("{\"type\":\"NFC\"}", "{\"type\":\"NFKC\"}",
                 "x.json: normalizer NFKC is not supported");
  expect_refusal("\"truncation\":null", "\"truncation\":{\"max_length\":5}",
                 "x.json: truncation is not supported");
  expect_refusal("\"dropout\":null", "\"dropout\":0.1",
                 "x.json: model BPE: dropout is not supported");
  expect_refusal("\"lstrip\":false", "\"lstrip\":true",
                 "x.json: added token \"<|endoftext|>\": lstrip is not supported");
  expect_refusal("{\"type\":\"ByteLevel\"}", "{\"type\":\"WordPiece\"}",
                 "x.json: decoder WordPiece is not supported");
  expect_refusal("\"ByteLevel\",\"add_prefix_space\"", "\"Whitespace\",\"add_prefix_space\"",
                 "x.json: pre_tokenizer Whitespace is not supported");
  expect_refusal("\"id\":7", "\"id\":9",
                 "x.json: added token \"<|endoftext|>\": id 9 where the Hugging Face library "
                 "gives 7");
}
END_TEST

int main(void) {
  Suite *s = suite_create("tokenizer");
  TCase *tc = tcase_create("tokenizer");
  tcase_add_test(tc, bytes_encode_is_one_id_per_byte_and_decodes_back);
  tcase_add_test(tc, bytes_decode_refuses_ids_past_the_bytes);
  tcase_add_test(tc, load_names_a_missing_file);
  tcase_add_test(tc, neox_loads_with_its_added_tokens);
  tcase_add_test(tc, neox_splits_added_tokens_before_the_pattern);
  tcase_add_test(tc, neox_invalid_utf8_is_refused_or_replaced);
  tcase_add_test(tc, threads_that_end_release_their_caches);
  tcase_add_test(tc, small_tokenizer_merges_by_rank);
  tcase_add_test(tc, bpe_refusals_name_the_feature);
  suite_add_tcase(s, tc);
  return tf_test_run(s);
}
