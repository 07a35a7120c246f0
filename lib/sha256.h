/* sha256.h: SHA-256 as the lower-case hex the checkpoint and the history store (sha256.c).
 * Internal to the library and its tests. */
#ifndef TF_SHA256_H
#define TF_SHA256_H

#include <stdatomic.h>

#include "tokenformer.h"

/* SHA-256 as lower-case hex (lib/sha256.c): of n bytes, or of what fd reads, at most limit
 * bytes (0: to its end; *bytes says how many were hashed). tf_sha256_fd returns 0 or an errno:
 * ECANCELED when *stop (NULL: never) was found set, which it looks at before each 1 MiB
 * piece, so that another thread stops a long hash at once (hex is then not written). */
void tf_sha256_hex(const void *p, size_t n, char hex[TF_SHA256_HEX]);
int tf_sha256_fd(int fd, uint64_t limit, const atomic_int *stop, uint64_t *bytes,
                 char hex[TF_SHA256_HEX]);

#endif
