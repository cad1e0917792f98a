/* csm compare as a library call: every method's map of every face, side by
 * side, in the model's input space. */
#include <stdlib.h>
#include <string.h>

#include "methods_internal.h"

/* One sample's maps, kept on the face until the files are written. */
typedef struct compare_result {
  int n, views, size, channels;
  float *maps[CSM_RUN_METHODS_MAX];
  float *x; /* the views' model inputs */
  double seconds[CSM_RUN_METHODS_MAX];
} compare_result;

static void compare_result_free(void *p) {
  compare_result *c = p;
  if (!c) return;
  for (int k = 0; k < c->n; k++)
    free(c->maps[k]);
  free(c->x);
  free(c);
}

static csm_status compare_hook(void *ctx, const csm_scorer *sc, const csm_view *views, int n_views,
                               csm_face_result *f) {
  csm_methods_report *r = ctx;
  compare_result *c = calloc(1, sizeof *c);
  if (!c) return csm_fail(CSM_ENOMEM, "out of memory");
  c->n = r->ml.n, c->views = n_views, c->size = sc->size, c->channels = sc->channels;
  size_t per = (size_t)sc->size * sc->size * sc->channels;
  c->x = csm_malloc_array(per * n_views, sizeof(float));
  csm_status st = c->x ? CSM_OK : CSM_ENOMEM;
  for (int v = 0; !st && v < n_views; v++)
    memcpy(c->x + per * v, views[v].input, per * sizeof(float));
  if (!st)
    st = csm_run_method_maps(&r->ml, &r->m.opt, sc, views, n_views, f, r->cms, r->x->size, c->maps,
                             c->seconds);
  if (st) {
    free(c->x);
    free(c);
    return st;
  }
  f->result = c;
  f->result_free = compare_result_free;
  return CSM_OK;
}

static csm_status write_face(const csm_methods_report *r, int i, const csm_face_result *f,
                             FILE *fp) {
  const compare_result *c = f->result;
  char path[4096];
  csm_status st = CSM_OK;
  const char *dir = r->out_dir, *stem = r->stems[i];
  fprintf(fp, "{");
  csm_methods_json_sample(fp, r, i, f);
  fprintf(fp, ", \"confidence\": ");
  csm_json_string(fp, f->what);
  snprintf(path, sizeof path, "%s_face%d_compare.png", stem, f->face_index);
  fprintf(fp, ", \"png\": ");
  csm_json_string(fp, path);
  fprintf(fp, ", \"maps\": {");
  for (int k = 0; !st && k < c->n; k++) {
    const char *label = csm_run_method_label(r->ml.code[k]);
    char name[512];
    snprintf(name, sizeof name, "%s_face%d_%s.npy", stem, f->face_index, label);
    snprintf(path, sizeof path, "%s/%s", dir, name);
    int64_t dims[3] = {c->views, c->size, c->size};
    csm_tensor t = {CSM_F32, c->views > 1 ? csm_shape_make(3, dims) : csm_shape_make(2, dims + 1),
                    c->maps[k], 0};
    st = csm_npy_write(path, &t);
    fprintf(fp, "%s\"%s\": {\"npy\": ", k ? ", " : "", label);
    csm_json_string(fp, name);
    fprintf(fp, ", \"seconds\": %.3f}", c->seconds[k]);
  }
  fprintf(fp, "}");
  if (!st) {
    /* The input the maps explain, for checking them against other tools. */
    char name[512];
    snprintf(name, sizeof name, "%s_face%d_x.npy", stem, f->face_index);
    snprintf(path, sizeof path, "%s/%s", dir, name);
    int64_t dims[4] = {c->views, c->size, c->size, c->channels};
    csm_tensor t = {CSM_F32, c->views > 1 ? csm_shape_make(4, dims) : csm_shape_make(3, dims + 1),
                    c->x, 0};
    st = csm_npy_write(path, &t);
    fprintf(fp, ", \"x\": ");
    csm_json_string(fp, name);
  }
  fprintf(fp, "}");
  if (!st) {
    const csm_image *crops[2] = {&f->crop, &f->crop2};
    snprintf(path, sizeof path, "%s/%s_face%d_compare.png", dir, stem, f->face_index);
    st = csm_run_method_grid_png(path, crops, c->views, &r->ml, c->maps, c->size);
  }
  return st;
}

csm_status csm_compare_run(const csm_explain_options *o, const csm_input *in, int n,
                           const csm_methods_options *m, const csm_run_options *ro,
                           csm_methods_report **out) {
  *out = NULL;
  if (!ro || !ro->out_dir) return csm_fail(CSM_EUSAGE, "-o DIR is required");
  csm_methods_report *r = calloc(1, sizeof *r);
  if (!r) return csm_fail(CSM_ENOMEM, "out of memory");
  csm_status st = csm_methods_run_all(r, CSM_RUN_COMPARE, o, in, n, m, ro, compare_hook, r);
  /* Everything computed: now the files. */
  char *json = NULL;
  size_t json_len = 0;
  FILE *fp = NULL;
  if (!st) r->locked = !(st = csm_run_folder_lock(r->out_dir, &r->lock_fd));
  if (!st && !(fp = open_memstream(&json, &json_len))) st = csm_fail(CSM_ENOMEM, "out of memory");
  if (!st) {
    fprintf(fp, "{\"csm_version\": \"%s\", \"command\": \"compare\", ", CSM_VERSION);
    csm_methods_json_head(fp, r);
    fprintf(fp, ", \"methods\": [");
    for (int k = 0; k < r->ml.n; k++)
      fprintf(fp, "%s\"%s\"", k ? ", " : "", csm_run_method_label(r->ml.code[k]));
    fprintf(fp, "],\n \"faces\": [");
  }
  int first = 1;
  for (int i = 0; !st && i < r->n_in; i++)
    for (int k = 0; !st && k < r->n_faces[i]; k++) {
      fprintf(fp, "%s\n  ", first ? "" : ",");
      first = 0;
      st = write_face(r, i, &r->faces[i][k], fp);
    }
  if (fp) {
    fprintf(fp, "\n ],\n \"seconds\": %.3f\n}\n", csm_now() - r->t0);
    fclose(fp);
  }
  char path[4096];
  if (!st) st = csm_run_path(path, sizeof path, r->out_dir, "compare.json");
  if (!st) st = csm_write_file_atomic(path, json, json_len);
  free(json);
  return csm_methods_report_finish(r, st, out);
}
