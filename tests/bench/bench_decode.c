/* bench_decode.c: decoding speed with the KV cache (tf_decode_step) for one model config, as
 * tests/reference/bench_ref.py --mode decode measures the PyTorch peer. A measurement, not a
 * test. */
#include <stdarg.h>
#include <getopt.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tokenformer.h"
#include "rng.h"
#include "bench_util.h"

static const char usage[] =
    "Usage: bench_decode [-c CONFIG] [--set SECTION.KEY=VALUE]... [--threads LIST]\n"
    "                    [--prompt-len P] [--gen G] [--runs N] [--warmup N] [--chunk C]\n"
    "                    [--weights LIST]\n"
    "Greedy decoding of a randomly initialised model of CONFIG (defaults, then the file,\n"
    "then each --set): P random prompt tokens are prefilled (not timed), then G tokens are\n"
    "decoded one position at a time; the first comes out of the prefill, so G - 1 positions\n"
    "are timed. A step is one decoded position; s_per_step is the median over runs of\n"
    "(decode seconds / (G - 1)). One JSON line per thread count, with the parameter bytes\n"
    "each token streams (the memory-bandwidth limit is those bytes / bandwidth), per\n"
    "weight format: the model converted as tf-generate --weights does.\n"
    "\n"
    "  -c, --config FILE   YAML config (its model: and init: sections)\n"
    "      --set S.K=V     override one config key (repeatable)\n"
    "      --threads LIST  thread counts, comma-separated (default 1,2)\n"
    "      --prompt-len P  prompt tokens (default 16)\n"
    "      --gen G         tokens generated per run (default 64; P + G <= seq_len)\n"
    "      --runs N        timed runs (default 5)\n"
    "      --warmup N      untimed runs first (default 1)\n"
    "      --chunk C       rows per prefill pass (default: the library's)\n"
    "      --weights LIST  weight formats, comma-separated, of f32, bf16, q8 (default f32)\n";

#define MAX_RUNS    1000
#define MAX_THREADS 16

struct options {
  struct tf_config cfg;
  int threads[MAX_THREADS], n_threads;
  int prompt_len, gen, runs, warmup, chunk;
  enum tf_weights weights[TF_NWEIGHTS];
  int n_weights;
};

__attribute__((format(printf, 1, 2))) static int complain(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "bench_decode: ");
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
  return -1;
}

/* A whole decimal number in [min, max] at s (up to the end or a comma) into *out; returns
 * where it stopped, or NULL. */
static const char *int_at(const char *s, int min, int max, int *out) {
  char *end;
  long v = strtol(s, &end, 10);
  if (end == s || (*end && *end != ',') || v < min || v > max) return NULL;
  *out = (int)v;
  return end;
}

static int int_opt(const char *opt, const char *s, int min, int max, int *out) {
  const char *end = int_at(s, min, max, out);
  return end && !*end ? 0 : complain("%s: bad value '%s'", opt, s);
}

static int thread_list(struct options *o, const char *s) {
  o->n_threads = 0;
  for (const char *p = s; o->n_threads < MAX_THREADS; p++) {
    p = int_at(p, 1, 1024, &o->threads[o->n_threads++]);
    if (!p) return complain("--threads: bad list '%s'%s", s, "");
    if (!*p) return 0;
  }
  return complain("--threads: more than 16 entries in '%s'%s", s, "");
}

static int weight_list(struct options *o, const char *s) {
  char buf[64];
  o->n_weights = 0;
  if (strlen(s) >= sizeof buf) return complain("--weights: bad list '%s'%s", s, "");
  strcpy(buf, s);
  for (char *save, *w = strtok_r(buf, ",", &save); w; w = strtok_r(NULL, ",", &save))
    if (o->n_weights == TF_NWEIGHTS || tf_weights_parse(w, &o->weights[o->n_weights++]))
      return complain("--weights: bad list '%s' (f32, bf16, q8)%s", s, "");
  return o->n_weights ? 0 : complain("--weights: empty list%s%s", "", "");
}

