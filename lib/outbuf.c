/* outbuf.c: large sequential output (checkpoints, torch.save files; docs/official.md §7)
 * through two aligned buffers of OUT_BUF bytes, written with O_DIRECT where the file takes it:
 * the bytes go from a buffer to the disk without a copy into freshly allocated page-cache
 * pages, which cost more processor time than everything else a conversion does, and a thread
 * of the writer's own writes one buffer while the other fills, so that the disk and the
 * processor work at once. Pipes, devices and filesystems that refuse O_DIRECT get the same
 * bytes through ordinary writes, in the caller's thread. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "st_internal.h"

#define OUT_BUF   (4u << 20) /* bytes written at once; a multiple of OUT_ALIGN */
#define OUT_ALIGN 4096u      /* buffer address, file offset and length of a direct write */
#define WRITE_MAX (1u << 30) /* largest piece given to write() at once */

/* The background writer: one buffer at a time, handed over under the mutex. */
struct tf_outbuf_job {
  pthread_t thread;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  const unsigned char *p; /* the buffer being written (busy) */
  size_t n;
  int busy, quit, rc;
  struct tf_error err;
};

int tf_write_all(int fd, const char *name, const void *p, size_t n, struct tf_error *err) {
  const char *c = p;
  while (n) {
    ssize_t w = write(fd, c, n < WRITE_MAX ? n : WRITE_MAX);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0)
      return tf_error_set(err, TF_EIO, "%s: write failed: %s", name,
                          w < 0 ? strerror(errno) : "no progress");
    c += w;
    n -= (size_t)w;
  }
  return TF_OK;
}

/* O_DIRECT on fd when it is a regular file at an aligned offset, opened without O_APPEND;
 * returns whether it is on. */
static int go_direct(int fd) {
  struct stat st;
  int fl = fcntl(fd, F_GETFL);
  off_t at = lseek(fd, 0, SEEK_CUR);
  if (fl < 0 || (fl & O_APPEND) || fstat(fd, &st) || !S_ISREG(st.st_mode) || at < 0 ||
      at % OUT_ALIGN)
    return 0;
  return fcntl(fd, F_SETFL, fl | O_DIRECT) == 0;
}

/* Back to ordinary writes (the file's other users see the flags they had). */
static void go_buffered(struct tf_outbuf *o) {
  int fl = fcntl(o->fd, F_GETFL);
  if (fl >= 0) fcntl(o->fd, F_SETFL, fl & ~O_DIRECT);
  o->direct = 0;
}

/* Writes n bytes at p. A direct write the filesystem refuses (EINVAL: an alignment it does
 * not take) or cuts short is finished the ordinary way, and so is everything after it. */
static int put_out(struct tf_outbuf *o, const unsigned char *p, size_t n, struct tf_error *err) {
  size_t done = 0;
  while (o->direct && done < n) {
    ssize_t w = write(o->fd, p + done, n - done);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0 && errno != EINVAL)
      return tf_error_set(err, TF_EIO, "%s: write failed: %s", o->name, strerror(errno));
    if (w <= 0 || (size_t)w % OUT_ALIGN) go_buffered(o);
    if (w > 0) done += (size_t)w;
  }
  return tf_write_all(o->fd, o->name, p + done, n - done, err);
}

static void *writer_main(void *arg) {
  struct tf_outbuf *o = arg;
  struct tf_outbuf_job *j = o->job;
  pthread_mutex_lock(&j->mu);
  for (;;) {
    while (!j->busy && !j->quit) pthread_cond_wait(&j->cv, &j->mu);
    if (!j->busy) break;
    pthread_mutex_unlock(&j->mu);
    int rc = put_out(o, j->p, j->n, &j->err);
    pthread_mutex_lock(&j->mu);
    j->rc = rc;
    j->busy = 0;
    pthread_cond_broadcast(&j->cv);
  }
  pthread_mutex_unlock(&j->mu);
  return NULL;
}

