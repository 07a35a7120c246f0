/* test_st.c: the safetensors header codec (lib/st.c): what decode accepts, every rule it
 * enforces with the message it gives, and encode -> decode round trips. No file I/O here. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "tokenformer.h"
#include "suite.h"
#include "model_internal.h"
#include "st_internal.h"

static int decode(struct tf_st_header *h, const char *json, struct tf_error *err) {
  return tf_st_decode(h, json, strlen(json), err);
}

/* A tensor object member, e.g. T("a", "F32", "[2, 3]", 0, 24). */
#define T(name, dtype, shape, b, e)                                                                \
  "\"" name "\": {\"dtype\": \"" dtype "\", \"shape\": " shape ", \"data_offsets\": [" #b ", " #e  \
  "]}"

START_TEST(dtype_names_and_sizes_match_the_format) {
  static const struct {
    enum tf_dtype t;
    const char *name;
    size_t size;
  } want[] = {{TF_F32, "F32", 4}, {TF_F64, "F64", 8},   {TF_I64, "I64", 8},
              {TF_U64, "U64", 8}, {TF_I32, "I32", 4},   {TF_U8, "U8", 1},
              {TF_F16, "F16", 2}, {TF_BF16, "BF16", 2}, {TF_I8, "I8", 1}};
  for (size_t i = 0; i < sizeof want / sizeof *want; i++) {
    ck_assert_str_eq(tf_dtype_name(want[i].t), want[i].name);
    ck_assert_uint_eq(tf_dtype_size(want[i].t), want[i].size);
  }
  ck_assert_uint_eq(tf_dtype_size(TF_NDTYPES), 0);
}
END_TEST

START_TEST(decode_accepts_metadata_scalar_and_listing_order) {
  /* Listed out of data order on purpose: the header is a JSON object, order is free. */
  const char *json =
      "{" T("b", "I64", "[]", 24, 32) ", \"__metadata__\": {\"format\": "
                                      "\"tokenformer\", \"format_version\": \"1\"}, " T(
                                          "a", "F32", "[2, 3]", 0, 24) "}   ";
  struct tf_st_header h;
  struct tf_error err = {0};
  ck_assert_int_eq(decode(&h, json, &err), TF_OK);
  ck_assert_uint_eq(h.n_tensors, 2);
  ck_assert_str_eq(h.tensors[0].name, "a"); /* data order */
  ck_assert_int_eq(h.tensors[0].dtype, TF_F32);
  ck_assert_int_eq(h.tensors[0].ndim, 2);
  ck_assert_int_eq(h.tensors[0].shape[0], 2);
  ck_assert_int_eq(h.tensors[0].shape[1], 3);
  ck_assert_int_eq(h.tensors[1].ndim, 0);
  ck_assert_uint_eq(h.tensors[1].begin, 24);
  ck_assert_uint_eq(h.tensors[1].end, 32);
  ck_assert_uint_eq(h.data_len, 32);
  ck_assert_uint_eq(h.header_len, strlen(json));
  ck_assert_str_eq(tf_st_meta(&h, "format"), "tokenformer");
  ck_assert_str_eq(tf_st_meta(&h, "format_version"), "1");
  ck_assert_ptr_null(tf_st_meta(&h, "config"));
  ck_assert_ptr_eq(tf_st_find(&h, "b"), &h.tensors[1]);
  ck_assert_ptr_null(tf_st_find(&h, "c"));
  tf_st_free(&h);
  ck_assert_uint_eq(h.n_tensors, 0);
}
END_TEST

START_TEST(decode_accepts_empty_tensors_and_empty_header) {
  struct tf_st_header h;
  struct tf_error err = {0};
  const char *json = "{" T("e", "F32", "[0, 5]", 8, 8) ", " T("x", "F64", "[1]", 0, 8) "}";
  ck_assert_int_eq(decode(&h, json, &err), TF_OK);
  ck_assert_str_eq(h.tensors[0].name, "x");
  ck_assert_str_eq(h.tensors[1].name, "e");
  ck_assert_uint_eq(h.data_len, 8);
  tf_st_free(&h);
  ck_assert_int_eq(decode(&h, "{}      ", &err), TF_OK);
  ck_assert_uint_eq(h.n_tensors, 0);
  ck_assert_uint_eq(h.data_len, 0);
  tf_st_free(&h);
}
END_TEST

