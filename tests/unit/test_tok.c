/* test_tok.c: the byte tokenizer (lib/tok.c): the context a text gives (its last bytes, "\n"
 * for an empty one, bytes above 127 as ids 128-255), and the models it can feed. */
#include <stdlib.h>
#include <string.h>

#include "suite.h"
#include "tokenformer.h"

/* The context of text (n bytes) cut to max, checked against the ids want (len of them). */
static void context_is(const char *text, size_t n, int max, const int32_t *want, int len) {
  int got_len = -1;
  int32_t *got = tf_tok_bytes_context((const uint8_t *)text, n, max, &got_len);
  ck_assert_ptr_nonnull(got);
  ck_assert_int_eq(got_len, len);
  ck_assert_mem_eq(got, want, (size_t)len * sizeof *want);
  free(got);
}

START_TEST(context_is_the_last_bytes_or_a_newline) {
  context_is("", 0, 8, (const int32_t[]){'\n'}, 1);
  context_is("", 0, 0, (const int32_t[]){'\n'}, 1);
  context_is("abc", 3, 8, (const int32_t[]){'a', 'b', 'c'}, 3);
  context_is("abcdef", 6, 4, (const int32_t[]){'c', 'd', 'e', 'f'}, 4);
  context_is("abcdef", 6, 6, (const int32_t[]){'a', 'b', 'c', 'd', 'e', 'f'}, 6);
  context_is("abcdef", 6, 0, (const int32_t[]){'a', 'b', 'c', 'd', 'e', 'f'}, 6); /* no cut */
  context_is("a\0\xff\x80", 4, 3, (const int32_t[]){0, 255, 128}, 3); /* any byte, unsigned */
}
END_TEST

START_TEST(byte_models_need_every_byte_id) {
  struct tf_model m;
  struct tf_error err = {0};
  struct tf_model_config c = tf_test_tiny_config();
  c.vocab_size = TF_BYTE_TOKENS;
  ck_assert_int_eq(tf_model_create(&m, &c, &err), TF_OK);
  ck_assert_int_eq(tf_tok_bytes_check(&m, &err), TF_OK);
  tf_model_free(&m);
  c.vocab_size = 100;
  ck_assert_int_eq(tf_model_create(&m, &c, &err), TF_OK);
  ck_assert_int_eq(tf_tok_bytes_check(&m, &err), TF_EDATA);
  ck_assert_str_eq(err.msg, "vocab_size 100: byte tokens need at least 256 ids");
  tf_model_free(&m);
}
END_TEST

START_TEST(utf8_complete_holds_back_only_an_unfinished_character) {
  const uint8_t euro[] = {0xe2, 0x82, 0xac}, smile[] = {0xf0, 0x9f, 0x98, 0x80};
  ck_assert_uint_eq(tf_utf8_complete((const uint8_t *)"abc", 3), 3);
  ck_assert_uint_eq(tf_utf8_complete(euro, 3), 3);
  ck_assert_uint_eq(tf_utf8_complete(euro, 2), 0);
  ck_assert_uint_eq(tf_utf8_complete(euro, 1), 0);
  ck_assert_uint_eq(tf_utf8_complete(smile, 3), 0);
  ck_assert_uint_eq(tf_utf8_complete(smile, 4), 4);
  const uint8_t tail[] = {'a', 0xc3}; /* "a" then the first byte of a two-byte character */
  ck_assert_uint_eq(tf_utf8_complete(tail, 2), 1);
  const uint8_t stray[] = {'a', 0x80, 0x80}; /* continuation bytes with no lead: not held */
  ck_assert_uint_eq(tf_utf8_complete(stray, 3), 3);
  const uint8_t bad_lead[] = {'a', 0xff}; /* never UTF-8: not held */
  ck_assert_uint_eq(tf_utf8_complete(bad_lead, 2), 2);
  const uint8_t five[] = {0xf0, 0x80, 0x80, 0x80, 0x80}; /* four continuations: not held */
  ck_assert_uint_eq(tf_utf8_complete(five, 5), 5);
  ck_assert_uint_eq(tf_utf8_complete(NULL, 0), 0);
}
END_TEST

START_TEST(byte_model_context_is_the_byte_context) {
  struct tf_model m;
  struct tf_error err = {0};
  struct tf_model_config c = tf_test_tiny_config();
  c.vocab_size = TF_BYTE_TOKENS; /* seq_len 8 */
  ck_assert_int_eq(tf_model_create(&m, &c, &err), TF_OK);
  struct tf_ids ids;
  ck_assert_int_eq(tf_tok_context(&m, "In the beginning", 16, &ids, &err), TF_OK);
  ck_assert_uint_eq(ids.n, 8);
  ck_assert_int_eq(ids.v[0], 'e'); /* the last 8 bytes: "eginning" */
  tf_ids_free(&ids);
  ck_assert_int_eq(tf_tok_context(&m, "", 0, &ids, &err), TF_OK);
  ck_assert_uint_eq(ids.n, 1);
  ck_assert_int_eq(ids.v[0], '\n');
  tf_ids_free(&ids);
  tf_model_free(&m);
  c.vocab_size = 100;
  ck_assert_int_eq(tf_model_create(&m, &c, &err), TF_OK);
  ck_assert_int_eq(tf_tok_context(&m, "x", 1, &ids, &err), TF_EDATA);
  ck_assert_ptr_null(ids.v);
  tf_model_free(&m);
}
END_TEST

int main(void) {
  Suite *s = suite_create("tok");
  TCase *tc = tcase_create("tok");
  tcase_add_test(tc, context_is_the_last_bytes_or_a_newline);
  tcase_add_test(tc, byte_models_need_every_byte_id);
  tcase_add_test(tc, utf8_complete_holds_back_only_an_unfinished_character);
  tcase_add_test(tc, byte_model_context_is_the_byte_context);
  suite_add_tcase(s, tc);
  return tf_test_run(s);
}
