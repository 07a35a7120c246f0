/* test_ckpt.c: checkpoint files (lib/ckpt.c): exact round trips in every compression mode,
 * header-only opens, every kind of damaged file refused with TF_EDATA and the file's name,
 * atomic writes that never leave a temporary file or a half-written target (also when killed),
 * and stdio. */
#include <check.h>
#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <omp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include "tokenformer.h"
#include "suite.h"
#include "model_internal.h"
#include "rng.h"
#include "st_internal.h"

static char dir[256]; /* a fresh directory for this run's files */

static const char *at(const char *name) {
  static char path[4][512];
  static int k;
  k = (k + 1) % 4;
  snprintf(path[k], sizeof path[k], "%s/%s", dir, name);
  return path[k];
}

/* ---------------------------------------------------------------- sample data */

/* Values chosen to catch any conversion: negative zero, a denormal, extreme integers. */
static const float w[2][3] = {{1.5f, -0.0f, 3.25f}, {1e-40f, -7.0f, 65504.0f}};
static const double flops = 1.0e300;
static const int64_t step = INT64_MIN + 7;
static const uint64_t rng[4] = {UINT64_MAX, 0, 0x0123456789abcdefull, 42};
static const int64_t cursor[3] = {-1, 0, 1ll << 40};
static const char *const meta[] = {"format", "tokenformer", "format_version", "1"};
#define NSAMPLE 6

static void sample(struct tf_ckpt_entry *e) {
  e[0] = (struct tf_ckpt_entry){"w", TF_F32, 2, {2, 3}, w};
  e[1] = (struct tf_ckpt_entry){"train.flops", TF_F64, 0, {0}, &flops};
  e[2] = (struct tf_ckpt_entry){"train.step", TF_I64, 0, {0}, &step};
  e[3] = (struct tf_ckpt_entry){"train.rng", TF_U64, 1, {4}, rng};
  e[4] = (struct tf_ckpt_entry){"train.data_cursor", TF_I64, 1, {3}, cursor};
  e[5] = (struct tf_ckpt_entry){"empty", TF_F32, 2, {0, 4}, NULL};
}

static size_t entry_bytes(const struct tf_ckpt_entry *e) {
  size_t n = tf_dtype_size(e->dtype);
  for (int d = 0; d < e->ndim; d++) n *= (size_t)e->shape[d];
  return n;
}

static void write_sample(const char *path, enum tf_compress c) {
  struct tf_ckpt_entry e[NSAMPLE];
  struct tf_error err = {0};
  sample(e);
  ck_assert_msg(!tf_ckpt_write(path, e, NSAMPLE, meta, 2, c, &err), "%s", err.msg);
}

/* Reads every tensor of path; *same says whether names, bytes and metadata equal the sample.
 * Tensors of unknown name or over 4 KiB are skipped, so damaged files cannot make it allocate. */
static int read_all(const char *path, int *same, struct tf_error *err) {
  struct tf_ckpt_entry e[NSAMPLE];
  struct tf_ckpt_reader *r;
  unsigned char buf[4096];
  sample(e);
  int rc = tf_ckpt_open(&r, path, err);
  if (rc) return rc;
  const struct tf_st_header *h = tf_ckpt_header(r);
  int eq = h->n_tensors == NSAMPLE && h->n_meta == 2;
  for (size_t i = 0; eq && i < 2; i++) {
    const char *v = tf_st_meta(h, meta[2 * i]);
    eq = v && !strcmp(v, meta[2 * i + 1]);
  }
  for (size_t i = 0; !rc && i < h->n_tensors; i++) {
    const struct tf_st_tensor *t = &h->tensors[i];
    uint64_t len = t->end - t->begin;
    const struct tf_ckpt_entry *x = NULL;
    for (int j = 0; j < NSAMPLE; j++)
      if (!strcmp(e[j].name, t->name)) x = &e[j];
    if (!x || len != entry_bytes(x) || x->dtype != t->dtype || x->ndim != t->ndim ||
        memcmp(x->shape, t->shape, sizeof(int64_t) * (size_t)t->ndim)) {
      eq = 0;
      rc = tf_ckpt_read(r, NULL, len, err);
      continue;
    }
    rc = tf_ckpt_read(r, buf, len, err);
    eq &= !len || !memcmp(buf, x->data, len);
  }
  if (!rc) rc = tf_ckpt_finish(r, err);
  tf_ckpt_close(r);
  if (same) *same = eq;
  return rc;
}

