/* ptzip.c: the zip container of PyTorch's checkpoint files (docs/official.md §2): a reader of
 * stored entries from a mapped file (central directory, zip64, CRC-32 through ISA-L) and a
 * writer of the layout torch.save produces. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <isa-l/crc.h>
#include <unistd.h>

#include "st_internal.h"
#include "torch_internal.h"

#define SIG_LOCAL     0x04034b50u
#define SIG_CENTRAL   0x02014b50u
#define SIG_END       0x06054b50u
#define SIG_END64     0x06064b50u
#define SIG_LOCATOR64 0x07064b50u
#define LOCAL_LEN     30u
#define CENTRAL_LEN   46u
#define END_LEN       22u
#define END64_LEN     56u
#define LOCATOR_LEN   20u
#define MAX_COMMENT   65535u
#define U32_MAX       0xffffffffu
#define U16_MAX       0xffffu
#define ALIGN         64u         /* torch.save starts every entry's data on this boundary */
#define CRC_CHUNK     (16u << 20) /* bytes hashed between page releases */
#define NAMEBUF       120

struct entry {
  char *name;
  uint64_t header; /* offset of the local header */
  uint64_t data;   /* offset of the data */
  uint64_t size;
  uint32_t crc;
  int verified; /* 0 not yet, 1 good, -1 bad */
};

struct tf_zip {
  char *name;
  const unsigned char *p;
  uint64_t size;
  int mapped;
  size_t n;
  struct entry *e;
  size_t *by_name; /* entry indices sorted by name */
};

static uint32_t le16(const unsigned char *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8;
}
static uint32_t le32(const unsigned char *p) {
  return le16(p) | (uint32_t)le16(p + 2) << 16;
}
static uint64_t le64(const unsigned char *p) {
  return le32(p) | (uint64_t)le32(p + 4) << 32;
}

static const char *shown(char *out, const char *s, size_t n) {
  return tf_escape(out, NAMEBUF, s, n);
}

static int bad(const struct tf_zip *z, struct tf_error *err, const char *what) {
  return tf_error_set(err, TF_EDATA, "%s: not a valid zip archive: %s", z->name, what);
}

/* ---------------------------------------------------------------- end records */

/* The end of central directory record: the last signature whose comment reaches exactly to
 * the end of the file. */
static int find_end(const struct tf_zip *z, uint64_t *at, struct tf_error *err) {
  if (z->size == 0) return tf_error_set(err, TF_EDATA, "%s: empty file", z->name);
  if (z->size < END_LEN) return bad(z, err, "shorter than an end record");
  uint64_t lo = z->size > END_LEN + MAX_COMMENT ? z->size - END_LEN - MAX_COMMENT : 0;
  for (uint64_t i = z->size - END_LEN + 1; i-- > lo;)
    if (le32(z->p + i) == SIG_END && i + END_LEN + le16(z->p + i + 20) == z->size) {
      *at = i;
      return TF_OK;
    }
  return bad(z, err, "no end of central directory record");
}

struct dir {
  uint64_t count, offset, size, end; /* end: where the directory must stop */
};

static int read_end64(const struct tf_zip *z, uint64_t end, struct dir *d, struct tf_error *err) {
  if (end < LOCATOR_LEN || le32(z->p + end - LOCATOR_LEN) != SIG_LOCATOR64)
    return bad(z, err, "the end record points to zip64 records that are missing");
  const unsigned char *l = z->p + end - LOCATOR_LEN;
  uint64_t at = le64(l + 8);
  if (le32(l + 4) != 0 || le32(l + 16) > 1) return bad(z, err, "multi-disk archive");
  if (at > end - LOCATOR_LEN || end - LOCATOR_LEN - at < END64_LEN || le32(z->p + at) != SIG_END64)
    return bad(z, err, "the zip64 locator points outside the file or to another record");
  const unsigned char *r = z->p + at;
  if (le32(r + 16) != 0 || le32(r + 20) != 0 || le64(r + 24) != le64(r + 32))
    return bad(z, err, "multi-disk archive");
  d->count = le64(r + 32);
  d->size = le64(r + 40);
  d->offset = le64(r + 48);
  d->end = at;
  return TF_OK;
}

