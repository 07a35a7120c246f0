/* test_data.c: corpus opening errors, training windows, the rank split of the batch. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "suite.h"
#include "tokenformer.h"
#include "data_internal.h"
#include "rng.h"

static char dir[4096];

static const char *write_file(const char *name, const char *text, size_t n) {
  static char path[4200];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  FILE *f = fopen(path, "wb");
  fwrite(text, 1, n, f);
  fclose(f);
  return path;
}

static void setup(void) {
  tf_test_tmp_path(dir, sizeof dir, "tf-test-data-XXXXXX");
  ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void teardown(void) {
  char cmd[4200];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  ck_assert_int_eq(system(cmd), 0);
}

START_TEST(bad_corpus_files_get_clear_errors) {
  struct tf_corpus c;
  struct tf_error err = {0};
  char missing[4200];
  snprintf(missing, sizeof missing, "%s/none.txt", dir);
  ck_assert_int_eq(tf_corpus_open(&c, missing, &err), TF_ENOINPUT);
  ck_assert_ptr_nonnull(strstr(err.msg, "none.txt"));
  ck_assert_int_eq(tf_corpus_open(&c, dir, &err), TF_ENOINPUT);
  ck_assert_ptr_nonnull(strstr(err.msg, "directory"));
  ck_assert_int_eq(tf_corpus_open(&c, write_file("empty.txt", "", 0), &err), TF_EDATA);
  ck_assert_ptr_nonnull(strstr(err.msg, "empty"));
  ck_assert_int_eq(tf_corpus_open(&c, write_file("short.txt", "abc", 3), &err), TF_OK);
  ck_assert_int_eq(tf_corpus_check_window(&c, 8, &err), TF_EDATA);
  ck_assert_ptr_nonnull(strstr(err.msg, "shorter than one training window"));
  ck_assert_int_eq(tf_corpus_check_window(&c, 2, &err), TF_OK);
  tf_corpus_close(&c);
}
END_TEST

START_TEST(windows_are_next_byte_pairs_inside_the_corpus) {
  struct tf_corpus c;
  char text[200];
  for (int i = 0; i < 200; i++) text[i] = (char)(i % 97 + 20);
  ck_assert_int_eq(tf_corpus_open(&c, write_file("t.txt", text, 200), NULL), TF_OK);
  int32_t in[4 * 16], tg[4 * 16];
  struct tf_rng rng;
  tf_rng_seed(&rng, 1);
  for (int rep = 0; rep < 50; rep++) {
    tf_corpus_draw(&c, &rng, 4, 16, 0, 1, in, tg);
    for (int i = 0; i < 4 * 16; i++) {
      ck_assert_int_eq((in[i] - 20 + 1) % 97 + 20, tg[i]); /* target is the next byte */
      ck_assert(in[i] >= 20 && in[i] < 117);
    }
  }
  tf_corpus_close(&c);
}
END_TEST

START_TEST(two_ranks_of_batch_b_see_one_batch_of_2b) {
  struct tf_corpus c;
  char text[300];
  for (int i = 0; i < 300; i++) text[i] = (char)(i * 7 % 251);
  ck_assert_int_eq(tf_corpus_open(&c, write_file("r.txt", text, 300), NULL), TF_OK);
  int32_t whole_in[6 * 10], whole_tg[6 * 10], in[2][3 * 10], tg[2][3 * 10];
  struct tf_rng one, r0, r1;
  tf_rng_seed(&one, 4);
  r0 = r1 = one;
  for (int step = 0; step < 3; step++) {
    tf_corpus_draw(&c, &one, 6, 10, 0, 1, whole_in, whole_tg);
    tf_corpus_draw(&c, &r0, 3, 10, 0, 2, in[0], tg[0]);
    tf_corpus_draw(&c, &r1, 3, 10, 1, 2, in[1], tg[1]);
    ck_assert_int_eq(memcmp(whole_in, in[0], sizeof in[0]), 0);
    ck_assert_int_eq(memcmp(whole_in + 30, in[1], sizeof in[1]), 0);
    ck_assert_int_eq(memcmp(whole_tg + 30, tg[1], sizeof tg[1]), 0);
  }
  tf_corpus_close(&c);
}
END_TEST

START_TEST(utf8_check_finds_the_first_bad_byte) {
  ck_assert_uint_eq(tf_utf8_check("abc", 3), 3);
  ck_assert_uint_eq(tf_utf8_check("a\xc3\xa9\xf0\x9f\x98\x80", 7), 7);
  ck_assert_uint_eq(tf_utf8_check("ok \xff", 4), 3);
  ck_assert_uint_eq(tf_utf8_check("ab\xc3", 3), 2);       /* cut in the middle */
  ck_assert_uint_eq(tf_utf8_check("\xed\xa0\x80", 3), 0); /* a surrogate */
  ck_assert_uint_eq(tf_utf8_check("\xc0\xaf", 2), 0);     /* overlong */
}
END_TEST

