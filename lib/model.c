/* model.c: the parameter table of a config, one block with named views, initialization,
 * parameter and FLOP counts. No forward/backward math here (net.c), no file format (ckpt.c). */
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>
#include <math.h>

#include "model_internal.h"
#include "quant.h"
#include "optim.h"
#include "rng.h"

static const char *const slot_module[TF_NSLOTS] = {"attention.query", "attention.key",
                                                   "attention.value", "attention.proj", "mlp"};

enum tf_kind tf_slot_kind(enum tf_slot s) {
  if (s == TF_SLOT_PROJ) return TF_KIND_PROJ;
  if (s == TF_SLOT_FFN) return TF_KIND_FFN;
  return TF_KIND_QKV;
}

int tf_model_n_tensors(const struct tf_model_config *c) {
  return 1 + c->n_layers * TF_NSLOTS * 2 + 2;
}

static struct tf_tensor *add_tensor(struct tf_tensor *t, size_t *offset, const char *name,
                                    int64_t rows, int64_t cols) {
  memset(t, 0, sizeof *t);
  snprintf(t->name, sizeof t->name, "%s", name);
  t->rows = rows;
  t->cols = cols;
  t->numel = (size_t)rows * (size_t)(cols ? cols : 1);
  t->offset = *offset;
  t->decay = 1;
  t->layer = -1;
  t->slot = -1;
  *offset += t->numel;
  return t;
}

/* Block order: embed.weight, then per layer and slot the key then the value tokens, then the
 * final norm. Decayed tensors come first, so the undecayed ones are one tail. */
void tf_model_tensor_table(const struct tf_model_config *c, struct tf_tensor *out) {
  size_t off = 0;
  int i = 0;
  add_tensor(&out[i++], &off, "embed.weight", c->vocab_size, c->d_model);
  for (int l = 0; l < c->n_layers; l++) {
    for (int s = 0; s < TF_NSLOTS; s++) {
      int n = c->tokens[tf_slot_kind((enum tf_slot)s)];
      for (int is_key = 1; is_key >= 0; is_key--) {
        char name[TF_NAME_MAX];
        snprintf(name, sizeof name, "layers.%d.%s.%s_param_tokens", l, slot_module[s],
                 is_key ? "key" : "value");
        struct tf_tensor *t = add_tensor(&out[i++], &off, name, n, c->d_model);
        t->layer = l;
        t->slot = s;
        t->is_key = is_key;
      }
    }
  }
  add_tensor(&out[i++], &off, "final_norm.weight", c->d_model, 0)->decay = 0;
  add_tensor(&out[i++], &off, "final_norm.bias", c->d_model, 0)->decay = 0;
}

int tf_view_point(struct tf_view *v, float *block, const struct tf_model_config *c,
                  struct tf_error *err) {
  size_t off = 0, d = (size_t)c->d_model;
  v->layer = calloc((size_t)c->n_layers, sizeof *v->layer);
  if (!v->layer) return tf_error_set(err, TF_ENOMEM, "out of memory for %d layers", c->n_layers);
  v->embed = block;
  off += (size_t)c->vocab_size * d;
  for (int l = 0; l < c->n_layers; l++) {
    for (int s = 0; s < TF_NSLOTS; s++) {
      size_t n = (size_t)c->tokens[tf_slot_kind((enum tf_slot)s)];
      v->layer[l][s].key = block + off;
      off += n * d;
      v->layer[l][s].value = block + off;
      off += n * d;
    }
  }
  v->final_norm_weight = block + off;
  v->final_norm_bias = block + off + d;
  return TF_OK;
}

void tf_view_free(struct tf_view *v) {
  free(v->layer);
  memset(v, 0, sizeof *v);
}

int tf_train_state_set_ranks(struct tf_train_state *s, int n_ranks, struct tf_error *err) {
  if (n_ranks < 1 || n_ranks > TF_MAX_RANKS)
    return tf_error_set(err, TF_EUSAGE, "%d ranks: expected 1 to %d", n_ranks, TF_MAX_RANKS);
  int64_t *c = realloc(s->cursor, (size_t)n_ranks * sizeof *c);
  if (!c) return tf_error_set(err, TF_ENOMEM, "out of memory for %d ranks", n_ranks);
  for (int r = s->cursor ? s->n_ranks : 0; r < n_ranks; r++) c[r] = 0;
  s->cursor = c;
  s->n_ranks = n_ranks;
  return TF_OK;
}

