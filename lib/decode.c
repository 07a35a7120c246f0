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

/* Floats of a thread's own buffers for one row (struct mine), whole cache lines. */
static size_t mine_floats(const struct tf_model_config *c) {
  size_t d = (size_t)c->d_model, n = (size_t)tf_model_config_max_tokens(c);
  return (2 * d + n + tf_qvec_floats(tf_qcols(c->d_model)) + 15) / 16 * 16;
}

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
  p[i++] = (struct piece){&dec->partial, 3 * (size_t)dec->threads, (size_t)tf_qcols((int)d)};
  p[i++] = (struct piece){&dec->arow, 3, n};
  p[i++] = (struct piece){&dec->mine, (size_t)dec->threads, mine_floats(c)};
  p[i++] = (struct piece){&dec->qx, tf_qvec_floats(tf_qcols((int)d)), 1};
  p[i++] = (struct piece){&dec->panel, n < PANEL ? n : PANEL, d};
  p[i++] = (struct piece){&dec->rope_cos, S, half};
  p[i++] = (struct piece){&dec->rope_sin, S, half};
  p[i++] = (struct piece){&dec->y, d, 1};
  return i;
}

/* Floats of a piece, rounded up to whole cache lines (16 floats), so that each piece, and
 * each thread's slice of the per-thread pieces, starts a line of its own. */
static size_t piece_floats(const struct piece *p) {
  return (p->a * p->b + 15) / 16 * 16;
}

