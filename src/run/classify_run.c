/* csm classify as a library call: a task (a zoo entry or a model file) on
 * every face of each image, with the report as JSON or text. Every image is
 * classified before anything is written or returned: one bad image gives
 * an error and no partial result. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "run_internal.h"

/* One image's faces, their results and (save_input) their model inputs. */
typedef struct classify_image {
  const char *path; /* the caller's */
  csm_face *faces;
  csm_task_result *res;
  float *inputs;
  int n;
} classify_image;

struct csm_classify_report {
  csm_task *task;
  int n_images;
  classify_image *images;
};

void csm_classify_options_init(csm_classify_options *o) {
  memset(o, 0, sizeof *o);
  o->det = csm_detect_options_default();
  /* A model file's description: as csm_explain_options_init's. */
  o->model_info.crop_scale = 1.4f;
  o->model_info.upright = 1;
  o->model_info.scale = 1;
  o->model_info.kind = CSM_TASK_PROBS;
}

csm_status csm_classify_options_resolve(csm_classify_options *o) {
  const csm_task_info *info;
  if (o->model) {
    if (o->task && strcmp(o->task, "custom"))
      return csm_fail(CSM_EUSAGE, "--model makes a custom task: drop --task %s", o->task);
    o->task = "custom";
    if (o->model_info.kind == CSM_TASK_EMBEDDING)
      return csm_fail(CSM_EUSAGE, "--confidence embedding gives no classes");
    info = &o->model_info;
  } else {
    if (!o->task) return csm_fail(CSM_EUSAGE, "--task (or --model) is required (see 'csm tasks')");
    info = csm_task_find(o->task);
    if (!info || !strcmp(o->task, "custom"))
      return csm_fail(CSM_EUSAGE, "unknown task '%s' (see 'csm tasks')", o->task);
  }
  /* The task decides how faces are found (a task that replicates its
   * model's own pipeline finds them as that pipeline does); a detector or
   * score the caller gave still wins. */
  csm_detect_options want = csm_task_detect_options(info);
  if (!o->det_detector_given) o->det.detector = want.detector;
  if (!o->det_min_score_given) o->det.min_score = want.min_score;
  o->det.hard_nms = want.hard_nms;
  o->det.refine = want.refine;
  o->det.mesh = want.mesh;
  return CSM_OK;
}

static csm_status load_task(const csm_classify_options *o, csm_task **task) {
  if (!o->model) return csm_task_load(csm_models_dir(), o->task, task);
  csm_task_info info = o->model_info;
  info.name = "custom";
  /* Size and channels left 0: the model's own (csm_task_load_custom). */
  return csm_task_load_custom(o->model, &info, task);
}

/* One image: detect, crop every face into one batch, run it. */
static csm_status classify_image_run(const csm_classify_options *o, csm_face_detector *det,
                                     csm_task *task, classify_image *r) {
  const csm_task_info *info = csm_task_get_info(task);
  csm_image img;
  csm_status st = csm_image_load(r->path, &img);
  if (st) return st;
  if (o->no_detect) {
    r->faces = malloc(sizeof *r->faces);
    if (r->faces)
      *r->faces = csm_task_whole_image_face(info, &img), r->n = 1;
    else
      st = csm_fail(CSM_ENOMEM, "out of memory");
  } else {
    st = csm_face_detect(det, &img, &r->faces, &r->n);
  }
  float *batch = NULL;
  size_t per = csm_task_input_numel(info);
  if (!st && r->n > 0) {
    batch = malloc((size_t)r->n * per * sizeof(float));
    r->res = calloc((size_t)r->n, sizeof *r->res);
    if (!batch || !r->res) st = csm_fail(CSM_ENOMEM, "out of memory");
  }
  for (int i = 0; !st && i < r->n; i++)
    st = csm_task_preprocess(info, &img, &r->faces[i], batch + (size_t)i * per);
  if (!st && r->n > 0) st = csm_task_run(task, batch, r->n, r->res);
  if (!st && o->save_input)
    r->inputs = batch; /* kept for the file */
  else
    free(batch);
  csm_image_free(&img);
  if (st) st = csm_fail_context(st, "%s: ", r->path);
  return st;
}