static unsigned char *slurp(const char *path, size_t *n) {
  FILE *f = fopen(path, "rb");
  ck_assert_ptr_nonnull(f);
  fseek(f, 0, SEEK_END);
  *n = (size_t)ftell(f);
  rewind(f);
  unsigned char *b = malloc(*n + 1);
  ck_assert_uint_eq(fread(b, 1, *n, f), *n);
  fclose(f);
  return b;
}

/* Writes a fresh file: unlinking first spares ext4 the flush that truncating an existing file
 * forces at close (thousands of rewrites took half a minute). */
static void spit(const char *path, const void *b, size_t n) {
  unlink(path);
  FILE *f = fopen(path, "wb");
  ck_assert_ptr_nonnull(f);
  ck_assert_uint_eq(fwrite(b, 1, n, f), n);
  ck_assert_int_eq(fclose(f), 0);
}

static void gzip_to(const char *path, const void *b, size_t n) {
  gzFile g = gzopen(path, "wb");
  ck_assert_ptr_nonnull(g);
  ck_assert_int_eq(gzwrite(g, b, (unsigned)n), (int)n);
  ck_assert_int_eq(gzclose(g), Z_OK);
}

/* The uncompressed safetensors bytes of the sample. */
static unsigned char *sample_plain(size_t *n) {
  write_sample(at("plain.safetensors"), TF_COMPRESS_NONE);
  return slurp(at("plain.safetensors"), n);
}

static uint64_t le64(const unsigned char *b) {
  uint64_t n = 0;
  for (int i = 7; i >= 0; i--) n = n << 8 | b[i];
  return n;
}

static void expect_edata(const char *path, const char *what) {
  struct tf_error err = {0};
  int rc = read_all(path, NULL, &err);
  ck_assert_msg(rc == TF_EDATA, "%s: rc %d (%s)", path, rc, err.msg);
  ck_assert_msg(!strncmp(err.msg, path, strlen(path)), "message lacks the file name: %s", err.msg);
  if (what) ck_assert_msg(strstr(err.msg, what), "\"%s\" lacks \"%s\"", err.msg, what);
}

static int temp_files_left(void) {
  DIR *d = opendir(dir);
  struct dirent *de;
  int n = 0;
  while ((de = readdir(d))) n += strstr(de->d_name, ".tmp.") != NULL;
  closedir(d);
  return n;
}

/* ---------------------------------------------------------------- round trips */

static const enum tf_compress modes[] = {TF_COMPRESS_HUFFMAN, TF_COMPRESS_NONE, TF_COMPRESS_FAST,
                                         TF_COMPRESS_BEST};

/* _i 0..3: gzip in each mode; 4: plain .safetensors. */
START_TEST(round_trip_is_exact_in_every_mode) {
  const char *path = at(_i < 4 ? "rt.tfz" : "rt.safetensors");
  write_sample(path, modes[_i % 4]);
  size_t n;
  unsigned char *b = slurp(path, &n);
  if (_i < 4)
    ck_assert(b[0] == 0x1f && b[1] == 0x8b);
  else
    ck_assert_uint_eq(le64(b) % 8, 0);
  free(b);
  struct tf_error err = {0};
  struct tf_ckpt_reader *r;
  ck_assert_int_eq(tf_ckpt_open(&r, path, &err), TF_OK);
  ck_assert_uint_eq(tf_ckpt_file_size(r), n);
  static const char *order[NSAMPLE] = {"train.data_cursor", "train.flops", "train.rng",
                                       "train.step",        "empty",       "w"};
  for (int i = 0; i < NSAMPLE; i++) ck_assert_str_eq(tf_ckpt_header(r)->tensors[i].name, order[i]);
  tf_ckpt_close(r);
  int same;
  ck_assert_msg(read_all(path, &same, &err) == TF_OK, "%s", err.msg);
  ck_assert(same);
}
END_TEST

