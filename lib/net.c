/* net.c: the whole network of docs/model.md §2.1, forward and backward, over the kernels of
 * kernels.h, and the activation buffers it runs in. Parameters and their layout are model.c's. */
#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kernels.h"
#include "model_internal.h"
#include "net.h"

/* Every buffer starts on a 64-byte boundary (a cache line, an AVX-512 register). */
#define ALIGN_FLOATS 16

/* Hands out consecutive pieces of one block; with base NULL it only counts (and notices
 * overflow), so the same layout code sizes the block and then points into it. */
struct carve {
  float *base;
  size_t used;
  int overflow;
};

static float *take(struct carve *cv, size_t a, size_t b) {
  size_t n, end, start = (cv->used + ALIGN_FLOATS - 1) / ALIGN_FLOATS * ALIGN_FLOATS;
  if (__builtin_mul_overflow(a, b, &n) || __builtin_add_overflow(start, n, &end)) {
    cv->overflow = 1;
    return NULL;
  }
  cv->used = end;
  return cv->base ? cv->base + start : NULL;
}

/* p rounded up to the next 64-byte boundary (calloc gives 16: at most 12 floats on). */
static float *align_up(float *p) {
  uintptr_t a = (uintptr_t)p, m = ALIGN_FLOATS * sizeof(float);
  return (float *)((a + m - 1) / m * m);
}

static int n_tokens(const struct tf_model_config *c, int slot) {
  return c->tokens[tf_slot_kind(slot)];
}

/* Every buffer of struct tf_acts, in one order, for R = B*T rows. */
static void acts_layout(struct tf_acts *a, struct carve *cv, const struct tf_model_config *c) {
  size_t B = a->B, T = a->T, R = B * T, d = c->d_model, H = c->n_heads;
  size_t half = (size_t)tf_model_config_rotary_dims(c) / 2;
  for (int l = 0; l < a->L; l++) {
    struct tf_layer_acts *la = &a->layer[l];
    la->h = take(cv, R, d);
    la->rstd1 = take(cv, R, 1);
    for (int s = 0; s < TF_NSLOTS; s++) {
      la->p[s].cache = take(cv, R, tf_pattn_row_stride(n_tokens(c, s)));
      la->p[s].rnorm = take(cv, R, 1);
    }
    la->q = take(cv, R, d);
    la->k = take(cv, R, d);
    la->v = take(cv, R, d);
    la->lse = take(cv, B * H, T);
    la->a = take(cv, R, d);
    la->h2 = take(cv, R, d);
    la->rstd2 = take(cv, R, 1);
  }
  a->x = take(cv, R, d);
  a->y = take(cv, R, d);
  a->mean = take(cv, R, 1);
  a->rstd = take(cv, R, 1);
  a->logits = take(cv, R, c->vocab_size);
  a->losses = take(cv, R, 1);
  a->lse = take(cv, R, 1);
  a->rope_cos = take(cv, T, half);
  a->rope_sin = take(cv, T, half);
  a->pattn_scratch = take(cv, 2 * R, tf_pattn_ld_max(c));
  /* one attention slot per thread there can be now (fewer run if threads grow later) */
  int threads = omp_get_max_threads();
  a->att_slots = (size_t)threads < B * H ? threads : (int)(B * H);
  a->att_scratch = take(cv, (size_t)a->att_slots, tf_attn_scratch_floats((int)T, (int)(d / H)));
  float **grads[] = {&a->dres, &a->dh, &a->dq, &a->dk, &a->dv, &a->da};
  for (size_t i = 0; i < sizeof grads / sizeof *grads; i++) *grads[i] = take(cv, R, d);
}

