/* pickle.c: a restricted pickle machine for the state dicts torch.save writes, and the
 * matching writer (docs/official.md §3). Unlike Python's unpickler it calls nothing: a global
 * is one of a fixed list of names turned into inert values, and a reduce is allowed only of
 * those, so a hostile file can at worst be refused. Memory is bounded by the pickle's size
 * (one value per opcode at most) and nesting by TF_PICKLE_MAX_DEPTH. */
#include <stdarg.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "st_internal.h"
#include "torch_internal.h"

#define NAMEBUF 120

enum vtype {
  V_NONE,
  V_BOOL,
  V_INT,
  V_FLOAT,
  V_STR,
  V_TUPLE,
  V_LIST,
  V_DICT,
  V_GLOBAL,
  V_STORAGE,
  V_TENSOR
};
static const char *const vtype_name[] = {"None", "bool", "int",    "float",   "str",   "tuple",
                                         "list", "dict", "global", "storage", "tensor"};

/* The globals a state dict may name. */
enum global {
  G_ORDERED_DICT,
  G_REBUILD_V2,
  G_REBUILD_PARAM,
  G_FLOAT_ST,
  G_HALF_ST,
  G_BF16_ST,
  G_SIZE,
  G_SET,
  G_SET2,
  G_N
};
static const char *const global_name[G_N][2] = {
    [G_ORDERED_DICT] = {"collections", "OrderedDict"},
    [G_REBUILD_V2] = {"torch._utils", "_rebuild_tensor_v2"},
    [G_REBUILD_PARAM] = {"torch._utils", "_rebuild_parameter"},
    [G_FLOAT_ST] = {"torch", "FloatStorage"},
    [G_HALF_ST] = {"torch", "HalfStorage"},
    [G_BF16_ST] = {"torch", "BFloat16Storage"},
    [G_SIZE] = {"torch", "Size"},
    [G_SET] = {"builtins", "set"},
    [G_SET2] = {"__builtin__", "set"},
};

struct val {
  uint8_t type, depth;
  int32_t n, cap; /* items (a dict: 2n, key then value), or a string's length */
  union {
    int64_t i;
    double f;
    const char *s;
    int32_t *items;
    int32_t ref; /* V_GLOBAL: enum global; V_STORAGE, V_TENSOR: index */
  } u;
};

struct storage {
  const char *key;
  int32_t key_len;
  enum tf_dtype dtype;
  int64_t numel;
};

struct vm {
  const unsigned char *p;
  size_t n, pos;
  struct val *v;
  size_t nv, capv;
  int32_t *stack;
  size_t sp, capsp;
  size_t *marks;
  size_t nmarks, capmarks;
  int32_t *memo;
  size_t nmemo, memo_used; /* capacity; highest index set + 1 (MEMOIZE's next index) */
  struct storage *st;
  size_t nst, capst;
  struct tf_pt_tensor *t;
  size_t nt, capt;
  struct tf_error *err;
};

__attribute__((format(printf, 2, 3))) static int fail(struct vm *m, const char *fmt, ...) {
  char msg[400];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  return tf_error_set(m->err, TF_EDATA, "data.pkl: %s (at byte %zu)", msg, m->pos);
}

/* Makes room for need elements of size elem in *p (capacity *cap). */
static int grow(void *pp, size_t *cap, size_t need, size_t elem) {
  void **p = pp;
  if (need <= *cap) return 0;
  size_t c = *cap ? *cap : 16;
  while (c < need) c *= 2;
  void *q = realloc(*p, c * elem);
  if (!q) return -1;
  *p = q;
  *cap = c;
  return 0;
}

static int oom(struct vm *m) {
  return tf_error_set(m->err, TF_ENOMEM, "data.pkl: out of memory");
}

/* A new value; returns its index or -1 (error set). */
static int32_t new_val(struct vm *m, int type) {
  if (grow(&m->v, &m->capv, m->nv + 1, sizeof *m->v)) return oom(m), -1;
  memset(&m->v[m->nv], 0, sizeof *m->v);
  m->v[m->nv].type = (uint8_t)type;
  return (int32_t)m->nv++;
}