static int config_error(const struct tf_error *err) {
  return complain("%s%s", err->msg, "");
}

enum {
  OPT_SET = 0x100,
  OPT_THREADS,
  OPT_PROMPT,
  OPT_GEN,
  OPT_RUNS,
  OPT_WARMUP,
  OPT_CHUNK,
  OPT_WEIGHTS
};

/* One option; 0 if it was fine, -1 after printing why not, 1 for --help. */
static int take_option(struct options *o, int opt, const char *arg) {
  struct tf_error err;
  switch (opt) {
  case 'c':
    return tf_config_load(&o->cfg, arg, &err) ? config_error(&err) : 0;
  case OPT_SET:
    return tf_config_set(&o->cfg, arg, &err) ? config_error(&err) : 0;
  case OPT_THREADS:
    return thread_list(o, arg);
  case OPT_PROMPT:
    return int_opt("--prompt-len", arg, 1, 1 << 24, &o->prompt_len);
  case OPT_GEN:
    return int_opt("--gen", arg, 2, 1 << 24, &o->gen);
  case OPT_RUNS:
    return int_opt("--runs", arg, 1, MAX_RUNS, &o->runs);
  case OPT_WARMUP:
    return int_opt("--warmup", arg, 0, MAX_RUNS, &o->warmup);
  case OPT_CHUNK:
    return int_opt("--chunk", arg, 1, 1 << 24, &o->chunk);
  case OPT_WEIGHTS:
    return weight_list(o, arg);
  case 'h':
    fputs(usage, stdout);
    return 1;
  default:
    fputs(usage, stderr);
    return -1;
  }
}

/* 0 to go on, 1 after --help, -1 on an error (already printed). */
static int parse_options(struct options *o, int argc, char **argv) {
  static const struct option longopts[] = {{"config", required_argument, 0, 'c'},
                                           {"set", required_argument, 0, OPT_SET},
                                           {"threads", required_argument, 0, OPT_THREADS},
                                           {"prompt-len", required_argument, 0, OPT_PROMPT},
                                           {"gen", required_argument, 0, OPT_GEN},
                                           {"runs", required_argument, 0, OPT_RUNS},
                                           {"warmup", required_argument, 0, OPT_WARMUP},
                                           {"chunk", required_argument, 0, OPT_CHUNK},
                                           {"weights", required_argument, 0, OPT_WEIGHTS},
                                           {"help", no_argument, 0, 'h'},
                                           {0, 0, 0, 0}};
  *o = (struct options){.threads = {1, 2},
                        .n_threads = 2,
                        .prompt_len = 16,
                        .gen = 64,
                        .runs = 5,
                        .warmup = 1,
                        .n_weights = 1};
  tf_config_default(&o->cfg);
  int opt, rc = 0;
  while (rc == 0 && (opt = getopt_long(argc, argv, "c:h", longopts, NULL)) != -1)
    rc = take_option(o, opt, optarg);
  if (rc == 0 && optind < argc) rc = complain("unexpected argument '%s'%s", argv[optind], "");
  struct tf_error err;
  if (rc == 0 && tf_config_check(&o->cfg, &err)) rc = config_error(&err);
  if (rc == 0 && o->prompt_len + o->gen > o->cfg.model.seq_len)
    rc = complain("--prompt-len + --gen exceed the model's seq_len%s%s", "", "");
  return rc;
}

/* Seconds per decoded position of one greedy run, or -1 if the decoder refused. */
static double decode_run(const struct tf_model *m, struct tf_decoder *dec, const int32_t *prompt,
                         const struct options *o) {
  const float *l = tf_decode_prefill(m, dec, prompt, o->prompt_len, NULL);
  int32_t next = l ? tf_sample_argmax(l, m->cfg.vocab_size) : -1;
  double t0 = now();
  for (int i = 1; i < o->gen && next >= 0; i++) {
    l = tf_decode_step(m, dec, next, NULL);
    next = l ? tf_sample_argmax(l, m->cfg.vocab_size) : -1;
  }
  return next >= 0 ? (now() - t0) / (o->gen - 1) : -1;
}