START_TEST(large_tensors_read_in_pieces_and_skipped) {
  enum { N = 800000 }; /* 3.2 MB per tensor: several 1 MiB buffers */
  float *a = malloc(N * sizeof *a), *b = malloc(N * sizeof *b), *got = malloc(N * sizeof *got);
  struct tf_rng g;
  tf_rng_seed(&g, 7);
  for (int i = 0; i < N; i++) a[i] = (float)tf_rng_normal(&g), b[i] = (float)i;
  struct tf_ckpt_entry e[3] = {
      {"a", TF_F32, 1, {N}, a}, {"b", TF_F32, 1, {N}, b}, {"c", TF_F32, 2, {2, 3}, w}};
  const char *path = at(_i ? "large.safetensors" : "large.tfz");
  struct tf_error err = {0};
  ck_assert_int_eq(tf_ckpt_write(path, e, 3, NULL, 0, TF_COMPRESS_HUFFMAN, &err), TF_OK);
  struct tf_ckpt_reader *r;
  ck_assert_int_eq(tf_ckpt_open(&r, path, &err), TF_OK);
  size_t piece = 100003 * sizeof(float); /* odd pieces cross every buffer boundary */
  for (size_t off = 0; off < N * sizeof(float); off += piece) {
    size_t k = N * sizeof(float) - off < piece ? N * sizeof(float) - off : piece;
    ck_assert_int_eq(tf_ckpt_read(r, (char *)got + off, k, &err), TF_OK);
  }
  ck_assert_int_eq(memcmp(got, a, N * sizeof(float)), 0);
  ck_assert_int_eq(tf_ckpt_read(r, NULL, N * sizeof(float), &err), TF_OK); /* skip b */
  float c[6];
  ck_assert_int_eq(tf_ckpt_read(r, c, sizeof c, &err), TF_OK);
  ck_assert_int_eq(memcmp(c, w, sizeof c), 0);
  ck_assert_int_eq(tf_ckpt_read(r, c, 1, &err), TF_EUSAGE); /* past the data region */
  ck_assert_int_eq(tf_ckpt_finish(r, &err), TF_OK);
  tf_ckpt_close(r);
  free(a), free(b), free(got);
}
END_TEST

/* _i: the compression mode. A 3 MiB tensor spans several independently deflated pieces; the
 * file must be a standard gzip stream of the plain file (zlib's gzread, as gunzip, agrees)
 * and the same bytes whatever the thread count. Half the data repeats, so FAST and BEST find
 * matches across the piece boundaries. */
START_TEST(gzip_output_is_standard_and_independent_of_threads) {
  enum { N = 3 << 18 };
  float *a = malloc(N * sizeof *a);
  struct tf_rng g;
  tf_rng_seed(&g, 3);
  for (int i = 0; i < N; i++) a[i] = i < N / 2 ? (float)tf_rng_normal(&g) : (float)(i % 1000);
  struct tf_ckpt_entry e[2] = {{"a", TF_F32, 1, {N}, a}, {"c", TF_F32, 2, {2, 3}, w}};
  struct tf_error err = {0};
  const char *one = at("t1.tfz"), *two = at("t2.tfz"), *plain = at("t.safetensors");
  omp_set_num_threads(1);
  ck_assert_int_eq(tf_ckpt_write(one, e, 2, meta, 2, modes[_i], &err), TF_OK);
  omp_set_num_threads(2);
  ck_assert_int_eq(tf_ckpt_write(two, e, 2, meta, 2, modes[_i], &err), TF_OK);
  ck_assert_int_eq(tf_ckpt_write(plain, e, 2, meta, 2, modes[_i], &err), TF_OK);
  size_t n1, n2, np;
  unsigned char *b1 = slurp(one, &n1), *b2 = slurp(two, &n2), *bp = slurp(plain, &np);
  ck_assert(n1 == n2 && !memcmp(b1, b2, n1));
  unsigned char *back = malloc(np + 1);
  gzFile gz = gzopen(one, "rb");
  ck_assert_int_eq(gzread(gz, back, (unsigned)np + 1), (int)np);
  gzclose(gz);
  ck_assert_int_eq(memcmp(back, bp, np), 0);
  if (modes[_i] == TF_COMPRESS_NONE)
    ck_assert_uint_gt(n1, np);
  else
    ck_assert_uint_lt(n1, np);
  free(a), free(b1), free(b2), free(bp), free(back);
}
END_TEST

/* Open must read only the header: a file whose data is garbage still opens. */
START_TEST(open_reads_only_the_header) {
  enum { N = 1 << 20 };
  float *a = calloc(N, sizeof *a);
  struct tf_ckpt_entry e = {"a", TF_F32, 1, {N}, a};
  struct tf_error err = {0};
  const char *path = at("hdr.tfz");
  ck_assert_int_eq(tf_ckpt_write(path, &e, 1, meta, 2, TF_COMPRESS_NONE, &err), TF_OK);
  size_t n;
  unsigned char *b = slurp(path, &n);
  memset(b + n / 2, 0xa5, n / 2); /* the second half of the stream is destroyed */
  spit(path, b, n);
  struct tf_ckpt_reader *r;
  ck_assert_int_eq(tf_ckpt_open(&r, path, &err), TF_OK);
  ck_assert_uint_eq(tf_ckpt_header(r)->data_len, 4ull * N);
  ck_assert_str_eq(tf_st_meta(tf_ckpt_header(r), "format"), "tokenformer");
  ck_assert_int_eq(tf_ckpt_finish(r, &err), TF_EDATA);
  tf_ckpt_close(r);
  free(a), free(b);
}
END_TEST

