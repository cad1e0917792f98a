/* Custom tasks: any model file with a caller-described crop, value mapping
 * and output, so that models outside the zoo can be explained too. */
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "task/task_private.h"

/* human's constants.rgb, the zoo's gray: the default for 1-channel inputs. */
static const float default_gray[3] = {0.2989f, 0.5870f, 0.1140f};

static csm_status check_info(const csm_task_info *in) {
  /* 0: the model's own (filled in once it is loaded). */
  if (in->size < 0 || in->size > 4096)
    return csm_fail(CSM_EUSAGE, "custom task: input size %d out of range 1..4096", in->size);
  if (in->channels != 0 && in->channels != 1 && in->channels != 3)
    return csm_fail(CSM_EUSAGE, "custom task: %d channels (1 or 3)", in->channels);
  for (int c = 0; csm_task_has_norm(in) && c < 3; c++) {
    /* A gray input reads channel 0 only; with the channels still open
     * (the model's), unset channels wait for the check after loading. */
    if (c > 0 && (in->channels == 1 || (in->channels == 0 && in->std[c] == 0))) break;
    if (!(isfinite(in->mean[c]) && isfinite(in->std[c]) && in->std[c] > 0))
      return csm_fail(CSM_EUSAGE,
                      "custom task: channel %d: mean %g, std %g (std must be positive and finite)",
                      c, in->mean[c], in->std[c]);
  }
  if (!(in->crop_scale > 0 && isfinite(in->crop_scale)))
    return csm_fail(CSM_EUSAGE, "custom task: crop_scale %g must be positive", in->crop_scale);
  if (!(isfinite(in->scale) && isfinite(in->offset) && in->scale != 0))
    return csm_fail(CSM_EUSAGE, "custom task: scale %g and offset %g (scale must be non-zero)",
                    in->scale, in->offset);
  for (int k = 0; k < 4; k++)
    if (!isfinite(in->sub[k])) return csm_fail(CSM_EUSAGE, "custom task: sub[%d] is not finite", k);
  switch (in->kind) {
  case CSM_TASK_PROBS:
  case CSM_TASK_SIGMOID:
  case CSM_TASK_LOGITS:
  case CSM_TASK_LOGIT:
  case CSM_TASK_VALUE:
  case CSM_TASK_EMBEDDING: break;
  default:
    return csm_fail(CSM_EUSAGE,
                    "custom task: kind %d (PROBS, SIGMOID, LOGITS, LOGIT, VALUE or EMBEDDING)",
                    (int)in->kind);
  }
  if (in->n_classes < 0 || in->n_classes > CSM_TASK_MAX_CLASSES)
    return csm_fail(CSM_EUSAGE, "custom task: %d classes (at most %d)", in->n_classes,
                    CSM_TASK_MAX_CLASSES);
  if ((in->kind == CSM_TASK_VALUE || in->kind == CSM_TASK_EMBEDDING) && in->n_classes)
    return csm_fail(CSM_EUSAGE, "custom task: value and embedding tasks have no classes");
  if (in->kind == CSM_TASK_SIGMOID && in->n_classes && in->n_classes != 2)
    return csm_fail(CSM_EUSAGE, "custom task: a sigmoid output means 2 classes, not %d",
                    in->n_classes);
  for (int k = 0; in->labels && k < in->n_classes; k++)
    if (!in->labels[k]) return csm_fail(CSM_EUSAGE, "custom task: label %d is NULL", k);
  if (in->human_grid) return csm_fail(CSM_EUSAGE, "custom task: human_grid is zoo-only");
  return CSM_OK;
}

/* Copies the strings of info (and labels, or "0", "1", ... when NULL) into
 * one block owned by t. */
static csm_status copy_strings(csm_task *t, const char *model_path, const csm_task_info *in) {
  csm_task_info *o = &t->own;
  const char *name = in->name ? in->name : "custom";
  const char *desc = in->description ? in->description : "custom task";
  const char *out = in->output ? in->output : "";
  /* Labels count only with a class count: open counts are labelled by index. */
  const char *const *labels = in->n_classes ? in->labels : NULL;
  size_t total = strlen(name) + strlen(desc) + strlen(out) + strlen(model_path) + 4;
  for (int k = 0; k < o->n_classes; k++)
    total += labels ? strlen(labels[k]) + 1 : 4; /* "99" and a NUL fit */
  t->own_strings = malloc(total);
  t->labels = o->n_classes ? calloc((size_t)o->n_classes, sizeof *t->labels) : NULL;
  if (!t->own_strings || (o->n_classes && !t->labels)) return csm_fail(CSM_ENOMEM, "out of memory");
  char *p = t->own_strings;
#define PUT(dst, src)                                                                              \
  do {                                                                                             \
    size_t n_ = strlen(src) + 1;                                                                   \
    memcpy(p, src, n_);                                                                            \
    (dst) = p;                                                                                     \
    p += n_;                                                                                       \
  } while (0)
  PUT(o->name, name);
  PUT(o->description, desc);
  PUT(o->model, model_path);
  PUT(o->output, out);
  for (int k = 0; k < o->n_classes; k++) {
    if (labels) {
      PUT(t->labels[k], labels[k]);
    } else {
      int n = snprintf(p, 4, "%d", k);
      t->labels[k] = p;
      p += n + 1;
    }
  }
#undef PUT
  o->labels = t->labels;
  return CSM_OK;
}

