/* st_internal.h: the safetensors codec and the helpers st.c shares with ckpt.c and the
 * PyTorch readers. Not part of the public API. */
#ifndef TF_ST_INTERNAL_H
#define TF_ST_INTERNAL_H

#include "tokenformer.h"

/* Bytes of a tensor of this dtype and shape into *out; returns 0, or -1 when a dimension is
 * negative or the count overflows 64 bits. */
int tf_st_nbytes(enum tf_dtype dtype, int ndim, const int64_t *shape, uint64_t *out);

/* Writes all n bytes of p to fd (name in messages); TF_EIO on failure. */
int tf_write_all(int fd, const char *name, const void *p, size_t n, struct tf_error *err);

/* The CRC-32 of zip and gzip (zlib's crc32: crc is 0 or the CRC of the bytes before p), through
 * ISA-L's folding with carry-less multiplication, about 5x zlib's speed here. */
uint32_t tf_crc32(uint32_t crc, const void *p, uint64_t n);

/* A gzip member's checks done outside zlib (gzcheck.c), whose own are turned off with
 * inflateValidate(strm, 0): zeroed at the member's start, stepped after every inflate() with
 * the input it consumed and the output it produced, asked at the end. The step parses the
 * header from the bytes consumed and, when the header has a CRC-16 (FHCRC), checks it: NULL,
 * or zlib's words for a mismatch (then and after). The end: NULL when the trailer (the last 8
 * bytes consumed) agrees, otherwise zlib's words for what differs. */
struct tf_gz_check {
  uint32_t crc;
  uint64_t total;
  unsigned char tail[8];
  int hstate;             /* the header field being read (0: the first byte's) */
  uint32_t hgot, hcrc;    /* bytes of that field read; CRC-32 of the header so far */
  unsigned char hbuf[10]; /* the fixed part, XLEN or the CRC-16, as read */
  unsigned flags, xlen;   /* FLG, XLEN */
  int hbad;               /* the CRC-16 disagrees */
};
const char *tf_gz_check_step(struct tf_gz_check *c, const unsigned char *in, size_t n_in,
                             const unsigned char *out, size_t n_out);
const char *tf_gz_check_end(const struct tf_gz_check *c);

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

#define TF_ST_MAX_HEADER  (100u << 20) /* a header longer than 100 MiB is refused */
#define TF_ST_MAX_TENSORS 65536        /* and one of more tensors (see tf_model_max_tensors) */
#define TF_ST_MAX_TOKENS  (1 << 21)    /* or of more JSON values ({ [ : , outside strings) */

/* Decodes and validates the JSON header (len bytes, not NUL-terminated): every safetensors
 * rule (dtype names, shapes, offsets tile [0, data_len) without holes or overlaps). */
int tf_st_decode(struct tf_st_header *h, const char *json, size_t len, struct tf_error *err);
void tf_st_free(struct tf_st_header *h);

/* Encodes the header of a safetensors file holding the n tensors t (name, dtype, ndim and
 * shape are used; begin and end are ignored). Data order is dtype size descending, then name
 * (strcmp); order[i] (n entries) receives the index in t of the i-th tensor in that order,
 * and the tensors' bytes follow the header contiguously in that order. meta holds n_meta
 * key/value pairs (meta[2i], meta[2i+1]) for __metadata__ (omitted when n_meta is 0).
 * *out receives a malloc'd buffer of *out_len bytes: the 8-byte little-endian length N, then
 * the JSON, space-padded so that 8 + N is a multiple of 8. An empty, duplicate or reserved
 * name, a bad dtype or shape, or a size that overflows is TF_EDATA. */
int tf_st_encode(const struct tf_st_tensor *t, size_t n, const char *const *meta, size_t n_meta,
                 size_t *order, char **out, size_t *out_len, struct tf_error *err);

#endif
