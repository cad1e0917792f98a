/* csm sanity as a library call: the model-parameter randomization test
 * (Adebayo et al. 2018, cascading): a map that does not change when the
 * model's weights are replaced by noise does not explain the model. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "methods_internal.h"

typedef struct sanity_ctx {
  csm_methods_report *r;
  int faces_done;
  /* The sample being checked. */
  const csm_scorer *sc;
  const csm_view *views;
  int n_views;
  csm_face_result *f;
  int calls; /* maps computed for this sample so far (0: the original model) */
} sanity_ctx;

/* The CIS of the sample under the current weights, as explain_sample makes it. */
static csm_status cis_again(const csm_methods_report *r, const csm_scorer *sc,
                            const csm_view *views, int n_views, csm_face_result *tmp) {
  const csm_explainer *x = r->x;
  unsigned char *valid = csm_malloc((size_t)x->size * x->size);
  if (!valid) return CSM_ENOMEM;
  csm_status st = csm_occlusion_run(sc, views, x->centres, x->n_centres, x->size, x->size,
                                    &x->o.occ, &tmp->occ);
  if (!st) st = csm_run_cis(x, views, n_views, valid, &tmp->occ, &tmp->cis);
  free(valid);
  return st;
}

/* csm_sanity_maps_fn: every method's map with the model's current weights
 * (the first call: the original model, whose CIS the run made already). */
static csm_status sample_maps(void *vctx, float **maps) {
  sanity_ctx *c = vctx;
  csm_methods_report *r = c->r;
  csm_face_result tmp;
  memset(&tmp, 0, sizeof tmp);
  csm_status st = CSM_OK;
  const csm_face_result *f = c->f;
  if (c->calls++ > 0 && csm_method_list_has(&r->ml, CSM_RUN_METHOD_CIS)) {
    st = cis_again(r, c->sc, c->views, c->n_views, &tmp);
    f = &tmp;
  }
  if (!st)
    st = csm_run_method_maps(&r->ml, &r->m.opt, c->sc, c->views, c->n_views, f, r->cms, r->x->size,
                             maps, NULL);
  csm_face_result_free(&tmp);
  return st;
}

static void sanity_free(void *p) {
  csm_sanity_free(p);
  free(p);
}

static csm_status sanity_hook(void *vctx, const csm_scorer *sc, const csm_view *views, int n_views,
                              csm_face_result *f) {
  sanity_ctx *c = vctx;
  csm_methods_report *r = c->r;
  r->explained_node = sc->node;
  csm_sanity *s = calloc(1, sizeof *s);
  if (!s) return csm_fail(CSM_ENOMEM, "out of memory");
  c->sc = sc, c->views = views, c->n_views = n_views, c->f = f, c->calls = 0;
  csm_status st = csm_sanity_run(csm_task_model(r->x->task), sc->node, r->m.steps ? r->m.steps : 8,
                                 r->m.opt.seed, r->ml.n, n_views, sc->size, sample_maps, c,
                                 r->out_dir != NULL, s);
  c->faces_done++;
  if (st) {
    free(s);
    return st;
  }
  f->result = s;
  f->result_free = sanity_free;
  return CSM_OK;
}

/* Means over faces; the verdict (csm_sanity_pass's) on the means. */
static void tabulate(const csm_methods_report *r, csm_sanity_table *t) {
  memset(t, 0, sizeof *t);
  int m = r->ml.n;
  for (int i = 0; i < r->n_in; i++)
    for (int k = 0; k < r->n_faces[i]; k++) {
      const csm_sanity *s = r->faces[i][k].result;
      t->n_steps = s->n_steps, t->n_layers = s->n_layers;
      memcpy(t->counts, s->counts, sizeof t->counts);
      for (int step = 1; step <= s->n_steps; step++)
        for (int j = 0; j < m; j++) {
          t->spearman[step][j] += s->spearman[step * m + j];
          t->ssim[step][j] += s->ssim[step * m + j];
        }
      t->n++;
    }
  for (int step = 1; step <= t->n_steps; step++)
    for (int j = 0; j < m; j++) {
      t->spearman[step][j] /= t->n;
      t->ssim[step][j] /= t->n;
    }
  for (int j = 0; j < m; j++)
    t->pass[j] = t->spearman[t->n_steps][j] < CSM_SANITY_PASS_BELOW;
}

