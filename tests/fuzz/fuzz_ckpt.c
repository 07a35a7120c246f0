/* fuzz_ckpt.c: libFuzzer harness of the checkpoint reader (lib/ckpt.c, lib/st.c,
 * lib/model_io.c, lib/model_state.c). Each input is read up to four ways: as a file (gzip or
 * plain safetensors, told apart by the first bytes); when it is not gzip, wrapped in gzip
 * here (so that mutations of plain safetensors reach the gzip reader too) and with 65 KiB of
 * spaces added to its header (so that its data lies past the reader's first buffer: skips
 * seek, reads refill); and as a pipe on stdin (no size, no seeking). Each way opens the input
 * (header and its checks), checks the header as a model's (tf_model_check_header), and
 * streams every tensor (read in pieces of different sizes or skipped) to tf_ckpt_finish (end
 * of stream, CRC); the file ways then load the whole model (config, shapes, training state,
 * tensor bytes) when the header is a model's, and load it to run as stored (a checkpoint of
 * bf16 or q8 weights straight into its converted weights, lib/qstore.c). Promises checked: a
 * failure is TF_EDATA or TF_ENOMEM with a message that names the file; a read past the data region
 * is refused; all ways agree on success and on the model's bytes, since they read the same content.
 */
#include <fcntl.h>
#include <zlib.h>

#include "fuzz.h"
#include "model_internal.h"
#include "optim.h"
#include "quant.h"

#define PIECE    4096       /* largest read of the streaming pass */
#define PIPE_MAX (1 << 20)  /* larger inputs skip the pipe pass */
#define PAD      (65 << 10) /* spaces added to a header: more than the reader's first read */

static const int allowed[] = {TF_EDATA, TF_ENOMEM, 0};

/* Reads tensor bytes as callers do: mode 0 skips the tensor, 1 reads it in PIECE pieces,
 * 2 reads its first bytes one at a time and skips the rest. */
static int read_tensor(struct tf_ckpt_reader *r, uint64_t n, int mode, struct tf_error *err) {
  static unsigned char buf[PIECE];
  if (mode == 0) return tf_ckpt_read(r, NULL, n, err);
  uint64_t ones = mode == 2 ? (n < 16 ? n : 16) : 0;
  int rc = TF_OK;
  for (uint64_t i = 0; !rc && i < ones; i++) rc = tf_ckpt_read(r, buf, 1, err);
  if (mode == 2) return rc ? rc : tf_ckpt_read(r, NULL, n - ones, err);
  for (uint64_t k; !rc && n; n -= k) {
    k = n < PIECE ? n : PIECE;
    rc = tf_ckpt_read(r, buf, k, err);
  }
  return rc;
}

/* Every tensor, a read past the data region (refused with TF_EUSAGE, harmlessly), then
 * tf_ckpt_finish. */
static int stream_all(struct tf_ckpt_reader *r, struct tf_error *err) {
  const struct tf_st_header *h = tf_ckpt_header(r);
  int rc = TF_OK;
  for (size_t i = 0; !rc && i < h->n_tensors; i++)
    rc = read_tensor(r, h->tensors[i].end - h->tensors[i].begin, (int)(i % 3), err);
  if (rc) return rc;
  unsigned char b;
  struct tf_error past = {0};
  if (tf_ckpt_read(r, &b, 1, &past) != TF_EUSAGE)
    fuzz_fail("a read past the data region was not refused: %s", past.msg);
  return tf_ckpt_finish(r, err);
}

/* What one way of reading the input found. The bytes are the same (or the same content in
 * gzip), so every way must find the same. */
struct outcome {
  int streamed;  /* tf_ckpt_open through tf_ckpt_finish succeeded */
  int model;     /* and the header is a model's (tf_model_check_header) */
  int loaded;    /* tf_model_load succeeded */
  uLong sum;     /* CRC-32 of the loaded parameters, AdamW moments and history */
  int ran;       /* tf_model_load_run (as stored) succeeded */
  uLong run_sum; /* CRC-32 of its weights: parameters, or converted weights */
};

