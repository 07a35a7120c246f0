/* test_torch.c: the torch.save reader and writer (lib/ptzip.c, lib/pickle.c, lib/ptfile.c)
 * against files torch.save wrote (tests/fixtures/official, made by
 * tests/reference/make_official.py): tensors bitwise equal to what PyTorch holds, views and
 * DeepSpeed nesting, hostile files refused with their reason, recursion bombs, a lying
 * directory, and write -> read round trips (zip64 forced). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "official_fixture.h"
#include "suite.h"
#include "torch_internal.h"

/* Every tensor of file equals (bitwise) the expected one named prefix + its name. */
static void check_file(const char *file, const char *prefix, int nested, size_t n_expected) {
  struct official_expected e;
  struct tf_pt_file f;
  struct tf_error err = {0};
  official_expected_load(&e);
  ck_assert_msg(tf_pt_open(&f, official_path(file), &err) == TF_OK, "%s", err.msg);
  ck_assert_int_eq(f.d.nested, nested);
  ck_assert_uint_eq(f.d.n, n_expected);
  size_t compared = 0;
  for (size_t i = 0; i < f.d.n; i++) {
    const struct tf_pt_tensor *t = &f.d.t[i];
    if (strstr(t->name, "inv_freq")) continue; /* DeepSpeed's buffer, not a parameter */
    char name[256];
    snprintf(name, sizeof name, "%s%s", prefix, t->name);
    const struct tf_st_tensor *x;
    const void *want = official_expected_get(&e, name, &x);
    ck_assert_int_eq(t->ndim, x->ndim);
    for (int k = 0; k < t->ndim; k++) ck_assert_int_eq(t->shape[k], x->shape[k]);
    size_t n = (x->end - x->begin) / 4;
    float *got = malloc(n * sizeof *got + 1);
    ck_assert_msg(tf_pt_read(&f, i, got, &err) == TF_OK, "%s", err.msg);
    ck_assert_msg(!memcmp(got, want, n * 4), "%s: %s differs", file, t->name);
    free(got);
    compared++;
  }
  ck_assert_uint_eq(compared, 23);
  tf_pt_close(&f);
  official_expected_free(&e);
}

START_TEST(plain_fp32_file_reads_bitwise) {
  check_file("plain.bin", "", 0, 23);
}
END_TEST

START_TEST(fp16_file_widens_exactly) {
  check_file("fp16.bin", "half.", 0, 23);
}
END_TEST

START_TEST(bf16_file_widens_exactly) {
  check_file("bf16.bin", "bf16.", 0, 23);
}
END_TEST

START_TEST(strided_and_offset_views_read_as_their_values) {
  check_file("views.bin", "", 0, 23);
}
END_TEST

START_TEST(deepspeed_module_is_unwrapped) {
  check_file("deepspeed.pt", "half.", 1, 24);
}
END_TEST

/* ---------------------------------------------------------------- hostile files */

static const struct {
  const char *file, *reason;
} hostile[] = {
    {"bad/empty.bin", "empty file"},
    {"bad/bare.pkl", "not a valid zip archive"},
    {"bad/legacy.pt", "not a valid zip archive"},
    {"bad/compressed.bin", "is compressed (method 8)"},
    {"bad/os_system.bin", "global os.system is not allowed"},
    {"bad/unknown_global.bin", "global numpy.core.multiarray._reconstruct is not allowed"},
    {"bad/short_storage.bin", "tensor b: storage 1 holds 12 bytes, its 4 F32 elements need 16"},
    {"bad/offset_past_end.bin", "reaches past the end of its storage"},
};

START_TEST(hostile_files_are_refused_with_their_reason) {
  struct tf_pt_file f;
  struct tf_error err = {0};
  ck_assert_int_eq(tf_pt_open(&f, official_path(hostile[_i].file), &err), TF_EDATA);
  ck_assert_msg(strstr(err.msg, hostile[_i].reason), "%s: %s", hostile[_i].file, err.msg);
  ck_assert_ptr_nonnull(strstr(err.msg, hostile[_i].file));
}
END_TEST

static unsigned char *slurp(const char *path, size_t *n) {
  FILE *fp = fopen(path, "rb");
  ck_assert_ptr_nonnull(fp);
  fseek(fp, 0, SEEK_END);
  *n = (size_t)ftell(fp);
  rewind(fp);
  unsigned char *p = malloc(*n + 1);
  ck_assert_uint_eq(fread(p, 1, *n, fp), *n);
  fclose(fp);
  return p;
}

