/* bench_util.h: the clocks and the sort order the bench programs share (tests/bench/README.md).
 * Header-only: each bench program is one file linked against the library. */
#ifndef TF_BENCH_UTIL_H
#define TF_BENCH_UTIL_H

#include <stdlib.h>
#include <time.h>

/* Seconds on the clock `id`. */
static inline double bench_clock(clockid_t id) {
  struct timespec ts;
  clock_gettime(id, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Wall-clock seconds (monotonic). */
static inline double now(void) {
  return bench_clock(CLOCK_MONOTONIC);
}

/* The process's processor seconds, all threads. */
static inline double cpu(void) {
  return bench_clock(CLOCK_PROCESS_CPUTIME_ID);
}

/* qsort order of doubles, ascending. */
static inline int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* Sorts the n times in place (the median and the spread are read off them). */
static inline void sort_times(double *t, int n) {
  qsort(t, (size_t)n, sizeof *t, cmp_double);
}

#endif
