/* DepthwiseConv2D backward with respect to x: every input pixel gathers
 * dpre[.., c*M+m] * f[i,j,c,m] over the taps that read it (the forward's
 * strides, dilations and padding), in parallel over input rows. The fused
 * bias/activation is undone by csm_grad_fused_dpre (conv2d_grad.c). */
#include <stdlib.h>

#include "../ops/conv_reference.h"
#include "backward.h"

csm_status csm_backward_depthwise_conv2d(const csm_backward_args *a) {
  csm_conv_geom g;
  csm_status st = csm_conv_geom_get(a->node, a->in, &g);
  if (st) return st;
  if (a->k != 0)
    return csm_fail(CSM_EUNSUPPORTED,
                    "DepthwiseConv2D backward only differentiates the input, not operand %d", a->k);
  if (g.n <= 0 || g.oh == 0 || g.ow == 0 || g.co == 0) return CSM_OK;
  float *dpre;
  if ((st = csm_grad_fused_dpre(a, g.co, &dpre))) return st;
  const float *f = a->in[1].data;
  float *dx = a->din->data;
  const int64_t C = g.c, M = g.mult, CO = g.co, lines = g.n * g.h;
  const double work =
      (double)g.n * (double)g.oh * (double)g.ow * (double)CO * (double)(g.kh * g.kw);
#pragma omp parallel for schedule(static) if (lines > 1 && work > 65536.0)
  for (int64_t line = 0; line < lines; line++) {
    const int64_t b = line / g.h, ih = line % g.h;
    const float *gb = dpre + b * g.oh * g.ow * CO;
    float *dxr = dx + (b * g.h + ih) * g.w * C;
    for (int64_t i = 0; i < g.kh; i++) {
      const int64_t t = ih + g.pad_top - i * g.dh;
      if (t < 0 || t % g.sh) continue;
      const int64_t oh = t / g.sh;
      if (oh >= g.oh) continue;
      for (int64_t iw = 0; iw < g.w; iw++) {
        float *d = dxr + iw * C;
        for (int64_t j = 0; j < g.kw; j++) {
          const int64_t u = iw + g.pad_left - j * g.dw;
          if (u < 0 || u % g.sw) continue;
          const int64_t ow = u / g.sw;
          if (ow >= g.ow) continue;
          const float *s = gb + (oh * g.ow + ow) * CO;
          const float *fp = f + (i * g.kw + j) * CO;
          if (M == 1) {
            for (int64_t c = 0; c < C; c++)
              d[c] += s[c] * fp[c];
          } else {
            for (int64_t c = 0; c < C; c++) {
              float acc = 0.0f;
              for (int64_t m = 0; m < M; m++)
                acc += s[c * M + m] * fp[c * M + m];
              d[c] += acc;
            }
          }
        }
      }
    }
  }
  if (dpre != a->dout->data) free(dpre);
  return CSM_OK;
}
