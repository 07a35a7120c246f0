/* progress.h: progress on stderr: a bar redrawn at most 6 times a second when stderr is a
 * terminal, cut to its width, otherwise a plain line every `every` calls with the UTC time and
 * the estimated time left; nothing when quiet. */
#ifndef TF_PROGRESS_H
#define TF_PROGRESS_H

#include <stdint.h>

struct progress {
  const char *prog;
  int tty, quiet;
  int64_t every;      /* plain mode: a line every this many steps */
  int64_t until;      /* the step the run ends at, for the time left (0: the last step) */
  double start, last; /* seconds (monotonic) */
  int drawn;          /* a bar is on the screen */
};

double progress_now(void); /* monotonic seconds */
void progress_init(struct progress *p, const char *prog, int quiet, int64_t every);
/* Reports step of steps with a one-line status (e.g. "loss 2.31 lr 6e-4 1234 tok/s"). */
void progress_update(struct progress *p, int64_t step, int64_t steps, int64_t first_step,
                     const char *status);
/* Prints a line of its own (an evaluation, a save), keeping the bar below it; in plain mode
 * with the UTC time. */
void progress_line(struct progress *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void progress_end(struct progress *p);

#endif