static int read_dir(const struct tf_zip *z, struct dir *d, struct tf_error *err) {
  uint64_t end = 0;
  int rc = find_end(z, &end, err);
  if (rc) return rc;
  const unsigned char *r = z->p + end;
  if (le16(r + 4) != 0 || le16(r + 6) != 0 || le16(r + 8) != le16(r + 10))
    return bad(z, err, "multi-disk archive");
  d->count = le16(r + 10);
  d->size = le32(r + 12);
  d->offset = le32(r + 16);
  d->end = end;
  if (d->count == U16_MAX || d->size == U32_MAX || d->offset == U32_MAX)
    if ((rc = read_end64(z, end, d, err))) return rc;
  if (d->offset > d->end || d->size > d->end - d->offset)
    return bad(z, err, "the central directory lies outside the file");
  if (d->count > d->size / CENTRAL_LEN)
    return bad(z, err, "the central directory is too short for its entry count");
  if (d->count == 0) return bad(z, err, "no entries");
  return TF_OK;
}

/* ---------------------------------------------------------------- central directory */

/* The zip64 extra field of a central header: 64-bit values for the fields saturated at
 * 0xffffffff, in the order uncompressed size, compressed size, header offset. */
static int zip64_extra(const unsigned char *x, uint32_t n, uint64_t *usize, uint64_t *csize,
                       uint64_t *off) {
  uint64_t *want[3] = {*usize == U32_MAX ? usize : NULL, *csize == U32_MAX ? csize : NULL,
                       *off == U32_MAX ? off : NULL};
  if (!want[0] && !want[1] && !want[2]) return 0;
  for (uint32_t i = 0; i + 4 <= n;) {
    uint32_t id = le16(x + i), len = le16(x + i + 2);
    if (i + 4 + len > n) return -1;
    if (id == 1) {
      uint32_t at = i + 4;
      for (int k = 0; k < 3; k++) {
        if (!want[k]) continue;
        if (at + 8 > i + 4 + len) return -1;
        *want[k] = le64(x + at);
        at += 8;
      }
      return 0;
    }
    i += 4 + len;
  }
  return -1;
}

static int read_central(struct tf_zip *z, const struct dir *d, uint64_t *at, struct entry *e,
                        struct tf_error *err) {
  char nb[NAMEBUF];
  const unsigned char *c = z->p + *at;
  uint64_t stop = d->offset + d->size;
  if (stop - *at < CENTRAL_LEN || le32(c) != SIG_CENTRAL)
    return bad(z, err, "a central directory entry is cut short or has a bad signature");
  uint32_t flags = le16(c + 8), method = le16(c + 10), nlen = le16(c + 28), xlen = le16(c + 30);
  uint64_t csize = le32(c + 20), usize = le32(c + 24), off = le32(c + 42);
  if (stop - *at - CENTRAL_LEN < (uint64_t)nlen + xlen + le16(c + 32))
    return bad(z, err, "a central directory entry runs past the directory");
  shown(nb, (const char *)c + CENTRAL_LEN, nlen);
  if (zip64_extra(c + CENTRAL_LEN + nlen, xlen, &usize, &csize, &off))
    return tf_error_set(err, TF_EDATA, "%s: entry %s: bad zip64 extra field", z->name, nb);
  if (flags & 1) return tf_error_set(err, TF_EDATA, "%s: entry %s is encrypted", z->name, nb);
  if (method != 0)
    return tf_error_set(err, TF_EDATA,
                        "%s: entry %s is compressed (method %u): only stored entries are read, "
                        "as torch.save writes them",
                        z->name, nb, method);
  if (csize != usize)
    return tf_error_set(err, TF_EDATA, "%s: entry %s: stored size %" PRIu64 " != size %" PRIu64,
                        z->name, nb, csize, usize);
  if (nlen == 0 || memchr(c + CENTRAL_LEN, 0, nlen))
    return bad(z, err, "an entry has an empty name or a name with a NUL byte");
  if (!(e->name = strndup((const char *)c + CENTRAL_LEN, nlen)))
    return tf_error_set(err, TF_ENOMEM, "out of memory");
  e->header = off;
  e->size = usize;
  e->crc = le32(c + 16);
  *at += CENTRAL_LEN + nlen + xlen + le16(c + 32);
  return TF_OK;
}

