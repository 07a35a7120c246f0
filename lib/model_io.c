/* model_io.c: a model to and from a checkpoint (metadata, history, shape checks against the
 * stored config). The byte format itself is ckpt.c's and st.c's. */
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "model_internal.h"
#include "optim.h"
#include "rng.h"

#define FORMAT_NAME    "tokenformer"
#define FORMAT_VERSION "1"

int tf_model_add_history(struct tf_model *m, const char *command, const char *extra_json,
                         struct tf_error *err) {
  json_error_t je;
  json_t *list = json_loads(m->history ? m->history : "[]", 0, &je);
  json_t *rec = extra_json ? json_loads(extra_json, 0, &je) : json_object();
  int rc = TF_OK;
  if (!json_is_array(list) || !json_is_object(rec)) {
    rc = tf_error_set(err, TF_EDATA, "history: not a JSON array or record: %s", je.text);
    goto out;
  }
  json_t *full = json_object();
  json_object_set_new(full, "command", json_string(command));
  json_object_update(full, rec);
  json_array_append_new(list, full);
  char *text = json_dumps(list, JSON_COMPACT | JSON_PRESERVE_ORDER);
  if (!text) {
    rc = tf_error_set(err, TF_ENOMEM, "out of memory writing the history");
    goto out;
  }
  free(m->history);
  m->history = text;
out:
  json_decref(list);
  json_decref(rec);
  return rc;
}

/* The first element of x (n floats) that is NaN or infinite, or n: one vectorised pass (x * 0
 * is NaN exactly for those), then a search only when there is one. */
size_t tf_first_non_finite(const float *x, size_t n) {
  float probe = 0.0f;
#pragma omp simd reduction(+ : probe)
  for (size_t j = 0; j < n; j++) probe += x[j] * 0.0f;
  if (probe == 0.0f) return n;
  size_t j = 0;
  while (j < n && isfinite(x[j])) j++;
  return j;
}

/* Parameters, and the AdamW moments when kept, must be finite: training stops before it would
 * save anything else, so a checkpoint holding a NaN or an infinity was damaged or forged, and
 * running it would only spread the NaN. */
static int check_finite(const struct tf_model *m, int moments, struct tf_error *err) {
  const float *blocks[3] = {m->params, moments ? m->train.opt->m : NULL,
                            moments ? m->train.opt->v : NULL};
  const char *prefix[3] = {"", "optim.m.", "optim.v."};
  for (int k = 0; k < 3; k++)
    for (int i = 0; blocks[k] && i < m->n_tensors; i++) {
      const struct tf_tensor *t = &m->tensors[i];
      size_t j = tf_first_non_finite(blocks[k] + t->offset, t->numel);
      if (j < t->numel)
        return tf_error_set(err, TF_EDATA,
                            "tensor %s%s: element %zu is %g, expected a finite value", prefix[k],
                            t->name, j, (double)blocks[k][t->offset + j]);
    }
  return TF_OK;
}

/* The stage's schedule as stored: metadata "schedule", {"steps", "warmup", "lr", "min_lr"}. */
static char *schedule_json(const struct tf_train_state *s) {
  json_t *j = json_pack("{s:I, s:f, s:f, s:f}", "steps", (json_int_t)s->stage_steps, "warmup",
                        s->stage_warmup, "lr", s->stage_lr, "min_lr", s->stage_min_lr);
  if (j && s->stage_lr_from_previous > 0)
    json_object_set_new(j, "lr_from_previous", json_real(s->stage_lr_from_previous));
  char *text =
      j ? json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(17)) : NULL;
  json_decref(j);
  return text;
}

