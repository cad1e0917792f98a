/* csm compare: every method's map of every face, side by side. */
#include <stdlib.h>
#include <string.h>

#include "methods_run.h"

static const char *help_head =
    "usage: csm compare --task TASK IMAGE... -o DIR [--methods LIST] [--cms FILE.npy]\n"
    "                   [options]\n\n"
    "Explains every face with every method on the same confidence (the one CIS\n"
    "uses: the predicted class, the identity, the pair's verdict) and writes,\n"
    "per face, DIR/<stem>_face<k>_compare.png (the model's input crop and each\n"
    "map over it, min-max normalized; a verify pair gets a row per face) and\n"
    "DIR/<stem>_face<k>_<method>.npy (the map in the model's input space,\n"
    "size x size, or 2 x size x size for a pair, float32, in the method's own\n"
    "units), DIR/<stem>_face<k>_x.npy (the model input every map explains,\n"
    "size x size x channels, NHWC, preprocessed; 2 x ... for a pair) and\n"
    "DIR/compare.json. CIS and the CMS (--cms, a canonical map from\n"
    "csm cms) are read through each face's dense correspondence at every input\n"
    "pixel (0 off the visible face).\n\n";

static const char *help_tail = "\nMethods are described in docs/baselines.md.\n";

/* One sample's maps, kept on the face until the files are written. */
typedef struct compare_result {
  int n, views, size, channels;
  float *maps[METHODS_MAX];
  float *x; /* the views' model inputs */
  double seconds[METHODS_MAX];
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
                               face_cis *f) {
  methods_run *r = ctx;
  compare_result *c = calloc(1, sizeof *c);
  if (!c) return csm_fail(CSM_ENOMEM, "out of memory");
  c->n = r->ml.n, c->views = n_views, c->size = sc->size, c->channels = sc->channels;
  size_t per = (size_t)sc->size * sc->size * sc->channels;
  c->x = csm_malloc_array(per * n_views, sizeof(float));
  csm_status st = c->x ? CSM_OK : CSM_ENOMEM;
  for (int v = 0; !st && v < n_views; v++)
    memcpy(c->x + per * v, views[v].input, per * sizeof(float));
  if (!st)
    st = method_maps(&r->ml, &r->ma, sc, views, n_views, f, r->cms, r->x.size, c->maps, c->seconds);
  if (st) {
    free(c->x);
    free(c);
    return st;
  }
  f->result = c;
  f->result_free = compare_result_free;
  return CSM_OK;
}

static csm_status write_face(const methods_run *r, int i, const face_cis *f, FILE *fp) {
  const compare_result *c = f->result;
  char path[4096];
  csm_status st = CSM_OK;
  const char *dir = r->a.out_dir, *stem = r->stems[i];
  fprintf(fp, "{");
  methods_run_json_sample(fp, r, i, f);
  fprintf(fp, ", \"confidence\": ");
  csm_json_string(fp, f->what);
  snprintf(path, sizeof path, "%s_face%d_compare.png", stem, f->face_index);
  fprintf(fp, ", \"png\": ");
  csm_json_string(fp, path);
  fprintf(fp, ", \"maps\": {");
  for (int k = 0; !st && k < c->n; k++) {
    const char *label = method_label(r->ml.code[k]);
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
    st = method_grid_png(path, crops, c->views, &r->ml, c->maps, c->size);
  }
  return st;
}

int csm_cli_compare(int argc, char **argv) {
  methods_run r;
  methods_run_spec spec = {"compare", help_head, help_tail, 1, 1, 0};
  int code = methods_run_parse(&r, &spec, argc, argv);
  if (code >= 0) {
    methods_run_free(&r);
    return code;
  }
  csm_status st = methods_run_all(&r, compare_hook, &r);
  /* Everything computed: now the files. */
  char *json = NULL;
  size_t json_len = 0;
  FILE *fp = NULL;
  if (!st) st = csm_cli_make_dir(r.a.out_dir);
  if (!st && !(fp = open_memstream(&json, &json_len))) st = csm_fail(CSM_ENOMEM, "out of memory");
  if (!st) {
    fprintf(fp, "{\"csm_version\": \"%s\", \"command\": \"compare\", ", CSM_VERSION);
    methods_run_json_head(fp, &r);
    fprintf(fp, ", \"methods\": [");
    for (int k = 0; k < r.ml.n; k++)
      fprintf(fp, "%s\"%s\"", k ? ", " : "", method_label(r.ml.code[k]));
    fprintf(fp, "],\n \"faces\": [");
  }
  int first = 1, total = 0;
  for (int i = 0; !st && i < r.n_in; i++)
    for (int k = 0; !st && k < r.n_faces[i]; k++) {
      fprintf(fp, "%s\n  ", first ? "" : ",");
      first = 0;
      st = write_face(&r, i, &r.faces[i][k], fp);
      total++;
    }
  if (fp) {
    fprintf(fp, "\n ],\n \"seconds\": %.3f\n}\n", csm_now() - r.t0);
    fclose(fp);
  }
  if (!st) {
    char path[4096];
    snprintf(path, sizeof path, "%s/compare.json", r.a.out_dir);
    st = csm_write_file_atomic(path, json, json_len);
  }
  if (!st) {
    if (r.layer_name) fprintf(stderr, "csm compare: CAM layer %s\n", r.layer_name);
    fprintf(stderr, "csm compare: %d face%s, %d method%s in %.1f s -> %s\n", total,
            total == 1 ? "" : "s", r.ml.n, r.ml.n == 1 ? "" : "s", csm_now() - r.t0, r.a.out_dir);
  }
  free(json);
  methods_run_free(&r);
  return st ? csm_cli_fail(st) : CSM_EXIT_OK;
}