/* save_input: every face's input, in output order, as one NHWC batch. */
static csm_status save_inputs(const char *path, const csm_classify_report *rep) {
  const csm_task_info *info = csm_task_get_info(rep->task);
  size_t per = csm_task_input_numel(info), n = 0;
  for (int i = 0; i < rep->n_images; i++)
    n += (size_t)rep->images[i].n;
  int64_t dims[4] = {(int64_t)n, info->size, info->size, info->channels};
  csm_tensor t = {0};
  csm_shape sh = csm_shape_make(4, dims);
  csm_status st = csm_tensor_alloc(&t, CSM_F32, &sh);
  if (st) return st;
  float *p = t.data;
  for (int i = 0; i < rep->n_images; i++)
    if (rep->images[i].n) {
      memcpy(p, rep->images[i].inputs, (size_t)rep->images[i].n * per * sizeof(float));
      p += (size_t)rep->images[i].n * per;
    }
  st = csm_npy_write(path, &t);
  csm_tensor_free(&t);
  return st;
}

void csm_classify_report_free(csm_classify_report *rep) {
  if (!rep) return;
  for (int i = 0; rep->images && i < rep->n_images; i++) {
    free(rep->images[i].faces);
    free(rep->images[i].res);
    free(rep->images[i].inputs);
  }
  free(rep->images);
  csm_task_free(rep->task);
  free(rep);
}

/* After each image: rate and time left by images, as the explaining runs
 * report them by faces. Nonzero: cancel. */
static int report_progress(const csm_classify_options *o, int done, int n, int faces, double t0) {
  if (!o->progress) return 0;
  csm_progress p;
  memset(&p, 0, sizeof p);
  p.input = done, p.n_inputs = n, p.faces_done = faces;
  p.seconds = csm_now() - t0;
  p.rate = p.seconds > 0 ? faces / p.seconds : 0;
  p.eta = done ? p.seconds / done * (n - done) : 0;
  return o->progress(o->progress_ctx, &p);
}

csm_status csm_classify_run(const csm_classify_options *o, const char *const *paths, int n,
                            csm_classify_report **out) {
  *out = NULL;
  if (n <= 0) return csm_fail(CSM_EUSAGE, "no images given");
  if (!o->task || (o->model && strcmp(o->task, "custom")))
    return csm_fail(CSM_EUSAGE, "csm_classify_run: options not resolved");
  double t0 = csm_now();
  csm_classify_report *rep = calloc(1, sizeof *rep);
  if (rep) rep->images = calloc((size_t)n, sizeof *rep->images);
  csm_face_detector *det = NULL;
  csm_status st = rep && rep->images ? CSM_OK : csm_fail(CSM_ENOMEM, "out of memory");
  if (!st) st = load_task(o, &rep->task);
  if (!st && !o->no_detect) st = csm_face_detector_create(csm_models_dir(), &o->det, &det);
  int faces = 0;
  for (int i = 0; !st && i < n; i++) {
    rep->n_images = i + 1;
    rep->images[i].path = paths[i];
    st = classify_image_run(o, det, rep->task, &rep->images[i]);
    faces += rep->images[i].n;
    if (report_progress(o, i + 1, n, faces, t0) && !st) st = csm_fail(CSM_EUSAGE, "cancelled");
  }
  if (!st && o->save_input) st = save_inputs(o->save_input, rep);
  csm_face_detector_free(det);
  if (st) {
    csm_classify_report_free(rep);
    return st;
  }
  *out = rep;
  return CSM_OK;
}

