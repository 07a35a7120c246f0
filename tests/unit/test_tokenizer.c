/* test_tokenizer.c: the tokenizer object (lib/tokenizer.c): the byte kind's encode and decode
 * round trip, ids it does not know, and files that cannot be read. */
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

int main(void) {
  Suite *s = suite_create("tokenizer");
  TCase *tc = tcase_create("tokenizer");
  tcase_add_test(tc, bytes_encode_is_one_id_per_byte_and_decodes_back);
  tcase_add_test(tc, bytes_decode_refuses_ids_past_the_bytes);
  tcase_add_test(tc, load_names_a_missing_file);
  suite_add_tcase(s, tc);
  return tf_test_run(s);
}
