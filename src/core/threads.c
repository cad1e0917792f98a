/* One thread count for OpenMP ops and OpenBLAS, so they share one pool. */
#include "csm/core.h"

#include <cblas.h>
#include <time.h>
#ifdef _OPENMP
#include <omp.h>
#endif

static int csm_thread_count = 0;
/* A worker thread's own count: the process's is read by every thread, so
 * workers must not write it (csm cms --jobs did: a data race). */
static _Thread_local int csm_local_thread_count = 0;

/* Sets the calling thread's OpenMP team size (an ICV of that thread) and
 * returns the count used (n <= 0: all cores). */
static int set_omp_threads(int n) {
#ifdef _OPENMP
  if (n <= 0) n = omp_get_num_procs();
  omp_set_num_threads(n);
  /* Teams of exactly n: libgomp's dynamic adjustment sizes teams by the
   * 15-minute load average, so on a 2-core machine csm ran on one thread
   * for a quarter of an hour after any busy spell, idle or not (half the
   * speed; docs/performance.md). On a loaded machine, --threads 1 avoids
   * waiting at barriers for descheduled threads. Results do not depend on
   * the thread count. */
  omp_set_dynamic(0);
#else
  if (n <= 0) n = 1;
#endif
  return n;
}

/* OpenBLAS built for OpenMP sizes its work by the calling thread's ICV, so
 * a worker needs only set_omp_threads. */
void csm_set_thread_local_threads(int n) { csm_local_thread_count = set_omp_threads(n); }

void csm_set_threads(int n) {
  n = set_omp_threads(n);
  openblas_set_num_threads(n);
  csm_thread_count = n;
}

int csm_threads(void) {
  if (csm_local_thread_count > 0) return csm_local_thread_count;
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
