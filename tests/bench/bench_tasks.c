/* bench_tasks.c: zero-shot task scoring speed (tf-eval --task) for one model shape, for `make
 * bench`: hellaswag-shaped examples (4 choices) through tf_task_load and tf_task_score. A
 * measurement, not a test; the model is random and its byte tokens stand in for BPE tokens
 * of the same counts. */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tokenformer.h"
#include "net.h"
#include "bench_util.h"

static const char usage[] =
    "Usage: bench_tasks [-c CONFIG] [--examples N] [--batch B] [--ctx C] [--cont K]\n"
    "                   [--threads N] [--whole]\n"
    "Scores N hellaswag examples (4 endings of K tokens after a context of C tokens; byte\n"
    "tokens, default C 48 and K 20, about the lengths of hellaswag in GPT-NeoX tokens) with a\n"
    "random model of CONFIG (default configs/150M.yaml), B requests per forward pass\n"
    "(default 8), after one untimed example, and prints one JSON line: examples_per_s,\n"
    "requests_per_s, seconds, cpu_seconds (the process's processor time) and the shape.\n"
    "--whole scores every request through its own whole forward (the path before choices\n"
    "shared their context's) instead.\n";

/* n letters and spaces from a fixed pattern, starting at offset k (no JSON escaping needed). */
static void text(FILE *f, int n, int k) {
  static const char words[] = "the man picks up a ball and throws it across the yard while ";
  for (int i = 0; i < n; i++) fputc(words[(k + i) % (int)(sizeof words - 1)], f);
}

/* A hellaswag file of n examples in a temporary file; its path in path. */
static int write_examples(char *path, int n, int ctx, int cont) {
  snprintf(path, 64, "/tmp/bench_tasks.XXXXXX");
  int fd = mkstemp(path);
  FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
  if (!f) return -1;
  for (int e = 0; e < n; e++) {
    /* activity_label + ": " + ctx_a + " " + ctx_b: ctx bytes in all */
    fprintf(f, "{\"activity_label\": \"A\", \"ctx_a\": \"");
    text(f, ctx - 5, 7 * e);
    fprintf(f, "\", \"ctx_b\": \"x\", \"label\": 0, \"endings\": [");
    for (int i = 0; i < 4; i++) {
      fputs(i ? ", \"" : "\"", f);
      text(f, cont - 1, 13 * e + 5 * i);
      fputc('"', f);
    }
    fputs("]}\n", f);
  }
  return fclose(f) ? -1 : 0;
}

static int arg_int(int argc, char **argv, int *i, int *out) {
  if (*i + 1 >= argc || (*out = atoi(argv[*i + 1])) < 1) return -1;
  (*i)++;
  return 0;
}

int main(int argc, char **argv) {
  const char *config = "configs/150M.yaml";
  int n = 32, B = 8, ctx = 48, cont = 20, threads = 0, whole = 0, bad = 0;
  for (int i = 1; i < argc && !bad; i++) {
    if (!strcmp(argv[i], "-c") && i + 1 < argc)
      config = argv[++i];
    else if (!strcmp(argv[i], "--examples"))
      bad = arg_int(argc, argv, &i, &n);
    else if (!strcmp(argv[i], "--batch"))
      bad = arg_int(argc, argv, &i, &B);
    else if (!strcmp(argv[i], "--ctx"))
      bad = arg_int(argc, argv, &i, &ctx);
    else if (!strcmp(argv[i], "--cont"))
      bad = arg_int(argc, argv, &i, &cont);
    else if (!strcmp(argv[i], "--threads"))
      bad = arg_int(argc, argv, &i, &threads);
    else if (!strcmp(argv[i], "--whole"))
      whole = 1;
    else
      bad = 1;
  }
  if (bad || ctx < 8 || cont < 2) {
    fputs(usage, stderr);
    return 64;
  }
  tf_set_threads(threads);
  struct tf_config cfg;
  struct tf_model m;
  struct tf_task_set s, warm;
  struct tf_acts acts;
  struct tf_error err = {0};
  char path[64];
  tf_config_default(&cfg);
  if (tf_config_load(&cfg, config, &err) || tf_model_create(&m, &cfg.model, &err)) {
    fprintf(stderr, "bench_tasks: %s\n", err.msg);
    return 1;
  }
  tf_model_init(&m, &cfg.init);
  if (write_examples(path, n, ctx, cont)) {
    fprintf(stderr, "bench_tasks: cannot write a temporary file\n");
    return 1;
  }
  int rc = tf_task_load(&s, TF_TASK_HELLASWAG, path, 0, m.tok, m.cfg.seq_len, &err);
  if (!rc) rc = tf_task_load(&warm, TF_TASK_HELLASWAG, path, 1, m.tok, m.cfg.seq_len, &err);
  unlink(path);
  s.whole = warm.whole = whole;
  if (!rc && whole) rc = tf_acts_init(&acts, &m.cfg, B, s.max_input, &err);
  if (!rc) rc = tf_task_score(&warm, &m, whole ? &acts : NULL, B, &err);
  double t0 = now(), c0 = cpu();
  if (!rc) rc = tf_task_score(&s, &m, whole ? &acts : NULL, B, &err);
  double secs = now() - t0, cpu_secs = cpu() - c0;
  if (rc) {
    fprintf(stderr, "bench_tasks: %s\n", err.msg);
    return 1;
  }
  printf("{\"config\": \"%s\", \"threads\": %d, \"examples\": %d, \"requests\": %d, \"batch\": %d, "
         "\"ctx\": %d, \"cont\": %d, \"path\": \"%s\", \"seconds\": %.3f, "
         "\"cpu_seconds\": %.3f, \"examples_per_s\": %.3f, \"requests_per_s\": %.3f}\n",
         config, omp_get_max_threads(), s.n_examples, s.n_requests, B, ctx, cont,
         whole ? "whole" : "shared", secs, cpu_secs, s.n_examples / secs, s.n_requests / secs);
  tf_task_free(&s);
  tf_task_free(&warm);
  if (whole) tf_acts_release(&acts);
  tf_model_free(&m);
  return 0;
}
