/* tokenformer.h: the public API of libtokenformer: config, checkpoint, model (load, save,
 * grow, shrink, convert), training and evaluation, zero-shot tasks, decoding and sampling,
 * inspection, tokenizers, token datasets. Self-contained: it includes only the C library's
 * headers. The library's own pieces (matrix products, the safetensors codec, the optimizer,
 * the tensor table and views, activations, the rng, the kernels) are in the internal headers
 * of lib/ (docs/design.md §3), which the library and its tests include.
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
/* Prepends "path: " unless the message already starts with path (errors of the checkpoint
 * reader name their file themselves); returns err->code. */
int tf_error_name_file(struct tf_error *err, const char *path);

/* Text from files made safe to show on a terminal, C's way: printable ASCII stays, a backslash
 * becomes \\ (unless flags has TF_ESCAPE_KEEP_BACKSLASH: text escaped already, such as a
 * message, passes unchanged) and every other byte \xHH. tf_escape_byte writes the form of one
 * byte (NUL-terminated) into out and returns its length. Messages escape the names they quote
 * with it; JSON output is escaped as JSON (jansson), not with this. */
enum { TF_ESCAPE_KEEP_BACKSLASH = 1 };
size_t tf_escape_byte(unsigned char c, unsigned flags, char out[5]);
/* The n bytes of s escaped into out (cap >= 4 bytes with the NUL), cut with "..." where the
 * next byte's form would not fit; returns out. */
const char *tf_escape(char *out, size_t cap, const char *s, size_t n);

/* ---------------------------------------------------------------- config */

enum tf_norm { TF_NORM_L2_GELU = 0, TF_NORM_GELU_L2 = 1, TF_NORM_SOFTMAX = 2 };
/* The three kinds of Pattention, each with its own token count. */
enum tf_kind { TF_KIND_QKV = 0, TF_KIND_PROJ = 1, TF_KIND_FFN = 2, TF_NKINDS = 3 };

#define TF_MAX_LAYERS 256
#define TF_MAX_TOKENS (1 << 24) /* the limit on vocabulary size, token counts and n_ref */

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

#define TF_PATH_MAX 1024

struct tf_init_config {
  char tokenizer[TF_PATH_MAX]; /* "bytes" or a tokenizer.json the model gets (tf-init) */
  uint64_t seed;
  double std;       /* embedding: N(0, std^2) */
  double key_std;   /* key tokens; 0 means std (docs/model.md §4) */
  double value_std; /* value tokens; 0 means 2 / (L * sqrt(d)) (wang init) */
};

/* What a stage of training leaves unchanged: nothing, or every parameter but the rows the
 * last growth added (the growth record's previous counts; docs/model.md §6). */
enum tf_freeze { TF_FREEZE_NONE = 0, TF_FREEZE_OLD_TOKENS };

/* tf-train's section (tokenformer-config(5) documents every key). */
struct tf_train_config {
  char data[TF_PATH_MAX];  /* training text ("" = none given) */
  char valid[TF_PATH_MAX]; /* validation text ("" = no evaluation) */
  char log[TF_PATH_MAX];   /* JSON Lines metrics ("" = none) */
  int batch;               /* windows per micro-batch (per rank) */
  int grad_accum;          /* micro-batches per step */
  int64_t steps;           /* length of the stage's schedule */
  double lr, min_lr;
  double warmup; /* < 1: fraction of steps; else a step count */
  double weight_decay, beta1, beta2, eps;
  double clip;                              /* global gradient-norm limit; 0: none */
  int eval_every, eval_batches, save_every; /* steps; 0: never */
  uint64_t seed;                            /* seed of the data stream */
  double lr_from_previous; /* > 0: peak lr := this x the previous stage's final lr */
  enum tf_freeze freeze;   /* what the stage leaves unchanged */
};

enum tf_grow_init { TF_GROW_EXACT = 0, TF_GROW_RANDOM, TF_GROW_DUPLICATE };

/* tf-grow's section: per kind a new total or, when relative[k], an increment (YAML "+256"). */
struct tf_grow_config {
  int tokens[TF_NKINDS];   /* 0 with relative 0: this kind does not grow */
  int relative[TF_NKINDS]; /* 1: tokens[k] is added to the current count */
  enum tf_grow_init init;
  int rescale;        /* bool: n_ref := new n (the official code's tau) */
  int keep_optimizer; /* bool: extend the AdamW moments instead of resetting them */
  uint64_t seed;
};

/* Where the value of each path key came from, for messages: "FILE:LINE" of a config file,
 * "--set", a command's option ("--log"), or "" (the default). */
#define TF_ORIGIN_MAX (TF_PATH_MAX + 24)
struct tf_config_origins {
  char tokenizer[TF_ORIGIN_MAX], data[TF_ORIGIN_MAX], valid[TF_ORIGIN_MAX], log[TF_ORIGIN_MAX];
};

struct tf_config {
  struct tf_model_config model;
  struct tf_init_config init;
  struct tf_train_config train;
  struct tf_grow_config grow;
  struct tf_config_origins origin;
};

/* The defaults documented in tokenformer-config(5). */
void tf_config_default(struct tf_config *c);
/* Reads a YAML file (path "-" is stdin) over the current values of c. Errors name
 * FILE:LINE:COL; TF_ENOINPUT for a missing or unreadable file, TF_ECONFIG otherwise. A relative
 * path in the file (init.tokenizer other than "bytes", train.data, train.valid, train.log;
 * not "-") is taken from the file's directory: "DIR/PATH" (stdin: as written). */
int tf_config_load(struct tf_config *c, const char *path, struct tf_error *err);
/* Applies one "section.key=value" override (the value is parsed as YAML scalar; a path stays
 * as given, relative to the current directory). */
int tf_config_set(struct tf_config *c, const char *assignment, struct tf_error *err);
/* Where path key ("train.data") got its value: "FILE:LINE", "--set", ..., or "default". */
const char *tf_config_origin(const struct tf_config *c, const char *key);
/* Records origin (e.g. "--log") for path key: a command option that set it. */
void tf_config_set_origin(struct tf_config *c, const char *key, const char *origin);
/* Prefixes err's message with "KEY (ORIGIN)", naming where the path of a file that could not
 * be opened came from; returns err->code. */
int tf_config_blame(const struct tf_config *c, const char *key, struct tf_error *err);
/* Cross-field checks after all overrides (d % H, even rotary dims, ...). TF_ECONFIG. */
int tf_config_check(const struct tf_config *c, struct tf_error *err);
/* Writes the effective config as YAML (every key, including defaults). */
int tf_config_print(const struct tf_config *c, FILE *out);
/* The model section as one compact JSON object (as stored in a checkpoint's metadata);
 * returns a malloc'd string or NULL when out of memory. */
char *tf_model_config_to_json(const struct tf_model_config *m);
/* The model keys whose values differ between a and b, as "model.KEY A vs B, ..." in out (cut
 * to n bytes); returns how many. */
int tf_model_config_diff(const struct tf_model_config *a, const struct tf_model_config *b,
                         char *out, size_t n);
/* Parses that JSON object; unknown keys, wrong types and bad ranges are TF_EDATA. */
int tf_model_config_from_json(struct tf_model_config *m, const char *json, struct tf_error *err);
const char *tf_norm_name(enum tf_norm n);
const char *tf_kind_name(enum tf_kind k); /* "qkv", "proj", "ffn" */
/* RoPE channels per head, r = floor(d_h * rotary_pct) with d_h = d / H (docs/model.md §2.2); the
 * one formula tf_config_check and the attention kernels share. */
