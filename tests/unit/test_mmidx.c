/* test_mmidx.c: indexed token datasets (lib/mmidx.c) against the reference files of
 * tests/reference/mmidx_ref.py (tests/fixtures/mmidx_*): our reader reads them, our writer
 * writes the same bytes for the same documents, and every damaged index is refused with the
 * file and the field named. Also corpora opened from datasets (lib/data.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "suite.h"
#include "tokenformer.h"
#include "data_internal.h"

static char dir[64];

static void setup(void) {
  snprintf(dir, sizeof dir, "/tmp/tf-test-mmidx-XXXXXX");
  ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void teardown(void) {
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  ck_assert_int_eq(system(cmd), 0);
}

static const char *fixture(const char *name) {
  static char path[512];
  const char *d = getenv("TF_FIXTURES");
  snprintf(path, sizeof path, "%s/%s", d ? d : "tests/fixtures", name);
  return path;
}

static uint8_t *slurp(const char *path, size_t *n) {
  FILE *f = fopen(path, "rb");
  ck_assert_msg(f != NULL, "cannot open %s", path);
  fseek(f, 0, SEEK_END);
  *n = (size_t)ftell(f);
  fseek(f, 0, SEEK_SET);
  uint8_t *b = malloc(*n + 1);
  ck_assert_uint_eq(fread(b, 1, *n, f), *n);
  fclose(f);
  return b;
}

static void spit(const char *path, const void *p, size_t n) {
  FILE *f = fopen(path, "wb");
  ck_assert_ptr_nonnull(f);
  ck_assert_uint_eq(fwrite(p, 1, n, f), n);
  fclose(f);
}

/* The documents of a docs file (one per line, ids separated by spaces) as one id array with
 * the document lengths. */
static int32_t *read_docs(const char *name, size_t *lens, int *n_docs, size_t *total) {
  size_t n;
  char *text = (char *)slurp(fixture(name), &n);
  text[n] = 0;
  int32_t *ids = malloc((n + 1) * sizeof *ids);
  *n_docs = 0;
  *total = 0;
  for (char *line = text, *next; line < text + n; line = next + 1) {
    next = strchr(line, '\n');
    *next = 0;
    size_t k = 0;
    for (char *p = line, *end; *p; p = end) {
      ids[*total + k++] = (int32_t)strtol(p, &end, 10);
      while (*end == ' ') end++;
    }
    lens[(*n_docs)++] = k;
    *total += k;
  }
  free(text);
  return ids;
}

static void assert_same_file(const char *ours, const char *ref) {
  size_t a, b;
  uint8_t *x = slurp(ours, &a), *y = slurp(ref, &b);
  ck_assert_uint_eq(a, b);
  ck_assert_msg(memcmp(x, y, a) == 0, "%s differs from %s", ours, ref);
  free(x);
  free(y);
}

/* Writes docs_name's documents with n_ids ids and compares with the reference PREFIX. */
static void writer_matches(const char *docs_name, const char *ref, int n_ids, int dtype) {
  size_t lens[64], total;
  int n_docs;
  int32_t *ids = read_docs(docs_name, lens, &n_docs, &total);
  char prefix[128], a[160], b[160];
  snprintf(prefix, sizeof prefix, "%s/ours", dir);
  struct tf_mmidx_writer *w;
  struct tf_error err = {0};
  ck_assert_int_eq(tf_mmidx_writer_create(&w, prefix, n_ids, &err), TF_OK);
  ck_assert_int_eq(tf_mmidx_writer_dtype(w), dtype);
  for (int d = 0, at = 0; d < n_docs; at += (int)lens[d++])
    ck_assert_int_eq(tf_mmidx_writer_add(w, ids + at, lens[d], &err), TF_OK);
  ck_assert_int_eq(tf_mmidx_writer_finish(w, &err), TF_OK);
  for (int k = 0; k < 2; k++) {
    snprintf(a, sizeof a, "%s.%s", prefix, k ? "idx" : "bin");
    snprintf(b, sizeof b, "%s.%s", ref, k ? "idx" : "bin");
    assert_same_file(a, fixture(b));
  }
  free(ids);
}

START_TEST(writer_output_is_byte_identical_to_the_reference) {
  writer_matches("mmidx_docs.txt", "mmidx_u16", 50277, TF_IDS_U16);
  writer_matches("mmidx_docs_i32.txt", "mmidx_i32", 70000, TF_IDS_I32);
}
END_TEST

