/* bpe_load.c: reads a Hugging Face tokenizer.json of the GPT-NeoX-20B kind into struct tf_bpe
 * (docs/tokenizer.md lists what is supported and what is refused). Every refusal names the
 * file and the feature or the faulty entry. */
#include <stdarg.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "bpe_internal.h"

/* ids from MAX_ID on are refused (the arrays are sized by the largest) */
#define MAX_ID TF_MAX_TOKENS

/* GPT-2's byte-level alphabet: the printable bytes stand for themselves, the others (in
 * order) for U+0100 upwards. */
static int byte_is_printable(int b) {
  return (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
}

uint32_t tf_bpe_byte_char(uint8_t b) {
  if (byte_is_printable(b)) return b;
  uint32_t n = 0;
  for (int i = 0; i < b; i++) n += !byte_is_printable(i);
  return 256 + n;
}

static int16_t char_table[256 + 68]; /* code point -> byte, -1: outside the alphabet */
static pthread_once_t char_table_once = PTHREAD_ONCE_INIT;

static void char_table_fill(void) {
  for (int i = 0; i < 256 + 68; i++) char_table[i] = -1;
  for (int b = 0; b < 256; b++) char_table[tf_bpe_byte_char((uint8_t)b)] = (int16_t)b;
}

/* The byte code point c stands for, or -1 when c is outside the alphabet. */
static int char_byte(int32_t c) {
  pthread_once(&char_table_once, char_table_fill);
  return c >= 0 && c < 256 + 68 ? char_table[c] : -1;
}

/* The bytes a token string stands for, as the ByteLevel decoder gives them: each character
 * mapped back to its byte when all are in the alphabet, else the string's own UTF-8. Writes
 * at most strlen(s) bytes to out; returns their count. */
static size_t token_bytes(const char *s, uint8_t *out) {
  size_t n = strlen(s), k = 0;
  for (size_t i = 0; i < n;) {
    utf8proc_int32_t c;
    utf8proc_ssize_t w = utf8proc_iterate((const uint8_t *)s + i, (utf8proc_ssize_t)(n - i), &c);
    int b = w > 0 ? char_byte(c) : -1;
    if (b < 0) {
      memcpy(out, s, n);
      return n;
    }
    out[k++] = (uint8_t)b;
    i += (size_t)w;
  }
  return k;
}

/* A loader's state: the parsed JSON and what is being built. */
struct loader {
  const char *name;
  struct tf_error *err;
  json_t *root, *vocab;
  struct tf_bpe *bpe;
  size_t pool_len, pool_cap;
  char **owner; /* (MAX id + 1) the token string holding each id, to name duplicates */
  int has_unk;  /* the model names an unk_token */
};

__attribute__((format(printf, 2, 3))) static int fail(struct loader *L, const char *fmt, ...) {
  char what[400];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(what, sizeof what, fmt, ap);
  va_end(ap);
  return tf_error_set(L->err, TF_EDATA, "%s: %s", L->name, what);
}

/* "key" of object o must be absent, null, or (when ok_value) equal to the JSON ok_value. */
static int must_be_unset(struct loader *L, json_t *o, const char *key, const char *where) {
  json_t *v = json_object_get(o, key);
  if (!v || json_is_null(v) || json_is_false(v)) return TF_OK;
  if (json_is_string(v) && json_string_length(v) == 0) return TF_OK;
  return fail(L, "%s%s is not supported", where, key);
}

/* Keys of object o outside the NULL-terminated list `known` are refused, naming them. */
static int only_keys(struct loader *L, json_t *o, const char *const *known, const char *where) {
  const char *key;
  json_t *v;
  json_object_foreach(o, key, v) {
    int ok = 0;
    for (const char *const *k = known; *k && !ok; k++) ok = strcmp(*k, key) == 0;
    if (!ok) return fail(L, "%s%s is not supported", where, key);
  }
  return TF_OK;
}

/* The "type" of a component object, or "" (null components are reported as "null"). */
static const char *type_of(json_t *o) {
  if (!o || json_is_null(o)) return "null";
  const char *t = json_string_value(json_object_get(o, "type"));
  return t ? t : "";
}

static int check_bool(struct loader *L, json_t *o, const char *key, int dflt, int *out,
                      const char *where) {
  json_t *v = json_object_get(o, key);
  if (!v) return *out = dflt, TF_OK;
  if (!json_is_boolean(v)) return fail(L, "%s%s must be true or false", where, key);
  *out = json_is_true(v);
  return TF_OK;
}

/* normalizer, pre_tokenizer, post_processor, decoder, truncation, padding. */
static int load_pipeline(struct loader *L) {
  static const char *const top[] = {
      "version",       "truncation",     "padding", "added_tokens", "normalizer",
      "pre_tokenizer", "post_processor", "decoder", "model",        NULL};
  static const char *const bytelevel[] = {"type", "add_prefix_space", "trim_offsets", "use_regex",
                                          NULL};
  int rc = only_keys(L, L->root, top, "");
  if (!rc) rc = must_be_unset(L, L->root, "truncation", "");
  if (!rc) rc = must_be_unset(L, L->root, "padding", "");
  if (rc) return rc;
  json_t *norm = json_object_get(L->root, "normalizer");
  const char *t = type_of(norm);
  if (strcmp(t, "null") && strcmp(t, "NFC"))
    return fail(L, "normalizer %s%s is not supported", t, "");
  L->bpe->nfc = strcmp(t, "NFC") == 0;
  json_t *pre = json_object_get(L->root, "pre_tokenizer");
  t = type_of(pre);
  if (strcmp(t, "ByteLevel")) return fail(L, "pre_tokenizer %s%s is not supported", t, "");
  rc = only_keys(L, pre, bytelevel, "pre_tokenizer ByteLevel: ");
  if (!rc)
    rc = check_bool(L, pre, "add_prefix_space", 1, &L->bpe->add_prefix_space, "pre_tokenizer: ");
  if (!rc) rc = check_bool(L, pre, "use_regex", 1, &L->bpe->use_regex, "pre_tokenizer: ");
  if (rc) return rc;
  json_t *post = json_object_get(L->root, "post_processor");
  t = type_of(post);
  if (strcmp(t, "null") && strcmp(t, "ByteLevel"))
    return fail(L, "post_processor %s%s is not supported", t, "");
  if (post && !json_is_null(post) && (rc = only_keys(L, post, bytelevel, "post_processor: ")))
    return rc;
  json_t *dec = json_object_get(L->root, "decoder");
  t = type_of(dec);
  if (strcmp(t, "ByteLevel")) return fail(L, "decoder %s%s is not supported", t, "");
  return only_keys(L, dec, bytelevel, "decoder: ");
}

/* Records id as the token s with its decoded bytes. */
static int set_token(struct loader *L, int32_t id, const char *s) {
  struct tf_bpe *bpe = L->bpe;
  if (L->owner[id]) {
    if (strcmp(L->owner[id], s) == 0) return TF_OK;
    return tf_error_set(L->err, TF_EDATA, "%s: duplicate id %d (tokens \"%s\" and \"%s\")", L->name,
                        id, L->owner[id], s);
  }
  size_t n = strlen(s);
  if (L->pool_cap - L->pool_len < n) {
    size_t cap = L->pool_cap * 2 + n + 4096;
    uint8_t *p = realloc(bpe->tok_pool, cap);
    if (!p) return tf_error_set(L->err, TF_ENOMEM, "%s: out of memory", L->name);
    bpe->tok_pool = p;
    L->pool_cap = cap;
  }
  if (L->pool_len + n >= TF_BPE_UNUSED) return fail(L, "the tokens are too long%s%s", "", "");
  L->owner[id] = (char *)s;
  bpe->tok_off[id] = (uint32_t)L->pool_len;
  bpe->tok_len[id] = (uint32_t)token_bytes(s, bpe->tok_pool + L->pool_len);
  L->pool_len += bpe->tok_len[id];
  return TF_OK;
}

/* An id value of the file, checked to lie in [0, MAX_ID). */
static int get_id(struct loader *L, json_t *v, const char *what, int32_t *id) {
  json_int_t i = json_is_integer(v) ? json_integer_value(v) : -1;
  if (i < 0 || i >= MAX_ID)
    return fail(L, "%s: the id must be an integer in [0, %d)", what, MAX_ID);
  *id = (int32_t)i;
  return TF_OK;
}

/* The largest id of vocab and added tokens: sizes the arrays. */
static int size_ids(struct loader *L, json_t *added) {
  int32_t max = -1, id = 0;
  const char *key;
  json_t *v;
  json_object_foreach(L->vocab, key, v) {
    if (get_id(L, v, key, &id)) return L->err->code;
    if (id > max) max = id;
  }
  size_t i;
  json_array_foreach(added, i, v) {
    if (!json_is_object(v)) return fail(L, "added_tokens: each must be an object%s%s", "", "");
    if (get_id(L, json_object_get(v, "id"), "added_tokens", &id)) return L->err->code;
    if (id > max) max = id;
  }
  struct tf_bpe *bpe = L->bpe;
  bpe->n_ids = max + 1;
  size_t n = (size_t)bpe->n_ids + 1;
  bpe->tok_off = calloc(n, sizeof *bpe->tok_off);
  bpe->tok_len = malloc(n * sizeof *bpe->tok_len);
  bpe->special = calloc(n, 1);
  L->owner = calloc(n, sizeof *L->owner);
  bpe->tok_pool = malloc(L->pool_cap = 4096);
  if (!bpe->tok_pool || !bpe->tok_off || !bpe->tok_len || !bpe->special || !L->owner)
    return tf_error_set(L->err, TF_ENOMEM, "%s: out of memory for %d ids", L->name, bpe->n_ids);
  for (size_t k = 0; k < n; k++) bpe->tok_len[k] = TF_BPE_UNUSED;
  return TF_OK;
}

/* The model section: type BPE, its options, the vocab and the byte tokens. */
static int load_vocab(struct loader *L, json_t *model) {
  static const char *const keys[] = {"type",
                                     "dropout",
                                     "unk_token",
                                     "continuing_subword_prefix",
                                     "end_of_word_suffix",
                                     "fuse_unk",
                                     "byte_fallback",
                                     "ignore_merges",
                                     "vocab",
                                     "merges",
                                     NULL};
  const char *t = type_of(model);
  if (strcmp(t, "BPE")) return fail(L, "model type %s%s is not supported", t, "");
  int rc = only_keys(L, model, keys, "model: ");
  const char *const unset[] = {"dropout", "continuing_subword_prefix", "end_of_word_suffix",
                               "byte_fallback", "ignore_merges"};
  for (size_t i = 0; !rc && i < sizeof unset / sizeof *unset; i++)
    rc = must_be_unset(L, model, unset[i], "model BPE: ");
  if (rc) return rc;
  json_t *unk = json_object_get(model, "unk_token");
  if (unk && !json_is_null(unk) && !json_is_string(unk))
    return fail(L, "model: unk_token must be a string or null%s%s", "", "");
  L->has_unk = unk && json_is_string(unk);
  L->vocab = json_object_get(model, "vocab");
  if (!json_is_object(L->vocab)) return fail(L, "model: vocab must be an object%s%s", "", "");
  return TF_OK;
}

static int fill_vocab(struct loader *L) {
  const char *key;
  json_t *v;
  json_object_foreach(L->vocab, key, v) {
    int rc = set_token(L, (int32_t)json_integer_value(v), key);
    if (rc) return rc;
  }
  for (int b = 0; b < 256; b++) {
    char s[8];
    int n = (int)utf8proc_encode_char((utf8proc_int32_t)tf_bpe_byte_char((uint8_t)b), (uint8_t *)s);
    s[n] = '\0';
    json_t *id = json_object_get(L->vocab, s);
    if (!id && L->has_unk) {
      char hex[8];
      snprintf(hex, sizeof hex, "0x%02x", b);
      return fail(L, "model: unk_token with no token for byte %s (\"%s\") is not supported", hex,
                  s);
    }
    L->bpe->byte_id[b] = -1; /* a byte without a token is dropped, as the library does */
    if (!id) continue;
    L->bpe->byte_id[b] = (int32_t)json_integer_value(id);
  }
  return TF_OK;
}

/* The vocab id of string s (n bytes), -1 when absent. */
static int32_t vocab_id(struct loader *L, const char *s, size_t n) {
  json_t *v = json_object_getn(L->vocab, s, n);
  return v ? (int32_t)json_integer_value(v) : -1;
}

/* Adds merge rank: (a, b) -> the token a b. */
static int add_merge(struct loader *L, size_t rank, const char *a, size_t na, const char *b,
                     size_t nb) {
  char what[64];
  snprintf(what, sizeof what, "merge %zu", rank);
  int32_t ia = vocab_id(L, a, na), ib = vocab_id(L, b, nb);
  if (ia < 0 || ib < 0) {
    char tok[200];
    snprintf(tok, sizeof tok, "%.*s", (int)(ia < 0 ? na : nb), ia < 0 ? a : b);
    return fail(L, "%s names the unknown token \"%s\"", what, tok);
  }
  char *ab = malloc(na + nb + 1);
  if (!ab) return tf_error_set(L->err, TF_ENOMEM, "%s: out of memory", L->name);
  memcpy(ab, a, na);
  memcpy(ab + na, b, nb);
  int32_t id = vocab_id(L, ab, na + nb);
  free(ab);
  if (id < 0) return fail(L, "%s makes a token that is not in the vocab%s", what, "");
  struct tf_bpe *bpe = L->bpe;
  uint64_t key = (uint64_t)(uint32_t)ia << 32 | (uint32_t)ib;
  size_t h = (size_t)((key * 0x9E3779B97F4A7C15ull) >> 20) & bpe->merge_mask;
  while (bpe->merges[h].key != TF_BPE_NO_PAIR && bpe->merges[h].key != key)
    h = (h + 1) & bpe->merge_mask;
  bpe->merges[h] = (struct tf_bpe_merge){key, (int32_t)rank, id}; /* a repeat: the later rank */
  return TF_OK;
}

static int load_merges(struct loader *L, json_t *merges) {
  if (!json_is_array(merges)) return fail(L, "model: merges must be an array%s%s", "", "");
  size_t n = json_array_size(merges), slots = 16;
  while (slots < 2 * n + 16) slots *= 2;
  struct tf_bpe *bpe = L->bpe;
  bpe->merges = malloc(slots * sizeof *bpe->merges);
  if (!bpe->merges) return tf_error_set(L->err, TF_ENOMEM, "%s: out of memory", L->name);
  for (size_t i = 0; i < slots; i++) bpe->merges[i].key = TF_BPE_NO_PAIR;
  bpe->merge_mask = slots - 1;
  for (size_t i = 0; i < n; i++) {
    json_t *m = json_array_get(merges, i);
    const char *s = json_string_value(m), *sp = s ? strchr(s, ' ') : NULL;
    int rc;
    if (i > 0 && json_is_string(m) != json_is_string(json_array_get(merges, 0)))
      return fail(L, "model: merges mix \"a b\" strings and [a, b] pairs%s%s", "", "");
    if (sp && json_string_length(m) == strlen(s) && !strchr(sp + 1, ' '))
      rc = add_merge(L, i, s, (size_t)(sp - s), sp + 1, strlen(sp + 1));
    else if (json_is_array(m) && json_array_size(m) == 2 && json_is_string(json_array_get(m, 0)) &&
             json_is_string(json_array_get(m, 1)))
      rc = add_merge(
          L, i, json_string_value(json_array_get(m, 0)), json_string_length(json_array_get(m, 0)),
          json_string_value(json_array_get(m, 1)), json_string_length(json_array_get(m, 1)));
    else {
      char what[64];
      snprintf(what, sizeof what, "merge %zu", i);
      rc = fail(L, "%s is not \"a b\" nor [a, b]%s", what, "");
    }
    if (rc) return rc;
  }
  return TF_OK;
}

/* Adds the token id with bytes s (n) to trie tr. */
static int trie_add(struct tf_bpe_trie *tr, const uint8_t *s, size_t n, int32_t id) {
  if (!tr->node) {
    tr->cap = 64;
    if (!(tr->node = malloc((size_t)tr->cap * sizeof *tr->node))) return TF_ENOMEM;
    tr->node[0] = (struct tf_bpe_trie_node){-1, -1, -1, 0};
    tr->n = 1;
  }
  if (!tr->first[s[0]]) tr->n_first++, tr->only = s[0];
  tr->first[s[0]] = 1;
  int32_t at = 0;
  for (size_t i = 0; i < n; i++) {
    int32_t c = tr->node[at].child;
    while (c >= 0 && tr->node[c].byte != s[i]) c = tr->node[c].sibling;
    if (c < 0) {
      if (tr->n == tr->cap) {
        void *p = realloc(tr->node, (size_t)tr->cap * 2 * sizeof *tr->node);
        if (!p) return TF_ENOMEM;
        tr->node = p;
        tr->cap *= 2;
      }
      c = tr->n++;
      tr->node[c] = (struct tf_bpe_trie_node){-1, tr->node[at].child, -1, s[i]};
      tr->node[at].child = c;
    }
    at = c;
  }
  if (tr->node[at].id < 0) tr->node[at].id = id;
  return TF_OK;
}

/* The trie entry of added token content s: NFC-normalized first when it is matched after
 * normalization (as the library builds its pattern). */
static int add_to_trie(struct loader *L, const char *s, int normalized, int32_t id) {
  struct tf_bpe *bpe = L->bpe;
  uint8_t *nfc = NULL;
  const uint8_t *p = (const uint8_t *)s;
  utf8proc_ssize_t n = (utf8proc_ssize_t)strlen(s);
  if (normalized && bpe->nfc) {
    n = utf8proc_map(p, n, &nfc, UTF8PROC_STABLE | UTF8PROC_COMPOSE);
    if (n < 0) return fail(L, "added token \"%s\": %s", s, utf8proc_errmsg(n));
    p = nfc;
  }
  int rc = n > 0 ? trie_add(normalized ? &bpe->norm_trie : &bpe->raw_trie, p, (size_t)n, id) : 0;
  free(nfc);
  if (rc) return tf_error_set(L->err, TF_ENOMEM, "%s: out of memory", L->name);
  return TF_OK;
}

/* One added token: its flags, the id the library gives it (that of the vocab's token of the
 * same content, else the next free one), its bytes and trie entry. */
static int load_added_one(struct loader *L, json_t *a, int32_t *next_id) {
  static const char *const keys[] = {"id",     "content",    "single_word", "lstrip",
                                     "rstrip", "normalized", "special",     NULL};
  const char *s = json_string_value(json_object_get(a, "content"));
  if (!s || !*s || json_string_length(json_object_get(a, "content")) != strlen(s))
    return fail(L, "added_tokens: content must be a non-empty string%s%s", "", "");
  char where[200];
  snprintf(where, sizeof where, "added token \"%.100s\": ", s);
  int rc = only_keys(L, a, keys, where), special = 0, normalized = 0, unused = 0;
  const char *const unset[] = {"single_word", "lstrip", "rstrip"};
  for (size_t i = 0; !rc && i < 3; i++) rc = must_be_unset(L, a, unset[i], where);
  if (!rc) rc = check_bool(L, a, "special", 0, &special, where);
  if (!rc) rc = check_bool(L, a, "normalized", !special, &normalized, where);
  if (!rc) rc = check_bool(L, a, "single_word", 0, &unused, where);
  if (rc) return rc;
  int32_t id = (int32_t)json_integer_value(json_object_get(a, "id"));
  json_t *in_vocab = json_object_get(L->vocab, s);
  int32_t want = in_vocab ? (int32_t)json_integer_value(in_vocab) : *next_id;
  if (!in_vocab && L->owner[id] && strcmp(L->owner[id], s) == 0)
    return fail(L, "%sappears twice in added_tokens%s", where, "");
  if (id != want) {
    char ids[64];
    snprintf(ids, sizeof ids, "id %d where the Hugging Face library gives %d", id, want);
    return fail(L, "%s%s", where, ids);
  }
  if ((rc = set_token(L, id, s))) return rc;
  if (id >= *next_id) *next_id = id + 1;
  L->bpe->special[id] = (uint8_t)special;
  if (strcmp(s, "<|endoftext|>") == 0) L->bpe->eos = id;
  return add_to_trie(L, s, normalized, id);
}

static int load_added(struct loader *L, json_t *added) {
  size_t i;
  json_t *a;
  int32_t next_id = (int32_t)json_object_size(L->vocab);
  json_array_foreach(added, i, a) {
    int rc = load_added_one(L, a, &next_id);
    if (rc) return rc;
  }
  return TF_OK;
}

static int load_all(struct loader *L) {
  json_t *added = json_object_get(L->root, "added_tokens"),
         *model = json_object_get(L->root, "model");
  if (!added)
    added = json_array();
  else
    json_incref(added);
  int rc = json_is_array(added) ? TF_OK : fail(L, "added_tokens must be an array%s%s", "", "");
  if (!rc) rc = load_pipeline(L);
  if (!rc) rc = load_vocab(L, model);
  if (!rc) rc = size_ids(L, added);
  if (!rc) rc = fill_vocab(L);
  if (!rc) rc = load_merges(L, json_object_get(model, "merges"));
  if (!rc) {
    json_t *v = json_object_get(L->vocab, "<|endoftext|>");
    L->bpe->eos = v ? (int32_t)json_integer_value(v) : -1;
    rc = load_added(L, added);
  }
  json_decref(added);
  return rc;
}

int tf_bpe_load(struct tf_bpe **out, const char *json, size_t len, const char *name,
                struct tf_error *err) {
  *out = NULL;
  json_error_t jerr;
  struct loader L = {.name = name, .err = err};
  L.root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
  if (!L.root)
    return tf_error_set(err, TF_EDATA, "%s: line %d column %d: %s", name, jerr.line, jerr.column,
                        jerr.text);
  if (!json_is_object(L.root)) {
    json_decref(L.root);
    return tf_error_set(err, TF_EDATA, "%s: not a tokenizer.json (the top is not an object)", name);
  }
  L.bpe = calloc(1, sizeof *L.bpe);
  int rc = L.bpe ? TF_OK : tf_error_set(err, TF_ENOMEM, "%s: out of memory", name);
  if (!rc) {
    L.bpe->eos = -1;
    pthread_mutex_init(&L.bpe->cache_lock, NULL);
    if (pthread_key_create(&L.bpe->cache_key, tf_bpe_cache_release))
      rc = tf_error_set(err, TF_ENOMEM, "%s: no thread key left for the tokenizer cache", name);
    else
      L.bpe->cache_key_made = 1;
  }
  if (!rc) rc = load_all(&L);
  if (!rc) rc = tf_pretok_compile(L.bpe, err);
  free(L.owner);
  json_decref(L.root);
  if (rc) {
    tf_bpe_free(L.bpe);
    return rc;
  }
  *out = L.bpe;
  return TF_OK;
}

void tf_bpe_free(struct tf_bpe *bpe) {
  if (!bpe) return;
  for (struct tf_bpe_cache *c = bpe->caches, *next; c; c = next) {
    next = tf_bpe_cache_next(c);
    tf_bpe_cache_free(c);
  }
  if (bpe->cache_key_made) pthread_key_delete(bpe->cache_key);
  pthread_mutex_destroy(&bpe->cache_lock);
  pcre2_code_free(bpe->re);
  free(bpe->tok_off);
  free(bpe->tok_len);
  free(bpe->tok_pool);
  free(bpe->special);
  free(bpe->merges);
  free(bpe->raw_trie.node);
  free(bpe->norm_trie.node);
  free(bpe);
}
