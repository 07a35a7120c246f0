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
  char prefix[sizeof err->msg];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(prefix, sizeof prefix, fmt, ap);
  va_end(ap);
  size_t lp = strlen(prefix), cap = sizeof err->msg;
  if (lp + 3 > cap) lp = cap - 3;
  size_t keep = strnlen(err->msg, cap - 1);
  if (keep > cap - lp - 3) keep = cap - lp - 3;
  memmove(err->msg + lp + 2, err->msg, keep);
  memcpy(err->msg, prefix, lp);
  err->msg[lp] = ':';
  err->msg[lp + 1] = ' ';
  err->msg[lp + 2 + keep] = '\0';
  return err->code;
}

int tf_error_name_file(struct tf_error *err, const char *path) {
  if (!err) return TF_OK;
  if (strncmp(err->msg, path, strlen(path)) != 0) tf_error_prefix(err, "%s", path);
  return err->code;
}

/* The one escaping rule of text shown on a terminal: C's \\ and \xHH. */
size_t tf_escape_byte(unsigned char c, unsigned flags, char out[5]) {
  if (c == '\\' && !(flags & TF_ESCAPE_KEEP_BACKSLASH)) return memcpy(out, "\\\\", 3), 2;
  if (c >= 0x20 && c < 0x7f) return out[0] = (char)c, out[1] = '\0', 1;
  return (size_t)snprintf(out, 5, "\\x%02x", c);
}

const char *tf_escape(char *out, size_t cap, const char *s, size_t n) {
  char e[5];
  size_t total = 0, o = 0, i = 0;
  for (size_t j = 0; j < n; j++) total += tf_escape_byte((unsigned char)s[j], 0, e);
  size_t room = total < cap ? cap : cap - 3; /* all of it, or what leaves room for "..." */
  for (; i < n; i++) {
    size_t k = tf_escape_byte((unsigned char)s[i], 0, e);
    if (o + k + 1 > room) break;
    memcpy(out + o, e, k);
    o += k;
  }
  strcpy(out + o, i < n ? "..." : "");
  return out;
}
