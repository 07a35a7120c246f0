/* tf-train: train a checkpoint on a text corpus, in stages that resume exactly. */
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <omp.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "progress.h"

static const char usage[] =
    "Usage: tf-train [-c CONFIG] -i IN -o OUT [--steps N] [--stop-at S] [--new-stage]\n"
    "                [--reschedule] [--set SECTION.KEY=VALUE]... [--log FILE]\n"
    "       tf-train [-c CONFIG] [-i IN] [--steps N] [--set ...]... [--log FILE] --print-config\n"
    "Train a TokenFormer checkpoint on a text corpus (the train: section of CONFIG).\n"
    "\n"
    "  -c, --config FILE     YAML config; its train: section is read ('-' for stdin); every\n"
    "                        key has a default (--print-config shows them)\n"
    "  -i, --input FILE      checkpoint to start from ('-' for stdin)\n"
    "  -o, --output FILE     checkpoint to write, atomically, every train.save_every steps\n"
    "                        and at the end ('-' for stdout: written once, at the end)\n"
    "      --steps N         length of the stage's schedule (overrides train.steps)\n"
    "      --stop-at S       end this run at stage step S, after saving\n"
    "      --new-stage       start a fresh schedule and optimizer from any checkpoint\n"
    "      --reschedule      resume with this run's steps, warmup, lr, min_lr instead of\n"
    "                        the schedule stored with the stage\n"
    "      --set S.K=V       override one config key (repeatable)\n"
    "      --log FILE        JSON Lines metrics, appended (overrides train.log)\n"
    "      --print-config    print the run's config as YAML (defaults included; with -i,\n"
    "                        the checkpoint's model) and exit\n"
    "  -q, --quiet           no progress\n"
    "      --threads N       threads (default: OMP_NUM_THREADS or all cores)\n"
    "  -h, --help            this help\n"
    "      --version         version and matrix-product kernel\n"
    "\n"
    "SIGINT, SIGTERM or SIGUSR1: finish the step, save, exit 75; a second SIGINT aborts.\n"
    "Exit status: 0 ok, 64 usage, 65 bad data or non-finite loss, 66 missing input, 71 too\n"
    "large for memory, 73 cannot create output, 74 I/O error (the previous OUT is kept),\n"
    "75 stopped by a signal after saving, 78 bad config. See tf-train(1).\n";

enum {
  OPT_STEPS = CLI_OPT_FIRST_FREE,
  OPT_STOP_AT,
  OPT_NEW_STAGE,
  OPT_LOG,
  OPT_RESCHEDULE,
  OPT_PRINT_CONFIG
};

struct train_args {
  const char *config, *input, *output, *log;
  int new_stage, reschedule, print_config;
  long long steps, stop_at; /* -1: not given */
  int argc;
  char **argv; /* the command line (as getopt left it), for the resume hint */
};

static volatile sig_atomic_t stop_signal;

static void on_signal(int sig) {
  if (sig == SIGINT && stop_signal == SIGINT) _exit(130); /* second ^C: abort now */
  stop_signal = sig;
}

static void install_signals(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sa.sa_flags = SA_RESTART; /* reads and writes go on: the flag is seen at the next step */
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGUSR1, &sa, NULL);
}

static int take_option(struct cli *c, void *args, int opt, const char *arg) {
  struct train_args *a = args;
  long v;
  switch (opt) {
  case 'i':
    a->input = arg;
    return TF_OK;
  case OPT_LOG:
    a->log = arg;
    return TF_OK;
  case OPT_NEW_STAGE:
    a->new_stage = 1;
    return TF_OK;
  case OPT_RESCHEDULE:
    a->reschedule = 1;
    return TF_OK;
  case OPT_PRINT_CONFIG:
    a->print_config = 1;
    return TF_OK;
  default: /* OPT_STEPS, OPT_STOP_AT */
    if (cli_parse_long(c, opt == OPT_STEPS ? "--steps" : "--stop-at", arg, 0, 1L << 40, &v))
      return TF_EUSAGE;
    *(opt == OPT_STEPS ? &a->steps : &a->stop_at) = v;
    return TF_OK;
  }
}