/* The reference dataset read as a corpus holds exactly the documents' ids, in order. */
static void reader_reads(const char *docs_name, const char *ref, int dtype) {
  size_t lens[64], total;
  int n_docs;
  int32_t *ids = read_docs(docs_name, lens, &n_docs, &total);
  struct tf_corpus c;
  struct tf_error err = {0};
  ck_assert_int_eq(tf_corpus_open(&c, fixture(ref), &err), TF_OK);
  ck_assert(c.is_dataset);
  ck_assert_int_eq(c.dtype, dtype);
  ck_assert_uint_eq(c.n, total);
  ck_assert_uint_eq(c.n_docs, 6); /* the empty document is left out */
  int32_t *got = malloc(total * sizeof *got);
  tf_corpus_copy(&c, 0, total, got);
  ck_assert_mem_eq(got, ids, total * sizeof *got);
  ck_assert_int_eq(tf_corpus_check_ids(&c, 70000, "test", &err), TF_OK);
  ck_assert_int_eq(tf_corpus_check_ids(&c, 50276, "the test's ids", &err), TF_EDATA);
  ck_assert_msg(strstr(err.msg, "outside the test's ids [0, 50276)"), "%s", err.msg);
  free(got);
  free(ids);
  tf_corpus_close(&c);
}

START_TEST(reader_reads_the_reference_files) {
  reader_reads("mmidx_docs.txt", "mmidx_u16", TF_IDS_U16);
  reader_reads("mmidx_docs_i32.txt", "mmidx_i32.idx", TF_IDS_I32);
  struct tf_corpus c;
  struct tf_error err = {0};
  ck_assert_int_eq(tf_corpus_open(&c, fixture("mmidx_multi.bin"), &err), TF_OK);
  ck_assert_uint_eq(c.n_docs, 3);
  ck_assert_uint_eq(c.n, 10);
  int32_t got[10], want[10] = {5, 6, 7, 8, 9, 10, 11, 12, 0, 13};
  tf_corpus_copy(&c, 0, 10, got);
  ck_assert_mem_eq(got, want, sizeof want);
  tf_corpus_close(&c);
}
END_TEST

/* The reference index with one change at byte off (len bytes of v), parsed. */
static int parse_changed(const uint8_t *idx, size_t n, size_t off, const void *v, size_t len,
                         uint64_t bin_len, struct tf_error *err) {
  uint8_t *copy = malloc(n);
  memcpy(copy, idx, n);
  memcpy(copy + off, v, len);
  struct tf_mmidx_info info;
  int rc = tf_mmidx_parse(copy, n, bin_len, "x.idx", "x.bin", &info, err);
  free(copy);
  return rc;
}

#define EXPECT_REFUSED(off, value, bin_len, text)                                                  \
  do {                                                                                             \
    __typeof__(value) v_ = (value);                                                                \
    ck_assert_int_eq(parse_changed(idx, n, off, &v_, sizeof v_, bin_len, &err), TF_EDATA);         \
    ck_assert_msg(strstr(err.msg, text) && !strncmp(err.msg, "x.idx: ", 7), "%s", err.msg);        \
  } while (0)

START_TEST(damaged_indexes_are_refused_naming_the_problem) {
  size_t n, bin_n;
  uint8_t *idx = slurp(fixture("mmidx_multi.idx"), &n);
  free(slurp(fixture("mmidx_multi.bin"), &bin_n));
  struct tf_error err = {0};
  struct tf_mmidx_info info;
  ck_assert_int_eq(tf_mmidx_parse(idx, n, bin_n, "x.idx", "x.bin", &info, &err), TF_OK);
  ck_assert_uint_eq(info.n_seqs, 4);
  ck_assert_uint_eq(info.n_docs, 3);
  EXPECT_REFUSED(0, (uint8_t)'N', bin_n, "magic");
  EXPECT_REFUSED(9, (uint64_t)2, bin_n, "version 2");
  EXPECT_REFUSED(17, (uint8_t)6, bin_n, "float");
  EXPECT_REFUSED(17, (uint8_t)9, bin_n, "unknown dtype code 9");
  EXPECT_REFUSED(18, (uint64_t)5, bin_n, "5 sequences");
  EXPECT_REFUSED(18, (uint64_t)1 << 62, bin_n, "need more bytes");
  EXPECT_REFUSED(26, (uint64_t)0, bin_n, "document index");
  EXPECT_REFUSED(34, (int32_t)-1, bin_n, "sequence 0 has size -1");
  EXPECT_REFUSED(34 + 16 + 8, (int64_t)4, bin_n, "sequence 1 starts at byte 4");
  EXPECT_REFUSED(34 + 4, (int32_t)100, bin_n, "runs past the end of x.bin");
  EXPECT_REFUSED(34 + 48, (int64_t)1, bin_n, "starts at 1, expected 0");
  EXPECT_REFUSED(34 + 48 + 8, (int64_t)9, bin_n, "entry 1 is 9");
  EXPECT_REFUSED(34 + 48 + 24, (int64_t)3, bin_n, "ends at sequence 3 of 4");
  ck_assert_int_eq(tf_mmidx_parse(idx, n, bin_n + 2, "x.idx", "x.bin", &info, &err), TF_EDATA);
  ck_assert_msg(strstr(err.msg, "hold 20 bytes, x.bin has 22"), "%s", err.msg);
  for (size_t cut = 0; cut < n; cut++)
    ck_assert_int_eq(tf_mmidx_parse(idx, cut, bin_n, "x.idx", "x.bin", &info, &err), TF_EDATA);
  free(idx);
}
END_TEST

