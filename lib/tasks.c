/* tasks.c: the zero-shot tasks' files (JSON Lines in their public form) turned into
 * log-likelihood requests exactly as lm-evaluation-harness 0.4 builds them: the prompts, the
 * choices, the gold index, and the encoding of each (context, continuation) pair. Scoring is
 * tasks_score.c's. */
#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "tasks_internal.h"

static const char *const task_names[TF_NTASKS] = {"lambada_openai", "hellaswag",     "piqa",
                                                  "arc_easy",       "arc_challenge", "winogrande"};

const char *tf_task_name(enum tf_task_kind k) {
  return k >= 0 && k < TF_NTASKS ? task_names[k] : "?";
}

int tf_task_from_name(const char *name, enum tf_task_kind *k, struct tf_error *err) {
  for (int i = 0; i < TF_NTASKS; i++)
    if (strcmp(name, task_names[i]) == 0) {
      *k = (enum tf_task_kind)i;
      return TF_OK;
    }
  return tf_error_set(err, TF_EUSAGE,
                      "unknown task '%s' (known: lambada_openai, hellaswag, piqa, arc_easy, "
                      "arc_challenge, winogrande)",
                      name);
}

/* One example as texts: the contexts and continuations of its requests, each choice's text
 * (whose length acc_norm divides by) and the gold index. */
#define MAX_CHOICES 64
struct example_text {
  int n;
  struct tf_text ctx[MAX_CHOICES], cont[MAX_CHOICES];
  size_t choice_len[MAX_CHOICES];
  int gold;
};

static void example_text_free(struct example_text *e) {
  for (int i = 0; i < MAX_CHOICES; i++) {
    tf_text_free(&e->ctx[i]);
    tf_text_free(&e->cont[i]);
  }
}

/* Where messages point: the file and line being read. */
struct where {
  const char *path;
  int64_t line;
};

static int bad(const struct where *w, struct tf_error *err, const char *what, const char *key) {
  return tf_error_set(err, TF_EDATA, "%s:%lld: %s%s%s%s", w->path, (long long)w->line, what,
                      key ? " \"" : "", key ? key : "", key ? "\"" : "");
}

static int get_str(const struct where *w, json_t *o, const char *key, const char **s, size_t *n,
                   struct tf_error *err) {
  json_t *v = json_object_get(o, key);
  if (!v) return bad(w, err, "missing field", key);
  if (!json_is_string(v)) return bad(w, err, "not a string: field", key);
  *s = json_string_value(v);
  *n = json_string_length(v);
  return TF_OK;
}

/* A label: an integer, or a string of decimal digits (the datasets use both). */
static int get_label(const struct where *w, json_t *o, const char *key, long *out,
                     struct tf_error *err) {
  json_t *v = json_object_get(o, key);
  if (!v) return bad(w, err, "missing field", key);
  if (json_is_integer(v)) {
    *out = (long)json_integer_value(v);
    return TF_OK;
  }
  const char *s = json_is_string(v) ? json_string_value(v) : NULL;
  char *end;
  errno = 0;
  long x = s && *s >= '0' && *s <= '9' ? strtol(s, &end, 10) : -1;
  if (!s || x < 0 || *end || errno) return bad(w, err, "not an integer label: field", key);
  *out = x;
  return TF_OK;
}

static int check_gold(const struct where *w, long gold, int n, const char *key,
                      struct tf_error *err) {
  if (gold >= 0 && gold < n) return TF_OK;
  return tf_error_set(err, TF_EDATA, "%s:%lld: label \"%s\" is %ld, out of range for %d choices",
                      w->path, (long long)w->line, key, gold, n);
}

/* A multiple-choice request: context ctx, continuation " " + choice. */
static int add_choice(struct example_text *e, const char *ctx, size_t nctx, const char *choice,
                      size_t nchoice) {
  int i = e->n++;
  e->choice_len[i] = tf_text_codepoints(choice, nchoice);
  int rc = tf_text_set(&e->ctx[i], ctx, nctx);
  if (!rc) rc = tf_text_set(&e->cont[i], " ", 1);
  if (!rc) rc = tf_text_append(&e->cont[i], choice, nchoice);
  return rc;
}

/* lambada_openai: context = text up to its last " ", continuation = " " + the last word
 * (text.split(' ') joined back). */
