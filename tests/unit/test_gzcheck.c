/* test_gzcheck.c: the gzip checks done outside zlib (lib/gzcheck.c): a member's optional
 * header CRC-16 (FHCRC, as gzip --name or zlib's deflateSetHeader write it) is checked, so a
 * header changed in any byte it covers is refused with TF_EDATA naming the file, and a right
 * one loads; the header is parsed in whatever pieces inflate consumes it. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "tokenformer.h"
#include "suite.h"
#include "st_internal.h"

static char dir[256];
static char path[512], bad[512];

static const float w[300] = {1.5f, -2.0f, 3.25f};

/* A gzip member of a small checkpoint's bytes with the header fields asked for (FHCRC always);
 * *hlen is the header's length, its CRC-16 in the last two bytes. Free it. */
static unsigned char *member(int name, int comment, int extra, size_t *n, size_t *hlen) {
  struct tf_ckpt_entry e = {"w", TF_F32, 1, {300}, w};
  struct tf_error err = {0};
  char plain[600];
  snprintf(plain, sizeof plain, "%s/plain.safetensors", dir);
  ck_assert_msg(!tf_ckpt_write(plain, &e, 1, NULL, 0, TF_COMPRESS_NONE, &err), "%s", err.msg);
  FILE *f = fopen(plain, "rb");
  static unsigned char in[8192];
  size_t n_in = fread(in, 1, sizeof in, f);
  fclose(f);
  static unsigned char x[] = {'T', 'F', 4, 0, 1, 2, 3, 4};
  gz_header h = {.time = 1234567, .os = 3, .hcrc = 1};
  if (extra) h.extra = x, h.extra_len = sizeof x;
  if (name) h.name = (Bytef *)"model.safetensors";
  if (comment) h.comment = (Bytef *)"a comment";
  z_stream zs = {0};
  ck_assert_int_eq(deflateInit2(&zs, 6, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY), Z_OK);
  ck_assert_int_eq(deflateSetHeader(&zs, &h), Z_OK);
  size_t cap = deflateBound(&zs, n_in) + 64;
  unsigned char *out = malloc(cap);
  zs.next_in = in;
  zs.avail_in = (uInt)n_in;
  zs.next_out = out;
  zs.avail_out = (uInt)cap;
  ck_assert_int_eq(deflate(&zs, Z_FINISH), Z_STREAM_END);
  *n = zs.total_out;
  deflateEnd(&zs);
  *hlen = 10 + (extra ? 2 + sizeof x : 0) + (name ? 18 : 0) + (comment ? 10 : 0) + 2;
  ck_assert_int_eq(out[3], 2 | (extra ? 4 : 0) | (name ? 8 : 0) | (comment ? 16 : 0));
  return out;
}

static void spit(const char *p, const void *b, size_t n) {
  FILE *f = fopen(p, "wb");
  ck_assert_uint_eq(fwrite(b, 1, n, f), n);
  ck_assert_int_eq(fclose(f), 0);
}

/* Opens p and reads it to its end: the status, err set. */
static int read_file(const char *p, struct tf_error *err) {
  struct tf_ckpt_reader *r;
  int rc = tf_ckpt_open(&r, p, err);
  if (rc) return rc;
  const struct tf_st_header *h = tf_ckpt_header(r);
  for (size_t i = 0; !rc && i < h->n_tensors; i++)
    rc = tf_ckpt_read(r, NULL, h->tensors[i].end - h->tensors[i].begin, err);
  if (!rc) rc = tf_ckpt_finish(r, err);
  tf_ckpt_close(r);
  return rc;
}

static void expect_header_refused(const char *p) {
  struct tf_error err = {0};
  int rc = read_file(p, &err);
  ck_assert_msg(rc == TF_EDATA, "rc %d (%s)", rc, err.msg);
  ck_assert_msg(!strncmp(err.msg, p, strlen(p)), "the message lacks the file name: %s", err.msg);
  ck_assert_msg(strstr(err.msg, "corrupt gzip stream: header crc mismatch"), "%s", err.msg);
}

/* _i: which optional fields the header has (bit 0 name, 1 comment, 2 extra). */
START_TEST(a_right_header_crc_loads) {
  size_t n, hlen;
  unsigned char *b = member(_i & 1, _i & 2, _i & 4, &n, &hlen);
  spit(path, b, n);
  struct tf_error err = {0};
  ck_assert_msg(read_file(path, &err) == TF_OK, "%s", err.msg);
  free(b);
}
END_TEST

