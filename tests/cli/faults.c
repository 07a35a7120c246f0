/* faults.c: an LD_PRELOAD library that makes system calls fail the way a full disk or an old
 * filesystem does, for tests/cli/test_failure.sh. Built by that script (cc -shared -fPIC).
 * Every behaviour is off unless its environment variable is set:
 *   TF_FAULT_DISK_BYTES=N   write() to files other than fds 0-2 fails with ENOSPC once the
 *                           process has written N bytes to them (the last write is partial)
 *   TF_FAULT_FSYNC=1        fsync() fails with EIO
 *   TF_FAULT_NO_TMPFILE=1   open() with O_TMPFILE fails with EOPNOTSUPP, as on NFS
 * The real calls go straight to the kernel (syscall(2)), so this works under ASan too. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

static long long env_ll(const char *name) {
  const char *s = getenv(name);
  return s && *s ? atoll(s) : -1;
}

ssize_t write(int fd, const void *buf, size_t n) {
  static long long written;
  long long limit = env_ll("TF_FAULT_DISK_BYTES");
  if (limit >= 0 && fd > 2) {
    if (written >= limit) {
      errno = ENOSPC;
      return -1;
    }
    if ((long long)n > limit - written) n = (size_t)(limit - written);
  }
  ssize_t w = syscall(SYS_write, fd, buf, n);
  if (w > 0 && fd > 2) written += w;
  return w;
}

int fsync(int fd) {
  if (env_ll("TF_FAULT_FSYNC") > 0) {
    errno = EIO;
    return -1;
  }
  return (int)syscall(SYS_fsync, fd);
}

static int open_common(int dirfd, const char *path, int flags, va_list ap) {
  mode_t mode = (flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE ? va_arg(ap, mode_t) : 0;
  if ((flags & O_TMPFILE) == O_TMPFILE && env_ll("TF_FAULT_NO_TMPFILE") > 0) {
    errno = EOPNOTSUPP;
    return -1;
  }
  return (int)syscall(SYS_openat, dirfd, path, flags, mode);
}

int open(const char *path, int flags, ...) {
  va_list ap;
  va_start(ap, flags);
  int fd = open_common(AT_FDCWD, path, flags, ap);
  va_end(ap);
  return fd;
}

int open64(const char *path, int flags, ...) {
  va_list ap;
  va_start(ap, flags);
  int fd = open_common(AT_FDCWD, path, flags, ap);
  va_end(ap);
  return fd;
}

int openat(int dirfd, const char *path, int flags, ...) {
  va_list ap;
  va_start(ap, flags);
  int fd = open_common(dirfd, path, flags, ap);
  va_end(ap);
  return fd;
}