int tf_model_config_rotary_dims(const struct tf_model_config *m);
/* n_ref of kind k, tau = sqrt(n_ref): the config's ref_tokens[k], or tokens[k] where that is 0
 * (docs/model.md §1.1); the one place that default lives. */
int tf_model_config_ref_tokens(const struct tf_model_config *m, enum tf_kind k);
/* The most parameter tokens of any kind: the widest score vector of one Pattention. */
int tf_model_config_max_tokens(const struct tf_model_config *m);

/* ---------------------------------------------------------------- st (safetensors) */

enum tf_dtype {
  TF_F32 = 0,
  TF_F64,
  TF_I64,
  TF_U64,
  TF_I32,
  TF_U8,
  TF_F16,
  TF_BF16,
  TF_I8,
  TF_NDTYPES
};
#define TF_ST_MAX_DIMS 8

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
 * Entries are sorted as the format wants (dtype size descending, then name). meta holds n_meta
 * key/value pairs (meta[2i], meta[2i+1]). path "-" streams to stdout (refused when stdout is a
 * terminal); otherwise written to a temporary file in the same directory, fsync'd, renamed over
 * path, and the directory fsync'd. The temporary file has no name while it is written where the
 * filesystem allows (O_TMPFILE), so a process killed while writing leaves nothing (one killed
 * between naming the file and the rename leaves the .NAME.tmp.XXXXXX beside path). A symbolic
 * link to a file is written through (the file replaced, the link kept). A failure leaves an
 * existing path as it was: TF_EIO for a full disk, quota or file size limit and a failed write
 * or sync, TF_ECANTCREAT for a directory that is missing, not a directory or not writable. */
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

/* Parameter count, docs/model.md §3.2: V d + L 2d (3 n_qkv + n_proj + n_ffn) + 2d. */
uint64_t tf_param_count(const struct tf_model_config *c);
/* Forward FLOPs per token at full context, docs/model.md §3.3: 2 N_nonemb + 2 L T d + 2 V d.
 * Training FLOPs per token are 3 times that. */
double tf_forward_flops_per_token(const struct tf_model_config *c);

/* The library's own parts of a model, allocated with it (lib/model_internal.h, lib/rng.h,
 * lib/optim.h): the tensor table, the views into the block, the rng and the AdamW moments. */
struct tf_tensor;
struct tf_view;
struct tf_rng;
struct tf_adamw;

/* What exact resume needs (checkpoint tensors optim.* and train.*); present only in
 * checkpoints written by training. */
struct tf_train_state {
  int present;
  int64_t step;           /* updates done in the current stage's schedule (train.step) */
  int64_t lifetime_steps; /* across all stages (train.lifetime_steps) */
  int64_t tokens;         /* lifetime training tokens (train.tokens) */
  double flops;           /* lifetime training FLOPs (train.flops) */
  struct tf_rng *rng;     /* the data stream (train.rng) */
  int n_ranks;            /* entries of train.data_cursor */
  int64_t *cursor;        /* (n_ranks) windows drawn by each rank (train.data_cursor) */
  struct tf_adamw *opt;   /* optim.m.*, optim.v.*, optim.step; opt->m == NULL: none stored */
  /* the stage's schedule (metadata "schedule"; has_schedule 0: none stored, as in checkpoints
   * from before it was, or grown ones, which start a stage) */
  int has_schedule;
  int64_t stage_steps;
  double stage_lr, stage_min_lr, stage_warmup; /* stage_lr: the peak the stage ran with */
  double stage_lr_from_previous;               /* train.lr_from_previous it came from; 0: none */
};

/* Weight formats for inference (tf_model_convert_weights; tf-generate(1) --weights). */
enum tf_weights { TF_WEIGHTS_F32 = 0, TF_WEIGHTS_BF16, TF_WEIGHTS_Q8, TF_NWEIGHTS };
/* tf_model_load_run's want when none was asked for: the format the checkpoint stores. */
#define TF_WEIGHTS_STORED TF_NWEIGHTS
/* How a command runs the network over weights in a format other than f32. */
enum tf_weights_use {
  TF_USE_CONVERTED = 0, /* decoding over converted weights (tf_model_convert_weights) */
  TF_USE_ROUNDED,       /* the float forward over rounded weights (tf_model_round_weights) */
};
struct tf_qweights;

/* What tf-grow records of the model it started from (metadata "growth"): the token counts
 * before the last growth or shrink, and the learning rate its last stage ended at. */
struct tf_growth {
  int present;
  int old_tokens[TF_NKINDS];
  int has_final_lr; /* 0: the input had no stored schedule */
  double final_lr;
};

struct tf_model {
  struct tf_model_config cfg;
  struct tf_train_state train;
  struct tf_growth growth;
  int n_tensors;
  struct tf_tensor *tensors; /* (n_tensors) the block's layout */
  size_t n_params;           /* floats in each block */
  float *params;             /* the parameter block */
  struct tf_view *w;         /* named views into params */
  char *history;            /* JSON array text (metadata "history"), never NULL after create/load */
  struct tf_tokenizer *tok; /* never NULL after create/load: the byte tokenizer unless set */
  enum tf_weights weights;  /* the format of qw; F32: none, params as loaded */
  struct tf_qweights *qw;   /* converted weights (tf_model_convert_weights), else NULL */
};

/* Allocates a model of config c with zeroed parameters (refuses sizes that overflow or do not
 * fit in memory with TF_ENOMEM, naming the figures). */
int tf_model_create(struct tf_model *m, const struct tf_model_config *c, struct tf_error *err);
/* Initialization of docs/model.md §4 from ic->seed: keys and embedding N(0, std), values N(0,
 * value_std or 2/(L sqrt d)), final norm weight 1, bias 0. Same seed, same bytes. */
void tf_model_init(struct tf_model *m, const struct tf_init_config *ic);
/* The machine's physical memory in bytes (0 if unknown): the ceiling every size check
 * compares with before allocating. */
double tf_machine_bytes(void);
/* The std of value tokens: ic->value_std, or 2 / (L sqrt d) when that is 0 (docs/model.md §4). */
double tf_init_value_std(const struct tf_model_config *c, const struct tf_init_config *ic);
/* The std of key tokens: ic->key_std, or ic->std when that is 0 (docs/model.md §4). */
double tf_init_key_std(const struct tf_init_config *ic);
void tf_model_free(struct tf_model *m);

/* One run of a command, as its provenance records it (docs/checkpoint.md §3). */
struct tf_run {
  const char *command; /* "tf-train" */
  int argc;            /* the whole command line, argv[0] included */
  char *const *argv;
  const struct tf_config *cfg;         /* the effective config, or NULL (none) */
  const struct tf_model_config *model; /* the model made or trained (replaces cfg's), or NULL */
  const char *config_file;             /* -c FILE, or NULL */
  const char *const *data_keys;        /* path keys of the files read ("train.data"), NULL-ended */
  int ranks;                           /* processes (0: one) */
};
struct json_t;
/* The provenance of run as a JSON object: "time" (UTC), "version", "argv", "ranks", "threads",
 * "config_file", "config_sha256" (of the effective config printed as YAML), "config_text"
 * (that YAML, unless a record of history, a JSON array or NULL, already holds it), "data"
 * ([{"key", "path", "bytes", "sha256_first_mib"}]: size and hash for regular files only).
 * NULL when out of memory. */
struct json_t *tf_run_json(const struct tf_run *run, const struct json_t *history);
/* Appends the record of run to m's history: "command", the members of extra (a JSON object,
 * may be NULL; the reference is taken), then tf_run_json's. The one builder of history
 * records; TF_ENOMEM, TF_EDATA for a history that is not a JSON array. */
int tf_model_add_run(struct tf_model *m, const struct tf_run *run, struct json_t *extra,
                     struct tf_error *err);