static int push(struct vm *m, int32_t i) {
  if (i < 0) return m->err->code;
  if (grow(&m->stack, &m->capsp, m->sp + 1, sizeof *m->stack)) return oom(m);
  m->stack[m->sp++] = i;
  return TF_OK;
}

/* The stack's bottom for the current frame: items above the last mark (or all). */
static size_t floor_sp(const struct vm *m) {
  return m->nmarks ? m->marks[m->nmarks - 1] : 0;
}

static int pop(struct vm *m, int32_t *i) {
  if (m->sp <= floor_sp(m)) return fail(m, "stack underflow");
  *i = m->stack[--m->sp];
  return TF_OK;
}

/* Adds item to container c, keeping the nesting depth bounded. */
static int add_item(struct vm *m, int32_t c, int32_t item) {
  struct val *v = &m->v[c];
  size_t cap = (size_t)v->cap;
  if (grow(&v->u.items, &cap, (size_t)v->n + 1, sizeof *v->u.items)) return oom(m);
  v->cap = (int32_t)cap;
  v->u.items[v->n++] = item;
  if (m->v[item].depth + 1 > v->depth) v->depth = (uint8_t)(m->v[item].depth + 1);
  if (v->depth > TF_PICKLE_MAX_DEPTH)
    return tf_error_set(m->err, TF_EDATA,
                        "data.pkl: containers nested deeper than %d (at byte %zu): refused",
                        TF_PICKLE_MAX_DEPTH, m->pos);
  return TF_OK;
}

/* A tuple or list of the top k stack items (k < 0: down to the last mark, which is
 * dropped). */
static int collect(struct vm *m, int type, int k) {
  size_t lo;
  if (k < 0) {
    if (!m->nmarks) return fail(m, "no mark to build a %s from", vtype_name[type]);
    lo = m->marks[--m->nmarks];
  } else {
    if (m->sp - floor_sp(m) < (size_t)k) return fail(m, "stack underflow");
    lo = m->sp - (size_t)k;
  }
  int32_t c = new_val(m, type);
  if (c < 0) return m->err->code;
  for (size_t i = lo; i < m->sp; i++) {
    int rc = add_item(m, c, m->stack[i]);
    if (rc) return rc;
  }
  m->sp = lo;
  return push(m, c);
}

/* APPEND(S) and SETITEM(S): the items above the mark (or the top one or two) go into the
 * container below them. */
static int fill(struct vm *m, int want, int marked) {
  size_t lo = m->sp;
  if (marked) {
    if (!m->nmarks) return fail(m, "no mark");
    lo = m->marks[--m->nmarks];
  } else {
    lo = m->sp >= (size_t)(want == V_DICT ? 2 : 1) ? m->sp - (want == V_DICT ? 2 : 1) : 0;
  }
  if (lo <= floor_sp(m) || lo > m->sp) return fail(m, "stack underflow");
  int32_t c = m->stack[lo - 1];
  if (m->v[c].type != want)
    return fail(m, "items added to a %s, expected a %s", vtype_name[m->v[c].type],
                vtype_name[want]);
  if (want == V_DICT && (m->sp - lo) % 2) return fail(m, "odd number of dict items");
  for (size_t i = lo; i < m->sp; i++) {
    int rc = add_item(m, c, m->stack[i]);
    if (rc) return rc;
  }
  m->sp = lo;
  return TF_OK;
}

static int str_is(const struct val *v, const char *s) {
  return v->type == V_STR && (size_t)v->n == strlen(s) && !memcmp(v->u.s, s, (size_t)v->n);
}

static const char *shown(char *out, const char *s, size_t n) {
  return tf_escape(out, NAMEBUF, s, n);
}

/* GLOBAL and STACK_GLOBAL: one of the known names, else refused naming it. */
static int global(struct vm *m, const char *mod, size_t ml, const char *name, size_t nl) {
  for (int g = 0; g < G_N; g++)
    if (strlen(global_name[g][0]) == ml && !memcmp(global_name[g][0], mod, ml) &&
        strlen(global_name[g][1]) == nl && !memcmp(global_name[g][1], name, nl)) {
      int32_t v = new_val(m, V_GLOBAL);
      if (v >= 0) m->v[v].u.ref = g;
      return push(m, v);
    }
  char a[NAMEBUF], b[NAMEBUF];
  return fail(m,
              "global %s.%s is not allowed: this reader only rebuilds the tensors of a state "
              "dict and never runs code from a file",
              shown(a, mod, ml), shown(b, name, nl));
}