int tf_acts_init(struct tf_acts *a, const struct tf_model_config *c, int B, int T,
                 struct tf_error *err) {
  memset(a, 0, sizeof *a);
  if (B < 1 || T < 1 || (long long)B * T > 0x7fffffff)
    return tf_error_set(err, TF_ENOMEM,
                        "activations: batch %d x length %d is %lld positions, the limit is "
                        "2^31 - 1",
                        B, T, (long long)B * T);
  *a = (struct tf_acts){.B = B, .T = T, .L = c->n_layers};
  a->layer = calloc(c->n_layers > 0 ? c->n_layers : 1, sizeof *a->layer);
  if (!a->layer) return tf_error_set(err, TF_ENOMEM, "activations: out of memory");
  struct carve cv = {0};
  acts_layout(a, &cv, c); /* sizes only: nothing else is allocated before the check */
  double bytes = (double)cv.used * sizeof(float) + 2.0 * B * T * sizeof(int32_t);
  /* the model they run is in memory too: counted with them */
  struct tf_mem_need need = {.params = (double)tf_param_count(c) * sizeof(float), .acts = bytes};
  char what[96];
  snprintf(what, sizeof what, "activations for batch %d x length %d", B, T);
  if (cv.overflow) {
    tf_acts_release(a);
    return tf_error_set(err, TF_ENOMEM, "%s need more than 2^64 bytes; the machine has %.3g GiB",
                        what, tf_machine_bytes() / (1 << 30));
  }
  int rc = tf_mem_check(&need, what, err);
  if (rc) {
    tf_acts_release(a);
    return rc;
  }
  a->inputs = calloc(2 * (size_t)B * T, sizeof *a->inputs);
  a->targets = a->inputs ? a->inputs + (size_t)B * T : NULL;
  a->mem = calloc(cv.used + ALIGN_FLOATS, sizeof(float)); /* zeroed lazily by the kernel */
  if (!a->inputs || !a->mem) {
    tf_acts_release(a);
    return tf_error_set(err, TF_ENOMEM,
                        "activations for batch %d x length %d: cannot allocate "
                        "%.3g GiB",
                        B, T, bytes / (1 << 30));
  }
  a->n_floats = cv.used;
  cv = (struct carve){.base = align_up(a->mem)};
  acts_layout(a, &cv, c);
  tf_rope_table(a->rope_cos, a->rope_sin, T, tf_model_config_rotary_dims(c), c->rotary_base);
  return TF_OK;
}

double tf_acts_bytes(const struct tf_model_config *c, int B, int T) {
  struct tf_acts a = {.B = B, .T = T, .L = c->n_layers};
  struct carve cv = {0};
  if (B < 1 || T < 1 || (long long)B * T > 0x7fffffff) return INFINITY;
  if (!(a.layer = calloc(c->n_layers > 0 ? c->n_layers : 1, sizeof *a.layer))) return INFINITY;
  acts_layout(&a, &cv, c);
  free(a.layer);
  return cv.overflow ? INFINITY : (double)cv.used * sizeof(float) + 2.0 * B * T * sizeof(int32_t);
}

/* 1 when the activations of batch B x length T fit in memory beside the parameters of c. */
static int acts_fit(const struct tf_model_config *c, int B, int T) {
  struct tf_mem_need need = {.params = (double)tf_param_count(c) * sizeof(float),
                             .acts = tf_acts_bytes(c, B, T)};
  return isfinite(need.acts) && tf_mem_check(&need, "", NULL) == TF_OK;
}

int tf_acts_fit_batch(const struct tf_model_config *c, int B, int T) {
  if (B < 1 || T < 1 || (long long)B * T > 0x7fffffff) return 0;
  if (acts_fit(c, B, T)) return B;
  int lo = 0, hi = B; /* acts_fit(lo) (or lo == 0), !acts_fit(hi): activations grow with B */
  while (hi - lo > 1) {
    int mid = lo + (hi - lo) / 2;
    if (acts_fit(c, mid, T))
      lo = mid;
    else
      hi = mid;
  }
  return lo;
}

void tf_acts_release(struct tf_acts *a) {
  free(a->layer);
  free(a->inputs);
  free(a->mem);
  memset(a, 0, sizeof *a);
}

