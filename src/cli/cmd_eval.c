/* csm eval: the paper's faithfulness comparison (DESIGN.md step 7) plus
 * deletion and insertion curves, over every face of the inputs. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "csm/eval.h"
#include "methods_run.h"

static const char *help_head =
    "usage: csm eval --task TASK IMAGE... --cms FILE.npy [--methods LIST] [--json]\n"
    "                [-o DIR] [options]\n\n"
    "Measures how faithful each method's map is (the paper's Eq. 9-13). For every\n"
    "face: Y, the confidence for the class predicted on the original; each map\n"
    "min-max normalized to [0, 1] and rescaled to the sum of the CMS map's on that\n"
    "face (Eq. 10; the CMS read through the face's correspondence); the negative\n"
    "explanation image E = I (1 - H) (Eq. 9: salient pixels go black); O, the\n"
    "confidence on E. Since E removes what the map calls salient, a faithful map\n"
    "makes the confidence fall. Over all faces: Average Drop % (Eq. 11; higher is\n"
    "better here), % Increase in confidence (Eq. 12; lower is better), Win % (Eq.\n"
    "13: the share of faces where the method's E has the lowest O, ties count for\n"
    "all; higher is better), and the deletion and insertion AUCs (20 steps;\n"
    "deletion: lower is better, insertion: higher is better). The table goes to\n"
    "stdout (--json: the JSON instead).\n"
    "-o DIR also writes DIR/eval.json (the JSON plus every face's Y, O and AUCs)\n"
    "and per face DIR/<stem>_face<k>_eval.png\n"
    "(the crop and each method's explanation image).\n"
    "Faces whose confidence Y is not positive (a verify pair the model gets\n"
    "wrong) are left out and counted.\n\n";

enum { CURVE_STEPS = 20 };

typedef struct eval_result {
  int n, views, size;
  float y;
  float o[METHODS_MAX];
  double del_auc[METHODS_MAX], ins_auc[METHODS_MAX];
  unsigned char *negative[METHODS_MAX]; /* -o: each E as RGB, views crops stacked */
} eval_result;

static void eval_result_free(void *p) {
  eval_result *e = p;
  if (!e) return;
  for (int k = 0; k < e->n; k++)
    free(e->negative[k]);
  free(e);
}

static csm_status eval_sample(methods_run *r, const csm_scorer *sc, const csm_view *views,
                              int n_views, face_cis *f, float **maps, eval_result *e) {
  int size = sc->size, m = r->ml.n;
  size_t px = (size_t)n_views * size * size, per_in = (size_t)size * size * sc->channels;
  float *inputs = csm_malloc_array((size_t)n_views * per_in, sizeof(float));
  float *neg = csm_malloc_array((size_t)m * n_views * per_in, sizeof(float));
  float *h = csm_malloc_array(px, sizeof(float));
  if (!inputs || !neg || !h) {
    free(inputs), free(neg), free(h);
    return CSM_ENOMEM;
  }
  for (int v = 0; v < n_views; v++)
    memcpy(inputs + per_in * v, views[v].input, per_in * sizeof(float));
  csm_status st = sc->score(sc->ctx, inputs, 1, &e->y);
  /* Eq. 10's target: the CMS map's sum after normalization to [0, 1]. */
  double target = 0;
  if (!st) {
    csm_eval_normalize(maps[0], px, -1, h);
    for (size_t p = 0; p < px; p++)
      target += h[p];
  }
  const csm_image *crops[2] = {&f->crop, &f->crop2};
  for (int k = 0; !st && k < m; k++) {
    csm_eval_normalize(maps[k], px, target, h);
    for (int v = 0; v < n_views; v++)
      csm_eval_negative_image(inputs + per_in * v, size, sc->channels, sc->black,
                              h + (size_t)v * size * size,
                              neg + per_in * ((size_t)k * n_views + v));
    if (r->has_out) {
      /* The same E in the crop's own pixels (black = 0), for the picture. */
      e->negative[k] = csm_malloc(px * 3);
      if (!e->negative[k]) {
        st = CSM_ENOMEM;
        break;
      }
      for (int v = 0; v < n_views; v++)
        for (size_t p = 0; p < (size_t)size * size; p++)
          for (int c = 0; c < 3; c++)
            e->negative[k][((size_t)v * size * size + p) * 3 + c] = (unsigned char)lrintf(
                crops[v]->rgb[p * 3 + c] * (1.0f - h[(size_t)v * size * size + p]));
    }
    st = csm_eval_curves(sc, inputs, maps[k], CURVE_STEPS, NULL, NULL, &e->del_auc[k],
                         &e->ins_auc[k]);
    if (st) st = csm_fail_context(st, "%s: ", method_label(r->ml.code[k]));
  }
  /* One batch: every method's explanation image. */
  if (!st) st = sc->score(sc->ctx, neg, m, e->o);
  free(inputs), free(neg), free(h);
  return st;
}