/* ---------------------------------------------------------------- damaged files */

/* _i 0: gzip, 1: plain. Every prefix shorter than the file is refused. */
START_TEST(every_truncation_is_edata) {
  const char *path = at(_i ? "full.safetensors" : "full.tfz"), *cut = at("cut");
  write_sample(path, TF_COMPRESS_HUFFMAN);
  size_t n;
  unsigned char *b = slurp(path, &n);
  for (size_t len = 0; len < n; len++) {
    spit(cut, b, len);
    expect_edata(cut, len ? NULL : "empty file");
  }
  spit(cut, b, n / 2);
  expect_edata(cut, "truncated");
  free(b);
}
END_TEST

/* CRC-32 catches every single-bit error that changes the content. The flips it cannot see
 * change nothing: the gzip header's MTIME, XFL and OS bytes and FTEXT flag (hints outside the
 * CRC) and the unused padding bits before each byte-aligned block boundary. So every flip is
 * refused or leaves the content intact, and only a few are of the second kind. */
START_TEST(bit_flips_in_a_gzip_file_are_detected) {
  const char *path = at("flip.tfz"), *bad = at("flipped.tfz");
  write_sample(path, TF_COMPRESS_HUFFMAN);
  size_t n;
  unsigned char *b = slurp(path, &n);
  int harmless = 0;
  for (size_t p = 0; p < n; p++) {
    for (int bit = 0; bit < 8; bit++) {
      b[p] ^= (unsigned char)(1 << bit);
      spit(bad, b, n);
      struct tf_error err = {0};
      int same, rc = read_all(bad, &same, &err);
      ck_assert_msg(rc == TF_EDATA || (rc == TF_OK && same), "byte %zu bit %d: rc %d", p, bit, rc);
      if (p < 3 || p >= n - 8) ck_assert_int_eq(rc, TF_EDATA); /* magic, method, trailer */
      harmless += rc == TF_OK;
      b[p] ^= (unsigned char)(1 << bit);
    }
  }
  ck_assert_int_ge(harmless, 6 * 8); /* MTIME, XFL, OS: the test does reach them */
  ck_assert_int_lt(harmless, (int)(8 * n / 20));
  free(b);
}
END_TEST

/* The trailer is checked outside zlib (lib/gzcheck.c): a changed CRC-32 or length says which. */
START_TEST(a_wrong_trailer_names_the_check) {
  const char *path = at("trailer.tfz"), *bad = at("trailer-bad.tfz");
  write_sample(path, TF_COMPRESS_NONE);
  size_t n;
  unsigned char *b = slurp(path, &n);
  b[n - 8] ^= 1; /* CRC-32 */
  spit(bad, b, n);
  expect_edata(bad, "corrupt gzip stream: incorrect data check");
  b[n - 8] ^= 1;
  b[n - 1] ^= 0x80; /* ISIZE */
  spit(bad, b, n);
  expect_edata(bad, "corrupt gzip stream: incorrect length check");
  free(b);
}
END_TEST

/* A plain file has no checksum. In its header a flip breaks a rule (refused) or changes a
 * name or metadata string, which later checks against the config catch; in the data region
 * nothing can notice, so the test pins that down: the read succeeds with another value. */
START_TEST(bit_flips_in_a_plain_file) {
  const char *bad = at("flipped.safetensors");
  size_t n;
  unsigned char *b = sample_plain(&n);
  size_t hdr = 8 + le64(b);
  int refused = 0;
  for (size_t p = 0; p < n; p++) {
    for (int bit = 0; bit < 8; bit++) {
      b[p] ^= (unsigned char)(1 << bit);
      spit(bad, b, n);
      struct tf_error err = {0};
      int same, rc = read_all(bad, &same, &err);
      ck_assert_msg(rc == TF_OK || rc == TF_EDATA, "byte %zu bit %d: rc %d", p, bit, rc);
      ck_assert_msg(rc || !same, "byte %zu bit %d went unnoticed", p, bit);
      if (p >= hdr) ck_assert_int_eq(rc, TF_OK);
      refused += rc != TF_OK;
      b[p] ^= (unsigned char)(1 << bit);
    }
  }
  ck_assert_int_gt(refused, (int)(8 * hdr) / 2); /* most header flips break a rule */
  free(b);
}
END_TEST