static int op_global(struct vm *m) {
  const unsigned char *p = m->p + m->pos, *end = m->p + m->n;
  const unsigned char *nl1 = memchr(p, '\n', (size_t)(end - p));
  const unsigned char *nl2 = nl1 ? memchr(nl1 + 1, '\n', (size_t)(end - nl1 - 1)) : NULL;
  if (!nl2) return fail(m, "GLOBAL without two lines");
  m->pos = (size_t)(nl2 + 1 - m->p);
  return global(m, (const char *)p, (size_t)(nl1 - p), (const char *)nl1 + 1,
                (size_t)(nl2 - nl1 - 1));
}

static int op_stack_global(struct vm *m) {
  int32_t a = 0, b = 0;
  int rc = pop(m, &b);
  if (!rc) rc = pop(m, &a);
  if (rc) return rc;
  if (m->v[a].type != V_STR || m->v[b].type != V_STR)
    return fail(m, "STACK_GLOBAL of a non-string");
  return global(m, m->v[a].u.s, (size_t)m->v[a].n, m->v[b].u.s, (size_t)m->v[b].n);
}

/* Little-endian unsigned integer of k bytes at the cursor (checked to be there). */
static int arg(struct vm *m, int k, uint64_t *out) {
  if (m->n - m->pos < (size_t)k) return fail(m, "truncated opcode argument");
  uint64_t x = 0;
  for (int i = k - 1; i >= 0; i--) x = x << 8 | m->p[m->pos + (size_t)i];
  m->pos += (size_t)k;
  *out = x;
  return TF_OK;
}

static int push_int(struct vm *m, int64_t x) {
  int32_t v = new_val(m, V_INT);
  if (v >= 0) m->v[v].u.i = x;
  return push(m, v);
}

static int op_int(struct vm *m, int k, int is_signed) {
  uint64_t x = 0;
  int rc = arg(m, k, &x);
  if (rc) return rc;
  return push_int(m, is_signed ? (int64_t)(int32_t)(uint32_t)x : (int64_t)x);
}

/* LONG1: a two's-complement little-endian integer of up to 8 bytes. */
static int op_long1(struct vm *m) {
  uint64_t len = 0, x = 0;
  int rc = arg(m, 1, &len);
  if (rc) return rc;
  if (len > 8) return fail(m, "integer wider than 64 bits");
  if (len == 0) return push_int(m, 0);
  if ((rc = arg(m, (int)len, &x))) return rc;
  if (len < 8 && x >> (8 * len - 1)) x |= ~(uint64_t)0 << (8 * len);
  return push_int(m, (int64_t)x);
}

static int op_float(struct vm *m) {
  uint64_t x = 0;
  if (m->n - m->pos < 8) return fail(m, "truncated float");
  for (int i = 0; i < 8; i++) x = x << 8 | m->p[m->pos++]; /* big-endian */
  int32_t v = new_val(m, V_FLOAT);
  if (v >= 0) memcpy(&m->v[v].u.f, &x, sizeof x);
  return push(m, v);
}

static int op_str(struct vm *m, int k) {
  uint64_t len = 0;
  int rc = arg(m, k, &len);
  if (rc) return rc;
  if (len > m->n - m->pos) return fail(m, "string runs past the end");
  int32_t v = new_val(m, V_STR);
  if (v >= 0) m->v[v].u.s = (const char *)m->p + m->pos, m->v[v].n = (int32_t)len;
  m->pos += (size_t)len;
  return push(m, v);
}

static int memo_put(struct vm *m, uint64_t idx) {
  if (m->sp == 0) return fail(m, "memo of an empty stack");
  if (idx > m->n) return fail(m, "memo index out of range");
  if (idx >= m->nmemo) {
    size_t cap = m->nmemo;
    if (grow(&m->memo, &cap, (size_t)idx + 1, sizeof *m->memo)) return oom(m);
    for (size_t i = m->nmemo; i < cap; i++) m->memo[i] = -1;
    m->nmemo = cap;
  }
  m->memo[idx] = m->stack[m->sp - 1];
  if (idx >= m->memo_used) m->memo_used = (size_t)idx + 1;
  return TF_OK;
}

