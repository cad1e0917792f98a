/* csm sanity: the model-parameter randomization test (Adebayo et al. 2018,
 * cascading): a map that does not change when the model's weights are
 * replaced by noise does not explain the model. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "csm/eval.h"
#include "methods_run.h"

static const char *help_head =
    "usage: csm sanity --task TASK IMAGE... [--methods LIST] [--steps N] [--json]\n"
    "                  [-o DIR] [options]\n\n"
    "Cascading randomization: the weighted layers (convolutions and matrix\n"
    "products) that the explained output depends on are re-initialized from the\n"
    "output layer down, more of them at each step (seeded Gaussian weights with\n"
    "each layer's own standard deviation, biases 0; the same random values for a\n"
    "layer at every step), and every method's map of every face is computed again\n"
    "for the class the original model predicted. Per step and method: the\n"
    "Spearman rank correlation and the SSIM of the map with the original map,\n"
    "averaged over faces. A method passes when its maps fall away from the\n"
    "original: mean Spearman after randomizing every layer below 0.5 (it is 1\n"
    "before any). --steps N (default 8, at most the number of layers): the\n"
    "cumulative layer counts run from 1 to all in N even steps. The table goes\n"
    "to stdout (--json: JSON). -o DIR also writes DIR/sanity.json and per face\n"
    "and method DIR/<stem>_face<k>_sanity_<method>.png (the map at every step).\n"
    "--seed N seeds the random weights (and SmoothGrad's noise).\n"
    "The model's weights are restored afterwards.\n\n";

typedef struct sanity_ctx {
  methods_run *r;
  int faces_done;
  /* The sample being checked. */
  const csm_scorer *sc;
  const csm_view *views;
  int n_views;
  face_cis *f;
  int calls; /* maps computed for this sample so far (0: the original model) */
} sanity_ctx;

/* The CIS of the sample under the current weights, as explain_sample makes it. */
static csm_status cis_again(const methods_run *r, const csm_scorer *sc, const csm_view *views,
                            int n_views, face_cis *tmp) {
  const explain_ctx *x = &r->x;
  unsigned char *valid = csm_malloc((size_t)x->size * x->size);
  if (!valid) return CSM_ENOMEM;
  csm_status st = csm_occlusion_run(sc, views, x->centres, x->n_centres, x->size, x->size,
                                    &r->a.occ, &tmp->occ);
  if (!st) {
    csm_cis_valid(x->mask, views, n_views, x->size, x->size, valid);
    st = csm_cis_compute(&tmp->occ, r->a.occ.footprint, valid, x->size, x->size, &tmp->cis);
  }
  free(valid);
  return st;
}

/* csm_sanity_maps_fn: every method's map with the model's current weights
 * (the first call: the original model, whose CIS the run made already). */
static csm_status sample_maps(void *vctx, float **maps) {
  sanity_ctx *c = vctx;
  methods_run *r = c->r;
  if (c->calls > 0 && explain_progress_wanted(&r->a))
    fprintf(stderr, "\rcsm sanity: face %d, randomization step %d   ", c->faces_done + 1, c->calls);
  face_cis tmp;
  memset(&tmp, 0, sizeof tmp);
  csm_status st = CSM_OK;
  const face_cis *f = c->f;
  if (c->calls++ > 0 && method_list_has(&r->ml, METHOD_CIS)) {
    st = cis_again(r, c->sc, c->views, c->n_views, &tmp);
    f = &tmp;
  }
  if (!st)
    st = method_maps(&r->ml, &r->ma, c->sc, c->views, c->n_views, f, r->cms, r->x.size, maps, NULL);
  face_cis_free(&tmp);
  return st;
}

static void sanity_free(void *p) {
  csm_sanity_free(p);
  free(p);
}

static csm_status sanity_hook(void *vctx, const csm_scorer *sc, const csm_view *views, int n_views,
                              face_cis *f) {
  sanity_ctx *c = vctx;
  methods_run *r = c->r;
  r->explained_node = sc->node;
  csm_sanity *s = calloc(1, sizeof *s);
  if (!s) return csm_fail(CSM_ENOMEM, "out of memory");
  c->sc = sc, c->views = views, c->n_views = n_views, c->f = f, c->calls = 0;
  csm_status st =
      csm_sanity_run(csm_task_model(r->x.task), sc->node, r->steps ? r->steps : 8, r->ma.opt.seed,
                     r->ml.n, n_views, sc->size, sample_maps, c, r->has_out, s);
  c->faces_done++;
  if (st) {
    free(s);
    return st;
  }
  f->result = s;
  f->result_free = sanity_free;
  return CSM_OK;
}

typedef struct sanity_table {
  int n, n_steps, n_layers;
  int counts[CSM_SANITY_MAX_STEPS];
  double spearman[CSM_SANITY_MAX_STEPS][METHODS_MAX], ssim[CSM_SANITY_MAX_STEPS][METHODS_MAX];
  int pass[METHODS_MAX];
} sanity_table;

