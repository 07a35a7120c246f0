/* ckpt.c: read and write checkpoint files, a gzip stream of a safetensors file
 * (docs/checkpoint.md): atomic writes, "-" for stdio, every length checked before use. No model
 * math here. */
#define ZLIB_CONST
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "st_internal.h"
#include "rng.h"

#define IO_BUF   (1u << 20)  /* read input buffer */
#define OPEN_BUF (64u << 10) /* read() size while reading the header: open stays cheap */
#define ZCHUNK   (1u << 30)  /* largest piece given to zlib or read/write at once */
#define GZ_BITS  (15 + 16)   /* zlib windowBits: 32 KiB window, gzip wrapper only */
#define GZ_CHUNK (1u << 20)  /* content bytes deflated on their own, in parallel */
#define GZ_BATCH 16          /* chunks in flight: GZ_BATCH output slots of about GZ_CHUNK */
#define GZ_DICT  32768       /* deflate window: FAST and BEST chunks see the bytes before */

static size_t min_size(uint64_t a, size_t b) {
  return a < b ? (size_t)a : b;
}

/* ---------------------------------------------------------------- writer */

/* A piece of one buffer deflated on its own into byte-aligned blocks (ending in a sync flush),
 * so pieces deflated in parallel concatenate into one deflate stream, as pigz does. The cut
 * points depend only on the content, so the file does not depend on the thread count. */
struct chunk {
  const unsigned char *p;
  size_t n;
  size_t dict; /* bytes before p in the same buffer, which a match may reach back into */
  size_t out_len;
  uLong crc;
};

/* Where the bytes of the safetensors file go: to fd through buf, or in chunks through deflate
 * into a gzip member (header, the chunks, an empty final block, CRC-32 and length). */
struct sink {
  struct tf_outbuf out;
  const char *name; /* for messages */
  int gz, level, strategy;
  unsigned char *buf; /* gzip: GZ_BATCH slots of slot bytes */
  size_t slot;
  struct chunk batch[GZ_BATCH];
  int n_batch;
  uLong crc;      /* CRC-32 of the content so far */
  uint64_t total; /* content bytes so far */
};

/* What one tf_ckpt_write call writes: the encoded header, then the tensors in order. */
struct payload {
  char *hdr;
  size_t hdr_len;
  const struct tf_ckpt_entry *e;
  size_t *order; /* n indices into e, data order */
  size_t n;
  int gz;
  enum tf_compress compress;
};

static void put_le32(unsigned char *b, uint32_t v) {
  for (int i = 0; i < 4; i++) b[i] = (unsigned char)(v >> (8 * i));
}

static int sink_open(struct sink *s, int fd, const char *name, const struct payload *p,
                     struct tf_error *err) {
  static const int level[] = {[TF_COMPRESS_HUFFMAN] = 1,
                              [TF_COMPRESS_NONE] = 0,
                              [TF_COMPRESS_FAST] = 1,
                              [TF_COMPRESS_BEST] = 9};
  memset(s, 0, sizeof *s);
  s->name = name;
  s->gz = p->gz;
  s->level = level[p->compress];
  s->strategy = p->compress == TF_COMPRESS_HUFFMAN ? Z_HUFFMAN_ONLY : Z_DEFAULT_STRATEGY;
  s->slot = compressBound(GZ_CHUNK) + 64; /* + the sync flush marker */
  int rc = tf_outbuf_open(&s->out, fd, name, err);
  if (rc || !s->gz) return rc;
  if (!(s->buf = malloc(GZ_BATCH * s->slot))) return tf_error_set(err, TF_ENOMEM, "out of memory");
  s->crc = crc32(0, NULL, 0);
  /* gzip header: deflate, no flags, no time (same content, same file), XFL, OS Unix */
  unsigned char h[10] = {0x1f, 0x8b, 8, 0, 0, 0, 0, 0, s->level == 9 ? 2 : s->level == 1 ? 4 : 0,
                         3};
  return tf_outbuf_put(&s->out, h, sizeof h, err);
}

/* Deflates c into out (s->slot bytes); returns 0, or 1 when zlib fails (out of memory). */
static int deflate_chunk(const struct sink *s, struct chunk *c, unsigned char *out) {
  z_stream zs;
  memset(&zs, 0, sizeof zs);
  if (deflateInit2(&zs, s->level, Z_DEFLATED, -15, 8, s->strategy) != Z_OK) return 1;
  size_t d = min_size(c->dict, GZ_DICT);
  if (d && s->level > 0 && s->strategy != Z_HUFFMAN_ONLY)
    deflateSetDictionary(&zs, c->p - d, (uInt)d);
  zs.next_in = c->p;
  zs.avail_in = (uInt)c->n;
  zs.next_out = out;
  zs.avail_out = (uInt)s->slot;
  int bad = deflate(&zs, Z_SYNC_FLUSH) != Z_OK || zs.avail_in || !zs.avail_out;
  c->out_len = s->slot - zs.avail_out;
  deflateEnd(&zs);
  c->crc = tf_crc32(0, c->p, c->n);
  return bad;
}