/* One header that breaks one rule, and a piece of the message that must say which. */
static const struct {
  const char *json, *msg;
} bad[] = {
    {"{\"a\": ", "header is not valid JSON"},
    {"[1, 2]", "does not start with '{'"},
    {"{\"a\": {\"dtype\": \"F32\"} } x", "header is not valid JSON"},
    {"{\"a\": 5}", "tensor a: not an object"},
    {"{" T("a", "F8", "[1]", 0, 1) "}", "tensor a: unknown dtype \"F8\""},
    {"{\"a\": {\"dtype\": 32, \"shape\": [], \"data_offsets\": [0, 4]}}",
     "tensor a: dtype is missing or not a string"},
    {"{\"a\": {\"shape\": [], \"data_offsets\": [0, 4]}}", "tensor a: dtype is missing"},
    {"{\"a\": {\"dtype\": \"F32\", \"shape\": [], \"data_offsets\": [0, 4], \"x\": 1}}",
     "tensor a: unknown member \"x\""},
    {"{" T("a", "F32", "[-1]", 0, 4) "}", "tensor a: shape[0] is not a non-negative integer"},
    {"{" T("a", "F32", "[2.0]", 0, 8) "}", "tensor a: shape[0] is not a non-negative integer"},
    {"{" T("a", "F32", "3", 0, 12) "}", "tensor a: shape is missing or not an array"},
    {"{" T("a", "F32", "[99999999999999999999]", 0, 4) "}", "header is not valid JSON"},
    {"{" T("a", "F32", "[4294967296, 4294967296]", 0, 0) "}",
     "tensor a: shape [4294967296, 4294967296] F32 is too large"},
    {"{" T("a", "U8", "[1, 1, 1, 1, 1, 1, 1, 1, 1]", 0, 1) "}",
     "tensor a: shape has 9 dimensions, at most 8 allowed"},
    {"{" T("a", "F32", "[1]", 4, 0) "}", "tensor a: data_offsets [4, 0] end before they begin"},
    {"{" T("a", "F32", "[1]", -4, 0) "}", "tensor a: data_offsets must be [begin, end]"},
    {"{\"a\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0]}}",
     "tensor a: data_offsets must be [begin, end]"},
    {"{" T("layers.0.mlp.key_param_tokens", "F32", "[2, 3]", 0, 12) "}",
     "tensor layers.0.mlp.key_param_tokens: data_offsets [0, 12] hold 12 bytes, shape [2, 3] "
     "F32 needs 24"},
    {"{" T("a", "F32", "[6]", 0, 24) ", " T("b", "F32", "[2]", 32, 40) "}",
     "hole in the data region between byte 24 and 32"},
    {"{" T("a", "F32", "[6]", 8, 32) "}", "hole in the data region between byte 0 and 8"},
    {"{" T("a", "F32", "[6]", 0, 24) ", " T("b", "F32", "[6]", 16, 40) "}",
     "tensors a [0, 24] and b [16, 40] overlap"},
    {"{" T("a", "F32", "[6]", 0, 24) ", " T("z", "F32", "[0]", 4, 4) "}",
     "tensors a [0, 24] and z [4, 4] overlap"},
    {"{\"__metadata__\": {\"x\": 1}}", "__metadata__: member \"x\" is not a string"},
    {"{\"__metadata__\": [\"x\"]}", "__metadata__ is not an object"},
    {"{" T("a", "F32", "[1]", 0, 4) ", " T("a", "F32", "[1]", 4, 8) "}", "duplicate object key"},
    {"{" T("", "F32", "[1]", 0, 4) "}", "a tensor has an empty name"},
    {"{" T("\xff", "F32", "[1]", 0, 4) "}", "header is not valid JSON"},
    {"{" T("a\\u001b[31m", "X", "[1]", 0, 4) "}", "tensor a\\x1b[31m: unknown dtype"},
};