/* Means over faces; the verdict (csm_sanity_pass's) on the means. */
static void tabulate(const methods_run *r, sanity_table *t) {
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

static void write_json(FILE *fp, const methods_run *r, const sanity_table *t) {
  csm_model *m = csm_task_model(r->x.task);
  int of = r->explained_node;
  int n = csm_model_layers_of(m, of, NULL, 0);
  int *layers = calloc((size_t)n + 1, sizeof *layers);
  if (layers) csm_model_layers_of(m, of, layers, n);
  fprintf(fp, "{\"n\": %d, ", t->n);
  methods_run_json_head(fp, r);
  fprintf(fp, ", \"seed\": %llu, \"layers\": %d, \"randomized\": [",
          (unsigned long long)r->ma.opt.seed, t->n_layers);
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
    fprintf(fp, "%s\n  \"%s\": {\"spearman\": [", j ? "," : "", method_label(r->ml.code[j]));
    for (int s = 1; s <= t->n_steps; s++)
      fprintf(fp, "%s%.4f", s > 1 ? ", " : "", t->spearman[s][j]);
    fprintf(fp, "], \"ssim\": [");
    for (int s = 1; s <= t->n_steps; s++)
      fprintf(fp, "%s%.4f", s > 1 ? ", " : "", t->ssim[s][j]);
    fprintf(fp, "], \"pass\": %s}", t->pass[j] ? "true" : "false");
  }
  fprintf(fp, "\n }}\n");
}

static void print_table(FILE *fp, const methods_run *r, const sanity_table *t) {
  fprintf(fp,
          "csm sanity: %s, %d face%s, %d weighted layers; Spearman (SSIM) with the original map\n",
          r->a.task, t->n, t->n == 1 ? "" : "s", t->n_layers);
  fprintf(fp, "%-11s", "top layers");
  for (int s = 1; s <= t->n_steps; s++)
    fprintf(fp, " %13d", t->counts[s]);
  fprintf(fp, "  verdict\n");
  for (int j = 0; j < r->ml.n; j++) {
    fprintf(fp, "%-11s", method_label(r->ml.code[j]));
    for (int s = 1; s <= t->n_steps; s++)
      fprintf(fp, " %6.3f(%5.3f)", t->spearman[s][j], t->ssim[s][j]);
    fprintf(fp, "  %s\n", t->pass[j] ? "pass" : "FAIL");
  }
}

static csm_status write_strips(const methods_run *r, int i, const face_cis *f) {
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
    snprintf(path, sizeof path, "%s/%s_face%d_sanity_%s.png", r->a.out_dir, r->stems[i],
             f->face_index, method_label(r->ml.code[k]));
    if (!st) st = csm_image_write_png(path, &strip);
    csm_image_free(&strip);
    for (int t = 0; t < made; t++)
      csm_image_free(&tiles[t]);
  }
  return st;
}

int csm_cli_sanity(int argc, char **argv) {
  methods_run r;
  methods_run_spec spec = {"sanity", help_head, NULL, 0, 0, 1};
  int code = methods_run_parse(&r, &spec, argc, argv);
  if (code >= 0) {
    methods_run_free(&r);
    return code;
  }
  sanity_ctx c;
  memset(&c, 0, sizeof c);
  c.r = &r;
  csm_status st = methods_run_all(&r, sanity_hook, &c);
  if (explain_progress_wanted(&r.a)) fprintf(stderr, "\n");
  sanity_table t;
  if (!st) tabulate(&r, &t);
  if (!st && r.has_out) {
    st = csm_cli_make_dir(r.a.out_dir);
    for (int i = 0; !st && i < r.n_in; i++)
      for (int k = 0; !st && k < r.n_faces[i]; k++)
        st = write_strips(&r, i, &r.faces[i][k]);
    char *json = NULL;
    size_t len = 0;
    FILE *fp = st ? NULL : open_memstream(&json, &len);
    if (!st && !fp) st = csm_fail(CSM_ENOMEM, "out of memory");
    if (fp) {
      write_json(fp, &r, &t);
      fclose(fp);
      char path[4096];
      snprintf(path, sizeof path, "%s/sanity.json", r.a.out_dir);
      st = csm_write_file_atomic(path, json, len);
    }
    free(json);
  }
  if (!st) {
    if (r.json)
      write_json(stdout, &r, &t);
    else
      print_table(stdout, &r, &t);
    if (r.layer_name) fprintf(stderr, "csm sanity: CAM layer %s\n", r.layer_name);
    fprintf(stderr, "csm sanity: %.1f s\n", csm_now() - r.t0);
  }
  methods_run_free(&r);
  return st ? csm_cli_fail(st) : CSM_EXIT_OK;
}
