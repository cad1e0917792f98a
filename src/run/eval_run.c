/* csm eval as a library call: the paper's faithfulness comparison
 * (DESIGN.md step 7) plus deletion and insertion curves, over every face of
 * the inputs. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "methods_internal.h"

typedef struct eval_result {
  int n, views, size;
  float y;
  float o[CSM_RUN_METHODS_MAX];
  double del_auc[CSM_RUN_METHODS_MAX], ins_auc[CSM_RUN_METHODS_MAX];
  unsigned char *negative[CSM_RUN_METHODS_MAX]; /* -o: each E as RGB, views crops stacked */
} eval_result;

static void eval_result_free(void *p) {
  eval_result *e = p;
  if (!e) return;
  for (int k = 0; k < e->n; k++)
    free(e->negative[k]);
  free(e);
}

static csm_status eval_sample(csm_methods_report *r, const csm_scorer *sc, const csm_view *views,
                              int n_views, csm_face_result *f, float **maps, eval_result *e) {
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
    if (r->out_dir) {
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
    st = csm_eval_curves(sc, inputs, maps[k], CSM_EVAL_CURVE_STEPS, NULL, NULL, &e->del_auc[k],
                         &e->ins_auc[k]);
    if (st) st = csm_fail_context(st, "%s: ", csm_run_method_label(r->ml.code[k]));
  }
  /* One batch: every method's explanation image. */
  if (!st) st = sc->score(sc->ctx, neg, m, e->o);
  free(inputs), free(neg), free(h);
  return st;
}

