/* st_internal.h: safetensors helpers shared by st.c and ckpt.c. Not part of the public API. */
#ifndef TF_ST_INTERNAL_H
#define TF_ST_INTERNAL_H

#include "tokenformer.h"

/* Bytes of a tensor of this dtype and shape into *out; returns 0, or -1 when a dimension is
 * negative or the count overflows 64 bits. */
int tf_st_nbytes(enum tf_dtype dtype, int ndim, const int64_t *shape, uint64_t *out);

/* The n bytes of s as text safe to print in a message (cap bytes at out, cap >= 12): bytes
 * outside printable ASCII and the backslash as \xNN, a long string cut with "...". */
const char *tf_st_printable(char *out, size_t cap, const char *s, size_t n);

/* Writes all n bytes of p to fd (name in messages); TF_EIO on failure. */
int tf_write_all(int fd, const char *name, const void *p, size_t n, struct tf_error *err);

/* The CRC-32 of zip and gzip (zlib's crc32: crc is 0 or the CRC of the bytes before p), through
 * ISA-L's folding with carry-less multiplication, about 5x zlib's speed here. */
uint32_t tf_crc32(uint32_t crc, const void *p, uint64_t n);

/* A large sequential output to fd (outbuf.c): the bytes are gathered in aligned buffers and
 * written in large pieces by write(), with O_DIRECT and by a thread of its own while fd is a
 * regular file that takes it (the flag is cleared again on close). Open, put the bytes, then
 * close (which writes the rest) or free. */
struct tf_outbuf {
  int fd;
  const char *name; /* in messages */
  int direct;
  unsigned char *buf[2]; /* the one filling is buf[cur] */
  int cur;
  size_t used;
  struct tf_outbuf_job *job; /* the writer thread, or NULL */
};
int tf_outbuf_open(struct tf_outbuf *o, int fd, const char *name, struct tf_error *err);
int tf_outbuf_put(struct tf_outbuf *o, const void *p, size_t n, struct tf_error *err);
int tf_outbuf_close(struct tf_outbuf *o, struct tf_error *err);
void tf_outbuf_free(struct tf_outbuf *o);

/* Produces a file's bytes on fd (name in messages); returns a status. */
typedef int (*tf_file_fill_fn)(int fd, const char *name, void *ctx, struct tf_error *err);
/* Writes path as tf_ckpt_write does, the bytes coming from fill: "-" is stdout (refused on a
 * terminal), a device or FIFO is written in place, anything else through an unnamed
 * temporary file in the same directory, fsync'd and renamed over path; a failure leaves an
 * existing path as it was. */
int tf_file_write(const char *path, tf_file_fill_fn fill, void *ctx, struct tf_error *err);

/* tf_ckpt_write's plain safetensors file, whatever path's name. */
int tf_st_write_plain(const char *path, const struct tf_ckpt_entry *entries, size_t n_entries,
                      const char *const *meta, size_t n_meta, struct tf_error *err);

#endif