static csm_status eval_hook(void *ctx, const csm_scorer *sc, const csm_view *views, int n_views,
                            face_cis *f) {
  methods_run *r = ctx;
  eval_result *e = calloc(1, sizeof *e);
  float *maps[METHODS_MAX] = {NULL};
  if (!e) return csm_fail(CSM_ENOMEM, "out of memory");
  e->n = r->ml.n, e->views = n_views, e->size = sc->size;
  csm_status st = method_maps(&r->ml, &r->ma, sc, views, n_views, f, r->cms, r->x.size, maps, NULL);
  if (!st) st = eval_sample(r, sc, views, n_views, f, maps, e);
  for (int k = 0; k < r->ml.n; k++)
    free(maps[k]);
  if (st) {
    eval_result_free(e);
    return st;
  }
  f->result = e;
  f->result_free = eval_result_free;
  return CSM_OK;
}

typedef struct eval_table {
  int n, left_out;
  double avg_drop[METHODS_MAX], increase[METHODS_MAX], win[METHODS_MAX];
  double del_auc[METHODS_MAX], ins_auc[METHODS_MAX];
} eval_table;

static csm_status tabulate(const methods_run *r, eval_table *t) {
  int m = r->ml.n, total = 0;
  memset(t, 0, sizeof *t);
  for (int i = 0; i < r->n_in; i++)
    total += r->n_faces[i];
  float *y = csm_malloc_array((size_t)total + 1, sizeof(float));
  float *o = csm_malloc_array(((size_t)total + 1) * m, sizeof(float));
  float *col = csm_malloc_array((size_t)total + 1, sizeof(float));
  csm_status st = y && o && col ? CSM_OK : CSM_ENOMEM;
  for (int i = 0; !st && i < r->n_in; i++)
    for (int k = 0; k < r->n_faces[i]; k++) {
      const eval_result *e = r->faces[i][k].result;
      if (!(e->y > 0)) {
        t->left_out++;
        continue;
      }
      y[t->n] = e->y;
      for (int j = 0; j < m; j++) {
        o[(size_t)t->n * m + j] = e->o[j];
        t->del_auc[j] += e->del_auc[j];
        t->ins_auc[j] += e->ins_auc[j];
      }
      t->n++;
    }
  if (!st && t->n == 0)
    st = csm_fail(CSM_EINPUT, "no face has a positive confidence to evaluate (%d left out)",
                  t->left_out);
  for (int j = 0; !st && j < m; j++) {
    for (int i = 0; i < t->n; i++)
      col[i] = o[(size_t)i * m + j];
    st = csm_eval_average_drop(y, col, t->n, &t->avg_drop[j]);
    if (!st) st = csm_eval_increase(y, col, t->n, &t->increase[j]);
    t->del_auc[j] /= t->n, t->ins_auc[j] /= t->n;
  }
  if (!st) st = csm_eval_win(o, t->n, m, t->win);
  free(y), free(o), free(col);
  return st;
}

static void write_json(FILE *fp, const methods_run *r, const eval_table *t, int with_faces) {
  fprintf(fp, "{\"n\": %d, \"left_out\": %d, ", t->n, t->left_out);
  methods_run_json_head(fp, r);
  fprintf(fp, ", \"curve_steps\": %d,\n \"methods\": {", CURVE_STEPS);
  for (int j = 0; j < r->ml.n; j++)
    fprintf(fp,
            "%s\n  \"%s\": {\"avg_drop\": %.4f, \"increase\": %.4f, \"win\": %.4f, "
            "\"deletion_auc\": %.6f, \"insertion_auc\": %.6f}",
            j ? "," : "", method_label(r->ml.code[j]), t->avg_drop[j], t->increase[j], t->win[j],
            t->del_auc[j], t->ins_auc[j]);
  fprintf(fp, "\n }");
  if (with_faces) {
    /* Per face: Y and every method's O and AUCs, to audit the table. */
    fprintf(fp, ",\n \"faces\": [");
    int first = 1;
    for (int i = 0; i < r->n_in; i++)
      for (int k = 0; k < r->n_faces[i]; k++) {
        const face_cis *f = &r->faces[i][k];
        const eval_result *e = f->result;
        fprintf(fp, "%s\n  {", first ? "" : ",");
        first = 0;
        methods_run_json_sample(fp, r, i, f);
        fprintf(fp, ", \"y\": %.7g, \"o\": {", e->y);
        for (int j = 0; j < e->n; j++)
          fprintf(fp, "%s\"%s\": %.7g", j ? ", " : "", method_label(r->ml.code[j]), e->o[j]);
        fprintf(fp, "}, \"deletion_auc\": {");
        for (int j = 0; j < e->n; j++)
          fprintf(fp, "%s\"%s\": %.7g", j ? ", " : "", method_label(r->ml.code[j]), e->del_auc[j]);
        fprintf(fp, "}, \"insertion_auc\": {");
        for (int j = 0; j < e->n; j++)
          fprintf(fp, "%s\"%s\": %.7g", j ? ", " : "", method_label(r->ml.code[j]), e->ins_auc[j]);
        fprintf(fp, "}}");
      }
    fprintf(fp, "\n ]");
  }
  fprintf(fp, "\n}\n");
}

