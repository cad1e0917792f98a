/* ResizeBilinear backward, with the forward's taps (resize_bilinear.c:
 * align_corners, half_pixel_centers, TF.js clamping). The forward is
 *   top = tl + (tr - tl) fc,  bot = bl + (br - bl) fc,  y = top + (bot - top) fr
 * so the four taps get (1-fr)(1-fc), (1-fr) fc, fr (1-fc) and fr fc of the
 * output's gradient (taps that coincide after clamping add up). Work is split
 * over batch items: taps of neighbouring outputs overlap within an item. */
#include <math.h>

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
  const double rr = csm_resize_ratio(ih, oh, n->a.align_corners),
               cr = csm_resize_ratio(iw, ow, n->a.align_corners);
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

csm_status csm_backward_resize_nearest(const csm_backward_args *a) { /* placeholder */
  (void)a;
  return csm_fail(CSM_EUNSUPPORTED, "no backward pass yet");
}