static int load_schedule(struct tf_train_state *s, const struct tf_st_header *h,
                         struct tf_error *err) {
  const char *text = tf_st_meta(h, "schedule");
  if (!text || !s->present) return TF_OK;
  json_error_t je;
  json_t *j = json_loads(text, 0, &je);
  json_int_t steps = -1;
  double w = -1, lr = -1, min_lr = -1, from = 0;
  int bad = json_unpack(j, "{s:I, s:F, s:F, s:F, s?F}", "steps", &steps, "warmup", &w, "lr", &lr,
                        "min_lr", &min_lr, "lr_from_previous", &from) != 0;
  json_decref(j);
  if (bad || steps < 1 || !(w >= 0) || !(lr >= 0) || !(min_lr >= 0) || !(from >= 0) ||
      !isfinite(w + lr + min_lr + from))
    return tf_error_set(err, TF_EDATA,
                        "metadata schedule: expected {\"steps\": N >= 1, \"warmup\", \"lr\", "
                        "\"min_lr\" and optionally \"lr_from_previous\": finite numbers >= 0}");
  s->has_schedule = 1;
  s->stage_steps = steps;
  s->stage_warmup = w;
  s->stage_lr = lr;
  s->stage_min_lr = min_lr;
  s->stage_lr_from_previous = from;
  return TF_OK;
}

/* The growth record as stored: metadata "growth", {"old_tokens": [qkv, proj, ffn]} and, when
 * the input's last stage had a schedule, "final_lr". */
static char *growth_json(const struct tf_growth *g) {
  json_t *j = json_pack("{s:[i, i, i]}", "old_tokens", g->old_tokens[0], g->old_tokens[1],
                        g->old_tokens[2]);
  if (j && g->has_final_lr) json_object_set_new(j, "final_lr", json_real(g->final_lr));
  char *text =
      j ? json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(17)) : NULL;
  json_decref(j);
  return text;
}

static int load_growth(struct tf_growth *g, const struct tf_st_header *h, struct tf_error *err) {
  const char *text = tf_st_meta(h, "growth");
  if (!text) return TF_OK;
  json_error_t je;
  json_t *j = json_loads(text, 0, &je), *lr = NULL;
  int bad = json_unpack(j, "{s:[i, i, i], s?o}", "old_tokens", &g->old_tokens[0], &g->old_tokens[1],
                        &g->old_tokens[2], "final_lr", &lr) != 0;
  for (int k = 0; k < TF_NKINDS; k++)
    bad |= g->old_tokens[k] < 1 || g->old_tokens[k] > TF_MAX_TOKENS;
  if (!bad && lr) {
    g->has_final_lr = 1;
    g->final_lr = json_number_value(lr);
    bad = !json_is_number(lr) || !(g->final_lr >= 0) || !isfinite(g->final_lr);
  }
  json_decref(j);
  if (bad)
    return tf_error_set(err, TF_EDATA,
                        "metadata growth: expected {\"old_tokens\": [3 counts from 1 to 2^24], "
                        "\"final_lr\": a finite number >= 0 (optional)}");
  g->present = 1;
  return TF_OK;
}

int tf_model_save(const struct tf_model *m, const char *path, enum tf_compress compress,
                  struct tf_error *err) {
  struct tf_ckpt_entry *entries = NULL;
  char *names = NULL, *config = tf_model_config_to_json(&m->cfg);
  size_t n = 0;
  /* a save never writes a value no load would accept; the file at path stays as it was */
  int rc = check_finite(m, m->train.present && m->train.opt->m, err);
  if (rc)
    tf_error_prefix(err, "%s: not saved (step %lld)", path, (long long)m->train.step);
  else if (!config)
    rc = tf_error_set(err, TF_ENOMEM, "out of memory preparing %s", path);
  else
    rc = m->qw ? tf_qstore_entries(m, &entries, &n, &names, err)
               : tf_model_entries(m, &entries, &n, &names, err);
  char *sched = NULL;
  if (!rc && m->train.present && m->train.has_schedule && !(sched = schedule_json(&m->train)))
    rc = tf_error_set(err, TF_ENOMEM, "out of memory preparing %s", path);
  char *growth = NULL;
  if (!rc && m->growth.present && !(growth = growth_json(&m->growth)))
    rc = tf_error_set(err, TF_ENOMEM, "out of memory preparing %s", path);
  if (!rc) {
    const char *tok_json = tf_tokenizer_json(m->tok, NULL);
    const char *meta[20] = {"format",         FORMAT_NAME,
                            "format_version", FORMAT_VERSION,
                            "config",         config,
                            "history",        m->history,
                            "created_by",     "tokenformer " TF_VERSION,
                            "tokenizer",      tf_tokenizer_kind_name(m->tok)};
    size_t k = 6;
    if (tok_json) meta[2 * k] = "tokenizer_json", meta[2 * k++ + 1] = tok_json;
    if (sched) meta[2 * k] = "schedule", meta[2 * k++ + 1] = sched;
    if (growth) meta[2 * k] = "growth", meta[2 * k++ + 1] = growth;
    if (m->qw) meta[2 * k] = "weights", meta[2 * k++ + 1] = tf_weights_name(m->weights);
    rc = tf_ckpt_write(path, entries, n, meta, k, compress, err);
  }
  free(growth);
  free(sched);
  free(entries);
  free(names);
  free(config);
  return rc;
}

