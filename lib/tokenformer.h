/* tokenformer.h: the public API of libtokenformer (config, checkpoint, model, kernels).
 *
 * Memory rule: functions never take ownership of their arguments; what a *_create, *_load
 * or *_open function returns is released by the matching *_free or *_close.
 * Errors: every function that can fail returns an int status (TF_OK = 0, otherwise one of
 * enum tf_status, which are the sysexits(3) codes) and fills the struct tf_error it was given
 * (may be NULL). The library never exits and never prints, except where a function says so.
 *
 * Dimensions used in shape comments: V = vocab, d = d_model, L = layers, H = heads,
 * n = parameter tokens of one Pattention, B = batch, T = sequence length. */
#ifndef TOKENFORMER_H
#define TOKENFORMER_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define TF_VERSION "0.1.0"

/* ---------------------------------------------------------------- err */

enum tf_status {
  TF_OK = 0,
  TF_EUSAGE = 64,     /* EX_USAGE: bad command line or option value */
  TF_EDATA = 65,      /* EX_DATAERR: malformed checkpoint or data */
  TF_ENOINPUT = 66,   /* EX_NOINPUT: input file missing or unreadable */
  TF_ENOMEM = 71,     /* EX_OSERR: allocation failed or refused (too large) */
  TF_ECANTCREAT = 73, /* EX_CANTCREAT: cannot create the output file */
  TF_EIO = 74,        /* EX_IOERR: read or write failed (disk full, ...) */
  TF_ESIGNAL = 75,    /* EX_TEMPFAIL: stopped by a signal after saving; resumable */
  TF_ECONFIG = 78,    /* EX_CONFIG: bad configuration */
};

struct tf_error {
  int code;
  char msg[512];
};