START_TEST(ids_parse_reads_decimal_ids_and_names_bad_bytes) {
  struct tf_ids ids = {0};
  struct tf_error err = {0};
  const char ok[] = " 1\t22\n333 \n";
  ck_assert_int_eq(tf_ids_parse(ok, sizeof ok - 1, "f", &ids, &err), TF_OK);
  ck_assert_uint_eq(ids.n, 3);
  ck_assert_int_eq(ids.v[2], 333);
  ck_assert_int_eq(tf_ids_parse("1 -2", 4, "f", &ids, &err), TF_EDATA);
  ck_assert_str_eq(err.msg, "f: byte 2: expected a token id (a decimal number below 2^31)");
  ck_assert_int_eq(tf_ids_parse("12a", 3, "f", &ids, &err), TF_EDATA);
  ck_assert_int_eq(tf_ids_parse("2147483648", 10, "f", &ids, &err), TF_EDATA);
  tf_ids_free(&ids);
}
END_TEST

/* Chunked encoding gives the ids of one encode of the whole text, for every chunk size. */
static void chunks_agree(const struct tf_tokenizer *t, const char *text, size_t n) {
  struct tf_ids whole = {0}, part = {0};
  struct tf_error err = {0};
  ck_assert_int_eq(tf_tokenizer_encode(t, text, n, 0, &whole, &err), TF_OK);
  for (size_t chunk = 1; chunk < 80; chunk += 7) {
    part.n = 0;
    ck_assert_int_eq(tf_encode_text_chunked(t, text, n, 0, chunk, &part, &err), TF_OK);
    ck_assert_uint_eq(part.n, whole.n);
    ck_assert_mem_eq(part.v, whole.v, whole.n * sizeof *whole.v);
  }
  tf_ids_free(&whole);
  tf_ids_free(&part);
}

START_TEST(chunked_encoding_equals_one_encode) {
  static const char text[] = "In the beginning\nGod created the heaven\n\nAnd  the earth\n"
                             "1:2 was without form\n  and void;\n\u00e9t\u00e9\nx\n\n\n"
                             "<|endoftext|>\nAnd God said\n'tis\n \nZ";
  struct tf_tokenizer *t;
  struct tf_error err = {0};
  ck_assert_int_eq(tf_tokenizer_bytes(&t, &err), TF_OK);
  chunks_agree(t, text, sizeof text - 1);
  tf_tokenizer_free(t);
  ck_assert_msg(!tf_tokenizer_load(&t, "data/gpt-neox-20b-tokenizer.json", &err), "%s", err.msg);
  chunks_agree(t, text, sizeof text - 1);
  /* a real text: the training text of the tests, in chunks of 1 KB to 16 KB */
  struct tf_input in;
  ck_assert_int_eq(tf_input_open(&in, "data/tiny-train.txt", "tiny", &err), TF_OK);
  struct tf_ids whole = {0}, part = {0};
  ck_assert_int_eq(tf_tokenizer_encode(t, (const char *)in.p, in.n, 0, &whole, &err), TF_OK);
  for (size_t chunk = 1000; chunk < 20000; chunk *= 4) {
    part.n = 0;
    ck_assert_int_eq(tf_encode_text_chunked(t, (const char *)in.p, in.n, 0, chunk, &part, &err),
                     TF_OK);
    ck_assert_uint_eq(part.n, whole.n);
    ck_assert_mem_eq(part.v, whole.v, whole.n * sizeof *whole.v);
  }
  tf_ids_free(&whole);
  tf_ids_free(&part);
  tf_input_close(&in);
  tf_tokenizer_free(t);
}
END_TEST

int main(void) {
  Suite *s = suite_create("data");
  TCase *tc = tcase_create("corpus");
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_add_test(tc, bad_corpus_files_get_clear_errors);
  tcase_add_test(tc, windows_are_next_byte_pairs_inside_the_corpus);
  tcase_add_test(tc, utf8_check_finds_the_first_bad_byte);
  tcase_add_test(tc, ids_parse_reads_decimal_ids_and_names_bad_bytes);
  tcase_add_test(tc, chunked_encoding_equals_one_encode);
  tcase_add_test(tc, two_ranks_of_batch_b_see_one_batch_of_2b);
  suite_add_tcase(s, tc);
  return tf_test_run(s);
}
