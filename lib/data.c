/* data.c: corpus files as byte tokens (mmap), training windows at random offsets, evaluation
 * windows in order. No model math, no training loop. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tokenformer.h"

static int read_all_stdin(struct tf_corpus *c, struct tf_error *err) {
  size_t cap = 1 << 20, n = 0;
  uint8_t *buf = malloc(cap);
  for (;;) {
    if (!buf) return tf_error_set(err, TF_ENOMEM, "<stdin>: out of memory");
    ssize_t got = read(STDIN_FILENO, buf + n, cap - n);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) {
      free(buf);
      return tf_error_set(err, TF_EIO, "<stdin>: read error: %s", strerror(errno));
    }
    if (got == 0) break;
    n += (size_t)got;
    if (n == cap) {
      uint8_t *bigger = realloc(buf, cap *= 2);
      if (!bigger) free(buf);
      buf = bigger;
    }
  }
  c->owned = buf;
  c->bytes = buf;
  c->n = n;
  return TF_OK;
}

static int map_file(struct tf_corpus *c, const char *path, struct tf_error *err) {
  int fd = open(path, O_RDONLY);
  if (fd < 0)
    return tf_error_set(err, errno == ENOENT || errno == EACCES ? TF_ENOINPUT : TF_EIO,
                        "%s: cannot open: %s", path, strerror(errno));
  struct stat st;
  if (fstat(fd, &st) != 0 || S_ISDIR(st.st_mode)) {
    close(fd);
    return tf_error_set(err, TF_ENOINPUT, "%s: is a directory, expected a text file", path);
  }
  c->n = (size_t)st.st_size;
  if (c->n > 0) {
    void *map = mmap(NULL, c->n, PROT_READ, MAP_PRIVATE, fd, 0);
    if (map == MAP_FAILED) {
      close(fd);
      return tf_error_set(err, TF_EIO, "%s: cannot map: %s", path, strerror(errno));
    }
    c->map = map;
    c->bytes = map;
  }
  close(fd);
  return TF_OK;
}

int tf_corpus_open(struct tf_corpus *c, const char *path, struct tf_error *err) {
  memset(c, 0, sizeof *c);
  int rc = strcmp(path, "-") == 0 ? read_all_stdin(c, err) : map_file(c, path, err);
  if (rc) return rc;
  c->path = strcmp(path, "-") == 0 ? "<stdin>" : path;
  if (c->n == 0) {
    tf_corpus_close(c);
    return tf_error_set(err, TF_EDATA, "%s: empty file, expected text", path);
  }
  return TF_OK;
}

void tf_corpus_close(struct tf_corpus *c) {
  if (c->map) munmap(c->map, c->n);
  free(c->owned);
  memset(c, 0, sizeof *c);
}

int tf_corpus_check_window(const struct tf_corpus *c, int T, struct tf_error *err) {
  if (c->n < (size_t)T + 1)
    return tf_error_set(err, TF_EDATA,
                        "%s: %zu bytes, shorter than one training window of %d bytes", c->path,
                        c->n, T + 1);
  return TF_OK;
}

/* Draws the global batch of n_ranks * B windows of T+1 bytes (one offset each, uniform in
 * [0, n - T - 1]) and keeps rank's B of them, so every rank's stream stays in step and N
 * ranks of batch B see exactly the windows of one process with batch N B. */
void tf_corpus_draw(const struct tf_corpus *c, struct tf_rng *rng, int B, int T, int rank,
                    int n_ranks, int32_t *inputs, int32_t *targets) {
  uint64_t span = (uint64_t)(c->n - (size_t)T);
  for (int r = 0; r < n_ranks; r++) {
    for (int b = 0; b < B; b++) {
      uint64_t off = tf_rng_next(rng) % span;
      if (r != rank) continue;
      const uint8_t *w = c->bytes + off;
      for (int t = 0; t < T; t++) {
        inputs[(size_t)b * T + t] = w[t];
        targets[(size_t)b * T + t] = w[t + 1];
      }
    }
  }
}