static int memo_get(struct vm *m, uint64_t idx) {
  if (idx >= m->nmemo || m->memo[idx] < 0) return fail(m, "memo entry never set");
  return push(m, m->memo[idx]);
}

/* ---------------------------------------------------------------- tensors */

static int is_int(const struct val *v) {
  return v->type == V_INT || v->type == V_BOOL;
}

/* ('storage', <storage type>, key, location, numel) */
static int op_persid(struct vm *m) {
  int32_t pid = 0;
  int rc = pop(m, &pid);
  if (rc) return rc;
  const struct val *t = &m->v[pid];
  const int32_t *it = t->u.items;
  if (t->type != V_TUPLE || t->n != 5 || !str_is(&m->v[it[0]], "storage") ||
      m->v[it[1]].type != V_GLOBAL || m->v[it[2]].type != V_STR || m->v[it[3]].type != V_STR ||
      m->v[it[4]].type != V_INT || m->v[it[4]].u.i < 0)
    return fail(m, "persistent id is not ('storage', type, key, location, numel) as torch.save "
                   "writes it");
  int g = m->v[it[1]].u.ref;
  if (g != G_FLOAT_ST && g != G_HALF_ST && g != G_BF16_ST)
    return fail(m, "storage of type %s.%s: only FloatStorage, HalfStorage, BFloat16Storage",
                global_name[g][0], global_name[g][1]);
  if (grow(&m->st, &m->capst, m->nst + 1, sizeof *m->st)) return oom(m);
  m->st[m->nst] = (struct storage){m->v[it[2]].u.s, m->v[it[2]].n,
                                   g == G_FLOAT_ST  ? TF_F32
                                   : g == G_HALF_ST ? TF_F16
                                                    : TF_BF16,
                                   m->v[it[4]].u.i};
  int32_t v = new_val(m, V_STORAGE);
  if (v >= 0) m->v[v].u.ref = (int32_t)m->nst++;
  return push(m, v);
}

/* A tuple of at most TF_ST_MAX_DIMS non-negative integers into out; its length or -1. */
static int int_tuple(const struct vm *m, int32_t i, int64_t *out) {
  const struct val *t = &m->v[i];
  if (t->type != V_TUPLE || t->n > TF_ST_MAX_DIMS) return -1;
  for (int k = 0; k < t->n; k++) {
    const struct val *x = &m->v[t->u.items[k]];
    if (!is_int(x) || x->u.i < 0) return -1;
    out[k] = x->u.i;
  }
  return t->n;
}

/* The view must lie inside its storage: offset + sum (size_i - 1) stride_i < numel. */
static int view_fits(const struct tf_pt_tensor *t) {
  uint64_t last = (uint64_t)t->offset, span;
  for (int k = 0; k < t->ndim; k++) {
    if (t->shape[k] == 0) return 1;
    if (__builtin_mul_overflow((uint64_t)(t->shape[k] - 1), (uint64_t)t->stride[k], &span) ||
        __builtin_add_overflow(last, span, &last))
      return 0;
  }
  return last < (uint64_t)t->storage_numel;
}

/* _rebuild_tensor_v2(storage, offset, size, stride, requires_grad, hooks[, metadata]) */
static int rebuild_tensor(struct vm *m, const struct val *args) {
  const int32_t *a = args->u.items;
  struct tf_pt_tensor t = {0};
  if (args->n < 6 || args->n > 7 || m->v[a[0]].type != V_STORAGE || m->v[a[1]].type != V_INT ||
      m->v[a[1]].u.i < 0)
    return fail(m, "_rebuild_tensor_v2 with arguments other than torch.save writes");
  const struct storage *s = &m->st[m->v[a[0]].u.ref];
  int nd = int_tuple(m, a[2], t.shape), ns = int_tuple(m, a[3], t.stride);
  if (nd < 0 || ns != nd)
    return fail(m, "tensor size and stride are not tuples of one length (at most 8)");
  t.ndim = nd;
  t.offset = m->v[a[1]].u.i;
  t.dtype = s->dtype;
  t.storage_numel = s->numel;
  if (!view_fits(&t))
    return fail(m, "a tensor view reaches past the end of its storage (offset, size, stride)");
  if (!(t.key = strndup(s->key, (size_t)s->key_len))) return oom(m);
  if (grow(&m->t, &m->capt, m->nt + 1, sizeof *m->t)) return free(t.key), oom(m);
  m->t[m->nt] = t;
  int32_t v = new_val(m, V_TENSOR);
  if (v >= 0) m->v[v].u.ref = (int32_t)m->nt++;
  return push(m, v);
}