/* Gives m its own copy of tokenizer t, replacing the one it had (a checkpoint stores it: metadata
 * "tokenizer" is its kind, "tokenizer_json" the whole tokenizer.json of a BPE). TF_ECONFIG when
 * a BPE's ids do not fit in vocab_size, naming both. */
int tf_model_set_tokenizer(struct tf_model *m, const struct tf_tokenizer *t, struct tf_error *err);
/* Whether path can be written as tf_ckpt_write writes it (a file created and removed in its
 * directory; "-" passes): checked before any work. TF_ECANTCREAT (TF_EIO for a full disk). */
int tf_output_check(const char *path, struct tf_error *err);
/* Writes the model as a checkpoint (tf_ckpt_write), after checking that every parameter (and
 * moment) is finite: otherwise TF_EDATA naming the step, tensor and element, nothing written.
 * A model with converted weights (tf_model_convert_weights) is written as a checkpoint of
 * bf16 or q8 weights (metadata "weights"; docs/checkpoint.md §7), with no training state. */
int tf_model_save(const struct tf_model *m, const char *path, enum tf_compress compress,
                  struct tf_error *err);
/* The most tensors a checkpoint of config c holds: the parameters, their two AdamW moments and
 * the training state (at most 7,696, for 256 layers). */
size_t tf_model_max_tensors(const struct tf_model_config *c);
/* Every check tf_model_load makes of the file at path (header, metadata, tokenizer, schedule,
 * training state, every value finite, the stream whole), streamed: without the memory of the
 * model (tf-inspect --verify). TF_OK, or the first failure naming the file. */
int tf_model_verify(const char *path, struct tf_error *err);
/* Reads a checkpoint into a new model: config from metadata, every tensor checked against
 * it before allocating, the whole stream and CRC verified, every parameter and moment finite
 * (TF_EDATA naming the first that is not). Errors are prefixed with path. */
int tf_model_load(struct tf_model *m, const char *path, struct tf_error *err);
/* The same, keeping only what running the network needs: the AdamW moments of a training
 * checkpoint are read (and checked) but not kept, and m->train is left empty, so a training
 * checkpoint costs its parameters' memory, not three times that. */
int tf_model_load_weights(struct tf_model *m, const char *path, struct tf_error *err);
/* tf_model_load and tf_model_load_weights refuse a checkpoint of bf16 or q8 weights
 * (tf-convert --quantize; metadata "weights") with TF_EDATA: it is for inference only. This
 * loads any checkpoint to run the network in format want (TF_WEIGHTS_STORED: as stored):
 *   f32 checkpoint: as tf_model_load_weights, then converted (use TF_USE_CONVERTED) or rounded
 *     (TF_USE_ROUNDED) to want;
 *   bf16 or q8 checkpoint: read straight into converted weights (m->qw, m->weights the stored
 *     format), never through an fp32 copy, as tf_model_convert_weights leaves a model made from
 *     the f32 checkpoint, byte for byte; with want f32, or use TF_USE_ROUNDED, their values in
 *     float in the parameter block instead (what tf_model_round_weights gives the f32
 *     checkpoint, bit for bit; memory peaks at both sizes). Another want is TF_EUSAGE, refused
 *     after the header, before any tensor is read.
 * *values (may be NULL) gets the format whose values the weights hold. Errors name the file. */
int tf_model_load_run(struct tf_model *m, const char *path, enum tf_weights want,
                      enum tf_weights_use use, enum tf_weights *values, struct tf_error *err);

/* ---------------------------------------------------------------- official */

/* The released TokenFormer checkpoints and the official code (GPT-NeoX/DeepSpeed), both ways
 * (docs/official.md, tf-convert(1)). Their names: sequential.0.word_embeddings.weight;
 * layer l at i = l + 2: sequential.{i}.attention.{query,key,value,proj}.{key,value}_param_tokens
 * and sequential.{i}.mlp.{key,value}_param_tokens; sequential.{L+3}.norm.{weight,bias}. */

#define TF_SHA256_HEX 65 /* lower-case hex SHA-256 and its NUL */

struct tf_official_info {
  const char *format;         /* "torch" (zip) or "safetensors" */
  int nested;                 /* the state dict was DeepSpeed's "module" */
  int widened;                /* tensors stored in F16 or BF16, widened exactly to F32 */
  int ignored;                /* buffers that are no parameter (rotary inv_freq), read past */
  int released_shape;         /* no config file: the shapes are a released model's */
  uint64_t bytes;             /* size of the source file */
  char sha256[TF_SHA256_HEX]; /* lower-case hex SHA-256 of the source file */
};

/* A new model (n_ref = n) from an official checkpoint at path: a torch.save file (zip format;
 * the state dict itself or DeepSpeed's "module" entry) or a safetensors file, with the names
 * above. Shapes come from the file (vocab from the embedding); heads, seq_len, rotary and
 * norm from config (an HF config.json or a GPT-NeoX YAML; NULL: recognised when the shapes
 * are a released model's, else TF_EUSAGE). The reader runs no code from the file (unlike
 * torch.load). TF_EDATA naming the tensor for a missing, extra, misshapen or non-finite
 * tensor; TF_ECONFIG when the config disagrees with the file. info (may be NULL) says what
 * was found. */
int tf_official_import(struct tf_model *m, const char *path, const char *config,
                       struct tf_official_info *info, struct tf_error *err);

enum tf_official_format { TF_OFFICIAL_TORCH = 0, TF_OFFICIAL_SAFETENSORS };
/* Writes m's parameters under the official names, F32: a file torch.load reads (the zip
 * layout of torch.save) or a plain safetensors file; atomic as tf_ckpt_write. A model with
 * n_ref != n (grown exactly) computes tau = sqrt(n_ref), which the official code cannot
 * (its tau is sqrt(n)): TF_EDATA with that reason unless rescale (then the file holds the
 * same tensors, but the official code computes a different function). */
int tf_official_export(const struct tf_model *m, const char *path, enum tf_official_format f,
                       int rescale, struct tf_error *err);
/* The HF-style config.json of m's config (the official code's key names), malloc'd text. */
char *tf_official_config_json(const struct tf_model_config *c);
/* Writes that text to path (atomic as tf_ckpt_write; "-" is stdout). */
int tf_official_write_config(const struct tf_model_config *c, const char *path,
                             struct tf_error *err);
/* "f32", "bf16", "q8"; tf_weights_parse gives TF_EUSAGE for any other name. */
const char *tf_weights_name(enum tf_weights w);
int tf_weights_parse(const char *s, enum tf_weights *w);
/* The instructions the bf16 and q8 products run on, chosen from the CPU at run time:
 * "avx512bf16", "avx512", "avx2" or "scalar" (the best this CPU runs). The environment
 * variable TF_QKERNEL=<one of those names> forces that family instead (for measuring what a
 * CPU without the better ones runs), read once per process. */
const char *tf_weights_kernel(void);
/* TF_ECONFIG when TF_QKERNEL names no family, or one this CPU lacks ("TF_QKERNEL=avx9: not a
 * kernel family (this CPU runs avx2, scalar)", "TF_QKERNEL=avx512: this CPU lacks its
 * instructions (it runs avx2, scalar)"); the best family then stays in use, and
 * tf_decoder_create fails with it, whatever the weights' format. TF_OK otherwise. */
int tf_weights_kernel_check(struct tf_error *err);
/* Converts m's embedding and every Pattention's key and value tokens to format w (bf16:
 * rounded to nearest even; q8: 8-bit values with one float scale per 32 of a row), in
 * parallel, then frees the fp32 parameter block: memory peaks at the fp32 size plus the
 * converted size. The final LayerNorm stays in float. Afterwards the model serves
 * tf_decode_prefill and tf_decode_step only (m->params is NULL). F32, or a model converted
 * already: nothing done. TF_ENOMEM naming the size. */
