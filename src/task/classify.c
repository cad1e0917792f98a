/* Loading a zoo task, cropping a face into its model input, and turning the
 * model output into class scores. Preprocessing and running are separate so
 * that occlusion can edit a preprocessed input and re-run it in batches. */
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "task/task_private.h"

/* human's grid (facemeshutil.ts enlargeBox/squarifyBox/cutAndResize, then
 * emotion.ts resizeBilinear): along one axis of an n-pixel image, input pixel
 * j samples index-space position a s0 + a (s1 - s0) (j * 256 / size) / 255,
 * a = (n - 1) / n, with s0, s1 the rounded square's ends. */
#define HUMAN_FACE_SIZE 256 /* facemesh's input: every face tensor's size */
static void human_axis(double c, double side, int n, int size, double *k, double *o) {
  double s0 = floor(c - side / 2 + 0.5), s1 = floor(c + side / 2 + 0.5);
  double a = n > 1 ? (n - 1.0) / n : 1;
  *k = a * (s1 - s0) * HUMAN_FACE_SIZE / ((HUMAN_FACE_SIZE - 1.0) * size);
  /* u = j + 0.5 and x = index + 0.5 in csm_image_warp_affine's terms. */
  *o = 0.5 + a * s0 - 0.5 * *k;
}

csm_status csm_task_crop_matrix_image(const csm_task_info *info, const csm_face *face, int img_w,
                                      int img_h, double m[6]) {
  if (!info || !face) return csm_fail(CSM_EUSAGE, "csm_task_crop_matrix: NULL argument");
  const float *b = face->box;
  if (!(isfinite(b[0]) && isfinite(b[1]) && b[2] > 0 && b[3] > 0 && isfinite(b[2]) &&
        isfinite(b[3])))
    return csm_fail(CSM_EINPUT, "face box %g,%g,%g,%g is empty or not finite", b[0], b[1], b[2],
                    b[3]);
  double cx = b[0] + b[2] / 2.0, cy = b[1] + b[3] / 2.0;
  double side = info->crop_scale * (b[2] > b[3] ? b[2] : b[3]);
  if (info->human_grid) {
    human_axis(cx, side, img_w, info->size, &m[0], &m[2]);
    human_axis(cy, side, img_h, info->size, &m[4], &m[5]);
    m[1] = m[3] = 0;
    return CSM_OK;
  }
  double th = info->upright && isfinite(face->roll_deg) ? face->roll_deg * M_PI / 180.0 : 0;
  double c = cos(th), s = sin(th);
  /* Input pixel u (continuous) is the fraction sub0 + (sub2 - sub0) u / size
   * of the crop square, in the square's own (de-rolled) axes. */
  double kx = (info->sub[2] - info->sub[0]) * side / info->size;
  double ky = (info->sub[3] - info->sub[1]) * side / info->size;
  double ox = (info->sub[0] - 0.5) * side, oy = (info->sub[1] - 0.5) * side;
  m[0] = c * kx, m[1] = -s * ky, m[2] = cx + c * ox - s * oy;
  m[3] = s * kx, m[4] = c * ky, m[5] = cy + s * ox + c * oy;
  return CSM_OK;
}

csm_status csm_task_crop_matrix(const csm_task_info *info, const csm_face *face, double m[6]) {
  return csm_task_crop_matrix_image(info, face, 0, 0, m);
}

csm_status csm_task_preprocess(const csm_task_info *info, const csm_image *img,
                               const csm_face *face, float *dst) {
  if (!info || !img || !face || !dst)
    return csm_fail(CSM_EUSAGE, "csm_task_preprocess: NULL argument");
  double m[6];
  csm_status st = csm_task_crop_matrix_image(info, face, img->w, img->h, m);
  if (st) return st;
  /* The resampling (colour, gray mix, value mapping, channel order) is
   * shared with whole aligned images: src/task/preprocess.c. */
  return csm_task_preprocess_matrix(info, img, m, dst);
}

/* "name" matches "name" and "name:0" (TF.js output tensor naming). */
static int output_matches(const char *have, const char *want) {
  size_t n = strlen(want);
  return !strncmp(have, want, n) && (have[n] == 0 || !strcmp(have + n, ":0"));
}

size_t csm_task_expected_numel(const csm_task_info *info) {
  switch (info->kind) {
  case CSM_TASK_PROBS:
  case CSM_TASK_LOGITS:
  case CSM_TASK_LOGIT: return (size_t)info->n_classes;
  case CSM_TASK_POSE: return 3 * CSM_MESH_POINTS;
  case CSM_TASK_EMBEDDING: return 0;
  default: return 1;
  }
}

csm_status csm_task_open_model(csm_task *t, const char *path) {
  csm_status st = csm_model_load(path, &t->model);
  if (st) return st;
  t->channels_first =
      csm_model_num_inputs(t->model) >= 1 && csm_model_input_channels_first(t->model, 0);
  if (csm_model_num_inputs(t->model) >= 1) t->declared = csm_model_input_shape(t->model, 0);
  /* Image code writes NHWC: an ONNX model's NCHW input takes it exactly. */
  if (t->channels_first && (st = csm_model_use_channels_last(t->model)))
    return csm_fail_context(st, "%s: ", path);
  return CSM_OK;
}