static void sanity_json(FILE *fp, const csm_methods_report *r, const csm_sanity_table *t) {
  csm_model *m = csm_task_model(r->x->task);
  int of = r->explained_node;
  int n = csm_model_layers_of(m, of, NULL, 0);
  int *layers = calloc((size_t)n + 1, sizeof *layers);
  if (layers) csm_model_layers_of(m, of, layers, n);
  fprintf(fp, "{\"n\": %d, ", t->n);
  csm_methods_json_head(fp, r);
  fprintf(fp, ", \"seed\": %llu, \"layers\": %d, \"randomized\": [",
          (unsigned long long)r->m.opt.seed, t->n_layers);
  for (int s = 1; s <= t->n_steps; s++)
    fprintf(fp, "%s%d", s > 1 ? ", " : "", t->counts[s]);
  fprintf(fp, "],\n \"layer_names\": [");
  for (int k = 0; layers && k < n; k++) {
    fprintf(fp, "%s", k ? ", " : "");
    csm_json_string(fp, csm_model_node_name(m, layers[n - 1 - k])); /* output layer first */
  }
  free(layers);
  fprintf(fp, "],\n \"methods\": {");
  for (int j = 0; j < r->ml.n; j++) {
    fprintf(fp, "%s\n  \"%s\": {\"spearman\": [", j ? "," : "",
            csm_run_method_label(r->ml.code[j]));
    for (int s = 1; s <= t->n_steps; s++)
      fprintf(fp, "%s%.4f", s > 1 ? ", " : "", t->spearman[s][j]);
    fprintf(fp, "], \"ssim\": [");
    for (int s = 1; s <= t->n_steps; s++)
      fprintf(fp, "%s%.4f", s > 1 ? ", " : "", t->ssim[s][j]);
    fprintf(fp, "], \"pass\": %s}", t->pass[j] ? "true" : "false");
  }
  fprintf(fp, "\n }}\n");
}

static void sanity_text(FILE *fp, const csm_methods_report *r, const csm_sanity_table *t) {
  fprintf(fp,
          "csm sanity: %s, %d face%s, %d weighted layers; Spearman (SSIM) with the original map\n",
          r->o.task, t->n, t->n == 1 ? "" : "s", t->n_layers);
  fprintf(fp, "%-11s", "top layers");
  for (int s = 1; s <= t->n_steps; s++)
    fprintf(fp, " %13d", t->counts[s]);
  fprintf(fp, "  verdict\n");
  for (int j = 0; j < r->ml.n; j++) {
    fprintf(fp, "%-11s", csm_run_method_label(r->ml.code[j]));
    for (int s = 1; s <= t->n_steps; s++)
      fprintf(fp, " %6.3f(%5.3f)", t->spearman[s][j], t->ssim[s][j]);
    fprintf(fp, "  %s\n", t->pass[j] ? "pass" : "FAIL");
  }
}

static csm_status write_strips(const csm_methods_report *r, int i, const csm_face_result *f) {
  const csm_sanity *s = f->result;
  int size = r->faces[i][0].crop.w;
  csm_status st = CSM_OK;
  for (int k = 0; !st && k < s->n_maps; k++) {
    csm_image tiles[CSM_SANITY_MAX_STEPS], strip = {0, 0, NULL};
    int made = 0;
    for (int t = 0; !st && t <= s->n_steps; t++) {
      char title[64];
      if (t == 0)
        snprintf(title, sizeof title, "original");
      else
        snprintf(title, sizeof title, "top %d", s->counts[t]);
      csm_map_style style = csm_map_style_default();
      style.cmap = CSM_CMAP_INFERNO;
      style.colorbar = 0;
      style.title = title;
      style.scale = size < 128 ? (size < 64 ? 4 : 2) : 1;
      st = csm_map_render(s->step_maps[t * s->n_maps + k], NULL, size, size, &f->crop, &style,
                          &tiles[t]);
      if (!st) made++;
    }
    if (!st) st = csm_image_hstack(tiles, made, 4, &strip);
    char path[4096];
    snprintf(path, sizeof path, "%s/%s_face%d_sanity_%s.png", r->out_dir, r->stems[i],
             f->face_index, csm_run_method_label(r->ml.code[k]));
    if (!st) st = csm_image_write_png(path, &strip);
    csm_image_free(&strip);
    for (int t = 0; t < made; t++)
      csm_image_free(&tiles[t]);
  }
  return st;
}

csm_status csm_sanity_check_run(const csm_explain_options *o, const csm_input *in, int n,
                                const csm_methods_options *m, const csm_run_options *ro,
                                csm_methods_report **out) {
  *out = NULL;
  csm_methods_report *r = calloc(1, sizeof *r);
  sanity_ctx *c = calloc(1, sizeof *c);
  if (!r || !c) {
    free(r), free(c);
    return csm_fail(CSM_ENOMEM, "out of memory");
  }
  c->r = r;
  csm_status st = csm_methods_run_all(r, CSM_RUN_SANITY, o, in, n, m, ro, sanity_hook, c);
  if (!st) tabulate(r, &r->sanity);
  if (!st && r->out_dir) {
    st = csm_run_folder_lock(r->out_dir, &r->lock_fd);
    r->locked = !st;
    for (int i = 0; !st && i < r->n_in; i++)
      for (int k = 0; !st && k < r->n_faces[i]; k++)
        st = write_strips(r, i, &r->faces[i][k]);
    char path[4096];
    csm_atomic_file *f = NULL;
    if (!st) st = csm_run_path(path, sizeof path, r->out_dir, "sanity.json");
    if (!st) st = csm_atomic_file_open(path, &f);
    if (!st) {
      FILE *fp = csm_atomic_file_stream(f);
      sanity_json(fp, r, &r->sanity);
      st = csm_atomic_file_commit(f);
    }
  }
  free(c);
  return csm_methods_report_finish(r, st, out);
}

void csm_run_sanity_json(FILE *fp, const csm_methods_report *r) { sanity_json(fp, r, &r->sanity); }
void csm_run_sanity_text(FILE *fp, const csm_methods_report *r) { sanity_text(fp, r, &r->sanity); }