static void print_result(const struct tf_model *m, const struct options *o, double *secs) {
  sort_times(secs, o->runs);
  double med = o->runs % 2 ? secs[o->runs / 2] : 0.5 * (secs[o->runs / 2 - 1] + secs[o->runs / 2]);
  char *cfg = tf_model_config_to_json(&m->cfg);
  unsigned long long params = tf_param_count(&m->cfg);
  char kernel[64];
  snprintf(kernel, sizeof kernel, "%s", m->qw ? tf_weights_kernel() : "gemv (OpenMP, simd)");
  printf("{\"impl\": \"tokenformer\", \"kernel\": \"%s\", \"mode\": \"decode\", "
         "\"weights\": \"%s\", \"weight_bytes\": %zu, "
         "\"threads\": %d, \"batch\": 1, \"seq\": %d, \"steps\": %d, \"warmup\": %d, "
         "\"config\": %s, \"params\": %llu, \"param_bytes\": %llu, \"prompt_len\": %d, "
         "\"gen\": %d, \"tokens_per_step\": 1, \"s_per_step\": %.6g, \"tokens_per_s\": %.6g, "
         "\"s_per_step_min\": %.6g, \"s_per_step_max\": %.6g}\n",
         kernel, tf_weights_name(m->weights), tf_model_weight_bytes(m), omp_get_max_threads(),
         m->cfg.seq_len, o->runs, o->warmup, cfg ? cfg : "null", params, params * sizeof(float),
         o->prompt_len, o->gen, med, 1 / med, secs[0], secs[o->runs - 1]);
  fflush(stdout);
  free(cfg);
}

/* All runs on `threads` threads; TF_EDATA if the decoder refused a token. */
static int bench_threads(const struct tf_model *m, const struct options *o, int threads,
                         const int32_t *prompt, struct tf_error *err) {
  static double secs[MAX_RUNS];
  struct tf_decoder dec;
  tf_set_threads(threads);
  int rc = tf_decoder_create(&dec, &m->cfg, o->chunk, err);
  for (int r = -o->warmup; !rc && r < o->runs; r++) {
    double s = decode_run(m, &dec, prompt, o);
    if (s < 0) rc = tf_error_set(err, TF_EDATA, "the decoder refused a token");
    if (r >= 0) secs[r] = s;
  }
  if (!rc) print_result(m, o, secs);
  tf_decoder_free(&dec);
  return rc;
}

int main(int argc, char **argv) {
  static struct options o;
  int rc = parse_options(&o, argc, argv);
  if (rc) return rc > 0 ? 0 : TF_EUSAGE;
  struct tf_model m = {0};
  struct tf_error err = {0};
  int32_t *prompt = malloc((size_t)o.prompt_len * sizeof *prompt);
  struct tf_rng r;
  tf_rng_seed(&r, o.cfg.init.seed + 1);
  for (int i = 0; prompt && i < o.prompt_len; i++)
    prompt[i] = (int32_t)(tf_rng_next(&r) % (uint64_t)o.cfg.model.vocab_size);
  if (!prompt) rc = tf_error_set(&err, TF_ENOMEM, "out of memory");
  for (int w = 0; !rc && w < o.n_weights; w++) { /* a fresh model per format: conversion frees */
    rc = tf_model_create(&m, &o.cfg.model, &err);
    if (!rc) tf_model_init(&m, &o.cfg.init);
    if (!rc) rc = tf_model_convert_weights(&m, o.weights[w], &err);
    for (int i = 0; !rc && i < o.n_threads; i++)
      rc = bench_threads(&m, &o, o.threads[i], prompt, &err);
    tf_model_free(&m);
  }
  if (rc) fprintf(stderr, "bench_decode: %s\n", err.msg);
  free(prompt);
  return rc;
}