int tf_acts_create(struct tf_acts **a, const struct tf_model_config *c, int B, int T,
                   struct tf_error *err) {
  *a = calloc(1, sizeof **a);
  if (!*a) return tf_error_set(err, TF_ENOMEM, "out of memory");
  int rc = tf_acts_init(*a, c, B, T, err);
  if (rc) free(*a), *a = NULL;
  return rc;
}

void tf_acts_free(struct tf_acts *a) {
  if (a) tf_acts_release(a);
  free(a);
}

/* The shape of Pattention `slot` over R rows: tau = sqrt(n_ref), n_ref as the config says
 * (equal to n unless the model was grown). */
static struct tf_pattn_shape slot_shape(const struct tf_model_config *c, int slot, int R) {
  int k = tf_slot_kind(slot), n = c->tokens[k];
  return (struct tf_pattn_shape){.rows = R,
                                 .n = n,
                                 .n_ref = tf_model_config_ref_tokens(c, k),
                                 .d_in = c->d_model,
                                 .d_out = c->d_model,
                                 .norm = c->norm,
                                 .ld = tf_pattn_row_stride(n)};
}

static void pattn_forward(const struct tf_model *m, struct tf_acts *a, int l, int slot, int R,
                          const float *x, float *out, float beta) {
  struct tf_pattn_shape s = slot_shape(&m->cfg, slot, R);
  const struct tf_pattn_view *w = &m->w->layer[l][slot];
  struct tf_pattn_acts *pa = &a->layer[l].p[slot];
  tf_pattn_forward(&s, out, beta, pa->cache, pa->rnorm, a->pattn_scratch, x, w->key, w->value);
}

static void pattn_backward(const struct tf_model *m, struct tf_acts *a, const struct tf_view *g,
                           int l, int slot, int R, const float *x, const float *dout, float *dx,
                           float beta_dx) {
  struct tf_pattn_shape s = slot_shape(&m->cfg, slot, R);
  const struct tf_pattn_view *w = &m->w->layer[l][slot], *gw = &g->layer[l][slot];
  const struct tf_pattn_acts *pa = &a->layer[l].p[slot];
  tf_pattn_backward(&s, dx, beta_dx, gw->key, gw->value, a->pattn_scratch, dout, pa->cache,
                    pa->rnorm, x, w->key, w->value);
}

/* One layer:  h = LN0(x);  q, k, v = Pattentions of h;  RoPE on q, k;  a = attention;
 * x += Pattention_proj(a);  h2 = LN0(x);  x += Pattention_ffn(h2). */
static void layer_forward(const struct tf_model *m, struct tf_acts *a, int l, int B, int T) {
  const struct tf_model_config *c = &m->cfg;
  struct tf_layer_acts *la = &a->layer[l];
  int R = B * T, d = c->d_model, H = c->n_heads, dh = d / H;
  int r = tf_model_config_rotary_dims(c);
  tf_layernorm_forward(la->h, la->rstd1, a->x, R, d);
  pattn_forward(m, a, l, TF_SLOT_Q, R, la->h, la->q, 0.0f);
  pattn_forward(m, a, l, TF_SLOT_K, R, la->h, la->k, 0.0f);
  pattn_forward(m, a, l, TF_SLOT_V, R, la->h, la->v, 0.0f);
  if (r > 0) {
    tf_rope_forward(la->q, a->rope_cos, a->rope_sin, B, T, H, dh, r);
    tf_rope_forward(la->k, a->rope_cos, a->rope_sin, B, T, H, dh, r);
  }
  tf_attn_forward(la->a, la->lse, a->att_scratch, a->att_slots, la->q, la->k, la->v, B, T, H, dh);
  pattn_forward(m, a, l, TF_SLOT_PROJ, R, la->a, a->x, 1.0f);
  tf_layernorm_forward(la->h2, la->rstd2, a->x, R, d);
  pattn_forward(m, a, l, TF_SLOT_FFN, R, la->h2, a->x, 1.0f);
}