/* Total floats of the pieces, or 0 on overflow. */
static size_t pieces_size(const struct piece *p, int np) {
  size_t total = 0, n;
  for (int i = 0; i < np; i++)
    if (__builtin_mul_overflow(p[i].a, p[i].b, &n) || n > SIZE_MAX - 15 ||
        __builtin_add_overflow(total, (n + 15) / 16 * 16, &total))
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
  struct piece p[26];
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
    dec->mem = total <= SIZE_MAX / sizeof(float) ? aligned_alloc(64, total * sizeof(float)) : NULL;
    if (dec->mem) memset(dec->mem, 0, total * sizeof(float));
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
    at += piece_floats(&p[i]);
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

/* ---------------------------------------------------------------- Pattention of several rows */

/* The team for a loop over `work` floats: OpenMP's current thread count, within the
 * buffers; one thread for small work. */
static int team(const struct tf_decoder *dec, size_t work) {
  int t = omp_get_max_threads();
  return !tf_par(work) ? 1 : t < dec->threads ? t : dec->threads;
}

/* Pattention `slot` of layer l on R > 1 rows x (R, d): out = Theta(x K^T) V + beta out,
 * through tf_pattn_forward (matrix products). tau = sqrt(n_ref) as in net.c. */
static void pattn(const struct tf_model *m, struct tf_decoder *dec, int l, int slot, int R,
                  const float *x, float *out, float beta) {
  const struct tf_model_config *c = &m->cfg;
  int kind = tf_slot_kind(slot), n = c->tokens[kind], d = c->d_model;
  struct tf_pattn_shape s = {R, n, tf_model_config_ref_tokens(c, kind), d, d, c->norm, n};
  if (m->qw) {
    tf_pattn_forward_q(&s, out, beta, dec->pcache, dec->prnorm, dec->pscratch, x,
                       &m->qw->key[l][slot], &m->qw->value[l][slot], dec->panel, PANEL);
    return;
  }
  const struct tf_pattn_view *w = &m->w->layer[l][slot];
  tf_pattn_forward(&s, out, beta, dec->pcache, dec->prnorm, dec->pscratch, x, w->key, w->value);
}

/* ---------------------------------------------------------------- attention over the cache */

/* The layer's cache of head hd: (S, d_h) rows, one per position. */
static float *head_cache(const struct tf_decoder *dec, float *cache, int l, int hd) {
  size_t S = dec->S, H = dec->cfg.n_heads, dh = dec->cfg.d_model / H;
  return cache + ((size_t)l * H + hd) * S * dh;
}

/* Stores head hd's post-RoPE keys and values of R rows at positions p0 .. p0 + R - 1. */
static void cache_store_head(struct tf_decoder *dec, int l, int hd, int R, int p0) {
  int d = dec->cfg.d_model, dh = d / dec->cfg.n_heads;
  float *kc = head_cache(dec, dec->key_cache, l, hd),
        *vc = head_cache(dec, dec->value_cache, l, hd);
  for (int i = 0; i < R; i++) {
    size_t to = (size_t)(p0 + i) * dh, from = (size_t)i * d + (size_t)hd * dh;
    memcpy(kc + to, dec->k + from, (size_t)dh * sizeof(float));
    memcpy(vc + to, dec->v + from, (size_t)dh * sizeof(float));
  }
}

/* Causal attention of head hd for row i of R (at position p0 + i) over the cache of layer l:
 * p_t = softmax_t(<q_i, k_t> / sqrt(d_h)) for t <= p0 + i;  att_i = sum_t p_t v_t. */
static void attend_one(struct tf_decoder *dec, int l, int hd, int i, int R, int p0) {
  int d = dec->cfg.d_model, dh = d / dec->cfg.n_heads, n = p0 + i + 1;
  float scale = 1.0f / sqrtf((float)dh);
  const float *q = dec->q + (size_t)i * d + (size_t)hd * dh;
  const float *kc = head_cache(dec, dec->key_cache, l, hd);
  const float *vc = head_cache(dec, dec->value_cache, l, hd);
  float *p = dec->scores + (size_t)(hd * R + i) * dec->S,
        *out = dec->att + (size_t)i * d + (size_t)hd * dh;
  for (int t = 0; t < n; t++) p[t] = scale * tf_dotf(q, kc + (size_t)t * dh, dh);
  tf_softmax_row(p, 1.0f, n);
  memset(out, 0, (size_t)dh * sizeof *out);
  for (int t = 0; t < n; t++) tf_axpyf(out, p[t], vc + (size_t)t * dh, dh);
}

/* The attention of R new rows, every head and row a job of the team. */
static void attend(struct tf_decoder *dec, int l, int R, int p0) {
  int H = dec->cfg.n_heads, dh = dec->cfg.d_model / H;
  size_t work = (size_t)H * R * (p0 + R) * dh;
#pragma omp parallel for schedule(static) num_threads(team(dec, work))
  for (int job = 0; job < H * R; job++) attend_one(dec, l, job / R, job % R, R, p0);
}

/* ---------------------------------------------------------------- one row in one region */

/* One new row (a decoded token) goes through all the layers in one parallel region. Each
 * thread keeps its own residual x and its own copy of every Pattention's input (normed, and
 * prepared for converted weights), and forms the normalised scores of every Pattention
 * itself (cheap: n values), so the threads wait for one another only where data flows
 * between them: after the key products (Theta needs all of a row of scores), after the value
 * products (each output column sums every thread's partial sums) and after attention (the
 * projection reads every head): 7 barriers a layer. Per thread and product the row blocks are
 * those of gemv.h's products, whose partial sums are added in thread order, so the results
 * are those of one region per product. */

/* A thread's own buffers (its slice of dec->mine, mine_floats). */
struct mine {
  float *x, *h;     /* (d) the residual, the normed input */
  float *s;         /* (n_max) Theta of a row of scores */
  float *qx;        /* scratch of v */
  struct tf_qvec v; /* the products' input prepared for converted weights */
  const float *in;  /* the products' input (fp32 weights) */
  float rstd, rnorm;
};

static void mine_init(struct tf_decoder *dec, struct mine *me) {
  size_t d = (size_t)dec->cfg.d_model, n = (size_t)tf_model_config_max_tokens(&dec->cfg);
  float *at = dec->mine + (size_t)omp_get_thread_num() * mine_floats(&dec->cfg);
  *me = (struct mine){.x = at, .h = at + d, .s = at + 2 * d, .qx = at + 2 * d + n};
}

/* Thread t's slice of the value products' partial sums of output j (0 .. 2). */
static float *slice(const struct tf_decoder *dec, int j, int t) {
  return dec->partial + ((size_t)j * dec->threads + t) * (size_t)tf_qcols(dec->cfg.d_model);
}

/* x (d) as the input of layer l's products, for this thread. */
static void row_input(const struct tf_model *m, struct mine *me, int l, const float *x) {
  me->in = x;
  if (m->qw) tf_qvec_prepare(&me->v, me->qx, x, &m->qw->key[l][0]);
}

/* a = x K^T over this thread's rows of slot's keys; no barrier. */
static void keys_part(const struct tf_model *m, int l, int slot, const struct mine *me, float *a) {
  int n = m->cfg.tokens[tf_slot_kind(slot)];
  if (m->qw)
    tf_qgemv_nowait_ws(a, &m->qw->key[l][slot], &me->v);
  else
    tf_gemv_nowait_ws(a, m->w->layer[l][slot].key, me->in, n, m->cfg.d_model);
}

/* S = Theta(a) (a whole, only read: softmax works on this thread's copy), then this thread's
 * share of S V into its slice `mine`; no barrier. tau = sqrt(n_ref) as in net.c. */
static void values_part(const struct tf_model *m, int l, int slot, float *a, struct mine *me,
                        float *mine) {
  const struct tf_model_config *c = &m->cfg;
  int kind = tf_slot_kind(slot), n = c->tokens[kind], n_ref = tf_model_config_ref_tokens(c, kind);
  float *in = c->norm == TF_NORM_SOFTMAX ? memcpy(me->s, a, (size_t)n * sizeof *a) : a;
  float *S = tf_pattn_theta_row(c->norm, in, me->s, &me->rnorm, sqrtf((float)n_ref), n_ref, n);
  if (m->qw)
    tf_qgemv_t_mine_ws(mine, S, &m->qw->value[l][slot]);
  else
    tf_gemv_t_mine_ws(mine, S, m->w->layer[l][slot].value, n, c->d_model);
}

/* Head hd of the row at position p once the q, k, v value products are done: its columns of
 * q, k, v (the nt slices added), RoPE, its key and value into the cache, its attention. */
static void head_row(struct tf_decoder *dec, int l, int p, int hd, int nt) {
  int d = dec->cfg.d_model, dh = d / dec->cfg.n_heads, c0 = hd * dh;
  int r = tf_model_config_rotary_dims(&dec->cfg);
  size_t ld = (size_t)tf_qcols(d);
  float *out[3] = {dec->q, dec->k, dec->v};
  for (int j = 0; j < 3; j++)
    tf_gemv_reduce_cols(out[j], 0.0f, slice(dec, j, 0), ld, nt, c0, c0 + dh);
  if (r > 0) {
    const float *cs = dec->rope_cos + (size_t)p * (r / 2),
                *sn = dec->rope_sin + (size_t)p * (r / 2);
    tf_rope_row_forward(dec->q + c0, cs, sn, 1, dh, r);
    tf_rope_row_forward(dec->k + c0, cs, sn, 1, dh, r);
  }
  cache_store_head(dec, l, hd, 1, p);
  attend_one(dec, l, hd, 0, 1, p);
}

/* x += Pattention `slot` of layer l on the row `in`, for this thread's own x: keys, barrier,
 * Theta and values, barrier, every thread adds the team's slices to its x. */
static void residual_row(const struct tf_model *m, struct tf_decoder *dec, int l, int slot,
                         const float *in, struct mine *me) {
  int t = omp_get_thread_num(), nt = omp_get_num_threads(), d = m->cfg.d_model;
  row_input(m, me, l, in);
  keys_part(m, l, slot, me, dec->arow);
#pragma omp barrier
  values_part(m, l, slot, dec->arow, me, slice(dec, 0, t));
#pragma omp barrier
  tf_gemv_reduce_cols(me->x, 1.0f, slice(dec, 0, 0), (size_t)tf_qcols(d), nt, 0, d);
}

/* layer_rows below on one row at position p, by every thread of the team:  h = LN0(x);
 * q, k, v = Pattentions of h (keys, barrier, Theta and values, barrier);  per head (a shared
 * loop, its barrier) RoPE, cache, attention;  x += Pattention_proj(att);
 * x += Pattention_ffn(LN0(x)). */
static void layer_row(const struct tf_model *m, struct tf_decoder *dec, int l, int p,
                      struct mine *me) {
  static const int qkv[3] = {TF_SLOT_Q, TF_SLOT_K, TF_SLOT_V};
  int t = omp_get_thread_num(), nt = omp_get_num_threads(), d = m->cfg.d_model;
  size_t n = (size_t)tf_model_config_max_tokens(&m->cfg);
  tf_layernorm_row(me->h, &me->rstd, me->x, d);
  row_input(m, me, l, me->h);
  for (int j = 0; j < 3; j++) keys_part(m, l, qkv[j], me, dec->arow + j * n);
#pragma omp barrier
  for (int j = 0; j < 3; j++) values_part(m, l, qkv[j], dec->arow + j * n, me, slice(dec, j, t));
#pragma omp barrier
#pragma omp for schedule(static)
  for (int hd = 0; hd < m->cfg.n_heads; hd++) head_row(dec, l, p, hd, nt);
  residual_row(m, dec, l, TF_SLOT_PROJ, dec->att, me);
  tf_layernorm_row(me->h, &me->rstd, me->x, d);
  residual_row(m, dec, l, TF_SLOT_FFN, me->h, me);
}

/* Floats a layer's products stream for one row: the team's size. */
static size_t row_work(const struct tf_model_config *c) {
  size_t w = 0;
  for (int s = 0; s < TF_NSLOTS; s++) w += 2 * (size_t)c->tokens[tf_slot_kind(s)] * c->d_model;
  return w;
}

/* Every layer on the one row dec->x at position p, in one parallel region; the first
 * thread's x is the result. */
static void layers_row(const struct tf_model *m, struct tf_decoder *dec, int p) {
  int d = m->cfg.d_model;
#pragma omp parallel num_threads(team(dec, row_work(&m->cfg)))
  {
    struct mine me;
    mine_init(dec, &me);
    memcpy(me.x, dec->x, (size_t)d * sizeof *me.x);
    for (int l = 0; l < m->cfg.n_layers; l++) layer_row(m, dec, l, p, &me);
    if (omp_get_thread_num() == 0) memcpy(dec->x, me.x, (size_t)d * sizeof *me.x);
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
  for (int hd = 0; hd < H; hd++) cache_store_head(dec, l, hd, R, p0);
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
    if (R == 1)
      layers_row(m, dec, p0);
    else
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
