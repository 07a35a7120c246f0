/* torch_internal.h: PyTorch's checkpoint format (docs/official.md): the zip container
 * (ptzip.c) and the restricted pickle machine (pickle.c) that official.c builds on. Not part
 * of the public API; the tests and fuzz harnesses use it. */
#ifndef TF_TORCH_INTERNAL_H
#define TF_TORCH_INTERNAL_H

#include "st_internal.h"

/* ---------------------------------------------------------------- zip reader */

/* A zip archive read from a mapped file (or a caller's buffer): the central directory is
 * decoded and checked on open (stored entries only, no encryption, zip64 understood, local
 * headers agree with it, data ranges inside the file and not overlapping); entry bytes are
 * pointers into the mapping, never copied. */
struct tf_zip;

int tf_zip_open(struct tf_zip **z, const char *path, struct tf_error *err);
/* The same over n bytes at p (kept by the caller while z lives); name is used in messages. */
int tf_zip_open_mem(struct tf_zip **z, const void *p, size_t n, const char *name,
                    struct tf_error *err);
void tf_zip_close(struct tf_zip *z);
size_t tf_zip_count(const struct tf_zip *z);
const char *tf_zip_path(const struct tf_zip *z);           /* the file's path (or name) */
const char *tf_zip_name(const struct tf_zip *z, size_t i); /* entry i's name */
/* Index of the entry called name, or -1. */
long tf_zip_find(const struct tf_zip *z, const char *name);
/* Entry i's bytes (*size of them) in the mapping. */
const unsigned char *tf_zip_data(const struct tf_zip *z, size_t i, uint64_t *size);
/* Checks entry i's CRC-32 (once; later calls return the first answer): TF_EDATA naming the
 * entry when it differs. Pages read are released as it goes (tf_zip_release). */
int tf_zip_verify(struct tf_zip *z, size_t i, struct tf_error *err);
/* Entry i's CRC-32 computed by the caller over all its bytes (tf_crc32): the same answer as
 * tf_zip_verify, without another pass over the entry. */
int tf_zip_check_crc(struct tf_zip *z, size_t i, uint32_t crc, struct tf_error *err);
/* Tells the kernel that the mapped pages covering [p, p + n) are not needed any more, so a
 * file far larger than memory streams through (no-op over a caller's buffer). */
void tf_zip_release(const struct tf_zip *z, const void *p, uint64_t n);
/* Bytes of the whole archive and its first bytes (for hashing the source). */
const unsigned char *tf_zip_bytes(const struct tf_zip *z, uint64_t *size);

/* ---------------------------------------------------------------- zip writer */

/* Writes a zip archive of stored entries to fd, as torch.save lays them out: each entry's
 * data starts at a multiple of 64 bytes (padding in the local header's extra field), zip64
 * records where a size, offset or count needs them (force_zip64: for every entry, so tests
 * reach those paths with small files). The bytes go through a tf_outbuf: init fails only for
 * want of memory, and tf_zip_finish writes what is left. */
struct tf_zip_writer {
  struct tf_outbuf out;
  const char *name; /* in messages */
  int force_zip64;
  uint64_t pos;
  size_t n, cap;
  struct tf_zip_written {
    char *name;
    uint64_t offset, size; /* of the local header; of the data */
    uint32_t crc;
  } * e;
};
int tf_zip_writer_init(struct tf_zip_writer *w, int fd, const char *name, struct tf_error *err);
/* Appends entry name holding the n bytes at p. */
int tf_zip_add(struct tf_zip_writer *w, const char *name, const void *p, uint64_t n,
               struct tf_error *err);
/* Writes the central directory and the end records; frees what the writer holds (call it or
 * tf_zip_writer_free once). */
int tf_zip_finish(struct tf_zip_writer *w, struct tf_error *err);
void tf_zip_writer_free(struct tf_zip_writer *w);

/* ---------------------------------------------------------------- pickle */

#define TF_PICKLE_MAX_BYTES (256u << 20) /* a larger data.pkl is refused */
#define TF_PICKLE_MAX_DEPTH 64           /* containers nested deeper are refused */

/* One tensor of a state dict as torch.save pickles it: a view (offset, shape, stride in
 * elements) of storage `key` (the zip entry <archive>/data/<key>) of storage_numel elements. */
