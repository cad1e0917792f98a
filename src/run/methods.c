/* Method lists, the generic methods' options, one sample's maps in input
 * space, and their picture: what compare, eval and sanity share. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "methods_internal.h"

const char *csm_run_method_label(int code) {
  if (code == CSM_RUN_METHOD_CIS) return "cis";
  if (code == CSM_RUN_METHOD_CMS) return "cms";
  return csm_method_name((csm_method)code);
}

int csm_method_list_has(const csm_method_list *ml, int code) {
  for (int k = 0; k < ml->n; k++)
    if (ml->code[k] == code) return 1;
  return 0;
}

static csm_status add(csm_method_list *ml, int code) {
  if (csm_method_list_has(ml, code))
    return csm_fail(CSM_EUSAGE, "method '%s' is listed twice", csm_run_method_label(code));
  if (ml->n >= CSM_RUN_METHODS_MAX) return csm_fail(CSM_EUSAGE, "too many methods");
  ml->code[ml->n++] = code;
  return CSM_OK;
}

csm_status csm_method_list_parse(const char *s, int with_cms, csm_method_list *out) {
  memset(out, 0, sizeof *out);
  if (with_cms && add(out, CSM_RUN_METHOD_CMS)) return CSM_EUSAGE;
  if (!s || !strcmp(s, "all")) {
    if (add(out, CSM_RUN_METHOD_CIS)) return CSM_EUSAGE;
    for (int m = 0; m < CSM_METHOD_COUNT; m++)
      if (add(out, m)) return CSM_EUSAGE;
    return CSM_OK;
  }
  char buf[512];
  if (strlen(s) >= sizeof buf) return csm_fail(CSM_EUSAGE, "--methods is too long");
  strcpy(buf, s);
  for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
    int code;
    if (!strcmp(tok, "cis"))
      code = CSM_RUN_METHOD_CIS;
    else if (!strcmp(tok, "cms")) {
      if (!with_cms) return csm_fail(CSM_EUSAGE, "method 'cms' needs --cms FILE.npy");
      continue; /* already first */
    } else if ((code = csm_method_parse(tok)) < 0)
      return csm_fail(CSM_EUSAGE,
                      "unknown method '%s' (cis, cms, gradcam, gradcam++, scorecam, "
                      "occlusion, gradient, smoothgrad)",
                      tok);
    if (add(out, code)) return CSM_EUSAGE;
  }
  if (out->n == 0) return csm_fail(CSM_EUSAGE, "--methods lists no method");
  return CSM_OK;
}

void csm_methods_options_init(csm_methods_options *m) {
  memset(m, 0, sizeof *m);
  m->opt = csm_method_options_default();
}

csm_status csm_run_resolve_layer(const char *layer, csm_method_options *opt, csm_model *model,
                                 const char **name) {
  int node = -1;
  if (layer) {
    node = csm_model_find_node(model, layer);
    if (node < 0)
      return csm_fail(CSM_EUSAGE, "%s: no node named '%s' (see csm models --model %s --layers)",
                      csm_model_path(model), layer, csm_model_path(model));
    csm_shape s;
    csm_status st = csm_model_node_shape(model, node, 1, &s);
    if (st) return st;
    if (s.rank != 4 || s.d[1] < 1 || s.d[2] < 1)
      return csm_fail(CSM_EUSAGE, "%s: layer '%s' is not a feature map (rank %d)",
                      csm_model_path(model), layer, s.rank);
  } else {
    csm_status st = csm_cam_default_layer(model, &node);
    if (st) return st;
  }
  opt->layer = node;
  *name = csm_model_node_name(model, node);
  return CSM_OK;
}

csm_status csm_run_load_cms(const char *path, int size, float **map) {
  csm_tensor t;
  *map = NULL;
  csm_status st = csm_npy_read(path, &t);
  if (st) return st;
  if (t.dtype != CSM_F32 || t.shape.rank != 2 || t.shape.d[0] != size || t.shape.d[1] != size) {
    char b[128];
    csm_tensor_free(&t);
    return csm_fail(CSM_EINPUT,
                    "%s: a CMS map must be float32 %dx%d (the canonical raster), not %s", path,
                    size, size, csm_shape_str(&t.shape, b, sizeof b));
  }
  const float *v = t.data;
  for (size_t k = 0; k < (size_t)size * size; k++)
    if (!isfinite(v[k])) {
      csm_tensor_free(&t);
      return csm_fail(CSM_EINPUT, "%s: value %zu is not finite", path, k);
    }
  *map = t.data; /* owned: the caller frees it */
  t.owned = 0;
  return CSM_OK;
}

/* A canonical map (valid where valid != 0; NULL: all) onto each view's
 * input, 0 off the visible face. */
