/* fuzz_torch.c: libFuzzer harness of the torch.save reader (lib/ptzip.c, lib/pickle.c,
 * lib/ptfile.c). Each input is read two ways: as a whole file from memory (zip directory,
 * data.pkl, storages, then every tensor of at most 2^20 elements read) and as a bare pickle
 * (tf_pickle_state_dict). Promises checked: a failure is TF_EDATA or TF_ENOMEM with a
 * message naming the file (or data.pkl); a state dict that parses is written again by
 * tf_pickle_write_state_dict and parses to the same names, shapes and storages. */
#include "fuzz.h"
#include "torch_internal.h"

#define MAX_NUMEL (1u << 20)

static const int allowed[] = {TF_EDATA, TF_ENOMEM, 0};

static uint64_t numel(const struct tf_pt_tensor *t) {
  uint64_t n = 1;
  for (int k = 0; k < t->ndim; k++)
    if (__builtin_mul_overflow(n, (uint64_t)t->shape[k], &n)) return UINT64_MAX;
  return n;
}

static void read_file(const uint8_t *data, size_t size) {
  static float buf[MAX_NUMEL];
  struct tf_pt_file f;
  struct tf_error err = {0};
  int rc = tf_pt_open_mem(&f, data, size, "input", &err);
  fuzz_check_error(rc, &err, "input", allowed, "tf_pt_open_mem");
  if (rc) return;
  for (size_t i = 0; i < f.d.n; i++) {
    if (numel(&f.d.t[i]) > MAX_NUMEL) continue;
    rc = tf_pt_read(&f, i, buf, &err);
    fuzz_check_error(rc, &err, "input", allowed, "tf_pt_read");
  }
  tf_pt_close(&f);
}

static void same_dicts(const struct tf_pt_dict *a, const struct tf_pt_dict *b) {
  if (a->n != b->n) fuzz_fail("rewritten pickle has %zu tensors, not %zu", b->n, a->n);
  for (size_t i = 0; i < a->n; i++) {
    const struct tf_pt_tensor *x = &a->t[i], *y = &b->t[i];
    if (strcmp(x->name, y->name) || strcmp(x->key, y->key) || x->ndim != y->ndim ||
        x->dtype != y->dtype || x->offset != y->offset || x->storage_numel != y->storage_numel ||
        memcmp(x->shape, y->shape, sizeof x->shape[0] * (size_t)x->ndim) ||
        memcmp(x->stride, y->stride, sizeof x->stride[0] * (size_t)x->ndim))
      fuzz_fail("rewritten pickle differs at tensor %zu", i);
  }
}

static void read_pickle(const uint8_t *data, size_t size) {
  struct tf_pt_dict d, again;
  struct tf_error err = {0};
  int rc = tf_pickle_state_dict(data, size, &d, &err);
  fuzz_check_error(rc, &err, "data.pkl", allowed, "tf_pickle_state_dict");
  if (rc) return;
  char *p = NULL;
  size_t n = 0;
  if (tf_pickle_write_state_dict(d.t, d.n, &p, &n, &err)) fuzz_fail("rewrite: %s", err.msg);
  if (tf_pickle_state_dict(p, n, &again, &err)) fuzz_fail("rewritten pickle: %s", err.msg);
  if (d.nested) again.nested = 1;
  same_dicts(&d, &again);
  tf_pt_dict_free(&again);
  tf_pt_dict_free(&d);
  free(p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  read_file(data, size);
  read_pickle(data, size);
  return 0;
}