/* Size and channels left 0 take the model's own: its input (channels-last
 * by now) must then be a square image of 1 or 3 channels. */
static csm_status model_size(csm_task *t, const char *path) {
  csm_task_info *o = &t->own;
  if (o->size && o->channels) return CSM_OK;
  csm_shape in = csm_model_input_shape(t->model, 0);
  if (csm_model_num_inputs(t->model) != 1 || in.rank != 4 || in.d[1] <= 0 || in.d[1] != in.d[2] ||
      in.d[1] > 4096 || (in.d[3] != 1 && in.d[3] != 3)) {
    char buf[64];
    return csm_fail(CSM_EINPUT,
                    "%s: input %s is not a square image of 1 or 3 channels: give the input size "
                    "and channels",
                    path, csm_shape_str(&t->declared, buf, sizeof buf));
  }
  if (!o->size) o->size = (int)in.d[1];
  if (!o->channels) o->channels = (int)in.d[3];
  return CSM_OK;
}

csm_status csm_task_load_custom(const char *model_path, const csm_task_info *info, csm_task **out) {
  if (!model_path || !info || !out)
    return csm_fail(CSM_EUSAGE, "csm_task_load_custom: NULL argument");
  *out = NULL;
  csm_status st = check_info(info);
  if (st) return st;
  csm_task *t = calloc(1, sizeof *t);
  if (!t) return csm_fail(CSM_ENOMEM, "out of memory");
  t->own = *info;
  t->info = &t->own;
  csm_task_info *o = &t->own;
  o->name = o->model = o->output = o->description = NULL;
  o->labels = NULL;
  if (o->sub[0] == 0 && o->sub[1] == 0 && o->sub[2] == 0 && o->sub[3] == 0)
    o->sub[2] = o->sub[3] = 1; /* the whole square */
  /* The model decides how many classes there are when the caller leaves it
   * open; attach it first with a kind that accepts any output length. */
  csm_task_output kind = o->kind;
  /* A sigmoid always has 2 classes (p and 1 - p of one value). */
  if (kind == CSM_TASK_SIGMOID && o->n_classes == 0) o->n_classes = 2;
  int open_classes = o->n_classes == 0 &&
                     (kind == CSM_TASK_PROBS || kind == CSM_TASK_LOGITS || kind == CSM_TASK_LOGIT);
  if (open_classes) o->kind = CSM_TASK_EMBEDDING;
  o->name = info->name ? info->name : "custom"; /* for error messages until copied */
  st = csm_task_open_model(t, model_path);
  if (!st) st = model_size(t, model_path);
  if (!st && o->channels == 1 && o->gray_w[0] == 0 && o->gray_w[1] == 0 && o->gray_w[2] == 0)
    memcpy(o->gray_w, default_gray, sizeof default_gray);
  if (!st && !info->channels && csm_task_has_norm(info))
    st = check_info(o); /* the norm against the model's channel count */
  if (!st) st = csm_task_check_model(t, model_path, info->output);
  if (open_classes) o->kind = kind;
  if (!st && open_classes) {
    if (t->n_out > CSM_TASK_MAX_CLASSES)
      st = csm_fail(CSM_EINPUT, "%s: output has %zu values, more than %d classes", model_path,
                    t->n_out, CSM_TASK_MAX_CLASSES);
    else
      o->n_classes = (int)t->n_out;
  }
  if (!st) {
    o->name = NULL;
    st = copy_strings(t, model_path, info);
  }
  if (!st && !info->output) {
    /* The first output's own name, for listings. */
    o->output = csm_model_output_name(t->model, t->output);
  }
  if (st) {
    t->own.name = NULL;
    csm_task_free(t);
    return st;
  }
  *out = t;
  return CSM_OK;
}