static int check_metadata(const struct tf_st_header *h, struct tf_model_config *cfg,
                          struct tf_error *err) {
  const char *format = tf_st_meta(h, "format"), *version = tf_st_meta(h, "format_version");
  if (!format || strcmp(format, FORMAT_NAME) != 0)
    return tf_error_set(err, TF_EDATA, "metadata format is %s%s%s, expected \"" FORMAT_NAME "\"",
                        format ? "\"" : "", format ? format : "missing", format ? "\"" : "");
  if (!version || strcmp(version, FORMAT_VERSION) != 0)
    return tf_error_set(err, TF_EDATA, "metadata format_version is %s, expected " FORMAT_VERSION,
                        version ? version : "missing");
  const char *history = tf_st_meta(h, "history"), *tok = tf_st_meta(h, "tokenizer");
  if (history) {
    json_t *list = json_loads(history, 0, NULL);
    int is_list = json_is_array(list);
    json_decref(list);
    if (!is_list) return tf_error_set(err, TF_EDATA, "metadata history: not a JSON array");
  }
  const char *tok_json = tf_st_meta(h, "tokenizer_json");
  if (tok && strcmp(tok, "bytes") != 0 && strcmp(tok, "bpe") != 0)
    return tf_error_set(err, TF_EDATA, "metadata tokenizer \"%s\": expected \"bytes\" or \"bpe\"",
                        tok);
  if (tok && strcmp(tok, "bpe") == 0 && !tok_json)
    return tf_error_set(err, TF_EDATA,
                        "metadata tokenizer is \"bpe\" but there is no tokenizer_json");
  if (tok_json && !(tok && strcmp(tok, "bpe") == 0))
    return tf_error_set(err, TF_EDATA,
                        "metadata tokenizer_json with a tokenizer other than \"bpe\"");
  const char *config = tf_st_meta(h, "config");
  if (!config) return tf_error_set(err, TF_EDATA, "metadata has no config");
  int rc = tf_model_config_from_json(cfg, config, err);
  if (rc) return tf_error_prefix(err, "metadata config");
  struct tf_config full;
  tf_config_default(&full);
  full.model = *cfg;
  if (tf_config_check(&full, err)) return tf_error_prefix(err, "metadata config");
  return TF_OK;
}

/* Every stored tensor must belong to the model's checkpoint with the dtype and shape the config
 * gives it; every parameter must be stored. */
static int check_tensors(struct tf_model *m, const struct tf_st_header *h, struct tf_error *err) {
  for (size_t i = 0; i < h->n_tensors; i++) {
    const struct tf_st_tensor *s = &h->tensors[i];
    struct tensor_place p;
    if (!tf_model_place(m, s->name, &p))
      return tf_error_set(err, TF_EDATA, "tensor %s: not part of this model", s->name);
    if (s->dtype != p.dtype)
      return tf_error_set(err, TF_EDATA, "tensor %s: dtype %s, expected %s", s->name,
                          tf_dtype_name(s->dtype), tf_dtype_name(p.dtype));
    int same = s->ndim == p.ndim;
    for (int k = 0; same && k < p.ndim; k++) same = s->shape[k] == p.shape[k];
    if (!same) {
      char got[96], want[64];
      tf_shape_format(s->ndim < 4 ? s->ndim : 4, s->shape, got, sizeof got);
      tf_shape_format(p.ndim, p.shape, want, sizeof want);
      return tf_error_set(err, TF_EDATA, "tensor %s: shape %s, config says %s", s->name, got, want);
    }
  }
  for (int i = 0; i < m->n_tensors; i++)
    if (!tf_st_find(h, m->tensors[i].name))
      return tf_error_set(err, TF_EDATA, "tensor %s: missing", m->tensors[i].name);
  return TF_OK;
}

