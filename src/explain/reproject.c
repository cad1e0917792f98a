/* Reprojection (DESIGN.md step 5): a canonical map pulled back onto a face in
 * an image through its dense correspondence. Each image pixel centre under
 * the visible face reads the map bilinearly at its canonical point. Only the
 * pixels under the mesh (csm_corr_image_bounds) are visited, so the cost
 * follows the face's size, not the image's. */
#include <math.h>
#include <stddef.h>

#include "csm/explain.h"

/* Bilinear read of map at continuous canonical point (u, v) (pixel k spans
 * [k, k + 1), its value sits at k + 0.5), over the taps that are inside the
 * raster, valid and finite, with the weights renormalized over them. NAN
 * when no tap with a positive weight is usable. */
static float sample(const float *map, const unsigned char *valid, int w, int h, double u,
                    double v) {
  double fx = u - 0.5, fy = v - 0.5;
  double x0 = floor(fx), y0 = floor(fy);
  double ax = fx - x0, ay = fy - y0;
  double sum = 0, wsum = 0;
  for (int dy = 0; dy < 2; dy++)
    for (int dx = 0; dx < 2; dx++) {
      double wt = (dx ? ax : 1 - ax) * (dy ? ay : 1 - ay);
      double x = x0 + dx, y = y0 + dy;
      if (wt <= 0 || x < 0 || y < 0 || x >= w || y >= h) continue;
      size_t k = (size_t)y * (size_t)w + (size_t)x;
      if ((valid && !valid[k]) || !isfinite(map[k])) continue;
      sum += wt * map[k];
      wsum += wt;
    }
  return wsum > 1e-12 ? (float)(sum / wsum) : NAN;
}

csm_status csm_reproject(const float *map, const unsigned char *valid, int w, int h,
                         const csm_corr *corr, int image_w, int image_h, float *out) {
  if (!map || !corr || !out)
    return csm_fail(CSM_EUSAGE, "csm_reproject: NULL map, correspondence or output");
  if (w < 1 || h < 1 || image_w < 1 || image_h < 1)
    return csm_fail(CSM_EUSAGE, "csm_reproject: map %dx%d, image %dx%d", w, h, image_w, image_h);
  size_t n;
  if (!csm_size_mul((size_t)image_w, (size_t)image_h, &n))
    return csm_fail(CSM_EUSAGE, "csm_reproject: image %dx%d is too large", image_w, image_h);
  for (size_t k = 0; k < n; k++)
    out[k] = NAN;
  double box[4];
  csm_corr_image_bounds(corr, box);
  int x0 = (int)fmax(0, box[0]), y0 = (int)fmax(0, box[1]);
  int x1 = (int)fmin(image_w, box[2]), y1 = (int)fmin(image_h, box[3]);
#pragma omp parallel for schedule(dynamic, 4) if ((x1 - x0) * (double)(y1 - y0) >= 16384)
  for (int y = y0; y < y1; y++)
    for (int x = x0; x < x1; x++) {
      double u, v;
      if (csm_corr_to_canon(corr, x + 0.5, y + 0.5, &u, &v))
        out[(size_t)y * image_w + x] = sample(map, valid, w, h, u, v);
    }
  return CSM_OK;
}

csm_status csm_reproject_input(const float *map, const unsigned char *valid, int w, int h,
                               const csm_view *view, int size, float *out) {
  if (!map || !view || !view->corr || !out)
    return csm_fail(CSM_EUSAGE, "csm_reproject_input: NULL map, view or output");
  if (w < 1 || h < 1 || size < 1)
    return csm_fail(CSM_EUSAGE, "csm_reproject_input: map %dx%d, input %d", w, h, size);
  const double *m = view->crop;
  for (int j = 0; j < size; j++)
    for (int i = 0; i < size; i++) {
      /* Input pixel centre -> image point (the crop's matrix) -> canonical. */
      double x = m[0] * (i + 0.5) + m[1] * (j + 0.5) + m[2];
      double y = m[3] * (i + 0.5) + m[4] * (j + 0.5) + m[5], u, v;
      out[(size_t)j * size + i] =
          csm_corr_to_canon(view->corr, x, y, &u, &v) ? sample(map, valid, w, h, u, v) : NAN;
    }
  return CSM_OK;
}
