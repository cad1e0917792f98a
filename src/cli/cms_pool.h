/* csm cms --jobs N: images computed ahead by N workers, each with its own
 * models, and handed to the caller strictly in input order, so that the
 * CMS, the checkpoints and the files are the same whatever N is. */
#ifndef CSM_CLI_CMS_POOL_H
#define CSM_CLI_CMS_POOL_H

#include "explain_common.h"

typedef struct image_result {
  csm_status st; /* of explain_image */
  char *error;   /* its message (malloc'ed) when st != 0 */
  face_cis *faces;
  int n;
} image_result;

typedef struct cms_pool cms_pool;

/* Starts `jobs` workers on images[start..n_images-1]; each opens its own
 * explain_ctx and runs its models on threads / jobs threads. */
csm_status cms_pool_start(const explain_args *a, const explain_input *inputs, int start,
                          int n_images, int jobs, cms_pool **out);
/* Waits for image i (taken in order: start, start + 1, ...) and moves its
 * result to *r; the caller frees the faces. */
void cms_pool_take(cms_pool *p, int i, image_result *r);
/* Stops the workers (unfinished images are dropped) and frees the pool. */
void cms_pool_stop(cms_pool *p);

#endif