struct tf_pt_tensor {
  char *name;
  enum tf_dtype dtype; /* F32, F16 or BF16 */
  int ndim;
  int64_t shape[TF_ST_MAX_DIMS], stride[TF_ST_MAX_DIMS];
  int64_t offset;
  char *key;
  int64_t storage_numel;
};

struct tf_pt_dict {
  size_t n;
  struct tf_pt_tensor *t; /* in the pickle's order */
  int nested;             /* 1: found under the key "module" (a DeepSpeed model state) */
};

/* Reads the state dict pickled in the n bytes at p without running anything: only the
 * opcodes of protocol 2 (and the framing of 4) that build data, and only the globals a state
 * dict needs (collections.OrderedDict, torch._utils._rebuild_tensor_v2 and
 * _rebuild_parameter, the Float/Half/BFloat16 storage types, and the inert torch.Size and
 * set that DeepSpeed's files hold) are accepted; any other global, a reduce of anything
 * else, a pickle deeper than TF_PICKLE_MAX_DEPTH or larger than TF_PICKLE_MAX_BYTES is
 * TF_EDATA with the reason. The result is the dict's tensors (or those of its "module"
 * dict); a value that is not a tensor is TF_EDATA naming its key. */
int tf_pickle_state_dict(const void *p, size_t n, struct tf_pt_dict *out, struct tf_error *err);
void tf_pt_dict_free(struct tf_pt_dict *d);

/* The data.pkl torch.save writes for an OrderedDict of the n tensors t (contiguous views of
 * whole storages: shape, stride, offset, key, storage_numel and dtype are written as given).
 * *out receives a malloc'd buffer of *len bytes. */
int tf_pickle_write_state_dict(const struct tf_pt_tensor *t, size_t n, char **out, size_t *len,
                               struct tf_error *err);

/* ---------------------------------------------------------------- torch.save files */

/* A torch.save file (zip format) opened for reading: the archive, its state dict, and for
 * each tensor the zip entry of its storage, whose size was checked against the storage's
 * element count. */
struct tf_pt_file {
  struct tf_zip *z;
  struct tf_pt_dict d;
  size_t *entry; /* (d.n) */
};

/* Opens path: the zip directory, the single <archive>/data.pkl (CRC checked, parsed by
 * tf_pickle_state_dict), every storage entry present with exactly the bytes its storage
 * needs. TF_EDATA with the reason (naming the file and the tensor), TF_ENOINPUT when the file
 * cannot be opened. */
int tf_pt_open(struct tf_pt_file *f, const char *path, struct tf_error *err);
int tf_pt_open_mem(struct tf_pt_file *f, const void *p, size_t n, const char *name,
                   struct tf_error *err);
void tf_pt_close(struct tf_pt_file *f);
/* Tensor i's elements in row-major order as float32 (dst holds their count; F16 and BF16
 * widened exactly), read from the mapping in one pass that also checks its storage's CRC-32
 * and that every element is finite (TF_EDATA naming the tensor and the element otherwise);
 * pages are released as they are copied. */
int tf_pt_read(struct tf_pt_file *f, size_t i, float *dst, struct tf_error *err);

/* One float32 tensor to write. */
struct tf_pt_out {
  const char *name;
  int ndim;
  int64_t shape[TF_ST_MAX_DIMS];
  const float *data;
};
/* Writes a file torch.load reads: an OrderedDict of the n tensors, each its own contiguous
 * FloatStorage, in the zip layout of torch.save (tf_file_write: atomic, "-" is stdout). */
int tf_pt_write(const char *path, const struct tf_pt_out *t, size_t n, int force_zip64,
                struct tf_error *err);

/* ---------------------------------------------------------------- official configs */

/* Fills heads, seq_len, rotary and norm of c when d_model, n_layers and the token counts are
 * those of a released model (1), else leaves c as it was (0). */
int tf_official_released(struct tf_model_config *c);
/* Applies the network settings of an HF config.json or GPT-NeoX YAML (keys with '-' or '_')
 * over c: num_layers, hidden_size, num_attention_heads, *_slot_num, seq_length, rotary_pct,
 * rotary_emb_base, norm_activation_type; norm, final_norm, pos_emb, no_weight_tying,
 * gpt_j_residual and use_bias_in_attn_linear must have the values of the TokenFormer network.
 * Other keys are ignored. TF_ENOINPUT, or TF_ECONFIG naming the file and key. */
int tf_official_config_load(const char *path, struct tf_model_config *c, struct tf_error *err);

#endif