/* Sets err (if not NULL) to code and the formatted message; returns code. */
int tf_error_set(struct tf_error *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Prepends "prefix: " to the message already in err (e.g. a file name); returns err->code. */
int tf_error_prefix(struct tf_error *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* ---------------------------------------------------------------- rng */

/* xoshiro256** seeded through splitmix64; the state is saved in checkpoints (train.rng). */
struct tf_rng {
  uint64_t s[4];
};
void tf_rng_seed(struct tf_rng *r, uint64_t seed);
uint64_t tf_rng_next(struct tf_rng *r);
double tf_rng_uniform(struct tf_rng *r); /* [0, 1) with 53 random bits */
double tf_rng_normal(struct tf_rng *r);  /* N(0, 1), Box-Muller, no cached second value */

/* ---------------------------------------------------------------- config */

enum tf_norm { TF_NORM_L2_GELU = 0, TF_NORM_GELU_L2 = 1, TF_NORM_SOFTMAX = 2 };
/* The three kinds of Pattention, each with its own token count. */
enum tf_kind { TF_KIND_QKV = 0, TF_KIND_PROJ = 1, TF_KIND_FFN = 2, TF_NKINDS = 3 };

#define TF_MAX_LAYERS 256

struct tf_model_config {
  int vocab_size;            /* V */
  int d_model;               /* d */
  int n_layers;              /* L */
  int n_heads;               /* H; d_h = d / H */
  int seq_len;               /* maximum context length */
  int tokens[TF_NKINDS];     /* parameter tokens per Pattention: qkv, proj, ffn */
  int ref_tokens[TF_NKINDS]; /* n_ref: tau = sqrt(n_ref); equals tokens in a fresh model */
  enum tf_norm norm;
  double rotary_pct;  /* fraction of each head's channels that get RoPE */
  double rotary_base; /* RoPE base, 10000 */
};

struct tf_init_config {
  uint64_t seed;
  double std;       /* keys and embedding: N(0, std^2) */
  double value_std; /* value tokens; 0 means 2 / (L * sqrt(d)) (wang init) */
};

struct tf_config {
  struct tf_model_config model;
  struct tf_init_config init;
};

/* The defaults documented in tokenformer-config(5). */
void tf_config_default(struct tf_config *c);
/* Reads a YAML file (path "-" is stdin) over the current values of c. Errors name
 * FILE:LINE:COL; TF_ENOINPUT for a missing or unreadable file, TF_ECONFIG otherwise. */
int tf_config_load(struct tf_config *c, const char *path, struct tf_error *err);
/* Applies one "section.key=value" override (the value is parsed as YAML scalar). */
int tf_config_set(struct tf_config *c, const char *assignment, struct tf_error *err);
/* Cross-field checks after all overrides (d % H, even rotary dims, ...). TF_ECONFIG. */
int tf_config_check(const struct tf_config *c, struct tf_error *err);
/* Writes the effective config as YAML (every key, including defaults). */
int tf_config_print(const struct tf_config *c, FILE *out);
/* The model section as one compact JSON object (as stored in a checkpoint's metadata);
 * returns a malloc'd string or NULL when out of memory. */
char *tf_model_config_to_json(const struct tf_model_config *m);
/* Parses that JSON object; unknown keys, wrong types and bad ranges are TF_EDATA. */
int tf_model_config_from_json(struct tf_model_config *m, const char *json, struct tf_error *err);
const char *tf_norm_name(enum tf_norm n);
const char *tf_kind_name(enum tf_kind k); /* "qkv", "proj", "ffn" */

/* ---------------------------------------------------------------- st (safetensors) */

enum tf_dtype { TF_F32 = 0, TF_F64, TF_I64, TF_U64, TF_I32, TF_U8, TF_F16, TF_BF16, TF_NDTYPES };
#define TF_ST_MAX_DIMS 8
#define TF_ST_MAX_HEADER (100u << 20) /* a header longer than 100 MiB is refused */

struct tf_st_tensor {
  char *name;
  enum tf_dtype dtype;
  int ndim;
  int64_t shape[TF_ST_MAX_DIMS];
  uint64_t begin, end; /* byte offsets into the data region */
};

struct tf_st_header {
  size_t n_tensors;
  struct tf_st_tensor *tensors; /* in data order (sorted by begin) */
  size_t n_meta;
  char **meta_keys, **meta_values; /* __metadata__, strings only */
  uint64_t header_len;             /* N: the JSON length after the 8-byte prefix */
  uint64_t data_len;               /* bytes of the data region */
};

const char *tf_dtype_name(enum tf_dtype t); /* "F32", ... */
size_t tf_dtype_size(enum tf_dtype t);
/* Decodes and validates the JSON header (len bytes, not NUL-terminated): every safetensors
 * rule (dtype names, shapes, offsets tile [0, data_len) without holes or overlaps). */
int tf_st_decode(struct tf_st_header *h, const char *json, size_t len, struct tf_error *err);
void tf_st_free(struct tf_st_header *h);
const char *tf_st_meta(const struct tf_st_header *h, const char *key); /* NULL if absent */
const struct tf_st_tensor *tf_st_find(const struct tf_st_header *h, const char *name);

/* ---------------------------------------------------------------- ckpt */

/* One tensor to write: data holds numel * dtype size bytes, host byte order (little-endian). */
struct tf_ckpt_entry {
  const char *name;
  enum tf_dtype dtype;
  int ndim;
  int64_t shape[TF_ST_MAX_DIMS];
  const void *data;
};

enum tf_compress { TF_COMPRESS_HUFFMAN = 0, TF_COMPRESS_NONE, TF_COMPRESS_FAST, TF_COMPRESS_BEST };

/* Writes a checkpoint: a gzip stream of a safetensors file (TF_COMPRESS_NONE: stored deflate
 * blocks, still gzip); a path ending in ".safetensors" gets the plain, uncompressed file.
 * Entries are sorted as the format wants (dtype size descending, then name). meta holds n_meta key/value pairs (meta[2i], meta[2i+1]). path "-" streams to stdout (refused
 * when stdout is a terminal); otherwise written to a temporary file in the same directory,
 * fsync'd, renamed over path, and the directory fsync'd. */
int tf_ckpt_write(const char *path, const struct tf_ckpt_entry *entries, size_t n_entries,
                  const char *const *meta, size_t n_meta, enum tf_compress compress,
                  struct tf_error *err);

/* Sequential reader. tf_ckpt_open reads and validates the header only ("-" is stdin; gzip or
 * plain safetensors, detected from the first bytes). */
struct tf_ckpt_reader;
int tf_ckpt_open(struct tf_ckpt_reader **r, const char *path, struct tf_error *err);
const struct tf_st_header *tf_ckpt_header(const struct tf_ckpt_reader *r);
uint64_t tf_ckpt_file_size(const struct tf_ckpt_reader *r); /* 0 when not a regular file */
/* Reads the next n bytes of the data region into dst (dst NULL: skip them). Tensors come in
 * header order; a caller reads or skips each whole. */
int tf_ckpt_read(struct tf_ckpt_reader *r, void *dst, uint64_t n, struct tf_error *err);
/* Reads whatever is left of the data region, then checks that the stream ends exactly there
 * and that the gzip CRC and length match. */
int tf_ckpt_finish(struct tf_ckpt_reader *r, struct tf_error *err);
void tf_ckpt_close(struct tf_ckpt_reader *r);

/* ---------------------------------------------------------------- model: parameters */

/* The Pattentions of one layer, in this order. */
enum tf_slot { TF_SLOT_Q = 0, TF_SLOT_K, TF_SLOT_V, TF_SLOT_PROJ, TF_SLOT_FFN, TF_NSLOTS };
enum tf_kind tf_slot_kind(enum tf_slot s);

struct tf_pattn_view {
  float *key;   /* (n, d) key parameter tokens */
  float *value; /* (n, d) value parameter tokens */
};

/* Named views into one flat block; gradients and AdamW moments use the same layout. */
struct tf_view {
  float *embed; /* (V, d) tied with the output head */
  struct tf_pattn_view layer[TF_MAX_LAYERS][TF_NSLOTS];
  float *final_norm_weight; /* (d) */
  float *final_norm_bias;   /* (d) */
};

#define TF_NAME_MAX 64
/* One parameter tensor of the block, in block order: embed.weight, then per layer
 * query/key/value/proj/mlp (key_param_tokens, value_param_tokens), then final_norm. */
struct tf_tensor {
  char name[TF_NAME_MAX]; /* checkpoint name, e.g. layers.0.attention.query.key_param_tokens */
  int64_t rows, cols;     /* shape; cols is 0 for a vector */
  size_t offset;          /* in floats from the start of the block */
  size_t numel;
  int decay;   /* 1: AdamW weight decay applies (all but the final LayerNorm) */
  int layer;   /* -1 for embed and final_norm */
  int slot;    /* enum tf_slot, or -1 */
  int is_key;  /* 1 key tokens, 0 value tokens (Pattention tensors only) */
};

/* Number of tensors for this config and their table (out holds tf_model_n_tensors entries). */
int tf_model_n_tensors(const struct tf_model_config *c);
void tf_model_tensor_table(const struct tf_model_config *c, struct tf_tensor *out);
/* Points every view of v into block (laid out as the tensor table says). */
void tf_view_point(struct tf_view *v, float *block, const struct tf_model_config *c);

/* Parameter count, SPEC §2.5: V d + L 2d (3 n_qkv + n_proj + n_ffn) + 2d. */
uint64_t tf_param_count(const struct tf_model_config *c);
/* Forward FLOPs per token at full context, SPEC §6.4: 2 N_nonemb + 2 L T d + 2 V d.
 * Training FLOPs per token are 3 times that. */
double tf_forward_flops_per_token(const struct tf_model_config *c);

struct tf_model {
  struct tf_model_config cfg;
  int n_tensors;
  struct tf_tensor *tensors;
  size_t n_params; /* floats in each block */
  float *params;   /* the parameter block */
  struct tf_view w;
  char *history;   /* JSON array text (metadata "history"), never NULL after create/load */
  char *tokenizer; /* "bytes" */
};

/* Allocates a model of config c with zeroed parameters (refuses sizes that overflow or do not
 * fit in memory with TF_ENOMEM, naming the figures). */
int tf_model_create(struct tf_model *m, const struct tf_model_config *c, struct tf_error *err);
/* Initialization of SPEC §3 from ic->seed: keys and embedding N(0, std), values N(0, value_std
 * or 2/(L sqrt d)), final norm weight 1, bias 0. Same seed, same bytes. */
void tf_model_init(struct tf_model *m, const struct tf_init_config *ic);
void tf_model_free(struct tf_model *m);

/* A record appended to the model's history (metadata "history", a JSON array): command name,
 * UTC time, and extra members given as one JSON object text (may be NULL). */
int tf_model_add_history(struct tf_model *m, const char *command, const char *extra_json,
                         struct tf_error *err);
/* Writes the model as a checkpoint (tf_ckpt_write). */
int tf_model_save(const struct tf_model *m, const char *path, enum tf_compress compress,
                  struct tf_error *err);
/* Reads a checkpoint into a new model: config from metadata, every tensor checked against
 * it before allocating, the whole stream and CRC verified. Errors are prefixed with path. */
int tf_model_load(struct tf_model *m, const char *path, struct tf_error *err);

#endif