static int build_lambada(const struct where *w, json_t *o, struct example_text *e,
                         struct tf_error *err) {
  const char *t;
  size_t n, cut = 0;
  int rc = get_str(w, o, "text", &t, &n, err);
  if (rc) return rc;
  for (size_t i = 0; i < n; i++)
    if (t[i] == ' ') cut = i + 1;
  e->n = 1;
  rc = tf_text_set(&e->ctx[0], t, cut ? cut - 1 : 0);
  if (!rc) rc = tf_text_set(&e->cont[0], " ", 1);
  if (!rc) rc = tf_text_append(&e->cont[0], t + cut, n - cut);
  return rc ? tf_error_set(err, TF_ENOMEM, "out of memory") : TF_OK;
}

/* hellaswag: preprocess(activity_label + ": " + ctx_a + " " + ctx_b.capitalize()); choices
 * preprocess(ending). */
static int build_hellaswag(const struct where *w, json_t *o, struct example_text *e,
                           struct tf_error *err) {
  const char *act, *a, *b;
  size_t nact, na, nb;
  long gold;
  int rc = get_str(w, o, "activity_label", &act, &nact, err);
  if (!rc) rc = get_str(w, o, "ctx_a", &a, &na, err);
  if (!rc) rc = get_str(w, o, "ctx_b", &b, &nb, err);
  if (!rc) rc = get_label(w, o, "label", &gold, err);
  if (rc) return rc;
  json_t *ends = json_object_get(o, "endings");
  if (!ends) return bad(w, err, "missing field", "endings");
  if (!json_is_array(ends)) return bad(w, err, "not an array: field", "endings");
  size_t n = json_array_size(ends);
  if (n == 0) return bad(w, err, "empty choice list", "endings");
  if (n > MAX_CHOICES) return bad(w, err, "more than 64 choices", "endings");
  struct tf_text raw = {0}, query = {0}, choice = {0};
  rc = tf_text_append(&raw, act, nact);
  if (!rc) rc = tf_text_append(&raw, ": ", 2);
  if (!rc) rc = tf_text_append(&raw, a, na);
  if (!rc) rc = tf_text_append(&raw, " ", 1);
  if (!rc) rc = tf_text_capitalize(&raw, b, nb);
  if (!rc) rc = tf_text_hellaswag(&query, raw.s, raw.n);
  for (size_t i = 0; !rc && i < n; i++) {
    json_t *v = json_array_get(ends, i);
    if (!json_is_string(v)) {
      rc = bad(w, err, "not a string: an element of", "endings");
      break;
    }
    rc = tf_text_hellaswag(&choice, json_string_value(v), json_string_length(v));
    if (!rc) rc = add_choice(e, query.s, query.n, choice.s, choice.n);
  }
  if (rc == TF_ENOMEM) rc = tf_error_set(err, TF_ENOMEM, "out of memory");
  tf_text_free(&raw);
  tf_text_free(&query);
  tf_text_free(&choice);
  e->gold = (int)gold;
  return rc ? rc : check_gold(w, gold, e->n, "label", err);
}

/* "Question: {q}\nAnswer:" into t. */
static int question(struct tf_text *t, const char *q, size_t n) {
  int rc = tf_text_set(t, "Question: ", 10);
  if (!rc) rc = tf_text_append(t, q, n);
  if (!rc) rc = tf_text_append(t, "\nAnswer:", 8);
  return rc;
}

static int build_piqa(const struct where *w, json_t *o, struct example_text *e,
                      struct tf_error *err) {
  const char *goal, *s1, *s2;
  size_t ng, n1, n2;
  long gold;
  int rc = get_str(w, o, "goal", &goal, &ng, err);
  if (!rc) rc = get_str(w, o, "sol1", &s1, &n1, err);
  if (!rc) rc = get_str(w, o, "sol2", &s2, &n2, err);
  if (!rc) rc = get_label(w, o, "label", &gold, err);
  if (rc) return rc;
  struct tf_text q = {0};
  rc = question(&q, goal, ng);
  if (!rc) rc = add_choice(e, q.s, q.n, s1, n1);
  if (!rc) rc = add_choice(e, q.s, q.n, s2, n2);
  tf_text_free(&q);
  if (rc) return tf_error_set(err, TF_ENOMEM, "out of memory");
  e->gold = (int)gold;
  return check_gold(w, gold, 2, "label", err);
}