static int parse_args(struct cli *c, struct train_args *a, int argc, char **argv) {
  static const struct option longopts[] = {{"input", required_argument, 0, 'i'},
                                           {"steps", required_argument, 0, OPT_STEPS},
                                           {"stop-at", required_argument, 0, OPT_STOP_AT},
                                           {"new-stage", no_argument, 0, OPT_NEW_STAGE},
                                           {"reschedule", no_argument, 0, OPT_RESCHEDULE},
                                           {"log", required_argument, 0, OPT_LOG},
                                           {"print-config", no_argument, 0, OPT_PRINT_CONFIG},
                                           {0, 0, 0, 0}};
  static const int inputs[] = {'i', 0};
  a->steps = a->stop_at = -1;
  c->inputs = inputs;
  int rc = cli_parse(c, argc, argv, "i:", longopts, take_option, a);
  if (rc || c->done || (rc = cli_no_operands(c, argc, argv))) return rc;
  a->config = c->config;
  a->output = c->output;
  if ((rc = cli_check_in_out(c, a->input, a->print_config)) || a->print_config) return rc;
  return TF_OK;
}

/* The directory of path as realpath gives it, then its last component (for a file that may
 * not exist yet); NULL when the directory cannot be resolved. Free it. */
static char *canonical_path(const char *path) {
  const char *slash = strrchr(path, '/');
  char *dir = slash ? strndup(path, slash == path ? 1 : (size_t)(slash - path)) : strdup(".");
  char *real = dir ? realpath(dir, NULL) : NULL, *out = NULL;
  if (real && asprintf(&out, "%s/%s", real, slash ? slash + 1 : path) < 0) out = NULL;
  free(dir);
  free(real);
  return out;
}

/* 1 when paths a and b name the same file: the same text, the same existing inode, or the
 * same name in the same directory. */
static int same_file(const char *a, const char *b) {
  struct stat sa, sb;
  if (strcmp(a, b) == 0) return 1;
  if (stat(a, &sa) == 0 && stat(b, &sb) == 0)
    return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
  char *ca = canonical_path(a), *cb = canonical_path(b);
  int same = ca && cb && strcmp(ca, cb) == 0;
  free(ca);
  free(cb);
  return same;
}

static int load_config(const struct cli *c, struct tf_config *cfg, const struct train_args *a,
                       struct tf_error *err) {
  int rc = cli_load_config(c, cfg, err);
  if (!rc && a->steps >= 0) cfg->train.steps = a->steps;
  if (!rc && a->log) {
    snprintf(cfg->train.log, sizeof cfg->train.log, "%s", a->log);
    tf_config_set_origin(cfg, "train.log", "--log");
  }
  if (!rc) rc = tf_config_check(cfg, err);
  const char *log = cfg->train.log;
  if (!rc && a->print_config) return TF_OK;
  if (!rc && log[0] && (same_file(log, a->input) || same_file(log, a->output)))
    rc = tf_error_set(err, TF_EUSAGE,
                      "--log %s: that is the %s checkpoint; the log would be appended to it", log,
                      same_file(log, a->input) ? "input" : "output");
  return rc;
}

/* The run: what is open while training. */
struct run {
  struct cli *c;
  struct tf_dist dist;
  const struct train_args *a;
  struct tf_config cfg;
  struct tf_model m;
  struct tf_trainer *t;
  struct tf_corpus data, valid;
  FILE *log;
  int log_errno; /* the first failed write to the log (-1: reason unknown), 0: none */
  struct progress p;
  char *history; /* the input's history; each save appends this run's record to a copy */
  int64_t first_step;
  double start;
  int has_model, has_data, has_valid;
};

/* A log that cannot be written is said once; training goes on (the checkpoint matters more)
 * and the run exits 74 at the end (log_status). */
static void log_failed(struct run *r, int e) {
  if (r->log_errno) return;
  r->log_errno = e ? e : -1;
  fprintf(stderr, "%s: %s: cannot write the log: %s; training goes on, exit 74 at the end\n",
          r->c->prog, r->cfg.train.log, e ? strerror(e) : "write error");
}