/* docs/model.md §3.2 term by term: V d; per layer 2 n d for each Pattention of a kind; 2 d. */
void tf_param_count_by_group(const struct tf_model_config *c, uint64_t out[TF_NGROUPS]) {
  uint64_t d = (uint64_t)c->d_model, L = (uint64_t)c->n_layers;
  memset(out, 0, TF_NGROUPS * sizeof *out);
  out[TF_GROUP_EMBED] = (uint64_t)c->vocab_size * d;
  for (int s = 0; s < TF_NSLOTS; s++) {
    enum tf_kind k = tf_slot_kind((enum tf_slot)s);
    out[TF_GROUP_QKV + k] += L * 2 * (uint64_t)c->tokens[k] * d;
  }
  out[TF_GROUP_NORM] = 2 * d;
}

uint64_t tf_param_count(const struct tf_model_config *c) {
  uint64_t by_group[TF_NGROUPS], n = 0;
  tf_param_count_by_group(c, by_group);
  for (int g = 0; g < TF_NGROUPS; g++) n += by_group[g];
  return n;
}

double tf_forward_flops_per_token(const struct tf_model_config *c) {
  double d = c->d_model, L = c->n_layers;
  double n_nonemb = (double)tf_param_count(c) - (double)c->vocab_size * d - 2 * d;
  return 2 * n_nonemb + 2 * L * c->seq_len * d + 2.0 * c->vocab_size * d;
}

double tf_machine_bytes(void) {
  long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
  double have = pages > 0 && page > 0 ? (double)pages * (double)page : 0;
  struct rlimit lim; /* ulimit -v: the process cannot map more than that */
  if (getrlimit(RLIMIT_AS, &lim) == 0 && lim.rlim_cur != RLIM_INFINITY &&
      (have == 0 || (double)lim.rlim_cur < have))
    have = (double)lim.rlim_cur;
  return have;
}

int tf_mem_check(const struct tf_mem_need *need, const char *what, struct tf_error *err) {
  const double part[] = {need->params, need->grads, need->optimizer, need->acts, need->cache};
  const char *name[] = {"parameters", "gradients", "AdamW moments", "activations", "KV cache"};
  double total = 0, have = tf_machine_bytes(), gib = 1 << 30;
  for (int i = 0; i < 5; i++) total += part[i];
  if (have == 0 || total <= have) return TF_OK;
  char parts[256] = "";
  for (int i = 0; i < 5; i++)
    if (part[i] > 0)
      snprintf(parts + strlen(parts), sizeof parts - strlen(parts), "%s%s %.3g GiB",
               parts[0] ? ", " : "", name[i], part[i] / gib);
  return tf_error_set(err, TF_ENOMEM,
                      "%s: needs %.3g GiB in all (%s), held at once; the machine has %.3g GiB",
                      what, total / gib, parts, have / gib);
}

/* Refuses a block whose size overflows or (when it is allocated) exceeds memory (tf_mem_check),
 * naming the figures. */
static int check_block_size(const struct tf_model_config *c, int block, size_t *n_floats,
                            struct tf_error *err) {
  uint64_t n = tf_param_count(c);
  if (n > (uint64_t)SIZE_MAX / sizeof(float) / 4)
    return tf_error_set(err, TF_ENOMEM, "model needs %llu parameters: too large",
                        (unsigned long long)n);
  int rc = TF_OK;
  if (block) {
    struct tf_mem_need need = {.params = (double)n * sizeof(float)};
    char what[64];
    snprintf(what, sizeof what, "a model of %llu parameters", (unsigned long long)n);
    rc = tf_mem_check(&need, what, err);
  }
  if (!rc) *n_floats = (size_t)n;
  return rc;
}