int tf_model_convert_weights(struct tf_model *m, enum tf_weights w, struct tf_error *err);
/* Bytes the model's weights take: the fp32 block, or the converted weights. */
size_t tf_model_weight_bytes(const struct tf_model *m);
/* Rounds the same weights to format w and back to float in place (no memory saved): the
 * fp32 model then computes what the converted one does with float activations, for
 * measuring a format's quality with any command (tf-eval --weights). */
int tf_model_round_weights(struct tf_model *m, enum tf_weights w, struct tf_error *err);

/* ---------------------------------------------------------------- grow */

/* Progressive scaling (docs/model.md §6): a model with more parameter tokens per kind, each old row
 * of every key/value tensor kept as the first rows, new rows after them. */
struct tf_grow_plan {
  int old_tokens[TF_NKINDS], new_tokens[TF_NKINDS];
  int old_ref[TF_NKINDS], new_ref[TF_NKINDS]; /* n_ref before and after */
  int exact;  /* 1: the grown model computes the same function as the old one */
  int shrink; /* 1: some counts go down and none up (tf_model_shrink_on) */
};
const char *tf_grow_init_name(enum tf_grow_init i); /* "exact", "random", "duplicate" */
/* What growing `in` by g would do. TF_EUSAGE, with the reason: a count below the model's
 * (shrinking), no kind growing, a count or n_ref over 2^24, exact growth of a softmax model,
 * duplicate growth by a non-multiple of the old count or copying a zero key row (dead
 * tokens). */
int tf_grow_plan(struct tf_grow_plan *p, const struct tf_model *in, const struct tf_grow_config *g,
                 struct tf_error *err);
/* Creates out, `in` grown as g says (new rows drawn from g->seed):
 *   exact      K_new = 0, V_new ~ N(0, value_std), n_ref kept: same function;
 *   random     K_new ~ N(0, std), V_new ~ N(0, value_std), n_ref kept;
 *   duplicate  K_new = m/n stacked copies of K_old, V_new = 0, n_ref *= (n+m)/n: same function;
 *   rescale    n_ref := the new n for the kinds that grow (the function changes).
 * std and value_std come from ic (NULL: the defaults; value_std 0 means 2/(L sqrt d)). The
 * training state, when in has one, starts a new stage: step 0, lifetime counters and data
 * stream kept; AdamW moments zeroed with their step (a fresh optimizer), or with
 * g->keep_optimizer extended by zero rows, keeping optim.step. History and tokenizer are
 * copied. plan (may be NULL) receives tf_grow_plan's result. */
int tf_model_grow(struct tf_model *out, const struct tf_model *in, const struct tf_grow_config *g,
                  const struct tf_init_config *ic, struct tf_grow_plan *plan, struct tf_error *err);

/* ---------------------------------------------------------------- inspect */

/* What tf-inspect computes. Functions that take a reader consume tensors from it in data
 * order, one bounded chunk at a time: memory stays small whatever the checkpoint's size. */

enum tf_param_group {
  TF_GROUP_EMBED = 0,
  TF_GROUP_QKV,
  TF_GROUP_PROJ,
  TF_GROUP_FFN,
  TF_GROUP_NORM,
  TF_NGROUPS
};
const char *tf_param_group_name(enum tf_param_group g); /* "embedding", "qkv", ..., "norm" */
/* Parameters of config c by group; they sum to tf_param_count(c). */
void tf_param_count_by_group(const struct tf_model_config *c, uint64_t out[TF_NGROUPS]);

/* Element i of little-endian data of dtype t, as a double (64-bit integers above 2^53 are
 * rounded), or as text in buf (integers exact; F32, F16, BF16 with 9 significant digits,
 * F64 with 17: enough to read back the same value). tf_dtype_format returns buf. */
double tf_dtype_get(enum tf_dtype t, const void *data, size_t i);
char *tf_dtype_format(enum tf_dtype t, const void *data, size_t i, char *buf, size_t n);
/* "[3, 4]" ("[]" for a scalar) into buf; returns buf. */
char *tf_shape_format(int ndim, const int64_t *shape, char *buf, size_t n);

/* Reads tensor t, the next one in r, calling fn on each chunk of count elements (raw
 * little-endian bytes). A nonzero return of fn stops the read and is returned. */
typedef int (*tf_chunk_fn)(void *ctx, const void *data, size_t count, struct tf_error *err);
int tf_inspect_read_tensor(struct tf_ckpt_reader *r, const struct tf_st_tensor *t, tf_chunk_fn fn,
                           void *ctx, struct tf_error *err);

struct tf_tensor_stats {
  uint64_t numel;
  uint64_t zeros;   /* elements equal to zero (either sign) */
  uint64_t nans;    /* NaN elements, left out of every figure below */
  double mean, std; /* std: population standard deviation */
  double min, max;
  double l2; /* sqrt of the sum of squares */
};
/* Statistics of tensor t, the next one in r (double accumulators, chunk-wise merged means
 * and squared deviations). Figures are NaN when no element is a number. also (may be NULL)
 * sees each raw chunk first, as in tf_inspect_read_tensor, so one read serves both. */
int tf_inspect_stats(struct tf_ckpt_reader *r, const struct tf_st_tensor *t,
                     struct tf_tensor_stats *s, tf_chunk_fn also, void *ctx, struct tf_error *err);

enum tf_diff_status {
  TF_DIFF_SAME = 0,     /* same dtype and shape, identical bytes */
  TF_DIFF_CHANGED,      /* same dtype and shape, some element differs */
  TF_DIFF_RESIZED,      /* first dimension differs (growth adds rows): leading rows compared */
  TF_DIFF_INCOMPARABLE, /* dtype, rank or inner dimensions differ */
  TF_DIFF_ONLY_A,
  TF_DIFF_ONLY_B,
};
const char *tf_diff_status_name(enum tf_diff_status s); /* "same", "changed", ... */

struct tf_tensor_diff {
  const struct tf_st_tensor *a, *b; /* into the readers' headers; NULL when absent there */
  enum tf_diff_status status;
  uint64_t compared;  /* elements compared (a resized tensor: those of the common rows) */
  uint64_t n_changed; /* of those, how many differ bitwise */
  double max_abs;     /* max |b - a| over them; NaN when a NaN met a number */
};
/* Compares the checkpoints of readers a and b (names used in messages), streaming both to
 * the end (tf_ckpt_finish included). A file storing its tensors in the canonical order
 * (dtype size descending, then name), as tf_ckpt_write does, is streamed; one storing
 * another order is held in memory whole. *out receives a malloc'd array of *n_out entries
 * in the canonical order (free it; its pointers live as long as the readers). */
int tf_inspect_diff(struct tf_ckpt_reader *a, const char *name_a, struct tf_ckpt_reader *b,
                    const char *name_b, struct tf_tensor_diff **out, size_t *n_out,
                    struct tf_error *err);

/* ---------------------------------------------------------------- data */

struct tf_tokenizer;
struct tf_ids;

/* The bytes of an input file: a regular file mapped (guarded: a file that shrinks under us
 * gives an error, not SIGBUS), anything else (stdin, a pipe, a FIFO) read to its end. */
struct tf_input {
  const uint8_t *p; /* (n) */
  size_t n;
  void *map;
  uint8_t *owned;
};