static csm_status canonical_maps(const float *map, const unsigned char *valid, int canon_size,
                                 const csm_view *views, int n_views, int size, float *out) {
  size_t per = (size_t)size * size;
  for (int v = 0; v < n_views; v++) {
    csm_status st =
        csm_reproject_input(map, valid, canon_size, canon_size, &views[v], size, out + per * v);
    if (st) return st;
    for (size_t k = 0; k < per; k++)
      if (!isfinite(out[per * v + k])) out[per * v + k] = 0;
  }
  return CSM_OK;
}

csm_status csm_run_method_maps(const csm_method_list *ml, const csm_method_options *mo,
                               const csm_scorer *sc, const csm_view *views, int n_views,
                               const csm_face_result *f, const float *cms, int canon_size,
                               float **maps, double *seconds) {
  int size = sc->size;
  size_t per = (size_t)n_views * size * size;
  size_t sample = (size_t)size * size * sc->channels;
  float *inputs = csm_malloc_array((size_t)n_views * sample, sizeof(float));
  if (!inputs) return CSM_ENOMEM;
  for (int v = 0; v < n_views; v++)
    memcpy(inputs + sample * v, views[v].input, sample * sizeof(float));
  csm_status st = CSM_OK;
  for (int k = 0; k < ml->n; k++)
    maps[k] = NULL;
  for (int k = 0; !st && k < ml->n; k++) {
    double t0 = csm_now();
    int code = ml->code[k];
    if (!(maps[k] = csm_malloc_array(per, sizeof(float)))) {
      st = CSM_ENOMEM;
      break;
    }
    if (code == CSM_RUN_METHOD_CIS) {
      unsigned char *valid = csm_malloc((size_t)canon_size * canon_size);
      if (!valid) {
        st = CSM_ENOMEM;
        break;
      }
      if (!f->cis.value || f->cis.w != canon_size)
        st = csm_fail(CSM_EUSAGE, "method_maps: the sample has no CIS");
      for (size_t p = 0; !st && p < (size_t)canon_size * canon_size; p++)
        valid[p] = f->cis.count[p] > 0;
      if (!st) st = canonical_maps(f->cis.value, valid, canon_size, views, n_views, size, maps[k]);
      free(valid);
    } else if (code == CSM_RUN_METHOD_CMS) {
      st = canonical_maps(cms, NULL, canon_size, views, n_views, size, maps[k]);
    } else {
      st = csm_method_run(sc, (csm_method)code, inputs, mo, maps[k]);
      if (st) st = csm_fail_context(st, "%s: ", csm_run_method_label(code));
    }
    if (seconds) seconds[k] = csm_now() - t0;
  }
  free(inputs);
  if (st)
    for (int k = 0; k < ml->n; k++) {
      free(maps[k]);
      maps[k] = NULL;
    }
  return st;
}

csm_status csm_run_method_grid_png(const char *path, const csm_image *const *crops, int n_views,
                                   const csm_method_list *ml, float *const *maps, int size) {
  csm_image rows[2], tiles[CSM_RUN_METHODS_MAX + 1];
  memset(rows, 0, sizeof rows);
  memset(tiles, 0, sizeof tiles);
  csm_status st = CSM_OK;
  size_t per = (size_t)size * size;
  int scale = size < 128 ? (size < 64 ? 4 : 2) : 1; /* small inputs are hard to see */
  for (int v = 0; !st && v < n_views; v++) {
    /* The crop alone: an all-NaN map shows only the background. */
    float *none = csm_malloc_array(per, sizeof(float));
    if (!none) st = CSM_ENOMEM;
    for (size_t p = 0; !st && p < per; p++)
      none[p] = NAN;
    csm_map_style s = csm_map_style_default();
    s.cmap = CSM_CMAP_INFERNO;
    s.colorbar = 0;
    s.scale = scale;
    s.title = "input";
    if (!st) st = csm_map_render(none, NULL, size, size, crops[v], &s, &tiles[0]);
    free(none);
    for (int k = 0; !st && k < ml->n; k++) {
      s.title = csm_run_method_label(ml->code[k]);
      s.lo = s.hi = 0; /* each map's own range */
      st = csm_map_render(maps[k] + per * v, NULL, size, size, crops[v], &s, &tiles[k + 1]);
    }
    if (!st) st = csm_image_hstack(tiles, ml->n + 1, 4, &rows[v]);
    for (int k = 0; k <= ml->n; k++)
      csm_image_free(&tiles[k]);
  }
  csm_image grid = {0, 0, NULL};
  if (!st) st = csm_image_vstack(rows, n_views, 4, &grid);
  if (!st) st = csm_image_write_png(path, &grid);
  csm_image_free(&grid);
  for (int v = 0; v < 2; v++)
    csm_image_free(&rows[v]);
  return st;
}