csm_status csm_task_attach_model(csm_task *t, const char *path, const char *output) {
  t->output = -1;
  csm_status st = csm_task_open_model(t, path);
  return st ? st : csm_task_check_model(t, path, output);
}

csm_status csm_task_check_model(csm_task *t, const char *path, const char *output) {
  const csm_task_info *info = t->info;
  csm_status st;
  t->output = -1;
  if (csm_model_num_inputs(t->model) != 1)
    return csm_fail(CSM_EINPUT, "%s: %d inputs, task %s wants one image input", path,
                    csm_model_num_inputs(t->model), info->name);
  csm_shape in = csm_model_input_shape(t->model, 0);
  if (in.rank != 4 || in.d[1] != info->size || in.d[2] != info->size || in.d[3] != info->channels ||
      in.d[0] == 0 || in.d[0] < -1 || in.d[0] > 1) {
    char buf[64];
    if (t->channels_first)
      return csm_fail(CSM_EINPUT,
                      "%s: input %s (NCHW) does not match task %s ([-1,%d,%d,%d] NCHW: %d "
                      "channel%s of %dx%d)",
                      path, csm_shape_str(&t->declared, buf, sizeof buf), info->name,
                      info->channels, info->size, info->size, info->channels,
                      info->channels == 1 ? "" : "s", info->size, info->size);
    return csm_fail(CSM_EINPUT, "%s: input %s does not match task %s ([-1,%d,%d,%d])", path,
                    csm_shape_str(&in, buf, sizeof buf), info->name, info->size, info->size,
                    info->channels);
  }
  t->batch1 = in.d[0] == 1;
  if (csm_model_num_outputs(t->model) < 1) return csm_fail(CSM_EINPUT, "%s: no outputs", path);
  if (!output) t->output = 0;
  for (int o = 0; output && o < csm_model_num_outputs(t->model); o++)
    if (output_matches(csm_model_output_name(t->model, o), output)) t->output = o;
  if (t->output < 0)
    return csm_fail(CSM_EINPUT, "%s: no output '%s' for task %s", path, output, info->name);
  csm_shape os;
  if ((st = csm_model_output_shape(t->model, t->output, 1, &os)) ||
      (st = csm_shape_numel(&os, &t->n_out)))
    return st;
  size_t want = csm_task_expected_numel(info);
  const char *oname = csm_model_output_name(t->model, t->output);
  if (info->kind == CSM_TASK_EMBEDDING) {
    /* The embedding's dimension is the model's: all its values per input. */
    if (t->n_out < 2)
      return csm_fail(CSM_EINPUT, "%s: output '%s' is not an embedding vector (%zu values)", path,
                      oname, t->n_out);
  } else if (t->n_out != want) {
    return csm_fail(CSM_EINPUT, "%s: output '%s' has %zu values per face, task %s wants %zu", path,
                    oname, t->n_out, info->name, want);
  }
  return CSM_OK;
}

csm_status csm_task_load(const char *models_dir, const char *name, csm_task **out) {
  if (!models_dir || !name || !out) return csm_fail(CSM_EUSAGE, "csm_task_load: NULL argument");
  *out = NULL;
  const csm_task_info *info = csm_task_find(name);
  if (!info) return csm_fail(CSM_EUSAGE, "unknown task '%s' (see 'csm tasks')", name);
  char path[PATH_MAX];
  if (snprintf(path, sizeof path, "%s/%s.json", models_dir, info->model) >= (int)sizeof path)
    return csm_fail(CSM_EUSAGE, "models folder path too long: %s", models_dir);
  csm_task *t = calloc(1, sizeof *t);
  if (!t) return csm_fail(CSM_ENOMEM, "out of memory");
  t->info = info;
  csm_status st = csm_task_attach_model(t, path, info->output);
  if (st) {
    csm_task_free(t);
    return st;
  }
  *out = t;
  return CSM_OK;
}

void csm_task_free(csm_task *t) {
  if (!t) return;
  csm_model_free(t->model);
  free(t->own_strings);
  free(t->labels);
  free(t);
}

const csm_task_info *csm_task_get_info(const csm_task *t) { return t ? t->info : NULL; }
csm_model *csm_task_model(csm_task *t) { return t ? t->model : NULL; }