START_TEST(a_failed_writer_leaves_nothing_and_keeps_old_files) {
  char prefix[128], path[160];
  snprintf(prefix, sizeof prefix, "%s/d", dir);
  snprintf(path, sizeof path, "%s.bin", prefix);
  spit(path, "old", 3);
  struct tf_mmidx_writer *w;
  struct tf_error err = {0};
  const int32_t ids[] = {1, 2, 256};
  ck_assert_int_eq(tf_mmidx_writer_create(&w, prefix, 256, &err), TF_OK);
  ck_assert_int_eq(tf_mmidx_writer_add(w, ids, 2, &err), TF_OK);
  ck_assert_int_eq(tf_mmidx_writer_add(w, ids, 3, &err), TF_EDATA);
  ck_assert_msg(strstr(err.msg, "token id 256 is outside [0, 256)"), "%s", err.msg);
  tf_mmidx_writer_abort(w);
  char cmd[512];
  snprintf(cmd, sizeof cmd, "test $(ls -A '%s' | wc -l) = 1 && test \"$(cat '%s')\" = old", dir,
           path);
  ck_assert_int_eq(system(cmd), 0);
  snprintf(prefix, sizeof prefix, "%s/missing-dir/d", dir);
  ck_assert_int_eq(tf_mmidx_writer_create(&w, prefix, 256, &err), TF_ECANTCREAT);
  ck_assert_msg(strstr(err.msg, "missing-dir/d.bin: cannot create"), "%s", err.msg);
}
END_TEST

START_TEST(dataset_names_resolve_to_the_prefix_text_files_stay_text) {
  char prefix[128], p[160], got[256];
  snprintf(prefix, sizeof prefix, "%s/set", dir);
  snprintf(p, sizeof p, "%s.idx", prefix);
  spit(p, "", 0);
  ck_assert_int_eq(tf_mmidx_prefix(prefix, got, sizeof got), 0); /* no .bin yet */
  snprintf(p, sizeof p, "%s.bin", prefix);
  spit(p, "", 0);
  ck_assert_int_eq(tf_mmidx_prefix(prefix, got, sizeof got), 1);
  ck_assert_str_eq(got, prefix);
  ck_assert_int_eq(tf_mmidx_prefix(p, got, sizeof got), 1);
  ck_assert_str_eq(got, prefix);
  spit(prefix, "text", 4); /* a file named PREFIX itself is text */
  ck_assert_int_eq(tf_mmidx_prefix(prefix, got, sizeof got), 0);
  struct tf_corpus c;
  struct tf_error err = {0};
  ck_assert_int_eq(tf_corpus_open(&c, p, &err), TF_EDATA); /* empty .idx */
  ck_assert_msg(strstr(err.msg, "set.idx: not an indexed dataset index"), "%s", err.msg);
}
END_TEST

static Suite *mmidx_suite(void) {
  Suite *s = suite_create("mmidx");
  TCase *tc = tcase_create("mmidx");
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_add_test(tc, writer_output_is_byte_identical_to_the_reference);
  tcase_add_test(tc, reader_reads_the_reference_files);
  tcase_add_test(tc, damaged_indexes_are_refused_naming_the_problem);
  tcase_add_test(tc, a_failed_writer_leaves_nothing_and_keeps_old_files);
  tcase_add_test(tc, dataset_names_resolve_to_the_prefix_text_files_stay_text);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  return tf_test_run(mmidx_suite());
}