/* Every bit of the header that the CRC-16 covers but zlib does not read (MTIME, XFL, OS, the
 * name, comment and extra bytes) and every bit of the CRC-16 itself: refused, naming the file. */
START_TEST(a_wrong_header_crc_is_refused) {
  size_t n, hlen;
  unsigned char *b = member(_i & 1, _i & 2, _i & 4, &n, &hlen);
  for (size_t p = 4; p < hlen; p++) {
    if (p >= 10 && p < hlen - 2 && (b[p] == 0 || (p < 12 && (_i & 4))))
      continue; /* a name's or comment's end, XLEN: they move the fields, not only the CRC */
    for (int bit = 0; bit < 8; bit++) {
      b[p] ^= (unsigned char)(1 << bit);
      spit(bad, b, n);
      expect_header_refused(bad);
      b[p] ^= (unsigned char)(1 << bit);
    }
  }
  free(b);
}
END_TEST

/* A second member with a wrong header CRC: refused as well (each member has its header). */
START_TEST(a_later_member_is_checked_too) {
  size_t n, hlen;
  unsigned char *b = member(1, 0, 0, &n, &hlen);
  FILE *f = fopen(bad, "wb");
  unsigned char empty[] = {0x1f, 0x8b, 8, 2, 0, 0, 0, 0, 0, 3, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0};
  uint32_t crc = tf_crc32(0, empty, 10);
  empty[10] = (unsigned char)(crc ^ 1), empty[11] = (unsigned char)(crc >> 8);
  ck_assert_uint_eq(fwrite(b, 1, n, f), n);
  ck_assert_uint_eq(fwrite(empty, 1, sizeof empty, f), sizeof empty);
  ck_assert_int_eq(fclose(f), 0);
  expect_header_refused(bad);
  empty[10] ^= 1; /* the right CRC: an empty second member is allowed */
  spit(bad, b, n);
  f = fopen(bad, "ab");
  ck_assert_uint_eq(fwrite(empty, 1, sizeof empty, f), sizeof empty);
  ck_assert_int_eq(fclose(f), 0);
  struct tf_error err = {0};
  ck_assert_msg(read_file(bad, &err) == TF_OK, "%s", err.msg);
  free(b);
}
END_TEST

/* The checker parses the header in any pieces: cut in two at every offset, or one byte at a
 * time, it finds the right CRC right and a wrong one wrong. */
START_TEST(the_header_is_parsed_in_any_pieces) {
  size_t n, hlen;
  unsigned char *b = member(1, 1, 1, &n, &hlen);
  for (int wrong = 0; wrong < 2; wrong++) {
    b[hlen - 1] ^= (unsigned char)wrong;
    for (size_t cut = 0; cut <= hlen; cut++) {
      struct tf_gz_check c = {0};
      const char *first = tf_gz_check_step(&c, b, cut, b, 0);
      const char *got = tf_gz_check_step(&c, b + cut, hlen - cut, b, 0);
      ck_assert_msg(!first || (wrong && cut == hlen), "cut %zu", cut);
      ck_assert_msg(wrong ? got != NULL : got == NULL, "cut %zu, wrong %d", cut, wrong);
    }
    struct tf_gz_check c = {0};
    const char *got = NULL;
    for (size_t p = 0; p < hlen; p++) got = tf_gz_check_step(&c, b + p, 1, b, 0);
    ck_assert_msg(wrong ? got != NULL : got == NULL, "byte by byte, wrong %d", wrong);
    b[hlen - 1] ^= (unsigned char)wrong;
  }
  free(b);
}
END_TEST

static void setup(void) {
  tf_test_tmp_path(dir, sizeof dir, "test_gzcheck.XXXXXX");
  ck_assert_ptr_nonnull(mkdtemp(dir));
  snprintf(path, sizeof path, "%s/good.tfz", dir);
  snprintf(bad, sizeof bad, "%s/bad.tfz", dir);
}

static void teardown(void) {
  char plain[600];
  snprintf(plain, sizeof plain, "%s/plain.safetensors", dir);
  unlink(plain);
  unlink(path);
  unlink(bad);
  rmdir(dir);
}

int main(void) {
  Suite *s = suite_create("gzcheck");
  TCase *tc = tcase_create("header crc");
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_add_loop_test(tc, a_right_header_crc_loads, 0, 8);
  tcase_add_loop_test(tc, a_wrong_header_crc_is_refused, 0, 8);
  tcase_add_test(tc, a_later_member_is_checked_too);
  tcase_add_test(tc, the_header_is_parsed_in_any_pieces);
  suite_add_tcase(s, tc);
  return tf_test_run(s);
}