START_TEST(decode_rejects_each_rule_violation_with_a_specific_message) {
  struct tf_st_header h;
  struct tf_error err = {0};
  int rc = decode(&h, bad[_i].json, &err);
  ck_assert_msg(rc == TF_EDATA, "case %d: rc %d for %s", _i, rc, bad[_i].json);
  ck_assert_msg(strstr(err.msg, bad[_i].msg), "case %d: message \"%s\" lacks \"%s\"", _i, err.msg,
                bad[_i].msg);
  ck_assert_uint_eq(h.n_tensors, 0); /* freed on failure */
}
END_TEST

START_TEST(decode_rejects_empty_and_oversized_headers) {
  struct tf_st_header h;
  struct tf_error err = {0};
  ck_assert_int_eq(tf_st_decode(&h, "{}", 0, &err), TF_EDATA);
  ck_assert_str_eq(err.msg, "empty header");
  /* Only the first byte is set: the length alone must be refused, before any parsing. */
  char *big = malloc(TF_ST_MAX_HEADER + 1ul);
  ck_assert_ptr_nonnull(big);
  big[0] = '{';
  ck_assert_int_eq(tf_st_decode(&h, big, TF_ST_MAX_HEADER + 1ul, &err), TF_EDATA);
  ck_assert_ptr_nonnull(strstr(err.msg, "exceeds the limit"));
  free(big);
}
END_TEST

/* Tensors given to the encoder in no particular order, every dtype once or more. */
static const struct tf_st_tensor sample[] = {
    {.name = "u8", .dtype = TF_U8, .ndim = 1, .shape = {3}},
    {.name = "w", .dtype = TF_F32, .ndim = 2, .shape = {2, 3}},
    {.name = "bf", .dtype = TF_BF16, .ndim = 1, .shape = {5}},
    {.name = "step", .dtype = TF_I64, .ndim = 0},
    {.name = "flops", .dtype = TF_F64, .ndim = 0},
    {.name = "h", .dtype = TF_F16, .ndim = 3, .shape = {1, 2, 1}},
    {.name = "rng", .dtype = TF_U64, .ndim = 1, .shape = {4}},
    {.name = "i", .dtype = TF_I32, .ndim = 2, .shape = {0, 7}},
    {.name = "a", .dtype = TF_F32, .ndim = 1, .shape = {1}},
};
#define NSAMPLE (sizeof sample / sizeof *sample)

START_TEST(encode_decode_round_trip_sorted_by_size_then_name) {
  static const char *want[NSAMPLE] = {"flops", "rng", "step", "a", "i", "w", "bf", "h", "u8"};
  const char *meta[] = {"format", "tokenformer", "note",
                        "quote \" backslash \\ newline\n \xc3\xa9"};
  size_t order[NSAMPLE], len;
  char *buf;
  struct tf_error err = {0};
  ck_assert_int_eq(tf_st_encode(sample, NSAMPLE, meta, 2, order, &buf, &len, &err), TF_OK);
  uint64_t n = 0;
  for (int i = 7; i >= 0; i--) n = n << 8 | (unsigned char)buf[i];
  ck_assert_uint_eq(n + 8, len);
  ck_assert_uint_eq(len % 8, 0);
  ck_assert_int_eq(buf[8], '{');
  struct tf_st_header h;
  ck_assert_int_eq(tf_st_decode(&h, buf + 8, n, &err), TF_OK);
  ck_assert_uint_eq(h.n_tensors, NSAMPLE);
  uint64_t pos = 0;
  for (size_t i = 0; i < NSAMPLE; i++) {
    const struct tf_st_tensor *t = &h.tensors[i], *src = &sample[order[i]];
    ck_assert_str_eq(t->name, want[i]);
    ck_assert_str_eq(src->name, want[i]);
    ck_assert_int_eq(t->dtype, src->dtype);
    ck_assert_int_eq(t->ndim, src->ndim);
    for (int d = 0; d < t->ndim; d++) ck_assert_int_eq(t->shape[d], src->shape[d]);
    ck_assert_uint_eq(t->begin, pos); /* contiguous in data order */
    pos = t->end;
  }
  ck_assert_uint_eq(h.data_len, 8 + 32 + 8 + 4 + 0 + 24 + 10 + 4 + 3);
  ck_assert_str_eq(tf_st_meta(&h, "note"), meta[3]);
  ck_assert_str_eq(tf_st_meta(&h, "format"), "tokenformer");
  tf_st_free(&h);
  free(buf);
}
END_TEST

