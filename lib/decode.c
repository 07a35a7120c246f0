/* decode.c: generation state: a KV cache, the forward of new positions over it (one row
 * through matrix-vector products, or a chunk of rows through the batched kernels) and the
 * sliding window. The whole-sequence network is net.c's; sampling is sample.c's. */
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "gemv.h"
#include "kernels.h"
#include "quant.h"
#include "model_internal.h"

#define DEFAULT_CHUNK 64
/* Parameter tokens per dequantized panel of a batched pass over converted weights: (P, d)
 * floats, 768 KiB at d = 768, within a core's L2 cache. */
#define PANEL 256

/* One buffer of the decoder: where its pointer goes and how many floats it takes. */
struct piece {
  float **ptr;
  size_t a, b; /* a * b floats */
};

/* The decoder's buffers, in allocation order; returns how many. */
static int pieces(struct tf_decoder *dec, struct piece *p) {
  const struct tf_model_config *c = &dec->cfg;
  size_t S = dec->S, C = dec->chunk, d = c->d_model, H = c->n_heads, L = c->n_layers;
  size_t half = (size_t)tf_model_config_rotary_dims(c) / 2, n = tf_model_config_max_tokens(c);
  int i = 0;
  p[i++] = (struct piece){&dec->key_cache, L * S, d};
  p[i++] = (struct piece){&dec->value_cache, L * S, d};
  p[i++] = (struct piece){&dec->logits, c->vocab_size, 1};
  float **rows[] = {&dec->x, &dec->h, &dec->q, &dec->k, &dec->v, &dec->att};
  for (size_t j = 0; j < sizeof rows / sizeof *rows; j++) p[i++] = (struct piece){rows[j], C, d};
  p[i++] = (struct piece){&dec->rstd, C, 1};
  p[i++] = (struct piece){&dec->pcache, C, n};
  p[i++] = (struct piece){&dec->pscratch, C, n};
  p[i++] = (struct piece){&dec->prnorm, C, 1};
  p[i++] = (struct piece){&dec->scores, H * C, S};
  p[i++] = (struct piece){&dec->partial, (size_t)dec->threads, (size_t)tf_qcols((int)d)};
  p[i++] = (struct piece){&dec->qx, tf_qvec_floats(tf_qcols((int)d)), 1};
  p[i++] = (struct piece){&dec->panel, n < PANEL ? n : PANEL, d};
  p[i++] = (struct piece){&dec->rope_cos, S, half};
  p[i++] = (struct piece){&dec->rope_sin, S, half};
  p[i++] = (struct piece){&dec->y, d, 1};
  return i;
}

/* Total floats of the pieces, or 0 on overflow. */
static size_t pieces_size(const struct piece *p, int np) {
  size_t total = 0, n;
  for (int i = 0; i < np; i++)
    if (__builtin_mul_overflow(p[i].a, p[i].b, &n) || __builtin_add_overflow(total, n, &total))
      return 0;
  return total;
}

/* The sizes the buffers and loops rely on (tf_config_check ensures them for configs). */
static int sizes_ok(const struct tf_model_config *c) {
  return c->seq_len >= 1 && c->vocab_size >= 1 && c->n_layers >= 0 && c->n_heads >= 1 &&
         c->d_model >= c->n_heads && c->d_model % c->n_heads == 0 &&
         tf_model_config_max_tokens(c) >= 1;
}

int tf_decoder_create(struct tf_decoder *dec, const struct tf_model_config *c, int chunk,
                      struct tf_error *err) {
  memset(dec, 0, sizeof *dec);
  if (!sizes_ok(c))
    return tf_error_set(err, TF_ECONFIG, "decoder: seq_len %d, d_model %d, n_heads %d: no model",
                        c->seq_len, c->d_model, c->n_heads);
  int rc = tf_weights_kernel_check(err); /* a refused TF_QKERNEL: no decoding */
  if (rc) return rc;
  dec->cfg = *c;
  dec->S = c->seq_len;
  dec->chunk = chunk > 0 ? chunk : DEFAULT_CHUNK;
  if (dec->chunk > dec->S) dec->chunk = dec->S;
  int procs = omp_get_num_procs(), maxt = omp_get_max_threads();
  dec->threads = procs > maxt ? procs : maxt;
  struct piece p[24];
  int np = pieces(dec, p);
  size_t total = pieces_size(p, np);
  /* the cache and buffers beside the model they serve, checked together */
  struct tf_mem_need need = {.params = (double)tf_param_count(c) * sizeof(float),
                             .cache = total ? (double)total * sizeof(float) : INFINITY};
  char what[64];
  snprintf(what, sizeof what, "decoder for %d positions", dec->S);
  rc = tf_mem_check(&need, what, err);
  if (!rc) {
    dec->tokens = calloc((size_t)dec->S, sizeof *dec->tokens);
    dec->mem = calloc(total, sizeof(float));
  }
  if (rc || !dec->tokens || !dec->mem) {
    tf_decoder_free(dec);
    return rc ? rc
              : tf_error_set(err, TF_ENOMEM, "%s: cannot allocate %.3g GiB", what,
                             need.cache / (1 << 30));
  }
  float *at = dec->mem;
  for (int i = 0; i < np; i++) {
    *p[i].ptr = at;
    at += p[i].a * p[i].b;
  }
  tf_rope_table(dec->rope_cos, dec->rope_sin, dec->S, tf_model_config_rotary_dims(c),
                c->rotary_base);
  return TF_OK;
}

