/* prog.c: a program built against an installed libtokenformer (tests/install/run.sh): a tiny
 * model from the default config, saved, loaded back and run by the decoder (BLIS, OpenMP). */
#include <stdio.h>
#include <tokenformer.h>

int main(int argc, char **argv) {
  struct tf_config c;
  struct tf_model m, back;
  struct tf_decoder dec;
  struct tf_error err = {0};
  int32_t prompt[] = {'H', 'i'};
  tf_config_default(&c);
  if (argc != 2 || tf_config_set(&c, "model.d_model=32", &err) ||
      tf_config_set(&c, "model.n_layers=1", &err) || tf_config_set(&c, "model.n_heads=2", &err) ||
      tf_model_create(&m, &c.model, &err))
    return fprintf(stderr, "prog: %s\n", err.msg), 1;
  tf_model_init(&m, &c.init);
  if (tf_model_save(&m, argv[1], TF_COMPRESS_FAST, &err) || tf_model_load(&back, argv[1], &err) ||
      tf_decoder_create(&dec, &back.cfg, 0, &err))
    return fprintf(stderr, "prog: %s\n", err.msg), 1;
  const float *logits = tf_decode_prefill(&back, &dec, prompt, 2, NULL);
  if (!logits) return fprintf(stderr, "prog: prefill failed\n"), 1;
  printf("%s %zu parameters, logit[0] %.6f\n", TF_VERSION, back.n_params, logits[0]);
  tf_decoder_free(&dec), tf_model_free(&back), tf_model_free(&m);
  return 0;
}
