/* MaxPool and AvgPool backward, with the forward's windows (pool.c): only
 * in-bounds pixels take part. MaxPool sends each output's gradient to the
 * pixel the forward picked: the first maximum in row-major window order
 * (a strict > from -inf, so NaN is skipped as in forward). AvgPool spreads
 * it evenly over the in-bounds pixels of the window, each getting 1/divisor
 * (the forward's divisor: in-bounds pixels, or with count_include_pad the
 * window clipped to the padded input). ceil_mode as in pool.c. Work is split over
 * (batch item, channel block): windows overlap, so one thread owns all the
 * pixels of its items' channels. */
#include <math.h>

#include "../ops/op.h"
#include "backward.h"

enum { CBLK = 64 };

typedef struct pgeom {
  int64_t n, h, w, c, oh, ow;
  int kh, kw, sh, sw, pt, pl;
  int64_t eh, ew; /* end of the padded input */
  int include_pad;
} pgeom;

static void window(int64_t o, int stride, int pad, int k, int64_t size, int64_t *lo, int64_t *hi) {
  int64_t start = o * stride - pad;
  *lo = start < 0 ? 0 : start;
  *hi = start + k < size ? start + k : size;
}

static void max_block(const pgeom *g, const float *x, const float *dy, float *dx, int64_t b,
                      int64_t c0, int64_t c1) {
  for (int64_t oy = 0; oy < g->oh; oy++) {
    int64_t y0, y1;
    window(oy, g->sh, g->pt, g->kh, g->h, &y0, &y1);
    for (int64_t ox = 0; ox < g->ow; ox++) {
      int64_t x0, x1;
      window(ox, g->sw, g->pl, g->kw, g->w, &x0, &x1);
      const float *d = dy + ((b * g->oh + oy) * g->ow + ox) * g->c;
      for (int64_t c = c0; c < c1; c++) {
        float best = -INFINITY;
        int64_t at = -1;
        for (int64_t iy = y0; iy < y1; iy++)
          for (int64_t ix = x0; ix < x1; ix++) {
            const int64_t p = ((b * g->h + iy) * g->w + ix) * g->c + c;
            if (x[p] > best) {
              best = x[p];
              at = p;
            }
          }
        if (at >= 0) dx[at] += d[c];
      }
    }
  }
}

static void avg_block(const pgeom *g, const float *dy, float *dx, int64_t b, int64_t c0,
                      int64_t c1) {
  for (int64_t oy = 0; oy < g->oh; oy++) {
    int64_t y0, y1;
    window(oy, g->sh, g->pt, g->kh, g->h, &y0, &y1);
    for (int64_t ox = 0; ox < g->ow; ox++) {
      int64_t x0, x1;
      window(ox, g->sw, g->pl, g->kw, g->w, &x0, &x1);
      const int64_t count = (y1 > y0 ? y1 - y0 : 0) * (x1 > x0 ? x1 - x0 : 0);
      if (count == 0) continue;
      int64_t divisor = count;
      if (g->include_pad) {
        const int64_t py0 = oy * g->sh - g->pt, px0 = ox * g->sw - g->pl;
        const int64_t py1 = py0 + g->kh < g->eh ? py0 + g->kh : g->eh;
        const int64_t px1 = px0 + g->kw < g->ew ? px0 + g->kw : g->ew;
        divisor = (py1 - py0) * (px1 - px0);
      }
      const float *d = dy + ((b * g->oh + oy) * g->ow + ox) * g->c;
      const float inv = (float)(1.0 / (double)divisor);
      for (int64_t iy = y0; iy < y1; iy++)
        for (int64_t ix = x0; ix < x1; ix++) {
          float *p = dx + ((b * g->h + iy) * g->w + ix) * g->c;
          for (int64_t c = c0; c < c1; c++)
            p[c] += d[c] * inv;
        }
    }
  }
}

csm_status csm_backward_pool(const csm_backward_args *a) {
  const csm_node *n = a->node;
  const csm_attrs *at = &n->a;
  const csm_tensor *x = &a->in[0];
  pgeom g;
  if (a->k != 0)
    return csm_fail(CSM_EUNSUPPORTED, "%s backward has one operand, not %d", csm_op_name(n->op),
                    a->k);
  if (x->shape.rank != 4 || a->dout->shape.rank != 4)
    return csm_fail(CSM_EINPUT, "%s backward needs NHWC tensors", csm_op_name(n->op));
  g.n = x->shape.d[0];
  g.h = x->shape.d[1];
  g.w = x->shape.d[2];
  g.c = x->shape.d[3];
  g.kh = at->ksize[0];
  g.kw = at->ksize[1];
  g.sh = at->stride[0];
  g.sw = at->stride[1];
  g.oh = csm_pool_out(g.h, g.kh, g.sh, at, 0, &g.pt, &g.eh);
  g.ow = csm_pool_out(g.w, g.kw, g.sw, at, 1, &g.pl, &g.ew);
  g.include_pad = n->op == CSM_OP_AVGPOOL && at->count_include_pad;
  if (g.oh != a->dout->shape.d[1] || g.ow != a->dout->shape.d[2])
    return csm_fail(CSM_EINPUT, "%s backward: output gradient has the wrong shape",
                    csm_op_name(n->op));
  if (g.n <= 0 || g.c <= 0 || g.oh <= 0 || g.ow <= 0) return CSM_OK;
  const int is_max = n->op == CSM_OP_MAXPOOL;
  const float *xd = x->data, *dy = a->dout->data;
  float *dx = a->din->data;
  const int64_t blocks = (g.c + CBLK - 1) / CBLK, jobs = g.n * blocks;
  const double work = (double)csm_tensor_numel(a->dout) * g.kh * g.kw;
#pragma omp parallel for schedule(dynamic) if (jobs > 1 && work > 16384.0)
  for (int64_t j = 0; j < jobs; j++) {
    const int64_t b = j / blocks, c0 = j % blocks * CBLK;
    const int64_t c1 = c0 + CBLK < g.c ? c0 + CBLK : g.c;
    if (is_max)
      max_block(&g, xd, dy, dx, b, c0, c1);
    else
      avg_block(&g, dy, dx, b, c0, c1);
  }
  return CSM_OK;
}