/* The background writer, for direct output (no thread: the caller writes). */
static void start_writer(struct tf_outbuf *o) {
  struct tf_outbuf_job *j = calloc(1, sizeof *j);
  if (!j) return;
  pthread_mutex_init(&j->mu, NULL);
  pthread_cond_init(&j->cv, NULL);
  o->job = j;
  if (pthread_create(&j->thread, NULL, writer_main, o) == 0) return;
  pthread_mutex_destroy(&j->mu);
  pthread_cond_destroy(&j->cv);
  free(j);
  o->job = NULL;
}

/* Waits until the buffer in flight is written; the status of that write. */
static int wait_writer(struct tf_outbuf *o, struct tf_error *err) {
  struct tf_outbuf_job *j = o->job;
  if (!j) return TF_OK;
  pthread_mutex_lock(&j->mu);
  while (j->busy) pthread_cond_wait(&j->cv, &j->mu);
  int rc = j->rc;
  if (rc && err) *err = j->err;
  pthread_mutex_unlock(&j->mu);
  return rc;
}

int tf_outbuf_open(struct tf_outbuf *o, int fd, const char *name, struct tf_error *err) {
  memset(o, 0, sizeof *o);
  o->fd = fd;
  o->name = name;
  o->buf[0] = aligned_alloc(OUT_ALIGN, OUT_BUF);
  o->buf[1] = aligned_alloc(OUT_ALIGN, OUT_BUF);
  if (!o->buf[0] || !o->buf[1]) {
    tf_outbuf_free(o);
    return tf_error_set(err, TF_ENOMEM, "out of memory");
  }
  o->direct = go_direct(fd);
  if (o->direct) start_writer(o);
  return TF_OK;
}

/* Writes the current buffer's first n bytes, by the writer thread when there is one; the
 * rest moves to the start of the other buffer, which becomes the current one. */
static int drain(struct tf_outbuf *o, size_t n, struct tf_error *err) {
  int rc = wait_writer(o, err);
  unsigned char *full = o->buf[o->cur], *next = o->buf[!o->cur];
  memcpy(next, full + n, o->used - n);
  o->used -= n;
  o->cur = !o->cur;
  if (rc || !n) return rc;
  if (!o->job) return put_out(o, full, n, err);
  pthread_mutex_lock(&o->job->mu);
  o->job->p = full;
  o->job->n = n;
  o->job->busy = 1;
  pthread_cond_broadcast(&o->job->cv);
  pthread_mutex_unlock(&o->job->mu);
  return TF_OK;
}

int tf_outbuf_put(struct tf_outbuf *o, const void *p, size_t n, struct tf_error *err) {
  const unsigned char *c = p;
  while (n) {
    size_t k = OUT_BUF - o->used < n ? OUT_BUF - o->used : n;
    memcpy(o->buf[o->cur] + o->used, c, k);
    o->used += k;
    c += k;
    n -= k;
    if (o->used == OUT_BUF) {
      int rc = drain(o, OUT_BUF, err);
      if (rc) return rc;
    }
  }
  return TF_OK;
}

int tf_outbuf_close(struct tf_outbuf *o, struct tf_error *err) {
  int rc = TF_OK;
  if (o->buf[0]) {
    rc = drain(o, o->used / OUT_ALIGN * OUT_ALIGN, err);
    if (!rc) rc = wait_writer(o, err);
    if (o->direct) go_buffered(o); /* the tail, shorter than a block */
    if (!rc) rc = put_out(o, o->buf[o->cur], o->used, err);
  }
  tf_outbuf_free(o);
  return rc;
}

void tf_outbuf_free(struct tf_outbuf *o) {
  struct tf_outbuf_job *j = o->job;
  if (j) {
    pthread_mutex_lock(&j->mu);
    while (j->busy) pthread_cond_wait(&j->cv, &j->mu);
    j->quit = 1;
    pthread_cond_broadcast(&j->cv);
    pthread_mutex_unlock(&j->mu);
    pthread_join(j->thread, NULL);
    pthread_mutex_destroy(&j->mu);
    pthread_cond_destroy(&j->cv);
    free(j);
    o->job = NULL;
  }
  if (o->direct) go_buffered(o);
  free(o->buf[0]);
  free(o->buf[1]);
  memset(o->buf, 0, sizeof o->buf);
  o->used = 0;
}