START_TEST(wrong_header_lengths_are_edata) {
  static const struct {
    int64_t delta; /* added to the true length; 0 means "set to zero" */
    uint64_t set;
    const char *msg;
  } cases[] = {{8, 0, NULL},
               {-8, 0, "not valid JSON"},
               {0, 0, "header length is 0"},
               {0, TF_ST_MAX_HEADER + 1ull, "exceeds the limit"},
               {0, 1ull << 40, "exceeds the limit"},
               {0, 50u << 20, "truncated"}};
  size_t n;
  unsigned char *b = sample_plain(&n);
  uint64_t true_len = le64(b);
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    uint64_t v = cases[i].set ? cases[i].set : cases[i].delta ? true_len + cases[i].delta : 0;
    for (int k = 0; k < 8; k++) b[k] = (unsigned char)(v >> (8 * k));
    spit(at("len.safetensors"), b, n);
    expect_edata(at("len.safetensors"), cases[i].set == 50u << 20 ? "runs past" : cases[i].msg);
    gzip_to(at("len.tfz"), b, n);
    expect_edata(at("len.tfz"), cases[i].msg);
  }
  free(b);
}
END_TEST

START_TEST(trailing_bytes_are_edata) {
  size_t n;
  unsigned char *b = sample_plain(&n);
  b = realloc(b, n + 4);
  memcpy(b + n, "junk", 4);
  spit(at("trail.safetensors"), b, n + 4);
  expect_edata(at("trail.safetensors"), "trailing bytes after the last tensor");
  gzip_to(at("trail.tfz"), b, n + 4);
  expect_edata(at("trail.tfz"), "trailing bytes after the last tensor");
  gzip_to(at("member.tfz"), b, n);
  FILE *f = fopen(at("member.tfz"), "ab");
  fputs("xyz", f);
  fclose(f);
  expect_edata(at("member.tfz"), "trailing bytes after the gzip member");
  free(b);
}
END_TEST

/* A header alone, padded: 8-byte length, JSON, then pad data bytes of zeros. */
static unsigned char *header_only(const char *json, size_t pad, size_t *n) {
  size_t len = strlen(json), hl = (len + 7) & ~(size_t)7;
  unsigned char *b = calloc(1, 8 + hl + pad);
  for (int k = 0; k < 8; k++) b[k] = (unsigned char)((uint64_t)hl >> (8 * k));
  memset(b + 8, ' ', hl);
  memcpy(b + 8, json, len);
  *n = 8 + hl + pad;
  return b;
}

/* Found by fuzzing: a gzip file of a few dozen bytes whose header claims 2 GiB of tensors
 * opened, and tf_model_load then allocated the model before finding the stream truncated.
 * Deflate inflates at most 1032:1, so such a header is refused at open; a file near that
 * limit (zeros at level 9) still reads. */
START_TEST(gzip_claiming_more_than_it_can_hold_is_edata) {
  size_t n;
  unsigned char *b = header_only("{\"z\":{\"dtype\":\"U8\",\"shape\":[2147483648],"
                                 "\"data_offsets\":[0,2147483648]}}",
                                 0, &n);
  gzip_to(at("liar.tfz"), b, n);
  expect_edata(at("liar.tfz"), "more than a gzip file of");
  free(b);
  b = header_only("{\"z\":{\"dtype\":\"U8\",\"shape\":[8388608],"
                  "\"data_offsets\":[0,8388608]}}",
                  8388608, &n);
  gzFile g = gzopen(at("dense.tfz"), "wb9");
  ck_assert_int_eq(gzwrite(g, b, (unsigned)n), (int)n);
  ck_assert_int_eq(gzclose(g), Z_OK);
  struct tf_error err = {0};
  ck_assert_msg(read_all(at("dense.tfz"), NULL, &err) == TF_OK, "%s", err.msg);
  free(b);
}
END_TEST

START_TEST(garbage_empty_and_tiny_files_are_edata) {
  static const struct {
    const char *bytes;
    size_t n;
    const char *msg;
  } cases[] = {{"", 0, "empty file"},
               {"x", 1, "truncated"},
               {"\x1f", 1, "truncated"},
               {"\x1f\x8b", 2, "truncated"},
               {"hello, world\n", 13, NULL},
               {"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03garbage garbage", 25, "corrupt gzip"},
               {"\x1f\x8bnot a gzip header", 19, "corrupt gzip"},
               {"\x10\0\0\0\0\0\0\0[1, 2, 3]       ", 24, "does not start with '{'"}};
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    spit(at("garbage"), cases[i].bytes, cases[i].n);
    expect_edata(at("garbage"), cases[i].msg);
  }
}
END_TEST

