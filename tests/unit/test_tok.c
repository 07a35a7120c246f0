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

int main(void) {
  Suite *s = suite_create("tok");
  TCase *tc = tcase_create("tok");
  tcase_add_test(tc, context_is_the_last_bytes_or_a_newline);
  tcase_add_test(tc, byte_models_need_every_byte_id);
  suite_add_tcase(s, tc);
  return tf_test_run(s);
}
