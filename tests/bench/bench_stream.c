/* bench_stream.c: STREAM-style triad bandwidth (a = b + s c over arrays far larger than the
 * caches) on 1 and 2 threads, the memory-bound limit `make bench` compares decoding with.
 * Counts 24 bytes per element, as STREAM does (no write-allocate traffic). Not a test. */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "bench_util.h"

#define REPS 10

static const char usage[] = "Usage: bench_stream [MIB]\n"
                            "Triad bandwidth over three arrays of MIB MiB each (default 128),\n"
                            "one JSON line per thread count (1 and 2): GB/s, best and median\n"
                            "of 10 repetitions.\n";

/* Seconds of one triad a = b + s c on `threads` threads, static schedule (the same split as
 * the first touch, so each thread streams the pages it placed). */
static double triad(double *a, const double *b, const double *c, long n, int threads) {
  const double s = 3.0;
  double t0 = now();
#pragma omp parallel for schedule(static) num_threads(threads)
  for (long i = 0; i < n; i++) a[i] = b[i] + s * c[i];
  return now() - t0;
}

static void first_touch(double *a, double *b, double *c, long n) {
#pragma omp parallel for schedule(static)
  for (long i = 0; i < n; i++) {
    a[i] = 0.0;
    b[i] = 1.0;
    c[i] = 2.0;
  }
}

/* Prints best and median GB/s of REPS triads (after one untimed) on `threads` threads. */
static void measure(double *a, const double *b, const double *c, long n, int threads) {
  double t[REPS];
  triad(a, b, c, n, threads);
  for (int r = 0; r < REPS; r++) t[r] = triad(a, b, c, n, threads);
  sort_times(t, REPS);
  double bytes = 3.0 * sizeof(double) * (double)n;
  printf("{\"bench\": \"stream_triad\", \"threads\": %d, \"array_mib\": %.0f, "
         "\"gbs_best\": %.4g, \"gbs_median\": %.4g, \"gbs_worst\": %.4g}\n",
         threads, (double)n * sizeof(double) / (1 << 20), bytes / t[0] / 1e9,
         bytes / t[REPS / 2] / 1e9, bytes / t[REPS - 1] / 1e9);
  fflush(stdout);
}

int main(int argc, char **argv) {
  char *end = "";
  long mib = argc > 1 ? strtol(argv[1], &end, 10) : 128;
  if (argc > 2 || *end || mib < 1 || mib > 65536) {
    fputs(usage, stderr);
    return 64;
  }
  long n = mib * (1L << 20) / (long)sizeof(double);
  double *a = malloc(n * sizeof *a), *b = malloc(n * sizeof *b), *c = malloc(n * sizeof *c);
  if (!a || !b || !c) {
    fprintf(stderr, "bench_stream: out of memory for 3 x %ld MiB\n", mib);
    return 71;
  }
  first_touch(a, b, c, n);
  for (int threads = 1; threads <= 2; threads++) measure(a, b, c, n, threads);
  free(a);
  free(b);
  free(c);
  return 0;
}