/* Deflates the batch in parallel, then writes it in order. Stored blocks (level 0) are a copy
 * and a CRC, done in one thread: other threads would spend more time waiting than helping. */
static int gz_flush_batch(struct sink *s, struct tf_error *err) {
  int n = s->n_batch, bad = 0;
#pragma omp parallel for schedule(dynamic, 1) reduction(| : bad) if (s->level > 0)
  for (int i = 0; i < n; i++) bad |= deflate_chunk(s, &s->batch[i], s->buf + (size_t)i * s->slot);
  s->n_batch = 0;
  if (bad) return tf_error_set(err, TF_ENOMEM, "%s: deflate failed: out of memory", s->name);
  for (int i = 0; i < n; i++) {
    const struct chunk *c = &s->batch[i];
    int rc = tf_outbuf_put(&s->out, s->buf + (size_t)i * s->slot, c->out_len, err);
    if (rc) return rc;
    s->crc = crc32_combine(s->crc, c->crc, (z_off_t)c->n);
    s->total += c->n;
  }
  return TF_OK;
}

static int gz_put(struct sink *s, const unsigned char *p, uint64_t n, struct tf_error *err) {
  for (uint64_t off = 0; off < n; off += GZ_CHUNK) {
    if (s->n_batch == GZ_BATCH) {
      int rc = gz_flush_batch(s, err);
      if (rc) return rc;
    }
    s->batch[s->n_batch++] = (struct chunk){
        .p = p + off, .n = min_size(n - off, GZ_CHUNK), .dict = min_size(off, GZ_DICT)};
  }
  return TF_OK;
}

static int sink_put(struct sink *s, const void *p, uint64_t n, struct tf_error *err) {
  if (!n) return TF_OK; /* an empty tensor may have no data pointer */
  return s->gz ? gz_put(s, p, n, err) : tf_outbuf_put(&s->out, p, (size_t)n, err);
}

static int sink_end(struct sink *s, struct tf_error *err) {
  int rc = s->gz ? gz_flush_batch(s, err) : TF_OK;
  unsigned char t[10] = {0x03, 0x00}; /* an empty final block (fixed codes, end of block) */
  put_le32(t + 2, (uint32_t)s->crc);
  put_le32(t + 6, (uint32_t)s->total); /* ISIZE: the length modulo 2^32 */
  if (!rc && s->gz) rc = tf_outbuf_put(&s->out, t, sizeof t, err);
  return rc ? rc : tf_outbuf_close(&s->out, err);
}

static int write_payload(int fd, const char *name, void *ctx, struct tf_error *err) {
  const struct payload *p = ctx;
  struct sink s;
  int rc = sink_open(&s, fd, name, p, err);
  if (!rc) rc = sink_put(&s, p->hdr, p->hdr_len, err);
  for (size_t i = 0; !rc && i < p->n; i++) {
    const struct tf_ckpt_entry *e = &p->e[p->order[i]];
    uint64_t nbytes;
    tf_st_nbytes(e->dtype, e->ndim, e->shape, &nbytes); /* checked by tf_st_encode */
    rc = sink_put(&s, e->data, nbytes, err);
  }
  if (!rc) rc = sink_end(&s, err);
  tf_outbuf_free(&s.out);
  free(s.buf);
  return rc;
}

/* Encodes the header and checks that every tensor with bytes has data. */
static int payload_build(struct payload *p, const struct tf_ckpt_entry *e, size_t n,
                         const char *const *meta, size_t n_meta, struct tf_error *err) {
  struct tf_st_tensor *t = calloc(n ? n : 1, sizeof *t);
  p->order = malloc((n ? n : 1) * sizeof *p->order);
  p->e = e;
  p->n = n;
  if (!t || !p->order) {
    free(t);
    return tf_error_set(err, TF_ENOMEM, "out of memory");
  }
  for (size_t i = 0; i < n; i++) {
    t[i].name = (char *)e[i].name; /* tf_st_encode only reads it */
    t[i].dtype = e[i].dtype;
    t[i].ndim = e[i].ndim;
    memcpy(t[i].shape, e[i].shape, sizeof t[i].shape);
  }
  int rc = tf_st_encode(t, n, meta, n_meta, p->order, &p->hdr, &p->hdr_len, err);
  free(t);
  for (size_t i = 0; !rc && i < n; i++) {
    uint64_t nbytes;
    tf_st_nbytes(e[i].dtype, e[i].ndim, e[i].shape, &nbytes);
    if (nbytes && !e[i].data)
      rc = tf_error_set(err, TF_EDATA, "tensor %s: no data given for %" PRIu64 " bytes", e[i].name,
                        nbytes);
  }
  return rc;
}

static int ends_with(const char *s, const char *suffix) {
  size_t n = strlen(s), k = strlen(suffix);
  return n >= k && !strcmp(s + n - k, suffix);
}