/* arc: choices.text after the question; gold = choices.label.index(answerKey). */
static int build_arc(const struct where *w, json_t *o, struct example_text *e,
                     struct tf_error *err) {
  const char *qs, *key;
  size_t nq, nkey;
  int rc = get_str(w, o, "question", &qs, &nq, err);
  if (!rc) rc = get_str(w, o, "answerKey", &key, &nkey, err);
  if (rc) return rc;
  json_t *ch = json_object_get(o, "choices");
  if (!ch) return bad(w, err, "missing field", "choices");
  json_t *text = json_object_get(ch, "text"), *label = json_object_get(ch, "label");
  if (!json_is_array(text)) return bad(w, err, "missing or not an array: field", "choices.text");
  if (!json_is_array(label)) return bad(w, err, "missing or not an array: field", "choices.label");
  size_t n = json_array_size(text);
  if (n == 0) return bad(w, err, "empty choice list", "choices.text");
  if (n > MAX_CHOICES) return bad(w, err, "more than 64 choices", "choices.text");
  if (json_array_size(label) != n)
    return bad(w, err, "choices.text and choices.label differ in length:", NULL);
  e->gold = -1;
  for (size_t i = 0; i < n; i++) {
    json_t *t = json_array_get(text, i), *l = json_array_get(label, i);
    if (!json_is_string(t)) return bad(w, err, "not a string: an element of", "choices.text");
    if (!json_is_string(l)) return bad(w, err, "not a string: an element of", "choices.label");
    if (e->gold < 0 && json_string_length(l) == nkey &&
        memcmp(json_string_value(l), key, nkey) == 0)
      e->gold = (int)i;
  }
  if (e->gold < 0)
    return tf_error_set(err, TF_EDATA, "%s:%lld: answerKey \"%s\" is not in choices.label", w->path,
                        (long long)w->line, key);
  struct tf_text q = {0};
  rc = question(&q, qs, nq);
  for (size_t i = 0; !rc && i < n; i++) {
    json_t *t = json_array_get(text, i);
    rc = add_choice(e, q.s, q.n, json_string_value(t), json_string_length(t));
  }
  tf_text_free(&q);
  return rc ? tf_error_set(err, TF_ENOMEM, "out of memory") : TF_OK;
}

/* winogrande, partial evaluation: per option the context is the sentence up to the first "_"
 * with the option in its place; the shared continuation is " " + the rest, stripped. acc_norm
 * is not reported; the lengths are the contexts'. */
static int build_winogrande(const struct where *w, json_t *o, struct example_text *e,
                            struct tf_error *err) {
  const char *s, *opt[2];
  size_t n, nopt[2];
  long ans;
  int rc = get_str(w, o, "sentence", &s, &n, err);
  if (!rc) rc = get_str(w, o, "option1", &opt[0], &nopt[0], err);
  if (!rc) rc = get_str(w, o, "option2", &opt[1], &nopt[1], err);
  if (!rc) rc = get_label(w, o, "answer", &ans, err);
  if (rc) return rc;
  const char *blank = memchr(s, '_', n);
  if (!blank) return bad(w, err, "no \"_\" in field", "sentence");
  size_t idx = (size_t)(blank - s), start, len = tf_text_strip(blank + 1, n - idx - 1, &start);
  for (int i = 0; !rc && i < 2; i++) {
    e->n++;
    rc = tf_text_set(&e->ctx[i], s, idx);
    if (!rc) rc = tf_text_append(&e->ctx[i], opt[i], nopt[i]);
    if (!rc) rc = tf_text_set(&e->cont[i], " ", 1);
    if (!rc) rc = tf_text_append(&e->cont[i], blank + 1 + start, len);
    e->choice_len[i] = tf_text_codepoints(e->ctx[i].s, e->ctx[i].n);
  }
  if (rc) return tf_error_set(err, TF_ENOMEM, "out of memory");
  if (ans != 1 && ans != 2)
    return tf_error_set(err, TF_EDATA, "%s:%lld: answer is %ld, expected 1 or 2", w->path,
                        (long long)w->line, ans);
  e->gold = (int)ans - 1;
  return TF_OK;
}

