/* outcheck.c: before a command does any work, whether it will be able to write its output:
 * a file created and removed beside it, as the atomic write (tf_ckpt_write) will need. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tokenformer.h"

/* A file created in dir and removed at once: errno of the failure, else 0. */
static int try_create(const char *dir, const char *base) {
  size_t n = strlen(dir) + strlen(base) + 24;
  char *tmp = malloc(n);
  if (!tmp) return ENOMEM;
  snprintf(tmp, n, "%s/.%s.check.XXXXXX", dir, base);
  int fd = mkstemp(tmp), e = fd < 0 ? errno : 0;
  if (fd >= 0) {
    close(fd);
    unlink(tmp);
  }
  free(tmp);
  return e;
}

int tf_output_check(const char *path, struct tf_error *err) {
  struct stat st;
  if (!strcmp(path, "-")) return TF_OK;
  if (!*path) return tf_error_set(err, TF_ECANTCREAT, "cannot create a file with an empty name");
  if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
    return tf_error_set(err, TF_ECANTCREAT, "%s: is a directory", path);
  if (stat(path, &st) == 0 && !S_ISREG(st.st_mode)) /* a device or FIFO: written in place */
    return access(path, W_OK) == 0
               ? TF_OK
               : tf_error_set(err, TF_ECANTCREAT, "%s: cannot write: %s", path, strerror(errno));
  char *real = realpath(path, NULL); /* a link to a file: the file's directory is written */
  const char *p = real ? real : path, *slash = strrchr(p, '/');
  char *dir = slash ? strndup(p, slash == p ? 1 : (size_t)(slash - p)) : strdup(".");
  int e = dir ? try_create(dir, slash ? slash + 1 : p) : ENOMEM;
  int rc = TF_OK;
  if (e == ENOMEM)
    rc = tf_error_set(err, TF_ENOMEM, "out of memory");
  else if (e)
    rc = tf_error_set(err, e == ENOSPC || e == EDQUOT ? TF_EIO : TF_ECANTCREAT,
                      "%s: cannot create a temporary file in %s: %s", path, dir, strerror(e));
  free(dir);
  free(real);
  return rc;
}
