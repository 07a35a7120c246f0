/* tasks_text.c: the few Python string operations lm-evaluation-harness applies to task text
 * (strip, rstrip, capitalize, len, hellaswag's bracket removal), on UTF-8 bytes. Case mapping
 * comes from utf8proc. */
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "tasks_internal.h"

int tf_text_append(struct tf_text *t, const char *s, size_t n) {
  if (t->cap - t->n <= n) {
    size_t cap = t->cap ? t->cap : 64;
    while (cap - t->n <= n) cap *= 2;
    char *p = realloc(t->s, cap);
    if (!p) return TF_ENOMEM;
    t->s = p;
    t->cap = cap;
  }
  memcpy(t->s + t->n, s, n);
  t->n += n;
  t->s[t->n] = '\0';
  return TF_OK;
}

int tf_text_set(struct tf_text *t, const char *s, size_t n) {
  t->n = 0;
  return tf_text_append(t, s, n);
}

void tf_text_free(struct tf_text *t) {
  free(t->s);
  memset(t, 0, sizeof *t);
}

size_t tf_text_codepoints(const char *s, size_t n) {
  size_t k = 0;
  for (size_t i = 0; i < n; i++) k += ((unsigned char)s[i] & 0xC0) != 0x80;
  return k;
}

/* Python's whitespace: bidirectional class WS, B or S, or category Zs. */
int tf_text_isspace(int32_t c) {
  if ((c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20)) return 1;
  if (c == 0x85 || c == 0xA0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200A)) return 1;
  return c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

/* The code point at s (n bytes left) and its length in bytes; invalid bytes are one-byte
 * non-space code points (the text came through a JSON reader: it is valid). */
static int32_t next_cp(const char *s, size_t n, size_t *len) {
  utf8proc_int32_t c;
  utf8proc_ssize_t k = utf8proc_iterate((const utf8proc_uint8_t *)s, (utf8proc_ssize_t)n, &c);
  if (k <= 0) {
    *len = 1;
    return -1;
  }
  *len = (size_t)k;
  return c;
}

size_t tf_text_rstrip_len(const char *s, size_t n) {
  while (n > 0) {
    size_t start = n - 1, len;
    while (start > 0 && ((unsigned char)s[start] & 0xC0) == 0x80) start--;
    if (!tf_text_isspace(next_cp(s + start, n - start, &len))) break;
    n = start;
  }
  return n;
}

size_t tf_text_strip(const char *s, size_t n, size_t *start) {
  size_t i = 0, len;
  while (i < n && tf_text_isspace(next_cp(s + i, n - i, &len))) i += len;
  *start = i;
  return tf_text_rstrip_len(s + i, n - i);
}

static int append_cp(struct tf_text *out, int32_t c) {
  utf8proc_uint8_t buf[4];
  utf8proc_ssize_t k = utf8proc_encode_char(c, buf);
  return tf_text_append(out, (const char *)buf, (size_t)k);
}

/* capitalize: the first code point in title case, the rest in lower case. utf8proc's simple
 * mappings, plus the one full lower-case mapping of more than one code point (U+0130 ->
 * "i" U+0307); Python's other special cases (final sigma, a first ß or ligature) are not
 * made (tf-eval(1), BUGS). */
int tf_text_capitalize(struct tf_text *out, const char *s, size_t n) {
  size_t i = 0, len;
  int rc = TF_OK;
  for (int first = 1; !rc && i < n; first = 0, i += len) {
    int32_t c = next_cp(s + i, n - i, &len);
    if (c < 0)
      rc = tf_text_append(out, s + i, 1);
    else if (first)
      rc = append_cp(out, utf8proc_totitle(c));
    else if (c == 0x130)
      rc = tf_text_append(out, "i\xCC\x87", 3);
    else
      rc = append_cp(out, utf8proc_tolower(c));
  }
  return rc;
}

/* Appends s with every occurrence of `from` replaced by `to`, left to right, not
 * overlapping (Python's str.replace). */
static int replace_all(struct tf_text *out, const char *s, size_t n, const char *from,
                       const char *to) {
  size_t lf = strlen(from), lt = strlen(to), i = 0;
  int rc = TF_OK;
  while (!rc && i < n) {
    if (n - i >= lf && memcmp(s + i, from, lf) == 0) {
      rc = tf_text_append(out, to, lt);
      i += lf;
    } else {
      rc = tf_text_append(out, s + i, 1);
      i++;
    }
  }
  return rc;
}

/* Removes every shortest "[...]" span without a newline (the regex \[.*?\] of Python's re,
 * where "." matches anything but "\n"), scanning left to right. */
static int drop_brackets(struct tf_text *out, const char *s, size_t n) {
  size_t i = 0;
  int rc = TF_OK;
  while (!rc && i < n) {
    if (s[i] == '[') {
      size_t j = i + 1;
      while (j < n && s[j] != ']' && s[j] != '\n') j++;
      if (j < n && s[j] == ']') {
        i = j + 1;
        continue;
      }
    }
    rc = tf_text_append(out, s + i, 1);
    i++;
  }
  return rc;
}

/* hellaswag's preprocess: strip, " [title]" -> ". ", drop "[...]" spans, "  " -> " " (one
 * pass, as str.replace). */
int tf_text_hellaswag(struct tf_text *out, const char *s, size_t n) {
  struct tf_text a = {0}, b = {0};
  size_t start, len = tf_text_strip(s, n, &start);
  out->n = 0;
  int rc = replace_all(&a, s + start, len, " [title]", ". ");
  if (!rc) rc = drop_brackets(&b, a.s ? a.s : "", a.n);
  if (!rc) rc = tf_text_append(out, "", 0);
  if (!rc) rc = replace_all(out, b.s ? b.s : "", b.n, "  ", " ");
  tf_text_free(&a);
  tf_text_free(&b);
  return rc;
}