/* The directory part of path ("." when none) and the template of a temporary file there. */
static int temp_names(const char *path, char **dir, char **tmp, struct tf_error *err) {
  const char *slash = strrchr(path, '/');
  const char *base = slash ? slash + 1 : path;
  if (!*base) return tf_error_set(err, TF_ECANTCREAT, "%s: is a directory", path);
  *dir = slash ? strndup(path, slash == path ? 1 : (size_t)(slash - path)) : strdup(".");
  *tmp = malloc(strlen(path) + 16);
  if (!*dir || !*tmp) return tf_error_set(err, TF_ENOMEM, "out of memory");
  sprintf(*tmp, "%s/.%s.tmp.XXXXXX", *dir, base);
  return TF_OK;
}

/* Makes the rename durable. Filesystems that cannot fsync a directory (EINVAL) are let be. */
static int sync_dir(const char *dir, const char *path, struct tf_error *err) {
  int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  int rc = fd < 0 || (fsync(fd) && errno != EINVAL) ? errno : 0;
  if (fd >= 0) close(fd);
  if (rc)
    return tf_error_set(err, TF_EIO, "%s: written, but syncing directory %s failed: %s", path, dir,
                        strerror(rc));
  return TF_OK;
}

/* Everything between creating the temporary file and naming it: permissions, the bytes,
 * fsync. */
static int fill_temp(int fd, const char *path, mode_t mode, tf_file_fill_fn fill, void *ctx,
                     struct tf_error *err) {
  if (fchmod(fd, mode))
    return tf_error_set(err, TF_EIO, "%s: chmod of the temporary file failed: %s", path,
                        strerror(errno));
  int rc = fill(fd, path, ctx, err);
  if (!rc && fsync(fd))
    rc = tf_error_set(err, TF_EIO, "%s: fsync failed: %s", path, strerror(errno));
  return rc;
}

/* A failure to create or name a file in the directory: a full disk or quota is an I/O error
 * (74); anything else (permissions, a missing or read-only directory) cannot create (73). */
static int create_status(int e) {
  return e == ENOSPC || e == EDQUOT ? TF_EIO : TF_ECANTCREAT;
}

/* The file the bytes go to: an unnamed one in dir (O_TMPFILE), so that a process killed while
 * writing leaves nothing behind; where the filesystem or kernel cannot (EOPNOTSUPP, EISDIR,
 * EINVAL) or /proc is missing, a file named from the template tmp (*named set). */
static int open_temp(const char *dir, char *tmp, int *named) {
  *named = 0;
  if (access("/proc/self/fd", X_OK) == 0) {
    int fd = open(dir, O_TMPFILE | O_WRONLY | O_CLOEXEC, 0600);
    if (fd >= 0 || (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL)) return fd;
  }
  *named = 1;
  return mkostemp(tmp, O_CLOEXEC);
}

/* Gives the unnamed file fd the name tmp, its XXXXXX replaced by a fresh suffix (another one
 * while the name is taken), so that it can be renamed over the target. */
static int link_temp(int fd, const char *path, char *tmp, struct tf_error *err) {
  static const char abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  char proc[32], *x = tmp + strlen(tmp) - 6;
  struct timespec ts;
  struct tf_rng g;
  snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
  clock_gettime(CLOCK_REALTIME, &ts);
  tf_rng_seed(&g, (uint64_t)getpid() << 40 ^ (uint64_t)ts.tv_sec << 30 ^ (uint64_t)ts.tv_nsec);
  for (int attempt = 0; attempt < 100; attempt++) {
    for (int i = 0; i < 6; i++) x[i] = abc[tf_rng_next(&g) % 62];
    if (!linkat(AT_FDCWD, proc, AT_FDCWD, tmp, AT_SYMLINK_FOLLOW)) return TF_OK;
    if (errno != EEXIST) break;
  }
  return tf_error_set(err, create_status(errno), "%s: cannot name the temporary file %s: %s", path,
                      tmp, strerror(errno));
}

/* Temporary file beside path (unnamed while it is written, where the filesystem allows),
 * fsync, rename over path, fsync the directory. On failure the temporary file is removed
 * and an existing path is left as it was. */
static int write_atomic(const char *path, mode_t mode, tf_file_fill_fn fill, void *ctx,
                        struct tf_error *err) {
  char *dir = NULL, *tmp = NULL;
  int named = 0, rc = temp_names(path, &dir, &tmp, err);
  int fd = rc ? -1 : open_temp(dir, tmp, &named);
  if (!rc && fd < 0)
    rc = tf_error_set(err, create_status(errno), "%s: cannot create a temporary file in %s: %s",
                      path, dir, strerror(errno));
  if (fd >= 0) {
    rc = fill_temp(fd, path, mode, fill, ctx, err);
    if (!rc && !named && !(rc = link_temp(fd, path, tmp, err))) named = 1;
    if (close(fd) && !rc)
      rc = tf_error_set(err, TF_EIO, "%s: close failed: %s", path, strerror(errno));
    if (!rc && rename(tmp, path))
      rc =
          tf_error_set(err, TF_EIO, "%s: cannot rename %s over it: %s", path, tmp, strerror(errno));
    if (rc && named)
      unlink(tmp);
    else if (!rc)
      rc = sync_dir(dir, path, err);
  }
  free(dir);
  free(tmp);
  return rc;
}