typedef int (*build_fn)(const struct where *, json_t *, struct example_text *, struct tf_error *);
static const build_fn builders[TF_NTASKS] = {build_lambada, build_hellaswag, build_piqa,
                                             build_arc,     build_arc,       build_winogrande};

/* Room for one more example and its n requests. */
static int reserve(struct tf_task_set *s, int *cap_ex, int *cap_req, int n) {
  if (s->n_examples == *cap_ex) {
    int cap = *cap_ex ? 2 * *cap_ex : 256;
    struct tf_task_example *ex = realloc(s->ex, (size_t)cap * sizeof *ex);
    if (!ex) return TF_ENOMEM;
    s->ex = ex;
    *cap_ex = cap;
  }
  if (s->n_requests + n > *cap_req) {
    int cap = *cap_req ? 2 * *cap_req : 1024;
    while (cap < s->n_requests + n) cap *= 2;
    struct tf_task_request *req = realloc(s->req, (size_t)cap * sizeof *req);
    double *len = req ? realloc(s->choice_len, (size_t)cap * sizeof *len) : NULL;
    if (req) s->req = req;
    if (len) s->choice_len = len;
    if (!req || !len) return TF_ENOMEM;
    *cap_req = cap;
  }
  return TF_OK;
}

/* Appends ids[0..n) to the pool. */
static int pool_add(struct tf_ids *pool, const int32_t *ids, size_t n, struct tf_error *err) {
  if (pool->cap - pool->n < n) {
    size_t cap = pool->cap ? pool->cap : 4096;
    while (cap - pool->n < n) cap *= 2;
    int32_t *v = realloc(pool->v, cap * sizeof *v);
    if (!v) return tf_error_set(err, TF_ENOMEM, "out of memory: %zu token ids", cap);
    pool->v = v;
    pool->cap = cap;
  }
  memcpy(pool->v + pool->n, ids, n * sizeof *ids);
  pool->n += n;
  return TF_OK;
}

/* The harness's encoding of (ctx, cont): an empty context is the end-of-text token (a byte
 * model's stand-in: "\n") with cont encoded alone; otherwise the context's trailing whitespace
 * moves to the continuation, and the continuation's ids are those of encode(ctx + cont) after
 * the first len(encode(ctx)). */
static int encode_pair(struct tf_task_set *s, struct tf_task_request *r,
                       const struct tf_tokenizer *tok, const struct tf_text *ctx,
                       const struct tf_text *cont, struct tf_ids *a, struct tf_ids *b,
                       struct tf_text *whole, struct tf_error *err) {
  a->n = b->n = 0;
  int rc;
  r->ids = s->pool.n;
  if (ctx->n == 0) {
    int32_t eot = tf_tokenizer_eos(tok) >= 0 ? tf_tokenizer_eos(tok) : '\n';
    if ((rc = tf_tokenizer_encode(tok, cont->s, cont->n, 0, b, err))) return rc;
    r->n_ctx = 1;
    r->n_cont = (int)b->n;
    rc = pool_add(&s->pool, &eot, 1, err);
    return rc ? rc : pool_add(&s->pool, b->v, b->n, err);
  }
  size_t k = tf_text_rstrip_len(ctx->s, ctx->n);
  if (k == 0) return tf_error_set(err, TF_EDATA, "the context is only whitespace");
  rc = tf_text_set(whole, ctx->s, ctx->n);
  if (!rc) rc = tf_text_append(whole, cont->s, cont->n);
  if (rc) return tf_error_set(err, TF_ENOMEM, "out of memory");
  if ((rc = tf_tokenizer_encode(tok, ctx->s, k, 0, a, err))) return rc;
  if ((rc = tf_tokenizer_encode(tok, whole->s, whole->n, 0, b, err))) return rc;
  size_t skip = a->n < b->n ? a->n : b->n;
  r->n_ctx = (int)a->n;
  r->n_cont = (int)(b->n - skip);
  rc = pool_add(&s->pool, a->v, a->n, err);
  return rc ? rc : pool_add(&s->pool, b->v + skip, b->n - skip, err);
}