/* 1 when path names standard input ("-", /dev/stdin, /dev/fd/0, /proc/self/fd/0). */
int tf_path_is_stdin(const char *path);
/* Holds the file at path ("-": stdin; name: for messages): a regular file is mapped, its pages
 * guarded (a SIGBUS handler, installed once: a read past the file's end after it shrank gives
 * zeros and sets the flag of tf_input_changed instead of killing the process); anything else
 * (stdin, a pipe, a FIFO, a character device, a file that says it is empty as /proc's do) is
 * read to its end. Missing or unreadable: TF_ENOINPUT; a directory: TF_ENOINPUT; a read
 * error: TF_EIO. An empty file is not an error here. */
int tf_input_open(struct tf_input *in, const char *path, const char *name, struct tf_error *err);
void tf_input_close(struct tf_input *in);
/* 1 once a guarded page was read after its file shrank. The flag stays set: the data read
 * since can no longer be trusted. */
int tf_input_changed(void);
/* TF_EIO "NAME: data file changed while reading" when tf_input_changed, else TF_OK. */
int tf_input_check(const char *name, struct tf_error *err);

/* A corpus of token ids: a text file (its bytes as they are for the byte tokenizer, mapped;
 * tokenized on every core for another) or an indexed token dataset (the .bin mapped). */
struct tf_corpus {
  const void *ids; /* (n) of dtype (TF_IDS_*: U8 for a text read as bytes) */
  int dtype;
  size_t n;          /* tokens */
  const char *path;  /* for messages: the file, "<stdin>" for "-", PREFIX.bin for a dataset */
  int is_dataset;    /* 1: an indexed dataset */
  uint64_t n_docs;   /* documents (a text is one) */
  size_t text_bytes; /* a text: the bytes tokenized */
  struct tf_input in;
  int32_t *owned_ids;
  char *name;
};
/* Opens path as a dataset when it names one (PREFIX, PREFIX.idx or PREFIX.bin, both files
 * present; tokenformer-dataset(5)), else as text ("-" and
 * other names of stdin: read once), encoded by tok (NULL or the byte tokenizer: the bytes
 * themselves; max_bytes > 0: only the first max_bytes, less a UTF-8 character they would cut
 * for a BPE; flags as tf_tokenizer_encode's).
 * Missing, unreadable or a directory: TF_ENOINPUT; empty, no tokens, bad UTF-8 or a bad
 * dataset: TF_EDATA naming the file. */
int tf_corpus_open_with(struct tf_corpus *c, const char *path, const struct tf_tokenizer *tok,
                        size_t max_bytes, unsigned flags, struct tf_error *err);
/* tf_corpus_open_with(c, path, NULL, 0, 0, err): bytes. */
int tf_corpus_open(struct tf_corpus *c, const char *path, struct tf_error *err);
void tf_corpus_close(struct tf_corpus *c);
/* The ids against the model: below its vocab_size and its tokenizer's id count. */
int tf_corpus_check_model(const struct tf_corpus *c, const struct tf_model *m,
                          struct tf_error *err);
/* TF_EDATA unless the corpus holds at least one window of T+1 tokens. */
int tf_corpus_check_window(const struct tf_corpus *c, int T, struct tf_error *err);
/* "byte" for a text read as bytes, else "token": what its ids are, for messages. */
const char *tf_corpus_unit(const struct tf_corpus *c);
/* TF_EIO "PATH: data file changed while reading" once a mapped input shrank under a read
 * (the ids read since may be zeros), else TF_OK. */
int tf_corpus_changed(const struct tf_corpus *c, struct tf_error *err);

/* Appends the ids of text (n bytes) to out, as tf_tokenizer_encode would, on every thread: a
 * BPE text is first checked to be UTF-8 (TF_EDATA "invalid UTF-8 at byte N" unless flags has
 * TF_TOK_REPLACE_INVALID), then cut into chunks of about 1 MiB at newlines
 * where no token can cross; the ids do not depend on the thread count. */
int tf_encode_text(const struct tf_tokenizer *tok, const char *text, size_t n, unsigned flags,
                   struct tf_ids *out, struct tf_error *err);

/* ---------------------------------------------------------------- mmidx */

/* Indexed token datasets in the Megatron / GPT-NeoX mmap format (tokenformer-dataset(5)):
 * PREFIX.bin holds the token ids, PREFIX.idx (magic "MMIDIDX\0\0", version 1) their dtype,
 * the size and byte offset of each sequence and the document index. */
/* Integer dtypes, by the format's dtype codes. */
enum {
  TF_IDS_U8 = 1,
  TF_IDS_I8 = 2,
  TF_IDS_I16 = 3,
  TF_IDS_I32 = 4,
  TF_IDS_I64 = 5,
  TF_IDS_U16 = 8
};

/* What tf_dataset_build reads and how. */
struct tf_dataset_opts {
  const struct tf_tokenizer *tok;
  unsigned flags;    /* tf_tokenizer_encode's (TF_TOK_REPLACE_INVALID) */
  int jsonl;         /* 1: JSON Lines, one document per line; 0: one document per file */
  const char *field; /* JSON Lines: the string field holding the text */
  /* called after each file or batch of lines with input bytes done and the total (0 when
   * unknown) */
  void (*progress)(void *ctx, uint64_t done, uint64_t total);
  void *ctx;
  volatile int *stop; /* set (e.g. by a signal handler): stop, write nothing (TF_ESIGNAL) */
};
struct tf_dataset_stats {
  uint64_t docs, tokens, bytes; /* documents written, their tokens (end-of-text included) and
                                   text bytes */
  int dtype;
};
/* Tokenizes files ("-": stdin) into the dataset PREFIX.bin + PREFIX.idx (tf_mmidx_writer):
 * each document's ids, then the tokenizer's end-of-text token when it has one (the byte
 * tokenizer has none: documents follow one another, their bounds kept in the index); empty
 * documents and blank JSON lines are left out. A bad JSON line is TF_EDATA naming the file and
 * line; invalid UTF-8 in a text for a BPE tokenizer TF_EDATA naming the file and byte. On any
 * failure nothing is written. */
int tf_dataset_build(const char *prefix, const char *const *files, int n_files,
                     const struct tf_dataset_opts *o, struct tf_dataset_stats *st,
                     struct tf_error *err);
/* Appends the ids of text (decimal numbers separated by white space) to out; anything else is
 * TF_EDATA naming name and the byte offset. */
int tf_ids_parse(const char *text, size_t n, const char *name, struct tf_ids *out,
                 struct tf_error *err);

/* ---------------------------------------------------------------- gemm */

/* What computes the products, e.g. "BLIS 0.9.0, zen3 kernels" (for --version). The kernels are
 * BLIS's choice for the CPU, except skx on Intel CPUs with AVX-512; the environment variable
 * TF_BLAS_ARCH=<name> (a BLIS configuration name: skx, haswell, zen3, ...) overrides. */
const char *tf_gemm_kernel(void);
/* Threads for OpenMP loops and BLIS; n <= 0 keeps OpenMP's default (OMP_NUM_THREADS or all
 * cores). */
void tf_set_threads(int n);

/* ---------------------------------------------------------------- cpu */

/* The instruction sets the library was compiled for (-march) that this CPU lacks: their count,
 * and their names, space-separated, in msg (len bytes). Safe to call on any x86-64 CPU, before
 * anything else runs (lib/cpu.c is compiled for the baseline). */
int tf_cpu_check(char *msg, size_t len);
/* The same for the NULL-terminated list `need` (names as __builtin_cpu_supports spells them;
 * an unknown name counts as lacking). */
int tf_cpu_lacks(const char *const *need, char *msg, size_t len);
/* The instruction sets the library was compiled for, space-separated as tf_cpu_check names
 * them ("sse3 ... avx2 fma bmi bmi2" for -march=x86-64-v3); "" when none is checked. */
const char *tf_cpu_built(void);

/* ---------------------------------------------------------------- net */