static int op_reduce(struct vm *m) {
  int32_t fa = 0, fc = 0;
  int rc = pop(m, &fa);
  if (!rc) rc = pop(m, &fc);
  if (rc) return rc;
  const struct val *f = &m->v[fc], *args = &m->v[fa];
  if (f->type != V_GLOBAL)
    return fail(m, "REDUCE of a %s: only the allowed globals may be called", vtype_name[f->type]);
  if (args->type != V_TUPLE) return fail(m, "REDUCE arguments are not a tuple");
  const int32_t *a = args->u.items;
  switch (f->u.ref) {
  case G_ORDERED_DICT:
    if (args->n == 0) return push(m, new_val(m, V_DICT));
    break;
  case G_REBUILD_V2:
    return rebuild_tensor(m, args);
  case G_REBUILD_PARAM: /* (tensor, requires_grad, hooks): the tensor itself */
    if (args->n == 3 && m->v[a[0]].type == V_TENSOR) return push(m, a[0]);
    break;
  case G_SIZE: /* torch.Size((...)): the tuple */
    if (args->n == 1 && m->v[a[0]].type == V_TUPLE) return push(m, a[0]);
    break;
  case G_SET:
  case G_SET2: /* set([...]): the list */
    if (args->n == 0) return push(m, new_val(m, V_LIST));
    if (args->n == 1 && m->v[a[0]].type == V_LIST) return push(m, a[0]);
    break;
  default:
    break;
  }
  return fail(m, "REDUCE of %s.%s with arguments a state dict never has", global_name[f->u.ref][0],
              global_name[f->u.ref][1]);
}

/* ---------------------------------------------------------------- the machine */

static int step(struct vm *m, unsigned op, int *stop) {
  uint64_t x = 0;
  int rc;
  switch (op) {
  case 0x80:
    return arg(m, 1, &x) ? m->err->code : x > 5 ? fail(m, "pickle protocol above 5") : 0;
  case 0x95:
    return arg(m, 8, &x); /* FRAME: a length hint */
  case '.':
    *stop = 1;
    return TF_OK;
  case '(':
    if (grow(&m->marks, &m->capmarks, m->nmarks + 1, sizeof *m->marks)) return oom(m);
    m->marks[m->nmarks++] = m->sp;
    return TF_OK;
  case ')':
    return push(m, new_val(m, V_TUPLE));
  case ']':
    return push(m, new_val(m, V_LIST));
  case '}':
    return push(m, new_val(m, V_DICT));
  case 't':
    return collect(m, V_TUPLE, -1);
  case 'l':
    return collect(m, V_LIST, -1);
  case 0x85:
  case 0x86:
  case 0x87:
    return collect(m, V_TUPLE, (int)op - 0x84);
  case 'a':
    return fill(m, V_LIST, 0);
  case 'e':
    return fill(m, V_LIST, 1);
  case 's':
    return fill(m, V_DICT, 0);
  case 'u':
    return fill(m, V_DICT, 1);
  case 'N':
    return push(m, new_val(m, V_NONE));
  case 0x88:
  case 0x89:
    if ((rc = push_int(m, op == 0x88))) return rc;
    m->v[m->stack[m->sp - 1]].type = V_BOOL;
    return TF_OK;
  case 'J':
    return op_int(m, 4, 1);
  case 'K':
    return op_int(m, 1, 0);
  case 'M':
    return op_int(m, 2, 0);
  case 0x8a:
    return op_long1(m);
  case 'G':
    return op_float(m);
  case 'X':
  case 'T':
    return op_str(m, 4);
  case 0x8c:
  case 'U':
    return op_str(m, 1);
  case 0x8d:
    return op_str(m, 8);
  case 'c':
    return op_global(m);
  case 0x93:
    return op_stack_global(m);
  case 'q':
    return arg(m, 1, &x) ? m->err->code : memo_put(m, x);
  case 'r':
    return arg(m, 4, &x) ? m->err->code : memo_put(m, x);
  case 0x94:
    return memo_put(m, m->memo_used);
  case 'h':
    return arg(m, 1, &x) ? m->err->code : memo_get(m, x);
  case 'j':
    return arg(m, 4, &x) ? m->err->code : memo_get(m, x);
  case 'Q':
    return op_persid(m);
  case 'R':
    return op_reduce(m);
  case '0': {
    int32_t dropped;
    return pop(m, &dropped);
  }
  default: {
    char o[8];
    snprintf(o, sizeof o, "0x%02x", op);
    return fail(m,
                "opcode %s is not allowed in a state dict (objects, calls and extensions "
                "are refused)",
                o);
  }
  }
}