static void same_outcome(const struct outcome *a, const struct outcome *b, const char *what) {
  if (a->streamed != b->streamed || a->model != b->model || a->loaded != b->loaded ||
      a->sum != b->sum || a->ran != b->ran || a->run_sum != b->run_sum)
    fuzz_fail("%s disagree: streamed %d/%d, model %d/%d, loaded %d/%d, sum %lx/%lx, ran %d/%d, "
              "run sum %lx/%lx",
              what, a->streamed, b->streamed, a->model, b->model, a->loaded, b->loaded, a->sum,
              b->sum, a->ran, b->ran, a->run_sum, b->run_sum);
}

/* Opens path (its messages start with name) and streams it to the end. */
static void stream_pass(const char *path, const char *name, struct outcome *o) {
  struct tf_ckpt_reader *r = NULL;
  struct tf_error err = {0}, herr = {0};
  int rc = tf_ckpt_open(&r, path, &err), model = 0;
  if (!rc) {
    model = tf_model_check_header(tf_ckpt_header(r), NULL, &herr) == TF_OK;
    rc = stream_all(r, &err);
    tf_ckpt_close(r);
  }
  fuzz_check_error(rc, &err, name, allowed, "stream");
  *o = (struct outcome){.streamed = rc == TF_OK, .model = rc == TF_OK && model};
}

static uLong crc_floats(uLong crc, const float *p, size_t n) {
  return p ? crc32_z(crc, (const Bytef *)p, n * sizeof *p) : crc;
}

/* Loads the model of path, when the streaming pass found a model's header (loading fails
 * at the same check otherwise). */
static void load_pass(const char *path, struct outcome *o) {
  struct tf_model m;
  struct tf_error err = {0};
  if (!o->model) return;
  int rc = tf_model_load(&m, path, &err);
  fuzz_check_error(rc, &err, path, allowed, "tf_model_load");
  if (rc) return;
  if (!m.history || !m.tok || m.n_params != tf_param_count(&m.cfg))
    fuzz_fail("a loaded model is incomplete");
  o->loaded = 1;
  o->sum = crc_floats(crc32_z(0, NULL, 0), m.params, m.n_params);
  o->sum = crc_floats(crc_floats(o->sum, m.train.opt->m, m.n_params), m.train.opt->v, m.n_params);
  o->sum = crc32_z(o->sum, (const Bytef *)m.history, strlen(m.history));
  tf_model_free(&m);
}

/* Loads the model of path to run as stored, as tf-generate does without --weights. */
static void run_pass(const char *path, struct outcome *o) {
  struct tf_model m;
  struct tf_error err = {0};
  if (!o->model) return;
  int rc = tf_model_load_run(&m, path, TF_WEIGHTS_STORED, TF_USE_CONVERTED, NULL, &err);
  fuzz_check_error(rc, &err, path, allowed, "tf_model_load_run");
  if (rc) return;
  if (!m.qw != !m.weights || !m.qw == !m.params) fuzz_fail("a run's model is neither form");
  o->ran = 1;
  o->run_sum = m.qw ? crc32_z(0, m.qw->mem, m.qw->bytes) : crc_floats(0, m.params, m.n_params);
  tf_model_free(&m);
}