static void print_table(FILE *fp, const methods_run *r, const eval_table *t) {
  fprintf(fp, "csm eval: %s, %d face%s", r->a.task, t->n, t->n == 1 ? "" : "s");
  if (t->left_out) fprintf(fp, " (%d left out: confidence <= 0)", t->left_out);
  fprintf(fp, ", CMS %s\n", r->cms_path);
  fprintf(fp, "%-11s %11s %11s %7s %13s %14s\n", "method", "avg drop %", "increase %", "win %",
          "deletion AUC", "insertion AUC");
  for (int j = 0; j < r->ml.n; j++)
    fprintf(fp, "%-11s %11.2f %11.2f %7.2f %13.4f %14.4f\n", method_label(r->ml.code[j]),
            t->avg_drop[j], t->increase[j], t->win[j], t->del_auc[j], t->ins_auc[j]);
}

/* The crop and each method's explanation image, a row per view. */
static csm_status write_png(const methods_run *r, int i, const face_cis *f) {
  const eval_result *e = f->result;
  size_t pp = (size_t)e->size * e->size;
  csm_image tiles[METHODS_MAX + 1], rows[2], grid = {0, 0, NULL};
  memset(rows, 0, sizeof rows);
  csm_status st = CSM_OK;
  /* Small inputs are enlarged (bilinear) to be seen. */
  int shown = e->size < 128 ? e->size * (e->size < 64 ? 4 : 2) : e->size;
  for (int v = 0; !st && v < e->views; v++) {
    int made = 0;
    for (int k = 0; !st && k <= e->n; k++) {
      csm_image src = k ? (csm_image){e->size, e->size, e->negative[k - 1] + pp * 3 * v}
                        : (v ? f->crop2 : f->crop);
      st = csm_image_resize(&src, shown, shown, CSM_RESIZE_BILINEAR, &tiles[k]);
      if (!st) made++;
    }
    if (!st) st = csm_image_hstack(tiles, e->n + 1, 4, &rows[v]);
    for (int k = 0; k < made; k++)
      csm_image_free(&tiles[k]);
  }
  if (!st) st = csm_image_vstack(rows, e->views, 4, &grid);
  char path[4096];
  snprintf(path, sizeof path, "%s/%s_face%d_eval.png", r->a.out_dir, r->stems[i], f->face_index);
  if (!st) st = csm_image_write_png(path, &grid);
  csm_image_free(&grid);
  csm_image_free(&rows[0]);
  csm_image_free(&rows[1]);
  return st;
}

int csm_cli_eval(int argc, char **argv) {
  methods_run r;
  methods_run_spec spec = {"eval", help_head, NULL, 2, 0, 0};
  int code = methods_run_parse(&r, &spec, argc, argv);
  if (code >= 0) {
    methods_run_free(&r);
    return code;
  }
  if (r.ml.n < 2) {
    methods_run_free(&r);
    return csm_cli_usage_error("eval", "--methods must name at least one method besides cms");
  }
  csm_status st = methods_run_all(&r, eval_hook, &r);
  eval_table t;
  if (!st) st = tabulate(&r, &t);
  if (!st && r.has_out) {
    st = csm_cli_make_dir(r.a.out_dir);
    for (int i = 0; !st && i < r.n_in; i++)
      for (int k = 0; !st && k < r.n_faces[i]; k++)
        st = write_png(&r, i, &r.faces[i][k]);
    char *json = NULL;
    size_t len = 0;
    FILE *fp = st ? NULL : open_memstream(&json, &len);
    if (!st && !fp) st = csm_fail(CSM_ENOMEM, "out of memory");
    if (fp) {
      write_json(fp, &r, &t, 1);
      fclose(fp);
      char path[4096];
      snprintf(path, sizeof path, "%s/eval.json", r.a.out_dir);
      st = csm_write_file_atomic(path, json, len);
    }
    free(json);
  }
  if (!st) {
    if (r.json)
      write_json(stdout, &r, &t, 0);
    else
      print_table(stdout, &r, &t);
    if (r.layer_name) fprintf(stderr, "csm eval: CAM layer %s\n", r.layer_name);
    fprintf(stderr, "csm eval: %.1f s\n", csm_now() - r.t0);
  }
  methods_run_free(&r);
  return st ? csm_cli_fail(st) : CSM_EXIT_OK;
}
