/* fd.c: finite-difference gradient checks and test data for the kernel test suites. */
#include <math.h>

#include "fd.h"

/* splitmix64: enough randomness for test data, independent of lib/rng.c. */
static uint64_t fd_next(uint64_t *s) {
  uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

void fd_fill(float *x, size_t n, float scale, uint64_t seed) {
  for (size_t i = 0; i < n; i++) {
    double u = (double)(fd_next(&seed) >> 11) / 9007199254740992.0; /* [0, 1) */
    x[i] = (float)((2.0 * u - 1.0) * scale);
  }
}

double fd_dot(const float *a, const float *b, size_t n) {
  double s = 0;
  for (size_t i = 0; i < n; i++) s += (double)a[i] * b[i];
  return s;
}

double fd_max_abs(const float *x, size_t n) {
  double m = 1e-30;
  for (size_t i = 0; i < n; i++) m = fmax(m, fabs(x[i]));
  return m;
}

double fd_rel_error(const float *ours, const float *ref, size_t n) {
  double diff = 0, scale = 0;
  for (size_t i = 0; i < n; i++) {
    diff = fmax(diff, fabs((double)ours[i] - ref[i]));
    scale = fmax(scale, fabs((double)ref[i]));
  }
  return diff / (scale > 0 ? scale : 1);
}

double fd_check(fd_loss_fn loss, void *ctx, float *x, const float *grad, size_t n, float h,
                size_t max_probe) {
  size_t probes = n < max_probe ? n : max_probe;
  double worst = 0, scale = fd_max_abs(grad, n);
  for (size_t p = 0; p < probes; p++) {
    size_t i = probes == n ? p : p * n / probes;
    float keep = x[i], xp = keep + h, xm = keep - h; /* the steps float can represent */
    x[i] = xp;
    double up = loss(ctx);
    x[i] = xm;
    double down = loss(ctx);
    x[i] = keep;
    double num = (up - down) / ((double)xp - (double)xm);
    worst = fmax(worst, fabs(num - grad[i]) / scale);
  }
  return worst;
}