static void log_json(struct run *r, json_t *j) {
  if (!r->log || r->log_errno) {
    json_decref(j);
    return;
  }
  errno = 0;
  int bad = json_dumpf(j, r->log, JSON_COMPACT | JSON_PRESERVE_ORDER) != 0;
  bad |= fputc('\n', r->log) == EOF;
  bad |= fflush(r->log) != 0;
  if (bad || ferror(r->log)) log_failed(r, errno);
  json_decref(j);
}

/* One log record: "event", the stage "step", "lifetime_step", "lifetime_tokens",
 * "lifetime_flops", then the members of fields (the reference is taken). */
static void log_event(struct run *r, const char *event, json_t *fields) {
  const struct tf_train_state *s = &r->m.train;
  if (!r->log || r->log_errno) {
    json_decref(fields);
    return;
  }
  json_t *j = json_pack("{s:s, s:I, s:I, s:I, s:f}", "event", event, "step", (json_int_t)s->step,
                        "lifetime_step", (json_int_t)s->lifetime_steps, "lifetime_tokens",
                        (json_int_t)s->tokens, "lifetime_flops", s->flops);
  if (j && fields) json_object_update(j, fields);
  json_decref(fields);
  log_json(r, j);
}

/* Closes the log; TF_EIO when any write to it failed. */
static int log_close(struct run *r, struct tf_error *err) {
  if (!r->log) return TF_OK;
  errno = 0;
  if (fclose(r->log) != 0) log_failed(r, errno);
  r->log = NULL;
  if (!r->log_errno) return TF_OK;
  return tf_error_set(err, TF_EIO, "%s: the log is incomplete: %s", r->cfg.train.log,
                      r->log_errno > 0 ? strerror(r->log_errno) : "write error");
}

/* The run as its history record and its log's first record describe it. */
static struct tf_run run_info(const struct run *r) {
  static const char *const with_valid[] = {"train.data", "train.valid", NULL};
  static const char *const data_only[] = {"train.data", NULL};
  struct tf_run run = {.command = "tf-train",
                       .argc = r->a->argc,
                       .argv = r->a->argv,
                       .cfg = &r->cfg,
                       .model = &r->m.cfg,
                       .config_file = r->a->config,
                       .data_keys = r->has_valid ? with_valid : data_only,
                       .ranks = r->dist.n_ranks};
  return run;
}

static int save_here(struct run *r, struct tf_error *err) {
  const struct tf_train_state *s = &r->m.train;
  json_t *rec = json_pack("{s:I, s:I, s:I, s:I, s:I, s:f, s:f}", "steps",
                          (json_int_t)(s->step - r->first_step), "stage_step", (json_int_t)s->step,
                          "stage_steps", (json_int_t)r->cfg.train.steps, "lifetime_steps",
                          (json_int_t)s->lifetime_steps, "tokens", (json_int_t)s->tokens, "flops",
                          s->flops, "seconds", progress_now() - r->start);
  struct tf_run run = run_info(r);
  free(r->m.history);
  r->m.history = strdup(r->history);
  int rc = rec && r->m.history ? tf_model_add_run(&r->m, &run, rec, err)
                               : tf_error_set(err, TF_ENOMEM, "out of memory");
  if (!rc) rc = tf_model_save(&r->m, r->a->output, TF_COMPRESS_HUFFMAN, err);
  if (!rc) progress_line(&r->p, "step %lld: saved %s", (long long)s->step, r->a->output);
  log_event(r, "save",
            rc ? json_pack("{s:s, s:s}", "path", r->a->output, "error", err->msg)
               : json_pack("{s:s}", "path", r->a->output));
  return rc;
}

/* Rank 0 writes; every rank learns whether it worked, so none waits on a failed one. */
static int save(struct run *r, struct tf_error *err) {
  int rc = r->dist.rank == 0 ? save_here(r, err) : TF_OK;
  if (tf_dist_any(&r->dist, rc != TF_OK) && rc == TF_OK)
    rc = tf_error_set(err, TF_EIO, "rank %d: rank 0 could not save %s", r->dist.rank, r->a->output);
  return rc;
}

