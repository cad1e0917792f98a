/* The explainer's resources, loaded once and used for image after image:
 * the task (or model file), the detector, the canonical face and its
 * raster, the occlusion centres, the gallery or the calibrated threshold. */
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "run_internal.h"

#define PRNET_STRIDE 20 /* the reference subsamples PRNet's 43867 vertices */
#define PRNET_INPUT 224 /* the reference's input size, for which its patch is given */

csm_status csm_run_largest_face(csm_face_detector *det, const csm_image *img, const char *path,
                                csm_face *out) {
  csm_face *faces = NULL;
  int n = 0;
  csm_status st = csm_face_detect(det, img, &faces, &n);
  if (!st && (n == 0 || !faces[0].has_mesh)) st = csm_fail(CSM_EINPUT, "%s: no face found", path);
  if (!st) *out = faces[0];
  free(faces);
  return st;
}

/* The reference mode's frame is frontal.jpg, beside frontal_mesh.mat as in
 * the reference's data: its size makes the canonical raster, and the maps
 * are drawn over it. */
static csm_status open_prnet_frame(csm_explainer *x, const csm_explain_options *o) {
  char path[PATH_MAX];
  snprintf(path, sizeof path, "%s", o->canonical_mesh);
  char *slash = strrchr(path, '/');
  size_t at = slash ? (size_t)(slash - path + 1) : 0;
  if (snprintf(path + at, sizeof path - at, "frontal.jpg") >= (int)(sizeof path - at))
    return csm_fail(CSM_EUSAGE, "%s: path too long", o->canonical_mesh);
  csm_status st = csm_image_load(path, &x->background);
  if (st)
    return csm_fail_context(st, "the reference frame (frontal.jpg beside --canonical-mesh): ");
  if (x->background.w != x->background.h || x->background.w < 32 || x->background.w > 4096)
    return csm_fail(CSM_EINPUT, "%s: %dx%d; the reference frame must be square, 32..4096 px", path,
                    x->background.w, x->background.h);
  x->size = x->o.size = x->background.w;
  st = csm_prnet_canon_load_pixels(o->canonical_mesh, PRNET_STRIDE, x->size, &x->pc);
  if (st) return csm_fail_context(st, "%s: ", o->canonical_mesh);
  /* The reference's footprint: its input square scaled from the 224-pixel
   * input to the frame (15 * 619 / 224 = 41.45 px on frontal.jpg). */
  if (x->o.occ.footprint < 0)
    x->o.occ.footprint = x->o.occ.space == CSM_PATCH_IMAGE
                             ? x->o.occ.patch * x->size / (double)PRNET_INPUT
                             : x->o.occ.patch;
  return CSM_OK;
}

static csm_status open_background(csm_explainer *x, const csm_explain_options *o) {
  if (x->pc) return CSM_OK; /* frontal.jpg, by open_prnet_frame */
  if (!o->canonical_photo) return csm_canon_render(x->canon, x->size, &x->background);
  csm_image photo = {0};
  csm_face face;
  csm_status st = csm_image_load(o->canonical_photo, &photo);
  if (!st) st = csm_run_largest_face(x->det, &photo, o->canonical_photo, &face);
  if (!st) st = csm_canon_from_photo(x->canon, &photo, &face, x->size, &x->background);
  csm_image_free(&photo);
  return st;
}

/* The largest face of an image and its model input. */
static csm_status face_input(csm_explainer *x, const char *path, float *input) {
  csm_image img = {0};
  csm_face face;
  const csm_task_info *info = csm_task_get_info(x->task);
  csm_status st = csm_image_load(path, &img);
  if (!st) st = csm_run_largest_face(x->det, &img, path, &face);
  if (!st) st = csm_task_preprocess(info, &img, &face, input);
  csm_image_free(&img);
  return st;
}

float csm_run_cosine(const float *a, const float *b, int n) {
  double s = 0, na = 0, nb = 0;
  for (int k = 0; k < n; k++)
    s += (double)a[k] * b[k], na += (double)a[k] * a[k], nb += (double)b[k] * b[k];
  return na > 0 && nb > 0 ? (float)(s / sqrt(na * nb)) : 0;
}

/* calibrate: the threshold with the best accuracy on the pairs. */
static csm_status calibrate(csm_explainer *x, const csm_explain_options *o) {
  csm_input *in = NULL;
  int n = 0;
  char *buf = NULL;
  csm_status st = csm_inputs_parse(o->mode, NULL, 0, o->calibrate, &in, &n, &buf);
  int dim = csm_task_embedding_dim(x->task);
  size_t numel = csm_task_input_numel(csm_task_get_info(x->task));
  float *inputs = csm_malloc_array(2 * numel, sizeof(float));
  float *emb = csm_malloc_array(2 * (size_t)(dim > 0 ? dim : 1), sizeof(float));
  float *sims = csm_malloc_array((size_t)(n > 0 ? n : 1), sizeof(float));
  int *same = csm_malloc_array((size_t)(n > 0 ? n : 1), sizeof(int));
  if (!st && (!inputs || !emb || !sims || !same)) st = CSM_ENOMEM;
  for (int i = 0; !st && i < n; i++) {
    if (in[i].truth < 0)
      st = csm_fail(CSM_EINPUT, "%s: line for %s %s: say same or different", o->calibrate,
                    in[i].path, in[i].path2);
    if (!st) st = face_input(x, in[i].path, inputs);
    if (!st) st = face_input(x, in[i].path2, inputs + numel);
    if (!st) st = csm_task_embed(x->task, inputs, 2, emb);
    if (!st) sims[i] = csm_run_cosine(emb, emb + dim, dim), same[i] = in[i].truth;
  }
  float acc = 0;
  if (!st) st = csm_verify_calibrate(sims, same, n, &x->threshold, &acc);
  x->calibrated_accuracy = acc;
  x->calibrated_pairs = n;
  free(inputs);
  free(emb);
  free(sims);
  free(same);
  free(in);
  free(buf);
  return st ? csm_fail_context(st, "--calibrate: ") : CSM_OK;
}