START_TEST(missing_file_and_directory_are_enoinput) {
  struct tf_error err = {0};
  struct tf_ckpt_reader *r = (void *)1;
  ck_assert_int_eq(tf_ckpt_open(&r, at("nope.tfz"), &err), TF_ENOINPUT);
  ck_assert_ptr_null(r);
  ck_assert_ptr_nonnull(strstr(err.msg, "nope.tfz: No such file or directory"));
  ck_assert_int_eq(tf_ckpt_open(&r, dir, &err), TF_ENOINPUT);
  ck_assert_ptr_nonnull(strstr(err.msg, "is a directory"));
}
END_TEST

/* ---------------------------------------------------------------- atomic writes */

START_TEST(uncreatable_targets_are_ecantcreat) {
  struct tf_ckpt_entry e[NSAMPLE];
  struct tf_error err = {0};
  sample(e);
  spit(at("regular"), "x", 1);
  const char *paths[] = {at("no/such/dir/m.tfz"), at("regular/m.tfz"), dir};
  const char *why[] = {"No such file or directory", "Not a directory", "is a directory"};
  for (int i = 0; i < 3; i++) {
    ck_assert_int_eq(tf_ckpt_write(paths[i], e, NSAMPLE, meta, 2, 0, &err), TF_ECANTCREAT);
    ck_assert_msg(!strncmp(err.msg, paths[i], strlen(paths[i])) && strstr(err.msg, why[i]), "%s",
                  err.msg);
  }
  ck_assert_int_eq(temp_files_left(), 0);
}
END_TEST

/* A write that fails half way (the file size limit, as a full disk would) leaves the old
 * checkpoint as it was and no temporary file. _i 0: gzip, 1: plain. */
START_TEST(failed_write_keeps_the_old_target) {
  enum { N = 1 << 18 };
  static float big[N];
  const char *path = at(_i ? "keep.safetensors" : "keep.tfz");
  write_sample(path, TF_COMPRESS_HUFFMAN);
  struct rlimit old, lim;
  getrlimit(RLIMIT_FSIZE, &old);
  lim = old;
  lim.rlim_cur = 64 << 10;
  signal(SIGXFSZ, SIG_IGN); /* otherwise the signal kills us: the commands' policy, not ours */
  ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &lim), 0);
  struct tf_ckpt_entry e = {"big", TF_F32, 1, {N}, big};
  struct tf_error err = {0};
  int rc = tf_ckpt_write(path, &e, 1, NULL, 0, TF_COMPRESS_NONE, &err);
  setrlimit(RLIMIT_FSIZE, &old);
  ck_assert_int_eq(rc, TF_EIO);
  ck_assert_msg(strstr(err.msg, path) && strstr(err.msg, "File too large"), "%s", err.msg);
  int same;
  ck_assert_int_eq(read_all(path, &same, &err), TF_OK);
  ck_assert(same);
  ck_assert_int_eq(temp_files_left(), 0);
}
END_TEST

/* The offset of the file that process pid has open in dir, -1 if none. */
static long long offset_in_dir(pid_t pid, const char *in) {
  char fds[64], link[600], target[600], info[600];
  snprintf(fds, sizeof fds, "/proc/%d/fd", (int)pid);
  DIR *d = opendir(fds);
  struct dirent *de;
  long long pos = -1;
  while (d && pos < 0 && (de = readdir(d))) {
    snprintf(link, sizeof link, "%s/%s", fds, de->d_name);
    ssize_t n = readlink(link, target, sizeof target - 1);
    if (n <= 0) continue;
    target[n] = '\0';
    if (strncmp(target, in, strlen(in)) || target[strlen(in)] != '/') continue;
    snprintf(info, sizeof info, "/proc/%d/fdinfo/%s", (int)pid, de->d_name);
    FILE *f = fopen(info, "r");
    if (f && fscanf(f, "pos: %lld", &pos) != 1) pos = -1;
    if (f) fclose(f);
  }
  if (d) closedir(d);
  return pos;
}

/* SIGKILL while a large checkpoint is being written (1 MB of it on disk): the old target is
 * intact and, where the filesystem has O_TMPFILE, nothing else is left in the directory. */
