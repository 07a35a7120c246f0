/* bpe.c: one pre-token to ids. The merge loop is the Hugging Face library's: every adjacent
 * pair with a merge rule goes into a min-heap ordered by (rank, position); the top is applied
 * when its pair is still there and still makes the same token, and the pairs it forms with its
 * neighbours go in. Results are kept in a per-thread cache (pre-token bytes -> ids), so that
 * several threads encode with one tokenizer without locks (docs/tokenizer.md). */
#include <stdlib.h>
#include <string.h>

#include "bpe_internal.h"

#define CACHE_SLOTS    (1u << 16) /* cleared when half full */
#define CACHE_KEYS     (1u << 20) /* bytes of cached pre-tokens */
#define CACHE_IDS      (1u << 18) /* their ids */
#define CACHE_WORD_MAX 64         /* longer pre-tokens are not cached */

const struct tf_bpe_merge *tf_bpe_find_merge(const struct tf_bpe *bpe, int32_t a, int32_t b) {
  uint64_t key = (uint64_t)(uint32_t)a << 32 | (uint32_t)b;
  size_t h = (size_t)((key * 0x9E3779B97F4A7C15ull) >> 20) & bpe->merge_mask;
  for (;; h = (h + 1) & bpe->merge_mask) {
    const struct tf_bpe_merge *m = &bpe->merges[h];
    if (m->key == key) return m;
    if (m->key == TF_BPE_NO_PAIR) return NULL;
  }
}

void tf_bpe_cache_free(struct tf_bpe_cache *c) {
  if (!c) return;
  pcre2_match_data_free(c->md);
  free(c->buf);
  free(c->slot);
  free(c->keys);
  free(c->ids);
  free(c->sym);
  free(c->heap);
  free(c);
}

struct tf_bpe_cache *tf_bpe_cache_next(struct tf_bpe_cache *c) {
  return c->next;
}

void tf_bpe_cache_release(void *cache) {
  struct tf_bpe_cache *c = cache, **at;
  struct tf_bpe *bpe = c->owner;
  pthread_mutex_lock(&bpe->cache_lock);
  for (at = &bpe->caches; *at && *at != c;) at = &(*at)->next;
  if (*at) *at = c->next;
  pthread_mutex_unlock(&bpe->cache_lock);
  tf_bpe_cache_free(c);
}

struct tf_bpe_cache *tf_bpe_thread_cache(struct tf_bpe *bpe) {
  struct tf_bpe_cache *c = pthread_getspecific(bpe->cache_key);
  if (c) return c;
  /* a line of its own: other threads' caches are written as often */
  c = aligned_alloc(64, (sizeof *c + 63) / 64 * 64);
  if (!c) return NULL;
  memset(c, 0, sizeof *c);
  c->slot = calloc(CACHE_SLOTS, sizeof *c->slot);
  c->keys = malloc(CACHE_KEYS);
  c->ids = malloc(CACHE_IDS * sizeof *c->ids);
  c->md = bpe->re ? pcre2_match_data_create_from_pattern(bpe->re, NULL) : NULL;
  if (!c->slot || !c->keys || !c->ids || (bpe->re && !c->md) ||
      pthread_setspecific(bpe->cache_key, c)) {
    tf_bpe_cache_free(c);
    return NULL;
  }
  c->owner = bpe;
  pthread_mutex_lock(&bpe->cache_lock);
  c->next = bpe->caches;
  bpe->caches = c;
  pthread_mutex_unlock(&bpe->cache_lock);
  return c;
}

/* 64-bit hash of n bytes, never 0 (0 marks an empty slot): 8 bytes a step, each step
 * h = (h ^ word) * odd constant, then the high bits folded down. */
static uint64_t hash_bytes(const uint8_t *w, size_t n) {
  uint64_t h = 0x243F6A8885A308D3ull ^ n, x;
  for (; n >= 8; n -= 8, w += 8) {
    memcpy(&x, w, 8);
    h = (h ^ x) * 0x9E3779B97F4A7C15ull;
  }
  if (n) {
    x = 0;
    memcpy(&x, w, n);
    h = (h ^ x) * 0x9E3779B97F4A7C15ull;
  }
  h ^= h >> 29;
  h *= 0xBF58476D1CE4E5B9ull;
  h ^= h >> 32;
  return h ? h : 1;
}

/* The cached slot of w, or the empty slot where it would go. */
static struct tf_bpe_slot *cache_find(struct tf_bpe_cache *c, uint64_t h, const uint8_t *w,
                                      size_t n) {
  for (size_t i = (size_t)h & (CACHE_SLOTS - 1);; i = (i + 1) & (CACHE_SLOTS - 1)) {
    struct tf_bpe_slot *s = &c->slot[i];
    if (!s->hash) return s;
    if (s->hash == h && s->key_len == n && memcmp(c->keys + s->key_off, w, n) == 0) return s;
  }
}

/* Remembers ids v[0..k) for w (n bytes) in slot s, clearing the cache first when full. */
static void cache_put(struct tf_bpe_cache *c, struct tf_bpe_slot *s, uint64_t h, const uint8_t *w,
                      size_t n, const int32_t *v, size_t k) {
  if (c->used >= CACHE_SLOTS / 2 || c->keys_len + n > CACHE_KEYS || c->ids_len + k > CACHE_IDS) {
    memset(c->slot, 0, CACHE_SLOTS * sizeof *c->slot);
    c->used = c->keys_len = c->ids_len = 0;
    s = cache_find(c, h, w, n);
  }
  memcpy(c->keys + c->keys_len, w, n);
  memcpy(c->ids + c->ids_len, v, k * sizeof *v);
  *s = (struct tf_bpe_slot){h, (uint32_t)c->keys_len, (uint32_t)c->ids_len, (uint16_t)n,
                            (uint16_t)k};
  c->keys_len += n;
  c->ids_len += k;
  c->used++;
}