static size_t find_sig(const unsigned char *p, size_t n, uint32_t sig, int nth) {
  for (size_t i = 0; i + 4 <= n; i++)
    if ((uint32_t)(p[i] | p[i + 1] << 8 | p[i + 2] << 16 | (uint32_t)p[i + 3] << 24) == sig &&
        nth-- == 0)
      return i;
  ck_abort_msg("signature not found");
  return 0;
}

static int open_mem(const unsigned char *p, size_t n, struct tf_error *err) {
  struct tf_pt_file f;
  int rc = tf_pt_open_mem(&f, p, n, "mem.bin", err);
  if (!rc) tf_pt_close(&f);
  return rc;
}

/* The central directory says things the rest of the file does not. */
START_TEST(a_lying_directory_is_refused) {
  size_t n;
  unsigned char *orig = slurp(official_path("bad/valid.bin"), &n), *p = malloc(n);
  struct tf_error err = {0};
  ck_assert_int_eq(open_mem(orig, n, &err), TF_OK);
  size_t c1 = find_sig(orig, n, 0x02014b50, 1), end = find_sig(orig, n, 0x06054b50, 0);
  static const struct {
    size_t field; /* relative to the second central header, or to the end record */
    int at_end;
    const char *reason;
  } lies[] = {
      {42, 0, "where there is no local header"}, /* local header offset */
      {24, 0, "overlap"},                        /* both sizes */
      {20, 0, "stored size"},                    /* compressed size */
      {10, 0, "is compressed"},                  /* method */
      {19, 1, "outside the file"},               /* directory offset */
      {10, 1, "too short for its entry count"},  /* entry count */
      {16, 0, "CRC-32 mismatch"},                /* CRC of data.pkl? of entry 1: read later */
  };
  for (size_t k = 0; k < sizeof lies / sizeof *lies; k++) {
    memcpy(p, orig, n);
    unsigned char *f = p + (lies[k].at_end ? end : c1) + lies[k].field;
    f[0] ^= 0x41;
    if (!lies[k].at_end && lies[k].field == 24) f[-4] ^= 0x41; /* both sizes agree */
    if (lies[k].at_end && lies[k].field == 10) f[-2] ^= 0x41;  /* both counts, one disk */
    struct tf_pt_file pf;
    int rc = tf_pt_open_mem(&pf, p, n, "mem.bin", &err);
    if (rc == TF_OK) { /* the CRC is checked when a tensor is read */
      float buf[16];
      for (size_t i = 0; i < pf.d.n && !rc; i++) rc = tf_pt_read(&pf, i, buf, &err);
      tf_pt_close(&pf);
    }
    ck_assert_msg(rc == TF_EDATA && strstr(err.msg, lies[k].reason), "lie %zu: rc %d, %s", k, rc,
                  err.msg);
  }
  free(p);
  free(orig);
}
END_TEST

START_TEST(every_truncation_is_refused_without_a_crash) {
  size_t n;
  unsigned char *orig = slurp(official_path("bad/valid.bin"), &n);
  for (size_t len = 0; len < n; len++) {
    unsigned char *p = malloc(len + 1);
    memcpy(p, orig, len);
    struct tf_error err = {0};
    ck_assert_int_eq(open_mem(p, len, &err), TF_EDATA);
    free(p);
  }
  free(orig);
}
END_TEST

/* ---------------------------------------------------------------- the pickle machine */

static int unpickle(const void *p, size_t n, struct tf_error *err) {
  struct tf_pt_dict d;
  int rc = tf_pickle_state_dict(p, n, &d, err);
  if (!rc) tf_pt_dict_free(&d);
  return rc;
}

/* A pickle of PROTO 2, then head, then `count` copies of body, then tail. */
static unsigned char *repeat(const char *head, const char *body, size_t blen, int count,
                             const char *tail, size_t *n) {
  size_t h = strlen(head), t = strlen(tail);
  *n = 2 + h + blen * (size_t)count + t;
  unsigned char *p = malloc(*n), *o = p;
  *o++ = 0x80, *o++ = 2;
  memcpy(o, head, h), o += h;
  for (int i = 0; i < count; i++) memcpy(o, body, blen), o += blen;
  memcpy(o, tail, t);
  return p;
}