/* A periodic save that fails to write is said and training goes on: the next save (the
 * final one included, whose failure ends the run non-zero) tries again. */
static int save_periodic(struct run *r, struct tf_error *err) {
  int rc = save(r, err);
  if (rc != TF_EIO && rc != TF_ECANTCREAT) return rc;
  if (r->dist.rank == 0) {
    fprintf(stderr, "%s: step %lld: ", r->c->prog, (long long)r->m.train.step);
    cli_put_message(stderr, err->msg);
    fputs("; training goes on, the next save tries again\n", stderr);
  }
  return TF_OK;
}

static int evaluate(struct run *r, struct tf_error *err) {
  struct tf_eval_result ev;
  int rc = tf_trainer_eval(r->t, &r->valid, &ev, err);
  if (rc) return rc;
  int64_t step = r->m.train.step;
  progress_line(&r->p, "step %lld: valid loss %.4f, %.4f bits per byte", (long long)step, ev.loss,
                ev.bits_per_byte);
  log_event(r, "eval",
            json_pack("{s:f, s:f, s:I}", "valid_loss", ev.loss, "valid_bits_per_byte",
                      ev.bits_per_byte, "valid_tokens", (json_int_t)ev.tokens));
  return TF_OK;
}

/* Before any work: rank 0 can create the output and opens the log; every rank learns. */
static int open_outputs(struct run *r, struct tf_error *err) {
  const char *log = r->cfg.train.log;
  int rc = TF_OK;
  if (r->dist.rank == 0) rc = tf_output_check(r->a->output, err);
  if (!rc && log[0] && r->dist.rank == 0 && !(r->log = fopen(log, "a"))) {
    tf_error_set(err, TF_ECANTCREAT, "%s: cannot open the log: %s", log, strerror(errno));
    rc = tf_config_blame(&r->cfg, "train.log", err);
  }
  if (tf_dist_any(&r->dist, rc != TF_OK) && rc == TF_OK)
    rc = tf_error_set(err, TF_ECANTCREAT, "rank %d: rank 0 cannot write its outputs", r->dist.rank);
  return rc;
}

/* Training or validation data as tokens of the model, checked against its vocabulary. */
static int open_data(struct run *r, struct tf_corpus *c, const char *key, const char *path,
                     struct tf_error *err) {
  int rc = tf_corpus_open_with(c, path, r->m.tok, 0, 0, err);
  if (rc == TF_ENOINPUT) return tf_config_blame(&r->cfg, key, err);
  if (!rc && (rc = tf_corpus_check_model(c, &r->m, err))) tf_corpus_close(c);
  return rc;
}

/* Whether the run reads the validation text. */
static int reads_valid(const struct tf_train_config *tc) {
  return tc->valid[0] && tc->eval_every > 0 && tc->eval_batches > 0;
}

/* Before any work: stdin feeds one of the config, the checkpoint, the training and the
 * validation text (-c and -i were checked as options). */
static int check_stdin(const struct run *r, struct tf_error *err) {
  const struct tf_train_config *tc = &r->cfg.train;
  int rc = cli_stdin_key(r->c, &r->cfg, "train.data", tc->data, err);
  if (!rc && reads_valid(tc)) rc = cli_stdin_key(r->c, &r->cfg, "train.valid", tc->valid, err);
  return rc;
}

static int open_inputs(struct run *r, struct tf_error *err) {
  const struct tf_train_config *tc = &r->cfg.train;
  int with_valid = reads_valid(tc), rc;
  if (!tc->data[0]) return tf_error_set(err, TF_ECONFIG, "train.data: no training text given");
  if ((rc = tf_model_load(&r->m, r->a->input, err))) return rc;
  r->has_model = 1;
  if (r->dist.rank == 0) cli_warn_model_ignored(r->c, &r->cfg.model, &r->m, r->a->config);
  if ((rc = open_data(r, &r->data, "train.data", tc->data, err))) return rc;
  r->has_data = 1;
  if ((rc = tf_corpus_check_window(&r->data, r->m.cfg.seq_len, err))) return rc;
  if (with_valid) {
    if ((rc = open_data(r, &r->valid, "train.valid", tc->valid, err))) return rc;
    r->has_valid = 1;
    if (r->valid.n < 2) /* as tf-eval: a loss over no tokens would read as 0 */
      return tf_error_set(err, TF_EDATA, "%s: %zu %s, nothing to predict", r->valid.path,
                          r->valid.n, tf_corpus_unit(&r->valid));
  }
  r->history = strdup(r->m.history);
  return TF_OK;
}

