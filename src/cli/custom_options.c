/* --model and the custom-task flags: how a face becomes the input of any
 * model file (size, channels, value range, per-channel mean/std) and how
 * its output becomes a confidence (output, kind, classes). */
#include "custom_options.h"

#include "options.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void custom_args_init(custom_args *c) {
  memset(c, 0, sizeof *c);
  c->info.crop_scale = 1.4f;
  c->info.upright = 1;
  c->info.scale = 1;
  c->info.kind = CSM_TASK_PROBS;
}

void custom_args_free(custom_args *c) {
  free(c->classes_buf);
  c->classes_buf = NULL;
}

static int parse_choice(const char *cmd, const char *opt, const char *v, const char *const *names,
                        int n) {
  for (int k = 0; k < n; k++)
    if (!strcmp(v, names[k])) return k;
  csm_cli_usage_error(cmd, "%s does not take '%s'", opt, v);
  return -1;
}

/* "A" or "A,B,C" into three floats (one value: all channels); the count. */
static int parse_channels(const char *s, float v[3]) {
  double d[3];
  if (!csm_cli_parse_doubles(s, d, 1)) {
    v[0] = v[1] = v[2] = (float)d[0];
    return 1;
  }
  if (!csm_cli_parse_doubles(s, d, 3)) {
    for (int k = 0; k < 3; k++)
      v[k] = (float)d[k];
    return 3;
  }
  return 0;
}

int custom_option(const char *cmd, const char *o, const char *v, custom_args *c) {
  csm_task_info *in = &c->info;
  int k;
  if (!v) return 0;
  if (!strcmp(o, "--model")) {
    c->model = v;
  } else if (!strcmp(o, "--input-size")) {
    if (csm_cli_parse_int(v, &in->size) || in->size > 4096)
      return csm_cli_usage_error(cmd, "--input-size takes an integer in 1..4096"), -1;
  } else if (!strcmp(o, "--channels")) {
    static const char *const n[] = {"rgb", "bgr", "gray"};
    if ((k = parse_choice(cmd, o, v, n, 3)) < 0) return -1;
    in->channels = k == 2 ? 1 : 3;
    in->bgr = k == 1;
    c->gray = k == 2;
  } else if (!strcmp(o, "--range")) {
    double r[2];
    if (csm_cli_parse_doubles(v, r, 2) || r[0] == r[1])
      return csm_cli_usage_error(cmd, "--range takes LO,HI (two different numbers)"), -1;
    in->offset = (float)r[0], in->scale = (float)(r[1] - r[0]);
  } else if (!strcmp(o, "--mean")) {
    if (!(c->n_mean = parse_channels(v, in->mean)))
      return csm_cli_usage_error(cmd, "--mean takes one number or three (M0,M1,M2)"), -1;
  } else if (!strcmp(o, "--std")) {
    if (!(c->n_std = parse_channels(v, in->std)) || !(in->std[0] > 0) || !(in->std[1] > 0) ||
        !(in->std[2] > 0))
      return csm_cli_usage_error(cmd, "--std takes one positive number or three (S0,S1,S2)"), -1;
  } else if (!strcmp(o, "--output")) {
    in->output = v;
  } else if (!strcmp(o, "--confidence")) {
    static const char *const n[] = {"probs", "softmax", "sigmoid", "logit", "value", "embedding"};
    static const csm_task_output kinds[] = {CSM_TASK_PROBS, CSM_TASK_LOGITS, CSM_TASK_SIGMOID,
                                            CSM_TASK_LOGIT, CSM_TASK_VALUE,  CSM_TASK_EMBEDDING};
    if ((k = parse_choice(cmd, o, v, n, 6)) < 0) return -1;
    in->kind = kinds[k];
  } else if (!strcmp(o, "--crop-scale")) {
    char *end;
    double d = strtod(v, &end);
    if (end == v || *end || !(d > 0) || !(d <= 4096))
      return csm_cli_usage_error(cmd, "--crop-scale takes a number in (0, 4096], not '%s'", v), -1;
    in->crop_scale = (float)d;
  } else if (!strcmp(o, "--classes")) {
    free(c->classes_buf);
    c->classes_buf = strdup(v);
    if (!c->classes_buf) return csm_cli_usage_error(cmd, "out of memory"), -1;
    int n = 0;
    for (char *t = strtok(c->classes_buf, ","); t; t = strtok(NULL, ",")) {
      if (n == CSM_TASK_MAX_CLASSES)
        return csm_cli_usage_error(cmd, "--classes: at most %d", CSM_TASK_MAX_CLASSES), -1;
      c->labels[n++] = t;
    }
    in->n_classes = n;
    in->labels = c->labels;
  } else {
    return 0;
  }
  return 1;
}

int custom_args_check(const char *cmd, custom_args *c) {
  csm_task_info *in = &c->info;
  int given = in->size || in->channels || c->n_mean || c->n_std || in->output || in->n_classes ||
              in->scale != 1 || in->offset != 0 || in->crop_scale != 1.4f ||
              in->kind != CSM_TASK_PROBS;
  if (!c->model && given)
    return csm_cli_usage_error(cmd, "the custom-task flags (--input-size, --channels, --range, "
                                    "--mean, --std, --output, --confidence, --crop-scale, "
                                    "--classes) need --model PATH");
  /* --mean alone divides by 1, --std alone subtracts 0. */
  if (c->n_mean && !c->n_std) in->std[0] = in->std[1] = in->std[2] = 1;
  if (c->gray && (c->n_mean == 3 || c->n_std == 3) &&
      (in->mean[1] != in->mean[0] || in->mean[2] != in->mean[0] || in->std[1] != in->std[0] ||
       in->std[2] != in->std[0]))
    return csm_cli_usage_error(cmd, "--channels gray takes one --mean and one --std value");
  return 0;
}

csm_status custom_task_load(const custom_args *c, csm_task **out) {
  csm_task_info info = c->info;
  info.name = "custom";
  /* Size and channels left 0: the model's own (csm_task_load_custom). */
  return csm_task_load_custom(c->model, &info, out);
}

int custom_take(const char *cmd, const cli_option *o, void *args, const char *v) {
  return custom_option(cmd, o->name, v, (custom_args *)((char *)args + o->offset)) < 0 ? -1 : 0;
}
