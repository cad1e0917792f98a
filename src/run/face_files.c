/* The files written for one face: its maps as .npy and PNG, and its
 * run.json entry; and the helpers every run folder's writer uses. */
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "run_internal.h"

csm_status csm_run_path(char *buf, size_t len, const char *dir, const char *name) {
  int k = snprintf(buf, len, "%s/%s", dir, name);
  if (k < 0 || (size_t)k >= len)
    return csm_fail(CSM_EUSAGE, "output path too long: %s/%s", dir, name);
  return CSM_OK;
}

csm_status csm_run_write_npy(const char *path, const float *v, int w, int h) {
  int64_t dims[2] = {h, w};
  csm_tensor t = {CSM_F32, csm_shape_make(2, dims), (void *)v, 0};
  return csm_npy_write(path, &t);
}

static csm_status write_map_png(const char *path, const float *v, const float *count, int w, int h,
                                const csm_image *bg, const char *title) {
  unsigned char *valid = csm_malloc((size_t)w * h);
  if (!valid) return CSM_ENOMEM;
  for (size_t p = 0; p < (size_t)w * h; p++)
    valid[p] = count[p] > 0;
  csm_map_style style = csm_map_style_default();
  style.title = title;
  style.scale = w < 192 ? (192 + w - 1) / w : 1;
  csm_image out = {0};
  csm_status st = csm_map_render(v, valid, w, h, bg && bg->rgb ? bg : NULL, &style, &out);
  if (!st) st = csm_image_write_png(path, &out);
  csm_image_free(&out);
  free(valid);
  return st;
}

csm_status csm_explainer_write_canonical(const csm_explainer *x, const char *dir) {
  if (!x->background.rgb) return CSM_OK;
  char path[PATH_MAX];
  snprintf(path, sizeof path, "%s/canonical.png", dir);
  return csm_image_write_png(path, &x->background);
}

/* dir/name+suffix, or an error when the path does not fit. */
static csm_status join(char *buf, size_t len, const char *dir, const char *name,
                       const char *suffix) {
  int k = dir ? snprintf(buf, len, "%s/%s%s", dir, name, suffix)
              : snprintf(buf, len, "%s%s", name, suffix);
  if (k < 0 || (size_t)k >= len) return csm_fail(CSM_EUSAGE, "output path too long: %s", name);
  return CSM_OK;
}

static void json_file(FILE *json, const char *key, const char *name, const char *suffix) {
  char buf[PATH_MAX];
  fprintf(json, ", \"%s\": ", key);
  if (join(buf, sizeof buf, NULL, name, suffix)) buf[0] = 0;
  csm_json_string(json, buf);
}

csm_status csm_face_result_write(const csm_explainer *x, const char *dir, const csm_input *in,
                                 const char *stem, const csm_face_result *f, FILE *json) {
  char name[1024], path[PATH_MAX], title[160];
  const char *label = f->label_name;
  if (snprintf(name, sizeof name, "%s_face%d", stem, f->face_index) >= (int)sizeof name)
    return csm_fail(CSM_EUSAGE, "file name too long: %s", stem);
  snprintf(title, sizeof title, "%s: %s %.3f", x->o.task, f->what, f->occ.base);
  int n = f->occ.size;
  csm_status st;
  if (dir &&
      ((st = join(path, sizeof path, dir, name, ".npy")) ||
       (st = csm_run_write_npy(path, f->cis.value, f->cis.w, f->cis.h)) ||
       (st = join(path, sizeof path, dir, name, ".png")) ||
       (st = write_map_png(path, f->cis.value, f->cis.count, f->cis.w, f->cis.h, &x->background,
                           title)) ||
       (st = join(path, sizeof path, dir, name, "_input.npy")) ||
       (st = csm_run_write_npy(path, f->occ.input_map, n, n)) ||
       (st = join(path, sizeof path, dir, name, "_input.png")) ||
       (st = write_map_png(path, f->occ.input_map, f->occ.input_count, n, n, &f->crop, title))))
    return st;
  fprintf(json, "{\"image\": ");
  csm_json_string(json, in->path);
  if (in->path2) {
    fprintf(json, ", \"image2\": ");
    csm_json_string(json, in->path2);
  }
  fprintf(json, ", \"face\": %d, \"box\": [", f->face_index);
  for (int k = 0; k < 4; k++) {
    if (k) fprintf(json, ", ");
    csm_json_float(json, f->face.box[k]);
  }
  fprintf(json, "], \"label\": ");
  csm_json_string(json, label);
  fprintf(json, ", \"confidence\": ");
  csm_json_string(json, f->what);
  fprintf(json, ", \"base\": ");
  csm_json_float(json, f->occ.base);
  fputs(f->extra, json);
  fprintf(json, ", \"centres\": %d, \"evaluated\": %d, \"seconds\": ", f->occ.n_centres,
          f->occ.n_evaluated);
  csm_json_float(json, f->occ.seconds);
  if (!dir) {
    fprintf(json, "}");
    return CSM_OK;
  }
  json_file(json, "cis", name, ".npy");
  json_file(json, "cis_png", name, ".png");
  json_file(json, "input", name, "_input.npy");
  json_file(json, "input_png", name, "_input.png");
  fprintf(json, "}");
  return CSM_OK;
}