static int replace_string(char **dst, const char *src, struct tf_error *err) {
  char *copy = strdup(src);
  if (!copy) return tf_error_set(err, TF_ENOMEM, "out of memory");
  free(*dst);
  *dst = copy;
  return TF_OK;
}

/* The header's checks into shape: a model with its config, tensor table and whether it holds a
 * training state, but no parameters (tf_model_free frees it). */
static int check_header(const struct tf_st_header *h, struct tf_model *shape,
                        struct tf_error *err) {
  memset(shape, 0, sizeof *shape);
  int rc = check_metadata(h, &shape->cfg, err);
  if (rc) return rc;
  shape->n_tensors = tf_model_n_tensors(&shape->cfg);
  shape->tensors = calloc((size_t)shape->n_tensors, sizeof *shape->tensors);
  if (!shape->tensors) return tf_error_set(err, TF_ENOMEM, "out of memory checking tensors");
  tf_model_tensor_table(&shape->cfg, shape->tensors);
  rc = tf_qstore_format(h, &shape->weights, err);
  if (!rc) rc = tf_model_state_check(shape, h, err);
  if (!rc && shape->weights && shape->train.present)
    rc = tf_error_set(err, TF_EDATA,
                      "metadata weights is \"%s\", but the file holds a training state: a "
                      "checkpoint of %s weights is for inference only",
                      tf_weights_name(shape->weights), tf_weights_name(shape->weights));
  if (!rc) rc = check_tensors(shape, h, err);
  return rc ? rc : tf_qstore_check_complete(shape, h, err);
}

int tf_model_check_header(const struct tf_st_header *h, struct tf_model_config *cfg,
                          struct tf_error *err) {
  struct tf_model shape;
  int rc = check_header(h, &shape, err);
  if (!rc && cfg) *cfg = shape.cfg;
  tf_model_free(&shape);
  return rc;
}

/* A training checkpoint loads the two AdamW moments beside the parameters: refused before
 * allocating when the three do not fit in memory (tf_model_create checks the parameters). */
static int check_state_size(const struct tf_model_config *c, struct tf_error *err) {
  double block = (double)tf_param_count(c) * sizeof(float);
  struct tf_mem_need need = {.params = block, .optimizer = 2 * block};
  char what[96];
  snprintf(what, sizeof what, "a training checkpoint of %llu parameters",
           (unsigned long long)tf_param_count(c));
  return tf_mem_check(&need, what, err);
}

/* Reads and drops n bytes of the stream (so the CRC is still checked). */
static int skip_bytes(struct tf_ckpt_reader *r, uint64_t n, struct tf_error *err) {
  char buf[65536];
  int rc = TF_OK;
  for (uint64_t k; !rc && n > 0; n -= k) {
    k = n < sizeof buf ? n : sizeof buf;
    rc = tf_ckpt_read(r, buf, k, err);
  }
  return rc;
}

/* The stored tokenizer (metadata tokenizer_json; the byte tokenizer when there is none). */
static int load_tokenizer(struct tf_model *m, const struct tf_st_header *h, struct tf_error *err) {
  const char *json = tf_st_meta(h, "tokenizer_json");
  if (!json) return TF_OK;
  struct tf_tokenizer *t;
  int rc = tf_tokenizer_from_json(&t, json, strlen(json), "metadata tokenizer_json", err);
  if (rc) return rc;
  rc = tf_model_take_tokenizer(m, t, TF_EDATA, err);
  return rc ? tf_error_prefix(err, "metadata tokenizer_json") : TF_OK;
}

/* What a load keeps: everything (training), the weights of an f32 checkpoint (the AdamW
 * moments are read past, not kept, and the model has no training state), or the weights of
 * any checkpoint, bf16 and q8 ones into converted weights (tf_model_load_run). */
enum load_mode { LOAD_ALL, LOAD_WEIGHTS, LOAD_RUN };

/* A checkpoint of bf16 or q8 weights where a load needs f32: the reason it is refused. */
static int refuse_stored(enum tf_weights w, struct tf_error *err) {
  const char *n = tf_weights_name(w);
  return tf_error_set(err, TF_EDATA,
                      "stores %s weights (tf-convert --quantize %s): such a checkpoint is for "
                      "inference only (tf-generate, tf-eval); training, growing and exporting "
                      "need the f32 checkpoint it was made from",
                      n, n);
}

