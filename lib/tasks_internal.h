/* tasks_internal.h: what the task modules share: Python's string operations on UTF-8 text as
 * the harness applies them (tasks_text.c), and the building of one task's requests
 * (tasks.c) for the encoder and scorer (tasks_score.c). */
#ifndef TF_TASKS_INTERNAL_H
#define TF_TASKS_INTERNAL_H

#include "tokenformer.h"

/* A growable NUL-terminated byte string. */
struct tf_text {
  char *s;
  size_t n, cap;
};
int tf_text_append(struct tf_text *t, const char *s, size_t n); /* TF_ENOMEM */
int tf_text_set(struct tf_text *t, const char *s, size_t n);
void tf_text_free(struct tf_text *t);

/* Python's len: code points of valid UTF-8 s (n bytes). */
size_t tf_text_codepoints(const char *s, size_t n);
/* Python's str.isspace for one code point. */
int tf_text_isspace(int32_t c);
/* Bytes of s left after Python's rstrip() (trailing whitespace). */
size_t tf_text_rstrip_len(const char *s, size_t n);
/* Python's strip(): *start and the length of what remains. */
size_t tf_text_strip(const char *s, size_t n, size_t *start);
/* Appends Python's s.capitalize() to out. */
int tf_text_capitalize(struct tf_text *out, const char *s, size_t n);
/* The harness's hellaswag preprocess of s into out (replaced). */
int tf_text_hellaswag(struct tf_text *out, const char *s, size_t n);

#endif