/* An existing device or FIFO (/dev/null, a named pipe) is written in place: renaming over it
 * would replace the node itself. */
static int write_special(const char *path, tf_file_fill_fn fill, void *ctx, struct tf_error *err) {
  int fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC);
  if (fd < 0) return tf_error_set(err, TF_ECANTCREAT, "%s: cannot open: %s", path, strerror(errno));
  int rc = fill(fd, path, ctx, err);
  if (close(fd) && !rc)
    rc = tf_error_set(err, TF_EIO, "%s: close failed: %s", path, strerror(errno));
  return rc;
}

/* The mode a new file gets from open(..., 0666): umask is only readable by setting it. */
static mode_t new_file_mode(void) {
  mode_t mask = umask(022);
  umask(mask);
  return 0666 & ~mask;
}

int tf_file_write(const char *path, tf_file_fill_fn fill, void *ctx, struct tf_error *err) {
  struct stat st;
  if (!strcmp(path, "-")) {
    if (isatty(STDOUT_FILENO))
      return tf_error_set(err, TF_EUSAGE, "refusing to write a binary checkpoint to a terminal");
    return fill(STDOUT_FILENO, "<stdout>", ctx, err);
  }
  if (!*path) return tf_error_set(err, TF_ECANTCREAT, "cannot create a file with an empty name");
  if (stat(path, &st)) return write_atomic(path, new_file_mode(), fill, ctx, err);
  if (S_ISDIR(st.st_mode)) return tf_error_set(err, TF_ECANTCREAT, "%s: is a directory", path);
  if (!S_ISREG(st.st_mode)) return write_special(path, fill, ctx, err);
  /* a symbolic link to a file: the file is replaced, in its own directory, and the link kept */
  struct stat link;
  char *real = lstat(path, &link) == 0 && S_ISLNK(link.st_mode) ? realpath(path, NULL) : NULL;
  int rc = write_atomic(real ? real : path, st.st_mode & 07777, fill, ctx, err); /* mode kept */
  free(real);
  return rc;
}

static int write_checkpoint(const char *path, const struct tf_ckpt_entry *entries, size_t n_entries,
                            const char *const *meta, size_t n_meta, enum tf_compress compress,
                            int gz, struct tf_error *err) {
  if ((unsigned)compress > TF_COMPRESS_BEST)
    return tf_error_set(err, TF_EUSAGE, "unknown compression %d", (int)compress);
  struct payload p = {.gz = gz, .compress = compress};
  int rc = payload_build(&p, entries, n_entries, meta, n_meta, err);
  if (rc)
    tf_error_prefix(err, "%s", path);
  else
    rc = tf_file_write(path, write_payload, &p, err);
  free(p.hdr);
  free(p.order);
  return rc;
}

int tf_ckpt_write(const char *path, const struct tf_ckpt_entry *entries, size_t n_entries,
                  const char *const *meta, size_t n_meta, enum tf_compress compress,
                  struct tf_error *err) {
  return write_checkpoint(path, entries, n_entries, meta, n_meta, compress,
                          !ends_with(path, ".safetensors"), err);
}

int tf_st_write_plain(const char *path, const struct tf_ckpt_entry *entries, size_t n_entries,
                      const char *const *meta, size_t n_meta, struct tf_error *err) {
  return write_checkpoint(path, entries, n_entries, meta, n_meta, TF_COMPRESS_NONE, 0, err);
}

/* ---------------------------------------------------------------- reader */

enum phase { PH_LENGTH, PH_HEADER, PH_DATA };

struct tf_ckpt_reader {
  int fd;
  int own_fd;         /* 0 for stdin, which stays open */
  int regular;        /* a regular file: seekable, size known */
  char *name;         /* path or "<stdin>", first word of every message */
  uint64_t file_size; /* 0 when not a regular file */
  int gz;             /* the file is a gzip stream */
  int zlive;          /* inflateInit2 succeeded */
  int zend;           /* inflate reached the end of the gzip member */
  int eof;            /* read() returned 0 */
  int status;         /* first failure; the reader is unusable after one */
  enum phase phase;
  z_stream zs;               /* gzip: zs.next_in / avail_in is the raw input cursor */
  struct tf_gz_check gzc;    /* the member's CRC-32 and length, checked here, not by zlib */
  unsigned char *in;         /* IO_BUF bytes of raw input */
  const unsigned char *next; /* plain: unconsumed raw input next[0, avail) */
  size_t avail;
  size_t want;            /* bytes to ask read() for */
  unsigned char *scratch; /* IO_BUF bytes where skipped gzip content goes */
  uint64_t pos;           /* bytes of safetensors content delivered: 8 + N + data */
  uint64_t hlen;          /* N, the header length */
  struct tf_st_header h;
};