void tf_decoder_free(struct tf_decoder *dec) {
  free(dec->tokens);
  free(dec->mem);
  memset(dec, 0, sizeof *dec);
}

/* ---------------------------------------------------------------- one Pattention row */

/* The team for a loop over `work` floats: OpenMP's current thread count, within the
 * buffers; one thread for small work. */
static int team(const struct tf_decoder *dec, size_t work) {
  int t = omp_get_max_threads();
  return !tf_par(work) ? 1 : t < dec->threads ? t : dec->threads;
}

/* pattn below for one row over converted weights: x prepared once, then the same two
 * products through quant.c's kernels. */
static void pattn_row_q(const struct tf_model *m, struct tf_decoder *dec, int l, int slot,
                        const float *x, float *out, float beta) {
  const struct tf_model_config *c = &m->cfg;
  const struct tf_qmat *K = &m->qw->key[l][slot], *V = &m->qw->value[l][slot];
  int kind = tf_slot_kind(slot), n = c->tokens[kind];
  int n_ref = tf_model_config_ref_tokens(c, kind);
  float *a = dec->pcache, *S = a;
  struct tf_qvec v;
  tf_qvec_prepare(&v, dec->qx, x, K);
#pragma omp parallel num_threads(team(dec, (size_t)n * c->d_model))
  {
    tf_qgemv_ws(a, K, &v);
#pragma omp single
    S = tf_pattn_theta_row(c->norm, a, dec->pscratch, dec->prnorm, sqrtf((float)n_ref), n_ref, n);
    tf_qgemv_t_ws(out, beta, S, V, dec->partial);
  }
}

/* Pattention `slot` of layer l on R rows x (R, d): out = Theta(x K^T) V + beta out. One row
 * goes through the two matrix-vector products in one parallel region; more rows through
 * tf_pattn_forward (matrix products). tau = sqrt(n_ref) as in net.c. */
static void pattn(const struct tf_model *m, struct tf_decoder *dec, int l, int slot, int R,
                  const float *x, float *out, float beta) {
  const struct tf_model_config *c = &m->cfg;
  const struct tf_pattn_view *w = m->qw ? NULL : &m->w->layer[l][slot]; /* none when converted */
  int kind = tf_slot_kind(slot), n = c->tokens[kind], d = c->d_model;
  int n_ref = tf_model_config_ref_tokens(c, kind);
  if (R > 1) {
    struct tf_pattn_shape s = {R, n, n_ref, d, d, c->norm, n};
    if (m->qw)
      tf_pattn_forward_q(&s, out, beta, dec->pcache, dec->prnorm, dec->pscratch, x,
                         &m->qw->key[l][slot], &m->qw->value[l][slot], dec->panel, PANEL);
    else
      tf_pattn_forward(&s, out, beta, dec->pcache, dec->prnorm, dec->pscratch, x, w->key, w->value);
    return;
  }
  if (m->qw) {
    pattn_row_q(m, dec, l, slot, x, out, beta);
    return;
  }
  float *a = dec->pcache, *S = a;
  size_t work = (size_t)n * d;
#pragma omp parallel num_threads(team(dec, work))
  {
    tf_gemv_ws(a, w->key, x, n, d);
#pragma omp single
    S = tf_pattn_theta_row(c->norm, a, dec->pscratch, dec->prnorm, sqrtf((float)n_ref), n_ref, n);
    tf_gemv_t_ws(out, beta, S, w->value, n, d, dec->partial);
  }
}

/* ---------------------------------------------------------------- attention over the cache */