START_TEST(recursion_bombs_are_refused) {
  static const struct {
    const char *head, *body;
    size_t blen;
    int count;
    const char *tail, *reason;
  } bombs[] = {
      {"", "]", 1, 100000, "", "ends without STOP"}, /* a deep stack */
      {"", "(", 1, 100000, ".", "STOP with"},        /* marks only */
      {"}", "]", 1, 1000, "", "ends without STOP"},  /* many lists */
      {"]q\x01",
       "h\x01"
       "a",
       3, 1000, ".", "nested deeper than 64"},                             /* a list in itself */
      {"]q\x01", "h\x01h\x01\x86q\x01", 7, 100000, ".", "deeper than 64"}, /* doubling tuples */
      {"", "]", 1, 200, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.",
       "deeper than 64"}, /* lists nested 70 deep */
  };
  for (size_t k = 0; k < sizeof bombs / sizeof *bombs; k++) {
    size_t n;
    unsigned char *p =
        repeat(bombs[k].head, bombs[k].body, bombs[k].blen, bombs[k].count, bombs[k].tail, &n);
    struct tf_error err = {0};
    ck_assert_int_eq(unpickle(p, n, &err), TF_EDATA);
    ck_assert_msg(strstr(err.msg, bombs[k].reason), "bomb %zu: %s", k, err.msg);
    free(p);
  }
}
END_TEST

START_TEST(forbidden_opcodes_and_shapes_are_refused) {
#define P(bytes) bytes, sizeof bytes - 1
  static const struct {
    const char *p;
    size_t n;
    const char *reason;
  } bad[] = {
      {P("\x80\x02}q\x00."), NULL}, /* an empty dict: accepted */
      {P("\x80\x02K\x01."), "holds a int, not a dict"},
      {P("\x80\x02}X\x01\x00\x00\x00"
         "aK\x01s."),
       "entry a holds a int, not a tensor"},
      {P("\x80\x02"
         "cbuiltins\neval\n."),
       "global builtins.eval is not allowed"},
      {P("\x80\x02"
         "ccollections\nOrderedDict\nK\x01\x85R."),
       "REDUCE of collections.Ordered"},
      {P("\x80\x02K\x01K\x02R."), "REDUCE of a int"},
      {P("\x80\x02}b."), "opcode 0x62"},   /* BUILD */
      {P("\x80\x02\x81."), "opcode 0x81"}, /* NEWOBJ */
      {P("\x80\x02h\x05."), "memo entry never set"},
      {P("\x80\x02K\x01r\xff\xff\xff\x7f."), "memo index out of range"},
      {P("\x80\x02X\xff\xff\xff\x7f"), "string runs past the end"},
      {P("\x80\x02\x8a\x09"), "wider than 64 bits"},
      {P("\x80\x02)Q."), "persistent id is not"},
      {P("\x80\x02s"), "stack underflow"},
      {P("\x80\x02"), "ends without STOP"},
  };
#undef P
  for (size_t k = 0; k < sizeof bad / sizeof *bad; k++) {
    struct tf_error err = {0};
    int rc = unpickle(bad[k].p, bad[k].n, &err);
    if (!bad[k].reason) {
      ck_assert_msg(rc == TF_OK, "case %zu: %s", k, err.msg);
      continue;
    }
    ck_assert_int_eq(rc, TF_EDATA);
    ck_assert_msg(strstr(err.msg, bad[k].reason), "case %zu: %s", k, err.msg);
  }
}
END_TEST

/* ---------------------------------------------------------------- writing */

START_TEST(written_files_read_back_bitwise_with_and_without_zip64) {
  float a[6] = {1.5f, -2, 3, 4e-30f, 5, 6}, b[3] = {7, 8, -0.0f};
  struct tf_pt_out t[2] = {{"layer.a", 2, {2, 3}, a}, {"b", 1, {3}, b}};
  char tmp[4096];
  tf_test_tmp_path(tmp, sizeof tmp, "tf_torch_XXXXXX");
  int fd = mkstemp(tmp);
  ck_assert_int_ge(fd, 0);
  close(fd);
  for (int z64 = 0; z64 < 2; z64++) {
    struct tf_error err = {0};
    ck_assert_msg(tf_pt_write(tmp, t, 2, z64, &err) == TF_OK, "%s", err.msg);
    struct tf_pt_file f;
    ck_assert_msg(tf_pt_open(&f, tmp, &err) == TF_OK, "%s", err.msg);
    ck_assert_uint_eq(f.d.n, 2);
    float got[6];
    for (size_t i = 0; i < 2; i++) {
      ck_assert_str_eq(f.d.t[i].name, t[i].name);
      ck_assert_int_eq(f.d.t[i].ndim, t[i].ndim);
      ck_assert_int_eq(tf_pt_read(&f, i, got, &err), TF_OK);
      ck_assert(!memcmp(got, t[i].data, (i ? 3 : 6) * sizeof(float)));
    }
    /* the data of every entry starts on a 64-byte boundary, as torch.save writes it */
    for (size_t i = 0; i < tf_zip_count(f.z); i++) {
      uint64_t size, total;
      const unsigned char *p = tf_zip_data(f.z, i, &size);
      ck_assert_uint_eq((uint64_t)(p - tf_zip_bytes(f.z, &total)) % 64, 0);
    }
    char rec[4200]; /* the archive is named after the file, as torch.save names it */
    snprintf(rec, sizeof rec, "%s/version", strrchr(tmp, '/') + 1);
    ck_assert_int_ge(tf_zip_find(f.z, rec), 0);
    tf_pt_close(&f);
  }
  unlink(tmp);
}
END_TEST

