/* err.c: status codes and the one error message a failure carries. No I/O here. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "tokenformer.h"

int tf_error_set(struct tf_error *err, int code, const char *fmt, ...) {
  if (!err) return code;
  err->code = code;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err->msg, sizeof err->msg, fmt, ap);
  va_end(ap);
  return code;
}

int tf_error_prefix(struct tf_error *err, const char *fmt, ...) {
  if (!err) return TF_OK;
  char prefix[sizeof err->msg], old[sizeof err->msg];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(prefix, sizeof prefix, fmt, ap);
  va_end(ap);
  memcpy(old, err->msg, sizeof old);
  snprintf(err->msg, sizeof err->msg, "%s: %s", prefix, old);
  return err->code;
}
