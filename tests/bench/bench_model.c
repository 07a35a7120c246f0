/* bench_model.c: throughput of one model config for `make bench`: forward+backward, or a
 * whole training step (clip + AdamW), timed step by step. A measurement, not a test. */
#include <getopt.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tokenformer.h"
#include "data_internal.h"
#include "net.h"
#include "optim.h"
#include "rng.h"
#include "train_internal.h"
#include "bench_util.h"

static const char usage[] =
    "Usage: bench_model [-c CONFIG] [--set SECTION.KEY=VALUE]... [--batch B] [--seq T]\n"
    "                   [--threads N] [--mode fwdbwd|train] [--steps N] [--warmup N]\n"
    "                   [--print-config]\n"
    "Times the model of CONFIG (the defaults, then -c and each --set in the order given;\n"
    "--set model.d_model=... and the like alone give explicit sizes) on B x T random byte\n"
    "tokens and prints one JSON line:\n"
    "tokens_per_s and s_per_step (median over the timed steps), achieved GFLOP/s (3 x forward\n"
    "FLOPs per token x tokens per step / s_per_step), the spread, the gemm kernel and the\n"
    "instruction sets the library was compiled for (isa).\n"
    "\n"
    "  -c, --config FILE   YAML config (its model: and train: sections)\n"
    "      --set S.K=V     override one config key (repeatable)\n"
    "      --batch B       windows per step (train.batch)\n"
    "      --seq T         tokens per window (model.seq_len)\n"
    "      --threads N     threads (default: OMP_NUM_THREADS or all cores)\n"
    "      --mode M        fwdbwd: tf_net_forward + tf_net_backward on one fixed batch;\n"
    "                      train: tf_trainer_step (fresh batch, clip, AdamW) (default fwdbwd)\n"
    "      --steps N       timed steps (default 5)\n"
    "      --warmup N      untimed steps first (default 1)\n"
    "      --print-config  print the model config as JSON (for bench_ref.py --config-json)\n"
    "                      and exit\n";

/* Bytes of the random corpus the training steps draw windows from. */
#define CORPUS_BYTES (1u << 20)
#define MAX_STEPS    10000

struct options {
  struct tf_config cfg;
  int threads, steps, warmup, train, print_config;
};

/* A whole decimal string in [min, max] into *out; 0 on success. */
static int parse_int(const char *opt, const char *s, int min, int max, int *out) {
  char *end;
  long v = strtol(s, &end, 10);
  if (*s && !*end && v >= min && v <= max) {
    *out = (int)v;
    return 0;
  }
  fprintf(stderr, "bench_model: %s: want an integer in [%d, %d], got '%s'\n", opt, min, max, s);
  return -1;
}

/* Applies one "section.key=value"; 0 on success, -1 after printing why not. */
static int set_one(struct tf_config *c, const char *assignment) {
  struct tf_error err;
  if (tf_config_set(c, assignment, &err) == TF_OK) return 0;
  fprintf(stderr, "bench_model: %s\n", err.msg);
  return -1;
}

/* The option's value as config key `key`. */
static int set_key(struct tf_config *c, const char *key, const char *value) {
  char buf[256];
  snprintf(buf, sizeof buf, "%s=%s", key, value);
  return set_one(c, buf);
}

static int load_config(struct tf_config *c, const char *path) {
  struct tf_error err;
  if (tf_config_load(c, path, &err) == TF_OK) return 0;
  fprintf(stderr, "bench_model: %s\n", err.msg);
  return -1;
}

static int set_mode(struct options *o, const char *s) {
  if (strcmp(s, "fwdbwd") != 0 && strcmp(s, "train") != 0) {
    fprintf(stderr, "bench_model: --mode: want fwdbwd or train, got '%s'\n", s);
    return -1;
  }
  o->train = strcmp(s, "train") == 0;
  return 0;
}

enum {
  OPT_SET = 0x100,
  OPT_BATCH,
  OPT_SEQ,
  OPT_THREADS,
  OPT_MODE,
  OPT_STEPS,
  OPT_WARMUP,
  OPT_PRINT
};