/* data (size) as one gzip member; NULL when it does not fit in memory. */
static unsigned char *gzip_wrap(const uint8_t *data, size_t size, size_t *out_len) {
  z_stream zs;
  memset(&zs, 0, sizeof zs);
  if (deflateInit2(&zs, 1, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) return NULL;
  size_t cap = deflateBound(&zs, (uLong)size) + 32;
  unsigned char *out = malloc(cap);
  zs.next_in = (Bytef *)data;
  zs.avail_in = (uInt)size;
  zs.next_out = out;
  zs.avail_out = (uInt)cap;
  int ret = out ? deflate(&zs, Z_FINISH) : Z_MEM_ERROR;
  *out_len = cap - zs.avail_out;
  deflateEnd(&zs);
  if (ret == Z_STREAM_END) return out;
  free(out);
  return NULL;
}

/* A plain input with PAD spaces added to its header (the length N at its start says how long
 * that is), so that its data region starts past the reader's first buffer: skips seek and
 * reads refill. NULL when data does not start with a length that fits. */
static unsigned char *pad_header(const uint8_t *data, size_t size, size_t *out_len) {
  uint64_t n = 0;
  if (size < 8) return NULL;
  for (int i = 7; i >= 0; i--) n = n << 8 | data[i];
  if (n > size - 8) return NULL;
  unsigned char *out = malloc(size + PAD);
  if (!out) fuzz_fail("out of memory");
  n += PAD;
  for (int i = 0; i < 8; i++) out[i] = (unsigned char)(n >> (8 * i));
  memcpy(out + 8, data + 8, n - PAD);
  memset(out + 8 + n - PAD, ' ', PAD);
  memcpy(out + 8 + n, data + 8 + n - PAD, size - 8 - (n - PAD));
  *out_len = size + PAD;
  return out;
}

/* The input on stdin through a pipe that holds all of it, for the reader's unseekable
 * paths; 0 when the pipe could not take it. stdin is put back afterwards. */
static int pipe_pass(const uint8_t *data, size_t size, struct outcome *o) {
  static int saved = -2;
  int p[2];
  if (size > PIPE_MAX || pipe2(p, O_CLOEXEC)) return 0;
  if (saved == -2) saved = dup(STDIN_FILENO);
  if (fcntl(p[1], F_SETPIPE_SZ, PIPE_MAX) < (int)size || write(p[1], data, size) != (ssize_t)size) {
    close(p[0]);
    close(p[1]);
    return 0;
  }
  close(p[1]);
  dup2(p[0], STDIN_FILENO);
  close(p[0]);
  stream_pass("-", "<stdin>", o);
  if (saved >= 0)
    dup2(saved, STDIN_FILENO);
  else
    close(STDIN_FILENO);
  return 1;
}

/* Another way to read the input: bytes (n, malloc'd; freed here) through file alt, which must
 * come out as the input itself did. */
static void other_way(struct fuzz_file *alt, unsigned char *bytes, size_t n,
                      const struct outcome *file, const char *what) {
  struct outcome o;
  if (!bytes) return;
  fuzz_file_put(alt, bytes, n);
  free(bytes);
  stream_pass(alt->path, alt->path, &o);
  load_pass(alt->path, &o);
  run_pass(alt->path, &o);
  same_outcome(file, &o, what);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static struct fuzz_file plain, alt;
  struct outcome file, piped;
  size_t n = 0;
  if (!plain.path[0]) {
    tf_set_threads(1);
    fuzz_file_open(&plain, "ckpt");
    fuzz_file_open(&alt, "ckpt-alt");
  }
  fuzz_file_put(&plain, data, size);
  stream_pass(plain.path, plain.path, &file);
  load_pass(plain.path, &file);
  run_pass(plain.path, &file);
  if (size < 2 || data[0] != 0x1f || data[1] != 0x8b) {
    unsigned char *bytes = gzip_wrap(data, size, &n);
    other_way(&alt, bytes, n, &file, "the file and its gzip");
    bytes = pad_header(data, size, &n);
    other_way(&alt, bytes, n, &file, "the file and its padded header");
  }
  if (pipe_pass(data, size, &piped)) {
    file.loaded = 0, file.sum = 0, file.ran = 0, file.run_sum = 0; /* the pipe is only streamed */
    same_outcome(&file, &piped, "the file and the pipe");
  }
  return 0;
}