/* The local header must name the same entry and leave its data inside the file, before the
 * central directory. */
static int check_local(const struct tf_zip *z, const struct dir *d, struct entry *e,
                       struct tf_error *err) {
  char nb[NAMEBUF];
  size_t nlen = strlen(e->name);
  shown(nb, e->name, nlen);
  const unsigned char *l = z->p + e->header;
  if (e->header > d->offset || d->offset - e->header < LOCAL_LEN || le32(l) != SIG_LOCAL)
    return tf_error_set(err, TF_EDATA,
                        "%s: entry %s: the directory points to offset %" PRIu64
                        ", where there is no local header",
                        z->name, nb, e->header);
  uint64_t data = e->header + LOCAL_LEN + le16(l + 26) + le16(l + 28);
  if (le16(l + 26) != nlen || memcmp(l + LOCAL_LEN, e->name, nlen) || le16(l + 8) != 0)
    return tf_error_set(err, TF_EDATA,
                        "%s: entry %s: the local header does not match the directory (name or "
                        "method)",
                        z->name, nb);
  if (data > d->offset || d->offset - data < e->size)
    return tf_error_set(err, TF_EDATA,
                        "%s: entry %s: %" PRIu64 " bytes at offset %" PRIu64
                        " run past the data region (%" PRIu64 " bytes)",
                        z->name, nb, e->size, data, d->offset);
  e->data = data;
  return TF_OK;
}

static const struct tf_zip *sort_zip; /* qsort has no context argument */

static int by_header(const void *a, const void *b) {
  const struct entry *x = &sort_zip->e[*(const size_t *)a], *y = &sort_zip->e[*(const size_t *)b];
  return x->header < y->header ? -1 : x->header > y->header;
}

static int by_name(const void *a, const void *b) {
  return strcmp(sort_zip->e[*(const size_t *)a].name, sort_zip->e[*(const size_t *)b].name);
}

/* No two entries share bytes, and no two share a name. */
static int check_layout(struct tf_zip *z, struct tf_error *err) {
  char nb[NAMEBUF], nb2[NAMEBUF];
  size_t *ix = z->by_name;
  for (size_t i = 0; i < z->n; i++) ix[i] = i;
  sort_zip = z;
  qsort(ix, z->n, sizeof *ix, by_header);
  for (size_t i = 1; i < z->n; i++)
    if (z->e[ix[i - 1]].data + z->e[ix[i - 1]].size > z->e[ix[i]].header)
      return tf_error_set(err, TF_EDATA, "%s: entries %s and %s overlap", z->name,
                          shown(nb, z->e[ix[i - 1]].name, strlen(z->e[ix[i - 1]].name)),
                          shown(nb2, z->e[ix[i]].name, strlen(z->e[ix[i]].name)));
  qsort(ix, z->n, sizeof *ix, by_name);
  for (size_t i = 1; i < z->n; i++)
    if (!strcmp(z->e[ix[i - 1]].name, z->e[ix[i]].name))
      return tf_error_set(err, TF_EDATA, "%s: entry %s appears twice", z->name,
                          shown(nb, z->e[ix[i]].name, strlen(z->e[ix[i]].name)));
  return TF_OK;
}

static int decode(struct tf_zip *z, struct tf_error *err) {
  struct dir d = {0};
  int rc = read_dir(z, &d, err);
  if (rc) return rc;
  z->e = calloc((size_t)d.count, sizeof *z->e);
  z->by_name = calloc((size_t)d.count, sizeof *z->by_name);
  if (!z->e || !z->by_name) return tf_error_set(err, TF_ENOMEM, "out of memory");
  uint64_t at = d.offset;
  for (uint64_t i = 0; i < d.count; i++) {
    if ((rc = read_central(z, &d, &at, &z->e[i], err))) return rc;
    z->n++;
    if ((rc = check_local(z, &d, &z->e[i], err))) return rc;
  }
  return check_layout(z, err);
}

