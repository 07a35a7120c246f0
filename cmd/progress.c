/* progress.c: TTY progress bar or plain periodic lines on stderr (see progress.h). */
#include <stdarg.h>
#include <stdio.h>
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

void progress_update(struct progress *p, int64_t step, int64_t steps, int64_t first_step,
                     const char *status) {
  if (p->quiet) return;
  double now = progress_now();
  int last = step >= steps;
  if (!p->tty) {
    if (step % p->every == 0 || last)
      fprintf(stderr, "%s: step %lld/%lld %s\n", p->prog, (long long)step, (long long)steps,
              status);
    return;
  }
  if (!last && now - p->last < 1.0 / 6) return; /* at most 6 redraws a second */
  p->last = now;
  double done = steps > 0 ? (double)step / (double)steps : 1;
  double rate = (double)(step - first_step) / (now - p->start + 1e-9);
  char eta[32] = "?";
  if (rate > 0) format_eta(eta, sizeof eta, (double)(steps - step) / rate);
  char bar[21];
  int fill = (int)(done * 20);
  for (int i = 0; i < 20; i++) bar[i] = i < fill ? '#' : '.';
  bar[20] = '\0';
  fprintf(stderr, "\r\033[K[%s] %lld/%lld %s eta %s", bar, (long long)step, (long long)steps,
          status, eta);
  p->drawn = 1;
}

void progress_line(struct progress *p, const char *fmt, ...) {
  if (p->quiet) return;
  clear_bar(p);
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "%s: ", p->prog);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
}

void progress_end(struct progress *p) {
  if (p->quiet) return;
  if (p->drawn) fputc('\n', stderr);
  p->drawn = 0;
}