static int raw_fill(struct tf_ckpt_reader *r, struct tf_error *err) {
  ssize_t got;
  do got = read(r->fd, r->in, r->want);
  while (got < 0 && errno == EINTR);
  if (got < 0) return tf_error_set(err, TF_EIO, "%s: read failed: %s", r->name, strerror(errno));
  r->next = r->in;
  r->avail = (size_t)got;
  r->eof = got == 0;
  if (r->gz) {
    r->zs.next_in = r->in;
    r->zs.avail_in = (uInt)got;
  }
  return TF_OK;
}

static uint64_t data_left(const struct tf_ckpt_reader *r) {
  return 8 + r->hlen + r->h.data_len - r->pos;
}

/* The content ended before the header (or its length) said it would. */
static int truncated(const struct tf_ckpt_reader *r, const char *why, struct tf_error *err) {
  if (r->phase == PH_LENGTH)
    return tf_error_set(err, TF_EDATA,
                        "%s: truncated%s: the file ends inside the 8-byte header length", r->name,
                        why);
  if (r->phase == PH_HEADER)
    return tf_error_set(err, TF_EDATA,
                        "%s: truncated%s: the header ends at byte %" PRIu64
                        ", its length says %" PRIu64,
                        r->name, why, r->pos - 8, r->hlen);
  return tf_error_set(err, TF_EDATA,
                      "%s: truncated%s: data region ends at byte %" PRIu64 ", header says %" PRIu64,
                      r->name, why, r->pos - 8 - r->hlen, r->h.data_len);
}

static int zerr(const struct tf_ckpt_reader *r, int ret, struct tf_error *err) {
  if (ret == Z_MEM_ERROR) return tf_error_set(err, TF_ENOMEM, "%s: out of memory", r->name);
  return tf_error_set(err, TF_EDATA, "%s: corrupt gzip stream: %s", r->name,
                      r->zs.msg ? r->zs.msg : "invalid data");
}

/* Reads n raw bytes into dst (NULL: skip them): buffered bytes first, then large reads go
 * straight to dst, and a regular file skips by seeking. */
static int plain_get(struct tf_ckpt_reader *r, unsigned char *dst, uint64_t n,
                     struct tf_error *err) {
  while (n) {
    size_t k;
    if (r->avail) {
      k = min_size(n, r->avail);
      if (dst) memcpy(dst, r->next, k);
      r->next += k;
      r->avail -= k;
    } else if (!dst && r->regular) {
      if (lseek(r->fd, (off_t)n, SEEK_CUR) < 0)
        return tf_error_set(err, TF_EIO, "%s: seek failed: %s", r->name, strerror(errno));
      k = (size_t)n; /* a file that shrank since open is caught by tf_ckpt_finish */
    } else if (dst && n >= r->want) {
      ssize_t got = read(r->fd, dst, min_size(n, ZCHUNK));
      if (got < 0 && errno == EINTR) continue;
      if (got < 0)
        return tf_error_set(err, TF_EIO, "%s: read failed: %s", r->name, strerror(errno));
      if (got == 0) return truncated(r, "", err);
      k = (size_t)got;
    } else {
      int rc = raw_fill(r, err);
      if (rc) return rc;
      if (r->eof) return truncated(r, "", err);
      continue;
    }
    if (dst) dst += k;
    n -= k;
    r->pos += k;
  }
  return TF_OK;
}

/* After a gzip member has ended: 1 when another one follows (gzip's multi-member form, as
 * `cat a.gz b.gz` makes; inflate is reset for it), 0 at the end of the file, -1 when the bytes
 * that follow are not a gzip member (*rc set on a read error). */
static int gz_next_member(struct tf_ckpt_reader *r, int *rc, struct tf_error *err) {
  *rc = r->zs.avail_in ? TF_OK : raw_fill(r, err);
  if (*rc) return -1;
  if (!r->zs.avail_in) return 0;
  const unsigned char *p = r->zs.next_in;
  if (p[0] != 0x1f || (r->zs.avail_in > 1 && p[1] != 0x8b)) return -1;
  if (inflateReset(&r->zs) != Z_OK || inflateValidate(&r->zs, 0) != Z_OK) return -1;
  memset(&r->gzc, 0, sizeof r->gzc);
  r->zend = 0;
  return 1;
}

/* inflate(), with the member's header CRC (if any) and trailer checked by gzcheck.c: a
 * mismatch is a data error. */