/* One option; 0 if it was fine, -1 after printing why not, 1 for --help. */
static int take_option(struct options *o, int opt, const char *arg) {
  switch (opt) {
  case 'c':
    return load_config(&o->cfg, arg);
  case OPT_SET:
    return set_one(&o->cfg, arg);
  case OPT_BATCH:
    return set_key(&o->cfg, "train.batch", arg);
  case OPT_SEQ:
    return set_key(&o->cfg, "model.seq_len", arg);
  case OPT_THREADS:
    return parse_int("--threads", arg, 1, 1024, &o->threads);
  case OPT_MODE:
    return set_mode(o, arg);
  case OPT_STEPS:
    return parse_int("--steps", arg, 1, MAX_STEPS, &o->steps);
  case OPT_WARMUP:
    return parse_int("--warmup", arg, 0, MAX_STEPS, &o->warmup);
  case OPT_PRINT:
    o->print_config = 1;
    return 0;
  case 'h':
    fputs(usage, stdout);
    return 1;
  default:
    fputs(usage, stderr);
    return -1;
  }
}

/* 0 to go on, 1 after --help, -1 on a usage or config error (already printed). */
static int parse_options(struct options *o, int argc, char **argv) {
  static const struct option longopts[] = {{"config", required_argument, 0, 'c'},
                                           {"set", required_argument, 0, OPT_SET},
                                           {"batch", required_argument, 0, OPT_BATCH},
                                           {"seq", required_argument, 0, OPT_SEQ},
                                           {"threads", required_argument, 0, OPT_THREADS},
                                           {"mode", required_argument, 0, OPT_MODE},
                                           {"steps", required_argument, 0, OPT_STEPS},
                                           {"warmup", required_argument, 0, OPT_WARMUP},
                                           {"print-config", no_argument, 0, OPT_PRINT},
                                           {"help", no_argument, 0, 'h'},
                                           {0, 0, 0, 0}};
  memset(o, 0, sizeof *o);
  tf_config_default(&o->cfg);
  o->steps = 5;
  o->warmup = 1;
  int opt, rc = 0;
  while (rc == 0 && (opt = getopt_long(argc, argv, "c:h", longopts, NULL)) != -1)
    rc = take_option(o, opt, optarg);
  if (rc == 0 && optind < argc) {
    fprintf(stderr, "bench_model: unexpected argument '%s'\n", argv[optind]);
    rc = -1;
  }
  struct tf_error err;
  if (rc == 0 && tf_config_check(&o->cfg, &err) != TF_OK) {
    fprintf(stderr, "bench_model: %s\n", err.msg);
    rc = -1;
  }
  return rc;
}

/* What the timed loop works on, all allocated before timing. */
struct bench {
  struct tf_model m;
  struct tf_trainer t;
  struct tf_corpus data; /* CORPUS_BYTES random bytes in memory */
  int B, T, train;
};

static int fail(const struct tf_error *err) {
  fprintf(stderr, "bench_model: %s\n", err->msg);
  return err->code ? err->code : TF_EDATA;
}

/* A corpus of uniformly random byte ids, owned by c (tf_corpus_close frees them). */
static int random_corpus(struct tf_corpus *c, uint64_t seed, struct tf_error *err) {
  memset(c, 0, sizeof *c);
  c->owned_ids = malloc(CORPUS_BYTES * sizeof *c->owned_ids);
  if (!c->owned_ids) return tf_error_set(err, TF_ENOMEM, "out of memory for the corpus");
  struct tf_rng r;
  tf_rng_seed(&r, seed);
  for (size_t i = 0; i < CORPUS_BYTES; i++) c->owned_ids[i] = (int32_t)(tf_rng_next(&r) >> 56);
  c->ids = c->owned_ids;
  c->dtype = TF_IDS_I32;
  c->n = CORPUS_BYTES;
  c->path = "<random bytes>";
  return TF_OK;
}

/* Model, corpus, trainer (activations, gradients, AdamW moments, batch buffers). The
 * schedule covers exactly the steps run, so the learning rate stays in its normal range. */
static int bench_create(struct bench *b, const struct options *o, struct tf_error *err) {
  memset(b, 0, sizeof *b);
  struct tf_train_config tc = o->cfg.train;
  tc.grad_accum = 1;
  tc.steps = o->warmup + o->steps;
  b->B = tc.batch;
  b->T = o->cfg.model.seq_len;
  b->train = o->train;
  int rc = tf_model_create(&b->m, &o->cfg.model, err);
  if (rc) return rc;
  tf_model_init(&b->m, &o->cfg.init);
  rc = random_corpus(&b->data, tc.seed, err);
  if (!rc) rc = tf_trainer_init(&b->t, &b->m, &tc, 1, 0, 1, err);
  if (!rc) rc = tf_corpus_check_window(&b->data, b->T, err);
  /* fwdbwd runs on one fixed batch, as the PyTorch peer does */
  if (!rc) tf_corpus_draw(&b->data, b->m.train.rng, b->B, b->T, 0, 1, b->t.inputs, b->t.targets);
  return rc;
}

