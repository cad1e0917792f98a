/* ResizeBilinear backward, with the forward's taps (resize_bilinear.c:
 * align_corners, half_pixel_centers, TF.js clamping). The forward is
 *   top = tl + (tr - tl) fc,  bot = bl + (br - bl) fc,  y = top + (bot - top) fr
 * so the four taps get (1-fr)(1-fc), (1-fr) fc, fr (1-fc) and fr fc of the
 * output's gradient (taps that coincide after clamping add up). Work is split
 * over batch items: taps of neighbouring outputs overlap within an item. */
#include <math.h>

#include <stdlib.h>

#include "../ops/op.h"
#include "backward.h"

csm_status csm_backward_resize_bilinear(const csm_backward_args *a) {
  const csm_node *n = a->node;
  if (a->k != 0) return csm_fail(CSM_EUNSUPPORTED, "ResizeBilinear backward differentiates x only");
  if (a->in[0].shape.rank != 4 || a->dout->shape.rank != 4)
    return csm_fail(CSM_EINPUT, "ResizeBilinear backward needs NHWC tensors");
  const int64_t batch = a->in[0].shape.d[0], ih = a->in[0].shape.d[1], iw = a->in[0].shape.d[2];
  const int64_t ch = a->in[0].shape.d[3], oh = a->dout->shape.d[1], ow = a->dout->shape.d[2];
  const int half = n->a.half_pixel_centers;
  const double rr = csm_resize_scaled_ratio(n, 0, ih, oh),
               cr = csm_resize_scaled_ratio(n, 1, iw, ow);
  const float *dy = a->dout->data;
  float *dx = a->din->data;
  if (batch <= 0 || ch <= 0) return CSM_OK;
#pragma omp parallel for schedule(static) if (batch > 1 && batch * oh * ow * ch >= 32768)
  for (int64_t b = 0; b < batch; b++) {
    for (int64_t r = 0; r < oh; r++) {
      const csm_resize_tap rt = csm_resize_tap_at(rr, r, ih, half);
      float *top = dx + (b * ih + rt.lo) * iw * ch;
      float *bot = dx + (b * ih + rt.hi) * iw * ch;
      const double fr = rt.frac;
      for (int64_t c = 0; c < ow; c++) {
        const csm_resize_tap ct = csm_resize_tap_at(cr, c, iw, half);
        const double fc = ct.frac;
        const float wtl = (float)((1 - fr) * (1 - fc)), wtr = (float)((1 - fr) * fc);
        const float wbl = (float)(fr * (1 - fc)), wbr = (float)(fr * fc);
        const float *g = dy + ((b * oh + r) * ow + c) * ch;
        float *tl = top + ct.lo * ch, *tr = top + ct.hi * ch;
        float *bl = bot + ct.lo * ch, *br = bot + ct.hi * ch;
        for (int64_t d = 0; d < ch; d++) {
          tl[d] += g[d] * wtl;
          tr[d] += g[d] * wtr;
          bl[d] += g[d] * wbl;
          br[d] += g[d] * wbr;
        }
      }
    }
  }
  return CSM_OK;
}

/* ResizeNearestNeighbor: each output's gradient goes to the pixel it
 * copied (resize_nearest.c's index maps); pixels read by several outputs sum
 * them in output order. Work is split over batch items. */
csm_status csm_backward_resize_nearest(const csm_backward_args *a) {
  const csm_node *n = a->node;
  if (a->k != 0)
    return csm_fail(CSM_EUNSUPPORTED, "ResizeNearestNeighbor backward differentiates x only");
  if (a->in[0].shape.rank != 4 || a->dout->shape.rank != 4)
    return csm_fail(CSM_EINPUT, "ResizeNearestNeighbor backward needs NHWC tensors");
  const int64_t batch = a->in[0].shape.d[0], ih = a->in[0].shape.d[1], iw = a->in[0].shape.d[2];
  const int64_t ch = a->in[0].shape.d[3], oh = a->dout->shape.d[1], ow = a->dout->shape.d[2];
  if (batch <= 0 || ch <= 0 || oh <= 0 || ow <= 0) return CSM_OK;
  int64_t *rows = malloc((size_t)(oh + ow) * sizeof(int64_t));
  if (!rows) return csm_fail(CSM_ENOMEM, "out of memory for a ResizeNearestNeighbor backward pass");
  int64_t *cols = rows + oh;
  csm_resize_nearest_map(n, 0, ih, oh, rows);
  csm_resize_nearest_map(n, 1, iw, ow, cols);
  const float *dy = a->dout->data;
  float *dx = a->din->data;
#pragma omp parallel for schedule(static) if (batch > 1 && batch * oh * ow * ch >= 32768)
  for (int64_t b = 0; b < batch; b++)
    for (int64_t r = 0; r < oh; r++) {
      float *d = dx + (b * ih + rows[r]) * iw * ch;
      const float *g = dy + (b * oh + r) * ow * ch;
      for (int64_t c = 0; c < ow; c++) {
        float *p = d + cols[c] * ch;
        const float *q = g + c * ch;
        for (int64_t k = 0; k < ch; k++)
          p[k] += q[k];
      }
    }
  free(rows);
  return CSM_OK;
}