static int gz_inflate(struct tf_ckpt_reader *r) {
  const unsigned char *in = r->zs.next_in, *out = r->zs.next_out;
  uInt room = r->zs.avail_out;
  int ret = inflate(&r->zs, Z_NO_FLUSH);
  const char *bad =
      tf_gz_check_step(&r->gzc, in, (size_t)(r->zs.next_in - in), out, room - r->zs.avail_out);
  if (!bad && ret == Z_STREAM_END) bad = tf_gz_check_end(&r->gzc);
  if (!bad) return ret;
  r->zs.msg = (char *)bad;
  return Z_DATA_ERROR;
}

/* Inflates n bytes of content into dst (NULL: into scratch, discarded); the content may run
 * on into further gzip members. */
static int gz_get(struct tf_ckpt_reader *r, unsigned char *dst, uint64_t n, struct tf_error *err) {
  if (!dst && !r->scratch && !(r->scratch = malloc(IO_BUF)))
    return tf_error_set(err, TF_ENOMEM, "out of memory");
  while (n) {
    int rc = TF_OK;
    if (r->zend && gz_next_member(r, &rc, err) != 1) return rc ? rc : truncated(r, "", err);
    if (!r->zs.avail_in) {
      rc = raw_fill(r, err);
      if (rc) return rc;
      if (r->eof) return truncated(r, " (the gzip stream is cut short)", err);
    }
    size_t k = min_size(n, dst ? ZCHUNK : IO_BUF);
    r->zs.next_out = dst ? dst : r->scratch;
    r->zs.avail_out = (uInt)k;
    int ret = gz_inflate(r);
    k -= r->zs.avail_out;
    if (dst) dst += k;
    n -= k;
    r->pos += k;
    if (ret == Z_STREAM_END)
      r->zend = 1;
    else if (ret != Z_OK && ret != Z_BUF_ERROR)
      return zerr(r, ret, err);
  }
  return TF_OK;
}

static int content_get(struct tf_ckpt_reader *r, void *dst, uint64_t n, struct tf_error *err) {
  return r->gz ? gz_get(r, dst, n, err) : plain_get(r, dst, n, err);
}

/* The current gzip member ends without another content byte (CRC and length checked by
 * inflate). */
static int gz_member_end(struct tf_ckpt_reader *r, struct tf_error *err) {
  unsigned char b;
  while (!r->zend) {
    if (!r->zs.avail_in) {
      int rc = raw_fill(r, err);
      if (rc) return rc;
      if (r->eof)
        return tf_error_set(err, TF_EDATA,
                            "%s: truncated: the gzip stream ends before its "
                            "trailer (CRC and length)",
                            r->name);
    }
    r->zs.next_out = &b;
    r->zs.avail_out = 1;
    int ret = gz_inflate(r);
    if (!r->zs.avail_out)
      return tf_error_set(err, TF_EDATA, "%s: trailing bytes after the last tensor", r->name);
    if (ret == Z_STREAM_END)
      r->zend = 1;
    else if (ret != Z_OK && ret != Z_BUF_ERROR)
      return zerr(r, ret, err);
  }
  return TF_OK;
}

/* After the data region: the gzip member ends here, and so does every member after it without
 * content; nothing else follows in the file. */
static int gz_end(struct tf_ckpt_reader *r, struct tf_error *err) {
  int rc, next = 0;
  do rc = gz_member_end(r, err);
  while (!rc && (next = gz_next_member(r, &rc, err)) == 1);
  if (!rc && next < 0)
    rc = tf_error_set(err, TF_EDATA, "%s: trailing bytes after the gzip member", r->name);
  return rc;
}

/* After the data region of a plain file: nothing follows. A regular file compares offset and
 * size, since skips seek and a seek past the end does not fail. */
static int plain_end(struct tf_ckpt_reader *r, struct tf_error *err) {
  struct stat st;
  int trailing = r->avail > 0;
  if (!trailing && r->regular) {
    off_t off = lseek(r->fd, 0, SEEK_CUR);
    if (off < 0 || fstat(r->fd, &st))
      return tf_error_set(err, TF_EIO, "%s: %s", r->name, strerror(errno));
    if (off > st.st_size) { /* the file shrank after open */
      r->pos -= (uint64_t)(off - st.st_size);
      return truncated(r, "", err);
    }
    trailing = off < st.st_size;
  } else if (!trailing) {
    int rc = raw_fill(r, err);
    if (rc) return rc;
    trailing = r->avail > 0;
  }
  if (trailing)
    return tf_error_set(err, TF_EDATA, "%s: trailing bytes after the last tensor", r->name);
  return TF_OK;
}