static void bench_free(struct bench *b) {
  tf_trainer_release(&b->t);
  tf_corpus_close(&b->data);
  tf_model_free(&b->m);
}

/* One step; its loss in *loss. */
static int bench_step(struct bench *b, double *loss, struct tf_error *err) {
  if (b->train) {
    struct tf_step_stats st = {0};
    int rc = tf_trainer_step(&b->t, &b->data, NULL, &st, err);
    *loss = st.loss;
    return rc;
  }
  tf_grad_zero(b->t.grads, b->m.n_params);
  *loss = tf_net_forward(&b->m, &b->t.acts, b->t.inputs, b->t.targets, b->B, b->T);
  tf_net_backward(&b->m, &b->t.acts, &b->t.g);
  return TF_OK;
}

/* Seconds of each timed step, of the setup (allocation and init) and of the warm-up steps;
 * the losses of the first and last timed steps. */
struct timing {
  double secs[MAX_STEPS];
  double setup_s, warmup_s;
  double loss_first, loss_last;
};

static int run_steps(struct bench *b, const struct options *o, struct timing *tm,
                     struct tf_error *err) {
  double loss = 0;
  for (int i = -o->warmup; i < o->steps; i++) {
    double t0 = now();
    int rc = bench_step(b, &loss, err);
    if (rc) return rc;
    if (i < 0) {
      tm->warmup_s += now() - t0;
      continue;
    }
    tm->secs[i] = now() - t0;
    if (i == 0) tm->loss_first = loss;
    tm->loss_last = loss;
  }
  return TF_OK;
}

static void print_result(const struct bench *b, const struct options *o, struct timing *tm) {
  sort_times(tm->secs, o->steps);
  double med = o->steps % 2 ? tm->secs[o->steps / 2]
                            : 0.5 * (tm->secs[o->steps / 2 - 1] + tm->secs[o->steps / 2]);
  double tokens = (double)b->B * b->T;
  char *cfg = tf_model_config_to_json(&b->m.cfg);
  printf("{\"impl\": \"tokenformer\", \"kernel\": \"%s\", \"isa\": \"%s\", \"mode\": \"%s\", "
         "\"threads\": %d, "
         "\"batch\": %d, \"seq\": %d, \"steps\": %d, \"warmup\": %d, \"config\": %s, "
         "\"params\": %llu, \"tokens_per_step\": %.0f, \"s_per_step\": %.6g, "
         "\"tokens_per_s\": %.6g, \"s_per_step_min\": %.6g, \"s_per_step_max\": %.6g, "
         "\"gflops\": %.6g, \"setup_s\": %.3g, \"warmup_s\": %.3g, \"loss_first\": %.6g, "
         "\"loss_last\": %.6g}\n",
         tf_gemm_kernel(), tf_cpu_built(), b->train ? "train" : "fwdbwd", omp_get_max_threads(),
         b->B, b->T, o->steps, o->warmup, cfg ? cfg : "null",
         (unsigned long long)tf_param_count(&b->m.cfg), tokens, med, tokens / med, tm->secs[0],
         tm->secs[o->steps - 1], 3 * tf_forward_flops_per_token(&b->m.cfg) * tokens / med / 1e9,
         tm->setup_s, tm->warmup_s, tm->loss_first, tm->loss_last);
  free(cfg);
}

static int print_config(const struct tf_model_config *m) {
  char *json = tf_model_config_to_json(m);
  if (!json) return TF_ENOMEM;
  puts(json);
  free(json);
  return 0;
}

int main(int argc, char **argv) {
  static struct options o;
  static struct timing tm;
  int rc = parse_options(&o, argc, argv);
  if (rc) return rc > 0 ? 0 : TF_EUSAGE;
  if (o.print_config) return print_config(&o.cfg.model);
  tf_set_threads(o.threads);
  struct bench b;
  struct tf_error err = {0};
  double t0 = now();
  rc = bench_create(&b, &o, &err);
  tm.setup_s = now() - t0;
  if (!rc) rc = run_steps(&b, &o, &tm, &err);
  if (!rc) print_result(&b, &o, &tm);
  bench_free(&b);
  return rc ? fail(&err) : 0;
}
