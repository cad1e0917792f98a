/* Occlusion centres on the canonical face: its mesh points (the paper) or a
 * regular grid over a mask. */
#include <stdlib.h>

#include "csm/explain.h"

csm_status csm_centres_mesh(const csm_canon *c, int size, float **uv, int *n) {
  if (!c || !uv || !n) return csm_fail(CSM_EUSAGE, "csm_centres_mesh: NULL argument");
  int cw = csm_canon_width(c);
  double k = size > 0 ? (double)size / cw : 1.0;
  float *p = csm_malloc_array(CSM_MESH_POINTS, 2 * sizeof(float));
  if (!p) return CSM_ENOMEM;
  const float *v = csm_canon_vertices(c);
  for (int i = 0; i < CSM_MESH_POINTS; i++) {
    p[2 * i] = (float)(v[3 * i] * k);
    p[2 * i + 1] = (float)(v[3 * i + 1] * k);
  }
  *uv = p;
  *n = CSM_MESH_POINTS;
  return CSM_OK;
}

csm_status csm_centres_grid(const unsigned char *mask, int w, int h, int stride, float **uv,
                            int *n) {
  if (!mask || !uv || !n || w <= 0 || h <= 0)
    return csm_fail(CSM_EUSAGE, "csm_centres_grid: bad arguments");
  if (stride < 1 || stride > (w > h ? w : h))
    return csm_fail(CSM_EUSAGE, "grid stride %d out of range 1..%d", stride, w > h ? w : h);
  int count = 0;
  for (int j = stride / 2; j < h; j += stride)
    for (int i = stride / 2; i < w; i += stride)
      count += mask[(size_t)j * w + i] != 0;
  if (count == 0)
    return csm_fail(CSM_EINPUT, "no grid point (stride %d) falls on the face", stride);
  float *p = csm_malloc_array((size_t)count, 2 * sizeof(float));
  if (!p) return CSM_ENOMEM;
  int k = 0;
  for (int j = stride / 2; j < h; j += stride)
    for (int i = stride / 2; i < w; i += stride)
      if (mask[(size_t)j * w + i]) {
        p[2 * k] = i + 0.5f;
        p[2 * k + 1] = j + 0.5f;
        k++;
      }
  *uv = p;
  *n = count;
  return CSM_OK;
}
