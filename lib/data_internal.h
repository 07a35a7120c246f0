/* data_internal.h: what the data modules share with training and the tests: windows drawn
 * from a corpus, parallel encoding's pieces, the indexed dataset's reader and writer
 * (data.c, textenc.c, mmidx.c). Internal to the library and its tests. */
#ifndef TF_DATA_INTERNAL_H
#define TF_DATA_INTERNAL_H

#include "tokenformer.h"

/* TF_EDATA naming the position and id unless every id is in [0, limit) (what: what the limit
 * is, for the message). */
int tf_corpus_check_ids(const struct tf_corpus *c, int64_t limit, const char *what,
                        struct tf_error *err);

/* dst[i] = id off + i, i < n (the caller keeps off + n <= c->n). */
void tf_corpus_copy(const struct tf_corpus *c, size_t off, size_t n, int32_t *dst);

/* This rank's B training windows (inputs and next-token targets, (B, T) each) of the global
 * batch of n_ranks * B windows drawn from rng. */
void tf_corpus_draw(const struct tf_corpus *c, struct tf_rng *rng, int B, int T, int rank,
                    int n_ranks, int32_t *inputs, int32_t *targets);

/* Chunks of a text encoded in parallel by tf_encode_text. */
#define TF_ENCODE_CHUNK (1 << 20)

/* The same with chunks of about chunk bytes and no UTF-8 check first (tests). */
int tf_encode_text_chunked(const struct tf_tokenizer *tok, const char *text, size_t n,
                           unsigned flags, size_t chunk, struct tf_ids *out, struct tf_error *err);
/* The offset of the first invalid UTF-8 sequence of text, or n when it is all valid. */
size_t tf_utf8_check(const char *text, size_t n);

#define TF_MMIDX_MAGIC_LEN 9

/* The writer's dtype is uint16 for tokenizers of fewer ids than this, else int32 (as the
 * official tools choose). */
#define TF_MMIDX_U16_BELOW 65500

/* Bytes per id of a dtype code; 0 for codes that are not integer dtypes. */
size_t tf_ids_dtype_size(int dtype);
/* Element i of ids of that dtype (host byte order, little-endian). */
int64_t tf_ids_get(int dtype, const void *ids, size_t i);

struct tf_mmidx_info {
  int dtype;
  uint64_t n_seqs, n_docs, n_tokens;
};
/* Checks an index (len bytes at idx, name for messages) against a .bin of bin_len bytes
 * (bin_name): magic, version, an integer dtype, a length that is exactly what the counts
 * imply, sizes >= 0, sequences that follow one another from byte 0 and fill the .bin, a
 * document index from 0 to the number of sequences that never decreases. TF_EDATA naming the
 * file and field otherwise. Work and memory are bounded by len: nothing is allocated. */
int tf_mmidx_parse(const uint8_t *idx, size_t len, uint64_t bin_len, const char *name,
                   const char *bin_name, struct tf_mmidx_info *info, struct tf_error *err);
/* 1 (prefix set) when path names a dataset: PREFIX, PREFIX.idx or PREFIX.bin with both
 * PREFIX.idx and PREFIX.bin present (a file named exactly path, other than .idx/.bin, is text);
 * else 0. */
int tf_mmidx_prefix(const char *path, char *prefix, size_t cap);

/* Writes PREFIX.bin and PREFIX.idx: the tokens go to a temporary file beside PREFIX.bin as
 * they come; finish writes the index to another and renames both over PREFIX.bin, then
 * PREFIX.idx. A failure, or abort, removes the temporary files and leaves existing files as
 * they were. */
struct tf_mmidx_writer;
/* n_ids: the tokenizer's id count (the dtype follows from it). TF_ECANTCREAT or TF_EIO when
 * the temporary file cannot be created. */
int tf_mmidx_writer_create(struct tf_mmidx_writer **w, const char *prefix, int n_ids,
                           struct tf_error *err);
/* Appends one document of n ids as one sequence (an empty one is left out). TF_EDATA for an id
 * outside [0, n_ids); TF_EIO when writing fails. */
int tf_mmidx_writer_add(struct tf_mmidx_writer *w, const int32_t *ids, size_t n,
                        struct tf_error *err);
/* Writes the index, names both files, and frees w (whatever the result). */
int tf_mmidx_writer_finish(struct tf_mmidx_writer *w, struct tf_error *err);
/* Removes the temporary files and frees w (NULL: nothing). */
void tf_mmidx_writer_abort(struct tf_mmidx_writer *w);
size_t tf_mmidx_writer_docs(const struct tf_mmidx_writer *w);
int tf_mmidx_writer_dtype(const struct tf_mmidx_writer *w);

#endif