static csm_status eval_hook(void *ctx, const csm_scorer *sc, const csm_view *views, int n_views,
                            csm_face_result *f) {
  csm_methods_report *r = ctx;
  eval_result *e = calloc(1, sizeof *e);
  float *maps[CSM_RUN_METHODS_MAX] = {NULL};
  if (!e) return csm_fail(CSM_ENOMEM, "out of memory");
  e->n = r->ml.n, e->views = n_views, e->size = sc->size;
  csm_status st =
      csm_run_method_maps(&r->ml, &r->m.opt, sc, views, n_views, f, r->cms, r->x->size, maps, NULL);
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

static csm_status tabulate(const csm_methods_report *r, csm_eval_table *t) {
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

static void eval_json(FILE *fp, const csm_methods_report *r, const csm_eval_table *t,
                      int with_faces) {
  fprintf(fp, "{\"n\": %d, \"left_out\": %d, ", t->n, t->left_out);
  csm_methods_json_head(fp, r);
  fprintf(fp, ", \"curve_steps\": %d,\n \"methods\": {", CSM_EVAL_CURVE_STEPS);
  for (int j = 0; j < r->ml.n; j++)
    fprintf(fp,
            "%s\n  \"%s\": {\"avg_drop\": %.4f, \"increase\": %.4f, \"win\": %.4f, "
            "\"deletion_auc\": %.6f, \"insertion_auc\": %.6f}",
            j ? "," : "", csm_run_method_label(r->ml.code[j]), t->avg_drop[j], t->increase[j],
            t->win[j], t->del_auc[j], t->ins_auc[j]);
  fprintf(fp, "\n }");
  if (with_faces) {
    /* Per face: Y and every method's O and AUCs, to audit the table. */
    fprintf(fp, ",\n \"faces\": [");
    int first = 1;
    for (int i = 0; i < r->n_in; i++)
      for (int k = 0; k < r->n_faces[i]; k++) {
        const csm_face_result *f = &r->faces[i][k];
        const eval_result *e = f->result;
        fprintf(fp, "%s\n  {", first ? "" : ",");
        first = 0;
        csm_methods_json_sample(fp, r, i, f);
        fprintf(fp, ", \"y\": %.7g, \"o\": {", e->y);
        for (int j = 0; j < e->n; j++)
          fprintf(fp, "%s\"%s\": %.7g", j ? ", " : "", csm_run_method_label(r->ml.code[j]),
                  e->o[j]);
        fprintf(fp, "}, \"deletion_auc\": {");
        for (int j = 0; j < e->n; j++)
          fprintf(fp, "%s\"%s\": %.7g", j ? ", " : "", csm_run_method_label(r->ml.code[j]),
                  e->del_auc[j]);
        fprintf(fp, "}, \"insertion_auc\": {");
        for (int j = 0; j < e->n; j++)
          fprintf(fp, "%s\"%s\": %.7g", j ? ", " : "", csm_run_method_label(r->ml.code[j]),
                  e->ins_auc[j]);
        fprintf(fp, "}}");
      }
    fprintf(fp, "\n ]");
  }
  fprintf(fp, "\n}\n");
}

static void eval_text(FILE *fp, const csm_methods_report *r, const csm_eval_table *t) {
  fprintf(fp, "csm eval: %s, %d face%s", r->o.task, t->n, t->n == 1 ? "" : "s");
  if (t->left_out) fprintf(fp, " (%d left out: confidence <= 0)", t->left_out);
  fprintf(fp, ", CMS %s\n", r->m.cms);
  fprintf(fp, "%-11s %11s %11s %7s %13s %14s\n", "method", "avg drop %", "increase %", "win %",
          "deletion AUC", "insertion AUC");
  for (int j = 0; j < r->ml.n; j++)
    fprintf(fp, "%-11s %11.2f %11.2f %7.2f %13.4f %14.4f\n", csm_run_method_label(r->ml.code[j]),
            t->avg_drop[j], t->increase[j], t->win[j], t->del_auc[j], t->ins_auc[j]);
}

/* The crop and each method's explanation image, a row per view. */
static csm_status write_negative_png(const csm_methods_report *r, int i, const csm_face_result *f) {
  const eval_result *e = f->result;
  size_t pp = (size_t)e->size * e->size;
  csm_image tiles[CSM_RUN_METHODS_MAX + 1], rows[2], grid = {0, 0, NULL};
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
  snprintf(path, sizeof path, "%s/%s_face%d_eval.png", r->out_dir, r->stems[i], f->face_index);
  if (!st) st = csm_image_write_png(path, &grid);
  csm_image_free(&grid);
  csm_image_free(&rows[0]);
  csm_image_free(&rows[1]);
  return st;
}

csm_status csm_eval_run(const csm_explain_options *o, const csm_input *in, int n,
                        const csm_methods_options *m, const csm_run_options *ro,
                        csm_methods_report **out) {
  *out = NULL;
  if (!m->cms) return csm_fail(CSM_EUSAGE, "--cms FILE.npy (a CMS map from csm cms) is required");
  csm_methods_report *r = calloc(1, sizeof *r);
  if (!r) return csm_fail(CSM_ENOMEM, "out of memory");
  csm_status st = csm_method_list_parse(m->methods, 1, &r->ml);
  if (!st && r->ml.n < 2)
    st = csm_fail(CSM_EUSAGE, "--methods must name at least one method besides cms");
  if (!st) st = csm_methods_run_all(r, CSM_RUN_EVAL, o, in, n, m, ro, eval_hook, r);
  if (!st) st = tabulate(r, &r->eval);
  if (!st && r->out_dir) {
    st = csm_run_folder_lock(r->out_dir, &r->lock_fd);
    r->locked = !st;
    for (int i = 0; !st && i < r->n_in; i++)
      for (int k = 0; !st && k < r->n_faces[i]; k++)
        st = write_negative_png(r, i, &r->faces[i][k]);
    char path[4096];
    csm_atomic_file *f = NULL;
    if (!st) st = csm_run_path(path, sizeof path, r->out_dir, "eval.json");
    if (!st) st = csm_atomic_file_open(path, &f);
    if (!st) {
      FILE *fp = csm_atomic_file_stream(f);
      eval_json(fp, r, &r->eval, 1);
      st = csm_atomic_file_commit(f);
    }
  }
  return csm_methods_report_finish(r, st, out);
}

void csm_run_eval_json(FILE *fp, const csm_methods_report *r, int with_faces) {
  eval_json(fp, r, &r->eval, with_faces);
}

void csm_run_eval_text(FILE *fp, const csm_methods_report *r) { eval_text(fp, r, &r->eval); }
