/* test_cpu.c: lib/cpu.c, which the commands ask before main whether this CPU runs what the
 * library was compiled for. */
#include <stdio.h>
#include <string.h>

#include "suite.h"

/* This test was compiled with the library's flags and runs: nothing can be missing. */
START_TEST(test_cpu_runs_the_build) {
  char msg[256] = "untouched";
  ck_assert_int_eq(tf_cpu_check(msg, sizeof msg), 0);
  ck_assert_str_eq(msg, "");
}
END_TEST

/* Every x86-64 CPU has SSE2; a name no CPU has counts as missing and is named, in order. */
START_TEST(test_cpu_names_what_lacks) {
  char msg[64];
  const char *base[] = {"sse2", NULL}, *bad[] = {"no-such-isa", "sse2", "nor-this", NULL};
#if !defined(__x86_64__)
  return; /* no instruction set is checked elsewhere */
#endif
  ck_assert_int_eq(tf_cpu_lacks(base, msg, sizeof msg), 0);
  ck_assert_int_eq(tf_cpu_lacks(bad, msg, sizeof msg), 2);
  ck_assert_str_eq(msg, "no-such-isa nor-this");
  /* a short buffer keeps what fits, terminated */
  ck_assert_int_eq(tf_cpu_lacks(bad, msg, 8), 2);
  ck_assert_int_lt(strlen(msg), 8);
}
END_TEST

/* The compiled-for list names what -march enabled, and this CPU (which runs the test) has all. */
START_TEST(test_cpu_built_list) {
  char names[256], msg[256];
  const char *need[32];
  int n = 0;
  snprintf(names, sizeof names, "%s", tf_cpu_built());
  for (char *save = NULL, *t = strtok_r(names, " ", &save); t && n < 31;
       t = strtok_r(NULL, " ", &save))
    need[n++] = t;
  need[n] = NULL;
  ck_assert_int_eq(tf_cpu_lacks(need, msg, sizeof msg), 0);
#ifdef __AVX2__
  ck_assert_ptr_nonnull(strstr(tf_cpu_built(), "avx2"));
#endif
#ifdef __AVX512F__
  ck_assert_ptr_nonnull(strstr(tf_cpu_built(), "avx512f"));
#else
  ck_assert_ptr_null(strstr(tf_cpu_built(), "avx512"));
#endif
}
END_TEST

int main(void) {
  Suite *s = suite_create("cpu");
  TCase *tc = tcase_create("cpu");
  tcase_add_test(tc, test_cpu_runs_the_build);
  tcase_add_test(tc, test_cpu_names_what_lacks);
  tcase_add_test(tc, test_cpu_built_list);
  suite_add_tcase(s, tc);
  return tf_test_run(s);
}
