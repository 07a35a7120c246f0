/* rng.c: xoshiro256** seeded by splitmix64, uniform and normal draws. State is 4 words so a
 * checkpoint can carry it (train.rng). */
#include <math.h>

#include "tokenformer.h"
#include "rng.h"

static uint64_t splitmix64(uint64_t *x) {
  uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

void tf_rng_seed(struct tf_rng *r, uint64_t seed) {
  for (int i = 0; i < 4; i++) r->s[i] = splitmix64(&seed);
}

static uint64_t rotl(uint64_t x, int k) {
  return (x << k) | (x >> (64 - k));
}

uint64_t tf_rng_next(struct tf_rng *r) {
  uint64_t *s = r->s;
  uint64_t result = rotl(s[1] * 5, 7) * 9;
  uint64_t t = s[1] << 17;
  s[2] ^= s[0];
  s[3] ^= s[1];
  s[1] ^= s[2];
  s[0] ^= s[3];
  s[2] ^= t;
  s[3] = rotl(s[3], 45);
  return result;
}

double tf_rng_uniform(struct tf_rng *r) {
  return (double)(tf_rng_next(r) >> 11) * 0x1.0p-53;
}

/* Box-Muller: u1 in (0, 1] so the log is finite. */
double tf_rng_normal(struct tf_rng *r) {
  double u1 = 1.0 - tf_rng_uniform(r);
  double u2 = tf_rng_uniform(r);
  return sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
}
