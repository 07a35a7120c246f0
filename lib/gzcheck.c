/* gzcheck.c: a gzip member's checks done outside zlib, whose own are turned off
 * (inflateValidate), so that the CRC-32 is ISA-L's, about 5x zlib's (docs/official.md §7: it
 * was a fifth of reading a model): the trailer (CRC-32 and length of the content) and, when
 * the member has one (FHCRC), the header's CRC-16. */
#include <string.h>

#include "st_internal.h"

/* The header's fields (RFC 1952), in their order; FLG says which are present. */
enum { GZH_FIXED, GZH_XLEN, GZH_EXTRA, GZH_NAME, GZH_COMMENT, GZH_CRC, GZH_DONE };
enum { FLG_HCRC = 2, FLG_EXTRA = 4, FLG_NAME = 8, FLG_COMMENT = 16 };

/* The field after state s that FLG asks for (the extra field follows XLEN). */
static int next_field(const struct tf_gz_check *c, int s) {
  static const unsigned char flag[GZH_DONE] = {0, FLG_EXTRA, 0, FLG_NAME, FLG_COMMENT, FLG_HCRC};
  if (s == GZH_XLEN && c->xlen) return GZH_EXTRA;
  for (s++; s < GZH_DONE; s++)
    if (c->flags & flag[s]) return s;
  return GZH_DONE;
}

/* A field has been read whole: what it says, then the next one. */
static void field_done(struct tf_gz_check *c) {
  const unsigned char *b = c->hbuf;
  if (c->hstate == GZH_FIXED) c->flags = b[3];
  if (c->hstate == GZH_XLEN) c->xlen = (uint16_t)(b[0] | b[1] << 8);
  /* the CRC-16: the low half of the CRC-32 of every header byte before it */
  if (c->hstate == GZH_CRC) c->hbad = (uint32_t)(b[0] | b[1] << 8) != (c->hcrc & 0xffff);
  c->hstate = next_field(c, c->hstate);
  c->hgot = 0;
}

/* The header bytes among the n consumed at p: fixed-size fields are gathered in hbuf (the
 * extra field is only counted), the name and comment end at a zero byte. */
static void header_step(struct tf_gz_check *c, const unsigned char *p, size_t n) {
  static const uint16_t size[GZH_DONE] = {10, 2, 0, 0, 0, 2};
  while (n && c->hstate != GZH_DONE) {
    size_t k;
    int whole;
    if (c->hstate == GZH_NAME || c->hstate == GZH_COMMENT) {
      const unsigned char *z = memchr(p, 0, n);
      k = z ? (size_t)(z - p) + 1 : n;
      whole = z != NULL;
    } else {
      size_t len = c->hstate == GZH_EXTRA ? c->xlen : size[c->hstate];
      k = len - c->hgot < n ? len - c->hgot : n;
      if (c->hstate != GZH_EXTRA) memcpy(c->hbuf + c->hgot, p, k);
      c->hgot += (uint32_t)k;
      whole = c->hgot == len;
    }
    if (c->hstate != GZH_CRC) c->hcrc = tf_crc32(c->hcrc, p, k);
    p += k;
    n -= k;
    if (whole) field_done(c);
  }
}

const char *tf_gz_check_step(struct tf_gz_check *c, const unsigned char *in, size_t n_in,
                             const unsigned char *out, size_t n_out) {
  if (c->hstate != GZH_DONE) header_step(c, in, n_in);
  c->crc = tf_crc32(c->crc, out, n_out);
  c->total += n_out;
  if (n_in >= sizeof c->tail) {
    memcpy(c->tail, in + n_in - sizeof c->tail, sizeof c->tail);
  } else if (n_in) {
    memmove(c->tail, c->tail + n_in, sizeof c->tail - n_in);
    memcpy(c->tail + sizeof c->tail - n_in, in, n_in);
  }
  return c->hbad ? "header crc mismatch" : NULL;
}

static uint32_t le32(const unsigned char *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

const char *tf_gz_check_end(const struct tf_gz_check *c) {
  if (le32(c->tail) != c->crc) return "incorrect data check";
  if (le32(c->tail + 4) != (uint32_t)c->total) return "incorrect length check";
  return NULL;
}