static int open_input(struct tf_ckpt_reader *r, const char *path, struct tf_error *err) {
  struct stat st;
  int std = !strcmp(path, "-");
  r->fd = -1;
  r->want = OPEN_BUF;
  r->name = strdup(std ? "<stdin>" : path);
  r->in = malloc(IO_BUF);
  if (!r->name || !r->in) return tf_error_set(err, TF_ENOMEM, "out of memory");
  r->fd = std ? STDIN_FILENO : open(path, O_RDONLY | O_CLOEXEC);
  if (r->fd < 0) return tf_error_set(err, TF_ENOINPUT, "%s: %s", path, strerror(errno));
  r->own_fd = !std;
  if (fstat(r->fd, &st)) return tf_error_set(err, TF_EIO, "%s: %s", r->name, strerror(errno));
  if (S_ISDIR(st.st_mode)) return tf_error_set(err, TF_ENOINPUT, "%s: is a directory", r->name);
  r->regular = S_ISREG(st.st_mode);
  r->file_size = r->regular ? (uint64_t)st.st_size : 0;
  return TF_OK;
}

/* Gzip if the first two bytes are its magic 1f 8b; otherwise a plain safetensors file. */
static int detect(struct tf_ckpt_reader *r, struct tf_error *err) {
  int rc = raw_fill(r, err);
  if (!rc && r->eof) rc = tf_error_set(err, TF_EDATA, "%s: empty file", r->name);
  while (!rc && r->avail < 2 && !r->eof) { /* a pipe may deliver one byte at a time */
    ssize_t got = read(r->fd, r->in + r->avail, 1);
    if (got < 0 && errno != EINTR)
      rc = tf_error_set(err, TF_EIO, "%s: read failed: %s", r->name, strerror(errno));
    if (got >= 0) r->eof = got == 0;
    if (got > 0) r->avail++;
  }
  if (rc || r->avail < 2 || r->in[0] != 0x1f || r->in[1] != 0x8b) return rc;
  r->gz = 1;
  r->eof = 0;
  if (inflateInit2(&r->zs, GZ_BITS) != Z_OK)
    return tf_error_set(err, TF_ENOMEM, "%s: cannot start inflate", r->name);
  r->zlive = 1;
  inflateValidate(&r->zs, 0); /* gz_inflate checks the header CRC and the trailer */
  r->zs.next_in = r->in;
  r->zs.avail_in = (uInt)r->avail;
  return TF_OK;
}

/* Reads n header bytes into a buffer that grows only as bytes arrive, so a lying length in a
 * small gzip file cannot make us allocate the 100 MiB cap. */
static int read_growing(struct tf_ckpt_reader *r, char **out, uint64_t n, struct tf_error *err) {
  size_t cap = 0, got = 0;
  char *buf = NULL;
  int rc = TF_OK;
  while (!rc && got < n) {
    cap = cap ? min_size(n, 2 * cap) : min_size(n, OPEN_BUF);
    char *grown = realloc(buf, cap);
    if (!grown)
      rc = tf_error_set(err, TF_ENOMEM, "out of memory");
    else
      rc = content_get(r, (buf = grown) + got, cap - got, err);
    got = cap;
  }
  if (rc)
    free(buf);
  else
    *out = buf;
  return rc;
}

/* The format whose signature the first 8 bytes of a file hold (NULL: none known); a
 * checkpoint starts with its header's length instead, a small number (docs/checkpoint.md). */
static const char *looks_like(const unsigned char *b) {
  static const struct {
    const char *magic, *what;
  } kinds[] = {
      {"\x28\xb5\x2f\xfd", "zstd"},
      {"PK\x03\x04", "zip (a PyTorch file? use tf-convert)"},
      {"BZh", "bzip2"},
      {"\xfd\x37\x7a\x58\x5a", "xz"},
      {"\x89HDF", "HDF5"},
      {"\x93NUMPY", "a NumPy array"},
  };
  for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
    if (memcmp(b, kinds[i].magic, strlen(kinds[i].magic)) == 0) return kinds[i].what;
  if (b[0] == 0x80 && b[1] >= 2 && b[1] <= 5)
    return "a Python pickle (a PyTorch file? use tf-convert)";
  return NULL;
}

/* The same for a file without a known signature. */
static const char *looks_like_data(const unsigned char *b) {
  int text = 1;
  for (int i = 0; i < 8; i++) text &= b[i] >= 0x20 || b[i] == '\t' || b[i] == '\n' || b[i] == '\r';
  return text && b[0] < 0x80 ? "text" : "unrecognized binary data";
}

/* Where a header length of n is absurd: a file with another format's signature, or whose
 * length is no plausible number (its top bytes not zero), is said to be something else. */
static int not_a_checkpoint(const struct tf_ckpt_reader *r, const unsigned char *b, uint64_t n,
                            struct tf_error *err) {
  const char *what = looks_like(b);
  if (!what && n != 0 && n >> 48 == 0)
    return tf_error_set(err, TF_EDATA, "%s: header length %" PRIu64 " exceeds the limit of %u",
                        r->name, n, TF_ST_MAX_HEADER);
  if (!what && n == 0) return tf_error_set(err, TF_EDATA, "%s: header length is 0", r->name);
  return tf_error_set(err, TF_EDATA, "%s: not a checkpoint: looks like %s%s", r->name,
                      r->gz ? "gzip'd " : "", what ? what : looks_like_data(b));
}

