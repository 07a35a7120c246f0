/* test_err.c: the escaping of text shown on a terminal (tf_escape, tf_escape_byte). */
#include <string.h>

#include "suite.h"

START_TEST(bytes_escape_as_c_does) {
  char e[5];
  ck_assert_uint_eq(tf_escape_byte('a', 0, e), 1);
  ck_assert_str_eq(e, "a");
  ck_assert_uint_eq(tf_escape_byte('\\', 0, e), 2);
  ck_assert_str_eq(e, "\\\\");
  ck_assert_uint_eq(tf_escape_byte('\\', TF_ESCAPE_KEEP_BACKSLASH, e), 1);
  ck_assert_str_eq(e, "\\");
  ck_assert_uint_eq(tf_escape_byte(0x1b, TF_ESCAPE_KEEP_BACKSLASH, e), 4);
  ck_assert_str_eq(e, "\\x1b");
  const unsigned char raw[] = {0x00, '\n', 0x7f, 0x80, 0xff};
  const char *want[] = {"\\x00", "\\x0a", "\\x7f", "\\x80", "\\xff"};
  for (int i = 0; i < 5; i++) {
    ck_assert_uint_eq(tf_escape_byte(raw[i], 0, e), 4);
    ck_assert_str_eq(e, want[i]);
  }
  ck_assert_uint_eq(tf_escape_byte(' ', 0, e), 1);
  ck_assert_uint_eq(tf_escape_byte('~', 0, e), 1);
}
END_TEST

START_TEST(text_is_escaped_and_cut) {
  char out[16];
  const char s[] = "a\x01"
                   "b\\c\"";
  ck_assert_str_eq(tf_escape(out, sizeof out, s, strlen(s)), "a\\x01b\\\\c\"");
  /* 10 bytes of forms fit 11 with the NUL: nothing cut */
  ck_assert_str_eq(tf_escape(out, 11, s, strlen(s)), "a\\x01b\\\\c\"");
  /* one byte less: cut where "..." and the NUL still fit */
  ck_assert_str_eq(tf_escape(out, 10, s, strlen(s)), "a\\x01b...");
  /* a form is never split: "\x01" does not fit after "a" with room for "..." */
  ck_assert_str_eq(tf_escape(out, 8, s, strlen(s)), "a...");
  ck_assert_str_eq(tf_escape(out, 4, s, strlen(s)), "...");
  ck_assert_str_eq(tf_escape(out, sizeof out, "", 0), "");
  /* n bytes, NUL included, not the C string */
  ck_assert_str_eq(tf_escape(out, sizeof out, "x\0y", 3), "x\\x00y");
}
END_TEST

static Suite *err_suite(void) {
  Suite *s = suite_create("err");
  TCase *tc = tcase_create("escape");
  tcase_add_test(tc, bytes_escape_as_c_does);
  tcase_add_test(tc, text_is_escaped_and_cut);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  return tf_test_run(err_suite());
}