static int step_once(struct run *r, struct tf_error *err) {
  struct tf_step_stats st;
  double t0 = progress_now();
  int rc = tf_trainer_step(r->t, &r->data, &r->dist, &st, err);
  if (rc) return rc;
  double dt = progress_now() - t0;
  const struct tf_train_state *s = &r->m.train;
  char status[128];
  snprintf(status, sizeof status, "loss %.4f lr %.2e %.0f tok/s", st.loss, st.lr,
           (double)st.tokens / dt);
  progress_update(&r->p, s->step, r->cfg.train.steps, r->first_step, status);
  log_event(r, "step",
            json_pack("{s:f, s:f, s:f, s:I, s:f, s:f}", "loss", st.loss, "lr", st.lr, "grad_norm",
                      st.grad_norm, "tokens", (json_int_t)s->tokens, "tokens_per_s",
                      (double)st.tokens / dt, "elapsed", progress_now() - r->start));
  return TF_OK;
}

/* A data file shrank under a step or an evaluation: the model is as the last whole step left
 * it; that is saved, and the change reported (exit 74). */
static int save_after_change(struct run *r, struct tf_error *err) {
  struct tf_error save_err = {0};
  if (save(r, &save_err)) cli_fail(r->c, &save_err);
  return err->code;
}

/* s on f, quoted for a POSIX shell when it holds anything but [A-Za-z0-9_./=+,:@%-]. */
static void put_shell_word(FILE *f, const char *s) {
  if (*s && strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_./=+,:@%-") ==
                strlen(s)) {
    fputs(s, f);
    return;
  }
  fputc('\'', f);
  for (; *s; s++) fputs(*s == '\'' ? "'\\''" : (char[]){*s, 0}, f);
  fputc('\'', f);
}

/* What resumes the run: the same command, when it reads what it writes; else the command
 * with the output as its input. */
static void resume_hint(const struct train_args *a, char *buf, size_t n) {
  if (strcmp(a->output, "-") == 0) {
    snprintf(buf, n, "resume from the checkpoint written to stdout, given as -i");
    return;
  }
  if (strcmp(a->input, a->output) == 0) {
    snprintf(buf, n, "run the same command to resume");
    return;
  }
  FILE *f = fmemopen(buf, n, "w");
  if (!f) {
    snprintf(buf, n, "resume with -i %s", a->output);
    return;
  }
  fputs("resume with: tf-train", f);
  for (int k = 1; k < a->argc; k++) {
    const char *arg = a->argv[k];
    size_t len = strlen(arg);
    fputc(' ', f);
    if (a->input == arg) { /* -i FILE, --input FILE */
      put_shell_word(f, a->output);
    } else if (a->input > arg && a->input < arg + len) { /* -iFILE, --input=FILE */
      fprintf(f, "%.*s", (int)(a->input - arg), arg);
      put_shell_word(f, a->output);
    } else {
      put_shell_word(f, arg);
    }
  }
  fclose(f);
}