/* The network's activation buffers for up to B sequences of up to T positions, allocated once:
 * what tf_eval_windows and tf_task_score run the forward in. */
struct tf_acts;
/* The largest batch b <= B whose activations of length T fit in memory beside the parameters
 * of c (the check of tf_acts_create), or 0 when not even one window does. */
int tf_acts_fit_batch(const struct tf_model_config *c, int B, int T);
/* *a := new activations for config c, batch B and length T (1 <= T; B >= 1). Sizes that
 * overflow or that the machine cannot hold are refused with TF_ENOMEM naming the figures
 * (*a is then NULL). */
int tf_acts_create(struct tf_acts **a, const struct tf_model_config *c, int B, int T,
                   struct tf_error *err);
void tf_acts_free(struct tf_acts *a); /* NULL: nothing */

/* ---------------------------------------------------------------- train */

struct tf_step_stats {
  double loss;      /* mean over the step's tokens (all ranks) */
  double lr;        /* learning rate applied */
  double grad_norm; /* global norm before clipping */
  int64_t tokens;   /* tokens of this step, all ranks */
};

struct tf_eval_result {
  double loss_sum; /* nats, summed over predicted tokens */
  int64_t tokens;  /* predicted tokens */
  int64_t bytes;   /* bytes of text the predicted tokens decode to (special tokens: none) */
  int64_t windows;
  double loss, perplexity; /* per token */
  double bits_per_byte;    /* loss_sum / ln 2 / bytes */
};

/* What a training run holds besides the model: activations, gradients, one micro-batch of
 * windows (opaque). */
struct tf_trainer;
/* *t := a new trainer of m, which it uses until tf_trainer_free. Continues the stored stage
 * unless new_stage or the checkpoint has no training state (then: step 0, fresh AdamW moments,
 * data stream seeded by tc->seed). tc->lr_from_previous > 0 sets the peak lr from m's growth
 * record (TF_ECONFIG without one); tc->freeze old_tokens trains only the Pattention rows past
 * the record's old counts (TF_ECONFIG without a record or new rows). */
int tf_trainer_create(struct tf_trainer **t, struct tf_model *m, const struct tf_train_config *tc,
                      int new_stage, int rank, int n_ranks, struct tf_error *err);
void tf_trainer_free(struct tf_trainer *t); /* NULL: nothing */
/* A resumed stage keeps the schedule stored with it (train.steps, warmup, lr, min_lr): a
 * value of tc that differs is refused with TF_EUSAGE naming both, unless reschedule, when
 * tc's schedule replaces the stored one. Nothing to check without a stored schedule. */
int tf_trainer_check_schedule(const struct tf_model *m, const struct tf_train_config *tc,
                              int reschedule, struct tf_error *err);
/* One optimizer step on windows of data. With dist (NULL: one process) the gradient block is
 * summed and the loss averaged across ranks. A non-finite loss or gradient is TF_EDATA naming
 * the step and tensor; a data file that shrank while its windows were read is TF_EIO
 * (tf_corpus_changed); the model is then unchanged. */
struct tf_dist;
int tf_trainer_step(struct tf_trainer *t, const struct tf_corpus *data, const struct tf_dist *dist,
                    struct tf_step_stats *st, struct tf_error *err);
/* Loss over eval_batches * batch windows of valid, spread evenly over it (tf_eval_windows). */
int tf_trainer_eval(struct tf_trainer *t, const struct tf_corpus *valid, struct tf_eval_result *r,
                    struct tf_error *err);
/* tf-eval's definition: consecutive windows of seq_len from token 0 (the last one shorter),
 * mean loss over all n - 1 predicted tokens of c (n <= c->n), bits per byte over the bytes
 * they decode to (m->tok); B full windows per forward pass. max_windows 0: all; else at most
 * that many, every k-th window of that grid (k = windows / max_windows). inputs/targets hold
 * B * seq_len entries. TF_EDATA if the loss is not finite; TF_EIO if a mapped input shrank
 * while it was read (tf_corpus_changed); err says which, naming c. */
int tf_eval_windows(const struct tf_model *m, struct tf_acts *acts, int B,
                    const struct tf_corpus *c, size_t n, size_t max_windows, int32_t *inputs,
                    int32_t *targets, struct tf_eval_result *r, struct tf_error *err);
/* The same, calling on_batch(ctx, windows done, windows in all) after each forward pass (a
 * progress bar). */
int tf_eval_windows_watched(const struct tf_model *m, struct tf_acts *acts, int B,
                            const struct tf_corpus *c, size_t n, size_t max_windows,
                            int32_t *inputs, int32_t *targets, struct tf_eval_result *r,
                            void (*on_batch)(void *ctx, int64_t done, int64_t total), void *ctx,
                            struct tf_error *err);
/* Scores in's tokens on the first n tokens of c (B windows a pass), shrinks as g says, and
 * scores the shrunk model on the same windows: the loss before and after in rep. */
struct tf_shrink_report {
  struct tf_grow_plan plan;
  struct tf_eval_result before, after;
};
int tf_model_shrink_on(struct tf_model *out, const struct tf_model *in,
                       const struct tf_grow_config *g, const struct tf_corpus *c, size_t n, int B,
                       struct tf_shrink_report *rep, struct tf_error *err);

/* ---------------------------------------------------------------- dist */

/* Data parallelism on MPI. Without a launcher (or built with MPI=0) one process, rank 0 of 1,
 * and every call below does nothing. */
struct tf_dist {
  int rank, n_ranks;
  int active; /* MPI was initialised */
};
/* Initialises MPI when an MPI launcher (mpirun, srun) started us. */
int tf_dist_init(struct tf_dist *d, int *argc, char ***argv, struct tf_error *err);
void tf_dist_finalize(struct tf_dist *d);
/* The maximum of flag over ranks. */
int tf_dist_any(const struct tf_dist *d, int flag);
/* 1 when every rank holds the same parameters (a checksum compared across ranks). */
int tf_dist_same(const struct tf_dist *d, const float *params, size_t n);
const char *tf_dist_backend(void); /* "MPI" or why not */

/* ---------------------------------------------------------------- tok */

/* Byte tokens: ids 0..255 are the bytes (a larger vocabulary is padding, never sampled). */
#define TF_BYTE_TOKENS 256
/* TF_OK when the model reads byte tokens (its tokenizer is the byte tokenizer and the
 * vocabulary holds every byte); TF_EDATA otherwise. */
int tf_tok_bytes_check(const struct tf_model *m, struct tf_error *err);
/* The tokens a model starts from for text (n bytes): its last max bytes (all of them when max
 * <= 0), or a single "\n" when the text is empty. A new array (free it) of *len ids, or NULL
 * without memory; n must be below 2^31 when max <= 0. */
int32_t *tf_tok_bytes_context(const uint8_t *text, size_t n, int max, int *len);

/* A tokenizer: text to token ids and back. Two kinds:
 *   bytes  id i is byte i (0..255), any byte string is text, no end-of-text token;
 *   bpe    byte-level BPE read from a Hugging Face tokenizer.json of the GPT-NeoX-20B kind
 *          (model BPE, NFC normalizer, ByteLevel pre-tokenizer and decoder, added tokens);
 *          encoding gives exactly the ids the Hugging Face tokenizers library gives for the
 *          same file and text (docs/tokenizer.md). Anything else in the file (another model
 *          type, normalizer, pre-tokenizer, ...) is refused, naming the feature.
 * A loaded tokenizer is read-only: several threads may encode with one at the same time. */
enum tf_tok_kind { TF_TOK_BYTES = 0, TF_TOK_BPE = 1 };
struct tf_tokenizer;

