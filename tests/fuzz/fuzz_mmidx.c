/* fuzz_mmidx.c: libFuzzer harness of the indexed token dataset reader (lib/mmidx.c, and
 * lib/data.c's opening of a dataset). The input is a 2-byte little-endian length L, L bytes of
 * PREFIX.idx and the rest as PREFIX.bin, staged as two files in a directory of this process.
 * Promises checked: a failure is TF_EDATA naming PREFIX.idx or PREFIX.bin; the parse of the
 * bytes in memory agrees with the opening of the files; an accepted dataset's tokens fill the
 * .bin exactly, every token can be read, and the id check accepts exactly the ids in range. */
#include <sys/stat.h>

#include "fuzz.h"
#include "data_internal.h"

static char dir[64], prefix[96], idx_path[112], bin_path[112];

static void cleanup(void) {
  unlink(idx_path);
  unlink(bin_path);
  rmdir(dir);
}

static void put(const char *path, const uint8_t *p, size_t n) {
  FILE *f = fopen(path, "wb");
  if (!f || (n && fwrite(p, 1, n, f) != n) || fclose(f)) fuzz_fail("cannot write %s", path);
}

/* Every token read; the largest id decides what the id check must say. */
static void check_tokens(const struct tf_corpus *c, size_t bin_n) {
  if (c->n * tf_ids_dtype_size(c->dtype) != bin_n)
    fuzz_fail("%zu tokens of %zu bytes do not fill the %zu-byte .bin", c->n,
              tf_ids_dtype_size(c->dtype), bin_n);
  int64_t lo = INT64_MAX, hi = INT64_MIN;
  for (size_t i = 0; i < c->n; i++) {
    int64_t id = tf_ids_get(c->dtype, c->ids, i);
    lo = id < lo ? id : lo;
    hi = id > hi ? id : hi;
  }
  struct tf_error err = {0};
  int ok = lo >= 0 && hi < 1000;
  if ((tf_corpus_check_ids(c, 1000, "1000", &err) == TF_OK) != ok)
    fuzz_fail("the id check says %d for ids in [%lld, %lld]", !ok, (long long)lo, (long long)hi);
  int32_t buf[64];
  for (size_t i = 0; ok && i < c->n; i += 64)
    tf_corpus_copy(c, i, c->n - i < 64 ? c->n - i : 64, buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (!dir[0]) {
    snprintf(dir, sizeof dir, "/tmp/tf-fuzz-mmidx.XXXXXX");
    if (!mkdtemp(dir)) fuzz_fail("cannot create a directory");
    snprintf(prefix, sizeof prefix, "%s/d", dir);
    snprintf(idx_path, sizeof idx_path, "%s.idx", prefix);
    snprintf(bin_path, sizeof bin_path, "%s.bin", prefix);
    atexit(cleanup);
  }
  size_t l = size >= 2 ? (size_t)(data[0] | data[1] << 8) : 0, off = size >= 2 ? 2 : size;
  if (l > size - off) l = size - off;
  put(idx_path, data + off, l);
  put(bin_path, data + off + l, size - off - l);
  struct tf_mmidx_info info;
  struct tf_error perr = {0}, err = {0};
  int prc = tf_mmidx_parse(data + off, l, size - off - l, idx_path, bin_path, &info, &perr);
  struct tf_corpus c;
  int rc = tf_corpus_open(&c, prefix, &err);
  static const int allowed[] = {TF_EDATA, 0};
  fuzz_check_error(rc, &err, prefix, allowed, "open");
  if (prc != rc && !(prc == TF_OK && info.n_tokens == 0))
    fuzz_fail("the parse in memory says %d (%s), the files %d (%s)", prc, perr.msg, rc, err.msg);
  if (rc == TF_OK) {
    if (c.n != info.n_tokens || c.n_docs != info.n_docs || c.dtype != info.dtype)
      fuzz_fail("the files and the memory disagree on the counts");
    check_tokens(&c, size - off - l);
    tf_corpus_close(&c);
  }
  return 0;
}