/* Trains until the stage ends, --stop-at, or a signal; saves where the config says. */
static int train_loop(struct run *r, struct tf_error *err) {
  const struct tf_train_config *tc = &r->cfg.train;
  struct tf_train_state *s = &r->m.train;
  int64_t end = tc->steps;
  if (r->a->stop_at >= 0 && r->a->stop_at < end) end = r->a->stop_at;
  int to_stdout = strcmp(r->a->output, "-") == 0, rc = TF_OK;
  while (!rc && s->step < end && !tf_dist_any(&r->dist, stop_signal != 0)) {
    rc = step_once(r, err);
    if (!rc && tc->eval_every > 0 && s->step % tc->eval_every == 0 &&
        !tf_dist_same(&r->dist, r->m.params, r->m.n_params))
      rc = tf_error_set(err, TF_EDATA, "step %lld: the ranks' parameters diverged",
                        (long long)s->step);
    if (!rc && r->has_valid && s->step % tc->eval_every == 0) rc = evaluate(r, err);
    if (!rc && !to_stdout && tc->save_every > 0 && s->step % tc->save_every == 0 && s->step < end)
      rc = save_periodic(r, err);
  }
  progress_end(&r->p);
  if (!rc && s->step < end)
    log_event(r, "signal",
              json_pack("{s:s}", "signal",
                        stop_signal ? strsignal(stop_signal) : "received by another rank"));
  if (rc == TF_EIO && tf_corpus_changed(&r->data, NULL)) return save_after_change(r, err);
  if (rc) return rc;
  if ((rc = save(r, err))) return rc;
  if (s->step < end) { /* the loop ended on a signal, here or on another rank */
    char hint[400];
    resume_hint(r->a, hint, sizeof hint);
    return tf_error_set(err, TF_ESIGNAL, "stopped by a signal at step %lld after saving %s; %s",
                        (long long)s->step, r->a->output, hint);
  }
  return TF_OK;
}

/* The log's first record of a run: "start" (a stage from its step 0) or "resume", with the
 * run's provenance (tf_run_json), the model and where the run starts. */
static void log_start(struct run *r, int resumed) {
  struct tf_run run = run_info(r);
  json_t *j = tf_run_json(&run, NULL);
  char *model = tf_model_config_to_json(&r->m.cfg);
  json_t *mj = model ? json_loads(model, 0, NULL) : NULL;
  free(model);
  if (mj) json_object_set_new(mj, "parameters", json_integer((json_int_t)r->m.n_params));
  if (j) {
    json_object_set_new(j, "stage_steps", json_integer((json_int_t)r->cfg.train.steps));
    json_object_set_new(j, "model", mj ? mj : json_null());
  } else {
    json_decref(mj);
  }
  log_event(r, resumed ? "resume" : "start", j);
}

/* The log's last record: how the run ended ("complete", "stop-at", "signal", "error"). */
static void log_end(struct run *r, int rc, const struct tf_error *err) {
  const char *how = rc == TF_ESIGNAL                        ? "signal"
                    : rc                                    ? "error"
                    : r->m.train.step >= r->cfg.train.steps ? "complete"
                                                            : "stop-at";
  json_t *j = json_pack("{s:s, s:f}", "reason", how, "seconds", progress_now() - r->start);
  if (j && rc && rc != TF_ESIGNAL) json_object_set_new(j, "error", json_string(err->msg));
  log_event(r, "end", j);
}

/* What this run is, before the first step (rank 0, not with -q): the model, the data, the
 * global batch, ranks and threads, and where the stage starts; the progress lines then give
 * the time left. */
static void print_banner(const struct run *r) {
  const struct tf_model_config *mc = &r->m.cfg;
  const struct tf_train_config *tc = &r->cfg.train;
  const struct tf_train_state *s = &r->m.train;
  if (r->c->quiet || r->dist.rank != 0) return;
  const char *prog = r->c->prog;
  fprintf(stderr, "%s: model %s: %zu parameters, L%d d%d H%d, tokens %d/%d/%d, seq %d\n", prog,
          r->a->input, r->m.n_params, mc->n_layers, mc->d_model, mc->n_heads, mc->tokens[0],
          mc->tokens[1], mc->tokens[2], mc->seq_len);
  fprintf(stderr, "%s: data %s: %zu %ss", prog, r->data.path, r->data.n, tf_corpus_unit(&r->data));
  if (r->has_valid) fprintf(stderr, "; valid %s every %d steps", r->valid.path, tc->eval_every);
  long long global = (long long)tc->batch * tc->grad_accum * r->dist.n_ranks;
  fprintf(stderr,
          "\n%s: global batch %lld windows of %d = %lld tokens a step (train.batch %d x "
          "grad_accum %d x %d rank%s); %d thread%s a rank\n",
          prog, global, mc->seq_len, global * mc->seq_len, tc->batch, tc->grad_accum,
          r->dist.n_ranks, r->dist.n_ranks > 1 ? "s" : "", omp_get_max_threads(),
          omp_get_max_threads() > 1 ? "s" : "");
  long long end = r->a->stop_at >= 0 && r->a->stop_at < tc->steps ? r->a->stop_at : tc->steps;
  fprintf(stderr, "%s: this run: stage step %lld to %lld of %lld; ", prog, (long long)s->step, end,
          (long long)tc->steps);
  if (s->step > 0)
    fprintf(stderr, "resuming at lifetime step %lld (%lld tokens)\n", (long long)s->lifetime_steps,
            (long long)s->tokens);
  else
    fprintf(stderr, "a new stage%s\n", s->lifetime_steps ? "" : " of a new model");
}