csm_status csm_task_scores(const csm_task_info *info, const float *raw, size_t n_out,
                           csm_task_result *r) {
  if (!info || !raw || !r) return csm_fail(CSM_EUSAGE, "csm_task_scores: NULL argument");
  memset(r, 0, sizeof *r);
  r->label = -1;
  r->value = NAN;
  if (info->kind == CSM_TASK_EMBEDDING)
    return csm_fail(CSM_EUSAGE, "task %s gives an embedding, not scores: use csm_task_embed",
                    info->name);
  size_t want = csm_task_expected_numel(info);
  if (n_out != want)
    return csm_fail(CSM_EINPUT, "task %s: %zu output values, want %zu", info->name, n_out, want);
  for (size_t k = 0; k < n_out; k++)
    if (!isfinite(raw[k]))
      return csm_fail(CSM_EINPUT, "task %s: model output %zu is not finite", info->name, k);
  if (info->kind == CSM_TASK_VALUE) {
    r->value = r->confidence = raw[0];
    return CSM_OK;
  }
  if (info->kind == CSM_TASK_POSE) {
    csm_status st = csm_pose_scores(info, raw, n_out, r);
    if (st) return st;
  } else if (info->kind == CSM_TASK_SIGMOID) {
    r->scores[0] = 1 - raw[0], r->scores[1] = raw[0];
  } else if (info->kind == CSM_TASK_LOGITS) {
    /* Softmax, shifted by the largest logit so that exp never overflows. */
    double mx = raw[0], sum = 0;
    for (size_t k = 1; k < n_out; k++)
      mx = raw[k] > mx ? raw[k] : mx;
    for (size_t k = 0; k < n_out; k++)
      sum += exp((double)raw[k] - mx);
    for (size_t k = 0; k < n_out; k++)
      r->scores[k] = (float)(exp((double)raw[k] - mx) / sum);
  } else {
    memcpy(r->scores, raw, n_out * sizeof(float));
  }
  r->label = 0;
  for (int k = 1; k < info->n_classes; k++)
    if (r->scores[k] > r->scores[r->label]) r->label = k;
  r->confidence = r->scores[r->label];
  if (info->expect_value) {
    double e = 0, sum = 0;
    for (int k = 0; k < info->n_classes; k++)
      e += (double)k * r->scores[k], sum += r->scores[k];
    r->value = sum > 0 ? (float)(e / sum) : NAN;
  }
  return CSM_OK;
}

size_t csm_task_output_numel(const csm_task *t) { return t ? t->n_out : 0; }

/* One model run on n inputs (n == 1 for a batch-1 model); the task's output
 * values into raw. */
static csm_status run_batch(csm_task *t, const float *inputs, int n, float *raw) {
  const csm_task_info *info = t->info;
  int64_t dims[4] = {n, info->size, info->size, info->channels};
  /* A non-owning view: the caller keeps the inputs. */
  csm_tensor in = {CSM_F32, csm_shape_make(4, dims), (void *)inputs, 0};
  int n_outs = csm_model_num_outputs(t->model);
  csm_tensor *outs = calloc((size_t)n_outs, sizeof *outs);
  if (!outs) return csm_fail(CSM_ENOMEM, "out of memory");
  csm_status st = csm_model_run(t->model, &in, outs);
  if (!st) {
    const csm_tensor *o = &outs[t->output];
    if (o->dtype != CSM_F32 || csm_tensor_numel(o) != (size_t)n * t->n_out)
      st = csm_fail(CSM_EINTERNAL, "task %s: output has %zu values for %d inputs", info->name,
                    csm_tensor_numel(o), n);
    else
      memcpy(raw, o->data, (size_t)n * t->n_out * sizeof(float));
  }
  for (int o = 0; o < n_outs; o++)
    csm_tensor_free(&outs[o]);
  free(outs);
  return st;
}

csm_status csm_task_run_raw(csm_task *t, const float *inputs, int n, float *raw) {
  if (!t || !inputs || !raw || n <= 0)
    return csm_fail(CSM_EUSAGE, "csm_task_run_raw: bad arguments");
  if (!t->batch1) return run_batch(t, inputs, n, raw);
  size_t per = csm_task_input_numel(t->info);
  csm_status st = CSM_OK;
  for (int i = 0; !st && i < n; i++)
    st = run_batch(t, inputs + (size_t)i * per, 1, raw + (size_t)i * t->n_out);
  return st;
}

csm_status csm_task_run(csm_task *t, const float *inputs, int n, csm_task_result *out) {
  if (!t || !inputs || !out || n <= 0) return csm_fail(CSM_EUSAGE, "csm_task_run: bad arguments");
  const csm_task_info *info = t->info;
  if (info->kind == CSM_TASK_EMBEDDING)
    return csm_fail(CSM_EUSAGE, "task %s gives an embedding, not scores: use csm_task_embed",
                    info->name);
  float *raw = csm_malloc_array((size_t)n, t->n_out * sizeof(float));
  if (!raw) return CSM_ENOMEM;
  csm_status st = csm_task_run_raw(t, inputs, n, raw);
  for (int i = 0; !st && i < n; i++)
    st = csm_task_scores(info, raw + (size_t)i * t->n_out, t->n_out, &out[i]);
  free(raw);
  return st;
}

csm_detect_options csm_task_detect_options(const csm_task_info *info) {
  csm_detect_options o = csm_detect_options_default();
  o.mesh = 0; /* a task's crop needs only the box and the roll */
  if (info && info->human_grid) {
    o.detector = CSM_DETECTOR_BACK;
    o.min_score = 0.2f;
    o.hard_nms = 1;
    o.mesh = 1; /* human drops faces its mesh does not confirm */
    o.refine = 0;
  }
  return o;
}