/* Room for the symbols of an n-byte pre-token and their heap. */
static int scratch_reserve(struct tf_bpe_cache *c, size_t n, struct tf_error *err) {
  if (n <= c->scratch_cap) return TF_OK;
  if (n > INT32_MAX / 4)
    return tf_error_set(err, TF_EDATA, "a pre-token of %zu bytes is too long to encode", n);
  size_t cap = n < 256 ? 256 : n;
  void *sym = cap < SIZE_MAX / 3 / sizeof *c->heap ? malloc(cap * sizeof *c->sym) : NULL;
  void *heap = sym ? malloc(3 * cap * sizeof *c->heap) : NULL;
  if (!heap) {
    free(sym);
    return tf_error_set(err, TF_ENOMEM, "out of memory for a pre-token of %zu bytes", n);
  }
  free(c->sym);
  free(c->heap);
  c->sym = sym;
  c->heap = heap;
  c->scratch_cap = cap;
  return TF_OK;
}

/* (rank, pos) order: a before b. */
static int step_less(const struct tf_bpe_step *a, const struct tf_bpe_step *b) {
  return a->rank < b->rank || (a->rank == b->rank && a->pos < b->pos);
}

static void heap_push(struct tf_bpe_step *h, size_t *n, struct tf_bpe_step s) {
  size_t i = (*n)++;
  while (i > 0 && step_less(&s, &h[(i - 1) / 2])) {
    h[i] = h[(i - 1) / 2];
    i = (i - 1) / 2;
  }
  h[i] = s;
}

static struct tf_bpe_step heap_pop(struct tf_bpe_step *h, size_t *n) {
  struct tf_bpe_step top = h[0], last = h[--*n];
  size_t i = 0;
  for (;;) {
    size_t k = 2 * i + 1;
    if (k >= *n) break;
    if (k + 1 < *n && step_less(&h[k + 1], &h[k])) k++;
    if (!step_less(&h[k], &last)) break;
    h[i] = h[k];
    i = k;
  }
  if (*n) h[i] = last;
  return top;
}

/* Pushes the merge of the pair at symbols pos and its next, if there is one. */
static void push_pair(const struct tf_bpe *bpe, struct tf_bpe_cache *c, size_t *nh, int32_t pos) {
  int32_t nx = c->sym[pos].next;
  if (nx < 0) return;
  const struct tf_bpe_merge *m = tf_bpe_find_merge(bpe, c->sym[pos].c, c->sym[nx].c);
  if (m) heap_push(c->heap, nh, (struct tf_bpe_step){m->rank, pos, m->id});
}

/* The merge loop over c->sym[0..n): byte tokens in, merged tokens left linked from 0. */
static void merge_all(const struct tf_bpe *bpe, struct tf_bpe_cache *c, size_t n) {
  struct tf_bpe_sym *sym = c->sym;
  size_t nh = 0;
  for (size_t i = 0; i + 1 < n; i++) push_pair(bpe, c, &nh, (int32_t)i);
  while (nh) {
    struct tf_bpe_step top = heap_pop(c->heap, &nh);
    struct tf_bpe_sym *s = &sym[top.pos];
    if (s->c < 0 || s->next < 0) continue;
    const struct tf_bpe_merge *m = tf_bpe_find_merge(bpe, s->c, sym[s->next].c);
    if (!m || m->id != top.id) continue; /* stale: the pair changed */
    int32_t gone = s->next;
    s->c = top.id;
    s->next = sym[gone].next;
    sym[gone].c = -1;
    if (s->next >= 0) sym[s->next].prev = top.pos;
    if (s->prev >= 0) push_pair(bpe, c, &nh, s->prev);
    push_pair(bpe, c, &nh, top.pos);
  }
}

int tf_bpe_encode_word(const struct tf_bpe *bpe, struct tf_bpe_cache *c, const uint8_t *w, size_t n,
                       struct tf_ids *out, struct tf_error *err) {
  if (n == 1) return bpe->byte_id[w[0]] < 0 ? TF_OK : tf_bpe_push(out, bpe->byte_id[w[0]], err);
  uint64_t h = 0;
  struct tf_bpe_slot *slot = NULL;
  if (n <= CACHE_WORD_MAX) {
    h = hash_bytes(w, n);
    slot = cache_find(c, h, w, n);
    if (slot->hash) {
      for (size_t i = 0; i < slot->n_ids; i++)
        if (tf_bpe_push(out, c->ids[slot->ids_off + i], err)) return err->code;
      return TF_OK;
    }
  }
  int rc = scratch_reserve(c, n, err);
  if (rc) return rc;
  size_t k = 0; /* symbols: the bytes that have a token */
  for (size_t i = 0; i < n; i++)
    if (bpe->byte_id[w[i]] >= 0) {
      c->sym[k] = (struct tf_bpe_sym){bpe->byte_id[w[i]], (int32_t)k - 1, (int32_t)k + 1};
      k++;
    }
  size_t first = out->n;
  if (k) {
    c->sym[k - 1].next = -1;
    merge_all(bpe, c, k);
    for (int32_t i = 0; i >= 0; i = c->sym[i].next)
      if ((rc = tf_bpe_push(out, c->sym[i].c, err))) return rc;
  }
  if (slot && out->n > first) cache_put(c, slot, h, w, n, out->v + first, out->n - first);
  return TF_OK;
}
