/* gzcheck.c: a gzip member's trailer (CRC-32 and length of its content) checked outside zlib,
 * whose own check is turned off (inflateValidate), so that the CRC-32 is ISA-L's, about 5x
 * zlib's (docs/official.md §7: it was a fifth of reading a model). */
#include <string.h>

#include "st_internal.h"

void tf_gz_check_step(struct tf_gz_check *c, const unsigned char *in, size_t n_in,
                      const unsigned char *out, size_t n_out) {
  c->crc = tf_crc32(c->crc, out, n_out);
  c->total += n_out;
  if (n_in >= sizeof c->tail) {
    memcpy(c->tail, in + n_in - sizeof c->tail, sizeof c->tail);
  } else if (n_in) {
    memmove(c->tail, c->tail + n_in, sizeof c->tail - n_in);
    memcpy(c->tail + sizeof c->tail - n_in, in, n_in);
  }
}

static uint32_t le32(const unsigned char *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

const char *tf_gz_check_end(const struct tf_gz_check *c) {
  if (le32(c->tail) != c->crc) return "incorrect data check";
  if (le32(c->tail + 4) != (uint32_t)c->total) return "incorrect length check";
  return NULL;
}