static int run(struct vm *m, int32_t *result) {
  int stop = 0, rc = TF_OK;
  while (!rc && !stop) {
    if (m->pos >= m->n) return fail(m, "ends without STOP");
    rc = step(m, m->p[m->pos++], &stop);
  }
  if (rc) return rc;
  if (m->sp != 1 || m->nmarks) return fail(m, "STOP with %s", m->sp ? "extra items" : "no value");
  *result = m->stack[0];
  return TF_OK;
}

/* The state dict: the top dict, or its "module" dict (DeepSpeed); every value a tensor. */
static int extract(struct vm *m, int32_t top, struct tf_pt_dict *out) {
  const struct val *d = &m->v[top];
  if (d->type != V_DICT) return fail(m, "the pickle holds a %s, not a dict", vtype_name[d->type]);
  for (int32_t i = 0; i < d->n; i += 2)
    if (str_is(&m->v[d->u.items[i]], "module") && m->v[d->u.items[i + 1]].type == V_DICT) {
      d = &m->v[d->u.items[i + 1]];
      out->nested = 1;
      break;
    }
  if (!(out->t = calloc((size_t)d->n / 2 + 1, sizeof *out->t))) return oom(m);
  for (int32_t i = 0; i < d->n; i += 2) {
    const struct val *k = &m->v[d->u.items[i]], *v = &m->v[d->u.items[i + 1]];
    char nb[NAMEBUF];
    if (k->type != V_STR)
      return fail(m, "a state dict key is a %s, not a str", vtype_name[k->type]);
    if (v->type != V_TENSOR)
      return fail(m, "state dict entry %s holds a %s, not a tensor",
                  shown(nb, k->u.s, (size_t)k->n), vtype_name[v->type]);
    struct tf_pt_tensor *t = &out->t[out->n];
    *t = m->t[v->u.ref];
    t->name = strndup(k->u.s, (size_t)k->n);
    t->key = strdup(t->key);
    if (!t->name || !t->key) return free(t->name), free(t->key), oom(m);
    out->n++;
  }
  return TF_OK;
}

int tf_pickle_state_dict(const void *p, size_t n, struct tf_pt_dict *out, struct tf_error *err) {
  struct tf_error local;
  struct vm m = {.p = p, .n = n, .err = err ? err : &local};
  memset(out, 0, sizeof *out);
  int32_t top = -1;
  int rc = n > TF_PICKLE_MAX_BYTES
               ? tf_error_set(m.err, TF_EDATA, "data.pkl: %zu bytes, more than the limit of %u", n,
                              TF_PICKLE_MAX_BYTES)
               : run(&m, &top);
  if (!rc) rc = extract(&m, top, out);
  for (size_t i = 0; i < m.nv; i++)
    if (m.v[i].type >= V_TUPLE && m.v[i].type <= V_DICT) free(m.v[i].u.items);
  for (size_t i = 0; i < m.nt; i++) free(m.t[i].key);
  free(m.v);
  free(m.stack);
  free(m.marks);
  free(m.memo);
  free(m.st);
  free(m.t);
  if (rc) tf_pt_dict_free(out);
  return rc;
}

