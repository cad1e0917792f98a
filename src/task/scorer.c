/* Confidence functions for classification tasks: the class score of
 * csm_task_run, so that occlusion can evaluate any zoo task in batches. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "csm/task.h"
#include "task/task_private.h"

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

void csm_task_scorer_white_box(csm_task *t, csm_scorer *out) {
  out->model = t->model;
  out->node = csm_model_output_node(t->model, t->output);
  out->raw_numel = t->n_out;
}

/* The score the class scorer reads from one row of raw output values. */
static csm_status class_of_raw(const class_ctx *c, const float *raw, float *conf) {
  const csm_task_info *info = csm_task_get_info(c->task);
  csm_task_result r;
  csm_status st = csm_task_scores(info, raw, c->task->n_out, &r);
  if (st) return st;
  *conf = info->n_classes > 0 ? r.scores[c->cls] : r.confidence;
  return CSM_OK;
}

/* Pose scores come from a geometric fit of 468 landmarks (csm_face_pose):
 * their derivative is taken by central differences of that fit, which
 * costs no model runs (2 x 1404 fits per row). The step is a twentieth of
 * a pixel of the 192-pixel FaceMesh input, where the fit is smooth. */
static csm_status pose_grad_row(const class_ctx *c, const float *raw, float *draw) {
  size_t n = c->task->n_out;
  float *x = csm_malloc_array(n, sizeof(float));
  if (!x) return CSM_ENOMEM;
  memcpy(x, raw, n * sizeof(float));
  const float h = 0.05f;
  csm_status st = CSM_OK;
  for (size_t k = 0; k < n && !st; k++) {
    float keep = x[k], up = 0, down = 0;
    x[k] = keep + h;
    st = class_of_raw(c, x, &up);
    x[k] = keep - h;
    if (!st) st = class_of_raw(c, x, &down);
    x[k] = keep;
    draw[k] = (float)(((double)up - down) / (2.0 * h));
  }
  free(x);
  return st;
}

/* d scores[cls] / d raw for each kind of output (csm_task_scores). */
static csm_status class_conf_grad(void *vctx, const float *raw, int n, float *conf, float *draw) {
  class_ctx *c = vctx;
  const csm_task_info *info = csm_task_get_info(c->task);
  size_t m = c->task->n_out;
  for (int i = 0; i < n; i++) {
    const float *r = raw + (size_t)i * m;
    float *d = draw + (size_t)i * m;
    csm_status st = class_of_raw(c, r, &conf[i]);
    if (st) return st;
    memset(d, 0, m * sizeof(float));
    switch (info->kind) {
    case CSM_TASK_PROBS:
    case CSM_TASK_LOGIT: d[c->cls] = 1; break;
    case CSM_TASK_VALUE: d[0] = 1; break;
    case CSM_TASK_SIGMOID: d[0] = c->cls == 1 ? 1.0f : -1.0f; break;
    case CSM_TASK_LOGITS: {
      /* d p_c / d z_k = p_c (delta_ck - p_k), with p the softmax. */
      double mx = r[0], sum = 0;
      for (size_t k = 1; k < m; k++)
        mx = r[k] > mx ? r[k] : mx;
      for (size_t k = 0; k < m; k++)
        sum += exp((double)r[k] - mx);
      double pc = exp((double)r[c->cls] - mx) / sum;
      for (size_t k = 0; k < m; k++)
        d[k] = (float)(pc * (((int)k == c->cls) - exp((double)r[k] - mx) / sum));
      break;
    }
    case CSM_TASK_POSE:
      if ((st = pose_grad_row(c, r, d))) return st;
      break;
    default: return csm_fail(CSM_EUSAGE, "task %s: no class confidence", info->name);
    }
  }
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
  /* A black pixel is value 0 before the task's scale, offset and norm. */
  csm_task_black(info, out->black);
  out->score = class_score;
  out->ctx = c;
  out->free_ctx = class_free;
  csm_task_scorer_white_box(t, out);
  out->conf_grad = class_conf_grad;
  /* A raw per-class output is a logit, not a probability. */
  if (info->n_classes > 0)
    snprintf(out->what, sizeof out->what, info->kind == CSM_TASK_LOGIT ? "logit(%s)" : "P(%s)",
             info->labels ? info->labels[cls] : "?");
  else
    snprintf(out->what, sizeof out->what, "%s value", info->name);
  return CSM_OK;
}
