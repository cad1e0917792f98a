/* Workers for csm cms --jobs: see cms_pool.h. */
#include "cms_pool.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

struct cms_pool {
  const explain_args *a;
  const explain_input *inputs;
  int start, n_images, jobs, threads_each;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  int next;  /* next image to claim */
  int taken; /* images handed to the caller */
  int stop;
  int *ready; /* per image */
  image_result *res;
  pthread_t *tid;
  int n_started;
};

/* Workers run at most this many images ahead of the caller, which bounds
 * the maps held in memory. */
#define AHEAD_PER_JOB 2

static void *worker(void *arg) {
  cms_pool *p = arg;
  csm_set_threads(p->threads_each);
  explain_ctx x;
  csm_status open_st = explain_open(p->a, &x);
  char *open_err = open_st ? strdup(csm_last_error()) : NULL;
  explain_progress quiet;
  memset(&quiet, 0, sizeof quiet);
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
    image_result r;
    memset(&r, 0, sizeof r);
    if (open_st) {
      r.st = open_st;
      r.error = strdup(open_err ? open_err : "cannot open the task");
    } else {
      quiet.t_start = csm_now();
      r.st = explain_input_run(&x, p->a, &p->inputs[i], &quiet, &r.faces, &r.n);
      if (r.st) r.error = strdup(csm_last_error());
    }
    pthread_mutex_lock(&p->mu);
    p->res[i] = r;
    p->ready[i] = 1;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
  }
  free(open_err);
  if (!open_st) explain_close(&x);
  return NULL;
}

csm_status cms_pool_start(const explain_args *a, const explain_input *inputs, int start,
                          int n_images, int jobs, cms_pool **out) {
  *out = NULL;
  cms_pool *p = calloc(1, sizeof *p);
  if (!p) return csm_fail(CSM_ENOMEM, "out of memory");
  p->a = a, p->inputs = inputs, p->start = start, p->n_images = n_images, p->jobs = jobs;
  p->next = p->taken = start;
  int t = csm_threads() / jobs;
  p->threads_each = t < 1 ? 1 : t;
  p->ready = calloc((size_t)n_images + 1, sizeof *p->ready);
  p->res = calloc((size_t)n_images + 1, sizeof *p->res);
  p->tid = calloc((size_t)jobs, sizeof *p->tid);
  if (!p->ready || !p->res || !p->tid) {
    cms_pool_stop(p);
    return csm_fail(CSM_ENOMEM, "out of memory");
  }
  pthread_mutex_init(&p->mu, NULL);
  pthread_cond_init(&p->cv, NULL);
  for (int j = 0; j < jobs; j++) {
    if (pthread_create(&p->tid[j], NULL, worker, p)) break;
    p->n_started++;
  }
  if (p->n_started == 0) {
    cms_pool_stop(p);
    return csm_fail(CSM_EINTERNAL, "cannot start worker threads");
  }
  *out = p;
  return CSM_OK;
}

void cms_pool_take(cms_pool *p, int i, image_result *r) {
  pthread_mutex_lock(&p->mu);
  while (!p->ready[i])
    pthread_cond_wait(&p->cv, &p->mu);
  *r = p->res[i];
  memset(&p->res[i], 0, sizeof p->res[i]);
  p->taken = i + 1;
  pthread_cond_broadcast(&p->cv);
  pthread_mutex_unlock(&p->mu);
}

void cms_pool_stop(cms_pool *p) {
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
    for (int k = 0; k < p->res[i].n; k++)
      face_cis_free(&p->res[i].faces[k]);
    free(p->res[i].faces);
    free(p->res[i].error);
  }
  free(p->ready);
  free(p->res);
  free(p->tid);
  free(p);
}