static int open_common(struct tf_zip *z, struct tf_zip **out, struct tf_error *err) {
  int rc = decode(z, err);
  if (rc) {
    tf_zip_close(z);
    return rc;
  }
  *out = z;
  return TF_OK;
}

int tf_zip_open_mem(struct tf_zip **out, const void *p, size_t n, const char *name,
                    struct tf_error *err) {
  *out = NULL;
  struct tf_zip *z = calloc(1, sizeof *z);
  if (!z || !(z->name = strdup(name))) {
    free(z);
    return tf_error_set(err, TF_ENOMEM, "out of memory");
  }
  z->p = p;
  z->size = n;
  return open_common(z, out, err);
}

int tf_zip_open(struct tf_zip **out, const char *path, struct tf_error *err) {
  *out = NULL;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return tf_error_set(err, TF_ENOINPUT, "%s: cannot open: %s", path, strerror(errno));
  struct stat st;
  if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
    close(fd);
    return tf_error_set(err, TF_ENOINPUT, "%s: not a regular file", path);
  }
  void *p = st.st_size ? mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0) : NULL;
  close(fd);
  if (p == MAP_FAILED)
    return tf_error_set(err, TF_EIO, "%s: mmap failed: %s", path, strerror(errno));
  struct tf_zip *z = calloc(1, sizeof *z);
  if (!z || !(z->name = strdup(path))) {
    if (p) munmap(p, (size_t)st.st_size);
    free(z);
    return tf_error_set(err, TF_ENOMEM, "out of memory");
  }
  z->p = p;
  z->size = (uint64_t)st.st_size;
  z->mapped = p != NULL;
  return open_common(z, out, err);
}

void tf_zip_close(struct tf_zip *z) {
  if (!z) return;
  for (size_t i = 0; i < z->n; i++) free(z->e[i].name);
  if (z->mapped) munmap((void *)z->p, (size_t)z->size);
  free(z->e);
  free(z->by_name);
  free(z->name);
  free(z);
}

const char *tf_zip_path(const struct tf_zip *z) {
  return z->name;
}

size_t tf_zip_count(const struct tf_zip *z) {
  return z->n;
}

const char *tf_zip_name(const struct tf_zip *z, size_t i) {
  return z->e[i].name;
}

long tf_zip_find(const struct tf_zip *z, const char *name) {
  size_t lo = 0, hi = z->n;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    int c = strcmp(z->e[z->by_name[mid]].name, name);
    if (!c) return (long)z->by_name[mid];
    if (c < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  return -1;
}

const unsigned char *tf_zip_data(const struct tf_zip *z, size_t i, uint64_t *size) {
  *size = z->e[i].size;
  return z->p + z->e[i].data;
}

const unsigned char *tf_zip_bytes(const struct tf_zip *z, uint64_t *size) {
  *size = z->size;
  return z->p;
}

void tf_zip_release(const struct tf_zip *z, const void *p, uint64_t n) {
  if (!z->mapped || !n) return;
  uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE), a = (uintptr_t)p, b = a + n;
  a = (a + page - 1) & ~(page - 1); /* whole pages inside the range only */
  b &= ~(page - 1);
  if (b > a) madvise((void *)a, b - a, MADV_DONTNEED);
}

uint32_t tf_crc32(uint32_t crc, const void *p, uint64_t n) {
  return crc32_gzip_refl(crc, (const unsigned char *)p, n);
}

int tf_zip_check_crc(struct tf_zip *z, size_t i, uint32_t crc, struct tf_error *err) {
  char nb[NAMEBUF];
  struct entry *e = &z->e[i];
  if (!e->verified) e->verified = crc == e->crc ? 1 : -1;
  if (e->verified > 0) return TF_OK;
  return tf_error_set(err, TF_EDATA, "%s: entry %s: CRC-32 mismatch (the file is damaged)", z->name,
                      shown(nb, e->name, strlen(e->name)));
}