/* --weights want (TF_WEIGHTS_STORED: none asked) for a checkpoint of stored weights: the
 * stored format, or f32 for their values in float. */
static int check_want(enum tf_weights stored, enum tf_weights want, struct tf_error *err) {
  if (want == TF_WEIGHTS_STORED || want == TF_WEIGHTS_F32 || want == stored) return TF_OK;
  return tf_error_set(err, TF_EUSAGE,
                      "stores %s weights: --weights %s cannot be made from them (give %s, as "
                      "stored, or f32, their values in float; or use the f32 checkpoint)",
                      tf_weights_name(stored), tf_weights_name(want), tf_weights_name(stored));
}

/* The n bytes of a stored tensor into its place (row by row where its rows are padded). */
static int read_place(struct tf_ckpt_reader *r, const struct tensor_place *p, uint64_t n,
                      struct tf_error *err) {
  size_t row = p->ndim == 2 ? (size_t)p->shape[1] * tf_dtype_size(p->dtype) : 0;
  if (!p->dst) return skip_bytes(r, n, err);
  if (!p->pitch || p->pitch == row) return tf_ckpt_read(r, p->dst, n, err);
  int rc = TF_OK;
  for (int64_t i = 0; !rc && i < p->shape[0]; i++)
    rc = tf_ckpt_read(r, (char *)p->dst + (size_t)i * p->pitch, row, err);
  return rc;
}

static int load_from(struct tf_model *m, struct tf_ckpt_reader *r, enum load_mode mode,
                     enum tf_weights want, struct tf_error *err) {
  const struct tf_st_header *h = tf_ckpt_header(r);
  struct tf_model_config cfg;
  enum tf_weights stored = TF_WEIGHTS_F32;
  int weights_only = mode != LOAD_ALL;
  int rc = tf_model_check_header(h, &cfg, err);
  if (!rc) rc = tf_qstore_format(h, &stored, err);
  if (!rc && stored)
    rc = mode == LOAD_RUN ? check_want(stored, want, err) : refuse_stored(stored, err);
  if (!rc && !weights_only && tf_st_find(h, "optim.step")) rc = check_state_size(&cfg, err);
  if (!rc) rc = stored ? tf_qstore_create(m, &cfg, stored, err) : tf_model_create(m, &cfg, err);
  if (!rc) rc = tf_model_state_check(m, h, err);
  if (!rc && m->train.present && !weights_only)
    rc = tf_adamw_create(m->train.opt, m->n_params, err);
  const char *history = tf_st_meta(h, "history");
  if (!rc && history) rc = replace_string(&m->history, history, err);
  if (!rc) rc = load_tokenizer(m, h, err);
  if (!rc) rc = load_schedule(&m->train, h, err);
  if (!rc) rc = load_growth(&m->growth, h, err);
  for (size_t i = 0; !rc && i < h->n_tensors; i++) {
    struct tensor_place p;
    tf_model_place(m, h->tensors[i].name, &p);
    uint64_t n = h->tensors[i].end - h->tensors[i].begin;
    rc = read_place(r, &p, n, err);
  }
  if (!rc) rc = tf_ckpt_finish(r, err);
  if (!rc) rc = check_finite(m, !weights_only && m->train.opt->m, err);
  if (!rc && m->qw) rc = tf_qstore_check_values(m, err);
  if (!rc) rc = tf_model_state_validate(m, err);
  if (!rc && weights_only) { /* no training state: counters and parts zero, the parts kept */
    struct tf_train_state empty = {.rng = m->train.rng, .opt = m->train.opt};
    free(m->train.cursor);
    tf_adamw_free(m->train.opt);
    memset(m->train.rng, 0, sizeof *m->train.rng);
    m->train = empty;
  }
  return rc;
}

