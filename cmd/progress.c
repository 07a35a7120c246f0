/* progress.c: TTY progress bar or plain periodic lines on stderr (see progress.h). */
#include <stdarg.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "progress.h"

double progress_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

void progress_init(struct progress *p, const char *prog, int quiet, int64_t every) {
  p->prog = prog;
  p->quiet = quiet;
  p->tty = isatty(STDERR_FILENO);
  p->every = every > 0 ? every : 1;
  p->until = 0;
  p->start = p->last = progress_now();
  p->drawn = 0;
}

static void clear_bar(struct progress *p) {
  if (p->drawn) fputs("\r\033[K", stderr);
  p->drawn = 0;
}

static void format_eta(char *buf, size_t n, double seconds) {
  long s = (long)(seconds + 0.5);
  if (s >= 3600)
    snprintf(buf, n, "%ld:%02ld:%02ld", s / 3600, s / 60 % 60, s % 60);
  else
    snprintf(buf, n, "%ld:%02ld", s / 60, s % 60);
}

/* The terminal's width in columns (80 when it does not say). */
static int term_columns(void) {
  struct winsize ws;
  if (ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) return ws.ws_col;
  return 80;
}

/* "prog: " and, in plain mode, the UTC time: lines in a job's log say when they were written. */
static void put_prefix(const struct progress *p) {
  fprintf(stderr, "%s: ", p->prog);
  if (p->tty) return;
  char stamp[32];
  time_t t = time(NULL);
  strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%SZ ", gmtime(&t));
  fputs(stamp, stderr);
}

void progress_update(struct progress *p, int64_t step, int64_t steps, int64_t first_step,
                     const char *status) {
  if (p->quiet) return;
  double now = progress_now();
  int last = step >= steps || (p->until > 0 && step >= p->until);
  if (p->tty ? !last && now - p->last < 1.0 / 6 /* at most 6 redraws a second */
             : step % p->every != 0 && !last)
    return;
  p->last = now;
  double done = steps > 0 ? (double)step / (double)steps : 1;
  double rate = (double)(step - first_step) / (now - p->start + 1e-9);
  char eta[32] = "?";
  int64_t until = p->until > 0 && p->until < steps ? p->until : steps;
  if (rate > 0) format_eta(eta, sizeof eta, (double)(until - step) / rate);
  if (!p->tty) {
    put_prefix(p);
    fprintf(stderr, "step %lld/%lld %s eta %s\n", (long long)step, (long long)steps, status, eta);
    return;
  }
  char bar[21], line[512];
  int fill = (int)(done * 20), cols = term_columns() - 1;
  for (int i = 0; i < 20; i++) bar[i] = i < fill ? '#' : '.';
  bar[20] = '\0';
  int n = snprintf(line, sizeof line, "%lld/%lld %s eta %s", (long long)step, (long long)steps,
                   status, eta);
  /* within the terminal's width, so that the line never wraps (a wrapped line is not redrawn
   * in place): the bar when it fits, the rest cut if need be (ASCII, a byte a column) */
  if (n + 23 <= cols)
    fprintf(stderr, "\r\033[K[%s] %s", bar, line);
  else
    fprintf(stderr, "\r\033[K%.*s", cols, line);
  p->drawn = 1;
}

void progress_line(struct progress *p, const char *fmt, ...) {
  if (p->quiet) return;
  clear_bar(p);
  va_list ap;
  va_start(ap, fmt);
  put_prefix(p);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
}

void progress_end(struct progress *p) {
  if (p->quiet) return;
  if (p->drawn) fputc('\n', stderr);
  p->drawn = 0;
}