int tf_zip_verify(struct tf_zip *z, size_t i, struct tf_error *err) {
  struct entry *e = &z->e[i];
  uint32_t crc = 0;
  for (uint64_t at = 0; !e->verified && at < e->size; at += CRC_CHUNK) {
    uint64_t k = e->size - at < CRC_CHUNK ? e->size - at : CRC_CHUNK;
    crc = tf_crc32(crc, z->p + e->data + at, k);
    tf_zip_release(z, z->p + e->data + at, k);
  }
  return tf_zip_check_crc(z, i, crc, err);
}

/* ---------------------------------------------------------------- writer */

static void put16(unsigned char *p, uint32_t v) {
  p[0] = (unsigned char)v;
  p[1] = (unsigned char)(v >> 8);
}
static void put32(unsigned char *p, uint32_t v) {
  put16(p, v & 0xffff);
  put16(p + 2, v >> 16);
}
static void put64(unsigned char *p, uint64_t v) {
  put32(p, (uint32_t)v);
  put32(p + 4, (uint32_t)(v >> 32));
}

int tf_zip_writer_init(struct tf_zip_writer *w, int fd, const char *name, struct tf_error *err) {
  memset(w, 0, sizeof *w);
  w->name = name;
  return tf_outbuf_open(&w->out, fd, name, err);
}

static int emit(struct tf_zip_writer *w, const void *p, uint64_t n, struct tf_error *err) {
  w->pos += n;
  return tf_outbuf_put(&w->out, p, (size_t)n, err);
}

/* Local header: signature, version 4.5 where zip64, no flags, stored, no date, CRC, sizes
 * (0xffffffff and a zip64 extra field when they need it), the name, then a padding extra
 * field ("FB", as torch.save writes) so that the data starts on an ALIGN boundary. */
int tf_zip_add(struct tf_zip_writer *w, const char *name, const void *p, uint64_t n,
               struct tf_error *err) {
  unsigned char h[LOCAL_LEN + 20 + 4 + ALIGN];
  size_t nlen = strlen(name);
  if (nlen > U16_MAX) return tf_error_set(err, TF_EUSAGE, "zip entry name too long");
  if (w->n == w->cap) {
    size_t cap = w->cap ? 2 * w->cap : 64;
    void *e = realloc(w->e, cap * sizeof *w->e);
    if (!e) return tf_error_set(err, TF_ENOMEM, "out of memory");
    w->e = e;
    w->cap = cap;
  }
  struct tf_zip_written *e = &w->e[w->n];
  *e = (struct tf_zip_written){.name = strdup(name), .offset = w->pos, .size = n};
  if (!e->name) return tf_error_set(err, TF_ENOMEM, "out of memory");
  w->n++;
  e->crc = tf_crc32(0, p, n);
  int z64 = w->force_zip64 || n >= U32_MAX;
  size_t x = 0;
  memset(h, 0, sizeof h);
  if (z64) {
    put16(h + LOCAL_LEN + x, 1);
    put16(h + LOCAL_LEN + x + 2, 16);
    put64(h + LOCAL_LEN + x + 4, n);
    put64(h + LOCAL_LEN + x + 12, n);
    x += 20;
  }
  uint64_t data = w->pos + LOCAL_LEN + nlen + x + 4;
  size_t pad = (size_t)((ALIGN - data % ALIGN) % ALIGN);
  put16(h + LOCAL_LEN + x, 0x4246); /* "FB" */
  put16(h + LOCAL_LEN + x + 2, (uint32_t)pad);
  memset(h + LOCAL_LEN + x + 4, 'Z', pad);
  x += 4 + pad;
  put32(h, SIG_LOCAL);
  put16(h + 4, z64 ? 45 : 20);
  put32(h + 14, e->crc);
  put32(h + 18, z64 ? U32_MAX : (uint32_t)n);
  put32(h + 22, z64 ? U32_MAX : (uint32_t)n);
  put16(h + 26, (uint32_t)nlen);
  put16(h + 28, (uint32_t)x);
  int rc = emit(w, h, LOCAL_LEN, err);
  if (!rc) rc = emit(w, name, nlen, err);
  if (!rc) rc = emit(w, h + LOCAL_LEN, x, err);
  for (uint64_t at = 0; !rc && at < n; at += 1u << 30)
    rc = emit(w, (const unsigned char *)p + at, n - at < (1u << 30) ? n - at : 1u << 30, err);
  return rc;
}

