/* bpe_internal.h: the byte-level BPE tokenizer shared by lib/bpe_load.c (reading a Hugging Face
 * tokenizer.json), lib/pretok.c (text to pre-tokens: UTF-8 check, added tokens, NFC, the split
 * pattern) and lib/bpe.c (pre-token to ids: the merge loop and its per-thread cache).
 * docs/tokenizer.md describes the steps. */
#ifndef TF_BPE_INTERNAL_H
#define TF_BPE_INTERNAL_H

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "tokenformer.h"

/* One merge: the pair of ids (key = a << 32 | b) becomes id at priority rank (lower first). */
struct tf_bpe_merge {
  uint64_t key; /* TF_BPE_NO_PAIR: an empty slot */
  int32_t rank, id;
};
#define TF_BPE_NO_PAIR UINT64_MAX

/* A trie over the bytes of the added tokens of one kind (normalized or not). */
struct tf_bpe_trie {
  struct tf_bpe_trie_node {
    int32_t child, sibling; /* node indices, -1: none */
    int32_t id;             /* the added token ending here, -1: none */
    uint8_t byte;
  } * node; /* node[0] is the root */
  int n, cap;
  uint8_t first[256]; /* 1: some token starts with this byte */
  int n_first;        /* how many bytes do */
  uint8_t only;       /* the byte when n_first is 1 (scanned for with memchr) */
};

/* A thread's cache of pre-token -> ids and its scratch, owned by one thread at a time. */
struct tf_bpe_cache {
  struct tf_bpe_cache *next; /* in tf_bpe.caches */
  struct tf_bpe *owner;      /* the tokenizer whose list holds it */
  pcre2_match_data *md;      /* for the split pattern */
  uint8_t *buf;              /* a piece with its prefix space */
  size_t buf_cap;
  struct tf_bpe_slot {
    uint64_t hash; /* 0: empty */
    uint32_t key_off, ids_off;
    uint16_t key_len, n_ids;
  } * slot;
  size_t used;   /* slots in use */
  uint8_t *keys; /* the cached pre-tokens' bytes */
  int32_t *ids;  /* their ids */
  size_t keys_len, ids_len;
  struct tf_bpe_sym {
    int32_t c, prev, next; /* id, neighbours (-1: none); c < 0: merged into its left */
  } * sym;
  struct tf_bpe_step {
    int32_t rank, pos, id;
  } * heap;
  size_t scratch_cap; /* symbols sym and heap hold (heap: 3 per symbol) */
};

struct tf_bpe {
  int32_t n_ids;               /* largest id + 1 */
  int32_t eos;                 /* id of <|endoftext|>, or -1 */
  uint32_t *tok_off;           /* (n_ids) offset of id's bytes in tok_pool */
  uint32_t *tok_len;           /* (n_ids) their length; TF_BPE_UNUSED: no such id */
  uint8_t *tok_pool;           /* the bytes of every token, decoded as the ByteLevel decoder does */
  uint8_t *special;            /* (n_ids) 1: a special added token */
  int32_t byte_id[256];        /* the token of each single byte */
  struct tf_bpe_merge *merges; /* open addressing, merge_mask + 1 slots */
  size_t merge_mask;
  struct tf_bpe_trie raw_trie;  /* added tokens matched on the text as given */
  struct tf_bpe_trie norm_trie; /* added tokens matched after normalization */
  int nfc;                      /* the NFC normalizer */
  int add_prefix_space;         /* ByteLevel: a space before a piece not starting with one */
  int use_regex;                /* ByteLevel: split with the GPT-2 pattern */
  pcre2_code *re;               /* that pattern */
  int jit;                      /* 1: re is JIT-compiled */
  pthread_key_t cache_key;      /* this thread's struct tf_bpe_cache */
  pthread_mutex_t cache_lock;   /* guards caches (the list, not their contents) */
  struct tf_bpe_cache *caches;  /* caches of threads still running, freed with it */
  int cache_key_made;
};
#define TF_BPE_UNUSED UINT32_MAX

/* bpe_load.c: parses a tokenizer.json text (TF_EDATA naming the feature or fault). */
int tf_bpe_load(struct tf_bpe **bpe, const char *json, size_t len, const char *name,
                struct tf_error *err);
void tf_bpe_free(struct tf_bpe *bpe);

/* bpe.c: the merge rule of the pair (a, b), or NULL when there is none. */
const struct tf_bpe_merge *tf_bpe_find_merge(const struct tf_bpe *bpe, int32_t a, int32_t b);
/* The calling thread's cache and scratch (made on first use), NULL without memory. */
struct tf_bpe_cache *tf_bpe_thread_cache(struct tf_bpe *bpe);
void tf_bpe_cache_free(struct tf_bpe_cache *c);
/* Appends the ids of one pre-token (n raw bytes, before the byte-level mapping) to out. */
int tf_bpe_encode_word(const struct tf_bpe *bpe, struct tf_bpe_cache *c, const uint8_t *w, size_t n,
                       struct tf_ids *out, struct tf_error *err);
/* The cache after c in the tokenizer's list. */
struct tf_bpe_cache *tf_bpe_cache_next(struct tf_bpe_cache *c);
/* The cache key's destructor: a thread that ends takes its cache out of the list, frees it. */
void tf_bpe_cache_release(void *cache);
/* Appends id to out: tf_ids_push with its common case inline. */
static inline int tf_bpe_push(struct tf_ids *out, int32_t id, struct tf_error *err) {
  if (out->n == out->cap) return tf_ids_push(out, id, err);
  out->v[out->n++] = id;
  return TF_OK;
}

/* pretok.c: the whole encode of text (n bytes) with flags as tf_tokenizer_encode. */
int tf_bpe_encode(struct tf_bpe *bpe, const char *text, size_t n, unsigned flags,
                  struct tf_ids *out, struct tf_error *err);
/* The GPT-2 split pattern compiled (JIT when available); TF_EDATA when PCRE2 refuses it. */
int tf_pretok_compile(struct tf_bpe *bpe, struct tf_error *err);

/* The byte-level alphabet (GPT-2's bytes_to_unicode): the code point byte b is written as. */
uint32_t tf_bpe_byte_char(uint8_t b);

#endif