START_TEST(killed_write_leaves_the_old_target_and_no_file) {
  enum { N = 1 << 24 };
  const char *path = at("killed.tfz");
  uint32_t *big = malloc(N * sizeof *big);
  struct tf_rng g;
  tf_rng_seed(&g, 5);
  for (size_t i = 0; i < N; i++) big[i] = (uint32_t)tf_rng_next(&g); /* incompressible */
  pid_t pid = fork();
  ck_assert_int_ge(pid, 0);
  if (pid == 0) {
    struct tf_ckpt_entry e = {"big", TF_F32, 1, {N}, big};
    _exit(tf_ckpt_write(path, &e, 1, NULL, 0, TF_COMPRESS_BEST, NULL));
  }
  /* the target is written after the fork: a child forked after OpenMP ran would hang in it */
  write_sample(path, TF_COMPRESS_HUFFMAN);
  long long pos = -1;
  for (int i = 0; i < 3000 && (pos = offset_in_dir(pid, dir)) < 1000000; i++) usleep(10000);
  ck_assert_int_gt(pos, 1000000);
  kill(pid, SIGKILL);
  int status;
  ck_assert_int_eq(waitpid(pid, &status, 0), pid);
  ck_assert(WIFSIGNALED(status));
  int same;
  struct tf_error err = {0};
  ck_assert_msg(read_all(path, &same, &err) == TF_OK, "%s", err.msg);
  ck_assert(same);
  int fd = open(dir, O_TMPFILE | O_WRONLY, 0600);
  if (fd >= 0) ck_assert_int_eq(temp_files_left(), 0); /* else the named file may be left */
  if (fd >= 0) close(fd);
  free(big);
}
END_TEST

/* A temporary file left by a killed writer does not disturb the next write, which leaves it
 * alone (it may belong to a writer still running). */
START_TEST(stale_temporary_file_is_left_alone) {
  const char *path = at("stale.tfz"), *stale = at(".stale.tfz.tmp.AAAAAA");
  spit(stale, "half a checkpoint", 17);
  write_sample(path, TF_COMPRESS_HUFFMAN);
  write_sample(path, TF_COMPRESS_FAST);
  int same;
  struct tf_error err = {0};
  ck_assert_msg(read_all(path, &same, &err) == TF_OK, "%s", err.msg);
  ck_assert(same);
  size_t n;
  unsigned char *b = slurp(stale, &n);
  ck_assert(n == 17 && !memcmp(b, "half a checkpoint", 17));
  ck_assert_int_eq(temp_files_left(), 1);
  free(b);
  unlink(stale);
}
END_TEST

START_TEST(rewrite_keeps_mode_and_special_files_are_written_in_place) {
  const char *path = at("mode.tfz");
  struct stat st;
  write_sample(path, TF_COMPRESS_FAST);
  ck_assert_int_eq(chmod(path, 0600), 0);
  write_sample(path, TF_COMPRESS_FAST);
  ck_assert_int_eq(stat(path, &st), 0);
  ck_assert_int_eq(st.st_mode & 0777, 0600);
  write_sample("/dev/null", TF_COMPRESS_FAST); /* renaming over it would replace the device */
  ck_assert_int_eq(stat("/dev/null", &st), 0);
  ck_assert(S_ISCHR(st.st_mode));
  struct tf_ckpt_entry e = {"a", TF_F32, 1, {4}, NULL};
  struct tf_error err = {0};
  ck_assert_int_eq(tf_ckpt_write(path, &e, 1, NULL, 0, 0, &err), TF_EDATA); /* no data */
  ck_assert_int_eq(tf_ckpt_write(path, &e, 1, NULL, 0, 9, &err), TF_EUSAGE);
  ck_assert_int_eq(temp_files_left(), 0);
}
END_TEST

/* ---------------------------------------------------------------- stdio */

/* Runs tf_ckpt_write("-") with fd 1 pointing at fd. */
static int write_stdout_to(int fd, struct tf_error *err) {
  struct tf_ckpt_entry e[NSAMPLE];
  sample(e);
  int saved = dup(1);
  dup2(fd, 1);
  int rc = tf_ckpt_write("-", e, NSAMPLE, meta, 2, TF_COMPRESS_HUFFMAN, err);
  dup2(saved, 1);
  close(saved);
  return rc;
}

