/* sha256.c: SHA-256 (nettle) as the lower-case hex the checkpoint stores: the tokenizer's
 * hash, the history's config and data files, tf-convert's source file. */
#include <errno.h>
#include <nettle/sha2.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "tokenformer.h"
#include "sha256.h"

#define PIECE (1u << 20) /* bytes read at a time from a file */

static void hex_digest(struct sha256_ctx *ctx, char hex[TF_SHA256_HEX]) {
  uint8_t digest[SHA256_DIGEST_SIZE];
  sha256_digest(ctx, sizeof digest, digest);
  for (int i = 0; i < SHA256_DIGEST_SIZE; i++) snprintf(hex + 2 * i, 3, "%02x", digest[i]);
}

void tf_sha256_hex(const void *p, size_t n, char hex[TF_SHA256_HEX]) {
  struct sha256_ctx ctx;
  sha256_init(&ctx);
  sha256_update(&ctx, n, p);
  hex_digest(&ctx, hex);
}

int tf_sha256_fd(int fd, uint64_t limit, const atomic_int *stop, uint64_t *bytes,
                 char hex[TF_SHA256_HEX]) {
  struct sha256_ctx ctx;
  unsigned char *buf = malloc(PIECE);
  int e = 0;
  if (!buf) return ENOMEM;
  sha256_init(&ctx);
  *bytes = 0;
  for (;;) {
    size_t want = PIECE;
    if (limit && limit - *bytes < want) want = (size_t)(limit - *bytes);
    if (want == 0) break;
    if (stop && atomic_load_explicit(stop, memory_order_relaxed)) {
      e = ECANCELED;
      break;
    }
    ssize_t got = read(fd, buf, want);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) {
      e = errno;
      break;
    }
    if (got == 0) break;
    sha256_update(&ctx, (size_t)got, buf);
    *bytes += (uint64_t)got;
  }
  free(buf);
  if (!e) hex_digest(&ctx, hex);
  return e;
}