void tf_pt_dict_free(struct tf_pt_dict *d) {
  for (size_t i = 0; d->t && i < d->n; i++) free(d->t[i].name), free(d->t[i].key);
  free(d->t);
  memset(d, 0, sizeof *d);
}

/* ---------------------------------------------------------------- writer */

struct out {
  char *p;
  size_t n, cap;
  int oom;
};

static void put(struct out *o, const void *p, size_t n) {
  if (o->oom || grow(&o->p, &o->cap, o->n + n, 1)) {
    o->oom = 1;
    return;
  }
  memcpy(o->p + o->n, p, n);
  o->n += n;
}

static void put_op(struct out *o, unsigned char op) {
  put(o, &op, 1);
}

static void put_str(struct out *o, const char *s) {
  size_t n = strlen(s);
  unsigned char h[5] = {'X', (unsigned char)n, (unsigned char)(n >> 8), (unsigned char)(n >> 16),
                        (unsigned char)(n >> 24)};
  put(o, h, 5);
  put(o, s, n);
}

/* BININT1, BININT2, BININT or LONG1 as the value needs (non-negative here). */
static void put_int(struct out *o, int64_t x) {
  unsigned char b[10];
  if (x < 256) {
    b[0] = 'K', b[1] = (unsigned char)x;
    put(o, b, 2);
  } else if (x < 65536) {
    b[0] = 'M', b[1] = (unsigned char)x, b[2] = (unsigned char)(x >> 8);
    put(o, b, 3);
  } else if (x < 0x80000000LL) {
    b[0] = 'J';
    for (int i = 0; i < 4; i++) b[1 + i] = (unsigned char)(x >> (8 * i));
    put(o, b, 5);
  } else {
    b[0] = 0x8a, b[1] = 8;
    for (int i = 0; i < 8; i++) b[2 + i] = (unsigned char)(x >> (8 * i));
    put(o, b, 10);
  }
}

static void put_global(struct out *o, enum global g) {
  put_op(o, 'c');
  put(o, global_name[g][0], strlen(global_name[g][0]));
  put_op(o, '\n');
  put(o, global_name[g][1], strlen(global_name[g][1]));
  put_op(o, '\n');
}

static void put_tuple(struct out *o, const int64_t *x, int n) {
  put_op(o, '(');
  for (int i = 0; i < n; i++) put_int(o, x[i]);
  put_op(o, 't');
}

/* name: _rebuild_tensor_v2((('storage', <type>, key, 'cpu', numel)), offset, size, stride,
 * False, OrderedDict()) */
static void put_tensor(struct out *o, const struct tf_pt_tensor *t) {
  put_str(o, t->name);
  put_global(o, G_REBUILD_V2);
  put_op(o, '(');
  put_op(o, '(');
  put_str(o, "storage");
  put_global(o, t->dtype == TF_F16 ? G_HALF_ST : t->dtype == TF_BF16 ? G_BF16_ST : G_FLOAT_ST);
  put_str(o, t->key);
  put_str(o, "cpu");
  put_int(o, t->storage_numel);
  put_op(o, 't');
  put_op(o, 'Q');
  put_int(o, t->offset);
  put_tuple(o, t->shape, t->ndim);
  put_tuple(o, t->stride, t->ndim);
  put_op(o, 0x89);
  put_global(o, G_ORDERED_DICT);
  put_op(o, ')');
  put_op(o, 'R');
  put_op(o, 't');
  put_op(o, 'R');
}

int tf_pickle_write_state_dict(const struct tf_pt_tensor *t, size_t n, char **out, size_t *len,
                               struct tf_error *err) {
  struct out o = {0};
  static const unsigned char proto[2] = {0x80, 2};
  put(&o, proto, 2);
  put_global(&o, G_ORDERED_DICT);
  put_op(&o, ')');
  put_op(&o, 'R');
  put_op(&o, '(');
  for (size_t i = 0; i < n; i++) put_tensor(&o, &t[i]);
  put_op(&o, 'u');
  put_op(&o, '.');
  if (o.oom) {
    free(o.p);
    return tf_error_set(err, TF_ENOMEM, "out of memory writing data.pkl");
  }
  *out = o.p;
  *len = o.n;
  return TF_OK;
}
