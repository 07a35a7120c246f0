/* test_outbuf.c: the large-output writer (lib/outbuf.c): the same bytes whatever the pieces,
 * with O_DIRECT on a regular file at an aligned offset and ordinary writes elsewhere (an
 * unaligned start, O_APPEND, a pipe), the file's flags as they were afterwards. */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "st_internal.h"
#include "suite.h"

#define TOTAL ((9u << 20) + 4099u) /* two whole buffers, a partial one and a short tail */

static unsigned char *pattern(size_t n) {
  unsigned char *p = malloc(n);
  uint64_t x = 88172645463325252ull;
  for (size_t i = 0; i < n; i++) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    p[i] = (unsigned char)x;
  }
  return p;
}

/* Puts p[0, n) through o in pieces of growing, uneven sizes. */
static void put_in_pieces(struct tf_outbuf *o, const unsigned char *p, size_t n) {
  struct tf_error err = {0};
  for (size_t at = 0, k = 1; at < n; at += k, k = k * 3 + 7) {
    if (k > n - at) k = n - at;
    ck_assert_msg(tf_outbuf_put(o, p + at, k, &err) == TF_OK, "%s", err.msg);
  }
}

static unsigned char *slurp(const char *path, size_t *n) {
  struct stat st;
  ck_assert_int_eq(stat(path, &st), 0);
  *n = (size_t)st.st_size;
  unsigned char *p = malloc(*n + 1);
  int fd = open(path, O_RDONLY);
  ck_assert_int_ge(fd, 0);
  ck_assert_int_eq(read(fd, p, *n), (ssize_t)*n);
  close(fd);
  return p;
}

/* head bytes written by write() first (0: an aligned start), then TOTAL through the buffer. */
static void write_file(int extra_flags, size_t head, int expect_direct) {
  char path[4096];
  struct tf_error err = {0};
  tf_test_tmp_path(path, sizeof path, "tf_outbuf_XXXXXX");
  int fd = mkstemp(path);
  ck_assert_int_ge(fd, 0);
  if (extra_flags) ck_assert_int_eq(fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | extra_flags), 0);
  unsigned char *want = pattern(TOTAL + head);
  ck_assert_int_eq(write(fd, want, head), (ssize_t)head);
  int before = fcntl(fd, F_GETFL);
  struct tf_outbuf o;
  ck_assert_int_eq(tf_outbuf_open(&o, fd, path, &err), TF_OK);
  if (expect_direct >= 0) ck_assert_int_eq(o.direct, expect_direct);
  put_in_pieces(&o, want + head, TOTAL);
  ck_assert_msg(tf_outbuf_close(&o, &err) == TF_OK, "%s", err.msg);
  ck_assert_int_eq(fcntl(fd, F_GETFL), before);
  ck_assert_int_eq(lseek(fd, 0, SEEK_CUR), (off_t)(TOTAL + head)); /* at the end */
  close(fd);
  size_t n;
  unsigned char *got = slurp(path, &n);
  ck_assert_uint_eq(n, TOTAL + head);
  ck_assert(!memcmp(got, want, n));
  free(got);
  free(want);
  unlink(path);
}

START_TEST(a_regular_file_gets_the_same_bytes) {
  write_file(0, 0, -1); /* direct where the filesystem takes it */
}
END_TEST

START_TEST(an_unaligned_start_or_append_writes_the_ordinary_way) {
  write_file(0, 13, 0);
  write_file(O_APPEND, 0, 0);
}
END_TEST

START_TEST(a_pipe_gets_the_same_bytes) {
  int fds[2];
  struct tf_error err = {0};
  ck_assert_int_eq(pipe(fds), 0);
  const size_t n = 100000; /* more than a pipe holds: a child reads it */
  unsigned char *want = pattern(n);
  pid_t pid = fork();
  ck_assert_int_ge(pid, 0);
  if (pid == 0) {
    close(fds[1]);
    unsigned char *got = malloc(n);
    size_t have = 0;
    ssize_t r;
    while (have < n && (r = read(fds[0], got + have, n - have)) > 0) have += (size_t)r;
    _exit(have == n && read(fds[0], got, 1) == 0 && !memcmp(got, want, n) ? 0 : 1);
  }
  close(fds[0]);
  struct tf_outbuf o;
  ck_assert_int_eq(tf_outbuf_open(&o, fds[1], "pipe", &err), TF_OK);
  ck_assert_int_eq(o.direct, 0);
  put_in_pieces(&o, want, n);
  ck_assert_int_eq(tf_outbuf_close(&o, &err), TF_OK);
  close(fds[1]);
  int status;
  ck_assert_int_eq(waitpid(pid, &status, 0), pid);
  ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  free(want);
}
END_TEST

START_TEST(a_full_device_is_an_io_error) {
  int fd = open("/dev/full", O_WRONLY);
  if (fd < 0) return; /* no /dev/full here */
  struct tf_error err = {0};
  struct tf_outbuf o;
  unsigned char *p = pattern(TOTAL);
  ck_assert_int_eq(tf_outbuf_open(&o, fd, "/dev/full", &err), TF_OK);
  int rc = tf_outbuf_put(&o, p, TOTAL, &err);
  if (!rc) rc = tf_outbuf_close(&o, &err);
  tf_outbuf_free(&o);
  ck_assert_int_eq(rc, TF_EIO);
  ck_assert_ptr_nonnull(strstr(err.msg, "/dev/full: write failed"));
  close(fd);
  free(p);
}
END_TEST

static Suite *outbuf_suite(void) {
  Suite *s = suite_create("outbuf");
  TCase *tc = tcase_create("write");
  tcase_add_test(tc, a_regular_file_gets_the_same_bytes);
  tcase_add_test(tc, an_unaligned_start_or_append_writes_the_ordinary_way);
  tcase_add_test(tc, a_pipe_gets_the_same_bytes);
  tcase_add_test(tc, a_full_device_is_an_io_error);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  return tf_test_run(outbuf_suite());
}
