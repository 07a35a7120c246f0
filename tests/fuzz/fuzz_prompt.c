/* fuzz_prompt.c: libFuzzer harness of tf-generate's path from prompt bytes to sampled bytes
 * (lib/tok.c, lib/decode.c, lib/sample.c, the kernels under them) on three tiny models made
 * once with tf_model_create and tf_model_init, one per norm (and RoPE share). The first
 * OPT_BYTES bytes of the input choose the model and the sampling; the rest is the prompt,
 * made a context by tf_tok_bytes_context as tf-generate makes it (its last seq_len bytes, "\n"
 * when empty), or whole for tf_decode_prefill. A few bytes are then sampled and fed back, past
 * the context's end so that the window slides. Promises checked: the decoder accepts every
 * byte prompt, every sampled id is a byte (the greedy one the argmax), and the logits after the
 * last token match the full forward of the context the decoder holds. */
#include <math.h>

#include "fuzz.h"
#include "net.h"

#define N_BYTES   TF_BYTE_TOKENS /* as tf-generate */
#define SEQ       8
#define OPT_BYTES 7
#define MAX_GEN   20 /* sampled bytes at most: the window (SEQ) slides several times */
#define TOL       1e-4

struct tiny {
  struct tf_model m;
  struct tf_acts acts; /* the full forward of one context, for the comparison */
};

static struct tiny models[3];

/* The model of norm `norm`: V 256, d 16, L 2, H 2, seq SEQ, tokens 8/8/16. */
static void make_model(struct tiny *t, enum tf_norm norm, double rotary_pct) {
  struct tf_config c;
  struct tf_error err = {0};
  tf_config_default(&c);
  c.model = (struct tf_model_config){.vocab_size = N_BYTES,
                                     .d_model = 16,
                                     .n_layers = 2,
                                     .n_heads = 2,
                                     .seq_len = SEQ,
                                     .tokens = {8, 8, 16},
                                     .ref_tokens = {8, 8, 16},
                                     .norm = norm,
                                     .rotary_pct = rotary_pct,
                                     .rotary_base = 10000};
  c.init.seed = 7 + (uint64_t)norm;
  if (tf_config_check(&c, &err) || tf_model_create(&t->m, &c.model, &err) ||
      tf_acts_init(&t->acts, &c.model, 1, SEQ, &err))
    fuzz_fail("cannot make the tiny model: %s", err.msg);
  tf_model_init(&t->m, &c.init);
}

/* The sampling options of the option bytes o. */
static struct tf_sample_config options(const uint8_t *o) {
  static const double temps[8] = {0, 1e-6, 0.1, 0.7, 1, 2, 100, 1e6};
  static const double top_ps[8] = {1, 0.9, 0.5, 0.1, 1e-3, 1e-30, 0.999999, 4.9e-324};
  return (struct tf_sample_config){.temperature = temps[o[1] & 7],
                                   .top_k = o[2] == 255 ? 100000 : o[2],
                                   .top_p = top_ps[o[3] & 7],
                                   .greedy = (o[0] & 0x80) != 0,
                                   .seed = o[4]};
}

/* max |a - b| / max |b| over n logits. */
static double rel_error(const float *a, const float *b, int n) {
  double diff = 0, scale = 0;
  for (int i = 0; i < n; i++) {
    diff = fmax(diff, fabs((double)a[i] - b[i]));
    scale = fmax(scale, fabs((double)b[i]));
  }
  return diff / (scale > 0 ? scale : 1);
}

/* The decoder's last logits against the full forward of the context it holds. */
static void compare_forward(struct tiny *t, const struct tf_decoder *dec, const float *logits) {
  tf_net_forward(&t->m, &t->acts, dec->tokens, NULL, 1, dec->len);
  const float *ref = t->acts.logits + (size_t)(dec->len - 1) * N_BYTES;
  double e = rel_error(logits, ref, N_BYTES);
  if (!(e <= TOL))
    fuzz_fail("decoder logits off the full forward by %.3g of max |logit| (len %d, slides %lld)", e,
              dec->len, (long long)dec->slides);
}

/* Samples n bytes, feeding each back; returns the last logits. */
static const float *sample_loop(struct tiny *t, struct tf_decoder *dec, struct tf_sampler *s,
                                const float *logits, int n) {
  for (int i = 0; i < n; i++) {
    int32_t tok = tf_sample(s, logits);
    if (tok < 0 || tok >= N_BYTES) fuzz_fail("sampled id %d is not a byte", tok);
    if (s->cfg.greedy && tok != tf_sample_argmax(logits, N_BYTES))
      fuzz_fail("greedy id %d is not the argmax", tok);
    if (!(logits = tf_decode_step(&t->m, dec, tok, NULL)))
      fuzz_fail("the decoder refused byte %d", tok);
  }
  return logits;
}

static void generate(struct tiny *t, const uint8_t *o, const uint8_t *prompt, size_t n) {
  struct tf_decoder dec;
  struct tf_sampler s;
  struct tf_error err = {0};
  struct tf_sample_config sc = options(o);
  int len;
  if (tf_decoder_create(&dec, &t->m.cfg, o[6] % (SEQ + 4), &err) ||
      tf_sampler_create(&s, N_BYTES, &sc, &err))
    fuzz_fail("cannot start decoding: %s", err.msg);
  int32_t *ctx = tf_tok_bytes_context(prompt, n, o[0] & 0x40 ? 0 : SEQ, &len);
  if (!ctx) fuzz_fail("out of memory");
  const float *logits = tf_decode_prefill(&t->m, &dec, ctx, len, NULL);
  if (!logits) fuzz_fail("the decoder refused a prompt of %d bytes", len);
  logits = sample_loop(t, &dec, &s, logits, o[5] % (MAX_GEN + 1));
  compare_forward(t, &dec, logits);
  free(ctx);
  tf_sampler_free(&s);
  tf_decoder_free(&dec);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static const double rotary[3] = {0.25, 1.0, 0.0};
  if (!models[0].m.params) {
    tf_set_threads(1);
    for (int i = 0; i < 3; i++) make_model(&models[i], (enum tf_norm)i, rotary[i]);
  }
  uint8_t o[OPT_BYTES] = {0};
  size_t k = size < OPT_BYTES ? size : OPT_BYTES;
  memcpy(o, data, k);
  generate(&models[o[0] % 3], o, data + k, size - k);
  return 0;
}
