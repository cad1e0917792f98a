/* One thread count for OpenMP ops and OpenBLAS, so they share one pool. */
#include "csm/core.h"

#include <cblas.h>
#include <time.h>
#ifdef _OPENMP
#include <omp.h>
#endif

static int csm_thread_count = 0;

void csm_set_threads(int n) {
#ifdef _OPENMP
  if (n <= 0) n = omp_get_num_procs();
  omp_set_num_threads(n);
  /* n is an upper bound: when other processes load the cores, libgomp gives
   * parallel regions fewer threads. Without this, a batch-1 run on a busy
   * machine waits a scheduler slice at every op's barrier for a descheduled
   * thread (facemesh: 688 img/s on 1 thread, 236 on 2 under load). Results
   * do not depend on the thread count, so this never changes the bits. */
  omp_set_dynamic(1);
#else
  if (n <= 0) n = 1;
#endif
  openblas_set_num_threads(n);
  csm_thread_count = n;
}

int csm_threads(void) {
  if (csm_thread_count > 0) return csm_thread_count;
#ifdef _OPENMP
  return omp_get_max_threads();
#else
  return 1;
#endif
}

double csm_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}
