/* net.h: the whole network's forward and backward and their activation buffers (net.c).
 * Internal to the library and its tests; programs get struct tf_acts opaque (tokenformer.h). */
#ifndef TF_NET_H
#define TF_NET_H

#include "tokenformer.h"

/* What the backward of one Pattention needs from its forward. R = B*T rows. */
struct tf_pattn_acts {
  float *cache; /* (R, n) Z (l2_norm_gelu), A (gelu_l2_norm) or S (softmax) */
  float *rnorm; /* (R) row norms */
};

/* One layer's activations, kept by the forward for the backward. */
struct tf_layer_acts {
  float *h, *rstd1; /* (R, d), (R): LN0 of the residual before attention */
  struct tf_pattn_acts p[TF_NSLOTS];
  float *q, *k, *v;  /* (R, d) each; q and k after RoPE */
  float *lse;        /* (B, H, T) log-sum-exp of each attention row */
  float *a;          /* (R, d) attention output, the input of proj */
  float *h2, *rstd2; /* (R, d), (R): LN0 of the residual before the FFN */
};

/* Every activation buffer of the network for up to B sequences of up to T positions,
 * allocated once (llm.c style). A forward may use any B' <= B, T' <= T. */
struct tf_acts {
  int B, T, L;                 /* capacity, and the config's layers */
  int cur_B, cur_T;            /* the shape of the last forward */
  int has_targets;             /* the last forward computed the loss */
  struct tf_layer_acts *layer; /* (L) */
  float *x;                    /* (R, d) residual stream: the embedding, updated in place */
  float *y, *mean, *rstd;      /* final LayerNorm: (R, d), (R), (R) */
  float *logits;               /* (R, V) after the forward; the backward turns it into dlogits */
  float *losses, *lse;         /* (R) per-token loss and log-sum-exp */
  int32_t *inputs, *targets;   /* (R) copies of the last forward's */
  float *rope_cos, *rope_sin;  /* (T, r/2), r = tf_model_config_rotary_dims */
  float *pattn_scratch;        /* (2 R n_max) */
  float *att_scratch;          /* (att_slots, tf_attn_scratch_floats(T, d / H)) */
  int att_slots;               /* min(B H, threads when made): attention's threads at most */
  float *dres, *dh, *dq, *dk, *dv, *da; /* (R, d) gradients in flight */
  float *mem;                           /* the one float allocation all of the above point into */
  size_t n_floats;
};

/* Allocates the activations of a in place (tf_acts_create without the allocation of a itself);
 * tf_acts_release frees what it holds and zeroes it (safe after a failed init). */
int tf_acts_init(struct tf_acts *a, const struct tf_model_config *c, int B, int T,
                 struct tf_error *err);
void tf_acts_release(struct tf_acts *a);

/* Bytes of the activations of batch B x length T for config c (what tf_acts_init would
 * allocate), INFINITY when the size overflows or B x T is out of range. Allocates nothing
 * large. */
double tf_acts_bytes(const struct tf_model_config *c, int B, int T);

/* The forward of docs/model.md §2.1 on inputs (B, T) (token ids must be in [0, V)): leaves logits
 * (B, T, V) in a->logits and returns the mean cross-entropy over the B*T positions against
 * targets (B, T); 0 when targets is NULL, NaN (and nothing done) unless 1 <= B <= a->B and
 * 1 <= T <= a->T. Same inputs and thread count give the same bits. */
float tf_net_forward(const struct tf_model *m, struct tf_acts *a, const int32_t *inputs,
                     const int32_t *targets, int B, int T);
/* The backward of the last forward: adds the gradient of its mean loss to a gradient block
 * through g (tf_view_point on that block). Callers zero the block once per step;
 * a->logits is overwritten with dlogits. Does nothing after a forward without targets or a
 * second time after one forward. */
void tf_net_backward(const struct tf_model *m, struct tf_acts *a, const struct tf_view *g);

#endif
