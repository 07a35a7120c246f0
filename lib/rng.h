/* rng.h: the library's random numbers (rng.c): the generator of initialization, growth, the
 * training data stream and sampling. Internal to the library and its tests. */
#ifndef TF_RNG_H
#define TF_RNG_H

#include <stdint.h>

/* xoshiro256** seeded through splitmix64; the state is saved in checkpoints (train.rng). */
struct tf_rng {
  uint64_t s[4];
};
void tf_rng_seed(struct tf_rng *r, uint64_t seed);
uint64_t tf_rng_next(struct tf_rng *r);
double tf_rng_uniform(struct tf_rng *r); /* [0, 1) with 53 random bits */
double tf_rng_normal(struct tf_rng *r);  /* N(0, 1), Box-Muller, no cached second value */

#endif