START_TEST(encode_of_nothing_is_an_empty_padded_object) {
  size_t len;
  char *buf;
  struct tf_error err = {0};
  ck_assert_int_eq(tf_st_encode(NULL, 0, NULL, 0, NULL, &buf, &len, &err), TF_OK);
  ck_assert_uint_eq(len, 16);
  ck_assert_int_eq(memcmp(buf, "\x08\0\0\0\0\0\0\0{}      ", 16), 0);
  free(buf);
}
END_TEST

START_TEST(encode_rejects_invalid_tensors_and_metadata) {
  static const struct {
    struct tf_st_tensor t[2];
    size_t n;
    const char *msg;
  } cases[] = {
      {{{.name = "a", .dtype = TF_F32}, {.name = "a", .dtype = TF_U8}}, 2, "a: name given twice"},
      {{{.name = "", .dtype = TF_F32}}, 1, "empty name"},
      {{{.name = NULL, .dtype = TF_F32}}, 1, "empty name"},
      {{{.name = "__metadata__", .dtype = TF_F32}}, 1, "is reserved"},
      {{{.name = "a", .dtype = TF_NDTYPES}}, 1, "unknown dtype"},
      {{{.name = "a", .dtype = TF_F32, .ndim = 1, .shape = {-2}}}, 1, "negative dimension"},
      {{{.name = "a", .dtype = TF_F32, .ndim = 9}}, 1, "9 dimensions"},
      {{{.name = "a", .dtype = TF_F64, .ndim = 2, .shape = {1ll << 32, 1ll << 30}}},
       1,
       "too large"},
      {{{.name = "\xff", .dtype = TF_F32}}, 1, "not valid UTF-8"},
  };
  size_t order[2], len;
  char *buf;
  struct tf_error err = {0};
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    ck_assert_int_eq(tf_st_encode(cases[i].t, cases[i].n, NULL, 0, order, &buf, &len, &err),
                     TF_EDATA);
    ck_assert_msg(strstr(err.msg, cases[i].msg), "case %zu: \"%s\"", i, err.msg);
    ck_assert_ptr_null(buf);
  }
  const char *twice[] = {"k", "1", "k", "2"};
  ck_assert_int_eq(tf_st_encode(NULL, 0, twice, 2, NULL, &buf, &len, &err), TF_EDATA);
  ck_assert_ptr_nonnull(strstr(err.msg, "key \"k\" given twice"));
}
END_TEST

static Suite *st_suite(void) {
  Suite *s = suite_create("st");
  TCase *tc = tcase_create("decode");
  tcase_add_test(tc, dtype_names_and_sizes_match_the_format);
  tcase_add_test(tc, decode_accepts_metadata_scalar_and_listing_order);
  tcase_add_test(tc, decode_accepts_empty_tensors_and_empty_header);
  tcase_add_loop_test(tc, decode_rejects_each_rule_violation_with_a_specific_message, 0,
                      (int)(sizeof bad / sizeof *bad));
  tcase_add_test(tc, decode_rejects_empty_and_oversized_headers);
  suite_add_tcase(s, tc);
  tc = tcase_create("encode");
  tcase_add_test(tc, encode_decode_round_trip_sorted_by_size_then_name);
  tcase_add_test(tc, encode_of_nothing_is_an_empty_padded_object);
  tcase_add_test(tc, encode_rejects_invalid_tensors_and_metadata);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  return tf_test_run(st_suite());
}
