/* Workers for csm_cms_run_options.jobs: see cms_pool.h. */
#include "cms_pool.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

struct csm_cms_pool {
  csm_explain_options o; /* threads: each job's share */
  const csm_input *inputs;
  int start, n_images, jobs, threads_each;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  int next;  /* next image to claim */
  int taken; /* images handed to the caller */
  int stop;
  int *ready; /* per image */
  csm_input_result *res;
  pthread_t *tid;
  int n_started;
};

/* Workers run at most this many images ahead of the caller, which bounds
 * the maps held in memory. */
#define AHEAD_PER_JOB 2

static void *worker(void *arg) {
  csm_cms_pool *p = arg;
  csm_explainer *x = NULL;
  /* Each job's own explainer, on its share of the threads (set on this
   * thread only, through the explainer's options). */
  csm_status open_st = csm_explainer_open(&p->o, &x);
  char *open_err = open_st ? strdup(csm_last_error()) : NULL;
  for (;;) {
    pthread_mutex_lock(&p->mu);
    while (!p->stop && p->next < p->n_images && p->next >= p->taken + p->jobs * AHEAD_PER_JOB)
      pthread_cond_wait(&p->cv, &p->mu);
    if (p->stop || p->next >= p->n_images) {
      pthread_mutex_unlock(&p->mu);
      break;
    }
    int i = p->next++;
    pthread_mutex_unlock(&p->mu);
    csm_input_result r;
    memset(&r, 0, sizeof r);
    if (open_st) {
      r.st = open_st;
      r.error = strdup(open_err ? open_err : "cannot open the task");
    } else {
      r.st = csm_explainer_explain(x, &p->inputs[i], &r.faces, &r.n);
      if (r.st) r.error = strdup(csm_last_error());
    }
    pthread_mutex_lock(&p->mu);
    p->res[i] = r;
    p->ready[i] = 1;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
  }
  free(open_err);
  csm_explainer_free(x);
  return NULL;
}

csm_status csm_cms_pool_start(const csm_explain_options *o, const csm_input *inputs, int start,
                              int n_images, int jobs, csm_cms_pool **out) {
  *out = NULL;
  csm_cms_pool *p = calloc(1, sizeof *p);
  if (!p) return csm_fail(CSM_ENOMEM, "out of memory");
  p->o = *o, p->inputs = inputs, p->start = start, p->n_images = n_images, p->jobs = jobs;
  p->next = p->taken = start;
  int t = (o->threads > 0 ? o->threads : csm_threads()) / jobs;
  p->threads_each = t < 1 ? 1 : t;
  p->o.threads = p->threads_each;
  p->ready = calloc((size_t)n_images + 1, sizeof *p->ready);
  p->res = calloc((size_t)n_images + 1, sizeof *p->res);
  p->tid = calloc((size_t)jobs, sizeof *p->tid);
  if (!p->ready || !p->res || !p->tid) {
    csm_cms_pool_stop(p);
    return csm_fail(CSM_ENOMEM, "out of memory");
  }
  pthread_mutex_init(&p->mu, NULL);
  pthread_cond_init(&p->cv, NULL);
  for (int j = 0; j < jobs; j++) {
    if (pthread_create(&p->tid[j], NULL, worker, p)) break;
    p->n_started++;
  }
  if (p->n_started == 0) {
    csm_cms_pool_stop(p);
    return csm_fail(CSM_EINTERNAL, "cannot start worker threads");
  }
  *out = p;
  return CSM_OK;
}

void csm_cms_pool_take(csm_cms_pool *p, int i, csm_input_result *r) {
  pthread_mutex_lock(&p->mu);
  while (!p->ready[i])
    pthread_cond_wait(&p->cv, &p->mu);
  *r = p->res[i];
  memset(&p->res[i], 0, sizeof p->res[i]);
  p->taken = i + 1;
  pthread_cond_broadcast(&p->cv);
  pthread_mutex_unlock(&p->mu);
}

void csm_cms_pool_stop(csm_cms_pool *p) {
  if (!p) return;
  if (p->n_started) {
    pthread_mutex_lock(&p->mu);
    p->stop = 1;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    for (int j = 0; j < p->n_started; j++)
      pthread_join(p->tid[j], NULL);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv);
  }
  for (int i = 0; p->res && i < p->n_images; i++) {
    csm_input_result_free(&p->res[i]);
  }
  free(p->ready);
  free(p->res);
  free(p->tid);
  free(p);
}
