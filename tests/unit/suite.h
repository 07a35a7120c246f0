/* suite.h: what every check suite shares. */
#ifndef TF_TEST_SUITE_H
#define TF_TEST_SUITE_H

#include <check.h>

/* Runs the suite, prints check's summary, returns the process exit status (0: all passed). */
int tf_test_run(Suite *s);

#endif
