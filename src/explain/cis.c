/* Canonical Image Saliency (DESIGN.md step 3): the drops of the occlusion
 * centres spread over their footprints on the canonical face and divided by
 * how many footprints covered each pixel (density normalization: curved
 * parts of the face hold more centres per canonical pixel). */
#include <stdlib.h>
#include <string.h>

#include "csm/explain.h"
#include "explain/square.h"

void csm_cis_valid(const unsigned char *mask, const csm_view *views, int n_views, int w, int h,
                   unsigned char *out) {
  size_t n = (size_t)w * h;
  for (size_t p = 0; p < n; p++)
    out[p] = mask ? mask[p] != 0 : 1;
  for (int v = 0; v < n_views; v++) {
    const unsigned char *vis = csm_corr_canon_visible(views[v].corr);
    for (size_t p = 0; p < n; p++)
      out[p] &= vis[p] != 0;
  }
}

csm_status csm_cis_compute(const csm_occlusion *o, double footprint, const unsigned char *valid,
                           int w, int h, csm_map *out) {
  if (!o || !out || w < 1 || h < 1 || !(footprint >= 1 && footprint < 1e6))
    return csm_fail(CSM_EUSAGE, "csm_cis_compute: bad arguments (footprint %g)", footprint);
  csm_status st = csm_map_alloc(out, w, h);
  if (st) return st;
  size_t n = (size_t)w * h;
  double *heat = csm_calloc(n, sizeof(double));
  if (!heat) {
    csm_map_free(out);
    return CSM_ENOMEM;
  }
  for (int c = 0; c < o->n_centres; c++) {
    float d = o->drop[c];
    if (d != d) continue; /* not evaluated */
    int u0, u1, v0, v1;
    csm_square_span(o->centres[2 * c], footprint, o->square, w, &u0, &u1);
    csm_square_span(o->centres[2 * c + 1], footprint, o->square, h, &v0, &v1);
    for (int v = v0; v <= v1; v++)
      for (int u = u0; u <= u1; u++) {
        heat[(size_t)v * w + u] += d;
        out->count[(size_t)v * w + u] += 1;
      }
  }
  for (size_t p = 0; p < n; p++) {
    if (out->count[p] > 0 && (!valid || valid[p]))
      out->value[p] = (float)(heat[p] / out->count[p]);
    else
      out->value[p] = 0, out->count[p] = 0;
  }
  free(heat);
  return CSM_OK;
}