/* tf_model_create, or with block 0 tf_model_create_shell: no parameter block, no views. */
static int model_create(struct tf_model *m, const struct tf_model_config *c, int block,
                        struct tf_error *err) {
  memset(m, 0, sizeof *m);
  m->cfg = *c;
  for (int k = 0; k < TF_NKINDS; k++)
    m->cfg.ref_tokens[k] = tf_model_config_ref_tokens(c, (enum tf_kind)k);
  int rc = check_block_size(&m->cfg, block, &m->n_params, err);
  if (rc) return rc;
  m->n_tensors = tf_model_n_tensors(&m->cfg);
  m->tensors = calloc((size_t)m->n_tensors, sizeof *m->tensors);
  /* Not on huge pages (tf_stream_alloc): where the kernel must compact memory to find them,
   * faulting in 600 MB took seconds (tf-convert's import 1.6 -> 8 s, tf-generate's start
   * 0.7 -> 8 s on a host up for hours) and raised the import's peak memory to 1.43x. */
  if (block) m->params = calloc(m->n_params, sizeof(float));
  m->w = calloc(1, sizeof *m->w);
  m->train.rng = calloc(1, sizeof *m->train.rng);
  m->train.opt = calloc(1, sizeof *m->train.opt);
  m->history = strdup("[]");
  if (!m->tensors || (block && !m->params) || !m->w || !m->train.rng || !m->train.opt ||
      !m->history || tf_tokenizer_bytes(&m->tok, NULL)) {
    size_t n = m->n_params; /* tf_model_free clears it */
    tf_model_free(m);
    return tf_error_set(err, TF_ENOMEM, "out of memory allocating %zu parameters", n);
  }
  tf_model_tensor_table(&m->cfg, m->tensors);
  rc = block ? tf_view_point(m->w, m->params, &m->cfg, err) : TF_OK;
  if (rc) tf_model_free(m);
  return rc;
}

int tf_model_create(struct tf_model *m, const struct tf_model_config *c, struct tf_error *err) {
  return model_create(m, c, 1, err);
}

int tf_model_create_shell(struct tf_model *m, const struct tf_model_config *c,
                          struct tf_error *err) {
  return model_create(m, c, 0, err);
}

double tf_init_value_std(const struct tf_model_config *c, const struct tf_init_config *ic) {
  return ic->value_std > 0 ? ic->value_std : 2.0 / (c->n_layers * sqrt(c->d_model));
}

double tf_init_key_std(const struct tf_init_config *ic) {
  return ic->key_std > 0 ? ic->key_std : ic->std;
}

/* docs/model.md §4: keys and embedding N(0, std) (keys N(0, key_std) when set); values N(0,
 * value_std), value_std = 2 / (L sqrt d) unless set; final norm weight 1, bias 0. One RNG stream in
 * block order. */
void tf_model_init(struct tf_model *m, const struct tf_init_config *ic) {
  const struct tf_model_config *c = &m->cfg;
  double vstd = tf_init_value_std(c, ic), kstd = tf_init_key_std(ic);
  struct tf_rng rng;
  tf_rng_seed(&rng, ic->seed);
  for (int i = 0; i < m->n_tensors; i++) {
    const struct tf_tensor *t = &m->tensors[i];
    float *p = m->params + t->offset;
    if (!t->decay) {
      float fill = strcmp(t->name, "final_norm.weight") == 0 ? 1.0f : 0.0f;
      for (size_t j = 0; j < t->numel; j++) p[j] = fill;
      continue;
    }
    double std = t->slot < 0 ? ic->std : t->is_key ? kstd : vstd;
    for (size_t j = 0; j < t->numel; j++) p[j] = (float)(std * tf_rng_normal(&rng));
  }
}

int tf_model_take_tokenizer(struct tf_model *m, struct tf_tokenizer *t, int code,
                            struct tf_error *err) {
  /* byte models may be smaller than 256 ids (test models): tf_tok_bytes_check refuses them
   * where text goes in; a BPE's ids must all fit */
  int n_ids = tf_tokenizer_n_ids(t);
  if (tf_tokenizer_kind(t) == TF_TOK_BPE && m->cfg.vocab_size < n_ids) {
    tf_error_set(err, code, "vocab_size %d is smaller than the tokenizer's %d ids (%s)",
                 m->cfg.vocab_size, n_ids, tf_tokenizer_kind_name(t));
    tf_tokenizer_free(t);
    return code;
  }
  tf_tokenizer_free(m->tok);
  m->tok = t;
  return TF_OK;
}

int tf_model_set_tokenizer(struct tf_model *m, const struct tf_tokenizer *t, struct tf_error *err) {
  struct tf_tokenizer *copy;
  int rc = tf_tokenizer_copy(&copy, t, err);
  return rc ? rc : tf_model_take_tokenizer(m, copy, TF_ECONFIG, err);
}

void tf_model_free(struct tf_model *m) {
  if (m->train.opt) tf_adamw_free(m->train.opt);
  free(m->train.opt);
  free(m->train.rng);
  free(m->train.cursor);
  if (m->w) tf_view_free(m->w);
  free(m->w);
  free(m->tensors);
  free(m->params);
  tf_qweights_free(m->qw);
  free(m->history);
  tf_tokenizer_free(m->tok);
  memset(m, 0, sizeof *m);
}