/* A tensor over several read blocks: bitwise back; a NaN or an infinity in it is refused with
 * the tensor and the element; damage to the same storage is reported as damage first. */
START_TEST(non_finite_values_are_refused_and_damage_comes_first) {
  const size_t n = 300007; /* about 1.2 MB: five blocks of 256 KiB */
  float *a = malloc(n * sizeof *a), *got = malloc(n * sizeof *got);
  for (size_t i = 0; i < n; i++) a[i] = (float)i * 0.25f - 7.0f;
  struct tf_pt_out t[1] = {{"big", 1, {(int64_t)n}, a}};
  char tmp[4096];
  tf_test_tmp_path(tmp, sizeof tmp, "tf_torch_XXXXXX");
  int fd = mkstemp(tmp);
  ck_assert_int_ge(fd, 0);
  close(fd);
  static const struct {
    size_t at;
    float v;
    int damage;
    const char *reason;
  } cases[] = {
      {0, 0, 0, NULL},
      {150001, NAN, 0, "tensor big: element 150001 is nan"},
      {n - 1, -INFINITY, 0, "tensor big: element 300006 is -inf"},
      {70000, INFINITY, 1, "CRC-32 mismatch"},
  };
  for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
    struct tf_error err = {0};
    float keep = a[cases[k].at];
    if (cases[k].reason) a[cases[k].at] = cases[k].v;
    ck_assert_msg(tf_pt_write(tmp, t, 1, 0, &err) == TF_OK, "%s", err.msg);
    a[cases[k].at] = keep;
    size_t size;
    unsigned char *p = slurp(tmp, &size);
    struct tf_pt_file f;
    ck_assert_msg(tf_pt_open_mem(&f, p, size, "mem.bin", &err) == TF_OK, "%s", err.msg);
    if (cases[k].damage) { /* one bit of the last element's storage */
      uint64_t sz;
      char rec[4200];
      snprintf(rec, sizeof rec, "%s/data/0", strrchr(tmp, '/') + 1);
      long e = tf_zip_find(f.z, rec);
      ck_assert_int_ge(e, 0);
      unsigned char *d = (unsigned char *)tf_zip_data(f.z, (size_t)e, &sz);
      d[sz - 1] ^= 1;
    }
    int rc = tf_pt_read(&f, 0, got, &err);
    if (!cases[k].reason) {
      ck_assert_msg(rc == TF_OK, "%s", err.msg);
      ck_assert(!memcmp(got, a, n * sizeof *a));
    } else {
      ck_assert_int_eq(rc, TF_EDATA);
      ck_assert_msg(strstr(err.msg, cases[k].reason), "case %zu: %s", k, err.msg);
      ck_assert_ptr_nonnull(strstr(err.msg, "mem.bin"));
    }
    tf_pt_close(&f);
    free(p);
  }
  unlink(tmp);
  free(a);
  free(got);
}
END_TEST

static Suite *torch_suite(void) {
  Suite *s = suite_create("torch");
  TCase *tc = tcase_create("read");
  tcase_add_test(tc, plain_fp32_file_reads_bitwise);
  tcase_add_test(tc, fp16_file_widens_exactly);
  tcase_add_test(tc, bf16_file_widens_exactly);
  tcase_add_test(tc, strided_and_offset_views_read_as_their_values);
  tcase_add_test(tc, deepspeed_module_is_unwrapped);
  suite_add_tcase(s, tc);
  tc = tcase_create("hostile");
  tcase_add_loop_test(tc, hostile_files_are_refused_with_their_reason, 0,
                      (int)(sizeof hostile / sizeof *hostile));
  tcase_add_test(tc, a_lying_directory_is_refused);
  tcase_add_test(tc, every_truncation_is_refused_without_a_crash);
  tcase_add_test(tc, recursion_bombs_are_refused);
  tcase_add_test(tc, forbidden_opcodes_and_shapes_are_refused);
  tcase_add_test(tc, non_finite_values_are_refused_and_damage_comes_first);
  suite_add_tcase(s, tc);
  tc = tcase_create("write");
  tcase_add_test(tc, written_files_read_back_bitwise_with_and_without_zip64);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  return tf_test_run(torch_suite());
}
