/* csm_cms_run's jobs: inputs computed ahead by N workers, each with its own
 * explainer (models) on its share of the threads, and handed to the caller
 * strictly in input order, so that the CMS, the checkpoints and the files
 * are the same whatever N is. */
#ifndef CSM_RUN_CMS_POOL_H
#define CSM_RUN_CMS_POOL_H

#include "run_internal.h"

/* One input's outcome. */
typedef struct csm_input_result {
  csm_status st; /* of csm_explainer_explain */
  char *error;   /* its message (malloc'ed) when st != 0 */
  csm_face_result *faces;
  int n;
} csm_input_result;

void csm_input_result_free(csm_input_result *r);

typedef struct csm_cms_pool csm_cms_pool;

/* Starts `jobs` workers on inputs[start..n_images-1]. */
csm_status csm_cms_pool_start(const csm_explain_options *o, const csm_input *inputs, int start,
                              int n_images, int jobs, csm_cms_pool **out);
/* Waits for input i (taken in order: start, start + 1, ...) and moves its
 * result to *r; the caller frees it. */
void csm_cms_pool_take(csm_cms_pool *p, int i, csm_input_result *r);
/* Stops the workers (unfinished inputs are dropped) and frees the pool. */
void csm_cms_pool_stop(csm_cms_pool *p);

#endif