/* Turns the example's texts into requests appended to s. */
static int add_example(struct tf_task_set *s, const struct example_text *e, const struct where *w,
                       const struct tf_tokenizer *tok, int seq_len, struct tf_ids *a,
                       struct tf_ids *b, struct tf_text *whole, struct tf_error *err) {
  struct tf_task_example *x = &s->ex[s->n_examples];
  *x = (struct tf_task_example){
      .line = w->line, .first = s->n_requests, .n_choices = e->n, .gold = e->gold};
  for (int i = 0; i < e->n; i++) {
    struct tf_task_request *r = &s->req[s->n_requests];
    *r = (struct tf_task_request){0};
    int rc = encode_pair(s, r, tok, &e->ctx[i], &e->cont[i], a, b, whole, err);
    if (rc) return tf_error_prefix(err, "%s:%lld: choice %d", w->path, (long long)w->line, i);
    if (r->n_cont > seq_len)
      return tf_error_set(err, TF_EDATA,
                          "%s:%lld: choice %d: the continuation is %d tokens, longer than the "
                          "model's seq_len %d",
                          w->path, (long long)w->line, i, r->n_cont, seq_len);
    int total = r->n_ctx + r->n_cont, input = (total < seq_len + 1 ? total : seq_len + 1) - 1;
    if (input > s->max_input) s->max_input = input;
    s->choice_len[s->n_requests++] = (double)e->choice_len[i];
  }
  s->n_examples++;
  return TF_OK;
}

/* One line: JSON object -> texts -> requests. */
static int read_line(struct tf_task_set *s, const char *line, size_t n, const struct where *w,
                     const struct tf_tokenizer *tok, int seq_len, int *cap_ex, int *cap_req,
                     struct tf_ids *a, struct tf_ids *b, struct tf_text *whole,
                     struct tf_error *err) {
  json_error_t je;
  json_t *o = json_loadb(line, n, 0, &je);
  if (!o) return bad(w, err, je.text, NULL);
  struct example_text e;
  memset(&e, 0, sizeof e);
  int rc =
      json_is_object(o) ? builders[s->kind](w, o, &e, err) : bad(w, err, "not a JSON object", NULL);
  if (!rc && reserve(s, cap_ex, cap_req, e.n))
    rc = tf_error_set(err, TF_ENOMEM, "out of memory at example %d", s->n_examples + 1);
  if (!rc) rc = add_example(s, &e, w, tok, seq_len, a, b, whole, err);
  example_text_free(&e);
  json_decref(o);
  return rc;
}

static int blank(const char *s, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\n') return 0;
  return 1;
}

int tf_task_load(struct tf_task_set *s, enum tf_task_kind kind, const char *path, long limit,
                 const struct tf_tokenizer *tok, int seq_len, struct tf_error *err) {
  memset(s, 0, sizeof *s);
  s->kind = kind;
  int is_stdin = strcmp(path, "-") == 0;
  struct where w = {is_stdin ? "<stdin>" : path, 0};
  FILE *f = is_stdin ? stdin : fopen(path, "rb");
  if (!f) return tf_error_set(err, TF_ENOINPUT, "%s: cannot open: %s", path, strerror(errno));
  char *line = NULL;
  size_t cap = 0;
  ssize_t n;
  int rc = TF_OK, cap_ex = 0, cap_req = 0;
  struct tf_ids a = {0}, b = {0};
  struct tf_text whole = {0};
  while (!rc && (limit <= 0 || s->n_examples < limit) && (n = getline(&line, &cap, f)) >= 0) {
    w.line++;
    if (!blank(line, (size_t)n))
      rc = read_line(s, line, (size_t)n, &w, tok, seq_len, &cap_ex, &cap_req, &a, &b, &whole, err);
  }
  if (!rc && ferror(f))
    rc = tf_error_set(err, TF_EIO, "%s: read error: %s", w.path, strerror(errno));
  if (!rc && s->n_examples == 0) rc = tf_error_set(err, TF_EDATA, "%s: no examples", w.path);
  free(line);
  tf_ids_free(&a);
  tf_ids_free(&b);
  tf_text_free(&whole);
  if (!is_stdin) fclose(f);
  if (rc) tf_task_free(s);
  return rc;
}

void tf_task_free(struct tf_task_set *s) {
  free(s->ex);
  free(s->req);
  free(s->choice_len);
  tf_ids_free(&s->pool);
  memset(s, 0, sizeof *s);
}