/* The byte tokenizer (TF_ENOMEM only). */
int tf_tokenizer_bytes(struct tf_tokenizer **t, struct tf_error *err);
/* Parses a tokenizer.json text of len bytes (need not be NUL-terminated); name (the file) is
 * used in messages. TF_EDATA with the reason: bad JSON, an unsupported feature, a merge naming
 * an unknown token, duplicate ids, ... */
int tf_tokenizer_from_json(struct tf_tokenizer **t, const char *json, size_t len, const char *name,
                           struct tf_error *err);
/* Reads the file at path ("-": stdin) and parses it. TF_ENOINPUT when it cannot be opened. */
int tf_tokenizer_load(struct tf_tokenizer **t, const char *path, struct tf_error *err);
void tf_tokenizer_free(struct tf_tokenizer *t);
/* A new tokenizer that encodes and decodes as t does. */
int tf_tokenizer_copy(struct tf_tokenizer **dst, const struct tf_tokenizer *t,
                      struct tf_error *err);

enum tf_tok_kind tf_tokenizer_kind(const struct tf_tokenizer *t);
/* "bytes" or "bpe": the checkpoint's `tokenizer` metadata. */
const char *tf_tokenizer_kind_name(const struct tf_tokenizer *t);
/* Ids the tokenizer can produce: its largest id + 1 (256 for bytes, 50,277 for GPT-NeoX-20B).
 * A model's vocab_size must be at least this. */
int tf_tokenizer_n_ids(const struct tf_tokenizer *t);
/* The end-of-text token (<|endoftext|>), or -1 when the tokenizer has none (bytes). */
int32_t tf_tokenizer_eos(const struct tf_tokenizer *t);
/* The tokenizer.json text it was loaded from (NULL for bytes) and its length. */
const char *tf_tokenizer_json(const struct tf_tokenizer *t, size_t *len);
/* Lower-case hex SHA-256 of that text (65 bytes with the NUL); "" for bytes. */
const char *tf_tokenizer_sha256(const struct tf_tokenizer *t);

/* A growable array of token ids. */
struct tf_ids {
  int32_t *v;
  size_t n, cap;
};
void tf_ids_free(struct tf_ids *ids);
/* Appends one id (TF_ENOMEM). */
int tf_ids_push(struct tf_ids *ids, int32_t id, struct tf_error *err);

/* Encoding flags. */
enum { TF_TOK_REPLACE_INVALID = 1 }; /* invalid UTF-8 becomes U+FFFD instead of an error */
/* Appends the ids of text (n bytes) to out. bpe: the text must be UTF-8; an invalid sequence is
 * TF_EDATA "invalid UTF-8 at byte N" (offset from text) unless flags has
 * TF_TOK_REPLACE_INVALID (each maximal invalid subsequence becomes U+FFFD, as Python's
 * errors="replace"); added tokens in the text (e.g. "<|endoftext|>") become their ids. bytes:
 * one id per byte, never an error but TF_ENOMEM. */
int tf_tokenizer_encode(const struct tf_tokenizer *t, const char *text, size_t n, unsigned flags,
                        struct tf_ids *out, struct tf_error *err);
/* The bytes id stands for in decoded text (*len of them), or NULL when id is outside
 * [0, tf_tokenizer_n_ids) or is an id the tokenizer does not use. */
const uint8_t *tf_tokenizer_token_bytes(const struct tf_tokenizer *t, int32_t id, size_t *len);
/* 1 when id is a special added token (<|endoftext|>, <|padding|>), which decoding may skip. */
int tf_tokenizer_is_special(const struct tf_tokenizer *t, int32_t id);
/* The text of ids (the concatenation of their bytes; special tokens left out when
 * skip_special) as a new NUL-terminated buffer *out of *len bytes (free it). An id that
 * tf_tokenizer_token_bytes does not know is TF_EDATA naming its position and value. */
int tf_tokenizer_decode(const struct tf_tokenizer *t, const int32_t *ids, size_t n,
                        int skip_special, char **out, size_t *len, struct tf_error *err);

/* The context a model starts from for a prompt of n bytes, as new ids in *out (free with
 * tf_ids_free): a byte model's is tf_tok_bytes_context's (TF_EDATA unless
 * tf_tok_bytes_check passes); a BPE model's is the encoded prompt, its last seq_len tokens,
 * or the end-of-text token alone for an empty prompt (a new document). A prompt that is not
 * UTF-8 is TF_EDATA naming the byte. */
int tf_tok_context(const struct tf_model *m, const char *text, size_t n, struct tf_ids *out,
                   struct tf_error *err);
/* How many of the n bytes at s can be written out now without splitting a UTF-8 character:
 * all but a last character that is still incomplete (a lead byte followed by fewer
 * continuation bytes than it announces). Bytes that are not UTF-8 are never held back. */
size_t tf_utf8_complete(const uint8_t *s, size_t n);

/* ---------------------------------------------------------------- tasks */

/* Zero-shot tasks scored by log-likelihood as lm-evaluation-harness 0.4 does (docs: tf-eval(1),
 * section TASKS). Each task reads its public JSON Lines form: one example a line. */
enum tf_task_kind {
  TF_TASK_LAMBADA = 0, /* lambada_openai: text */
  TF_TASK_HELLASWAG,   /* activity_label, ctx_a, ctx_b, endings, label */
  TF_TASK_PIQA,        /* goal, sol1, sol2, label */
  TF_TASK_ARC_EASY,    /* question, choices.text, choices.label, answerKey */
  TF_TASK_ARC_CHALLENGE,
  TF_TASK_WINOGRANDE, /* sentence, option1, option2, answer */
  TF_NTASKS
};
const char *tf_task_name(enum tf_task_kind k); /* "lambada_openai", "hellaswag", ... */
/* The task called name; TF_EUSAGE naming the known ones otherwise. */
int tf_task_from_name(const char *name, enum tf_task_kind *k, struct tf_error *err);

/* One log-likelihood request: context ids then continuation ids, as the harness encodes the
 * pair; scoring fills ll (the continuation's summed log-probability) and greedy (every
 * continuation token was the argmax). */
struct tf_task_request {
  size_t ids;        /* offset of the context's first id in the set's pool */
  int n_ctx, n_cont; /* n_ctx >= 1 */
  double ll;
  int greedy;
};

struct tf_task_example {
  int64_t line;        /* 1-based line of the file */
  int first;           /* its first request; choice i is request first + i */
  int n_choices;       /* 1 for lambada */
  int gold;            /* the correct choice (0 for lambada) */
  int pred, pred_norm; /* argmax of ll and of ll / choice length (after scoring) */
};

struct tf_task_set {
  enum tf_task_kind kind;
  int n_examples, n_requests;
  struct tf_task_example *ex;
  struct tf_task_request *req;
  double *choice_len; /* (n_requests) length of each choice's text in code points */
  struct tf_ids pool; /* every request's ids */
  int max_input;      /* the longest network input of any request (<= seq_len) */
  /* Called by tf_task_score after each forward pass with the requests scored so far and
   * their total (NULL: not called); tf_task_load leaves it NULL. */
  void (*on_batch)(void *ctx, int done, int total);
  void *on_batch_ctx;
  /* 0 (tf_task_load's): the choices of an example share their common prefix's forward;
   * 1: every request through the network's forward whole, padded in batches (the check of 0) */
  int whole;
};

/* Reads the task file at path ("-": stdin): at most limit examples (limit <= 0: all), blank
 * lines skipped, each turned into its requests and encoded with tok; continuations longer
 * than seq_len tokens are refused (the harness asserts the same). Errors name path and line:
 * TF_EDATA for bad JSON, a missing or ill-typed field, an empty choice list, a label out of
 * range, a file without examples; TF_ENOINPUT when path cannot be opened. */
