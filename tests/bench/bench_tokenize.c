/* bench_tokenize.c: encode throughput of the BPE tokenizer (tf_tokenizer_encode) on a text
 * file, on 1 and 2 threads. The text is cut at line boundaries into chunks of about CHUNK
 * bytes, which the threads take in turn (OpenMP, dynamic), each into its own id array;
 * tests/reference/bench_tokenizer.js cuts the same chunks for the Hugging Face library.
 * One JSON line per thread count: MB/s (10^6 bytes), best and median of REPS passes after
 * one untimed pass (which fills the per-thread caches). Not a test. */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tokenformer.h"
#include "bench_util.h"

#define REPS  5
#define CHUNK 4096

static const char usage[] = "Usage: bench_tokenize TOKENIZER.json TEXT\n"
                            "Encode MB/s of TEXT with TOKENIZER.json on 1 and 2 threads, one\n"
                            "JSON line each: best and median of 5 passes.\n";

static char *read_file(const char *path, size_t *n) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  long len = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *buf = len >= 0 ? malloc((size_t)len + 1) : NULL;
  if (buf && fread(buf, 1, (size_t)len, f) != (size_t)len) {
    free(buf);
    buf = NULL;
  }
  fclose(f);
  *n = (size_t)len;
  return buf;
}

/* Chunk starts: each chunk ends after the first newline at or past CHUNK bytes. */
static size_t cut(const char *text, size_t n, size_t *start) {
  size_t k = 0;
  for (size_t at = 0; at < n;) {
    start[k++] = at;
    const char *nl = at + CHUNK < n ? memchr(text + at + CHUNK, '\n', n - at - CHUNK) : NULL;
    at = nl ? (size_t)(nl - text) + 1 : n;
  }
  start[k] = n;
  return k;
}

/* Seconds of one pass over the chunks on `threads` threads; the ids counted into *tokens. */
/* Each thread's ids on a cache line of its own (the count changes with every id). */
struct lane {
  _Alignas(64) struct tf_ids ids;
};

static double pass(const struct tf_tokenizer *t, const char *text, const size_t *start, size_t k,
                   int threads, struct lane *lanes, size_t *tokens) {
  size_t total = 0;
  int bad = 0;
  double t0 = now();
#pragma omp parallel num_threads(threads) reduction(+ : total, bad)
  {
    struct tf_ids *mine = &lanes[omp_get_thread_num()].ids;
    struct tf_error err = {0};
#pragma omp for schedule(dynamic, 1)
    for (size_t i = 0; i < k; i++) {
      mine->n = 0;
      if (tf_tokenizer_encode(t, text + start[i], start[i + 1] - start[i], 0, mine, &err)) {
        fprintf(stderr, "bench_tokenize: %s\n", err.msg);
        bad++;
      }
      total += mine->n;
    }
  }
  double s = now() - t0;
  if (bad) exit(65);
  *tokens = total;
  return s;
}

int main(int argc, char **argv) {
  if (argc != 3) {
    fputs(usage, stderr);
    return 64;
  }
  struct tf_tokenizer *t;
  struct tf_error err = {0};
  if (tf_tokenizer_load(&t, argv[1], &err)) {
    fprintf(stderr, "bench_tokenize: %s\n", err.msg);
    return 65;
  }
  size_t n;
  char *text = read_file(argv[2], &n);
  size_t *start = text ? malloc((n / CHUNK + 2) * sizeof *start) : NULL;
  static struct lane lanes[2];
  if (!start) {
    fprintf(stderr, "bench_tokenize: cannot read %s\n", argv[2]);
    return 66;
  }
  size_t k = cut(text, n, start), tokens = 0;
  for (int threads = 1; threads <= 2; threads++) {
    double s[REPS];
    pass(t, text, start, k, threads, lanes, &tokens);
    for (int r = 0; r < REPS; r++) s[r] = pass(t, text, start, k, threads, lanes, &tokens);
    sort_times(s, REPS);
    printf("{\"bench\": \"tokenize\", \"impl\": \"tokenformer\", \"threads\": %d, \"bytes\": %zu, "
           "\"chunks\": %zu, \"tokens\": %zu, \"mb_s_best\": %.2f, \"mb_s_median\": %.2f}\n",
           threads, n, k, tokens, 1e-6 * (double)n / s[0], 1e-6 * (double)n / s[REPS / 2]);
  }
  tf_ids_free(&lanes[0].ids);
  tf_ids_free(&lanes[1].ids);
  free(start);
  free(text);
  tf_tokenizer_free(t);
  return 0;
}