static int read_header(struct tf_ckpt_reader *r, struct tf_error *err) {
  unsigned char b[8];
  char *json = NULL;
  r->phase = PH_LENGTH;
  int rc = content_get(r, b, 8, err);
  if (rc) return rc;
  uint64_t n = 0;
  for (int i = 7; i >= 0; i--) n = n << 8 | b[i];
  if (n == 0 || n > TF_ST_MAX_HEADER) return not_a_checkpoint(r, b, n, err);
  if (!r->gz && r->regular && n > r->file_size - 8)
    return tf_error_set(err, TF_EDATA,
                        "%s: truncated or not a checkpoint: header length %" PRIu64
                        " runs past the end of the file (%" PRIu64 " bytes)",
                        r->name, n, r->file_size);
  r->hlen = n;
  r->phase = PH_HEADER;
  rc = read_growing(r, &json, n, err);
  if (rc) return rc;
  rc = tf_st_decode(&r->h, json, n, err);
  free(json);
  if (rc) tf_error_prefix(err, "%s", r->name);
  r->phase = PH_DATA;
  return rc;
}

/* A plain regular file's size is known: it must hold exactly the data region. */
static int check_plain_size(const struct tf_ckpt_reader *r, struct tf_error *err) {
  if (r->gz || !r->regular) return TF_OK;
  uint64_t have = r->file_size - 8 - r->hlen;
  if (have < r->h.data_len)
    return tf_error_set(err, TF_EDATA,
                        "%s: truncated: data region ends at byte %" PRIu64 ", header says %" PRIu64,
                        r->name, have, r->h.data_len);
  if (have > r->h.data_len)
    return tf_error_set(err, TF_EDATA,
                        "%s: trailing bytes after the last tensor (%" PRIu64 " bytes)", r->name,
                        have - r->h.data_len);
  return TF_OK;
}

/* Deflate codes at most 258 bytes in 2 bits, so a gzip member of F bytes inflates to at most
 * 1032 F: a regular gzip file whose header claims more cannot hold it, and is refused before
 * a reader sizes anything by that header (a tiny file claiming a huge model). */
#define GZ_MAX_RATIO 1032

static int check_gz_size(const struct tf_ckpt_reader *r, struct tf_error *err) {
  if (!r->gz || !r->regular) return TF_OK;
  uint64_t content = 8 + r->hlen + r->h.data_len; /* data_len < 2^63: no overflow */
  if (content / GZ_MAX_RATIO <= r->file_size) return TF_OK;
  return tf_error_set(err, TF_EDATA,
                      "%s: truncated or not a checkpoint: the header says %" PRIu64
                      " bytes of content, more than a gzip file of %" PRIu64 " bytes can hold",
                      r->name, content, r->file_size);
}

int tf_ckpt_open(struct tf_ckpt_reader **out, const char *path, struct tf_error *err) {
  struct tf_ckpt_reader *r = calloc(1, sizeof *r);
  *out = NULL;
  if (!r) return tf_error_set(err, TF_ENOMEM, "out of memory");
  int rc = open_input(r, path, err);
  if (!rc) rc = detect(r, err);
  if (!rc) rc = read_header(r, err);
  if (!rc) rc = check_plain_size(r, err);
  if (!rc) rc = check_gz_size(r, err);
  if (rc) {
    tf_ckpt_close(r);
    return rc;
  }
  r->want = IO_BUF;
  *out = r;
  return TF_OK;
}

const struct tf_st_header *tf_ckpt_header(const struct tf_ckpt_reader *r) {
  return &r->h;
}

uint64_t tf_ckpt_file_size(const struct tf_ckpt_reader *r) {
  return r->file_size;
}

static int failed(struct tf_ckpt_reader *r, struct tf_error *err) {
  return tf_error_set(err, r->status, "%s: unusable after an earlier error", r->name);
}

int tf_ckpt_read(struct tf_ckpt_reader *r, void *dst, uint64_t n, struct tf_error *err) {
  if (r->status) return failed(r, err);
  if (n > data_left(r))
    return tf_error_set(err, TF_EUSAGE,
                        "%s: read of %" PRIu64 " bytes past the data region "
                        "(%" PRIu64 " left)",
                        r->name, n, data_left(r));
  return r->status = content_get(r, dst, n, err);
}

int tf_ckpt_finish(struct tf_ckpt_reader *r, struct tf_error *err) {
  if (r->status) return failed(r, err);
  int rc = content_get(r, NULL, data_left(r), err);
  if (!rc) rc = r->gz ? gz_end(r, err) : plain_end(r, err);
  return r->status = rc;
}

void tf_ckpt_close(struct tf_ckpt_reader *r) {
  if (!r) return;
  if (r->zlive) inflateEnd(&r->zs);
  if (r->own_fd && r->fd >= 0) close(r->fd);
  tf_st_free(&r->h);
  free(r->in);
  free(r->scratch);
  free(r->name);
  free(r);
}