/* The layer's cache of head hd: (S, d_h) rows, one per position. */
static float *head_cache(const struct tf_decoder *dec, float *cache, int l, int hd) {
  size_t S = dec->S, H = dec->cfg.n_heads, dh = dec->cfg.d_model / H;
  return cache + ((size_t)l * H + hd) * S * dh;
}

/* Stores the post-RoPE keys and values of R rows at positions p0 .. p0 + R - 1. */
static void cache_store(struct tf_decoder *dec, int l, int R, int p0) {
  int d = dec->cfg.d_model, H = dec->cfg.n_heads, dh = d / H;
  for (int hd = 0; hd < H; hd++) {
    float *kc = head_cache(dec, dec->key_cache, l, hd),
          *vc = head_cache(dec, dec->value_cache, l, hd);
    for (int i = 0; i < R; i++) {
      size_t to = (size_t)(p0 + i) * dh, from = (size_t)i * d + (size_t)hd * dh;
      memcpy(kc + to, dec->k + from, (size_t)dh * sizeof(float));
      memcpy(vc + to, dec->v + from, (size_t)dh * sizeof(float));
    }
  }
}

/* Causal attention of R new rows (row i at position p0 + i) over the cache of layer l, per
 * head:  p_t = softmax_t(<q_i, k_t> / sqrt(d_h)) for t <= p0 + i;  att_i = sum_t p_t v_t. */
static void attend(struct tf_decoder *dec, int l, int R, int p0) {
  int d = dec->cfg.d_model, H = dec->cfg.n_heads, dh = d / H;
  float scale = 1.0f / sqrtf((float)dh);
  size_t work = (size_t)H * R * (p0 + R) * dh;
#pragma omp parallel for schedule(static) num_threads(team(dec, work))
  for (int job = 0; job < H * R; job++) {
    int hd = job / R, i = job % R, n = p0 + i + 1;
    const float *q = dec->q + (size_t)i * d + (size_t)hd * dh;
    const float *kc = head_cache(dec, dec->key_cache, l, hd);
    const float *vc = head_cache(dec, dec->value_cache, l, hd);
    float *p = dec->scores + (size_t)job * dec->S,
          *out = dec->att + (size_t)i * d + (size_t)hd * dh;
    for (int t = 0; t < n; t++) p[t] = scale * tf_dotf(q, kc + (size_t)t * dh, dh);
    tf_softmax_row(p, 1.0f, n);
    memset(out, 0, (size_t)dh * sizeof *out);
    for (int t = 0; t < n; t++) tf_axpyf(out, p[t], vc + (size_t)t * dh, dh);
  }
}

/* ---------------------------------------------------------------- layers and passes */

/* One layer on R rows at positions p0 .. p0 + R - 1, as net.c's layer_forward:
 * h = LN0(x);  q, k, v = Pattentions of h;  RoPE;  cache k, v;  att = attention over the
 * cache;  x += Pattention_proj(att);  h = LN0(x);  x += Pattention_ffn(h). */
static void layer_rows(const struct tf_model *m, struct tf_decoder *dec, int l, int R, int p0) {
  const struct tf_model_config *c = &m->cfg;
  int d = c->d_model, H = c->n_heads, dh = d / H, r = tf_model_config_rotary_dims(c);
  tf_layernorm_forward(dec->h, dec->rstd, dec->x, R, d);
  pattn(m, dec, l, TF_SLOT_Q, R, dec->h, dec->q, 0.0f);
  pattn(m, dec, l, TF_SLOT_K, R, dec->h, dec->k, 0.0f);
  pattn(m, dec, l, TF_SLOT_V, R, dec->h, dec->v, 0.0f);
  if (r > 0) { /* the tables from row p0 on: row i of this pass is position p0 + i */
    size_t at = (size_t)p0 * (r / 2);
    tf_rope_forward(dec->q, dec->rope_cos + at, dec->rope_sin + at, 1, R, H, dh, r);
    tf_rope_forward(dec->k, dec->rope_cos + at, dec->rope_sin + at, 1, R, H, dh, r);
  }
  cache_store(dec, l, R, p0);
  attend(dec, l, R, p0);
  pattn(m, dec, l, TF_SLOT_PROJ, R, dec->att, dec->x, 1.0f);
  tf_layernorm_forward(dec->h, dec->rstd, dec->x, R, d);
  pattn(m, dec, l, TF_SLOT_FFN, R, dec->h, dec->x, 1.0f);
}

