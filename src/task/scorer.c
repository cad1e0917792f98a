/* Confidence functions for classification tasks: the class score of
 * csm_task_run, so that occlusion can evaluate any zoo task in batches. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "csm/task.h"

void csm_scorer_free(csm_scorer *s) {
  if (!s) return;
  if (s->free_ctx) s->free_ctx(s->ctx);
  s->ctx = NULL;
  s->free_ctx = NULL;
}

int csm_task_class_index(const csm_task_info *info, const char *name) {
  if (!info || !name || !*name) return -1;
  for (int k = 0; k < info->n_classes; k++)
    if (info->labels && !strcmp(info->labels[k], name)) return k;
  char *end;
  long v = strtol(name, &end, 10);
  if (*end == 0 && v >= 0 && v < info->n_classes) return (int)v;
  return -1;
}

typedef struct class_ctx {
  csm_task *task;
  int cls;
  csm_task_result *res; /* scratch for the largest batch seen */
  int cap;
} class_ctx;

static csm_status class_score(void *vctx, const float *inputs, int n, float *conf) {
  class_ctx *c = vctx;
  if (n > c->cap) {
    csm_task_result *r = realloc(c->res, (size_t)n * sizeof *r);
    if (!r) return csm_fail(CSM_ENOMEM, "out of memory (%d results)", n);
    c->res = r, c->cap = n;
  }
  csm_status st = csm_task_run(c->task, inputs, n, c->res);
  if (st) return st;
  const csm_task_info *info = csm_task_get_info(c->task);
  for (int i = 0; i < n; i++)
    conf[i] = info->n_classes > 0 ? c->res[i].scores[c->cls] : c->res[i].confidence;
  return CSM_OK;
}

static void class_free(void *vctx) {
  class_ctx *c = vctx;
  if (!c) return;
  free(c->res);
  free(c);
}

csm_status csm_scorer_class(csm_task *t, int cls, csm_scorer *out) {
  if (!t || !out) return csm_fail(CSM_EUSAGE, "csm_scorer_class: NULL argument");
  const csm_task_info *info = csm_task_get_info(t);
  if (info->kind == CSM_TASK_EMBEDDING)
    return csm_fail(CSM_EUSAGE, "task %s gives an embedding: use a verify or identify scorer",
                    info->name);
  if (info->n_classes > 0 && (cls < 0 || cls >= info->n_classes))
    return csm_fail(CSM_EUSAGE, "task %s: class %d out of range 0..%d", info->name, cls,
                    info->n_classes - 1);
  memset(out, 0, sizeof *out);
  class_ctx *c = calloc(1, sizeof *c);
  if (!c) return csm_fail(CSM_ENOMEM, "out of memory");
  c->task = t, c->cls = cls;
  out->views = 1;
  out->size = info->size, out->channels = info->channels;
  /* A black pixel is value 0 before the task's scale and offset. */
  for (int k = 0; k < 3; k++)
    out->black[k] = info->offset;
  out->score = class_score;
  out->ctx = c;
  out->free_ctx = class_free;
  if (info->n_classes > 0)
    snprintf(out->what, sizeof out->what, "P(%s)", info->labels ? info->labels[cls] : "?");
  else
    snprintf(out->what, sizeof out->what, "%s value", info->name);
  return CSM_OK;
}