float tf_net_forward(const struct tf_model *m, struct tf_acts *a, const int32_t *inputs,
                     const int32_t *targets, int B, int T) {
  const struct tf_model_config *c = &m->cfg;
  if (B < 1 || T < 1 || B > a->B || T > a->T) return NAN;
  int R = B * T, d = c->d_model, V = c->vocab_size;
  a->cur_B = B;
  a->cur_T = T;
  a->has_targets = targets != NULL;
  memcpy(a->inputs, inputs, (size_t)R * sizeof *inputs);
  if (targets) memcpy(a->targets, targets, (size_t)R * sizeof *targets);
  tf_embed_forward(a->x, a->inputs, m->w->embed, R, d);
  for (int l = 0; l < c->n_layers; l++) layer_forward(m, a, l, B, T);
  tf_layernorm_affine_forward(a->y, a->mean, a->rstd, a->x, m->w->final_norm_weight,
                              m->w->final_norm_bias, R, d);
  tf_head_forward(a->logits, a->y, m->w->embed, R, V, d);
  if (!targets) return 0.0f;
  return tf_crossentropy_forward(a->losses, a->lse, a->logits, a->targets, R, V);
}

/* One layer backward; a->dres holds the gradient of the layer's output residual on entry and
 * of its input residual on return. */
static void layer_backward(const struct tf_model *m, struct tf_acts *a, const struct tf_view *g,
                           int l, int B, int T) {
  const struct tf_model_config *c = &m->cfg;
  struct tf_layer_acts *la = &a->layer[l];
  int R = B * T, d = c->d_model, H = c->n_heads, dh = d / H;
  int r = tf_model_config_rotary_dims(c);
  pattn_backward(m, a, g, l, TF_SLOT_FFN, R, la->h2, a->dres, a->dh, 0.0f);
  tf_layernorm_backward(a->dres, a->dh, la->h2, la->rstd2, R, d);
  pattn_backward(m, a, g, l, TF_SLOT_PROJ, R, la->a, a->dres, a->da, 0.0f);
  tf_attn_backward(a->dq, a->dk, a->dv, a->att_scratch, a->att_slots, a->da, la->a, la->lse, la->q,
                   la->k, la->v, B, T, H, dh);
  if (r > 0) {
    tf_rope_backward(a->dq, a->rope_cos, a->rope_sin, B, T, H, dh, r);
    tf_rope_backward(a->dk, a->rope_cos, a->rope_sin, B, T, H, dh, r);
  }
  pattn_backward(m, a, g, l, TF_SLOT_Q, R, la->h, a->dq, a->dh, 0.0f);
  pattn_backward(m, a, g, l, TF_SLOT_K, R, la->h, a->dk, a->dh, 1.0f);
  pattn_backward(m, a, g, l, TF_SLOT_V, R, la->h, a->dv, a->dh, 1.0f);
  tf_layernorm_backward(a->dres, a->dh, la->h, la->rstd1, R, d);
}

void tf_net_backward(const struct tf_model *m, struct tf_acts *a, const struct tf_view *g) {
  const struct tf_model_config *c = &m->cfg;
  if (!a->has_targets) return;
  int B = a->cur_B, T = a->cur_T, R = B * T, d = c->d_model, V = c->vocab_size;
  tf_crossentropy_backward(a->logits, a->logits, a->lse, a->targets, 1.0f / R, R, V);
  tf_head_backward(a->dh, g->embed, a->logits, a->y, m->w->embed, R, V, d);
  memset(a->dres, 0, (size_t)R * d * sizeof *a->dres);
  tf_layernorm_affine_backward(a->dres, g->final_norm_weight, g->final_norm_bias, a->dh, a->x,
                               a->mean, a->rstd, m->w->final_norm_weight, R, d);
  for (int l = c->n_layers - 1; l >= 0; l--) layer_backward(m, a, g, l, B, T);
  tf_embed_backward(g->embed, a->inputs, a->dres, R, d);
  a->has_targets = 0; /* the logits are gone: a second backward would be wrong */
}
