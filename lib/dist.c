/* dist.c: data parallelism across processes on MPI: who we are, the gradient allreduce, agreement
 * on stopping, a parameter checksum. Built without MPI (make MPI=0) or run without a launcher,
 * every function is the single-process identity. No training logic here. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tokenformer.h"

#ifdef TF_HAVE_MPI
#include <mpi.h>
#include "model_internal.h"
#include "train_internal.h"
#endif

/* A launcher started us when it left its rank variables in the environment: Open MPI's
 * mpirun, PMIx-based launchers, or Slurm's srun with more than one task. Without one we do
 * not initialise MPI at all, so a plain run needs no MPI runtime. */
static int launched_by_mpi(void) {
  const char *size = getenv("OMPI_COMM_WORLD_SIZE");
  if (!size) size = getenv("PMIX_SIZE");
  if (!size) size = getenv("PMI_SIZE");
  if (!size) size = getenv("SLURM_NTASKS");
  return size && atoi(size) > 1;
}

int tf_dist_init(struct tf_dist *d, int *argc, char ***argv, struct tf_error *err) {
  memset(d, 0, sizeof *d);
  d->n_ranks = 1;
  if (!launched_by_mpi()) return TF_OK;
#ifdef TF_HAVE_MPI
  int provided;
  if (MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS)
    return tf_error_set(err, TF_EIO, "MPI_Init failed");
  MPI_Comm_rank(MPI_COMM_WORLD, &d->rank);
  MPI_Comm_size(MPI_COMM_WORLD, &d->n_ranks);
  d->active = 1;
  if (d->n_ranks > TF_MAX_RANKS) {
    tf_error_set(err, TF_EUSAGE, "%d ranks: at most %d are supported", d->n_ranks, TF_MAX_RANKS);
    MPI_Abort(MPI_COMM_WORLD, TF_EUSAGE);
  }
  return TF_OK;
#else
  (void)argc;
  (void)argv;
  return tf_error_set(err, TF_EUSAGE,
                      "started by an MPI launcher, but this build has no MPI (make MPI=1)");
#endif
}

void tf_dist_finalize(struct tf_dist *d) {
#ifdef TF_HAVE_MPI
  if (d->active) MPI_Finalize();
#endif
  d->active = 0;
}

/* Sums the gradient block in place over all ranks (one MPI_Allreduce) and averages the loss. */
void tf_dist_allreduce(const struct tf_dist *d, float *grads, size_t n, double *loss) {
#ifdef TF_HAVE_MPI
  if (!d->active) return;
  for (size_t off = 0; off < n;) { /* MPI counts are int */
    int count = n - off > (size_t)1 << 30 ? 1 << 30 : (int)(n - off);
    MPI_Allreduce(MPI_IN_PLACE, grads + off, count, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
    off += (size_t)count;
  }
  MPI_Allreduce(MPI_IN_PLACE, loss, 1, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
  *loss /= d->n_ranks;
#else
  (void)d;
  (void)grads;
  (void)n;
  (void)loss;
#endif
}

/* The largest of every rank's flag: a signal on any rank stops all of them at the same step. */
int tf_dist_any(const struct tf_dist *d, int flag) {
#ifdef TF_HAVE_MPI
  if (d->active) MPI_Allreduce(MPI_IN_PLACE, &flag, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
#else
  (void)d;
#endif
  return flag;
}

/* The parameters' weighted sum is compared across ranks: they must stay bit-identical, so any
 * difference (min != max) means a rank diverged. Returns 1 when they agree. */
int tf_dist_same(const struct tf_dist *d, const float *params, size_t n) {
#ifdef TF_HAVE_MPI
  if (!d->active) return 1;
  double sum = 0;
#pragma omp parallel for reduction(+ : sum) schedule(static)
  for (size_t i = 0; i < n; i++) sum += params[i] * (double)(i % 7 + 1);
  double lo = sum, hi = sum;
  MPI_Allreduce(MPI_IN_PLACE, &lo, 1, MPI_DOUBLE, MPI_MIN, MPI_COMM_WORLD);
  MPI_Allreduce(MPI_IN_PLACE, &hi, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
  return lo == hi;
#else
  (void)d;
  (void)params;
  (void)n;
  return 1;
#endif
}

const char *tf_dist_backend(void) {
#ifdef TF_HAVE_MPI
  return "MPI";
#else
  return "none (built with MPI=0)";
#endif
}