/* x = the embeddings of tokens p0 .. p0 + R - 1. */
static void embed(const struct tf_model *m, struct tf_decoder *dec, int p0, int R) {
  int d = m->cfg.d_model;
  if (!m->qw) {
    tf_embed_forward(dec->x, dec->tokens + p0, m->w->embed, R, d);
    return;
  }
  for (int i = 0; i < R; i++)
    tf_qmat_row(dec->x + (size_t)i * d, &m->qw->embed, dec->tokens[p0 + i]);
}

/* logits = y E^T (the tied head). */
static void head(const struct tf_model *m, struct tf_decoder *dec) {
  const struct tf_model_config *c = &m->cfg;
  int d = c->d_model, t = team(dec, (size_t)c->vocab_size * d);
  if (!m->qw) {
    tf_gemv(dec->logits, m->w->embed, dec->y, c->vocab_size, d, t);
    return;
  }
  struct tf_qvec v;
  tf_qvec_prepare(&v, dec->qx, dec->y, &m->qw->embed);
#pragma omp parallel num_threads(t)
  tf_qgemv_ws(dec->logits, &m->qw->embed, &v);
}

/* Encodes dec->tokens[len .. len + n) at their positions, up to `chunk` rows per pass, then
 * logits = LN_final(x_last) E^T. */
static const float *encode(const struct tf_model *m, struct tf_decoder *dec, int n) {
  const struct tf_model_config *c = &m->cfg;
  int d = c->d_model, end = dec->len + n, R = 0;
  while (dec->len < end) {
    int p0 = dec->len;
    R = end - p0 < dec->chunk ? end - p0 : dec->chunk;
    embed(m, dec, p0, R);
    for (int l = 0; l < c->n_layers; l++) layer_rows(m, dec, l, R, p0);
    dec->len += R;
  }
  float mean, rstd;
  tf_layernorm_affine_forward(dec->y, &mean, &rstd, dec->x + (size_t)(R - 1) * d,
                              m->w->final_norm_weight, m->w->final_norm_bias, 1, d);
  head(m, dec);
  return dec->logits;
}

/* The model has the shape dec was sized for (else TF_EUSAGE), and the n tokens are ids of its
 * vocabulary (else TF_EDATA naming the first that is not). */
static int usable(const struct tf_model *m, const struct tf_decoder *dec, const int32_t *tokens,
                  int n, struct tf_error *err) {
  const struct tf_model_config *a = &m->cfg, *b = &dec->cfg;
  int same = a->vocab_size == b->vocab_size && a->d_model == b->d_model &&
             a->n_layers == b->n_layers && a->n_heads == b->n_heads && a->seq_len == b->seq_len &&
             tf_model_config_rotary_dims(a) == tf_model_config_rotary_dims(b) &&
             a->rotary_base == b->rotary_base &&
             tf_model_config_max_tokens(a) <= tf_model_config_max_tokens(b);
  if (!same)
    return tf_error_set(err, TF_EUSAGE,
                        "the decoder was created for another model config than this model's");
  for (int i = 0; i < n; i++)
    if (tokens[i] < 0 || tokens[i] >= a->vocab_size)
      return tf_error_set(err, TF_EDATA, "token %d is not in the vocabulary [0, %d)", tokens[i],
                          a->vocab_size);
  return TF_OK;
}

const float *tf_decode_prefill(const struct tf_model *m, struct tf_decoder *dec,
                               const int32_t *tokens, int n, struct tf_error *err) {
  if (n < 1) {
    tf_error_set(err, TF_EUSAGE, "an empty context: the decoder needs at least one token");
    return NULL;
  }
  if (n > dec->S) { /* the last S tokens */
    tokens += n - dec->S;
    n = dec->S;
  }
  if (usable(m, dec, tokens, n, err)) return NULL;
  memmove(dec->tokens, tokens, (size_t)n * sizeof *tokens);
  dec->len = 0;
  return encode(m, dec, n);
}

const float *tf_decode_step(const struct tf_model *m, struct tf_decoder *dec, int32_t token,
                            struct tf_error *err) {
  if (dec->len < 1) {
    tf_error_set(err, TF_EUSAGE, "no context to continue: tf_decode_prefill comes first");
    return NULL;
  }
  if (usable(m, dec, &token, 1, err)) return NULL;
  int n = 1;
  if (dec->len == dec->S) { /* slide: keep the S/2 newest, encode them again from 0 */
    int keep = dec->S / 2;
    memmove(dec->tokens, dec->tokens + dec->S - keep, (size_t)keep * sizeof *dec->tokens);
    dec->len = 0;
    dec->slides++;
    n = keep + 1;
  }
  dec->tokens[dec->len + n - 1] = token;
  return encode(m, dec, n);
}