static void face_json(FILE *fp, const csm_task_info *info, const csm_face *f,
                      const csm_task_result *r) {
  fprintf(fp, "{\"box\": [");
  for (int k = 0; k < 4; k++) {
    if (k) fprintf(fp, ", ");
    csm_json_float(fp, f->box[k]);
  }
  fprintf(fp, "], \"label\": ");
  if (r->label >= 0)
    csm_json_string(fp, info->labels[r->label]);
  else
    fprintf(fp, "null");
  fprintf(fp, ", \"confidence\": ");
  csm_json_float(fp, r->confidence);
  fprintf(fp, ", \"scores\": {");
  for (int k = 0; k < info->n_classes; k++) {
    fprintf(fp, "%s", k ? ", " : "");
    csm_json_string(fp, info->labels[k]);
    fprintf(fp, ": ");
    csm_json_float(fp, r->scores[k]);
  }
  fprintf(fp, "}");
  if (!isnan(r->value)) {
    fprintf(fp, ", \"value\": ");
    csm_json_float(fp, r->value);
  }
  fprintf(fp, "}");
}

static void report_json(FILE *fp, const csm_classify_report *rep) {
  const csm_task_info *info = csm_task_get_info(rep->task);
  fprintf(fp, "{\"task\": ");
  csm_json_string(fp, info->name);
  fprintf(fp, ", \"images\": [");
  for (int i = 0; i < rep->n_images; i++) {
    const classify_image *r = &rep->images[i];
    fprintf(fp, "%s\n  {\"path\": ", i ? "," : "");
    csm_json_string(fp, r->path);
    fprintf(fp, ", \"faces\": [");
    for (int j = 0; j < r->n; j++) {
      fprintf(fp, "%s\n    ", j ? "," : "");
      face_json(fp, info, &r->faces[j], &r->res[j]);
    }
    fprintf(fp, "%s]}", r->n ? "\n  " : "");
  }
  fprintf(fp, "\n]}\n");
}

static void report_text(FILE *fp, const csm_classify_report *rep) {
  const csm_task_info *info = csm_task_get_info(rep->task);
  for (int i = 0; i < rep->n_images; i++) {
    const classify_image *r = &rep->images[i];
    fprintf(fp, "%s: %d face%s\n", r->path, r->n, r->n == 1 ? "" : "s");
    for (int j = 0; j < r->n; j++) {
      const float *b = r->faces[j].box;
      const csm_task_result *res = &r->res[j];
      fprintf(fp, "  face %d [%.0f,%.0f,%.0f,%.0f]:", j + 1, b[0], b[1], b[2], b[3]);
      if (res->label >= 0) fprintf(fp, " %s %.3f", info->labels[res->label], res->confidence);
      if (!isnan(res->value)) fprintf(fp, " (%.1f years)", res->value);
      /* The classes by score, at most five: a 100-class head would drown the line. */
      int shown[5], n_shown = info->n_classes < 5 ? info->n_classes : 5;
      for (int s = 0; s < n_shown; s++) {
        int best = -1;
        for (int k = 0; k < info->n_classes; k++) {
          int used = 0;
          for (int u = 0; u < s; u++)
            used |= shown[u] == k;
          if (!used && (best < 0 || res->scores[k] > res->scores[best])) best = k;
        }
        shown[s] = best;
        fprintf(fp, "%s%s %.3f", s ? ", " : "  [", info->labels[best], res->scores[best]);
      }
      fprintf(fp, "%s\n", n_shown ? (n_shown < info->n_classes ? ", ...]" : "]") : "");
    }
  }
}

static csm_status render(const csm_classify_report *rep, int json, char **text) {
  *text = NULL;
  size_t len = 0;
  FILE *fp = open_memstream(text, &len);
  if (!fp) return csm_fail(CSM_ENOMEM, "out of memory");
  if (json)
    report_json(fp, rep);
  else
    report_text(fp, rep);
  fclose(fp);
  return *text ? CSM_OK : csm_fail(CSM_ENOMEM, "out of memory");
}

csm_status csm_classify_report_json(const csm_classify_report *r, char **text) {
  return render(r, 1, text);
}

csm_status csm_classify_report_text(const csm_classify_report *r, char **text) {
  return render(r, 0, text);
}