static int run_training(struct run *r, struct tf_error *err) {
  int rc = check_stdin(r, err);
  if (!rc) rc = open_outputs(r, err);
  if (!rc) rc = open_inputs(r, err);
  if (rc) return rc;
  struct tf_train_state *s = &r->m.train;
  int resumed = !r->a->new_stage && s->present && s->step > 0;
  if (!r->a->new_stage && s->present) {
    int64_t steps = s->has_schedule ? s->stage_steps : r->cfg.train.steps;
    if (s->step >= steps && !r->a->reschedule) {
      cli_note(r->c,
               "%s: stage already complete (%lld/%lld steps); nothing written (--new-stage "
               "starts another, --reschedule lengthens this one)",
               r->a->input, (long long)s->step, (long long)steps);
      return TF_OK;
    }
    if ((rc = tf_trainer_check_schedule(&r->m, &r->cfg.train, r->a->reschedule, err))) return rc;
  }
  if ((rc = tf_trainer_create(&r->t, &r->m, &r->cfg.train, r->a->new_stage, r->dist.rank,
                              r->dist.n_ranks, err)))
    return rc;
  r->first_step = s->step;
  print_banner(r);
  r->start = progress_now();
  progress_init(&r->p, r->c->prog, r->c->quiet || r->dist.rank != 0,
                r->cfg.train.eval_every > 0 ? r->cfg.train.eval_every : 100);
  if (r->a->stop_at >= 0 && r->a->stop_at < r->cfg.train.steps) r->p.until = r->a->stop_at;
  log_start(r, resumed);
  rc = train_loop(r, err);
  log_end(r, rc, err);
  return rc;
}

static void close_run(struct run *r) {
  tf_trainer_free(r->t);
  if (r->has_model) tf_model_free(&r->m);
  if (r->has_data) tf_corpus_close(&r->data);
  if (r->has_valid) tf_corpus_close(&r->valid);
  if (r->log) fclose(r->log);
  r->log = NULL;
  free(r->history);
}

int main(int argc, char **argv) {
  struct cli c;
  struct train_args a = {0};
  struct run r = {0};
  struct tf_error err = {0};
  cli_init(&c, "tf-train", usage, CLI_QUIET | CLI_THREADS | CLI_CONFIG | CLI_OUTPUT);
  if (tf_dist_init(&r.dist, &argc, &argv, &err)) return cli_fail(&c, &err);
  install_signals(); /* before anything slow: a signal while loading stops the run too */
  int rc = parse_args(&c, &a, argc, argv);
  a.argc = argc;
  a.argv = argv;
  if (rc || c.done) goto out;
  r.c = &c;
  r.a = &a;
  if ((rc = load_config(&c, &r.cfg, &a, &err)) ||
      (a.print_config ? (rc = cli_print_config(&r.cfg, a.input, &err))
                      : (rc = run_training(&r, &err))))
    rc = r.dist.rank == 0 || rc != TF_ESIGNAL ? cli_fail(&c, &err) : rc;
  else if ((rc = log_close(&r, &err)))
    rc = cli_fail(&c, &err);
  close_run(&r);
out:
  cli_free(&c);
  tf_dist_finalize(&r.dist);
  return cli_finish(&c, rc);
}
