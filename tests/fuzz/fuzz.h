/* fuzz.h: what the fuzz harnesses share: an input staged as a file the library opens by path
 * (a memfd made once per process and refilled by every run, or a temporary file where memfd
 * is missing), and the abort that turns a broken promise into a finding. Not a harness. */
#ifndef TF_FUZZ_H
#define TF_FUZZ_H

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "tokenformer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A broken promise of the library: say which, then abort (libFuzzer keeps the input). */
static inline __attribute__((noreturn, format(printf, 1, 2))) void fuzz_fail(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "fuzz: ");
  vfprintf(stderr, fmt, ap);
  fprintf(stderr, "\n");
  va_end(ap);
  abort();
}

struct fuzz_file {
  int fd;
  char path[64];
};

static struct fuzz_file *fuzz_temp_made; /* the temporary file to remove at exit */

static inline void fuzz_temp_remove(void) {
  unlink(fuzz_temp_made->path);
}

/* A file of its own for this process: a memfd named by /proc/self/fd, else a temporary file
 * removed at exit. */
static inline void fuzz_file_open(struct fuzz_file *f, const char *name) {
  f->fd = memfd_create(name, MFD_CLOEXEC);
  snprintf(f->path, sizeof f->path, "/proc/self/fd/%d", f->fd);
  if (f->fd >= 0 && access(f->path, R_OK) == 0) return;
  if (f->fd >= 0) close(f->fd);
  snprintf(f->path, sizeof f->path, "/tmp/tf-fuzz-%s.XXXXXX", name);
  if ((f->fd = mkstemp(f->path)) < 0) fuzz_fail("cannot create a file for the input");
  fuzz_temp_made = f;
  atexit(fuzz_temp_remove);
}

/* The file's content becomes the n bytes at p. */
static inline void fuzz_file_put(struct fuzz_file *f, const void *p, size_t n) {
  const char *c = p;
  if (ftruncate(f->fd, 0)) fuzz_fail("cannot truncate %s", f->path);
  for (size_t off = 0; off < n;) {
    ssize_t w = pwrite(f->fd, c + off, n - off, (off_t)off);
    if (w <= 0) fuzz_fail("cannot write %zu bytes to %s", n, f->path);
    off += (size_t)w;
  }
}

/* A failure must carry one of the codes allowed (a list ending in 0) and a message that
 * starts with prefix (the file's name, or "--set "). */
static inline void fuzz_check_error(int rc, const struct tf_error *err, const char *prefix,
                                    const int *allowed, const char *what) {
  if (rc == TF_OK) return;
  int known = 0;
  for (int i = 0; allowed[i]; i++) known |= rc == allowed[i];
  if (!known) fuzz_fail("%s: unexpected status %d: %s", what, rc, err->msg);
  if (err->code != rc) fuzz_fail("%s: returned %d, error says %d", what, rc, err->code);
  if (strncmp(err->msg, prefix, strlen(prefix)) != 0)
    fuzz_fail("%s: message does not start with \"%s\": %s", what, prefix, err->msg);
}

#endif