static int central(struct tf_zip_writer *w, const struct tf_zip_written *e, struct tf_error *err) {
  unsigned char h[CENTRAL_LEN + 28];
  int big_size = w->force_zip64 || e->size >= U32_MAX,
      big_off = w->force_zip64 || e->offset >= U32_MAX;
  size_t nlen = strlen(e->name), x = 0;
  memset(h, 0, sizeof h);
  if (big_size || big_off) {
    put16(h + CENTRAL_LEN, 1);
    x = 4;
    if (big_size) put64(h + CENTRAL_LEN + x, e->size), put64(h + CENTRAL_LEN + x + 8, e->size);
    x += big_size ? 16 : 0;
    if (big_off) put64(h + CENTRAL_LEN + x, e->offset), x += 8;
    put16(h + CENTRAL_LEN + 2, (uint32_t)(x - 4));
  }
  put32(h, SIG_CENTRAL);
  put16(h + 4, 3 << 8 | 45); /* made by Unix, spec 4.5 */
  put16(h + 6, x ? 45 : 20);
  put32(h + 16, e->crc);
  put32(h + 20, big_size ? U32_MAX : (uint32_t)e->size);
  put32(h + 24, big_size ? U32_MAX : (uint32_t)e->size);
  put16(h + 28, (uint32_t)nlen);
  put16(h + 30, (uint32_t)x);
  put32(h + 42, big_off ? U32_MAX : (uint32_t)e->offset);
  int rc = emit(w, h, CENTRAL_LEN, err);
  if (!rc) rc = emit(w, e->name, nlen, err);
  return rc ? rc : emit(w, h + CENTRAL_LEN, x, err);
}

/* The end records: zip64 end and locator when a count, size or offset needs them, then the
 * classic end record (saturated fields pointing to the zip64 ones). */
static int end_records(struct tf_zip_writer *w, uint64_t dir, uint64_t dir_size,
                       struct tf_error *err) {
  unsigned char r[END64_LEN + LOCATOR_LEN + END_LEN];
  int z64 = w->force_zip64 || w->n >= U16_MAX || dir >= U32_MAX || dir_size >= U32_MAX;
  size_t at = 0;
  memset(r, 0, sizeof r);
  if (z64) {
    put32(r, SIG_END64);
    put64(r + 4, END64_LEN - 12);
    put16(r + 12, 3 << 8 | 45);
    put16(r + 14, 45);
    put64(r + 24, w->n);
    put64(r + 32, w->n);
    put64(r + 40, dir_size);
    put64(r + 48, dir);
    put32(r + END64_LEN, SIG_LOCATOR64);
    put64(r + END64_LEN + 8, w->pos);
    put32(r + END64_LEN + 16, 1);
    at = END64_LEN + LOCATOR_LEN;
  }
  put32(r + at, SIG_END);
  put16(r + at + 8, z64 ? U16_MAX : (uint32_t)w->n);
  put16(r + at + 10, z64 ? U16_MAX : (uint32_t)w->n);
  put32(r + at + 12, z64 ? U32_MAX : (uint32_t)dir_size);
  put32(r + at + 16, z64 ? U32_MAX : (uint32_t)dir);
  return emit(w, r, at + END_LEN, err);
}

int tf_zip_finish(struct tf_zip_writer *w, struct tf_error *err) {
  uint64_t dir = w->pos;
  int rc = TF_OK;
  for (size_t i = 0; !rc && i < w->n; i++) rc = central(w, &w->e[i], err);
  if (!rc) rc = end_records(w, dir, w->pos - dir, err);
  if (!rc) rc = tf_outbuf_close(&w->out, err);
  tf_zip_writer_free(w);
  return rc;
}

void tf_zip_writer_free(struct tf_zip_writer *w) {
  for (size_t i = 0; i < w->n; i++) free(w->e[i].name);
  free(w->e);
  w->e = NULL;
  w->n = w->cap = 0;
  tf_outbuf_free(&w->out);
}
