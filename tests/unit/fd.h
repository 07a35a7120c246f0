/* fd.h: finite-difference gradient checks and test data shared by the kernel test suites.
 * Not a test itself; linked into every test program. */
#ifndef TF_TEST_FD_H
#define TF_TEST_FD_H

#include <stddef.h>
#include <stdint.h>

/* x[i] uniform in [-scale, scale), the same values for the same seed. */
void fd_fill(float *x, size_t n, float scale, uint64_t seed);
/* sum_i a_i b_i in double: the scalar test loss L = sum out * W of an output and fixed weights. */
double fd_dot(const float *a, const float *b, size_t n);
/* max_i |x_i| (at least 1e-30, so it can divide). */
double fd_max_abs(const float *x, size_t n);

/* max_i |ours_i - ref_i| / max_i |ref_i| (over 1 when ref is all zero): the acceptance
 * measure of the model issue, for comparing with fixtures and with a second computation. */
double fd_rel_error(const float *ours, const float *ref, size_t n);

/* The loss at the current contents of the parameters: the callback re-runs the forward. */
typedef double (*fd_loss_fn)(void *ctx);

/* Central differences (L(x_i + h) - L(x_i - h)) / 2h against grad_i for up to max_probe
 * entries of x (all of them if n <= max_probe, else an evenly spread sample); x is restored.
 * Returns the worst |numeric - analytic| divided by max_i |grad_i|: float32 round-off in L
 * is the same for every entry, so the tensor's largest gradient is the scale to judge by. */
double fd_check(fd_loss_fn loss, void *ctx, float *x, const float *grad, size_t n, float h,
                size_t max_probe);

#endif
