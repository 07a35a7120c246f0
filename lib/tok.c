/* tok.c: tokenizers. Byte-level for now (DESIGN §1: BPE later, stored inside the checkpoint):
 * token id i is byte i. Turning a text into the context a model starts from; no model math. */
#include <stdlib.h>

#include "tokenformer.h"

int tf_tok_bytes_check(const struct tf_model *m, struct tf_error *err) {
  if (tf_tokenizer_kind(m->tok) != TF_TOK_BYTES)
    return tf_error_set(err, TF_EDATA, "the model's tokenizer is %s, not bytes",
                        tf_tokenizer_kind_name(m->tok));
  if (m->cfg.vocab_size < TF_BYTE_TOKENS)
    return tf_error_set(err, TF_EDATA, "vocab_size %d: byte tokens need at least %d ids",
                        m->cfg.vocab_size, TF_BYTE_TOKENS);
  return TF_OK;
}

int32_t *tf_tok_bytes_context(const uint8_t *text, size_t n, int max, int *len) {
  static const uint8_t newline = '\n';
  if (n == 0) text = &newline, n = 1;
  if (max > 0 && n > (size_t)max) text += n - (size_t)max, n = (size_t)max;
  int32_t *t = malloc(n * sizeof *t);
  for (size_t i = 0; t && i < n; i++) t[i] = text[i];
  *len = (int)n;
  return t;
}