static int load(struct tf_model *m, const char *path, enum load_mode mode, enum tf_weights want,
                struct tf_error *err) {
  memset(m, 0, sizeof *m);
  struct tf_ckpt_reader *r = NULL;
  int rc = tf_ckpt_open(&r, path, err);
  if (rc) return rc;
  rc = load_from(m, r, mode, want, err);
  tf_ckpt_close(r);
  if (rc) {
    tf_model_free(m);
    /* ckpt errors already name the file; ours (metadata, shapes) get it here */
    tf_error_name_file(err, path);
  }
  return rc;
}

/* Every value of r's tensors, streamed: finite, and a training state one that training writes
 * (the checks check_finite and tf_model_state_validate make on a loaded model). */
static int verify_values(struct tf_ckpt_reader *r, const struct tf_st_header *h,
                         struct tf_error *err) {
  int64_t optim_step = 1;
  const char *moment = NULL; /* the first moment tensor that is not all zeros */
  for (size_t i = 0; i < h->n_tensors; i++) {
    const struct tf_st_tensor *t = &h->tensors[i];
    struct tf_tensor_stats s;
    int rc = tf_inspect_stats(r, t, &s, NULL, NULL, err);
    if (rc) return rc;
    if (s.nans || isinf(s.min) || isinf(s.max))
      return tf_error_set(err, TF_EDATA,
                          "tensor %s: %llu NaN, min %g, max %g: expected finite values", t->name,
                          (unsigned long long)s.nans, s.min, s.max);
    if (s.numel && (rc = tf_train_state_check_tensor(t->name, s.min, err))) return rc;
    if (s.numel && ((rc = tf_qstore_check_value(t->name, t->dtype, s.min, err)) ||
                    (rc = tf_qstore_check_value(t->name, t->dtype, s.max, err))))
      return rc;
    if (strcmp(t->name, "optim.step") == 0 && s.numel == 1) optim_step = (int64_t)s.min;
    if (!moment && s.zeros < s.numel &&
        (strncmp(t->name, "optim.m.", 8) == 0 || strncmp(t->name, "optim.v.", 8) == 0))
      moment = t->name;
  }
  return tf_train_state_check_fresh(optim_step, moment, err);
}

int tf_model_verify(const char *path, struct tf_error *err) {
  struct tf_ckpt_reader *r = NULL;
  int rc = tf_ckpt_open(&r, path, err);
  if (rc) return rc;
  const struct tf_st_header *h = tf_ckpt_header(r);
  struct tf_model shape;
  memset(&shape, 0, sizeof shape);
  if (!tf_st_meta(h, "config"))
    rc = tf_error_set(err, TF_EDATA, "metadata has no config: not a tokenformer checkpoint");
  if (!rc) rc = check_header(h, &shape, err);
  if (!rc) rc = load_tokenizer(&shape, h, err);
  if (!rc) rc = load_schedule(&shape.train, h, err);
  if (!rc) rc = verify_values(r, h, err);
  if (!rc) rc = tf_ckpt_finish(r, err);
  tf_model_free(&shape);
  tf_ckpt_close(r);
  if (rc) tf_error_name_file(err, path);
  return rc;
}

int tf_model_load(struct tf_model *m, const char *path, struct tf_error *err) {
  return load(m, path, LOAD_ALL, TF_WEIGHTS_STORED, err);
}

int tf_model_load_weights(struct tf_model *m, const char *path, struct tf_error *err) {
  return load(m, path, LOAD_WEIGHTS, TF_WEIGHTS_STORED, err);
}

int tf_model_load_run(struct tf_model *m, const char *path, enum tf_weights want,
                      enum tf_weights_use use, enum tf_weights *values, struct tf_error *err) {
  int rc = load(m, path, LOAD_RUN, want, err);
  if (rc) return rc;
  enum tf_weights stored = m->weights, w = want == TF_WEIGHTS_STORED ? stored : want;
  if (stored == TF_WEIGHTS_F32)
    rc = use == TF_USE_ROUNDED ? tf_model_round_weights(m, w, err)
                               : tf_model_convert_weights(m, w, err);
  else if (use == TF_USE_ROUNDED || w == TF_WEIGHTS_F32)
    rc = tf_qstore_dequantize(m, err);
  if (rc) {
    tf_model_free(m);
    return tf_error_prefix(err, "%s", path);
  }
  if (values) *values = stored == TF_WEIGHTS_F32 ? w : stored;
  return TF_OK;
}