int tf_task_load(struct tf_task_set *s, enum tf_task_kind kind, const char *path, long limit,
                 const struct tf_tokenizer *tok, int seq_len, struct tf_error *err);
void tf_task_free(struct tf_task_set *s);
/* Scores every request with m (the harness's left truncation to the last seq_len + 1 ids),
 * then each example's pred and pred_norm. By default an example's requests share the forward
 * of their common prefix (the context), many examples per pass of up to B x s->max_input rows
 * in buffers of its own (acts unused, may be NULL; TF_ENOMEM naming the figures when they do
 * not fit); with s->whole, up to B requests of equal padded length per forward pass in acts,
 * which must hold B x s->max_input. TF_EDATA when a log-likelihood is not finite. */
int tf_task_score(struct tf_task_set *s, const struct tf_model *m, struct tf_acts *acts, int B,
                  struct tf_error *err);

/* The harness's aggregate figures; a figure the task does not report is NaN, a standard
 * error of fewer than 2 examples too. */
struct tf_task_metrics {
  int n;
  double acc, acc_stderr;               /* every task */
  double acc_norm, acc_norm_stderr;     /* hellaswag, piqa, arc */
  double perplexity, perplexity_stderr; /* lambada; stderr by the delta method */
};
void tf_task_metrics(const struct tf_task_set *s, struct tf_task_metrics *mt);
/* One JSON object per example on f (index, line, loglikelihoods, is_greedy, and for multiple
 * choice chosen, chosen_norm, gold). TF_EIO when f reports a write error. */
int tf_task_write_examples(const struct tf_task_set *s, FILE *f, struct tf_error *err);
/* The same into the file at path, whole or not at all: a temporary file in its directory,
 * flushed, synced and renamed over path. TF_ECANTCREAT when it cannot be created, TF_EIO when
 * a write fails (the temporary file is then removed); messages name path. */
int tf_task_save_examples(const struct tf_task_set *s, const char *path, struct tf_error *err);

/* ---------------------------------------------------------------- decode */

/* Generation with a KV cache (llama2.c's run state): the context's tokens, the post-RoPE keys
 * and values of every layer for up to S = seq_len positions, and the buffers of one pass, all
 * allocated once. A new position costs one row through every Pattention, i.e. two
 * matrix-vector products (x K^T, then s^T V) shared by the OpenMP threads, plus attention
 * over the cached positions, so decoding is bound by memory bandwidth. The math is that of
 * the training forward (the logits agree to float rounding). Several tokens at once (a prompt, or
 * the re-encoding after a slide) go `chunk` rows per pass through the batched kernels.
 *
 * Sliding window: RoPE positions stay in [0, S), as in training. When a token arrives with
 * the context full (S positions), the oldest S - S/2 tokens are dropped, the S/2 newest are
 * encoded again at positions 0 .. S/2 - 1 and the new token follows at position S/2; the
 * context then holds the last S/2 + 1 tokens and grows again up to S. */
struct tf_decoder {
  int S;                             /* seq_len: positions the cache holds */
  int chunk;                         /* C: rows per batched pass */
  int threads;                       /* largest OpenMP team the buffers serve */
  int len;                           /* positions in the cache: the context's length */
  int64_t slides;                    /* times the window slid */
  struct tf_model_config cfg;        /* the config the buffers were sized for */
  int32_t *tokens;                   /* (S) the context */
  float *key_cache, *value_cache;    /* (L, H, S, d_h) post-RoPE keys, values */
  float *logits;                     /* (V) for the position after the last one encoded */
  float *x, *h, *q, *k, *v, *att;    /* (C, d) residual, normed input, q k v, attention output */
  float *rstd;                       /* (C) */
  float *pcache, *pscratch, *prnorm; /* (C, n_max) (C, n_max) (C): Pattention scores, norms */
  float *scores;                     /* (H, C, S) attention probabilities of one pass */
  float *partial;                    /* (3 threads, d rounded up to 32) sums of s^T V */
  float *arow;                       /* (3, n_max) scores of one row's q, k, v Pattentions */
  float *mine;                       /* (threads, ...) each thread's own buffers for one row */
  float *qx;                         /* a vector prepared for converted weights (lib/quant.h) */
  float *panel;                      /* (256, d) dequantized weights of a batched pass */
  float *rope_cos, *rope_sin;        /* (S, r/2) */
  float *y;                          /* (d) final LayerNorm of the last position */
  float *mem;                        /* the one allocation all of the above point into */
};

/* Buffers for models of config c; chunk <= 0 means 64. TF_ENOMEM when they do not fit,
 * TF_ECONFIG for sizes that are no model's, or for a refused TF_QKERNEL
 * (tf_weights_kernel_check). */
int tf_decoder_create(struct tf_decoder *dec, const struct tf_model_config *c, int chunk,
                      struct tf_error *err);
void tf_decoder_free(struct tf_decoder *dec);
/* Starts a new context: encodes tokens (n >= 1; when n > S only the last S are kept) at
 * positions 0, 1, ... and returns the logits (V) that predict the token after the last one
 * (dec->logits, valid until the next call). NULL, with err (may be NULL) saying why, when
 * n < 1 or m does not have the config dec was created for (TF_EUSAGE), or a token is outside
 * [0, V) (TF_EDATA); the state is then unchanged. */
const float *tf_decode_prefill(const struct tf_model *m, struct tf_decoder *dec,
                               const int32_t *tokens, int n, struct tf_error *err);
/* Appends one token to the context (sliding the window when it is full, see above) and
 * returns the logits of the position after it; NULL as for tf_decode_prefill, and when the
 * context is empty (no prefill yet). */
const float *tf_decode_step(const struct tf_model *m, struct tf_decoder *dec, int32_t token,
                            struct tf_error *err);

/* ---------------------------------------------------------------- sample */

/* How tf_sample draws the next token from logits l_0 .. l_{V-1} (NaN counts as -infinity):
 *   greedy, or temperature 0: the argmax, the lowest id on ties; no random number is drawn.
 *   Otherwise p = softmax(l / temperature), then
 *   top_k > 0: only the k ids of largest p are kept (ties: the lower id first);
 *   top_p < 1: of the ids kept so far, only the smallest set of largest p (ties: the lower id
 *              first) whose share of their probability reaches top_p is kept;
 *   one uniform number u in [0, 1) of the seeded rng picks, among the kept ids in ascending
 *   order, the first whose cumulative probability (renormalised over the kept ids) exceeds u.
 * The same seed and logits give the same ids. */
struct tf_sample_config {
  double temperature; /* >= 0; 0 means greedy */
  int top_k;          /* >= 0; 0: no limit */
  double top_p;       /* (0, 1]; 1: no limit */
  int greedy;         /* bool */
  uint64_t seed;
};

struct tf_sampler {
  struct tf_sample_config cfg;
  int V;              /* candidate ids 0 .. V-1 */
  struct tf_rng *rng; /* its generator (lib/rng.h) */
  float *prob;        /* (V) */
  int32_t *order;     /* (V) ids ranked by the top-k and top-p selection */
  uint8_t *kept;      /* (V) */
};

/* A sampler over ids 0 .. V-1 (V >= 1). Settings out of range are TF_EUSAGE, naming them. */
int tf_sampler_create(struct tf_sampler *s, int V, const struct tf_sample_config *cfg,
                      struct tf_error *err);
void tf_sampler_free(struct tf_sampler *s);
/* The next token for logits (V), or -1 when no logit is a number above -infinity. */
int32_t tf_sample(struct tf_sampler *s, const float *logits);
/* The greedy choice alone: argmax of logits (n), the lowest id on ties, -1 if none. */
int32_t tf_sample_argmax(const float *logits, int n);

#endif