static csm_status open_resources(csm_explainer *x, const csm_explain_options *o) {
  x->o = *o;
  x->size = o->size;
  x->cls = -1;
  x->threshold = (float)o->threshold;
  csm_run_use_threads(x);
  csm_status st;
  if (o->model) {
    csm_task_info info = o->model_info;
    info.name = "custom";
    /* Size and channels left 0: the model's own (csm_task_load_custom). */
    st = csm_task_load_custom(o->model, &info, &x->task);
  } else {
    st = csm_task_load(csm_models_dir(), o->mode == CSM_EXPLAIN_CLASSIFY ? o->task : o->embedding,
                       &x->task);
  }
  if (st) return st;
  const csm_task_info *info = csm_task_get_info(x->task);
  if (o->cls) x->cls = csm_task_class_index(info, o->cls);
  if (o->prnet) {
    if ((st = open_prnet_frame(x, o))) return st;
  } else {
    if ((st = csm_canon_default(&x->canon))) return st;
    if ((st = csm_face_detector_create(csm_models_dir(), &o->det, &x->det))) return st;
  }
  if (o->mode == CSM_EXPLAIN_IDENTIFY) {
    if ((st = csm_gallery_load_dir(&x->gallery, x->task, x->det, o->gallery))) return st;
    if (o->identity && csm_gallery_find(x->gallery, o->identity) < 0)
      return csm_fail(CSM_EUSAGE, "--identity %s: not in the gallery %s", o->identity, o->gallery);
  }
  if (o->mode == CSM_EXPLAIN_VERIFY && o->calibrate && (st = calibrate(x, o))) return st;
  size_t npx = (size_t)x->size * x->size;
  x->mask = csm_malloc(npx);
  if (!x->mask) return CSM_ENOMEM;
  if (x->canon) {
    /* The canonical mask at the raster's size (nearest pixel). */
    const unsigned char *m = csm_canon_mask(x->canon);
    int cw = csm_canon_width(x->canon), ch = csm_canon_height(x->canon);
    for (int j = 0; j < x->size; j++)
      for (int i = 0; i < x->size; i++) {
        int si = (int)((i + 0.5) * cw / x->size), sj = (int)((j + 0.5) * ch / x->size);
        x->mask[(size_t)j * x->size + i] = m[(size_t)sj * cw + si];
      }
  } else {
    memset(x->mask, 1, npx);
  }
  if (o->grid_stride > 0) {
    st = csm_centres_grid(x->mask, x->size, x->size, o->grid_stride, &x->centres, &x->n_centres);
  } else if (x->canon) {
    st = csm_centres_mesh(x->canon, x->size, &x->centres, &x->n_centres);
  } else {
    int n = csm_prnet_canon_num_vertices(x->pc);
    x->centres = csm_malloc_array((size_t)n, 2 * sizeof(float));
    if (!x->centres) return CSM_ENOMEM;
    memcpy(x->centres, csm_prnet_canon_xy(x->pc), (size_t)n * 2 * sizeof(float));
    x->n_centres = n;
  }
  if (st) return st;
  return open_background(x, o);
}

csm_status csm_explainer_open(const csm_explain_options *o, csm_explainer **out) {
  *out = NULL;
  if (!o->task || (int)o->occ.space < 0 || (o->size <= 0 && !o->prnet))
    return csm_fail(CSM_EUSAGE, "csm_explainer_open: options not resolved "
                                "(csm_explain_options_resolve)");
  csm_explainer *x = calloc(1, sizeof *x);
  if (!x) return csm_fail(CSM_ENOMEM, "out of memory");
  csm_status st = open_resources(x, o);
  if (st) {
    csm_explainer_free(x);
    return st;
  }
  *out = x;
  return CSM_OK;
}

void csm_explainer_free(csm_explainer *x) {
  if (!x) return;
  csm_gallery_free(x->gallery);
  csm_task_free(x->task);
  csm_face_detector_free(x->det);
  csm_canon_free(x->canon);
  csm_prnet_canon_free(x->pc);
  free(x->centres);
  free(x->mask);
  csm_image_free(&x->background);
  free(x);
}

csm_task *csm_explainer_task(const csm_explainer *x) { return x->task; }
int csm_explainer_canon_size(const csm_explainer *x) { return x->size; }
const csm_image *csm_explainer_background(const csm_explainer *x) { return &x->background; }
const csm_explain_options *csm_explainer_options(const csm_explainer *x) { return &x->o; }
float csm_explainer_threshold(const csm_explainer *x) { return x->threshold; }

csm_status csm_explainer_calibration(const csm_explainer *x, float *threshold, float *accuracy,
                                     int *pairs) {
  if (!x->calibrated_pairs) return csm_fail(CSM_EUSAGE, "the explainer was not calibrated");
  *threshold = x->threshold, *accuracy = x->calibrated_accuracy, *pairs = x->calibrated_pairs;
  return CSM_OK;
}

void csm_explainer_set_progress(csm_explainer *x, csm_progress_fn fn, void *ctx) {
  x->progress = fn, x->progress_ctx = ctx;
}

void csm_run_use_threads(const csm_explainer *x) {
  if (x->o.threads > 0) csm_set_thread_local_threads(x->o.threads);
}

void csm_run_summary_calibration(const csm_explainer *x, csm_run_summary *s) {
  s->threshold = x->threshold;
  s->calibration_accuracy = x->calibrated_accuracy;
  s->calibration_pairs = x->calibrated_pairs;
}