START_TEST(stdout_streams_and_refuses_terminals_and_full_disks) {
  struct tf_error err = {0};
  int fd = open(at("stdout.tfz"), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  ck_assert_int_eq(write_stdout_to(fd, &err), TF_OK);
  close(fd);
  int same;
  ck_assert_int_eq(read_all(at("stdout.tfz"), &same, &err), TF_OK);
  ck_assert(same);
  fd = open("/dev/full", O_WRONLY);
  ck_assert_int_eq(write_stdout_to(fd, &err), TF_EIO);
  ck_assert_msg(strstr(err.msg, "<stdout>: write failed: No space left on device"), "%s", err.msg);
  close(fd);
  int pty = posix_openpt(O_RDWR | O_NOCTTY);
  if (pty < 0 || grantpt(pty) || unlockpt(pty)) return; /* no pseudo-terminals here */
  fd = open(ptsname(pty), O_RDWR | O_NOCTTY);
  ck_assert_int_ge(fd, 0);
  ck_assert_int_eq(write_stdout_to(fd, &err), TF_EUSAGE);
  close(fd);
  close(pty);
}
END_TEST

/* _i 0: gzip, 1: plain, each read from a pipe (no size, no seeking) and from a file. */
START_TEST(stdin_reads_from_pipes_and_files) {
  const char *path = at(_i ? "in.safetensors" : "in.tfz");
  write_sample(path, TF_COMPRESS_BEST);
  size_t n;
  unsigned char *b = slurp(path, &n);
  int p[2], saved = dup(0);
  ck_assert_int_eq(pipe(p), 0);
  ck_assert_int_eq(write(p[1], b, n), (ssize_t)n); /* small enough for the pipe buffer */
  close(p[1]);
  dup2(p[0], 0);
  close(p[0]);
  struct tf_error err = {0};
  int same;
  ck_assert_msg(read_all("-", &same, &err) == TF_OK, "%s", err.msg);
  ck_assert(same);
  int fd = open(path, O_RDONLY);
  dup2(fd, 0);
  close(fd);
  ck_assert_int_eq(read_all("-", &same, &err), TF_OK);
  ck_assert(same);
  spit(at("in.cut"), b, n - 1);
  fd = open(at("in.cut"), O_RDONLY);
  dup2(fd, 0);
  close(fd);
  ck_assert_int_eq(read_all("-", &same, &err), TF_EDATA);
  ck_assert_msg(!strncmp(err.msg, "<stdin>: ", 9), "%s", err.msg);
  dup2(saved, 0);
  close(saved);
  free(b);
}
END_TEST

/* ---------------------------------------------------------------- suite */

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *ftw) {
  (void)st, (void)flag, (void)ftw;
  return remove(p);
}

static void setup(void) {
  tf_test_tmp_path(dir, sizeof dir, "test_ckpt.XXXXXX");
  ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void teardown(void) {
  nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static Suite *ckpt_suite(void) {
  Suite *s = suite_create("ckpt");
  TCase *tc = tcase_create("round trip");
  tcase_add_unchecked_fixture(tc, setup, teardown);
  tcase_add_loop_test(tc, round_trip_is_exact_in_every_mode, 0, 5);
  tcase_add_loop_test(tc, large_tensors_read_in_pieces_and_skipped, 0, 2);
  tcase_add_loop_test(tc, gzip_output_is_standard_and_independent_of_threads, 0, 4);
  tcase_add_test(tc, open_reads_only_the_header);
  suite_add_tcase(s, tc);
  tc = tcase_create("damaged");
  tcase_add_unchecked_fixture(tc, setup, teardown);
  tcase_set_timeout(tc, 60);
  tcase_add_loop_test(tc, every_truncation_is_edata, 0, 2);
  tcase_add_test(tc, bit_flips_in_a_gzip_file_are_detected);
  tcase_add_test(tc, a_wrong_trailer_names_the_check);
  tcase_add_test(tc, bit_flips_in_a_plain_file);
  tcase_add_test(tc, wrong_header_lengths_are_edata);
  tcase_add_test(tc, trailing_bytes_are_edata);
  tcase_add_test(tc, gzip_claiming_more_than_it_can_hold_is_edata);
  tcase_add_test(tc, garbage_empty_and_tiny_files_are_edata);
  tcase_add_test(tc, missing_file_and_directory_are_enoinput);
  suite_add_tcase(s, tc);
  tc = tcase_create("write");
  tcase_add_unchecked_fixture(tc, setup, teardown);
  tcase_add_test(tc, uncreatable_targets_are_ecantcreat);
  tcase_add_loop_test(tc, failed_write_keeps_the_old_target, 0, 2);
  tcase_add_test(tc, killed_write_leaves_the_old_target_and_no_file);
  tcase_add_test(tc, stale_temporary_file_is_left_alone);
  tcase_add_test(tc, rewrite_keeps_mode_and_special_files_are_written_in_place);
  tcase_add_test(tc, stdout_streams_and_refuses_terminals_and_full_disks);
  tcase_add_loop_test(tc, stdin_reads_from_pipes_and_files, 0, 2);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  return tf_test_run(ckpt_suite());
}
